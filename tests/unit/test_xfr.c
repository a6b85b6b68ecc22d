/*
 * Unit tests of xfr's history side: versions, diffs between two signed zones
 * (checked by applying them to the old zone and comparing with the new), and
 * the journal: chains, reopening, limits, end_at, damaged tails, files that
 * are not journals, reads racing appends, the file within its bounds after
 * every append of a long random sequence, and kill -9 at random instants.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "regsign/xfr.h"
#include "tap/tap.h"
#include "tap/zone.h"

static uint8_t origin[RS_NAME_MAX];
static char dir[64];

static rs_zone_t *zone(const char *text)
{
	return tap_zone(origin, text, NULL, 0, true);
}

/* Zone text reads best one record a line. */
/* clang-format off */
#define SIG(covered, labels, b64) \
	" RRSIG " covered " 13 " labels " 3600 20300101000000 20200101000000 4711 test. " b64 "\n"

/* Serial 1: an apex, two delegations, a name that goes, glue-less NS; signed-looking. */
static const char zone_a[] =
	"$ORIGIN test.\n$TTL 3600\n"
	"@ SOA ns hostmaster 1 7200 3600 1209600 300\n"
	"@ NS ns\n"
	"@ DNSKEY 257 3 13 AAECAwQFBgcICQoLDA0ODw==\n"
	"@" SIG("SOA", "1", "AAAAAAAAAAAAAAAAAAAAAA==")
	"@" SIG("NS", "1", "AQEBAQEBAQEBAQEBAQEBAQ==")
	"@" SIG("DNSKEY", "1", "AgICAgICAgICAgICAgICAg==")
	"@" SIG("NSEC", "1", "AwMDAwMDAwMDAwMDAwMDAw==")
	"@ NSEC a NS SOA RRSIG NSEC DNSKEY\n"
	"a NS ns1.other.\n"
	"a DS 1 13 2 0101010101010101010101010101010101010101010101010101010101010101\n"
	"a" SIG("DS", "2", "BAQEBAQEBAQEBAQEBAQEBA==")
	"a" SIG("NSEC", "2", "BQUFBQUFBQUFBQUFBQUFBQ==")
	"a NSEC c NS DS RRSIG NSEC\n"
	"c NS ns1.other.\n"
	"c" SIG("NSEC", "2", "BgYGBgYGBgYGBgYGBgYGBg==")
	"c NSEC d NS RRSIG NSEC\n"
	"d NS ns1.other.\n"
	"d" SIG("NSEC", "2", "BwcHBwcHBwcHBwcHBwcHBw==")
	"d NSEC ns NS RRSIG NSEC\n"
	"ns A 192.0.2.1\n"
	"ns" SIG("A", "2", "CAgICAgICAgICAgICAgICA==")
	"ns" SIG("NSEC", "2", "CQkJCQkJCQkJCQkJCQkJCQ==")
	"ns NSEC test. A RRSIG NSEC\n";

/*
 * Serial 2: SOA and its RRSIG re-signed, a TXT at the apex, a's DS rolled,
 * b added between a and c, c's NS TTL changed, d gone, ns untouched.
 */
static const char zone_b[] =
	"$ORIGIN test.\n$TTL 3600\n"
	"@ SOA ns hostmaster 2 7200 3600 1209600 300\n"
	"@ NS ns\n"
	"@ TXT \"new at the apex\"\n"
	"@ DNSKEY 257 3 13 AAECAwQFBgcICQoLDA0ODw==\n"
	"@" SIG("SOA", "1", "ICAgICAgICAgICAgICAgIA==")
	"@" SIG("NS", "1", "AQEBAQEBAQEBAQEBAQEBAQ==")
	"@" SIG("TXT", "1", "ISEhISEhISEhISEhISEhIQ==")
	"@" SIG("DNSKEY", "1", "AgICAgICAgICAgICAgICAg==")
	"@" SIG("NSEC", "1", "IiIiIiIiIiIiIiIiIiIiIg==")
	"@ NSEC a NS SOA TXT RRSIG NSEC DNSKEY\n"
	"a NS ns1.other.\n"
	"a DS 2 13 2 0202020202020202020202020202020202020202020202020202020202020202\n"
	"a" SIG("DS", "2", "IyMjIyMjIyMjIyMjIyMjIw==")
	"a" SIG("NSEC", "2", "JCQkJCQkJCQkJCQkJCQkJA==")
	"a NSEC b NS DS RRSIG NSEC\n"
	"b NS ns1.other.\n"
	"b DS 3 13 2 0303030303030303030303030303030303030303030303030303030303030303\n"
	"b" SIG("DS", "2", "JSUlJSUlJSUlJSUlJSUlJQ==")
	"b" SIG("NSEC", "2", "JiYmJiYmJiYmJiYmJiYmJg==")
	"b NSEC c NS DS RRSIG NSEC\n"
	"c 7200 NS ns1.other.\n"
	"c" SIG("NSEC", "2", "JycnJycnJycnJycnJycnJw==")
	"c NSEC ns NS RRSIG NSEC\n"
	"ns A 192.0.2.1\n"
	"ns" SIG("A", "2", "CAgICAgICAgICAgICAgICA==")
	"ns" SIG("NSEC", "2", "CQkJCQkJCQkJCQkJCQkJCQ==")
	"ns NSEC test. A RRSIG NSEC\n";

/* clang-format on */

/* ---- records as text lines, to apply a diff and compare ---- */

typedef struct {
	char **line;
	size_t n;
} lines_t;

static char *rr_line(const uint8_t *owner, uint32_t ttl, uint16_t type, const uint8_t *rdata,
		     size_t len)
{
	rs_buf_t b;
	rs_buf_init(&b, 1 << 16);
	if (rs_rr_format(&b, NULL, owner, ttl, type, rdata, len) != RS_EOK ||
	    rs_buf_append(&b, "", 1) != RS_EOK)
		abort();
	return (char *)b.data;
}

static char *xrr_line(const rs_xrr_t *rr)
{
	return rr_line(rr->owner, rr->ttl, rr->type, rr->rdata, rr->rdlen);
}

/* Every record of z but the apex SOA. */
static lines_t zone_lines(const rs_zone_t *z)
{
	size_t nn;
	const rs_node_t *nodes = rs_zone_nodes(z, &nn);
	const rs_rr_t *rr = rs_zone_rrs(z), *soa = rs_zone_soa(z);
	lines_t l = { calloc(nn * 16 + 1, sizeof(char *)), 0 };
	for (size_t i = 0; i < nn; i++)
		for (uint32_t k = nodes[i].first; k < nodes[i].first + nodes[i].count; k++)
			if (&rr[k] != soa)
				l.line[l.n++] = rr_line(rs_name_written(rr[k].owner), rr[k].ttl,
							rr[k].type, rr[k].rdata, rr[k].rdlen);
	return l;
}

static void lines_free(lines_t *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->line[i]);
	free(l->line);
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Apply d to old's records (each removed record must be there, each added
 * one must not) and compare with new's; the SOAs must be the two zones'.
 */
