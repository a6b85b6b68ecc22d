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
		ret = reg->record(reg->arg, actor, "domain-import", zone_name, what, diag);
	if ((ret = registry_finish(reg, ret, diag)) == RS_EOK)
		*count = im->count;
	free(im);
	rs_zone_free(zone);
	return ret;
}

/* The registry's own records of the template: no delegation, glue or DNSSEC record the signer makes. */
static int write_template(const rs_zone_t *zone, FILE *out, rs_diag_t *diag)
{
	size_t nnodes;
	const rs_node_t *nodes = rs_zone_nodes(zone, &nnodes);
	const rs_rr_t *rrs = rs_zone_rrs(zone);
	rs_buf_t buf;
	rs_buf_init(&buf, 1 << 20);
	int ret = RS_EOK;
	for (size_t i = 0; i < nnodes && ret == RS_EOK; i++) {
		if (nodes[i].flags & (RS_NODE_DELEG | RS_NODE_NONAUTH))
			continue;
		for (uint32_t j = nodes[i].first; j < nodes[i].first + nodes[i].count && ret == RS_EOK; j++) {
			uint16_t t = rrs[j].type;
			if (t == RS_TYPE_DNSKEY || t == RS_TYPE_CDS || t == RS_TYPE_CDNSKEY)
				continue;
			buf.len = 0;
			ret = rs_rr_format(&buf, NULL, rs_name_wire(nodes[i].name), rrs[j].ttl, t, rrs[j].rdata,
					   rrs[j].rdlen);
			if (ret == RS_EOK && fwrite(buf.data, 1, buf.len, out) != buf.len)
				ret = RS_EIO;
		}
	}
	rs_buf_clear(&buf);
	return ret == RS_EOK ? RS_EOK : rs_diag(diag, ret, "cannot write the template's records: %s", rs_strerror(ret));
}

typedef struct {
	FILE *out;
	size_t count;
	rs_diag_t *diag;
} zone_text_t;

static int write_delegation(void *arg, const rs_domain_rec_t *d, const rs_ds_row_t *rows, size_t nds)
{
	zone_text_t *zt = arg;
	char ns[sizeof(d->ns)], glue[sizeof(d->glue)];
	snprintf(ns, sizeof(ns), "%s", d->ns);
	for (char *save = NULL, *h = strtok_r(ns, " ", &save); h != NULL; h = strtok_r(NULL, " ", &save))
		fprintf(zt->out, "%s %u IN NS %s\n", d->name, d->ns_ttl, h);
	/* Both statements: DS TTL = the TTL of the NS RRset. */
	for (size_t i = 0; i < nds; i++) {
		rs_ds_entry_t e;
		char text[300];
		if (rs_ds_entry_from_row(&rows[i], &e) != RS_EOK)
			return rs_diag(zt->diag, RS_EIO, "%s: a stored DS is damaged", d->name);
		rs_ds_entry_format(&e, text, sizeof(text));
		fprintf(zt->out, "%s %u IN DS %s\n", d->name, d->ns_ttl, text);
	}
	snprintf(glue, sizeof(glue), "%s", d->glue);
	for (char *save = NULL, *g = strtok_r(glue, " ", &save); g != NULL; g = strtok_r(NULL, " ", &save)) {
		char *slash = strchr(g, '/');
		if (slash == NULL)
			return rs_diag(zt->diag, RS_EIO, "%s: stored glue '%s' is damaged", d->name, g);
		*slash = '\0';
		fprintf(zt->out, "%s %u IN %s %s\n", g, d->ns_ttl, strchr(slash + 1, ':') ? "AAAA" : "A", slash + 1);
	}
	zt->count++;
	return ferror(zt->out) ? rs_diag(zt->diag, RS_EIO, "cannot write the zone text") : RS_EOK;
}

int rs_registry_zone_text(const rs_registry_t *reg, const char *zone_name, const char *template_path, FILE *out,
			  size_t *delegations, rs_diag_t *diag)
{
	uint8_t origin[RS_NAME_MAX];
	char name[1024];
	if (rs_dname_from_str(zone_name, origin) < 0)
		return rs_diag(diag, RS_ESYNTAX, "'%s' is not a zone name", zone_name);
	rs_dname_to_str(origin, name, sizeof(name));
	int ret = RS_EOK;
	if (template_path != NULL) {
		rs_zone_opts_t zo = { .threads = 1 };
		rs_zone_t *zone = NULL;
		ret = rs_zone_new(origin, &zo, &zone);
		if (ret != RS_EOK)
			return rs_diag(diag, ret, "%s", rs_strerror(ret));
		ret = rs_zone_read(zone, template_path, diag);
		if (ret == RS_EOK)
			ret = rs_zone_finish(zone, diag);
		if (ret == RS_EOK)
			ret = write_template(zone, out, diag);
		rs_zone_free(zone);
	}
	zone_text_t zt = { .out = out, .diag = diag };
	if (ret == RS_EOK) {
		fprintf(out, "; %s delegations from the registry data\n", name);
		diag->text[0] = '\0';
		ret = rs_store_domain_each(reg->store, name, write_delegation, &zt);
		if (ret != RS_EOK && diag->text[0] == '\0')
			rs_diag(diag, ret, "cannot read the registry data: %s", rs_strerror(ret));
	}
	*delegations = zt.count;
	return ret;
}
