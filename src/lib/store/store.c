/* The SQLite state database: schema, migrations, and the rows of zones, policies, keys and history. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "regsign/audit.h"
#include "regsign/dns.h"

/*
 * Each migration takes the schema from version i to i + 1. Released
 * migrations are never edited; a change is a new entry at the end.
 */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE policy ("
	"  name TEXT PRIMARY KEY, text TEXT NOT NULL, imported INTEGER NOT NULL);"
	"CREATE TABLE zone ("
	"  name TEXT PRIMARY KEY, policy TEXT NOT NULL, input TEXT NOT NULL,"
	"  soa_ttl INTEGER NOT NULL, soa_minimum INTEGER NOT NULL, serial INTEGER NOT NULL,"
	"  added INTEGER NOT NULL, last_enforce INTEGER NOT NULL, last_sign INTEGER NOT NULL,"
	"  next_event INTEGER NOT NULL, max_ttl INTEGER NOT NULL, old_max_ttl INTEGER NOT NULL,"
	"  old_max_until INTEGER NOT NULL,"
	"  parent_agents TEXT NOT NULL);"
	"CREATE TABLE key ("
	"  zone TEXT NOT NULL, tag INTEGER NOT NULL, alg INTEGER NOT NULL, role INTEGER NOT NULL,"
	"  bits INTEGER NOT NULL, predecessor INTEGER NOT NULL, goal INTEGER NOT NULL,"
	"  ds INTEGER NOT NULL, flags INTEGER NOT NULL,"
	"  dnskey INTEGER NOT NULL, dnskey_since INTEGER NOT NULL,"
	"  krrsig INTEGER NOT NULL, krrsig_since INTEGER NOT NULL,"
	"  zrrsig INTEGER NOT NULL, zrrsig_since INTEGER NOT NULL,"
	"  ds_state INTEGER NOT NULL, ds_since INTEGER NOT NULL,"
	"  created INTEGER NOT NULL, published INTEGER NOT NULL, active INTEGER NOT NULL,"
	"  retired INTEGER NOT NULL, removed INTEGER NOT NULL, locator TEXT NOT NULL,"
	"  PRIMARY KEY (zone, tag));"
	"CREATE TABLE history ("
	"  id INTEGER PRIMARY KEY, zone TEXT NOT NULL, time INTEGER NOT NULL, tag INTEGER NOT NULL,"
	"  what TEXT NOT NULL);"
	"CREATE INDEX history_zone ON history (zone, id);",
	/* 1 -> 2: key custody. A key's material belongs to one key row, of one zone, ever. */
	"ALTER TABLE key ADD COLUMN backup INTEGER NOT NULL DEFAULT 0;"
	"CREATE UNIQUE INDEX key_locator ON key (locator) WHERE locator != '';"
	"CREATE TABLE retired_locator (locator TEXT PRIMARY KEY, zone TEXT NOT NULL);"
	"CREATE TRIGGER key_locator_retired BEFORE INSERT ON key"
	"  WHEN NEW.locator != '' AND EXISTS (SELECT 1 FROM retired_locator WHERE locator = NEW.locator)"
	"  BEGIN SELECT RAISE(ABORT, 'the key belonged to a removed zone'); END;"
	"CREATE TABLE setting (name TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE audit (seq INTEGER PRIMARY KEY, line TEXT NOT NULL, hash TEXT NOT NULL);",
	/* 2 -> 3: registry data (src/lib/store/registry.c). */
	STORE_REGISTRY_SCHEMA,
	/* 3 -> 4: the zone session. Key records wait for the publication that carries them (pending). */
	"ALTER TABLE zone ADD COLUMN registry INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE zone ADD COLUMN output TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE zone ADD COLUMN last_failure INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE zone ADD COLUMN last_error TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE key ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE publication (id INTEGER PRIMARY KEY, zone TEXT NOT NULL, time INTEGER NOT NULL,"
	"  serial INTEGER NOT NULL, signatures INTEGER NOT NULL, reused INTEGER NOT NULL, keys TEXT NOT NULL,"
	"  output TEXT NOT NULL);"
	"CREATE INDEX publication_zone ON publication (zone, id);"
	"CREATE TABLE key_intent (locator TEXT PRIMARY KEY, zone TEXT NOT NULL, time INTEGER NOT NULL);",
	/*
	 * 4 -> 5: the daemon. Secondaries by zone (TSIG secrets are files, not
	 * rows); a counter every registry change bumps, which the daemon watches.
	 */
	"CREATE TABLE secondary (zone TEXT NOT NULL, addr TEXT NOT NULL, tsig TEXT NOT NULL, PRIMARY KEY (zone, addr));"
	"CREATE TABLE registry_change (id INTEGER PRIMARY KEY CHECK (id = 1), gen INTEGER NOT NULL);"
	"INSERT INTO registry_change VALUES (1, 0);"
	"CREATE TRIGGER domain_added AFTER INSERT ON domain BEGIN UPDATE registry_change SET gen = gen + 1; END;"
	"CREATE TRIGGER domain_changed AFTER UPDATE ON domain BEGIN UPDATE registry_change SET gen = gen + 1; END;"
	"CREATE TRIGGER domain_removed AFTER DELETE ON domain BEGIN UPDATE registry_change SET gen = gen + 1; END;"
	"CREATE TRIGGER ds_added AFTER INSERT ON ds BEGIN UPDATE registry_change SET gen = gen + 1; END;"
	"CREATE TRIGGER ds_removed AFTER DELETE ON ds BEGIN UPDATE registry_change SET gen = gen + 1; END;",
	/*
	 * 5 -> 6: which delegations changed at which generation, so the daemon
	 * re-signs those alone. One trigger per event bumps and records, in order.
	 */
	"DROP TRIGGER domain_added; DROP TRIGGER domain_changed; DROP TRIGGER domain_removed;"
	"DROP TRIGGER ds_added; DROP TRIGGER ds_removed;"
	"CREATE TABLE registry_dirty (domain TEXT PRIMARY KEY, zone TEXT NOT NULL, gen INTEGER NOT NULL);"
	"CREATE INDEX registry_dirty_zone ON registry_dirty (zone, gen);"
	/* The outer statement's conflict clause overrides a trigger's OR REPLACE: delete, then insert. */
	"CREATE TRIGGER domain_added AFTER INSERT ON domain BEGIN UPDATE registry_change SET gen = gen + 1;"
	"  DELETE FROM registry_dirty WHERE domain = NEW.name;"
	"  INSERT INTO registry_dirty SELECT NEW.name, NEW.zone, gen FROM registry_change; END;"
	"CREATE TRIGGER domain_changed AFTER UPDATE ON domain BEGIN UPDATE registry_change SET gen = gen + 1;"
	"  DELETE FROM registry_dirty WHERE domain IN (OLD.name, NEW.name);"
	"  INSERT INTO registry_dirty SELECT NEW.name, NEW.zone, gen FROM registry_change; END;"
	"CREATE TRIGGER domain_removed AFTER DELETE ON domain BEGIN UPDATE registry_change SET gen = gen + 1;"
	"  DELETE FROM registry_dirty WHERE domain = OLD.name;"
	"  INSERT INTO registry_dirty SELECT OLD.name, OLD.zone, gen FROM registry_change; END;"
	"CREATE TRIGGER ds_added AFTER INSERT ON ds BEGIN UPDATE registry_change SET gen = gen + 1;"
	"  DELETE FROM registry_dirty WHERE domain = NEW.domain;"
	"  INSERT INTO registry_dirty SELECT NEW.domain, d.zone, r.gen FROM registry_change r, domain d"
	"  WHERE d.name = NEW.domain; END;"
	"CREATE TRIGGER ds_removed AFTER DELETE ON ds BEGIN UPDATE registry_change SET gen = gen + 1;"
	"  DELETE FROM registry_dirty WHERE domain = OLD.domain AND EXISTS (SELECT 1 FROM domain WHERE name = OLD.domain);"
	"  INSERT INTO registry_dirty SELECT OLD.domain, d.zone, r.gen FROM registry_change r, domain d"
	"  WHERE d.name = OLD.domain; END;",
	/*
	 * 6 -> 7: key material the state did not know, set aside rather than
	 * destroyed (rs_store_quarantine_*); the operator destroys or releases it.
	 */
	"CREATE TABLE quarantine (locator TEXT PRIMARY KEY, zone TEXT NOT NULL, time INTEGER NOT NULL,"
	"  label TEXT NOT NULL, why TEXT NOT NULL);",
	/* 7 -> 8: failed EPP logins per registrar and per source address, across sessions and restarts. */
	"CREATE TABLE login_failure (who TEXT PRIMARY KEY, failures INTEGER NOT NULL, next INTEGER NOT NULL);",
};
#define NMIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

