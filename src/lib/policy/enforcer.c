/*
 * The key state machine. Each step names the condition that makes it safe;
 * see docs/internals/key-states.md for the rollovers as sequences of steps.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/crypto.h"
#include "regsign/policy.h"

typedef struct {
	const rs_policy_t *p;
	rs_keyset_t *set;
	int64_t now;
	const rs_enforce_ctx_t *ctx;
	int64_t next;
	bool changed;
	bool deferral_noted;
	bool custody_noted;
} run_t;

static const char *const state_names[] = { "hidden", "rumoured", "omnipresent", "unretentive" };
static const char *const rec_names[] = { "DNSKEY", "KRRSIG", "ZRRSIG", "DS" };

const char *rs_recstate_name(int state)
{
	return state >= 0 && state < 4 ? state_names[state] : "?";
}

const char *rs_role_name(int role)
{
	return role == RS_ROLE_KSK ? "ksk" : role == RS_ROLE_ZSK ? "zsk" : role == RS_ROLE_CSK ? "csk" : "?";
}

const char *rs_goal_name(int goal)
{
	static const char *const names[] = { "active", "retiring", "retiring (algorithm)", "removed" };
	return goal >= 0 && goal < 4 ? names[goal] : "?";
}

bool rs_keystate_published(const rs_keystate_t *k)
{
	return k->state[RS_REC_DNSKEY] == RS_RUMOURED || k->state[RS_REC_DNSKEY] == RS_OMNIPRESENT;
}

bool rs_keystate_signs_keys(const rs_keystate_t *k)
{
	return k->state[RS_REC_KRRSIG] == RS_RUMOURED || k->state[RS_REC_KRRSIG] == RS_OMNIPRESENT;
}

bool rs_keystate_signs_data(const rs_keystate_t *k)
{
	return k->state[RS_REC_ZRRSIG] == RS_RUMOURED || k->state[RS_REC_ZRRSIG] == RS_OMNIPRESENT;
}

bool rs_keystate_wants_ds(const rs_keystate_t *k)
{
	if (k->ds == RS_DS_SUBMIT)
		return true;
	return k->ds != RS_DS_WITHDRAW &&
	       (k->state[RS_REC_DS] == RS_RUMOURED || k->state[RS_REC_DS] == RS_OMNIPRESENT);
}

/* The time field a pending record's change set when it was decided, if any. */
static int64_t *stamped_time(rs_keystate_t *k, int rec)
{
	int s = k->state[rec];
	if (rec == RS_REC_DNSKEY)
		return s == RS_RUMOURED ? &k->published : s == RS_UNRETENTIVE ? &k->removed : NULL;
	if (s == RS_UNRETENTIVE)
		return &k->retired;
	return rec == RS_REC_ZRRSIG && s == RS_RUMOURED ? &k->active : NULL;
}

void rs_keyset_published(rs_keyset_t *set, int64_t when)
{
	for (size_t i = 0; i < set->count; i++) {
		rs_keystate_t *k = &set->keys[i];
		for (int rec = 0; rec < RS_REC_COUNT && k->pending != 0; rec++) {
			if (!(k->pending & (1u << rec)))
				continue;
			int64_t *t = stamped_time(k, rec);
			if (t != NULL && *t == k->since[rec])
				*t = when;
			k->since[rec] = when;
		}
		k->pending = 0;
	}
}

size_t rs_keyset_pending(const rs_keyset_t *set)
{
	size_t n = 0;
	for (size_t i = 0; i < set->count; i++)
		n += set->keys[i].pending != 0 && set->keys[i].goal != RS_GOAL_DEAD;
	return n;
}

int rs_keyset_add(rs_keyset_t *set, const rs_keystate_t *key)
{
	if (set->count == set->cap) {
		size_t cap = set->cap ? 2 * set->cap : 8;
		rs_keystate_t *keys = realloc(set->keys, cap * sizeof(*keys));
		if (keys == NULL)
			return RS_ENOMEM;
		set->keys = keys;
		set->cap = cap;
	}
	set->keys[set->count++] = *key;
	return RS_EOK;
}

int rs_keyset_copy(const rs_keyset_t *from, rs_keyset_t *out)
{
	rs_keyset_clear(out);
	*out = *from;
	out->keys = NULL;
	out->count = out->cap = 0;
	for (size_t i = 0; i < from->count; i++)
		if (rs_keyset_add(out, &from->keys[i]) != RS_EOK) {
			rs_keyset_clear(out);
			return RS_ENOMEM;
		}
	return RS_EOK;
}

rs_keystate_t *rs_keyset_find(rs_keyset_t *set, uint16_t tag)
{
	for (size_t i = 0; i < set->count; i++)
		if (set->keys[i].tag == tag && set->keys[i].goal != RS_GOAL_DEAD)
			return &set->keys[i];
	return NULL;
}

void rs_keyset_max_ttl_change(rs_keyset_t *set, uint32_t old_max, uint32_t new_max, int64_t propagation,
			      int64_t now)
{
	if (old_max <= new_max)
		return;
	set->old_max_zone_ttl = old_max;
	set->old_max_until = now + old_max + propagation;
}

void rs_keyset_clear(rs_keyset_t *set)
{
	free(set->keys);
	set->keys = NULL;
	set->count = set->cap = 0;
}

