/*
 * regsign serve: the long-running signer (src/lib/serve), with its log on
 * standard error and systemd's notification protocol (Type=notify, the
 * watchdog); regsign ctl: one command to a running daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "regsign/serve.h"
#include "cli.h"
#include "custody.h"
#include "managed.h"

enum { OPT_CONFIG = 256, OPT_LISTEN, OPT_METRICS, OPT_STATUS, OPT_CONTROL, OPT_FOREGROUND, OPT_THREADS };

/* Under systemd (JOURNAL_STREAM) a line starts with its syslog level; by hand, with the time. */
static void log_line(void *arg, int level, const char *zone, const char *msg)
{
	(void)arg;
	static const char *names[] = { "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug" };
	if (getenv("JOURNAL_STREAM") != NULL) {
		fprintf(stderr, "<%d>%s%s%s\n", level, zone != NULL ? zone : "", zone != NULL ? ": " : "", msg);
		return;
	}
	char t[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	fprintf(stderr, "%s %s: %s%s%s\n", t, names[level & 7], zone != NULL ? zone : "", zone != NULL ? ": " : "",
		msg);
}

/* sd_notify(3)'s protocol, which is one datagram: no libsystemd needed for it. */
static void sd_notify_text(const char *text)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* an abstract socket */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, text, strlen(text), 0, (struct sockaddr *)&sa,
	       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}

static void ready(void *arg, bool up)
{
	bool *told = arg;
	if (!up) {
		sd_notify_text("STOPPING=1");
	} else if (!*told) {
		sd_notify_text("READY=1\nSTATUS=serving");
		*told = true;
	} else if (getenv("WATCHDOG_USEC") != NULL) {
		sd_notify_text("WATCHDOG=1");
	}
}

/*
 * REGSIGN_CLOCK=FILE: the time is what FILE says (YYYYMMDDHHMMSS or Unix
 * seconds), read again whenever it changes: tests drive days in minutes. Like
 * REGSIGN_NOW for the commands, never for production.
 */
static int64_t file_clock(void *arg)
{
	const char *path = arg;
	static int64_t last = -1;
	FILE *f = fopen(path, "r");
	char text[64] = "";
	if (f != NULL) {
		if (fgets(text, sizeof(text), f) == NULL)
			text[0] = '\0';
		fclose(f);
	}
	text[strcspn(text, "\r\n ")] = '\0';
	int64_t t;
	char *end;
	long long n = strtoll(text, &end, 10);
	if (strlen(text) == 14 && rs_time_parse(text, &t) == RS_EOK)
		last = t;
	else if (*text != '\0' && *end == '\0')
		last = n;
	return last >= 0 ? last : (int64_t)time(NULL);
}

static int serve_usage(FILE *f, int code)
{
	fputs("usage: regsign [--state DIR] serve [--config FILE] [--listen ADDR@PORT]... [--metrics ADDR@PORT]\n"
	      "                [--status ADDR@PORT] [--control PATH] [--threads N] [--foreground]\n"
	      "Sign and publish every managed zone of the state directory, unattended: key steps when due,\n"
	      "signatures refreshed, inputs and registry data watched, each version verified before it is\n"
	      "written to the zone's output and served to its secondaries (AXFR, IXFR, NOTIFY; see\n"
	      "'zone set-secondaries'). Stops cleanly at SIGTERM; SIGHUP reads the zone list again.\n"
	      "Configuration: docs/serve.md. Control: 'regsign ctl'.\n", f);
	return code;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "metrics", required_argument, NULL, OPT_METRICS },
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "control", required_argument, NULL, OPT_CONTROL },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "foreground", no_argument, NULL, OPT_FOREGROUND },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	rs_serve_opts_t so = { .state_dir = cli_state_dir() };
	rs_serve_config_init(&so.conf);
	rs_diag_t diag;
	/* The file first, whatever the order on the command line: options override it. */
	for (int i = 1; i < argc; i++) {
		const char *file = strncmp(argv[i], "--config=", 9) == 0 ? argv[i] + 9
				   : strcmp(argv[i], "--config") == 0 && i + 1 < argc ? argv[i + 1] : NULL;
		if (file != NULL && rs_serve_config_read(&so.conf, file, &diag) != RS_EOK) {
			cli_error("%s", diag.text);
			return RS_ESYNTAX;
		}
	}
	bool listen_given = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int ret = RS_EOK;
		switch (c) {
		case OPT_CONFIG: break;
		case OPT_LISTEN:
			if (!listen_given)
				so.conf.nlisten = 0;
			listen_given = true;
			ret = rs_serve_config_set(&so.conf, "listen", optarg, &diag);
			break;
		case OPT_METRICS: ret = rs_serve_config_set(&so.conf, "metrics", optarg, &diag); break;
		case OPT_STATUS: ret = rs_serve_config_set(&so.conf, "status", optarg, &diag); break;
		case OPT_CONTROL: ret = rs_serve_config_set(&so.conf, "control", optarg, &diag); break;
		case OPT_THREADS: ret = rs_serve_config_set(&so.conf, "threads", optarg, &diag); break;
		case OPT_FOREGROUND: break; /* systemd runs it in the foreground too: nothing forks */
		case 'h': return serve_usage(stdout, RS_EOK);
		default: return serve_usage(stderr, RS_EINVAL);
		}
		if (ret != RS_EOK) {
			cli_error("--%s", diag.text);
			return RS_EINVAL;
		}
	}
	if (optind != argc)
		return serve_usage(stderr, RS_EINVAL);
	bool told = false;
	const char *clock = getenv("REGSIGN_CLOCK");
	if (clock != NULL && *clock != '\0') {
		so.clock = file_clock;
		so.clock_arg = (void *)clock;
	}
	so.log = (rs_log_t){ log_line, NULL };
	so.ready = ready;
	so.ready_arg = &told;
	int ret = rs_serve_run(&so, &diag);
	if (ret != RS_EOK)
		cli_error("serve: %s", diag.text);
	return ret;
}

