/*
 * The registry's only DNS client code, with ldns: one question to one
 * authoritative server, and the addresses of a name server from a resolver.
 */
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regsign/dns.h"

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

/* Why a question got no answer, to follow "no answer": ldns says "network error" for a timeout too. */
static void no_answer(ldns_status st, const ldns_resolver *res, char *out, size_t max)
{
	if (st == LDNS_STATUS_NETWORK_ERR || st == LDNS_STATUS_OK) {
		struct timeval t = ldns_resolver_timeout(res);
		snprintf(out, max, " within %ld ms (%u tries)", (long)t.tv_sec * 1000 + t.tv_usec / 1000,
			 ldns_resolver_retry(res));
		return;
	}
	/* ldns's messages start with a capital. */
	int len = snprintf(out, max, ": %s", ldns_get_errorstr_by_id(st));
	if (len > 2 && out[2] >= 'A' && out[2] <= 'Z')
		out[2] = (char)(out[2] - 'A' + 'a');
}

/* Canonical RDATA order (RFC 4034 6.3): octet strings, a prefix first. */
static int rdata_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c != 0 ? c : alen < blen ? -1 : alen > blen;
}

static int add_rdata(rrset_t *set, const ldns_rr *rr, ldns_buffer *buf, const char *server, rs_diag_t *diag)
{
	ldns_buffer_clear(buf);
	if (ldns_rr_rdata2buffer_wire(buf, rr) != LDNS_STATUS_OK)
		return rs_diag(diag, RS_ESYNTAX, "%s: a record in the answer cannot be read", server);
	size_t len = ldns_buffer_position(buf);
	if (len > RDATA_MAX)
		return rs_diag(diag, RS_ESYNTAX, "%s: a record of %zu octets is too long", server, len);
	if (set->count == RRSET_MAX)
		return rs_diag(diag, RS_ELIMIT, "%s: more than %d records in an answer", server, RRSET_MAX);
	/* Insertion keeps canonical order and drops duplicates (RFC 2181 5). */
	const uint8_t *data = ldns_buffer_begin(buf);
	size_t i = set->count;
	while (i > 0 && rdata_cmp(set->rdata[i - 1], set->len[i - 1], data, len) > 0)
		i--;
	if (i > 0 && rdata_cmp(set->rdata[i - 1], set->len[i - 1], data, len) == 0)
		return RS_EOK;
	memmove(set->rdata[i + 1], set->rdata[i], (set->count - i) * sizeof(set->rdata[0]));
	memmove(set->len + i + 1, set->len + i, (set->count - i) * sizeof(set->len[0]));
	memcpy(set->rdata[i], data, len);
	set->len[i] = (uint16_t)len;
	set->ttl = ldns_rr_ttl(rr);
	set->count++;
	return RS_EOK;
}

static int collect(const ldns_pkt *pkt, const ldns_rdf *qname, uint16_t qtype, const char *server, rrset_t *set,
		   rrset_t *sigs, rs_diag_t *diag)
{
	const ldns_rr_list *answer = ldns_pkt_answer(pkt);
	ldns_buffer *buf = ldns_buffer_new(RDATA_MAX);
	if (buf == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	int ret = RS_EOK;
	for (size_t i = 0; answer != NULL && i < ldns_rr_list_rr_count(answer) && ret == RS_EOK; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(answer, i);
		if (ldns_dname_compare(ldns_rr_owner(rr), qname) != 0 || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN)
			continue;
		if (ldns_rr_get_type(rr) == qtype)
			ret = add_rdata(set, rr, buf, server, diag);
		else if (sigs != NULL && ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG && ldns_rr_rd_count(rr) > 0 &&
			 ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) == qtype)
			ret = add_rdata(sigs, rr, buf, server, diag);
	}
	ldns_buffer_free(buf);
	return ret;
}

