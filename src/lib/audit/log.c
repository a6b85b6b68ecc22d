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

/* Sequence number of the last whole line of fd; cuts off a partial line a crash left. */
static int file_tail(int fd, const char *path, uint64_t *seq, rs_diag_t *diag)
{
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
		if (end < (size_t)n && ftruncate(fd, from + (off_t)end) != 0)
			ret = rs_diag(diag, RS_EIO, "%s: cannot cut a partial line: %s", path, strerror(errno));
		size_t start = end > 0 ? end - 1 : 0;
		while (start > 0 && buf[start - 1] != '\n')
			start--;
		char hash[RS_AUDIT_HASH_HEX];
		if (ret == RS_EOK && end > 0 && rs_audit_line_head(buf + start, end - 1 - start, seq, hash) != RS_EOK)
			ret = rs_diag(diag, RS_EINVAL, "%s: the last line is not an audit entry; not appending "
				      "(run regsign audit verify)", path);
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
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(target + 5) >= sizeof(sa.sun_path))
			return rs_diag(diag, RS_EINVAL, "syslog: path too long");
		strcpy(sa.sun_path, target + 5);
		int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
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

int rs_audit_flush(rs_store_t *store, const char *syslog_target, rs_diag_t *diag)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/audit.log", rs_store_dir(store));
	int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return rs_diag(diag, RS_EIO, "cannot open '%s': %s", path, strerror(errno));
	/* One flusher at a time, so no entry is appended twice. */
	flock(fd, LOCK_EX);
	uint64_t have;
	pending_t p = { .last = 0 };
	rs_buf_init(&p.text, (size_t)1 << 26);
	int ret = file_tail(fd, path, &have, diag);
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
	if (ret == RS_EOK && p.text.len > 0 && syslog_target != NULL && syslog_target[0] != '\0')
		ret = syslog_send(syslog_target, &p.text, diag);
	rs_buf_clear(&p.text);
	return ret;
}
