/*
 * A child zone's servers, asked directly: the pre-delegation check and the
 * CDS/CDNSKEY a secure child publishes. Answers are validated here against
 * the DS the registry holds, never taken on trust.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regsign/crypto.h"
#include "regsign/dns.h"
#include "regsign/signer.h"

/* Append the addresses glue gives for host, with port, while fewer than max; false if it has none. */
static bool glue_addrs(const char *glue, const char *host, uint16_t port, char servers[RS_SERVERS_MAX][80],
		       size_t *n, size_t max)
{
	const char *pos = NULL;
	char addr[64];
	bool found = false;
	while (rs_glue_next(glue, host, &pos, addr)) {
		found = true;
		if (*n < max)
			snprintf(servers[(*n)++], 80, "%s@%u", addr, port);
	}
	return found;
}

/* The glue of the registry's delegation that holds host (a sibling's name server), if any. */
static bool registry_glue(rs_store_t *store, const char *host, uint16_t port, char servers[RS_SERVERS_MAX][80],
			  size_t *n, size_t max)
{
	rs_domain_rec_t *d = malloc(sizeof(*d));
	bool found = d != NULL && rs_registry_holder(store, host, d) == RS_EOK &&
		     glue_addrs(d->glue, host, port, servers, n, max);
	free(d);
	return found;
}

/* A name server without an address, as an entry of the report: why it was not asked. */
static void add_unresolved(rs_check_report_t *report, size_t asked, const char *host, const char *why)
{
	if (report == NULL || asked + report->count >= RS_SERVERS_MAX)
		return;
	rs_server_result_t *r = &report->servers[report->count++];
	snprintf(r->server, sizeof(r->server), "%.79s", host);
	r->result = RS_EIO;
	snprintf(r->detail, sizeof(r->detail), "%.239s", why);
}

int rs_delegation_servers(const rs_registry_t *reg, const rs_domain_rec_t *d, char servers[RS_SERVERS_MAX][80],
			  size_t *count, rs_check_report_t *report, rs_diag_t *diag)
{
	size_t n = 0;
	char ns[sizeof(d->ns)], first[sizeof(diag->text)] = "";
	rs_diag_t why, down; /* down: the resolver failed as a whole, and is not asked again */
	int down_ret = RS_EOK;
	snprintf(ns, sizeof(ns), "%s", d->ns);
	for (char *save = NULL, *host = strtok_r(ns, " ", &save); host != NULL; host = strtok_r(NULL, " ", &save)) {
		size_t max = RS_SERVERS_MAX - (report != NULL ? report->count : 0);
		if (glue_addrs(d->glue, host, reg->dns_port, servers, &n, max) ||
		    (reg->store != NULL && registry_glue(reg->store, host, reg->dns_port, servers, &n, max)))
			continue;
		/* Out of the registry: its addresses from the resolver. */
		char addrs[RS_SERVERS_MAX][64];
		size_t na = 0;
		int ret = down_ret;
		if (ret != RS_EOK)
			why = down;
		else
			ret = dnsq_addresses(reg->resolver, host, reg->timeout_ms, addrs, RS_SERVERS_MAX, &na, &why);
		if (ret == RS_EIO || ret == RS_ESYNTAX) {
			down = why;
			down_ret = ret;
		}
		if (ret != RS_EOK) {
			add_unresolved(report, n, host, why.text);
			if (first[0] == '\0')
				snprintf(first, sizeof(first), "%.255s %.254s", host, why.text);
			continue;
		}
		max = RS_SERVERS_MAX - (report != NULL ? report->count : 0);
		for (size_t i = 0; i < na && n < max; i++)
			snprintf(servers[n++], 80, "%.63s@%u", addrs[i], reg->dns_port);
	}
	if (n == 0)
		return first[0] != '\0' ? rs_diag(diag, RS_ENOENT, "no name server has an address: %s", first)
					: rs_diag(diag, RS_ENOENT, "no name server");
	*count = n;
	return RS_EOK;
}

