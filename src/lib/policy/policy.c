/*
 * Policy files: YAML read with libyaml into rs_policy_t through one schema
 * table (field path, type, where it goes), then checked as a whole.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "regsign/crypto.h"
#include "regsign/policy.h"
#include "regsign/zonemd.h"

enum { T_DURATION, T_TTL, T_UINT, T_BOOL, T_ALG, T_TEXT, T_METHOD, T_DNSKEY_TTL, T_NSEC_TTL,
       T_DENIAL, T_SERIAL, T_SALT, T_DIGEST, T_ANCHOR_FROM, T_ZONEMD };

typedef struct {
	const char *path;
	int type;
	size_t offset;
	int64_t max; /* for T_UINT and T_DURATION; 0: no bound */
} field_t;

#define F(path, type, member, max) { path, type, offsetof(rs_policy_t, member), max }
#define KEY_FIELDS(prefix, slot)                                                         \
	F(prefix ".algorithm", T_ALG, slot.alg, 0), F(prefix ".bits", T_UINT, slot.bits, 4096), \
	F(prefix ".lifetime", T_DURATION, slot.lifetime, 0),                             \
	F(prefix ".publish", T_DURATION, slot.publish, 0),                               \
	F(prefix ".retire", T_DURATION, slot.retire, 0),                                 \
	F(prefix ".rollover", T_METHOD, slot.method, 0)

static const field_t schema[] = {
	F("name", T_TEXT, name, sizeof(((rs_policy_t *)0)->name)),
	F("description", T_TEXT, description, sizeof(((rs_policy_t *)0)->description)),
	KEY_FIELDS("keys.ksk", ksk),
	KEY_FIELDS("keys.zsk", zsk),
	KEY_FIELDS("keys.csk", ksk),
	F("max-dnskeys", T_UINT, max_dnskeys, 64),
	F("signatures.validity", T_DURATION, sig_validity, 0),
	F("signatures.refresh", T_DURATION, sig_refresh, 0),
	F("signatures.jitter", T_DURATION, sig_jitter, 0),
	F("signatures.inception-offset", T_DURATION, sig_inception, 0),
	F("ttl.dnskey", T_DNSKEY_TTL, dnskey_ttl, 0),
	F("ttl.nsec", T_NSEC_TTL, nsec_ttl_mode, 0),
	F("ttl.max-zone", T_TTL, max_zone_ttl, 0),
	F("ttl.ds-from-ns", T_BOOL, ds_ttl_from_ns, 0),
	F("denial.type", T_DENIAL, nsec3, 0),
	F("denial.nsec3-iterations", T_UINT, nsec3_params.iterations, 500),
	F("denial.nsec3-salt", T_SALT, nsec3_params, 0),
	F("denial.opt-out", T_BOOL, nsec3_params.opt_out, 0),
	F("zonemd", T_ZONEMD, zonemd, 0),
	F("zone.propagation-delay", T_DURATION, zone_propagation, 0),
	F("zone.serial", T_SERIAL, serial, 0),
	F("parent.ds-ttl", T_TTL, parent_ds_ttl, 0),
	F("parent.propagation-delay", T_DURATION, parent_propagation, 0),
	F("parent.ds-auto", T_BOOL, ds_auto, 0),
	F("parent.ds-digest", T_DIGEST, ds_digest, 0),
	F("parent.cds", T_BOOL, cds, 0),
	F("clock.max-jump", T_DURATION, clock_max_jump, 0),
	F("custody.backup-before-use", T_BOOL, backup_before_use, 0),
	F("custody.key-holders", T_UINT, key_holders, 255),
	F("trust-anchors.aup", T_TEXT, anchors.aup, sizeof(((rs_policy_t *)0)->anchors.aup)),
	F("trust-anchors.aup-file", T_TEXT, anchors.aup_file, sizeof(((rs_policy_t *)0)->anchors.aup_file)),
	F("trust-anchors.contact", T_TEXT, anchors.contact, sizeof(((rs_policy_t *)0)->anchors.contact)),
	F("trust-anchors.min-retrieval", T_DURATION, anchors.min_retrieval, 0),
	F("trust-anchors.publish-from", T_ANCHOR_FROM, anchors.from_dnskey, 0),
	F("trust-anchors.rfc5011", T_BOOL, anchors.rfc5011, 0),
	F("trust-anchors.add-holddown", T_DURATION, anchors.add_holddown, 0),
	F("trust-anchors.remove-holddown", T_DURATION, anchors.remove_holddown, 0),
};

