/*
 * What the status page shows, read from a state directory: zones, keys and
 * their planned events, publications and alarms from the audit log.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/dns.h"
#include "regsign/session.h"

#include "internal.h"

/* ---- keys: spans from the stored times, then from the plan ---- */

static bool in_zone_state(int s)
{
	return s == RS_RUMOURED || s == RS_OMNIPRESENT;
}

/* Does a key with these record states have each span's property? */
static bool has_kind(const uint8_t *st, int kind)
{
	switch (kind) {
	case SPAN_PUBLISHED: return in_zone_state(st[RS_REC_DNSKEY]);
	case SPAN_ACTIVE: return in_zone_state(st[RS_REC_ZRRSIG]) || in_zone_state(st[RS_REC_KRRSIG]);
	default: return in_zone_state(st[RS_REC_DS]);
	}
}

static void add_span(krow_t *r, int kind, int64_t from, int64_t to)
{
	if (r->nspans < ROW_SPANS && to > from)
		r->spans[r->nspans++] = (span_t){ kind, from, to };
}

static krow_t *new_row(zview_t *z)
{
	if (z->nrows == z->caprows) {
		size_t cap = z->caprows ? 2 * z->caprows : 8;
		krow_t *rows = realloc(z->rows, cap * sizeof(*rows));
		if (rows == NULL)
			return NULL;
		z->rows = rows;
		z->caprows = cap;
	}
	krow_t *r = &z->rows[z->nrows++];
	memset(r, 0, sizeof(*r));
	return r;
}

/*
 * The past of an existing key from its times: published until removed,
 * active from active until retired (the DS: since its current state, the
 * only time the store keeps for it; its past spans come from the audit log,
 * audit_ds). What holds now stays open for the plan.
 */
static void key_past(krow_t *r, const rs_keystate_t *k)
{
	memcpy(r->cur, k->state, sizeof(r->cur));
	int64_t pub = k->published ? k->published : k->since[RS_REC_DNSKEY];
	int64_t act = k->active;
	if (has_kind(k->state, SPAN_PUBLISHED))
		r->open[SPAN_PUBLISHED] = pub ? pub : k->created;
	else if (pub != 0 && k->removed != 0)
		add_span(r, SPAN_PUBLISHED, pub, k->removed);
	if (has_kind(k->state, SPAN_ACTIVE))
		r->open[SPAN_ACTIVE] = act ? act : r->open[SPAN_PUBLISHED];
	else if (act != 0 && k->retired != 0)
		add_span(r, SPAN_ACTIVE, act, k->retired);
	if (has_kind(k->state, SPAN_DS))
		r->open[SPAN_DS] = k->since[RS_REC_DS] ? k->since[RS_REC_DS] : k->created;
}

typedef struct {
	zview_t *z;
	size_t known;
	bool failed;
} plan_t;

static krow_t *row_of(plan_t *p, const rs_keystate_t *k)
{
	bool planned = strncmp(k->locator, "planned", 7) == 0;
	for (size_t i = 0; i < p->z->nrows; i++) {
		krow_t *r = &p->z->rows[i];
		if (r->tag == k->tag && r->exists == !planned)
			return r;
	}
	if (!planned)
		return NULL;
	krow_t *r = new_row(p->z);
	if (r == NULL) {
		p->failed = true;
		return NULL;
	}
	r->tag = k->tag;
	r->role = k->role;
	r->alg = k->alg;
	snprintf(r->planned, sizeof(r->planned), "%s", k->locator + 7);
	return r;
}

static void plan_event(void *arg, int64_t when, const rs_event_t *ev)
{
	plan_t *p = arg;
	if (ev->key == NULL || !rs_event_is_change(ev))
		return;
	krow_t *r = row_of(p, ev->key);
	if (r == NULL)
		return;
	if (r->next_time == 0) {
		r->next_time = when;
		snprintf(r->next_what, sizeof(r->next_what), "%s", ev->text);
	}
	r->goal = ev->key->goal;
	if (ev->type != RS_EV_STATE || ev->rec < 0 || ev->rec >= RS_REC_COUNT)
		return;
	bool before[SPAN_KINDS];
	for (int kind = 0; kind < SPAN_KINDS; kind++)
		before[kind] = has_kind(r->cur, kind);
	r->cur[ev->rec] = (uint8_t)ev->state;
	for (int kind = 0; kind < SPAN_KINDS; kind++) {
		bool after = has_kind(r->cur, kind);
		if (!before[kind] && after)
			r->open[kind] = when;
		else if (before[kind] && !after) {
			add_span(r, kind, r->open[kind], when);
			r->open[kind] = 0;
		}
	}
}

