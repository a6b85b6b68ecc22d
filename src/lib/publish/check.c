/*
 * The relying party's check of a trust-anchor repository: the signatures,
 * then the formats against each other. Keys and DS records are compared in
 * one normal form ("TAG ALG TYPE HEX" for a DS, "FLAGS PROTO ALG BASE64" for
 * a DNSKEY), read back from each file's own syntax; the DS records are
 * recomputed from the DNSKEYs, never taken on trust.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "internal.h"
#include "regsign/crypto.h"
#include "regsign/dns.h"

#define ITEM_MAX 32

typedef struct {
	size_t n;
	char item[ITEM_MAX][2048];
} list_t;

typedef struct {
	rs_buf_t *report;
	size_t problems;
} check_t;

static void problem(check_t *c, const char *fmt, ...) RS_PRINTF(2, 3);
static void problem(check_t *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rs_buf_printf(c->report, "%s\n", line);
	c->problems++;
}

static bool add(list_t *l, const char *item)
{
	if (l->n >= ITEM_MAX)
		return false;
	snprintf(l->item[l->n++], sizeof(l->item[0]), "%s", item);
	return true;
}

static bool has(const list_t *l, const char *item)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->item[i], item) == 0)
			return true;
	return false;
}

/* Both lists hold the same items; one problem per difference, naming what. */
static void same(check_t *c, const list_t *a, const char *an, const list_t *b, const char *bn)
{
	for (size_t i = 0; i < a->n; i++)
		if (!has(b, a->item[i]))
			problem(c, "%s has '%.200s' and %s does not", an, a->item[i], bn);
	for (size_t i = 0; i < b->n; i++)
		if (!has(a, b->item[i]))
			problem(c, "%s has '%.200s' and %s does not", bn, b->item[i], an);
}

static void upper(char *s)
{
	for (; *s; s++)
		*s = (char)toupper((unsigned char)*s);
}

/* The lines of text that are not comments, one at a time: *pos moves on, line gets the line. */
static bool next_line(const rs_buf_t *b, size_t *pos, char *line, size_t max, size_t *lineno)
{
	while (*pos < b->len) {
		const char *s = (const char *)b->data + *pos, *nl = memchr(s, '\n', b->len - *pos);
		size_t n = nl != NULL ? (size_t)(nl - s) : b->len - *pos;
		*pos += n + (nl != NULL);
		(*lineno)++;
		if (n == 0 || s[0] == ';' || s[0] == '#')
			continue;
		snprintf(line, max, "%.*s", (int)(n < max ? n : max - 1), s);
		return true;
	}
	return false;
}

/* The owner names the zone: compared as names, so case and escapes ("\038" or "\&") do not matter. */
static bool is_zone(const char *owner, const char *zone)
{
	uint8_t a[RS_NAME_MAX], b[RS_NAME_MAX];
	if (rs_dname_from_str(owner, a) != RS_EOK || rs_dname_from_str(zone, b) != RS_EOK)
		return false;
	size_t len = rs_dname_len(a, RS_NAME_MAX);
	return len == rs_dname_len(b, RS_NAME_MAX) && memcmp(a, b, len) == 0;
}

/*
 * A named.conf string at *p: "TEXT" with each backslash pair kept as it is
 * (named hands the text to its name parser, which reads the escapes); false
 * without the closing quote.
 */
static bool conf_string(const char **p, char *out, size_t max)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s++ != '"')
		return false;
	size_t n = 0;
	for (; *s != '"'; s++) {
		if (*s == '\0' || n + 3 > max)
			return false;
		if (*s == '\\' && s[1] != '\0')
			out[n++] = *s++;
		out[n++] = *s;
	}
	out[n] = '\0';
	*p = s + 1;
	return true;
}

static void read_dnskeys(check_t *c, const char *file, const rs_buf_t *b, const char *zone, list_t *keys)
{
	char line[2048], owner[1100], type[16], b64[1800];
	unsigned flags, proto, alg;
	size_t pos = 0, ln = 0;
	while (next_line(b, &pos, line, sizeof(line), &ln)) {
		if (sscanf(line, "%1099s %15s %u %u %u %1799s", owner, type, &flags, &proto, &alg, b64) != 6 ||
		    strcmp(type, "DNSKEY") != 0 || !is_zone(owner, zone) || flags > 65535 || proto != 3 ||
		    alg > 255) {
			problem(c, "%s:%zu: not a DNSKEY of %s in trust-anchor format", file, ln, zone);
			continue;
		}
		char item[2048];
		snprintf(item, sizeof(item), "%u %u %u %s", flags, proto, alg, b64);
		if (!add(keys, item))
			problem(c, "%s:%zu: too many keys", file, ln);
	}
}

