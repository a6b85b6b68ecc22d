/*
 * regsign keystore init|show, activate, deactivate, backup, restore: the key
 * custody ceremonies of the statements (sections 4.2, 5.2): keys made in a
 * token, used only after m of n key holders brought their shares, changed
 * only with an admin share too, backed up wrapped and restored onto a fresh
 * token.
 */
#include <getopt.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "custody.h"
#include "managed.h"
#include "regsign/dns.h"

#define MAX_SHARES 16

static void help_keystore(FILE *f)
{
	fprintf(f, "usage: regsign [--state DIR] keystore init --shares-dir DIR [--holders N --threshold M]\n"
		   "                 [--admins N --admin-threshold M] [--backup-holders N --backup-threshold M]\n"
		   "                 [--module PATH --token LABEL] [--softhsm-dir DIR]\n"
		   "       regsign [--state DIR] keystore init --existing --module PATH --token LABEL --shares-dir DIR ...\n"
		   "       regsign [--state DIR] keystore init --backend file\n"
		   "       regsign [--state DIR] keystore show\n\n"
		   "init sets up where the keys of this state directory live, once, before any key exists:\n"
		   "a PKCS#11 token (default: a SoftHSM2 token in DIR/hsm) with random PINs that nobody\n"
		   "sees. The user PIN is split into activation shares (any M of N unlock signing), the\n"
		   "security officer PIN into admin shares (needed as well for key changes), and the\n"
		   "backup key into backup shares (needed to restore). Each share is a printable file\n"
		   "with a checksum, for one key holder; take them off this machine.\n"
		   "Without init, the first key makes the embedded default: a SoftHSM2 token whose\n"
		   "shares stay in DIR/hsm (1 of 1), so signing runs unattended.\n"
		   "--existing takes a token its officers initialised with the HSM's own tools: its user\n"
		   "PIN and security officer PIN are read from standard input (two lines, not echoed)\n"
		   "and split the same way; regsign adds its backup key.\n"
		   "'--backend file' keeps keys as BIND key files in DIR/keys (mode 0600) instead.\n\n"
		   "example:\n  regsign --state /var/lib/regsign keystore init --shares-dir /root/shares "
		   "--holders 3 --threshold 2\n");
}

static void help_activate(FILE *f)
{
	fprintf(f, "usage: regsign [--state DIR] activate --share FILE... [--admin-share FILE...] [--for DURATION]\n"
		   "       regsign [--state DIR] activate --status\n"
		   "       regsign [--state DIR] deactivate\n\n"
		   "activate combines the key holders' activation shares (any M of N), checks the PIN with the\n"
		   "token, and leaves an agent that lets regsign sign for DURATION (default 12h, at most 30d).\n"
		   "With the admin shares as well, key changes (generation, destruction) are allowed too.\n"
		   "The PIN lives only in the agent's locked memory; deactivate ends it at once.\n\n"
		   "example:\n  regsign activate --share alice.share --share bob.share --for 8h\n");
}

static void help_backup(FILE *f)
{
	fprintf(f, "usage: regsign [--state DIR] backup --out FILE --admin-share FILE... --backup-share FILE...\n"
		   "       regsign [--state DIR] restore --in FILE --share FILE... --admin-share FILE...\n"
		   "               --backup-share FILE... [--module PATH --token LABEL] [--softhsm-dir DIR]\n\n"
		   "backup loads the backup key into the token for the moment (the admin and backup\n"
		   "shares restore it; it is never stored) and writes every live token key, wrapped\n"
		   "inside the token under it (AES key wrap with padding, RFC 5649), with its DNSKEY.\n"
		   "The keys must be activated. The file is useless without the backup shares. Keys it\n"
		   "holds count as backed up (custody.backup-before-use). With the embedded default the\n"
		   "shares kept in DIR/hsm are used.\n"
		   "restore recreates those keys in a fresh, empty token (initialised with the same PINs,\n"
		   "so the key holders' shares stay valid): it needs M activation, admin and backup shares.\n"
		   "Keys destroyed since the backup are not restored.\n\n"
		   "example:\n  regsign backup --out /media/offsite/keys-2026-11.backup --admin-share carol.share \\\n"
		   "      --backup-share dave.share --backup-share erin.share\n");
}

/* ---- shares given on the command line ---- */

typedef struct {
	const char *paths[3][MAX_SHARES];
	size_t count[3];
} share_args_t;

