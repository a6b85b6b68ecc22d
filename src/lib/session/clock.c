/*
 * The clock every key step trusts: never before the last run, never further
 * ahead of it than clock.max-jump unless the operator gave the time; and the
 * way back from a wrong clock, which moves the state's future times to now.
 */
#include <stdio.h>

#include "internal.h"

/* now against the time of the last run of a kind (what): not behind it, not further ahead than clock.max-jump. */
static int clock_guard(const rs_session_t *s, int64_t last, const char *what, rs_diag_t *diag)
{
	char ts[15];
	rs_time_format(last, ts);
	if (s->o.now < last)
		return rs_diag(diag, RS_ERANGE, "%s: the clock is behind the last %s (%s); check the time source (if "
			       "that run's clock was wrong: regsign zone clock-reset), or pass --force-clock if the time "
			       "is right", s->zone.name, what, ts);
	/* A time the operator gave with --now is a decision, not a clock fault. */
	if (!s->o.now_given && s->o.now - last > s->policy.clock_max_jump) {
		char jump[32];
		rs_policy_duration_format(s->o.now - last, jump);
		return rs_diag(diag, RS_ERANGE, "%s: the clock is %s ahead of the last %s (%s), more than "
			       "clock.max-jump; check the time source, or pass --force-clock if the time is right",
			       s->zone.name, jump, what, ts);
	}
	return RS_EOK;
}

/* Statements 5.6: a signer whose clock is wrong must not sign. */
int rs_session_check_clock(const rs_session_t *s, rs_diag_t *diag)
{
	if (s->o.force_clock || s->zone.last_sign == 0)
		return RS_EOK;
	return clock_guard(s, s->zone.last_sign, "signing run", diag);
}

int rs_session_check_step_clock(const rs_session_t *s, rs_diag_t *diag)
{
	if (s->o.force_clock)
		return RS_EOK;
	if (s->o.now < s->zone.last_enforce) {
		char ts[15];
		rs_time_format(s->zone.last_enforce, ts);
		return rs_diag(diag, RS_ERANGE, "%s: the time is before the last enforcement (%s); refusing to go back "
			       "in time: check the time source; if that run's clock was wrong, regsign zone clock-reset "
			       "(--force-clock overrides)", s->zone.name, ts);
	}
	if (s->o.now < s->zone.last_sign)
		return rs_session_check_clock(s, diag);
	/* Ahead: of the later run, whichever kind it was (cron may enforce between publications). */
	if (s->zone.last_enforce > s->zone.last_sign)
		return clock_guard(s, s->zone.last_enforce, "key step", diag);
	return rs_session_check_clock(s, diag);
}

/* t, if it lies after now, becomes now; counted in *changed. */
static void clamp(int64_t *t, int64_t now, size_t *changed)
{
	if (*t > now) {
		*t = now;
		(*changed)++;
	}
}

int rs_session_clock_reset(rs_session_t *s, const char *reason, rs_diag_t *diag)
{
	int ret = session_check_writable(s, diag);
	if (ret != RS_EOK)
		return ret;
	if (reason == NULL || reason[0] == '\0')
		return rs_diag(diag, RS_EINVAL, "%s: a clock reset needs a reason (--reason)", s->zone.name);
	int64_t now = s->o.now;
	char latest[15] = "-";
	int64_t last = s->zone.last_enforce > s->zone.last_sign ? s->zone.last_enforce : s->zone.last_sign;
	if (last > now)
		rs_time_format(last, latest);
	size_t zone_times = 0, key_times = 0, keys = 0;
	clamp(&s->zone.last_enforce, now, &zone_times);
	clamp(&s->zone.last_sign, now, &zone_times);
	clamp(&s->zone.last_failure, now, &zone_times);
	clamp(&s->zone.added, now, &zone_times);
	if (s->zone.next_event != INT64_MAX)
		clamp(&s->zone.next_event, now, &zone_times);
	/* A wait that ends in the future (cached records of an old ttl.max-zone) starts again, whole, now. */
	if (s->keys.old_max_until > now) {
		s->keys.old_max_until = now + s->keys.old_max_zone_ttl + s->policy.zone_propagation;
		zone_times++;
	}
	for (size_t i = 0; i < s->keys.count; i++) {
		rs_keystate_t *k = &s->keys.keys[i];
		size_t before = key_times;
		/* Every wait of the state machine counts from one of these: from now, it only gets longer. */
		for (int r = 0; r < RS_REC_COUNT; r++)
			clamp(&k->since[r], now, &key_times);
		clamp(&k->created, now, &key_times);
		clamp(&k->published, now, &key_times);
		clamp(&k->active, now, &key_times);
		clamp(&k->retired, now, &key_times);
		clamp(&k->removed, now, &key_times);
		clamp(&k->backup, now, &key_times);
		keys += key_times > before;
	}
	char when[15];
	rs_time_format(now, when);
	session_note(s, "clock-reset", 0, RS_LOG_NOTICE, "clock reset to %s (latest run was dated %s): %zu zone "
		     "time(s) and %zu time(s) of %zu key(s) that lay in the future set to now; reason: %.200s", when,
		     latest, zone_times, key_times, keys, reason);
	s->zone.next_event = now; /* every step is looked at again, from now */
	return RS_EOK;
}
