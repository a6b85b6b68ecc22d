/* Shared by the files of src/lib/verify: the check's context, a part's findings, the NSEC3 chain's check. */
#pragma once

#include "regsign/nsec.h"
#include "regsign/verify.h"

#define MAX_KEYS 64

typedef struct {
	const rs_zone_t *zone;
	const rs_node_t *nodes;
	size_t nnodes;
	const rs_rr_t *rrs;
	const rs_verify_opts_t *opts;
	rs_key_t *keys[MAX_KEYS];
	size_t nkeys;
	uint8_t algs[MAX_KEYS]; /* algorithms of zone keys: each must sign every RRset */
	size_t nalgs;
} vctx_t;

typedef struct {
	vctx_t *c;
	size_t begin, end;
	const uint32_t *only; /* begin..end index this list of nodes, not the zone */
	rs_buf_t report;
	rs_buf_t data;
	rs_verify_result_t res;
} vpart_t;

/* One problem ("owner TYPE: what") into p's report. */
void verify_problem(vpart_t *p, const uint8_t *owner, uint16_t type, const char *fmt, ...) RS_PRINTF(4, 5);
/* A problem unless bitmap[0..len) is the type bitmap of types[0..nt) (rs_node_types' output). */
void verify_bitmap(vpart_t *p, const uint8_t *owner, uint16_t type, const uint8_t *bitmap, size_t len,
		   const uint16_t *types, size_t nt);
/*
 * The NSEC3 chain against NSEC3PARAM param (NULL if absent): the whole of it
 * (only NULL), or only where opts->names lie, only[0..nonly) being the
 * indexes of their nodes (sorted).
 */
void verify_nsec3(vctx_t *c, vpart_t *p, const rs_rr_t *param, const uint32_t *only, size_t nonly);
