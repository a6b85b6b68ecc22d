/*
 * Simulated years of key management, checked against a model of a caching
 * validating resolver.
 *
 * Each RRset the resolver can cache (the DS RRset at the parent, the DNSKEY
 * RRset with its signatures, any zone data with its signatures) goes through
 * versions: the contents served from one change to the next. A version
 * served during [start, end) can sit in a cache during [start, end +
 * propagation + TTL). A resolver can hold any mix of versions whose cache
 * windows overlap, so every such (DS, DNSKEY, data) triple must validate.
 * Only key changes make new versions; re-signing renews expirations, which
 * are checked per signing run instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/crypto.h"
#include "regsign/policy.h"

#define SET_MAX 16

typedef struct {
	uint16_t idx[SET_MAX]; /* indexes into the key set (keys are never moved or dropped) */
	uint8_t n;
} members_t;

typedef struct {
	int64_t start, end;
	int64_t linger; /* propagation + TTL when it was served */
	members_t keys;    /* DS: keys with a DS at the parent; DNSKEY: published keys; data: unused */
	members_t signers; /* DNSKEY: keys signing the DNSKEY RRset; data: keys signing the data */
} version_t;

typedef struct {
	version_t *v;
	size_t n, cap;
} history_t;

/* A record state change, for the picture. */
typedef struct {
	int64_t when;
	uint16_t key;
	uint8_t rec, state;
} change_t;

typedef struct {
	const rs_policy_t *p;
	const rs_sim_opts_t *o;
	rs_keyset_t set;
	rs_buf_t *timeline;
	rs_sim_result_t *res;
	history_t ds, dnskey, data;
	change_t *changes;
	size_t nchanges, capchanges;
	uint16_t next_tag;
} sim_t;

static bool contains(const members_t *m, uint16_t idx)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->idx[i] == idx)
			return true;
	return false;
}

static bool same(const members_t *a, const members_t *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!contains(b, a->idx[i]))
			return false;
	return true;
}

static void day_text(int64_t t, char out[32])
{
	char ts[15];
	rs_time_format(t, ts);
	snprintf(out, 32, "%.4s-%.2s-%.2s %.2s:%.2s", ts, ts + 4, ts + 6, ts + 8, ts + 10);
}

static void timeline_log(void *arg, int64_t when, const rs_keystate_t *k, const char *what)
{
	sim_t *s = arg;
	char day[32];
	day_text(when, day);
	if (k != NULL)
		rs_buf_printf(s->timeline, "%s  %s %5u %-16s %s\n", day, rs_role_name(k->role), k->tag,
			      rs_alg_name(k->alg), what);
	else
		rs_buf_printf(s->timeline, "%s  zone %s\n", day, what);
}

/* Stand-in for key generation when no real keys are wanted: tags count up. */
static int fake_key(void *arg, const rs_keyset_t *set, rs_keystate_t *key)
{
	(void)set;
	sim_t *s = arg;
	key->tag = ++s->next_tag;
	snprintf(key->locator, sizeof(key->locator), "simulated-%u", key->tag);
	return RS_EOK;
}

static int record(history_t *h, int64_t now, int64_t linger, const members_t *keys,
		  const members_t *signers, bool *changed)
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

static void add(members_t *m, size_t idx)
{
	if (m->n < SET_MAX)
		m->idx[m->n++] = (uint16_t)idx;
}

