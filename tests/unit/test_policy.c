/* Unit tests of policy: parsing, checks, the key state machine step by step, and the store. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "regsign/crypto.h"
#include "regsign/policy.h"
#include "regsign/store.h"
#include "tap/tap.h"

#define DAY 86400
#define HOUR 3600

static int next_tag;

static int make(void *arg, const rs_keyset_t *set, rs_keystate_t *k)
{
	(void)arg, (void)set;
	k->tag = (uint16_t)++next_tag;
	strcpy(k->locator, "test");
	return RS_EOK;
}

static rs_policy_t load(const char *name)
{
	rs_policy_t p;
	rs_diag_t d;
	const char *text = rs_policy_builtin(name);
	if (text == NULL || rs_policy_parse(text, strlen(text), name, &p, &d) != RS_EOK)
		abort();
	return p;
}

/* A signing run at now: the due steps, a publication that shows them, and when to wake next. */
static int enforce(const rs_policy_t *p, rs_keyset_t *set, int64_t now, int64_t *next)
{
	rs_enforce_ctx_t ctx = { make, NULL, NULL, NULL, NULL };
	rs_diag_t d;
	int ret = rs_enforce(p, set, now, &ctx, next, &d);
	if (ret == RS_EOK && rs_keyset_pending(set) > 0) {
		rs_keyset_published(set, now);
		ret = rs_enforce(p, set, now, &ctx, next, &d);
	}
	return ret;
}

static rs_keystate_t *by_role(rs_keyset_t *set, int role, int goal)
{
	for (size_t i = 0; i < set->count; i++)
		if (set->keys[i].role == role && set->keys[i].goal == goal)
			return &set->keys[i];
	return NULL;
}

/* Decisions without a publication: nothing a resolver has not seen may count as seen. */
static void test_publication(void)
{
	rs_policy_t p = load("cloud-tld");
	rs_keyset_t set = { .soa_ttl = 3600 };
	rs_enforce_ctx_t ctx = { make, NULL, NULL, NULL, NULL };
	rs_diag_t d;
	int64_t t0 = 1800000000, next;
	is_int(rs_enforce(&p, &set, t0, &ctx, &next, &d), RS_EOK, "enforce alone on a new zone");
	rs_keystate_t *zsk = by_role(&set, RS_ROLE_ZSK, RS_GOAL_ACTIVE);
	ok(zsk != NULL && zsk->state[RS_REC_DNSKEY] == RS_RUMOURED && (zsk->pending & (1u << RS_REC_DNSKEY)),
	   "the new ZSK's DNSKEY is rumoured, waiting for a publication");
	is_int(rs_keyset_pending(&set), 2, "both new keys wait for a publication");
	/* Years of enforce-only runs: no record settles. */
	for (int day = 1; day <= 800; day += 7)
		rs_enforce(&p, &set, t0 + day * 86400, &ctx, &next, &d);
	zsk = by_role(&set, RS_ROLE_ZSK, RS_GOAL_ACTIVE);
	rs_keystate_t *ksk = by_role(&set, RS_ROLE_KSK, RS_GOAL_ACTIVE);
	ok(set.count == 2 && zsk->state[RS_REC_DNSKEY] == RS_RUMOURED && ksk->state[RS_REC_DNSKEY] == RS_RUMOURED &&
	   ksk->ds == RS_DS_NONE, "800 days of enforce without a publication: still rumoured, no DS request, no rollover");
	int64_t t1 = t0 + 801 * 86400;
	rs_keyset_published(&set, t1);
	ok(zsk->since[RS_REC_DNSKEY] == t1 && zsk->published == t1 && zsk->active == t1 && zsk->pending == 0,
	   "a publication starts the clocks: since, published and active are its time");
	rs_enforce(&p, &set, t1 + 3600, &ctx, &next, &d);
	is_int(zsk->state[RS_REC_DNSKEY], RS_RUMOURED, "an hour after the publication: still rumoured");
	is_int(next, t1 + 3600 + 3600, "... and the next event is TTL + propagation after the publication");
	rs_enforce(&p, &set, next, &ctx, &next, &d);
	is_int(zsk->state[RS_REC_DNSKEY], RS_OMNIPRESENT, "omnipresent once the publication has settled");
	/* A rollover decided by enforce alone: the pre-publication counts from the publication. */
	rs_keyset_t roll = { .soa_ttl = 3600 };
	enforce(&p, &roll, t0, &next);
	rs_keystate_t *old = by_role(&roll, RS_ROLE_ZSK, RS_GOAL_ACTIVE);
	int64_t due = old->active + p.zsk.lifetime - p.zsk.publish;
	rs_enforce(&p, &roll, due, &ctx, &next, &d);
	rs_keystate_t *succ = by_role(&roll, RS_ROLE_ZSK, RS_GOAL_ACTIVE);
	ok(succ != old && succ->state[RS_REC_DNSKEY] == RS_RUMOURED && succ->pending != 0,
	   "the successor ZSK is made and waits for its publication");
	int64_t pub = due + 5 * 86400;
	for (int64_t t = due; t < pub; t += 86400)
		rs_enforce(&p, &roll, t, &ctx, &next, &d);
	enforce(&p, &roll, pub, &next);
	enforce(&p, &roll, pub + p.zsk.publish - 1, &next);
	ok(!rs_keystate_signs_data(succ), "not signing 10 days after the decision, 5 days after the publication");
	enforce(&p, &roll, pub + p.zsk.publish, &next);
	ok(rs_keystate_signs_data(succ), "signing 10 days after the publication");
	rs_keyset_clear(&set);
	rs_keyset_clear(&roll);
}

