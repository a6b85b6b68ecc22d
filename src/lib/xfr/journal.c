/*
 * journal: the zone's IXFR history in one append-only file.
 *
 *   file    header (16): "RSJOURNL", version (u32), reserved (u32, 0)
 *   entry   header (40): "RSJE", version (u16), reserved (u16), serial from, serial to,
 *                        removed count, added count (u32 each), payload length (u64),
 *                        payload CRC32C (u32), CRC32C of the 36 octets before it (u32)
 *           payload:     SOA from, SOA to, the removed records, the added records, each an
 *                        uncompressed RR in wire form (RFC 1035 4.1.3)
 *
 * Integers are big-endian. An entry is written after the last and fsynced
 * before it counts, so a crash can only leave a short or garbled tail; open
 * finds the last entry whose checksums and serial chain hold and cuts the
 * file there. Dropping old entries writes the kept ones to a new file that
 * is renamed over the old one: the file on disk is always a whole journal.
 *
 * Bounds: the file (its header included) never holds more than max_bytes
 * octets nor more than max_diffs entries, not even for a moment. An append
 * that would take it past either writes the entries it keeps and the new
 * one to the new file in the same rewrite: the oldest go first, as many as
 * needed. An entry that does not fit alone (with the file header) empties
 * the history instead, and the append says so (RS_ERANGE): secondaries
 * behind then take an AXFR.
 *
 * Locks: wlock makes writers (append, end_at, trimming) take turns; lock
 * guards the index and the descriptor, shared by readers, taken exclusively
 * only to change them. A writer writes past the indexed end without lock, so
 * transfers read on while an entry is being written and fsynced.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "regsign/session.h"
#include "regsign/xfr.h"

#define FILE_MAGIC "RSJOURNL"
#define FILE_HDR 16
#define ENTRY_MAGIC 0x52534a45u /* "RSJE" */
#define ENTRY_HDR 40
#define VERSION 1
#define RR_MIN 11 /* root owner and the fixed fields */
#define COPY_BUF (1u << 20)

typedef struct {
	uint64_t off;  /* of the entry header */
	uint64_t size; /* header and payload */
	uint32_t from, to;
	uint32_t nremoved, nadded;
} entry_t;

struct rs_journal {
	char *path;
	int fd;
	size_t max_diffs;
	uint64_t max_bytes;
	pthread_mutex_t wlock;
	pthread_rwlock_t lock;
	entry_t *e;
	size_t n, cap;
	uint64_t end;	/* where the next entry goes */
	uint64_t bytes; /* entries held, headers included */
};