/* What the zone and the parent serve now, as versions. */
static int snapshot(sim_t *s, int64_t now, bool *zone_changed)
{
	members_t ds = { 0 }, pub = { 0 }, ksig = { 0 }, zsig = { 0 }, none = { 0 };
	for (size_t i = 0; i < s->set.count; i++) {
		const rs_keystate_t *k = &s->set.keys[i];
		/* The parent serves the DS from when it is seen (rumoured) until it is removed. */
		if (k->state[RS_REC_DS] == RS_RUMOURED || k->state[RS_REC_DS] == RS_OMNIPRESENT ||
		    k->ds == RS_DS_WITHDRAW)
			add(&ds, i);
		if (rs_keystate_published(k))
			add(&pub, i);
		if (rs_keystate_signs_keys(k))
			add(&ksig, i);
		if (rs_keystate_signs_data(k))
			add(&zsig, i);
	}
	if (pub.n > s->res->max_dnskeys)
		s->res->max_dnskeys = pub.n;
	bool ds_changed = false;
	const rs_policy_t *p = s->p;
	int64_t extra = s->o->extra_delay;
	int64_t ds_linger = p->parent_propagation + p->parent_ds_ttl + extra;
	int64_t dk_linger = p->zone_propagation + rs_policy_dnskey_ttl(p, s->set.soa_ttl) + extra;
	int64_t data_linger = p->zone_propagation + p->max_zone_ttl + extra;
	int ret = record(&s->ds, now, ds_linger, &ds, &none, &ds_changed);
	if (ret == RS_EOK)
		ret = record(&s->dnskey, now, dk_linger, &pub, &ksig, zone_changed);
	if (ret == RS_EOK)
		ret = record(&s->data, now, data_linger, &none, &zsig, zone_changed);
	if (ret == RS_EOK && *zone_changed) {
		s->res->zone_versions++;
		if (s->p->max_dnskeys != 0 && pub.n > s->p->max_dnskeys) {
			s->res->limit_breaches++;
			char day[32];
			day_text(now, day);
			rs_buf_printf(s->timeline, "%s  LIMIT: %u DNSKEYs published, the policy allows %u\n", day,
				      pub.n, s->p->max_dnskeys);
		}
	}
	return ret;
}

static int track_changes(sim_t *s, const rs_keystate_t *before, size_t nbefore, int64_t now)
{
	for (size_t i = 0; i < s->set.count; i++)
		for (int rec = 0; rec < RS_REC_COUNT; rec++) {
			int old = i < nbefore ? before[i].state[rec] : RS_HIDDEN;
			if (s->set.keys[i].state[rec] == old && i < nbefore)
				continue;
			if (i >= nbefore && s->set.keys[i].state[rec] == RS_HIDDEN)
				continue;
			if (s->nchanges == s->capchanges) {
				size_t cap = s->capchanges ? 2 * s->capchanges : 256;
				change_t *c = realloc(s->changes, cap * sizeof(*c));
				if (c == NULL)
					return RS_ENOMEM;
				s->changes = c;
				s->capchanges = cap;
			}
			s->changes[s->nchanges++] = (change_t){ now, (uint16_t)i, (uint8_t)rec,
								s->set.keys[i].state[rec] };
			s->res->events++;
		}
	return RS_EOK;
}

/* Does a validator holding these three versions get a secure answer? Fills why if not. */
static bool validates(const sim_t *s, const version_t *ds, const version_t *dk, const version_t *data,
		      char *why, size_t max)
{
	const rs_keystate_t *keys = s->set.keys;
	if (ds->keys.n == 0)
		return true; /* no DS: the zone is insecure, never bogus */
	/* Every algorithm of the DS RRset leads to a DNSKEY that signs the DNSKEY RRset. */
	for (size_t i = 0; i < ds->keys.n; i++) {
		int alg = keys[ds->keys.idx[i]].alg;
		bool ok = false;
		for (size_t j = 0; j < ds->keys.n && !ok; j++) {
			uint16_t x = ds->keys.idx[j];
			ok = keys[x].alg == alg && contains(&dk->keys, x) && contains(&dk->signers, x);
		}
		if (!ok) {
			snprintf(why, max, "no %s DNSKEY both matches a cached DS and signs the DNSKEY RRset",
				 rs_alg_name(alg));
			return false;
		}
	}
	/* Every algorithm of the DNSKEY RRset signs the RRsets (RFC 4035 2.2). */
	for (size_t i = 0; i < dk->keys.n; i++) {
		int alg = keys[dk->keys.idx[i]].alg;
		bool data_ok = false, keys_ok = false;
		for (size_t j = 0; j < data->signers.n && !data_ok; j++) {
			uint16_t z = data->signers.idx[j];
			data_ok = keys[z].alg == alg && contains(&dk->keys, z);
		}
		for (size_t j = 0; j < dk->signers.n && !keys_ok; j++)
			keys_ok = keys[dk->signers.idx[j]].alg == alg;
		if (!data_ok || !keys_ok) {
			snprintf(why, max, "no %s signature on the %s from a key of the cached DNSKEY RRset",
				 rs_alg_name(alg), data_ok ? "DNSKEY RRset" : "zone data");
			return false;
		}
	}
	return true;
}