static void defaults(rs_policy_t *p)
{
	memset(p, 0, sizeof(*p));
	p->ksk = (rs_policy_key_t){ RS_ALG_ECDSAP256SHA256, 0, 0, 7 * 86400, 2 * 86400,
				    RS_ROLL_DOUBLE_SIGNATURE };
	p->zsk = (rs_policy_key_t){ RS_ALG_ECDSAP256SHA256, 0, 90 * 86400, 7 * 86400, 7 * 86400,
				    RS_ROLL_PREPUBLISH };
	p->sig_validity = 14 * 86400;
	p->sig_refresh = 86400;
	p->sig_jitter = 12 * 3600;
	p->sig_inception = 3600;
	p->dnskey_ttl_mode = RS_TTL_SOA;
	p->nsec_ttl_mode = RS_TTL_RFC9077;
	p->max_zone_ttl = 86400;
	p->zone_propagation = 3600;
	p->serial = RS_SERIAL_UNIXTIME;
	p->parent_ds_ttl = 86400;
	p->parent_propagation = 3600;
	p->ds_digest = RS_DS_SHA256;
	p->clock_max_jump = 86400;
	p->anchors.min_retrieval = 30 * 86400;
	p->anchors.add_holddown = 30 * 86400;
	p->anchors.remove_holddown = 30 * 86400;
}

typedef struct {
	const char *label;
	rs_policy_t *policy;
	rs_diag_t *diag;
	bool seen_csk, seen_split;
} parse_t;

static int bad(parse_t *ps, const yaml_node_t *node, const char *path, const char *fmt, const char *value)
{
	char what[256];
	snprintf(what, sizeof(what), fmt, value);
	return rs_diag(ps->diag, RS_ESYNTAX, "%s:%zu: %s: %s", ps->label,
		       (size_t)node->start_mark.line + 1, path, what);
}

static bool is(const char *value, const char *a)
{
	return strcmp(value, a) == 0;
}

/* One ZONEMD hash name ("sha384", "sha512") of the zonemd field, or "none" alone. */
static int zonemd_item(parse_t *ps, const yaml_node_t *node, const char *path, const char *v, bool only)
{
	rs_policy_t *p = ps->policy;
	uint8_t h;
	if (is(v, "none") && only)
		return RS_EOK;
	if (!rs_zonemd_hash_from_str(v, &h))
		return bad(ps, node, path, "'%s' is not a ZONEMD hash algorithm: sha384, sha512, a list of them, "
			   "or none", v);
	for (unsigned i = 0; i < p->nzonemd; i++)
		if (p->zonemd[i] == h)
			return bad(ps, node, path, "'%s' is listed twice", v);
	p->zonemd[p->nzonemd++] = h;
	return RS_EOK;
}

/* zonemd: sha384 | sha512 | "sha384, sha512" | [sha384, sha512] | none */
static int set_zonemd(parse_t *ps, const yaml_document_t *doc, const yaml_node_t *node, const char *path)
{
	rs_policy_t *p = ps->policy;
	p->zonemd_set = true;
	p->nzonemd = 0;
	if (node->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *start = node->data.sequence.items.start, *top = node->data.sequence.items.top;
		if (start == top)
			return bad(ps, node, path, "%san empty list (say none for no ZONEMD)", "");
		for (yaml_node_item_t *it = start; it < top; it++) {
			yaml_node_t *n = yaml_document_get_node((yaml_document_t *)doc, *it);
			if (n == NULL || n->type != YAML_SCALAR_NODE)
				return bad(ps, node, path, "%sexpected hash names (sha384, sha512)", "");
			int ret = zonemd_item(ps, n, path, (const char *)n->data.scalar.value, false);
			if (ret != RS_EOK)
				return ret;
		}
		return RS_EOK;
	}
	if (node->type != YAML_SCALAR_NODE)
		return bad(ps, node, path, "%sexpected sha384, sha512, a list of them, or none", "");
	char copy[64], *save = NULL;
	const char *v = (const char *)node->data.scalar.value;
	if (strlen(v) >= sizeof(copy))
		return bad(ps, node, path, "'%.40s...' is too long", v);
	snprintf(copy, sizeof(copy), "%s", v);
	bool one = strchr(copy, ',') == NULL;
	char *t = strtok_r(copy, ", ", &save);
	if (t == NULL)
		return bad(ps, node, path, "%sempty (say none for no ZONEMD)", "");
	for (; t != NULL; t = strtok_r(NULL, ", ", &save)) {
		int ret = zonemd_item(ps, node, path, t, one);
		if (ret != RS_EOK)
			return ret;
	}
	return RS_EOK;
}