bool rs_event_is_change(const rs_event_t *ev)
{
	return ev->type != RS_EV_DEFERRED && ev->type != RS_EV_CUSTODY_WAIT;
}

static void emit(run_t *r, const rs_event_t *ev, const char *fmt, va_list ap)
{
	if (r->ctx == NULL || r->ctx->log == NULL)
		return;
	char text[256];
	vsnprintf(text, sizeof(text), fmt, ap);
	rs_event_t e = *ev;
	e.text = text;
	r->ctx->log(r->ctx->log_arg, r->now, &e);
}

static void say(run_t *r, const rs_keystate_t *k, rs_event_type_t type, const char *fmt, ...) RS_PRINTF(4, 5);
static void say(run_t *r, const rs_keystate_t *k, rs_event_type_t type, const char *fmt, ...)
{
	r->changed = true;
	va_list ap;
	va_start(ap, fmt);
	emit(r, &(rs_event_t){ .type = type, .key = k }, fmt, ap);
	va_end(ap);
}

/* Report a step a policy limit holds back, once per run; it is not a change. */
static void note(run_t *r, bool *noted, const rs_keystate_t *k, rs_event_type_t type, const char *fmt, ...)
	RS_PRINTF(5, 6);
static void note(run_t *r, bool *noted, const rs_keystate_t *k, rs_event_type_t type, const char *fmt, ...)
{
	if (*noted)
		return;
	*noted = true;
	va_list ap;
	va_start(ap, fmt);
	emit(r, &(rs_event_t){ .type = type, .key = k }, fmt, ap);
	va_end(ap);
}

static void note_deferral(run_t *r, const rs_keystate_t *k, const char *what)
{
	note(r, &r->deferral_noted, k, RS_EV_DEFERRED, "%s deferred: the DNSKEY RRset would exceed max-dnskeys %u",
	     what, r->p->max_dnskeys);
}

/* Report, once per run, a step that waits for the key custodians; it is not a change. */
static void note_custody(run_t *r, const rs_keystate_t *k, const char *what)
{
	note(r, &r->custody_noted, k, RS_EV_CUSTODY_WAIT, "%s", what);
}

/* Remember a future instant at which a step becomes possible. */
static void wake_at(run_t *r, int64_t t)
{
	if (t > r->now && t < r->next)
		r->next = t;
}

/* Records in the zone itself, which only a publication shows resolvers. */
static bool in_zone(int rec)
{
	return rec != RS_REC_DS;
}

static void set_state(run_t *r, rs_keystate_t *k, int rec, int state)
{
	k->state[rec] = (uint8_t)state;
	k->since[rec] = r->now;
	/* Entering or leaving the zone is a change of what is served: it starts with a publication. */
	if (in_zone(rec) && (state == RS_RUMOURED || state == RS_UNRETENTIVE))
		k->pending |= (uint8_t)(1u << rec);
	r->changed = true;
	if (r->ctx == NULL || r->ctx->log == NULL)
		return;
	char text[64];
	snprintf(text, sizeof(text), "%s %s", rec_names[rec], state_names[state]);
	rs_event_t e = { .type = RS_EV_STATE, .key = k, .rec = rec, .state = state, .text = text };
	r->ctx->log(r->ctx->log_arg, r->now, &e);
}

/* Has a publication carried the last change of the record? */
static bool shown(const rs_keystate_t *k, int rec)
{
	return !(k->pending & (1u << rec));
}

static bool has(const rs_keystate_t *k, int role)
{
	return (k->role & role) != 0;
}

static bool live(const rs_keystate_t *k)
{
	return k->goal != RS_GOAL_DEAD;
}

static uint32_t dnskey_ttl(const run_t *r)
{
	return rs_policy_dnskey_ttl(r->p, r->set->soa_ttl);
}

/* How long a record needs to reach, or leave, every cache (RFC 7583 3). */
static int64_t settle_time(const run_t *r, int rec)
{
	switch (rec) {
	case RS_REC_DNSKEY:
	case RS_REC_KRRSIG: return (int64_t)dnskey_ttl(r) + r->p->zone_propagation;
	case RS_REC_ZRRSIG: {
		uint32_t ttl = r->p->max_zone_ttl;
		if (r->now < r->set->old_max_until && r->set->old_max_zone_ttl > ttl)
			ttl = r->set->old_max_zone_ttl;
		return (int64_t)ttl + r->p->zone_propagation;
	}
	default: return (int64_t)r->p->parent_ds_ttl + r->p->parent_propagation;
	}
}

static const rs_policy_key_t *timing(const run_t *r, const rs_keystate_t *k)
{
	return k->role == RS_ROLE_ZSK ? &r->p->zsk : &r->p->ksk;
}

static int64_t publish_interval(const run_t *r, const rs_keystate_t *k)
{
	return (k->flags & RS_KEY_EMERGENCY) ? 0 : timing(r, k)->publish;
}

static int64_t retire_interval(const run_t *r, const rs_keystate_t *k)
{
	/* A revoked key was published through the remove hold-down already. */
	return (k->flags & (RS_KEY_COMPROMISED | RS_KEY_REVOKED)) || k->goal == RS_GOAL_RETIRE_ALG ? 0
												  : timing(r, k)->retire;
}

static size_t published_count(const rs_keyset_t *set)
{
	size_t n = 0;
	for (size_t i = 0; i < set->count; i++)
		n += rs_keystate_published(&set->keys[i]);
	return n;
}

