/* Prometheus text metrics (exposition format 0.0.4), one family per line group, per zone. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

struct family {
	const char *name, *type, *help;
};

static const struct family families[] = {
	{ "regsign_zone_serial", "gauge", "SOA serial of the version served" },
	{ "regsign_zone_last_publish_seconds", "gauge", "time of the last publication (Unix seconds)" },
	{ "regsign_zone_publications_total", "counter", "publications since the daemon started" },
	{ "regsign_zone_failures_total", "counter", "failed publications since the daemon started" },
	{ "regsign_zone_failing", "gauge", "1 while the last publication failed" },
	{ "regsign_zone_signatures_made_total", "counter", "signatures made" },
	{ "regsign_zone_signatures_reused_total", "counter", "signatures kept from the previous version" },
	{ "regsign_zone_signatures_expire_seconds", "gauge", "the earliest expiration of the served signatures (Unix)" },
	{ "regsign_zone_next_key_event_seconds", "gauge", "seconds until the next key event (-1: none)" },
	{ "regsign_zone_frozen", "gauge", "1 while publication is frozen" },
	{ "regsign_zone_publish_duration_seconds", "gauge", "build, sign and verify time of the last publication" },
	{ "regsign_zone_ixfr_history_diffs", "gauge", "diffs in the IXFR history" },
	{ "regsign_zone_notify_failures_total", "counter", "NOTIFY rounds a secondary never answered" },
	{ "regsign_zone_anchors_failures_total", "counter", "trust-anchor publications that failed" },
	{ "regsign_secondary_serial", "gauge", "serial a secondary holds, as its queries said (0: not heard)" },
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

static double value(const szone_t *z, size_t f, int64_t now)
{
	size_t diffs = 0;
	uint64_t bytes = 0;
	switch (f) {
	case 0: return z->version != NULL ? (double)z->serial : 0;
	case 1: return (double)z->last_publish;
	case 2: return (double)z->publications;
	case 3: return (double)z->failures;
	case 4: return z->last_failure != 0;
	case 5: return (double)z->sigs_made;
	case 6: return (double)z->sigs_reused;
	case 7: return (double)z->expiration;
	case 8: return z->next_event == INT64_MAX ? -1 : (double)(z->next_event > now ? z->next_event - now : 0);
	case 9: return z->frozen;
	case 10: return z->last_seconds;
	case 11:
		if (z->journal != NULL)
			rs_journal_usage(z->journal, &diffs, &bytes);
		return (double)diffs;
	case 12: return (double)z->notify_failures;
	case 13: return (double)z->anchors_failures;
	}
	return 0;
}

/*
 * A label value as the text format has it: backslash, double quote and
 * newline escaped. A zone's presentation name may hold the first two
 * (we\"ird.); unescaped, a scraper would read another name, or none.
 */
void serve_label_value(const char *in, char *out, size_t max)
{
	size_t n = 0;
	for (; *in != '\0' && n + 3 <= max; in++) {
		if (*in == '\\' || *in == '"' || *in == '\n')
			out[n++] = '\\';
		out[n++] = *in == '\n' ? 'n' : *in;
	}
	out[n] = '\0';
}

int serve_metrics(serve_t *sv, rs_buf_t *out)
{
	int64_t now = serve_now(sv);
	pthread_mutex_lock(&sv->lock);
	for (size_t f = 0; f < NFAMILIES; f++) {
		rs_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help, families[f].name,
			      families[f].type);
		for (size_t i = 0; i < sv->nzones; i++) {
			const szone_t *z = sv->zones[i];
			char zone[2 * sizeof(z->name)], sec[2 * sizeof(z->sec_text[0])];
			serve_label_value(z->name, zone, sizeof(zone));
			if (f + 1 < NFAMILIES) {
				rs_buf_printf(out, "%s{zone=\"%s\"} %.17g\n", families[f].name, zone, value(z, f, now));
				continue;
			}
			for (size_t s = 0; s < z->nsec; s++) {
				serve_label_value(z->sec_text[s], sec, sizeof(sec));
				rs_buf_printf(out, "%s{zone=\"%s\",secondary=\"%s\"} %u\n", families[f].name, zone, sec,
					      z->sec_serial[s]);
			}
		}
	}
	serve_monitor_metrics(sv, out);
	rs_buf_printf(out, "# HELP regsign_transfers_total zone transfers answered\n# TYPE regsign_transfers_total counter\n"
		      "regsign_transfers_total{result=\"served\"} %llu\nregsign_transfers_total{result=\"refused\"} %llu\n",
		      (unsigned long long)sv->transfers_served, (unsigned long long)sv->transfers_refused);
	rs_buf_printf(out, "# HELP regsign_up_seconds time since the daemon started\n# TYPE regsign_up_seconds gauge\n"
		      "regsign_up_seconds %lld\n", (long long)(now - sv->started));
	pthread_mutex_unlock(&sv->lock);
	return RS_EOK;
}
