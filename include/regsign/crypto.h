/*
 * crypto: DNSSEC algorithms over OpenSSL 3 (and libsodium for Ed25519
 * signing, which measured about 1.8x faster here), DNSKEY/DS, key tags,
 * BIND-compatible key files, signing and verification, NSEC3 hashing.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regsign/base.h"

/* DNSSEC algorithm numbers, IANA "DNS Security Algorithm Numbers":
 * https://www.iana.org/assignments/dns-sec-alg-numbers/dns-sec-alg-numbers.xhtml */
typedef enum {
	RS_ALG_RSASHA1 = 5,
	RS_ALG_RSASHA1_NSEC3_SHA1 = 7,
	RS_ALG_RSASHA256 = 8,
	RS_ALG_RSASHA512 = 10,
	RS_ALG_ECDSAP256SHA256 = 13,
	RS_ALG_ECDSAP384SHA384 = 14,
	RS_ALG_ED25519 = 15,
	RS_ALG_ED448 = 16,
} rs_alg_t;

/* DS digest types, IANA "Delegation Signer (DS) Resource Record (RR) Type Digest Algorithms". */
enum { RS_DS_SHA1 = 1, RS_DS_SHA256 = 2, RS_DS_SHA384 = 4 };

#define RS_DNSKEY_ZONE 0x0100
#define RS_DNSKEY_SEP 0x0001
#define RS_DNSKEY_REVOKE 0x0080
#define RS_SIG_MAX 1024 /* RSA-4096 is 512 octets; room to spare */

/* Mnemonic ("ECDSAP256SHA256") of a known algorithm, NULL otherwise. */
const char *rs_alg_name(int alg);
/* Number from mnemonic or decimal text; RS_EALG if unknown. */
int rs_alg_from_str(const char *text, int *alg);
/* True for algorithms regsign can sign and verify with. */
bool rs_alg_supported(int alg);
/* True for algorithms only allowed with an explicit legacy opt-in (RSASHA1 variants). */
bool rs_alg_legacy(int alg);
/* True if alg may be used in an NSEC3 zone (RFC 5155 2: not 5, 3, 1). */
bool rs_alg_nsec3_ok(int alg);

/* Key tag of DNSKEY RDATA (RFC 4034 Appendix B). */
uint16_t rs_keytag(const uint8_t *rdata, size_t len);

/* A DNSSEC key: public part always, private part when loaded from a .private file or generated. */
typedef struct rs_key rs_key_t;

/* Generate a key pair for origin (wire form). bits is for RSA only (0 = default). */
int rs_key_generate(const uint8_t *origin, int alg, unsigned bits, bool ksk, rs_key_t **out,
		    rs_diag_t *diag);
/*
 * Build a key from a PKCS#8 PEM private key file (as kept by Knot's keystore).
 * The algorithm follows from the key; alg picks between RSA ones (0 = RSASHA256).
 */
int rs_key_import_pem(const char *path, const uint8_t *origin, int alg, bool ksk, rs_key_t **out,
		      rs_diag_t *diag);
/*
 * Load BIND-format files: path is "DIR/K<name>+<alg>+<tag>" with or without
 * .key/.private. With need_private the .private file must exist and agree
 * with the public key.
 */
int rs_key_load(const char *path, bool need_private, rs_key_t **out, rs_diag_t *diag);
/* Build a public-only key from DNSKEY RDATA (for verification). */
int rs_key_from_dnskey(const uint8_t *owner, const uint8_t *rdata, size_t len, rs_key_t **out);
/* The base name of the key's BIND files, K<origin>+<alg>+<tag>, into out (max octets). */
int rs_key_file_name(const rs_key_t *key, char *out, size_t max);
/*
 * -EEXIST, said, if DIR/basename.key or .private exists: the name is fixed by
 * the tag, which another key may have, and no key's files are ever replaced.
 */
int rs_key_files_free(const char *dir, const char *basename, rs_diag_t *diag);
/* Write DIR/K<origin>+<alg>+<tag>.key and .private (0600), each atomically. */
int rs_key_save(const rs_key_t *key, const char *dir, int64_t now, uint32_t ttl, char *basename,
		size_t basename_max, rs_diag_t *diag);
void rs_key_free(rs_key_t *key);
/* An independent copy of key (private part included), freed on its own; RS_EINVAL for a token key. */
int rs_key_dup(const rs_key_t *key, rs_key_t **out);

uint16_t rs_key_tag(const rs_key_t *key);
int rs_key_alg(const rs_key_t *key);
uint16_t rs_key_flags(const rs_key_t *key);
/*
 * Set the REVOKE bit (RFC 5011 2.1): the DNSKEY RDATA and so the key tag
 * change, the key material does not. The key then signs as the revoked key.
 */
void rs_key_set_revoked(rs_key_t *key);
bool rs_key_is_ksk(const rs_key_t *key);
bool rs_key_has_private(const rs_key_t *key);
const uint8_t *rs_key_owner(const rs_key_t *key);
/* DNSKEY RDATA; borrowed until the key is freed. */
const uint8_t *rs_key_dnskey(const rs_key_t *key, size_t *len);
/* Size in bits of the key (RSA modulus, curve order). */
unsigned rs_key_bits(const rs_key_t *key);
/* Largest signature this key makes, in octets. */
size_t rs_key_sig_max(const rs_key_t *key);

/*
 * A private key held outside this process (an HSM): the signer calls these
 * instead of the crypto library. open makes one thread's signing handle (a
 * PKCS#11 session); sign writes the DNSSEC wire-form signature of data;
 * release_ctx frees ctx when the key is freed.
 */
typedef struct {
	int (*open)(void *ctx, void **handle);
	int (*sign)(void *handle, const uint8_t *data, size_t len, uint8_t *sig, size_t *sig_len);
	void (*close)(void *handle);
	void (*release_ctx)(void *ctx);
} rs_key_ops_t;

/* Give a public key a private part held elsewhere; the key takes ownership of ctx. */
void rs_key_set_external(rs_key_t *key, const rs_key_ops_t *ops, void *ctx);

/* DS RDATA for owner/DNSKEY RDATA with the given digest type; returns length or negative code. */
int rs_ds_make(const uint8_t *owner, const uint8_t *dnskey, size_t dnskey_len, int digest,
	       uint8_t *out, size_t max);

/*
 * Signing context: one per key per thread (OpenSSL contexts are not shared).
 * The message is hashed here and signed with the private key.
 */
typedef struct rs_signer rs_signer_t;
int rs_signer_new(const rs_key_t *key, rs_signer_t **out);
/* Sign data; writes the DNSSEC wire-form signature into sig (rs_key_sig_max bytes). */
int rs_signer_sign(rs_signer_t *s, const uint8_t *data, size_t len, uint8_t *sig, size_t *sig_len);
void rs_signer_free(rs_signer_t *s);

/*
 * Verify a DNSSEC wire-form signature over data with a key's public part.
 * Returns RS_EOK if valid, RS_ECRYPTO if not, another code on error.
 * Thread-safe for concurrent calls on the same key.
 */
int rs_key_verify(const rs_key_t *key, const uint8_t *data, size_t len, const uint8_t *sig,
		  size_t sig_len);

/* NSEC3 hash (RFC 5155 5) with SHA-1; out holds 20 octets. */
int rs_nsec3_hash(const uint8_t *name, size_t name_len, const uint8_t *salt, size_t salt_len,
		  unsigned iterations, uint8_t out[20]);
