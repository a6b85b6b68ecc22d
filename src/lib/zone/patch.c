/*
 * Patching a finished zone: the edited names are merged into copies of the
 * node and record arrays (pointer-sized entries, copied in runs between the
 * edits), so nothing is sorted again. The RDATA and names of the records kept
 * stay in base's storage, which the patched zone shares by reference.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* An edit made ready: its name's key, where it falls in base and in the patched zone. */
typedef struct {
	const rs_zone_edit_t *edit;
	uint8_t *key;
	size_t key_len;
	size_t pos;       /* lower bound of key in base's nodes */
	bool exists;      /* base has a node of that name, at pos */
	uint32_t old_cut; /* its RS_NODE_DELEG and RS_NODE_DNAME flags in base */
	size_t at;        /* its node in the patched zone, or where it would be */
	bool present;
} prep_t;

/*
 * The cut or DNAME above the name of key (strict ancestors, apex included),
 * or NULL. Only a node that is not itself below one carries those flags, so
 * the first found from the top is the one rs_zone_finish's walk would hold.
 */
static const rs_name_t *cut_above(const rs_zone_t *zone, const uint8_t *key, size_t len)
{
	/* Label terminators are the only zero octets of a key: each one ends an ancestor's key. */
	for (size_t p = zone->origin->key_len - 1; p + 1 < len; p++) {
		if (key[p] != 0)
			continue;
		const rs_node_t *n = rs_zone_find(zone, key, p + 1);
		if (n != NULL && (n->flags & (RS_NODE_DELEG | RS_NODE_DNAME)))
			return n->name;
	}
	return NULL;
}

/* A copy of name in arena (compaction). */
static const rs_name_t *copy_name(rs_arena_t *arena, const rs_name_t *name)
{
	size_t size = sizeof(*name) + (size_t)name->wire_len * (name->mixed_case ? 2 : 1) + name->key_len;
	rs_name_t *n = rs_arena_alloc(arena, size);
	if (n != NULL)
		memcpy(n, name, size);
	return n;
}

/* Copy the names and RDATA of nodes[0..n) and their records into zone's own storage. */
static int deep_copy(rs_zone_t *zone, rs_node_t *nodes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const rs_name_t *name = copy_name(zone->arena, nodes[i].name);
		if (name == NULL)
			return RS_ENOMEM;
		nodes[i].name = name;
		rs_rr_t *rr = zone->rrs + nodes[i].first;
		for (uint32_t k = 0; k < nodes[i].count; k++) {
			uint8_t *copy = rs_arena_alloc(zone->arena, rr[k].rdlen ? rr[k].rdlen : 1);
			if (copy == NULL)
				return RS_ENOMEM;
			memcpy(copy, rr[k].rdata, rr[k].rdlen);
			rr[k].rdata = copy;
			rr[k].owner = name;
		}
	}
	return RS_EOK;
}

