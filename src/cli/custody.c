/*
 * Key custody for the commands: the key store of a state directory, the
 * token's unlocking, share files, and the audit trail.
 *
 * A token unlocks in one of two ways. "agent": m key holders ran `regsign
 * activate`, which left an agent process holding the PIN in locked memory
 * until a deadline; commands ask it over DIR/agent.sock (same user only).
 * "state": the shares are kept in DIR/hsm, 1 of 1, so the signer runs
 * unattended (the embedded default, like a PIN in OpenDNSSEC's conf.xml).
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "custody.h"

/* The setting that records which set of shares of kind this state directory's token takes. */
static const char *share_set_setting(rs_share_kind_t kind)
{
	return kind == RS_SHARE_ACTIVATION ? "pkcs11.activation-set" : kind == RS_SHARE_ADMIN ? "pkcs11.admin-set"
											      : "pkcs11.backup-set";
}

bool cli_locator_is_token(const char *locator)
{
	return strncmp(locator, "pkcs11:", 7) == 0;
}

int cli_read_secret(const char *what, char *out, size_t max)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	if (tty) {
		fprintf(stderr, "%s: ", what);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	bool ok = fgets(out, (int)max, stdin) != NULL;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	size_t n = ok ? strcspn(out, "\r\n") : 0;
	/* A line that filled the buffer without ending was cut: refuse it rather than take a part. */
	if (!ok || (out[n] == '\0' && !feof(stdin))) {
		rs_wipe(out, max);
		return -1;
	}
	out[n] = '\0';
	return (int)n;
}

const char *cli_operator(void)
{
	static char name[64];
	const char *env = getenv("REGSIGN_OPERATOR");
	if (env == NULL || *env == '\0')
		env = getenv("SUDO_USER");
	if (env == NULL || *env == '\0') {
		struct passwd *pw = getpwuid(geteuid());
		env = pw != NULL ? pw->pw_name : "unknown";
	}
	snprintf(name, sizeof(name), "%s", env);
	return name;
}

bool cli_share_read(const char *path, rs_share_kind_t kind, rs_share_t *out)
{
	rs_buf_t text;
	rs_buf_init(&text, 4096);
	int ret = rs_buf_read_file(&text, path);
	rs_diag_t diag;
	if (ret != RS_EOK)
		cli_error("cannot read share '%s': %s", path, ret == RS_ELIMIT ? "too large for a share" : rs_strerror(ret));
	else if ((ret = rs_share_parse((const char *)text.data, text.len, path, out, &diag)) != RS_EOK)
		cli_error("%s", diag.text);
	if (text.data != NULL)
		rs_wipe(text.data, text.cap);
	rs_buf_clear(&text);
	if (ret != RS_EOK)
		return false;
	if (out->kind != kind) {
		cli_error("%s: this is %s share, not %s share", path,
			  out->kind == RS_SHARE_ADMIN ? "an admin" : out->kind == RS_SHARE_BACKUP ? "a backup" :
				  "an activation", rs_share_kind_name(kind));
		rs_wipe(out, sizeof(*out));
		return false;
	}
	return true;
}

bool cli_shares_add(cli_shares_t *s, rs_share_kind_t kind, const char *path)
{
	if (s->count[kind] == CLI_MAX_SHARES) {
		cli_error("more than %d %s shares", CLI_MAX_SHARES, rs_share_kind_name(kind));
		return false;
	}
	s->paths[kind][s->count[kind]++] = path;
	return true;
}

