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
	char *tmp;
	unsigned mode;
};

int rs_outfile_open(const char *path, unsigned mode, rs_outfile_t **out, rs_diag_t *diag)
{
	rs_outfile_t *f = calloc(1, sizeof(*f));
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
	fclose(file->stream);
	unlink(file->tmp);
	release(file);
}

int rs_outfile_commit(rs_outfile_t *file, rs_diag_t *diag)
{
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
