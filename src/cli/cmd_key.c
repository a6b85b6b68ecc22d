/* regsign key list, enforce, plan, rollover, ds-seen, ds-gone: the key state machine at work. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "managed.h"
#include "regsign/crypto.h"

typedef struct {
	const char *zone;
	uint16_t tag;
	int role;
	bool emergency;
	bool force_clock;
	bool quiet;
	bool json;
	long days;
} args_t;

enum { OPT_NOW = 256, OPT_KSK, OPT_ZSK, OPT_CSK, OPT_EMERGENCY, OPT_FORCE_CLOCK, OPT_DAYS, OPT_JSON };

/* The options every command here understands (--json if json_ok); false after printing an error. */
static bool parse(int argc, char **argv, args_t *a, void (*help)(FILE *), bool json_ok, int *code)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' },   { "key", required_argument, NULL, 'k' },
		{ "now", required_argument, NULL, OPT_NOW }, { "ksk", no_argument, NULL, OPT_KSK },
		{ "zsk", no_argument, NULL, OPT_ZSK },       { "csk", no_argument, NULL, OPT_CSK },
		{ "emergency", no_argument, NULL, OPT_EMERGENCY },
		{ "force-clock", no_argument, NULL, OPT_FORCE_CLOCK },
		{ "days", required_argument, NULL, OPT_DAYS }, { "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, OPT_JSON },      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	memset(a, 0, sizeof(*a));
	a->days = 365;
	*code = RS_EINVAL;
	int c;
	char *end;
	optind = 1;
	while ((c = getopt_long(argc, argv, "z:k:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'z': a->zone = optarg; break;
		case 'k': {
			unsigned long tag = strtoul(optarg, &end, 10);
			if (*end != '\0' || tag > 65535) {
				cli_error("invalid key tag '%s'", optarg);
				return false;
			}
			a->tag = (uint16_t)tag;
			break;
		}
		case OPT_NOW: if (!cli_set_now(optarg)) return false; break;
		case OPT_KSK: a->role = RS_ROLE_KSK; break;
		case OPT_ZSK: a->role = RS_ROLE_ZSK; break;
		case OPT_CSK: a->role = RS_ROLE_CSK; break;
		case OPT_EMERGENCY: a->emergency = true; break;
		case OPT_FORCE_CLOCK: a->force_clock = true; break;
		case OPT_DAYS:
			a->days = strtol(optarg, &end, 10);
			if (*end != '\0' || a->days <= 0 || a->days > 36500) {
				cli_error("invalid --days '%s'", optarg);
				return false;
			}
			break;
		case 'q': a->quiet = true; break;
		case OPT_JSON:
			if (!json_ok) {
				cli_error("this command has no --json output");
				return false;
			}
			a->json = true;
			break;
		case 'h': help(stdout); *code = RS_EOK; return false;
		default: help(stderr); return false;
		}
	}
	if (optind != argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return false;
	}
	return true;
}

static void time_text(int64_t t, char *out)
{
	char ts[15];
	rs_time_format(t, ts);
	snprintf(out, 24, "%.4s-%.2s-%.2s %.2s:%.2s", ts, ts + 4, ts + 6, ts + 8, ts + 10);
}

/* ---- looking ahead: the enforcer on a copy of the keys, with stand-in keys ---- */

typedef struct {
	bool print;          /* plan: print each event */
	cli_json_t *json;    /* plan --json: each event as an element of the array open here */
	int64_t *first_at;   /* key list: first event time per key index */
	char (*first_what)[96];
	const rs_keyset_t *set; /* the keys that exist now */
} ahead_t;

static void ahead_log(void *arg, int64_t when, const rs_event_t *ev)
{
	ahead_t *a = arg;
	const rs_keystate_t *k = ev->key;
	const char *what = ev->text;
	bool planned = k != NULL && strncmp(k->locator, "planned", 7) == 0;
	if (a->json != NULL) {
		cli_json_object(a->json, NULL);
		cli_json_time(a->json, "time", when);
		if (k != NULL && !planned)
			cli_json_int(a->json, "tag", k->tag);
		else
			cli_json_null(a->json, "tag");
		cli_json_str(a->json, "planned", planned ? k->locator + 7 : NULL);
		cli_json_str(a->json, "role", k != NULL ? rs_role_name(k->role) : NULL);
		cli_json_str(a->json, "algorithm", k != NULL ? rs_alg_name(k->alg) : NULL);
		cli_json_str(a->json, "what", what);
		cli_json_close(a->json);
	}
	if (a->print) {
		char t[24], tag[16];
		time_text(when, t);
		if (planned)
			snprintf(tag, sizeof(tag), "%s", k->locator + 7);
		else
			snprintf(tag, sizeof(tag), "%u", k ? k->tag : 0);
		if (k != NULL)
			printf("%s  %s %5s %-16s %s\n", t, rs_role_name(k->role), tag, rs_alg_name(k->alg), what);
		else
			printf("%s  %s\n", t, what);
	}
	if (a->first_at == NULL || k == NULL || planned)
		return;
	for (size_t i = 0; i < a->set->count; i++)
		if (a->set->keys[i].tag == k->tag && a->first_at[i] == 0) {
			a->first_at[i] = when;
			snprintf(a->first_what[i], 96, "%s", what);
		}
}

/* The state machine forward from now for days (rs_enforce_plan), each event to a. */
static int look_ahead(rs_session_t *session, int64_t now, long days, ahead_t *a)
{
	rs_diag_t diag;
	a->set = rs_session_keys(session);
	if (rs_enforce_plan(rs_session_policy(session), a->set, now, now + days * 86400, ahead_log, a, &diag) !=
	    RS_EOK) {
		cli_error("%s", diag.text);
		return CLI_EINTERNAL;
	}
	return RS_EOK;
}

/* ---- commands ---- */

static void key_help(FILE *f)
{
	fprintf(f,
		"usage: regsign [--state DIR] key list --zone ZONE [--now T] [--json]\n"
		"       regsign [--state DIR] key quarantine list|destroy|release ... (key quarantine --help)\n"
		"\n"
		"Lists the zone's keys: role, algorithm, what the key does now, the state of its\n"
		"DNSKEY, its signatures over the DNSKEY RRset (KRRSIG) and over the zone (ZRRSIG), its\n"
		"DS at the parent (hidden, rumoured, omnipresent, unretentive), and its next event\n"
		"with the time it is due (assuming the parent acts on DS requests at once). A step\n"
		"that cannot be taken without the key holders (an activation, an admin activation\n"
		"for new keys, a backup before first use) is named under the table, on standard\n"
		"error, in a line 'waits for key holders: ...'.\n"
		"\n"
		"--json  one JSON object instead: zone, policy, now, now_text, waiting_for (null or\n"
		"        \"key holders\"), waiting_detail, and keys, each with tag, role, algorithm,\n"
		"        algorithm_number, state (created, published, active, retiring, revoked,\n"
		"        retired), goal, locator, predecessor (tag or null), created, published,\n"
		"        active, retired, removed, backup, records {dnskey, krrsig, zrrsig, ds: {state,\n"
		"        pending, since} with request (\"submit\", \"withdraw\" or null) in ds},\n"
		"        next_event {time, time_text, what} or null, and waiting_for (\"ds-seen\",\n"
		"        \"ds-gone\", \"publication\", \"key holders\" or null). Times are epoch seconds with a\n"
		"        NAME_text twin in ISO 8601 UTC; null: never. pending: the record's change\n"
		"        waits for the next publication.\n"
		"\n"
		"example:\n"
		"  regsign --state /var/lib/regsign key list --zone cloud.\n");
}

static const char *doing(const rs_keystate_t *k)
{
	if (k->goal == RS_GOAL_DEAD)
		return "removed";
	/* RFC 5011: published with the REVOKE bit for the remove hold-down, under another tag. */
	if ((k->flags & RS_KEY_REVOKED) && rs_keystate_published(k))
		return "revoked";
	if (rs_keystate_signs_data(k) || rs_keystate_signs_keys(k))
		return k->goal == RS_GOAL_ACTIVE ? "active" : "retiring";
	if (rs_keystate_published(k))
		return k->goal == RS_GOAL_ACTIVE ? "published" : "retired";
	return k->goal == RS_GOAL_ACTIVE ? "created" : "retired";
}

static const char *ds_text(const rs_keystate_t *k)
{
	if (k->ds == RS_DS_SUBMIT)
		return "submitted";
	if (k->ds == RS_DS_WITHDRAW)
		return "to-remove";
	return rs_recstate_name(k->state[RS_REC_DS]);
}

/* ---- steps that wait for the key holders ---- */

typedef struct {
	bool can_make;    /* new keys can be made now (an admin activation, or no custody) */
	uint16_t next_tag;
	bool found;
	uint16_t tag;     /* the key the wait is about; 0: the zone */
	char *why;
	size_t max;
} custody_t;

static int custody_make(void *arg, const rs_keyset_t *set, rs_keystate_t *k)
{
	custody_t *c = arg;
	if (!c->can_make)
		return RS_ELOCKED;
	for (;;) {
		uint16_t tag = c->next_tag--;
		bool used = false;
		for (size_t i = 0; i < set->count && !used; i++)
			used = set->keys[i].tag == tag;
		if (!used) {
			k->tag = tag;
			snprintf(k->locator, sizeof(k->locator), "planned");
			return RS_EOK;
		}
	}
}

static void custody_log(void *arg, int64_t when, const rs_event_t *ev)
{
	(void)when;
	custody_t *c = arg;
	const rs_keystate_t *k = ev->key;
	if (ev->type != RS_EV_CUSTODY_WAIT || c->found)
		return;
	c->found = true;
	c->tag = k != NULL ? k->tag : 0;
	/* As the history says it. */
	if (k != NULL)
		snprintf(c->why, c->max, "%s %u %s: %s", rs_role_name(k->role), k->tag, rs_alg_name(k->alg),
			 ev->text);
	else
		snprintf(c->why, c->max, "%s", ev->text);
}

bool cli_custody_wait(rs_store_t *store, rs_session_t *session, int64_t now, char *why, size_t max,
		      uint16_t *tag)
{
	const rs_zone_rec_t *zone = rs_session_zone(session);
	const rs_keyset_t *keys = rs_session_keys(session);
	char backend[16] = "", unlock[16] = "";
	rs_store_setting_get(store, RS_SET_KEYSTORE, backend, sizeof(backend));
	rs_store_setting_get(store, RS_SET_UNLOCK, unlock, sizeof(unlock));
	/* Only a token that m key holders activate holds a zone up; its agent says how far it goes. */
	bool held = strcmp(backend, "pkcs11") == 0 && strcmp(unlock, "agent") == 0;
	bool active = !held, admin = !held;
	if (held) {
		rs_agent_reply_t reply;
		if (rs_agent_ask(rs_store_dir(store), "status", &reply) == RS_EOK) {
			/* The agent's deadlines are real time, whatever --now says. */
			active = reply.until > (int64_t)time(NULL);
			admin = reply.admin_until > (int64_t)time(NULL);
		}
		rs_wipe(&reply, sizeof(reply));
	}
	/* The steps due now, on a copy: what enforce would have to leave for the key holders. */
	custody_t c = { .can_make = admin, .next_tag = 65535, .why = why, .max = max };
	rs_keyset_t copy = { 0 };
	if (rs_keyset_copy(keys, &copy) == RS_EOK) {
		rs_enforce_ctx_t ctx = { custody_make, &c, custody_log, &c, NULL };
		int64_t next;
		rs_enforce(rs_session_policy(session), &copy, now, &ctx, &next, NULL);
		rs_keyset_clear(&copy);
	}
	/* Keys that exist but cannot sign: due steps or a failed publication wait for an activation. */
	if (!c.found && !active && (zone->last_failure != 0 || zone->next_event <= now)) {
		c.found = true;
		c.tag = 0;
		bool said = zone->last_failure != 0 && strstr(zone->last_error, "activat") != NULL;
		snprintf(why, max, "%s", said ? zone->last_error : "the keys are not activated: key holders "
					 "run 'regsign activate' with their shares");
	}
	if (tag != NULL)
		*tag = c.found ? c.tag : 0;
	return c.found;
}

/* ---- key list ---- */

/* What a key waits for, beyond time: the parent, a publication, the key holders; NULL: nothing. */
static const char *key_waits(const rs_keystate_t *k, bool holders)
{
	if (holders)
		return "key holders";
	if (k->ds == RS_DS_SUBMIT)
		return "ds-seen";
	if (k->ds == RS_DS_WITHDRAW)
		return "ds-gone";
	return k->pending != 0 ? "publication" : NULL;
}

static void key_json(cli_json_t *j, const rs_keystate_t *k, int64_t next_at, const char *next_what,
		     bool holders)
{
	static const char *const recs[RS_REC_COUNT] = { "dnskey", "krrsig", "zrrsig", "ds" };
	cli_json_object(j, NULL);
	cli_json_int(j, "tag", k->tag);
	cli_json_str(j, "role", rs_role_name(k->role));
	cli_json_str(j, "algorithm", rs_alg_name(k->alg));
	cli_json_int(j, "algorithm_number", k->alg);
	cli_json_str(j, "state", doing(k));
	cli_json_str(j, "goal", rs_goal_name(k->goal));
	cli_json_str(j, "locator", k->locator);
	if (k->predecessor != 0)
		cli_json_int(j, "predecessor", k->predecessor);
	else
		cli_json_null(j, "predecessor");
	cli_json_time(j, "created", k->created);
	cli_json_time(j, "published", k->published);
	cli_json_time(j, "active", k->active);
	cli_json_time(j, "retired", k->retired);
	cli_json_time(j, "removed", k->removed);
	cli_json_time(j, "backup", k->backup);
	cli_json_object(j, "records");
	for (int r = 0; r < RS_REC_COUNT; r++) {
		cli_json_object(j, recs[r]);
		cli_json_str(j, "state", rs_recstate_name(k->state[r]));
		cli_json_bool(j, "pending", (k->pending & (1u << r)) != 0);
		cli_json_time(j, "since", k->since[r]);
		if (r == RS_REC_DS && k->ds != RS_DS_NONE)
			cli_json_str(j, "request", k->ds == RS_DS_SUBMIT ? "submit" : "withdraw");
		else if (r == RS_REC_DS)
			cli_json_null(j, "request");
		cli_json_close(j);
	}
	cli_json_close(j);
	if (next_at != 0 && k->ds == RS_DS_NONE) {
		cli_json_object(j, "next_event");
		cli_json_time(j, "time", next_at);
		cli_json_str(j, "what", next_what);
		cli_json_close(j);
	} else {
		cli_json_null(j, "next_event");
	}
	cli_json_str(j, "waiting_for", key_waits(k, holders));
	cli_json_close(j);
}

int cli_json_keys(cli_json_t *j, rs_session_t *session, int64_t now, int wait_tag)
{
	const rs_keyset_t *keys = rs_session_keys(session);
	int64_t *first_at = calloc(keys->count + 1, sizeof(*first_at));
	char(*first_what)[96] = calloc(keys->count + 1, sizeof(*first_what));
	ahead_t ah = { .first_at = first_at, .first_what = first_what };
	int code = RS_EOK;
	if (first_at == NULL || first_what == NULL || look_ahead(session, now, 5 * 366, &ah) != RS_EOK)
		code = CLI_EINTERNAL;
	cli_json_array(j, "keys");
	for (size_t i = 0; code == RS_EOK && i < keys->count; i++) {
		const rs_keystate_t *k = &keys->keys[i];
		if (k->goal != RS_GOAL_DEAD)
			key_json(j, k, first_at[i], first_what[i], wait_tag >= 0 && k->tag == wait_tag);
	}
	cli_json_close(j);
	free(first_at);
	free(first_what);
	return code;
}

static int key_list_json(cli_zone_t *z, int64_t now)
{
	const rs_zone_rec_t *zone = rs_session_zone(z->session);
	char why[400];
	uint16_t tag;
	bool waits = cli_custody_wait(z->store, z->session, now, why, sizeof(why), &tag);
	cli_json_t j;
	cli_json_begin(&j, stdout);
	cli_json_object(&j, NULL);
	cli_json_str(&j, "zone", zone->name);
	cli_json_str(&j, "policy", zone->policy);
	cli_json_time(&j, "now", now);
	cli_json_str(&j, "waiting_for", waits ? "key holders" : NULL);
	cli_json_str(&j, "waiting_detail", waits ? why : NULL);
	int code = cli_json_keys(&j, z->session, now, waits && tag != 0 ? tag : -1);
	cli_json_close(&j);
	int wrote = cli_json_end(&j);
	return code != RS_EOK ? code : wrote;
}

/* ---- key quarantine: material the state did not know, for the operator to decide on ---- */

static void quarantine_help(FILE *f)
{
	fprintf(f,
		"usage: regsign [--state DIR] key quarantine list [--zone ZONE]\n"
		"       regsign [--state DIR] key quarantine destroy LOCATOR --reason TEXT\n"
		"       regsign [--state DIR] key quarantine release LOCATOR [--zone ZONE] [--reason TEXT]\n"
		"\n"
		"Key material the state does not know (a key intent with no key row, a key file in\n"
		"DIR/keys or a token object labelled for a zone that no row names: a restored or\n"
		"emptied state.db, an interrupted run) is never destroyed by regsign on its own: the\n"
		"next enforce or sign of its zone sets it aside (key files move to\n"
		"DIR/keys/quarantine/, token objects are relabelled 'quarantine ...'), records it\n"
		"(audit: key-quarantine) and reports it. It may be a key that resolvers still see.\n"
		"\n"
		"list     the quarantined keys: zone, since when, locator, label and why.\n"
		"destroy  destroys the key beyond recovery (audit: key-destroy, with the reason).\n"
		"release  puts it back where it was (audit: key-release). Material the state does\n"
		"         not know is quarantined again by the next run: when a restored state.db\n"
		"         knows the key again, give --zone ZONE to put it back without its record.\n");
}

static void print_quarantined(void *arg, const rs_quarantine_rec_t *q)
{
	size_t *n = arg;
	char when[40];
	time_text(q->time, when);
	printf("%-20s %-16s %s%s%s%s: %s\n", q->zone, when, q->locator, q->label[0] ? " '" : "", q->label,
	       q->label[0] ? "'" : "", q->why);
	(*n)++;
}

static int key_quarantine(int argc, char **argv)
{
	enum { OPT_REASON = 300 };
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' }, { "reason", required_argument, NULL, OPT_REASON },
		{ "now", required_argument, NULL, OPT_NOW }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sub = argc > 1 ? argv[1] : NULL, *zone = NULL, *reason = NULL;
	if (sub == NULL || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		quarantine_help(sub == NULL ? stderr : stdout);
		return sub == NULL ? RS_EINVAL : RS_EOK;
	}
	argc--, argv++;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "z:h", opts, NULL)) != -1) {
		switch (c) {
		case 'z': zone = optarg; break;
		case OPT_REASON: reason = optarg; break;
		case OPT_NOW: if (!cli_set_now(optarg)) return RS_EINVAL; break;
		case 'h': quarantine_help(stdout); return RS_EOK;
		default: quarantine_help(stderr); return RS_EINVAL;
		}
	}
	if (strcmp(sub, "list") == 0 && optind == argc) {
		rs_store_t *store;
		int code = cli_store(&store);
		char canon[256] = "";
		uint8_t wire[255];
		if (code == RS_EOK && zone != NULL && !cli_zone_name(zone, canon, wire))
			code = RS_EINVAL;
		size_t n = 0;
		if (code == RS_EOK && rs_store_quarantine_each(store, zone != NULL ? canon : NULL, print_quarantined,
							       &n) != RS_EOK) {
			cli_error("cannot read the quarantine of '%s'", cli_state_dir());
			code = CLI_EINTERNAL;
		}
		if (code == RS_EOK)
			printf("%zu quarantined key(s)\n", n);
		rs_store_close(store);
		return code;
	}
	bool destroy = strcmp(sub, "destroy") == 0;
	if (!destroy && strcmp(sub, "release") != 0 && strcmp(sub, "list") != 0) {
		static const char *const subs[] = { "list", "destroy", "release" };
		if (!cli_unknown("command", sub, "key quarantine ", subs, 3))
			quarantine_help(stderr);
		return RS_EINVAL;
	}
	if (strcmp(sub, "list") == 0) {
		cli_error("key quarantine list takes no LOCATOR");
		return RS_EINVAL;
	}
	if (optind + 1 != argc) {
		cli_error("key quarantine %s needs one LOCATOR (see key quarantine list)", sub);
		return RS_EINVAL;
	}
	const char *locator = argv[optind];
	if (destroy && (reason == NULL || reason[0] == '\0')) {
		cli_error("key quarantine destroy needs --reason TEXT (it is audited)");
		return RS_EINVAL;
	}
	/* The zone it was quarantined for, whose session (and lock) the decision takes. */
	rs_store_t *store;
	int code = cli_store(&store);
	rs_quarantine_rec_t q;
	int ret = code == RS_EOK ? rs_store_quarantine_get(store, locator, &q) : RS_EINVAL;
	rs_store_close(store);
	if (code != RS_EOK)
		return code;
	if (ret == RS_ENOENT && zone != NULL && !destroy) {
		snprintf(q.zone, sizeof(q.zone), "%s", zone); /* a restored state.db that knows it again */
	} else if (ret == RS_ENOENT) {
		cli_error("no quarantined key '%s' (see regsign key quarantine list)", locator);
		return RS_EINVAL;
	} else if (ret != RS_EOK) {
		cli_error("cannot read the quarantine of '%s'", cli_state_dir());
		return CLI_EINTERNAL;
	}
	cli_zone_t z;
	rs_diag_t diag;
	code = cli_zone_open(&z, zone != NULL ? zone : q.zone, NULL);
	ret = code == RS_EOK ? rs_session_quarantine_end(z.session, locator, destroy, reason, &diag) : RS_EINVAL;
	if (code == RS_EOK)
		code = cli_check(ret, &diag);
	cli_zone_close(&z);
	if (code == RS_EOK)
		printf("%s: quarantined key %s %s\n", q.zone, locator, destroy ? "destroyed" : "put back");
	return code;
}

