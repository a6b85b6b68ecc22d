/*
 * libFuzzer target over zone reading and the wire code: the input is zone
 * text for "example."; what loads is finished (sorted, checked, cuts marked),
 * its records are printed, its NSEC and NSEC3 chains built, its ZONEMD
 * records checked and digests made, and every RDATA goes through the
 * canonical-form and bitmap code as raw bytes too.
 */
#include <stdlib.h>
#include <string.h>

#include "regsign/dns.h"
#include "regsign/nsec.h"
#include "regsign/zonemd.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rs_zone_t *zone = fuzz_zone_input(data, size, size % 2 == 0);
	if (zone != NULL) {
		rs_diag_t diag;
		size_t n;
		const rs_node_t *nodes = rs_zone_nodes(zone, &n);
		const rs_rr_t *rrs = rs_zone_rrs(zone);
		rs_buf_t buf;
		rs_buf_init(&buf, 1 << 24);
		for (size_t i = 0; i < n; i++) {
			uint16_t types[512];
			rs_node_types(zone, &nodes[i], i % 2, 0, types);
			for (uint32_t k = nodes[i].first; k < nodes[i].first + nodes[i].count; k++) {
				buf.len = 0;
				rs_rr_format(&buf, NULL, rs_name_wire(rrs[k].owner), rrs[k].ttl, rrs[k].type,
					     rrs[k].rdata, rrs[k].rdlen);
				rs_bitmap_valid(rrs[k].rdata, rrs[k].rdlen);
				rs_bitmap_has(rrs[k].rdata, rrs[k].rdlen, rrs[k].type);
				/* The RDATA as if it were of other types. */
				uint8_t copy[65536];
				memcpy(copy, rrs[k].rdata, rrs[k].rdlen);
				static const uint16_t other[] = { 2, 6, 15, 35, 43, 46, 47, 48, 50 };
				for (size_t t = 0; t < sizeof(other) / sizeof(other[0]); t++) {
					rs_rdata_canonicalize(other[t], copy, rrs[k].rdlen);
					buf.len = 0;
					rs_rr_format(&buf, "x.", NULL, 0, other[t], copy, rrs[k].rdlen);
				}
			}
		}
		rs_buf_clear(&buf);
		uint32_t *next;
		if (rs_nsec_chain(zone, &next) == RS_EOK)
			free(next);
		rs_buf_t report;
		rs_buf_init(&report, 1 << 20);
		uint64_t problems = 0;
		rs_zonemd_result_t md;
		rs_zonemd_check(zone, &report, &problems, &md);
		rs_buf_clear(&report);
		static const uint8_t hashes[] = { RS_ZONEMD_SHA384, RS_ZONEMD_SHA512 };
		uint8_t digests[2][RS_ZONEMD_DIGEST_MAX];
		rs_zonemd_zone_multi(zone, hashes, 2, digests);
		rs_nsec3_params_t p = { .opt_out = size % 3 == 0 };
		rs_nsec3_chain_t chain;
		if (rs_nsec3_build(zone, &p, &chain, &diag) == RS_EOK)
			rs_nsec3_chain_clear(&chain);
	}
	rs_zone_free(zone);
	return 0;
}
