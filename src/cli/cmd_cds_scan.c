/*
 * regsign cds-scan: the CDS/CDNSKEY of secure children (RFC 7344, RFC 8078).
 * A set is applied only when it is validly signed by a key the current DS
 * vouches for, the same at every name server, and the same at two scans in a
 * row; the delete signal removes the DS. Insecure children can be
 * bootstrapped from their name servers' signals (RFC 9615).
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "managed.h"
#include "registry.h"
#include "regsign/dns.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign cds-scan [--zone ZONE] [--domain NAME] [--bootstrap] [--dry-run]\n"
		"\n"
		"Asks every name server of each secure delegation (one with DS records) for its\n"
		"CDS and CDNSKEY RRsets. A set is taken only if it is signed by a key that matches\n"
		"the current DS and signs the child's DNSKEY RRset, would itself be proven by that\n"
		"DNSKEY RRset, is the same at every server, and was already seen by the previous\n"
		"scan (so run it periodically, e.g. hourly). It then replaces the delegation's DS\n"
		"records, or removes them for the delete signal (CDS 0 0 0 00, CDNSKEY 0 3 0 AA==).\n"
		"--bootstrap also scans insecure delegations (RFC 9615): their CDS/CDNSKEY is taken\n"
		"when the operator of every name server signals the same set at\n"
		"_dsboot.CHILD._signal.NAMESERVER, validated through a secure delegation of this\n"
		"registry that holds the name server's name, and the child's servers prove it.\n"
		"Every change is in the domain's history and the audit log as cds-scan.\n"
		"--dry-run reports without recording or changing anything.\n"
		"\n"
		"example:\n"
		"  regsign cds-scan --zone cloud.\n");
}

typedef struct {
	rs_registry_t reg;
	const char *only;
	bool dry_run;
	bool bootstrap; /* scan insecure delegations too (RFC 9615) */
	int64_t now;
	unsigned seen, applied, refused;
	char (*names)[256]; /* the secure delegations, collected before any change is written */
	size_t count, cap;
} scan_t;

/* Remember (or forget, digest NULL) what this scan saw. */
static void note_scan(scan_t *sc, const char *domain, const char *digest, int64_t first, unsigned scans)
{
	if (sc->dry_run)
		return;
	rs_diag_t diag;
	rs_store_t *store = sc->reg.store;
	int ret = rs_store_begin(store, &diag);
	if (ret == RS_EOK)
		ret = digest != NULL ? rs_store_cds_put(store, domain, digest, first, scans, &diag)
				     : rs_store_cds_clear(store, domain, &diag);
	if (ret == RS_EOK)
		ret = rs_store_commit(store, &diag);
	if (ret != RS_EOK) {
		rs_store_rollback(store);
		cli_error("%s: %s", domain, diag.text);
	}
}

static int collect(void *arg, const rs_domain_rec_t *d, const rs_ds_row_t *rows, size_t nrows)
{
	scan_t *sc = arg;
	(void)rows;
	if ((nrows == 0 && !sc->bootstrap) || (sc->only != NULL && strcmp(sc->only, d->name) != 0))
		return RS_EOK;
	if (sc->count == sc->cap) {
		size_t cap = sc->cap ? 2 * sc->cap : 64;
		char(*v)[256] = realloc(sc->names, cap * sizeof(*v));
		if (v == NULL)
			return RS_ENOMEM;
		sc->names = v;
		sc->cap = cap;
	}
	memcpy(sc->names[sc->count++], d->name, 256);
	return RS_EOK;
}

/* A set every server agreed on: apply it once two scans in a row saw it. what names it in messages. */
static int settle(scan_t *sc, const rs_domain_rec_t *d, const rs_cds_set_t *set, size_t nservers, const char *what)
{
	char digest[65], old[65];
	int64_t first;
	unsigned scans;
	sodium_bin2hex(digest, sizeof(digest), set->digest, 32);
	bool stable = rs_store_cds_get(sc->reg.store, d->name, old, &first, &scans) == RS_EOK &&
		      strcmp(old, digest) == 0 && scans >= 1;
	if (!stable) {
		printf("%s: new %s seen at %zu servers; taken if the next scan sees it again\n", d->name, what, nservers);
		sc->seen++;
		note_scan(sc, d->name, digest, sc->now, 1);
		return RS_EOK;
	}
	if (sc->dry_run) {
		printf("%s: would apply the %s\n", d->name, what);
		return RS_EOK;
	}
	rs_ds_change_t *chg = calloc(1, sizeof(*chg));
	if (chg == NULL)
		return RS_ENOMEM;
	chg->rem_all = true;
	chg->nadd = set->remove ? 0 : set->count;
	memcpy(chg->add, set->entries, chg->nadd * sizeof(*chg->add));
	rs_check_report_t report;
	rs_diag_t diag;
	rs_registry_t reg = sc->reg;
	reg.check = RS_CHECK_OFF; /* the scan has proven the new set at every server */
	int ret = rs_registry_ds_update(&reg, d->name, NULL, "cds-scan", chg, NULL, sc->now, &report, &diag);
	free(chg);
	if (ret != RS_EOK) {
		printf("%s: not applied: %s\n", d->name, diag.text);
		sc->refused++;
	} else {
		printf("%s: %s applied\n", d->name, set->remove ? "delete signal (DS removed)" : what);
		sc->applied++;
	}
	note_scan(sc, d->name, NULL, 0, 0);
	return RS_EOK;
}

