/*
 * policy: what a DNSSEC Practice Statement promises about keys and
 * signatures, as a policy read from a commented YAML file, and the key state
 * machine that keeps those promises.
 *
 * The state machine follows the timing model of RFC 7583 and the record
 * states of "Flexible and Robust Key Rollover" (Mekking), as BIND and Knot
 * use them: for each key, its DNSKEY record, its signature over the DNSKEY
 * RRset (KRRSIG), its signatures over the zone data (ZRRSIG) and its DS at
 * the parent are each hidden, rumoured (being introduced, some caches may
 * not have it), omnipresent (every cache that holds the RRset has it) or
 * unretentive (withdrawn, some caches may still hold it). A record only moves
 * from rumoured to omnipresent, or unretentive to hidden, once its TTL and
 * the propagation delay have passed; a rollover step only starts when the
 * records it relies on are omnipresent (or hidden). Time is always a parameter.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "regsign/base.h"
#include "regsign/nsec.h"

/* Key roles; a combined signing key (CSK) is both. */
enum { RS_ROLE_KSK = 1, RS_ROLE_ZSK = 2, RS_ROLE_CSK = 3 };

/* Rollover methods (RFC 6781 4.1). */
enum { RS_ROLL_PREPUBLISH = 1, RS_ROLL_DOUBLE_SIGNATURE = 2 };

/* How TTLs follow the zone (the statements' TTL tables). */
enum { RS_TTL_FIXED = 0, RS_TTL_SOA = 1, RS_TTL_SOA_MINIMUM = 2, RS_TTL_RFC9077 = 3 };

/* SOA serial policy. */
enum { RS_SERIAL_KEEP = 0, RS_SERIAL_INCREMENT, RS_SERIAL_UNIXTIME, RS_SERIAL_DATE };

typedef struct {
	int alg;
	unsigned bits;    /* RSA modulus size; 0 for fixed-size algorithms */
	int64_t lifetime; /* seconds in use before the successor takes over; 0: no scheduled rollover */
	int64_t publish;  /* published this long before first use */
	int64_t retire;   /* kept published this long after last use */
	int method;       /* RS_ROLL_* */
} rs_policy_key_t;

typedef struct {
	char name[64];
	char description[256];
	bool csk;                 /* one combined key instead of a KSK and a ZSK */
	rs_policy_key_t ksk, zsk; /* with csk, ksk describes the combined key */
	unsigned max_dnskeys;     /* largest DNSKEY RRset allowed; 0: no limit */

	int64_t sig_validity;  /* RRSIG expiration - signing time */
	int64_t sig_refresh;   /* the zone is signed again at this interval */
	int64_t sig_jitter;    /* expiration is moved earlier by up to this much */
	int64_t sig_inception; /* inception is this long before the signing time */

	int dnskey_ttl_mode; /* RS_TTL_FIXED or RS_TTL_SOA */
	uint32_t dnskey_ttl;
	int nsec_ttl_mode; /* RS_TTL_SOA, RS_TTL_SOA_MINIMUM or RS_TTL_RFC9077 */
	uint32_t max_zone_ttl; /* no record of the zone may have a larger TTL */
	bool ds_ttl_from_ns;   /* delegation DS RRsets take the TTL of their NS RRset */

	bool nsec3;
	rs_nsec3_params_t nsec3_params;

	/*
	 * ZONEMD (RFC 8976) digests of the signed zone: zonemd_set says the
	 * policy decides (nzonemd hashes, 0 for "none": an input ZONEMD is
	 * dropped); else the input's apex ZONEMD, if any, says which.
	 */
	bool zonemd_set;
	uint8_t nzonemd;
	uint8_t zonemd[2]; /* RS_ZONEMD_SHA384, RS_ZONEMD_SHA512 */

	int64_t zone_propagation; /* until every secondary serves a new zone version */
	int serial;               /* RS_SERIAL_* */

	uint32_t parent_ds_ttl;
	int64_t parent_propagation;
	bool ds_auto;  /* assume the parent publishes a submitted DS (simulation); else the operator confirms */
	int ds_digest; /* digest type of the DS regsign asks the parent for */
	bool cds;      /* publish CDS/CDNSKEY for the parent to pick up */
	bool backup_before_use; /* a new key is not used until a backup holds it (regsign backup) */
	/*
	 * The fewest key holders whose shares must activate the keys: with 1 or
	 * more, keys live in a token that the holders activate (no share kept on
	 * the signer); 0: the statement promises nothing about it.
	 */
	unsigned key_holders;

	int64_t clock_max_jump; /* refuse to sign when the clock moved further ahead than this */
	/*
	 * Trust anchors published for relying parties (the statements' section
	 * 2): the acceptable use policy that heads each file, as text or as a
	 * file read at each publication, and how long a KSK stays listed.
	 */
	struct {
		char aup[4096];      /* AUP text; "" when aup_file gives it */
		char aup_file[256];  /* path of a file that holds the AUP; "": none */
		char contact[256];   /* who relying parties write to */
		int64_t min_retrieval; /* the AUP's minimum retrieval time: a compromised KSK keeps operating this long */
		bool from_dnskey;    /* list a new KSK from its DNSKEY's publication; else from its DS request */
		bool rfc5011;        /* RFC 5011: hold-downs before a new KSK is used and a revoked old one leaves */
		int64_t add_holddown;    /* RFC 5011 2.4.1: 30 days */
		int64_t remove_holddown; /* RFC 5011 2.4.2: 30 days */
	} anchors;
} rs_policy_t;

