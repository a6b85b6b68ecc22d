/* Private body of rs_zone_t, shared by the zone store and its loader. */
#pragma once

#include <stdatomic.h>

#include "regsign/zone.h"

/* Consecutive records of one owner, as read; the unit the canonical sort orders. */
typedef struct {
	uint64_t prefix; /* first octets of the owner's key below the origin */
	const rs_name_t *name;
	uint32_t first;
	uint32_t count;
} run_t;

/*
 * The storage behind records and names (their RDATA and rs_name_t), shared
 * by the zones patched from the one that made it (rs_zone_patch) and freed
 * with the last reference. Thread-safe: versions are freed in other threads.
 */
typedef struct {
	atomic_uint refs;
	rs_arena_t *arena;
} zone_store_t;

struct rs_zone {
	rs_arena_t *arena; /* store->arena: where this zone's own names and RDATA go */
	zone_store_t *store;
	/* Storage of the zones this one was patched from that its records still point into. */
	zone_store_t **shared;
	size_t nshared;
	/*
	 * Which nodes use store (a patched zone: the names its patch edited, in
	 * canonical order), so that a patch re-editing all of them need not keep
	 * it; own_all: every node may (a zone read or compacted).
	 */
	const rs_name_t **own_users;
	size_t nown_users;
	bool own_all;
	rs_name_t *origin;
	rs_zone_opts_t opts;
	rs_rr_t *rrs;
	size_t nrr;
	size_t cap;
	rs_node_t *nodes;
	size_t nnodes;
	run_t *runs;
	size_t nruns;
	size_t runs_cap;
	char **files;
	size_t nfiles;
	uint32_t soa;
	size_t ttl_fixes;
	bool finished;
};

zone_store_t *zone_store_ref(zone_store_t *store);
void zone_store_unref(zone_store_t *store);

/*
 * Make records rr[0..n) of one name a node's records: owner set to name,
 * ordered by type and canonical RDATA, exact duplicates dropped (the lower
 * TTL kept), RRset TTLs unified (RFC 2181 5.2). Returns the count kept;
 * *fixes grows by the records whose TTL changed.
 */
size_t zone_build_node(rs_rr_t *rr, size_t n, const rs_name_t *name, size_t *fixes);
/*
 * Set node's flags (all but RS_NODE_APEX, which stays) from its records,
 * given cut, the zone cut or DNAME above it (NULL: none); returns the cut
 * for the names that follow in canonical order.
 */
const rs_name_t *zone_mark_node(const rs_zone_t *zone, rs_node_t *node, const rs_name_t *cut);
/* The zone rules for one node (one SOA, at the apex; CNAME alone); sets zone->soa at the apex. */
int zone_check_node(rs_zone_t *zone, rs_node_t *node, rs_diag_t *diag);

/* Register a source file name; its index goes into each record's file field. */
int zone_file_index(rs_zone_t *zone, const char *name, uint32_t *index);
/* Append one record: RDATA is copied into the arena, canonicalised and checked. */
int zone_append(rs_zone_t *zone, const rs_name_t *owner, uint16_t type, uint32_t ttl,
		const uint8_t *rdata, size_t len, uint32_t file, uint32_t line);

/*
 * The text of file (len octets) as libzscanner is to read it, appended to
 * out (prep.c): what peers accept and the scanner does not, rewritten, with
 * the same line numbers; origin is the one the file starts with. RS_ESYNTAX
 * with "FILE:LINE: why" for what is refused (a character-string over 255).
 */
int zone_prep(const char *text, size_t len, const char *file, const char *origin, rs_buf_t *out,
	      rs_diag_t *diag);
/*
 * Apex CDS/CDNSKEY against the zone's apex DNSKEYs (its nodes built): RS_EZONE
 * when one matches none and refuse, else a warning; the RFC 8078 delete
 * signals aside. Named FILE:LINE, or by the record when it has no line.
 */
int zone_check_cds(const rs_zone_t *zone, bool refuse, rs_diag_t *diag);
/* The refusal of a character-string of octets over 255 at file:line; returns RS_ESYNTAX. */
int zone_too_long(rs_diag_t *diag, const char *file, uint32_t line, size_t octets);
/*
 * Octets of the first unquoted token over 255 in one line of zone text
 * (up to its newline or comment), 0 if there is none or the line is in the
 * RFC 3597 form. For the records the scanner split without zone_prep.
 */
size_t zone_long_token(const char *line, size_t len);
/* What zone_prep_needed carries from piece to piece of a file: the unfinished line's length and marks. */
typedef struct {
	size_t line_len;
	bool comment; /* a ';' was seen */
	bool quote;   /* a '"' was seen */
} zone_scan_t;
/*
 * Could zone_prep change text, read in pieces (scan zeroed for the first)?
 * False: the scanner may read the file as it is (it maps it). Cheap and
 * approximate: a '(' in a comment does not count (generators write them),
 * and a long line only when it holds a quoted string (a signed zone's RSA
 * signatures are long lines too).
 */
bool zone_prep_needed(const char *text, size_t len, zone_scan_t *scan);
