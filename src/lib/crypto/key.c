/*
 * DNSSEC keys: generation, BIND-format key files (v1.2/v1.3, as written by
 * dnssec-keygen and ldns-keygen, read by Knot's keymgr import-bind), PEM
 * import, and the public key encodings of RFC 3110, RFC 6605 and RFC 8080.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "internal.h"

enum key_kind rs_alg_kind(int alg)
{
	switch (alg) {
	case RS_ALG_RSASHA1: case RS_ALG_RSASHA1_NSEC3_SHA1:
	case RS_ALG_RSASHA256: case RS_ALG_RSASHA512:
		return KIND_RSA;
	case RS_ALG_ECDSAP256SHA256: case RS_ALG_ECDSAP384SHA384:
		return KIND_EC;
	case RS_ALG_ED25519: case RS_ALG_ED448:
		return KIND_EDDSA;
	}
	return KIND_NONE;
}

size_t rs_alg_point_size(int alg)
{
	switch (alg) {
	case RS_ALG_ECDSAP256SHA256: case RS_ALG_ED25519: return 32;
	case RS_ALG_ECDSAP384SHA384: return 48;
	case RS_ALG_ED448: return 57;
	}
	return 0;
}

static const char *curve_name(int alg)
{
	return alg == RS_ALG_ECDSAP256SHA256 ? "prime256v1" : "secp384r1";
}

static const char *edname(int alg)
{
	return alg == RS_ALG_ED25519 ? "ED25519" : "ED448";
}

void rs_key_free(rs_key_t *key)
{
	if (key == NULL)
		return;
	EVP_PKEY_free(key->pkey);
	free(key->dnskey);
	if (key->ext != NULL && key->ext->release_ctx != NULL)
		key->ext->release_ctx(key->ext_ctx);
	rs_wipe(key->ed_sk, sizeof(key->ed_sk));
	free(key);
}

int rs_key_dup(const rs_key_t *key, rs_key_t **out)
{
	/* A key held elsewhere has one owner of its context: it cannot be copied. */
	if (key->ext != NULL)
		return RS_EINVAL;
	rs_key_t *k = malloc(sizeof(*k));
	if (k == NULL)
		return RS_ENOMEM;
	*k = *key;
	if ((k->dnskey = malloc(key->dnskey_len)) == NULL) {
		free(k);
		return RS_ENOMEM;
	}
	memcpy(k->dnskey, key->dnskey, key->dnskey_len);
	if (k->pkey != NULL)
		EVP_PKEY_up_ref(k->pkey);
	*out = k;
	return RS_EOK;
}

void rs_key_set_external(rs_key_t *key, const rs_key_ops_t *ops, void *ctx)
{
	key->ext = ops;
	key->ext_ctx = ctx;
	key->has_private = true;
}

uint16_t rs_key_tag(const rs_key_t *key) { return key->tag; }
int rs_key_alg(const rs_key_t *key) { return key->alg; }
uint16_t rs_key_flags(const rs_key_t *key) { return key->flags; }
bool rs_key_is_ksk(const rs_key_t *key) { return key->flags & RS_DNSKEY_SEP; }

void rs_key_set_revoked(rs_key_t *key)
{
	key->flags |= RS_DNSKEY_REVOKE;
	rs_put16(key->dnskey, key->flags);
	key->tag = rs_keytag(key->dnskey, key->dnskey_len);
}
bool rs_key_has_private(const rs_key_t *key) { return key->has_private; }
const uint8_t *rs_key_owner(const rs_key_t *key) { return key->owner; }

const uint8_t *rs_key_dnskey(const rs_key_t *key, size_t *len)
{
	*len = key->dnskey_len;
	return key->dnskey;
}

unsigned rs_key_bits(const rs_key_t *key)
{
	int bits = key->pkey != NULL ? EVP_PKEY_get_bits(key->pkey) : 0;
	return bits > 0 ? (unsigned)bits : 0;
}

size_t rs_key_sig_max(const rs_key_t *key)
{
	switch (rs_alg_kind(key->alg)) {
	case KIND_RSA: return (rs_key_bits(key) + 7) / 8;
	case KIND_EC: return 2 * rs_alg_point_size(key->alg);
	case KIND_EDDSA: return 2 * rs_alg_point_size(key->alg);
	default: return 0;
	}
}

