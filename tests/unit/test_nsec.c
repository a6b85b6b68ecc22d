/* nsec: NSEC chains and bitmaps (cuts, glue), NSEC3 chains against RFC 5155 Appendix A, opt-out. */
#include <stdlib.h>

#include "regsign/crypto.h"
#include "regsign/nsec.h"
#include "regsign/zone.h"
#include "tap/tap.h"
#include "tap/zone.h"

/* example. in wire form, for tap_zone. */
static uint8_t example[RS_NAME_MAX];

/* Index of the node named text, or RS_NO_NODE. */
static uint32_t node_index(const rs_zone_t *z, const char *text)
{
	uint8_t wire[RS_NAME_MAX], key[RS_KEY_MAX];
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(z, &n);
	if (rs_dname_from_str(text, wire) != RS_EOK)
		return RS_NO_NODE;
	const rs_node_t *node = rs_zone_find(z, key, rs_dname_key(wire, key));
	return node == NULL ? RS_NO_NODE : (uint32_t)(node - nodes);
}

/* The bitmap types of a node as mnemonics ("NS DS RRSIG NSEC"); "(none)" if absent. */
static const char *types_of(const rs_zone_t *z, const char *name, bool nsec3, uint16_t extra)
{
	static char out[1024];
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(z, &n);
	uint32_t i = node_index(z, name);
	if (i == RS_NO_NODE)
		return "(none)";
	uint16_t types[512];
	size_t nt = rs_node_types(z, &nodes[i], nsec3, extra, types);
	size_t pos = 0;
	out[0] = '\0';
	for (size_t k = 0; k < nt && pos < sizeof(out) - 40; k++) {
		if (k > 0)
			out[pos++] = ' ';
		pos += (size_t)rs_type_to_str(types[k], out + pos, 32);
	}
	return out;
}

static const char *name_of(const rs_zone_t *z, uint32_t index)
{
	static char out[1100];
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(z, &n);
	if (index == RS_NO_NODE)
		return "(none)";
	rs_dname_to_str(rs_name_wire(nodes[index].name), out, sizeof(out));
	return out;
}

static const char nsec_zone[] =
    "$TTL 3600\n"
    "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "@ NS ns1\n"
    "@ MX 10 mail\n"
    "ns1 A 192.0.2.1\n"
    "WWW A 192.0.2.2\n"
    "mail A 192.0.2.3\n"
    "sub NS ns.sub\n"
    "sub DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"
    "sub A 192.0.2.9\n" /* data at a cut belongs to the child */
    "ns.sub A 192.0.2.6\n"
    "deep.below.sub A 192.0.2.7\n"
    "insecure NS ns.other.net.\n"
    "a.b.ent A 192.0.2.4\n";

static void nsec_chain(void)
{
	rs_zone_t *z = tap_zone(example, nsec_zone, NULL, 0, false);
	if (!ok(z != NULL, "NSEC zone loads"))
		return;
	uint32_t *next;
	if (!ok(rs_nsec_chain(z, &next) == RS_EOK, "NSEC chain built"))
		return;
	/* Canonical order of the authoritative names; glue and occluded names are not in it. */
	static const char *chain[] = {"example.",      "a.b.ent.example.", "insecure.example.",
				      "mail.example.", "ns1.example.",	   "sub.example.",
				      "www.example.",  "example."};
	for (size_t i = 0; i + 1 < sizeof(chain) / sizeof(chain[0]); i++)
		is_str(name_of(z, next[node_index(z, chain[i])]), chain[i + 1], "NSEC after %s",
		       chain[i]);
	ok(next[node_index(z, "ns.sub.example.")] == RS_NO_NODE, "glue has no NSEC");
	ok(next[node_index(z, "deep.below.sub.example.")] == RS_NO_NODE,
	   "an occluded name has no NSEC");

	is_str(types_of(z, "example.", false, 0), "NS SOA MX RRSIG NSEC", "apex bitmap");
	is_str(types_of(z, "www.example.", false, 0), "A RRSIG NSEC", "bitmap of an ordinary name");
	is_str(types_of(z, "sub.example.", false, 0), "NS DS RRSIG NSEC",
	       "secure cut: NS DS RRSIG NSEC, not the A of the child (RFC 4035 2.3)");
	is_str(types_of(z, "insecure.example.", false, 0), "NS RRSIG NSEC",
	       "insecure cut: NS RRSIG NSEC");
	is_str(types_of(z, "sub.example.", true, 0), "NS DS RRSIG", "NSEC3 bitmap of a secure cut");
	is_str(types_of(z, "insecure.example.", true, 0), "NS",
	       "NSEC3 bitmap of an insecure cut: no RRSIG");
	is_str(types_of(z, "example.", true, RS_TYPE_NSEC3PARAM), "NS SOA MX RRSIG NSEC3PARAM",
	       "NSEC3 apex bitmap with NSEC3PARAM");
	is_str(types_of(z, "mail.example.", true, 0), "A RRSIG",
	       "NSEC3 bitmap of an ordinary name");

	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(z, &n);
	const rs_node_t *cut = &nodes[node_index(z, "sub.example.")];
	const rs_node_t *glue = &nodes[node_index(z, "ns.sub.example.")];
	const rs_node_t *apex = &nodes[0];
	ok(!rs_rrset_is_signed(cut, RS_TYPE_NS), "NS at a cut is not signed");
	ok(rs_rrset_is_signed(cut, RS_TYPE_DS), "DS at a cut is signed");
	ok(rs_rrset_is_signed(cut, RS_TYPE_NSEC), "NSEC at a cut is signed");
	ok(!rs_rrset_is_signed(cut, RS_TYPE_A), "data at a cut is not signed");
	ok(!rs_rrset_is_signed(glue, RS_TYPE_A), "glue is not signed");
	ok(rs_rrset_is_signed(apex, RS_TYPE_NS), "apex NS is signed");
	ok(!rs_rrset_is_signed(apex, RS_TYPE_RRSIG), "RRSIG is never signed");
	free(next);
	rs_zone_free(z);
}