static bool limit_allows(const run_t *r, size_t extra)
{
	return r->p->max_dnskeys == 0 || published_count(r->set) + extra <= r->p->max_dnskeys;
}

static rs_keystate_t *find_live(rs_keyset_t *set, uint16_t tag)
{
	return tag == 0 ? NULL : rs_keyset_find(set, tag);
}

static bool any(const rs_keyset_t *set, int rec, int state, const rs_keystate_t *except)
{
	for (size_t i = 0; i < set->count; i++)
		if (&set->keys[i] != except && live(&set->keys[i]) && set->keys[i].state[rec] == state)
			return true;
	return false;
}

/* Rumoured records become omnipresent, unretentive ones hidden, once they have settled. */
static void settle(run_t *r, rs_keystate_t *k)
{
	for (int rec = 0; rec < RS_REC_COUNT; rec++) {
		int s = k->state[rec];
		if ((s != RS_RUMOURED && s != RS_UNRETENTIVE) || !shown(k, rec))
			continue; /* a pending record waits for the publication that carries it */
		int64_t at = k->since[rec] + settle_time(r, rec);
		if (r->now >= at)
			set_state(r, k, rec, s == RS_RUMOURED ? RS_OMNIPRESENT : RS_HIDDEN);
		else
			wake_at(r, at);
	}
}

/* A new key's first records: the DNSKEY, and the signatures that may go with it. */
static void introduce(run_t *r, rs_keystate_t *k)
{
	if (r->p->backup_before_use && k->backup == 0) {
		note_custody(r, k, "waits for a backup before first use (custody.backup-before-use; regsign backup)");
		return;
	}
	if (k->flags & RS_KEY_ALG_ROLL) {
		/* RFC 6781 4.1.4: signatures of the new algorithm first, the DNSKEYs after them. */
		bool sigs_settled = true;
		if (has(k, RS_ROLE_ZSK) && k->state[RS_REC_ZRRSIG] == RS_HIDDEN) {
			set_state(r, k, RS_REC_ZRRSIG, RS_RUMOURED);
			k->active = r->now;
		}
		if (has(k, RS_ROLE_KSK) && k->state[RS_REC_KRRSIG] == RS_HIDDEN)
			set_state(r, k, RS_REC_KRRSIG, RS_RUMOURED);
		/* All keys of the new algorithm appear together, once all their signatures are in every cache. */
		for (size_t i = 0; i < r->set->count; i++) {
			const rs_keystate_t *o = &r->set->keys[i];
			if (o->goal != RS_GOAL_ACTIVE || !(o->flags & RS_KEY_ALG_ROLL) || o->published != 0)
				continue;
			if ((has(o, RS_ROLE_ZSK) && o->state[RS_REC_ZRRSIG] != RS_OMNIPRESENT) ||
			    (has(o, RS_ROLE_KSK) && o->state[RS_REC_KRRSIG] != RS_OMNIPRESENT))
				sigs_settled = false;
		}
		if (!sigs_settled)
			return;
	}
	if (!limit_allows(r, 1)) {
		if (!(k->flags & RS_KEY_EMERGENCY)) {
			note_deferral(r, k, "publication");
			return; /* waits for a key to leave the DNSKEY RRset */
		}
		say(r, k, RS_EV_OVER_LIMIT, "emergency: the DNSKEY RRset exceeds max-dnskeys %u until the old "
		    "key is gone", r->p->max_dnskeys);
	}
	bool data_signed = any(r->set, RS_REC_ZRRSIG, RS_OMNIPRESENT, k) ||
			   any(r->set, RS_REC_ZRRSIG, RS_RUMOURED, k);
	set_state(r, k, RS_REC_DNSKEY, RS_RUMOURED);
	k->published = r->now;
	say(r, k, RS_EV_PUBLISHED, "published");
	/* Double signature: a key that signs the DNSKEY RRset does so from its first day. */
	if (has(k, RS_ROLE_KSK) && k->state[RS_REC_KRRSIG] == RS_HIDDEN)
		set_state(r, k, RS_REC_KRRSIG, RS_RUMOURED);
	/* Nothing signs the zone yet (a new zone): there is nothing to pre-publish against. */
	if (has(k, RS_ROLE_ZSK) && !data_signed && k->state[RS_REC_ZRRSIG] == RS_HIDDEN) {
		set_state(r, k, RS_REC_ZRRSIG, RS_RUMOURED);
		k->active = r->now;
	}
}

/* Pre-publication: the new ZSK signs once its DNSKEY is in every cache and the policy's wait is over. */
static void activate_zsk(run_t *r, rs_keystate_t *k)
{
	if (k->state[RS_REC_DNSKEY] != RS_OMNIPRESENT)
		return;
	int64_t due = k->published + publish_interval(r, k);
	if (r->now < due) {
		wake_at(r, due);
		return;
	}
	set_state(r, k, RS_REC_ZRRSIG, RS_RUMOURED);
	k->active = r->now;
	say(r, k, RS_EV_ACTIVE, "active: signs the zone");
	rs_keystate_t *old = find_live(r->set, k->predecessor);
	if (old != NULL && old->alg == k->alg && rs_keystate_signs_data(old)) {
		set_state(r, old, RS_REC_ZRRSIG, RS_UNRETENTIVE);
		old->retired = r->now;
		say(r, old, RS_EV_RETIRED, "retired: no longer signs the zone");
	}
}

