/*
 * Zone text through libzscanner. $INCLUDE is handled here rather than by the
 * scanner so that nesting is bounded and include loops are caught.
 */
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libzscanner/scanner.h>

#include "internal.h"

/* One record as the scanner gave it, before it is checked and stored. */
struct rec {
	const char *file;
	uint32_t file_idx;
	uint32_t line;
	uint32_t ttl;
	uint32_t rdlen;
	uint16_t type;
	uint16_t rclass;
	uint8_t owner_len;
	const uint8_t *owner;
	const uint8_t *rdata;
};

/* Where records go: checked, interned and appended to the zone. */
struct sink {
	rs_zone_t *zone;
	rs_diag_t *diag;
	const rs_name_t *last; /* owner of the previous record, reused while it repeats */
};

/*
 * Records pass from the scanning thread to the storing thread in batches, so
 * that libzscanner's parsing and our checking, interning and copying run on
 * two cores: reading a large zone was otherwise a single-core phase.
 */
#define PIPE_SLOTS 4
#define BATCH_SIZE (1 << 20)

struct batch {
	uint8_t *data;
	size_t len;
	bool last;     /* the scanner is done; status and diag hold its outcome */
	int status;
	rs_diag_t diag;
};

struct pipe {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct batch slot[PIPE_SLOTS];
	size_t produced; /* slots filled so far */
	size_t consumed; /* slots emptied so far */
	bool stop;       /* the storing side failed: scanning may end early */
};

struct reader {
	rs_zone_t *zone;
	rs_diag_t *diag;
	unsigned depth;
	char *open[64]; /* real paths of the files being read, outermost first */
	const char *dir[64]; /* their paths as given, for relative $INCLUDEs */
	struct sink *sink; /* records stored right away, or */
	struct pipe *pipe; /* passed on in batches */
};

static bool skipped_type(const rs_zone_t *zone, uint16_t type)
{
	if (zone->opts.keep_dnssec)
		return false;
	return type == RS_TYPE_RRSIG || type == RS_TYPE_NSEC || type == RS_TYPE_NSEC3 ||
	       type == RS_TYPE_NSEC3PARAM;
}

static int add_record(struct sink *k, const struct rec *rec)
{
	rs_zone_t *z = k->zone;
	char tname[32];
	if (rec->rclass != RS_CLASS_IN)
		return rs_diag(k->diag, RS_EZONE, "%s:%u: class %u is not supported, only IN", rec->file,
			       rec->line, rec->rclass);
	if (skipped_type(z, rec->type))
		return RS_EOK;
	/* Consecutive records usually share an owner: reuse the name while it repeats. */
	const rs_name_t *name = k->last;
	if (name == NULL || name->wire_len != rec->owner_len ||
	    memcmp(rs_name_written(name), rec->owner, name->wire_len) != 0) {
		rs_name_t *n = rs_name_new_written(z->arena, rec->owner);
		if (n == NULL)
			return rs_diag(k->diag, RS_ENOMEM, "out of memory");
		if (!rs_name_is_sub(n, z->origin)) {
			char text[1024], origin[1024];
			rs_dname_to_str(rec->owner, text, sizeof(text));
			rs_dname_to_str(rs_name_wire(z->origin), origin, sizeof(origin));
			return rs_diag(k->diag, RS_EZONE, "%s:%u: '%s' is outside the zone '%s'", rec->file,
				       rec->line, text, origin);
		}
		k->last = name = n;
	}
	int ret = zone_append(z, name, rec->type, rec->ttl, rec->rdata, rec->rdlen, rec->file_idx,
			      rec->line);
	if (ret == RS_ESYNTAX) {
		rs_type_to_str(rec->type, tname, sizeof(tname));
		const char *why = rs_rdata_flaw(rec->type, rec->rdata, rec->rdlen);
		return rs_diag(k->diag, ret, "%s:%u: malformed %s record data%s%s", rec->file, rec->line, tname,
			       why != NULL ? ": " : "", why != NULL ? why : "");
	}
	if (ret != RS_EOK)
		return rs_diag(k->diag, ret, "%s:%u: %s", rec->file, rec->line, rs_strerror(ret));
	return RS_EOK;
}

