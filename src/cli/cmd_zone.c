/* regsign zone add|list|show|remove|set-policy: the zones regsign manages. */
#include <arpa/inet.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody.h"
#include "managed.h"
#include "regsign/crypto.h"
#include "regsign/zone.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign [--state DIR] zone add ZONE --policy NAME --input ZONEFILE\n"
		"                 [--parent-agent ADDR[@PORT]]... [--now T]\n"
		"       regsign [--state DIR] zone list\n"
		"       regsign [--state DIR] zone show ZONE [--now T]\n"
		"       regsign [--state DIR] zone set-policy ZONE NAME [--now T]\n"
		"       regsign [--state DIR] zone set-parent ZONE [ADDR[@PORT]]...\n"
		"       regsign [--state DIR] zone remove ZONE\n"
		"\n"
		"add      starts managing ZONE: checks ZONEFILE (the unsigned zone) and the policy\n"
		"         against it, stores both, and makes the first keys. Sign with\n"
		"         'regsign sign --zone ZONE --out FILE'.\n"
		"show     the zone's settings, keys and recent history.\n"
		"set-policy  switches to another policy; a new algorithm starts an algorithm\n"
		"         rollover (RFC 6781 4.1.4) at the next enforce.\n"
		"set-parent  the parent's servers to ask for the zone's DS (up to 8): every enforce\n"
		"         then confirms DS changes that all of them show, as ds-seen/ds-gone would.\n"
		"         No address: the operator confirms.\n"
		"remove   stops managing ZONE and destroys its keys.\n"
		"\n"
		"examples:\n"
		"  regsign --state /var/lib/regsign zone add cloud. --policy cloud-tld --input cloud.zone\n"
		"  regsign zone set-policy cloud. default\n");
}

/* Read and check a zone file against the policy; prints the error. */
static int check_zone_file(const uint8_t *origin, const char *path, const rs_policy_t *policy,
			   uint32_t *soa_ttl, uint32_t *minimum)
{
	rs_zone_t *zone = NULL;
	rs_zone_opts_t zo = { 0 };
	rs_diag_t diag;
	int ret = rs_zone_new(origin, &zo, &zone);
	if (ret == RS_EOK)
		ret = rs_zone_read(zone, path, &diag);
	else
		rs_diag(&diag, ret, "%s", rs_strerror(ret));
	if (ret == RS_EOK)
		ret = rs_zone_finish(zone, &diag);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		rs_zone_free(zone);
		return cli_exit_code(ret);
	}
	const rs_rr_t *soa = rs_zone_soa(zone);
	*soa_ttl = soa->ttl;
	*minimum = rs_get32(soa->rdata + soa->rdlen - 4);
	int code = cli_check_ttls(zone, policy);
	rs_zone_free(zone);
	return code;
}

/* Append a parent server after checking its form; prints the error. */
static bool add_agent(char *list, size_t max, const char *agent)
{
	char host[64];
	const char *at = strchr(agent, '@');
	size_t len = at ? (size_t)(at - agent) : strlen(agent);
	unsigned char buf[16];
	char *end = NULL;
	unsigned long port = at ? strtoul(at + 1, &end, 10) : 53;
	if (len == 0 || len >= sizeof(host) || (at && (*end != '\0' || port == 0 || port > 65535))) {
		cli_error("'%s' is not ADDR or ADDR@PORT", agent);
		return false;
	}
	memcpy(host, agent, len);
	host[len] = '\0';
	if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1) {
		cli_error("'%s' is not an IPv4 or IPv6 address", host);
		return false;
	}
	size_t used = strlen(list), len_agent = strlen(agent);
	if (used + len_agent + 2 > max) {
		cli_error("too many parent agents");
		return false;
	}
	if (used > 0)
		list[used++] = ' ';
	memcpy(list + used, agent, len_agent + 1);
	return true;
}

