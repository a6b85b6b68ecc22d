/*
 * notify: tell a secondary that the zone changed (RFC 1996), over UDP from
 * an ephemeral socket, TSIG-signed when the secondary has a key.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <libknot/libknot.h>

#include "regsign/xfr.h"
#include "internal.h"

#define MAC_MAX 64


static void addr_text(const struct sockaddr_storage *ss, char *out, size_t max)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof(host));
		port = ntohs(in->sin6_port);
	}
	snprintf(out, max, "%s@%u", host, port);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The NOTIFY message (RFC 1996 3.7: the SOA in the answer section; secondaries read only its
 * serial). */
static int build(knot_pkt_t *pkt, const uint8_t *origin, uint32_t serial, uint16_t id)
{
	knot_wire_set_id(pkt->wire, id);
	knot_wire_set_opcode(pkt->wire, KNOT_OPCODE_NOTIFY);
	knot_wire_set_aa(pkt->wire);
	if (knot_pkt_put_question(pkt, origin, KNOT_CLASS_IN, KNOT_RRTYPE_SOA) != KNOT_EOK ||
	    knot_pkt_begin(pkt, KNOT_ANSWER) != KNOT_EOK)
		return RS_EINVAL;
	/* MNAME and RNAME are the root: only the serial means anything here (RFC 1996 3.7). */
	uint8_t rd[22] = {0};
	knot_wire_write_u32(rd + 2, serial);
	knot_rrset_t soa;
	knot_rrset_init(&soa, (knot_dname_t *)origin, KNOT_RRTYPE_SOA, KNOT_CLASS_IN, 0);
	if (knot_rrset_add_rdata(&soa, rd, sizeof(rd), NULL) != KNOT_EOK)
		return RS_ENOMEM;
	int ret = knot_pkt_put(pkt, KNOT_COMPR_HINT_QNAME, &soa, KNOT_PF_NOTRUNC);
	knot_rdataset_clear(&soa.rrs, NULL);
	return ret == KNOT_EOK ? RS_EOK : RS_ELIMIT;
}

