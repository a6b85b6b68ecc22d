/* regsign publish and regsign anchors verify: trust anchors for relying parties, and their check. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "managed.h"
#include "regsign/dns.h"
#include "regsign/publish.h"
#include "regsign/registry.h"

static void publish_help(FILE *f)
{
	fprintf(f,
		"usage: regsign [--state DIR] publish --zone ZONE --out DIR --pgp-key FINGERPRINT [--gnupg-home DIR]\n"
		"\n"
		"Writes the zone's currently relevant key-signing keys as trust anchors into the\n"
		"repository directory DIR, for any TLS web server to serve: ZONE.dnskey (trust-anchor\n"
		"format), ZONE.ds (DS format), ZONE.anchors.xml (RFC 9718) and ZONE.bind (a named.conf\n"
		"trust-anchors block), each headed by the policy's acceptable use policy and each with\n"
		"a detached OpenPGP signature FILE.asc by the key FINGERPRINT of the GnuPG home (default\n"
		"$GNUPGHOME; it must be yours, mode 0700). DIR is replaced as a whole, other zones' files\n"
		"kept; when anything fails it stays as it was. There is no unsigned mode: both\n"
		"statements promise a signature on every file.\n"
		"\n"
		"example:\n"
		"  regsign publish --zone cloud. --out /srv/www/anchors --pgp-key 0123...CDEF --gnupg-home /etc/regsign/gnupg\n");
}

int cmd_publish(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' }, { "out", required_argument, NULL, 'o' },
		{ "pgp-key", required_argument, NULL, 'k' }, { "gnupg-home", required_argument, NULL, 'g' },
		{ "now", required_argument, NULL, 'N' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	rs_anchor_target_t t = { NULL, NULL, NULL };
	const char *zone = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "z:o:k:g:h", opts, NULL)) != -1) {
		switch (c) {
		case 'z': zone = optarg; break;
		case 'o': t.dir = optarg; break;
		case 'k': t.pgp_key = optarg; break;
		case 'g': t.gnupg_home = optarg; break;
		case 'N': if (!cli_set_now(optarg)) return RS_EINVAL; break;
		case 'h': publish_help(stdout); return RS_EOK;
		default: publish_help(stderr); return RS_EINVAL;
		}
	}
	if (zone == NULL || t.dir == NULL || optind != argc) {
		cli_error("publish needs --zone ZONE and --out DIR, and no other argument");
		return RS_EINVAL;
	}
	if (t.pgp_key == NULL) {
		cli_error("--pgp-key FINGERPRINT is required: every trust-anchor file is published signed");
		return RS_EINVAL;
	}
	char name[256];
	uint8_t origin[255];
	if (!cli_zone_name(zone, name, origin))
		return RS_EINVAL;
	cli_zone_t z;
	rs_diag_t diag;
	rs_session_opts_t so = cli_session_opts(CLI_QUIET);
	int ret = cli_zone_open(&z, name, &so);
	if (ret != RS_EOK)
		return ret;
	ret = rs_session_anchors(z.session, &t, &diag);
	if (ret == RS_EOK)
		ret = rs_session_commit(z.session, &diag);
	ret = cli_check(ret, &diag);
	if (ret == RS_EOK) {
		char tags[256];
		rs_session_anchor_tags(z.session, tags, sizeof(tags));
		printf("%s: trust anchors %s published in %s\n", name, tags, t.dir);
	}
	cli_zone_close(&z);
	return ret;
}

static void anchors_help(FILE *f)
{
	fprintf(f,
		"usage: regsign anchors verify DIR --zone ZONE --pgp-public KEYFILE [--server ADDR[@PORT]]...\n"
		"\n"
		"The relying party's check of a trust-anchor repository: every file's OpenPGP signature\n"
		"verifies against the public key in KEYFILE, the DS records are those of the DNSKEYs,\n"
		"and the XML and the bind block hold the same keys and digests. With --server, the\n"
		"zone's live DNSKEY RRset there holds each anchor's key, signed by it.\n"
		"Exit status 0: all agree; 1: a mismatch (one line each); 2: bad usage or input.\n"
		"\n"
		"example:\n"
		"  regsign anchors verify ./anchors --zone cloud. --pgp-public registry.asc --server 192.0.2.53\n");
}

/* Each anchor's key at each server: in the DNSKEY RRset, and signing it. Problems printed; the count. */
static int check_servers(char **servers, int nservers, const uint8_t *origin, const char *name,
			 const rs_anchor_ds_t *ds)
{
	int problems = 0;
	for (int s = 0; s < nservers; s++)
		for (size_t i = 0; i < ds->count; i++) {
			rs_ds_entry_t e = { 0 };
			e.ds_len = ds->len[i];
			memcpy(e.ds, ds->rdata[i], ds->len[i]);
			rs_server_result_t r;
			rs_child_prove(servers[s], origin, &e, 1, cli_now(), 3000, &r);
			if (r.result != RS_EOK) {
				printf("%s: %s: anchor %u (digest type %u): %s\n", r.server, name, rs_get16(ds->rdata[i]),
				       ds->rdata[i][3], r.detail);
				problems++;
			}
		}
	return problems;
}

int cmd_anchors(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "verify") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			anchors_help(stdout);
			return RS_EOK;
		}
		anchors_help(stderr);
		return RS_EINVAL;
	}
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' }, { "pgp-public", required_argument, NULL, 'p' },
		{ "server", required_argument, NULL, 's' }, { "now", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *zone = NULL, *pub = NULL;
	char *servers[8];
	int nservers = 0, c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "z:p:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'z': zone = optarg; break;
		case 'p': pub = optarg; break;
		case 's':
			if (nservers == 8) {
				cli_error("at most 8 --server");
				return RS_EINVAL;
			}
			servers[nservers++] = optarg;
			break;
		case 'N': if (!cli_set_now(optarg)) return RS_EINVAL; break;
		case 'h': anchors_help(stdout); return RS_EOK;
		default: anchors_help(stderr); return RS_EINVAL;
		}
	}
	if (zone == NULL || pub == NULL || optind != argc - 1) {
		cli_error("anchors verify needs DIR, --zone ZONE and --pgp-public KEYFILE");
		return RS_EINVAL;
	}
	char name[256];
	uint8_t origin[255];
	if (!cli_zone_name(zone, name, origin))
		return RS_EINVAL;
	rs_buf_t report;
	rs_buf_init(&report, 1 << 20);
	rs_anchor_ds_t ds;
	rs_diag_t diag;
	int ret = rs_anchor_check(argv[optind], origin, pub, &report, &ds, &diag);
	if (ret != RS_EOK && ret != RS_EBOGUS) {
		rs_buf_clear(&report);
		return cli_check(ret, &diag);
	}
	if (report.len > 0)
		fwrite(report.data, 1, report.len, stdout);
	rs_buf_clear(&report);
	int problems = ret == RS_EBOGUS;
	if (nservers > 0)
		problems += check_servers(servers, nservers, origin, name, &ds);
	if (problems == 0)
		printf("%s: %zu trust anchor digest(s) in %s verified%s\n", name, ds.count, argv[optind],
		       nservers > 0 ? ", and served" : "");
	return problems == 0 ? RS_EOK : RS_EBOGUS;
}
