/*
 * answer: the primary's side of zone transfers. A table of served zones
 * (origin, version, journal, secondaries) behind a read-write lock, and the
 * answerer: SOA queries, AXFR (RFC 5936) and IXFR (RFC 1995) with TSIG
 * (RFC 8945). All wire work is libknot's: the query is parsed by
 * knot_pkt_parse and the answer built with knot_pkt_put.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libknot/libknot.h>

#include "regsign/session.h"
#include "regsign/xfr.h"
#include "internal.h"

#define MAC_MAX 64	      /* HMAC-SHA512, the longest TSIG MAC */
#define GROUP_MAX (60 * 1024) /* RDATA of one knot_rrset_t put at once */
#define EDNS_PAYLOAD 1232     /* the DNS flag day 2020 size */

/* One secondary as the table keeps it: its own copy of the key. */
typedef struct {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool keyed;
	rs_tsig_key_t key;
} sec_t;

typedef struct {
	uint8_t origin[RS_NAME_MAX];
	size_t origin_len;
	rs_version_t *version; /* NULL: expected, nothing published yet (rs_xfr_expect) */
	rs_journal_t *journal;
	sec_t *secs;
	size_t nsecs;
} served_t;

struct rs_xfr_server {
	pthread_rwlock_t lock;
	rs_xfr_events_t events;
	served_t *zones;
	size_t nzones, cap;
};

/* ---- keys ---- */


/* ---- the table ---- */

