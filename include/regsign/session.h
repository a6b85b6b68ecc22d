/*
 * session: one managed zone's change and publication, the one path every
 * command and the daemon take. It is the only code that changes a managed
 * zone's state or writes its signed zone:
 *
 *   rs_session_open      lock the zone (one writer at a time) and read its state
 *   rs_session_parent    ask the parent's servers about pending DS changes (network)
 *   rs_session_enforce   take the due key steps; a new key is recorded as soon as it exists
 *   rs_session_rollover, rs_session_ds_done, rs_session_set_policy, ...   operator decisions
 *   rs_session_publish   build the zone, sign, verify, write atomically, then commit
 *   rs_session_commit    or commit the state alone: what only a publication shows stays pending
 *   rs_session_close     release the zone; what was not committed is gone
 *
 * A record a resolver can only see in a published zone (a DNSKEY, the
 * signatures of a key) starts its clock at the verified publication that
 * carried it (rs_keyset_published), never at the decision. A publication
 * that fails (keys not activated, a check that finds the output bogus, a
 * signal) commits nothing but the record of its failure. Store transactions
 * are short and never span network or zone-file I/O, so EPP writers never
 * wait behind a signing run.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "regsign/base.h"
#include "regsign/hsm.h"
#include "regsign/policy.h"
#include "regsign/signer.h"
#include "regsign/store.h"
#include "regsign/zone.h"

/* Settings of a state directory (rs_store_setting_*). */
#define RS_SET_KEYSTORE "keystore"           /* file | pkcs11 */
#define RS_SET_MODULE "pkcs11.module"        /* path of the PKCS#11 module */
#define RS_SET_TOKEN "pkcs11.token"          /* token label */
#define RS_SET_SOFTHSM "pkcs11.softhsm-conf" /* SOFTHSM2_CONF of an embedded SoftHSM2 token */
#define RS_SET_UNLOCK "pkcs11.unlock"        /* agent (m-of-n activation) | state (shares kept in DIR/hsm) */
#define RS_SET_ACTIVATION "pkcs11.activation" /* "M-of-N": the key holders activation needs */
#define RS_SET_SYSLOG "audit.syslog"         /* udp:HOST:PORT | unix:PATH */

/* Log level for what the operator must act on (a DS to submit, key holders to call): shown even when quiet. */
#define RS_LOG_ALERT 1

/* ---- the key store of a state directory ---- */

/*
 * The key store the settings name, with no key holder's consent yet: it
 * unlocks on demand, from the shares kept in DIR/hsm (the embedded
 * default, 1 of 1), or is the token the activation agent that m key holders
 * started serves on DIR/agent.sock (logged in there; no PIN here). RS_ENOENT if none is configured. Caller frees with
 * rs_keystore_free().
 */
int rs_site_keystore(rs_store_t *store, rs_keystore_t **out, rs_diag_t *diag);
/*
 * The token the settings name, for what works on the token itself (backup,
 * restore, keystore list): logged in up to level, with the backup key loaded
 * first when so_pin is given (the security officer marks it trusted). With
 * unlock "agent" only RS_ACCESS_PUBLIC: the agent never gives out the PIN, so
 * the caller logs in with one combined from shares given to it.
 */
int rs_site_token(rs_store_t *store, int level, const char *so_pin, const uint8_t backup_key[32], rs_hsm_t **out,
		  rs_diag_t *diag);
/*
 * Does the state directory's key store keep the custody promise of policy
 * (custody.key-holders: keys in a token that at least that many key holders
 * activate)? RS_EOK if so or if the policy promises nothing, RS_ENOENT if no
 * key store is set up yet, RS_EDENIED with the reason if it is weaker.
 */
int rs_site_custody_check(rs_store_t *store, const rs_policy_t *policy, rs_diag_t *diag);
/* Point SoftHSM2 at the embedded token's configuration, if the store names one (SOFTHSM2_CONF). */
void rs_site_softhsm_env(rs_store_t *store);
/* A secret whose 1-of-1 share the state directory keeps (the embedded default); RS_ENOENT if none is kept. */
int rs_site_kept_secret(rs_store_t *store, rs_share_kind_t kind, uint8_t *secret, size_t *len, rs_diag_t *diag);

/* What the activation agent says (DIR/agent.sock); it never says the PIN. */
typedef struct {
	int64_t until, admin_until; /* real time; admin_until 0: no admin activation */
} rs_agent_reply_t;
/* Ask the agent of dir ("status" or "quit"). RS_ENOENT if none runs, RS_EIO if it refuses. */
int rs_agent_ask(const char *dir, const char *what, rs_agent_reply_t *reply);

