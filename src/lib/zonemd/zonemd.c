/* ZONEMD (RFC 8976): scheme 1 SIMPLE, SHA-384 and SHA-512, over a zone in canonical order. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <string.h>

#include <openssl/evp.h>

#include "regsign/zonemd.h"

/* Records are gathered into this much before each hash update: one EVP call per record costs more. */
#define FEED_MAX ((size_t)64 << 10)

struct rs_zonemd {
	size_t n;
	uint8_t hashes[RS_ZONEMD_HASHES];
	EVP_MD_CTX *ctx[RS_ZONEMD_HASHES];
	bool failed;
};

size_t rs_zonemd_digest_len(uint8_t hash)
{
	return hash == RS_ZONEMD_SHA384 ? 48 : hash == RS_ZONEMD_SHA512 ? 64 : 0;
}

bool rs_zonemd_hash_from_str(const char *text, uint8_t *hash)
{
	if (strcasecmp(text, "sha384") == 0 || strcasecmp(text, "sha-384") == 0)
		*hash = RS_ZONEMD_SHA384;
	else if (strcasecmp(text, "sha512") == 0 || strcasecmp(text, "sha-512") == 0)
		*hash = RS_ZONEMD_SHA512;
	else
		return false;
	return true;
}

const char *rs_zonemd_hash_name(uint8_t hash)
{
	return hash == RS_ZONEMD_SHA384 ? "SHA-384" : hash == RS_ZONEMD_SHA512 ? "SHA-512" : "unknown";
}

int rs_zonemd_new(const uint8_t *hashes, size_t n, rs_zonemd_t **out)
{
	if (n == 0 || n > RS_ZONEMD_HASHES)
		return RS_EINVAL;
	rs_zonemd_t *md = calloc(1, sizeof(*md));
	if (md == NULL)
		return RS_ENOMEM;
	md->n = n;
	for (size_t i = 0; i < n; i++) {
		const EVP_MD *alg = hashes[i] == RS_ZONEMD_SHA384 ? EVP_sha384()
				  : hashes[i] == RS_ZONEMD_SHA512 ? EVP_sha512() : NULL;
		bool twice = false;
		for (size_t j = 0; j < i; j++)
			twice |= hashes[j] == hashes[i];
		md->hashes[i] = hashes[i];
		md->ctx[i] = alg != NULL && !twice ? EVP_MD_CTX_new() : NULL;
		if (md->ctx[i] == NULL || EVP_DigestInit_ex(md->ctx[i], alg, NULL) != 1) {
			md->n = i + 1;
			rs_zonemd_free(md);
			return alg == NULL || twice ? RS_EINVAL : RS_ECRYPTO;
		}
	}
	*out = md;
	return RS_EOK;
}

void rs_zonemd_free(rs_zonemd_t *md)
{
	if (md == NULL)
		return;
	for (size_t i = 0; i < md->n; i++)
		EVP_MD_CTX_free(md->ctx[i]);
	free(md);
}

int rs_zonemd_update(rs_zonemd_t *md, const void *data, size_t len)
{
	for (size_t i = 0; i < md->n && !md->failed; i++)
		if (md->ctx[i] != NULL && EVP_DigestUpdate(md->ctx[i], data, len) != 1)
			md->failed = true;
	return md->failed ? RS_ECRYPTO : RS_EOK;
}

int rs_zonemd_wire(rs_buf_t *buf, const uint8_t *owner, uint16_t type, uint32_t ttl, const uint8_t *rdata,
		   size_t rdlen)
{
	size_t olen = rs_dname_len(owner, RS_NAME_MAX);
	int ret = rs_buf_reserve(buf, olen + 10 + rdlen);
	if (ret != RS_EOK)
		return ret;
	uint8_t *p = buf->data + buf->len;
	memcpy(p, owner, olen);
	p += olen;
	rs_put16(p, type);
	rs_put16(p + 2, RS_CLASS_IN);
	rs_put32(p + 4, ttl);
	rs_put16(p + 8, (uint16_t)rdlen);
	memcpy(p + 10, rdata, rdlen);
	buf->len += olen + 10 + rdlen;
	return RS_EOK;
}

