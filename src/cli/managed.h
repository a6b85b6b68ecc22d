/* Managed zones: shared by the commands that work on the state directory. */
#pragma once

#include "cli.h"
#include "regsign/policy.h"
#include "regsign/store.h"
#include "regsign/zone.h"

typedef struct {
	rs_store_t *store;
	rs_zone_rec_t zone;
	rs_policy_t policy;
	rs_keyset_t keys;
	uint8_t origin[255];
	int64_t now;
	bool quiet;
	FILE *log; /* where steps are printed; NULL: standard output */
	bool in_tx;
	bool history_failed;
	bool parent_asked;
	size_t steps; /* steps reported by the enforcer */
} cli_zone_t;

/* Open the state directory; prints the error and returns an exit code. */
int cli_store(rs_store_t **out);

/* A policy by name: imported into store (may be NULL), else shipped. text_out (may be NULL) gets the text. */
int cli_policy_get(rs_store_t *store, const char *name, rs_policy_t *out, char **text_out);

/* A policy from a file (an argument with a slash or ending .yaml) or by name; check: refuse unsafe ones. */
int cli_policy_load(rs_store_t *store, const char *arg, bool check, rs_policy_t *p, char **text);

/* Print why rs_policy_check refused a policy, at the line of the field it names. */
void cli_policy_refusal(const char *label, const char *text, const char *reason);

/* Refuse (printing FILE:LINE) a record of the zone file with a TTL above the policy's ttl.max-zone. */
int cli_check_ttls(const rs_zone_t *zone, const rs_policy_t *policy);

/* Canonical presentation form (lowercase, trailing dot) and wire form of a zone name; prints errors. */
bool cli_zone_name(const char *text, char out[256], uint8_t wire[255]);

/*
 * Open a managed zone for change: takes the store's write lock (one
 * transaction until cli_zone_commit or cli_zone_close), loads the zone, its
 * policy and keys, and removes leftover key files. Returns an exit code.
 */
int cli_zone_open(cli_zone_t *z, const char *name, bool quiet);
/*
 * Ask the zone's parent agents for the DS RRset and confirm each pending DS
 * change that all of them show (ds-seen / ds-gone by observation). verbose
 * reports every server's answer even with nothing pending.
 */
int cli_zone_check_parent(cli_zone_t *z, bool verbose);
/* Run the enforcer at z->now (after asking the parent); steps are printed and recorded in the history. */
int cli_zone_enforce(cli_zone_t *z, bool force_clock);
/* Enforcer callbacks (file key back end, reporting) for other state machine calls. */
rs_enforce_ctx_t cli_zone_ctx(cli_zone_t *z);
/*
 * One line to the operator (unless quiet), the zone's history (stamped
 * z->now) and the audit log as action; tag 0: the zone.
 */
void cli_zone_tell(cli_zone_t *z, const char *action, uint16_t tag, const char *fmt, ...) RS_PRINTF(4, 5);
/* If code is EXIT_OK: the due steps, then the commit. Returns the resulting exit code. */
int cli_zone_step(cli_zone_t *z, int code, bool force_clock);
/* Save keys and zone, commit, then destroy the files of removed keys. */
int cli_zone_commit(cli_zone_t *z);
/* Destroy the material (files or token objects) of every key marked removed, once that is committed. */
void cli_zone_destroy_keys(cli_zone_t *z);
/* Roll back anything not committed and free. */
void cli_zone_close(cli_zone_t *z);

/* Path of a key file: DIR/keys/<locator><suffix>. */
void cli_key_path(const cli_zone_t *z, const char *locator, const char *suffix, char *out, size_t max);

/* A key of the zone, public part only or ready to sign (files or token); prints the error. */
int cli_zone_key(cli_zone_t *z, const rs_keystate_t *k, bool need_private, rs_key_t **out);
