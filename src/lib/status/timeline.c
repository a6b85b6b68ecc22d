/*
 * The rollover timeline as inline SVG: one row per key over the past 90 and
 * the next 200 days (published, active and retired spans, the DS at the
 * parent), a line at now, and the DNSKEY count over time as a step chart
 * against max-dnskeys. The viewBox is narrow enough that its 12-unit text
 * stays readable where the box scrolls on a phone.
 */
#include <stdio.h>
#include <string.h>

#include "regsign/crypto.h"

#include "internal.h"

#define W 600.0
#define X0 78.0
#define X1 592.0
#define ROW 24.0
#define TOP 22.0
#define CHART 70.0

typedef struct {
	int64_t from, to;
} window_t;

static double xpos(const window_t *w, int64_t t)
{
	if (t < w->from)
		t = w->from;
	if (t > w->to)
		t = w->to;
	return X0 + (X1 - X0) * (double)(t - w->from) / (double)(w->to - w->from);
}

static void span_rect(rs_buf_t *out, const window_t *w, const char *cls, const char *what, int64_t from, int64_t to,
		      double y, double h, const char *key)
{
	if (to <= w->from || from >= w->to)
		return;
	double a = xpos(w, from), b = xpos(w, to);
	char f[24], t[24];
	status_time(from, f);
	status_time(to, t);
	rs_buf_printf(out, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>key %s %s: %s "
			   "to %s</title></rect>",
		      cls, a, y, b - a < 0.5 ? 0.5 : b - a, h, key, what, f, to == OPEN_END ? "beyond" : t);
}

/* Is the row's key in the window at all? */
static bool row_shown(const window_t *w, const krow_t *r)
{
	for (size_t i = 0; i < r->nspans; i++)
		if (r->spans[i].to > w->from && r->spans[i].from < w->to)
			return true;
	return false;
}

static void key_row(rs_buf_t *out, const window_t *w, const krow_t *r, double y)
{
	char name[16];
	if (r->exists)
		snprintf(name, sizeof(name), "%u", r->tag);
	else
		snprintf(name, sizeof(name), "%s", r->planned);
	rs_buf_printf(out, "<g class=\"krow\" data-key=\"%s\"><text x=\"2\" y=\"%.1f\">%s %s</text>", name, y + 11,
		      rs_role_name(r->role), name);
	int64_t last_active = 0;
	for (size_t i = 0; i < r->nspans; i++)
		if (r->spans[i].kind == SPAN_ACTIVE && r->spans[i].to > last_active)
			last_active = r->spans[i].to;
	for (size_t i = 0; i < r->nspans; i++) {
		const span_t *s = &r->spans[i];
		if (s->kind == SPAN_PUBLISHED) {
			span_rect(out, w, "pub", "published", s->from, s->to, y, 13, name);
			/* Retired: still published after it last signed. */
			if (last_active != 0 && last_active != OPEN_END && last_active < s->to && last_active > s->from)
				span_rect(out, w, "ret", "retired", last_active, s->to, y, 13, name);
		}
	}
	for (size_t i = 0; i < r->nspans; i++) {
		const span_t *s = &r->spans[i];
		if (s->kind == SPAN_ACTIVE)
			span_rect(out, w, "act", "active", s->from, s->to, y + 2, 9, name);
		else if (s->kind == SPAN_DS)
			span_rect(out, w, "ds", "DS at the parent", s->from, s->to, y + 15, 4, name);
	}
	rs_buf_printf(out, "</g>");
}

/* The DNSKEY count at t: keys whose published span covers it. */
static unsigned count_at(const zview_t *z, int64_t t)
{
	unsigned n = 0;
	for (size_t i = 0; i < z->nrows; i++)
		for (size_t k = 0; k < z->rows[i].nspans; k++) {
			const span_t *s = &z->rows[i].spans[k];
			n += s->kind == SPAN_PUBLISHED && s->from <= t && t < s->to;
		}
	return n;
}