/* Is the RRset of type at owner signed, valid at now, by the DNSKEY (RDATA) key of zone signer? */
static bool signed_by(const rrset_t *set, const rrset_t *sigs, uint16_t type, const uint8_t *owner,
		      const uint8_t *signer, const uint8_t *key, size_t klen, int64_t now)
{
	rs_key_t *k;
	if (set->count == 0 || rs_key_from_dnskey(signer, key, klen, &k) != RS_EOK)
		return false;
	uint16_t tag = rs_keytag(key, klen);
	size_t olen = rs_dname_len(signer, RS_NAME_MAX);
	rs_rr_t rrs[RRSET_MAX];
	for (size_t i = 0; i < set->count; i++)
		rrs[i] = (rs_rr_t){ .rdata = (uint8_t *)set->rdata[i], .rdlen = set->len[i] };
	rs_buf_t data = { .max = 1 << 20 };
	bool ok = false;
	uint32_t t = (uint32_t)now;
	for (size_t i = 0; i < sigs->count && !ok; i++) {
		const uint8_t *s = sigs->rdata[i];
		size_t len = sigs->len[i];
		if (len < 18 + olen || rs_get16(s) != type || s[2] != key[3] || rs_get16(s + 16) != tag ||
		    s[3] != rs_dname_labels(owner))
			continue;
		uint8_t head[18 + RS_NAME_MAX];
		memcpy(head, s, 18 + olen);
		rs_dname_lower(head + 18);
		if (memcmp(head + 18, signer, olen) != 0)
			continue; /* signed by another zone */
		/* RFC 4034 3.1.5: serial number arithmetic on both times. */
		if ((int32_t)(t - rs_get32(s + 12)) < 0 || (int32_t)(rs_get32(s + 8) - t) < 0)
			continue;
		data.len = 0;
		if (rs_sign_data(&data, head, 18 + olen, owner, type, rs_get32(s + 4), rrs, set->count) == RS_EOK)
			ok = rs_key_verify(k, data.data, data.len, s + 18 + olen, len - 18 - olen) == RS_EOK;
	}
	free(data.data);
	rs_key_free(k);
	return ok;
}

/* The DNSKEY of keys that matches one of ds and signs the DNSKEY RRset; -1 if none. why says what failed. */
static int proven_key(const rrset_t *keys, const rrset_t *sigs, const uint8_t *child, const rs_ds_entry_t *ds,
		      size_t nds, int64_t now, char *why, size_t max)
{
	bool matched = false;
	for (size_t k = 0; k < keys->count; k++) {
		for (size_t d = 0; d < nds; d++) {
			if (!rs_ds_matches(ds[d].ds, ds[d].ds_len, child, keys->rdata[k], keys->len[k]))
				continue;
			matched = true;
			if (signed_by(keys, sigs, RS_TYPE_DNSKEY, child, child, keys->rdata[k], keys->len[k], now))
				return (int)k;
		}
	}
	if (keys->count == 0)
		snprintf(why, max, "no DNSKEY RRset");
	else if (matched)
		snprintf(why, max, "a DNSKEY matches the DS but no valid signature of it covers the DNSKEY RRset");
	else
		snprintf(why, max, "none of the %zu DNSKEYs matches a DS", keys->count);
	return -1;
}

