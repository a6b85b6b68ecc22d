/*
 * update: signing a change set (rs_sign_update) against signing the changed zone in full, record for
 * record, with its diff; chains of updates; what needs a full signing; bad change sets; zone patches.
 * All of it with NSEC, then with NSEC3 (with and without opt-out, salt and iterations).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <strings.h>

#include "regsign/signer.h"
#include "regsign/verify.h"
#include "regsign/xfr.h"
#include "tap/tap.h"
#include "tap/zone.h"

/* 2023-11-14T22:13:20Z to 30 days later: fixed times make signatures comparable. */
#define INCEPTION 1700000000
#define EXPIRATION (INCEPTION + 30 * 86400)

static uint8_t origin[RS_NAME_MAX];

/* ---- a model of the unsigned zone: records as text ---- */

typedef struct {
	char owner[48]; /* relative to example., as written (an NSEC3 owner's label fits) */
	char type[8];
	char rdata[128];
	uint32_t ttl;
} mrec_t;

#define MAXREC 512

typedef struct {
	mrec_t r[MAXREC];
	size_t n;
	uint32_t serial;
} model_t;

/* One change: a record to add or remove, kept as text and wire. */
typedef struct {
	mrec_t rec;
	bool add;
} mchg_t;

static uint64_t rng_state = 88172645463325252ULL;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

static char *model_text(const model_t *m)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	fprintf(f, "$ORIGIN example.\n@ 3600 SOA ns1 hostmaster %u 7200 3600 1209600 300\n@ 3600 NS ns1\n"
		   "ns1 3600 A 192.0.2.1\n", m->serial);
	for (size_t i = 0; i < m->n; i++)
		fprintf(f, "%s %u %s %s\n", m->r[i].owner, m->r[i].ttl, m->r[i].type, m->r[i].rdata);
	fclose(f);
	return out;
}

static bool same_rec(const mrec_t *a, const mrec_t *b)
{
	return strcasecmp(a->owner, b->owner) == 0 && strcmp(a->type, b->type) == 0 && strcmp(a->rdata, b->rdata) == 0;
}

static ssize_t model_find(const model_t *m, const mrec_t *r)
{
	for (size_t i = 0; i < m->n; i++)
		if (same_rec(&m->r[i], r))
			return (ssize_t)i;
	return -1;
}

static bool model_has_name(const model_t *m, const char *owner)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->r[i].owner, owner) == 0)
			return true;
	return false;
}

static bool model_has(const model_t *m, const char *owner, const char *type)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->r[i].owner, owner) == 0 && strcmp(m->r[i].type, type) == 0)
			return true;
	return false;
}

/* Apply changes (removals, then additions) and give every RRset its lowest TTL (RFC 2181 5.2). */
static void model_apply(model_t *m, const mchg_t *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (c[i].add)
			continue;
		ssize_t k = model_find(m, &c[i].rec);
		if (k >= 0)
			m->r[k] = m->r[--m->n];
	}
	for (size_t i = 0; i < n; i++)
		if (c[i].add && m->n < MAXREC)
			m->r[m->n++] = c[i].rec;
	for (size_t i = 0; i < m->n; i++)
		for (size_t j = 0; j < m->n; j++)
			if (strcasecmp(m->r[i].owner, m->r[j].owner) == 0 && strcmp(m->r[i].type, m->r[j].type) == 0 &&
			    m->r[j].ttl < m->r[i].ttl)
				m->r[i].ttl = m->r[j].ttl;
	m->serial++;
}

/* ---- zones ---- */

static rs_key_t *keys[2];
static size_t nkeys = 2;

/* The denial the zones of a run are signed with: NSEC, or NSEC3 with these parameters. */
static bool use_nsec3;
static rs_nsec3_params_t n3params;

static rs_sign_opts_t sign_opts(unsigned threads)
{
	return (rs_sign_opts_t){ .inception = INCEPTION, .expiration = EXPIRATION, .threads = threads,
				 .nsec3 = use_nsec3, .nsec3_params = n3params };
}

/* The model signed in full with so and read back with its DNSSEC records. */
static rs_zone_t *sign_with(const model_t *m, const rs_sign_opts_t *so)
{
	char *text = model_text(m);
	rs_zone_t *z = tap_zone(origin, text, keys, nkeys, false);
	free(text);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	rs_diag_t d = { "" };
	int ret = z != NULL ? rs_sign_zone(z, keys, nkeys, so, f, NULL, &d) : RS_EINVAL;
	fclose(f);
	rs_zone_free(z);
	if (ret != RS_EOK) {
		printf("# sign: %s\n", d.text);
		free(out);
		return NULL;
	}
	rs_zone_t *back = tap_zone(origin, out, NULL, 0, true);
	free(out);
	return back;
}

static rs_zone_t *full_sign(const model_t *m)
{
	rs_sign_opts_t so = sign_opts(1);
	return sign_with(m, &so);
}

/* Owner wire from "rel" under example., case kept. */
static void owner_wire(const char *rel, uint8_t *out)
{
	char full[300];
	snprintf(full, sizeof(full), "%s.example.", rel);
	size_t pos = 0;
	const char *p = full;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = (size_t)(dot - p);
		out[pos++] = (uint8_t)l;
		memcpy(out + pos, p, l);
		pos += l;
		p = dot + 1;
	}
	out[pos] = 0;
}

/* A change set in the daemon's form; storage in cs. */
typedef struct {
	rs_xrr_t rm[64], add[64];
	uint8_t owners[128][RS_NAME_MAX];
	uint8_t rdata[128][512];
	rs_changes_t c;
} cset_t;

static bool make_changes(cset_t *cs, const mchg_t *ch, size_t n, uint32_t serial)
{
	memset(&cs->c, 0, sizeof(cs->c));
	size_t nr = 0, na = 0;
	for (size_t i = 0; i < n && i < 128; i++) {
		uint16_t type;
		size_t len;
		rs_diag_t d;
		if (rs_type_from_str(ch[i].rec.type, &type) != RS_EOK ||
		    rs_rdata_from_text(type, ch[i].rec.rdata, cs->rdata[i], 512, &len, &d) != RS_EOK) {
			printf("# bad test record %s %s\n", ch[i].rec.type, ch[i].rec.rdata);
			return false;
		}
		owner_wire(ch[i].rec.owner, cs->owners[i]);
		rs_xrr_t x = { .owner = cs->owners[i], .rdata = cs->rdata[i], .ttl = ch[i].rec.ttl, .type = type,
			       .rdlen = (uint16_t)len };
		if (ch[i].add)
			cs->add[na++] = x;
		else
			cs->rm[nr++] = x;
	}
	cs->c = (rs_changes_t){ .removed = cs->rm, .nremoved = nr, .added = cs->add, .nadded = na, .serial = serial };
	return true;
}