int cmd_key(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "quarantine") == 0)
		return key_quarantine(argc - 1, argv + 1);
	if (argc < 2 || strcmp(argv[1], "list") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			key_help(stdout);
			return RS_EOK;
		}
		static const char *const subs[] = { "list", "quarantine" };
		if (argc < 2 || !cli_unknown("command", argv[1], "key ", subs, 2))
			key_help(stderr);
		return RS_EINVAL;
	}
	args_t a;
	int code;
	if (!parse(argc - 1, argv + 1, &a, key_help, true, &code))
		return code;
	cli_zone_t z;
	rs_session_opts_t so = cli_session_opts(CLI_LOOK);
	if ((code = cli_zone_open(&z, a.zone, &so)) != RS_EOK) {
		cli_zone_close(&z);
		return code;
	}
	if (a.json) {
		code = key_list_json(&z, so.now);
		cli_zone_close(&z);
		return code;
	}
	const rs_keyset_t *keys = rs_session_keys(z.session);
	const rs_zone_rec_t *zone = rs_session_zone(z.session);
	int64_t *first_at = calloc(keys->count + 1, sizeof(*first_at));
	char(*first_what)[96] = calloc(keys->count + 1, sizeof(*first_what));
	ahead_t ah = { .first_at = first_at, .first_what = first_what };
	if (first_at == NULL || first_what == NULL || look_ahead(z.session, so.now, 5 * 366, &ah) != RS_EOK)
		code = CLI_EINTERNAL;
	char now[24];
	time_text(so.now, now);
	printf("zone %s, policy %s, at %s\n", zone->name, zone->policy, now);
	printf("%-5s %-4s %-16s %-9s %-11s %-11s %-11s %-11s %s\n", "tag", "role", "algorithm", "state",
	       "DNSKEY", "KRRSIG", "ZRRSIG", "DS", "next event");
	size_t pending = 0;
	for (size_t i = 0; code == RS_EOK && i < keys->count; i++) {
		const rs_keystate_t *k = &keys->keys[i];
		if (k->goal == RS_GOAL_DEAD)
			continue;
		char next[160] = "-";
		if (k->ds == RS_DS_SUBMIT)
			snprintf(next, sizeof(next), "waiting for the parent: confirm with ds-seen --key %u", k->tag);
		else if (k->ds == RS_DS_WITHDRAW)
			snprintf(next, sizeof(next), "waiting for the parent: confirm with ds-gone --key %u", k->tag);
		else if (first_at[i] != 0) {
			char t[24];
			time_text(first_at[i], t);
			snprintf(next, sizeof(next), "%s: %s", t, first_what[i]);
		}
		/* A state no publication has shown yet is marked: its clock has not started. */
		char st[3][16];
		for (int r = 0; r < 3; r++)
			snprintf(st[r], sizeof(st[r]), "%s%s", rs_recstate_name(k->state[r]),
				 k->pending & (1u << r) ? "*" : "");
		pending += k->pending != 0;
		printf("%-5u %-4s %-16s %-9s %-11s %-11s %-11s %-11s %s\n", k->tag, rs_role_name(k->role),
		       rs_alg_name(k->alg), doing(k), st[RS_REC_DNSKEY], st[RS_REC_KRRSIG], st[RS_REC_ZRRSIG],
		       ds_text(k), next);
	}
	if (code == RS_EOK && pending > 0)
		printf("* not yet published: the next 'regsign sign --zone %s' shows it, and its time counts from then\n",
		       zone->name);
	else if (code == RS_EOK && zone->next_event <= so.now)
		printf("steps are due: run regsign enforce (sign also does)\n");
	/* Under the table, on standard error as alerts are: what the operator must act on. */
	char why[400];
	if (code == RS_EOK && cli_custody_wait(z.store, z.session, so.now, why, sizeof(why), NULL)) {
		fflush(stdout);
		fprintf(stderr, "waits for key holders: %s\n", why);
	}
	free(first_at);
	free(first_what);
	cli_zone_close(&z);
	return code;
}