/* ---- CRC32C (Castagnoli, as in iSCSI, RFC 3720 B.4), slicing by eight ---- */

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_tab[0][i] = c;
	}
	for (unsigned i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] =
			    (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
}

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				     (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
			      (uint32_t)p[7] << 24;
		crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^
		      crc_tab[5][(lo >> 16) & 0xff] ^ crc_tab[4][lo >> 24] ^ crc_tab[3][hi & 0xff] ^
		      crc_tab[2][(hi >> 8) & 0xff] ^ crc_tab[1][(hi >> 16) & 0xff] ^
		      crc_tab[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n-- > 0)
		crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- encoding ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* Wire size of one record; 0 if its owner is not a wire name. */
static size_t rr_wire(const rs_xrr_t *rr)
{
	size_t ol = rr->owner != NULL ? rs_dname_len(rr->owner, RS_NAME_MAX) : 0;
	return ol == 0 ? 0 : ol + 10 + rr->rdlen;
}

static uint8_t *put_rr(uint8_t *p, const rs_xrr_t *rr)
{
	size_t ol = rs_dname_len(rr->owner, RS_NAME_MAX);
	memcpy(p, rr->owner, ol);
	p += ol;
	put16(p, rr->type);
	put16(p + 2, RS_CLASS_IN);
	put32(p + 4, rr->ttl);
	put16(p + 8, rr->rdlen);
	if (rr->rdlen > 0)
		memcpy(p + 10, rr->rdata, rr->rdlen);
	return p + 10 + rr->rdlen;
}

static const rs_xrr_t *diff_rr(const rs_diff_t *d, size_t i)
{
	if (i == 0)
		return &d->soa_from;
	if (i == 1)
		return &d->soa_to;
	i -= 2;
	return i < d->nremoved ? &d->removed[i] : &d->added[i - d->nremoved];
}

static void put_header(uint8_t *h, uint32_t from, uint32_t to, uint32_t nrem, uint32_t nadd,
		       uint64_t len, uint32_t crc)
{
	put32(h, ENTRY_MAGIC);
	put16(h + 4, VERSION);
	put16(h + 6, 0);
	put32(h + 8, from);
	put32(h + 12, to);
	put32(h + 16, nrem);
	put32(h + 20, nadd);
	put64(h + 24, len);
	put32(h + 32, crc);
	put32(h + 36, crc32c(0, h, 36));
}

/* The entry for d, header and payload, in one new buffer. */
static int encode(const rs_diff_t *d, uint8_t **out, size_t *len)
{
	size_t nrec = 2 + d->nremoved + d->nadded;
	if (d->nremoved > UINT32_MAX || d->nadded > UINT32_MAX)
		return RS_ERANGE;
	size_t payload = 0;
	for (size_t i = 0; i < nrec; i++) {
		size_t n = rr_wire(diff_rr(d, i));
		if (n == 0)
			return RS_EINVAL;
		payload += n;
	}
	uint8_t *buf = malloc(ENTRY_HDR + payload);
	if (buf == NULL)
		return RS_ENOMEM;
	uint8_t *p = buf + ENTRY_HDR;
	for (size_t i = 0; i < nrec; i++)
		p = put_rr(p, diff_rr(d, i));
	put_header(buf, d->from, d->to, (uint32_t)d->nremoved, (uint32_t)d->nadded, payload,
		   crc32c(0, buf + ENTRY_HDR, payload));
	*out = buf;
	*len = ENTRY_HDR + payload;
	return RS_EOK;
}

static int parse_rr(const uint8_t **pp, const uint8_t *end, rs_xrr_t *rr)
{
	const uint8_t *p = *pp;
	size_t left = (size_t)(end - p);
	size_t ol = rs_dname_len(p, left < RS_NAME_MAX ? left : RS_NAME_MAX);
	if (ol == 0 || left - ol < 10)
		return RS_ESYNTAX;
	const uint8_t *f = p + ol;
	uint16_t rdlen = get16(f + 8);
	if (get16(f + 2) != RS_CLASS_IN || left - ol - 10 < rdlen)
		return RS_ESYNTAX;
	*rr = (rs_xrr_t){
		.owner = p, .rdata = f + 10, .ttl = get32(f + 4), .type = get16(f), .rdlen = rdlen
	};
	*pp = f + 10 + rdlen;
	return RS_EOK;
}

/*
 * The header of an entry that may start at off in a file of size octets:
 * RS_EOK with its fields in *e, or why not in *why.
 */
static int check_header(const uint8_t *h, uint64_t off, uint64_t size, entry_t *e,
			uint64_t *payload, uint32_t *crc, const char **why)
{
	if (get32(h) != ENTRY_MAGIC || crc32c(0, h, 36) != get32(h + 36)) {
		*why = "damaged entry header";
		return RS_ESYNTAX;
	}
	if (get16(h + 4) != VERSION) {
		*why = "unknown entry version";
		return RS_ESYNTAX;
	}
	uint64_t len = get64(h + 24);
	uint64_t nrec = 2 + (uint64_t)get32(h + 16) + get32(h + 20);
	if (len > size - off - ENTRY_HDR) {
		*why = "entry cut short";
		return RS_ESYNTAX;
	}
	if (nrec * RR_MIN > len) {
		*why = "record counts larger than the entry";
		return RS_ESYNTAX;
	}
	*e = (entry_t){ .off = off,
			.size = ENTRY_HDR + len,
			.from = get32(h + 8),
			.to = get32(h + 12),
			.nremoved = get32(h + 16),
			.nadded = get32(h + 20) };
	*payload = len;
	*crc = get32(h + 32);
	return RS_EOK;
}

/* ---- file helpers ---- */

static int write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t w = pwrite(fd, p, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : RS_EIO;
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return RS_EOK;
}

/* RS_EOK, -errno, or RS_ESYNTAX if the file ends first. */
static int read_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t r = pread(fd, p, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return RS_ESYNTAX;
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return RS_EOK;
}

/* fsync the directory holding path, so a new or renamed entry in it survives a crash. */
static int sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	if (slash == NULL) {
		dir[0] = '.';
		dir[1] = 0;
	} else {
		size_t n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir))
			return RS_ERANGE;
		memcpy(dir, path, n);
		dir[n] = 0;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = fsync(fd) == 0 ? RS_EOK : -errno;
	close(fd);
	return ret;
}