/* Record for record: names (as written), flags, types, TTLs, RDATA. */
static bool zones_equal(const rs_zone_t *a, const rs_zone_t *b)
{
	size_t na, nb;
	const rs_node_t *x = rs_zone_nodes(a, &na), *y = rs_zone_nodes(b, &nb);
	const rs_rr_t *ra = rs_zone_rrs(a), *rb = rs_zone_rrs(b);
	char name[1100];
	for (size_t i = 0; i < na || i < nb; i++) {
		if (i >= na || i >= nb || rs_name_cmp(x[i].name, y[i].name) != 0 ||
		    x[i].name->wire_len != y[i].name->wire_len ||
		    memcmp(rs_name_written(x[i].name), rs_name_written(y[i].name), x[i].name->wire_len) != 0) {
			rs_name_format(rs_name_wire(i < na ? x[i].name : y[i].name), name, sizeof(name));
			printf("#   names differ at %zu (%s); %zu and %zu names\n", i, name, na, nb);
			return false;
		}
		rs_name_format(rs_name_written(x[i].name), name, sizeof(name));
		if (x[i].flags != y[i].flags || x[i].count != y[i].count) {
			printf("#   %s: flags %x/%x, %u/%u records\n", name, x[i].flags, y[i].flags, x[i].count,
			       y[i].count);
			return false;
		}
		for (uint32_t k = 0; k < x[i].count; k++) {
			const rs_rr_t *p = &ra[x[i].first + k], *q = &rb[y[i].first + k];
			if (p->type != q->type || p->ttl != q->ttl || p->rdlen != q->rdlen ||
			    memcmp(p->rdata, q->rdata, p->rdlen) != 0) {
				printf("#   %s: record %u differs (type %u/%u, TTL %u/%u)\n", name, k, p->type, q->type,
				       p->ttl, q->ttl);
				return false;
			}
		}
	}
	return true;
}

static bool xrr_equal(const rs_xrr_t *a, const rs_xrr_t *b)
{
	size_t la = rs_dname_len(a->owner, RS_NAME_MAX), lb = rs_dname_len(b->owner, RS_NAME_MAX);
	return la == lb && memcmp(a->owner, b->owner, la) == 0 && a->type == b->type && a->ttl == b->ttl &&
	       a->rdlen == b->rdlen && memcmp(a->rdata, b->rdata, a->rdlen) == 0;
}

static bool diffs_equal(const rs_diff_t *a, const rs_diff_t *b)
{
	if (a->from != b->from || a->to != b->to || a->nremoved != b->nremoved || a->nadded != b->nadded) {
		printf("#   diff %u->%u -%zu +%zu against %u->%u -%zu +%zu\n", a->from, a->to, a->nremoved, a->nadded,
		       b->from, b->to, b->nremoved, b->nadded);
		return false;
	}
	if (!xrr_equal(&a->soa_from, &b->soa_from) || !xrr_equal(&a->soa_to, &b->soa_to))
		return false;
	for (size_t i = 0; i < a->nremoved; i++)
		if (!xrr_equal(&a->removed[i], &b->removed[i]))
			return false;
	for (size_t i = 0; i < a->nadded; i++)
		if (!xrr_equal(&a->added[i], &b->added[i]))
			return false;
	return true;
}

static bool quiet;

static uint64_t verify_problems(const rs_zone_t *z)
{
	rs_verify_opts_t vo = { .now = INCEPTION + 86400, .threads = 1 };
	rs_verify_result_t res = { 0 };
	rs_buf_t report;
	rs_buf_init(&report, 1 << 20);
	rs_diag_t d;
	if (rs_verify_zone(z, &vo, &report, &res, &d) != RS_EOK)
		res.problems = 1;
	if (res.problems > 0 && report.data != NULL && !quiet)
		printf("# verify: %.*s\n", (int)strcspn((const char *)report.data, "\n"), (const char *)report.data);
	rs_buf_clear(&report);
	return res.problems;
}

/* A fingerprint of every record and flag, to show a zone did not change. */
static uint64_t fingerprint(const rs_zone_t *z)
{
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(z, &n);
	const rs_rr_t *rr = rs_zone_rrs(z);
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h = (h ^ nodes[i].flags ^ nodes[i].count) * 1099511628211ULL;
		for (uint32_t k = nodes[i].first; k < nodes[i].first + nodes[i].count; k++) {
			h = (h ^ rr[k].ttl ^ rr[k].type) * 1099511628211ULL;
			for (uint16_t b = 0; b < rr[k].rdlen; b++)
				h = (h ^ rr[k].rdata[b]) * 1099511628211ULL;
		}
	}
	return h;
}

/* ---- random change sets ---- */

#define NDELEG 24
#define NHOST 11

/* The last two: names whose NSEC3 hashes sort first and last (set_denial), so the chain wraps there. */
static char first_host[16] = "n1", last_host[16] = "n2";
static const char *hosts[NHOST] = { "0", "zzz", "h1", "h2", "MiXed", "a.b.h3", "*.w", "h5", "x.y.reg",
				    first_host, last_host };

static const char *pick_ttl_text(void)
{
	static const char *t[] = { "300", "3600", "86400" };
	return t[rnd(3)];
}

static void rec(mrec_t *r, const char *owner, const char *type, uint32_t ttl, const char *fmt, ...)
	RS_PRINTF(5, 6);
static void rec(mrec_t *r, const char *owner, const char *type, uint32_t ttl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	snprintf(r->owner, sizeof(r->owner), "%s", owner);
	snprintf(r->type, sizeof(r->type), "%s", type);
	vsnprintf(r->rdata, sizeof(r->rdata), fmt, ap);
	r->ttl = ttl;
	va_end(ap);
}

typedef struct {
	mchg_t c[64];
	size_t n;
	char used[16][32]; /* names this set touched: one op per name */
	size_t nused;
} gen_t;

static bool claim(gen_t *g, const char *a, const char *b)
{
	for (size_t i = 0; i < g->nused; i++)
		if (strcasecmp(g->used[i], a) == 0 || (b != NULL && strcasecmp(g->used[i], b) == 0))
			return false;
	if (g->nused + 2 > 16 || g->n + 8 > 64)
		return false;
	snprintf(g->used[g->nused++], 32, "%s", a);
	if (b != NULL)
		snprintf(g->used[g->nused++], 32, "%s", b);
	return true;
}

static void push(gen_t *g, bool add, const mrec_t *r)
{
	g->c[g->n++] = (mchg_t){ .rec = *r, .add = add };
}

/* Remove every record of owner from the model's view into g. */
static void remove_name(gen_t *g, const model_t *m, const char *owner)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->r[i].owner, owner) == 0)
			push(g, false, &m->r[i]);
}

static void ds_rec(mrec_t *r, const char *owner, uint32_t ttl)
{
	rec(r, owner, "DS", ttl, "%u 13 2 %08X%08X0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF", rnd(65536),
	    rnd(1u << 31), rnd(1u << 31));
}