int rs_xfr_server_new(const rs_xfr_events_t *events, rs_xfr_server_t **out)
{
	rs_xfr_server_t *srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return RS_ENOMEM;
	/* Writers first: a steady stream of transfers must not hold a publication back. */
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	int ret = pthread_rwlock_init(&srv->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (ret != 0) {
		free(srv);
		return RS_ENOMEM;
	}
	if (events != NULL)
		srv->events = *events;
	*out = srv;
	return RS_EOK;
}

static void secs_free(sec_t *secs, size_t n)
{
	if (secs == NULL)
		return;
	rs_wipe(secs, n * sizeof(*secs));
	free(secs);
}

void rs_xfr_server_free(rs_xfr_server_t *srv)
{
	if (srv == NULL)
		return;
	for (size_t i = 0; i < srv->nzones; i++) {
		rs_version_unref(srv->zones[i].version);
		secs_free(srv->zones[i].secs, srv->zones[i].nsecs);
	}
	free(srv->zones);
	pthread_rwlock_destroy(&srv->lock);
	free(srv);
}

static served_t *find_zone(rs_xfr_server_t *srv, const uint8_t *origin, size_t len)
{
	for (size_t i = 0; i < srv->nzones; i++)
		if (srv->zones[i].origin_len == len &&
		    memcmp(srv->zones[i].origin, origin, len) == 0)
			return &srv->zones[i];
	return NULL;
}

/* The table entry of origin: kept (with version, maybe NULL) or dropped. */
static int table_set(rs_xfr_server_t *srv, const uint8_t *origin, bool keep, rs_version_t *version,
		     rs_journal_t *journal, const rs_secondary_t *secondaries, size_t nsecondaries)
{
	if (srv == NULL || origin == NULL || (nsecondaries > 0 && secondaries == NULL))
		return RS_EINVAL;
	uint8_t lower[RS_NAME_MAX];
	size_t len = rs_dname_len(origin, RS_NAME_MAX);
	if (len == 0)
		return RS_EINVAL;
	memcpy(lower, origin, len);
	rs_dname_lower(lower);

	/* Everything that can fail happens before the table changes. */
	sec_t *secs = NULL;
	if (keep && nsecondaries > 0) {
		secs = calloc(nsecondaries, sizeof(*secs));
		if (secs == NULL)
			return RS_ENOMEM;
		for (size_t i = 0; i < nsecondaries; i++) {
			const rs_secondary_t *s = &secondaries[i];
			if (s->addr_len > sizeof(s->addr) ||
			    (s->addr.ss_family != AF_INET && s->addr.ss_family != AF_INET6)) {
				secs_free(secs, nsecondaries);
				return RS_EINVAL;
			}
			secs[i].addr = s->addr;
			secs[i].addr_len = s->addr_len;
			if (s->key != NULL) {
				uint8_t name[KNOT_DNAME_MAXLEN];
				knot_tsig_key_t k;
				if (xfr_knot_key(s->key, name, &k) != RS_EOK) {
					secs_free(secs, nsecondaries);
					return RS_EKEY;
				}
				secs[i].keyed = true;
				secs[i].key = *s->key;
			}
		}
	}

	sec_t *old_secs = NULL;
	size_t old_nsecs = 0;
	rs_version_t *old = NULL;
	int ret = RS_EOK;
	pthread_rwlock_wrlock(&srv->lock);
	served_t *z = find_zone(srv, lower, len);
	if (!keep) {
		if (z != NULL) {
			old = z->version;
			old_secs = z->secs;
			old_nsecs = z->nsecs;
			*z = srv->zones[--srv->nzones];
		}
	} else {
		if (z == NULL && srv->nzones == srv->cap) {
			size_t cap = srv->cap ? 2 * srv->cap : 8;
			served_t *grown = realloc(srv->zones, cap * sizeof(*grown));
			if (grown == NULL) {
				ret = RS_ENOMEM;
				goto unlock;
			}
			srv->zones = grown;
			srv->cap = cap;
		}
		if (z == NULL) {
			z = &srv->zones[srv->nzones++];
			memset(z, 0, sizeof(*z));
			memcpy(z->origin, lower, len);
			z->origin_len = len;
		}
		old = z->version;
		old_secs = z->secs;
		old_nsecs = z->nsecs;
		z->version = version != NULL ? rs_version_ref(version) : NULL;
		z->journal = journal;
		z->secs = secs;
		z->nsecs = nsecondaries;
		secs = NULL;
	}
unlock:
	pthread_rwlock_unlock(&srv->lock);
	/* The table no longer points at these: transfers hold their own references. */
	rs_version_unref(old);
	secs_free(old_secs, old_nsecs);
	secs_free(secs, nsecondaries);
	return ret;
}

int rs_xfr_serve(rs_xfr_server_t *srv, const uint8_t *origin, rs_version_t *version,
		 rs_journal_t *journal, const rs_secondary_t *secondaries, size_t nsecondaries)
{
	return table_set(srv, origin, version != NULL, version, journal, secondaries, nsecondaries);
}

int rs_xfr_expect(rs_xfr_server_t *srv, const uint8_t *origin, const rs_secondary_t *secondaries,
		  size_t nsecondaries)
{
	return table_set(srv, origin, true, NULL, NULL, secondaries, nsecondaries);
}

/* ---- one answer ---- */

typedef struct {
	rs_xfr_server_t *srv;
	const struct sockaddr *from;
	bool tcp;
	knot_pkt_t *q;
	knot_pkt_t *resp;
	rs_xfr_send_t send;
	void *arg;
	int send_ret;

	/* EDNS (RFC 6891 7: a request with OPT gets OPT back). */
	bool edns;
	knot_rrset_t opt;
	uint16_t opt_size;

	/* TSIG: the key the query was checked with, and the MAC chain (RFC 8945 5.3.1). */
	bool have_key;
	sec_t key;
	uint8_t key_name[KNOT_DNAME_MAXLEN];
	knot_tsig_key_t kkey;
	uint16_t tsig_rcode;
	uint8_t mac[MAC_MAX];
	size_t mac_len;
	uint64_t time_signed;
	size_t nmsg;

	/* The message being filled. */
	bool aa;
	uint16_t rcode;
	size_t msg_rrs;

	/* Records of one owner, type and TTL waiting to go in as one knot_rrset_t. */
	const uint8_t *g_owner;
	uint16_t g_type;
	uint32_t g_ttl;
	uint16_t g_count;
	uint32_t g_size;
	uint8_t *g_buf;
} ctx_t;

static bool signing(const ctx_t *c)
{
	return c->have_key && knot_tsig_can_sign(c->tsig_rcode);
}

static int msg_begin(ctx_t *c)
{
	int ret = knot_pkt_init_response(c->resp, c->q);
	if (ret != KNOT_EOK)
		return RS_EINVAL;
	knot_wire_clear_cd(c->resp->wire);
	if (c->aa)
		knot_wire_set_aa(c->resp->wire);
	knot_wire_set_rcode(c->resp->wire, KNOT_EDNS_RCODE_LO(c->rcode));
	uint16_t tsig = 0;
	if (c->have_key)
		tsig = (uint16_t)knot_tsig_wire_maxsize(&c->kkey);
	if (knot_pkt_reserve(c->resp, c->opt_size + tsig) != KNOT_EOK)
		return RS_ERANGE;
	c->msg_rrs = 0;
	return knot_pkt_begin(c->resp, KNOT_ANSWER) == KNOT_EOK ? RS_EOK : RS_EINVAL;
}

/* OPT, TSIG, and out it goes. */
static int msg_end(ctx_t *c)
{
	knot_pkt_t *r = c->resp;
	if (c->edns) {
		knot_pkt_reclaim(r, c->opt_size);
		if (knot_pkt_begin(r, KNOT_ADDITIONAL) != KNOT_EOK ||
		    knot_pkt_put(r, KNOT_COMPR_HINT_NONE, &c->opt, KNOT_PF_NOTRUNC) != KNOT_EOK)
			return RS_ERANGE;
	}
	int ret = KNOT_EOK;
	if (signing(c)) {
		size_t len = sizeof(c->mac);
		if (c->nmsg == 0)
			ret = knot_tsig_sign(r->wire, &r->size, r->max_size, c->mac, c->mac_len,
					     c->mac, &len, &c->kkey, c->tsig_rcode, c->time_signed);
		else
			ret =
			    knot_tsig_sign_next(r->wire, &r->size, r->max_size, c->mac, c->mac_len,
						c->mac, &len, &c->kkey, r->wire, r->size);
		if (ret == KNOT_EOK)
			c->mac_len = len;
	} else if (c->q->tsig_rr != NULL && c->tsig_rcode != KNOT_RCODE_NOERROR) {
		/* RFC 8945 5.3.2: BADKEY and BADSIG answers carry the error in an unsigned TSIG. */
		ret = knot_tsig_add(r->wire, &r->size, r->max_size, c->tsig_rcode, c->q->tsig_rr);
	}
	if (ret != KNOT_EOK)
		return RS_ECRYPTO;
	c->nmsg++;
	c->send_ret = c->send(c->arg, r->wire, r->size);
	return c->send_ret == 0 ? RS_EOK : RS_EIO;
}

static int put_one(ctx_t *c, const knot_rrset_t *rr)
{
	int ret = knot_pkt_put(c->resp, KNOT_COMPR_HINT_NONE, rr, KNOT_PF_NOTRUNC);
	if (ret == KNOT_EOK) {
		c->msg_rrs += rr->rrs.count;
		return RS_EOK;
	}
	return ret == KNOT_ESPACE ? RS_ELIMIT : RS_EINVAL;
}

/* Put rr; when the message is full, send it and go on in a new one (RFC 5936 2.2). */
static int put_rrset(ctx_t *c, const knot_rrset_t *rr)
{
	int ret = put_one(c, rr);
	if (ret != RS_ELIMIT || c->msg_rrs == 0 || !c->tcp)
		return ret;
	if ((ret = msg_end(c)) != RS_EOK || (ret = msg_begin(c)) != RS_EOK)
		return ret;
	return put_one(c, rr);
}

static int flush_group(ctx_t *c)
{
	if (c->g_count == 0)
		return RS_EOK;
	knot_rrset_t rr;
	knot_rrset_init(&rr, (knot_dname_t *)c->g_owner, c->g_type, KNOT_CLASS_IN, c->g_ttl);
	rr.rrs.count = c->g_count;
	rr.rrs.size = c->g_size;
	rr.rrs.rdata = (knot_rdata_t *)c->g_buf;
	int ret = put_rrset(c, &rr);
	if (ret == RS_ELIMIT && c->tcp) {
		/* Larger than one message: a record at a time. */
		knot_rdata_t *rd = rr.rrs.rdata;
		ret = RS_EOK;
		for (uint16_t i = 0; i < c->g_count && ret == RS_EOK; i++) {
			knot_rrset_t one = rr;
			one.rrs.count = 1;
			one.rrs.size = (uint32_t)knot_rdata_size(rd->len);
			one.rrs.rdata = rd;
			ret = put_rrset(c, &one);
			rd = knot_rdataset_next(rd);
		}
	}
	c->g_count = 0;
	c->g_size = 0;
	return ret;
}

static bool same_name(const uint8_t *a, const uint8_t *b)
{
	if (a == b)
		return true;
	size_t la = knot_dname_size(a);
	return la == knot_dname_size(b) && memcmp(a, b, la) == 0;
}

/* One record into the answer, grouped with the ones before it when knot_pkt can take them as one
 * RRset. */
static int emit(ctx_t *c, const uint8_t *owner, uint16_t type, uint32_t ttl, const uint8_t *rdata,
		uint16_t rdlen)
{
	size_t size = knot_rdata_size(rdlen);
	if (size > GROUP_MAX)
		return RS_ERANGE;
	if (c->g_count > 0 && (type != c->g_type || ttl != c->g_ttl || c->g_count == UINT16_MAX ||
			       c->g_size + size > GROUP_MAX || !same_name(owner, c->g_owner))) {
		int ret = flush_group(c);
		if (ret != RS_EOK)
			return ret;
	}
	if (c->g_count == 0) {
		c->g_owner = owner;
		c->g_type = type;
		c->g_ttl = ttl;
	}
	knot_rdata_init((knot_rdata_t *)(c->g_buf + c->g_size), rdlen, rdata);
	c->g_size += (uint32_t)size;
	c->g_count++;
	return RS_EOK;
}

static int emit_rr(ctx_t *c, const rs_rr_t *rr)
{
	return emit(c, rs_name_wire(rr->owner), rr->type, rr->ttl, rr->rdata, rr->rdlen);
}

static int emit_xrr(ctx_t *c, const rs_xrr_t *rr)
{
	return emit(c, rr->owner, rr->type, rr->ttl, rr->rdata, rr->rdlen);
}

/* A message with rcode and nothing else (but OPT and TSIG). */
static int answer_rcode(ctx_t *c, uint16_t rcode)
{
	c->rcode = rcode;
	c->aa = false;
	int ret = msg_begin(c);
	return ret == RS_EOK ? msg_end(c) : ret;
}

static int answer_soa(ctx_t *c, const rs_zone_t *zone)
{
	c->rcode = KNOT_RCODE_NOERROR;
	c->aa = true;
	int ret = msg_begin(c);
	if (ret == RS_EOK)
		ret = emit_rr(c, rs_zone_soa(zone));
	if (ret == RS_EOK)
		ret = flush_group(c);
	if (ret == RS_ELIMIT && !c->tcp) {
		/* RFC 2181 9: what does not fit in UDP is truncated; the client retries over TCP.
		 */
		knot_wire_set_tc(c->resp->wire);
		ret = RS_EOK;
	}
	return ret == RS_EOK ? msg_end(c) : ret;
}

/* RFC 5936 2.2: SOA, every other record, SOA; as many messages as it takes. */
static int answer_axfr(ctx_t *c, const rs_zone_t *zone)
{
	const rs_rr_t *soa = rs_zone_soa(zone);
	c->rcode = KNOT_RCODE_NOERROR;
	c->aa = true;
	int ret = msg_begin(c);
	if (ret == RS_EOK)
		ret = emit_rr(c, soa);
	size_t nnodes;
	const rs_node_t *nodes = rs_zone_nodes(zone, &nnodes);
	const rs_rr_t *rrs = rs_zone_rrs(zone);
	for (size_t n = 0; n < nnodes && ret == RS_EOK; n++) {
		const rs_node_t *node = &nodes[n];
		for (uint32_t i = node->first; i < node->first + node->count && ret == RS_EOK;
		     i++) {
			if (&rrs[i] == soa ||
			    ((node->flags & RS_NODE_APEX) && rrs[i].type == RS_TYPE_SOA))
				continue;
			ret = emit_rr(c, &rrs[i]);
		}
	}
	if (ret == RS_EOK)
		ret = emit_rr(c, soa);
	if (ret == RS_EOK)
		ret = flush_group(c);
	return ret == RS_EOK ? msg_end(c) : ret;
}

/* RFC 1995 4: SOA(new), then for each diff SOA(from), removed, SOA(to), added; SOA(new) last. */
static int answer_ixfr(ctx_t *c, const rs_zone_t *zone, const rs_diff_t *diffs, size_t n)
{
	const rs_rr_t *soa = rs_zone_soa(zone);
	c->rcode = KNOT_RCODE_NOERROR;
	c->aa = true;
	int ret = msg_begin(c);
	if (ret == RS_EOK)
		ret = emit_rr(c, soa);
	for (size_t d = 0; d < n && ret == RS_EOK; d++) {
		ret = emit_xrr(c, &diffs[d].soa_from);
		for (size_t i = 0; i < diffs[d].nremoved && ret == RS_EOK; i++)
			ret = emit_xrr(c, &diffs[d].removed[i]);
		if (ret == RS_EOK)
			ret = emit_xrr(c, &diffs[d].soa_to);
		for (size_t i = 0; i < diffs[d].nadded && ret == RS_EOK; i++)
			ret = emit_xrr(c, &diffs[d].added[i]);
	}
	if (ret == RS_EOK)
		ret = emit_rr(c, soa);
	if (ret == RS_EOK)
		ret = flush_group(c);
	return ret == RS_EOK ? msg_end(c) : ret;
}

/* ---- access ---- */

/* The address of sa, with IPv4-mapped IPv6 (a dual-stack socket) as IPv4. */
static bool addr_of(const struct sockaddr *sa, int *family, const uint8_t **addr)
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		*family = AF_INET;
		*addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a, mapped, 12) == 0) {
			*family = AF_INET;
			*addr = a + 12;
		} else {
			*family = AF_INET6;
			*addr = a;
		}
		return true;
	}
	return false;
}

