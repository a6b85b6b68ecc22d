/* regsign domain: the delegations of a registry zone (add, remove, show, list, import, export). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody.h"
#include "json.h"
#include "managed.h"
#include "registry.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign domain add NAME --zone ZONE --registrar ID --ns HOST[,HOST...]\n"
		"                         [--glue HOST/ADDRESS[,...]] [--ttl TTL]\n"
		"       regsign domain remove NAME\n"
		"       regsign domain info NAME [--json]\n"
		"       regsign domain list [--zone ZONE]\n"
		"       regsign domain import --zone ZONE --registrar ID FILE\n"
		"       regsign domain export --zone ZONE\n"
		"\n"
		"Delegations of a registry zone: name servers, glue (only for name servers inside\n"
		"the domain, which need it), the NS TTL (the DS records get the same TTL), and the\n"
		"sponsoring registrar, the only one that may change its DS records over EPP.\n"
		"import takes every delegation of an existing zone file (NS, glue and DS), so a\n"
		"running TLD can move in; export prints the delegations as zone text. Every change\n"
		"is kept in the delegation's history (info) and in the audit log.\n"
		"\n"
		"info --json  one JSON object instead: domain, zone, registrar, ns (list), ns_ttl,\n"
		"        glue [{host, address}], max_sig_life (null: none asked for), added, updated,\n"
		"        ds [{rdata, key_tag, algorithm, digest_type, digest, from_dnskey (bool),\n"
		"        added}] and history [{time, actor, what}]. Times are epoch seconds with a\n"
		"        NAME_text twin in ISO 8601 UTC.\n"
		"\n"
		"examples:\n"
		"  regsign domain add example.cloud. --zone cloud. --registrar reg-one \\\n"
		"      --ns ns1.example.cloud.,ns.other.net. --glue ns1.example.cloud./192.0.2.53\n"
		"  regsign domain import --zone cloud. --registrar migrated cloud.zone\n");
}

static void print_history(void *arg, int64_t when, const char *actor, const char *what)
{
	(void)arg;
	char t[15];
	rs_time_format(when, t);
	printf("  %s  %-20s %s\n", t, actor, what);
}

static void json_history(void *arg, int64_t when, const char *actor, const char *what)
{
	cli_json_t *j = arg;
	cli_json_object(j, NULL);
	cli_json_time(j, "time", when);
	cli_json_str(j, "actor", actor);
	cli_json_str(j, "what", what);
	cli_json_close(j);
}

static int info_json(rs_store_t *store, const rs_domain_rec_t *d, const rs_ds_row_t *rows, size_t n)
{
	cli_json_t j;
	char list[sizeof(d->glue)];
	cli_json_begin(&j, stdout);
	cli_json_object(&j, NULL);
	cli_json_str(&j, "domain", d->name);
	cli_json_str(&j, "zone", d->zone);
	cli_json_str(&j, "registrar", d->registrar);
	cli_json_array(&j, "ns");
	char *save = NULL;
	snprintf(list, sizeof(list), "%s", d->ns);
	for (char *h = strtok_r(list, " ", &save); h != NULL; h = strtok_r(NULL, " ", &save))
		cli_json_str(&j, NULL, h);
	cli_json_close(&j);
	cli_json_int(&j, "ns_ttl", d->ns_ttl);
	cli_json_array(&j, "glue");
	snprintf(list, sizeof(list), "%s", d->glue);
	for (char *g = strtok_r(list, " ", &save); g != NULL; g = strtok_r(NULL, " ", &save)) {
		char *slash = strchr(g, '/');
		if (slash == NULL)
			continue;
		*slash = '\0';
		cli_json_object(&j, NULL);
		cli_json_str(&j, "host", g);
		cli_json_str(&j, "address", slash + 1);
		cli_json_close(&j);
	}
	cli_json_close(&j);
	if (d->max_sig_life)
		cli_json_int(&j, "max_sig_life", d->max_sig_life);
	else
		cli_json_null(&j, "max_sig_life");
	cli_json_time(&j, "added", d->added);
	cli_json_time(&j, "updated", d->updated);
	cli_json_array(&j, "ds");
	for (size_t i = 0; i < n; i++) {
		rs_ds_entry_t e;
		char text[300];
		if (rs_ds_entry_from_row(&rows[i], &e) != RS_EOK || e.ds_len < 4 ||
		    rs_ds_entry_format(&e, text, sizeof(text)) <= 0)
			continue;
		cli_json_object(&j, NULL);
		cli_json_str(&j, "rdata", text);
		cli_json_int(&j, "key_tag", rs_get16(e.ds));
		cli_json_int(&j, "algorithm", e.ds[2]);
		cli_json_int(&j, "digest_type", e.ds[3]);
		/* The digest as the presentation form writes it: the last field. */
		const char *digest = strrchr(text, ' ');
		cli_json_str(&j, "digest", digest != NULL ? digest + 1 : "");
		cli_json_bool(&j, "from_dnskey", e.key_len > 0);
		cli_json_time(&j, "added", rows[i].added);
		cli_json_close(&j);
	}
	cli_json_close(&j);
	cli_json_array(&j, "history");
	rs_store_domain_history(store, d->name, json_history, &j);
	cli_json_close(&j);
	cli_json_close(&j);
	return cli_json_end(&j);
}

