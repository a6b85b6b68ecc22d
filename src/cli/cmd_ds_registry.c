/*
 * regsign ds submit | remove | check: DS records of a delegation, for a thin
 * registry whose registrants submit directly (RIPE NCC's ds-rdata), and the
 * registry's own emergency removal.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody.h"
#include "managed.h"
#include "registry.h"
#include "regsign/dns.h"
#include "regsign/zone.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign ds submit --domain NAME (--ds 'TAG ALG TYPE DIGEST' | --dnskey 'FLAGS 3 ALG KEY')...\n"
		"                         [--max-sig-life SECONDS]\n"
		"       regsign ds remove --domain NAME (--ds 'TAG ALG TYPE DIGEST'... | --all)\n"
		"                         [--emergency --reason TEXT]\n"
		"       regsign ds check --domain NAME [--ds ...|--dnskey ...]\n"
		"\n"
		"submit adds DS records to a delegation (a DNSKEY is turned into its SHA-256 DS);\n"
		"first, unless 'regsign registry --check off', every name server of the child is\n"
		"asked for its DNSKEY RRset, which must hold a key matching a submitted DS and be\n"
		"signed by it now (pre-delegation check; each server's answer is printed).\n"
		"remove takes DS records out; --emergency is the registry's own removal of DS\n"
		"records that break the delegation, with the reason recorded in the audit log.\n"
		"check runs the pre-delegation check alone, for the stored or the given records.\n"
		"Changes take effect at the next signing of the registry zone. Exit status: 0 done,\n"
		"1 the pre-delegation check failed (nothing changed), 2 refused input. Submitting DS\n"
		"records the delegation has already is no change: it is said so, and not recorded.\n"
		"\n"
		"examples:\n"
		"  regsign ds submit --domain example.cloud. --ds '12345 13 2 3C5E...'\n"
		"  regsign ds remove --domain example.cloud. --all --emergency --reason 'DS matches no key; ticket 4711'\n");
}

/*
 * Is the submission already in force: every DS stored for the domain, and no
 * other maxSigLife? Then it is answered without the check, a history line or
 * an audit entry, which would only record that nothing changed.
 */
static bool already_stored(rs_store_t *store, const rs_domain_rec_t *d, const rs_ds_change_t *chg)
{
	rs_ds_row_t *rows = malloc(RS_STORE_DS_MAX * sizeof(*rows));
	rs_ds_entry_t *have = malloc(RS_STORE_DS_MAX * sizeof(*have));
	size_t n = 0, nhave = 0;
	if (rows != NULL && have != NULL && rs_store_ds_get(store, d->name, rows, &n) == RS_EOK)
		nhave = rs_ds_entries_from_rows(rows, n, have);
	bool all = chg->nadd > 0 && (!chg->set_max_sig_life || chg->max_sig_life == d->max_sig_life);
	for (size_t a = 0; all && a < chg->nadd; a++) {
		bool found = false;
		for (size_t i = 0; i < nhave && !found; i++)
			found = have[i].ds_len == chg->add[a].ds_len &&
				memcmp(have[i].ds, chg->add[a].ds, have[i].ds_len) == 0;
		all = found;
	}
	free(rows);
	free(have);
	return all;
}

/* An entry from --ds or --dnskey text; check: one the registry takes (additions). */
static bool entry_from(const char *text, bool dnskey, const uint8_t *owner, bool check, rs_ds_entry_t *e)
{
	rs_diag_t diag;
	int ret;
	memset(e, 0, sizeof(*e));
	if (dnskey) {
		uint8_t key[RS_DNSKEY_RDATA_MAX];
		size_t len;
		ret = rs_rdata_from_text(RS_TYPE_DNSKEY, text, key, sizeof(key), &len, &diag);
		if (ret == RS_EOK)
			ret = rs_ds_entry_from_key(owner, key, len, e, &diag);
	} else if (check) {
		ret = rs_ds_entry_from_text(text, e, &diag);
	} else {
		size_t len;
		ret = rs_rdata_from_text(RS_TYPE_DS, text, e->ds, sizeof(e->ds), &len, &diag);
		e->ds_len = (uint16_t)len;
	}
	if (ret != RS_EOK)
		cli_error("%s %s: %s", dnskey ? "--dnskey" : "--ds", text, diag.text);
	return ret == RS_EOK;
}

