/*
 * regsign epp: the EPP server over TLS (RFC 5734). Each connection gets a
 * thread with its own database handle and EPP session; SQLite's write lock
 * serialises their changes. Frames are 32-bit big-endian lengths (header
 * included) followed by the XML; the session code in the library answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>

#include "managed.h"
#include "registry.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign epp --listen ADDR@PORT --cert SERVER.pem --key SERVER.key --ca CLIENT-CA.pem\n"
		"                   [--zone ZONE] [--server-id ID] [--max-clients N] [--idle-timeout SECONDS]\n"
		"                   [--handshake-timeout SECONDS] [--max-half-open N] [--max-half-open-per-address N]\n"
		"                   [--max-sessions-per-registrar N] [--hash-slots N] [--login-lockout N]\n"
		"                   [--login-delay-max SECONDS]\n"
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
		"Limits: --max-clients (64) sessions that finished TLS with a registrar's\n"
		"certificate, at most --max-sessions-per-registrar (8) per certificate and per\n"
		"registrar; a TLS handshake must finish within --handshake-timeout (10 s); at most\n"
		"--max-half-open (256) connections without a finished handshake (past it the\n"
		"oldest is cut), --max-half-open-per-address (8) from one address (IPv6: one\n"
		"/64); --idle-timeout (600 s) between frames. Logins: at most --hash-slots (2)\n"
		"password checks at once (64 MiB each); failed logins are counted per registrar\n"
		"and address across sessions and restarts, each answer held 1, 2, 4 ... s up to\n"
		"--login-delay-max (30 s); --login-lockout (10) failures lock the registrar until\n"
		"'regsign registrar unlock ID'.\n"
		"\n"
		"example:\n"
		"  regsign epp --listen 192.0.2.1@700 --cert epp.pem --key epp.key --ca registrars-ca.pem --zone cloud.\n");
}

/* How many connections or sessions one key (a source address, a certificate, a registrar) holds. */
typedef struct {
	char key[80];
	unsigned count;
} tally_t;

typedef struct conn conn_t;

typedef struct {
	SSL_CTX *tls;
	rs_epp_t *epp;
	const char *zone;
	unsigned idle_timeout, handshake_timeout;
	unsigned max_clients;		/* sessions of known certificates, after TLS */
	unsigned max_half_open, max_half_open_per_addr, max_per_registrar;
	pthread_mutex_t lock;		/* everything below */
	unsigned threads;		/* connection threads alive */
	unsigned sessions;		/* counted against max_clients */
	unsigned half_open;		/* accepted, TLS not yet done */
	conn_t *oldest, *newest;	/* the half-open, by age */
	tally_t *addrs;			/* half-open per source address: 2 * max_half_open slots */
	tally_t *owners;		/* sessions per certificate ("c:") and registrar ("r:"): 2 * max_clients */
	rs_log_t log;
} server_t;

