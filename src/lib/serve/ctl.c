/*
 * The control socket (in the style of knotc and rndc): one command line in,
 * "ok" or "error" then the answer out. Commands that change something are
 * audited with the caller's user name (SO_PEERCRED).
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "regsign/policy.h"
#include "internal.h"

static void format_time(int64_t t, char out[32])
{
	if (t == 0)
		snprintf(out, 32, "never");
	else if (t == INT64_MAX)
		snprintf(out, 32, "none (waits for the operator)");
	else
		rs_time_format(t, out);
}

static void zone_line(const szone_t *z, rs_buf_t *out)
{
	char next[32];
	format_time(z->next_event, next);
	const char *state = z->frozen ? "frozen" : z->busy ? "signing" : z->last_failure ? "failing" : "ok";
	if (z->version == NULL)
		rs_buf_printf(out, "%s serial - (nothing served yet) next-event %s state %s\n", z->name, next, state);
	else
		rs_buf_printf(out, "%s serial %u next-event %s state %s\n", z->name, z->serial, next, state);
}

static void zone_detail(const szone_t *z, rs_buf_t *out)
{
	char t[32];
	rs_buf_printf(out, "zone: %s\n", z->name);
	if (z->version != NULL)
		rs_buf_printf(out, "serial: %u\n", z->serial);
	else
		rs_buf_printf(out, "serial: none served\n");
	format_time(z->last_publish, t);
	rs_buf_printf(out, "last-publish: %s\n", t);
	format_time(z->next_event, t);
	rs_buf_printf(out, "next-key-event: %s\n", t);
	format_time(z->next_run == INT64_MAX ? 0 : z->next_run, t);
	rs_buf_printf(out, "next-publish: %s\n", z->frozen ? "frozen" : t);
	if (z->expiration != 0) {
		format_time(z->expiration, t);
		rs_buf_printf(out, "signatures-expire: %s\n", t);
	}
	rs_buf_printf(out, "output: %s\n", z->output);
	rs_buf_printf(out, "state: %s\n", z->frozen ? "frozen" : z->busy ? "signing" : z->last_failure ? "failing" : "ok");
	if (z->last_failure != 0) {
		format_time(z->last_failure, t);
		rs_buf_printf(out, "last-failure: %s %s\n", t, z->last_error);
	}
	rs_buf_printf(out, "publications: %llu\nfailures: %llu\n", (unsigned long long)z->publications,
		      (unsigned long long)z->failures);
	uint32_t first, last;
	size_t diffs = 0;
	uint64_t bytes = 0;
	if (z->journal != NULL && rs_journal_range(z->journal, &first, &last)) {
		rs_journal_usage(z->journal, &diffs, &bytes);
		rs_buf_printf(out, "ixfr-history: %u..%u (%zu diffs, %llu octets)\n", first, last, diffs,
			      (unsigned long long)bytes);
	} else {
		rs_buf_printf(out, "ixfr-history: empty\n");
	}
	for (size_t i = 0; i < z->nsec; i++) {
		rs_buf_printf(out, "secondary: %s%s", z->sec_text[i], z->sec[i].key != NULL ? " (TSIG)" : "");
		if (z->sec_serial[i] != 0)
			rs_buf_printf(out, " has %u", z->sec_serial[i]);
		rs_buf_printf(out, "%s\n", z->notify_done[i] ? "" : " (NOTIFY pending)");
	}
}

static int parse_role(const char *text)
{
	if (strcasecmp(text, "ksk") == 0)
		return RS_ROLE_KSK;
	if (strcasecmp(text, "zsk") == 0)
		return RS_ROLE_ZSK;
	if (strcasecmp(text, "csk") == 0)
		return RS_ROLE_CSK;
	return 0;
}

static const char usage[] =
	"commands: status | zone-status ZONE | sign ZONE | reload [ZONE] | rollover ZONE ksk|zsk|csk |\n"
	"          ds-seen ZONE TAG | ds-gone ZONE TAG | freeze ZONE | thaw ZONE | stop\n";

/* One command; words split on blanks. Read-only commands are not audited. */
static int answer(serve_t *sv, char **w, int n, rs_buf_t *out, bool *audit)
{
	int64_t now = serve_now(sv);
	const char *cmd = n > 0 ? w[0] : "";
	*audit = false;
	if (strcmp(cmd, "status") == 0 && n == 1) {
		pthread_mutex_lock(&sv->lock);
		rs_buf_printf(out, "regsign serve: %zu zones, up since ", sv->nzones);
		char t[32];
		rs_time_format(sv->started, t);
		rs_buf_printf(out, "%s\n", t);
		for (size_t i = 0; i < sv->nzones; i++)
			zone_line(sv->zones[i], out);
		pthread_mutex_unlock(&sv->lock);
		return RS_EOK;
	}
	if (strcmp(cmd, "zone-status") == 0 && n == 2) {
		pthread_mutex_lock(&sv->lock);
		szone_t *z = serve_zone(sv, w[1]);
		if (z != NULL)
			zone_detail(z, out);
		pthread_mutex_unlock(&sv->lock);
		if (z == NULL)
			rs_buf_printf(out, "%s: not a managed zone\n", w[1]);
		return z != NULL ? RS_EOK : RS_ENOENT;
	}
	if (strcmp(cmd, "stop") == 0 && n == 1) {
		*audit = true;
		atomic_store(&sv->stopping, true);
		serve_wake(sv);
		rs_buf_printf(out, "stopping after the current step\n");
		return RS_EOK;
	}
	if (strcmp(cmd, "reload") == 0 && n <= 2) {
		*audit = true;
		rs_diag_t diag;
		/* The zone list and secondaries now; the inputs at the zone's next publication, which is now. */
		int ret = serve_zones_sync(sv, &diag);
		if (ret != RS_EOK) {
			rs_buf_printf(out, "%s\n", diag.text);
			return ret;
		}
		if (n == 1) {
			pthread_mutex_lock(&sv->lock);
			for (size_t i = 0; i < sv->nzones; i++)
				sv->zones[i]->next_run = now;
			pthread_mutex_unlock(&sv->lock);
			serve_wake(sv);
			rs_buf_printf(out, "zones reloaded\n");
			return RS_EOK;
		}
	}
	if ((strcmp(cmd, "freeze") == 0 || strcmp(cmd, "thaw") == 0) && n == 2) {
		*audit = true;
		pthread_mutex_lock(&sv->lock);
		szone_t *z = serve_zone(sv, w[1]);
		if (z != NULL) {
			z->frozen = strcmp(cmd, "freeze") == 0;
			if (!z->frozen)
				z->next_run = now;
		}
		pthread_mutex_unlock(&sv->lock);
		serve_wake(sv);
		if (z == NULL) {
			rs_buf_printf(out, "%s: not a managed zone\n", w[1]);
			return RS_ENOENT;
		}
		rs_buf_printf(out, "%s: %s\n", w[1], strcmp(cmd, "freeze") == 0
			      ? "frozen: no publication until thaw (the last version keeps serving)"
			      : "thawed: published now, then on schedule");
		return RS_EOK;
	}
	enum job job = JOB_NONE;
	int arg = 0;
	if (strcmp(cmd, "sign") == 0 && n == 2) {
		job = JOB_RESIGN;
	} else if (strcmp(cmd, "reload") == 0 && n == 2) {
		job = JOB_PUBLISH;
	} else if (strcmp(cmd, "rollover") == 0 && n == 3) {
		if ((arg = parse_role(w[2])) == 0) {
			rs_buf_printf(out, "rollover: role '%s' is not ksk, zsk or csk\n", w[2]);
			return RS_EINVAL;
		}
		job = JOB_ROLLOVER;
	} else if ((strcmp(cmd, "ds-seen") == 0 || strcmp(cmd, "ds-gone") == 0) && n == 3) {
		char *end;
		long tag = strtol(w[2], &end, 10);
		if (*end != '\0' || tag < 0 || tag > 65535) {
			rs_buf_printf(out, "%s: key tag '%s' is not a number up to 65535\n", cmd, w[2]);
			return RS_EINVAL;
		}
		arg = (int)tag;
		job = strcmp(cmd, "ds-seen") == 0 ? JOB_DS_SEEN : JOB_DS_GONE;
	}
	if (job == JOB_NONE) {
		rs_buf_printf(out, "unknown command or wrong arguments: '%s'\n%s", cmd, usage);
		return RS_EINVAL;
	}
	*audit = true;
	char text[512];
	int ret = serve_job(sv, w[1], job, arg, text, sizeof(text));
	rs_buf_printf(out, "%s\n", text);
	return ret;
}

