/*
 * The status page as the daemon serves it (GET / and /status on the
 * metrics listener): the state read through a store of the connection's
 * own (SQLite handles are not shared between threads), then what only the
 * daemon knows (served serial, failing, frozen, secondaries' serials)
 * copied under the lock, which is held for that copy alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/status.h"

#include "internal.h"

#define ALARMS 50

int serve_status_page(serve_t *sv, rs_buf_t *out)
{
	int64_t now = serve_now(sv);
	rs_store_t *store;
	rs_status_t *st = NULL;
	rs_diag_t diag;
	int ret = rs_store_open(sv->o.state_dir, 0, &store, &diag);
	if (ret == RS_EOK) {
		ret = rs_status_collect(store, NULL, now, ALARMS, &st, &diag);
		rs_store_close(store);
	}
	if (ret != RS_EOK) {
		rs_buf_printf(out, "cannot read the state: %s\n", diag.text);
		return ret;
	}
	size_t n = 0;
	rs_status_live_t *live = NULL;
	char (*names)[256] = NULL;
	pthread_mutex_lock(&sv->lock);
	if (sv->nzones > 0 && (live = calloc(sv->nzones, sizeof(*live))) != NULL &&
	    (names = calloc(sv->nzones, sizeof(*names))) != NULL)
		for (; n < sv->nzones; n++) {
			const szone_t *z = sv->zones[n];
			rs_status_live_t *l = &live[n];
			memcpy(names[n], z->name, sizeof(names[n]));
			l->serial = z->version != NULL ? z->serial : 0;
			l->last_publish = z->last_publish;
			l->failing = z->last_failure != 0;
			l->frozen = z->frozen;
			memcpy(l->last_error, z->last_error, sizeof(l->last_error));
			for (size_t s = 0; s < z->nsec && s < 16; s++, l->nsec++) {
				memcpy(l->sec[s], z->sec_text[s], sizeof(l->sec[s]));
				l->sec_serial[s] = z->sec_serial[s];
			}
		}
	pthread_mutex_unlock(&sv->lock);
	for (size_t i = 0; i < n; i++)
		rs_status_set_live(st, names[i], &live[i]);
	free(live);
	free(names);
	ret = rs_status_html(st, "regsign serve", out);
	rs_status_free(st);
	return ret;
}