/* Same host, any port: a secondary's transfers come from ephemeral ports. */
static bool same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	int fa, fb;
	const uint8_t *xa, *xb;
	if (!addr_of(a, &fa, &xa) || !addr_of(b, &fb, &xb) || fa != fb)
		return false;
	return memcmp(xa, xb, fa == AF_INET ? 4 : 16) == 0;
}

static bool key_matches(const sec_t *s, const knot_rrset_t *tsig)
{
	uint8_t name[KNOT_DNAME_MAXLEN];
	knot_tsig_key_t k;
	return s->keyed && xfr_knot_key(&s->key, name, &k) == RS_EOK &&
	       knot_dname_is_case_equal(name, tsig->owner) &&
	       knot_tsig_rdata_alg(tsig) == k.algorithm;
}

/* What the table says about this query, copied out under the lock. */
typedef struct {
	bool served;
	rs_version_t *version; /* our reference */
	bool listed;	       /* from a secondary's address */
	bool key_required;     /* every secondary at that address has a key */
	bool key_found;	       /* the query's TSIG key is one of the zone's */
	bool key_listed;       /* ... and of a secondary at that address */
	sec_t key;
	rs_diff_t *diffs;
	size_t ndiffs;
	int journal_ret;
} lookup_t;

static void lookup(rs_xfr_server_t *srv, const knot_pkt_t *q, const struct sockaddr *from,
		   bool ixfr, uint32_t their_serial, lookup_t *out)
{
	memset(out, 0, sizeof(*out));
	out->journal_ret = RS_ENOENT;
	const uint8_t *qname = knot_pkt_qname(q);
	size_t qlen = knot_dname_size(qname);
	pthread_rwlock_rdlock(&srv->lock);
	served_t *z = find_zone(srv, qname, qlen);
	if (z == NULL)
		goto unlock;
	out->served = true;
	out->version = z->version != NULL ? rs_version_ref(z->version) : NULL;
	size_t at_addr = 0, keyed_at_addr = 0;
	for (size_t i = 0; i < z->nsecs; i++) {
		const sec_t *s = &z->secs[i];
		bool here = same_host((const struct sockaddr *)&s->addr, from);
		at_addr += here;
		keyed_at_addr += here && s->keyed;
		if (q->tsig_rr != NULL && key_matches(s, q->tsig_rr) &&
		    (!out->key_found || (here && !out->key_listed))) {
			out->key = *s;
			out->key_found = true;
			out->key_listed = here;
		}
	}
	out->listed = at_addr > 0;
	out->key_required = at_addr > 0 && keyed_at_addr == at_addr;
	/* The journal is read under the lock: once rs_xfr_serve returns, the old one is not touched
	 * again. */
	if (ixfr && z->journal != NULL && z->version != NULL &&
	    rs_serial_gt(rs_version_serial(z->version), their_serial)) {
		rs_diag_t d;
		out->journal_ret =
		    rs_journal_read(z->journal, their_serial, &out->diffs, &out->ndiffs, &d);
		if (out->journal_ret != RS_EOK) {
			out->diffs = NULL;
			out->ndiffs = 0;
		}
	}
unlock:
	pthread_rwlock_unlock(&srv->lock);
}

