/*
 * base: errors, diagnostics, arena, bounded buffers, time, atomic output files,
 * socket addresses from text.
 *
 * Every fallible function in libregsign returns int: RS_EOK (0) on success or
 * a negative code below. Results are passed out through pointers and set only
 * on success. Where input is at fault, the caller also gets a one-line,
 * human-readable diagnostic ("FILE:LINE: what is wrong") in an rs_diag_t.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define RS_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* The one error space: 0, errno-mapped codes, then domain codes. */
enum {
	RS_EOK = 0,
	RS_ENOMEM = -ENOMEM,
	RS_EINVAL = -EINVAL,
	RS_EIO = -EIO,
	RS_ENOENT = -ENOENT,
	RS_ERANGE = -ERANGE,
	RS_EBUSY = -EBUSY,
	RS_EBASE = -1000,
	RS_ESYNTAX = RS_EBASE - 1,  /* malformed input text */
	RS_EZONE = RS_EBASE - 2,    /* zone content violates a DNS rule */
	RS_EKEY = RS_EBASE - 3,     /* malformed or inconsistent key */
	RS_EALG = RS_EBASE - 4,     /* algorithm unknown, unsupported or refused */
	RS_ECRYPTO = RS_EBASE - 5,  /* the crypto library failed */
	RS_ENOKEY = RS_EBASE - 6,   /* no usable key */
	RS_ELIMIT = RS_EBASE - 7,   /* a configured bound was hit */
	RS_EHSM = RS_EBASE - 8,     /* the HSM (PKCS#11 token) failed or refused */
	RS_ELOCKED = RS_EBASE - 9,  /* keys are not activated */
	RS_EDENIED = RS_EBASE - 10, /* wrong PIN, share or authorisation */
	RS_ECHECK = RS_EBASE - 11,  /* a child zone does not prove a submitted key (pre-delegation check) */
	RS_EBOGUS = RS_EBASE - 12,  /* a check ran and found problems (a command's answer is no: exit status 1) */
	RS_ESTALE = RS_EBASE - 13,  /* the state is older than what it recorded elsewhere (its audit log) */
};

/* Message for a code above; never NULL. */
const char *rs_strerror(int code);

/*
 * Library messages go through a log hook the caller installs; the library
 * never writes to a stream of its own. Levels are syslog's severities.
 */
enum { RS_LOG_ERR = 3, RS_LOG_WARNING = 4, RS_LOG_NOTICE = 5, RS_LOG_INFO = 6 };

typedef struct {
	/* zone may be NULL; msg is one line without its newline. */
	void (*fn)(void *arg, int level, const char *zone, const char *msg);
	void *arg;
} rs_log_t;

/* RFC 1982 serial arithmetic: is a newer than b? */
bool rs_serial_gt(uint32_t a, uint32_t b);

/* Send one message to log (nothing if log or log->fn is NULL). */
void rs_log(const rs_log_t *log, int level, const char *zone, const char *fmt, ...) RS_PRINTF(4, 5);

/* A one-line diagnostic filled in by functions that read untrusted input. */
typedef struct {
	char text[512];
} rs_diag_t;

/* Set the diagnostic (if diag is not NULL); returns code so callers can `return rs_diag(...)`. */
int rs_diag(rs_diag_t *diag, int code, const char *fmt, ...) RS_PRINTF(3, 4);

/*
 * Arena: bump allocation in large blocks, released in one call. Used for work
 * with a clear end (a zone load, a signing pass). Not thread-safe.
 */
typedef struct rs_arena rs_arena_t;

/* New arena whose blocks grow from 64 KiB up to max_block; NULL on allocation failure.
 * Caller frees with rs_arena_free(). */
rs_arena_t *rs_arena_new(size_t max_block);
/* Allocate len bytes aligned to 8; NULL on allocation failure. Borrowed until the arena is freed. */
void *rs_arena_alloc(rs_arena_t *arena, size_t len);
/* Bytes allocated from the system so far. */
size_t rs_arena_size(const rs_arena_t *arena);
void rs_arena_free(rs_arena_t *arena);

/*
 * Map in the pages of a large, fresh allocation in one call: a million-name
 * zone otherwise takes some 90,000 page faults, each a trap that costs
 * microseconds in a virtual machine. A hint; does nothing where unsupported.
 */
void rs_prefault(void *ptr, size_t len);

/* Growing byte buffer with a hard maximum. */
typedef struct {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
} rs_buf_t;

