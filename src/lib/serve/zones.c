/*
 * The zones of a running daemon: the table kept in step with the store
 * (zones, secondaries, inputs, registry changes), when each is due, and the
 * version each serves, from its last output and journal at start. The
 * worker (worker.c) publishes; NOTIFY is notifier.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "regsign/dns.h"
#include "regsign/policy.h"
#include "regsign/verify.h"
#include "internal.h"

szone_t *serve_zone(serve_t *sv, const char *name)
{
	char want[258];
	snprintf(want, sizeof(want), "%s%s", name, name[0] != '\0' && name[strlen(name) - 1] == '.' ? "" : ".");
	for (size_t i = 0; i < sv->nzones; i++)
		if (strcasecmp(sv->zones[i]->name, want) == 0)
			return sv->zones[i];
	return NULL;
}

/* A zone's files are DIR/SUB/NAME.EXT, NAME its file-name stem (rs_zone_file_stem: "root" for the root). */
static void zone_file(const serve_t *sv, const uint8_t *origin, const char *sub, const char *ext, char *out,
		      size_t max)
{
	char name[3 * RS_NAME_MAX + 1]; /* always enough; past NAME_MAX the file system refuses it, by name */
	if (rs_zone_file_stem(origin, name, sizeof(name)) < 0)
		name[0] = '\0'; /* not the root's "root": a file of another zone must never be taken */
	snprintf(out, max, "%s/%s/%s.%s", sv->o.state_dir, sub, name, ext);
}

static void file_stamp(const char *path, int64_t *mtime, int64_t *size)
{
	struct stat st;
	if (path[0] == '\0' || stat(path, &st) != 0) {
		*mtime = *size = -1;
		return;
	}
	*mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	*size = (int64_t)st.st_size;
}

/* ---- the table ---- */

struct sec_list {
	char addr[SERVE_MAX_SECONDARIES][80];
	char key[SERVE_MAX_SECONDARIES][256];
	size_t n;
};

static void collect_secondary(void *arg, const char *addr, const char *tsig)
{
	struct sec_list *l = arg;
	if (l->n == SERVE_MAX_SECONDARIES)
		return;
	snprintf(l->addr[l->n], sizeof(l->addr[0]), "%s", addr);
	snprintf(l->key[l->n], sizeof(l->key[0]), "%s", tsig);
	l->n++;
}

/* Take the zone's secondaries from the store when they changed; then serve with them. */
static void sync_secondaries(serve_t *sv, szone_t *z)
{
	struct sec_list l = { .n = 0 };
	if (rs_store_secondaries(sv->store, z->name, collect_secondary, &l) != RS_EOK)
		return;
	bool same = l.n == z->nsec;
	for (size_t i = 0; same && i < l.n; i++)
		same = strcmp(l.addr[i], z->sec_text[i]) == 0 &&
		       strcmp(l.key[i], z->sec[i].key != NULL ? z->keys[i].name : "") == 0;
	if (same)
		return;
	size_t n = 0;
	rs_diag_t diag;
	for (size_t i = 0; i < l.n; i++) {
		rs_secondary_t s = { .key = NULL };
		if (rs_secondary_parse(l.addr[i], &s, &diag) != RS_EOK) {
			rs_log(&sv->o.log, RS_LOG_ERR, z->name, "secondary %s: %s", l.addr[i], diag.text);
			continue;
		}
		if (l.key[i][0] != '\0') {
			if (rs_serve_tsig_load(sv->store, l.key[i], &z->keys[n], &diag) != RS_EOK) {
				/* Without its key a secondary gets nothing: never a transfer without the TSIG asked for. */
				rs_log(&sv->o.log, RS_LOG_ERR, z->name, "secondary %s left out: %s", l.addr[i], diag.text);
				continue;
			}
			s.key = &z->keys[n];
		}
		z->sec[n] = s;
		snprintf(z->sec_text[n], sizeof(z->sec_text[0]), "%s", l.addr[i]);
		z->notify_done[n] = z->version == NULL;
		z->notify_tries[n] = 0;
		z->notify_next[n] = 0;
		z->sec_serial[n] = 0;
		n++;
	}
	z->nsec = n;
	/* Before the first publication the secondaries are told to retry (SERVFAIL), not that the zone is not ours. */
	if (z->version != NULL)
		rs_xfr_serve(sv->xfr, z->origin, z->version, z->journal, z->sec, z->nsec);
	else
		rs_xfr_expect(sv->xfr, z->origin, z->sec, z->nsec);
	rs_log(&sv->o.log, RS_LOG_NOTICE, z->name, "%zu secondaries", n);
}