static void enforce_help(FILE *f)
{
	fprintf(f,
		"usage: regsign [--state DIR] enforce [--zone ZONE] [--now T] [--force-clock] [--quiet]\n"
		"\n"
		"Takes every key step that is due for ZONE (or every managed zone): new keys,\n"
		"publication, activation, DS requests to the parent, retirement, removal. Prints each\n"
		"step; all steps of a zone are one transaction. A step that waits for the parent's DS\n"
		"change waits for 'regsign ds-seen' / 'ds-gone'. Refuses a time before the last run,\n"
		"or (the clock, not --now) more than clock.max-jump after it, unless --force-clock;\n"
		"'regsign zone clock-reset' recovers from runs under a clock that was ahead.\n"
		"\n"
		"example:\n"
		"  regsign --state /var/lib/regsign enforce --now 20270101000000\n");
}

/* Open the zone for a change by the operator; the due steps and the parent's DS first. */
static int open_steps(cli_zone_t *z, const args_t *a, rs_diag_t *diag, int *ret)
{
	rs_session_opts_t so = cli_session_opts(a->quiet ? CLI_QUIET : 0);
	so.force_clock = a->force_clock;
	int code = cli_zone_open(z, a->zone, &so);
	*ret = code == RS_EOK ? rs_session_parent(z->session, false, diag) : RS_EINVAL;
	if (*ret == RS_EOK)
		*ret = rs_session_enforce(z->session, diag);
	return code;
}

