/* The signing pipeline: chunks of names signed and formatted in parallel, written in order. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "regsign/zonemd.h"

#include "internal.h"

#define MAX_KEYS SIGN_MAX_KEYS
#define CHUNK_NAMES 512
#define CHUNK_BUF_MAX ((size_t)1 << 30)

void rs_sign_roles(rs_key_t *const *keys, size_t nkeys, rs_key_role_t *roles)
{
	for (size_t i = 0; i < nkeys; i++) {
		bool alg_has_ksk = false, alg_has_zsk = false;
		for (size_t k = 0; k < nkeys; k++) {
			if (rs_key_alg(keys[k]) != rs_key_alg(keys[i]))
				continue;
			if (rs_key_is_ksk(keys[k]))
				alg_has_ksk = true;
			else
				alg_has_zsk = true;
		}
		bool ksk = rs_key_is_ksk(keys[i]);
		roles[i] = (rs_key_role_t){
			.key = keys[i],
			.signs_keys = ksk || !alg_has_ksk,
			.signs_data = !ksk || !alg_has_zsk,
		};
	}
}

int rs_sign_data(rs_buf_t *buf, const uint8_t *rrsig_head, size_t head_len, const uint8_t *owner,
		 uint16_t type, uint32_t ttl, const rs_rr_t *rrs, size_t count)
{
	size_t olen = rs_dname_len(owner, RS_NAME_MAX);
	size_t need = head_len;
	for (size_t i = 0; i < count; i++)
		need += olen + 10 + rrs[i].rdlen;
	int ret = rs_buf_reserve(buf, need);
	if (ret != RS_EOK)
		return ret;
	uint8_t *p = buf->data + buf->len;
	memcpy(p, rrsig_head, head_len);
	p += head_len;
	for (size_t i = 0; i < count; i++) {
		memcpy(p, owner, olen);
		p += olen;
		rs_put16(p, type);
		rs_put16(p + 2, RS_CLASS_IN);
		rs_put32(p + 4, ttl);
		rs_put16(p + 8, rrs[i].rdlen);
		memcpy(p + 10, rrs[i].rdata, rrs[i].rdlen);
		p += 10 + rrs[i].rdlen;
	}
	buf->len += need;
	return RS_EOK;
}

/* One item of output in canonical order: a zone node or an NSEC3 record. */
typedef struct {
	uint32_t index;
	bool nsec3;
} entry_t;

typedef struct {
	const rs_zone_t *zone;
	const rs_node_t *nodes;
	const rs_rr_t *rrs;
	const rs_sign_opts_t *opts;
	rs_key_role_t roles[MAX_KEYS];
	bool fresh[MAX_KEYS]; /* another key had this one's tag in opts->previous: reuse none */
	size_t nkeys;
	uint32_t *nsec_next;
	rs_nsec3_chain_t chain;
	entry_t *entries;
	size_t nentries;
	uint32_t dnskey_ttl;
	uint32_t nsec_ttl;
	uint8_t nsec3param[260];
	size_t nsec3param_len;

	/* ZONEMD: each chunk's records in canonical wire form, hashed by the writer in order. */
	bool zonemd;
	rs_buf_t *wires;
	rs_zonemd_t *md;
	const rs_rr_t *zmd;
	size_t nzmd;

	size_t nchunks;
	rs_buf_t *bufs;
	bool *done;
	size_t next;    /* next chunk to claim */
	size_t written; /* chunks written so far */
	size_t window;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int error;
	rs_diag_t diag;
	rs_sign_stats_t stats;
} ctx_t;

/* One record of a name, kept for the ZONEMD stream until the name is done. */
typedef struct {
	uint16_t type;
	uint16_t len;
	uint32_t ttl;
	size_t off; /* in worker_t.recdata */
	const uint8_t *rdata;
} mdrec_t;

typedef struct {
	ctx_t *c;
	const rs_node_t *prev; /* the node of the same name in opts->previous, or NULL */
	rs_buf_t *wire;        /* the chunk's ZONEMD stream (ctx_t.zonemd) */
	rs_buf_t recdata;
	mdrec_t *recs;
	size_t nrecs, caprecs;
	rs_signer_t *signer[MAX_KEYS];
	rs_buf_t data;
	rs_sign_stats_t stats;
	char owner_text[1024];
} worker_t;

bool sign_rrset_same(const rs_zone_t *zone, const rs_node_t *node, uint16_t type, uint32_t ttl,
		     const rs_rr_t *rrs, size_t count)
{
	uint32_t b, e;
	if (node == NULL || !rs_node_rrset(zone, node, type, &b, &e) || e - b != count)
		return false;
	const rs_rr_t *old = rs_zone_rrs(zone) + b;
	for (size_t i = 0; i < count; i++)
		if (old[i].ttl != ttl || old[i].rdlen != rrs[i].rdlen ||
		    memcmp(old[i].rdata, rrs[i].rdata, rrs[i].rdlen) != 0)
			return false;
	return true;
}

