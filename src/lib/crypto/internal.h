/* Private body of rs_key_t, shared by key.c and sign.c only. */
#pragma once

#include <openssl/evp.h>

#include "regsign/crypto.h"
#include "regsign/dns.h"

struct rs_key {
	uint8_t owner[RS_NAME_MAX];
	uint8_t alg;
	uint16_t flags;
	uint16_t tag;
	uint8_t *dnskey; /* full DNSKEY RDATA */
	size_t dnskey_len;
	EVP_PKEY *pkey;  /* public, or key pair when has_private */
	bool has_private;
	uint8_t ed_sk[64]; /* libsodium Ed25519 secret key (seed || public) */
	const rs_key_ops_t *ext; /* private part held elsewhere, see rs_key_set_external */
	void *ext_ctx;
};

/* Kind of public-key math behind an algorithm. */
enum key_kind { KIND_RSA, KIND_EC, KIND_EDDSA, KIND_NONE };
enum key_kind rs_alg_kind(int alg);
/* Curve or EdDSA size in octets (32, 48, 57), 0 for RSA. */
size_t rs_alg_point_size(int alg);
