/*
 * Zone text as peers read it, rewritten before libzscanner scans it
 * (docs/zone-input.md, "What the reader accepts"): CR LF line ends; raw
 * 8-bit octets in quoted strings, escaped as \DDD; $INCLUDE with a relative
 * origin, made absolute against the current one; base64 and hex fields split
 * anywhere, joined. A character-string over 255 octets, which the scanner
 * would split silently, is refused. Line numbers stay as they were: every
 * newline is kept, and the ones between joined pieces follow the last piece.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

struct prep {
	const char *in;
	size_t len, i;
	rs_buf_t *out;
	const char *file;
	uint32_t line;
	int depth; /* open parentheses */
	char origin[1100]; /* current origin, absolute */
	rs_diag_t *diag;
	int ret;
};

static void put(struct prep *p, const void *data, size_t len)
{
	if (p->ret == RS_EOK && len > 0)
		p->ret = rs_buf_append(p->out, data, len);
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Ends a token outside quotes. */
static bool is_delim(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(' || c == ')' || c == ';' || c == '"';
}

/* Length of the unquoted token at in[i]; a backslash escapes the next octet. */
static size_t token_len(const struct prep *p, size_t i)
{
	size_t j = i;
	while (j < p->len && !is_delim(p->in[j]))
		j += p->in[j] == '\\' && j + 1 < p->len && p->in[j + 1] != '\n' ? 2 : 1;
	return j - i;
}

/* Octets a token stands for: \DDD and \X are one each. */
static size_t decoded_len(const char *t, size_t n)
{
	size_t octets = 0;
	for (size_t k = 0; k < n; octets++) {
		if (t[k] == '\\' && k + 3 < n && t[k + 1] >= '0' && t[k + 1] <= '9')
			k += 4;
		else
			k += t[k] == '\\' && k + 1 < n ? 2 : 1;
	}
	return octets;
}

/* name made absolute against origin (a trailing unescaped dot: already is); false if it does not fit. */
static bool absolute(const char *name, size_t n, const char *origin, char *out, size_t max)
{
	bool abs = n > 0 && name[n - 1] == '.' && !(n >= 2 && name[n - 2] == '\\');
	int w;
	if (n == 1 && name[0] == '@')
		w = snprintf(out, max, "%s", origin);
	else if (abs)
		w = snprintf(out, max, "%.*s", (int)n, name);
	else
		w = snprintf(out, max, "%.*s%s%s", (int)n, name, strcmp(origin, ".") == 0 ? "" : ".", origin);
	return w >= 0 && (size_t)w < max;
}

/* The rest of the line up to (not including) its newline, copied as it is. */
static void copy_line(struct prep *p)
{
	size_t j = p->i;
	while (j < p->len && p->in[j] != '\n')
		j++;
	size_t end = j > p->i && p->in[j - 1] == '\r' ? j - 1 : j;
	put(p, p->in + p->i, end - p->i);
	p->i = j;
}

/* $ORIGIN is followed; $INCLUDE FILE ORIGIN gets its origin made absolute. */
static void directive(struct prep *p)
{
	size_t start = p->i, n = token_len(p, start);
	bool origin = n == 7 && strncasecmp(p->in + start, "$ORIGIN", 7) == 0;
	bool include = n == 8 && strncasecmp(p->in + start, "$INCLUDE", 8) == 0;
	if (!origin && !include) {
		copy_line(p);
		return;
	}
	size_t j = start + n;
	while (j < p->len && is_blank(p->in[j]))
		j++;
	if (include) { /* the file name */
		j += token_len(p, j);
		while (j < p->len && is_blank(p->in[j]))
			j++;
	}
	size_t on = j < p->len && p->in[j] != ';' ? token_len(p, j) : 0;
	if (on == 0) {
		copy_line(p);
		return;
	}
	char abs[1100];
	if (!absolute(p->in + j, on, p->origin, abs, sizeof(abs))) {
		copy_line(p); /* too long for a name: the scanner says so */
		return;
	}
	if (origin)
		memcpy(p->origin, abs, strlen(abs) + 1);
	put(p, p->in + start, j - start);
	put(p, abs, strlen(abs));
	p->i = j + on;
	copy_line(p);
}

/* Record types whose RDATA ends in a base64 or hex field that may be split, and where it starts. */
static int joined_from(uint16_t type)
{
	switch (type) {
	case 24: case 46: return 8;                   /* SIG, RRSIG: the signature */
	case 25: case 48: case 60: return 3;          /* KEY, DNSKEY, CDNSKEY: the key */
	case 43: case 59: case 32769: return 3;       /* DS, CDS, DLV: the digest */
	case 52: case 53: case 63: return 3;          /* TLSA, SMIMEA, ZONEMD: the data */
	case 44: return 2;                            /* SSHFP: the fingerprint */
	case 45: return 4;                            /* IPSECKEY: the public key */
	case 49: case 61: return 0;                   /* DHCID, OPENPGPKEY: all of it */
	default: return -1;
	}
}

/* Is rdata field f of type a character-string (RFC 1035 3.3)? */
static bool char_string(uint16_t type, int f)
{
	return type == RS_TYPE_TXT || type == 99 /* SPF */ || type == 13 /* HINFO */ || type == 258 /* AVC */ ||
	       (type == RS_TYPE_NAPTR && f >= 2 && f <= 4);
}

static bool is_class(const char *t, size_t n)
{
	static const char *const classes[] = { "IN", "CH", "CS", "HS", "NONE", "ANY" };
	for (size_t k = 0; k < sizeof(classes) / sizeof(classes[0]); k++)
		if (strlen(classes[k]) == n && strncasecmp(t, classes[k], n) == 0)
			return true;
	return n > 5 && strncasecmp(t, "CLASS", 5) == 0;
}

int zone_too_long(rs_diag_t *diag, const char *file, uint32_t line, size_t octets)
{
	return rs_diag(diag, RS_ESYNTAX, "%s:%u: character-string of %zu octets, longer than 255 "
		       "(RFC 1035 3.3): split it into strings of at most 255", file, line, octets);
}

static void too_long(struct prep *p, size_t octets, uint32_t line)
{
	if (p->ret == RS_EOK)
		p->ret = zone_too_long(p->diag, p->file, line, octets);
}

/* A quoted string at in[i]: octets >= 0x80 escaped. Returns the octets it stands for. */
static size_t quoted(struct prep *p)
{
	size_t octets = 0, j = p->i + 1, from = p->i;
	char esc[8];
	while (j < p->len && p->in[j] != '"') {
		unsigned char c = (unsigned char)p->in[j];
		if (c == '\\' && j + 1 < p->len) {
			unsigned char d = (unsigned char)p->in[j + 1];
			if (d >= 0x80) { /* \X of a raw octet: the octet */
				put(p, p->in + from, j - from);
				snprintf(esc, sizeof(esc), "\\%03u", d);
				put(p, esc, 4);
				j += 2;
				from = j;
			} else {
				j += d >= '0' && d <= '9' && j + 3 < p->len ? 4 : 2;
			}
		} else if (c >= 0x80) {
			put(p, p->in + from, j - from);
			snprintf(esc, sizeof(esc), "\\%03u", c);
			put(p, esc, 4);
			from = ++j;
		} else {
			p->line += c == '\n';
			j++;
		}
		octets++;
	}
	if (j < p->len)
		j++; /* the closing quote */
	put(p, p->in + from, j - from);
	p->i = j;
	return octets;
}

/*
 * After a piece of a joined field: if another piece follows (past blanks,
 * comments and, inside parentheses, newlines), skip to it and return the
 * newlines skipped; otherwise -1.
 */
static int next_piece(const struct prep *p)
{
	size_t j = p->i;
	int newlines = 0;
	while (j < p->len) {
		char c = p->in[j];
		if (is_blank(c) || c == '\r') {
			j++;
		} else if (c == ';') {
			while (j < p->len && p->in[j] != '\n')
				j++;
		} else if (c == '\n' && p->depth > 0) {
			newlines++;
			j++;
		} else {
			break;
		}
	}
	if (j == p->len || is_delim(p->in[j]))
		return -1;
	return newlines;
}

/* One record, from the start of its line to the newline that ends it. */
static void record(struct prep *p)
{
	bool owner = !is_blank(p->in[p->i]);
	int tok = 0, field = -1, join = -1;
	uint16_t type = 0;
	bool generic = false, typed = false;
	while (p->i < p->len && p->ret == RS_EOK) {
		char c = p->in[p->i];
		if (c == '\n') {
			put(p, "\n", 1);
			p->line++;
			p->i++;
			if (p->depth <= 0) {
				p->depth = 0; /* an unopened ')' is the scanner's to report */
				return;
			}
			continue;
		}
		if (c == '\r' && p->i + 1 < p->len && p->in[p->i + 1] == '\n') {
			p->i++;
			continue;
		}
		if (c == ';') {
			copy_line(p);
			continue;
		}
		if (c == '(' || c == ')' || is_blank(c) || c == '\r') {
			p->depth += c == '(' ? 1 : c == ')' ? -1 : 0;
			put(p, &c, 1);
			p->i++;
			continue;
		}
		uint32_t line = p->line;
		int f = typed ? field++ : -1;
		if (c == '"') {
			size_t octets = quoted(p);
			if (typed && !generic && char_string(type, f) && octets > 255)
				too_long(p, octets, line);
			tok++;
			continue;
		}
		size_t n = token_len(p, p->i);
		const char *t = p->in + p->i;
		if (!typed && !(tok == 0 && owner) && !(t[0] >= '0' && t[0] <= '9') && !is_class(t, n)) {
			char name[32];
			typed = true;
			field = 0;
			snprintf(name, sizeof(name), "%.*s", (int)(n < 31 ? n : 31), t);
			if (n >= 31 || rs_type_from_str(name, &type) != RS_EOK)
				generic = true; /* not a type we know: the scanner says what is wrong */
			join = generic ? -1 : joined_from(type);
		} else if (typed && f == 0 && n == 2 && t[0] == '\\' && t[1] == '#') {
			generic = true; /* RFC 3597 form: hex, as the scanner reads it */
			join = -1;
		} else if (typed && !generic && char_string(type, f) && decoded_len(t, n) > 255) {
			too_long(p, decoded_len(t, n), line);
		}
		put(p, t, n);
		p->i += n;
		tok++;
		if (typed && join >= 0 && f >= join) {
			int skipped, pending = 0;
			while ((skipped = next_piece(p)) >= 0) {
				/* Join the next piece; its newlines go after the last one. */
				size_t j = p->i;
				while (j < p->len && (is_blank(p->in[j]) || p->in[j] == '\r' || p->in[j] == '\n' ||
						      p->in[j] == ';')) {
					if (p->in[j] == ';')
						while (j < p->len && p->in[j] != '\n')
							j++;
					else
						j++;
				}
				size_t m = token_len(p, j);
				put(p, p->in + j, m);
				p->i = j + m;
				p->line += (uint32_t)skipped;
				pending += skipped;
				field++;
			}
			for (; pending > 0; pending--)
				put(p, "\n", 1);
		}
	}
}

size_t zone_long_token(const char *line, size_t len)
{
	struct prep p = { .in = line, .len = len };
	size_t first = 0;
	while (p.i < p.len && line[p.i] != '\n' && line[p.i] != ';') {
		char c = line[p.i];
		if (c == '"') {
			p.i++;
			while (p.i < p.len && line[p.i] != '"')
				p.i += line[p.i] == '\\' && p.i + 1 < p.len ? 2 : 1;
			p.i++;
			continue;
		}
		if (is_delim(c)) {
			p.i++;
			continue;
		}
		size_t n = token_len(&p, p.i);
		if (n == 2 && line[p.i] == '\\' && line[p.i + 1] == '#')
			return 0; /* RFC 3597 form: its hex may be long, and holds no text */
		size_t octets = decoded_len(line + p.i, n);
		if (octets > 255 && first == 0)
			first = octets;
		p.i += n;
	}
	return first;
}

bool zone_prep_needed(const char *text, size_t len, zone_scan_t *scan)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '\n') {
			*scan = (zone_scan_t){ 0 };
			continue;
		}
		scan->line_len++;
		scan->comment |= c == ';'; /* a ';' in quotes too: only a '(' after it is missed */
		scan->quote |= c == '"';
		if (c >= 0x80 || c == '\r' || (c == '(' && !scan->comment) || (scan->quote && scan->line_len > 257) ||
		    (c == '$' && i + 1 < len && (text[i + 1] == 'I' || text[i + 1] == 'i')))
			return true;
	}
	return false;
}

int zone_prep(const char *text, size_t len, const char *file, const char *origin, rs_buf_t *out,
	      rs_diag_t *diag)
{
	struct prep p = { .in = text, .len = len, .out = out, .file = file, .line = 1, .diag = diag };
	snprintf(p.origin, sizeof(p.origin), "%s", origin);
	while (p.i < p.len && p.ret == RS_EOK) {
		if (p.in[p.i] == '$')
			directive(&p);
		else
			record(&p);
		if (p.i < p.len && p.in[p.i] == '\n' && p.ret == RS_EOK) { /* after a directive */
			put(&p, "\n", 1);
			p.line++;
			p.i++;
		}
	}
	if (p.ret == RS_ENOMEM || p.ret == RS_ELIMIT)
		return rs_diag(diag, p.ret, "%s: %s", file, rs_strerror(p.ret));
	return p.ret;
}