static int refuse(scan_t *sc, const rs_domain_rec_t *d, const char *why)
{
	printf("%s: not taken: %s\n", d->name, why);
	sc->refused++;
	note_scan(sc, d->name, NULL, 0, 0);
	return RS_EOK;
}

/* Do all n sets agree? Else diag names two servers that differ. */
static bool agree(const rs_cds_set_t *sets, char servers[][80], size_t n, rs_diag_t *diag)
{
	for (size_t i = 1; i < n; i++)
		if (sets[i].present != sets[0].present || memcmp(sets[i].digest, sets[0].digest, 32) != 0) {
			rs_diag(diag, RS_ECHECK, "%s and %s publish different CDS/CDNSKEY sets", servers[0], servers[i]);
			return false;
		}
	return true;
}

static rs_cds_set_t sets[RS_SERVERS_MAX];

/* RFC 7344 / 8078: a secure child's CDS/CDNSKEY, vouched for by its current DS. */
static int scan_secure(scan_t *sc, const rs_domain_rec_t *d, const rs_ds_entry_t *cur, size_t ncur)
{
	uint8_t child[RS_NAME_MAX];
	rs_dname_from_str(d->name, child);
	char servers[RS_SERVERS_MAX][80];
	size_t n = 0, present = 0;
	rs_diag_t diag;
	int ret = rs_delegation_servers(&sc->reg, d, servers, &n, NULL, &diag);
	for (size_t i = 0; ret == RS_EOK && i < n; i++) {
		ret = rs_child_cds(servers[i], child, cur, ncur, sc->now, sc->reg.timeout_ms, &sets[i], &diag);
		present += sets[i].present;
	}
	if (ret == RS_EOK && present == 0) {
		note_scan(sc, d->name, NULL, 0, 0);
		return RS_EOK;
	}
	if (ret != RS_EOK || !agree(sets, servers, n, &diag))
		return refuse(sc, d, diag.text);
	bool same = sets[0].count == ncur && !sets[0].remove;
	for (size_t i = 0; same && i < ncur; i++) {
		bool found = false;
		for (size_t j = 0; j < ncur && !found; j++)
			found = sets[0].entries[i].ds_len == cur[j].ds_len &&
				memcmp(sets[0].entries[i].ds, cur[j].ds, cur[j].ds_len) == 0;
		same = found;
	}
	if (same) {
		note_scan(sc, d->name, NULL, 0, 0);
		return RS_EOK;
	}
	return settle(sc, d, &sets[0], n, "CDS set");
}

/*
 * RFC 9615: an insecure child's CDS/CDNSKEY, taken only when the operator of
 * every one of its name servers signals the same set under that server's
 * name, in a signalling zone this registry holds a DS for (the chain of
 * trust regsign can check without a validating resolver).
 */