/* DNSKEY public key field from an EVP_PKEY. Returns length or negative code. */
static int encode_public(const EVP_PKEY *pkey, int alg, uint8_t *out, size_t max)
{
	switch (rs_alg_kind(alg)) {
	case KIND_RSA: {
		BIGNUM *n = NULL, *e = NULL;
		int ret = RS_ECRYPTO;
		if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) &&
		    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) {
			size_t elen = (size_t)BN_num_bytes(e), nlen = (size_t)BN_num_bytes(n);
			size_t pos = 0;
			if (elen + nlen + 3 > max || elen == 0 || elen > 0xffff) {
				ret = RS_ELIMIT;
			} else {
				if (elen < 256) {
					out[pos++] = (uint8_t)elen;
				} else {
					out[pos++] = 0;
					rs_put16(out + pos, (uint16_t)elen);
					pos += 2;
				}
				BN_bn2bin(e, out + pos);
				pos += elen;
				BN_bn2bin(n, out + pos);
				ret = (int)(pos + nlen);
			}
		}
		BN_free(n);
		BN_free(e);
		return ret;
	}
	case KIND_EC: {
		uint8_t pub[1 + 2 * 48];
		size_t len = 0;
		size_t psize = rs_alg_point_size(alg);
		if (!EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub),
						     &len) ||
		    len != 1 + 2 * psize || pub[0] != 0x04)
			return RS_ECRYPTO;
		if (max < 2 * psize)
			return RS_ELIMIT;
		memcpy(out, pub + 1, 2 * psize);
		return (int)(2 * psize);
	}
	case KIND_EDDSA: {
		size_t len = max;
		if (!EVP_PKEY_get_raw_public_key(pkey, out, &len))
			return RS_ECRYPTO;
		return (int)len;
	}
	default:
		return RS_EALG;
	}
}

/* EVP_PKEY of the public part of a DNSKEY public key field. */
static int decode_public(int alg, const uint8_t *pub, size_t len, EVP_PKEY **out)
{
	EVP_PKEY *pkey = NULL;
	switch (rs_alg_kind(alg)) {
	case KIND_RSA: {
		if (len < 3)
			return RS_EKEY;
		size_t elen = pub[0], pos = 1;
		if (elen == 0) {
			elen = rs_get16(pub + 1);
			pos = 3;
		}
		if (elen == 0 || pos + elen >= len)
			return RS_EKEY;
		OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
		BIGNUM *e = BN_bin2bn(pub + pos, (int)elen, NULL);
		BIGNUM *n = BN_bin2bn(pub + pos + elen, (int)(len - pos - elen), NULL);
		OSSL_PARAM *params = NULL;
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
		if (bld != NULL && e != NULL && n != NULL && ctx != NULL &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) &&
		    (params = OSSL_PARAM_BLD_to_param(bld)) != NULL && EVP_PKEY_fromdata_init(ctx) > 0)
			EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
		OSSL_PARAM_free(params);
		OSSL_PARAM_BLD_free(bld);
		EVP_PKEY_CTX_free(ctx);
		BN_free(e);
		BN_free(n);
		break;
	}
	case KIND_EC: {
		size_t psize = rs_alg_point_size(alg);
		if (len != 2 * psize)
			return RS_EKEY;
		uint8_t point[1 + 2 * 48];
		point[0] = 0x04;
		memcpy(point + 1, pub, len);
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
							 (char *)curve_name(alg), 0),
			OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, len + 1),
			OSSL_PARAM_construct_end(),
		};
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (ctx != NULL && EVP_PKEY_fromdata_init(ctx) > 0)
			EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
		EVP_PKEY_CTX_free(ctx);
		break;
	}
	case KIND_EDDSA:
		if (len != rs_alg_point_size(alg))
			return RS_EKEY;
		pkey = EVP_PKEY_new_raw_public_key_ex(NULL, edname(alg), NULL, pub, len);
		break;
	default:
		return RS_EALG;
	}
	if (pkey == NULL) {
		ERR_clear_error();
		return RS_EKEY;
	}
	*out = pkey;
	return RS_EOK;
}

