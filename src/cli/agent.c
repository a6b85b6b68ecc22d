/*
 * The activation agent: after m key holders combined their shares, it holds
 * the token PIN (and the fact of an admin activation) in locked, never-dumped
 * memory until its deadline, and hands the PIN to regsign processes of the
 * same user that ask on DIR/agent.sock. Nothing it holds touches the disk.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "custody.h"

static int64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Answer one client: only the agent's own user (or root) gets anything. */
static bool serve(int fd, const rs_agent_reply_t *s)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    (cred.uid != geteuid() && cred.uid != 0))
		return true;
	struct timeval tv = { 2, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char req[32];
	ssize_t n = read(fd, req, sizeof(req) - 1);
	if (n <= 0)
		return true;
	req[n] = '\0';
	req[strcspn(req, "\n")] = '\0';
	char out[256];
	int m = 0;
	if (strcmp(req, "pin") == 0)
		m = snprintf(out, sizeof(out), "ok %lld %lld %s\n", (long long)s->until, (long long)s->admin_until,
			     s->pin);
	else if (strcmp(req, "status") == 0 || strcmp(req, "quit") == 0)
		m = snprintf(out, sizeof(out), "ok %lld %lld\n", (long long)s->until, (long long)s->admin_until);
	if (m > 0 && write(fd, out, (size_t)m) < 0)
		m = 0;
	rs_wipe(out, sizeof(out));
	return strcmp(req, "quit") != 0;
}

void cli_agent_run(const char *dir, const rs_agent_reply_t *secret, int ready_fd)
{
	/* No core dump and no ptrace by others of this process. */
	prctl(PR_SET_DUMPABLE, 0);
	static rs_agent_reply_t s;
	mlock(&s, sizeof(s));
	s = *secret;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	setsid();
	char path[4200];
	snprintf(path, sizeof(path), "%s/agent.sock", dir);
	struct sockaddr_un sa;
	socklen_t salen;
	/* A path sun_path cannot hold fails here, not as a socket bound at a shortened path. */
	bool fits = rs_unix_addr(path, &sa, &salen, NULL) == RS_EOK;
	if (fits)
		unlink(sa.sun_path);
	mode_t old = umask(077);
	int lfd = fits ? socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
	bool ok = lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, salen) == 0 && listen(lfd, 16) == 0;
	umask(old);
	struct stat mine = { 0 };
	ok = ok && stat(sa.sun_path, &mine) == 0;
	char status = ok ? '1' : '0';
	if (write(ready_fd, &status, 1) != 1)
		ok = false;
	close(ready_fd);
	int64_t deadline = mono_now() + (s.until - (int64_t)time(NULL));
	while (ok) {
		int64_t left = deadline - mono_now();
		if (left <= 0)
			break;
		struct pollfd p = { lfd, POLLIN, 0 };
		int r = poll(&p, 1, left > 3600 ? 3600000 : (int)left * 1000);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		ok = serve(fd, &s);
		close(fd);
	}
	/* A successor agent may have bound the path already: leave its socket alone. */
	struct stat now;
	if (stat(sa.sun_path, &now) == 0 && now.st_ino == mine.st_ino && now.st_dev == mine.st_dev)
		unlink(sa.sun_path);
	rs_wipe(&s, sizeof(s));
	_exit(0);
}