/* How often each kind of change below was made, to show the generator reaches them all. */
#define NOPS 9
static unsigned ops_done[NOPS];

static void random_op_kind(gen_t *g, const model_t *m, unsigned kind);

static void random_op(gen_t *g, const model_t *m)
{
	unsigned kind = rnd(NOPS);
	size_t before = g->n;
	random_op_kind(g, m, kind);
	ops_done[kind] += g->n > before;
}

static void random_op_kind(gen_t *g, const model_t *m, unsigned kind)
{
	char d[16], glue[28];
	mrec_t r;
	/* A third of the delegations lie under the empty non-terminal reg. (opt-out leaves it out when all are unsigned). */
	unsigned dn = rnd(NDELEG);
	snprintf(d, sizeof(d), "d%u%s", dn, dn >= 2 * NDELEG / 3 ? ".reg" : "");
	/* Some glue lies two labels below its cut: an empty non-terminal there is in no chain. */
	snprintf(glue, sizeof(glue), "ns.%s%s", dn % 3 == 1 ? "in." : "", d);
	const char *h = hosts[rnd(NHOST)];
	uint32_t ttl = (uint32_t)atoi(pick_ttl_text());
	switch (kind) {
	case 0: /* a delegation comes or goes, with or without DS and glue */
	case 1:
		if (!claim(g, d, glue))
			return;
		if (model_has_name(m, d)) {
			remove_name(g, m, d);
			remove_name(g, m, glue);
			return;
		}
		rec(&r, d, "NS", ttl, "ns1.other.net.");
		push(g, true, &r);
		if (rnd(2)) {
			rec(&r, d, "NS", ttl, "%s.example.", glue);
			push(g, true, &r);
			rec(&r, glue, "A", ttl, "192.0.2.%u", 1 + rnd(250));
			push(g, true, &r);
		}
		if (rnd(2)) {
			ds_rec(&r, d, ttl);
			push(g, true, &r);
		}
		return;
	case 2: /* a DS added or removed at a cut */
		if (!model_has(m, d, "NS") || !claim(g, d, NULL))
			return;
		for (size_t i = 0; i < m->n; i++)
			if (strcasecmp(m->r[i].owner, d) == 0 && strcmp(m->r[i].type, "DS") == 0 && rnd(2)) {
				push(g, false, &m->r[i]);
				return;
			}
		ds_rec(&r, d, ttl);
		push(g, true, &r);
		return;
	case 3: /* a record added to a name, new or not, maybe with another TTL */
	case 4:
		if (!claim(g, h, NULL))
			return;
		if (rnd(2))
			rec(&r, h, "A", ttl, "198.51.100.%u", rnd(256));
		else
			rec(&r, h, "TXT", ttl, "\"t%u\"", rnd(1000));
		if (model_find(m, &r) < 0)
			push(g, true, &r);
		return;
	case 5: /* one record removed: maybe the name's last */
		if (!claim(g, h, NULL))
			return;
		for (size_t i = 0; i < m->n; i++)
			if (strcasecmp(m->r[i].owner, h) == 0 && rnd(2)) {
				push(g, false, &m->r[i]);
				return;
			}
		return;
	case 6: /* an RRset's TTL changes */
		if (!claim(g, h, NULL))
			return;
		for (size_t i = 0; i < m->n; i++)
			if (strcasecmp(m->r[i].owner, h) == 0 && strcmp(m->r[i].type, "A") == 0) {
				push(g, false, &m->r[i]);
				r = m->r[i];
				r.ttl = ttl;
				push(g, true, &r);
			}
		return;
	case 7: /* glue renumbered, or a name removed whole */
		if (model_has_name(m, glue) && claim(g, glue, NULL)) {
			for (size_t i = 0; i < m->n; i++)
				if (strcasecmp(m->r[i].owner, glue) == 0) {
					push(g, false, &m->r[i]);
					r = m->r[i];
					snprintf(r.rdata, sizeof(r.rdata), "192.0.2.%u", 1 + rnd(250));
					if (model_find(m, &r) < 0)
						push(g, true, &r);
					else
						g->n--;
					break;
				}
		} else if (claim(g, h, NULL)) {
			remove_name(g, m, h);
		}
		return;
	case 8: /* a cut comes or goes at a name with other data (and nothing below it) */
		if (strcmp(h, "*.w") == 0 || !claim(g, h, NULL))
			return;
		if (model_has(m, h, "NS")) {
			for (size_t i = 0; i < m->n; i++)
				if (strcasecmp(m->r[i].owner, h) == 0 && strcmp(m->r[i].type, "NS") == 0)
					push(g, false, &m->r[i]);
			return;
		}
		rec(&r, h, "NS", ttl, "ns1.other.net.");
		push(g, true, &r);
		return;
	}
}

static void random_model(model_t *m)
{
	m->n = 0;
	m->serial = 1;
	gen_t g = { .n = 0 };
	for (int i = 0; i < 40; i++) {
		if (g.n + 8 > 64 || g.nused + 2 > 16) {
			model_apply(m, g.c, g.n);
			g = (gen_t){ .n = 0 };
		}
		random_op(&g, m);
	}
	model_apply(m, g.c, g.n);
	m->serial = 1;
}

/* One chain: a random zone, then updates each from the last, every result against a full signing. */
static int chain(unsigned length, unsigned *updates, unsigned *failures)
{
	static model_t m;
	random_model(&m);
	rs_zone_t *prev = full_sign(&m);
	if (prev == NULL)
		return -1;
	for (unsigned step = 0; step < length; step++) {
		gen_t g = { .n = 0 };
		unsigned ops = 1 + rnd(5);
		for (unsigned i = 0; i < ops; i++)
			random_op(&g, &m);
		static cset_t cs;
		if (!make_changes(&cs, g.c, g.n, m.serial + 1))
			break;
		model_apply(&m, g.c, g.n);
		rs_zone_t *full = full_sign(&m);
		rs_sign_opts_t so = sign_opts(1 + rnd(2));
		rs_zone_t *next = NULL;
		rs_diff_t diff = { 0 }, want = { 0 };
		rs_sign_stats_t st;
		rs_diag_t d = { "" };
		int ret = rs_sign_update(prev, &cs.c, keys, nkeys, &so, &next, &diff, &st, &d);
		(*updates)++;
		bool good = ret == RS_EOK && full != NULL;
		if (!good)
			printf("# update: %s (%d)\n", d.text, ret);
		if (good && rs_diff_zones(prev, full, &want, &d) != RS_EOK)
			good = false;
		rs_zone_free(prev); /* next must not need it */
		prev = NULL;
		good = good && zones_equal(next, full);
		good = good && diffs_equal(&diff, &want);
		good = good && verify_problems(next) == 0;
		if (!good) {
			(*failures)++;
			for (size_t i = 0; i < g.n; i++)
				printf("#   %s %s %u %s %s\n", g.c[i].add ? "+" : "-", g.c[i].rec.owner, g.c[i].rec.ttl,
				       g.c[i].rec.type, g.c[i].rec.rdata);
		}
		rs_diff_clear(&diff);
		rs_diff_clear(&want);
		rs_zone_free(full);
		if (next == NULL)
			return -1;
		prev = next;
		if (!good)
			break;
	}
	rs_zone_free(prev);
	return 0;
}

