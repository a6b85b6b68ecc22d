/*
 * Managed zones: the state directory, a zone's policy and keys, the enforcer
 * run inside one transaction, and key files of the file back end in DIR/keys.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custody.h"
#include "managed.h"
#include "regsign/dns.h"
#include "regsign/registry.h"

int cli_store(rs_store_t **out)
{
	rs_diag_t diag;
	int ret = rs_store_open(cli_state_dir(), out, &diag);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		return cli_exit_code(ret);
	}
	return EXIT_OK;
}

int cli_policy_get(rs_store_t *store, const char *name, rs_policy_t *out, char **text_out)
{
	char *text = NULL;
	const char *label = "stored policy";
	int ret = store != NULL ? rs_store_policy_get(store, name, &text) : RS_ENOENT;
	if (ret == RS_ENOENT) {
		const char *builtin = rs_policy_builtin(name);
		if (builtin == NULL) {
			cli_error("no policy '%s' (see regsign policy list)", name);
			return EXIT_INPUT;
		}
		text = strdup(builtin);
		label = "shipped policy";
		ret = text != NULL ? RS_EOK : RS_ENOMEM;
	}
	if (ret != RS_EOK) {
		cli_error("cannot read policy '%s': %s", name, rs_strerror(ret));
		return EXIT_INTERNAL;
	}
	char where[128];
	snprintf(where, sizeof(where), "%s %s", label, name);
	rs_diag_t diag;
	ret = rs_policy_parse(text, strlen(text), where, out, &diag);
	if (ret == RS_EOK && rs_policy_check(out, 0, &diag) != RS_EOK) {
		cli_policy_refusal(where, text, diag.text);
		free(text);
		return EXIT_INPUT;
	}
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		free(text);
		return EXIT_INPUT;
	}
	if (text_out != NULL)
		*text_out = text;
	else
		free(text);
	return EXIT_OK;
}

void cli_policy_refusal(const char *label, const char *text, const char *reason)
{
	char path[96];
	size_t n = strcspn(reason, " :");
	snprintf(path, sizeof(path), "%.*s", (int)(n < sizeof(path) ? n : sizeof(path) - 1), reason);
	size_t line = rs_policy_field_line(text, strlen(text), path);
	if (line > 0)
		cli_error("%s:%zu: %s", label, line, reason);
	else
		cli_error("%s: %s", label, reason);
}

int cli_check_ttls(const rs_zone_t *zone, const rs_policy_t *policy)
{
	size_t nnodes;
	const rs_node_t *nodes = rs_zone_nodes(zone, &nnodes);
	const rs_rr_t *rrs = rs_zone_rrs(zone);
	size_t nrr = nnodes ? nodes[nnodes - 1].first + nodes[nnodes - 1].count : 0;
	for (size_t i = 0; i < nrr; i++)
		if (rrs[i].ttl > policy->max_zone_ttl && rrs[i].line != 0) {
			cli_error("%s:%u: TTL %u is above the policy's largest zone TTL (ttl.max-zone %u): "
				  "its signatures could expire in caches", rs_zone_file_name(zone, rrs[i].file),
				  rrs[i].line, rrs[i].ttl, policy->max_zone_ttl);
			return EXIT_INPUT;
		}
	return EXIT_OK;
}

bool cli_zone_name(const char *text, char out[256], uint8_t wire[255])
{
	if (text == NULL) {
		cli_error("--zone is required");
		return false;
	}
	if (rs_dname_from_str(text, wire) != RS_EOK) {
		cli_error("invalid zone name '%s'", text);
		return false;
	}
	rs_dname_to_str(wire, out, 256);
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return true;
}

void cli_key_path(const cli_zone_t *z, const char *locator, const char *suffix, char *out, size_t max)
{
	snprintf(out, max, "%s/keys/%s%s", rs_store_dir(z->store), locator, suffix);
}

/* Overwrite a file's bytes before unlinking it: a retired key must not be recoverable from the disk. */
static void destroy_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_NOFOLLOW);
	if (fd >= 0) {
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			char zero[4096] = { 0 };
			for (off_t done = 0; done < st.st_size; done += (off_t)sizeof(zero))
				if (write(fd, zero, sizeof(zero)) < 0)
					break;
			fsync(fd);
		}
		close(fd);
	}
	unlink(path);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Key files no key row names (left by a crash before a commit). */
