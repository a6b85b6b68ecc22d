/*
 * The zone session: one writer per zone, key steps in memory, and one short
 * transaction that records them with their history and audit entries.
 * Publication is publish.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regsign/audit.h"
#include "regsign/registry.h"

const rs_zone_rec_t *rs_session_zone(const rs_session_t *s)
{
	return &s->zone;
}

const rs_policy_t *rs_session_policy(const rs_session_t *s)
{
	return &s->policy;
}

const rs_keyset_t *rs_session_keys(const rs_session_t *s)
{
	return &s->keys;
}

size_t rs_session_steps(const rs_session_t *s)
{
	return s->steps;
}

/* Put the zone's name before the reason diag holds (the reason is copied first: rs_diag formats into diag). */
static int zone_error(const rs_session_t *s, int ret, rs_diag_t *diag)
{
	char why[sizeof(diag->text)];
	snprintf(why, sizeof(why), "%s", diag->text);
	return rs_diag(diag, ret, "%s: %s", s->zone.name, why);
}

/* ---- history and audit ---- */

static void note_v(rs_session_t *s, const char *action, uint16_t tag, int level, const char *fmt, va_list ap)
{
	note_t n = { .when = s->o.now, .tag = tag, .level = level };
	snprintf(n.action, sizeof(n.action), "%s", action);
	vsnprintf(n.text, sizeof(n.text), fmt, ap);
	if (s->nnotes == s->capnotes) {
		size_t cap = s->capnotes ? 2 * s->capnotes : 16;
		note_t *v = realloc(s->notes, cap * sizeof(*v));
		if (v == NULL) {
			s->note_lost = true; /* the commit refuses: a change without its history is not made */
			return;
		}
		s->notes = v;
		s->capnotes = cap;
	}
	s->notes[s->nnotes++] = n;
}

void session_note(rs_session_t *s, const char *action, uint16_t tag, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	note_v(s, action, tag, level, fmt, ap);
	va_end(ap);
}

void rs_session_note(rs_session_t *s, const char *action, uint16_t tag, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	note_v(s, action, tag, RS_LOG_NOTICE, fmt, ap);
	va_end(ap);
}

/* Record notes [from, nnotes) in the open transaction. */
static int record_notes(rs_session_t *s, size_t from, rs_diag_t *diag)
{
	if (s->note_lost)
		return rs_diag(diag, RS_ENOMEM, "%s: out of memory for the history", s->zone.name);
	for (size_t i = from; i < s->nnotes; i++) {
		note_t *n = &s->notes[i];
		if (n->recorded)
			continue;
		rs_audit_event_t e = { n->when, s->o.operator, n->action, s->zone.name, n->tag,
				       n->failed ? "failed" : "ok", n->text };
		int ret = rs_store_history_add(s->store, s->zone.name, n->when, n->tag, n->text);
		if (ret == RS_EOK)
			ret = rs_audit_record(s->store, &e, diag);
		else
			rs_diag(diag, ret, "%s: cannot record the history", s->zone.name);
		if (ret != RS_EOK)
			return ret;
	}
	return RS_EOK;
}

/* Tell the operator what was recorded, once it is. */
static void tell_notes(rs_session_t *s, size_t from)
{
	for (size_t i = from; i < s->nnotes; i++) {
		note_t *n = &s->notes[i];
		if (!n->recorded && n->level != 0)
			rs_log(&s->o.log, n->level, s->zone.name, "%s", n->text);
		n->recorded = true;
	}
}

void session_flush_audit(rs_session_t *s)
{
	char target[512] = "";
	rs_store_setting_get(s->store, RS_SET_SYSLOG, target, sizeof(target));
	rs_diag_t diag;
	if (rs_audit_flush(s->store, target, &diag) != RS_EOK)
		rs_log(&s->o.log, RS_LOG_ERR, s->zone.name, "ALARM: audit: %s", diag.text);
}

int session_commit_audited(rs_session_t *s, int ret, const rs_audit_event_t *e, rs_diag_t *diag)
{
	if (ret == RS_EOK)
		ret = rs_audit_record(s->store, e, diag);
	if (ret == RS_EOK)
		ret = rs_store_commit(s->store, diag);
	if (ret != RS_EOK) {
		rs_store_rollback(s->store);
		return ret;
	}
	session_flush_audit(s);
	return RS_EOK;
}

/* ---- open and close ---- */

