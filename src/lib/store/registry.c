/* Registry data in SQLite: registrars and their failed logins, delegations, DS rows, history, CDS scan state. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int step_one(sqlite3_stmt *st)
{
	if (st == NULL)
		return RS_EIO;
	int rc = sqlite3_step(st);
	return rc == SQLITE_ROW ? RS_EOK : rc == SQLITE_DONE ? RS_ENOENT : RS_EIO;
}

#define TEXT(st, i, dst) store_copy_text((dst), sizeof(dst), sqlite3_column_text((st), (i)))

int rs_store_registrar_put(rs_store_t *s, const rs_registrar_rec_t *r, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "INSERT OR REPLACE INTO registrar (id, name, pw_hash, cert, added) "
					 "VALUES (?,?,?,?,?)", "tttti", r->id, r->name,
					 r->pw_hash, r->cert, r->added),
			 diag, "cannot store the registrar");
}

static void registrar_row(sqlite3_stmt *st, rs_registrar_rec_t *r)
{
	memset(r, 0, sizeof(*r));
	TEXT(st, 0, r->id);
	TEXT(st, 1, r->name);
	TEXT(st, 2, r->pw_hash);
	TEXT(st, 3, r->cert);
	r->added = sqlite3_column_int64(st, 4);
}

int rs_store_registrar_get(rs_store_t *s, const char *id, rs_registrar_rec_t *out)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT id, name, pw_hash, cert, added FROM registrar WHERE id = ?",
					 "t", id);
	int ret = step_one(st);
	if (ret == RS_EOK)
		registrar_row(st, out);
	sqlite3_finalize(st);
	return ret;
}

int rs_store_registrar_each(rs_store_t *s, int (*fn)(void *arg, const rs_registrar_rec_t *rec), void *arg)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT id, name, pw_hash, cert, added FROM registrar ORDER BY id", "");
	if (st == NULL)
		return RS_EIO;
	int ret = RS_EOK, rc;
	rs_registrar_rec_t r;
	while (ret == RS_EOK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		registrar_row(st, &r);
		ret = fn(arg, &r);
	}
	if (ret == RS_EOK && rc != SQLITE_DONE)
		ret = RS_EIO;
	sqlite3_finalize(st);
	return ret;
}

int rs_store_login_failures_get(rs_store_t *s, const char *who, unsigned *failures, int64_t *next)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT failures, next FROM login_failure WHERE who = ?", "t", who);
	*failures = 0;
	*next = 0;
	int ret = step_one(st);
	if (ret == RS_EOK) {
		*failures = (unsigned)sqlite3_column_int64(st, 0);
		*next = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return ret;
}

int rs_store_login_failures_put(rs_store_t *s, const char *who, unsigned failures, int64_t next, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "INSERT OR REPLACE INTO login_failure (who, failures, next) VALUES (?,?,?)",
					 "tii", who, (int64_t)failures, next),
			 diag, "cannot count the failed login");
}

int rs_store_login_failures_clear(rs_store_t *s, const char *who, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "DELETE FROM login_failure WHERE who = ?", "t", who), diag,
			 "cannot reset the failed logins");
}

int rs_store_login_failures_expire(rs_store_t *s, const char *prefix, int64_t before, rs_diag_t *diag)
{
	/* substr, not LIKE: a prefix is text, not a pattern. */
	return store_run(s, store_prepare(s, "DELETE FROM login_failure WHERE substr(who, 1, length(?1)) = ?1 AND "
					 "next < ?2", "ti", prefix, before),
			 diag, "cannot forget old failed logins");
}

#define DOMAIN_COLUMNS "name, zone, registrar, ns_ttl, ns, glue, max_sig_life, added, updated"

static void domain_row(sqlite3_stmt *st, rs_domain_rec_t *d)
{
	memset(d, 0, sizeof(*d));
	TEXT(st, 0, d->name);
	TEXT(st, 1, d->zone);
	TEXT(st, 2, d->registrar);
	d->ns_ttl = (uint32_t)sqlite3_column_int64(st, 3);
	TEXT(st, 4, d->ns);
	TEXT(st, 5, d->glue);
	d->max_sig_life = (uint32_t)sqlite3_column_int64(st, 6);
	d->added = sqlite3_column_int64(st, 7);
	d->updated = sqlite3_column_int64(st, 8);
}

int rs_store_domain_put(rs_store_t *s, const rs_domain_rec_t *d, rs_diag_t *diag)
{
	/* An upsert, not INSERT OR REPLACE: a replace would delete the row and with it (cascade) its DS. */
	sqlite3_stmt *st = store_prepare(s, "INSERT INTO domain (" DOMAIN_COLUMNS ") VALUES (?,?,?,?,?,?,?,?,?) "
					 "ON CONFLICT (name) DO UPDATE SET zone = excluded.zone, registrar = "
					 "excluded.registrar, ns_ttl = excluded.ns_ttl, ns = excluded.ns, glue = "
					 "excluded.glue, max_sig_life = excluded.max_sig_life, updated = excluded.updated",
					 "tttittiii", d->name, d->zone, d->registrar, (int64_t)d->ns_ttl, d->ns, d->glue,
					 (int64_t)d->max_sig_life, d->added, d->updated);
	return store_run(s, st, diag, "cannot store the delegation");
}

int rs_store_domain_get(rs_store_t *s, const char *name, rs_domain_rec_t *out)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT " DOMAIN_COLUMNS " FROM domain WHERE name = ?", "t", name);
	int ret = step_one(st);
	if (ret == RS_EOK)
		domain_row(st, out);
	sqlite3_finalize(st);
	return ret;
}

