/*
 * regsign backup, restore: the backup ceremony of the statements (.cloud
 * 4.1.8, 5.2.2): keys wrapped inside the token under a backup key that only
 * an admin and the backup holders together can load, and recreated from
 * such a backup in a fresh token.
 */
#include <getopt.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custody.h"
#include "managed.h"
#include "regsign/dns.h"

static void help_backup(FILE *f)
{
	fprintf(f, "usage: regsign [--state DIR] backup --out FILE [--force] [--share FILE...]\n"
		   "               --admin-share FILE... --backup-share FILE...\n"
		   "       regsign [--state DIR] restore --in FILE --share FILE... --admin-share FILE...\n"
		   "               --backup-share FILE... [--module PATH --token LABEL] [--softhsm-dir DIR]\n\n"
		   "backup loads the backup key into the token for the moment (the admin and backup\n"
		   "shares restore it; it is never stored) and writes every live token key, wrapped\n"
		   "inside the token under it (AES key wrap with padding, RFC 5649), with its DNSKEY.\n"
		   "With m-of-n activation it needs M activation shares too (--share): the activation\n"
		   "agent never gives out the PIN. The file is useless without the backup shares. Keys it\n"
		   "holds count as backed up (custody.backup-before-use). With the embedded default the\n"
		   "shares kept in DIR/hsm are used. An existing FILE is kept unless --force.\n"
		   "restore recreates those keys in a fresh, empty token (initialised with the same PINs,\n"
		   "so the key holders' shares stay valid): it needs M activation, admin and backup shares.\n"
		   "Keys destroyed since the backup are not restored.\n\n"
		   "example:\n  regsign backup --out /media/offsite/keys-2026-11.backup --admin-share carol.share \\\n"
		   "      --backup-share dave.share --backup-share erin.share\n");
}

/* Call fn for every live token key of every zone; the keys' rows are saved if fn changed them. */
static int each_token_key(rs_store_t *store, int (*fn)(void *, const rs_zone_rec_t *, rs_keystate_t *), void *arg)
{
	rs_zone_rec_t *zones;
	size_t nzones;
	if (rs_store_zone_list(store, &zones, &nzones) != RS_EOK)
		return RS_EIO;
	int ret = RS_EOK;
	for (size_t i = 0; ret == RS_EOK && i < nzones; i++) {
		rs_keyset_t set = { 0 };
		ret = rs_store_keys_load(store, zones[i].name, &set);
		for (size_t j = 0; ret == RS_EOK && j < set.count; j++)
			if (set.keys[j].goal != RS_GOAL_DEAD && cli_locator_is_token(set.keys[j].locator))
				ret = fn(arg, &zones[i], &set.keys[j]);
		if (ret == RS_EOK)
			ret = rs_store_keys_save(store, zones[i].name, &set, NULL);
		rs_keyset_clear(&set);
	}
	free(zones);
	return ret;
}

typedef struct {
	rs_store_t *store;
	rs_hsm_t *hsm;
	FILE *out;
	int64_t now;
	size_t keys;
} backup_t;

static int backup_one(void *arg, const rs_zone_rec_t *zone, rs_keystate_t *k)
{
	backup_t *b = arg;
	uint8_t origin[255];
	rs_diag_t diag;
	rs_key_t *key = NULL;
	rs_buf_t wrapped;
	rs_buf_init(&wrapped, 65536);
	int ret = rs_dname_from_str(zone->name, origin);
	if (ret == RS_EOK)
		ret = rs_hsm_key(b->hsm, k->locator, origin, k->alg, (k->role & RS_ROLE_KSK) != 0, &key, &diag);
	if (ret == RS_EOK)
		ret = rs_hsm_wrap(b->hsm, k->locator, &wrapped, &diag);
	if (ret == RS_EOK) {
		size_t len;
		const uint8_t *dnskey = rs_key_dnskey(key, &len);
		char *b64 = malloc(len * 4 / 3 + 8), *w64 = malloc(wrapped.len * 4 / 3 + 8);
		if (b64 != NULL && w64 != NULL) {
			rs_base64_encode(dnskey, len, b64);
			rs_base64_encode(wrapped.data, wrapped.len, w64);
			fprintf(b->out, "key %s %u %u %s %s %s %s\n", zone->name, k->tag, k->alg, rs_role_name(k->role),
				k->locator, b64, w64);
			k->backup = b->now;
			b->keys++;
			if (!cli_audit(b->store, "backup", zone->name, k->tag, "ok", "%s %s wrapped under the backup key",
				       rs_role_name(k->role), rs_alg_name(k->alg)))
				ret = RS_EIO;
		} else {
			ret = RS_ENOMEM;
		}
		free(b64);
		free(w64);
	} else {
		cli_error("%s: key %u: %s", zone->name, k->tag, diag.text);
	}
	rs_buf_clear(&wrapped);
	rs_key_free(key);
	return ret;
}

