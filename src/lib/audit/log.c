/*
 * The audit log of a state directory. An entry is first a row written in the
 * same transaction as the change it records, so a change and its entry commit
 * together or not at all; rs_audit_flush then copies it to DIR/audit.log and
 * to syslog. kill -9 between the two loses nothing: the next flush appends
 * whatever the file lacks.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "regsign/audit.h"
#include "regsign/store.h"

int rs_audit_record(rs_store_t *store, const rs_audit_event_t *event, rs_diag_t *diag)
{
	uint64_t seq;
	char prev[RS_AUDIT_HASH_HEX], hash[RS_AUDIT_HASH_HEX];
	if (rs_store_audit_head(store, &seq, prev) != RS_EOK)
		return rs_diag(diag, RS_EIO, "cannot read the audit head");
	if (seq == 0) {
		/* Nothing in the database: the file (if any) has the head. */
		char path[4200];
		snprintf(path, sizeof(path), "%s/audit.log", rs_store_dir(store));
		memcpy(prev, rs_audit_genesis, sizeof(prev));
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			char line[2048];
			while (fgets(line, sizeof(line), f) != NULL)
				if (rs_audit_line_head(line, strcspn(line, "\n"), &seq, hash) == RS_EOK)
					memcpy(prev, hash, sizeof(prev));
			fclose(f);
		}
	}
	rs_buf_t line;
	rs_buf_init(&line, 8192);
	int ret = rs_audit_line(event, seq + 1, prev, &line, hash);
	if (ret == RS_EOK) {
		line.data[line.len - 1] = '\0'; /* the newline goes back in the file */
		ret = rs_store_audit_add(store, seq + 1, (const char *)line.data, hash, diag);
	}
	rs_buf_clear(&line);
	return ret;
}

/* The last whole line of the file: its sequence number and hash, and where a gap entry resumes. */
typedef struct {
	uint64_t seq;
	char hash[RS_AUDIT_HASH_HEX];
	uint64_t resume; /* a gap entry: the sequence number that follows it; 0: not one */
	char resume_prev[RS_AUDIT_HASH_HEX];
} tail_t;

/* The last whole line of fd; with cut, cuts off a partial line a crash left (else only skips it). */
static int file_tail(int fd, const char *path, tail_t *tail, bool cut, rs_diag_t *diag)
{
	uint64_t *seq = &tail->seq;
	tail->resume = 0;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return rs_diag(diag, RS_EIO, "%s: %s", path, strerror(errno));
	*seq = 0;
	if (st.st_size == 0)
		return RS_EOK;
	enum { TAIL = 65536 };
	off_t from = st.st_size > TAIL ? st.st_size - TAIL : 0;
	char *buf = malloc(TAIL + 1);
	if (buf == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	ssize_t n = pread(fd, buf, (size_t)(st.st_size - from), from);
	int ret = RS_EOK;
	if (n != st.st_size - from) {
		ret = rs_diag(diag, RS_EIO, "%s: cannot read: %s", path, strerror(errno));
	} else {
		size_t end = (size_t)n;
		while (end > 0 && buf[end - 1] != '\n')
			end--;
		if (cut && end < (size_t)n && ftruncate(fd, from + (off_t)end) != 0)
			ret = rs_diag(diag, RS_EIO, "%s: cannot cut a partial line: %s", path, strerror(errno));
		size_t start = end > 0 ? end - 1 : 0;
		while (start > 0 && buf[start - 1] != '\n')
			start--;
		if (ret == RS_EOK && end > 0 && rs_audit_line_head(buf + start, end - 1 - start, seq, tail->hash) != RS_EOK)
			ret = rs_diag(diag, RS_EINVAL, "%s: the last line is not an audit entry; not appending "
				      "(run regsign audit verify)", path);
		if (ret == RS_EOK && end > 0 &&
		    !rs_audit_gap_of(buf + start, end - 1 - start, &tail->resume, tail->resume_prev))
			tail->resume = 0;
	}
	free(buf);
	return ret;
}

typedef struct {
	rs_buf_t text;
	uint64_t last;
} pending_t;

static int collect(void *arg, uint64_t seq, const char *line)
{
	pending_t *p = arg;
	p->last = seq;
	int ret = rs_buf_append(&p->text, line, strlen(line));
	return ret == RS_EOK ? rs_buf_append(&p->text, "\n", 1) : ret;
}

/* A datagram socket connected to "udp:HOST:PORT" or "unix:PATH". */
static int syslog_open(const char *target, rs_diag_t *diag)
{
	if (strncmp(target, "unix:", 5) == 0) {
		struct sockaddr_un sa;
		socklen_t salen;
		rs_diag_t why;
		if (rs_unix_addr(target + 5, &sa, &salen, &why) != RS_EOK)
			return rs_diag(diag, RS_EINVAL, "syslog: %s", why.text);
		int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, salen) == 0)
			return fd;
		int err = errno;
		if (fd >= 0)
			close(fd);
		return rs_diag(diag, RS_EIO, "syslog: cannot reach '%s': %s", target, strerror(err));
	}
	char host[256];
	const char *colon = strrchr(target, ':');
	if (strncmp(target, "udp:", 4) != 0 || colon == NULL || colon <= target + 4 ||
	    (size_t)(colon - target - 4) >= sizeof(host))
		return rs_diag(diag, RS_EINVAL, "syslog: '%s' is not udp:HOST:PORT or unix:PATH", target);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - target - 4), target + 4);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return rs_diag(diag, RS_EINVAL, "syslog: '%s' is not a numeric address and port", target);
	int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd >= 0 ? fd : rs_diag(diag, RS_EIO, "syslog: cannot reach '%s'", target);
}

