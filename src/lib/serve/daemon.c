/*
 * rs_serve_run: set up (state, one daemon per state directory, sockets),
 * then the main loop: signals through a signalfd, DNS over UDP, accepts for
 * TCP, control and metrics, and a tick that looks at the zone list, inputs
 * and registry data and hands due zones to the worker.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "regsign/dns.h"
#include "internal.h"

int64_t serve_now(const serve_t *sv)
{
	return sv->o.clock != NULL ? sv->o.clock(sv->o.clock_arg) : (int64_t)time(NULL);
}

void serve_wake(serve_t *sv)
{
	char c = 1;
	if (write(sv->wake[1], &c, 1) < 0) {
		/* Full: a wake-up is already pending. */
	}
}

static bool same_host(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr, &((const struct sockaddr_in *)b)->sin_addr,
			      4) == 0;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
		      16) == 0;
}

/* From the answerer's threads: what a secondary asked for tells which serial it holds. */
static void on_transfer(void *arg, const uint8_t *origin, const struct sockaddr *from, const char *kind,
			uint32_t their_serial, uint32_t served_serial, int result, const char *why)
{
	serve_t *sv = arg;
	char name[1024], addr[INET6_ADDRSTRLEN] = "?";
	rs_dname_to_str(origin, name, sizeof(name));
	if (from->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)from)->sin_addr, addr, sizeof(addr));
	else if (from->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)from)->sin6_addr, addr, sizeof(addr));
	pthread_mutex_lock(&sv->lock);
	szone_t *z = serve_zone(sv, name);
	if (result == RS_EOK)
		sv->transfers_served++;
	else
		sv->transfers_refused++;
	for (size_t i = 0; z != NULL && i < z->nsec; i++) {
		if (!same_host(from, &z->sec[i].addr))
			continue;
		uint32_t has = result == RS_EOK ? served_serial : their_serial;
		/* Only a NOTIFY's answer ends its round: another secondary may share the address (NAT, tests). */
		if (has != 0)
			z->sec_serial[i] = has;
	}
	pthread_mutex_unlock(&sv->lock);
	if (result == RS_EOK)
		rs_log(&sv->o.log, RS_LOG_INFO, name, "%s to %s: serial %u (they had %u)", kind, addr, served_serial,
		       their_serial);
	else
		rs_log(&sv->o.log, RS_LOG_WARNING, name, "%s from %s %s: %s", kind, addr,
		       result == RS_EBUSY ? "put off" : "refused", why != NULL ? why : "");
}

/* One daemon per state directory: a lock held for the process's life. */
static int lock_state(const char *dir, int *fd, rs_diag_t *diag)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/locks", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/locks/serve", dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return rs_diag(diag, -errno, "%s: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		close(*fd);
		*fd = -1;
		return rs_diag(diag, RS_EBUSY, "another regsign serve runs on %s", dir);
	}
	return RS_EOK;
}

static int control_socket(const char *path, rs_diag_t *diag)
{
	struct sockaddr_un sa;
	socklen_t len;
	int ret = rs_unix_addr(path, &sa, &len, diag);
	if (ret != RS_EOK)
		return ret;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return rs_diag(diag, -errno, "socket: %s", strerror(errno));
	/* The state lock is held: a socket file left there is a dead daemon's. */
	unlink(path);
	/* Owner only, from the start: the socket never exists with wider permissions. */
	mode_t old = umask(077);
	ret = bind(fd, (struct sockaddr *)&sa, len);
	umask(old);
	if (ret != 0 || listen(fd, 16) != 0) {
		int e = errno;
		close(fd);
		return rs_diag(diag, -e, "%s: cannot listen: %s", path, strerror(e));
	}
	return fd;
}

#define LOOK_GAP_MS 50 /* the least time between two looks that change notices bring */
#define TURN_MS 250    /* the longest the main loop sleeps: what fell due is seen this often */

int64_t serve_mono_ms(void)
{
	struct timespec mono;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return (int64_t)mono.tv_sec * 1000 + mono.tv_nsec / 1000000;
}

enum { FD_SIGNAL, FD_WAKE, FD_CTL, FD_METRICS, FD_STATUS, FD_WATCH, FD_FIRST_DNS };
#define MAX_FDS (FD_FIRST_DNS + 2 * 8)

