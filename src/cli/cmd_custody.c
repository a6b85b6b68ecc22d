/*
 * regsign keystore init|show, activate, deactivate: the key custody of the
 * statements (sections 4.2, 5.2): keys made in a token, used only after m of
 * n key holders brought their shares, changed only with an admin share too.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "custody.h"
#include "managed.h"

static void help_keystore(FILE *f)
{
	fprintf(f, "usage: regsign [--state DIR] keystore init --shares-dir DIR [--holders N --threshold M]\n"
		   "                 [--admins N --admin-threshold M] [--backup-holders N --backup-threshold M]\n"
		   "                 [--module PATH --token LABEL] [--softhsm-dir DIR]\n"
		   "       regsign [--state DIR] keystore init --existing --module PATH --token LABEL --shares-dir DIR ...\n"
		   "       regsign [--state DIR] keystore init --backend file\n"
		   "       regsign [--state DIR] keystore show | list\n\n"
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
		   "'--backend file' keeps keys as BIND key files in DIR/keys (mode 0600) instead.\n"
		   "show prints the settings and the activation; list every key pair in the token\n"
		   "beside what the state says of it (no PIN needed: public objects only).\n\n"
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
	int n = cli_read_secret(what, out, RS_SECRET_MAX + 2);
	if (n < 1 || n > RS_SECRET_MAX) {
		rs_wipe(out, RS_SECRET_MAX + 2);
		cli_error("--existing reads the token's %s from standard input: one line of 1 to %d characters", what,
			  RS_SECRET_MAX);
		return false;
	}
	return true;
}

static int keystore_show(rs_store_t *store)
{
	char v[4096];
	static const char *const names[] = { RS_SET_KEYSTORE, RS_SET_MODULE, RS_SET_TOKEN, RS_SET_SOFTHSM, RS_SET_UNLOCK, RS_SET_SYSLOG };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (rs_store_setting_get(store, names[i], v, sizeof(v)) == RS_EOK)
			printf("%-20s %s\n", names[i], v[0] ? v : "-");
	rs_agent_reply_t r;
	if (rs_agent_ask(rs_store_dir(store), "status", &r) == RS_EOK) {
		char until[15], admin[15];
		rs_time_format(r.until, until);
		rs_time_format(r.admin_until, admin);
		printf("%-20s until %s, key changes %s%s\n", "activation", until, r.admin_until ? "until " : "no",
		       r.admin_until ? admin : "");
	} else if (rs_store_setting_get(store, RS_SET_UNLOCK, v, sizeof(v)) == RS_EOK && strcmp(v, "agent") == 0) {
		printf("%-20s none (regsign activate)\n", "activation");
	}
	return RS_EOK;
}

typedef struct {
	rs_store_t *store;
	rs_zone_rec_t *zones;
	rs_keyset_t *sets;
	size_t nzones, keys, strays;
} listing_t;

/* One key pair of the token, with what the state says of it. */
static void list_one(void *arg, const char *locator, const char *label)
{
	listing_t *l = arg;
	for (size_t i = 0; i < l->nzones; i++)
		for (size_t j = 0; j < l->sets[i].count; j++) {
			const rs_keystate_t *k = &l->sets[i].keys[j];
			if (strcmp(k->locator, locator) != 0)
				continue;
			const char *state = k->goal == RS_GOAL_ACTIVE ? "in use"
					    : k->goal == RS_GOAL_DEAD  ? "removed, to destroy"
								       : "retiring";
			printf("%-24s %-4s %5u %-16s %-20s %s\n", l->zones[i].name, rs_role_name(k->role), k->tag,
			       rs_alg_name(k->alg), state, locator);
			l->keys++;
			return;
		}
	/* Set aside by a run (regsign key quarantine): the operator's to decide, and said so. */
	rs_quarantine_rec_t q;
	bool held = rs_store_quarantine_get(l->store, locator, &q) == RS_EOK;
	printf("%-24s %-4s %5s %-16s %-20s %s\n", held ? q.zone : label, "-", "-", "-",
	       held ? "quarantined" : "not in the state", locator);
	l->strays++;
}