static int set_field(parse_t *ps, const field_t *f, const yaml_node_t *node, const char *path)
{
	if (node->type != YAML_SCALAR_NODE)
		return bad(ps, node, path, "%sexpected a single value", "");
	const char *v = (const char *)node->data.scalar.value;
	char *base = (char *)ps->policy + f->offset;
	int64_t d;
	int alg;
	switch (f->type) {
	case T_DURATION:
	case T_TTL:
		switch (rs_duration_parse(v, &d)) {
		case RS_EOK: break;
		case RS_ERANGE: return bad(ps, node, path, "'%.40s' is longer than any duration here (1000y)", v);
		default: return bad(ps, node, path, "'%s' is not a duration (such as 90d, 12h, 1h30m)", v);
		}
		if (f->type == T_TTL) {
			if (d > 0x7fffffff) /* RFC 2181 8 */
				return bad(ps, node, path, "'%s' is longer than a TTL may be", v);
			*(uint32_t *)base = (uint32_t)d;
		} else {
			*(int64_t *)base = d;
		}
		return RS_EOK;
	case T_UINT: {
		char *end;
		unsigned long n = strtoul(v, &end, 10);
		if (!isdigit((unsigned char)*v) || *end != '\0' || (f->max && n > (unsigned long)f->max)) {
			char msg[96];
			snprintf(msg, sizeof(msg), "'%%s' is not a number from 0 to %lld", (long long)f->max);
			return bad(ps, node, path, msg, v);
		}
		if (strcmp(path, "denial.nsec3-iterations") == 0)
			*(uint16_t *)base = (uint16_t)n;
		else
			*(unsigned *)base = (unsigned)n;
		return RS_EOK;
	}
	case T_BOOL:
		if (is(v, "true") || is(v, "yes") || is(v, "on"))
			*(bool *)base = true;
		else if (is(v, "false") || is(v, "no") || is(v, "off"))
			*(bool *)base = false;
		else
			return bad(ps, node, path, "'%s' is not true or false", v);
		return RS_EOK;
	case T_ALG:
		if (rs_alg_from_str(v, &alg) != RS_EOK || !rs_alg_supported(alg))
			return bad(ps, node, path, "unknown or unsupported algorithm '%s'", v);
		if (rs_alg_legacy(alg))
			return bad(ps, node, path, "'%s' uses SHA-1, which RFC 8624 forbids for signing", v);
		*(int *)base = alg;
		return RS_EOK;
	case T_TEXT:
		if (strlen(v) >= (size_t)f->max)
			return bad(ps, node, path, "'%.40s...' is too long", v);
		strcpy(base, v);
		return RS_EOK;
	case T_METHOD:
		if (is(v, "pre-publication"))
			*(int *)base = RS_ROLL_PREPUBLISH;
		else if (is(v, "double-signature"))
			*(int *)base = RS_ROLL_DOUBLE_SIGNATURE;
		else
			return bad(ps, node, path, "'%s' is not pre-publication or double-signature", v);
		return RS_EOK;
	case T_DNSKEY_TTL:
		if (is(v, "soa")) {
			ps->policy->dnskey_ttl_mode = RS_TTL_SOA;
		} else if (rs_duration_parse(v, &d) == RS_EOK && d <= 0x7fffffff) {
			ps->policy->dnskey_ttl_mode = RS_TTL_FIXED;
			ps->policy->dnskey_ttl = (uint32_t)d;
		} else {
			return bad(ps, node, path, "'%s' is not soa or a duration", v);
		}
		return RS_EOK;
	case T_NSEC_TTL:
		if (is(v, "soa"))
			*(int *)base = RS_TTL_SOA;
		else if (is(v, "soa-minimum"))
			*(int *)base = RS_TTL_SOA_MINIMUM;
		else if (is(v, "rfc9077"))
			*(int *)base = RS_TTL_RFC9077;
		else
			return bad(ps, node, path, "'%s' is not soa, soa-minimum or rfc9077", v);
		return RS_EOK;
	case T_DENIAL:
		if (is(v, "nsec"))
			ps->policy->nsec3 = false;
		else if (is(v, "nsec3"))
			ps->policy->nsec3 = true;
		else
			return bad(ps, node, path, "'%s' is not nsec or nsec3", v);
		return RS_EOK;
	case T_SERIAL: {
		static const char *const names[] = { "keep", "increment", "unixtime", "dateserial" };
		for (int i = 0; i < 4; i++)
			if (is(v, names[i])) {
				*(int *)base = i;
				return RS_EOK;
			}
		return bad(ps, node, path, "'%s' is not keep, increment, unixtime or dateserial", v);
	}
	case T_SALT: {
		rs_nsec3_params_t *np = &ps->policy->nsec3_params;
		size_t len = strlen(v);
		if (is(v, "-") || len == 0) {
			np->salt_len = 0;
			return RS_EOK;
		}
		if (len % 2 != 0 || len / 2 > 255)
			return bad(ps, node, path, "salt '%s' is not hex of up to 255 octets, or -", v);
		for (size_t i = 0; i < len / 2; i++) {
			unsigned x;
			if (!isxdigit((unsigned char)v[2 * i]) || !isxdigit((unsigned char)v[2 * i + 1]) ||
			    sscanf(v + 2 * i, "%2x", &x) != 1)
				return bad(ps, node, path, "salt '%s' is not hex", v);
			np->salt[i] = (uint8_t)x;
		}
		np->salt_len = (uint8_t)(len / 2);
		return RS_EOK;
	}
	case T_ANCHOR_FROM:
		if (is(v, "ds"))
			*(bool *)base = false;
		else if (is(v, "dnskey"))
			*(bool *)base = true;
		else
			return bad(ps, node, path, "'%s' is not ds or dnskey", v);
		return RS_EOK;
	case T_DIGEST:
		if (is(v, "2") || is(v, "SHA-256"))
			*(int *)base = RS_DS_SHA256;
		else if (is(v, "4") || is(v, "SHA-384"))
			*(int *)base = RS_DS_SHA384;
		else
			return bad(ps, node, path, "digest '%s' is not 2 (SHA-256) or 4 (SHA-384)", v);
		return RS_EOK;
	}
	return RS_EINVAL;
}

