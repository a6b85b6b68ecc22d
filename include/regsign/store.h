/*
 * store: regsign's persistent state in one SQLite database (DIR/state.db):
 * zones, their policies, keys with every timing and record state, and the
 * history of every step. The only module that speaks SQL.
 *
 * The database runs in WAL mode with synchronous=FULL: a committed change
 * survives power loss, an interrupted one leaves no trace. Callers group the
 * changes of one operation between rs_store_begin() and rs_store_commit();
 * begin takes the write lock, so two regsign processes never interleave.
 * The schema carries its version (PRAGMA user_version) and is migrated
 * forward on open.
 */
#pragma once

#include <stdint.h>

#include "regsign/base.h"
#include "regsign/policy.h"

typedef struct rs_store rs_store_t;

/* rs_store_open flags. */
#define RS_STORE_CREATE 1 /* make the directory (mode 0700) and database if they are not there */
#define RS_STORE_ANY_AGE 2 /* open a database behind its audit log too (to inspect or accept it) */

/*
 * Open the state directory dir. Without RS_STORE_CREATE, a directory that
 * holds no state.db is refused (RS_ENOENT): a typo must not start a new,
 * empty state. So is a state older than its audit log (RS_ESTALE, see
 * rs_audit_state_check), unless RS_STORE_ANY_AGE, and one whose directory,
 * database, log, keys/ or hsm/ others may write (RS_EDENIED): whoever can
 * write there can replace keys or roll the state back. Caller closes with
 * rs_store_close().
 */
int rs_store_open(const char *dir, int flags, rs_store_t **out, rs_diag_t *diag);
void rs_store_close(rs_store_t *store);
const char *rs_store_dir(const rs_store_t *store);

/* A write transaction; waits up to 30 s for another writer. */
int rs_store_begin(rs_store_t *store, rs_diag_t *diag);
int rs_store_commit(rs_store_t *store, rs_diag_t *diag);
void rs_store_rollback(rs_store_t *store);
/*
 * A read snapshot: every read until rs_store_read_end sees one consistent
 * state, and writers are never held up by it (WAL).
 */
int rs_store_read_begin(rs_store_t *store, rs_diag_t *diag);
void rs_store_read_end(rs_store_t *store);

/*
 * One writer per zone: an exclusive lock on DIR/locks/ZONE, held until
 * rs_store_unlock or the process ends (kill -9 included). With wait false,
 * a zone another process holds gives RS_EBUSY and a diagnostic naming it.
 */
typedef struct rs_store_lock rs_store_lock_t;
int rs_store_zone_lock(rs_store_t *store, const char *zone, bool wait, rs_store_lock_t **out, rs_diag_t *diag);
void rs_store_unlock(rs_store_lock_t *lock);

typedef struct {
	char name[256];   /* presentation form with the trailing dot */
	char policy[64];
	char input[4096]; /* unsigned zone file */
	uint32_t soa_ttl, soa_minimum;
	uint32_t serial;     /* last serial signed */
	int64_t added;
	int64_t last_enforce; /* 0: never */
	int64_t last_sign;    /* 0: never */
	int64_t next_event;   /* INT64_MAX: waits for the operator */
	uint32_t max_ttl;     /* ttl.max-zone of the policy in force at the last run */
	uint32_t old_max_ttl; /* see rs_keyset_t.old_max_zone_ttl */
	int64_t old_max_until;
	char parent_agents[512]; /* the parent's servers to ask for the DS ("ADDR[@PORT] ..."); may be empty */
	bool registry;        /* built from the registry data (input is its template), not from input alone */
	char output[4096];    /* where the last publication was written; "" before the first */
	int64_t last_failure; /* the last publication that failed; 0: none since the last success */
	char last_error[512]; /* why it failed */
} rs_zone_rec_t;