int store_db_error(rs_store_t *s, rs_diag_t *diag, const char *doing)
{
	int code = sqlite3_errcode(s->db);
	int ret = code == SQLITE_BUSY || code == SQLITE_LOCKED ? RS_ELIMIT
		  : code == SQLITE_NOMEM			      ? RS_ENOMEM
								      : RS_EIO;
	return rs_diag(diag, ret, "%s/state.db: %s: %s", s->dir, doing, sqlite3_errmsg(s->db));
}

static int exec(rs_store_t *s, const char *sql, rs_diag_t *diag, const char *doing)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? RS_EOK : store_db_error(s, diag, doing);
}

static int user_version(rs_store_t *s, int *out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return RS_EIO;
	int ret = sqlite3_step(st) == SQLITE_ROW ? RS_EOK : RS_EIO;
	*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return ret;
}

static int migrate(rs_store_t *s, rs_diag_t *diag)
{
	int ret = exec(s, "BEGIN IMMEDIATE", diag, "cannot lock the database");
	int version = 0;
	if (ret == RS_EOK && user_version(s, &version) != RS_EOK)
		ret = store_db_error(s, diag, "cannot read the schema version");
	if (ret == RS_EOK && version > (int)NMIGRATIONS)
		ret = rs_diag(diag, RS_EINVAL, "%s/state.db: schema version %d is newer than this regsign "
			      "(%d); upgrade regsign", s->dir, version, (int)NMIGRATIONS);
	for (int v = version; ret == RS_EOK && v < (int)NMIGRATIONS; v++) {
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		ret = exec(s, migrations[v], diag, "cannot migrate the schema");
		if (ret == RS_EOK)
			ret = exec(s, pragma, diag, "cannot migrate the schema");
	}
	if (ret == RS_EOK)
		return exec(s, "COMMIT", diag, "cannot commit the schema");
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

/* Nothing of the state may be writable by group or others (a state directory made by hand, a careless chmod). */
static int check_modes(const char *dir, rs_diag_t *diag)
{
	static const char *const parts[] = { "", "/state.db", "/state.db-wal", "/audit.log", "/keys", "/hsm" };
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		char path[4200];
		struct stat st;
		snprintf(path, sizeof(path), "%s%s", dir, parts[i]);
		if (lstat(path, &st) != 0)
			continue;
		if ((st.st_mode & 022) != 0 && !S_ISLNK(st.st_mode))
			return rs_diag(diag, RS_EDENIED, "'%s' is writable by %s (mode %04o): whoever can write there can "
				       "replace keys or roll the state back; refusing to use it (chmod go-w '%s')", path,
				       (st.st_mode & 020) ? "its group" : "others", (unsigned)(st.st_mode & 07777), path);
	}
	return RS_EOK;
}