int serve_ctl_answer(serve_t *sv, const char *line, const char *who, rs_buf_t *out)
{
	char copy[1024], *w[8];
	snprintf(copy, sizeof(copy), "%s", line);
	int n = 0;
	for (char *save, *t = strtok_r(copy, " \t", &save); t != NULL && n < 8; t = strtok_r(NULL, " \t", &save))
		w[n++] = t;
	bool audit;
	int ret = answer(sv, w, n, out, &audit);
	if (audit) {
		rs_store_t *store;
		rs_diag_t diag;
		if (rs_store_open(sv->o.state_dir, 0, &store, &diag) == RS_EOK) {
			char action[64];
			snprintf(action, sizeof(action), "ctl-%s", w[0]);
			serve_audit(store, serve_now(sv), who, action, n > 1 ? w[1] : NULL, ret == RS_EOK ? "ok" : "failed",
				    line, &sv->o.log);
			rs_store_close(store);
		} else {
			rs_log(&sv->o.log, RS_LOG_ERR, NULL, "ALARM: audit of '%s': %s", line, diag.text);
		}
	}
	return ret;
}

/* The caller's user name, from the socket's peer credentials. */
void serve_ctl_peer(int fd, char *out, size_t max)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	snprintf(out, max, "unknown");
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return;
	struct passwd pw, *res = NULL;
	char buf[1024];
	if (getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
		snprintf(out, max, "%s", pw.pw_name);
	else
		snprintf(out, max, "uid %u", (unsigned)cred.uid);
}

