/*
 * The daemon's configuration: a table of settings (name, kind, where it
 * goes, bounds), read from "name: value" lines and checked once, before
 * anything runs.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/serve.h"

enum kind { K_DURATION, K_MILLIS, K_COUNT, K_BYTES, K_ADDR, K_ADDRS, K_PATH, K_FPR };

static const struct setting {
	const char *name;
	enum kind kind;
	size_t offset;
	int64_t min, max;
	const char *what;
} settings[] = {
	{ "listen", K_ADDRS, offsetof(rs_serve_config_t, listen), 0, 0, "DNS for secondaries, ADDR@PORT (repeatable)" },
	{ "metrics", K_ADDR, offsetof(rs_serve_config_t, metrics), 0, 0,
	  "Prometheus metrics over HTTP, ADDR@PORT (and the status page, unless status is set)" },
	{ "status", K_ADDR, offsetof(rs_serve_config_t, status), 0, 0, "the status page alone over HTTP, ADDR@PORT" },
	{ "control", K_PATH, offsetof(rs_serve_config_t, control), 0, 0, "the control socket" },
	{ "poll", K_MILLIS, offsetof(rs_serve_config_t, poll_ms), 50, 3600000,
	  "how often inputs and registry data are looked at without a change notice (1s, 5s)" },
	{ "batch", K_MILLIS, offsetof(rs_serve_config_t, batch_ms), 0, 3600000,
	  "the least time between two publications of a zone's changes (1s; 0: each change alone)" },
	{ "notify-timeout", K_DURATION, offsetof(rs_serve_config_t, notify_timeout), 1, 60, "a NOTIFY's wait for its answer" },
	{ "notify-retries", K_COUNT, offsetof(rs_serve_config_t, notify_retries), 1, 100, "NOTIFY tries per serial" },
	{ "retry-failed", K_DURATION, offsetof(rs_serve_config_t, retry_failed), 1, 86400, "wait after a failed publication" },
	{ "jitter", K_DURATION, offsetof(rs_serve_config_t, jitter), 0, 86400, "the most a zone's refresh moves" },
	{ "output-delay", K_DURATION, offsetof(rs_serve_config_t, output_delay), 0, 3600,
	  "how long the output file may lag a change set" },
	{ "journal-diffs", K_COUNT, offsetof(rs_serve_config_t, journal.max_diffs), 1, 100000, "IXFR history length" },
	{ "journal-size", K_BYTES, offsetof(rs_serve_config_t, journal.max_bytes), 1 << 16, INT64_MAX, "IXFR history size" },
	{ "threads", K_COUNT, offsetof(rs_serve_config_t, threads), 0, 256, "signing threads (0: all CPUs)" },
	{ "check-interval", K_DURATION, offsetof(rs_serve_config_t, check_interval), 0, 86400 * 7,
	  "how often what the secondaries serve is checked (regsign check; 0: never)" },
	{ "max-transfers", K_COUNT, offsetof(rs_serve_config_t, max_transfers), 1, 4096, "concurrent TCP connections" },
	{ "anchors-dir", K_PATH, offsetof(rs_serve_config_t, anchors_dir), 0, 0,
	  "the trust-anchor repository, published at every KSK event" },
	{ "anchors-pgp-key", K_FPR, offsetof(rs_serve_config_t, anchors_pgp_key), 0, 0,
	  "fingerprint of the OpenPGP key that signs the trust anchors" },
	{ "anchors-gnupg-home", K_PATH, offsetof(rs_serve_config_t, anchors_gnupg_home), 0, 0,
	  "the GnuPG home of that key" },
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

void rs_serve_config_init(rs_serve_config_t *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->poll_ms = 5000; /* change notices (watch.c) bring the look sooner */
	conf->batch_ms = 1000; /* under a stream of changes, one serial a second at most: unixtime serials keep up */
	conf->notify_timeout = 2;
	conf->notify_retries = 5;
	conf->retry_failed = 60;
	conf->output_delay = 5;
	conf->jitter = -1; /* 10 % of the zone's refresh */
	conf->max_transfers = 32;
}

