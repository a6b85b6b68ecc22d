/*
 * Unit tests of xfr's serving side: the answerer (SOA, AXFR, IXFR, refusals,
 * TSIG across messages, malformed queries), NOTIFY against a secondary played
 * by a thread on 127.0.0.1, and the TSIG key and secondary parsers. Queries
 * are built and answers parsed with libknot, as a real client would.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libknot/libknot.h>

#include "regsign/xfr.h"
#include "tap/tap.h"
#include "tap/zone.h"

static uint8_t origin[RS_NAME_MAX];

static const uint8_t *wire(const char *name)
{
	static uint8_t buf[8][RS_NAME_MAX];
	static int next;
	uint8_t *out = buf[next++ % 8];
	if (rs_dname_from_str(name, out) != RS_EOK)
		abort();
	return out;
}

#define SIG(covered, labels, ttl, b64)                                                             \
	" " ttl " RRSIG " covered " 13 " labels                                                    \
	" 3600 20300101000000 20200101000000 4711 test. " b64 "\n"

/* Signed-looking: RRSIGs at one owner with different TTLs (zone.c keeps each its own). */
/* clang-format off */
static const char *zone_text(uint32_t serial, int variant)
{
	static char buf[8192];
	snprintf(buf, sizeof(buf),
		 "$ORIGIN test.\n$TTL 3600\n"
		 "@ SOA ns hostmaster %u 7200 3600 1209600 300\n"
		 "@ NS ns\n"
		 "@ NS ns2.other.\n"
		 "@ DNSKEY 257 3 13 AAECAwQFBgcICQoLDA0ODw==\n"
		 "@" SIG("SOA", "1", "3600", "AAAAAAAAAAAAAAAAAAAAAA==")
		 "@" SIG("NS", "1", "3600", "AQEBAQEBAQEBAQEBAQEBAQ==")
		 "@" SIG("DNSKEY", "1", "3600", "AgICAgICAgICAgICAgICAg==")
		 "@" SIG("NSEC", "1", "300", "AwMDAwMDAwMDAwMDAwMDAw==")
		 "@ 300 NSEC a NS SOA RRSIG NSEC DNSKEY\n"
		 "a 86400 NS ns1.other.\n"
		 "a DS 1 13 2 0101010101010101010101010101010101010101010101010101010101010101\n"
		 "a" SIG("DS", "2", "3600", "BAQEBAQEBAQEBAQEBAQEBA==")
		 "a" SIG("NSEC", "2", "300", "BQUFBQUFBQUFBQUFBQUFBQ==")
		 "a 300 NSEC ns NS DS RRSIG NSEC\n"
		 "%s"
		 "ns A 192.0.2.1\n"
		 "ns AAAA 2001:db8::1\n"
		 "ns" SIG("A", "2", "3600", "CAgICAgICAgICAgICAgICA==")
		 "ns" SIG("NSEC", "2", "300", "CQkJCQkJCQkJCQkJCQkJCQ==")
		 "ns 300 NSEC test. A AAAA RRSIG NSEC\n",
		 serial, variant == 1 ? "b A 192.0.2.7\nb TXT \"two\"\n" : variant == 2 ? "b A 192.0.2.8\n" : "");
	return buf;
}
/* clang-format on */

static rs_zone_t *zone(uint32_t serial, int variant)
{
	return tap_zone(origin, zone_text(serial, variant), NULL, 0, true);
}

static rs_zone_t *big_zone(size_t names)
{
	size_t cap = names * 200 + 4096, len = 0;
	char *t = malloc(cap);
	len += (size_t)snprintf(
	    t + len, cap - len,
	    "$ORIGIN test.\n$TTL 3600\n@ SOA ns hostmaster 5 7200 3600 1209600 300\n"
	    "@ NS ns\nns A 192.0.2.1\n");
	for (size_t i = 0; i < names; i++)
		len += (size_t)snprintf(
		    t + len, cap - len,
		    "d%zu NS ns1.d%zu\nns1.d%zu A 198.51.%zu.%zu\nd%zu DS %zu 13 2 "
		    "0101010101010101010101010101010101010101010101010101010101010101\n",
		    i, i, i, i / 250 % 256, i % 250 + 1, i, i % 65536);
	rs_zone_t *z = tap_zone(origin, t, NULL, 0, true);
	free(t);
	return z;
}

/* ---- collecting and reading answers ---- */

typedef struct {
	uint8_t **msg;
	size_t *len;
	size_t n, cap;
	int fail_at; /* 1-based message whose send fails; 0: never */
} sink_t;

static int collect(void *arg, const uint8_t *msg, size_t len)
{
	sink_t *s = arg;
	if (s->fail_at != 0 && (int)s->n + 1 == s->fail_at)
		return -1;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->msg = realloc(s->msg, s->cap * sizeof(*s->msg));
		s->len = realloc(s->len, s->cap * sizeof(*s->len));
	}
	s->msg[s->n] = malloc(len);
	memcpy(s->msg[s->n], msg, len);
	s->len[s->n++] = len;
	return 0;
}

static void sink_clear(sink_t *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->msg[i]);
	free(s->msg);
	free(s->len);
	memset(s, 0, sizeof(*s));
}

typedef struct {
	uint8_t owner[KNOT_DNAME_MAXLEN];
	uint16_t type;
	uint32_t ttl;
	uint16_t rdlen;
	uint8_t *rdata;
} rec_t;

typedef struct {
	rec_t *r;
	size_t n, cap;
	size_t msgs;
	int rcode;	/* of the first message (-1: none) */
	bool all_parse; /* every message parses */
	bool all_aa;	/* and has AA */
	bool all_qr;
	bool ids_match;
	bool has_tsig; /* the first message has a TSIG */
	uint16_t tsig_error;
	size_t ar_other; /* additional records other than OPT and TSIG */
	bool opt;
} answer_t;

static void answer_clear(answer_t *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->r[i].rdata);
	free(a->r);
	memset(a, 0, sizeof(*a));
}

static void read_answer(const sink_t *s, uint16_t id, answer_t *a)
{
	memset(a, 0, sizeof(*a));
	a->rcode = -1;
	a->all_parse = a->all_aa = a->all_qr = a->ids_match = true;
	a->msgs = s->n;
	for (size_t m = 0; m < s->n; m++) {
		uint8_t *copy = malloc(s->len[m]);
		memcpy(copy, s->msg[m], s->len[m]);
		knot_pkt_t *p = knot_pkt_new(copy, (uint16_t)s->len[m], NULL);
		if (p == NULL || knot_pkt_parse(p, 0) != KNOT_EOK) {
			a->all_parse = false;
			knot_pkt_free(p);
			free(copy);
			continue;
		}
		if (m == 0) {
			a->rcode = knot_wire_get_rcode(p->wire);
			a->has_tsig = p->tsig_rr != NULL;
			a->tsig_error = p->tsig_rr ? knot_tsig_rdata_error(p->tsig_rr) : 0;
			a->opt = p->opt_rr != NULL;
		}
		a->all_aa &= knot_wire_get_aa(p->wire) != 0;
		a->all_qr &= knot_wire_get_qr(p->wire) != 0;
		a->ids_match &= knot_wire_get_id(p->wire) == id;
		const knot_pktsection_t *an = knot_pkt_section(p, KNOT_ANSWER);
		for (uint16_t i = 0; i < an->count; i++) {
			const knot_rrset_t *rr = knot_pkt_rr(an, i);
			knot_rdata_t *rd = rr->rrs.rdata;
			for (uint16_t j = 0; j < rr->rrs.count; j++) {
				if (a->n == a->cap) {
					a->cap = a->cap ? 2 * a->cap : 64;
					a->r = realloc(a->r, a->cap * sizeof(*a->r));
				}
				rec_t *r = &a->r[a->n++];
				memcpy(r->owner, rr->owner, knot_dname_size(rr->owner));
				r->type = rr->type;
				r->ttl = rr->ttl;
				r->rdlen = rd->len;
				r->rdata = malloc(rd->len + 1);
				memcpy(r->rdata, rd->data, rd->len);
				rd = knot_rdataset_next(rd);
			}
		}
		const knot_pktsection_t *ar = knot_pkt_section(p, KNOT_ADDITIONAL);
		for (uint16_t i = 0; i < ar->count; i++) {
			uint16_t t = knot_pkt_rr(ar, i)->type;
			a->ar_other += t != KNOT_RRTYPE_OPT && t != KNOT_RRTYPE_TSIG;
		}
		knot_pkt_free(p);
		free(copy);
	}
}

