/*
 * hsm: key custody. Keys generated and used inside a PKCS#11 token (the
 * module is loaded with p11-kit; SoftHSM2 is the embedded default), the
 * token's wrapped backups, and the activation data that unlocks it, split
 * m-of-n with Shamir's secret sharing so that no one person holds it.
 *
 * A token key is found by its CKA_ID, written in the store as a locator
 * "pkcs11:id=%..": an RFC 7512 URI with the one attribute regsign needs.
 * Private keys are created sensitive, so their value never leaves the token
 * in clear; they are extractable only wrapped, and only under a key the
 * security officer marked trusted (CKA_WRAP_WITH_TRUSTED): the backup key,
 * which is loaded into the token only for a backup or restore.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regsign/base.h"
#include "regsign/crypto.h"

/* Largest secret that is split into shares (PINs, the backup key), in octets. */
#define RS_SECRET_MAX 64
/* Length of a PKCS#11 key locator with its NUL. */
#define RS_LOCATOR_MAX 96

/* An open token: its module, slot and one logged-in session. */
typedef struct rs_hsm rs_hsm_t;

/*
 * Initialise the first free token of module with label, so_pin and a user pin
 * (C_InitToken, C_InitPIN). RS_ENOENT if the module has no free token.
 */
int rs_hsm_init_token(const char *module, const char *label, const char *so_pin, const char *pin,
		      rs_diag_t *diag);

/* Open the token labelled label. RS_ENOENT if there is none. Caller closes with rs_hsm_close(). */
int rs_hsm_open(const char *module, const char *label, rs_hsm_t **out, rs_diag_t *diag);
/* Log in as the user; every key operation needs it. A wrong PIN gives RS_EDENIED. */
int rs_hsm_login(rs_hsm_t *hsm, const char *pin, rs_diag_t *diag);
/* Check the security officer's PIN (log in and out again): the admin role. Before rs_hsm_login. */
int rs_hsm_check_so(rs_hsm_t *hsm, const char *so_pin, rs_diag_t *diag);
/* Keys made from this token keep it open until they are freed too. */
void rs_hsm_close(rs_hsm_t *hsm);

/*
 * Generate a key pair inside the token (private part sensitive, signing only,
 * wrappable only by the trusted backup key) for origin (wire form), labelled
 * label. *out signs through the token; locator (RS_LOCATOR_MAX) names it: the
 * CKA_ID to use when it is set on entry (see rs_hsm_new_locator), else a random one.
 */
int rs_hsm_generate(rs_hsm_t *hsm, const uint8_t *origin, int alg, unsigned bits, bool ksk,
		    const char *label, rs_key_t **out, char *locator, rs_diag_t *diag);
/* A fresh random locator ("pkcs11:id=..."), for a key about to be made. */
void rs_hsm_new_locator(char *locator);
/* The key at locator, as an alg key of origin with the KSK flag or not. RS_ENOENT if the token lacks it. */
int rs_hsm_key(rs_hsm_t *hsm, const char *locator, const uint8_t *origin, int alg, bool ksk, rs_key_t **out,
	       rs_diag_t *diag);
/* Set the label of the key at locator (both halves). */
int rs_hsm_relabel(rs_hsm_t *hsm, const char *locator, const char *label, rs_diag_t *diag);
/* Destroy every object of the key at locator (C_DestroyObject). RS_ENOENT if there is none. */
int rs_hsm_destroy(rs_hsm_t *hsm, const char *locator, rs_diag_t *diag);
/*
 * Objects with neither CKA_ID nor CKA_LABEL that a kill inside key
 * generation left (they hold no key): counted, and when label is set given
 * locator's id and that label. See pkcs11.c.
 */
int rs_hsm_adopt_shells(rs_hsm_t *hsm, const char *locator, const char *label, size_t *count, rs_diag_t *diag);
/* Call fn for each key pair regsign made in the token (locator, label). */
int rs_hsm_list(rs_hsm_t *hsm, void (*fn)(void *arg, const char *locator, const char *label), void *arg,
		rs_diag_t *diag);

/*
 * Load the backup key for this open token: an AES-256 key, marked trusted,
 * usable only to wrap and unwrap, that lives in the token until
 * rs_hsm_close and is never stored there (the caller keeps its 32 octets split
 * in shares). Needs the security officer's PIN (it sets CKA_TRUSTED), so call
 * it before rs_hsm_login.
 */
