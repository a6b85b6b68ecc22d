/* regsign registry-zone: the registry zone built from its delegations, then signed incrementally. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "managed.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign registry-zone --zone ZONE --out SIGNED [--full] [--threads N] [--force-clock] [--quiet]\n"
		"\n"
		"Builds the registry zone ZONE from its template (the input file of 'zone add':\n"
		"SOA, apex NS and the registry's own records) and the delegations in the registry\n"
		"data (NS, glue, and DS with the TTL of the NS RRset, as both statements require),\n"
		"and publishes it as 'sign --zone' does: verified, then written atomically. From\n"
		"then on the zone is a registry zone, which 'sign --zone' builds the same way. A\n"
		"delegation whose stored data cannot be published is left out, with a warning that\n"
		"names it. The signatures of the last SIGNED whose RRsets did not change are kept,\n"
		"so a change of one delegation re-signs only what it touches; --full signs all anew.\n"
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
		case 'h': help(stdout); return RS_EOK;
		default: help(stderr); return RS_EINVAL;
		}
	}
	if (optind != argc || zone == NULL || out_path == NULL) {
		help(stderr);
		return RS_EINVAL;
	}
	cli_publish_opts_t po = { .threads = threads, .force_clock = force_clock, .quiet = quiet, .incremental = !full,
				  .registry = true };
	return cli_publish(zone, out_path, &po);
}
