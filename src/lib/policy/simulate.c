/*
 * Simulated years of key management, checked against the model of caching
 * validating resolvers (model.c). Only key changes make new versions;
 * re-signing renews expirations, which are checked per signing run instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/crypto.h"
#include "regsign/policy.h"

/* A record state change, for the picture. */
typedef struct {
	int64_t when;
	uint16_t key;
	uint8_t rec, state;
} change_t;

/*
 * A resolver that tracks the KSK by RFC 5011 (unbound's auto-trust-anchor-
 * file): it starts trusting the first KSKs, adds a key seen in a DNSKEY
 * RRset signed by a trusted key once the add hold-down has passed since it
 * could first have seen it, and drops a key it sees revoked.
 */
enum { ANCHOR_PENDING = 1, ANCHOR_TRUSTED, ANCHOR_REVOKED };
typedef struct {
	uint16_t tag;
	uint8_t state;
	int64_t since; /* ANCHOR_PENDING: when it was first seen, at the latest */
} tracked_t;

#define TRACKED_MAX 64

typedef struct {
	const rs_policy_t *p;
	const rs_sim_opts_t *o;
	rs_keyset_t set;
	rs_buf_t *timeline;
	rs_sim_result_t *res;
	rs_model_t *model;
	change_t *changes;
	size_t nchanges, capchanges;
	uint16_t next_tag;
	bool track; /* follow an RFC 5011 resolver */
	tracked_t tracked[TRACKED_MAX];
	size_t ntracked;
	int64_t dnskey_linger;
} sim_t;

static void day_text(int64_t t, char out[32])
{
	char ts[15];
	rs_time_format(t, ts);
	snprintf(out, 32, "%.4s-%.2s-%.2s %.2s:%.2s", ts, ts + 4, ts + 6, ts + 8, ts + 10);
}

