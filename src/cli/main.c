/* regsign SUBCOMMAND: dispatch and shared helpers. */
#include <ctype.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "registry.h"
#include "regsign/dns.h"

static const struct {
	const char *name;
	int (*run)(int, char **);
	const char *summary;
} commands[] = {
	{ "keygen", cmd_keygen, "make a key pair as BIND-compatible key files" },
	{ "sign", cmd_sign, "sign a zone file" },
	{ "verify", cmd_verify, "check a signed zone completely" },
	{ "ds", cmd_ds, "print the DS records of the key-signing keys" },
	{ "zone", cmd_zone, "add, list, show, remove managed zones" },
	{ "policy", cmd_policy, "list, show, check, import signing policies" },
	{ "key", cmd_key, "list a zone's keys, their states and next events" },
	{ "enforce", cmd_enforce, "take every key step that is due" },
	{ "plan", cmd_plan, "show the key events of the coming days" },
	{ "rollover", cmd_rollover, "start a KSK or ZSK rollover now (also emergency)" },
	{ "ds-seen", cmd_ds_seen, "confirm that the parent publishes a key's DS" },
	{ "ds-gone", cmd_ds_gone, "confirm that the parent removed a key's DS" },
	{ "ds-check", cmd_ds_check, "ask the parent's servers whether a DS change is done" },
	{ "check", cmd_check, "monitoring plugin: what the servers serve, against the state (exit 0-3)" },
	{ "publish", cmd_publish, "publish the KSKs as signed trust anchors for relying parties" },
	{ "anchors", cmd_anchors, "verify a trust-anchor repository as a relying party does" },
	{ "simulate", cmd_simulate, "run a policy over simulated years and check it" },
	{ "keystore", cmd_keystore, "set up where keys live: a PKCS#11 token with m-of-n shares, or files" },
	{ "activate", cmd_activate, "unlock the token's keys with m key holders' shares, for a time" },
	{ "deactivate", cmd_deactivate, "lock the token's keys again at once" },
	{ "backup", cmd_backup, "write the token's keys wrapped under the backup key" },
	{ "restore", cmd_restore, "recreate backed-up keys in a fresh token" },
	{ "audit", cmd_audit, "verify or show the hash-chained audit log; send it to syslog" },
	{ "status", cmd_status, "write the status page: zones, keys, rollover timeline, secondaries, alarms" },
	{ "registrar", cmd_registrar, "add or list the registrars that log in over EPP" },
	{ "domain", cmd_domain, "add, import, export, show the delegations of a registry zone" },
	{ "registry", cmd_registry, "show or set how DS records are checked (pre-delegation check)" },
	{ "epp", cmd_epp, "serve registrars over EPP (RFC 5730, TLS): DS records with secDNS-1.1" },
	{ "cds-scan", cmd_cds_scan, "apply the CDS/CDNSKEY of secure children (RFC 7344, RFC 8078)" },
	{ "registry-zone", cmd_registry_zone, "build the registry zone from its delegations and sign it" },
	{ "serve", cmd_serve, "run as the signer: publish every zone when due, serve AXFR/IXFR, NOTIFY, metrics" },
	{ "ctl", cmd_ctl, "control a running serve: status, zone-status, sign, reload, rollover, freeze, stop" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: regsign [--state DIR] [--now T] COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n--state DIR  state directory (default $REGSIGN_STATE, else %s)\n"
		   "--now T      act as if the time were T (YYYYMMDDHHMMSS, UTC); every command takes it\n",
		CLI_STATE_DEFAULT);
	fprintf(f, "\n'regsign help COMMAND' (or 'regsign COMMAND --help') describes a command, with an\n"
		   "example.\n");
}

/* Optimal string alignment distance, case-blind: a swap of neighbours is one edit ("sing", "sign"). */
static size_t edit_distance(const char *a, const char *b)
{
	enum { MAX = 32 };
	size_t la = strlen(a), lb = strlen(b);
	if (la >= MAX || lb >= MAX)
		return SIZE_MAX;
	size_t d[MAX + 1][MAX + 1];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t k = 0; k <= lb; k++)
		d[0][k] = k;
	char x[MAX], y[MAX];
	for (size_t i = 0; i < la; i++)
		x[i] = (char)tolower((unsigned char)a[i]);
	for (size_t k = 0; k < lb; k++)
		y[k] = (char)tolower((unsigned char)b[k]);
	for (size_t i = 1; i <= la; i++)
		for (size_t k = 1; k <= lb; k++) {
			size_t best = d[i - 1][k - 1] + (x[i - 1] != y[k - 1]);
			if (d[i - 1][k] + 1 < best)
				best = d[i - 1][k] + 1;
			if (d[i][k - 1] + 1 < best)
				best = d[i][k - 1] + 1;
			bool swap = i > 1 && k > 1 && x[i - 1] == y[k - 2] && x[i - 2] == y[k - 1];
			if (swap && d[i - 2][k - 2] + 1 < best)
				best = d[i - 2][k - 2] + 1;
			d[i][k] = best;
		}
	return d[la][lb];
}

