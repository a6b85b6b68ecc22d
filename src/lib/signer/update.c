/*
 * Signing a change set (rs_sign_update). Two patches of the zone: the first
 * applies the data changes (the zone store sets flags and checks the rules
 * as rs_zone_finish does), the second writes the names whose records,
 * signatures or NSEC change in the result: the touched names, their
 * predecessors in the NSEC chain (whose next name may change, RFC 4034 4.1.1),
 * the apex (the SOA) and the names with a signature due for its refresh; in
 * an NSEC3 zone, instead of the NSEC predecessors, the NSEC3 owners whose
 * records change (update_nsec3.c).
 * Everything else stays prev's, shared by reference.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define NOTSUP (-EOPNOTSUPP)

/* One record of the change set, made ready: key of the lowercased owner, canonical RDATA. */
typedef struct {
	const rs_xrr_t *in;
	uint8_t *key;
	size_t key_len;
	uint8_t *rdata;
	uint16_t rdlen, type;
	uint32_t ttl;
	bool add;
} chg_t;

/* A name the change set touches, and its data records afterwards. */
typedef struct {
	const chg_t *chg;
	size_t nchg;
	const rs_node_t *old; /* in prev, or NULL */
	rs_rr_t *rrs;
	size_t nrr;
} touched_t;

/* A name of the second patch: a node of the data-patched zone, or an NSEC3 owner. */
typedef struct {
	size_t index;
	bool touched;
	rs_rr_t *rrs; /* data, NSEC, signatures kept, then the new signatures */
	size_t nrr;
	const rs_name_t *nsec3;  /* an NSEC3 owner whose record changes (index unused), or NULL */
	const rs_rr_t *nsec3_rr; /* its new NSEC3; NULL: the name goes */
} entry_t;

/* An RRset to sign, and its new signatures. */
typedef struct {
	size_t entry;
	const rs_rr_t *rrs;
	size_t count;
	uint16_t type;
	uint32_t ttl;
	const rs_name_t *owner;
	rs_rr_t sigs[SIGN_MAX_KEYS];
	size_t nsigs;
} job_t;

typedef struct {
	const rs_zone_t *prev;
	const rs_sign_opts_t *opts;
	rs_key_t *const *keys;
	rs_key_role_t roles[SIGN_MAX_KEYS];
	size_t nkeys;
	uint32_t nsec_ttl;
	rs_arena_t *arena;
	chg_t *chg;
	size_t nchg;
	touched_t *names;
	size_t nnames;
	rs_zone_t *data; /* prev with the data changes */
	entry_t *entries;
	size_t nentries;
	job_t *jobs;
	size_t njobs;
	upd_nsec3_t *n3; /* an NSEC3 zone's chain (update_nsec3.c); NULL with NSEC */
	rs_diag_t *diag;
} upd_t;

/* "owner TYPE rdata" of a change, for diagnostics. */
static const char *chg_text(const chg_t *c, char *out, size_t max)
{
	char owner[4 * RS_NAME_MAX + 2], type[32], rdata[400];
	rs_name_format(c->in->owner, owner, sizeof(owner));
	rs_type_to_str(c->type, type, sizeof(type));
	if (rs_rdata_to_str(c->type, c->rdata, c->rdlen, rdata, sizeof(rdata)) < 0)
		memcpy(rdata, "...", 4);
	snprintf(out, max, "%.300s %.31s %.300s", owner, type, rdata);
	return out;
}

static int chg_cmp(const void *a, const void *b)
{
	const chg_t *x = a, *y = b;
	int r = rs_key_cmp(x->key, x->key_len, y->key, y->key_len);
	if (r != 0)
		return r;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	r = rs_rdata_cmp(x->rdata, x->rdlen, y->rdata, y->rdlen);
	if (r != 0)
		return r;
	return (int)x->add - (int)y->add; /* a removal before an addition of the same record */
}

/* ---- checks ---- */

/* Do the keys that sign now sign prev's RRsets of type at the apex, and only they? */
static bool same_signers(const upd_t *u, uint16_t type)
{
	const rs_rr_t *rr = rs_zone_rrs(u->prev);
	size_t n;
	const rs_node_t *apex = rs_zone_nodes(u->prev, &n);
	uint32_t b, e;
	size_t sigs = 0, signers = 0;
	if (rs_node_rrset(u->prev, apex, RS_TYPE_RRSIG, &b, &e))
		for (uint32_t i = b; i < e; i++)
			sigs += rr[i].rdlen > 18 && rs_get16(rr[i].rdata) == type;
	for (size_t k = 0; k < u->nkeys; k++) {
		if (!sign_role_covers(&u->roles[k], type))
			continue;
		signers++;
		bool found = false;
		for (uint32_t i = b; sigs > 0 && i < e && !found; i++)
			found = rr[i].rdlen > 18 && rs_get16(rr[i].rdata) == type &&
				rr[i].rdata[2] == rs_key_alg(u->roles[k].key) &&
				rs_get16(rr[i].rdata + 16) == rs_key_tag(u->roles[k].key);
		if (!found)
			return false;
	}
	return sigs == signers;
}

