/*
 * Walking the NSEC3 owners of a signed zone in hash order without hashing
 * its names: a binary search finds where a hash's owner is or would be, and
 * the walk from there skips each other top-level name with its subtree in
 * one search. For the signer's change sets (update_nsec3.c) and the
 * verifier's names-only check.
 */
#include <string.h>

#include "regsign/nsec.h"

const rs_rr_t *rs_nsec3_at(const rs_zone_t *zone, const rs_node_t *node, uint8_t hash[20])
{
	uint32_t b, e;
	const uint8_t *wire = rs_name_wire(node->name);
	uint8_t h[20];
	if (node->name->labels != rs_zone_origin(zone)->labels + 1 || wire[0] != 32 ||
	    !rs_node_rrset(zone, node, RS_TYPE_NSEC3, &b, &e) ||
	    rs_base32hex_decode((const char *)wire + 1, 32, h, sizeof(h)) != 20)
		return NULL;
	if (hash != NULL)
		memcpy(hash, h, 20);
	return &rs_zone_rrs(zone)[b];
}

/* The length of the key of name's ancestor just below the apex (its own when it is one). */
static size_t top_len(const rs_zone_t *zone, const rs_name_t *name)
{
	const uint8_t *key = rs_name_key(name);
	size_t top = rs_zone_origin(zone)->key_len;
	while (top < name->key_len && key[top] != 0)
		top++;
	return top + 1;
}

/*
 * A name that is not an owner is skipped with all the names that share its
 * top-level label (one search): owners are children of the apex, and a
 * top-level name with names below it is no owner even when a node.
 */
size_t rs_nsec3_owner_before(const rs_zone_t *zone, size_t i)
{
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(zone, &n);
	while (i > 1) {
		const rs_name_t *nm = nodes[i - 1].name;
		size_t top = top_len(zone, nm);
		if (nm->key_len > top) {
			i = rs_zone_lower_bound(zone, rs_name_key(nm), top);
			continue;
		}
		if (rs_nsec3_at(zone, &nodes[i - 1], NULL) != NULL)
			return i - 1;
		i--;
	}
	return RS_NO_NODE;
}

/* The first node from i on whose key does not start with key[0..len) (those that do follow each other). */
static size_t past_prefix(const rs_zone_t *zone, size_t i, const uint8_t *key, size_t len)
{
	size_t lo = i, hi;
	const rs_node_t *nodes = rs_zone_nodes(zone, &hi);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const rs_name_t *nm = nodes[mid].name;
		if (nm->key_len >= len && memcmp(rs_name_key(nm), key, len) == 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t rs_nsec3_owner_from(const rs_zone_t *zone, size_t i)
{
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(zone, &n);
	for (i = i > 0 ? i : 1; i < n;) {
		const rs_name_t *nm = nodes[i].name;
		size_t top = top_len(zone, nm);
		size_t end = past_prefix(zone, i, rs_name_key(nm), top);
		if (end == i + 1 && nm->key_len == top && rs_nsec3_at(zone, &nodes[i], NULL) != NULL)
			return i;
		i = end;
	}
	return RS_NO_NODE;
}

/* The index where the owner label "c...c" (32 times c) would be: '0' is before every hash, 'v' after. */
static size_t edge(const rs_zone_t *zone, char c)
{
	const rs_name_t *origin = rs_zone_origin(zone);
	uint8_t key[RS_KEY_MAX];
	size_t olen = origin->key_len;
	memcpy(key, rs_name_key(origin), olen);
	memset(key + olen, c, 32);
	/* After "vvv...v" come its subtree and then keys with 0x01 there: past every hash label. */
	key[olen + 32] = c == 'v' ? 1 : 0;
	return rs_zone_lower_bound(zone, key, olen + 33);
}

size_t rs_nsec3_owner_pred(const rs_zone_t *zone, const uint8_t hash[20])
{
	uint8_t wire[RS_NAME_MAX], key[RS_KEY_MAX];
	if (rs_nsec3_owner(hash, rs_zone_origin(zone), wire) < 0)
		return RS_NO_NODE;
	size_t i = rs_nsec3_owner_before(zone, rs_zone_lower_bound(zone, key, rs_dname_key(wire, key)));
	return i != RS_NO_NODE ? i : rs_nsec3_owner_before(zone, edge(zone, 'v'));
}

size_t rs_nsec3_owner_succ(const rs_zone_t *zone, size_t i)
{
	size_t next = rs_nsec3_owner_from(zone, i + 1);
	return next != RS_NO_NODE ? next : rs_nsec3_owner_from(zone, edge(zone, '0'));
}
