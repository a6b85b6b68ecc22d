/*
 * The zone session: a managed zone over a real SQLite state and key files,
 * driven by a fake clock through rollovers. Key steps are taken by
 * enforce-only runs between rare publications, and by publications while the
 * keys are locked (a deactivated token); every zone actually written is read
 * back and fed, in order, to the model of caching validating resolvers, and
 * the statements' intervals are measured on the files themselves.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "regsign/audit.h"
#include "regsign/session.h"
#include "regsign/verify.h"
#include "tap/tap.h"

static const char policy_text[] =
	"name: unit\n"
	"keys:\n"
	"  ksk: { algorithm: ECDSAP256SHA256, lifetime: 60d, publish: 10d, retire: 5d, rollover: double-signature }\n"
	"  zsk: { algorithm: ECDSAP256SHA256, lifetime: 20d, publish: 4d, retire: 3d, rollover: pre-publication }\n"
	"max-dnskeys: 3\n"
	"signatures: { validity: 3d, refresh: 12h, jitter: 1h, inception-offset: 1h }\n"
	"ttl: { dnskey: soa, nsec: soa, max-zone: 2h, ds-from-ns: true }\n"
	"denial: { type: nsec }\n"
	"zone: { propagation-delay: 1h, serial: increment }\n"
	"parent: { ds-ttl: 2h, propagation-delay: 1h, ds-digest: 2, cds: true }\n"
	"clock: { max-jump: 400d }\n";

static const char zone_text[] =
	"$ORIGIN unit.\n$TTL 3600\n"
	"@ SOA ns1 hostmaster 1 7200 3600 1209600 3600\n"
	"@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n"
	"child NS ns.child\nns.child A 192.0.2.3\n";

#define T0 1800000000LL
#define DAY 86400LL

/* ---- a key store that the test can lock, as a deactivated token is ---- */

typedef struct {
	rs_keystore_t *files;
	bool locked;
} lockable_t;

static int lk_generate(void *be, const rs_keygen_t *g, rs_key_t **out, char *locator, rs_diag_t *diag)
{
	lockable_t *l = be;
	if (l->locked)
		return rs_diag(diag, RS_ELOCKED, "the keys are not activated");
	return rs_keystore_generate(l->files, g, out, locator, diag);
}

static int lk_load(void *be, const char *locator, const uint8_t *origin, int alg, bool ksk, bool need_private,
		   rs_key_t **out, rs_diag_t *diag)
{
	lockable_t *l = be;
	if (l->locked && need_private)
		return rs_diag(diag, RS_ELOCKED, "the keys are not activated");
	return rs_keystore_load(l->files, locator, origin, alg, ksk, need_private, out, diag);
}

static int lk_destroy(void *be, const char *locator, rs_diag_t *diag)
{
	lockable_t *l = be;
	return l->locked ? rs_diag(diag, RS_ELOCKED, "locked") : rs_keystore_destroy(l->files, locator, diag);
}

static int lk_list(void *be, void (*fn)(void *, const char *, const char *), void *arg, rs_diag_t *diag)
{
	return rs_keystore_list(((lockable_t *)be)->files, fn, arg, diag);
}

static const rs_keystore_ops_t lockable_ops = { "lockable", lk_generate, lk_load, NULL, lk_destroy, lk_list, NULL, NULL };

/* ---- the world: a state directory, a parent, and what was published ---- */

typedef struct {
	char dir[64];
	rs_store_t *store;
	lockable_t lock;
	rs_keystore_t *keys;
	rs_model_t *model;
	rs_policy_t policy;
	int publications, failures;
	/* Per key tag: first publication showing its DNSKEY, and signing the data. */
	int64_t first_dnskey[65536 / 64];
	uint16_t tags[65536 / 64];
	int64_t first_signing[65536 / 64];
	size_t ntags;
	int64_t min_prepublication; /* over every ZSK that took over from another */
	int problems;
} world_t;

