/* regsign zone add|list|show|remove|set-policy: the zones regsign manages. */
#include <arpa/inet.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody.h"
#include "json.h"
#include "managed.h"
#include "regsign/crypto.h"
#include "regsign/zone.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign [--state DIR] zone add ZONE --policy NAME --input ZONEFILE\n"
		"                 [--parent-agent ADDR[@PORT]]... [--now T]\n"
		"       regsign [--state DIR] zone list [--json]\n"
		"       regsign [--state DIR] zone show ZONE [--now T] [--json]\n"
		"       regsign [--state DIR] zone set-policy ZONE NAME [--now T]\n"
		"       regsign [--state DIR] zone set-parent ZONE [ADDR[@PORT]]...\n"
		"       regsign [--state DIR] zone set-secondaries ZONE [ADDR[@PORT]]... [--tsig NAME:ALG:BASE64]\n"
		"       regsign [--state DIR] zone remove ZONE\n"
		"       regsign [--state DIR] zone clock-reset --zone ZONE --reason TEXT\n"
		"\n"
		"add      starts managing ZONE: checks ZONEFILE (the unsigned zone) and the policy\n"
		"         against it, stores both, and makes the first keys. Sign with\n"
		"         'regsign sign --zone ZONE --out FILE'.\n"
		"list     every zone with its policy, last signing, next event, serial and status:\n"
		"         ok, never published, FAILED (the last publication, and why), or 'waits for\n"
		"         key holders' (a token to activate, an admin activation for new keys, a\n"
		"         backup before first use).\n"
		"show     the zone's settings, keys and recent history.\n"
		"set-policy  switches to another policy; a new algorithm starts an algorithm\n"
		"         rollover (RFC 6781 4.1.4) at the next enforce.\n"
		"set-parent  the parent's servers to ask for the zone's DS (up to 8): every enforce\n"
		"         then confirms DS changes that all of them show, as ds-seen/ds-gone would.\n"
		"         No address: the operator confirms.\n"
		"set-secondaries  where 'serve' sends NOTIFY, and who may transfer the zone (with\n"
		"         the TSIG key given); no address: none.\n"
		"remove   stops managing ZONE and destroys its keys.\n"
		"clock-reset  after runs under a clock that was ahead (the next runs refuse: 'before\n"
		"         the last enforcement'): every time of the zone's state that lies in the\n"
		"         future (its runs, next event, every key's record and life times) becomes\n"
		"         now, so every wait counts again from now and only gets longer. Audited\n"
		"         (clock-reset) with the reason and what changed.\n"
		"\n"
		"--json   (list, show) one JSON object instead. list: {\"zones\": [ZONE...]}; show:\n"
		"         ZONE with policy_description, soa_ttl, keys (the objects of 'key list\n"
		"         --json'), publications [{time, serial, signatures, reused, keys}] (last 5)\n"
		"         and history [{time, tag, what}] (last 20) with history_total. ZONE has name,\n"
		"         policy, input, output (null: never published), serial, added, last_sign,\n"
		"         next_event (null: never, or waits for the operator), last_failure,\n"
		"         last_error (null: none since the last success), registry (bool),\n"
		"         parent_agents (list of ADDR[@PORT]), status (\"ok\", \"never-published\",\n"
		"         \"failed\"), waiting_for (\"key holders\" or null) and waiting_detail.\n"
		"         Times are epoch seconds with a NAME_text twin in ISO 8601 UTC; null: never.\n"
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
		return ret;
	}
	const rs_rr_t *soa = rs_zone_soa(zone);
	*soa_ttl = soa->ttl;
	*minimum = rs_get32(soa->rdata + soa->rdlen - 4);
	int code = cli_check(rs_zone_check_ttls(zone, policy->max_zone_ttl, &diag), &diag);
	if (code == RS_EOK)
		cli_warn_margin(policy, zone);
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
		{ "accept-weaker-custody", no_argument, NULL, 'W' },
		{ "now", required_argument, NULL, 'N' },    { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	const char *policy_name = NULL, *input = NULL;
	char agents[512] = "";
	bool quiet = false, weaker = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:i:a:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (!add_agent(agents, sizeof(agents), optarg))
				return RS_EINVAL;
			break;
		case 'p': policy_name = optarg; break;
		case 'i': input = optarg; break;
		case 'W': weaker = true; break;
		case 'N': if (!cli_set_now(optarg)) return RS_EINVAL; break;
		case 'q': quiet = true; break;
		case 'h': help(stdout); return RS_EOK;
		default: help(stderr); return RS_EINVAL;
		}
	}
	if (optind != argc - 1 || policy_name == NULL || input == NULL) {
		cli_error("zone add needs ZONE, --policy NAME and --input ZONEFILE");
		return RS_EINVAL;
	}
	rs_zone_rec_t rec = { 0 };
	uint8_t origin[255];
	if (!cli_zone_name(argv[optind], rec.name, origin))
		return RS_EINVAL;
	char *abs = realpath(input, NULL);
	if (abs == NULL || strlen(abs) >= sizeof(rec.input)) {
		cli_error("cannot find zone file '%s'", input);
		free(abs);
		return RS_EINVAL;
	}
	snprintf(rec.input, sizeof(rec.input), "%s", abs);
	snprintf(rec.parent_agents, sizeof(rec.parent_agents), "%s", agents);
	free(abs);
	rs_store_t *store;
	int code = cli_store_create(&store);
	if (code != RS_EOK)
		return code;
	rs_diag_t diag;
	rs_policy_t policy;
	char *text = NULL;
	code = cli_policy_get(store, policy_name, &policy, &text);
	if (code == RS_EOK)
		code = check_zone_file(origin, rec.input, &policy, &rec.soa_ttl, &rec.soa_minimum);
	if (code == RS_EOK && rs_policy_check(&policy, rec.soa_ttl, &diag) != RS_EOK) {
		cli_error("policy '%s' cannot be kept for %s: %s", policy_name, rec.name, diag.text);
		code = RS_EINVAL;
	}
	/* Custody is never weaker than the policy by accident: the operator says so, and it is audited. */
	int custody = code == RS_EOK ? rs_site_custody_check(store, &policy, &diag) : RS_EOK;
	if (custody != RS_EOK && custody != RS_ENOENT && !weaker) {
		cli_error("%s (--accept-weaker-custody to go on anyway)", diag.text);
		code = RS_EINVAL;
	} else if (custody == RS_ENOENT && policy.key_holders > 0 && !weaker) {
		cli_error("%s", diag.text);
		code = RS_EINVAL;
	}
	bool weaker_used = custody == RS_EDENIED || (custody == RS_ENOENT && policy.key_holders > 0);
	int64_t now = cli_now();
	snprintf(rec.policy, sizeof(rec.policy), "%s", policy_name);
	rec.max_ttl = policy.max_zone_ttl;
	rec.added = now;
	rec.next_event = now;
	int ret = RS_EOK;
	if (code == RS_EOK && (ret = rs_store_begin(store, &diag)) == RS_EOK) {
		char backend[16];
		/* The zone keeps the policy text it was added with: a later release's shipped policy changes nothing. */
		char *stored = NULL;
		if (rs_store_policy_get(store, policy_name, &stored) == RS_ENOENT)
			ret = rs_store_policy_put(store, policy_name, text, now, &diag);
		free(stored);
		if (ret == RS_EOK)
			ret = rs_store_zone_add(store, &rec, &diag);
		char line[300];
		snprintf(line, sizeof(line), "zone added with policy %s, input %.100s%s", policy_name, rec.input,
			 weaker_used ? "; custody weaker than the policy, accepted by the operator" : "");
		if (ret == RS_EOK)
			ret = rs_store_history_add(store, rec.name, now, 0, line);
		if (ret == RS_EOK && !cli_audit(store, "zone-add", rec.name, 0, "ok", "%s", line))
			ret = RS_EIO;
		/* The first key needs a key store: the embedded default if none is set up. */
		if (ret == RS_EOK && cli_keystore(store, backend) != RS_EOK)
			ret = rs_diag(&diag, RS_EIO, "cannot set up the key store");
		if (ret == RS_EOK)
			ret = rs_store_commit(store, &diag);
		else
			rs_store_rollback(store);
		if (ret == RS_EOK)
			cli_audit_flush(store);
	}
	free(text);
	rs_store_close(store);
	if (code != RS_EOK)
		return code;
	if (ret != RS_EOK)
		return cli_check(ret, &diag);
	if (!quiet)
		printf("zone %s added with policy %s (input %s)\n", rec.name, rec.policy, rec.input);
	/* The first keys, at once, so that key list and sign have something to show. */
	cli_zone_t z;
	rs_session_opts_t so = cli_session_opts(quiet ? CLI_QUIET : 0);
	code = cli_zone_open(&z, rec.name, &so);
	ret = code == RS_EOK ? rs_session_enforce(z.session, &diag) : RS_EINVAL;
	if (ret == RS_EOK)
		ret = rs_session_commit(z.session, &diag);
	if (code == RS_EOK)
		code = cli_check(ret, &diag);
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