static void random_chains(const char *label, unsigned chains, unsigned length)
{
	unsigned updates = 0, failures = 0, broken = 0;
	for (unsigned c = 0; c < chains; c++)
		if (chain(length, &updates, &failures) != 0)
			broken++;
	ok(broken == 0 && failures == 0 && updates >= chains * length,
	   "%s: %u random updates in %u chains of %u equal full signing, diff and verifier agree", label, updates,
	   chains, length);
	if (failures || broken)
		printf("#   %u failed, %u chains broken\n", failures, broken);
}

/* ---- fixed cases ---- */

static model_t fixed;

static void fixed_model(void)
{
	fixed = (model_t){ .serial = 10 };
	mrec_t *r = fixed.r;
	rec(&r[fixed.n++], "d1", "NS", 3600, "ns.d1.example.");
	rec(&r[fixed.n++], "d1", "DS", 3600,
	    "1 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF");
	rec(&r[fixed.n++], "ns.d1", "A", 3600, "192.0.2.7");
	rec(&r[fixed.n++], "h3", "A", 3600, "192.0.2.8");
	rec(&r[fixed.n++], "a.b.h3", "A", 3600, "192.0.2.9");
	rec(&r[fixed.n++], "www", "A", 600, "192.0.2.10");
}

/* rs_sign_update of one change on the fixed zone; the code, with prev shown untouched. */
static int one_change(const mchg_t *ch, size_t n, const rs_sign_opts_t *so, rs_key_t *const *k, size_t nk,
		      uint32_t serial, rs_diag_t *d)
{
	rs_zone_t *prev = full_sign(&fixed);
	static cset_t cs;
	if (prev == NULL || !make_changes(&cs, ch, n, serial)) {
		rs_zone_free(prev);
		return 1;
	}
	uint64_t before = fingerprint(prev);
	rs_zone_t *next = (rs_zone_t *)&cs; /* must stay as it is on failure */
	int ret = rs_sign_update(prev, &cs.c, k, nk, so, &next, NULL, NULL, d);
	if (ret == RS_EOK)
		rs_zone_free(next);
	else if (next != (rs_zone_t *)&cs || fingerprint(prev) != before)
		ret = 1; /* an output set, or prev changed, on failure */
	rs_zone_free(prev);
	return ret;
}

static void unsupported(void)
{
	fixed_model();
	rs_sign_opts_t so = sign_opts(1);
	rs_diag_t d;
	mchg_t c[2] = { 0 };

	c[0] = (mchg_t){ .add = true };
	rec(&c[0].rec, "@.", "TXT", 3600, "\"apex\"");
	snprintf(c[0].rec.owner, sizeof(c[0].rec.owner), "%s", "www");
	is_int(one_change(c, 1, &so, keys, nkeys, 11, &d), RS_EOK, "a plain change signs");

	/* The apex: owner_wire("") would be ".example."; use a record at the apex by its own name. */
	snprintf(c[0].rec.owner, sizeof(c[0].rec.owner), "%s", "x");
	{
		static cset_t cs;
		rs_zone_t *prev = full_sign(&fixed);
		make_changes(&cs, c, 1, 11);
		cs.add[0].owner = origin;
		uint64_t before = fingerprint(prev);
		rs_zone_t *next = NULL;
		int ret = rs_sign_update(prev, &cs.c, keys, nkeys, &so, &next, NULL, NULL, &d);
		is_int(ret, -EOPNOTSUPP, "a change at the apex needs a full signing");
		ok(strstr(d.text, "apex") != NULL && next == NULL && fingerprint(prev) == before,
		   "says why, sets nothing, leaves prev as it was: %s", d.text);
		rs_zone_free(prev);
	}

	rs_sign_opts_t n3 = so;
	n3.nsec3 = true;
	is_int(one_change(c, 1, &n3, keys, nkeys, 11, &d), -EOPNOTSUPP, "NSEC3 needs a full signing");

	c[0] = (mchg_t){ .add = true };
	rec(&c[0].rec, "h3", "NS", 3600, "ns1.other.net.");
	is_int(one_change(c, 1, &so, keys, nkeys, 11, &d), -EOPNOTSUPP,
	       "a cut added above an existing name needs a full signing");
	ok(strstr(d.text, "a.b.h3") != NULL, "names the name below: %s", d.text);

	c[0] = (mchg_t){ .add = false };
	rec(&c[0].rec, "d1", "NS", 3600, "ns.d1.example.");
	is_int(one_change(c, 1, &so, keys, nkeys, 11, &d), -EOPNOTSUPP,
	       "a cut removed above its glue needs a full signing");

	c[1] = (mchg_t){ .add = false };
	rec(&c[1].rec, "ns.d1", "A", 3600, "192.0.2.7");
	is_int(one_change(c, 2, &so, keys, nkeys, 11, &d), RS_EOK, "a cut removed with its glue signs");

	c[0] = (mchg_t){ .add = true };
	rec(&c[0].rec, "www", "DNAME", 3600, "other.net.");
	is_int(one_change(c, 1, &so, keys, nkeys, 11, &d), -EOPNOTSUPP, "a DNAME needs a full signing");

	rs_key_t *other = NULL;
	rs_key_generate(origin, RS_ALG_ED25519, 0, false, &other, &d);
	rs_key_t *changed[2] = { keys[0], other };
	c[0] = (mchg_t){ .add = true };
	rec(&c[0].rec, "www", "TXT", 3600, "\"x\"");
	is_int(one_change(c, 1, &so, changed, 2, 11, &d), -EOPNOTSUPP, "another key needs a full signing");
	is_int(one_change(c, 1, &so, keys, 1, 11, &d), -EOPNOTSUPP, "a key less needs a full signing");
	rs_key_free(other);
	rs_sign_opts_t ttl = so;
	ttl.nsec_ttl_set = true;
	ttl.nsec_ttl = 60;
	is_int(one_change(c, 1, &ttl, keys, nkeys, 11, &d), -EOPNOTSUPP, "another NSEC TTL needs a full signing");
}

