/*
 * Atomic output: an unnamed file (O_TMPFILE) in the target's directory,
 * fsync, then linked into place and renamed over the target, and the
 * directory fsync'd. A crash or kill -9 while writing leaves no file at all.
 */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "regsign/base.h"

#define TMP_TAG ".regsign-tmp."

struct rs_outfile {
	FILE *stream;
	char *path;
	char *dir;    /* the target's directory */
	char *tmp;    /* a named temporary's path; NULL for an unnamed one or a direct target */
	bool direct;  /* written straight to a stream (see rs_outfile_open) */
	unsigned mode;
};

/*
 * "-", and a target that exists but is not a regular file (a terminal, a pipe,
 * /dev/null), are written to directly: renaming a temporary file over them
 * would replace the device node itself.
 */
static bool direct_target(const char *path)
{
	struct stat st;
	if (strcmp(path, "-") == 0)
		return true;
	return stat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

static void release(rs_outfile_t *file)
{
	free(file->tmp);
	free(file->dir);
	free(file->path);
	free(file);
}

/* A unique temporary name beside the target: DIR/.BASE.regsign-tmp.PID.RANDOM */
static char *temp_name(const rs_outfile_t *f)
{
	char *copy = strdup(f->path);
	if (copy == NULL)
		return NULL;
	const char *base = basename(copy);
	size_t max = strlen(f->dir) + strlen(base) + 64;
	char *name = malloc(max);
	if (name != NULL)
		snprintf(name, max, "%s/.%s" TMP_TAG "%ld.%08x", f->dir, base, (long)getpid(), randombytes_random());
	free(copy);
	return name;
}

/*
 * Named temporaries of this target whose writer is gone: what a process
 * killed between linking and renaming (or on a file system without unnamed
 * files) left. Older releases named them BASE.tmp.XXXXXX.
 */
static void remove_stale(const rs_outfile_t *f)
{
	char *copy = strdup(f->path);
	DIR *d = copy != NULL ? opendir(f->dir) : NULL;
	if (d == NULL) {
		free(copy);
		return;
	}
	const char *base = basename(copy);
	size_t blen = strlen(base);
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		const char *n = de->d_name;
		bool stale = false;
		if (n[0] == '.' && strncmp(n + 1, base, blen) == 0 &&
		    strncmp(n + 1 + blen, TMP_TAG, strlen(TMP_TAG)) == 0) {
			long pid = strtol(n + 1 + blen + strlen(TMP_TAG), NULL, 10);
			stale = pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
		} else if (strncmp(n, base, blen) == 0 && strncmp(n + blen, ".tmp.", 5) == 0 &&
			   strlen(n + blen + 5) == 6) {
			stale = true;
		}
		if (stale)
			unlinkat(dirfd(d), n, 0);
	}
	closedir(d);
	free(copy);
}

static int open_direct(rs_outfile_t *f, rs_diag_t *diag)
{
	f->direct = true;
	if (strcmp(f->path, "-") == 0) {
		f->stream = stdout;
		return RS_EOK;
	}
	f->stream = fopen(f->path, "w");
	if (f->stream == NULL)
		return rs_diag(diag, -errno, "cannot open '%s': %s", f->path, strerror(errno));
	return RS_EOK;
}