static uint32_t soa_serial(const rec_t *r)
{
	return r->type == KNOT_RRTYPE_SOA && r->rdlen >= 20
		   ? knot_wire_read_u32(r->rdata + r->rdlen - 20)
		   : 0;
}

static bool rec_is(const rec_t *r, const rs_rr_t *rr)
{
	const uint8_t *o = rs_name_wire(rr->owner);
	return knot_dname_is_equal(r->owner, o) && r->type == rr->type && r->ttl == rr->ttl &&
	       r->rdlen == rr->rdlen && memcmp(r->rdata, rr->rdata, rr->rdlen) == 0;
}

static bool rec_is_x(const rec_t *r, const rs_xrr_t *rr)
{
	return knot_dname_is_equal(r->owner, rr->owner) && r->type == rr->type &&
	       r->ttl == rr->ttl && r->rdlen == rr->rdlen &&
	       memcmp(r->rdata, rr->rdata, rr->rdlen) == 0;
}

/* The records of zone in AXFR order, apex SOA left out. */
static size_t zone_records(const rs_zone_t *z, const rs_rr_t ***out)
{
	size_t nn;
	const rs_node_t *nodes = rs_zone_nodes(z, &nn);
	const rs_rr_t *rrs = rs_zone_rrs(z);
	size_t total = 0;
	for (size_t i = 0; i < nn; i++)
		total += nodes[i].count;
	const rs_rr_t **list = malloc(total * sizeof(*list));
	size_t n = 0;
	for (size_t i = 0; i < nn; i++)
		for (uint32_t j = nodes[i].first; j < nodes[i].first + nodes[i].count; j++)
			if (&rrs[j] != rs_zone_soa(z))
				list[n++] = &rrs[j];
	*out = list;
	return n;
}

/* Is a the whole of zone z as AXFR sends it: SOA, every record in order, SOA? */
static bool is_axfr_of(const answer_t *a, const rs_zone_t *z)
{
	const rs_rr_t **list;
	size_t n = zone_records(z, &list);
	bool good = a->n == n + 2 && rec_is(&a->r[0], rs_zone_soa(z)) &&
		    rec_is(&a->r[a->n - 1], rs_zone_soa(z));
	for (size_t i = 0; good && i < n; i++)
		if (!rec_is(&a->r[i + 1], list[i])) {
			printf("# record %zu differs\n", i + 1);
			good = false;
		}
	if (!good)
		printf("# got %zu records, zone has %zu + 2 SOA\n", a->n, n);
	free(list);
	return good;
}

/* ---- queries ---- */

typedef struct {
	uint8_t wire[4096];
	size_t len;
	uint16_t id;
	uint8_t mac[64];
	size_t mac_len;
} query_t;

enum { Q_NONE = 0, Q_SOA_AUTH = 1 << 0, Q_EDNS = 1 << 1 };

static void make_query(query_t *q, const char *qname, uint16_t qtype, unsigned flags,
		       uint32_t serial, const knot_tsig_key_t *key)
{
	static uint16_t next_id = 1000;
	knot_pkt_t *p = knot_pkt_new(NULL, sizeof(q->wire), NULL);
	q->id = next_id++;
	knot_wire_set_id(p->wire, q->id);
	knot_pkt_put_question(p, wire(qname), KNOT_CLASS_IN, qtype);
	if (flags & Q_SOA_AUTH) {
		knot_pkt_begin(p, KNOT_AUTHORITY);
		uint8_t rd[22] = {0};
		knot_wire_write_u32(rd + 2, serial);
		knot_rrset_t soa;
		knot_rrset_init(&soa, (knot_dname_t *)wire(qname), KNOT_RRTYPE_SOA, KNOT_CLASS_IN,
				0);
		knot_rrset_add_rdata(&soa, rd, sizeof(rd), NULL);
		knot_pkt_put(p, 0, &soa, 0);
		knot_rdataset_clear(&soa.rrs, NULL);
	}
	if (flags & Q_EDNS) {
		knot_pkt_begin(p, KNOT_ADDITIONAL);
		knot_rrset_t opt;
		knot_edns_init(&opt, 1232, 0, 0, NULL);
		knot_pkt_put(p, 0, &opt, 0);
		knot_rrset_clear(&opt, NULL);
	}
	q->mac_len = sizeof(q->mac);
	if (key != NULL && knot_tsig_sign(p->wire, &p->size, p->max_size, NULL, 0, q->mac,
					  &q->mac_len, key, 0, 0) != KNOT_EOK)
		abort();
	memcpy(q->wire, p->wire, p->size);
	q->len = p->size;
	knot_pkt_free(p);
}

/* Check every message's TSIG as a client does (RFC 8945 5.3.1, 5.4). */
static bool client_verifies(const sink_t *s, const query_t *q, const knot_tsig_key_t *key)
{
	uint8_t prev[64];
	size_t prev_len = q->mac_len;
	memcpy(prev, q->mac, prev_len);
	uint64_t prev_time = 0;
	for (size_t m = 0; m < s->n; m++) {
		uint8_t *copy = malloc(s->len[m]);
		memcpy(copy, s->msg[m], s->len[m]);
		knot_pkt_t *p = knot_pkt_new(copy, (uint16_t)s->len[m], NULL);
		bool good = knot_pkt_parse(p, 0) == KNOT_EOK && p->tsig_rr != NULL;
		int ret = KNOT_EINVAL;
		if (good && m == 0)
			ret = knot_tsig_client_check(p->tsig_rr, p->wire, p->size, prev, prev_len,
						     key, 0);
		else if (good)
			ret = knot_tsig_client_check_next(p->tsig_rr, p->wire, p->size, prev,
							  prev_len, key, prev_time);
		if (good && ret == KNOT_EOK) {
			prev_len = knot_tsig_rdata_mac_length(p->tsig_rr);
			memcpy(prev, knot_tsig_rdata_mac(p->tsig_rr), prev_len);
			prev_time = knot_tsig_rdata_time_signed(p->tsig_rr);
		}
		knot_pkt_free(p);
		free(copy);
		if (!good || ret != KNOT_EOK) {
			printf("# message %zu of %zu: %s\n", m + 1, s->n,
			       good ? knot_strerror(ret) : "no TSIG");
			return false;
		}
	}
	return s->n > 0;
}

/* ---- the answerer ---- */

static struct sockaddr_storage addr4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	inet_pton(AF_INET, ip, &in->sin_addr);
	return ss;
}

typedef struct {
	int calls;
	int last_result;
	char last_kind[16];
	char last_why[128];
	uint32_t last_theirs, last_served;
} events_seen_t;

static void on_transfer(void *arg, const uint8_t *o, const struct sockaddr *from, const char *kind,
			uint32_t theirs, uint32_t served, int result, const char *why)
{
	events_seen_t *e = arg;
	(void)o;
	(void)from;
	e->calls++;
	e->last_result = result;
	snprintf(e->last_kind, sizeof(e->last_kind), "%s", kind);
	snprintf(e->last_why, sizeof(e->last_why), "%s", why ? why : "");
	e->last_theirs = theirs;
	e->last_served = served;
}