static bool apply_equals(const rs_zone_t *old, const rs_diff_t *d, const rs_zone_t *new)
{
	lines_t l = zone_lines(old), want = zone_lines(new);
	size_t cap = l.n + d->nadded + 1;
	l.line = realloc(l.line, cap * sizeof(char *));
	bool good = true;
	for (size_t i = 0; good && i < d->nremoved; i++) {
		char *s = xrr_line(&d->removed[i]);
		size_t k = 0;
		while (k < l.n && strcmp(l.line[k], s) != 0)
			k++;
		if (k == l.n) {
			printf("# removed but not in the old zone: %s", s);
			good = false;
		} else {
			free(l.line[k]);
			l.line[k] = l.line[--l.n];
		}
		free(s);
	}
	for (size_t i = 0; good && i < d->nadded; i++) {
		char *s = xrr_line(&d->added[i]);
		for (size_t k = 0; k < l.n; k++)
			if (strcmp(l.line[k], s) == 0) {
				printf("# added but already there: %s", s);
				good = false;
			}
		l.line[l.n++] = s;
	}
	qsort(l.line, l.n, sizeof(char *), strp_cmp);
	qsort(want.line, want.n, sizeof(char *), strp_cmp);
	if (good && l.n != want.n) {
		printf("# %zu records after applying, want %zu\n", l.n, want.n);
		good = false;
	}
	for (size_t i = 0; good && i < l.n; i++)
		if (strcmp(l.line[i], want.line[i]) != 0) {
			printf("# got %s#  want %s", l.line[i], want.line[i]);
			good = false;
		}
	const rs_rr_t *os = rs_zone_soa(old), *ns = rs_zone_soa(new);
	char *a = xrr_line(&d->soa_from), *b = xrr_line(&d->soa_to);
	char *wa = rr_line(rs_name_written(os->owner), os->ttl, os->type, os->rdata, os->rdlen);
	char *wb = rr_line(rs_name_written(ns->owner), ns->ttl, ns->type, ns->rdata, ns->rdlen);
	if (good && (strcmp(a, wa) != 0 || strcmp(b, wb) != 0)) {
		printf("# SOAs %s#  and %s", a, b);
		good = false;
	}
	free(a);
	free(b);
	free(wa);
	free(wb);
	lines_free(&l);
	lines_free(&want);
	return good;
}

/* Is some record of list the one given as text? */
static bool has(const rs_xrr_t *list, size_t n, const char *text)
{
	bool found = false;
	for (size_t i = 0; i < n && !found; i++) {
		char *s = xrr_line(&list[i]);
		found = strncmp(s, text, strlen(text)) == 0;
		free(s);
	}
	return found;
}

static bool owner_in(const rs_xrr_t *list, size_t n, const char *name)
{
	uint8_t w[RS_NAME_MAX];
	rs_dname_from_str(name, w);
	size_t len = rs_dname_len(w, RS_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if (rs_dname_len(list[i].owner, RS_NAME_MAX) == len &&
		    memcmp(list[i].owner, w, len) == 0)
			return true;
	return false;
}

/* Canonical order of owners (RFC 4034 6.1) through their keys; records of one owner by type. */
static bool canonical(const rs_xrr_t *list, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint8_t ka[RS_KEY_MAX], kb[RS_KEY_MAX];
		size_t la = rs_dname_key(list[i - 1].owner, ka),
		       lb = rs_dname_key(list[i].owner, kb);
		int c = memcmp(ka, kb, la < lb ? la : lb);
		if (c == 0)
			c = (int)la - (int)lb;
		if (c > 0 || (c == 0 && list[i - 1].type > list[i].type))
			return false;
	}
	return true;
}

static void test_version(void)
{
	rs_zone_t *z = zone(zone_a);
	rs_version_t *v;
	is_int(rs_version_new(z, &v), RS_EOK, "version of a zone");
	is_int(rs_version_serial(v), 1, "version serial is the SOA's");
	ok(rs_version_zone(v) == z, "version holds the zone");
	ok(rs_version_ref(v) == v, "ref returns the version");
	rs_version_unref(v);
	/* Still referenced once: the zone must still be there (ASan catches a use after free). */
	is_int(rs_version_serial(v), 1, "version alive after one of two unrefs");
	ok(rs_zone_soa(rs_version_zone(v))->type == RS_TYPE_SOA, "its zone still readable");
	rs_version_unref(v);
	rs_version_unref(NULL);
	ok(1, "unref of NULL ignored");
}

