/* regsign audit verify|show|syslog: the hash-chained audit log of a state directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody.h"
#include "managed.h"

static void help(FILE *f)
{
	fprintf(f, "usage: regsign [--state DIR] audit verify\n"
		   "       regsign [--state DIR] audit show [--tail N]\n"
		   "       regsign [--state DIR] audit syslog udp:HOST:PORT|tls:HOST:PORT|unix:PATH|none\n"
		   "       regsign [--state DIR] audit syslog-ca FILE\n"
		   "       regsign [--state DIR] audit acknowledge --reason TEXT\n"
		   "       regsign [--state DIR] audit accept-state --reason TEXT\n\n"
		   "Every key and DS operation (key generation, activation, rollover steps, signing runs,\n"
		   "backups, restores, destruction, DS changes) is a line of DIR/audit.log. Each line carries\n"
		   "the SHA-256 of the line before it, and the state database keeps the last one.\n\n"
		   "verify   checks the whole chain; exits 0 if intact, 1 naming the first entry that was\n"
		   "         changed, removed, inserted or moved, or when the state is behind the log.\n"
		   "show     prints the log (the last N entries with --tail).\n"
		   "syslog   also sends each new entry to a syslog collector as RFC 5424 (facility\n"
		   "         authpriv), over UDP (RFC 5426), TLS (RFC 5425, octet counting) or a local\n"
		   "         datagram socket such as /dev/log.\n"
		   "syslog-ca  the CA file (PEM) a tls: collector's certificate must chain to; its name\n"
		   "         or address must match HOST. A refused certificate is an error of the flush.\n"
		   "acknowledge  after the log lost entries (cut short), nothing more is appended and every\n"
		   "         command raises an alarm, until an operator who checked it says why here: a gap\n"
		   "         entry naming the missing entries goes into the log, which goes on from there\n"
		   "         (verify accepts it and counts it); the acknowledgement is audited.\n"
		   "accept-state  a state database behind its log (restored from an older copy, or its\n"
		   "         WAL lost) is refused by every command, for acting on it would repeat serials\n"
		   "         and undo key steps; put the newest one back, or keep this one here: the log's\n"
		   "         last entry becomes its head, entries only the database held are recorded\n"
		   "         again, and the acceptance is audited. Check its zones' keys afterwards.\n\n"
		   "example:\n  regsign --state /var/lib/regsign audit syslog udp:192.0.2.10:514\n"
		   "  regsign --state /var/lib/regsign audit verify\n");
}

static int count_row(void *arg, uint64_t seq, const char *line)
{
	(void)seq;
	(void)line;
	(*(size_t *)arg)++;
	return RS_EOK;
}

/* The log's text (NUL-terminated); NULL with errno set if it cannot be read. */
static char *read_log(const char *path, size_t *len)
{
	rs_buf_t buf;
	rs_buf_init(&buf, (size_t)1 << 34);
	int ret = rs_buf_read_file(&buf, path);
	if (ret != RS_EOK) {
		rs_buf_clear(&buf);
		errno = ret > RS_EBASE ? -ret : EFBIG;
		return NULL;
	}
	*len = buf.len;
	return (char *)buf.data;
}

static int verify(rs_store_t *store)
{
	/* More than the head in the database: a run ended before copying its entries; complete them. */
	size_t rows = 0;
	rs_store_audit_since(store, 0, count_row, &rows);
	if (rows > 1)
		cli_audit_flush(store);
	uint64_t head;
	char head_hash[RS_AUDIT_HASH_HEX];
	if (rs_store_audit_head(store, &head, head_hash) != RS_EOK) {
		cli_error("cannot read the audit head from the state database");
		return CLI_EINTERNAL;
	}
	char path[4200];
	snprintf(path, sizeof(path), "%s/audit.log", rs_store_dir(store));
	size_t len = 0;
	char *text = read_log(path, &len);
	if (text == NULL && errno != ENOENT) {
		cli_error("cannot read '%s': %s", path, strerror(errno));
		return CLI_EINTERNAL;
	}
	rs_diag_t diag;
	uint64_t entries;
	int ret = rs_audit_verify(text ? text : "", len, path, head, head_hash, &entries, &diag);
	free(text);
	if (ret == RS_EOK)
		ret = rs_audit_state_check(store, &diag);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		return RS_EBOGUS;
	}
	printf("%s: %llu entries, chain intact, last entry matches the state database\n", path,
	       (unsigned long long)entries);
	return RS_EOK;
}

static int show(rs_store_t *store, long tail)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/audit.log", rs_store_dir(store));
	size_t len = 0;
	char *text = read_log(path, &len);
	if (text == NULL) {
		if (errno == ENOENT)
			return RS_EOK;
		cli_error("cannot read '%s': %s", path, strerror(errno));
		return CLI_EINTERNAL;
	}
	size_t start = 0;
	long seen = 0;
	/* The tail-th newline from the end, the last one not counted, starts the last tail lines. */
	for (size_t i = len; tail > 0 && i-- > 0;)
		if (text[i] == '\n' && i + 1 < len && ++seen == tail) {
			start = i + 1;
			break;
		}
	fwrite(text + start, 1, len - start, stdout);
	free(text);
	return RS_EOK;
}

