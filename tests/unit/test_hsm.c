/*
 * Unit tests of hsm: Shamir shares (every m-subset restores, fewer do not,
 * damaged text is caught) and keys in a throwaway SoftHSM2 token: every
 * algorithm signs through the token and verifies, private values are never
 * readable, wrapping only works under the trusted backup key, and a wrapped
 * key restores into a fresh token with the same public key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>

#include "regsign/dns.h"
#include "regsign/hsm.h"
#include "tap/tap.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"

static void test_shares(void)
{
	uint8_t secret[32], got[RS_SECRET_MAX];
	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)(i * 37 + 11);
	rs_share_t sh[5];
	is_int(rs_share_split(RS_SHARE_ACTIVATION, secret, 32, 3, 5, sh), RS_EOK, "split 3 of 5");
	size_t len, good = 0, subsets = 0;
	rs_diag_t d;
	/* Every set of 3 distinct shares restores the secret. */
	for (int a = 0; a < 5; a++)
		for (int b = a + 1; b < 5; b++)
			for (int c = b + 1; c < 5; c++) {
				rs_share_t pick[3] = { sh[a], sh[b], sh[c] };
				subsets++;
				good += rs_share_combine(pick, 3, got, &len, &d) == RS_EOK && len == 32 &&
					memcmp(got, secret, 32) == 0;
			}
	is_int(good, subsets, "all %zu subsets of 3 shares restore the secret", subsets);
	is_int(rs_share_combine(sh, 2, got, &len, &d), RS_EINVAL, "2 of a 3-of-5 set are refused");
	ok(strstr(d.text, "2 activation share(s) given, 3 needed") != NULL, "... saying how many are needed");
	rs_share_t dup[3] = { sh[0], sh[1], sh[1] };
	is_int(rs_share_combine(dup, 3, got, &len, &d), RS_EINVAL, "a share given twice is refused");
	rs_share_t other[3];
	rs_share_split(RS_SHARE_ACTIVATION, secret, 32, 3, 3, other);
	rs_share_t mixed[3] = { sh[0], sh[1], other[2] };
	is_int(rs_share_combine(mixed, 3, got, &len, &d), RS_EINVAL, "shares of two sets do not mix");
	rs_share_t bad[3] = { sh[0], sh[1], sh[2] };
	bad[2].data[5] ^= 1;
	is_int(rs_share_combine(bad, 3, got, &len, &d), RS_EDENIED, "a damaged share fails the check value");

	rs_buf_t text;
	rs_buf_init(&text, 4096);
	rs_share_format(&sh[3], &text);
	rs_buf_append(&text, "", 1);
	rs_share_t back;
	is_int(rs_share_parse((char *)text.data, text.len - 1, "s", &back, &d), RS_EOK, "share text reads back");
	ok(back.index == 4 && back.threshold == 3 && back.count == 5 && back.len == 32 &&
		   memcmp(back.data, sh[3].data, 32) == 0, "... with index, threshold, count and data");
	char *p = strstr((char *)text.data, "data: ") + 6;
	*p = *p == 'a' ? 'b' : 'a';
	is_int(rs_share_parse((char *)text.data, text.len - 1, "s", &back, &d), RS_EINVAL, "a mistyped digit is caught");
	is_str(d.text, "s:7: checksum mismatch: the share was altered or mistyped", "... by the checksum, at its line");
	is_int(rs_share_parse("regsign share v1\nkind: other\n", 29, "s", &back, &d), RS_ESYNTAX,
	       "an unknown kind is refused");
	is_str(d.text, "s:2: malformed 'kind' line", "... at its line");
	rs_buf_clear(&text);
}

/* A fresh SoftHSM2 token directory for this test. */
static char *token_dir(void)
{
	static char dir[] = "/tmp/regsign-test-hsm-XXXXXX";
	if (mkdtemp(dir) == NULL)
		abort();
	char path[256], conf[512];
	snprintf(path, sizeof(path), "%s/tokens", dir);
	mkdir(path, 0700);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	FILE *f = fopen(conf, "w");
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", path);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	return dir;
}

/* Raw PKCS#11: the attribute cannot be read, or the wrap is refused, as a token must. */
static CK_RV raw_get(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, CK_ATTRIBUTE_TYPE type)
{
	CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
	CK_OBJECT_HANDLE obj;
	CK_ULONG n = 0;
	f->C_FindObjectsInit(s, &t, 1);
	f->C_FindObjects(s, &obj, 1, &n);
	f->C_FindObjectsFinal(s);
	if (n != 1)
		return CKR_GENERAL_ERROR;
	uint8_t buf[4096];
	CK_ATTRIBUTE a = { type, buf, sizeof(buf) };
	return f->C_GetAttributeValue(s, obj, &a, 1);
}

