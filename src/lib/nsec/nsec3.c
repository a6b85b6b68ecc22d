/* NSEC3 chain (RFC 5155 7.1): hashed names, empty non-terminals, opt-out. */
#include <stdlib.h>
#include <string.h>

#include "regsign/crypto.h"
#include "regsign/nsec.h"

/* A name that needs an NSEC3: a node, or an empty non-terminal (a suffix of a node's name). */
struct item {
	const uint8_t *wire;
	uint32_t node;
	uint8_t labels;
	bool included;
};

/* The suffix of wire that has labels labels, borrowed from wire. */
static const uint8_t *suffix(const uint8_t *wire, unsigned have, unsigned labels)
{
	for (; have > labels; have--)
		wire += *wire + 1;
	return wire;
}

static bool same_name(const uint8_t *a, const uint8_t *b)
{
	size_t len = rs_dname_len(a, RS_NAME_MAX);
	return len == rs_dname_len(b, RS_NAME_MAX) && memcmp(a, b, len) == 0;
}

static bool is_ancestor(const struct item *anc, const struct item *x)
{
	return anc->labels < x->labels && same_name(suffix(x->wire, x->labels, anc->labels), anc->wire);
}

bool rs_nsec3_only(const rs_zone_t *zone, const rs_node_t *node)
{
	const rs_rr_t *rr = rs_zone_rrs(zone) + node->first;
	for (uint32_t i = 0; i < node->count; i++)
		if (rr[i].type != RS_TYPE_NSEC3 && rr[i].type != RS_TYPE_RRSIG)
			return false;
	return true;
}

static int hash_cmp(const void *a, const void *b)
{
	return memcmp(((const rs_nsec3_entry_t *)a)->hash, ((const rs_nsec3_entry_t *)b)->hash, 20);
}

/* Hash names[lo..hi) into entries and sort that slice: one thread's share. */
struct hash_part {
	rs_nsec3_entry_t *entries;
	const uint8_t **wires;
	size_t lo, hi;
	const rs_nsec3_params_t *params;
};

static void *hash_part(void *arg)
{
	struct hash_part *p = arg;
	for (size_t k = p->lo; k < p->hi; k++)
		rs_nsec3_hash(p->wires[k], rs_dname_len(p->wires[k], RS_NAME_MAX), p->params->salt,
			      p->params->salt_len, p->params->iterations, p->entries[k].hash);
	qsort(p->entries + p->lo, p->hi - p->lo, sizeof(*p->entries), hash_cmp);
	return NULL;
}

/*
 * Hash every name and sort by hash, in parallel parts merged pairwise: for a
 * million names this was a single-core half second before signing could start.
 * Returns the sorted array (entries or a new one; the other is freed), NULL on ENOMEM.
 */
static rs_nsec3_entry_t *hash_and_sort(rs_nsec3_entry_t *entries, const uint8_t **wires, size_t m,
				       const rs_nsec3_params_t *params)
{
	unsigned parts = m < 1024 ? 1 : rs_cpu_count();
	if (parts > 16)
		parts = 16;
	struct hash_part part[16];
	size_t bounds[17];
	for (unsigned i = 0; i <= parts; i++)
		bounds[i] = m * i / parts;
	for (unsigned i = 0; i < parts; i++)
		part[i] = (struct hash_part){ entries, wires, bounds[i], bounds[i + 1], params };
	rs_run_parallel(parts, hash_part, part, sizeof(part[0]));
	if (parts == 1)
		return entries;
	rs_nsec3_entry_t *tmp = malloc(m * sizeof(*tmp));
	if (tmp == NULL)
		return NULL;
	rs_nsec3_entry_t *src = entries, *dst = tmp;
	for (unsigned width = 1; width < parts; width *= 2) {
		for (unsigned i = 0; i < parts; i += 2 * width) {
			size_t a = bounds[i], o = bounds[i];
			size_t mid = bounds[i + width < parts ? i + width : parts];
			size_t hi = bounds[i + 2 * width < parts ? i + 2 * width : parts], b = mid;
			while (a < mid && b < hi)
				dst[o++] = memcmp(src[a].hash, src[b].hash, 20) <= 0 ? src[a++] : src[b++];
			while (a < mid)
				dst[o++] = src[a++];
			while (b < hi)
				dst[o++] = src[b++];
		}
		rs_nsec3_entry_t *t = src;
		src = dst;
		dst = t;
	}
	free(dst);
	return src;
}