/* What a change set cannot change without a full signing: the keys, the TTLs the signer sets, NSEC or NSEC3. */
static int check_prev(upd_t *u, const rs_changes_t *changes)
{
	const rs_zone_t *prev = u->prev;
	size_t n;
	const rs_node_t *apex = rs_zone_nodes(prev, &n);
	const rs_rr_t *rr = rs_zone_rrs(prev);
	uint32_t b, e;
	uint32_t dnskey_ttl, nsec_ttl;
	sign_ttls(prev, u->opts, &dnskey_ttl, &nsec_ttl);
	if (u->opts->nsec3 || rs_node_rrset(prev, apex, RS_TYPE_NSEC3PARAM, &b, &e)) {
		int ret = upd_nsec3_new(prev, u->opts, nsec_ttl, &u->n3, u->diag);
		if (ret != RS_EOK)
			return ret;
	} else if (!rs_node_rrset(prev, apex, RS_TYPE_NSEC, &b, &e) || e - b != 1) {
		return rs_diag(u->diag, NOTSUP, "the previous zone is not signed with NSEC: it needs a full signing");
	} else if (rr[b].ttl != nsec_ttl) {
		return rs_diag(u->diag, NOTSUP, "the NSEC TTL changes (%u to %u): that needs a full signing",
			       rr[b].ttl, nsec_ttl);
	}
	u->nsec_ttl = nsec_ttl;
	if (!rs_node_rrset(prev, apex, RS_TYPE_DNSKEY, &b, &e))
		return rs_diag(u->diag, NOTSUP, "the previous zone has no DNSKEY RRset: it needs a full signing");
	if (rr[b].ttl != dnskey_ttl)
		return rs_diag(u->diag, NOTSUP, "the DNSKEY TTL changes (%u to %u): that needs a full signing",
			       rr[b].ttl, dnskey_ttl);
	for (size_t k = 0; k < u->nkeys; k++) {
		size_t len;
		const uint8_t *dk = rs_key_dnskey(u->keys[k], &len);
		bool found = false;
		for (uint32_t i = b; i < e && !found; i++)
			found = rr[i].rdlen == len && memcmp(rr[i].rdata, dk, len) == 0;
		if (!found)
			return rs_diag(u->diag, NOTSUP, "key %u is not in the DNSKEY RRset: a key change needs a "
				       "full signing", rs_key_tag(u->keys[k]));
	}
	if (!same_signers(u, RS_TYPE_SOA) || !same_signers(u, RS_TYPE_DNSKEY))
		return rs_diag(u->diag, NOTSUP, "the signing keys differ from the previous zone's: a key change "
			       "needs a full signing");
	const rs_rr_t *soa = rs_zone_soa(prev);
	uint32_t serial = rs_get32(soa->rdata + soa->rdlen - 20);
	bool zonemd = rs_node_rrset(prev, apex, RS_TYPE_ZONEMD, &b, &e);
	if (zonemd != u->opts->zonemd)
		return rs_diag(u->diag, NOTSUP, "the zone %s a ZONEMD record: that needs a full signing",
			       zonemd ? "loses" : "gains");
	if ((int32_t)(changes->serial - serial) <= 0)
		return rs_diag(u->diag, RS_EINVAL, "new serial %u is not after %u (RFC 1982)", changes->serial,
			       serial);
	return RS_EOK;
}

/* ---- the change set ---- */

static int prepare(upd_t *u, const rs_changes_t *changes)
{
	const rs_name_t *origin = rs_zone_origin(u->prev);
	u->nchg = changes->nremoved + changes->nadded;
	u->chg = calloc(u->nchg ? u->nchg : 1, sizeof(*u->chg));
	if (u->chg == NULL)
		return rs_diag(u->diag, RS_ENOMEM, "out of memory");
	char text[704];
	for (size_t i = 0; i < u->nchg; i++) {
		chg_t *c = &u->chg[i];
		c->add = i >= changes->nremoved;
		c->in = c->add ? &changes->added[i - changes->nremoved] : &changes->removed[i];
		c->type = c->in->type;
		c->ttl = c->in->ttl;
		c->rdlen = c->in->rdlen;
		uint8_t lower[RS_NAME_MAX], key[RS_KEY_MAX];
		size_t olen = c->in->owner != NULL ? rs_dname_len(c->in->owner, RS_NAME_MAX) : 0;
		if (olen == 0)
			return rs_diag(u->diag, RS_EINVAL, "malformed owner name in a change set");
		memcpy(lower, c->in->owner, olen);
		rs_dname_lower(lower);
		c->key_len = rs_dname_key(lower, key);
		c->key = rs_arena_alloc(u->arena, c->key_len);
		c->rdata = rs_arena_alloc(u->arena, c->rdlen ? c->rdlen : 1);
		if (c->key == NULL || c->rdata == NULL)
			return rs_diag(u->diag, RS_ENOMEM, "out of memory");
		memcpy(c->key, key, c->key_len);
		memcpy(c->rdata, c->in->rdata, c->rdlen);
		if (rs_rdata_canonicalize(c->type, c->rdata, c->rdlen) != RS_EOK ||
		    rs_rdata_check(c->type, c->rdata, c->rdlen) != RS_EOK) {
			rs_name_format(c->in->owner, text, sizeof(text));
			return rs_diag(u->diag, RS_EINVAL, "malformed record data in a change at '%s'", text);
		}
		const char *what = c->add ? "add" : "remove";
		if (c->key_len < origin->key_len || memcmp(key, rs_name_key(origin), origin->key_len) != 0)
			return rs_diag(u->diag, RS_EINVAL, "cannot %s '%s': outside the zone", what,
				       chg_text(c, text, sizeof(text)));
		if (c->type == RS_TYPE_RRSIG || c->type == RS_TYPE_NSEC || c->type == RS_TYPE_NSEC3 ||
		    c->type == RS_TYPE_NSEC3PARAM || c->type == RS_TYPE_SOA)
			return rs_diag(u->diag, RS_EINVAL, "cannot %s '%s': the signer makes those records", what,
				       chg_text(c, text, sizeof(text)));
		if (c->key_len == origin->key_len)
			return rs_diag(u->diag, NOTSUP, "a change at the apex ('%s') needs a full signing",
				       chg_text(c, text, sizeof(text)));
		if (c->type == RS_TYPE_DNAME)
			return rs_diag(u->diag, NOTSUP, "a DNAME change ('%s') needs a full signing",
				       chg_text(c, text, sizeof(text)));
	}
	qsort(u->chg, u->nchg, sizeof(*u->chg), chg_cmp);
	return RS_EOK;
}

