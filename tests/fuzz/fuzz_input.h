/* What the zone fuzz targets start from: the input as zone text for "example.", read and finished. */
#pragma once

#include "regsign/zone.h"

/* The finished zone, or NULL when the input is refused; the caller frees it with rs_zone_free(). */
static inline rs_zone_t *fuzz_zone_input(const uint8_t *data, size_t size, bool keep_dnssec)
{
	static const uint8_t origin[] = { 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0 };
	rs_zone_opts_t opts = { .keep_dnssec = keep_dnssec, .threads = 1 };
	rs_zone_t *zone;
	rs_diag_t diag;
	if (rs_zone_new(origin, &opts, &zone) != RS_EOK)
		return NULL;
	if (rs_zone_read_string(zone, (const char *)data, size, "fuzz", &diag) != RS_EOK ||
	    rs_zone_finish(zone, &diag) != RS_EOK) {
		rs_zone_free(zone);
		return NULL;
	}
	return zone;
}
