/*
 * registry: a zone's relations with its parent and its children.
 *
 * Upwards: the DS RRset the parent publishes, asked of the parent's servers
 * (the "parental agents" of BIND, Knot's "parent" servers), so the key state
 * machine learns by itself when a DS appeared or went (RFC 7583 3.3.2).
 *
 * Downwards, for a registry: the DS records of its delegations as registrars
 * (EPP secDNS-1.1, RFC 5910) or registrants submit them; the pre-delegation
 * check against the child's own servers; removal and emergency removal;
 * CDS/CDNSKEY scanning (RFC 7344, RFC 8078); and the registry zone built from
 * all of it. DNS questions go out with ldns; stored data through the store.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "regsign/base.h"
#include "regsign/store.h"

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

/*
 * Any RRset of an authoritative server, as monitoring asks for it: the
 * records (RDATA only, canonical order, duplicates dropped) and, with sigs,
 * the RRSIGs covering it (DO set). The answer must be authoritative and
 * NOERROR; NODATA gives an empty set. RS_EIO (no answer, an error rcode, not
 * authoritative) or RS_ESYNTAX (server is not ADDR or ADDR@PORT, a record
 * that cannot be read) with the reason in diag, which begins "SERVER: ".
 */
#define RS_DNSQ_SET_MAX 32
#define RS_DNSQ_RDATA_MAX 1400 /* a DNSKEY of RSA-4096, or its RRSIG */
typedef struct {
	size_t count;
	uint32_t ttl;
	uint16_t len[RS_DNSQ_SET_MAX];
	uint8_t rdata[RS_DNSQ_SET_MAX][RS_DNSQ_RDATA_MAX];
} rs_dnsq_set_t;
int rs_dnsq_rrset(const char *server, const uint8_t *qname, uint16_t qtype, unsigned timeout_ms, rs_dnsq_set_t *set,
		  rs_dnsq_set_t *sigs, rs_diag_t *diag);
/*
 * A full transfer (AXFR, RFC 5936) of zone (wire) from server over TCP: fn
 * gets each record (wire owner and RDATA; the closing SOA left out), and
 * *records how many. A server that refuses (REFUSED, NOTAUTH, NOTIMP) sets
 * *refused and is no error; one that does not answer or ends early is
 * RS_EIO, an error of fn stops the transfer; the reason in diag.
 */
typedef int (*rs_dnsq_record_t)(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl, const uint8_t *rdata,
				size_t len);
int rs_dnsq_axfr(const char *server, const uint8_t *zone, unsigned timeout_ms, rs_dnsq_record_t fn, void *arg,
		 bool *refused, uint64_t *records, rs_diag_t *diag);
/* The A and AAAA addresses of host from resolver (NULL: the system's), as dnsq_addresses (internal.h) finds them. */
int rs_dnsq_addresses(const char *resolver, const char *host, unsigned timeout_ms, char addrs[][64], size_t max,
		      size_t *count, rs_diag_t *diag);

/* Does set hold a DS for the DNSKEY (RDATA) of owner, with a correct digest of any supported type? */
bool rs_ds_set_has_key(const rs_ds_set_t *set, const uint8_t *owner, const uint8_t *dnskey, size_t len);

/* Does DS RDATA ds match the DNSKEY RDATA of owner (key tag, algorithm and digest)? */
bool rs_ds_matches(const uint8_t *ds, size_t ds_len, const uint8_t *owner, const uint8_t *dnskey, size_t len);

/* ---- DS records of delegations ---- */

#define RS_DNSKEY_RDATA_MAX 1100

/* One DS of a delegation: its RDATA, and the DNSKEY it was made from when one was given (keyData). */
typedef struct {
	uint16_t ds_len;
	uint16_t key_len; /* 0: no DNSKEY */
	uint8_t ds[RS_DS_RDATA_MAX];
	uint8_t key[RS_DNSKEY_RDATA_MAX];
} rs_ds_entry_t;

