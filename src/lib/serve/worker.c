/*
 * The worker: one due zone at a time through its session, a change set when
 * only data changed, else the full publication; the verified version then
 * served, its diff journaled first; the output file written when it lags.
 * ctl jobs queue here and wait for their result.
 */
#include <errno.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "regsign/policy.h"
#include "internal.h"

#define OPERATOR "regsign-serve"

/* One job of the worker: a zone, what to do, and what to say of it. */
struct run {
	serve_t *sv;
	szone_t *z;
	rs_store_t *store;
	enum job job;
	int arg;
	char text[512];
};

typedef struct {
	serve_t *sv;
	szone_t *z;
	rs_version_t *current;
	bool journaled;
} stage_t;

/* The last serial the IXFR history holds (0: none): secondaries may have it, so it is never published again. */
static uint32_t history_end(szone_t *z)
{
	uint32_t first, last;
	return z->journal != NULL && rs_journal_range(z->journal, &first, &last) ? last : 0;
}

/* Before the new version replaces the output: its diff goes into the IXFR history, durably. */
static int stage_diff(void *arg, const rs_zone_t *zone, uint32_t serial, rs_diag_t *diag)
{
	(void)diag;
	stage_t *st = arg;
	if (st->z->journal == NULL)
		return RS_EOK;
	rs_diag_t why = { "" };
	int ret = RS_EINVAL;
	if (st->current != NULL) {
		rs_diff_t d = { 0 };
		ret = rs_diff_zones(rs_version_zone(st->current), zone, &d, &why);
		if (ret == RS_EOK)
			ret = rs_journal_append(st->z->journal, &d, &why);
		rs_diff_clear(&d);
	}
	if (ret == RS_EOK) {
		st->journaled = true;
		return RS_EOK;
	}
	/* No history to the new serial: secondaries behind it get an AXFR, which is still right. */
	if (st->current != NULL)
		rs_log(&st->sv->o.log, RS_LOG_WARNING, st->z->name, "IXFR history restarts at serial %u: %s", serial,
		       why.text);
	rs_journal_end_at(st->z->journal, serial, &why);
	return RS_EOK;
}

/* The registry generation a version holds is kept beside the state (a restart looks at it). */
static void record_generation(rs_store_t *store, const char *zone, uint64_t gen)
{
	char name[400], text[32];
	serve_generation_name(zone, name, sizeof(name));
	snprintf(text, sizeof(text), "%llu", (unsigned long long)gen);
	rs_diag_t why;
	if (rs_store_begin(store, &why) != RS_EOK)
		return;
	/* What the version holds is no longer a change to look at. */
	if (rs_store_setting_put(store, name, text, &why) != RS_EOK ||
	    rs_store_registry_dirty_trim(store, zone, gen, &why) != RS_EOK || rs_store_commit(store, &why) != RS_EOK)
		rs_store_rollback(store);
}

/* Serve what a publication left in checked (the verified zone), and count it. */
static void published(struct run *r, rs_zone_t *checked, const rs_publish_result_t *res, int64_t now,
		      int64_t next_refresh, bool output_behind, const char *how)
{
	serve_t *sv = r->sv;
	szone_t *z = r->z;
	rs_version_t *v = NULL;
	if (checked != NULL && rs_version_new(checked, &v) != RS_EOK)
		rs_zone_free(checked);
	pthread_mutex_lock(&sv->lock);
	if (v != NULL) {
		serve_zone_version(sv, z, v, true);
		z->last_publish = now;
		z->publications++;
		z->sigs_made += res->stats.signatures - res->stats.reused;
		z->sigs_reused += res->stats.reused;
		z->last_verified = res->verified;
		z->expiration = res->expiration;
		z->last_seconds = res->t_build + res->t_sign + res->t_verify;
		if (next_refresh != 0)
			z->next_run = next_refresh;
		z->output_dirty = output_behind;
		if (output_behind)
			z->output_due = now + sv->o.conf.output_delay;
		snprintf(r->text, sizeof(r->text), "serial %u published%s (%llu signatures, %llu kept, %.3f s)", z->serial,
			 how, (unsigned long long)res->stats.signatures, (unsigned long long)res->stats.reused,
			 z->last_seconds);
	}
	pthread_mutex_unlock(&sv->lock);
}

/*
 * The quick path: the data changes (an edited input, registry changes; data
 * false: none) and the signatures that fall due, signed alone. RS_EOK with
 * *done when it was published (or there was nothing to publish);
 * -EOPNOTSUPP when the full path must take it. next_refresh: this run is the
 * zone's timed refresh, and the next one is then (0: it is not).
 */