/* Why the zone waits for its key holders, from a look at its state now; false if it does not. */
static bool zone_waits(rs_store_t *store, const char *name, char *why, size_t max, uint16_t *tag)
{
	rs_session_opts_t so = cli_session_opts(CLI_LOOK);
	so.log.fn = NULL;
	rs_session_t *s = NULL;
	rs_diag_t diag;
	bool waits = rs_session_open(store, name, &so, &s, &diag) == RS_EOK &&
		     cli_custody_wait(store, s, so.now, why, max, tag);
	rs_session_close(s);
	return waits;
}

static const char *zone_status(const rs_zone_rec_t *z)
{
	return z->last_failure != 0 ? "failed" : z->last_sign == 0 ? "never-published" : "ok";
}

/* The members of a zone every --json output shares. */
static void zone_json(cli_json_t *j, const rs_zone_rec_t *z, const char *waits)
{
	cli_json_str(j, "name", z->name);
	cli_json_str(j, "policy", z->policy);
	cli_json_str(j, "input", z->input);
	cli_json_str_or_null(j, "output", z->output);
	cli_json_int(j, "serial", z->serial);
	cli_json_time(j, "added", z->added);
	cli_json_time(j, "last_sign", z->last_sign);
	cli_json_time(j, "next_event", z->next_event);
	cli_json_time(j, "last_failure", z->last_failure);
	cli_json_str_or_null(j, "last_error", z->last_failure != 0 ? z->last_error : "");
	cli_json_bool(j, "registry", z->registry);
	cli_json_array(j, "parent_agents");
	char agents[sizeof(z->parent_agents)];
	snprintf(agents, sizeof(agents), "%s", z->parent_agents);
	char *save = NULL;
	for (char *a = strtok_r(agents, " ", &save); a != NULL; a = strtok_r(NULL, " ", &save))
		cli_json_str(j, NULL, a);
	cli_json_close(j);
	cli_json_str(j, "status", zone_status(z));
	cli_json_str(j, "waiting_for", waits != NULL ? "key holders" : NULL);
	cli_json_str(j, "waiting_detail", waits);
}

