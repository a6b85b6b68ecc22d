/*
 * A child zone's servers, asked directly: the pre-delegation check and the
 * CDS/CDNSKEY a secure child publishes. Answers are validated here against
 * the DS the registry holds, never taken on trust.
 */
#include <ldns/ldns.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regsign/crypto.h"
#include "regsign/dns.h"
#include "regsign/signer.h"

int rs_delegation_servers(const rs_domain_rec_t *d, uint16_t port, char servers[RS_SERVERS_MAX][80],
			  size_t *count, rs_diag_t *diag)
{
	size_t n = 0;
	char ns[sizeof(d->ns)];
	snprintf(ns, sizeof(ns), "%s", d->ns);
	for (char *save = NULL, *host = strtok_r(ns, " ", &save); host != NULL; host = strtok_r(NULL, " ", &save)) {
		size_t hl = strlen(host);
		bool glued = false;
		for (const char *g = strstr(d->glue, host); g != NULL; g = strstr(g + 1, host)) {
			if ((g != d->glue && g[-1] != ' ') || g[hl] != '/')
				continue;
			glued = true;
			const char *addr = g + hl + 1;
			size_t al = strcspn(addr, " ");
			if (n < RS_SERVERS_MAX && al < 64)
				snprintf(servers[n++], 80, "%.*s@%u", (int)al, addr, port);
		}
		if (glued)
			continue;
		/* Out of the zone: its addresses from the system's resolver. */
		ldns_resolver *res = NULL;
		ldns_rdf *name = ldns_dname_new_frm_str(host);
		if (name != NULL && ldns_resolver_new_frm_file(&res, NULL) == LDNS_STATUS_OK) {
			ldns_rr_list *addrs = ldns_get_rr_list_addr_by_name(res, name, LDNS_RR_CLASS_IN, LDNS_RD);
			for (size_t i = 0; addrs != NULL && i < ldns_rr_list_rr_count(addrs) && n < RS_SERVERS_MAX; i++) {
				char *a = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(addrs, i), 0));
				if (a != NULL && strlen(a) < 64)
					snprintf(servers[n++], 80, "%s@%u", a, port);
				free(a);
			}
			ldns_rr_list_deep_free(addrs);
			ldns_resolver_deep_free(res);
		}
		ldns_rdf_deep_free(name);
	}
	*count = n;
	return n > 0 ? RS_EOK : rs_diag(diag, RS_ENOENT, "%s: no name server has an address", d->name);
}

