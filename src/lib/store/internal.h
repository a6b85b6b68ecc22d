/* Private to the store: the handle's body and the statement helpers its files share. */
#pragma once

#include <sqlite3.h>

#include "regsign/store.h"

struct rs_store {
	sqlite3 *db;
	char *dir;
	unsigned nested_read; /* rs_store_read_begin inside a write transaction */
};

/* Migration 2 -> 3: registrars, delegations, their DS records and history, CDS scans. */
#define STORE_REGISTRY_SCHEMA                                                                              \
	"CREATE TABLE registrar (id TEXT PRIMARY KEY, name TEXT NOT NULL, pw_hash TEXT NOT NULL,"          \
	"  cert TEXT NOT NULL, added INTEGER NOT NULL);"                                                   \
	"CREATE UNIQUE INDEX registrar_cert ON registrar (cert) WHERE cert != '';"                        \
	"CREATE TABLE domain (name TEXT PRIMARY KEY, zone TEXT NOT NULL,"                                  \
	"  registrar TEXT NOT NULL REFERENCES registrar (id), ns_ttl INTEGER NOT NULL, ns TEXT NOT NULL,"   \
	"  glue TEXT NOT NULL, max_sig_life INTEGER NOT NULL, added INTEGER NOT NULL,"                     \
	"  updated INTEGER NOT NULL);"                                                                    \
	"CREATE INDEX domain_zone ON domain (zone, name);"                                                 \
	"CREATE TABLE ds (domain TEXT NOT NULL REFERENCES domain (name) ON DELETE CASCADE,"                \
	"  rdata TEXT NOT NULL, dnskey TEXT NOT NULL, added INTEGER NOT NULL, PRIMARY KEY (domain, rdata));" \
	"CREATE TABLE domain_history (id INTEGER PRIMARY KEY, domain TEXT NOT NULL, time INTEGER NOT NULL," \
	"  actor TEXT NOT NULL, what TEXT NOT NULL);"                                                      \
	"CREATE INDEX domain_history_name ON domain_history (domain, id);"                                 \
	"CREATE TABLE cds_seen (domain TEXT PRIMARY KEY REFERENCES domain (name) ON DELETE CASCADE,"       \
	"  digest TEXT NOT NULL, first INTEGER NOT NULL, scans INTEGER NOT NULL);"

/* Map the database's last error to an RS_E code, with "DIR/state.db: doing: reason" in diag. */
int store_db_error(rs_store_t *s, rs_diag_t *diag, const char *doing);
/* Prepare sql binding the arguments fmt describes: 't' text, 'i' int64. NULL on failure. */
sqlite3_stmt *store_prepare(rs_store_t *s, const char *sql, const char *fmt, ...);
/* Step a statement that returns no rows, then finalize it (st may be NULL: a failed prepare). */
int store_run(rs_store_t *s, sqlite3_stmt *st, rs_diag_t *diag, const char *doing);
/* Copy a column's text (NULL reads as "") into dst of max octets. */
void store_copy_text(char *dst, size_t max, const unsigned char *src);