static int zone_list(bool json)
{
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != RS_EOK)
		return code;
	rs_zone_rec_t *zones;
	size_t n;
	if (rs_store_zone_list(store, &zones, &n) != RS_EOK) {
		cli_error("cannot list zones");
		rs_store_close(store);
		return CLI_EINTERNAL;
	}
	cli_json_t j;
	if (json) {
		cli_json_begin(&j, stdout);
		cli_json_object(&j, NULL);
		cli_json_array(&j, "zones");
	} else {
		printf("%-30s %-16s %-14s %-14s %-10s %s\n", "zone", "policy", "last signed", "next event",
		       "serial", "status");
	}
	for (size_t i = 0; i < n; i++) {
		char why[400];
		bool waits = zone_waits(store, zones[i].name, why, sizeof(why), NULL);
		if (json) {
			cli_json_object(&j, NULL);
			zone_json(&j, &zones[i], waits ? why : NULL);
			cli_json_close(&j);
			continue;
		}
		char a[20], b[20], f[20], state[600] = "ok", status[1100];
		when_text(zones[i].last_sign, a, sizeof(a));
		when_text(zones[i].next_event, b, sizeof(b));
		if (zones[i].last_failure != 0) {
			when_text(zones[i].last_failure, f, sizeof(f));
			snprintf(state, sizeof(state), "FAILED %s: %s", f, zones[i].last_error);
		} else if (zones[i].last_sign == 0) {
			snprintf(state, sizeof(state), "never published");
		}
		/* What the operator must act on comes first; the failure it explains after it. */
		bool ok = strcmp(state, "ok") == 0;
		const char *sep = ok ? "" : "; ", *rest = ok ? "" : state;
		if (waits && zones[i].last_failure != 0 && strcmp(why, zones[i].last_error) == 0)
			snprintf(status, sizeof(status), "waits for key holders: %s (FAILED %s)", why, f);
		else if (waits)
			snprintf(status, sizeof(status), "waits for key holders: %s%s%s", why, sep, rest);
		else
			snprintf(status, sizeof(status), "%s", state);
		printf("%-30s %-16s %-14s %-14s %-10u %s\n", zones[i].name, zones[i].policy, a, b, zones[i].serial, status);
	}
	if (json) {
		cli_json_close(&j);
		cli_json_close(&j);
		code = cli_json_end(&j);
	}
	free(zones);
	rs_store_close(store);
	return code;
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