/* ---- policies of a state directory ---- */

/*
 * The policy called name: imported into store (store may be NULL), else
 * shipped; parsed and checked. A refusal names the policy, the line of the
 * field and why. text_out (may be NULL) gets the text (caller frees).
 */
int rs_policy_lookup(rs_store_t *store, const char *name, rs_policy_t *out, char **text_out, rs_diag_t *diag);

/* ---- signing with the keys of a key set ---- */

#define RS_SIGNING_KEYS_MAX 16

/*
 * What the key states mean for one signing run: the keys published in the
 * DNSKEY RRset, the keys that sign and what they sign. The one translation
 * of states into signing, for the session and the simulation alike.
 */
typedef struct {
	size_t count;
	rs_key_t *keys[RS_SIGNING_KEYS_MAX];             /* owned */
	const rs_keystate_t *states[RS_SIGNING_KEYS_MAX]; /* borrowed from the key set */
	size_t nsigners;
	rs_key_t *signers[RS_SIGNING_KEYS_MAX];          /* borrowed from keys */
	rs_key_role_t roles[RS_SIGNING_KEYS_MAX];
	size_t published;
} rs_signing_t;

/* How to get a key: private part too when need_private. */
typedef int (*rs_key_loader_t)(void *arg, const rs_keystate_t *state, bool need_private, rs_key_t **out,
			       rs_diag_t *diag);

/* The keys of set that are published or sign now, through load. Clear with rs_signing_clear(). */
int rs_signing_load(const rs_keyset_t *set, rs_key_loader_t load, void *arg, rs_signing_t *out, rs_diag_t *diag);
void rs_signing_clear(rs_signing_t *signing);
/*
 * Add the DNSKEY records of the published keys, and CDS/CDNSKEY for the DS
 * the parent should publish when the policy says so, to zone (before
 * rs_zone_finish); soa_ttl is the TTL they take.
 */
int rs_signing_add_keys(const rs_signing_t *signing, const rs_policy_t *policy, rs_zone_t *zone, uint32_t soa_ttl,
			rs_diag_t *diag);
/* Signing options of a run at now over the finished zone (TTLs from its SOA, times from the policy). */
void rs_signing_opts(const rs_signing_t *signing, const rs_policy_t *policy, const rs_zone_t *zone, int64_t now,
		     rs_sign_opts_t *out);
/* "dnskey=T,T ksk=T zsk=T": the tags the DNSKEY RRset holds and that sign keys and data. */
void rs_signing_describe(const rs_signing_t *signing, char *out, size_t max);

/* ---- the session ---- */

typedef struct rs_session rs_session_t;

typedef struct {
	int64_t now;
	bool now_given;   /* the operator chose the time (--now): a jump is a decision, not a clock fault */
	bool force_clock; /* sign even when the clock looks wrong */
	bool wait;        /* wait for another writer of the zone, instead of refusing */
	bool read_only;   /* only look (key list, plan, zone show): no lock, nothing committed */
	unsigned threads; /* 0: all CPUs */
	const char *operator; /* who acts, for the audit trail */
	rs_log_t log;     /* steps (notice), what to act on (alert), warnings, failures */
	rs_keystore_t *keys; /* borrowed; NULL: the state directory's own, opened when first needed */
} rs_session_opts_t;

/*
 * Open the managed zone name of store (borrowed until close): lock it, read
 * its state and policy. RS_ENOENT if it is not managed, RS_EBUSY if another
 * process works on it (unless opts->wait).
 */
int rs_session_open(rs_store_t *store, const char *name, const rs_session_opts_t *opts, rs_session_t **out,
		    rs_diag_t *diag);
/* Release the zone; nothing that was not committed stays. */
void rs_session_close(rs_session_t *session);

/* The zone's record, policy and keys as they are in this session. */
const rs_zone_rec_t *rs_session_zone(const rs_session_t *session);
const rs_policy_t *rs_session_policy(const rs_session_t *session);
const rs_keyset_t *rs_session_keys(const rs_session_t *session);
/* Key steps taken in this session. */
size_t rs_session_steps(const rs_session_t *session);

/*
 * Ask the zone's parent agents for its DS RRset and confirm each pending DS
 * change that all of them show (RFC 7583 3.3.2). verbose: report every
 * server's answer, even with nothing pending. A server that cannot answer
 * is reported, and nothing is concluded this time.
 */
