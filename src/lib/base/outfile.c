/* Atomic output: temporary file, fsync, rename, fsync of the directory. */
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "regsign/base.h"

struct rs_outfile {
	FILE *stream;
	char *path;
	char *tmp;    /* NULL when writing straight to a stream (see rs_outfile_open) */
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

static int open_direct(const char *path, rs_outfile_t *f, rs_diag_t *diag)
{
	if (strcmp(path, "-") == 0) {
		f->stream = stdout;
		return RS_EOK;
	}
	f->stream = fopen(path, "w");
	if (f->stream == NULL)
		return rs_diag(diag, -errno, "cannot open '%s': %s", path, strerror(errno));
	return RS_EOK;
}

int rs_outfile_open(const char *path, unsigned mode, rs_outfile_t **out, rs_diag_t *diag)
{
	rs_outfile_t *f = calloc(1, sizeof(*f));
	if (f != NULL && direct_target(path)) {
		int ret = (f->path = strdup(path)) == NULL ? rs_diag(diag, RS_ENOMEM, "out of memory")
							   : open_direct(path, f, diag);
		if (ret != RS_EOK) {
			free(f->path);
			free(f);
			return ret;
		}
		*out = f;
		return RS_EOK;
	}
	size_t len = strlen(path);
	if (f == NULL || (f->path = strdup(path)) == NULL || (f->tmp = malloc(len + 16)) == NULL) {
		if (f != NULL) {
			free(f->path);
			free(f);
		}
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	snprintf(f->tmp, len + 16, "%s.tmp.XXXXXX", path);
	int fd = mkstemp(f->tmp);
	if (fd < 0) {
		int err = -errno;
		rs_diag(diag, err, "cannot create '%s': %s", path, strerror(errno));
		free(f->tmp);
		free(f->path);
		free(f);
		return err;
	}
	f->stream = fdopen(fd, "w");
	if (f->stream == NULL) {
		close(fd);
		unlink(f->tmp);
		free(f->tmp);
		free(f->path);
		free(f);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	setvbuf(f->stream, NULL, _IOFBF, 1 << 20);
	mode_t mask = umask(0);
	umask(mask);
	f->mode = mode & ~mask;
	*out = f;
	return RS_EOK;
}

FILE *rs_outfile_stream(rs_outfile_t *file)
{
	return file->stream;
}

static void release(rs_outfile_t *file)
{
	free(file->tmp);
	free(file->path);
	free(file);
}

void rs_outfile_abort(rs_outfile_t *file)
{
	if (file == NULL)
		return;
	if (file->stream != stdout)
		fclose(file->stream);
	if (file->tmp != NULL)
		unlink(file->tmp);
	release(file);
}

int rs_outfile_commit(rs_outfile_t *file, rs_diag_t *diag)
{
	if (file->tmp == NULL) {
		bool ok = fflush(file->stream) == 0 && !ferror(file->stream);
		int err = errno;
		if (file->stream != stdout && fclose(file->stream) != 0)
			ok = false;
		int ret = ok ? RS_EOK : rs_diag(diag, -err, "cannot write '%s': %s", file->path, strerror(err));
		release(file);
		return ret;
	}
	int fd = fileno(file->stream);
	if (fflush(file->stream) != 0 || fchmod(fd, file->mode) != 0 || fsync(fd) != 0) {
		int err = -errno;
		rs_diag(diag, err, "cannot write '%s': %s", file->path, strerror(errno));
		rs_outfile_abort(file);
		return err;
	}
	if (fclose(file->stream) != 0) {
		int err = -errno;
		rs_diag(diag, err, "cannot write '%s': %s", file->path, strerror(errno));
		unlink(file->tmp);
		release(file);
		return err;
	}
	if (rename(file->tmp, file->path) != 0) {
		int err = -errno;
		rs_diag(diag, err, "cannot rename onto '%s': %s", file->path, strerror(errno));
		unlink(file->tmp);
		release(file);
		return err;
	}
	/* Make the rename itself durable. */
	char *dir = strdup(file->path);
	if (dir != NULL) {
		int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	release(file);
	return RS_EOK;
}