static int zone_keys(rs_store_t *store, zview_t *z, int64_t now, rs_diag_t *diag)
{
	rs_keyset_t set = { 0 };
	int ret = rs_store_keys_load(store, z->rec.name, &set);
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "%s: cannot read the keys: %s", z->rec.name, rs_strerror(ret));
	set.soa_ttl = z->rec.soa_ttl;
	set.soa_minimum = z->rec.soa_minimum;
	set.old_max_zone_ttl = z->rec.old_max_ttl;
	set.old_max_until = z->rec.old_max_until;
	int64_t start = now - RS_STATUS_PAST_DAYS * 86400;
	for (size_t i = 0; i < set.count && ret == RS_EOK; i++) {
		const rs_keystate_t *k = &set.keys[i];
		/* Keys gone before the window are history: the audit log has them. */
		if (k->goal == RS_GOAL_DEAD && k->removed != 0 && k->removed < start &&
		    !has_kind(k->state, SPAN_PUBLISHED) && !has_kind(k->state, SPAN_DS))
			continue;
		krow_t *r = new_row(z);
		if (r == NULL) {
			ret = rs_diag(diag, RS_ENOMEM, "out of memory");
			break;
		}
		r->tag = k->tag;
		r->role = k->role;
		r->alg = k->alg;
		r->goal = k->goal;
		r->exists = true;
		r->state = *k;
		key_past(r, k);
	}
	plan_t p = { z, z->nrows, false };
	if (ret == RS_EOK && z->policy_ok) {
		rs_diag_t why;
		if (rs_enforce_plan(&z->policy, &set, now, now + RS_STATUS_NEXT_DAYS * 86400, plan_event, &p, &why) !=
		    RS_EOK)
			snprintf(z->policy_error, sizeof(z->policy_error), "plan: %s", why.text);
		if (p.failed)
			ret = rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < z->nrows; i++)
		for (int kind = 0; kind < SPAN_KINDS; kind++)
			if (z->rows[i].open[kind] != 0)
				add_span(&z->rows[i], kind, z->rows[i].open[kind], OPEN_END);
	rs_keyset_clear(&set);
	return ret;
}

/* ---- the store's other rows ---- */

static void sec_conf(void *arg, const char *addr, const char *tsig)
{
	(void)tsig;
	zview_t *z = arg;
	if (z->nsec_conf < sizeof(z->sec_conf) / sizeof(z->sec_conf[0]))
		snprintf(z->sec_conf[z->nsec_conf++], sizeof(z->sec_conf[0]), "%s", addr);
}

static void store_pub(void *arg, const rs_publication_t *pub)
{
	zview_t *z = arg;
	/* Oldest first: the newest goes to the front. */
	size_t n = z->npubs < ZONE_PUBS ? z->npubs : ZONE_PUBS - 1;
	memmove(&z->pubs[1], &z->pubs[0], n * sizeof(z->pubs[0]));
	z->pubs[0] = (pubrow_t){ .time = pub->time, .serial = pub->serial };
	snprintf(z->pubs[0].result, sizeof(z->pubs[0].result), "ok");
	snprintf(z->pubs[0].detail, sizeof(z->pubs[0].detail), "%llu signatures (%llu kept), %s",
		 (unsigned long long)pub->signatures, (unsigned long long)pub->reused, pub->keys);
	z->npubs = n + 1;
}

/* A failed publication after the last good one, from the zone's record. */
static void failed_pub(zview_t *z)
{
	if (z->rec.last_failure == 0 || (z->npubs > 0 && z->pubs[0].time > z->rec.last_failure))
		return;
	size_t n = z->npubs < ZONE_PUBS ? z->npubs : ZONE_PUBS - 1;
	memmove(&z->pubs[1], &z->pubs[0], n * sizeof(z->pubs[0]));
	z->pubs[0] = (pubrow_t){ .time = z->rec.last_failure };
	snprintf(z->pubs[0].result, sizeof(z->pubs[0].result), "failed");
	snprintf(z->pubs[0].detail, sizeof(z->pubs[0].detail), "%s", z->rec.last_error);
	z->npubs = n + 1;
}

/* ---- alarms, publications and past DS spans from DIR/audit.log ---- */

static bool is_alarm(const rs_audit_entry_t *e)
{
	return strcmp(e->action, "monitor-alarm") == 0 || strcmp(e->result, "ok") != 0;
}