/* Write FILE's checksum line: SHA-256 of everything before it. */
static void checksum_hex(const uint8_t *data, size_t len, char out[65])
{
	uint8_t md[32];
	SHA256(data, len, md);
	sodium_bin2hex(out, 65, md, sizeof(md));
}

/*
 * The officer PIN (text) and the backup key: from the shares given, or from
 * those the state directory keeps (the embedded default). Prints errors.
 */
static bool backup_secrets(rs_store_t *store, const cli_shares_t *shares, char *so, uint8_t bkey[RS_SECRET_MAX])
{
	uint8_t secret[RS_SECRET_MAX];
	size_t slen, blen;
	bool ok;
	if (shares->count[RS_SHARE_ADMIN] == 0 && shares->count[RS_SHARE_BACKUP] == 0 &&
	    rs_site_kept_secret(store, RS_SHARE_ADMIN, secret, &slen, NULL) == RS_EOK)
		ok = cli_secret_text(secret, slen, so) &&
		     rs_site_kept_secret(store, RS_SHARE_BACKUP, bkey, &blen, NULL) == RS_EOK;
	else
		ok = cli_shares_check_set(store, shares, RS_SHARE_ADMIN) &&
		     cli_shares_check_set(store, shares, RS_SHARE_BACKUP) &&
		     cli_shares_combine(shares, RS_SHARE_ADMIN, secret, &slen, so) &&
		     cli_shares_combine(shares, RS_SHARE_BACKUP, bkey, &blen, NULL);
	rs_wipe(secret, sizeof(secret));
	if (ok && blen != 32) {
		cli_error("the backup shares do not hold an AES-256 key");
		ok = false;
	}
	return ok;
}

/* A backup never replaces another by accident: the older one may be the only good copy. */
static bool refuse_overwrite(const char *path, bool force)
{
	struct stat st;
	if (force || lstat(path, &st) != 0)
		return false;
	cli_error("backup file '%s' already exists (--force replaces it)", path);
	return true;
}