static bool is_dnssec(uint16_t type)
{
	return type == RS_TYPE_RRSIG || type == RS_TYPE_NSEC;
}

/* The data records of one touched name afterwards: prev's less the removals, plus the additions. */
static int apply(upd_t *u, touched_t *t)
{
	const rs_rr_t *rr = rs_zone_rrs(u->prev);
	uint32_t first = t->old ? t->old->first : 0, count = t->old ? t->old->count : 0;
	t->rrs = rs_arena_alloc(u->arena, (count + t->nchg + 1) * sizeof(rs_rr_t));
	bool *gone = calloc(count + 1, sizeof(bool));
	if (t->rrs == NULL || gone == NULL) {
		free(gone);
		return rs_diag(u->diag, RS_ENOMEM, "out of memory");
	}
	char text[704];
	int ret = RS_EOK;
	for (size_t c = 0; ret == RS_EOK && c < t->nchg; c++) {
		const chg_t *ch = &t->chg[c];
		bool found = false;
		for (uint32_t i = 0; i < count && !found; i++)
			found = !gone[i] && rr[first + i].type == ch->type &&
				rs_rdata_cmp(rr[first + i].rdata, rr[first + i].rdlen, ch->rdata, ch->rdlen) == 0 &&
				(gone[i] = !ch->add, true);
		/* Additions come after the removals of their record (chg_cmp), so t->rrs holds the earlier ones. */
		for (size_t i = 0; i < t->nrr && !found; i++)
			found = t->rrs[i].type == ch->type &&
				rs_rdata_cmp(t->rrs[i].rdata, t->rrs[i].rdlen, ch->rdata, ch->rdlen) == 0;
		if (!ch->add && !found)
			ret = rs_diag(u->diag, RS_EINVAL, "cannot remove '%s': not in the zone",
				      chg_text(ch, text, sizeof(text)));
		else if (ch->add && found)
			ret = rs_diag(u->diag, RS_EINVAL, "cannot add '%s': already in the zone",
				      chg_text(ch, text, sizeof(text)));
		else if (ch->add)
			t->rrs[t->nrr++] = (rs_rr_t){ .rdata = ch->rdata, .ttl = ch->ttl, .type = ch->type,
						      .rdlen = ch->rdlen, .file = UINT32_MAX };
	}
	for (uint32_t i = 0; ret == RS_EOK && i < count; i++)
		if (!gone[i] && !is_dnssec(rr[first + i].type))
			t->rrs[t->nrr++] = rr[first + i];
	free(gone);
	return ret;
}

/* Group the changes by name and apply them: the first patch's edits. */
static int data_patch(upd_t *u)
{
	u->names = calloc(u->nchg ? u->nchg : 1, sizeof(*u->names));
	rs_zone_edit_t *edits = calloc(u->nchg ? u->nchg : 1, sizeof(*edits));
	int ret = u->names != NULL && edits != NULL ? RS_EOK : rs_diag(u->diag, RS_ENOMEM, "out of memory");
	for (size_t i = 0; ret == RS_EOK && i < u->nchg;) {
		size_t j = i + 1;
		while (j < u->nchg && rs_key_cmp(u->chg[j].key, u->chg[j].key_len, u->chg[i].key, u->chg[i].key_len) == 0)
			j++;
		touched_t *t = &u->names[u->nnames];
		*t = (touched_t){ .chg = &u->chg[i], .nchg = j - i,
				  .old = rs_zone_find(u->prev, u->chg[i].key, u->chg[i].key_len) };
		ret = apply(u, t);
		/* The first record written for a new name gives its case, as in a zone file. */
		const uint8_t *owner = u->chg[i].in->owner;
		for (size_t k = i; k < j && t->old == NULL; k++)
			if (u->chg[k].add) {
				owner = u->chg[k].in->owner;
				break;
			}
		edits[u->nnames++] = (rs_zone_edit_t){ .owner = owner, .rrs = t->rrs, .count = t->nrr };
		i = j;
	}
	if (ret == RS_EOK)
		ret = rs_zone_patch(u->prev, edits, u->nnames, &u->data, u->diag);
	free(edits);
	return ret;
}

/*
 * A cut or DNAME that comes or goes changes the authority of every name
 * below it (RFC 4035 2.2): new names there are marked by the patch, but
 * names that were there before would need their signatures and NSEC
 * redone, which is a full signing's work.
 */