int rs_session_open(rs_store_t *store, const char *name, const rs_session_opts_t *opts, rs_session_t **out,
		    rs_diag_t *diag)
{
	uint8_t wire[RS_NAME_MAX];
	char canon[256];
	if (rs_dname_from_str(name, wire) < 0)
		return rs_diag(diag, RS_ESYNTAX, "invalid zone name '%s'", name);
	rs_dname_to_str(wire, canon, sizeof(canon)); /* lower case: rs_dname_from_str folds it */
	rs_session_t *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	s->store = store;
	s->o = *opts;
	if (s->o.operator == NULL)
		s->o.operator = "regsign";
	memcpy(s->origin, wire, sizeof(wire));
	snprintf(s->zone.name, sizeof(s->zone.name), "%s", canon);
	/* A name that is not managed gets no lock file; one that is is read again under its lock. */
	int ret = rs_store_zone_get(store, canon, &s->zone);
	if (ret == RS_ENOENT)
		rs_diag(diag, ret, "zone '%s' is not managed here (see regsign zone add)", canon);
	else if (ret != RS_EOK)
		rs_diag(diag, ret, "cannot read the state of '%s': %s", canon, rs_strerror(ret));
	if (ret == RS_EOK && !opts->read_only)
		ret = rs_store_zone_lock(store, canon, opts->wait, &s->lock, diag);
	if (ret == RS_EOK)
		ret = rs_store_read_begin(store, diag);
	if (ret == RS_EOK) {
		ret = rs_store_zone_get(store, canon, &s->zone);
		if (ret == RS_ENOENT)
			rs_diag(diag, ret, "zone '%s' is not managed here (see regsign zone add)", canon);
		else if (ret == RS_EOK && (ret = rs_store_keys_load(store, canon, &s->keys)) == RS_EOK)
			ret = rs_keyset_copy(&s->keys, &s->loaded);
		if (ret != RS_EOK && ret != RS_ENOENT)
			rs_diag(diag, ret, "cannot read the state of '%s': %s", canon, rs_strerror(ret));
		rs_store_read_end(store);
	}
	if (ret == RS_EOK)
		ret = rs_policy_lookup(store, s->zone.policy, &s->policy, NULL, diag);
	if (ret != RS_EOK) {
		rs_session_close(s);
		return ret;
	}
	s->keys.soa_ttl = s->zone.soa_ttl;
	s->keys.soa_minimum = s->zone.soa_minimum;
	s->keys.old_max_zone_ttl = s->zone.old_max_ttl;
	s->keys.old_max_until = s->zone.old_max_until;
	/* A new or re-imported policy may allow less TTL than the one the zone was signed under. */
	rs_keyset_max_ttl_change(&s->keys, s->zone.max_ttl, s->policy.max_zone_ttl, s->policy.zone_propagation,
				 s->o.now);
	s->zone.max_ttl = s->policy.max_zone_ttl;
	*out = s;
	return RS_EOK;
}

void rs_session_close(rs_session_t *s)
{
	if (s == NULL)
		return;
	if (s->own_keys)
		rs_keystore_free(s->ks);
	rs_keyset_clear(&s->keys);
	rs_keyset_clear(&s->loaded);
	free(s->notes);
	free(s->policy_text);
	rs_store_unlock(s->lock);
	free(s);
}

int session_keystore(rs_session_t *s, rs_keystore_t **out, rs_diag_t *diag)
{
	if (s->ks == NULL && s->o.keys != NULL) {
		s->ks = s->o.keys;
	} else if (s->ks == NULL) {
		int ret = rs_site_keystore(s->store, &s->ks, diag);
		if (ret != RS_EOK)
			return ret;
		s->own_keys = true;
	}
	*out = s->ks;
	return RS_EOK;
}

/* ---- key steps ---- */

static const char *event_action(rs_event_type_t type)
{
	switch (type) {
	case RS_EV_CREATED: return "key-generate";
	case RS_EV_REMOVED: return "key-retire";
	case RS_EV_DS_SUBMIT: case RS_EV_DS_CANCEL: case RS_EV_DS_WITHDRAW: return "ds-change";
	case RS_EV_DEFERRED: return "key-deferred";
	case RS_EV_CUSTODY_WAIT: return "custody-wait";
	default: return "key-step";
	}
}