int rs_store_open(const char *dir, int flags, rs_store_t **out, rs_diag_t *diag)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/state.db", dir);
	if (!(flags & RS_STORE_CREATE) && access(path, F_OK) != 0)
		return rs_diag(diag, RS_ENOENT, "'%s' holds no regsign state (zone add, policy import or keystore "
			       "init starts one; check --state or REGSIGN_STATE)", dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return rs_diag(diag, -errno, "cannot create state directory '%s': %s", dir, strerror(errno));
	int ret = check_modes(dir, diag);
	if (ret != RS_EOK)
		return ret;
	rs_store_t *s = calloc(1, sizeof(*s));
	if (s == NULL || (s->dir = strdup(dir)) == NULL) {
		free(s);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	/* The database holds no secret, but nothing about the keys is anyone else's business. */
	mode_t old = umask(077);
	int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK)
		ret = rs_diag(diag, RS_EIO, "cannot open '%s': %s", path,
			      s->db ? sqlite3_errmsg(s->db) : "out of memory");
	if (ret == RS_EOK) {
		sqlite3_busy_timeout(s->db, 30000);
		sqlite3_extended_result_codes(s->db, 0);
		ret = exec(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON",
			   diag, "cannot set up the database");
	}
	if (ret == RS_EOK)
		ret = migrate(s, diag);
	umask(old);
	if (ret == RS_EOK && !(flags & RS_STORE_ANY_AGE))
		ret = rs_audit_state_check(s, diag);
	if (ret != RS_EOK) {
		rs_store_close(s);
		return ret;
	}
	*out = s;
	return RS_EOK;
}

void rs_store_close(rs_store_t *s)
{
	if (s == NULL)
		return;
	sqlite3_close(s->db);
	free(s->dir);
	free(s);
}

const char *rs_store_dir(const rs_store_t *s)
{
	return s->dir;
}

int rs_store_begin(rs_store_t *s, rs_diag_t *diag)
{
	return exec(s, "BEGIN IMMEDIATE", diag, "cannot start a transaction");
}

int rs_store_commit(rs_store_t *s, rs_diag_t *diag)
{
	return exec(s, "COMMIT", diag, "cannot commit");
}