static int scan_bootstrap(scan_t *sc, const rs_domain_rec_t *d)
{
	uint8_t child[RS_NAME_MAX];
	rs_dname_from_str(d->name, child);
	char servers[RS_SERVERS_MAX][80], why[1800];
	size_t n = 0, present = 0;
	rs_diag_t diag;
	if (rs_delegation_servers(&sc->reg, d, servers, &n, NULL, &diag) != RS_EOK)
		return RS_EOK;
	int ret = RS_EOK;
	for (size_t i = 0; ret == RS_EOK && i < n; i++) {
		ret = rs_child_apex_cds(servers[i], child, sc->reg.timeout_ms, &sets[i], &diag);
		present += sets[i].present;
	}
	if (present == 0 || (ret == RS_EOK && sets[0].remove))
		return RS_EOK; /* nothing to bootstrap */
	if (ret != RS_EOK || !agree(sets, servers, n, &diag))
		return refuse(sc, d, diag.text);
	static rs_cds_set_t apex, signal;
	apex = sets[0];
	char ns[sizeof(d->ns)];
	snprintf(ns, sizeof(ns), "%s", d->ns);
	for (char *save = NULL, *host = strtok_r(ns, " ", &save); host != NULL; host = strtok_r(NULL, " ", &save)) {
		if (rs_name_text_under(host, d->name)) {
			snprintf(why, sizeof(why), "name server %s is inside the child: nothing can vouch for it (RFC 9615 "
				 "needs name servers outside)", host);
			return refuse(sc, d, why);
		}
		/* The signalling zone: the registry's delegation that holds the name server's name, if secure. */
		rs_domain_rec_t sz;
		rs_ds_row_t rows[RS_STORE_DS_MAX];
		size_t nrows = 0;
		if (rs_registry_holder(sc->reg.store, host, &sz) != RS_EOK ||
		    rs_store_ds_get(sc->reg.store, sz.name, rows, &nrows) != RS_EOK || nrows == 0) {
			snprintf(why, sizeof(why), "name server %s is not below a secure delegation of this registry: its "
				 "signal cannot be validated here", host);
			return refuse(sc, d, why);
		}
		rs_ds_entry_t sds[RS_STORE_DS_MAX];
		size_t nsds = rs_ds_entries_from_rows(rows, nrows, sds);
		uint8_t nsw[RS_NAME_MAX], szw[RS_NAME_MAX];
		char sservers[RS_SERVERS_MAX][80];
		size_t ns_n = 0;
		rs_dname_from_str(host, nsw);
		rs_dname_from_str(sz.name, szw);
		if (rs_delegation_servers(&sc->reg, &sz, sservers, &ns_n, NULL, &diag) != RS_EOK)
			return refuse(sc, d, diag.text);
		for (size_t i = 0; i < ns_n; i++) {
			if (rs_child_signal(sservers[i], child, nsw, szw, sds, nsds, sc->now, sc->reg.timeout_ms, &signal,
					    &diag) != RS_EOK)
				return refuse(sc, d, diag.text);
			if (!signal.present || signal.remove || memcmp(signal.digest, apex.digest, 32) != 0) {
				snprintf(why, sizeof(why), "%s: the signal for name server %s %s the child's own CDS/CDNSKEY",
					 sservers[i], host, signal.present ? "differs from" : "is missing; needed beside");
				return refuse(sc, d, why);
			}
		}
	}
	/* Applying it must make a secure delegation, not a bogus one: the child's servers must prove the set. */
	for (size_t i = 0; i < n; i++) {
		rs_server_result_t r;
		rs_child_prove(servers[i], child, apex.entries, apex.count, sc->now, sc->reg.timeout_ms, &r);
		if (r.result != RS_EOK) {
			snprintf(why, sizeof(why), "%s: the signalled DS set is not proven: %s", r.server, r.detail);
			return refuse(sc, d, why);
		}
	}
	return settle(sc, d, &apex, n, "bootstrap CDS set (RFC 9615)");
}

static int scan_one(scan_t *sc, const rs_domain_rec_t *d, const rs_ds_row_t *rows, size_t nrows)
{
	rs_ds_entry_t cur[RS_STORE_DS_MAX];
	size_t ncur = rs_ds_entries_from_rows(rows, nrows, cur);
	return ncur > 0 ? scan_secure(sc, d, cur, ncur) : scan_bootstrap(sc, d);
}

int cmd_cds_scan(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' }, { "domain", required_argument, NULL, 'd' },
		{ "dry-run", no_argument, NULL, 'n' },	  { "bootstrap", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *zone = NULL, *domain = NULL;
	scan_t sc = { .now = cli_now() };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "z:d:nbh", opts, NULL)) != -1) {
		switch (c) {
		case 'z': zone = optarg; break;
		case 'd': domain = optarg; break;
		case 'n': sc.dry_run = true; break;
		case 'b': sc.bootstrap = true; break;
		case 'h': help(stdout); return RS_EOK;
		default: help(stderr); return RS_EINVAL;
		}
	}
	char zname[256], dname[256];
	uint8_t wire[255];
	if (optind != argc) {
		help(stderr);
		return RS_EINVAL;
	}
	if ((zone != NULL && !cli_zone_name(zone, zname, wire)) || (domain != NULL && !cli_zone_name(domain, dname, wire)))
		return RS_EINVAL;
	sc.only = domain != NULL ? dname : NULL;
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != RS_EOK)
		return code;
	cli_registry(store, zone != NULL ? zname : NULL, &sc.reg);
	int ret = rs_store_domain_each(store, zone != NULL ? zname : NULL, collect, &sc);
	rs_domain_rec_t d;
	static rs_ds_row_t rows[RS_STORE_DS_MAX];
	for (size_t i = 0; ret == RS_EOK && i < sc.count; i++) {
		size_t nrows = 0;
		if (rs_store_domain_get(store, sc.names[i], &d) == RS_EOK &&
		    rs_store_ds_get(store, sc.names[i], rows, &nrows) == RS_EOK)
			ret = scan_one(&sc, &d, rows, nrows);
	}
	free(sc.names);
	rs_store_close(store);
	if (ret != RS_EOK) {
		cli_error("cannot read the registry data: %s", rs_strerror(ret));
		return ret;
	}
	printf("cds-scan: %u applied, %u seen once, %u not taken\n", sc.applied, sc.seen, sc.refused);
	return RS_EOK;
}
