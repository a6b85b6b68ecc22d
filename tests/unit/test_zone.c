/*
 * Unit tests of zone: zone text into the in-memory zone (canonical order,
 * case, duplicates, TTLs, cuts and glue), the zone rules and their
 * diagnostics, records added from other sources, and the text forms of
 * records and RDATA.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "regsign/zone.h"
#include "tap/tap.h"
#include "tap/zone.h"

#define SOA_LINE "@ SOA ns hostmaster 1 7200 3600 1209600 300\n"

static const uint8_t *wire(const char *name)
{
	static uint8_t buf[8][RS_NAME_MAX];
	static int next;
	uint8_t *out = buf[next++ % 8];
	if (rs_dname_from_str(name, out) != RS_EOK)
		abort();
	return out;
}

static size_t wire_len(const uint8_t *w)
{
	return rs_dname_len(w, RS_NAME_MAX);
}

/* New zone for origin with text read under label; *stage says how far it got: 0 new, 1 read, 2 finished. */
static int load_opts(const char *origin, const char *text, const char *label, const rs_zone_opts_t *opts,
		     rs_zone_t **out, rs_diag_t *d, int *stage)
{
	*stage = 0;
	d->text[0] = '\0';
	int ret = rs_zone_new(wire(origin), opts, out);
	if (ret != RS_EOK)
		return ret;
	ret = rs_zone_read_string(*out, text, strlen(text), label, d);
	if (ret != RS_EOK)
		return ret;
	*stage = 1;
	ret = rs_zone_finish(*out, d);
	if (ret == RS_EOK)
		*stage = 2;
	return ret;
}

static int load(const char *text, const char *label, rs_zone_t **out, rs_diag_t *d, int *stage)
{
	return load_opts("example.", text, label, NULL, out, d, stage);
}

/* As load, from a file holding text: read by the scanner unrewritten when zone_prep is not needed. */
static int load_path(const char *text, char *path, rs_zone_t **out, rs_diag_t *d)
{
	d->text[0] = '\0';
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
	int ret = rs_zone_new(wire("example."), NULL, out);
	if (ret == RS_EOK)
		ret = rs_zone_read(*out, path, d);
	if (ret == RS_EOK)
		ret = rs_zone_finish(*out, d);
	unlink(path);
	return ret;
}

static const rs_node_t *find(const rs_zone_t *z, const char *name)
{
	uint8_t key[RS_KEY_MAX];
	size_t len = rs_dname_key(wire(name), key);
	return rs_zone_find(z, key, len);
}

static bool name_is(const rs_name_t *n, const char *text)
{
	const uint8_t *w = wire(text);
	return n->wire_len == wire_len(w) && memcmp(rs_name_wire(n), w, n->wire_len) == 0;
}

