/*
 * Key custody for the commands: where keys live (files or a PKCS#11 token),
 * how the token is unlocked (shares kept in the state directory, or an
 * activation agent started by m key holders), and the audit trail.
 */
#pragma once

#include "cli.h"
#include "regsign/audit.h"
#include "regsign/hsm.h"
#include "regsign/session.h"
#include "regsign/store.h"

#define CLI_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define CLI_TOKEN_LABEL "regsign"

/* Is the key at this locator in a token (else: key files)? */
bool cli_locator_is_token(const char *locator);

/*
 * The key store new keys go to: "file" or "pkcs11". A state directory that
 * has none yet gets the embedded default, a SoftHSM2 token in DIR/hsm that
 * unlocks with shares kept there (1 of 1), unless its zones already hold key
 * files. Runs inside the caller's transaction. Returns a code (cli.h).
 */
int cli_keystore(rs_store_t *store, char backend[16]);

/* What `keystore init` (or the embedded default) sets up. */
typedef struct {
	const char *module, *token;
	const char *softhsm_dir; /* an embedded SoftHSM2 token's directory; NULL: the module's own */
	const char *shares_dir;  /* where the share files go */
	bool keep_shares;        /* unlock "state": the shares stay in the state directory */
	unsigned n[3], m[3];     /* per rs_share_kind_t: shares made, shares needed */
	const char *pin, *so_pin; /* an initialised token's PINs; NULL: initialise a free token */
} cli_custody_plan_t;

/*
 * Initialise a token with random PINs and a backup key, write the m-of-n
 * shares of the user PIN (activation), the security officer's PIN (admin)
 * and the backup key, and record the settings in the open transaction.
 */
int cli_custody_setup(rs_store_t *store, const cli_custody_plan_t *plan);
/*
 * An embedded SoftHSM2 token directory with its configuration (conf receives
 * its path); sets SOFTHSM2_CONF. clear: remove what is there first.
 */
int cli_softhsm_prepare(const char *hsmdir, bool clear, char *conf, size_t max);
/* Split secret m of n into DIR/<kind>-<i>-of-<n>.share files (0600, never overwritten). */
int cli_share_files(const char *dir, rs_share_kind_t kind, const uint8_t *secret, size_t len, unsigned m,
		    unsigned n, bool quiet, char set_hex[17]);

/* A combined PIN as a string (into RS_SECRET_MAX + 1 octets); false if it cannot be one. */
bool cli_secret_text(const uint8_t *secret, size_t len, char *text);

/* Share files named on the command line, per rs_share_kind_t. */
#define CLI_MAX_SHARES 16
typedef struct {
	const char *paths[3][CLI_MAX_SHARES];
	size_t count[3];
} cli_shares_t;
/* Note a share file of kind; false (printed) past CLI_MAX_SHARES. */
bool cli_shares_add(cli_shares_t *shares, rs_share_kind_t kind, const char *path);
/* The secret of kind from the shares given, as octets and (text not NULL, PINs) a string; prints errors. */
bool cli_shares_combine(const cli_shares_t *shares, rs_share_kind_t kind, uint8_t *secret, size_t *len, char *text);
/* Are the shares of kind of the set this state directory's token takes? Prints why not. */
bool cli_shares_check_set(rs_store_t *store, const cli_shares_t *shares, rs_share_kind_t kind);

/* Read a share file; prints "FILE:LINE: ..." and returns false if it is not a share of kind. */
bool cli_share_read(const char *path, rs_share_kind_t kind, rs_share_t *out);

/*
 * Wipe 256 KiB of stack below the caller's frame: what earlier calls left
 * there (combined shares, a module's login). The agent inherits its
 * parent's stack and lives for hours; root reading its memory should find
 * no PIN lying about.
 */
void cli_scrub_stack(void);

/* What an activation agent starts with. */
typedef struct {
	const char *module, *token;  /* the token the agent logs in to */
	char pin[RS_SECRET_MAX + 1]; /* wiped as soon as the agent is logged in */
	int64_t until, admin_until;  /* real time; admin_until 0: no key changes */
} cli_agent_plan_t;

/*
 * Become the activation agent of dir (in a forked child): log in to the
 * token, forget the PIN, and serve the token (never the PIN) on
 * DIR/agent.sock to processes of the same user until plan->until. Writes
 * '1' (ready) or '0' to ready_fd; never returns.
 */
void cli_agent_run(const char *dir, cli_agent_plan_t *plan, int ready_fd) __attribute__((noreturn));

/*
 * One line of a secret from standard input, without its line end, into out
 * (max octets); not echoed on a terminal, where what is asked for is shown.
 * Returns its length, or -1 (out wiped) when there is no line or it does not fit.
 */
int cli_read_secret(const char *what, char *out, size_t max);

/* Who acts: $REGSIGN_OPERATOR, else the user who ran sudo, else the login name. */
const char *cli_operator(void);

/*
 * An audit entry in the store's open transaction. Returns false (after
 * printing) if it cannot be recorded: the caller must then not commit.
 */
bool cli_audit(rs_store_t *store, const char *action, const char *zone, uint16_t tag, const char *result,
	       const char *fmt, ...) RS_PRINTF(6, 7);
/* After a commit: copy new entries to DIR/audit.log and syslog; a failure is a warning. */
void cli_audit_flush(rs_store_t *store);
/* A change of its own: begin, record, commit, flush. Returns a code (cli.h). */
int cli_audit_alone(rs_store_t *store, const char *action, const char *zone, uint16_t tag, const char *result,
		    const char *fmt, ...) RS_PRINTF(6, 7);