/* Send each line of text (RFC 5426: one message per datagram). */
static int syslog_send(const char *target, const rs_buf_t *text, rs_diag_t *diag)
{
	int fd = syslog_open(target, diag);
	if (fd < 0)
		return fd;
	char host[256] = "-";
	gethostname(host, sizeof(host) - 1);
	int ret = RS_EOK;
	for (size_t at = 0; at < text->len && ret == RS_EOK;) {
		const char *line = (const char *)text->data + at;
		size_t n = (size_t)((const char *)memchr(line, '\n', text->len - at) - line);
		rs_buf_t msg;
		rs_buf_init(&msg, 16384);
		if (rs_audit_syslog(line, n, host, (int)getpid(), &msg) == RS_EOK &&
		    send(fd, msg.data, msg.len, 0) != (ssize_t)msg.len)
			ret = rs_diag(diag, RS_EIO, "syslog: cannot send to '%s': %s", target, strerror(errno));
		rs_buf_clear(&msg);
		at += n + 1;
	}
	close(fd);
	return ret;
}

/* What the database holds: its first entry (and the hash it follows), the last, and the hash of one. */
typedef struct {
	uint64_t first, last, want;
	char first_prev[RS_AUDIT_HASH_HEX], want_hash[RS_AUDIT_HASH_HEX];
} bounds_t;

static int note_bounds(void *arg, uint64_t seq, const char *line)
{
	bounds_t *b = arg;
	char hash[RS_AUDIT_HASH_HEX];
	uint64_t s;
	if (b->first == 0) {
		b->first = seq;
		if (rs_audit_line_prev(line, strlen(line), b->first_prev) != RS_EOK)
			return RS_EINVAL;
	}
	b->last = seq;
	if (seq == b->want && rs_audit_line_head(line, strlen(line), &s, hash) == RS_EOK)
		memcpy(b->want_hash, hash, sizeof(hash));
	return RS_EOK;
}

/*
 * Does the file go on where the database does? Sets *have to the last entry
 * the file holds in the database's numbering. RS_EINVAL with what is wrong
 * when entries are missing from it, it was rewritten, or it is ahead.
 */