/* Steps of the state machine as "role tag algorithm: what", noted for the history and the audit log. */
static void on_event(void *arg, int64_t when, const rs_event_t *ev)
{
	rs_session_t *s = arg;
	(void)when; /* it is s->o.now */
	const rs_keystate_t *k = ev->key;
	/* What the operator must do next is shown even to a quiet caller. */
	int level = ev->type == RS_EV_DS_SUBMIT || ev->type == RS_EV_DS_WITHDRAW || ev->type == RS_EV_CUSTODY_WAIT
			    ? RS_LOG_ALERT
			    : RS_LOG_NOTICE;
	if (k == NULL)
		session_note(s, event_action(ev->type), 0, level, "%s", ev->text);
	else if (ev->type == RS_EV_CREATED)
		session_note(s, event_action(ev->type), k->tag, level, "%s %u %s: %s in %s", rs_role_name(k->role),
			     k->tag, rs_alg_name(k->alg), ev->text, k->locator);
	else
		session_note(s, event_action(ev->type), k->tag, level, "%s %u %s: %s", rs_role_name(k->role), k->tag,
			     rs_alg_name(k->alg), ev->text);
	if (rs_event_is_change(ev))
		s->steps++;
}

/* A tag names a key in its zone forever: never two keys with one tag, even years apart. */
static bool tag_used(const rs_keyset_t *set, uint16_t tag)
{
	for (size_t i = 0; i < set->count; i++)
		if (set->keys[i].tag == tag)
			return true;
	return false;
}

/* Recorded before the key's material exists: an interrupted run leaves a key the state knows of. */
static int record_intent(void *arg, const char *locator)
{
	rs_session_t *s = arg;
	rs_diag_t diag;
	int ret = rs_store_begin(s->store, &diag);
	if (ret == RS_EOK && (ret = rs_store_intent_add(s->store, s->zone.name, locator, s->o.now, &diag)) == RS_EOK)
		ret = rs_store_commit(s->store, &diag);
	if (ret != RS_EOK) {
		rs_store_rollback(s->store);
		rs_log(&s->o.log, RS_LOG_ERR, s->zone.name, "%s", diag.text);
	}
	return ret;
}

/*
 * A key this run just made and throws away at once (its tag is taken, it
 * could not be labelled, its row could not be recorded): never published,
 * so its material and intent are destroyed, audited. Material from any
 * other source is quarantined instead (quarantine_unknown).
 */
static int destroy_just_made(rs_session_t *s, const char *locator, const char *why, rs_diag_t *diag)
{
	rs_keystore_t *ks;
	int ret = session_keystore(s, &ks, diag);
	if (ret == RS_EOK)
		ret = rs_keystore_destroy(ks, locator, diag);
	bool had = ret == RS_EOK;
	if (ret != RS_EOK && ret != RS_ENOENT)
		return ret;
	if ((ret = rs_store_begin(s->store, diag)) != RS_EOK)
		return ret;
	ret = rs_store_intent_remove(s->store, locator, diag);
	char detail[300];
	/* Said either way: a crash after the material went and before this entry leaves no silent gap. */
	snprintf(detail, sizeof(detail), "%s %s, made in this run and never published: %s",
		 had ? "key" : "key material already gone at", locator, why);
	rs_audit_event_t e = { s->o.now, s->o.operator, "key-destroy", s->zone.name, 0, "ok", detail };
	return session_commit_audited(s, ret, &e, diag);
}

static int destroyed(rs_session_t *s, rs_keystate_t *k, rs_diag_t *diag);

rs_keystate_t *session_key_at(rs_session_t *s, const char *locator)
{
	for (size_t i = 0; i < s->keys.count; i++)
		if (strcmp(s->keys.keys[i].locator, locator) == 0)
			return &s->keys.keys[i];
	return NULL;
}

static void collect_intent(void *arg, const char *locator, int64_t when)
{
	(void)when;
	rs_keyset_t *set = arg;
	rs_keystate_t k = { 0 };
	snprintf(k.locator, sizeof(k.locator), "%s", locator);
	rs_keyset_add(set, &k);
}

/*
 * Keys an interrupted run began to make but never recorded, or that a state
 * which went back no longer knows: the intent rows name their locators. A
 * key whose row is there is finished (its creation, or its audited
 * destruction); material with no row is quarantined, never destroyed:
 * whether it was ever published only the operator can tell.
 */
