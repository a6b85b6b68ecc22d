/*
 * dns: names in wire form, canonical order (RFC 4034 6.1), RR types, and
 * canonical RDATA (RFC 4034 6.2 as amended by RFC 6840 5.1).
 *
 * Names are uncompressed wire form. A "key" is a second encoding of a name
 * whose plain memcmp() order is the canonical DNS order: labels from the
 * root down, each label's octets followed by a 0x00 terminator, with octets
 * 0x00 and 0x01 escaped as 0x01 0x01 and 0x01 0x02. A name is a descendant of
 * another exactly when the other's key is a prefix of its key.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "regsign/base.h"

/* RR types, IANA "Resource Record (RR) TYPEs":
 * https://www.iana.org/assignments/dns-parameters/dns-parameters.xhtml#dns-parameters-4 */
enum {
	RS_TYPE_A = 1,
	RS_TYPE_NS = 2,
	RS_TYPE_CNAME = 5,
	RS_TYPE_SOA = 6,
	RS_TYPE_PTR = 12,
	RS_TYPE_MX = 15,
	RS_TYPE_TXT = 16,
	RS_TYPE_AAAA = 28,
	RS_TYPE_SRV = 33,
	RS_TYPE_NAPTR = 35,
	RS_TYPE_DNAME = 39,
	RS_TYPE_DS = 43,
	RS_TYPE_RRSIG = 46,
	RS_TYPE_NSEC = 47,
	RS_TYPE_DNSKEY = 48,
	RS_TYPE_NSEC3 = 50,
	RS_TYPE_NSEC3PARAM = 51,
	RS_TYPE_CDS = 59,
	RS_TYPE_CDNSKEY = 60,
	RS_TYPE_ZONEMD = 63,
};

#define RS_CLASS_IN 1
#define RS_NAME_MAX 255
/* Longest key: every octet escaped plus a terminator per label. */
#define RS_KEY_MAX 512

/*
 * An immutable, interned owner name: lowercase wire form, its key, and the
 * name as first written when that differs in case. The written case is kept
 * for output and for NSEC next names, whose case is signed as it stands
 * (RFC 6840 5.1); everything that compares or hashes uses the lowercase form.
 */
typedef struct {
	uint8_t wire_len;
	uint8_t labels; /* not counting the root */
	uint8_t mixed_case;
	uint16_t key_len;
	uint8_t data[]; /* wire, key, then (if mixed_case) the written wire */
} rs_name_t;

static inline const uint8_t *rs_name_wire(const rs_name_t *n) { return n->data; }
static inline const uint8_t *rs_name_key(const rs_name_t *n) { return n->data + n->wire_len; }
/* Canonical order of two keys (RFC 4034 6.1: a key's octets compare as the names do). */
static inline int rs_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);
	return r != 0 ? r : alen < blen ? -1 : alen > blen;
}
/* Is name at or below the name of key? (A descendant's key extends its ancestor's.) */
static inline bool rs_name_under_key(const rs_name_t *name, const uint8_t *key, size_t len)
{
	return name->key_len >= len && memcmp(rs_name_key(name), key, len) == 0;
}
static inline const uint8_t *rs_name_written(const rs_name_t *n)
{
	return n->mixed_case ? n->data + n->wire_len + n->key_len : n->data;
}

/*
 * Allocate an rs_name_t from arena for a wire name; written is the same name
 * in the case it was written (NULL if wire is already that). The name is
 * lowercased. NULL on allocation failure.
 */
rs_name_t *rs_name_new(rs_arena_t *arena, const uint8_t *wire);
rs_name_t *rs_name_new_written(rs_arena_t *arena, const uint8_t *written);
/* Canonical order of two interned names: <0, 0, >0. */
int rs_name_cmp(const rs_name_t *a, const rs_name_t *b);
/* True if name equals ancestor or lies below it. */
bool rs_name_is_sub(const rs_name_t *name, const rs_name_t *ancestor);
static inline bool rs_name_is_wildcard(const rs_name_t *n)
{
	return n->data[0] == 1 && n->data[1] == '*';
}

/* Length of a wire name including the root label; 0 if malformed within max octets. */
size_t rs_dname_len(const uint8_t *wire, size_t max);
/* Lowercase ASCII letters of a wire name in place. */
void rs_dname_lower(uint8_t *wire);
/* Number of labels, not counting the root. */
unsigned rs_dname_labels(const uint8_t *wire);
/* Write the key of a wire name to key (RS_KEY_MAX); returns its length. */
size_t rs_dname_key(const uint8_t *wire, uint8_t *key);

