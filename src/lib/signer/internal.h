/* Shared by the files of src/lib/signer: one RRSIG over an RRset, the TTLs and roles the signer uses. */
#pragma once

#include "regsign/signer.h"

#define SIGN_MAX_KEYS 16

/* Does role's key sign RRsets of type? KSKs sign the key sets (RFC 6840 5.11 per algorithm). */
static inline bool sign_role_covers(const rs_key_role_t *role, uint16_t type)
{
	bool keyset = type == RS_TYPE_DNSKEY || type == RS_TYPE_CDS || type == RS_TYPE_CDNSKEY;
	return keyset ? role->signs_keys : role->signs_data;
}

/* The RRSIG labels field: the owner's labels less a leading "*" (RFC 4034 3.1.3). */
static inline unsigned sign_labels(const rs_name_t *name)
{
	return name->labels - (rs_name_is_wildcard(name) ? 1 : 0);
}

/*
 * The RRSIG RDATA (RFC 4034 3.1) up to and including the signer name (the
 * apex) for an RRset of type with ttl, into rdata (18 + RS_NAME_MAX +
 * RS_SIG_MAX octets); the algorithm and key tag are sign_rrsig's. Returns
 * the length of that head.
 */
size_t sign_head(uint8_t *rdata, const rs_zone_t *zone, const rs_sign_opts_t *opts, uint16_t type,
		 unsigned labels, uint32_t ttl);
/*
 * One RRSIG by key through signer over rrs (type, ttl at owner, canonical
 * and sorted): the key's algorithm and tag go into the head, the signature
 * after it; *len is the whole RDATA's. data is scratch for the signed data.
 */
int sign_rrsig(rs_signer_t *signer, const rs_key_t *key, rs_buf_t *data, uint8_t *rdata, size_t head,
	       const uint8_t *owner, uint16_t type, uint32_t ttl, const rs_rr_t *rrs, size_t count, size_t *len);
/* The TTL of the DNSKEY RRset and of NSEC/NSEC3 records (RFC 9077 unless opts sets it). */
void sign_ttls(const rs_zone_t *zone, const rs_sign_opts_t *opts, uint32_t *dnskey_ttl, uint32_t *nsec_ttl);
/* roles[0..nkeys) from opts->roles or rs_sign_roles(); RS_ENOKEY or RS_ELIMIT with diag. */
int sign_roles(rs_key_t *const *keys, size_t nkeys, const rs_sign_opts_t *opts, rs_key_role_t *roles,
	       rs_diag_t *diag);
/* Is rrs (count records, all with ttl) the RRset of type at node of zone, TTL and RDATA alike? */
bool sign_rrset_same(const rs_zone_t *zone, const rs_node_t *node, uint16_t type, uint32_t ttl,
		     const rs_rr_t *rrs, size_t count);
/*
 * May an RRSIG (its RDATA) over type at owner stay? It expires after
 * reuse_until plus its own share of the spread (a hash of owner, type and
 * expiration: each generation draws its point anew, so RRsets whose periods
 * divide the same time do not fall due together again and again), and no
 * later than reuse_latest (a validity the policy still allows).
 */
bool sign_sig_lasts(const rs_sign_opts_t *opts, const uint8_t *owner, uint16_t type, const uint8_t *rrsig);

/*
 * ZONEMD in a change set (zonemd.c): *out is zone (finished, signed) with its
 * apex ZONEMD RRset made again (the digests of zone, its SOA serial) and
 * signed by the keys whose roles sign data (*signatures counts them).
 * -EOPNOTSUPP when the RRset holds records regsign does not make.
 */
int sign_zonemd_renew(const rs_zone_t *zone, rs_key_t *const *keys, size_t nkeys, const rs_key_role_t *roles,
		      const rs_sign_opts_t *opts, rs_zone_t **out, uint64_t *signatures, rs_diag_t *diag);

/* ---- NSEC3 in a change set (update_nsec3.c, for update.c) ---- */

typedef struct upd_nsec3 upd_nsec3_t;

/*
 * The NSEC3 state of a change set on prev: -EOPNOTSUPP with why in diag
 * unless prev's chain is the one opts asks for (NSEC3PARAM, opt-out, the
 * NSEC3 TTL nsec_ttl). Caller frees *out with upd_nsec3_free().
 */
int upd_nsec3_new(const rs_zone_t *prev, const rs_sign_opts_t *opts, uint32_t nsec_ttl, upd_nsec3_t **out,
		  rs_diag_t *diag);
void upd_nsec3_free(upd_nsec3_t *n3);
/*
 * The NSEC3 records that differ between prev and the zone signed from data
 * (prev with the data changes applied) when the names owners[0..n) (wire,
 * canonical order) are all the change set touched: theirs, those of empty
 * non-terminals above them, and their predecessors' in hash order.
 */
int upd_nsec3_collect(upd_nsec3_t *n3, const rs_zone_t *data, const uint8_t *const *owners, size_t n,
		      rs_diag_t *diag);
/* The owners of those records in canonical order: count, name, and the new NSEC3 (NULL: the name goes). */
size_t upd_nsec3_count(const upd_nsec3_t *n3);
const rs_name_t *upd_nsec3_name(const upd_nsec3_t *n3, size_t i);
const rs_rr_t *upd_nsec3_record(const upd_nsec3_t *n3, size_t i);