static events_seen_t seen;
static rs_xfr_server_t *srv;
static struct sockaddr_storage sec_addr, other_addr, keyed_addr;
static rs_tsig_key_t key_good, key_other;
static knot_tsig_key_t kk_good, kk_wrong_secret, kk_other, kk_unknown;
static uint8_t kk_names[4][KNOT_DNAME_MAXLEN];

/* Ask q from from over tcp; fills a with what came back; returns rs_xfr_answer's code. */
static int ask(const query_t *q, const struct sockaddr_storage *from, bool tcp, sink_t *s,
	       answer_t *a)
{
	memset(s, 0, sizeof(*s));
	int ret =
	    rs_xfr_answer(srv, (const struct sockaddr *)from, tcp, q->wire, q->len, collect, s);
	read_answer(s, q->id, a);
	return ret;
}

static void to_knot(const rs_tsig_key_t *k, uint8_t *name, knot_tsig_key_t *out)
{
	memset(out, 0, sizeof(*out));
	knot_dname_from_str(name, k->name, KNOT_DNAME_MAXLEN);
	out->name = name;
	out->algorithm = DNSSEC_TSIG_HMAC_SHA256;
	out->secret.data = (uint8_t *)k->secret;
	out->secret.size = k->secret_len;
}

static void test_soa_and_refusals(const rs_zone_t *z)
{
	query_t q;
	sink_t s;
	answer_t a;

	make_query(&q, "test.", KNOT_RRTYPE_SOA, Q_NONE, 0, NULL);
	is_int(ask(&q, &other_addr, false, &s, &a), RS_EOK, "SOA over UDP from anyone is answered");
	ok(s.n == 1 && a.all_parse && a.rcode == KNOT_RCODE_NOERROR && a.all_aa && a.all_qr &&
	       a.ids_match,
	   "SOA answer: one message, NOERROR, AA, QR, same ID");
	ok(a.n == 1 && rec_is(&a.r[0], rs_zone_soa(z)) && soa_serial(&a.r[0]) == 3,
	   "SOA answer holds our SOA");
	ok(!a.opt, "no OPT in the answer to a query without one");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "TEST.", KNOT_RRTYPE_SOA, Q_EDNS, 0, NULL);
	ask(&q, &other_addr, true, &s, &a);
	ok(a.rcode == KNOT_RCODE_NOERROR && a.n == 1 && a.opt,
	   "SOA over TCP, name in upper case, EDNS: OPT back");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "other.", KNOT_RRTYPE_SOA, Q_NONE, 0, NULL);
	ask(&q, &sec_addr, false, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_REFUSED && a.n == 0 && !a.all_aa,
	   "a zone we do not serve: REFUSED");
	sink_clear(&s);
	answer_clear(&a);

	int before = seen.calls;
	make_query(&q, "other.", KNOT_RRTYPE_AXFR, Q_NONE, 0, NULL);
	ask(&q, &sec_addr, true, &s, &a);
	ok(a.rcode == KNOT_RCODE_REFUSED && a.n == 0 && seen.calls == before + 1 &&
	       seen.last_result == RS_ENOENT,
	   "AXFR of a zone we do not serve: REFUSED, and the event says so");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "www.test.", KNOT_RRTYPE_SOA, Q_NONE, 0, NULL);
	ask(&q, &sec_addr, false, &s, &a);
	ok(a.rcode == KNOT_RCODE_REFUSED && a.n == 0, "SOA of a name below the apex: REFUSED");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_A, Q_NONE, 0, NULL);
	ask(&q, &sec_addr, false, &s, &a);
	ok(a.rcode == KNOT_RCODE_REFUSED && a.n == 0, "other query types: REFUSED");
	sink_clear(&s);
	answer_clear(&a);

	before = seen.calls;
	make_query(&q, "test.", KNOT_RRTYPE_AXFR, Q_NONE, 0, NULL);
	ask(&q, &other_addr, true, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_REFUSED && a.n == 0,
	   "AXFR from an address not listed: REFUSED, no records");
	ok(seen.calls == before + 1 && seen.last_result == RS_EDENIED &&
	       strcmp(seen.last_kind, "AXFR") == 0,
	   "the refusal is an event (RS_EDENIED, AXFR)");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_AXFR, Q_NONE, 0, NULL);
	ask(&q, &sec_addr, false, &s, &a);
	ok(s.n == 1 && (a.rcode == KNOT_RCODE_FORMERR || a.rcode == KNOT_RCODE_REFUSED) && a.n == 0,
	   "AXFR over UDP, even from a secondary: FORMERR, no records");
	sink_clear(&s);
	answer_clear(&a);
}

static void test_axfr(const rs_zone_t *z)
{
	query_t q;
	sink_t s;
	answer_t a;

	struct sockaddr_storage other_port = addr4("127.0.0.1", 40000);
	make_query(&q, "test.", KNOT_RRTYPE_AXFR, Q_NONE, 0, NULL);
	seen.calls = 0;
	is_int(ask(&q, &other_port, true, &s, &a), RS_EOK,
	       "AXFR from a secondary's address, another port");
	ok(a.all_parse && a.rcode == KNOT_RCODE_NOERROR && a.all_aa && a.ids_match,
	   "AXFR: parses, NOERROR, AA, same ID");
	ok(is_axfr_of(&a, z), "AXFR: SOA, every record of the zone in order with its own TTL, SOA");
	ok(a.ar_other == 0 && !a.has_tsig, "AXFR: no additional records, no TSIG without a key");
	ok(seen.calls == 1 && seen.last_result == RS_EOK && seen.last_served == 3 &&
	       strcmp(seen.last_kind, "AXFR") == 0,
	   "AXFR: one event, served serial 3");
	/* RRSIGs at one owner keep their own TTLs. */
	bool ttl_300 = false, ttl_3600 = false;
	for (size_t i = 0; i < a.n; i++)
		if (a.r[i].type == KNOT_RRTYPE_RRSIG && knot_dname_is_equal(a.r[i].owner, origin)) {
			ttl_300 |= a.r[i].ttl == 300;
			ttl_3600 |= a.r[i].ttl == 3600;
		}
	ok(ttl_300 && ttl_3600, "apex RRSIGs went out with TTLs 300 and 3600");
	sink_clear(&s);
	answer_clear(&a);

	sink_t f;
	memset(&f, 0, sizeof(f));
	f.fail_at = 1;
	int ret = rs_xfr_answer(srv, (const struct sockaddr *)&sec_addr, true, q.wire, q.len,
				collect, &f);
	ok(ret != RS_EOK && f.n == 0, "a send that fails stops the transfer with an error");
	sink_clear(&f);
}