/* A name with more types than a bitmap array holds: a full array, not a write past it. */
static void many_types(void)
{
	size_t cap = 64 * 1024, len = 0;
	char *text = malloc(cap);
	len += (size_t)snprintf(text + len, cap - len, "@ 3600 SOA ns h 1 2 3 4 5\n@ 3600 NS ns\n");
	for (unsigned t = 1000; t < 1600; t++)
		len += (size_t)snprintf(text + len, cap - len, "x 3600 TYPE%u \\# 1 00\n", t);
	rs_zone_t *z = tap_zone(example, text, NULL, 0, false);
	free(text);
	if (!ok(z != NULL, "zone with 600 types at one name loads"))
		return;
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(z, &n);
	uint16_t types[512 + 16];
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		types[i] = 0xdead;
	size_t nt = rs_node_types(z, &nodes[node_index(z, "x.example.")], false, 0, types);
	is_int(nt, 512, "600 types: the count says the array is full");
	ok(types[512] == 0xdead, "600 types: nothing written past 512 entries");
	rs_zone_free(z);
}

/* RFC 5155 Appendix A, without its DNSSEC records (the DNSKEY is ours). */
static const char rfc5155_zone[] =
    "$TTL 3600\n"
    "example. SOA ns1.example. bugs.x.w.example. 1 3600 300 3600000 3600\n"
    "example. NS ns1.example.\n"
    "example. NS ns2.example.\n"
    "example. MX 1 xx.example.\n"
    "2t7b4g4vsa5smi47k61mv5bv1a22bojr.example. A 192.0.2.127\n"
    "a.example. NS ns1.a.example.\n"
    "a.example. NS ns2.a.example.\n"
    "a.example. DS 58470 5 1 3079F1593EBAD6DC121E202A8B766A6A4837206C\n"
    "ns1.a.example. A 192.0.2.5\n"
    "ns2.a.example. A 192.0.2.6\n"
    "ai.example. A 192.0.2.9\n"
    "ai.example. HINFO \"KLH-10\" \"ITS\"\n"
    "ai.example. AAAA 2001:db8::f00:baa9\n"
    "c.example. NS ns1.c.example.\n"
    "c.example. NS ns2.c.example.\n"
    "ns1.c.example. A 192.0.2.7\n"
    "ns2.c.example. A 192.0.2.8\n"
    "ns1.example. A 192.0.2.1\n"
    "ns2.example. A 192.0.2.2\n"
    "*.w.example. MX 1 ai.example.\n"
    "x.w.example. MX 1 xx.example.\n"
    "x.y.w.example. MX 1 xx.example.\n"
    "xx.example. A 192.0.2.10\n"
    "xx.example. HINFO \"KLH-10\" \"TOPS-20\"\n"
    "xx.example. AAAA 2001:db8::f00:baa1\n";

