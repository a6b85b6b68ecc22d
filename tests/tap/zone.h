/* Zones for the unit tests: text read into a finished zone, with DNSKEYs of keys added. */
#pragma once

#include <stdio.h>
#include <string.h>

#include "regsign/crypto.h"
#include "regsign/zone.h"

/* A finished zone of origin (wire) from text plus the DNSKEYs of keys (TTL 0: the signer sets it); NULL after a printed diagnostic. */
static inline rs_zone_t *tap_zone(const uint8_t *origin, const char *text, rs_key_t *const *keys, size_t nkeys,
				  bool keep_dnssec)
{
	rs_zone_opts_t zo = { .keep_dnssec = keep_dnssec, .threads = 1 };
	rs_zone_t *z;
	rs_diag_t d = { "" };
	if (text == NULL || rs_zone_new(origin, &zo, &z) != RS_EOK)
		return NULL;
	int ret = rs_zone_read_string(z, text, strlen(text), "test", &d);
	for (size_t i = 0; ret == RS_EOK && i < nkeys; i++) {
		size_t len;
		const uint8_t *dk = rs_key_dnskey(keys[i], &len);
		ret = rs_zone_add(z, origin, RS_TYPE_DNSKEY, 0, dk, len);
	}
	if (ret == RS_EOK)
		ret = rs_zone_finish(z, &d);
	if (ret != RS_EOK) {
		printf("# zone: %s\n", d.text);
		rs_zone_free(z);
		return NULL;
	}
	return z;
}