static int backup(const char *path, const cli_shares_t *shares, bool force)
{
	if (refuse_overwrite(path, force))
		return RS_EINVAL;
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != RS_EOK)
		return code;
	backup_t b = { store, NULL, NULL, cli_now(), 0 };
	rs_diag_t diag = { "" };
	char *mem = NULL, so[RS_SECRET_MAX + 1];
	uint8_t bkey[RS_SECRET_MAX];
	size_t memlen = 0;
	if (!backup_secrets(store, shares, so, bkey)) {
		rs_store_close(store);
		return RS_EINVAL;
	}
	/* The backup stamps key rows: no zone session may hold them meanwhile (and sessions lock first). */
	rs_zone_rec_t *zones = NULL;
	size_t nzones = 0;
	rs_store_lock_t **locks = NULL;
	int ret = rs_store_zone_list(store, &zones, &nzones);
	if (ret == RS_EOK && (locks = calloc(nzones + 1, sizeof(*locks))) == NULL)
		ret = RS_ENOMEM;
	for (size_t i = 0; ret == RS_EOK && i < nzones; i++)
		ret = rs_store_zone_lock(store, zones[i].name, true, &locks[i], &diag);
	free(zones);
	if (ret == RS_EOK)
		ret = rs_store_begin(store, &diag);
	/* The activation agent never gives out the PIN: with one, the key holders give their shares here. */
	char unlock[16] = "", pin[RS_SECRET_MAX + 1] = "";
	uint8_t psecret[RS_SECRET_MAX];
	size_t plen;
	rs_store_setting_get(store, RS_SET_UNLOCK, unlock, sizeof(unlock));
	bool agent = strcmp(unlock, "agent") == 0;
	if (ret == RS_EOK && agent && shares->count[RS_SHARE_ACTIVATION] == 0)
		ret = rs_diag(&diag, RS_ELOCKED, "the activation agent does not give out the PIN: give the "
			      "activation shares too (--share)");
	else if (ret == RS_EOK && agent && (!cli_shares_check_set(store, shares, RS_SHARE_ACTIVATION) ||
					    !cli_shares_combine(shares, RS_SHARE_ACTIVATION, psecret, &plen, pin)))
		ret = RS_EINVAL;
	if (ret == RS_EOK)
		ret = rs_site_token(store, agent ? RS_ACCESS_PUBLIC : RS_ACCESS_SIGN, so, bkey, &b.hsm, &diag);
	if (ret == RS_EOK && agent)
		ret = rs_hsm_login(b.hsm, pin, &diag);
	rs_wipe(pin, sizeof(pin));
	rs_wipe(psecret, sizeof(psecret));
	rs_wipe(so, sizeof(so));
	rs_wipe(bkey, sizeof(bkey));
	if (ret == RS_EOK && (b.out = open_memstream(&mem, &memlen)) == NULL)
		ret = RS_ENOMEM;
	if (ret == RS_EOK) {
		char ts[15];
		rs_time_format(b.now, ts);
		fprintf(b.out, "; regsign key backup: private keys wrapped inside the token under its backup key\n"
			       "; (RFC 5649). Useless without the backup shares; see regsign restore.\n"
			       "regsign-backup v1 created %s\n", ts);
		ret = each_token_key(store, backup_one, &b);
		fclose(b.out);
	}
	rs_outfile_t *out = NULL;
	if (ret == RS_EOK && b.keys == 0)
		ret = rs_diag(&diag, RS_ENOENT, "no token keys to back up");
	/* Made meanwhile by someone else: still not ours to replace. */
	if (ret == RS_EOK && !force && access(path, F_OK) == 0)
		ret = rs_diag(&diag, RS_EINVAL, "file '%s' appeared during the backup (--force replaces it)",
			      path);
	if (ret == RS_EOK && (ret = rs_outfile_open(path, 0600, &out, &diag)) == RS_EOK) {
		char sum[65];
		checksum_hex((const uint8_t *)mem, memlen, sum);
		fwrite(mem, 1, memlen, rs_outfile_stream(out));
		fprintf(rs_outfile_stream(out), "checksum %s\n", sum);
		ret = rs_outfile_commit(out, &diag);
	}
	if (ret == RS_EOK && !cli_audit(store, "backup", NULL, 0, "ok", "%zu key(s) to %s", b.keys, path))
		ret = RS_EIO;
	if (ret == RS_EOK)
		ret = rs_store_commit(store, &diag);
	if (ret != RS_EOK) {
		rs_store_rollback(store);
		if (diag.text[0])
			cli_error("backup: %s", diag.text);
		code = ret;
	} else {
		cli_audit_flush(store);
		printf("%zu key(s) backed up to %s\n", b.keys, path);
	}
	rs_hsm_close(b.hsm);
	for (size_t i = 0; locks != NULL && i < nzones; i++)
		rs_store_unlock(locks[i]);
	free(locks);
	free(mem);
	rs_store_close(store);
	return code;
}

/* One "key" line of a backup file. */
typedef struct {
	char zone[256], role[8], locator[RS_LOCATOR_MAX];
	unsigned tag, alg;
	uint8_t dnskey[2048], wrapped[8192];
	int dnskey_len, wrapped_len;
} backup_key_t;

static bool parse_key_line(char *line, const char *path, size_t lineno, backup_key_t *k)
{
	char b64[4096], w64[12000];
	int used = 0;
	if (sscanf(line, "key %255s %u %u %7s %95s %4095s %11999s%n", k->zone, &k->tag, &k->alg, k->role, k->locator,
		   b64, w64, &used) != 7 || line[used] != '\0' || k->tag > 65535 || k->alg > 255 ||
	    (k->dnskey_len = rs_base64_decode(b64, strlen(b64), k->dnskey, sizeof(k->dnskey))) < 5 ||
	    (k->wrapped_len = rs_base64_decode(w64, strlen(w64), k->wrapped, sizeof(k->wrapped))) <= 0 ||
	    rs_keytag(k->dnskey, (size_t)k->dnskey_len) != k->tag) {
		cli_error("%s:%zu: malformed key line", path, lineno);
		return false;
	}
	return true;
}

