/*
 * m-of-n shares: Shamir's secret sharing, one polynomial of degree m-1 per
 * secret octet over GF(2^8) with the AES polynomial, share i = the
 * polynomials at x = i. Arithmetic without tables or branches on secret data,
 * so timing does not depend on the secret.
 *
 * A share's text is meant to be printed and typed in again: labelled lines,
 * the data in hex groups, and a closing checksum over the lines above it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <sodium.h>

#include "regsign/hsm.h"

static uint8_t gf_mul(uint8_t a, uint8_t b)
{
	uint8_t r = 0;
	for (int i = 0; i < 8; i++) {
		r ^= (uint8_t)(-(b & 1) & a);
		a = (uint8_t)((a << 1) ^ (-(a >> 7) & 0x1b));
		b >>= 1;
	}
	return r;
}

/* a^254 = a^-1 in GF(2^8) (0 stays 0, never asked for). */
static uint8_t gf_inv(uint8_t a)
{
	uint8_t r = 1, p = a;
	for (int e = 254; e > 0; e >>= 1) {
		if (e & 1)
			r = gf_mul(r, p);
		p = gf_mul(p, p);
	}
	return r;
}

const char *rs_share_kind_name(rs_share_kind_t kind)
{
	static const char *const names[] = { "activation", "admin", "backup" };
	return names[kind];
}

/* A check value of the secret: with it a combination of wrong shares is caught, it tells nothing else. */
static void check_value(const uint8_t *secret, size_t len, uint8_t out[8])
{
	uint8_t md[crypto_hash_sha256_BYTES], buf[19 + RS_SECRET_MAX];
	memcpy(buf, "regsign share check", 19);
	memcpy(buf + 19, secret, len);
	crypto_hash_sha256(md, buf, 19 + len);
	memcpy(out, md, 8);
	rs_wipe(buf, sizeof(buf));
}

int rs_share_split(rs_share_kind_t kind, const uint8_t *secret, size_t len, unsigned threshold, unsigned count,
		   rs_share_t *shares)
{
	if (threshold < 1 || threshold > count || count > 255 || len == 0 || len > RS_SECRET_MAX)
		return RS_EINVAL;
	uint8_t set[8], check[8], coef[256];
	randombytes_buf(set, sizeof(set));
	check_value(secret, len, check);
	for (unsigned i = 0; i < count; i++) {
		shares[i] = (rs_share_t){ .kind = kind, .index = i + 1, .threshold = threshold, .count = count,
					  .len = len };
		memcpy(shares[i].set, set, 8);
		memcpy(shares[i].check, check, 8);
	}
	for (size_t b = 0; b < len; b++) {
		coef[0] = secret[b];
		randombytes_buf(coef + 1, threshold - 1);
		for (unsigned i = 0; i < count; i++) {
			/* Horner: f(x) = c0 + x (c1 + x (c2 + ...)). */
			uint8_t x = (uint8_t)(i + 1), y = 0;
			for (unsigned k = threshold; k-- > 0;)
				y = gf_mul(y, x) ^ coef[k];
			shares[i].data[b] = y;
		}
	}
	rs_wipe(coef, sizeof(coef));
	return RS_EOK;
}

int rs_share_combine(const rs_share_t *shares, size_t n, uint8_t *secret, size_t *len, rs_diag_t *diag)
{
	if (n == 0)
		return rs_diag(diag, RS_EINVAL, "no shares given");
	const rs_share_t *s0 = &shares[0];
	for (size_t i = 0; i < n; i++) {
		const rs_share_t *s = &shares[i];
		if (s->kind != s0->kind || memcmp(s->set, s0->set, 8) != 0 || s->len != s0->len ||
		    s->threshold != s0->threshold)
			return rs_diag(diag, RS_EINVAL, "share %zu is from another set than share 1", i + 1);
		for (size_t j = 0; j < i; j++)
			if (shares[j].index == s->index)
				return rs_diag(diag, RS_EINVAL, "share %u is given twice", s->index);
	}
	if (n < s0->threshold)
		return rs_diag(diag, RS_EINVAL, "%zu %s share(s) given, %u needed", n, rs_share_kind_name(s0->kind),
			       s0->threshold);
	n = s0->threshold;
	/* Lagrange at x = 0: secret = sum y_i * prod_{j != i} x_j / (x_j - x_i); minus is xor here. */
	uint8_t basis[255];
	for (size_t i = 0; i < n; i++) {
		uint8_t num = 1, den = 1;
		for (size_t j = 0; j < n; j++)
			if (j != i) {
				num = gf_mul(num, (uint8_t)shares[j].index);
				den = gf_mul(den, (uint8_t)(shares[j].index ^ shares[i].index));
			}
		basis[i] = gf_mul(num, gf_inv(den));
	}
	for (size_t b = 0; b < s0->len; b++) {
		uint8_t v = 0;
		for (size_t i = 0; i < n; i++)
			v ^= gf_mul(shares[i].data[b], basis[i]);
		secret[b] = v;
	}
	uint8_t check[8];
	check_value(secret, s0->len, check);
	if (sodium_memcmp(check, s0->check, 8) != 0) {
		rs_wipe(secret, s0->len);
		return rs_diag(diag, RS_EDENIED, "the %s shares do not combine to the secret (a share is damaged)",
			       rs_share_kind_name(s0->kind));
	}
	*len = s0->len;
	return RS_EOK;
}