int rs_hsm_backup_key_load(rs_hsm_t *hsm, const char *so_pin, const uint8_t key[32], rs_diag_t *diag);
/* The private key at locator wrapped under the backup key (RFC 5649, AES key wrap with padding). */
int rs_hsm_wrap(rs_hsm_t *hsm, const char *locator, rs_buf_t *out, rs_diag_t *diag);
/*
 * Recreate the key pair whose DNSKEY RDATA is dnskey at locator in this token:
 * the private part from wrapped (unwrapped inside the token), the public part
 * from the DNSKEY.
 */
int rs_hsm_unwrap(rs_hsm_t *hsm, const char *locator, const char *label, const uint8_t *dnskey,
		  size_t dnskey_len, const uint8_t *wrapped, size_t wrapped_len, rs_diag_t *diag);

/*
 * The activation agent's side: serve the token of hsm, logged in as the user,
 * to other regsign processes over p11-kit's PKCS#11 RPC (their module is
 * p11-kit-client.so), so that they sign without the PIN. Only the operations
 * the agent offers pass (see serve.c); key changes pass only while
 * may_change() says so. One served token per process; hsm stays open until
 * rs_hsm_serve_end.
 */
int rs_hsm_serve_begin(rs_hsm_t *hsm, bool (*may_change)(void), rs_diag_t *diag);
/* Serve one client connection on fd (a thread each) until it closes; its sessions are closed then. */
int rs_hsm_serve(int fd);
/* Stop: waits for calls in progress; every later call fails (CKR_DEVICE_REMOVED). */
void rs_hsm_serve_end(void);

/* ---- m-of-n shares (Shamir's secret sharing over GF(256), the AES field) ---- */

/* What a set of shares protects. */
typedef enum { RS_SHARE_ACTIVATION, RS_SHARE_ADMIN, RS_SHARE_BACKUP } rs_share_kind_t;

typedef struct {
	rs_share_kind_t kind;
	uint8_t set[8];    /* random id of the set: shares of different sets never mix */
	uint8_t check[8];  /* check value of the secret: a wrong combination is caught */
	unsigned index;    /* x coordinate, 1..n */
	unsigned threshold, count;
	size_t len;
	uint8_t data[RS_SECRET_MAX];
} rs_share_t;

const char *rs_share_kind_name(rs_share_kind_t kind);

/*
 * Split secret (len octets) into count shares, any threshold of which restore
 * it (1 <= threshold <= count <= 255). shares has room for count.
 */
int rs_share_split(rs_share_kind_t kind, const uint8_t *secret, size_t len, unsigned threshold,
		   unsigned count, rs_share_t *shares);
/*
 * Restore the secret from n shares of one set. RS_EINVAL (with the reason) for
 * too few, mixed or repeated shares, or when the result fails the check value.
 */
int rs_share_combine(const rs_share_t *shares, size_t n, uint8_t *secret, size_t *len, rs_diag_t *diag);

/* Printable text of a share, ending in a checksum line; caller wipes and frees with rs_buf_clear. */
int rs_share_format(const rs_share_t *share, rs_buf_t *out);
/* Read a share from text; label names it in the diagnostic ("FILE:LINE: ..."). */
int rs_share_parse(const char *text, size_t len, const char *label, rs_share_t *out, rs_diag_t *diag);

/* ---- key stores: key files and tokens behind one table ---- */

/* What a caller may do with a key store's keys: read public halves, sign, or make and destroy keys. */
enum { RS_ACCESS_PUBLIC = 0, RS_ACCESS_SIGN, RS_ACCESS_ADMIN };

/* A key to make. */
typedef struct {
	const uint8_t *origin; /* wire form */
	int alg;
	unsigned bits;
	bool ksk;
	const char *label;     /* where the back end keeps labels */
	int64_t now;           /* for the timestamps key files carry */
	uint32_t ttl;          /* DNSKEY TTL written in a .key file */
	/*
	 * May be NULL: called with the key's locator before any of its material
	 * exists in the store, so the caller can record what is about to be
	 * made (a crash in between then leaves a key it knows of); an error stops it.
	 */
	int (*intent)(void *arg, const char *locator);
	void *intent_arg;
} rs_keygen_t;

/*
 * A back end. Every function takes the back end's own state (be). A locator
 * names a key within its store (RS_LOCATOR_MAX with the NUL).
 */