static int publish_changes(struct run *r, rs_session_t *s, stage_t *st, uint64_t since, bool data, bool registry,
			   int64_t next_refresh, bool *done, rs_diag_t *diag)
{
	serve_t *sv = r->sv;
	szone_t *z = r->z;
	const rs_zone_t *prev = rs_version_zone(st->current);
	rs_changeset_t *cs = NULL;
	int64_t now = serve_now(sv);
	*done = false;
	int ret = !data ? RS_EOK
		: registry ? rs_session_registry_changes(s, prev, since, &cs, diag)
			      : rs_session_input_changes(s, prev, &cs, diag);
	if (ret == -EOPNOTSUPP)
		return ret;
	if (ret != RS_EOK) {
		rs_session_fail(s, diag->text);
		return ret;
	}
	uint64_t gen = cs != NULL ? rs_changeset_generation(cs) : 0;
	size_t size = cs != NULL ? rs_changeset_size(cs) : 0;
	if (rs_session_zone(s)->last_failure != 0) {
		/* Back to what is served after a failure: a full publication records that the zone is well again. */
		rs_changeset_free(cs);
		return rs_diag(diag, -EOPNOTSUPP, "the last publication failed");
	}
	if (size == 0 && next_refresh == 0) {
		rs_changeset_free(cs);
		if (registry)
			record_generation(r->store, z->name, gen);
		pthread_mutex_lock(&sv->lock);
		z->served_gen = gen;
		pthread_mutex_unlock(&sv->lock);
		snprintf(r->text, sizeof(r->text), "no change to publish");
		*done = true;
		return RS_EOK;
	}
	rs_zone_t *checked = NULL;
	/* Refreshes ride on the timed run: a change between two needs no look at every signature. */
	rs_publish_opts_t po = { .staged = stage_diff, .staged_arg = st, .keep = &checked, .refresh = next_refresh != 0,
				 .serial_floor = history_end(z) };
	rs_publish_result_t res;
	ret = rs_session_publish_changes(s, prev, size > 0 ? cs : NULL, &po, &res, diag);
	rs_changeset_free(cs);
	if (ret == -EOPNOTSUPP)
		return ret;
	char how[64];
	if (size > 0)
		snprintf(how, sizeof(how), " from a change set of %zu records", size);
	else
		snprintf(how, sizeof(how), " by a refresh");
	published(r, checked, &res, now, next_refresh, true, how);
	if (checked != NULL && data && registry) {
		record_generation(r->store, z->name, gen);
		pthread_mutex_lock(&sv->lock);
		z->served_gen = gen;
		pthread_mutex_unlock(&sv->lock);
	}
	*done = true;
	return ret;
}

/* When the zone's next timed refresh is, after one at now. */
static int64_t refresh_time(serve_t *sv, szone_t *z, const rs_policy_t *pol, int64_t now)
{
	int64_t most = sv->o.conf.jitter >= 0 ? sv->o.conf.jitter : pol->sig_refresh / 10;
	return now + pol->sig_refresh + serve_zone_jitter(z, most);
}

