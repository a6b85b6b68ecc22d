/* Private to the session module: the session's body, shared by session.c and publish.c. */
#pragma once

#include <time.h>

#include "regsign/audit.h"
#include "regsign/session.h"

/* A line for the zone's history and the audit log, recorded at the next commit. */
typedef struct {
	int64_t when;
	char action[24];
	uint16_t tag;
	int level;      /* how the operator hears of it once recorded; 0: not at all */
	bool failed;    /* the audit result is "failed" */
	bool recorded;
	char text[400];
} note_t;

struct rs_session {
	rs_store_t *store;
	rs_store_lock_t *lock;
	rs_session_opts_t o;
	rs_zone_rec_t zone;  /* as it will be committed */
	rs_policy_t policy;
	char *policy_text;   /* a policy switched to, stored at commit if the store lacks it */
	rs_keyset_t keys;    /* as they will be committed */
	rs_keyset_t loaded;  /* as committed last */
	uint8_t origin[255];
	rs_keystore_t *ks;
	bool own_keys;
	note_t *notes;
	size_t nnotes, capnotes;
	bool note_lost;
	size_t steps;
	bool parent_asked;
	bool removed;
	bool mark_registry;
};

/* Note a line (printf-style) for the history and audit log, told at level once recorded. */
void session_note(rs_session_t *s, const char *action, uint16_t tag, int level, const char *fmt, ...)
	RS_PRINTF(5, 6);
/* The key store (the caller's, or the state directory's, opened on first use). */
int session_keystore(rs_session_t *s, rs_keystore_t **out, rs_diag_t *diag);
/* Commit the session's state, with pub (may be NULL) recorded as a publication. */
int session_commit(rs_session_t *s, const rs_publication_t *pub, rs_diag_t *diag);
/* Copy new audit entries to the log file and syslog; a failure is a warning. */
void session_flush_audit(rs_session_t *s);
/*
 * End the transaction the caller began (ret: how its changes went) with
 * audit entry e: recorded, committed and flushed, or everything rolled back.
 */
int session_commit_audited(rs_session_t *s, int ret, const rs_audit_event_t *e, rs_diag_t *diag);
/* RS_EINVAL unless the session may change the zone (not read-only, not being removed). */
int session_check_writable(const rs_session_t *s, rs_diag_t *diag);

/* The zone's key whose material is at locator; NULL if no row names it. */
rs_keystate_t *session_key_at(rs_session_t *s, const char *locator);

/* material.c: key material at locator that no row names (why: how it was found), quarantined. */
int session_quarantine_unknown(rs_session_t *s, const char *locator, const char *why, bool interrupted,
			       rs_diag_t *diag);
/* Quarantine the zone's key files and token objects that no row names. */
void session_quarantine_strays(rs_session_t *s);

/* publish.c, shared with changes.c */
int session_build(rs_session_t *s, const char *input, const rs_signing_t *signing, rs_zone_t **out,
		  rs_publish_result_t *res, rs_diag_t *diag);
int session_check_dnskeys(const rs_session_t *s, const rs_zone_t *zone, const rs_signing_t *signing, rs_diag_t *diag);
int64_t session_next_event(const rs_session_t *s);
/* The highest serial published that the session knows of: the state's, the outputs' (this one and the last), po's floor. */
uint32_t session_published_serial(const rs_session_t *s, const rs_publish_opts_t *po);
/* Stamp what a publication at serial showed, and record the zone as published now. */
void session_mark_published(rs_session_t *s, uint32_t serial);
/* The publication's row, history and the state in one commit; what: what was published, for the error. */
int session_commit_publication(rs_session_t *s, const rs_publish_result_t *res, const char *keys, const char *what,
			       rs_diag_t *diag);
/* The signatures of an incremental signing that stay (reuse_until, _spread, _latest) at s's time. */
void session_reuse_window(const rs_session_t *s, rs_sign_opts_t *so);
/* The earliest expiration of zone's signatures (0: none) as a time near now (RFC 1982); count (may be NULL): how many. */
int64_t session_signatures(const rs_zone_t *zone, int64_t now, uint64_t *count);
void session_record_failure(rs_session_t *s, const char *why, bool audit);
int session_load_key(void *arg, const rs_keystate_t *k, bool need_private, rs_key_t **out, rs_diag_t *diag);
double session_seconds_since(const struct timespec *t0);