/* Fill owner/flags/DNSKEY/tag from the public part of key->pkey. */
static int finish_public(rs_key_t *key)
{
	uint8_t buf[4 + 2048];
	rs_put16(buf, key->flags);
	buf[2] = 3;
	buf[3] = key->alg;
	int n = encode_public(key->pkey, key->alg, buf + 4, sizeof(buf) - 4);
	if (n < 0)
		return n;
	key->dnskey = malloc((size_t)n + 4);
	if (key->dnskey == NULL)
		return RS_ENOMEM;
	memcpy(key->dnskey, buf, (size_t)n + 4);
	key->dnskey_len = (size_t)n + 4;
	key->tag = rs_keytag(key->dnskey, key->dnskey_len);
	return RS_EOK;
}

/* Prepare libsodium's secret key for Ed25519 from the 32-octet seed. */
static int prepare_sodium(rs_key_t *key)
{
	if (key->alg != RS_ALG_ED25519)
		return RS_EOK;
	uint8_t seed[32], pk[32];
	size_t len = sizeof(seed);
	if (sodium_init() < 0 || !EVP_PKEY_get_raw_private_key(key->pkey, seed, &len) || len != 32)
		return RS_ECRYPTO;
	crypto_sign_seed_keypair(pk, key->ed_sk, seed);
	rs_wipe(seed, sizeof(seed));
	return RS_EOK;
}

static rs_key_t *key_new(const uint8_t *owner, int alg, bool ksk)
{
	rs_key_t *key = calloc(1, sizeof(*key));
	if (key == NULL)
		return NULL;
	memcpy(key->owner, owner, rs_dname_len(owner, RS_NAME_MAX));
	rs_dname_lower(key->owner);
	key->alg = (uint8_t)alg;
	key->flags = RS_DNSKEY_ZONE | (ksk ? RS_DNSKEY_SEP : 0);
	return key;
}

int rs_key_generate(const uint8_t *origin, int alg, unsigned bits, bool ksk, rs_key_t **out,
		    rs_diag_t *diag)
{
	enum key_kind kind = rs_alg_kind(alg);
	if (kind == KIND_NONE)
		return rs_diag(diag, RS_EALG, "algorithm %d is not supported", alg);
	if (kind == KIND_RSA) {
		if (bits == 0)
			bits = ksk ? 2048 : 1024;
		if (bits < 1024 || bits > 4096)
			return rs_diag(diag, RS_EALG, "RSA key size %u is outside 1024..4096", bits);
	} else if (bits != 0 && bits != rs_alg_point_size(alg) * 8 && !(alg == RS_ALG_ED448 && bits == 456)) {
		return rs_diag(diag, RS_EALG, "%s keys have a fixed size", rs_alg_name(alg));
	}
	rs_key_t *key = key_new(origin, alg, ksk);
	if (key == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	switch (kind) {
	case KIND_RSA: key->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits); break;
	case KIND_EC: key->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", alg == 13 ? "P-256" : "P-384"); break;
	default: key->pkey = EVP_PKEY_Q_keygen(NULL, NULL, edname(alg)); break;
	}
	key->has_private = key->pkey != NULL;
	int ret = key->pkey == NULL ? RS_ECRYPTO : finish_public(key);
	if (ret == RS_EOK)
		ret = prepare_sodium(key);
	if (ret != RS_EOK) {
		rs_key_free(key);
		ERR_clear_error();
		return rs_diag(diag, ret, "cannot generate %s key: %s", rs_alg_name(alg), rs_strerror(ret));
	}
	*out = key;
	return RS_EOK;
}

int rs_key_from_dnskey(const uint8_t *owner, const uint8_t *rdata, size_t len, rs_key_t **out)
{
	if (len < 4 || rdata[2] != 3)
		return RS_EKEY;
	rs_key_t *key = key_new(owner, rdata[3], false);
	if (key == NULL)
		return RS_ENOMEM;
	key->flags = rs_get16(rdata);
	int ret = decode_public(key->alg, rdata + 4, len - 4, &key->pkey);
	if (ret == RS_EOK && (key->dnskey = malloc(len)) == NULL)
		ret = RS_ENOMEM;
	if (ret != RS_EOK) {
		rs_key_free(key);
		return ret;
	}
	memcpy(key->dnskey, rdata, len);
	key->dnskey_len = len;
	key->tag = rs_keytag(rdata, len);
	*out = key;
	return RS_EOK;
}

