/*
 * Unit tests of audit: the chain of entries, and that verification names the
 * first entry that was changed, removed, inserted or moved, or cut off the end.
 */
#include <stdlib.h>
#include <string.h>

#include "regsign/audit.h"
#include "tap/tap.h"

#define N 6

static char lines[N][1024];
static char hashes[N][RS_AUDIT_HASH_HEX];

/* Entries from..N-1, by operator, chained after the entry before from. */
static void chain(int from, const char *operator)
{
	const char *prev = from == 0 ? rs_audit_genesis : hashes[from - 1];
	for (int i = from; i < N; i++) {
		char detail[64];
		snprintf(detail, sizeof(detail), "step %d with \"quotes\" and \\ and\nnewline", i + 1);
		rs_audit_event_t e = { 1795435980 + i, operator, "key-step", "cloud.", (uint16_t)(100 + i), "ok", detail };
		rs_buf_t b;
		rs_buf_init(&b, 4096);
		rs_audit_line(&e, (uint64_t)i + 1, prev, &b, hashes[i]);
		snprintf(lines[i], sizeof(lines[i]), "%.*s", (int)b.len, (char *)b.data);
		rs_buf_clear(&b);
		prev = hashes[i];
	}
}

static void build(void)
{
	chain(0, "alice");
}

/* Verify the log made of the entries in order[] (-1 ends), with the database's head at head. */
static int check(const int *order, uint64_t head, const char *head_hash, rs_diag_t *d)
{
	char text[N * 2 * 1024] = "";
	for (int i = 0; order[i] >= 0; i++)
		strcat(text, lines[order[i]]);
	uint64_t n;
	return rs_audit_verify(text, strlen(text), "audit.log", head, head_hash, &n, d);
}

int main(void)
{
	build();
	rs_diag_t d;
	ok(strchr(lines[0], '\n') == lines[0] + strlen(lines[0]) - 1, "an entry is one line, whatever its detail");
	ok(strstr(lines[0], "detail=\"step 1 with \\\"quotes\\\" and \\\\ and newline\"") != NULL,
	   "quotes and backslashes are escaped, control characters blanked");
	int all[] = { 0, 1, 2, 3, 4, 5, -1 };
	is_int(check(all, N, hashes[N - 1], &d), RS_EOK, "an intact log verifies");
	int removed[] = { 0, 1, 3, 4, 5, -1 };
	is_int(check(removed, N, hashes[N - 1], &d), RS_EINVAL, "a removed entry is caught");
	is_str(d.text, "audit.log:3: entry 4: out of sequence (expected entry 3): entries were removed, inserted or "
		       "moved", "... naming the entry after the gap");
	int inserted[] = { 0, 1, 1, 2, 3, 4, 5, -1 };
	is_int(check(inserted, N, hashes[N - 1], &d), RS_EINVAL, "an inserted (copied) entry is caught");
	ok(strstr(d.text, "audit.log:3: entry 2:") != NULL, "... naming it: %s", d.text);
	int moved[] = { 0, 2, 1, 3, 4, 5, -1 };
	is_int(check(moved, N, hashes[N - 1], &d), RS_EINVAL, "moved entries are caught");
	ok(strstr(d.text, "audit.log:2: entry 3:") != NULL, "... naming the first out of place: %s", d.text);
	int cut[] = { 0, 1, 2, 3, -1 };
	is_int(check(cut, N, hashes[N - 1], &d), RS_EINVAL, "entries cut off the end are caught by the head");
	is_str(d.text, "audit.log: entry 5: missing: the log ends at entry 4 but the state database records 6",
	       "... naming the first missing entry");
	is_int(check(all, 0, "", &d), RS_EOK, "without a recorded head the chain alone is checked");

	/* An edited entry: one character of its detail. */
	char saved[1024];
	strcpy(saved, lines[2]);
	*strstr(lines[2], "step 3") = 'S';
	is_int(check(all, N, hashes[N - 1], &d), RS_EINVAL, "an edited entry is caught");
	is_str(d.text, "audit.log:3: entry 3: changed (its hash does not match its content)", "... naming it");
	strcpy(lines[2], saved);
	/* Rewritten from entry 3 on with new hashes: the chain holds, the head does not. */
	char head[RS_AUDIT_HASH_HEX];
	strcpy(head, hashes[N - 1]);
	chain(2, "mallory");
	is_int(check(all, 0, "", &d), RS_EOK, "a log rewritten from entry 3 on keeps a consistent chain");
	is_int(check(all, N, head, &d), RS_EINVAL, "... but differs from the database's head");
	ok(strstr(d.text, "entry 6: differs from the one the state database records") != NULL, "... %s", d.text);
	build();
	int bad[] = { 0, -1 };
	lines[0][3] = 'X';
	is_int(check(bad, 0, "", &d), RS_EINVAL, "a line that is not an entry is refused");
	is_str(d.text, "audit.log:1: entry 1: not an audit entry", "... at its line");
	build();

	/* RFC 5424 form. */
	rs_buf_t m;
	rs_buf_init(&m, 8192);
	is_int(rs_audit_syslog(lines[1], strlen(lines[1]), "signer1", 4242, &m), RS_EOK, "syslog form");
	rs_buf_append(&m, "", 1);
	char want[256];
	snprintf(want, sizeof(want), "<85>1 2026-11-23T12:13:01Z signer1 regsign 4242 key-step [regsign@32473 seq=\"2\" "
		 "zone=\"cloud.\" key=\"101\" result=\"ok\" hash=\"%s\"] seq=2 ", hashes[1]);
	ok(strncmp((char *)m.data, want, strlen(want)) == 0, "PRI authpriv.notice, version 1, time, host, app, "
	   "procid, msgid, structured data, then the entry");
	rs_buf_clear(&m);
	return done_testing();
}
