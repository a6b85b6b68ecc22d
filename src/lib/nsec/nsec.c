/* NSEC chain and type bitmaps (RFC 4034 4, RFC 4035 2.3). */
#include <stdlib.h>
#include <string.h>

#include "regsign/nsec.h"

bool rs_rrset_is_signed(const rs_node_t *node, uint16_t type)
{
	if (node->flags & RS_NODE_NONAUTH)
		return false;
	if (type == RS_TYPE_RRSIG)
		return false;
	if (node->flags & RS_NODE_DELEG)
		return type == RS_TYPE_DS || type == RS_TYPE_NSEC;
	return true;
}

/*
 * A name may hold any of 65536 types, and types has room for 512: a node's own
 * types stop 4 short, leaving room for NSEC, RRSIG and extra, so that a full
 * array (512) can only mean too many and callers refuse it, never overflowing.
 */
#define TYPES_ROOM 512

size_t rs_node_types(const rs_zone_t *zone, const rs_node_t *node, bool nsec3, uint16_t extra,
		     uint16_t *types)
{
	const rs_rr_t *rr = rs_zone_rrs(zone) + node->first;
	size_t n = 0;
	bool deleg = node->flags & RS_NODE_DELEG;
	bool any_signed = false;
	for (uint32_t i = 0; i < node->count; i++) {
		uint16_t t = rr[i].type;
		if (n > 0 && types[n - 1] == t)
			continue;
		/* At a cut only NS and DS belong to the parent (RFC 4035 2.3). */
		if (deleg && t != RS_TYPE_NS && t != RS_TYPE_DS)
			continue;
		if (t == RS_TYPE_RRSIG || t == RS_TYPE_NSEC || t == RS_TYPE_NSEC3)
			continue;
		if (n == TYPES_ROOM - 4)
			return TYPES_ROOM;
		if (rs_rrset_is_signed(node, t))
			any_signed = true;
		types[n++] = t;
	}
	if (!nsec3) {
		any_signed = true; /* the NSEC itself is signed */
		types[n++] = RS_TYPE_NSEC;
	}
	bool have_extra = false;
	for (size_t i = 0; i < n; i++)
		have_extra |= types[i] == extra;
	if (extra != 0 && !have_extra) {
		types[n++] = extra;
		any_signed = true;
	}
	if (any_signed)
		types[n++] = RS_TYPE_RRSIG;
	/* Insertion sort: the added types are few and the list is nearly sorted. */
	for (size_t i = 1; i < n; i++) {
		uint16_t t = types[i];
		size_t j = i;
		while (j > 0 && types[j - 1] > t) {
			types[j] = types[j - 1];
			j--;
		}
		types[j] = t;
	}
	return n;
}

int rs_nsec_rdata(const rs_zone_t *zone, const rs_node_t *node, const rs_node_t *next, uint8_t *out)
{
	uint16_t types[TYPES_ROOM];
	size_t nt = rs_node_types(zone, node, false, 0, types);
	if (nt == TYPES_ROOM)
		return RS_ELIMIT; /* more types than rs_node_types() holds */
	memcpy(out, rs_name_written(next->name), next->name->wire_len);
	return (int)(next->name->wire_len + rs_bitmap_write(types, nt, out + next->name->wire_len));
}

int rs_nsec_chain(const rs_zone_t *zone, uint32_t **next)
{
	size_t count;
	const rs_node_t *nodes = rs_zone_nodes(zone, &count);
	uint32_t *nx = malloc(count * sizeof(*nx));
	if (nx == NULL)
		return RS_ENOMEM;
	uint32_t prev = RS_NO_NODE;
	for (size_t i = 0; i < count; i++) {
		nx[i] = RS_NO_NODE;
		if (!rs_node_in_chain(&nodes[i]))
			continue;
		if (prev != RS_NO_NODE)
			nx[prev] = (uint32_t)i;
		prev = (uint32_t)i;
	}
	if (prev != RS_NO_NODE)
		nx[prev] = 0; /* the last NSEC points back at the apex */
	*next = nx;
	return RS_EOK;
}