static bool all_alg_roll_keys_ready(const rs_keyset_t *set)
{
	for (size_t i = 0; i < set->count; i++) {
		const rs_keystate_t *k = &set->keys[i];
		if (live(k) && (k->flags & RS_KEY_ALG_ROLL) && k->goal == RS_GOAL_ACTIVE &&
		    (k->state[RS_REC_DNSKEY] != RS_OMNIPRESENT ||
		     (has(k, RS_ROLE_ZSK) && k->state[RS_REC_ZRRSIG] != RS_OMNIPRESENT)))
			return false;
	}
	return true;
}

/* The DS of a new KSK goes to the parent, and its predecessor's DS is to be withdrawn. */
static void submit_ds(run_t *r, rs_keystate_t *k)
{
	if (k->ds != RS_DS_NONE || k->state[RS_REC_DS] != RS_HIDDEN ||
	    k->state[RS_REC_DNSKEY] != RS_OMNIPRESENT || k->state[RS_REC_KRRSIG] != RS_OMNIPRESENT)
		return;
	if ((k->flags & RS_KEY_ALG_ROLL) && !all_alg_roll_keys_ready(r->set))
		return;
	rs_keystate_t *old = find_live(r->set, k->predecessor);
	int64_t due = old == NULL ? 0 : k->published + publish_interval(r, k);
	/*
	 * RFC 5011 2.4.1: a resolver that tracks the anchor trusts the new KSK
	 * once it has seen it, signed by the old one, for the add hold-down; the
	 * old one signs until after this DS swap. An emergency cannot wait.
	 */
	if (old != NULL && r->p->anchors.rfc5011 && !(k->flags & RS_KEY_EMERGENCY)) {
		int64_t trusted = k->since[RS_REC_DNSKEY] + r->p->anchors.add_holddown;
		if (trusted > due)
			due = trusted;
	}
	if (r->now < due) {
		wake_at(r, due);
		return;
	}
	k->ds = RS_DS_SUBMIT;
	if (k->active == 0)
		k->active = r->now;
	say(r, k, RS_EV_DS_SUBMIT, "DS submitted to the parent%s", r->p->ds_auto ? "" : "; confirm with ds-seen");
	if (r->p->ds_auto) {
		k->ds = RS_DS_NONE;
		set_state(r, k, RS_REC_DS, RS_RUMOURED);
	}
	if (old == NULL)
		return;
	if (old->ds == RS_DS_SUBMIT) {
		old->ds = RS_DS_NONE;
		say(r, old, RS_EV_DS_CANCEL, "DS submission withdrawn");
	} else if (old->state[RS_REC_DS] == RS_OMNIPRESENT || old->state[RS_REC_DS] == RS_RUMOURED) {
		old->ds = RS_DS_WITHDRAW;
		say(r, old, RS_EV_DS_WITHDRAW, "DS removal requested at the parent%s",
		    r->p->ds_auto ? "" : "; confirm with ds-gone");
		if (r->p->ds_auto) {
			old->ds = RS_DS_NONE;
			set_state(r, old, RS_REC_DS, RS_UNRETENTIVE);
		}
	}
}

/* Is the DNSKEY RRset kept secure without k: another key of k's algorithm with an established chain? */
static bool chain_without(const run_t *r, const rs_keystate_t *k)
{
	bool any_ds = false;
	for (size_t i = 0; i < r->set->count; i++) {
		const rs_keystate_t *o = &r->set->keys[i];
		if (o != k && live(o) && o->state[RS_REC_DS] != RS_HIDDEN)
			any_ds = true;
	}
	for (size_t i = 0; i < r->set->count; i++) {
		const rs_keystate_t *o = &r->set->keys[i];
		if (o == k || !live(o) || o->goal != RS_GOAL_ACTIVE || !has(o, RS_ROLE_KSK))
			continue;
		if (o->state[RS_REC_DNSKEY] == RS_OMNIPRESENT && o->state[RS_REC_KRRSIG] == RS_OMNIPRESENT &&
		    (o->state[RS_REC_DS] == RS_OMNIPRESENT || !any_ds))
			return true;
	}
	return false;
}

/* No DS of algorithm alg is at the parent or in any cache, and none is waiting to be removed. */
static bool alg_ds_gone(const rs_keyset_t *set, int alg)
{
	for (size_t i = 0; i < set->count; i++) {
		const rs_keystate_t *k = &set->keys[i];
		if (live(k) && k->alg == alg && (k->state[RS_REC_DS] != RS_HIDDEN || k->ds == RS_DS_WITHDRAW))
			return false;
	}
	return true;
}

/* Does the policy publish trust anchors for relying parties (an AUP to put at their top)? */
static bool publishes_anchors(const rs_policy_t *p)
{
	return p->anchors.aup[0] != '\0' || p->anchors.aup_file[0] != '\0';
}

static const rs_keystate_t *successor(const rs_keyset_t *set, const rs_keystate_t *k)
{
	for (size_t i = 0; i < set->count; i++)
		if (set->keys[i].predecessor == k->tag && live(&set->keys[i]))
			return &set->keys[i];
	return NULL;
}

