/* status: the page's alarms from the audit log (monitor-alarm entries and failures), escaping, the daemon's view. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/audit.h"
#include "regsign/status.h"
#include "tap/tap.h"

static char tmpdir[] = "/tmp/regsign-status-XXXXXX";

static size_t count(const char *text, const char *what)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

static char *page(rs_store_t *s, const char *zone, size_t alarms, const rs_status_live_t *live, int *ret)
{
	rs_status_t *st = NULL;
	rs_diag_t d;
	*ret = rs_status_collect(s, zone, 1800000000, alarms, &st, &d);
	if (*ret != RS_EOK)
		return NULL;
	if (live != NULL)
		rs_status_set_live(st, rs_status_zone_name(st, 0), live);
	rs_buf_t b;
	rs_buf_init(&b, 1 << 24);
	*ret = rs_status_html(st, "test", &b);
	rs_status_free(st);
	rs_buf_printf(&b, "%s", "");
	return (char *)b.data;
}

static void audit(rs_store_t *s, int64_t t, const char *action, const char *zone, const char *result,
		  const char *detail)
{
	rs_diag_t d;
	rs_audit_event_t e = { t, "tester", action, zone, 0, result, detail };
	ok(rs_store_begin(s, &d) == RS_EOK && rs_audit_record(s, &e, &d) == RS_EOK && rs_store_commit(s, &d) == RS_EOK &&
		   rs_audit_flush(s, NULL, &d) == RS_EOK,
	   "audit %s %s", action, result);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		abort();
	char state[300];
	snprintf(state, sizeof(state), "%s/state", tmpdir);
	rs_store_t *s = NULL;
	rs_diag_t d;
	if (rs_store_open(state, RS_STORE_CREATE, &s, &d) != RS_EOK) {
		ok(0, "open: %s", d.text);
		return done_testing();
	}
	rs_zone_rec_t z = { .name = "we\\\"i\\<r\\>d\\&.", .policy = "default", .soa_ttl = 3600, .soa_minimum = 600,
			    .added = 1790000000, .next_event = INT64_MAX };
	ok(rs_store_begin(s, &d) == RS_EOK && rs_store_zone_add(s, &z, &d) == RS_EOK && rs_store_commit(s, &d) == RS_EOK,
	   "a zone whose name needs escaping");
	audit(s, 1799990000, "sign", z.name, "ok", "serial 7, 12 signatures");
	audit(s, 1799990100, "monitor-alarm", z.name, "critical", "server=127.0.0.1 check=expiry <b>expired</b> & gone");
	audit(s, 1799990200, "sign", z.name, "failed", "input: bad record");
	audit(s, 1799990300, "monitor-alarm", z.name, "warning", "server=::1 check=serial drift 3");
	audit(s, 1799990400, "key-generate", "other.", "failed", "not this zone");

	int ret;
	char *html = page(s, NULL, 10, NULL, &ret);
	is_int(ret, RS_EOK, "the page of every zone");
	if (html == NULL)
		return done_testing();
	if (getenv("STATUS_DUMP") != NULL)
		puts(html);
	ok(strstr(html, "<h2>we\\&quot;i\\&lt;r\\&gt;d\\&amp;.</h2>") != NULL, "the zone name is escaped");
	ok(strstr(html, "<b>") == NULL && strstr(html, "&lt;b&gt;expired&lt;/b&gt; &amp; gone") != NULL,
	   "an alarm's detail is escaped");
	is_int(count(html, "<tr class=\"alarm\">"), 4, "alarms: both monitor-alarms and both failures, not the ok sign");
	const char *warn = strstr(html, "check=serial drift"), *crit = strstr(html, "check=expiry");
	ok(warn != NULL && crit != NULL && warn < crit, "newest first");
	ok(strstr(html, "<td class=\"warn\">warning</td>") != NULL && strstr(html, "<td class=\"bad\">critical</td>") != NULL,
	   "warning and critical are marked apart");
	ok(strstr(html, "<td>7</td><td class=\"ok\">ok</td>") != NULL &&
		   strstr(html, "<td>-</td><td class=\"bad\">failed</td><td class=\"wrap\">input: bad record</td>") != NULL,
	   "last publications from the audit log's sign entries: serial and result, the failure too");
	ok(strstr(html, "<g class=\"krow\" data-key=\"new1\">") != NULL, "a zone without keys yet: its planned keys are drawn");
	ok(strstr(html, "<script") == NULL && strstr(html, "src=") == NULL && strstr(html, "href=") == NULL,
	   "no script, no external resource");
	ok(strstr(html, "frozen</th><td>not known (no daemon)") != NULL, "without the daemon: frozen is not known");
	free(html);

	html = page(s, "other.", 10, NULL, &ret);
	is_int(ret, RS_ENOENT, "a zone not managed: RS_ENOENT");
	html = page(s, "WE\\034i\\060r\\062d\\038", 2, NULL, &ret);
	is_int(ret, RS_EOK, "the zone by its name in another spelling");
	if (html != NULL) {
		is_int(count(html, "<tr class=\"alarm\">"), 2, "the last N alarms only, of that zone");
		if (getenv("STATUS_DUMP") != NULL)
			puts(html);
		ok(strstr(html, "not this zone") == NULL, "another zone's failure is not shown for this one");
		free(html);
	}

	rs_status_live_t live = { .serial = 9, .failing = true, .frozen = true, .nsec = 2 };
	snprintf(live.last_error, sizeof(live.last_error), "verify: <bogus>");
	snprintf(live.sec[0], sizeof(live.sec[0]), "192.0.2.1@53");
	snprintf(live.sec[1], sizeof(live.sec[1]), "192.0.2.2@53");
	live.sec_serial[0] = 9;
	html = page(s, NULL, 10, &live, &ret);
	is_int(ret, RS_EOK, "with the daemon's view");
	if (html != NULL) {
		ok(strstr(html, "<td>9 (served)</td>") != NULL, "the served serial");
		ok(strstr(html, "yes: verify: &lt;bogus&gt;") != NULL, "failing, with why");
		ok(strstr(html, "frozen</th><td>yes") != NULL, "frozen");
		ok(strstr(html, "<td>192.0.2.1@53</td><td class=\"ok\">9</td>") != NULL &&
			   strstr(html, "<td>192.0.2.2@53</td><td>not heard yet</td>") != NULL,
		   "the secondaries' serials");
		free(html);
	}
	rs_store_close(s);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		abort();
	return done_testing();
}