int rs_nsec3_build(const rs_zone_t *zone, const rs_nsec3_params_t *params, rs_nsec3_chain_t *chain,
		   rs_diag_t *diag)
{
	size_t count;
	const rs_node_t *nodes = rs_zone_nodes(zone, &count);
	size_t cap = count + 16, n = 0;
	struct item *items = malloc(cap * sizeof(*items));
	if (items == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	const rs_node_t *prev = NULL;
	unsigned apex_labels = rs_zone_origin(zone)->labels;
	for (size_t i = 0; i < count; i++) {
		const rs_node_t *node = &nodes[i];
		if (!rs_node_in_chain(node) || rs_nsec3_only(zone, node))
			continue;
		/*
		 * In canonical order an ancestor that exists comes before the name
		 * and covers everything up to it: ancestors that the previous name
		 * does not lie under are empty non-terminals.
		 */
		const uint8_t *wire = rs_name_wire(node->name);
		unsigned labels = node->name->labels;
		const uint8_t *anc[128];
		unsigned nanc = 0;
		for (unsigned l = labels - 1; prev != NULL && l > apex_labels; l--) {
			const uint8_t *w = suffix(wire, labels, l);
			unsigned pl = prev->name->labels;
			if (pl >= l && same_name(suffix(rs_name_wire(prev->name), pl, l), w))
				break;
			anc[nanc++] = w;
		}
		if (n + nanc + 1 > cap) {
			cap = (n + nanc + 1) * 2;
			struct item *grown = realloc(items, cap * sizeof(*items));
			if (grown == NULL) {
				free(items);
				return rs_diag(diag, RS_ENOMEM, "out of memory");
			}
			items = grown;
		}
		while (nanc > 0) {
			const uint8_t *ent = anc[--nanc];
			items[n++] = (struct item){ ent, RS_NO_NODE, (uint8_t)rs_dname_labels(ent), false };
		}
		bool optout = params->opt_out && (node->flags & RS_NODE_DELEG) && !(node->flags & RS_NODE_DS);
		items[n++] = (struct item){ wire, (uint32_t)i, (uint8_t)labels, !optout };
		prev = node;
	}

	/* An empty non-terminal needs an NSEC3 only if a name below it has one (RFC 5155 7.1). */
	size_t *stack = malloc((n + 1) * sizeof(*stack));
	if (stack == NULL) {
		free(items);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	size_t top = 0;
	for (size_t k = 0; k < n; k++) {
		while (top > 0 && !is_ancestor(&items[stack[top - 1]], &items[k]))
			top--;
		if (items[k].included)
			for (size_t s = top; s > 0 && !items[stack[s - 1]].included; s--)
				items[stack[s - 1]].included = true;
		if (items[k].node == RS_NO_NODE)
			stack[top++] = k;
	}
	free(stack);

	size_t m = 0;
	for (size_t k = 0; k < n; k++)
		m += items[k].included;
	rs_nsec3_entry_t *entries = malloc((m ? m : 1) * sizeof(*entries));
	const uint8_t **wires = malloc((m ? m : 1) * sizeof(*wires));
	if (entries == NULL || wires == NULL) {
		free(entries);
		free(wires);
		free(items);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	m = 0;
	for (size_t k = 0; k < n; k++) {
		if (items[k].included) {
			entries[m].node = items[k].node;
			wires[m++] = items[k].wire;
		}
	}
	free(items);
	rs_nsec3_entry_t *sorted = hash_and_sort(entries, wires, m, params);
	free(wires);
	if (sorted == NULL) {
		free(entries);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	entries = sorted;
	for (size_t k = 1; k < m; k++) {
		if (memcmp(entries[k - 1].hash, entries[k].hash, 20) == 0) {
			free(entries);
			return rs_diag(diag, RS_EZONE, "NSEC3 hash collision; choose another salt");
		}
	}
	chain->entries = entries;
	chain->count = m;
	chain->params = *params;
	return RS_EOK;
}

void rs_nsec3_chain_clear(rs_nsec3_chain_t *chain)
{
	free(chain->entries);
	chain->entries = NULL;
	chain->count = 0;
}

size_t rs_nsec3param_rdata(const rs_nsec3_params_t *params, uint8_t *out)
{
	out[0] = 1; /* SHA-1 */
	out[1] = 0; /* flags are zero in NSEC3PARAM (RFC 5155 4.1.2) */
	rs_put16(out + 2, params->iterations);
	out[4] = params->salt_len;
	memcpy(out + 5, params->salt, params->salt_len);
	return 5 + (size_t)params->salt_len;
}

int rs_nsec3_owner(const uint8_t hash[20], const rs_name_t *origin, uint8_t out[RS_NAME_MAX])
{
	if (origin->wire_len + 33 > RS_NAME_MAX)
		return RS_ELIMIT;
	out[0] = 32;
	rs_base32hex_encode(hash, 20, (char *)out + 1);
	memcpy(out + 33, rs_name_wire(origin), origin->wire_len);
	return 33 + origin->wire_len;
}