static int file_matches(rs_store_t *store, const char *path, const tail_t *t, uint64_t *have, bounds_t *b,
			rs_diag_t *diag)
{
	*b = (bounds_t){ .want = t->seq };
	if (rs_store_audit_since(store, 0, note_bounds, b) != RS_EOK)
		return rs_diag(diag, RS_EIO, "cannot read the audit entries");
	*have = t->seq;
	if (b->first == 0 || t->seq == 0)
		return RS_EOK; /* nothing recorded yet, or a new log */
	/* An acknowledged gap: the file goes on with the database's first entry. */
	if (t->resume != 0 && t->resume == b->first && strcmp(t->resume_prev, b->first_prev) == 0) {
		*have = b->first - 1;
		return RS_EOK;
	}
	if (t->seq < b->first)
		return rs_diag(diag, RS_EINVAL, "%s ends at entry %llu, but the state holds entries from %llu on: "
			       "entries %llu to %llu are missing from it (the log was cut); nothing more is appended "
			       "until an operator checks it and runs 'regsign audit acknowledge --reason TEXT'", path,
			       (unsigned long long)t->seq, (unsigned long long)b->first, (unsigned long long)t->seq + 1,
			       (unsigned long long)b->first - 1);
	if (t->seq > b->last)
		return rs_diag(diag, RS_EINVAL, "%s goes on to entry %llu, beyond the state's last (%llu): the state "
			       "database is older than its audit log (restored from a copy?); nothing is appended",
			       path, (unsigned long long)t->seq, (unsigned long long)b->last);
	if (strcmp(t->hash, b->want_hash) != 0)
		return rs_diag(diag, RS_EINVAL, "%s: entry %llu differs from the state's: the log was rewritten; "
			       "nothing is appended (run regsign audit verify)", path, (unsigned long long)t->seq);
	return RS_EOK;
}

static int open_log(rs_store_t *store, char *path, size_t max, rs_diag_t *diag)
{
	snprintf(path, max, "%s/audit.log", rs_store_dir(store));
	int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return rs_diag(diag, RS_EIO, "cannot open '%s': %s", path, strerror(errno));
	/* One writer at a time, so no entry is appended twice. */
	flock(fd, LOCK_EX);
	return fd;
}

typedef struct {
	uint64_t seq;
	char hash[RS_AUDIT_HASH_HEX]; /* "" when the database does not hold entry seq */
} entry_hash_t;

/* Called from the entry after seq - 1 on: takes the hash if it is entry seq, then stops. */
static int entry_hash(void *arg, uint64_t seq, const char *line)
{
	entry_hash_t *e = arg;
	uint64_t s;
	if (seq != e->seq || rs_audit_line_head(line, strlen(line), &s, e->hash) != RS_EOK)
		e->hash[0] = '\0';
	return 1;
}

int rs_audit_state_check(rs_store_t *store, rs_diag_t *diag)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/audit.log", rs_store_dir(store));
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? RS_EOK : rs_diag(diag, RS_EIO, "cannot open '%s': %s", path, strerror(errno));
	tail_t t;
	int ret = file_tail(fd, path, &t, false, diag);
	close(fd);
	if (ret != RS_EOK || t.seq == 0)
		return ret;
	uint64_t seq;
	char hash[RS_AUDIT_HASH_HEX];
	entry_hash_t at_tail = { t.seq, "" };
	if (rs_store_audit_head(store, &seq, hash) != RS_EOK)
		return rs_diag(diag, RS_EIO, "%s/state.db: cannot read the audit head", rs_store_dir(store));
	if (t.seq <= seq) {
		/*
		 * The log may lack entries not copied yet (the next flush adds them, or
		 * reports a log cut short), but where it ends it agrees with the state.
		 */
		if (rs_store_audit_since(store, t.seq - 1, entry_hash, &at_tail) < 0)
			return rs_diag(diag, RS_EIO, "%s/state.db: cannot read the audit entries", rs_store_dir(store));
		if (at_tail.hash[0] == '\0' || strcmp(at_tail.hash, t.hash) == 0)
			return RS_EOK;
	}
	return rs_diag(diag, RS_ESTALE, "%s/state.db is %s its audit log: the state's last entry is %llu (%.16s), the "
		       "log's %llu (%.16s); acting on it would repeat serials and undo key steps the log records (a "
		       "database restored from an older copy, or its WAL lost?): put back the newest state.db with its "
		       "state.db-wal, or keep this one with 'regsign audit accept-state --reason TEXT'",
		       rs_store_dir(store), at_tail.hash[0] != '\0' ? "apart from" : "behind", (unsigned long long)seq,
		       seq != 0 ? hash : "none", (unsigned long long)t.seq, t.hash);
}