int rs_zonemd_final(rs_zonemd_t *md, uint8_t hash, uint8_t *out, size_t *len)
{
	for (size_t i = 0; i < md->n; i++) {
		if (md->hashes[i] != hash || md->ctx[i] == NULL)
			continue;
		unsigned l = 0;
		int ok = !md->failed && EVP_DigestFinal_ex(md->ctx[i], out, &l) == 1;
		EVP_MD_CTX_free(md->ctx[i]);
		md->ctx[i] = NULL;
		*len = l;
		return ok ? RS_EOK : RS_ECRYPTO;
	}
	return RS_EINVAL;
}

/* Left out of the digest (RFC 8976 3.3.1.1): the apex ZONEMD RRset and the apex RRSIGs over it. */
static bool excluded(const rs_node_t *node, const rs_rr_t *rr)
{
	if (!(node->flags & RS_NODE_APEX))
		return false;
	return rr->type == RS_TYPE_ZONEMD ||
	       (rr->type == RS_TYPE_RRSIG && rr->rdlen >= 2 && rs_get16(rr->rdata) == RS_TYPE_ZONEMD);
}

int rs_zonemd_zone_multi(const rs_zone_t *zone, const uint8_t *hashes, size_t n,
			 uint8_t out[][RS_ZONEMD_DIGEST_MAX])
{
	rs_zonemd_t *md;
	int ret = rs_zonemd_new(hashes, n, &md);
	if (ret != RS_EOK)
		return ret;
	rs_buf_t buf;
	rs_buf_init(&buf, FEED_MAX + 2 * 65536);
	size_t nnodes;
	const rs_node_t *nodes = rs_zone_nodes(zone, &nnodes);
	const rs_rr_t *rrs = rs_zone_rrs(zone);
	/* The zone keeps each name's records in type, then RDATA order: canonical order already
	 * (RFC 4034 6.3), and its RRSIGs as one RRset sorted by RDATA, as the digest wants them. */
	for (size_t i = 0; i < nnodes && ret == RS_EOK; i++) {
		const rs_node_t *node = &nodes[i];
		const uint8_t *owner = rs_name_wire(node->name);
		for (uint32_t k = node->first; k < node->first + node->count && ret == RS_EOK; k++) {
			if (excluded(node, &rrs[k]))
				continue;
			ret = rs_zonemd_wire(&buf, owner, rrs[k].type, rrs[k].ttl, rrs[k].rdata, rrs[k].rdlen);
			if (ret == RS_EOK && buf.len >= FEED_MAX) {
				ret = rs_zonemd_update(md, buf.data, buf.len);
				buf.len = 0;
			}
		}
	}
	if (ret == RS_EOK && buf.len > 0)
		ret = rs_zonemd_update(md, buf.data, buf.len);
	for (size_t h = 0; h < n && ret == RS_EOK; h++) {
		size_t len;
		ret = rs_zonemd_final(md, hashes[h], out[h], &len);
	}
	rs_buf_clear(&buf);
	rs_zonemd_free(md);
	return ret;
}

int rs_zonemd_zone(const rs_zone_t *zone, uint8_t hash, uint8_t *out, size_t *len)
{
	uint8_t digest[1][RS_ZONEMD_DIGEST_MAX];
	int ret = rs_zonemd_zone_multi(zone, &hash, 1, digest);
	if (ret == RS_EOK) {
		*len = rs_zonemd_digest_len(hash);
		memcpy(out, digest[0], *len);
	}
	return ret;
}

size_t rs_zonemd_rdata(uint32_t serial, uint8_t hash, const uint8_t *digest, size_t dlen, uint8_t *out)
{
	rs_put32(out, serial);
	out[4] = RS_ZONEMD_SIMPLE;
	out[5] = hash;
	memcpy(out + 6, digest, dlen);
	return 6 + dlen;
}

static uint32_t soa_serial(const rs_zone_t *zone)
{
	const rs_rr_t *soa = rs_zone_soa(zone);
	return rs_get32(soa->rdata + soa->rdlen - 20);
}