static void test_diff(void)
{
	rs_zone_t *a = zone(zone_a), *b = zone(zone_b);
	ok(a != NULL && b != NULL, "signed-looking zones read");
	rs_diff_t d;
	rs_diag_t diag = { "" };
	is_int(rs_diff_zones(a, b, &d, &diag), RS_EOK, "diff 1 to 2");
	is_int(d.from, 1, "diff from serial");
	is_int(d.to, 2, "diff to serial");
	ok(apply_equals(a, &d, b), "diff applied to the old zone gives the new one");
	{
		/* rs_zone_apply_diff: the same, as a patched zone (a restart replays the journal so). */
		rs_zone_t *p = NULL;
		rs_diff_t again = { 0 };
		ok(rs_zone_apply_diff(a, &d, &p, &diag) == RS_EOK && p != NULL, "rs_zone_apply_diff: applied (%s)",
		   diag.text);
		lines_t lp = p ? zone_lines(p) : (lines_t){ 0 }, lb = zone_lines(b);
		bool same = p != NULL && lp.n == lb.n;
		for (size_t i = 0; same && i < lp.n; i++)
			same = strcasecmp(lp.line[i], lb.line[i]) == 0;
		ok(same, "rs_zone_apply_diff: the new zone, record for record (%zu)", lp.n);
		ok(p != NULL && rs_diff_zones(b, p, &again, &diag) == RS_EINVAL, "rs_zone_apply_diff: same serial as the new");
		ok(rs_zone_apply_diff(b, &d, &p, &diag) == RS_EINVAL, "rs_zone_apply_diff: a diff of another zone refused (%s)",
		   diag.text);
		lines_free(&lp);
		lines_free(&lb);
		rs_zone_free(p);
	}
	/*
	 * Removed: RRSIG SOA, RRSIG NSEC and NSEC at the apex, a's DS, RRSIG DS,
	 * RRSIG NSEC, NSEC; c's NS (TTL), RRSIG NSEC, NSEC; d's NS, RRSIG NSEC, NSEC.
	 */
	is_int(d.nremoved, 13, "records removed");
	/* Added: apex TXT, RRSIG SOA, RRSIG TXT, RRSIG NSEC, NSEC; a's 4; b's 5; c's 3. */
	is_int(d.nadded, 17, "records added");
	ok(!has(d.removed, d.nremoved, "test.\t3600\tIN\tSOA") &&
	       !has(d.added, d.nadded, "test.\t3600\tIN\tSOA"),
	   "SOAs not in the lists");
	ok(has(&d.soa_from, 1, "test.\t3600\tIN\tSOA\tns.test. hostmaster.test. 1 ") &&
	       has(&d.soa_to, 1, "test.\t3600\tIN\tSOA\tns.test. hostmaster.test. 2 "),
	   "soa_from and soa_to");
	ok(has(d.removed, d.nremoved, "c.test.\t3600\tIN\tNS") &&
	       has(d.added, d.nadded, "c.test.\t7200\tIN\tNS"),
	   "TTL change is removed and added");
	ok(!owner_in(d.removed, d.nremoved, "ns.test.") && !owner_in(d.added, d.nadded, "ns.test."),
	   "untouched name not in the diff");
	ok(owner_in(d.added, d.nadded, "b.test.") && !owner_in(d.removed, d.nremoved, "b.test."),
	   "name added between two others");
	ok(owner_in(d.removed, d.nremoved, "d.test.") && !owner_in(d.added, d.nadded, "d.test."),
	   "name removed");
	ok(has(d.added, d.nadded, "test.\t3600\tIN\tTXT") &&
	       has(d.added, d.nadded, "test.\t3600\tIN\tRRSIG\tTXT"),
	   "apex change besides the SOA");
	ok(has(d.removed, d.nremoved, "test.\t3600\tIN\tRRSIG\tSOA") &&
	       has(d.added, d.nadded, "test.\t3600\tIN\tRRSIG\tSOA"),
	   "re-signed SOA's RRSIG replaced");
	ok(!has(d.removed, d.nremoved, "test.\t3600\tIN\tRRSIG\tNS ") &&
	       !has(d.removed, d.nremoved, "test.\t3600\tIN\tRRSIG\tDNSKEY"),
	   "RRSIGs kept are not in the diff");
	ok(canonical(d.removed, d.nremoved) && canonical(d.added, d.nadded),
	   "lists in canonical order");
	/* Four SOA-free wire forms plus two SOAs: the size counts owner, fixed fields and RDATA. */
	uint64_t want = 0;
	for (size_t i = 0; i < d.nremoved; i++)
		want += rs_dname_len(d.removed[i].owner, RS_NAME_MAX) + 10 + d.removed[i].rdlen;
	for (size_t i = 0; i < d.nadded; i++)
		want += rs_dname_len(d.added[i].owner, RS_NAME_MAX) + 10 + d.added[i].rdlen;
	want += 2 * (6 + 10) + d.soa_from.rdlen + d.soa_to.rdlen;
	is_int(rs_diff_size(&d), want, "diff size in wire octets");

	/* The reverse direction is refused: 1 is not after 2. */
	rs_diff_t r = { 0 };
	is_int(rs_diff_zones(b, a, &r, &diag), RS_EINVAL, "serial going back refused");
	ok(strstr(diag.text, "serial 1 is not after") != NULL, "diag says why: %s", diag.text);
	ok(r.mem == NULL && r.removed == NULL, "nothing set on error");
	is_int(rs_diff_zones(a, a, &r, &diag), RS_EINVAL, "equal serials refused");
	rs_diff_clear(&d);
	ok(d.mem == NULL && d.nremoved == 0 && d.removed == NULL, "cleared");
	rs_diff_clear(&d);
	ok(1, "cleared twice");

	/* Only the serial changed: an empty diff but for the SOAs. */
	char *text = strdup(zone_a);
	*strstr(text, "hostmaster 1 ") = 0;
	char buf[sizeof(zone_a) + 16];
	snprintf(buf, sizeof(buf), "%shostmaster 3 %s", text, strstr(zone_a, "hostmaster 1 ") + 13);
	free(text);
	rs_zone_t *c = zone(buf);
	is_int(rs_diff_zones(a, c, &d, &diag), RS_EOK, "diff with only the serial changed");
	ok(d.nremoved == 0 && d.nadded == 0, "no records but the SOAs (%zu, %zu)", d.nremoved,
	   d.nadded);
	ok(apply_equals(a, &d, c), "empty diff applied");
	rs_diff_clear(&d);

	/* Serial arithmetic wraps (RFC 1982): 4294967295 is before 3. */
	text = strdup(zone_a);
	*strstr(text, "hostmaster 1 ") = 0;
	snprintf(buf, sizeof(buf), "%shostmaster 4294967295 %s", text,
		 strstr(zone_a, "hostmaster 1 ") + 13);
	free(text);
	rs_zone_t *w = zone(buf);
	is_int(rs_diff_zones(w, c, &d, &diag), RS_EOK, "serial wrap accepted");
	is_int(d.from, 4294967295u, "from before the wrap");
	rs_diff_clear(&d);
	is_int(rs_diff_zones(c, w, &d, &diag), RS_EINVAL, "and its reverse refused");

	/* Other origin. */
	uint8_t other[RS_NAME_MAX];
	rs_dname_from_str("other.", other);
	rs_zone_t *o = tap_zone(other,
				"$ORIGIN other.\n@ 3600 SOA ns hostmaster 9 1 1 1 1\n@ 3600 NS ns\n"
				"ns 3600 A 192.0.2.1\n",
				NULL, 0, true);
	is_int(rs_diff_zones(a, o, &d, &diag), RS_EINVAL, "different origins refused");
	ok(strstr(diag.text, "origins") != NULL, "diag: %s", diag.text);
	rs_zone_free(a);
	rs_zone_free(b);
	rs_zone_free(c);
	rs_zone_free(w);
	rs_zone_free(o);
}

/* ---- journal ---- */

/* The zone of version s: a TXT and a name that change with it. */
static rs_zone_t *zone_at(uint32_t s)
{
	char text[512];
	snprintf(text, sizeof(text),
		 "$ORIGIN test.\n$TTL 3600\n@ SOA ns hostmaster %u 7200 3600 1209600 300\n"
		 "@ NS ns\n@ TXT \"version %08u\"\nns A 192.0.2.1\nn%08u A 192.0.2.%u\n",
		 s, s, s, s % 250 + 1);
	return zone(text);
}

static rs_diff_t mkdiff(uint32_t from, uint32_t to)
{
	rs_zone_t *a = zone_at(from), *b = zone_at(to);
	rs_diff_t d = { 0 };
	if (a == NULL || b == NULL || rs_diff_zones(a, b, &d, NULL) != RS_EOK)
		abort();
	rs_zone_free(a);
	rs_zone_free(b);
	return d;
}

static bool xrr_eq(const rs_xrr_t *a, const rs_xrr_t *b)
{
	size_t la = rs_dname_len(a->owner, RS_NAME_MAX);
	return la == rs_dname_len(b->owner, RS_NAME_MAX) && memcmp(a->owner, b->owner, la) == 0 &&
	       a->type == b->type && a->ttl == b->ttl && a->rdlen == b->rdlen &&
	       memcmp(a->rdata, b->rdata, a->rdlen) == 0;
}