bool cli_shares_combine(const cli_shares_t *s, rs_share_kind_t kind, uint8_t *secret, size_t *len, char *text)
{
	rs_share_t shares[CLI_MAX_SHARES];
	size_t n = 0;
	bool ok = s->count[kind] > 0;
	if (!ok)
		cli_error("no %s shares given", rs_share_kind_name(kind));
	for (size_t i = 0; ok && i < s->count[kind]; i++)
		ok = cli_share_read(s->paths[kind][i], kind, &shares[n++]);
	rs_diag_t diag;
	if (ok && rs_share_combine(shares, n, secret, len, &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		ok = false;
	}
	rs_wipe(shares, sizeof(shares));
	if (ok && text != NULL && !cli_secret_text(secret, *len, text)) {
		cli_error("the %s shares do not hold a PIN", rs_share_kind_name(kind));
		ok = false;
	}
	return ok;
}

/* ---- the key store ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int write_private(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int ret = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0 ? RS_EOK : RS_EIO;
	close(fd);
	return ret;
}

/* How many key objects (files other than token.object) the SoftHSM2 tokens under hsmdir hold; one named in first. */
static size_t token_objects(const char *hsmdir, char *first, size_t max)
{
	char tokens[4300];
	snprintf(tokens, sizeof(tokens), "%s/tokens", hsmdir);
	size_t n = 0;
	DIR *d = opendir(tokens);
	for (struct dirent *de; d != NULL && (de = readdir(d)) != NULL;) {
		if (de->d_name[0] == '.')
			continue;
		char token[4600];
		snprintf(token, sizeof(token), "%s/%s", tokens, de->d_name);
		DIR *t = opendir(token);
		for (struct dirent *o; t != NULL && (o = readdir(t)) != NULL;) {
			size_t len = strlen(o->d_name);
			if (len > 7 && strcmp(o->d_name + len - 7, ".object") == 0 && strcmp(o->d_name, "token.object") != 0) {
				if (n++ == 0)
					snprintf(first, max, "%s/%s", token, o->d_name);
			}
		}
		if (t != NULL)
			closedir(t);
	}
	if (d != NULL)
		closedir(d);
	return n;
}

int cli_softhsm_prepare(const char *hsmdir, bool clear, char *conf, size_t max)
{
	char tokens[4300], text[4400], first[4700] = "";
	/*
	 * What a clear removes is a token a setup left before it committed: it
	 * holds no key yet. One with keys belongs to a state that was lost or
	 * replaced, and its keys may be published: never wiped.
	 */
	size_t objects = clear ? token_objects(hsmdir, first, sizeof(first)) : 0;
	if (objects > 0) {
		cli_error("'%s' holds a SoftHSM2 token with %zu key object(s) (%s), but the state names no key store "
			  "(state.db emptied or replaced?): restore state.db from a backup, or move '%s' away to start "
			  "a new token", hsmdir, objects, first, hsmdir);
		return RS_EINVAL;
	}
	if (clear)
		nftw(hsmdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(tokens, sizeof(tokens), "%s/tokens", hsmdir);
	if ((mkdir(hsmdir, 0700) != 0 && errno != EEXIST) || mkdir(tokens, 0700) != 0) {
		cli_error("cannot create '%s': %s", tokens, strerror(errno));
		return CLI_EINTERNAL;
	}
	/* SoftHSM2 reads the path as given: it must not depend on where regsign runs. */
	char abs[PATH_MAX];
	if (realpath(tokens, abs) == NULL) {
		cli_error("cannot resolve '%s': %s", tokens, strerror(errno));
		return CLI_EINTERNAL;
	}
	int n = snprintf(text, sizeof(text), "directories.tokendir = %s\nobjectstore.backend = file\n"
			 "log.level = ERROR\n", abs);
	snprintf(conf, max, "%.*s/softhsm2.conf", (int)(strlen(abs) - strlen("/tokens")), abs);
	if (write_private(conf, text, (size_t)n) != RS_EOK) {
		cli_error("cannot write '%s'", conf);
		return CLI_EINTERNAL;
	}
	setenv("SOFTHSM2_CONF", conf, 1);
	return RS_EOK;
}

int cli_share_files(const char *dir, rs_share_kind_t kind, const uint8_t *secret, size_t len, unsigned m,
		    unsigned n, bool quiet, char set_hex[17])
{
	rs_share_t *shares = calloc(n, sizeof(*shares));
	if (shares == NULL)
		return RS_ENOMEM;
	int ret = rs_share_split(kind, secret, len, m, n, shares);
	if (ret == RS_EOK && set_hex != NULL)
		sodium_bin2hex(set_hex, 17, shares[0].set, sizeof(shares[0].set));
	char path[4400];
	for (unsigned i = 0; ret == RS_EOK && i < n; i++) {
		rs_buf_t text;
		rs_buf_init(&text, 4096);
		snprintf(path, sizeof(path), "%s/%s-%u-of-%u.share", dir, rs_share_kind_name(kind), i + 1, n);
		ret = rs_share_format(&shares[i], &text);
		if (ret == RS_EOK && (ret = write_private(path, (const char *)text.data, text.len)) != RS_EOK)
			cli_error("cannot write '%s': %s", path, rs_strerror(ret));
		else if (!quiet)
			printf("%s share %u of %u (any %u): %s\n", rs_share_kind_name(kind), i + 1, n, m, path);
		rs_wipe(text.data, text.len);
		rs_buf_clear(&text);
	}
	rs_wipe(shares, n * sizeof(*shares));
	free(shares);
	return ret == RS_EOK ? RS_EOK : CLI_EINTERNAL;
}

int cli_custody_setup(rs_store_t *store, const cli_custody_plan_t *plan)
{
	char conf[4400] = "";
	int code = RS_EOK;
	/* The embedded default's directory, if there, is left by a setup that never committed. */
	if (plan->softhsm_dir != NULL)
		code = cli_softhsm_prepare(plan->softhsm_dir, plan->keep_shares, conf, sizeof(conf));
	if (code != RS_EOK)
		return code;
	if (plan->shares_dir != NULL && mkdir(plan->shares_dir, 0700) != 0 && errno != EEXIST) {
		cli_error("cannot create '%s': %s", plan->shares_dir, strerror(errno));
		return RS_EINVAL;
	}
	/*
	 * A token regsign initialises gets random PINs (hex, as long as SoftHSM2
	 * takes) that nobody ever types: key holders bring shares. An initialised
	 * token keeps the PINs its officers set; they are split the same way.
	 */
	uint8_t random[32], backup[32];
	char pin[RS_SECRET_MAX + 1], so[RS_SECRET_MAX + 1];
	randombytes_buf(random, sizeof(random));
	randombytes_buf(backup, sizeof(backup));
	sodium_bin2hex(pin, sizeof(pin), random, 16);
	sodium_bin2hex(so, sizeof(so), random + 16, 16);
	if (plan->pin != NULL) {
		snprintf(pin, sizeof(pin), "%s", plan->pin);
		snprintf(so, sizeof(so), "%s", plan->so_pin);
	}
	rs_diag_t diag;
	rs_hsm_t *h = NULL;
	int ret = plan->pin != NULL ? RS_EOK : rs_hsm_init_token(plan->module, plan->token, so, pin, &diag);
	if (ret == RS_EOK)
		ret = rs_hsm_open(plan->module, plan->token, &h, &diag);
	/* Both PINs work, and the officer can load the backup key: a backup will be possible. */
	if (ret == RS_EOK)
		ret = rs_hsm_backup_key_load(h, so, backup, &diag);
	if (ret == RS_EOK)
		ret = rs_hsm_login(h, pin, &diag);
	rs_hsm_close(h);
	if (ret != RS_EOK) {
		cli_error("cannot set up token '%s': %s", plan->token, diag.text);
		code = CLI_EINTERNAL;
	}
	const uint8_t *secrets[3] = { (uint8_t *)pin, (uint8_t *)so, backup };
	const size_t lens[3] = { strlen(pin), strlen(so), 32 };
	char sets[3][17];
	for (int kind = 0; code == RS_EOK && kind < 3; kind++)
		code = cli_share_files(plan->shares_dir, (rs_share_kind_t)kind, secrets[kind], lens[kind],
				       plan->m[kind], plan->n[kind], plan->keep_shares, sets[kind]);
	rs_wipe(random, sizeof(random));
	rs_wipe(backup, sizeof(backup));
	rs_wipe(pin, sizeof(pin));
	rs_wipe(so, sizeof(so));
	if (code != RS_EOK)
		return code;
	char activation[32];
	snprintf(activation, sizeof(activation), "%u-of-%u", plan->m[RS_SHARE_ACTIVATION], plan->n[RS_SHARE_ACTIVATION]);
	if (rs_store_setting_put(store, RS_SET_KEYSTORE, "pkcs11", &diag) != RS_EOK ||
	    rs_store_setting_put(store, RS_SET_MODULE, plan->module, &diag) != RS_EOK ||
	    rs_store_setting_put(store, RS_SET_TOKEN, plan->token, &diag) != RS_EOK ||
	    (conf[0] != '\0' && rs_store_setting_put(store, RS_SET_SOFTHSM, conf, &diag) != RS_EOK) ||
	    rs_store_setting_put(store, RS_SET_UNLOCK, plan->keep_shares ? "state" : "agent", &diag) != RS_EOK ||
	    rs_store_setting_put(store, RS_SET_ACTIVATION, activation, &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		return CLI_EINTERNAL;
	}
	for (int kind = 0; kind < 3; kind++)
		if (rs_store_setting_put(store, share_set_setting((rs_share_kind_t)kind), sets[kind], &diag) != RS_EOK) {
			cli_error("%s", diag.text);
			return CLI_EINTERNAL;
		}
	return RS_EOK;
}

bool cli_shares_check_set(rs_store_t *store, const cli_shares_t *s, rs_share_kind_t kind)
{
	char want[32];
	if (rs_store_setting_get(store, share_set_setting(kind), want, sizeof(want)) != RS_EOK)
		return true; /* set up before sets were recorded: the check value still catches a wrong set */
	bool ok = true;
	for (size_t i = 0; ok && i < s->count[kind]; i++) {
		rs_share_t share;
		char have[17];
		if (!cli_share_read(s->paths[kind][i], kind, &share))
			return false;
		sodium_bin2hex(have, sizeof(have), share.set, sizeof(share.set));
		rs_wipe(&share, sizeof(share));
		/* Before any login: a share of another token must never cost a PIN try on a real HSM. */
		if (strcmp(have, want) != 0) {
			cli_error("%s: this %s share is of set %s, but this state directory's token takes set %s (a "
				  "share of another token, or of an earlier keystore init)", s->paths[kind][i],
				  rs_share_kind_name(kind), have, want);
			ok = false;
		}
	}
	return ok;
}

/* The embedded default: a SoftHSM2 token in DIR/hsm, its shares kept beside it (1 of 1). */
static int embedded_setup(rs_store_t *store)
{
	char hsm[4200];
	snprintf(hsm, sizeof(hsm), "%s/hsm", rs_store_dir(store));
	cli_custody_plan_t plan = { CLI_SOFTHSM_MODULE, CLI_TOKEN_LABEL, hsm, hsm, true, { 1, 1, 1 }, { 1, 1, 1 },
				    NULL, NULL };
	int code = cli_custody_setup(store, &plan);
	if (code == RS_EOK &&
	    !cli_audit(store, "keystore-init", NULL, 0, "ok", "embedded SoftHSM2 token '%s' in %s; unlocks with "
		       "shares kept in the state directory (1 of 1)", CLI_TOKEN_LABEL, hsm))
		code = CLI_EINTERNAL;
	return code;
}

int cli_keystore(rs_store_t *store, char backend[16])
{
	if (rs_store_setting_get(store, RS_SET_KEYSTORE, backend, 16) == RS_EOK)
		return RS_EOK;
	/* A state directory from before key custody keeps its key files. */
	char keys[4200];
	snprintf(keys, sizeof(keys), "%s/keys", rs_store_dir(store));
	DIR *d = opendir(keys);
	bool files = false;
	size_t unknown = 0;
	char first[300] = "";
	for (struct dirent *de; d != NULL && (de = readdir(d)) != NULL;) {
		if (de->d_name[0] != 'K')
			continue;
		files = true;
		/* Key files no row names: a state.db emptied or replaced beside keys that may be published. */
		char locator[300];
		bool known = false;
		snprintf(locator, sizeof(locator), "%s", de->d_name);
		size_t len = strlen(de->d_name);
		if (len > 8 && strcmp(de->d_name + len - 8, ".private") == 0)
			snprintf(locator, sizeof(locator), "%.*s", (int)(len - 8), de->d_name);
		else if (len > 4 && strcmp(de->d_name + len - 4, ".key") == 0)
			snprintf(locator, sizeof(locator), "%.*s", (int)(len - 4), de->d_name);
		if (rs_store_locator_known(store, locator, &known) == RS_EOK && !known && unknown++ == 0)
			snprintf(first, sizeof(first), "%s", de->d_name);
	}
	if (d != NULL)
		closedir(d);
	rs_diag_t diag;
	if (unknown > 0) {
		cli_error("'%s' holds %zu key file(s) the state does not know (%s), but the state names no key store "
			  "(state.db emptied or replaced?): restore state.db from a backup, or move '%s' away", keys,
			  unknown, first, keys);
		return RS_EINVAL;
	}
	if (files) {
		snprintf(backend, 16, "file");
		return rs_store_setting_put(store, RS_SET_KEYSTORE, backend, &diag) == RS_EOK ? RS_EOK : CLI_EINTERNAL;
	}
	int code = embedded_setup(store);
	if (code == RS_EOK)
		snprintf(backend, 16, "pkcs11");
	return code;
}

bool cli_secret_text(const uint8_t *secret, size_t len, char *text)
{
	if (memchr(secret, '\0', len) != NULL)
		return false;
	memcpy(text, secret, len);
	text[len] = '\0';
	return true;
}

/* ---- audit ---- */

static int audit_record(rs_store_t *store, const char *action, const char *zone, uint16_t tag,
			const char *result, const char *fmt, va_list ap)
{
	char detail[600];
	vsnprintf(detail, sizeof(detail), fmt, ap);
	rs_audit_event_t e = { cli_now(), cli_operator(), action, zone, tag, result, detail };
	rs_diag_t diag;
	int ret = rs_audit_record(store, &e, &diag);
	if (ret != RS_EOK)
		cli_error("cannot record the audit entry: %s", diag.text);
	return ret;
}

bool cli_audit(rs_store_t *store, const char *action, const char *zone, uint16_t tag, const char *result,
	       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = audit_record(store, action, zone, tag, result, fmt, ap);
	va_end(ap);
	return ret == RS_EOK;
}

void cli_audit_flush(rs_store_t *store)
{
	char target[512] = "";
	rs_store_setting_get(store, RS_SET_SYSLOG, target, sizeof(target));
	rs_diag_t diag;
	if (rs_audit_flush(store, target, &diag) != RS_EOK)
		cli_error("ALARM: audit: %s", diag.text);
}

int cli_audit_alone(rs_store_t *store, const char *action, const char *zone, uint16_t tag, const char *result,
		    const char *fmt, ...)
{
	rs_diag_t diag;
	if (rs_store_begin(store, &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		return CLI_EINTERNAL;
	}
	va_list ap;
	va_start(ap, fmt);
	int ret = audit_record(store, action, zone, tag, result, fmt, ap);
	va_end(ap);
	if (ret == RS_EOK && (ret = rs_store_commit(store, &diag)) != RS_EOK)
		cli_error("%s", diag.text);
	if (ret != RS_EOK) {
		rs_store_rollback(store);
		return CLI_EINTERNAL;
	}
	cli_audit_flush(store);
	return RS_EOK;
}