static int init_file(int fd)
{
	uint8_t h[FILE_HDR] = FILE_MAGIC;
	put32(h + 8, VERSION);
	put32(h + 12, 0);
	int ret = write_all(fd, h, sizeof(h), 0);
	if (ret == RS_EOK && ftruncate(fd, FILE_HDR) != 0)
		ret = -errno;
	if (ret == RS_EOK && fsync(fd) != 0)
		ret = -errno;
	return ret;
}

/* Room in the index for one more entry, made before anything is written. */
static int reserve(rs_journal_t *j)
{
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 16;
		entry_t *p = realloc(j->e, cap * sizeof(*p));
		if (p == NULL)
			return RS_ENOMEM;
		j->e = p;
		j->cap = cap;
	}
	return RS_EOK;
}

static int push_entry(rs_journal_t *j, const entry_t *e)
{
	int ret = reserve(j);
	if (ret != RS_EOK)
		return ret;
	j->e[j->n++] = *e;
	j->bytes += e->size;
	j->end = e->off + e->size;
	return RS_EOK;
}

/* ---- trimming ---- */

/*
 * How many of the oldest entries to drop so that the file, with an entry of
 * add octets after those kept (none if add is 0), is within the limits: up
 * to all of them (j->n), which is still too many if the new entry alone
 * does not fit.
 */
static size_t room_for(const rs_journal_t *j, uint64_t add)
{
	size_t k = 0, extra = add > 0;
	uint64_t bytes = FILE_HDR + j->bytes + add;
	while (k < j->n && (j->n - k + extra > j->max_diffs || bytes > j->max_bytes))
		bytes -= j->e[k++].size;
	return k;
}

/* Whether an entry of size octets can be held at all. */
static bool fits_alone(const rs_journal_t *j, uint64_t size)
{
	return size <= j->max_bytes && FILE_HDR <= j->max_bytes - size;
}

/* PATH.tmp, where a rewrite is made; NULL on allocation failure. */
static char *tmp_path(const char *path)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 5);
	if (tmp != NULL) {
		memcpy(tmp, path, plen);
		memcpy(tmp + plen, ".tmp", 5);
	}
	return tmp;
}

/*
 * Keep entries [k, n), and after them the entry add (add_len octets, its
 * index entry *add_e) if add is not NULL: write them to a new file, fsync
 * it, rename it over the journal and fsync the directory; only then switch
 * to it. Until the rename the journal is the old file, whole; after it, the
 * new one, whole. Holds wlock.
 */