int rs_key_import_pem(const char *path, const uint8_t *origin, int alg, bool ksk, rs_key_t **out,
		      rs_diag_t *diag)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return rs_diag(diag, -errno, "cannot open '%s': %s", path, strerror(errno));
	EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pkey == NULL) {
		ERR_clear_error();
		return rs_diag(diag, RS_EKEY, "%s: not a PEM private key", path);
	}
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		alg = alg == 0 ? RS_ALG_RSASHA256 : alg;
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		char group[64] = "";
		EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL);
		alg = strcmp(group, "prime256v1") == 0 ? RS_ALG_ECDSAP256SHA256
		      : strcmp(group, "secp384r1") == 0 ? RS_ALG_ECDSAP384SHA384 : 0;
	} else if (EVP_PKEY_is_a(pkey, "ED25519")) {
		alg = RS_ALG_ED25519;
	} else if (EVP_PKEY_is_a(pkey, "ED448")) {
		alg = RS_ALG_ED448;
	} else {
		alg = 0;
	}
	if (rs_alg_kind(alg) == KIND_NONE || (rs_alg_kind(alg) == KIND_RSA) != EVP_PKEY_is_a(pkey, "RSA")) {
		EVP_PKEY_free(pkey);
		return rs_diag(diag, RS_EALG, "%s: key type has no usable DNSSEC algorithm", path);
	}
	rs_key_t *key = key_new(origin, alg, ksk);
	if (key == NULL) {
		EVP_PKEY_free(pkey);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	key->pkey = pkey;
	key->has_private = true;
	int ret = finish_public(key);
	if (ret == RS_EOK)
		ret = prepare_sodium(key);
	if (ret != RS_EOK) {
		rs_key_free(key);
		return rs_diag(diag, ret, "%s: %s", path, rs_strerror(ret));
	}
	*out = key;
	return RS_EOK;
}

/* ---- BIND key files ---------------------------------------------------- */

static const char *rsa_fields[][2] = {
	{ "Modulus", OSSL_PKEY_PARAM_RSA_N },
	{ "PublicExponent", OSSL_PKEY_PARAM_RSA_E },
	{ "PrivateExponent", OSSL_PKEY_PARAM_RSA_D },
	{ "Prime1", OSSL_PKEY_PARAM_RSA_FACTOR1 },
	{ "Prime2", OSSL_PKEY_PARAM_RSA_FACTOR2 },
	{ "Exponent1", OSSL_PKEY_PARAM_RSA_EXPONENT1 },
	{ "Exponent2", OSSL_PKEY_PARAM_RSA_EXPONENT2 },
	{ "Coefficient", OSSL_PKEY_PARAM_RSA_COEFFICIENT1 },
};
#define RSA_FIELDS (sizeof(rsa_fields) / sizeof(rsa_fields[0]))