static void silent(void *arg, int level, const char *zone, const char *msg)
{
	(void)arg, (void)zone;
	if (level <= RS_LOG_WARNING && level != RS_LOG_ALERT && strstr(msg, "not activated") == NULL)
		printf("# %s\n", msg);
}

static size_t tag_slot(world_t *w, uint16_t tag)
{
	for (size_t i = 0; i < w->ntags; i++)
		if (w->tags[i] == tag)
			return i;
	w->tags[w->ntags] = tag;
	w->first_dnskey[w->ntags] = w->first_signing[w->ntags] = 0;
	return w->ntags++;
}

static rs_session_t *open_zone(world_t *w, int64_t now)
{
	rs_session_opts_t o = { .now = now, .now_given = true, .threads = 1, .operator = "unit",
				.log = { silent, NULL }, .keys = w->keys };
	rs_session_t *s = NULL;
	rs_diag_t d;
	if (rs_session_open(w->store, "unit.", &o, &s, &d) != RS_EOK)
		printf("# open: %s\n", d.text);
	return s;
}

/* The parent publishes what was asked of it at once, and the operator says so (ds-seen, ds-gone). */
static void parent_acts(world_t *w, rs_session_t *s, int64_t now)
{
	const rs_keyset_t *keys = rs_session_keys(s);
	rs_diag_t d;
	bool changed = false;
	for (size_t i = 0; i < keys->count; i++) {
		const rs_keystate_t *k = &keys->keys[i];
		if (k->ds == RS_DS_SUBMIT || k->ds == RS_DS_WITHDRAW) {
			rs_session_ds_done(s, k->tag, k->ds == RS_DS_SUBMIT, &d);
			changed = true;
		}
	}
	if (!changed)
		return;
	rs_model_set_t ds = { 0 };
	for (size_t i = 0; i < keys->count; i++) {
		const rs_keystate_t *k = &keys->keys[i];
		if (k->goal != RS_GOAL_DEAD && (k->state[RS_REC_DS] == RS_RUMOURED || k->state[RS_REC_DS] == RS_OMNIPRESENT))
			rs_model_set_add(&ds, k->tag, k->alg);
	}
	rs_model_parent(w->model, now, &ds);
}

/*
 * Feed what the file really holds to the model at the real time, and note
 * when each key first showed; verified at the time the signer's clock said.
 */
static void published(world_t *w, const char *path, int64_t clock, int64_t now)
{
	uint8_t origin[255];
	rs_dname_from_str("unit.", origin);
	rs_zone_opts_t zo = { .keep_dnssec = true, .threads = 1 };
	rs_zone_t *z = NULL;
	rs_diag_t d;
	if (rs_zone_new(origin, &zo, &z) != RS_EOK || rs_zone_read(z, path, &d) != RS_EOK ||
	    rs_zone_finish(z, &d) != RS_EOK) {
		printf("# cannot read %s back\n", path);
		w->problems++;
		rs_zone_free(z);
		return;
	}
	rs_verify_opts_t vo = { .now = clock, .threads = 1 };
	rs_verify_result_t vr;
	rs_buf_t report;
	rs_buf_init(&report, 1 << 16);
	if (rs_verify_zone(z, &vo, &report, &vr, &d) != RS_EOK || vr.problems > 0) {
		printf("# published %s is bogus: %.*s\n", path, (int)report.len, report.data ? (char *)report.data : "");
		w->problems++;
	}
	rs_buf_clear(&report);
	rs_model_set_t dnskey = { 0 }, ksig = { 0 }, zsig = { 0 };
	size_t n;
	const rs_node_t *apex = rs_zone_nodes(z, &n);
	const rs_rr_t *rrs = rs_zone_rrs(z);
	for (uint32_t i = apex->first; i < apex->first + apex->count; i++) {
		const rs_rr_t *rr = &rrs[i];
		if (rr->type == RS_TYPE_DNSKEY) {
			uint16_t tag = rs_keytag(rr->rdata, rr->rdlen);
			rs_model_set_add(&dnskey, tag, rr->rdata[3]);
			size_t slot = tag_slot(w, tag);
			if (w->first_dnskey[slot] == 0)
				w->first_dnskey[slot] = now;
		} else if (rr->type == RS_TYPE_RRSIG) {
			uint16_t covered = rs_get16(rr->rdata), tag = rs_get16(rr->rdata + 16);
			if (covered == RS_TYPE_DNSKEY) {
				rs_model_set_add(&ksig, tag, rr->rdata[2]);
			} else if (covered == RS_TYPE_SOA) {
				rs_model_set_add(&zsig, tag, rr->rdata[2]);
				size_t slot = tag_slot(w, tag);
				if (w->first_signing[slot] == 0)
					w->first_signing[slot] = now;
			}
		}
	}
	bool changed;
	rs_model_zone(w->model, now, &dnskey, &ksig, &zsig, &changed);
	rs_zone_free(z);
}