static int check_cuts(upd_t *u)
{
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(u->data, &n);
	const uint32_t cut = RS_NODE_DELEG | RS_NODE_DNAME;
	for (size_t t = 0; t < u->nnames; t++) {
		const chg_t *c = u->names[t].chg;
		const rs_node_t *now = rs_zone_find(u->data, c->key, c->key_len);
		uint32_t before = u->names[t].old ? u->names[t].old->flags & cut : 0;
		if ((now ? now->flags & cut : 0) == before)
			continue;
		for (size_t i = rs_zone_lower_bound(u->data, c->key, c->key_len) + (now != NULL); i < n; i++) {
			const rs_name_t *nm = nodes[i].name;
			if (nm->key_len < c->key_len || memcmp(rs_name_key(nm), c->key, c->key_len) != 0)
				break;
			if (rs_zone_find(u->prev, rs_name_key(nm), nm->key_len) != NULL) {
				char a[4 * RS_NAME_MAX + 2], b[4 * RS_NAME_MAX + 2];
				rs_name_format(c->in->owner, a, sizeof(a));
				rs_name_format(rs_name_wire(nm), b, sizeof(b));
				return rs_diag(u->diag, NOTSUP, "a cut %s at '%s' changes the authority of '%s' below "
					       "it: that needs a full signing", now && (now->flags & cut) ? "added" :
					       "removed", a, b);
			}
		}
	}
	return RS_EOK;
}

/* ---- the second patch: NSEC and signatures ---- */

static int index_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* The nearest name before index i in the NSEC chain (RFC 4034 4.1.1); the apex is always in it. */
static size_t chain_prev(const rs_node_t *nodes, size_t i)
{
	while (i > 0 && !rs_node_in_chain(&nodes[--i]))
		;
	return i;
}

static size_t chain_next(const rs_node_t *nodes, size_t n, size_t i)
{
	while (++i < n && !rs_node_in_chain(&nodes[i]))
		;
	return i < n ? i : 0; /* the last NSEC points back at the apex */
}

/* Does a signature at node fall due (opts' reuse window)? Then its RRset is signed again. */
static bool sigs_due(const upd_t *u, const rs_zone_t *zone, const rs_node_t *node, uint16_t type)
{
	uint32_t b, e;
	if (u->opts->reuse_until == 0 || node == NULL || !rs_node_rrset(zone, node, RS_TYPE_RRSIG, &b, &e))
		return false;
	const rs_rr_t *rr = rs_zone_rrs(zone);
	for (uint32_t i = b; i < e; i++)
		if (rr[i].rdlen > 18 && (type == 0 || rs_get16(rr[i].rdata) == type) &&
		    !sign_sig_lasts(u->opts, rs_name_wire(node->name), rs_get16(rr[i].rdata), rr[i].rdata))
			return true;
	return false;
}

typedef struct {
	size_t *idx;
	size_t n, cap;
} index_list_t;

static int index_put(index_list_t *l, size_t i)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		size_t *p = realloc(l->idx, cap * sizeof(*p));
		if (p == NULL)
			return RS_ENOMEM;
		l->idx = p;
		l->cap = cap;
	}
	l->idx[l->n++] = i;
	return RS_EOK;
}

/*
 * The names of the second patch: the touched names, their predecessors in
 * the chain, the apex, and (with a reuse window) the names with a signature
 * due: a change set carries the refresh of what falls due, and an empty one
 * is a refresh alone.
 */
static int collect(upd_t *u)
{
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(u->data, &n);
	index_list_t l = { 0 };
	bool *touched = calloc(n, sizeof(bool));
	int ret = touched != NULL ? index_put(&l, 0) : RS_ENOMEM;
	for (size_t t = 0; ret == RS_EOK && t < u->nnames; t++) {
		const chg_t *c = u->names[t].chg;
		size_t at = rs_zone_lower_bound(u->data, c->key, c->key_len);
		const rs_node_t *now = rs_zone_find(u->data, c->key, c->key_len);
		if (now != NULL) {
			ret = index_put(&l, at);
			touched[at] = true;
		}
		if (ret == RS_EOK && u->n3 == NULL) /* NSEC3 owners are add_nsec3's */
			ret = index_put(&l, chain_prev(nodes, at));
	}
	/* Names the data patch did not write still hold prev's signatures. */
	for (size_t i = 1; ret == RS_EOK && u->opts->reuse_until != 0 && i < n; i++)
		if (!touched[i] && sigs_due(u, u->data, &nodes[i], 0))
			ret = index_put(&l, i);
	if (ret == RS_EOK)
		qsort(l.idx, l.n, sizeof(*l.idx), index_cmp);
	u->entries = ret == RS_EOK ? calloc(l.n, sizeof(*u->entries)) : NULL;
	for (size_t i = 0; u->entries != NULL && i < l.n; i++)
		if (i == 0 || l.idx[i] != l.idx[i - 1])
			u->entries[u->nentries++] = (entry_t){ .index = l.idx[i], .touched = touched[l.idx[i]] };
	free(l.idx);
	free(touched);
	return u->entries != NULL ? RS_EOK : rs_diag(u->diag, RS_ENOMEM, "out of memory");
}

static const rs_name_t *entry_name(const upd_t *u, const entry_t *e)
{
	size_t n;
	return e->nsec3 != NULL ? e->nsec3 : rs_zone_nodes(u->data, &n)[e->index].name;
}