static int rewrite(rs_journal_t *j, size_t k, const uint8_t *add, size_t add_len,
		   const entry_t *add_e, rs_diag_t *diag)
{
	char *tmp = tmp_path(j->path);
	uint8_t *buf = malloc(COPY_BUF);
	int ret = tmp != NULL && buf != NULL ? RS_EOK : RS_ENOMEM;
	int fd = -1;
	/* A .tmp left by a crash in the middle of this is of no use: the journal is whole. */
	if (ret == RS_EOK && unlink(tmp) != 0 && errno != ENOENT)
		ret = -errno;
	if (ret == RS_EOK && (fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		ret = -errno;
	if (ret == RS_EOK && flock(fd, LOCK_EX | LOCK_NB) != 0)
		ret = -errno;
	if (ret == RS_EOK && add != NULL) {
		pthread_rwlock_wrlock(&j->lock); /* the index may move under readers */
		ret = reserve(j); /* room in the index for it, before the switch */
		pthread_rwlock_unlock(&j->lock);
	}
	if (ret == RS_EOK)
		ret = init_file(fd);
	uint64_t src = k < j->n ? j->e[k].off : j->end, delta = src - FILE_HDR, dst = FILE_HDR;
	while (ret == RS_EOK && src < j->end) {
		size_t len = j->end - src < COPY_BUF ? (size_t)(j->end - src) : COPY_BUF;
		ret = read_all(j->fd, buf, len, src);
		if (ret == RS_EOK)
			ret = write_all(fd, buf, len, dst);
		src += len;
		dst += len;
	}
	uint64_t add_off = dst;
	if (ret == RS_EOK && add != NULL) {
		ret = write_all(fd, add, add_len, dst);
		dst += add_len;
	}
	if (ret == RS_EOK && fsync(fd) != 0)
		ret = -errno;
	if (ret == RS_EOK && rename(tmp, j->path) != 0)
		ret = -errno;
	if (ret != RS_EOK) {
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		free(tmp);
		free(buf);
		return rs_diag(diag, ret == RS_ENOMEM ? ret : RS_EIO,
			       "%s: cannot rewrite the journal: %s", j->path, rs_strerror(ret));
	}
	free(tmp);
	free(buf);
	/* The rename is done: the new file is the journal whatever the directory sync says. */
	int dret = sync_dir(j->path);

	pthread_rwlock_wrlock(&j->lock);
	int old = j->fd;
	j->fd = fd;
	memmove(j->e, j->e + k, (j->n - k) * sizeof(entry_t));
	j->n -= k;
	j->bytes = 0;
	for (size_t i = 0; i < j->n; i++) {
		j->e[i].off -= delta;
		j->bytes += j->e[i].size;
	}
	j->end = dst;
	if (add != NULL) {
		entry_t e = *add_e;
		e.off = add_off;
		j->e[j->n++] = e; /* reserved above */
		j->bytes += e.size;
	}
	pthread_rwlock_unlock(&j->lock);
	close(old);
	if (dret != RS_EOK)
		return rs_diag(diag, RS_EIO, "%s: cannot sync its directory: %s", j->path,
			       rs_strerror(dret));
	return RS_EOK;
}

/* ---- open and scan ---- */

/*
 * Index the entries of the file and cut it after the last good one. *warn
 * gets what was dropped, if anything.
 */
static int scan(rs_journal_t *j, uint64_t size, char *warn, size_t warn_len)
{
	uint8_t *buf = malloc(COPY_BUF);
	if (buf == NULL)
		return RS_ENOMEM;
	uint64_t off = FILE_HDR;
	const char *why = NULL;
	int ret = RS_EOK;
	while (off < size) {
		uint8_t h[ENTRY_HDR];
		entry_t e;
		uint64_t len;
		uint32_t crc;
		if (size - off < ENTRY_HDR) {
			why = "entry header cut short";
			break;
		}
		if ((ret = read_all(j->fd, h, ENTRY_HDR, off)) != RS_EOK)
			break;
		if (check_header(h, off, size, &e, &len, &crc, &why) != RS_EOK)
			break;
		uint32_t c = 0;
		for (uint64_t done = 0; ret == RS_EOK && done < len;) {
			size_t n = len - done < COPY_BUF ? (size_t)(len - done) : COPY_BUF;
			ret = read_all(j->fd, buf, n, off + ENTRY_HDR + done);
			c = crc32c(c, buf, n);
			done += n;
		}
		if (ret != RS_EOK)
			break;
		if (c != crc) {
			why = "entry checksum mismatch";
			break;
		}
		if (!rs_serial_gt(e.to, e.from) || (j->n > 0 && e.from != j->e[j->n - 1].to)) {
			why = "entry does not continue the serial chain";
			break;
		}
		if ((ret = push_entry(j, &e)) != RS_EOK)
			break;
		off += e.size;
	}
	free(buf);
	if (ret != RS_EOK)
		return ret;
	if (why != NULL) {
		/* Only a crash during an append leaves this: that entry was never acknowledged. */
		if (ftruncate(j->fd, (off_t)off) != 0 || fsync(j->fd) != 0)
			return -errno;
		snprintf(warn, warn_len,
			 "%s: warning: dropped %" PRIu64 " octets at offset %" PRIu64
			 " (%s), %zu diffs kept",
			 j->path, size - off, off, why, j->n);
	}
	j->end = off;
	return RS_EOK;
}

static void journal_free(rs_journal_t *j)
{
	if (j->fd >= 0)
		close(j->fd);
	pthread_mutex_destroy(&j->wlock);
	pthread_rwlock_destroy(&j->lock);
	free(j->e);
	free(j->path);
	free(j);
}

int rs_journal_open(const char *path, const rs_journal_limits_t *limits, rs_journal_t **out,
		    rs_diag_t *diag)
{
	if (diag != NULL)
		diag->text[0] = 0;
	pthread_once(&crc_once, crc_init);
	rs_journal_t *j = calloc(1, sizeof(*j));
	if (j == NULL || (j->path = strdup(path)) == NULL) {
		free(j);
		return rs_diag(diag, RS_ENOMEM, "%s: out of memory", path);
	}
	pthread_mutex_init(&j->wlock, NULL);
	/* Transfers read all the time; an append waiting behind them would never get in. */
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&j->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	j->max_diffs = limits != NULL && limits->max_diffs > 0 ? limits->max_diffs : 100;
	j->max_bytes = limits != NULL && limits->max_bytes > 0 ? limits->max_bytes : 256ull << 20;

	bool created = true;
	j->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (j->fd < 0 && errno == EEXIST) {
		created = false;
		j->fd = open(path, O_RDWR | O_CLOEXEC);
	}
	int ret = RS_EOK;
	struct stat st;
	const char *what = "cannot open";
	char warn[sizeof(diag->text)] = "";
	if (j->fd < 0 || fstat(j->fd, &st) != 0) {
		ret = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		ret = rs_diag(diag, RS_EINVAL, "%s: not a regular file", path);
	} else if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
		ret = errno == EWOULDBLOCK
			  ? rs_diag(diag, RS_EBUSY, "%s: journal in use by another process", path)
			  : -errno;
		what = "cannot lock";
	}
	if (ret == RS_EOK && st.st_size < FILE_HDR) {
		uint8_t h[FILE_HDR] = FILE_MAGIC, got[FILE_HDR];
		put32(h + 8, VERSION);
		size_t n = (size_t)st.st_size;
		ret = read_all(j->fd, got, n, 0);
		/* Empty, or the start of a header a crash cut short: nothing was ever appended. */
		if (ret == RS_EOK && memcmp(got, h, n) != 0)
			ret = rs_diag(diag, RS_ESYNTAX, "%s: not a regsign journal", path);
		if (ret == RS_EOK && (ret = init_file(j->fd)) != RS_EOK)
			what = "cannot initialise";
		if (ret == RS_EOK && created && (ret = sync_dir(path)) != RS_EOK)
			what = "cannot sync the directory of";
		j->end = FILE_HDR;
		if (ret == RS_EOK && n > 0)
			snprintf(warn, sizeof(warn),
				 "%s: warning: completed a journal header cut short", path);
	} else if (ret == RS_EOK) {
		uint8_t h[FILE_HDR];
		ret = read_all(j->fd, h, FILE_HDR, 0);
		if (ret == RS_EOK && memcmp(h, FILE_MAGIC, 8) != 0)
			ret = rs_diag(diag, RS_ESYNTAX, "%s: not a regsign journal", path);
		else if (ret == RS_EOK && get32(h + 8) != VERSION)
			ret = rs_diag(diag, RS_ESYNTAX,
				      "%s: journal version %" PRIu32 " is not supported", path,
				      get32(h + 8));
		if (ret == RS_EOK &&
		    (ret = scan(j, (uint64_t)st.st_size, warn, sizeof(warn))) != RS_EOK)
			what = "cannot read";
	}
	if (ret == RS_EOK) {
		/* What a crash during a rewrite left: the journal itself is whole. */
		char *tmp = tmp_path(path);
		if (tmp != NULL)
			unlink(tmp);
		free(tmp);
	}
	if (ret != RS_EOK) {
		if (ret > RS_EBASE && (diag == NULL || diag->text[0] == 0))
			rs_diag(diag, ret, "%s: %s: %s", path, what, rs_strerror(ret));
		if (created && j->fd >= 0)
			unlink(path);
		journal_free(j);
		return ret;
	}
	/* Limits lowered since the last run take effect now (the newest too, if it alone is past
	 * them); trimming may fail, and is then tried again at the next append. */
	size_t k = room_for(j, 0);
	rs_diag_t d;
	if (k > 0 && rewrite(j, k, NULL, 0, NULL, &d) != RS_EOK)
		snprintf(warn, sizeof(warn), "warning: %.500s", d.text);
	else if (k > 0 && j->n == 0 && warn[0] == 0)
		snprintf(warn, sizeof(warn),
			 "%s: warning: the newest diff alone is past journal limits of %zu diffs and "
			 "%" PRIu64 " octets: the history is emptied",
			 path, j->max_diffs, j->max_bytes);
	if (warn[0] != 0)
		rs_diag(diag, RS_EOK, "%s", warn);
	*out = j;
	return RS_EOK;
}

void rs_journal_close(rs_journal_t *j)
{
	if (j != NULL)
		journal_free(j);
}

/* ---- append, end_at ---- */

int rs_journal_append(rs_journal_t *j, const rs_diff_t *diff, rs_diag_t *diag)
{
	if (diag != NULL)
		diag->text[0] = 0;
	if (!rs_serial_gt(diff->to, diff->from))
		return rs_diag(diag, RS_EINVAL,
			       "%s: diff to serial %" PRIu32 " is not after %" PRIu32, j->path,
			       diff->to, diff->from);
	uint8_t *buf;
	size_t len;
	int ret = encode(diff, &buf, &len);
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "%s: cannot encode diff %" PRIu32 " to %" PRIu32 ": %s",
			       j->path, diff->from, diff->to,
			       ret == RS_EINVAL ? "a record without a valid owner"
						: rs_strerror(ret));
	pthread_mutex_lock(&j->wlock);
	/* IXFR answers walk the chain; a gap would make one up (RFC 1995 4). */
	if (j->n > 0 && diff->from != j->e[j->n - 1].to) {
		ret = rs_diag(diag, RS_EINVAL,
			      "%s: diff from serial %" PRIu32
			      " does not follow the last serial %" PRIu32,
			      j->path, diff->from, j->e[j->n - 1].to);
		goto out;
	}
	entry_t e = { .off = j->end,
		      .size = len,
		      .from = diff->from,
		      .to = diff->to,
		      .nremoved = (uint32_t)diff->nremoved,
		      .nadded = (uint32_t)diff->nadded };
	if (!fits_alone(j, len)) {
		/* No history can hold it: none is kept, rather than one that ends before what is
		 * served. */
		rs_diag_t d;
		int empty = j->n > 0 || j->end > FILE_HDR ? rewrite(j, j->n, NULL, 0, NULL, &d) : RS_EOK;
		ret = rs_diag(diag, RS_ERANGE,
			      "%s: diff %" PRIu32 " to %" PRIu32 " takes %zu octets, past the journal "
			      "size of %" PRIu64 " (with its %d-octet header)%s%s",
			      j->path, diff->from, diff->to, len, j->max_bytes, FILE_HDR,
			      empty == RS_EOK ? ": the history is emptied" : "; ",
			      empty == RS_EOK ? "" : d.text);
		goto out;
	}
	size_t k = room_for(j, len);
	if (k > 0) {
		/* Past a limit with it: the oldest go in the same atomic rewrite that adds it, so
		 * the file is within the limits before, during and after. */
		rs_diag_t d;
		ret = rewrite(j, k, buf, len, &e, &d);
		if (ret != RS_EOK)
			ret = rs_diag(diag, ret, "%s: cannot write diff %" PRIu32 " to %" PRIu32 ": %s",
				      j->path, diff->from, diff->to, d.text);
		goto out;
	}
	/* The index may move: readers walk it under the lock. */
	pthread_rwlock_wrlock(&j->lock);
	ret = reserve(j);
	pthread_rwlock_unlock(&j->lock);
	if (ret != RS_EOK) {
		ret = rs_diag(diag, ret, "%s: out of memory for the index", j->path);
		goto out;
	}
	ret = write_all(j->fd, buf, len, j->end);
	if (ret == RS_EOK && fdatasync(j->fd) != 0)
		ret = -errno;
	if (ret != RS_EOK) {
		/* Leave no half entry behind for the next append to follow. */
		if (ftruncate(j->fd, (off_t)j->end) != 0) {
			/* open will cut it then */
		}
		ret = rs_diag(diag, RS_EIO, "%s: cannot write diff %" PRIu32 " to %" PRIu32 ": %s",
			      j->path, diff->from, diff->to, rs_strerror(ret));
		goto out;
	}
	pthread_rwlock_wrlock(&j->lock);
	ret = push_entry(j, &e); /* reserved: cannot fail */
	pthread_rwlock_unlock(&j->lock);
out:
	pthread_mutex_unlock(&j->wlock);
	free(buf);
	return ret;
}