static int finish_interrupted(rs_session_t *s, rs_diag_t *diag)
{
	(void)diag;
	rs_keyset_t intents = { 0 };
	int ret = rs_store_intents(s->store, s->zone.name, collect_intent, &intents);
	for (size_t i = 0; ret == RS_EOK && i < intents.count; i++) {
		const char *locator = intents.keys[i].locator;
		rs_keystate_t *known = session_key_at(s, locator);
		rs_diag_t why;
		int done;
		if (known != NULL && known->goal == RS_GOAL_DEAD) {
			done = destroyed(s, known, &why); /* a destruction that was interrupted, audited already */
		} else if (known != NULL) {
			done = rs_store_begin(s->store, &why); /* a creation whose row was committed */
			if (done == RS_EOK && (done = rs_store_intent_remove(s->store, locator, &why)) == RS_EOK)
				done = rs_store_commit(s->store, &why);
			if (done != RS_EOK)
				rs_store_rollback(s->store);
		} else {
			done = session_quarantine_unknown(s, locator, "a key intent with no key row: made by an interrupted "
						  "run, or the state went back", true, &why);
		}
		/* The intent stays for the next run; the zone itself must not stop for it. */
		const char *waits = known == NULL ? "quarantined" : known->goal == RS_GOAL_DEAD ? "destroyed" : "cleared";
		if (done != RS_EOK)
			rs_log(&s->o.log, RS_LOG_ALERT, s->zone.name, "key material at %s waits to be %s: %s", locator,
			       waits, why.text);
	}
	rs_keyset_clear(&intents);
	session_quarantine_strays(s);
	return RS_EOK;
}

/* A new key where the state directory keeps them, labelled "<zone> <role> <tag> <alg>" in a token. */
static int make_key(void *arg, const rs_keyset_t *set, rs_keystate_t *ks)
{
	rs_session_t *s = arg;
	rs_keystore_t *store;
	rs_diag_t diag;
	int ret = session_keystore(s, &store, &diag);
	if (ret != RS_EOK) {
		rs_log(&s->o.log, RS_LOG_ERR, s->zone.name, "%s", diag.text);
		return ret;
	}
	char label[300], locator[RS_LOCATOR_MAX];
	snprintf(label, sizeof(label), "%s new %s", s->zone.name, rs_alg_name(ks->alg));
	rs_keygen_t g = { s->origin, ks->alg, ks->bits, (ks->role & RS_ROLE_KSK) != 0, label, s->o.now,
			  rs_policy_dnskey_ttl(&s->policy, s->zone.soa_ttl), record_intent, s };
	rs_key_t *key = NULL;
	for (int attempt = 0; attempt < 32; attempt++) {
		/* A key file of that name exists (its tag is taken, by this zone or another): try again. */
		if ((ret = rs_keystore_generate(store, &g, &key, locator, &diag)) == -EEXIST)
			continue;
		if (ret != RS_EOK)
			break;
		if (!tag_used(set, rs_key_tag(key)))
			break;
		rs_key_free(key);
		key = NULL;
		destroy_just_made(s, locator, "its key tag is taken", NULL);
	}
	if (ret == -EEXIST)
		ret = rs_diag(&diag, RS_ELIMIT, "no free key file name after 32 keys");
	if (ret == RS_EOK && key == NULL)
		ret = rs_diag(&diag, RS_ELIMIT, "no free key tag after 32 keys");
	if (ret == RS_EOK) {
		snprintf(label, sizeof(label), "%s %s %u %s", s->zone.name, rs_role_name(ks->role), rs_key_tag(key),
			 rs_alg_name(ks->alg));
		if ((ret = rs_keystore_relabel(store, locator, label, &diag)) != RS_EOK)
			destroy_just_made(s, locator, "it could not be labelled", NULL);
	}
	if (ret == RS_EOK) {
		ks->tag = rs_key_tag(key);
		ks->bits = (uint16_t)rs_key_bits(key);
		snprintf(ks->locator, sizeof(ks->locator), "%s", locator);
	} else if (ret != RS_ELOCKED) { /* a locked store is a step that waits, which the enforcer reports */
		rs_log(&s->o.log, RS_LOG_ERR, s->zone.name, "%s", diag.text);
	}
	rs_key_free(key);
	return ret;
}

/*
 * A key exists from the moment it is made: its row, its predecessor's new
 * goal and its audit entry are committed at once, so no later failure of
 * the run can leave key material the state does not know.
 */