/* Read a whole small file; caller frees (and wipes, for secrets). */
static int slurp(const char *path, char **out, size_t *len, rs_diag_t *diag)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return rs_diag(diag, -errno, "cannot open '%s': %s", path, strerror(errno));
	char *buf = malloc(65536);
	size_t n = buf != NULL ? fread(buf, 1, 65535, f) : 0;
	bool more = buf != NULL && fgetc(f) != EOF;
	fclose(f);
	if (buf == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	if (more) {
		free(buf);
		return rs_diag(diag, RS_ELIMIT, "%s:1: file too large for a key file", path);
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return RS_EOK;
}

/*
 * Split a .key file line into tokens in place: blanks and parentheses separate,
 * ';' starts a comment, and a backslash keeps the next octet in the token (an
 * owner "a\;b.example." or "a\(b.example." is one name, unescaped later).
 */
static int split_key_line(char *l, char **tok, int max)
{
	int n = 0;
	char *p = l;
	while (*p != '\0' && *p != ';') {
		if (strchr(" \t\r()", *p) != NULL) {
			*p++ = '\0';
			continue;
		}
		if (n == max)
			break;
		tok[n++] = p;
		while (*p != '\0' && strchr(" \t\r();", *p) == NULL)
			p += p[0] == '\\' && p[1] != '\0' ? 2 : 1;
	}
	*p = '\0';
	return n;
}

/* Parse the DNSKEY line of a .key file into owner, flags, alg and public key. */
static int parse_public_file(const char *path, uint8_t owner[RS_NAME_MAX], uint8_t *rdata,
			     size_t *rdata_len, uint32_t *ttl, rs_diag_t *diag)
{
	char *text;
	size_t len;
	int ret = slurp(path, &text, &len, diag);
	if (ret != RS_EOK)
		return ret;
	unsigned line = 0;
	ret = rs_diag(diag, RS_EKEY, "%s:1: no DNSKEY record found", path);
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		line++;
		char *tok[64];
		int ntok = split_key_line(l, tok, 64);
		if (ntok == 0)
			continue;
		int at = -1;
		for (int i = 1; i < ntok && i < 4; i++)
			if (strcasecmp(tok[i], "DNSKEY") == 0)
				at = i;
		if (at < 0 || ntok < at + 5) {
			ret = rs_diag(diag, RS_EKEY, "%s:%u: expected 'OWNER [TTL] [IN] DNSKEY FLAGS 3 ALG KEY'",
				      path, line);
			break;
		}
		*ttl = 0;
		for (int i = 1; i < at; i++) {
			if (isdigit((unsigned char)tok[i][0]))
				*ttl = (uint32_t)strtoul(tok[i], NULL, 10);
			else if (strcasecmp(tok[i], "IN") != 0) {
				at = -1;
				break;
			}
		}
		char *end1, *end2, *end3;
		unsigned long flags = at > 0 ? strtoul(tok[at + 1], &end1, 10) : 0;
		unsigned long proto = at > 0 ? strtoul(tok[at + 2], &end2, 10) : 0;
		unsigned long alg = at > 0 ? strtoul(tok[at + 3], &end3, 10) : 0;
		if (at < 0 || rs_dname_from_str(tok[0], owner) != RS_EOK || *end1 || *end2 || *end3 ||
		    flags > 0xffff || proto != 3 || alg > 255) {
			ret = rs_diag(diag, RS_EKEY, "%s:%u: malformed DNSKEY record", path, line);
			break;
		}
		char b64[4096] = "";
		size_t blen = 0;
		for (int i = at + 4; i < ntok; i++) {
			size_t tl = strlen(tok[i]);
			if (blen + tl >= sizeof(b64))
				break;
			memcpy(b64 + blen, tok[i], tl);
			blen += tl;
		}
		int klen = rs_base64_decode(b64, blen, rdata + 4, 4096 - 4);
		if (klen <= 0) {
			ret = rs_diag(diag, RS_EKEY, "%s:%u: public key is not valid base64", path, line);
			break;
		}
		rs_put16(rdata, (uint16_t)flags);
		rdata[2] = 3;
		rdata[3] = (uint8_t)alg;
		*rdata_len = (size_t)klen + 4;
		ret = RS_EOK;
		break;
	}
	free(text);
	return ret;
}

/* Fields of a .private file, with the line each came from. */
struct priv_fields {
	int alg;
	unsigned alg_line;
	uint8_t *val[RSA_FIELDS];
	size_t len[RSA_FIELDS];
	uint8_t *priv; /* ECDSA/EdDSA PrivateKey */
	size_t priv_len;
};

static void priv_fields_clear(struct priv_fields *pf)
{
	for (size_t i = 0; i < RSA_FIELDS; i++) {
		rs_wipe(pf->val[i], pf->len[i]);
		free(pf->val[i]);
	}
	rs_wipe(pf->priv, pf->priv_len);
	free(pf->priv);
}

