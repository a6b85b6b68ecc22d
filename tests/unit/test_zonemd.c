/* zonemd: the RFC 8976 Appendix A examples byte for byte, the checks of rs_zonemd_check, and the template. */
#include <stdlib.h>
#include <string.h>

#include "regsign/zonemd.h"
#include "tap/tap.h"
#include "tap/zone.h"

static uint8_t origin[RS_NAME_MAX];

static rs_zone_t *load(const char *file)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/zonemd/%s", RS_TEST_DATA, file);
	rs_zone_opts_t zo = { .keep_dnssec = true, .threads = 1 };
	rs_zone_t *z;
	rs_diag_t d = { "" };
	if (rs_zone_new(origin, &zo, &z) != RS_EOK)
		return NULL;
	int ret = rs_zone_read(z, path, &d);
	if (ret == RS_EOK)
		ret = rs_zone_finish(z, &d);
	if (ret != RS_EOK) {
		printf("# %s: %s\n", file, d.text);
		rs_zone_free(z);
		return NULL;
	}
	return z;
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

	rs_zone_free(a1);
	rs_zone_free(a2);
	rs_zone_free(a3);
	rs_zone_free(bad);
	rs_zone_free(old);
	return done_testing();
}