static void print_publication(void *arg, const rs_publication_t *p)
{
	(void)arg;
	char ts[15];
	rs_time_format(p->time, ts);
	printf("  %s serial %u, %llu signatures (%llu kept), %s\n", ts, p->serial, (unsigned long long)p->signatures,
	       (unsigned long long)p->reused, p->keys);
}

typedef struct {
	cli_json_t *j;
	size_t skip, left;
} json_history_t;

static void json_history(void *arg, int64_t when, uint16_t tag, const char *what)
{
	json_history_t *h = arg;
	if (h->skip > 0) {
		h->skip--;
		return;
	}
	if (h->left == 0)
		return;
	h->left--;
	cli_json_object(h->j, NULL);
	cli_json_time(h->j, "time", when);
	if (tag != 0)
		cli_json_int(h->j, "tag", tag);
	else
		cli_json_null(h->j, "tag");
	cli_json_str(h->j, "what", what);
	cli_json_close(h->j);
}

static void json_publication(void *arg, const rs_publication_t *p)
{
	cli_json_t *j = arg;
	cli_json_object(j, NULL);
	cli_json_time(j, "time", p->time);
	cli_json_int(j, "serial", p->serial);
	cli_json_int(j, "signatures", (int64_t)p->signatures);
	cli_json_int(j, "reused", (int64_t)p->reused);
	cli_json_str(j, "keys", p->keys);
	cli_json_str(j, "output", p->output);
	cli_json_close(j);
}

static int zone_show_json(cli_zone_t *z, int64_t now)
{
	const rs_zone_rec_t *zone = rs_session_zone(z->session);
	char why[400];
	uint16_t tag = 0;
	bool waits = cli_custody_wait(z->store, z->session, now, why, sizeof(why), &tag);
	cli_json_t j;
	cli_json_begin(&j, stdout);
	cli_json_object(&j, NULL);
	zone_json(&j, zone, waits ? why : NULL);
	cli_json_str(&j, "policy_description", rs_session_policy(z->session)->description);
	cli_json_int(&j, "soa_ttl", zone->soa_ttl);
	int code = cli_json_keys(&j, z->session, now, waits && tag != 0 ? tag : -1);
	cli_json_array(&j, "publications");
	rs_store_publications(z->store, zone->name, 5, json_publication, &j);
	cli_json_close(&j);
	size_t total = 0;
	rs_store_history(z->store, zone->name, count_history, &total);
	json_history_t h = { &j, total > 20 ? total - 20 : 0, 20 };
	cli_json_int(&j, "history_total", (int64_t)total);
	cli_json_array(&j, "history");
	rs_store_history(z->store, zone->name, json_history, &h);
	cli_json_close(&j);
	cli_json_close(&j);
	int wrote = cli_json_end(&j);
	return code != RS_EOK ? code : wrote;
}