/* RS_EINVAL with a message if the zone exists. */
int rs_store_zone_add(rs_store_t *store, const rs_zone_rec_t *zone, rs_diag_t *diag);
/* RS_ENOENT if there is no such zone. */
int rs_store_zone_get(rs_store_t *store, const char *name, rs_zone_rec_t *out);
/* Every field but registry, which only rs_store_zone_mark_registry sets (registry commands race with sessions). */
int rs_store_zone_update(rs_store_t *store, const rs_zone_rec_t *zone, rs_diag_t *diag);
/* The zone is built from the registry data from now on. */
int rs_store_zone_mark_registry(rs_store_t *store, const char *name, rs_diag_t *diag);
/* Remove a zone and its keys' rows (history stays). */
int rs_store_zone_remove(rs_store_t *store, const char *name, rs_diag_t *diag);
/* All zones by name; caller frees *out. */
int rs_store_zone_list(rs_store_t *store, rs_zone_rec_t **out, size_t *count);

/* Policy text by name, as imported; *text is malloc'd, caller frees. RS_ENOENT if none. */
int rs_store_policy_get(rs_store_t *store, const char *name, char **text);
int rs_store_policy_put(rs_store_t *store, const char *name, const char *text, int64_t now,
			rs_diag_t *diag);
/* Names of imported policies, one per call: i from 0 until RS_ENOENT. */
int rs_store_policy_name(rs_store_t *store, size_t i, char name[64]);

/* Every key a zone ever had (removed ones too, so tags are never reused). */
int rs_store_keys_load(rs_store_t *store, const char *zone, rs_keyset_t *set);
/* Write every key of set (insert or update). */
int rs_store_keys_save(rs_store_t *store, const char *zone, const rs_keyset_t *set, rs_diag_t *diag);

/* A verified, written publication of a zone: what resolvers can see from when. */
typedef struct {
	int64_t time;
	uint32_t serial;
	uint64_t signatures, reused;
	char keys[256];     /* "dnskey=T,T ksk=T zsk=T": the key tags of the DNSKEY RRset and of its signers */
	char output[4096];
} rs_publication_t;

int rs_store_publication_add(rs_store_t *store, const char *zone, const rs_publication_t *pub, rs_diag_t *diag);
/* Call fn for the last n publications of zone, oldest first. */
int rs_store_publications(rs_store_t *store, const char *zone, size_t n,
			  void (*fn)(void *arg, const rs_publication_t *pub), void *arg);

/*
 * Keys about to be made: recorded before their material exists, removed with
 * the key's own row. One left behind names material an interrupted run made.
 */
int rs_store_intent_add(rs_store_t *store, const char *zone, const char *locator, int64_t when, rs_diag_t *diag);
int rs_store_intent_remove(rs_store_t *store, const char *locator, rs_diag_t *diag);
/* Call fn for each key intent of zone. */
int rs_store_intents(rs_store_t *store, const char *zone, void (*fn)(void *arg, const char *locator, int64_t when),
		     void *arg);

/*
 * Quarantined key material: keys the state did not know (an intent with no
 * key row, a key file or token object no row names), set aside instead of
 * destroyed. Only the operator ends a quarantine: destroy or release.
 */
typedef struct {
	char locator[96]; /* as it was: a key file's base name, or pkcs11:id=... */
	char zone[256];
	int64_t time;     /* when it was quarantined */
	char label[300];  /* a token object's label before it was quarantined; "" for key files */
	char why[300];
} rs_quarantine_rec_t;

int rs_store_quarantine_add(rs_store_t *store, const rs_quarantine_rec_t *rec, rs_diag_t *diag);
int rs_store_quarantine_remove(rs_store_t *store, const char *locator, rs_diag_t *diag);
/* RS_ENOENT if locator is not quarantined. */
int rs_store_quarantine_get(rs_store_t *store, const char *locator, rs_quarantine_rec_t *out);
/* Call fn for each quarantined key of zone (every zone if NULL), oldest first. */
int rs_store_quarantine_each(rs_store_t *store, const char *zone, void (*fn)(void *arg, const rs_quarantine_rec_t *rec),
			     void *arg);
