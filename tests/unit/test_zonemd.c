/* zonemd: the RFC 8976 Appendix A examples byte for byte, the checks of rs_zonemd_check, and the template. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/signer.h"
#include "regsign/verify.h"
#include "regsign/zonemd.h"
#include "tap/tap.h"
#include "tap/zone.h"

static uint8_t origin[RS_NAME_MAX];

static rs_zone_t *load_keys(const char *file, rs_key_t *const *keys, size_t nkeys)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/zonemd/%s", RS_TEST_DATA, file);
	rs_zone_opts_t zo = { .keep_dnssec = true, .threads = 1 };
	rs_zone_t *z;
	rs_diag_t d = { "" };
	if (rs_zone_new(origin, &zo, &z) != RS_EOK)
		return NULL;
	int ret = rs_zone_read(z, path, &d);
	for (size_t i = 0; ret == RS_EOK && i < nkeys; i++) {
		size_t len;
		const uint8_t *dk = rs_key_dnskey(keys[i], &len);
		ret = rs_zone_add(z, origin, RS_TYPE_DNSKEY, 0, dk, len);
	}
	if (ret == RS_EOK)
		ret = rs_zone_finish(z, &d);
	if (ret != RS_EOK) {
		printf("# %s: %s\n", file, d.text);
		rs_zone_free(z);
		return NULL;
	}
	return z;
}

static rs_zone_t *load(const char *file)
{
	return load_keys(file, NULL, 0);
}

static void hex(const uint8_t *p, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void digest_is(const rs_zone_t *z, uint8_t hash, const char *want, const char *what)
{
	uint8_t d[RS_ZONEMD_DIGEST_MAX];
	size_t len = 0;
	char text[2 * RS_ZONEMD_DIGEST_MAX + 1] = "";
	int ret = z != NULL ? rs_zonemd_zone(z, hash, d, &len) : RS_EINVAL;
	if (ret == RS_EOK)
		hex(d, len, text);
	is_str(text, want, "%s: %s digest", what, rs_zonemd_hash_name(hash));
}

static void check_is(const rs_zone_t *z, size_t checked, size_t valid, uint64_t problems, const char *what)
{
	rs_buf_t report;
	rs_buf_init(&report, 1 << 20);
	uint64_t n = 0;
	rs_zonemd_result_t res;
	int ret = rs_zonemd_check(z, &report, &n, &res);
	ok(ret == RS_EOK && res.checked == checked && res.valid == valid && n == problems,
	   "%s: %zu checked, %zu valid, %llu problems", what, checked, valid, (unsigned long long)problems);
	if (report.len > 0)
		printf("# %.*s", (int)report.len, (const char *)report.data);
	rs_buf_clear(&report);
}

#define INCEPTION 1700000000
#define EXPIRATION (INCEPTION + 30 * 86400)

/* Sign zone (prepared for hashes[0..n)) to text, read it back with its DNSSEC records. */
static rs_zone_t *sign_back(rs_zone_t **zone, rs_key_t *const *keys, size_t nkeys, const uint8_t *hashes, size_t n,
			    bool nsec3, unsigned threads)
{
	uint8_t h[RS_ZONEMD_HASHES];
	size_t nh = 0, stale = 0;
	rs_diag_t d = { "" };
	if (rs_zonemd_setup(zone, hashes, n, h, &nh, &stale, &d) != RS_EOK) {
		printf("# setup: %s\n", d.text);
		return NULL;
	}
	rs_sign_opts_t so = { .inception = INCEPTION, .expiration = EXPIRATION, .threads = threads, .nsec3 = nsec3,
			      .zonemd = nh > 0 };
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	rs_sign_stats_t st;
	int ret = rs_sign_zone(*zone, keys, nkeys, &so, f, &st, &d);
	fclose(f);
	rs_zone_t *back = NULL;
	if (ret == RS_EOK && st.zonemd == nh) {
		back = tap_zone(origin, text, NULL, 0, true);
	} else {
		printf("# sign: %s\n", d.text);
	}
	free(text);
	return back;
}

