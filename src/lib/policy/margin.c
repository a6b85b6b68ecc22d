/*
 * The refresh margin against what secondaries and caches keep: a secondary
 * that lost its primary goes on serving the zone until the SOA expire, and a
 * cache holds what it got up to the largest TTL longer. Signatures must
 * outlive both, so the margin a freshly signed zone never drops below
 * (validity - refresh - jitter) should be at least SOA expire + largest TTL:
 * the rule operators cite, which no signer checks by default. A warning, not
 * a refusal: rs_policy_check stays the judge of what cannot be kept.
 */
#include "regsign/policy.h"

int rs_policy_check_margin(const rs_policy_t *policy, uint32_t soa_expire, uint32_t max_ttl, rs_diag_t *diag)
{
	int64_t margin = policy->sig_validity - policy->sig_refresh - policy->sig_jitter;
	uint32_t ttl = policy->max_zone_ttl ? policy->max_zone_ttl : max_ttl;
	int64_t need = (int64_t)soa_expire + ttl;
	if (margin >= need)
		return RS_EOK;
	char m[32], e[32], t[32];
	rs_policy_duration_format(margin, m);
	rs_policy_duration_format(soa_expire, e);
	rs_policy_duration_format(ttl, t);
	return rs_diag(diag, RS_ERANGE,
		       "signatures: refresh margin %s (validity - refresh - jitter) is below SOA expire %s + largest "
		       "TTL %s: a secondary cut off from its primary, or a cache, may serve expired signatures",
		       m, e, t);
}