static int key_made(void *arg, const rs_keyset_t *set, size_t index)
{
	rs_session_t *s = arg;
	const rs_keystate_t *k = &set->keys[index];
	rs_keyset_t rows = { 0 };
	/* The new key as made (all hidden), and its predecessor as last committed, but for its goal. */
	int ret = rs_keyset_add(&rows, k);
	const rs_keystate_t *pred = k->predecessor ? rs_keyset_find(&s->loaded, k->predecessor) : NULL;
	const rs_keystate_t *pred_now = k->predecessor ? rs_keyset_find((rs_keyset_t *)set, k->predecessor) : NULL;
	if (ret == RS_EOK && pred != NULL && pred_now != NULL) {
		rs_keystate_t p = *pred;
		p.goal = pred_now->goal;
		ret = rs_keyset_add(&rows, &p);
	}
	rs_diag_t diag;
	size_t from = s->nnotes - 1; /* the "created" note just made */
	if (ret == RS_EOK)
		ret = rs_store_begin(s->store, &diag);
	if (ret == RS_EOK) {
		ret = rs_store_keys_save(s->store, s->zone.name, &rows, &diag);
		if (ret == RS_EOK)
			ret = rs_store_intent_remove(s->store, k->locator, &diag);
		if (ret == RS_EOK)
			ret = record_notes(s, from, &diag);
		if (ret == RS_EOK)
			ret = rs_store_commit(s->store, &diag);
		if (ret != RS_EOK)
			rs_store_rollback(s->store);
	}
	rs_keyset_clear(&rows);
	if (ret != RS_EOK) {
		rs_log(&s->o.log, RS_LOG_ERR, s->zone.name, "%s", diag.text);
		destroy_just_made(s, k->locator, "its row could not be recorded", NULL);
		return ret;
	}
	/* Committed: the loaded copy now has it too, as a later key_made expects. */
	rs_keystate_t *lp = pred != NULL ? rs_keyset_find(&s->loaded, k->predecessor) : NULL;
	if (lp != NULL)
		lp->goal = pred_now->goal;
	rs_keyset_add(&s->loaded, k);
	tell_notes(s, from);
	session_flush_audit(s);
	return RS_EOK;
}

static rs_enforce_ctx_t session_ctx(rs_session_t *s)
{
	return (rs_enforce_ctx_t){ make_key, s, on_event, s, key_made };
}

int session_check_writable(const rs_session_t *s, rs_diag_t *diag)
{
	if (s->o.read_only)
		return rs_diag(diag, RS_EINVAL, "%s: this session only looks", s->zone.name);
	if (s->removed)
		return rs_diag(diag, RS_EINVAL, "%s: the zone is being removed", s->zone.name);
	return RS_EOK;
}

int rs_session_enforce(rs_session_t *s, rs_diag_t *diag)
{
	int ret = session_check_writable(s, diag);
	if (ret == RS_EOK)
		ret = rs_session_check_step_clock(s, diag);
	if (ret != RS_EOK)
		return ret;
	if ((ret = finish_interrupted(s, diag)) != RS_EOK)
		return ret;
	rs_enforce_ctx_t ctx = session_ctx(s);
	int64_t next;
	ret = rs_enforce(&s->policy, &s->keys, s->o.now, &ctx, &next, diag);
	if (ret != RS_EOK)
		return zone_error(s, ret, diag);
	if (s->o.now > s->zone.last_enforce)
		s->zone.last_enforce = s->o.now;
	/* Steps that wait for a publication are due now, for whoever publishes. */
	s->zone.next_event = rs_keyset_pending(&s->keys) > 0 ? s->o.now : next;
	return RS_EOK;
}

int rs_session_rollover(rs_session_t *s, int role, int flags, rs_diag_t *diag)
{
	int ret = rs_session_enforce(s, diag);
	if (ret != RS_EOK)
		return ret;
	rs_enforce_ctx_t ctx = session_ctx(s);
	ret = rs_enforce_rollover(&s->policy, &s->keys, role, flags, s->o.now, &ctx, diag);
	if (ret != RS_EOK)
		return zone_error(s, ret, diag);
	/* The rollover's first steps (the new key's publication) are due at once. */
	return rs_session_enforce(s, diag);
}

int rs_session_ds_done(rs_session_t *s, uint16_t tag, bool seen, rs_diag_t *diag)
{
	int ret = session_check_writable(s, diag);
	if (ret == RS_EOK)
		ret = rs_session_check_step_clock(s, diag);
	if (ret != RS_EOK)
		return ret;
	ret = seen ? rs_enforce_ds_seen(&s->keys, tag, s->o.now, diag) : rs_enforce_ds_gone(&s->keys, tag, s->o.now, diag);
	if (ret != RS_EOK)
		return zone_error(s, ret, diag);
	session_note(s, "ds-change", tag, RS_LOG_NOTICE, "DS of key %u %s at the parent (operator)", tag,
		     seen ? "seen" : "gone");
	s->steps++;
	return RS_EOK;
}