/* Commit what ret allows (unless done already), and close; the code. */
static int close_steps(cli_zone_t *z, int code, int ret, bool committed, rs_diag_t *diag)
{
	if (code == RS_EOK && ret == RS_EOK && !committed)
		ret = rs_session_commit(z->session, diag);
	if (code == RS_EOK)
		code = cli_check(ret, diag);
	cli_zone_close(z);
	return code;
}

static int enforce_zone(const char *name, args_t a)
{
	cli_zone_t z;
	rs_diag_t diag;
	int ret;
	a.zone = name;
	int code = open_steps(&z, &a, &diag, &ret);
	if (code == RS_EOK && ret == RS_EOK && (ret = rs_session_commit(z.session, &diag)) == RS_EOK && !a.quiet) {
		const rs_zone_rec_t *zone = rs_session_zone(z.session);
		char t[40] = "the operator (ds-seen/ds-gone)";
		if (zone->next_event != INT64_MAX)
			time_text(zone->next_event, t);
		size_t waiting = rs_keyset_pending(rs_session_keys(z.session));
		printf("%s: %zu step(s) taken; next event: %s\n", zone->name, rs_session_steps(z.session), t);
		if (waiting > 0)
			printf("%s: %zu key(s) wait for the next publication (regsign sign --zone %s): their time "
			       "counts from it\n", zone->name, waiting, zone->name);
	}
	return close_steps(&z, code, ret, true, &diag);
}