static void bad_changes(void)
{
	fixed_model();
	rs_sign_opts_t so = sign_opts(1);
	rs_diag_t d;
	mchg_t c[2] = { 0 };
	rec(&c[0].rec, "www", "A", 600, "192.0.2.99");
	is_int(one_change(c, 1, &so, keys, nkeys, 11, &d), RS_EINVAL, "removing a missing record is RS_EINVAL");
	ok(strstr(d.text, "www.example. A 192.0.2.99") != NULL, "the diagnostic names it: %s", d.text);
	c[0].add = true;
	snprintf(c[0].rec.rdata, sizeof(c[0].rec.rdata), "192.0.2.10");
	is_int(one_change(c, 1, &so, keys, nkeys, 11, &d), RS_EINVAL, "adding a record already there is RS_EINVAL");
	ok(strstr(d.text, "already") != NULL, "and says so: %s", d.text);
	c[1] = c[0];
	c[0].add = false;
	is_int(one_change(c, 2, &so, keys, nkeys, 11, &d), RS_EOK, "removing and adding it again is fine");
	rec(&c[0].rec, "nope", "A", 600, "192.0.2.99");
	is_int(one_change(c, 1, &so, keys, nkeys, 11, &d), RS_EINVAL, "removing at a missing name is RS_EINVAL");
	c[0].add = true;
	is_int(one_change(c, 1, &so, keys, nkeys, 10, &d), RS_EINVAL, "an old serial is RS_EINVAL");
	rec(&c[0].rec, "www", "RRSIG", 600, "A 15 2 600 20240101000000 20230101000000 1 example. AAAA");
	is_int(one_change(c, 1, &so, keys, nkeys, 11, &d), RS_EINVAL, "an RRSIG in a change set is RS_EINVAL");
	rec(&c[0].rec, "www", "CNAME", 600, "other.net.");
	is_int(one_change(c, 1, &so, keys, nkeys, 11, &d), RS_EZONE, "a CNAME beside data breaks the zone rules");
}

/* Forty updates in a chain, each freeing its predecessor: storage is shared, then compacted. */
static void long_chain(void)
{
	fixed_model();
	rs_zone_t *z = full_sign(&fixed);
	size_t longest = 0, compactions = 0, last = 1;
	bool good = z != NULL;
	for (unsigned i = 0; good && i < 40; i++) {
		mchg_t c = { .add = true };
		rec(&c.rec, "h3", "TXT", 3600, "\"%u\"", i);
		static cset_t cs;
		make_changes(&cs, &c, 1, fixed.serial + 1);
		model_apply(&fixed, &c, 1);
		rs_sign_opts_t so = sign_opts(1);
		rs_zone_t *next = NULL;
		rs_diag_t d;
		good = rs_sign_update(z, &cs.c, keys, nkeys, &so, &next, NULL, NULL, &d) == RS_EOK;
		rs_zone_free(z);
		z = next;
		if (good) {
			size_t chain = rs_zone_chain(z);
			longest = chain > longest ? chain : longest;
			compactions += chain < last;
			last = chain;
		}
	}
	ok(good, "40 updates in a chain");
	ok(longest > 2 && longest <= RS_ZONE_CHAIN_MAX, "storage shared by up to %zu zones", longest);
	ok(compactions >= 1, "and compacted %zu times", compactions);
	rs_zone_t *full = full_sign(&fixed);
	ok(good && zones_equal(z, full) && verify_problems(z) == 0, "the last equals a full signing and verifies");
	rs_zone_free(full);
	rs_zone_free(z);
}

/*
 * A chain of patches that each bring much storage (a refresh of a large
 * zone) is compacted when what they added passes RS_ZONE_CHAIN_BYTES and a
 * quarter of the first zone's, long before RS_ZONE_CHAIN_MAX: the storage of
 * what they replaced goes.
 */
static void heavy_chain(void)
{
	fixed_model();
	rs_zone_t *z = full_sign(&fixed);
	enum { RECORDS = 8000 };
	static uint8_t rdata[RECORDS][256];
	static rs_rr_t rrs[RECORDS];
	uint8_t owner[RS_NAME_MAX];
	size_t longest = 0, compacted_at = 0;
	for (unsigned round = 1; z != NULL && round <= 24 && compacted_at == 0; round++) {
		char name[16];
		snprintf(name, sizeof(name), "big%u", round); /* a name of its own: each patch's storage stays in use */
		owner_wire(name, owner);
		for (unsigned i = 0; i < RECORDS; i++) {
			rdata[i][0] = 254; /* one TXT string of 254 octets, distinct in each round */
			memset(rdata[i] + 1, 'a' + (int)(round % 26), 254);
			snprintf((char *)rdata[i] + 1, 20, "%u-%u", round, i);
			rdata[i][1 + strlen((char *)rdata[i] + 1)] = 'x';
			rrs[i] = (rs_rr_t){ .type = RS_TYPE_TXT, .ttl = 3600, .rdata = rdata[i], .rdlen = 255 };
		}
		rs_zone_edit_t e = { .owner = owner, .rrs = rrs, .count = RECORDS };
		rs_zone_t *next = NULL;
		rs_diag_t d;
		if (rs_zone_patch(z, &e, 1, &next, &d) != RS_EOK)
			printf("# patch: %s\n", d.text);
		rs_zone_free(z);
		z = next;
		size_t chain = z != NULL ? rs_zone_chain(z) : 0;
		if (chain < longest)
			compacted_at = round;
		longest = chain > longest ? chain : longest;
	}
	/* 8,000 records of 255 octets a round (2 MiB, more in arena blocks): past 16 MiB within 8 rounds. */
	ok(compacted_at >= 3 && compacted_at <= 10 && longest < RS_ZONE_CHAIN_MAX, "a chain of heavy patches is compacted by its storage "
	   "(at round %zu, the chain %zu long)", compacted_at, longest);
	rs_zone_free(z);
}

