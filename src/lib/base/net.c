/*
 * Socket addresses from text: "ADDR@PORT" as the configuration, the command
 * line and the store spell them; a UNIX socket's path.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "regsign/base.h"

/* "5353": 1 to 65535, digits only. */
static bool port_parse(const char *text, uint16_t *port)
{
	if (*text < '0' || *text > '9' || strlen(text) > 5)
		return false;
	char *end;
	unsigned long n = strtoul(text, &end, 10);
	if (*end != '\0' || n == 0 || n > 65535)
		return false;
	*port = (uint16_t)n;
	return true;
}

int rs_addr_parse(const char *spec, uint16_t default_port, struct sockaddr_storage *out, socklen_t *len,
		  rs_diag_t *diag)
{
	if (spec == NULL || *spec == '\0')
		return rs_diag(diag, RS_ESYNTAX, "empty address: use ADDR@PORT");
	const char *at = strrchr(spec, '@');
	size_t hlen = at != NULL ? (size_t)(at - spec) : strlen(spec);
	char host[INET6_ADDRSTRLEN + 2];
	if (hlen == 0 || hlen >= sizeof(host))
		return rs_diag(diag, RS_ESYNTAX, "'%.80s' is not ADDR@PORT: no IPv4 or IPv6 address", spec);
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	/* [::1]@53 is a common spelling too (IPv6 only). */
	char *h = host;
	bool bracketed = hlen > 2 && host[0] == '[' && host[hlen - 1] == ']';
	if (bracketed) {
		host[hlen - 1] = '\0';
		h = host + 1;
	}
	uint16_t port = default_port;
	if (at == NULL && default_port == 0)
		return rs_diag(diag, RS_ESYNTAX, "'%.80s' is not ADDR@PORT: no port", spec);
	if (at != NULL && !port_parse(at + 1, &port))
		return rs_diag(diag, RS_ESYNTAX, "'%.80s': bad port '%.16s' (1 to 65535)", spec, at + 1);

	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (!bracketed && inet_pton(AF_INET, h, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
	} else {
		return rs_diag(diag, RS_ESYNTAX, "'%.80s': '%.*s' is not an IPv4 or IPv6 address", spec, (int)hlen, spec);
	}
	*out = ss;
	return RS_EOK;
}

int rs_unix_addr(const char *path, struct sockaddr_un *sa, socklen_t *len, rs_diag_t *diag)
{
	size_t n = strlen(path);
	if (n == 0)
		return rs_diag(diag, RS_ELIMIT, "empty socket path");
	if (n >= sizeof(sa->sun_path))
		return rs_diag(diag, RS_ELIMIT, "socket path '%.200s' is too long (at most %zu octets)", path,
			       sizeof(sa->sun_path) - 1);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n + 1);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return RS_EOK;
}
