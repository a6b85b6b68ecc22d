/*
 * zone: the in-memory zone. Records are read with libzscanner (the only user
 * of it), canonicalised, sorted into canonical order (RFC 4034 6) and grouped
 * into nodes; zone cuts, glue and occluded names are marked.
 *
 * Use: rs_zone_new(), rs_zone_read() one or more files, rs_zone_add() extra
 * records (keys), rs_zone_finish(). After finish the zone is read-only and
 * may be shared by threads.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "regsign/base.h"
#include "regsign/dns.h"

/* One resource record. rdata is canonical (RFC 4034 6.2). */
typedef struct {
	const rs_name_t *owner;
	uint8_t *rdata;
	uint32_t ttl;
	uint16_t type;
	uint16_t rdlen;
	uint32_t line; /* source line, 0 for added records */
	uint32_t file; /* index for rs_zone_file_name() */
} rs_rr_t;

/* Node flags. */
enum {
	RS_NODE_APEX = 1 << 0,
	RS_NODE_DELEG = 1 << 1,   /* NS below the apex: a zone cut */
	RS_NODE_NONAUTH = 1 << 2, /* below a cut or DNAME: glue or occluded; never signed */
	RS_NODE_DS = 1 << 3,      /* a cut with DS: a secure delegation */
	RS_NODE_DNAME = 1 << 4,
};

/* All records of one owner name; rr[first .. first+count) in type, then RDATA order. */
typedef struct {
	const rs_name_t *name;
	uint32_t first;
	uint32_t count;
	uint32_t flags;
} rs_node_t;

typedef struct rs_zone rs_zone_t;

typedef struct {
	/* Keep RRSIG, NSEC, NSEC3 and NSEC3PARAM (for verifying); signing drops them. */
	bool keep_dnssec;
	/* Nesting limit for $INCLUDE; 0 means the default (16). */
	unsigned include_depth;
	/* Threads for sorting; 0 means all CPUs. */
	unsigned threads;
	/*
	 * Apex CDS/CDNSKEY records that match no DNSKEY of the zone (RFC 7344
	 * 4.1; the RFC 8078 delete signal aside): refused by rs_zone_finish when
	 * set (a managed zone, where regsign makes them itself), otherwise a
	 * warning "FILE:LINE: ..." to log.
	 */
	bool cds_must_match;
	rs_log_t log;
} rs_zone_opts_t;

/* New empty zone for origin (wire form). Caller frees with rs_zone_free(). */
int rs_zone_new(const uint8_t *origin, const rs_zone_opts_t *opts, rs_zone_t **out);
void rs_zone_free(rs_zone_t *zone);

/*
 * Read zone text from path (or standard input for "-"). Errors are reported
 * as "FILE:LINE: what is wrong" in diag; the zone must then be freed.
 */
int rs_zone_read(rs_zone_t *zone, const char *path, rs_diag_t *diag);
/* Read zone text from memory, reported under the name label. */
int rs_zone_read_string(rs_zone_t *zone, const char *text, size_t len, const char *label,
			rs_diag_t *diag);
/*
 * Wire RDATA of one record of type from its presentation form (for example a
 * DS "12345 13 2 4F0A..."), read by the same scanner as zone text. out holds
 * max octets; *len gets the length. RS_ESYNTAX with the reason in diag.
 */
int rs_rdata_from_text(uint16_t type, const char *text, uint8_t *out, size_t max, size_t *len, rs_diag_t *diag);
/* Add one record (wire owner, RDATA copied and canonicalised). Only before rs_zone_finish(). */
int rs_zone_add(rs_zone_t *zone, const uint8_t *owner, uint16_t type, uint32_t ttl,
		const uint8_t *rdata, size_t len);
/* Name a source of records (a file, "registry data of ZONE") for diagnostics; *index names it. */
int rs_zone_source(rs_zone_t *zone, const char *label, uint32_t *index);
/* rs_zone_add from a source, at line (0: none): diagnostics then say where the record came from. */
int rs_zone_add_from(rs_zone_t *zone, uint32_t source, uint32_t line, const uint8_t *owner, uint16_t type,
		     uint32_t ttl, const uint8_t *rdata, size_t len);
