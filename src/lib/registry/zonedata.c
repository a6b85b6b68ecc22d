/* Registry data to and from zone text: import of an existing zone's delegations, and the registry zone. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regsign/dns.h"
#include "regsign/zone.h"

/* Append text to a space-separated list of max octets; false when it does not fit. */
static bool list_add(char *list, size_t max, const char *text)
{
	size_t len = strlen(list);
	int n = snprintf(list + len, max - len, "%s%s", len ? " " : "", text);
	return n > 0 && (size_t)n < max - len;
}

typedef struct {
	const rs_registry_t *reg;
	const rs_zone_t *zone;
	const char *path;
	const char *actor;
	int64_t now;
	rs_domain_rec_t d;
	rs_ds_entry_t ds[RS_STORE_DS_MAX];
	size_t nds;
	const rs_name_t *cut; /* the delegation being collected, NULL if none */
	size_t count;
} import_t;

static int flush_delegation(import_t *im, rs_diag_t *diag)
{
	if (im->cut == NULL)
		return RS_EOK;
	im->cut = NULL;
	int ret = registry_put_domain(im->reg, &im->d, im->actor, im->now, false, diag);
	if (ret == RS_EOK)
		ret = rs_store_ds_clear(im->reg->store, im->d.name, diag);
	rs_ds_row_t *row = malloc(sizeof(*row));
	for (size_t i = 0; ret == RS_EOK && i < im->nds; i++) {
		if (row == NULL) {
			ret = rs_diag(diag, RS_ENOMEM, "out of memory");
			break;
		}
		rs_ds_entry_to_row(&im->ds[i], im->now, row);
		ret = rs_store_ds_add(im->reg->store, im->d.name, row, diag);
	}
	free(row);
	im->count += ret == RS_EOK;
	return ret;
}

static int start_delegation(import_t *im, const rs_node_t *node, const char *registrar, rs_diag_t *diag)
{
	const rs_rr_t *rrs = rs_zone_rrs(im->zone);
	uint32_t b, e;
	memset(&im->d, 0, sizeof(im->d));
	rs_dname_to_str(rs_name_wire(node->name), im->d.name, sizeof(im->d.name));
	rs_dname_to_str(rs_name_wire(rs_zone_origin(im->zone)), im->d.zone, sizeof(im->d.zone));
	snprintf(im->d.registrar, sizeof(im->d.registrar), "%s", registrar);
	rs_node_rrset(im->zone, node, RS_TYPE_NS, &b, &e);
	im->d.ns_ttl = rrs[b].ttl;
	for (uint32_t i = b; i < e; i++) {
		char host[1024];
		rs_dname_to_str(rrs[i].rdata, host, sizeof(host));
		if (!list_add(im->d.ns, sizeof(im->d.ns), host))
			return rs_diag(diag, RS_ELIMIT, "%s:%u: %s: too many name servers", im->path, rrs[i].line,
				       im->d.name);
	}
	im->nds = 0;
	if (rs_node_rrset(im->zone, node, RS_TYPE_DS, &b, &e)) {
		for (uint32_t i = b; i < e; i++) {
			if (im->nds == RS_STORE_DS_MAX)
				return rs_diag(diag, RS_ELIMIT, "%s:%u: more than %d DS records", im->path, rrs[i].line,
					       RS_STORE_DS_MAX);
			if (rrs[i].rdlen < 5 || rrs[i].rdlen > RS_DS_RDATA_MAX)
				return rs_diag(diag, RS_ESYNTAX, "%s:%u: malformed DS", im->path, rrs[i].line);
			rs_ds_entry_t *ds = &im->ds[im->nds++];
			memcpy(ds->ds, rrs[i].rdata, rrs[i].rdlen);
			ds->ds_len = rrs[i].rdlen;
			ds->key_len = 0;
		}
	}
	im->cut = node->name;
	return RS_EOK;
}

/* Glue: an address of one of the delegation's own name servers. */
static int add_glue(import_t *im, const rs_node_t *node, rs_diag_t *diag)
{
	char host[1024];
	rs_dname_to_str(rs_name_wire(node->name), host, sizeof(host));
	if (!registry_names_include(im->d.ns, host))
		return RS_EOK; /* occluded data, not glue: the registry zone has no place for it */
	const rs_rr_t *rrs = rs_zone_rrs(im->zone);
	for (uint32_t i = node->first; i < node->first + node->count; i++) {
		char addr[64], item[1100];
		if (rrs[i].type == RS_TYPE_A && rrs[i].rdlen == 4)
			snprintf(addr, sizeof(addr), "%u.%u.%u.%u", rrs[i].rdata[0], rrs[i].rdata[1], rrs[i].rdata[2],
				 rrs[i].rdata[3]);
		else if (rrs[i].type != RS_TYPE_AAAA || rrs[i].rdlen != 16 ||
			 inet_ntop(AF_INET6, rrs[i].rdata, addr, sizeof(addr)) == NULL)
			continue;
		snprintf(item, sizeof(item), "%s/%s", host, addr);
		if (!list_add(im->d.glue, sizeof(im->d.glue), item))
			return rs_diag(diag, RS_ELIMIT, "%s:%u: %s: too many glue addresses", im->path, rrs[i].line,
				       im->d.name);
	}
	return RS_EOK;
}

