/*
 * Sockets: DNS over UDP (answered in the main loop: SOA queries, small) and
 * TCP (a thread per connection, bounded, with timeouts: transfers may be
 * long), the control socket and the HTTP port (metrics, the status page).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

#define IO_TIMEOUT_MS 10000 /* a peer silent this long is dropped */

int serve_listen(const char *addr_port, int type, rs_diag_t *diag)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int ret = rs_addr_parse(addr_port, 0, &ss, &len, diag);
	if (ret != RS_EOK)
		return ret;
	int fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return rs_diag(diag, -errno, "%s: socket: %s", addr_port, strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || (type == SOCK_STREAM && listen(fd, 64) != 0)) {
		int e = errno;
		close(fd);
		return rs_diag(diag, -e, "%s: cannot listen: %s", addr_port, strerror(e));
	}
	return fd;
}

/* ---- DNS ---- */

struct udp_reply {
	int fd;
	const struct sockaddr *to;
	socklen_t len;
};

static int udp_send(void *arg, const uint8_t *msg, size_t len)
{
	struct udp_reply *r = arg;
	return sendto(r->fd, msg, len, 0, r->to, r->len) < 0 ? -errno : 0;
}

void serve_udp(serve_t *sv, int fd)
{
	uint8_t buf[65535];
	struct sockaddr_storage from;
	/* At most a batch per wake-up, so a flood cannot starve the other sockets. */
	for (int i = 0; i < 64; i++) {
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
		if (n < 0)
			return;
		struct udp_reply r = { fd, (struct sockaddr *)&from, flen };
		rs_xfr_answer(sv->xfr, (struct sockaddr *)&from, false, buf, (size_t)n, udp_send, &r);
	}
}

static bool wait_fd(int fd, short events)
{
	struct pollfd p = { fd, events, 0 };
	return poll(&p, 1, IO_TIMEOUT_MS) == 1 && (p.revents & events);
}

static int read_all(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		if (!wait_fd(fd, POLLIN))
			return -ETIMEDOUT;
		ssize_t n = read(fd, buf + got, len - got);
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		got += (size_t)n;
	}
	return 0;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		if (!wait_fd(fd, POLLOUT))
			return -ETIMEDOUT;
		ssize_t n = send(fd, buf + done, len - done, MSG_NOSIGNAL);
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* RFC 1035 4.2.2: each message behind its two-octet length. */
static int tcp_send(void *arg, const uint8_t *msg, size_t len)
{
	int fd = *(int *)arg;
	uint8_t head[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	int ret = write_all(fd, head, 2);
	return ret != 0 ? ret : write_all(fd, msg, len);
}

struct conn {
	serve_t *sv;
	int fd;
	enum serve_conn kind;
	struct sockaddr_storage from;
};

static void *tcp_conn(void *arg)
{
	struct conn *c = arg;
	uint8_t *buf = malloc(65535);
	/* Several queries may come on one connection (RFC 7766 6.2.1); each waits for the last answer. */
	for (int q = 0; buf != NULL && q < 100 && !atomic_load(&c->sv->stopping); q++) {
		uint8_t head[2];
		if (read_all(c->fd, head, 2) != 0)
			break;
		size_t len = (size_t)head[0] << 8 | head[1];
		if (len == 0 || read_all(c->fd, buf, len) != 0)
			break;
		if (rs_xfr_answer(c->sv->xfr, (struct sockaddr *)&c->from, true, buf, len, tcp_send, &c->fd) != RS_EOK)
			break;
	}
	free(buf);
	close(c->fd);
	atomic_fetch_sub(&c->sv->transfers, 1);
	free(c);
	return NULL;
}

/* Run fn(arg) in a detached thread; false if none could start (the caller closes and frees). */
static bool spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int ret = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return ret == 0;
}


/* ---- control and metrics ---- */

