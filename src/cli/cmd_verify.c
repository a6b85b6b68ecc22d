/* regsign verify: the full check of a signed zone. */
#include <getopt.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#include "cli.h"
#include "regsign/verify.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign verify SIGNED --origin ORIGIN [--time T] [--threads N] [--max-problems N] [--quiet]\n"
		"\n"
		"Checks that every authoritative RRset has a valid signature from a key of the apex\n"
		"DNSKEY RRset (for each of its algorithms), that the DNSKEY RRset is signed by a SEP\n"
		"key, that the NSEC or NSEC3 chain is complete with right type bitmaps, and that no\n"
		"signature is outside its validity at T (default: now). Problems are listed on\n"
		"stdout as 'OWNER TYPE: what is wrong', the first N (default 20; 0: all) followed by\n"
		"'... and K more problems (N shown)'; the summary on stderr counts them all.\n"
		"Exit status: 0 secure, 1 bogus (problems listed), 2 the input could not be read.\n"
		"\n"
		"example:\n"
		"  regsign verify cloud.zone.signed --origin cloud. --time 20261201000000\n");
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "origin", required_argument, NULL, 'o' }, { "time", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'j' }, { "quiet", no_argument, NULL, 'q' },
		{ "max-problems", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *origin_text = NULL;
	/* A zone signed with the wrong key has a problem per RRset: the first few say what is wrong. */
	rs_verify_opts_t vo = { .now = cli_now(), .max_problems = 20 };
	bool quiet = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:t:j:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': origin_text = optarg; break;
		case 't':
			if (rs_time_parse(optarg, &vo.now) != RS_EOK) {
				cli_error("invalid time '%s' (use YYYYMMDDHHMMSS)", optarg);
				return RS_EINVAL;
			}
			break;
		case 'j': vo.threads = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'q': quiet = true; break;
		case 'm': {
			char *end;
			unsigned long long n = strtoull(optarg, &end, 10);
			if (*optarg == '\0' || *optarg == '-' || *end != '\0') {
				cli_error("invalid --max-problems '%s'", optarg);
				return RS_EINVAL;
			}
			vo.max_problems = n == 0 || n > SIZE_MAX ? SIZE_MAX : (size_t)n;
			break;
		}
		case 'h': help(stdout); return RS_EOK;
		default: help(stderr); return RS_EINVAL;
		}
	}
	if (optind != argc - 1) {
		cli_error("one SIGNED zone file is required");
		return RS_EINVAL;
	}
	uint8_t origin[255];
	if (!cli_origin(origin_text, origin))
		return RS_EINVAL;
	rs_zone_opts_t zo = { .keep_dnssec = true, .threads = vo.threads };
	rs_zone_t *zone;
	rs_diag_t diag;
	int ret = rs_zone_new(origin, &zo, &zone);
	if (ret != RS_EOK) {
		cli_error("%s", rs_strerror(ret));
		return CLI_EINTERNAL;
	}
	ret = rs_zone_read(zone, argv[optind], &diag);
	if (ret == RS_EOK)
		ret = rs_zone_finish(zone, &diag);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		rs_zone_free(zone);
		return RS_EINVAL;
	}
	rs_buf_t report;
	rs_buf_init(&report, (size_t)1 << 30);
	rs_verify_result_t res;
	ret = rs_verify_zone(zone, &vo, &report, &res, &diag);
	rs_zone_free(zone);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		rs_buf_clear(&report);
		return CLI_EINTERNAL;
	}
	uint64_t listed = 0;
	for (size_t i = 0; i < report.len; i++)
		listed += report.data[i] == '\n';
	if (report.len > 0)
		fwrite(report.data, 1, report.len, stdout);
	rs_buf_clear(&report);
	if (res.problems > listed)
		printf("... and %llu more problems (%llu shown)\n",
		       (unsigned long long)(res.problems - listed), (unsigned long long)listed);
	fflush(stdout); /* the list before the summary, on a terminal or in one log */
	if (!quiet || res.problems > 0)
		fprintf(stderr, "%s: %llu RRsets, %llu signatures checked, %s chain: %s (%llu problems)\n",
			argv[optind], (unsigned long long)res.rrsets, (unsigned long long)res.signatures,
			res.nsec3 ? "NSEC3" : "NSEC", res.problems ? "bogus" : "secure",
			(unsigned long long)res.problems);
	if (!quiet && res.zonemd.records > 0) {
		char list[64] = "";
		for (size_t i = 0; i < res.zonemd.checked && i < sizeof(res.zonemd.hashes); i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
				 rs_zonemd_hash_name(res.zonemd.hashes[i]));
		fprintf(stderr, "%s: ZONEMD: %zu records, %zu digests checked (%s), %zu match (%.2f s)\n", argv[optind],
			res.zonemd.records, res.zonemd.checked, res.zonemd.checked ? list : "none of a scheme and "
			"hash algorithm regsign knows", res.zonemd.valid, res.zonemd.seconds);
	}
	return res.problems ? RS_EBOGUS : RS_EOK;
}
