/* signer: RRSIG fields, TTL rules, key roles, cuts, signature reuse, thread determinism, SOA first.
 */
#include <stdlib.h>

#include "regsign/signer.h"
#include "tap/tap.h"
#include "tap/zone.h"

/* 2023-11-14T22:13:20Z to 30 days later; the signer never reads the clock. */
#define INCEPTION 1700000000
#define EXPIRATION (INCEPTION + 30 * 86400)
#define DAY 86400

static uint8_t origin[RS_NAME_MAX];

static rs_key_t *key_new(int alg, bool ksk)
{
	rs_key_t *key = NULL;
	rs_diag_t d;
	if (rs_key_generate(origin, alg, 0, ksk, &key, &d) != RS_EOK)
		printf("# keygen: %s\n", d.text);
	return key;
}

/* Signed zone text (caller frees), or NULL with the diagnostic printed. */
static char *sign_text(const rs_zone_t *z, rs_key_t *const *keys, size_t nkeys,
		       const rs_sign_opts_t *so, rs_sign_stats_t *stats)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	rs_diag_t d = {""};
	int ret =
	    z != NULL && f != NULL ? rs_sign_zone(z, keys, nkeys, so, f, stats, &d) : RS_ENOMEM;
	if (f != NULL)
		fclose(f);
	if (ret != RS_EOK) {
		printf("# sign: %s\n", d.text);
		free(out);
		return NULL;
	}
	return out;
}

/* Sign text with keys and read the result back (DNSSEC records kept). */
static rs_zone_t *signed_zone(const char *text, rs_key_t *const *keys, size_t nkeys,
			      const rs_sign_opts_t *so, rs_sign_stats_t *stats, char **out_text)
{
	rs_zone_t *z = tap_zone(origin, text, keys, nkeys, false);
	char *s = sign_text(z, keys, nkeys, so, stats);
	rs_zone_free(z);
	rs_zone_t *back = tap_zone(origin, s, NULL, 0, true);
	if (out_text != NULL)
		*out_text = s;
	else
		free(s);
	return back;
}

static const rs_node_t *node_of(const rs_zone_t *z, const char *name)
{
	uint8_t wire[RS_NAME_MAX], key[RS_KEY_MAX];
	if (z == NULL || rs_dname_from_str(name, wire) != RS_EOK)
		return NULL;
	return rs_zone_find(z, key, rs_dname_key(wire, key));
}

/* Number of records of type at name. */
static size_t count_rrs(const rs_zone_t *z, const char *name, uint16_t type)
{
	const rs_node_t *n = node_of(z, name);
	uint32_t b, e;
	return n != NULL && rs_node_rrset(z, n, type, &b, &e) ? e - b : 0;
}

/* RRSIGs at name over covered, by the key with tag (or any key if tag < 0); the first in *first. */
static size_t sigs(const rs_zone_t *z, const char *name, uint16_t covered, int tag,
		   const rs_rr_t **first)
{
	const rs_node_t *n = node_of(z, name);
	uint32_t b, e;
	size_t count = 0;
	if (first != NULL)
		*first = NULL;
	if (n == NULL || !rs_node_rrset(z, n, RS_TYPE_RRSIG, &b, &e))
		return 0;
	const rs_rr_t *rr = rs_zone_rrs(z);
	for (uint32_t i = b; i < e; i++) {
		if (rs_get16(rr[i].rdata) != covered ||
		    (tag >= 0 && rs_get16(rr[i].rdata + 16) != tag))
			continue;
		if (count++ == 0 && first != NULL)
			*first = &rr[i];
	}
	return count;
}

static uint32_t sig_expiration(const rs_zone_t *z, const char *name, uint16_t covered, int tag)
{
	const rs_rr_t *s;
	return sigs(z, name, covered, tag, &s) == 1 ? rs_get32(s->rdata + 8) : 0;
}

/* Does the RRSIG sig verify over the RRset of covered at name, with key? */
static bool sig_verifies(const rs_zone_t *z, const char *name, uint16_t covered, const rs_rr_t *sig,
			 const rs_key_t *key)
{
	const rs_node_t *n = node_of(z, name);
	uint32_t b, e;
	if (n == NULL || sig == NULL || !rs_node_rrset(z, n, covered, &b, &e))
		return false;
	size_t slen = rs_dname_len(sig->rdata + 18, sig->rdlen - 18);
	rs_buf_t data;
	rs_buf_init(&data, 1 << 20);
	bool good = rs_sign_data(&data, sig->rdata, 18 + slen, rs_name_wire(n->name), covered,
				 rs_get32(sig->rdata + 4), rs_zone_rrs(z) + b, e - b) == RS_EOK &&
		    rs_key_verify(key, data.data, data.len, sig->rdata + 18 + slen,
				  sig->rdlen - 18 - slen) == RS_EOK;
	rs_buf_clear(&data);
	return good;
}