/*
 * A compromised KSK keeps signing the DNSKEY RRset for the AUP's minimum
 * retrieval time after its emergency successor was made, so that relying
 * parties with a configured anchor can fetch the new one (the statements'
 * 2.2 and 4.5.2; the published files announce that end); with RFC 5011 also
 * until resolvers tracking the anchor trust the successor.
 */
static bool compromised_kept(run_t *r, const rs_keystate_t *k)
{
	const rs_keystate_t *next = successor(r->set, k);
	if (!(k->flags & RS_KEY_COMPROMISED) || next == NULL || !publishes_anchors(r->p))
		return true;
	int64_t until = next->created + r->p->anchors.min_retrieval;
	if (r->p->anchors.rfc5011) {
		if (next->state[RS_REC_DNSKEY] != RS_OMNIPRESENT)
			return false; /* its settling wakes the run */
		if (next->since[RS_REC_DNSKEY] + r->p->anchors.add_holddown > until)
			until = next->since[RS_REC_DNSKEY] + r->p->anchors.add_holddown;
	}
	if (r->now < until) {
		wake_at(r, until);
		return false;
	}
	return true;
}

/*
 * RFC 5011 2.1: instead of leaving, the old KSK is published with the
 * REVOKE bit and signs the DNSKEY RRset with it, so that tracking resolvers
 * drop it. The record changes, so its time counts from the publication.
 */
static void revoke(run_t *r, rs_keystate_t *k)
{
	k->flags |= RS_KEY_REVOKED;
	k->since[RS_REC_DNSKEY] = r->now;
	k->pending |= (uint8_t)(1u << RS_REC_DNSKEY);
	say(r, k, RS_EV_REVOKED, "revoked: published with the REVOKE bit, self-signed, for the remove hold-down");
}

/*
 * Do tracking resolvers trust another KSK than k: one that has signed the
 * DNSKEY RRset, in every cache, for the add hold-down? The DS swap waits for
 * that too, but a zone whose first DS never reached the parent has no swap.
 */
static bool trusted_without(run_t *r, const rs_keystate_t *k)
{
	int64_t soonest = INT64_MAX;
	for (size_t i = 0; i < r->set->count; i++) {
		const rs_keystate_t *o = &r->set->keys[i];
		if (o == k || !live(o) || o->goal != RS_GOAL_ACTIVE || !has(o, RS_ROLE_KSK) ||
		    o->state[RS_REC_DNSKEY] != RS_OMNIPRESENT || o->state[RS_REC_KRRSIG] != RS_OMNIPRESENT)
			continue;
		int64_t at = o->since[RS_REC_DNSKEY] + r->p->anchors.add_holddown;
		if (r->now >= at)
			return true;
		if (at < soonest)
			soonest = at;
	}
	wake_at(r, soonest);
	return false;
}

/* Has every cache seen the revoked DNSKEY, and the remove hold-down (RFC 5011 2.4.2) passed since? */
static bool revocation_done(run_t *r, const rs_keystate_t *k)
{
	if (!(k->flags & RS_KEY_REVOKED))
		return true;
	if (!shown(k, RS_REC_DNSKEY))
		return false;
	int64_t due = k->since[RS_REC_DNSKEY] + settle_time(r, RS_REC_DNSKEY) + r->p->anchors.remove_holddown;
	if (r->now < due) {
		wake_at(r, due);
		return false;
	}
	return true;
}

/*
 * RFC 5011 in an algorithm rollover too: an old KSK is revoked before it
 * goes. Not a CSK: its data signatures stay to the end, and the REVOKE bit
 * changes its tag, so a cache holding the DNSKEY RRset of one side and the
 * data signatures of the other would find no signature of that algorithm
 * from a key it holds (the simulation's strict check); it would take the
 * data signed under both tags for a DNSKEY TTL.
 */
static bool alg_revocation_due(const run_t *r, const rs_keystate_t *k)
{
	return r->p->anchors.rfc5011 && k->goal == RS_GOAL_RETIRE_ALG && has(k, RS_ROLE_KSK) &&
	       !rs_keystate_signs_data(k) && !(k->flags & RS_KEY_REVOKED) && k->state[RS_REC_KRRSIG] == RS_OMNIPRESENT;
}

/*
 * The old algorithm's keys leave together, once its revoked KSKs have been
 * published through the remove hold-down: while one is in the DNSKEY RRset
 * the algorithm must still sign everything (RFC 4035 2.2), so its ZSKs stay.
 */
static bool alg_revocations_done(run_t *r, uint8_t alg)
{
	bool done = true;
	for (size_t i = 0; i < r->set->count; i++) {
		rs_keystate_t *o = &r->set->keys[i];
		if (o->alg != alg || o->goal != RS_GOAL_RETIRE_ALG || !rs_keystate_published(o))
			continue;
		if (alg_revocation_due(r, o) || !revocation_done(r, o))
			done = false;
	}
	return done;
}