static void lookup_clear(lookup_t *l)
{
	rs_version_unref(l->version);
	for (size_t i = 0; i < l->ndiffs; i++)
		rs_diff_clear(&l->diffs[i]);
	free(l->diffs);
	rs_wipe(&l->key, sizeof(l->key));
}

/* A diff chain is usable only if it leads from their serial to exactly ours. */
static bool chain_ok(const rs_diff_t *d, size_t n, uint32_t from, uint32_t to)
{
	if (n == 0 || d[0].from != from || d[n - 1].to != to)
		return false;
	for (size_t i = 1; i < n; i++)
		if (d[i].from != d[i - 1].to)
			return false;
	return true;
}

/* The client's serial: the SOA of the zone in the IXFR query's authority section (RFC 1995 3). */
static bool ixfr_serial(const knot_pkt_t *q, uint32_t *serial)
{
	const knot_pktsection_t *ns = knot_pkt_section(q, KNOT_AUTHORITY);
	if (ns->count != 1)
		return false;
	const knot_rrset_t *rr = knot_pkt_rr(ns, 0);
	if (rr->type != KNOT_RRTYPE_SOA || rr->rrs.count != 1 ||
	    !knot_dname_is_case_equal(rr->owner, knot_pkt_qname(q)))
		return false;
	const knot_rdata_t *rd = rr->rrs.rdata;
	if (rd->len < 22)
		return false;
	const uint8_t *p = rd->data + rd->len - 20;
	*serial = knot_wire_read_u32(p);
	return true;
}

