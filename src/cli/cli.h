/* The regsign command line: shared helpers of the subcommands. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "regsign/base.h"
#include "regsign/crypto.h"

/* Exit codes: 0 success, 1 a check failed (bogus zone), 2 bad input or usage, 3 internal. */
enum { EXIT_OK = 0, EXIT_BOGUS = 1, EXIT_INPUT = 2, EXIT_INTERNAL = 3 };

int cmd_keygen(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_ds(int argc, char **argv);

/* "regsign: message" on stderr. */
void cli_error(const char *fmt, ...) RS_PRINTF(1, 2);
/* Exit code for a library error code. */
int cli_exit_code(int code);
/* Parse an origin argument into wire form; prints the error. */
bool cli_origin(const char *text, uint8_t out[255]);
/* Current time, or REGSIGN_NOW (YYYYMMDDHHMMSS) when set, for reproducible runs. */
int64_t cli_now(void);

/*
 * Load every key of origin from dir (BIND K<origin>+<alg>+<tag> files).
 * Fills keys (caller frees each with rs_key_free) and returns the count, or -1 after printing an error.
 */
int cli_load_keys(const char *dir, const uint8_t *origin, bool need_private, rs_key_t **keys,
		  int max);