int rs_journal_end_at(rs_journal_t *j, uint32_t serial, rs_diag_t *diag)
{
	if (diag != NULL)
		diag->text[0] = 0;
	int ret = RS_EOK;
	pthread_mutex_lock(&j->wlock);
	if (j->n == 0 || j->e[j->n - 1].to == serial)
		goto out;
	/* Keep up to the newest diff that arrives at serial; none (serial is the first from, or
	 * unknown): nothing in the history leads to what is served. */
	size_t keep = j->n;
	while (keep > 0 && j->e[keep - 1].to != serial)
		keep--;
	uint64_t end = keep > 0 ? j->e[keep - 1].off + j->e[keep - 1].size : FILE_HDR;
	pthread_rwlock_wrlock(&j->lock);
	if (ftruncate(j->fd, (off_t)end) != 0 || fsync(j->fd) != 0) {
		ret = -errno;
	} else {
		for (size_t i = keep; i < j->n; i++)
			j->bytes -= j->e[i].size;
		j->n = keep;
		j->end = end;
	}
	pthread_rwlock_unlock(&j->lock);
	if (ret != RS_EOK)
		ret = rs_diag(diag, RS_EIO, "%s: cannot cut the journal at serial %" PRIu32 ": %s",
			      j->path, serial, rs_strerror(ret));
out:
	pthread_mutex_unlock(&j->wlock);
	return ret;
}