/*
 * Is DS RDATA one the registry takes? RS_ESYNTAX if malformed (a digest of
 * the wrong length for its type), RS_EALG for an algorithm or digest type it
 * does not take (SHA-1 ones included, RFC 8624), with the reason in diag.
 */
int rs_ds_check(const uint8_t *rdata, size_t len, rs_diag_t *diag);
/* The entry for a DNSKEY of owner (keyData): checked, with its SHA-256 DS. */
int rs_ds_entry_from_key(const uint8_t *owner, const uint8_t *dnskey, size_t len, rs_ds_entry_t *out,
			 rs_diag_t *diag);
/* The entry for DS presentation RDATA ("TAG ALG DIGEST-TYPE HEX"), checked. */
int rs_ds_entry_from_text(const char *text, rs_ds_entry_t *out, rs_diag_t *diag);
/* Presentation form of an entry's DS RDATA into out. */
int rs_ds_entry_format(const rs_ds_entry_t *e, char *out, size_t max);
/* Entries to and from stored rows (hex). */
void rs_ds_entry_to_row(const rs_ds_entry_t *e, int64_t added, rs_ds_row_t *row);
int rs_ds_entry_from_row(const rs_ds_row_t *row, rs_ds_entry_t *out);

/* Entries of stored rows into out, damaged rows skipped; returns how many. */
size_t rs_ds_entries_from_rows(const rs_ds_row_t *rows, size_t n, rs_ds_entry_t *out);

/* ---- The text forms of a stored delegation (rs_domain_rec_t) ---- */

/* Is name at or below parent? Presentation forms, lower case, with the final dot. */
bool rs_name_text_under(const char *name, const char *parent);
/*
 * The addresses glue ("HOST/ADDRESS ...", as stored) holds for host, one per
 * call: *pos starts NULL and marks where the next search begins. False when
 * none is left.
 */
bool rs_glue_next(const char *glue, const char *host, const char **pos, char addr[64]);
/* The registry's delegation that holds name: name itself or its nearest ancestor. RS_ENOENT if none. */
int rs_registry_holder(rs_store_t *store, const char *name, rs_domain_rec_t *out);

/* ---- A child zone's own servers ---- */

#define RS_SERVERS_MAX 16

/* What one name server of a child answered, for the operator or registrar to read. */
typedef struct {
	char server[80]; /* ADDR@PORT, or the name server's name when it has no address */
	int result;      /* RS_EOK: proven; RS_ECHECK: answered but did not prove; RS_EIO: no usable answer */
	char detail[240]; /* what it answered, or why it was not asked; without the server's name */
} rs_server_result_t;

/*
 * Pre-delegation check at one server (RIPE NCC DPS, "method to prove
 * possession"): the child's DNSKEY RRset holds a key matching one of ds that
 * signs the DNSKEY RRset validly at now.
 */
void rs_child_prove(const char *server, const uint8_t *child, const rs_ds_entry_t *ds, size_t nds, int64_t now,
		    unsigned timeout_ms, rs_server_result_t *result);

/* A child's CDS/CDNSKEY, as one server publishes them. */
typedef struct {
	const uint8_t *child; /* the zone the set is for (borrowed) */
	bool present;  /* any CDS or CDNSKEY at all */
	bool remove;   /* the delete signal (RFC 8078 4): CDS 0 0 0 00, CDNSKEY 0 3 0 AA== */
	size_t count;
	rs_ds_entry_t entries[RS_STORE_DS_MAX];
	uint8_t digest[32]; /* of the set, to compare servers and scans */
} rs_cds_set_t;

/*
 * Read the CDS and CDNSKEY RRsets at one server and accept them only when
 * signed (RFC 7344 4.1) by a key that the current DS (ds) vouches for and
 * that signs the DNSKEY RRset, and when the new set would itself be proven
 * by that DNSKEY RRset. RS_ECHECK with the reason when not.
 */
