/* Signed-zone verifier: signatures, key coverage, NSEC and NSEC3 chains. */
#include <stdlib.h>
#include <string.h>

#include "regsign/crypto.h"
#include "regsign/nsec.h"
#include "regsign/signer.h"
#include "regsign/verify.h"

#include "internal.h"

void verify_problem(vpart_t *p, const uint8_t *owner, uint16_t type, const char *fmt, ...)
{
	char name[1024], tname[32], msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rs_dname_to_str(owner, name, sizeof(name));
	rs_type_to_str(type, tname, sizeof(tname));
	p->res.problems++;
	rs_buf_printf(&p->report, "%s %s: %s\n", name, tname, msg);
}

/* Check the signatures over the RRset rrs[0..count) of type at node. */
static void check_rrset(vpart_t *p, const rs_node_t *node, uint16_t type, const rs_rr_t *rrs,
			size_t count, uint32_t sig_begin, uint32_t sig_end)
{
	vctx_t *c = p->c;
	const uint8_t *owner = rs_name_wire(node->name);
	const rs_name_t *origin = rs_zone_origin(c->zone);
	bool keyset = type == RS_TYPE_DNSKEY;
	bool seen_alg[256] = { false };
	bool sep_signed = false;
	size_t nsigs = 0;
	p->res.rrsets++;
	for (uint32_t s = sig_begin; s < sig_end; s++) {
		const rs_rr_t *sig = &c->rrs[s];
		if (sig->rdlen < 19 || rs_get16(sig->rdata) != type)
			continue;
		nsigs++;
		const uint8_t *rd = sig->rdata;
		uint8_t alg = rd[2], labels = rd[3];
		uint32_t orig_ttl = rs_get32(rd + 4);
		int64_t exp = rs_get32(rd + 8), inc = rs_get32(rd + 12);
		uint16_t tag = rs_get16(rd + 16);
		size_t slen = rs_dname_len(rd + 18, sig->rdlen - 18);
		if (slen == 0 || slen != origin->wire_len || memcmp(rd + 18, rs_name_wire(origin), slen) != 0) {
			verify_problem(p, owner, type, "RRSIG by key %u has a signer name other than the apex", tag);
			continue;
		}
		/* The owner's labels less a leading * (RFC 4034 3.1.3): a wildcard's RRSIG that
		 * counts the * does not validate the answers made from it (RFC 4035 5.3.2). */
		unsigned want = node->name->labels - (rs_name_is_wildcard(node->name) ? 1 : 0);
		if (labels != want) {
			verify_problem(p, owner, type, "RRSIG by key %u has %u labels, not %u (RFC 4034 3.1.3)", tag,
				labels, want);
			continue;
		}
		if (orig_ttl != rrs[0].ttl)
			verify_problem(p, owner, type, "RRSIG by key %u has original TTL %u, the RRset has %u", tag,
				orig_ttl, rrs[0].ttl);
		/* Serial number arithmetic on 32-bit times (RFC 4034 3.1.5). */
		uint32_t now32 = (uint32_t)c->opts->now;
		if ((int32_t)(now32 - (uint32_t)inc) < 0) {
			char t[15];
			rs_time_format(inc, t);
			verify_problem(p, owner, type, "RRSIG by key %u is not valid before %s", tag, t);
			continue;
		}
		if ((int32_t)((uint32_t)exp - now32) < 0) {
			char t[15];
			rs_time_format(exp, t);
			verify_problem(p, owner, type, "RRSIG by key %u expired at %s", tag, t);
			continue;
		}
		const rs_key_t *key = NULL;
		bool valid = false;
		for (size_t k = 0; k < c->nkeys && !valid; k++) {
			if (rs_key_tag(c->keys[k]) != tag || rs_key_alg(c->keys[k]) != alg)
				continue;
			key = c->keys[k];
			p->data.len = 0;
			if (rs_sign_data(&p->data, rd, 18 + slen, owner, type, orig_ttl, rrs, count) != RS_EOK)
				break;
			p->res.signatures++;
			valid = rs_key_verify(key, p->data.data, p->data.len, rd + 18 + slen,
					      sig->rdlen - 18 - slen) == RS_EOK;
			if (valid && keyset && (rs_key_flags(key) & RS_DNSKEY_SEP))
				sep_signed = true;
		}
		if (key == NULL) {
			if (!c->opts->foreign_signatures)
				verify_problem(p, owner, type, "RRSIG by key %u (algorithm %u) has no matching DNSKEY", tag,
					alg);
			continue;
		}
		if (!valid) {
			verify_problem(p, owner, type, "RRSIG by key %u does not verify", tag);
			continue;
		}
		seen_alg[alg] = true;
	}
	if (nsigs == 0) {
		verify_problem(p, owner, type, "no RRSIG");
		return;
	}
	for (size_t a = 0; a < c->nalgs; a++)
		if (!seen_alg[c->algs[a]])
			verify_problem(p, owner, type, "no valid RRSIG of algorithm %u, which the DNSKEY RRset has",
				c->algs[a]);
	if (keyset && !sep_signed)
		verify_problem(p, owner, type, "DNSKEY RRset is not signed by a key with the SEP flag");
}

