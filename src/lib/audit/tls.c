/* The audit log's copy to a syslog collector over TLS (RFC 5425), with OpenSSL. */
#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "regsign/audit.h"

/*
 * RFC 5425: syslog over TLS to "tls:HOST:PORT", each message framed as
 * "LEN SP MSG" (octet counting, 4.3), the collector's certificate verified
 * against the CA file ca and its name (or address) checked against HOST
 * (5.2). Without the CA there is nothing to trust: refused.
 */
int audit_tls_send(const char *target, const char *ca, const rs_buf_t *text, rs_diag_t *diag)
{
	char host[256];
	const char *colon = strrchr(target, ':');
	if (colon == NULL || colon <= target + 4 || (size_t)(colon - target - 4) >= sizeof(host))
		return rs_diag(diag, RS_EINVAL, "syslog: '%s' is not tls:HOST:PORT", target);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - target - 4), target + 4);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if (ca == NULL || ca[0] == '\0')
		return rs_diag(diag, RS_EINVAL, "syslog: '%s' needs a CA file to verify the collector (audit syslog-ca FILE)",
			       target);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return rs_diag(diag, RS_EINVAL, "syslog: cannot resolve '%s'", target);
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 10, 0 };
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return rs_diag(diag, RS_EIO, "syslog: cannot reach '%s'", target);
	int ret = RS_EOK;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		ret = rs_diag(diag, RS_ECRYPTO, "syslog: TLS setup failed");
		goto out;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		ret = rs_diag(diag, RS_EINVAL, "syslog: cannot read CA file '%s'", ca);
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	unsigned char ip[16];
	bool numeric = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    (numeric ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
		     : SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1)) {
		ret = rs_diag(diag, RS_ECRYPTO, "syslog: TLS setup failed");
		goto out;
	}
	if (SSL_connect(ssl) != 1) {
		long v = SSL_get_verify_result(ssl);
		unsigned long e = ERR_peek_last_error();
		ret = rs_diag(diag, RS_EIO, "syslog: %s refused: %s", target,
			      v != X509_V_OK ? X509_verify_cert_error_string(v)
			      : e != 0	      ? ERR_reason_error_string(e)
					      : "the TLS handshake failed");
		goto out;
	}
	char name[256] = "-";
	gethostname(name, sizeof(name) - 1);
	for (size_t at = 0; at < text->len && ret == RS_EOK;) {
		const char *line = (const char *)text->data + at;
		size_t n = (size_t)((const char *)memchr(line, '\n', text->len - at) - line);
		rs_buf_t msg;
		rs_buf_init(&msg, 16384);
		char len[24];
		if (rs_audit_syslog(line, n, name, (int)getpid(), &msg) == RS_EOK) {
			int l = snprintf(len, sizeof(len), "%zu ", msg.len);
			if (SSL_write(ssl, len, l) != l || SSL_write(ssl, msg.data, (int)msg.len) != (int)msg.len)
				ret = rs_diag(diag, RS_EIO, "syslog: cannot send to '%s'", target);
		}
		rs_buf_clear(&msg);
		at += n + 1;
	}
	if (ret == RS_EOK)
		SSL_shutdown(ssl);
out:
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return ret;
}