static void event(const ctx_t *c, const char *kind, uint32_t theirs, uint32_t ours, int result,
		  const char *why)
{
	if (c->srv->events.transfer != NULL)
		c->srv->events.transfer(c->srv->events.arg, knot_pkt_qname(c->q), c->from, kind,
					theirs, ours, result, why);
}

/*
 * RFC 8945 5.2: check the query's TSIG with the zone's key of that name.
 * Returns false when the answer is NOTAUTH with c->tsig_rcode.
 */
static bool check_tsig(ctx_t *c, const lookup_t *l)
{
	if (c->q->tsig_rr == NULL)
		return true;
	c->tsig_rcode = KNOT_RCODE_BADKEY;
	if (!l->key_found)
		return false;
	c->key = l->key;
	if (xfr_knot_key(&c->key.key, c->key_name, &c->kkey) != RS_EOK)
		return false;
	int ret = knot_tsig_server_check(c->q->tsig_rr, c->q->wire, c->q->size, &c->kkey);
	size_t mlen = knot_tsig_rdata_mac_length(c->q->tsig_rr);
	switch (ret) {
	case KNOT_EOK:
		c->tsig_rcode = KNOT_RCODE_NOERROR;
		break;
	case KNOT_TSIG_EBADTIME:
		/* Signed, with the client's time, so it can see the clocks differ (RFC 8945 5.2.3).
		 */
		c->tsig_rcode = KNOT_RCODE_BADTIME;
		c->time_signed = knot_tsig_rdata_time_signed(c->q->tsig_rr);
		break;
	case KNOT_TSIG_EBADKEY:
		return false;
	default:
		c->tsig_rcode = KNOT_RCODE_BADSIG;
		return false;
	}
	if (mlen > sizeof(c->mac)) {
		c->tsig_rcode = KNOT_RCODE_BADSIG;
		return false;
	}
	memcpy(c->mac, knot_tsig_rdata_mac(c->q->tsig_rr), mlen);
	c->mac_len = mlen;
	c->have_key = true;
	return c->tsig_rcode == KNOT_RCODE_NOERROR;
}

