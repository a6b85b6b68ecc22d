/* The hash-chained audit log: entry lines, their verification, and their syslog form. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>
#include <sodium.h>

#include "regsign/audit.h"

const char rs_audit_genesis[RS_AUDIT_HASH_HEX] =
	"0000000000000000000000000000000000000000000000000000000000000000";

static void sha256_hex(const char *text, size_t len, char out[RS_AUDIT_HASH_HEX])
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	SHA256((const uint8_t *)text, len, md);
	sodium_bin2hex(out, RS_AUDIT_HASH_HEX, md, sizeof(md));
}

/* A bare value: printable, no spaces or quotes ("-" when empty). */
static void bare(rs_buf_t *out, const char *v)
{
	if (v == NULL || *v == '\0') {
		rs_buf_append(out, "-", 1);
		return;
	}
	for (; *v; v++) {
		char c = (*v > ' ' && *v < 127 && *v != '"' && *v != '=') ? *v : '_';
		rs_buf_append(out, &c, 1);
	}
}

static void quoted(rs_buf_t *out, const char *v)
{
	rs_buf_append(out, "\"", 1);
	for (; v != NULL && *v; v++) {
		if (*v == '"' || *v == '\\')
			rs_buf_append(out, "\\", 1);
		char c = (unsigned char)*v < ' ' || *v == 127 ? ' ' : *v;
		rs_buf_append(out, &c, 1);
	}
	rs_buf_append(out, "\"", 1);
}

int rs_audit_line(const rs_audit_event_t *e, uint64_t seq, const char *prev, rs_buf_t *out,
		  char hash[RS_AUDIT_HASH_HEX])
{
	size_t start = out->len;
	char ts[32];
	time_t t = (time_t)e->time;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	rs_buf_printf(out, "seq=%" PRIu64 " time=%s operator=", seq, ts);
	bare(out, e->operator);
	rs_buf_printf(out, " action=");
	bare(out, e->action);
	rs_buf_printf(out, " zone=");
	bare(out, e->zone);
	rs_buf_printf(out, " key=%u result=", e->tag);
	bare(out, e->result);
	rs_buf_printf(out, " detail=");
	quoted(out, e->detail);
	int ret = rs_buf_printf(out, " prev=%s", prev);
	if (ret != RS_EOK)
		return ret;
	sha256_hex((const char *)out->data + start, out->len - start, hash);
	return rs_buf_printf(out, " hash=%s\n", hash);
}

/* ---- reading lines back ---- */

typedef struct {
	const char *key, *val;
	size_t klen, vlen;
} field_t;

/* Split a line into key=value fields (values bare or quoted). Returns the count, -1 if malformed. */
static int fields(const char *p, size_t len, field_t *out, int max)
{
	const char *end = p + len;
	int n = 0;
	while (p < end) {
		if (n == max)
			return -1;
		field_t *f = &out[n++];
		f->key = p;
		while (p < end && *p != '=' && *p != ' ')
			p++;
		if (p == end || *p != '=' || p == f->key)
			return -1;
		f->klen = (size_t)(p - f->key);
		f->val = ++p;
		if (p < end && *p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			if (p >= end)
				return -1;
			p++;
		} else {
			while (p < end && *p != ' ')
				p++;
		}
		f->vlen = (size_t)(p - f->val);
		if (p < end && *p++ != ' ')
			return -1;
	}
	return n;
}

static const field_t *field(const field_t *f, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (f[i].klen == strlen(key) && memcmp(f[i].key, key, f[i].klen) == 0)
			return &f[i];
	return NULL;
}

/* The order every entry has; anything else is not a line regsign wrote. */
static const char *const ORDER[] = { "seq", "time", "operator", "action", "zone", "key", "result",
				     "detail", "prev", "hash" };
#define NFIELDS (sizeof(ORDER) / sizeof(ORDER[0]))

static int parse_line(const char *line, size_t len, field_t f[NFIELDS], uint64_t *seq)
{
	if (fields(line, len, f, (int)NFIELDS) != (int)NFIELDS)
		return RS_ESYNTAX;
	for (size_t i = 0; i < NFIELDS; i++)
		if (f[i].klen != strlen(ORDER[i]) || memcmp(f[i].key, ORDER[i], f[i].klen) != 0)
			return RS_ESYNTAX;
	char num[24];
	if (f[0].vlen == 0 || f[0].vlen >= sizeof(num) || f[8].vlen != 64 || f[9].vlen != 64)
		return RS_ESYNTAX;
	memcpy(num, f[0].val, f[0].vlen);
	num[f[0].vlen] = '\0';
	char *e;
	*seq = strtoull(num, &e, 10);
	return *e == '\0' && num[0] != '0' ? RS_EOK : RS_ESYNTAX;
}