static void test_big(void)
{
	rs_zone_t *bz = big_zone(20000);
	rs_version_t *bv;
	if (bz == NULL || rs_version_new(bz, &bv) != RS_EOK) {
		ok(0, "big zone");
		return;
	}
	rs_secondary_t sec[2] = {
	    {.addr = sec_addr, .addr_len = sizeof(struct sockaddr_in)},
	    {.addr = keyed_addr, .addr_len = sizeof(struct sockaddr_in), .key = &key_good}};
	/* It replaces serial 3 of test.: transfers under way would keep theirs. */
	is_int(rs_xfr_serve(srv, origin, bv, NULL, sec, 2), RS_EOK,
	       "serve a zone of 20,000 delegations");
	rs_version_unref(bv);

	query_t q;
	sink_t s;
	answer_t a;
	make_query(&q, "test.", KNOT_RRTYPE_AXFR, Q_NONE, 0, NULL);
	ask(&q, &sec_addr, true, &s, &a);
	ok(s.n > 5, "a large AXFR goes out in several messages (%zu)", s.n);
	bool sizes = true;
	for (size_t i = 0; i < s.n; i++)
		sizes &= s.len[i] <= 65535 && s.len[i] > 12;
	ok(sizes, "every message is at most 64 KiB");
	ok(a.all_parse && a.all_aa && a.ids_match && a.rcode == 0,
	   "every message parses, AA, same ID");
	ok(is_axfr_of(&a, bz), "the messages together are the zone: SOA, %zu records, SOA", a.n);
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_AXFR, Q_NONE, 0, &kk_good);
	ask(&q, &keyed_addr, true, &s, &a);
	ok(s.n > 5 && a.all_parse && a.rcode == 0 && is_axfr_of(&a, bz),
	   "signed large AXFR: all the zone");
	ok(client_verifies(&s, &q, &kk_good),
	   "a client's TSIG check accepts every one of the %zu messages", s.n);
	/* A message that was changed in transit does not verify. */
	if (s.n > 2) {
		s.msg[2][s.len[2] / 2] ^= 0x01;
		ok(!client_verifies(&s, &q, &kk_good),
		   "a message changed in transit does not verify");
	}
	sink_clear(&s);
	answer_clear(&a);
}

static void test_tsig(const rs_zone_t *z)
{
	query_t q;
	sink_t s;
	answer_t a;

	make_query(&q, "test.", KNOT_RRTYPE_AXFR, Q_NONE, 0, &kk_good);
	ask(&q, &keyed_addr, true, &s, &a);
	ok(a.all_parse && a.rcode == KNOT_RCODE_NOERROR && is_axfr_of(&a, z),
	   "AXFR with the secondary's key: the zone");
	ok(a.has_tsig && client_verifies(&s, &q, &kk_good),
	   "its answer is signed and the client accepts it");
	sink_clear(&s);
	answer_clear(&a);

	seen.calls = 0;
	make_query(&q, "test.", KNOT_RRTYPE_AXFR, Q_NONE, 0, NULL);
	ask(&q, &keyed_addr, true, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_NOTAUTH && a.n == 0 && !a.has_tsig,
	   "AXFR without TSIG where the secondary has a key: NOTAUTH, no records");
	ok(seen.calls == 1 && seen.last_result == RS_EDENIED, "the refusal is an event");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_AXFR, Q_NONE, 0, &kk_wrong_secret);
	ask(&q, &keyed_addr, true, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_NOTAUTH && a.n == 0 && a.has_tsig &&
	       a.tsig_error == KNOT_RCODE_BADSIG,
	   "the right key name with a wrong secret: NOTAUTH, TSIG error BADSIG, no records");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_AXFR, Q_NONE, 0, &kk_unknown);
	ask(&q, &keyed_addr, true, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_NOTAUTH && a.n == 0 && a.has_tsig &&
	       a.tsig_error == KNOT_RCODE_BADKEY,
	   "a key the zone does not know: NOTAUTH, BADKEY, no records");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_AXFR, Q_NONE, 0, &kk_other);
	ask(&q, &keyed_addr, true, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_NOTAUTH && a.n == 0,
	   "another secondary's (valid) key from this secondary: NOTAUTH, no records");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_SOA, Q_NONE, 0, &kk_good);
	ask(&q, &other_addr, false, &s, &a);
	ok(a.rcode == KNOT_RCODE_NOERROR && a.n == 1 && client_verifies(&s, &q, &kk_good),
	   "a signed SOA query gets a signed answer");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_SOA, Q_NONE, 0, &kk_wrong_secret);
	ask(&q, &other_addr, false, &s, &a);
	ok(a.rcode == KNOT_RCODE_NOTAUTH && a.n == 0 && a.tsig_error == KNOT_RCODE_BADSIG,
	   "a badly signed SOA query: NOTAUTH BADSIG, no SOA (RFC 8945 5.2)");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_AXFR, Q_NONE, 0, &kk_good);
	ask(&q, &other_addr, true, &s, &a);
	ok(a.rcode == KNOT_RCODE_REFUSED && a.n == 0 && client_verifies(&s, &q, &kk_good),
	   "a good key from an address not listed: REFUSED, signed");
	sink_clear(&s);
	answer_clear(&a);
}

/* ---- a zone expected but not published yet ---- */

static void test_unpublished(const rs_secondary_t *secs, size_t n)
{
	query_t q;
	sink_t s;
	answer_t a;
	is_int(rs_xfr_expect(srv, wire("early."), secs, n), RS_EOK, "early. is expected, with no version yet");

	make_query(&q, "early.", KNOT_RRTYPE_SOA, Q_NONE, 0, NULL);
	ask(&q, &sec_addr, false, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_SERVFAIL && a.n == 0,
	   "before the first publication: SOA from a secondary gets SERVFAIL (it retries), not REFUSED");
	sink_clear(&s);
	answer_clear(&a);

	seen.calls = 0;
	make_query(&q, "early.", KNOT_RRTYPE_AXFR, Q_NONE, 0, NULL);
	ask(&q, &sec_addr, true, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_SERVFAIL && a.n == 0, "... AXFR too");
	ok(seen.calls == 1 && seen.last_result == RS_EBUSY, "... an event that says it was put off");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "early.", KNOT_RRTYPE_IXFR, Q_SOA_AUTH, 1, &kk_good);
	ask(&q, &keyed_addr, true, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_SERVFAIL && a.n == 0 && client_verifies(&s, &q, &kk_good),
	   "... IXFR with the secondary's key: SERVFAIL, signed");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "early.", KNOT_RRTYPE_AXFR, Q_NONE, 0, NULL);
	ask(&q, &keyed_addr, true, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_NOTAUTH, "... without the key where the secondary has one: NOTAUTH");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "early.", KNOT_RRTYPE_SOA, Q_NONE, 0, &kk_wrong_secret);
	ask(&q, &keyed_addr, false, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_NOTAUTH && a.tsig_error == KNOT_RCODE_BADSIG,
	   "... a badly signed SOA query: NOTAUTH BADSIG");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "early.", KNOT_RRTYPE_SOA, Q_NONE, 0, NULL);
	ask(&q, &other_addr, false, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_REFUSED, "... SOA from an address not listed: REFUSED");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "early.", KNOT_RRTYPE_AXFR, Q_NONE, 0, NULL);
	ask(&q, &other_addr, true, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_REFUSED, "... AXFR from an address not listed: REFUSED");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "early.", KNOT_RRTYPE_A, Q_NONE, 0, NULL);
	ask(&q, &sec_addr, false, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_REFUSED, "... other query types: REFUSED");
	sink_clear(&s);
	answer_clear(&a);

	rs_xfr_serve(srv, wire("early."), NULL, NULL, NULL, 0);
	make_query(&q, "early.", KNOT_RRTYPE_SOA, Q_NONE, 0, NULL);
	ask(&q, &sec_addr, false, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_REFUSED, "no longer expected: REFUSED");
	sink_clear(&s);
	answer_clear(&a);
}

/* ---- versions replaced under transfers ---- */

typedef struct {
	const rs_zone_t *za, *zb;
	int rounds;
	int whole; /* transfers that were entirely one version or the other */
	int mixed;
	atomic_int *done;
} race_t;