/* One signing run at the real time now by a clock that says clock: the due steps, then a publication. */
static int publish_by(world_t *w, int64_t clock, int64_t now)
{
	rs_session_t *s = open_zone(w, clock);
	if (s == NULL)
		return RS_EINVAL;
	rs_diag_t d;
	int ret = rs_session_enforce(s, &d);
	char out[128];
	snprintf(out, sizeof(out), "%s/unit.signed", w->dir);
	struct stat before;
	bool existed = stat(out, &before) == 0;
	rs_publish_opts_t po = { .output = out, .incremental = true };
	rs_publish_result_t res;
	if (ret == RS_EOK)
		ret = rs_session_publish(s, &po, &res, &d);
	if (ret == RS_EOK) {
		w->publications++;
		published(w, out, clock, now);
		/* The parent only acts on what a published zone asked for (CDS). */
		parent_acts(w, s, now);
		ret = rs_session_commit(s, &d);
	} else {
		if (!w->lock.locked && w->failures < 3)
			printf("# publish at %lld: %s\n", (long long)now, d.text);
		w->failures++;
		struct stat after;
		if (existed && (stat(out, &after) != 0 || after.st_ino != before.st_ino ||
				after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
				after.st_mtim.tv_nsec != before.st_mtim.tv_nsec))
			w->problems++; /* a failed run must leave the last good zone alone */
	}
	rs_session_close(s);
	return ret;
}

/* One signing run by a clock that is right; the file written is kept as it was. */
static int publish(world_t *w, int64_t now)
{
	return publish_by(w, now, now);
}

/* An enforce-only run (cron, or ds-seen by the operator). */
static void enforce_only(world_t *w, int64_t now)
{
	rs_session_t *s = open_zone(w, now);
	rs_diag_t d;
	if (s != NULL && rs_session_enforce(s, &d) == RS_EOK)
		rs_session_commit(s, &d);
	rs_session_close(s);
}