int rs_store_domain_remove(rs_store_t *s, const char *name, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "DELETE FROM domain WHERE name = ?", "t", name), diag,
			 "cannot remove the delegation");
}

static void ds_row(sqlite3_stmt *st, int col, rs_ds_row_t *r)
{
	TEXT(st, col, r->rdata);
	TEXT(st, col + 1, r->dnskey);
	r->added = sqlite3_column_int64(st, col + 2);
}

/* Two cursors in the same name order, merged: one pass over each table however large the zone. */
int rs_store_domain_each(rs_store_t *s, const char *zone,
			 int (*fn)(void *arg, const rs_domain_rec_t *rec, const rs_ds_row_t *ds, size_t nds),
			 void *arg)
{
	sqlite3_stmt *dst = zone != NULL
				    ? store_prepare(s, "SELECT " DOMAIN_COLUMNS " FROM domain WHERE zone = ? ORDER BY name",
						    "t", zone)
				    : store_prepare(s, "SELECT " DOMAIN_COLUMNS " FROM domain ORDER BY name", "");
	sqlite3_stmt *sst = zone != NULL
				    ? store_prepare(s, "SELECT ds.domain, ds.rdata, ds.dnskey, ds.added FROM ds JOIN domain "
						    "ON domain.name = ds.domain WHERE domain.zone = ? ORDER BY ds.domain, "
						    "ds.rowid", "t", zone)
				    : store_prepare(s, "SELECT domain, rdata, dnskey, added FROM ds ORDER BY domain, rowid", "");
	rs_domain_rec_t *d = malloc(sizeof(*d));
	rs_ds_row_t *rows = malloc(RS_STORE_DS_MAX * sizeof(*rows));
	int ret = dst == NULL || sst == NULL ? RS_EIO : d == NULL || rows == NULL ? RS_ENOMEM : RS_EOK;
	int src = ret == RS_EOK ? sqlite3_step(sst) : SQLITE_DONE, drc = SQLITE_DONE;
	while (ret == RS_EOK && (drc = sqlite3_step(dst)) == SQLITE_ROW) {
		domain_row(dst, d);
		size_t n = 0;
		/* DS rows of names before this one belong to no delegation of the zone: skip them. */
		while (src == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(sst, 0), d->name) < 0)
			src = sqlite3_step(sst);
		while (src == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(sst, 0), d->name) == 0) {
			if (n < RS_STORE_DS_MAX)
				ds_row(sst, 1, &rows[n++]);
			src = sqlite3_step(sst);
		}
		ret = fn(arg, d, rows, n);
	}
	if (ret == RS_EOK && (drc != SQLITE_DONE || (src != SQLITE_DONE && src != SQLITE_ROW)))
		ret = RS_EIO;
	free(d);
	free(rows);
	sqlite3_finalize(dst);
	sqlite3_finalize(sst);
	return ret;
}

int rs_store_ds_get(rs_store_t *s, const char *domain, rs_ds_row_t rows[RS_STORE_DS_MAX], size_t *count)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT rdata, dnskey, added FROM ds WHERE domain = ? ORDER BY rowid",
					 "t", domain);
	if (st == NULL)
		return RS_EIO;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < RS_STORE_DS_MAX)
		ds_row(st, 0, &rows[n++]);
	sqlite3_finalize(st);
	*count = n;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? RS_EOK : RS_EIO;
}

int rs_store_ds_add(rs_store_t *s, const char *domain, const rs_ds_row_t *row, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "INSERT OR IGNORE INTO ds (domain, rdata, dnskey, added) VALUES "
					 "(?,?,?,?)", "ttti", domain, row->rdata, row->dnskey, row->added),
			 diag, "cannot store the DS");
}

int rs_store_ds_clear(rs_store_t *s, const char *domain, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "DELETE FROM ds WHERE domain = ?", "t", domain), diag,
			 "cannot remove the DS");
}

int rs_store_domain_history_add(rs_store_t *s, const char *domain, int64_t when, const char *actor,
				const char *what, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "INSERT INTO domain_history (domain, time, actor, what) VALUES "
					 "(?,?,?,?)", "titt", domain, when, actor, what),
			 diag, "cannot record the change");
}

int rs_store_domain_history(rs_store_t *s, const char *domain,
			    void (*fn)(void *arg, int64_t when, const char *actor, const char *what), void *arg)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT time, actor, what FROM domain_history WHERE domain = ? "
					 "ORDER BY id", "t", domain);
	if (st == NULL)
		return RS_EIO;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
		   (const char *)sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? RS_EOK : RS_EIO;
}

int rs_store_cds_get(rs_store_t *s, const char *domain, char digest[65], int64_t *first, unsigned *scans)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT digest, first, scans FROM cds_seen WHERE domain = ?", "t",
					 domain);
	int ret = step_one(st);
	if (ret == RS_EOK) {
		store_copy_text(digest, 65, sqlite3_column_text(st, 0));
		*first = sqlite3_column_int64(st, 1);
		*scans = (unsigned)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return ret;
}

int rs_store_cds_put(rs_store_t *s, const char *domain, const char *digest, int64_t first, unsigned scans,
		     rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "INSERT OR REPLACE INTO cds_seen (domain, digest, first, scans) "
					 "VALUES (?,?,?,?)", "ttii", domain, digest, first, (int64_t)scans),
			 diag, "cannot record the scan");
}

int rs_store_cds_clear(rs_store_t *s, const char *domain, rs_diag_t *diag)
{
	return store_run(s, store_prepare(s, "DELETE FROM cds_seen WHERE domain = ?", "t", domain), diag,
			 "cannot record the scan");
}