/* DS items from lines "OWNER DS TAG ALG TYPE HEX" (.ds) or "\"OWNER\" static-ds TAG ALG TYPE \"HEX\";" (bind). */
static void read_ds(check_t *c, const char *file, const rs_buf_t *b, const char *zone, bool bind, list_t *ds)
{
	char line[2048], owner[1100], type[16], digest[300];
	unsigned tag, alg, dt;
	size_t pos = 0, ln = 0;
	while (next_line(b, &pos, line, sizeof(line), &ln)) {
		if (bind && (strcmp(line, "trust-anchors {") == 0 || strcmp(line, "};") == 0))
			continue;
		const char *rest = line;
		bool read;
		if (bind)
			read = conf_string(&rest, owner, sizeof(owner)) &&
			       sscanf(rest, " %15s %u %u %u \"%299[0-9A-Fa-f]\";", type, &tag, &alg, &dt, digest) == 5;
		else
			read = sscanf(line, "%1099s %15s %u %u %u %299s", owner, type, &tag, &alg, &dt, digest) == 6;
		if (!read || strcmp(type, bind ? "static-ds" : "DS") != 0 || !is_zone(owner, zone) || tag > 65535 ||
		    alg > 255 || dt > 255) {
			problem(c, "%s:%zu: not a DS of %s%s", file, ln, zone, bind ? " in a trust-anchors block" : "");
			continue;
		}
		upper(digest);
		char item[2048];
		snprintf(item, sizeof(item), "%u %u %u %s", tag, alg, dt, digest);
		if (!add(ds, item))
			problem(c, "%s:%zu: too many DS records", file, ln);
	}
}

static const char *child_text(xmlNodePtr node, const char *name, char *out, size_t max)
{
	for (xmlNodePtr n = node->children; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0) {
			xmlChar *t = xmlNodeGetContent(n);
			snprintf(out, max, "%s", t != NULL ? (const char *)t : "");
			xmlFree(t);
			return out;
		}
	return NULL;
}

static void read_xml(check_t *c, const char *file, const rs_buf_t *b, const char *zone, list_t *ds, list_t *keys)
{
	xmlDocPtr doc = xmlReadMemory((const char *)b->data, (int)b->len, file, NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	char z[1100];
	if (root == NULL || strcmp((const char *)root->name, "TrustAnchor") != 0) {
		problem(c, "%s: not an RFC 9718 TrustAnchor document", file);
	} else if (child_text(root, "Zone", z, sizeof(z)) == NULL || !is_zone(z, zone)) {
		problem(c, "%s: its Zone is not %s", file, zone);
	} else {
		for (xmlNodePtr n = root->children; n != NULL; n = n->next) {
			if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "KeyDigest") != 0)
				continue;
			char tag[16], alg[16], dt[16], digest[300], pub[1800], flags[16], item[2048];
			long ln = xmlGetLineNo(n);
			if (!child_text(n, "KeyTag", tag, sizeof(tag)) || !child_text(n, "Algorithm", alg, sizeof(alg)) ||
			    !child_text(n, "DigestType", dt, sizeof(dt)) ||
			    !child_text(n, "Digest", digest, sizeof(digest))) {
				problem(c, "%s:%ld: KeyDigest without KeyTag, Algorithm, DigestType or Digest", file, ln);
				continue;
			}
			upper(digest);
			snprintf(item, sizeof(item), "%s %s %s %s", tag, alg, dt, digest);
			add(ds, item);
			if (child_text(n, "PublicKey", pub, sizeof(pub)) && child_text(n, "Flags", flags, sizeof(flags))) {
				snprintf(item, sizeof(item), "%s 3 %s %s", flags, alg, pub);
				if (!has(keys, item))
					add(keys, item);
			} else {
				problem(c, "%s:%ld: KeyDigest %s without PublicKey and Flags", file, ln, tag);
			}
		}
	}
	xmlFreeDoc(doc);
}

/*
 * Every DNSKEY must have a SHA-256 DS among ds, recomputed here, and every
 * DS a DNSKEY; the DS RDATA that match go into out.
 */
static void recompute(check_t *c, const uint8_t *origin, const list_t *keys, const list_t *ds, rs_anchor_ds_t *out)
{
	for (size_t i = 0; i < keys->n; i++) {
		unsigned flags, proto, alg;
		char b64[1800];
		uint8_t rd[1400], dsr[72];
		if (sscanf(keys->item[i], "%u %u %u %1799s", &flags, &proto, &alg, b64) != 4)
			continue;
		rs_put16(rd, (uint16_t)flags);
		rd[2] = (uint8_t)proto;
		rd[3] = (uint8_t)alg;
		int n = rs_base64_decode(b64, strlen(b64), rd + 4, sizeof(rd) - 4);
		if (n <= 0) {
			problem(c, "DNSKEY '%.40s...': bad base64", b64);
			continue;
		}
		bool found = false;
		for (size_t d = 0; d < ds->n; d++) {
			unsigned dtag, dalg, dt;
			char hex[300];
			if (sscanf(ds->item[d], "%u %u %u %299s", &dtag, &dalg, &dt, hex) != 4)
				continue;
			int len = rs_ds_make(origin, rd, (size_t)n + 4, (int)dt, dsr, sizeof(dsr));
			char mine[2 * 68 + 1] = "";
			if (len > 4)
				anchor_hex(dsr + 4, (size_t)len - 4, mine);
			if (len <= 4 || rs_get16(dsr) != dtag || dsr[2] != dalg || strcmp(mine, hex) != 0)
				continue;
			found |= dt == RS_DS_SHA256;
			if (out->count < RS_ANCHOR_MAX) {
				memcpy(out->rdata[out->count], dsr, (size_t)len);
				out->len[out->count++] = (uint16_t)len;
			}
		}
		if (!found)
			problem(c, "DNSKEY %u has no SHA-256 DS that matches it", rs_keytag(rd, (size_t)n + 4));
	}
	for (size_t d = 0; d < ds->n; d++) {
		bool mine = false;
		unsigned tag;
		sscanf(ds->item[d], "%u", &tag);
		for (size_t k = 0; k < out->count && !mine; k++) {
			char item[300];
			snprintf(item, sizeof(item), "%u %u %u ", rs_get16(out->rdata[k]), out->rdata[k][2], out->rdata[k][3]);
			mine = strncmp(ds->item[d], item, strlen(item)) == 0;
		}
		if (!mine)
			problem(c, "DS '%.200s' matches no DNSKEY of the repository", ds->item[d]);
	}
}

