/*
 * What a state directory's settings say: where its keys live and how they
 * unlock, and its policies. A token unlocks in one of two ways. "agent": m
 * key holders ran `regsign activate`, which left an agent logged in to the
 * token until a deadline; regsign uses the token through it, over p11-kit's
 * PKCS#11 RPC on DIR/agent.sock (same user only), and never learns the PIN.
 * "state": the shares are kept in DIR/hsm, 1 of 1, so the signer runs
 * unattended (the embedded default, like a PIN in OpenDNSSEC's conf.xml).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "regsign/session.h"

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

int rs_agent_ask(const char *dir, const char *what, rs_agent_reply_t *reply)
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
		if (sscanf(buf, "ok %lld %lld", &until, &admin) == 2) {
			reply->until = until;
			reply->admin_until = admin;
			ret = RS_EOK;
		}
	}
	close(fd);
	return ret;
}

/* The agent's socket as a p11-kit server address (unix:path=..., absolute, percent-encoded). */
static int agent_address(const char *dir, char *out, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	char path[4200], *abs = realpath(dir, NULL);
	if (abs == NULL)
		return -errno;
	snprintf(path, sizeof(path), "%s/agent.sock", abs);
	free(abs);
	size_t at = (size_t)snprintf(out, max, "unix:path=");
	for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
		if (at + 4 > max)
			return RS_ELIMIT;
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("/._-", *p) != NULL) {
			out[at++] = (char)*p;
		} else {
			out[at++] = '%';
			out[at++] = hex[*p >> 4];
			out[at++] = hex[*p & 15];
		}
	}
	out[at] = '\0';
	return RS_EOK;
}

/* ---- SoftHSM2's token file ---- */

/* Copy src over dst atomically, mode 0600. */
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
/* The token directory a SoftHSM2 configuration names. */
static int softhsm_tokendir(const char *conf, char *dir, size_t max)
{
	char text[4400], path[4096];
	int fd = open(conf, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0 || sscanf((text[n] = '\0', text), "directories.tokendir = %4095s", path) != 1)
		return RS_ENOENT;
	snprintf(dir, max, "%s", path);
	return RS_EOK;
}

