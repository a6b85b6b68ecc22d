/*
 * A small JSON writer for the --json output of the commands: one document
 * (RFC 8259) on a stream, indented, with strings escaped and times written
 * twice, as epoch seconds and as ISO 8601 UTC text.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_JSON_DEPTH 16

typedef struct cli_json {
	FILE *out;
	int depth;
	bool items[CLI_JSON_DEPTH]; /* the container at each depth has items already */
	char close[CLI_JSON_DEPTH]; /* and the bracket that ends it */
} cli_json_t;

/* Start a document on out (borrowed until cli_json_end). */
void cli_json_begin(cli_json_t *j, FILE *out);
/* End the document (a final newline) and flush; RS_EOK, or CLI_EINTERNAL (cli.h) if not all written. */
int cli_json_end(cli_json_t *j);

/*
 * Each value takes its key (member of an object) or NULL (element of an
 * array, or the document itself).
 */
void cli_json_object(cli_json_t *j, const char *key);
void cli_json_array(cli_json_t *j, const char *key);
/* Close the innermost object or array. */
void cli_json_close(cli_json_t *j);

/* A string; NULL is written as null. */
void cli_json_str(cli_json_t *j, const char *key, const char *value);
/* A string, or null when it is empty. */
void cli_json_str_or_null(cli_json_t *j, const char *key, const char *value);
void cli_json_int(cli_json_t *j, const char *key, int64_t value);
void cli_json_bool(cli_json_t *j, const char *key, bool value);
void cli_json_null(cli_json_t *j, const char *key);
/*
 * A time as two members, "KEY": epoch seconds and "KEY_text": ISO 8601 UTC
 * ("2027-01-01T00:00:00Z"); both null for 0 (never) and INT64_MAX (no time:
 * waits for the operator). Only in objects.
 */
void cli_json_time(cli_json_t *j, const char *key, int64_t t);

/* ISO 8601 UTC text of t ("2027-01-01T00:00:00Z") into out. */
void cli_iso_time(int64_t t, char out[32]);
