/*
 * Unit tests of base: the error table, diagnostics, the log hook, bounded
 * buffers, time and durations, the arena, parallel parts, atomic output
 * files (unnamed temporaries, direct targets, stale temporaries) and socket
 * addresses from text.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "regsign/base.h"
#include "tap/tap.h"

/* ---- helpers ---- */

static char tmpdir[] = "/tmp/regsign-base.XXXXXX";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0)
		abort();
}

/* The whole file as a malloc'd string (NULL if it cannot be read). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *text = malloc(65536);
	size_t n = fread(text, 1, 65535, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static bool content_is(const char *path, const char *want)
{
	char *got = slurp(path);
	bool same = got != NULL && strcmp(got, want) == 0;
	free(got);
	return same;
}

/* Entries of dir other than "." and "..", sorted, space separated, into out. */
static void listing(const char *dir, char *out, size_t max)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t len = 0;
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
			len += (size_t)snprintf(out + len, len < max ? max - len : 0, "%s%s", len ? " " : "", name);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}

static bool exists(const char *dir, const char *name)
{
	char path[1024];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/* A fresh, empty directory inside tmpdir. */
static void subdir(const char *name, char *out, size_t max)
{
	snprintf(out, max, "%s/%s", tmpdir, name);
	if (mkdir(out, 0700) != 0)
		abort();
}

/* ---- errors, diagnostics, log ---- */

static void test_errors(void)
{
	static const int errno_codes[] = { RS_ENOMEM, RS_EINVAL, RS_EIO, RS_ENOENT, RS_ERANGE, RS_EBUSY };
	static const int domain[] = { RS_ESYNTAX, RS_EZONE, RS_EKEY, RS_EALG, RS_ECRYPTO, RS_ENOKEY,
				      RS_ELIMIT, RS_EHSM, RS_ELOCKED, RS_EDENIED, RS_ECHECK };
	const size_t nd = sizeof(domain) / sizeof(domain[0]);
	const char *unknown = rs_strerror(RS_EBASE - 500);
	ok(unknown != NULL && unknown[0] != '\0', "an unknown code has a message: '%s'", unknown);
	ok(rs_strerror(RS_EOK) != NULL && rs_strerror(RS_EOK)[0] != '\0', "RS_EOK has a message");
	for (size_t i = 0; i < sizeof(errno_codes) / sizeof(errno_codes[0]); i++)
		is_str(rs_strerror(errno_codes[i]), strerror(-errno_codes[i]), "errno code %d reads as strerror",
		       errno_codes[i]);
	bool nonempty = true, distinct = true, known = true;
	for (size_t i = 0; i < nd; i++) {
		const char *m = rs_strerror(domain[i]);
		nonempty &= m != NULL && m[0] != '\0';
		known &= m != NULL && strcmp(m, unknown) != 0 && strcmp(m, rs_strerror(RS_EOK)) != 0;
		for (size_t j = 0; j < i; j++)
			distinct &= m != NULL && strcmp(m, rs_strerror(domain[j])) != 0;
	}
	ok(nonempty, "every domain code has a non-empty message");
	ok(known, "no domain code reads as 'unknown' or as success");
	ok(distinct, "the domain codes' messages are distinct");
	ok(strcmp(rs_strerror(RS_ELIMIT), rs_strerror(RS_ERANGE)) != 0, "RS_ELIMIT is not RS_ERANGE");
	ok(strcmp(rs_strerror(1), unknown) == 0, "a positive code is unknown");
}

static void test_diag(void)
{
	is_int(rs_diag(NULL, RS_EZONE, "x %d", 1), RS_EZONE, "rs_diag with a NULL diag returns the code");
	rs_diag_t d = { "untouched" };
	is_int(rs_diag(&d, RS_ESYNTAX, "%s:%d: bad '%s'", "f", 3, "x"), RS_ESYNTAX, "rs_diag returns the code");
	is_str(d.text, "f:3: bad 'x'", "rs_diag formats the message");
	char big[2000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rs_diag(&d, RS_EIO, "%s", big);
	is_int(strlen(d.text), sizeof(d.text) - 1, "a long message is cut to the diagnostic's size, terminated");
}

struct logged {
	int calls;
	int level;
	char zone[64];
	char msg[1100];
};

static void log_fn(void *arg, int level, const char *zone, const char *msg)
{
	struct logged *l = arg;
	l->calls++;
	l->level = level;
	snprintf(l->zone, sizeof(l->zone), "%s", zone ? zone : "(null)");
	snprintf(l->msg, sizeof(l->msg), "%s", msg);
}

static void test_log(void)
{
	struct logged l = { 0 };
	rs_log(NULL, RS_LOG_ERR, "example.", "nothing %d", 1);
	rs_log_t silent = { NULL, &l };
	rs_log(&silent, RS_LOG_ERR, "example.", "nothing %d", 2);
	is_int(l.calls, 0, "a NULL log and a log without fn are silent");
	rs_log_t log = { log_fn, &l };
	rs_log(&log, RS_LOG_WARNING, "example.", "key %u is %s", 4242u, "late");
	is_int(l.calls, 1, "the log fn is called once per message");
	is_int(l.level, RS_LOG_WARNING, "the log fn gets the level");
	is_str(l.zone, "example.", "the log fn gets the zone");
	is_str(l.msg, "key 4242 is late", "the log fn gets the formatted message");
	rs_log(&log, RS_LOG_INFO, NULL, "no zone");
	is_str(l.zone, "(null)", "a NULL zone is passed as NULL");
	is_int(l.level, RS_LOG_INFO, "... with its own level");
}

/* ---- bounded buffers ---- */

static void test_buf(void)
{
	rs_buf_t b;
	rs_buf_init(&b, 16);
	ok(b.data == NULL && b.len == 0 && b.max == 16, "an initialised buffer is empty with its maximum");
	is_int(rs_buf_reserve(&b, 16), RS_EOK, "reserve up to max");
	is_int(b.cap, 16, "the capacity is clamped to max");
	is_int(rs_buf_reserve(&b, 17), RS_ELIMIT, "reserve past max: RS_ELIMIT");
	is_int(rs_buf_append(&b, "0123456789", 10), RS_EOK, "append 10 octets");
	is_int(rs_buf_append(&b, "abcdef", 6), RS_EOK, "append up to max");
	is_int(rs_buf_append(&b, "x", 1), RS_ELIMIT, "append past max: RS_ELIMIT");
	ok(b.len == 16 && memcmp(b.data, "0123456789abcdef", 16) == 0, "a refused append changes nothing");
	is_int(rs_buf_append(&b, "", 0), RS_EOK, "an empty append at max is fine");
	rs_buf_clear(&b);
	ok(b.data == NULL && b.len == 0 && b.cap == 0 && b.max == 16, "clear frees and keeps max");

	rs_buf_init(&b, 16);
	is_int(rs_buf_printf(&b, "%s-%d", "abc", 42), RS_EOK, "printf");
	ok(b.len == 6 && memcmp(b.data, "abc-42", 7) == 0, "printf appends its text, NUL after it, not counted");
	is_int(rs_buf_printf(&b, "%05d", 7), RS_EOK, "printf again");
	ok(b.len == 11 && strcmp((char *)b.data, "abc-4200007") == 0, "printf appends at the end");
	is_int(rs_buf_printf(&b, "%s", "0123456789"), RS_ELIMIT, "printf past max: RS_ELIMIT");
	ok(b.len == 11 && strcmp((char *)b.data, "abc-4200007") == 0, "a refused printf changes nothing");
	is_int(rs_buf_printf(&b, "%s", "xyz"), RS_EOK, "printf that fits with its NUL");
	is_int(b.len, 14, "... 14 octets");
	rs_buf_clear(&b);

	/* Growth past the first allocation keeps the content. */
	rs_buf_init(&b, 1 << 20);
	bool ok_all = true;
	for (int i = 0; i < 10000; i++)
		ok_all &= rs_buf_printf(&b, "%04d", i % 10000) == RS_EOK;
	ok(ok_all && b.len == 40000 && memcmp(b.data + 4 * 9999, "9999", 4) == 0 && memcmp(b.data + 4 * 1234, "1234", 4) == 0,
	   "10000 printfs grow the buffer and keep every octet");
	rs_buf_clear(&b);

	char path[256];
	snprintf(path, sizeof(path), "%s/buf.txt", tmpdir);
	FILE *f = fopen(path, "wb");
	fwrite("ab\0cdefg", 1, 8, f);
	fclose(f);
	rs_buf_init(&b, 1024);
	is_int(rs_buf_append(&b, "XY", 2), RS_EOK, "a buffer with data in it");
	is_int(rs_buf_read_file(&b, path), RS_EOK, "read a file");
	ok(b.len == 10 && memcmp(b.data, "XYab\0cdefg", 10) == 0, "the file is appended, octet for octet (NUL included)");
	ok(b.cap > b.len && b.data[b.len] == '\0', "a NUL follows the data and is not counted");
	rs_buf_clear(&b);
	rs_buf_init(&b, 5);
	is_int(rs_buf_read_file(&b, path), RS_ELIMIT, "a file larger than max: RS_ELIMIT");
	rs_buf_clear(&b);
	rs_buf_init(&b, 1024);
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/no-such-file", tmpdir);
	is_int(rs_buf_read_file(&b, missing), -ENOENT, "a missing file: -ENOENT");
	is_int(b.len, 0, "... and nothing appended");
	rs_buf_clear(&b);
	snprintf(path, sizeof(path), "%s/empty.txt", tmpdir);
	write_file(path, "");
	rs_buf_init(&b, 1024);
	ok(rs_buf_read_file(&b, path) == RS_EOK && b.len == 0 && b.data != NULL && b.data[0] == '\0',
	   "an empty file reads as an empty string");
	rs_buf_clear(&b);
}

/* ---- time and durations ---- */

static void test_time(void)
{
	int64_t t = 0;
	is_int(rs_time_parse("19700101000000", &t), RS_EOK, "the epoch in 14-digit form");
	is_int(t, 0, "... is 0");
	is_int(rs_time_parse("20280229123456", &t), RS_EOK, "a leap day parses");
	is_int(t, 1835440496, "2028-02-29 12:34:56 UTC");
	is_int(rs_time_parse("20280301000000", &t), RS_EOK, "the day after");
	is_int(t, 1835481600, "2028-03-01 00:00:00 UTC (a leap day of 86400 s before it)");
	is_int(rs_time_parse("20000229000000", &t), RS_EOK, "2000 was a leap year");
	is_int(t, 951782400, "2000-02-29 00:00:00 UTC");
	is_int(rs_time_parse("20270229000000", &t), RS_ESYNTAX, "Feb 29 of a common year is refused, not rolled over");
	is_int(rs_time_parse("20280230000000", &t), RS_ESYNTAX, "Feb 30 is refused");
	is_int(rs_time_parse("20280431000000", &t), RS_ESYNTAX, "Apr 31 is refused");
	is_int(rs_time_parse("21000229000000", &t), RS_ESYNTAX, "2100 is not a leap year");
	is_int(rs_time_parse("20280101000060", &t), RS_ESYNTAX, "second 60 is refused");
	is_int(rs_time_parse("99999999999999999999", &t), RS_ERANGE, "plain seconds that overflow are refused");
	is_int(rs_time_parse("1835440496", &t), RS_EOK, "plain seconds");
	is_int(t, 1835440496, "... are taken as they are");
	is_int(rs_time_parse("0", &t), RS_EOK, "0 seconds");
	is_int(t, 0, "... is the epoch");
	const char *bad[] = { "", "abc", "2028022912345x", "-5", "20281301000000", "20280001000000",
			      "20280100000000", "20280229240000", "20280229236000", " 20280229123456",
			      "2028-02-29", "123456789012345678901" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 42;
		int ret = rs_time_parse(bad[i], &v);
		ok(ret == RS_ESYNTAX && v == 42, "'%s' is refused (RS_ESYNTAX) and the result untouched", bad[i]);
	}

	char out[15];
	rs_time_format(0, out);
	is_str(out, "19700101000000", "format the epoch");
	rs_time_format(1835440496, out);
	is_str(out, "20280229123456", "format the leap day");
	const char *round[] = { "20280229235959", "20380119031408", "21060207062815", "19991231235959" };
	for (size_t i = 0; i < sizeof(round) / sizeof(round[0]); i++) {
		int64_t v;
		rs_time_parse(round[i], &v);
		rs_time_format(v, out);
		is_str(out, round[i], "round trip of %s", round[i]);
	}
	bool all = true;
	for (int64_t v = 0; v < 5000000000LL; v += 86400LL * 37 + 3607) {
		int64_t back = -1;
		rs_time_format(v, out);
		all &= rs_time_parse(out, &back) == RS_EOK && back == v;
	}
	ok(all, "parse(format(t)) == t every 37 days and an hour from 1970 to 2128");
}

static void test_duration(void)
{
	int64_t d = -1;
	is_int(rs_duration_parse("90d", &d), RS_EOK, "90d");
	is_int(d, 90 * 86400, "... is 90 days");
	is_int(rs_duration_parse("1h30m", &d), RS_EOK, "1h30m");
	is_int(d, 5400, "... is 5400 s");
	is_int(rs_duration_parse("0", &d), RS_EOK, "0");
	is_int(d, 0, "... is 0");
	is_int(rs_duration_parse("45", &d), RS_EOK, "a bare number");
	is_int(d, 45, "... is seconds");
	is_int(rs_duration_parse("2w1d12h30s", &d), RS_EOK, "2w1d12h30s");
	is_int(d, 15 * 86400 + 12 * 3600 + 30, "... adds its parts");
	is_int(rs_duration_parse("1y", &d), RS_EOK, "1y");
	is_int(d, 365 * 86400, "... is 365 days");
	is_int(rs_duration_parse("1000y", &d), RS_EOK, "1000y is the largest");
	is_int(d, RS_DURATION_MAX, "... RS_DURATION_MAX");
	const char *bad[] = { "", "5x", "-1d", "d", "1h 30m", "1.5h", " 1d", "1dd", "+5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 42;
		int ret = rs_duration_parse(bad[i], &v);
		ok(ret == RS_ESYNTAX && v == 42, "'%s' is refused (RS_ESYNTAX, got %d) and the result untouched", bad[i],
		   ret);
	}
	const char *big[] = { "1001y", "1000y1s", "365001d", "31536000001", "99999999999999999999d",
			      "99999999999999999999" };
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		int64_t v = 42;
		int ret = rs_duration_parse(big[i], &v);
		ok(ret == RS_ERANGE && v == 42, "'%s' is beyond RS_DURATION_MAX: RS_ERANGE (got %d)", big[i], ret);
	}
}

/* ---- arena ---- */

static void test_arena(void)
{
	rs_arena_t *a = rs_arena_new(1 << 20);
	ok(a != NULL, "new arena");
	is_int(rs_arena_size(a), 0, "a new arena has taken nothing from the system");
	enum { N = 20000 };
	static uint8_t *ptr[N];
	static size_t len[N];
	bool aligned = true, got = true;
	for (int i = 0; i < N; i++) {
		len[i] = (size_t)(i * 7919 % 300) + 1;
		ptr[i] = rs_arena_alloc(a, len[i]);
		got &= ptr[i] != NULL;
		if (ptr[i] == NULL)
			break;
		aligned &= ((uintptr_t)ptr[i] & 7) == 0;
		memset(ptr[i], (int)(i & 0xff), len[i]);
	}
	ok(got, "%d allocations succeed", N);
	ok(aligned, "every allocation is 8-byte aligned");
	bool intact = true;
	for (int i = 0; got && i < N; i++)
		for (size_t k = 0; k < len[i]; k++)
			intact &= ptr[i][k] == (uint8_t)(i & 0xff);
	ok(intact, "no allocation overlaps another");
	size_t size = rs_arena_size(a);
	ok(size > 65536, "the size grows past the first block (%zu)", size);
	uint8_t *huge = rs_arena_alloc(a, 3 << 20);
	ok(huge != NULL && ((uintptr_t)huge & 7) == 0, "an allocation larger than a block");
	if (huge != NULL)
		memset(huge, 0x5a, 3 << 20);
	ok(rs_arena_size(a) >= size + (3 << 20), "... adds at least its size (%zu)", rs_arena_size(a));
	uint8_t *z1 = rs_arena_alloc(a, 1), *z2 = rs_arena_alloc(a, 1);
	ok(z1 != NULL && z2 != NULL && z1 != z2 && ((uintptr_t)z2 & 7) == 0, "one-octet allocations stay apart and aligned");
	rs_arena_free(a);
	rs_arena_free(NULL);
}

/* ---- parallel parts ---- */

struct part {
	atomic_int *runs;
	int index;
	pthread_t thread;
};

static void *part_fn(void *arg)
{
	struct part *p = arg;
	atomic_fetch_add(&p->runs[p->index], 1);
	p->thread = pthread_self();
	return NULL;
}

static void test_parallel(void)
{
	static const unsigned counts[] = { 1, 2, 7, RS_PARALLEL_MAX };
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		unsigned n = counts[c];
		atomic_int runs[RS_PARALLEL_MAX];
		struct part parts[RS_PARALLEL_MAX];
		for (unsigned i = 0; i < n; i++) {
			atomic_init(&runs[i], 0);
			parts[i] = (struct part){ runs, (int)i, 0 };
		}
		rs_run_parallel(n, part_fn, parts, sizeof(parts[0]));
		bool once = true;
		for (unsigned i = 0; i < n; i++)
			once &= atomic_load(&runs[i]) == 1;
		ok(once, "%u parts: each runs exactly once", n);
		ok(pthread_equal(parts[0].thread, pthread_self()), "%u parts: the first runs on the calling thread", n);
	}
	atomic_int none[1];
	atomic_init(&none[0], 0);
	struct part zero[1] = { { none, 0, 0 } };
	rs_run_parallel(0, part_fn, zero, sizeof(zero[0]));
	is_int(atomic_load(&none[0]), 0, "zero parts: nothing runs");
	ok(rs_cpu_count() >= 1, "rs_cpu_count is at least 1");
}

