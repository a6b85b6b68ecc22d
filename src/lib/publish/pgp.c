/*
 * OpenPGP signatures of the trust-anchor files, through GPGME: the one
 * place that talks to GnuPG. The secret key stays in its GnuPG home (gpg and
 * gpg-agent hold it); nothing here sees it, nor a passphrase: a key that
 * needs one is refused (loopback pinentry with no answer), so an unattended
 * signer never waits on a prompt.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gpgme.h>

#include "internal.h"

struct rs_pgp_verifier {
	gpgme_ctx_t ctx;
	char home[256];
	char fpr[8][128]; /* the imported keys */
	size_t nfpr;
};

static void init(void)
{
	static bool done;
	if (!done) {
		gpgme_check_version(NULL);
		done = true;
	}
}

static gpgme_error_t no_passphrase(void *hook, const char *uid_hint, const char *info, int prev_bad, int fd)
{
	(void)hook, (void)uid_hint, (void)info, (void)prev_bad, (void)fd;
	return gpg_error(GPG_ERR_CANCELED);
}

static int new_ctx(const char *home, gpgme_ctx_t *out, rs_diag_t *diag)
{
	init();
	gpgme_ctx_t ctx;
	gpgme_error_t e = gpgme_new(&ctx);
	if (e == 0)
		e = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, home);
	if (e != 0) {
		if (ctx != NULL)
			gpgme_release(ctx);
		return rs_diag(diag, RS_EIO, "cannot start GnuPG: %s", gpgme_strerror(e));
	}
	gpgme_set_armor(ctx, 1);
	gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_LOOPBACK);
	gpgme_set_passphrase_cb(ctx, no_passphrase, NULL);
	*out = ctx;
	return RS_EOK;
}

/* The home must be the service user's own: a home others can read or write could hand gpg another key. */
static int check_home(const char *home, rs_diag_t *diag)
{
	char dflt[512];
	if (home == NULL)
		home = getenv("GNUPGHOME");
	if (home == NULL || *home == '\0') {
		const char *h = getenv("HOME");
		snprintf(dflt, sizeof(dflt), "%s/.gnupg", h != NULL ? h : "");
		home = dflt;
	}
	struct stat st;
	if (stat(home, &st) != 0 || !S_ISDIR(st.st_mode))
		return rs_diag(diag, RS_ENOENT, "%s: no GnuPG home there", home);
	if (st.st_uid != geteuid())
		return rs_diag(diag, RS_EDENIED, "%s: GnuPG home belongs to uid %u, not to this user", home,
			       (unsigned)st.st_uid);
	if (st.st_mode & 077)
		return rs_diag(diag, RS_EDENIED, "%s: GnuPG home is open to others (mode %04o; it must be 0700)", home,
			       (unsigned)(st.st_mode & 07777));
	return RS_EOK;
}

static bool is_fingerprint(const char *fpr)
{
	size_t n = strlen(fpr);
	if (n != 40 && n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)fpr[i]))
			return false;
	return true;
}

/* Why key cannot sign now, or NULL if one of its (sub)keys can. */
static const char *unusable(gpgme_key_t key)
{
	if (key->revoked)
		return "is revoked";
	if (key->expired)
		return "has expired";
	if (key->disabled || key->invalid)
		return "is disabled or invalid";
	bool expired = false;
	for (gpgme_subkey_t s = key->subkeys; s != NULL; s = s->next) {
		if (!s->can_sign || !s->secret)
			continue;
		if (!s->expired && !s->revoked && !s->disabled && !s->invalid)
			return NULL;
		expired |= s->expired;
	}
	return expired ? "has expired" : "cannot sign (no usable signing subkey with its secret part)";
}

int rs_pgp_sign(const char *home, const char *fpr, const void *data, size_t len, rs_buf_t *sig, rs_diag_t *diag)
{
	if (!is_fingerprint(fpr))
		return rs_diag(diag, RS_EINVAL, "'%s' is not an OpenPGP fingerprint (40 or 64 hex digits)", fpr);
	int ret = check_home(home, diag);
	gpgme_ctx_t ctx = NULL;
	if (ret == RS_EOK)
		ret = new_ctx(home, &ctx, diag);
	if (ret != RS_EOK)
		return ret;
	gpgme_key_t key = NULL;
	gpgme_data_t in = NULL, out = NULL;
	gpgme_error_t e = gpgme_get_key(ctx, fpr, &key, 1);
	const char *why;
	if (e != 0 || key == NULL || key->fpr == NULL || strcasecmp(key->fpr, fpr) != 0)
		ret = rs_diag(diag, RS_ENOKEY, "no OpenPGP secret key %s in the GnuPG home", fpr);
	else if ((why = unusable(key)) != NULL)
		ret = rs_diag(diag, RS_ENOKEY, "OpenPGP key %s %s", fpr, why);
	else if ((e = gpgme_signers_add(ctx, key)) != 0 || (e = gpgme_data_new_from_mem(&in, data, len, 0)) != 0 ||
		 (e = gpgme_data_new(&out)) != 0 || (e = gpgme_op_sign(ctx, in, out, GPGME_SIG_MODE_DETACH)) != 0)
		ret = rs_diag(diag, RS_ENOKEY, "cannot sign with OpenPGP key %s: %s", fpr, gpgme_strerror(e));
	else {
		gpgme_sign_result_t r = gpgme_op_sign_result(ctx);
		if (r == NULL || r->invalid_signers != NULL || r->signatures == NULL)
			ret = rs_diag(diag, RS_ENOKEY, "OpenPGP key %s made no signature", fpr);
	}
	if (ret == RS_EOK) {
		size_t n;
		char *text = gpgme_data_release_and_get_mem(out, &n);
		out = NULL;
		ret = text == NULL ? RS_ENOMEM : rs_buf_append(sig, text, n);
		gpgme_free(text);
		if (ret != RS_EOK)
			rs_diag(diag, ret, "cannot keep an OpenPGP signature");
	}
	gpgme_data_release(in);
	gpgme_data_release(out);
	if (key != NULL)
		gpgme_key_unref(key);
	gpgme_release(ctx);
	return ret;
}

