/*
 * ZONEMD after a change set (RFC 8976): the digests of the whole next zone,
 * then its apex with the new ZONEMD RRset and RRSIGs. The digest covers the
 * zone, so this is one walk of every record: on a 1M-delegation zone about
 * what `bench/run` prints as the ZONEMD cost of a full signing.
 */
#include <stdlib.h>
#include <string.h>

#include "regsign/zonemd.h"

#include "internal.h"

int sign_zonemd_renew(const rs_zone_t *zone, rs_key_t *const *keys, size_t nkeys, const rs_key_role_t *roles,
		      const rs_sign_opts_t *opts, rs_zone_t **out, uint64_t *signatures, rs_diag_t *diag)
{
	size_t nnodes;
	const rs_node_t *apex = rs_zone_nodes(zone, &nnodes);
	const rs_rr_t *rrs = rs_zone_rrs(zone);
	uint32_t b, e;
	if (nnodes == 0 || !rs_node_rrset(zone, apex, RS_TYPE_ZONEMD, &b, &e))
		return rs_diag(diag, RS_EINVAL, "no ZONEMD at the apex to renew");
	uint8_t hashes[RS_ZONEMD_HASHES];
	size_t nh = rs_zonemd_hashes(zone, hashes);
	if (nh != e - b)
		return rs_diag(diag, -EOPNOTSUPP, "the apex ZONEMD RRset has records regsign does not make: it needs "
			       "a full signing");
	uint8_t digest[RS_ZONEMD_HASHES][RS_ZONEMD_DIGEST_MAX];
	int ret = rs_zonemd_zone_multi(zone, hashes, nh, digest);
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "cannot compute the ZONEMD digest: %s", rs_strerror(ret));
	const rs_rr_t *soa = rs_zone_soa(zone);
	uint32_t serial = rs_get32(soa->rdata + soa->rdlen - 20), ttl = rrs[b].ttl;

	/* The apex less its ZONEMD RRset and the RRSIGs over it, then the new ones. */
	rs_rr_t *set = calloc(apex->count + RS_ZONEMD_HASHES + SIGN_MAX_KEYS, sizeof(*set));
	uint8_t(*sigs)[18 + RS_NAME_MAX + RS_SIG_MAX] = calloc(SIGN_MAX_KEYS, sizeof(*sigs));
	uint8_t zmd[RS_ZONEMD_HASHES][6 + RS_ZONEMD_DIGEST_MAX];
	if (set == NULL || sigs == NULL) {
		free(set);
		free(sigs);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	size_t count = 0;
	for (uint32_t i = apex->first; i < apex->first + apex->count; i++)
		if (rrs[i].type != RS_TYPE_ZONEMD &&
		    !(rrs[i].type == RS_TYPE_RRSIG && rrs[i].rdlen >= 2 && rs_get16(rrs[i].rdata) == RS_TYPE_ZONEMD))
			set[count++] = rrs[i];
	rs_rr_t *records = set + count;
	for (size_t h = 0; h < nh; h++) {
		size_t dlen = rs_zonemd_digest_len(hashes[h]);
		records[h] = (rs_rr_t){ .type = RS_TYPE_ZONEMD, .ttl = ttl, .rdata = zmd[h],
					.rdlen = (uint16_t)rs_zonemd_rdata(serial, hashes[h], digest[h], dlen, zmd[h]) };
	}
	count += nh;
	const rs_name_t *origin = rs_zone_origin(zone);
	rs_buf_t data;
	rs_buf_init(&data, 1 << 20);
	for (size_t k = 0; k < nkeys && ret == RS_EOK; k++) {
		if (!sign_role_covers(&roles[k], RS_TYPE_ZONEMD))
			continue;
		rs_signer_t *signer = NULL;
		size_t head = sign_head(sigs[k], zone, opts, RS_TYPE_ZONEMD, sign_labels(origin), ttl), len = 0;
		ret = rs_signer_new(keys[k], &signer);
		if (ret == RS_EOK)
			ret = sign_rrsig(signer, keys[k], &data, sigs[k], head, rs_name_wire(origin), RS_TYPE_ZONEMD, ttl,
					 records, nh, &len);
		rs_signer_free(signer);
		if (ret != RS_EOK) {
			rs_diag(diag, ret, "cannot sign the ZONEMD RRset with key %u: %s", rs_key_tag(keys[k]),
				rs_strerror(ret));
			break;
		}
		set[count++] = (rs_rr_t){ .type = RS_TYPE_RRSIG, .ttl = ttl, .rdata = sigs[k], .rdlen = (uint16_t)len };
		(*signatures)++;
	}
	rs_buf_clear(&data);
	if (ret == RS_EOK) {
		rs_zone_edit_t edit = { .owner = rs_name_written(apex->name), .rrs = set, .count = count };
		ret = rs_zone_patch(zone, &edit, 1, out, diag);
	}
	free(set);
	free(sigs);
	return ret;
}