/* ---- atomic output files ---- */

static void test_outfile_commit(void)
{
	char dir[256], path[300], list[1024];
	subdir("commit", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/zone.signed", dir);
	write_file(path, "old content\n");
	struct stat before;
	stat(path, &before);

	mode_t old_mask = umask(027);
	rs_outfile_t *f;
	rs_diag_t d;
	is_int(rs_outfile_open(path, 0666, &f, &d), RS_EOK, "open an output file over an existing target");
	FILE *s = rs_outfile_stream(f);
	ok(s != NULL && s != stdout, "it has its own stream");
	fputs("new ", s);
	listing(dir, list, sizeof(list));
	is_str(list, "zone.signed", "while writing, the directory holds only the target: the temporary is unnamed");
	ok(content_is(path, "old content\n"), "while writing, the target keeps its old content");

	char rb[512];
	is_int(rs_outfile_readback(f, rb, sizeof(rb), &d), RS_EOK, "readback path");
	ok(strcmp(rb, path) != 0, "the readback path is not the target (%s)", rb);
	ok(content_is(rb, "new "), "the readback path holds what was written so far");
	fputs("content\n", s);
	is_int(rs_outfile_readback(f, rb, sizeof(rb), &d), RS_EOK, "readback again");
	ok(content_is(rb, "new content\n"), "... and then holds everything written");
	listing(dir, list, sizeof(list));
	is_str(list, "zone.signed", "after readback, still only the target in the directory");

	/* A reader of the old file keeps the old file: the target is replaced, not rewritten. */
	FILE *reader = fopen(path, "r");
	is_int(rs_outfile_commit(f, &d), RS_EOK, "commit");
	umask(old_mask);
	ok(content_is(path, "new content\n"), "the target has the new content");
	struct stat after;
	ok(stat(path, &after) == 0 && (after.st_mode & 0777) == 0640, "mode 0666 under umask 027 gives 0640 (%o)",
	   (unsigned)(after.st_mode & 0777));
	ok(after.st_ino != before.st_ino, "the target is a new file, renamed into place");
	char old[64] = "";
	if (reader != NULL) {
		if (fgets(old, sizeof(old), reader) == NULL)
			old[0] = '\0';
		fclose(reader);
	}
	is_str(old, "old content\n", "a reader that had the old target open still reads the old content");
	listing(dir, list, sizeof(list));
	is_str(list, "zone.signed", "after commit, no temporary is left");

	/* A new target, and the mode: 0600 stays 0600 whatever the umask. */
	char fresh[300];
	snprintf(fresh, sizeof(fresh), "%s/Kkey.private", dir);
	old_mask = umask(0);
	ok(rs_outfile_open(fresh, 0600, &f, &d) == RS_EOK, "open a target that does not exist yet");
	fputs("secret\n", rs_outfile_stream(f));
	listing(dir, list, sizeof(list));
	is_str(list, "zone.signed", "a new target is not visible before commit");
	is_int(rs_outfile_commit(f, &d), RS_EOK, "commit a new target");
	umask(old_mask);
	ok(stat(fresh, &after) == 0 && (after.st_mode & 0777) == 0600 && content_is(fresh, "secret\n"),
	   "the new target has mode 0600 and its content");

	/* Abort: the old target untouched, nothing else left. */
	ok(rs_outfile_open(path, 0644, &f, &d) == RS_EOK, "open again to abort");
	fputs("never seen\n", rs_outfile_stream(f));
	ok(rs_outfile_readback(f, rb, sizeof(rb), &d) == RS_EOK && content_is(rb, "never seen\n"),
	   "the aborted content is readable back before abort");
	rs_outfile_abort(f);
	ok(content_is(path, "new content\n"), "abort leaves the old target untouched");
	listing(dir, list, sizeof(list));
	is_str(list, "Kkey.private zone.signed", "abort leaves no file besides the targets");

	/* An output file in a directory that does not exist. */
	char nodir[300];
	snprintf(nodir, sizeof(nodir), "%s/missing/zone", dir);
	f = NULL;
	int ret = rs_outfile_open(nodir, 0644, &f, &d);
	ok(ret < 0 && f == NULL && strstr(d.text, nodir) != NULL, "a missing directory is refused naming the target: %s",
	   d.text);
}

static void test_outfile_direct(void)
{
	char dir[256], fifo[300], list[1024], rb[512];
	subdir("fifo", dir, sizeof(dir));
	snprintf(fifo, sizeof(fifo), "%s/pipe", dir);
	if (mkfifo(fifo, 0600) != 0)
		abort();
	int rfd = open(fifo, O_RDONLY | O_NONBLOCK);
	rs_outfile_t *f;
	rs_diag_t d;
	is_int(rs_outfile_open(fifo, 0644, &f, &d), RS_EOK, "open an existing FIFO");
	d.text[0] = '\0';
	is_int(rs_outfile_readback(f, rb, sizeof(rb), &d), RS_EINVAL, "readback of a FIFO: RS_EINVAL");
	ok(strstr(d.text, fifo) != NULL, "... naming it: %s", d.text);
	fputs("through the pipe\n", rs_outfile_stream(f));
	is_int(rs_outfile_commit(f, &d), RS_EOK, "commit to a FIFO");
	char got[64] = "";
	ssize_t n = read(rfd, got, sizeof(got) - 1);
	got[n > 0 ? n : 0] = '\0';
	close(rfd);
	is_str(got, "through the pipe\n", "the reader gets what was written, directly");
	struct stat st;
	ok(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO is still a FIFO, not replaced by a file");
	listing(dir, list, sizeof(list));
	is_str(list, "pipe", "nothing else is created beside the FIFO");

	is_int(rs_outfile_open("-", 0644, &f, &d), RS_EOK, "open \"-\"");
	ok(rs_outfile_stream(f) == stdout, "\"-\" is standard output");
	is_int(rs_outfile_readback(f, rb, sizeof(rb), &d), RS_EINVAL, "readback of \"-\": RS_EINVAL");
	is_int(rs_outfile_commit(f, &d), RS_EOK, "commit of \"-\" (nothing written)");
	ok(fcntl(STDOUT_FILENO, F_GETFD) != -1, "standard output stays open");
}

static pid_t dead_pid(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

static void test_outfile_stale(void)
{
	char dir[256], path[300], name[512], list[2048];
	subdir("stale", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/zone", dir);
	write_file(path, "target\n");
	pid_t dead = dead_pid();
	const char *files[] = { "%s/.zone.regsign-tmp.%ld.0badc0de", /* dead writer: removed */
				"%s/zone.tmp.ABCDEF",                /* legacy: removed */
				"%s/.zone.regsign-tmp.%ld.12345678", /* live writer (this process): kept */
				"%s/.other.regsign-tmp.%ld.0badc0de", /* another target's: kept */
				"%s/other.tmp.ABCDEF",               /* another target's legacy: kept */
				"%s/zone.tmp.ABCDEFG",               /* not the legacy pattern: kept */
				"%s/.zone.signed.regsign-tmp.%ld.00000000" /* zone.signed's: kept */ };
	long pids[] = { (long)dead, 0, (long)getpid(), (long)dead, 0, 0, (long)dead };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (strstr(files[i], "%ld") != NULL)
			snprintf(name, sizeof(name), files[i], dir, pids[i]);
		else
			snprintf(name, sizeof(name), files[i], dir);
		write_file(name, "stale\n");
	}
	rs_outfile_t *f;
	rs_diag_t d;
	is_int(rs_outfile_open(path, 0644, &f, &d), RS_EOK, "open zone beside temporaries");
	char dead_tmp[128], live_tmp[128], other_tmp[128], longer_tmp[128];
	snprintf(dead_tmp, sizeof(dead_tmp), ".zone.regsign-tmp.%ld.0badc0de", (long)dead);
	snprintf(live_tmp, sizeof(live_tmp), ".zone.regsign-tmp.%ld.12345678", (long)getpid());
	snprintf(other_tmp, sizeof(other_tmp), ".other.regsign-tmp.%ld.0badc0de", (long)dead);
	snprintf(longer_tmp, sizeof(longer_tmp), ".zone.signed.regsign-tmp.%ld.00000000", (long)dead);
	ok(!exists(dir, dead_tmp), "a named temporary of a dead pid is removed");
	ok(!exists(dir, "zone.tmp.ABCDEF"), "a legacy NAME.tmp.XXXXXX is removed");
	ok(exists(dir, live_tmp), "a named temporary of a live pid is kept");
	ok(exists(dir, other_tmp) && exists(dir, "other.tmp.ABCDEF"), "another target's temporaries are kept");
	ok(exists(dir, "zone.tmp.ABCDEFG"), "a name that only looks like a legacy temporary is kept");
	ok(exists(dir, longer_tmp), "a temporary of a target with a longer name is kept");
	listing(dir, list, sizeof(list));
	size_t entries = 1;
	for (const char *c = list; *c != '\0'; c++)
		entries += *c == ' ';
	is_int(entries, 6, "exactly the two stale files are gone, nothing new is visible: %s", list);
	ok(content_is(path, "target\n"), "the target itself is untouched by the open");
	rs_outfile_abort(f);
	ok(content_is(path, "target\n"), "... and by the abort");
}

/* ---- socket addresses ---- */

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
					      : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void test_addr(void)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	rs_diag_t d;
	char text[INET6_ADDRSTRLEN];
	is_int(rs_addr_parse("192.0.2.1@5353", 0, &ss, &len, &d), RS_EOK, "IPv4@PORT");
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text, sizeof(text));
	ok(ss.ss_family == AF_INET && len == sizeof(struct sockaddr_in) && port_of(&ss) == 5353 &&
	       strcmp(text, "192.0.2.1") == 0,
	   "... 192.0.2.1, port 5353, an IPv4 length");
	is_int(rs_addr_parse("2001:db8::1@54", 0, &ss, &len, &d), RS_EOK, "IPv6@PORT");
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, text, sizeof(text));
	ok(ss.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6) && port_of(&ss) == 54 &&
	       strcmp(text, "2001:db8::1") == 0,
	   "... 2001:db8::1, port 54, an IPv6 length");
	is_int(rs_addr_parse("[::1]@5300", 0, &ss, &len, &d), RS_EOK, "[IPv6]@PORT");
	ok(ss.ss_family == AF_INET6 && port_of(&ss) == 5300, "... ::1, port 5300");
	is_int(rs_addr_parse("192.0.2.1", 53, &ss, &len, &d), RS_EOK, "no port, with a default");
	ok(ss.ss_family == AF_INET && port_of(&ss) == 53, "... the default port");
	is_int(rs_addr_parse("::1", 53, &ss, &len, &d), RS_EOK, "IPv6 without a port, with a default");
	ok(ss.ss_family == AF_INET6 && port_of(&ss) == 53, "... the default port");
	is_int(rs_addr_parse("1.2.3.4@65535", 53, &ss, &len, &d), RS_EOK, "port 65535");

	d.text[0] = '\0';
	is_int(rs_addr_parse("192.0.2.1", 0, &ss, &len, &d), RS_ESYNTAX, "no port and no default: RS_ESYNTAX");
	ok(strstr(d.text, "'192.0.2.1'") != NULL && strstr(d.text, "no port") != NULL,
	   "... saying so, naming the input: %s", d.text);
	d.text[0] = '\0';
	is_int(rs_addr_parse("192.0.2.1@99999", 0, &ss, &len, &d), RS_ESYNTAX, "port 99999: RS_ESYNTAX");
	ok(strstr(d.text, "bad port '99999'") != NULL, "... saying which: %s", d.text);
	d.text[0] = '\0';
	is_int(rs_addr_parse("ns.example@53", 0, &ss, &len, &d), RS_ESYNTAX, "a host name: RS_ESYNTAX");
	ok(strstr(d.text, "'ns.example' is not an IPv4 or IPv6 address") != NULL, "... saying so: %s", d.text);
	/* clang-format off */
	static const char *const bad[] = {
		"", "@53", "192.0.2.1@", "192.0.2.1@0", "192.0.2.1@65536", "192.0.2.1@53x", "192.0.2.1@-1",
		"192.0.2.1@ 53", "192.0.2.256@53", "[192.0.2.1]@53", "[::1@53", "::1]@53", "1.2.3.4@@53",
		"garbage", "\x01\xff@53", "192.0.2.1@53@54",
		"0123456789012345678901234567890123456789012345678901234567890123456789@53",
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d.text[0] = '\0';
		len = 7;
		int ret = rs_addr_parse(bad[i], 53, &ss, &len, &d);
		ok(ret == RS_ESYNTAX && d.text[0] != '\0' && strchr(d.text, '\n') == NULL && len == 7,
		   "bad '%.20s': RS_ESYNTAX, one line, nothing set: %s", bad[i], d.text);
	}
}