static void patch_rules(void)
{
	fixed_model();
	rs_zone_t *z = full_sign(&fixed);
	uint8_t a[RS_NAME_MAX], b[RS_NAME_MAX];
	owner_wire("www", a);
	owner_wire("h3", b);
	rs_zone_edit_t e[2] = { { .owner = a }, { .owner = b } };
	rs_zone_t *out = NULL;
	rs_diag_t d;
	is_int(rs_zone_patch(z, e, 2, &out, &d), RS_EINVAL, "a patch out of canonical order is refused");
	e[0].owner = b;
	e[1].owner = a;
	uint8_t key[RS_KEY_MAX];
	ok(rs_zone_patch(z, e, 2, &out, &d) == RS_EOK &&
	   rs_zone_find(out, key, rs_dname_key((const uint8_t *)"\3www\7example", key)) == NULL &&
	   rs_zone_find(z, key, rs_dname_key((const uint8_t *)"\3www\7example", key)) != NULL,
	   "a name removed by a patch, and still in its base");
	size_t n0, n1;
	rs_zone_nodes(z, &n0);
	if (out != NULL)
		rs_zone_nodes(out, &n1);
	ok(out != NULL && n1 == n0 - 2 && rs_zone_chain(out) == 2, "two names fewer, storage shared");
	/* A cut comes and goes above a name: the patch marks the names below as rs_zone_finish would. */
	uint8_t ns[RS_NAME_MAX], ip[4] = { 192, 0, 2, 8 };
	owner_wire("ns", ns);
	rs_rr_t h3[2] = { { .type = RS_TYPE_A, .ttl = 3600, .rdata = ip, .rdlen = 4 },
			  { .type = RS_TYPE_NS, .ttl = 3600, .rdata = ns, .rdlen = (uint16_t)rs_dname_len(ns, 255) } };
	rs_zone_edit_t cut = { .owner = b, .rrs = h3, .count = 2 };
	rs_zone_t *with = NULL, *without = NULL;
	size_t klen = rs_dname_key((const uint8_t *)"\1a\1b\2h3\7example", key);
	ok(rs_zone_patch(z, &cut, 1, &with, &d) == RS_EOK && rs_zone_find(with, key, klen) != NULL &&
	   rs_zone_find(with, key, klen)->flags == RS_NODE_NONAUTH, "a cut added makes the names below it glue");
	cut.count = 1;
	ok(with != NULL && rs_zone_patch(with, &cut, 1, &without, &d) == RS_EOK &&
	   rs_zone_find(without, key, klen)->flags == 0, "and removed makes them authoritative again");
	rs_zone_free(with);
	rs_zone_free(without);
	rs_zone_free(z); /* out keeps what it shares */
	quiet = true;
	ok(out != NULL && verify_problems(out) == 2,
	   "out stays readable after its base is freed (two NSEC not redone)");
	quiet = false;
	rs_zone_free(out);
}

/* ---- NSEC3 ---- */

/* NSEC3 with these parameters (salt in hex, or NULL), or NSEC; first_host and last_host for them. */
static void set_denial(bool nsec3, bool opt_out, const char *salt_hex, uint16_t iterations)
{
	use_nsec3 = nsec3;
	n3params = (rs_nsec3_params_t){ .iterations = iterations, .opt_out = opt_out };
	for (size_t i = 0; salt_hex != NULL && salt_hex[2 * i] != 0; i++)
		sscanf(salt_hex + 2 * i, "%2hhx", &n3params.salt[n3params.salt_len++]);
	uint8_t lo[20], hi[20];
	for (unsigned k = 0; nsec3 && k < 2000; k++) {
		char rel[16];
		uint8_t wire[RS_NAME_MAX], h[20];
		snprintf(rel, sizeof(rel), "n%u", k);
		owner_wire(rel, wire);
		rs_nsec3_hash(wire, rs_dname_len(wire, RS_NAME_MAX), n3params.salt, n3params.salt_len, iterations, h);
		if (k == 0 || memcmp(h, lo, 20) < 0) {
			memcpy(lo, h, 20);
			snprintf(first_host, sizeof(first_host), "%s", rel);
		}
		if (k == 0 || memcmp(h, hi, 20) > 0) {
			memcpy(hi, h, 20);
			snprintf(last_host, sizeof(last_host), "%s", rel);
		}
	}
}

/* example. as an interned name, for rs_nsec3_owner; main frees its arena. */
static rs_arena_t *name_arena;

static const rs_name_t *origin_name(void)
{
	static const rs_name_t *name;
	if (name == NULL) {
		name_arena = rs_arena_new(4096);
		name = rs_name_new(name_arena, origin);
	}
	return name;
}

/* The NSEC3 owner (wire, and its label as text) of rel under example. with the run's parameters. */
static void nsec3_owner_of(const char *rel, uint8_t *wire, char *label)
{
	uint8_t name[RS_NAME_MAX], h[20];
	owner_wire(rel, name);
	rs_dname_lower(name);
	rs_nsec3_hash(name, rs_dname_len(name, RS_NAME_MAX), n3params.salt, n3params.salt_len, n3params.iterations, h);
	rs_nsec3_owner(h, origin_name(), wire);
	if (label != NULL) {
		memcpy(label, wire + 1, 32);
		label[32] = 0;
	}
}

/* Has rel an NSEC3 in z? */
static bool has_nsec3(const rs_zone_t *z, const char *rel)
{
	uint8_t wire[RS_NAME_MAX], key[RS_KEY_MAX];
	nsec3_owner_of(rel, wire, NULL);
	const rs_node_t *node = rs_zone_find(z, key, rs_dname_key(wire, key));
	uint32_t b, e;
	return node != NULL && rs_node_rrset(z, node, RS_TYPE_NSEC3, &b, &e);
}

/* Is rel's NSEC3 the first (or the last) of z's chain? */
static bool nsec3_at_end(const rs_zone_t *z, const char *rel, bool last)
{
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(z, &n);
	const rs_name_t *found = NULL;
	for (size_t i = 0; i < n; i++) {
		uint32_t b, e;
		if (rs_node_rrset(z, &nodes[i], RS_TYPE_NSEC3, &b, &e) && (found == NULL || last))
			found = nodes[i].name;
	}
	uint8_t wire[RS_NAME_MAX];
	nsec3_owner_of(rel, wire, NULL);
	return found != NULL && found->wire_len == rs_dname_len(wire, RS_NAME_MAX) &&
	       memcmp(rs_name_wire(found), wire, found->wire_len) == 0;
}

/* One change set on m, signed as a change and in full: equal, record for record and diff; the result or NULL. */
static rs_zone_t *step(model_t *m, const mchg_t *ch, size_t n, const char *label, const char *what)
{
	rs_zone_t *prev = full_sign(m);
	static cset_t cs;
	bool good = prev != NULL && make_changes(&cs, ch, n, m->serial + 1);
	model_apply(m, ch, n);
	rs_zone_t *full = full_sign(m), *next = NULL;
	rs_diff_t diff = { 0 }, want = { 0 };
	rs_sign_opts_t so = sign_opts(1);
	rs_sign_stats_t st = { 0 };
	rs_diag_t d = { "" };
	int ret = good ? rs_sign_update(prev, &cs.c, keys, nkeys, &so, &next, &diff, &st, &d) : RS_EINVAL;
	if (ret != RS_EOK)
		printf("# update: %s\n", d.text);
	good = ret == RS_EOK && full != NULL && rs_diff_zones(prev, full, &want, &d) == RS_EOK &&
	       zones_equal(next, full) && diffs_equal(&diff, &want) && verify_problems(next) == 0;
	ok(good, "%s: %s (%" PRIu64 " NSEC3 made)", label, what, st.nsec);
	rs_diff_clear(&diff);
	rs_diff_clear(&want);
	rs_zone_free(full);
	rs_zone_free(prev);
	if (!good) {
		rs_zone_free(next);
		return NULL;
	}
	return next;
}