/*
 * Parse policy text (YAML). label names the source in diagnostics
 * ("FILE:LINE: field: what is wrong"). Fields left out take defaults; unknown
 * fields are errors. Whether the policy is safe is rs_policy_check's question.
 */
int rs_policy_parse(const char *text, size_t len, const char *label, rs_policy_t *out,
		    rs_diag_t *diag);

/*
 * Check that a policy can be kept safely, with the zone's DNSKEY TTL when the
 * policy takes it from the SOA (soa_ttl; 0 if unknown). Returns RS_EOK or
 * RS_EINVAL with the first reason in diag.
 */
int rs_policy_check(const rs_policy_t *policy, uint32_t soa_ttl, rs_diag_t *diag);

/*
 * Does the refresh margin (validity - refresh - jitter, what a freshly signed
 * zone never drops below) cover SOA expire + the largest TTL (ttl.max-zone,
 * else max_ttl: the zone's largest)? RS_EOK, or RS_ERANGE with the reason in
 * diag: a warning for the operator, not a refusal (policy/margin.c says why).
 */
int rs_policy_check_margin(const rs_policy_t *policy, uint32_t soa_expire, uint32_t max_ttl, rs_diag_t *diag);
/*
 * Line (1-based) of a field given by its dotted path ("keys.zsk.publish") in
 * policy text, or 0 if the text does not set it. rs_policy_check's reasons
 * start with that path, so callers can point at the line.
 */
size_t rs_policy_field_line(const char *text, size_t len, const char *path);

/* Shipped policies: text of the one called name, or NULL. */
const char *rs_policy_builtin(const char *name);
/* Name of the i-th shipped policy, NULL past the end. */
const char *rs_policy_builtin_name(size_t i);

/* Expiration of the signatures of a signing run at t: validity less a jitter. */
int64_t rs_policy_expiration(const rs_policy_t *policy, int64_t t);

/* Duration as the policy files write it ("90d", "1h30m", "0"); out holds 32 octets. */
void rs_policy_duration_format(int64_t seconds, char *out);

/* ---- key state machine ---- */

/* The records of a key, and their states. */
enum { RS_REC_DNSKEY, RS_REC_KRRSIG, RS_REC_ZRRSIG, RS_REC_DS, RS_REC_COUNT };
enum { RS_HIDDEN = 0, RS_RUMOURED, RS_OMNIPRESENT, RS_UNRETENTIVE };

/* Where a key's DS stands with the parent, beyond its record state. */
enum { RS_DS_NONE = 0, RS_DS_SUBMIT, RS_DS_WITHDRAW };

/* Why a key is going away. */
enum { RS_GOAL_ACTIVE = 0, RS_GOAL_RETIRE, RS_GOAL_RETIRE_ALG, RS_GOAL_DEAD };

/* Key flags. */
enum {
	RS_KEY_EMERGENCY = 1 << 0, /* replaces a compromised key: shortest safe intervals */
	RS_KEY_ALG_ROLL = 1 << 1,  /* introduced by an algorithm rollover (RFC 6781 4.1.4) */
	RS_KEY_COMPROMISED = 1 << 2,
	RS_KEY_DESTROYED = 1 << 3, /* removed, and its material destroyed */
	/*
	 * RFC 5011 (trust-anchors.rfc5011): the DNSKEY carries the REVOKE bit
	 * and the key signs the DNSKEY RRset only to show it; since[DNSKEY] is
	 * the publication that first showed the revoked record.
	 */
	RS_KEY_REVOKED = 1 << 4,
};