/* A zone large enough for several chunks of the signing pipeline, with a cut, glue and an occluded name. */
static char *big_text(unsigned names)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	fprintf(f, "$ORIGIN example.\n@ 3600 SOA ns1 hostmaster 7 7200 3600 1209600 300\n@ 3600 NS ns1\n"
		   "ns1 3600 A 192.0.2.1\nsub 3600 NS ns.sub\nns.sub 3600 A 192.0.2.9\nhidden.ns.sub 60 TXT \"x\"\n");
	for (unsigned i = 0; i < names; i++)
		fprintf(f, "n%u 300 A 192.0.2.%u\nn%u 300 TXT \"name %u\"\n", i, i % 250, i, i);
	fclose(f);
	return out;
}

static void check_signed(const rs_zone_t *z, size_t want, const char *what)
{
	rs_verify_opts_t vo = { .now = INCEPTION + 3600, .threads = 1 };
	rs_verify_result_t vr = { 0 };
	rs_buf_t report;
	rs_buf_init(&report, 1 << 20);
	rs_diag_t d;
	int ret = z != NULL ? rs_verify_zone(z, &vo, &report, &vr, &d) : RS_EINVAL;
	ok(ret == RS_EOK && vr.problems == 0 && vr.zonemd.checked == want && vr.zonemd.valid == want,
	   "%s: secure, %zu ZONEMD digests match", what, want);
	if (report.len > 0)
		printf("# %.*s", (int)report.len > 400 ? 400 : (int)report.len, (const char *)report.data);
	rs_buf_clear(&report);
}

static void signer_tests(void)
{
	rs_key_t *keys[2];
	rs_diag_t d;
	rs_key_generate(origin, 13, 0, true, &keys[0], &d);
	rs_key_generate(origin, 13, 0, false, &keys[1], &d);
	uint8_t both[2] = { RS_ZONEMD_SHA384, RS_ZONEMD_SHA512 }, sha512 = RS_ZONEMD_SHA512;

	rs_zone_t *a2 = load_keys("a2-complex.zone", keys, 2);
	rs_zone_t *s2 = sign_back(&a2, keys, 2, NULL, 0, false, 1);
	check_signed(s2, 1, "A.2 signed with NSEC, its ZONEMD made again");

	char *text = big_text(3000);
	rs_zone_t *z = tap_zone(origin, text, keys, 2, false);
	rs_zone_t *s = sign_back(&z, keys, 2, both, 2, false, 2);
	check_signed(s, 2, "6,000 names over two threads, NSEC, SHA-384 and SHA-512");
	rs_zone_t *z3 = tap_zone(origin, text, keys, 2, false);
	rs_zone_t *s3 = sign_back(&z3, keys, 2, &sha512, 1, true, 2);
	check_signed(s3, 1, "the same with NSEC3 and SHA-512");
	uint32_t b, e;
	size_t nn;
	ok(s3 != NULL && rs_node_rrset(s3, rs_zone_nodes(s3, &nn), RS_TYPE_ZONEMD, &b, &e) &&
	   rs_get32(rs_zone_rrs(s3)[b].rdata) == 7, "the ZONEMD serial is the SOA's");
	rs_zone_t *none = tap_zone(origin, text, keys, 2, false);
	rs_zone_t *sn = sign_back(&none, keys, 2, NULL, 0, false, 2);
	check_signed(sn, 0, "without ZONEMD asked for or in the input: none made");

	/* A change set: the digests are made again over the next zone, and the diff carries them. */
	if (s != NULL) {
		uint8_t owner[RS_NAME_MAX], rdata[4] = { 192, 0, 2, 77 };
		rs_dname_from_str("added.example.", owner);
		rs_xrr_t add = { .owner = owner, .rdata = rdata, .ttl = 300, .type = RS_TYPE_A, .rdlen = 4 };
		rs_changes_t c = { .added = &add, .nadded = 1, .serial = 8 };
		rs_sign_opts_t so = { .inception = INCEPTION, .expiration = EXPIRATION, .threads = 2, .zonemd = true };
		rs_zone_t *next = NULL;
		rs_diff_t diff = { 0 }, full = { 0 };
		int ret = rs_sign_update(s, &c, keys, 2, &so, &next, &diff, NULL, &d);
		if (ret != RS_EOK)
			printf("# update: %s\n", d.text);
		check_signed(next, 2, "after a change set");
		ret = next != NULL ? rs_diff_zones(s, next, &full, &d) : RS_EINVAL;
		size_t zmd_added = 0;
		for (size_t i = 0; i < diff.nadded; i++)
			zmd_added += diff.added[i].type == RS_TYPE_ZONEMD;
		ok(ret == RS_EOK && diff.nadded == full.nadded && diff.nremoved == full.nremoved && zmd_added == 2,
		   "the change set's diff is the zones' diff, the two new ZONEMD records in it (%zu/%zu added, %zu/%zu "
		   "removed)", diff.nadded, full.nadded, diff.nremoved, full.nremoved);
		rs_diff_clear(&diff);
		rs_diff_clear(&full);
		so.zonemd = false;
		rs_zone_t *no = NULL;
		ret = rs_sign_update(next, &(rs_changes_t){ .serial = 9 }, keys, 2, &so, &no, NULL, NULL, &d);
		ok(ret == -EOPNOTSUPP && no == NULL, "dropping the ZONEMD takes a full signing: %s", d.text);
		rs_zone_free(next);
	}
	/* The same with NSEC3: the new name's NSEC3 and the digest over it. */
	if (s3 != NULL) {
		uint8_t owner[RS_NAME_MAX], rdata[4] = { 192, 0, 2, 78 };
		rs_dname_from_str("added3.example.", owner);
		rs_xrr_t add = { .owner = owner, .rdata = rdata, .ttl = 300, .type = RS_TYPE_A, .rdlen = 4 };
		rs_changes_t c = { .added = &add, .nadded = 1, .serial = 8 };
		rs_sign_opts_t so = { .inception = INCEPTION, .expiration = EXPIRATION, .threads = 2, .nsec3 = true,
				      .zonemd = true };
		rs_zone_t *next = NULL;
		rs_diff_t diff = { 0 }, full = { 0 };
		int ret = rs_sign_update(s3, &c, keys, 2, &so, &next, &diff, NULL, &d);
		if (ret != RS_EOK)
			printf("# update: %s\n", d.text);
		check_signed(next, 1, "NSEC3, after a change set");
		ret = next != NULL ? rs_diff_zones(s3, next, &full, &d) : RS_EINVAL;
		ok(ret == RS_EOK && diff.nadded == full.nadded && diff.nremoved == full.nremoved,
		   "NSEC3: the change set's diff is the zones' diff (%zu/%zu added)", diff.nadded, full.nadded);
		rs_diff_clear(&diff);
		rs_diff_clear(&full);
		rs_zone_free(next);
	}
	rs_zone_free(a2);
	rs_zone_free(s2);
	rs_zone_free(z);
	rs_zone_free(s);
	rs_zone_free(z3);
	rs_zone_free(s3);
	rs_zone_free(none);
	rs_zone_free(sn);
	free(text);
	rs_key_free(keys[0]);
	rs_key_free(keys[1]);
}