/* A signing run's entry, ok or not: the zone's publications are these once the log can be read. */
static void audit_pub(rs_status_t *st, const rs_audit_entry_t *e)
{
	for (size_t i = 0; i < st->nzones; i++) {
		zview_t *z = &st->zones[i];
		if (!rs_audit_entry_zone_is(e, z->rec.name))
			continue;
		if (!z->pubs_from_audit) {
			z->pubs_from_audit = true;
			z->npubs = 0;
		}
		size_t n = z->npubs < ZONE_PUBS ? z->npubs : ZONE_PUBS - 1;
		memmove(&z->pubs[1], &z->pubs[0], n * sizeof(z->pubs[0]));
		pubrow_t *p = &z->pubs[0];
		*p = (pubrow_t){ .time = e->time };
		unsigned long serial = 0;
		if (sscanf(e->detail, "serial %lu", &serial) == 1 && serial <= UINT32_MAX)
			p->serial = (uint32_t)serial;
		snprintf(p->result, sizeof(p->result), "%s", e->result);
		snprintf(p->detail, sizeof(p->detail), "%s", e->detail);
		z->npubs = n + 1;
	}
}

/*
 * A key step of a DS record: the past spans of the DS at the parent, for
 * which the store keeps no times (only since when the current state holds).
 */
static void audit_ds(rs_status_t *st, const rs_audit_entry_t *e)
{
	const char *s = strstr(e->detail, ": DS ");
	if (strcmp(e->action, "key-step") != 0 || s == NULL)
		return;
	s += 5;
	bool in = strncmp(s, "rumoured", 8) == 0 || strncmp(s, "omnipresent", 11) == 0;
	bool out = strncmp(s, "unretentive", 11) == 0 || strncmp(s, "hidden", 6) == 0;
	for (size_t i = 0; i < st->nzones; i++) {
		zview_t *z = &st->zones[i];
		if (!rs_audit_entry_zone_is(e, z->rec.name))
			continue;
		for (size_t k = 0; k < z->nrows; k++) {
			krow_t *r = &z->rows[k];
			if (!r->exists || r->tag != e->tag)
				continue;
			if (in && r->ds_logged == 0) {
				r->ds_logged = e->time;
			} else if (out && r->ds_logged != 0) {
				add_span(r, SPAN_DS, r->ds_logged, e->time);
				r->ds_logged = 0;
			}
		}
	}
}

/*
 * The end of the log: its last AUDIT_TAIL octets from the start of a line.
 * A page made at every request must not read years of entries; the last
 * alarms and publications are at the end.
 */
#define AUDIT_TAIL ((size_t)8 << 20)

static int read_tail(const char *path, rs_buf_t *out)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -errno;
	int ret = RS_EOK;
	if (fseeko(f, 0, SEEK_END) != 0)
		ret = RS_EIO;
	off_t size = ret == RS_EOK ? ftello(f) : 0;
	off_t from = size > (off_t)AUDIT_TAIL ? size - (off_t)AUDIT_TAIL : 0;
	if (ret == RS_EOK && (fseeko(f, from, SEEK_SET) != 0 || rs_buf_reserve(out, (size_t)(size - from) + 1) != RS_EOK))
		ret = RS_EIO;
	size_t got = ret == RS_EOK ? fread(out->data, 1, (size_t)(size - from), f) : 0;
	fclose(f);
	if (ret != RS_EOK)
		return ret;
	out->len = got;
	if (from > 0) {
		/* Cut into a line: it starts after the next newline. */
		uint8_t *nl = memchr(out->data, '\n', out->len);
		size_t skip = nl != NULL ? (size_t)(nl - out->data) + 1 : out->len;
		memmove(out->data, out->data + skip, out->len - skip);
		out->len -= skip;
	}
	return RS_EOK;
}

static int read_audit(rs_status_t *st, const char *only, size_t max)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/audit.log", st->dir);
	rs_buf_t text;
	rs_buf_init(&text, AUDIT_TAIL + 1);
	if (read_tail(path, &text) != RS_EOK) {
		rs_buf_clear(&text);
		return RS_EOK; /* no log yet: no alarms to show, and the page says it could not read one */
	}
	st->audit_read = true;
	/* max 0: no alarms, the publications and DS spans all the same. */
	size_t ring = max > 0 ? max : 1;
	if ((st->alarms = calloc(ring, sizeof(*st->alarms))) == NULL) {
		rs_buf_clear(&text);
		return RS_ENOMEM;
	}
	/* A ring of the last max, read oldest first. */
	size_t n = 0, head = 0;
	const char *p = (const char *)text.data, *end = p + text.len;
	rs_audit_entry_t e;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		bool entry = rs_audit_line_entry(p, len, &e) == RS_EOK;
		if (entry && strcmp(e.action, "sign") == 0)
			audit_pub(st, &e);
		if (entry)
			audit_ds(st, &e);
		if (max > 0 && entry && is_alarm(&e) &&
		    (only == NULL || e.zone[0] == '\0' || strcmp(e.zone, "-") == 0 || rs_audit_entry_zone_is(&e, only))) {
			st->alarms[(head + n) % max] = e;
			if (n < max)
				n++;
			else
				head = (head + 1) % max;
		}
		p += len + 1;
	}
	/* A DS in the zone now since a later state (omnipresent after rumoured): its span from the first. */
	for (size_t i = 0; i < st->nzones; i++)
		for (size_t k = 0; k < st->zones[i].nrows; k++) {
			krow_t *r = &st->zones[i].rows[k];
			for (size_t j = 0; j < r->nspans && r->ds_logged != 0; j++)
				if (r->spans[j].kind == SPAN_DS && r->spans[j].to == OPEN_END && r->spans[j].from > r->ds_logged)
					r->spans[j].from = r->ds_logged;
		}
	/* Newest first. */
	rs_audit_entry_t *sorted = calloc(ring, sizeof(*sorted));
	if (sorted != NULL) {
		for (size_t i = 0; i < n; i++)
			sorted[i] = st->alarms[(head + n - 1 - i) % max];
		free(st->alarms);
		st->alarms = sorted;
	}
	st->nalarms = n;
	rs_buf_clear(&text);
	return sorted != NULL ? RS_EOK : RS_ENOMEM;
}