static int ctl_usage(FILE *f, int code)
{
	fputs("usage: regsign [--state DIR] ctl [--config FILE] [--control PATH] COMMAND [ARGS]\n"
	      "commands (to a running 'regsign serve'):\n"
	      "  status                    each zone's served serial, next key event and state\n"
	      "  zone-status ZONE          one zone in detail: publications, signatures, IXFR history, secondaries\n"
	      "  sign ZONE                 publish now, every signature made anew\n"
	      "  reload [ZONE]             read the zone list, secondaries and inputs again; publish what changed\n"
	      "  rollover ZONE ksk|zsk|csk start a rollover now, and publish\n"
	      "  ds-seen ZONE TAG          the parent serves the DS of key TAG (ds-gone: no longer)\n"
	      "  freeze ZONE | thaw ZONE   stop or resume publishing the zone (the last version keeps serving)\n"
	      "  stop                      stop after the current step\n"
	      "Commands that change something wait until it is done, and are audited.\n", f);
	return code;
}

int cmd_ctl(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "control", required_argument, NULL, OPT_CONTROL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	rs_serve_config_t conf;
	rs_serve_config_init(&conf);
	rs_diag_t diag;
	int c;
	optind = 1;
	/* "+": the command's own words are not options of ctl. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
			if (rs_serve_config_read(&conf, optarg, &diag) != RS_EOK) {
				cli_error("%s", diag.text);
				return RS_ESYNTAX;
			}
			break;
		case OPT_CONTROL:
			if (rs_serve_config_set(&conf, "control", optarg, &diag) != RS_EOK) {
				cli_error("--%s", diag.text);
				return RS_EINVAL;
			}
			break;
		case 'h': return ctl_usage(stdout, RS_EOK);
		default: return ctl_usage(stderr, RS_EINVAL);
		}
	}
	if (optind == argc)
		return ctl_usage(stderr, RS_EINVAL);
	char line[1024];
	size_t len = 0;
	for (int i = optind; i < argc; i++) {
		if (strpbrk(argv[i], "\n\r") != NULL || len + strlen(argv[i]) + 2 > sizeof(line)) {
			cli_error("ctl: argument '%s' is too long or holds a line break", argv[i]);
			return RS_EINVAL;
		}
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s", i > optind ? " " : "", argv[i]);
	}
	char path[4096];
	rs_serve_control_path(cli_state_dir(), &conf, path, sizeof(path));
	rs_buf_t reply;
	rs_buf_init(&reply, 1 << 24);
	int ret = rs_ctl_call(path, line, &reply, &diag);
	if (ret == RS_EOK || ret == RS_EINVAL)
		fwrite(reply.data != NULL ? reply.data : (uint8_t *)"", 1, reply.len, ret == RS_EOK ? stdout : stderr);
	else
		cli_error("ctl: %s", diag.text);
	rs_buf_clear(&reply);
	return ret;
}

/* regsign zone set-secondaries ZONE [ADDR[@PORT]]... [--tsig NAME:ALG:BASE64] */
int cli_zone_secondaries(int argc, char **argv)
{
	const char *tsig = NULL;
	const char *addrs[32];
	size_t n = 0;
	const char *zone = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tsig") == 0 && i + 1 < argc) {
			tsig = argv[++i];
		} else if (strncmp(argv[i], "--tsig=", 7) == 0) {
			tsig = argv[i] + 7;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			puts("usage: regsign [--state DIR] zone set-secondaries ZONE [ADDR[@PORT]]... [--tsig NAME:ALG:BASE64]\n"
			     "The zone's secondaries: where 'serve' sends NOTIFY, and the only addresses that may transfer\n"
			     "the zone (with the TSIG key, when one is given: its secret is kept in DIR/tsig, 0600).\n"
			     "No address: the zone has no secondaries.");
			return RS_EOK;
		} else if (argv[i][0] == '-') {
			cli_error("zone set-secondaries: unknown option '%s'", argv[i]);
			return RS_EINVAL;
		} else if (zone == NULL) {
			zone = argv[i];
		} else if (n < sizeof(addrs) / sizeof(addrs[0])) {
			addrs[n++] = argv[i];
		} else {
			cli_error("zone set-secondaries: too many addresses");
			return RS_ELIMIT;
		}
	}
	char name[256];
	uint8_t wire[255];
	if (zone == NULL) {
		cli_error("usage: regsign zone set-secondaries ZONE [ADDR[@PORT]]... [--tsig NAME:ALG:BASE64]");
		return RS_EINVAL;
	}
	if (!cli_zone_name(zone, name, wire))
		return RS_EINVAL;
	if (tsig != NULL && n == 0) {
		cli_error("zone set-secondaries: --tsig without an address");
		return RS_EINVAL;
	}
	rs_store_t *store;
	int ret = cli_store(&store);
	if (ret != RS_EOK)
		return ret;
	rs_diag_t diag;
	ret = rs_serve_set_secondaries(store, name, addrs, n, tsig, cli_now(), cli_operator(), &diag);
	rs_store_close(store);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		return ret;
	}
	printf("%s: %zu secondaries%s; a running serve takes them at its next look\n", name, n,
	       tsig != NULL ? ", with TSIG" : "");
	return RS_EOK;
}
