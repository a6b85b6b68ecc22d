/* verify: a zone from the signer passes; each defect put into it is reported, with owner and type.
 */
#include <stdlib.h>

#include "regsign/signer.h"
#include "regsign/verify.h"
#include "tap/tap.h"
#include "tap/zone.h"

#define INCEPTION 1700000000
#define EXPIRATION (INCEPTION + 30 * 86400)
#define NOW (INCEPTION + 86400)

static uint8_t origin[RS_NAME_MAX];

/* Sign text: the DNSKEYs of the first npublished keys go into the zone, all nkeys sign. */
static char *sign_text(const char *text, rs_key_t *const *keys, size_t npublished, size_t nkeys,
		       bool nsec3, const rs_key_role_t *roles)
{
	rs_zone_t *z = tap_zone(origin, text, keys, npublished, false);
	rs_sign_opts_t so = {.inception = INCEPTION,
			     .expiration = EXPIRATION,
			     .threads = 2,
			     .nsec3 = nsec3,
			     .roles = roles};
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	rs_diag_t d = {""};
	int ret =
	    z != NULL && f != NULL ? rs_sign_zone(z, keys, nkeys, &so, f, NULL, &d) : RS_ENOMEM;
	if (f != NULL)
		fclose(f);
	rs_zone_free(z);
	if (ret != RS_EOK) {
		printf("# sign: %s\n", d.text);
		free(out);
		return NULL;
	}
	return out;
}

static char report_text[1 << 16];

/* Problems found in the signed text at now; the report lands in report_text. -1 if it cannot run.
 */
static const uint8_t *const *only_names; /* verify only these (NULL: the whole zone) */
static size_t only_count;

static long verify(const char *text, int64_t now, bool foreign, rs_verify_result_t *res)
{
	rs_zone_t *z = tap_zone(origin, text, NULL, 0, true);
	rs_verify_opts_t vo = {.now = now, .threads = 2, .foreign_signatures = foreign,
			       .names = only_names, .nnames = only_count};
	rs_verify_result_t r = {0};
	rs_buf_t report;
	rs_diag_t d;
	rs_buf_init(&report, sizeof(report_text) - 1);
	int ret = z != NULL ? rs_verify_zone(z, &vo, &report, &r, &d) : RS_EINVAL;
	size_t n = report.len < sizeof(report_text) - 1 ? report.len : sizeof(report_text) - 1;
	memcpy(report_text, report.data ? (const char *)report.data : "", n);
	report_text[n] = '\0';
	rs_buf_clear(&report);
	rs_zone_free(z);
	if (res != NULL)
		*res = r;
	return ret == RS_EOK ? (long)r.problems : -1;
}

/* The report has a line containing want. */
static bool reported(const char *want)
{
	bool found = strstr(report_text, want) != NULL;
	if (!found)
		printf("# want '%s' in:\n# %.*s\n", want, 600, report_text);
	return found;
}

/* Copy of a, b and c joined (caller frees). */
static char *join(const char *a, size_t alen, const char *b, size_t blen, const char *c)
{
	size_t clen = strlen(c);
	char *out = malloc(alen + blen + clen + 1);
	memcpy(out, a, alen);
	memcpy(out + alen, b, blen);
	memcpy(out + alen + blen, c, clen + 1);
	return out;
}

/* The first line of text starting with prefix, or NULL. */
static const char *find_line(const char *text, const char *prefix)
{
	size_t plen = strlen(prefix);
	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, prefix, plen) == 0)
			return p;
		p = strchr(p, '\n');
		p = p != NULL ? p + 1 : NULL;
	}
	printf("# no line starts with '%s'\n", prefix);
	return NULL;
}

/* text without its first line starting with prefix (caller frees); NULL if there is none. */
static char *drop_line(const char *text, const char *prefix)
{
	const char *p = text != NULL ? find_line(text, prefix) : NULL;
	if (p == NULL)
		return NULL;
	const char *end = strchr(p, '\n');
	return join(text, (size_t)(p - text), "", 0, end != NULL ? end + 1 : "");
}

/* text with the first old replaced by new (caller frees); NULL if old is absent. */
static char *replace(const char *text, const char *old, const char *new)
{
	const char *at = text != NULL ? strstr(text, old) : NULL;
	if (at == NULL) {
		printf("# '%s' not found\n", old);
		return NULL;
	}
	return join(text, (size_t)(at - text), new, strlen(new), at + strlen(old));
}

