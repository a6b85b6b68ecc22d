/* Algorithm table, key tags, DS digests and NSEC3 hashing. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>

#include "regsign/crypto.h"
#include "regsign/dns.h"

static const struct {
	int num;
	const char *name;
} algs[] = {
	{ RS_ALG_RSASHA1, "RSASHA1" },
	{ RS_ALG_RSASHA1_NSEC3_SHA1, "NSEC3RSASHA1" },
	{ RS_ALG_RSASHA256, "RSASHA256" },
	{ RS_ALG_RSASHA512, "RSASHA512" },
	{ RS_ALG_ECDSAP256SHA256, "ECDSAP256SHA256" },
	{ RS_ALG_ECDSAP384SHA384, "ECDSAP384SHA384" },
	{ RS_ALG_ED25519, "ED25519" },
	{ RS_ALG_ED448, "ED448" },
};

const char *rs_alg_name(int alg)
{
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (algs[i].num == alg)
			return algs[i].name;
	return NULL;
}

int rs_alg_from_str(const char *text, int *alg)
{
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (strcasecmp(text, algs[i].name) == 0) {
			*alg = algs[i].num;
			return RS_EOK;
		}
	}
	if (strcasecmp(text, "RSASHA1-NSEC3-SHA1") == 0) {
		*alg = RS_ALG_RSASHA1_NSEC3_SHA1;
		return RS_EOK;
	}
	char *end;
	long n = strtol(text, &end, 10);
	if (*text != '\0' && *end == '\0' && rs_alg_name((int)n) != NULL) {
		*alg = (int)n;
		return RS_EOK;
	}
	return RS_EALG;
}

bool rs_alg_supported(int alg)
{
	return rs_alg_name(alg) != NULL;
}

bool rs_alg_legacy(int alg)
{
	return alg == RS_ALG_RSASHA1 || alg == RS_ALG_RSASHA1_NSEC3_SHA1;
}

bool rs_alg_nsec3_ok(int alg)
{
	return alg != RS_ALG_RSASHA1 && alg != 3 && alg != 1;
}

uint16_t rs_keytag(const uint8_t *rdata, size_t len)
{
	uint32_t ac = 0;
	for (size_t i = 0; i < len; i++)
		ac += (i & 1) ? rdata[i] : (uint32_t)rdata[i] << 8;
	ac += (ac >> 16) & 0xffff;
	return (uint16_t)(ac & 0xffff);
}

int rs_ds_make(const uint8_t *owner, const uint8_t *dnskey, size_t dnskey_len, int digest,
	       uint8_t *out, size_t max)
{
	uint8_t data[RS_NAME_MAX + 4096];
	size_t owner_len = rs_dname_len(owner, RS_NAME_MAX);
	if (owner_len == 0 || dnskey_len < 4 || owner_len + dnskey_len > sizeof(data))
		return RS_EINVAL;
	memcpy(data, owner, owner_len);
	rs_dname_lower(data);
	memcpy(data + owner_len, dnskey, dnskey_len);
	size_t dlen;
	switch (digest) {
	case RS_DS_SHA1: dlen = 20; break;
	case RS_DS_SHA256: dlen = 32; break;
	case RS_DS_SHA384: dlen = 48; break;
	default: return RS_EALG;
	}
	if (max < 4 + dlen)
		return RS_ELIMIT;
	rs_put16(out, rs_keytag(dnskey, dnskey_len));
	out[2] = dnskey[3];
	out[3] = (uint8_t)digest;
	size_t n = owner_len + dnskey_len;
	if (digest == RS_DS_SHA1)
		SHA1(data, n, out + 4);
	else if (digest == RS_DS_SHA256)
		SHA256(data, n, out + 4);
	else
		SHA384(data, n, out + 4);
	return (int)(4 + dlen);
}

int rs_nsec3_hash(const uint8_t *name, size_t name_len, const uint8_t *salt, size_t salt_len,
		  unsigned iterations, uint8_t out[20])
{
	uint8_t buf[RS_NAME_MAX + 256];
	if (name_len > RS_NAME_MAX || salt_len > 255)
		return RS_EINVAL;
	memcpy(buf, name, name_len);
	rs_dname_lower(buf);
	memcpy(buf + name_len, salt, salt_len);
	SHA1(buf, name_len + salt_len, out);
	for (unsigned i = 0; i < iterations; i++) {
		memcpy(buf, out, 20);
		memcpy(buf + 20, salt, salt_len);
		SHA1(buf, 20 + salt_len, out);
	}
	return RS_EOK;
}