static int info(rs_store_t *store, const char *name_in, bool json)
{
	char name[256];
	uint8_t wire[255];
	rs_domain_rec_t d;
	if (!cli_zone_name(name_in, name, wire))
		return RS_EINVAL;
	if (rs_store_domain_get(store, name, &d) != RS_EOK) {
		cli_error("%s: no such delegation", name);
		return RS_EINVAL;
	}
	rs_ds_row_t rows[RS_STORE_DS_MAX];
	size_t n = 0;
	rs_store_ds_get(store, name, rows, &n);
	if (json)
		return info_json(store, &d, rows, n);
	printf("domain     %s\nzone       %s\nregistrar  %s\nns         %s (TTL %u)\nglue       %s\n", d.name, d.zone,
	       d.registrar, d.ns, d.ns_ttl, d.glue[0] ? d.glue : "-");
	if (d.max_sig_life)
		printf("maxSigLife %u\n", d.max_sig_life);
	for (size_t i = 0; i < n; i++) {
		rs_ds_entry_t e;
		char text[300];
		if (rs_ds_entry_from_row(&rows[i], &e) == RS_EOK && rs_ds_entry_format(&e, text, sizeof(text)) > 0)
			printf("ds         %s%s\n", text, e.key_len ? " (from its DNSKEY)" : "");
	}
	if (n == 0)
		printf("ds         none (insecure delegation)\n");
	printf("history:\n");
	rs_store_domain_history(store, name, print_history, NULL);
	return RS_EOK;
}

static int print_domain(void *arg, const rs_domain_rec_t *d, const rs_ds_row_t *ds, size_t nds)
{
	(void)arg;
	(void)ds;
	printf("%-40s %-16s %zu DS  %s\n", d->name, d->registrar, nds, d->ns);
	return RS_EOK;
}

/* One-transaction change with its audit entry: removal of a delegation. */
static int remove_domain(rs_store_t *store, const char *name_in)
{
	char name[256];
	uint8_t wire[255];
	rs_domain_rec_t d;
	rs_diag_t diag;
	if (!cli_zone_name(name_in, name, wire))
		return RS_EINVAL;
	int ret = rs_store_begin(store, &diag);
	if (ret == RS_EOK && rs_store_domain_get(store, name, &d) != RS_EOK)
		ret = rs_diag(&diag, RS_ENOENT, "%s: no such delegation", name);
	if (ret == RS_EOK)
		ret = rs_store_domain_remove(store, name, &diag);
	if (ret == RS_EOK)
		ret = rs_store_domain_history_add(store, name, cli_now(), cli_operator(), "removed", &diag);
	if (ret == RS_EOK && !cli_audit(store, "domain-remove", name, 0, "ok", "delegation removed (sponsor %s)",
					d.registrar))
		ret = RS_EIO;
	int code = cli_finish(store, ret, &diag);
	if (code == RS_EOK)
		printf("%s removed; it leaves the zone at the next signing\n", name);
	return code;
}