static void *race_reader(void *arg)
{
	race_t *r = arg;
	query_t q;
	make_query(&q, "test.", KNOT_RRTYPE_AXFR, Q_NONE, 0, NULL);
	for (int i = 0; i < r->rounds; i++) {
		sink_t s = {0};
		answer_t a;
		rs_xfr_answer(srv, (const struct sockaddr *)&sec_addr, true, q.wire, q.len, collect,
			      &s);
		read_answer(&s, q.id, &a);
		if (a.rcode == 0 && a.n > 0 &&
		    (soa_serial(&a.r[0]) == 2 ? is_axfr_of(&a, r->za) : is_axfr_of(&a, r->zb)))
			r->whole++;
		else
			r->mixed++;
		sink_clear(&s);
		answer_clear(&a);
	}
	atomic_fetch_add(r->done, 1);
	return NULL;
}

/* Two readers transfer while the version flips between 2 and 3; each transfer sees one version
 * whole (and, under ASan, no version is freed while a transfer reads it). */
static void test_race(rs_version_t *v2, rs_version_t *v3)
{
	rs_secondary_t sec = {.addr = sec_addr, .addr_len = sizeof(struct sockaddr_in)};
	atomic_int done = 0;
	race_t r[2] = {{rs_version_zone(v2), rs_version_zone(v3), 200, 0, 0, &done},
		       {rs_version_zone(v2), rs_version_zone(v3), 200, 0, 0, &done}};
	pthread_t t[2];
	rs_xfr_serve(srv, origin, v3, NULL, &sec, 1);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, race_reader, &r[i]);
	long flips = 0;
	while (atomic_load(&done) < 2)
		rs_xfr_serve(srv, origin, flips++ % 2 ? v2 : v3, NULL, &sec, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ok(r[0].mixed + r[1].mixed == 0 && r[0].whole + r[1].whole == 400,
	   "400 AXFRs while the version flipped %ld times: each one version whole (%d, %d mixed)",
	   flips, r[0].whole + r[1].whole, r[0].mixed + r[1].mixed);
}

/* ---- IXFR ---- */

static void test_ixfr(rs_zone_t *z1, rs_zone_t *z2, rs_zone_t *z3, rs_version_t *v3)
{
	char dir[] = "/tmp/test_xfrout.XXXXXX";
	if (mkdtemp(dir) == NULL) {
		ok(0, "temporary directory");
		return;
	}
	char path[128];
	snprintf(path, sizeof(path), "%s/journal", dir);
	rs_diag_t d = {""};
	rs_journal_t *j = NULL;
	rs_diff_t d12 = {0}, d23 = {0};
	int ret = rs_journal_open(path, NULL, &j, &d);
	if (ret == RS_EOK)
		ret = rs_diff_zones(z1, z2, &d12, &d);
	if (ret == RS_EOK)
		ret = rs_diff_zones(z2, z3, &d23, &d);
	if (ret == RS_EOK)
		ret = rs_journal_append(j, &d12, &d);
	if (ret == RS_EOK)
		ret = rs_journal_append(j, &d23, &d);
	if (!ok(ret == RS_EOK, "journal with diffs 1->2 and 2->3")) {
		printf("# %s: %s\n", rs_strerror(ret), d.text);
		rs_journal_close(j);
		rs_diff_clear(&d12);
		rs_diff_clear(&d23);
		return;
	}
	rs_secondary_t sec[2] = {
	    {.addr = sec_addr, .addr_len = sizeof(struct sockaddr_in)},
	    {.addr = keyed_addr, .addr_len = sizeof(struct sockaddr_in), .key = &key_good}};
	is_int(rs_xfr_serve(srv, origin, v3, j, sec, 2), RS_EOK, "serve serial 3 with the journal");

	query_t q;
	sink_t s;
	answer_t a;

	/* From 1: SOA3, SOA1, removed, SOA2, added, SOA2, removed, SOA3, added, SOA3. */
	seen.calls = 0;
	make_query(&q, "test.", KNOT_RRTYPE_IXFR, Q_SOA_AUTH, 1, NULL);
	ask(&q, &sec_addr, true, &s, &a);
	size_t want = 1 + 1 + d12.nremoved + 1 + d12.nadded + 1 + d23.nremoved + 1 + d23.nadded + 1;
	ok(a.all_parse && a.rcode == 0 && a.all_aa && a.n == want,
	   "IXFR from 1: %zu records (want %zu)", a.n, want);
	bool order = a.n == want && soa_serial(&a.r[0]) == 3 && rec_is(&a.r[0], rs_zone_soa(z3));
	size_t k = 1;
	const rs_diff_t *ds[2] = {&d12, &d23};
	for (int i = 0; i < 2 && order; i++) {
		order &= rec_is_x(&a.r[k++], &ds[i]->soa_from);
		for (size_t r = 0; r < ds[i]->nremoved && order; r++)
			order &= rec_is_x(&a.r[k++], &ds[i]->removed[r]);
		order &= rec_is_x(&a.r[k++], &ds[i]->soa_to);
		for (size_t r = 0; r < ds[i]->nadded && order; r++)
			order &= rec_is_x(&a.r[k++], &ds[i]->added[r]);
	}
	order &= order && rec_is(&a.r[k], rs_zone_soa(z3)) && k == want - 1;
	ok(order, "IXFR from 1: SOA(3), per diff SOA(from) removed SOA(to) added, SOA(3)");
	ok(order && soa_serial(&a.r[1]) == 1 && soa_serial(&a.r[1 + 1 + d12.nremoved]) == 2,
	   "the diffs' SOAs carry serials 1 and 2");
	ok(d12.nadded > 0 && d23.nremoved > 0, "the diffs are not empty (b added, then changed)");
	ok(seen.calls == 1 && seen.last_result == RS_EOK && seen.last_theirs == 1 &&
	       seen.last_served == 3 && strcmp(seen.last_kind, "IXFR") == 0,
	   "IXFR event: 1 -> 3");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_IXFR, Q_SOA_AUTH, 2, NULL);
	ask(&q, &sec_addr, true, &s, &a);
	want = 1 + 1 + d23.nremoved + 1 + d23.nadded + 1;
	ok(a.n == want && soa_serial(&a.r[0]) == 3 && soa_serial(&a.r[1]) == 2 &&
	       soa_serial(&a.r[a.n - 1]) == 3,
	   "IXFR from 2: one diff");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_IXFR, Q_SOA_AUTH, 3, NULL);
	ask(&q, &sec_addr, true, &s, &a);
	ok(a.rcode == 0 && a.n == 1 && rec_is(&a.r[0], rs_zone_soa(z3)),
	   "IXFR from our serial: the SOA alone");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_IXFR, Q_SOA_AUTH, 10, NULL);
	ask(&q, &sec_addr, true, &s, &a);
	ok(a.rcode == 0 && a.n == 1 && soa_serial(&a.r[0]) == 3,
	   "IXFR from a serial after ours: the SOA alone");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_IXFR, Q_SOA_AUTH, 0xfffffff0u, NULL);
	ask(&q, &sec_addr, true, &s, &a);
	ok(a.rcode == 0 && is_axfr_of(&a, z3),
	   "IXFR from a serial before the history (RFC 1982): the whole zone");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_IXFR, Q_SOA_AUTH, 1, NULL);
	ask(&q, &sec_addr, false, &s, &a);
	ok(s.n == 1 && a.rcode == 0 && a.n == 1 && soa_serial(&a.r[0]) == 3,
	   "IXFR over UDP: the SOA alone");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_IXFR, Q_SOA_AUTH, 1, &kk_good);
	ask(&q, &keyed_addr, true, &s, &a);
	ok(a.rcode == 0 &&
	       a.n ==
		   1 + 1 + d12.nremoved + 1 + d12.nadded + 1 + d23.nremoved + 1 + d23.nadded + 1 &&
	       client_verifies(&s, &q, &kk_good),
	   "signed IXFR: the chain, and the client accepts its TSIG");
	sink_clear(&s);
	answer_clear(&a);

	make_query(&q, "test.", KNOT_RRTYPE_IXFR, Q_NONE, 1, NULL);
	ask(&q, &sec_addr, true, &s, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_FORMERR && a.n == 0,
	   "IXFR without the client's SOA: FORMERR");
	sink_clear(&s);
	answer_clear(&a);

	/* The journal leads past the version served (a publication that never finished): AXFR form.
	 */
	rs_version_t *v2;
	rs_version_new(z2, &v2);
	rs_xfr_serve(srv, origin, v2, j, sec, 2);
	make_query(&q, "test.", KNOT_RRTYPE_IXFR, Q_SOA_AUTH, 1, NULL);
	ask(&q, &sec_addr, true, &s, &a);
	ok(a.rcode == 0 && is_axfr_of(&a, z2),
	   "a chain that does not end at the served serial: the whole zone");
	sink_clear(&s);
	answer_clear(&a);

	rs_xfr_serve(srv, origin, v3, NULL, sec, 2);
	make_query(&q, "test.", KNOT_RRTYPE_IXFR, Q_SOA_AUTH, 2, NULL);
	ask(&q, &sec_addr, true, &s, &a);
	ok(a.rcode == 0 && is_axfr_of(&a, z3), "no journal: IXFR gets the whole zone");
	sink_clear(&s);
	answer_clear(&a);

	/* The table keeps versions alive; the journal is only borrowed. */
	rs_xfr_serve(srv, origin, NULL, NULL, NULL, 0);
	make_query(&q, "test.", KNOT_RRTYPE_SOA, Q_NONE, 0, NULL);
	ask(&q, &sec_addr, false, &s, &a);
	ok(a.rcode == KNOT_RCODE_REFUSED, "a zone no longer served: REFUSED");
	sink_clear(&s);
	answer_clear(&a);

	test_race(v2, v3);
	rs_version_unref(v2);
	rs_journal_close(j);
	rs_diff_clear(&d12);
	rs_diff_clear(&d23);
	unlink(path);
	rmdir(dir);
}