static bool starts(const char *text, const char *prefix)
{
	return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* One record as a zone file line, into a static string. */
static const char *line_of(const rs_zone_t *z, const rs_rr_t *rr)
{
	static char out[4096];
	rs_buf_t b;
	(void)z;
	rs_buf_init(&b, 1 << 16);
	out[0] = '\0';
	if (rs_rr_format(&b, NULL, rs_name_wire(rr->owner), rr->ttl, rr->type, rr->rdata, rr->rdlen) == RS_EOK)
		snprintf(out, sizeof(out), "%.*s", (int)b.len, (const char *)b.data);
	rs_buf_clear(&b);
	return out;
}

/* ---- canonical order (RFC 4034 6.1) ---- */

static void test_order(void)
{
	/* The RFC's names, given in an order that is none of the sorted ones. */
	static const char text[] = "$ORIGIN example.\n$TTL 3600\n" SOA_LINE
				   "@ NS ns\n"
				   "\\200.z A 192.0.2.9\n"
				   "z A 192.0.2.8\n"
				   "*.z A 192.0.2.7\n"
				   "zABC.a.EXAMPLE. A 192.0.2.6\n"
				   "\\001.z A 192.0.2.5\n"
				   "Z.a A 192.0.2.4\n"
				   "yljkjljk.a A 192.0.2.3\n"
				   "a A 192.0.2.2\n"
				   "ns A 192.0.2.1\n";
	static const char *const want[] = { "example.", "a.example.", "yljkjljk.a.example.", "z.a.example.",
					    "zabc.a.example.", "ns.example.", "z.example.", "\\001.z.example.",
					    "*.z.example.", "\\200.z.example." };
	const size_t nwant = sizeof(want) / sizeof(want[0]);
	rs_zone_t *z;
	rs_diag_t d;
	int stage;
	is_int(load(text, "order.zone", &z, &d, &stage), RS_EOK, "the RFC 4034 6.1 names load: %s", d.text);
	size_t n = 0;
	const rs_node_t *nodes = rs_zone_nodes(z, &n);
	is_int(n, nwant, "one node per name");
	bool order = n == nwant;
	for (size_t i = 0; order && i < n; i++)
		if (!name_is(nodes[i].name, want[i])) {
			char got[1024];
			rs_dname_to_str(rs_name_wire(nodes[i].name), got, sizeof(got));
			order = ok(0, "node %zu is %s, not %s", i, got, want[i]);
		}
	ok(order, "nodes are in canonical order: example, a, yljkjljk.a, Z.a, zABC.a, ns, z, \\001.z, *.z, \\200.z");
	bool sorted = true;
	for (size_t i = 1; i < n; i++)
		sorted &= rs_name_cmp(nodes[i - 1].name, nodes[i].name) < 0;
	ok(sorted, "rs_name_cmp agrees: strictly ascending");
	ok(nodes[0].flags & RS_NODE_APEX, "the first node is the apex");
	ok(rs_zone_soa(z)->type == RS_TYPE_SOA && rs_zone_soa(z)->owner == nodes[0].name, "rs_zone_soa is the apex SOA");
	const rs_node_t *za = find(z, "z.a.example.");
	char written[1024];
	ok(za != NULL && za->name->mixed_case, "Z.a keeps a note of its written case");
	rs_name_format(rs_name_written(za->name), written, sizeof(written));
	is_str(written, "Z.a.example.", "... and writes as written");
	const rs_node_t *zabc = find(z, "zabc.a.example.");
	rs_name_format(rs_name_written(zabc->name), written, sizeof(written));
	is_str(written, "zABC.a.EXAMPLE.", "zABC.a.EXAMPLE. writes as written");
	rs_name_format(rs_name_wire(zabc->name), written, sizeof(written));
	is_str(written, "zabc.a.example.", "... and compares in lower case");
	/* Records are in node order and point back to their node's name. */
	const rs_rr_t *rr = rs_zone_rrs(z);
	bool back = true;
	for (size_t i = 0; i < n; i++)
		for (uint32_t k = nodes[i].first; k < nodes[i].first + nodes[i].count; k++)
			back &= rr[k].owner == nodes[i].name;
	ok(back, "every record of a node has the node's name as owner");
	rs_zone_free(z);
}

/* ---- case, duplicates, TTLs ---- */

static void test_case_dups_ttls(void)
{
	static const char text[] = "$ORIGIN example.\n"
				   "@ 3600 SOA NS.Example. HostMaster.Example. 1 7200 3600 1209600 300\n"
				   "@ 3600 NS NS.EXAMPLE.\n"
				   "NS 3600 A 192.0.2.1\n"
				   "Www 3600 A 192.0.2.2\n"
				   "www 3600 A 192.0.2.2\n"
				   "WWW 3600 A 192.0.2.3\n"
				   "mx 3600 MX 10 MAIL.Example.\n"
				   "t 600 A 192.0.2.2\n"
				   "t 300 A 192.0.2.1\n"
				   "t 900 A 192.0.2.3\n"
				   "t 100 TXT \"hello\"\n"
				   "www 3600 A 192.0.2.3\n";
	rs_zone_t *z;
	rs_diag_t d;
	int stage;
	is_int(load(text, "case.zone", &z, &d, &stage), RS_EOK, "a zone in mixed case loads: %s", d.text);
	size_t n;
	rs_zone_nodes(z, &n);
	is_int(n, 5, "Www, www and WWW are one node (apex, mx, ns, t, www)");
	const rs_node_t *www = find(z, "www.example.");
	ok(www != NULL, "www.example. is found by its lower-case key");
	is_int(www ? www->count : 0, 2, "duplicates (in any case, in any place) are removed: two A records left");
	char written[1024];
	rs_name_format(rs_name_written(www->name), written, sizeof(written));
	is_str(written, "Www.example.", "the node is named as first written");
	const rs_rr_t *rr = rs_zone_rrs(z);
	is_str(line_of(z, &rr[www->first]), "www.example.\t3600\tIN\tA\t192.0.2.2\n", "www's first A (in RDATA order)");
	is_str(line_of(z, &rr[www->first + 1]), "www.example.\t3600\tIN\tA\t192.0.2.3\n", "www's second A");
	const rs_node_t *apex = find(z, "example.");
	uint32_t b, e;
	ok(rs_node_rrset(z, apex, RS_TYPE_NS, &b, &e) && e == b + 1, "the apex NS RRset has one record");
	is_str(line_of(z, &rr[b]), "example.\t3600\tIN\tNS\tns.example.\n", "NS RDATA is lower-cased (RFC 4034 6.2)");
	is_str(line_of(z, rs_zone_soa(z)), "example.\t3600\tIN\tSOA\tns.example. hostmaster.example. 1 7200 3600 1209600 300\n",
	       "SOA RDATA names are lower-cased");
	const rs_node_t *mx = find(z, "mx.example.");
	ok(mx != NULL && rs_node_rrset(z, mx, RS_TYPE_MX, &b, &e), "mx has an MX RRset");
	is_str(line_of(z, &rr[b]), "mx.example.\t3600\tIN\tMX\t10 mail.example.\n", "MX RDATA is lower-cased");

	const rs_node_t *t = find(z, "t.example.");
	ok(t != NULL && rs_node_rrset(z, t, RS_TYPE_A, &b, &e), "t has an A RRset");
	is_int(e - b, 3, "... of three records");
	ok(rr[b].ttl == 300 && rr[b + 1].ttl == 300 && rr[b + 2].ttl == 300, "the RRset takes its lowest TTL, 300");
	ok(rr[b].rdata[3] == 1 && rr[b + 1].rdata[3] == 2 && rr[b + 2].rdata[3] == 3, "... in RDATA order");
	ok(rs_node_rrset(z, t, RS_TYPE_TXT, &b, &e) && e == b + 1 && rr[b].ttl == 100,
	   "another RRset at the name keeps its own TTL (100)");
	is_int(rs_zone_ttl_fixes(z), 2, "two records had their TTL unified");
	uint32_t keep_b = 77, keep_e = 78;
	ok(!rs_node_rrset(z, t, RS_TYPE_MX, &keep_b, &keep_e) && keep_b == 77 && keep_e == 78,
	   "an absent RRset: false, range untouched");
	ok(find(z, "nope.example.") == NULL, "an absent name is not found");
	ok(find(z, "example.") == &rs_zone_nodes(z, &n)[0], "the apex is found as node 0");
	ok(find(z, "ww.example.") == NULL && find(z, "wwww.example.") == NULL, "near names are not found");
	rs_zone_free(z);

	static const char same[] = "$ORIGIN example.\n$TTL 300\n" SOA_LINE "@ NS ns\nns A 192.0.2.1\nb A 192.0.2.1\n";
	is_int(load(same, "same.zone", &z, &d, &stage), RS_EOK, "a zone with uniform TTLs");
	is_int(rs_zone_ttl_fixes(z), 0, "... has no TTL fixes");
	rs_zone_free(z);
}

/* ---- cuts, glue, DNAME ---- */

#define DS_HEX "2BB183AF5F22588179A53B0A98631FAD1A292118BE2E8E53A70A5E7D0EF0E8F9"

static void test_cuts(void)
{
	static const char text[] = "$ORIGIN example.\n$TTL 3600\n" SOA_LINE
				   "@ NS ns\n"
				   "ns A 192.0.2.1\n"
				   "child NS ns.child\n"
				   "ns.child A 192.0.2.3\n"
				   "deep.below.child AAAA 2001:db8::1\n"
				   "childish A 192.0.2.4\n"
				   "secure 7200 NS ns.secure\n"
				   "secure 3600 DS 12345 13 2 " DS_HEX "\n"
				   "ns.secure A 192.0.2.5\n"
				   "dn DNAME target.net.\n"
				   "x.dn A 192.0.2.6\n"
				   "dsonly DS 12345 13 2 " DS_HEX "\n";
	rs_zone_t *z;
	rs_diag_t d;
	int stage;
	is_int(load(text, "cuts.zone", &z, &d, &stage), RS_EOK, "a zone with delegations and a DNAME: %s", d.text);
	const rs_node_t *apex = find(z, "example."), *child = find(z, "child.example."),
			*glue = find(z, "ns.child.example."), *deep = find(z, "deep.below.child.example."),
			*childish = find(z, "childish.example."), *secure = find(z, "secure.example."),
			*sglue = find(z, "ns.secure.example."), *dn = find(z, "dn.example."),
			*occluded = find(z, "x.dn.example."), *ns = find(z, "ns.example."),
			*dsonly = find(z, "dsonly.example.");
	ok(apex && child && glue && deep && childish && secure && sglue && dn && occluded && ns && dsonly,
	   "every name is a node");
	if (!(apex && child && glue && deep && childish && secure && sglue && dn && occluded && ns && dsonly)) {
		rs_zone_free(z);
		return;
	}
	ok((apex->flags & RS_NODE_APEX) && !(apex->flags & (RS_NODE_DELEG | RS_NODE_NONAUTH)),
	   "the apex: APEX, its NS is no cut");
	ok((child->flags & RS_NODE_DELEG) && !(child->flags & (RS_NODE_DS | RS_NODE_NONAUTH)),
	   "child: a cut, no DS, authoritative for its NS");
	ok(glue->flags & RS_NODE_NONAUTH, "ns.child: glue, NONAUTH");
	ok(deep->flags & RS_NODE_NONAUTH, "deep.below.child: below the cut, NONAUTH");
	is_int(childish->flags, 0, "childish: a sibling that only shares a prefix is ordinary");
	ok((secure->flags & (RS_NODE_DELEG | RS_NODE_DS)) == (RS_NODE_DELEG | RS_NODE_DS) &&
	   !(secure->flags & RS_NODE_NONAUTH), "secure: a cut with DS");
	ok(sglue->flags & RS_NODE_NONAUTH, "ns.secure: glue");
	ok((dn->flags & RS_NODE_DNAME) && !(dn->flags & (RS_NODE_NONAUTH | RS_NODE_DELEG)), "dn: DNAME, authoritative");
	ok(occluded->flags & RS_NODE_NONAUTH, "x.dn: occluded by the DNAME, NONAUTH");
	is_int(ns->flags, 0, "ns: ordinary");
	ok(!(dsonly->flags & (RS_NODE_DELEG | RS_NODE_DS)), "a DS without NS is no cut");

	const rs_rr_t *rr = rs_zone_rrs(z);
	uint32_t b, e, nb, ne;
	ok(rs_node_rrset(z, secure, RS_TYPE_DS, &b, &e) && rr[b].ttl == 3600, "the DS of secure has TTL 3600");
	is_int(rs_zone_ds_ttl_from_ns(z), 1, "rs_zone_ds_ttl_from_ns changes one record");
	rs_node_rrset(z, secure, RS_TYPE_NS, &nb, &ne);
	ok(rr[b].ttl == 7200 && rr[nb].ttl == 7200, "the DS now has the NS TTL, 7200");
	ok(rs_node_rrset(z, dsonly, RS_TYPE_DS, &b, &e) && rr[b].ttl == 3600, "a DS without NS is left alone");
	is_int(rs_zone_ds_ttl_from_ns(z), 0, "a second call changes nothing");
	rs_zone_free(z);
}

/* ---- zone rules and their diagnostics ---- */

/* A zone reader's warning, kept in arg (512 octets). */
static void log_into(void *arg, int level, const char *zone, const char *msg)
{
	(void)level;
	(void)zone;
	snprintf(arg, 512, "%s", msg);
}

static void test_errors(void)
{
	rs_zone_t *z;
	rs_diag_t d;
	int stage;
	int ret = load("$ORIGIN example.\n$TTL 3600\n" SOA_LINE "other.net. A 192.0.2.1\n", "bad.zone", &z, &d, &stage);
	ok(ret == RS_EZONE && stage == 0, "out-of-zone data is refused while reading (%d)", ret);
	ok(starts(d.text, "bad.zone:4:") && strstr(d.text, "'other.net.'") && strstr(d.text, "outside"),
	   "... with LABEL:LINE: and the name: %s", d.text);
	rs_zone_free(z);

	ret = load("$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nns A 192.0.2.1\nw A 192.0.2.2\nw CNAME ns\n",
		   "bad.zone", &z, &d, &stage);
	ok(ret == RS_EZONE && stage == 1, "a CNAME beside other data is refused at finish (%d)", ret);
	ok(starts(d.text, "bad.zone:7:") && strstr(d.text, "CNAME beside other data") && strstr(d.text, "'w.example.'"),
	   "... naming the CNAME's line and owner: %s", d.text);
	rs_zone_free(z);

	ret = load("$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nw CNAME ns\nns A 192.0.2.1\nw CNAME a\n",
		   "bad.zone", &z, &d, &stage);
	ok(ret == RS_EZONE && strstr(d.text, "more than one CNAME") && starts(d.text, "bad.zone:"),
	   "two CNAMEs at a name are refused: %s", d.text);
	rs_zone_free(z);

	/* NSEC (and RRSIG) may sit beside a CNAME (RFC 4035 2.5). */
	rs_zone_opts_t keep = { .keep_dnssec = true };
	ret = load_opts("example.", "$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nns A 192.0.2.1\n"
		   "w CNAME ns\nw NSEC ns.example. CNAME RRSIG NSEC\n", "ok.zone", &keep, &z, &d, &stage);
	is_int(ret, RS_EOK, "a CNAME with its NSEC is accepted: %s", d.text);
	rs_zone_free(z);

	ret = load("$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nns A 192.0.2.1\n"
		   "@ SOA ns hostmaster 2 7200 3600 1209600 300\n", "bad.zone", &z, &d, &stage);
	ok(ret == RS_EZONE && stage == 1, "two SOAs are refused (%d)", ret);
	ok(starts(d.text, "bad.zone:6:") && strstr(d.text, "SOA") && strstr(d.text, "'example.'"),
	   "... naming the second SOA's line: %s", d.text);
	rs_zone_free(z);

	ret = load("$ORIGIN example.\n$TTL 3600\n" SOA_LINE SOA_LINE "@ NS ns\nns A 192.0.2.1\n", "dup.zone", &z, &d,
		   &stage);
	is_int(ret, RS_EOK, "the same SOA twice is a duplicate, not two SOAs: %s", d.text);
	rs_zone_free(z);

	/* One rule for every singleton type; DS and NS at the apex (issue 15). */
	ret = load("$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nns A 192.0.2.1\nd DNAME a\nd DNAME b\n",
		   "bad.zone", &z, &d, &stage);
	ok(ret == RS_EZONE && starts(d.text, "bad.zone:7:") && strstr(d.text, "more than one DNAME record at 'd.example.'"),
	   "two DNAMEs at a name are refused: %s", d.text);
	rs_zone_free(z);
	ret = load_opts("example.", "$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nd DNAME a\nd DNAME b\n",
			"signed.zone", &keep, &z, &d, &stage);
	is_int(ret, RS_EOK, "... but kept in a zone read to be verified, where the verifier reports them: %s", d.text);
	rs_zone_free(z);
	ret = load("$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nns A 192.0.2.1\n@ DS 1 13 2 "
		   "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n", "bad.zone", &z, &d, &stage);
	ok(ret == RS_EZONE && starts(d.text, "bad.zone:6:") && strstr(d.text, "DS record at the zone apex"),
	   "a DS at the apex is refused: %s", d.text);
	rs_zone_free(z);
	ret = load("$ORIGIN example.\n$TTL 3600\nns A 192.0.2.1\n" SOA_LINE "x NS ns\n", "bad.zone", &z, &d, &stage);
	ok(ret == RS_EZONE && starts(d.text, "bad.zone:4:") && strstr(d.text, "no NS records at the zone apex 'example.'"),
	   "an apex without NS is refused at its SOA's line: %s", d.text);
	rs_zone_free(z);

	/* Apex CDS/CDNSKEY against the DNSKEYs: a warning, or refused when cds_must_match. */
	static const char cds_text[] = "$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\n"
		"@ DNSKEY 257 3 15 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
		"@ CDNSKEY 257 3 15 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
		"@ CDS 62736 15 2 C7E4B537D7C226783FB896A9A597D2AFA3998C21FD9317FBBF69ED1A44E09407\n"
		"@ CDS 0 0 0 00\n";
	char warned[512] = "";
	rs_zone_opts_t warn = { .log = { log_into, warned } }, strict = { .cds_must_match = true };
	ret = load_opts("example.", cds_text, "cds.zone", &strict, &z, &d, &stage);
	is_int(ret, RS_EOK, "CDS and CDNSKEY of the zone's key, and a delete signal, are accepted: %s", d.text);
	rs_zone_free(z);
	char *stray = malloc(sizeof(cds_text) + 128);
	snprintf(stray, sizeof(cds_text) + 128, "%s@ CDS 62737 15 2 %s\n", cds_text,
		 "C7E4B537D7C226783FB896A9A597D2AFA3998C21FD9317FBBF69ED1A44E09408");
	ret = load_opts("example.", stray, "cds.zone", &warn, &z, &d, &stage);
	ok(ret == RS_EOK && starts(warned, "cds.zone:9: CDS record at 'example.' matches no DNSKEY"),
	   "a CDS matching no DNSKEY: a warning in an unmanaged zone: %s", warned);
	rs_zone_free(z);
	ret = load_opts("example.", stray, "cds.zone", &strict, &z, &d, &stage);
	ok(ret == RS_EZONE && starts(d.text, "cds.zone:9: CDS record at 'example.' matches no DNSKEY"),
	   "... and refused in a managed one: %s", d.text);
	rs_zone_free(z);
	ret = load_opts("example.", stray, "cds.zone", &warn, &z, &d, &stage);
	ret = ret == RS_EOK ? rs_zone_check_cds(z, &d) : ret;
	ok(ret == RS_EZONE && starts(d.text, "cds.zone:9: CDS record at 'example.' matches no DNSKEY"),
	   "rs_zone_check_cds: the managed rule on any finished zone: %s", d.text);
	rs_zone_free(z);
	free(stray);

	/* A patch of the apex (a change set) is held to the same rule in a managed zone. */
	static uint8_t stray_cds[36] = { 0xf5, 0x11, 15, 2, 1, 2, 3 }, delete_cdnskey[5] = { 0, 0, 3, 0, 0 };
	for (int managed = 1; managed >= 0; managed--) {
		rs_zone_t *base = NULL, *next = NULL;
		ret = load_opts("example.", cds_text, "cds.zone", managed ? &strict : &warn, &base, &d, &stage);
		size_t nn;
		const rs_node_t *apex = ret == RS_EOK ? rs_zone_nodes(base, &nn) : NULL;
		rs_rr_t rrs[16];
		size_t n = 0;
		for (uint32_t i = 0; apex != NULL && i < apex->count && n < 15; i++)
			rrs[n++] = rs_zone_rrs(base)[apex->first + i];
		rrs[n] = (rs_rr_t){ .type = RS_TYPE_CDS, .ttl = 3600, .rdata = stray_cds, .rdlen = sizeof(stray_cds) };
		rs_zone_edit_t edit = { .owner = wire("example."), .rrs = rrs, .count = n + 1 };
		d.text[0] = '\0';
		ret = apex != NULL ? rs_zone_patch(base, &edit, 1, &next, &d) : ret;
		if (managed)
			ok(ret == RS_EZONE && starts(d.text, "CDS record at 'example.' matches no DNSKEY of the zone"),
			   "a patch adding a CDS of no key to a managed zone's apex is refused, naming the record: %s",
			   d.text);
		else
			ok(ret == RS_EOK, "... an unmanaged zone's is patched (rs_zone_finish warned): %s", d.text);
		rs_zone_free(next);
		next = NULL;
		rrs[n] = (rs_rr_t){ .type = RS_TYPE_CDNSKEY, .ttl = 3600, .rdata = delete_cdnskey, .rdlen = 5 };
		d.text[0] = '\0';
		ret = apex != NULL ? rs_zone_patch(base, &edit, 1, &next, &d) : ret;
		if (managed)
			ok(ret == RS_EOK, "... the delete signal CDNSKEY 0 3 0 AA== is not: %s", d.text);
		rs_zone_free(next);
		rs_zone_free(base);
	}

	/* What peers read (prep.c): lines stay as written after joined fields and escaped octets. */
	ret = load("$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nk DNSKEY 256 3 15 ( AAECAwQFBgcICQoLDA0OD\n"
		   " xAREhMUFRYXGBkaGxwdHh8=\n )\nt TXT \"\xc3\xa9\"\nlate A 192.0.2.1\nbad A x\n", "peer.zone", &z, &d, &stage);
	ok(ret == RS_ESYNTAX && starts(d.text, "peer.zone:10:"), "a split key and 8-bit text read, lines kept: %s", d.text);
	rs_zone_free(z);
	ret = load("$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nk DNSKEY 256 3 15 ( AAECAwQFBgcICQoLDA0OD\n"
		   " xAREhMUFRYXGBkaGxwdHh8= )\nt TXT \"\xc3\xa9\"\n", "peer.zone", &z, &d, &stage);
	const rs_node_t *tn = ret == RS_EOK ? find(z, "t.example.") : NULL;
	ok(tn != NULL && rs_zone_rrs(z)[tn->first].rdlen == 3 && memcmp(rs_zone_rrs(z)[tn->first].rdata, "\x02\xc3\xa9", 3) == 0,
	   "... the octets as written: %s", d.text);
	rs_zone_free(z);
	char longtxt[400];
	snprintf(longtxt, sizeof(longtxt), "$ORIGIN example.\n" SOA_LINE "@ NS ns\nt TXT \"%0256d\"\n", 0);
	ret = load(longtxt, "long.zone", &z, &d, &stage);
	ok(ret == RS_ESYNTAX && starts(d.text, "long.zone:4: character-string of 256 octets, longer than 255"),
	   "a character-string over 255 octets is refused, not split: %s", d.text);
	rs_zone_free(z);

	/* Unquoted, in a file the scanner reads as it is: the split it makes is caught at the record. */
	char b255[256], longfile[2400], path[64], want[128];
	memset(b255, 'b', 255);
	b255[255] = '\0';
	snprintf(longfile, sizeof(longfile), "$ORIGIN example.\n" SOA_LINE "@ NS ns\nt TXT %s more\n"
		 "u TXT %s ; not this: %s%s\nv TXT \\# 257 ff%0510d00\nw TXT x%sy\n", b255, b255, b255, b255, 0,
		 b255);
	snprintf(path, sizeof(path), "/tmp/test_zone_XXXXXX");
	ret = load_path(longfile, path, &z, &d);
	snprintf(want, sizeof(want), "%s:7: character-string of 257 octets, longer than 255", path);
	ok(ret == RS_ESYNTAX && starts(d.text, want), "an unquoted character-string over 255 octets is refused: %s",
	   d.text);
	rs_zone_free(z);
	strstr(longfile, "\nw TXT")[1] = '\0'; /* without the last line */
	snprintf(path, sizeof(path), "/tmp/test_zone_XXXXXX");
	ret = load_path(longfile, path, &z, &d);
	tn = ret == RS_EOK ? find(z, "t.example.") : NULL;
	ok(tn != NULL && rs_zone_rrs(z)[tn->first].rdlen == 261 && find(z, "u.example.") != NULL &&
	   find(z, "v.example.") != NULL,
	   "... not 255 octets and another string as written, nor one in a comment or in the RFC 3597 form: %s", d.text);
	rs_zone_free(z);

	ret = load("$ORIGIN example.\n$TTL 3600\n@ NS ns\nns A 192.0.2.1\n", "nosoa.zone", &z, &d, &stage);
	ok(ret == RS_EZONE && stage == 1, "a zone without SOA is refused at finish (%d)", ret);
	ok(starts(d.text, "nosoa.zone:1:") && strstr(d.text, "no SOA") && strstr(d.text, "'example.'"),
	   "... naming the label: %s", d.text);
	rs_zone_free(z);

	ret = load("$ORIGIN example.\n$TTL 3600\nwww A 192.0.2.1\n", "noapex.zone", &z, &d, &stage);
	ok(ret == RS_EZONE && strstr(d.text, "no SOA"), "a zone with nothing at the apex: no SOA: %s", d.text);
	rs_zone_free(z);

	ret = load("", "empty.zone", &z, &d, &stage);
	ok(ret == RS_EZONE && starts(d.text, "empty.zone:1:") && strstr(d.text, "no SOA"), "an empty zone: %s", d.text);
	rs_zone_free(z);

	ret = load("$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nns A 192.0.2.1\n"
		   "sub SOA ns hostmaster 1 7200 3600 1209600 300\n", "bad.zone", &z, &d, &stage);
	ok(ret == RS_EZONE && starts(d.text, "bad.zone:6:") && strstr(d.text, "not at the zone apex") &&
	   strstr(d.text, "'sub.example.'"), "an SOA below the apex is refused: %s", d.text);
	rs_zone_free(z);

	ret = load("$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nns A 300.0.2.1\n", "bad.zone", &z, &d, &stage);
	ok(ret == RS_ESYNTAX && stage == 0 && starts(d.text, "bad.zone:5:"), "a syntax error gives LABEL:LINE: %s", d.text);
	rs_zone_free(z);

	ret = load("$ORIGIN example.\n$TTL 3600\n" SOA_LINE "ns CLASS3 TXT \"x\"\n", "bad.zone", &z, &d, &stage);
	/* libzscanner knows only IN: the record is refused by the scanner, at its line. */
	ok(ret < 0 && stage == 0 && starts(d.text, "bad.zone:4:"), "a class other than IN is refused: %s", d.text);
	rs_zone_free(z);

	/* Signatures and chains are dropped unless asked to keep them. */
	static const char signed_text[] = "$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nns A 192.0.2.1\n"
					  "ns NSEC example. A RRSIG NSEC\n";
	ret = load(signed_text, "signed.zone", &z, &d, &stage);
	const rs_node_t *ns = ret == RS_EOK ? find(z, "ns.example.") : NULL;
	uint32_t b, e;
	ok(ns != NULL && ns->count == 1 && !rs_node_rrset(z, ns, RS_TYPE_NSEC, &b, &e), "NSEC is dropped by default");
	rs_zone_free(z);
	ret = load_opts("example.", signed_text, "signed.zone", &keep, &z, &d, &stage);
	ns = ret == RS_EOK ? find(z, "ns.example.") : NULL;
	ok(ns != NULL && ns->count == 2 && rs_node_rrset(z, ns, RS_TYPE_NSEC, &b, &e), "... and kept with keep_dnssec");
	rs_zone_free(z);
}

/* ---- records from other sources ---- */

static const char base_text[] = "$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nns A 192.0.2.1\n"
				"w A 192.0.2.2\n";

static void test_sources(void)
{
	rs_zone_t *z;
	rs_diag_t d;
	uint32_t src = 99;
	const uint8_t *target = wire("ns.example.");
	rs_zone_new(wire("example."), NULL, &z);
	is_int(rs_zone_read_string(z, base_text, strlen(base_text), "base.zone", &d), RS_EOK, "zone text");
	is_int(rs_zone_source(z, "registry data of example.", &src), RS_EOK, "a source is named");
	is_str(rs_zone_file_name(z, src), "registry data of example.", "rs_zone_file_name gives its label");
	is_int(rs_zone_add_from(z, src, 0, wire("w.example."), RS_TYPE_CNAME, 3600, target, wire_len(target)), RS_EOK,
	       "a CNAME added from the source");
	d.text[0] = '\0';
	is_int(rs_zone_finish(z, &d), RS_EZONE, "finish refuses the CNAME beside the A");
	is_str(d.text, "registry data of example.: CNAME beside other data at 'w.example.'",
	       "the finish error names the source label");
	rs_zone_free(z);

	rs_zone_new(wire("example."), NULL, &z);
	rs_zone_read_string(z, base_text, strlen(base_text), "base.zone", &d);
	rs_zone_source(z, "registry data of example.", &src);
	rs_zone_add_from(z, src, 12, wire("w.example."), RS_TYPE_CNAME, 3600, target, wire_len(target));
	rs_zone_finish(z, &d);
	ok(starts(d.text, "registry data of example.:12: CNAME beside other data"), "with a line: LABEL:LINE: %s", d.text);
	rs_zone_free(z);

	rs_zone_new(wire("example."), NULL, &z);
	rs_zone_read_string(z, base_text, strlen(base_text), "base.zone", &d);
	rs_zone_add(z, wire("w.example."), RS_TYPE_CNAME, 3600, target, wire_len(target));
	rs_zone_finish(z, &d);
	is_str(d.text, "CNAME beside other data at 'w.example.'", "a record added without a source is named alone");
	rs_zone_free(z);

	rs_zone_new(wire("example."), NULL, &z);
	rs_zone_read_string(z, base_text, strlen(base_text), "base.zone", &d);
	uint8_t a[4] = { 192, 0, 2, 77 };
	is_int(rs_zone_add(z, wire("other.net."), RS_TYPE_A, 3600, a, 4), RS_EZONE, "adding an out-of-zone record: RS_EZONE");
	is_int(rs_zone_add(z, wire("w.example."), RS_TYPE_A, 3600, a, 3), RS_ESYNTAX, "adding malformed A RDATA: RS_ESYNTAX");
	uint8_t upper[64];
	memcpy(upper, "\003NEW\007EXAMPLE\000", 13);
	is_int(rs_zone_add(z, upper, RS_TYPE_A, 60, a, 4), RS_EOK, "adding a record in upper case");
	is_int(rs_zone_finish(z, &d), RS_EOK, "finish");
	const rs_node_t *nw = find(z, "new.example.");
	ok(nw != NULL && nw->count == 1 && rs_zone_rrs(z)[nw->first].ttl == 60 && rs_zone_rrs(z)[nw->first].line == 0,
	   "the added record is found under its lower-case name, with line 0");
	is_int(rs_zone_add(z, wire("late.example."), RS_TYPE_A, 60, a, 4), RS_EINVAL, "no adding after finish");
	rs_zone_free(z);
}

/* ---- the largest TTL ---- */

static void test_check_ttls(void)
{
	static const char text[] = "$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nns A 192.0.2.1\n"
				   "big 86400 TXT \"x\"\n";
	rs_zone_t *z;
	rs_diag_t d;
	rs_zone_new(wire("example."), NULL, &z);
	rs_zone_read_string(z, text, strlen(text), "ttl.zone", &d);
	uint8_t a[4] = { 192, 0, 2, 9 };
	rs_zone_add(z, wire("added.example."), RS_TYPE_A, 999999, a, 4);
	is_int(rs_zone_finish(z, &d), RS_EOK, "a zone with one large TTL and a larger added one: %s", d.text);
	d.text[0] = '\0';
	is_int(rs_zone_check_ttls(z, 7200, &d), RS_EZONE, "a TTL above the limit: RS_EZONE");
	ok(starts(d.text, "ttl.zone:6: TTL 86400 is above"), "... naming FILE:LINE and the TTL: %s", d.text);
	is_int(rs_zone_check_ttls(z, 86400, &d), RS_EOK, "a TTL equal to the limit is fine; the added record is ignored");
	rs_zone_free(z);

	/* A record from a named source with a line counts like one from a file. */
	rs_zone_new(wire("example."), NULL, &z);
	rs_zone_read_string(z, text, strlen(text), "ttl.zone", &d);
	uint32_t src;
	rs_zone_source(z, "registry data of example.", &src);
	rs_zone_add_from(z, src, 9, wire("reg.example."), RS_TYPE_A, 100000, a, 4);
	rs_zone_finish(z, &d);
	is_int(rs_zone_check_ttls(z, 86400, &d), RS_EZONE, "a record from a source with a line is checked");
	ok(starts(d.text, "registry data of example.:9: TTL 100000"), "... and named: %s", d.text);
	rs_zone_free(z);
}

/* ---- serial, text forms ---- */

static void test_serial_and_format(void)
{
	static const char text[] = "$ORIGIN example.\n$TTL 3600\n" SOA_LINE "@ NS ns\nns A 192.0.2.1\n";
	rs_zone_t *z;
	rs_diag_t d;
	int stage;
	load(text, "serial.zone", &z, &d, &stage);
	rs_zone_set_serial(z, 2026010100);
	is_str(line_of(z, rs_zone_soa(z)), "example.\t3600\tIN\tSOA\tns.example. hostmaster.example. 2026010100 7200 3600 1209600 300\n",
	       "rs_zone_set_serial replaces the serial and nothing else");
	rs_zone_set_serial(z, 4294967295u);
	ok(strstr(line_of(z, rs_zone_soa(z)), " 4294967295 7200 ") != NULL, "the largest serial");
	rs_zone_free(z);

	rs_buf_t b;
	rs_buf_init(&b, 1 << 16);
	uint8_t a[4] = { 192, 0, 2, 1 };
	uint8_t aaaa[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	rs_rr_format(&b, NULL, wire("www.example."), 300, RS_TYPE_A, a, 4);
	rs_rr_format(&b, "@", NULL, 60, RS_TYPE_AAAA, aaaa, 16);
	const uint8_t *ns = wire("ns1.example.net.");
	rs_rr_format(&b, NULL, wire("example."), 86400, RS_TYPE_NS, ns, wire_len(ns));
	uint8_t ds[36] = { 0x30, 0x39, 13, 2 };
	for (int i = 0; i < 32; i++)
		ds[4 + i] = (uint8_t)(i % 16 * 17);
	rs_rr_format(&b, NULL, wire("child.example."), 3600, RS_TYPE_DS, ds, sizeof(ds));
	uint8_t mx[64] = { 0, 10 };
	const uint8_t *mxn = wire("mail.example.");
	memcpy(mx + 2, mxn, wire_len(mxn));
	rs_rr_format(&b, NULL, wire("example."), 3600, RS_TYPE_MX, mx, 2 + wire_len(mxn));
	static const uint8_t txt[] = "\013hello world";
	rs_rr_format(&b, NULL, wire("t.example."), 3600, RS_TYPE_TXT, txt, 12);
	uint8_t odd[64];
	memcpy(odd, "\003a.b\002\310x\007example\000", 16);
	rs_rr_format(&b, NULL, odd, 1, RS_TYPE_A, a, 4);
	rs_buf_printf(&b, "%s", "");
	is_str((const char *)b.data,
	       "www.example.\t300\tIN\tA\t192.0.2.1\n"
	       "@\t60\tIN\tAAAA\t2001:db8::1\n"
	       "example.\t86400\tIN\tNS\tns1.example.net.\n"
	       "child.example.\t3600\tIN\tDS\t12345 13 2 00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF\n"
	       "example.\t3600\tIN\tMX\t10 mail.example.\n"
	       "t.example.\t3600\tIN\tTXT\t\"hello world\"\n"
	       "a\\.b.\\200x.example.\t1\tIN\tA\t192.0.2.1\n",
	       "rs_rr_format: A, AAAA with owner text, NS, DS, MX, TXT, an owner needing escapes");
	rs_buf_clear(&b);
	/* RDATA libknot's printer cannot print goes out in the RFC 3597 form, which reads back the same. */
	static const uint8_t ipsec[] = { 10, 1, 2, 192, 0, 2, 38 };
	rs_buf_init(&b, 1 << 16);
	is_int(rs_rr_format(&b, NULL, wire("gw.example."), 60, 45, ipsec, sizeof(ipsec)), RS_EOK,
	       "rs_rr_format of an IPSECKEY libknot cannot print succeeds");
	rs_buf_printf(&b, "%s", "");
	is_str((const char *)b.data, "gw.example.\t60\tIN\tIPSECKEY\t\\# 7 0A0102C0000226\n", "... in the generic form");
	uint8_t back[64];
	size_t blen = 0;
	ok(rs_rdata_from_text(45, "\\# 7 0A0102C0000226", back, sizeof(back), &blen, &d) == RS_EOK &&
	   blen == sizeof(ipsec) && memcmp(back, ipsec, blen) == 0, "... which reads back as the same octets");
	rs_buf_clear(&b);
	rs_buf_init(&b, 64);
	is_int(rs_rr_format(&b, NULL, wire("www.example."), 300, RS_TYPE_A, a, 4), RS_ELIMIT,
	       "rs_rr_format into a buffer that is too small: RS_ELIMIT");
	is_int(b.len, 0, "... and nothing appended");
	rs_buf_clear(&b);

	char name[4 * RS_NAME_MAX + 2];
	is_int(rs_name_format(wire("www.example."), name, sizeof(name)), 12, "rs_name_format returns the length");
	is_str(name, "www.example.", "... and writes the name");
	is_int(rs_name_format((const uint8_t *)"", name, sizeof(name)), 1, "the root");
	is_str(name, ".", "... is '.'");
	is_int(rs_name_format(wire("x."), name, 10), RS_ELIMIT, "a small output buffer is refused");
}

static void test_rdata_from_text(void)
{
	uint8_t out[128];
	size_t len = 999;
	rs_diag_t d;
	is_int(rs_rdata_from_text(RS_TYPE_DS, "12345 13 2 " DS_HEX, out, sizeof(out), &len, &d), RS_EOK, "DS from text");
	is_int(len, 36, "... 36 octets");
	ok(rs_get16(out) == 12345 && out[2] == 13 && out[3] == 2, "... key tag, algorithm, digest type");
	ok(out[4] == 0x2b && out[5] == 0xb1 && out[35] == 0xf9, "... and the digest");
	size_t len2 = 0;
	uint8_t lower[128];
	char lc[256] = "12345 13 2 " DS_HEX;
	for (char *p = lc; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	ok(rs_rdata_from_text(RS_TYPE_DS, lc, lower, sizeof(lower), &len2, &d) == RS_EOK && len2 == 36 &&
	   memcmp(lower, out, 36) == 0, "lower-case hex gives the same RDATA");
	const char *bad[] = { "12345 13 2 XYZ", "", "12345 13 2 " DS_HEX "\n12345 13 2 00", "12345 13 2 ab ; c",
			      "12345 13 2 (ab)", "99999 13 2 ab", "$INCLUDE /etc/passwd" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t l = 999;
		d.text[0] = '\0';
		int ret = rs_rdata_from_text(RS_TYPE_DS, bad[i], out, sizeof(out), &l, &d);
		ok(ret == RS_ESYNTAX && l == 999 && strstr(d.text, "DS") != NULL, "bad DS text %zu is refused%s%s", i,
		   strchr(bad[i], '\n') ? "" : ": ", strchr(bad[i], '\n') ? " (a line break)" : d.text);
	}
	size_t l = 999;
	is_int(rs_rdata_from_text(RS_TYPE_DS, "12345 13 2 " DS_HEX, out, 10, &l, &d), RS_ELIMIT,
	       "DS longer than the output: RS_ELIMIT");
	is_int(l, 999, "... length untouched");
	ok(rs_rdata_from_text(RS_TYPE_A, "192.0.2.7", out, sizeof(out), &l, &d) == RS_EOK && l == 4 && out[3] == 7,
	   "A from text");
}

/* rs_zone_write: the SOA first, each RRset then its RRSIGs, and the text reads back to the same zone. */
static void test_write(void)
{
	uint8_t origin[RS_NAME_MAX];
	rs_dname_from_str("example.", origin);
	static const char text[] =
		"example. 3600 IN NS ns1.example.\n"
		"example. 3600 IN SOA ns1.example. h.example. 7 3600 900 86400 300\n"
		"example. 3600 IN RRSIG SOA 13 1 3600 20300101000000 20200101000000 1 example. AAAA\n"
		"example. 3600 IN RRSIG NS 13 1 3600 20300101000000 20200101000000 1 example. AAAA\n"
		"www.example. 300 IN A 192.0.2.1\n"
		"www.example. 300 IN RRSIG A 13 2 300 20300101000000 20200101000000 1 example. AAAA\n"
		"www.example. 300 IN TXT \"x y\"\n"
		"sub.example. 3600 IN NS ns.sub.example.\n"
		"ns.sub.example. 3600 IN A 192.0.2.9\n";
	rs_zone_t *z = tap_zone(origin, text, NULL, 0, true);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	rs_diag_t d;
	ok(z != NULL && f != NULL && rs_zone_write(z, f, &d) == RS_EOK && fclose(f) == 0, "write: written");
	ok(out != NULL && strncmp(out, "example.\t3600\tIN\tSOA\t", 21) == 0, "write: the SOA first");
	const char *ns = out ? strstr(out, "example.\t3600\tIN\tNS\t") : NULL;
	const char *sig_soa = out ? strstr(out, "IN\tRRSIG\tSOA ") : NULL, *sig_ns = out ? strstr(out, "IN\tRRSIG\tNS ") : NULL;
	ok(sig_soa != NULL && ns != NULL && sig_ns != NULL && sig_soa < ns && ns < sig_ns,
	   "write: each RRset followed by its signatures");
	rs_zone_t *back = out != NULL ? tap_zone(origin, out, NULL, 0, true) : NULL;
	size_t na = 0, nb = 0;
	const rs_rr_t *ra = z ? rs_zone_rrs(z) : NULL, *rb = back ? rs_zone_rrs(back) : NULL;
	if (z != NULL)
		rs_zone_nodes(z, &na);
	if (back != NULL)
		rs_zone_nodes(back, &nb);
	bool same = back != NULL && na == nb;
	for (size_t i = 0; same && i < 9; i++)
		same = ra[i].type == rb[i].type && ra[i].ttl == rb[i].ttl && ra[i].rdlen == rb[i].rdlen &&
		       memcmp(ra[i].rdata, rb[i].rdata, ra[i].rdlen) == 0 && rs_name_cmp(ra[i].owner, rb[i].owner) == 0;
	ok(same, "write: read back, the same records in the same order");
	rs_zone_free(back);
	rs_zone_free(z);
	free(out);
}

int main(void)
{
	test_write();
	test_order();
	test_case_dups_ttls();
	test_cuts();
	test_errors();
	test_sources();
	test_check_ttls();
	test_serial_and_format();
	test_rdata_from_text();
	return done_testing();
}