void rs_buf_init(rs_buf_t *buf, size_t max);
/* Make room for extra more bytes; RS_ELIMIT past buf->max, RS_ENOMEM on failure. */
int rs_buf_reserve(rs_buf_t *buf, size_t extra);
int rs_buf_append(rs_buf_t *buf, const void *data, size_t len);
int rs_buf_printf(rs_buf_t *buf, const char *fmt, ...) RS_PRINTF(2, 3);
/*
 * Append text made safe for XML and HTML content and attribute values: & < > " ' as
 * references, control octets (no text in a document) as U+FFFD.
 */
int rs_buf_markup(rs_buf_t *buf, const char *text);
void rs_buf_clear(rs_buf_t *buf);
/*
 * Append the whole file at path, then a NUL that len does not count (the
 * text can be used as a string). -errno, or RS_ELIMIT past buf->max.
 */
int rs_buf_read_file(rs_buf_t *buf, const char *path);

/*
 * Time. DNSSEC times are seconds since the epoch (UTC); presentation form is
 * YYYYMMDDHHMMSS as in RRSIG records. rs_time_parse also takes plain seconds
 * and "now+D" offsets are left to callers.
 */
int rs_time_parse(const char *text, int64_t *out);
/* Write YYYYMMDDHHMMSS (15 bytes with NUL) into out. */
void rs_time_format(int64_t t, char out[15]);
/*
 * Parse a duration: one or more N[s|m|h|d|w|y] parts ("90d", "1h30m");
 * RS_ESYNTAX if malformed, RS_ERANGE past RS_DURATION_MAX.
 */
#define RS_DURATION_MAX (1000LL * 365 * 86400)
int rs_duration_parse(const char *text, int64_t *out);

/*
 * Atomic output file: data goes to an unnamed file in the target's directory
 * (O_TMPFILE), which rs_outfile_commit() flushes, fsyncs and links into
 * place; rs_outfile_abort() drops it. The target is never seen half-written,
 * and a process killed while writing leaves nothing behind. Where the file
 * system has no unnamed files, a named temporary ".NAME.regsign-tmp.PID.*"
 * is used, and those left by dead processes are removed at the next open.
 * "-" (standard output) and existing non-regular files (pipes, devices) are
 * written directly, without that guarantee.
 */
typedef struct rs_outfile rs_outfile_t;

/* Create the temporary beside path; mode is applied at commit (umask honoured). */
int rs_outfile_open(const char *path, unsigned mode, rs_outfile_t **out, rs_diag_t *diag);
FILE *rs_outfile_stream(rs_outfile_t *file);
/*
 * Flush what was written and give a path (into max octets) through which it
 * can be read back before commit, to check it; RS_EINVAL for a direct target.
 */
int rs_outfile_readback(rs_outfile_t *file, char *path, size_t max, rs_diag_t *diag);
int rs_outfile_commit(rs_outfile_t *file, rs_diag_t *diag);
void rs_outfile_abort(rs_outfile_t *file);

/* Wipe memory that held secrets; the compiler may not drop it. */
void rs_wipe(void *ptr, size_t len);

/*
 * Run fn on parts elements of the array args (each size octets): all but the
 * first on new threads, the first (and any whose thread cannot start) on the
 * calling thread. Returns when every part is done. At most RS_PARALLEL_MAX parts.
 */
#define RS_PARALLEL_MAX 64
void rs_run_parallel(unsigned parts, void *(*fn)(void *), void *args, size_t size);

/* Number of online CPUs, at least 1. */
unsigned rs_cpu_count(void);

/*
 * "ADDR@PORT": an IPv4 or IPv6 address (IPv6 also as [ADDR]), then the port
 * (1 to 65535), into out and len. Without "@PORT" the port is default_port,
 * or RS_ESYNTAX when that is 0. RS_ESYNTAX with one line naming spec.
 */
int rs_addr_parse(const char *spec, uint16_t default_port, struct sockaddr_storage *out, socklen_t *len,
		  rs_diag_t *diag);
/*
 * The address of the UNIX socket at path (<sys/un.h>), for bind or connect.
 * RS_ELIMIT, with a line naming path, when it is empty or longer than
 * sun_path takes (the kernel would cut it short).
 */
struct sockaddr_un;
int rs_unix_addr(const char *path, struct sockaddr_un *sa, socklen_t *len, rs_diag_t *diag);