static bool add_share(share_args_t *s, rs_share_kind_t kind, const char *path)
{
	if (s->count[kind] == MAX_SHARES) {
		cli_error("more than %d %s shares", MAX_SHARES, rs_share_kind_name(kind));
		return false;
	}
	s->paths[kind][s->count[kind]++] = path;
	return true;
}

/* The secret of kind from the shares given, as octets and (text not NULL, PINs) a string; prints errors. */
static bool combine(const share_args_t *s, rs_share_kind_t kind, uint8_t *secret, size_t *len, char *text)
{
	rs_share_t shares[MAX_SHARES];
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

static bool parse_count(const char *text, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(text, &end, 10);
	if (*end != '\0' || v < 1 || v > 255) {
		cli_error("invalid count '%s' (1 to 255)", text);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

/* ---- keystore ---- */

/* A PIN from standard input, one line; not echoed on a terminal. */
static bool read_pin(const char *what, char out[RS_SECRET_MAX + 2])
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	if (tty) {
		fprintf(stderr, "%s: ", what);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	bool ok = fgets(out, RS_SECRET_MAX + 2, stdin) != NULL;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	size_t n = ok ? strcspn(out, "\r\n") : 0;
	ok = ok && n > 0 && n <= RS_SECRET_MAX && (out[n] != '\0' || feof(stdin));
	if (!ok) {
		rs_wipe(out, RS_SECRET_MAX + 2);
		cli_error("--existing reads the token's %s from standard input: one line of 1 to %d characters", what,
			  RS_SECRET_MAX);
		return false;
	}
	out[n] = '\0';
	return true;
}

static int keystore_show(rs_store_t *store)
{
	char v[4096];
	static const char *const names[] = { SET_KEYSTORE, SET_MODULE, SET_TOKEN, SET_SOFTHSM, SET_UNLOCK, SET_SYSLOG };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (rs_store_setting_get(store, names[i], v, sizeof(v)) == RS_EOK)
			printf("%-20s %s\n", names[i], v[0] ? v : "-");
	cli_agent_reply_t r;
	if (cli_agent_ask(rs_store_dir(store), "status", &r) == RS_EOK) {
		char until[15], admin[15];
		rs_time_format(r.until, until);
		rs_time_format(r.admin_until, admin);
		printf("%-20s until %s, key changes %s%s\n", "activation", until, r.admin_until ? "until " : "no",
		       r.admin_until ? admin : "");
	} else if (rs_store_setting_get(store, SET_UNLOCK, v, sizeof(v)) == RS_EOK && strcmp(v, "agent") == 0) {
		printf("%-20s none (regsign activate)\n", "activation");
	}
	return EXIT_OK;
}

int cmd_keystore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "shares-dir", required_argument, NULL, 's' }, { "holders", required_argument, NULL, 'n' },
		{ "threshold", required_argument, NULL, 'm' },  { "admins", required_argument, NULL, 'a' },
		{ "admin-threshold", required_argument, NULL, 'A' },
		{ "backup-holders", required_argument, NULL, 'b' },
		{ "backup-threshold", required_argument, NULL, 'B' }, { "module", required_argument, NULL, 'M' },
		{ "token", required_argument, NULL, 't' },      { "softhsm-dir", required_argument, NULL, 'S' },
		{ "backend", required_argument, NULL, 'k' },    { "existing", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },             { NULL, 0, NULL, 0 },
	};
	if (argc < 2 || (strcmp(argv[1], "init") != 0 && strcmp(argv[1], "show") != 0)) {
		bool asked = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
		help_keystore(asked ? stdout : stderr);
		return asked ? EXIT_OK : EXIT_INPUT;
	}
	bool init = strcmp(argv[1], "init") == 0;
	cli_custody_plan_t plan = { CLI_SOFTHSM_MODULE, CLI_TOKEN_LABEL, NULL, NULL, false, { 3, 2, 0 }, { 2, 1, 0 } };
	const char *backend = "pkcs11", *softhsm = NULL;
	bool module_given = false, existing = false;
	char pins[2][RS_SECRET_MAX + 2];
	int c;
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': plan.shares_dir = optarg; break;
		case 'n': if (!parse_count(optarg, &plan.n[RS_SHARE_ACTIVATION])) return EXIT_INPUT; break;
		case 'm': if (!parse_count(optarg, &plan.m[RS_SHARE_ACTIVATION])) return EXIT_INPUT; break;
		case 'a': if (!parse_count(optarg, &plan.n[RS_SHARE_ADMIN])) return EXIT_INPUT; break;
		case 'A': if (!parse_count(optarg, &plan.m[RS_SHARE_ADMIN])) return EXIT_INPUT; break;
		case 'b': if (!parse_count(optarg, &plan.n[RS_SHARE_BACKUP])) return EXIT_INPUT; break;
		case 'B': if (!parse_count(optarg, &plan.m[RS_SHARE_BACKUP])) return EXIT_INPUT; break;
		case 'M': plan.module = optarg; module_given = true; break;
		case 't': plan.token = optarg; break;
		case 'S': softhsm = optarg; break;
		case 'k': backend = optarg; break;
		case 'E': existing = true; break;
		case 'h': help_keystore(stdout); return EXIT_OK;
		default: help_keystore(stderr); return EXIT_INPUT;
		}
	}
	if (optind + 1 != argc) {
		cli_error("unexpected argument '%s'", argv[optind + 1]);
		return EXIT_INPUT;
	}
	if (plan.n[RS_SHARE_BACKUP] == 0) {
		plan.n[RS_SHARE_BACKUP] = plan.n[RS_SHARE_ACTIVATION];
		plan.m[RS_SHARE_BACKUP] = plan.m[RS_SHARE_ACTIVATION];
	}
	for (int k = 0; k < 3; k++)
		if (plan.m[k] > plan.n[k]) {
			cli_error("%s threshold %u is above the %u shares", rs_share_kind_name((rs_share_kind_t)k),
				  plan.m[k], plan.n[k]);
			return EXIT_INPUT;
		}
	if (strcmp(backend, "pkcs11") != 0 && strcmp(backend, "file") != 0) {
		cli_error("invalid --backend '%s' (pkcs11 or file)", backend);
		return EXIT_INPUT;
	}
	if (init && strcmp(backend, "pkcs11") == 0 && plan.shares_dir == NULL) {
		cli_error("--shares-dir is required: the key holders' shares go there");
		return EXIT_INPUT;
	}
	if (existing && (!read_pin("user PIN", pins[0]) || !read_pin("security officer PIN", pins[1])))
		return EXIT_INPUT;
	if (existing) {
		plan.pin = pins[0];
		plan.so_pin = pins[1];
	}
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != EXIT_OK)
		return code;
	if (!init) {
		code = keystore_show(store);
		rs_store_close(store);
		return code;
	}
	rs_diag_t diag;
	char have[16], hsmdir[4200];
	if (rs_store_begin(store, &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		rs_store_close(store);
		return EXIT_INTERNAL;
	}
	if (rs_store_setting_get(store, SET_KEYSTORE, have, sizeof(have)) == RS_EOK) {
		cli_error("the key store is set up already (%s); keys never move between stores", have);
		code = EXIT_INPUT;
	} else if (strcmp(backend, "file") == 0) {
		code = rs_store_setting_put(store, SET_KEYSTORE, "file", &diag) == RS_EOK ? EXIT_OK : EXIT_INTERNAL;
		if (code == EXIT_OK && !cli_audit(store, "keystore-init", NULL, 0, "ok", "key files in %s/keys",
						  rs_store_dir(store)))
			code = EXIT_INTERNAL;
	} else {
		/* The embedded SoftHSM2 token lives with the state unless told otherwise. */
		snprintf(hsmdir, sizeof(hsmdir), "%s/hsm", rs_store_dir(store));
		plan.softhsm_dir = softhsm != NULL ? softhsm : module_given || existing ? NULL : hsmdir;
		/* An initialised SoftHSM2 token is found where SOFTHSM2_CONF says, now and later. */
		const char *conf = getenv("SOFTHSM2_CONF");
		if (existing && conf != NULL && rs_store_setting_put(store, SET_SOFTHSM, conf, &diag) != RS_EOK)
			code = EXIT_INTERNAL;
		if (code == EXIT_OK)
			code = cli_custody_setup(store, &plan);
		if (code == EXIT_OK &&
		    !cli_audit(store, "keystore-init", NULL, 0, "ok", "token '%s' (module %s); activation %u of %u, "
			       "admin %u of %u, backup %u of %u; shares written to %s%s", plan.token, plan.module,
			       plan.m[0], plan.n[0], plan.m[1], plan.n[1], plan.m[2], plan.n[2], plan.shares_dir,
			       existing ? "; token initialised beforehand" : ""))
			code = EXIT_INTERNAL;
	}
	if (code == EXIT_OK && rs_store_commit(store, &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		code = EXIT_INTERNAL;
	}
	if (code != EXIT_OK)
		rs_store_rollback(store);
	else
		cli_audit_flush(store);
	rs_store_close(store);
	rs_wipe(pins, sizeof(pins));
	if (code == EXIT_OK)
		printf("key store: %s%s%s\n", backend, strcmp(backend, "pkcs11") == 0 ? ", token " : "",
		       strcmp(backend, "pkcs11") == 0 ? plan.token : "");
	return code;
}

/* ---- activate / deactivate ---- */

static int activation_status(const char *dir)
{
	cli_agent_reply_t r;
	if (cli_agent_ask(dir, "status", &r) != RS_EOK) {
		printf("not activated\n");
		return EXIT_BOGUS;
	}
	char until[15], admin[15];
	rs_time_format(r.until, until);
	rs_time_format(r.admin_until, admin);
	printf("activated until %s; key changes %s%s\n", until, r.admin_until ? "allowed until " : "not allowed",
	       r.admin_until ? admin : "");
	return EXIT_OK;
}

/* Check the secrets with the token, then leave an agent holding the PIN; returns an exit code. */
static int start_agent(rs_store_t *store, const char *pin, const char *so_pin, int64_t ttl)
{
	char module[4096], token[64];
	rs_diag_t diag;
	rs_hsm_t *h = NULL;
	cli_softhsm_env(store);
	int ret = rs_store_setting_get(store, SET_MODULE, module, sizeof(module)) == RS_EOK &&
			  rs_store_setting_get(store, SET_TOKEN, token, sizeof(token)) == RS_EOK
		  ? rs_hsm_open(module, token, &h, &diag)
		  : rs_diag(&diag, RS_EINVAL, "no token configured");
	if (ret == RS_EOK && so_pin != NULL)
		ret = rs_hsm_check_so(h, so_pin, &diag);
	if (ret == RS_EOK)
		ret = rs_hsm_login(h, pin, &diag);
	/* The module is finalised before the fork: the agent never touches the token. */
	rs_hsm_close(h);
	if (ret != RS_EOK) {
		cli_error("the token refused the activation: %s", diag.text);
		cli_audit_alone(store, "activate", NULL, 0, "refused", "%s", diag.text);
		return EXIT_INPUT;
	}
	const char *dir = rs_store_dir(store);
	cli_agent_reply_t old;
	cli_agent_ask(dir, "quit", &old);
	cli_agent_reply_t secret = { .until = (int64_t)time(NULL) + ttl };
	secret.admin_until = so_pin != NULL ? secret.until : 0;
	snprintf(secret.pin, sizeof(secret.pin), "%s", pin);
	int ready[2];
	if (pipe(ready) != 0) {
		cli_error("cannot start the agent: %m");
		return EXIT_INTERNAL;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		/* The agent: detached from the terminal and from whoever reads our output. */
		close(ready[0]);
		if (fork() != 0)
			_exit(0);
		freopen("/dev/null", "r", stdin);
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		cli_agent_run(dir, &secret, ready[1]);
	}
	rs_wipe(&secret, sizeof(secret));
	close(ready[1]);
	char ok = '0';
	if (pid < 0 || read(ready[0], &ok, 1) != 1 || ok != '1') {
		close(ready[0]);
		cli_error("cannot start the agent on %s/agent.sock", dir);
		return EXIT_INTERNAL;
	}
	close(ready[0]);
	waitpid(pid, NULL, 0);
	return EXIT_OK;
}

int cmd_activate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "share", required_argument, NULL, 's' }, { "admin-share", required_argument, NULL, 'a' },
		{ "for", required_argument, NULL, 'f' },   { "status", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
	};
	share_args_t shares = { 0 };
	int64_t ttl = 12 * 3600;
	bool status = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': if (!add_share(&shares, RS_SHARE_ACTIVATION, optarg)) return EXIT_INPUT; break;
		case 'a': if (!add_share(&shares, RS_SHARE_ADMIN, optarg)) return EXIT_INPUT; break;
		case 'f':
			if (rs_duration_parse(optarg, &ttl) != RS_EOK || ttl <= 0 || ttl > 30 * 86400) {
				cli_error("invalid --for '%s' (a duration up to 30d)", optarg);
				return EXIT_INPUT;
			}
			break;
		case 'S': status = true; break;
		case 'h': help_activate(stdout); return EXIT_OK;
		default: help_activate(stderr); return EXIT_INPUT;
		}
	}
	if (optind != argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return EXIT_INPUT;
	}
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != EXIT_OK)
		return code;
	char unlock[16] = "";
	rs_store_setting_get(store, SET_UNLOCK, unlock, sizeof(unlock));
	if (status) {
		code = activation_status(rs_store_dir(store));
	} else if (strcmp(unlock, "agent") != 0) {
		cli_error("this state directory has no m-of-n token (see regsign keystore init)");
		code = EXIT_INPUT;
	} else {
		uint8_t secret[RS_SECRET_MAX];
		size_t len;
		char pin[RS_SECRET_MAX + 1], so[RS_SECRET_MAX + 1];
		bool admin = shares.count[RS_SHARE_ADMIN] > 0;
		if (!combine(&shares, RS_SHARE_ACTIVATION, secret, &len, pin) ||
		    (admin && !combine(&shares, RS_SHARE_ADMIN, secret, &len, so))) {
			cli_audit_alone(store, "activate", NULL, 0, "refused", "shares did not combine");
			code = EXIT_INPUT;
		} else {
			code = start_agent(store, pin, admin ? so : NULL, ttl);
		}
		rs_wipe(secret, sizeof(secret));
		rs_wipe(pin, sizeof(pin));
		rs_wipe(so, sizeof(so));
		if (code == EXIT_OK) {
			char until[15];
			rs_time_format((int64_t)time(NULL) + ttl, until);
			cli_audit_alone(store, "activate", NULL, 0, "ok", "%zu activation share(s)%s; until %s",
					shares.count[RS_SHARE_ACTIVATION], admin ? " and admin share(s): key changes "
					"allowed" : "", until);
			printf("keys activated until %s%s\n", until, admin ? "; key changes allowed" : "");
		}
	}
	rs_store_close(store);
	return code;
}