int rs_ctl_call(const char *path, const char *command, rs_buf_t *reply, rs_diag_t *diag)
{
	struct sockaddr_un sa;
	socklen_t salen;
	int ret = rs_unix_addr(path, &sa, &salen, diag);
	if (ret != RS_EOK)
		return ret;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return rs_diag(diag, -errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, salen) != 0) {
		int e = errno;
		close(fd);
		return rs_diag(diag, -e, "no daemon answers at %s: %s", path, strerror(e));
	}
	char line[1100];
	int len = snprintf(line, sizeof(line), "%s\n", command);
	if (len >= (int)sizeof(line) || write(fd, line, (size_t)len) != len) {
		close(fd);
		return rs_diag(diag, RS_EIO, "cannot send the command to %s", path);
	}
	shutdown(fd, SHUT_WR);
	char buf[4096];
	ssize_t n;
	/* A signing run may take minutes: the answer comes when it is done. */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (rs_buf_append(reply, buf, (size_t)n) != RS_EOK)
			break;
	close(fd);
	if (reply->len < 3)
		return rs_diag(diag, RS_EIO, "the daemon at %s closed without an answer", path);
	bool ok = memcmp(reply->data, "ok\n", 3) == 0;
	size_t skip = ok ? 3 : memchr(reply->data, '\n', reply->len) != NULL
		      ? (size_t)((uint8_t *)memchr(reply->data, '\n', reply->len) - reply->data) + 1 : reply->len;
	memmove(reply->data, reply->data + skip, reply->len - skip);
	reply->len -= skip;
	rs_buf_append(reply, "", 1);
	reply->len--;
	return ok ? RS_EOK : RS_EINVAL;
}