static int walk(parse_t *ps, yaml_document_t *doc, yaml_node_t *node, const char *prefix)
{
	if (node->type != YAML_MAPPING_NODE)
		return bad(ps, node, *prefix ? prefix : "policy", "%sexpected a mapping of fields", "");
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(doc, pair->value);
		if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE)
			return bad(ps, node, prefix, "%sfield names must be plain text", "");
		char path[128];
		int n = snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
				 (const char *)k->data.scalar.value);
		if (n < 0 || (size_t)n >= sizeof(path))
			return bad(ps, k, prefix, "%sfield name too long", "");
		bool known_prefix = false;
		const field_t *f = NULL;
		size_t plen = strlen(path);
		for (size_t i = 0; i < sizeof(schema) / sizeof(schema[0]); i++) {
			if (strcmp(schema[i].path, path) == 0)
				f = &schema[i];
			else if (strncmp(schema[i].path, path, plen) == 0 && schema[i].path[plen] == '.')
				known_prefix = true;
		}
		if (strncmp(path, "keys.csk", 8) == 0)
			ps->seen_csk = true;
		else if (strncmp(path, "keys.ksk", 8) == 0 || strncmp(path, "keys.zsk", 8) == 0)
			ps->seen_split = true;
		int ret;
		if (f != NULL && f->type == T_ZONEMD)
			ret = set_zonemd(ps, doc, v, path);
		else if (f != NULL)
			ret = set_field(ps, f, v, path);
		else if (known_prefix)
			ret = walk(ps, doc, v, path);
		else
			ret = bad(ps, k, path, "%sunknown field", "");
		if (ret != RS_EOK)
			return ret;
	}
	return RS_EOK;
}