static int world_open(world_t *w, const char *name)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->dir, sizeof(w->dir), "/tmp/rs-session-%s.XXXXXX", name);
	rs_diag_t d;
	if (mkdtemp(w->dir) == NULL || rs_store_open(w->dir, RS_STORE_CREATE, &w->store, &d) != RS_EOK)
		return RS_EIO;
	char path[128];
	snprintf(path, sizeof(path), "%s/unit.zone", w->dir);
	FILE *f = fopen(path, "w");
	fputs(zone_text, f);
	fclose(f);
	rs_zone_rec_t z = { .soa_ttl = 3600, .soa_minimum = 3600, .added = T0, .next_event = T0, .max_ttl = 7200 };
	snprintf(z.name, sizeof(z.name), "unit.");
	snprintf(z.policy, sizeof(z.policy), "unit");
	snprintf(z.input, sizeof(z.input), "%s", path);
	int ret = rs_store_begin(w->store, &d);
	if (ret == RS_EOK)
		ret = rs_store_policy_put(w->store, "unit", policy_text, T0, &d);
	if (ret == RS_EOK)
		ret = rs_store_zone_add(w->store, &z, &d);
	if (ret == RS_EOK)
		ret = rs_store_setting_put(w->store, RS_SET_KEYSTORE, "file", &d);
	if (ret == RS_EOK)
		ret = rs_store_commit(w->store, &d);
	snprintf(path, sizeof(path), "%s/keys", w->dir);
	if (ret == RS_EOK)
		ret = rs_keystore_files(path, &w->lock.files, &d);
	if (ret == RS_EOK)
		ret = rs_keystore_new(&lockable_ops, &w->lock, &w->keys);
	if (ret == RS_EOK)
		ret = rs_policy_lookup(w->store, "unit", &w->policy, NULL, &d);
	rs_model_opts_t mo;
	rs_model_lingers(&w->policy, 3600, 0, &mo);
	if (ret == RS_EOK)
		ret = rs_model_new(&mo, &w->model);
	if (ret != RS_EOK)
		printf("# setup: %s\n", d.text);
	return ret;
}

static void world_close(world_t *w)
{
	rs_keystore_free(w->keys);
	rs_keystore_free(w->lock.files);
	rs_model_free(w->model);
	rs_store_close(w->store);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", w->dir);
	if (system(cmd) != 0)
		printf("# cannot remove %s\n", w->dir);
}

/* Every pre-publication measured on the files: first DNSKEY to first signature, for successor ZSKs. */
static int64_t shortest_prepublication(const world_t *w)
{
	int64_t min = INT64_MAX;
	for (size_t i = 0; i < w->ntags; i++)
		if (w->first_dnskey[i] != 0 && w->first_signing[i] != 0 && w->first_dnskey[i] != T0 &&
		    w->first_signing[i] - w->first_dnskey[i] < min)
			min = w->first_signing[i] - w->first_dnskey[i];
	return min;
}

static void check_world(world_t *w, const char *what)
{
	uint64_t combinations = 0, bogus = 0;
	rs_buf_t report;
	rs_buf_init(&report, 1 << 20);
	rs_model_check(w->model, &report, &combinations, &bogus);
	if (bogus > 0)
		printf("# %.*s", (int)(report.len > 600 ? 600 : report.len), (char *)report.data);
	rs_buf_clear(&report);
	ok(combinations > 0 && bogus == 0, "%s: every mix of published versions a cache can hold validates "
	   "(%llu checked)", what, (unsigned long long)combinations);
	is_int(w->problems, 0, "%s: every published zone verifies, failed runs leave the last one in place", what);
	int64_t pre = shortest_prepublication(w);
	ok(pre != INT64_MAX && pre >= w->policy.zsk.publish,
	   "%s: each new ZSK was in a published DNSKEY RRset %lld s before it signed (policy %lld s)", what,
	   (long long)(pre == INT64_MAX ? -1 : pre), (long long)w->policy.zsk.publish);
}

/* Enforce-only runs every 6 hours (cron), publications only every 5 days. */
static void test_enforce_only(void)
{
	world_t w;
	if (!ok(world_open(&w, "enforce") == RS_EOK, "a state directory with a managed zone"))
		return;
	is_int(publish(&w, T0), RS_EOK, "first publication");
	for (int64_t t = T0 + 6 * 3600; t < T0 + 130 * DAY; t += 6 * 3600) {
		if ((t - T0) % (5 * DAY) == 0)
			publish(&w, t);
		else
			enforce_only(&w, t);
	}
	ok(w.ntags >= 6, "several rollovers happened (%zu keys)", w.ntags);
	check_world(&w, "enforce-only");
	world_close(&w);
}

