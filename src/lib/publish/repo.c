/*
 * The repository directory, replaced as a whole. A web server serving it
 * must never hand out a new ZONE.ds with an old ZONE.ds.asc, so files are
 * not replaced one by one: a sibling directory ".NAME.regsign-new.PID" gets
 * the other zones' files (hard links: the same inodes, nothing copied) and
 * this zone's new ones, everything is fsync'd, and renameat2(RENAME_EXCHANGE)
 * swaps the two directories in one step; the old one, now under the
 * sibling's name, is removed. The exchange keeps DIR a plain directory, so
 * the web server needs no symlink-following configuration (the other way,
 * a symlink switched with rename, would need it), and a reader that already
 * opened a file keeps reading the version it opened. The first publication
 * (no DIR yet) is a plain rename.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "regsign/dns.h"

const char *const anchor_suffix[ANCHOR_FILES] = { ".dnskey", ".ds", ".anchors.xml", ".bind" };

int anchor_base(const uint8_t *origin, char out[256], rs_diag_t *diag)
{
	/* BIND's file-name form, so an RFC 2317 origin gives one file, not a path: "0%2F25.2.0.10.in-addr.arpa". */
	if (rs_zone_file_stem(origin, out, 256) < 0)
		return rs_diag(diag, RS_ELIMIT, "the zone name is too long for a file name");
	return RS_EOK;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

void anchor_remove_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_file(int dirfd, const char *name, const rs_buf_t *data, const char *shown, rs_diag_t *diag)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return rs_diag(diag, RS_EIO, "%s/%s: cannot create: %s", shown, name, strerror(errno));
	size_t off = 0;
	while (off < data->len) {
		ssize_t w = write(fd, data->data + off, data->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	int ok = off == data->len && fsync(fd) == 0;
	int err = errno;
	close(fd);
	return ok ? RS_EOK : rs_diag(diag, RS_EIO, "%s/%s: cannot write: %s", shown, name, strerror(err));
}

/* Is name one of the files this publication writes for the zone base? */
static bool ours(const char *name, const char *base)
{
	size_t n = strlen(base);
	if (strncmp(name, base, n) != 0)
		return false;
	for (int f = 0; f < ANCHOR_FILES; f++) {
		size_t s = strlen(anchor_suffix[f]);
		if (strncmp(name + n, anchor_suffix[f], s) == 0 &&
		    (name[n + s] == '\0' || strcmp(name + n + s, ".asc") == 0))
			return true;
	}
	return false;
}

/*
 * Hard links in new to every file of old but this zone's: the other zones'
 * files and whatever the web server keeps there (.htaccess). A directory
 * cannot be linked: the publication is refused rather than lose it.
 */
static int keep_others(const char *old, int newfd, const char *base, rs_diag_t *diag)
{
	DIR *d = opendir(old);
	if (d == NULL)
		return rs_diag(diag, RS_EIO, "%s: cannot read: %s", old, strerror(errno));
	int ret = RS_EOK;
	struct dirent *e;
	while (ret == RS_EOK && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || ours(e->d_name, base))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
			ret = rs_diag(diag, RS_EINVAL, "%s/%s: a directory in the repository cannot be carried over", old,
				      e->d_name);
			break;
		}
		if (linkat(dirfd(d), e->d_name, newfd, e->d_name, 0) != 0)
			ret = rs_diag(diag, RS_EIO, "%s/%s: cannot keep it in the new repository: %s", old, e->d_name,
				      strerror(errno));
	}
	closedir(d);
	return ret;
}

int anchor_repo_replace(const char *dir, const uint8_t *origin, const rs_buf_t files[ANCHOR_FILES],
			const rs_buf_t sigs[ANCHOR_FILES], rs_diag_t *diag)
{
	char base[256], copy[4096], parent[4096], fresh[4096 + 64];
	if (anchor_base(origin, base, diag) != RS_EOK)
		return RS_ELIMIT;
	snprintf(copy, sizeof(copy), "%s", dir);
	size_t n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	snprintf(parent, sizeof(parent), "%s", copy);
	const char *name = basename(copy);
	const char *up = dirname(parent);
	snprintf(fresh, sizeof(fresh), "%s/.%s.regsign-new.%ld", up, name, (long)getpid());
	struct stat st;
	bool exists = stat(dir, &st) == 0;
	if (exists && !S_ISDIR(st.st_mode))
		return rs_diag(diag, RS_EINVAL, "%s: not a directory", dir);
	if (!exists && errno != ENOENT)
		return rs_diag(diag, RS_EIO, "%s: %s", dir, strerror(errno));
	anchor_remove_tree(fresh); /* left by a process of this pid that died */
	if (mkdir(fresh, 0755) != 0)
		return rs_diag(diag, RS_EIO, "%s: cannot create: %s", fresh, strerror(errno));
	int fd = open(fresh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = fd < 0 ? rs_diag(diag, RS_EIO, "%s: %s", fresh, strerror(errno)) : RS_EOK;
	if (ret == RS_EOK && exists)
		ret = keep_others(dir, fd, base, diag);
	for (int f = 0; ret == RS_EOK && f < ANCHOR_FILES; f++) {
		char file[512];
		snprintf(file, sizeof(file), "%s%s", base, anchor_suffix[f]);
		ret = write_file(fd, file, &files[f], dir, diag);
		snprintf(file, sizeof(file), "%s%s.asc", base, anchor_suffix[f]);
		if (ret == RS_EOK)
			ret = write_file(fd, file, &sigs[f], dir, diag);
	}
	if (ret == RS_EOK && fsync(fd) != 0)
		ret = rs_diag(diag, RS_EIO, "%s: cannot sync: %s", fresh, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (ret == RS_EOK) {
		int r = exists ? renameat2(AT_FDCWD, fresh, AT_FDCWD, dir, RENAME_EXCHANGE) : rename(fresh, dir);
		/* No fallback by two renames: for a moment DIR would be missing or half old. */
		if (r != 0 && exists && (errno == EINVAL || errno == ENOSYS))
			ret = rs_diag(diag, RS_EIO,
				      "%s: its file system cannot exchange two directories in one step "
				      "(renameat2 RENAME_EXCHANGE): put the repository on ext4, xfs, btrfs or tmpfs",
				      dir);
		else if (r != 0)
			ret = rs_diag(diag, RS_EIO, "%s: cannot put the new repository in place: %s", dir,
				      strerror(errno));
	}
	/* After the exchange, fresh names the old directory. */
	if (ret != RS_EOK || exists)
		anchor_remove_tree(fresh);
	if (ret == RS_EOK) {
		int pfd = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd >= 0) {
			fsync(pfd);
			close(pfd);
		}
	}
	return ret;
}
