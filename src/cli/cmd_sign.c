/* regsign sign: sign a zone file with the keys of a key directory. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "managed.h"
#include "regsign/session.h"
#include "regsign/signer.h"
#include "regsign/zonemd.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign [--state DIR] sign --zone ZONE --out SIGNED [--now T] [--force-clock] [--incremental]\n"
		"       regsign sign ZONEFILE --origin ORIGIN --keys KEYDIR --out SIGNED\n"
		"         [--inception T --expiration T | --validity D]\n"
		"         [--nsec3 [--nsec3-iterations N] [--nsec3-salt HEX|-] [--opt-out]]\n"
		"         [--threads N] [--serial keep|increment|unixtime|dateserial]\n"
		"         [--zonemd [sha384|sha512|sha384,sha512|none]] [--legacy] [--quiet]\n"
		"\n"
		"With --zone, signs a managed zone (see regsign zone add): first the key steps that\n"
		"are due, then the zone's input with the keys and TTLs its policy and key states\n"
		"give now; inception and expiration follow the policy. Refuses to sign when the\n"
		"clock is behind the last run, or (without --now) jumped more than clock.max-jump\n"
		"ahead; --force-clock overrides. --incremental keeps the signatures of the last\n"
		"output (the file --out names) whose RRsets did not change and that hold long enough.\n"
		"\n"
		"Otherwise signs ZONEFILE with every key of ORIGIN in KEYDIR and writes the signed zone,\n"
		"in canonical order, atomically to SIGNED. KSKs (flag 257) sign the DNSKEY, CDS and\n"
		"CDNSKEY RRsets, ZSKs the rest; without a ZSK the KSK signs everything. Denial of\n"
		"existence is NSEC unless --nsec3 (RFC 9276 defaults: 0 iterations, no salt).\n"
		"ZONEFILE may be - for standard input, SIGNED - for standard output.\n"
		"--zonemd adds a ZONEMD record (RFC 8976, scheme SIMPLE; SHA-384 unless named) over\n"
		"the signed zone, signed after the digest and written last; a ZONEMD at the input's\n"
		"apex is made again with its hash algorithms; --zonemd none drops it (with a\n"
		"warning, as any ZONEMD of a scheme or hash algorithm regsign does not make).\n"
		"T is YYYYMMDDHHMMSS (UTC) or seconds since the epoch; D is a duration such as 30d.\n"
		"Defaults: inception one hour ago, expiration 30 days from now, serial kept,\n"
		"threads = CPUs.\n"
		"\n"
		"examples:\n"
		"  regsign --state /var/lib/regsign sign --zone cloud. --out /var/lib/regsign/cloud.signed\n"
		"  regsign sign cloud.zone --origin cloud. --keys keys/ --out cloud.zone.signed \\\n"
		"      --validity 14d --serial unixtime\n");
}

enum { OPT_INCEPTION = 256, OPT_EXPIRATION, OPT_VALIDITY, OPT_NSEC3, OPT_ITER, OPT_SALT, OPT_OPTOUT,
       OPT_THREADS, OPT_SERIAL, OPT_LEGACY, OPT_ZONE, OPT_NOW, OPT_FORCE_CLOCK, OPT_INCREMENTAL, OPT_ZONEMD };

/* Seconds since start. */
static double elapsed(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void progress(void *arg, size_t done, size_t total)
{
	int *last = arg;
	int pct = total ? (int)(done * 100 / total) : 100;
	if (pct != *last) {
		fprintf(stderr, "\rsigning: %3d%%", pct);
		if (pct == 100)
			fputc('\n', stderr);
		*last = pct;
	}
}

/* The zone reader's warnings (CDS that match no key): "regsign: warning: FILE:LINE: ..." on stderr. */
static void read_warning(void *arg, int level, const char *zone, const char *msg)
{
	(void)arg;
	(void)level;
	(void)zone;
	cli_error("warning: %s", msg);
}

/* "sha384", "sha512" or both, comma-separated, added to hashes[*n] once each, or "none"; false if a name is unknown. */
static bool parse_zonemd(const char *text, uint8_t hashes[RS_ZONEMD_HASHES], size_t *n)
{
	if (strcmp(text, "none") == 0)
		return true;
	char copy[64];
	snprintf(copy, sizeof(copy), "%s", text);
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		uint8_t h;
		if (!rs_zonemd_hash_from_str(t, &h))
			return false;
		bool seen = false;
		for (size_t i = 0; i < *n; i++)
			seen |= hashes[i] == h;
		if (!seen)
			hashes[(*n)++] = h;
	}
	return true;
}