static int zone_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' }, { "input", required_argument, NULL, 'i' },
		{ "parent-agent", required_argument, NULL, 'a' },
		{ "now", required_argument, NULL, 'N' },    { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	const char *policy_name = NULL, *input = NULL;
	char agents[512] = "";
	bool quiet = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:i:a:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (!add_agent(agents, sizeof(agents), optarg))
				return EXIT_INPUT;
			break;
		case 'p': policy_name = optarg; break;
		case 'i': input = optarg; break;
		case 'N': if (!cli_set_now(optarg)) return EXIT_INPUT; break;
		case 'q': quiet = true; break;
		case 'h': help(stdout); return EXIT_OK;
		default: help(stderr); return EXIT_INPUT;
		}
	}
	if (optind != argc - 1 || policy_name == NULL || input == NULL) {
		cli_error("zone add needs ZONE, --policy NAME and --input ZONEFILE");
		return EXIT_INPUT;
	}
	rs_zone_rec_t rec = { 0 };
	uint8_t origin[255];
	if (!cli_zone_name(argv[optind], rec.name, origin))
		return EXIT_INPUT;
	char *abs = realpath(input, NULL);
	if (abs == NULL || strlen(abs) >= sizeof(rec.input)) {
		cli_error("cannot find zone file '%s'", input);
		free(abs);
		return EXIT_INPUT;
	}
	snprintf(rec.input, sizeof(rec.input), "%s", abs);
	snprintf(rec.parent_agents, sizeof(rec.parent_agents), "%s", agents);
	free(abs);
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != EXIT_OK)
		return code;
	rs_diag_t diag;
	rs_policy_t policy;
	char *text = NULL;
	code = cli_policy_get(store, policy_name, &policy, &text);
	if (code == EXIT_OK)
		code = check_zone_file(origin, rec.input, &policy, &rec.soa_ttl, &rec.soa_minimum);
	if (code == EXIT_OK && rs_policy_check(&policy, rec.soa_ttl, &diag) != RS_EOK) {
		cli_error("policy '%s' cannot be kept for %s: %s", policy_name, rec.name, diag.text);
		code = EXIT_INPUT;
	}
	int64_t now = cli_now();
	snprintf(rec.policy, sizeof(rec.policy), "%s", policy_name);
	rec.max_ttl = policy.max_zone_ttl;
	rec.added = now;
	rec.next_event = now;
	int ret = RS_EOK;
	if (code == EXIT_OK && (ret = rs_store_begin(store, &diag)) == RS_EOK) {
		/* The zone keeps the policy text it was added with: a later release's shipped policy changes nothing. */
		char *stored = NULL;
		if (rs_store_policy_get(store, policy_name, &stored) == RS_ENOENT)
			ret = rs_store_policy_put(store, policy_name, text, now, &diag);
		free(stored);
		if (ret == RS_EOK)
			ret = rs_store_zone_add(store, &rec, &diag);
		char line[200];
		snprintf(line, sizeof(line), "zone added with policy %s, input %.100s", policy_name, rec.input);
		if (ret == RS_EOK)
			ret = rs_store_history_add(store, rec.name, now, 0, line);
		if (ret == RS_EOK && !cli_audit(store, "zone-add", rec.name, 0, "ok", "%s", line))
			ret = RS_EIO;
		if (ret == RS_EOK)
			ret = rs_store_commit(store, &diag);
		else
			rs_store_rollback(store);
		if (ret == RS_EOK)
			cli_audit_flush(store);
	}
	free(text);
	rs_store_close(store);
	if (code != EXIT_OK)
		return code;
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		return cli_exit_code(ret);
	}
	if (!quiet)
		printf("zone %s added with policy %s (input %s)\n", rec.name, rec.policy, rec.input);
	/* The first keys, at once, so that key list and sign have something to show. */
	cli_zone_t z;
	code = cli_zone_step(&z, cli_zone_open(&z, rec.name, quiet), false);
	cli_zone_close(&z);
	return code;
}

static void when_text(int64_t t, char *out, size_t max)
{
	if (t == 0 || t == INT64_MAX) {
		snprintf(out, max, "%s", t == 0 ? "never" : "operator");
		return;
	}
	char ts[15];
	rs_time_format(t, ts);
	snprintf(out, max, "%s", ts);
}

