/*
 * verify: the full check of a signed zone, run before a zone is published.
 * Every authoritative RRset must carry a valid signature, inside its
 * validity at the given time, from a key of the apex DNSKEY RRset, for every
 * algorithm of that RRset (RFC 4035 2.2); the DNSKEY RRset must be signed by
 * a SEP key; the NSEC or NSEC3 chain must be complete, with right bitmaps;
 * each apex ZONEMD digest that can be computed must match (RFC 8976 4),
 * in a check of a change set's names too (the digest covers the zone).
 */
#pragma once

#include <stdint.h>

#include "regsign/base.h"
#include "regsign/zone.h"
#include "regsign/zonemd.h"

typedef struct {
	int64_t now;       /* signatures must be valid at this time */
	unsigned threads;  /* 0: all CPUs */
	size_t max_problems; /* stop listing after this many; 0: 1000 */
	/* Accept RRSIGs by keys not in the DNSKEY RRset, as an algorithm rollover publishes them
	 * before the new keys (RFC 6781 4.1.4); the other rules still need a valid signature. */
	bool foreign_signatures;
	/*
	 * Check only the names of these records (a diff's: what a change set
	 * touched, in a zone whose other records were verified before): their
	 * signatures and their NSEC, or in an NSEC3 zone the NSEC3 of each name
	 * and of the empty non-terminals above it (or, for a name not in the
	 * chain, the one covering its hash) and the links of the chain at the
	 * touched NSEC3 owners; O(names · log zone), without hashing the zone.
	 * What that cannot conclude is said in src/lib/verify/verify_nsec3.c.
	 * nnames 0: the whole zone.
	 */
	const uint8_t *const *names;
	size_t nnames;
} rs_verify_opts_t;

typedef struct {
	uint64_t rrsets;     /* authoritative RRsets checked */
	uint64_t signatures; /* signatures verified */
	uint64_t problems;   /* 0 means the zone is secure */
	bool nsec3;
	rs_zonemd_result_t zonemd; /* the apex ZONEMD records and the digests recomputed */
} rs_verify_result_t;

/*
 * Check a zone loaded with keep_dnssec. Problems ("owner TYPE: what") are
 * appended to report, one per line; that is an outcome, not an error: the
 * return value is RS_EOK whenever the check itself could run.
 */
int rs_verify_zone(const rs_zone_t *zone, const rs_verify_opts_t *opts, rs_buf_t *report,
		   rs_verify_result_t *result, rs_diag_t *diag);
