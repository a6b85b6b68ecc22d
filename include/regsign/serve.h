/*
 * serve: the long-running signer. One process for every managed zone of a
 * state directory: a scheduler fed by the key state machine's next events,
 * signature refresh, input changes and registry changes; a pipeline per zone
 * (the zone session: steps, build, sign, verify, publish) whose verified
 * version is written to the zone's output and served to its secondaries
 * (AXFR, IXFR from a crash-safe history, NOTIFY with retry); a control
 * socket; Prometheus metrics.
 *
 * This is the one module that reads the clock: through opts->clock, so a
 * test can drive time.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "regsign/base.h"
#include "regsign/store.h"
#include "regsign/xfr.h"

/* The configuration: the file's settings, then the command line's. */
typedef struct {
	char listen[8][64];      /* "ADDR@PORT" for DNS (UDP and TCP); none: no server */
	size_t nlisten;
	char metrics[64];        /* "ADDR@PORT" for HTTP /metrics (and the status page unless status is set); "": none */
	char status[64];         /* "ADDR@PORT" for the status page alone; "": on the metrics listener */
	char control[4096];      /* the control socket; "": DIR/regsign.ctl */
	int64_t poll_ms;         /* milliseconds between looks at inputs and the registry data when no change
	                            notice (inotify) brings one sooner (default 5000) */
	int64_t batch_ms;        /* the least time between two publications of a zone's changes: changes that
	                            come meanwhile go out together (default 1000); the first after a quiet spell at once */
	int64_t notify_timeout;  /* seconds a NOTIFY waits for its answer (default 2) */
	int64_t notify_retries;  /* tries per secondary and serial (default 5, backing off) */
	int64_t retry_failed;    /* seconds before a failed publication is tried again (default 60) */
	int64_t jitter;          /* at most this many seconds added to a refresh, per zone (default 10 % of the refresh) */
	int64_t output_delay;    /* seconds the output file may lag a change set's version (default 5) */
	rs_journal_limits_t journal;
	unsigned threads;        /* signing threads; 0: all CPUs */
	unsigned max_transfers;  /* concurrent TCP connections (default 32) */
	/* Trust anchors (regsign/publish.h): every zone's files in this directory; "": not published. */
	char anchors_dir[4096];
	char anchors_pgp_key[128];     /* fingerprint of the OpenPGP key that signs them */
	char anchors_gnupg_home[4096]; /* its GnuPG home; "": GnuPG's default */
	int64_t check_interval;  /* seconds between checks of what each zone's secondaries serve (monitor); 0: off */
} rs_serve_config_t;

/* The defaults. */
void rs_serve_config_init(rs_serve_config_t *conf);
/*
 * Read a configuration file ("name: value" lines, YAML style; # comments)
 * into conf. RS_ESYNTAX with "FILE:LINE: what" for an unknown name or a bad
 * value; conf is then unchanged.
 */
int rs_serve_config_read(rs_serve_config_t *conf, const char *path, rs_diag_t *diag);
/* One setting by its file name (listen adds an address): what --listen and --metrics set. */
int rs_serve_config_set(rs_serve_config_t *conf, const char *name, const char *value, rs_diag_t *diag);

typedef struct {
	const char *state_dir;
	rs_serve_config_t conf;
	/* The time; NULL: the system clock. */
	int64_t (*clock)(void *arg);
	void *clock_arg;
	rs_log_t log;
	/* Called once serving (systemd READY=1) and at stop; may be NULL. */
	void (*ready)(void *arg, bool ready);
	void *ready_arg;
} rs_serve_opts_t;

/*
 * Run until SIGTERM or SIGINT (or `ctl stop`): finish the current step,
 * then return. SIGHUP reloads the zone list and configuration of zones.
 * Errors at start (a socket that cannot be bound, a state directory that
 * cannot be opened, another daemon on the same state) are returned with diag.
 */
int rs_serve_run(const rs_serve_opts_t *opts, rs_diag_t *diag);

/*
 * Send one control command (a line: "status", "zone-status ZONE", "sign
 * ZONE", ...) to the daemon at the control socket path and read its answer
 * into reply (text). RS_EOK when the command succeeded, RS_EINVAL when the
 * daemon refused it (reply says why), -ECONNREFUSED/-ENOENT when no daemon
 * answers.
 */
int rs_ctl_call(const char *path, const char *command, rs_buf_t *reply, rs_diag_t *diag);

/*
 * The secondaries of zone (ADDR[@PORT] each; n 0 clears them), and the TSIG
 * key ("NAME:ALG:BASE64", or NULL) they must use: checked, the secret kept
 * in DIR/tsig/NAME.key (mode 0600, never in a row or a message), audited.
 */
int rs_serve_set_secondaries(rs_store_t *store, const char *zone, const char *const *addrs, size_t n,
			     const char *tsig, int64_t now, const char *operator, rs_diag_t *diag);
/* The TSIG key name of the state directory (its secret from DIR/tsig/NAME.key). */
int rs_serve_tsig_load(rs_store_t *store, const char *name, rs_tsig_key_t *key, rs_diag_t *diag);

/* The control socket of a state directory (conf->control, or DIR/regsign.ctl). */
void rs_serve_control_path(const char *state_dir, const rs_serve_config_t *conf, char *out, size_t max);
