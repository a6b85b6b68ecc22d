/* Looking ahead: the enforcer on a copy of a zone's keys, with stand-in keys, over simulated time. */
#include <stdio.h>
#include <string.h>

#include "regsign/policy.h"

struct plan {
	uint16_t next_tag;
	unsigned made;
};

/* A stand-in for a key not made yet: a free tag from the top, locator "plannednewN". */
static int stand_in(void *arg, const rs_keyset_t *set, rs_keystate_t *k)
{
	struct plan *p = arg;
	for (;;) {
		uint16_t tag = p->next_tag--;
		bool used = false;
		for (size_t i = 0; i < set->count && !used; i++)
			used = set->keys[i].tag == tag;
		if (!used) {
			k->tag = tag;
			snprintf(k->locator, sizeof(k->locator), "plannednew%u", ++p->made);
			return RS_EOK;
		}
	}
}

int rs_enforce_plan(const rs_policy_t *policy, const rs_keyset_t *keys, int64_t now, int64_t end,
		    rs_enforce_log_t log, void *log_arg, rs_diag_t *diag)
{
	rs_policy_t p = *policy;
	p.ds_auto = true;
	rs_keyset_t copy = { 0 };
	copy.soa_ttl = keys->soa_ttl;
	copy.soa_minimum = keys->soa_minimum;
	copy.old_max_zone_ttl = keys->old_max_zone_ttl;
	copy.old_max_until = keys->old_max_until;
	for (size_t i = 0; i < keys->count; i++)
		if (rs_keyset_add(&copy, &keys->keys[i]) != RS_EOK) {
			rs_keyset_clear(&copy);
			return rs_diag(diag, RS_ENOMEM, "plan: out of memory");
		}
	/* Submissions already waiting for the operator count as confirmed now. */
	for (size_t i = 0; i < copy.count; i++) {
		if (copy.keys[i].ds == RS_DS_SUBMIT)
			rs_enforce_ds_seen(&copy, copy.keys[i].tag, now, NULL);
		else if (copy.keys[i].ds == RS_DS_WITHDRAW)
			rs_enforce_ds_gone(&copy, copy.keys[i].tag, now, NULL);
	}
	struct plan pl = { 65535, 0 };
	rs_enforce_ctx_t ctx = { stand_in, &pl, log, log_arg, NULL };
	int64_t t = now;
	int ret = RS_EOK;
	for (int steps = 0; t <= end && steps < 10000; steps++) {
		int64_t next;
		rs_keyset_published(&copy, t);
		if ((ret = rs_enforce(&p, &copy, t, &ctx, &next, diag)) != RS_EOK)
			break;
		if (rs_keyset_pending(&copy) > 0) {
			rs_keyset_published(&copy, t);
			continue; /* what the steps depend on is published: they may go on at once */
		}
		if (next == INT64_MAX)
			break;
		t = next;
	}
	rs_keyset_clear(&copy);
	return ret;
}