/* Named change sets that move empty non-terminals, delegations and the chain's ends, each against full signing. */
static void nsec3_steps(const char *label)
{
	fixed_model();
	model_t m = fixed;
	mchg_t c[4] = { 0 };
	rs_zone_t *z;
	bool oo = n3params.opt_out;

	c[0] = (mchg_t){ .add = true };
	rec(&c[0].rec, "p.q.new", "A", 3600, "192.0.2.20");
	z = step(&m, c, 1, label, "a name below two new empty non-terminals");
	ok(z != NULL && has_nsec3(z, "q.new") && has_nsec3(z, "new") && has_nsec3(z, "p.q.new"),
	   "%s: they get NSEC3 records", label);
	rs_zone_free(z);
	c[0].add = false;
	z = step(&m, c, 1, label, "and removed");
	ok(z != NULL && !has_nsec3(z, "q.new") && !has_nsec3(z, "new"), "%s: their NSEC3 records go", label);
	rs_zone_free(z);

	c[0] = (mchg_t){ .add = true };
	rec(&c[0].rec, "u.ent", "NS", 3600, "ns1.other.net.");
	z = step(&m, c, 1, label, "an unsigned delegation below a new empty non-terminal");
	ok(z != NULL && has_nsec3(z, "ent") == !oo && has_nsec3(z, "u.ent") == !oo,
	   "%s: %s", label, oo ? "opt-out leaves both out" : "both are in the chain");
	rs_zone_free(z);
	c[1] = (mchg_t){ .add = true };
	ds_rec(&c[1].rec, "u.ent", 3600);
	z = step(&m, c + 1, 1, label, "a DS added there");
	ok(z != NULL && has_nsec3(z, "ent") && has_nsec3(z, "u.ent"), "%s: a secure delegation is in the chain", label);
	rs_zone_free(z);
	c[1].add = false;
	z = step(&m, c + 1, 1, label, "and removed");
	ok(z != NULL && has_nsec3(z, "ent") == !oo, "%s: the empty non-terminal follows", label);
	rs_zone_free(z);
	c[0].add = false;
	c[1] = (mchg_t){ .add = true };
	rec(&c[1].rec, "v.ent", "TXT", 3600, "\"moved\"");
	z = step(&m, c, 2, label, "the delegation replaced by data at another name below it");
	ok(z != NULL && has_nsec3(z, "ent") && !has_nsec3(z, "u.ent"), "%s: the empty non-terminal stays", label);
	rs_zone_free(z);

	c[0] = (mchg_t){ .add = true };
	rec(&c[0].rec, "g", "NS", 3600, "ns.deep.g.example.");
	c[1] = (mchg_t){ .add = true };
	rec(&c[1].rec, "ns.deep.g", "A", 3600, "192.0.2.21");
	z = step(&m, c, 2, label, "a delegation with glue below an empty non-terminal under the cut");
	ok(z != NULL && !has_nsec3(z, "deep.g") && !has_nsec3(z, "ns.deep.g") && has_nsec3(z, "g") == !oo,
	   "%s: the glue and the name above it are in no chain", label);
	rs_zone_free(z);

	c[0] = (mchg_t){ .add = false };
	rec(&c[0].rec, "h3", "A", 3600, "192.0.2.8");
	z = step(&m, c, 1, label, "a name's last record removed, a name below it stays");
	ok(z != NULL && has_nsec3(z, "h3") && has_nsec3(z, "b.h3"), "%s: it is an empty non-terminal now", label);
	rs_zone_free(z);
	c[0].add = true;
	z = step(&m, c, 1, label, "and added again");
	rs_zone_free(z);

	c[0] = (mchg_t){ .add = true };
	rec(&c[0].rec, first_host, "A", 3600, "192.0.2.30");
	z = step(&m, c, 1, label, "a name whose hash sorts first");
	ok(z != NULL && nsec3_at_end(z, first_host, false), "%s: it is first in the chain, the last wraps to it", label);
	rs_zone_free(z);
	c[1] = (mchg_t){ .add = true };
	rec(&c[1].rec, last_host, "A", 3600, "192.0.2.31");
	z = step(&m, c + 1, 1, label, "a name whose hash sorts last");
	ok(z != NULL && nsec3_at_end(z, last_host, true), "%s: it is last in the chain", label);
	rs_zone_free(z);
	c[0].add = c[1].add = false;
	z = step(&m, c, 2, label, "both removed at once");
	ok(z != NULL && !has_nsec3(z, first_host) && !has_nsec3(z, last_host), "%s: the chain wraps as before", label);
	rs_zone_free(z);

	c[0] = (mchg_t){ .add = false };
	rec(&c[0].rec, "d1", "DS", 3600, "1 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF");
	z = step(&m, c, 1, label, "a delegation's DS removed");
	ok(z != NULL && has_nsec3(z, "d1") == !oo, "%s: %s", label, oo ? "opt-out leaves it out" : "it stays");
	rs_zone_free(z);
	c[0].add = true;
	z = step(&m, c, 1, label, "and added again");
	rs_zone_free(z);
}

/* What still needs a full signing in an NSEC3 zone, and a change at an NSEC3 owner. */
static void nsec3_unsupported(const char *label)
{
	fixed_model();
	rs_sign_opts_t so = sign_opts(1), other;
	rs_diag_t d;
	mchg_t c[1] = { { .add = true } };
	rec(&c[0].rec, "www", "TXT", 3600, "\"x\"");
	is_int(one_change(c, 1, &so, keys, nkeys, 11, &d), RS_EOK, "%s: a plain change signs", label);
	other = so;
	other.nsec3_params.iterations++;
	is_int(one_change(c, 1, &other, keys, nkeys, 11, &d), -EOPNOTSUPP,
	       "%s: other NSEC3 iterations need a full signing", label);
	ok(strstr(d.text, "NSEC3 parameters") != NULL, "%s: says so: %s", label, d.text);
	other = so;
	other.nsec3_params.salt[0] ^= 0x5a;
	other.nsec3_params.salt_len = other.nsec3_params.salt_len ? other.nsec3_params.salt_len : 1;
	is_int(one_change(c, 1, &other, keys, nkeys, 11, &d), -EOPNOTSUPP, "%s: another salt needs a full signing",
	       label);
	other = so;
	other.nsec3_params.opt_out = !so.nsec3_params.opt_out;
	is_int(one_change(c, 1, &other, keys, nkeys, 11, &d), -EOPNOTSUPP, "%s: opt-out turned %s needs a full signing",
	       label, other.nsec3_params.opt_out ? "on" : "off");
	ok(strstr(d.text, "opt-out") != NULL, "%s: says so: %s", label, d.text);
	other = so;
	other.nsec3 = false;
	is_int(one_change(c, 1, &other, keys, nkeys, 11, &d), -EOPNOTSUPP, "%s: NSEC instead needs a full signing",
	       label);
	other = so;
	other.nsec_ttl_set = true;
	other.nsec_ttl = 60;
	is_int(one_change(c, 1, &other, keys, nkeys, 11, &d), -EOPNOTSUPP,
	       "%s: another NSEC3 TTL needs a full signing", label);
	uint8_t wire[RS_NAME_MAX];
	nsec3_owner_of("www", wire, c[0].rec.owner);
	is_int(one_change(c, 1, &so, keys, nkeys, 11, &d), RS_EINVAL, "%s: a record at an NSEC3 owner is RS_EINVAL",
	       label);
	ok(strstr(d.text, "NSEC3") != NULL, "%s: says why: %s", label, d.text);
}