void rs_store_rollback(rs_store_t *s)
{
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int rs_store_read_begin(rs_store_t *s, rs_diag_t *diag)
{
	/* Inside a write transaction the reads see its own writes: nothing to start, nothing to undo. */
	if (!sqlite3_get_autocommit(s->db)) {
		s->nested_read++;
		return RS_EOK;
	}
	/* A deferred transaction takes its snapshot at the first read: make that now. */
	int ret = exec(s, "BEGIN DEFERRED; SELECT count(*) FROM zone", diag, "cannot read the state");
	if (ret != RS_EOK)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

void rs_store_read_end(rs_store_t *s)
{
	if (s->nested_read > 0) {
		s->nested_read--;
		return;
	}
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

struct rs_store_lock {
	int fd;
};

/* locks/NAME, NAME the zone's file-name form with its final dot (rs_dname_to_filename), "root" for the root. */
static int lock_path(const rs_store_t *s, const char *zone, char *out, size_t max)
{
	char name[3 * RS_NAME_MAX + 1];
	if (strcmp(zone, ".") == 0)
		snprintf(name, sizeof(name), "root");
	else if (rs_dname_str_to_filename(zone, true, name, sizeof(name)) < 0)
		return RS_ESYNTAX;
	snprintf(out, max, "%s/locks/%s", s->dir, name);
	return RS_EOK;
}

int rs_store_zone_lock(rs_store_t *s, const char *zone, bool wait, rs_store_lock_t **out, rs_diag_t *diag)
{
	char dir[4200], path[4400];
	snprintf(dir, sizeof(dir), "%s/locks", s->dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return rs_diag(diag, -errno, "cannot create '%s': %s", dir, strerror(errno));
	if (lock_path(s, zone, path, sizeof(path)) != RS_EOK)
		return rs_diag(diag, RS_ESYNTAX, "'%s' is not a zone name", zone);
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return rs_diag(diag, -errno, "cannot open '%s': %s", path, strerror(errno));
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
		if (errno == EINTR)
			continue;
		int err = errno;
		char who[64] = "";
		ssize_t n = pread(fd, who, sizeof(who) - 1, 0);
		who[n > 0 ? n : 0] = '\0';
		who[strcspn(who, "\n")] = '\0';
		close(fd);
		if (err == EWOULDBLOCK)
			return rs_diag(diag, RS_EBUSY, "%s: another regsign is working on this zone (%s); try again "
				       "when it is done", zone, who[0] ? who : "process unknown");
		return rs_diag(diag, -err, "cannot lock '%s': %s", path, strerror(err));
	}
	/* Who holds it, for the message another process gets. */
	char who[64];
	int len = snprintf(who, sizeof(who), "pid %ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, who, (size_t)len, 0) != len) {
		/* Informational only: the lock itself holds. */
	}
	rs_store_lock_t *l = malloc(sizeof(*l));
	if (l == NULL) {
		close(fd);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	l->fd = fd;
	*out = l;
	return RS_EOK;
}

void rs_store_unlock(rs_store_lock_t *lock)
{
	if (lock == NULL)
		return;
	close(lock->fd); /* releases the flock */
	free(lock);
}

/*
 * Prepare sql and bind arguments described by fmt: 't' text, 'i' int64.
 * Returns the statement or NULL.
 */
sqlite3_stmt *store_prepare(rs_store_t *s, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	va_list ap;
	va_start(ap, fmt);
	for (int i = 0; fmt[i] != '\0'; i++) {
		int rc = fmt[i] == 't' ? sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT)
				       : sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
		if (rc != SQLITE_OK) {
			sqlite3_finalize(st);
			st = NULL;
			break;
		}
	}
	va_end(ap);
	return st;
}

/* Run a statement that returns no rows, then free it. */
int store_run(rs_store_t *s, sqlite3_stmt *st, rs_diag_t *diag, const char *doing)
{
	if (st == NULL)
		return store_db_error(s, diag, doing);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? RS_EOK : store_db_error(s, diag, doing);
}

void store_copy_text(char *dst, size_t max, const unsigned char *src)
{
	snprintf(dst, max, "%s", src ? (const char *)src : "");
}

#define ZONE_COLUMNS                                                                           \
	"name, policy, input, soa_ttl, soa_minimum, serial, added, last_enforce, last_sign, next_event, " \
	"max_ttl, old_max_ttl, old_max_until, parent_agents, registry, output, last_failure, last_error"

static void zone_row(sqlite3_stmt *st, rs_zone_rec_t *z)
{
	memset(z, 0, sizeof(*z));
	store_copy_text(z->name, sizeof(z->name), sqlite3_column_text(st, 0));
	store_copy_text(z->policy, sizeof(z->policy), sqlite3_column_text(st, 1));
	store_copy_text(z->input, sizeof(z->input), sqlite3_column_text(st, 2));
	z->soa_ttl = (uint32_t)sqlite3_column_int64(st, 3);
	z->soa_minimum = (uint32_t)sqlite3_column_int64(st, 4);
	z->serial = (uint32_t)sqlite3_column_int64(st, 5);
	z->added = sqlite3_column_int64(st, 6);
	z->last_enforce = sqlite3_column_int64(st, 7);
	z->last_sign = sqlite3_column_int64(st, 8);
	z->next_event = sqlite3_column_int64(st, 9);
	z->max_ttl = (uint32_t)sqlite3_column_int64(st, 10);
	z->old_max_ttl = (uint32_t)sqlite3_column_int64(st, 11);
	z->old_max_until = sqlite3_column_int64(st, 12);
	store_copy_text(z->parent_agents, sizeof(z->parent_agents), sqlite3_column_text(st, 13));
	z->registry = sqlite3_column_int(st, 14) != 0;
	store_copy_text(z->output, sizeof(z->output), sqlite3_column_text(st, 15));
	z->last_failure = sqlite3_column_int64(st, 16);
	store_copy_text(z->last_error, sizeof(z->last_error), sqlite3_column_text(st, 17));
}

int rs_store_zone_add(rs_store_t *s, const rs_zone_rec_t *z, rs_diag_t *diag)
{
	rs_zone_rec_t old;
	if (rs_store_zone_get(s, z->name, &old) == RS_EOK)
		return rs_diag(diag, RS_EINVAL, "zone '%s' is already managed", z->name);
	sqlite3_stmt *st = store_prepare(s, "INSERT INTO zone (" ZONE_COLUMNS ") VALUES "
				   "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
				   "tttiiiiiiiiiititit", z->name, z->policy, z->input, (int64_t)z->soa_ttl,
				   (int64_t)z->soa_minimum, (int64_t)z->serial, z->added, z->last_enforce,
				   z->last_sign, z->next_event, (int64_t)z->max_ttl, (int64_t)z->old_max_ttl,
				   z->old_max_until, z->parent_agents, (int64_t)z->registry, z->output, z->last_failure,
				   z->last_error);
	return store_run(s, st, diag, "cannot add the zone");
}

int rs_store_zone_get(rs_store_t *s, const char *name, rs_zone_rec_t *out)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT " ZONE_COLUMNS " FROM zone WHERE name = ?", "t", name);
	if (st == NULL)
		return RS_EIO;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		zone_row(st, out);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? RS_EOK : rc == SQLITE_DONE ? RS_ENOENT : RS_EIO;
}

int rs_store_zone_update(rs_store_t *s, const rs_zone_rec_t *z, rs_diag_t *diag)
{
	sqlite3_stmt *st = store_prepare(s, "UPDATE zone SET policy = ?, input = ?, soa_ttl = ?, soa_minimum = ?, "
				   "serial = ?, last_enforce = ?, last_sign = ?, next_event = ?, old_max_ttl = ?, "
				   "max_ttl = ?, old_max_until = ?, parent_agents = ?, output = ?, "
				   "last_failure = ?, last_error = ? WHERE name = ?",
				   "ttiiiiiiiiittitt", z->policy, z->input, (int64_t)z->soa_ttl, (int64_t)z->soa_minimum,
				   (int64_t)z->serial, z->last_enforce, z->last_sign, z->next_event,
				   (int64_t)z->old_max_ttl, (int64_t)z->max_ttl, z->old_max_until, z->parent_agents,
				   z->output, z->last_failure, z->last_error, z->name);
	return store_run(s, st, diag, "cannot update the zone");
}

int rs_store_zone_mark_registry(rs_store_t *s, const char *name, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "UPDATE zone SET registry = 1 WHERE name = ?", "t", name), diag,
			 "cannot update the zone");
}

