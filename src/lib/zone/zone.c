/* The zone store: records, canonical sort, nodes, zone rules and cuts. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/crypto.h"

#include "internal.h"

int rs_zone_new(const uint8_t *origin, const rs_zone_opts_t *opts, rs_zone_t **out)
{
	rs_zone_t *z = calloc(1, sizeof(*z));
	if (z == NULL)
		return RS_ENOMEM;
	z->own_all = true;
	if ((z->store = calloc(1, sizeof(*z->store))) != NULL) {
		atomic_init(&z->store->refs, 1);
		z->arena = z->store->arena = rs_arena_new(4 << 20);
	}
	uint8_t lower[RS_NAME_MAX];
	memcpy(lower, origin, rs_dname_len(origin, RS_NAME_MAX));
	rs_dname_lower(lower);
	if (z->arena == NULL || (z->origin = rs_name_new(z->arena, lower)) == NULL) {
		rs_zone_free(z);
		return RS_ENOMEM;
	}
	if (opts != NULL)
		z->opts = *opts;
	if (z->opts.include_depth == 0)
		z->opts.include_depth = 16;
	if (z->opts.threads == 0)
		z->opts.threads = rs_cpu_count();
	*out = z;
	return RS_EOK;
}

zone_store_t *zone_store_ref(zone_store_t *store)
{
	atomic_fetch_add_explicit(&store->refs, 1, memory_order_relaxed);
	return store;
}

void zone_store_unref(zone_store_t *store)
{
	if (store == NULL || atomic_fetch_sub_explicit(&store->refs, 1, memory_order_acq_rel) != 1)
		return;
	rs_arena_free(store->arena);
	free(store);
}

void rs_zone_free(rs_zone_t *zone)
{
	if (zone == NULL)
		return;
	for (size_t i = 0; i < zone->nfiles; i++)
		free(zone->files[i]);
	free(zone->files);
	free(zone->rrs);
	free(zone->nodes);
	free(zone->runs);
	free(zone->own_users);
	for (size_t i = 0; i < zone->nshared; i++)
		zone_store_unref(zone->shared[i]);
	free(zone->shared);
	zone_store_unref(zone->store);
	free(zone);
}

const rs_name_t *rs_zone_origin(const rs_zone_t *zone) { return zone->origin; }
const rs_rr_t *rs_zone_rrs(const rs_zone_t *zone) { return zone->rrs; }
size_t rs_zone_ttl_fixes(const rs_zone_t *zone) { return zone->ttl_fixes; }

const rs_node_t *rs_zone_nodes(const rs_zone_t *zone, size_t *count)
{
	*count = zone->nnodes;
	return zone->nodes;
}

const rs_rr_t *rs_zone_soa(const rs_zone_t *zone)
{
	return &zone->rrs[zone->soa];
}

const char *rs_zone_file_name(const rs_zone_t *zone, uint32_t index)
{
	return index < zone->nfiles ? zone->files[index] : "(added)";
}

void rs_zone_set_serial(rs_zone_t *zone, uint32_t serial)
{
	rs_rr_t *soa = &zone->rrs[zone->soa];
	uint8_t *own = zone->nshared > 0 ? rs_arena_alloc(zone->arena, soa->rdlen) : NULL;
	if (own != NULL) {
		/* A patched zone's SOA may be its base's, which must not change under it. */
		memcpy(own, soa->rdata, soa->rdlen);
		soa->rdata = own;
		zone->own_all = true; /* the apex now uses this zone's storage too */
	} else if (zone->nshared > 0) {
		return;
	}
	size_t pos = rs_dname_len(soa->rdata, soa->rdlen);
	pos += rs_dname_len(soa->rdata + pos, soa->rdlen - pos);
	rs_put32(soa->rdata + pos, serial);
}

size_t rs_zone_ds_ttl_from_ns(rs_zone_t *zone)
{
	size_t changed = 0;
	for (size_t n = 0; n < zone->nnodes; n++) {
		const rs_node_t *node = &zone->nodes[n];
		uint32_t ns, ns_end, ds, ds_end;
		if (!(node->flags & RS_NODE_DS) || !rs_node_rrset(zone, node, RS_TYPE_NS, &ns, &ns_end) ||
		    !rs_node_rrset(zone, node, RS_TYPE_DS, &ds, &ds_end))
			continue;
		for (uint32_t i = ds; i < ds_end; i++)
			if (zone->rrs[i].ttl != zone->rrs[ns].ttl) {
				zone->rrs[i].ttl = zone->rrs[ns].ttl;
				changed++;
			}
	}
	return changed;
}

