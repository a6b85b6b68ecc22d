/*
 * verify: the NSEC3 chain (RFC 5155 7.1), whole or at the names of a change
 * set. The whole check builds the chain the zone's names make (every name
 * hashed) and compares it with the records, owner by owner. The names check
 * hashes only the touched names and the empty non-terminals above them, and
 * finds the records around them with rs_nsec3_owner_pred/succ (a binary
 * search in canonical order, which is hash order for the owners): O(touched
 * · log zone), for a zone whose other records were checked before.
 *
 * What the names check cannot conclude, where the whole check can: a hash
 * names no name (hashes do not invert), so
 * - an NSEC3 at an owner that is touched is not matched with its name unless
 *   that name is touched too: its bitmap, and whether any name hashes there
 *   at all ("matches no name of the zone"), go unchecked;
 * - a next-hashed-owner field is compared with the next owner present, not
 *   with the next hash of the zone's names: an NSEC3 missing between them
 *   is found only when its name is touched;
 * - hash collisions among untouched names, and opt-out flags that differ
 *   between records (the apex's record says whether the chain opts out).
 */
#include <stdlib.h>
#include <string.h>

#include "regsign/crypto.h"

#include "internal.h"

/* The parameters of NSEC3PARAM param; false (a problem) when it is missing or malformed. */
static bool read_params(vctx_t *c, vpart_t *p, const rs_rr_t *param, rs_nsec3_params_t *params)
{
	const uint8_t *apex = rs_name_wire(rs_zone_origin(c->zone));
	if (param == NULL || param->rdlen < 5 || param->rdata[0] != 1 || 5 + param->rdata[4] != param->rdlen) {
		verify_problem(p, apex, RS_TYPE_NSEC3PARAM, "missing or malformed NSEC3PARAM");
		return false;
	}
	*params = (rs_nsec3_params_t){ .iterations = rs_get16(param->rdata + 2), .salt_len = param->rdata[4] };
	memcpy(params->salt, param->rdata + 5, params->salt_len);
	return true;
}

/* Opt-out is a property of the NSEC3 records, not of NSEC3PARAM: one record flagged makes the chain opt out. */
static bool any_opt_out(const vctx_t *c)
{
	for (size_t i = 0; i < c->nnodes; i++) {
		uint32_t b, e;
		if (rs_node_rrset(c->zone, &c->nodes[i], RS_TYPE_NSEC3, &b, &e) && c->rrs[b].rdlen > 1 &&
		    (c->rrs[b].rdata[1] & 1))
			return true;
	}
	return false;
}

/* Has the NSEC3 n3 the parameters (and a SHA-1 next hashed owner)? *pos gets the offset of that field's length. */
static bool same_params(const rs_rr_t *n3, const rs_nsec3_params_t *params, size_t *pos)
{
	const uint8_t *rd = n3->rdata;
	*pos = 5 + (size_t)(n3->rdlen > 4 ? rd[4] : 0);
	return !(n3->rdlen < 5 || *pos + 21 > n3->rdlen || rd[*pos] != 20 || rd[0] != 1 ||
		 rs_get16(rd + 2) != params->iterations || rd[4] != params->salt_len ||
		 memcmp(rd + 5, params->salt, params->salt_len) != 0);
}

/* The bitmap check of the NSEC3 n3 at owner (its parameters checked) for named, NULL for an empty non-terminal. */
static void check_types(vctx_t *c, vpart_t *p, const uint8_t *owner, const rs_rr_t *n3, size_t pos,
			const rs_node_t *named)
{
	uint16_t types[512];
	size_t nt = 0;
	if (named != NULL)
		nt = rs_node_types(c->zone, named, true, (named->flags & RS_NODE_APEX) ? RS_TYPE_NSEC3PARAM : 0,
				   types);
	verify_bitmap(p, owner, RS_TYPE_NSEC3, n3->rdata + pos + 21, n3->rdlen - pos - 21, types, nt);
}

/* ---- the whole chain ---- */

