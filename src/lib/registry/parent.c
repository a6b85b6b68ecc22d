/* The parent's DS RRset, asked of one of its servers with ldns. */
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/crypto.h"
#include "regsign/dns.h"
#include "regsign/registry.h"

/* "ADDR" or "ADDR@PORT" into an ldns address and a port. */
static int parse_server(const char *server, ldns_rdf **addr, uint16_t *port)
{
	char host[64];
	const char *at = strchr(server, '@');
	size_t len = at ? (size_t)(at - server) : strlen(server);
	if (len == 0 || len >= sizeof(host))
		return RS_ESYNTAX;
	memcpy(host, server, len);
	host[len] = '\0';
	*port = 53;
	if (at != NULL) {
		char *end;
		unsigned long p = strtoul(at + 1, &end, 10);
		if (*end != '\0' || p == 0 || p > 65535)
			return RS_ESYNTAX;
		*port = (uint16_t)p;
	}
	unsigned char buf[16];
	if (inet_pton(AF_INET, host, buf) == 1)
		*addr = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, host);
	else if (inet_pton(AF_INET6, host, buf) == 1)
		*addr = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_AAAA, host);
	else
		return RS_ESYNTAX;
	return *addr != NULL ? RS_EOK : RS_ENOMEM;
}

/* Take the DS records for zone out of the answer section, checking each one. */
static int collect(const ldns_pkt *pkt, const ldns_rdf *qname, const char *server, rs_ds_set_t *out,
		   rs_diag_t *diag)
{
	const ldns_rr_list *answer = ldns_pkt_answer(pkt);
	ldns_buffer *buf = ldns_buffer_new(256);
	if (buf == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	int ret = RS_EOK;
	for (size_t i = 0; answer != NULL && i < ldns_rr_list_rr_count(answer) && ret == RS_EOK; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(answer, i);
		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_DS || ldns_dname_compare(ldns_rr_owner(rr), qname) != 0)
			continue;
		ldns_buffer_clear(buf);
		if (ldns_rr_rdata2buffer_wire(buf, rr) != LDNS_STATUS_OK) {
			ret = rs_diag(diag, RS_ESYNTAX, "%s: a DS record cannot be read", server);
			break;
		}
		size_t len = ldns_buffer_position(buf);
		if (len < 5 || len > RS_DS_RDATA_MAX) {
			ret = rs_diag(diag, RS_ESYNTAX, "%s: a DS record of %zu octets is malformed", server, len);
			break;
		}
		if (out->count == RS_DS_SET_MAX) {
			ret = rs_diag(diag, RS_ELIMIT, "%s: more than %d DS records", server, RS_DS_SET_MAX);
			break;
		}
		memcpy(out->rdata[out->count], ldns_buffer_begin(buf), len);
		out->len[out->count++] = (uint16_t)len;
	}
	ldns_buffer_free(buf);
	return ret;
}

int rs_parent_ds_query(const char *server, const uint8_t *zone, unsigned timeout_ms, rs_ds_set_t *out,
		       rs_diag_t *diag)
{
	ldns_rdf *addr = NULL;
	uint16_t port;
	if (parse_server(server, &addr, &port) != RS_EOK)
		return rs_diag(diag, RS_ESYNTAX, "'%s' is not an address (ADDR or ADDR@PORT)", server);
	char name[1024];
	rs_dname_to_str(zone, name, sizeof(name));
	ldns_rdf *qname = ldns_dname_new_frm_str(name);
	ldns_resolver *res = ldns_resolver_new();
	ldns_pkt *pkt = NULL;
	int ret = RS_EOK;
	if (qname == NULL || res == NULL || ldns_resolver_push_nameserver(res, addr) != LDNS_STATUS_OK) {
		ret = rs_diag(diag, RS_ENOMEM, "out of memory");
		goto out;
	}
	ldns_resolver_set_port(res, port);
	ldns_resolver_set_recursive(res, false);
	ldns_resolver_set_retry(res, 2);
	ldns_resolver_set_timeout(res, (struct timeval){ timeout_ms / 1000, (timeout_ms % 1000) * 1000 });
	ldns_resolver_set_fallback(res, true); /* TCP when the answer is truncated */
	ldns_status st = ldns_resolver_send(&pkt, res, qname, LDNS_RR_TYPE_DS, LDNS_RR_CLASS_IN, 0);
	if (st != LDNS_STATUS_OK || pkt == NULL) {
		ret = rs_diag(diag, RS_EIO, "%s: no answer for %s DS: %s", server, name, ldns_get_errorstr_by_id(st));
		goto out;
	}
	ldns_pkt_rcode rcode = ldns_pkt_get_rcode(pkt);
	if (rcode != LDNS_RCODE_NOERROR) {
		const ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)rcode);
		ret = rs_diag(diag, RS_EIO, "%s: %s DS: %s", server, name, lt ? lt->name : "error");
		goto out;
	}
	/* A referral or a cached copy is not the parent's word. */
	if (!ldns_pkt_aa(pkt)) {
		ret = rs_diag(diag, RS_EIO, "%s: the answer for %s DS is not authoritative", server, name);
		goto out;
	}
	out->count = 0;
	ret = collect(pkt, qname, server, out, diag);
out:
	ldns_pkt_free(pkt);
	ldns_resolver_deep_free(res); /* it holds a copy of addr */
	ldns_rdf_deep_free(qname);
	ldns_rdf_deep_free(addr);
	return ret;
}

bool rs_ds_set_has_key(const rs_ds_set_t *set, const uint8_t *owner, const uint8_t *dnskey, size_t len)
{
	for (size_t i = 0; i < set->count; i++) {
		const uint8_t *ds = set->rdata[i];
		if (rs_get16(ds) != rs_keytag(dnskey, len) || ds[2] != dnskey[3])
			continue;
		uint8_t want[RS_DS_RDATA_MAX];
		int n = rs_ds_make(owner, dnskey, len, ds[3], want, sizeof(want));
		if (n > 0 && (size_t)n == set->len[i] && memcmp(want, ds, (size_t)n) == 0)
			return true;
	}
	return false;
}