static void retire(run_t *r, rs_keystate_t *k)
{
	bool ds_gone = k->state[RS_REC_DS] == RS_HIDDEN && k->ds != RS_DS_WITHDRAW;
	if (k->goal == RS_GOAL_RETIRE_ALG) {
		/* RFC 6781 4.1.4: DNSKEYs of the old algorithm go once its DS is gone; its signatures after. */
		if (rs_keystate_published(k) && alg_ds_gone(r->set, k->alg) && chain_without(r, k) &&
		    all_alg_roll_keys_ready(r->set)) {
			if (alg_revocation_due(r, k)) {
				if (trusted_without(r, k))
					revoke(r, k);
			} else if (alg_revocations_done(r, k->alg)) {
				if (k->retired == 0)
					k->retired = r->now;
				set_state(r, k, RS_REC_DNSKEY, RS_UNRETENTIVE);
				k->removed = r->now;
				say(r, k, RS_EV_WITHDRAWN, "withdrawn from the DNSKEY RRset");
			}
		}
		if (k->state[RS_REC_DNSKEY] == RS_HIDDEN) {
			if (rs_keystate_signs_data(k))
				set_state(r, k, RS_REC_ZRRSIG, RS_UNRETENTIVE);
			if (rs_keystate_signs_keys(k))
				set_state(r, k, RS_REC_KRRSIG, RS_UNRETENTIVE);
		}
	} else {
		/* Double signature: the old KSK signs until its DS has left every cache. */
		if (has(k, RS_ROLE_KSK) && k->state[RS_REC_KRRSIG] == RS_OMNIPRESENT && ds_gone &&
		    chain_without(r, k) && compromised_kept(r, k)) {
			if (k->ds == RS_DS_SUBMIT) {
				k->ds = RS_DS_NONE;
				say(r, k, RS_EV_DS_CANCEL, "DS submission withdrawn");
			}
			/* A revoked key signs nothing but the DNSKEY RRset: a CSK first stops signing the data. */
			if (r->p->anchors.rfc5011 && !(k->flags & RS_KEY_REVOKED)) {
				if (!rs_keystate_signs_data(k) && trusted_without(r, k))
					revoke(r, k);
			} else if (revocation_done(r, k)) {
				set_state(r, k, RS_REC_KRRSIG, RS_UNRETENTIVE);
				k->retired = r->now;
				say(r, k, RS_EV_RETIRED, "retired: no longer signs the DNSKEY RRset");
			}
		}
		/* The retire interval counts from the publication that stopped the signatures. */
		bool sigs_gone = (!has(k, RS_ROLE_ZSK) || k->state[RS_REC_ZRRSIG] == RS_HIDDEN) &&
				 (!has(k, RS_ROLE_KSK) || k->state[RS_REC_KRRSIG] == RS_HIDDEN ||
				  k->state[RS_REC_KRRSIG] == RS_UNRETENTIVE) &&
				 shown(k, RS_REC_ZRRSIG) && shown(k, RS_REC_KRRSIG);
		if (rs_keystate_published(k) && sigs_gone && ds_gone && k->retired != 0) {
			int64_t due = k->retired + retire_interval(r, k);
			if (r->now >= due) {
				set_state(r, k, RS_REC_DNSKEY, RS_UNRETENTIVE);
				k->removed = r->now;
				say(r, k, RS_EV_WITHDRAWN, "withdrawn from the DNSKEY RRset");
			} else {
				wake_at(r, due);
			}
		}
	}
	bool all_hidden = true;
	for (int rec = 0; rec < RS_REC_COUNT; rec++)
		all_hidden = all_hidden && k->state[rec] == RS_HIDDEN;
	if (all_hidden && k->published != 0 && k->ds == RS_DS_NONE) {
		k->goal = RS_GOAL_DEAD;
		say(r, k, RS_EV_REMOVED, "removed: key material to be destroyed");
	}
}

static int new_key(run_t *r, int role, int alg, unsigned bits, uint16_t predecessor, int flags,
		   rs_diag_t *diag)
{
	rs_keystate_t k = { .alg = (uint8_t)alg, .role = (uint8_t)role, .bits = (uint16_t)bits,
			    .predecessor = predecessor, .flags = (uint8_t)flags, .created = r->now };
	int ret = r->ctx->make_key(r->ctx->make_arg, r->set, &k);
	if (ret == RS_ELOCKED) {
		note_custody(r, find_live(r->set, predecessor), "new key waits: generating one needs an admin "
			     "activation (regsign activate --admin-share)");
		return rs_diag(diag, ret, "cannot make a %s: key changes need an admin activation",
			       rs_role_name(role));
	}
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "cannot make a %s: %s", rs_role_name(role), rs_strerror(ret));
	if ((ret = rs_keyset_add(r->set, &k)) != RS_EOK)
		return rs_diag(diag, ret, "out of memory");
	rs_keystate_t *old = find_live(r->set, predecessor);
	if (old != NULL && old->goal == RS_GOAL_ACTIVE)
		old->goal = (flags & RS_KEY_ALG_ROLL) ? RS_GOAL_RETIRE_ALG : RS_GOAL_RETIRE;
	const rs_keystate_t *made = &r->set->keys[r->set->count - 1];
	say(r, made, RS_EV_CREATED, "created (%s %u)%s", rs_alg_name(alg), made->bits,
	    (flags & RS_KEY_EMERGENCY) ? ", emergency" : "");
	if (r->ctx->made != NULL && (ret = r->ctx->made(r->ctx->make_arg, r->set, r->set->count - 1)) != RS_EOK)
		return rs_diag(diag, ret, "cannot record the new %s: %s", rs_role_name(role), rs_strerror(ret));
	return RS_EOK;
}