/* The NSEC3 owners whose records change, merged in canonical order into the names of the second patch. */
static int add_nsec3(upd_t *u)
{
	const uint8_t **owners = malloc((u->nnames ? u->nnames : 1) * sizeof(*owners));
	if (owners == NULL)
		return rs_diag(u->diag, RS_ENOMEM, "out of memory");
	for (size_t t = 0; t < u->nnames; t++)
		owners[t] = u->names[t].chg->in->owner;
	int ret = upd_nsec3_collect(u->n3, u->data, owners, u->nnames, u->diag);
	free(owners);
	size_t m = ret == RS_EOK ? upd_nsec3_count(u->n3) : 0;
	entry_t *all = ret == RS_EOK ? calloc(u->nentries + m + 1, sizeof(*all)) : NULL;
	if (ret != RS_EOK || all == NULL)
		return ret != RS_EOK ? ret : rs_diag(u->diag, RS_ENOMEM, "out of memory");
	size_t i = 0, j = 0, k = 0;
	while (i < u->nentries || j < m) {
		const rs_name_t *a = i < u->nentries ? entry_name(u, &u->entries[i]) : NULL;
		const rs_name_t *b = j < m ? upd_nsec3_name(u->n3, j) : NULL;
		int cmp = a == NULL ? 1 : b == NULL ? -1 : rs_name_cmp(a, b);
		if (cmp < 0) {
			all[k++] = u->entries[i++];
			continue;
		}
		/* An NSEC3 owner collect() took for a refresh is signed anew here anyway. */
		i += cmp == 0;
		all[k++] = (entry_t){ .nsec3 = b, .nsec3_rr = upd_nsec3_record(u->n3, j++) };
	}
	free(u->entries);
	u->entries = all;
	u->nentries = k;
	return RS_EOK;
}

/* An NSEC3 owner's records: its new NSEC3 and a job to sign it, or none when the name goes. */
static int nsec3_entry(upd_t *u, size_t ei)
{
	entry_t *e = &u->entries[ei];
	if ((e->rrs = rs_arena_alloc(u->arena, (1 + u->nkeys) * sizeof(rs_rr_t))) == NULL)
		return rs_diag(u->diag, RS_ENOMEM, "out of memory");
	if (e->nsec3_rr == NULL)
		return RS_EOK;
	e->rrs[e->nrr++] = *e->nsec3_rr;
	u->jobs[u->njobs++] = (job_t){ .entry = ei, .rrs = e->rrs, .count = 1, .type = RS_TYPE_NSEC3,
				       .ttl = e->nsec3_rr->ttl, .owner = e->nsec3 };
	return RS_EOK;
}

/* Keep prev's signatures over type at old in e. */
static void keep_sigs(const upd_t *u, entry_t *e, const rs_node_t *old, uint16_t type)
{
	uint32_t b, end;
	if (old == NULL || !rs_node_rrset(u->prev, old, RS_TYPE_RRSIG, &b, &end))
		return;
	const rs_rr_t *rr = rs_zone_rrs(u->prev);
	for (uint32_t i = b; i < end; i++)
		if (rr[i].rdlen >= 2 && rs_get16(rr[i].rdata) == type)
			e->rrs[e->nrr++] = rr[i];
}

/*
 * One name's records: its data (the new SOA at the apex), its NSEC (prev's
 * when the same), prev's signatures over RRsets that did not change, and a
 * job for each signed RRset that did (or all of them when the name's flags
 * changed: a cut came or went, or the name is new).
 */
static int build_entry(upd_t *u, size_t ei, uint32_t serial, bool *skip)
{
	entry_t *e = &u->entries[ei];
	if (e->nsec3 != NULL)
		return nsec3_entry(u, ei);
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(u->data, &n);
	const rs_node_t *node = &nodes[e->index];
	const rs_rr_t *rr = rs_zone_rrs(u->data) + node->first;
	const rs_node_t *old = rs_zone_find(u->prev, rs_name_key(node->name), node->name->key_len);
	bool apex = node->flags & RS_NODE_APEX;
	size_t cap = node->count + 1 + (old ? old->count : 0) + u->nkeys * ((size_t)node->count + 2);
	e->rrs = rs_arena_alloc(u->arena, cap * sizeof(rs_rr_t));
	if (e->rrs == NULL)
		return rs_diag(u->diag, RS_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < node->count; i++) {
		if (is_dnssec(rr[i].type))
			continue;
		e->rrs[e->nrr] = rr[i];
		if (apex && rr[i].type == RS_TYPE_SOA) {
			uint8_t *soa = rs_arena_alloc(u->arena, rr[i].rdlen);
			if (soa == NULL)
				return rs_diag(u->diag, RS_ENOMEM, "out of memory");
			memcpy(soa, rr[i].rdata, rr[i].rdlen);
			rs_put32(soa + rr[i].rdlen - 20, serial); /* RFC 1035 3.3.13 */
			e->rrs[e->nrr].rdata = soa;
		}
		e->nrr++;
	}
	size_t ndata = e->nrr;
	bool nsec_same = true;
	if (u->n3 == NULL && rs_node_in_chain(node)) {
		uint8_t buf[RS_NAME_MAX + 8704];
		int len = rs_nsec_rdata(u->data, node, &nodes[chain_next(nodes, n, e->index)], buf);
		if (len < 0) {
			char text[4 * RS_NAME_MAX + 2];
			rs_name_format(rs_name_wire(node->name), text, sizeof(text));
			return rs_diag(u->diag, len, "cannot sign '%s': %s", text, rs_strerror(len));
		}
		rs_rr_t nsec = { .rdlen = (uint16_t)len, .ttl = u->nsec_ttl, .type = RS_TYPE_NSEC,
				 .file = UINT32_MAX };
		nsec_same = sign_rrset_same(u->prev, old, RS_TYPE_NSEC, u->nsec_ttl, &(rs_rr_t){ .rdata = buf,
					    .rdlen = (uint16_t)len }, 1);
		if (nsec_same) {
			uint32_t b, end;
			rs_node_rrset(u->prev, old, RS_TYPE_NSEC, &b, &end);
			nsec = rs_zone_rrs(u->prev)[b];
		} else if ((nsec.rdata = rs_arena_alloc(u->arena, (size_t)len)) == NULL) {
			return rs_diag(u->diag, RS_ENOMEM, "out of memory");
		} else {
			memcpy(nsec.rdata, buf, (size_t)len);
		}
		/* NSEC sorts among the data by type, as the zone store orders a node. */
		size_t at = 0;
		while (at < ndata && e->rrs[at].type < RS_TYPE_NSEC)
			at++;
		memmove(e->rrs + at + 1, e->rrs + at, (ndata - at) * sizeof(rs_rr_t));
		e->rrs[at] = nsec;
		e->nrr = ++ndata;
	}
	if (!e->touched && !apex && nsec_same && !sigs_due(u, u->prev, old, 0)) {
		*skip = true;
		return RS_EOK;
	}
	bool same_flags = old != NULL && old->flags == node->flags;
	for (size_t i = 0; i < ndata;) {
		size_t j = i + 1;
		while (j < ndata && e->rrs[j].type == e->rrs[i].type)
			j++;
		uint16_t type = e->rrs[i].type;
		if (rs_rrset_is_signed(node, type)) {
			bool same = same_flags && !(apex && type == RS_TYPE_SOA) &&
				    (type == RS_TYPE_NSEC ? nsec_same
							  : sign_rrset_same(u->prev, old, type, e->rrs[i].ttl,
									    e->rrs + i, j - i));
			if (same && !sigs_due(u, u->prev, old, type)) {
				keep_sigs(u, e, old, type);
			} else {
				job_t *jb = &u->jobs[u->njobs++];
				*jb = (job_t){ .entry = ei, .rrs = e->rrs + i, .count = j - i, .type = type,
					       .ttl = e->rrs[i].ttl, .owner = node->name };
			}
		}
		i = j;
	}
	return RS_EOK;
}

