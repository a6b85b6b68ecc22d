/*
 * Zone file lines: "owner TTL IN TYPE rdata". The types that make up almost
 * all of a signed registry zone (NS, DS, A, AAAA, RRSIG, NSEC, NSEC3, DNSKEY)
 * are printed here without printf, locale or gmtime: formatting was a third
 * of the signer's non-crypto time. Every other type goes through libknot.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/zone.h"

static char *put_u32(char *p, uint32_t v)
{
	char tmp[10];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/* Presentation form of a wire name with RFC 1035 5.1 escapes; returns the end. */
static char *put_name(char *p, const uint8_t *wire)
{
	if (*wire == 0) {
		*p++ = '.';
		return p;
	}
	while (*wire != 0) {
		uint8_t len = *wire++;
		for (uint8_t i = 0; i < len; i++) {
			uint8_t c = *wire++;
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_' || c == '*' || c == '/') {
				*p++ = (char)c;
			} else if (c > 0x20 && c < 0x7f) {
				/* Every other printable escaped, as libknot prints names: its scanner refuses "a&b". */
				*p++ = '\\';
				*p++ = (char)c;
			} else {
				*p++ = '\\';
				*p++ = (char)('0' + c / 100);
				*p++ = (char)('0' + c / 10 % 10);
				*p++ = (char)('0' + c % 10);
			}
		}
		*p++ = '.';
	}
	return p;
}

static char *put_type(char *p, uint16_t type)
{
	const char *name = NULL;
	switch (type) {
	case RS_TYPE_A: name = "A"; break;
	case RS_TYPE_NS: name = "NS"; break;
	case RS_TYPE_CNAME: name = "CNAME"; break;
	case RS_TYPE_SOA: name = "SOA"; break;
	case RS_TYPE_MX: name = "MX"; break;
	case RS_TYPE_TXT: name = "TXT"; break;
	case RS_TYPE_AAAA: name = "AAAA"; break;
	case RS_TYPE_DS: name = "DS"; break;
	case RS_TYPE_RRSIG: name = "RRSIG"; break;
	case RS_TYPE_NSEC: name = "NSEC"; break;
	case RS_TYPE_DNSKEY: name = "DNSKEY"; break;
	case RS_TYPE_NSEC3: name = "NSEC3"; break;
	case RS_TYPE_NSEC3PARAM: name = "NSEC3PARAM"; break;
	}
	if (name == NULL)
		return p + rs_type_to_str(type, p, 32);
	size_t n = strlen(name);
	memcpy(p, name, n);
	return p + n;
}

static char *put_hex(char *p, const uint8_t *data, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		*p++ = hex[data[i] >> 4];
		*p++ = hex[data[i] & 15];
	}
	return p;
}