/* ---- malformed queries ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* Answers to garbage: none, or a parseable message with our ID and QR set that holds no records. */
static int garbage_answer_bad;
static void feed(const uint8_t *buf, size_t len, bool tcp, const struct sockaddr_storage *from)
{
	sink_t s = {0};
	int ret = rs_xfr_answer(srv, (const struct sockaddr *)from, tcp, buf, len, collect, &s);
	if (ret == RS_EOK && s.n == 0)
		garbage_answer_bad++;
	for (size_t i = 0; i < s.n; i++) {
		uint8_t *copy = malloc(s.len[i]);
		memcpy(copy, s.msg[i], s.len[i]);
		knot_pkt_t *p = knot_pkt_new(copy, (uint16_t)s.len[i], NULL);
		if (knot_pkt_parse(p, 0) != KNOT_EOK || !knot_wire_get_qr(p->wire) ||
		    (len >= 2 && memcmp(p->wire, buf, 2) != 0))
			garbage_answer_bad++;
		knot_pkt_free(p);
		free(copy);
	}
	sink_clear(&s);
}

static void test_malformed(void)
{
	query_t q;
	sink_t s;
	answer_t a;
	uint8_t buf[4200];

	make_query(&q, "test.", KNOT_RRTYPE_AXFR, Q_NONE, 0, NULL);
	memcpy(buf, q.wire, q.len);
	buf[2] |= 0x80; /* QR */
	memset(&s, 0, sizeof(s));
	int ret =
	    rs_xfr_answer(srv, (const struct sockaddr *)&sec_addr, true, buf, q.len, collect, &s);
	ok(ret != RS_EOK && s.n == 0, "a message with QR set gets no answer");
	sink_clear(&s);

	memcpy(buf, q.wire, q.len);
	buf[2] |= 0x02; /* TC */
	memset(&s, 0, sizeof(s));
	rs_xfr_answer(srv, (const struct sockaddr *)&sec_addr, true, buf, q.len, collect, &s);
	read_answer(&s, q.id, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_FORMERR && a.n == 0, "a query with TC set: FORMERR");
	sink_clear(&s);
	answer_clear(&a);

	memcpy(buf, q.wire, q.len);
	buf[2] = (uint8_t)((buf[2] & ~0x78) | (KNOT_OPCODE_UPDATE << 3));
	memset(&s, 0, sizeof(s));
	rs_xfr_answer(srv, (const struct sockaddr *)&sec_addr, true, buf, q.len, collect, &s);
	read_answer(&s, q.id, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_NOTIMPL && a.n == 0, "opcode UPDATE: NOTIMP");
	sink_clear(&s);
	answer_clear(&a);

	/* Two questions: the same one twice, QDCOUNT 2. */
	size_t qlen = q.len - 12;
	memcpy(buf, q.wire, q.len);
	memcpy(buf + q.len, q.wire + 12, qlen);
	buf[5] = 2;
	memset(&s, 0, sizeof(s));
	ret = rs_xfr_answer(srv, (const struct sockaddr *)&sec_addr, true, buf, q.len + qlen,
			    collect, &s);
	read_answer(&s, q.id, &a);
	ok((s.n == 0 && ret != RS_EOK) || (s.n == 1 && a.rcode == KNOT_RCODE_FORMERR && a.n == 0),
	   "two questions: FORMERR or no answer, never records");
	sink_clear(&s);
	answer_clear(&a);

	memcpy(buf, q.wire, q.len);
	buf[q.len] = 0xab;
	memset(&s, 0, sizeof(s));
	ret = rs_xfr_answer(srv, (const struct sockaddr *)&sec_addr, true, buf, q.len + 1, collect,
			    &s);
	ok(s.n == 0 || (s.n == 1 && s.len[0] < 100),
	   "trailing garbage: FORMERR or no answer, never records");
	sink_clear(&s);

	memcpy(buf, q.wire, q.len);
	buf[5] = 0;
	memset(&s, 0, sizeof(s));
	rs_xfr_answer(srv, (const struct sockaddr *)&sec_addr, true, buf, 12, collect, &s);
	read_answer(&s, q.id, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_FORMERR, "no question: FORMERR");
	sink_clear(&s);
	answer_clear(&a);

	/* Class CH. */
	memcpy(buf, q.wire, q.len);
	buf[q.len - 1] = 3;
	memset(&s, 0, sizeof(s));
	rs_xfr_answer(srv, (const struct sockaddr *)&sec_addr, true, buf, q.len, collect, &s);
	read_answer(&s, q.id, &a);
	ok(s.n == 1 && a.rcode == KNOT_RCODE_REFUSED && a.n == 0, "class CH: REFUSED");
	sink_clear(&s);
	answer_clear(&a);

	garbage_answer_bad = 0;
	for (size_t len = 0; len < q.len; len++)
		feed(q.wire, len, true, &sec_addr);
	query_t sq;
	make_query(&sq, "test.", KNOT_RRTYPE_IXFR, Q_SOA_AUTH, 1, &kk_good);
	for (size_t len = 0; len < sq.len; len++)
		feed(sq.wire, len, true, &keyed_addr);
	ok(garbage_answer_bad == 0, "every truncation of a query: no answer or a well-formed one");

	garbage_answer_bad = 0;
	for (int i = 0; i < 3000; i++) {
		size_t len = rnd() % 300;
		for (size_t b = 0; b < len; b++)
			buf[b] = (uint8_t)rnd();
		buf[2] &= 0x7f; /* mostly queries, to get past the first check */
		feed(buf, len, i % 2, &sec_addr);
	}
	ok(garbage_answer_bad == 0, "3000 random messages: no crash, no malformed answer");

	garbage_answer_bad = 0;
	for (int i = 0; i < 4000; i++) {
		const query_t *base = i % 2 ? &sq : &q;
		memcpy(buf, base->wire, base->len);
		int flips = 1 + (int)(rnd() % 4);
		for (int f = 0; f < flips; f++)
			buf[rnd() % base->len] ^= (uint8_t)(1u << (rnd() % 8));
		buf[2] &= 0x7f;
		feed(buf, base->len, true, i % 3 ? &keyed_addr : &sec_addr);
	}
	ok(garbage_answer_bad == 0,
	   "4000 mutated AXFR/IXFR queries: no crash, no malformed answer");
}