int rs_child_cds(const char *server, const uint8_t *child, const rs_ds_entry_t *ds, size_t nds, int64_t now,
		 unsigned timeout_ms, rs_cds_set_t *out, rs_diag_t *diag);

/*
 * Bootstrapping an insecure child (RFC 9615): the CDS/CDNSKEY its operator
 * publishes at _dsboot.CHILD._signal.NS for name server NS, read from server
 * (a server of the signalling zone szone) and accepted only when signed by a
 * key of szone's DNSKEY RRset, itself proven by szone's DS (ds).
 */
int rs_child_signal(const char *server, const uint8_t *child, const uint8_t *ns, const uint8_t *szone,
		    const rs_ds_entry_t *ds, size_t nds, int64_t now, unsigned timeout_ms, rs_cds_set_t *out,
		    rs_diag_t *diag);
/* The CDS/CDNSKEY at an insecure child's apex as server serves them (unvalidated: compared with the signals). */
int rs_child_apex_cds(const char *server, const uint8_t *child, unsigned timeout_ms, rs_cds_set_t *out,
		      rs_diag_t *diag);

/* ---- Changes to delegations ---- */

/* Pre-delegation check policy: skip it, report a failure but accept, or refuse the DS. */
typedef enum { RS_CHECK_OFF, RS_CHECK_WARN, RS_CHECK_ENFORCE } rs_check_mode_t;

/* How the registry checks and records its changes; the caller fills it from the site settings. */
typedef struct {
	rs_store_t *store;
	rs_check_mode_t check;
	uint16_t dns_port;      /* the children's servers listen here (53) */
	unsigned timeout_ms;    /* per question to a child's server, or to the resolver */
	char resolver[64];      /* ADDR[@PORT] resolving name servers outside the registry; "": the system's */
	uint32_t min_sig_life;  /* a maxSigLife below the registry's own signature validity is refused */
	uint32_t max_ttl;       /* a delegation's NS TTL above it (the policy's ttl.max-zone) is refused; 0: none */
	/* Called inside the transaction of every change to write its audit entry; an error undoes it. */
	int (*record)(void *arg, int64_t when, const char *actor, const char *action, const char *domain,
		      const char *result, const char *detail, rs_diag_t *diag);
	/* Called after every commit (the audit entries then go to the log file and syslog). */
	void (*committed)(void *arg);
	void *arg;
} rs_registry_t;

/* A change of a delegation's DS set, applied as secDNS-1.1 orders it (RFC 5910 3.2.5): rem, add, chg. */
typedef struct {
	bool rem_all;
	size_t nrem, nadd;
	rs_ds_entry_t rem[RS_STORE_DS_MAX];
	rs_ds_entry_t add[RS_STORE_DS_MAX];
	bool set_max_sig_life;
	uint32_t max_sig_life;
} rs_ds_change_t;

/* The pre-delegation check of a change: one line per server asked, or name server without an address. */
typedef struct {
	bool checked;
	size_t count;
	rs_server_result_t servers[RS_SERVERS_MAX];
} rs_check_report_t;

/*
 * The addresses to ask about delegation d, each with reg->dns_port appended:
 * the glue of its name servers; for a name server without, the glue of the
 * registry's delegation that holds it, else its A and AAAA records from
 * reg->resolver (the system's if ""). A name server none of these gives an
 * address is added to report (if not NULL) as an entry of its own, result
 * RS_EIO and why (NXDOMAIN, no A or AAAA, the resolver did not answer);
 * servers and report together hold at most RS_SERVERS_MAX entries. RS_ENOENT
 * if no name server has an address, with the first one's reason in diag.
 */
int rs_delegation_servers(const rs_registry_t *reg, const rs_domain_rec_t *d, char servers[RS_SERVERS_MAX][80],
			  size_t *count, rs_check_report_t *report, rs_diag_t *diag);

