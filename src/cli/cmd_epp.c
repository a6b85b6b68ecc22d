/*
 * regsign epp: the EPP server over TLS (RFC 5734). Each connection gets a
 * thread with its own database handle and EPP session; SQLite's write lock
 * serialises their changes. Frames are 32-bit big-endian lengths (header
 * included) followed by the XML; the session code in the library answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <libxml/parser.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "managed.h"
#include "registry.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign epp --listen ADDR@PORT --cert SERVER.pem --key SERVER.key --ca CLIENT-CA.pem\n"
		"                   [--zone ZONE] [--server-id ID] [--max-clients N] [--idle-timeout SECONDS]\n"
		"\n"
		"Serves registrars over EPP (RFC 5730) on TLS 1.2 or later (RFC 5734): login,\n"
		"logout, hello, and domain:info and domain:update with the secDNS-1.1 extension\n"
		"(RFC 5910), dsData and keyData interfaces, rem all, chg maxSigLife. A client must\n"
		"present a certificate signed by the CA in --ca, and log in as a registrar\n"
		"(regsign registrar add) whose certificate it is; it changes only the domains it\n"
		"sponsors. Every frame is validated against the EPP and secDNS schemas; frames\n"
		"over 64 KiB end the session. Added DS records pass the pre-delegation check\n"
		"(regsign registry). Runs until SIGTERM or SIGINT.\n"
		"\n"
		"example:\n"
		"  regsign epp --listen 192.0.2.1@700 --cert epp.pem --key epp.key --ca registrars-ca.pem --zone cloud.\n");
}

typedef struct {
	SSL_CTX *tls;
	rs_epp_t *epp;
	const char *zone;
	unsigned idle_timeout;
	unsigned max_clients;
	unsigned active;
	pthread_mutex_t lock;
} server_t;

typedef struct {
	server_t *srv;
	int fd;
	char peer[80];
} conn_t;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static bool read_all(SSL *ssl, uint8_t *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		int n = SSL_read(ssl, buf + done, (int)(len - done));
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

/* One write for header and body: two small TLS records would meet Nagle and the peer's delayed ACK (40 ms). */
static bool send_frame(SSL *ssl, const rs_buf_t *msg)
{
	uint8_t *frame = malloc(msg->len + 4);
	if (frame == NULL)
		return false;
	rs_put32(frame, (uint32_t)(msg->len + 4));
	memcpy(frame + 4, msg->data, msg->len);
	bool ok = SSL_write(ssl, frame, (int)(msg->len + 4)) == (int)(msg->len + 4);
	free(frame);
	return ok;
}

/* One client from greeting to close. */
static void session(conn_t *c, SSL *ssl)
{
	server_t *srv = c->srv;
	rs_store_t *store = NULL;
	rs_epp_session_t *s = NULL;
	rs_registry_t reg;
	rs_buf_t out, frame;
	rs_buf_init(&out, 1 << 20);
	rs_buf_init(&frame, RS_EPP_FRAME_MAX);
	rs_diag_t diag;
	char cert[65];
	if (SSL_accept(ssl) != 1) {
		fprintf(stderr, "epp: %s: TLS handshake failed: %s\n", c->peer, ERR_reason_error_string(ERR_get_error()));
		goto out;
	}
	X509 *peer = SSL_get1_peer_certificate(ssl);
	cli_x509_fingerprint(peer, cert);
	X509_free(peer);
	/* A session over the limit is told so before it costs a database connection. */
	pthread_mutex_lock(&srv->lock);
	bool full = srv->active > srv->max_clients;
	pthread_mutex_unlock(&srv->lock);
	if (full) {
		if (rs_epp_error(2502, "too many sessions", &out) == RS_EOK)
			send_frame(ssl, &out);
		goto out;
	}
	if (rs_store_open(cli_state_dir(), 0, &store, &diag) != RS_EOK) {
		fprintf(stderr, "epp: %s: %s\n", c->peer, diag.text);
		goto out;
	}
	cli_registry(store, srv->zone, &reg);
	if (rs_epp_session_new(srv->epp, &reg, cert, &s) != RS_EOK)
		goto out;
	if (rs_epp_greeting(s, cli_now(), &out) != RS_EOK || !send_frame(ssl, &out))
		goto out;
	fprintf(stderr, "epp: %s: session open\n", c->peer);
	for (bool close = false; !close && !stopping;) {
		uint8_t head[4];
		if (!read_all(ssl, head, 4))
			break;
		uint32_t total = rs_get32(head);
		if (total <= 4 || total - 4 > RS_EPP_FRAME_MAX) {
			char why[100];
			snprintf(why, sizeof(why), "a frame of %u octets; the limit is %d", total, RS_EPP_FRAME_MAX + 4);
			if (rs_epp_error(2500, why, &out) == RS_EOK)
				send_frame(ssl, &out);
			fprintf(stderr, "epp: %s: %s: closed\n", c->peer, why);
			break;
		}
		frame.len = 0;
		if (rs_buf_reserve(&frame, total - 4) != RS_EOK || !read_all(ssl, frame.data, total - 4))
			break;
		frame.len = total - 4;
		if (rs_epp_handle(s, frame.data, frame.len, cli_now(), &out, &close) != RS_EOK || !send_frame(ssl, &out))
			break;
	}
	fprintf(stderr, "epp: %s: session closed%s%s\n", c->peer, rs_epp_client(s) ? " for " : "",
		rs_epp_client(s) ? rs_epp_client(s) : "");
	SSL_shutdown(ssl);
out:
	rs_epp_session_free(s);
	rs_store_close(store);
	rs_buf_clear(&out);
	rs_buf_clear(&frame);
}

