/*
 * A model of caching validating resolvers: every mix of RRset versions a
 * cache can hold at one instant must validate (see policy.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/crypto.h"
#include "regsign/policy.h"

typedef struct {
	int64_t start, end;
	int64_t linger;       /* propagation + TTL when it was served */
	rs_model_set_t keys;  /* DS: keys with a DS at the parent; DNSKEY: the RRset; data: unused */
	rs_model_set_t signers; /* DNSKEY: keys signing the DNSKEY RRset; data: keys signing the data */
} version_t;

typedef struct {
	version_t *v;
	size_t n, cap;
} history_t;

struct rs_model {
	rs_model_opts_t o;
	history_t ds, dnskey, data;
};

void rs_model_lingers(const rs_policy_t *p, uint32_t soa_ttl, int64_t extra, rs_model_opts_t *out)
{
	out->ds_linger = p->parent_propagation + p->parent_ds_ttl + extra;
	out->dnskey_linger = p->zone_propagation + rs_policy_dnskey_ttl(p, soa_ttl) + extra;
	out->data_linger = p->zone_propagation + p->max_zone_ttl + extra;
}

void rs_model_set_add(rs_model_set_t *set, uint16_t tag, int alg)
{
	if (set->n < RS_MODEL_SET_MAX)
		set->keys[set->n++] = (rs_model_key_t){ tag, (uint8_t)alg };
}

static bool contains(const rs_model_set_t *m, uint16_t tag, int alg)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->keys[i].tag == tag && m->keys[i].alg == alg)
			return true;
	return false;
}

static bool same(const rs_model_set_t *a, const rs_model_set_t *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!contains(b, a->keys[i].tag, a->keys[i].alg))
			return false;
	return true;
}

int rs_model_new(const rs_model_opts_t *opts, rs_model_t **out)
{
	rs_model_t *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return RS_ENOMEM;
	m->o = *opts;
	*out = m;
	return RS_EOK;
}

void rs_model_set_lingers(rs_model_t *m, const rs_model_opts_t *opts)
{
	m->o = *opts;
}

void rs_model_free(rs_model_t *m)
{
	if (m == NULL)
		return;
	free(m->ds.v);
	free(m->dnskey.v);
	free(m->data.v);
	free(m);
}

static int record(history_t *h, int64_t now, int64_t linger, const rs_model_set_t *keys,
		  const rs_model_set_t *signers, bool *changed)
{
	if (h->n > 0) {
		version_t *last = &h->v[h->n - 1];
		if (same(&last->keys, keys) && same(&last->signers, signers))
			return RS_EOK;
		last->end = now;
	}
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		version_t *v = realloc(h->v, cap * sizeof(*v));
		if (v == NULL)
			return RS_ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n++] = (version_t){ now, INT64_MAX, linger, *keys, *signers };
	*changed = true;
	return RS_EOK;
}

int rs_model_parent(rs_model_t *m, int64_t when, const rs_model_set_t *ds)
{
	bool changed = false;
	return record(&m->ds, when, m->o.ds_linger, ds, &(rs_model_set_t){ 0 }, &changed);
}

int rs_model_zone(rs_model_t *m, int64_t when, const rs_model_set_t *dnskey, const rs_model_set_t *key_signers,
		  const rs_model_set_t *data_signers, bool *changed)
{
	*changed = false;
	int ret = record(&m->dnskey, when, m->o.dnskey_linger, dnskey, key_signers, changed);
	if (ret == RS_EOK)
		ret = record(&m->data, when, m->o.data_linger, &(rs_model_set_t){ 0 }, data_signers, changed);
	return ret;
}