size_t rs_zonemd_hashes(const rs_zone_t *zone, uint8_t hashes[RS_ZONEMD_HASHES])
{
	size_t nnodes, n = 0;
	const rs_node_t *apex = rs_zone_nodes(zone, &nnodes);
	uint32_t b, e;
	if (nnodes == 0 || !rs_node_rrset(zone, apex, RS_TYPE_ZONEMD, &b, &e))
		return 0;
	const rs_rr_t *rrs = rs_zone_rrs(zone);
	for (uint32_t i = b; i < e; i++) {
		if (rrs[i].rdlen < 6 || rrs[i].rdata[4] != RS_ZONEMD_SIMPLE || rs_zonemd_digest_len(rrs[i].rdata[5]) == 0)
			continue;
		bool seen = false;
		for (size_t j = 0; j < n; j++)
			seen |= hashes[j] == rrs[i].rdata[5];
		if (!seen && n < RS_ZONEMD_HASHES)
			hashes[n++] = rrs[i].rdata[5];
	}
	return n;
}

int rs_zonemd_prepare(const rs_zone_t *zone, const uint8_t *hashes, size_t n, uint32_t ttl, rs_zone_t **out,
		      size_t *dropped, rs_diag_t *diag)
{
	*out = NULL;
	size_t nnodes;
	const rs_node_t *apex = rs_zone_nodes(zone, &nnodes);
	const rs_rr_t *rrs = rs_zone_rrs(zone);
	uint32_t b = 0, e = 0;
	bool had = nnodes > 0 && rs_node_rrset(zone, apex, RS_TYPE_ZONEMD, &b, &e);
	*dropped = e - b;
	if (n == 0 && !had)
		return RS_EOK;
	if (n > RS_ZONEMD_HASHES)
		return rs_diag(diag, RS_EINVAL, "more than %d ZONEMD hash algorithms", RS_ZONEMD_HASHES);
	/* The apex's records less its ZONEMD RRset and the RRSIGs over it, then one template per hash. */
	rs_rr_t *set = calloc(apex->count + n, sizeof(*set));
	uint8_t (*rdata)[6 + RS_ZONEMD_DIGEST_MAX] = calloc(n + 1, sizeof(*rdata));
	if (set == NULL || rdata == NULL) {
		free(set);
		free(rdata);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	size_t count = 0;
	for (uint32_t i = apex->first; i < apex->first + apex->count; i++)
		if (!excluded(apex, &rrs[i]))
			set[count++] = rrs[i];
	const rs_rr_t *soa = rs_zone_soa(zone);
	uint8_t zero[RS_ZONEMD_DIGEST_MAX] = { 0 };
	for (size_t h = 0; h < n; h++) {
		size_t dlen = rs_zonemd_digest_len(hashes[h]);
		if (dlen == 0) {
			free(set);
			free(rdata);
			return rs_diag(diag, RS_EINVAL, "ZONEMD hash algorithm %u is not supported (1 SHA-384, 2 SHA-512)",
				       hashes[h]);
		}
		set[count++] = (rs_rr_t){ .type = RS_TYPE_ZONEMD, .ttl = ttl ? ttl : soa->ttl, .rdata = rdata[h],
					  .rdlen = (uint16_t)rs_zonemd_rdata(soa_serial(zone), hashes[h], zero, dlen,
									     rdata[h]) };
	}
	rs_zone_edit_t edit = { .owner = rs_name_written(apex->name), .rrs = set, .count = count };
	int ret = rs_zone_patch(zone, &edit, 1, out, diag);
	free(set);
	free(rdata);
	return ret;
}

static void problem(rs_buf_t *report, uint64_t *problems, const rs_zone_t *zone, const char *fmt, ...)
	RS_PRINTF(4, 5);
static void problem(rs_buf_t *report, uint64_t *problems, const rs_zone_t *zone, const char *fmt, ...)
{
	char name[1024], msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rs_dname_to_str(rs_name_wire(rs_zone_origin(zone)), name, sizeof(name));
	rs_buf_printf(report, "%s ZONEMD: %s\n", name, msg);
	(*problems)++;
}

int rs_zonemd_check(const rs_zone_t *zone, rs_buf_t *report, uint64_t *problems, rs_zonemd_result_t *res)
{
	memset(res, 0, sizeof(*res));
	size_t nnodes;
	const rs_node_t *apex = rs_zone_nodes(zone, &nnodes);
	uint32_t b, e;
	if (nnodes == 0 || !rs_node_rrset(zone, apex, RS_TYPE_ZONEMD, &b, &e))
		return RS_EOK;
	const rs_rr_t *rrs = rs_zone_rrs(zone);
	res->records = e - b;
	uint8_t hashes[RS_ZONEMD_HASHES];
	size_t n = rs_zonemd_hashes(zone, hashes);
	uint8_t digest[RS_ZONEMD_HASHES][RS_ZONEMD_DIGEST_MAX];
	if (n > 0) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int ret = rs_zonemd_zone_multi(zone, hashes, n, digest);
		if (ret != RS_EOK)
			return ret;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		res->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	}
	uint32_t serial = soa_serial(zone);
	for (uint32_t i = b; i < e; i++) {
		const uint8_t *r = rrs[i].rdata;
		if (rrs[i].rdlen < 6 + 12) { /* RFC 8976 2.2.4: never shorter than 12 octets */
			problem(report, problems, zone, "a record has a digest of %u octets, under 12 (RFC 8976 2.2.4)",
				rrs[i].rdlen < 6 ? 0 : rrs[i].rdlen - 6u);
			continue;
		}
		/* RFC 8976 4: one record per scheme and hash algorithm. */
		if (i > b && rs_get16(rrs[i - 1].rdata + 4) == rs_get16(r + 4))
			problem(report, problems, zone, "two records of scheme %u and hash algorithm %u (RFC 8976 2.4)",
				r[4], r[5]);
		size_t dlen = rs_zonemd_digest_len(r[5]);
		if (r[4] != RS_ZONEMD_SIMPLE || dlen == 0)
			continue;
		if (res->checked < sizeof(res->hashes))
			res->hashes[res->checked] = r[5];
		res->checked++;
		if (rs_get32(r) != serial) {
			problem(report, problems, zone, "serial %u is not the SOA serial %u", rs_get32(r), serial);
			continue;
		}
		size_t h = 0;
		while (hashes[h] != r[5])
			h++;
		if (rrs[i].rdlen != 6 + dlen || memcmp(r + 6, digest[h], dlen) != 0) {
			problem(report, problems, zone, "the %s digest (scheme %u, hash %u) does not match the zone",
				rs_zonemd_hash_name(r[5]), r[4], r[5]);
			continue;
		}
		res->valid++;
	}
	/* Records of schemes or hashes we do not know are skipped (RFC 8976 4): res->checked says how many were not. */
	return RS_EOK;
}

