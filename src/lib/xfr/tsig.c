/*
 * tsig: the text forms of TSIG keys ("NAME:ALG:BASE64", as knotc and dig -y
 * take them) and of secondaries ("ADDR[@PORT]").
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "regsign/dns.h"
#include "regsign/xfr.h"
#include "internal.h"

/* RFC 8945 6 (IANA "TSIG Algorithm Names"); hmac-md5 is in the registry as
 * hmac-md5.sig-alg.reg.int. */
/* clang-format off */
static const struct {
	const char *name;
	dnssec_tsig_algorithm_t alg;
} tsig_algs[] = {
	{ "hmac-md5", DNSSEC_TSIG_HMAC_MD5 },
	{ "hmac-sha1", DNSSEC_TSIG_HMAC_SHA1 },
	{ "hmac-sha224", DNSSEC_TSIG_HMAC_SHA224 },
	{ "hmac-sha256", DNSSEC_TSIG_HMAC_SHA256 },
	{ "hmac-sha384", DNSSEC_TSIG_HMAC_SHA384 },
	{ "hmac-sha512", DNSSEC_TSIG_HMAC_SHA512 },
};
/* clang-format on */

static const char *algorithm_name(const char *text, size_t len)
{
	for (size_t i = 0; i < sizeof(tsig_algs) / sizeof(tsig_algs[0]); i++)
		if (strlen(tsig_algs[i].name) == len && strncasecmp(tsig_algs[i].name, text, len) == 0)
			return tsig_algs[i].name;
	return NULL;
}

static bool is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/*
 * Strict base64 (RFC 4648 4): whole quanta, padding only at the end, no
 * whitespace. EVP_DecodeBlock alone would skip blanks and count padding.
 */
static int b64_decode(const char *text, size_t len, uint8_t *out, size_t max, size_t *out_len)
{
	if (len == 0 || len % 4 != 0 || len / 4 * 3 > max + 2)
		return RS_ESYNTAX;
	size_t pad = 0;
	if (text[len - 1] == '=')
		pad = text[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len - pad; i++)
		if (!is_b64(text[i]))
			return RS_ESYNTAX;
	uint8_t buf[128];
	if (len / 4 * 3 > sizeof(buf))
		return RS_ESYNTAX;
	int n = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)len);
	if (n < 0 || (size_t)n < pad || (size_t)n - pad > max) {
		rs_wipe(buf, sizeof(buf));
		return RS_ESYNTAX;
	}
	memcpy(out, buf, (size_t)n - pad);
	*out_len = (size_t)n - pad;
	rs_wipe(buf, sizeof(buf));
	return RS_EOK;
}

int rs_tsig_key_parse(const char *text, rs_tsig_key_t *out, rs_diag_t *diag)
{
	if (text == NULL)
		return rs_diag(diag, RS_ESYNTAX, "no TSIG key given");
	/* The secret is after the last colon: names and algorithms have none. */
	const char *c1 = strchr(text, ':');
	const char *c2 = strrchr(text, ':');
	if (c1 == NULL)
		return rs_diag(diag, RS_ESYNTAX, "TSIG key is not NAME:ALG:SECRET or NAME:SECRET");
	const char *secret = c2 + 1;
	const char *alg = "hmac-sha256";
	const char *ntext = text;
	size_t nlen = (size_t)(c1 - text);
	if (c1 != c2) {
		size_t mlen = (size_t)(c2 - c1 - 1);
		const char *mid = algorithm_name(c1 + 1, mlen);
		const char *first = algorithm_name(text, nlen);
		if (mid != NULL && memchr(c1 + 1, ':', mlen) == NULL) {
			alg = mid;
		} else if (first != NULL && memchr(c1 + 1, ':', mlen) == NULL) {
			/* dig -y and kdig -y put the algorithm first: ALG:NAME:SECRET. */
			alg = first;
			ntext = c1 + 1;
			nlen = mlen;
		} else {
			return rs_diag(diag, RS_ESYNTAX,
				       "TSIG key: unknown algorithm '%.*s' (hmac-md5, hmac-sha1, "
				       "hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512)",
				       (int)(mlen > 32 ? 32 : mlen), c1 + 1);
		}
	}
	if (nlen == 0)
		return rs_diag(diag, RS_ESYNTAX, "TSIG key: empty name");
	if (nlen > 254)
		return rs_diag(diag, RS_ESYNTAX, "TSIG key: name too long");
	char name[256];
	memcpy(name, ntext, nlen);
	name[nlen] = '\0';
	uint8_t w[RS_NAME_MAX];
	if (rs_dname_from_str(name, w) != RS_EOK)
		return rs_diag(diag, RS_ESYNTAX, "TSIG key: bad name '%s'", name);

	rs_tsig_key_t k;
	memset(&k, 0, sizeof(k));
	/* The name as TSIG compares it: lowercase presentation form with the final dot. */
	if (rs_dname_to_str(w, k.name, sizeof(k.name)) < 0)
		return rs_diag(diag, RS_ESYNTAX, "TSIG key: bad name '%s'", name);
	memcpy(k.algorithm, alg, strlen(alg) + 1);
	if (b64_decode(secret, strlen(secret), k.secret, sizeof(k.secret), &k.secret_len) !=
	    RS_EOK) {
		rs_wipe(&k, sizeof(k));
		return rs_diag(diag, RS_ESYNTAX,
			       "TSIG key '%s': secret is not base64 of 1 to %zu octets", name,
			       sizeof(k.secret));
	}
	if (k.secret_len == 0) {
		rs_wipe(&k, sizeof(k));
		return rs_diag(diag, RS_ESYNTAX, "TSIG key '%s': empty secret", name);
	}
	*out = k;
	rs_wipe(&k, sizeof(k));
	return RS_EOK;
}

int rs_secondary_parse(const char *text, rs_secondary_t *s, rs_diag_t *diag)
{
	struct sockaddr_storage ss;
	socklen_t len;
	rs_diag_t why;
	if (rs_addr_parse(text, 53, &ss, &len, &why) != RS_EOK)
		return rs_diag(diag, RS_ESYNTAX, "secondary %s", why.text);
	s->addr = ss;
	s->addr_len = len;
	return RS_EOK;
}

/* ---- libknot's view ---- */


int xfr_knot_key(const rs_tsig_key_t *key, uint8_t *name_buf, knot_tsig_key_t *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(tsig_algs) / sizeof(tsig_algs[0]); i++)
		if (strcasecmp(key->algorithm, tsig_algs[i].name) == 0)
			out->algorithm = tsig_algs[i].alg;
	if (out->algorithm == DNSSEC_TSIG_UNKNOWN || key->secret_len == 0 ||
	    key->secret_len > sizeof(key->secret) ||
	    memchr(key->name, '\0', sizeof(key->name)) == NULL)
		return RS_EKEY;
	if (knot_dname_from_str(name_buf, key->name, KNOT_DNAME_MAXLEN) == NULL)
		return RS_EKEY;
	knot_dname_to_lower(name_buf);
	out->name = name_buf;
	out->secret.data = (uint8_t *)key->secret;
	out->secret.size = key->secret_len;
	return RS_EOK;
}
