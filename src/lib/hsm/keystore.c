/*
 * Key stores: one table in front of key files and PKCS#11 tokens, so the
 * zone session, the daemon and the simulation make, use and destroy keys the
 * same way whatever holds them. The table also carries the access level
 * reached, so a step that needs the key holders fails with their reason.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "regsign/hsm.h"

struct rs_keystore {
	const rs_keystore_ops_t *ops;
	void *be;
	int level; /* RS_ACCESS_* reached */
};

int rs_keystore_new(const rs_keystore_ops_t *ops, void *be, rs_keystore_t **out)
{
	rs_keystore_t *ks = calloc(1, sizeof(*ks));
	if (ks == NULL) {
		if (ops->free != NULL)
			ops->free(be);
		return RS_ENOMEM;
	}
	ks->ops = ops;
	ks->be = be;
	ks->level = ops->unlock == NULL ? RS_ACCESS_ADMIN : RS_ACCESS_PUBLIC;
	*out = ks;
	return RS_EOK;
}

void rs_keystore_free(rs_keystore_t *ks)
{
	if (ks == NULL)
		return;
	if (ks->ops->free != NULL)
		ks->ops->free(ks->be);
	free(ks);
}

const char *rs_keystore_name(const rs_keystore_t *ks)
{
	return ks->ops->name;
}

int rs_keystore_unlock(rs_keystore_t *ks, int level, rs_diag_t *diag)
{
	if (ks->level >= level)
		return RS_EOK;
	int ret = ks->ops->unlock(ks->be, level, diag);
	if (ret == RS_EOK)
		ks->level = level;
	return ret;
}

int rs_keystore_generate(rs_keystore_t *ks, const rs_keygen_t *g, rs_key_t **out, char *locator, rs_diag_t *diag)
{
	int ret = rs_keystore_unlock(ks, RS_ACCESS_ADMIN, diag);
	return ret == RS_EOK ? ks->ops->generate(ks->be, g, out, locator, diag) : ret;
}

int rs_keystore_load(rs_keystore_t *ks, const char *locator, const uint8_t *origin, int alg, bool ksk,
		     bool need_private, rs_key_t **out, rs_diag_t *diag)
{
	int ret = rs_keystore_unlock(ks, need_private ? RS_ACCESS_SIGN : RS_ACCESS_PUBLIC, diag);
	return ret == RS_EOK ? ks->ops->load(ks->be, locator, origin, alg, ksk, need_private, out, diag) : ret;
}

int rs_keystore_relabel(rs_keystore_t *ks, const char *locator, const char *label, rs_diag_t *diag)
{
	if (ks->ops->relabel == NULL)
		return RS_EOK;
	int ret = rs_keystore_unlock(ks, RS_ACCESS_ADMIN, diag);
	return ret == RS_EOK ? ks->ops->relabel(ks->be, locator, label, diag) : ret;
}

int rs_keystore_destroy(rs_keystore_t *ks, const char *locator, rs_diag_t *diag)
{
	int ret = rs_keystore_unlock(ks, RS_ACCESS_ADMIN, diag);
	return ret == RS_EOK ? ks->ops->destroy(ks->be, locator, diag) : ret;
}

int rs_keystore_list(rs_keystore_t *ks, void (*fn)(void *arg, const char *locator, const char *label), void *arg,
		     rs_diag_t *diag)
{
	if (ks->ops->list == NULL)
		return rs_diag(diag, -EOPNOTSUPP, "the %s key store cannot list its keys", ks->ops->name);
	return ks->ops->list(ks->be, fn, arg, diag);
}

/* ---- key files ---- */

typedef struct {
	char *dir;
} files_t;

static void key_path(const files_t *f, const char *locator, const char *suffix, char *out, size_t max)
{
	snprintf(out, max, "%s/%s%s", f->dir, locator, suffix);
}

/* A locator of this back end is a key file's base name: nothing that leaves the directory. */
static bool locator_ok(const char *locator)
{
	return locator[0] == 'K' && strchr(locator, '/') == NULL;
}

