/* Zone file lines: "owner TTL IN TYPE rdata". */
#include <string.h>

#include "regsign/zone.h"

int rs_rr_format(rs_buf_t *buf, const char *owner_text, const uint8_t *owner_wire, uint32_t ttl,
		 uint16_t type, const uint8_t *rdata, size_t len)
{
	char owner[1024], tname[32];
	if (owner_text == NULL) {
		if (rs_dname_to_str(owner_wire, owner, sizeof(owner)) < 0)
			return RS_EINVAL;
		owner_text = owner;
	}
	rs_type_to_str(type, tname, sizeof(tname));
	size_t need = strlen(owner_text) + 64 + len * 5 + 512;
	int ret = rs_buf_reserve(buf, need);
	if (ret != RS_EOK)
		return ret;
	char *p = (char *)buf->data + buf->len;
	int n = snprintf(p, need, "%s\t%u\tIN\t%s\t", owner_text, ttl, tname);
	int m = rs_rdata_to_str(type, rdata, len, p + n, need - (size_t)n);
	if (m < 0)
		return m;
	p[n + m] = '\n';
	buf->len += (size_t)n + (size_t)m + 1;
	return RS_EOK;
}