int rs_store_zone_remove(rs_store_t *s, const char *name, rs_diag_t *diag)
{
	/* The zone's key material stays claimed: it never serves another zone. */
	int ret = store_run(s, store_prepare(s, "INSERT OR IGNORE INTO retired_locator (locator, zone) SELECT locator, zone "
				 "FROM key WHERE zone = ? AND locator != ''", "t", name), diag, "cannot retire keys");
	if (ret == RS_EOK)
		ret = store_run(s, store_prepare(s, "DELETE FROM key WHERE zone = ?", "t", name), diag, "cannot remove keys");
	if (ret == RS_EOK)
		ret = store_run(s, store_prepare(s, "DELETE FROM secondary WHERE zone = ?", "t", name), diag,
				"cannot remove the secondaries");
	if (ret == RS_EOK)
		ret = store_run(s, store_prepare(s, "DELETE FROM zone WHERE name = ?", "t", name), diag,
			  "cannot remove the zone");
	return ret;
}

int rs_store_zone_list(rs_store_t *s, rs_zone_rec_t **out, size_t *count)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT " ZONE_COLUMNS " FROM zone ORDER BY name", "");
	if (st == NULL)
		return RS_EIO;
	rs_zone_rec_t *v = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rs_zone_rec_t *nv = realloc(v, (n + 1) * sizeof(*v));
		if (nv == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		v = nv;
		zone_row(st, &v[n++]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(v);
		return rc == SQLITE_NOMEM ? RS_ENOMEM : RS_EIO;
	}
	*out = v;
	*count = n;
	return RS_EOK;
}

int rs_store_policy_get(rs_store_t *s, const char *name, char **text)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT text FROM policy WHERE name = ?", "t", name);
	if (st == NULL)
		return RS_EIO;
	int rc = sqlite3_step(st), ret = rc == SQLITE_ROW ? RS_EOK : rc == SQLITE_DONE ? RS_ENOENT : RS_EIO;
	if (ret == RS_EOK && (*text = strdup((const char *)sqlite3_column_text(st, 0))) == NULL)
		ret = RS_ENOMEM;
	sqlite3_finalize(st);
	return ret;
}

int rs_store_policy_put(rs_store_t *s, const char *name, const char *text, int64_t now, rs_diag_t *diag)
{
	sqlite3_stmt *st = store_prepare(s, "INSERT OR REPLACE INTO policy (name, text, imported) VALUES (?,?,?)",
				   "tti", name, text, now);
	return store_run(s, st, diag, "cannot store the policy");
}

