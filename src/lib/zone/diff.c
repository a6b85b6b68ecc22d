/*
 * diff: what changed between two versions of a signed zone (RFC 1995 2), by
 * one merge walk of the two zones in canonical order. Both zones keep their
 * nodes in canonical name order (RFC 4034 6.1) and each node's records in the
 * zone store's order (type, then canonical RDATA), so a record is in both
 * zones exactly when the walk meets it on both sides at once.
 */
#include <stdlib.h>
#include <string.h>

#include "regsign/zone.h"

/* The order of records within a node: the zone store's rr_cmp (zone.c). RRSIGs sort as one
 * type, by RDATA, whose first field is the type covered. */
static int rec_cmp(const rs_rr_t *x, const rs_rr_t *y)
{
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return rs_rdata_cmp(x->rdata, x->rdlen, y->rdata, y->rdlen);
}

/* The SOA serial: the first of its five trailing 32-bit fields (RFC 1035 3.3.13). */
static int soa_serial(const rs_rr_t *soa, uint32_t *serial)
{
	if (soa == NULL || soa->type != RS_TYPE_SOA || soa->rdlen < 22)
		return RS_EZONE;
	const uint8_t *p = soa->rdata + soa->rdlen - 20;
	*serial = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return RS_EOK;
}

/* Records of one side of the diff, as pointers into their zone until they are copied. */
typedef struct {
	const rs_rr_t **rr;
	size_t len, cap;
} reclist_t;

static int push(reclist_t *l, const rs_rr_t *rr)
{
	if (l->len == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		const rs_rr_t **p = realloc(l->rr, cap * sizeof(*p));
		if (p == NULL)
			return RS_ENOMEM;
		l->rr = p;
		l->cap = cap;
	}
	l->rr[l->len++] = rr;
	return RS_EOK;
}

/* Push rr[begin..end) except the apex SOA, which the diff carries apart. */
static int push_all(reclist_t *l, const rs_rr_t *rr, uint32_t begin, uint32_t end,
		    const rs_rr_t *soa)
{
	for (uint32_t k = begin; k < end; k++)
		if (&rr[k] != soa && push(l, &rr[k]) != RS_EOK)
			return RS_ENOMEM;
	return RS_EOK;
}

/* Merge the records of one name present in both zones. */
static int merge_node(reclist_t *rem, reclist_t *add, const rs_rr_t *orr, const rs_node_t *on,
		      const rs_rr_t *osoa, const rs_rr_t *nrr, const rs_node_t *nn,
		      const rs_rr_t *nsoa)
{
	uint32_t a = on->first, ae = on->first + on->count;
	uint32_t b = nn->first, be = nn->first + nn->count;
	while (a < ae && b < be) {
		const rs_rr_t *x = &orr[a], *y = &nrr[b];
		int c = rec_cmp(x, y);
		if (c == 0) {
			/* A TTL change is a removal and an addition (RFC 1995 has no other way to
			 * say it). */
			if (x->ttl != y->ttl && x != osoa) {
				if (push(rem, x) != RS_EOK || push(add, y) != RS_EOK)
					return RS_ENOMEM;
			}
			a++;
			b++;
		} else if (c < 0) {
			if (x != osoa && push(rem, x) != RS_EOK)
				return RS_ENOMEM;
			a++;
		} else {
			if (y != nsoa && push(add, y) != RS_EOK)
				return RS_ENOMEM;
			b++;
		}
	}
	if (push_all(rem, orr, a, ae, osoa) != RS_EOK || push_all(add, nrr, b, be, nsoa) != RS_EOK)
		return RS_ENOMEM;
	return RS_EOK;
}

/* Octets for the owners and RDATA of l; an owner repeated by the next record is stored once. */
static size_t data_size(const reclist_t *l)
{
	size_t n = 0;
	const rs_name_t *prev = NULL;
	for (size_t i = 0; i < l->len; i++) {
		if (l->rr[i]->owner != prev)
			n += l->rr[i]->owner->wire_len;
		prev = l->rr[i]->owner;
		n += l->rr[i]->rdlen;
	}
	return n;
}

static uint8_t *copy_rr(rs_xrr_t *out, const rs_rr_t *rr, uint8_t *p, const rs_name_t **prev,
			const uint8_t **prev_owner)
{
	if (rr->owner != *prev) {
		/* The owner as first written: the case AXFR serves (RFC 4034 6.2 signs it
		 * lowercased). */
		memcpy(p, rs_name_written(rr->owner), rr->owner->wire_len);
		*prev_owner = p;
		*prev = rr->owner;
		p += rr->owner->wire_len;
	}
	out->owner = *prev_owner;
	if (rr->rdlen > 0)
		memcpy(p, rr->rdata, rr->rdlen);
	out->rdata = p;
	out->ttl = rr->ttl;
	out->type = rr->type;
	out->rdlen = rr->rdlen;
	return p + rr->rdlen;
}

