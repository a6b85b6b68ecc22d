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
	uint8_t owner[RS_NAME_MAX];
	memcpy(owner, s->r_owner, s->r_owner_length);
	rs_dname_lower(owner);
	const rs_name_t *name = r->last;
	if (name == NULL || name->wire_len != s->r_owner_length ||
	    memcmp(rs_name_wire(name), owner, name->wire_len) != 0) {
		rs_name_t *n = rs_name_new(z->arena, owner);
		if (n == NULL)
			return rs_diag(r->diag, RS_ENOMEM, "out of memory");
		if (!rs_name_is_sub(n, z->origin)) {
			char text[1024], origin[1024];
			rs_dname_to_str(owner, text, sizeof(text));
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
		case ZS_STATE_INCLUDE:
			ret = read_file(r, s->include_filename, (const char *)s->buffer, s->default_ttl, file,
					s->line_counter);
			r->last = NULL;
			break;
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
	zs_scanner_t *s = malloc(sizeof(*s));
	if (s == NULL)
		return rs_diag(r->diag, RS_ENOMEM, "out of memory");
	int ret;
	if (zs_init(s, origin, RS_CLASS_IN, ttl) != 0) {
		free(s);
		return rs_diag(r->diag, RS_ESYNTAX, "%sbad origin '%s'", where, origin);
	}
	if (zs_set_input_file(s, strcmp(path, "-") == 0 ? "/dev/stdin" : path) != 0) {
		ret = rs_diag(r->diag, RS_EIO, "%scannot read '%s': %s", where, path,
			      zs_strerror(s->error.code));
	} else {
		r->open[r->depth++] = real;
		ret = run_scanner(r, s, path);
		r->depth--;
	}
	zs_deinit(s);
	free(s);
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