bool cli_suggest(const char *word, const char *prefix, const char *const *names, size_t n, char *out,
		 size_t max)
{
	/* A typo is one or two edits (one for short words), or the start of a name. */
	size_t len = strlen(word), limit = len < 4 ? 1 : 2, best = SIZE_MAX, dist[64];
	for (size_t i = 0; i < n && i < 64; i++) {
		bool start = len >= 3 && strncasecmp(names[i], word, len) == 0;
		dist[i] = start ? 1 : edit_distance(word, names[i]);
		if (dist[i] < best)
			best = dist[i];
	}
	if (best > limit || best == 0)
		return false;
	size_t shown = 0, pos = 0, total = 0;
	for (size_t i = 0; i < n && i < 64; i++)
		total += dist[i] == best;
	out[0] = '\0';
	for (size_t i = 0; i < n && i < 64 && shown < 3 && pos < max; i++) {
		if (dist[i] != best)
			continue;
		shown++;
		const char *sep = shown == 1 ? "" : shown == total || shown == 3 ? " or " : ", ";
		pos += (size_t)snprintf(out + pos, max - pos, "%s'%s%s'", sep, prefix, names[i]);
	}
	return true;
}

bool cli_unknown(const char *what, const char *word, const char *prefix, const char *const *names,
		 size_t n)
{
	char near[300];
	bool found = cli_suggest(word, prefix, names, n, near, sizeof(near));
	if (found)
		cli_error("unknown %s '%s%s'; did you mean %s?", what, prefix, word, near);
	else
		cli_error("unknown %s '%s%s'", what, prefix, word);
	return found;
}

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* The command called name, or NULL after saying so: with the one probably meant, else the list. */
static int (*find_command(const char *name))(int, char **)
{
	const char *names[NCOMMANDS];
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(name, commands[i].name) == 0)
			return commands[i].run;
		names[i] = commands[i].name;
	}
	if (cli_unknown("command", name, "", names, NCOMMANDS))
		fprintf(stderr, "'regsign --help' lists the commands\n");
	else
		usage(stderr);
	return NULL;
}

/* regsign help [COMMAND [SUBCOMMAND...]]: what COMMAND --help prints. */
static int help_command(int argc, char **argv)
{
	if (argc < 3) {
		usage(stdout);
		return RS_EOK;
	}
	int (*run)(int, char **) = find_command(argv[2]);
	if (run == NULL)
		return RS_EINVAL;
	/* The command's own argv: its name, any subcommand, then --help. */
	char **args = calloc((size_t)argc, sizeof(*args));
	if (args == NULL)
		return RS_ENOMEM;
	for (int i = 2; i < argc; i++)
		args[i - 2] = argv[i];
	args[argc - 2] = (char *)"--help";
	int code = run(argc - 1, args);
	free(args);
	return code;
}

void cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("regsign: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

bool cli_origin(const char *text, uint8_t out[255])
{
	if (text == NULL) {
		cli_error("--origin is required");
		return false;
	}
	if (rs_dname_from_str(text, out) != RS_EOK) {
		cli_error("invalid origin '%s'", text);
		return false;
	}
	return true;
}

static const char *state_dir;
static int64_t forced_now = -1;

const char *cli_state_dir(void)
{
	if (state_dir != NULL)
		return state_dir;
	const char *env = getenv("REGSIGN_STATE");
	return env != NULL && *env != '\0' ? env : CLI_STATE_DEFAULT;
}

bool cli_set_now(const char *text)
{
	int64_t t;
	if (rs_time_parse(text, &t) != RS_EOK) {
		cli_error("invalid time '%s' for --now (use YYYYMMDDHHMMSS, UTC)", text);
		return false;
	}
	forced_now = t;
	return true;
}

bool cli_now_given(void)
{
	return forced_now >= 0;
}

int64_t cli_now(void)
{
	if (forced_now >= 0)
		return forced_now;
	const char *env = getenv("REGSIGN_NOW");
	int64_t t;
	if (env != NULL && rs_time_parse(env, &t) == RS_EOK)
		return t;
	return (int64_t)time(NULL);
}

static int key_order(const void *a, const void *b)
{
	const rs_key_t *x = *(rs_key_t *const *)a, *y = *(rs_key_t *const *)b;
	if (rs_key_alg(x) != rs_key_alg(y))
		return rs_key_alg(x) - rs_key_alg(y);
	return (int)rs_key_tag(x) - (int)rs_key_tag(y);
}

int cli_load_keys(const char *dir, const uint8_t *origin, bool need_private, rs_key_t **keys, int max)
{
	/* BIND names key files K<owner>+<alg>+<tag> with the owner in file-name form (rs_dname_to_filename),
	 * "K0%2F25.2.0.10.in-addr.arpa.+013+12345"; the owner read back is compared, so its final dot may be missing. */
	size_t olen = rs_dname_len(origin, RS_NAME_MAX);
	DIR *d = opendir(dir);
	if (d == NULL) {
		cli_error("cannot open key directory '%s': %s", dir, strerror(errno));
		return -1;
	}
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *f = de->d_name;
		size_t len = strlen(f);
		uint8_t owner[RS_NAME_MAX];
		if (len < 14 || f[0] != 'K' || strcmp(f + len - 4, ".key") != 0)
			continue;
		if (rs_dname_from_filename(f + 1, strcspn(f + 1, "+"), owner) != RS_EOK ||
		    memcmp(owner, origin, olen) != 0)
			continue;
		if (n == max) {
			cli_error("more than %d keys in '%s'", max, dir);
			break;
		}
		char path[4200];
		snprintf(path, sizeof(path), "%s/%s", dir, f);
		rs_diag_t diag;
		int ret = rs_key_load(path, need_private, &keys[n], &diag);
		if (ret != RS_EOK) {
			cli_error("%s", diag.text);
			n = -1 - n; /* remember how many to free */
			break;
		}
		if (memcmp(rs_key_owner(keys[n]), origin, rs_dname_len(origin, 255)) != 0) {
			rs_key_free(keys[n]);
			continue;
		}
		n++;
	}
	closedir(d);
	if (n < 0) {
		for (int i = 0; i < -1 - n; i++)
			rs_key_free(keys[i]);
		return -1;
	}
	qsort(keys, (size_t)n, sizeof(*keys), key_order);
	return n;
}

/* The exit status of a command's code: the one place codes become exit statuses. */
static int exit_status(int code)
{
	enum { EXIT_OK = 0, EXIT_BOGUS = 1, EXIT_INPUT = 2, EXIT_INTERNAL = 3 };
	switch (code) {
	case RS_EOK: return EXIT_OK;
	case RS_EBOGUS: return EXIT_BOGUS; /* a check ran and found problems */
	case RS_ENOMEM: case RS_ECRYPTO: case CLI_EINTERNAL: return EXIT_INTERNAL;
	default: return EXIT_INPUT; /* bad input or usage, or refused */
	}
}

/* regsign [GLOBAL OPTIONS] COMMAND ...: the command's code. */
static int dispatch(int argc, char **argv)
{
	/* Key material and PINs pass through this process: no core dump of it, no ptrace by others. */
	prctl(PR_SET_DUMPABLE, 0);
	setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
	/* Global options before the command. */
	while (argc > 2 && (strcmp(argv[1], "--state") == 0 || strcmp(argv[1], "--now") == 0)) {
		if (strcmp(argv[1], "--state") == 0)
			state_dir = argv[2];
		else if (!cli_set_now(argv[2]))
			return RS_EINVAL;
		argc -= 2;
		argv += 2;
	}
	if (argc < 2) {
		usage(stderr);
		return RS_EINVAL;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return RS_EOK;
	}
	if (strcmp(argv[1], "help") == 0)
		return help_command(argc, argv);
	if (strcmp(argv[1], "--version") == 0) {
		printf("regsign %s\n", REGSIGN_VERSION);
		return RS_EOK;
	}
	/* Every command takes --now T (or --now=T), as the global help says: taken here, once. */
	if (strcmp(argv[1], "simulate") != 0)
		for (int i = 2; i < argc; i++) {
			const char *value = NULL;
			int used = 0;
			if (strcmp(argv[i], "--") == 0)
				break;
			if (strcmp(argv[i], "--now") == 0 && i + 1 < argc)
				value = argv[i + 1], used = 2;
			else if (strncmp(argv[i], "--now=", 6) == 0)
				value = argv[i] + 6, used = 1;
			if (value == NULL)
				continue;
			if (!cli_set_now(value))
				return RS_EINVAL;
			memmove(&argv[i], &argv[i + used], (size_t)(argc - i - used + 1) * sizeof(*argv));
			argc -= used;
			i--;
		}
	int (*run)(int, char **) = find_command(argv[1]);
	return run != NULL ? run(argc - 1, argv + 1) : RS_EINVAL;
}

int main(int argc, char **argv)
{
	return exit_status(dispatch(argc, argv));
}