/* The backup's key lines, after its checksum is checked. */
static bool read_backup(const char *path, backup_key_t **keys, size_t *count)
{
	rs_buf_t text;
	rs_buf_init(&text, (size_t)1 << 30);
	int ret = rs_buf_read_file(&text, path);
	if (ret != RS_EOK) {
		cli_error("cannot read '%s': %s", path, rs_strerror(ret));
		rs_buf_clear(&text);
		return false;
	}
	char *s = (char *)text.data, *sum = strstr(s, "\nchecksum ");
	char want[65];
	bool ok = sum != NULL;
	if (ok) {
		checksum_hex(text.data, (size_t)(sum + 1 - s), want);
		ok = strncmp(sum + 10, want, 64) == 0 && (sum[74] == '\n' || sum[74] == '\0');
	}
	if (!ok)
		cli_error("%s: checksum missing or wrong: the backup is damaged or was altered", path);
	*keys = NULL;
	*count = 0;
	size_t lineno = 0;
	bool header = false;
	for (char *line = s, *next; ok && line < sum + 1; line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		lineno++;
		if (line[0] == ';' || line[0] == '\0')
			continue;
		if (!header) {
			header = strncmp(line, "regsign-backup v1 ", 18) == 0;
			if (!header)
				cli_error("%s:%zu: not a regsign backup (v1)", path, lineno);
			ok = header;
			continue;
		}
		backup_key_t *nk = realloc(*keys, (*count + 1) * sizeof(**keys));
		ok = nk != NULL;
		if (ok) {
			*keys = nk;
			ok = parse_key_line(line, path, lineno, &nk[*count]);
			*count += ok;
		}
	}
	rs_buf_clear(&text);
	if (!ok) {
		free(*keys);
		*keys = NULL;
	}
	return ok;
}

typedef struct {
	rs_store_t *store;
	backup_key_t *keys;
	size_t count, restored;
	rs_hsm_t *hsm;
	int64_t now;
} restore_t;

static int restore_one(void *arg, const rs_zone_rec_t *zone, rs_keystate_t *k)
{
	restore_t *r = arg;
	for (size_t i = 0; i < r->count; i++) {
		backup_key_t *b = &r->keys[i];
		if (strcmp(b->locator, k->locator) != 0)
			continue;
		if (strcmp(b->zone, zone->name) != 0 || b->tag != k->tag) {
			cli_error("backup key %s is for %s %u, the state has it for %s %u", b->locator, b->zone, b->tag,
				  zone->name, k->tag);
			return RS_EINVAL;
		}
		char label[300];
		snprintf(label, sizeof(label), "%s %s %u %s", zone->name, rs_role_name(k->role), k->tag,
			 rs_alg_name(k->alg));
		rs_diag_t diag;
		uint8_t origin[255];
		rs_key_t *key = NULL;
		int ret = rs_hsm_unwrap(r->hsm, k->locator, label, b->dnskey, (size_t)b->dnskey_len, b->wrapped,
					(size_t)b->wrapped_len, &diag);
		if (ret == RS_EOK && (ret = rs_dname_from_str(zone->name, origin)) == RS_EOK)
			ret = rs_hsm_key(r->hsm, k->locator, origin, k->alg, (k->role & RS_ROLE_KSK) != 0, &key, &diag);
		if (ret != RS_EOK) {
			cli_error("%s: key %u: %s", zone->name, k->tag, diag.text);
			return ret;
		}
		size_t len;
		const uint8_t *dnskey = rs_key_dnskey(key, &len);
		bool same = len == (size_t)b->dnskey_len && memcmp(dnskey, b->dnskey, len) == 0;
		rs_key_free(key);
		if (!same) {
			cli_error("%s: key %u: the restored key differs from its DNSKEY", zone->name, k->tag);
			return RS_EKEY;
		}
		r->restored++;
		k->backup = k->backup ? k->backup : r->now;
		b->tag = 0x10000; /* done */
		return cli_audit(r->store, "restore", zone->name, k->tag, "ok", "%s %s unwrapped into token",
				 rs_role_name(k->role), rs_alg_name(k->alg)) ? RS_EOK : RS_EIO;
	}
	return RS_EOK;
}