static void test_parse(void)
{
	rs_policy_t p = load("cloud-tld");
	is_int(p.ksk.alg, 8, "cloud-tld: KSK RSASHA256");
	is_int(p.ksk.bits, 2048, "cloud-tld: KSK 2048 bits");
	is_int(p.zsk.bits, 1024, "cloud-tld: ZSK 1024 bits");
	is_int(p.zsk.lifetime, 90 * DAY, "cloud-tld: ZSK lifetime 90d");
	is_int(p.zsk.publish, 10 * DAY, "cloud-tld: ZSK published 10d before use");
	is_int(p.ksk.retire, 20 * DAY, "cloud-tld: KSK kept 20d");
	is_int(p.max_dnskeys, 3, "cloud-tld: at most 3 DNSKEYs");
	ok(p.sig_validity < DAY, "cloud-tld: signatures live under a day");
	is_int(p.nsec_ttl_mode, RS_TTL_SOA, "cloud-tld: NSEC TTL = SOA TTL");
	p = load("ripe-ncc");
	is_int(p.nsec_ttl_mode, RS_TTL_SOA_MINIMUM, "ripe-ncc: NSEC TTL = SOA minimum");
	is_int(p.sig_validity, 30 * DAY, "ripe-ncc: 30-day signatures");
	p = load("default");
	ok(p.nsec3 && p.nsec3_params.iterations == 0 && p.nsec3_params.salt_len == 0,
	   "default: NSEC3 per RFC 9276");

	rs_diag_t d;
	const char *csk = "name: c\nkeys:\n  csk:\n    algorithm: ED25519\n    lifetime: 1y\n    retire: 2d\n";
	ok(rs_policy_parse(csk, strlen(csk), "c.yaml", &p, &d) == RS_EOK && p.csk && p.ksk.alg == 15,
	   "a combined signing key policy parses");
	const char *bad = "name: x\nsignatures:\n  validity: soon\n";
	ok(rs_policy_parse(bad, strlen(bad), "x.yaml", &p, &d) == RS_ESYNTAX &&
		   strstr(d.text, "x.yaml:3: signatures.validity:") != NULL,
	   "errors name file, line and field: %s", d.text);
	is_int(rs_policy_field_line(bad, strlen(bad), "signatures.validity"), 3, "field lines are found");

	char out[32];
	rs_policy_duration_format(90 * DAY + 90 * 60, out);
	is_str(out, "90d1h30m", "durations print as they are written");
	int64_t v;
	ok(rs_duration_parse("1h30m", &v) == RS_EOK && v == 5400, "compound durations parse");
	ok(rs_duration_parse("2y", &v) == RS_EOK && v == 2 * 365 * DAY, "years parse");
	ok(rs_duration_parse("3 d", &v) != RS_EOK, "a space is not a duration");
}