/* Keep a record written at this name for the ZONEMD stream (its RDATA is copied: RRSIGs are made on the stack). */
static int md_collect(worker_t *w, uint16_t type, uint32_t ttl, const uint8_t *rdata, size_t len)
{
	if (!w->c->zonemd)
		return RS_EOK;
	if (w->nrecs == w->caprecs) {
		size_t cap = w->caprecs ? 2 * w->caprecs : 64;
		mdrec_t *r = realloc(w->recs, cap * sizeof(*r));
		if (r == NULL)
			return RS_ENOMEM;
		w->recs = r;
		w->caprecs = cap;
	}
	w->recs[w->nrecs++] = (mdrec_t){ .type = type, .len = (uint16_t)len, .ttl = ttl, .off = w->recdata.len };
	return rs_buf_append(&w->recdata, rdata, len);
}

static int md_cmp(const void *a, const void *b)
{
	const mdrec_t *x = a, *y = b;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return rs_rdata_cmp(x->rdata, x->len, y->rdata, y->len);
}

/*
 * The name is written: its records go into the chunk's stream in canonical
 * order (RFC 8976 3.3.1: by type, the RRSIGs as one RRset by RDATA), which
 * is not the order of the text (the SOA first, each RRset's RRSIGs after it).
 */
static int md_flush(worker_t *w, const uint8_t *owner)
{
	if (!w->c->zonemd)
		return RS_EOK;
	for (size_t i = 0; i < w->nrecs; i++)
		w->recs[i].rdata = w->recdata.data + w->recs[i].off;
	qsort(w->recs, w->nrecs, sizeof(*w->recs), md_cmp);
	int ret = RS_EOK;
	for (size_t i = 0; i < w->nrecs && ret == RS_EOK; i++)
		ret = rs_zonemd_wire(w->wire, owner, w->recs[i].type, w->recs[i].ttl, w->recs[i].rdata, w->recs[i].len);
	w->nrecs = 0;
	w->recdata.len = 0;
	return ret;
}

/* Is the RRset the same (TTL and RDATA, both in canonical order) at the previous zone's node? */
static bool unchanged(const worker_t *w, uint16_t type, uint32_t ttl, const rs_rr_t *rrs, size_t count)
{
	return sign_rrset_same(w->c->opts->previous, w->prev, type, ttl, rrs, count);
}

size_t sign_head(uint8_t *rdata, const rs_zone_t *zone, const rs_sign_opts_t *opts, uint16_t type,
		 unsigned labels, uint32_t ttl)
{
	const rs_name_t *origin = rs_zone_origin(zone);
	rs_put16(rdata, type);
	rdata[3] = (uint8_t)labels;
	rs_put32(rdata + 4, ttl);
	rs_put32(rdata + 8, (uint32_t)opts->expiration);
	rs_put32(rdata + 12, (uint32_t)opts->inception);
	memcpy(rdata + 18, rs_name_wire(origin), origin->wire_len);
	return 18 + origin->wire_len;
}

int sign_rrsig(rs_signer_t *signer, const rs_key_t *key, rs_buf_t *data, uint8_t *rdata, size_t head,
	       const uint8_t *owner, uint16_t type, uint32_t ttl, const rs_rr_t *rrs, size_t count, size_t *len)
{
	rdata[2] = (uint8_t)rs_key_alg(key);
	rs_put16(rdata + 16, rs_key_tag(key));
	data->len = 0;
	int ret = rs_sign_data(data, rdata, head, owner, type, ttl, rrs, count);
	size_t sig_len = 0;
	if (ret == RS_EOK)
		ret = rs_signer_sign(signer, data->data, data->len, rdata + head, &sig_len);
	*len = head + sig_len;
	return ret;
}

void sign_ttls(const rs_zone_t *zone, const rs_sign_opts_t *opts, uint32_t *dnskey_ttl, uint32_t *nsec_ttl)
{
	const rs_rr_t *soa = rs_zone_soa(zone);
	*dnskey_ttl = opts->dnskey_ttl ? opts->dnskey_ttl : soa->ttl;
	uint32_t minimum = rs_get32(soa->rdata + soa->rdlen - 4);
	*nsec_ttl = opts->nsec_ttl_set ? opts->nsec_ttl
		  : minimum < soa->ttl ? minimum : soa->ttl; /* RFC 9077 */
}