int dnsq_rrset(const char *server, const uint8_t *qname_wire, uint16_t qtype, unsigned timeout_ms, rrset_t *set,
	       rrset_t *sigs, rs_diag_t *diag)
{
	ldns_rdf *addr = NULL;
	uint16_t port;
	if (parse_server(server, &addr, &port) != RS_EOK)
		return rs_diag(diag, RS_ESYNTAX, "'%s' is not an address (ADDR or ADDR@PORT)", server);
	char name[1024], type[32];
	rs_dname_to_str(qname_wire, name, sizeof(name));
	rs_type_to_str(qtype, type, sizeof(type));
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
	if (sigs != NULL) {
		ldns_resolver_set_dnssec(res, true);
		ldns_resolver_set_edns_udp_size(res, 1232);
	}
	ldns_status st = ldns_resolver_send(&pkt, res, qname, qtype, LDNS_RR_CLASS_IN, 0);
	if (st != LDNS_STATUS_OK || pkt == NULL) {
		char why[160];
		no_answer(st, res, why, sizeof(why));
		ret = rs_diag(diag, RS_EIO, "%s: no answer for %s %s%s", server, name, type, why);
		goto out;
	}
	ldns_pkt_rcode rcode = ldns_pkt_get_rcode(pkt);
	if (rcode != LDNS_RCODE_NOERROR) {
		const ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)rcode);
		ret = rs_diag(diag, RS_EIO, "%s: %s %s: %s", server, name, type, lt ? lt->name : "error");
		goto out;
	}
	/* A referral or a cached copy is not the zone's own word. */
	if (!ldns_pkt_aa(pkt)) {
		ret = rs_diag(diag, RS_EIO, "%s: the answer for %s %s is not authoritative", server, name, type);
		goto out;
	}
	set->count = 0;
	if (sigs != NULL)
		sigs->count = 0;
	ret = collect(pkt, qname, qtype, server, set, sigs, diag);
out:
	ldns_pkt_free(pkt);
	ldns_resolver_deep_free(res); /* it holds a copy of addr */
	ldns_rdf_deep_free(qname);
	ldns_rdf_deep_free(addr);
	return ret;
}

int rs_dnsq_rrset(const char *server, const uint8_t *qname, uint16_t qtype, unsigned timeout_ms, rs_dnsq_set_t *set,
		  rs_dnsq_set_t *sigs, rs_diag_t *diag)
{
	return dnsq_rrset(server, qname, qtype, timeout_ms, set, sigs, diag);
}

/* "ADDR@PORT", or "the system resolver (ADDR)", for messages. */
static void resolver_name(const char *resolver, const ldns_resolver *res, char *out, size_t max)
{
	if (resolver != NULL && resolver[0] != '\0') {
		snprintf(out, max, "resolver %s", resolver);
		return;
	}
	char *first = ldns_resolver_nameserver_count(res) > 0 ? ldns_rdf2str(ldns_resolver_nameservers(res)[0]) : NULL;
	size_t more = ldns_resolver_nameserver_count(res) > 1 ? ldns_resolver_nameserver_count(res) - 1 : 0;
	if (more > 0)
		snprintf(out, max, "the system resolver (%s and %zu more)", first ? first : "?", more);
	else
		snprintf(out, max, "the system resolver (%s)", first ? first : "?");
	free(first);
}