static void count_key(void *arg, const char *locator, const char *label)
{
	(void)locator;
	(void)label;
	(*(size_t *)arg)++;
}

static int restore(const char *path, const cli_shares_t *shares, const char *module, const char *token,
		   const char *softhsm)
{
	backup_key_t *keys;
	size_t count;
	if (!read_backup(path, &keys, &count))
		return RS_EINVAL;
	uint8_t pin[RS_SECRET_MAX], so[RS_SECRET_MAX], bkey[RS_SECRET_MAX];
	char pinx[RS_SECRET_MAX + 1], sox[RS_SECRET_MAX + 1];
	size_t plen, slen, blen;
	rs_store_t *store = NULL;
	int code = RS_EINVAL;
	if (!cli_shares_combine(shares, RS_SHARE_ACTIVATION, pin, &plen, pinx) ||
	    !cli_shares_combine(shares, RS_SHARE_ADMIN, so, &slen, sox) ||
	    !cli_shares_combine(shares, RS_SHARE_BACKUP, bkey, &blen, NULL) ||
	    (code = cli_store_create(&store)) != RS_EOK)
		goto out;
	code = RS_EINVAL;
	if (blen != 32) {
		cli_error("the backup shares do not hold an AES-256 key");
		goto out;
	}
	rs_diag_t diag;
	char mod[4096], tok[64], conf[4400] = "";
	if (rs_store_begin(store, &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		goto out;
	}
	snprintf(mod, sizeof(mod), "%s", module ? module : "");
	snprintf(tok, sizeof(tok), "%s", token ? token : "");
	if (module == NULL && rs_store_setting_get(store, RS_SET_MODULE, mod, sizeof(mod)) != RS_EOK)
		snprintf(mod, sizeof(mod), "%s", CLI_SOFTHSM_MODULE);
	if (token == NULL && rs_store_setting_get(store, RS_SET_TOKEN, tok, sizeof(tok)) != RS_EOK)
		snprintf(tok, sizeof(tok), "%s", CLI_TOKEN_LABEL);
	if (softhsm != NULL) {
		if (cli_softhsm_prepare(softhsm, false, conf, sizeof(conf)) != RS_EOK)
			goto out;
	} else if (module == NULL && rs_store_setting_get(store, RS_SET_SOFTHSM, conf, sizeof(conf)) == RS_EOK) {
		/* The embedded token's directory may be gone with the disaster; make it again. */
		char hsmdir[4400];
		snprintf(hsmdir, sizeof(hsmdir), "%.*s", (int)(strrchr(conf, '/') - conf), conf);
		if (access(conf, R_OK) != 0 && cli_softhsm_prepare(hsmdir, false, conf, sizeof(conf)) != RS_EOK)
			goto out;
		setenv("SOFTHSM2_CONF", conf, 1);
	}
	/*
	 * A fresh token with the PINs the key holders' shares restore, so their
	 * shares stay valid: initialised here, or beforehand by the HSM's own
	 * tools with those PINs. Either way it must hold no keys yet.
	 */
	rs_hsm_t *h = NULL;
	size_t held = 0;
	int ret = rs_hsm_open(mod, tok, &h, &diag);
	if (ret == RS_ENOENT && (ret = rs_hsm_init_token(mod, tok, sox, pinx, &diag)) == RS_EOK)
		ret = rs_hsm_open(mod, tok, &h, &diag);
	if (ret == RS_EOK && (ret = rs_hsm_list(h, count_key, &held, &diag)) == RS_EOK && held > 0)
		ret = rs_diag(&diag, RS_EINVAL, "token '%s' is not empty", tok);
	if (ret == RS_EOK)
		ret = rs_hsm_backup_key_load(h, sox, bkey, &diag);
	if (ret == RS_EOK)
		ret = rs_hsm_login(h, pinx, &diag);
	if (ret != RS_EOK) {
		cli_error("restore needs a fresh token: %s", diag.text);
		rs_hsm_close(h);
		goto out;
	}
	restore_t r = { store, keys, count, 0, h, cli_now() };
	ret = each_token_key(store, restore_one, &r);
	if (ret == RS_EOK && (rs_store_setting_put(store, RS_SET_MODULE, mod, &diag) != RS_EOK ||
			      rs_store_setting_put(store, RS_SET_TOKEN, tok, &diag) != RS_EOK ||
			      (conf[0] && rs_store_setting_put(store, RS_SET_SOFTHSM, conf, &diag) != RS_EOK)))
		ret = RS_EIO;
	if (ret == RS_EOK && !cli_audit(store, "restore", NULL, 0, "ok", "%zu key(s) from %s into token '%s'",
					r.restored, path, tok))
		ret = RS_EIO;
	if (ret == RS_EOK)
		ret = rs_store_commit(store, &diag);
	rs_hsm_close(h);
	if (ret == RS_EOK) {
		cli_audit_flush(store);
		size_t skipped = 0;
		for (size_t i = 0; i < count; i++)
			skipped += keys[i].tag != 0x10000;
		printf("%zu key(s) restored into token '%s'", r.restored, tok);
		if (skipped)
			printf("; %zu destroyed since the backup, not restored", skipped);
		printf("\n");
		/* An agent still serves the lost token: the key holders activate the fresh one. */
		rs_agent_reply_t old;
		if (rs_agent_ask(rs_store_dir(store), "quit", &old) == RS_EOK)
			printf("the activation of the old token ended: key holders run 'regsign activate' again\n");
		code = RS_EOK;
	}
out:
	if (store != NULL && code != RS_EOK)
		rs_store_rollback(store);
	rs_store_close(store);
	rs_wipe(pin, sizeof(pin));
	rs_wipe(so, sizeof(so));
	rs_wipe(bkey, sizeof(bkey));
	rs_wipe(pinx, sizeof(pinx));
	rs_wipe(sox, sizeof(sox));
	free(keys);
	return code;
}

int cmd_backup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },         { "now", required_argument, NULL, 'N' },
		{ "admin-share", required_argument, NULL, 'a' }, { "backup-share", required_argument, NULL, 'b' },
		{ "force", no_argument, NULL, 'f' },             { "share", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },              { NULL, 0, NULL, 0 },
	};
	cli_shares_t shares = { 0 };
	const char *out = NULL;
	bool force = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'f': force = true; break;
		case 's': if (!cli_shares_add(&shares, RS_SHARE_ACTIVATION, optarg)) return RS_EINVAL; break;
		case 'a': if (!cli_shares_add(&shares, RS_SHARE_ADMIN, optarg)) return RS_EINVAL; break;
		case 'b': if (!cli_shares_add(&shares, RS_SHARE_BACKUP, optarg)) return RS_EINVAL; break;
		case 'N': if (!cli_set_now(optarg)) return RS_EINVAL; break;
		case 'h': help_backup(stdout); return RS_EOK;
		default: help_backup(stderr); return RS_EINVAL;
		}
	}
	if (out == NULL || optind != argc) {
		cli_error(out == NULL ? "--out is required" : "unexpected argument");
		return RS_EINVAL;
	}
	return backup(out, &shares, force);
}