/* One thread's share of the jobs: jobs part, part + parts, ... */
typedef struct {
	upd_t *u;
	unsigned part, parts;
	rs_arena_t *arena;
	int ret;
	rs_diag_t diag;
	uint64_t signatures;
} part_t;

static void *sign_part(void *arg)
{
	part_t *p = arg;
	upd_t *u = p->u;
	rs_signer_t *signer[SIGN_MAX_KEYS] = { 0 };
	rs_buf_t data;
	rs_buf_init(&data, (size_t)1 << 28);
	for (size_t k = 0; p->ret == RS_EOK && k < u->nkeys; k++)
		if ((p->ret = rs_signer_new(u->keys[k], &signer[k])) != RS_EOK)
			rs_diag(&p->diag, p->ret, "cannot use key %u: %s", rs_key_tag(u->keys[k]),
				rs_strerror(p->ret));
	for (size_t j = p->part; p->ret == RS_EOK && j < u->njobs; j += p->parts) {
		job_t *jb = &u->jobs[j];
		uint8_t rdata[18 + RS_NAME_MAX + RS_SIG_MAX];
		size_t head = sign_head(rdata, u->prev, u->opts, jb->type, sign_labels(jb->owner), jb->ttl);
		for (size_t k = 0; p->ret == RS_EOK && k < u->nkeys; k++) {
			if (!sign_role_covers(&u->roles[k], jb->type))
				continue;
			size_t len;
			p->ret = sign_rrsig(signer[k], u->roles[k].key, &data, rdata, head, rs_name_wire(jb->owner),
					    jb->type, jb->ttl, jb->rrs, jb->count, &len);
			uint8_t *copy = p->ret == RS_EOK ? rs_arena_alloc(p->arena, len) : NULL;
			if (p->ret == RS_EOK && copy == NULL)
				p->ret = RS_ENOMEM;
			if (p->ret != RS_EOK) {
				char text[4 * RS_NAME_MAX + 2];
				rs_name_format(rs_name_written(jb->owner), text, sizeof(text));
				rs_diag(&p->diag, p->ret, "cannot sign '%s': %s", text, rs_strerror(p->ret));
				break;
			}
			memcpy(copy, rdata, len);
			jb->sigs[jb->nsigs++] = (rs_rr_t){ .rdata = copy, .rdlen = (uint16_t)len, .ttl = jb->ttl,
							   .type = RS_TYPE_RRSIG, .file = UINT32_MAX };
			p->signatures++;
		}
	}
	for (size_t k = 0; k < u->nkeys; k++)
		rs_signer_free(signer[k]);
	rs_buf_clear(&data);
	return NULL;
}

static int sign_jobs(upd_t *u, part_t *parts, unsigned nparts, uint64_t *signatures)
{
	for (unsigned p = 0; p < nparts; p++) {
		parts[p] = (part_t){ .u = u, .part = p, .parts = nparts, .arena = rs_arena_new(1 << 20) };
		if (parts[p].arena == NULL)
			parts[p].ret = rs_diag(&parts[p].diag, RS_ENOMEM, "out of memory");
	}
	rs_run_parallel(nparts, sign_part, parts, sizeof(parts[0]));
	*signatures = 0;
	for (unsigned p = 0; p < nparts; p++) {
		*signatures += parts[p].signatures;
		if (parts[p].ret != RS_EOK) {
			if (u->diag != NULL)
				*u->diag = parts[p].diag;
			return parts[p].ret;
		}
	}
	return RS_EOK;
}

/* ---- the diff ---- */

/* The zone store's order of records within a node, as rs_diff_zones walks it. */
static int rec_cmp(const rs_rr_t *x, const rs_rr_t *y)
{
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return rs_rdata_cmp(x->rdata, x->rdlen, y->rdata, y->rdlen);
}

typedef struct {
	const rs_rr_t **rr;
	size_t len, cap;
} list_t;