/* A resolver that recurses: resolver's address, or the system's from resolv.conf. */
static int open_resolver(const char *resolver, unsigned timeout_ms, ldns_resolver **out, rs_diag_t *diag)
{
	ldns_resolver *res = NULL;
	if (resolver == NULL || resolver[0] == '\0') {
		ldns_status st = ldns_resolver_new_frm_file(&res, NULL);
		if (st != LDNS_STATUS_OK)
			return rs_diag(diag, RS_EIO, "cannot be resolved: cannot read the system resolver's configuration "
				       "(%s): %s", LDNS_RESOLV_CONF, ldns_get_errorstr_by_id(st));
		if (ldns_resolver_nameserver_count(res) == 0) {
			ldns_resolver_deep_free(res);
			return rs_diag(diag, RS_EIO, "cannot be resolved: %s names no name server (see 'regsign registry "
				       "--resolver')", LDNS_RESOLV_CONF);
		}
	} else {
		ldns_rdf *addr = NULL;
		uint16_t port;
		int ret = parse_server(resolver, &addr, &port);
		if (ret == RS_ESYNTAX)
			return rs_diag(diag, ret, "cannot be resolved: resolver '%s' is not ADDR or ADDR@PORT", resolver);
		if (ret != RS_EOK || (res = ldns_resolver_new()) == NULL ||
		    ldns_resolver_push_nameserver(res, addr) != LDNS_STATUS_OK) {
			ldns_rdf_deep_free(addr);
			ldns_resolver_deep_free(res);
			return rs_diag(diag, RS_ENOMEM, "out of memory");
		}
		ldns_rdf_deep_free(addr);
		ldns_resolver_set_port(res, port);
	}
	ldns_resolver_set_recursive(res, true);
	ldns_resolver_set_dnssec(res, false);
	ldns_resolver_set_retry(res, 2);
	ldns_resolver_set_timeout(res, (struct timeval){ timeout_ms / 1000, (timeout_ms % 1000) * 1000 });
	ldns_resolver_set_fallback(res, true);
	*out = res;
	return RS_EOK;
}

int dnsq_addresses(const char *resolver, const char *host, unsigned timeout_ms, char addrs[][64], size_t max,
		   size_t *count, rs_diag_t *diag)
{
	static const ldns_rr_type types[] = { LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA };
	ldns_resolver *res = NULL;
	int ret = open_resolver(resolver, timeout_ms, &res, diag);
	if (ret != RS_EOK)
		return ret;
	char who[128];
	resolver_name(resolver, res, who, sizeof(who));
	ldns_rdf *name = ldns_dname_new_frm_str(host);
	if (name == NULL) {
		ldns_resolver_deep_free(res);
		return rs_diag(diag, RS_EINVAL, "is not a host name");
	}
	size_t n = 0;
	ret = RS_ENOENT;
	rs_diag(diag, ret, "has no address: %s has no A or AAAA record for it", who);
	bool failed = false; /* diag holds a failure worth more than "no record" */
	for (size_t t = 0; t < 2; t++) {
		ldns_pkt *pkt = NULL;
		ldns_status st = ldns_resolver_send(&pkt, res, name, types[t], LDNS_RR_CLASS_IN, LDNS_RD);
		ldns_pkt_rcode rcode = pkt != NULL ? ldns_pkt_get_rcode(pkt) : LDNS_RCODE_NOERROR;
		const char *tname = t == 0 ? "A" : "AAAA";
		if (st != LDNS_STATUS_OK || pkt == NULL) {
			char why[160];
			no_answer(st, res, why, sizeof(why));
			/* The resolver is down: asking for AAAA would only wait as long again. */
			if (n == 0)
				ret = rs_diag(diag, RS_EIO, "cannot be resolved: %s did not answer%s", who, why);
			ldns_pkt_free(pkt);
			break;
		}
		if (rcode == LDNS_RCODE_NXDOMAIN) {
			if (n == 0)
				rs_diag(diag, RS_ENOENT, "does not resolve: NXDOMAIN from %s", who);
			ldns_pkt_free(pkt);
			break;
		}
		if (rcode != LDNS_RCODE_NOERROR) {
			const ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)rcode);
			if (n == 0 && !failed)
				rs_diag(diag, RS_ENOENT, "cannot be resolved: %s answered %s for %s", who,
					lt ? lt->name : "an error", tname);
			failed = true;
			ldns_pkt_free(pkt);
			continue;
		}
		ldns_rr_list *rrs = ldns_pkt_rr_list_by_type(pkt, types[t], LDNS_SECTION_ANSWER);
		for (size_t i = 0; rrs != NULL && i < ldns_rr_list_rr_count(rrs) && n < max; i++) {
			char *a = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(rrs, i), 0));
			if (a != NULL && strlen(a) < 64)
				snprintf(addrs[n++], 64, "%s", a);
			free(a);
		}
		ldns_rr_list_deep_free(rrs);
		ldns_pkt_free(pkt);
	}
	ldns_rdf_deep_free(name);
	ldns_resolver_deep_free(res);
	if (n == 0)
		return ret;
	*count = n;
	return RS_EOK;
}

