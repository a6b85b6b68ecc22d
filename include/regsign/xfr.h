/*
 * xfr: the signed zone as the primary serves it. A version is one verified,
 * published signed zone, immutable and shared by reference: transfers still
 * reading an old version keep it alive while a newer one is served. A diff is
 * what changed between two versions (RFC 1995 terms: the records removed and
 * added between two SOA serials). The journal is the zone's IXFR history: a
 * crash-safe, bounded file of diffs. The answerer turns DNS queries (SOA,
 * AXFR, IXFR; RFC 1995, 5936) into response messages with TSIG (RFC 8945);
 * NOTIFY (RFC 1996) is sent from here too. All wire work goes through libknot.
 *
 * Serials compare with RFC 1982 arithmetic (rs_serial_gt in session.h).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "regsign/base.h"
#include "regsign/zone.h"

/* ---- versions ---- */

typedef struct rs_version rs_version_t;

/*
 * A version of zone (finished, read with keep_dnssec: the signed zone),
 * which it takes over (freed with the last reference). Its serial is the
 * apex SOA's. The reference count starts at 1.
 */
int rs_version_new(rs_zone_t *zone, rs_version_t **out);
/* Another reference (thread-safe); returns v. */
rs_version_t *rs_version_ref(rs_version_t *v);
/* Drop a reference (thread-safe, NULL ignored); the last one frees the zone. */
void rs_version_unref(rs_version_t *v);
const rs_zone_t *rs_version_zone(const rs_version_t *v);
uint32_t rs_version_serial(const rs_version_t *v);

/* Diffs (rs_diff_t, rs_diff_zones) are in zone.h: the signer makes them too. */

/* ---- the journal (IXFR history) ---- */

typedef struct rs_journal rs_journal_t;

typedef struct {
	size_t max_diffs;   /* 0: 100 */
	uint64_t max_bytes; /* 0: 256 MiB; the oldest diffs go first */
} rs_journal_limits_t;

/*
 * Open (or create, mode 0600) the journal file at path. A tail that a crash
 * cut short or garbled is dropped (and said in diag's text as a warning with
 * RS_EOK). RS_ESYNTAX if the file is not a journal at all.
 */
int rs_journal_open(const char *path, const rs_journal_limits_t *limits, rs_journal_t **out, rs_diag_t *diag);
void rs_journal_close(rs_journal_t *j);
/*
 * Append diff durably (written and fsynced before it returns). Its from must
 * be the journal's last serial, unless the journal is empty; otherwise
 * RS_EINVAL. The file never exceeds the limits, not even for a moment:
 * when the diff would take it past max_diffs or max_bytes (the file's size,
 * its 16-octet header included), the oldest diffs are dropped first, as
 * many as needed, in the same atomic rewrite that adds the diff (a new file
 * renamed over the old one: a crash leaves one or the other). A diff that
 * does not fit alone is not held: the history is emptied (the secondaries
 * behind take an AXFR) and RS_ERANGE says so. A second process opening the
 * same journal gets RS_EBUSY. At open, limits lowered since the file was
 * written are applied the same way (a newest diff past them alone empties
 * the history, said as a warning).
 */
int rs_journal_append(rs_journal_t *j, const rs_diff_t *diff, rs_diag_t *diag);
/*
 * Make the journal end at serial, the version actually served: diffs that
 * lead past it (appended before a publication that never finished) are
 * dropped; if serial is not in the history at all, the history is emptied.
 */
int rs_journal_end_at(rs_journal_t *j, uint32_t serial, rs_diag_t *diag);
/* Oldest and newest serial held; false if the journal is empty. */
bool rs_journal_range(rs_journal_t *j, uint32_t *first, uint32_t *last);
/* Number of diffs and octets of the file they take (headers included). */
void rs_journal_usage(rs_journal_t *j, size_t *diffs, uint64_t *bytes);
/*
 * The chain of diffs from serial from to the newest, in order, into
 * *diffs (caller frees each with rs_diff_clear, then the array with free()).
 * RS_ENOENT if from is not in the history (the caller answers with AXFR).
 * Thread-safe against append.
 */
int rs_journal_read(rs_journal_t *j, uint32_t from, rs_diff_t **diffs, size_t *count, rs_diag_t *diag);

/* ---- TSIG keys and access ---- */

typedef struct {
	char name[256];      /* presentation form, e.g. "xfr.cloud." */
	char algorithm[32];  /* "hmac-sha256" and the other RFC 8945 names */
	uint8_t secret[64];
	size_t secret_len;
} rs_tsig_key_t;