void rs_child_prove(const char *server, const uint8_t *child, const rs_ds_entry_t *ds, size_t nds, int64_t now,
		    unsigned timeout_ms, rs_server_result_t *r)
{
	snprintf(r->server, sizeof(r->server), "%s", server);
	rrset_t *keys = malloc(sizeof(*keys)), *sigs = malloc(sizeof(*sigs));
	rs_diag_t diag;
	if (keys == NULL || sigs == NULL) {
		r->result = RS_ENOMEM;
		snprintf(r->detail, sizeof(r->detail), "out of memory");
	} else if (dnsq_rrset(server, child, RS_TYPE_DNSKEY, timeout_ms, keys, sigs, &diag) != RS_EOK) {
		r->result = RS_EIO;
		/* The report has the server in a column of its own. */
		size_t len = strlen(server);
		const char *why = strncmp(diag.text, server, len) == 0 && strncmp(diag.text + len, ": ", 2) == 0
					  ? diag.text + len + 2 : diag.text;
		snprintf(r->detail, sizeof(r->detail), "%.239s", why);
	} else {
		int k = proven_key(keys, sigs, child, ds, nds, now, r->detail, sizeof(r->detail));
		r->result = k < 0 ? RS_ECHECK : RS_EOK;
		if (k >= 0)
			snprintf(r->detail, sizeof(r->detail), "DNSKEY %u (algorithm %u) matches a DS and signs the "
				 "DNSKEY RRset", rs_keytag(keys->rdata[k], keys->len[k]), keys->rdata[k][3]);
	}
	free(keys);
	free(sigs);
}

static bool is_delete(const uint8_t *rdata, size_t len, uint16_t type)
{
	static const uint8_t cds_delete[] = { 0, 0, 0, 0, 0 };
	static const uint8_t cdnskey_delete[] = { 0, 0, 3, 0, 0 };
	return type == RS_TYPE_CDS ? len == 5 && memcmp(rdata, cds_delete, 5) == 0
				   : len == 5 && memcmp(rdata, cdnskey_delete, 5) == 0;
}

/*
 * Is the RRset at owner signed by a key of zone's proven DNSKEY RRset keys?
 * With ds (RFC 7344 4.1), only a key the current DS vouches for will do.
 */
static bool signed_by_zone(const rrset_t *set, const rrset_t *sigs, uint16_t type, const uint8_t *owner,
			   const uint8_t *zone, const rrset_t *keys, const rs_ds_entry_t *ds, size_t nds, int64_t now)
{
	for (size_t k = 0; k < keys->count; k++) {
		bool vouched = ds == NULL;
		for (size_t d = 0; d < nds && !vouched; d++)
			vouched = rs_ds_matches(ds[d].ds, ds[d].ds_len, zone, keys->rdata[k], keys->len[k]);
		if (vouched && signed_by(set, sigs, type, owner, zone, keys->rdata[k], keys->len[k], now))
			return true;
	}
	return false;
}

