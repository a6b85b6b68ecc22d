/*
 * regsign check: a monitoring plugin (Nagios/Icinga convention). Its exit
 * statuses are the plugin's, not the other commands' (0 OK, 1 WARNING,
 * 2 CRITICAL, 3 UNKNOWN), so it ends the process itself with them.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "managed.h"
#include "regsign/monitor.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign [--state DIR] check --zone ZONE [--server ADDR[@PORT]]... [--parent ADDR[@PORT]]...\n"
		"       [--anchor FILE] [--axfr] [--warn D --crit D] [--ds-wait D] [--window D] [--timeout MS]\n"
		"       [--no-alarms] [--json] [--now T]\n"
		"\n"
		"Looks at what the servers serve (default: the zone's secondaries, else its NS set) and\n"
		"compares it with the state: SOA serial against the last publication, the earliest\n"
		"signature expiration against thresholds (default: warn below the policy's refresh\n"
		"margin, validity - refresh - jitter; critical below half of it), the DNSKEY RRset\n"
		"against the key states, the DS at the parent (--parent, else the zone's parent agents)\n"
		"against the DS states, the chain of trust from a DS or DNSKEY trust anchor file\n"
		"(--anchor, validated by libunbound through each server), a full AXFR through the\n"
		"verifier (--axfr; a refused transfer is 'not checked'), key steps overdue, the\n"
		"activation window ending (--window, default 1d), and the key store reachable (each\n"
		"key there: critical for a key that signs now, as the next signing needs it).\n"
		"Prints one summary line with perfdata, then one line per finding. Warnings and\n"
		"critical findings that changed since the last check are recorded in the audit log\n"
		"(action monitor-alarm) and sent to its syslog target; --no-alarms only reports.\n"
		"Exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad usage, state unreadable).\n"
		"\n"
		"example:\n"
		"  regsign check --zone cloud. --server 192.0.2.53 --anchor /srv/anchors/cloud.ds --axfr\n");
}

/* The plugin's UNKNOWN: one line on standard output. */
static void unknown(const char *fmt, const char *what)
{
	printf("REGSIGN CHECK UNKNOWN - ");
	printf(fmt, what);
	printf("\n");
	fflush(stdout);
	exit(RS_MON_UNKNOWN);
}

static int64_t duration(const char *opt, const char *text)
{
	int64_t d;
	if (rs_duration_parse(text, &d) != RS_EOK || d <= 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "invalid %s '%%s' (a duration: 30m, 2d)", opt);
		unknown(msg, text);
	}
	return d;
}

static void print_text(const rs_mon_report_t *r)
{
	const rs_mon_finding_t *first = NULL;
	for (size_t i = 0; i < r->nfindings; i++)
		if (first == NULL || r->findings[i].status > first->status)
			first = &r->findings[i];
	printf("REGSIGN CHECK %s - zone %s: ", rs_monitor_status_name(r->status), r->zone);
	if (first != NULL)
		printf("%s%s%s%s", strcmp(first->server, "-") ? first->server : "", strcmp(first->server, "-") ? " " : "",
		       first->text, r->nfindings > 1 ? " ..." : "");
	else
		printf("%zu server%s in step with serial %u", r->nservers, r->nservers == 1 ? "" : "s",
		       r->published_serial);
	printf(" |");
	for (size_t i = 0; i < r->nservers; i++) {
		const rs_mon_server_t *s = &r->servers[i];
		const char *sfx = r->nservers > 1 ? s->server : NULL;
		if (!s->answered) {
			printf(" '%s%sstatus'=%d", sfx ? sfx : "", sfx ? " " : "", s->status);
			continue;
		}
		printf(" '%s%sserial'=%u '%s%sserial_drift'=%lld", sfx ? sfx : "", sfx ? " " : "", s->serial, sfx ? sfx : "",
		       sfx ? " " : "", (long long)s->drift);
		if (s->sig_expiration != 0)
			printf(" '%s%ssig_remaining'=%llds;%lld;%lld", sfx ? sfx : "", sfx ? " " : "",
			       (long long)(s->sig_expiration - r->now), (long long)r->warn, (long long)r->crit);
		printf(" '%s%sdnskeys'=%zu", sfx ? sfx : "", sfx ? " " : "", s->dnskeys);
	}
	printf("\n");
	for (size_t i = 0; i < r->nfindings; i++)
		printf("%s %s %s: %s\n", rs_monitor_status_name(r->findings[i].status), r->findings[i].server,
		       r->findings[i].check, r->findings[i].text);
	for (size_t i = 0; i < r->nservers; i++) {
		const rs_mon_server_t *s = &r->servers[i];
		if (s->chain[0])
			printf("INFO %s chain: %s\n", s->server, s->chain);
		if (s->axfr[0])
			printf("INFO %s axfr: %s (%llu records, %.2f s)\n", s->server, s->axfr,
			       (unsigned long long)s->axfr_records, s->axfr_seconds);
	}
}