/* The token's key pairs beside the state's keys: what an auditor compares. */
static int keystore_list(rs_store_t *store)
{
	listing_t l = { .store = store };
	rs_diag_t diag;
	rs_hsm_t *h = NULL;
	int ret = rs_site_token(store, RS_ACCESS_PUBLIC, NULL, NULL, &h, &diag);
	if (ret == RS_EOK && rs_store_zone_list(store, &l.zones, &l.nzones) == RS_EOK &&
	    (l.sets = calloc(l.nzones + 1, sizeof(*l.sets))) != NULL) {
		for (size_t i = 0; ret == RS_EOK && i < l.nzones; i++)
			ret = rs_store_keys_load(store, l.zones[i].name, &l.sets[i]);
		printf("%-24s %-4s %5s %-16s %-20s %s\n", "zone", "role", "tag", "algorithm", "state", "locator");
		if (ret == RS_EOK)
			ret = rs_hsm_list(h, list_one, &l, &diag);
		if (ret == RS_EOK)
			printf("%zu key pair(s) in the token, %zu of them not in the state\n", l.keys + l.strays,
			       l.strays);
	} else if (ret == RS_EOK) {
		ret = rs_diag(&diag, RS_EIO, "cannot read the zones");
	}
	for (size_t i = 0; l.sets != NULL && i < l.nzones; i++)
		rs_keyset_clear(&l.sets[i]);
	free(l.sets);
	free(l.zones);
	rs_hsm_close(h);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		return ret;
	}
	return RS_EOK;
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
	if (argc < 2 || (strcmp(argv[1], "init") != 0 && strcmp(argv[1], "show") != 0 && strcmp(argv[1], "list") != 0)) {
		bool asked = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
		help_keystore(asked ? stdout : stderr);
		return asked ? RS_EOK : RS_EINVAL;
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
		case 'n': if (!parse_count(optarg, &plan.n[RS_SHARE_ACTIVATION])) return RS_EINVAL; break;
		case 'm': if (!parse_count(optarg, &plan.m[RS_SHARE_ACTIVATION])) return RS_EINVAL; break;
		case 'a': if (!parse_count(optarg, &plan.n[RS_SHARE_ADMIN])) return RS_EINVAL; break;
		case 'A': if (!parse_count(optarg, &plan.m[RS_SHARE_ADMIN])) return RS_EINVAL; break;
		case 'b': if (!parse_count(optarg, &plan.n[RS_SHARE_BACKUP])) return RS_EINVAL; break;
		case 'B': if (!parse_count(optarg, &plan.m[RS_SHARE_BACKUP])) return RS_EINVAL; break;
		case 'M': plan.module = optarg; module_given = true; break;
		case 't': plan.token = optarg; break;
		case 'S': softhsm = optarg; break;
		case 'k': backend = optarg; break;
		case 'E': existing = true; break;
		case 'h': help_keystore(stdout); return RS_EOK;
		default: help_keystore(stderr); return RS_EINVAL;
		}
	}
	if (optind + 1 != argc) {
		cli_error("unexpected argument '%s'", argv[optind + 1]);
		return RS_EINVAL;
	}
	if (plan.n[RS_SHARE_BACKUP] == 0) {
		plan.n[RS_SHARE_BACKUP] = plan.n[RS_SHARE_ACTIVATION];
		plan.m[RS_SHARE_BACKUP] = plan.m[RS_SHARE_ACTIVATION];
	}
	for (int k = 0; k < 3; k++)
		if (plan.m[k] > plan.n[k]) {
			cli_error("%s threshold %u is above the %u shares", rs_share_kind_name((rs_share_kind_t)k),
				  plan.m[k], plan.n[k]);
			return RS_EINVAL;
		}
	if (strcmp(backend, "pkcs11") != 0 && strcmp(backend, "file") != 0) {
		cli_error("invalid --backend '%s' (pkcs11 or file)", backend);
		return RS_EINVAL;
	}
	if (init && strcmp(backend, "pkcs11") == 0 && plan.shares_dir == NULL) {
		cli_error("--shares-dir is required: the key holders' shares go there");
		return RS_EINVAL;
	}
	if (existing && (!read_pin("user PIN", pins[0]) || !read_pin("security officer PIN", pins[1])))
		return RS_EINVAL;
	if (existing) {
		plan.pin = pins[0];
		plan.so_pin = pins[1];
	}
	rs_store_t *store;
	int code = init ? cli_store_create(&store) : cli_store(&store);
	if (code != RS_EOK)
		return code;
	if (!init) {
		code = strcmp(argv[1], "list") == 0 ? keystore_list(store) : keystore_show(store);
		rs_store_close(store);
		return code;
	}
	rs_diag_t diag;
	char have[16], hsmdir[4200];
	if (rs_store_begin(store, &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		rs_store_close(store);
		return CLI_EINTERNAL;
	}
	if (rs_store_setting_get(store, RS_SET_KEYSTORE, have, sizeof(have)) == RS_EOK) {
		cli_error("the key store is set up already (%s); keys never move between stores", have);
		code = RS_EINVAL;
	} else if (strcmp(backend, "file") == 0) {
		code = rs_store_setting_put(store, RS_SET_KEYSTORE, "file", &diag) == RS_EOK ? RS_EOK : CLI_EINTERNAL;
		if (code == RS_EOK && !cli_audit(store, "keystore-init", NULL, 0, "ok", "key files in %s/keys",
						  rs_store_dir(store)))
			code = CLI_EINTERNAL;
	} else {
		/* The embedded SoftHSM2 token lives with the state unless told otherwise. */
		snprintf(hsmdir, sizeof(hsmdir), "%s/hsm", rs_store_dir(store));
		plan.softhsm_dir = softhsm != NULL ? softhsm : module_given || existing ? NULL : hsmdir;
		/* An initialised SoftHSM2 token is found where SOFTHSM2_CONF says, now and later. */
		const char *conf = getenv("SOFTHSM2_CONF");
		if (existing && conf != NULL && rs_store_setting_put(store, RS_SET_SOFTHSM, conf, &diag) != RS_EOK)
			code = CLI_EINTERNAL;
		if (code == RS_EOK)
			code = cli_custody_setup(store, &plan);
		if (code == RS_EOK &&
		    !cli_audit(store, "keystore-init", NULL, 0, "ok", "token '%s' (module %s); activation %u of %u, "
			       "admin %u of %u, backup %u of %u; shares written to %s%s", plan.token, plan.module,
			       plan.m[0], plan.n[0], plan.m[1], plan.n[1], plan.m[2], plan.n[2], plan.shares_dir,
			       existing ? "; token initialised beforehand" : ""))
			code = CLI_EINTERNAL;
	}
	if (code == RS_EOK && rs_store_commit(store, &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		code = CLI_EINTERNAL;
	}
	if (code != RS_EOK)
		rs_store_rollback(store);
	else
		cli_audit_flush(store);
	rs_store_close(store);
	rs_wipe(pins, sizeof(pins));
	if (code == RS_EOK)
		printf("key store: %s%s%s\n", backend, strcmp(backend, "pkcs11") == 0 ? ", token " : "",
		       strcmp(backend, "pkcs11") == 0 ? plan.token : "");
	return code;
}

/* ---- activate / deactivate ---- */

static int activation_status(const char *dir)
{
	rs_agent_reply_t r;
	if (rs_agent_ask(dir, "status", &r) != RS_EOK) {
		printf("not activated\n");
		return RS_EBOGUS;
	}
	char until[15], admin[15];
	rs_time_format(r.until, until);
	rs_time_format(r.admin_until, admin);
	printf("activated until %s; key changes %s%s\n", until, r.admin_until ? "allowed until " : "not allowed",
	       r.admin_until ? admin : "");
	return RS_EOK;
}

/*
 * Check the secrets with the token, then leave an agent logged in to it,
 * serving it (never the PIN) on DIR/agent.sock; returns a code. The agent
 * wipes pin and so_pin (RS_SECRET_MAX + 1 each): its copy of the caller's
 * stack must not keep them.
 */
static int start_agent(rs_store_t *store, char *pin, char *so_pin, int64_t ttl)
{
	char module[4096], token[64];
	rs_diag_t diag;
	rs_hsm_t *h = NULL;
	rs_site_softhsm_env(store);
	int ret = rs_store_setting_get(store, RS_SET_MODULE, module, sizeof(module)) == RS_EOK &&
			  rs_store_setting_get(store, RS_SET_TOKEN, token, sizeof(token)) == RS_EOK
		  ? rs_hsm_open(module, token, &h, &diag)
		  : rs_diag(&diag, RS_EINVAL, "no token configured");
	if (ret == RS_EOK && so_pin != NULL)
		ret = rs_hsm_check_so(h, so_pin, &diag);
	if (ret == RS_EOK)
		ret = rs_hsm_login(h, pin, &diag);
	/* The module is finalised before the fork: the agent loads it again (PKCS#11 does not survive a fork). */
	rs_hsm_close(h);
	if (ret != RS_EOK) {
		cli_error("the token refused the activation: %s", diag.text);
		cli_audit_alone(store, "activate", NULL, 0, "refused", "%s", diag.text);
		return RS_EINVAL;
	}
	const char *dir = rs_store_dir(store);
	rs_agent_reply_t old;
	/* A new activation replaces the old one whole, an admin window included: say so. */
	if (rs_agent_ask(dir, "quit", &old) == RS_EOK && old.admin_until > (int64_t)time(NULL) && so_pin == NULL)
		printf("the admin activation ends: key changes are disabled until key holders activate with "
		       "--admin-share again\n");
	static cli_agent_plan_t plan;
	plan = (cli_agent_plan_t){ .module = module, .token = token, .until = (int64_t)time(NULL) + ttl };
	plan.admin_until = so_pin != NULL ? plan.until : 0;
	snprintf(plan.pin, sizeof(plan.pin), "%s", pin);
	int ready[2];
	if (pipe(ready) != 0) {
		cli_error("cannot start the agent: %m");
		return CLI_EINTERNAL;
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
		rs_wipe(pin, RS_SECRET_MAX + 1);
		if (so_pin != NULL)
			rs_wipe(so_pin, RS_SECRET_MAX + 1);
		/* The checks above logged in down there: cli_agent_run's frame must not keep it. */
		cli_scrub_stack();
		cli_agent_run(dir, &plan, ready[1]);
	}
	rs_wipe(&plan, sizeof(plan));
	close(ready[1]);
	char ok = '0';
	if (pid < 0 || read(ready[0], &ok, 1) != 1 || ok != '1') {
		close(ready[0]);
		cli_error("cannot start the agent on %s/agent.sock", dir);
		return CLI_EINTERNAL;
	}
	close(ready[0]);
	waitpid(pid, NULL, 0);
	return RS_EOK;
}

int cmd_activate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "share", required_argument, NULL, 's' }, { "admin-share", required_argument, NULL, 'a' },
		{ "for", required_argument, NULL, 'f' },   { "status", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
	};
	cli_shares_t shares = { 0 };
	int64_t ttl = 12 * 3600;
	bool status = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': if (!cli_shares_add(&shares, RS_SHARE_ACTIVATION, optarg)) return RS_EINVAL; break;
		case 'a': if (!cli_shares_add(&shares, RS_SHARE_ADMIN, optarg)) return RS_EINVAL; break;
		case 'f':
			if (rs_duration_parse(optarg, &ttl) != RS_EOK || ttl <= 0 || ttl > 30 * 86400) {
				cli_error("invalid --for '%s' (a duration up to 30d)", optarg);
				return RS_EINVAL;
			}
			break;
		case 'S': status = true; break;
		case 'h': help_activate(stdout); return RS_EOK;
		default: help_activate(stderr); return RS_EINVAL;
		}
	}
	if (optind != argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return RS_EINVAL;
	}
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != RS_EOK)
		return code;
	char unlock[16] = "";
	rs_store_setting_get(store, RS_SET_UNLOCK, unlock, sizeof(unlock));
	if (status) {
		code = activation_status(rs_store_dir(store));
	} else if (strcmp(unlock, "agent") != 0) {
		cli_error("this state directory has no m-of-n token (see regsign keystore init)");
		code = RS_EINVAL;
	} else {
		uint8_t secret[RS_SECRET_MAX];
		size_t len;
		char pin[RS_SECRET_MAX + 1], so[RS_SECRET_MAX + 1];
		bool admin = shares.count[RS_SHARE_ADMIN] > 0;
		if (!cli_shares_check_set(store, &shares, RS_SHARE_ACTIVATION) ||
		    !cli_shares_check_set(store, &shares, RS_SHARE_ADMIN) ||
		    !cli_shares_combine(&shares, RS_SHARE_ACTIVATION, secret, &len, pin) ||
		    (admin && !cli_shares_combine(&shares, RS_SHARE_ADMIN, secret, &len, so))) {
			cli_audit_alone(store, "activate", NULL, 0, "refused", "shares did not combine");
			code = RS_EINVAL;
		} else {
			rs_wipe(secret, sizeof(secret));
			/* Combining left copies where start_agent's frame (and the agent's copy of it) goes. */
			cli_scrub_stack();
			code = start_agent(store, pin, admin ? so : NULL, ttl);
		}
		rs_wipe(secret, sizeof(secret));
		rs_wipe(pin, sizeof(pin));
		rs_wipe(so, sizeof(so));
		if (code == RS_EOK) {
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
		return strcmp(argv[1], "--help") == 0 ? RS_EOK : RS_EINVAL;
	}
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != RS_EOK)
		return code;
	rs_agent_reply_t r;
	if (rs_agent_ask(rs_store_dir(store), "quit", &r) == RS_EOK) {
		cli_audit_alone(store, "deactivate", NULL, 0, "ok", "activation ended");
		printf("keys deactivated\n");
	} else {
		printf("not activated\n");
	}
	rs_store_close(store);
	return code;
}