/* ---- NOTIFY ---- */

enum {
	SEC_NOERROR,
	SEC_SILENT,
	SEC_REFUSED,
	SEC_SIGNED,
	SEC_UNSIGNED,
	SEC_WRONG_ID_FIRST,
	SEC_SERVFAIL
};

typedef struct {
	int fd;
	int mode;
	const knot_tsig_key_t *key;
	/* What the secondary saw. */
	bool got;
	int opcode;
	bool aa;
	uint32_t serial;
	bool qname_ok;
	int tsig_check; /* knot_tsig_server_check's result, or 1 if no TSIG */
} secondary_t;

static void *secondary_main(void *arg)
{
	secondary_t *s = arg;
	uint8_t buf[65535];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	ssize_t len = recvfrom(s->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
	if (len < 12)
		return NULL;
	knot_pkt_t *q = knot_pkt_new(buf, (uint16_t)len, NULL);
	if (knot_pkt_parse(q, 0) != KNOT_EOK) {
		knot_pkt_free(q);
		return NULL;
	}
	s->got = true;
	s->opcode = knot_wire_get_opcode(q->wire);
	s->aa = knot_wire_get_aa(q->wire);
	s->qname_ok = knot_pkt_qname(q) && knot_dname_is_equal(knot_pkt_qname(q), origin) &&
		      knot_pkt_qtype(q) == KNOT_RRTYPE_SOA;
	const knot_pktsection_t *an = knot_pkt_section(q, KNOT_ANSWER);
	if (an->count == 1 && knot_pkt_rr(an, 0)->type == KNOT_RRTYPE_SOA)
		s->serial = knot_soa_serial(knot_pkt_rr(an, 0)->rrs.rdata);
	s->tsig_check = 1;
	if (q->tsig_rr != NULL && s->key != NULL)
		s->tsig_check = knot_tsig_server_check(q->tsig_rr, q->wire, q->size, s->key);
	if (s->mode == SEC_SILENT) {
		knot_pkt_free(q);
		return NULL;
	}
	knot_pkt_t *r = knot_pkt_new(NULL, 4096, NULL);
	knot_pkt_init_response(r, q);
	knot_wire_set_rcode(r->wire, s->mode == SEC_REFUSED    ? KNOT_RCODE_REFUSED
				     : s->mode == SEC_SERVFAIL ? KNOT_RCODE_SERVFAIL
							       : KNOT_RCODE_NOERROR);
	if (s->mode == SEC_WRONG_ID_FIRST) {
		uint8_t w[4096];
		memcpy(w, r->wire, r->size);
		knot_wire_set_id(w, (uint16_t)(knot_wire_get_id(w) + 1));
		knot_wire_set_rcode(w, KNOT_RCODE_REFUSED);
		sendto(s->fd, w, r->size, 0, (struct sockaddr *)&from, flen);
	}
	if (s->mode == SEC_SIGNED && q->tsig_rr != NULL) {
		uint8_t mac[64];
		size_t mac_len = sizeof(mac);
		knot_tsig_sign(r->wire, &r->size, r->max_size, knot_tsig_rdata_mac(q->tsig_rr),
			       knot_tsig_rdata_mac_length(q->tsig_rr), mac, &mac_len, s->key, 0, 0);
	}
	sendto(s->fd, r->wire, r->size, 0, (struct sockaddr *)&from, flen);
	knot_pkt_free(r);
	knot_pkt_free(q);
	return NULL;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One NOTIFY to a secondary thread playing mode; returns rs_notify_send's code. */
static int notify_once(int mode, const rs_tsig_key_t *key, const knot_tsig_key_t *kkey,
		       secondary_t *s, int timeout_ms, rs_diag_t *d, int64_t *elapsed)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->key = kkey;
	s->fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_storage a = addr4("127.0.0.1", 0);
	socklen_t alen = sizeof(struct sockaddr_in);
	bind(s->fd, (struct sockaddr *)&a, alen);
	getsockname(s->fd, (struct sockaddr *)&a, &alen);
	pthread_t t;
	pthread_create(&t, NULL, secondary_main, s);
	rs_secondary_t to = {.addr = a, .addr_len = alen, .key = key};
	int64_t t0 = mono_ms();
	d->text[0] = '\0';
	int ret = rs_notify_send(origin, 2024061501u, &to, timeout_ms, d);
	*elapsed = mono_ms() - t0;
	if (mode == SEC_SILENT || !s->got)
		shutdown(s->fd, SHUT_RDWR);
	pthread_join(t, NULL);
	close(s->fd);
	return ret;
}

static void test_notify(void)
{
	secondary_t s;
	rs_diag_t d;
	int64_t ms;

	int ret = notify_once(SEC_NOERROR, NULL, NULL, &s, 2000, &d, &ms);
	is_int(ret, RS_EOK, "NOTIFY answered NOERROR: RS_EOK");
	ok(s.got && s.opcode == KNOT_OPCODE_NOTIFY && s.aa && s.qname_ok,
	   "the secondary got opcode NOTIFY, AA, test. SOA");
	is_int(s.serial, 2024061501u, "and the serial in the answer section's SOA");
	ok(s.tsig_check == 1, "no TSIG without a key");

	ret = notify_once(SEC_SILENT, NULL, NULL, &s, 300, &d, &ms);
	is_int(ret, -ETIMEDOUT, "a secondary that never answers: -ETIMEDOUT");
	ok(ms >= 280 && ms < 3000, "within the timeout (%lld ms of 300)", (long long)ms);
	ok(strstr(d.text, "127.0.0.1@") != NULL, "the diagnostic names the address: %s", d.text);

	ret = notify_once(SEC_REFUSED, NULL, NULL, &s, 2000, &d, &ms);
	is_int(ret, RS_EDENIED, "answered REFUSED: RS_EDENIED");
	ok(strstr(d.text, "REFUSED") != NULL && strstr(d.text, "127.0.0.1@") != NULL,
	   "the diagnostic has the address and the rcode: %s", d.text);

	ret = notify_once(SEC_SERVFAIL, NULL, NULL, &s, 2000, &d, &ms);
	is_int(ret, RS_EINVAL, "answered SERVFAIL: RS_EINVAL");
	ok(strstr(d.text, "SERVFAIL") != NULL, "with its name: %s", d.text);

	ret = notify_once(SEC_WRONG_ID_FIRST, NULL, NULL, &s, 2000, &d, &ms);
	is_int(ret, RS_EOK, "an answer with another ID is ignored, the right one taken");

	ret = notify_once(SEC_SIGNED, &key_good, &kk_good, &s, 2000, &d, &ms);
	is_int(ret, RS_EOK, "NOTIFY with TSIG, a signed NOERROR answer: RS_EOK");
	ok(s.got && s.tsig_check == KNOT_EOK, "the secondary verified the NOTIFY's TSIG");
	is_int(s.serial, 2024061501u, "signed NOTIFY carries the serial");

	ret = notify_once(SEC_SIGNED, &key_good, &kk_wrong_secret, &s, 300, &d, &ms);
	ok(s.tsig_check != KNOT_EOK && ret != RS_EOK,
	   "a secondary with another secret rejects it, and its answer is not taken");

	ret = notify_once(SEC_UNSIGNED, &key_good, &kk_good, &s, 300, &d, &ms);
	is_int(ret, -ETIMEDOUT, "keyed NOTIFY: an unsigned NOERROR answer is discarded");
	ok(strstr(d.text, "unsigned") != NULL, "and the diagnostic says so: %s", d.text);
}

/* ---- parsers ---- */

static void test_parsers(void)
{
	rs_tsig_key_t k;
	rs_diag_t d;
	is_int(rs_tsig_key_parse("xfr.test.:hmac-sha512:c2VjcmV0IHNlY3JldA==", &k, &d), RS_EOK,
	       "NAME:ALG:BASE64");
	ok(strcmp(k.name, "xfr.test.") == 0 && strcmp(k.algorithm, "hmac-sha512") == 0 &&
	       k.secret_len == 13 && memcmp(k.secret, "secret secret", 13) == 0,
	   "name, algorithm, secret");
	is_int(rs_tsig_key_parse("Xfr.Test:c2VjcmV0", &k, &d), RS_EOK, "NAME:BASE64");
	ok(strcmp(k.name, "xfr.test.") == 0 && strcmp(k.algorithm, "hmac-sha256") == 0 &&
	       k.secret_len == 6,
	   "hmac-sha256 by default, name lowercased with its dot");
	is_int(rs_tsig_key_parse("hmac-sha1:xfr.test:c2VjcmV0", &k, &d), RS_EOK,
	       "dig's ALG:NAME:BASE64 too");
	ok(strcmp(k.name, "xfr.test.") == 0 && strcmp(k.algorithm, "hmac-sha1") == 0,
	   "read as dig means it");
	is_int(rs_tsig_key_parse("k:HMAC-MD5:YQ==", &k, &d), RS_EOK, "hmac-md5, any case");

	/* clang-format off */
	static const char *const bad[] = {
		"nosecret", "k:hmac-sha999:c2VjcmV0", "k:hmac-sha256:c2VjcmV", "k:hmac-sha256:c2Vj cmV0",
		"k:hmac-sha256:c2=jcmV0", "k:hmac-sha256:", ":c2VjcmV0", "k:a:b:c2VjcmV0", "k:hmac-sha256:====",
		"k:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB",
		"bad..name:c2VjcmV0",
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d.text[0] = '\0';
		int ret = rs_tsig_key_parse(bad[i], &k, &d);
		const char *secret = strrchr(bad[i], ':');
		bool leaks =
		    secret != NULL && strlen(secret + 1) > 3 && strstr(d.text, secret + 1) != NULL;
		ok(ret == RS_ESYNTAX && d.text[0] != '\0' && strchr(d.text, '\n') == NULL && !leaks,
		   "bad key '%.24s': RS_ESYNTAX, one line, no secret: %s", bad[i], d.text);
	}

	rs_secondary_t s;
	is_int(rs_secondary_parse("192.0.2.1", &s, &d), RS_EOK, "secondary ADDR");
	ok(s.addr.ss_family == AF_INET && ntohs(((struct sockaddr_in *)&s.addr)->sin_port) == 53 &&
	       s.addr_len == sizeof(struct sockaddr_in),
	   "IPv4, port 53 by default");
	is_int(rs_secondary_parse("192.0.2.1@5353", &s, &d), RS_EOK, "ADDR@PORT");
	is_int(ntohs(((struct sockaddr_in *)&s.addr)->sin_port), 5353, "port 5353");
	is_int(rs_secondary_parse("2001:db8::1@54", &s, &d), RS_EOK, "IPv6@PORT");
	ok(s.addr.ss_family == AF_INET6 &&
	       ntohs(((struct sockaddr_in6 *)&s.addr)->sin6_port) == 54 &&
	       s.addr_len == sizeof(struct sockaddr_in6),
	   "IPv6, port 54");
	is_int(rs_secondary_parse("::1", &s, &d), RS_EOK, "::1");
	is_int(rs_secondary_parse("[::1]@5300", &s, &d), RS_EOK, "[::1]@5300");
	/* clang-format off */
	static const char *const badsec[] = {
		"", "@53", "192.0.2.1@", "192.0.2.1@0", "192.0.2.1@65536", "192.0.2.1@53x", "ns.example",
		"192.0.2.256", "[192.0.2.1]", "1.2.3.4@-1",
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(badsec) / sizeof(badsec[0]); i++) {
		d.text[0] = '\0';
		ok(rs_secondary_parse(badsec[i], &s, &d) == RS_ESYNTAX && d.text[0] != '\0',
		   "bad secondary '%s': RS_ESYNTAX: %s", badsec[i], d.text);
	}
}

int main(void)
{
	memcpy(origin, wire("test."), RS_NAME_MAX);
	test_parsers();

	rs_diag_t d;
	if (rs_tsig_key_parse("xfr.test.:hmac-sha256:c2VjcmV0IGtleSBvZiB0aGUgc2Vjb25kYXJ5",
			      &key_good, &d) != RS_EOK ||
	    rs_tsig_key_parse("other.test.:hmac-sha256:YW5vdGhlciBzZWNvbmRhcnkncyBrZXk=",
			      &key_other, &d) != RS_EOK)
		return printf("# %s\n", d.text), 1;
	rs_tsig_key_t wrong = key_good, unknown = key_good;
	wrong.secret[0] ^= 1;
	snprintf(unknown.name, sizeof(unknown.name), "nobody.test.");
	to_knot(&key_good, kk_names[0], &kk_good);
	to_knot(&wrong, kk_names[1], &kk_wrong_secret);
	to_knot(&key_other, kk_names[2], &kk_other);
	to_knot(&unknown, kk_names[3], &kk_unknown);
	/* kk_wrong_secret borrows wrong's secret: keep it alive (main's frame). */

	sec_addr = addr4("127.0.0.1", 53);
	keyed_addr = addr4("127.0.0.2", 53);
	other_addr = addr4("192.0.2.99", 53);
	struct sockaddr_storage other_sec = addr4("127.0.0.3", 53);

	rs_zone_t *z1 = zone(1, 0), *z2 = zone(2, 1), *z3 = zone(3, 2);
	if (!ok(z1 && z2 && z3, "three versions of test. (serials 1, 2, 3)"))
		return done_testing();
	rs_xfr_events_t ev = {.transfer = on_transfer, .arg = &seen};
	is_int(rs_xfr_server_new(&ev, &srv), RS_EOK, "server");
	rs_version_t *v3;
	is_int(rs_version_new(z3, &v3), RS_EOK, "version of serial 3");
	rs_tsig_key_t lent = key_good;
	rs_secondary_t secs[3] = {
	    {.addr = sec_addr, .addr_len = sizeof(struct sockaddr_in)},
	    {.addr = keyed_addr, .addr_len = sizeof(struct sockaddr_in), .key = &lent},
	    {.addr = other_sec, .addr_len = sizeof(struct sockaddr_in), .key = &key_other},
	};
	is_int(rs_xfr_serve(srv, wire("TEST."), v3, NULL, secs, 3), RS_EOK,
	       "serve test. (origin in upper case)");
	/* The table copied the keys: wiping the one lent changes nothing. */
	memset(&lent, 0, sizeof(lent));
	secs[1].key = &key_good;
	test_soa_and_refusals(z3);
	test_axfr(z3);
	test_tsig(z3);
	test_unpublished(secs, 3);

	test_ixfr(z1, z2, z3, v3); /* z2 goes into a version there */
	rs_xfr_serve(srv, origin, v3, NULL, secs, 3);
	test_malformed();
	test_big();

	rs_xfr_server_free(srv);
	rs_version_unref(v3);
	rs_zone_free(z1);

	test_notify();
	return done_testing();
}
