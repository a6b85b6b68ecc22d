/* regsign simulate: a policy over simulated years, checked by a model of a validating resolver. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "managed.h"
#include "regsign/session.h"
#include "regsign/crypto.h"
#include "regsign/signer.h"
#include "regsign/verify.h"
#include "regsign/zone.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign simulate --policy NAME|FILE [--days N] [--start T] [--soa-ttl S]\n"
		"         [--emergency-zsk DAY] [--emergency-ksk DAY] [--change-policy DAY:NAME|FILE]\n"
		"         [--real-signer] [--svg FILE] [--extra-delay D] [--rfc5011-resolver]\n"
		"         [--unchecked] [--quiet]\n"
		"\n"
		"Runs the key state machine over N simulated days (default 1095, three years) and\n"
		"models a caching validating resolver that holds every DS, DNSKEY and RRSIG for its\n"
		"full TTL: every mix of versions it could hold at any instant must validate (strictly:\n"
		"each algorithm of the DS RRset and of the DNSKEY RRset must lead to a valid\n"
		"signature). Prints a timeline of every key event, each problem, and a table of the\n"
		"keys with their pre-publication and post-retirement intervals; --svg draws each\n"
		"key's states. --emergency-* roll a key as compromised on that day; --change-policy\n"
		"switches policy (an algorithm rollover when the algorithm differs). --real-signer\n"
		"makes real keys and signs and verifies a small zone at every change with them.\n"
		"--extra-delay D makes secondaries and the parent slower than the policy says (D, such\n"
		"as 2h), to see what an understated propagation delay breaks.\n"
		"--rfc5011-resolver also follows a resolver that tracks the KSK by RFC 5011 (always\n"
		"when the policy sets trust-anchors.rfc5011): it must never be left without a key it\n"
		"trusts signing the DNSKEY RRset.\n"
		"--unchecked runs a policy that 'policy check' refuses, to see what would break.\n"
		"Exit status 1 if any combination is bogus, a limit is broken or the tracking\n"
		"resolver loses the anchor.\n"
		"\n"
		"example:\n"
		"  regsign simulate --policy cloud-tld --days 1095 --emergency-zsk 200 --svg cloud.svg\n");
}

/* ---- the real signer, on a small zone, at every change ---- */

typedef struct {
	uint8_t origin[255];
	uint32_t soa_ttl;
	rs_key_t **keys; /* by index of creation */
	uint16_t *tags;
	size_t n, cap;
} real_t;

static int real_key(void *arg, const rs_keyset_t *set, rs_keystate_t *ks)
{
	real_t *r = arg;
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 32;
		rs_key_t **k = realloc(r->keys, cap * sizeof(*k));
		if (k == NULL)
			return RS_ENOMEM;
		r->keys = k;
		uint16_t *t = realloc(r->tags, cap * sizeof(*t));
		if (t == NULL)
			return RS_ENOMEM;
		r->tags = t;
		r->cap = cap;
	}
	for (;;) {
		rs_key_t *key;
		int ret = rs_key_generate(r->origin, ks->alg, ks->bits, (ks->role & RS_ROLE_KSK) != 0, &key, NULL);
		if (ret != RS_EOK)
			return ret;
		bool used = false;
		for (size_t i = 0; i < set->count && !used; i++)
			used = set->keys[i].tag == rs_key_tag(key);
		if (!used) {
			ks->tag = rs_key_tag(key);
			snprintf(ks->locator, sizeof(ks->locator), "memory");
			r->keys[r->n] = key;
			r->tags[r->n++] = ks->tag;
			return RS_EOK;
		}
		rs_key_free(key);
	}
}

static rs_key_t *real_find(const real_t *r, uint16_t tag)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->tags[i] == tag)
			return r->keys[i];
	return NULL;
}

static const char small_zone[] =
	"$TTL 3600\n"
	"@ SOA ns1 hostmaster 1 7200 3600 1209600 3600\n"
	"@ NS ns1\n"
	"ns1 A 192.0.2.1\n"
	"www A 192.0.2.2\n"
	"child NS ns.child\n"
	"child DS 12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118F6B9A8F89D8A2CCD7A6F0A18\n"
	"ns.child A 192.0.2.3\n";

static int real_load(void *arg, const rs_keystate_t *k, bool need_private, rs_key_t **out, rs_diag_t *diag)
{
	(void)need_private;
	rs_key_t *key = real_find(arg, k->tag);
	if (key == NULL)
		return rs_diag(diag, RS_ENOKEY, "no key %u", k->tag);
	/* The signing set frees what it loads: a copy. */
	int ret = rs_key_dup(key, out);
	return ret == RS_EOK ? RS_EOK : rs_diag(diag, ret, "%s", rs_strerror(ret));
}