static void clean_key_files(cli_zone_t *z)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/keys", rs_store_dir(z->store));
	DIR *d = opendir(path);
	if (d == NULL)
		return;
	char prefix[300];
	snprintf(prefix, sizeof(prefix), "K%s+", z->zone.name);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strncasecmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		size_t base = strcspn(de->d_name + strlen(prefix), ".") + strlen(prefix);
		bool known = false;
		for (size_t i = 0; i < z->keys.count && !known; i++)
			known = strlen(z->keys.keys[i].locator) == base &&
				strncmp(z->keys.keys[i].locator, de->d_name, base) == 0;
		if (!known) {
			char file[4400];
			snprintf(file, sizeof(file), "%s/keys/%s", rs_store_dir(z->store), de->d_name);
			destroy_file(file);
		}
	}
	closedir(d);
}

/* Destroy a removed key's material; returns what was destroyed (NULL: nothing left to destroy). */
static const char *destroy_material(cli_zone_t *z, const rs_keystate_t *k, bool *locked)
{
	char path[4400];
	if (!cli_locator_is_token(k->locator)) {
		cli_key_path(z, k->locator, ".private", path, sizeof(path));
		bool had = exists(path);
		if (had)
			destroy_file(path);
		cli_key_path(z, k->locator, ".key", path, sizeof(path));
		if (exists(path))
			unlink(path);
		return had ? "key files overwritten and removed" : NULL;
	}
	rs_hsm_t *h;
	rs_diag_t diag;
	int ret = cli_hsm(z->store, CLI_HSM_ADMIN, &h, &diag);
	if (ret == RS_ELOCKED) {
		if (!*locked)
			fprintf(stderr, "%s: destroying removed keys waits: %s\n", z->zone.name, diag.text);
		*locked = true;
		return NULL;
	}
	if (ret == RS_EOK)
		ret = rs_hsm_destroy(h, k->locator, &diag);
	if (ret == RS_EOK)
		return "destroyed in the token (C_DestroyObject)";
	if (ret != RS_ENOENT)
		cli_error("%s: key %u: %s", z->zone.name, k->tag, diag.text);
	return NULL;
}

void cli_zone_destroy_keys(cli_zone_t *z)
{
	bool locked = false, begun = false;
	for (size_t i = 0; i < z->keys.count; i++) {
		const rs_keystate_t *k = &z->keys.keys[i];
		if (k->goal != RS_GOAL_DEAD || k->locator[0] == '\0')
			continue;
		const char *what = destroy_material(z, k, &locked);
		if (what == NULL)
			continue;
		if (!begun && rs_store_begin(z->store, NULL) != RS_EOK)
			return;
		begun = true;
		cli_audit(z->store, "key-destroy", z->zone.name, k->tag, "ok", "%s %s: %s",
			  rs_role_name(k->role), rs_alg_name(k->alg), what);
	}
	if (begun && rs_store_commit(z->store, NULL) != RS_EOK)
		rs_store_rollback(z->store);
	if (begun)
		cli_audit_flush(z->store);
}

/* Token keys labelled for this zone that no key row names: made before a crash, never committed. */
typedef struct {
	cli_zone_t *z;
	char prefix[260];
	char orphans[8][RS_LOCATOR_MAX];
	size_t count;
} orphans_t;

static void orphan_seen(void *arg, const char *locator, const char *label)
{
	orphans_t *o = arg;
	if (strncmp(label, o->prefix, strlen(o->prefix)) != 0 || o->count == 8)
		return;
	for (size_t i = 0; i < o->z->keys.count; i++)
		if (strcmp(o->z->keys.keys[i].locator, locator) == 0)
			return;
	snprintf(o->orphans[o->count++], RS_LOCATOR_MAX, "%s", locator);
}

/* What a crash between making a key and committing it left behind. */
static void clean_orphans(cli_zone_t *z)
{
	char backend[16];
	if (rs_store_setting_get(z->store, SET_KEYSTORE, backend, sizeof(backend)) != RS_EOK ||
	    strcmp(backend, "file") == 0) {
		clean_key_files(z);
		return;
	}
	rs_hsm_t *h;
	orphans_t o = { .z = z };
	snprintf(o.prefix, sizeof(o.prefix), "%s ", z->zone.name);
	if (cli_hsm(z->store, CLI_HSM_SIGN, &h, NULL) != RS_EOK || rs_hsm_list(h, orphan_seen, &o, NULL) != RS_EOK)
		return;
	for (size_t i = 0; i < o.count; i++)
		if (rs_hsm_destroy(h, o.orphans[i], NULL) == RS_EOK)
			cli_audit(z->store, "key-destroy", z->zone.name, 0, "ok", "uncommitted key %s (left by an "
				  "interrupted run) destroyed in the token", o.orphans[i]);
}