int sign_roles(rs_key_t *const *keys, size_t nkeys, const rs_sign_opts_t *opts, rs_key_role_t *roles,
	       rs_diag_t *diag)
{
	if (nkeys == 0)
		return rs_diag(diag, RS_ENOKEY, "no keys to sign with");
	if (nkeys > MAX_KEYS)
		return rs_diag(diag, RS_ELIMIT, "more than %d keys", MAX_KEYS);
	if (opts->roles != NULL)
		memcpy(roles, opts->roles, nkeys * sizeof(roles[0]));
	else
		rs_sign_roles(keys, nkeys, roles);
	return RS_EOK;
}

static int64_t spread_share(const uint8_t *owner, uint16_t type, uint32_t expiration, int64_t spread)
{
	if (spread <= 0)
		return 0;
	uint32_t h = 2166136261u; /* FNV-1a of the owner, case folded, the type and the expiration */
	for (size_t i = 0, n = rs_dname_len(owner, RS_NAME_MAX); i < n; i++) {
		uint8_t c = owner[i] >= 'A' && owner[i] <= 'Z' ? (uint8_t)(owner[i] + 32) : owner[i];
		h = (h ^ c) * 16777619u;
	}
	uint8_t tail[6] = { (uint8_t)(type >> 8), (uint8_t)type, (uint8_t)(expiration >> 24), (uint8_t)(expiration >> 16),
			    (uint8_t)(expiration >> 8), (uint8_t)expiration };
	for (size_t i = 0; i < sizeof(tail); i++)
		h = (h ^ tail[i]) * 16777619u;
	h ^= h >> 15; /* FNV's last octets reach only the low bits */
	h *= 0x2c1b3c6dU;
	h ^= h >> 12;
	return (int64_t)(h % (uint64_t)spread);
}

bool sign_sig_lasts(const rs_sign_opts_t *opts, const uint8_t *owner, uint16_t type, const uint8_t *rrsig)
{
	uint32_t expiration = rs_get32(rrsig + 8);
	if ((int32_t)((uint32_t)opts->reuse_latest - expiration) < 0)
		return false;
	/* Outside the spread no share can change the answer: no hash (a refresh looks at every signature). */
	if ((int32_t)(expiration - (uint32_t)(opts->reuse_until + opts->reuse_spread)) > 0)
		return true;
	if ((int32_t)(expiration - (uint32_t)opts->reuse_until) <= 0)
		return false;
	uint32_t until = (uint32_t)(opts->reuse_until + spread_share(owner, type, expiration, opts->reuse_spread));
	return (int32_t)(expiration - until) > 0 && (int32_t)((uint32_t)opts->reuse_latest - expiration) >= 0;
}

/* An RRSIG at the previous node over type by the key of head (algorithm, tag, labels, TTL) valid long enough. */
static const rs_rr_t *reusable(const worker_t *w, const uint8_t *owner, uint16_t type, const uint8_t *head,
			       size_t head_len)
{
	const rs_zone_t *prev = w->c->opts->previous;
	uint32_t b, e;
	if (!rs_node_rrset(prev, w->prev, RS_TYPE_RRSIG, &b, &e))
		return NULL;
	const rs_rr_t *sigs = rs_zone_rrs(prev);
	for (uint32_t i = b; i < e; i++) {
		const uint8_t *r = sigs[i].rdata;
		/* Type covered, algorithm, labels and original TTL (0-7), then tag and signer (16-). */
		if (sigs[i].rdlen > head_len && memcmp(r, head, 8) == 0 && memcmp(r + 16, head + 16, head_len - 16) == 0 &&
		    sign_sig_lasts(w->c->opts, owner, type, r))
			return &sigs[i];
	}
	return NULL;
}

