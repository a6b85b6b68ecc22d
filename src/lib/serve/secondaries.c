/*
 * A zone's secondaries and their TSIG key. The secret lives in a file of
 * its own (DIR/tsig/NAME.key, 0600), never in the database or a message.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "regsign/audit.h"
#include "internal.h"

void serve_audit(rs_store_t *store, int64_t now, const char *operator, const char *action, const char *zone,
		 const char *result, const char *detail, const rs_log_t *log)
{
	rs_diag_t diag;
	rs_audit_event_t e = { now, operator, action, zone, 0, result, detail };
	int ret = rs_store_begin(store, &diag);
	if (ret == RS_EOK && (ret = rs_audit_record(store, &e, &diag)) == RS_EOK)
		ret = rs_store_commit(store, &diag);
	else if (ret == RS_EOK)
		rs_store_rollback(store);
	char target[512] = "";
	rs_store_setting_get(store, RS_SET_SYSLOG, target, sizeof(target));
	if (ret == RS_EOK)
		ret = rs_audit_flush(store, target, &diag);
	if (ret != RS_EOK)
		rs_log(log, RS_LOG_ERR, zone, "ALARM: audit: %s", diag.text);
}

/* A key name is a DNS name, any but the root; its file-name form (key_path) stays inside DIR/tsig. */
static bool key_name_ok(const char *name)
{
	uint8_t wire[RS_NAME_MAX];
	return strcmp(name, ".") != 0 && rs_dname_from_str(name, wire) == RS_EOK;
}

/* tsig/NAME.key, NAME the key name's file-name form without its final dot ("xfr.key" for xfr.key.);
 * for a name key_name_ok accepted. */
static void key_path(rs_store_t *store, const char *name, char *out, size_t max)
{
	char file[3 * RS_NAME_MAX + 1];
	if (rs_dname_str_to_filename(name, false, file, sizeof(file)) < 0)
		file[0] = '\0';
	snprintf(out, max, "%s/tsig/%s.key", rs_store_dir(store), file);
}

int rs_serve_tsig_load(rs_store_t *store, const char *name, rs_tsig_key_t *key, rs_diag_t *diag)
{
	if (!key_name_ok(name))
		return rs_diag(diag, RS_EINVAL, "TSIG key name '%s' is not usable", name);
	char path[4400], text[512];
	key_path(store, name, path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return rs_diag(diag, -errno, "TSIG key %s: %s: %s", name, path, strerror(errno));
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	text[strcspn(text, "\r\n")] = '\0';
	rs_diag_t why;
	int ret = rs_tsig_key_parse(text, key, &why);
	explicit_bzero(text, sizeof(text));
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "TSIG key %s: %s: %s", name, path, why.text);
	return RS_EOK;
}

static int save_key(rs_store_t *store, const char *text, const rs_tsig_key_t *key, rs_diag_t *diag)
{
	char dir[4200], path[4400];
	snprintf(dir, sizeof(dir), "%s/tsig", rs_store_dir(store));
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return rs_diag(diag, -errno, "%s: %s", dir, strerror(errno));
	key_path(store, key->name, path, sizeof(path));
	rs_outfile_t *out;
	int ret = rs_outfile_open(path, 0600, &out, diag);
	if (ret != RS_EOK)
		return ret;
	fprintf(rs_outfile_stream(out), "%s\n", text);
	return rs_outfile_commit(out, diag);
}

int rs_serve_set_secondaries(rs_store_t *store, const char *zone, const char *const *addrs, size_t n,
			     const char *tsig, int64_t now, const char *operator, rs_diag_t *diag)
{
	if (n > SERVE_MAX_SECONDARIES)
		return rs_diag(diag, RS_ELIMIT, "%s: at most %d secondaries", zone, SERVE_MAX_SECONDARIES);
	rs_secondary_t s;
	rs_diag_t why;
	for (size_t i = 0; i < n; i++)
		if (rs_secondary_parse(addrs[i], &s, &why) != RS_EOK)
			return rs_diag(diag, RS_ESYNTAX, "%s: secondary '%s': %s", zone, addrs[i], why.text);
	rs_tsig_key_t key = { 0 };
	if (tsig != NULL) {
		if (rs_tsig_key_parse(tsig, &key, &why) != RS_EOK)
			return rs_diag(diag, RS_ESYNTAX, "%s: --tsig: %s", zone, why.text);
		if (!key_name_ok(key.name))
			return rs_diag(diag, RS_ESYNTAX, "%s: TSIG key name '%s' is not usable as a file name", zone,
				       key.name);
	}
	rs_zone_rec_t z;
	int ret = rs_store_begin(store, diag);
	if (ret != RS_EOK)
		return ret;
	if (rs_store_zone_get(store, zone, &z) != RS_EOK) {
		rs_store_rollback(store);
		return rs_diag(diag, RS_ENOENT, "%s: not a managed zone", zone);
	}
	/* The secret is on disk before any row names it. */
	if (tsig != NULL)
		ret = save_key(store, tsig, &key, diag);
	if (ret == RS_EOK)
		ret = rs_store_secondaries_set(store, z.name, addrs, n, tsig != NULL ? key.name : "", diag);
	char detail[1200] = "";
	size_t len = 0;
	for (size_t i = 0; i < n && len < sizeof(detail); i++)
		len += (size_t)snprintf(detail + len, sizeof(detail) - len, "%s%s", i ? " " : "", addrs[i]);
	if (n == 0)
		snprintf(detail, sizeof(detail), "none");
	if (tsig != NULL && len < sizeof(detail))
		snprintf(detail + len, sizeof(detail) - len, ", TSIG key %s (%s)", key.name, key.algorithm);
	rs_audit_event_t e = { now, operator, "secondaries", z.name, 0, "ok", detail };
	if (ret == RS_EOK)
		ret = rs_audit_record(store, &e, diag);
	explicit_bzero(&key, sizeof(key));
	if (ret == RS_EOK)
		ret = rs_store_commit(store, diag);
	else
		rs_store_rollback(store);
	if (ret == RS_EOK) {
		char target[512] = "";
		rs_store_setting_get(store, RS_SET_SYSLOG, target, sizeof(target));
		rs_diag_t adiag;
		if (rs_audit_flush(store, target, &adiag) != RS_EOK)
			return rs_diag(diag, RS_EIO, "%s: the secondaries are set, but the audit log: %s", z.name,
				       adiag.text);
	}
	return ret;
}
