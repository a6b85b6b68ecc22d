/* dns: canonical order (RFC 4034 6.1 example), keys, RDATA canonical form, bitmaps, codecs. */
#include <stdlib.h>

#include "regsign/dns.h"
#include "tap/tap.h"

static rs_name_t *name(rs_arena_t *a, const char *text)
{
	uint8_t wire[RS_NAME_MAX];
	if (rs_dname_from_str(text, wire) != RS_EOK)
		return NULL;
	return rs_name_new(a, wire);
}

static int by_name(const void *x, const void *y)
{
	return rs_name_cmp(*(rs_name_t *const *)x, *(rs_name_t *const *)y);
}

int main(void)
{
	rs_arena_t *a = rs_arena_new(0);

	/* RFC 4034 6.1: the names in canonical order. */
	static const char *order[] = {
		"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.",
		"zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.",
		"\\200.z.example.",
	};
	size_t n = sizeof(order) / sizeof(order[0]);
	rs_name_t *names[16], *shuffled[16];
	for (size_t i = 0; i < n; i++)
		names[i] = name(a, order[i]);
	for (size_t i = 0; i < n; i++)
		shuffled[i] = names[(i * 5 + 3) % n];
	qsort(shuffled, n, sizeof(*shuffled), by_name);
	int same = 1;
	for (size_t i = 0; i < n; i++)
		same &= shuffled[i] == names[i];
	ok(same, "RFC 4034 6.1 example sorts into canonical order");
	ok(rs_name_cmp(name(a, "A.Example."), name(a, "a.example.")) == 0, "comparison ignores case");
	ok(rs_name_is_sub(name(a, "x.y.example."), name(a, "example.")), "x.y.example. is below example.");
	ok(!rs_name_is_sub(name(a, "xexample."), name(a, "example.")), "xexample. is not below example.");
	ok(rs_name_cmp(name(a, "a\\000.example."), name(a, "a.example.")) > 0,
	   "a label with a zero octet sorts after its prefix");
	ok(rs_name_cmp(name(a, "a\\000.example."), name(a, "a\\001.example.")) < 0,
	   "escaped octets 0 and 1 keep their order");
	is_int(name(a, "*.z.example.")->labels, 3, "label count of *.z.example.");
	ok(rs_name_is_wildcard(name(a, "*.z.example.")), "wildcard detected");

	/* RDATA canonical form: names in MX lowercased, not in NSEC (RFC 6840 5.1). */
	uint8_t mx[] = { 0, 10, 4, 'M', 'a', 'I', 'l', 2, 'E', 'x', 0 };
	is_int(rs_rdata_canonicalize(RS_TYPE_MX, mx, sizeof(mx)), RS_EOK, "MX canonicalizes");
	ok(memcmp(mx + 3, "mail", 4) == 0 && memcmp(mx + 8, "ex", 2) == 0, "MX target lowercased");
	uint8_t nsec[] = { 1, 'A', 0, 0, 1, 0x40 };
	rs_rdata_canonicalize(RS_TYPE_NSEC, nsec, sizeof(nsec));
	ok(nsec[1] == 'A', "NSEC next name keeps its case (RFC 6840 5.1)");
	uint8_t short_mx[] = { 0, 10, 4, 'm' };
	is_int(rs_rdata_canonicalize(RS_TYPE_MX, short_mx, sizeof(short_mx)), RS_ESYNTAX, "truncated MX refused");
	uint8_t soa_bad[] = { 0, 0, 1, 2, 3 };
	is_int(rs_rdata_check(RS_TYPE_SOA, soa_bad, sizeof(soa_bad)), RS_ESYNTAX, "short SOA refused");
	ok(rs_rdata_cmp((const uint8_t *)"ab", 2, (const uint8_t *)"abc", 3) < 0, "shorter RDATA prefix first");

	/* Type bitmaps (RFC 4034 4.3 example: A MX RRSIG NSEC TYPE1234). */
	uint16_t types[] = { 1, 15, 46, 47, 1234 };
	uint8_t bm[64];
	size_t bl = rs_bitmap_write(types, 5, bm);
	/* Window 0: 6 octets 40 01 00 00 00 03; window 4: 27 octets, the last 0x20. */
	uint8_t want[2 + 6 + 2 + 27] = { 0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1b };
	want[sizeof(want) - 1] = 0x20;
	ok(bl == sizeof(want) && memcmp(bm, want, bl) == 0, "RFC 4034 4.3 bitmap encoded");
	ok(rs_bitmap_has(bm, bl, 1234) && !rs_bitmap_has(bm, bl, 2), "bitmap lookups");
	uint8_t bad_bm[] = { 0, 0 };
	ok(!rs_bitmap_valid(bad_bm, 2), "empty window refused");

	/* Codecs (RFC 4648 test vectors for base32hex). */
	char out[64];
	rs_base32hex_encode((const uint8_t *)"foobar", 6, out);
	is_str(out, "cpnmuoj1e8", "base32hex of foobar");
	uint8_t dec[16];
	is_int(rs_base32hex_decode("CPNMUOJ1E8", 10, dec, sizeof(dec)), 6, "base32hex decodes");
	is_int(rs_base64_decode("Zm9vYg==", 8, dec, sizeof(dec)), 4, "base64 with padding");
	is_int(rs_base64_decode("Zm9v!", 5, dec, sizeof(dec)), RS_ESYNTAX, "bad base64 refused");

	/* Time values. */
	int64_t t;
	is_int(rs_time_parse("20000101000000", &t), RS_EOK, "time parses");
	is_int(t, 946684800, "2000-01-01 is 946684800");
	char ts[15];
	rs_time_format(1440021600, ts);
	is_str(ts, "20150819220000", "time formats");
	is_int(rs_time_parse("20001301000000", &t), RS_ESYNTAX, "month 13 refused");
	int64_t d;
	rs_duration_parse("30d", &d);
	is_int(d, 30 * 86400, "30d");

	/* File-name form of names, BIND's rule (RFC 2317 origins hold a '/'), and back. */
	static const struct {
		const char *name, *file, *stem;
	} files[] = {
		{ "0/25.2.0.10.in-addr.arpa.", "0%2F25.2.0.10.in-addr.arpa.", "0%2F25.2.0.10.in-addr.arpa" },
		{ "Example.COM.", "example.com.", "example.com" },
		{ ".", ".", "." },
		{ "100%.example.", "100%25.example.", "100%25.example" },
		{ "a\\/b.example.", "a%2Fb.example.", "a%2Fb.example" },
		{ "\\..\\.\\..example.", "%2E.%2E%2E.example.", "%2E.%2E%2E.example" },
		{ "_dmarc.x-y.", "_dmarc.x-y.", "_dmarc.x-y" },
		{ "a\\032b\\000+*.example.", "a%20b%00%2B%2A.example.", "a%20b%00%2B%2A.example" },
		{ "\\200.example.", "%C8.example.", "%C8.example" },
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char out[1024];
		uint8_t wire[RS_NAME_MAX], back[RS_NAME_MAX];
		is_int(rs_dname_from_str(files[i].name, wire), RS_EOK, "'%s' parses", files[i].name);
		is_int(rs_dname_to_filename(wire, true, out, sizeof(out)), (long long)strlen(files[i].file),
		       "'%s' has a file name of its length", files[i].name);
		is_str(out, files[i].file, "file name of '%s'", files[i].name);
		rs_dname_str_to_filename(files[i].name, false, out, sizeof(out));
		is_str(out, files[i].stem, "file name of '%s' without the final dot", files[i].name);
		ok(strchr(out, '/') == NULL, "no '/' in the file name of '%s'", files[i].name);
		is_int(rs_dname_from_filename(files[i].file, strlen(files[i].file), back), RS_EOK, "'%s' reads back",
		       files[i].file);
		ok(memcmp(back, wire, rs_dname_len(wire, RS_NAME_MAX)) == 0, "'%s' reads back as '%s'", files[i].file,
		   files[i].name);
		is_int(rs_dname_from_filename(files[i].stem, strlen(files[i].stem), back), RS_EOK,
		       "'%s' reads back without its final dot", files[i].stem);
		ok(memcmp(back, wire, rs_dname_len(wire, RS_NAME_MAX)) == 0, "'%s' is '%s' too", files[i].stem,
		   files[i].name);
	}
	static const char *bad_files[] = { "", "..", "a..b", ".a", "a/b.", "a%2", "a%G0.", "a+b.", "a b.", "a\\.b." };
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		uint8_t back[RS_NAME_MAX];
		is_int(rs_dname_from_filename(bad_files[i], strlen(bad_files[i]), back), RS_ESYNTAX,
		       "'%s' is not a file name of a name", bad_files[i]);
	}
	uint8_t back[RS_NAME_MAX];
	const char *key_file = "K0%2F25.2.0.10.in-addr.arpa.+013+12345.key";
	is_int(rs_dname_from_filename(key_file + 1, strcspn(key_file, "+") - 1, back), RS_EOK,
	       "the owner part of a dnssec-keygen file name reads in place");
	char shown[1024];
	rs_dname_to_str(back, shown, sizeof(shown));
	is_str(shown, "0/25.2.0.10.in-addr.arpa.", "and is the RFC 2317 origin");
	char label[64 * 3 + 8] = "";
	for (int c = 0; c < 63; c++)
		strcat(label, "%2F");
	is_int(rs_dname_from_filename(label, strlen(label), back), RS_EOK, "63 escaped octets make one label");
	char small[8];
	is_int(rs_dname_to_filename(back, true, small, sizeof(small)), RS_ELIMIT, "a short buffer is refused");
	strcat(label, "a");
	is_int(rs_dname_from_filename(label, strlen(label), back), RS_ESYNTAX, "a 64-octet label is refused");

	/* Zone file stems: the root and a zone named "root." never share one. */
	static const struct {
		const char *name, *stem;
	} stems[] = { { ".", "root" }, { "root.", "%72oot" }, { "ROOT.", "%72oot" }, { "root.example.", "root.example" },
		      { "0/25.2.0.10.in-addr.arpa.", "0%2F25.2.0.10.in-addr.arpa" } };
	for (size_t i = 0; i < sizeof(stems) / sizeof(stems[0]); i++) {
		uint8_t wire[RS_NAME_MAX];
		char out[1024];
		rs_dname_from_str(stems[i].name, wire);
		is_int(rs_zone_file_stem(wire, out, sizeof(out)), (long long)strlen(stems[i].stem), "stem of '%s': its length",
		       stems[i].name);
		is_str(out, stems[i].stem, "stem of '%s'", stems[i].name);
	}

	/* Every octet, in a label of its own and beside others: the file name is plain and reads back. */
	int roundtrips = 0, plain = 0;
	for (int c = 0; c < 256; c++) {
		uint8_t w[] = { 3, (uint8_t)c, 'x', (uint8_t)(255 - c), 1, (uint8_t)c, 0 }, r[RS_NAME_MAX];
		char f[64];
		int n = rs_dname_to_filename(w, true, f, sizeof(f));
		plain += n > 0 && strchr(f, '/') == NULL && strstr(f, "..") == NULL && f[0] != '.';
		rs_dname_lower(w);
		roundtrips += n > 0 && rs_dname_from_filename(f, (size_t)n, r) == RS_EOK && memcmp(r, w, sizeof(w)) == 0;
	}
	is_int(plain, 256, "no file name of any octet holds '/', '..' or a leading dot");
	is_int(roundtrips, 256, "every octet reads back from its file name");

	rs_arena_free(a);
	return done_testing();
}