/* text plus a copy of its first line starting with prefix, with owner as the first field. */
static char *copy_line(const char *text, const char *prefix, const char *owner)
{
	const char *p = text != NULL ? find_line(text, prefix) : NULL;
	if (p == NULL)
		return NULL;
	const char *tab = strchr(p, '\t'), *end = strchr(p, '\n');
	char *head = join(text, strlen(text), owner, strlen(owner), "");
	char *out = join(head, strlen(head), tab, (size_t)(end - tab) + 1, "");
	free(head);
	return out;
}

static const char zone_text[] =
    "$TTL 3600\n"
    "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "@ NS ns1\n"
    "@ MX 10 mail\n"
    "ns1 A 192.0.2.1\n"
    "www A 192.0.2.2\n"
    "mail A 192.0.2.3\n"
    "a.b.ent A 192.0.2.4\n"
    "sub NS ns.sub\n"
    "sub DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"
    "ns.sub A 192.0.2.6\n"
    "insecure NS ns.other.net.\n"
    "*.wild TXT \"wildcard\"\n";

/* Check that a changed copy of good is reported with want; frees the copy. */
static void defect(char *bad, const char *want, const char *what)
{
	long n = bad != NULL ? verify(bad, NOW, false, NULL) : -1;
	ok(n > 0 && reported(want), "%s: reported (%ld problems)", what, n);
	free(bad);
}

static rs_key_t *key_new(int alg, bool ksk)
{
	rs_key_t *key = NULL;
	rs_diag_t d;
	if (rs_key_generate(origin, alg, 0, ksk, &key, &d) != RS_EOK)
		printf("# keygen: %s\n", d.text);
	return key;
}