int cmd_enforce(int argc, char **argv)
{
	args_t a;
	int code;
	if (!parse(argc, argv, &a, enforce_help, false, &code))
		return code;
	if (a.zone != NULL)
		return enforce_zone(a.zone, a);
	rs_store_t *store;
	if ((code = cli_store(&store)) != RS_EOK)
		return code;
	rs_zone_rec_t *zones = NULL;
	size_t n = 0;
	if (rs_store_zone_list(store, &zones, &n) != RS_EOK)
		code = CLI_EINTERNAL;
	rs_store_close(store);
	for (size_t i = 0; i < n; i++) {
		int c = enforce_zone(zones[i].name, a);
		if (c != RS_EOK)
			code = c;
	}
	free(zones);
	return code;
}

static void plan_help(FILE *f)
{
	fprintf(f,
		"usage: regsign [--state DIR] plan --zone ZONE [--days N] [--now T] [--json]\n"
		"\n"
		"A dry run: every key event of the next N days (default 365) with its date, as the\n"
		"state machine will take them. DS changes at the parent are assumed to happen as\n"
		"soon as they are requested. Nothing is stored.\n"
		"\n"
		"--json  one JSON object instead: zone, policy, days, from, from_text,\n"
		"        ds_assumed_confirmed (bool), and events, each with time, time_text, tag\n"
		"        (null for a key not made yet), planned (\"new1\", ... for those, else null),\n"
		"        role, algorithm and what. Times are epoch seconds with a NAME_text twin in\n"
		"        ISO 8601 UTC.\n"
		"\n"
		"example:\n"
		"  regsign plan --zone cloud. --days 730\n");
}