/*
 * Sort, remove duplicates, unify RRset TTLs (lowest wins, RFC 2181 5.2),
 * check the zone rules (one SOA and NS at the apex, no DS there, one record of
 * a singleton type at a name, CNAME alone, CDS/CDNSKEY matching the DNSKEYs as
 * cds_must_match says) and mark cuts.
 */
int rs_zone_finish(rs_zone_t *zone, rs_diag_t *diag);
/*
 * The managed zone's rule on a finished zone, whatever its cds_must_match:
 * RS_EZONE if an apex CDS or CDNSKEY matches none of its DNSKEYs (the RFC
 * 8078 delete signals aside), naming FILE:LINE or, with no line, the record.
 */
int rs_zone_check_cds(const rs_zone_t *zone, rs_diag_t *diag);

const rs_name_t *rs_zone_origin(const rs_zone_t *zone);
const rs_node_t *rs_zone_nodes(const rs_zone_t *zone, size_t *count);
const rs_rr_t *rs_zone_rrs(const rs_zone_t *zone);
/* The apex SOA record. */
const rs_rr_t *rs_zone_soa(const rs_zone_t *zone);
/* Replace the SOA serial. */
void rs_zone_set_serial(rs_zone_t *zone, uint32_t serial);
/* Give each delegation's DS RRset the TTL of its NS RRset (after finish); returns records changed. */
size_t rs_zone_ds_ttl_from_ns(rs_zone_t *zone);
const char *rs_zone_file_name(const rs_zone_t *zone, uint32_t index);
/*
 * RS_EZONE with "FILE:LINE: TTL N is above ..." for the first record read
 * from a file whose TTL is above max (what ttl.max-zone forbids).
 */
int rs_zone_check_ttls(const rs_zone_t *zone, uint32_t max, rs_diag_t *diag);
/* Number of records TTL-unified by rs_zone_finish (RRsets whose TTLs differed). */
size_t rs_zone_ttl_fixes(const rs_zone_t *zone);

/*
 * Patching: the next version of a finished zone from the records of the
 * names that changed, without sorting the rest again (the daemon's change
 * sets, rs_sign_update). One edit gives a name's whole new record set.
 */
typedef struct {
	const uint8_t *owner; /* wire; a new name keeps this case, an existing one its own */
	const rs_rr_t *rrs;   /* owner ignored; RDATA copied and canonicalised; none: the name goes */
	size_t count;
} rs_zone_edit_t;

/* Patches that share storage in a row before one makes a full copy. */
#define RS_ZONE_CHAIN_MAX 32
/* Storage patches may add before one makes a full copy, when it is also a quarter of the copy's. */
#define RS_ZONE_CHAIN_BYTES ((size_t)16 << 20)

/*
 * A finished zone: base (finished) with the records of each edited name
 * replaced. edits are in canonical order of their owners, one per name.
 * Each edited name's records are ordered, exact duplicates dropped and
 * RRset TTLs unified as rs_zone_finish does; its flags are set as
 * rs_zone_finish sets them, and so are those of the names below it when a
 * cut or DNAME comes or goes there; the zone rules are checked for the edited
 * names (RS_EZONE with diag), and, when the apex is edited and
 * opts.cds_must_match, its CDS and CDNSKEY against its DNSKEYs as
 * rs_zone_finish does.
 *
 * Memory: the nodes and records arrays are *out's own, but the RDATA and
 * names of base that *out keeps are not copied: *out holds a reference to
 * base's storage (thread-safe counts), so base may be freed first. Chains of
 * patches share storage until RS_ZONE_CHAIN_MAX, until the storage they
 * added passes RS_ZONE_CHAIN_BYTES and a quarter of the last full copy's,
 * or until a patch edits a quarter of the names: that one copies
 * everything it keeps (compaction),
 * and the storage of old versions goes with their last reference. Caller
 * frees *out with rs_zone_free(). rs_zone_set_serial() on a patched zone
 * copies the SOA first, so base never changes.
 */