static const char *tsig_why(const ctx_t *c)
{
	if (c->tsig_rcode == KNOT_RCODE_BADKEY)
		return "TSIG key unknown (BADKEY)";
	if (c->tsig_rcode == KNOT_RCODE_BADTIME)
		return "TSIG time outside the fudge (BADTIME)";
	return "TSIG does not verify (BADSIG)";
}

/* Only the primary's business: SOA and transfers. */
static bool primary_query(uint16_t qtype)
{
	return qtype == KNOT_RRTYPE_SOA || qtype == KNOT_RRTYPE_AXFR || qtype == KNOT_RRTYPE_IXFR;
}

/*
 * A zone expected but not published yet: its secondaries (with their key)
 * get SERVFAIL, which they retry, not REFUSED, which tells them the zone is
 * not ours. Anyone else is refused as for a zone not served.
 */
static int answer_unpublished(ctx_t *c, const lookup_t *l, const char *kind, uint32_t theirs)
{
	bool xfr = knot_pkt_qtype(c->q) != KNOT_RRTYPE_SOA;
	if (!primary_query(knot_pkt_qtype(c->q)))
		return answer_rcode(c, KNOT_RCODE_REFUSED);
	if (!check_tsig(c, l)) {
		if (xfr)
			event(c, kind, theirs, 0, RS_EDENIED, tsig_why(c));
		return answer_rcode(c, KNOT_RCODE_NOTAUTH);
	}
	if (!l->listed) {
		if (xfr)
			event(c, kind, theirs, 0, RS_ENOENT, "zone not served");
		return answer_rcode(c, KNOT_RCODE_REFUSED);
	}
	if (l->key_required && !(c->have_key && l->key_listed)) {
		if (c->have_key) {
			c->tsig_rcode = KNOT_RCODE_BADKEY;
			c->have_key = false;
		}
		if (xfr)
			event(c, kind, theirs, 0, RS_EDENIED, "not the secondary's TSIG key");
		return answer_rcode(c, KNOT_RCODE_NOTAUTH);
	}
	if (xfr)
		event(c, kind, theirs, 0, RS_EBUSY, "nothing published yet (SERVFAIL: the secondary retries)");
	return answer_rcode(c, KNOT_RCODE_SERVFAIL);
}

