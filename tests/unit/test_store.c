/*
 * Unit tests of store, in a throwaway state directory: opening and creating
 * it, the rows of zones, keys, publications, key intents, history, settings
 * and policies, transactions and read snapshots across two connections, and
 * the per-zone locks across processes.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "regsign/store.h"
#include "tap/tap.h"

static char tmpdir[] = "/tmp/regsign-store.XXXXXX";
static char state[256];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- opening ---- */

static void test_open(void)
{
	rs_store_t *s = NULL;
	rs_diag_t d = { "" };
	struct stat st;
	is_int(rs_store_open(state, 0, &s, &d), RS_ENOENT, "without RS_STORE_CREATE, a missing directory: RS_ENOENT");
	ok(strstr(d.text, state) != NULL, "... the message names the directory: %s", d.text);
	ok(stat(state, &st) != 0 && errno == ENOENT, "... and the directory is not created");
	ok(s == NULL, "... and no handle is given");

	char empty[300];
	snprintf(empty, sizeof(empty), "%s/empty", tmpdir);
	mkdir(empty, 0700);
	d.text[0] = '\0';
	is_int(rs_store_open(empty, 0, &s, &d), RS_ENOENT, "a directory without state.db: RS_ENOENT");
	ok(strstr(d.text, empty) != NULL, "... naming it: %s", d.text);
	char db[400];
	snprintf(db, sizeof(db), "%s/state.db", empty);
	ok(stat(db, &st) != 0, "... and no state.db is made there");

	mode_t old = umask(0);
	d.text[0] = '\0';
	is_int(rs_store_open(state, RS_STORE_CREATE, &s, &d), RS_EOK, "RS_STORE_CREATE makes the state%s", d.text);
	mode_t after = umask(0);
	umask(old);
	is_int(after, 0, "the caller's umask is given back");
	ok(stat(state, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
	   "the directory is 0700 even under umask 0 (%o)", (unsigned)(st.st_mode & 0777));
	snprintf(db, sizeof(db), "%s/state.db", state);
	ok(stat(db, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600,
	   "state.db is 0600 even under umask 0 (%o)", (unsigned)(st.st_mode & 0777));
	is_str(rs_store_dir(s), state, "rs_store_dir gives the directory");
	rs_store_close(s);
	s = NULL;
	is_int(rs_store_open(state, 0, &s, &d), RS_EOK, "an existing state opens without RS_STORE_CREATE");
	rs_store_close(s);
	rs_store_close(NULL);
}

/* ---- zones ---- */

static rs_zone_rec_t zone_rec(const char *name, int v)
{
	rs_zone_rec_t z;
	memset(&z, 0, sizeof(z));
	snprintf(z.name, sizeof(z.name), "%s", name);
	snprintf(z.policy, sizeof(z.policy), "policy-%d", v);
	snprintf(z.input, sizeof(z.input), "/srv/zones/%s%d", name, v);
	z.soa_ttl = 3600u + (uint32_t)v;
	z.soa_minimum = 300u + (uint32_t)v;
	z.serial = 4000000000u + (uint32_t)v;
	z.added = 1800000000 + v;
	z.last_enforce = 1800000100 + v;
	z.last_sign = 1800000200 + v;
	z.next_event = v == 9 ? INT64_MAX : 1800000300 + v;
	z.max_ttl = 86400u + (uint32_t)v;
	z.old_max_ttl = 172800u + (uint32_t)v;
	z.old_max_until = 1800000400 + v;
	snprintf(z.parent_agents, sizeof(z.parent_agents), "192.0.2.%d@5353 2001:db8::%d", v, v);
	z.registry = false;
	snprintf(z.output, sizeof(z.output), "/srv/signed/%s%d", name, v);
	z.last_failure = v ? 1800000500 + v : 0;
	snprintf(z.last_error, sizeof(z.last_error), "cannot write 'x%d': No space left on device", v);
	return z;
}

static bool same_zone(const rs_zone_rec_t *a, const rs_zone_rec_t *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static void test_zones(rs_store_t *s)
{
	rs_diag_t d;
	rs_zone_rec_t z = zone_rec("example.", 1), back;
	/* The longest texts the record holds survive whole. */
	memset(z.input, 'i', sizeof(z.input) - 1);
	z.input[0] = '/';
	memset(z.last_error, 'e', sizeof(z.last_error) - 1);
	is_int(rs_store_begin(s, &d), RS_EOK, "begin");
	is_int(rs_store_zone_add(s, &z, &d), RS_EOK, "zone added");
	d.text[0] = '\0';
	is_int(rs_store_zone_add(s, &z, &d), RS_EINVAL, "a zone cannot be added twice");
	ok(strstr(d.text, "'example.'") != NULL, "... the message names it: %s", d.text);
	is_int(rs_store_commit(s, &d), RS_EOK, "commit");
	memset(&back, 0x55, sizeof(back));
	is_int(rs_store_zone_get(s, "example.", &back), RS_EOK, "zone get");
	ok(same_zone(&back, &z), "every field survives, registry, output, last_failure, last_error included");
	is_int(strlen(back.input), sizeof(back.input) - 1, "a 4095-octet input path survives");
	memset(&back, 0x55, sizeof(back));
	is_int(rs_store_zone_get(s, "nope.", &back), RS_ENOENT, "get of an unknown zone: RS_ENOENT");
	is_int((unsigned char)back.name[0], 0x55, "... and the output is untouched");

	/* Update changes everything but registry (and added, which is the zone's birth). */
	rs_zone_rec_t u = zone_rec("example.", 2);
	u.added = z.added;
	u.registry = true;
	rs_store_begin(s, &d);
	is_int(rs_store_zone_update(s, &u, &d), RS_EOK, "zone update");
	rs_store_commit(s, &d);
	rs_store_zone_get(s, "example.", &back);
	ok(!back.registry, "rs_store_zone_update does not set registry");
	u.registry = false;
	ok(same_zone(&back, &u), "every other field is updated");
	is_str(back.output, "/srv/signed/example.2", "... output");
	is_int(back.last_failure, 1800000502, "... last_failure");
	is_str(back.last_error, "cannot write 'x2': No space left on device", "... last_error");

	rs_store_begin(s, &d);
	is_int(rs_store_zone_mark_registry(s, "example.", &d), RS_EOK, "mark registry");
	rs_store_commit(s, &d);
	rs_store_zone_get(s, "example.", &back);
	ok(back.registry, "rs_store_zone_mark_registry sets registry");
	u = zone_rec("example.", 3);
	u.added = z.added;
	u.registry = false;
	rs_store_begin(s, &d);
	rs_store_zone_update(s, &u, &d);
	rs_store_commit(s, &d);
	rs_store_zone_get(s, "example.", &back);
	ok(back.registry, "a later update with registry false does not clear it");
	ok(back.serial == u.serial && back.last_failure == u.last_failure, "... while the other fields change");
	u.last_failure = 0;
	u.last_error[0] = '\0';
	rs_store_begin(s, &d);
	rs_store_zone_update(s, &u, &d);
	rs_store_commit(s, &d);
	rs_store_zone_get(s, "example.", &back);
	ok(back.last_failure == 0 && back.last_error[0] == '\0', "a failure is cleared by an update");

	/* List, by name. */
	rs_zone_rec_t c = zone_rec("c.test.", 4), a = zone_rec("a.test.", 5), n9 = zone_rec("b.test.", 9);
	rs_store_begin(s, &d);
	rs_store_zone_add(s, &c, &d);
	rs_store_zone_add(s, &a, &d);
	rs_store_zone_add(s, &n9, &d);
	rs_store_commit(s, &d);
	rs_zone_rec_t *list = NULL;
	size_t count = 0;
	is_int(rs_store_zone_list(s, &list, &count), RS_EOK, "zone list");
	is_int(count, 4, "four zones");
	ok(count == 4 && strcmp(list[0].name, "a.test.") == 0 && strcmp(list[1].name, "b.test.") == 0 &&
	   strcmp(list[2].name, "c.test.") == 0 && strcmp(list[3].name, "example.") == 0, "listed by name");
	ok(count == 4 && same_zone(&list[0], &a) && same_zone(&list[2], &c), "listed with every field");
	ok(count == 4 && list[1].next_event == INT64_MAX, "INT64_MAX (waits for the operator) survives");
	free(list);

	/* Remove: the zone and its keys go, history stays, key material stays claimed. */
	rs_keyset_t set = { 0 };
	rs_keystate_t k = { .tag = 7, .alg = 13, .role = RS_ROLE_CSK, .created = 1, .locator = "Kc.test.+013+00007" };
	rs_keyset_add(&set, &k);
	rs_store_begin(s, &d);
	rs_store_keys_save(s, "c.test.", &set, &d);
	rs_store_history_add(s, "c.test.", 10, 7, "key 7 created");
	rs_store_commit(s, &d);
	rs_keyset_clear(&set);
	rs_store_begin(s, &d);
	is_int(rs_store_zone_remove(s, "c.test.", &d), RS_EOK, "zone remove");
	rs_store_commit(s, &d);
	is_int(rs_store_zone_get(s, "c.test.", &back), RS_ENOENT, "the removed zone is gone");
	rs_store_keys_load(s, "c.test.", &set);
	is_int(set.count, 0, "its keys are gone");
	rs_keyset_clear(&set);
	rs_store_zone_list(s, &list, &count);
	is_int(count, 3, "three zones listed");
	free(list);
	rs_keyset_add(&set, &k);
	rs_store_begin(s, &d);
	d.text[0] = '\0';
	ok(rs_store_keys_save(s, "a.test.", &set, &d) != RS_EOK && strstr(d.text, "removed zone") != NULL,
	   "a removed zone's key material cannot serve another zone: %s", d.text);
	rs_store_rollback(s);
	rs_keyset_clear(&set);
}

/* ---- keys ---- */

static rs_keystate_t key(uint16_t tag, int v)
{
	rs_keystate_t k;
	memset(&k, 0, sizeof(k));
	k.tag = tag;
	k.alg = (uint8_t)(8 + v);
	k.role = v % 2 ? RS_ROLE_KSK : RS_ROLE_ZSK;
	k.bits = (uint16_t)(1024 * (v + 1));
	k.predecessor = (uint16_t)(tag - 1);
	k.goal = RS_GOAL_RETIRE;
	k.ds = RS_DS_SUBMIT;
	k.flags = RS_KEY_EMERGENCY | RS_KEY_ALG_ROLL;
	for (int r = 0; r < RS_REC_COUNT; r++) {
		k.state[r] = (uint8_t)((r + v) % 4);
		k.since[r] = 1800000000 + 1000 * r + v;
	}
	k.created = 1700000000 + v;
	k.published = 1700000100 + v;
	k.active = 1700000200 + v;
	k.retired = 1700000300 + v;
	k.removed = 1700000400 + v;
	k.backup = 1700000500 + v;
	k.pending = (uint8_t)(1u << RS_REC_DNSKEY | 1u << RS_REC_DS);
	snprintf(k.locator, sizeof(k.locator), "pkcs11:id=%04x;object=key%d", tag, v);
	return k;
}

static void test_keys(rs_store_t *s)
{
	rs_diag_t d;
	rs_keyset_t set = { 0 }, back = { 0 };
	rs_keystate_t k1 = key(40001, 1), k2 = key(40002, 2);
	k2.pending = 0;
	rs_keyset_add(&set, &k1);
	rs_keyset_add(&set, &k2);
	rs_store_begin(s, &d);
	d.text[0] = '\0';
	is_int(rs_store_keys_save(s, "example.", &set, &d), RS_EOK, "keys saved%s", d.text);
	rs_store_commit(s, &d);
	is_int(rs_store_keys_load(s, "example.", &back), RS_EOK, "keys loaded");
	is_int(back.count, 2, "two keys");
	ok(back.count == 2 && memcmp(&back.keys[0], &k1, sizeof(k1)) == 0, "every field of the first key survives");
	ok(back.count == 2 && memcmp(&back.keys[1], &k2, sizeof(k2)) == 0, "every field of the second key survives");
	ok(back.count == 2 && back.keys[0].pending == (1u << RS_REC_DNSKEY | 1u << RS_REC_DS) && back.keys[1].pending == 0,
	   "pending survives (and 0 stays 0)");
	rs_keyset_clear(&back);

	/* Saving again updates in place. */
	set.keys[0].pending = 0;
	set.keys[0].state[RS_REC_DS] = RS_OMNIPRESENT;
	set.keys[0].removed = 0;
	rs_store_begin(s, &d);
	rs_store_keys_save(s, "example.", &set, &d);
	rs_store_commit(s, &d);
	rs_store_keys_load(s, "example.", &back);
	ok(back.count == 2 && memcmp(&back.keys[0], &set.keys[0], sizeof(k1)) == 0, "a second save updates the key");
	rs_keyset_clear(&back);
	rs_store_keys_load(s, "a.test.", &back);
	is_int(back.count, 0, "another zone has none of them");
	rs_keyset_clear(&back);
	rs_keyset_clear(&set);
}

/* ---- publications, intents, history, settings, policies ---- */

struct pubs {
	size_t n;
	rs_publication_t p[16];
};

static void on_pub(void *arg, const rs_publication_t *pub)
{
	struct pubs *ps = arg;
	if (ps->n < 16)
		ps->p[ps->n] = *pub;
	ps->n++;
}

static void test_publications(rs_store_t *s)
{
	rs_diag_t d;
	rs_store_begin(s, &d);
	for (int i = 1; i <= 5; i++) {
		rs_publication_t p = { .time = 1800000000 + i, .serial = 4000000000u + (uint32_t)i,
				       .signatures = 10000000000ull + (uint64_t)i, .reused = (uint64_t)i * 3 };
		snprintf(p.keys, sizeof(p.keys), "dnskey=%d,%d ksk=%d zsk=%d", i, i + 1, i, i + 1);
		snprintf(p.output, sizeof(p.output), "/srv/signed/example.%d", i);
		is_int(rs_store_publication_add(s, "example.", &p, &d), RS_EOK, "publication %d added", i);
	}
	rs_publication_t other = { .time = 1, .serial = 1, .keys = "dnskey=9" };
	rs_store_publication_add(s, "a.test.", &other, &d);
	rs_store_commit(s, &d);
	struct pubs ps = { 0 };
	is_int(rs_store_publications(s, "example.", 3, on_pub, &ps), RS_EOK, "the last 3 publications");
	is_int(ps.n, 3, "three given");
	ok(ps.n == 3 && ps.p[0].serial == 4000000003u && ps.p[1].serial == 4000000004u && ps.p[2].serial == 4000000005u,
	   "the last three, oldest first");
	ok(ps.n == 3 && ps.p[2].time == 1800000005 && ps.p[2].signatures == 10000000005ull && ps.p[2].reused == 15 &&
	   strcmp(ps.p[2].keys, "dnskey=5,6 ksk=5 zsk=6") == 0 && strcmp(ps.p[2].output, "/srv/signed/example.5") == 0,
	   "every field of a publication survives");
	ps.n = 0;
	rs_store_publications(s, "example.", 100, on_pub, &ps);
	ok(ps.n == 5 && ps.p[0].serial == 4000000001u, "asking for more gives all five, oldest first");
	ps.n = 0;
	rs_store_publications(s, "example.", 0, on_pub, &ps);
	is_int(ps.n, 0, "asking for none gives none");
	ps.n = 0;
	rs_store_publications(s, "a.test.", 10, on_pub, &ps);
	ok(ps.n == 1 && strcmp(ps.p[0].keys, "dnskey=9") == 0, "another zone's publications are its own");
}

struct lines {
	size_t n;
	char text[8][128];
};

static void on_intent(void *arg, const char *locator, int64_t when)
{
	struct lines *l = arg;
	if (l->n < 8)
		snprintf(l->text[l->n], sizeof(l->text[0]), "%s@%lld", locator, (long long)when);
	l->n++;
}

static void on_history(void *arg, int64_t when, uint16_t tag, const char *what)
{
	struct lines *l = arg;
	if (l->n < 8)
		snprintf(l->text[l->n], sizeof(l->text[0]), "%lld %u %s", (long long)when, tag, what);
	l->n++;
}

static void test_intents_history(rs_store_t *s)
{
	rs_diag_t d;
	rs_store_begin(s, &d);
	is_int(rs_store_intent_add(s, "example.", "pkcs11:id=01", 50, &d), RS_EOK, "intent added");
	rs_store_intent_add(s, "example.", "Kexample.+013+00002", 30, &d);
	rs_store_intent_add(s, "a.test.", "Ka.test.+013+00003", 10, &d);
	rs_store_commit(s, &d);
	struct lines l = { 0 };
	is_int(rs_store_intents(s, "example.", on_intent, &l), RS_EOK, "intents listed");
	ok(l.n == 2 && strcmp(l.text[0], "Kexample.+013+00002@30") == 0 && strcmp(l.text[1], "pkcs11:id=01@50") == 0,
	   "the zone's two intents, oldest first, with their times");
	rs_store_begin(s, &d);
	is_int(rs_store_intent_remove(s, "pkcs11:id=01", &d), RS_EOK, "intent removed");
	rs_store_commit(s, &d);
	l.n = 0;
	rs_store_intents(s, "example.", on_intent, &l);
	ok(l.n == 1 && strcmp(l.text[0], "Kexample.+013+00002@30") == 0, "only the other intent is left");
	l.n = 0;
	rs_store_intents(s, "a.test.", on_intent, &l);
	ok(l.n == 1 && strcmp(l.text[0], "Ka.test.+013+00003@10") == 0, "another zone's intent is untouched");
	l.n = 0;
	rs_store_intents(s, "nope.", on_intent, &l);
	is_int(l.n, 0, "a zone without intents has none");

	rs_store_begin(s, &d);
	is_int(rs_store_history_add(s, "example.", 300, 0, "zone signed"), RS_EOK, "history added");
	rs_store_history_add(s, "example.", 100, 40001, "key 40001 published");
	rs_store_history_add(s, "a.test.", 200, 0, "other zone");
	rs_store_history_add(s, "example.", 100, 65535, "it's got 'quotes' and \"more\"");
	rs_store_commit(s, &d);
	l.n = 0;
	is_int(rs_store_history(s, "example.", on_history, &l), RS_EOK, "history read");
	ok(l.n == 3 && strcmp(l.text[0], "300 0 zone signed") == 0 && strcmp(l.text[1], "100 40001 key 40001 published") == 0 &&
	   strcmp(l.text[2], "100 65535 it's got 'quotes' and \"more\"") == 0,
	   "the zone's lines in the order written, with time and tag");
	l.n = 0;
	rs_store_history(s, "c.test.", on_history, &l);
	ok(l.n == 1 && strcmp(l.text[0], "10 7 key 7 created") == 0, "a removed zone's history stays");
}

static void test_settings_policies(rs_store_t *s)
{
	rs_diag_t d;
	char out[64] = "untouched";
	is_int(rs_store_setting_get(s, "keystore", out, sizeof(out)), RS_ENOENT, "an unset setting: RS_ENOENT");
	is_str(out, "untouched", "... output untouched");
	rs_store_begin(s, &d);
	is_int(rs_store_setting_put(s, "keystore", "pkcs11:token=regsign", &d), RS_EOK, "setting put");
	rs_store_commit(s, &d);
	is_int(rs_store_setting_get(s, "keystore", out, sizeof(out)), RS_EOK, "setting get");
	is_str(out, "pkcs11:token=regsign", "... its value");
	rs_store_begin(s, &d);
	rs_store_setting_put(s, "keystore", "files:/var/lib/regsign/keys", &d);
	rs_store_commit(s, &d);
	rs_store_setting_get(s, "keystore", out, sizeof(out));
	is_str(out, "files:/var/lib/regsign/keys", "a second put replaces the value");
	char small[6];
	rs_store_setting_get(s, "keystore", small, sizeof(small));
	is_str(small, "files", "a small buffer gets a terminated prefix");

	char *text = (char *)"untouched";
	is_int(rs_store_policy_get(s, "strict", &text), RS_ENOENT, "an unknown policy: RS_ENOENT");
	rs_store_begin(s, &d);
	is_int(rs_store_policy_put(s, "strict", "name: strict\n", 100, &d), RS_EOK, "policy put");
	rs_store_policy_put(s, "default", "name: default\n", 100, &d);
	rs_store_commit(s, &d);
	text = NULL;
	is_int(rs_store_policy_get(s, "strict", &text), RS_EOK, "policy get");
	is_str(text, "name: strict\n", "... its text as imported");
	free(text);
	rs_store_begin(s, &d);
	rs_store_policy_put(s, "strict", "name: strict\nkeys: {}\n", 200, &d);
	rs_store_commit(s, &d);
	text = NULL;
	rs_store_policy_get(s, "strict", &text);
	is_str(text, "name: strict\nkeys: {}\n", "a second import replaces the text");
	free(text);
	char name[64];
	ok(rs_store_policy_name(s, 0, name) == RS_EOK && strcmp(name, "default") == 0, "policy 0 is 'default'");
	ok(rs_store_policy_name(s, 1, name) == RS_EOK && strcmp(name, "strict") == 0, "policy 1 is 'strict'");
	is_int(rs_store_policy_name(s, 2, name), RS_ENOENT, "policy 2: RS_ENOENT, the end");
}

/* ---- transactions and snapshots ---- */

static void test_transactions(rs_store_t *s)
{
	rs_diag_t d;
	rs_zone_rec_t z = zone_rec("rollback.", 6), back;
	rs_keyset_t set = { 0 };
	rs_keystate_t k = key(50001, 3);
	rs_keyset_add(&set, &k);
	is_int(rs_store_begin(s, &d), RS_EOK, "begin");
	rs_store_zone_add(s, &z, &d);
	rs_store_keys_save(s, "rollback.", &set, &d);
	rs_store_history_add(s, "rollback.", 1, 0, "added");
	rs_store_setting_put(s, "rollback", "yes", &d);
	rs_store_intent_add(s, "rollback.", "Krollback.", 1, &d);
	rs_store_rollback(s);
	rs_keyset_clear(&set);
	is_int(rs_store_zone_get(s, "rollback.", &back), RS_ENOENT, "rollback: no zone");
	rs_store_keys_load(s, "rollback.", &set);
	is_int(set.count, 0, "rollback: no keys");
	rs_keyset_clear(&set);
	struct lines l = { 0 };
	rs_store_history(s, "rollback.", on_history, &l);
	rs_store_intents(s, "rollback.", on_intent, &l);
	is_int(l.n, 0, "rollback: no history, no intent");
	char out[16];
	is_int(rs_store_setting_get(s, "rollback", out, sizeof(out)), RS_ENOENT, "rollback: no setting");
	is_int(rs_store_begin(s, &d), RS_EOK, "a transaction can begin after a rollback");
	rs_store_rollback(s);

	/* A second connection writes while the first holds a read snapshot. */
	rs_store_t *s2 = NULL;
	is_int(rs_store_open(state, 0, &s2, &d), RS_EOK, "a second connection");
	if (s2 == NULL)
		return;
	is_int(rs_store_read_begin(s, &d), RS_EOK, "read_begin on the first");
	rs_zone_rec_t snap = zone_rec("snapshot.", 7);
	double t0 = now_s();
	int b = rs_store_begin(s2, &d);
	int a = b == RS_EOK ? rs_store_zone_add(s2, &snap, &d) : b;
	int c = a == RS_EOK ? rs_store_commit(s2, &d) : a;
	double took = now_s() - t0;
	ok(b == RS_EOK && a == RS_EOK && c == RS_EOK, "the second connection writes and commits during the snapshot%s%s",
	   c == RS_EOK ? "" : ": ", c == RS_EOK ? "" : d.text);
	ok(took < 5.0, "... without waiting for the reader (%.3f s)", took);
	is_int(rs_store_zone_get(s2, "snapshot.", &back), RS_EOK, "the writer sees its write");
	is_int(rs_store_zone_get(s, "snapshot.", &back), RS_ENOENT, "the snapshot does not see the later write");
	rs_zone_rec_t *list = NULL;
	size_t count = 0;
	rs_store_zone_list(s, &list, &count);
	free(list);
	is_int(count, 3, "... nor does its zone list");
	rs_store_read_end(s);
	is_int(rs_store_zone_get(s, "snapshot.", &back), RS_EOK, "after read_end the write is seen");
	ok(same_zone(&back, &snap), "... whole");
	/* After read_end the first connection can write again. */
	d.text[0] = '\0';
	is_int(rs_store_begin(s, &d), RS_EOK, "the first connection can begin after read_end%s", d.text);
	rs_store_zone_remove(s, "snapshot.", &d);
	is_int(rs_store_commit(s, &d), RS_EOK, "... and commit");
	is_int(rs_store_zone_get(s2, "snapshot.", &back), RS_ENOENT, "the second connection sees the removal");
	rs_store_close(s2);
}

/* ---- zone locks across processes ---- */

struct report {
	int ret;
	rs_diag_t diag;
};

/* In a child: try the lock, report through fd. */
static void try_lock(rs_store_t *s, const char *zone, int fd)
{
	rs_store_lock_t *l = NULL;
	struct report r = { 0 };
	r.ret = rs_store_zone_lock(s, zone, false, &l, &r.diag);
	if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(2);
}

static struct report read_report(int fd)
{
	struct report r = { .ret = 12345 };
	if (read(fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
		r.ret = 12345;
		snprintf(r.diag.text, sizeof(r.diag.text), "no report from the child");
	}
	return r;
}

/* A child that takes the lock on zone, reports, then on each byte from the parent: 'u' unlock, 'x' exit, 'p' pause. */
static pid_t holder(rs_store_t *s, const char *zone, int *to_child, int *from_child)
{
	int down[2], up[2];
	if (pipe(down) != 0 || pipe(up) != 0)
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		close(down[1]);
		close(up[0]);
		rs_store_lock_t *l = NULL;
		struct report r = { 0 };
		r.ret = rs_store_zone_lock(s, zone, false, &l, &r.diag);
		if (write(up[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(2);
		char c;
		while (read(down[0], &c, 1) == 1) {
			if (c == 'u') {
				rs_store_unlock(l);
				l = NULL;
				if (write(up[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
					_exit(2);
			} else if (c == 'x') {
				_exit(0);
			} else if (c == 'p') {
				pause();
			}
		}
		_exit(0);
	}
	close(down[0]);
	close(up[1]);
	*to_child = down[1];
	*from_child = up[0];
	return pid;
}

static struct report child_try(rs_store_t *s, const char *zone)
{
	int p[2];
	if (pipe(p) != 0)
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		try_lock(s, zone, p[1]);
		_exit(0);
	}
	close(p[1]);
	struct report r = read_report(p[0]);
	close(p[0]);
	waitpid(pid, NULL, 0);
	return r;
}

static void test_locks(rs_store_t *s)
{
	rs_diag_t d;
	rs_store_lock_t *l = NULL, *l2 = NULL;
	is_int(rs_store_zone_lock(s, "example.", false, &l, &d), RS_EOK, "lock example.");
	char me[32];
	snprintf(me, sizeof(me), "pid %ld", (long)getpid());
	struct report r = child_try(s, "example.");
	is_int(r.ret, RS_EBUSY, "another process gets RS_EBUSY for the same zone");
	ok(strstr(r.diag.text, "another regsign") != NULL && strstr(r.diag.text, me) != NULL && strstr(r.diag.text, "example.") != NULL,
	   "... with a message naming the zone and the holder's %s: %s", me, r.diag.text);
	r = child_try(s, "example.net.");
	is_int(r.ret, RS_EOK, "a different zone is lockable at once: %s", r.diag.text);
	rs_store_unlock(l);
	l = NULL;
	r = child_try(s, "example.");
	is_int(r.ret, RS_EOK, "after unlock another process can lock it: %s", r.diag.text);

	/* Held by a child: released when it unlocks, when it exits, when it is killed. */
	int to, from;
	pid_t pid = holder(s, "example.", &to, &from);
	r = read_report(from);
	is_int(r.ret, RS_EOK, "a child locks example.: %s", r.diag.text);
	snprintf(me, sizeof(me), "pid %ld", (long)pid);
	d.text[0] = '\0';
	is_int(rs_store_zone_lock(s, "example.", false, &l, &d), RS_EBUSY, "the parent gets RS_EBUSY");
	ok(strstr(d.text, "another regsign") != NULL && strstr(d.text, me) != NULL, "... naming the child's %s: %s", me,
	   d.text);
	if (write(to, "u", 1) != 1)
		abort();
	read_report(from);
	is_int(rs_store_zone_lock(s, "example.", false, &l, &d), RS_EOK, "released when the holder unlocks");
	rs_store_unlock(l);
	l = NULL;
	if (write(to, "x", 1) != 1)
		abort();
	waitpid(pid, NULL, 0);
	close(to);
	close(from);

	pid = holder(s, "example.", &to, &from);
	r = read_report(from);
	is_int(rs_store_zone_lock(s, "example.", false, &l, &d), RS_EBUSY, "a second child holds it");
	if (write(to, "x", 1) != 1)
		abort();
	waitpid(pid, NULL, 0);
	is_int(rs_store_zone_lock(s, "example.", false, &l, &d), RS_EOK, "released when the holder exits");
	rs_store_unlock(l);
	l = NULL;
	close(to);
	close(from);

	pid = holder(s, "example.", &to, &from);
	r = read_report(from);
	if (write(to, "p", 1) != 1)
		abort();
	is_int(rs_store_zone_lock(s, "example.", false, &l, &d), RS_EBUSY, "a third child holds it");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	is_int(rs_store_zone_lock(s, "example.", false, &l, &d), RS_EOK, "released when the holder is killed (kill -9)");
	rs_store_unlock(l);
	l = NULL;
	close(to);
	close(from);

	/* wait = true blocks until the holder lets go. */
	pid = holder(s, "example.", &to, &from);
	read_report(from);
	double t0 = now_s(); /* before the fork: the parent may run only after the child has slept */
	pid_t exiter = fork();
	if (exiter == 0) {
		usleep(300000);
		if (write(to, "x", 1) != 1)
			_exit(2);
		_exit(0);
	}
	int ret = rs_store_zone_lock(s, "example.", true, &l, &d);
	double waited = now_s() - t0;
	ok(ret == RS_EOK && waited > 0.2, "with wait, the lock is taken once the holder exits (%.3f s)", waited);
	rs_store_unlock(l);
	l = NULL;
	waitpid(exiter, NULL, 0);
	waitpid(pid, NULL, 0);
	close(to);
	close(from);

	/* RFC 2317 names: a '/' in the zone is not a directory in the lock's path. */
	char locks[400];
	snprintf(locks, sizeof(locks), "%s/locks", state);
	const char *classless = "0/25.2.0.192.in-addr.arpa.";
	d.text[0] = '\0';
	is_int(rs_store_zone_lock(s, classless, false, &l, &d), RS_EOK, "lock %s%s", classless, d.text);
	DIR *dir = opendir(locks);
	int found = 0, others = 0;
	bool is_file = false;
	char lock_name[300] = "";
	for (struct dirent *de; dir != NULL && (de = readdir(dir)) != NULL;) {
		if (strstr(de->d_name, "25.2.0.192.in-addr.arpa.") != NULL) {
			char p[800];
			struct stat st;
			snprintf(p, sizeof(p), "%s/%s", locks, de->d_name);
			is_file = lstat(p, &st) == 0 && S_ISREG(st.st_mode);
			found++;
			snprintf(lock_name, sizeof(lock_name), "%s", de->d_name);
		} else if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
			   strcmp(de->d_name, "example.") != 0 && strcmp(de->d_name, "example.net.") != 0) {
			others++;
		}
	}
	if (dir != NULL)
		closedir(dir);
	ok(found == 1 && is_file, "one plain lock file for it in DIR/locks: '%s'", lock_name);
	is_int(others, 0, "and nothing else there (no '0' directory)");
	char sub[500];
	struct stat st;
	snprintf(sub, sizeof(sub), "%s/0", locks);
	ok(stat(sub, &st) != 0, "no DIR/locks/0");
	r = child_try(s, classless);
	is_int(r.ret, RS_EBUSY, "the classless zone's lock holds against another process");
	r = child_try(s, "0%2F25.2.0.192.in-addr.arpa.");
	is_int(r.ret, RS_EOK, "a zone whose name spells the escape is a different lock: %s", r.diag.text);
	r = child_try(s, "25.2.0.192.in-addr.arpa.");
	is_int(r.ret, RS_EOK, "the parent zone is a different lock");
	rs_store_unlock(l);

	/* A zone name cannot reach outside DIR/locks. */
	l2 = NULL;
	is_int(rs_store_zone_lock(s, "../escape", false, &l2, &d), RS_ESYNTAX, "lock '../escape' is refused: not a name");
	is_int(rs_store_zone_lock(s, "\\.\\..escape.", false, &l2, &d), RS_EOK, "lock '\\.\\..escape.' (a label '..')");
	char dots[500];
	snprintf(dots, sizeof(dots), "%s/%%2E%%2E.escape.", locks);
	ok(stat(dots, &st) == 0, "its lock is DIR/locks/%%2E%%2E.escape.");
	char esc[500];
	snprintf(esc, sizeof(esc), "%s/escape", state);
	ok(stat(esc, &st) != 0, "no file outside DIR/locks");
	rs_store_unlock(l2);
	rs_store_unlock(NULL);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		abort();
	snprintf(state, sizeof(state), "%s/state", tmpdir);
	test_open();
	rs_store_t *s = NULL;
	rs_diag_t d;
	if (rs_store_open(state, 0, &s, &d) != RS_EOK) {
		ok(0, "reopen: %s", d.text);
		return done_testing();
	}
	test_zones(s);
	test_keys(s);
	test_publications(s);
	test_intents_history(s);
	test_settings_policies(s);
	test_transactions(s);
	test_locks(s);
	rs_store_close(s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		abort();
	return done_testing();
}