static uint8_t *copy_list(rs_xrr_t *out, const reclist_t *l, uint8_t *p)
{
	const rs_name_t *prev = NULL;
	const uint8_t *prev_owner = NULL;
	for (size_t i = 0; i < l->len; i++)
		p = copy_rr(&out[i], l->rr[i], p, &prev, &prev_owner);
	return p;
}

int rs_diff_zones(const rs_zone_t *old, const rs_zone_t *new, rs_diff_t *out, rs_diag_t *diag)
{
	char a[4 * RS_NAME_MAX + 2], b[4 * RS_NAME_MAX + 2];
	if (rs_name_cmp(rs_zone_origin(old), rs_zone_origin(new)) != 0) {
		rs_name_format(rs_name_wire(rs_zone_origin(old)), a, sizeof(a));
		rs_name_format(rs_name_wire(rs_zone_origin(new)), b, sizeof(b));
		return rs_diag(diag, RS_EINVAL,
			       "cannot diff zones of different origins '%s' and '%s'", a, b);
	}
	const rs_rr_t *osoa = rs_zone_soa(old), *nsoa = rs_zone_soa(new);
	uint32_t from, to;
	rs_name_format(rs_name_wire(rs_zone_origin(old)), a, sizeof(a));
	if (soa_serial(osoa, &from) != RS_EOK || soa_serial(nsoa, &to) != RS_EOK)
		return rs_diag(diag, RS_EINVAL, "%s: zone without a usable SOA", a);
	/* An IXFR client only takes a newer serial (RFC 1995 2, RFC 1982 arithmetic). */
	if (!rs_serial_gt(to, from))
		return rs_diag(diag, RS_EINVAL,
			       "%s: new serial %u is not after old serial %u (RFC 1982)", a, to,
			       from);

	size_t on_count, nn_count;
	const rs_node_t *on = rs_zone_nodes(old, &on_count), *nn = rs_zone_nodes(new, &nn_count);
	const rs_rr_t *orr = rs_zone_rrs(old), *nrr = rs_zone_rrs(new);
	reclist_t rem = { 0 }, add = { 0 };
	int ret = RS_EOK;
	size_t i = 0, j = 0;
	while (ret == RS_EOK && (i < on_count || j < nn_count)) {
		int c = i == on_count	? 1
			: j == nn_count ? -1
					: rs_name_cmp(on[i].name, nn[j].name);
		if (c < 0) {
			ret = push_all(&rem, orr, on[i].first, on[i].first + on[i].count, osoa);
			i++;
		} else if (c > 0) {
			ret = push_all(&add, nrr, nn[j].first, nn[j].first + nn[j].count, nsoa);
			j++;
		} else {
			ret = merge_node(&rem, &add, orr, &on[i], osoa, nrr, &nn[j], nsoa);
			i++;
			j++;
		}
	}

	/* One block: the two record arrays, then owners and RDATA. */
	size_t nrec = rem.len + add.len;
	size_t head = nrec * sizeof(rs_xrr_t);
	size_t bytes = data_size(&rem) + data_size(&add) + osoa->owner->wire_len + osoa->rdlen +
		       nsoa->owner->wire_len + nsoa->rdlen;
	uint8_t *mem = ret == RS_EOK ? malloc(head + bytes) : NULL;
	if (mem == NULL) {
		free(rem.rr);
		free(add.rr);
		return rs_diag(diag, RS_ENOMEM, "%s: out of memory for a diff of %zu records", a,
			       nrec);
	}
	rs_xrr_t *xr = (rs_xrr_t *)mem;
	uint8_t *p = mem + head;
	p = copy_list(xr, &rem, p);
	p = copy_list(xr + rem.len, &add, p);
	const rs_name_t *prev = NULL;
	const uint8_t *prev_owner = NULL;
	rs_diff_t d = { .from = from,
			.to = to,
			.removed = xr,
			.added = xr + rem.len,
			.nremoved = rem.len,
			.nadded = add.len,
			.mem = mem };
	p = copy_rr(&d.soa_from, osoa, p, &prev, &prev_owner);
	prev = NULL;
	copy_rr(&d.soa_to, nsoa, p, &prev, &prev_owner);
	free(rem.rr);
	free(add.rr);
	*out = d;
	return RS_EOK;
}

void rs_diff_clear(rs_diff_t *diff)
{
	if (diff == NULL)
		return;
	free(diff->mem);
	memset(diff, 0, sizeof(*diff));
}

static uint64_t rr_size(const rs_xrr_t *rr)
{
	if (rr->owner == NULL)
		return 0;
	/* owner, type, class, TTL, RDLENGTH, RDATA (RFC 1035 4.1.3) */
	return rs_dname_len(rr->owner, RS_NAME_MAX) + 10 + rr->rdlen;
}

