/*
 * The activation agent: after m key holders combined their shares, it logs
 * in to the token, forgets the PIN, and serves the logged-in token until its
 * deadline on DIR/agent.sock, to processes of its own user (or root) only.
 * PKCS#11 login state belongs to the process, so the sessions it opens for
 * its clients are logged in and the PIN never leaves it (SoftHSM2 has no
 * login shared between processes; a hardware HSM would not need one either).
 * One socket, two kinds of requests, told apart by the first octet:
 * p11-kit's PKCS#11 RPC (the client's version octet, 0) from
 * p11-kit-client.so, or one text line, "status" or "quit". Nothing else is
 * answered but with an error, and no answer carries the PIN.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

/* Connections at once: the signer needs one per process; a flood waits in the listen queue. */
#define MAX_CLIENTS 64

static struct {
	int64_t until, admin_until;
	int wake[2]; /* a "quit" wakes the accept loop */
	atomic_int clients;
} agent;

static int64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Key changes: while the admin window the key holders opened lasts (real time, as they set it). */
static bool may_change(void)
{
	return agent.admin_until > (int64_t)time(NULL);
}

/* One text request: status or quit. */
static void answer_text(int fd)
{
	char req[32];
	ssize_t n = read(fd, req, sizeof(req) - 1);
	if (n <= 0)
		return;
	req[n] = '\0';
	req[strcspn(req, "\r\n")] = '\0';
	bool quit = strcmp(req, "quit") == 0;
	char out[160];
	int m;
	if (quit || strcmp(req, "status") == 0)
		m = snprintf(out, sizeof(out), "ok %lld %lld\n", (long long)agent.until, (long long)agent.admin_until);
	else
		m = snprintf(out, sizeof(out), "error unknown request (this agent answers status, quit and PKCS#11 "
			     "through p11-kit-client.so)\n");
	if (write(fd, out, (size_t)m) < 0)
		m = 0;
	if (quit && write(agent.wake[1], "q", 1) < 0)
		m = 0;
}

static void *client(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char first;
	/* A client that connects and says nothing is dropped; a PKCS#11 client then may idle. */
	ssize_t n = recv(fd, &first, 1, MSG_PEEK);
	if (n == 1 && first >= 'a' && first <= 'z') {
		answer_text(fd);
	} else if (n == 1) {
		struct timeval none = { 0, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
		rs_hsm_serve(fd);
	}
	close(fd);
	atomic_fetch_sub(&agent.clients, 1);
	return NULL;
}

/* Only the agent's own user (or root) is served, whatever the socket's mode lets connect. */
static void accept_one(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    (cred.uid != geteuid() && cred.uid != 0)) {
		static const char no[] = "error refused: not the agent's user\n";
		if (write(fd, no, sizeof(no) - 1) < 0)
			len = 0;
		close(fd);
		return;
	}
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, (size_t)1 << 20);
	if (atomic_fetch_add(&agent.clients, 1) >= MAX_CLIENTS ||
	    pthread_create(&t, &attr, client, (void *)(intptr_t)fd) != 0) {
		atomic_fetch_sub(&agent.clients, 1);
		close(fd);
	}
	pthread_attr_destroy(&attr);
}

void __attribute__((noinline)) cli_scrub_stack(void)
{
	char pad[256 * 1024];
	explicit_bzero(pad, sizeof(pad));
	__asm__ volatile("" : : "r"(pad) : "memory");
}

/* Log in, then forget the PIN: the agent never needs it again. */
static rs_hsm_t *log_in(cli_agent_plan_t *plan)
{
	rs_hsm_t *h = NULL;
	rs_diag_t diag;
	int ret = rs_hsm_open(plan->module, plan->token, &h, &diag);
	if (ret == RS_EOK)
		ret = rs_hsm_login(h, plan->pin, &diag);
	rs_wipe(plan->pin, sizeof(plan->pin));
	if (ret == RS_EOK)
		ret = rs_hsm_serve_begin(h, may_change, &diag);
	if (ret != RS_EOK) {
		rs_hsm_close(h);
		return NULL;
	}
	return h;
}

void cli_agent_run(const char *dir, cli_agent_plan_t *plan, int ready_fd)
{
	/* No core dump, and no ptrace by other processes of the same user (root still can). */
	prctl(PR_SET_DUMPABLE, 0);
	/* The PIN's one buffer stays out of swap until it is wiped (SoftHSM2 locks its own secrets). */
	mlock(plan, sizeof(*plan));
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	setsid();
	agent.until = plan->until;
	agent.admin_until = plan->admin_until;
	rs_hsm_t *h = log_in(plan);
	/* The module's login leaves copies below: this process lives for hours. */
	cli_scrub_stack();
	char path[4200];
	snprintf(path, sizeof(path), "%s/agent.sock", dir);
	struct sockaddr_un sa;
	socklen_t salen;
	/* A path sun_path cannot hold fails here, not as a socket bound at a shortened path. */
	bool fits = rs_unix_addr(path, &sa, &salen, NULL) == RS_EOK;
	bool ok = h != NULL && fits && pipe2(agent.wake, O_CLOEXEC) == 0;
	if (ok)
		unlink(sa.sun_path);
	mode_t old = umask(077);
	int lfd = ok ? socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
	ok = lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, salen) == 0 && listen(lfd, 64) == 0;
	umask(old);
	struct stat mine = { 0 };
	/* Owner-only, like the state directory around it; SO_PEERCRED checks each caller anyway. */
	ok = ok && chmod(sa.sun_path, 0600) == 0 && stat(sa.sun_path, &mine) == 0;
	char status = ok ? '1' : '0';
	if (write(ready_fd, &status, 1) != 1)
		ok = false;
	close(ready_fd);
	int64_t deadline = mono_now() + (agent.until - (int64_t)time(NULL));
	while (ok) {
		int64_t left = deadline - mono_now();
		if (left <= 0)
			break;
		struct pollfd p[2] = { { lfd, POLLIN, 0 }, { agent.wake[0], POLLIN, 0 } };
		int r = poll(p, 2, left > 3600 ? 3600000 : (int)left * 1000);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && p[1].revents)
			break;
		if (r > 0 && p[0].revents)
			accept_one(lfd);
	}
	/* A successor agent may have bound the path already: leave its socket alone. */
	struct stat now;
	if (fits && stat(sa.sun_path, &now) == 0 && now.st_ino == mine.st_ino && now.st_dev == mine.st_dev)
		unlink(sa.sun_path);
	/* Calls in progress finish; every later one fails; the token's sessions close, and with them the login. */
	if (h != NULL) {
		rs_hsm_serve_end();
		rs_hsm_close(h);
	}
	_exit(0);
}