static int zone_list(void)
{
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != EXIT_OK)
		return code;
	rs_zone_rec_t *zones;
	size_t n;
	if (rs_store_zone_list(store, &zones, &n) != RS_EOK) {
		cli_error("cannot list zones");
		rs_store_close(store);
		return EXIT_INTERNAL;
	}
	printf("%-30s %-16s %-14s %-14s %s\n", "zone", "policy", "last signed", "next event", "serial");
	for (size_t i = 0; i < n; i++) {
		char a[20], b[20];
		when_text(zones[i].last_sign, a, sizeof(a));
		when_text(zones[i].next_event, b, sizeof(b));
		printf("%-30s %-16s %-14s %-14s %u\n", zones[i].name, zones[i].policy, a, b, zones[i].serial);
	}
	free(zones);
	rs_store_close(store);
	return EXIT_OK;
}

static void print_history(void *arg, int64_t when, uint16_t tag, const char *what)
{
	(void)tag;
	size_t *left = arg;
	if (*left == 0)
		return;
	(*left)--;
	char ts[15];
	rs_time_format(when, ts);
	printf("  %s %s\n", ts, what);
}

static void count_history(void *arg, int64_t when, uint16_t tag, const char *what)
{
	(void)when, (void)tag, (void)what;
	(*(size_t *)arg)++;
}

static void skip_history(void *arg, int64_t when, uint16_t tag, const char *what)
{
	size_t *skip = arg;
	if (skip[0] > 0) {
		skip[0]--;
		return;
	}
	print_history(&skip[1], when, tag, what);
}

static int zone_show(const char *name)
{
	cli_zone_t z;
	int code = cli_zone_open(&z, name, true);
	if (code == EXIT_OK) {
		char a[20], b[20], c[20];
		when_text(z.zone.added, a, sizeof(a));
		when_text(z.zone.last_sign, b, sizeof(b));
		when_text(z.zone.next_event, c, sizeof(c));
		printf("zone        %s\npolicy      %s (%s)\ninput       %s\nSOA TTL     %u\nserial      %u\n"
		       "added       %s\nlast signed %s\nnext event  %s\nparent      %s\nkeys:\n",
		       z.zone.name, z.zone.policy, z.policy.description, z.zone.input, z.zone.soa_ttl,
		       z.zone.serial, a, b, c, z.zone.parent_agents[0] ? z.zone.parent_agents : "(operator confirms DS)");
		for (size_t i = 0; i < z.keys.count; i++) {
			const rs_keystate_t *k = &z.keys.keys[i];
			if (k->goal != RS_GOAL_DEAD)
				printf("  %s %5u %s %s\n", rs_role_name(k->role), k->tag, rs_alg_name(k->alg),
				       rs_goal_name(k->goal));
		}
		size_t total = 0;
		rs_store_history(z.store, z.zone.name, count_history, &total);
		size_t skip[2] = { total > 20 ? total - 20 : 0, 20 };
		printf("history (last %zu of %zu):\n", total - skip[0], total);
		rs_store_history(z.store, z.zone.name, skip_history, skip);
	}
	cli_zone_close(&z);
	return code;
}