int rs_policy_parse(const char *text, size_t len, const char *label, rs_policy_t *out,
		    rs_diag_t *diag)
{
	rs_policy_t p;
	defaults(&p);
	parse_t ps = { .label = label, .policy = &p, .diag = diag };
	yaml_parser_t parser;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&parser))
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int ret = RS_EOK;
	if (!yaml_parser_load(&parser, &doc)) {
		ret = rs_diag(diag, RS_ESYNTAX, "%s:%zu: %s", label, (size_t)parser.problem_mark.line + 1,
			      parser.problem ? parser.problem : "malformed YAML");
		yaml_parser_delete(&parser);
		return ret;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (root == NULL)
		ret = rs_diag(diag, RS_ESYNTAX, "%s: empty policy", label);
	else
		ret = walk(&ps, &doc, root, "");
	if (ret == RS_EOK && ps.seen_csk && ps.seen_split)
		ret = rs_diag(diag, RS_ESYNTAX, "%s: keys: give either csk or ksk and zsk, not both", label);
	if (ret == RS_EOK && p.name[0] == '\0')
		ret = rs_diag(diag, RS_ESYNTAX, "%s: name: missing", label);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (ret != RS_EOK)
		return ret;
	p.csk = ps.seen_csk;
	if (p.csk)
		p.zsk = p.ksk;
	*out = p;
	return RS_EOK;
}

/* Line of the field path within the mapping node, or 0. */
static size_t find_line(yaml_document_t *doc, yaml_node_t *node, const char *path)
{
	if (node == NULL || node->type != YAML_MAPPING_NODE)
		return 0;
	size_t head = strcspn(path, ".");
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);
		if (k == NULL || k->type != YAML_SCALAR_NODE || strlen((const char *)k->data.scalar.value) != head ||
		    strncmp((const char *)k->data.scalar.value, path, head) != 0)
			continue;
		if (path[head] == '\0')
			return (size_t)k->start_mark.line + 1;
		return find_line(doc, yaml_document_get_node(doc, pair->value), path + head + 1);
	}
	return 0;
}

size_t rs_policy_field_line(const char *text, size_t len, const char *path)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	size_t line = 0;
	if (!yaml_parser_initialize(&parser))
		return 0;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (yaml_parser_load(&parser, &doc)) {
		char csk[128];
		line = find_line(&doc, yaml_document_get_root_node(&doc), path);
		/* A combined key's fields are checked under the name ksk. */
		if (line == 0 && strncmp(path, "keys.ksk.", 9) == 0) {
			snprintf(csk, sizeof(csk), "keys.csk.%s", path + 9);
			line = find_line(&doc, yaml_document_get_root_node(&doc), csk);
		}
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	return line;
}

uint32_t rs_policy_dnskey_ttl(const rs_policy_t *policy, uint32_t soa_ttl)
{
	return policy->dnskey_ttl_mode == RS_TTL_SOA ? soa_ttl : policy->dnskey_ttl;
}

int64_t rs_policy_expiration(const rs_policy_t *p, int64_t t)
{
	/* The jitter is a hash of the signing time: spread, yet the same on every rerun. */
	uint64_t h = (uint64_t)t * 0x9E3779B97F4A7C15ull;
	int64_t jitter = p->sig_jitter > 0 ? (int64_t)((h >> 17) % (uint64_t)p->sig_jitter) : 0;
	return t + p->sig_validity - jitter;
}

