/*
 * NSEC3 in a change set (RFC 5155 7.1, the chain as rs_nsec3_build makes
 * it). A name's NSEC3 comes, goes or gets another bitmap only when the name
 * or a name below it changes, so the candidates are the touched names and
 * the empty non-terminals above them: only those are hashed. prev keeps its
 * NSEC3 records at their hashed owners among the other names, in canonical
 * order, which is hash order: a hash's predecessor in the chain is found by
 * walking back from where its owner would be, a top-level subtree at a
 * time, and its successor is the next field of the predecessor's record.
 * Each NSEC3 whose existence, bitmap or next field changes is an item for
 * update.c, which signs it and patches it in with the other names.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regsign/nsec.h"

#define NOTSUP (-EOPNOTSUPP)

/* A hash of the chain: a candidate's, or the nearest one of prev's chain beside a changed candidate. */
typedef struct {
	uint8_t hash[20];
	const rs_rr_t *old;    /* prev's NSEC3 at this hash, or NULL */
	const uint8_t *bitmap; /* of the record in the next chain */
	uint16_t bitmap_len;
	bool now;              /* in the next chain */
	bool changed;          /* a candidate whose NSEC3 comes, goes or gets another bitmap */
	bool write;            /* its record is made again (and written if it differs from prev's) */
	const uint8_t *name;   /* a candidate's name, for diagnostics */
} link_t;

/* A touched name: lowercase wire, key, and whether it had (prev) and has (data) an NSEC3 of its own. */
typedef struct {
	const uint8_t *wire, *key;
	size_t key_len;
	bool had, has;
} name_t;

typedef struct {
	const rs_name_t *name;
	rs_rr_t rr;
	bool gone;
} item_t;

struct upd_nsec3 {
	const rs_zone_t *prev, *data;
	const rs_name_t *origin;
	rs_nsec3_params_t params;
	uint8_t head[5 + 255]; /* NSEC3 RDATA up to the end of the salt, the same in every record */
	size_t head_len;
	uint32_t ttl;
	rs_arena_t *arena;
	name_t *names;
	size_t nnames;
	link_t *links;
	size_t nlinks, cap;
	size_t nchanged; /* links[0..nchanged): the changed candidates, in hash order */
	item_t *items;
	size_t nitems;
	rs_diag_t *diag;
};

static const char *name_text(const uint8_t *wire, char *out, size_t max)
{
	if (rs_name_format(wire, out, max) < 0)
		snprintf(out, max, "?");
	return out;
}

static void *alloc(upd_nsec3_t *n3, size_t size)
{
	return rs_arena_alloc(n3->arena, size ? size : 1);
}

/* The key of the NSEC3 owner of hash; wire gets the owner. */
static size_t owner_key(const upd_nsec3_t *n3, const uint8_t hash[20], uint8_t wire[RS_NAME_MAX], uint8_t *key)
{
	rs_nsec3_owner(hash, n3->origin, wire); /* the origin fits: checked by upd_nsec3_new */
	return rs_dname_key(wire, key);
}

/* prev's NSEC3 at hash, or NULL. */
static const rs_rr_t *old_record(const upd_nsec3_t *n3, const uint8_t hash[20])
{
	uint8_t wire[RS_NAME_MAX], key[RS_KEY_MAX];
	size_t klen = owner_key(n3, hash, wire, key);
	const rs_node_t *node = rs_zone_find(n3->prev, key, klen);
	return node != NULL ? rs_nsec3_at(n3->prev, node, NULL) : NULL;
}

/* The next hashed owner and the bitmap of a record of the chain (its head checked); false if malformed. */
static bool fields(const upd_nsec3_t *n3, const rs_rr_t *rr, const uint8_t **next, const uint8_t **bitmap,
		   uint16_t *len)
{
	size_t pos = n3->head_len;
	if (rr->rdlen < pos + 21 || memcmp(rr->rdata, n3->head, pos) != 0 || rr->rdata[pos] != 20)
		return false;
	*next = rr->rdata + pos + 1;
	*bitmap = rr->rdata + pos + 21;
	*len = (uint16_t)(rr->rdlen - pos - 21);
	return true;
}

