/* Canonical RDATA: where names sit inside RDATA, and their lowercasing. */
#include <string.h>

#include "regsign/dns.h"

/*
 * Layouts of the RDATA types whose embedded names RFC 4034 6.2 (with RFC
 * 6840 5.1) lowercases: a digit skips that many octets (a leading '1' with
 * digit pairs is not needed: the widest fixed part is 18), 'N' is a name,
 * 'S' a <character-string>. What follows the layout is left as it is.
 */
static const char *layout(uint16_t type)
{
	switch (type) {
	case 2: case 3: case 4: case 5: case 7: case 8: case 9: case 12: case 39:
		return "N";  /* NS MD MF CNAME MB MG MR PTR DNAME */
	case 6: return "NN";       /* SOA, then 20 octets */
	case 14: return "NN";      /* MINFO */
	case 17: return "NN";      /* RP */
	case 15: case 18: case 21: case 36:
		return "\002N";      /* MX AFSDB RT KX */
	case 26: return "\002NN";  /* PX */
	case 24: case 46:
		return "\022N";      /* SIG RRSIG: 18 octets, signer name */
	case 30: return "N";       /* NXT */
	case 33: return "\006N";   /* SRV */
	case 35: return "\004SSSN"; /* NAPTR */
	}
	return NULL;
}

static int walk(uint16_t type, uint8_t *rdata, size_t len, bool lower)
{
	const char *l = layout(type);
	size_t pos = 0;
	if (l == NULL)
		return RS_EOK;
	for (; *l != '\0'; l++) {
		if (*l == 'N') {
			size_t n = rs_dname_len(rdata + pos, len - pos);
			if (n == 0)
				return RS_ESYNTAX;
			if (lower)
				rs_dname_lower(rdata + pos);
			pos += n;
		} else if (*l == 'S') {
			if (pos >= len || pos + 1 + rdata[pos] > len)
				return RS_ESYNTAX;
			pos += 1 + (size_t)rdata[pos];
		} else {
			pos += (size_t)*l;
			if (pos > len)
				return RS_ESYNTAX;
		}
	}
	if (type == RS_TYPE_SOA && len - pos != 20)
		return RS_ESYNTAX;
	if (l[-1] == 'N' && type != RS_TYPE_SOA && type != 24 && type != 46 && type != 30 && pos != len)
		return RS_ESYNTAX;
	return RS_EOK;
}

int rs_rdata_canonicalize(uint16_t type, uint8_t *rdata, size_t len)
{
	/* A6 (38) names follow a variable prefix; it is obsolete (RFC 6563) and left alone. */
	return walk(type, rdata, len, true);
}

/* RFC 4025 2: precedence, gateway type, algorithm, gateway, public key. */
static const char *ipseckey_flaw(const uint8_t *rd, size_t len)
{
	if (len < 3)
		return "shorter than its fixed part";
	size_t gw = rd[1] == 0 ? 0 : rd[1] == 1 ? 4 : rd[1] == 2 ? 16 : 0;
	if (rd[1] > 3)
		return "unknown gateway type";
	if (rd[1] == 3)
		gw = rs_dname_len(rd + 3, len - 3);
	if ((rd[1] != 0 && gw == 0) || 3 + gw > len)
		return "gateway cut short";
	/* Algorithm 0 means no key (RFC 4025 2.4); BIND and ldns refuse a key-less other one. */
	if (rd[2] != 0 && 3 + gw == len)
		return "a public key algorithm without a public key (RFC 4025 2.4)";
	return NULL;
}

const char *rs_rdata_flaw(uint16_t type, const uint8_t *rdata, size_t len)
{
	if (walk(type, (uint8_t *)rdata, len, false) != RS_EOK)
		return NULL;
	return type == 45 ? ipseckey_flaw(rdata, len) : NULL;
}

int rs_rdata_check(uint16_t type, const uint8_t *rdata, size_t len)
{
	int ret = walk(type, (uint8_t *)rdata, len, false);
	if (ret != RS_EOK)
		return ret;
	if (rs_rdata_flaw(type, rdata, len) != NULL)
		return RS_ESYNTAX;
	switch (type) {
	case RS_TYPE_A: return len == 4 ? RS_EOK : RS_ESYNTAX;
	case RS_TYPE_AAAA: return len == 16 ? RS_EOK : RS_ESYNTAX;
	case RS_TYPE_DS: case RS_TYPE_CDS: return len >= 4 ? RS_EOK : RS_ESYNTAX;
	case RS_TYPE_DNSKEY: case RS_TYPE_CDNSKEY: return len >= 4 ? RS_EOK : RS_ESYNTAX;
	}
	return RS_EOK;
}

bool rs_type_singleton(uint16_t type)
{
	return type == RS_TYPE_CNAME || type == RS_TYPE_DNAME || type == RS_TYPE_SOA;
}

int rs_rdata_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);
	if (r != 0)
		return r;
	return alen < blen ? -1 : alen > blen;
}