int rs_registry_import(const rs_registry_t *reg, const char *zone_name, const char *path, const char *registrar,
		       const char *actor, int64_t now, size_t *count, rs_diag_t *diag)
{
	uint8_t origin[RS_NAME_MAX];
	if (rs_dname_from_str(zone_name, origin) < 0)
		return rs_diag(diag, RS_ESYNTAX, "'%s' is not a zone name", zone_name);
	rs_zone_opts_t zo = { .threads = 1 };
	rs_zone_t *zone = NULL;
	int ret = rs_zone_new(origin, &zo, &zone);
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "%s", rs_strerror(ret));
	ret = rs_zone_read(zone, path, diag);
	if (ret == RS_EOK)
		ret = rs_zone_finish(zone, diag);
	import_t *im = calloc(1, sizeof(*im));
	if (ret == RS_EOK && im == NULL)
		ret = rs_diag(diag, RS_ENOMEM, "out of memory");
	if (ret == RS_EOK)
		ret = rs_store_begin(reg->store, diag);
	if (ret != RS_EOK) {
		free(im);
		rs_zone_free(zone);
		return ret;
	}
	*im = (import_t){ .reg = reg, .zone = zone, .path = path, .actor = actor, .now = now };
	size_t nnodes;
	const rs_node_t *nodes = rs_zone_nodes(zone, &nnodes);
	for (size_t i = 0; i < nnodes && ret == RS_EOK; i++) {
		const rs_node_t *node = &nodes[i];
		if (im->cut != NULL && rs_name_is_sub(node->name, im->cut) && node->name != im->cut) {
			ret = add_glue(im, node, diag);
			continue;
		}
		ret = flush_delegation(im, diag);
		if (ret == RS_EOK && (node->flags & RS_NODE_DELEG))
			ret = start_delegation(im, node, registrar, diag);
	}
	if (ret == RS_EOK)
		ret = flush_delegation(im, diag);
	char what[600];
	snprintf(what, sizeof(what), "imported %zu delegations from %.400s, sponsor %s", im->count, path, registrar);
	if (ret == RS_EOK && reg->record != NULL)
		ret = reg->record(reg->arg, now, actor, "domain-import", zone_name, "ok", what, diag);
	if ((ret = registry_finish(reg, ret, diag)) == RS_EOK)
		*count = im->count;
	free(im);
	rs_zone_free(zone);
	return ret;
}

/* One record of a delegation, in wire form, for a zone or for zone text. */
typedef int (*record_fn)(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl, const uint8_t *rdata,
			 size_t len);

/*
 * The records of stored delegation d: NS, DS (both statements: DS TTL = the
 * TTL of the NS RRset) and glue. Checked whole before the first goes to fn,
 * so a damaged delegation adds nothing; RS_EZONE (reason in diag) if so.
 */