static int broken(const upd_nsec3_t *n3, const uint8_t hash[20])
{
	uint8_t wire[RS_NAME_MAX];
	char text[4 * RS_NAME_MAX + 2];
	rs_nsec3_owner(hash, n3->origin, wire);
	return rs_diag(n3->diag, NOTSUP, "the NSEC3 chain of the previous zone is broken at '%s': it needs a full "
		       "signing", name_text(wire, text, sizeof(text)));
}

/* ---- the parameters ---- */

static int check_apex(upd_nsec3_t *n3, uint32_t nsec_ttl)
{
	uint8_t hash[20], wire[RS_NAME_MAX], key[RS_KEY_MAX];
	const rs_nsec3_params_t *p = &n3->params;
	if (rs_nsec3_hash(rs_name_wire(n3->origin), n3->origin->wire_len, p->salt, p->salt_len, p->iterations,
			  hash) != RS_EOK)
		return rs_diag(n3->diag, RS_EINVAL, "cannot hash the apex for NSEC3");
	const rs_node_t *node = rs_zone_find(n3->prev, key, owner_key(n3, hash, wire, key));
	const rs_rr_t *rr = node != NULL ? rs_nsec3_at(n3->prev, node, NULL) : NULL;
	if (rr == NULL)
		return rs_diag(n3->diag, NOTSUP, "the previous zone has no NSEC3 for its apex: it needs a full signing");
	if (rr->rdlen > 1 && rr->rdata[1] != n3->head[1])
		return rs_diag(n3->diag, NOTSUP, "NSEC3 opt-out is turned %s: that needs a full signing",
			       p->opt_out ? "on" : "off");
	if (rr->rdlen < n3->head_len || memcmp(rr->rdata, n3->head, n3->head_len) != 0)
		return rs_diag(n3->diag, NOTSUP, "the previous zone's NSEC3 records differ from its NSEC3PARAM: it "
			       "needs a full signing");
	if (rr->ttl != nsec_ttl)
		return rs_diag(n3->diag, NOTSUP, "the NSEC3 TTL changes (%u to %u): that needs a full signing", rr->ttl,
			       nsec_ttl);
	return RS_EOK;
}