typedef struct {
	rs_buf_t lines; /* the database's entries, each line with its newline */
	size_t count;
} rows_t;

static int keep_row(void *arg, uint64_t seq, const char *line)
{
	rows_t *r = arg;
	(void)seq;
	r->count++;
	int ret = rs_buf_append(&r->lines, line, strlen(line));
	return ret == RS_EOK ? rs_buf_append(&r->lines, "\n", 1) : ret;
}

/*
 * The database's own entries the log does not hold (made after the state
 * went back) are not lost: each is recorded again, quoted, after the head.
 */
static int record_again(rs_store_t *store, const rows_t *rows, const char *log, size_t loglen, const char *operator,
			int64_t now, rs_diag_t *diag)
{
	int ret = RS_EOK;
	const char *at = (const char *)rows->lines.data, *end = at + rows->lines.len;
	for (const char *nl; ret == RS_EOK && at < end; at = nl + 1) {
		nl = memchr(at, '\n', (size_t)(end - at));
		size_t n = (size_t)(nl - at) + 1;
		if (memmem(log, loglen, at, n) != NULL)
			continue;
		char detail[2600];
		snprintf(detail, sizeof(detail), "an entry of the state database the log does not hold: %.*s",
			 (int)(n - 1), at);
		rs_audit_event_t e = { now, operator, "audit-reentry", NULL, 0, "ok", detail };
		ret = rs_audit_record(store, &e, diag);
	}
	return ret;
}

/*
 * The serials the log says were published and the state does not know:
 * each zone's goes up to the last one, so the next is above it. Appends
 * what changed ("ZONE SERIAL ...") to carried.
 */
static int carry_serials(rs_store_t *store, const char *log, size_t len, char *carried, size_t max, rs_diag_t *diag)
{
	rs_zone_rec_t *zones = NULL;
	size_t n = 0;
	if (rs_store_zone_list(store, &zones, &n) != RS_EOK)
		return rs_diag(diag, RS_EIO, "cannot read the zones");
	uint32_t *top = calloc(n + 1, sizeof(*top));
	int ret = top != NULL ? RS_EOK : rs_diag(diag, RS_ENOMEM, "out of memory");
	for (const char *at = log, *nl; ret == RS_EOK && at < log + len; at = nl + 1) {
		nl = memchr(at, '\n', (size_t)(log + len - at));
		char zone[256];
		uint32_t serial;
		if (rs_audit_line_serial(at, (size_t)(nl - at), zone, &serial) != RS_EOK)
			continue;
		for (size_t i = 0; i < n; i++)
			if (strcmp(zones[i].name, zone) == 0 && (top[i] == 0 || rs_serial_gt(serial, top[i])))
				top[i] = serial;
	}
	for (size_t i = 0; ret == RS_EOK && i < n; i++) {
		if (top[i] == 0 || (zones[i].serial != 0 && !rs_serial_gt(top[i], zones[i].serial)))
			continue;
		zones[i].serial = top[i];
		ret = rs_store_zone_update(store, &zones[i], diag);
		size_t used = strlen(carried);
		snprintf(carried + used, max - used, "%s%s %u", used ? ", " : "", zones[i].name, top[i]);
	}
	free(top);
	free(zones);
	return ret;
}