int cmd_plan(int argc, char **argv)
{
	args_t a;
	int code;
	if (!parse(argc, argv, &a, plan_help, true, &code))
		return code;
	cli_zone_t z;
	rs_session_opts_t so = cli_session_opts(CLI_LOOK);
	if ((code = cli_zone_open(&z, a.zone, &so)) == RS_EOK && a.json) {
		const rs_zone_rec_t *zone = rs_session_zone(z.session);
		cli_json_t j;
		cli_json_begin(&j, stdout);
		cli_json_object(&j, NULL);
		cli_json_str(&j, "zone", zone->name);
		cli_json_str(&j, "policy", zone->policy);
		cli_json_int(&j, "days", a.days);
		cli_json_time(&j, "from", so.now);
		cli_json_bool(&j, "ds_assumed_confirmed", !rs_session_policy(z.session)->ds_auto);
		cli_json_array(&j, "events");
		ahead_t ah = { .json = &j };
		code = look_ahead(z.session, so.now, a.days, &ah);
		cli_json_close(&j);
		cli_json_close(&j);
		int wrote = cli_json_end(&j);
		code = code != RS_EOK ? code : wrote;
	} else if (code == RS_EOK) {
		const rs_zone_rec_t *zone = rs_session_zone(z.session);
		printf("plan for %s (policy %s), %ld days%s:\n", zone->name, zone->policy, a.days,
		       rs_session_policy(z.session)->ds_auto ? "" : "; DS changes assumed confirmed when requested");
		ahead_t ah = { .print = true };
		code = look_ahead(z.session, so.now, a.days, &ah);
	}
	cli_zone_close(&z);
	return code;
}