int rs_session_set_policy(rs_session_t *s, const char *name, rs_diag_t *diag)
{
	int ret = session_check_writable(s, diag);
	rs_policy_t policy;
	char *text = NULL;
	if (ret == RS_EOK)
		ret = rs_policy_lookup(s->store, name, &policy, &text, diag);
	rs_diag_t why;
	if (ret == RS_EOK && (ret = rs_policy_check(&policy, s->zone.soa_ttl, &why)) != RS_EOK)
		rs_diag(diag, ret, "policy '%s' cannot be kept for %s: %s", name, s->zone.name, why.text);
	if (ret == RS_EOK) {
		free(s->policy_text);
		s->policy_text = text; /* stored at commit if the store has no such policy yet */
		text = NULL;
		session_note(s, "policy-change", 0, RS_LOG_NOTICE, "policy changed from %s to %s", s->zone.policy, name);
		rs_keyset_max_ttl_change(&s->keys, s->policy.max_zone_ttl, policy.max_zone_ttl,
					 s->policy.zone_propagation, s->o.now);
		s->policy = policy;
		snprintf(s->zone.policy, sizeof(s->zone.policy), "%s", name);
		s->zone.max_ttl = policy.max_zone_ttl;
		s->zone.next_event = s->o.now;
	}
	free(text);
	return ret;
}

int rs_session_set_parent(rs_session_t *s, const char *agents, rs_diag_t *diag)
{
	int ret = session_check_writable(s, diag);
	if (ret != RS_EOK)
		return ret;
	if (strlen(agents) >= sizeof(s->zone.parent_agents))
		return rs_diag(diag, RS_ELIMIT, "%s: too many parent agents", s->zone.name);
	snprintf(s->zone.parent_agents, sizeof(s->zone.parent_agents), "%s", agents);
	session_note(s, "zone-config", 0, RS_LOG_NOTICE, "parent agents: %s",
		     agents[0] ? agents : "none (the operator confirms DS changes)");
	return RS_EOK;
}

int rs_session_set_registry(rs_session_t *s, rs_diag_t *diag)
{
	int ret = session_check_writable(s, diag);
	if (ret != RS_EOK || s->zone.registry)
		return ret;
	s->zone.registry = true;
	s->mark_registry = true;
	session_note(s, "zone-config", 0, RS_LOG_NOTICE, "built from the registry data (template %s)", s->zone.input);
	return RS_EOK;
}

int rs_session_remove(rs_session_t *s, rs_diag_t *diag)
{
	int ret = session_check_writable(s, diag);
	if (ret != RS_EOK)
		return ret;
	/* Every key of the zone is destroyed, so that must be possible first: no row will remember them. */
	bool material = false;
	for (size_t i = 0; i < s->keys.count; i++)
		material = material || !(s->keys.keys[i].flags & RS_KEY_DESTROYED);
	rs_keystore_t *ks;
	rs_diag_t why;
	if (material && ((ret = session_keystore(s, &ks, &why)) != RS_EOK ||
			 (ret = rs_keystore_unlock(ks, RS_ACCESS_ADMIN, &why)) != RS_EOK))
		return rs_diag(diag, ret, "%s: removing the zone destroys its keys: %s", s->zone.name, why.text);
	/* A key belongs to one zone only, forever. */
	for (size_t i = 0; i < s->keys.count; i++)
		s->keys.keys[i].goal = RS_GOAL_DEAD;
	s->removed = true;
	session_note(s, "zone-remove", 0, RS_LOG_NOTICE, "zone removed; %zu key(s) to destroy", s->keys.count);
	return RS_EOK;
}

/* ---- the parent ---- */

