/*
 * nsec: authenticated denial of existence. NSEC chains (RFC 4034 4, RFC 4035
 * 2.3) and NSEC3 chains (RFC 5155 7.1) with opt-out, over a finished zone.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "regsign/base.h"
#include "regsign/zone.h"

#define RS_NO_NODE UINT32_MAX

/* True if the node is in the zone's authoritative data (apex, ordinary names, cuts). */
static inline bool rs_node_in_chain(const rs_node_t *node)
{
	return !(node->flags & RS_NODE_NONAUTH);
}

/* True if an RRset of type at this node is signed (RFC 4035 2.2: not the NS of a cut, nor glue). */
bool rs_rrset_is_signed(const rs_node_t *node, uint16_t type);

/*
 * Types for the NSEC or NSEC3 bitmap of a node, sorted (RFC 4035 2.3 at
 * cuts). nsec3 selects the NSEC3 rules (no NSEC bit; RRSIG only where
 * something is signed). extra adds one type (NSEC3PARAM at the apex), 0 for none.
 * types must hold 512 entries; returns the count.
 */
size_t rs_node_types(const rs_zone_t *zone, const rs_node_t *node, bool nsec3, uint16_t extra,
		     uint16_t *types);

/*
 * The RDATA of node's NSEC (RFC 4034 4.1) when next is the next name of the
 * chain: next's name as written (its case is signed as it stands), then
 * rs_node_types' bitmap. out holds RS_NAME_MAX + 8704 octets. Returns the
 * length, or RS_ELIMIT for more types than rs_node_types() holds.
 */
int rs_nsec_rdata(const rs_zone_t *zone, const rs_node_t *node, const rs_node_t *next, uint8_t *out);

/* For each node, the index of the next node in the NSEC chain (wrapping to the apex), or RS_NO_NODE. */
int rs_nsec_chain(const rs_zone_t *zone, uint32_t **next);

/* NSEC3 parameters (RFC 5155 3.1, RFC 9276 defaults: 0 iterations, empty salt). */
typedef struct {
	uint16_t iterations;
	uint8_t salt_len;
	uint8_t salt[255];
	bool opt_out;
} rs_nsec3_params_t;

/* One name of the NSEC3 chain: a node of the zone or an empty non-terminal. */
typedef struct {
	uint8_t hash[20];
	uint32_t node; /* node index, or RS_NO_NODE for an empty non-terminal */
} rs_nsec3_entry_t;

typedef struct {
	rs_nsec3_entry_t *entries; /* in hash order */
	size_t count;
	rs_nsec3_params_t params;
} rs_nsec3_chain_t;

/* Does node hold only NSEC3 records and their signatures (part of the chain, not of the data)? */
bool rs_nsec3_only(const rs_zone_t *zone, const rs_node_t *node);
/* Build the chain; caller frees with rs_nsec3_chain_clear(). RS_EZONE on a hash collision. */
int rs_nsec3_build(const rs_zone_t *zone, const rs_nsec3_params_t *params, rs_nsec3_chain_t *chain,
		   rs_diag_t *diag);
void rs_nsec3_chain_clear(rs_nsec3_chain_t *chain);

/* NSEC3PARAM RDATA; returns its length. out holds 5 + 255 octets. */
size_t rs_nsec3param_rdata(const rs_nsec3_params_t *params, uint8_t *out);
/* NSEC3 owner name (wire) for a hash under origin; returns its length or a negative code. */
int rs_nsec3_owner(const uint8_t hash[20], const rs_name_t *origin, uint8_t out[RS_NAME_MAX]);

/*
 * The NSEC3 owners of a zone read with keep_dnssec, in hash order. They are
 * children of the apex named by the base32hex of their hashes, and base32hex
 * keeps the order of what it encodes (case folded): in canonical order they
 * sit in hash order, among the other top-level names and their subtrees.
 */
/* node's NSEC3 when node is an owner of the chain (a child of the apex named by a hash), else NULL; hash (may
 * be NULL) gets its hash. */
const rs_rr_t *rs_nsec3_at(const rs_zone_t *zone, const rs_node_t *node, uint8_t hash[20]);
/* The index of the last NSEC3 owner before node index i (RS_NO_NODE if none), and of the first at or after it. */
size_t rs_nsec3_owner_before(const rs_zone_t *zone, size_t i);
size_t rs_nsec3_owner_from(const rs_zone_t *zone, size_t i);
/* The NSEC3 owner of the hash before hash, and of the hash after owner i, wrapping around; RS_NO_NODE if none. */
size_t rs_nsec3_owner_pred(const rs_zone_t *zone, const uint8_t hash[20]);
size_t rs_nsec3_owner_succ(const rs_zone_t *zone, size_t i);