static int parse_private_file(const char *path, struct priv_fields *pf, rs_diag_t *diag)
{
	char *text;
	size_t len;
	int ret = slurp(path, &text, &len, diag);
	if (ret != RS_EOK)
		return ret;
	memset(pf, 0, sizeof(*pf));
	pf->alg = -1;
	unsigned line = 0;
	ret = RS_EOK;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l != NULL && ret == RS_EOK; l = strtok_r(NULL, "\n", &save)) {
		line++;
		size_t ll = strlen(l);
		if (ll > 0 && l[ll - 1] == '\r')
			l[--ll] = '\0';
		if (ll == 0)
			continue;
		char *colon = strchr(l, ':');
		if (colon == NULL) {
			ret = rs_diag(diag, RS_EKEY, "%s:%u: expected 'Field: value'", path, line);
			break;
		}
		*colon = '\0';
		char *val = colon + 1;
		while (*val == ' ' || *val == '\t')
			val++;
		if (strcmp(l, "Private-key-format") == 0) {
			if (strncmp(val, "v1.", 3) != 0)
				ret = rs_diag(diag, RS_EKEY, "%s:%u: unsupported private key format '%s'", path, line, val);
			continue;
		}
		if (strcmp(l, "Algorithm") == 0) {
			char *end;
			pf->alg = (int)strtol(val, &end, 10);
			pf->alg_line = line;
			if (end == val)
				ret = rs_diag(diag, RS_EKEY, "%s:%u: malformed algorithm", path, line);
			continue;
		}
		uint8_t **dst = NULL;
		size_t *dlen = NULL;
		if (strcmp(l, "PrivateKey") == 0) {
			dst = &pf->priv;
			dlen = &pf->priv_len;
		}
		for (size_t i = 0; i < RSA_FIELDS; i++) {
			if (strcmp(l, rsa_fields[i][0]) == 0) {
				dst = &pf->val[i];
				dlen = &pf->len[i];
			}
		}
		if (dst == NULL)
			continue; /* timing metadata and fields of other tools */
		uint8_t *bin = malloc(strlen(val) + 4);
		int n = bin != NULL ? rs_base64_decode(val, strlen(val), bin, strlen(val) + 4) : RS_ENOMEM;
		if (n <= 0) {
			free(bin);
			ret = rs_diag(diag, RS_EKEY, "%s:%u: field '%s' is not valid base64", path, line, l);
			break;
		}
		if (*dst != NULL) {
			rs_wipe(*dst, *dlen);
			free(*dst);
		}
		*dst = bin;
		*dlen = (size_t)n;
	}
	rs_wipe(text, len);
	free(text);
	if (ret == RS_EOK && pf->alg < 0)
		ret = rs_diag(diag, RS_EKEY, "%s:%u: no 'Algorithm' field", path, line);
	if (ret != RS_EOK)
		priv_fields_clear(pf);
	return ret;
}

static int build_private(rs_key_t *key, const struct priv_fields *pf, const char *path, rs_diag_t *diag)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *bn[RSA_FIELDS] = { 0 };
	switch (rs_alg_kind(key->alg)) {
	case KIND_RSA:
		for (size_t i = 0; i < RSA_FIELDS; i++)
			if (pf->val[i] == NULL)
				return rs_diag(diag, RS_EKEY, "%s: missing field '%s'", path, rsa_fields[i][0]);
		bld = OSSL_PARAM_BLD_new();
		for (size_t i = 0; bld != NULL && i < RSA_FIELDS; i++) {
			bn[i] = BN_secure_new();
			if (bn[i] == NULL || BN_bin2bn(pf->val[i], (int)pf->len[i], bn[i]) == NULL ||
			    !OSSL_PARAM_BLD_push_BN(bld, rsa_fields[i][1], bn[i]))
				break;
		}
		params = bld != NULL ? OSSL_PARAM_BLD_to_param(bld) : NULL;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
		if (params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) > 0)
			EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params);
		for (size_t i = 0; i < RSA_FIELDS; i++)
			BN_clear_free(bn[i]);
		OSSL_PARAM_free(params);
		OSSL_PARAM_BLD_free(bld);
		break;
	case KIND_EC: {
		size_t psize = rs_alg_point_size(key->alg);
		if (pf->priv == NULL || pf->priv_len != psize)
			return rs_diag(diag, RS_EKEY, "%s: 'PrivateKey' must hold %zu octets", path, psize);
		uint8_t point[1 + 2 * 48];
		point[0] = 0x04;
		memcpy(point + 1, key->dnskey + 4, 2 * psize);
		BIGNUM *d = BN_secure_new();
		bld = OSSL_PARAM_BLD_new();
		if (d != NULL && bld != NULL && BN_bin2bn(pf->priv, (int)psize, d) != NULL &&
		    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve_name(key->alg), 0) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) &&
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * psize))
			params = OSSL_PARAM_BLD_to_param(bld);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) > 0)
			EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params);
		BN_clear_free(d);
		OSSL_PARAM_free(params);
		OSSL_PARAM_BLD_free(bld);
		break;
	}
	case KIND_EDDSA:
		if (pf->priv == NULL || pf->priv_len != rs_alg_point_size(key->alg))
			return rs_diag(diag, RS_EKEY, "%s: 'PrivateKey' must hold %zu octets", path,
				       rs_alg_point_size(key->alg));
		pkey = EVP_PKEY_new_raw_private_key_ex(NULL, edname(key->alg), NULL, pf->priv, pf->priv_len);
		break;
	default:
		return rs_diag(diag, RS_EALG, "%s: algorithm %d is not supported", path, key->alg);
	}
	EVP_PKEY_CTX_free(ctx);
	if (pkey == NULL) {
		ERR_clear_error();
		return rs_diag(diag, RS_EKEY, "%s: private key is malformed", path);
	}
	/* The private key must be the partner of the published public key. */
	uint8_t pub[2048];
	int n = encode_public(pkey, key->alg, pub, sizeof(pub));
	bool agree = n == (int)key->dnskey_len - 4 && memcmp(pub, key->dnskey + 4, (size_t)n) == 0;
	if (agree && rs_alg_kind(key->alg) != KIND_EDDSA) {
		EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		agree = chk != NULL && EVP_PKEY_pairwise_check(chk) == 1;
		EVP_PKEY_CTX_free(chk);
	}
	if (!agree) {
		EVP_PKEY_free(pkey);
		ERR_clear_error();
		return rs_diag(diag, RS_EKEY, "%s: private key does not match the public key", path);
	}
	EVP_PKEY_free(key->pkey);
	key->pkey = pkey;
	key->has_private = true;
	int ret = prepare_sodium(key);
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "%s: %s", path, rs_strerror(ret));
	return RS_EOK;
}