static int do_publish(struct run *r, rs_diag_t *diag)
{
	serve_t *sv = r->sv;
	szone_t *z = r->z;
	rs_session_opts_t so = { .now = serve_now(sv), .threads = sv->o.conf.threads, .operator = OPERATOR,
				 .log = sv->o.log };
	rs_session_t *s = NULL;
	int ret = rs_session_open(r->store, z->name, &so, &s, diag);
	if (ret != RS_EOK)
		return ret;
	pthread_mutex_lock(&sv->lock);
	stage_t st = { sv, z, z->version != NULL ? rs_version_ref(z->version) : NULL, false };
	char output[4096];
	snprintf(output, sizeof(output), "%s", z->output);
	bool timed = serve_zone_timed(z, so.now);
	bool registry = z->registry, template_changed = z->registry && z->input_changed;
	bool data = z->input_changed || z->registry_changed;
	uint64_t since = z->served_gen;
	z->input_changed = z->registry_changed = false;
	pthread_mutex_unlock(&sv->lock);
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/signed", sv->o.state_dir);
	mkdir(dir, 0755);
	/* The registry data as of now go into a full version; later changes make the zone due again. */
	uint64_t gen = 0;
	rs_store_registry_generation(r->store, &gen);
	const rs_policy_t *pol = rs_session_policy(s);
	if ((ret = rs_session_check_clock(s, diag)) != RS_EOK)
		rs_session_fail(s, diag->text);
	/*
	 * The quick path signs what changed and what falls due alone. A timed
	 * run asks the parent and takes the due key steps first: when it took
	 * one, the full path shows it.
	 */
	bool quick = ret == RS_EOK && r->job == JOB_PUBLISH && !template_changed && st.current != NULL;
	if (quick && timed) {
		if ((ret = rs_session_parent(s, false, diag)) == RS_EOK)
			ret = rs_session_enforce(s, diag);
		if (ret != RS_EOK)
			rs_session_fail(s, diag->text);
		quick = rs_session_steps(s) == 0;
	}
	bool done = false;
	if (ret == RS_EOK && quick && (data || timed)) {
		ret = publish_changes(r, s, &st, since, data, registry, timed ? refresh_time(sv, z, pol, so.now) : 0,
				      &done, diag);
		if (ret == -EOPNOTSUPP) {
			rs_log(&sv->o.log, RS_LOG_INFO, z->name, "published in full: %s", diag->text);
			ret = RS_EOK;
		}
	}
	if (ret == RS_EOK && !done && (ret = rs_session_parent(s, false, diag)) != RS_EOK)
		rs_session_fail(s, diag->text);
	if (ret == RS_EOK && !done && (r->job == JOB_ROLLOVER) &&
	    (ret = rs_session_rollover(s, r->arg, 0, diag)) != RS_EOK)
		rs_session_fail(s, diag->text);
	if (ret == RS_EOK && !done && (r->job == JOB_DS_SEEN || r->job == JOB_DS_GONE) &&
	    (ret = rs_session_ds_done(s, (uint16_t)r->arg, r->job == JOB_DS_SEEN, diag)) != RS_EOK)
		rs_session_fail(s, diag->text);
	if (ret == RS_EOK && !done && (ret = rs_session_enforce(s, diag)) != RS_EOK)
		rs_session_fail(s, diag->text);
	rs_zone_t *checked = NULL;
	rs_publish_opts_t po = { .output = output, .incremental = r->job != JOB_RESIGN,
				 .previous = r->job != JOB_RESIGN && st.current != NULL ? rs_version_zone(st.current) : NULL,
				 .staged = stage_diff, .staged_arg = &st, .keep = &checked, .serial_floor = history_end(z) };
	rs_publish_result_t res;
	if (ret == RS_EOK && !done)
		ret = rs_session_publish(s, &po, &res, diag);
	const rs_zone_rec_t *rec = rs_session_zone(s);
	if (!done) {
		published(r, checked, &res, so.now, refresh_time(sv, z, pol, so.now), false, "");
		if (checked != NULL && rec->registry) {
			record_generation(r->store, rec->name, gen);
			pthread_mutex_lock(&sv->lock);
			z->served_gen = gen;
			pthread_mutex_unlock(&sv->lock);
		}
	}
	if (ret == RS_EOK)
		serve_anchors(sv, z, s);
	pthread_mutex_lock(&sv->lock);
	if (ret != RS_EOK && st.journaled && z->journal != NULL) {
		/* The diff went in, the version did not: the history ends at what is served. */
		rs_diag_t why;
		rs_journal_end_at(z->journal, z->serial, &why);
	}
	z->next_event = rec->next_event;
	pthread_mutex_unlock(&sv->lock);
	rs_version_unref(st.current);
	rs_session_close(s);
	return ret;
}

/* Write the served version to the output file (it lags behind change sets by output-delay). */
static int flush_output(serve_t *sv, szone_t *z, rs_diag_t *diag)
{
	pthread_mutex_lock(&sv->lock);
	rs_version_t *v = z->version != NULL && z->output_dirty ? rs_version_ref(z->version) : NULL;
	char path[4096];
	snprintf(path, sizeof(path), "%s", z->output);
	pthread_mutex_unlock(&sv->lock);
	if (v == NULL)
		return RS_EOK;
	rs_outfile_t *out = NULL;
	int ret = rs_outfile_open(path, 0644, &out, diag);
	if (ret == RS_EOK)
		ret = rs_zone_write(rs_version_zone(v), rs_outfile_stream(out), diag);
	if (ret == RS_EOK) {
		ret = rs_outfile_commit(out, diag);
		out = NULL;
	}
	rs_outfile_abort(out);
	pthread_mutex_lock(&sv->lock);
	if (ret == RS_EOK && z->version == v)
		z->output_dirty = false;
	else if (ret != RS_EOK)
		z->output_due = serve_now(sv) + sv->o.conf.retry_failed;
	pthread_mutex_unlock(&sv->lock);
	if (ret != RS_EOK)
		rs_log(&sv->o.log, RS_LOG_ERR, z->name, "ALARM: the output %s is behind serial %u: %s", path,
		       rs_version_serial(v), diag->text);
	rs_version_unref(v);
	return ret;
}