static int zone_set_policy(const char *name, const char *policy_name)
{
	cli_zone_t z;
	int code = cli_zone_open(&z, name, false);
	rs_policy_t policy;
	char *text = NULL;
	rs_diag_t diag;
	if (code == EXIT_OK)
		code = cli_policy_get(z.store, policy_name, &policy, &text);
	if (code == EXIT_OK && rs_policy_check(&policy, z.zone.soa_ttl, &diag) != RS_EOK) {
		cli_error("policy '%s' cannot be kept for %s: %s", policy_name, z.zone.name, diag.text);
		code = EXIT_INPUT;
	}
	char *stored = NULL;
	if (code == EXIT_OK && rs_store_policy_get(z.store, policy_name, &stored) == RS_ENOENT &&
	    rs_store_policy_put(z.store, policy_name, text, z.now, &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		code = EXIT_INTERNAL;
	}
	free(stored);
	free(text);
	if (code == EXIT_OK) {
		cli_zone_tell(&z, "policy-change", 0, "policy changed from %s to %s", z.zone.policy, policy_name);
		snprintf(z.zone.policy, sizeof(z.zone.policy), "%s", policy_name);
		z.zone.next_event = z.now;
		code = cli_zone_commit(&z);
	}
	cli_zone_close(&z);
	return code;
}

static int zone_set_parent(const char *name, char **agents, int n)
{
	char list[sizeof(((rs_zone_rec_t *)0)->parent_agents)] = "";
	for (int i = 0; i < n; i++)
		if (!add_agent(list, sizeof(list), agents[i]))
			return EXIT_INPUT;
	cli_zone_t z;
	int code = cli_zone_open(&z, name, false);
	if (code == EXIT_OK) {
		snprintf(z.zone.parent_agents, sizeof(z.zone.parent_agents), "%s", list);
		cli_zone_tell(&z, "zone-config", 0, "parent agents: %s",
			      list[0] ? list : "none (the operator confirms DS changes)");
		code = cli_zone_commit(&z);
	}
	cli_zone_close(&z);
	return code;
}

static int zone_remove(const char *name)
{
	cli_zone_t z;
	int code = cli_zone_open(&z, name, true);
	rs_diag_t diag;
	bool tokens = false;
	for (size_t i = 0; code == EXIT_OK && i < z.keys.count; i++)
		tokens = tokens || (z.keys.keys[i].goal != RS_GOAL_DEAD && cli_locator_is_token(z.keys.keys[i].locator));
	rs_hsm_t *hsm;
	if (tokens && cli_hsm(z.store, CLI_HSM_ADMIN, &hsm, &diag) != RS_EOK) {
		cli_error("%s: removing the zone destroys its keys: %s", z.zone.name, diag.text);
		code = EXIT_INPUT;
	}
	if (code == EXIT_OK) {
		/* Every key of the zone is destroyed: a key belongs to one zone only, forever. */
		for (size_t i = 0; i < z.keys.count; i++)
			z.keys.keys[i].goal = RS_GOAL_DEAD;
		if (rs_store_zone_remove(z.store, z.zone.name, &diag) != RS_EOK ||
		    rs_store_history_add(z.store, z.zone.name, z.now, 0, "zone removed; keys destroyed") != RS_EOK ||
		    !cli_audit(z.store, "zone-remove", z.zone.name, 0, "ok", "zone removed; %zu key(s) to destroy",
			       z.keys.count) ||
		    rs_store_commit(z.store, &diag) != RS_EOK) {
			cli_error("cannot remove %s", z.zone.name);
			code = EXIT_INTERNAL;
		} else {
			z.in_tx = false;
			printf("zone %s removed; %zu key(s) destroyed\n", z.zone.name, z.keys.count);
		}
	}
	if (code == EXIT_OK)
		cli_zone_destroy_keys(&z);
	cli_zone_close(&z);
	return code;
}

int cmd_zone(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	if (sub == NULL || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		help(sub == NULL ? stderr : stdout);
		return sub == NULL ? EXIT_INPUT : EXIT_OK;
	}
	argc--, argv++;
	if (strcmp(sub, "add") == 0)
		return zone_add(argc, argv);
	if (strcmp(sub, "set-parent") == 0 && argc >= 2 && argv[1][0] != '-')
		return zone_set_parent(argv[1], argv + 2, argc - 2);
	/* The other subcommands take positional arguments, --now and --help. */
	const char *args[2] = { NULL, NULL };
	int nargs = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			help(stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
			if (!cli_set_now(argv[++i]))
				return EXIT_INPUT;
		} else if (nargs < 2 && argv[i][0] != '-') {
			args[nargs++] = argv[i];
		} else {
			cli_error("unexpected argument '%s'", argv[i]);
			return EXIT_INPUT;
		}
	}
	if (strcmp(sub, "list") == 0 && nargs == 0)
		return zone_list();
	if (strcmp(sub, "show") == 0 && nargs == 1)
		return zone_show(args[0]);
	if (strcmp(sub, "remove") == 0 && nargs == 1)
		return zone_remove(args[0]);
	if (strcmp(sub, "set-policy") == 0 && nargs == 2)
		return zone_set_policy(args[0], args[1]);
	cli_error("unknown or incomplete command 'zone %s'", sub);
	help(stderr);
	return EXIT_INPUT;
}
