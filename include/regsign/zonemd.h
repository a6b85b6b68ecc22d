/*
 * zonemd: the message digest of a zone (RFC 8976), scheme 1 SIMPLE with
 * SHA-384 or SHA-512 (OpenSSL EVP). The digest covers every record of the
 * zone in canonical form and order (RFC 8976 3.3.1), glue and occluded data
 * included, except the apex ZONEMD RRset and the apex RRSIGs that cover it.
 *
 * Two ways in: rs_zonemd_zone() over a finished zone (verifying, and the
 * long-running signer after a change set), and a stream that the caller
 * feeds with records already in canonical order (the signing pipeline,
 * which thereby needs no second pass over the zone).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regsign/base.h"
#include "regsign/zone.h"

/* IANA "ZONEMD Schemes" and "ZONEMD Hash Algorithms":
 * https://www.iana.org/assignments/dns-parameters/dns-parameters.xhtml#zonemd-schemes */
enum {
	RS_ZONEMD_SIMPLE = 1,
	RS_ZONEMD_SHA384 = 1,
	RS_ZONEMD_SHA512 = 2,
};
/* Hash algorithms supported (and so at most this many ZONEMD records are made). */
#define RS_ZONEMD_HASHES 2
#define RS_ZONEMD_DIGEST_MAX 64

/* Is hash an algorithm we compute? Its digest length in octets, or 0. */
size_t rs_zonemd_digest_len(uint8_t hash);
/* "sha384" / "sha512" to the algorithm number; false for anything else. */
bool rs_zonemd_hash_from_str(const char *text, uint8_t *hash);
/* The name of a supported hash ("SHA-384"), or "unknown". */
const char *rs_zonemd_hash_name(uint8_t hash);

/* A digest in progress, one hash context per algorithm asked for. */
typedef struct rs_zonemd rs_zonemd_t;

/* Start digests for hashes[0..n) (each supported, none twice). Caller frees with rs_zonemd_free(). */
int rs_zonemd_new(const uint8_t *hashes, size_t n, rs_zonemd_t **out);
void rs_zonemd_free(rs_zonemd_t *md);
/* Feed octets that are already records in canonical wire form, in canonical order. */
int rs_zonemd_update(rs_zonemd_t *md, const void *data, size_t len);
/*
 * Append one record's canonical wire form (owner lowercase, uncompressed;
 * type, class IN, ttl, rdlen, rdata canonical) to buf: what the stream takes.
 */
int rs_zonemd_wire(rs_buf_t *buf, const uint8_t *owner, uint16_t type, uint32_t ttl, const uint8_t *rdata,
		   size_t rdlen);
/* The digest for hash (one of those given to rs_zonemd_new) into out; *len its length. Once only. */
int rs_zonemd_final(rs_zonemd_t *md, uint8_t hash, uint8_t *out, size_t *len);

/*
 * The digest for hash of a finished zone (read with keep_dnssec when it is
 * signed) into out (RS_ZONEMD_DIGEST_MAX octets); *len its length.
 */
int rs_zonemd_zone(const rs_zone_t *zone, uint8_t hash, uint8_t *out, size_t *len);
/* Digests for several hashes in one walk: out[i] for hashes[i]. */
int rs_zonemd_zone_multi(const rs_zone_t *zone, const uint8_t *hashes, size_t n,
			 uint8_t out[][RS_ZONEMD_DIGEST_MAX]);

/* ZONEMD RDATA (serial, scheme 1, hash, digest) into out (6 + dlen octets); returns its length. */
size_t rs_zonemd_rdata(uint32_t serial, uint8_t hash, const uint8_t *digest, size_t dlen, uint8_t *out);

/*
 * The zone made ready for signing with ZONEMD: its apex ZONEMD RRset
 * replaced by one template record (scheme 1, the SOA serial, a zero digest)
 * per hash of hashes[0..n), with ttl (0: the SOA TTL), or removed when n is
 * 0. The signer (rs_sign_opts_t.zonemd) fills in the digests. *dropped gets
 * the number of apex ZONEMD records the input had. *out is NULL when the
 * zone needs no change (no ZONEMD wanted and none there); otherwise a patch
 * of zone (rs_zone_patch) that the caller frees with rs_zone_free().
 */
int rs_zonemd_prepare(const rs_zone_t *zone, const uint8_t *hashes, size_t n, uint32_t ttl, rs_zone_t **out,
		      size_t *dropped, rs_diag_t *diag);
/*
 * Which digests a signed zone gets, and the zone made ready for them: the
 * hashes wanted[0..nwanted) when wanted is not NULL (sign --zonemd, a
 * policy's zonemd; nwanted 0: none), else those of the input's apex ZONEMD
 * RRset (it asked for them), with the input's ZONEMD TTL; then
 * rs_zonemd_prepare. *zone is replaced by the prepared zone when it
 * changes (the old one freed). hashes and *n get the digests to make (0:
 * none, opts.zonemd off); *stale counts the input's apex ZONEMD records
 * that no new record replaces (another scheme or hash, or none wanted):
 * dropped, for the caller's warning.
 */
int rs_zonemd_setup(rs_zone_t **zone, const uint8_t *wanted, size_t nwanted, uint8_t hashes[RS_ZONEMD_HASHES],
		    size_t *n, size_t *stale, rs_diag_t *diag);
/* The hashes (scheme 1, supported, each once) of the apex ZONEMD RRset of zone into hashes; returns count. */
size_t rs_zonemd_hashes(const rs_zone_t *zone, uint8_t hashes[RS_ZONEMD_HASHES]);

/* What checking a zone's ZONEMD found: an outcome, not an error. */
typedef struct {
	size_t records;     /* apex ZONEMD records */
	size_t checked;     /* of which scheme 1 with a supported hash: recomputed */
	size_t valid;       /* of which matched */
	uint8_t hashes[8];  /* the hash algorithms checked, in record order */
	double seconds;     /* the digest's time (monotonic clock): the cost of a change set's ZONEMD */
} rs_zonemd_result_t;

/*
 * Recompute each apex ZONEMD digest of zone that we can (RFC 8976 4):
 * problems (a digest that does not match, a serial that is not the SOA's,
 * two records of one scheme and hash, a digest under 12 octets) are
 * appended to report ("ORIGIN ZONEMD: what"), one line each, and counted
 * in *problems. Records of other schemes and hashes are skipped.
 */
int rs_zonemd_check(const rs_zone_t *zone, rs_buf_t *report, uint64_t *problems, rs_zonemd_result_t *res);