static void check_node(vpart_t *p, size_t index)
{
	vctx_t *c = p->c;
	const rs_node_t *node = &c->nodes[index];
	const rs_rr_t *rr = c->rrs + node->first;
	const uint8_t *owner = rs_name_wire(node->name);
	uint32_t sb = 0, se = 0;
	bool has_sigs = rs_node_rrset(c->zone, node, RS_TYPE_RRSIG, &sb, &se);
	if (node->flags & RS_NODE_NONAUTH) {
		if (has_sigs)
			verify_problem(p, owner, RS_TYPE_RRSIG, "signature at a name below a zone cut");
		return;
	}
	uint32_t i = 0;
	while (i < node->count) {
		uint32_t j = i + 1;
		while (j < node->count && rr[j].type == rr[i].type)
			j++;
		uint16_t type = rr[i].type;
		/* Content a validator rejects whatever its signatures say. */
		if (type == RS_TYPE_DS && (node->flags & RS_NODE_APEX))
			verify_problem(p, owner, type, "DS RRset at the zone apex (it belongs in the parent zone)");
		if (j - i > 1 && rs_type_singleton(type))
			verify_problem(p, owner, type, "%u records of a type a name holds one of", j - i);
		if (type != RS_TYPE_RRSIG && rs_rrset_is_signed(node, type))
			check_rrset(p, node, type, rr + i, j - i, sb, se);
		i = j;
	}
	/* Signatures over RRsets that are absent, or that must not be signed. */
	for (uint32_t s = sb; s < se; s++) {
		const rs_rr_t *sig = &c->rrs[s];
		uint16_t covered = sig->rdlen >= 2 ? rs_get16(sig->rdata) : 0;
		uint32_t b, e;
		if (!rs_node_rrset(c->zone, node, covered, &b, &e))
			verify_problem(p, owner, covered, "RRSIG covers an RRset that is not there");
		else if (!rs_rrset_is_signed(node, covered))
			verify_problem(p, owner, covered, "RRSIG over an RRset that must not be signed");
	}
}

static void *run_part(void *arg)
{
	vpart_t *p = arg;
	for (size_t i = p->begin; i < p->end; i++)
		check_node(p, p->only != NULL ? p->only[i] : i);
	return NULL;
}