int rs_pgp_verifier_new(const char *pubkey_file, rs_pgp_verifier_t **out, rs_diag_t *diag)
{
	rs_buf_t key;
	rs_buf_init(&key, 1 << 20);
	int ret = rs_buf_read_file(&key, pubkey_file);
	if (ret != RS_EOK) {
		rs_buf_clear(&key);
		return rs_diag(diag, RS_EIO, "%s: cannot read the OpenPGP public key: %s", pubkey_file,
			       ret == RS_ELIMIT ? "too large" : strerror(-ret));
	}
	rs_pgp_verifier_t *v = calloc(1, sizeof(*v));
	const char *tmp = getenv("TMPDIR");
	if (v == NULL) {
		rs_buf_clear(&key);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	snprintf(v->home, sizeof(v->home), "%s/regsign-pgp-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
	if (mkdtemp(v->home) == NULL) {
		ret = rs_diag(diag, RS_EIO, "cannot make a temporary GnuPG home: %s", strerror(errno));
		v->home[0] = '\0';
	}
	if (ret == RS_EOK)
		ret = new_ctx(v->home, &v->ctx, diag);
	gpgme_data_t in = NULL;
	if (ret == RS_EOK && gpgme_data_new_from_mem(&in, (const char *)key.data, key.len, 0) != 0)
		ret = rs_diag(diag, RS_ENOMEM, "out of memory");
	if (ret == RS_EOK && gpgme_op_import(v->ctx, in) != 0)
		ret = rs_diag(diag, RS_EINVAL, "%s: not an OpenPGP public key", pubkey_file);
	if (ret == RS_EOK) {
		gpgme_import_result_t r = gpgme_op_import_result(v->ctx);
		for (gpgme_import_status_t s = r != NULL ? r->imports : NULL; s != NULL && v->nfpr < 8; s = s->next)
			if (s->result == 0 && s->fpr != NULL)
				snprintf(v->fpr[v->nfpr++], sizeof(v->fpr[0]), "%s", s->fpr);
		if (v->nfpr == 0)
			ret = rs_diag(diag, RS_EINVAL, "%s: holds no OpenPGP public key", pubkey_file);
	}
	gpgme_data_release(in);
	rs_buf_clear(&key);
	if (ret != RS_EOK) {
		rs_pgp_verifier_free(v);
		return ret;
	}
	*out = v;
	return RS_EOK;
}

/* Is fpr (a signature's: the signing subkey's) one of the imported keys or their subkeys? */
static bool imported(rs_pgp_verifier_t *v, const char *fpr)
{
	for (size_t i = 0; i < v->nfpr; i++) {
		gpgme_key_t key = NULL;
		if (gpgme_get_key(v->ctx, v->fpr[i], &key, 0) != 0 || key == NULL)
			continue;
		bool found = false;
		for (gpgme_subkey_t s = key->subkeys; s != NULL && !found; s = s->next)
			found = s->fpr != NULL && strcasecmp(s->fpr, fpr) == 0;
		gpgme_key_unref(key);
		if (found)
			return true;
	}
	return false;
}

int rs_pgp_verify(rs_pgp_verifier_t *v, const void *data, size_t len, const void *sig, size_t sig_len,
		  char *why, size_t max)
{
	gpgme_data_t d = NULL, s = NULL;
	int ret = RS_EBOGUS;
	gpgme_error_t e = gpgme_data_new_from_mem(&d, data, len, 0);
	if (e == 0)
		e = gpgme_data_new_from_mem(&s, sig, sig_len, 0);
	if (e == 0)
		e = gpgme_op_verify(v->ctx, s, d, NULL);
	gpgme_verify_result_t r = e == 0 ? gpgme_op_verify_result(v->ctx) : NULL;
	if (e != 0)
		snprintf(why, max, "not an OpenPGP signature (%s)", gpgme_strerror(e));
	else if (r == NULL || r->signatures == NULL)
		snprintf(why, max, "holds no signature");
	for (gpgme_signature_t g = r != NULL ? r->signatures : NULL; g != NULL && ret != RS_EOK; g = g->next) {
		if (gpg_err_code(g->status) == GPG_ERR_BAD_SIGNATURE)
			snprintf(why, max, "bad signature: the file is not what was signed");
		else if (gpg_err_code(g->status) == GPG_ERR_NO_PUBKEY || (g->fpr != NULL && !imported(v, g->fpr)))
			snprintf(why, max, "signed by key %s, not by the given public key", g->fpr ? g->fpr : "?");
		else if (gpg_err_code(g->status) != GPG_ERR_NO_ERROR && gpg_err_code(g->status) != GPG_ERR_KEY_EXPIRED)
			snprintf(why, max, "signature does not verify: %s", gpgme_strerror(g->status));
		else
			ret = RS_EOK; /* a key that expired since it signed still made this signature */
	}
	gpgme_data_release(d);
	gpgme_data_release(s);
	return ret;
}

void rs_pgp_verifier_free(rs_pgp_verifier_t *v)
{
	if (v == NULL)
		return;
	if (v->ctx != NULL)
		gpgme_release(v->ctx);
	if (v->home[0] != '\0')
		anchor_remove_tree(v->home);
	free(v);
}