int upd_nsec3_new(const rs_zone_t *prev, const rs_sign_opts_t *opts, uint32_t nsec_ttl, upd_nsec3_t **out,
		  rs_diag_t *diag)
{
	size_t n;
	const rs_node_t *apex = rs_zone_nodes(prev, &n);
	const rs_rr_t *rr = rs_zone_rrs(prev);
	uint32_t b, e;
	if (!rs_node_rrset(prev, apex, RS_TYPE_NSEC3PARAM, &b, &e))
		return rs_diag(diag, NOTSUP, "the previous zone is not signed with NSEC3: it needs a full signing");
	if (!opts->nsec3)
		return rs_diag(diag, NOTSUP, "the previous zone is signed with NSEC3: NSEC needs a full signing");
	uint8_t param[5 + 255];
	size_t plen = rs_nsec3param_rdata(&opts->nsec3_params, param);
	if (e - b != 1 || rr[b].rdlen != plen || memcmp(rr[b].rdata, param, plen) != 0)
		return rs_diag(diag, NOTSUP, "the NSEC3 parameters change: that needs a full signing");
	const rs_name_t *origin = rs_zone_origin(prev);
	if (origin->wire_len + 33 > RS_NAME_MAX)
		return rs_diag(diag, RS_ELIMIT, "the origin is too long for NSEC3 owner names");
	upd_nsec3_t *n3 = calloc(1, sizeof(*n3));
	rs_arena_t *arena = rs_arena_new(1 << 16);
	if (n3 == NULL || arena == NULL) {
		free(n3);
		rs_arena_free(arena);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	*n3 = (upd_nsec3_t){ .prev = prev, .origin = origin, .params = opts->nsec3_params, .ttl = nsec_ttl,
			     .arena = arena, .diag = diag };
	/* As rs_sign_zone writes it: SHA-1, the opt-out flag, iterations, salt. */
	memcpy(n3->head, param, plen);
	n3->head[1] = opts->nsec3_params.opt_out ? 1 : 0;
	n3->head_len = plen;
	int ret = check_apex(n3, nsec_ttl);
	if (ret != RS_EOK) {
		upd_nsec3_free(n3);
		return ret;
	}
	*out = n3;
	return RS_EOK;
}

void upd_nsec3_free(upd_nsec3_t *n3)
{
	if (n3 == NULL)
		return;
	free(n3->names);
	free(n3->links);
	free(n3->items);
	rs_arena_free(n3->arena);
	free(n3);
}

/* ---- the candidates ---- */

/* Is node in the chain (RFC 5155 7.1): authoritative, and with opt-out not an unsigned delegation? */
static bool included(const upd_nsec3_t *n3, const rs_node_t *node)
{
	if (node == NULL || !rs_node_in_chain(node))
		return false;
	return !(n3->params.opt_out && (node->flags & RS_NODE_DELEG) && !(node->flags & RS_NODE_DS));
}

/* The first touched name at or after key (the names are in canonical order). */
static size_t first_name(const upd_nsec3_t *n3, const uint8_t *key, size_t len)
{
	size_t lo = 0, hi = n3->nnames;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rs_key_cmp(n3->names[mid].key, n3->names[mid].key_len, key, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Does the empty non-terminal of key (no node of data) get an NSEC3? When a
 * name below it has one (rs_nsec3_build). Without opt-out that is any
 * authoritative name, and the first name below it says: a name below a cut
 * follows the cut. With opt-out the touched names and prev's NSEC3 there
 * answer most cases; else the names below are read, an unsigned
 * delegation's subtree at a time.
 */
static bool ent_now(const upd_nsec3_t *n3, const uint8_t *key, size_t len, const uint8_t hash[20])
{
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(n3->data, &n);
	size_t i = rs_zone_lower_bound(n3->data, key, len);
	if (!n3->params.opt_out)
		return i < n && rs_name_under_key(nodes[i].name, key, len) && rs_node_in_chain(&nodes[i]);
	bool had_below = false;
	for (size_t t = first_name(n3, key, len); t < n3->nnames && n3->names[t].key_len >= len &&
						  memcmp(n3->names[t].key, key, len) == 0; t++) {
		if (n3->names[t].key_len == len)
			continue; /* the name itself, a node of prev at most */
		if (n3->names[t].has)
			return true;
		had_below |= n3->names[t].had;
	}
	if (rs_zone_find(n3->prev, key, len) == NULL) {
		/* An empty non-terminal in prev too: its NSEC3 there says whether an untouched name below has one. */
		bool had = old_record(n3, hash) != NULL;
		if (!had || !had_below)
			return had;
	}
	while (i < n && rs_name_under_key(nodes[i].name, key, len) && rs_node_in_chain(&nodes[i])) {
		if (included(n3, &nodes[i]))
			return true;
		i = rs_zone_subtree_end(n3->data, i); /* an unsigned delegation: only glue below it */
	}
	return false;
}

/* The NSEC3 type bitmap of node in data into the arena. */
static int node_bitmap(upd_nsec3_t *n3, const rs_node_t *node, link_t *l)
{
	uint16_t types[512];
	uint8_t buf[8704];
	size_t nt = rs_node_types(n3->data, node, true, 0, types);
	if (nt == 512) {
		char text[4 * RS_NAME_MAX + 2];
		return rs_diag(n3->diag, RS_ELIMIT, "cannot sign '%s': more types than an NSEC3 bitmap holds here",
			       name_text(rs_name_written(node->name), text, sizeof(text)));
	}
	size_t len = rs_bitmap_write(types, nt, buf);
	uint8_t *copy = alloc(n3, len);
	if (copy == NULL)
		return rs_diag(n3->diag, RS_ENOMEM, "out of memory");
	memcpy(copy, buf, len);
	l->bitmap = copy;
	l->bitmap_len = (uint16_t)len;
	return RS_EOK;
}

static int push_link(upd_nsec3_t *n3, const link_t *l)
{
	if (n3->nlinks == n3->cap) {
		size_t cap = n3->cap ? 2 * n3->cap : 64;
		link_t *grown = realloc(n3->links, cap * sizeof(*grown));
		if (grown == NULL)
			return rs_diag(n3->diag, RS_ENOMEM, "out of memory");
		n3->links = grown;
		n3->cap = cap;
	}
	n3->links[n3->nlinks++] = *l;
	return RS_EOK;
}

/* One candidate (lowercase wire, key): a link if its NSEC3 comes, goes or gets another bitmap. */
static int candidate(upd_nsec3_t *n3, const uint8_t *wire, const uint8_t *key, size_t klen)
{
	char text[4 * RS_NAME_MAX + 2];
	const rs_nsec3_params_t *p = &n3->params;
	link_t l = { .name = wire };
	if (rs_nsec3_hash(wire, rs_dname_len(wire, RS_NAME_MAX), p->salt, p->salt_len, p->iterations, l.hash) !=
	    RS_EOK)
		return rs_diag(n3->diag, RS_EINVAL, "cannot hash '%s'", name_text(wire, text, sizeof(text)));
	const rs_node_t *node = rs_zone_find(n3->data, key, klen);
	if (node != NULL && rs_nsec3_at(n3->data, node, NULL) != NULL)
		return rs_diag(n3->diag, RS_EINVAL, "cannot change '%s': an NSEC3 of the chain is there",
			       name_text(wire, text, sizeof(text)));
	l.now = node != NULL ? included(n3, node) : ent_now(n3, key, klen, l.hash);
	int ret = l.now && node != NULL ? node_bitmap(n3, node, &l) : RS_EOK;
	if (ret != RS_EOK)
		return ret;
	l.old = old_record(n3, l.hash);
	const uint8_t *next, *bitmap = NULL;
	uint16_t blen = 0;
	if (l.old != NULL && !fields(n3, l.old, &next, &bitmap, &blen))
		return broken(n3, l.hash);
	l.changed = (l.old != NULL) != l.now ||
		    (l.now && (blen != l.bitmap_len || (blen > 0 && memcmp(bitmap, l.bitmap, blen) != 0)));
	return l.changed ? push_link(n3, &l) : RS_EOK;
}

typedef struct {
	const uint8_t *wire, *key;
	size_t key_len;
} cand_t;

static int cand_cmp(const void *a, const void *b)
{
	const cand_t *x = a, *y = b;
	return rs_key_cmp(x->key, x->key_len, y->key, y->key_len);
}

static int link_cmp(const void *a, const void *b)
{
	return memcmp(((const link_t *)a)->hash, ((const link_t *)b)->hash, 20);
}

/* The touched names and the names above them up to the first one that is a node of data (its NSEC3 stays). */
static int candidates(upd_nsec3_t *n3, cand_t **out, size_t *count)
{
	size_t cap = 64, m = 0;
	cand_t *c = malloc(cap * sizeof(*c));
	bool full = c == NULL;
	unsigned apex_labels = n3->origin->labels;
	for (size_t t = 0; !full && t < n3->nnames; t++) {
		const uint8_t *w = n3->names[t].wire;
		for (unsigned l = rs_dname_labels(w); !full && l > apex_labels; l--, w += *w + 1) {
			uint8_t key[RS_KEY_MAX];
			size_t klen = rs_dname_key(w, key);
			if (w != n3->names[t].wire && rs_zone_find(n3->data, key, klen) != NULL)
				break;
			cand_t *grown = m < cap ? c : realloc(c, (cap *= 2) * sizeof(*c));
			uint8_t *k = alloc(n3, klen);
			if (grown == NULL || k == NULL) {
				full = true;
				break;
			}
			c = grown;
			memcpy(k, key, klen);
			c[m++] = (cand_t){ w, k, klen };
		}
	}
	if (full) {
		free(c);
		return rs_diag(n3->diag, RS_ENOMEM, "out of memory");
	}
	qsort(c, m, sizeof(*c), cand_cmp);
	size_t k = 0;
	for (size_t i = 0; i < m; i++)
		if (k == 0 || cand_cmp(&c[k - 1], &c[i]) != 0)
			c[k++] = c[i];
	*out = c;
	*count = k;
	return RS_EOK;
}

static int prepare_names(upd_nsec3_t *n3, const uint8_t *const *owners, size_t n)
{
	n3->names = calloc(n ? n : 1, sizeof(*n3->names));
	if (n3->names == NULL)
		return rs_diag(n3->diag, RS_ENOMEM, "out of memory");
	for (size_t t = 0; t < n; t++) {
		size_t len = rs_dname_len(owners[t], RS_NAME_MAX);
		uint8_t *wire = alloc(n3, len), key[RS_KEY_MAX];
		if (wire == NULL)
			return rs_diag(n3->diag, RS_ENOMEM, "out of memory");
		memcpy(wire, owners[t], len);
		rs_dname_lower(wire);
		size_t klen = rs_dname_key(wire, key);
		uint8_t *k = alloc(n3, klen);
		if (k == NULL)
			return rs_diag(n3->diag, RS_ENOMEM, "out of memory");
		memcpy(k, key, klen);
		n3->names[t] = (name_t){ .wire = wire, .key = k, .key_len = klen,
					 .had = included(n3, rs_zone_find(n3->prev, k, klen)),
					 .has = included(n3, rs_zone_find(n3->data, k, klen)) };
	}
	n3->nnames = n;
	return RS_EOK;
}

/* ---- the neighbours ---- */

/* The hash before hash in prev's chain, wrapping from the first to the last, and its record. */
static int old_pred(const upd_nsec3_t *n3, const uint8_t hash[20], uint8_t out[20], const rs_rr_t **rr)
{
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(n3->prev, &n);
	size_t i = rs_nsec3_owner_pred(n3->prev, hash);
	if (i == RS_NO_NODE)
		return broken(n3, hash);
	*rr = rs_nsec3_at(n3->prev, &nodes[i], out);
	return RS_EOK;
}

static const link_t *find_changed(const upd_nsec3_t *n3, const uint8_t hash[20])
{
	link_t l;
	memcpy(l.hash, hash, 20);
	return bsearch(&l, n3->links, n3->nchanged, sizeof(l), link_cmp);
}

/* prev's record at hash as a link of the next chain, unless it is a changed candidate. */
static int push_old(upd_nsec3_t *n3, const uint8_t hash[20], const rs_rr_t *rr)
{
	if (find_changed(n3, hash) != NULL)
		return RS_EOK;
	link_t l = { .old = rr, .now = true };
	memcpy(l.hash, hash, 20);
	const uint8_t *next;
	if (rr == NULL || !fields(n3, rr, &next, &l.bitmap, &l.bitmap_len))
		return broken(n3, hash);
	return push_link(n3, &l);
}

/*
 * Beside each changed candidate, the hashes of prev's chain before it (when
 * it comes or goes: that one's next field changes) and after it (the next
 * field of a record made again): with those of the changed candidates next
 * to them, every hash between a link and the nearest links of the next chain
 * around it is a link, so the links alone give each new record's neighbours.
 */
static int neighbours(upd_nsec3_t *n3)
{
	int ret = RS_EOK;
	for (size_t c = 0; ret == RS_EOK && c < n3->nchanged; c++) {
		link_t l = n3->links[c]; /* a copy: pushing may move the array */
		const rs_rr_t *pred = NULL;
		uint8_t hash[20];
		const uint8_t *next = NULL, *bitmap;
		uint16_t blen;
		if ((l.old != NULL) != l.now) {
			ret = old_pred(n3, l.hash, hash, &pred);
			if (ret == RS_EOK)
				ret = push_old(n3, hash, pred);
		}
		const rs_rr_t *before = l.old != NULL ? l.old : pred;
		if (ret == RS_EOK && !fields(n3, before, &next, &bitmap, &blen))
			ret = broken(n3, l.old != NULL ? l.hash : hash);
		if (ret == RS_EOK)
			ret = push_old(n3, next, old_record(n3, next));
	}
	return ret;
}

/* ---- the records ---- */

/* The record of link i of the next chain whose successor there is link next. */
static int make_item(upd_nsec3_t *n3, size_t i, size_t next, const rs_zone_t *data)
{
	const link_t *l = &n3->links[i];
	item_t it = { .rr = { .ttl = n3->ttl, .type = RS_TYPE_NSEC3, .file = UINT32_MAX }, .gone = !l->now };
	if (l->now) {
		size_t len = n3->head_len + 21 + l->bitmap_len;
		uint8_t *rd = alloc(n3, len);
		if (rd == NULL)
			return rs_diag(n3->diag, RS_ENOMEM, "out of memory");
		memcpy(rd, n3->head, n3->head_len);
		rd[n3->head_len] = 20;
		memcpy(rd + n3->head_len + 1, n3->links[next].hash, 20);
		if (l->bitmap_len > 0) /* an empty non-terminal has none */
			memcpy(rd + n3->head_len + 21, l->bitmap, l->bitmap_len);
		it.rr.rdata = rd;
		it.rr.rdlen = (uint16_t)len;
		if (l->old != NULL && l->old->rdlen == len && memcmp(l->old->rdata, rd, len) == 0)
			return RS_EOK; /* the same as prev's */
	}
	uint8_t wire[RS_NAME_MAX], key[RS_KEY_MAX];
	size_t klen = owner_key(n3, l->hash, wire, key);
	if (l->old == NULL && rs_zone_find(data, key, klen) != NULL) {
		char a[4 * RS_NAME_MAX + 2], b[4 * RS_NAME_MAX + 2];
		return rs_diag(n3->diag, RS_EZONE, "the NSEC3 owner of '%s' is a name of the zone, '%s'",
			       name_text(l->name, a, sizeof(a)), name_text(wire, b, sizeof(b)));
	}
	if ((it.name = rs_name_new(n3->arena, wire)) == NULL)
		return rs_diag(n3->diag, RS_ENOMEM, "out of memory");
	n3->items[n3->nitems++] = it;
	return RS_EOK;
}

/* Which records are made again, and the items: the links in hash order, wrapping around. */
static int items(upd_nsec3_t *n3, const rs_zone_t *data)
{
	size_t n = n3->nlinks, last = n, first = n;
	link_t *l = n3->links;
	for (size_t i = 0; i < n; i++)
		if (l[i].now)
			last = i, first = first == n ? i : first;
	if (first == n)
		return broken(n3, l[0].hash); /* the apex is always in the chain, so a neighbour is a link */
	/* A link that comes or goes changes the next field of the link of the next chain before it. */
	for (size_t i = 0, before = last; i < n; i++) {
		l[i].write |= l[i].changed && l[i].now;
		if (l[i].changed && (l[i].old != NULL) != l[i].now)
			l[before].write = true;
		before = l[i].now ? i : before;
	}
	n3->items = malloc(n * sizeof(*n3->items));
	if (n3->items == NULL)
		return rs_diag(n3->diag, RS_ENOMEM, "out of memory");
	int ret = RS_EOK;
	for (size_t i = n, after = first; ret == RS_EOK && i-- > 0;) {
		if (l[i].write || (l[i].changed && !l[i].now))
			ret = make_item(n3, i, after, data);
		after = l[i].now ? i : after;
	}
	/* Made from the end: put them in canonical order. */
	for (size_t a = 0, b = n3->nitems; ret == RS_EOK && a + 1 < b; a++, b--) {
		item_t t = n3->items[a];
		n3->items[a] = n3->items[b - 1];
		n3->items[b - 1] = t;
	}
	return ret;
}

int upd_nsec3_collect(upd_nsec3_t *n3, const rs_zone_t *data, const uint8_t *const *owners, size_t n,
		      rs_diag_t *diag)
{
	n3->data = data;
	n3->diag = diag;
	cand_t *cand = NULL;
	size_t ncand = 0;
	int ret = prepare_names(n3, owners, n);
	if (ret == RS_EOK)
		ret = candidates(n3, &cand, &ncand);
	for (size_t i = 0; ret == RS_EOK && i < ncand; i++)
		ret = candidate(n3, cand[i].wire, cand[i].key, cand[i].key_len);
	free(cand);
	if (ret != RS_EOK || n3->nlinks == 0)
		return ret;
	qsort(n3->links, n3->nlinks, sizeof(*n3->links), link_cmp);
	n3->nchanged = n3->nlinks;
	for (size_t i = 1; i < n3->nchanged; i++)
		if (memcmp(n3->links[i - 1].hash, n3->links[i].hash, 20) == 0)
			return rs_diag(diag, RS_EZONE, "NSEC3 hash collision; choose another salt");
	if ((ret = neighbours(n3)) != RS_EOK)
		return ret;
	qsort(n3->links, n3->nlinks, sizeof(*n3->links), link_cmp);
	size_t k = 0;
	for (size_t i = 0; i < n3->nlinks; i++)
		if (k == 0 || memcmp(n3->links[k - 1].hash, n3->links[i].hash, 20) != 0)
			n3->links[k++] = n3->links[i];
	n3->nlinks = k;
	return items(n3, data);
}

size_t upd_nsec3_count(const upd_nsec3_t *n3)
{
	return n3->nitems;
}

const rs_name_t *upd_nsec3_name(const upd_nsec3_t *n3, size_t i)
{
	return n3->items[i].name;
}

const rs_rr_t *upd_nsec3_record(const upd_nsec3_t *n3, size_t i)
{
	return n3->items[i].gone ? NULL : &n3->items[i].rr;
}