static int files_generate(void *be, const rs_keygen_t *g, rs_key_t **out, char *locator, rs_diag_t *diag)
{
	files_t *f = be;
	if (mkdir(f->dir, 0700) != 0 && errno != EEXIST)
		return rs_diag(diag, -errno, "cannot create '%s': %s", f->dir, strerror(errno));
	rs_key_t *key;
	int ret = rs_key_generate(g->origin, g->alg, g->bits, g->ksk, &key, diag);
	if (ret != RS_EOK)
		return ret;
	if (rs_key_file_name(key, locator, RS_LOCATOR_MAX) != RS_EOK)
		ret = rs_diag(diag, RS_ELIMIT, "key file name too long");
	/* Before the intent: a taken name is another key's, never recorded as this one's. */
	if (ret == RS_EOK)
		ret = rs_key_files_free(f->dir, locator, diag);
	if (ret == RS_EOK && g->intent != NULL && (ret = g->intent(g->intent_arg, locator)) != RS_EOK)
		rs_diag(diag, ret, "cannot record the key about to be made: %s", rs_strerror(ret));
	if (ret == RS_EOK)
		ret = rs_key_save(key, f->dir, g->now, g->ttl, locator, RS_LOCATOR_MAX, diag);
	if (ret != RS_EOK) {
		rs_key_free(key);
		return ret;
	}
	*out = key;
	return RS_EOK;
}

static int files_load(void *be, const char *locator, const uint8_t *origin, int alg, bool ksk, bool need_private,
		      rs_key_t **out, rs_diag_t *diag)
{
	(void)origin, (void)alg, (void)ksk; /* the files say these themselves */
	files_t *f = be;
	if (!locator_ok(locator))
		return rs_diag(diag, RS_EINVAL, "'%s' is not a key file name", locator);
	char path[4400];
	key_path(f, locator, ".key", path, sizeof(path));
	if (access(path, F_OK) != 0)
		return rs_diag(diag, RS_ENOENT, "key file '%s' is missing", path);
	key_path(f, locator, "", path, sizeof(path));
	return rs_key_load(path, need_private, out, diag);
}

/* Overwrite a file's bytes before unlinking it: a retired key must not be recoverable from the disk. */
static bool destroy_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		char zero[4096] = { 0 };
		for (off_t done = 0; done < st.st_size; done += (off_t)sizeof(zero))
			if (write(fd, zero, sizeof(zero)) < 0)
				break;
		fsync(fd);
	}
	close(fd);
	return unlink(path) == 0;
}

static int files_destroy(void *be, const char *locator, rs_diag_t *diag)
{
	files_t *f = be;
	if (!locator_ok(locator))
		return rs_diag(diag, RS_EINVAL, "'%s' is not a key file name", locator);
	char path[4400];
	key_path(f, locator, ".private", path, sizeof(path));
	bool had = destroy_file(path);
	key_path(f, locator, ".key", path, sizeof(path));
	unlink(path);
	return had ? RS_EOK : rs_diag(diag, RS_ENOENT, "no key file '%s.private'", locator);
}

static int files_list(void *be, void (*fn)(void *arg, const char *locator, const char *label), void *arg,
		      rs_diag_t *diag)
{
	files_t *f = be;
	DIR *d = opendir(f->dir);
	if (d == NULL)
		return errno == ENOENT ? RS_EOK : rs_diag(diag, -errno, "cannot read '%s': %s", f->dir, strerror(errno));
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] != 'K' || len < 9 || len >= RS_LOCATOR_MAX + 8 ||
		    strcmp(de->d_name + len - 8, ".private") != 0)
			continue;
		char base[RS_LOCATOR_MAX + 8];
		snprintf(base, sizeof(base), "%.*s", (int)(len - 8), de->d_name);
		fn(arg, base, base);
	}
	closedir(d);
	return RS_EOK;
}

static void files_free(void *be)
{
	files_t *f = be;
	free(f->dir);
	free(f);
}

static const rs_keystore_ops_t files_ops = {
	.name = "file",
	.generate = files_generate,
	.load = files_load,
	.destroy = files_destroy,
	.list = files_list,
	.free = files_free,
};