static void check_all(vctx_t *c, vpart_t *p, rs_nsec3_params_t *params)
{
	const uint8_t *apex = rs_name_wire(rs_zone_origin(c->zone));
	params->opt_out = any_opt_out(c);
	rs_nsec3_chain_t chain;
	rs_diag_t d;
	if (rs_nsec3_build(c->zone, params, &chain, &d) != RS_EOK) {
		verify_problem(p, apex, RS_TYPE_NSEC3, "%s", d.text);
		return;
	}
	/* NSEC3 names are children of the apex in hash order, as the chain is. */
	size_t k = 0;
	const rs_name_t *origin = rs_zone_origin(c->zone);
	for (size_t i = 0; i < c->nnodes; i++) {
		const rs_node_t *node = &c->nodes[i];
		uint32_t b, e;
		if (!rs_node_rrset(c->zone, node, RS_TYPE_NSEC3, &b, &e))
			continue;
		const uint8_t *owner = rs_name_wire(node->name);
		uint8_t hash[20];
		if (rs_nsec3_at(c->zone, node, hash) == NULL) {
			verify_problem(p, owner, RS_TYPE_NSEC3, "owner is not a base32hex SHA-1 hash");
			continue;
		}
		while (k < chain.count && memcmp(chain.entries[k].hash, hash, 20) < 0) {
			uint8_t want[RS_NAME_MAX];
			rs_nsec3_owner(chain.entries[k].hash, origin, want);
			verify_problem(p, want, RS_TYPE_NSEC3, "missing NSEC3");
			k++;
		}
		if (k == chain.count || memcmp(chain.entries[k].hash, hash, 20) != 0) {
			verify_problem(p, owner, RS_TYPE_NSEC3, "NSEC3 matches no name of the zone");
			continue;
		}
		const rs_rr_t *n3 = &c->rrs[b];
		size_t pos;
		if (!same_params(n3, params, &pos)) {
			verify_problem(p, owner, RS_TYPE_NSEC3, "parameters differ from NSEC3PARAM");
			k++;
			continue;
		}
		const uint8_t *want_next = chain.entries[(k + 1) % chain.count].hash;
		if (memcmp(n3->rdata + pos + 1, want_next, 20) != 0)
			verify_problem(p, owner, RS_TYPE_NSEC3, "next hashed owner is not the next name in the chain");
		uint32_t named = chain.entries[k].node;
		check_types(c, p, owner, n3, pos, named != RS_NO_NODE ? &c->nodes[named] : NULL);
		k++;
	}
	for (; k < chain.count; k++) {
		uint8_t want[RS_NAME_MAX];
		rs_nsec3_owner(chain.entries[k].hash, origin, want);
		verify_problem(p, want, RS_TYPE_NSEC3, "missing NSEC3");
	}
	rs_nsec3_chain_clear(&chain);
}

/* ---- the touched names ---- */

typedef struct {
	vctx_t *c;
	vpart_t *p;
	rs_nsec3_params_t params;
	const uint32_t *only; /* the touched nodes, sorted */
	size_t nonly;
} names_t;

/* A name the check hashes: its wire (lowercase) and key at offsets of a buffer; kp points at the key once it is full. */
typedef struct {
	size_t wire, key;
	size_t key_len;
	const uint8_t *kp;
} cand_t;

static int cand_cmp(const void *a, const void *b)
{
	const cand_t *x = a, *y = b;
	return rs_key_cmp(x->kp, x->key_len, y->kp, y->key_len);
}

/* Does node get an NSEC3 (rs_nsec3_build): authoritative data, and with opt-out not an unsigned delegation? */
static bool included(const names_t *nc, const rs_node_t *node)
{
	if (!rs_node_in_chain(node) || rs_nsec3_only(nc->c->zone, node))
		return false;
	return !(nc->params.opt_out && (node->flags & RS_NODE_DELEG) && !(node->flags & RS_NODE_DS));
}

/*
 * Does the empty non-terminal of key get an NSEC3? When a name below it
 * does (rs_nsec3_build). Without opt-out that is the first authoritative
 * one; with opt-out the names below are read, an unsigned delegation's or
 * a non-authoritative name's subtree at a time: the signer's shortcuts
 * (update_nsec3.c) use the previous zone, which the check does not have.
 */