static int parse_salt(const char *text, rs_nsec3_params_t *p)
{
	if (strcmp(text, "-") == 0) {
		p->salt_len = 0;
		return RS_EOK;
	}
	size_t len = strlen(text);
	if (len % 2 != 0 || len / 2 > 255)
		return RS_ESYNTAX;
	for (size_t i = 0; i < len / 2; i++) {
		unsigned v;
		if (sscanf(text + 2 * i, "%2x", &v) != 1)
			return RS_ESYNTAX;
		p->salt[i] = (uint8_t)v;
	}
	p->salt_len = (uint8_t)(len / 2);
	return RS_EOK;
}

/* Phase times and counts of a publication, as the operator reads them. */
static void publish_summary(const char *zone, const rs_publish_result_t *r)
{
	char exp[15];
	rs_time_format(r->expiration, exp);
	fprintf(stderr, "signed %s: %llu names, %llu signatures (%llu kept) by %zu keys, %zu DNSKEYs published, "
		"serial %u, expires %s; %llu signatures verified; %.2f s (build %.2f, sign %.2f, verify %.2f)\n",
		zone, (unsigned long long)r->stats.names, (unsigned long long)r->stats.signatures,
		(unsigned long long)r->stats.reused, r->signers, r->published, r->serial, exp,
		(unsigned long long)r->verified, r->t_build + r->t_sign + r->t_verify, r->t_build, r->t_sign,
		r->t_verify);
	if (r->zonemd > 0)
		fprintf(stderr, "ZONEMD: %zu digest%s over the signed zone (RFC 8976 SIMPLE)\n", r->zonemd,
			r->zonemd > 1 ? "s" : "");
	if (r->delegations > 0 || r->skipped > 0)
		fprintf(stderr, "registry zone %s: %zu delegations, %zu left out\n", zone, r->delegations, r->skipped);
	if (r->ttl_fixes > 0)
		fprintf(stderr, "warning: %zu records had a TTL different from their RRset's; the lowest was used "
			"(RFC 2181 5.2)\n", r->ttl_fixes);
}

int cli_publish(const char *zone, const char *out_path, const cli_publish_opts_t *po)
{
	cli_zone_t z;
	rs_session_opts_t so = cli_session_opts(CLI_STDERR | (po->quiet ? CLI_QUIET : 0));
	so.force_clock = po->force_clock;
	so.threads = po->threads;
	int code = cli_zone_open(&z, zone, &so);
	rs_diag_t diag;
	int ret = code == RS_EOK ? RS_EOK : RS_EINVAL;
	/* A wrong clock takes no step at all; any failure from here on is a failed publication. */
	if (ret == RS_EOK && (ret = rs_session_check_clock(z.session, &diag)) != RS_EOK)
		rs_session_fail(z.session, diag.text);
	if (ret == RS_EOK && po->registry)
		ret = rs_session_set_registry(z.session, &diag);
	if (ret == RS_EOK && (ret = rs_session_parent(z.session, false, &diag)) != RS_EOK)
		rs_session_fail(z.session, diag.text);
	if (ret == RS_EOK && (ret = rs_session_enforce(z.session, &diag)) != RS_EOK)
		rs_session_fail(z.session, diag.text);
	int last = -1;
	rs_zone_t *published = NULL;
	rs_publish_opts_t o = { .output = out_path, .incremental = po->incremental, .keep = &published };
	if (!po->quiet && isatty(STDERR_FILENO)) {
		o.progress = progress;
		o.progress_arg = &last;
	}
	rs_publish_result_t res;
	if (ret == RS_EOK && (ret = rs_session_publish(z.session, &o, &res, &diag)) == RS_EOK && !po->quiet)
		publish_summary(rs_session_zone(z.session)->name, &res);
	if (published != NULL)
		cli_warn_margin(rs_session_policy(z.session), published);
	rs_zone_free(published);
	if (code == RS_EOK)
		code = cli_check(ret, &diag);
	cli_zone_close(&z);
	return code;
}