/*
 * Change the DS set of delegation domain. registrar: the client making the
 * change, which must sponsor the domain; NULL for the registry itself. actor
 * names who acts in the history and audit ("epp:CLID", "operator NAME",
 * "cds-scan"); reason, if not NULL, marks an emergency removal and is
 * recorded. Added DS are first checked at the child's servers (reg->check).
 *
 * Outcomes, each with the reason in diag and nothing changed: RS_ENOENT no
 * such domain; RS_EDENIED not the sponsor; RS_EINVAL a DS to remove is not
 * there; RS_ELIMIT more than RS_STORE_DS_MAX records; RS_ERANGE maxSigLife
 * below reg->min_sig_life; RS_ECHECK the check failed (report says where).
 */
int rs_registry_ds_update(const rs_registry_t *reg, const char *domain, const char *registrar, const char *actor,
			  const rs_ds_change_t *chg, const char *reason, int64_t now, rs_check_report_t *report,
			  rs_diag_t *diag);

/* Run the pre-delegation check of ds against d's servers (whatever reg->check says). */
int rs_registry_check(const rs_registry_t *reg, const rs_domain_rec_t *d, const rs_ds_entry_t *ds, size_t nds,
		      int64_t now, rs_check_report_t *report, rs_diag_t *diag);

/*
 * Add or replace a delegation (its DS records stay), after checking its
 * names: domain directly below zone, at least one name server, glue only for
 * name servers inside the domain (RS_ESYNTAX with the reason otherwise).
 */
int rs_registry_domain_put(const rs_registry_t *reg, const rs_domain_rec_t *d, const char *actor, int64_t now,
			   rs_diag_t *diag);

/*
 * Take the delegations of zone from zone text at path (an existing TLD moving
 * in): every NS RRset below the apex with its glue and DS, sponsored by
 * registrar, all in one transaction. Returns the count in *count.
 */
int rs_registry_import(const rs_registry_t *reg, const char *zone, const char *path, const char *registrar,
		       const char *actor, int64_t now, size_t *count, rs_diag_t *diag);

/*
 * The records one stored delegation puts into the registry zone (NS, DS with
 * the NS TTL, glue), to fn, as rs_registry_zone_build adds them: RS_ENOENT
 * if the domain is not stored (removed), RS_EZONE with why if its data
 * cannot be published (the zone leaves it out). Read in one snapshot.
 */
int rs_registry_delegation_records(const rs_registry_t *reg, const char *domain, uint32_t max_ttl,
				   int (*fn)(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl,
					     const uint8_t *rdata, size_t len),
				   void *arg, rs_diag_t *diag);
/*
 * The registry zone, into zone (not yet finished): the template's own
 * records (tmpl, the finished zone of the input file: apex and other
 * authoritative data; its delegations, glue, DNSKEY, CDS and CDNSKEY are
 * dropped in favour of the registry's), then every delegation of the store
 * with its NS, glue and DS, the DS with the NS RRset's TTL (both
 * statements), all read in one snapshot. A delegation whose stored data
 * cannot be published (a name or TTL the zone refuses, a damaged DS or glue,
 * an NS TTL above max_ttl) is left out, counted in *skipped and reported to
 * skip (may be NULL) with the reason.
 */
int rs_registry_zone_build(const rs_registry_t *reg, const rs_zone_t *tmpl, uint32_t max_ttl, rs_zone_t *zone,
			   void (*skip)(void *arg, const char *domain, const char *reason), void *arg,
			   size_t *delegations, size_t *skipped, rs_diag_t *diag);

/* Every delegation of zone as zone text (domain export); RS_EZONE if some are damaged. */
int rs_registry_export(const rs_registry_t *reg, const char *zone, FILE *out, size_t *delegations, rs_diag_t *diag);

/* ---- EPP (RFC 5730) with the domain mapping (RFC 5731) and secDNS-1.1 (RFC 5910) ---- */

#define RS_EPP_FRAME_MAX 65536 /* longest EPP frame taken (RFC 5734 4: the server sets its limit) */