/* One key of a zone, as the state machine and the store see it. No secret here. */
typedef struct {
	uint16_t tag; /* unique in its zone, forever */
	uint8_t alg;
	uint8_t role; /* RS_ROLE_* */
	uint16_t bits;
	uint16_t predecessor; /* tag of the key this one replaces; 0: none */
	uint8_t goal;         /* RS_GOAL_* */
	uint8_t ds;           /* RS_DS_* */
	uint8_t flags;        /* RS_KEY_* */
	uint8_t state[RS_REC_COUNT];
	int64_t since[RS_REC_COUNT];
	int64_t created, published, active, retired, removed; /* 0: not yet */
	int64_t backup;   /* last backup that holds the key; 0: none */
	/*
	 * Records (1 << RS_REC_*) whose last change no publication has carried
	 * yet: their state is what the next zone will show, and their time
	 * counts from that publication (rs_keyset_published), never from the
	 * decision. A pending record does not settle.
	 */
	uint8_t pending;
	char locator[96]; /* where the key material is: a key file's base name, or pkcs11:id=... */
} rs_keystate_t;

/* The keys of one zone, and what the state machine must know about the zone. */
typedef struct {
	rs_keystate_t *keys;
	size_t count;
	size_t cap;
	uint32_t soa_ttl;   /* for TTLs that follow the SOA */
	uint32_t soa_minimum;
	/* After a policy change lowered ttl.max-zone, records with the old largest TTL can
	 * stay in caches until old_max_until: signatures wait for them that long. */
	uint32_t old_max_zone_ttl;
	int64_t old_max_until;
} rs_keyset_t;

/*
 * The largest zone TTL allowed went from old_max to new_max at now (a policy
 * change): if it went down, records with the old TTL stay cached until
 * now + old_max + propagation, and signature states wait for them.
 */
void rs_keyset_max_ttl_change(rs_keyset_t *set, uint32_t old_max, uint32_t new_max, int64_t propagation,
			      int64_t now);

/* What the state machine did, or waits for: typed, so callers choose audit actions without reading text. */
typedef enum {
	RS_EV_CREATED,      /* a key was made */
	RS_EV_STATE,        /* a record (rec) went to state */
	RS_EV_PUBLISHED,    /* the DNSKEY joins the RRset */
	RS_EV_ACTIVE,       /* the key signs the zone */
	RS_EV_RETIRED,      /* the key no longer signs the zone, or the DNSKEY RRset */
	RS_EV_WITHDRAWN,    /* the DNSKEY leaves the RRset */
	RS_EV_REMOVED,      /* every record is gone: the key material is to be destroyed */
	RS_EV_DS_SUBMIT,    /* the parent is asked to publish the key's DS */
	RS_EV_DS_CANCEL,    /* a DS submission not yet seen is withdrawn */
	RS_EV_DS_WITHDRAW,  /* the parent is asked to remove the key's DS */
	RS_EV_COMPROMISED,  /* marked compromised: an emergency rollover */
	RS_EV_OVER_LIMIT,   /* an emergency key takes the DNSKEY RRset past max-dnskeys */
	RS_EV_DEFERRED,     /* a step that max-dnskeys holds back: no change */
	RS_EV_CUSTODY_WAIT, /* a step that waits for the key holders or a backup: no change */
	RS_EV_REVOKED,      /* the DNSKEY is published with the REVOKE bit for the remove hold-down (RFC 5011) */
} rs_event_type_t;

typedef struct {
	rs_event_type_t type;
	const rs_keystate_t *key; /* NULL: about the zone */
	int rec, state;           /* for RS_EV_STATE */
	const char *text;         /* the step in words ("DNSKEY rumoured", "created (RSASHA256 1024)") */
} rs_event_t;

/* Is the event a change of state (not a step held back)? */
bool rs_event_is_change(const rs_event_t *ev);

/* Step report, one call per event. */
typedef void (*rs_enforce_log_t)(void *arg, int64_t when, const rs_event_t *ev);

/*
 * Create a key for a rollover: fill tag, bits and locator of key (role, alg,
 * flags and predecessor are set). The tag must not be used by any key in
 * keys. Return RS_EOK, RS_ELOCKED when key changes need an activation that is
 * not there (the rollover waits, reported once), or another error code (the
 * enforcer then stops).
 */