static szone_t *zone_new(serve_t *sv, const rs_zone_rec_t *rec, rs_diag_t *diag)
{
	szone_t *z = calloc(1, sizeof(*z));
	if (z == NULL)
		return NULL;
	snprintf(z->name, sizeof(z->name), "%s", rec->name);
	if (rs_dname_from_str(rec->name, z->origin) != RS_EOK) {
		free(z);
		return NULL;
	}
	char dir[4200], path[4600];
	snprintf(dir, sizeof(dir), "%s/journal", sv->o.state_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		rs_log(&sv->o.log, RS_LOG_ERR, z->name, "%s: %s", dir, strerror(errno));
	zone_file(sv, z->origin, "journal", "ixfr", path, sizeof(path));
	if (rs_journal_open(path, &sv->o.conf.journal, &z->journal, diag) != RS_EOK) {
		/* Without a history the zone is still served, by AXFR. */
		rs_log(&sv->o.log, RS_LOG_ERR, z->name, "IXFR history unavailable: %s", diag->text);
		z->journal = NULL;
	} else if (diag->text[0] != '\0') {
		rs_log(&sv->o.log, RS_LOG_WARNING, z->name, "%s", diag->text);
	}
	z->input_mtime = z->input_size = -2; /* not looked at yet */
	return z;
}

static void zone_free(serve_t *sv, szone_t *z)
{
	rs_xfr_serve(sv->xfr, z->origin, NULL, NULL, NULL, 0);
	rs_version_unref(z->version);
	rs_journal_close(z->journal);
	explicit_bzero(z->keys, sizeof(z->keys));
	free(z);
}

int serve_zones_sync(serve_t *sv, rs_diag_t *diag)
{
	rs_zone_rec_t *recs = NULL;
	size_t n = 0;
	pthread_mutex_lock(&sv->sync_lock);
	if (rs_store_zone_list(sv->store, &recs, &n) != RS_EOK) {
		pthread_mutex_unlock(&sv->sync_lock);
		return rs_diag(diag, RS_EIO, "cannot list the managed zones");
	}
	uint64_t gen = 0;
	rs_store_registry_generation(sv->store, &gen);
	pthread_mutex_lock(&sv->lock);
	bool registry_changed = gen != sv->registry_gen;
	sv->registry_gen = gen;
	for (size_t i = 0; i < sv->nzones; i++)
		sv->zones[i]->present = false;
	for (size_t i = 0; i < n; i++) {
		szone_t *z = serve_zone(sv, recs[i].name);
		if (z == NULL) {
			szone_t **grown = realloc(sv->zones, (sv->nzones + 1) * sizeof(*grown));
			if (grown == NULL)
				break;
			sv->zones = grown;
			rs_diag_t why = { "" };
			if ((z = zone_new(sv, &recs[i], &why)) == NULL)
				continue;
			sv->zones[sv->nzones++] = z;
			rs_log(&sv->o.log, RS_LOG_NOTICE, z->name, "zone taken up");
			z->next_run = serve_now(sv); /* load the last version, then see what is due */
		}
		z->present = true;
		z->registry = recs[i].registry;
		z->next_event = recs[i].next_event;
		if (recs[i].output[0] != '\0')
			snprintf(z->output, sizeof(z->output), "%s", recs[i].output);
		else if (z->output[0] == '\0')
			zone_file(sv, z->origin, "signed", "signed", z->output, sizeof(z->output));
		/* An edited input, or new registry data, makes the zone due. */
		int64_t mtime, size;
		file_stamp(recs[i].input, &mtime, &size);
		if (z->input_mtime != -2 && (mtime != z->input_mtime || size != z->input_size))
			z->input_changed = true;
		z->input_mtime = mtime;
		z->input_size = size;
		if (strcmp(z->input_watched, recs[i].input) != 0) {
			serve_watch_input(sv, recs[i].input);
			snprintf(z->input_watched, sizeof(z->input_watched), "%s", recs[i].input);
		}
		if (z->registry && registry_changed)
			z->registry_changed = true;
		sync_secondaries(sv, z);
	}
	/* Zones removed from the state stop being served. */
	size_t kept = 0;
	for (size_t i = 0; i < sv->nzones; i++) {
		szone_t *z = sv->zones[i];
		if (!z->present && !z->busy) {
			rs_log(&sv->o.log, RS_LOG_NOTICE, z->name, "no longer managed: not served any more");
			zone_free(sv, z);
		} else {
			sv->zones[kept++] = z;
		}
	}
	sv->nzones = kept;
	pthread_cond_broadcast(&sv->changed);
	pthread_mutex_unlock(&sv->lock);
	pthread_mutex_unlock(&sv->sync_lock);
	free(recs);
	return RS_EOK;
}

void serve_zones_free(serve_t *sv)
{
	for (size_t i = 0; i < sv->nzones; i++)
		zone_free(sv, sv->zones[i]);
	free(sv->zones);
	sv->zones = NULL;
	sv->nzones = 0;
}

/* ---- when a zone is due ---- */

/* A zone's own offset within the jitter, so that zones signed together do not stay together. */
int64_t serve_zone_jitter(const szone_t *z, int64_t most)
{
	if (most <= 0)
		return 0;
	uint32_t h = 2166136261u;
	for (const char *p = z->name; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return (int64_t)(h % (uint64_t)most);
}

void serve_schedule(serve_t *sv)
{
	int64_t now = serve_now(sv), mono = serve_mono_ms();
	pthread_mutex_lock(&sv->lock);
	bool work = false;
	for (size_t i = 0; i < sv->nzones; i++) {
		szone_t *z = sv->zones[i];
		if (!z->taken_up || z->frozen || z->busy || z->job != JOB_NONE)
			continue;
		bool changed = (z->input_changed || z->registry_changed) && mono >= z->started_ms + sv->o.conf.batch_ms;
		if (serve_zone_timed(z, now) || changed) {
			z->job = JOB_PUBLISH;
			work = true;
		} else if (z->output_dirty && z->output_due <= now) {
			z->job = JOB_FLUSH;
			work = true;
		}
	}
	if (work)
		pthread_cond_broadcast(&sv->changed);
	pthread_mutex_unlock(&sv->lock);
}

/* ---- the worker ---- */

/*
 * The output lags the state after change sets: the journal's diffs from the
 * file's serial up to the state's carry it forward. false (zone unchanged)
 * if the history does not reach.
 */
static bool replay(serve_t *sv, szone_t *z, rs_zone_t **zone, uint32_t from, uint32_t to)
{
	rs_diff_t *diffs = NULL;
	size_t n = 0;
	rs_diag_t diag = { "" };
	if (z->journal == NULL || rs_journal_end_at(z->journal, to, &diag) != RS_EOK ||
	    rs_journal_read(z->journal, from, &diffs, &n, &diag) != RS_EOK || n == 0 || diffs[n - 1].to != to) {
		rs_log(&sv->o.log, RS_LOG_WARNING, z->name, "the output is at serial %u, the state at %u, and the IXFR "
		       "history does not lead from one to the other%s%s: published anew", from, to,
		       diag.text[0] ? ": " : "", diag.text);
		for (size_t i = 0; i < n; i++)
			rs_diff_clear(&diffs[i]);
		free(diffs);
		return false;
	}
	int ret = RS_EOK;
	for (size_t i = 0; i < n; i++) {
		rs_zone_t *next = NULL;
		if (ret == RS_EOK && (ret = rs_zone_apply_diff(*zone, &diffs[i], &next, &diag)) == RS_EOK) {
			rs_zone_free(*zone);
			*zone = next;
		}
		rs_diff_clear(&diffs[i]);
	}
	free(diffs);
	if (ret != RS_EOK)
		rs_log(&sv->o.log, RS_LOG_WARNING, z->name, "the IXFR history cannot be replayed: %s", diag.text);
	return ret == RS_EOK;
}

/*
 * The version to serve at start: the zone's last output, carried forward to
 * the state's serial by the journal, if all of it verifies now. *behind:
 * the output file is older than the version (write it again).
 */
static rs_version_t *load_version(serve_t *sv, szone_t *z, const char *path, uint32_t state_serial, bool *behind)
{
	*behind = false;
	if (access(path, R_OK) != 0)
		return NULL;
	rs_zone_opts_t zo = { .threads = sv->o.conf.threads, .keep_dnssec = true };
	rs_zone_t *zone = NULL;
	rs_diag_t diag;
	int ret = rs_zone_new(z->origin, &zo, &zone);
	if (ret == RS_EOK)
		ret = rs_zone_read(zone, path, &diag);
	if (ret == RS_EOK)
		ret = rs_zone_finish(zone, &diag);
	if (ret == RS_EOK) {
		const rs_rr_t *soa = rs_zone_soa(zone);
		uint32_t file_serial = rs_get32(soa->rdata + soa->rdlen - 20), first, served;
		/* The history may go further than the state (a state put back from a copy): it was served, keep it. */
		if (z->journal != NULL && rs_journal_range(z->journal, &first, &served) &&
		    rs_serial_gt(served, file_serial) && (state_serial == 0 || rs_serial_gt(served, state_serial)))
			state_serial = served;
		if (state_serial != 0 && rs_serial_gt(state_serial, file_serial))
			*behind = replay(sv, z, &zone, file_serial, state_serial);
		else if (z->journal != NULL && rs_journal_end_at(z->journal, file_serial, &diag) != RS_EOK)
			rs_log(&sv->o.log, RS_LOG_WARNING, z->name, "%s", diag.text);
	}
	rs_verify_result_t vr = { 0 };
	if (ret == RS_EOK) {
		/* It was verified when published; it is checked again, for it may have expired or been touched since. */
		rs_verify_opts_t vo = { .now = serve_now(sv), .threads = sv->o.conf.threads, .max_problems = 1,
					.foreign_signatures = true };
		rs_buf_t report;
		rs_buf_init(&report, 4096);
		ret = rs_verify_zone(zone, &vo, &report, &vr, &diag);
		if (ret == RS_EOK && vr.problems > 0) {
			ret = RS_EZONE;
			snprintf(diag.text, sizeof(diag.text), "%.*s", (int)strcspn(report.data ? (char *)report.data : "", "\n"),
				 report.data ? (char *)report.data : "");
		}
		rs_buf_clear(&report);
	}
	rs_version_t *v = NULL;
	if (ret == RS_EOK && rs_version_new(zone, &v) == RS_EOK)
		return v;
	rs_log(&sv->o.log, RS_LOG_WARNING, z->name, "%s is not served again (%s); the zone is published anew", path,
	       ret == RS_EOK ? "no memory" : diag.text);
	rs_zone_free(zone);
	return NULL;
}

void serve_zone_version(serve_t *sv, szone_t *z, rs_version_t *v, bool notify)
{
	rs_version_t *old = z->version;
	z->version = v;
	z->serial = rs_version_serial(v);
	rs_xfr_serve(sv->xfr, z->origin, v, z->journal, z->sec, z->nsec);
	rs_version_unref(old);
	z->notify_serial = z->serial;
	for (size_t i = 0; i < z->nsec; i++) {
		z->notify_done[i] = !notify;
		z->notify_tries[i] = 0;
		z->notify_next[i] = 0;
	}
}

/* The registry generation a zone was last published at, kept as a setting of its own. */
void serve_generation_name(const char *zone, char *out, size_t max)
{
	snprintf(out, max, "serve.registry-generation.%s", zone);
}

static uint64_t recorded_generation(rs_store_t *store, const char *zone)
{
	char name[400], text[32] = "";
	serve_generation_name(zone, name, sizeof(name));
	rs_store_setting_get(store, name, text, sizeof(text));
	return strtoull(text, NULL, 10);
}

/* Take the zone up at start: serve its last version (reading it may take seconds: outside the lock). */
void serve_take_up(serve_t *sv, rs_store_t *store, szone_t *z)
{
	rs_zone_rec_t rec;
	rs_policy_t pol;
	rs_diag_t why;
	bool have = rs_store_zone_get(store, z->name, &rec) == RS_EOK &&
		    rs_policy_lookup(store, rec.policy, &pol, NULL, &why) == RS_EOK;
	pthread_mutex_lock(&sv->lock);
	char path[4096];
	snprintf(path, sizeof(path), "%s", z->output);
	pthread_mutex_unlock(&sv->lock);
	bool behind = false;
	rs_version_t *v = have ? load_version(sv, z, path, rec.serial, &behind) : NULL;
	uint64_t gen = 0;
	rs_store_registry_generation(store, &gen);
	pthread_mutex_lock(&sv->lock);
	z->next_run = serve_now(sv);
	if (v != NULL) {
		/* Secondaries may have missed the NOTIFY of this serial before a restart: tell them again. */
		serve_zone_version(sv, z, v, true);
		rs_log(&sv->o.log, RS_LOG_NOTICE, z->name, "serving serial %u from %s%s", z->serial, path,
		       behind ? " and the IXFR history" : "");
		int64_t most = sv->o.conf.jitter >= 0 ? sv->o.conf.jitter : pol.sig_refresh / 10;
		z->next_run = rec.last_sign + pol.sig_refresh + serve_zone_jitter(z, most);
		z->last_publish = rec.last_sign;
		z->output_dirty = behind;
		z->output_due = serve_now(sv);
		/* What changed while no daemon ran is a change set like any other. */
		int64_t mtime, size;
		file_stamp(rec.input, &mtime, &size);
		z->input_changed = mtime / 1000000000 >= rec.last_sign;
		if (rec.registry) {
			z->served_gen = recorded_generation(store, z->name);
			z->registry_changed = z->served_gen != gen;
		}
	}
	pthread_mutex_unlock(&sv->lock);
}