int cmd_domain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' }, { "registrar", required_argument, NULL, 'r' },
		{ "ns", required_argument, NULL, 'n' },	  { "glue", required_argument, NULL, 'g' },
		{ "ttl", required_argument, NULL, 't' },  { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },       { NULL, 0, NULL, 0 },
	};
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		help(argc < 2 ? stderr : stdout);
		return argc < 2 ? RS_EINVAL : RS_EOK;
	}
	const char *verb = argv[1], *zone = NULL, *registrar = NULL, *ns = NULL, *glue = "";
	unsigned long ttl = 3600;
	bool json = false;
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "z:r:n:g:t:h", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'j': json = true; break;
		case 'z': zone = optarg; break;
		case 'r': registrar = optarg; break;
		case 'n': ns = optarg; break;
		case 'g': glue = optarg; break;
		case 't':
			ttl = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || ttl > 0x7fffffffUL) {
				cli_error("invalid TTL '%s'", optarg);
				return RS_EINVAL;
			}
			break;
		case 'h': help(stdout); return RS_EOK;
		default: help(stderr); return RS_EINVAL;
		}
	}
	static const char *const verbs[] = { "add", "remove", "info", "list", "import", "export" };
	bool known = false;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		known = known || strcmp(verb, verbs[i]) == 0;
	if (!known) {
		if (!cli_unknown("command", verb, "domain ", verbs, sizeof(verbs) / sizeof(verbs[0])))
			help(stderr);
		return RS_EINVAL;
	}
	if (json && strcmp(verb, "info") != 0) {
		cli_error("only domain info has --json output");
		return RS_EINVAL;
	}
	const char *arg = optind < argc ? argv[optind] : NULL;
	bool needs_arg = strcmp(verb, "list") != 0 && strcmp(verb, "export") != 0;
	if ((needs_arg && (arg == NULL || optind != argc - 1)) || (!needs_arg && arg != NULL)) {
		help(stderr);
		return RS_EINVAL;
	}
	char zname[256] = "";
	uint8_t zwire[255];
	if (zone != NULL && !cli_zone_name(zone, zname, zwire))
		return RS_EINVAL;
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != RS_EOK)
		return code;
	rs_registry_t reg;
	cli_registry(store, zname[0] ? zname : NULL, &reg);
	rs_diag_t diag;
	int ret = RS_EOK;
	char actor[80];
	snprintf(actor, sizeof(actor), "%s", cli_operator());
	if (strcmp(verb, "add") == 0 || strcmp(verb, "import") == 0) {
		if (zone == NULL || registrar == NULL || (strcmp(verb, "add") == 0 && ns == NULL)) {
			cli_error("domain %s needs --zone, --registrar%s", verb, strcmp(verb, "add") == 0 ? " and --ns" : "");
			code = RS_EINVAL;
		} else if (strcmp(verb, "add") == 0) {
			rs_domain_rec_t d = { .ns_ttl = (uint32_t)ttl };
			snprintf(d.name, sizeof(d.name), "%s", arg);
			snprintf(d.zone, sizeof(d.zone), "%s", zname);
			snprintf(d.registrar, sizeof(d.registrar), "%s", registrar);
			snprintf(d.ns, sizeof(d.ns), "%s", ns);
			snprintf(d.glue, sizeof(d.glue), "%s", glue);
			ret = rs_registry_domain_put(&reg, &d, actor, cli_now(), &diag);
			if (ret == RS_EOK)
				printf("%s delegated to %s\n", arg, ns);
		} else {
			size_t n = 0;
			ret = rs_registry_import(&reg, zname, arg, registrar, actor, cli_now(), &n, &diag);
			if (ret == RS_EOK)
				printf("imported %zu delegations of %s from %s\n", n, zname, arg);
		}
	} else if (strcmp(verb, "remove") == 0) {
		code = remove_domain(store, arg);
	} else if (strcmp(verb, "info") == 0) {
		code = info(store, arg, json);
	} else if (strcmp(verb, "list") == 0) {
		ret = rs_store_domain_each(store, zname[0] ? zname : NULL, print_domain, NULL);
		if (ret != RS_EOK)
			rs_diag(&diag, ret, "cannot read the registry data");
	} else if (strcmp(verb, "export") == 0) {
		if (zone == NULL) {
			cli_error("domain export needs --zone");
			code = RS_EINVAL;
		} else {
			size_t n;
			ret = rs_registry_export(&reg, zname, stdout, &n, &diag);
		}
	} else {
		cli_error("unknown domain command '%s'", verb);
		help(stderr);
		code = RS_EINVAL;
	}
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		code = ret;
	}
	rs_store_close(store);
	return code;
}