/* A ZSK pre-publication rollover under cloud-tld, step by step. */
static void test_zsk_rollover(void)
{
	rs_policy_t p = load("cloud-tld");
	p.ds_auto = true;
	rs_keyset_t set = { .soa_ttl = 3600 };
	int64_t t0 = 1800000000, next;
	next_tag = 0;
	is_int(enforce(&p, &set, t0, &next), RS_EOK, "enforce on an empty zone");
	is_int(set.count, 2, "a new zone gets a KSK and a ZSK");
	rs_keystate_t *zsk = by_role(&set, RS_ROLE_ZSK, RS_GOAL_ACTIVE);
	ok(zsk && rs_keystate_published(zsk) && rs_keystate_signs_data(zsk), "the first ZSK publishes and signs at once");
	is_int(next, t0 + 2 * HOUR, "next event: DNSKEY TTL + propagation later");
	enforce(&p, &set, t0 + 2 * HOUR, &next);
	rs_keystate_t *ksk = by_role(&set, RS_ROLE_KSK, RS_GOAL_ACTIVE);
	is_int(ksk->state[RS_REC_DNSKEY], RS_OMNIPRESENT, "KSK DNSKEY omnipresent after TTL + propagation");
	is_int(ksk->state[RS_REC_DS], RS_RUMOURED, "the KSK's DS goes to the parent then");
	uint16_t old_tag = by_role(&set, RS_ROLE_ZSK, RS_GOAL_ACTIVE)->tag;

	int64_t pub = t0 + 80 * DAY;
	enforce(&p, &set, pub - 1, &next);
	is_int(set.count, 2, "no new ZSK a second before lifetime - publish");
	enforce(&p, &set, pub, &next);
	is_int(set.count, 3, "the successor ZSK is created at lifetime - publish");
	rs_keystate_t *new_zsk = by_role(&set, RS_ROLE_ZSK, RS_GOAL_ACTIVE);
	ok(new_zsk && rs_keystate_published(new_zsk) && !rs_keystate_signs_data(new_zsk),
	   "the successor is published, not signing");
	enforce(&p, &set, pub + 10 * DAY - 1, &next);
	new_zsk = by_role(&set, RS_ROLE_ZSK, RS_GOAL_ACTIVE);
	ok(!rs_keystate_signs_data(new_zsk), "not signing a second before the 10 days are over");
	enforce(&p, &set, pub + 10 * DAY, &next);
	new_zsk = by_role(&set, RS_ROLE_ZSK, RS_GOAL_ACTIVE);
	rs_keystate_t *old = rs_keyset_find(&set, old_tag);
	ok(rs_keystate_signs_data(new_zsk) && !rs_keystate_signs_data(old) && rs_keystate_published(old),
	   "after 10 days the new ZSK signs; the old one stays published");
	enforce(&p, &set, pub + 20 * DAY - 1, &next);
	ok(rs_keystate_published(rs_keyset_find(&set, old_tag)), "the old ZSK is still published at 20d - 1s");
	enforce(&p, &set, pub + 20 * DAY, &next);
	ok(!rs_keystate_published(rs_keyset_find(&set, old_tag)), "... and withdrawn 10 days after retiring");
	enforce(&p, &set, pub + 20 * DAY + 2 * HOUR, &next);
	ok(rs_keyset_find(&set, old_tag) == NULL, "removed once its DNSKEY left every cache");
	rs_keyset_clear(&set);
}

