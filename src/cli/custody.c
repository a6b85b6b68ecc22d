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

static rs_hsm_t *open_hsm;
static int open_level; /* CLI_HSM_* reached by open_hsm */

static void close_hsm(void)
{
	rs_hsm_close(open_hsm);
	open_hsm = NULL;
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

/* Copy src over dst atomically, mode 0600 (rs_outfile: temporary file, fsync, rename). */
static void copy_atomic(const char *src, const char *dst)
{
	rs_buf_t data;
	rs_buf_init(&data, (size_t)1 << 20);
	rs_outfile_t *out;
	if (rs_buf_read_file(&data, src) == RS_EOK && rs_outfile_open(dst, 0600, &out, NULL) == RS_EOK) {
		if (fwrite(data.data, 1, data.len, rs_outfile_stream(out)) == data.len)
			rs_outfile_commit(out, NULL);
		else
			rs_outfile_abort(out);
	}
	rs_buf_clear(&data);
}

/*
 * SoftHSM2's file store rewrites token.object in place (truncate, then
 * write) at every login: a process killed in between leaves it empty, and
 * with it go the PIN-wrapped key that unlocks every private object. So the
 * embedded token's token.object is kept as a last good copy, and put back
 * when it is found cut short. It changes only with PINs and flags.
 */
static void softhsm_guard(const char *conf)
{
	char text[4400], dir[4300];
	int fd = open(conf, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0 || sscanf((text[n] = '\0', text), "directories.tokendir = %4095s", dir) != 1)
		return;
	DIR *d = opendir(dir);
	for (struct dirent *de; d != NULL && (de = readdir(d)) != NULL;) {
		if (de->d_name[0] == '.')
			continue;
		char obj[4600], good[4700];
		struct stat st;
		snprintf(obj, sizeof(obj), "%s/%s/token.object", dir, de->d_name);
		snprintf(good, sizeof(good), "%s.good", obj);
		if (stat(obj, &st) == 0 && st.st_size > 0)
			copy_atomic(obj, good);
		else if (stat(good, &st) == 0 && st.st_size > 0)
			copy_atomic(good, obj);
	}
	if (d != NULL)
		closedir(d);
}

void cli_softhsm_env(rs_store_t *store)
{
	char conf[4096];
	if (rs_store_setting_get(store, SET_SOFTHSM, conf, sizeof(conf)) == RS_EOK) {
		setenv("SOFTHSM2_CONF", conf, 1);
		softhsm_guard(conf);
	}
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

/* ---- the activation agent's client side ---- */

static int agent_connect(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/agent.sock", dir) >= sizeof(sa.sun_path))
		return RS_ELIMIT;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return RS_ENOENT;
	}
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

int cli_agent_ask(const char *dir, const char *what, cli_agent_reply_t *reply)
{
	int fd = agent_connect(dir);
	if (fd < 0)
		return fd;
	char buf[256];
	size_t got = 0;
	ssize_t n;
	int ret = RS_EIO;
	if (dprintf(fd, "%s\n", what) > 0) {
		while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		buf[got] = '\0';
		long long until, admin;
		int used = 0;
		if (sscanf(buf, "ok %lld %lld %n", &until, &admin, &used) == 2) {
			reply->until = until;
			reply->admin_until = admin;
			snprintf(reply->pin, sizeof(reply->pin), "%.*s", (int)strcspn(buf + used, "\n"), buf + used);
			ret = RS_EOK;
		}
	}
	rs_wipe(buf, sizeof(buf));
	close(fd);
	return ret;
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

int cli_softhsm_prepare(const char *hsmdir, bool clear, char *conf, size_t max)
{
	char tokens[4300], text[4400];
	if (clear)
		nftw(hsmdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(tokens, sizeof(tokens), "%s/tokens", hsmdir);
	if ((mkdir(hsmdir, 0700) != 0 && errno != EEXIST) || mkdir(tokens, 0700) != 0) {
		cli_error("cannot create '%s': %s", tokens, strerror(errno));
		return EXIT_INTERNAL;
	}
	/* SoftHSM2 reads the path as given: it must not depend on where regsign runs. */
	char abs[PATH_MAX];
	if (realpath(tokens, abs) == NULL) {
		cli_error("cannot resolve '%s': %s", tokens, strerror(errno));
		return EXIT_INTERNAL;
	}
	int n = snprintf(text, sizeof(text), "directories.tokendir = %s\nobjectstore.backend = file\n"
			 "log.level = ERROR\n", abs);
	snprintf(conf, max, "%.*s/softhsm2.conf", (int)(strlen(abs) - strlen("/tokens")), abs);
	if (write_private(conf, text, (size_t)n) != RS_EOK) {
		cli_error("cannot write '%s'", conf);
		return EXIT_INTERNAL;
	}
	setenv("SOFTHSM2_CONF", conf, 1);
	return EXIT_OK;
}

int cli_share_files(const char *dir, rs_share_kind_t kind, const uint8_t *secret, size_t len, unsigned m,
		    unsigned n, bool quiet)
{
	rs_share_t *shares = calloc(n, sizeof(*shares));
	if (shares == NULL)
		return EXIT_INTERNAL;
	int ret = rs_share_split(kind, secret, len, m, n, shares);
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
	return ret == RS_EOK ? EXIT_OK : EXIT_INTERNAL;
}

int cli_custody_setup(rs_store_t *store, const cli_custody_plan_t *plan)
{
	char conf[4400] = "";
	int code = EXIT_OK;
	/* The embedded default's directory, if there, is left by a setup that never committed. */
	if (plan->softhsm_dir != NULL)
		code = cli_softhsm_prepare(plan->softhsm_dir, plan->keep_shares, conf, sizeof(conf));
	if (code != EXIT_OK)
		return code;
	if (plan->shares_dir != NULL && mkdir(plan->shares_dir, 0700) != 0 && errno != EEXIST) {
		cli_error("cannot create '%s': %s", plan->shares_dir, strerror(errno));
		return EXIT_INPUT;
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
		code = EXIT_INTERNAL;
	}
	const uint8_t *secrets[3] = { (uint8_t *)pin, (uint8_t *)so, backup };
	const size_t lens[3] = { strlen(pin), strlen(so), 32 };
	for (int kind = 0; code == EXIT_OK && kind < 3; kind++)
		code = cli_share_files(plan->shares_dir, (rs_share_kind_t)kind, secrets[kind], lens[kind],
				       plan->m[kind], plan->n[kind], plan->keep_shares);
	rs_wipe(random, sizeof(random));
	rs_wipe(backup, sizeof(backup));
	rs_wipe(pin, sizeof(pin));
	rs_wipe(so, sizeof(so));
	if (code != EXIT_OK)
		return code;
	if (rs_store_setting_put(store, SET_KEYSTORE, "pkcs11", &diag) != RS_EOK ||
	    rs_store_setting_put(store, SET_MODULE, plan->module, &diag) != RS_EOK ||
	    rs_store_setting_put(store, SET_TOKEN, plan->token, &diag) != RS_EOK ||
	    (conf[0] != '\0' && rs_store_setting_put(store, SET_SOFTHSM, conf, &diag) != RS_EOK) ||
	    rs_store_setting_put(store, SET_UNLOCK, plan->keep_shares ? "state" : "agent", &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		return EXIT_INTERNAL;
	}
	return EXIT_OK;
}

/* The embedded default: a SoftHSM2 token in DIR/hsm, its shares kept beside it (1 of 1). */
static int embedded_setup(rs_store_t *store)
{
	char hsm[4200];
	snprintf(hsm, sizeof(hsm), "%s/hsm", rs_store_dir(store));
	cli_custody_plan_t plan = { CLI_SOFTHSM_MODULE, CLI_TOKEN_LABEL, hsm, hsm, true, { 1, 1, 1 }, { 1, 1, 1 },
				    NULL, NULL };
	int code = cli_custody_setup(store, &plan);
	if (code == EXIT_OK &&
	    !cli_audit(store, "keystore-init", NULL, 0, "ok", "embedded SoftHSM2 token '%s' in %s; unlocks with "
		       "shares kept in the state directory (1 of 1)", CLI_TOKEN_LABEL, hsm))
		code = EXIT_INTERNAL;
	return code;
}

int cli_keystore(rs_store_t *store, char backend[16])
{
	if (rs_store_setting_get(store, SET_KEYSTORE, backend, 16) == RS_EOK)
		return EXIT_OK;
	/* A state directory from before key custody keeps its key files. */
	char keys[4200];
	snprintf(keys, sizeof(keys), "%s/keys", rs_store_dir(store));
	DIR *d = opendir(keys);
	bool files = false;
	for (struct dirent *de; d != NULL && !files && (de = readdir(d)) != NULL;)
		files = de->d_name[0] == 'K';
	if (d != NULL)
		closedir(d);
	rs_diag_t diag;
	if (files) {
		snprintf(backend, 16, "file");
		return rs_store_setting_put(store, SET_KEYSTORE, backend, &diag) == RS_EOK ? EXIT_OK : EXIT_INTERNAL;
	}
	int code = embedded_setup(store);
	if (code == EXIT_OK)
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

/* cli_hsm, loading the backup key as the security officer first when so_pin is given. */
static int hsm_open(rs_store_t *store, int level, const char *so_pin, const uint8_t *backup_key, rs_hsm_t **out,
		    rs_diag_t *diag)
{
	if (so_pin != NULL && open_hsm != NULL)
		return rs_diag(diag, RS_EINVAL, "the backup key must be loaded before the token is used");
	if (open_hsm != NULL && open_level >= level) {
		*out = open_hsm;
		return RS_EOK;
	}
	char module[4096], token[64], unlock[16];
	if (rs_store_setting_get(store, SET_MODULE, module, sizeof(module)) != RS_EOK ||
	    rs_store_setting_get(store, SET_TOKEN, token, sizeof(token)) != RS_EOK ||
	    rs_store_setting_get(store, SET_UNLOCK, unlock, sizeof(unlock)) != RS_EOK)
		return rs_diag(diag, RS_EINVAL, "no PKCS#11 token is configured (see regsign keystore init)");
	const char *dir = rs_store_dir(store);
	char pin[RS_SECRET_MAX + 1] = "";
	int ret = RS_EOK, reached = CLI_HSM_PUBLIC;
	if (level > CLI_HSM_PUBLIC && strcmp(unlock, "state") == 0) {
		uint8_t secret[RS_SECRET_MAX];
		size_t len;
		ret = cli_kept_secret(store, RS_SHARE_ACTIVATION, secret, &len);
		if (ret != RS_EOK || !cli_secret_text(secret, len, pin))
			ret = rs_diag(diag, RS_ELOCKED, "cannot read the activation share kept in %s/hsm", dir);
		rs_wipe(secret, sizeof(secret));
		reached = CLI_HSM_ADMIN;
	} else if (level > CLI_HSM_PUBLIC) {
		cli_agent_reply_t reply;
		if (cli_agent_ask(dir, "pin", &reply) != RS_EOK)
			return rs_diag(diag, RS_ELOCKED, "the keys are not activated: key holders run 'regsign "
				       "activate' with their shares");
		snprintf(pin, sizeof(pin), "%s", reply.pin);
		reached = reply.admin_until > (int64_t)time(NULL) ? CLI_HSM_ADMIN : CLI_HSM_SIGN;
		rs_wipe(&reply, sizeof(reply));
	}
	if (ret == RS_EOK && reached < level)
		ret = rs_diag(diag, RS_ELOCKED, "key changes need an admin activation ('regsign activate "
			      "--admin-share')");
	if (ret == RS_EOK && open_hsm == NULL) {
		cli_softhsm_env(store);
		if ((ret = rs_hsm_open(module, token, &open_hsm, diag)) == RS_EOK)
			atexit(close_hsm);
		open_level = CLI_HSM_PUBLIC;
		if (ret == RS_EOK && so_pin != NULL)
			ret = rs_hsm_backup_key_load(open_hsm, so_pin, backup_key, diag);
	}
	if (ret == RS_EOK && level > CLI_HSM_PUBLIC && open_level == CLI_HSM_PUBLIC)
		ret = rs_hsm_login(open_hsm, pin, diag);
	rs_wipe(pin, sizeof(pin));
	if (ret != RS_EOK)
		return ret;
	if (level > CLI_HSM_PUBLIC)
		open_level = reached;
	*out = open_hsm;
	return RS_EOK;
}

int cli_hsm(rs_store_t *store, int level, rs_hsm_t **out, rs_diag_t *diag)
{
	return hsm_open(store, level, NULL, NULL, out, diag);
}

int cli_hsm_backup(rs_store_t *store, const char *so_pin, const uint8_t backup_key[32], rs_hsm_t **out,
		   rs_diag_t *diag)
{
	return hsm_open(store, CLI_HSM_SIGN, so_pin, backup_key, out, diag);
}

int cli_kept_secret(rs_store_t *store, rs_share_kind_t kind, uint8_t *secret, size_t *len)
{
	char unlock[16] = "", path[4300];
	rs_store_setting_get(store, SET_UNLOCK, unlock, sizeof(unlock));
	if (strcmp(unlock, "state") != 0)
		return RS_ENOENT;
	snprintf(path, sizeof(path), "%s/hsm/%s-1-of-1.share", rs_store_dir(store), rs_share_kind_name(kind));
	rs_share_t share;
	if (!cli_share_read(path, kind, &share))
		return RS_EIO;
	rs_diag_t diag;
	int ret = rs_share_combine(&share, 1, secret, len, &diag);
	rs_wipe(&share, sizeof(share));
	if (ret != RS_EOK)
		cli_error("%s", diag.text);
	return ret;
}

/* ---- audit ---- */

static int audit_record(rs_store_t *store, const char *action, const char *zone, uint16_t tag,
			const char *result, const char *fmt, va_list ap)
{
	char detail[600];
	vsnprintf(detail, sizeof(detail), fmt, ap);
	rs_audit_event_t e = { (int64_t)time(NULL), cli_operator(), action, zone, tag, result, detail };
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
	rs_store_setting_get(store, SET_SYSLOG, target, sizeof(target));
	rs_diag_t diag;
	if (rs_audit_flush(store, target, &diag) != RS_EOK)
		cli_error("warning: audit: %s", diag.text);
}

int cli_audit_alone(rs_store_t *store, const char *action, const char *zone, uint16_t tag, const char *result,
		    const char *fmt, ...)
{
	rs_diag_t diag;
	if (rs_store_begin(store, &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		return EXIT_INTERNAL;
	}
	va_list ap;
	va_start(ap, fmt);
	int ret = audit_record(store, action, zone, tag, result, fmt, ap);
	va_end(ap);
	if (ret == RS_EOK && (ret = rs_store_commit(store, &diag)) != RS_EOK)
		cli_error("%s", diag.text);
	if (ret != RS_EOK) {
		rs_store_rollback(store);
		return EXIT_INTERNAL;
	}
	cli_audit_flush(store);
	return EXIT_OK;
}