/*
 * "NAME:ALG:BASE64", "NAME:BASE64" (hmac-sha256) or dig's "ALG:NAME:BASE64".
 * The name is kept lowercase with its final dot. RS_ESYNTAX with why (never the secret).
 */
int rs_tsig_key_parse(const char *text, rs_tsig_key_t *out, rs_diag_t *diag);

/* A secondary of a zone: where NOTIFY goes, and who may transfer. */
typedef struct {
	struct sockaddr_storage addr; /* the port is NOTIFY's (53 unless given) */
	socklen_t addr_len;
	const rs_tsig_key_t *key;     /* NULL: no TSIG; else transfers and NOTIFY use it */
} rs_secondary_t;

/* "ADDR[@PORT]" (IPv4 or IPv6) into s (key untouched). RS_ESYNTAX with why. */
int rs_secondary_parse(const char *text, rs_secondary_t *s, rs_diag_t *diag);

/* ---- the answerer ---- */

typedef struct rs_xfr_server rs_xfr_server_t;

/* What the answerer tells its owner (for logs and metrics); may be NULL. */
typedef struct {
	/*
	 * A transfer was served or refused. kind: "AXFR" or "IXFR" (an IXFR
	 * answered with the whole zone says so in why); their_serial: the
	 * secondary's (IXFR) or 0; result RS_EOK, RS_EDENIED (not allowed, TSIG),
	 * RS_ENOENT (zone not served), RS_EBUSY (nothing published yet: SERVFAIL)
	 * or RS_EINVAL.
	 */
	void (*transfer)(void *arg, const uint8_t *origin, const struct sockaddr *from, const char *kind,
			 uint32_t their_serial, uint32_t served_serial, int result, const char *why);
	void *arg;
} rs_xfr_events_t;

int rs_xfr_server_new(const rs_xfr_events_t *events, rs_xfr_server_t **out);
void rs_xfr_server_free(rs_xfr_server_t *srv);
/*
 * Serve zone origin as version (a reference is taken; the previous one is
 * dropped) with journal (borrowed until the next call for origin returns;
 * may be NULL: AXFR only) to secondaries (copied, keys included). version
 * NULL stops serving the zone. RS_EKEY for an unusable key. Thread-safe:
 * transfers under way finish with the version they started with.
 */
int rs_xfr_serve(rs_xfr_server_t *srv, const uint8_t *origin, rs_version_t *version, rs_journal_t *journal,
		 const rs_secondary_t *secondaries, size_t nsecondaries);
/*
 * Zone origin is to be served, but has no version yet (a daemon's zone
 * before its first publication): SOA, AXFR and IXFR from its secondaries,
 * with their TSIG key, get SERVFAIL (they retry); anyone else REFUSED as for
 * a zone not served (NOTAUTH for a bad TSIG). rs_xfr_serve with a version
 * serves it, with NULL stops.
 */
int rs_xfr_expect(rs_xfr_server_t *srv, const uint8_t *origin, const rs_secondary_t *secondaries,
		  size_t nsecondaries);

/* Writes one response message (TCP: the caller adds the two-octet length); non-zero stops. */
typedef int (*rs_xfr_send_t)(void *arg, const uint8_t *msg, size_t len);

/*
 * Answer one query received from (over TCP if tcp): SOA over UDP or TCP;
 * AXFR and IXFR over TCP only, to a listed secondary with its TSIG key
 * (each message signed, RFC 8945 5.3.1); IXFR from a serial outside the
 * history falls back to AXFR (RFC 1995 4), one at or past ours gets the SOA
 * alone; a zone expected but not published yet, SERVFAIL to its secondaries
 * (rs_xfr_expect). Everything else: REFUSED, NOTAUTH (TSIG), FORMERR or NOTIMP as the
 * RFCs say; a message that cannot be parsed gets no answer (RS_ESYNTAX).
 * send may be called many times (AXFR of a large zone); its error is
 * returned. Returns RS_EOK when answered.
 */
int rs_xfr_answer(rs_xfr_server_t *srv, const struct sockaddr *from, bool tcp, const uint8_t *query, size_t len,
		  rs_xfr_send_t send, void *arg);

/*
 * Send NOTIFY for origin at serial to one secondary over UDP (with its TSIG
 * key), and wait up to timeout_ms for its answer (RFC 1996 3.7: the SOA in
 * it carries the serial alone, which is all a secondary reads). RS_EOK when it answered
 * NOERROR; -ETIMEDOUT, or RS_EDENIED/RS_EINVAL with the rcode in diag.
 */
int rs_notify_send(const uint8_t *origin, uint32_t serial, const rs_secondary_t *to, int timeout_ms,
		   rs_diag_t *diag);