static int sign_rrset(worker_t *w, rs_buf_t *out, const uint8_t *owner, unsigned labels,
		      uint16_t type, uint32_t ttl, const rs_rr_t *rrs, size_t count)
{
	ctx_t *c = w->c;
	uint8_t rdata[18 + RS_NAME_MAX + RS_SIG_MAX];
	size_t head = sign_head(rdata, c->zone, c->opts, type, labels, ttl);
	bool reuse = c->opts->previous != NULL && unchanged(w, type, ttl, rrs, count);
	for (size_t k = 0; k < c->nkeys; k++) {
		const rs_key_role_t *role = &c->roles[k];
		if (!sign_role_covers(role, type))
			continue;
		rdata[2] = (uint8_t)rs_key_alg(role->key);
		rs_put16(rdata + 16, rs_key_tag(role->key));
		const rs_rr_t *old = reuse && !c->fresh[k] ? reusable(w, owner, type, rdata, head) : NULL;
		if (old != NULL) {
			int ret = rs_rr_format(out, w->owner_text, NULL, ttl, RS_TYPE_RRSIG, old->rdata, old->rdlen);
			if (ret == RS_EOK)
				ret = md_collect(w, RS_TYPE_RRSIG, ttl, old->rdata, old->rdlen);
			if (ret != RS_EOK)
				return ret;
			w->stats.signatures++;
			w->stats.reused++;
			w->stats.records++;
			continue;
		}
		size_t len;
		int ret = sign_rrsig(w->signer[k], role->key, &w->data, rdata, head, owner, type, ttl, rrs, count,
				     &len);
		if (ret == RS_EOK)
			ret = rs_rr_format(out, w->owner_text, NULL, ttl, RS_TYPE_RRSIG, rdata, len);
		if (ret == RS_EOK)
			ret = md_collect(w, RS_TYPE_RRSIG, ttl, rdata, len);
		if (ret != RS_EOK)
			return ret;
		w->stats.signatures++;
		w->stats.records++;
	}
	return RS_EOK;
}

static int put_rrset(worker_t *w, rs_buf_t *out, const uint8_t *owner, unsigned labels, uint16_t type,
		     uint32_t ttl, const rs_rr_t *rrs, size_t count, bool sign)
{
	for (size_t i = 0; i < count; i++) {
		int ret = rs_rr_format(out, w->owner_text, NULL, ttl, type, rrs[i].rdata, rrs[i].rdlen);
		if (ret == RS_EOK)
			ret = md_collect(w, type, ttl, rrs[i].rdata, rrs[i].rdlen);
		if (ret != RS_EOK)
			return ret;
	}
	w->stats.records += count;
	return sign ? sign_rrset(w, out, owner, labels, type, ttl, rrs, count) : RS_EOK;
}

static int do_node(worker_t *w, rs_buf_t *out, uint32_t index)
{
	ctx_t *c = w->c;
	const rs_node_t *node = &c->nodes[index];
	const uint8_t *owner = rs_name_wire(node->name);
	unsigned labels = sign_labels(node->name);
	if (rs_name_format(rs_name_written(node->name), w->owner_text, sizeof(w->owner_text)) < 0)
		return RS_EINVAL;
	w->stats.names++;
	w->prev = c->opts->previous ? rs_zone_find(c->opts->previous, rs_name_key(node->name), node->name->key_len)
				    : NULL;

	/* Records made here: NSEC in NSEC zones, NSEC3PARAM at an NSEC3 apex. */
	uint8_t synth_rdata[RS_NAME_MAX + 8704];
	rs_rr_t synth = { .rdata = synth_rdata };
	uint16_t synth_type = 0;
	if (!c->opts->nsec3 && c->nsec_next[index] != RS_NO_NODE) {
		int len = rs_nsec_rdata(c->zone, node, &c->nodes[c->nsec_next[index]], synth_rdata);
		if (len < 0)
			return len;
		synth.rdlen = (uint16_t)len;
		synth_type = RS_TYPE_NSEC;
		w->stats.nsec++;
	} else if (c->opts->nsec3 && (node->flags & RS_NODE_APEX)) {
		memcpy(synth_rdata, c->nsec3param, c->nsec3param_len);
		synth.rdlen = (uint16_t)c->nsec3param_len;
		synth_type = RS_TYPE_NSEC3PARAM;
	}

	const rs_rr_t *rr = c->rrs + node->first;
	/*
	 * The file starts with the SOA, as validns requires and as the other
	 * signers write it; the rest of the apex stays in canonical order.
	 */
	bool apex = node->flags & RS_NODE_APEX;
	if (apex) {
		const rs_rr_t *soa = rs_zone_soa(c->zone);
		int ret = put_rrset(w, out, owner, labels, RS_TYPE_SOA, soa->ttl, soa, 1, true);
		if (ret != RS_EOK)
			return ret;
	}
	uint32_t i = 0;
	while (i < node->count || synth_type != 0) {
		if (synth_type != 0 && (i == node->count || rr[i].type > synth_type)) {
			uint32_t ttl = synth_type == RS_TYPE_NSEC ? c->nsec_ttl : 0;
			int ret = put_rrset(w, out, owner, labels, synth_type, ttl, &synth, 1, true);
			if (ret != RS_EOK)
				return ret;
			synth_type = 0;
			continue;
		}
		uint32_t j = i + 1;
		while (j < node->count && rr[j].type == rr[i].type)
			j++;
		uint16_t type = rr[i].type;
		/* The SOA went first; a ZONEMD template is filled in and written when the digest is done. */
		if (apex && (type == RS_TYPE_SOA || (type == RS_TYPE_ZONEMD && c->zonemd))) {
			i = j;
			continue;
		}
		uint32_t ttl = type == RS_TYPE_DNSKEY ? c->dnskey_ttl : rr[i].ttl;
		int ret = put_rrset(w, out, owner, labels, type, ttl, rr + i, j - i,
				    rs_rrset_is_signed(node, type));
		if (ret != RS_EOK)
			return ret;
		i = j;
	}
	return md_flush(w, owner);
}