/* The token deactivated for days at a time: publications fail meanwhile, enforce goes on. */
static void test_deactivated(void)
{
	world_t w;
	if (!ok(world_open(&w, "locked") == RS_EOK, "a state directory with a managed zone"))
		return;
	is_int(publish(&w, T0), RS_EOK, "first publication");
	int locked_failures = 0;
	for (int64_t t = T0 + 12 * 3600; t < T0 + 130 * DAY; t += 12 * 3600) {
		int64_t day = (t - T0) / DAY;
		w.lock.locked = day % 9 >= 5; /* four days of every nine without key holders */
		if (publish(&w, t) != RS_EOK && w.lock.locked)
			locked_failures++;
		enforce_only(&w, t + 600);
	}
	ok(locked_failures > 10, "publications failed while the keys were locked (%d)", locked_failures);
	rs_zone_rec_t z;
	rs_store_zone_get(w.store, "unit.", &z);
	ok(w.publications > 100 && w.ntags >= 6, "the zone was published meanwhile too (%d times), through "
	   "rollovers (%zu keys)", w.publications, w.ntags);
	check_world(&w, "deactivated token");
	world_close(&w);
}

/* A publication that fails records that it failed, and nothing else. */
static void test_failure(void)
{
	world_t w;
	if (!ok(world_open(&w, "failure") == RS_EOK, "a state directory with a managed zone"))
		return;
	publish(&w, T0);
	rs_zone_rec_t before, after;
	rs_store_zone_get(w.store, "unit.", &before);
	rs_keyset_t kb = { 0 }, ka = { 0 };
	rs_store_keys_load(w.store, "unit.", &kb);
	w.lock.locked = true;
	ok(publish(&w, T0 + 10 * DAY) == RS_ELOCKED, "a publication with the keys locked fails");
	rs_store_zone_get(w.store, "unit.", &after);
	rs_store_keys_load(w.store, "unit.", &ka);
	ok(after.serial == before.serial && after.last_sign == before.last_sign && after.last_failure == T0 + 10 * DAY &&
	   strstr(after.last_error, "not activated") != NULL,
	   "... the zone keeps its serial and last publication, and records the failure and why");
	ok(ka.count == kb.count && memcmp(ka.keys, kb.keys, kb.count * sizeof(*kb.keys)) == 0,
	   "... and no key state moved");
	w.lock.locked = false;
	is_int(publish(&w, T0 + 10 * DAY + 60), RS_EOK, "the next publication works");
	rs_store_zone_get(w.store, "unit.", &after);
	ok(after.last_failure == 0 && after.serial == before.serial + 1, "... clears the failure, the serial goes up by one");
	/* A second session on the zone is refused while one holds it. */
	rs_session_t *one = open_zone(&w, T0 + 11 * DAY), *two = NULL;
	rs_session_opts_t o = { .now = T0 + 11 * DAY, .keys = w.keys };
	rs_diag_t d;
	ok(one != NULL && rs_session_open(w.store, "unit.", &o, &two, &d) == RS_EBUSY &&
	   strstr(d.text, "another regsign") != NULL, "one writer per zone: a second session is refused, saying why");
	rs_session_close(one);
	ok(rs_session_open(w.store, "unit.", &o, &two, &d) == RS_EOK, "... and taken once the first is closed");
	rs_session_close(two);
	rs_keyset_clear(&ka);
	rs_keyset_clear(&kb);
	world_close(&w);
}