static bool diff_eq(const rs_diff_t *a, const rs_diff_t *b)
{
	if (a->from != b->from || a->to != b->to || a->nremoved != b->nremoved ||
	    a->nadded != b->nadded || !xrr_eq(&a->soa_from, &b->soa_from) ||
	    !xrr_eq(&a->soa_to, &b->soa_to))
		return false;
	for (size_t i = 0; i < a->nremoved; i++)
		if (!xrr_eq(&a->removed[i], &b->removed[i]))
			return false;
	for (size_t i = 0; i < a->nadded; i++)
		if (!xrr_eq(&a->added[i], &b->added[i]))
			return false;
	return true;
}

static void free_diffs(rs_diff_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rs_diff_clear(&d[i]);
	free(d);
}

/* rs_journal_read, leaving no diffs behind on an error. */
static int jread(rs_journal_t *j, uint32_t from, rs_diff_t **d, size_t *n, rs_diag_t *diag)
{
	int ret = rs_journal_read(j, from, d, n, diag);
	if (ret != RS_EOK) {
		*d = NULL;
		*n = 0;
	}
	return ret;
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static char *jpath(const char *name)
{
	static char buf[4][128];
	static int next;
	char *p = buf[next++ % 4];
	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

/* A journal at path holding diffs from..to (one apart), closed again. */
static void make_journal(const char *path, uint32_t from, uint32_t to)
{
	unlink(path);
	rs_journal_t *j;
	if (rs_journal_open(path, NULL, &j, NULL) != RS_EOK)
		abort();
	for (uint32_t s = from; s < to; s++) {
		rs_diff_t d = mkdiff(s, s + 1);
		if (rs_journal_append(j, &d, NULL) != RS_EOK)
			abort();
		rs_diff_clear(&d);
	}
	rs_journal_close(j);
}

static void test_journal_chain(void)
{
	const char *path = jpath("chain.journal");
	rs_journal_t *j;
	rs_diag_t diag = { "x" };
	is_int(rs_journal_open(path, NULL, &j, &diag), RS_EOK, "new journal");
	is_str(diag.text, "", "no warning on a new journal");
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "file mode 0600 (%o)",
	   st.st_mode & 0777);
	ok(!rs_journal_range(j, NULL, NULL), "new journal is empty");
	rs_diff_t orig[3] = { mkdiff(1, 2), mkdiff(2, 3), mkdiff(3, 4) };
	for (int i = 0; i < 3; i++)
		is_int(rs_journal_append(j, &orig[i], &diag), RS_EOK, "append %d", i + 1);
	uint32_t first = 0, last = 0;
	ok(rs_journal_range(j, &first, &last) && first == 1 && last == 4, "range 1 to 4 (%u, %u)",
	   first, last);
	size_t n;
	uint64_t bytes;
	rs_journal_usage(j, &n, &bytes);
	is_int(n, 3, "three diffs held");
	is_int(bytes + 16, file_size(path), "octets held are the file's entries");

	rs_diff_t gap = mkdiff(5, 6);
	is_int(rs_journal_append(j, &gap, &diag), RS_EINVAL, "non-contiguous append refused");
	ok(strstr(diag.text, path) != NULL && strstr(diag.text, "does not follow") != NULL,
	   "diag: %s", diag.text);
	rs_diff_clear(&gap);
	rs_journal_usage(j, &n, NULL);
	is_int(n, 3, "still three diffs");
	rs_journal_close(j);

	is_int(rs_journal_open(path, NULL, &j, &diag), RS_EOK, "reopen");
	is_str(diag.text, "", "no warning on a whole journal");
	ok(rs_journal_range(j, &first, &last) && first == 1 && last == 4,
	   "range survives reopening");
	rs_diff_t *d = NULL;
	is_int(jread(j, 1, &d, &n, &diag), RS_EOK, "read from the first serial");
	is_int(n, 3, "three diffs read");
	bool same = n == 3;
	for (size_t i = 0; same && i < n; i++)
		same = diff_eq(&d[i], &orig[i]);
	ok(same, "read back identical to what was appended");
	free_diffs(d, n);

	is_int(jread(j, 2, &d, &n, &diag), RS_EOK, "read from the middle");
	ok(n == 2 && diff_eq(&d[0], &orig[1]) && diff_eq(&d[1], &orig[2]), "two diffs from 2");
	free_diffs(d, n);
	d = (rs_diff_t *)1;
	is_int(jread(j, 4, &d, &n, &diag), RS_EOK, "read from the newest serial");
	ok(n == 0 && d == NULL, "no diffs from the newest");
	is_int(jread(j, 7, &d, &n, &diag), RS_ENOENT, "unknown serial");
	ok(strstr(diag.text, path) != NULL, "diag names the path: %s", diag.text);
	is_int(jread(j, 0, &d, &n, &diag), RS_ENOENT, "serial before the history");

	rs_diff_t next = mkdiff(4, 5);
	is_int(rs_journal_append(j, &next, &diag), RS_EOK, "append after reopening");
	is_int(jread(j, 3, &d, &n, &diag), RS_EOK, "read across the reopening");
	ok(n == 2 && diff_eq(&d[1], &next), "newest diff read back");
	free_diffs(d, n);
	rs_diff_clear(&next);

	/* A second opener would interleave appends. */
	rs_journal_t *j2;
	is_int(rs_journal_open(path, NULL, &j2, &diag), RS_EBUSY,
	       "second open of a journal in use refused");
	rs_journal_close(j);
	for (int i = 0; i < 3; i++)
		rs_diff_clear(&orig[i]);
}

static void test_journal_end_at(void)
{
	const char *path = jpath("end.journal");
	make_journal(path, 1, 6);
	rs_journal_t *j;
	rs_diag_t diag;
	uint32_t first, last;
	size_t n;
	is_int(rs_journal_open(path, NULL, &j, &diag), RS_EOK, "open 1..6");
	off_t before = file_size(path);
	is_int(rs_journal_end_at(j, 6, &diag), RS_EOK, "end_at the newest");
	rs_journal_usage(j, &n, NULL);
	ok(n == 5 && file_size(path) == before, "nothing dropped");
	is_int(rs_journal_end_at(j, 4, &diag), RS_EOK, "end_at 4");
	ok(rs_journal_range(j, &first, &last) && first == 1 && last == 4, "range 1 to 4 (%u, %u)",
	   first, last);
	uint64_t bytes;
	rs_journal_usage(j, &n, &bytes);
	ok(n == 3 && file_size(path) < before && file_size(path) == (off_t)bytes + 16,
	   "file cut after 3 diffs");
	rs_diff_t *d;
	is_int(jread(j, 4, &d, &n, &diag), RS_EOK, "4 is now the newest");
	is_int(n, 0, "no diffs from it");
	rs_diff_t again = mkdiff(4, 5);
	is_int(rs_journal_append(j, &again, &diag), RS_EOK, "chain continues from 4");
	rs_diff_clear(&again);
	rs_journal_close(j);
	is_int(rs_journal_open(path, NULL, &j, &diag), RS_EOK, "reopen");
	ok(rs_journal_range(j, &first, &last) && first == 1 && last == 5,
	   "cut and append survive reopening");

	is_int(rs_journal_end_at(j, 1, &diag), RS_EOK, "end_at the first from");
	ok(!rs_journal_range(j, NULL, NULL), "history emptied");
	rs_journal_close(j);

	make_journal(path, 1, 6);
	is_int(rs_journal_open(path, NULL, &j, &diag), RS_EOK, "open 1..6 again");
	is_int(rs_journal_end_at(j, 99, &diag), RS_EOK, "end_at an unknown serial");
	ok(!rs_journal_range(j, NULL, NULL) && file_size(path) == 16,
	   "history emptied, file at its header");
	rs_diff_t any = mkdiff(40, 41);
	is_int(rs_journal_append(j, &any, &diag), RS_EOK, "empty journal takes any diff");
	rs_diff_clear(&any);
	rs_journal_close(j);
	is_int(rs_journal_open(path, NULL, &j, &diag), RS_EOK, "reopen");
	ok(rs_journal_range(j, &first, &last) && first == 40 && last == 41,
	   "the new chain survives");
	rs_journal_close(j);
}

static void test_journal_limits(void)
{
	const char *path = jpath("limits.journal");
	unlink(path);
	rs_journal_limits_t lim = { .max_diffs = 3 };
	rs_journal_t *j;
	rs_diag_t diag;
	size_t n;
	uint64_t bytes;
	uint32_t first, last;
	is_int(rs_journal_open(path, &lim, &j, &diag), RS_EOK, "open with max_diffs 3");
	off_t at3 = 0;
	for (uint32_t s = 10; s < 16; s++) {
		rs_diff_t d = mkdiff(s, s + 1);
		if (rs_journal_append(j, &d, &diag) != RS_EOK)
			printf("# %s\n", diag.text);
		rs_diff_clear(&d);
		if (s == 12)
			at3 = file_size(path);
	}
	rs_journal_usage(j, &n, &bytes);
	is_int(n, 3, "count limit keeps three");
	ok(rs_journal_range(j, &first, &last) && first == 13 && last == 16,
	   "the oldest went (%u, %u)", first, last);
	ok(file_size(path) == at3 && file_size(path) == (off_t)bytes + 16,
	   "file no larger than with three");
	rs_diff_t *d;
	is_int(jread(j, 10, &d, &n, &diag), RS_ENOENT, "dropped serial no longer readable");
	is_int(jread(j, 13, &d, &n, &diag), RS_EOK, "oldest kept serial readable");
	ok(n == 3 && d[0].from == 13 && d[2].to == 16, "chain after the rewrite");
	free_diffs(d, n);
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "rewritten file mode 0600");
	ok(access(jpath("limits.journal.tmp"), F_OK) != 0, "no temporary left");
	rs_journal_close(j);

	/* Bytes: room for about two and a half of these diffs. */
	uint64_t one = bytes / 3;
	lim = (rs_journal_limits_t){ .max_bytes = one * 5 / 2 };
	is_int(rs_journal_open(path, &lim, &j, &diag), RS_EOK, "reopen with a lower byte limit");
	rs_journal_usage(j, &n, &bytes);
	ok(n == 2 && bytes <= lim.max_bytes, "trimmed at open to two (%zu, %llu)", n,
	   (unsigned long long)bytes);
	off_t before = file_size(path);
	for (uint32_t s = 16; s < 20; s++) {
		rs_diff_t x = mkdiff(s, s + 1);
		is_int(rs_journal_append(j, &x, &diag), RS_EOK, "append %u under the byte limit",
		       s);
		rs_diff_clear(&x);
	}
	rs_journal_usage(j, &n, &bytes);
	ok(n == 2 && bytes <= lim.max_bytes, "byte limit keeps two");
	ok(rs_journal_range(j, &first, &last) && first == 18 && last == 20,
	   "the oldest went (%u, %u)", first, last);
	ok(file_size(path) == before && file_size(path) == (off_t)bytes + 16, "file did not grow");
	rs_journal_close(j);

	/* A newest diff past the limit alone: no history holds it, the file keeps its bound. */
	lim = (rs_journal_limits_t){ .max_bytes = one + 15 };
	is_int(rs_journal_open(path, &lim, &j, &diag), RS_EOK, "open with a byte limit below one diff");
	ok(strstr(diag.text, "warning") != NULL && strstr(diag.text, "emptied") != NULL,
	   "said: %s", diag.text);
	rs_journal_usage(j, &n, NULL);
	ok(n == 0 && !rs_journal_range(j, NULL, NULL) && file_size(path) == 16,
	   "the history is emptied, the file at its header");
	rs_diff_t x = mkdiff(20, 21);
	is_int(rs_journal_append(j, &x, &diag), RS_ERANGE, "a diff that cannot fit alone is refused");
	ok(strstr(diag.text, path) != NULL && strstr(diag.text, "emptied") != NULL, "diag: %s",
	   diag.text);
	ok(!rs_journal_range(j, NULL, NULL) && file_size(path) == 16, "still empty");
	rs_diff_clear(&x);
	rs_journal_close(j);
	/* One that fits exactly, header included. */
	lim = (rs_journal_limits_t){ .max_bytes = one + 16 };
	is_int(rs_journal_open(path, &lim, &j, &diag), RS_EOK, "open with room for one diff exactly");
	x = mkdiff(20, 21);
	is_int(rs_journal_append(j, &x, &diag), RS_EOK, "a diff that fits exactly is held");
	rs_diff_clear(&x);
	x = mkdiff(21, 22);
	is_int(rs_journal_append(j, &x, &diag), RS_EOK, "the next one too");
	rs_diff_clear(&x);
	ok(rs_journal_range(j, &first, &last) && first == 21 && last == 22 &&
	       file_size(path) == (off_t)lim.max_bytes,
	   "the history restarts at it (%u, %u), the file at the limit", first, last);
	rs_journal_close(j);
}