static void hex(rs_buf_t *out, const uint8_t *p, size_t n)
{
	char text[2 * RS_SECRET_MAX + 1];
	sodium_bin2hex(text, sizeof(text), p, n);
	rs_buf_append(out, text, 2 * n);
	sodium_memzero(text, sizeof(text));
}

/* First 4 octets of SHA-256 over text, as 8 hex digits. */
static void checksum(const char *text, size_t len, char out[9])
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	SHA256((const uint8_t *)text, len, md);
	sodium_bin2hex(out, 9, md, 4);
}

int rs_share_format(const rs_share_t *s, rs_buf_t *out)
{
	rs_buf_printf(out, "regsign share v1\nkind: %s\nset: ", rs_share_kind_name(s->kind));
	hex(out, s->set, 8);
	rs_buf_printf(out, "\nshare: %u of %u, any %u restore the secret\ncheck: ", s->index, s->count,
		      s->threshold);
	hex(out, s->check, 8);
	rs_buf_printf(out, "\ndata:");
	for (size_t i = 0; i < s->len; i += 2) {
		rs_buf_printf(out, " ");
		hex(out, s->data + i, s->len - i < 2 ? 1 : 2);
	}
	rs_buf_printf(out, "\n");
	char sum[9];
	checksum((const char *)out->data, out->len, sum);
	return rs_buf_printf(out, "checksum: %s\n", sum);
}

/* Hex octets, spaces between octets allowed. */
static int parse_hex(const char *p, uint8_t *out, size_t max, size_t *n)
{
	const char *end;
	return sodium_hex2bin(out, max, p, strlen(p), " ", n, &end) == 0 && *end == '\0' ? RS_EOK : RS_ESYNTAX;
}

int rs_share_parse(const char *text, size_t len, const char *label, rs_share_t *out, rs_diag_t *diag)
{
	rs_share_t s = { 0 };
	enum { F_HEAD, F_KIND, F_SET, F_SHARE, F_CHECK, F_DATA, F_SUM, F_COUNT };
	static const char *const names[F_COUNT] = { "regsign share v1", "kind: ", "set: ", "share: ",
						    "check: ", "data:", "checksum: " };
	size_t at = 0, line = 0;
	for (int field = 0; field < F_COUNT; field++) {
		line++;
		size_t end = at;
		while (end < len && text[end] != '\n')
			end++;
		char buf[512];
		size_t n = end - at;
		if (n >= sizeof(buf) || memchr(text + at, '\0', n) != NULL)
			return rs_diag(diag, RS_ESYNTAX, "%s:%zu: line too long or not text", label, line);
		memcpy(buf, text + at, n);
		buf[n] = '\0';
		if (n > 0 && buf[n - 1] == '\r')
			buf[--n] = '\0';
		size_t nl = strlen(names[field]);
		if (strncmp(buf, names[field], nl) != 0 || (field == F_HEAD && n != nl))
			return rs_diag(diag, RS_ESYNTAX, "%s:%zu: expected '%s'", label, line, names[field]);
		const char *v = buf + nl;
		size_t got;
		int ok = 1;
		switch (field) {
		case F_KIND:
			if (strcmp(v, "activation") == 0)
				s.kind = RS_SHARE_ACTIVATION;
			else if (strcmp(v, "admin") == 0)
				s.kind = RS_SHARE_ADMIN;
			else if (strcmp(v, "backup") == 0)
				s.kind = RS_SHARE_BACKUP;
			else
				ok = 0;
			break;
		case F_SET: ok = parse_hex(v, s.set, 8, &got) == RS_EOK && got == 8; break;
		case F_SHARE: {
			int used = 0;
			ok = sscanf(v, "%u of %u, any %u restore the secret%n", &s.index, &s.count, &s.threshold,
				    &used) == 3 && v[used] == '\0' && s.index >= 1 && s.index <= s.count &&
			     s.count <= 255 && s.threshold >= 1 && s.threshold <= s.count;
			break;
		}
		case F_CHECK: ok = parse_hex(v, s.check, 8, &got) == RS_EOK && got == 8; break;
		case F_DATA:
			ok = parse_hex(v, s.data, RS_SECRET_MAX, &s.len) == RS_EOK && s.len > 0;
			break;
		case F_SUM: {
			char sum[9];
			checksum(text, at, sum);
			if (strcmp(v, sum) != 0) {
				rs_wipe(&s, sizeof(s));
				rs_wipe(buf, sizeof(buf));
				return rs_diag(diag, RS_EINVAL, "%s:%zu: checksum mismatch: the share was altered or "
					       "mistyped", label, line);
			}
			break;
		}
		}
		rs_wipe(buf, sizeof(buf));
		if (!ok) {
			rs_wipe(&s, sizeof(s));
			return rs_diag(diag, RS_ESYNTAX, "%s:%zu: malformed '%.*s' line", label, line,
				       (int)strcspn(names[field], ":"), names[field]);
		}
		at = end < len ? end + 1 : end;
	}
	for (; at < len; at++)
		if (text[at] != '\n' && text[at] != '\r' && text[at] != ' ')
			return rs_diag(diag, RS_ESYNTAX, "%s:%zu: text after the checksum", label, line + 1);
	*out = s;
	rs_wipe(&s, sizeof(s));
	return RS_EOK;
}
