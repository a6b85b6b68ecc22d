/* crypto: RFC vectors for key tags, DS, NSEC3 hashes and deterministic signatures. */
#include <stdlib.h>

#include "regsign/crypto.h"
#include "regsign/dns.h"
#include "tap/tap.h"

/* Write the RFC 8080 6.1 example key as BIND files (vectors, not secrets) into dir. */
static void write_rfc8080_key(const char *dir)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/Kexample.com.+015+03613.key", dir);
	FILE *f = fopen(path, "w");
	fputs("example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/Kexample.com.+015+03613.private", dir);
	f = fopen(path, "w");
	fputs("Private-key-format: v1.2\nAlgorithm: 15 (ED25519)\n"
	      "PrivateKey: ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=\n", f);
	fclose(f);
}

static size_t unb64(const char *s, uint8_t *out, size_t max)
{
	int n = rs_base64_decode(s, strlen(s), out, max);
	return n < 0 ? 0 : (size_t)n;
}

int main(void)
{
	uint8_t owner[RS_NAME_MAX], rdata[1024];

	/* RFC 4034 5.4: DNSKEY and DS of dskey.example.com. */
	rs_dname_from_str("dskey.example.com.", owner);
	rs_put16(rdata, 256);
	rdata[2] = 3;
	rdata[3] = 5;
	size_t klen = unb64("AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZ"
			    "DRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9Xzc"
			    "nOf+EPbtG9DMBmADjFDc2w/rljwvFw==", rdata + 4, sizeof(rdata) - 4);
	is_int(rs_keytag(rdata, klen + 4), 60485, "RFC 4034 5.4 key tag");
	uint8_t ds[64];
	int dl = rs_ds_make(owner, rdata, klen + 4, RS_DS_SHA1, ds, sizeof(ds));
	static const uint8_t sha1[] = { 0x2B, 0xB1, 0x83, 0xAF, 0x5F, 0x22, 0x58, 0x81, 0x79, 0xA5,
					0x3B, 0x0A, 0x98, 0x63, 0x1F, 0xAD, 0x1A, 0x29, 0x21, 0x18 };
	ok(dl == 24 && memcmp(ds + 4, sha1, 20) == 0, "RFC 4034 5.4 DS digest");

	/* RFC 5155 Appendix A: H(example) with salt aabbccdd and 12 iterations. */
	uint8_t salt[] = { 0xaa, 0xbb, 0xcc, 0xdd }, hash[20];
	char b32[40];
	rs_dname_from_str("example.", owner);
	rs_nsec3_hash(owner, 9, salt, 4, 12, hash);
	rs_base32hex_encode(hash, 20, b32);
	is_str(b32, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", "RFC 5155 hash of example");
	rs_dname_from_str("a.example.", owner);
	rs_nsec3_hash(owner, 11, salt, 4, 12, hash);
	rs_base32hex_encode(hash, 20, b32);
	is_str(b32, "35mthgpgcu1qg68fab165klnsnk3dpvl", "RFC 5155 hash of a.example");

	/* RFC 8080 6.1: the Ed25519 key's public part and DS. */
	rs_dname_from_str("example.com.", owner);
	rs_key_t *key;
	rs_diag_t diag;
	char dir[] = "/tmp/regsign-test-XXXXXX", path[600];
	if (mkdtemp(dir) == NULL)
		return 1;
	write_rfc8080_key(dir);
	snprintf(path, sizeof(path), "%s/Kexample.com.+015+03613", dir);
	int ret = rs_key_load(path, true, &key, &diag);
	if (!ok(ret == RS_EOK, "RFC 8080 key files load"))
		printf("# %s\n", diag.text);
	if (ret == RS_EOK) {
		is_int(rs_key_tag(key), 3613, "RFC 8080 key tag");
		size_t len;
		const uint8_t *dk = rs_key_dnskey(key, &len);
		dl = rs_ds_make(owner, dk, len, RS_DS_SHA256, ds, sizeof(ds));
		char hex[80] = "";
		for (int i = 4; i < dl; i++)
			sprintf(hex + 2 * (i - 4), "%02x", ds[i]);
		is_str(hex, "3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a304b",
		       "RFC 8080 DS digest");
		/* Sign and verify round trip; a flipped bit must not verify. */
		rs_signer_t *s;
		uint8_t sig[RS_SIG_MAX];
		size_t sl;
		rs_signer_new(key, &s);
		rs_signer_sign(s, (const uint8_t *)"data", 4, sig, &sl);
		is_int(rs_key_verify(key, (const uint8_t *)"data", 4, sig, sl), RS_EOK, "Ed25519 verifies");
		sig[5] ^= 1;
		is_int(rs_key_verify(key, (const uint8_t *)"data", 4, sig, sl), RS_ECRYPTO, "tampered Ed25519 fails");
		rs_signer_free(s);
		rs_key_free(key);
	}

	/* Every algorithm: generate, sign, verify, and refuse a wrong message. */
	static const int algs[] = { 8, 10, 13, 14, 15, 16 };
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		rs_dname_from_str("example.", owner);
		if (!ok(rs_key_generate(owner, algs[i], 0, true, &key, &diag) == RS_EOK, "generate %s",
			rs_alg_name(algs[i])))
			continue;
		rs_signer_t *s;
		uint8_t sig[RS_SIG_MAX];
		size_t sl = 0;
		rs_signer_new(key, &s);
		ret = rs_signer_sign(s, (const uint8_t *)"message", 7, sig, &sl);
		ok(ret == RS_EOK && sl <= rs_key_sig_max(key), "%s signs", rs_alg_name(algs[i]));
		size_t len;
		const uint8_t *dk = rs_key_dnskey(key, &len);
		rs_key_t *pub;
		rs_key_from_dnskey(owner, dk, len, &pub);
		is_int(rs_key_verify(pub, (const uint8_t *)"message", 7, sig, sl), RS_EOK, "%s verifies from DNSKEY",
		       rs_alg_name(algs[i]));
		is_int(rs_key_verify(pub, (const uint8_t *)"messagf", 7, sig, sl), RS_ECRYPTO,
		       "%s refuses another message", rs_alg_name(algs[i]));
		rs_key_free(pub);
		rs_signer_free(s);
		rs_key_free(key);
	}
	is_int(rs_key_generate(owner, 3, 0, false, &key, &diag), RS_EALG, "DSA is not supported");
	/* RFC 2317: the '/' of the owner is %2F in the key file name, as dnssec-keygen writes it. */
	uint8_t classless[RS_NAME_MAX];
	rs_dname_from_str("0/25.2.0.10.in-addr.arpa.", classless);
	if (ok(rs_key_generate(classless, RS_ALG_ED25519, 0, true, &key, &diag) == RS_EOK, "generate for 0/25...")) {
		char base[300], want[300];
		is_int(rs_key_file_name(key, base, sizeof(base)), RS_EOK, "its key file name fits");
		snprintf(want, sizeof(want), "K0%%2F25.2.0.10.in-addr.arpa.+015+%05u", rs_key_tag(key));
		is_str(base, want, "the key file name is BIND's");
		rs_key_free(key);
	}
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		return 1;
	return done_testing();
}
