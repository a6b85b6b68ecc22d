/* regsign status --html FILE: the status page the daemon serves, written to a file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "managed.h"
#include "regsign/serve.h"
#include "regsign/status.h"

#define ALARMS 50 /* the last N alarms the page lists */

static void help(FILE *f)
{
	fprintf(f, "usage: regsign [--state DIR] status --html FILE [--zone ZONE] [--config FILE] [--now T]\n"
		   "\n"
		   "Writes the status page (one HTML file, no script, no external resource) atomically to\n"
		   "FILE: each zone's policy, serial, last publications and whether it fails; its keys with\n"
		   "their record states and next events; a timeline of the past %d and next %d days\n"
		   "(published, active and retired spans, the DS at the parent, the DNSKEY count against\n"
		   "max-dnskeys); the secondaries' serials; the last %d alarms of the audit log. The\n"
		   "secondaries' serials, and whether a zone is frozen, come from a running 'regsign serve'\n"
		   "when its control socket (--config names one other than DIR/regsign.ctl) answers; else\n"
		   "the page says they are not known. 'regsign serve' serves the same page at GET / and\n"
		   "/status on its status listener, or on its metrics listener when it has none.\n"
		   "\n"
		   "example:\n"
		   "  regsign --state /var/lib/regsign status --html /var/www/status/index.html\n",
		RS_STATUS_PAST_DAYS, RS_STATUS_NEXT_DAYS, ALARMS);
}

/* "secondary: ADDR[ (TSIG)][ has SERIAL][ (NOTIFY pending)]" and the zone's serial and state, from zone-status. */
static void live_of(const char *reply, rs_status_live_t *live)
{
	memset(live, 0, sizeof(*live));
	for (const char *p = reply; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char line[600];
		snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1), p);
		unsigned serial;
		if (sscanf(line, "serial: %u", &serial) == 1)
			live->serial = serial;
		else if (strncmp(line, "state: ", 7) == 0) {
			live->frozen = strcmp(line + 7, "frozen") == 0;
			live->failing = strcmp(line + 7, "failing") == 0;
		} else if (strncmp(line, "last-failure: ", 14) == 0) {
			const char *why = strchr(line + 14, ' ');
			snprintf(live->last_error, sizeof(live->last_error), "%s", why != NULL ? why + 1 : "");
		} else if (strncmp(line, "secondary: ", 11) == 0 && live->nsec < 16) {
			size_t i = live->nsec++;
			snprintf(live->sec[i], sizeof(live->sec[i]), "%.*s", (int)strcspn(line + 11, " "), line + 11);
			const char *has = strstr(line, " has ");
			if (has != NULL && sscanf(has, " has %u", &serial) == 1)
				live->sec_serial[i] = serial;
		}
		p = nl != NULL ? nl + 1 : NULL;
	}
}

/* What a running daemon says of each zone; nothing when none answers. */
static void ask_daemon(rs_status_t *st, const rs_serve_config_t *conf)
{
	char path[4096];
	rs_serve_control_path(cli_state_dir(), conf, path, sizeof(path));
	for (size_t i = 0; rs_status_zone_name(st, i) != NULL; i++) {
		const char *zone = rs_status_zone_name(st, i);
		char line[300];
		if (strpbrk(zone, " \t\r\n") != NULL)
			continue; /* the control line splits on blanks: such a zone cannot be asked for */
		snprintf(line, sizeof(line), "zone-status %s", zone);
		rs_buf_t reply;
		rs_buf_init(&reply, 1 << 20);
		rs_diag_t diag;
		int ret = rs_ctl_call(path, line, &reply, &diag);
		if (ret == RS_EOK && rs_buf_printf(&reply, "%s", "") == RS_EOK) {
			rs_status_live_t live;
			live_of((const char *)reply.data, &live);
			rs_status_set_live(st, zone, &live);
		}
		rs_buf_clear(&reply);
		if (ret != RS_EOK && ret != RS_EINVAL)
			break; /* no daemon: the others would not answer either */
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "html", required_argument, NULL, 'H' }, { "zone", required_argument, NULL, 'z' },
		{ "config", required_argument, NULL, 'c' }, { "now", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },       { NULL, 0, NULL, 0 },
	};
	const char *html = NULL, *zone = NULL;
	rs_serve_config_t conf;
	rs_serve_config_init(&conf);
	rs_diag_t diag;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'H': html = optarg; break;
		case 'z': zone = optarg; break;
		case 'c':
			if (rs_serve_config_read(&conf, optarg, &diag) != RS_EOK) {
				cli_error("%s", diag.text);
				return RS_ESYNTAX;
			}
			break;
		case 'N':
			if (!cli_set_now(optarg))
				return RS_EINVAL;
			break;
		case 'h': help(stdout); return RS_EOK;
		default: help(stderr); return RS_EINVAL;
		}
	}
	if (optind != argc || html == NULL) {
		cli_error(optind != argc ? "status: unexpected argument '%s'" : "status: say where the page goes: --html FILE%s",
			  optind != argc ? argv[optind] : "");
		return RS_EINVAL;
	}
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != RS_EOK)
		return code;
	rs_status_t *st = NULL;
	code = rs_status_collect(store, zone, cli_now(), ALARMS, &st, &diag);
	rs_store_close(store);
	if (code != RS_EOK) {
		cli_error("status: %s", diag.text);
		return code;
	}
	ask_daemon(st, &conf);
	rs_buf_t page;
	rs_buf_init(&page, 1 << 26);
	code = rs_status_html(st, "regsign status", &page);
	rs_status_free(st);
	rs_outfile_t *f = NULL;
	if (code != RS_EOK)
		cli_error("status: the page is larger than %zu octets", page.max);
	else if ((code = rs_outfile_open(html, 0644, &f, &diag)) != RS_EOK)
		cli_error("status: %s", diag.text);
	else if (fwrite(page.data, 1, page.len, rs_outfile_stream(f)) != page.len) {
		rs_outfile_abort(f);
		cli_error("status: %s: cannot write", html);
		code = RS_EIO;
	} else if ((code = rs_outfile_commit(f, &diag)) != RS_EOK)
		cli_error("status: %s", diag.text);
	rs_buf_clear(&page);
	return code;
}