int rs_key_load(const char *path, bool need_private, rs_key_t **out, rs_diag_t *diag)
{
	char base[4096], file[4200];
	size_t plen = strlen(path);
	if (plen >= sizeof(base))
		return rs_diag(diag, RS_EINVAL, "key path too long");
	memcpy(base, path, plen + 1);
	if (plen > 4 && strcmp(base + plen - 4, ".key") == 0)
		base[plen - 4] = '\0';
	else if (plen > 8 && strcmp(base + plen - 8, ".private") == 0)
		base[plen - 8] = '\0';

	uint8_t owner[RS_NAME_MAX], rdata[4096];
	size_t rdlen = 0;
	uint32_t ttl;
	snprintf(file, sizeof(file), "%s.key", base);
	int ret = parse_public_file(file, owner, rdata, &rdlen, &ttl, diag);
	if (ret != RS_EOK)
		return ret;
	rs_key_t *key;
	ret = rs_key_from_dnskey(owner, rdata, rdlen, &key);
	if (ret == RS_EALG || (ret == RS_EKEY && !rs_alg_supported(rdata[3])))
		return rs_diag(diag, RS_EALG, "%s:1: algorithm %u is not supported", file, rdata[3]);
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "%s: malformed public key: %s", file, rs_strerror(ret));

	snprintf(file, sizeof(file), "%s.private", base);
	if (access(file, F_OK) != 0) {
		if (!need_private) {
			*out = key;
			return RS_EOK;
		}
		rs_key_free(key);
		return rs_diag(diag, RS_ENOKEY, "cannot open private key '%s': %s", file, strerror(errno));
	}
	struct priv_fields pf;
	ret = parse_private_file(file, &pf, diag);
	if (ret == RS_EOK) {
		if (pf.alg != key->alg)
			ret = rs_diag(diag, RS_EKEY, "%s:%u: algorithm %d disagrees with the public key's %d",
				      file, pf.alg_line, pf.alg, key->alg);
		else
			ret = build_private(key, &pf, file, diag);
		priv_fields_clear(&pf);
	}
	if (ret != RS_EOK) {
		rs_key_free(key);
		return ret;
	}
	*out = key;
	return RS_EOK;
}

static void put_b64_field(FILE *f, const char *name, const uint8_t *data, size_t len)
{
	char *b64 = malloc(len * 4 / 3 + 8);
	if (b64 == NULL)
		return;
	size_t n = rs_base64_encode(data, len, b64);
	fprintf(f, "%s: %s\n", name, b64);
	rs_wipe(b64, n);
	free(b64);
}