static int answer_zone(ctx_t *c)
{
	uint16_t qtype = knot_pkt_qtype(c->q);
	bool ixfr = qtype == KNOT_RRTYPE_IXFR, axfr = qtype == KNOT_RRTYPE_AXFR;
	const char *kind = ixfr ? "IXFR" : "AXFR";
	uint32_t theirs = 0;
	if (ixfr && !ixfr_serial(c->q, &theirs)) {
		event(c, kind, 0, 0, RS_EINVAL, "no SOA in the authority section");
		return answer_rcode(c, KNOT_RCODE_FORMERR);
	}

	lookup_t l;
	lookup(c->srv, c->q, c->from, ixfr && c->tcp, theirs, &l);
	int ret;
	if (!l.served) {
		if (ixfr || axfr)
			event(c, kind, theirs, 0, RS_ENOENT, "zone not served");
		ret = answer_rcode(c, KNOT_RCODE_REFUSED);
		goto out;
	}
	if (l.version == NULL) {
		ret = answer_unpublished(c, &l, kind, theirs);
		goto out;
	}
	const rs_zone_t *zone = rs_version_zone(l.version);
	uint32_t ours = rs_version_serial(l.version);
	if (!check_tsig(c, &l)) {
		if (ixfr || axfr)
			event(c, kind, theirs, ours, RS_EDENIED, tsig_why(c));
		ret = answer_rcode(c, KNOT_RCODE_NOTAUTH);
		goto out;
	}
	if (qtype == KNOT_RRTYPE_SOA) {
		ret = answer_soa(c, zone);
		goto out;
	}
	if (!primary_query(qtype)) {
		ret = answer_rcode(c, KNOT_RCODE_REFUSED);
		goto out;
	}
	if (!c->tcp) {
		if (axfr) {
			/* RFC 5936 4.2: AXFR is for TCP. */
			event(c, kind, 0, ours, RS_EINVAL, "AXFR over UDP");
			ret = answer_rcode(c, KNOT_RCODE_FORMERR);
		} else {
			/* RFC 1995 2: the SOA alone tells the client to come back over TCP. */
			event(c, kind, theirs, ours, RS_EOK, "over UDP: SOA only");
			ret = answer_soa(c, zone);
		}
		goto out;
	}
	if (!l.listed) {
		event(c, kind, theirs, ours, RS_EDENIED, "not a secondary of the zone");
		ret = answer_rcode(c, KNOT_RCODE_REFUSED);
		goto out;
	}
	if (l.key_required && !(c->have_key && l.key_listed)) {
		if (c->have_key) {
			/* A key of the zone, but not this secondary's. */
			c->tsig_rcode = KNOT_RCODE_BADKEY;
			c->have_key = false;
		}
		event(c, kind, theirs, ours, RS_EDENIED,
		      c->q->tsig_rr == NULL ? "no TSIG where the secondary has a key"
					    : "not the secondary's TSIG key");
		ret = answer_rcode(c, KNOT_RCODE_NOTAUTH);
		goto out;
	}

	if (ixfr && (theirs == ours || rs_serial_gt(theirs, ours))) {
		event(c, kind, theirs, ours, RS_EOK, "up to date");
		ret = answer_soa(c, zone);
	} else if (ixfr && l.journal_ret == RS_EOK && chain_ok(l.diffs, l.ndiffs, theirs, ours)) {
		ret = answer_ixfr(c, zone, l.diffs, l.ndiffs);
		event(c, kind, theirs, ours, ret,
		      ret == RS_EOK ? "incremental" : "failed while sending");
	} else {
		/* RFC 1995 4: a serial outside the history gets the whole zone in the IXFR answer.
		 */
		ret = answer_axfr(c, zone);
		const char *why = ixfr ? "serial not in the history: the whole zone" : "whole zone";
		event(c, kind, theirs, ours, ret, ret == RS_EOK ? why : "failed while sending");
	}
out:
	lookup_clear(&l);
	return ret;
}