int rs_audit_accept_state(rs_store_t *store, const char *operator, const char *reason, int64_t now,
			  const char *syslog_target, rs_diag_t *diag)
{
	rs_diag_t why;
	if (rs_audit_state_check(store, &why) == RS_EOK)
		return rs_diag(diag, RS_ENOENT, "the state database is not behind its audit log: nothing to accept");
	char path[4200];
	int fd = open_log(store, path, sizeof(path), diag);
	if (fd < 0)
		return fd;
	rs_buf_t log;
	rs_buf_init(&log, (size_t)1 << 34);
	rows_t rows = { .count = 0 };
	rs_buf_init(&rows.lines, (size_t)1 << 26);
	uint64_t entries, seq = 0, state_seq;
	char hash[RS_AUDIT_HASH_HEX], state_hash[RS_AUDIT_HASH_HEX], *line = NULL;
	tail_t t;
	/* A line a crash left half-written goes first, as a flush would cut it. */
	int ret = file_tail(fd, path, &t, true, diag);
	if (ret == RS_EOK && (ret = rs_buf_read_file(&log, path)) != RS_EOK)
		ret = rs_diag(diag, ret, "cannot read '%s': %s", path, rs_strerror(ret));
	if (ret == RS_EOK && log.len == 0)
		ret = rs_diag(diag, RS_ENOENT, "%s holds no whole entry: nothing to accept", path);
	/* The log becomes the state's head: it must be whole. */
	if (ret == RS_EOK && rs_audit_verify((const char *)log.data, log.len, path, 0, NULL, &entries, &why) != RS_EOK)
		ret = rs_diag(diag, RS_EINVAL, "%s; the log must verify before the state can go on from it", why.text);
	const char *last = NULL;
	if (ret == RS_EOK) {
		const char *text = (const char *)log.data;
		size_t end = log.len - 1;
		last = text + end;
		while (last > text && last[-1] != '\n')
			last--;
		if (rs_audit_line_head(last, (size_t)(text + end - last), &seq, hash) != RS_EOK)
			ret = rs_diag(diag, RS_EINVAL, "%s: the last line is not an audit entry", path);
	}
	if (ret == RS_EOK && rs_store_audit_head(store, &state_seq, state_hash) != RS_EOK)
		ret = rs_diag(diag, RS_EIO, "cannot read the audit head");
	if (ret == RS_EOK && (line = strndup(last, (size_t)((const char *)log.data + log.len - 1 - last))) == NULL)
		ret = rs_diag(diag, RS_ENOMEM, "out of memory");
	if (ret == RS_EOK && (ret = rs_store_begin(store, diag)) == RS_EOK) {
		if (rs_store_audit_since(store, 0, keep_row, &rows) != RS_EOK)
			ret = rs_diag(diag, RS_EIO, "cannot read the audit entries");
		if (ret == RS_EOK && (ret = rs_store_audit_trim(store, INT64_MAX, diag)) == RS_EOK)
			ret = rs_store_audit_add(store, seq, line, hash, diag);
		if (ret == RS_EOK)
			ret = record_again(store, &rows, (const char *)log.data, log.len, operator, now, diag);
		char carried[600] = "";
		if (ret == RS_EOK)
			ret = carry_serials(store, (const char *)log.data, log.len, carried, sizeof(carried), diag);
		char detail[1600];
		snprintf(detail, sizeof(detail), "the state database, behind its audit log (the state's last entry %llu "
			 "%.16s, the log's %llu %.16s), is kept: %.800s; serials published meanwhile: %s",
			 (unsigned long long)state_seq, state_seq != 0 ? state_hash : "none", (unsigned long long)seq, hash,
			 reason, carried[0] ? carried : "none");
		rs_audit_event_t e = { now, operator, "audit-accept-state", NULL, 0, "ok", detail };
		if (ret == RS_EOK)
			ret = rs_audit_record(store, &e, diag);
		if (ret == RS_EOK)
			ret = rs_store_commit(store, diag);
		if (ret != RS_EOK)
			rs_store_rollback(store);
	}
	free(line);
	rs_buf_clear(&log);
	rs_buf_clear(&rows.lines);
	close(fd);
	return ret == RS_EOK ? rs_audit_flush(store, syslog_target, diag) : ret;
}