static int open_temp(rs_outfile_t *f, rs_diag_t *diag)
{
	/* Written 0600 until commit: a key file's secret is never readable by others on the way. */
	int fd = open(f->dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL || errno == ENOENT)) {
		if ((f->tmp = temp_name(f)) == NULL)
			return rs_diag(diag, RS_ENOMEM, "out of memory");
		fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return rs_diag(diag, -errno, "cannot create '%s': %s", f->path, strerror(errno));
	f->stream = fdopen(fd, "w");
	if (f->stream == NULL) {
		close(fd);
		if (f->tmp != NULL)
			unlink(f->tmp);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	setvbuf(f->stream, NULL, _IOFBF, 1 << 20);
	return RS_EOK;
}

int rs_outfile_open(const char *path, unsigned mode, rs_outfile_t **out, rs_diag_t *diag)
{
	rs_outfile_t *f = calloc(1, sizeof(*f));
	char *copy = strdup(path);
	if (f == NULL || copy == NULL || (f->path = strdup(path)) == NULL || (f->dir = strdup(dirname(copy))) == NULL) {
		free(copy);
		if (f != NULL)
			release(f);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	free(copy);
	mode_t mask = umask(0);
	umask(mask);
	f->mode = mode & ~mask;
	int ret;
	if (direct_target(path)) {
		ret = open_direct(f, diag);
	} else {
		remove_stale(f);
		ret = open_temp(f, diag);
	}
	if (ret != RS_EOK) {
		release(f);
		return ret;
	}
	*out = f;
	return RS_EOK;
}

FILE *rs_outfile_stream(rs_outfile_t *file)
{
	return file->stream;
}

int rs_outfile_readback(rs_outfile_t *file, char *path, size_t max, rs_diag_t *diag)
{
	if (file->direct)
		return rs_diag(diag, RS_EINVAL, "'%s' is not a regular file: what is written there cannot be checked "
			       "before it is seen", file->path);
	if (fflush(file->stream) != 0)
		return rs_diag(diag, -errno, "cannot write '%s': %s", file->path, strerror(errno));
	if (file->tmp != NULL)
		snprintf(path, max, "%s", file->tmp);
	else
		snprintf(path, max, "/proc/self/fd/%d", fileno(file->stream));
	return RS_EOK;
}

void rs_outfile_abort(rs_outfile_t *file)
{
	if (file == NULL)
		return;
	if (file->stream != NULL && file->stream != stdout)
		fclose(file->stream);
	if (file->tmp != NULL)
		unlink(file->tmp);
	release(file);
}

static int commit_direct(rs_outfile_t *file, rs_diag_t *diag)
{
	bool ok = fflush(file->stream) == 0 && !ferror(file->stream);
	int err = errno;
	if (file->stream != stdout && fclose(file->stream) != 0)
		ok = false;
	int ret = ok ? RS_EOK : rs_diag(diag, -err, "cannot write '%s': %s", file->path, strerror(err));
	release(file);
	return ret;
}

static int fail(rs_outfile_t *file, const char *what, rs_diag_t *diag)
{
	int err = -errno;
	rs_diag(diag, err, "cannot %s '%s': %s", what, file->path, strerror(errno));
	rs_outfile_abort(file);
	return err;
}

int rs_outfile_commit(rs_outfile_t *file, rs_diag_t *diag)
{
	if (file->direct)
		return commit_direct(file, diag);
	int fd = fileno(file->stream);
	if (fflush(file->stream) != 0 || ferror(file->stream) || fchmod(fd, file->mode) != 0 || fsync(fd) != 0)
		return fail(file, "write", diag);
	if (file->tmp == NULL) {
		/*
		 * The unnamed file gets a name only now, and for as long as the rename
		 * takes: the target is replaced in one step (linkat cannot overwrite).
		 */
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if ((file->tmp = temp_name(file)) == NULL) {
			errno = ENOMEM;
			return fail(file, "write", diag);
		}
		if (linkat(AT_FDCWD, proc, AT_FDCWD, file->tmp, AT_SYMLINK_FOLLOW) != 0) {
			free(file->tmp);
			file->tmp = NULL;
			return fail(file, "link", diag);
		}
	}
	int closed = fclose(file->stream);
	file->stream = NULL;
	if (closed != 0)
		return fail(file, "write", diag);
	if (rename(file->tmp, file->path) != 0)
		return fail(file, "rename onto", diag);
	free(file->tmp);
	file->tmp = NULL;
	/* Make the rename itself durable. */
	int dfd = open(file->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	release(file);
	return RS_EOK;
}