static void print_json(const rs_mon_report_t *r)
{
	cli_json_t j;
	cli_json_begin(&j, stdout);
	cli_json_object(&j, NULL);
	cli_json_str(&j, "zone", r->zone);
	cli_json_str(&j, "status", rs_monitor_status_name(r->status));
	cli_json_int(&j, "exit", r->status);
	cli_json_time(&j, "now", r->now);
	cli_json_int(&j, "published_serial", r->published_serial);
	cli_json_int(&j, "warn", r->warn);
	cli_json_int(&j, "crit", r->crit);
	cli_json_array(&j, "servers");
	for (size_t i = 0; i < r->nservers; i++) {
		const rs_mon_server_t *s = &r->servers[i];
		cli_json_object(&j, NULL);
		cli_json_str(&j, "server", s->server);
		cli_json_str(&j, "status", rs_monitor_status_name(s->status));
		cli_json_bool(&j, "answered", s->answered);
		if (s->answered) {
			cli_json_int(&j, "serial", s->serial);
			cli_json_int(&j, "serial_drift", s->drift);
			cli_json_int(&j, "dnskeys", (int64_t)s->dnskeys);
		}
		if (s->sig_expiration != 0) {
			cli_json_time(&j, "sig_expiration", s->sig_expiration);
			cli_json_int(&j, "sig_remaining", s->sig_expiration - r->now);
		}
		cli_json_str_or_null(&j, "chain", s->chain);
		cli_json_str_or_null(&j, "axfr", s->axfr);
		if (s->axfr[0])
			cli_json_int(&j, "axfr_records", (int64_t)s->axfr_records);
		cli_json_close(&j);
	}
	cli_json_close(&j);
	cli_json_array(&j, "findings");
	for (size_t i = 0; i < r->nfindings; i++) {
		cli_json_object(&j, NULL);
		cli_json_str(&j, "server", r->findings[i].server);
		cli_json_str(&j, "check", r->findings[i].check);
		cli_json_str(&j, "status", rs_monitor_status_name(r->findings[i].status));
		cli_json_str(&j, "text", r->findings[i].text);
		cli_json_close(&j);
	}
	cli_json_close(&j);
	cli_json_close(&j);
	cli_json_end(&j);
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' }, { "server", required_argument, NULL, 's' },
		{ "parent", required_argument, NULL, 'p' }, { "anchor", required_argument, NULL, 'a' },
		{ "axfr", no_argument, NULL, 'x' }, { "warn", required_argument, NULL, 'w' },
		{ "crit", required_argument, NULL, 'c' }, { "ds-wait", required_argument, NULL, 'd' },
		{ "window", required_argument, NULL, 'W' }, { "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' }, { "no-alarms", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *zone = NULL, *servers[RS_MON_SERVERS_MAX], *parents[RS_MON_SERVERS_MAX];
	rs_mon_opts_t mo = { .servers = servers, .parents = parents, .now = cli_now(), .now_given = cli_now_given() };
	bool json = false, alarms = true;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'z': zone = optarg; break;
		case 's':
			if (mo.nservers == RS_MON_SERVERS_MAX)
				unknown("more than %s servers", "16");
			servers[mo.nservers++] = optarg;
			break;
		case 'p':
			if (mo.nparents == RS_MON_SERVERS_MAX)
				unknown("more than %s parent servers", "16");
			parents[mo.nparents++] = optarg;
			break;
		case 'a': mo.anchor_file = optarg; break;
		case 'x': mo.axfr = true; break;
		case 'w': mo.warn = duration("--warn", optarg); break;
		case 'c': mo.crit = duration("--crit", optarg); break;
		case 'd': mo.ds_wait = duration("--ds-wait", optarg); break;
		case 'W': mo.window_warn = duration("--window", optarg); break;
		case 't': {
			char *end;
			unsigned long ms = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || ms == 0 || ms > 60000)
				unknown("invalid --timeout '%s' (milliseconds, 1-60000)", optarg);
			mo.timeout_ms = (unsigned)ms;
			break;
		}
		case 'j': json = true; break;
		case 'n': alarms = false; break;
		case 'h': help(stdout); return RS_EOK;
		default: unknown("unknown option '%s' (see regsign check --help)", argv[optind - 1]);
		}
	}
	if (optind != argc)
		unknown("unexpected argument '%s'", argv[optind]);
	if (zone == NULL)
		unknown("%s is required", "--zone ZONE");
	char canon[256];
	uint8_t wire[255];
	if (rs_dname_from_str(zone, wire) < 0 || rs_dname_to_str(wire, canon, sizeof(canon)) < 0)
		unknown("'%s' is not a zone name", zone);
	rs_store_t *store = NULL;
	rs_session_t *session = NULL;
	rs_diag_t diag;
	if (rs_store_open(cli_state_dir(), 0, &store, &diag) != RS_EOK)
		unknown("%s", diag.text);
	rs_session_opts_t so = cli_session_opts(CLI_LOOK | CLI_QUIET);
	if (rs_session_open(store, canon, &so, &session, &diag) != RS_EOK) {
		rs_store_close(store);
		unknown("%s", diag.text);
	}
	rs_mon_report_t *report = malloc(sizeof(*report));
	if (report == NULL)
		unknown("%s", "out of memory");
	int ret = rs_monitor_check(store, session, &mo, report, &diag);
	if (ret != RS_EOK) {
		rs_session_close(session);
		rs_store_close(store);
		free(report);
		unknown("%s", diag.text);
	}
	if (json)
		print_json(report);
	else
		print_text(report);
	int status = report->status;
	if (alarms && rs_monitor_alarms(store, report, so.operator, NULL, &diag) != RS_EOK) {
		cli_error("alarms: %s", diag.text);
		if (status < RS_MON_WARNING)
			status = RS_MON_WARNING;
	}
	rs_session_close(session);
	rs_store_close(store);
	free(report);
	fflush(stdout);
	exit(status);
}