/* The first 8 octets of a name's key past the origin's, zero-padded, big-endian. */
static uint64_t key_prefix(const rs_name_t *name, size_t skip)
{
	const uint8_t *key = rs_name_key(name);
	uint64_t v = 0;
	for (size_t i = 0; i < 8; i++)
		v = v << 8 | (skip + i < name->key_len ? key[skip + i] : 0);
	return v;
}

int zone_file_index(rs_zone_t *zone, const char *name, uint32_t *index)
{
	char **files = realloc(zone->files, (zone->nfiles + 1) * sizeof(*files));
	if (files == NULL)
		return RS_ENOMEM;
	zone->files = files;
	if ((files[zone->nfiles] = strdup(name)) == NULL)
		return RS_ENOMEM;
	*index = (uint32_t)zone->nfiles++;
	return RS_EOK;
}

/* Double the capacity of an array (at least 4096 elements); *arr and *cap change only on success. */
static int grow(void **arr, size_t *cap, size_t elem)
{
	size_t n = *cap ? *cap * 2 : 4096;
	void *p = realloc(*arr, n * elem);
	if (p == NULL)
		return RS_ENOMEM;
	*arr = p;
	*cap = n;
	return RS_EOK;
}

int zone_append(rs_zone_t *zone, const rs_name_t *owner, uint16_t type, uint32_t ttl,
		const uint8_t *rdata, size_t len, uint32_t file, uint32_t line)
{
	if (len > 65535)
		return RS_ELIMIT;
	if (zone->nrr == zone->cap && grow((void **)&zone->rrs, &zone->cap, sizeof(rs_rr_t)) != RS_EOK)
		return RS_ENOMEM;
	uint8_t *copy = rs_arena_alloc(zone->arena, len ? len : 1);
	if (copy == NULL)
		return RS_ENOMEM;
	memcpy(copy, rdata, len);
	if (rs_rdata_canonicalize(type, copy, len) != RS_EOK || rs_rdata_check(type, copy, len) != RS_EOK)
		return RS_ESYNTAX;
	if (zone->nrr == 0 || zone->rrs[zone->nrr - 1].owner != owner) {
		if (zone->nruns == zone->runs_cap &&
		    grow((void **)&zone->runs, &zone->runs_cap, sizeof(run_t)) != RS_EOK)
			return RS_ENOMEM;
		zone->runs[zone->nruns++] = (run_t){ key_prefix(owner, zone->origin->key_len), owner,
						     (uint32_t)zone->nrr, 0 };
	}
	zone->runs[zone->nruns - 1].count++;
	zone->rrs[zone->nrr++] = (rs_rr_t){
		.owner = owner, .rdata = copy, .ttl = ttl, .type = type,
		.rdlen = (uint16_t)len, .line = line, .file = file,
	};
	return RS_EOK;
}

int rs_zone_check_ttls(const rs_zone_t *zone, uint32_t max, rs_diag_t *diag)
{
	for (size_t i = 0; i < zone->nrr; i++) {
		const rs_rr_t *rr = &zone->rrs[i];
		if (rr->ttl > max && rr->line != 0)
			return rs_diag(diag, RS_EZONE, "%s:%u: TTL %u is above the policy's largest zone TTL "
				       "(ttl.max-zone %u): its signatures could expire in caches",
				       rs_zone_file_name(zone, rr->file), rr->line, rr->ttl, max);
	}
	return RS_EOK;
}

int rs_zone_source(rs_zone_t *zone, const char *label, uint32_t *index)
{
	return zone_file_index(zone, label, index);
}

int rs_zone_add(rs_zone_t *zone, const uint8_t *owner, uint16_t type, uint32_t ttl,
		const uint8_t *rdata, size_t len)
{
	return rs_zone_add_from(zone, UINT32_MAX, 0, owner, type, ttl, rdata, len);
}