/* The key of role that is in service and not yet being replaced. */
static rs_keystate_t *current(rs_keyset_t *set, int role)
{
	rs_keystate_t *best = NULL;
	for (size_t i = 0; i < set->count; i++) {
		rs_keystate_t *k = &set->keys[i];
		if (k->goal == RS_GOAL_ACTIVE && k->role == role && (best == NULL || k->created > best->created))
			best = k;
	}
	return best;
}

static bool matches_policy(const rs_policy_t *p, const rs_keystate_t *k)
{
	if (p->csk)
		return k->role == RS_ROLE_CSK && k->alg == p->ksk.alg;
	return k->role != RS_ROLE_CSK && k->alg == (k->role == RS_ROLE_KSK ? p->ksk.alg : p->zsk.alg);
}

/* The keys the policy asks for: { role, timing } in the order they are made. */
static size_t policy_roles(const rs_policy_t *p, int roles[2])
{
	if (p->csk) {
		roles[0] = RS_ROLE_CSK;
		return 1;
	}
	roles[0] = RS_ROLE_KSK;
	roles[1] = RS_ROLE_ZSK;
	return 2;
}

/* A ZSK rollover finished (its old key left the RRset) within the last publish interval. */
static bool zsk_roll_just_done(const run_t *r)
{
	for (size_t i = 0; i < r->set->count; i++) {
		const rs_keystate_t *k = &r->set->keys[i];
		if (k->role == RS_ROLE_ZSK && k->removed != 0 && r->now - k->removed <= r->p->zsk.publish)
			return true;
	}
	return false;
}

static int schedule(run_t *r, rs_diag_t *diag)
{
	int roles[2];
	size_t nroles = policy_roles(r->p, roles);
	/* Keys that no longer match the policy (algorithm or key layout): an algorithm rollover. */
	bool mismatch = false;
	for (size_t i = 0; i < r->set->count; i++)
		if (r->set->keys[i].goal == RS_GOAL_ACTIVE && !matches_policy(r->p, &r->set->keys[i]))
			mismatch = true;
	if (mismatch) {
		if (!limit_allows(r, nroles)) {
			note_deferral(r, NULL, "algorithm rollover");
			return RS_EOK;
		}
		for (size_t j = 0; j < nroles; j++) {
			const rs_policy_key_t *t = roles[j] == RS_ROLE_ZSK ? &r->p->zsk : &r->p->ksk;
			/* The predecessor: the old key that did this job (a CSK does both). */
			rs_keystate_t *old = NULL;
			for (size_t i = 0; i < r->set->count; i++) {
				rs_keystate_t *k = &r->set->keys[i];
				if (k->goal == RS_GOAL_ACTIVE && !matches_policy(r->p, k) && has(k, roles[j]) &&
				    !(k->flags & RS_KEY_ALG_ROLL))
					old = k;
			}
			int ret = new_key(r, roles[j], t->alg, t->bits, old ? old->tag : 0, RS_KEY_ALG_ROLL, diag);
			if (ret == RS_ELOCKED)
				return RS_EOK; /* the whole rollover waits for the custodians */
			if (ret != RS_EOK)
				return ret;
		}
		/* Old keys not taken over above (a CSK's second job) retire with the rest. */
		for (size_t i = 0; i < r->set->count; i++)
			if (r->set->keys[i].goal == RS_GOAL_ACTIVE && !matches_policy(r->p, &r->set->keys[i]))
				r->set->keys[i].goal = RS_GOAL_RETIRE_ALG;
		return RS_EOK;
	}
	for (size_t j = 0; j < nroles; j++) {
		const rs_policy_key_t *t = roles[j] == RS_ROLE_ZSK ? &r->p->zsk : &r->p->ksk;
		rs_keystate_t *cur = current(r->set, roles[j]);
		if (cur == NULL) {
			int ret = new_key(r, roles[j], t->alg, t->bits, 0, 0, diag);
			if (ret != RS_EOK && ret != RS_ELOCKED)
				return ret;
			continue;
		}
		/* A key's lifetime counts from the publication that put it to use: not yet, while pending. */
		if (t->lifetime == 0 || cur->active == 0 || cur->published == 0 || cur->pending != 0)
			continue;
		/* RFC 5011: the successor must be trusted by tracking resolvers when the lifetime ends. */
		int64_t lead = t->publish;
		if (roles[j] != RS_ROLE_ZSK && r->p->anchors.rfc5011 &&
		    settle_time(r, RS_REC_DNSKEY) + r->p->anchors.add_holddown > lead)
			lead = settle_time(r, RS_REC_DNSKEY) + r->p->anchors.add_holddown;
		int64_t due = cur->active + t->lifetime - lead;
		/*
		 * With a DNSKEY limit, a KSK rollover starts at the end of a ZSK rollover
		 * if it is due within one ZSK lifetime, so that it fits before the next
		 * one (the .cloud statement 6.4: "centred around" the ZSK cycle).
		 */
		bool early = roles[j] == RS_ROLE_KSK && r->p->max_dnskeys != 0 &&
			     r->now >= due - r->p->zsk.lifetime && zsk_roll_just_done(r);
		if (r->now < due && !early) {
			wake_at(r, due);
			continue;
		}
		if (!limit_allows(r, 1)) {
			note_deferral(r, cur, "rollover");
			continue; /* until a key leaves the RRset; that step wakes us */
		}
		int ret = new_key(r, roles[j], t->alg, t->bits, cur->tag, 0, diag);
		if (ret != RS_EOK && ret != RS_ELOCKED)
			return ret;
	}
	return RS_EOK;
}