static int cmp_index(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* ---- denial of existence ---------------------------------------------------- */

static bool is_nsec3_node(const rs_zone_t *zone, const rs_node_t *node)
{
	uint32_t b, e;
	return rs_node_rrset(zone, node, RS_TYPE_NSEC3, &b, &e);
}

void verify_bitmap(vpart_t *p, const uint8_t *owner, uint16_t type, const uint8_t *bitmap, size_t len,
		   const uint16_t *types, size_t nt)
{
	uint8_t expect[8704];
	if (nt == 512) { /* rs_node_types: more types than it holds */
		verify_problem(p, owner, type, "more than 508 types at one name");
		return;
	}
	size_t elen = rs_bitmap_write(types, nt, expect);
	if (!rs_bitmap_valid(bitmap, len)) {
		verify_problem(p, owner, type, "malformed type bitmap");
	} else if (elen != len || memcmp(expect, bitmap, len) != 0) {
		char list[2048] = "";
		size_t pos = 0;
		for (size_t i = 0; i < nt && pos < sizeof(list) - 32; i++) {
			char t[32];
			rs_type_to_str(types[i], t, sizeof(t));
			pos += (size_t)snprintf(list + pos, sizeof(list) - pos, "%s%s", i ? " " : "", t);
		}
		verify_problem(p, owner, type, "type bitmap differs from the types present (%s)", list);
	}
}

/* The indexes of the nodes of names (sorted, without repeats; names not in the zone left out). */
static size_t touched_nodes(const vctx_t *c, uint32_t *out)
{
	size_t n = 0;
	uint8_t key[RS_NAME_MAX];
	for (size_t i = 0; i < c->opts->nnames; i++) {
		const rs_node_t *node = rs_zone_find(c->zone, key, rs_dname_key(c->opts->names[i], key));
		if (node != NULL)
			out[n++] = (uint32_t)(node - c->nodes);
	}
	qsort(out, n, sizeof(*out), cmp_index);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (k == 0 || out[k - 1] != out[i])
			out[k++] = out[i];
	return k;
}

static void check_nsec(vctx_t *c, vpart_t *p, const uint32_t *only, size_t nonly)
{
	uint32_t *next;
	if (rs_nsec_chain(c->zone, &next) != RS_EOK) {
		verify_problem(p, rs_name_wire(rs_zone_origin(c->zone)), RS_TYPE_NSEC, "out of memory");
		return;
	}
	size_t count = only != NULL ? nonly : c->nnodes;
	for (size_t k = 0; k < count; k++) {
		size_t i = only != NULL ? only[k] : k;
		const rs_node_t *node = &c->nodes[i];
		const uint8_t *owner = rs_name_wire(node->name);
		uint32_t b, e;
		bool has = rs_node_rrset(c->zone, node, RS_TYPE_NSEC, &b, &e);
		if (next[i] == RS_NO_NODE) {
			if (has)
				verify_problem(p, owner, RS_TYPE_NSEC, "NSEC at a name below a zone cut");
			continue;
		}
		if (!has) {
			verify_problem(p, owner, RS_TYPE_NSEC, "missing NSEC");
			continue;
		}
		if (e - b > 1)
			verify_problem(p, owner, RS_TYPE_NSEC, "more than one NSEC record");
		const rs_rr_t *nsec = &c->rrs[b];
		size_t nlen = rs_dname_len(nsec->rdata, nsec->rdlen);
		const rs_name_t *want = c->nodes[next[i]].name;
		uint8_t lower[RS_NAME_MAX];
		if (nlen == 0) {
			verify_problem(p, owner, RS_TYPE_NSEC, "malformed next name");
			continue;
		}
		memcpy(lower, nsec->rdata, nlen);
		rs_dname_lower(lower);
		if (nlen != want->wire_len || memcmp(lower, rs_name_wire(want), nlen) != 0) {
			char w[1024];
			rs_dname_to_str(rs_name_wire(want), w, sizeof(w));
			verify_problem(p, owner, RS_TYPE_NSEC, "next name should be %s", w);
		}
		uint16_t types[512];
		size_t nt = rs_node_types(c->zone, node, false, 0, types);
		verify_bitmap(p, owner, RS_TYPE_NSEC, nsec->rdata + nlen, nsec->rdlen - nlen, types, nt);
	}
	free(next);
}

int rs_verify_zone(const rs_zone_t *zone, const rs_verify_opts_t *opts, rs_buf_t *report,
		   rs_verify_result_t *result, rs_diag_t *diag)
{
	vctx_t c = { .zone = zone, .opts = opts };
	c.nodes = rs_zone_nodes(zone, &c.nnodes);
	c.rrs = rs_zone_rrs(zone);
	const rs_node_t *apex = &c.nodes[0];
	const uint8_t *apex_name = rs_name_wire(apex->name);
	uint32_t b, e;
	vpart_t head = { .c = &c };
	rs_buf_init(&head.report, (size_t)1 << 30);
	rs_buf_init(&head.data, (size_t)1 << 28);
	if (rs_node_rrset(zone, apex, RS_TYPE_DNSKEY, &b, &e)) {
		for (uint32_t i = b; i < e && c.nkeys < MAX_KEYS; i++) {
			rs_key_t *key;
			uint16_t flags = c.rrs[i].rdlen >= 2 ? rs_get16(c.rrs[i].rdata) : 0;
			if (!(flags & RS_DNSKEY_ZONE))
				continue;
			if (rs_key_from_dnskey(apex_name, c.rrs[i].rdata, c.rrs[i].rdlen, &key) != RS_EOK) {
				if (c.rrs[i].rdlen >= 4 && !rs_alg_supported(c.rrs[i].rdata[3]))
					continue; /* unknown algorithms are treated as absent (RFC 4035 5.2) */
				verify_problem(&head, apex_name, RS_TYPE_DNSKEY, "malformed DNSKEY");
				continue;
			}
			c.keys[c.nkeys++] = key;
			uint8_t alg = (uint8_t)rs_key_alg(key);
			bool have = false;
			for (size_t a = 0; a < c.nalgs; a++)
				have |= c.algs[a] == alg;
			if (!have && !(flags & RS_DNSKEY_REVOKE))
				c.algs[c.nalgs++] = alg;
		}
	}
	if (c.nkeys == 0)
		verify_problem(&head, apex_name, RS_TYPE_DNSKEY, "no usable DNSKEY at the apex");

	unsigned threads = opts->threads ? opts->threads : rs_cpu_count();
	if (threads > 64)
		threads = 64;
	vpart_t *parts = calloc(threads, sizeof(*parts));
	if (parts == NULL) {
		for (size_t k = 0; k < c.nkeys; k++)
			rs_key_free(c.keys[k]);
		rs_buf_clear(&head.report);
		rs_buf_clear(&head.data);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	/* A change set's names alone, when the rest of the zone was verified before. */
	uint32_t *only = NULL;
	size_t count = c.nnodes;
	if (opts->nnames > 0) {
		only = malloc(opts->nnames * sizeof(*only));
		if (only == NULL) {
			for (size_t k = 0; k < c.nkeys; k++)
				rs_key_free(c.keys[k]);
			free(parts);
			rs_buf_clear(&head.report);
			rs_buf_clear(&head.data);
			return rs_diag(diag, RS_ENOMEM, "out of memory");
		}
		count = touched_nodes(&c, only);
	}
	for (unsigned t = 0; t < threads; t++) {
		parts[t] = (vpart_t){ .c = &c, .begin = count * t / threads, .end = count * (t + 1) / threads,
				      .only = only };
		rs_buf_init(&parts[t].report, (size_t)1 << 30);
		rs_buf_init(&parts[t].data, (size_t)1 << 28);
	}
	rs_run_parallel(threads, run_part, parts, sizeof(parts[0]));

	/*
	 * NSEC3PARAM says NSEC3. Without it, NSEC3 records say so too: a lost
	 * NSEC3PARAM is one problem, not a missing NSEC at every name.
	 */
	const rs_rr_t *param = NULL;
	if (rs_node_rrset(zone, apex, RS_TYPE_NSEC3PARAM, &b, &e))
		param = &c.rrs[b];
	bool nsec3 = param != NULL;
	if (!nsec3 && !rs_node_rrset(zone, apex, RS_TYPE_NSEC, &b, &e))
		for (size_t i = 0; !nsec3 && i < c.nnodes; i++)
			nsec3 = is_nsec3_node(zone, &c.nodes[i]);
	if (nsec3)
		verify_nsec3(&c, &head, param, only, count);
	else
		check_nsec(&c, &head, only, count);
	free(only);

	rs_verify_result_t res = head.res;
	res.nsec3 = nsec3;
	/* A ZONEMD that no longer matches makes every ZONEMD-checking secondary refuse the zone. */
	int ret = rs_zonemd_check(zone, &head.report, &res.problems, &res.zonemd);
	for (unsigned t = 0; t < threads; t++) {
		res.rrsets += parts[t].res.rrsets;
		res.signatures += parts[t].res.signatures;
		res.problems += parts[t].res.problems;
	}
	/* Report in zone order, then the apex key and chain problems. */
	size_t limit = opts->max_problems ? opts->max_problems : 1000;
	size_t listed = 0;
	rs_buf_t *bufs[66];
	size_t nb = 0;
	for (unsigned t = 0; t < threads; t++)
		bufs[nb++] = &parts[t].report;
	bufs[nb++] = &head.report;
	for (size_t i = 0; i < nb && ret == RS_EOK; i++) {
		const char *s = (const char *)bufs[i]->data;
		size_t pos = 0;
		while (pos < bufs[i]->len && listed < limit) {
			const char *nl = memchr(s + pos, '\n', bufs[i]->len - pos);
			size_t len = (size_t)(nl - (s + pos)) + 1;
			ret = rs_buf_append(report, s + pos, len);
			pos += len;
			listed++;
		}
	}
	for (unsigned t = 0; t < threads; t++) {
		rs_buf_clear(&parts[t].report);
		rs_buf_clear(&parts[t].data);
	}
	rs_buf_clear(&head.report);
	rs_buf_clear(&head.data);
	free(parts);
	for (size_t k = 0; k < c.nkeys; k++)
		rs_key_free(c.keys[k]);
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "cannot build the report: %s", rs_strerror(ret));
	*result = res;
	return RS_EOK;
}