int rs_audit_line_head(const char *line, size_t len, uint64_t *seq, char hash[RS_AUDIT_HASH_HEX])
{
	field_t f[NFIELDS];
	int ret = parse_line(line, len, f, seq);
	if (ret == RS_EOK) {
		memcpy(hash, f[9].val, 64);
		hash[64] = '\0';
	}
	return ret;
}

int rs_audit_line_serial(const char *line, size_t len, char zone[256], uint32_t *serial)
{
	field_t f[NFIELDS];
	uint64_t seq;
	unsigned long n;
	char num[16];
	if (parse_line(line, len, f, &seq) != RS_EOK || f[3].vlen != 4 || memcmp(f[3].val, "sign", 4) != 0 ||
	    f[6].vlen != 2 || memcmp(f[6].val, "ok", 2) != 0 || f[4].vlen == 0 || f[4].vlen > 255 ||
	    f[7].vlen < 9 || memcmp(f[7].val, "\"serial ", 8) != 0)
		return RS_ENOENT;
	size_t digits = strspn(f[7].val + 8, "0123456789");
	if (digits == 0 || digits >= sizeof(num))
		return RS_ENOENT;
	memcpy(num, f[7].val + 8, digits);
	num[digits] = '\0';
	if ((n = strtoul(num, NULL, 10)) > UINT32_MAX)
		return RS_ENOENT;
	memcpy(zone, f[4].val, f[4].vlen);
	zone[f[4].vlen] = '\0';
	*serial = (uint32_t)n;
	return RS_EOK;
}

static void copy_value(const field_t *f, char *out, size_t max)
{
	const char *v = f->val;
	size_t len = f->vlen, n = 0;
	bool quoted = len >= 2 && v[0] == '"';
	if (quoted) {
		v++;
		len -= 2;
	}
	for (size_t i = 0; i < len && n + 1 < max; i++) {
		if (quoted && v[i] == '\\' && i + 1 < len)
			i++;
		out[n++] = v[i];
	}
	out[n] = '\0';
}

int rs_audit_line_entry(const char *line, size_t len, rs_audit_entry_t *out)
{
	field_t f[NFIELDS];
	uint64_t seq;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (parse_line(line, len, f, &seq) != RS_EOK)
		return RS_ESYNTAX;
	char ts[32], tag[8];
	struct tm tm = { 0 };
	copy_value(&f[1], ts, sizeof(ts));
	if (sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
		   &tm.tm_sec) != 6)
		return RS_ESYNTAX;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	out->seq = seq;
	out->time = (int64_t)timegm(&tm);
	copy_value(&f[3], out->action, sizeof(out->action));
	copy_value(&f[4], out->zone, sizeof(out->zone));
	copy_value(&f[5], tag, sizeof(tag));
	out->tag = (uint16_t)strtoul(tag, NULL, 10);
	copy_value(&f[6], out->result, sizeof(out->result));
	copy_value(&f[7], out->detail, sizeof(out->detail));
	return RS_EOK;
}

bool rs_audit_entry_zone_is(const rs_audit_entry_t *entry, const char *zone)
{
	rs_buf_t b;
	rs_buf_init(&b, sizeof(entry->zone) * 2);
	bare(&b, zone);
	bool same = b.len == strlen(entry->zone) && memcmp(b.data, entry->zone, b.len) == 0;
	rs_buf_clear(&b);
	return same;
}

/* An acknowledged gap's "resume=SEQ:HASH": where the chain goes on after it. */
static bool gap_resume(const field_t *f, uint64_t *seq, char hash[RS_AUDIT_HASH_HEX])
{
	if (f[3].vlen != strlen(RS_AUDIT_GAP) || memcmp(f[3].val, RS_AUDIT_GAP, f[3].vlen) != 0)
		return false;
	/* The last "resume=": the operator's reason, before it, may hold the word too. */
	const char *r = NULL;
	for (const char *p = f[7].val; (p = memmem(p, f[7].vlen - (size_t)(p - f[7].val), "resume=", 7)) != NULL; p++)
		r = p;
	unsigned long long s;
	char h[RS_AUDIT_HASH_HEX + 1];
	if (r == NULL || sscanf(r + 7, "%llu:%65[0-9a-f]", &s, h) != 2 || strlen(h) != 64)
		return false;
	memcpy(hash, h, RS_AUDIT_HASH_HEX);
	*seq = s;
	return true;
}

int rs_audit_gap_of(const char *line, size_t len, uint64_t *seq, char hash[RS_AUDIT_HASH_HEX])
{
	field_t f[NFIELDS];
	uint64_t own;
	return parse_line(line, len, f, &own) == RS_EOK && gap_resume(f, seq, hash);
}