/* A serial the state does not know of (the daemon's IXFR history, an earlier output) is never published again. */
static void test_serial_floor(void)
{
	world_t w;
	if (!ok(world_open(&w, "floor") == RS_EOK, "a state directory with a managed zone"))
		return;
	publish(&w, T0);
	rs_zone_rec_t rec;
	rs_store_zone_get(w.store, "unit.", &rec);
	rs_session_t *s = open_zone(&w, T0 + 60);
	char out[128];
	snprintf(out, sizeof(out), "%s/other.signed", w.dir);
	rs_publish_opts_t po = { .output = out, .serial_floor = rec.serial + 1000 };
	rs_publish_result_t res;
	rs_diag_t d;
	int ret = s != NULL ? rs_session_publish(s, &po, &res, &d) : RS_EINVAL;
	ok(ret == RS_EOK && res.serial == rec.serial + 1001,
	   "a publication goes above the floor it is given, not the state's serial (%u, floor %u)",
	   ret == RS_EOK ? res.serial : 0, rec.serial + 1000);
	if (s != NULL && ret == RS_EOK)
		rs_session_commit(s, &d);
	rs_session_close(s);
	/* The floor's serial was recorded: the next run, without one, still goes on from there. */
	s = open_zone(&w, T0 + 120);
	snprintf(out, sizeof(out), "%s/third.signed", w.dir);
	po = (rs_publish_opts_t){ .output = out };
	ret = s != NULL ? rs_session_publish(s, &po, &res, &d) : RS_EINVAL;
	ok(ret == RS_EOK && res.serial == rec.serial + 1002, "... and the next, to another file and without a floor, goes on from it (%u)",
	   ret == RS_EOK ? res.serial : 0);
	rs_session_close(s);
	world_close(&w);
}

/*
 * Two days of runs by a clock three days ahead, while a ZSK rollover begins;
 * then the right clock is refused until a clock reset, after which the
 * rollovers go on with every mix of versions a cache can really hold valid.
 */
static void test_clock_reset(void)
{
	world_t w;
	if (!ok(world_open(&w, "reset") == RS_EOK, "a state directory with a managed zone"))
		return;
	int64_t t = T0;
	for (; t < T0 + 15 * DAY; t += 12 * 3600)
		publish(&w, t);
	size_t keys_before = w.ntags;
	int wrong = 0;
	for (; t < T0 + 17 * DAY; t += 12 * 3600)
		wrong += publish_by(&w, t + 3 * DAY, t) == RS_EOK;
	ok(wrong == 4 && w.ntags > keys_before, "a clock three days ahead published %d times, a new ZSK among them", wrong);
	is_int(publish(&w, t), RS_ERANGE, "then the right clock is refused");
	rs_session_t *s = open_zone(&w, t);
	rs_diag_t d;
	rs_session_t *look = open_zone(&w, t); /* a second writer is refused: the reset takes the zone's lock */
	ok(look == NULL, "a clock reset is one writer of the zone");
	rs_session_close(look);
	is_int(rs_session_clock_reset(s, "", &d), RS_EINVAL, "a clock reset needs a reason");
	int ret = rs_session_clock_reset(s, "unit test", &d);
	if (ret == RS_EOK)
		ret = rs_session_commit(s, &d);
	is_int(ret, RS_EOK, "the clock reset");
	rs_session_close(s);
	rs_zone_rec_t z;
	rs_keyset_t ks = { 0 };
	rs_store_zone_get(w.store, "unit.", &z);
	rs_store_keys_load(w.store, "unit.", &ks);
	size_t future = z.last_enforce > t || z.last_sign > t || (z.next_event != INT64_MAX && z.next_event > t);
	for (size_t i = 0; i < ks.count; i++) {
		const rs_keystate_t *k = &ks.keys[i];
		for (int r = 0; r < RS_REC_COUNT; r++)
			future += k->since[r] > t;
		future += k->created > t || k->published > t || k->active > t || k->retired > t || k->removed > t;
	}
	rs_keyset_clear(&ks);
	is_int((int)future, 0, "... leaves no time of the state in the future");
	int failed = 0;
	for (; t < T0 + 90 * DAY; t += 12 * 3600)
		failed += publish(&w, t) != RS_EOK;
	is_int(failed, 0, "the right clock publishes again, without forcing it");
	ok(w.ntags >= keys_before + 3, "rollovers went on after the reset (%zu keys)", w.ntags);
	check_world(&w, "after a clock reset");
	world_close(&w);
}

int main(void)
{
	test_enforce_only();
	test_deactivated();
	test_failure();
	test_serial_floor();
	test_clock_reset();
	return done_testing();
}