static void count_chart(rs_buf_t *out, const window_t *w, const zview_t *z, double y)
{
	/* The times the count can change: every published span's ends inside the window. */
	int64_t marks[2 + 64 * ROW_SPANS];
	size_t n = 0;
	marks[n++] = w->from;
	unsigned most = 0, limit = z->policy_ok ? z->policy.max_dnskeys : 0;
	for (size_t i = 0; i < z->nrows; i++)
		for (size_t k = 0; k < z->rows[i].nspans && n + 2 < sizeof(marks) / sizeof(marks[0]); k++) {
			const span_t *s = &z->rows[i].spans[k];
			if (s->kind != SPAN_PUBLISHED)
				continue;
			if (s->from > w->from && s->from < w->to)
				marks[n++] = s->from;
			if (s->to > w->from && s->to < w->to)
				marks[n++] = s->to;
		}
	/* In order (few marks: insertion sort). */
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && marks[k - 1] > marks[k]; k--) {
			int64_t t = marks[k];
			marks[k] = marks[k - 1];
			marks[k - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		unsigned c = count_at(z, marks[i]);
		most = c > most ? c : most;
	}
	unsigned top = (limit > most ? limit : most) + 1;
	double h = CHART - 16, base = y + CHART - 4;
#define YOF(c) (base - h * (double)(c) / (double)top)
	rs_buf_printf(out, "<g class=\"dnskey-chart\"><text x=\"2\" y=\"%.1f\">DNSKEYs</text>", y + 12);
	rs_buf_printf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", X0, base, X1, base);
	rs_buf_printf(out, "<path class=\"dnskey-count\" d=\"M%.1f %.1f", X0, YOF(count_at(z, marks[0])));
	for (size_t i = 1; i < n; i++) {
		double x = xpos(w, marks[i]);
		rs_buf_printf(out, " H%.1f V%.1f", x, YOF(count_at(z, marks[i])));
	}
	rs_buf_printf(out, " H%.1f\"><title>DNSKEY RRset size over time (most: %u)</title></path>", X1, most);
	for (size_t i = 0; i < n; i++) {
		unsigned c = count_at(z, marks[i]);
		if (i == 0 || c != count_at(z, marks[i - 1])) {
			char t[24];
			status_time(marks[i], t);
			rs_buf_printf(out, "<circle class=\"step\" cx=\"%.1f\" cy=\"%.1f\" r=\"2\"><title>%s: %u DNSKEY%s</title>"
					   "</circle>",
				      xpos(w, marks[i]), YOF(c), t, c, c == 1 ? "" : "s");
		}
	}
	if (limit > 0)
		rs_buf_printf(out, "<line class=\"max-dnskeys\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"><title>"
				   "max-dnskeys %u</title></line><text class=\"limit\" x=\"%.1f\" y=\"%.1f\">max %u</text>",
			      X0, YOF(limit), X1, YOF(limit), limit, X1 - 40, YOF(limit) - 3, limit);
	rs_buf_printf(out, "<text x=\"2\" y=\"%.1f\">0-%u</text></g>", base, top);
#undef YOF
}

void status_timeline(const rs_status_t *st, const zview_t *z, rs_buf_t *out)
{
	window_t w = { st->now - (int64_t)RS_STATUS_PAST_DAYS * 86400, st->now + (int64_t)RS_STATUS_NEXT_DAYS * 86400 };
	size_t shown = 0;
	for (size_t i = 0; i < z->nrows; i++)
		shown += row_shown(&w, &z->rows[i]);
	double rows_end = TOP + ROW * (double)shown, height = rows_end + CHART + 6;
	rs_buf_printf(out, "<h3>Timeline: %d days back, %d ahead</h3><div class=\"scroll timeline\">"
			   "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"100%%\" role=\"img\" "
			   "aria-label=\"rollover timeline\"><style>"
			   ".pub{fill:#9ecae1}.act{fill:#08519c}.ret{fill:#fdae6b}.ds{fill:#31a354}"
			   ".now{stroke:#d00;stroke-width:1.5;stroke-dasharray:4 3}.grid{stroke:#ddd}"
			   ".axis{stroke:#888}.dnskey-count{fill:none;stroke:#08519c;stroke-width:2}"
			   ".max-dnskeys{stroke:#d00;stroke-dasharray:6 3}.step{fill:#08519c}"
			   "text{font:12px sans-serif;fill:#222}.limit{fill:#d00}</style>",
		      RS_STATUS_PAST_DAYS, RS_STATUS_NEXT_DAYS, W, height);
	/* Every 30 days from now, both ways. */
	for (int d = -90; d <= 180; d += 30) {
		double x = xpos(&w, st->now + (int64_t)d * 86400);
		rs_buf_printf(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"14\" x2=\"%.1f\" y2=\"%.1f\"/>", x, x, height - 4);
		if (d != 0)
			rs_buf_printf(out, "<text x=\"%.1f\" y=\"11\" text-anchor=\"middle\">%+dd</text>", x, d);
	}
	double y = TOP;
	for (size_t i = 0; i < z->nrows; i++)
		if (row_shown(&w, &z->rows[i])) {
			key_row(out, &w, &z->rows[i], y);
			y += ROW;
		}
	if (shown == 0)
		rs_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\">no key in this window</text>", X0, TOP + 12);
	count_chart(out, &w, z, rows_end);
	char now[24];
	status_time(st->now, now);
	double xn = xpos(&w, st->now);
	rs_buf_printf(out, "<line class=\"now\" x1=\"%.1f\" y1=\"14\" x2=\"%.1f\" y2=\"%.1f\"><title>now: %s UTC</title>"
			   "</line><text x=\"%.1f\" y=\"11\" text-anchor=\"middle\" fill=\"#d00\">now</text></svg></div>",
		      xn, xn, height - 4, now, xn);
	rs_buf_printf(out, "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#9ecae1\"></i>published</span>"
			   "<span><i class=\"sw\" style=\"background:#08519c\"></i>active (signs)</span>"
			   "<span><i class=\"sw\" style=\"background:#fdae6b\"></i>retired, still published</span>"
			   "<span><i class=\"sw\" style=\"background:#31a354\"></i>DS at the parent</span></p>");
}