int rs_keystore_files(const char *dir, rs_keystore_t **out, rs_diag_t *diag)
{
	files_t *f = calloc(1, sizeof(*f));
	if (f == NULL || (f->dir = strdup(dir)) == NULL) {
		free(f);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	int ret = rs_keystore_new(&files_ops, f, out);
	return ret == RS_EOK ? RS_EOK : rs_diag(diag, ret, "out of memory");
}

/* ---- tokens ---- */

typedef struct {
	rs_hsm_t *hsm;
	int (*unlock)(void *arg, rs_hsm_t *hsm, int level, rs_diag_t *diag);
	void *arg;
	void (*release)(void *arg);
} token_t;

static int token_generate(void *be, const rs_keygen_t *g, rs_key_t **out, char *locator, rs_diag_t *diag)
{
	token_t *t = be;
	rs_hsm_new_locator(locator);
	int ret = g->intent != NULL ? g->intent(g->intent_arg, locator) : RS_EOK;
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "cannot record the key about to be made: %s", rs_strerror(ret));
	return rs_hsm_generate(t->hsm, g->origin, g->alg, g->bits, g->ksk, g->label, out, locator, diag);
}

static int token_load(void *be, const char *locator, const uint8_t *origin, int alg, bool ksk, bool need_private,
		      rs_key_t **out, rs_diag_t *diag)
{
	(void)need_private; /* a token key signs through the token when logged in */
	token_t *t = be;
	return rs_hsm_key(t->hsm, locator, origin, alg, ksk, out, diag);
}

static int token_relabel(void *be, const char *locator, const char *label, rs_diag_t *diag)
{
	return rs_hsm_relabel(((token_t *)be)->hsm, locator, label, diag);
}

static int token_destroy(void *be, const char *locator, rs_diag_t *diag)
{
	return rs_hsm_destroy(((token_t *)be)->hsm, locator, diag);
}

static int token_list(void *be, void (*fn)(void *arg, const char *locator, const char *label), void *arg,
		      rs_diag_t *diag)
{
	return rs_hsm_list(((token_t *)be)->hsm, fn, arg, diag);
}

static int token_unlock(void *be, int level, rs_diag_t *diag)
{
	token_t *t = be;
	return t->unlock != NULL ? t->unlock(t->arg, t->hsm, level, diag) : RS_EOK;
}

static void token_free(void *be)
{
	token_t *t = be;
	rs_hsm_close(t->hsm);
	if (t->release != NULL)
		t->release(t->arg);
	free(t);
}

static const rs_keystore_ops_t token_ops = {
	.name = "pkcs11",
	.generate = token_generate,
	.load = token_load,
	.relabel = token_relabel,
	.destroy = token_destroy,
	.list = token_list,
	.unlock = token_unlock,
	.free = token_free,
};

int rs_keystore_token(rs_hsm_t *hsm, int (*unlock)(void *arg, rs_hsm_t *hsm, int level, rs_diag_t *diag),
		      void *arg, void (*release)(void *arg), rs_keystore_t **out)
{
	token_t *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		rs_hsm_close(hsm);
		if (release != NULL)
			release(arg);
		return RS_ENOMEM;
	}
	*t = (token_t){ hsm, unlock, arg, release };
	return rs_keystore_new(&token_ops, t, out);
}

rs_hsm_t *rs_keystore_hsm(rs_keystore_t *ks)
{
	return ks->ops == &token_ops ? ((token_t *)ks->be)->hsm : NULL;
}

/* ---- quarantine: material the state does not know, set aside for the operator ---- */

typedef struct {
	const char *locator;
	char *label;
	bool found;
} label_find_t;

static void find_label(void *arg, const char *locator, const char *label)
{
	label_find_t *f = arg;
	if (!f->found && strcmp(locator, f->locator) == 0) {
		snprintf(f->label, RS_KEYSTORE_LABEL_MAX, "%s", label);
		f->found = true;
	}
}

/* The label the token's key at locator has now; RS_ENOENT if the token has no such key. */
static int token_label(rs_keystore_t *ks, const char *locator, char label[RS_KEYSTORE_LABEL_MAX], rs_diag_t *diag)
{
	label_find_t f = { locator, label, false };
	int ret = ks->ops->list(ks->be, find_label, &f, diag);
	if (ret == RS_EOK && !f.found)
		ret = rs_diag(diag, RS_ENOENT, "the token has no key %s", locator);
	return ret;
}