struct conn {
	server_t *srv;
	int fd;
	char peer[80];			/* ADDR@PORT, for the log */
	char addr[64];			/* the key of its source: IPv4 address, IPv6 /64 */
	conn_t *older, *newer;		/* in the half-open list while half_open */
	bool half_open, evicted;
	char cert_key[80], clid_key[80]; /* tallies this session holds ("" none) */
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* The library's messages (details of 2400 answers) go to the operator's log, stderr. */
static void log_line(void *arg, int level, const char *zone, const char *msg)
{
	(void)arg;
	(void)level;
	(void)zone;
	fprintf(stderr, "epp: %s\n", msg);
}

/* The slot of key in tab (n slots); a free one if add and it has none; NULL if full. Caller holds the lock. */
static tally_t *tally(tally_t *tab, size_t n, const char *key, bool add)
{
	tally_t *free_slot = NULL;
	for (size_t i = 0; i < n; i++) {
		if (tab[i].count > 0 && strcmp(tab[i].key, key) == 0)
			return &tab[i];
		if (tab[i].count == 0 && free_slot == NULL)
			free_slot = &tab[i];
	}
	if (!add || free_slot == NULL)
		return NULL;
	snprintf(free_slot->key, sizeof(free_slot->key), "%s", key);
	return free_slot;
}

static void tally_drop(tally_t *tab, size_t n, const char *key)
{
	tally_t *t = key[0] ? tally(tab, n, key, false) : NULL;
	if (t != NULL)
		t->count--;
}

/* Take one of key's at most max sessions; false past it. Caller holds the lock. */
static bool owner_take(server_t *srv, const char *key, unsigned max)
{
	tally_t *t = tally(srv->owners, 2 * (size_t)srv->max_clients, key, true);
	if (t == NULL || t->count >= max)
		return false;
	t->count++;
	return true;
}

/* Leave the half-open list (TLS done, failed or cut). Caller holds the lock. */
static void half_open_end(conn_t *c)
{
	server_t *srv = c->srv;
	if (!c->half_open)
		return;
	c->half_open = false;
	srv->half_open--;
	tally_drop(srv->addrs, 2 * (size_t)srv->max_half_open, c->addr);
	if (c->older != NULL)
		c->older->newer = c->newer;
	else
		srv->oldest = c->newer;
	if (c->newer != NULL)
		c->newer->older = c->older;
	else
		srv->newest = c->older;
	c->older = c->newer = NULL;
}

/* The session's registrar at login: at most --max-sessions-per-registrar of them. */
static bool admit(void *arg, const char *clid)
{
	conn_t *c = arg;
	char key[80];
	snprintf(key, sizeof(key), "r:%s", clid);
	pthread_mutex_lock(&c->srv->lock);
	bool ok = owner_take(c->srv, key, c->srv->max_per_registrar);
	pthread_mutex_unlock(&c->srv->lock);
	if (ok)
		snprintf(c->clid_key, sizeof(c->clid_key), "%s", key);
	else
		fprintf(stderr, "epp: %s: login as %s refused: %u sessions already\n", c->peer, clid,
			c->srv->max_per_registrar);
	return ok;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The TLS handshake, non-blocking against a deadline: a client that stalls, or sends a byte a minute, is cut. */
static bool handshake(conn_t *c, SSL *ssl)
{
	int flags = fcntl(c->fd, F_GETFL);
	fcntl(c->fd, F_SETFL, flags | O_NONBLOCK);
	int64_t deadline = now_ms() + (int64_t)c->srv->handshake_timeout * 1000;
	bool ok = false;
	for (;;) {
		int r = SSL_accept(ssl);
		if (r == 1) {
			ok = true;
			break;
		}
		int err = SSL_get_error(ssl, r);
		int64_t left = deadline - now_ms();
		if ((err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) || left <= 0 || stopping) {
			unsigned long e = ERR_get_error();
			fprintf(stderr, "epp: %s: TLS handshake failed: %s\n", c->peer,
				left <= 0 ? "no handshake before the deadline (--handshake-timeout)"
				: e != 0 ? ERR_reason_error_string(e) : "connection closed");
			break;
		}
		struct pollfd p = { .fd = c->fd, .events = err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT };
		poll(&p, 1, (int)(left < 500 ? left : 500));
	}
	ERR_clear_error();
	fcntl(c->fd, F_SETFL, flags);
	return ok;
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

/* Hold an answer (a failed login's) for seconds, but not past a stop. */
static void hold(unsigned seconds)
{
	for (unsigned i = 0; i < seconds * 10 && !stopping; i++)
		usleep(100000);
}

static int known_cert(void *arg, const rs_registrar_rec_t *r)
{
	return r->cert[0] == '\0' || strcmp(r->cert, arg) == 0 ? RS_EINVAL : RS_EOK; /* stop at the first */
}

/* Admission after TLS: a known certificate, a free session, and one of its certificate's. Answers if not. */
static bool admitted(conn_t *c, rs_store_t *store, const char *cert, rs_buf_t *out, SSL *ssl)
{
	server_t *srv = c->srv;
	/* A certificate no registrar has takes no session: the CA may sign more than registrars. */
	if (store != NULL && rs_store_registrar_each(store, known_cert, (void *)cert) == RS_EOK) {
		fprintf(stderr, "epp: %s: certificate %s is no registrar's: closed\n", c->peer, cert);
		if (rs_epp_error(2501, "the client certificate is not a registrar's", out) == RS_EOK)
			send_frame(ssl, out);
		return false;
	}
	char key[80];
	snprintf(key, sizeof(key), "c:%s", cert);
	pthread_mutex_lock(&srv->lock);
	bool full = srv->sessions >= srv->max_clients;
	bool mine = !full && owner_take(srv, key, srv->max_per_registrar);
	if (mine)
		srv->sessions++;
	pthread_mutex_unlock(&srv->lock);
	if (mine) {
		snprintf(c->cert_key, sizeof(c->cert_key), "%s", key);
		return true;
	}
	fprintf(stderr, "epp: %s: %s: closed\n", c->peer, full ? "--max-clients sessions open"
			: "--max-sessions-per-registrar sessions open with this certificate");
	if (rs_epp_error(2502, full ? "too many sessions" : "too many sessions with this certificate", out) == RS_EOK)
		send_frame(ssl, out);
	return false;
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
	bool ok = handshake(c, ssl);
	pthread_mutex_lock(&srv->lock);
	half_open_end(c);
	pthread_mutex_unlock(&srv->lock);
	if (!ok)
		goto out;
	struct timeval tv = { .tv_sec = srv->idle_timeout };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	X509 *peer = SSL_get1_peer_certificate(ssl);
	cli_x509_fingerprint(peer, cert);
	X509_free(peer);
	/* A state that cannot be opened (a full disk, a read-only file) still gets a greeting and 2400 answers. */
	if (rs_store_open(cli_state_dir(), 0, &store, &diag) != RS_EOK) {
		fprintf(stderr, "epp: %s: %s\n", c->peer, diag.text);
		store = NULL;
	}
	if (!admitted(c, store, cert, &out, ssl))
		goto out;
	if (store != NULL)
		cli_registry(store, srv->zone, &reg);
	if (rs_epp_session_new(srv->epp, store != NULL ? &reg : NULL, cert, &s) != RS_EOK)
		goto out;
	rs_epp_session_set_peer(s, &(rs_epp_peer_t){ .addr = c->addr, .admit = admit, .arg = c, .log = &srv->log });
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
		if (rs_epp_handle(s, frame.data, frame.len, cli_now(), &out, &close) != RS_EOK)
			break;
		hold(rs_epp_answer_delay(s));
		if (!send_frame(ssl, &out))
			break;
	}
	fprintf(stderr, "epp: %s: session closed%s%s\n", c->peer, rs_epp_client(s) ? " for " : "",
		rs_epp_client(s) ? rs_epp_client(s) : "");
	SSL_shutdown(ssl);
out:
	pthread_mutex_lock(&srv->lock);
	if (c->cert_key[0] != '\0')
		srv->sessions--;
	tally_drop(srv->owners, 2 * (size_t)srv->max_clients, c->cert_key);
	tally_drop(srv->owners, 2 * (size_t)srv->max_clients, c->clid_key);
	pthread_mutex_unlock(&srv->lock);
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
	pthread_mutex_lock(&c->srv->lock);
	half_open_end(c); /* if SSL_new failed */
	close(c->fd);
	c->srv->threads--;
	pthread_mutex_unlock(&c->srv->lock);
	free(c);
	return NULL;
}

/* The key a source address's half-open connections are counted under: IPv4 address, IPv6 /64. */
static void source_key(const struct sockaddr_storage *ss, char *out, size_t max, char *peer, size_t pmax)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
		snprintf(out, max, "%s", addr);
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		struct in6_addr net = in6->sin6_addr;
		inet_ntop(AF_INET6, &net, addr, sizeof(addr));
		/* One host may hold a whole /64: its addresses count as one source. */
		memset(net.s6_addr + 8, 0, 8);
		char prefix[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &net, prefix, sizeof(prefix));
		snprintf(out, max, "%s/64", prefix);
		port = ntohs(in6->sin6_port);
	} else {
		snprintf(out, max, "?");
	}
	snprintf(peer, pmax, "%s@%u", addr, port);
}