int cli_zone_open(cli_zone_t *z, const char *name, bool quiet)
{
	memset(z, 0, sizeof(*z));
	z->quiet = quiet;
	z->now = cli_now();
	char canon[256];
	if (!cli_zone_name(name, canon, z->origin))
		return EXIT_INPUT;
	int code = cli_store(&z->store);
	if (code != EXIT_OK)
		return code;
	rs_diag_t diag;
	if (rs_store_begin(z->store, &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		return EXIT_INTERNAL;
	}
	z->in_tx = true;
	int ret = rs_store_zone_get(z->store, canon, &z->zone);
	if (ret == RS_ENOENT) {
		cli_error("zone '%s' is not managed here (see regsign zone add)", canon);
		return EXIT_INPUT;
	}
	if (ret == RS_EOK)
		ret = rs_store_keys_load(z->store, canon, &z->keys);
	if (ret != RS_EOK) {
		cli_error("cannot read the state of '%s': %s", canon, rs_strerror(ret));
		return EXIT_INTERNAL;
	}
	z->keys.soa_ttl = z->zone.soa_ttl;
	z->keys.soa_minimum = z->zone.soa_minimum;
	z->keys.old_max_zone_ttl = z->zone.old_max_ttl;
	z->keys.old_max_until = z->zone.old_max_until;
	code = cli_policy_get(z->store, z->zone.policy, &z->policy, NULL);
	if (code != EXIT_OK)
		return code;
	/* A new or re-imported policy may allow less TTL than the one the zone was signed under. */
	rs_keyset_max_ttl_change(&z->keys, z->zone.max_ttl, z->policy.max_zone_ttl, z->policy.zone_propagation,
				 z->now);
	z->zone.max_ttl = z->policy.max_zone_ttl;
	clean_orphans(z);
	return EXIT_OK;
}

void cli_zone_tell(cli_zone_t *z, const char *action, uint16_t tag, const char *fmt, ...)
{
	char line[400], ts[15];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rs_time_format(z->now, ts);
	if (!z->quiet)
		fprintf(z->log ? z->log : stdout, "%s %s %s\n", ts, z->zone.name, line);
	if (rs_store_history_add(z->store, z->zone.name, z->now, tag, line) != RS_EOK ||
	    !cli_audit(z->store, action, z->zone.name, tag, "ok", "at %s: %s", ts, line))
		z->history_failed = true;
}

/* The audit action of an enforcer step, from the words the enforcer uses. */
static const char *step_action(const char *what)
{
	if (strncmp(what, "DS ", 3) == 0)
		return "ds-change";
	if (strncmp(what, "removed", 7) == 0)
		return "key-retire";
	if (strstr(what, "waits") != NULL)
		return "custody-wait"; /* a step held back for the key holders, not taken */
	return "key-step";
}

/* Enforcer steps (they happen at z->now), as "role tag algorithm: what". */
static void report(void *arg, int64_t when, const rs_keystate_t *k, const char *what)
{
	cli_zone_t *z = arg;
	(void)when;
	if (k == NULL)
		cli_zone_tell(z, strstr(what, "waits") != NULL ? "custody-wait" : "zone-step", 0, "%s", what);
	else if (strncmp(what, "created", 7) == 0)
		cli_zone_tell(z, "key-generate", k->tag, "%s %u %s: %s in %s", rs_role_name(k->role), k->tag,
			      rs_alg_name(k->alg), what, k->locator);
	else
		cli_zone_tell(z, step_action(what), k->tag, "%s %u %s: %s", rs_role_name(k->role), k->tag,
			      rs_alg_name(k->alg), what);
	z->steps++;
}

/* A tag names a key in its zone forever: never two keys with one tag, even years apart. */
static bool tag_used(const rs_keyset_t *set, uint16_t tag)
{
	for (size_t i = 0; i < set->count; i++)
		if (set->keys[i].tag == tag)
			return true;
	return false;
}

/* The token back end: a key pair generated inside the token, labelled "<zone> <role> <tag> <alg>". */
static int make_token_key(cli_zone_t *z, const rs_keyset_t *set, rs_keystate_t *ks)
{
	rs_hsm_t *h;
	rs_diag_t diag;
	int ret = cli_hsm(z->store, CLI_HSM_ADMIN, &h, &diag);
	if (ret == RS_ELOCKED)
		return ret;
	char label[300], locator[RS_LOCATOR_MAX];
	snprintf(label, sizeof(label), "%s new %s", z->zone.name, rs_alg_name(ks->alg));
	rs_key_t *key = NULL;
	for (int attempt = 0; ret == RS_EOK && attempt < 32; attempt++) {
		ret = rs_hsm_generate(h, z->origin, ks->alg, ks->bits, (ks->role & RS_ROLE_KSK) != 0, label, &key,
				      locator, &diag);
		if (ret == RS_EOK && tag_used(set, rs_key_tag(key))) {
			rs_key_free(key);
			key = NULL;
			rs_hsm_destroy(h, locator, NULL);
		} else {
			break;
		}
	}
	if (ret == RS_EOK && key == NULL)
		ret = rs_diag(&diag, RS_ELIMIT, "no free key tag after 32 keys");
	if (ret == RS_EOK) {
		snprintf(label, sizeof(label), "%s %s %u %s", z->zone.name, rs_role_name(ks->role), rs_key_tag(key),
			 rs_alg_name(ks->alg));
		ret = rs_hsm_relabel(h, locator, label, &diag);
	}
	if (ret == RS_EOK) {
		ks->tag = rs_key_tag(key);
		ks->bits = (uint16_t)rs_key_bits(key);
		snprintf(ks->locator, sizeof(ks->locator), "%s", locator);
	} else {
		cli_error("%s: %s", z->zone.name, diag.text);
	}
	rs_key_free(key);
	return ret;
}

/* New keys go where the state directory keeps them: a token, or key files in DIR/keys (mode 0600). */
static int make_key(void *arg, const rs_keyset_t *set, rs_keystate_t *ks)
{
	cli_zone_t *z = arg;
	char backend[16];
	if (cli_keystore(z->store, backend) != EXIT_OK)
		return RS_EIO;
	if (strcmp(backend, "pkcs11") == 0)
		return make_token_key(z, set, ks);
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/keys", rs_store_dir(z->store));
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	rs_key_t *key = NULL;
	for (int attempt = 0; attempt < 32; attempt++) {
		rs_diag_t diag;
		int ret = rs_key_generate(z->origin, ks->alg, ks->bits, (ks->role & RS_ROLE_KSK) != 0, &key, &diag);
		if (ret != RS_EOK)
			return ret;
		if (!tag_used(set, rs_key_tag(key)))
			break;
		rs_key_free(key);
		key = NULL;
	}
	if (key == NULL)
		return RS_ELIMIT;
	rs_diag_t diag;
	char base[sizeof(ks->locator)];
	int ret = rs_key_save(key, dir, z->now, rs_policy_dnskey_ttl(&z->policy, z->zone.soa_ttl), base,
			      sizeof(base), &diag);
	if (ret == RS_EOK) {
		ks->tag = rs_key_tag(key);
		ks->bits = (uint16_t)rs_key_bits(key);
		snprintf(ks->locator, sizeof(ks->locator), "%s", base);
	}
	rs_key_free(key);
	return ret;
}

rs_enforce_ctx_t cli_zone_ctx(cli_zone_t *z)
{
	return (rs_enforce_ctx_t){ make_key, z, report, z };
}

int cli_zone_check_parent(cli_zone_t *z, bool verbose)
{
	bool pending = false;
	for (size_t i = 0; i < z->keys.count; i++)
		pending = pending || z->keys.keys[i].ds != RS_DS_NONE;
	if (z->zone.parent_agents[0] == '\0' || (!pending && !verbose) || z->parent_asked)
		return EXIT_OK;
	z->parent_asked = true; /* once per run */
	/* Every server's DS RRset; one that cannot answer stops all conclusions this time. */
	enum { MAX_AGENTS = 8 };
	rs_ds_set_t *sets = calloc(MAX_AGENTS, sizeof(*sets));
	if (sets == NULL)
		return EXIT_INTERNAL;
	char agents[sizeof(z->zone.parent_agents)], *save = NULL;
	snprintf(agents, sizeof(agents), "%s", z->zone.parent_agents);
	size_t n = 0;
	bool failed = false;
	for (char *a = strtok_r(agents, " ,", &save); a != NULL && n < MAX_AGENTS; a = strtok_r(NULL, " ,", &save)) {
		rs_diag_t diag;
		if (rs_parent_ds_query(a, z->origin, 2000, &sets[n], &diag) != RS_EOK) {
			cli_zone_tell(z, "parent-check", 0, "parent: %s", diag.text);
			failed = true;
			continue;
		}
		if (verbose)
			cli_zone_tell(z, "parent-check", 0, "parent: %s serves %zu DS record(s)", a, sets[n].count);
		n++;
	}
	if (failed || n == 0) {
		free(sets);
		return EXIT_OK; /* no change; the next run asks again */
	}
	for (size_t i = 0; i < z->keys.count; i++) {
		rs_keystate_t *k = &z->keys.keys[i];
		if (k->ds == RS_DS_NONE)
			continue;
		rs_key_t *key;
		if (cli_zone_key(z, k, false, &key) != RS_EOK)
			continue;
		size_t len, have = 0;
		const uint8_t *dnskey = rs_key_dnskey(key, &len);
		for (size_t j = 0; j < n; j++)
			have += rs_ds_set_has_key(&sets[j], z->origin, dnskey, len);
		rs_key_free(key);
		/* Only what every server of the parent shows counts (RFC 7583 3.3.2: the parent's propagation). */
		if (k->ds == RS_DS_SUBMIT && have == n) {
			rs_enforce_ds_seen(&z->keys, k->tag, z->now, NULL);
			cli_zone_tell(z, "ds-change", k->tag, "DS of key %u seen at all %zu parent servers", k->tag, n);
		} else if (k->ds == RS_DS_WITHDRAW && have == 0) {
			rs_enforce_ds_gone(&z->keys, k->tag, z->now, NULL);
			cli_zone_tell(z, "ds-change", k->tag, "DS of key %u gone from all %zu parent servers", k->tag, n);
		} else if (verbose) {
			cli_zone_tell(z, "parent-check", k->tag, "DS of key %u %s at %zu of %zu parent servers: still waiting", k->tag,
			     k->ds == RS_DS_SUBMIT ? "present" : "still present", have, n);
		}
	}
	free(sets);
	return EXIT_OK;
}

int cli_zone_enforce(cli_zone_t *z, bool force_clock)
{
	if (z->now < z->zone.last_enforce && !force_clock) {
		char ts[15];
		rs_time_format(z->zone.last_enforce, ts);
		cli_error("%s: the time is before the last enforcement (%s); refusing to go back in time "
			  "(--force-clock overrides)", z->zone.name, ts);
		return EXIT_INPUT;
	}
	cli_zone_check_parent(z, false);
	rs_enforce_ctx_t ctx = cli_zone_ctx(z);
	rs_diag_t diag;
	int64_t next;
	int ret = rs_enforce(&z->policy, &z->keys, z->now, &ctx, &next, &diag);
	if (ret != RS_EOK) {
		cli_error("%s: %s", z->zone.name, diag.text);
		return cli_exit_code(ret);
	}
	if (z->now > z->zone.last_enforce)
		z->zone.last_enforce = z->now;
	z->zone.next_event = next;
	return EXIT_OK;
}

int cli_zone_step(cli_zone_t *z, int code, bool force_clock)
{
	if (code == EXIT_OK)
		code = cli_zone_enforce(z, force_clock);
	if (code == EXIT_OK)
		code = cli_zone_commit(z);
	return code;
}

int cli_zone_commit(cli_zone_t *z)
{
	rs_diag_t diag;
	z->zone.old_max_ttl = z->keys.old_max_zone_ttl;
	z->zone.old_max_until = z->keys.old_max_until;
	int ret = rs_store_keys_save(z->store, z->zone.name, &z->keys, &diag);
	if (ret == RS_EOK)
		ret = rs_store_zone_update(z->store, &z->zone, &diag);
	if (ret == RS_EOK && z->history_failed)
		ret = rs_diag(&diag, RS_EIO, "cannot record the history of '%s'", z->zone.name);
	if (ret == RS_EOK)
		ret = rs_store_commit(z->store, &diag);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		return cli_exit_code(ret);
	}
	z->in_tx = false;
	cli_audit_flush(z->store);
	/* Only now that no row can point back at them may removed keys' material go. */
	cli_zone_destroy_keys(z);
	return EXIT_OK;
}

void cli_zone_close(cli_zone_t *z)
{
	if (z->in_tx)
		rs_store_rollback(z->store);
	rs_store_close(z->store);
	rs_keyset_clear(&z->keys);
	z->store = NULL;
}

int cli_zone_key(cli_zone_t *z, const rs_keystate_t *k, bool need_private, rs_key_t **out)
{
	rs_diag_t diag;
	int ret;
	if (cli_locator_is_token(k->locator)) {
		rs_hsm_t *h;
		ret = cli_hsm(z->store, need_private ? CLI_HSM_SIGN : CLI_HSM_PUBLIC, &h, &diag);
		if (ret == RS_EOK)
			ret = rs_hsm_key(h, k->locator, z->origin, k->alg, (k->role & RS_ROLE_KSK) != 0, out, &diag);
	} else {
		char path[4400];
		cli_key_path(z, k->locator, "", path, sizeof(path));
		ret = rs_key_load(path, need_private, out, &diag);
	}
	if (ret != RS_EOK)
		cli_error("%s: key %u: %s", z->zone.name, k->tag, diag.text);
	return ret;
}