static int prepare(const rs_zone_t *base, const rs_zone_edit_t *edits, size_t nedits, rs_arena_t *arena,
		   prep_t *prep, rs_diag_t *diag)
{
	const rs_name_t *origin = base->origin;
	char text[4 * RS_NAME_MAX + 2];
	for (size_t e = 0; e < nedits; e++) {
		uint8_t lower[RS_NAME_MAX], key[RS_KEY_MAX];
		size_t olen = edits[e].owner != NULL ? rs_dname_len(edits[e].owner, RS_NAME_MAX) : 0;
		if (olen == 0)
			return rs_diag(diag, RS_EINVAL, "malformed owner name in a zone patch");
		memcpy(lower, edits[e].owner, olen);
		rs_dname_lower(lower);
		size_t klen = rs_dname_key(lower, key);
		rs_name_format(edits[e].owner, text, sizeof(text));
		if (klen < origin->key_len || memcmp(key, rs_name_key(origin), origin->key_len) != 0)
			return rs_diag(diag, RS_EZONE, "'%s' is outside the zone", text);
		if (e > 0 && rs_key_cmp(prep[e - 1].key, prep[e - 1].key_len, key, klen) >= 0)
			return rs_diag(diag, RS_EINVAL, "zone patch not in canonical order of names at '%s'", text);
		if ((prep[e].key = rs_arena_alloc(arena, klen)) == NULL)
			return rs_diag(diag, RS_ENOMEM, "out of memory");
		memcpy(prep[e].key, key, klen);
		prep[e].edit = &edits[e];
		prep[e].key_len = klen;
		prep[e].pos = rs_zone_lower_bound(base, key, klen);
		const rs_node_t *old = prep[e].pos < base->nnodes ? &base->nodes[prep[e].pos] : NULL;
		prep[e].exists = old != NULL && old->name->key_len == klen &&
				 memcmp(rs_name_key(old->name), key, klen) == 0;
		prep[e].old_cut = prep[e].exists ? old->flags & (RS_NODE_DELEG | RS_NODE_DNAME) : 0;
		if (klen == origin->key_len && edits[e].count == 0)
			return rs_diag(diag, RS_EZONE, "no SOA record at the zone apex '%s'", text);
	}
	return RS_EOK;
}

