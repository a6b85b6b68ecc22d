/*
 * Key material the state does not know (a key file or token object no row
 * names, an intent left without its key): set aside and reported, never
 * destroyed by a run, because a state that went back may not know a key that
 * is published. The operator ends a quarantine: destroy or release.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "regsign/audit.h"

typedef struct {
	const rs_session_t *s;
	rs_keyset_t found;  /* the locators of the zone's material */
	const char *wanted; /* NULL: every key of the zone; else just this locator */
	char label[RS_KEYSTORE_LABEL_MAX];
	bool present;
} material_t;

/* Is this key file ("K<zone>+...", the zone in file-name form) or token object ("<zone> ...") of zone s? */
static bool material_of_zone(const rs_session_t *s, const char *locator, const char *label)
{
	const char *zone = s->zone.name;
	size_t n = strlen(zone);
	uint8_t owner[RS_NAME_MAX];
	if (locator[0] == 'K' && strchr(locator, '+') != NULL &&
	    rs_dname_from_filename(locator + 1, strcspn(locator + 1, "+"), owner) == RS_EOK &&
	    memcmp(owner, s->origin, rs_dname_len(s->origin, RS_NAME_MAX)) == 0)
		return true;
	return strncmp(label, zone, n) == 0 && label[n] == ' ';
}

static void on_material(void *arg, const char *locator, const char *label)
{
	material_t *m = arg;
	if (m->wanted != NULL) {
		if (!m->present && strcmp(locator, m->wanted) == 0) {
			m->present = true;
			snprintf(m->label, sizeof(m->label), "%s", strcmp(label, locator) == 0 ? "" : label);
		}
		return;
	}
	if (!material_of_zone(m->s, locator, label))
		return;
	rs_keystate_t k = { 0 };
	snprintf(k.locator, sizeof(k.locator), "%s", locator);
	rs_keyset_add(&m->found, &k);
}

/*
 * Key material at locator that no row of the state names (why says how it
 * was found): set aside and reported, never destroyed, because a state that
 * went back (a restored or emptied state.db) may not know a key that is
 * published. Its quarantine row, the removal of its intent and the audit
 * entry are committed first, then the material moves: an interrupted run
 * leaves a row whose material is still in place, which every quarantine
 * operation accepts. The operator ends it: regsign key quarantine destroy
 * or release.
 */