/* Does any row name locator: a key, a key intent, a removed zone's key, a quarantined key? */
int rs_store_locator_known(rs_store_t *store, const char *locator, bool *known);

/* Append a line to the zone's history. tag 0: about the zone. */
int rs_store_history_add(rs_store_t *store, const char *zone, int64_t when, uint16_t tag,
			 const char *what);
/* Call fn for each history line of zone, oldest first. */
int rs_store_history(rs_store_t *store, const char *zone,
		     void (*fn)(void *arg, int64_t when, uint16_t tag, const char *what), void *arg);

/* Site settings (the key store, the audit destination): RS_ENOENT if name is not set. */
int rs_store_setting_get(rs_store_t *store, const char *name, char *out, size_t max);
int rs_store_setting_put(rs_store_t *store, const char *name, const char *value, rs_diag_t *diag);

/*
 * Audit entries. Each is recorded in the transaction of the change it
 * describes, then copied to the log file; entries the file holds are trimmed
 * except the last, which stays as the head the file is checked against.
 */
int rs_store_audit_head(rs_store_t *store, uint64_t *seq, char hash[65]);
int rs_store_audit_add(rs_store_t *store, uint64_t seq, const char *line, const char *hash, rs_diag_t *diag);
/* Call fn for each entry after seq, in order; stops at the first error fn returns. */
int rs_store_audit_since(rs_store_t *store, uint64_t seq, int (*fn)(void *arg, uint64_t seq, const char *line),
			 void *arg);
/* Forget the entries before seq. */
int rs_store_audit_trim(rs_store_t *store, uint64_t seq, rs_diag_t *diag);

/* The zone's secondaries ("ADDR[@PORT]"), each with TSIG key name tsig ("" or NULL: none); replaces the list. */
int rs_store_secondaries_set(rs_store_t *store, const char *zone, const char *const *addrs, size_t n,
			     const char *tsig, rs_diag_t *diag);
/* Call fn for each secondary of zone, by address. */
int rs_store_secondaries(rs_store_t *store, const char *zone, void (*fn)(void *arg, const char *addr, const char *tsig),
			 void *arg);
/* A number that every change of the registry data (domains, DS) increases, whoever makes it. */
int rs_store_registry_generation(rs_store_t *store, uint64_t *gen);
/*
 * The delegations of zone changed after generation since (added, changed or
 * removed), each once with the generation of its last change, in order;
 * fn's error stops the walk and is returned.
 */
int rs_store_registry_dirty(rs_store_t *store, const char *zone, uint64_t since,
			    int (*fn)(void *arg, const char *domain, uint64_t gen), void *arg);
/* Forget the changes of zone up to generation upto (they are in a published version). */
int rs_store_registry_dirty_trim(rs_store_t *store, const char *zone, uint64_t upto, rs_diag_t *diag);

/*
 * Registry data: registrars, delegations (domains of a registry zone with
 * their name servers, glue and DS records), the history of every change, and
 * the state of CDS/CDNSKEY scans. Everything registry code knows of stored
 * delegations passes through these functions and records, so another
 * database (PostgreSQL for a large registry) is a second implementation of
 * this section, not a change to its callers.
 */
typedef struct {
	char id[64];       /* EPP client identifier (clID) */
	char name[128];
	char pw_hash[160]; /* crypto_pwhash_str (Argon2id); never the password */
	char cert[65];     /* SHA-256 of the client certificate (DER), hex; "" accepts none */
	int64_t added;
} rs_registrar_rec_t;

int rs_store_registrar_put(rs_store_t *store, const rs_registrar_rec_t *rec, rs_diag_t *diag);
/* RS_ENOENT if there is no such registrar. */
int rs_store_registrar_get(rs_store_t *store, const char *id, rs_registrar_rec_t *out);
/* Call fn for every registrar by id; stops at fn's first error. */
int rs_store_registrar_each(rs_store_t *store, int (*fn)(void *arg, const rs_registrar_rec_t *rec), void *arg);