static int push(list_t *l, const rs_rr_t *rr, const rs_rr_t *soa)
{
	if (rr == soa)
		return RS_EOK; /* the diff carries the SOAs apart */
	if (l->len == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		const rs_rr_t **p = realloc(l->rr, cap * sizeof(*p));
		if (p == NULL)
			return RS_ENOMEM;
		l->rr = p;
		l->cap = cap;
	}
	l->rr[l->len++] = rr;
	return RS_EOK;
}

/* The records of one name that differ between old and new (a TTL change is a removal and an addition). */
static int diff_name(list_t *rem, list_t *add, const rs_zone_t *oz, const rs_node_t *on, const rs_zone_t *nz,
		     const rs_node_t *nn)
{
	const rs_rr_t *orr = rs_zone_rrs(oz), *nrr = rs_zone_rrs(nz);
	const rs_rr_t *osoa = rs_zone_soa(oz), *nsoa = rs_zone_soa(nz);
	uint32_t a = on ? on->first : 0, ae = on ? on->first + on->count : 0;
	uint32_t b = nn ? nn->first : 0, be = nn ? nn->first + nn->count : 0;
	int ret = RS_EOK;
	while (ret == RS_EOK && (a < ae || b < be)) {
		int c = a == ae ? 1 : b == be ? -1 : rec_cmp(&orr[a], &nrr[b]);
		if (c == 0) {
			if (orr[a].ttl != nrr[b].ttl && &orr[a] != osoa &&
			    (ret = push(rem, &orr[a], osoa)) == RS_EOK)
				ret = push(add, &nrr[b], nsoa);
			a++;
			b++;
		} else if (c < 0) {
			ret = push(rem, &orr[a++], osoa);
		} else {
			ret = push(add, &nrr[b++], nsoa);
		}
	}
	return ret;
}

static size_t list_bytes(const list_t *l)
{
	size_t n = 0;
	for (size_t i = 0; i < l->len; i++)
		n += (i == 0 || l->rr[i]->owner != l->rr[i - 1]->owner ? l->rr[i]->owner->wire_len : 0) +
		     l->rr[i]->rdlen;
	return n;
}

/* One record into the diff's block; an owner repeated by the next record is stored once. */
static uint8_t *put_xrr(rs_xrr_t *out, const rs_rr_t *rr, uint8_t *p, const rs_name_t **prev,
		       const uint8_t **owner)
{
	if (rr->owner != *prev) {
		memcpy(p, rs_name_written(rr->owner), rr->owner->wire_len); /* the case AXFR serves */
		*owner = p;
		*prev = rr->owner;
		p += rr->owner->wire_len;
	}
	if (rr->rdlen > 0)
		memcpy(p, rr->rdata, rr->rdlen);
	*out = (rs_xrr_t){ .owner = *owner, .rdata = p, .ttl = rr->ttl, .type = rr->type, .rdlen = rr->rdlen };
	return p + rr->rdlen;
}

static uint8_t *put_list(rs_xrr_t *out, const list_t *l, uint8_t *p)
{
	const rs_name_t *prev = NULL;
	const uint8_t *owner = NULL;
	for (size_t i = 0; i < l->len; i++)
		p = put_xrr(&out[i], l->rr[i], p, &prev, &owner);
	return p;
}

/* The diff prev -> next from the names either patch wrote, in the form rs_diff_zones() gives. */
static int make_diff(upd_t *u, const rs_zone_t *next, rs_diff_t *out)
{
	list_t rem = { 0 }, add = { 0 };
	int ret = RS_EOK;
	size_t t = 0, e = 0;
	while (ret == RS_EOK && (t < u->nnames || e < u->nentries)) {
		const uint8_t *key;
		size_t len;
		const rs_name_t *en = e < u->nentries ? entry_name(u, &u->entries[e]) : NULL;
		const chg_t *c = t < u->nnames ? u->names[t].chg : NULL;
		int cmp = c == NULL ? 1 : en == NULL ? -1 : rs_key_cmp(c->key, c->key_len, rs_name_key(en), en->key_len);
		if (cmp <= 0) {
			key = c->key;
			len = c->key_len;
			t++;
			e += cmp == 0;
		} else {
			key = rs_name_key(en);
			len = en->key_len;
			e++;
		}
		ret = diff_name(&rem, &add, u->prev, rs_zone_find(u->prev, key, len), next,
				rs_zone_find(next, key, len));
	}
	const rs_rr_t *osoa = rs_zone_soa(u->prev), *nsoa = rs_zone_soa(next);
	size_t head = (rem.len + add.len) * sizeof(rs_xrr_t);
	size_t bytes = list_bytes(&rem) + list_bytes(&add) + osoa->owner->wire_len + osoa->rdlen +
		       nsoa->owner->wire_len + nsoa->rdlen;
	uint8_t *mem = ret == RS_EOK ? malloc(head + bytes) : NULL;
	if (mem != NULL) {
		rs_xrr_t *xr = (rs_xrr_t *)mem;
		uint8_t *p = put_list(xr, &rem, mem + head);
		p = put_list(xr + rem.len, &add, p);
		rs_diff_t d = { .from = rs_get32(osoa->rdata + osoa->rdlen - 20),
				.to = rs_get32(nsoa->rdata + nsoa->rdlen - 20),
				.removed = xr, .added = xr + rem.len, .nremoved = rem.len, .nadded = add.len,
				.mem = mem };
		const rs_name_t *prev = NULL;
		const uint8_t *owner = NULL;
		p = put_xrr(&d.soa_from, osoa, p, &prev, &owner);
		prev = NULL;
		put_xrr(&d.soa_to, nsoa, p, &prev, &owner);
		*out = d;
	}
	free(rem.rr);
	free(add.rr);
	return mem != NULL ? RS_EOK : rs_diag(u->diag, RS_ENOMEM, "out of memory for a diff");
}