int session_quarantine_unknown(rs_session_t *s, const char *locator, const char *why, bool interrupted,
			       rs_diag_t *diag)
{
	rs_keystore_t *ks;
	int ret = session_keystore(s, &ks, diag);
	material_t m = { .s = s, .wanted = locator };
	if (ret == RS_EOK)
		ret = rs_keystore_list(ks, on_material, &m, diag);
	if (ret != RS_EOK)
		return ret;
	rs_hsm_t *token = rs_keystore_hsm(ks);
	/* What an interrupted generation left half-made is set aside with its locator. */
	size_t shells = 0;
	rs_diag_t why_not;
	if (interrupted && token != NULL && rs_keystore_unlock(ks, RS_ACCESS_ADMIN, &why_not) == RS_EOK &&
	    rs_hsm_adopt_shells(token, locator, NULL, &shells, &why_not) != RS_EOK)
		shells = 0;
	bool set_aside = m.present || shells > 0;
	if (!m.present && shells > 0)
		snprintf(m.label, sizeof(m.label), "%s new (an interrupted key generation)", s->zone.name);
	rs_quarantine_rec_t q = { .time = s->o.now };
	snprintf(q.locator, sizeof(q.locator), "%s", locator);
	snprintf(q.zone, sizeof(q.zone), "%s", s->zone.name);
	snprintf(q.label, sizeof(q.label), "%s", m.label);
	snprintf(q.why, sizeof(q.why), "%s", why);
	const char *where = token == NULL ? "moved to keys/quarantine/"
			    : shells == 0 ? "relabelled '" RS_KEYSTORE_QUARANTINE "...' in the token"
					  : "relabelled '" RS_KEYSTORE_QUARANTINE "...' in the token, with the objects an "
					    "interrupted generation left half-made (no key in them)";
	char detail[900];
	if (set_aside)
		snprintf(detail, sizeof(detail), "key %s%s%s%s not in the state (%s): %s; the operator decides (regsign "
			 "key quarantine list, destroy, release)", locator, q.label[0] ? " '" : "", q.label,
			 q.label[0] ? "'" : "", why, where);
	else
		snprintf(detail, sizeof(detail), "no key material at %s (%s): nothing to set aside", locator, why);
	rs_audit_event_t e = { s->o.now, s->o.operator, "key-quarantine", s->zone.name, 0, "ok", detail };
	if ((ret = rs_store_begin(s->store, diag)) != RS_EOK)
		return ret;
	if (set_aside)
		ret = rs_store_quarantine_add(s->store, &q, diag);
	if (ret == RS_EOK)
		ret = rs_store_intent_remove(s->store, locator, diag);
	if ((ret = session_commit_audited(s, ret, &e, diag)) != RS_EOK)
		return ret;
	if (!set_aside)
		return RS_EOK;
	char label[RS_KEYSTORE_LABEL_MAX + 16];
	rs_diag_t moved;
	if (m.present && rs_keystore_quarantine(ks, locator, label, &moved) != RS_EOK)
		rs_log(&s->o.log, RS_LOG_ALERT, s->zone.name, "quarantined key %s stays where it is: %s", locator,
		       moved.text);
	size_t n = strlen(RS_KEYSTORE_QUARANTINE);
	snprintf(label, sizeof(label), "%s%s", RS_KEYSTORE_QUARANTINE,
		 m.label + (strncmp(m.label, RS_KEYSTORE_QUARANTINE, n) == 0 ? n : 0));
	if (shells > 0 && rs_hsm_adopt_shells(token, locator, label, &shells, &moved) != RS_EOK)
		rs_log(&s->o.log, RS_LOG_ALERT, s->zone.name, "half-made objects of key %s stay unnamed: %s", locator,
		       moved.text);
	rs_log(&s->o.log, RS_LOG_ALERT, s->zone.name, "ALERT: %s", detail);
	return RS_EOK;
}

/*
 * A quarantine whose row was committed but whose material a kill left in
 * place (still labelled, or still in keys/): set aside now, so that the
 * token or the key directory never shows it as a key of the zone.
 */
static void quarantine_finish(rs_session_t *s, rs_keystore_t *ks, const char *locator)
{
	if (session_key_at(s, locator) != NULL)
		return; /* a key of the state: its quarantine is a restored row's, left to the operator */
	rs_quarantine_rec_t q = { 0 };
	if (rs_store_quarantine_get(s->store, locator, &q) != RS_EOK || strcmp(q.zone, s->zone.name) != 0)
		return;
	char label[RS_KEYSTORE_LABEL_MAX];
	rs_diag_t diag;
	if (rs_keystore_quarantine(ks, locator, label, &diag) != RS_EOK)
		rs_log(&s->o.log, RS_LOG_ALERT, s->zone.name, "quarantined key %s stays where it is: %s", locator,
		       diag.text);
	else
		rs_log(&s->o.log, RS_LOG_WARNING, s->zone.name, "quarantined key %s set aside: an interrupted run had "
		       "left it in place", locator);
}

/* Key files and token objects of the zone that no row names (a state that went back): quarantined. */
void session_quarantine_strays(rs_session_t *s)
{
	rs_keystore_t *ks;
	rs_diag_t diag;
	material_t m = { .s = s };
	/* Listed before the rows are read: material made meanwhile has its intent committed first. */
	if (session_keystore(s, &ks, &diag) != RS_EOK || rs_keystore_list(ks, on_material, &m, &diag) != RS_EOK) {
		rs_keyset_clear(&m.found);
		return; /* no key store yet, or one that cannot list: nothing to compare */
	}
	for (size_t i = 0; i < m.found.count; i++) {
		const char *locator = m.found.keys[i].locator;
		bool known = true;
		if (rs_store_locator_known(s->store, locator, &known) != RS_EOK)
			continue;
		if (known) {
			quarantine_finish(s, ks, locator);
			continue;
		}
		if (session_quarantine_unknown(s, locator, "no row of the state names it", false, &diag) != RS_EOK)
			rs_log(&s->o.log, RS_LOG_ALERT, s->zone.name, "key material at %s is not in the state and could "
			       "not be quarantined: %s", locator, diag.text);
	}
	rs_keyset_clear(&m.found);
}

