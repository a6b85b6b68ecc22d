/*
 * signer: the signing pipeline. A finished zone (with its DNSKEY RRset
 * added) goes in; the signed zone in canonical order, with RRSIG and NSEC or
 * NSEC3 records, comes out as zone text. Work is split into chunks of names
 * that worker threads sign and format while the calling thread writes the
 * finished chunks in order, so memory stays bounded by a window of chunks.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "regsign/crypto.h"
#include "regsign/nsec.h"
#include "regsign/zone.h"

typedef struct {
	int64_t inception;
	int64_t expiration;
	bool nsec3;
	rs_nsec3_params_t nsec3_params;
	unsigned threads; /* 0: all CPUs */
	/* Which key signs what, one entry per key; NULL: rs_sign_roles() decides from the flags. */
	const struct rs_key_role *roles;
	uint32_t dnskey_ttl; /* 0: the SOA TTL */
	bool nsec_ttl_set;   /* else NSEC/NSEC3 TTL = lower of SOA TTL and SOA minimum (RFC 9077) */
	uint32_t nsec_ttl;
	/*
	 * Incremental signing: the zone as last signed (read with keep_dnssec),
	 * or NULL. An RRSIG of it is written again instead of a new signature
	 * when its RRset is unchanged (same TTL and RDATA, NSEC and NSEC3
	 * included), it is by a key that signs that RRset now, and it expires
	 * after reuse_until and no later than reuse_latest (a validity the
	 * policy still allows): a change re-signs only what it touches.
	 */
	const rs_zone_t *previous;
	int64_t reuse_until, reuse_latest;
	/*
	 * Each signature is kept only while it expires after reuse_until plus
	 * its own share of reuse_spread (a hash of owner, type and its
	 * expiration): RRsets signed together are signed again apart, in small
	 * batches over the spread, not in one storm, and each generation at a
	 * point of its own, so they never fall in step again.
	 */
	int64_t reuse_spread;
	/*
	 * ZONEMD (RFC 8976): the apex ZONEMD RRset of the zone is a template
	 * (rs_zonemd_prepare: one record per hash, zero digests). Every other
	 * record written is streamed into the digests in canonical order as its
	 * chunk is written; the ZONEMD RRset (the SOA's serial, the digests) and
	 * its RRSIGs, made after the digest, are written last, after the rest
	 * of the zone. rs_sign_update fills in the digests after a change too.
	 */
	bool zonemd;
	/* Called by the writing thread after each chunk; may be NULL. */
	void (*progress)(void *arg, size_t done, size_t total);
	void *progress_arg;
} rs_sign_opts_t;

typedef struct {
	uint64_t signatures; /* written, reused ones included */
	uint64_t reused;     /* kept from opts.previous */
	uint64_t nsec;  /* NSEC or NSEC3 records made */
	uint64_t records; /* records written, signatures included */
	uint64_t names;
	uint64_t zonemd; /* ZONEMD records made (opts.zonemd) */
} rs_sign_stats_t;

/*
 * Which keys sign what (per algorithm, RFC 6840 5.11): KSKs (SEP bit) sign
 * DNSKEY, CDS and CDNSKEY, ZSKs sign the rest; an algorithm with no ZSK signs
 * everything with its KSK, one with no KSK signs DNSKEY with its ZSK.
 */
typedef struct rs_key_role {
	const rs_key_t *key;
	bool signs_keys;
	bool signs_data;
} rs_key_role_t;

/* Assign roles; roles must hold nkeys entries. */
void rs_sign_roles(rs_key_t *const *keys, size_t nkeys, rs_key_role_t *roles);

/* Sign zone with keys (private parts required) and write it to out. */
int rs_sign_zone(const rs_zone_t *zone, rs_key_t *const *keys, size_t nkeys,
		 const rs_sign_opts_t *opts, FILE *out, rs_sign_stats_t *stats, rs_diag_t *diag);

/*
 * The data an RRSIG signs (RFC 4034 3.1.8.1): rrsig_head (RRSIG RDATA up to
 * and including the signer name) then each RR in canonical form. The RDATA of rrs
 * must be canonical and sorted; their owner and TTL fields are not used. Appends to buf.
 */
