/*
 * The checks of one zone against what its servers and its parent serve. Every
 * answer is compared with the state: the last publication (serial), the
 * policy (signature thresholds), the key states (DNSKEY, DS).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "regsign/crypto.h"
#include "regsign/dns.h"
#include "regsign/registry.h"
#include "regsign/xfr.h"
#include "regsign/zone.h"

#define DNS_SOA 6
#define DNS_NS 2
#define DNS_A 1
#define DNS_AAAA 28
#define DNS_DNSKEY 48

const char *rs_monitor_status_name(int status)
{
	static const char *const names[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
	return status >= 0 && status <= 3 ? names[status] : "UNKNOWN";
}

void mon_find(rs_mon_report_t *report, rs_mon_server_t *server, const char *check, int status, const char *fmt, ...)
{
	if (server != NULL && status > server->status)
		server->status = status;
	if (status > report->status)
		report->status = status;
	if (report->nfindings == RS_MON_FINDINGS_MAX)
		return;
	rs_mon_finding_t *f = &report->findings[report->nfindings++];
	snprintf(f->server, sizeof(f->server), "%s", server != NULL ? server->server : "-");
	snprintf(f->check, sizeof(f->check), "%s", check);
	f->status = status;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
}

/* "3d4h", "5h12m", "40s": a remaining time for a finding. */
static void span(int64_t s, char out[32])
{
	if (s < 0)
		s = -s;
	if (s >= 86400)
		snprintf(out, 32, "%lldd%lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(out, 32, "%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(out, 32, "%llds", (long long)s);
}

/* RRSIG expiration (RFC 4034 3.1.5: serial arithmetic) nearest to now. */
static int64_t rrsig_expiration(const uint8_t *rdata, size_t len, int64_t now)
{
	if (len < 18)
		return 0;
	uint32_t e = (uint32_t)rdata[8] << 24 | (uint32_t)rdata[9] << 16 | (uint32_t)rdata[10] << 8 | rdata[11];
	return now + (int32_t)(e - (uint32_t)now);
}

/* The keys of the state with their DNSKEY RDATA (from the key store, public part only). */
typedef struct {
	const rs_keystate_t *state;
	rs_key_t *key; /* NULL: material not found */
} known_key_t;

typedef struct {
	rs_store_t *store;
	rs_session_t *session;
	const rs_mon_opts_t *opts;
	rs_mon_report_t *report;
	const rs_policy_t *policy;
	const rs_zone_rec_t *rec;
	uint8_t origin[RS_NAME_MAX];
	known_key_t keys[64];
	size_t nkeys;
	unsigned timeout;
	rs_dnsq_set_t set, sigs; /* large: kept here, not on the stack */
} ctx_t;

static const known_key_t *find_key(const ctx_t *c, const uint8_t *dnskey, size_t len)
{
	for (size_t i = 0; i < c->nkeys; i++) {
		size_t klen;
		const uint8_t *k = c->keys[i].key ? rs_key_dnskey(c->keys[i].key, &klen) : NULL;
		/* The REVOKE bit (RFC 5011 7) changes the flags, not the key. */
		if (k != NULL && klen == len && len > 4 && memcmp(k + 2, dnskey + 2, len - 2) == 0)
			return &c->keys[i];
	}
	return NULL;
}

static void earliest(rs_mon_server_t *s, const rs_dnsq_set_t *sigs, int64_t now)
{
	for (size_t i = 0; i < sigs->count; i++) {
		int64_t e = rrsig_expiration(sigs->rdata[i], sigs->len[i], now);
		if (e != 0 && (s->sig_expiration == 0 || e < s->sig_expiration))
			s->sig_expiration = e;
	}
}

static void check_dnskeys(ctx_t *c, rs_mon_server_t *s)
{
	const rs_dnsq_set_t *set = &c->set;
	s->dnskeys = set->count;
	for (size_t i = 0; i < set->count; i++) {
		uint16_t tag = rs_keytag(set->rdata[i], set->len[i]);
		const known_key_t *k = find_key(c, set->rdata[i], set->len[i]);
		if (k == NULL)
			mon_find(c->report, s, "dnskey", RS_MON_CRITICAL, "DNSKEY %u is served but unknown to the state", tag);
		else if (!rs_keystate_published(k->state) && !(k->state->pending & (1 << RS_REC_DNSKEY)) &&
			 s->drift == 0)
			mon_find(c->report, s, "dnskey", RS_MON_WARNING, "DNSKEY %u is served but the state withdrew it",
				 tag);
	}
	for (size_t i = 0; i < c->nkeys; i++) {
		const rs_keystate_t *st = c->keys[i].state;
		if (!rs_keystate_published(st) || (st->pending & (1 << RS_REC_DNSKEY)) || c->keys[i].key == NULL)
			continue;
		size_t len;
		const uint8_t *k = rs_key_dnskey(c->keys[i].key, &len);
		bool seen = false;
		for (size_t j = 0; j < set->count && !seen; j++)
			seen = set->len[j] == len && memcmp(set->rdata[j] + 2, k + 2, len - 2) == 0;
		if (!seen)
			mon_find(c->report, s, "dnskey", s->drift == 0 ? RS_MON_CRITICAL : RS_MON_WARNING,
				 "DNSKEY %u (%s) is published by the state but not served%s", st->tag,
				 rs_role_name(st->role), s->drift == 0 ? "" : " (the server is behind)");
	}
}

static void check_server(ctx_t *c, rs_mon_server_t *s)
{
	rs_diag_t d;
	rs_mon_report_t *r = c->report;
	if (rs_dnsq_rrset(s->server, c->origin, DNS_SOA, c->timeout, &c->set, &c->sigs, &d) != RS_EOK) {
		mon_find(r, s, "answer", RS_MON_CRITICAL, "%s", d.text);
		return;
	}
	if (c->set.count != 1 || c->set.len[0] < 22) {
		mon_find(r, s, "answer", RS_MON_CRITICAL, "%s: no SOA for %s", s->server, r->zone);
		return;
	}
	s->answered = true;
	const uint8_t *end = c->set.rdata[0] + c->set.len[0] - 20;
	s->serial = (uint32_t)end[0] << 24 | (uint32_t)end[1] << 16 | (uint32_t)end[2] << 8 | end[3];
	if (r->published_serial != 0 && s->serial != r->published_serial) {
		s->drift = (int32_t)(r->published_serial - s->serial);
		bool ahead = rs_serial_gt(s->serial, r->published_serial);
		mon_find(r, s, "serial", ahead ? RS_MON_CRITICAL : RS_MON_WARNING,
			 "serves serial %u, %s the last publication (%u)", s->serial, ahead ? "ahead of" : "behind",
			 r->published_serial);
	}
	if (c->sigs.count == 0)
		mon_find(r, s, "signature", RS_MON_CRITICAL, "SOA served without RRSIG");
	earliest(s, &c->sigs, r->now);
	if (rs_dnsq_rrset(s->server, c->origin, DNS_DNSKEY, c->timeout, &c->set, &c->sigs, &d) != RS_EOK) {
		mon_find(r, s, "answer", RS_MON_CRITICAL, "%s", d.text);
		return;
	}
	if (c->sigs.count == 0)
		mon_find(r, s, "signature", RS_MON_CRITICAL, "DNSKEY RRset served without RRSIG");
	earliest(s, &c->sigs, r->now);
	check_dnskeys(c, s);
	if (s->sig_expiration != 0) {
		int64_t left = s->sig_expiration - r->now;
		char t[32];
		span(left, t);
		if (left <= 0)
			mon_find(r, s, "signature", RS_MON_CRITICAL, "signature expired %s ago", t);
		else if (left < r->crit)
			mon_find(r, s, "signature", RS_MON_CRITICAL, "signature expires in %s", t);
		else if (left < r->warn)
			mon_find(r, s, "signature", RS_MON_WARNING, "signature expires in %s", t);
	}
	if (c->opts->anchor_file != NULL) {
		char why[256] = "";
		if (mon_chain(s->server, r->zone, c->opts->anchor_file, r->now, c->opts->now_given, s->chain, why,
			      sizeof(why), &d) != RS_EOK)
			mon_find(r, s, "chain", RS_MON_CRITICAL, "chain of trust not checked: %s", d.text);
		else if (strcmp(s->chain, "secure") != 0)
			mon_find(r, s, "chain", RS_MON_CRITICAL, "chain of trust %s%s%s", s->chain, why[0] ? ": " : "",
				 why);
	}
	if (c->opts->axfr) {
		bool refused = false;
		uint64_t problems = 0;
		char why[256] = "";
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int ret = mon_axfr(s->server, c->origin, r->now, c->timeout, &refused, &problems, &s->axfr_records,
				   why, sizeof(why), &d);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		s->axfr_seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (ret != RS_EOK) {
			snprintf(s->axfr, sizeof(s->axfr), "failed");
			mon_find(r, s, "axfr", RS_MON_CRITICAL, "AXFR failed: %s", d.text);
		} else if (refused) {
			snprintf(s->axfr, sizeof(s->axfr), "not checked");
		} else if (problems > 0) {
			snprintf(s->axfr, sizeof(s->axfr), "bogus");
			mon_find(r, s, "axfr", RS_MON_CRITICAL, "AXFR: %llu problems, first: %s",
				 (unsigned long long)problems, why);
		} else {
			snprintf(s->axfr, sizeof(s->axfr), "verified");
		}
	}
}

/* The DS RRset at each parent server against the DS states. */
static void check_parent(ctx_t *c, const char *parent)
{
	rs_mon_report_t *r = c->report;
	rs_diag_t d;
	rs_ds_set_t ds;
	rs_mon_server_t p = { .status = RS_MON_OK };
	snprintf(p.server, sizeof(p.server), "%s", parent);
	if (rs_parent_ds_query(parent, c->origin, c->timeout, &ds, &d) != RS_EOK) {
		mon_find(r, NULL, "ds", RS_MON_WARNING, "parent %s", d.text);
		return;
	}
	for (size_t i = 0; i < ds.count; i++) {
		bool known = false;
		for (size_t k = 0; k < c->nkeys && !known; k++) {
			size_t len;
			const uint8_t *key = c->keys[k].key ? rs_key_dnskey(c->keys[k].key, &len) : NULL;
			known = key != NULL && rs_ds_matches(ds.rdata[i], ds.len[i], c->origin, key, len);
		}
		if (!known && ds.len[i] >= 4)
			mon_find(r, NULL, "ds", RS_MON_WARNING, "parent %s serves a DS for key %u (algorithm %u) "
				 "unknown to the state", parent, (unsigned)(ds.rdata[i][0] << 8 | ds.rdata[i][1]),
				 ds.rdata[i][2]);
	}
	int64_t wait = c->opts->ds_wait > 0 ? c->opts->ds_wait
					    : (int64_t)c->policy->parent_ds_ttl + c->policy->parent_propagation;
	for (size_t k = 0; k < c->nkeys; k++) {
		const rs_keystate_t *st = c->keys[k].state;
		size_t len;
		const uint8_t *key = c->keys[k].key ? rs_key_dnskey(c->keys[k].key, &len) : NULL;
		if (key == NULL || !rs_keystate_wants_ds(st) || rs_ds_set_has_key(&ds, c->origin, key, len))
			continue;
		char t[32];
		if (st->ds == RS_DS_SUBMIT) {
			int64_t since = st->since[RS_REC_DS] ? st->since[RS_REC_DS] : st->active;
			span(r->now - since, t);
			if (since != 0 && r->now - since > wait)
				mon_find(r, NULL, "ds", RS_MON_WARNING, "DS of key %u requested %s ago is not at parent %s",
					 st->tag, t, parent);
		} else if (st->state[RS_REC_DS] == RS_OMNIPRESENT) {
			mon_find(r, NULL, "ds", RS_MON_CRITICAL, "DS of key %u is missing at parent %s", st->tag, parent);
		}
	}
}

/* Key steps overdue and the activation window ending. */
static void check_zone(ctx_t *c)
{
	rs_mon_report_t *r = c->report;
	int64_t slack = c->policy->sig_refresh > 0 ? c->policy->sig_refresh : 86400;
	if (c->rec->next_event != INT64_MAX && c->rec->next_event != 0 && r->now - c->rec->next_event > slack) {
		char t[32];
		span(r->now - c->rec->next_event, t);
		mon_find(r, NULL, "keys", RS_MON_WARNING, "a key step has been due for %s (regsign enforce)", t);
	}
	rs_agent_reply_t reply;
	if (rs_agent_ask(rs_store_dir(c->store), "status", &reply) == RS_EOK) {
		int64_t window = c->opts->window_warn > 0 ? c->opts->window_warn : 86400;
		char t[32];
		span(reply.until - r->now, t);
		if (reply.until <= r->now)
			mon_find(r, NULL, "custody", RS_MON_CRITICAL, "the activation window ended %s ago", t);
		else if (reply.until - r->now < window)
			mon_find(r, NULL, "custody", RS_MON_WARNING, "the activation window ends in %s", t);
	}
}

static int add_server(rs_mon_report_t *r, const char *addr, rs_diag_t *diag)
{
	for (size_t i = 0; i < r->nservers; i++)
		if (strcmp(r->servers[i].server, addr) == 0)
			return RS_EOK;
	rs_secondary_t sec;
	if (rs_secondary_parse(addr, &sec, diag) != RS_EOK || strlen(addr) >= RS_MON_SERVER_LEN)
		return rs_diag(diag, RS_ESYNTAX, "server '%s' is not ADDR or ADDR@PORT", addr);
	if (r->nservers == RS_MON_SERVERS_MAX)
		return rs_diag(diag, RS_ELIMIT, "more than %d servers", RS_MON_SERVERS_MAX);
	rs_mon_server_t *s = &r->servers[r->nservers++];
	memset(s, 0, sizeof(*s));
	snprintf(s->server, sizeof(s->server), "%s", addr);
	return RS_EOK;
}

static void add_secondary(void *arg, const char *addr, const char *tsig)
{
	(void)tsig;
	rs_diag_t d;
	add_server(arg, addr, &d);
}

/* The zone's NS set, from its input: glue addresses, else the system resolver's. */
static int ns_servers(ctx_t *c, rs_diag_t *diag)
{
	rs_zone_t *z = NULL;
	rs_zone_opts_t zo = { .threads = 1 };
	int ret = rs_zone_new(c->origin, &zo, &z);
	if (ret == RS_EOK && (ret = rs_zone_read(z, c->rec->input, diag)) == RS_EOK)
		ret = rs_zone_finish(z, diag);
	if (ret != RS_EOK) {
		rs_zone_free(z);
		return ret;
	}
	size_t nn;
	const rs_node_t *nodes = rs_zone_nodes(z, &nn);
	const rs_rr_t *rrs = rs_zone_rrs(z);
	for (size_t i = 0; i < nn; i++) {
		if (!(nodes[i].flags & RS_NODE_APEX))
			continue;
		for (uint32_t j = nodes[i].first; j < nodes[i].first + nodes[i].count; j++) {
			if (rrs[j].type != DNS_NS)
				continue;
			size_t found = 0;
			/* Glue: the A and AAAA of the name server's own node in the zone. */
			for (size_t g = 0; g < nn; g++) {
				if (rs_dname_len(rs_name_wire(nodes[g].name), RS_NAME_MAX) != rs_dname_len(rrs[j].rdata, RS_NAME_MAX) ||
				    memcmp(rs_name_wire(nodes[g].name), rrs[j].rdata, rs_dname_len(rrs[j].rdata, RS_NAME_MAX)) != 0)
					continue;
				for (uint32_t a = nodes[g].first; a < nodes[g].first + nodes[g].count; a++) {
					char text[64];
					if (rrs[a].type == DNS_A && rrs[a].rdlen == 4)
						snprintf(text, sizeof(text), "%u.%u.%u.%u", rrs[a].rdata[0], rrs[a].rdata[1],
							 rrs[a].rdata[2], rrs[a].rdata[3]);
					else if (rrs[a].type == DNS_AAAA && rrs[a].rdlen == 16)
						inet_ntop(AF_INET6, rrs[a].rdata, text, sizeof(text));
					else
						continue;
					if (add_server(c->report, text, diag) == RS_EOK)
						found++;
				}
			}
			if (found > 0)
				continue;
			char host[1024], addrs[4][64];
			size_t n = 0;
			rs_dname_to_str(rrs[j].rdata, host, sizeof(host));
			if (rs_dnsq_addresses(NULL, host, c->timeout, addrs, 4, &n, diag) == RS_EOK)
				for (size_t a = 0; a < n; a++)
					add_server(c->report, addrs[a], diag);
		}
	}
	rs_zone_free(z);
	return c->report->nservers > 0 ? RS_EOK
				       : rs_diag(diag, RS_EINVAL, "%s: no server to check (give --server)", c->rec->name);
}

static void last_publication(void *arg, const rs_publication_t *pub)
{
	*(uint32_t *)arg = pub->serial;
}

int rs_monitor_check(rs_store_t *store, rs_session_t *session, const rs_mon_opts_t *opts, rs_mon_report_t *report,
		     rs_diag_t *diag)
{
	ctx_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	memset(report, 0, offsetof(rs_mon_report_t, servers));
	report->nfindings = 0;
	c->store = store;
	c->session = session;
	c->opts = opts;
	c->report = report;
	c->policy = rs_session_policy(session);
	c->rec = rs_session_zone(session);
	c->timeout = opts->timeout_ms ? opts->timeout_ms : 2000;
	snprintf(report->zone, sizeof(report->zone), "%s", c->rec->name);
	rs_dname_from_str(c->rec->name, c->origin);
	report->now = opts->now;
	int64_t margin = c->policy->sig_validity - c->policy->sig_refresh - c->policy->sig_jitter;
	report->warn = opts->warn > 0 ? opts->warn : margin;
	report->crit = opts->crit > 0 ? opts->crit : margin / 2;
	int ret = RS_EOK;
	if (report->crit > report->warn)
		ret = rs_diag(diag, RS_ESYNTAX, "the critical threshold (%llds) is above the warning one (%llds)",
			      (long long)report->crit, (long long)report->warn);
	rs_store_publications(store, c->rec->name, 1, last_publication, &report->published_serial);
	for (size_t i = 0; ret == RS_EOK && i < opts->nservers; i++)
		ret = add_server(report, opts->servers[i], diag);
	if (ret == RS_EOK && opts->nservers == 0) {
		rs_store_secondaries(store, c->rec->name, add_secondary, report);
		if (report->nservers == 0)
			ret = ns_servers(c, diag);
	}
	rs_secondary_t sec;
	for (size_t i = 0; ret == RS_EOK && i < opts->nparents; i++)
		if (rs_secondary_parse(opts->parents[i], &sec, diag) != RS_EOK)
			ret = rs_diag(diag, RS_ESYNTAX, "parent server '%s' is not ADDR or ADDR@PORT", opts->parents[i]);
	if (ret != RS_EOK) {
		free(c);
		return ret;
	}
	const rs_keyset_t *set = rs_session_keys(session);
	for (size_t i = 0; i < set->count && c->nkeys < sizeof(c->keys) / sizeof(c->keys[0]); i++) {
		const rs_keystate_t *st = &set->keys[i];
		if (st->flags & RS_KEY_DESTROYED)
			continue;
		rs_diag_t d;
		c->keys[c->nkeys].state = st;
		/* The key store reachable (the token found, the key on it): the next signing needs the keys that sign. */
		if (rs_session_key(session, st, false, &c->keys[c->nkeys].key, &d) != RS_EOK) {
			c->keys[c->nkeys].key = NULL;
			bool signs = rs_keystate_signs_data(st) || rs_keystate_signs_keys(st);
			mon_find(report, NULL, "keystore", signs ? RS_MON_CRITICAL : RS_MON_WARNING,
				 "the key store does not give %skey %u: %s", signs ? "the signing " : "", st->tag, d.text);
		}
		c->nkeys++;
	}
	for (size_t i = 0; i < report->nservers; i++)
		check_server(c, &report->servers[i]);
	if (opts->nparents > 0) {
		for (size_t i = 0; i < opts->nparents; i++)
			check_parent(c, opts->parents[i]);
	} else if (c->rec->parent_agents[0] != '\0') {
		char agents[sizeof(c->rec->parent_agents)], *save = NULL;
		snprintf(agents, sizeof(agents), "%s", c->rec->parent_agents);
		for (char *a = strtok_r(agents, " ", &save); a != NULL; a = strtok_r(NULL, " ", &save))
			check_parent(c, a);
	}
	check_zone(c);
	for (size_t i = 0; i < c->nkeys; i++)
		rs_key_free(c->keys[i].key);
	free(c);
	return RS_EOK;
}