typedef struct {
	const char *name; /* "file", "pkcs11" */
	/* -EEXIST (nothing made or changed) when the key's name is taken: the caller tries again. */
	int (*generate)(void *be, const rs_keygen_t *g, rs_key_t **out, char *locator, rs_diag_t *diag);
	/* The key at locator as an alg key of origin (ksk: the SEP flag); RS_ENOENT if the store lacks it. */
	int (*load)(void *be, const char *locator, const uint8_t *origin, int alg, bool ksk, bool need_private,
		    rs_key_t **out, rs_diag_t *diag);
	int (*relabel)(void *be, const char *locator, const char *label, rs_diag_t *diag); /* NULL: no labels */
	/* Destroy the key material beyond recovery; RS_ENOENT if there is none. */
	int (*destroy)(void *be, const char *locator, rs_diag_t *diag);
	int (*list)(void *be, void (*fn)(void *arg, const char *locator, const char *label), void *arg,
		    rs_diag_t *diag);
	/* Raise access to level (a login); NULL: always RS_ACCESS_ADMIN. RS_ELOCKED with the reason. */
	int (*unlock)(void *be, int level, rs_diag_t *diag);
	void (*free)(void *be);
} rs_keystore_ops_t;

typedef struct rs_keystore rs_keystore_t;

/* A key store over ops and be (taken over: freed with it). Caller frees with rs_keystore_free(). */
int rs_keystore_new(const rs_keystore_ops_t *ops, void *be, rs_keystore_t **out);
void rs_keystore_free(rs_keystore_t *ks);
const char *rs_keystore_name(const rs_keystore_t *ks);
/* Unlock to level now, if not yet: RS_ELOCKED with the reason when the key holders have not allowed it. */
int rs_keystore_unlock(rs_keystore_t *ks, int level, rs_diag_t *diag);

/* These unlock as far as they need (admin to generate, relabel and destroy, sign for private keys). */
int rs_keystore_generate(rs_keystore_t *ks, const rs_keygen_t *g, rs_key_t **out, char *locator, rs_diag_t *diag);
int rs_keystore_load(rs_keystore_t *ks, const char *locator, const uint8_t *origin, int alg, bool ksk,
		     bool need_private, rs_key_t **out, rs_diag_t *diag);
int rs_keystore_relabel(rs_keystore_t *ks, const char *locator, const char *label, rs_diag_t *diag);
int rs_keystore_destroy(rs_keystore_t *ks, const char *locator, rs_diag_t *diag);
int rs_keystore_list(rs_keystore_t *ks, void (*fn)(void *arg, const char *locator, const char *label), void *arg,
		     rs_diag_t *diag);

/*
 * Quarantine: key material the state does not know is set aside, never
 * destroyed, until the operator decides. Key files move to dir/quarantine/
 * (0600); a token object keeps its place and is relabelled
 * RS_KEYSTORE_QUARANTINE + its label, which label receives. RS_ENOENT if
 * there is no such key. Each is done once even when repeated, and works on
 * material that was never moved. release puts it back (label: the one it
 * had; NULL: the quarantine label without its prefix); destroy_quarantined
 * destroys it beyond recovery.
 */
#define RS_KEYSTORE_LABEL_MAX 300
#define RS_KEYSTORE_QUARANTINE "quarantine "
int rs_keystore_quarantine(rs_keystore_t *ks, const char *locator, char label[RS_KEYSTORE_LABEL_MAX],
			   rs_diag_t *diag);
int rs_keystore_release(rs_keystore_t *ks, const char *locator, const char *label, rs_diag_t *diag);
int rs_keystore_destroy_quarantined(rs_keystore_t *ks, const char *locator, rs_diag_t *diag);

/* The file back end: BIND key files K<origin>+<alg>+<tag>.key/.private (0600) in dir. */
int rs_keystore_files(const char *dir, rs_keystore_t **out, rs_diag_t *diag);

/*
 * The token back end over an open token (taken over). unlock is called to
 * log in when an operation needs more than public objects; it may be NULL
 * (the caller logged in already, as admin).
 */
int rs_keystore_token(rs_hsm_t *hsm, int (*unlock)(void *arg, rs_hsm_t *hsm, int level, rs_diag_t *diag),
		      void *arg, void (*release)(void *arg), rs_keystore_t **out);
/* The token under a token key store, NULL for another back end (for backup, restore and custody). */
rs_hsm_t *rs_keystore_hsm(rs_keystore_t *ks);