int cmd_ds_registry(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },	  { "ds", required_argument, NULL, 's' },
		{ "dnskey", required_argument, NULL, 'k' },	  { "all", no_argument, NULL, 'a' },
		{ "emergency", no_argument, NULL, 'e' },	  { "reason", required_argument, NULL, 'r' },
		{ "max-sig-life", required_argument, NULL, 'm' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *verb = argv[1], *domain = NULL, *reason = NULL;
	const char *texts[RS_STORE_DS_MAX];
	bool is_key[RS_STORE_DS_MAX], all = false, emergency = false;
	size_t ntexts = 0;
	rs_ds_change_t *chg = calloc(1, sizeof(*chg));
	if (chg == NULL)
		return RS_ENOMEM;
	int c, code = RS_EOK;
	optind = 2;
	while (code == RS_EOK && (c = getopt_long(argc, argv, "d:s:k:aer:m:h", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'd': domain = optarg; break;
		case 's':
		case 'k':
			if (ntexts == RS_STORE_DS_MAX) {
				cli_error("more than %d records", RS_STORE_DS_MAX);
				code = RS_EINVAL;
				break;
			}
			is_key[ntexts] = c == 'k';
			texts[ntexts++] = optarg;
			break;
		case 'a': all = true; break;
		case 'e': emergency = true; break;
		case 'r': reason = optarg; break;
		case 'm':
			chg->max_sig_life = (uint32_t)strtoul(optarg, &end, 10);
			chg->set_max_sig_life = true;
			if (*optarg == '\0' || *end != '\0' || chg->max_sig_life == 0) {
				cli_error("invalid --max-sig-life '%s'", optarg);
				code = RS_EINVAL;
			}
			break;
		case 'h': help(stdout); free(chg); return RS_EOK;
		default: help(stderr); code = RS_EINVAL;
		}
	}
	char name[256];
	uint8_t owner[255];
	bool submit = strcmp(verb, "submit") == 0, remove = strcmp(verb, "remove") == 0;
	if (code == RS_EOK && (optind != argc || domain == NULL)) {
		help(stderr);
		code = RS_EINVAL;
	} else if (code == RS_EOK && !cli_zone_name(domain, name, owner)) {
		code = RS_EINVAL;
	} else if (code == RS_EOK && submit && ntexts == 0) {
		cli_error("ds submit needs --ds or --dnskey");
		code = RS_EINVAL;
	} else if (code == RS_EOK && remove && (ntexts == 0) == !all) {
		cli_error("ds remove needs --ds records or --all (not both)");
		code = RS_EINVAL;
	} else if (code == RS_EOK && emergency != (reason != NULL && reason[0] != '\0')) {
		cli_error("an emergency removal needs --reason, and --reason only goes with --emergency");
		code = RS_EINVAL;
	} else if (code == RS_EOK && emergency && !remove) {
		cli_error("--emergency is for ds remove");
		code = RS_EINVAL;
	}
	rs_ds_entry_t *list = remove ? chg->rem : chg->add;
	size_t *count = remove ? &chg->nrem : &chg->nadd;
	for (size_t i = 0; code == RS_EOK && i < ntexts; i++) {
		if (!entry_from(texts[i], is_key[i], owner, !remove, &list[i]))
			code = RS_EINVAL;
		*count = i + 1;
	}
	chg->rem_all = all;
	rs_store_t *store = NULL;
	if (code == RS_EOK)
		code = cli_store(&store);
	if (code != RS_EOK) {
		free(chg);
		return code;
	}
	rs_domain_rec_t d;
	rs_registry_t reg;
	rs_check_report_t report;
	rs_diag_t diag;
	int ret = RS_EOK;
	if (rs_store_domain_get(store, name, &d) != RS_EOK)
		ret = rs_diag(&diag, RS_ENOENT, "%s: no such delegation", name);
	cli_registry(store, ret == RS_EOK ? d.zone : NULL, &reg);
	if (ret == RS_EOK && strcmp(verb, "check") == 0) {
		if (chg->nadd == 0) {
			rs_ds_row_t rows[RS_STORE_DS_MAX];
			size_t n = 0;
			rs_store_ds_get(store, name, rows, &n);
			chg->nadd = rs_ds_entries_from_rows(rows, n, chg->add);
		}
		if (chg->nadd == 0)
			ret = rs_diag(&diag, RS_EINVAL, "%s: no DS to check", name);
		else
			ret = rs_registry_check(&reg, &d, chg->add, chg->nadd, cli_now(), &report, &diag);
		cli_print_report(stdout, &report);
		if (ret == RS_EOK)
			printf("%s: every name server proves the DS\n", name);
	} else if (ret == RS_EOK && submit && already_stored(store, &d, chg)) {
		for (size_t i = 0; i < chg->nadd; i++) {
			char text[300];
			rs_ds_entry_format(&chg->add[i], text, sizeof(text));
			printf("no change: DS %s is already published for %s\n", text, name);
		}
	} else if (ret == RS_EOK && (submit || remove)) {
		char actor[80];
		snprintf(actor, sizeof(actor), "%s", cli_operator());
		ret = rs_registry_ds_update(&reg, name, NULL, actor, chg, emergency ? reason : NULL, cli_now(), &report,
					    &diag);
		cli_print_report(stdout, &report);
		if (ret == RS_EOK)
			printf("%s: DS %s; effective at the next signing\n", name,
			       submit ? "submitted" : emergency ? "removed (emergency, audited)" : "removed");
		else if (ret == RS_ECHECK && reg.check == RS_CHECK_ENFORCE)
			cli_error("%s (nothing changed)", diag.text);
	} else if (ret == RS_EOK) {
		ret = rs_diag(&diag, RS_EINVAL, "unknown ds command '%s'", verb);
	}
	if (ret != RS_EOK && !(ret == RS_ECHECK && submit))
		cli_error("%s", diag.text);
	rs_store_close(store);
	free(chg);
	return ret == RS_ECHECK ? RS_EBOGUS : ret; /* the check ran and the child does not prove the DS */
}