static bool ent_included(const names_t *nc, const uint8_t *key, size_t len)
{
	const rs_zone_t *zone = nc->c->zone;
	const rs_node_t *nodes = nc->c->nodes;
	for (size_t i = rs_zone_lower_bound(zone, key, len); i < nc->c->nnodes;) {
		const rs_name_t *nm = nodes[i].name;
		if (nm->key_len < len || memcmp(rs_name_key(nm), key, len) != 0)
			break;
		if (included(nc, &nodes[i]))
			return true;
		bool skip = !rs_node_in_chain(&nodes[i]) || (nodes[i].flags & RS_NODE_DELEG);
		i = skip ? rs_zone_subtree_end(zone, i) : i + 1;
	}
	return false;
}

static const char *text(const uint8_t *wire, char *out, size_t max)
{
	rs_dname_to_str(wire, out, max);
	return out;
}

/*
 * hash is not in the chain (it is what, at owner): its predecessor in hash
 * order (wrapping to the last) must cover it, its next hashed owner after
 * hash (RFC 5155 7.2.1).
 */
static void check_covered(names_t *nc, const uint8_t hash[20], const uint8_t *owner, const char *what)
{
	const rs_zone_t *zone = nc->c->zone;
	size_t i = rs_nsec3_owner_pred(zone, hash), pos;
	uint8_t before[20];
	const rs_rr_t *n3 = i != RS_NO_NODE ? rs_nsec3_at(zone, &nc->c->nodes[i], before) : NULL;
	if (n3 == NULL || !same_params(n3, &nc->params, &pos)) {
		verify_problem(nc->p, owner, RS_TYPE_NSEC3, "no NSEC3 covers %s", what);
		return;
	}
	const uint8_t *next = n3->rdata + pos + 1;
	bool after = memcmp(hash, before, 20) > 0, ahead = memcmp(hash, next, 20) < 0;
	bool covered = memcmp(before, next, 20) < 0 ? after && ahead : after || ahead; /* else the last: wraps */
	if (!covered) {
		char b[1024];
		verify_problem(nc->p, owner, RS_TYPE_NSEC3, "no NSEC3 covers %s: the one before it, %s, links to it or "
			       "before it", what, text(rs_name_wire(nc->c->nodes[i].name), b, sizeof(b)));
	}
}

/* A touched name, or an empty non-terminal above one (wire lowercase): its NSEC3 as the whole check wants it. */
static void check_name(names_t *nc, const uint8_t *wire, const uint8_t *key, size_t klen)
{
	vctx_t *c = nc->c;
	const rs_name_t *origin = rs_zone_origin(c->zone);
	const rs_node_t *node = rs_zone_find(c->zone, key, klen);
	char name[1024], what[1100];
	uint8_t hash[20], owner[RS_NAME_MAX], okey[RS_KEY_MAX];
	if (node != NULL && (rs_nsec3_at(c->zone, node, NULL) != NULL || rs_nsec3_only(c->zone, node)))
		return; /* an owner of the chain: checked as one when touched */
	text(wire, name, sizeof(name));
	if (node == NULL && rs_dname_labels(wire) == (unsigned)origin->labels + 1 && wire[0] == 32 &&
	    rs_base32hex_decode((const char *)wire + 1, 32, hash, 20) == 20) {
		/* Named as an NSEC3 owner that is gone: the chain must close over it. */
		snprintf(what, sizeof(what), "%s, whose NSEC3 was removed", name);
		check_covered(nc, hash, wire, what);
	}
	const rs_nsec3_params_t *pa = &nc->params;
	if (rs_nsec3_hash(wire, rs_dname_len(wire, RS_NAME_MAX), pa->salt, pa->salt_len, pa->iterations, hash) !=
	    RS_EOK) {
		verify_problem(nc->p, wire, RS_TYPE_NSEC3, "cannot hash the name");
		return;
	}
	rs_nsec3_owner(hash, origin, owner); /* the origin fits: rs_verify_zone's caller read the zone */
	const rs_node_t *at = rs_zone_find(c->zone, okey, rs_dname_key(owner, okey));
	const rs_rr_t *n3 = at != NULL ? rs_nsec3_at(c->zone, at, NULL) : NULL;
	bool exists = node != NULL ? included(nc, node) : ent_included(nc, key, klen);
	size_t pos;
	if (!exists && n3 != NULL) {
		verify_problem(nc->p, owner, RS_TYPE_NSEC3, "NSEC3 matches no name of the zone (%s has none)", name);
	} else if (!exists) {
		snprintf(what, sizeof(what), "the hash of %s", name);
		check_covered(nc, hash, owner, what);
	} else if (n3 == NULL) {
		verify_problem(nc->p, owner, RS_TYPE_NSEC3, "missing NSEC3 (of %s)", name);
	} else if (!same_params(n3, pa, &pos)) {
		verify_problem(nc->p, owner, RS_TYPE_NSEC3, "parameters differ from NSEC3PARAM");
	} else {
		check_types(c, nc->p, owner, n3, pos, node);
	}
}