/* Parse presentation form into out, lowercased; a missing final dot is implied. */
int rs_dname_from_str(const char *text, uint8_t out[RS_NAME_MAX]);
/* Presentation form with escapes, trailing dot included. Returns length or negative code. */
int rs_dname_to_str(const uint8_t *wire, char *out, size_t max);

/*
 * A name as a file-name component, by BIND's rule (dns_name_tofilenametext, which names its K<name>+<alg>+<tag>
 * key files): letters folded to lower case, digits, '-' and '_' as themselves, every other octet as %XX (upper
 * case hex), labels joined by '.', with the final dot when final_dot; the root is "." either way. The result
 * never holds a '/', and no label of it is "." or ".." ("0/25.2.0.10.in-addr.arpa." -> "0%2F25.2.0.10.in-addr.arpa.").
 * Returns its length, RS_ELIMIT if max is too small, RS_ESYNTAX for a malformed wire name.
 */
int rs_dname_to_filename(const uint8_t *wire, bool final_dot, char *out, size_t max);
/*
 * The stem of the files named after a zone (serve's signed zone and journal, the trust-anchor files): the
 * file-name form without the final dot, "root" for the root, and a zone named "root." as "%72oot", so that
 * the two never share a file. Returns its length or RS_ELIMIT / RS_ESYNTAX as above.
 */
int rs_zone_file_stem(const uint8_t *wire, char *out, size_t max);
/* The same from presentation form; RS_ESYNTAX if text is not a name. */
int rs_dname_str_to_filename(const char *text, bool final_dot, char *out, size_t max);
/*
 * The inverse, for the len octets at text (not NUL-terminated, so a part of a file name can be read in place):
 * the final dot optional, the result lowercased. RS_ESYNTAX for an empty label, a bad %XX, or an octet BIND would
 * have escaped.
 */
int rs_dname_from_filename(const char *text, size_t len, uint8_t out[RS_NAME_MAX]);

/* Mnemonic for a type ("TYPE65534" for unknown); returns length. */
int rs_type_to_str(uint16_t type, char *out, size_t max);
int rs_type_from_str(const char *text, uint16_t *out);

/*
 * Canonical RDATA: lowercase the domain names embedded in RDATA of the types
 * RFC 4034 6.2 lists (RFC 6840 5.1 removed NSEC from that list), in place.
 * Returns RS_ESYNTAX if the RDATA is too short for its type's layout.
 */
int rs_rdata_canonicalize(uint16_t type, uint8_t *rdata, size_t len);
/* Check the RDATA is well formed for types whose layout we rely on. */
int rs_rdata_check(uint16_t type, const uint8_t *rdata, size_t len);
/* Why rs_rdata_check refuses RDATA whose layout it knows in detail ("gateway cut short"), or NULL. */
const char *rs_rdata_flaw(uint16_t type, const uint8_t *rdata, size_t len);
/* Types a name holds at most one record of: CNAME (RFC 2181 10.1), DNAME (RFC 6672 2.4), SOA (RFC 1035 5.2). */
bool rs_type_singleton(uint16_t type);
/* RFC 4034 6.3 order of canonical RDATA: octet strings, shorter prefix first. */
int rs_rdata_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/*
 * Presentation form of one RDATA (no owner, TTL, class or type). Returns the
 * length written (NUL-terminated) or a negative code.
 */
int rs_rdata_to_str(uint16_t type, const uint8_t *rdata, size_t len, char *out, size_t max);

/* NSEC/NSEC3 type bitmap (RFC 4034 4.1.2) from a sorted, unique list of types. Returns length. */
size_t rs_bitmap_write(const uint16_t *types, size_t count, uint8_t *out);
/* Test whether type is set in a bitmap; false for malformed bitmaps. */
bool rs_bitmap_has(const uint8_t *bitmap, size_t len, uint16_t type);
/* Check a bitmap is well formed (windows ascending, lengths 1..32). */
bool rs_bitmap_valid(const uint8_t *bitmap, size_t len);

/* Base32hex without padding (RFC 4648 7), lowercase; returns length written. */
size_t rs_base32hex_encode(const uint8_t *in, size_t len, char *out);
/* Decode base32hex (either case); returns decoded length or negative code. */
int rs_base32hex_decode(const char *in, size_t len, uint8_t *out, size_t max);

/* Base64 (RFC 4648 4), decode into out; returns length or negative code. */
int rs_base64_decode(const char *in, size_t len, uint8_t *out, size_t max);
/* Base64 encode; out must hold 4*ceil(len/3)+1. Returns length. */
size_t rs_base64_encode(const uint8_t *in, size_t len, char *out);

/* Big-endian helpers for wire form. */
static inline uint16_t rs_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rs_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void rs_put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static inline void rs_put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