int rs_audit_acknowledge(rs_store_t *store, const char *operator, const char *reason, int64_t now,
			 const char *syslog_target, rs_diag_t *diag)
{
	char path[4200];
	int fd = open_log(store, path, sizeof(path), diag);
	if (fd < 0)
		return fd;
	tail_t t;
	uint64_t have;
	bounds_t b;
	rs_diag_t gap;
	int ret = file_tail(fd, path, &t, true, diag);
	if (ret == RS_EOK && file_matches(store, path, &t, &have, &b, &gap) == RS_EOK)
		ret = rs_diag(diag, RS_ENOENT, "%s goes on where the state does: nothing to acknowledge", path);
	if (ret == RS_EOK && (t.seq >= b.first || t.seq == 0))
		ret = rs_diag(diag, RS_EINVAL, "%s: %s; only missing entries can be acknowledged", path, gap.text);
	rs_buf_t line;
	rs_buf_init(&line, 8192);
	if (ret == RS_EOK) {
		char detail[1200], hash[RS_AUDIT_HASH_HEX];
		snprintf(detail, sizeof(detail), "entries %llu to %llu are missing from the log, acknowledged: %.800s; "
			 "resume=%llu:%s", (unsigned long long)t.seq + 1, (unsigned long long)b.first - 1, reason,
			 (unsigned long long)b.first, b.first_prev);
		rs_audit_event_t e = { now, operator, RS_AUDIT_GAP, NULL, 0, "ok", detail };
		ret = rs_audit_line(&e, t.seq + 1, t.hash, &line, hash);
		if (ret == RS_EOK && (write(fd, line.data, line.len) != (ssize_t)line.len || fsync(fd) != 0))
			ret = rs_diag(diag, RS_EIO, "cannot append to '%s': %s", path, strerror(errno));
	}
	rs_buf_clear(&line);
	close(fd);
	if (ret != RS_EOK)
		return ret;
	/* The acknowledgement is an entry of the chain too, and everything kept meanwhile goes out now. */
	char detail[1000];
	snprintf(detail, sizeof(detail), "audit log gap (entries %llu to %llu) acknowledged: %.800s",
		 (unsigned long long)t.seq + 1, (unsigned long long)b.first - 1, reason);
	rs_audit_event_t ack = { now, operator, "audit-acknowledge", NULL, 0, "ok", detail };
	if ((ret = rs_store_begin(store, diag)) != RS_EOK)
		return ret;
	if ((ret = rs_audit_record(store, &ack, diag)) == RS_EOK)
		ret = rs_store_commit(store, diag);
	if (ret != RS_EOK) {
		rs_store_rollback(store);
		return ret;
	}
	return rs_audit_flush(store, syslog_target, diag);
}

int rs_audit_flush(rs_store_t *store, const char *syslog_target, rs_diag_t *diag)
{
	char path[4200];
	int fd = open_log(store, path, sizeof(path), diag);
	if (fd < 0)
		return fd;
	uint64_t have;
	tail_t tail;
	bounds_t bounds;
	pending_t p = { .last = 0 };
	rs_buf_init(&p.text, (size_t)1 << 26);
	int ret = file_tail(fd, path, &tail, true, diag);
	if (ret == RS_EOK)
		ret = file_matches(store, path, &tail, &have, &bounds, diag);
	if (ret == RS_EOK && rs_store_audit_since(store, have, collect, &p) != RS_EOK)
		ret = rs_diag(diag, RS_EIO, "cannot read the audit entries");
	if (ret == RS_EOK && p.text.len > 0 &&
	    (write(fd, p.text.data, p.text.len) != (ssize_t)p.text.len || fsync(fd) != 0))
		ret = rs_diag(diag, RS_EIO, "cannot append to '%s': %s", path, strerror(errno));
	if (ret == RS_EOK && p.last > 0 && rs_store_begin(store, NULL) == RS_EOK) {
		if (rs_store_audit_trim(store, p.last, NULL) == RS_EOK)
			rs_store_commit(store, NULL);
		else
			rs_store_rollback(store);
	}
	close(fd);
	if (ret == RS_EOK && p.text.len > 0 && syslog_target != NULL && strncmp(syslog_target, "tls:", 4) == 0) {
		char ca[4096] = "";
		rs_store_setting_get(store, RS_AUDIT_SET_SYSLOG_CA, ca, sizeof(ca));
		ret = audit_tls_send(syslog_target, ca, &p.text, diag);
	} else if (ret == RS_EOK && p.text.len > 0 && syslog_target != NULL && syslog_target[0] != '\0') {
		ret = syslog_send(syslog_target, &p.text, diag);
	}
	rs_buf_clear(&p.text);
	return ret;
}