static void list_members(const sim_t *s, const members_t *m, char *out, size_t max)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < m->n && o < max; i++)
		o += (size_t)snprintf(out + o, max - o, "%s%u", i ? "," : "", s->set.keys[m->idx[i]].tag);
	if (m->n == 0)
		snprintf(out, max, "-");
}

/* The version can be in a cache until its end plus propagation plus the TTL it was served with. */
static int64_t window_end(const version_t *v)
{
	return v->end == INT64_MAX ? INT64_MAX : v->end + v->linger;
}

static void check_caches(sim_t *s)
{
	for (size_t a = 0; a < s->ds.n; a++) {
		const version_t *d = &s->ds.v[a];
		int64_t d_end = window_end(d);
		for (size_t b = 0; b < s->dnskey.n; b++) {
			const version_t *k = &s->dnskey.v[b];
			int64_t k_end = window_end(k);
			int64_t lo = d->start > k->start ? d->start : k->start;
			int64_t hi = d_end < k_end ? d_end : k_end;
			if (lo >= hi)
				continue;
			for (size_t c = 0; c < s->data.n; c++) {
				const version_t *z = &s->data.v[c];
				int64_t z_end = window_end(z);
				int64_t from = lo > z->start ? lo : z->start;
				if (from >= (hi < z_end ? hi : z_end))
					continue;
				s->res->combinations++;
				char why[160];
				if (validates(s, d, k, z, why, sizeof(why)))
					continue;
				s->res->bogus++;
				char day[32], dsl[96], kl[96], zl[96];
				day_text(from, day);
				list_members(s, &d->keys, dsl, sizeof(dsl));
				list_members(s, &k->keys, kl, sizeof(kl));
				list_members(s, &z->signers, zl, sizeof(zl));
				rs_buf_printf(s->timeline, "%s  BOGUS: %s (DS %s, DNSKEY %s, data signed by %s)\n",
					      day, why, dsl, kl, zl);
			}
		}
	}
}

static void svg_picture(const sim_t *s, rs_buf_t *svg, int64_t t0, int64_t t1)
{
	const int left = 150, width = 1000, row = 22;
	double scale = (double)width / (double)(t1 - t0);
	size_t nkeys = s->set.count;
	rs_buf_printf(svg, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%zu' "
		      "font-family='monospace' font-size='11'>\n", left + width + 20, (nkeys + 3) * (size_t)row);
	rs_buf_printf(svg, "<title>%s%s%s: key states over %lld days</title>\n", s->o->new_policy ? "" : s->p->name,
		      s->o->new_policy ? "policy change to " : "", s->o->new_policy ? s->o->new_policy->name : "",
		      (long long)((t1 - t0) / 86400));
	/* A tick every 90 days, labelled with the date. */
	for (int64_t t = t0; t <= t1; t += 90 * 86400) {
		char day[32];
		day_text(t, day);
		double x = left + (double)(t - t0) * scale;
		rs_buf_printf(svg, "<line x1='%.1f' y1='14' x2='%.1f' y2='%zu' stroke='#ddd'/>\n"
			      "<text x='%.1f' y='12' font-size='9'>%.10s</text>\n", x, x, (nkeys + 1) * (size_t)row,
			      x + 2, day);
	}
	static const char *const colour[4] = { "none", "#9ecae1", "#3182bd", "#fdae6b" };
	for (size_t i = 0; i < nkeys; i++) {
		const rs_keystate_t *k = &s->set.keys[i];
		size_t y = (i + 1) * (size_t)row;
		rs_buf_printf(svg, "<text x='4' y='%zu'>%s %u %s</text>\n", y + 12, rs_role_name(k->role), k->tag,
			      rs_alg_name(k->alg));
		/* Three bands per key: DNSKEY, signatures, DS; each coloured by state. */
		for (int band = 0; band < 3; band++) {
			int rec = band == 0 ? RS_REC_DNSKEY : band == 2 ? RS_REC_DS
				  : k->role == RS_ROLE_ZSK ? RS_REC_ZRRSIG : RS_REC_KRRSIG;
			int state = RS_HIDDEN;
			int64_t since = t0;
			for (size_t c = 0; c <= s->nchanges; c++) {
				bool end = c == s->nchanges;
				const change_t *ch = end ? NULL : &s->changes[c];
				if (!end && (ch->key != i || ch->rec != rec))
					continue;
				int64_t until = end ? t1 : ch->when;
				if (state != RS_HIDDEN && until > since)
					rs_buf_printf(svg, "<rect x='%.1f' y='%zu' width='%.1f' height='6' fill='%s'/>\n",
						      left + (double)(since - t0) * scale, y + 2 + (size_t)band * 6,
						      (double)(until - since) * scale, colour[state]);
				if (!end) {
					state = ch->state;
					since = ch->when;
				}
			}
		}
	}
	size_t y = (nkeys + 1) * (size_t)row + 14;
	rs_buf_printf(svg, "<text x='4' y='%zu'>bands: DNSKEY / signatures / DS. light: rumoured, dark: "
		      "omnipresent, orange: unretentive. %lld days.</text>\n</svg>\n", y,
		      (long long)((t1 - t0) / 86400));
}