static int zone_show(const char *name, bool json)
{
	cli_zone_t z;
	rs_session_opts_t so = cli_session_opts(CLI_LOOK);
	int code = cli_zone_open(&z, name, &so);
	if (code == RS_EOK && json) {
		code = zone_show_json(&z, so.now);
	} else if (code == RS_EOK) {
		const rs_zone_rec_t *zone = rs_session_zone(z.session);
		const rs_keyset_t *keys = rs_session_keys(z.session);
		char a[20], b[20], c[20], f[20];
		when_text(zone->added, a, sizeof(a));
		when_text(zone->last_sign, b, sizeof(b));
		when_text(zone->next_event, c, sizeof(c));
		printf("zone        %s\npolicy      %s (%s)\ninput       %s%s\noutput      %s\nSOA TTL     %u\n"
		       "serial      %u\nadded       %s\nlast signed %s\nnext event  %s\nparent      %s\n",
		       zone->name, zone->policy, rs_session_policy(z.session)->description, zone->input,
		       zone->registry ? " (template; delegations from the registry data)" : "",
		       zone->output[0] ? zone->output : "(never published)", zone->soa_ttl, zone->serial, a, b, c,
		       zone->parent_agents[0] ? zone->parent_agents : "(operator confirms DS)");
		if (zone->last_failure != 0) {
			when_text(zone->last_failure, f, sizeof(f));
			printf("FAILED      %s: %s\n", f, zone->last_error);
		}
		char why[400];
		if (cli_custody_wait(z.store, z.session, so.now, why, sizeof(why), NULL))
			printf("custody     waits for key holders: %s\n", why);
		printf("keys:\n");
		for (size_t i = 0; i < keys->count; i++) {
			const rs_keystate_t *k = &keys->keys[i];
			if (k->goal != RS_GOAL_DEAD)
				printf("  %s %5u %s %s%s\n", rs_role_name(k->role), k->tag, rs_alg_name(k->alg),
				       rs_goal_name(k->goal), k->pending ? " (changes wait for the next publication)" : "");
		}
		printf("publications (last 5):\n");
		rs_store_publications(z.store, zone->name, 5, print_publication, NULL);
		size_t total = 0;
		rs_store_history(z.store, zone->name, count_history, &total);
		size_t skip[2] = { total > 20 ? total - 20 : 0, 20 };
		printf("history (last %zu of %zu):\n", total - skip[0], total);
		rs_store_history(z.store, zone->name, skip_history, skip);
	}
	cli_zone_close(&z);
	return code;
}

/* One change by the operator: open, act, commit, close; the code. */
static int zone_change(const char *name, int (*act)(rs_session_t *s, const char *arg, rs_diag_t *diag),
		       const char *arg)
{
	cli_zone_t z;
	rs_diag_t diag;
	int code = cli_zone_open(&z, name, NULL);
	int ret = code == RS_EOK ? act(z.session, arg, &diag) : RS_EINVAL;
	if (ret == RS_EOK)
		ret = rs_session_commit(z.session, &diag);
	if (code == RS_EOK)
		code = cli_check(ret, &diag);
	cli_zone_close(&z);
	return code;
}

static int remove_zone(rs_session_t *s, const char *arg, rs_diag_t *diag)
{
	(void)arg;
	return rs_session_remove(s, diag);
}