/* The server side: the schemas, loaded once and shared by all sessions. */
typedef struct rs_epp rs_epp_t;
/* One client connection's session (not shared between threads). */
typedef struct rs_epp_session rs_epp_session_t;

/* Load the EPP, domain and secDNS schemas (built in). Caller frees with rs_epp_free(). */
int rs_epp_new(const char *server_id, rs_epp_t **out, rs_diag_t *diag);
void rs_epp_free(rs_epp_t *epp);

/*
 * A session for a client that presented the certificate whose SHA-256 (hex)
 * is peer_cert ("" if none): a login must name a registrar with that
 * certificate. reg is borrowed for the session's life; NULL when the state
 * cannot be opened: the session then answers hello with a greeting, logout
 * with 1500 and every other command with 2400.
 */
int rs_epp_session_new(rs_epp_t *epp, const rs_registry_t *reg, const char *peer_cert, rs_epp_session_t **out);
void rs_epp_session_free(rs_epp_session_t *session);

/*
 * Limits on logins shared by every session of an EPP server; zeros take the
 * defaults. A password check is Argon2id at 64 MiB (crypto_pwhash
 * MEMLIMIT_INTERACTIVE): hash_slots bounds how many run at once, and so the
 * memory they take whatever the clients do.
 */
typedef struct {
	unsigned hash_slots; /* password checks at once (default 2) */
	unsigned lockout;    /* failed logins that lock a registrar until `registrar unlock` (default 10) */
	unsigned delay_max;  /* longest hold (s) of the answer to a failed login (default 30) */
} rs_epp_limits_t;

#define RS_EPP_HASH_SLOTS 2
#define RS_EPP_LOCKOUT 10
#define RS_EPP_DELAY_MAX 30

/* Set the limits; call before any session exists. RS_ENOMEM if the semaphore cannot be made. */
int rs_epp_set_limits(rs_epp_t *epp, const rs_epp_limits_t *limits);

/* What the transport knows of a session's client, and how it is told of internal failures. */
typedef struct {
	const char *addr; /* source address failed logins are counted for ("": none); copied */
	/*
	 * At a login whose credentials are right: may clid have one more
	 * session? false: the login is answered 2502 and the session ends.
	 * NULL: always.
	 */
	bool (*admit)(void *arg, const char *clid);
	void *arg;
	/* Where the details of a 2400 go (the registrar sees only a reference); borrowed. */
	const rs_log_t *log;
} rs_epp_peer_t;

/* Tell session about its client (once, before the first frame). */
void rs_epp_session_set_peer(rs_epp_session_t *session, const rs_epp_peer_t *peer);

/*
 * Seconds the transport holds the answer of the last frame before sending it:
 * a failed login waits 1, 2, 4 ... s (at most delay_max) with the failures of
 * its registrar or address, so guessing is slow across sessions too.
 */
unsigned rs_epp_answer_delay(const rs_epp_session_t *session);

/* The greeting, sent when a client connects (and in answer to hello). */
int rs_epp_greeting(rs_epp_session_t *session, int64_t now, rs_buf_t *out);
/*
 * Answer one frame (an EPP XML document): the response goes to out, and
 * *close says whether the server closes the connection after sending it
 * (logout, too many failed logins). Malformed or hostile input gets the
 * EPP result code that says why (2001, 2002, 2004, 2005, 2101, 2102, 2103,
 * 2200, 2201, 2303, 2306, 2307 ...) and changes nothing.
 */
int rs_epp_handle(rs_epp_session_t *session, const uint8_t *frame, size_t len, int64_t now, rs_buf_t *out,
		  bool *close);
/* A response with code and text for a failure outside any command (a frame over the limit, too many sessions). */
int rs_epp_error(int code, const char *text, rs_buf_t *out);
/* The registrar the session is logged in as, or NULL. */
const char *rs_epp_client(const rs_epp_session_t *session);