static void key_summary(const sim_t *s)
{
	rs_buf_printf(s->timeline, "\nkeys:\n%-5s %5s %-16s %-16s %-16s %-16s %-16s %9s %9s %s\n", "role",
		      "tag", "algorithm", "published", "active", "retired", "removed", "pre-pub", "post-ret",
		      "flags");
	for (size_t i = 0; i < s->set.count; i++) {
		const rs_keystate_t *k = &s->set.keys[i];
		char t[4][32], pre[32] = "-", post[32] = "-";
		const int64_t *when[4] = { &k->published, &k->active, &k->retired, &k->removed };
		for (int j = 0; j < 4; j++) {
			strcpy(t[j], "-");
			if (*when[j] != 0) {
				day_text(*when[j], t[j]);
				t[j][10] = 'T'; /* one column per time, for tools that read the table */
			}
		}
		if (k->active && k->published)
			rs_policy_duration_format(k->active - k->published, pre);
		if (k->removed && k->retired)
			rs_policy_duration_format(k->removed - k->retired, post);
		rs_buf_printf(s->timeline, "%-5s %5u %-16s %-16s %-16s %-16s %-16s %9s %9s %s%s%s%s\n",
			      rs_role_name(k->role), k->tag, rs_alg_name(k->alg), t[0], t[1], t[2], t[3], pre, post,
			      k->predecessor ? "successor" : "first",
			      (k->flags & RS_KEY_EMERGENCY) ? ",emergency" : "",
			      (k->flags & RS_KEY_COMPROMISED) ? ",compromised" : "",
			      (k->flags & RS_KEY_ALG_ROLL) ? ",algorithm-rollover" : "");
	}
}

