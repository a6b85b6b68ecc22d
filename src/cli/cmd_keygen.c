/* regsign keygen: a key pair as BIND-compatible files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign keygen --origin ORIGIN --algorithm ALG [--ksk] [--bits N] --keys DIR\n"
		"                      [--ttl TTL] [--import-pem FILE] [--legacy] [--quiet]\n"
		"\n"
		"Makes a key pair and writes DIR/K<origin>+<alg>+<tag>.key and .private (mode 0600),\n"
		"the files dnssec-keygen writes; prints the base name. ALG is RSASHA256, RSASHA512,\n"
		"ECDSAP256SHA256, ECDSAP384SHA384, ED25519 or ED448 (or its number). RSASHA1 and\n"
		"NSEC3RSASHA1 are refused unless --legacy is given: SHA-1 signatures are no longer\n"
		"safe (RFC 8624 says MUST NOT sign with them).\n"
		"--import-pem turns a PKCS#8 PEM private key (a Knot keystore file) into key files.\n"
		"\n"
		"example:\n"
		"  regsign keygen --origin cloud. --algorithm ECDSAP256SHA256 --ksk --keys keys/\n");
}

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "origin", required_argument, NULL, 'o' }, { "algorithm", required_argument, NULL, 'a' },
		{ "ksk", no_argument, NULL, 'k' },          { "bits", required_argument, NULL, 'b' },
		{ "keys", required_argument, NULL, 'K' },   { "ttl", required_argument, NULL, 't' },
		{ "import-pem", required_argument, NULL, 'p' }, { "legacy", no_argument, NULL, 'L' },
		{ "quiet", no_argument, NULL, 'q' },        { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *origin_text = NULL, *alg_text = NULL, *dir = NULL, *pem = NULL;
	bool ksk = false, legacy = false, quiet = false;
	unsigned long bits = 0, ttl = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:a:kb:K:t:p:Lqh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': origin_text = optarg; break;
		case 'a': alg_text = optarg; break;
		case 'k': ksk = true; break;
		case 'b': bits = strtoul(optarg, NULL, 10); break;
		case 'K': dir = optarg; break;
		case 't': ttl = strtoul(optarg, NULL, 10); break;
		case 'p': pem = optarg; break;
		case 'L': legacy = true; break;
		case 'q': quiet = true; break;
		case 'h': help(stdout); return RS_EOK;
		default: help(stderr); return RS_EINVAL;
		}
	}
	uint8_t origin[255];
	if (!cli_origin(origin_text, origin))
		return RS_EINVAL;
	if (dir == NULL) {
		cli_error("--keys DIR is required");
		return RS_EINVAL;
	}
	int alg = 0;
	if (alg_text == NULL && pem == NULL) {
		cli_error("--algorithm is required");
		return RS_EINVAL;
	}
	if (alg_text != NULL && rs_alg_from_str(alg_text, &alg) != RS_EOK) {
		cli_error("unknown algorithm '%s'", alg_text);
		return RS_EINVAL;
	}
	if (rs_alg_legacy(alg) && !legacy) {
		cli_error("algorithm %s uses SHA-1, which RFC 8624 forbids for signing; "
			  "pass --legacy to make one anyway", rs_alg_name(alg));
		return RS_EINVAL;
	}
	rs_key_t *key = NULL;
	rs_diag_t diag;
	char base[1024];
	/* Never over another key's files: another key is made instead (as dnssec-keygen does). */
	for (int attempt = 0;; attempt++) {
		int ret = pem != NULL ? rs_key_import_pem(pem, origin, alg, ksk, &key, &diag)
				      : rs_key_generate(origin, alg, (unsigned)bits, ksk, &key, &diag);
		if (ret != RS_EOK) {
			cli_error("%s", diag.text);
			return ret;
		}
		if (rs_key_file_name(key, base, sizeof(base)) != RS_EOK || rs_key_files_free(dir, base, &diag) == RS_EOK)
			break;
		rs_key_free(key);
		if (pem != NULL || attempt == 31) {
			cli_error("%s%s", diag.text, pem != NULL ? "" : " (32 keys made, each with a taken tag)");
			return RS_EINVAL;
		}
	}
	int ret = rs_key_save(key, dir, cli_now(), (uint32_t)ttl, base, sizeof(base), &diag);
	rs_key_free(key);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		return ret;
	}
	if (!quiet)
		printf("%s\n", base);
	return RS_EOK;
}