int rs_dnsq_addresses(const char *resolver, const char *host, unsigned timeout_ms, char addrs[][64], size_t max,
		      size_t *count, rs_diag_t *diag)
{
	return dnsq_addresses(resolver, host, timeout_ms, addrs, max, count, diag);
}

int rs_dnsq_axfr(const char *server, const uint8_t *zone, unsigned timeout_ms, rs_dnsq_record_t fn, void *arg,
		 bool *refused, uint64_t *records, rs_diag_t *diag)
{
	ldns_rdf *addr = NULL;
	uint16_t port;
	if (parse_server(server, &addr, &port) != RS_EOK)
		return rs_diag(diag, RS_ESYNTAX, "'%s' is not an address (ADDR or ADDR@PORT)", server);
	char name[1024];
	rs_dname_to_str(zone, name, sizeof(name));
	ldns_rdf *qname = ldns_dname_new_frm_str(name);
	ldns_resolver *res = ldns_resolver_new();
	ldns_buffer *buf = ldns_buffer_new(65535);
	int ret = RS_EOK;
	*refused = false;
	*records = 0;
	if (qname == NULL || res == NULL || buf == NULL || ldns_resolver_push_nameserver(res, addr) != LDNS_STATUS_OK) {
		ret = rs_diag(diag, RS_ENOMEM, "out of memory");
		goto out;
	}
	ldns_resolver_set_port(res, port);
	ldns_resolver_set_timeout(res, (struct timeval){ timeout_ms / 1000, (timeout_ms % 1000) * 1000 });
	ldns_status st = ldns_axfr_start(res, qname, LDNS_RR_CLASS_IN);
	if (st != LDNS_STATUS_OK) {
		ret = rs_diag(diag, RS_EIO, "%s: no transfer of %s: %s", server, name, ldns_get_errorstr_by_id(st));
		goto out;
	}
	bool soa = false;
	ldns_rr *rr;
	while (ret == RS_EOK && (rr = ldns_axfr_next(res)) != NULL) {
		/* The closing SOA repeats the first (RFC 5936 2.2). */
		bool skip = ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && soa;
		soa = soa || ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA;
		ldns_buffer_clear(buf);
		if (!skip && ldns_rr_rdata2buffer_wire(buf, rr) != LDNS_STATUS_OK)
			ret = rs_diag(diag, RS_ESYNTAX, "%s: a transferred record cannot be read", server);
		else if (!skip && (ret = fn(arg, ldns_rdf_data(ldns_rr_owner(rr)), (uint16_t)ldns_rr_get_type(rr),
					     ldns_rr_ttl(rr), ldns_buffer_begin(buf), ldns_buffer_position(buf))) != RS_EOK)
			rs_diag(diag, ret, "%s: a transferred record cannot be stored: %s", server, rs_strerror(ret));
		else if (!skip)
			(*records)++;
		ldns_rr_free(rr);
	}
	if (ret == RS_EOK && !ldns_axfr_complete(res)) {
		const ldns_pkt *last = ldns_axfr_last_pkt(res);
		ldns_pkt_rcode rc = last ? ldns_pkt_get_rcode(last) : LDNS_RCODE_NOERROR;
		if (rc == LDNS_RCODE_REFUSED || rc == LDNS_RCODE_NOTAUTH || rc == LDNS_RCODE_NOTIMPL)
			*refused = true;
		else
			ret = rs_diag(diag, RS_EIO, "%s: the transfer of %s ended after %llu records", server, name,
				      (unsigned long long)*records);
	}
out:
	ldns_buffer_free(buf);
	ldns_resolver_deep_free(res);
	ldns_rdf_deep_free(qname);
	ldns_rdf_deep_free(addr);
	return ret;
}
