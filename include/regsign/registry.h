/*
 * registry: the zone's relations with its parent and children. So far: the
 * DS RRset the parent publishes, asked of the parent's servers (the
 * "parental agents" of BIND, Knot's "parent" servers) with ldns, so the key
 * state machine learns by itself when a DS appeared or went (RFC 7583 3.3.2).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regsign/base.h"

#define RS_DS_SET_MAX 32      /* DS records kept from one answer */
#define RS_DS_RDATA_MAX 132   /* key tag, algorithm, digest type, digest of up to 128 octets */

typedef struct {
	size_t count;
	uint16_t len[RS_DS_SET_MAX];
	uint8_t rdata[RS_DS_SET_MAX][RS_DS_RDATA_MAX];
} rs_ds_set_t;

/*
 * Ask server ("ADDR" or "ADDR@PORT", IPv4 or IPv6) for the DS RRset of zone
 * (wire form), without recursion, waiting up to timeout_ms per try. An
 * answer without DS (NODATA) gives an empty set. Errors (no answer,
 * SERVFAIL, REFUSED, NXDOMAIN, a malformed DS, a reply not from an
 * authoritative server) are RS_EIO or RS_ESYNTAX with the reason in diag.
 */
int rs_parent_ds_query(const char *server, const uint8_t *zone, unsigned timeout_ms, rs_ds_set_t *out,
		       rs_diag_t *diag);

/* Does set hold a DS for the DNSKEY (RDATA) of owner, with a correct digest of any supported type? */
bool rs_ds_set_has_key(const rs_ds_set_t *set, const uint8_t *owner, const uint8_t *dnskey, size_t len);