/* ---- the batch pipe ------------------------------------------------------ */

/* Packed form of a record in a batch: this header, the owner, the RDATA, padding to 8. */
struct packed {
	struct rec rec;
};

static size_t packed_size(size_t owner_len, size_t rdlen)
{
	return (sizeof(struct packed) + owner_len + rdlen + 7) & ~(size_t)7;
}

/* Publish the filling slot and wait for the next one to be free. False if told to stop. */
static bool pipe_publish(struct pipe *p, bool last, int status, const rs_diag_t *diag)
{
	pthread_mutex_lock(&p->lock);
	struct batch *b = &p->slot[p->produced % PIPE_SLOTS];
	b->last = last;
	b->status = status;
	if (diag != NULL)
		b->diag = *diag;
	p->produced++;
	pthread_cond_broadcast(&p->cond);
	while (!last && p->produced - p->consumed >= PIPE_SLOTS)
		pthread_cond_wait(&p->cond, &p->lock);
	bool go_on = !p->stop;
	if (!last)
		p->slot[p->produced % PIPE_SLOTS].len = 0;
	pthread_mutex_unlock(&p->lock);
	return go_on;
}

static int pipe_put(struct pipe *p, const struct rec *rec)
{
	struct batch *b = &p->slot[p->produced % PIPE_SLOTS];
	size_t need = packed_size(rec->owner_len, rec->rdlen);
	if (b->len + need > BATCH_SIZE) {
		if (!pipe_publish(p, false, RS_EOK, NULL))
			return RS_EINVAL; /* the storing side failed and will report why */
		b = &p->slot[p->produced % PIPE_SLOTS];
	}
	struct packed *pk = (struct packed *)(b->data + b->len);
	uint8_t *bytes = (uint8_t *)(pk + 1);
	pk->rec = *rec;
	memcpy(bytes, rec->owner, rec->owner_len);
	memcpy(bytes + rec->owner_len, rec->rdata, rec->rdlen);
	b->len += need;
	return RS_EOK;
}

/*
 * The file the scanner maps, read again line by line, for the rare record
 * whose source line must be seen (split_suspect). Opened on the first such
 * record; records come in line order, so the file is read at most once.
 */
struct source {
	const char *path;
	FILE *f;
	uint64_t line; /* the line in buf */
	char *buf;
	size_t cap;
	ssize_t len;
};

static void source_clear(struct source *src)
{
	if (src->f != NULL)
		fclose(src->f);
	free(src->buf);
}

/* Line n of the file into src->buf; false if it cannot be read. */
static bool source_line(struct source *src, uint64_t n)
{
	if (src->f != NULL && src->line > n) {
		fclose(src->f);
		src->f = NULL;
	}
	if (src->f == NULL) {
		if ((src->f = fopen(src->path, "rb")) == NULL)
			return false;
		src->line = 0;
	}
	while (src->line < n) {
		if ((src->len = getline(&src->buf, &src->cap, src->f)) < 0)
			return false;
		src->line++;
	}
	return true;
}

/*
 * Does the RDATA look like libzscanner's split of one long unquoted string:
 * a string of exactly 255 octets followed by another? Only the types that
 * hold a list of strings: HINFO and NAPTR strings over 255 are scanner errors.
 */
static bool split_suspect(uint16_t type, const uint8_t *rd, uint32_t len)
{
	if (type != RS_TYPE_TXT && type != 99 /* SPF */ && type != 258 /* AVC */)
		return false;
	for (uint32_t i = 0; i < len; i += 1u + rd[i])
		if (rd[i] == 255 && i + 256u < len)
			return true;
	return false;
}