int rs_simulate(const rs_policy_t *policy, const rs_sim_opts_t *o, rs_buf_t *timeline, rs_buf_t *svg,
		rs_sim_result_t *result, rs_diag_t *diag)
{
	/* The parent acts on every DS request at once: the simulation has no operator. */
	rs_policy_t first = *policy, second = o->new_policy ? *o->new_policy : *policy;
	first.ds_auto = second.ds_auto = true;
	policy = &first;
	sim_t s = { .p = policy, .o = o, .timeline = timeline, .res = result };
	memset(result, 0, sizeof(*result));
	s.set.soa_ttl = o->soa_ttl;
	rs_enforce_ctx_t ctx = { o->make_key ? o->make_key : fake_key, o->make_key ? o->make_arg : &s,
				 timeline_log, &s };
	const rs_policy_t *p = policy;
	int64_t t = o->start, end = o->start + o->days * 86400;
	bool zsk_done = o->emergency_zsk_at == 0, ksk_done = o->emergency_ksk_at == 0;
	bool policy_done = o->policy_change_at == 0;
	int ret = RS_EOK;
	rs_buf_t report;
	rs_buf_init(&report, 1 << 20);
	while (ret == RS_EOK && t <= end) {
		if (!policy_done && t >= o->policy_change_at) {
			policy_done = true;
			rs_keyset_max_ttl_change(&s.set, p->max_zone_ttl, second.max_zone_ttl, p->zone_propagation, t);
			p = &second;
			s.p = p;
			rs_buf_printf(timeline, "-- policy changed to %s\n", p->name);
		}
		size_t nbefore = s.set.count;
		rs_keystate_t *before = malloc((nbefore + 1) * sizeof(*before));
		if (before == NULL) {
			ret = rs_diag(diag, RS_ENOMEM, "out of memory");
			break;
		}
		if (nbefore > 0)
			memcpy(before, s.set.keys, nbefore * sizeof(*before));
		if (!zsk_done && t >= o->emergency_zsk_at) {
			zsk_done = true;
			ret = rs_enforce_rollover(p, &s.set, p->csk ? RS_ROLE_CSK : RS_ROLE_ZSK,
						  RS_ROLLOVER_EMERGENCY, t, &ctx, diag);
		}
		if (ret == RS_EOK && !ksk_done && t >= o->emergency_ksk_at) {
			ksk_done = true;
			ret = rs_enforce_rollover(p, &s.set, p->csk ? RS_ROLE_CSK : RS_ROLE_KSK,
						  RS_ROLLOVER_EMERGENCY, t, &ctx, diag);
		}
		int64_t next = INT64_MAX;
		if (ret == RS_EOK)
			ret = rs_enforce(p, &s.set, t, &ctx, &next, diag);
		if (ret == RS_EOK)
			ret = track_changes(&s, before, nbefore, t);
		free(before);
		bool zone_changed = false;
		if (ret == RS_EOK)
			ret = snapshot(&s, t, &zone_changed);
		if (ret != RS_EOK)
			break;
		/* A signing run at t: its signatures must outlive every cached copy. */
		int64_t exp = rs_policy_expiration(p, t);
		if (exp <= t + p->sig_refresh + p->zone_propagation + p->max_zone_ttl) {
			result->bogus++;
			char day[32];
			day_text(t, day);
			rs_buf_printf(timeline, "%s  BOGUS: signatures made now expire before their last cached copy\n",
				      day);
		}
		if (zone_changed && o->check_signer != NULL) {
			rs_buf_clear(&report);
			rs_buf_init(&report, 1 << 20);
			int problems = o->check_signer(o->check_arg, p, &s.set, t, &report);
			if (problems != 0) {
				result->signer_problems += (uint64_t)(problems > 0 ? problems : 1);
				char day[32];
				day_text(t, day);
				rs_buf_printf(timeline, "%s  SIGNER: %.*s\n", day, (int)report.len,
					      report.data ? (const char *)report.data : "");
			}
		}
		/* The signer runs every refresh interval; the enforcer also at its own next event. */
		int64_t step = t + p->sig_refresh;
		if (next < step)
			step = next;
		int64_t ops[3] = { zsk_done ? INT64_MAX : o->emergency_zsk_at,
				   ksk_done ? INT64_MAX : o->emergency_ksk_at,
				   policy_done ? INT64_MAX : o->policy_change_at };
		for (int i = 0; i < 3; i++)
			if (ops[i] > t && ops[i] < step)
				step = ops[i];
		t = step;
	}
	rs_buf_clear(&report);
	if (ret == RS_EOK) {
		check_caches(&s);
		result->keys = s.set.count;
		key_summary(&s);
		if (svg != NULL)
			svg_picture(&s, svg, o->start, end);
	}
	free(s.ds.v);
	free(s.dnskey.v);
	free(s.data.v);
	free(s.changes);
	rs_keyset_clear(&s.set);
	return ret;
}