/* YYYYMMDDHHMMSS of a 32-bit DNSSEC time, without gmtime's locks. */
static char *put_time_slow(char *p, uint32_t t)
{
	int64_t days = t / 86400;
	uint32_t secs = t % 86400;
	/* Civil date from day count (H. Hinnant's algorithm). */
	days += 719468;
	int64_t era = days / 146097;
	unsigned doe = (unsigned)(days - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	unsigned v[6] = { (unsigned)y, m, d, secs / 3600, secs / 60 % 60, secs % 60 };
	for (int i = 0; i < 6; i++) {
		if (i == 0) {
			p[0] = (char)('0' + v[0] / 1000 % 10);
			p[1] = (char)('0' + v[0] / 100 % 10);
			p += 2;
		}
		p[0] = (char)('0' + v[i] / 10 % 10);
		p[1] = (char)('0' + v[i] % 10);
		p += 2;
	}
	return p;
}

/* A signing run prints the same two times over a million times: remember them. */
static char *put_time(char *p, uint32_t t)
{
	static _Thread_local struct {
		uint32_t t;
		bool set;
		char text[14];
	} seen[2];
	for (int i = 0; i < 2; i++) {
		if (seen[i].set && seen[i].t == t) {
			memcpy(p, seen[i].text, 14);
			return p + 14;
		}
	}
	int slot = seen[0].set ? 1 : 0;
	if (seen[0].set && seen[1].set) {
		seen[0] = seen[1]; /* keep the newer one */
		slot = 1;
	}
	put_time_slow(seen[slot].text, t);
	seen[slot].t = t;
	seen[slot].set = true;
	memcpy(p, seen[slot].text, 14);
	return p + 14;
}

static char *put_bitmap(char *p, const uint8_t *bm, size_t len)
{
	size_t pos = 0;
	while (pos + 2 <= len) {
		uint8_t window = bm[pos], blen = bm[pos + 1];
		for (unsigned i = 0; i < blen && pos + 2 + i < len; i++) {
			for (unsigned bit = 0; bit < 8; bit++) {
				if (bm[pos + 2 + i] & (0x80 >> bit)) {
					*p++ = ' ';
					p = put_type(p, (uint16_t)(window << 8 | (i * 8 + bit)));
				}
			}
		}
		pos += 2 + (size_t)blen;
	}
	return p;
}

/* The "16-bit 8-bit 8-bit " head that DS and DNSKEY share (key tag or flags, ...). */
static char *put_16_8_8(char *p, const uint8_t *rd)
{
	p = put_u32(p, rs_get16(rd));
	*p++ = ' ';
	p = put_u32(p, rd[2]);
	*p++ = ' ';
	p = put_u32(p, rd[3]);
	*p++ = ' ';
	return p;
}

/*
 * RFC 3597 5 generic form, "\# LEN HEX", for RDATA libknot's printer
 * cannot print: every reader takes it back as the same octets.
 */
static char *put_generic(char *p, const uint8_t *rd, size_t len)
{
	memcpy(p, "\\# ", 3);
	p = put_u32(p + 3, (uint32_t)len);
	if (len == 0)
		return p;
	*p++ = ' ';
	return put_hex(p, rd, len);
}

/* Fast path for the common types; NULL if this RDATA is left to libknot. */
static char *put_rdata(char *p, uint16_t type, const uint8_t *rd, size_t len)
{
	switch (type) {
	case RS_TYPE_A:
		if (len != 4)
			return NULL;
		for (int i = 0; i < 4; i++) {
			if (i > 0)
				*p++ = '.';
			p = put_u32(p, rd[i]);
		}
		return p;
	case RS_TYPE_AAAA:
		if (len != 16 || inet_ntop(AF_INET6, rd, p, 64) == NULL)
			return NULL;
		return p + strlen(p);
	case RS_TYPE_NS: case RS_TYPE_CNAME:
		if (len == 0 || rs_dname_len(rd, len) != len)
			return NULL;
		return put_name(p, rd);
	case RS_TYPE_DS: case RS_TYPE_CDS:
		if (len < 5)
			return NULL;
		return put_hex(put_16_8_8(p, rd), rd + 4, len - 4);
	case RS_TYPE_DNSKEY: case RS_TYPE_CDNSKEY:
		if (len < 5)
			return NULL;
		p = put_16_8_8(p, rd);
		return p + rs_base64_encode(rd + 4, len - 4, p);
	case RS_TYPE_RRSIG: {
		size_t nl = len > 18 ? rs_dname_len(rd + 18, len - 18) : 0;
		if (nl == 0 || 18 + nl >= len)
			return NULL;
		p = put_type(p, rs_get16(rd));
		*p++ = ' ';
		p = put_u32(p, rd[2]);
		*p++ = ' ';
		p = put_u32(p, rd[3]);
		*p++ = ' ';
		p = put_u32(p, rs_get32(rd + 4));
		*p++ = ' ';
		p = put_time(p, rs_get32(rd + 8));
		*p++ = ' ';
		p = put_time(p, rs_get32(rd + 12));
		*p++ = ' ';
		p = put_u32(p, rs_get16(rd + 16));
		*p++ = ' ';
		p = put_name(p, rd + 18);
		*p++ = ' ';
		return p + rs_base64_encode(rd + 18 + nl, len - 18 - nl, p);
	}
	case RS_TYPE_NSEC: {
		size_t nl = rs_dname_len(rd, len);
		if (nl == 0 || !rs_bitmap_valid(rd + nl, len - nl))
			return NULL;
		p = put_name(p, rd);
		return put_bitmap(p, rd + nl, len - nl);
	}
	case RS_TYPE_NSEC3: {
		if (len < 6 || 5 + (size_t)rd[4] + 1 > len)
			return NULL;
		size_t salt = rd[4], hpos = 5 + salt, hlen = rd[hpos];
		if (hpos + 1 + hlen > len || !rs_bitmap_valid(rd + hpos + 1 + hlen, len - hpos - 1 - hlen))
			return NULL;
		p = put_u32(p, rd[0]);
		*p++ = ' ';
		p = put_u32(p, rd[1]);
		*p++ = ' ';
		p = put_u32(p, rs_get16(rd + 2));
		*p++ = ' ';
		if (salt == 0)
			*p++ = '-';
		else
			p = put_hex(p, rd + 5, salt);
		*p++ = ' ';
		/* base32hex in capitals, as BIND and ldns print it */
		size_t n = rs_base32hex_encode(rd + hpos + 1, hlen, p);
		for (size_t i = 0; i < n; i++)
			if (p[i] >= 'a' && p[i] <= 'z')
				p[i] = (char)(p[i] - 'a' + 'A');
		p += n;
		return put_bitmap(p, rd + hpos + 1 + hlen, len - hpos - 1 - hlen);
	}
	}
	return NULL;
}

int rs_rr_format(rs_buf_t *buf, const char *owner_text, const uint8_t *owner_wire, uint32_t ttl,
		 uint16_t type, const uint8_t *rdata, size_t len)
{
	size_t olen = owner_text != NULL ? strlen(owner_text) : 4 * RS_NAME_MAX;
	/*
	 * Room for the worst case: most RDATA prints in at most 5 characters
	 * per octet (\DDD and a space), but a type bitmap can name 8 types per
	 * octet, "TYPE65535 " each.
	 */
	bool plain = type == RS_TYPE_A || type == RS_TYPE_AAAA || type == RS_TYPE_NS ||
		     type == RS_TYPE_DS || type == RS_TYPE_RRSIG || type == RS_TYPE_DNSKEY;
	size_t need = olen + 1024 + len * (plain ? 5 : 88);
	int ret = rs_buf_reserve(buf, need);
	if (ret != RS_EOK)
		return ret;
	char *start = (char *)buf->data + buf->len;
	char *p = start;
	if (owner_text != NULL) {
		memcpy(p, owner_text, olen);
		p += olen;
	} else {
		p = put_name(p, owner_wire);
	}
	*p++ = '\t';
	p = put_u32(p, ttl);
	memcpy(p, "\tIN\t", 4);
	p = put_type(p + 4, type);
	*p++ = '\t';
	char *end = put_rdata(p, type, rdata, len);
	if (end == NULL) {
		int m = rs_rdata_to_str(type, rdata, len, p, need - (size_t)(p - start));
		end = m >= 0 ? p + m : put_generic(p, rdata, len);
	}
	*end++ = '\n';
	buf->len += (size_t)(end - start);
	return RS_EOK;
}

int rs_name_format(const uint8_t *wire, char *out, size_t max)
{
	if (max < 4 * RS_NAME_MAX + 2)
		return RS_ELIMIT;
	char *end = put_name(out, wire);
	*end = '\0';
	return (int)(end - out);
}

/* The RRset of type at node, then the signatures over it, as the signer writes them. */
static int write_rrset(rs_buf_t *buf, const char *owner, const rs_rr_t *rr, uint32_t count, uint16_t type,
		       uint32_t sig_begin, uint32_t sig_end)
{
	int ret = RS_EOK;
	for (uint32_t i = 0; i < count && ret == RS_EOK; i++)
		if (rr[i].type == type)
			ret = rs_rr_format(buf, owner, NULL, rr[i].ttl, type, rr[i].rdata, rr[i].rdlen);
	for (uint32_t i = sig_begin; i < sig_end && ret == RS_EOK; i++)
		if (rr[i].rdlen >= 2 && rs_get16(rr[i].rdata) == type)
			ret = rs_rr_format(buf, owner, NULL, rr[i].ttl, RS_TYPE_RRSIG, rr[i].rdata, rr[i].rdlen);
	return ret;
}

int rs_zone_write(const rs_zone_t *zone, FILE *out, rs_diag_t *diag)
{
	size_t nnodes;
	const rs_node_t *nodes = rs_zone_nodes(zone, &nnodes);
	const rs_rr_t *rrs = rs_zone_rrs(zone);
	rs_buf_t buf;
	rs_buf_init(&buf, (size_t)1 << 30);
	char *owner = malloc(4 * RS_NAME_MAX + 2);
	int ret = owner != NULL ? RS_EOK : RS_ENOMEM;
	for (size_t n = 0; n < nnodes && ret == RS_EOK; n++) {
		const rs_node_t *node = &nodes[n];
		const rs_rr_t *rr = rrs + node->first;
		rs_name_format(rs_name_wire(node->name), owner, 4 * RS_NAME_MAX + 2);
		uint32_t sb = 0, se = 0;
		if (rs_node_rrset(zone, node, RS_TYPE_RRSIG, &sb, &se)) {
			sb -= node->first;
			se -= node->first;
		}
		/* The SOA first (validns, and every peer's output), then the rest of the apex in order. */
		if (node->flags & RS_NODE_APEX)
			ret = write_rrset(&buf, owner, rr, node->count, RS_TYPE_SOA, sb, se);
		for (uint32_t i = 0; i < node->count && ret == RS_EOK; i++) {
			if (rr[i].type == RS_TYPE_RRSIG || (i > 0 && rr[i - 1].type == rr[i].type) ||
			    ((node->flags & RS_NODE_APEX) && rr[i].type == RS_TYPE_SOA))
				continue;
			ret = write_rrset(&buf, owner, rr, node->count, rr[i].type, sb, se);
		}
		if (ret == RS_EOK && (buf.len > (1 << 20) || n + 1 == nnodes)) {
			if (fwrite(buf.data, 1, buf.len, out) != buf.len)
				ret = RS_EIO;
			buf.len = 0;
		}
	}
	free(owner);
	rs_buf_clear(&buf);
	if (ret == RS_EOK && fflush(out) != 0)
		ret = RS_EIO;
	return ret == RS_EOK ? RS_EOK : rs_diag(diag, ret, "cannot write the zone: %s", rs_strerror(ret));
}