static void test_ds_and_limits(void)
{
	rs_policy_t p = load("cloud-tld");
	rs_keyset_t set = { .soa_ttl = 3600 };
	int64_t t0 = 1800000000, next;
	rs_diag_t d;
	rs_enforce_ctx_t ctx = { make, NULL, NULL, NULL };
	next_tag = 100;
	enforce(&p, &set, t0, &next);
	enforce(&p, &set, t0 + 2 * HOUR, &next);
	rs_keystate_t *ksk = by_role(&set, RS_ROLE_KSK, RS_GOAL_ACTIVE);
	is_int(ksk->ds, RS_DS_SUBMIT, "without ds-auto the DS waits for the operator");
	is_int(next, t0 + 7 * HOUR, "next event: the ZSK's signatures in every cache (largest TTL + propagation)");
	ok(rs_enforce_ds_gone(&set, ksk->tag, t0 + 3 * HOUR, &d) == RS_EINVAL, "ds-gone for a DS not asked to go is refused");
	ok(rs_enforce_ds_seen(&set, 9999, t0, &d) == RS_ENOKEY, "ds-seen for an unknown key is refused");
	is_int(rs_enforce_ds_seen(&set, ksk->tag, t0 + 3 * HOUR, &d), RS_EOK, "ds-seen");
	is_int(ksk->state[RS_REC_DS], RS_RUMOURED, "the DS is rumoured from then");
	enforce(&p, &set, t0 + 3 * HOUR + DAY + HOUR, &next);
	is_int(ksk->state[RS_REC_DS], RS_OMNIPRESENT, "and omnipresent a DS TTL + parent propagation later");

	/* A KSK rollover and a ZSK rollover at once would make 4 DNSKEYs: the second is refused. */
	int64_t t = t0 + 5 * DAY;
	is_int(rs_enforce_rollover(&p, &set, RS_ROLE_KSK, 0, t, &ctx, &d), RS_EOK, "manual KSK rollover");
	enforce(&p, &set, t, &next);
	ok(rs_enforce_rollover(&p, &set, RS_ROLE_ZSK, 0, t, &ctx, &d) == RS_ELIMIT && strstr(d.text, "allows 3"),
	   "a ZSK rollover that would exceed max-dnskeys is refused: %s", d.text);
	ok(rs_enforce_rollover(&p, &set, RS_ROLE_KSK, 0, t, &ctx, &d) == RS_EINVAL,
	   "a second KSK rollover while one runs is refused");
	size_t published = 0;
	for (size_t i = 0; i < set.count; i++)
		published += rs_keystate_published(&set.keys[i]);
	is_int(published, 3, "3 DNSKEYs during the KSK rollover");
	/* A compromised ZSK cannot wait for the KSK rollover to end: an emergency goes over the limit. */
	is_int(rs_enforce_rollover(&p, &set, RS_ROLE_ZSK, RS_ROLLOVER_EMERGENCY, t, &ctx, &d), RS_EOK,
	       "an emergency ZSK rollover is taken even at the limit");
	enforce(&p, &set, t, &next);
	published = 0;
	for (size_t i = 0; i < set.count; i++)
		published += rs_keystate_published(&set.keys[i]);
	is_int(published, 4, "the emergency ZSK is published at once (4 DNSKEYs)");
	rs_keyset_clear(&set);
}

static void test_store(void)
{
	char dir[] = "/tmp/regsign-store.XXXXXX";
	if (mkdtemp(dir) == NULL)
		abort();
	char state[64];
	snprintf(state, sizeof(state), "%s/state", dir);
	rs_store_t *s;
	rs_diag_t d;
	is_int(rs_store_open(state, RS_STORE_CREATE, &s, &d), RS_EOK, "open a new state directory");
	struct stat st;
	ok(stat(state, &st) == 0 && (st.st_mode & 0777) == 0700, "state directory is 0700");
	rs_zone_rec_t z = { .name = "example.", .policy = "default", .input = "/x", .soa_ttl = 3600, .next_event = 5 };
	rs_store_begin(s, &d);
	is_int(rs_store_zone_add(s, &z, &d), RS_EOK, "zone added");
	ok(rs_store_zone_add(s, &z, &d) == RS_EINVAL, "a zone cannot be added twice");
	rs_keyset_t set = { 0 };
	rs_keystate_t k = { .tag = 4242, .alg = 13, .role = RS_ROLE_KSK, .ds = RS_DS_SUBMIT,
			    .state = { RS_OMNIPRESENT, RS_RUMOURED, 0, 0 }, .since = { 1, 2, 3, 4 },
			    .created = 10, .published = 11, .locator = "Kexample.+013+04242" };
	rs_keyset_add(&set, &k);
	is_int(rs_store_keys_save(s, "example.", &set, &d), RS_EOK, "keys saved");
	rs_store_rollback(s);
	rs_zone_rec_t back;
	is_int(rs_store_zone_get(s, "example.", &back), RS_ENOENT, "a rolled back transaction leaves nothing");
	rs_store_begin(s, &d);
	rs_store_zone_add(s, &z, &d);
	rs_store_keys_save(s, "example.", &set, &d);
	rs_store_commit(s, &d);
	rs_store_close(s);
	rs_keyset_clear(&set);

	is_int(rs_store_open(state, RS_STORE_CREATE, &s, &d), RS_EOK, "reopen");
	ok(rs_store_zone_get(s, "example.", &back) == RS_EOK && back.next_event == 5 && back.soa_ttl == 3600,
	   "the zone row survives");
	rs_store_keys_load(s, "example.", &set);
	ok(set.count == 1 && memcmp(&set.keys[0], &k, sizeof(k)) == 0, "every field of a key survives");
	rs_store_close(s);
	rs_keyset_clear(&set);

	/* A database from a newer regsign is refused, not damaged. */
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "python3 -c \"import sqlite3; c=sqlite3.connect('%s/state.db'); "
		 "c.execute('pragma user_version=99'); c.commit()\"", state);
	if (system(cmd) == 0) {
		ok(rs_store_open(state, RS_STORE_CREATE, &s, &d) == RS_EINVAL && strstr(d.text, "newer") != NULL,
		   "a newer schema is refused: %s", d.text);
	} else {
		ok(1, "# SKIP python3 missing");
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		abort();
}