int rs_session_parent(rs_session_t *session, bool verbose, rs_diag_t *diag);
/* Take every key step due at now. */
int rs_session_enforce(rs_session_t *session, rs_diag_t *diag);
/* Start a rollover of role now (RS_ROLLOVER_EMERGENCY in flags: a compromised key). */
int rs_session_rollover(rs_session_t *session, int role, int flags, rs_diag_t *diag);
/* The operator says the parent now serves (seen) or no longer serves the DS of key tag. */
int rs_session_ds_done(rs_session_t *session, uint16_t tag, bool seen, rs_diag_t *diag);
/* Switch to policy name (a new algorithm starts an algorithm rollover at the next step). */
int rs_session_set_policy(rs_session_t *session, const char *name, rs_diag_t *diag);
/* The parent's servers to ask for the DS ("ADDR[@PORT] ..."; "" : the operator confirms). */
int rs_session_set_parent(rs_session_t *session, const char *agents, rs_diag_t *diag);
/* Build the zone from the registry data from now on (its input is the template). */
int rs_session_set_registry(rs_session_t *session, rs_diag_t *diag);
/* Stop managing the zone: at commit its rows go and its keys are destroyed. */
int rs_session_remove(rs_session_t *session, rs_diag_t *diag);

/*
 * The clock guard of every key step (enforce, rollover, ds-seen/ds-gone, the
 * daemon's runs): the time must not be before the zone's last enforcement
 * or signing run, nor (unless the operator gave it, opts.now_given) more than
 * clock.max-jump after the later of them. opts.force_clock skips it.
 */
int rs_session_check_step_clock(const rs_session_t *session, rs_diag_t *diag);
/*
 * Recover from runs under a clock that was ahead: every time of the zone's
 * state that lies after now (its runs, next event, every key's record and
 * life times) becomes now, so every wait counts again from now and only
 * gets longer; a wait that ends in the future (old_max_until) starts again
 * whole. Noted as "clock-reset" with the reason and what changed; commit
 * with rs_session_commit. Steps already taken under the wrong clock stay.
 */
int rs_session_clock_reset(rs_session_t *session, const char *reason, rs_diag_t *diag);
/*
 * End the quarantine of locator, a key of this zone set aside because the
 * state did not know it: destroy it (reason required; audited "key-destroy")
 * or put it back where it was (audited "key-release"). Committed at once.
 */
int rs_session_quarantine_end(rs_session_t *session, const char *locator, bool destroy, const char *reason,
			      rs_diag_t *diag);

/* A line for the zone's history and the audit log as action (tag 0: the zone), recorded at commit. */
void rs_session_note(rs_session_t *session, const char *action, uint16_t tag, const char *fmt, ...) RS_PRINTF(4, 5);
/* Where and how the zone's trust anchors are published (regsign/publish.h). */
typedef struct {
	const char *dir;        /* the repository directory */
	const char *pgp_key;    /* OpenPGP fingerprint of the signing key */
	const char *gnupg_home; /* NULL: GnuPG's default */
} rs_anchor_target_t;
/*
 * Publish the zone's currently relevant KSKs as trust anchors into
 * t->dir (rs_anchor_publish: all files or none), noted "anchors-publish"
 * with the tags and the fingerprint for the commit. RS_ENOKEY when no key is
 * relevant yet.
 */
int rs_session_anchors(rs_session_t *session, const rs_anchor_target_t *t, rs_diag_t *diag);
/* "T,T": the tags rs_session_anchors would list now (a daemon compares them with the last publication's). */
void rs_session_anchor_tags(const rs_session_t *session, char *out, size_t max);
/* The key of a state from the zone's key store: public part, or ready to sign. */
int rs_session_key(rs_session_t *session, const rs_keystate_t *state, bool need_private, rs_key_t **out,
		   rs_diag_t *diag);

/* Commit the state: keys, zone, history and audit in one transaction; then destroy removed keys. */
int rs_session_commit(rs_session_t *session, rs_diag_t *diag);

typedef struct {
	const char *output;  /* where the signed zone goes (atomically) */
	const char *input;   /* NULL: the zone's input file (for a registry zone, its template) */
	bool incremental;    /* keep the signatures of the last output whose RRsets did not change */
	/* With incremental: the last output as already held in memory (the daemon's version), not read again. */
	const rs_zone_t *previous;
	/*
	 * Called with the verified signed zone before it replaces the output
	 * (the daemon records its diff in the IXFR history there); an error
	 * stops the publication. May be NULL.
	 */
	int (*staged)(void *arg, const rs_zone_t *signed_zone, uint32_t serial, rs_diag_t *diag);
	void *staged_arg;
	/* Non-NULL: receives the verified signed zone once it replaced the output (caller frees), even when the
	 * state could not be recorded afterwards; NULL is left there when nothing was published. */
	rs_zone_t **keep;
	void (*progress)(void *arg, size_t done, size_t total);
	void *progress_arg;
	/* rs_session_publish_changes: sign again what falls due too (the zone's timed refresh). */
	bool refresh;
	/* A serial published where the state does not look (the daemon's IXFR history); 0: none. Never reused. */
	uint32_t serial_floor;
} rs_publish_opts_t;