typedef int (*rs_key_maker_t)(void *arg, const rs_keyset_t *keys, rs_keystate_t *key);

typedef struct {
	rs_key_maker_t make_key;
	void *make_arg;
	rs_enforce_log_t log; /* may be NULL */
	void *log_arg;
	/*
	 * May be NULL: called once a new key (set->keys[index]) is in the set
	 * and its predecessor's goal is set, so the caller can record that the
	 * key exists before anything else happens; an error stops the run.
	 */
	int (*made)(void *arg, const rs_keyset_t *set, size_t index);
} rs_enforce_ctx_t;

/* Ask for a rollover of the current key(s) of role now (RS_ROLE_KSK, _ZSK or _CSK). */
#define RS_ROLLOVER_EMERGENCY 1
int rs_enforce_rollover(const rs_policy_t *policy, rs_keyset_t *set, int role, int flags,
			int64_t now, const rs_enforce_ctx_t *ctx, rs_diag_t *diag);

/*
 * Take every step that is due at now, repeatedly, until none is. Sets *next
 * to the time of the next scheduled step (INT64_MAX if it waits only for the
 * operator). Returns RS_EOK, or an error from make_key. Steps that a policy
 * limit forbids are not taken; they are reported once as deferred.
 */
int rs_enforce(const rs_policy_t *policy, rs_keyset_t *set, int64_t now,
	       const rs_enforce_ctx_t *ctx, int64_t *next, rs_diag_t *diag);

/*
 * Look ahead: the events of keys from now until end, as the state machine
 * will take them, on a copy (keys is not changed), with a publication after
 * every step and the parent acting on each DS request at once (pending ones
 * count as confirmed now). Keys not made yet are stand-ins: a free tag from
 * 65535 down, locator "plannednew1", "plannednew2", ... log (may be NULL)
 * gets each event; ev->key points into the copy, valid during the call.
 */
int rs_enforce_plan(const rs_policy_t *policy, const rs_keyset_t *keys, int64_t now, int64_t end,
		    rs_enforce_log_t log, void *log_arg, rs_diag_t *diag);

/* The parent has published (seen) or removed (gone) the DS of key tag. */
int rs_enforce_ds_seen(rs_keyset_t *set, uint16_t tag, int64_t now, rs_diag_t *diag);
int rs_enforce_ds_gone(rs_keyset_t *set, uint16_t tag, int64_t now, rs_diag_t *diag);

/*
 * A verified publication that showed the keys' current states was written
 * at when: every pending record's time starts now (since, and the
 * published, active, retired or removed time it set), and none is pending.
 */
void rs_keyset_published(rs_keyset_t *set, int64_t when);
/* Number of live keys with records waiting for a publication. */
size_t rs_keyset_pending(const rs_keyset_t *set);

/* What the signer does with a key at this moment. */
bool rs_keystate_published(const rs_keystate_t *key); /* DNSKEY in the zone (perhaps revoked) */
bool rs_keystate_signs_keys(const rs_keystate_t *key); /* signs the DNSKEY RRset */
bool rs_keystate_signs_data(const rs_keystate_t *key); /* signs the other RRsets */
/* The parent should publish this key's DS now (CDS/CDNSKEY, regsign ds --zone). */
bool rs_keystate_wants_ds(const rs_keystate_t *key);

/* The DNSKEY TTL the policy gives for a zone whose SOA has soa_ttl. */
uint32_t rs_policy_dnskey_ttl(const rs_policy_t *policy, uint32_t soa_ttl);

/* Names for reports: "hidden", "ksk", "omnipresent", ... */
const char *rs_recstate_name(int state);
const char *rs_role_name(int role);
const char *rs_goal_name(int goal);

/* Key set helpers. */
int rs_keyset_add(rs_keyset_t *set, const rs_keystate_t *key);
/* An independent copy of from, zone fields included, into out (cleared first). Caller clears it. */
int rs_keyset_copy(const rs_keyset_t *from, rs_keyset_t *out);
rs_keystate_t *rs_keyset_find(rs_keyset_t *set, uint16_t tag);
void rs_keyset_clear(rs_keyset_t *set);

/* ---- a model of caching validating resolvers ---- */

/*
 * Each RRset a resolver can cache (the DS RRset at the parent, the DNSKEY
 * RRset with its signatures, the zone data with theirs) goes through
 * versions. A version served during [start, end) can sit in a cache until
 * end + linger (propagation and TTL), and a resolver can hold any mix of
 * versions whose windows overlap: every such (DS, DNSKEY, data) triple must
 * validate. The simulation feeds it the state machine's versions; a test can
 * feed it what real publications contained.
 */