static int put_setting(rs_store_t *store, const char *name, const char *value, const char *what, const char *shown);

static int set_syslog(rs_store_t *store, const char *target)
{
	bool none = strcmp(target, "none") == 0;
	if (!none && strncmp(target, "udp:", 4) != 0 && strncmp(target, "unix:", 5) != 0 &&
	    strncmp(target, "tls:", 4) != 0) {
		cli_error("invalid syslog target '%s' (udp:HOST:PORT, tls:HOST:PORT, unix:PATH or none)", target);
		return RS_EINVAL;
	}
	int ret = put_setting(store, RS_SET_SYSLOG, none ? "" : target, "syslog target", target);
	if (ret == RS_EOK)
		printf("audit entries go to syslog: %s\n", target);
	return ret;
}

/* A syslog setting, audited. */
static int put_setting(rs_store_t *store, const char *name, const char *value, const char *what, const char *shown)
{
	rs_diag_t diag;
	int ret = rs_store_begin(store, &diag);
	if (ret == RS_EOK)
		ret = rs_store_setting_put(store, name, value, &diag);
	if (ret == RS_EOK && !cli_audit(store, "audit-config", NULL, 0, "ok", "%s %s", what, shown))
		ret = RS_EIO;
	if (ret == RS_EOK)
		ret = rs_store_commit(store, &diag);
	if (ret != RS_EOK) {
		rs_store_rollback(store);
		cli_error("%s", diag.text);
		return CLI_EINTERNAL;
	}
	cli_audit_flush(store);
	return RS_EOK;
}

static int set_syslog_ca(rs_store_t *store, const char *path)
{
	char real[4096];
	FILE *f = realpath(path, real) != NULL ? fopen(real, "r") : NULL;
	if (f == NULL) {
		cli_error("cannot read CA file '%s'", path);
		return RS_EINVAL;
	}
	fclose(f);
	int ret = put_setting(store, RS_AUDIT_SET_SYSLOG_CA, real, "syslog CA", real);
	if (ret == RS_EOK)
		printf("a tls: syslog collector must have a certificate from: %s\n", real);
	return ret;
}

/* acknowledge (a gap in the log) or accept-state (a state behind the log). */
static int acknowledge(rs_store_t *store, const char *what, const char *reason)
{
	bool gap = strcmp(what, "acknowledge") == 0;
	if (reason[0] == '\0') {
		cli_error("--reason says why the %s is accepted; it is part of the log", gap ? "gap" : "state");
		return RS_EINVAL;
	}
	char target[512] = "";
	rs_store_setting_get(store, RS_SET_SYSLOG, target, sizeof(target));
	rs_diag_t diag;
	int ret = gap ? rs_audit_acknowledge(store, cli_operator(), reason, cli_now(), target, &diag)
		      : rs_audit_accept_state(store, cli_operator(), reason, cli_now(), target, &diag);
	if (ret != RS_EOK)
		return cli_check(ret, &diag);
	printf(gap ? "gap acknowledged; the log goes on\n"
		   : "state accepted; the log goes on from its last entry (check the zones' keys and serials)\n");
	return RS_EOK;
}

int cmd_audit(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		help(argc < 2 ? stderr : stdout);
		return argc < 2 ? RS_EINVAL : RS_EOK;
	}
	long tail = 0;
	const char *sub = argv[1];
	if (strcmp(sub, "show") == 0 && argc == 4 && strcmp(argv[2], "--tail") == 0) {
		char *end;
		tail = strtol(argv[3], &end, 10);
		if (*end != '\0' || tail <= 0) {
			cli_error("invalid --tail '%s'", argv[3]);
			return RS_EINVAL;
		}
	} else if (!((strcmp(sub, "verify") == 0 && argc == 2) || (strcmp(sub, "show") == 0 && argc == 2) ||
		     (strcmp(sub, "syslog") == 0 && argc == 3) || (strcmp(sub, "syslog-ca") == 0 && argc == 3) ||
		     ((strcmp(sub, "acknowledge") == 0 || strcmp(sub, "accept-state") == 0) && argc == 4 &&
		      strcmp(argv[2], "--reason") == 0))) {
		cli_error("unknown or incomplete command 'audit %s'", sub);
		help(stderr);
		return RS_EINVAL;
	}
	rs_store_t *store;
	/* A state behind its log can be looked at and accepted, nothing else. */
	bool any_age = strcmp(sub, "verify") == 0 || strcmp(sub, "show") == 0 || strcmp(sub, "accept-state") == 0;
	int code = any_age ? cli_store_any_age(&store) : cli_store(&store);
	if (code != RS_EOK)
		return code;
	if (strcmp(sub, "verify") == 0)
		code = verify(store);
	else if (strcmp(sub, "show") == 0)
		code = show(store, tail);
	else if (strcmp(sub, "acknowledge") == 0 || strcmp(sub, "accept-state") == 0)
		code = acknowledge(store, sub, argv[3]);
	else if (strcmp(sub, "syslog-ca") == 0)
		code = set_syslog_ca(store, argv[2]);
	else
		code = set_syslog(store, argv[2]);
	rs_store_close(store);
	return code;
}
