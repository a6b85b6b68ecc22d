/* Type bitmaps, base32hex and base64. */
#include <string.h>

#include <openssl/evp.h>

#include "regsign/dns.h"

size_t rs_bitmap_write(const uint16_t *types, size_t count, uint8_t *out)
{
	size_t pos = 0;
	size_t i = 0;
	while (i < count) {
		uint8_t window = types[i] >> 8;
		uint8_t bits[32] = { 0 };
		uint8_t used = 0;
		for (; i < count && (types[i] >> 8) == window; i++) {
			uint8_t low = types[i] & 0xff;
			bits[low / 8] |= (uint8_t)(0x80 >> (low % 8));
			used = low / 8 + 1;
		}
		out[pos++] = window;
		out[pos++] = used;
		memcpy(out + pos, bits, used);
		pos += used;
	}
	return pos;
}

bool rs_bitmap_valid(const uint8_t *bitmap, size_t len)
{
	size_t pos = 0;
	int last = -1;
	while (pos < len) {
		if (len - pos < 2)
			return false;
		uint8_t window = bitmap[pos], blen = bitmap[pos + 1];
		if ((int)window <= last || blen == 0 || blen > 32 || pos + 2 + blen > len)
			return false;
		last = window;
		pos += 2 + (size_t)blen;
	}
	return true;
}

bool rs_bitmap_has(const uint8_t *bitmap, size_t len, uint16_t type)
{
	size_t pos = 0;
	while (pos + 2 <= len) {
		uint8_t window = bitmap[pos], blen = bitmap[pos + 1];
		if (pos + 2 + blen > len)
			return false;
		if (window == type >> 8) {
			uint8_t low = type & 0xff;
			return low / 8 < blen && (bitmap[pos + 2 + low / 8] & (0x80 >> (low % 8)));
		}
		pos += 2 + (size_t)blen;
	}
	return false;
}

static const char b32hex[] = "0123456789abcdefghijklmnopqrstuv";

size_t rs_base32hex_encode(const uint8_t *in, size_t len, char *out)
{
	size_t pos = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			out[pos++] = b32hex[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[pos++] = b32hex[(acc << (5 - bits)) & 31];
	out[pos] = '\0';
	return pos;
}

int rs_base32hex_decode(const char *in, size_t len, uint8_t *out, size_t max)
{
	size_t pos = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		int v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'v')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'V')
			v = c - 'A' + 10;
		else
			return RS_ESYNTAX;
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			if (pos >= max)
				return RS_ELIMIT;
			out[pos++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	/* Leftover bits must be zero padding. */
	if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
		return RS_ESYNTAX;
	return (int)pos;
}

int rs_base64_decode(const char *in, size_t len, uint8_t *out, size_t max)
{
	/* Drop whitespace first: key files and zone text may wrap base64. */
	char buf[8192];
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n')
			continue;
		if (n >= sizeof(buf))
			return RS_ELIMIT;
		buf[n++] = in[i];
	}
	if (n == 0 || n % 4 != 0)
		return RS_ESYNTAX;
	if (n / 4 * 3 > max)
		return RS_ELIMIT;
	int dec = EVP_DecodeBlock(out, (const unsigned char *)buf, (int)n);
	if (dec < 0)
		return RS_ESYNTAX;
	/* EVP_DecodeBlock counts padding as zero octets. */
	if (n >= 1 && buf[n - 1] == '=')
		dec--;
	if (n >= 2 && buf[n - 2] == '=')
		dec--;
	return dec;
}

size_t rs_base64_encode(const uint8_t *in, size_t len, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}