static void run_job(serve_t *sv, rs_store_t *store, szone_t *z, enum job job, int arg)
{
	struct run r = { sv, z, store, job, arg, "" };
	rs_diag_t diag = { "" };
	if (job == JOB_FLUSH) {
		flush_output(sv, z, &diag);
		return;
	}
	int ret = do_publish(&r, &diag);
	malloc_trim(0); /* what the last version and the signing's scratch left in the heap */
	int64_t now = serve_now(sv);
	pthread_mutex_lock(&sv->lock);
	if (ret == RS_EBUSY) {
		/* Another writer (a command) holds the zone: look again soon. */
		z->next_run = now + (sv->o.conf.poll_ms + 999) / 1000;
		snprintf(z->job_text, sizeof(z->job_text), "%s", diag.text);
	} else if (ret != RS_EOK) {
		z->failures++;
		z->last_failure = now;
		snprintf(z->last_error, sizeof(z->last_error), "%s", diag.text);
		z->next_run = now + sv->o.conf.retry_failed;
		snprintf(z->job_text, sizeof(z->job_text), "%s", diag.text);
		rs_log(&sv->o.log, RS_LOG_ERR, z->name, "ALARM: publication failed, serial %u keeps serving: %s",
		       z->serial, diag.text);
	} else {
		z->last_failure = 0;
		z->last_error[0] = '\0';
		snprintf(z->job_text, sizeof(z->job_text), "%s", r.text);
		rs_log(&sv->o.log, RS_LOG_NOTICE, z->name, "%s", r.text);
	}
	z->job_result = ret;
	pthread_mutex_unlock(&sv->lock);
}

void *serve_worker(void *arg)
{
	serve_t *sv = arg;
	rs_store_t *store = NULL;
	rs_diag_t diag;
	if (rs_store_open(sv->o.state_dir, 0, &store, &diag) != RS_EOK) {
		rs_log(&sv->o.log, RS_LOG_ERR, NULL, "ALARM: the worker cannot open the state: %s", diag.text);
		atomic_store(&sv->stopping, true);
		serve_wake(sv);
		return NULL;
	}
	pthread_mutex_lock(&sv->lock);
	while (!atomic_load(&sv->stopping)) {
		szone_t *z = NULL;
		/* Zones not yet taken up first: they serve their last version before anything is signed. */
		for (size_t i = 0; i < sv->nzones && z == NULL; i++)
			if (!sv->zones[i]->busy && !sv->zones[i]->taken_up)
				z = sv->zones[i];
		if (z != NULL) {
			z->busy = true;
			z->taken_up = true;
			pthread_mutex_unlock(&sv->lock);
			serve_take_up(sv, store, z);
			pthread_mutex_lock(&sv->lock);
			z->busy = false;
			serve_wake(sv); /* what is due now is seen at once, not at the next look */
			continue;
		}
		for (size_t i = 0; i < sv->nzones && z == NULL; i++)
			if (!sv->zones[i]->busy && sv->zones[i]->job != JOB_NONE &&
			    (!sv->zones[i]->frozen || sv->zones[i]->job != JOB_PUBLISH))
				z = sv->zones[i];
		if (z == NULL) {
			pthread_cond_wait(&sv->changed, &sv->lock);
			continue;
		}
		enum job job = z->job;
		int jarg = z->job_arg;
		uint64_t seq = z->job_seq;
		z->job = JOB_NONE;
		z->busy = true;
		if (job != JOB_FLUSH)
			z->started_ms = serve_mono_ms();
		pthread_mutex_unlock(&sv->lock);
		run_job(sv, store, z, job, jarg);
		pthread_mutex_lock(&sv->lock);
		z->busy = false;
		z->job_done = seq;
		pthread_cond_broadcast(&sv->changed);
		serve_wake(sv);
	}
	pthread_mutex_unlock(&sv->lock);
	/* At stop the outputs catch up with what is served. */
	for (size_t i = 0; i < sv->nzones; i++) {
		rs_diag_t why;
		flush_output(sv, sv->zones[i], &why);
	}
	rs_store_close(store);
	return NULL;
}

int serve_job(serve_t *sv, const char *name, enum job job, int arg, char *out, size_t max)
{
	pthread_mutex_lock(&sv->lock);
	szone_t *z = serve_zone(sv, name);
	if (z == NULL) {
		pthread_mutex_unlock(&sv->lock);
		snprintf(out, max, "%s: not a managed zone", name);
		return RS_ENOENT;
	}
	/* Jobs of one zone run one at a time; a caller waits for the one it queued. */
	while (z->job != JOB_NONE && !atomic_load(&sv->stopping))
		pthread_cond_wait(&sv->changed, &sv->lock);
	uint64_t seq = ++z->job_seq;
	z->job = job;
	z->job_arg = arg;
	pthread_cond_broadcast(&sv->changed);
	while (z->job_done < seq && !atomic_load(&sv->stopping))
		pthread_cond_wait(&sv->changed, &sv->lock);
	int ret = atomic_load(&sv->stopping) && z->job_done < seq ? RS_EBUSY : z->job_result;
	snprintf(out, max, "%s", ret == RS_EBUSY && z->job_done < seq ? "the daemon is stopping" : z->job_text);
	pthread_mutex_unlock(&sv->lock);
	return ret;
}