static int run_steps(run_t *r, rs_diag_t *diag)
{
	for (int round = 0; round < 64; round++) {
		r->changed = false;
		int ret = schedule(r, diag);
		if (ret != RS_EOK)
			return ret;
		for (size_t i = 0; i < r->set->count; i++) {
			rs_keystate_t *k = &r->set->keys[i];
			if (!live(k))
				continue;
			settle(r, k);
			if (k->goal == RS_GOAL_ACTIVE) {
				if (k->state[RS_REC_DNSKEY] == RS_HIDDEN && k->published == 0)
					introduce(r, k);
				if (has(k, RS_ROLE_ZSK) && k->state[RS_REC_ZRRSIG] == RS_HIDDEN &&
				    !(k->flags & RS_KEY_ALG_ROLL))
					activate_zsk(r, k);
				if (has(k, RS_ROLE_KSK))
					submit_ds(r, k);
			} else {
				retire(r, k);
			}
		}
		if (!r->changed)
			return RS_EOK;
	}
	return rs_diag(diag, RS_ELIMIT, "the key state machine did not settle");
}

int rs_enforce(const rs_policy_t *policy, rs_keyset_t *set, int64_t now,
	       const rs_enforce_ctx_t *ctx, int64_t *next, rs_diag_t *diag)
{
	run_t r = { .p = policy, .set = set, .now = now, .ctx = ctx, .next = INT64_MAX };
	int ret = run_steps(&r, diag);
	if (ret == RS_EOK && next != NULL)
		*next = r.next;
	return ret;
}

int rs_enforce_rollover(const rs_policy_t *policy, rs_keyset_t *set, int role, int flags,
			int64_t now, const rs_enforce_ctx_t *ctx, rs_diag_t *diag)
{
	run_t r = { .p = policy, .set = set, .now = now, .ctx = ctx, .next = INT64_MAX };
	if (policy->csk)
		role = RS_ROLE_CSK;
	/* The key in service: the oldest live one of the role (during a rollover, the one being replaced). */
	rs_keystate_t *cur = NULL;
	for (size_t i = 0; i < set->count; i++) {
		rs_keystate_t *k = &set->keys[i];
		if (live(k) && k->role == role && k->goal != RS_GOAL_RETIRE_ALG &&
		    (cur == NULL || k->created < cur->created))
			cur = k;
	}
	if (cur == NULL)
		return rs_diag(diag, RS_ENOKEY, "no %s in service to roll over", rs_role_name(role));
	if (!matches_policy(policy, cur))
		return rs_diag(diag, RS_EINVAL, "an algorithm rollover is in progress");
	bool emergency = flags & RS_ROLLOVER_EMERGENCY;
	rs_keystate_t *succ = NULL;
	for (size_t i = 0; i < set->count; i++)
		if (set->keys[i].predecessor == cur->tag && live(&set->keys[i]))
			succ = &set->keys[i];
	if (succ != NULL && !emergency)
		return rs_diag(diag, RS_EINVAL, "a %s rollover is already in progress (key %u)",
			       rs_role_name(role), succ->tag);
	if (!emergency && !limit_allows(&r, 1))
		return rs_diag(diag, RS_ELIMIT, "a new %s would make %zu DNSKEYs; the policy allows %u",
			       rs_role_name(role), published_count(set) + 1, policy->max_dnskeys);
	/* An emergency retires the compromised key as fast as is safe: the new key waits only for caches. */
	if (emergency) {
		cur->flags |= RS_KEY_COMPROMISED;
		say(&r, cur, RS_EV_COMPROMISED, "marked compromised: emergency rollover");
	}
	if (succ != NULL) {
		succ->flags |= RS_KEY_EMERGENCY;
		return RS_EOK;
	}
	const rs_policy_key_t *t = role == RS_ROLE_ZSK ? &policy->zsk : &policy->ksk;
	return new_key(&r, role, t->alg, t->bits, cur->tag, emergency ? RS_KEY_EMERGENCY : 0, diag);
}

/* The parent did what a key's pending DS request asked: the DS record's state moves on from now. */
static int ds_done(rs_keyset_t *set, uint16_t tag, int64_t now, int pending, int state, rs_diag_t *diag)
{
	rs_keystate_t *k = rs_keyset_find(set, tag);
	if (k == NULL)
		return rs_diag(diag, RS_ENOKEY, "no key %u", tag);
	if (k->ds != pending)
		return rs_diag(diag, RS_EINVAL, pending == RS_DS_SUBMIT
					       ? "the DS of key %u was not submitted to the parent"
					       : "the DS of key %u was not to be removed from the parent", tag);
	k->ds = RS_DS_NONE;
	k->state[RS_REC_DS] = (uint8_t)state;
	k->since[RS_REC_DS] = now;
	return RS_EOK;
}

int rs_enforce_ds_seen(rs_keyset_t *set, uint16_t tag, int64_t now, rs_diag_t *diag)
{
	return ds_done(set, tag, now, RS_DS_SUBMIT, RS_RUMOURED, diag);
}

int rs_enforce_ds_gone(rs_keyset_t *set, uint16_t tag, int64_t now, rs_diag_t *diag)
{
	return ds_done(set, tag, now, RS_DS_WITHDRAW, RS_UNRETENTIVE, diag);
}