static void softhsm_guard(const char *conf)
{
	char dir[4300];
	if (softhsm_tokendir(conf, dir, sizeof(dir)) != RS_EOK)
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

void rs_site_softhsm_env(rs_store_t *store)
{
	char conf[4096];
	if (rs_store_setting_get(store, RS_SET_SOFTHSM, conf, sizeof(conf)) == RS_EOK) {
		setenv("SOFTHSM2_CONF", conf, 1);
		softhsm_guard(conf);
	}
}

/* ---- unlocking ---- */

int rs_site_kept_secret(rs_store_t *store, rs_share_kind_t kind, uint8_t *secret, size_t *len, rs_diag_t *diag)
{
	char unlock[16] = "", path[4300];
	rs_store_setting_get(store, RS_SET_UNLOCK, unlock, sizeof(unlock));
	if (strcmp(unlock, "state") != 0)
		return rs_diag(diag, RS_ENOENT, "no %s share is kept in the state directory", rs_share_kind_name(kind));
	snprintf(path, sizeof(path), "%s/hsm/%s-1-of-1.share", rs_store_dir(store), rs_share_kind_name(kind));
	rs_buf_t text;
	rs_buf_init(&text, 4096);
	rs_share_t share;
	int ret = rs_buf_read_file(&text, path);
	if (ret != RS_EOK)
		rs_diag(diag, ret, "cannot read share '%s': %s", path, rs_strerror(ret));
	else
		ret = rs_share_parse((const char *)text.data, text.len, path, &share, diag);
	if (text.data != NULL)
		rs_wipe(text.data, text.cap);
	rs_buf_clear(&text);
	if (ret == RS_EOK && share.kind != kind)
		ret = rs_diag(diag, RS_EINVAL, "%s is not %s share", path, rs_share_kind_name(kind));
	if (ret == RS_EOK)
		ret = rs_share_combine(&share, 1, secret, len, diag);
	rs_wipe(&share, sizeof(share));
	return ret;
}

typedef struct {
	rs_store_t *store;
	char dir[4096];
	char unlock[16];
	bool agent_wanted; /* the caller uses the agent's token when one runs */
	bool via_agent;    /* the token is the agent's, through p11-kit-client.so: logged in there */
} site_t;

#define NOT_ACTIVATED "the keys are not activated: key holders run 'regsign activate' with their shares"

/* How far the agent lets us go; RS_ELOCKED when none runs. */
static int agent_level(site_t *s, int *reached, rs_diag_t *diag)
{
	rs_agent_reply_t reply;
	if (rs_agent_ask(s->dir, "status", &reply) != RS_EOK)
		return rs_diag(diag, RS_ELOCKED, NOT_ACTIVATED);
	/* The agent's deadlines are real time, whatever time the operator acts at. */
	*reached = reply.admin_until > (int64_t)time(NULL) ? RS_ACCESS_ADMIN : RS_ACCESS_SIGN;
	return RS_EOK;
}

/* The PIN from the kept share, and how far it lets us go. */
static int site_pin(site_t *s, char pin[RS_SECRET_MAX + 1], int *reached, rs_diag_t *diag)
{
	if (strcmp(s->unlock, "state") == 0) {
		uint8_t secret[RS_SECRET_MAX];
		size_t len = 0;
		rs_diag_t why;
		int ret = rs_site_kept_secret(s->store, RS_SHARE_ACTIVATION, secret, &len, &why);
		bool text = ret == RS_EOK && memchr(secret, '\0', len) == NULL;
		if (text) {
			memcpy(pin, secret, len);
			pin[len] = '\0';
		}
		rs_wipe(secret, sizeof(secret));
		if (!text)
			return rs_diag(diag, RS_ELOCKED, "cannot unlock the token: %s",
				       ret == RS_EOK ? "the kept share holds no PIN" : why.text);
		*reached = RS_ACCESS_ADMIN;
		return RS_EOK;
	}
	return rs_diag(diag, RS_EINVAL, "unknown unlock '%s' in the settings", s->unlock);
}

static int site_unlock(void *arg, rs_hsm_t *hsm, int level, rs_diag_t *diag)
{
	site_t *s = arg;
	char pin[RS_SECRET_MAX + 1] = "";
	int reached = RS_ACCESS_PUBLIC;
	int ret;
	/* The agent never gives out the PIN: a process that needs it was given the shares itself. */
	if (strcmp(s->unlock, "agent") == 0 && !s->via_agent)
		ret = s->agent_wanted ? rs_diag(diag, RS_ELOCKED, NOT_ACTIVATED)
				      : rs_diag(diag, RS_ELOCKED, "the activation agent does not give out the "
						"PIN: give this command the activation shares (--share)");
	else
		ret = s->via_agent ? agent_level(s, &reached, diag) : site_pin(s, pin, &reached, diag);
	if (ret == RS_EOK && reached < level)
		ret = rs_diag(diag, RS_ELOCKED, "key changes need an admin activation ('regsign activate "
			      "--admin-share')");
	/* Through the agent the token is logged in already: its sessions are the agent's. */
	if (ret == RS_EOK && !s->via_agent)
		ret = rs_hsm_login(hsm, pin, diag);
	rs_wipe(pin, sizeof(pin));
	return ret;
}

static void site_release(void *arg)
{
	free(arg);
}

/*
 * The token the settings name, opened (no login yet); s is filled for logging
 * in. agent: with unlock "agent" and an agent running, open its token through
 * p11-kit-client.so (the signer's way); else the module itself (public objects,
 * or a login with a PIN the caller has).
 */
static int site_open(rs_store_t *store, site_t *s, bool agent, rs_hsm_t **out, rs_diag_t *diag)
{
	s->store = store;
	s->agent_wanted = agent;
	snprintf(s->dir, sizeof(s->dir), "%s", rs_store_dir(store));
	char module[4096], token[64], conf[4096];
	if (rs_store_setting_get(store, RS_SET_MODULE, module, sizeof(module)) != RS_EOK ||
	    rs_store_setting_get(store, RS_SET_TOKEN, token, sizeof(token)) != RS_EOK ||
	    rs_store_setting_get(store, RS_SET_UNLOCK, s->unlock, sizeof(s->unlock)) != RS_EOK)
		return rs_diag(diag, RS_EINVAL, "no PKCS#11 token is configured (see regsign keystore init)");
	rs_agent_reply_t running;
	if (agent && strcmp(s->unlock, "agent") == 0 && rs_agent_ask(s->dir, "status", &running) == RS_EOK) {
		char address[8192];
		if (agent_address(s->dir, address, sizeof(address)) != RS_EOK)
			return rs_diag(diag, RS_ELIMIT, "cannot name the agent's socket in '%s'", s->dir);
		setenv("P11_KIT_SERVER_ADDRESS", address, 1);
		s->via_agent = true;
		rs_diag_t why;
		int ret = rs_hsm_open(RS_P11_MODULE_DIR "/p11-kit-client.so", token, out, &why);
		return ret == RS_EOK ? RS_EOK : rs_diag(diag, ret, "cannot use the activation agent's token: %s",
							why.text);
	}
	if (rs_store_setting_get(store, RS_SET_SOFTHSM, conf, sizeof(conf)) == RS_EOK) {
		char dir[4300];
		struct stat st;
		if (access(conf, R_OK) != 0 || softhsm_tokendir(conf, dir, sizeof(dir)) != RS_EOK ||
		    stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
			return rs_diag(diag, RS_ENOENT, "the embedded token of %s is missing or damaged ('%s'): "
				       "restore the state directory's hsm/ from a copy, or the keys from a backup "
				       "(regsign restore)", s->dir, conf);
		rs_site_softhsm_env(store);
	}
	return rs_hsm_open(module, token, out, diag);
}

int rs_site_token(rs_store_t *store, int level, const char *so_pin, const uint8_t backup_key[32], rs_hsm_t **out,
		  rs_diag_t *diag)
{
	site_t s = { 0 };
	rs_hsm_t *hsm;
	int ret = site_open(store, &s, false, &hsm, diag);
	if (ret != RS_EOK)
		return ret;
	/* The officer marks the backup key trusted, before the user logs in. */
	if (so_pin != NULL)
		ret = rs_hsm_backup_key_load(hsm, so_pin, backup_key, diag);
	if (ret == RS_EOK && level > RS_ACCESS_PUBLIC)
		ret = site_unlock(&s, hsm, level, diag);
	if (ret != RS_EOK) {
		rs_hsm_close(hsm);
		return ret;
	}
	*out = hsm;
	return RS_EOK;
}

int rs_site_keystore(rs_store_t *store, rs_keystore_t **out, rs_diag_t *diag)
{
	char backend[16];
	if (rs_store_setting_get(store, RS_SET_KEYSTORE, backend, sizeof(backend)) != RS_EOK)
		return rs_diag(diag, RS_ENOENT, "no key store is set up (see regsign keystore init)");
	if (strcmp(backend, "file") == 0) {
		char dir[4200];
		snprintf(dir, sizeof(dir), "%s/keys", rs_store_dir(store));
		return rs_keystore_files(dir, out, diag);
	}
	site_t *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	rs_hsm_t *hsm;
	int ret = site_open(store, s, true, &hsm, diag);
	if (ret != RS_EOK) {
		free(s);
		return ret;
	}
	ret = rs_keystore_token(hsm, site_unlock, s, site_release, out);
	return ret == RS_EOK ? RS_EOK : rs_diag(diag, ret, "out of memory");
}

int rs_site_custody_check(rs_store_t *store, const rs_policy_t *p, rs_diag_t *diag)
{
	char backend[16], unlock[16] = "", activation[32] = "";
	if (rs_store_setting_get(store, RS_SET_KEYSTORE, backend, sizeof(backend)) != RS_EOK)
		return p->key_holders == 0 ? RS_ENOENT
					   : rs_diag(diag, RS_ENOENT, "policy %s keeps keys in a token activated by "
						     "key holders (custody.key-holders %u), and none is set up: run "
						     "'regsign keystore init --holders N --threshold %u' first", p->name,
						     p->key_holders, p->key_holders);
	if (p->key_holders == 0)
		return RS_EOK;
	rs_store_setting_get(store, RS_SET_UNLOCK, unlock, sizeof(unlock));
	rs_store_setting_get(store, RS_SET_ACTIVATION, activation, sizeof(activation));
	unsigned m = 0;
	/* A state directory set up before the activation was recorded: key holders, number unknown. */
	if (sscanf(activation, "%u-of-", &m) != 1 && strcmp(unlock, "agent") == 0)
		m = p->key_holders;
	if (strcmp(backend, "pkcs11") != 0 || strcmp(unlock, "agent") != 0 || m < p->key_holders)
		return rs_diag(diag, RS_EDENIED, "policy %s needs keys in a token activated by at least %u key "
			       "holder(s) (custody.key-holders), but this state directory keeps %s", p->name,
			       p->key_holders, strcmp(backend, "pkcs11") != 0 ? "key files"
			       : strcmp(unlock, "agent") != 0 ? "the activation share on the signer itself (1 of 1)"
							       : "a token that fewer key holders activate");
	return RS_EOK;
}

/* ---- policies ---- */

int rs_policy_lookup(rs_store_t *store, const char *name, rs_policy_t *out, char **text_out, rs_diag_t *diag)
{
	char *text = NULL;
	const char *label = "stored policy";
	int ret = store != NULL ? rs_store_policy_get(store, name, &text) : RS_ENOENT;
	if (ret == RS_ENOENT) {
		const char *builtin = rs_policy_builtin(name);
		if (builtin == NULL)
			return rs_diag(diag, RS_ENOENT, "no policy '%s' (see regsign policy list)", name);
		label = "shipped policy";
		ret = (text = strdup(builtin)) != NULL ? RS_EOK : RS_ENOMEM;
	}
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "cannot read policy '%s': %s", name, rs_strerror(ret));
	char where[128];
	snprintf(where, sizeof(where), "%s %s", label, name);
	ret = rs_policy_parse(text, strlen(text), where, out, diag);
	rs_diag_t why;
	if (ret == RS_EOK && (ret = rs_policy_check(out, 0, &why)) != RS_EOK) {
		/* The reason starts with the field's path: point at its line. */
		char path[96];
		size_t n = strcspn(why.text, " :");
		snprintf(path, sizeof(path), "%.*s", (int)(n < sizeof(path) ? n : sizeof(path) - 1), why.text);
		size_t line = rs_policy_field_line(text, strlen(text), path);
		if (line > 0)
			rs_diag(diag, ret, "%s:%zu: %s", where, line, why.text);
		else
			rs_diag(diag, ret, "%s: %s", where, why.text);
	}
	if (ret == RS_EOK && text_out != NULL)
		*text_out = text;
	else
		free(text);
	return ret;
}
