/*
 * A version: one published signed zone, shared by reference between the
 * publisher and the transfers that read it.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "regsign/xfr.h"

struct rs_version {
	atomic_uint refs;
	uint32_t serial;
	rs_zone_t *zone;
};

int rs_version_new(rs_zone_t *zone, rs_version_t **out)
{
	const rs_rr_t *soa = rs_zone_soa(zone);
	if (soa == NULL || soa->rdlen < 20)
		return RS_EZONE;
	rs_version_t *v = malloc(sizeof(*v));
	if (v == NULL)
		return RS_ENOMEM;
	atomic_init(&v->refs, 1);
	/* The serial is the first of the SOA's five trailing 32-bit fields (RFC 1035 3.3.13). */
	const uint8_t *p = soa->rdata + soa->rdlen - 20;
	v->serial = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	v->zone = zone;
	*out = v;
	return RS_EOK;
}

rs_version_t *rs_version_ref(rs_version_t *v)
{
	atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
	return v;
}

void rs_version_unref(rs_version_t *v)
{
	if (v == NULL || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
		return;
	rs_zone_free(v->zone);
	free(v);
}

const rs_zone_t *rs_version_zone(const rs_version_t *v)
{
	return v->zone;
}

uint32_t rs_version_serial(const rs_version_t *v)
{
	return v->serial;
}