/*
 * Failed EPP logins of who (RS_LOGIN_REGISTRAR "ID" or RS_LOGIN_ADDRESS
 * "ADDR"), counted across sessions: how many since the last good login or
 * unlock, and the time before which no other attempt is checked. get: RS_ENOENT (zeros) if none counted.
 */
#define RS_LOGIN_REGISTRAR "registrar:"
#define RS_LOGIN_ADDRESS "address:"
int rs_store_login_failures_get(rs_store_t *store, const char *who, unsigned *failures, int64_t *next);
int rs_store_login_failures_put(rs_store_t *store, const char *who, unsigned failures, int64_t next,
				rs_diag_t *diag);
int rs_store_login_failures_clear(rs_store_t *store, const char *who, rs_diag_t *diag);
/* Forget the counts whose who begins with prefix and whose next is before before. */
int rs_store_login_failures_expire(rs_store_t *store, const char *prefix, int64_t before, rs_diag_t *diag);

typedef struct {
	char name[256];      /* presentation form, lower case, trailing dot */
	char zone[256];      /* the registry zone it is delegated from */
	char registrar[64];  /* sponsor */
	uint32_t ns_ttl;     /* TTL of the NS RRset, and so of the DS RRset */
	uint32_t max_sig_life; /* secDNS maxSigLife asked for; 0: none */
	char ns[1024];       /* name server names, space separated */
	char glue[2048];     /* "HOST/ADDRESS" pairs, space separated */
	int64_t added, updated;
} rs_domain_rec_t;

#define RS_STORE_DS_MAX 16 /* DS records one delegation may have */

/* One DS of a delegation: RDATA in hex, and the DNSKEY it came from (RFC 5910 keyData) or "". */
typedef struct {
	char rdata[2 * 132 + 1];
	char dnskey[2 * 1100 + 1];
	int64_t added;
} rs_ds_row_t;

/* Insert or replace a delegation (its DS rows are kept). */
int rs_store_domain_put(rs_store_t *store, const rs_domain_rec_t *rec, rs_diag_t *diag);
/* RS_ENOENT if there is no such delegation. */
int rs_store_domain_get(rs_store_t *store, const char *name, rs_domain_rec_t *out);
/* Remove a delegation and its DS rows (its history stays). */
int rs_store_domain_remove(rs_store_t *store, const char *name, rs_diag_t *diag);
/*
 * Call fn for every delegation of zone (every zone if NULL) by name, with its
 * DS rows; stops at fn's first error, which it returns.
 */
int rs_store_domain_each(rs_store_t *store, const char *zone,
			 int (*fn)(void *arg, const rs_domain_rec_t *rec, const rs_ds_row_t *ds, size_t nds),
			 void *arg);

/* The DS rows of a delegation, oldest first; at most RS_STORE_DS_MAX. */
int rs_store_ds_get(rs_store_t *store, const char *domain, rs_ds_row_t rows[RS_STORE_DS_MAX], size_t *count);
int rs_store_ds_add(rs_store_t *store, const char *domain, const rs_ds_row_t *row, rs_diag_t *diag);
int rs_store_ds_clear(rs_store_t *store, const char *domain, rs_diag_t *diag);

/* A line in a delegation's history: who (operator, epp:CLID, cds-scan) did what. */
int rs_store_domain_history_add(rs_store_t *store, const char *domain, int64_t when, const char *actor,
				const char *what, rs_diag_t *diag);
int rs_store_domain_history(rs_store_t *store, const char *domain,
			    void (*fn)(void *arg, int64_t when, const char *actor, const char *what), void *arg);

/* The CDS/CDNSKEY set a scan last saw for domain (digest of it), since when and in how many scans. */
int rs_store_cds_get(rs_store_t *store, const char *domain, char digest[65], int64_t *first, unsigned *scans);
int rs_store_cds_put(rs_store_t *store, const char *domain, const char *digest, int64_t first, unsigned scans,
		     rs_diag_t *diag);
int rs_store_cds_clear(rs_store_t *store, const char *domain, rs_diag_t *diag);