/* Sign the small zone as the session signs a zone with these key states, then check the result. */
static int real_check(void *arg, const rs_policy_t *p, const rs_keyset_t *set, int64_t now, rs_buf_t *report)
{
	real_t *r = arg;
	rs_signing_t signing;
	rs_zone_t *zone = NULL, *signed_zone = NULL;
	rs_diag_t diag;
	rs_zone_opts_t zo = { .threads = 1 };
	char text[512], *out = NULL;
	size_t outlen = 0;
	snprintf(text, sizeof(text), "$ORIGIN %s\n%s", "example.", small_zone);
	int ret = rs_signing_load(set, real_load, r, &signing, &diag);
	if (ret == RS_EOK && (ret = rs_zone_new(r->origin, &zo, &zone)) == RS_EOK)
		ret = rs_zone_read_string(zone, text, strlen(text), "simulated", &diag);
	if (ret == RS_EOK)
		ret = rs_signing_add_keys(&signing, p, zone, r->soa_ttl, &diag);
	if (ret == RS_EOK)
		ret = rs_zone_finish(zone, &diag);
	FILE *mem = ret == RS_EOK ? open_memstream(&out, &outlen) : NULL;
	if (ret == RS_EOK && mem == NULL)
		ret = rs_diag(&diag, RS_ENOMEM, "out of memory");
	if (ret == RS_EOK) {
		rs_sign_opts_t so;
		rs_signing_opts(&signing, p, zone, now, &so);
		so.threads = 1;
		ret = rs_sign_zone(zone, signing.signers, signing.nsigners, &so, mem, NULL, &diag);
	}
	if (mem != NULL)
		fclose(mem);
	rs_zone_opts_t vo = { .keep_dnssec = true, .threads = 1 };
	if (ret == RS_EOK && (ret = rs_zone_new(r->origin, &vo, &signed_zone)) == RS_EOK)
		ret = rs_zone_read_string(signed_zone, out, outlen, "signed", &diag);
	if (ret == RS_EOK)
		ret = rs_zone_finish(signed_zone, &diag);
	int problems = 0;
	if (ret != RS_EOK) {
		rs_buf_printf(report, "cannot sign: %s", diag.text);
		problems = 1;
	} else {
		rs_verify_opts_t vopts = { .now = now, .threads = 1, .foreign_signatures = true };
		rs_verify_result_t res;
		rs_buf_t vr;
		rs_buf_init(&vr, 1 << 16);
		ret = rs_verify_zone(signed_zone, &vopts, &vr, &res, &diag);
		if (ret != RS_EOK || res.problems > 0) {
			problems = (int)(res.problems ? res.problems : 1);
			rs_buf_printf(report, "regsign verify: %.*s", (int)(vr.len > 200 ? 200 : vr.len),
				      vr.data ? (const char *)vr.data : diag.text);
		}
		uint32_t b, e;
		size_t nn;
		const rs_node_t *apex = rs_zone_nodes(signed_zone, &nn);
		if (rs_node_rrset(signed_zone, apex, RS_TYPE_DNSKEY, &b, &e) && e - b != signing.published) {
			rs_buf_printf(report, "DNSKEY RRset has %u keys, the state machine publishes %zu", e - b,
				      signing.published);
			problems++;
		}
		rs_buf_clear(&vr);
	}
	rs_signing_clear(&signing);
	free(out);
	rs_zone_free(zone);
	rs_zone_free(signed_zone);
	return problems;
}

enum { OPT_DAYS = 256, OPT_START, OPT_SOA_TTL, OPT_EZSK, OPT_EKSK, OPT_CHANGE, OPT_REAL, OPT_SVG,
       OPT_UNCHECKED, OPT_POLICY, OPT_EXTRA, OPT_RFC5011 };