static int emit(struct reader *r, zs_scanner_t *s, const char *file, uint32_t file_idx, struct source *src)
{
	/* Text the scanner read unrewritten was not checked for strings over 255 (zone_prep_needed). */
	if (src != NULL && split_suspect(s->r_type, s->r_data, s->r_data_length) &&
	    source_line(src, s->line_counter)) {
		size_t octets = zone_long_token(src->buf, (size_t)src->len);
		if (octets > 0)
			return zone_too_long(r->diag, file, (uint32_t)s->line_counter, octets);
	}
	struct rec rec = {
		.file = file, .file_idx = file_idx, .line = (uint32_t)s->line_counter,
		.ttl = s->r_ttl, .rdlen = s->r_data_length, .type = s->r_type, .rclass = s->r_class,
		.owner_len = (uint8_t)s->r_owner_length, .owner = s->r_owner, .rdata = s->r_data,
	};
	return r->pipe != NULL ? pipe_put(r->pipe, &rec) : add_record(r->sink, &rec);
}

static int read_file(struct reader *r, const char *path, const char *origin, uint32_t ttl,
		     const char *from, uint64_t from_line);

/* Does the file need rewriting for the scanner (zone_prep_needed)? Read in pieces; true when unsure. */
static bool prep_needed(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? NULL : fopen(path, "rb");
	char *chunk = f != NULL ? malloc(1 << 16) : NULL;
	bool needed = chunk == NULL;
	size_t n;
	zone_scan_t scan = { 0 };
	while (!needed && (n = fread(chunk, 1, 1 << 16, f)) > 0)
		needed = zone_prep_needed(chunk, n, &scan);
	free(chunk);
	if (f != NULL)
		fclose(f);
	return needed;
}

/*
 * A file's text, rewritten for the scanner (zone_prep), into out; out
 * stays empty (data NULL) when the scanner can read the file as it is.
 */