static int write_private(const rs_key_t *key, FILE *f, const char *stamp)
{
	fprintf(f, "Private-key-format: v1.3\nAlgorithm: %d (%s)\n", key->alg, rs_alg_name(key->alg));
	switch (rs_alg_kind(key->alg)) {
	case KIND_RSA:
		for (size_t i = 0; i < RSA_FIELDS; i++) {
			BIGNUM *bn = NULL;
			if (!EVP_PKEY_get_bn_param(key->pkey, rsa_fields[i][1], &bn))
				return RS_ECRYPTO;
			uint8_t buf[1024];
			int n = BN_bn2bin(bn, buf);
			BN_clear_free(bn);
			put_b64_field(f, rsa_fields[i][0], buf, (size_t)n);
			rs_wipe(buf, sizeof(buf));
		}
		break;
	case KIND_EC: {
		BIGNUM *d = NULL;
		uint8_t buf[48];
		size_t psize = rs_alg_point_size(key->alg);
		if (!EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d))
			return RS_ECRYPTO;
		BN_bn2binpad(d, buf, (int)psize);
		BN_clear_free(d);
		put_b64_field(f, "PrivateKey", buf, psize);
		rs_wipe(buf, sizeof(buf));
		break;
	}
	case KIND_EDDSA: {
		uint8_t buf[57];
		size_t len = sizeof(buf);
		if (!EVP_PKEY_get_raw_private_key(key->pkey, buf, &len))
			return RS_ECRYPTO;
		put_b64_field(f, "PrivateKey", buf, len);
		rs_wipe(buf, sizeof(buf));
		break;
	}
	default:
		return RS_EALG;
	}
	fprintf(f, "Created: %s\nPublish: %s\nActivate: %s\n", stamp, stamp, stamp);
	return RS_EOK;
}

int rs_key_file_name(const rs_key_t *key, char *out, size_t max)
{
	char owner[1024];
	/* BIND's naming: the owner in file-name form with its trailing dot, "Kexample.+013+12345". */
	if (rs_dname_to_filename(key->owner, true, owner, sizeof(owner)) < 0)
		return RS_ELIMIT;
	int n = snprintf(out, max, "K%s+%03d+%05u", owner, key->alg, key->tag);
	return n >= 0 && (size_t)n < max ? RS_EOK : RS_ELIMIT;
}

int rs_key_files_free(const char *dir, const char *basename, rs_diag_t *diag)
{
	static const char *const ext[] = { ".private", ".key" };
	char path[4400];
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s%s", dir, basename, ext[i]);
		if (access(path, F_OK) == 0)
			return rs_diag(diag, -EEXIST, "%s/%s: a key with that name exists", dir, basename);
	}
	return RS_EOK;
}

int rs_key_save(const rs_key_t *key, const char *dir, int64_t now, uint32_t ttl, char *basename,
		size_t basename_max, rs_diag_t *diag)
{
	if (!key->has_private || key->ext != NULL)
		return rs_diag(diag, RS_ENOKEY, "key %u has no private part to save", key->tag);
	char owner[1024], path[4200], stamp[15];
	rs_dname_to_str(key->owner, owner, sizeof(owner));
	rs_time_format(now, stamp);
	if (rs_key_file_name(key, basename, basename_max) != RS_EOK)
		return rs_diag(diag, RS_ELIMIT, "key file name too long");

	uint8_t *pub = key->dnskey + 4;
	size_t publen = key->dnskey_len - 4;
	char *b64 = malloc(publen * 4 / 3 + 8);
	if (b64 == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	rs_base64_encode(pub, publen, b64);

	rs_outfile_t *out;
	snprintf(path, sizeof(path), "%s/%s.private", dir, basename);
	int ret = rs_outfile_open(path, 0600, &out, diag);
	if (ret == RS_EOK) {
		ret = write_private(key, rs_outfile_stream(out), stamp);
		if (ret == RS_EOK)
			ret = rs_outfile_commit(out, diag);
		else
			rs_outfile_abort(out);
	}
	if (ret == RS_EOK) {
		snprintf(path, sizeof(path), "%s/%s.key", dir, basename);
		ret = rs_outfile_open(path, 0644, &out, diag);
	}
	if (ret == RS_EOK) {
		FILE *f = rs_outfile_stream(out);
		fprintf(f, "; This is a %s key, keyid %u, for %s\n",
			rs_key_is_ksk(key) ? "key-signing" : "zone-signing", key->tag, owner);
		fprintf(f, "; Created: %s\n; Publish: %s\n; Activate: %s\n", stamp, stamp, stamp);
		if (ttl > 0)
			fprintf(f, "%s %u IN DNSKEY %u 3 %u %s\n", owner, ttl, key->flags, key->alg, b64);
		else
			fprintf(f, "%s IN DNSKEY %u 3 %u %s\n", owner, key->flags, key->alg, b64);
		ret = rs_outfile_commit(out, diag);
	}
	free(b64);
	return ret;
}