int rs_sign_data(rs_buf_t *buf, const uint8_t *rrsig_head, size_t head_len, const uint8_t *owner,
		 uint16_t type, uint32_t ttl, const rs_rr_t *rrs, size_t count);

/* ---- signing a change set ---- */

/*
 * A change set of unsigned data: records to remove, then records to add
 * (wire form; owners in any case, RDATA canonical or not). A record is named
 * by owner, type and RDATA (RFC 2181 5: the TTL belongs to its RRset), so a
 * TTL change is the record removed and added again. Never RRSIG, NSEC,
 * NSEC3, NSEC3PARAM or SOA (the serial says the new SOA).
 */
typedef struct {
	const rs_xrr_t *removed;
	size_t nremoved;
	const rs_xrr_t *added;
	size_t nadded;
	uint32_t serial; /* the new SOA serial, after prev's (RFC 1982) */
} rs_changes_t;

/*
 * The next signed zone from prev (finished, signed with NSEC or NSEC3: read
 * with keep_dnssec, or made by this function) and changes. Only the RRsets
 * the changes touch, the NSEC records of names whose existence, types or
 * successor changed (NSEC3: the NSEC3 records of the touched names and of
 * the empty non-terminals above them that come, go or change their bitmap,
 * and of their predecessors in hash order, RFC 5155 7.1, opt-out included),
 * and the SOA are signed anew with keys and opts (as rs_sign_zone takes
 * them: inception, expiration, roles, DNSKEY and NSEC TTL, NSEC3 and its
 * parameters; threads; previous is not used); every other record and
 * signature is prev's. With reuse_until set, an RRset of prev whose
 * signatures do not all last (reuse_until, its share of reuse_spread,
 * reuse_latest: as rs_sign_zone keeps them) is signed again too, by all its
 * keys: the refresh of what falls due rides on each change set, and an
 * empty change set is a refresh alone. RRsets a change touches get the
 * lowest TTL of their records (RFC 2181 5.2), as rs_zone_finish gives them.
 * The result is what rs_sign_zone makes of prev's data with the changes
 * applied, record for record (signatures alike for deterministic
 * algorithms; with reuse, when one key signs each RRset).
 *
 * *next is a finished zone that shares prev's storage (rs_zone_patch): prev
 * may be freed first; caller frees *next with rs_zone_free(). *diff, when not
 * NULL, gets the diff prev -> next exactly as rs_diff_zones() gives it
 * (caller clears it with rs_diff_clear()). stats (may be NULL): signatures
 * and nsec count what was made anew, names the names rewritten, records the
 * records of *next.
 *
 * -EOPNOTSUPP, with why in diag, when the change needs a full signing:
 * NSEC in opts and NSEC3 in prev or the other way round, NSEC3 parameters
 * (NSEC3PARAM: salt, iterations) or opt-out that differ from prev's, a
 * change at the apex (only the serial may change there), a DNAME added or
 * removed, a cut (NS) added or removed at a name with names below it that
 * stay, keys that differ from the signers of prev's SOA and DNSKEY RRsets,
 * DNSKEY or NSEC/NSEC3 TTLs that differ from prev's, or an apex ZONEMD in
 * prev and not opts.zonemd or the other way round (opts.zonemd: prev's apex
 * ZONEMD RRset is made again over the whole next zone, an O(zone) walk, and
 * signed anew). RS_EINVAL with the
 * record named when a removed record is not in prev, an added one already
 * is, a record is outside the zone, of a type above or at the owner name of
 * one of prev's NSEC3 records, or the serial is not after prev's; RS_EZONE
 * on an NSEC3 hash collision among the names the changes add. prev is
 * never changed.
 */
int rs_sign_update(const rs_zone_t *prev, const rs_changes_t *changes, rs_key_t *const *keys, size_t nkeys,
		   const rs_sign_opts_t *opts, rs_zone_t **next, rs_diff_t *diff, rs_sign_stats_t *stats,
		   rs_diag_t *diag);