int cmd_simulate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, OPT_POLICY }, { "days", required_argument, NULL, OPT_DAYS },
		{ "start", required_argument, NULL, OPT_START },   { "soa-ttl", required_argument, NULL, OPT_SOA_TTL },
		{ "emergency-zsk", required_argument, NULL, OPT_EZSK },
		{ "emergency-ksk", required_argument, NULL, OPT_EKSK },
		{ "change-policy", required_argument, NULL, OPT_CHANGE },
		{ "real-signer", no_argument, NULL, OPT_REAL },    { "svg", required_argument, NULL, OPT_SVG },
		{ "unchecked", no_argument, NULL, OPT_UNCHECKED },
		{ "extra-delay", required_argument, NULL, OPT_EXTRA }, { "quiet", no_argument, NULL, 'q' },
		{ "rfc5011-resolver", no_argument, NULL, OPT_RFC5011 },
		{ "now", required_argument, NULL, OPT_START },     { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *policy_arg = NULL, *change = NULL, *svg_path = NULL;
	long days = 1095, ezsk = -1, eksk = -1, soa_ttl = 3600;
	bool real = false, unchecked = false, quiet = false, rfc5011 = false;
	int64_t start = 1798761600; /* 2027-01-01: fixed, so runs are reproducible */
	int64_t extra = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case OPT_POLICY: policy_arg = optarg; break;
		case OPT_DAYS: days = strtol(optarg, &end, 10); break;
		case OPT_START:
			if (rs_time_parse(optarg, &start) != RS_EOK) {
				cli_error("invalid start time '%s'", optarg);
				return RS_EINVAL;
			}
			break;
		case OPT_SOA_TTL: soa_ttl = strtol(optarg, &end, 10); break;
		case OPT_EZSK: ezsk = strtol(optarg, &end, 10); break;
		case OPT_EKSK: eksk = strtol(optarg, &end, 10); break;
		case OPT_CHANGE: change = optarg; break;
		case OPT_REAL: real = true; break;
		case OPT_SVG: svg_path = optarg; break;
		case OPT_UNCHECKED: unchecked = true; break;
		case OPT_EXTRA:
			if (rs_duration_parse(optarg, &extra) != RS_EOK) {
				cli_error("invalid duration '%s'", optarg);
				return RS_EINVAL;
			}
			break;
		case OPT_RFC5011: rfc5011 = true; break;
		case 'q': quiet = true; break;
		case 'h': help(stdout); return RS_EOK;
		default: help(stderr); return RS_EINVAL;
		}
		if (end != NULL && *end != '\0') {
			cli_error("invalid number '%s'", optarg);
			return RS_EINVAL;
		}
	}
	if (policy_arg == NULL || optind != argc || days <= 0 || days > 36500 || soa_ttl <= 0) {
		cli_error(policy_arg == NULL ? "--policy is required" : "invalid arguments");
		return RS_EINVAL;
	}
	rs_policy_t policy, next_policy;
	int code = cli_policy_load(NULL, policy_arg, !unchecked, &policy, NULL);
	if (code != RS_EOK)
		return code;
	rs_sim_opts_t so = { .start = start, .days = days, .soa_ttl = (uint32_t)soa_ttl, .extra_delay = extra,
			     .track_rfc5011 = rfc5011 };
	if (ezsk >= 0)
		so.emergency_zsk_at = start + ezsk * 86400;
	if (eksk >= 0)
		so.emergency_ksk_at = start + eksk * 86400;
	if (change != NULL) {
		char *colon = strchr(change, ':');
		long day = colon ? strtol(change, NULL, 10) : -1;
		if (colon == NULL || day < 0) {
			cli_error("--change-policy wants DAY:NAME, such as 400:default");
			return RS_EINVAL;
		}
		if ((code = cli_policy_load(NULL, colon + 1, !unchecked, &next_policy, NULL)) != RS_EOK)
			return code;
		so.policy_change_at = start + day * 86400;
		so.new_policy = &next_policy;
	}
	real_t r = { .soa_ttl = (uint32_t)soa_ttl };
	if (real) {
		rs_dname_from_str("example.", r.origin);
		so.make_key = real_key;
		so.make_arg = &r;
		so.check_signer = real_check;
		so.check_arg = &r;
	}
	rs_buf_t timeline, svg;
	rs_buf_init(&timeline, (size_t)1 << 30);
	rs_buf_init(&svg, (size_t)1 << 26);
	rs_sim_result_t res;
	rs_diag_t diag;
	int ret = rs_simulate(&policy, &so, &timeline, svg_path ? &svg : NULL, &res, &diag);
	if (ret != RS_EOK) {
		cli_error("simulation stopped: %s", diag.text);
		code = ret;
	} else {
		if (!quiet && timeline.len > 0)
			fwrite(timeline.data, 1, timeline.len, stdout);
		printf("\nsimulated %ld days of %s%s: %llu key events, %llu keys, %llu zone versions, "
		       "%llu cached combinations checked, %llu bogus, largest DNSKEY RRset %u (limit %u), "
		       "%llu limit breaches, %llu signer problems\n",
		       days, policy.name, change ? " with a policy change" : "", (unsigned long long)res.events,
		       (unsigned long long)res.keys, (unsigned long long)res.zone_versions,
		       (unsigned long long)res.combinations, (unsigned long long)res.bogus, res.max_dnskeys,
		       policy.max_dnskeys, (unsigned long long)res.limit_breaches,
		       (unsigned long long)res.signer_problems);
		if (rfc5011 || policy.anchors.rfc5011)
			printf("RFC 5011 resolver tracking the trust anchor: %llu times without a trusted key\n",
			       (unsigned long long)res.anchor_problems);
		if (res.bogus || res.limit_breaches || res.signer_problems || res.anchor_problems)
			code = RS_EBOGUS;
	}
	if (code != RS_ENOMEM && code != RS_ECRYPTO && svg_path != NULL && svg.len > 0) {
		rs_outfile_t *of;
		if (rs_outfile_open(svg_path, 0644, &of, &diag) == RS_EOK) {
			fwrite(svg.data, 1, svg.len, rs_outfile_stream(of));
			if (rs_outfile_commit(of, &diag) != RS_EOK)
				cli_error("%s", diag.text);
		} else {
			cli_error("%s", diag.text);
		}
	}
	rs_buf_clear(&timeline);
	rs_buf_clear(&svg);
	for (size_t i = 0; i < r.n; i++)
		rs_key_free(r.keys[i]);
	free(r.keys);
	free(r.tags);
	return code;
}
