/* The regsign command line: shared helpers of the subcommands. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regsign/base.h"
#include "regsign/crypto.h"

/*
 * Commands and these helpers return codes of the library's one error space
 * (regsign/base.h): RS_EOK, RS_EBOGUS when a check ran and found problems,
 * RS_EINVAL for a usage error, else the error met. main() alone turns a code
 * into the exit status: 0 RS_EOK, 1 RS_EBOGUS, 3 RS_ENOMEM, RS_ECRYPTO and
 * CLI_EINTERNAL, 2 anything else (bad input or refused).
 *
 * CLI_EINTERNAL: a failure that is not the input's fault (the state database,
 * the file system, a pipe, a fork), exit status 3. The library has no code
 * of that meaning; this errno-mapped one never comes from it.
 */
#define CLI_EINTERNAL (-ENOTRECOVERABLE)

int cmd_keygen(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_ds(int argc, char **argv);
int cmd_zone(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_enforce(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_rollover(int argc, char **argv);
int cmd_ds_seen(int argc, char **argv);
int cmd_ds_gone(int argc, char **argv);
int cmd_ds_check(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_keystore(int argc, char **argv);
int cmd_activate(int argc, char **argv);
int cmd_deactivate(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_anchors(int argc, char **argv);
int cmd_check(int argc, char **argv);
/* zone set-secondaries (cmd_serve.c) */
int cli_zone_secondaries(int argc, char **argv);
/* regsign sign --zone and registry-zone: the due steps, then a publication of the zone to out_path. */
typedef struct {
	unsigned threads;
	bool force_clock, quiet;
	bool incremental; /* keep the signatures of the last output that still hold */
	bool registry;    /* the zone is (from now on) built from the registry data */
} cli_publish_opts_t;
int cli_publish(const char *zone, const char *out_path, const cli_publish_opts_t *opts);

struct rs_store;
struct rs_session;
struct cli_json;
/*
 * Why the zone of session cannot go on without its key holders at now (a
 * token not activated, key changes without an admin activation, a backup
 * before first use), into why; false if it can. *tag (may be NULL): the key
 * it is about, 0 for the zone. Only looks (cmd_key.c).
 */
bool cli_custody_wait(struct rs_store *store, struct rs_session *session, int64_t now, char *why,
		      size_t max, uint16_t *tag);
/* The "keys" array of key list --json, for zone show --json; wait_tag: the key that waits, or -1. */
int cli_json_keys(struct cli_json *j, struct rs_session *session, int64_t now, int wait_tag);

/* "regsign: message" on stderr. */
void cli_error(const char *fmt, ...) RS_PRINTF(1, 2);

/*
 * The names near word (a typo, or the start of a name), each quoted with prefix
 * ("'zone list'"), into out: "'a'", "'a' or 'b'". False if none is near.
 */
bool cli_suggest(const char *word, const char *prefix, const char *const *names, size_t n, char *out,
		 size_t max);
/* "unknown WHAT 'PREFIXWORD'", with "; did you mean ...?" when a name is near (then true). */
bool cli_unknown(const char *what, const char *word, const char *prefix, const char *const *names,
		 size_t n);

/* Parse an origin argument into wire form; prints the error. */
bool cli_origin(const char *text, uint8_t out[255]);
/* Current time: --now when given, else REGSIGN_NOW (YYYYMMDDHHMMSS) when set, else the clock. */
int64_t cli_now(void);
/* Set the time from a --now argument; prints the error. */
bool cli_set_now(const char *text);
/* True when the time came from --now: an operator's explicit choice. */
bool cli_now_given(void);

#define CLI_STATE_DEFAULT "/var/lib/regsign"
/* The state directory: --state, else $REGSIGN_STATE, else CLI_STATE_DEFAULT. */
const char *cli_state_dir(void);

/*
 * Load every key of origin from dir (BIND K<origin>+<alg>+<tag> files).
 * Fills keys (caller frees each with rs_key_free) and returns the count, or -1 after printing an error.
 */
int cli_load_keys(const char *dir, const uint8_t *origin, bool need_private, rs_key_t **keys,
		  int max);
