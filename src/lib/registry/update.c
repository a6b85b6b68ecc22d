/*
 * Changes to delegations: DS updates (by registrars, registrants, the
 * registry itself, or a CDS scan) and the delegations themselves. Each change
 * is one transaction with its history line and audit entry; the slow part,
 * asking the child's servers, comes before it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regsign/dns.h"

int rs_registry_check(const rs_registry_t *reg, const rs_domain_rec_t *d, const rs_ds_entry_t *ds, size_t nds,
		      int64_t now, rs_check_report_t *report, rs_diag_t *diag)
{
	uint8_t child[RS_NAME_MAX];
	char name[256];
	char servers[RS_SERVERS_MAX][80];
	size_t n = 0;
	memset(report, 0, sizeof(*report));
	report->checked = true;
	if (registry_name(d->name, name, child) != RS_EOK)
		return rs_diag(diag, RS_ESYNTAX, "'%s' is not a domain name", d->name);
	/* Name servers without an address come into the report as they are found; the addresses follow. */
	rs_diag_t why;
	int ret = rs_delegation_servers(reg, d, servers, &n, report, &why);
	if (ret != RS_EOK && report->count == 0)
		return rs_diag(diag, ret == RS_ENOENT ? RS_ECHECK : ret, "%s: %s", name, why.text);
	for (size_t i = 0; i < n; i++)
		rs_child_prove(servers[i], child, ds, nds, now, reg->timeout_ms, &report->servers[report->count++]);
	size_t good = 0;
	for (size_t i = 0; i < report->count; i++)
		good += report->servers[i].result == RS_EOK;
	if (good == report->count)
		return RS_EOK;
	/* The first failure names the server; the report has them all. */
	for (size_t i = 0; i < report->count; i++)
		if (report->servers[i].result != RS_EOK)
			return rs_diag(diag, RS_ECHECK, "%s: pre-delegation check failed at %zu of %zu servers; %s: %s",
				       name, report->count - good, report->count, report->servers[i].server,
				       report->servers[i].detail);
	return RS_ECHECK;
}

static bool same_ds(const rs_ds_entry_t *a, const rs_ds_entry_t *b)
{
	return a->ds_len == b->ds_len && memcmp(a->ds, b->ds, a->ds_len) == 0;
}

/* The text of a list of entries for history lines: "12345/13/2 ..." (tag/algorithm/digest type). */
static void list_text(const rs_ds_entry_t *e, size_t n, char *out, size_t max)
{
	size_t pos = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && pos < max; i++)
		pos += (size_t)snprintf(out + pos, max - pos, "%s%u/%u/%u", i ? " " : "", rs_get16(e[i].ds), e[i].ds[2],
					e[i].ds[3]);
}

/* The new DS set: current, less rem, plus add (RFC 5910 3.2.5 order). */
static int apply(const rs_ds_change_t *chg, rs_ds_entry_t *set, size_t *count, rs_diag_t *diag)
{
	size_t n = chg->rem_all ? 0 : *count;
	for (size_t r = 0; r < chg->nrem; r++) {
		size_t i = 0;
		while (i < n && !same_ds(&set[i], &chg->rem[r]))
			i++;
		if (i == n) {
			char text[300];
			rs_ds_entry_format(&chg->rem[r], text, sizeof(text));
			return rs_diag(diag, RS_EINVAL, "DS %s is not in the delegation", text);
		}
		memmove(set + i, set + i + 1, (n - i - 1) * sizeof(*set));
		n--;
	}
	for (size_t a = 0; a < chg->nadd; a++) {
		bool dup = false;
		for (size_t i = 0; i < n && !dup; i++)
			dup = same_ds(&set[i], &chg->add[a]);
		if (dup)
			continue;
		if (n == RS_STORE_DS_MAX)
			return rs_diag(diag, RS_ELIMIT, "more than %d DS records in one delegation", RS_STORE_DS_MAX);
		set[n++] = chg->add[a];
	}
	*count = n;
	return RS_EOK;
}

static int load_set(rs_store_t *store, const char *domain, rs_ds_entry_t *set, int64_t *added, size_t *count)
{
	rs_ds_row_t *rows = malloc(RS_STORE_DS_MAX * sizeof(*rows));
	if (rows == NULL)
		return RS_ENOMEM;
	int ret = rs_store_ds_get(store, domain, rows, count);
	for (size_t i = 0; ret == RS_EOK && i < *count; i++) {
		ret = rs_ds_entry_from_row(&rows[i], &set[i]);
		added[i] = rows[i].added;
	}
	free(rows);
	return ret;
}

