/*
 * libFuzzer target over the zone writer: every record the reader accepts
 * (zone text for "example.") is printed as the signed output prints it,
 * read back by the same scanner, and must give the same wire RDATA; a
 * record the writer cannot print, or prints as something else, aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/dns.h"

#include "fuzz_input.h"

/* Is the RDATA of rr what its printed line reads back as? True when that line cannot be re-read alone. */
static bool round_trip(const rs_rr_t *rr, rs_buf_t *buf)
{
	buf->len = 0;
	if (rs_rr_format(buf, NULL, rs_name_wire(rr->owner), rr->ttl, rr->type, rr->rdata, rr->rdlen) != RS_EOK)
		return false;
	buf->data[buf->len - 1] = '\0'; /* the newline */
	const char *text = (const char *)buf->data;
	for (int tabs = 0; tabs < 4 && text != NULL; tabs++)
		text = strchr(text, '\t') != NULL ? strchr(text, '\t') + 1 : NULL;
	/* rs_rdata_from_text takes one line without ; ( ) $, which quoted strings may hold. */
	if (text == NULL || strpbrk(text, ";()$") != NULL)
		return text != NULL;
	static uint8_t back[65536];
	size_t len;
	rs_diag_t diag;
	if (rs_rdata_from_text(rr->type, text, back, sizeof(back), &len, &diag) != RS_EOK) {
		fprintf(stderr, "cannot read back '%s': %s\n", (const char *)buf->data, diag.text);
		return false;
	}
	rs_rdata_canonicalize(rr->type, back, len);
	if (len != rr->rdlen || memcmp(back, rr->rdata, len) != 0) {
		fprintf(stderr, "'%s' reads back as other RDATA\n", (const char *)buf->data);
		return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rs_zone_t *zone = fuzz_zone_input(data, size, true);
	if (zone == NULL)
		return 0;
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(zone, &n);
	const rs_rr_t *rrs = rs_zone_rrs(zone);
	rs_buf_t buf;
	rs_buf_init(&buf, 1 << 24);
	for (size_t i = 0; i < n; i++)
		for (uint32_t k = nodes[i].first; k < nodes[i].first + nodes[i].count; k++)
			if (!round_trip(&rrs[k], &buf))
				abort();
	rs_buf_clear(&buf);
	rs_zone_free(zone);
	return 0;
}