static uint32_t ttl_of(const rs_zone_t *z, const char *name, uint16_t type)
{
	const rs_node_t *n = node_of(z, name);
	uint32_t b, e;
	return n != NULL && rs_node_rrset(z, n, type, &b, &e) ? rs_zone_rrs(z)[b].ttl : 0;
}

static const char zone_text[] =
    "$TTL 3600\n"
    "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "@ NS ns1\n"
    "@ MX 10 mail\n"
    "@ CDS 12345 15 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"
    "@ CDNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n"
    "ns1 A 192.0.2.1\n"
    "WWW 600 A 192.0.2.2\n"
    "mail A 192.0.2.3\n"
    "*.wild TXT \"wildcard\"\n"
    "sub NS ns.sub\n"
    "sub DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"
    "ns.sub A 192.0.2.6\n"
    "insecure NS ns.other.net.\n";

static rs_key_t *ksk, *zsk;

static void fields(void)
{
	rs_key_t *keys[] = {ksk, zsk};
	rs_sign_opts_t so = {.inception = INCEPTION, .expiration = EXPIRATION, .threads = 1};
	rs_sign_stats_t st;
	char *text;
	rs_zone_t *z = signed_zone(zone_text, keys, 2, &so, &st, &text);
	if (!ok(z != NULL, "zone signs and reads back"))
		return;
	const rs_rr_t *s;
	is_int(sigs(z, "www.example.", RS_TYPE_A, -1, &s), 1, "www A has one RRSIG");
	if (s != NULL) {
		const uint8_t *r = s->rdata;
		is_int(rs_get16(r), RS_TYPE_A, "type covered");
		is_int(r[2], RS_ALG_ED25519, "algorithm");
		is_int(r[3], 2, "labels of www.example.");
		is_int(rs_get32(r + 4), 600, "original TTL is the RRset's");
		is_int(rs_get32(r + 8), EXPIRATION, "expiration as given");
		is_int(rs_get32(r + 12), INCEPTION, "inception as given");
		is_int(rs_get16(r + 16), rs_key_tag(zsk), "key tag of the ZSK");
		ok(s->rdlen == 18 + 9 + 64 && memcmp(r + 18, origin, 9) == 0,
		   "signer name is the apex");
		is_int(s->ttl, 600, "RRSIG TTL is the covered RRset's TTL");
		ok(sig_verifies(z, "www.example.", RS_TYPE_A, s, zsk),
		   "signature verifies with the ZSK");
		ok(!sig_verifies(z, "mail.example.", RS_TYPE_A, s, zsk),
		   "and not over another RRset");
	}
	sigs(z, "*.wild.example.", RS_TYPE_TXT, -1, &s);
	ok(s != NULL && s->rdata[3] == 2, "wildcard RRSIG labels leave out the * (RFC 4034 3.1.3)");
	sigs(z, "example.", RS_TYPE_SOA, -1, &s);
	ok(s != NULL && s->rdata[3] == 1 && sig_verifies(z, "example.", RS_TYPE_SOA, s, zsk),
	   "apex SOA RRSIG");

	/* Which key signs what. */
	is_int(sigs(z, "example.", RS_TYPE_DNSKEY, rs_key_tag(ksk), &s), 1, "KSK signs DNSKEY");
	ok(sig_verifies(z, "example.", RS_TYPE_DNSKEY, s, ksk),
	   "DNSKEY signature verifies with the KSK");
	is_int(sigs(z, "example.", RS_TYPE_CDS, rs_key_tag(ksk), NULL), 1, "KSK signs CDS");
	is_int(sigs(z, "example.", RS_TYPE_CDNSKEY, rs_key_tag(ksk), NULL), 1, "KSK signs CDNSKEY");
	is_int(sigs(z, "example.", RS_TYPE_DNSKEY, rs_key_tag(zsk), NULL), 0,
	       "ZSK does not sign DNSKEY");
	is_int(sigs(z, "example.", RS_TYPE_CDS, rs_key_tag(zsk), NULL), 0, "ZSK does not sign CDS");
	is_int(sigs(z, "example.", RS_TYPE_CDNSKEY, rs_key_tag(zsk), NULL), 0,
	       "ZSK does not sign CDNSKEY");
	is_int(sigs(z, "example.", RS_TYPE_SOA, rs_key_tag(ksk), NULL), 0, "KSK does not sign SOA");
	is_int(sigs(z, "example.", RS_TYPE_NSEC, rs_key_tag(ksk), NULL), 0,
	       "KSK does not sign NSEC");
	is_int(sigs(z, "mail.example.", RS_TYPE_A, rs_key_tag(zsk), NULL), 1, "ZSK signs data");

	/* Cuts: the parent signs DS and NSEC there, neither NS nor glue. */
	is_int(sigs(z, "sub.example.", RS_TYPE_NS, -1, NULL), 0, "no RRSIG over the NS of a cut");
	is_int(sigs(z, "sub.example.", RS_TYPE_DS, rs_key_tag(zsk), &s), 1,
	       "DS is signed by the ZSK");
	ok(sig_verifies(z, "sub.example.", RS_TYPE_DS, s, zsk), "DS signature verifies");
	is_int(sigs(z, "sub.example.", RS_TYPE_NSEC, -1, NULL), 1, "NSEC at a cut is signed");
	is_int(sigs(z, "insecure.example.", RS_TYPE_NS, -1, NULL), 0,
	       "no RRSIG over an insecure cut's NS");
	is_int(sigs(z, "ns.sub.example.", RS_TYPE_A, -1, NULL), 0, "glue is not signed");
	is_int(count_rrs(z, "ns.sub.example.", RS_TYPE_NSEC), 0, "glue has no NSEC");
	is_int(count_rrs(z, "ns.sub.example.", RS_TYPE_A), 1, "glue is kept");

	/* NSEC: next names in written case, chain closing at the apex. */
	const rs_node_t *n = node_of(z, "ns1.example.");
	uint32_t b, e;
	ok(n != NULL && rs_node_rrset(z, n, RS_TYPE_NSEC, &b, &e) &&
	       memcmp(rs_zone_rrs(z)[b].rdata, "\3sub\7example", 12) == 0,
	   "NSEC of ns1 points at sub");
	n = node_of(z, "*.wild.example.");
	ok(n != NULL && rs_node_rrset(z, n, RS_TYPE_NSEC, &b, &e) &&
	       memcmp(rs_zone_rrs(z)[b].rdata, "\3WWW\7example", 12) == 0,
	   "NSEC next name keeps the written case (RFC 6840 5.1)");
	n = node_of(z, "www.example.");
	ok(n != NULL && rs_node_rrset(z, n, RS_TYPE_NSEC, &b, &e) &&
	       memcmp(rs_zone_rrs(z)[b].rdata, "\7example\0", 9) == 0,
	   "last NSEC points at the apex");

	/* Stats agree with what was written. */
	size_t nn, rrsigs = 0, nsecs = 0;
	const rs_node_t *nodes = rs_zone_nodes(z, &nn);
	for (size_t i = 0; i < nn; i++) {
		if (rs_node_rrset(z, &nodes[i], RS_TYPE_RRSIG, &b, &e))
			rrsigs += e - b;
		if (rs_node_rrset(z, &nodes[i], RS_TYPE_NSEC, &b, &e))
			nsecs += e - b;
	}
	is_int(st.signatures, rrsigs, "stats: signatures written");
	is_int(st.nsec, nsecs, "stats: NSEC records made");
	is_int(st.reused, 0, "stats: nothing reused without a previous zone");

	/* The file starts with the SOA and its RRSIG, then the rest of the apex in canonical order.
	 */
	ok(strncmp(text, "example.\t3600\tIN\tSOA\t", 21) == 0, "first record is the SOA");
	const char *l2 = strchr(text, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
	ok(strncmp(l2, "example.\t3600\tIN\tRRSIG\tSOA ", 27) == 0, "second is its RRSIG");
	ok(strncmp(l3, "example.\t3600\tIN\tNS\t", 20) == 0, "then the NS RRset");
	is_int(count_rrs(z, "example.", RS_TYPE_SOA), 1, "one SOA");
	free(text);
	rs_zone_free(z);
}

static void ttls(void)
{
	rs_key_t *keys[] = {ksk, zsk};
	rs_sign_opts_t so = {.inception = INCEPTION, .expiration = EXPIRATION, .threads = 1};
	rs_zone_t *z = signed_zone(zone_text, keys, 2, &so, NULL, NULL);
	const rs_rr_t *s;
	is_int(ttl_of(z, "example.", RS_TYPE_DNSKEY), 3600, "DNSKEY TTL defaults to the SOA TTL");
	is_int(ttl_of(z, "example.", RS_TYPE_NSEC), 300,
	       "NSEC TTL = SOA minimum when lower (RFC 9077)");
	sigs(z, "example.", RS_TYPE_NSEC, -1, &s);
	ok(s != NULL && s->ttl == 300 && rs_get32(s->rdata + 4) == 300,
	   "RRSIG over NSEC: TTL and original TTL 300");
	rs_zone_free(z);

	so.dnskey_ttl = 7200;
	so.nsec_ttl_set = true;
	so.nsec_ttl = 42;
	z = signed_zone(zone_text, keys, 2, &so, NULL, NULL);
	is_int(ttl_of(z, "example.", RS_TYPE_DNSKEY), 7200, "DNSKEY TTL option");
	sigs(z, "example.", RS_TYPE_DNSKEY, -1, &s);
	ok(s != NULL && rs_get32(s->rdata + 4) == 7200 &&
	       sig_verifies(z, "example.", RS_TYPE_DNSKEY, s, ksk),
	   "DNSKEY RRSIG signs the TTL option");
	is_int(ttl_of(z, "mail.example.", RS_TYPE_NSEC), 42, "NSEC TTL option");
	rs_zone_free(z);

	/* SOA TTL below the minimum: the SOA TTL wins. */
	static const char low[] =
	    "$TTL 3600\n@ 120 SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n";
	so = (rs_sign_opts_t){.inception = INCEPTION, .expiration = EXPIRATION, .threads = 1};
	z = signed_zone(low, keys, 2, &so, NULL, NULL);
	is_int(ttl_of(z, "ns1.example.", RS_TYPE_NSEC), 120,
	       "NSEC TTL = SOA TTL when lower (RFC 9077)");
	is_int(ttl_of(z, "example.", RS_TYPE_DNSKEY), 120, "DNSKEY TTL follows the SOA TTL");
	rs_zone_free(z);

	so.nsec3 = true;
	z = signed_zone(zone_text, keys, 2, &so, NULL, NULL);
	size_t nn, n3 = 0, right = 0;
	const rs_node_t *nodes = rs_zone_nodes(z, &nn);
	for (size_t i = 0; z != NULL && i < nn; i++) {
		uint32_t b, e;
		if (rs_node_rrset(z, &nodes[i], RS_TYPE_NSEC3, &b, &e)) {
			n3++;
			right += rs_zone_rrs(z)[b].ttl == 300;
		}
	}
	ok(n3 > 0 && right == n3, "NSEC3 TTL = SOA minimum (%zu of %zu)", right, n3);
	is_int(ttl_of(z, "example.", RS_TYPE_NSEC3PARAM), 0, "NSEC3PARAM TTL 0, as BIND writes it");
	is_int(count_rrs(z, "example.", RS_TYPE_NSEC), 0, "no NSEC in an NSEC3 zone");
	is_int(sigs(z, "sub.example.", RS_TYPE_NS, -1, NULL), 0, "NSEC3 zone: cut NS not signed");
	rs_zone_free(z);
}

static void roles(void)
{
	rs_key_t *eksk = key_new(RS_ALG_ECDSAP256SHA256, true),
		 *ezsk = key_new(RS_ALG_ECDSAP256SHA256, false);
	if (!ok(eksk != NULL && ezsk != NULL, "ECDSA keys generated"))
		return;
	rs_key_role_t r[3];
	rs_key_t *pair[] = {ksk, zsk};
	rs_sign_roles(pair, 2, r);
	ok(r[0].key == ksk && r[0].signs_keys && !r[0].signs_data, "roles: KSK signs keys only");
	ok(r[1].key == zsk && !r[1].signs_keys && r[1].signs_data, "roles: ZSK signs data only");
	rs_sign_roles(&ksk, 1, r);
	ok(r[0].signs_keys && r[0].signs_data, "roles: a lone KSK signs everything");
	rs_sign_roles(&zsk, 1, r);
	ok(r[0].signs_keys && r[0].signs_data, "roles: a lone ZSK signs everything");
	rs_key_t *mixed[] = {eksk, ezsk, ksk};
	rs_sign_roles(mixed, 3, r);
	ok(r[0].signs_keys && !r[0].signs_data && !r[1].signs_keys && r[1].signs_data,
	   "roles: per algorithm, ECDSA KSK and ZSK split");
	ok(r[2].signs_keys && r[2].signs_data, "roles: Ed25519 without a ZSK signs everything");

	rs_sign_opts_t so = {.inception = INCEPTION, .expiration = EXPIRATION, .threads = 1};
	rs_zone_t *z = signed_zone(zone_text, &ksk, 1, &so, NULL, NULL);
	ok(sigs(z, "example.", RS_TYPE_SOA, rs_key_tag(ksk), NULL) == 1 &&
	       sigs(z, "example.", RS_TYPE_DNSKEY, rs_key_tag(ksk), NULL) == 1 &&
	       sigs(z, "mail.example.", RS_TYPE_NSEC, rs_key_tag(ksk), NULL) == 1,
	   "combined key signs SOA, DNSKEY and NSEC");
	rs_zone_free(z);

	z = signed_zone(zone_text, mixed, 3, &so, NULL, NULL);
	is_int(sigs(z, "example.", RS_TYPE_SOA, -1, NULL), 2, "two algorithms: SOA signed twice");
	is_int(sigs(z, "example.", RS_TYPE_SOA, rs_key_tag(ksk), NULL), 1,
	       "Ed25519 KSK signs SOA (no ZSK)");
	is_int(sigs(z, "example.", RS_TYPE_SOA, rs_key_tag(ezsk), NULL), 1, "ECDSA ZSK signs SOA");
	is_int(sigs(z, "example.", RS_TYPE_SOA, rs_key_tag(eksk), NULL), 0,
	       "ECDSA KSK does not sign SOA");
	is_int(sigs(z, "example.", RS_TYPE_DNSKEY, -1, NULL), 2, "DNSKEY signed by both KSKs");
	const rs_rr_t *s;
	sigs(z, "www.example.", RS_TYPE_A, rs_key_tag(ezsk), &s);
	ok(s != NULL && s->rdata[2] == RS_ALG_ECDSAP256SHA256 &&
	       sig_verifies(z, "www.example.", RS_TYPE_A, s, ezsk),
	   "ECDSA signature verifies");
	rs_zone_free(z);

	/* Explicit roles override the flags: here the ZSK also signs keys and the KSK nothing. */
	rs_key_role_t explicit[] = {{ksk, false, false}, {zsk, true, true}};
	so.roles = explicit;
	z = signed_zone(zone_text, pair, 2, &so, NULL, NULL);
	is_int(sigs(z, "example.", RS_TYPE_DNSKEY, rs_key_tag(zsk), NULL), 1,
	       "explicit roles: ZSK signs DNSKEY");
	is_int(sigs(z, "example.", RS_TYPE_CDS, rs_key_tag(zsk), NULL), 1,
	       "explicit roles: ZSK signs CDS");
	is_int(sigs(z, "example.", RS_TYPE_DNSKEY, rs_key_tag(ksk), NULL), 0,
	       "explicit roles: KSK signs nothing");
	is_int(sigs(z, "example.", RS_TYPE_SOA, -1, NULL), 1, "explicit roles: SOA signed once");
	rs_zone_free(z);
	rs_key_free(eksk);
	rs_key_free(ezsk);
}

/* Incremental signing: signatures of opts.previous are written again only when still right. */
static void reuse(void)
{
	rs_key_t *keys[] = {ksk, zsk};
	rs_sign_opts_t so = {.inception = INCEPTION, .expiration = EXPIRATION, .threads = 1};
	rs_sign_stats_t st1, st;
	rs_zone_t *prev = signed_zone(zone_text, keys, 2, &so, &st1, NULL);
	if (!ok(prev != NULL, "first signing"))
		return;
	/* A day later, a new validity; old signatures count if they last past reuse_until. */
	rs_sign_opts_t again = {.inception = INCEPTION + DAY,
				.expiration = EXPIRATION + DAY,
				.threads = 1,
				.previous = prev,
				.reuse_until = EXPIRATION - 10 * DAY,
				.reuse_latest = EXPIRATION + DAY};
	uint16_t zt = rs_key_tag(zsk), kt = rs_key_tag(ksk);
	rs_zone_t *z = signed_zone(zone_text, keys, 2, &again, &st, NULL);
	is_int(st.reused, st1.signatures, "unchanged zone: every signature reused");
	is_int(st.signatures, st1.signatures, "unchanged zone: as many signatures");
	is_int(sig_expiration(z, "www.example.", RS_TYPE_A, zt), EXPIRATION,
	       "reused RRSIG keeps its expiration");
	const rs_rr_t *s;
	sigs(z, "www.example.", RS_TYPE_A, zt, &s);
	ok(sig_verifies(z, "www.example.", RS_TYPE_A, s, zsk), "reused RRSIG still verifies");
	rs_zone_free(z);

	/* A changed RRset, a changed TTL and a new name: those (and the NSECs around) are
	 * re-signed. */
	char changed[sizeof(zone_text) + 64];
	snprintf(changed, sizeof(changed), "%s", zone_text);
	memcpy(strstr(changed, "192.0.2.3"), "192.0.2.9", 9); /* mail A */
	memcpy(strstr(changed, "WWW 600"), "WWW 900", 7);     /* www A TTL */
	strcat(changed, "new A 192.0.2.77\n");
	z = signed_zone(changed, keys, 2, &again, &st, NULL);
	is_int(sig_expiration(z, "mail.example.", RS_TYPE_A, zt), EXPIRATION + DAY,
	       "changed RDATA: new RRSIG");
	sigs(z, "mail.example.", RS_TYPE_A, zt, &s);
	ok(sig_verifies(z, "mail.example.", RS_TYPE_A, s, zsk),
	   "new RRSIG verifies over the new RDATA");
	is_int(sig_expiration(z, "www.example.", RS_TYPE_A, zt), EXPIRATION + DAY,
	       "changed TTL: new RRSIG");
	is_int(sig_expiration(z, "new.example.", RS_TYPE_A, zt), EXPIRATION + DAY,
	       "new name: new RRSIG");
	is_int(sig_expiration(z, "mail.example.", RS_TYPE_NSEC, zt), EXPIRATION + DAY,
	       "NSEC whose next name changed: new RRSIG");
	is_int(sig_expiration(z, "ns1.example.", RS_TYPE_A, zt), EXPIRATION,
	       "untouched RRset: reused");
	is_int(sig_expiration(z, "sub.example.", RS_TYPE_NSEC, zt), EXPIRATION,
	       "untouched NSEC: reused");
	is_int(st.signatures - st.reused, 5,
	       "five signatures made: mail A, mail NSEC, www A, new A, new NSEC");
	rs_zone_free(z);

	/* The ZSK no longer signs (explicit roles): its old signatures are not reused; the KSK's
	 * are. */
	rs_key_role_t ksk_only[] = {{ksk, true, true}, {zsk, false, false}};
	rs_sign_opts_t roles = again;
	roles.roles = ksk_only;
	z = signed_zone(zone_text, keys, 2, &roles, &st, NULL);
	is_int(sigs(z, "www.example.", RS_TYPE_A, zt, NULL), 0,
	       "ZSK no longer signs: none of its RRSIGs kept");
	is_int(sig_expiration(z, "www.example.", RS_TYPE_A, kt), EXPIRATION + DAY,
	       "the KSK signs data anew");
	is_int(sig_expiration(z, "example.", RS_TYPE_DNSKEY, kt), EXPIRATION,
	       "KSK's DNSKEY RRSIG reused");
	is_int(st.reused, 3, "reused: the KSK's DNSKEY, CDS and CDNSKEY RRSIGs only");
	rs_zone_free(z);

	/* Bounds: reused only if expiring after reuse_until and no later than reuse_latest. */
	rs_sign_opts_t b = again;
	b.reuse_until = EXPIRATION;
	z = signed_zone(zone_text, keys, 2, &b, &st, NULL);
	ok(st.reused == 0 && sig_expiration(z, "ns1.example.", RS_TYPE_A, zt) == EXPIRATION + DAY,
	   "expiring at reuse_until: re-made");
	rs_zone_free(z);
	b.reuse_until = EXPIRATION - 1;
	z = signed_zone(zone_text, keys, 2, &b, &st, NULL);
	ok(st.reused == st.signatures &&
	       sig_expiration(z, "ns1.example.", RS_TYPE_A, zt) == EXPIRATION,
	   "expiring a second after reuse_until: reused");
	rs_zone_free(z);
	b = again;
	b.reuse_latest = EXPIRATION - 1;
	z = signed_zone(zone_text, keys, 2, &b, &st, NULL);
	ok(st.reused == 0 && sig_expiration(z, "ns1.example.", RS_TYPE_A, zt) == EXPIRATION + DAY,
	   "expiring after reuse_latest: re-made");
	rs_zone_free(z);
	b.reuse_latest = EXPIRATION;
	z = signed_zone(zone_text, keys, 2, &b, &st, NULL);
	is_int(st.reused, st.signatures, "expiring at reuse_latest: reused");
	rs_zone_free(z);

	/* A DNSKEY TTL change re-signs the DNSKEY RRset only. */
	b = again;
	b.dnskey_ttl = 7200;
	z = signed_zone(zone_text, keys, 2, &b, &st, NULL);
	ok(st.signatures - st.reused == 1 &&
	       sig_expiration(z, "example.", RS_TYPE_DNSKEY, kt) == EXPIRATION + DAY,
	   "DNSKEY TTL change: only the DNSKEY RRSIG re-made");
	rs_zone_free(z);

	/* NSEC3: unchanged NSEC3 records keep their signatures too. */
	rs_sign_opts_t n3 = so;
	n3.nsec3 = true;
	rs_zone_t *prev3 = signed_zone(zone_text, keys, 2, &n3, &st1, NULL);
	rs_sign_opts_t again3 = again;
	again3.nsec3 = true;
	again3.previous = prev3;
	z = signed_zone(zone_text, keys, 2, &again3, &st, NULL);
	ok(st1.signatures > 0 && st.reused == st1.signatures,
	   "NSEC3 zone: every signature reused (%llu of %llu)", (unsigned long long)st.reused,
	   (unsigned long long)st1.signatures);
	rs_zone_free(z);
	rs_zone_free(prev3);
	rs_zone_free(prev);
}

/*
 * A new key with the tag and algorithm of an old one (key tags collide) must
 * not take over the old key's RRSIGs. The previous zone here lists, in place
 * of the ZSK, another key with the same tag: its public key with one octet
 * raised and another lowered, which leaves the checksum (RFC 4034 B) as it was.
 */
static void reuse_tag_collision(void)
{
	rs_key_t *keys[] = {ksk, zsk};
	rs_sign_opts_t so = {.inception = INCEPTION, .expiration = EXPIRATION, .threads = 1};
	char *text;
	rs_zone_t *prev = signed_zone(zone_text, keys, 2, &so, NULL, &text);
	size_t len;
	const uint8_t *dk = rs_key_dnskey(zsk, &len);
	uint8_t other[128];
	memcpy(other, dk, len);
	size_t up = 4, down = 6; /* even offsets: both weigh 256 in the checksum */
	while (up < len && other[up] == 255)
		up += 2;
	while (down < len && (other[down] == 0 || down == up))
		down += 2;
	if (!ok(prev != NULL && up < len && down < len, "previous zone and a colliding key"))
		return;
	other[up]++;
	other[down]--;
	is_int(rs_keytag(other, len), rs_key_tag(zsk), "the other key has the ZSK's tag");
	char b64[2][200];
	b64[0][rs_base64_encode(dk + 4, len - 4, b64[0])] = '\0';
	b64[1][rs_base64_encode(other + 4, len - 4, b64[1])] = '\0';
	char *at = strstr(text, b64[0]);
	if (!ok(at != NULL, "ZSK DNSKEY found in the previous zone"))
		return;
	memcpy(at, b64[1], strlen(b64[1]));
	rs_zone_t *swapped = tap_zone(origin, text, NULL, 0, true);
	free(text);

	rs_sign_opts_t again = {.inception = INCEPTION + DAY,
				.expiration = EXPIRATION + DAY,
				.threads = 1,
				.previous = swapped,
				.reuse_until = EXPIRATION - 10 * DAY,
				.reuse_latest = EXPIRATION + DAY};
	rs_sign_stats_t st;
	uint16_t zt = rs_key_tag(zsk), kt = rs_key_tag(ksk);
	rs_zone_t *z = signed_zone(zone_text, keys, 2, &again, &st, NULL);
	is_int(sig_expiration(z, "www.example.", RS_TYPE_A, zt), EXPIRATION + DAY,
	       "tag of another key in the previous zone: the ZSK signs anew");
	is_int(sig_expiration(z, "example.", RS_TYPE_CDS, kt), EXPIRATION,
	       "the KSK's RRSIGs are reused");
	is_int(st.reused, 2, "reused: CDS and CDNSKEY by the KSK (the DNSKEY RRset changed)");
	rs_zone_free(z);
	/* The same previous zone with the ZSK's own DNSKEY: reused (the check above can fail). */
	again.previous = prev;
	z = signed_zone(zone_text, keys, 2, &again, &st, NULL);
	is_int(sig_expiration(z, "www.example.", RS_TYPE_A, zt), EXPIRATION,
	       "own DNSKEY: ZSK RRSIG reused");
	rs_zone_free(z);
	rs_zone_free(swapped);
	rs_zone_free(prev);
}

/* Output is the same bytes whatever the thread count (Ed25519 signatures are deterministic). */
static void threads(void)
{
	size_t cap = 3000 * 64, len = 0;
	char *text = malloc(cap);
	len += (size_t)snprintf(text + len, cap - len,
				"$TTL 3600\n@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\n"
				"ns1 A 192.0.2.1\n");
	for (unsigned i = 0; i < 2000; i++) /* four chunks of 512 names */
		len += (size_t)snprintf(text + len, cap - len,
					"d%u NS ns.d%u\nns.d%u A 192.0.2.%u\n", i, i, i, i % 250);
	for (unsigned i = 0; i < 2000; i += 3)
		len += (size_t)snprintf(
		    text + len, cap - len,
		    "d%u DS %u 13 2 "
		    "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCD%02X\n",
		    i, i, i % 256);
	rs_key_t *keys[] = {ksk, zsk};
	rs_zone_t *z = tap_zone(origin, text, keys, 2, false);
	free(text);
	for (int nsec3 = 0; nsec3 < 2; nsec3++) {
		rs_sign_opts_t so = {.inception = INCEPTION,
				     .expiration = EXPIRATION,
				     .threads = 1,
				     .nsec3 = nsec3,
				     .nsec3_params = {.opt_out = true}};
		rs_sign_stats_t st1, st;
		char *one = sign_text(z, keys, 2, &so, &st1);
		bool same = one != NULL;
		for (unsigned t = 2; same && t <= 8; t *= 2) {
			so.threads = t;
			char *many = sign_text(z, keys, 2, &so, &st);
			same = many != NULL && strcmp(one, many) == 0 &&
			       st.signatures == st1.signatures && st.records == st1.records &&
			       st.names == st1.names;
			free(many);
		}
		ok(same, "%s: identical output and stats with 1, 2, 4 and 8 threads",
		   nsec3 ? "NSEC3" : "NSEC");
		ok(one != NULL && strncmp(one, "example.\t3600\tIN\tSOA\t", 21) == 0,
		   "%s: large zone starts with the SOA", nsec3 ? "NSEC3" : "NSEC");
		free(one);
	}
	rs_zone_free(z);
}

/* A name with more types than a bitmap can hold here is refused with an error, not a crash. */
static void too_many_types(void)
{
	size_t cap = 64 * 1024, len = 0;
	char *text = malloc(cap);
	len += (size_t)snprintf(text + len, cap - len,
				"$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n");
	for (unsigned t = 1000; t < 1600; t++)
		len += (size_t)snprintf(text + len, cap - len, "x TYPE%u \\# 1 00\n", t);
	rs_key_t *keys[] = {ksk, zsk};
	rs_zone_t *z = tap_zone(origin, text, keys, 2, false);
	free(text);
	for (int nsec3 = 0; z != NULL && nsec3 < 2; nsec3++) {
		rs_sign_opts_t so = {
		    .inception = INCEPTION, .expiration = EXPIRATION, .threads = 2, .nsec3 = nsec3};
		FILE *f = fopen("/dev/null", "w");
		rs_diag_t d = {""};
		int ret = rs_sign_zone(z, keys, 2, &so, f, NULL, &d);
		fclose(f);
		is_int(ret, RS_ELIMIT, "%s: 600 types at one name refused",
		       nsec3 ? "NSEC3" : "NSEC");
		ok(strstr(d.text, "x.example.") != NULL, "%s: the diagnostic names it",
		   nsec3 ? "NSEC3" : "NSEC");
	}
	rs_zone_free(z);
}

int main(void)
{
	rs_dname_from_str("example.", origin);
	ksk = key_new(RS_ALG_ED25519, true);
	zsk = key_new(RS_ALG_ED25519, false);
	if (!ok(ksk != NULL && zsk != NULL, "Ed25519 KSK and ZSK generated"))
		return done_testing();
	fields();
	ttls();
	roles();
	reuse();
	reuse_tag_collision();
	threads();
	too_many_types();
	rs_key_free(ksk);
	rs_key_free(zsk);
	return done_testing();
}