int rs_anchor_check(const char *dir, const uint8_t *origin, const char *pubkey_file, rs_buf_t *report,
		    rs_anchor_ds_t *out, rs_diag_t *diag)
{
	rs_pgp_verifier_t *v;
	char base[256], zone[4 * 255 + 2];
	if (anchor_base(origin, base, diag) != RS_EOK)
		return RS_ELIMIT;
	int ret = rs_pgp_verifier_new(pubkey_file, &v, diag);
	if (ret != RS_EOK)
		return ret;
	rs_dname_to_str(origin, zone, sizeof(zone));
	check_t c = { report, 0 };
	rs_buf_t files[ANCHOR_FILES];
	char names[ANCHOR_FILES][512];
	static const char *const first[ANCHOR_FILES] = { ";", ";", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!--",
							 "#" };
	for (int f = 0; f < ANCHOR_FILES; f++) {
		char path[4096 + 600], why[256];
		snprintf(names[f], sizeof(names[f]), "%s%s", base, anchor_suffix[f]);
		snprintf(path, sizeof(path), "%s/%s", dir, names[f]);
		rs_buf_init(&files[f], 1 << 20);
		rs_buf_t sig;
		rs_buf_init(&sig, 1 << 20);
		int r = rs_buf_read_file(&files[f], path);
		if (r != RS_EOK) {
			problem(&c, "%s: cannot read: %s", path, r == RS_ELIMIT ? "too large" : strerror(-r));
			files[f].len = 0;
		} else if (strncmp((const char *)files[f].data, first[f], strlen(first[f])) != 0) {
			problem(&c, "%s: does not begin with the acceptable use policy", names[f]);
		}
		snprintf(path + strlen(path), 8, ".asc");
		if (r == RS_EOK && (r = rs_buf_read_file(&sig, path)) != RS_EOK)
			problem(&c, "%s: cannot read: %s", path, r == RS_ELIMIT ? "too large" : strerror(-r));
		else if (r == RS_EOK &&
			 rs_pgp_verify(v, files[f].data, files[f].len, sig.data, sig.len, why, sizeof(why)) != RS_EOK)
			problem(&c, "%s.asc: %s", names[f], why);
		rs_buf_clear(&sig);
	}
	rs_pgp_verifier_free(v);
	list_t *l = calloc(5, sizeof(list_t));
	if (l == NULL) {
		for (int f = 0; f < ANCHOR_FILES; f++)
			rs_buf_clear(&files[f]);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	list_t *keys = &l[0], *ds = &l[1], *bind = &l[2], *xds = &l[3], *xkeys = &l[4];
	read_dnskeys(&c, names[ANCHOR_DNSKEY], &files[ANCHOR_DNSKEY], zone, keys);
	read_ds(&c, names[ANCHOR_DS], &files[ANCHOR_DS], zone, false, ds);
	read_ds(&c, names[ANCHOR_BIND], &files[ANCHOR_BIND], zone, true, bind);
	if (files[ANCHOR_XML].len > 0)
		read_xml(&c, names[ANCHOR_XML], &files[ANCHOR_XML], zone, xds, xkeys);
	if (keys->n == 0)
		problem(&c, "%s: lists no key", names[ANCHOR_DNSKEY]);
	memset(out, 0, sizeof(*out));
	recompute(&c, origin, keys, ds, out);
	same(&c, ds, names[ANCHOR_DS], bind, names[ANCHOR_BIND]);
	same(&c, ds, names[ANCHOR_DS], xds, names[ANCHOR_XML]);
	same(&c, keys, names[ANCHOR_DNSKEY], xkeys, names[ANCHOR_XML]);
	free(l);
	for (int f = 0; f < ANCHOR_FILES; f++)
		rs_buf_clear(&files[f]);
	return c.problems == 0 ? RS_EOK : RS_EBOGUS;
}