static void timeline_log(void *arg, int64_t when, const rs_event_t *ev)
{
	sim_t *s = arg;
	char day[32];
	day_text(when, day);
	const rs_keystate_t *k = ev->key;
	if (k != NULL)
		rs_buf_printf(s->timeline, "%s  %s %5u %-16s %s\n", day, rs_role_name(k->role), k->tag,
			      rs_alg_name(k->alg), ev->text);
	else
		rs_buf_printf(s->timeline, "%s  zone %s\n", day, ev->text);
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

static tracked_t *tracked(sim_t *s, uint16_t tag)
{
	for (size_t i = 0; i < s->ntracked; i++)
		if (s->tracked[i].tag == tag)
			return &s->tracked[i];
	return NULL;
}

static void anchor_problem(sim_t *s, int64_t now, const char *what)
{
	char day[32];
	day_text(now, day);
	rs_buf_printf(s->timeline, "%s  ANCHOR: %s\n", day, what);
	s->res->anchor_problems++;
}

/*
 * The tracking resolver meets a new version of the DNSKEY RRset at now.
 * Worst cases on both sides: a key it adds may reach it as late as the
 * version's linger, a signature may leave it at once.
 */
static void track_anchor(sim_t *s, int64_t now)
{
	bool first = s->ntracked == 0, secure = false;
	for (size_t i = 0; i < s->ntracked; i++) {
		tracked_t *a = &s->tracked[i];
		if (a->state == ANCHOR_PENDING && now >= a->since + s->p->anchors.add_holddown)
			a->state = ANCHOR_TRUSTED; /* in every version since: a removal forgets it below */
	}
	for (size_t i = 0; i < s->set.count; i++) {
		const rs_keystate_t *k = &s->set.keys[i];
		tracked_t *a = tracked(s, k->tag);
		if (first && rs_keystate_signs_keys(k) && (k->role & RS_ROLE_KSK) && s->ntracked < TRACKED_MAX)
			s->tracked[s->ntracked++] = (tracked_t){ k->tag, ANCHOR_TRUSTED, now };
		else if (!first && rs_keystate_signs_keys(k) && !(k->flags & RS_KEY_REVOKED) && a != NULL &&
			 a->state == ANCHOR_TRUSTED)
			secure = true;
	}
	if (first)
		return;
	if (!secure) {
		anchor_problem(s, now, "no key the resolver trusts signs the DNSKEY RRset (RFC 5011 tracking lost)");
		return;
	}
	for (size_t i = 0; i < s->set.count; i++) {
		const rs_keystate_t *k = &s->set.keys[i];
		tracked_t *a = tracked(s, k->tag);
		if (!rs_keystate_published(k) || !(k->role & RS_ROLE_KSK))
			continue;
		if (k->flags & RS_KEY_REVOKED) {
			if (a != NULL)
				a->state = ANCHOR_REVOKED;
		} else if (a == NULL && s->ntracked < TRACKED_MAX) {
			s->tracked[s->ntracked++] = (tracked_t){ k->tag, ANCHOR_PENDING, now + s->dnskey_linger };
		}
	}
	/* A pending key that left the RRset starts over if it comes back (RFC 5011 4.2). */
	for (size_t i = 0; i < s->ntracked; i++) {
		rs_keystate_t *k = rs_keyset_find(&s->set, s->tracked[i].tag);
		if (s->tracked[i].state == ANCHOR_PENDING && (k == NULL || !rs_keystate_published(k)))
			s->tracked[i--] = s->tracked[--s->ntracked];
	}
}

/* What the zone and the parent serve now, as versions of the model. */
static int snapshot(sim_t *s, int64_t now, bool *zone_changed)
{
	rs_model_set_t ds = { 0 }, pub = { 0 }, ksig = { 0 }, zsig = { 0 };
	for (size_t i = 0; i < s->set.count; i++) {
		const rs_keystate_t *k = &s->set.keys[i];
		/* The parent serves the DS from when it is seen (rumoured) until it is removed. */
		if (k->state[RS_REC_DS] == RS_RUMOURED || k->state[RS_REC_DS] == RS_OMNIPRESENT ||
		    k->ds == RS_DS_WITHDRAW)
			rs_model_set_add(&ds, k->tag, k->alg);
		/*
		 * A revoked key is another DNSKEY (RFC 5011 2.1: the REVOKE bit adds 128
		 * to the tag), which no DS matches: its self-signature proves the
		 * revocation and signs the RRset for its algorithm, nothing more.
		 */
		uint16_t tag = (k->flags & RS_KEY_REVOKED) ? (uint16_t)(k->tag + 128) : k->tag;
		if (rs_keystate_published(k))
			rs_model_set_add(&pub, tag, k->alg);
		if (rs_keystate_signs_keys(k))
			rs_model_set_add(&ksig, tag, k->alg);
		if (rs_keystate_signs_data(k))
			rs_model_set_add(&zsig, k->tag, k->alg);
	}
	if (pub.n > s->res->max_dnskeys)
		s->res->max_dnskeys = pub.n;
	int ret = rs_model_parent(s->model, now, &ds);
	if (ret == RS_EOK)
		ret = rs_model_zone(s->model, now, &pub, &ksig, &zsig, zone_changed);
	if (ret == RS_EOK && *zone_changed) {
		s->res->zone_versions++;
		if (s->track)
			track_anchor(s, now);
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
		rs_buf_printf(s->timeline, "%-5s %5u %-16s %-16s %-16s %-16s %-16s %9s %9s %s%s%s%s%s\n",
			      rs_role_name(k->role), k->tag, rs_alg_name(k->alg), t[0], t[1], t[2], t[3], pre, post,
			      k->predecessor ? "successor" : "first",
			      (k->flags & RS_KEY_EMERGENCY) ? ",emergency" : "",
			      (k->flags & RS_KEY_COMPROMISED) ? ",compromised" : "",
			      (k->flags & RS_KEY_ALG_ROLL) ? ",algorithm-rollover" : "",
			      (k->flags & RS_KEY_REVOKED) ? ",revoked" : "");
	}
}

int rs_simulate(const rs_policy_t *policy, const rs_sim_opts_t *o, rs_buf_t *timeline, rs_buf_t *svg,
		rs_sim_result_t *result, rs_diag_t *diag)
{
	/* The parent acts on every DS request at once: the simulation has no operator. */
	rs_policy_t first = *policy, second = o->new_policy ? *o->new_policy : *policy;
	first.ds_auto = second.ds_auto = true;
	policy = &first;
	sim_t s = { .p = policy, .o = o, .timeline = timeline, .res = result,
		    .track = o->track_rfc5011 || policy->anchors.rfc5011 };
	memset(result, 0, sizeof(*result));
	s.set.soa_ttl = o->soa_ttl;
	rs_model_opts_t mo;
	rs_model_lingers(policy, o->soa_ttl, o->extra_delay, &mo);
	s.dnskey_linger = mo.dnskey_linger;
	if (rs_model_new(&mo, &s.model) != RS_EOK)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	rs_enforce_ctx_t ctx = { o->make_key ? o->make_key : fake_key, o->make_key ? o->make_arg : &s,
				 timeline_log, &s, NULL };
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
			rs_model_lingers(p, o->soa_ttl, o->extra_delay, &mo);
			rs_model_set_lingers(s.model, &mo);
			s.dnskey_linger = mo.dnskey_linger;
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
		/* The signer publishes what the state machine decided at once: its clocks start now. */
		rs_keyset_published(&s.set, t);
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
		ret = rs_model_check(s.model, timeline, &result->combinations, &result->bogus);
		result->keys = s.set.count;
		key_summary(&s);
		if (svg != NULL)
			svg_picture(&s, svg, o->start, end);
	}
	rs_model_free(s.model);
	free(s.changes);
	rs_keyset_clear(&s.set);
	return ret;
}