int rs_zone_add_from(rs_zone_t *zone, uint32_t source, uint32_t line, const uint8_t *owner, uint16_t type,
		     uint32_t ttl, const uint8_t *rdata, size_t len)
{
	uint8_t lower[RS_NAME_MAX];
	size_t olen = rs_dname_len(owner, RS_NAME_MAX);
	if (olen == 0 || zone->finished)
		return RS_EINVAL;
	memcpy(lower, owner, olen);
	rs_dname_lower(lower);
	rs_name_t *name = rs_name_new(zone->arena, lower);
	if (name == NULL)
		return RS_ENOMEM;
	if (!rs_name_is_sub(name, zone->origin))
		return RS_EZONE;
	return zone_append(zone, name, type, ttl, rdata, len, source, line);
}

/* ---- canonical sort ------------------------------------------------------ */

/*
 * Records arrive grouped by owner, mostly. The sort therefore orders runs of
 * records with one owner, by a 64-bit prefix of the owner's key below the
 * origin (all keys share the origin's) and then the whole key; records
 * within a name are ordered by type and RDATA afterwards. Two runs of one
 * name meet in that second step.
 */
static int run_cmp(const run_t *x, const run_t *y)
{
	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	return rs_name_cmp(x->name, y->name);
}

static int rr_cmp(const void *a, const void *b)
{
	const rs_rr_t *x = a, *y = b;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return rs_rdata_cmp(x->rdata, x->rdlen, y->rdata, y->rdlen);
}

/* Merge src[lo..mid) and src[mid..hi) into dst[lo..hi); ties keep their order. */
static void merge_runs(const run_t *src, run_t *dst, size_t lo, size_t mid, size_t hi)
{
	size_t a = lo, b = mid, o = lo;
	while (a < mid && b < hi)
		dst[o++] = run_cmp(&src[a], &src[b]) <= 0 ? src[a++] : src[b++];
	while (a < mid)
		dst[o++] = src[a++];
	while (b < hi)
		dst[o++] = src[b++];
}

/*
 * Bottom-up merge sort of a[0..n) with tmp[0..n) as scratch. Written out for
 * the 24-octet run_t: qsort moves elements with memcpy calls, which took a
 * third of its time here.
 */