int rs_store_policy_name(rs_store_t *s, size_t i, char name[64])
{
	sqlite3_stmt *st = store_prepare(s, "SELECT name FROM policy ORDER BY name LIMIT 1 OFFSET ?", "i", (int64_t)i);
	if (st == NULL)
		return RS_EIO;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		store_copy_text(name, 64, sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? RS_EOK : rc == SQLITE_DONE ? RS_ENOENT : RS_EIO;
}

#define KEY_COLUMNS                                                                              \
	"tag, alg, role, bits, predecessor, goal, ds, flags, dnskey, dnskey_since, krrsig, "     \
	"krrsig_since, zrrsig, zrrsig_since, ds_state, ds_since, created, published, active, " \
	"retired, removed, locator, backup, pending"

int rs_store_keys_load(rs_store_t *s, const char *zone, rs_keyset_t *set)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT " KEY_COLUMNS " FROM key WHERE zone = ? ORDER BY created, tag",
				   "t", zone);
	if (st == NULL)
		return RS_EIO;
	int rc, ret = RS_EOK;
	while (ret == RS_EOK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rs_keystate_t k = { 0 };
		int c = 0;
		k.tag = (uint16_t)sqlite3_column_int(st, c++);
		k.alg = (uint8_t)sqlite3_column_int(st, c++);
		k.role = (uint8_t)sqlite3_column_int(st, c++);
		k.bits = (uint16_t)sqlite3_column_int(st, c++);
		k.predecessor = (uint16_t)sqlite3_column_int(st, c++);
		k.goal = (uint8_t)sqlite3_column_int(st, c++);
		k.ds = (uint8_t)sqlite3_column_int(st, c++);
		k.flags = (uint8_t)sqlite3_column_int(st, c++);
		for (int r = 0; r < RS_REC_COUNT; r++) {
			k.state[r] = (uint8_t)sqlite3_column_int(st, c++);
			k.since[r] = sqlite3_column_int64(st, c++);
		}
		int64_t *times[5] = { &k.created, &k.published, &k.active, &k.retired, &k.removed };
		for (int i = 0; i < 5; i++)
			*times[i] = sqlite3_column_int64(st, c++);
		store_copy_text(k.locator, sizeof(k.locator), sqlite3_column_text(st, c++));
		k.backup = sqlite3_column_int64(st, c++);
		k.pending = (uint8_t)sqlite3_column_int(st, c++);
		ret = rs_keyset_add(set, &k);
	}
	if (ret == RS_EOK && rc != SQLITE_DONE)
		ret = RS_EIO;
	sqlite3_finalize(st);
	return ret;
}

int rs_store_keys_save(rs_store_t *s, const char *zone, const rs_keyset_t *set, rs_diag_t *diag)
{
	for (size_t i = 0; i < set->count; i++) {
		const rs_keystate_t *k = &set->keys[i];
		sqlite3_stmt *st = store_prepare(
			s, "INSERT OR REPLACE INTO key (zone, " KEY_COLUMNS ") VALUES "
			   "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			"tiiiiiiiiiiiiiiiiiiiiitii", zone, (int64_t)k->tag, (int64_t)k->alg, (int64_t)k->role,
			(int64_t)k->bits, (int64_t)k->predecessor, (int64_t)k->goal, (int64_t)k->ds,
			(int64_t)k->flags, (int64_t)k->state[0], k->since[0], (int64_t)k->state[1], k->since[1],
			(int64_t)k->state[2], k->since[2], (int64_t)k->state[3], k->since[3], k->created,
			k->published, k->active, k->retired, k->removed, k->locator, k->backup, (int64_t)k->pending);
		int ret = store_run(s, st, diag, "cannot store a key");
		if (ret != RS_EOK)
			return ret;
	}
	return RS_EOK;
}

int rs_store_intent_add(rs_store_t *s, const char *zone, const char *locator, int64_t when, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "INSERT OR REPLACE INTO key_intent (locator, zone, time) VALUES (?,?,?)",
					  "tti", locator, zone, when), diag, "cannot record a key about to be made");
}

int rs_store_intent_remove(rs_store_t *s, const char *locator, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "DELETE FROM key_intent WHERE locator = ?", "t", locator), diag,
			 "cannot remove a key intent");
}

int rs_store_intents(rs_store_t *s, const char *zone, void (*fn)(void *arg, const char *locator, int64_t when),
		     void *arg)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT locator, time FROM key_intent WHERE zone = ? ORDER BY time", "t", zone);
	if (st == NULL)
		return RS_EIO;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? RS_EOK : RS_EIO;
}

int rs_store_publication_add(rs_store_t *s, const char *zone, const rs_publication_t *p, rs_diag_t *diag)
{
	sqlite3_stmt *st = store_prepare(s, "INSERT INTO publication (zone, time, serial, signatures, reused, keys, output) "
				   "VALUES (?,?,?,?,?,?,?)", "tiiiitt", zone, p->time, (int64_t)p->serial,
				   (int64_t)p->signatures, (int64_t)p->reused, p->keys, p->output);
	return store_run(s, st, diag, "cannot record the publication");
}