/* The refresh margin against SOA expire + the largest TTL (a warning, policy/margin.c). */
static void test_margin(void)
{
	rs_policy_t p = load("default"); /* 14d - 1d - 12h = 12d12h; ttl.max-zone 1d */
	rs_diag_t d;
	is_int(rs_policy_check_margin(&p, 7 * 86400, 0, &d), RS_EOK, "margin: 12d12h covers expire 7d + 1d");
	is_int(rs_policy_check_margin(&p, 1209600, 0, &d), RS_ERANGE, "margin: 12d12h does not cover expire 14d + 1d");
	ok(strstr(d.text, "refresh margin 12d12h") != NULL && strstr(d.text, "SOA expire 14d") != NULL &&
	   strstr(d.text, "TTL 1d") != NULL, "margin: the reason names the figures (%s)", d.text);
	is_int(rs_policy_check_margin(&p, 11 * 86400 + 43200, 0, &d), RS_EOK, "margin: exactly covered is enough");
	p.max_zone_ttl = 0;
	is_int(rs_policy_check_margin(&p, 12 * 86400, 86400, &d), RS_ERANGE, "margin: the zone's largest TTL without ttl.max-zone");
	is_int(rs_policy_check_margin(&p, 12 * 86400, 3600, &d), RS_EOK, "margin: ... a small one fits");
}

/* Key steps with their times, as a run reports them. */
typedef struct {
	int64_t when[64];
	uint16_t tag[64];
	rs_event_type_t type[64];
	size_t n;
} steps_t;

static void record(void *arg, int64_t when, const rs_event_t *ev)
{
	steps_t *s = arg;
	if (ev->key != NULL && ev->type != RS_EV_STATE && s->n < 64) {
		s->when[s->n] = when;
		s->tag[s->n] = ev->key->tag;
		s->type[s->n++] = ev->type;
	}
}

static int64_t step_at(const steps_t *s, uint16_t tag, rs_event_type_t type)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->tag[i] == tag && s->type[i] == type)
			return s->when[i];
	return 0;
}

/* Every due step and a publication right after it, from t0 for days. */
static void run_days(const rs_policy_t *p, rs_keyset_t *set, int64_t t0, int days, steps_t *steps,
		     int emergency_day)
{
	rs_enforce_ctx_t ctx = { make, NULL, record, steps, NULL };
	rs_diag_t d;
	bool rolled = false;
	for (int64_t t = t0, next = t0; t < t0 + (int64_t)days * DAY;) {
		if (emergency_day > 0 && !rolled && t >= t0 + (int64_t)emergency_day * DAY) {
			rolled = true;
			rs_enforce_rollover(p, set, RS_ROLE_KSK, RS_ROLLOVER_EMERGENCY, t, &ctx, &d);
		}
		rs_enforce(p, set, t, &ctx, &next, &d);
		rs_keyset_published(set, t);
		rs_enforce(p, set, t, &ctx, &next, &d);
		t = next < t + DAY ? next : t + DAY;
	}
}