int main(void)
{
	rs_dname_from_str("example.", origin);
	rs_key_t *ksk = key_new(RS_ALG_ED25519, true), *zsk = key_new(RS_ALG_ED25519, false);
	rs_key_t *other = key_new(RS_ALG_ED25519, false),
		 *ecdsa = key_new(RS_ALG_ECDSAP256SHA256, false);
	if (!ok(ksk && zsk && other && ecdsa, "keys generated"))
		return done_testing();
	rs_key_t *keys[] = {ksk, zsk, other, ecdsa};
	char tag[16];

	/* The signer's own output is secure. */
	char *good = sign_text(zone_text, keys, 2, 2, false, NULL);
	rs_verify_result_t res;
	is_int(verify(good, NOW, false, &res), 0, "signed zone: no problems");
	ok(res.rrsets >= 12 && res.signatures >= res.rrsets && !res.nsec3,
	   "signed zone: %llu RRsets and %llu signatures checked", (unsigned long long)res.rrsets,
	   (unsigned long long)res.signatures);
	is_int(verify(good, INCEPTION, false, NULL), 0, "valid at its inception");
	is_int(verify(good, EXPIRATION, false, NULL), 0, "valid at its expiration");

	/* Time. */
	ok(verify(good, EXPIRATION + 1, false, NULL) > 0 &&
	       reported("www.example. A: RRSIG by key") && reported("expired at 20231214221320"),
	   "a second past expiration: expired");
	ok(verify(good, INCEPTION - 1, false, NULL) > 0 &&
	       reported("is not valid before 20231114221320"),
	   "a second before inception: not yet valid");

	/* Only the names a change set touched: a defect elsewhere is not looked at, one there is. */
	{
		uint8_t www[RS_NAME_MAX], mail[RS_NAME_MAX], gone[RS_NAME_MAX];
		rs_dname_from_str("www.example.", www);
		rs_dname_from_str("mail.example.", mail);
		rs_dname_from_str("gone.example.", gone);
		const uint8_t *const names[] = {mail, gone, mail};
		char *bad = replace(good, "192.0.2.2\n", "192.0.2.22\n");
		only_names = names;
		only_count = 3;
		is_int(verify(bad, NOW, false, &res), 0, "only other names: a bad signature at www is not checked");
		ok(res.rrsets >= 1 && res.rrsets <= 3, "only other names: %llu RRsets checked (mail's)",
		   (unsigned long long)res.rrsets);
		const uint8_t *const names2[] = {gone, www};
		only_names = names2;
		only_count = 2;
		ok(verify(bad, NOW, false, NULL) > 0 && reported("www.example. A: RRSIG by key"),
		   "only www: its bad signature is found");
		char *no_nsec = drop_line(good, "www.example.\t300\tIN\tNSEC\t");
		ok(no_nsec != NULL && verify(no_nsec, NOW, false, NULL) > 0 && reported("www.example. NSEC: missing NSEC"),
		   "only www: its missing NSEC is found");
		only_names = NULL;
		only_count = 0;
		free(no_nsec);
		free(bad);
	}

	/* Missing, wrong or misplaced signatures. */
	defect(drop_line(good, "ns1.example.\t3600\tIN\tRRSIG\tA "), "ns1.example. A: no RRSIG",
	       "dropped RRSIG");
	defect(replace(good, "192.0.2.2\n", "192.0.2.22\n"), "www.example. A: RRSIG by key",
	       "changed A record");
	ok(strstr(report_text, "does not verify") != NULL,
	   "changed A record: the signature does not verify");
	defect(copy_line(good, "example.\t300\tIN\tNSEC\t", "fresh.example."),
	       "fresh.example. NSEC: no RRSIG", "unsigned NSEC added");
	defect(copy_line(good, "ns1.example.\t3600\tIN\tRRSIG\tA ", "ns.sub.example."),
	       "ns.sub.example. RRSIG: signature at a name below a zone cut",
	       "signature over glue");
	defect(copy_line(good, "example.\t3600\tIN\tRRSIG\tNS ", "sub.example."),
	       "sub.example. NS: RRSIG over an RRset that must not be signed",
	       "signature over a cut's NS");
	defect(copy_line(good, "example.\t3600\tIN\tRRSIG\tMX ", "www.example."),
	       "www.example. MX: RRSIG covers an RRset that is not there",
	       "signature over an absent RRset");

	/* RRSIG labels: a wildcard's leave out the *, others count every label. */
	defect(replace(good, "*.wild.example.\t3600\tIN\tRRSIG\tTXT 15 2 ",
		       "*.wild.example.\t3600\tIN\tRRSIG\tTXT 15 3 "),
	       "*.wild.example. TXT: RRSIG by key", "wildcard RRSIG counting the *");
	ok(strstr(report_text, "has 3 labels, not 2") != NULL,
	   "wildcard RRSIG counting the *: labels named");
	defect(replace(good, "www.example.\t3600\tIN\tRRSIG\tA 15 2 ",
		       "www.example.\t3600\tIN\tRRSIG\tA 15 1 "),
	       "www.example. A: RRSIG by key", "RRSIG with fewer labels than a plain owner");
	ok(strstr(report_text, "has 1 labels, not 2") != NULL, "fewer labels: labels named");

	/* A signature by a key that is not in the DNSKEY RRset (published: KSK and ZSK; signing:
	 * also other). */
	rs_key_role_t three[] = {{ksk, true, false}, {zsk, false, true}, {other, false, true}};
	char *foreign = sign_text(zone_text, keys, 2, 3, false, three);
	snprintf(tag, sizeof(tag), "%u", rs_key_tag(other));
	char want[96];
	snprintf(want, sizeof(want), "RRSIG by key %s (algorithm 15) has no matching DNSKEY", tag);
	ok(verify(foreign, NOW, false, NULL) > 0 && reported(want),
	   "signature by a key not in the DNSKEY RRset");
	is_int(verify(foreign, NOW, true, NULL), 0,
	       "accepted with foreign_signatures (algorithm rollover)");
	free(foreign);

	/* Key rules: a SEP key must sign DNSKEY; every algorithm of the DNSKEY RRset must sign
	 * everything. */
	rs_key_role_t zsk_keys[] = {{ksk, false, false}, {zsk, true, true}};
	char *nosep = sign_text(zone_text, keys, 2, 2, false, zsk_keys);
	ok(verify(nosep, NOW, false, NULL) > 0 &&
	       reported("example. DNSKEY: DNSKEY RRset is not signed by a key with the SEP flag"),
	   "DNSKEY signed by a ZSK only");
	free(nosep);
	rs_key_t *four[] = {ksk, zsk, ecdsa};
	rs_key_role_t idle[] = {{ksk, true, false}, {zsk, false, true}, {ecdsa, false, false}};
	char *noalg = sign_text(zone_text, four, 3, 3, false, idle);
	ok(verify(noalg, NOW, false, NULL) > 0 &&
	       reported(
		   "www.example. A: no valid RRSIG of algorithm 13, which the DNSKEY RRset has"),
	   "an algorithm of the DNSKEY RRset that signs nothing");
	free(noalg);

	/* NSEC chain and bitmaps. */
	defect(drop_line(good, "mail.example.\t300\tIN\tNSEC\t"),
	       "mail.example. NSEC: missing NSEC", "dropped NSEC");
	defect(replace(good, "mail.example.\t300\tIN\tNSEC\tns1.example.",
		       "mail.example.\t300\tIN\tNSEC\tzzz.example."),
	       "mail.example. NSEC: next name should be ns1.example.", "NSEC chain skips ahead");
	defect(replace(good, "mail.example.\t300\tIN\tNSEC\tns1.example. A RRSIG NSEC",
		       "mail.example.\t300\tIN\tNSEC\tns1.example. A MX RRSIG NSEC"),
	       "mail.example. NSEC: type bitmap differs from the types present (A RRSIG NSEC)",
	       "NSEC bitmap lies");
	defect(replace(good, " NS DS RRSIG NSEC\n", " NS RRSIG NSEC\n"), /* only sub has DS */
	       "sub.example. NSEC: type bitmap differs from the types present (NS DS RRSIG NSEC)",
	       "NSEC bitmap at a cut hides the DS");
	defect(copy_line(good, "mail.example.\t300\tIN\tNSEC\t", "ns.sub.example."),
	       "ns.sub.example. NSEC: NSEC at a name below a zone cut", "NSEC at glue");

	/* NSEC3. */
	char *good3 = sign_text(zone_text, keys, 2, 2, true, NULL);
	is_int(verify(good3, NOW, false, &res), 0, "NSEC3 zone: no problems");
	ok(res.nsec3, "NSEC3 zone: seen as NSEC3");
	const char *n3 = good3 != NULL ? strstr(good3, "\tIN\tNSEC3\t") : NULL;
	const char *line = n3;
	while (line != NULL && line > good3 && line[-1] != '\n')
		line--;
	char prefix[128] = "";
	if (line != NULL)
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(n3 - line) + 10, line);
	char owner[64] = "";
	snprintf(owner, sizeof(owner), "%.*s", (int)strcspn(prefix, "\t"), prefix);
	snprintf(want, sizeof(want), "%s NSEC3: missing NSEC3", owner);
	defect(drop_line(good3, prefix), want, "dropped NSEC3");
	defect(drop_line(good3, "example.\t0\tIN\tNSEC3PARAM\t"),
	       "example. NSEC3PARAM: missing or malformed NSEC3PARAM", "dropped NSEC3PARAM");
	defect(replace(good3, " NS DS RRSIG\n", " NS RRSIG\n"),
	       "NSEC3: type bitmap differs from the types present (NS DS RRSIG)",
	       "NSEC3 bitmap hides the DS");
	/* One record flagged opt-out makes the chain an opt-out one, which has no room for
	 * insecure. */
	defect(replace(good3, "\tNSEC3\t1 0 0 - ", "\tNSEC3\t1 1 0 - "),
	       "NSEC3: NSEC3 matches no name of the zone",
	       "opt-out flag, yet an insecure delegation in the chain");

	/* More types at a name than a bitmap array holds: a problem, not a write past the array. */
	size_t cap = 64 * 1024, len = 0;
	char *many = malloc(cap);
	len += (size_t)snprintf(many + len, cap - len,
				"$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nx NSEC example. A\n");
	for (unsigned t = 1000; t < 1600; t++)
		len += (size_t)snprintf(many + len, cap - len, "x TYPE%u \\# 1 00\n", t);
	ok(verify(many, NOW, false, NULL) > 0 &&
	       reported("x.example. NSEC: more than 508 types at one name"),
	   "600 types at one name: reported");
	free(many);

	/* Unsigned input is anything but secure. */
	long problems = verify(zone_text, NOW, false, NULL);
	ok(problems > 5 && reported("example. SOA: no RRSIG") &&
	       reported("example. NSEC: missing NSEC"),
	   "unsigned zone: %ld problems", problems);

	free(good);
	free(good3);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		rs_key_free(keys[i]);
	return done_testing();
}
