/*
 * The daemon's own monitoring: every check-interval, each zone's secondaries
 * are checked from outside as `regsign check` does (rs_monitor_check), the
 * alarm changes go into the audit log and syslog (rs_monitor_alarms) and to
 * the daemon's log, and the figures become metrics. A thread of its own with
 * its own store connection: a slow or silent secondary never holds up
 * signing or transfers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "regsign/monitor.h"

#define OPERATOR "regsign-serve"

typedef struct {
	char zone[256], server[RS_MON_SERVER_LEN];
	int status;
	int64_t drift, remaining; /* remaining: INT64_MIN when no signature was seen */
} check_row_t;

struct serve_checks {
	size_t n, cap;
	check_row_t *rows;
};

static int64_t mono_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec;
}

/* Replace the rows of report's zone with its figures (under lock). */
static void keep_figures(serve_t *sv, const rs_mon_report_t *r)
{
	if (sv->checks == NULL && (sv->checks = calloc(1, sizeof(*sv->checks))) == NULL)
		return;
	struct serve_checks *c = sv->checks;
	size_t w = 0;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->rows[i].zone, r->zone) != 0)
			c->rows[w++] = c->rows[i];
	c->n = w;
	for (size_t i = 0; i < r->nservers; i++) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 16;
			check_row_t *rows = realloc(c->rows, cap * sizeof(*rows));
			if (rows == NULL)
				return;
			c->rows = rows;
			c->cap = cap;
		}
		const rs_mon_server_t *s = &r->servers[i];
		check_row_t *row = &c->rows[c->n++];
		snprintf(row->zone, sizeof(row->zone), "%s", r->zone);
		snprintf(row->server, sizeof(row->server), "%s", s->server);
		row->status = s->status;
		row->drift = s->drift;
		row->remaining = s->sig_expiration != 0 ? s->sig_expiration - r->now : INT64_MIN;
	}
}

/* One round over the zones that have secondaries. */
static void check_round(serve_t *sv, rs_mon_report_t *report)
{
	rs_store_t *store = NULL;
	rs_diag_t diag;
	if (rs_store_open(sv->o.state_dir, 0, &store, &diag) != RS_EOK) {
		rs_log(&sv->o.log, RS_LOG_ERR, NULL, "ALARM: check: %s", diag.text);
		return;
	}
	for (size_t zi = 0; !atomic_load(&sv->stopping); zi++) {
		char zone[256], servers[SERVE_MAX_SECONDARIES][80];
		const char *list[SERVE_MAX_SECONDARIES];
		size_t n = 0;
		pthread_mutex_lock(&sv->lock);
		bool more = zi < sv->nzones;
		if (more) {
			const szone_t *z = sv->zones[zi];
			snprintf(zone, sizeof(zone), "%s", z->name);
			for (; n < z->nsec; n++) {
				snprintf(servers[n], sizeof(servers[n]), "%s", z->sec_text[n]);
				list[n] = servers[n];
			}
		}
		pthread_mutex_unlock(&sv->lock);
		if (!more)
			break;
		if (n == 0)
			continue;
		rs_session_opts_t so = { .now = serve_now(sv), .read_only = true, .operator = OPERATOR, .log = sv->o.log };
		rs_session_t *session = NULL;
		if (rs_session_open(store, zone, &so, &session, &diag) != RS_EOK)
			continue; /* removed meanwhile */
		rs_mon_opts_t mo = { .servers = list, .nservers = n, .now = so.now, .timeout_ms = 1000 };
		int ret = rs_monitor_check(store, session, &mo, report, &diag);
		size_t recorded = 0;
		if (ret == RS_EOK && rs_monitor_alarms(store, report, OPERATOR, &recorded, &diag) != RS_EOK)
			rs_log(&sv->o.log, RS_LOG_ERR, zone, "ALARM: check: %s", diag.text);
		rs_session_close(session);
		if (ret != RS_EOK) {
			rs_log(&sv->o.log, RS_LOG_ERR, zone, "check: %s", diag.text);
			continue;
		}
		/* The log hears of alarms when they change, as the audit log does. */
		if (recorded > 0)
			for (size_t i = 0; i < report->nfindings; i++)
				rs_log(&sv->o.log, report->findings[i].status == RS_MON_CRITICAL ? RS_LOG_ERR : RS_LOG_WARNING,
				       zone, "check %s: %s %s: %s", rs_monitor_status_name(report->findings[i].status),
				       report->findings[i].server, report->findings[i].check, report->findings[i].text);
		pthread_mutex_lock(&sv->lock);
		keep_figures(sv, report);
		pthread_mutex_unlock(&sv->lock);
	}
	rs_store_close(store);
}

void *serve_monitor(void *arg)
{
	serve_t *sv = arg;
	if (sv->o.conf.check_interval <= 0)
		return NULL;
	rs_mon_report_t *report = malloc(sizeof(*report));
	if (report == NULL) {
		rs_log(&sv->o.log, RS_LOG_ERR, NULL, "ALARM: check: out of memory");
		return NULL;
	}
	/* The first round once the zones are taken up; then by the machine's clock. */
	int64_t next = mono_s() + 1;
	while (!atomic_load(&sv->stopping)) {
		if (mono_s() >= next) {
			check_round(sv, report);
			next = mono_s() + sv->o.conf.check_interval;
		}
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	free(report);
	return NULL;
}

void serve_monitor_metrics(const serve_t *sv, rs_buf_t *out)
{
	static const char *const fam[][2] = {
		{ "regsign_check_status", "the last check of a secondary: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN" },
		{ "regsign_check_serial_drift", "serials the secondary is behind the last publication" },
		{ "regsign_check_signature_remaining_seconds", "validity left of the earliest signature it serves" },
	};
	const struct serve_checks *c = sv->checks;
	if (sv->o.conf.check_interval <= 0)
		return;
	for (size_t f = 0; f < 3; f++) {
		rs_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", fam[f][0], fam[f][1], fam[f][0]);
		for (size_t i = 0; c != NULL && i < c->n; i++) {
			const check_row_t *r = &c->rows[i];
			if (f == 2 && r->remaining == INT64_MIN)
				continue;
			char zone[2 * sizeof(r->zone)], server[2 * sizeof(r->server)];
			serve_label_value(r->zone, zone, sizeof(zone));
			serve_label_value(r->server, server, sizeof(server));
			rs_buf_printf(out, "%s{zone=\"%s\",server=\"%s\"} %lld\n", fam[f][0], zone, server,
				      (long long)(f == 0 ? r->status : f == 1 ? r->drift : r->remaining));
		}
	}
}

void serve_monitor_free(serve_t *sv)
{
	if (sv->checks != NULL)
		free(sv->checks->rows);
	free(sv->checks);
	sv->checks = NULL;
}