/*
 * Admit a new connection to the half-open set: at most max_half_open_per_addr
 * from its source; when the whole set is full, the oldest handshake is cut
 * (a real client finishes in milliseconds, a staller is what is oldest).
 */
static bool half_open_begin(server_t *srv, conn_t *c)
{
	/* Cut ones stay counted until their threads end: the table has room for twice the limit. */
	tally_t *t = tally(srv->addrs, 2 * (size_t)srv->max_half_open, c->addr, true);
	if (t == NULL || t->count >= srv->max_half_open_per_addr)
		return false;
	if (srv->half_open >= srv->max_half_open) {
		conn_t *victim = srv->oldest;
		while (victim != NULL && victim->evicted)
			victim = victim->newer;
		if (victim == NULL)
			return false;
		victim->evicted = true;
		shutdown(victim->fd, SHUT_RDWR); /* its poll wakes; its thread ends the connection */
	}
	t->count++;
	srv->half_open++;
	srv->threads++;
	c->half_open = true;
	c->older = srv->newest;
	if (srv->newest != NULL)
		srv->newest->newer = c;
	else
		srv->oldest = c;
	srv->newest = c;
	return true;
}

/* Refusals are counted and logged at most once a second: an attacker must not fill the log. */
static void refused(const char *peer, const char *why)
{
	static int64_t last;
	static unsigned count;
	count++;
	int64_t now = now_ms();
	if (now - last < 1000)
		return;
	fprintf(stderr, "epp: %s: connection refused: %s (%u refused since the last such line)\n", peer, why, count);
	last = now;
	count = 0;
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

/* A count option: a whole number from 1 to max. */
static bool count_arg(const char *name, const char *text, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(text, &end, 10);
	if (*text == '\0' || *end != '\0' || v == 0 || v > max) {
		cli_error("--%s takes a whole number from 1 to %lu, not '%s'", name, max, text);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

int cmd_epp(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'a' },
		{ "zone", required_argument, NULL, 'z' },
		{ "server-id", required_argument, NULL, 'i' },
		{ "max-clients", required_argument, NULL, 'm' },
		{ "idle-timeout", required_argument, NULL, 't' },
		{ "handshake-timeout", required_argument, NULL, 'H' },
		{ "max-half-open", required_argument, NULL, 'O' },
		{ "max-half-open-per-address", required_argument, NULL, 'A' },
		{ "max-sessions-per-registrar", required_argument, NULL, 'R' },
		{ "hash-slots", required_argument, NULL, 'S' },
		{ "login-lockout", required_argument, NULL, 'L' },
		{ "login-delay-max", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_spec = NULL, *cert = NULL, *key = NULL, *ca = NULL, *zone = NULL, *id = "regsign EPP";
	server_t srv = { .max_clients = 64, .idle_timeout = 600, .handshake_timeout = 10, .max_half_open = 256,
			 .max_half_open_per_addr = 8, .max_per_registrar = 8, .lock = PTHREAD_MUTEX_INITIALIZER,
			 .log = { log_line, NULL } };
	rs_epp_limits_t limits = { RS_EPP_HASH_SLOTS, RS_EPP_LOCKOUT, RS_EPP_DELAY_MAX };
	int c;
	bool ok = true;
	optind = 1;
	while (ok && (c = getopt_long(argc, argv, "l:c:k:a:z:i:m:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_spec = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'a': ca = optarg; break;
		case 'z': zone = optarg; break;
		case 'i': id = optarg; break;
		case 'm': ok = count_arg("max-clients", optarg, 4096, &srv.max_clients); break;
		case 't': ok = count_arg("idle-timeout", optarg, 86400, &srv.idle_timeout); break;
		case 'H': ok = count_arg("handshake-timeout", optarg, 600, &srv.handshake_timeout); break;
		case 'O': ok = count_arg("max-half-open", optarg, 4096, &srv.max_half_open); break;
		case 'A': ok = count_arg("max-half-open-per-address", optarg, 4096, &srv.max_half_open_per_addr); break;
		case 'R': ok = count_arg("max-sessions-per-registrar", optarg, 4096, &srv.max_per_registrar); break;
		case 'S': ok = count_arg("hash-slots", optarg, 64, &limits.hash_slots); break;
		case 'L': ok = count_arg("login-lockout", optarg, 1000, &limits.lockout); break;
		case 'D': ok = count_arg("login-delay-max", optarg, 3600, &limits.delay_max); break;
		case 'h': help(stdout); return RS_EOK;
		default: help(stderr); return RS_EINVAL;
		}
	}
	if (!ok)
		return RS_EINVAL;
	if (optind != argc || listen_spec == NULL || cert == NULL || key == NULL || ca == NULL) {
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
	srv.addrs = calloc(2 * (size_t)srv.max_half_open, sizeof(*srv.addrs));
	srv.owners = calloc(2 * (size_t)srv.max_clients, sizeof(*srv.owners));
	if (srv.addrs == NULL || srv.owners == NULL || rs_epp_set_limits(srv.epp, &limits) != RS_EOK) {
		cli_error("out of memory");
		free(srv.addrs);
		free(srv.owners);
		rs_epp_free(srv.epp);
		return CLI_EINTERNAL;
	}
	srv.tls = tls_context(cert, key, ca);
	int lfd = srv.tls != NULL ? listen_on(listen_spec) : -1;
	if (lfd < 0) {
		SSL_CTX_free(srv.tls);
		rs_epp_free(srv.epp);
		free(srv.addrs);
		free(srv.owners);
		return RS_EINVAL;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("epp: listening on %s\n", listen_spec);
	fflush(stdout);
	/* Threads of half-open connections wait in poll: a smaller stack, and at most 2 * max_half_open of them. */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 2 << 20);
	/* The loop only accepts and counts: nothing a client sends or withholds can make it wait. */
	while (!stopping) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		if (poll(&pfd, 1, 500) <= 0)
			continue;
		struct sockaddr_storage ss;
		socklen_t slen = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &slen, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conn_t *conn = calloc(1, sizeof(*conn));
		if (conn == NULL) {
			close(fd);
			continue;
		}
		conn->srv = &srv;
		conn->fd = fd;
		source_key(&ss, conn->addr, sizeof(conn->addr), conn->peer, sizeof(conn->peer));
		pthread_mutex_lock(&srv.lock);
		bool taken = half_open_begin(&srv, conn);
		pthread_mutex_unlock(&srv.lock);
		if (!taken) {
			refused(conn->peer, "too many connections without a finished TLS handshake from its address");
			close(fd);
			free(conn);
			continue;
		}
		pthread_t t;
		if (pthread_create(&t, &attr, connection, conn) != 0) {
			pthread_mutex_lock(&srv.lock);
			half_open_end(conn);
			srv.threads--;
			pthread_mutex_unlock(&srv.lock);
			close(fd);
			free(conn);
		}
	}
	pthread_attr_destroy(&attr);
	close(lfd);
	/* Sessions end at their next frame; a change in flight is one transaction either way. */
	for (int i = 0; i < 50; i++) {
		pthread_mutex_lock(&srv.lock);
		unsigned active = srv.threads;
		pthread_mutex_unlock(&srv.lock);
		if (active == 0) {
			free(srv.addrs);
			free(srv.owners);
			break;
		}
		usleep(100000);
	}
	fprintf(stderr, "epp: stopped\n");
	SSL_CTX_free(srv.tls);
	rs_epp_free(srv.epp);
	xmlCleanupParser();
	return RS_EOK;
}
