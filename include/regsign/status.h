/*
 * status: one HTML page that shows what a state directory's zones are
 * doing: each zone's policy, serial and last publications, its keys with
 * their record states and next events, a timeline picture of the past 90
 * and next 200 days (published, active and retired spans, the DS at the
 * parent, the DNSKEY count against max-dnskeys), the secondaries' serials
 * and the alarms of the audit log.
 *
 * The page needs nothing but itself: no script, no external resource, CSS
 * and SVG inline, readable on a phone. Everything taken from the state is
 * HTML-escaped. `regsign status --html` writes it; the daemon serves it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "regsign/base.h"
#include "regsign/store.h"

typedef struct rs_status rs_status_t;

/* The picture's window around now, in days. */
#define RS_STATUS_PAST_DAYS 90
#define RS_STATUS_NEXT_DAYS 200

/*
 * Read what the page shows from store at now (one read snapshot): every
 * managed zone, or zone alone (RS_ENOENT if it is not managed), with the
 * planned key events of the next RS_STATUS_NEXT_DAYS (rs_enforce_plan) and
 * the last max_alarms alarms of DIR/audit.log (monitor-alarm entries and
 * entries whose result is not ok). Caller frees with rs_status_free().
 */
int rs_status_collect(rs_store_t *store, const char *zone, int64_t now, size_t max_alarms, rs_status_t **out,
		      rs_diag_t *diag);
void rs_status_free(rs_status_t *status);

/* What a running daemon knows of a zone, beyond the store. */
typedef struct {
	uint32_t serial;      /* of the version served; 0: none */
	int64_t last_publish; /* 0: none since the daemon started */
	bool failing, frozen;
	char last_error[512];
	size_t nsec;
	char sec[16][80];     /* the secondaries, as configured */
	uint32_t sec_serial[16]; /* the serial each holds, as its queries said; 0: not heard */
} rs_status_live_t;

/*
 * The daemon's view of zone (its presentation name, as the store has it);
 * without one, the page says the secondaries' serials are not known.
 * RS_ENOENT if the status holds no such zone.
 */
int rs_status_set_live(rs_status_t *status, const char *zone, const rs_status_live_t *live);
/* The zone names the status holds: i from 0, NULL past the end (borrowed). */
const char *rs_status_zone_name(const rs_status_t *status, size_t i);

/* Append the page (UTF-8 HTML) to out. source says who made it ("regsign status", "regsign serve"). */
int rs_status_html(const rs_status_t *status, const char *source, rs_buf_t *out);