uint64_t rs_diff_size(const rs_diff_t *diff)
{
	uint64_t n = rr_size(&diff->soa_from) + rr_size(&diff->soa_to);
	for (size_t i = 0; i < diff->nremoved; i++)
		n += rr_size(&diff->removed[i]);
	for (size_t i = 0; i < diff->nadded; i++)
		n += rr_size(&diff->added[i]);
	return n;
}

/* ---- a diff applied ---- */

typedef struct {
	const rs_xrr_t *rr;
	bool added;
	uint8_t key[RS_NAME_MAX];
	size_t key_len;
} change_t;

static int change_cmp(const void *a, const void *b)
{
	const change_t *x = a, *y = b;
	int c = memcmp(x->key, y->key, x->key_len < y->key_len ? x->key_len : y->key_len);
	if (c != 0 || x->key_len == y->key_len)
		return c != 0 ? c : (x->rr > y->rr) - (x->rr < y->rr);
	return x->key_len < y->key_len ? -1 : 1;
}

int rs_zone_apply_diff(const rs_zone_t *base, const rs_diff_t *d, rs_zone_t **out, rs_diag_t *diag)
{
	size_t n = d->nremoved + d->nadded + 2;
	change_t *ch = malloc(n * sizeof(*ch));
	rs_zone_edit_t *edits = malloc(n * sizeof(*edits));
	const rs_rr_t *rrs = rs_zone_rrs(base);
	rs_rr_t *pool = NULL;
	size_t used = 0;
	int ret = ch != NULL && edits != NULL ? RS_EOK : rs_diag(diag, RS_ENOMEM, "out of memory");
	size_t k = 0;
	if (ret == RS_EOK) {
		ch[k++] = (change_t){ .rr = &d->soa_from, .added = false };
		ch[k++] = (change_t){ .rr = &d->soa_to, .added = true };
		for (size_t i = 0; i < d->nremoved; i++)
			ch[k++] = (change_t){ .rr = &d->removed[i], .added = false };
		for (size_t i = 0; i < d->nadded; i++)
			ch[k++] = (change_t){ .rr = &d->added[i], .added = true };
		for (size_t i = 0; i < k; i++)
			ch[i].key_len = rs_dname_key(ch[i].rr->owner, ch[i].key);
		qsort(ch, k, sizeof(*ch), change_cmp);
		/* Room for each touched name's old records, and for every added one. */
		size_t cap = k;
		for (size_t i = 0; i < k; i++) {
			if (i > 0 && ch[i].key_len == ch[i - 1].key_len && memcmp(ch[i].key, ch[i - 1].key, ch[i].key_len) == 0)
				continue;
			const rs_node_t *node = rs_zone_find(base, ch[i].key, ch[i].key_len);
			cap += node != NULL ? node->count : 0;
		}
		if ((pool = malloc(cap * sizeof(*pool))) == NULL)
			ret = rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	size_t nedits = 0;
	for (size_t i = 0; ret == RS_EOK && i < k;) {
		size_t j = i;
		while (j < k && ch[j].key_len == ch[i].key_len && memcmp(ch[j].key, ch[i].key, ch[i].key_len) == 0)
			j++;
		const rs_node_t *node = rs_zone_find(base, ch[i].key, ch[i].key_len);
		rs_rr_t *set = pool + used;
		size_t count = 0;
		if (node != NULL) {
			memcpy(set, rrs + node->first, node->count * sizeof(*set));
			count = node->count;
		}
		for (size_t c = i; ret == RS_EOK && c < j; c++) {
			const rs_xrr_t *x = ch[c].rr;
			if (ch[c].added)
				continue;
			size_t m = 0;
			while (m < count && !(set[m].type == x->type && set[m].rdlen == x->rdlen &&
					      memcmp(set[m].rdata, x->rdata, x->rdlen) == 0))
				m++;
			if (m == count) {
				char name[1024];
				rs_dname_to_str(x->owner, name, sizeof(name));
				ret = rs_diag(diag, RS_EINVAL, "%s: a record the diff removes is not there (type %u)", name,
					      x->type);
				break;
			}
			set[m] = set[--count];
		}
		for (size_t c = i; ret == RS_EOK && c < j; c++) {
			const rs_xrr_t *x = ch[c].rr;
			if (ch[c].added)
				set[count++] = (rs_rr_t){ .rdata = (uint8_t *)x->rdata, .ttl = x->ttl, .type = x->type,
							  .rdlen = x->rdlen };
		}
		used += count;
		edits[nedits++] = (rs_zone_edit_t){ ch[i].rr->owner, set, count };
		i = j;
	}
	if (ret == RS_EOK)
		ret = rs_zone_patch(base, edits, nedits, out, diag);
	free(pool);
	free(edits);
	free(ch);
	return ret;
}
