/*
 * monitor: what is actually served, checked from outside over DNS, against
 * what the signer's state says should be there (the `.cloud` statement 6.6:
 * "monitoring systems that check signature validity and raise alarms").
 *
 * Per server: the SOA serial and its drift from the last publication, the
 * earliest RRSIG expiration it serves against thresholds, the DNSKEY RRset
 * against the key states, the DS RRset at the parent against the DS states,
 * the chain of trust validated by libunbound from a trust anchor, and (on
 * request) a full AXFR through the verifier. Zone-wide: key steps overdue and
 * the activation window about to end. The outcome is a typed report with the
 * plugin convention's statuses, never an error: an error means the check
 * itself could not run (bad options, unreadable state).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regsign/base.h"
#include "regsign/session.h"
#include "regsign/store.h"

/* Nagios/Icinga plugin statuses, also the exit statuses of `regsign check`. */
enum { RS_MON_OK = 0, RS_MON_WARNING = 1, RS_MON_CRITICAL = 2, RS_MON_UNKNOWN = 3 };

#define RS_MON_SERVERS_MAX 16
#define RS_MON_FINDINGS_MAX 128
#define RS_MON_SERVER_LEN 80

typedef struct {
	/* Servers under test ("ADDR" or "ADDR@PORT"); none: the zone's NS set (glue, else a lookup). */
	const char *const *servers;
	size_t nservers;
	/* The parent's servers for the DS RRset; none: the zone's parent agents; still none: not checked. */
	const char *const *parents;
	size_t nparents;
	const char *anchor_file; /* DS or DNSKEY trust-anchor file for the chain of trust; NULL: not checked */
	bool axfr;               /* also transfer the whole zone from each server and verify it */
	int64_t warn, crit;      /* remaining signature validity thresholds (seconds); 0: from the policy */
	int64_t ds_wait;         /* a DS requested longer ago and not seen is a warning; 0: the policy's ds-ttl + propagation */
	int64_t window_warn;     /* activation window ending sooner is a warning; 0: one day */
	int64_t now;
	bool now_given;          /* validate the chain at now, not at the clock's time */
	unsigned timeout_ms;     /* per DNS try; 0: 2000 */
} rs_mon_opts_t;

/* One finding: a check of a server (or "-": the zone) that is not OK. */
typedef struct {
	char server[RS_MON_SERVER_LEN];
	char check[16]; /* answer, serial, signature, dnskey, ds, chain, axfr, keys, custody */
	int status;     /* RS_MON_WARNING or RS_MON_CRITICAL */
	char text[320];
} rs_mon_finding_t;

typedef struct {
	char server[RS_MON_SERVER_LEN];
	int status;
	bool answered;
	uint32_t serial;
	int64_t drift;          /* published serial - served serial (RFC 1982 distance; 0: in step) */
	int64_t sig_expiration; /* earliest RRSIG expiration seen; 0: none seen */
	size_t dnskeys;
	char chain[16];         /* secure, insecure, bogus, "" (not checked) */
	char axfr[16];          /* verified, bogus, not checked (refused), "" (not asked) */
	uint64_t axfr_records;
	double axfr_seconds;
} rs_mon_server_t;

typedef struct {
	char zone[256];
	int status; /* the worst of all */
	int64_t now, warn, crit;
	uint32_t published_serial; /* 0: never published */
	size_t nservers;
	rs_mon_server_t servers[RS_MON_SERVERS_MAX];
	size_t nfindings;
	rs_mon_finding_t findings[RS_MON_FINDINGS_MAX];
} rs_mon_report_t;

/*
 * Check the zone of session (opened read-only; store is its state) as opts
 * says, into *report (caller's, large: allocate it). RS_EOK whenever the
 * check ran, whatever it found; RS_ESYNTAX for a malformed server or
 * threshold, RS_ENOENT for an unreadable anchor file, RS_EINVAL when no server
 * can be found, with the reason in diag.
 */
int rs_monitor_check(rs_store_t *store, rs_session_t *session, const rs_mon_opts_t *opts, rs_mon_report_t *report,
		     rs_diag_t *diag);

/* "OK", "WARNING", "CRITICAL", "UNKNOWN". */
const char *rs_monitor_status_name(int status);

/*
 * Record the report's alarm changes in the audit log (action "monitor-alarm",
 * result "warning", "critical", or "ok" when one clears; detail
 * "server=S check=C text"), in a transaction of its own, then flush the log
 * to the configured syslog target (RS_SET_SYSLOG). An alarm unchanged since
 * the last check is not recorded again; alarms of servers this report did not
 * check stay as they are. *recorded: entries written (may be NULL).
 */
int rs_monitor_alarms(rs_store_t *store, const rs_mon_report_t *report, const char *operator, size_t *recorded,
		      rs_diag_t *diag);