/* The new entries from the CDS and CDNSKEY RRsets, which must agree when both are there. */
static int cds_entries(const rrset_t *cds, const rrset_t *cdnskey, const uint8_t *child, rs_cds_set_t *out,
		       rs_diag_t *diag)
{
	rs_diag_t why; /* a diagnostic cannot be its own argument */
	size_t deletes = 0;
	for (size_t i = 0; i < cds->count; i++)
		deletes += is_delete(cds->rdata[i], cds->len[i], RS_TYPE_CDS);
	for (size_t i = 0; i < cdnskey->count; i++)
		deletes += is_delete(cdnskey->rdata[i], cdnskey->len[i], RS_TYPE_CDNSKEY);
	if (deletes > 0) {
		if (deletes != cds->count + cdnskey->count)
			return rs_diag(diag, RS_ECHECK, "the delete signal is mixed with other records (RFC 8078 4)");
		out->remove = true;
		return RS_EOK;
	}
	for (size_t i = 0; i < cdnskey->count; i++) {
		rs_ds_entry_t e;
		int ret = rs_ds_entry_from_key(child, cdnskey->rdata[i], cdnskey->len[i], &e, &why);
		if (ret != RS_EOK)
			return rs_diag(diag, RS_ECHECK, "CDNSKEY %u: %s", rs_keytag(cdnskey->rdata[i], cdnskey->len[i]),
				       why.text);
		bool in_cds = cds->count == 0;
		for (size_t j = 0; j < cds->count && !in_cds; j++)
			in_cds = rs_ds_matches(cds->rdata[j], cds->len[j], child, e.key, e.key_len);
		if (!in_cds)
			return rs_diag(diag, RS_ECHECK, "CDNSKEY %u has no CDS: the two sets disagree (RFC 7344 4)",
				       rs_keytag(e.key, e.key_len));
		if (cds->count == 0 && out->count < RS_STORE_DS_MAX)
			out->entries[out->count++] = e;
	}
	for (size_t j = 0; j < cds->count; j++) {
		rs_ds_entry_t e = { .ds_len = cds->len[j] };
		memcpy(e.ds, cds->rdata[j], cds->len[j]);
		int ret = rs_ds_check(e.ds, e.ds_len, &why);
		if (ret != RS_EOK)
			return rs_diag(diag, RS_ECHECK, "CDS %u: %s", rs_get16(e.ds), why.text);
		bool in_cdnskey = cdnskey->count == 0;
		for (size_t i = 0; i < cdnskey->count && !in_cdnskey; i++) {
			if (rs_ds_matches(e.ds, e.ds_len, child, cdnskey->rdata[i], cdnskey->len[i])) {
				in_cdnskey = true;
				memcpy(e.key, cdnskey->rdata[i], cdnskey->len[i]);
				e.key_len = cdnskey->len[i];
			}
		}
		if (!in_cdnskey)
			return rs_diag(diag, RS_ECHECK, "CDS %u has no CDNSKEY: the two sets disagree (RFC 7344 4)",
				       rs_get16(e.ds));
		if (out->count == RS_STORE_DS_MAX)
			return rs_diag(diag, RS_ECHECK, "more than %d CDS records", RS_STORE_DS_MAX);
		out->entries[out->count++] = e;
	}
	return RS_EOK;
}

static void set_digest(rs_cds_set_t *out)
{
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	uint8_t flag = out->remove;
	crypto_hash_sha256_update(&h, &flag, 1);
	for (size_t i = 0; i < out->count; i++) {
		uint8_t len[2] = { (uint8_t)(out->entries[i].ds_len >> 8), (uint8_t)out->entries[i].ds_len };
		crypto_hash_sha256_update(&h, len, 2);
		crypto_hash_sha256_update(&h, out->entries[i].ds, out->entries[i].ds_len);
	}
	crypto_hash_sha256_final(&h, out->digest);
}

typedef struct {
	rrset_t keys, ksigs, cds, csigs, cdnskey, nsigs;
} answers_t;

/*
 * The CDS and CDNSKEY at qname from server, into out. With zone, they must be
 * signed by a key of zone's DNSKEY RRset proven by ds (only a DS-vouched key
 * if vouched); without, they are taken as served (an insecure child's apex,
 * compared with validated signals). a->keys holds zone's DNSKEY RRset after.
 */