static void test_token(void)
{
	char *dir = token_dir();
	rs_diag_t d;
	uint8_t origin[255];
	rs_dname_from_str("example.", origin);
	is_int(rs_hsm_init_token(MODULE, "unit", "so-pin-1", "user-pin-1", &d), RS_EOK, "init a free token");
	is_int(rs_hsm_init_token(MODULE, "unit", "so-pin-1", "user-pin-1", &d), RS_EINVAL,
	       "a second token with the label is refused");
	rs_hsm_t *h;
	is_int(rs_hsm_open(MODULE, "unit", &h, &d), RS_EOK, "open it by label");
	is_int(rs_hsm_open(MODULE, "nosuch", &(rs_hsm_t *){ NULL }, &d), RS_ENOENT, "an unknown label is RS_ENOENT");
	is_int(rs_hsm_check_so(h, "wrong", &d), RS_EDENIED, "a wrong security officer PIN is refused");
	uint8_t bkey[32] = { 1, 2, 3 };
	is_int(rs_hsm_backup_key_load(h, "wrong", bkey, &d), RS_EDENIED, "loading the backup key needs the officer");
	is_int(rs_hsm_backup_key_load(h, "so-pin-1", bkey, &d), RS_EOK, "the officer loads the trusted backup key");
	is_int(rs_hsm_login(h, "wrong", &d), RS_EDENIED, "a wrong user PIN is refused");
	is_int(rs_hsm_login(h, "user-pin-1", &d), RS_EOK, "the user logs in");

	static const struct { int alg; unsigned bits; } algs[] = {
		{ RS_ALG_RSASHA256, 1024 }, { RS_ALG_RSASHA512, 2048 }, { RS_ALG_ECDSAP256SHA256, 0 },
		{ RS_ALG_ECDSAP384SHA384, 0 }, { RS_ALG_ED25519, 0 },
	};
	char locators[5][RS_LOCATOR_MAX] = { "" };
	uint8_t dnskeys[5][600];
	size_t dlens[5];
	for (size_t i = 0; i < 5; i++) {
		rs_key_t *k = NULL;
		int ret = rs_hsm_generate(h, origin, algs[i].alg, algs[i].bits, i == 0, "example. new", &k, locators[i], &d);
		rs_signer_t *s = NULL;
		uint8_t sig[RS_SIG_MAX];
		size_t slen = 0;
		const uint8_t msg[] = "the RRset to sign";
		if (ret == RS_EOK)
			ret = rs_signer_new(k, &s);
		if (ret == RS_EOK)
			ret = rs_signer_sign(s, msg, sizeof(msg), sig, &slen);
		ok(ret == RS_EOK && rs_key_verify(k, msg, sizeof(msg), sig, slen) == RS_EOK,
		   "%s: generated in the token, signs there, verifies with the public key", rs_alg_name(algs[i].alg));
		if (ret == RS_EOK) {
			sig[0] ^= 1;
			ok(rs_key_verify(k, msg, sizeof(msg), sig, slen) != RS_EOK, "%s: ... a changed signature does not",
			   rs_alg_name(algs[i].alg));
			const uint8_t *dk = rs_key_dnskey(k, &dlens[i]);
			memcpy(dnskeys[i], dk, dlens[i]);
		}
		rs_signer_free(s);
		rs_key_free(k);
	}
	/* The key read back by locator is the same key. */
	rs_key_t *again = NULL;
	size_t len = 0;
	is_int(rs_hsm_key(h, locators[2], origin, RS_ALG_ECDSAP256SHA256, false, &again, &d), RS_EOK,
	       "a key is found again by its locator");
	ok(again != NULL && memcmp(rs_key_dnskey(again, &len), dnskeys[2], dlens[2]) == 0 && len == dlens[2],
	   "... with the same DNSKEY");
	rs_key_free(again);
	is_int(rs_hsm_key(h, "pkcs11:id=%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00", origin, 13, false, &again, &d),
	       RS_ENOENT, "an unknown locator is RS_ENOENT");
	is_int(rs_hsm_key(h, "Kexample.+013+12345", origin, 13, false, &again, &d), RS_EINVAL,
	       "a file locator is not a token locator");

	/* What a token must refuse, asked directly over PKCS#11. */
	CK_FUNCTION_LIST *f = p11_kit_module_load(MODULE, P11_KIT_MODULE_UNMANAGED);
	CK_SLOT_ID slots[8];
	CK_ULONG ns = 8;
	CK_SESSION_HANDLE s;
	f->C_GetSlotList(CK_TRUE, slots, &ns);
	CK_TOKEN_INFO ti;
	for (CK_ULONG i = 0; i < ns; i++)
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK && memcmp(ti.label, "unit ", 5) == 0)
			f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	is_int(raw_get(f, s, CKO_PRIVATE_KEY, CKA_PRIVATE_EXPONENT), CKR_ATTRIBUTE_SENSITIVE,
	       "a private key's value cannot be read (CKA_SENSITIVE)");
	/* A key the user makes, not marked trusted by the officer, cannot wrap a key out. */
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE;
	uint8_t val[32] = { 9 };
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
			     { CKA_WRAP, &yes, sizeof(yes) }, { CKA_VALUE, val, sizeof(val) } };
	CK_OBJECT_HANDLE mine, priv;
	f->C_CreateObject(s, t, 4, &mine);
	CK_ATTRIBUTE pc = { CKA_CLASS, &(CK_OBJECT_CLASS){ CKO_PRIVATE_KEY }, sizeof(CK_OBJECT_CLASS) };
	CK_ULONG n = 0;
	f->C_FindObjectsInit(s, &pc, 1);
	f->C_FindObjects(s, &priv, 1, &n);
	f->C_FindObjectsFinal(s);
	CK_MECHANISM wrap = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	uint8_t out[8192];
	CK_ULONG olen = sizeof(out);
	CK_RV rv = f->C_WrapKey(s, &wrap, mine, priv, out, &olen);
	is_int(rv, CKR_KEY_NOT_WRAPPABLE, "an untrusted key cannot wrap a private key out (CKA_WRAP_WITH_TRUSTED)");
	f->C_CloseSession(s);

	/* Backup under the trusted key, then restore into a fresh token. */
	rs_buf_t wrapped, w;
	for (size_t i = 0; i < 5; i++) {
		rs_buf_init(&w, 65536);
		int ret = rs_hsm_wrap(h, locators[i], &w, &d);
		if (algs[i].alg == RS_ALG_ED25519)
			/* SoftHSM2 2.6.1 wraps RSA and EC private keys, not EdDSA ones (CKR_KEY_NOT_WRAPPABLE). */
			printf("# %s: %s\n", rs_alg_name(algs[i].alg), ret == RS_EOK ? "wrapped" : d.text);
		else
			ok(ret == RS_EOK && w.len > 40, "%s: the backup key wraps the private key (%zu octets)",
			   rs_alg_name(algs[i].alg), w.len);
		if (i == 2)
			wrapped = w; /* the one restored below */
		else
			rs_buf_clear(&w);
	}
	is_int(rs_hsm_destroy(h, locators[2], &d), RS_EOK, "destroy the key in the token");
	is_int(rs_hsm_destroy(h, locators[2], &d), RS_ENOENT, "... then it is gone");
	is_int(rs_hsm_key(h, locators[2], origin, RS_ALG_ECDSAP256SHA256, false, &again, &d), RS_ENOENT,
	       "... and cannot be found");
	rs_hsm_close(h);
	/* The backup key was never stored: a new session of the same token does not have it. */
	rs_buf_t again_w;
	rs_buf_init(&again_w, 65536);
	is_int(rs_hsm_open(MODULE, "unit", &h, &d), RS_EOK, "the token opened again");
	rs_hsm_login(h, "user-pin-1", &d);
	is_int(rs_hsm_wrap(h, locators[3], &again_w, &d), RS_ENOENT, "... has no backup key left to wrap with");
	rs_buf_clear(&again_w);
	rs_hsm_close(h);
	is_int(rs_hsm_init_token(MODULE, "fresh", "so-pin-2", "user-pin-2", &d), RS_EOK, "a fresh token");
	is_int(rs_hsm_open(MODULE, "fresh", &h, &d), RS_EOK, "... opened");
	is_int(rs_hsm_unwrap(h, locators[2], "example. zsk", dnskeys[2], dlens[2], wrapped.data, wrapped.len, &d),
	       RS_ENOENT, "no restore without the backup key");
	rs_hsm_backup_key_load(h, "so-pin-2", bkey, &d);
	rs_hsm_login(h, "user-pin-2", &d);
	is_int(rs_hsm_unwrap(h, locators[2], "example. zsk", dnskeys[2], dlens[2], wrapped.data, wrapped.len, &d),
	       RS_EOK, "the wrapped key restores under the same backup key");
	rs_key_t *restored = NULL;
	rs_signer_t *sg = NULL;
	uint8_t sig[RS_SIG_MAX];
	size_t slen;
	int ret = rs_hsm_key(h, locators[2], origin, RS_ALG_ECDSAP256SHA256, false, &restored, &d);
	ok(ret == RS_EOK && memcmp(rs_key_dnskey(restored, &len), dnskeys[2], dlens[2]) == 0,
	   "... with the same public key");
	ok(ret == RS_EOK && rs_signer_new(restored, &sg) == RS_EOK && rs_signer_sign(sg, val, 32, sig, &slen) == RS_EOK &&
		   rs_key_verify(restored, val, 32, sig, slen) == RS_EOK, "... and signs");
	is_int(rs_hsm_unwrap(h, locators[2], "x", dnskeys[2], dlens[2], wrapped.data, wrapped.len, &d), RS_EINVAL,
	       "a key is not restored twice");
	wrapped.data[10] ^= 1;
	is_int(rs_hsm_unwrap(h, locators[3], "x", dnskeys[3], dlens[3], wrapped.data, wrapped.len, &d), RS_EHSM,
	       "damaged wrapped material is refused");
	rs_signer_free(sg);
	rs_key_free(restored);
	rs_buf_clear(&wrapped);
	rs_hsm_close(h);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ok(system(cmd) == 0, "the throwaway token is removed");
}

int main(void)
{
	test_shares();
	test_token();
	return done_testing();
}
