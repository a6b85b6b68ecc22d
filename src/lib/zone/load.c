/*
 * Zone text through libzscanner. $INCLUDE is handled here rather than by the
 * scanner so that nesting is bounded and include loops are caught.
 */
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libzscanner/scanner.h>

#include "internal.h"

struct reader {
	rs_zone_t *zone;
	rs_diag_t *diag;
	unsigned depth;
	char *open[64]; /* real paths of the files being read, outermost first */
	const char *dir[64]; /* their paths as given, for relative $INCLUDEs */
	const rs_name_t *last; /* owner of the previous record, reused while it repeats */
};

static bool skipped_type(const struct reader *r, uint16_t type)
{
	if (r->zone->opts.keep_dnssec)
		return false;
	return type == RS_TYPE_RRSIG || type == RS_TYPE_NSEC || type == RS_TYPE_NSEC3 ||
	       type == RS_TYPE_NSEC3PARAM;
}

static int add_record(struct reader *r, zs_scanner_t *s, const char *file, uint32_t file_idx)
{
	rs_zone_t *z = r->zone;
	uint32_t line = (uint32_t)s->line_counter;
	char tname[32];
	if (s->r_class != RS_CLASS_IN)
		return rs_diag(r->diag, RS_EZONE, "%s:%u: class %u is not supported, only IN", file, line,
			       s->r_class);
	if (skipped_type(r, s->r_type))
		return RS_EOK;
	/* Consecutive records usually share an owner: reuse the name while it repeats. */
	const rs_name_t *name = r->last;
	if (name == NULL || name->wire_len != s->r_owner_length ||
	    memcmp(rs_name_written(name), s->r_owner, name->wire_len) != 0) {
		rs_name_t *n = rs_name_new_written(z->arena, s->r_owner);
		if (n == NULL)
			return rs_diag(r->diag, RS_ENOMEM, "out of memory");
		if (!rs_name_is_sub(n, z->origin)) {
			char text[1024], origin[1024];
			rs_dname_to_str(s->r_owner, text, sizeof(text));
			rs_dname_to_str(rs_name_wire(z->origin), origin, sizeof(origin));
			return rs_diag(r->diag, RS_EZONE, "%s:%u: '%s' is outside the zone '%s'", file, line,
				       text, origin);
		}
		r->last = name = n;
	}
	int ret = zone_append(z, name, s->r_type, s->r_ttl, s->r_data, s->r_data_length, file_idx, line);
	if (ret == RS_ESYNTAX) {
		rs_type_to_str(s->r_type, tname, sizeof(tname));
		return rs_diag(r->diag, ret, "%s:%u: malformed %s record data", file, line, tname);
	}
	if (ret != RS_EOK)
		return rs_diag(r->diag, ret, "%s:%u: %s", file, line, rs_strerror(ret));
	return RS_EOK;
}

static int read_file(struct reader *r, const char *path, const char *origin, uint32_t ttl,
		     const char *from, uint64_t from_line);

/*
 * libzscanner refuses CRLF line ends. A file that has CR LF is read into
 * memory with each CR LF turned into LF (*text set); otherwise *text stays
 * NULL and the scanner maps the file itself.
 */
static int read_crlf(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	char *chunk = malloc(1 << 16);
	bool crlf = false;
	size_t n;
	while (chunk != NULL && !crlf && (n = fread(chunk, 1, 1 << 16, f)) > 0)
		crlf = memchr(chunk, '\r', n) != NULL;
	free(chunk);
	if (!crlf) {
		fclose(f);
		return RS_EOK;
	}
	if (fseek(f, 0, SEEK_END) != 0) {
		fclose(f);
		return -errno;
	}
	long size = ftell(f);
	rewind(f);
	char *buf = size >= 0 ? malloc((size_t)size + 1) : NULL;
	if (buf == NULL) {
		fclose(f);
		return RS_ENOMEM;
	}
	size_t got = fread(buf, 1, (size_t)size, f);
	fclose(f);
	size_t out = 0;
	for (size_t i = 0; i < got; i++)
		if (!(buf[i] == '\r' && i + 1 < got && buf[i + 1] == '\n'))
			buf[out++] = buf[i];
	*text = buf;
	*len = out;
	return RS_EOK;
}

/*
 * An $INCLUDE path relative to the including file's directory (RFC 1035
 * leaves it open; BIND and Knot do this). False if it does not fit.
 */
static bool include_path(const struct reader *r, const char *name, char *out, size_t max)
{
	const char *parent = r->depth > 0 ? r->dir[r->depth - 1] : NULL;
	const char *slash = parent != NULL ? strrchr(parent, '/') : NULL;
	int n;
	if (name[0] == '/' || slash == NULL)
		n = snprintf(out, max, "%s", name);
	else
		n = snprintf(out, max, "%.*s/%s", (int)(slash - parent), parent, name);
	return n >= 0 && (size_t)n < max;
}