int rs_notify_send(const uint8_t *origin, uint32_t serial, const rs_secondary_t *to, int timeout_ms,
		   rs_diag_t *diag)
{
	if (origin == NULL || to == NULL || rs_dname_len(origin, RS_NAME_MAX) == 0 ||
	    (to->addr.ss_family != AF_INET && to->addr.ss_family != AF_INET6) ||
	    to->addr_len > sizeof(to->addr))
		return rs_diag(diag, RS_EINVAL, "NOTIFY: bad origin or address");
	char where[INET6_ADDRSTRLEN + 8];
	addr_text(&to->addr, where, sizeof(where));

	uint8_t key_name[KNOT_DNAME_MAXLEN];
	knot_tsig_key_t kkey;
	if (to->key != NULL && xfr_knot_key(to->key, key_name, &kkey) != RS_EOK)
		return rs_diag(diag, RS_EKEY, "NOTIFY to %s: unusable TSIG key '%.255s'", where,
			       to->key->name);

	uint16_t id;
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		return rs_diag(diag, -errno, "NOTIFY to %s: no random ID: %s", where,
			       strerror(errno));

	int ret;
	int fd = -1;
	uint8_t *buf = NULL;
	knot_pkt_t *resp = NULL;
	knot_pkt_t *pkt = knot_pkt_new(NULL, KNOT_WIRE_MAX_PKTSIZE, NULL);
	if (pkt == NULL)
		return rs_diag(diag, RS_ENOMEM, "NOTIFY to %s: out of memory", where);
	ret = build(pkt, origin, serial, id);
	if (ret != RS_EOK) {
		rs_diag(diag, ret, "NOTIFY to %s: cannot build the message", where);
		goto out;
	}
	uint8_t mac[MAC_MAX];
	size_t mac_len = sizeof(mac);
	if (to->key != NULL && knot_tsig_sign(pkt->wire, &pkt->size, pkt->max_size, NULL, 0, mac,
					      &mac_len, &kkey, 0, 0) != KNOT_EOK) {
		ret = rs_diag(diag, RS_ECRYPTO, "NOTIFY to %s: cannot sign with TSIG key '%s'",
			      where, to->key->name);
		goto out;
	}

	/* A connected socket takes answers from that address and port only. */
	fd = socket(to->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&to->addr, to->addr_len) != 0 ||
	    send(fd, pkt->wire, pkt->size, 0) != (ssize_t)pkt->size) {
		ret = rs_diag(diag, -errno, "NOTIFY to %s: %s", where, strerror(errno));
		goto out;
	}

	buf = malloc(KNOT_WIRE_MAX_PKTSIZE);
	if (buf == NULL) {
		ret = rs_diag(diag, RS_ENOMEM, "NOTIFY to %s: out of memory", where);
		goto out;
	}
	const char *discarded = NULL;
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			ret = discarded != NULL
				  ? rs_diag(diag, -ETIMEDOUT,
					    "NOTIFY to %s: no valid answer in %d ms (%s)", where,
					    timeout_ms, discarded)
				  : rs_diag(diag, -ETIMEDOUT, "NOTIFY to %s: no answer in %d ms",
					    where, timeout_ms);
			goto out;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = rs_diag(diag, -errno, "NOTIFY to %s: %s", where, strerror(errno));
			goto out;
		}
		if (n == 0)
			continue;
		ssize_t len = recv(fd, buf, KNOT_WIRE_MAX_PKTSIZE, 0);
		if (len < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			/* ICMP port unreachable on a connected socket: nobody listens there. */
			ret = rs_diag(diag, -errno, "NOTIFY to %s: %s", where, strerror(errno));
			goto out;
		}
		/* Not ours: another ID, not an answer, not NOTIFY. Keep waiting for ours. */
		if (len < KNOT_WIRE_HEADER_SIZE || knot_wire_get_id(buf) != id ||
		    !knot_wire_get_qr(buf) || knot_wire_get_opcode(buf) != KNOT_OPCODE_NOTIFY)
			continue;
		knot_pkt_free(resp);
		resp = knot_pkt_new(buf, (uint16_t)len, NULL);
		if (resp == NULL) {
			ret = rs_diag(diag, RS_ENOMEM, "NOTIFY to %s: out of memory", where);
			goto out;
		}
		if (knot_pkt_parse(resp, 0) != KNOT_EOK) {
			discarded = "a malformed answer was discarded";
			continue;
		}
		const uint8_t *qname = knot_pkt_qname(resp);
		if (qname != NULL && (!knot_dname_is_case_equal(qname, origin) ||
				      knot_pkt_qtype(resp) != KNOT_RRTYPE_SOA)) {
			discarded = "an answer for another question was discarded";
			continue;
		}
		uint16_t rcode = knot_wire_get_rcode(resp->wire);
		if (to->key != NULL) {
			bool good = resp->tsig_rr != NULL &&
				    knot_tsig_client_check(resp->tsig_rr, resp->wire, resp->size,
							   mac, mac_len, &kkey, 0) == KNOT_EOK;
			/*
			 * RFC 8945 5.3.2: an unsigned or badly signed answer is not the
			 * secondary's word, except a refusal of the key (BADKEY/BADSIG
			 * answers cannot be signed): believing one costs a retry only.
			 */
			if (!good && rcode != KNOT_RCODE_NOTAUTH) {
				discarded =
				    resp->tsig_rr == NULL
					? "an unsigned answer was discarded"
					: "an answer whose TSIG does not verify was discarded";
				continue;
			}
		}
		const char *name = knot_pkt_ext_rcode_name(resp);
		char num[16];
		if (name == NULL || *name == '\0') {
			snprintf(num, sizeof(num), "RCODE%u", knot_pkt_ext_rcode(resp));
			name = num;
		}
		if (rcode == KNOT_RCODE_NOERROR && knot_pkt_ext_rcode(resp) == KNOT_RCODE_NOERROR)
			ret = RS_EOK;
		else if (rcode == KNOT_RCODE_NOTAUTH || rcode == KNOT_RCODE_REFUSED)
			ret = rs_diag(diag, RS_EDENIED, "NOTIFY to %s: %s", where, name);
		else
			ret = rs_diag(diag, RS_EINVAL, "NOTIFY to %s: %s", where, name);
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	knot_pkt_free(resp);
	knot_pkt_free(pkt);
	free(buf);
	return ret;
}