static void sort_block(run_t *a, run_t *tmp, size_t n)
{
	enum { SMALL = 16 };
	for (size_t lo = 0; lo < n; lo += SMALL) {
		size_t hi = lo + SMALL < n ? lo + SMALL : n;
		for (size_t i = lo + 1; i < hi; i++) {
			run_t t = a[i];
			size_t j = i;
			while (j > lo && run_cmp(&a[j - 1], &t) > 0) {
				a[j] = a[j - 1];
				j--;
			}
			a[j] = t;
		}
	}
	run_t *src = a, *dst = tmp;
	for (size_t w = SMALL; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n;
			size_t hi = lo + 2 * w < n ? lo + 2 * w : n;
			merge_runs(src, dst, lo, mid, hi);
		}
		run_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

struct sort_part {
	run_t *base;
	run_t *tmp;
	size_t count;
};

static void *sort_part(void *arg)
{
	struct sort_part *p = arg;
	sort_block(p->base, p->tmp, p->count);
	return NULL;
}

/* Sort runs in parallel parts, then merge the parts pairwise. Returns the sorted array, NULL on ENOMEM. */
static run_t *sort_runs(run_t *runs, size_t n, unsigned parts)
{
	run_t *tmp = malloc((n ? n : 1) * sizeof(run_t));
	if (tmp == NULL)
		return NULL;
	rs_prefault(tmp, n * sizeof(run_t));
	if (n < 65536 || parts < 2)
		parts = 1;
	if (parts > 16)
		parts = 16;
	struct sort_part part[16];
	size_t bounds[17];
	for (unsigned i = 0; i <= parts; i++)
		bounds[i] = n * i / parts;
	for (unsigned i = 0; i < parts; i++)
		part[i] = (struct sort_part){ runs + bounds[i], tmp + bounds[i], bounds[i + 1] - bounds[i] };
	rs_run_parallel(parts, sort_part, part, sizeof(part[0]));
	run_t *src = runs, *dst = tmp;
	for (unsigned width = 1; width < parts; width *= 2) {
		for (unsigned i = 0; i < parts; i += 2 * width) {
			size_t mid = bounds[i + width < parts ? i + width : parts];
			size_t hi = bounds[i + 2 * width < parts ? i + 2 * width : parts];
			merge_runs(src, dst, bounds[i], mid, hi);
		}
		run_t *t = src;
		src = dst;
		dst = t;
	}
	free(dst);
	return src;
}

/* Order rr[0..n) by type and RDATA: insertion sort for the usual handful. */
static void sort_name(rs_rr_t *rr, size_t n)
{
	if (n > 16) {
		qsort(rr, n, sizeof(*rr), rr_cmp);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		rs_rr_t t = rr[i];
		size_t j = i;
		while (j > 0 && rr_cmp(&rr[j - 1], &t) > 0) {
			rr[j] = rr[j - 1];
			j--;
		}
		rr[j] = t;
	}
}

/* Lowest TTL for every RRset (RFC 2181 5.2); RRSIGs keep their own. Returns records changed. */
static size_t unify_ttls(rs_rr_t *rr, size_t count)
{
	size_t fixes = 0, i = 0;
	while (i < count) {
		size_t j = i + 1;
		uint32_t min = rr[i].ttl;
		while (j < count && rr[j].type == rr[i].type) {
			if (rr[j].ttl < min)
				min = rr[j].ttl;
			j++;
		}
		for (size_t k = i; k < j && rr[i].type != RS_TYPE_RRSIG; k++) {
			fixes += rr[k].ttl != min;
			rr[k].ttl = min;
		}
		i = j;
	}
	return fixes;
}

size_t zone_build_node(rs_rr_t *rr, size_t n, const rs_name_t *name, size_t *fixes)
{
	sort_name(rr, n);
	size_t kept = 0;
	for (size_t k = 0; k < n; k++) {
		rr[k].owner = name;
		rs_rr_t *prev = kept > 0 ? &rr[kept - 1] : NULL;
		if (prev != NULL && prev->type == rr[k].type &&
		    rs_rdata_cmp(prev->rdata, prev->rdlen, rr[k].rdata, rr[k].rdlen) == 0) {
			if (rr[k].ttl < prev->ttl)
				prev->ttl = rr[k].ttl;
			continue; /* an exact duplicate */
		}
		rr[kept++] = rr[k];
	}
	*fixes += unify_ttls(rr, kept);
	return kept;
}

/*
 * One slice of the sorted runs, made into nodes by one thread: records
 * gathered into place, ordered, duplicates dropped, TTLs unified. A slice
 * starts at a name boundary and owns out[base .. base + reserved).
 */
struct slice {
	const rs_zone_t *zone;
	const run_t *order;
	size_t begin, end; /* runs */
	rs_rr_t *out;
	size_t base, len;  /* records kept, from base */
	rs_node_t *nodes;
	size_t nnodes;
	size_t ttl_fixes;
};

static void *build_slice(void *arg)
{
	struct slice *sl = arg;
	const run_t *order = sl->order;
	rs_rr_t *out = sl->out + sl->base;
	size_t len = 0;
	for (size_t i = sl->begin; i < sl->end;) {
		size_t start = len, j = i;
		/* Runs of one name, now adjacent, become one node named as first written. */
		const rs_name_t *name = order[i].name;
		uint32_t earliest = order[i].first;
		while (j < sl->end && (j == i || run_cmp(&order[j], &order[i]) == 0)) {
			memcpy(out + len, sl->zone->rrs + order[j].first, order[j].count * sizeof(rs_rr_t));
			if (order[j].first < earliest) {
				earliest = order[j].first;
				name = order[j].name;
			}
			len += order[j].count;
			j++;
		}
		len = start + zone_build_node(out + start, len - start, name, &sl->ttl_fixes);
		sl->nodes[sl->nnodes++] = (rs_node_t){ .name = name, .first = (uint32_t)(sl->base + start),
						       .count = (uint32_t)(len - start) };
		i = j;
	}
	sl->len = len;
	return NULL;
}

/* Sort, then build nodes in parallel slices and join them. */
static int build_nodes(rs_zone_t *zone)
{
	size_t nruns = zone->nruns;
	run_t *order = sort_runs(zone->runs, nruns, zone->opts.threads);
	if (order == NULL)
		return RS_ENOMEM;
	zone->runs = NULL;
	zone->nruns = zone->runs_cap = 0;
	rs_rr_t *sorted = malloc(zone->nrr * sizeof(rs_rr_t));
	rs_node_t *nodes = malloc(nruns * sizeof(rs_node_t));
	rs_prefault(sorted, zone->nrr * sizeof(rs_rr_t));
	rs_prefault(nodes, nruns * sizeof(rs_node_t));
	unsigned parts = zone->nrr < 65536 ? 1 : zone->opts.threads > 16 ? 16 : zone->opts.threads;
	struct slice sl[16];
	size_t bounds[17] = { 0 }, base = 0;
	for (unsigned p = 1; p < parts; p++) {
		/* Split where a name ends, so no node straddles two slices. */
		size_t b = nruns * p / parts;
		if (b < bounds[p - 1])
			b = bounds[p - 1];
		while (b > 0 && b < nruns && run_cmp(&order[b], &order[b - 1]) == 0)
			b++;
		bounds[p] = b;
	}
	bounds[parts] = nruns;
	for (unsigned p = 0; sorted != NULL && nodes != NULL && p < parts; p++) {
		sl[p] = (struct slice){ .zone = zone, .order = order, .begin = bounds[p], .end = bounds[p + 1],
					.out = sorted, .base = base, .nodes = nodes + bounds[p] };
		for (size_t r = bounds[p]; r < bounds[p + 1]; r++)
			base += order[r].count;
	}
	if (sorted != NULL && nodes != NULL)
		rs_run_parallel(parts, build_slice, sl, sizeof(sl[0]));
	free(order);
	if (sorted == NULL || nodes == NULL) {
		free(sorted);
		free(nodes);
		return RS_ENOMEM;
	}
	/* Close the gaps dropped duplicates left between slices. */
	size_t nrr = 0, nn = 0;
	for (unsigned p = 0; p < parts; p++) {
		size_t shift = sl[p].base - nrr;
		if (shift != 0)
			memmove(sorted + nrr, sorted + sl[p].base, sl[p].len * sizeof(rs_rr_t));
		for (size_t k = 0; k < sl[p].nnodes; k++) {
			nodes[nn] = sl[p].nodes[k];
			nodes[nn++].first -= (uint32_t)shift;
		}
		nrr += sl[p].len;
		zone->ttl_fixes += sl[p].ttl_fixes;
	}
	free(zone->rrs);
	zone->rrs = sorted;
	zone->nrr = zone->cap = nrr;
	zone->nodes = nodes;
	zone->nnodes = nn;
	return RS_EOK;
}

/* ---- nodes and zone rules ------------------------------------------------ */

static int where(const rs_zone_t *zone, const rs_rr_t *rr, rs_diag_t *diag, int code, const char *what,
		 const char *owner)
{
	if (rr->line > 0)
		return rs_diag(diag, code, "%s:%u: %s '%s'", rs_zone_file_name(zone, rr->file), rr->line,
			       what, owner);
	if (rr->file < zone->nfiles)
		return rs_diag(diag, code, "%s: %s '%s'", zone->files[rr->file], what, owner);
	return rs_diag(diag, code, "%s '%s'", what, owner);
}

/*
 * Check one node's RRsets: SOA only at the apex, one record of each
 * singleton type, CNAME alone; at the apex NS and no DS (DS belongs to the
 * parent side of a cut, RFC 4035 2.4). A zone read with keep_dnssec (one
 * already signed, to be checked) keeps a DS at its apex and duplicate
 * CNAMEs and DNAMEs: the verifier reports them.
 */
int zone_check_node(rs_zone_t *zone, rs_node_t *node, rs_diag_t *diag)
{
	const rs_rr_t *rr = zone->rrs + node->first;
	bool apex = node->flags & RS_NODE_APEX, lenient = zone->opts.keep_dnssec;
	char owner[1024], what[64], tname[32];
	const rs_rr_t *cname = NULL, *soa = NULL;
	size_t others = 0;
	bool ns = false;
	rs_dname_to_str(rs_name_wire(node->name), owner, sizeof(owner));
	for (uint32_t i = 0; i < node->count; i++) {
		/* Records are in type order, so a second record of a type follows the first. */
		if (i > 0 && rr[i].type == rr[i - 1].type && rs_type_singleton(rr[i].type) &&
		    (!lenient || rr[i].type == RS_TYPE_SOA)) {
			rs_type_to_str(rr[i].type, tname, sizeof(tname));
			snprintf(what, sizeof(what), "more than one %s record at", tname);
			return where(zone, &rr[i], diag, RS_EZONE, what, owner);
		}
		switch (rr[i].type) {
		case RS_TYPE_CNAME:
			cname = &rr[i];
			break;
		case RS_TYPE_SOA:
			if (!apex)
				return where(zone, &rr[i], diag, RS_EZONE, "SOA record not at the zone apex, at", owner);
			zone->soa = node->first + i;
			soa = &rr[i];
			others++;
			break;
		case RS_TYPE_DS:
			if (apex && !lenient)
				return where(zone, &rr[i], diag, RS_EZONE,
					     "DS record at the zone apex (it belongs in the parent zone)", owner);
			others++;
			break;
		case RS_TYPE_NS:
			ns = true;
			others++;
			break;
		case RS_TYPE_RRSIG: case RS_TYPE_NSEC:
			break; /* may sit beside a CNAME (RFC 4035 2.5) */
		default:
			others++;
		}
	}
	if (cname != NULL && others > 0)
		return where(zone, cname, diag, RS_EZONE, "CNAME beside other data at", owner);
	/* Without its SOA the apex is refused by the caller, which says so. */
	if (apex && !ns && soa != NULL)
		return where(zone, soa, diag, RS_EZONE, "no NS records at the zone apex", owner);
	return RS_EOK;
}

size_t rs_zone_lower_bound(const rs_zone_t *zone, const uint8_t *key, size_t key_len)
{
	size_t lo = 0, hi = zone->nnodes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const rs_name_t *n = zone->nodes[mid].name;
		if (rs_key_cmp(rs_name_key(n), n->key_len, key, key_len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const rs_node_t *rs_zone_find(const rs_zone_t *zone, const uint8_t *key, size_t key_len)
{
	size_t i = rs_zone_lower_bound(zone, key, key_len);
	if (i == zone->nnodes)
		return NULL;
	const rs_name_t *n = zone->nodes[i].name;
	return n->key_len == key_len && memcmp(rs_name_key(n), key, key_len) == 0 ? &zone->nodes[i] : NULL;
}

size_t rs_zone_subtree_end(const rs_zone_t *zone, size_t i)
{
	const rs_name_t *top = zone->nodes[i].name;
	size_t lo = i + 1, hi = zone->nnodes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const rs_name_t *n = zone->nodes[mid].name;
		if (rs_name_under_key(n, rs_name_key(top), top->key_len))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool rs_node_rrset(const rs_zone_t *zone, const rs_node_t *node, uint16_t type, uint32_t *begin,
		   uint32_t *end)
{
	const rs_rr_t *rr = zone->rrs;
	uint32_t i = node->first, last = node->first + node->count;
	while (i < last && rr[i].type < type)
		i++;
	if (i == last || rr[i].type != type)
		return false;
	uint32_t j = i;
	while (j < last && rr[j].type == type)
		j++;
	*begin = i;
	*end = j;
	return true;
}

const rs_name_t *zone_mark_node(const rs_zone_t *zone, rs_node_t *node, const rs_name_t *cut)
{
	node->flags &= RS_NODE_APEX;
	if (cut != NULL && rs_name_is_sub(node->name, cut)) {
		node->flags |= RS_NODE_NONAUTH;
		return cut;
	}
	cut = NULL;
	uint32_t b, e;
	if (!(node->flags & RS_NODE_APEX) && rs_node_rrset(zone, node, RS_TYPE_NS, &b, &e)) {
		node->flags |= RS_NODE_DELEG;
		if (rs_node_rrset(zone, node, RS_TYPE_DS, &b, &e))
			node->flags |= RS_NODE_DS;
		cut = node->name;
	}
	if (rs_node_rrset(zone, node, RS_TYPE_DNAME, &b, &e)) {
		node->flags |= RS_NODE_DNAME;
		if (cut == NULL)
			cut = node->name;
	}
	return cut;
}

/* The RFC 8078 4 delete signals: CDS 0 0 0 00 and CDNSKEY 0 3 0 AA==. */
static bool cds_delete(const rs_rr_t *rr)
{
	static const uint8_t cds[5] = { 0 }, cdnskey[5] = { 0, 0, 3, 0, 0 };
	return rr->rdlen == 5 && memcmp(rr->rdata, rr->type == RS_TYPE_CDS ? cds : cdnskey, 5) == 0;
}

/* Does an apex CDS or CDNSKEY record stand for one of the apex DNSKEYs? */
static bool cds_matches(const rs_zone_t *zone, const rs_node_t *apex, const rs_rr_t *rr)
{
	uint32_t b, e;
	if (!rs_node_rrset(zone, apex, RS_TYPE_DNSKEY, &b, &e))
		return false;
	for (uint32_t i = b; i < e; i++) {
		const rs_rr_t *key = &zone->rrs[i];
		uint8_t ds[128];
		int len = rr->type == RS_TYPE_CDNSKEY ? key->rdlen
			  : rs_ds_make(rs_name_wire(zone->origin), key->rdata, key->rdlen, rr->rdata[3], ds, sizeof(ds));
		const uint8_t *want = rr->type == RS_TYPE_CDNSKEY ? key->rdata : ds;
		if (len == rr->rdlen && memcmp(want, rr->rdata, (size_t)len) == 0)
			return true;
	}
	return false;
}

int zone_check_cds(const rs_zone_t *zone, bool refuse, rs_diag_t *diag)
{
	const rs_node_t *apex = &zone->nodes[0];
	char origin[1024], tname[16], where[PATH_MAX + 32];
	for (uint32_t i = apex->first; i < apex->first + apex->count; i++) {
		const rs_rr_t *rr = &zone->rrs[i];
		if ((rr->type != RS_TYPE_CDS && rr->type != RS_TYPE_CDNSKEY) || cds_delete(rr) ||
		    cds_matches(zone, apex, rr))
			continue;
		rs_type_to_str(rr->type, tname, sizeof(tname));
		rs_dname_to_str(rs_name_wire(zone->origin), origin, sizeof(origin));
		/* A record of a change set may have no source line: the record then names itself. */
		where[0] = '\0';
		if (rr->line != 0 && rr->file < zone->nfiles)
			snprintf(where, sizeof(where), "%s:%u: ", zone->files[rr->file], rr->line);
		if (refuse)
			return rs_diag(diag, RS_EZONE, "%s%s record at '%s' matches no DNSKEY of the zone "
				       "(regsign makes the CDS and CDNSKEY records of a managed zone)",
				       where, tname, origin);
		rs_log(&zone->opts.log, RS_LOG_WARNING, NULL, "%s%s record at '%s' matches no DNSKEY of the "
		       "zone: a parent would ignore it or act on it (RFC 7344 4.1)", where, tname, origin);
	}
	return RS_EOK;
}

int rs_zone_check_cds(const rs_zone_t *zone, rs_diag_t *diag)
{
	if (!zone->finished)
		return rs_diag(diag, RS_EINVAL, "cannot check a zone that is not finished");
	return zone_check_cds(zone, true, diag);
}

int rs_zone_finish(rs_zone_t *zone, rs_diag_t *diag)
{
	char origin[1024];
	rs_dname_to_str(rs_name_wire(zone->origin), origin, sizeof(origin));
	const char *file = zone->nfiles > 0 ? zone->files[0] : "zone";
	if (zone->nrr == 0)
		return rs_diag(diag, RS_EZONE, "%s:1: no SOA record at the zone apex '%s'", file, origin);
	int ret = build_nodes(zone);
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "out of memory");
	size_t n = zone->nnodes;

	rs_node_t *apex = &zone->nodes[0];
	if (rs_name_cmp(apex->name, zone->origin) != 0)
		return rs_diag(diag, RS_EZONE, "%s:1: no SOA record at the zone apex '%s'", file, origin);
	apex->flags |= RS_NODE_APEX;
	zone->soa = UINT32_MAX;

	/* Canonical order visits a cut before everything below it. */
	const rs_name_t *cut = NULL;
	for (size_t i = 0; i < n; i++) {
		rs_node_t *node = &zone->nodes[i];
		cut = zone_mark_node(zone, node, cut);
		ret = zone_check_node(zone, node, diag);
		if (ret != RS_EOK)
			return ret;
	}
	if (zone->soa == UINT32_MAX)
		return rs_diag(diag, RS_EZONE, "%s:1: no SOA record at the zone apex '%s'", file, origin);
	if ((ret = zone_check_cds(zone, zone->opts.cds_must_match, diag)) != RS_EOK)
		return ret;
	zone->finished = true;
	return RS_EOK;
}