static void rollover_help(FILE *f)
{
	fprintf(f,
		"usage: regsign [--state DIR] rollover --zone ZONE --ksk|--zsk|--csk [--emergency] [--now T]\n"
		"\n"
		"Starts a rollover of the zone's KSK, ZSK (or CSK) now instead of when the policy's\n"
		"lifetime ends. With --emergency (a key suspected compromised, statements 4.5) the\n"
		"new key is used as soon as every cache has it and the old one is withdrawn as soon as\n"
		"it is safe, ignoring the policy's longer intervals; it may exceed max-dnskeys.\n"
		"\n"
		"example:\n"
		"  regsign rollover --zone cloud. --zsk --emergency\n");
}

int cmd_rollover(int argc, char **argv)
{
	args_t a;
	int code;
	if (!parse(argc, argv, &a, rollover_help, false, &code))
		return code;
	if (a.role == 0) {
		cli_error("say which key to roll: --ksk, --zsk or --csk");
		return RS_EINVAL;
	}
	cli_zone_t z;
	rs_diag_t diag;
	int ret;
	/* Steps that are due come first: the rollover starts from the state as of now. */
	code = open_steps(&z, &a, &diag, &ret);
	if (ret == RS_EOK)
		ret = rs_session_rollover(z.session, a.role, a.emergency ? RS_ROLLOVER_EMERGENCY : 0, &diag);
	return close_steps(&z, code, ret, false, &diag);
}