int rs_zone_patch(const rs_zone_t *base, const rs_zone_edit_t *edits, size_t nedits, rs_zone_t **out,
		  rs_diag_t *diag);
/* Storage blocks *zone holds (1 for a zone read or compacted; more for a patched zone). */
size_t rs_zone_chain(const rs_zone_t *zone);

/* ---- diffs ---- */

/* One record of a diff, in wire form (owner uncompressed, RDATA canonical). */
typedef struct {
	const uint8_t *owner;
	const uint8_t *rdata;
	uint32_t ttl;
	uint16_t type;
	uint16_t rdlen;
} rs_xrr_t;

/*
 * From one serial to the next: the old SOA, the records removed (old SOA
 * excluded), the new SOA, the records added (new SOA excluded), each list in
 * canonical order. The diff owns its records' memory (rs_diff_clear).
 */
typedef struct {
	uint32_t from, to;
	rs_xrr_t soa_from, soa_to;
	rs_xrr_t *removed, *added;
	size_t nremoved, nadded;
	void *mem; /* private: the storage behind the records, one malloc() block */
} rs_diff_t;

/*
 * The diff from zone old to zone new (both finished, same origin), by one
 * walk of the two in canonical order: a record whose TTL changed is removed
 * and added. RS_EINVAL if the serials are equal or new's is not after old's.
 */
int rs_diff_zones(const rs_zone_t *old, const rs_zone_t *new, rs_diff_t *out, rs_diag_t *diag);
/* Free what a diff holds; it may be cleared twice. */
void rs_diff_clear(rs_diff_t *diff);
/* Octets the diff takes in wire form (to bound a history). */
uint64_t rs_diff_size(const rs_diff_t *diff);
/*
 * The zone diff leads to from base (whose serial is diff->from): a patch of
 * the names it touches (rs_zone_patch). RS_EINVAL if a record it removes is
 * not in base (the diff is not base's).
 */
int rs_zone_apply_diff(const rs_zone_t *base, const rs_diff_t *diff, rs_zone_t **out, rs_diag_t *diag);

/* The node whose name has the canonical key (rs_dname_key) key, or NULL; after finish. */
const rs_node_t *rs_zone_find(const rs_zone_t *zone, const uint8_t *key, size_t key_len);
/* The index of the first node whose key is at or after key in canonical order (the node count if none). */
size_t rs_zone_lower_bound(const rs_zone_t *zone, const uint8_t *key, size_t key_len);
/* The index of the first node after nodes[i] that is not below it (descendants follow a name). */
size_t rs_zone_subtree_end(const rs_zone_t *zone, size_t i);

/* Index range [*begin, *end) of the RRset of type at node; false if absent. */
bool rs_node_rrset(const rs_zone_t *zone, const rs_node_t *node, uint16_t type, uint32_t *begin,
		   uint32_t *end);

/*
 * Text of one RR as a zone file line ("owner ttl IN TYPE rdata\n"), appended
 * to buf. owner_text may be NULL to format the owner from owner_wire.
 */
int rs_rr_format(rs_buf_t *buf, const char *owner_text, const uint8_t *owner_wire, uint32_t ttl,
		 uint16_t type, const uint8_t *rdata, size_t len);

/*
 * The whole zone as text, one record per line: at each name its RRsets in
 * canonical type order (the SOA first at the apex), each followed by the
 * RRSIGs over it, as the signer writes a signed zone.
 */
int rs_zone_write(const rs_zone_t *zone, FILE *out, rs_diag_t *diag);
/* Presentation form of a wire name (escaped, trailing dot) into out, which holds
 * at least 4 * RS_NAME_MAX + 2 octets. Returns the length. */
int rs_name_format(const uint8_t *wire, char *out, size_t max);