int cmd_deactivate(int argc, char **argv)
{
	if (argc > 1) {
		help_activate(strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return strcmp(argv[1], "--help") == 0 ? EXIT_OK : EXIT_INPUT;
	}
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != EXIT_OK)
		return code;
	cli_agent_reply_t r;
	if (cli_agent_ask(rs_store_dir(store), "quit", &r) == RS_EOK) {
		cli_audit_alone(store, "deactivate", NULL, 0, "ok", "activation ended");
		printf("keys deactivated\n");
	} else {
		printf("not activated\n");
	}
	rs_store_close(store);
	return code;
}

/* ---- backup / restore ---- */

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
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/*
 * The officer PIN (text) and the backup key: from the shares given, or from
 * those the state directory keeps (the embedded default). Prints errors.
 */
static bool backup_secrets(rs_store_t *store, const share_args_t *shares, char *so, uint8_t bkey[RS_SECRET_MAX])
{
	uint8_t secret[RS_SECRET_MAX];
	size_t slen, blen;
	bool ok;
	if (shares->count[RS_SHARE_ADMIN] == 0 && shares->count[RS_SHARE_BACKUP] == 0 &&
	    cli_kept_secret(store, RS_SHARE_ADMIN, secret, &slen) == RS_EOK)
		ok = cli_secret_text(secret, slen, so) && cli_kept_secret(store, RS_SHARE_BACKUP, bkey, &blen) == RS_EOK;
	else
		ok = combine(shares, RS_SHARE_ADMIN, secret, &slen, so) && combine(shares, RS_SHARE_BACKUP, bkey, &blen, NULL);
	rs_wipe(secret, sizeof(secret));
	if (ok && blen != 32) {
		cli_error("the backup shares do not hold an AES-256 key");
		ok = false;
	}
	return ok;
}