int rs_xfr_answer(rs_xfr_server_t *srv, const struct sockaddr *from, bool tcp, const uint8_t *query,
		  size_t len, rs_xfr_send_t send, void *arg)
{
	if (srv == NULL || query == NULL || send == NULL)
		return RS_EINVAL;
	/* Answers to answers make loops: a response is never answered, nor a stub of a header. */
	if (len < KNOT_WIRE_HEADER_SIZE || len > KNOT_WIRE_MAX_PKTSIZE || knot_wire_get_qr(query))
		return RS_ESYNTAX;

	ctx_t c;
	memset(&c, 0, sizeof(c));
	c.srv = srv;
	c.from = from;
	c.tcp = tcp;
	c.send = send;
	c.arg = arg;
	knot_rrset_init_empty(&c.opt);

	/* knot_pkt_parse writes to the wire (it strips the TSIG), so it gets a copy. */
	int ret = RS_ENOMEM;
	uint8_t *copy = malloc(len);
	if (copy == NULL)
		return RS_ENOMEM;
	memcpy(copy, query, len);
	c.q = knot_pkt_new(copy, (uint16_t)len, NULL);
	if (c.q == NULL)
		goto out;
	if (knot_pkt_parse(c.q, 0) != KNOT_EOK) {
		ret = RS_ESYNTAX;
		goto out;
	}
	c.g_buf = malloc(GROUP_MAX + 8);
	size_t max = KNOT_WIRE_MAX_PKTSIZE;
	if (!tcp) {
		max = KNOT_WIRE_MIN_PKTSIZE;
		if (knot_pkt_has_edns(c.q) && knot_edns_get_payload(c.q->opt_rr) > max)
			max = knot_edns_get_payload(c.q->opt_rr) < EDNS_PAYLOAD
				  ? knot_edns_get_payload(c.q->opt_rr)
				  : EDNS_PAYLOAD;
	}
	c.resp = knot_pkt_new(NULL, (uint16_t)max, NULL);
	if (c.g_buf == NULL || c.resp == NULL)
		goto out;

	uint16_t rcode = KNOT_RCODE_NOERROR;
	if (knot_pkt_has_edns(c.q)) {
		/* RFC 6891 6.1.3: we speak version 0; a higher one gets BADVERS. */
		if (knot_edns_get_version(c.q->opt_rr) != 0)
			rcode = KNOT_RCODE_BADVERS;
		if (knot_edns_init(&c.opt, EDNS_PAYLOAD, KNOT_EDNS_RCODE_HI(rcode), 0, NULL) !=
		    KNOT_EOK)
			goto out;
		c.edns = true;
		c.opt_size = (uint16_t)knot_edns_wire_size(&c.opt);
	}

	if (knot_wire_get_opcode(c.q->wire) != KNOT_OPCODE_QUERY)
		ret = answer_rcode(&c, KNOT_RCODE_NOTIMPL);
	else if (knot_wire_get_qdcount(c.q->wire) != 1 || knot_wire_get_tc(c.q->wire) ||
		 knot_pkt_section(c.q, KNOT_ANSWER)->count != 0)
		ret = answer_rcode(&c, KNOT_RCODE_FORMERR);
	else if (rcode != KNOT_RCODE_NOERROR)
		ret = answer_rcode(&c, rcode);
	else if (knot_pkt_qclass(c.q) != KNOT_CLASS_IN)
		ret = answer_rcode(&c, KNOT_RCODE_REFUSED);
	else
		ret = answer_zone(&c);
	/* A send that failed is the caller's error to see. */
	if (ret == RS_EIO && c.send_ret != 0)
		ret = c.send_ret < 0 ? c.send_ret : RS_EIO;
out:
	if (c.edns)
		knot_rrset_clear(&c.opt, NULL);
	knot_pkt_free(c.resp);
	knot_pkt_free(c.q);
	free(c.g_buf);
	free(copy);
	rs_wipe(&c.key, sizeof(c.key));
	return ret;
}