/* ---- the whole ---- */

static int collect_zone(rs_store_t *store, zview_t *z, int64_t now, rs_diag_t *diag)
{
	rs_diag_t why;
	if (rs_policy_lookup(store, z->rec.policy, &z->policy, NULL, &why) == RS_EOK)
		z->policy_ok = true;
	else
		snprintf(z->policy_error, sizeof(z->policy_error), "%s", why.text);
	rs_store_publications(store, z->rec.name, ZONE_PUBS, store_pub, z);
	failed_pub(z);
	rs_store_secondaries(store, z->rec.name, sec_conf, z);
	return zone_keys(store, z, now, diag);
}

int rs_status_collect(rs_store_t *store, const char *zone, int64_t now, size_t max_alarms, rs_status_t **out,
		      rs_diag_t *diag)
{
	rs_status_t *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	st->now = now;
	snprintf(st->dir, sizeof(st->dir), "%s", rs_store_dir(store));
	int ret = rs_store_read_begin(store, diag);
	if (ret != RS_EOK) {
		free(st);
		return ret;
	}
	rs_zone_rec_t *recs = NULL;
	size_t n = 0;
	if ((ret = rs_store_zone_list(store, &recs, &n)) != RS_EOK)
		rs_diag(diag, ret, "cannot list the zones: %s", rs_strerror(ret));
	/* The zone asked for, as a name: any case, with or without its dot, escaped either way. */
	uint8_t want[RS_NAME_MAX], have[RS_NAME_MAX];
	if (ret == RS_EOK && zone != NULL && rs_dname_from_str(zone, want) != RS_EOK)
		ret = rs_diag(diag, RS_ESYNTAX, "'%s' is not a domain name", zone);
	size_t found = 0;
	st->zones = ret == RS_EOK ? calloc(n + 1, sizeof(*st->zones)) : NULL;
	if (ret == RS_EOK && st->zones == NULL)
		ret = rs_diag(diag, RS_ENOMEM, "out of memory");
	for (size_t i = 0; i < n && ret == RS_EOK; i++) {
		if (zone != NULL && (rs_dname_from_str(recs[i].name, have) != RS_EOK ||
				     rs_dname_len(have, sizeof(have)) != rs_dname_len(want, sizeof(want)) ||
				     memcmp(have, want, rs_dname_len(want, sizeof(want))) != 0))
			continue;
		zview_t *z = &st->zones[st->nzones++];
		z->rec = recs[i];
		ret = collect_zone(store, z, now, diag);
		found++;
	}
	free(recs);
	rs_store_read_end(store);
	if (ret == RS_EOK && zone != NULL && found == 0)
		ret = rs_diag(diag, RS_ENOENT, "zone '%s' is not managed here", zone);
	if (ret == RS_EOK && read_audit(st, zone != NULL ? st->zones[0].rec.name : NULL, max_alarms) != RS_EOK)
		ret = rs_diag(diag, RS_ENOMEM, "out of memory");
	if (ret != RS_EOK) {
		rs_status_free(st);
		return ret;
	}
	*out = st;
	return RS_EOK;
}

void rs_status_free(rs_status_t *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->nzones; i++)
		free(st->zones[i].rows);
	free(st->zones);
	free(st->alarms);
	free(st);
}

int rs_status_set_live(rs_status_t *st, const char *zone, const rs_status_live_t *live)
{
	for (size_t i = 0; i < st->nzones; i++)
		if (strcmp(st->zones[i].rec.name, zone) == 0) {
			st->zones[i].has_live = true;
			st->zones[i].live = *live;
			return RS_EOK;
		}
	return RS_ENOENT;
}

const char *rs_status_zone_name(const rs_status_t *st, size_t i)
{
	return i < st->nzones ? st->zones[i].rec.name : NULL;
}