static int do_nsec3(worker_t *w, rs_buf_t *out, uint32_t index)
{
	ctx_t *c = w->c;
	const rs_nsec3_chain_t *chain = &c->chain;
	const rs_nsec3_entry_t *e = &chain->entries[index];
	const rs_nsec3_entry_t *next = &chain->entries[(index + 1) % chain->count];
	uint8_t owner[RS_NAME_MAX];
	int olen = rs_nsec3_owner(e->hash, rs_zone_origin(c->zone), owner);
	if (olen < 0)
		return olen;
	if (rs_name_format(owner, w->owner_text, sizeof(w->owner_text)) < 0)
		return RS_EINVAL;
	if (c->opts->previous != NULL) {
		uint8_t key[RS_KEY_MAX];
		size_t klen = rs_dname_key(owner, key);
		w->prev = rs_zone_find(c->opts->previous, key, klen);
	}

	uint8_t rdata[300 + 8704];
	const rs_nsec3_params_t *p = &chain->params;
	rdata[0] = 1;
	rdata[1] = p->opt_out ? 1 : 0;
	rs_put16(rdata + 2, p->iterations);
	rdata[4] = p->salt_len;
	memcpy(rdata + 5, p->salt, p->salt_len);
	size_t pos = 5 + (size_t)p->salt_len;
	rdata[pos++] = 20;
	memcpy(rdata + pos, next->hash, 20);
	pos += 20;
	if (e->node != RS_NO_NODE) {
		const rs_node_t *node = &c->nodes[e->node];
		uint16_t types[512];
		size_t nt = rs_node_types(c->zone, node, true,
					  (node->flags & RS_NODE_APEX) ? RS_TYPE_NSEC3PARAM : 0, types);
		if (nt == 512) { /* too many types: the message names the name, not its hash */
			const uint8_t *name = rs_name_written(node->name);
			rs_name_format(name, w->owner_text, sizeof(w->owner_text));
			return RS_ELIMIT;
		}
		pos += rs_bitmap_write(types, nt, rdata + pos);
	}
	rs_rr_t rr = { .rdata = rdata, .rdlen = (uint16_t)pos };
	w->stats.names++;
	w->stats.nsec++;
	int ret = put_rrset(w, out, owner, rs_dname_labels(owner), RS_TYPE_NSEC3, c->nsec_ttl, &rr, 1, true);
	return ret == RS_EOK ? md_flush(w, owner) : ret;
}