int rs_store_publications(rs_store_t *s, const char *zone, size_t n,
			  void (*fn)(void *arg, const rs_publication_t *pub), void *arg)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT time, serial, signatures, reused, keys, output FROM (SELECT * FROM "
				   "publication WHERE zone = ? ORDER BY id DESC LIMIT ?) ORDER BY id", "ti", zone, (int64_t)n);
	if (st == NULL)
		return RS_EIO;
	rs_publication_t *p = malloc(sizeof(*p));
	int rc = SQLITE_NOMEM;
	while (p != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		p->time = sqlite3_column_int64(st, 0);
		p->serial = (uint32_t)sqlite3_column_int64(st, 1);
		p->signatures = (uint64_t)sqlite3_column_int64(st, 2);
		p->reused = (uint64_t)sqlite3_column_int64(st, 3);
		store_copy_text(p->keys, sizeof(p->keys), sqlite3_column_text(st, 4));
		store_copy_text(p->output, sizeof(p->output), sqlite3_column_text(st, 5));
		fn(arg, p);
	}
	free(p);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? RS_EOK : rc == SQLITE_NOMEM ? RS_ENOMEM : RS_EIO;
}

int rs_store_history_add(rs_store_t *s, const char *zone, int64_t when, uint16_t tag, const char *what)
{
	sqlite3_stmt *st = store_prepare(s, "INSERT INTO history (zone, time, tag, what) VALUES (?,?,?,?)", "tiit",
				   zone, when, (int64_t)tag, what);
	return store_run(s, st, NULL, "cannot record history");
}

int rs_store_history(rs_store_t *s, const char *zone,
		     void (*fn)(void *arg, int64_t when, uint16_t tag, const char *what), void *arg)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT time, tag, what FROM history WHERE zone = ? ORDER BY id", "t", zone);
	if (st == NULL)
		return RS_EIO;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, sqlite3_column_int64(st, 0), (uint16_t)sqlite3_column_int(st, 1),
		   (const char *)sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? RS_EOK : RS_EIO;
}

int rs_store_setting_get(rs_store_t *s, const char *name, char *out, size_t max)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT value FROM setting WHERE name = ?", "t", name);
	if (st == NULL)
		return RS_EIO;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		store_copy_text(out, max, sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? RS_EOK : rc == SQLITE_DONE ? RS_ENOENT : RS_EIO;
}

int rs_store_setting_put(rs_store_t *s, const char *name, const char *value, rs_diag_t *diag)
{
	sqlite3_stmt *st = store_prepare(s, "INSERT OR REPLACE INTO setting (name, value) VALUES (?,?)", "tt", name,
				   value);
	return store_run(s, st, diag, "cannot store a setting");
}

int rs_store_audit_head(rs_store_t *s, uint64_t *seq, char hash[65])
{
	sqlite3_stmt *st = store_prepare(s, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", "");
	if (st == NULL)
		return RS_EIO;
	int rc = sqlite3_step(st);
	*seq = 0;
	hash[0] = '\0';
	if (rc == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(st, 0);
		store_copy_text(hash, 65, sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? RS_EOK : RS_EIO;
}

int rs_store_audit_add(rs_store_t *s, uint64_t seq, const char *line, const char *hash, rs_diag_t *diag)
{
	sqlite3_stmt *st = store_prepare(s, "INSERT INTO audit (seq, line, hash) VALUES (?,?,?)", "itt", (int64_t)seq,
				   line, hash);
	return store_run(s, st, diag, "cannot record an audit entry");
}

int rs_store_audit_since(rs_store_t *s, uint64_t seq, int (*fn)(void *arg, uint64_t seq, const char *line),
			 void *arg)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT seq, line FROM audit WHERE seq > ? ORDER BY seq", "i", (int64_t)seq);
	if (st == NULL)
		return RS_EIO;
	int rc, ret = RS_EOK;
	while (ret == RS_EOK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		ret = fn(arg, (uint64_t)sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1));
	if (ret == RS_EOK && rc != SQLITE_DONE)
		ret = RS_EIO;
	sqlite3_finalize(st);
	return ret;
}

int rs_store_audit_trim(rs_store_t *s, uint64_t seq, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "DELETE FROM audit WHERE seq < ?", "i", (int64_t)seq), diag,
		   "cannot trim the audit entries");
}

int rs_store_secondaries_set(rs_store_t *s, const char *zone, const char *const *addrs, size_t n, const char *tsig,
			     rs_diag_t *diag)
{
	int ret = store_run(s, store_prepare(s, "DELETE FROM secondary WHERE zone = ?", "t", zone), diag,
			    "cannot replace the secondaries");
	for (size_t i = 0; i < n && ret == RS_EOK; i++)
		ret = store_run(s, store_prepare(s, "INSERT OR REPLACE INTO secondary (zone, addr, tsig) VALUES (?,?,?)",
						 "ttt", zone, addrs[i], tsig != NULL ? tsig : ""),
				diag, "cannot record a secondary");
	return ret;
}

