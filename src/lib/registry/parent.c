/* The parent's DS RRset, asked of one of its servers. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regsign/crypto.h"
#include "regsign/dns.h"

int rs_parent_ds_query(const char *server, const uint8_t *zone, unsigned timeout_ms, rs_ds_set_t *out,
		       rs_diag_t *diag)
{
	rrset_t *set = malloc(sizeof(*set));
	if (set == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	int ret = dnsq_rrset(server, zone, RS_TYPE_DS, timeout_ms, set, NULL, diag);
	out->count = 0;
	for (size_t i = 0; ret == RS_EOK && i < set->count; i++) {
		if (set->len[i] < 5 || set->len[i] > RS_DS_RDATA_MAX) {
			ret = rs_diag(diag, RS_ESYNTAX, "%s: a DS record of %u octets is malformed", server, set->len[i]);
			break;
		}
		memcpy(out->rdata[out->count], set->rdata[i], set->len[i]);
		out->len[out->count++] = set->len[i];
	}
	free(set);
	return ret;
}

bool rs_ds_set_has_key(const rs_ds_set_t *set, const uint8_t *owner, const uint8_t *dnskey, size_t len)
{
	for (size_t i = 0; i < set->count; i++)
		if (rs_ds_matches(set->rdata[i], set->len[i], owner, dnskey, len))
			return true;
	return false;
}