static int read_text(const char *path, const char *origin, rs_buf_t *out, rs_diag_t *diag, const char *where)
{
	rs_buf_init(out, (size_t)1 << 40);
	if (!prep_needed(path))
		return RS_EOK;
	rs_buf_t raw;
	rs_buf_init(&raw, (size_t)1 << 40);
	int ret = rs_buf_read_file(&raw, strcmp(path, "-") == 0 ? "/dev/stdin" : path);
	if (ret != RS_EOK) {
		rs_buf_clear(&raw);
		return rs_diag(diag, ret, "%scannot read '%s': %s", where, path,
			       ret < 0 && ret > -4096 ? strerror(-ret) : rs_strerror(ret));
	}
	ret = rs_buf_reserve(out, raw.len + raw.len / 32 + 64);
	if (ret == RS_EOK)
		ret = zone_prep((const char *)raw.data, raw.len, path, origin, out, diag);
	else
		rs_diag(diag, ret, "out of memory");
	rs_buf_clear(&raw);
	if (ret != RS_EOK)
		rs_buf_clear(out);
	return ret;
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

/* Scan file's records; src: the file itself when the scanner reads it unrewritten, else NULL. */
static int run_scanner(struct reader *r, zs_scanner_t *s, const char *file, struct source *src)
{
	uint32_t file_idx;
	int ret = zone_file_index(r->zone, file, &file_idx);
	if (ret != RS_EOK)
		return rs_diag(r->diag, ret, "out of memory");
	for (;;) {
		zs_parse_record(s);
		switch (s->state) {
		case ZS_STATE_DATA:
			ret = emit(r, s, file, file_idx, src);
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
		/* An unnamed file (/proc/self/fd/N of an O_TMPFILE) has no real path, but can be read. */
		if (realpath(path, real) == NULL && (errno != ENOENT || access(path, R_OK) != 0))
			return rs_diag(r->diag, -errno, "%scannot open '%s': %s", where, path, strerror(errno));
		if (access(real, F_OK) != 0)
			snprintf(real, sizeof(real), "%s", path);
		for (unsigned i = 0; i < r->depth; i++)
			if (strcmp(r->open[i], real) == 0)
				return rs_diag(r->diag, RS_ELIMIT, "%s$INCLUDE loop: '%s' is already being read",
					       where, path);
	} else {
		strcpy(real, "/dev/stdin");
	}
	rs_buf_t text;
	int ret = read_text(path, origin, &text, r->diag, where);
	if (ret != RS_EOK)
		return ret;
	zs_scanner_t *s = malloc(sizeof(*s));
	if (s == NULL) {
		rs_buf_clear(&text);
		return rs_diag(r->diag, RS_ENOMEM, "out of memory");
	}
	if (zs_init(s, origin, RS_CLASS_IN, ttl) != 0) {
		free(s);
		rs_buf_clear(&text);
		return rs_diag(r->diag, RS_ESYNTAX, "%sbad origin '%s'", where, origin);
	}
	int set = text.data != NULL ? zs_set_input_string(s, (const char *)text.data, text.len)
				    : zs_set_input_file(s, path);
	if (set != 0) {
		ret = rs_diag(r->diag, RS_EIO, "%scannot read '%s': %s", where, path,
			      zs_strerror(s->error.code));
	} else {
		r->open[r->depth] = real;
		r->dir[r->depth] = path;
		r->depth++;
		struct source src = { .path = path };
		ret = run_scanner(r, s, path, text.data == NULL ? &src : NULL);
		source_clear(&src);
		r->depth--;
	}
	zs_deinit(s);
	free(s);
	rs_buf_clear(&text);
	return ret;
}

static void origin_text(const rs_zone_t *zone, char *out, size_t max)
{
	rs_dname_to_str(rs_name_wire(zone->origin), out, max);
}

static void pipe_clear(struct pipe *p)
{
	for (int i = 0; i < PIPE_SLOTS; i++)
		free(p->slot[i].data);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
}

struct scan_job {
	struct reader *r;
	const char *path;
	const char *origin;
};

static void *scan_thread(void *arg)
{
	struct scan_job *job = arg;
	rs_diag_t diag = { "" };
	job->r->diag = &diag;
	int ret = read_file(job->r, job->path, job->origin, 3600, NULL, 0);
	pipe_publish(job->r->pipe, true, ret, &diag);
	return NULL;
}

int rs_zone_read(rs_zone_t *zone, const char *path, rs_diag_t *diag)
{
	char origin[1024];
	origin_text(zone, origin, sizeof(origin));
	struct sink sink = { .zone = zone, .diag = diag };
	struct pipe pipe = { .produced = 0 };
	struct reader r = { .zone = zone, .pipe = &pipe };
	bool ok = true;
	for (int i = 0; i < PIPE_SLOTS; i++)
		ok &= (pipe.slot[i].data = malloc(BATCH_SIZE)) != NULL;
	pthread_t tid;
	struct scan_job job = { &r, path, origin };
	pthread_mutex_init(&pipe.lock, NULL);
	pthread_cond_init(&pipe.cond, NULL);
	if (!ok || pthread_create(&tid, NULL, scan_thread, &job) != 0) {
		/* No second thread: read and store in this one. */
		pipe_clear(&pipe);
		struct reader direct = { .zone = zone, .diag = diag, .sink = &sink };
		return read_file(&direct, path, origin, 3600, NULL, 0);
	}
	/* Store records batch by batch; the first error in file order wins. */
	int ret = RS_EOK;
	for (;;) {
		pthread_mutex_lock(&pipe.lock);
		while (pipe.produced == pipe.consumed)
			pthread_cond_wait(&pipe.cond, &pipe.lock);
		pthread_mutex_unlock(&pipe.lock);
		struct batch *b = &pipe.slot[pipe.consumed % PIPE_SLOTS];
		for (size_t pos = 0; ret == RS_EOK && pos < b->len;) {
			struct packed *pk = (struct packed *)(b->data + pos);
			struct rec rec = pk->rec;
			rec.owner = (const uint8_t *)(pk + 1);
			rec.rdata = rec.owner + rec.owner_len;
			ret = add_record(&sink, &rec);
			pos += packed_size(rec.owner_len, rec.rdlen);
		}
		bool last = b->last;
		if (last && ret == RS_EOK && b->status != RS_EOK) {
			ret = b->status;
			*diag = b->diag;
		}
		pthread_mutex_lock(&pipe.lock);
		pipe.consumed++;
		if (ret != RS_EOK)
			pipe.stop = true;
		pthread_cond_broadcast(&pipe.cond);
		pthread_mutex_unlock(&pipe.lock);
		if (last)
			break;
	}
	pthread_join(tid, NULL);
	pipe_clear(&pipe);
	return ret;
}

int rs_zone_read_string(rs_zone_t *zone, const char *text, size_t len, const char *label,
			rs_diag_t *diag)
{
	struct sink sink = { .zone = zone, .diag = diag };
	struct reader r = { .zone = zone, .diag = diag, .sink = &sink };
	char origin[1024];
	origin_text(zone, origin, sizeof(origin));
	zs_scanner_t *s = malloc(sizeof(*s));
	if (s == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	rs_buf_t prepped;
	rs_buf_init(&prepped, (size_t)1 << 40);
	int ret = rs_buf_reserve(&prepped, len + len / 32 + 64);
	if (ret != RS_EOK)
		ret = rs_diag(diag, ret, "out of memory");
	else
		ret = zone_prep(text, len, label, origin, &prepped, diag);
	if (ret == RS_EOK) {
		if (zs_init(s, origin, RS_CLASS_IN, 3600) != 0 ||
		    zs_set_input_string(s, (const char *)prepped.data, prepped.len) != 0)
			ret = rs_diag(diag, RS_ESYNTAX, "%s: cannot start the zone scanner", label);
		else
			ret = run_scanner(&r, s, label, NULL);
		zs_deinit(s);
	}
	free(s);
	rs_buf_clear(&prepped);
	return ret;
}

int rs_rdata_from_text(uint16_t type, const char *text, uint8_t *out, size_t max, size_t *len, rs_diag_t *diag)
{
	char tname[32];
	if (rs_type_to_str(type, tname, sizeof(tname)) < 0 || strpbrk(text, "\n\r;()$") != NULL)
		return rs_diag(diag, RS_ESYNTAX, "'%s' is not %s data", text, tname);
	size_t tlen = strlen(text) + 64;
	char *line = malloc(tlen);
	zs_scanner_t *s = malloc(sizeof(*s));
	int ret = line != NULL && s != NULL ? RS_EOK : rs_diag(diag, RS_ENOMEM, "out of memory");
	if (ret == RS_EOK) {
		int n = snprintf(line, tlen, ". 0 IN %s %s\n", tname, text);
		if (zs_init(s, ".", RS_CLASS_IN, 0) != 0 || zs_set_input_string(s, line, (size_t)n) != 0) {
			ret = rs_diag(diag, RS_ENOMEM, "cannot start the zone scanner");
		} else {
			zs_parse_record(s);
			if (s->state != ZS_STATE_DATA || s->r_type != type)
				ret = rs_diag(diag, RS_ESYNTAX, "'%s' is not %s data: %s", text, tname,
					      s->state == ZS_STATE_ERROR ? zs_strerror(s->error.code) : "no record");
			else if (s->r_data_length > max)
				ret = rs_diag(diag, RS_ELIMIT, "'%s': %s data longer than %zu octets", text, tname, max);
			else {
				memcpy(out, s->r_data, s->r_data_length);
				*len = s->r_data_length;
			}
		}
		zs_deinit(s);
	}
	free(s);
	free(line);
	return ret;
}