/*
 * Refreshes riding on change sets: hour by hour, with the reuse window a
 * daemon uses (keep what lasts floor plus its share of the spread), each
 * update (no change at all every third hour) equals a full signing that keeps
 * the same signatures from prev, diff and verifier agree, and the load is
 * spread: no refresh re-makes a third of the zone, and every signature is
 * re-made.
 */
static void refresh_chain(const char *label)
{
	static model_t m;
	random_model(&m);
	const int64_t hour = 3600, validity = 23 * hour, floor = 4 * hour;
	rs_sign_opts_t first = sign_opts(1);
	first.inception = INCEPTION - hour;
	first.expiration = INCEPTION + validity;
	rs_zone_t *prev = sign_with(&m, &first);
	size_t total = 0;
	unsigned steps = 0, equal = 0, verified = 0;
	uint64_t most = 0, made = 0;
	for (unsigned step = 1; prev != NULL && step <= 30; step++) {
		int64_t now = INCEPTION + (int64_t)step * hour;
		gen_t g = { .n = 0 };
		for (unsigned i = 0; step % 3 != 0 && i < 1 + rnd(3); i++)
			random_op(&g, &m);
		static cset_t cs;
		if (!make_changes(&cs, g.c, g.n, m.serial + 1))
			break;
		model_apply(&m, g.c, g.n);
		rs_sign_opts_t so = sign_opts(1 + rnd(2));
		so.inception = now - hour;
		so.expiration = now + validity;
		so.reuse_until = now + floor;
		so.reuse_spread = validity - 2 * floor;
		so.reuse_latest = now + validity;
		rs_sign_opts_t fo = so;
		fo.previous = prev;
		rs_zone_t *full = sign_with(&m, &fo), *next = NULL;
		rs_diff_t diff = { 0 }, want = { 0 };
		rs_sign_stats_t st = { 0 };
		rs_diag_t d = { "" };
		int ret = rs_sign_update(prev, &cs.c, keys, nkeys, &so, &next, &diff, &st, &d);
		if (ret != RS_EOK)
			printf("# update at hour %u: %s\n", step, d.text);
		steps++;
		if (ret == RS_EOK && full != NULL && rs_diff_zones(prev, full, &want, &d) == RS_EOK &&
		    zones_equal(next, full) && diffs_equal(&diff, &want))
			equal++;
		rs_verify_opts_t vo = { .now = now, .threads = 1 };
		rs_verify_result_t vr = { 0 };
		rs_buf_t report;
		rs_buf_init(&report, 1 << 20);
		if (next != NULL && rs_verify_zone(next, &vo, &report, &vr, &d) == RS_EOK && vr.problems == 0)
			verified++;
		rs_buf_clear(&report);
		size_t n;
		const rs_node_t *nodes = next != NULL ? rs_zone_nodes(next, &n) : NULL;
		total = nodes != NULL ? nodes[n - 1].first + nodes[n - 1].count : 0;
		if (g.n == 0) /* a refresh alone */
			most = st.signatures > most ? st.signatures : most;
		made += st.signatures;
		rs_diff_clear(&diff);
		rs_diff_clear(&want);
		rs_zone_free(full);
		rs_zone_free(prev);
		prev = next;
		m.serial++;
	}
	/* After 30 hours no signature of the first signing may be left (validity 23 h). */
	bool renewed = prev != NULL;
	const rs_rr_t *rr = prev != NULL ? rs_zone_rrs(prev) : NULL;
	uint64_t sigs = 0;
	for (size_t i = 0; renewed && i < total; i++) {
		renewed = rr[i].type != RS_TYPE_RRSIG || rs_get32(rr[i].rdata + 8) != (uint32_t)first.expiration;
		sigs += rr[i].type == RS_TYPE_RRSIG;
	}
	ok(steps == 30 && equal == steps, "%s refresh: %u of %u hourly updates equal a full signing that keeps "
	   "what lasts, diff alike", label, equal, steps);
	ok(verified == steps && renewed, "%s refresh: every hour validates, and no signature of the first signing is "
	   "left after 30 hours", label);
	ok(most > 0 && most * 3 < sigs, "%s refresh: spread, at most %llu of the zone's %llu signatures made by a refresh "
	   "alone (%llu in %u hours)", label, (unsigned long long)most, (unsigned long long)sigs, (unsigned long long)made,
	   steps);
	rs_zone_free(prev);
}

int main(void)
{
	rs_dname_from_str("example.", origin);
	rs_diag_t d;
	rs_key_generate(origin, RS_ALG_ED25519, 0, true, &keys[0], &d);
	rs_key_generate(origin, RS_ALG_ED25519, 0, false, &keys[1], &d);
	random_chains("Ed25519", 30, 10);
	unsigned least = ~0u;
	for (unsigned k = 0; k < NOPS; k++)
		least = ops_done[k] < least ? ops_done[k] : least;
	ok(least >= 10, "every kind of change was made (the rarest %u times)", least);
	unsupported();
	bad_changes();
	long_chain();
	patch_rules();
	heavy_chain();
	static const struct {
		const char *label;
		bool opt_out;
		const char *salt;
		uint16_t iterations;
	} n3[] = { { "NSEC3", false, NULL, 0 },
		   { "NSEC3 opt-out", true, NULL, 0 },
		   { "NSEC3 salted", false, "AABBCCDD", 5 },
		   { "NSEC3 opt-out salted", true, "0102", 1 } };
	for (size_t i = 0; i < sizeof(n3) / sizeof(n3[0]); i++) {
		set_denial(true, n3[i].opt_out, n3[i].salt, n3[i].iterations);
		random_chains(n3[i].label, 20, 10);
		nsec3_steps(n3[i].label);
		nsec3_unsupported(n3[i].label);
		refresh_chain(n3[i].label);
	}
	long_chain();
	set_denial(false, false, NULL, 0);
	refresh_chain("NSEC");
	rs_key_free(keys[0]);
	rs_key_free(keys[1]);
	rs_key_generate(origin, RS_ALG_RSASHA256, 1024, true, &keys[0], &d);
	rs_key_generate(origin, RS_ALG_RSASHA256, 1024, false, &keys[1], &d);
	random_chains("RSASHA256", 10, 10);
	set_denial(true, false, NULL, 0);
	random_chains("RSASHA256 NSEC3", 3, 10);
	rs_key_free(keys[0]);
	rs_key_free(keys[1]);
	rs_arena_free(name_arena);
	return done_testing();
}