/* RFC 5011: the add hold-down before the DS swap, the revoked old KSK for the remove hold-down. */
static void test_rfc5011(void)
{
	rs_policy_t p = load("default");
	p.ds_auto = true;
	p.anchors.rfc5011 = true;
	rs_diag_t d;
	ok(rs_policy_check(&p, 3600, &d) == RS_EOK, "default + rfc5011 passes the policy check");
	rs_keyset_t set = { .soa_ttl = 3600 };
	steps_t st = { .n = 0 };
	int64_t t0 = 1800000000;
	next_tag = 0;
	run_days(&p, &set, t0, 450, &st, 0);
	uint16_t old = 0, new = 0;
	for (size_t i = 0; i < set.count; i++)
		if (set.keys[i].role == RS_ROLE_KSK)
			*(set.keys[i].predecessor ? &new : &old) = set.keys[i].tag;
	int64_t published = step_at(&st, new, RS_EV_PUBLISHED), submitted = step_at(&st, new, RS_EV_DS_SUBMIT);
	int64_t revoked = step_at(&st, old, RS_EV_REVOKED), retired = step_at(&st, old, RS_EV_RETIRED);
	int64_t settle = 3600 + p.zone_propagation;
	ok(old != 0 && new != 0 && published != 0, "a KSK rollover within 450 days");
	ok(submitted >= published + settle + p.anchors.add_holddown,
	   "the new KSK's DS waits for the add hold-down after its DNSKEY is in every cache");
	ok(submitted < published + settle + p.anchors.add_holddown + DAY, "... and not much longer");
	ok(submitted - step_at(&st, old, RS_EV_DS_SUBMIT) <= p.ksk.lifetime + DAY, "the rollover keeps the KSK lifetime");
	ok(revoked != 0 && revoked > submitted, "the old KSK is revoked after the DS swap");
	ok(retired >= revoked + settle + p.anchors.remove_holddown,
	   "the revoked key signs the DNSKEY RRset through the remove hold-down");
	ok(step_at(&st, old, RS_EV_WITHDRAWN) >= retired, "withdrawn after that");
	rs_keyset_clear(&set);

	/* A rollover before the first DS reached the parent: no DS swap, the revocation still waits. */
	rs_keyset_t fresh = { .soa_ttl = 3600 };
	steps_t fst = { .n = 0 };
	next_tag = 0;
	rs_enforce_ctx_t fctx = { make, NULL, record, &fst, NULL };
	int64_t fnext;
	rs_enforce(&p, &fresh, t0, &fctx, &fnext, &d);
	rs_keyset_published(&fresh, t0);
	ok(rs_enforce_rollover(&p, &fresh, RS_ROLE_KSK, 0, t0 + 60, &fctx, &d) == RS_EOK, "a KSK rollover at once");
	run_days(&p, &fresh, t0 + 60, 60, &fst, 0);
	int64_t fpub = step_at(&fst, 3, RS_EV_PUBLISHED), frev = step_at(&fst, 1, RS_EV_REVOKED);
	ok(fpub != 0 && frev >= fpub + settle + p.anchors.add_holddown,
	   "... the old KSK is revoked only once the new one is trusted by tracking resolvers");
	rs_keyset_clear(&fresh);

	/* Emergency: the compromised KSK signs for the minimum retrieval time and until the successor is trusted. */
	snprintf(p.anchors.aup, sizeof(p.anchors.aup), "test AUP");
	st.n = 0;
	next_tag = 0;
	run_days(&p, &set, t0, 120, &st, 10);
	int64_t made = step_at(&st, 3, RS_EV_CREATED);
	revoked = step_at(&st, 1, RS_EV_REVOKED);
	ok(made != 0 && revoked >= made + p.anchors.min_retrieval && revoked >= made + settle + p.anchors.add_holddown,
	   "a compromised KSK keeps signing for the minimum retrieval time and the add hold-down");
	ok(step_at(&st, 3, RS_EV_DS_SUBMIT) < made + DAY, "its emergency successor's DS goes at once");
	rs_keyset_clear(&set);

	/* The simulation's tracking resolver: kept by rfc5011, lost by a rollover without it. */
	rs_sim_opts_t so = { .start = t0, .days = 800, .soa_ttl = 3600 };
	rs_sim_result_t res;
	rs_buf_t tl;
	rs_buf_init(&tl, 1 << 24);
	ok(rs_simulate(&p, &so, &tl, NULL, &res, &d) == RS_EOK && res.anchor_problems == 0 && res.bogus == 0,
	   "800 days with rfc5011: the tracking resolver always has a trusted key, nothing bogus");
	so.emergency_ksk_at = t0 + 100 * DAY;
	rs_buf_clear(&tl);
	rs_buf_init(&tl, 1 << 24);
	ok(rs_simulate(&p, &so, &tl, NULL, &res, &d) == RS_EOK && res.anchor_problems == 0 && res.bogus == 0,
	   "... through an emergency KSK rollover too");
	/* An algorithm rollover: the old algorithm's KSK revoked for the remove hold-down before it goes. */
	rs_policy_t next_alg = p;
	next_alg.ksk.alg = next_alg.zsk.alg = RS_ALG_ED25519;
	next_alg.ksk.bits = next_alg.zsk.bits = 256;
	so = (rs_sim_opts_t){ .start = t0, .days = 400, .soa_ttl = 3600, .policy_change_at = t0 + 50 * DAY,
			      .new_policy = &next_alg };
	rs_buf_clear(&tl);
	rs_buf_init(&tl, 1 << 24);
	ok(rs_simulate(&p, &so, &tl, NULL, &res, &d) == RS_EOK && res.anchor_problems == 0 && res.bogus == 0,
	   "an algorithm rollover with rfc5011: the tracking resolver always has a trusted key, nothing bogus");
	ok(strstr((const char *)tl.data, "revoked") != NULL, "... the old algorithm's KSK was revoked");
	rs_policy_t plain = load("default");
	so = (rs_sim_opts_t){ .start = t0, .days = 800, .soa_ttl = 3600, .track_rfc5011 = true };
	rs_buf_clear(&tl);
	rs_buf_init(&tl, 1 << 24);
	ok(rs_simulate(&plain, &so, &tl, NULL, &res, &d) == RS_EOK && res.anchor_problems > 0 && res.bogus == 0 &&
	   strstr((const char *)tl.data, "ANCHOR: no key the resolver trusts") != NULL,
	   "without rfc5011 a KSK rollover leaves a tracking resolver without a trusted key (DS resolvers fine)");
	rs_buf_clear(&tl);

	p.ksk.lifetime = 50 * DAY;
	ok(rs_policy_check(&p, 3600, &d) == RS_EINVAL && strstr(d.text, "keys.ksk.lifetime") != NULL,
	   "a KSK lifetime shorter than both hold-downs is refused");
	p.ksk.lifetime = 365 * DAY;
	p.anchors.remove_holddown = 0;
	ok(rs_policy_check(&p, 3600, &d) == RS_EINVAL && strstr(d.text, "remove-holddown") != NULL,
	   "a zero remove hold-down is refused");
}

