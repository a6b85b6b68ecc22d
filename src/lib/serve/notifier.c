/*
 * The notifier: NOTIFY (RFC 1996) of each zone's served serial to each of
 * its secondaries, retried with back-off until answered, then an alarm.
 */
#include <string.h>
#include <time.h>

#include "internal.h"

typedef struct {
	szone_t *z;
	size_t i;
	uint32_t serial;
	rs_secondary_t to;
	rs_tsig_key_t key;
} notice_t;

/* NOTIFY retries go by the machine's clock, whatever time the daemon is told. */
static int64_t mono_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec;
}

void *serve_notifier(void *arg)
{
	serve_t *sv = arg;
	while (!atomic_load(&sv->stopping)) {
		notice_t n;
		bool found = false;
		int64_t now = mono_now();
		pthread_mutex_lock(&sv->lock);
		for (size_t zi = 0; zi < sv->nzones && !found; zi++) {
			szone_t *z = sv->zones[zi];
			for (size_t i = 0; i < z->nsec && !found; i++) {
				if (z->notify_done[i] || z->notify_next[i] > now)
					continue;
				n = (notice_t){ .z = z, .i = i, .serial = z->notify_serial, .to = z->sec[i] };
				if (z->sec[i].key != NULL) {
					n.key = *z->sec[i].key;
					n.to.key = &n.key;
				}
				found = true;
			}
		}
		pthread_mutex_unlock(&sv->lock);
		if (!found) {
			struct timespec ts = { 0, 200 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			continue;
		}
		rs_diag_t diag = { "" };
		int ret = rs_notify_send(n.z->origin, n.serial, &n.to, (int)sv->o.conf.notify_timeout * 1000, &diag);
		explicit_bzero(&n.key, sizeof(n.key));
		pthread_mutex_lock(&sv->lock);
		/* The zone may have moved on (a newer serial restarted the round), or gone. */
		bool live = false;
		for (size_t zi = 0; zi < sv->nzones; zi++)
			live = live || sv->zones[zi] == n.z;
		if (live && n.z->notify_serial == n.serial && n.i < n.z->nsec && !n.z->notify_done[n.i]) {
			szone_t *z = n.z;
			if (ret == RS_EOK) {
				z->notify_done[n.i] = true;
			} else if (++z->notify_tries[n.i] >= (unsigned)sv->o.conf.notify_retries) {
				z->notify_done[n.i] = true;
				z->notify_failures++;
				rs_log(&sv->o.log, RS_LOG_ERR, z->name, "ALARM: NOTIFY of serial %u to %s unanswered after %u "
				       "tries: %s", n.serial, z->sec_text[n.i], z->notify_tries[n.i], diag.text);
			} else {
				/* Back off: 1, 2, 4, ... seconds, at most a minute. */
				int64_t wait = (int64_t)1 << (z->notify_tries[n.i] - 1);
				z->notify_next[n.i] = mono_now() + (wait > 60 ? 60 : wait);
				rs_log(&sv->o.log, RS_LOG_WARNING, z->name, "NOTIFY of serial %u: %s (try %u, again in %llds)",
				       n.serial, diag.text, z->notify_tries[n.i], (long long)(wait > 60 ? 60 : wait));
			}
		}
		pthread_mutex_unlock(&sv->lock);
	}
	return NULL;
}
