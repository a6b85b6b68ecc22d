/* The daemon's parts, shared by the files of src/lib/serve. */
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "regsign/serve.h"
#include "regsign/session.h"

#define SERVE_MAX_SECONDARIES 16

/* What the control socket or a timer asks of a zone's worker. */
enum job {
	JOB_NONE = 0,
	JOB_PUBLISH,  /* due: key steps, then publish (incrementally) */
	JOB_RESIGN,   /* ctl sign: publish with every signature made anew */
	JOB_ROLLOVER, /* ctl rollover ZONE ksk|zsk|csk */
	JOB_DS_SEEN,  /* ctl ds-seen ZONE TAG */
	JOB_DS_GONE,
	JOB_FLUSH,    /* write the served version to the output file */
};

typedef struct szone {
	char name[256];
	uint8_t origin[255];
	/* Set by the worker, read by everyone under serve.lock. */
	rs_version_t *version;
	rs_journal_t *journal;
	uint32_t serial;
	int64_t last_publish, last_failure, next_event, expiration, next_run;
	int64_t started_ms; /* when the worker last took a publication (serve_mono_ms), for batch */
	char last_error[512];
	char output[4096];
	uint64_t publications, failures, sigs_made, sigs_reused, last_verified;
	double last_seconds;
	bool frozen, registry, present, busy, taken_up;
	/* What the worker is to do, and the ctl callers waiting for it. */
	enum job job;
	int job_arg;
	uint64_t job_seq, job_done;
	int job_result;
	char job_text[512];
	/* Inputs as last seen; what changed since the served version. */
	int64_t input_mtime, input_size;
	char input_watched[4096]; /* the input whose directory is watched (watch.c) */
	bool input_changed, registry_changed;
	uint64_t served_gen;   /* the registry generation the served version holds */
	bool output_dirty;     /* the output file is behind the served version (a change set's) */
	int64_t output_due;
	/* Secondaries; NOTIFY state per secondary for notify_serial. */
	rs_secondary_t sec[SERVE_MAX_SECONDARIES];
	rs_tsig_key_t keys[SERVE_MAX_SECONDARIES];
	char sec_text[SERVE_MAX_SECONDARIES][80];
	size_t nsec;
	uint32_t notify_serial;
	unsigned notify_tries[SERVE_MAX_SECONDARIES];
	int64_t notify_next[SERVE_MAX_SECONDARIES];
	bool notify_done[SERVE_MAX_SECONDARIES];
	uint32_t sec_serial[SERVE_MAX_SECONDARIES]; /* as their queries said; 0: not heard */
	uint64_t notify_failures;
	/* Trust anchors (anchors.c): the tags last published, whether a publication is owed, failures. */
	char anchors_tags[256];
	bool anchors_owed;
	uint64_t anchors_failures;
} szone_t;

typedef struct serve {
	rs_serve_opts_t o;
	rs_store_t *store;   /* the main thread's: zone list, registry generation */
	rs_xfr_server_t *xfr;
	pthread_mutex_t lock; /* the zone table and every szone field */
	pthread_cond_t changed; /* a job finished, or work arrived */
	szone_t **zones;
	size_t nzones;
	uint64_t registry_gen;
	atomic_bool stopping;
	atomic_bool reload;
	atomic_uint transfers; /* open connections: DNS over TCP, control, metrics */
	pthread_mutex_t sync_lock; /* one zone-list sync at a time (the main loop, ctl reload) */
	int wake[2]; /* the self-pipe that wakes the main loop (signals, the worker) */
	int watch_fd; /* inotify (watch.c); -1: none, the poll alone */
	struct serve_watched *watched;
	size_t nwatched;
	pthread_t worker, notifier, monitor;
	struct serve_checks *checks; /* the periodic check's figures (monitor.c), under lock */
	int64_t started;
	uint64_t transfers_served, transfers_refused;
} serve_t;

int64_t serve_now(const serve_t *sv);
/* Is something timed due for z at now: its refresh, or a key event? (under lock) */
static inline bool serve_zone_timed(const szone_t *z, int64_t now)
{
	return z->next_run <= now || (z->next_event != INT64_MAX && z->next_event <= now);
}
/* The machine's monotonic clock in milliseconds (what the daemon's own pacing goes by). */
int64_t serve_mono_ms(void);
void serve_wake(serve_t *sv);
szone_t *serve_zone(serve_t *sv, const char *name); /* under lock; name in any case, with or without the dot */

/* zones.c, shared with worker.c */
void serve_take_up(serve_t *sv, rs_store_t *store, szone_t *z); /* serve the last version at start */
void serve_zone_version(serve_t *sv, szone_t *z, rs_version_t *v, bool notify); /* under lock */
int64_t serve_zone_jitter(const szone_t *z, int64_t most);
void serve_generation_name(const char *zone, char *out, size_t max);

int serve_zones_sync(serve_t *sv, rs_diag_t *diag);  /* the zone list from the store: new zones, removed ones */
void serve_schedule(serve_t *sv);                   /* mark zones that are due */
void serve_zones_free(serve_t *sv);
/* worker.c, notifier.c */
void *serve_worker(void *arg);
void *serve_notifier(void *arg);
/* A ctl job for zone: queue it and wait for its result (text into out). */
int serve_job(serve_t *sv, const char *zone, enum job job, int arg, char *out, size_t max);

/* watch.c: change notices for the state's WAL and the zones' inputs, so a look need not wait for the poll. */
void serve_watch_open(serve_t *sv);                    /* watch_fd -1 when inotify is unavailable */
void serve_watch_input(serve_t *sv, const char *path); /* under lock */
bool serve_watch_read(serve_t *sv);                    /* drain watch_fd: did a watched file change? */
void serve_watch_close(serve_t *sv);

/* monitor.c: with check-interval, each zone's secondaries checked as regsign check does, alarms included. */
void *serve_monitor(void *arg);
void serve_monitor_metrics(const serve_t *sv, rs_buf_t *out); /* under lock */
void serve_monitor_free(serve_t *sv);

/* ctl.c, metrics.c, net.c */
int serve_ctl_answer(serve_t *sv, const char *line, const char *who, rs_buf_t *reply);
void serve_ctl_peer(int fd, char *out, size_t max);
int serve_metrics(serve_t *sv, rs_buf_t *out);
/* status.c: the status page (regsign/status.h) with the daemon's own view of its zones. */
int serve_status_page(serve_t *sv, rs_buf_t *out);
/* A metrics label value with backslash, double quote and newline escaped (the text format's rule). */
void serve_label_value(const char *in, char *out, size_t max);
int serve_listen(const char *addr_port, int type, rs_diag_t *diag);
void serve_udp(serve_t *sv, int fd);
/* SERVE_HTTP: metrics (and the status page when no status listener is set); SERVE_STATUS: the page alone. */
enum serve_conn { SERVE_DNS, SERVE_CTL, SERVE_HTTP, SERVE_STATUS };
/* Accept a connection on fd and answer it in a thread of its own (DNS over TCP, control, metrics). */
void serve_accept(serve_t *sv, int fd, enum serve_conn kind);

/*
 * After a successful publication of z through session s: publish its trust
 * anchors into the configured repository when a key step was taken, when
 * the listed KSKs changed, or when the last try failed (anchors.c).
 */
struct rs_session;
void serve_anchors(serve_t *sv, szone_t *z, struct rs_session *s);
/* One audited action by the daemon or a ctl caller. */
void serve_audit(rs_store_t *store, int64_t now, const char *operator, const char *action, const char *zone,
		 const char *result, const char *detail, const rs_log_t *log);