/* ---- the bounds, after every append of a long random sequence ---- */

static uint32_t mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	return x ^ (x >> 16);
}

static const uint8_t t_owner[] = { 4, 't', 'e', 's', 't', 0 };
#define XRR_FIXED (sizeof(t_owner) + 10)
#define SOA_RDLEN (2 * (3 + sizeof(t_owner)) + 20)
#define DIFF_FIXED (40 + 2 * (XRR_FIXED + SOA_RDLEN))

static uint8_t *put_soa(uint8_t *p, rs_xrr_t *rr, uint32_t serial)
{
	*rr = (rs_xrr_t){ .owner = t_owner, .rdata = p, .ttl = 3600, .type = RS_TYPE_SOA,
			  .rdlen = SOA_RDLEN };
	for (int k = 0; k < 2; k++) {
		memcpy(p, k == 0 ? "\2ns" : "\2hm", 3);
		memcpy(p + 3, t_owner, sizeof(t_owner));
		p += 3 + sizeof(t_owner);
	}
	uint32_t v[5] = { serial, 7200, 3600, 1209600, 300 };
	for (int k = 0; k < 5; k++, p += 4) {
		p[0] = (uint8_t)(v[k] >> 24);
		p[1] = (uint8_t)(v[k] >> 16);
		p[2] = (uint8_t)(v[k] >> 8);
		p[3] = (uint8_t)v[k];
	}
	return p;
}