/* Move a key's two files between dir and dir/quarantine (0600 there); RS_ENOENT if neither is there. */
static int files_move(const files_t *f, const char *locator, bool in, rs_diag_t *diag)
{
	if (!locator_ok(locator))
		return rs_diag(diag, RS_EINVAL, "'%s' is not a key file name", locator);
	char qdir[4200];
	snprintf(qdir, sizeof(qdir), "%s/quarantine", f->dir);
	if (in && mkdir(qdir, 0700) != 0 && errno != EEXIST)
		return rs_diag(diag, -errno, "cannot create '%s': %s", qdir, strerror(errno));
	static const char *const suffixes[] = { ".private", ".key" };
	char from[2][4400], to[2][4400];
	bool have[2];
	for (int i = 0; i < 2; i++) {
		char *a = in ? from[i] : to[i], *b = in ? to[i] : from[i];
		snprintf(a, sizeof(from[i]), "%s/%s%s", f->dir, locator, suffixes[i]);
		snprintf(b, sizeof(to[i]), "%s/%s%s", qdir, locator, suffixes[i]);
		have[i] = access(from[i], F_OK) == 0;
		/* Never over another key's files. */
		if (have[i] && access(to[i], F_OK) == 0)
			return rs_diag(diag, -EEXIST, "'%s' exists", to[i]);
	}
	/* Moved already (a run interrupted after it): done. */
	if (!have[0] && !have[1])
		return access(to[0], F_OK) == 0 || access(to[1], F_OK) == 0
			       ? RS_EOK
			       : rs_diag(diag, RS_ENOENT, "no key file '%s.private' in '%s'", locator, in ? f->dir : qdir);
	for (int i = 0; i < 2; i++) {
		if (!have[i])
			continue;
		if (rename(from[i], to[i]) != 0)
			return rs_diag(diag, -errno, "cannot move '%s' to '%s': %s", from[i], to[i], strerror(errno));
		if (in)
			chmod(to[i], 0600);
	}
	return RS_EOK;
}

int rs_keystore_quarantine(rs_keystore_t *ks, const char *locator, char label[RS_KEYSTORE_LABEL_MAX],
			   rs_diag_t *diag)
{
	label[0] = '\0';
	if (ks->ops == &files_ops)
		return files_move(ks->be, locator, true, diag);
	if (ks->ops != &token_ops)
		return rs_diag(diag, -EOPNOTSUPP, "the %s key store cannot quarantine keys", ks->ops->name);
	int ret = token_label(ks, locator, label, diag);
	if (ret != RS_EOK)
		return ret;
	if (strncmp(label, RS_KEYSTORE_QUARANTINE, strlen(RS_KEYSTORE_QUARANTINE)) == 0)
		return RS_EOK; /* set aside already (an interrupted quarantine) */
	char marked[RS_KEYSTORE_LABEL_MAX + 16];
	snprintf(marked, sizeof(marked), "%s%s", RS_KEYSTORE_QUARANTINE, label);
	return rs_keystore_relabel(ks, locator, marked, diag);
}

int rs_keystore_release(rs_keystore_t *ks, const char *locator, const char *label, rs_diag_t *diag)
{
	if (ks->ops == &files_ops)
		return files_move(ks->be, locator, false, diag);
	if (ks->ops != &token_ops)
		return rs_diag(diag, -EOPNOTSUPP, "the %s key store cannot quarantine keys", ks->ops->name);
	char now[RS_KEYSTORE_LABEL_MAX];
	int ret = token_label(ks, locator, now, diag);
	size_t n = strlen(RS_KEYSTORE_QUARANTINE);
	if (ret == RS_EOK && label == NULL)
		label = strncmp(now, RS_KEYSTORE_QUARANTINE, n) == 0 ? now + n : now;
	return ret == RS_EOK ? rs_keystore_relabel(ks, locator, label, diag) : ret;
}

int rs_keystore_destroy_quarantined(rs_keystore_t *ks, const char *locator, rs_diag_t *diag)
{
	if (ks->ops != &files_ops)
		return rs_keystore_destroy(ks, locator, diag);
	files_t *f = ks->be;
	if (!locator_ok(locator))
		return rs_diag(diag, RS_EINVAL, "'%s' is not a key file name", locator);
	char path[4400];
	snprintf(path, sizeof(path), "%s/quarantine/%s.private", f->dir, locator);
	bool had = destroy_file(path);
	snprintf(path, sizeof(path), "%s/quarantine/%s.key", f->dir, locator);
	had = unlink(path) == 0 || had;
	/* Its row is committed before it moves: a run interrupted between left it in place. */
	return had ? RS_EOK : rs_keystore_destroy(ks, locator, diag);
}