static int run_scanner(struct reader *r, zs_scanner_t *s, const char *file)
{
	uint32_t file_idx;
	int ret = zone_file_index(r->zone, file, &file_idx);
	if (ret != RS_EOK)
		return rs_diag(r->diag, ret, "out of memory");
	for (;;) {
		zs_parse_record(s);
		switch (s->state) {
		case ZS_STATE_DATA:
			ret = add_record(r, s, file, file_idx);
			break;
		case ZS_STATE_ERROR:
			return rs_diag(r->diag, RS_ESYNTAX, "%s:%llu: %s", file,
				       (unsigned long long)s->line_counter, zs_strerror(s->error.code));
		case ZS_STATE_INCLUDE: {
			char path[PATH_MAX + 256];
			if (!include_path(r, s->include_filename, path, sizeof(path)))
				return rs_diag(r->diag, RS_ELIMIT, "%s:%llu: $INCLUDE path too long", file,
					       (unsigned long long)s->line_counter);
			ret = read_file(r, path, (const char *)s->buffer, s->default_ttl, file, s->line_counter);
			r->last = NULL;
			break;
		}
		default:
			return RS_EOK;
		}
		if (ret != RS_EOK)
			return ret;
	}
}

static int read_file(struct reader *r, const char *path, const char *origin, uint32_t ttl,
		     const char *from, uint64_t from_line)
{
	char real[PATH_MAX];
	char where[PATH_MAX + 32] = "";
	if (from != NULL)
		snprintf(where, sizeof(where), "%s:%llu: ", from, (unsigned long long)from_line);
	if (r->depth >= r->zone->opts.include_depth || r->depth >= 64)
		return rs_diag(r->diag, RS_ELIMIT, "%s$INCLUDE nested deeper than %u files", where,
			       r->zone->opts.include_depth);
	if (strcmp(path, "-") != 0) {
		if (realpath(path, real) == NULL)
			return rs_diag(r->diag, -errno, "%scannot open '%s': %s", where, path, strerror(errno));
		for (unsigned i = 0; i < r->depth; i++)
			if (strcmp(r->open[i], real) == 0)
				return rs_diag(r->diag, RS_ELIMIT, "%s$INCLUDE loop: '%s' is already being read",
					       where, path);
	} else {
		strcpy(real, "/dev/stdin");
	}
	char *text = NULL;
	size_t text_len = 0;
	int ret = strcmp(path, "-") == 0 ? RS_EOK : read_crlf(path, &text, &text_len);
	if (ret != RS_EOK)
		return rs_diag(r->diag, ret, "%scannot read '%s': %s", where, path, strerror(-ret));
	zs_scanner_t *s = malloc(sizeof(*s));
	if (s == NULL) {
		free(text);
		return rs_diag(r->diag, RS_ENOMEM, "out of memory");
	}
	if (zs_init(s, origin, RS_CLASS_IN, ttl) != 0) {
		free(s);
		free(text);
		return rs_diag(r->diag, RS_ESYNTAX, "%sbad origin '%s'", where, origin);
	}
	int set = text != NULL ? zs_set_input_string(s, text, text_len)
			       : zs_set_input_file(s, strcmp(path, "-") == 0 ? "/dev/stdin" : path);
	if (set != 0) {
		ret = rs_diag(r->diag, RS_EIO, "%scannot read '%s': %s", where, path,
			      zs_strerror(s->error.code));
	} else {
		r->open[r->depth] = real;
		r->dir[r->depth] = path;
		r->depth++;
		ret = run_scanner(r, s, path);
		r->depth--;
	}
	zs_deinit(s);
	free(s);
	free(text);
	return ret;
}

static void origin_text(const rs_zone_t *zone, char *out, size_t max)
{
	rs_dname_to_str(rs_name_wire(zone->origin), out, max);
}

int rs_zone_read(rs_zone_t *zone, const char *path, rs_diag_t *diag)
{
	struct reader r = { .zone = zone, .diag = diag };
	char origin[1024];
	origin_text(zone, origin, sizeof(origin));
	return read_file(&r, path, origin, 3600, NULL, 0);
}

int rs_zone_read_string(rs_zone_t *zone, const char *text, size_t len, const char *label,
			rs_diag_t *diag)
{
	struct reader r = { .zone = zone, .diag = diag };
	char origin[1024];
	origin_text(zone, origin, sizeof(origin));
	zs_scanner_t *s = malloc(sizeof(*s));
	if (s == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	int ret;
	if (zs_init(s, origin, RS_CLASS_IN, 3600) != 0 || zs_set_input_string(s, text, len) != 0)
		ret = rs_diag(diag, RS_ESYNTAX, "%s: cannot start the zone scanner", label);
	else
		ret = run_scanner(&r, s, label);
	zs_deinit(s);
	free(s);
	return ret;
}