typedef struct {
	uint32_t serial;
	int64_t expiration; /* the earliest of the published signatures */
	rs_sign_stats_t stats;
	size_t signers, published;   /* keys that sign, DNSKEY records */
	size_t delegations, skipped; /* a registry zone's, and those left out */
	uint64_t verified;           /* signatures checked before publication */
	size_t ttl_fixes;            /* records whose TTL was unified (RFC 2181 5.2) */
	size_t zonemd;               /* ZONEMD digests made (the policy's zonemd, or the input's apex ZONEMD) */
	size_t zonemd_stale;         /* apex ZONEMD records of the input dropped, with a warning in the log */
	double t_build, t_sign, t_verify; /* seconds */
} rs_publish_result_t;

/*
 * Publish the zone as its keys stand now: build it (from its input, or the
 * registry data for a registry zone), give it a serial above every one
 * published, sign, read the output back and verify it completely
 * (rs_verify_zone), check its DNSKEY RRset is what the states say, write it
 * atomically over opts->output, and only then commit: the states it shows
 * start their clocks, the serial and the publication are recorded. A run
 * that fails records that it failed (zone list, zone show, the audit log)
 * and nothing else; the last good output stays in place.
 */
int rs_session_publish(rs_session_t *session, const rs_publish_opts_t *opts, rs_publish_result_t *result,
		       rs_diag_t *diag);

/*
 * Change sets, for a daemon that holds the last version (prev, as
 * published) in memory: what changed since, then a publication of that
 * alone (rs_sign_update), verified for the names it touches, committed as
 * rs_session_publish commits, but with the output file left to the caller
 * (its IXFR journal, written in opts->staged, holds the change until then).
 * -EOPNOTSUPP when only a full publication can take it: keys or signers
 * changed, the apex changed, NSEC3; the caller then calls rs_session_publish.
 */
typedef struct rs_changeset rs_changeset_t;
/* A registry zone: the delegations changed after registry generation since (rs_store_registry_dirty). */
int rs_session_registry_changes(rs_session_t *session, const rs_zone_t *prev, uint64_t since, rs_changeset_t **out,
				rs_diag_t *diag);
/* A zone built from its input file: the input read and built again, its records against prev's. */
int rs_session_input_changes(rs_session_t *session, const rs_zone_t *prev, rs_changeset_t **out, rs_diag_t *diag);
/* Records removed plus added. */
size_t rs_changeset_size(const rs_changeset_t *cs);
/* The registry generation the change set reaches. */
uint64_t rs_changeset_generation(const rs_changeset_t *cs);
void rs_changeset_free(rs_changeset_t *cs);
/*
 * Publish prev plus cs (opts: staged, keep and refresh; output is not
 * written). With refresh, the signatures that fall due are made again with
 * it (the reuse window a full publication keeps), and cs NULL publishes that
 * refresh alone. Key steps are
 * not taken here (rs_session_enforce first): -EOPNOTSUPP when the keys no
 * longer match prev's, and the full publication must show them.
 */
int rs_session_publish_changes(rs_session_t *session, const rs_zone_t *prev, rs_changeset_t *cs,
			       const rs_publish_opts_t *opts, rs_publish_result_t *result, rs_diag_t *diag);

/*
 * The clock guard of a publication (statements 5.6): the time must not be
 * before the last publication, nor (unless the operator gave it) more than
 * clock.max-jump after it. Call it before taking the steps of a run that
 * publishes, so a wrong clock takes none.
 */
int rs_session_check_clock(const rs_session_t *session, rs_diag_t *diag);
/* A run that was to publish failed before it could (why): recorded as a failed publication. */
void rs_session_fail(rs_session_t *session, const char *why);

/* Serial of the SOA a signed zone file starts with (within its first lines); RS_ENOENT if none is found. */
int rs_signed_serial(const char *path, uint32_t *serial);
/* A new SOA serial by policy mode (RS_SERIAL_*) at now, always after old (RFC 1982). */
uint32_t rs_serial_next(int mode, uint32_t old, int64_t now);