/*
 * The diff from serial from to from + 1 whose journal entry takes exactly
 * size octets (at least DIFF_FIXED + XRR_FIXED + 1): TXT records of filler
 * that depends on from, so that it can be made again to compare.
 */
static rs_diff_t sized_diff(uint32_t from, size_t size)
{
	size_t body = size - DIFF_FIXED, nadd = 0;
	for (size_t left = body; left > 0; nadd++) {
		size_t rd = left - XRR_FIXED > 255 ? 255 : left - XRR_FIXED;
		/* never leave a remainder too small for a record of its own */
		if (left - XRR_FIXED - rd > 0 && left - XRR_FIXED - rd <= XRR_FIXED)
			rd = 200;
		left -= XRR_FIXED + rd;
	}
	uint8_t *mem = malloc(nadd * sizeof(rs_xrr_t) + 2 * SOA_RDLEN + body);
	if (mem == NULL)
		abort();
	rs_diff_t d = { .from = from, .to = from + 1, .added = (rs_xrr_t *)mem, .nadded = nadd,
			.mem = mem };
	uint8_t *p = mem + nadd * sizeof(rs_xrr_t);
	p = put_soa(p, &d.soa_from, from);
	p = put_soa(p, &d.soa_to, from + 1);
	size_t left = body;
	for (size_t i = 0; i < nadd; i++) {
		size_t rd = left - XRR_FIXED > 255 ? 255 : left - XRR_FIXED;
		if (left - XRR_FIXED - rd > 0 && left - XRR_FIXED - rd <= XRR_FIXED)
			rd = 200;
		left -= XRR_FIXED + rd;
		d.added[i] = (rs_xrr_t){ .owner = t_owner, .rdata = p, .ttl = 300, .type = RS_TYPE_TXT,
					 .rdlen = (uint16_t)rd };
		p[0] = (uint8_t)(rd - 1);
		for (size_t k = 1; k < rd; k++)
			p[k] = (uint8_t)('a' + mix(from * 977u + (uint32_t)(i * 263 + k)) % 26);
		p += rd;
	}
	return d;
}

/* The size of the entry for the diff from serial s: mostly small, some near the limit or past it. */
static size_t entry_size(uint32_t s, uint64_t limit)
{
	uint32_t h = mix(s), r = h % 100, x = h / 100;
	uint64_t lo = DIFF_FIXED + XRR_FIXED + 1, span;
	if (r < 70)
		span = 3000;
	else if (r < 93)
		span = limit / 3;
	else if (r < 98)
		lo = limit / 3, span = limit - limit / 3;
	else
		lo = limit - 200, span = limit / 2; /* around and past what fits alone */
	return (size_t)(lo + x % span);
}

#define B_LIMIT 65536
#define B_DIFFS 25

/* What the journal should hold: the oldest serial and the entries' sizes from it. */
struct model {
	uint32_t first;
	size_t n;
	uint64_t size[B_DIFFS + 1];
};

static void model_append(struct model *m, uint32_t from, size_t size)
{
	if (16 + size > B_LIMIT) {
		m->n = 0;
		return;
	}
	if (m->n == 0)
		m->first = from;
	m->size[m->n++] = size;
	uint64_t total = 16;
	for (size_t i = 0; i < m->n; i++)
		total += m->size[i];
	while (m->n > B_DIFFS || total > B_LIMIT) {
		total -= m->size[0];
		memmove(m->size, m->size + 1, --m->n * sizeof(m->size[0]));
		m->first++;
	}
}

/* The journal holds what m says, readable, contiguous and as appended; else why not. */
static const char *check_held(rs_journal_t *j, const char *path, const struct model *m)
{
	static char why[1024];
	struct stat st;
	size_t n;
	uint64_t bytes;
	uint32_t first, last;
	rs_journal_usage(j, &n, &bytes);
	if (stat(path, &st) != 0 || st.st_size > B_LIMIT || st.st_size != (off_t)bytes + 16) {
		snprintf(why, sizeof(why), "file of %lld octets, %llu held",
			 (long long)st.st_size, (unsigned long long)bytes);
		return why;
	}
	if (n > B_DIFFS || n != m->n)
		return snprintf(why, sizeof(why), "%zu diffs held, want %zu", n, m->n), why;
	if (n == 0)
		return rs_journal_range(j, NULL, NULL) ? "an empty journal has a range" : NULL;
	if (!rs_journal_range(j, &first, &last) || first != m->first || last != m->first + n)
		return snprintf(why, sizeof(why), "range %u to %u, want %u to %zu", first, last,
				m->first, m->first + n),
		       why;
	rs_diff_t *d;
	size_t got;
	rs_diag_t diag;
	if (jread(j, first, &d, &got, &diag) != RS_EOK || got != n)
		return snprintf(why, sizeof(why), "read from %u: %s", first, diag.text), why;
	const char *bad = NULL;
	for (size_t i = 0; bad == NULL && i < n; i++) {
		rs_diff_t want = sized_diff(first + (uint32_t)i, m->size[i]);
		if (d[i].from != first + i || (i > 0 && d[i].from != d[i - 1].to) ||
		    !diff_eq(&d[i], &want)) {
			snprintf(why, sizeof(why), "diff %zu of the chain from %u differs", i, first);
			bad = why;
		}
		rs_diff_clear(&want);
	}
	free_diffs(d, got);
	return bad;
}