static int parse_size(const char *text, int64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(text, &end, 10);
	if (end == text || errno != 0)
		return RS_ESYNTAX;
	unsigned long long unit = 1;
	if (strcmp(end, "k") == 0 || strcmp(end, "K") == 0)
		unit = 1ULL << 10;
	else if (strcmp(end, "M") == 0)
		unit = 1ULL << 20;
	else if (strcmp(end, "G") == 0)
		unit = 1ULL << 30;
	else if (*end != '\0')
		return RS_ESYNTAX;
	if (n > (unsigned long long)INT64_MAX / unit)
		return RS_ERANGE;
	*out = (int64_t)(n * unit);
	return RS_EOK;
}

/* ADDR@PORT, with a port and an address a socket can take (whether it can be bound is seen at start). */
static int addr_check(const struct setting *st, const char *value, const char *where, rs_diag_t *diag)
{
	struct sockaddr_storage ss;
	socklen_t len;
	rs_diag_t why;
	if (strlen(value) >= sizeof(((rs_serve_config_t *)0)->metrics))
		return rs_diag(diag, RS_ESYNTAX, "%s: %s '%.80s' is too long for ADDR@PORT", where, st->name, value);
	if (rs_addr_parse(value, 0, &ss, &len, &why) != RS_EOK)
		return rs_diag(diag, RS_ESYNTAX, "%s: %s %s", where, st->name, why.text);
	return RS_EOK;
}

