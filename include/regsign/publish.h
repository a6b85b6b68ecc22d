/*
 * publish: the zone's key-signing keys as trust anchors for relying parties
 * (both statements' section 2): a repository directory that any TLS web
 * server can serve, with, for each zone,
 *
 *   ZONE.dnskey       "trust anchor format": owner DNSKEY flags protocol algorithm key
 *   ZONE.ds           "DS format": owner DS tag algorithm digest-type digest
 *   ZONE.anchors.xml  RFC 9718 XML (KeyDigest with validFrom/validUntil, PublicKey and Flags)
 *   ZONE.bind         a named.conf trust-anchors { ... static-ds ... }; block
 *
 * each headed by the acceptable use policy (AUP) as comments and each with a
 * detached, ASCII-armoured OpenPGP signature FILE.asc (GPGME). ZONE is the
 * zone's name without its final dot ("cloud", "0.0.193.in-addr.arpa").
 * The library decides which keys are listed from their record states and
 * the policy; it never reads the clock.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regsign/base.h"
#include "regsign/policy.h"

/*
 * Is key a trust anchor relying parties need now? A KSK or CSK, from when
 * its DS is requested (policy anchors.from_dnskey false) or its DNSKEY is
 * published (true), until its DNSKEY leaves the DNSKEY RRset. An emergency
 * successor is listed from its DNSKEY's publication: relying parties need it
 * before the compromised key goes. A compromised
 * key stays listed as long as its DNSKEY is served (the emergency rollover
 * keeps it for anchors.min_retrieval), with a validUntil in the XML.
 */
bool rs_anchor_relevant(const rs_policy_t *policy, const rs_keystate_t *key);

/*
 * The AUP that heads every file: the policy's text, or the file it names
 * (read now; missing, unreadable or empty is RS_EIO / RS_EINVAL naming the
 * file), then the contact and the minimum retrieval time. Into out (cleared
 * first; caller clears it).
 */
int rs_anchor_aup(const rs_policy_t *policy, rs_buf_t *out, rs_diag_t *diag);

/* One anchor: a key's DNSKEY RDATA (borrowed) and its state (borrowed). */
typedef struct {
	const uint8_t *dnskey;
	size_t len;
	const rs_keystate_t *state;
} rs_anchor_key_t;

typedef struct {
	const uint8_t *origin;         /* the zone, wire form */
	const rs_policy_t *policy;     /* the digest types, the minimum retrieval time */
	const rs_keyset_t *set;        /* all of the zone's keys: a compromised key's successor gives validUntil */
	const rs_anchor_key_t *keys;   /* the relevant keys, in the order they are listed */
	size_t count;
	const char *dir;        /* the repository directory: replaced as a whole */
	const char *pgp_key;    /* fingerprint of the signing key (full, hex) */
	const char *gnupg_home; /* NULL: $GNUPGHOME, else ~/.gnupg */
} rs_anchor_opts_t;

/*
 * Write the zone's four files and their signatures into a copy of the
 * repository directory (the other zones' files kept) and put it in place of
 * dir in one step. Nothing in dir changes when anything fails: the AUP, a
 * signing key that is missing, expired, revoked or cannot sign, a GnuPG
 * home others can read. Returns RS_EOK, or a code with one line in diag.
 */
int rs_anchor_publish(const rs_anchor_opts_t *opts, rs_diag_t *diag);

/* ---- the relying party's side ---- */

#define RS_ANCHOR_MAX 16

typedef struct {
	size_t count;
	uint16_t len[RS_ANCHOR_MAX];
	uint8_t rdata[RS_ANCHOR_MAX][72]; /* DS RDATA: tag, algorithm, digest type, digest (SHA-384: 52 octets) */
} rs_anchor_ds_t;

/*
 * Check the repository dir for zone origin as a relying party does: every
 * file's signature verifies against the OpenPGP public key in pubkey_file
 * (imported into a temporary GnuPG home), the DS records are those of the
 * DNSKEYs, and the XML and the bind block hold the same keys and digests.
 * One line per problem into report. RS_EOK: all agree (the DS records into
 * ds); RS_EBOGUS: problems found; another code (diag) when the check could
 * not run (pubkey_file unreadable, no OpenPGP key in it).
 */
int rs_anchor_check(const char *dir, const uint8_t *origin, const char *pubkey_file, rs_buf_t *report,
		    rs_anchor_ds_t *ds, rs_diag_t *diag);

/* ---- OpenPGP (GPGME), for the above ---- */

/*
 * A detached, ASCII-armoured signature of data by the key with fingerprint
 * fpr from the GnuPG home (NULL: GnuPG's default), into sig (appended).
 * The home must be a directory of the process's user that nobody else can
 * read; the key must be there, with its secret part, valid and able to sign.
 */
int rs_pgp_sign(const char *home, const char *fpr, const void *data, size_t len, rs_buf_t *sig, rs_diag_t *diag);

/*
 * Check the signature sig of data with the keys of a GnuPG home (made by
 * rs_pgp_verifier_new). RS_EOK: a good signature by the imported key;
 * RS_EBOGUS: a bad one, or by another key (why says what).
 */
typedef struct rs_pgp_verifier rs_pgp_verifier_t;
int rs_pgp_verifier_new(const char *pubkey_file, rs_pgp_verifier_t **out, rs_diag_t *diag);
int rs_pgp_verify(rs_pgp_verifier_t *v, const void *data, size_t len, const void *sig, size_t sig_len,
		  char *why, size_t max);
/* Remove the temporary home. */
void rs_pgp_verifier_free(rs_pgp_verifier_t *v);
