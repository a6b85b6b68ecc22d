/*
 * audit: the append-only, hash-chained record of every key and DS operation.
 *
 * The log is a text file, one entry per line:
 *
 *   seq=7 time=2026-11-23T12:00:00Z operator=alice action=key-generate zone=cloud. key=12345
 *   result=ok detail="zsk RSASHA256 1024 in token" prev=<64 hex> hash=<64 hex>
 *
 * (one line in the file). hash is the SHA-256 of the line up to and including
 * its prev field, and prev is the hash of the entry before (64 zeros for the
 * first). Editing, removing, inserting or moving an entry breaks the chain at
 * that entry; cutting entries off the end is caught against the last sequence
 * number and hash, which the state database keeps with every change.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "regsign/base.h"

#define RS_AUDIT_HASH_HEX 65 /* 64 hex digits and a NUL */

typedef struct {
	int64_t time;
	const char *operator; /* who: login name or REGSIGN_OPERATOR */
	const char *action;   /* key-generate, key-destroy, activate, sign, backup, ds-change, ... */
	const char *zone;     /* may be NULL or "" */
	uint16_t tag;         /* key tag; 0: none */
	const char *result;   /* ok, failed, refused */
	const char *detail;   /* free text; may be NULL */
} rs_audit_event_t;

/* The chain value before the first entry: 64 zeros. */
extern const char rs_audit_genesis[RS_AUDIT_HASH_HEX];

/*
 * Append the line (with its newline) of entry seq, chained to prev, to out;
 * hash receives its hash. Values are made safe for one line (no newlines,
 * quotes in detail escaped).
 */
int rs_audit_line(const rs_audit_event_t *event, uint64_t seq, const char *prev, rs_buf_t *out,
		  char hash[RS_AUDIT_HASH_HEX]);

/*
 * Check a whole log. head_seq/head_hash: the last entry the state database
 * recorded (head_seq 0: none recorded). Returns RS_EOK and the number of
 * entries, or RS_EINVAL with "LABEL:LINE: entry N: what is wrong" naming the
 * first bad entry.
 */
int rs_audit_verify(const char *text, size_t len, const char *label, uint64_t head_seq, const char *head_hash,
		    uint64_t *entries, rs_diag_t *diag);

/* Sequence number and hash of a log line; RS_ESYNTAX if it is not one. */
int rs_audit_line_head(const char *line, size_t len, uint64_t *seq, char hash[RS_AUDIT_HASH_HEX]);
/* A successful signing run's entry: its zone and the serial it published; RS_ENOENT for any other line. */
int rs_audit_line_serial(const char *line, size_t len, char zone[256], uint32_t *serial);
/* The prev field of a log line. */
int rs_audit_line_prev(const char *line, size_t len, char prev[RS_AUDIT_HASH_HEX]);

/* One entry read back, its fields unquoted (cut at the buffers' sizes). */
typedef struct {
	uint64_t seq;
	int64_t time;
	char action[64];
	char zone[256]; /* as the line holds it: octets that cannot be bare are '_' */
	uint16_t tag;
	char result[32];
	char detail[1024];
} rs_audit_entry_t;
/* Parse a log line; RS_ESYNTAX if it is not one. */
int rs_audit_line_entry(const char *line, size_t len, rs_audit_entry_t *out);
/* Is the entry about zone (compared the way the line wrote it)? */
bool rs_audit_entry_zone_is(const rs_audit_entry_t *entry, const char *zone);

/*
 * An acknowledged gap: entries lost from the file (cut by a crash of the
 * disk, or by someone), which an operator saw and accepted. Its detail ends
 * "resume=SEQ:HASH": the next entry is SEQ and follows HASH. verify accepts
 * the chain going on there, and counts the gap.
 */
#define RS_AUDIT_GAP "audit-gap"
/* True (1) with where the chain resumes if line is a gap entry, else 0. */
int rs_audit_gap_of(const char *line, size_t len, uint64_t *seq, char hash[RS_AUDIT_HASH_HEX]);

/*
 * The entry as an RFC 5424 syslog message (facility authpriv, severity
 * notice, or warning when the result is not ok), without a trailer.
 */
int rs_audit_syslog(const char *line, size_t len, const char *hostname, int pid, rs_buf_t *out);

/* ---- the log of a state directory ---- */

typedef struct rs_store rs_store_t;

/* Record event in the store's open transaction, chained after the last entry. */
int rs_audit_record(rs_store_t *store, const rs_audit_event_t *event, rs_diag_t *diag);

/*
 * After a commit: append the entries DIR/audit.log lacks (mode 0600, fsync'd;
 * a line cut short by a crash is completed from the database), send each to
 * syslog_target ("udp:HOST:PORT", "unix:PATH", "tls:HOST:PORT" or NULL), then trim the
 * database's copy to the head. RS_EIO with a diagnostic if the log cannot be
 * written or a message not sent; the entries are then still in the database.
 *
 * A log that lost entries the database no longer holds (cut short) is never
 * silently continued: nothing is appended, RS_EINVAL says which entries are
 * missing, and the database keeps every new entry until an operator
 * acknowledges the gap (rs_audit_acknowledge). So is a log that is ahead of
 * the database (a state database restored from an older copy).
 */
int rs_audit_flush(rs_store_t *store, const char *syslog_target, rs_diag_t *diag);
/*
 * The CA file (PEM) a "tls:" syslog target's certificate must chain to, a
 * setting of the state directory; the collector's name or address is checked
 * against HOST (RFC 5425 5.2). Over TLS, messages are octet-counted (RFC 5425 4.3).
 */
#define RS_AUDIT_SET_SYSLOG_CA "audit.syslog-ca"

/*
 * Is the state database at least as new as DIR/audit.log? RS_ESTALE, naming
 * both heads and what to do, when the log holds entries the database never
 * had (a database restored from an older copy, or one that lost its WAL) or
 * the two disagree where the log ends. rs_store_open calls it.
 */
int rs_audit_state_check(rs_store_t *store, rs_diag_t *diag);
/*
 * The operator keeps a state database rs_audit_state_check refused (reason
 * says why): the log's last entry becomes the database's head, entries only
 * the database held are recorded again (quoted, as audit-reentry), and the
 * acceptance is audited. The log must verify. RS_ENOENT if the state is not behind.
 */
int rs_audit_accept_state(rs_store_t *store, const char *operator, const char *reason, int64_t now,
			  const char *syslog_target, rs_diag_t *diag);

/*
 * The operator saw the gap rs_audit_flush reported and accepts it (reason
 * says why): a gap entry naming the missing entries goes into the file, the
 * chain goes on, and the acknowledgement itself is audited. RS_ENOENT if
 * there is no gap.
 */
int rs_audit_acknowledge(rs_store_t *store, const char *operator, const char *reason, int64_t now,
			 const char *syslog_target, rs_diag_t *diag);
