/*
 * The status page as HTML: no script and no external resource, so it can
 * be served with a Content-Security-Policy that forbids both; fluid, with
 * each table scrolling inside its own box, so a phone never scrolls the page
 * sideways.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "regsign/crypto.h"

#include "internal.h"

void status_time(int64_t t, char out[24])
{
	if (t == 0 || t == INT64_MAX) {
		snprintf(out, 24, "-");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 24, "%Y-%m-%d %H:%M", &tm);
}

static void cell(rs_buf_t *out, const char *text)
{
	rs_buf_printf(out, "<td>");
	rs_buf_markup(out, text);
	rs_buf_printf(out, "</td>");
}

static void cell_time(rs_buf_t *out, int64_t t)
{
	char ts[24];
	status_time(t, ts);
	cell(out, ts);
}

static const char STYLE[] =
	"*{box-sizing:border-box}"
	"body{margin:0 auto;max-width:72rem;padding:.5rem;font:15px/1.4 system-ui,sans-serif;color:#111;"
	"background:#fff;overflow-wrap:anywhere}"
	"h1{font-size:1.3rem}h2{font-size:1.15rem;border-bottom:1px solid #ccc;margin-top:1.5rem}"
	"h3{font-size:1rem}"
	".scroll{max-width:100%;overflow-x:auto}"
	"table{border-collapse:collapse;min-width:100%}"
	"th,td{padding:.2rem .4rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top;"
	"white-space:nowrap}"
	"td.wrap{white-space:normal;min-width:12rem}"
	".bad{color:#a00;font-weight:bold}.warn{color:#a60;font-weight:bold}.ok{color:#060}"
	"svg{width:100%;height:auto;display:block}.timeline svg{min-width:560px}"
	"svg text{font:11px sans-serif}"
	".legend span{display:inline-block;margin-right:1rem}"
	".sw{display:inline-block;width:1rem;height:.7rem;margin-right:.3rem;vertical-align:middle}"
	"footer{color:#555;font-size:.85rem;margin-top:2rem}";

static const char *result_class(const char *result)
{
	if (strcmp(result, "ok") == 0)
		return "ok";
	if (strcmp(result, "warning") == 0)
		return "warn";
	return "bad";
}

static void zone_head(const rs_status_t *st, const zview_t *z, size_t index, rs_buf_t *out)
{
	(void)st;
	rs_buf_printf(out, "<section class=\"zone\" id=\"zone-%zu\"><h2>", index);
	rs_buf_markup(out, z->rec.name);
	rs_buf_printf(out, "</h2><div class=\"scroll\"><table class=\"summary\"><tbody>");
	rs_buf_printf(out, "<tr><th>policy</th>");
	cell(out, z->rec.policy);
	rs_buf_printf(out, "</tr>");
	if (!z->policy_ok || z->policy_error[0] != '\0') {
		rs_buf_printf(out, "<tr><th>policy problem</th><td class=\"wrap bad\">");
		rs_buf_markup(out, z->policy_error);
		rs_buf_printf(out, "</td></tr>");
	}
	uint32_t serial = z->has_live && z->live.serial != 0 ? z->live.serial : z->rec.serial;
	rs_buf_printf(out, "<tr><th>serial</th><td>%u%s</td></tr>", serial,
		      z->has_live && z->live.serial != 0 ? " (served)" : "");
	int64_t last = z->has_live && z->live.last_publish > z->rec.last_sign ? z->live.last_publish : z->rec.last_sign;
	rs_buf_printf(out, "<tr><th>last publication</th>");
	cell_time(out, last);
	rs_buf_printf(out, "</tr>");
	bool failing = z->has_live ? z->live.failing : z->rec.last_failure != 0;
	const char *why = z->has_live && z->live.last_error[0] != '\0' ? z->live.last_error : z->rec.last_error;
	rs_buf_printf(out, "<tr><th>failing</th><td class=\"wrap %s\">%s", failing ? "bad" : "ok",
		      failing ? "yes: " : "no");
	if (failing)
		rs_buf_markup(out, why);
	rs_buf_printf(out, "</td></tr>");
	rs_buf_printf(out, "<tr><th>frozen</th><td>%s</td></tr>",
		      z->has_live ? (z->live.frozen ? "yes" : "no") : "not known (no daemon)");
	rs_buf_printf(out, "<tr><th>next key event</th>");
	cell_time(out, z->rec.next_event);
	rs_buf_printf(out, "</tr><tr><th>max-dnskeys</th><td>");
	if (z->policy_ok && z->policy.max_dnskeys > 0)
		rs_buf_printf(out, "%u", z->policy.max_dnskeys);
	else
		rs_buf_printf(out, "no limit");
	rs_buf_printf(out, "</td></tr></tbody></table></div>");
}

static void key_name(const krow_t *r, char out[16])
{
	if (r->exists)
		snprintf(out, 16, "%u", r->tag);
	else
		snprintf(out, 16, "%s", r->planned);
}

static void keys_table(const zview_t *z, size_t index, rs_buf_t *out)
{
	rs_buf_printf(out, "<h3>Keys</h3><div class=\"scroll\"><table class=\"keys\"><thead><tr><th>tag</th>"
			   "<th>role</th><th>algorithm</th><th>goal</th><th>DNSKEY</th><th>KRRSIG</th><th>ZRRSIG</th>"
			   "<th>DS</th><th>next event</th><th>when</th></tr></thead><tbody>");
	for (size_t i = 0; i < z->nrows; i++) {
		const krow_t *r = &z->rows[i];
		if (!r->exists)
			continue;
		char name[16];
		key_name(r, name);
		rs_buf_printf(out, "<tr class=\"key\" id=\"key-%zu-%s\">", index, name);
		cell(out, name);
		cell(out, rs_role_name(r->role));
		cell(out, rs_alg_name(r->alg));
		cell(out, rs_goal_name(r->state.goal));
		for (int rec = 0; rec < RS_REC_COUNT; rec++) {
			char s[48];
			snprintf(s, sizeof(s), "%s%s", rs_recstate_name(r->state.state[rec]),
				 r->state.pending & (1u << rec) ? "*" : "");
			if (rec == RS_REC_DS && r->state.ds == RS_DS_SUBMIT)
				snprintf(s, sizeof(s), "%s, submitted", rs_recstate_name(r->state.state[rec]));
			else if (rec == RS_REC_DS && r->state.ds == RS_DS_WITHDRAW)
				snprintf(s, sizeof(s), "%s, to remove", rs_recstate_name(r->state.state[rec]));
			cell(out, s);
		}
		rs_buf_printf(out, "<td class=\"wrap\">");
		rs_buf_markup(out, r->next_time != 0 ? r->next_what : "none in the next 200 days");
		rs_buf_printf(out, "</td>");
		cell_time(out, r->next_time);
		rs_buf_printf(out, "</tr>");
	}
	rs_buf_printf(out, "</tbody></table></div><p>* the change waits for the next publication. Next events assume "
			   "the parent acts on each DS request at once.</p>");
}

static void pubs_table(const zview_t *z, rs_buf_t *out)
{
	rs_buf_printf(out, "<h3>Last publications</h3>");
	if (z->npubs == 0) {
		rs_buf_printf(out, "<p>none yet</p>");
		return;
	}
	rs_buf_printf(out, "<div class=\"scroll\"><table class=\"publications\"><thead><tr><th>time</th>"
			   "<th>serial</th><th>result</th><th>detail</th></tr></thead><tbody>");
	for (size_t i = 0; i < z->npubs; i++) {
		const pubrow_t *p = &z->pubs[i];
		rs_buf_printf(out, "<tr>");
		cell_time(out, p->time);
		if (p->serial != 0)
			rs_buf_printf(out, "<td>%u</td>", p->serial);
		else
			rs_buf_printf(out, "<td>-</td>");
		rs_buf_printf(out, "<td class=\"%s\">", result_class(p->result));
		rs_buf_markup(out, p->result);
		rs_buf_printf(out, "</td><td class=\"wrap\">");
		rs_buf_markup(out, p->detail);
		rs_buf_printf(out, "</td></tr>");
	}
	rs_buf_printf(out, "</tbody></table></div>");
}

static void secondaries_table(const zview_t *z, rs_buf_t *out)
{
	rs_buf_printf(out, "<h3>Secondaries</h3>");
	size_t n = z->has_live ? z->live.nsec : z->nsec_conf;
	if (n == 0) {
		rs_buf_printf(out, "<p class=\"secondaries\">none configured</p>");
		return;
	}
	rs_buf_printf(out, "<div class=\"scroll\"><table class=\"secondaries\"><thead><tr><th>secondary</th>"
			   "<th>serial held</th></tr></thead><tbody>");
	for (size_t i = 0; i < n; i++) {
		rs_buf_printf(out, "<tr>");
		cell(out, z->has_live ? z->live.sec[i] : z->sec_conf[i]);
		if (!z->has_live)
			rs_buf_printf(out, "<td>not known</td>");
		else if (z->live.sec_serial[i] == 0)
			rs_buf_printf(out, "<td>not heard yet</td>");
		else
			rs_buf_printf(out, "<td class=\"%s\">%u</td>", z->live.sec_serial[i] == z->live.serial ? "ok" : "warn",
				      z->live.sec_serial[i]);
		rs_buf_printf(out, "</tr>");
	}
	rs_buf_printf(out, "</tbody></table></div>");
}

static void alarms_section(const rs_status_t *st, rs_buf_t *out)
{
	rs_buf_printf(out, "<section id=\"alarms\"><h2>Alarms</h2>");
	if (!st->audit_read)
		rs_buf_printf(out, "<p>no audit log could be read</p>");
	else if (st->nalarms == 0)
		rs_buf_printf(out, "<p>none</p>");
	if (st->nalarms == 0) {
		rs_buf_printf(out, "</section>");
		return;
	}
	rs_buf_printf(out, "<p>The last %zu, newest first: monitoring alarms, and entries of the audit log whose "
			   "result was not ok.</p><div class=\"scroll\"><table class=\"alarms\"><thead><tr><th>time</th>"
			   "<th>zone</th><th>action</th><th>result</th><th>detail</th></tr></thead><tbody>",
		      st->nalarms);
	for (size_t i = 0; i < st->nalarms; i++) {
		const rs_audit_entry_t *e = &st->alarms[i];
		rs_buf_printf(out, "<tr class=\"alarm\">");
		cell_time(out, e->time);
		cell(out, e->zone);
		cell(out, e->action);
		rs_buf_printf(out, "<td class=\"%s\">", result_class(e->result));
		rs_buf_markup(out, e->result);
		rs_buf_printf(out, "</td><td class=\"wrap\">");
		rs_buf_markup(out, e->detail);
		rs_buf_printf(out, "</td></tr>");
	}
	rs_buf_printf(out, "</tbody></table></div></section>");
}

int rs_status_html(const rs_status_t *st, const char *source, rs_buf_t *out)
{
	char now[24];
	status_time(st->now, now);
	rs_buf_printf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
			   "<title>regsign status</title><style>%s</style></head><body>\n<h1>regsign status at %s UTC</h1>",
		      STYLE, now);
	if (st->nzones == 0)
		rs_buf_printf(out, "<p>no managed zones</p>");
	for (size_t i = 0; i < st->nzones; i++) {
		const zview_t *z = &st->zones[i];
		zone_head(st, z, i, out);
		keys_table(z, i, out);
		status_timeline(st, z, out);
		pubs_table(z, out);
		secondaries_table(z, out);
		rs_buf_printf(out, "</section>\n");
	}
	alarms_section(st, out);
	rs_buf_printf(out, "<footer>made by ");
	rs_buf_markup(out, source);
	rs_buf_printf(out, " at %s UTC; read only.</footer></body></html>\n", now);
	/* A full buffer drops what does not fit: a page cut short is not a page. */
	return out->len + 256 > out->max ? RS_ELIMIT : RS_EOK;
}