static bool is_touched(const names_t *nc, size_t i)
{
	uint32_t x = (uint32_t)i;
	size_t lo = 0, hi = nc->nonly;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (nc->only[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nc->nonly && nc->only[lo] == x;
}

/*
 * A touched NSEC3 owner: its parameters, its link to the next owner, and
 * the link to it from the one before (when that one is not touched: then
 * its own check says it), so that an owner put in or taken out of the chain
 * shows a link left as it was.
 */
static void check_owner(names_t *nc, size_t i)
{
	vctx_t *c = nc->c;
	const rs_node_t *node = &c->nodes[i];
	const uint8_t *owner = rs_name_wire(node->name);
	uint8_t hash[20], other[20];
	uint32_t b, e;
	size_t pos;
	if (!rs_node_rrset(c->zone, node, RS_TYPE_NSEC3, &b, &e))
		return;
	const rs_rr_t *n3 = rs_nsec3_at(c->zone, node, hash);
	if (n3 == NULL) {
		verify_problem(nc->p, owner, RS_TYPE_NSEC3, "owner is not a base32hex SHA-1 hash");
		return;
	}
	if (!same_params(n3, &nc->params, &pos)) {
		verify_problem(nc->p, owner, RS_TYPE_NSEC3, "parameters differ from NSEC3PARAM");
		return;
	}
	size_t after = rs_nsec3_owner_succ(c->zone, i); /* RS_NO_NODE for an owner with names below it */
	if (after != RS_NO_NODE && rs_nsec3_at(c->zone, &c->nodes[after], other) != NULL &&
	    memcmp(n3->rdata + pos + 1, other, 20) != 0)
		verify_problem(nc->p, owner, RS_TYPE_NSEC3, "next hashed owner is not the next name in the chain");
	size_t before = rs_nsec3_owner_pred(c->zone, hash);
	if (before == RS_NO_NODE || before == i || is_touched(nc, before))
		return;
	const rs_rr_t *prev = rs_nsec3_at(c->zone, &c->nodes[before], other);
	if (same_params(prev, &nc->params, &pos) && memcmp(prev->rdata + pos + 1, hash, 20) != 0)
		verify_problem(nc->p, rs_name_wire(c->nodes[before].name), RS_TYPE_NSEC3,
			       "next hashed owner is not the next name in the chain");
}

/*
 * The touched names (lowercase) and the names above them up to the first
 * that is a node (its NSEC3 does not depend on the names below it), sorted
 * and without repeats, into *out with their bytes in buf.
 */
static int candidates(const vctx_t *c, rs_buf_t *buf, cand_t **out, size_t *count)
{
	const rs_name_t *origin = rs_zone_origin(c->zone);
	size_t m = 0, cap = 2 * c->opts->nnames + 1;
	cand_t *cand = malloc(cap * sizeof(*cand));
	int ret = cand != NULL ? RS_EOK : RS_ENOMEM;
	for (size_t t = 0; ret == RS_EOK && t < c->opts->nnames; t++) {
		uint8_t lower[RS_NAME_MAX], key[RS_KEY_MAX];
		size_t len = rs_dname_len(c->opts->names[t], RS_NAME_MAX);
		memcpy(lower, c->opts->names[t], len);
		rs_dname_lower(lower);
		const uint8_t *w = lower;
		for (unsigned l = rs_dname_labels(w); ret == RS_EOK && l >= origin->labels; w += *w + 1) {
			size_t klen = rs_dname_key(w, key);
			if (klen < origin->key_len || memcmp(key, rs_name_key(origin), origin->key_len) != 0)
				break; /* not in the zone */
			if (w != lower && rs_zone_find(c->zone, key, klen) != NULL)
				break;
			if (m == cap) {
				cand_t *grown = realloc(cand, (cap *= 2) * sizeof(*cand));
				if (grown == NULL) {
					ret = RS_ENOMEM;
					break;
				}
				cand = grown;
			}
			cand[m] = (cand_t){ buf->len, buf->len + (len - (size_t)(w - lower)), klen, NULL };
			if ((ret = rs_buf_append(buf, w, len - (size_t)(w - lower))) == RS_EOK)
				ret = rs_buf_append(buf, key, klen);
			m++;
			if (l-- == origin->labels)
				break; /* the apex: the root's has no label to step over */
		}
	}
	if (ret != RS_EOK) {
		free(cand);
		return ret;
	}
	for (size_t i = 0; i < m; i++)
		cand[i].kp = buf->data + cand[i].key;
	qsort(cand, m, sizeof(*cand), cand_cmp);
	size_t k = 0;
	for (size_t i = 0; i < m; i++)
		if (k == 0 || cand_cmp(&cand[k - 1], &cand[i]) != 0)
			cand[k++] = cand[i];
	*out = cand;
	*count = k;
	return RS_EOK;
}

static void check_names(vctx_t *c, vpart_t *p, const rs_nsec3_params_t *params, const uint32_t *only,
			size_t nonly)
{
	const rs_name_t *origin = rs_zone_origin(c->zone);
	names_t nc = { .c = c, .p = p, .params = *params, .only = only, .nonly = nonly };
	/* The apex is always in the chain; its record's flag stands for all (as the signer's change sets take it). */
	uint8_t hash[20], owner[RS_NAME_MAX], key[RS_KEY_MAX];
	const rs_node_t *at = NULL;
	if (rs_nsec3_hash(rs_name_wire(origin), origin->wire_len, params->salt, params->salt_len, params->iterations,
			  hash) == RS_EOK && rs_nsec3_owner(hash, origin, owner) > 0)
		at = rs_zone_find(c->zone, key, rs_dname_key(owner, key));
	const rs_rr_t *apex = at != NULL ? rs_nsec3_at(c->zone, at, NULL) : NULL;
	nc.params.opt_out = apex != NULL ? apex->rdlen > 1 && (apex->rdata[1] & 1) : any_opt_out(c);
	rs_buf_t buf;
	rs_buf_init(&buf, (size_t)1 << 30);
	cand_t *cand = NULL;
	size_t ncand = 0;
	if (candidates(c, &buf, &cand, &ncand) != RS_EOK) {
		verify_problem(p, rs_name_wire(origin), RS_TYPE_NSEC3, "out of memory");
		rs_buf_clear(&buf);
		return;
	}
	for (size_t i = 0; i < ncand; i++)
		check_name(&nc, buf.data + cand[i].wire, buf.data + cand[i].key, cand[i].key_len);
	for (size_t k = 0; k < nonly; k++)
		check_owner(&nc, only[k]);
	free(cand);
	rs_buf_clear(&buf);
}

void verify_nsec3(vctx_t *c, vpart_t *p, const rs_rr_t *param, const uint32_t *only, size_t nonly)
{
	rs_nsec3_params_t params;
	if (!read_params(c, p, param, &params))
		return;
	if (c->opts->nnames > 0)
		check_names(c, p, &params, only, nonly);
	else
		check_all(c, p, &params);
}