static void ds_help(FILE *f)
{
	fprintf(f,
		"usage: regsign [--state DIR] ds-seen --zone ZONE --key TAG [--now T]\n"
		"       regsign [--state DIR] ds-gone --zone ZONE --key TAG [--now T]\n"
		"\n"
		"Tell regsign that the parent now publishes (ds-seen) or no longer publishes (ds-gone)\n"
		"the DS of key TAG, as 'regsign key list' asks. The time counts from then: the\n"
		"rollover goes on once the parent's DS TTL and propagation delay have passed.\n"
		"\n"
		"example:\n"
		"  regsign ds-seen --zone cloud. --key 20326\n");
}

static int ds_event(int argc, char **argv, bool seen)
{
	args_t a;
	int code;
	if (!parse(argc, argv, &a, ds_help, false, &code))
		return code;
	if (a.tag == 0) {
		cli_error("--key TAG is required");
		return RS_EINVAL;
	}
	cli_zone_t z;
	rs_diag_t diag;
	int ret;
	code = open_steps(&z, &a, &diag, &ret);
	if (ret == RS_EOK)
		ret = rs_session_ds_done(z.session, a.tag, seen, &diag);
	/* The DS change may let the rollover go on at once. */
	if (ret == RS_EOK)
		ret = rs_session_enforce(z.session, &diag);
	return close_steps(&z, code, ret, false, &diag);
}

static void ds_check_help(FILE *f)
{
	fprintf(f,
		"usage: regsign [--state DIR] ds-check --zone ZONE [--now T]\n"
		"\n"
		"Asks each of the zone's parent agents (zone set-parent) for the zone's DS RRset,\n"
		"prints what each serves, and confirms a DS that regsign waits for once all of them\n"
		"serve it (or, for a removal, none does). enforce and sign do the same silently.\n"
		"\n"
		"example:\n"
		"  regsign ds-check --zone cloud.\n");
}

int cmd_ds_check(int argc, char **argv)
{
	args_t a;
	int code;
	if (!parse(argc, argv, &a, ds_check_help, false, &code))
		return code;
	cli_zone_t z;
	rs_session_opts_t so = cli_session_opts(a.quiet ? CLI_QUIET : 0);
	so.force_clock = a.force_clock;
	rs_diag_t diag;
	int ret = RS_EINVAL;
	if ((code = cli_zone_open(&z, a.zone, &so)) == RS_EOK &&
	    rs_session_zone(z.session)->parent_agents[0] == '\0') {
		cli_error("%s has no parent agents (see regsign zone set-parent)", rs_session_zone(z.session)->name);
		code = RS_EINVAL;
	}
	if (code == RS_EOK && (ret = rs_session_parent(z.session, true, &diag)) == RS_EOK)
		ret = rs_session_enforce(z.session, &diag);
	return close_steps(&z, code, ret, false, &diag);
}

int cmd_ds_seen(int argc, char **argv)
{
	return ds_event(argc, argv, true);
}

int cmd_ds_gone(int argc, char **argv)
{
	return ds_event(argc, argv, false);
}