/* ---- the whole ---- */

static int sign_patch(upd_t *u, uint32_t serial, rs_zone_t **next, uint64_t *signatures, uint64_t *nsec)
{
	size_t n, njobs = 0;
	const rs_node_t *nodes = rs_zone_nodes(u->data, &n);
	for (size_t i = 0; i < u->nentries; i++)
		njobs += (u->entries[i].nsec3 ? 0 : nodes[u->entries[i].index].count) + 2; /* types, NSEC, SOA */
	u->jobs = malloc((njobs ? njobs : 1) * sizeof(*u->jobs));
	rs_zone_edit_t *edits = malloc((u->nentries ? u->nentries : 1) * sizeof(*edits));
	int ret = u->jobs != NULL && edits != NULL ? RS_EOK : rs_diag(u->diag, RS_ENOMEM, "out of memory");
	size_t nedits = 0;
	for (size_t i = 0; ret == RS_EOK && i < u->nentries; i++) {
		bool skip = false;
		ret = build_entry(u, i, serial, &skip);
		if (ret == RS_EOK && !skip)
			edits[nedits++] = (rs_zone_edit_t){ .owner = rs_name_written(entry_name(u, &u->entries[i])),
							    .rrs = u->entries[i].rrs };
	}
	*nsec = 0;
	for (size_t j = 0; j < u->njobs; j++)
		*nsec += u->jobs[j].type == RS_TYPE_NSEC || u->jobs[j].type == RS_TYPE_NSEC3;
	unsigned threads = u->opts->threads ? u->opts->threads : rs_cpu_count();
	if (threads > RS_PARALLEL_MAX)
		threads = RS_PARALLEL_MAX;
	if (threads > u->njobs / 32 + 1)
		threads = (unsigned)(u->njobs / 32 + 1); /* a thread's start costs a few signatures */
	part_t parts[RS_PARALLEL_MAX];
	unsigned nparts = ret == RS_EOK ? threads : 0;
	if (ret == RS_EOK)
		ret = sign_jobs(u, parts, nparts, signatures);
	/* New signatures go after the data, NSEC and kept signatures; the patch orders the node. */
	for (size_t j = 0; ret == RS_EOK && j < u->njobs; j++) {
		entry_t *e = &u->entries[u->jobs[j].entry];
		memcpy(e->rrs + e->nrr, u->jobs[j].sigs, u->jobs[j].nsigs * sizeof(rs_rr_t));
		e->nrr += u->jobs[j].nsigs;
	}
	for (size_t i = 0, k = 0; ret == RS_EOK && i < u->nentries; i++)
		if (k < nedits && edits[k].rrs == u->entries[i].rrs)
			edits[k++].count = u->entries[i].nrr;
	if (ret == RS_EOK)
		ret = rs_zone_patch(u->data, edits, nedits, next, u->diag);
	for (unsigned p = 0; p < nparts; p++)
		rs_arena_free(parts[p].arena);
	free(edits);
	return ret;
}

int rs_sign_update(const rs_zone_t *prev, const rs_changes_t *changes, rs_key_t *const *keys, size_t nkeys,
		   const rs_sign_opts_t *opts, rs_zone_t **next, rs_diff_t *diff, rs_sign_stats_t *stats,
		   rs_diag_t *diag)
{
	upd_t u = { .prev = prev, .opts = opts, .keys = keys, .nkeys = nkeys, .diag = diag };
	rs_zone_t *z = NULL;
	uint64_t signatures = 0, nsec = 0;
	int ret = sign_roles(keys, nkeys, opts, u.roles, diag);
	if (ret == RS_EOK && (u.arena = rs_arena_new(1 << 20)) == NULL)
		ret = rs_diag(diag, RS_ENOMEM, "out of memory");
	if (ret == RS_EOK)
		ret = check_prev(&u, changes);
	if (ret == RS_EOK)
		ret = prepare(&u, changes);
	if (ret == RS_EOK)
		ret = data_patch(&u);
	if (ret == RS_EOK)
		ret = check_cuts(&u);
	if (ret == RS_EOK)
		ret = collect(&u);
	if (ret == RS_EOK && u.n3 != NULL)
		ret = add_nsec3(&u);
	if (ret == RS_EOK)
		ret = sign_patch(&u, changes->serial, &z, &signatures, &nsec);
	/* The digest covers the new zone: made last, over all of it (the apex is among the names rewritten). */
	if (ret == RS_EOK && opts->zonemd) {
		rs_zone_t *with = NULL;
		ret = sign_zonemd_renew(z, keys, nkeys, u.roles, opts, &with, &signatures, diag);
		rs_zone_free(z);
		z = with;
	}
	rs_diff_t d = { 0 };
	if (ret == RS_EOK && diff != NULL)
		ret = make_diff(&u, z, &d);
	if (ret == RS_EOK) {
		if (stats != NULL) {
			size_t n;
			const rs_node_t *nodes = rs_zone_nodes(z, &n);
			*stats = (rs_sign_stats_t){ .signatures = signatures, .nsec = nsec, .names = u.nnames,
						    .records = n ? nodes[n - 1].first + nodes[n - 1].count : 0 };
		}
		if (diff != NULL)
			*diff = d;
		*next = z;
	} else {
		rs_zone_free(z);
	}
	rs_zone_free(u.data);
	free(u.chg);
	free(u.names);
	free(u.entries);
	free(u.jobs);
	upd_nsec3_free(u.n3);
	rs_arena_free(u.arena);
	return ret;
}