typedef struct rs_model rs_model_t;

typedef struct {
	uint16_t tag;
	uint8_t alg;
} rs_model_key_t;

#define RS_MODEL_SET_MAX 16
typedef struct {
	uint8_t n;
	rs_model_key_t keys[RS_MODEL_SET_MAX];
} rs_model_set_t;

typedef struct {
	int64_t ds_linger, dnskey_linger, data_linger;
} rs_model_opts_t;

/* Lingers of a policy: its propagation delays and TTLs, plus extra. */
void rs_model_lingers(const rs_policy_t *policy, uint32_t soa_ttl, int64_t extra, rs_model_opts_t *out);
/* Add key to set (ignored past RS_MODEL_SET_MAX). */
void rs_model_set_add(rs_model_set_t *set, uint16_t tag, int alg);

int rs_model_new(const rs_model_opts_t *opts, rs_model_t **out);
void rs_model_free(rs_model_t *model);
/* Versions served from now on linger this long (a policy change). */
void rs_model_set_lingers(rs_model_t *model, const rs_model_opts_t *opts);
/* From when on, the parent serves the DS of the keys in ds. */
int rs_model_parent(rs_model_t *model, int64_t when, const rs_model_set_t *ds);
/*
 * From when on, the zone serves this DNSKEY RRset, signed by key_signers, and
 * data signed by data_signers; *changed says whether that is a new version.
 */
int rs_model_zone(rs_model_t *model, int64_t when, const rs_model_set_t *dnskey, const rs_model_set_t *key_signers,
		  const rs_model_set_t *data_signers, bool *changed);
/*
 * Check every combination of cached versions; one line per bogus one,
 * stamped with the time it can first happen, goes to report. Counts into
 * *combinations and *bogus.
 */
int rs_model_check(const rs_model_t *model, rs_buf_t *report, uint64_t *combinations, uint64_t *bogus);

/* ---- simulation ---- */

typedef struct {
	int64_t start;
	int64_t days;
	uint32_t soa_ttl;
	/* Operator actions during the run: emergency rollovers and a policy change. */
	int64_t emergency_zsk_at, emergency_ksk_at; /* 0: none */
	int64_t policy_change_at;                   /* 0: none */
	const rs_policy_t *new_policy;
	/* Delay the world adds beyond the policy's propagation delays (a lagging secondary or
	 * parent): the resolver model sees it, the enforcer does not. */
	int64_t extra_delay;
	/* Optional: make real keys and check the real signer at each change. */
	rs_key_maker_t make_key;
	void *make_arg;
	/* Optional: called after each zone change with the keys; returns problems found. */
	int (*check_signer)(void *arg, const rs_policy_t *policy, const rs_keyset_t *set, int64_t now,
			    rs_buf_t *report);
	void *check_arg;
	/* Follow a resolver that tracks the KSK by RFC 5011, even when the policy does not promise to. */
	bool track_rfc5011;
} rs_sim_opts_t;

typedef struct {
	uint64_t events;          /* key state changes */
	uint64_t zone_versions;   /* distinct zone contents published */
	uint64_t combinations;    /* cached (DS, DNSKEY, data) combinations checked */
	uint64_t bogus;           /* combinations a validator would reject */
	uint64_t signer_problems; /* differences between the real signer and the model */
	unsigned max_dnskeys;     /* largest DNSKEY RRset published */
	uint64_t limit_breaches;  /* zone versions with more DNSKEYs than the policy allows */
	uint64_t keys;            /* keys created */
	/* Times an RFC 5011 resolver (opts track_rfc5011, or the policy's trust-anchors.rfc5011)
	 * would find no key it trusts signing the DNSKEY RRset. */
	uint64_t anchor_problems;
} rs_sim_result_t;

/*
 * Run the enforcer over simulated time with a model of a caching validating
 * resolver (every DS, DNSKEY and RRSIG cached for its full TTL, any mix of
 * versions it could hold), checking every combination. timeline receives one
 * line per event (and per problem); svg, if not NULL, a picture of each key's
 * states over time.
 */
int rs_simulate(const rs_policy_t *policy, const rs_sim_opts_t *opts, rs_buf_t *timeline,
		rs_buf_t *svg, rs_sim_result_t *result, rs_diag_t *diag);
