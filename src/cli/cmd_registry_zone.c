/* regsign registry-zone: the registry zone built from its delegations, then signed incrementally. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "managed.h"
#include "registry.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign registry-zone --zone ZONE --out SIGNED [--full] [--threads N] [--force-clock] [--quiet]\n"
		"\n"
		"Builds the registry zone ZONE from its template (the input file of 'zone add':\n"
		"SOA, apex NS and the registry's own records) and the delegations in the registry\n"
		"data (NS, glue, and DS with the TTL of the NS RRset, as both statements require),\n"
		"writes it to DIR/registry/ZONE.zone, and signs it as 'sign --zone' does. The\n"
		"signatures of the last SIGNED whose RRsets did not change are kept, so a change\n"
		"of one delegation re-signs only what it touches; --full signs everything anew.\n"
		"\n"
		"example:\n"
		"  regsign registry-zone --zone cloud. --out /var/lib/regsign/cloud.signed\n");
}

int cmd_registry_zone(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' },	{ "out", required_argument, NULL, 'o' },
		{ "full", no_argument, NULL, 'F' },		{ "threads", required_argument, NULL, 't' },
		{ "force-clock", no_argument, NULL, 'c' },	{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },		{ NULL, 0, NULL, 0 },
	};
	const char *zone = NULL, *out_path = NULL;
	bool full = false, force_clock = false, quiet = false;
	unsigned threads = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "z:o:Ft:cqh", opts, NULL)) != -1) {
		switch (c) {
		case 'z': zone = optarg; break;
		case 'o': out_path = optarg; break;
		case 'F': full = true; break;
		case 't': threads = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'c': force_clock = true; break;
		case 'q': quiet = true; break;
		case 'h': help(stdout); return EXIT_OK;
		default: help(stderr); return EXIT_INPUT;
		}
	}
	char name[256];
	uint8_t wire[255];
	if (optind != argc || zone == NULL || out_path == NULL) {
		help(stderr);
		return EXIT_INPUT;
	}
	if (!cli_zone_name(zone, name, wire))
		return EXIT_INPUT;
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != EXIT_OK)
		return code;
	rs_zone_rec_t z;
	char dir[4200], path[4600];
	if (rs_store_zone_get(store, name, &z) != RS_EOK) {
		cli_error("%s: not a managed zone (regsign zone add %s --policy P --input TEMPLATE)", name, name);
		rs_store_close(store);
		return EXIT_INPUT;
	}
	snprintf(dir, sizeof(dir), "%s/registry", rs_store_dir(store));
	snprintf(path, sizeof(path), "%s/%szone", dir, name);
	mkdir(dir, 0700);
	rs_registry_t reg;
	cli_registry(store, name, &reg);
	rs_diag_t diag;
	rs_outfile_t *out;
	size_t count = 0;
	int ret = rs_outfile_open(path, 0600, &out, &diag);
	if (ret == RS_EOK) {
		ret = rs_registry_zone_text(&reg, name, z.input, rs_outfile_stream(out), &count, &diag);
		if (ret == RS_EOK)
			ret = rs_outfile_commit(out, &diag);
		else
			rs_outfile_abort(out);
	}
	rs_store_close(store);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		return cli_exit_code(ret);
	}
	if (!quiet)
		fprintf(stderr, "registry zone %s: %zu delegations, written to %s\n", name, count, path);
	return cli_sign_managed(name, out_path, threads, force_clock, quiet, path, !full);
}
