/* Private to the monitor module: findings, and the checks that need libraries of their own (chain.c). */
#pragma once

#include "regsign/monitor.h"

/* Add a finding to report and raise the status of its server (server "-": the zone's). */
void mon_find(rs_mon_report_t *report, rs_mon_server_t *server, const char *check, int status, const char *fmt, ...)
	RS_PRINTF(5, 6);

/*
 * The chain of trust of zone (presentation form) as libunbound sees it
 * through server alone (a stub), from the trust anchors of anchor_file, at
 * now when now_given (val-override-date): "secure", "insecure" or "bogus"
 * into out (16 octets), with why_bogus or the failure in why.
 */
int mon_chain(const char *server, const char *zone, const char *anchor_file, int64_t now, bool now_given,
	      char out[16], char *why, size_t max, rs_diag_t *diag);

/*
 * AXFR of zone (wire) from server, verified completely at now. *refused: the
 * server did not transfer (not an error); else *problems (0: secure), the
 * first problem into why, records into *records.
 */
int mon_axfr(const char *server, const uint8_t *zone, int64_t now, unsigned timeout_ms, bool *refused,
	     uint64_t *problems, uint64_t *records, char *why, size_t max, rs_diag_t *diag);