static void test_journal_bounds(void)
{
	const char *path = jpath("bounds.journal");
	unlink(path);
	rs_journal_limits_t lim = { .max_diffs = B_DIFFS, .max_bytes = B_LIMIT };
	rs_journal_t *j;
	rs_diag_t diag;
	is_int(rs_journal_open(path, &lim, &j, &diag), RS_EOK, "open with %d diffs, %d octets",
	       B_DIFFS, B_LIMIT);
	struct model m = { 0 };
	int steps = 0, bad = 0, refused = 0, wrongret = 0, reopened = 0;
	off_t largest = 0;
	const char *first_bad = NULL;
	char first_why[2048] = "";
	for (uint32_t s = 1000; s < 1600; s++, steps++) {
		size_t size = entry_size(s, B_LIMIT);
		rs_diff_t d = sized_diff(s, size);
		int ret = rs_journal_append(j, &d, &diag);
		rs_diff_clear(&d);
		bool fits = 16 + size <= B_LIMIT;
		if (ret != (fits ? RS_EOK : RS_ERANGE)) {
			if (wrongret++ == 0)
				snprintf(first_why, sizeof(first_why), "append %u (%zu octets): %d %s", s,
					 size, ret, diag.text);
		}
		refused += !fits;
		model_append(&m, s, size);
		if (file_size(path) > largest)
			largest = file_size(path);
		const char *why = check_held(j, path, &m);
		if (why != NULL && bad++ == 0) {
			first_bad = why;
			snprintf(first_why + strlen(first_why), sizeof(first_why) - strlen(first_why),
				 " after append %u: %s", s, why);
		}
		if (s % 97 == 0) {
			/* what is on disk is what was held */
			rs_journal_close(j);
			diag.text[0] = 0;
			if (rs_journal_open(path, &lim, &j, &diag) != RS_EOK || diag.text[0] != 0)
				bad++;
			if ((why = check_held(j, path, &m)) != NULL && bad++ == 0)
				first_bad = why;
			reopened++;
		}
	}
	if (first_why[0])
		printf("# %s\n", first_why);
	is_int(wrongret, 0, "each of %d appends held its diff, or refused it when it cannot fit alone "
	       "(%d refused)", steps, refused);
	ok(bad == 0 && first_bad == NULL,
	   "after every append the file is within %d octets and %d diffs (largest %lld), holds "
	   "exactly the newest diffs that fit, readable and contiguous (%d reopenings)",
	   B_LIMIT, B_DIFFS, (long long)largest, reopened);
	ok(refused > 0 && largest > B_LIMIT - 3000, "the sequence went near and past the limit");
	ok(access(jpath("bounds.journal.tmp"), F_OK) != 0, "no temporary left");
	rs_journal_close(j);
}

/* ---- kill -9 at random instants ---- */

/* Append from the journal's end on; each serial reached is written to fd once durable. */
static void crash_child(const char *path, int fd)
{
	rs_journal_limits_t lim = { .max_diffs = B_DIFFS, .max_bytes = B_LIMIT };
	rs_journal_t *j;
	if (rs_journal_open(path, &lim, &j, NULL) != RS_EOK)
		_exit(2);
	uint32_t s = 5000;
	rs_journal_range(j, NULL, &s);
	for (;; s++) {
		rs_diff_t d = sized_diff(s, entry_size(s, B_LIMIT));
		int ret = rs_journal_append(j, &d, NULL);
		rs_diff_clear(&d);
		uint32_t done[2] = { s + 1, ret == RS_EOK };
		if ((ret != RS_EOK && ret != RS_ERANGE) || write(fd, done, sizeof(done)) != sizeof(done))
			_exit(3);
	}
}

static void test_journal_crash(void)
{
	const char *path = jpath("crash.journal");
	unlink(path);
	rs_journal_limits_t lim = { .max_diffs = B_DIFFS, .max_bytes = B_LIMIT };
	int rounds = 0, bad = 0, over = 0, torn = 0, appends = 0;
	char first_why[2048] = "";
	srand((unsigned)time(NULL));
	for (; rounds < 40; rounds++) {
		int p[2];
		if (pipe(p) != 0)
			abort();
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			crash_child(path, p[1]);
		}
		close(p[1]);
		/* Watch the file's size while the child appends, then kill it at a random instant. */
		struct timespec t0, t;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		long until = 2000 + rand() % 30000; /* microseconds */
		do {
			if (file_size(path) > B_LIMIT)
				over++;
			clock_gettime(CLOCK_MONOTONIC, &t);
		} while ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 < until);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		if (file_size(path) > B_LIMIT)
			over++;
		/* The last serial the child saw made durable, and whether it was held. */
		uint32_t done[2] = { 0, 0 }, last_done = 0, held = 0;
		while (read(p[0], done, sizeof(done)) == sizeof(done)) {
			last_done = done[0];
			held = done[1];
			appends++;
		}
		close(p[0]);
		if (!WIFSIGNALED(status)) {
			bad++;
			snprintf(first_why, sizeof(first_why), "child exited %d", WEXITSTATUS(status));
			break;
		}
		rs_journal_t *j;
		rs_diag_t diag = { "" };
		uint32_t first = 0, last = 0;
		const char *why = NULL;
		if (rs_journal_open(path, &lim, &j, &diag) != RS_EOK) {
			why = "does not open";
		} else {
			torn += diag.text[0] != 0;
			bool any = rs_journal_range(j, &first, &last);
			struct model m = { .first = first };
			rs_journal_usage(j, &m.n, NULL);
			for (size_t i = 0; i < m.n; i++)
				m.size[i] = entry_size(first + (uint32_t)i, B_LIMIT);
			why = check_held(j, path, &m);
			/* What was acknowledged stays, and at most the append in flight more; it
			 * may have emptied the history (a diff that cannot fit alone). */
			bool next_fits = 16 + entry_size(last_done, B_LIMIT) <= B_LIMIT, fine;
			if (held)
				fine = (any && (last == last_done || (next_fits && last == last_done + 1))) ||
				       (!any && !next_fits);
			else
				fine = !any || (next_fits && last == last_done + 1);
			if (why == NULL && last_done != 0 && !fine)
				why = "not what was acknowledged";
			rs_journal_close(j);
		}
		if (why != NULL) {
			if (bad++ == 0)
				snprintf(first_why, sizeof(first_why),
					 "round %d (last acknowledged %u, held %u; journal %u to %u): %s %s",
					 rounds, last_done, held, first, last, why, diag.text);
		}
	}
	if (first_why[0])
		printf("# %s\n", first_why);
	is_int(bad, 0, "kill -9 at %d random instants (%d appends acknowledged): the journal opens "
	       "whole, readable, contiguous, within its bounds, with every acknowledged diff "
	       "(%d torn tails cut)", rounds, appends, torn);
	is_int(over, 0, "the file was never seen past %d octets while appending", B_LIMIT);
	ok(appends > rounds, "appends happened");
}

static void corrupt_at(const char *path, off_t off, uint8_t x)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	if (fd < 0 || pread(fd, &b, 1, off) != 1)
		abort();
	b ^= x;
	if (pwrite(fd, &b, 1, off) != 1)
		abort();
	close(fd);
}

/* Open a damaged journal; it must come back with want diffs and a warning. */
static void reopen_damaged(const char *path, size_t want, uint32_t want_last, const char *what)
{
	rs_journal_t *j;
	rs_diag_t diag = { "" };
	size_t n = 0;
	uint64_t bytes = 0;
	uint32_t first = 0, last = 0;
	is_int(rs_journal_open(path, NULL, &j, &diag), RS_EOK, "%s: opens", what);
	ok(strstr(diag.text, "warning") != NULL && strstr(diag.text, path) != NULL,
	   "%s: warned: %s", what, diag.text);
	rs_journal_usage(j, &n, &bytes);
	rs_journal_range(j, &first, &last);
	ok(n == want && first == 1 && last == want_last, "%s: %zu diffs kept, 1 to %u", what, n,
	   last);
	ok(file_size(path) == (off_t)bytes + 16, "%s: file cut to the good entries", what);
	rs_diff_t *d;
	is_int(jread(j, 1, &d, &n, &diag), RS_EOK, "%s: earlier entries readable", what);
	free_diffs(d, n);
	rs_journal_close(j);
	is_int(rs_journal_open(path, NULL, &j, &diag), RS_EOK, "%s: reopens", what);
	is_str(diag.text, "", "%s: clean the second time", what);
	rs_journal_close(j);
}