static int backup(const char *path, const share_args_t *shares)
{
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != EXIT_OK)
		return code;
	backup_t b = { store, NULL, NULL, cli_now(), 0 };
	rs_diag_t diag = { "" };
	char *mem = NULL, so[RS_SECRET_MAX + 1];
	uint8_t bkey[RS_SECRET_MAX];
	size_t memlen = 0;
	if (!backup_secrets(store, shares, so, bkey)) {
		rs_store_close(store);
		return EXIT_INPUT;
	}
	int ret = rs_store_begin(store, &diag);
	if (ret == RS_EOK)
		ret = cli_hsm_backup(store, so, bkey, &b.hsm, &diag);
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
		code = cli_exit_code(ret);
	} else {
		cli_audit_flush(store);
		printf("%zu key(s) backed up to %s\n", b.keys, path);
	}
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

static int restore(const char *path, const share_args_t *shares, const char *module, const char *token,
		   const char *softhsm)
{
	backup_key_t *keys;
	size_t count;
	if (!read_backup(path, &keys, &count))
		return EXIT_INPUT;
	uint8_t pin[RS_SECRET_MAX], so[RS_SECRET_MAX], bkey[RS_SECRET_MAX];
	char pinx[RS_SECRET_MAX + 1], sox[RS_SECRET_MAX + 1];
	size_t plen, slen, blen;
	rs_store_t *store = NULL;
	int code = EXIT_INPUT;
	if (!combine(shares, RS_SHARE_ACTIVATION, pin, &plen, pinx) || !combine(shares, RS_SHARE_ADMIN, so, &slen, sox) ||
	    !combine(shares, RS_SHARE_BACKUP, bkey, &blen, NULL) || (code = cli_store(&store)) != EXIT_OK)
		goto out;
	code = EXIT_INPUT;
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
	if (module == NULL && rs_store_setting_get(store, SET_MODULE, mod, sizeof(mod)) != RS_EOK)
		snprintf(mod, sizeof(mod), "%s", CLI_SOFTHSM_MODULE);
	if (token == NULL && rs_store_setting_get(store, SET_TOKEN, tok, sizeof(tok)) != RS_EOK)
		snprintf(tok, sizeof(tok), "%s", CLI_TOKEN_LABEL);
	if (softhsm != NULL) {
		if (cli_softhsm_prepare(softhsm, false, conf, sizeof(conf)) != EXIT_OK)
			goto out;
	} else if (module == NULL && rs_store_setting_get(store, SET_SOFTHSM, conf, sizeof(conf)) == RS_EOK) {
		/* The embedded token's directory may be gone with the disaster; make it again. */
		char hsmdir[4400];
		snprintf(hsmdir, sizeof(hsmdir), "%.*s", (int)(strrchr(conf, '/') - conf), conf);
		if (access(conf, R_OK) != 0 && cli_softhsm_prepare(hsmdir, false, conf, sizeof(conf)) != EXIT_OK)
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
	if (ret == RS_EOK && (rs_store_setting_put(store, SET_MODULE, mod, &diag) != RS_EOK ||
			      rs_store_setting_put(store, SET_TOKEN, tok, &diag) != RS_EOK ||
			      (conf[0] && rs_store_setting_put(store, SET_SOFTHSM, conf, &diag) != RS_EOK)))
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
		code = EXIT_OK;
	}
out:
	if (store != NULL && code != EXIT_OK)
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
		{ "help", no_argument, NULL, 'h' },              { NULL, 0, NULL, 0 },
	};
	share_args_t shares = { 0 };
	const char *out = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'a': if (!add_share(&shares, RS_SHARE_ADMIN, optarg)) return EXIT_INPUT; break;
		case 'b': if (!add_share(&shares, RS_SHARE_BACKUP, optarg)) return EXIT_INPUT; break;
		case 'N': if (!cli_set_now(optarg)) return EXIT_INPUT; break;
		case 'h': help_backup(stdout); return EXIT_OK;
		default: help_backup(stderr); return EXIT_INPUT;
		}
	}
	if (out == NULL || optind != argc) {
		cli_error(out == NULL ? "--out is required" : "unexpected argument");
		return EXIT_INPUT;
	}
	return backup(out, &shares);
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
	share_args_t shares = { 0 };
	const char *in = NULL, *module = NULL, *token = NULL, *softhsm = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': in = optarg; break;
		case 's': if (!add_share(&shares, RS_SHARE_ACTIVATION, optarg)) return EXIT_INPUT; break;
		case 'a': if (!add_share(&shares, RS_SHARE_ADMIN, optarg)) return EXIT_INPUT; break;
		case 'b': if (!add_share(&shares, RS_SHARE_BACKUP, optarg)) return EXIT_INPUT; break;
		case 'M': module = optarg; break;
		case 't': token = optarg; break;
		case 'S': softhsm = optarg; break;
		case 'N': if (!cli_set_now(optarg)) return EXIT_INPUT; break;
		case 'h': help_backup(stdout); return EXIT_OK;
		default: help_backup(stderr); return EXIT_INPUT;
		}
	}
	if (in == NULL || optind != argc) {
		cli_error(in == NULL ? "--in is required" : "unexpected argument");
		return EXIT_INPUT;
	}
	return restore(in, &shares, module, token, softhsm);
}