/* One edited name's node at out's end: records copied into out's storage and ordered. */
static int put_edit(rs_zone_t *out, const rs_zone_t *base, prep_t *p, size_t *fixes, rs_diag_t *diag)
{
	const rs_zone_edit_t *ed = p->edit;
	const uint8_t *written = p->exists ? rs_name_written(base->nodes[p->pos].name) : ed->owner;
	const rs_name_t *name = rs_name_new_written(out->arena, written);
	if (name == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	rs_rr_t *rr = out->rrs + out->nrr;
	for (size_t k = 0; k < ed->count; k++) {
		const rs_rr_t *in = &ed->rrs[k];
		uint8_t *copy = rs_arena_alloc(out->arena, in->rdlen ? in->rdlen : 1);
		if (copy == NULL)
			return rs_diag(diag, RS_ENOMEM, "out of memory");
		memcpy(copy, in->rdata, in->rdlen);
		if (rs_rdata_canonicalize(in->type, copy, in->rdlen) != RS_EOK ||
		    rs_rdata_check(in->type, copy, in->rdlen) != RS_EOK) {
			char text[4 * RS_NAME_MAX + 2], type[32];
			rs_name_format(written, text, sizeof(text));
			rs_type_to_str(in->type, type, sizeof(type));
			return rs_diag(diag, RS_ESYNTAX, "malformed %s record data at '%s'", type, text);
		}
		rr[k] = (rs_rr_t){ .owner = name, .rdata = copy, .ttl = in->ttl, .type = in->type,
				   .rdlen = in->rdlen, .line = in->line, .file = in->file };
	}
	size_t kept = zone_build_node(rr, ed->count, name, fixes);
	bool apex = p->key_len == out->origin->key_len;
	out->nodes[out->nnodes] = (rs_node_t){ .name = name, .first = (uint32_t)out->nrr, .count = (uint32_t)kept,
					       .flags = apex ? RS_NODE_APEX : 0 };
	p->at = out->nnodes++;
	p->present = true;
	out->nrr += kept;
	return RS_EOK;
}

/* Copy base's nodes [from, to) and their records to out's end. */
static int put_kept(rs_zone_t *out, const rs_zone_t *base, size_t from, size_t to, bool compact)
{
	if (from >= to)
		return RS_EOK;
	uint32_t rb = base->nodes[from].first;
	uint32_t re = base->nodes[to - 1].first + base->nodes[to - 1].count;
	memcpy(out->rrs + out->nrr, base->rrs + rb, (size_t)(re - rb) * sizeof(rs_rr_t));
	rs_node_t *nodes = out->nodes + out->nnodes;
	for (size_t k = from; k < to; k++) {
		nodes[k - from] = base->nodes[k];
		nodes[k - from].first = base->nodes[k].first - rb + (uint32_t)out->nrr;
	}
	out->nnodes += to - from;
	out->nrr += re - rb;
	return compact ? deep_copy(out, nodes, to - from) : RS_EOK;
}

/* Flags of the edited names and, where a cut or DNAME came or went, of the names below them. */
static void mark(rs_zone_t *out, const prep_t *prep, size_t nedits)
{
	for (size_t e = 0; e < nedits; e++) {
		const prep_t *p = &prep[e];
		const rs_name_t *cut = cut_above(out, p->key, p->key_len);
		uint32_t now = 0;
		size_t j = p->at;
		if (p->present) {
			cut = zone_mark_node(out, &out->nodes[j++], cut);
			now = out->nodes[p->at].flags & (RS_NODE_DELEG | RS_NODE_DNAME);
		}
		if (now == p->old_cut)
			continue;
		for (; j < out->nnodes && rs_name_under_key(out->nodes[j].name, p->key, p->key_len); j++)
			cut = zone_mark_node(out, &out->nodes[j], cut);
	}
}

/* Does every name that uses base's own storage get edited again (so out need not keep it)? */
static bool own_store_unused(const rs_zone_t *base, const prep_t *prep, size_t nedits)
{
	if (base->own_all)
		return false;
	size_t e = 0;
	for (size_t u = 0; u < base->nown_users; u++) {
		const rs_name_t *n = base->own_users[u];
		while (e < nedits && rs_key_cmp(prep[e].key, prep[e].key_len, rs_name_key(n), n->key_len) < 0)
			e++;
		if (e == nedits || rs_key_cmp(prep[e].key, prep[e].key_len, rs_name_key(n), n->key_len) != 0)
			return false;
	}
	return true;
}

static int share(rs_zone_t *out, const rs_zone_t *base, const prep_t *prep, size_t nedits)
{
	bool keep_own = !own_store_unused(base, prep, nedits);
	out->shared = malloc((base->nshared + 1) * sizeof(*out->shared));
	out->own_users = malloc((nedits ? nedits : 1) * sizeof(*out->own_users));
	if (out->shared == NULL || out->own_users == NULL)
		return RS_ENOMEM;
	for (size_t i = 0; i < base->nshared; i++)
		out->shared[out->nshared++] = zone_store_ref(base->shared[i]);
	if (keep_own)
		out->shared[out->nshared++] = zone_store_ref(base->store);
	out->own_all = false;
	for (size_t e = 0; e < nedits; e++)
		if (prep[e].present)
			out->own_users[out->nown_users++] = out->nodes[prep[e].at].name;
	return RS_EOK;
}

/*
 * Does the storage the patches since the last full copy added outweigh a
 * quarter of that copy's (and RS_ZONE_CHAIN_BYTES)? What they replaced is
 * still held there for nobody: refreshes re-sign a few percent of a large
 * zone each time, and without this its memory would grow by that much each.
 */
static bool chain_heavy(const rs_zone_t *base)
{
	if (base->nshared == 0)
		return false;
	size_t first = rs_arena_size(base->shared[0]->arena), added = rs_arena_size(base->store->arena);
	for (size_t i = 1; i < base->nshared; i++)
		added += rs_arena_size(base->shared[i]->arena);
	return added > RS_ZONE_CHAIN_BYTES && added > first / 4;
}

int rs_zone_patch(const rs_zone_t *base, const rs_zone_edit_t *edits, size_t nedits, rs_zone_t **out,
		  rs_diag_t *diag)
{
	if (!base->finished)
		return rs_diag(diag, RS_EINVAL, "cannot patch a zone that is not finished");
	rs_arena_t *scratch = rs_arena_new(1 << 20);
	prep_t *prep = calloc(nedits ? nedits : 1, sizeof(*prep));
	rs_zone_t *z = NULL;
	int ret = scratch != NULL && prep != NULL ? RS_EOK : rs_diag(diag, RS_ENOMEM, "out of memory");
	if (ret == RS_EOK)
		ret = prepare(base, edits, nedits, scratch, prep, diag);
	if (ret == RS_EOK && (ret = rs_zone_new(rs_name_wire(base->origin), &base->opts, &z)) != RS_EOK)
		rs_diag(diag, ret, "out of memory");
	/*
	 * Compaction: a long chain of shared storage, one that holds much, or a
	 * large patch (then the copy costs little beside it), makes a zone that
	 * shares nothing, so the storage of old versions can go.
	 */
	bool compact = base->nshared + 1 >= RS_ZONE_CHAIN_MAX || chain_heavy(base) ||
		       (nedits >= 1024 && nedits >= base->nnodes / 4);
	size_t nrr = base->nrr, nnodes = base->nnodes + nedits;
	for (size_t e = 0; ret == RS_EOK && e < nedits; e++)
		nrr += edits[e].count - (prep[e].exists ? base->nodes[prep[e].pos].count : 0);
	for (size_t i = 0; ret == RS_EOK && i < base->nfiles; i++) {
		uint32_t index;
		ret = zone_file_index(z, base->files[i], &index);
	}
	if (ret == RS_EOK) {
		z->rrs = malloc((nrr ? nrr : 1) * sizeof(rs_rr_t));
		z->nodes = malloc(nnodes * sizeof(rs_node_t));
		z->cap = nrr;
		if (z->rrs == NULL || z->nodes == NULL)
			ret = RS_ENOMEM;
		else {
			rs_prefault(z->rrs, nrr * sizeof(rs_rr_t));
			rs_prefault(z->nodes, nnodes * sizeof(rs_node_t));
		}
	}
	size_t fixes = 0, i = 0;
	for (size_t e = 0; ret == RS_EOK && e <= nedits; e++) {
		size_t stop = e < nedits ? prep[e].pos : base->nnodes;
		ret = put_kept(z, base, i, stop, compact);
		i = stop;
		if (ret != RS_EOK || e == nedits)
			break;
		if (prep[e].exists)
			i++;
		prep[e].at = z->nnodes;
		if (edits[e].count > 0)
			ret = put_edit(z, base, &prep[e], &fixes, diag);
	}
	if (ret == RS_ENOMEM)
		rs_diag(diag, ret, "out of memory");
	if (ret == RS_EOK) {
		mark(z, prep, nedits);
		bool apex = false;
		for (size_t e = 0; ret == RS_EOK && e < nedits; e++) {
			if (prep[e].present)
				ret = zone_check_node(z, &z->nodes[prep[e].at], diag);
			apex |= prep[e].key_len == z->origin->key_len;
		}
		/* rs_zone_finish's apex rule for a managed zone: an edit must not bring in a CDS of no key either. */
		if (ret == RS_EOK && apex && z->opts.cds_must_match && z->nnodes > 0 &&
		    (z->nodes[0].flags & RS_NODE_APEX))
			ret = zone_check_cds(z, true, diag);
	}
	uint32_t b, end;
	if (ret == RS_EOK && (z->nnodes == 0 || !(z->nodes[0].flags & RS_NODE_APEX) ||
			      !rs_node_rrset(z, &z->nodes[0], RS_TYPE_SOA, &b, &end)))
		ret = rs_diag(diag, RS_EZONE, "no SOA record at the zone apex");
	if (ret == RS_EOK && !compact && (ret = share(z, base, prep, nedits)) != RS_EOK)
		rs_diag(diag, ret, "out of memory");
	if (ret == RS_EOK) {
		z->soa = b;
		z->ttl_fixes = base->ttl_fixes + fixes;
		z->finished = true;
		*out = z;
	} else {
		rs_zone_free(z);
	}
	free(prep);
	rs_arena_free(scratch);
	return ret;
}

size_t rs_zone_chain(const rs_zone_t *zone)
{
	return 1 + zone->nshared;
}
