/*
 * The checks that go beyond single questions: the chain of trust as a
 * validating resolver sees it (libunbound, whose only user this is), and a
 * full transfer of the zone (the registry module's AXFR client) through the
 * verifier.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "internal.h"
#include "regsign/registry.h"
#include "regsign/verify.h"
#include "regsign/zone.h"

int mon_chain(const char *server, const char *zone, const char *anchor_file, int64_t now, bool now_given,
	      char out[16], char *why, size_t max, rs_diag_t *diag)
{
	FILE *f = fopen(anchor_file, "r");
	if (f == NULL)
		return rs_diag(diag, RS_ENOENT, "cannot read trust anchor file '%s'", anchor_file);
	fclose(f);
	struct ub_ctx *ctx = ub_ctx_create();
	if (ctx == NULL)
		return rs_diag(diag, RS_ENOMEM, "cannot create the validator");
	int ret = RS_EOK, err = 0;
	char date[32];
	snprintf(date, sizeof(date), "%lld", (long long)now);
	/* Only the server under test is asked (a stub for the zone), on loopback too. */
	if ((err = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0 ||
	    (err = ub_ctx_set_option(ctx, "verbosity:", "0")) != 0 ||
	    (err = ub_ctx_set_option(ctx, "qname-minimisation:", "no")) != 0 ||
	    (err = ub_ctx_set_option(ctx, "trust-anchor-signaling:", "no")) != 0 ||
	    (now_given && (err = ub_ctx_set_option(ctx, "val-override-date:", date)) != 0) ||
	    (err = ub_ctx_set_stub(ctx, zone, server, 0)) != 0) {
		ret = rs_diag(diag, RS_EINVAL, "validator setup for %s: %s", server, ub_strerror(err));
		goto out;
	}
	if ((err = ub_ctx_add_ta_file(ctx, anchor_file)) != 0) {
		ret = rs_diag(diag, RS_ESYNTAX, "%s: not a DS or DNSKEY trust anchor file: %s", anchor_file,
			      ub_strerror(err));
		goto out;
	}
	struct ub_result *res = NULL;
	if ((err = ub_resolve(ctx, zone, 6 /* SOA */, 1 /* IN */, &res)) != 0) {
		ret = rs_diag(diag, RS_EIO, "%s: %s", server, ub_strerror(err));
		goto out;
	}
	why[0] = '\0';
	if (res->bogus) {
		snprintf(out, 16, "bogus");
		snprintf(why, max, "%s", res->why_bogus ? res->why_bogus : "no reason given");
	} else if (res->secure) {
		snprintf(out, 16, "secure");
	} else {
		snprintf(out, 16, "insecure");
		if (!res->havedata)
			snprintf(why, max, "no SOA validated (rcode %d)", res->rcode);
	}
	ub_resolve_free(res);
out:
	ub_ctx_delete(ctx);
	return ret;
}

static int add_record(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl, const uint8_t *rdata, size_t len)
{
	return rs_zone_add(arg, owner, type, ttl, rdata, len);
}

int mon_axfr(const char *server, const uint8_t *zone, int64_t now, unsigned timeout_ms, bool *refused,
	     uint64_t *problems, uint64_t *records, char *why, size_t max, rs_diag_t *diag)
{
	rs_zone_t *z = NULL;
	rs_zone_opts_t zo = { .keep_dnssec = true };
	if (rs_zone_new(zone, &zo, &z) != RS_EOK)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	int ret = rs_dnsq_axfr(server, zone, timeout_ms, add_record, z, refused, records, diag);
	if (ret != RS_EOK || *refused || (ret = rs_zone_finish(z, diag)) != RS_EOK) {
		rs_zone_free(z);
		return ret;
	}
	rs_buf_t report;
	rs_buf_init(&report, 1 << 20);
	rs_verify_opts_t vo = { .now = now, .max_problems = 10 };
	rs_verify_result_t vr;
	ret = rs_verify_zone(z, &vo, &report, &vr, diag);
	if (ret == RS_EOK) {
		*problems = vr.problems;
		if (vr.problems > 0 && report.len > 0) {
			const uint8_t *nl = memchr(report.data, '\n', report.len);
			size_t n = nl ? (size_t)(nl - report.data) : report.len;
			snprintf(why, max, "%.*s", (int)n, (const char *)report.data);
		}
	}
	rs_buf_clear(&report);
	rs_zone_free(z);
	return ret;
}