int main(void)
{
	rs_dname_from_str("example.", origin);

	rs_zone_t *a1 = load("a1-simple.zone");
	digest_is(a1, RS_ZONEMD_SHA384,
		  "c68090d90a7aed716bc459f9340e3d7c1370d4d24b7e2fc3a1ddc0b9a87153b9a9713b3c9ae5cc27777f98b8e730044c",
		  "A.1 simple");
	check_is(a1, 1, 1, 0, "A.1 simple");

	rs_zone_t *a2 = load("a2-complex.zone");
	digest_is(a2, RS_ZONEMD_SHA384,
		  "a3b69bad980a3504e1cffcb0fd6397f93848071c93151f552ae2f6b1711d4bd2d8b39808226d7b9db71e34b72077f8fe",
		  "A.2 complex (occluded, duplicate, uppercase, wildcard, non-apex ZONEMD)");
	check_is(a2, 1, 1, 0, "A.2 complex");

	rs_zone_t *a3 = load("a3-multiple.zone");
	digest_is(a3, RS_ZONEMD_SHA384,
		  "62e6cf51b02e54b9b5f967d547ce43136792901f9f88e637493daaf401c92c279dd10f0edb1c56f8080211f8480ee306",
		  "A.3 multiple");
	digest_is(a3, RS_ZONEMD_SHA512,
		  "08cfa1115c7b948c4163a901270395ea226a930cd2cbcf2fa9a5e6eb85f37c8a4e114d884e66f176eab121cb02db7d65"
		  "2e0cc4827e7a3204f166b47e5613fd27",
		  "A.3 multiple");
	check_is(a3, 2, 2, 0, "A.3 multiple: the private-use hash 240 and scheme 241 are skipped");
	uint8_t hashes[RS_ZONEMD_HASHES];
	size_t nh = a3 != NULL ? rs_zonemd_hashes(a3, hashes) : 0;
	ok(nh == 2 && hashes[0] == 1 && hashes[1] == 2, "A.3: the hashes to make again are SHA-384 and SHA-512");

	/* A changed record, a wrong serial: each is reported. */
	rs_zone_t *bad = tap_zone(origin,
				  "example. 86400 IN SOA ns1 admin 2018031900 1800 900 604800 86400\n"
				  "example. 86400 IN NS ns1\nexample. 86400 IN NS ns2\n"
				  "example. 86400 IN ZONEMD 2018031900 1 1 c68090d90a7aed716bc459f9340e3d7c1370d4d24b7e2fc3"
				  "a1ddc0b9a87153b9a9713b3c9ae5cc27777f98b8e730044c\n"
				  "ns1 3600 IN A 203.0.113.64\nns2 3600 IN AAAA 2001:db8::63\n", NULL, 0, true);
	check_is(bad, 1, 0, 1, "A.1 with ns1's address changed: the digest does not match");
	rs_zone_t *old = tap_zone(origin,
				  "example. 86400 IN SOA ns1 admin 2018031901 1800 900 604800 86400\n"
				  "example. 86400 IN NS ns1\nexample. 86400 IN NS ns2\n"
				  "example. 86400 IN ZONEMD 2018031900 1 1 c68090d90a7aed716bc459f9340e3d7c1370d4d24b7e2fc3"
				  "a1ddc0b9a87153b9a9713b3c9ae5cc27777f98b8e730044c\n"
				  "ns1 3600 IN A 203.0.113.63\nns2 3600 IN AAAA 2001:db8::63\n", NULL, 0, true);
	check_is(old, 1, 0, 1, "A.1 with the SOA serial moved on: the ZONEMD serial is stale");

	/* The template: A.1's ZONEMD replaced by SHA-384 and SHA-512 records, serial from the SOA. */
	rs_zone_t *t = NULL;
	size_t dropped = 0;
	uint8_t both[2] = { RS_ZONEMD_SHA384, RS_ZONEMD_SHA512 };
	rs_diag_t d = { "" };
	int ret = a1 != NULL ? rs_zonemd_prepare(a1, both, 2, 0, &t, &dropped, &d) : RS_EINVAL;
	uint32_t b = 0, e = 0;
	ok(ret == RS_EOK && t != NULL && dropped == 1 &&
	   rs_node_rrset(t, rs_zone_nodes(t, &(size_t){ 0 }), RS_TYPE_ZONEMD, &b, &e) && e - b == 2 &&
	   rs_zone_rrs(t)[b].ttl == 86400 && rs_get32(rs_zone_rrs(t)[b].rdata) == 2018031900,
	   "prepare: two template records at the apex, the input's one dropped");
	rs_zone_free(t);
	t = NULL;
	ret = a1 != NULL ? rs_zonemd_prepare(a1, NULL, 0, 0, &t, &dropped, &d) : RS_EINVAL;
	ok(ret == RS_EOK && t != NULL && dropped == 1 &&
	   !rs_node_rrset(t, rs_zone_nodes(t, &(size_t){ 0 }), RS_TYPE_ZONEMD, &b, &e),
	   "prepare without hashes: the stale ZONEMD is removed");
	digest_is(t, RS_ZONEMD_SHA384,
		  "c68090d90a7aed716bc459f9340e3d7c1370d4d24b7e2fc3a1ddc0b9a87153b9a9713b3c9ae5cc27777f98b8e730044c",
		  "A.1 without its ZONEMD (the digest leaves it out)");
	rs_zone_free(t);
	uint8_t unknown = 3;
	ok(rs_zonemd_prepare(bad, &unknown, 1, 0, &t, &dropped, &d) == RS_EINVAL,
	   "prepare refuses a hash algorithm it cannot compute: %s", d.text);

	signer_tests();

	rs_zone_free(a1);
	rs_zone_free(a2);
	rs_zone_free(a3);
	rs_zone_free(bad);
	rs_zone_free(old);
	return done_testing();
}