static int set(rs_serve_config_t *conf, const struct setting *st, const char *value, const char *where,
	       rs_diag_t *diag)
{
	char *field = (char *)conf + st->offset;
	int64_t n = 0;
	switch (st->kind) {
	case K_ADDRS:
		if (addr_check(st, value, where, diag) != RS_EOK)
			return RS_ESYNTAX;
		if (conf->nlisten == sizeof(conf->listen) / sizeof(conf->listen[0]))
			return rs_diag(diag, RS_ELIMIT, "%s: more than %zu listen addresses", where, conf->nlisten);
		snprintf(conf->listen[conf->nlisten++], sizeof(conf->listen[0]), "%s", value);
		return RS_EOK;
	case K_ADDR:
		if (addr_check(st, value, where, diag) != RS_EOK)
			return RS_ESYNTAX;
		snprintf(field, sizeof(conf->metrics), "%s", value);
		return RS_EOK;
	case K_PATH:
		if (*value != '/' || strlen(value) >= sizeof(conf->control))
			return rs_diag(diag, RS_ESYNTAX, "%s: %s '%s' is not an absolute path", where, st->name, value);
		snprintf(field, sizeof(conf->control), "%s", value);
		return RS_EOK;
	case K_FPR:
		if (strlen(value) != 40 && strlen(value) != 64)
			return rs_diag(diag, RS_ESYNTAX, "%s: %s '%s' is not an OpenPGP fingerprint (40 or 64 hex digits)",
				       where, st->name, value);
		for (const char *c = value; *c; c++)
			if (!isxdigit((unsigned char)*c))
				return rs_diag(diag, RS_ESYNTAX, "%s: %s '%s' is not an OpenPGP fingerprint", where,
					       st->name, value);
		snprintf(field, sizeof(conf->anchors_pgp_key), "%s", value);
		return RS_EOK;
	case K_DURATION:
		if (rs_duration_parse(value, &n) != RS_EOK)
			return rs_diag(diag, RS_ESYNTAX, "%s: %s '%s' is not a duration (30s, 5m, 1h)", where, st->name, value);
		break;
	case K_MILLIS: {
		size_t len = strlen(value);
		char *end;
		if (len > 2 && strcmp(value + len - 2, "ms") == 0) {
			errno = 0;
			n = strtoll(value, &end, 10);
			if (end != value + len - 2 || errno != 0)
				return rs_diag(diag, RS_ESYNTAX, "%s: %s '%s' is not a time (250ms, 1s)", where, st->name, value);
		} else if (rs_duration_parse(value, &n) == RS_EOK && n <= INT64_MAX / 1000) {
			n *= 1000;
		} else {
			return rs_diag(diag, RS_ESYNTAX, "%s: %s '%s' is not a time (250ms, 1s)", where, st->name, value);
		}
		break;
	}
	case K_COUNT: {
		char *end;
		errno = 0;
		n = strtoll(value, &end, 10);
		if (end == value || *end != '\0' || errno != 0)
			return rs_diag(diag, RS_ESYNTAX, "%s: %s '%s' is not a number", where, st->name, value);
		break;
	}
	case K_BYTES:
		if (parse_size(value, &n) != RS_EOK)
			return rs_diag(diag, RS_ESYNTAX, "%s: %s '%s' is not a size (4096, 64M, 1G)", where, st->name, value);
		break;
	}
	if (n < st->min || n > st->max)
		return rs_diag(diag, RS_ERANGE, "%s: %s %s is outside %lld..%lld", where, st->name, value,
			       (long long)st->min, (long long)st->max);
	if (st->offset == offsetof(rs_serve_config_t, journal.max_diffs))
		conf->journal.max_diffs = (size_t)n;
	else if (st->offset == offsetof(rs_serve_config_t, journal.max_bytes))
		conf->journal.max_bytes = (uint64_t)n;
	else if (st->kind == K_COUNT && (st->offset == offsetof(rs_serve_config_t, threads) ||
					 st->offset == offsetof(rs_serve_config_t, max_transfers)))
		*(unsigned *)field = (unsigned)n;
	else
		*(int64_t *)field = n;
	return RS_EOK;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

int rs_serve_config_read(rs_serve_config_t *conf, const char *path, rs_diag_t *diag)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return rs_diag(diag, -errno, "%s: %s", path, strerror(errno));
	rs_serve_config_t next = *conf;
	/* A file's listen lines replace the defaults, not add to them. */
	bool listen_seen = false;
	char line[4608], where[4200];
	int ret = RS_EOK;
	for (unsigned n = 1; ret == RS_EOK && fgets(line, sizeof(line), f) != NULL; n++) {
		snprintf(where, sizeof(where), "%s:%u", path, n);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			ret = rs_diag(diag, RS_ESYNTAX, "%s: line too long", where);
			break;
		}
		char *hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		char *text = trim(line);
		if (*text == '\0')
			continue;
		char *colon = strchr(text, ':');
		if (colon == NULL) {
			ret = rs_diag(diag, RS_ESYNTAX, "%s: expected 'name: value'", where);
			break;
		}
		*colon = '\0';
		char *name = trim(text), *value = trim(colon + 1);
		size_t vlen = strlen(value);
		if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') && value[vlen - 1] == value[0]) {
			value[vlen - 1] = '\0';
			value++;
		}
		const struct setting *st = NULL;
		for (size_t i = 0; i < NSETTINGS && st == NULL; i++)
			if (strcmp(settings[i].name, name) == 0)
				st = &settings[i];
		if (st == NULL) {
			ret = rs_diag(diag, RS_ESYNTAX, "%s: unknown setting '%s'", where, name);
			break;
		}
		if (st->kind == K_ADDRS && !listen_seen) {
			next.nlisten = 0;
			listen_seen = true;
		}
		ret = set(&next, st, value, where, diag);
	}
	if (ret == RS_EOK && ferror(f))
		ret = rs_diag(diag, RS_EIO, "%s: read error", path);
	fclose(f);
	if (ret == RS_EOK)
		*conf = next;
	return ret;
}

int rs_serve_config_set(rs_serve_config_t *conf, const char *name, const char *value, rs_diag_t *diag)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return set(conf, &settings[i], value, name, diag);
	return rs_diag(diag, RS_EINVAL, "unknown setting '%s'", name);
}

void rs_serve_control_path(const char *state_dir, const rs_serve_config_t *conf, char *out, size_t max)
{
	if (conf != NULL && conf->control[0] != '\0')
		snprintf(out, max, "%s", conf->control);
	else
		snprintf(out, max, "%s/regsign.ctl", state_dir);
}