int cmd_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "origin", required_argument, NULL, 'o' },
		{ "keys", required_argument, NULL, 'K' },
		{ "out", required_argument, NULL, 'f' },
		{ "inception", required_argument, NULL, OPT_INCEPTION },
		{ "expiration", required_argument, NULL, OPT_EXPIRATION },
		{ "validity", required_argument, NULL, OPT_VALIDITY },
		{ "nsec3", no_argument, NULL, OPT_NSEC3 },
		{ "nsec3-iterations", required_argument, NULL, OPT_ITER },
		{ "nsec3-salt", required_argument, NULL, OPT_SALT },
		{ "opt-out", no_argument, NULL, OPT_OPTOUT },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "legacy", no_argument, NULL, OPT_LEGACY },
		{ "zone", required_argument, NULL, OPT_ZONE },
		{ "now", required_argument, NULL, OPT_NOW },
		{ "force-clock", no_argument, NULL, OPT_FORCE_CLOCK },
		{ "incremental", no_argument, NULL, OPT_INCREMENTAL },
		{ "zonemd", optional_argument, NULL, OPT_ZONEMD },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *origin_text = NULL, *dir = NULL, *out_path = NULL, *serial_text = "keep";
	const char *inc_text = NULL, *exp_text = NULL, *validity_text = NULL;
	const char *managed = NULL;
	bool quiet = false, legacy = false, nsec3_opts = false, force_clock = false, incremental = false;
	rs_sign_opts_t so = { 0 };
	uint8_t zonemd[RS_ZONEMD_HASHES];
	size_t nzonemd = 0;
	bool zonemd_opt = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:K:f:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': origin_text = optarg; break;
		case 'K': dir = optarg; break;
		case 'f': out_path = optarg; break;
		case OPT_INCEPTION: inc_text = optarg; break;
		case OPT_EXPIRATION: exp_text = optarg; break;
		case OPT_VALIDITY: validity_text = optarg; break;
		case OPT_NSEC3: so.nsec3 = true; break;
		case OPT_ITER: {
			char *end;
			unsigned long it = strtoul(optarg, &end, 10);
			if (*end != '\0' || it > 2500) {
				cli_error("NSEC3 iterations '%s' is not a number up to 2500 (RFC 9276 advises 0)", optarg);
				return RS_EINVAL;
			}
			so.nsec3_params.iterations = (uint16_t)it;
			nsec3_opts = true;
			break;
		}
		case OPT_SALT:
			if (parse_salt(optarg, &so.nsec3_params) != RS_EOK) {
				cli_error("NSEC3 salt '%s' is not hex of up to 255 octets, or '-'", optarg);
				return RS_EINVAL;
			}
			nsec3_opts = true;
			break;
		case OPT_OPTOUT: so.nsec3_params.opt_out = true; nsec3_opts = true; break;
		case OPT_THREADS: so.threads = (unsigned)strtoul(optarg, NULL, 10); break;
		case OPT_SERIAL: serial_text = optarg; break;
		case OPT_LEGACY: legacy = true; break;
		case OPT_ZONE: managed = optarg; break;
		case OPT_NOW: if (!cli_set_now(optarg)) return RS_EINVAL; break;
		case OPT_FORCE_CLOCK: force_clock = true; break;
		case OPT_INCREMENTAL: incremental = true; break;
		case OPT_ZONEMD: {
			/* --zonemd alone is SHA-384; the hashes may follow as --zonemd=H or as the next word. */
			const char *h = optarg;
			uint8_t probe[RS_ZONEMD_HASHES];
			size_t nprobe = 0;
			if (h == NULL && optind < argc && parse_zonemd(argv[optind], probe, &nprobe))
				h = argv[optind++];
			if (!parse_zonemd(h != NULL ? h : "sha384", zonemd, &nzonemd)) {
				cli_error("unknown ZONEMD hash '%s' (sha384, sha512, or both: sha384,sha512)", h);
				return RS_EINVAL;
			}
			zonemd_opt = true;
			break;
		}
		case 'q': quiet = true; break;
		case 'h': help(stdout); return RS_EOK;
		default: help(stderr); return RS_EINVAL;
		}
	}
	if (incremental && managed == NULL) {
		cli_error("--incremental is for managed zones (--zone)");
		return RS_EINVAL;
	}
	if (managed != NULL) {
		if (optind != argc || origin_text || dir || inc_text || exp_text || validity_text || nsec3_opts ||
		    so.nsec3 || zonemd_opt) {
			cli_error("with --zone, the zone's policy and state decide keys, times and denial; "
				  "give only --out (and --now, --threads, --force-clock, --incremental, --quiet)");
			return RS_EINVAL;
		}
		if (out_path == NULL) {
			cli_error("--out SIGNED is required");
			return RS_EINVAL;
		}
		cli_publish_opts_t po = { .threads = so.threads, .force_clock = force_clock, .quiet = quiet,
					  .incremental = incremental };
		return cli_publish(managed, out_path, &po);
	}
	if (optind != argc - 1) {
		cli_error(optind >= argc ? "ZONEFILE is required" : "only one ZONEFILE may be given");
		help(stderr);
		return RS_EINVAL;
	}
	const char *zone_path = argv[optind];
	uint8_t origin[255];
	if (!cli_origin(origin_text, origin))
		return RS_EINVAL;
	if (dir == NULL || out_path == NULL) {
		cli_error("--keys KEYDIR and --out SIGNED are required");
		return RS_EINVAL;
	}
	if (nsec3_opts && !so.nsec3) {
		cli_error("NSEC3 options need --nsec3");
		return RS_EINVAL;
	}
	int64_t now = cli_now();
	so.inception = now - 3600;
	so.expiration = now + 30 * 86400;
	if (validity_text != NULL) {
		int64_t d;
		if (inc_text != NULL || exp_text != NULL) {
			cli_error("--validity cannot be combined with --inception/--expiration");
			return RS_EINVAL;
		}
		if (rs_duration_parse(validity_text, &d) != RS_EOK || d <= 0) {
			cli_error("invalid validity '%s' (use e.g. 30d, 12h)", validity_text);
			return RS_EINVAL;
		}
		so.expiration = now + d;
	}
	const char *bad_time = inc_text != NULL && rs_time_parse(inc_text, &so.inception) != RS_EOK ? inc_text
			       : exp_text != NULL && rs_time_parse(exp_text, &so.expiration) != RS_EOK ? exp_text
												       : NULL;
	if (bad_time != NULL) {
		cli_error("invalid time '%s' (use YYYYMMDDHHMMSS)", bad_time);
		return RS_EINVAL;
	}
	if (so.expiration <= so.inception) {
		cli_error("expiration is not after inception");
		return RS_EINVAL;
	}
	static const char *const serial_modes[] = { "keep", "increment", "unixtime", "dateserial" };
	int serial_mode = -1;
	for (int i = 0; i < 4; i++)
		if (strcmp(serial_text, serial_modes[i]) == 0)
			serial_mode = i;
	if (serial_mode < 0) {
		cli_error("unknown serial mode '%s' (keep, increment, unixtime, dateserial)", serial_text);
		return RS_EINVAL;
	}

	rs_key_t *keys[16];
	int nkeys = cli_load_keys(dir, origin, true, keys, 16);
	if (nkeys < 0)
		return RS_EINVAL;
	int code = RS_EOK;
	rs_zone_t *zone = NULL;
	rs_diag_t diag;
	if (nkeys == 0) {
		cli_error("no keys for '%s' in '%s'", origin_text, dir);
		code = RS_EINVAL;
		goto out;
	}
	for (int i = 0; i < nkeys; i++) {
		int alg = rs_key_alg(keys[i]);
		if (rs_alg_legacy(alg) && !legacy) {
			cli_error("key %u uses %s (SHA-1), which RFC 8624 forbids for signing; pass --legacy "
				  "to sign with it anyway", rs_key_tag(keys[i]), rs_alg_name(alg));
			code = RS_EINVAL;
			goto out;
		}
		if (so.nsec3 && !rs_alg_nsec3_ok(alg)) {
			cli_error("key %u uses %s, which cannot sign an NSEC3 zone (RFC 5155 2)",
				  rs_key_tag(keys[i]), rs_alg_name(alg));
			code = RS_EINVAL;
			goto out;
		}
	}
	rs_zone_opts_t zo = { .threads = so.threads, .log = { read_warning, NULL } };
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int ret = rs_zone_new(origin, &zo, &zone);
	if (ret == RS_EOK)
		ret = rs_zone_read(zone, zone_path, &diag);
	else
		rs_diag(&diag, ret, "%s", rs_strerror(ret));
	for (int i = 0; ret == RS_EOK && i < nkeys; i++) {
		size_t len;
		const uint8_t *dnskey = rs_key_dnskey(keys[i], &len);
		ret = rs_zone_add(zone, origin, RS_TYPE_DNSKEY, 0, dnskey, len);
		if (ret != RS_EOK)
			rs_diag(&diag, ret, "cannot add key %u: %s", rs_key_tag(keys[i]), rs_strerror(ret));
	}
	double t_read = elapsed(&t0);
	if (ret == RS_EOK)
		ret = rs_zone_finish(zone, &diag);
	double t_sort = elapsed(&t0);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		code = ret;
		goto out;
	}
	size_t ttl_fixes = rs_zone_ttl_fixes(zone), stale = 0;
	uint8_t hashes[RS_ZONEMD_HASHES];
	ret = rs_zonemd_setup(&zone, zonemd_opt ? zonemd : NULL, nzonemd, hashes, &nzonemd, &stale, &diag);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		code = ret;
		goto out;
	}
	so.zonemd = nzonemd > 0;
	if (stale > 0)
		fprintf(stderr, "warning: %s: %zu apex ZONEMD record%s dropped: %s\n", zone_path, stale,
			stale > 1 ? "s" : "", nzonemd == 0 ? "signing changes the zone they digest (--zonemd makes new ones)"
							   : "of a scheme or hash algorithm regsign does not make");
	const rs_rr_t *soa = rs_zone_soa(zone);
	uint32_t serial = rs_serial_next(serial_mode, rs_get32(soa->rdata + soa->rdlen - 20), now);
	rs_zone_set_serial(zone, serial);

	rs_outfile_t *out;
	ret = rs_outfile_open(out_path, 0644, &out, &diag);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		code = ret;
		goto out;
	}
	int last = -1;
	if (!quiet && isatty(STDERR_FILENO)) {
		so.progress = progress;
		so.progress_arg = &last;
	}
	rs_sign_stats_t stats;
	ret = rs_sign_zone(zone, keys, (size_t)nkeys, &so, rs_outfile_stream(out), &stats, &diag);
	if (ret == RS_EOK)
		ret = rs_outfile_commit(out, &diag);
	else
		rs_outfile_abort(out);
	double t_sign = elapsed(&t0);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		code = ret;
		goto out;
	}
	if (!quiet) {
		fprintf(stderr, "signed %s: %llu names, %llu signatures, %llu %s, serial %u, "
			"%.2f s (read %.2f, sort %.2f, sign and write %.2f)\n",
			origin_text, (unsigned long long)stats.names, (unsigned long long)stats.signatures,
			(unsigned long long)stats.nsec, so.nsec3 ? "NSEC3" : "NSEC", serial, t_sign, t_read,
			t_sort - t_read, t_sign - t_sort);
		for (size_t i = 0; i < nzonemd; i++)
			fprintf(stderr, "ZONEMD: %s digest over the signed zone (RFC 8976 SIMPLE)\n",
				rs_zonemd_hash_name(hashes[i]));
		if (ttl_fixes > 0)
			fprintf(stderr, "warning: %zu records had a TTL different from their RRset's; "
				"the lowest was used (RFC 2181 5.2)\n", ttl_fixes);
	}
out:
	rs_zone_free(zone);
	for (int i = 0; i < nkeys; i++)
		rs_key_free(keys[i]);
	return code;
}