static void fail(ctx_t *c, int code, const rs_diag_t *diag)
{
	pthread_mutex_lock(&c->lock);
	if (c->error == RS_EOK) {
		c->error = code;
		c->diag = *diag;
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void *work(void *arg)
{
	worker_t *w = arg;
	ctx_t *c = w->c;
	for (;;) {
		pthread_mutex_lock(&c->lock);
		while (c->error == RS_EOK && c->next < c->nchunks && c->next >= c->written + c->window)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->error != RS_EOK || c->next >= c->nchunks) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		size_t chunk = c->next++;
		pthread_mutex_unlock(&c->lock);

		/* Slot chunk % window was written out before this chunk could be claimed. */
		rs_buf_t *out = &c->bufs[chunk % c->window];
		out->len = 0;
		if (c->zonemd) {
			w->wire = &c->wires[chunk % c->window];
			w->wire->len = 0;
		}
		size_t end = (chunk + 1) * CHUNK_NAMES;
		if (end > c->nentries)
			end = c->nentries;
		int ret = RS_EOK;
		for (size_t i = chunk * CHUNK_NAMES; i < end && ret == RS_EOK; i++) {
			const entry_t *e = &c->entries[i];
			ret = e->nsec3 ? do_nsec3(w, out, e->index) : do_node(w, out, e->index);
		}
		if (ret != RS_EOK) {
			rs_diag_t d;
			rs_diag(&d, ret, "cannot sign '%s': %s", w->owner_text, rs_strerror(ret));
			fail(c, ret, &d);
			break;
		}
		pthread_mutex_lock(&c->lock);
		c->done[chunk] = true;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
	}
	return NULL;
}

/* Output order: zone nodes merged with NSEC3 records, which are children of the apex. */
static int build_entries(ctx_t *c)
{
	size_t nnodes;
	rs_zone_nodes(c->zone, &nnodes);
	size_t n3 = c->opts->nsec3 ? c->chain.count : 0;
	c->entries = malloc((nnodes + n3) * sizeof(entry_t));
	if (c->entries == NULL)
		return RS_ENOMEM;
	const rs_name_t *origin = rs_zone_origin(c->zone);
	uint8_t key[RS_KEY_MAX];
	memcpy(key, rs_name_key(origin), origin->key_len);
	size_t klen = origin->key_len + 33;
	key[klen - 1] = 0;
	size_t a = 0, b = 0, o = 0;
	while (a < nnodes || b < n3) {
		bool take_node = b == n3;
		if (!take_node && a < nnodes) {
			rs_base32hex_encode(c->chain.entries[b].hash, 20, (char *)key + origin->key_len);
			key[klen - 1] = 0;
			const rs_name_t *nn = c->nodes[a].name;
			size_t min = nn->key_len < klen ? nn->key_len : klen;
			int r = memcmp(rs_name_key(nn), key, min);
			take_node = r < 0 || (r == 0 && nn->key_len <= klen);
		}
		if (take_node)
			c->entries[o++] = (entry_t){ (uint32_t)a++, false };
		else
			c->entries[o++] = (entry_t){ (uint32_t)b++, true };
	}
	c->nentries = o;
	return RS_EOK;
}

/*
 * Key tags collide (RFC 4034 Appendix B): another key with this key's tag and
 * algorithm in the previous zone's DNSKEY RRset made RRSIGs that look like
 * this key's own. True if there was one.
 */
static bool tag_was_other_key(const rs_zone_t *prev, const rs_key_t *key)
{
	size_t n, len;
	const rs_node_t *apex = rs_zone_nodes(prev, &n);
	uint32_t b, e;
	if (n == 0 || !rs_node_rrset(prev, apex, RS_TYPE_DNSKEY, &b, &e))
		return false;
	const uint8_t *dnskey = rs_key_dnskey(key, &len);
	const rs_rr_t *rr = rs_zone_rrs(prev);
	for (uint32_t i = b; i < e; i++)
		if (rr[i].rdlen > 4 && rr[i].rdata[3] == rs_key_alg(key) &&
		    rs_keytag(rr[i].rdata, rr[i].rdlen) == rs_key_tag(key) &&
		    (rr[i].rdlen != len || memcmp(rr[i].rdata, dnskey, len) != 0))
			return true;
	return false;
}

static int setup(ctx_t *c, rs_key_t *const *keys, size_t nkeys, rs_diag_t *diag)
{
	int ret = sign_roles(keys, nkeys, c->opts, c->roles, diag);
	if (ret != RS_EOK)
		return ret;
	c->nkeys = nkeys;
	for (size_t k = 0; c->opts->previous != NULL && k < nkeys; k++)
		c->fresh[k] = tag_was_other_key(c->opts->previous, keys[k]);
	size_t n;
	c->nodes = rs_zone_nodes(c->zone, &n);
	c->rrs = rs_zone_rrs(c->zone);
	sign_ttls(c->zone, c->opts, &c->dnskey_ttl, &c->nsec_ttl);
	if (c->opts->nsec3) {
		ret = rs_nsec3_build(c->zone, &c->opts->nsec3_params, &c->chain, diag);
		if (ret != RS_EOK)
			return ret;
		c->nsec3param_len = rs_nsec3param_rdata(&c->opts->nsec3_params, c->nsec3param);
	} else if ((ret = rs_nsec_chain(c->zone, &c->nsec_next)) != RS_EOK) {
		return rs_diag(diag, ret, "out of memory");
	}
	if ((ret = build_entries(c)) != RS_EOK)
		return rs_diag(diag, ret, "out of memory");
	if (c->opts->zonemd) {
		uint32_t b, e;
		uint8_t hashes[RS_ZONEMD_HASHES];
		size_t nh = rs_zonemd_hashes(c->zone, hashes);
		if (n == 0 || !rs_node_rrset(c->zone, &c->nodes[0], RS_TYPE_ZONEMD, &b, &e) || nh != e - b)
			return rs_diag(diag, RS_EINVAL, "no ZONEMD template at the apex (rs_zonemd_prepare)");
		c->zonemd = true;
		c->zmd = c->rrs + b;
		c->nzmd = e - b;
		if ((ret = rs_zonemd_new(hashes, nh, &c->md)) != RS_EOK)
			return rs_diag(diag, ret, "cannot start the ZONEMD digest: %s", rs_strerror(ret));
		c->wires = calloc(c->window, sizeof(rs_buf_t));
		if (c->wires == NULL)
			return rs_diag(diag, RS_ENOMEM, "out of memory");
		for (size_t i = 0; i < c->window; i++)
			rs_buf_init(&c->wires[i], CHUNK_BUF_MAX);
	}
	c->nchunks = (c->nentries + CHUNK_NAMES - 1) / CHUNK_NAMES;
	c->bufs = calloc(c->window, sizeof(rs_buf_t));
	c->done = calloc(c->nchunks + 1, sizeof(bool));
	if (c->bufs == NULL || c->done == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	for (size_t i = 0; i < c->window; i++)
		rs_buf_init(&c->bufs[i], CHUNK_BUF_MAX);
	return RS_EOK;
}

/*
 * Write a chunk: straight to the file descriptor, past stdio's buffer, which
 * would only add a copy of every byte of the zone.
 */
static bool write_all(FILE *out, const uint8_t *data, size_t len)
{
	int fd = fileno(out);
	if (fd < 0 || fflush(out) != 0)
		return fwrite(data, 1, len, out) == len;
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

static void add_stats(rs_sign_stats_t *to, const rs_sign_stats_t *from)
{
	to->signatures += from->signatures;
	to->reused += from->reused;
	to->nsec += from->nsec;
	to->records += from->records;
	to->names += from->names;
	to->zonemd += from->zonemd;
}

/*
 * The ZONEMD RRset once the rest of the zone is written and digested: the
 * templates with the SOA serial and the digests, then their RRSIGs by the
 * keys that sign data, written at the end of the file (a reader sorts it).
 */
static int write_zonemd(ctx_t *c, rs_signer_t *const *signer, FILE *out, rs_sign_stats_t *stats, rs_diag_t *diag)
{
	const rs_rr_t *soa = rs_zone_soa(c->zone);
	uint32_t serial = rs_get32(soa->rdata + soa->rdlen - 20);
	uint8_t rdata[RS_ZONEMD_HASHES][6 + RS_ZONEMD_DIGEST_MAX];
	rs_rr_t rrs[RS_ZONEMD_HASHES];
	const rs_name_t *origin = rs_zone_origin(c->zone);
	char owner[1024];
	rs_name_format(rs_name_written(origin), owner, sizeof(owner));
	rs_buf_t text, data;
	rs_buf_init(&text, 1 << 20);
	rs_buf_init(&data, 1 << 20);
	int ret = RS_EOK;
	uint32_t ttl = c->zmd[0].ttl;
	for (size_t i = 0; i < c->nzmd && ret == RS_EOK; i++) {
		uint8_t digest[RS_ZONEMD_DIGEST_MAX];
		size_t len = 0;
		ret = rs_zonemd_final(c->md, c->zmd[i].rdata[5], digest, &len);
		rrs[i] = c->zmd[i];
		rrs[i].rdata = rdata[i];
		rrs[i].rdlen = (uint16_t)rs_zonemd_rdata(serial, c->zmd[i].rdata[5], digest, len, rdata[i]);
		if (ret == RS_EOK)
			ret = rs_rr_format(&text, owner, NULL, ttl, RS_TYPE_ZONEMD, rrs[i].rdata, rrs[i].rdlen);
		stats->records++;
		stats->zonemd++;
	}
	uint8_t sig[18 + RS_NAME_MAX + RS_SIG_MAX];
	size_t head = sign_head(sig, c->zone, c->opts, RS_TYPE_ZONEMD, sign_labels(origin), ttl);
	for (size_t k = 0; k < c->nkeys && ret == RS_EOK; k++) {
		if (!sign_role_covers(&c->roles[k], RS_TYPE_ZONEMD))
			continue;
		size_t len;
		ret = sign_rrsig(signer[k], c->roles[k].key, &data, sig, head, rs_name_wire(origin), RS_TYPE_ZONEMD, ttl,
				 rrs, c->nzmd, &len);
		if (ret == RS_EOK)
			ret = rs_rr_format(&text, owner, NULL, ttl, RS_TYPE_RRSIG, sig, len);
		stats->signatures++;
		stats->records++;
	}
	if (ret != RS_EOK)
		rs_diag(diag, ret, "cannot make the ZONEMD record: %s", rs_strerror(ret));
	else if (!write_all(out, text.data, text.len))
		ret = rs_diag(diag, RS_EIO, "cannot write the signed zone: %s", strerror(errno));
	rs_buf_clear(&text);
	rs_buf_clear(&data);
	return ret;
}

int rs_sign_zone(const rs_zone_t *zone, rs_key_t *const *keys, size_t nkeys,
		 const rs_sign_opts_t *opts, FILE *out, rs_sign_stats_t *stats, rs_diag_t *diag)
{
	ctx_t c = { .zone = zone, .opts = opts };
	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.cond, NULL);
	unsigned threads = opts->threads ? opts->threads : rs_cpu_count();
	if (threads > 64)
		threads = 64;
	worker_t *w = calloc(threads, sizeof(*w));
	pthread_t *tid = calloc(threads, sizeof(*tid));
	unsigned started = 0;
	c.window = 4 * (size_t)threads + 4;
	int ret = w != NULL && tid != NULL ? setup(&c, keys, nkeys, diag)
					   : rs_diag(diag, RS_ENOMEM, "out of memory");
	for (unsigned t = 0; ret == RS_EOK && t < threads; t++) {
		w[t].c = &c;
		rs_buf_init(&w[t].data, (size_t)1 << 28);
		rs_buf_init(&w[t].recdata, (size_t)1 << 28);
		for (size_t k = 0; k < nkeys && ret == RS_EOK; k++) {
			ret = rs_signer_new(keys[k], &w[t].signer[k]);
			if (ret != RS_EOK)
				rs_diag(diag, ret, "cannot use key %u: %s", rs_key_tag(keys[k]), rs_strerror(ret));
		}
	}
	for (unsigned t = 0; ret == RS_EOK && t < threads; t++) {
		if (pthread_create(&tid[t], NULL, work, &w[t]) != 0) {
			if (started > 0)
				break; /* fewer threads than asked for still finish the work */
			ret = rs_diag(diag, RS_ENOMEM, "cannot start a signing thread");
			break;
		}
		started++;
	}

	/* Write finished chunks in order while the workers run ahead. */
	for (size_t i = 0; ret == RS_EOK && started > 0 && i < c.nchunks; i++) {
		pthread_mutex_lock(&c.lock);
		while (!c.done[i] && c.error == RS_EOK)
			pthread_cond_wait(&c.cond, &c.lock);
		pthread_mutex_unlock(&c.lock);
		if (c.error != RS_EOK)
			break;
		rs_buf_t *buf = &c.bufs[i % c.window];
		if (!write_all(out, buf->data, buf->len)) {
			rs_diag_t d;
			rs_diag(&d, RS_EIO, "cannot write the signed zone: %s", strerror(errno));
			fail(&c, RS_EIO, &d);
			break;
		}
		/* The writer digests the chunk it wrote: the workers cannot, the hash wants zone order. */
		if (c.zonemd && rs_zonemd_update(c.md, c.wires[i % c.window].data, c.wires[i % c.window].len) != RS_EOK) {
			rs_diag_t d;
			rs_diag(&d, RS_ECRYPTO, "cannot compute the ZONEMD digest");
			fail(&c, RS_ECRYPTO, &d);
			break;
		}
		pthread_mutex_lock(&c.lock);
		c.written = i + 1;
		pthread_cond_broadcast(&c.cond);
		pthread_mutex_unlock(&c.lock);
		if (opts->progress != NULL)
			opts->progress(opts->progress_arg, i + 1, c.nchunks);
	}
	for (unsigned t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
	if (ret == RS_EOK && c.error != RS_EOK) {
		ret = c.error;
		if (diag != NULL)
			*diag = c.diag;
	}
	rs_sign_stats_t total = { 0 };
	for (unsigned t = 0; w != NULL && t < threads; t++)
		add_stats(&total, &w[t].stats);
	if (ret == RS_EOK && c.zonemd)
		ret = write_zonemd(&c, w[0].signer, out, &total, diag);
	for (unsigned t = 0; w != NULL && t < threads; t++) {
		free(w[t].recs);
		rs_buf_clear(&w[t].recdata);
		for (size_t k = 0; k < nkeys; k++)
			rs_signer_free(w[t].signer[k]);
		rs_buf_clear(&w[t].data);
	}
	if (ret == RS_EOK && stats != NULL)
		*stats = total;
	for (size_t i = 0; c.bufs != NULL && i < c.window; i++)
		rs_buf_clear(&c.bufs[i]);
	for (size_t i = 0; c.wires != NULL && i < c.window; i++)
		rs_buf_clear(&c.wires[i]);
	free(c.wires);
	rs_zonemd_free(c.md);
	free(c.bufs);
	free(c.done);
	free(c.entries);
	free(c.nsec_next);
	rs_nsec3_chain_clear(&c.chain);
	free(w);
	free(tid);
	pthread_mutex_destroy(&c.lock);
	pthread_cond_destroy(&c.cond);
	return ret;
}