/* ---- queries ---- */

bool rs_journal_range(rs_journal_t *j, uint32_t *first, uint32_t *last)
{
	pthread_rwlock_rdlock(&j->lock);
	bool any = j->n > 0;
	if (any) {
		if (first != NULL)
			*first = j->e[0].from;
		if (last != NULL)
			*last = j->e[j->n - 1].to;
	}
	pthread_rwlock_unlock(&j->lock);
	return any;
}

void rs_journal_usage(rs_journal_t *j, size_t *diffs, uint64_t *bytes)
{
	pthread_rwlock_rdlock(&j->lock);
	if (diffs != NULL)
		*diffs = j->n;
	if (bytes != NULL)
		*bytes = j->bytes;
	pthread_rwlock_unlock(&j->lock);
}

/* One entry into a diff whose records point into its own block: records, then the entry. */
static int load(const rs_journal_t *j, const entry_t *e, rs_diff_t *out, rs_diag_t *diag)
{
	size_t nrec = (size_t)e->nremoved + e->nadded;
	size_t head = nrec * sizeof(rs_xrr_t);
	if (e->size > SIZE_MAX - head)
		return rs_diag(diag, RS_ENOMEM, "%s: diff %" PRIu32 " to %" PRIu32 " too large",
			       j->path, e->from, e->to);
	uint8_t *mem = malloc(head + (size_t)e->size);
	if (mem == NULL)
		return rs_diag(diag, RS_ENOMEM,
			       "%s: out of memory for diff %" PRIu32 " to %" PRIu32, j->path,
			       e->from, e->to);
	uint8_t *h = mem + head, *p = h + ENTRY_HDR, *end = h + e->size;
	const char *why = NULL;
	int ret = read_all(j->fd, h, (size_t)e->size, e->off);
	if (ret != RS_EOK)
		why = rs_strerror(ret);
	/* Checked again: the disk may have changed under us since open. */
	else if (get32(h + 8) != e->from || get32(h + 12) != e->to ||
		 get64(h + 24) != e->size - ENTRY_HDR || crc32c(0, h, 36) != get32(h + 36) ||
		 crc32c(0, p, (size_t)(e->size - ENTRY_HDR)) != get32(h + 32))
		why = "checksum mismatch";
	rs_diff_t d = { .from = e->from,
			.to = e->to,
			.removed = (rs_xrr_t *)mem,
			.added = (rs_xrr_t *)mem + e->nremoved,
			.nremoved = e->nremoved,
			.nadded = e->nadded,
			.mem = mem };
	const uint8_t *q = p;
	for (size_t i = 0; why == NULL && i < nrec + 2; i++) {
		rs_xrr_t *rr = i == 0 ? &d.soa_from : i == 1 ? &d.soa_to : &d.removed[i - 2];
		if (parse_rr(&q, end, rr) != RS_EOK)
			why = "malformed record";
	}
	if (why == NULL && q != end)
		why = "trailing octets";
	if (why != NULL) {
		free(mem);
		return rs_diag(diag, RS_EIO,
			       "%s: cannot read diff %" PRIu32 " to %" PRIu32 " at offset %" PRIu64
			       ": %s",
			       j->path, e->from, e->to, e->off, why);
	}
	*out = d;
	return RS_EOK;
}