int rs_audit_line_prev(const char *line, size_t len, char prev[RS_AUDIT_HASH_HEX])
{
	field_t f[NFIELDS];
	uint64_t seq;
	int ret = parse_line(line, len, f, &seq);
	if (ret == RS_EOK) {
		memcpy(prev, f[8].val, 64);
		prev[64] = '\0';
	}
	return ret;
}

int rs_audit_verify(const char *text, size_t len, const char *label, uint64_t head_seq, const char *head_hash,
		    uint64_t *entries, rs_diag_t *diag)
{
	char prev[RS_AUDIT_HASH_HEX];
	memcpy(prev, rs_audit_genesis, sizeof(prev));
	uint64_t n = 0, gaps = 0;
	size_t at = 0, lineno = 0;
	while (at < len) {
		const char *line = text + at;
		const char *nl = memchr(line, '\n', len - at);
		if (nl == NULL)
			return rs_diag(diag, RS_EINVAL, "%s:%zu: entry %" PRIu64 ": incomplete line (no newline)", label,
				       lineno + 1, n + 1);
		size_t l = (size_t)(nl - line);
		at += l + 1;
		lineno++;
		field_t f[NFIELDS];
		uint64_t seq;
		if (parse_line(line, l, f, &seq) != RS_EOK)
			return rs_diag(diag, RS_EINVAL, "%s:%zu: entry %" PRIu64 ": not an audit entry", label, lineno,
				       n + 1);
		n++;
		char want[RS_AUDIT_HASH_HEX];
		sha256_hex(line, (size_t)(f[9].key - 1 - line), want);
		if (memcmp(f[9].val, want, 64) != 0)
			return rs_diag(diag, RS_EINVAL, "%s:%zu: entry %" PRIu64 ": changed (its hash does not match "
				       "its content)", label, lineno, seq);
		if (seq != n)
			return rs_diag(diag, RS_EINVAL, "%s:%zu: entry %" PRIu64 ": out of sequence (expected entry %"
				       PRIu64 "): entries were removed, inserted or moved", label, lineno, seq, n);
		if (memcmp(f[8].val, prev, 64) != 0)
			return rs_diag(diag, RS_EINVAL, "%s:%zu: entry %" PRIu64 ": does not follow the entry before "
				       "it (chain broken): an entry was removed, inserted or moved", label, lineno, seq);
		memcpy(prev, want, sizeof(prev));
		/* An operator acknowledged entries lost before this point: the chain goes on where it says. */
		uint64_t resume;
		if (gap_resume(f, &resume, prev) && resume > n) {
			n = resume - 1;
			gaps++;
		}
	}
	if (head_seq > n)
		return rs_diag(diag, RS_EINVAL, "%s: entry %" PRIu64 ": missing: the log ends at entry %" PRIu64
			       " but the state database records %" PRIu64, label, n + 1, n, head_seq);
	if (head_seq != 0 && head_seq == n && strcmp(head_hash, prev) != 0)
		return rs_diag(diag, RS_EINVAL, "%s: entry %" PRIu64 ": differs from the one the state database "
			       "records: the log was rewritten", label, n);
	*entries = n - gaps;
	return RS_EOK;
}

/* An RFC 5424 PARAM-VALUE: '"', '\' and ']' escaped. */
static void sd_value(rs_buf_t *out, const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '"' || v[i] == '\\' || v[i] == ']')
			rs_buf_append(out, "\\", 1);
		rs_buf_append(out, v + i, 1);
	}
}

int rs_audit_syslog(const char *line, size_t len, const char *hostname, int pid, rs_buf_t *out)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	field_t f[NFIELDS];
	uint64_t seq;
	if (parse_line(line, len, f, &seq) != RS_EOK)
		return RS_ESYNTAX;
	bool ok = f[6].vlen == 2 && memcmp(f[6].val, "ok", 2) == 0;
	/* RFC 5424 6: <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG; authpriv = 10. */
	rs_buf_printf(out, "<%d>1 %.*s %s regsign %d %.*s [regsign@32473", 10 * 8 + (ok ? 5 : 4), (int)f[1].vlen,
		      f[1].val, hostname, pid, (int)(f[3].vlen > 32 ? 32 : f[3].vlen), f[3].val);
	static const char *const sd[] = { "seq", "zone", "key", "result", "hash" };
	for (size_t i = 0; i < sizeof(sd) / sizeof(sd[0]); i++) {
		const field_t *v = field(f, (int)NFIELDS, sd[i]);
		rs_buf_printf(out, " %s=\"", sd[i]);
		sd_value(out, v->val, v->vlen);
		rs_buf_append(out, "\"", 1);
	}
	rs_buf_append(out, "] ", 2);
	return rs_buf_append(out, line, len);
}
