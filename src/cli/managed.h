/* Managed zones on the command line: the zone session of the library, opened the way every command does. */
#pragma once

#include "cli.h"
#include "regsign/policy.h"
#include "regsign/session.h"
#include "regsign/store.h"

/* Open the state directory, which must hold state already (create: start one). Prints the error. */
int cli_store(rs_store_t **out);
int cli_store_create(rs_store_t **out);
/* Also a state behind its audit log: only to look at it or accept it (audit). */
int cli_store_any_age(rs_store_t **out);
/* The state directory if it holds state, else *out NULL (for commands that only read it). */
int cli_store_if_any(rs_store_t **out);

/* How a command opens a zone. */
enum {
	CLI_LOOK = 1 << 0,   /* only look: no lock, nothing committed */
	CLI_QUIET = 1 << 1,  /* print only what the operator must act on, and errors */
	CLI_STDERR = 1 << 2, /* steps go to standard error (standard output may be the signed zone) */
};

typedef struct {
	rs_store_t *store;
	rs_session_t *session;
} cli_zone_t;

/* Session options for this command line (--now, the operator, the log), for flags. */
rs_session_opts_t cli_session_opts(unsigned flags);
/* Open a managed zone with opts (NULL: cli_session_opts(0)); returns a code after printing why not. */
int cli_zone_open(cli_zone_t *z, const char *name, const rs_session_opts_t *opts);
void cli_zone_close(cli_zone_t *z);
/* Print diag when ret is an error; returns ret. */
int cli_check(int ret, const rs_diag_t *diag);

/* A policy by name (imported into store, which may be NULL, else shipped); prints the error. */
int cli_policy_get(rs_store_t *store, const char *name, rs_policy_t *out, char **text_out);
/* A policy from a file (an argument with a slash or ending .yaml) or by name; check: refuse unsafe ones. */
int cli_policy_load(rs_store_t *store, const char *arg, bool check, rs_policy_t *p, char **text);
/* Print why rs_policy_check refused a policy, at the line of the field it names. */
void cli_policy_refusal(const char *label, const char *text, const char *reason);

struct rs_zone;
/* "warning: ..." when the policy's refresh margin is below the zone's SOA expire + largest TTL (rs_policy_check_margin). */
void cli_warn_margin(const rs_policy_t *policy, const struct rs_zone *zone);

/* Canonical presentation form (lowercase, trailing dot) and wire form of a zone name; prints errors. */
bool cli_zone_name(const char *text, char out[256], uint8_t wire[255]);