/* Send head and body (cleared), close, and free the connection. */
static void conn_end(struct conn *c, const char *head, rs_buf_t *body)
{
	write_all(c->fd, (const uint8_t *)head, strlen(head));
	if (body->len > 0)
		write_all(c->fd, body->data, body->len);
	rs_buf_clear(body);
	close(c->fd);
	atomic_fetch_sub(&c->sv->transfers, 1);
	free(c);
}

static void *ctl_conn(void *arg)
{
	struct conn *c = arg;
	char line[1024];
	size_t got = 0;
	while (got < sizeof(line) - 1 && wait_fd(c->fd, POLLIN)) {
		ssize_t n = read(c->fd, line + got, sizeof(line) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(line, '\n', got) != NULL)
			break;
	}
	line[got] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	rs_buf_t reply;
	rs_buf_init(&reply, 1 << 22);
	char who[64];
	serve_ctl_peer(c->fd, who, sizeof(who));
	int ret = serve_ctl_answer(c->sv, line, who, &reply);
	/* The first line says how it went; the rest is the answer. */
	char head[32];
	snprintf(head, sizeof(head), "%s\n", ret == RS_EOK ? "ok" : "error");
	conn_end(c, head, &reply);
	return NULL;
}


static void *http_conn(void *arg)
{
	struct conn *c = arg;
	char req[2048];
	size_t got = 0;
	while (got < sizeof(req) - 1 && wait_fd(c->fd, POLLIN)) {
		ssize_t n = read(c->fd, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL || strstr(req, "\n\n") != NULL)
			break;
	}
	req[got] = '\0';
	/* "METHOD PATH ...": the path without its query. */
	char method[8] = "", path[256] = "";
	sscanf(req, "%7s %255s", method, path);
	path[strcspn(path, "?")] = '\0';
	bool head_only = strcmp(method, "HEAD") == 0;
	rs_buf_t body;
	rs_buf_init(&body, 1 << 26);
	const char *status = "200 OK", *type = "text/plain; version=0.0.4", *extra = "";
	if (strcmp(method, "GET") != 0 && !head_only) {
		status = "405 Method Not Allowed";
		extra = "Allow: GET, HEAD\r\n";
	} else if (c->kind == SERVE_HTTP && strcmp(path, "/metrics") == 0) {
		serve_metrics(c->sv, &body);
	} else if ((c->kind == SERVE_STATUS || c->sv->o.conf.status[0] == '\0') &&
		   (strcmp(path, "/") == 0 || strcmp(path, "/status") == 0)) {
		/* Read only, and nothing the page could load or run: it is all inline. */
		if (serve_status_page(c->sv, &body) != RS_EOK)
			status = "500 Internal Server Error";
		else
			type = "text/html; charset=utf-8";
		extra = "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:\r\n"
			"X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n";
	} else {
		status = "404 Not Found";
	}
	char head[512];
	snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
		 "Connection: close\r\n\r\n", status, type, body.len, extra);
	if (head_only)
		rs_buf_clear(&body);
	conn_end(c, head, &body);
	return NULL;
}

/* Past the bound a DNS connection is closed at once: the secondaries retry, memory stays bounded. */
void serve_accept(serve_t *sv, int fd, enum serve_conn kind)
{
	static void *(*const run[])(void *) = { [SERVE_DNS] = tcp_conn, [SERVE_CTL] = ctl_conn, [SERVE_HTTP] = http_conn,
						[SERVE_STATUS] = http_conn };
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	socklen_t flen = sizeof(c->from);
	c->sv = sv;
	c->kind = kind;
	c->fd = accept4(fd, (struct sockaddr *)&c->from, &flen, SOCK_CLOEXEC);
	if (c->fd < 0) {
		free(c);
		return;
	}
	unsigned open = atomic_fetch_add(&sv->transfers, 1);
	if ((kind == SERVE_DNS && open >= sv->o.conf.max_transfers) || !spawn(run[kind], c)) {
		atomic_fetch_sub(&sv->transfers, 1);
		close(c->fd);
		free(c);
	}
}