static void *connection(void *arg)
{
	conn_t *c = arg;
	SSL *ssl = SSL_new(c->srv->tls);
	if (ssl != NULL && SSL_set_fd(ssl, c->fd) == 1)
		session(c, ssl);
	SSL_free(ssl);
	close(c->fd);
	pthread_mutex_lock(&c->srv->lock);
	c->srv->active--;
	pthread_mutex_unlock(&c->srv->lock);
	free(c);
	return NULL;
}

/* "ADDR@PORT" (IPv4 or IPv6) into a bound, listening socket. */
static int listen_on(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	rs_diag_t why;
	if (rs_addr_parse(spec, 0, &ss, &len, &why) != RS_EOK) {
		cli_error("--listen %s", why.text);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 64) != 0) {
		cli_error("cannot listen on %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static SSL_CTX *tls_context(const char *cert, const char *key, const char *ca)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* RFC 5734 9: both sides authenticate; a registrar without a certificate is not heard. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	const char *what = NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		what = cert;
	else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)
		what = key;
	else if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		what = ca;
	if (what != NULL) {
		cli_error("%s: %s", what, ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int cmd_epp(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },	  { "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },	  { "ca", required_argument, NULL, 'a' },
		{ "zone", required_argument, NULL, 'z' },	  { "server-id", required_argument, NULL, 'i' },
		{ "max-clients", required_argument, NULL, 'm' }, { "idle-timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },		  { NULL, 0, NULL, 0 },
	};
	const char *listen_spec = NULL, *cert = NULL, *key = NULL, *ca = NULL, *zone = NULL, *id = "regsign EPP";
	server_t srv = { .max_clients = 64, .idle_timeout = 600, .lock = PTHREAD_MUTEX_INITIALIZER };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "l:c:k:a:z:i:m:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_spec = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'a': ca = optarg; break;
		case 'z': zone = optarg; break;
		case 'i': id = optarg; break;
		case 'm': srv.max_clients = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': srv.idle_timeout = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'h': help(stdout); return RS_EOK;
		default: help(stderr); return RS_EINVAL;
		}
	}
	if (optind != argc || listen_spec == NULL || cert == NULL || key == NULL || ca == NULL ||
	    srv.max_clients == 0 || srv.idle_timeout == 0) {
		help(stderr);
		return RS_EINVAL;
	}
	char zname[256];
	uint8_t zwire[255];
	if (zone != NULL && !cli_zone_name(zone, zname, zwire))
		return RS_EINVAL;
	srv.zone = zone != NULL ? zname : NULL;
	rs_store_t *store;
	int code = cli_store(&store); /* creates and migrates the state before any session opens it */
	if (code != RS_EOK)
		return code;
	rs_store_close(store);
	rs_diag_t diag;
	if (rs_epp_new(id, &srv.epp, &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		return CLI_EINTERNAL;
	}
	srv.tls = tls_context(cert, key, ca);
	int lfd = srv.tls != NULL ? listen_on(listen_spec) : -1;
	if (lfd < 0) {
		SSL_CTX_free(srv.tls);
		rs_epp_free(srv.epp);
		return RS_EINVAL;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("epp: listening on %s\n", listen_spec);
	fflush(stdout);
	while (!stopping) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		if (poll(&pfd, 1, 500) <= 0)
			continue;
		struct sockaddr_storage ss;
		socklen_t slen = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &slen, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct timeval tv = { .tv_sec = srv.idle_timeout };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conn_t *conn = calloc(1, sizeof(*conn));
		pthread_t t;
		pthread_attr_t attr;
		if (conn == NULL) {
			close(fd);
			continue;
		}
		*conn = (conn_t){ .srv = &srv, .fd = fd };
		char addr[64] = "?";
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof(addr));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof(addr));
		snprintf(conn->peer, sizeof(conn->peer), "%s@%u", addr,
			 ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						       : ((struct sockaddr_in6 *)&ss)->sin6_port));
		pthread_mutex_lock(&srv.lock);
		srv.active++;
		pthread_mutex_unlock(&srv.lock);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, connection, conn) != 0) {
			pthread_mutex_lock(&srv.lock);
			srv.active--;
			pthread_mutex_unlock(&srv.lock);
			close(fd);
			free(conn);
		}
		pthread_attr_destroy(&attr);
	}
	close(lfd);
	/* Sessions end at their next frame; a change in flight is one transaction either way. */
	for (int i = 0; i < 50; i++) {
		pthread_mutex_lock(&srv.lock);
		unsigned active = srv.active;
		pthread_mutex_unlock(&srv.lock);
		if (active == 0)
			break;
		usleep(100000);
	}
	fprintf(stderr, "epp: stopped\n");
	SSL_CTX_free(srv.tls);
	rs_epp_free(srv.epp);
	xmlCleanupParser();
	return RS_EOK;
}
