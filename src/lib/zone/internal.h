/* Private body of rs_zone_t, shared by the zone store and its loader. */
#pragma once

#include "regsign/zone.h"

/* Consecutive records of one owner, as read; the unit the canonical sort orders. */
typedef struct {
	uint64_t prefix; /* first octets of the owner's key below the origin */
	const rs_name_t *name;
	uint32_t first;
	uint32_t count;
} run_t;

struct rs_zone {
	rs_arena_t *arena;
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

/* Register a source file name; its index goes into each record's file field. */
int zone_file_index(rs_zone_t *zone, const char *name, uint32_t *index);
/* Append one record: RDATA is copied into the arena, canonicalised and checked. */
int zone_append(rs_zone_t *zone, const rs_name_t *owner, uint16_t type, uint32_t ttl,
		const uint8_t *rdata, size_t len, uint32_t file, uint32_t line);