/* zonemd: a hash, a list (YAML or comma-separated), none; anything else names file, line and field. */
static void test_zonemd(void)
{
	static const struct {
		const char *text;
		int n;
		uint8_t h0, h1;
	} good[] = {
		{ "name: z\nzonemd: sha384\n", 1, 1, 0 },
		{ "name: z\nzonemd: SHA512\n", 1, 2, 0 },
		{ "name: z\nzonemd: [sha384, sha512]\n", 2, 1, 2 },
		{ "name: z\nzonemd: \"sha512, sha384\"\n", 2, 2, 1 },
		{ "name: z\nzonemd: none\n", 0, 0, 0 },
	};
	rs_policy_t p;
	rs_diag_t d;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int ret = rs_policy_parse(good[i].text, strlen(good[i].text), "z.yaml", &p, &d);
		ok(ret == RS_EOK && p.zonemd_set && p.nzonemd == good[i].n && (good[i].n < 1 || p.zonemd[0] == good[i].h0) &&
		   (good[i].n < 2 || p.zonemd[1] == good[i].h1), "policy zonemd %d: %s", (int)i, ret ? d.text : "read");
	}
	const char *unset = "name: z\n";
	ok(rs_policy_parse(unset, strlen(unset), "z.yaml", &p, &d) == RS_EOK && !p.zonemd_set,
	   "no zonemd: the input decides");
	static const char *const bad[] = {
		"name: z\nzonemd: md5\n", "name: z\nzonemd: [sha384, sha384]\n", "name: z\nzonemd: []\n",
		"name: z\nzonemd: [none, sha384]\n", "name: z\nzonemd:\n  hash: sha384\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = rs_policy_parse(bad[i], strlen(bad[i]), "z.yaml", &p, &d);
		ok(ret == RS_ESYNTAX && strncmp(d.text, "z.yaml:", 7) == 0 && strstr(d.text, ": zonemd: ") != NULL,
		   "refused: %s", d.text);
	}
}

int main(void)
{
	test_zonemd();
	test_margin();
	test_parse();
	test_zsk_rollover();
	test_publication();
	test_ds_and_limits();
	test_store();
	test_rfc5011();
	return done_testing();
}
