/* regsign ds: DS records of the key-signing keys, for the parent. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "managed.h"
#include "registry.h"
#include "regsign/dns.h"
#include "regsign/zone.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign ds --keys KEYDIR --origin ORIGIN [--digest sha256|sha384] [--ttl TTL]\n"
		"       regsign [--state DIR] ds --zone ZONE [--digest sha256|sha384] [--ttl TTL]\n"
		"       regsign ds submit|remove|check --domain NAME ...  (a delegation's DS: see 'ds submit --help')\n"
		"\n"
		"Prints the DS record of every key-signing key (SEP flag) of ORIGIN in KEYDIR, as\n"
		"dnssec-dsfromkey does, ready for the parent zone. With --zone, the DS records the\n"
		"parent should publish for a managed zone now (the keys whose DS regsign asked for\n"
		"or relies on), with the policy's digest type unless --digest says otherwise.\n"
		"\n"
		"examples:\n"
		"  regsign ds --keys keys/ --origin cloud. --digest sha256\n"
		"  regsign --state /var/lib/regsign ds --zone cloud.\n");
}

/* The keys of a managed zone whose DS the parent should publish now; -1 after printing an error. */
static int managed_keys(const char *name, rs_key_t **keys, int max, int *digest, bool digest_given)
{
	cli_zone_t z;
	rs_diag_t diag;
	rs_session_opts_t so = cli_session_opts(CLI_QUIET); /* standard output is the DS records */
	int n = 0, code = cli_zone_open(&z, name, &so), ret = code == RS_EOK ? RS_EOK : RS_EINVAL;
	const rs_keyset_t *set = code == RS_EOK ? rs_session_keys(z.session) : NULL;
	for (size_t i = 0; ret == RS_EOK && i < set->count && n < max; i++) {
		const rs_keystate_t *k = &set->keys[i];
		if (k->goal == RS_GOAL_DEAD || !rs_keystate_wants_ds(k))
			continue;
		if ((ret = rs_session_key(z.session, k, false, &keys[n], &diag)) == RS_EOK)
			n++;
	}
	if (ret == RS_EOK && !digest_given)
		*digest = rs_session_policy(z.session)->ds_digest;
	if (ret == RS_EOK) {
		rs_session_note(z.session, "ds-export", 0, "DS of %d key(s) exported for the parent", n);
		ret = rs_session_commit(z.session, &diag);
	}
	if (code == RS_EOK)
		code = cli_check(ret, &diag);
	cli_zone_close(&z);
	if (code != RS_EOK) {
		for (int i = 0; i < n; i++)
			rs_key_free(keys[i]);
		return -1;
	}
	return n;
}

int cmd_ds(int argc, char **argv)
{
	/* The registry's side: DS records of the delegations below a zone. */
	if (argc >= 2 && (strcmp(argv[1], "submit") == 0 || strcmp(argv[1], "remove") == 0 ||
			  strcmp(argv[1], "check") == 0))
		return cmd_ds_registry(argc, argv);
	static const struct option opts[] = {
		{ "keys", required_argument, NULL, 'K' }, { "origin", required_argument, NULL, 'o' },
		{ "digest", required_argument, NULL, 'd' }, { "ttl", required_argument, NULL, 't' },
		{ "zone", required_argument, NULL, 'z' }, { "now", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *origin_text = NULL, *digest_text = "sha256", *managed = NULL;
	bool digest_given = false;
	long ttl = -1;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "K:o:d:t:z:h", opts, NULL)) != -1) {
		switch (c) {
		case 'K': dir = optarg; break;
		case 'o': origin_text = optarg; break;
		case 'd': digest_text = optarg; digest_given = true; break;
		case 'z': managed = optarg; break;
		case 'N': if (!cli_set_now(optarg)) return RS_EINVAL; break;
		case 't': ttl = strtol(optarg, NULL, 10); break;
		case 'h': help(stdout); return RS_EOK;
		default: help(stderr); return RS_EINVAL;
		}
	}
	uint8_t origin[255];
	char canon[256];
	if (managed != NULL) {
		if (dir != NULL || origin_text != NULL) {
			cli_error("--zone takes the keys and origin from the state; no --keys or --origin");
			return RS_EINVAL;
		}
		if (!cli_zone_name(managed, canon, origin))
			return RS_EINVAL;
	} else if (!cli_origin(origin_text, origin)) {
		return RS_EINVAL;
	} else if (dir == NULL) {
		cli_error("--keys KEYDIR is required");
		return RS_EINVAL;
	}
	int digest;
	if (strcmp(digest_text, "sha256") == 0 || strcmp(digest_text, "2") == 0)
		digest = RS_DS_SHA256;
	else if (strcmp(digest_text, "sha384") == 0 || strcmp(digest_text, "4") == 0)
		digest = RS_DS_SHA384;
	else {
		cli_error("unsupported digest '%s' (use sha256 or sha384)", digest_text);
		return RS_EINVAL;
	}
	rs_key_t *keys[64];
	int n = managed != NULL ? managed_keys(managed, keys, 64, &digest, digest_given)
				: cli_load_keys(dir, origin, false, keys, 64);
	if (n < 0)
		return RS_EINVAL;
	/* No TTL column unless --ttl, as dnssec-dsfromkey prints it. */
	char owner[4 * 255 + 2], rdata[256], ttl_text[16] = "";
	rs_name_format(origin, owner, sizeof(owner));
	if (ttl >= 0)
		snprintf(ttl_text, sizeof(ttl_text), "%u\t", (uint32_t)ttl);
	int printed = 0;
	for (int i = 0; i < n; i++) {
		if (!rs_key_is_ksk(keys[i]))
			continue;
		size_t len;
		const uint8_t *dnskey = rs_key_dnskey(keys[i], &len);
		uint8_t ds[64];
		int dl = rs_ds_make(origin, dnskey, len, digest, ds, sizeof(ds));
		if (dl > 0 && rs_rdata_to_str(RS_TYPE_DS, ds, (size_t)dl, rdata, sizeof(rdata)) >= 0) {
			printf("%s\t%sIN\tDS\t%s\n", owner, ttl_text, rdata);
			printed++;
		}
	}
	for (int i = 0; i < n; i++)
		rs_key_free(keys[i]);
	if (printed == 0) {
		if (managed)
			cli_error("no DS is wanted at the parent for '%s' yet (see regsign key list)", managed);
		else
			cli_error("no key-signing key for '%s' in '%s'", origin_text, dir);
		return RS_EINVAL;
	}
	return RS_EOK;
}