int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "in", required_argument, NULL, 'i' },     { "share", required_argument, NULL, 's' },
		{ "admin-share", required_argument, NULL, 'a' }, { "backup-share", required_argument, NULL, 'b' },
		{ "module", required_argument, NULL, 'M' }, { "token", required_argument, NULL, 't' },
		{ "softhsm-dir", required_argument, NULL, 'S' }, { "now", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	cli_shares_t shares = { 0 };
	const char *in = NULL, *module = NULL, *token = NULL, *softhsm = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': in = optarg; break;
		case 's': if (!cli_shares_add(&shares, RS_SHARE_ACTIVATION, optarg)) return RS_EINVAL; break;
		case 'a': if (!cli_shares_add(&shares, RS_SHARE_ADMIN, optarg)) return RS_EINVAL; break;
		case 'b': if (!cli_shares_add(&shares, RS_SHARE_BACKUP, optarg)) return RS_EINVAL; break;
		case 'M': module = optarg; break;
		case 't': token = optarg; break;
		case 'S': softhsm = optarg; break;
		case 'N': if (!cli_set_now(optarg)) return RS_EINVAL; break;
		case 'h': help_backup(stdout); return RS_EOK;
		default: help_backup(stderr); return RS_EINVAL;
		}
	}
	if (in == NULL || optind != argc) {
		cli_error(in == NULL ? "--in is required" : "unexpected argument");
		return RS_EINVAL;
	}
	return restore(in, &shares, module, token, softhsm);
}