/* The NSEC3 records of Appendix A (opt-out): hashed owner, the name it stands for, bitmap. */
static const struct {
	const char *hash, *name, *types;
} rfc5155_chain[] = {
    {"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", "example.", "NS SOA MX RRSIG DNSKEY NSEC3PARAM"},
    {"2t7b4g4vsa5smi47k61mv5bv1a22bojr", "ns1.example.", "A RRSIG"},
    {"2vptu5timamqttgl4luu9kg21e0aor3s", "x.y.w.example.", "MX RRSIG"},
    {"35mthgpgcu1qg68fab165klnsnk3dpvl", "a.example.", "NS DS RRSIG"},
    {"b4um86eghhds6nea196smvmlo4ors995", "x.w.example.", "MX RRSIG"},
    {"gjeqe526plbf1g8mklp59enfd789njgi", "ai.example.", "A HINFO AAAA RRSIG"},
    {"ji6neoaepv8b5o6k4ev33abha8ht9fgc", NULL, ""}, /* y.w.example, empty non-terminal */
    {"k8udemvp1j2f7eg6jebps17vp3n8i58h", NULL, ""}, /* w.example */
    {"kohar7mbb8dc2ce8a9qvl8hon4k53uhi", "2t7b4g4vsa5smi47k61mv5bv1a22bojr.example.", "A RRSIG"},
    {"q04jkcevqvmu85r014c7dkba38o0ji5r", "ns2.example.", "A RRSIG"},
    {"r53bq7cc2uvmubfu5ocmm6pers9tk9en", "*.w.example.", "MX RRSIG"},
    {"t644ebqk9bibcna874givr6joj62mlhv", "xx.example.", "A HINFO AAAA RRSIG"},
};

static void rfc5155(void)
{
	uint8_t origin[RS_NAME_MAX];
	rs_dname_from_str("example.", origin);
	rs_key_t *key;
	rs_diag_t d;
	if (!ok(rs_key_generate(origin, RS_ALG_ECDSAP256SHA256, 0, true, &key, &d) == RS_EOK,
		"key generated"))
		return;
	rs_zone_t *z = tap_zone(example, rfc5155_zone, &key, 1, false);
	rs_key_free(key);
	if (!ok(z != NULL, "RFC 5155 Appendix A zone loads"))
		return;
	rs_nsec3_params_t p = {
	    .iterations = 12, .salt_len = 4, .salt = {0xaa, 0xbb, 0xcc, 0xdd}, .opt_out = true};
	rs_nsec3_chain_t chain;
	if (!ok(rs_nsec3_build(z, &p, &chain, &d) == RS_EOK, "opt-out chain built"))
		return;
	size_t want = sizeof(rfc5155_chain) / sizeof(rfc5155_chain[0]);
	is_int(chain.count, want, "opt-out chain has the 12 NSEC3 records of Appendix A");
	for (size_t i = 0; i < chain.count && i < want; i++) {
		char b32[40];
		b32[rs_base32hex_encode(chain.entries[i].hash, 20, b32)] = '\0';
		is_str(b32, rfc5155_chain[i].hash, "NSEC3 %zu hash in chain order", i);
		const char *name = rfc5155_chain[i].name;
		uint32_t node = chain.entries[i].node;
		is_str(name_of(z, node), name ? name : "(none)", "NSEC3 %zu stands for %s", i,
		       name ? name : "an empty non-terminal");
		if (name != NULL)
			is_str(types_of(z, name, true, node == 0 ? RS_TYPE_NSEC3PARAM : 0),
			       rfc5155_chain[i].types, "NSEC3 %zu bitmap as in Appendix A", i);
	}
	rs_nsec3_chain_clear(&chain);

	/* Without opt-out the insecure delegation c.example is in the chain, with NS only. */
	p.opt_out = false;
	if (ok(rs_nsec3_build(z, &p, &chain, &d) == RS_EOK, "chain without opt-out built")) {
		is_int(chain.count, want + 1, "without opt-out c.example adds one NSEC3");
		uint32_t c = node_index(z, "c.example.");
		size_t found = 0;
		for (size_t i = 0; i < chain.count; i++)
			found += chain.entries[i].node == c;
		is_int(found, 1, "c.example. is in the chain once");
		is_str(types_of(z, "c.example.", true, 0), "NS", "bitmap of c.example.: NS");
		rs_nsec3_chain_clear(&chain);
	}

	uint8_t rd[260];
	size_t len = rs_nsec3param_rdata(&p, rd);
	static const uint8_t param[] = {1, 0, 0, 12, 4, 0xaa, 0xbb, 0xcc, 0xdd};
	p.opt_out = true;
	ok(len == sizeof(param) && memcmp(rd, param, len) == 0 &&
	       rs_nsec3param_rdata(&p, rd) == len && memcmp(rd, param, len) == 0,
	   "NSEC3PARAM RDATA: SHA-1, flags 0 even with opt-out (RFC 5155 4.1.2), 12, aabbccdd");
	uint8_t hash[20], owner[RS_NAME_MAX];
	rs_base32hex_decode("0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", 32, hash, 20);
	char text[1100];
	int olen = rs_nsec3_owner(hash, rs_zone_origin(z), owner);
	rs_dname_to_str(owner, text, sizeof(text));
	ok(olen == 42, "NSEC3 owner length");
	is_str(text, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example.", "NSEC3 owner name");
	rs_zone_free(z);
}

/* Opt-out and empty non-terminals (RFC 5155 7.1): one made only by an insecure delegation goes too.
 */
static void optout_ents(void)
{
	static const char text[] =
	    "$TTL 3600\n"
	    "@ SOA ns h 1 2 3 4 5\n"
	    "@ NS ns\n"
	    "ns A 192.0.2.1\n"
	    "d.only-insecure NS ns.other.\n"
	    "d.has-secure NS ns.other.\n"
	    "d.has-secure DS 1 13 2 "
	    "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"
	    "x.y.deep A 192.0.2.2\n";
	rs_zone_t *z = tap_zone(example, text, NULL, 0, false);
	if (!ok(z != NULL, "opt-out zone loads"))
		return;
	rs_nsec3_params_t p = {.opt_out = true};
	rs_nsec3_chain_t chain;
	rs_diag_t d;
	static const char *names[] = {"example.",
				      "only-insecure.example.",
				      "d.only-insecure.example.",
				      "has-secure.example.",
				      "d.has-secure.example.",
				      "deep.example.",
				      "y.deep.example.",
				      "x.y.deep.example.",
				      "ns.example."};
	static const bool in_optout[] = {true, false, false, true, true, true, true, true, true};
	for (int pass = 0; pass < 2; pass++) {
		p.opt_out = pass == 0;
		if (rs_nsec3_build(z, &p, &chain, &d) != RS_EOK) {
			ok(0, "chain built");
			continue;
		}
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			uint8_t wire[RS_NAME_MAX], hash[20];
			rs_dname_from_str(names[i], wire);
			rs_nsec3_hash(wire, rs_dname_len(wire, RS_NAME_MAX), p.salt, 0, 0, hash);
			bool found = false;
			for (size_t k = 0; k < chain.count; k++)
				found |= memcmp(chain.entries[k].hash, hash, 20) == 0;
			bool want = pass == 0 ? in_optout[i] : true;
			ok(found == want, "%s: %s %s the chain",
			   p.opt_out ? "opt-out" : "no opt-out", names[i], want ? "in" : "not in");
		}
		is_int(chain.count, pass == 0 ? 7 : 9, "%s: chain length",
		       p.opt_out ? "opt-out" : "no opt-out");
		rs_nsec3_chain_clear(&chain);
	}
	rs_zone_free(z);
}