static int read_cds(const char *server, const uint8_t *qname, const uint8_t *zone, const rs_ds_entry_t *ds,
		    size_t nds, bool vouched, int64_t now, unsigned timeout_ms, answers_t *a, rs_cds_set_t *out,
		    rs_diag_t *diag)
{
	memset(out, 0, sizeof(*out));
	int ret = RS_EOK;
	if (zone != NULL)
		ret = dnsq_rrset(server, zone, RS_TYPE_DNSKEY, timeout_ms, &a->keys, &a->ksigs, diag);
	if (ret == RS_EOK)
		ret = dnsq_rrset(server, qname, RS_TYPE_CDS, timeout_ms, &a->cds, &a->csigs, diag);
	if (ret == RS_EOK)
		ret = dnsq_rrset(server, qname, RS_TYPE_CDNSKEY, timeout_ms, &a->cdnskey, &a->nsigs, diag);
	if (ret != RS_EOK || (a->cds.count == 0 && a->cdnskey.count == 0))
		return ret;
	out->present = true;
	char why[200];
	rs_diag_t inner;
	const rs_ds_entry_t *signer_ds = vouched ? ds : NULL;
	if (zone != NULL && proven_key(&a->keys, &a->ksigs, zone, ds, nds, now, why, sizeof(why)) < 0)
		ret = rs_diag(diag, RS_ECHECK, "%s: the DNSKEY RRset is not proven by the current DS: %s", server, why);
	else if (zone != NULL && a->cds.count > 0 &&
		 !signed_by_zone(&a->cds, &a->csigs, RS_TYPE_CDS, qname, zone, &a->keys, signer_ds, nds, now))
		ret = rs_diag(diag, RS_ECHECK, "%s: the CDS RRset has no valid signature by a key of the %s", server,
			      vouched ? "current DS" : "signalling zone");
	else if (zone != NULL && a->cdnskey.count > 0 &&
		 !signed_by_zone(&a->cdnskey, &a->nsigs, RS_TYPE_CDNSKEY, qname, zone, &a->keys, signer_ds, nds, now))
		ret = rs_diag(diag, RS_ECHECK, "%s: the CDNSKEY RRset has no valid signature by a key of the %s", server,
			      vouched ? "current DS" : "signalling zone");
	/* CDNSKEY records are keys of the child, whatever name they were published at. */
	else if ((ret = cds_entries(&a->cds, &a->cdnskey, out->child, out, &inner)) != RS_EOK)
		rs_diag(diag, ret, "%s: %s", server, inner.text);
	if (ret == RS_EOK)
		set_digest(out);
	return ret;
}

int rs_child_cds(const char *server, const uint8_t *child, const rs_ds_entry_t *ds, size_t nds, int64_t now,
		 unsigned timeout_ms, rs_cds_set_t *out, rs_diag_t *diag)
{
	answers_t *a = malloc(sizeof(*a));
	if (a == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	out->child = child;
	int ret = read_cds(server, child, child, ds, nds, true, now, timeout_ms, a, out, diag);
	char why[200];
	/* RFC 7344 4.1: the new DS set must not break the chain it replaces. */
	if (ret == RS_EOK && out->present && !out->remove &&
	    proven_key(&a->keys, &a->ksigs, child, out->entries, out->count, now, why, sizeof(why)) < 0)
		ret = rs_diag(diag, RS_ECHECK, "%s: the new DS set would not be proven: %s", server, why);
	free(a);
	return ret;
}

int rs_child_signal(const char *server, const uint8_t *child, const uint8_t *ns, const uint8_t *szone,
		    const rs_ds_entry_t *ds, size_t nds, int64_t now, unsigned timeout_ms, rs_cds_set_t *out,
		    rs_diag_t *diag)
{
	/* RFC 9615 2: _dsboot.<child>._signal.<name server>. */
	uint8_t qname[RS_NAME_MAX + 16];
	size_t clen = rs_dname_len(child, RS_NAME_MAX), nlen = rs_dname_len(ns, RS_NAME_MAX);
	if (8 + clen - 1 + 8 + nlen > RS_NAME_MAX)
		return rs_diag(diag, RS_ECHECK, "the signalling name is longer than 255 octets");
	size_t pos = 0;
	memcpy(qname, "\x07_dsboot", 8);
	pos = 8;
	memcpy(qname + pos, child, clen - 1);
	pos += clen - 1;
	memcpy(qname + pos, "\x07_signal", 8);
	pos += 8;
	memcpy(qname + pos, ns, nlen);
	answers_t *a = malloc(sizeof(*a));
	if (a == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	out->child = child;
	int ret = read_cds(server, qname, szone, ds, nds, false, now, timeout_ms, a, out, diag);
	free(a);
	return ret;
}

int rs_child_apex_cds(const char *server, const uint8_t *child, unsigned timeout_ms, rs_cds_set_t *out,
		      rs_diag_t *diag)
{
	answers_t *a = malloc(sizeof(*a));
	if (a == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	out->child = child;
	int ret = read_cds(server, child, NULL, NULL, 0, false, 0, timeout_ms, a, out, diag);
	free(a);
	return ret;
}