static void test_unix_addr(void)
{
	struct sockaddr_un sa;
	socklen_t len = 0;
	rs_diag_t d;
	char path[300];
	snprintf(path, sizeof(path), "%s/test.sock", tmpdir);
	is_int(rs_unix_addr(path, &sa, &len, &d), RS_EOK, "a UNIX socket address");
	ok(sa.sun_family == AF_UNIX && strcmp(sa.sun_path, path) == 0 &&
	       len == offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1,
	   "... its family, path and length");
	/* The address works for bind and connect. */
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
	ok(bind(l, (struct sockaddr *)&sa, len) == 0 && listen(l, 1) == 0 &&
	       connect(c, (struct sockaddr *)&sa, len) == 0,
	   "... bound and connected to");
	close(c);
	close(l);
	unlink(path);

	char longest[sizeof(sa.sun_path) + 1];
	memset(longest, 'x', sizeof(longest));
	longest[sizeof(sa.sun_path) - 1] = '\0';
	is_int(rs_unix_addr(longest, &sa, &len, &d), RS_EOK, "a path of %zu octets fits", sizeof(sa.sun_path) - 1);
	longest[sizeof(sa.sun_path) - 1] = 'x';
	longest[sizeof(sa.sun_path)] = '\0';
	d.text[0] = '\0';
	len = 7;
	is_int(rs_unix_addr(longest, &sa, &len, &d), RS_ELIMIT, "one more octet: RS_ELIMIT");
	ok(strstr(d.text, "too long") != NULL && strstr(d.text, "xxxxxxxx") != NULL && len == 7,
	   "... naming the path, nothing set: %.60s", d.text);
	is_int(rs_unix_addr("", &sa, &len, &d), RS_ELIMIT, "an empty path: RS_ELIMIT");
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		abort();
	test_errors();
	test_diag();
	test_log();
	test_buf();
	test_time();
	test_duration();
	test_arena();
	test_parallel();
	test_outfile_commit();
	test_outfile_direct();
	test_outfile_stale();
	test_addr();
	test_unix_addr();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		abort();
	return done_testing();
}