int rs_serve_run(const rs_serve_opts_t *opts, rs_diag_t *diag)
{
	serve_t *sv = calloc(1, sizeof(*sv));
	if (sv == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	sv->o = *opts;
	/*
	 * A fixed threshold: zone storage blocks and a version's arrays are
	 * mapped, and go back to the system when an old version goes. glibc's
	 * moving threshold would take them from the heap after the first such
	 * free, and a daemon that keeps a large zone for months would grow.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 << 10);
	pthread_mutex_init(&sv->lock, NULL);
	pthread_mutex_init(&sv->sync_lock, NULL);
	pthread_cond_init(&sv->changed, NULL);
	struct pollfd fds[MAX_FDS];
	int types[MAX_FDS];
	size_t nfds = FD_FIRST_DNS;
	for (size_t i = 0; i < MAX_FDS; i++)
		fds[i] = (struct pollfd){ -1, POLLIN, 0 };
	int lock_fd = -1;
	char ctl_path[4096];
	rs_serve_control_path(opts->state_dir, &opts->conf, ctl_path, sizeof(ctl_path));
	bool threads = false;
	sv->wake[0] = sv->wake[1] = -1;
	sv->watch_fd = -1;

	int ret = rs_store_open(opts->state_dir, 0, &sv->store, diag);
	if (ret == RS_EOK)
		ret = lock_state(opts->state_dir, &lock_fd, diag);
	rs_xfr_events_t ev = { on_transfer, sv };
	if (ret == RS_EOK && rs_xfr_server_new(&ev, &sv->xfr) != RS_EOK)
		ret = rs_diag(diag, RS_ENOMEM, "out of memory");
	if (ret == RS_EOK && pipe2(sv->wake, O_CLOEXEC | O_NONBLOCK) != 0)
		ret = rs_diag(diag, -errno, "pipe: %s", strerror(errno));
	/* Signals arrive as reads in the main loop; every thread started later has them blocked. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigset_t old_mask;
	pthread_sigmask(SIG_BLOCK, &sigs, &old_mask);
	signal(SIGPIPE, SIG_IGN);
	if (ret == RS_EOK && (fds[FD_SIGNAL].fd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0)
		ret = rs_diag(diag, -errno, "signalfd: %s", strerror(errno));
	fds[FD_WAKE].fd = sv->wake[0];
	if (ret == RS_EOK && (fds[FD_CTL].fd = control_socket(ctl_path, diag)) < 0)
		ret = fds[FD_CTL].fd;
	if (ret == RS_EOK && opts->conf.metrics[0] != '\0' &&
	    (fds[FD_METRICS].fd = serve_listen(opts->conf.metrics, SOCK_STREAM, diag)) < 0)
		ret = fds[FD_METRICS].fd;
	if (ret == RS_EOK && opts->conf.status[0] != '\0' &&
	    (fds[FD_STATUS].fd = serve_listen(opts->conf.status, SOCK_STREAM, diag)) < 0)
		ret = fds[FD_STATUS].fd;
	for (size_t i = 0; ret == RS_EOK && i < opts->conf.nlisten; i++) {
		for (int t = 0; t < 2 && ret == RS_EOK; t++) {
			types[nfds] = t == 0 ? SOCK_DGRAM : SOCK_STREAM;
			int fd = serve_listen(opts->conf.listen[i], types[nfds], diag);
			if (fd < 0)
				ret = fd;
			else
				fds[nfds++].fd = fd;
		}
	}
	if (ret == RS_EOK) {
		serve_watch_open(sv);
		fds[FD_WATCH].fd = sv->watch_fd;
	}
	sv->started = serve_now(sv);
	if (ret == RS_EOK)
		rs_store_registry_generation(sv->store, &sv->registry_gen);
	if (ret == RS_EOK)
		ret = serve_zones_sync(sv, diag);
	if (ret == RS_EOK) {
		if (pthread_create(&sv->worker, NULL, serve_worker, sv) != 0 ||
		    pthread_create(&sv->notifier, NULL, serve_notifier, sv) != 0 ||
		    pthread_create(&sv->monitor, NULL, serve_monitor, sv) != 0) {
			atomic_store(&sv->stopping, true);
			ret = rs_diag(diag, RS_ENOMEM, "cannot start threads");
		}
		threads = true;
	}
	if (ret == RS_EOK) {
		rs_log(&sv->o.log, RS_LOG_NOTICE, NULL, "serving %zu zones from %s; control %s", sv->nzones, opts->state_dir,
		       ctl_path);
		if (opts->ready != NULL)
			opts->ready(opts->ready_arg, true);
	}
	/*
	 * Looks (the zone list, inputs, registry data) go by the machine's clock:
	 * every poll, and soon after a change notice, at most one per LOOK_GAP_MS
	 * (a transaction is many writes to the WAL; the daemon's own commits wake
	 * it too). What is due goes by the daemon's clock (a test may drive it),
	 * and is seen at each turn, so timers do not wait for the poll.
	 */
	int64_t next_look = 0, last_look = INT64_MIN / 2;
	while (ret == RS_EOK && !atomic_load(&sv->stopping)) {
		int64_t now = serve_mono_ms();
		if (now >= next_look || atomic_exchange(&sv->reload, false)) {
			rs_diag_t why;
			if (serve_zones_sync(sv, &why) != RS_EOK)
				rs_log(&sv->o.log, RS_LOG_ERR, NULL, "%s", why.text);
			last_look = now;
			next_look = now + opts->conf.poll_ms;
			if (opts->ready != NULL)
				opts->ready(opts->ready_arg, true); /* the watchdog's ping */
		}
		serve_schedule(sv);
		int64_t wait = next_look - now < TURN_MS ? next_look - now : TURN_MS;
		if (poll(fds, nfds, wait > 0 ? (int)wait : 0) < 0 && errno != EINTR)
			break;
		if (fds[FD_WATCH].fd >= 0 && (fds[FD_WATCH].revents & POLLIN) && serve_watch_read(sv) &&
		    last_look + LOOK_GAP_MS < next_look)
			next_look = last_look + LOOK_GAP_MS;
		if (fds[FD_SIGNAL].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(fds[FD_SIGNAL].fd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					rs_log(&sv->o.log, RS_LOG_NOTICE, NULL, "SIGHUP: the zone list and secondaries are read again");
					atomic_store(&sv->reload, true);
				} else {
					rs_log(&sv->o.log, RS_LOG_NOTICE, NULL, "signal %u: stopping after the current step",
					       si.ssi_signo);
					atomic_store(&sv->stopping, true);
				}
			}
		}
		if (fds[FD_WAKE].revents & POLLIN) {
			char buf[64];
			while (read(sv->wake[0], buf, sizeof(buf)) > 0)
				;
			/* The next turn's serve_schedule sees what the waker changed. */
		}
		if (fds[FD_CTL].revents & POLLIN)
			serve_accept(sv, fds[FD_CTL].fd, SERVE_CTL);
		if (fds[FD_METRICS].fd >= 0 && (fds[FD_METRICS].revents & POLLIN))
			serve_accept(sv, fds[FD_METRICS].fd, SERVE_HTTP);
		if (fds[FD_STATUS].fd >= 0 && (fds[FD_STATUS].revents & POLLIN))
			serve_accept(sv, fds[FD_STATUS].fd, SERVE_STATUS);
		for (size_t i = FD_FIRST_DNS; i < nfds; i++) {
			if (!(fds[i].revents & POLLIN))
				continue;
			if (types[i] == SOCK_DGRAM)
				serve_udp(sv, fds[i].fd);
			else
				serve_accept(sv, fds[i].fd, SERVE_DNS);
		}
	}
	if (opts->ready != NULL && threads)
		opts->ready(opts->ready_arg, false);
	atomic_store(&sv->stopping, true);
	if (threads) {
		pthread_mutex_lock(&sv->lock);
		pthread_cond_broadcast(&sv->changed);
		pthread_mutex_unlock(&sv->lock);
		pthread_join(sv->worker, NULL);
		pthread_join(sv->notifier, NULL);
		pthread_join(sv->monitor, NULL);
	}
	/* Transfers under way hold their own version references; they end at their next read or write. */
	for (int i = 0; i < 100 && atomic_load(&sv->transfers) > 0; i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < nfds; i++)
		if (fds[i].fd >= 0 && i != FD_WAKE && i != FD_WATCH)
			close(fds[i].fd);
	serve_watch_close(sv);
	if (fds[FD_CTL].fd >= 0)
		unlink(ctl_path);
	bool transfers_left = atomic_load(&sv->transfers) > 0;
	if (!transfers_left) {
		serve_zones_free(sv);
		serve_monitor_free(sv);
		rs_xfr_server_free(sv->xfr);
		if (sv->wake[0] >= 0)
			close(sv->wake[0]);
		if (sv->wake[1] >= 0)
			close(sv->wake[1]);
	}
	rs_store_close(sv->store);
	if (lock_fd >= 0)
		close(lock_fd);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	/* A transfer thread still running keeps sv; the process is about to end. */
	if (!transfers_left)
		free(sv);
	if (ret == RS_EOK)
		rs_log(&opts->log, RS_LOG_NOTICE, NULL, "stopped");
	return ret;
}