static int delegation_records(rs_domain_rec_t *d, const rs_ds_row_t *rows, size_t nds, uint32_t max_ttl,
			      record_fn fn, void *arg, rs_diag_t *diag)
{
	int ret = registry_check_domain(d, diag);
	if (ret != RS_EOK)
		return RS_EZONE;
	if (max_ttl != 0 && d->ns_ttl > max_ttl)
		return rs_diag(diag, RS_EZONE, "NS TTL %u is above the policy's largest zone TTL (ttl.max-zone %u)",
			       d->ns_ttl, max_ttl);
	rs_ds_entry_t *ds = malloc(RS_STORE_DS_MAX * sizeof(*ds));
	if (ds == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	for (size_t i = 0; i < nds && i < RS_STORE_DS_MAX && ret == RS_EOK; i++)
		if (rs_ds_entry_from_row(&rows[i], &ds[i]) != RS_EOK || rs_ds_check(ds[i].ds, ds[i].ds_len, NULL) != RS_EOK)
			ret = rs_diag(diag, RS_EZONE, "stored DS %zu is damaged or no longer acceptable", i + 1);
	uint8_t owner[RS_NAME_MAX], rdata[RS_NAME_MAX];
	if (ret == RS_EOK && rs_dname_from_str(d->name, owner) < 0)
		ret = rs_diag(diag, RS_EZONE, "not a domain name");
	char list[sizeof(d->ns)];
	snprintf(list, sizeof(list), "%s", d->ns);
	for (char *save = NULL, *h = strtok_r(list, " ", &save); ret == RS_EOK && h != NULL; h = strtok_r(NULL, " ", &save)) {
		int len = rs_dname_from_str(h, rdata);
		ret = len < 0 ? rs_diag(diag, RS_EZONE, "name server '%s' is not a host name", h)
			      : fn(arg, owner, RS_TYPE_NS, d->ns_ttl, rdata, rs_dname_len(rdata, RS_NAME_MAX));
	}
	for (size_t i = 0; i < nds && ret == RS_EOK; i++)
		ret = fn(arg, owner, RS_TYPE_DS, d->ns_ttl, ds[i].ds, ds[i].ds_len);
	free(ds);
	char glue[sizeof(d->glue)];
	snprintf(glue, sizeof(glue), "%s", d->glue);
	for (char *save = NULL, *g = strtok_r(glue, " ", &save); ret == RS_EOK && g != NULL; g = strtok_r(NULL, " ", &save)) {
		char *slash = strchr(g, '/');
		uint8_t host[RS_NAME_MAX], addr[16];
		*slash = '\0'; /* registry_check_domain saw HOST/ADDRESS */
		bool v6 = strchr(slash + 1, ':') != NULL;
		if (rs_dname_from_str(g, host) < 0 || inet_pton(v6 ? AF_INET6 : AF_INET, slash + 1, addr) != 1)
			ret = rs_diag(diag, RS_EZONE, "glue '%s/%s' is damaged", g, slash + 1);
		else
			ret = fn(arg, host, v6 ? RS_TYPE_AAAA : RS_TYPE_A, d->ns_ttl, addr, v6 ? 16 : 4);
	}
	return ret;
}

static int no_record(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl, const uint8_t *rdata, size_t len)
{
	(void)arg, (void)owner, (void)type, (void)ttl, (void)rdata, (void)len;
	return RS_EOK;
}

typedef struct {
	rs_zone_t *zone;  /* building a zone, or */
	FILE *out;        /* writing zone text */
	rs_buf_t buf;
	uint32_t source, max_ttl;
	void (*skip)(void *arg, const char *domain, const char *reason);
	void *arg;
	size_t count, skipped;
	rs_diag_t *diag;
} build_t;

static int put_record(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl, const uint8_t *rdata, size_t len)
{
	build_t *b = arg;
	int ret;
	if (b->zone != NULL) {
		ret = rs_zone_add_from(b->zone, b->source, 0, owner, type, ttl, rdata, len);
	} else {
		b->buf.len = 0;
		ret = rs_rr_format(&b->buf, NULL, owner, ttl, type, rdata, len);
		if (ret == RS_EOK && fwrite(b->buf.data, 1, b->buf.len, b->out) != b->buf.len)
			ret = RS_EIO;
	}
	return ret == RS_EOK ? RS_EOK : rs_diag(b->diag, ret, "cannot add a record: %s", rs_strerror(ret));
}

/*
 * One delegation: its records are checked whole, then added. Stored data
 * that cannot be published leaves the delegation out and the caller hears
 * which one and why: one bad row never stops the zone.
 */
static int put_delegation(void *arg, const rs_domain_rec_t *rec, const rs_ds_row_t *rows, size_t nds)
{
	build_t *b = arg;
	rs_domain_rec_t d = *rec;
	rs_diag_t why;
	int ret = delegation_records(&d, rows, nds, b->max_ttl, no_record, NULL, &why);
	if (ret == RS_EZONE) {
		b->skipped++;
		if (b->skip != NULL)
			b->skip(b->arg, rec->name, why.text);
		return RS_EOK;
	}
	if (ret == RS_EOK)
		ret = delegation_records(&d, rows, nds, b->max_ttl, put_record, b, b->diag);
	else
		rs_diag(b->diag, ret, "%s: %s", rec->name, why.text);
	b->count += ret == RS_EOK;
	return ret;
}

static int each_delegation(const rs_registry_t *reg, const char *name, build_t *b)
{
	b->diag->text[0] = '\0';
	int ret = rs_store_read_begin(reg->store, b->diag);
	if (ret == RS_EOK) {
		ret = rs_store_domain_each(reg->store, name, put_delegation, b);
		rs_store_read_end(reg->store);
	}
	if (ret != RS_EOK && b->diag->text[0] == '\0')
		rs_diag(b->diag, ret, "cannot read the registry data: %s", rs_strerror(ret));
	return ret;
}

int rs_registry_zone_build(const rs_registry_t *reg, const rs_zone_t *tmpl, uint32_t max_ttl, rs_zone_t *zone,
			   void (*skip)(void *arg, const char *domain, const char *reason), void *arg,
			   size_t *delegations, size_t *skipped, rs_diag_t *diag)
{
	char name[1024];
	rs_dname_to_str(rs_name_wire(rs_zone_origin(zone)), name, sizeof(name));
	/* The registry's own records of the template: no delegation, glue or DNSSEC record the signer makes. */
	size_t nnodes;
	const rs_node_t *nodes = rs_zone_nodes(tmpl, &nnodes);
	const rs_rr_t *rrs = rs_zone_rrs(tmpl);
	uint32_t from = UINT32_MAX;
	int ret = RS_EOK;
	for (size_t i = 0; i < nnodes && ret == RS_EOK; i++) {
		if (nodes[i].flags & (RS_NODE_DELEG | RS_NODE_NONAUTH))
			continue;
		for (uint32_t j = nodes[i].first; j < nodes[i].first + nodes[i].count && ret == RS_EOK; j++) {
			const rs_rr_t *rr = &rrs[j];
			if (rr->type == RS_TYPE_DNSKEY || rr->type == RS_TYPE_CDS || rr->type == RS_TYPE_CDNSKEY)
				continue;
			if (from == UINT32_MAX)
				ret = rs_zone_source(zone, rs_zone_file_name(tmpl, rr->file), &from);
			if (ret == RS_EOK)
				ret = rs_zone_add_from(zone, from, rr->line, rs_name_wire(rr->owner), rr->type, rr->ttl,
						       rr->rdata, rr->rdlen);
		}
	}
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "cannot add the template's records: %s", rs_strerror(ret));
	build_t b = { .zone = zone, .max_ttl = max_ttl, .skip = skip, .arg = arg, .diag = diag };
	char label[1100];
	snprintf(label, sizeof(label), "registry data of %s", name);
	if ((ret = rs_zone_source(zone, label, &b.source)) != RS_EOK)
		return rs_diag(diag, ret, "out of memory");
	ret = each_delegation(reg, name, &b);
	*delegations = b.count;
	*skipped = b.skipped;
	return ret;
}