int rs_session_quarantine_end(rs_session_t *s, const char *locator, bool destroy, const char *reason,
			      rs_diag_t *diag)
{
	int ret = session_check_writable(s, diag);
	if (ret != RS_EOK)
		return ret;
	if (destroy && (reason == NULL || reason[0] == '\0'))
		return rs_diag(diag, RS_EINVAL, "%s: destroying a quarantined key needs a reason (--reason)",
			       s->zone.name);
	bool known = session_key_at(s, locator) != NULL;
	rs_quarantine_rec_t q = { .why = "a key of the state" };
	ret = rs_store_quarantine_get(s->store, locator, &q);
	/*
	 * A state.db restored after the quarantine knows the key again, but not
	 * its quarantine: it may be put back (never destroyed: it is no retired key).
	 */
	if (ret == RS_ENOENT && (destroy || !known))
		return rs_diag(diag, ret, "%s: no quarantined key '%s' (see regsign key quarantine list)",
			       s->zone.name, locator);
	if (ret != RS_EOK && ret != RS_ENOENT)
		return rs_diag(diag, ret, "%s: cannot read the quarantine: %s", s->zone.name, rs_strerror(ret));
	if (ret == RS_EOK && strcmp(q.zone, s->zone.name) != 0)
		return rs_diag(diag, RS_EINVAL, "%s: key '%s' was quarantined for %s", s->zone.name, locator, q.zone);
	rs_keystore_t *ks;
	rs_diag_t why;
	if ((ret = session_keystore(s, &ks, &why)) == RS_EOK)
		ret = rs_keystore_unlock(ks, RS_ACCESS_ADMIN, &why);
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "%s: %s", s->zone.name, why.text);
	char detail[900];
	snprintf(detail, sizeof(detail), "quarantined key %s%s%s%s (%s) %s; reason: %.200s", locator,
		 q.label[0] ? " '" : "", q.label, q.label[0] ? "'" : "", q.why,
		 destroy ? (rs_keystore_hsm(ks) != NULL ? "destroyed in the token (C_DestroyObject)"
							 : "key files overwritten and removed")
			 : known ? "put back: a key of the state" : "put back where it was",
		 reason != NULL && reason[0] ? reason : "-");
	/* The audit entry and an intent naming the locator first: a destroy cut short is finished later. */
	rs_audit_event_t e = { s->o.now, s->o.operator, destroy ? "key-destroy" : "key-release", s->zone.name, 0, "ok",
			       detail };
	if ((ret = rs_store_begin(s->store, diag)) != RS_EOK)
		return ret;
	if (destroy)
		ret = rs_store_intent_add(s->store, s->zone.name, locator, s->o.now, diag);
	if ((ret = session_commit_audited(s, ret, &e, diag)) != RS_EOK)
		return ret;
	ret = destroy ? rs_keystore_destroy_quarantined(ks, locator, &why)
		      : rs_keystore_release(ks, locator, q.label[0] ? q.label : NULL, &why);
	if (ret != RS_EOK && !(destroy && ret == RS_ENOENT))
		return rs_diag(diag, ret, "%s: %s", s->zone.name, why.text);
	if ((ret = rs_store_begin(s->store, diag)) != RS_EOK)
		return ret;
	ret = rs_store_quarantine_remove(s->store, locator, diag);
	if (ret == RS_EOK && destroy)
		ret = rs_store_intent_remove(s->store, locator, diag);
	if (ret == RS_EOK)
		ret = rs_store_commit(s->store, diag);
	if (ret != RS_EOK)
		rs_store_rollback(s->store);
	return ret;
}