/* Enough names (over 1024) that hashing runs in parallel parts merged after: still one sorted
 * chain. */
static void large_chain(void)
{
	size_t cap = 4000 * 48, len = 0;
	char *text = malloc(cap);
	len += (size_t)snprintf(text + len, cap - len,
				"$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n");
	for (unsigned i = 0; i < 3000; i++)
		len += (size_t)snprintf(text + len, cap - len, "h%u.g%u A 192.0.2.3\n", i, i % 7);
	rs_zone_t *z = tap_zone(example, text, NULL, 0, false);
	free(text);
	if (!ok(z != NULL, "3000-name zone loads"))
		return;
	rs_nsec3_params_t p = {.iterations = 1, .salt_len = 2, .salt = {0xbe, 0xef}};
	rs_nsec3_chain_t chain;
	rs_diag_t d;
	if (!ok(rs_nsec3_build(z, &p, &chain, &d) == RS_EOK, "large chain built"))
		return;
	is_int(chain.count, 2 + 3000 + 7, "apex, ns, 3000 names and 7 empty non-terminals");
	bool sorted = true, hashes_right = true;
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(z, &n);
	for (size_t i = 0; i < chain.count; i++) {
		if (i > 0 && memcmp(chain.entries[i - 1].hash, chain.entries[i].hash, 20) >= 0)
			sorted = false;
		uint32_t node = chain.entries[i].node;
		if (node != RS_NO_NODE) {
			uint8_t h[20];
			const rs_name_t *nm = nodes[node].name;
			rs_nsec3_hash(rs_name_wire(nm), nm->wire_len, p.salt, p.salt_len,
				      p.iterations, h);
			hashes_right &= memcmp(h, chain.entries[i].hash, 20) == 0;
		}
	}
	ok(sorted, "large chain is in strict hash order");
	ok(hashes_right, "every entry's hash is its node's hash");
	rs_nsec3_chain_clear(&chain);
	rs_zone_free(z);
}

int main(void)
{
	rs_dname_from_str("example.", example);
	nsec_chain();
	many_types();
	rfc5155();
	optout_ents();
	large_chain();
	return done_testing();
}
