/*
 * Change notices (inotify): a write to the state database by another process
 * (a command, the EPP server) or a zone's input saved wakes the main loop at
 * once, instead of at the next poll. Directories are watched, not the files:
 * SQLite recreates its WAL, editors and `mv` replace an input by a new
 * inode; events are matched by name. Where inotify is not there (or misses
 * changes: network file systems) the poll still finds them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "internal.h"

/* One file of interest: the watch of its directory, and its name there. */
struct serve_watched {
	int wd;
	char name[NAME_MAX + 1];
};

#define WAL_EVENTS (IN_MODIFY | IN_CLOSE_WRITE)
#define INPUT_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO)

/* Watch dir for events to the file name in it (a directory watched twice keeps the union of both masks). */
static void watch_file(serve_t *sv, const char *dir, const char *name, uint32_t events)
{
	if (sv->watch_fd < 0 || strlen(name) > NAME_MAX)
		return;
	int wd = inotify_add_watch(sv->watch_fd, dir, events | IN_MASK_ADD | IN_ONLYDIR);
	if (wd < 0) {
		rs_log(&sv->o.log, RS_LOG_WARNING, NULL, "%s: no change notices (%s): changes are seen every poll", dir,
		       strerror(errno));
		return;
	}
	for (size_t i = 0; i < sv->nwatched; i++)
		if (sv->watched[i].wd == wd && strcmp(sv->watched[i].name, name) == 0)
			return;
	struct serve_watched *grown = realloc(sv->watched, (sv->nwatched + 1) * sizeof(*grown));
	if (grown == NULL)
		return;
	sv->watched = grown;
	sv->watched[sv->nwatched].wd = wd;
	snprintf(sv->watched[sv->nwatched].name, sizeof(grown->name), "%s", name);
	sv->nwatched++;
}

void serve_watch_open(serve_t *sv)
{
	sv->watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (sv->watch_fd < 0) {
		rs_log(&sv->o.log, RS_LOG_WARNING, NULL, "inotify: %s: changes are seen every poll", strerror(errno));
		return;
	}
	/* A transaction's commit is a write to the WAL (the database is in WAL mode, store.c). */
	watch_file(sv, sv->o.state_dir, "state.db-wal", WAL_EVENTS);
}

/* Under lock. */
void serve_watch_input(serve_t *sv, const char *path)
{
	if (path[0] == '\0')
		return;
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	watch_file(sv, dir, slash != NULL ? slash + 1 : path, INPUT_EVENTS);
}

bool serve_watch_read(serve_t *sv)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool seen = false;
	ssize_t n;
	/* The list grows under the lock (serve_zones_sync, from a ctl reload too). */
	pthread_mutex_lock(&sv->lock);
	while ((n = read(sv->watch_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			/* Events were lost: anything may have changed. */
			if (ev->mask & IN_Q_OVERFLOW)
				seen = true;
			for (size_t i = 0; !seen && ev->len > 0 && i < sv->nwatched; i++)
				seen = sv->watched[i].wd == ev->wd && strcmp(sv->watched[i].name, ev->name) == 0;
		}
	}
	pthread_mutex_unlock(&sv->lock);
	return seen;
}

void serve_watch_close(serve_t *sv)
{
	if (sv->watch_fd >= 0)
		close(sv->watch_fd);
	sv->watch_fd = -1;
	free(sv->watched);
	sv->watched = NULL;
	sv->nwatched = 0;
}