int rs_journal_read(rs_journal_t *j, uint32_t from, rs_diff_t **diffs, size_t *count,
		    rs_diag_t *diag)
{
	int ret = RS_EOK;
	pthread_rwlock_rdlock(&j->lock);
	size_t i = 0;
	while (i < j->n && j->e[i].from != from)
		i++;
	if (j->n > 0 && j->e[j->n - 1].to == from) {
		*diffs = NULL;
		*count = 0;
		goto out;
	}
	if (i == j->n) {
		if (j->n == 0)
			ret = rs_diag(diag, RS_ENOENT,
				      "%s: serial %" PRIu32 " is not in the history (it is empty)",
				      j->path, from);
		else
			ret = rs_diag(diag, RS_ENOENT,
				      "%s: serial %" PRIu32 " is not in the history (%" PRIu32
				      " to %" PRIu32 ")",
				      j->path, from, j->e[0].from, j->e[j->n - 1].to);
		goto out;
	}
	size_t n = j->n - i;
	rs_diff_t *d = calloc(n, sizeof(*d));
	if (d == NULL) {
		ret = rs_diag(diag, RS_ENOMEM, "%s: out of memory", j->path);
		goto out;
	}
	for (size_t k = 0; ret == RS_EOK && k < n; k++)
		ret = load(j, &j->e[i + k], &d[k], diag);
	if (ret != RS_EOK) {
		for (size_t k = 0; k < n; k++)
			rs_diff_clear(&d[k]);
		free(d);
		goto out;
	}
	*diffs = d;
	*count = n;
out:
	pthread_rwlock_unlock(&j->lock);
	return ret;
}
