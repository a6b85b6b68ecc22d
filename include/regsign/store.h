/*
 * store: regsign's persistent state in one SQLite database (DIR/state.db):
 * zones, their policies, keys with every timing and record state, and the
 * history of every step. The only module that speaks SQL.
 *
 * The database runs in WAL mode with synchronous=FULL: a committed change
 * survives power loss, an interrupted one leaves no trace. Callers group the
 * changes of one operation between rs_store_begin() and rs_store_commit();
 * begin takes the write lock, so two regsign processes never interleave.
 * The schema carries its version (PRAGMA user_version) and is migrated
 * forward on open.
 */
#pragma once

#include <stdint.h>

#include "regsign/base.h"
#include "regsign/policy.h"

typedef struct rs_store rs_store_t;

/* Latest schema version this build writes. */
#define RS_STORE_SCHEMA 2

/* Open (creating if needed, mode 0700) the state directory dir. Caller closes with rs_store_close(). */
int rs_store_open(const char *dir, rs_store_t **out, rs_diag_t *diag);
void rs_store_close(rs_store_t *store);
const char *rs_store_dir(const rs_store_t *store);

/* A write transaction; waits up to 30 s for another writer. */
int rs_store_begin(rs_store_t *store, rs_diag_t *diag);
int rs_store_commit(rs_store_t *store, rs_diag_t *diag);
void rs_store_rollback(rs_store_t *store);

typedef struct {
	char name[256];   /* presentation form with the trailing dot */
	char policy[64];
	char input[4096]; /* unsigned zone file */
	uint32_t soa_ttl, soa_minimum;
	uint32_t serial;     /* last serial signed */
	int64_t added;
	int64_t last_enforce; /* 0: never */
	int64_t last_sign;    /* 0: never */
	int64_t next_event;   /* INT64_MAX: waits for the operator */
	uint32_t max_ttl;     /* ttl.max-zone of the policy in force at the last run */
	uint32_t old_max_ttl; /* see rs_keyset_t.old_max_zone_ttl */
	int64_t old_max_until;
	char parent_agents[512]; /* the parent's servers to ask for the DS ("ADDR[@PORT] ..."); may be empty */
} rs_zone_rec_t;

/* RS_EINVAL with a message if the zone exists. */
int rs_store_zone_add(rs_store_t *store, const rs_zone_rec_t *zone, rs_diag_t *diag);
/* RS_ENOENT if there is no such zone. */
int rs_store_zone_get(rs_store_t *store, const char *name, rs_zone_rec_t *out);
int rs_store_zone_update(rs_store_t *store, const rs_zone_rec_t *zone, rs_diag_t *diag);
/* Remove a zone and its keys' rows (history stays). */
int rs_store_zone_remove(rs_store_t *store, const char *name, rs_diag_t *diag);
/* All zones by name; caller frees *out. */
int rs_store_zone_list(rs_store_t *store, rs_zone_rec_t **out, size_t *count);

/* Policy text by name, as imported; *text is malloc'd, caller frees. RS_ENOENT if none. */
int rs_store_policy_get(rs_store_t *store, const char *name, char **text);
int rs_store_policy_put(rs_store_t *store, const char *name, const char *text, int64_t now,
			rs_diag_t *diag);
/* Names of imported policies, one per call: i from 0 until RS_ENOENT. */
int rs_store_policy_name(rs_store_t *store, size_t i, char name[64]);

/* Every key a zone ever had (removed ones too, so tags are never reused). */
int rs_store_keys_load(rs_store_t *store, const char *zone, rs_keyset_t *set);
/* Write every key of set (insert or update). */
int rs_store_keys_save(rs_store_t *store, const char *zone, const rs_keyset_t *set, rs_diag_t *diag);

/* Append a line to the zone's history. tag 0: about the zone. */
int rs_store_history_add(rs_store_t *store, const char *zone, int64_t when, uint16_t tag,
			 const char *what);
/* Call fn for each history line of zone, oldest first. */
int rs_store_history(rs_store_t *store, const char *zone,
		     void (*fn)(void *arg, int64_t when, uint16_t tag, const char *what), void *arg);

/* Site settings (the key store, the audit destination): RS_ENOENT if name is not set. */
int rs_store_setting_get(rs_store_t *store, const char *name, char *out, size_t max);
int rs_store_setting_put(rs_store_t *store, const char *name, const char *value, rs_diag_t *diag);

/*
 * Audit entries. Each is recorded in the transaction of the change it
 * describes, then copied to the log file; entries the file holds are trimmed
 * except the last, which stays as the head the file is checked against.
 */
int rs_store_audit_head(rs_store_t *store, uint64_t *seq, char hash[65]);
int rs_store_audit_add(rs_store_t *store, uint64_t seq, const char *line, const char *hash, rs_diag_t *diag);
/* Call fn for each entry after seq, in order; stops at the first error fn returns. */
int rs_store_audit_since(rs_store_t *store, uint64_t seq, int (*fn)(void *arg, uint64_t seq, const char *line),
			 void *arg);
/* Forget the entries before seq. */
int rs_store_audit_trim(rs_store_t *store, uint64_t seq, rs_diag_t *diag);