int rs_store_secondaries(rs_store_t *s, const char *zone, void (*fn)(void *arg, const char *addr, const char *tsig),
			 void *arg)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT addr, tsig FROM secondary WHERE zone = ? ORDER BY addr", "t", zone);
	if (st == NULL)
		return RS_EIO;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? RS_EOK : RS_EIO;
}

int rs_store_registry_generation(rs_store_t *s, uint64_t *gen)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT gen FROM registry_change WHERE id = 1", "");
	if (st == NULL)
		return RS_EIO;
	int rc = sqlite3_step(st);
	*gen = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? RS_EOK : RS_EIO;
}

int rs_store_registry_dirty(rs_store_t *s, const char *zone, uint64_t since,
			    int (*fn)(void *arg, const char *domain, uint64_t gen), void *arg)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT domain, gen FROM registry_dirty WHERE zone = ? AND gen > ? "
				   "ORDER BY gen", "ti", zone, (int64_t)since);
	if (st == NULL)
		return RS_EIO;
	int rc, ret = RS_EOK;
	while (ret == RS_EOK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		ret = fn(arg, (const char *)sqlite3_column_text(st, 0), (uint64_t)sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
	return ret != RS_EOK ? ret : rc == SQLITE_DONE ? RS_EOK : RS_EIO;
}

int rs_store_registry_dirty_trim(rs_store_t *s, const char *zone, uint64_t upto, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "DELETE FROM registry_dirty WHERE zone = ? AND gen <= ?", "ti", zone,
					  (int64_t)upto), diag, "cannot trim the registry change list");
}

/* ---- quarantine: key material the state does not know ---- */

int rs_store_quarantine_add(rs_store_t *s, const rs_quarantine_rec_t *q, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "INSERT OR REPLACE INTO quarantine (locator, zone, time, label, why) "
					  "VALUES (?,?,?,?,?)", "ttitt", q->locator, q->zone, q->time, q->label, q->why),
			 diag, "cannot record a quarantined key");
}

int rs_store_quarantine_remove(rs_store_t *s, const char *locator, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "DELETE FROM quarantine WHERE locator = ?", "t", locator), diag,
			 "cannot remove a quarantined key");
}

#define QUARANTINE_COLUMNS "locator, zone, time, label, why"

static void quarantine_row(sqlite3_stmt *st, rs_quarantine_rec_t *q)
{
	store_copy_text(q->locator, sizeof(q->locator), sqlite3_column_text(st, 0));
	store_copy_text(q->zone, sizeof(q->zone), sqlite3_column_text(st, 1));
	q->time = sqlite3_column_int64(st, 2);
	store_copy_text(q->label, sizeof(q->label), sqlite3_column_text(st, 3));
	store_copy_text(q->why, sizeof(q->why), sqlite3_column_text(st, 4));
}

int rs_store_quarantine_get(rs_store_t *s, const char *locator, rs_quarantine_rec_t *out)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT " QUARANTINE_COLUMNS " FROM quarantine WHERE locator = ?", "t",
					 locator);
	if (st == NULL)
		return RS_EIO;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		quarantine_row(st, out);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? RS_EOK : rc == SQLITE_DONE ? RS_ENOENT : RS_EIO;
}

int rs_store_quarantine_each(rs_store_t *s, const char *zone, void (*fn)(void *arg, const rs_quarantine_rec_t *q),
			     void *arg)
{
	sqlite3_stmt *st = zone != NULL
				   ? store_prepare(s, "SELECT " QUARANTINE_COLUMNS " FROM quarantine WHERE zone = ? "
						   "ORDER BY time, locator", "t", zone)
				   : store_prepare(s, "SELECT " QUARANTINE_COLUMNS " FROM quarantine "
						   "ORDER BY zone, time, locator", "");
	if (st == NULL)
		return RS_EIO;
	rs_quarantine_rec_t *q = malloc(sizeof(*q));
	int rc = SQLITE_NOMEM;
	while (q != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		quarantine_row(st, q);
		fn(arg, q);
	}
	free(q);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? RS_EOK : rc == SQLITE_NOMEM ? RS_ENOMEM : RS_EIO;
}

int rs_store_locator_known(rs_store_t *s, const char *locator, bool *known)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT EXISTS (SELECT 1 FROM key WHERE locator = ?1)"
					 " OR EXISTS (SELECT 1 FROM key_intent WHERE locator = ?1)"
					 " OR EXISTS (SELECT 1 FROM retired_locator WHERE locator = ?1)"
					 " OR EXISTS (SELECT 1 FROM quarantine WHERE locator = ?1)", "t", locator);
	if (st == NULL)
		return RS_EIO;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*known = sqlite3_column_int(st, 0) != 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? RS_EOK : RS_EIO;
}
