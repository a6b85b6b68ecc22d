/*
 * libFuzzer target over the wire code that later reads DNS answers: the
 * first two octets pick an RR type, the rest is its RDATA. It goes through
 * canonical form, checks, printing, bitmaps, base32hex and DNSKEY parsing.
 */
#include <string.h>

#include "regsign/crypto.h"
#include "regsign/dns.h"
#include "regsign/zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 65535 + 2)
		return 0;
	uint16_t type = rs_get16(data);
	size_t len = size - 2;
	uint8_t rdata[65536];
	memcpy(rdata, data + 2, len);
	rs_rdata_check(type, rdata, len);
	rs_rdata_canonicalize(type, rdata, len);
	rs_buf_t buf;
	rs_buf_init(&buf, 1 << 22);
	rs_rr_format(&buf, "fuzz.", NULL, 3600, type, rdata, len);
	rs_buf_clear(&buf);
	rs_bitmap_valid(rdata, len);
	rs_bitmap_has(rdata, len, type);
	rs_dname_len(rdata, len);
	uint8_t out[1024];
	rs_base32hex_decode((const char *)rdata, len < 600 ? len : 600, out, sizeof(out));
	rs_key_t *key;
	static const uint8_t owner[] = { 0 };
	if (rs_key_from_dnskey(owner, rdata, len, &key) == RS_EOK) {
		rs_key_verify(key, data, size, rdata, len);
		rs_key_free(key);
	}
	return 0;
}