/* Does a validator holding these three versions get a secure answer? Fills why if not. */
static bool validates(const version_t *ds, const version_t *dk, const version_t *data, char *why, size_t max)
{
	if (ds->keys.n == 0)
		return true; /* no DS: the zone is insecure, never bogus */
	/* Every algorithm of the DS RRset leads to a DNSKEY that signs the DNSKEY RRset. */
	for (size_t i = 0; i < ds->keys.n; i++) {
		int alg = ds->keys.keys[i].alg;
		bool ok = false;
		for (size_t j = 0; j < ds->keys.n && !ok; j++) {
			const rs_model_key_t *x = &ds->keys.keys[j];
			ok = x->alg == alg && contains(&dk->keys, x->tag, x->alg) && contains(&dk->signers, x->tag, x->alg);
		}
		if (!ok) {
			snprintf(why, max, "no %s DNSKEY both matches a cached DS and signs the DNSKEY RRset",
				 rs_alg_name(alg));
			return false;
		}
	}
	/* Every algorithm of the DNSKEY RRset signs the RRsets (RFC 4035 2.2). */
	for (size_t i = 0; i < dk->keys.n; i++) {
		int alg = dk->keys.keys[i].alg;
		bool data_ok = false, keys_ok = false;
		for (size_t j = 0; j < data->signers.n && !data_ok; j++) {
			const rs_model_key_t *z = &data->signers.keys[j];
			data_ok = z->alg == alg && contains(&dk->keys, z->tag, z->alg);
		}
		for (size_t j = 0; j < dk->signers.n && !keys_ok; j++)
			keys_ok = dk->signers.keys[j].alg == alg;
		if (!data_ok || !keys_ok) {
			snprintf(why, max, "no %s signature on the %s from a key of the cached DNSKEY RRset",
				 rs_alg_name(alg), data_ok ? "DNSKEY RRset" : "zone data");
			return false;
		}
	}
	return true;
}

static void list_members(const rs_model_set_t *m, char *out, size_t max)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < m->n && o < max; i++)
		o += (size_t)snprintf(out + o, max - o, "%s%u", i ? "," : "", m->keys[i].tag);
	if (m->n == 0)
		snprintf(out, max, "-");
}

/* The version can be in a cache until its end plus propagation plus the TTL it was served with. */
static int64_t window_end(const version_t *v)
{
	return v->end == INT64_MAX ? INT64_MAX : v->end + v->linger;
}

static void day_text(int64_t t, char out[32])
{
	char ts[15];
	rs_time_format(t, ts);
	snprintf(out, 32, "%.4s-%.2s-%.2s %.2s:%.2s", ts, ts + 4, ts + 6, ts + 8, ts + 10);
}

int rs_model_check(const rs_model_t *m, rs_buf_t *report, uint64_t *combinations, uint64_t *bogus)
{
	/* A zone whose parent never served a DS is insecure throughout. */
	const version_t none = { INT64_MIN, INT64_MAX, 0, { 0 }, { 0 } };
	const version_t *dsv = m->ds.n > 0 ? m->ds.v : &none;
	size_t nds = m->ds.n > 0 ? m->ds.n : 1;
	for (size_t a = 0; a < nds; a++) {
		const version_t *d = &dsv[a];
		int64_t d_end = window_end(d);
		for (size_t b = 0; b < m->dnskey.n; b++) {
			const version_t *k = &m->dnskey.v[b];
			int64_t k_end = window_end(k);
			int64_t lo = d->start > k->start ? d->start : k->start;
			int64_t hi = d_end < k_end ? d_end : k_end;
			if (lo >= hi)
				continue;
			for (size_t c = 0; c < m->data.n; c++) {
				const version_t *z = &m->data.v[c];
				int64_t z_end = window_end(z);
				int64_t from = lo > z->start ? lo : z->start;
				if (from >= (hi < z_end ? hi : z_end))
					continue;
				(*combinations)++;
				char why[160];
				if (validates(d, k, z, why, sizeof(why)))
					continue;
				(*bogus)++;
				char day[32], dsl[96], kl[96], zl[96];
				day_text(from, day);
				list_members(&d->keys, dsl, sizeof(dsl));
				list_members(&k->keys, kl, sizeof(kl));
				list_members(&z->signers, zl, sizeof(zl));
				if (rs_buf_printf(report, "%s  BOGUS: %s (DS %s, DNSKEY %s, data signed by %s)\n", day, why,
						  dsl, kl, zl) != RS_EOK)
					return RS_ENOMEM;
			}
		}
	}
	return RS_EOK;
}