static int ds_update(const rs_registry_t *reg, const char *domain_in, const char *registrar, const char *actor,
		     const rs_ds_change_t *chg, const char *reason, int64_t now, rs_check_report_t *report,
		     rs_diag_t *diag)
{
	char domain[256];
	rs_domain_rec_t d;
	memset(report, 0, sizeof(*report));
	if (registry_name(domain_in, domain, NULL) != RS_EOK)
		return rs_diag(diag, RS_ESYNTAX, "'%s' is not a domain name", domain_in);
	if (rs_store_domain_get(reg->store, domain, &d) != RS_EOK)
		return rs_diag(diag, RS_ENOENT, "%s: no such delegation", domain);
	if (registrar != NULL && strcmp(d.registrar, registrar) != 0)
		return rs_diag(diag, RS_EDENIED, "%s: sponsored by another registrar", domain);
	if (chg->set_max_sig_life && chg->max_sig_life < reg->min_sig_life)
		return rs_diag(diag, RS_ERANGE, "%s: maxSigLife %u is below the registry's signature validity (%u s)",
			       domain, chg->max_sig_life, reg->min_sig_life);
	if (chg->nadd > 0 && reg->check != RS_CHECK_OFF) {
		int ret = rs_registry_check(reg, &d, chg->add, chg->nadd, now, report, diag);
		if (ret != RS_EOK && reg->check == RS_CHECK_ENFORCE)
			return ret;
	}

	rs_ds_entry_t *set = malloc(RS_STORE_DS_MAX * sizeof(*set));
	rs_ds_row_t *row = malloc(sizeof(*row));
	int64_t added[RS_STORE_DS_MAX];
	size_t count = 0, before;
	if (set == NULL || row == NULL) {
		free(set);
		free(row);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	int ret = rs_store_begin(reg->store, diag);
	if (ret != RS_EOK)
		goto out;
	/* Read again under the write lock: another registrar's change may have come in between. */
	if (rs_store_domain_get(reg->store, domain, &d) != RS_EOK)
		ret = rs_diag(diag, RS_ENOENT, "%s: no such delegation", domain);
	else if (registrar != NULL && strcmp(d.registrar, registrar) != 0)
		ret = rs_diag(diag, RS_EDENIED, "%s: sponsored by another registrar", domain);
	else if ((ret = load_set(reg->store, domain, set, added, &count)) != RS_EOK)
		rs_diag(diag, ret, "%s: cannot read the stored DS records", domain);
	before = count;
	rs_ds_entry_t old[RS_STORE_DS_MAX];
	memcpy(old, set, count * sizeof(*set));
	rs_diag_t why; /* a diagnostic cannot be its own argument */
	if (ret == RS_EOK && (ret = apply(chg, set, &count, &why)) != RS_EOK)
		rs_diag(diag, ret, "%s: %s", domain, why.text);
	if (ret == RS_EOK)
		ret = rs_store_ds_clear(reg->store, domain, diag);
	for (size_t i = 0; ret == RS_EOK && i < count; i++) {
		int64_t when = now;
		for (size_t j = 0; j < before; j++)
			if (same_ds(&old[j], &set[i]))
				when = added[j];
		rs_ds_entry_to_row(&set[i], when, row);
		ret = rs_store_ds_add(reg->store, domain, row, diag);
	}
	if (ret == RS_EOK) {
		if (chg->set_max_sig_life)
			d.max_sig_life = chg->max_sig_life;
		d.updated = now;
		ret = rs_store_domain_put(reg->store, &d, diag);
	}
	char what[1500], rem[400], add[400], now_text[400];
	list_text(chg->rem, chg->nrem, rem, sizeof(rem));
	list_text(chg->add, chg->nadd, add, sizeof(add));
	list_text(set, count, now_text, sizeof(now_text));
	size_t pos = 0;
	what[0] = '\0';
	if (chg->rem_all)
		pos += (size_t)snprintf(what + pos, sizeof(what) - pos, "removed all; ");
	if (chg->nrem)
		pos += (size_t)snprintf(what + pos, sizeof(what) - pos, "removed %s; ", rem);
	if (chg->nadd)
		pos += (size_t)snprintf(what + pos, sizeof(what) - pos, "added %s; ", add);
	if (chg->set_max_sig_life)
		pos += (size_t)snprintf(what + pos, sizeof(what) - pos, "maxSigLife %u; ", chg->max_sig_life);
	snprintf(what + pos, sizeof(what) - pos, "DS now: %s%s%.300s", count ? now_text : "none (insecure)",
		 reason ? "; emergency: " : "", reason ? reason : "");
	if (report->checked && ret == RS_EOK) {
		size_t good = 0;
		for (size_t i = 0; i < report->count; i++)
			good += report->servers[i].result == RS_EOK;
		size_t len = strlen(what);
		snprintf(what + len, sizeof(what) - len, "; check: %zu of %zu servers prove it", good, report->count);
	}
	if (ret == RS_EOK)
		ret = rs_store_domain_history_add(reg->store, domain, now, actor, what, diag);
	if (ret == RS_EOK && reg->record != NULL)
		ret = reg->record(reg->arg, now, actor, reason ? "ds-emergency-remove" : "ds-update", domain, "ok", what, diag);
	ret = registry_finish(reg, ret, diag);
out:
	free(set);
	free(row);
	return ret;
}

int rs_registry_ds_update(const rs_registry_t *reg, const char *domain, const char *registrar, const char *actor,
			  const rs_ds_change_t *chg, const char *reason, int64_t now, rs_check_report_t *report,
			  rs_diag_t *diag)
{
	int ret = ds_update(reg, domain, registrar, actor, chg, reason, now, report, diag);
	/* A refusal is worth an audit entry too: who asked for what, and why not. */
	if (ret == RS_ENOENT || ret == RS_EDENIED || ret == RS_EINVAL || ret == RS_ELIMIT || ret == RS_ERANGE ||
	    ret == RS_ECHECK || ret == RS_ESYNTAX || ret == RS_EALG)
		registry_refused(reg, now, actor, reason ? "ds-emergency-remove" : "ds-update", domain, diag->text);
	return ret;
}

/* Check the names of d (normalising them in place). */
int registry_check_domain(rs_domain_rec_t *d, rs_diag_t *diag)
{
	char name[256], zone[256];
	if (registry_name(d->name, name, NULL) != RS_EOK)
		return rs_diag(diag, RS_ESYNTAX, "'%s' is not a domain name", d->name);
	if (registry_name(d->zone, zone, NULL) != RS_EOK)
		return rs_diag(diag, RS_ESYNTAX, "'%s' is not a zone name", d->zone);
	if (strcmp(name, zone) == 0 || !rs_name_text_under(name, zone))
		return rs_diag(diag, RS_ESYNTAX, "%s is not below the zone %s", name, zone);
	memcpy(d->name, name, sizeof(name));
	memcpy(d->zone, zone, sizeof(zone));
	char ns[sizeof(d->ns)] = "", in[sizeof(d->ns)];
	size_t pos = 0, nns = 0;
	snprintf(in, sizeof(in), "%s", d->ns);
	for (char *save = NULL, *h = strtok_r(in, " ,", &save); h != NULL; h = strtok_r(NULL, " ,", &save)) {
		char host[256];
		if (registry_name(h, host, NULL) != RS_EOK)
			return rs_diag(diag, RS_ESYNTAX, "%s: name server '%s' is not a host name", name, h);
		if (pos + strlen(host) + 2 > sizeof(ns))
			return rs_diag(diag, RS_ELIMIT, "%s: too many name servers", name);
		pos += (size_t)snprintf(ns + pos, sizeof(ns) - pos, "%s%s", nns++ ? " " : "", host);
	}
	if (nns == 0)
		return rs_diag(diag, RS_ESYNTAX, "%s: a delegation needs at least one name server", name);
	char glue[sizeof(d->glue)] = "", gin[sizeof(d->glue)];
	pos = 0;
	snprintf(gin, sizeof(gin), "%s", d->glue);
	for (char *save = NULL, *g = strtok_r(gin, " ,", &save); g != NULL; g = strtok_r(NULL, " ,", &save)) {
		char *slash = strchr(g, '/'), host[256];
		unsigned char buf[16];
		if (slash == NULL)
			return rs_diag(diag, RS_ESYNTAX, "%s: glue '%s' is not HOST/ADDRESS", name, g);
		*slash = '\0';
		if (registry_name(g, host, NULL) != RS_EOK)
			return rs_diag(diag, RS_ESYNTAX, "%s: glue host '%s' is not a host name", name, g);
		if (inet_pton(AF_INET, slash + 1, buf) != 1 && inet_pton(AF_INET6, slash + 1, buf) != 1)
			return rs_diag(diag, RS_ESYNTAX, "%s: glue address '%s' is not IPv4 or IPv6", name, slash + 1);
		if (!rs_name_text_under(host, name))
			return rs_diag(diag, RS_ESYNTAX, "%s: glue for %s, which is outside the domain", name, host);
		if (!registry_names_include(ns, host))
			return rs_diag(diag, RS_ESYNTAX, "%s: glue for %s, which is not one of its name servers", name, host);
		if (pos + strlen(host) + strlen(slash + 1) + 3 > sizeof(glue))
			return rs_diag(diag, RS_ELIMIT, "%s: too many glue addresses", name);
		pos += (size_t)snprintf(glue + pos, sizeof(glue) - pos, "%s%s/%s", pos ? " " : "", host, slash + 1);
	}
	/* A server inside the domain is unreachable without glue (RFC 1034 4.2.1). */
	snprintf(in, sizeof(in), "%s", ns);
	for (char *save = NULL, *h = strtok_r(in, " ", &save); h != NULL; h = strtok_r(NULL, " ", &save)) {
		const char *pos = NULL;
		char addr[64];
		if (rs_name_text_under(h, name) && !rs_glue_next(glue, h, &pos, addr))
			return rs_diag(diag, RS_ESYNTAX, "%s: name server %s is inside the domain and needs glue", name, h);
	}
	memcpy(d->ns, ns, sizeof(ns));
	memcpy(d->glue, glue, sizeof(glue));
	return RS_EOK;
}

int registry_put_domain(const rs_registry_t *reg, rs_domain_rec_t *d, const char *actor, int64_t now, bool audit,
			rs_diag_t *diag)
{
	int ret = registry_check_domain(d, diag);
	if (ret != RS_EOK)
		return ret;
	/* Refused where it enters: once stored, it would only be left out of the zone. */
	if (reg->max_ttl != 0 && d->ns_ttl > reg->max_ttl)
		return rs_diag(diag, RS_ERANGE, "%s: NS TTL %u is above the policy's largest zone TTL (ttl.max-zone %u)",
			       d->name, d->ns_ttl, reg->max_ttl);
	rs_registrar_rec_t r;
	if (rs_store_registrar_get(reg->store, d->registrar, &r) != RS_EOK)
		return rs_diag(diag, RS_ENOENT, "%s: no registrar '%s'", d->name, d->registrar);
	rs_domain_rec_t old;
	bool exists = rs_store_domain_get(reg->store, d->name, &old) == RS_EOK;
	d->added = exists ? old.added : now;
	d->updated = now;
	if (exists && d->max_sig_life == 0)
		d->max_sig_life = old.max_sig_life;
	ret = rs_store_domain_put(reg->store, d, diag);
	/* A managed zone with delegations in the registry is built from them from now on. */
	if (ret == RS_EOK)
		ret = rs_store_zone_mark_registry(reg->store, d->zone, diag);
	char what[3400];
	snprintf(what, sizeof(what), "%s: sponsor %s, NS %s (TTL %u)%s%s", exists ? "changed" : "added", d->registrar,
		 d->ns, d->ns_ttl, d->glue[0] ? ", glue " : "", d->glue);
	if (ret == RS_EOK)
		ret = rs_store_domain_history_add(reg->store, d->name, now, actor, what, diag);
	if (ret == RS_EOK && audit && reg->record != NULL)
		ret = reg->record(reg->arg, now, actor, exists ? "domain-change" : "domain-add", d->name, "ok", what, diag);
	return ret;
}

int rs_registry_domain_put(const rs_registry_t *reg, const rs_domain_rec_t *d_in, const char *actor, int64_t now,
			   rs_diag_t *diag)
{
	rs_domain_rec_t d = *d_in;
	int ret = rs_store_begin(reg->store, diag);
	if (ret != RS_EOK)
		return ret;
	ret = registry_finish(reg, registry_put_domain(reg, &d, actor, now, true, diag), diag);
	if (ret == RS_ESYNTAX || ret == RS_ELIMIT || ret == RS_ERANGE || ret == RS_ENOENT)
		registry_refused(reg, now, actor, "domain-add", d_in->name, diag->text);
	return ret;
}

void registry_refused(const rs_registry_t *reg, int64_t now, const char *actor, const char *action, const char *domain,
		      const char *why)
{
	rs_diag_t diag;
	if (reg->record == NULL || rs_store_begin(reg->store, &diag) != RS_EOK)
		return;
	registry_finish(reg, reg->record(reg->arg, now, actor, action, domain, "refused", why, &diag), &diag);
}

int registry_finish(const rs_registry_t *reg, int ret, rs_diag_t *diag)
{
	if (ret == RS_EOK)
		ret = rs_store_commit(reg->store, diag);
	if (ret != RS_EOK)
		rs_store_rollback(reg->store);
	else if (reg->committed != NULL)
		reg->committed(reg->arg);
	return ret;
}