void rs_policy_duration_format(int64_t s, char *out)
{
	static const struct { int64_t len; char unit; } units[] = {
		{ 365 * 86400, 'y' }, { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
	};
	if (s == 0) {
		strcpy(out, "0");
		return;
	}
	size_t o = 0;
	for (size_t i = 0; i < 5 && s > 0; i++)
		if (s >= units[i].len) {
			o += (size_t)snprintf(out + o, 32 - o, "%lld%c", (long long)(s / units[i].len), units[i].unit);
			s %= units[i].len;
		}
}

/* A reason to refuse, with durations in policy-file form. */
static int refuse(rs_diag_t *diag, const char *what, int64_t have, const char *needs, int64_t need)
{
	char a[32], b[32];
	rs_policy_duration_format(have, a);
	rs_policy_duration_format(need, b);
	return rs_diag(diag, RS_EINVAL, "%s (%s) is shorter than %s (%s)", what, a, needs, b);
}

static int check_key(const rs_policy_t *p, const rs_policy_key_t *k, const char *role, bool ksk,
		     uint32_t dnskey_ttl, rs_diag_t *diag)
{
	char what[96];
	int64_t need = (int64_t)dnskey_ttl + p->zone_propagation;
	if (rs_alg_nsec3_ok(k->alg) == false && p->nsec3)
		return rs_diag(diag, RS_EINVAL, "keys.%s.algorithm: %s cannot sign an NSEC3 zone", role,
			       rs_alg_name(k->alg));
	bool rsa = k->alg == RS_ALG_RSASHA256 || k->alg == RS_ALG_RSASHA512;
	if (rsa && k->bits != 0 && (k->bits < 1024 || k->bits > 4096))
		return rs_diag(diag, RS_EINVAL, "keys.%s.bits: RSA keys have 1024 to 4096 bits", role);
	if (!rsa && k->bits != 0)
		return rs_diag(diag, RS_EINVAL, "keys.%s.bits: %s keys have a fixed size", role,
			       rs_alg_name(k->alg));
	/* A new DNSKEY must be in every cache before anything relies on it (RFC 7583 3.3.1). */
	snprintf(what, sizeof(what), "keys.%s.publish", role);
	if (k->publish < need)
		return refuse(diag, what, k->publish, "the DNSKEY TTL plus the zone's propagation delay", need);
	/* Old signatures must leave every cache before their key does (RFC 7583 3.2.1). */
	snprintf(what, sizeof(what), "keys.%s.retire", role);
	int64_t sig_gone = (ksk ? (int64_t)dnskey_ttl : (int64_t)p->max_zone_ttl) + p->zone_propagation;
	if (!ksk && k->retire < sig_gone)
		return refuse(diag, what, k->retire, "the largest zone TTL plus the propagation delay",
			      sig_gone);
	if (k->lifetime != 0) {
		snprintf(what, sizeof(what), "keys.%s.lifetime", role);
		if (k->lifetime <= k->publish + k->retire) {
			char a[32], b[32];
			rs_policy_duration_format(k->lifetime, a);
			rs_policy_duration_format(k->publish + k->retire, b);
			return rs_diag(diag, RS_EINVAL, "%s (%s) must be longer than publish plus retire (%s)",
				       what, a, b);
		}
	}
	if (k->method == RS_ROLL_PREPUBLISH && ksk)
		return rs_diag(diag, RS_EINVAL, "keys.%s.rollover: a key that signs the DNSKEY RRset rolls "
			       "with double-signature", role);
	if (k->method == RS_ROLL_DOUBLE_SIGNATURE && !ksk)
		return rs_diag(diag, RS_EINVAL, "keys.%s.rollover: ZSKs roll with pre-publication here", role);
	return RS_EOK;
}

/*
 * RFC 5011: both hold-downs are needed, and a KSK must live through its
 * successor's add hold-down and its own revocation. Hold-downs shorter than
 * the RFC's 30 days are allowed (resolvers can be told to use them, as
 * unbound's permit-small-holddown does, for tests); the docs say so.
 */
static int check_rfc5011(const rs_policy_t *p, uint32_t dnskey_ttl, rs_diag_t *diag)
{
	const __typeof__(p->anchors) *a = &p->anchors;
	if (!a->rfc5011)
		return RS_EOK;
	if (a->add_holddown <= 0 || a->remove_holddown <= 0)
		return rs_diag(diag, RS_EINVAL, "trust-anchors.%s: must be more than 0 with rfc5011",
			       a->add_holddown <= 0 ? "add-holddown" : "remove-holddown");
	int64_t need = 2 * ((int64_t)dnskey_ttl + p->zone_propagation) + a->add_holddown + a->remove_holddown;
	if (p->ksk.lifetime != 0 && p->ksk.lifetime <= need) {
		char l[32], n[32];
		rs_policy_duration_format(p->ksk.lifetime, l);
		rs_policy_duration_format(need, n);
		return rs_diag(diag, RS_EINVAL, "keys.%s.lifetime (%s) must be longer than both RFC 5011 hold-downs "
			       "and two DNSKEY TTLs with propagation (%s)", p->csk ? "csk" : "ksk", l, n);
	}
	return RS_EOK;
}

int rs_policy_check(const rs_policy_t *p, uint32_t soa_ttl, rs_diag_t *diag)
{
	uint32_t dnskey_ttl = rs_policy_dnskey_ttl(p, soa_ttl ? soa_ttl : 3600);
	int ret = check_key(p, &p->ksk, p->csk ? "csk" : "ksk", true, dnskey_ttl, diag);
	if (ret == RS_EOK && !p->csk)
		ret = check_key(p, &p->zsk, "zsk", false, dnskey_ttl, diag);
	if (ret != RS_EOK)
		return ret;
	if (p->csk && p->ksk.retire < (int64_t)p->max_zone_ttl + p->zone_propagation)
		return refuse(diag, "keys.csk.retire", p->ksk.retire,
			      "the largest zone TTL plus the propagation delay",
			      (int64_t)p->max_zone_ttl + p->zone_propagation);
	unsigned need_keys = p->csk ? 2 : 3;
	if (p->max_dnskeys != 0 && p->max_dnskeys < need_keys)
		return rs_diag(diag, RS_EINVAL, "max-dnskeys: %u leaves no room for a rollover (needs %u)",
			       p->max_dnskeys, need_keys);
	if (!p->csk && p->ksk.alg != p->zsk.alg)
		return rs_diag(diag, RS_EINVAL, "keys: the KSK and the ZSK must use the same algorithm");
	/* A signature must outlive every copy of it in a cache, even with the most jitter. */
	int64_t need = p->sig_refresh + p->zone_propagation + (int64_t)p->max_zone_ttl + p->sig_jitter;
	if (p->sig_validity <= need) {
		char a[32], b[32];
		rs_policy_duration_format(p->sig_validity, a);
		rs_policy_duration_format(need, b);
		return rs_diag(diag, RS_EINVAL, "signatures.validity (%s) must be longer than refresh + "
			       "propagation delay + largest zone TTL + jitter (%s)", a, b);
	}
	if (dnskey_ttl > p->max_zone_ttl)
		return rs_diag(diag, RS_EINVAL, "ttl.max-zone: smaller than the DNSKEY TTL (%u s)", dnskey_ttl);
	if (p->sig_refresh <= 0)
		return rs_diag(diag, RS_EINVAL, "signatures.refresh: must be more than 0");
	if (p->ds_digest != RS_DS_SHA256 && p->ds_digest != RS_DS_SHA384)
		return rs_diag(diag, RS_EINVAL, "parent.ds-digest: must be 2 or 4");
	return check_rfc5011(p, dnskey_ttl, diag);
}

/* Generated from the files in policies/ by tools/embed.c. */
struct rs_embedded {
	const char *name;
	const char *text;
};
extern const struct rs_embedded rs_builtin_policies[];

const char *rs_policy_builtin(const char *name)
{
	for (size_t i = 0; rs_builtin_policies[i].name != NULL; i++)
		if (strcmp(rs_builtin_policies[i].name, name) == 0)
			return rs_builtin_policies[i].text;
	return NULL;
}

const char *rs_policy_builtin_name(size_t i)
{
	for (size_t j = 0; j <= i; j++)
		if (rs_builtin_policies[j].name == NULL)
			return NULL;
	return rs_builtin_policies[i].name;
}
