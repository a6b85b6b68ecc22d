/*
 * Alarms: the changes of a check's findings, into the audit log (and from
 * there to syslog, RFC 5424, as every audit entry goes). What was raised is
 * kept as a setting of the state ("monitor.alarms ZONE": one line
 * "SERVER CHECK STATUS" per alarm), so an alarm that stays as it was is not
 * recorded again each round, and one that is gone is recorded as cleared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regsign/audit.h"

#define ALARMS_MAX 8192

/* The worst finding of report for (server, check), or NULL. */
static const rs_mon_finding_t *worst(const rs_mon_report_t *r, const char *server, const char *check)
{
	const rs_mon_finding_t *w = NULL;
	for (size_t i = 0; i < r->nfindings; i++) {
		const rs_mon_finding_t *f = &r->findings[i];
		if (strcmp(f->server, server) == 0 && strcmp(f->check, check) == 0 && (w == NULL || f->status > w->status))
			w = f;
	}
	return w;
}

/* Did this report check server (a server it asked, or "-": the zone)? */
static bool checked(const rs_mon_report_t *r, const char *server)
{
	if (strcmp(server, "-") == 0)
		return true;
	for (size_t i = 0; i < r->nservers; i++)
		if (strcmp(r->servers[i].server, server) == 0)
			return true;
	return false;
}

/* The status recorded for (server, check) in the kept lines, RS_MON_OK if none. */
static int recorded_status(const char *kept, const char *server, const char *check)
{
	char line[256];
	for (const char *p = kept; *p != '\0';) {
		size_t n = strcspn(p, "\n");
		snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1), p);
		char s[RS_MON_SERVER_LEN], c[16];
		int st;
		if (sscanf(line, "%79s %15s %d", s, c, &st) == 3 && strcmp(s, server) == 0 && strcmp(c, check) == 0)
			return st;
		p += n + (p[n] == '\n');
	}
	return RS_MON_OK;
}

static int record(rs_store_t *store, const rs_mon_report_t *r, const char *operator, const char *server,
		  const char *check, int status, const char *text, rs_diag_t *diag)
{
	static const char *const results[] = { "ok", "warning", "critical", "unknown" };
	char detail[512];
	snprintf(detail, sizeof(detail), "server=%s check=%s %s", server, check, text);
	rs_audit_event_t e = { r->now, operator, "monitor-alarm", r->zone, 0, results[status & 3], detail };
	return rs_audit_record(store, &e, diag);
}

int rs_monitor_alarms(rs_store_t *store, const rs_mon_report_t *r, const char *operator, size_t *recorded,
		      rs_diag_t *diag)
{
	char name[300], *kept = calloc(1, ALARMS_MAX), *next = calloc(1, ALARMS_MAX);
	if (kept == NULL || next == NULL) {
		free(kept);
		free(next);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	snprintf(name, sizeof(name), "monitor.alarms %s", r->zone);
	size_t n = 0, used = 0;
	int ret = rs_store_begin(store, diag);
	if (ret != RS_EOK)
		goto out;
	rs_store_setting_get(store, name, kept, ALARMS_MAX);
	/* Raised or changed: each (server, check) of this report once, at its worst. */
	for (size_t i = 0; i < r->nfindings && ret == RS_EOK; i++) {
		const rs_mon_finding_t *f = &r->findings[i];
		if (worst(r, f->server, f->check) != f)
			continue;
		if (recorded_status(kept, f->server, f->check) != f->status) {
			ret = record(store, r, operator, f->server, f->check, f->status, f->text, diag);
			n++;
		}
		int len = snprintf(next + used, ALARMS_MAX - used, "%s %s %d\n", f->server, f->check, f->status);
		if (len > 0 && (size_t)len < ALARMS_MAX - used)
			used += (size_t)len;
	}
	/* Cleared: kept alarms of what this report checked and found well; the others stay as they were. */
	char line[256];
	for (const char *p = kept; *p != '\0' && ret == RS_EOK;) {
		size_t len = strcspn(p, "\n");
		snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1), p);
		p += len + (p[len] == '\n');
		char s[RS_MON_SERVER_LEN], c[16];
		int st;
		if (sscanf(line, "%79s %15s %d", s, c, &st) != 3 || worst(r, s, c) != NULL)
			continue;
		if (checked(r, s)) {
			ret = record(store, r, operator, s, c, RS_MON_OK, "cleared", diag);
			n++;
		} else {
			int w = snprintf(next + used, ALARMS_MAX - used, "%s\n", line);
			if (w > 0 && (size_t)w < ALARMS_MAX - used)
				used += (size_t)w;
		}
	}
	if (ret == RS_EOK && strcmp(kept, next) != 0)
		ret = rs_store_setting_put(store, name, next, diag);
	if (ret == RS_EOK)
		ret = rs_store_commit(store, diag);
	if (ret != RS_EOK) {
		rs_store_rollback(store);
		goto out;
	}
	if (n > 0) {
		char target[512] = "";
		rs_store_setting_get(store, RS_SET_SYSLOG, target, sizeof(target));
		ret = rs_audit_flush(store, target, diag);
	}
	if (recorded != NULL)
		*recorded = n;
out:
	free(kept);
	free(next);
	return ret;
}
