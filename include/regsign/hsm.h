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
 * label. *out signs through the token; locator (RS_LOCATOR_MAX) names it.
 */
int rs_hsm_generate(rs_hsm_t *hsm, const uint8_t *origin, int alg, unsigned bits, bool ksk,
		    const char *label, rs_key_t **out, char *locator, rs_diag_t *diag);
/* The key at locator, as an alg key of origin with the KSK flag or not. RS_ENOENT if the token lacks it. */
int rs_hsm_key(rs_hsm_t *hsm, const char *locator, const uint8_t *origin, int alg, bool ksk, rs_key_t **out,
	       rs_diag_t *diag);
/* Set the label of the key at locator (both halves). */
int rs_hsm_relabel(rs_hsm_t *hsm, const char *locator, const char *label, rs_diag_t *diag);
/* Destroy every object of the key at locator (C_DestroyObject). RS_ENOENT if there is none. */
int rs_hsm_destroy(rs_hsm_t *hsm, const char *locator, rs_diag_t *diag);
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