int rs_registry_delegation_records(const rs_registry_t *reg, const char *domain, uint32_t max_ttl,
				   int (*fn)(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl,
					     const uint8_t *rdata, size_t len),
				   void *arg, rs_diag_t *diag)
{
	rs_domain_rec_t d;
	rs_ds_row_t *rows = malloc(RS_STORE_DS_MAX * sizeof(*rows));
	size_t nds = 0;
	if (rows == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	int ret = rs_store_read_begin(reg->store, diag);
	if (ret == RS_EOK) {
		ret = rs_store_domain_get(reg->store, domain, &d);
		if (ret == RS_EOK)
			ret = rs_store_ds_get(reg->store, domain, rows, &nds);
		rs_store_read_end(reg->store);
	}
	if (ret == RS_ENOENT) {
		free(rows);
		return RS_ENOENT;
	}
	if (ret != RS_EOK) {
		free(rows);
		return rs_diag(diag, ret, "%s: cannot read the registry data: %s", domain, rs_strerror(ret));
	}
	/* Checked whole first, as the zone build does: a damaged delegation gives nothing. */
	rs_domain_rec_t copy = d;
	rs_diag_t why;
	ret = delegation_records(&copy, rows, nds, max_ttl, no_record, NULL, &why);
	if (ret == RS_EOK) {
		copy = d;
		ret = delegation_records(&copy, rows, nds, max_ttl, fn, arg, diag);
	} else {
		rs_diag(diag, ret, "%s: %s", domain, why.text);
	}
	free(rows);
	return ret;
}

int rs_registry_export(const rs_registry_t *reg, const char *zone_name, FILE *out, size_t *delegations,
		       rs_diag_t *diag)
{
	uint8_t origin[RS_NAME_MAX];
	char name[1024];
	if (rs_dname_from_str(zone_name, origin) < 0)
		return rs_diag(diag, RS_ESYNTAX, "'%s' is not a zone name", zone_name);
	rs_dname_to_str(origin, name, sizeof(name));
	fprintf(out, "; %s delegations from the registry data\n", name);
	build_t b = { .out = out, .diag = diag };
	rs_buf_init(&b.buf, 1 << 16);
	int ret = each_delegation(reg, name, &b);
	rs_buf_clear(&b.buf);
	if (ret == RS_EOK && b.skipped > 0)
		ret = rs_diag(diag, RS_EZONE, "%zu delegations have damaged data", b.skipped);
	*delegations = b.count;
	return ret == RS_EOK && ferror(out) ? rs_diag(diag, RS_EIO, "cannot write the zone text") : ret;
}