static int zone_set_parent(const char *name, char **agents, int n)
{
	char list[sizeof(((rs_zone_rec_t *)0)->parent_agents)] = "";
	for (int i = 0; i < n; i++)
		if (!add_agent(list, sizeof(list), agents[i]))
			return RS_EINVAL;
	return zone_change(name, rs_session_set_parent, list);
}

/*
 * zone clock-reset [--zone] ZONE --reason TEXT [--now T]: after runs under a
 * clock that was ahead, every future time of the zone's state becomes now.
 */
static int zone_clock_reset(int argc, char **argv)
{
	const char *zone = NULL, *reason = NULL;
	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "--zone") == 0 || strcmp(argv[i], "--reason") == 0 || strcmp(argv[i], "--now") == 0) &&
		    i + 1 < argc) {
			const char *opt = argv[i++];
			if (strcmp(opt, "--zone") == 0)
				zone = argv[i];
			else if (strcmp(opt, "--reason") == 0)
				reason = argv[i];
			else if (!cli_set_now(argv[i]))
				return RS_EINVAL;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			help(stdout);
			return RS_EOK;
		} else if (zone == NULL && argv[i][0] != '-') {
			zone = argv[i];
		} else {
			cli_error("unexpected argument '%s'", argv[i]);
			return RS_EINVAL;
		}
	}
	if (zone == NULL || reason == NULL || reason[0] == '\0') {
		cli_error("zone clock-reset needs --zone ZONE and --reason TEXT (it is audited)");
		return RS_EINVAL;
	}
	return zone_change(zone, rs_session_clock_reset, reason);
}

static int zone_remove(const char *name)
{
	int code = zone_change(name, remove_zone, NULL);
	if (code == RS_EOK)
		printf("zone %s removed; its keys destroyed\n", name);
	return code;
}

int cmd_zone(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	if (sub == NULL || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		help(sub == NULL ? stderr : stdout);
		return sub == NULL ? RS_EINVAL : RS_EOK;
	}
	argc--, argv++;
	if (strcmp(sub, "add") == 0)
		return zone_add(argc, argv);
	if (strcmp(sub, "set-secondaries") == 0)
		return cli_zone_secondaries(argc, argv);
	if (strcmp(sub, "clock-reset") == 0)
		return zone_clock_reset(argc, argv);
	if (strcmp(sub, "set-parent") == 0 && argc >= 2 && argv[1][0] != '-')
		return zone_set_parent(argv[1], argv + 2, argc - 2);
	/* The other subcommands take positional arguments, --now, --json (list, show) and --help. */
	const char *args[2] = { NULL, NULL };
	int nargs = 0;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			help(stdout);
			return RS_EOK;
		} else if (strcmp(argv[i], "--json") == 0 &&
			   (strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0)) {
			json = true;
		} else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
			if (!cli_set_now(argv[++i]))
				return RS_EINVAL;
		} else if (nargs < 2 && argv[i][0] != '-') {
			args[nargs++] = argv[i];
		} else {
			cli_error("unexpected argument '%s'", argv[i]);
			return RS_EINVAL;
		}
	}
	if (strcmp(sub, "list") == 0 && nargs == 0)
		return zone_list(json);
	if (strcmp(sub, "show") == 0 && nargs == 1)
		return zone_show(args[0], json);
	if (strcmp(sub, "remove") == 0 && nargs == 1)
		return zone_remove(args[0]);
	if (strcmp(sub, "set-policy") == 0 && nargs == 2)
		return zone_change(args[0], rs_session_set_policy, args[1]);
	static const char *const subs[] = { "add", "list", "show", "set-policy", "set-parent", "set-secondaries",
					    "remove", "clock-reset" };
	bool known = false;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		known = known || strcmp(sub, subs[i]) == 0;
	if (known) {
		cli_error("incomplete command 'zone %s'", sub);
		help(stderr);
	} else if (!cli_unknown("command", sub, "zone ", subs, sizeof(subs) / sizeof(subs[0]))) {
		help(stderr);
	}
	return RS_EINVAL;
}