int rs_zonemd_setup(rs_zone_t **zone, const uint8_t *wanted, size_t nwanted, uint8_t hashes[RS_ZONEMD_HASHES],
		    size_t *n, size_t *stale, rs_diag_t *diag)
{
	*n = 0;
	*stale = 0;
	if (nwanted > RS_ZONEMD_HASHES)
		return rs_diag(diag, RS_EINVAL, "more than %d ZONEMD hash algorithms", RS_ZONEMD_HASHES);
	size_t count = nwanted;
	if (wanted != NULL)
		memcpy(hashes, wanted, nwanted);
	else
		count = rs_zonemd_hashes(*zone, hashes);
	size_t nnodes;
	const rs_node_t *apex = rs_zone_nodes(*zone, &nnodes);
	uint32_t b = 0, e = 0, ttl = 0;
	if (nnodes > 0 && rs_node_rrset(*zone, apex, RS_TYPE_ZONEMD, &b, &e))
		ttl = rs_zone_rrs(*zone)[b].ttl;
	/* Stale: an input record that no new one takes the place of (another scheme or hash, or none wanted). */
	size_t old = 0;
	for (uint32_t i = b; i < e; i++) {
		const rs_rr_t *rr = &rs_zone_rrs(*zone)[i];
		bool kept = false;
		for (size_t h = 0; h < count && rr->rdlen >= 6; h++)
			kept |= rr->rdata[4] == RS_ZONEMD_SIMPLE && rr->rdata[5] == hashes[h];
		old += !kept;
	}
	rs_zone_t *ready = NULL;
	size_t dropped = 0;
	int ret = rs_zonemd_prepare(*zone, hashes, count, ttl, &ready, &dropped, diag);
	if (ret != RS_EOK)
		return ret;
	if (ready != NULL) {
		rs_zone_free(*zone);
		*zone = ready;
	}
	*n = count;
	*stale = old;
	return RS_EOK;
}