static void test_journal_damage(void)
{
	const char *path = jpath("torn.journal");
	make_journal(path, 1, 4);
	off_t size = file_size(path);
	if (truncate(path, size - 5) != 0)
		abort();
	reopen_damaged(path, 2, 3, "cut short");

	make_journal(path, 1, 4);
	FILE *f = fopen(path, "a");
	fputs("garbage after the last entry", f);
	fclose(f);
	reopen_damaged(path, 3, 4, "garbage appended");

	make_journal(path, 1, 4);
	corrupt_at(path, file_size(path) - 3, 0x20);
	reopen_damaged(path, 2, 3, "byte flipped in the last payload");

	/* A flip in an entry's header (its serial) is caught by the header checksum. */
	make_journal(path, 1, 4);
	rs_journal_t *j;
	rs_diag_t diag;
	uint64_t bytes;
	rs_journal_open(path, NULL, &j, &diag);
	rs_journal_usage(j, NULL, &bytes);
	rs_journal_close(j);
	corrupt_at(path, 16 + (off_t)(bytes / 3) + 9, 1);
	reopen_damaged(path, 1, 2, "byte flipped in the second header");

	/* A whole, well-formed entry that does not continue the chain (from another journal). */
	const char *other = jpath("other.journal");
	make_journal(other, 7, 8);
	make_journal(path, 1, 4);
	int in = open(other, O_RDONLY), out = open(path, O_WRONLY | O_APPEND);
	uint8_t buf[4096];
	ssize_t got = pread(in, buf, sizeof(buf), 16);
	if (in < 0 || out < 0 || got <= 40 || write(out, buf, (size_t)got) != got)
		abort();
	close(in);
	close(out);
	reopen_damaged(path, 3, 4, "entry from another chain");

	/* An entry header alone, its payload never written. */
	make_journal(path, 1, 3);
	size = file_size(path);
	make_journal(path, 1, 4);
	if (truncate(path, size + 40) != 0)
		abort();
	reopen_damaged(path, 2, 3, "header without payload");

	/* A crash right after creating the file: a header cut short is completed. */
	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0 || write(fd, "RSJOU", 5) != 5)
		abort();
	close(fd);
	is_int(rs_journal_open(path, NULL, &j, &diag), RS_EOK, "header cut short: opens");
	ok(!rs_journal_range(j, NULL, NULL) && file_size(path) == 16, "and is an empty journal");
	rs_journal_close(j);
}

static void test_journal_bad(void)
{
	const char *path = jpath("not.journal");
	const char *text = "$ORIGIN test.\n@ SOA ns hostmaster 1 2 3 4 5\n";
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	rs_journal_t *j;
	rs_diag_t diag;
	is_int(rs_journal_open(path, NULL, &j, &diag), RS_ESYNTAX, "zone file is not a journal");
	char want[256];
	snprintf(want, sizeof(want), "%s: not a regsign journal", path);
	is_str(diag.text, want, "diag names the path");
	is_int(file_size(path), strlen(text), "the file is left alone");
	f = fopen(path, "w");
	fputs("abc", f);
	fclose(f);
	is_int(rs_journal_open(path, NULL, &j, &diag), RS_ESYNTAX, "short foreign file refused");
	ok(rs_journal_open(dir, NULL, &j, &diag) < 0 && strstr(diag.text, dir) != NULL,
	   "a directory refused: %s", diag.text);
	ok(rs_journal_open(jpath("no/such/dir"), NULL, &j, &diag) == RS_ENOENT &&
	       strstr(diag.text, "no/such/dir") != NULL,
	   "missing directory: %s", diag.text);
}

/* ---- reads racing appends ---- */

#define RACE_DIFFS 300

struct race {
	rs_journal_t *j;
	rs_diff_t *d;
	int failed;
};

static void *appender(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < RACE_DIFFS; i++)
		if (rs_journal_append(r->j, &r->d[i], NULL) != RS_EOK)
			r->failed++;
	return NULL;
}

static uint32_t soa_serial(const rs_xrr_t *soa)
{
	const uint8_t *p = soa->rdata + soa->rdlen - 20;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_journal_race(void)
{
	const char *path = jpath("race.journal");
	unlink(path);
	rs_journal_limits_t lim = { .max_diffs = 40 };
	rs_journal_t *j;
	rs_diag_t diag;
	is_int(rs_journal_open(path, &lim, &j, &diag), RS_EOK, "open for the race");
	struct race r = { j, calloc(RACE_DIFFS, sizeof(rs_diff_t)), 0 };
	for (int i = 0; i < RACE_DIFFS; i++)
		r.d[i] = mkdiff(100 + i, 101 + i);
	pthread_t t;
	pthread_create(&t, NULL, appender, &r);
	int reads = 0, bad = 0, gone = 0;
	uint32_t first, last;
	for (;;) {
		bool any = rs_journal_range(j, &first, &last);
		if (any) {
			rs_diff_t *d;
			size_t n;
			int ret = rs_journal_read(j, first, &d, &n, &diag);
			if (ret == RS_ENOENT) {
				gone++; /* trimmed between range and read: the caller would answer
					   with AXFR */
			} else if (ret != RS_EOK || n == 0 || d[0].from != first) {
				bad++;
			} else {
				for (size_t k = 0; k < n; k++) {
					const rs_diff_t *x = &d[k];
					if ((k > 0 && x->from != d[k - 1].to) ||
					    soa_serial(&x->soa_from) != x->from ||
					    soa_serial(&x->soa_to) != x->to ||
					    !diff_eq(x, &r.d[x->from - 100]))
						bad++;
				}
				if (d[n - 1].to < last)
					bad++;
				reads++;
				free_diffs(d, n);
			}
		}
		if (any && last == 100 + RACE_DIFFS)
			break;
	}
	pthread_join(t, NULL);
	is_int(r.failed, 0, "appends while reading succeeded");
	is_int(bad, 0, "every chain read was whole and consistent (%d reads, %d trimmed away)",
	       reads, gone);
	ok(reads > 0, "reads happened");
	size_t n;
	rs_journal_usage(j, &n, NULL);
	is_int(n, 40, "limit held under the race");
	rs_journal_close(j);
	for (int i = 0; i < RACE_DIFFS; i++)
		rs_diff_clear(&r.d[i]);
	free(r.d);
}

int main(void)
{
	rs_dname_from_str("test.", origin);
	snprintf(dir, sizeof(dir), "/tmp/test_xfr.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	umask(022);
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_version();
	test_diff();
	test_journal_chain();
	test_journal_end_at();
	test_journal_limits();
	test_journal_damage();
	test_journal_bad();
	test_journal_race();
	test_journal_bounds();
	test_journal_crash();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return done_testing();
}