int rs_session_parent(rs_session_t *s, bool verbose, rs_diag_t *diag)
{
	int ret = session_check_writable(s, diag);
	if (ret != RS_EOK)
		return ret;
	bool pending = false;
	for (size_t i = 0; i < s->keys.count; i++)
		pending = pending || s->keys.keys[i].ds != RS_DS_NONE;
	if (s->zone.parent_agents[0] == '\0' || (!pending && !verbose) || s->parent_asked)
		return RS_EOK;
	s->parent_asked = true; /* once per session */
	enum { MAX_AGENTS = 8 };
	rs_ds_set_t *sets = calloc(MAX_AGENTS, sizeof(*sets));
	if (sets == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	char agents[sizeof(s->zone.parent_agents)], *save = NULL;
	snprintf(agents, sizeof(agents), "%s", s->zone.parent_agents);
	size_t n = 0;
	bool failed = false;
	for (char *a = strtok_r(agents, " ,", &save); a != NULL && n < MAX_AGENTS; a = strtok_r(NULL, " ,", &save)) {
		rs_diag_t why;
		if (rs_parent_ds_query(a, s->origin, 2000, &sets[n], &why) != RS_EOK) {
			session_note(s, "parent-check", 0, RS_LOG_WARNING, "parent: %s", why.text);
			failed = true;
			continue;
		}
		if (verbose)
			session_note(s, "parent-check", 0, RS_LOG_NOTICE, "parent: %s serves %zu DS record(s)", a,
				     sets[n].count);
		n++;
	}
	/* A server that cannot answer stops all conclusions this time; the next run asks again. */
	rs_keystore_t *ks = NULL;
	for (size_t i = 0; !failed && n > 0 && i < s->keys.count; i++) {
		rs_keystate_t *k = &s->keys.keys[i];
		if (k->ds == RS_DS_NONE)
			continue;
		rs_key_t *key;
		rs_diag_t why;
		if ((ks == NULL && session_keystore(s, &ks, &why) != RS_EOK) ||
		    rs_keystore_load(ks, k->locator, s->origin, k->alg, (k->role & RS_ROLE_KSK) != 0, false, &key,
				     &why) != RS_EOK) {
			session_note(s, "parent-check", k->tag, RS_LOG_WARNING, "key %u: %s", k->tag, why.text);
			continue;
		}
		size_t len, have = 0;
		const uint8_t *dnskey = rs_key_dnskey(key, &len);
		for (size_t j = 0; j < n; j++)
			have += rs_ds_set_has_key(&sets[j], s->origin, dnskey, len);
		rs_key_free(key);
		/* Only what every server of the parent shows counts (RFC 7583 3.3.2: the parent's propagation). */
		if (k->ds == RS_DS_SUBMIT && have == n) {
			rs_enforce_ds_seen(&s->keys, k->tag, s->o.now, NULL);
			session_note(s, "ds-change", k->tag, RS_LOG_NOTICE, "DS of key %u seen at all %zu parent servers",
				     k->tag, n);
			s->steps++;
		} else if (k->ds == RS_DS_WITHDRAW && have == 0) {
			rs_enforce_ds_gone(&s->keys, k->tag, s->o.now, NULL);
			session_note(s, "ds-change", k->tag, RS_LOG_NOTICE, "DS of key %u gone from all %zu parent servers",
				     k->tag, n);
			s->steps++;
		} else if (verbose) {
			session_note(s, "parent-check", k->tag, RS_LOG_NOTICE,
				     "DS of key %u %s at %zu of %zu parent servers: still waiting", k->tag,
				     k->ds == RS_DS_SUBMIT ? "present" : "still present", have, n);
		}
	}
	free(sets);
	return RS_EOK;
}

/* ---- commit ---- */

/*
 * Destroy a removed key's material, never unrecorded: its audit entry and an
 * intent naming its locator are committed first, then the material goes,
 * then the key is marked destroyed. A crash in between leaves the intent,
 * and finish_interrupted completes it; a destroy that fails leaves it too.
 */
static int destroy_key(rs_session_t *s, rs_keystate_t *k, rs_diag_t *diag)
{
	rs_keystore_t *ks;
	int ret = session_keystore(s, &ks, diag);
	if (ret == RS_EOK)
		ret = rs_keystore_unlock(ks, RS_ACCESS_ADMIN, diag);
	if (ret != RS_EOK)
		return ret;
	char detail[200];
	snprintf(detail, sizeof(detail), "%s %s: %s", rs_role_name(k->role), rs_alg_name(k->alg),
		 rs_keystore_hsm(ks) != NULL ? "destroyed in the token (C_DestroyObject)"
					     : "key files overwritten and removed");
	rs_audit_event_t e = { s->o.now, s->o.operator, "key-destroy", s->zone.name, k->tag, "ok", detail };
	if ((ret = rs_store_begin(s->store, diag)) != RS_EOK)
		return ret;
	ret = rs_store_intent_add(s->store, s->zone.name, k->locator, s->o.now, diag);
	if ((ret = session_commit_audited(s, ret, &e, diag)) != RS_EOK)
		return ret;
	return destroyed(s, k, diag);
}

/* The material of removed key k (its audit entry and intent committed) goes; then it is marked so. */
static int destroyed(rs_session_t *s, rs_keystate_t *k, rs_diag_t *diag)
{
	rs_keystore_t *ks;
	int ret = session_keystore(s, &ks, diag);
	if (ret == RS_EOK)
		ret = rs_keystore_destroy(ks, k->locator, diag);
	if (ret != RS_EOK && ret != RS_ENOENT)
		return ret;
	k->flags |= RS_KEY_DESTROYED;
	if ((ret = rs_store_begin(s->store, diag)) != RS_EOK)
		return ret;
	rs_keyset_t row = { 0 };
	ret = rs_keyset_add(&row, k);
	/* A removed zone's rows are gone already; its locators stay claimed (retired_locator). */
	if (ret == RS_EOK && !s->removed)
		ret = rs_store_keys_save(s->store, s->zone.name, &row, diag);
	rs_keyset_clear(&row);
	if (ret == RS_EOK)
		ret = rs_store_intent_remove(s->store, k->locator, diag);
	if (ret == RS_EOK)
		ret = rs_store_commit(s->store, diag);
	if (ret != RS_EOK)
		rs_store_rollback(s->store);
	return ret;
}

/* Destroy the material of every removed key (done after the commit that removed it). */
static int destroy_removed(rs_session_t *s)
{
	bool warned = false;
	int first = RS_EOK;
	for (size_t i = 0; i < s->keys.count; i++) {
		rs_keystate_t *k = &s->keys.keys[i];
		if (k->goal != RS_GOAL_DEAD || k->locator[0] == '\0' || (k->flags & RS_KEY_DESTROYED))
			continue;
		rs_diag_t diag;
		int ret = destroy_key(s, k, &diag);
		if (ret == RS_ELOCKED && !warned)
			rs_log(&s->o.log, RS_LOG_ALERT, s->zone.name, "destroying removed keys waits: %s", diag.text);
		else if (ret != RS_EOK && ret != RS_ELOCKED)
			rs_log(&s->o.log, RS_LOG_ERR, s->zone.name, "key %u: %s", k->tag, diag.text);
		warned = warned || ret == RS_ELOCKED;
		if (first == RS_EOK)
			first = ret;
	}
	return first;
}

int session_commit(rs_session_t *s, const rs_publication_t *pub, rs_diag_t *diag)
{
	if (s->o.read_only)
		return rs_diag(diag, RS_EINVAL, "%s: this session only looks", s->zone.name);
	int ret;
	s->zone.old_max_ttl = s->keys.old_max_zone_ttl;
	s->zone.old_max_until = s->keys.old_max_until;
	/* A zone's keys go before its rows: no row would remember material left behind. */
	if (s->removed && (ret = destroy_removed(s)) != RS_EOK)
		return rs_diag(diag, ret, "%s: its keys could not all be destroyed; the zone stays", s->zone.name);
	if ((ret = rs_store_begin(s->store, diag)) != RS_EOK)
		return ret;
	rs_zone_rec_t now;
	ret = rs_store_zone_get(s->store, s->zone.name, &now);
	if (ret == RS_ENOENT)
		rs_diag(diag, ret, "%s: the zone was removed meanwhile", s->zone.name);
	if (ret == RS_EOK && s->removed) {
		ret = rs_store_zone_remove(s->store, s->zone.name, diag);
	} else if (ret == RS_EOK) {
		char *stored = NULL;
		/* zone.policy names the policy policy_text is the text of. */
		if (s->policy_text != NULL && rs_store_policy_get(s->store, s->zone.policy, &stored) == RS_ENOENT)
			ret = rs_store_policy_put(s->store, s->zone.policy, s->policy_text, s->o.now, diag);
		free(stored);
		if (ret == RS_EOK)
			ret = rs_store_keys_save(s->store, s->zone.name, &s->keys, diag);
		if (ret == RS_EOK)
			ret = rs_store_zone_update(s->store, &s->zone, diag);
		if (ret == RS_EOK && s->mark_registry)
			ret = rs_store_zone_mark_registry(s->store, s->zone.name, diag);
		if (ret == RS_EOK && pub != NULL)
			ret = rs_store_publication_add(s->store, s->zone.name, pub, diag);
	}
	if (ret == RS_EOK)
		ret = record_notes(s, 0, diag);
	if (ret == RS_EOK)
		ret = rs_store_commit(s->store, diag);
	if (ret != RS_EOK) {
		rs_store_rollback(s->store);
		return ret;
	}
	tell_notes(s, 0);
	session_flush_audit(s);
	if (!s->removed)
		destroy_removed(s);
	/* The committed state is the base of anything that follows in this session. */
	return rs_keyset_copy(&s->keys, &s->loaded) == RS_EOK ? RS_EOK : rs_diag(diag, RS_ENOMEM, "out of memory");
}

int rs_session_commit(rs_session_t *s, rs_diag_t *diag)
{
	return session_commit(s, NULL, diag);
}