/* Is the RRset of type at owner signed, valid at now, by the DNSKEY (RDATA) key? */
static bool signed_by(const rrset_t *set, const rrset_t *sigs, uint16_t type, const uint8_t *owner,
		      const uint8_t *key, size_t klen, int64_t now)
{
	rs_key_t *k;
	if (set->count == 0 || rs_key_from_dnskey(owner, key, klen, &k) != RS_EOK)
		return false;
	uint16_t tag = rs_keytag(key, klen);
	size_t olen = rs_dname_len(owner, RS_NAME_MAX);
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
		if (memcmp(head + 18, owner, olen) != 0)
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
			if (signed_by(keys, sigs, RS_TYPE_DNSKEY, child, keys->rdata[k], keys->len[k], now))
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
		snprintf(r->detail, sizeof(r->detail), "%.200s", diag.text);
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

/* Is the RRset signed by a key the current DS vouches for (RFC 7344 4.1)? */
static bool signed_by_ds_key(const rrset_t *set, const rrset_t *sigs, uint16_t type, const rrset_t *keys,
			     const uint8_t *child, const rs_ds_entry_t *ds, size_t nds, int64_t now)
{
	for (size_t k = 0; k < keys->count; k++)
		for (size_t d = 0; d < nds; d++)
			if (rs_ds_matches(ds[d].ds, ds[d].ds_len, child, keys->rdata[k], keys->len[k]) &&
			    signed_by(set, sigs, type, child, keys->rdata[k], keys->len[k], now))
				return true;
	return false;
}

/* The new entries from the CDS and CDNSKEY RRsets, which must agree when both are there. */
static int cds_entries(const rrset_t *cds, const rrset_t *cdnskey, const uint8_t *child, rs_cds_set_t *out,
		       rs_diag_t *diag)
{
	const char *server = "";
	size_t deletes = 0;
	for (size_t i = 0; i < cds->count; i++)
		deletes += is_delete(cds->rdata[i], cds->len[i], RS_TYPE_CDS);
	for (size_t i = 0; i < cdnskey->count; i++)
		deletes += is_delete(cdnskey->rdata[i], cdnskey->len[i], RS_TYPE_CDNSKEY);
	if (deletes > 0) {
		if (deletes != cds->count + cdnskey->count)
			return rs_diag(diag, RS_ECHECK, "%sthe delete signal is mixed with other records (RFC 8078 4)",
				       server);
		out->remove = true;
		return RS_EOK;
	}
	for (size_t i = 0; i < cdnskey->count; i++) {
		rs_ds_entry_t e;
		int ret = rs_ds_entry_from_key(child, cdnskey->rdata[i], cdnskey->len[i], &e, diag);
		if (ret != RS_EOK)
			return rs_diag(diag, RS_ECHECK, "CDNSKEY %u: %s", rs_keytag(cdnskey->rdata[i], cdnskey->len[i]),
				       diag->text);
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
		int ret = rs_ds_check(e.ds, e.ds_len, diag);
		if (ret != RS_EOK)
			return rs_diag(diag, RS_ECHECK, "CDS %u: %s", rs_get16(e.ds), diag->text);
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

int rs_child_cds(const char *server, const uint8_t *child, const rs_ds_entry_t *ds, size_t nds, int64_t now,
		 unsigned timeout_ms, rs_cds_set_t *out, rs_diag_t *diag)
{
	memset(out, 0, sizeof(*out));
	rrset_t *keys = malloc(sizeof(*keys)), *ksigs = malloc(sizeof(*ksigs));
	rrset_t *cds = malloc(sizeof(*cds)), *csigs = malloc(sizeof(*csigs));
	rrset_t *cdnskey = malloc(sizeof(*cdnskey)), *nsigs = malloc(sizeof(*nsigs));
	int ret = keys && ksigs && cds && csigs && cdnskey && nsigs ? RS_EOK : rs_diag(diag, RS_ENOMEM, "out of memory");
	if (ret == RS_EOK)
		ret = dnsq_rrset(server, child, RS_TYPE_DNSKEY, timeout_ms, keys, ksigs, diag);
	if (ret == RS_EOK)
		ret = dnsq_rrset(server, child, RS_TYPE_CDS, timeout_ms, cds, csigs, diag);
	if (ret == RS_EOK)
		ret = dnsq_rrset(server, child, RS_TYPE_CDNSKEY, timeout_ms, cdnskey, nsigs, diag);
	char why[200];
	if (ret == RS_EOK && (cds->count > 0 || cdnskey->count > 0)) {
		out->present = true;
		if (proven_key(keys, ksigs, child, ds, nds, now, why, sizeof(why)) < 0)
			ret = rs_diag(diag, RS_ECHECK, "%s: the DNSKEY RRset is not proven by the current DS: %s", server,
				      why);
		else if (cds->count > 0 && !signed_by_ds_key(cds, csigs, RS_TYPE_CDS, keys, child, ds, nds, now))
			ret = rs_diag(diag, RS_ECHECK, "%s: the CDS RRset has no valid signature by a key of the current "
				      "DS", server);
		else if (cdnskey->count > 0 &&
			 !signed_by_ds_key(cdnskey, nsigs, RS_TYPE_CDNSKEY, keys, child, ds, nds, now))
			ret = rs_diag(diag, RS_ECHECK, "%s: the CDNSKEY RRset has no valid signature by a key of the "
				      "current DS", server);
		else if ((ret = cds_entries(cds, cdnskey, child, out, diag)) != RS_EOK)
			rs_diag(diag, ret, "%s: %s", server, diag->text);
		/* RFC 7344 4.1: the new DS set must not break the chain it replaces. */
		else if (!out->remove && proven_key(keys, ksigs, child, out->entries, out->count, now, why,
						     sizeof(why)) < 0)
			ret = rs_diag(diag, RS_ECHECK, "%s: the new DS set would not be proven: %s", server, why);
	}
	if (ret == RS_EOK) {
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
	free(keys);
	free(ksigs);
	free(cds);
	free(csigs);
	free(cdnskey);
	free(nsigs);
	return ret;
}
