/*
 * The daemon's trust anchors: after a publication, the zone's repository
 * files are written again when relying parties may need something new (a
 * key step was taken, the listed KSKs changed, or the last try failed).
 * A failure is an alarm and a counted metric; the publication stays owed
 * and is tried after the next publication of the zone, never recorded as done.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "regsign/session.h"

void serve_anchors(serve_t *sv, szone_t *z, rs_session_t *s)
{
	const rs_serve_config_t *c = &sv->o.conf;
	if (c->anchors_dir[0] == '\0')
		return;
	char tags[256];
	rs_session_anchor_tags(s, tags, sizeof(tags));
	pthread_mutex_lock(&sv->lock);
	bool due = z->anchors_owed || strcmp(tags, z->anchors_tags) != 0 || rs_session_steps(s) > 0;
	pthread_mutex_unlock(&sv->lock);
	if (!due || tags[0] == '\0')
		return; /* nothing new, or no KSK to list yet (its DS not requested) */
	rs_anchor_target_t t = { c->anchors_dir, c->anchors_pgp_key, c->anchors_gnupg_home[0] ? c->anchors_gnupg_home : NULL };
	rs_diag_t diag = { "" };
	int ret = rs_session_anchors(s, &t, &diag);
	if (ret == RS_EOK)
		ret = rs_session_commit(s, &diag);
	pthread_mutex_lock(&sv->lock);
	if (ret == RS_EOK) {
		snprintf(z->anchors_tags, sizeof(z->anchors_tags), "%s", tags);
		z->anchors_owed = false;
	} else {
		z->anchors_owed = true;
		z->anchors_failures++;
	}
	pthread_mutex_unlock(&sv->lock);
	if (ret == RS_EOK)
		rs_log(&sv->o.log, RS_LOG_NOTICE, z->name, "trust anchors %s published in %s", tags, c->anchors_dir);
	else
		rs_log(&sv->o.log, RS_LOG_ERR, z->name, "ALARM: trust anchors not published in %s: %s", c->anchors_dir,
		       diag.text);
}
