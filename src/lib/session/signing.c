/*
 * Key states into signing: which keys the DNSKEY RRset holds, which sign
 * what, and the options of a signing run. The session and the simulation's
 * real signer both go through here, so a simulation signs as production does.
 */
#include <stdio.h>
#include <string.h>

#include "regsign/session.h"

int rs_signing_load(const rs_keyset_t *set, rs_key_loader_t load, void *arg, rs_signing_t *out, rs_diag_t *diag)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < set->count; i++) {
		const rs_keystate_t *k = &set->keys[i];
		bool signs_keys = rs_keystate_signs_keys(k), signs_data = rs_keystate_signs_data(k);
		bool published = rs_keystate_published(k);
		if (k->goal == RS_GOAL_DEAD || (!signs_keys && !signs_data && !published))
			continue;
		if (out->count == RS_SIGNING_KEYS_MAX) {
			rs_signing_clear(out);
			return rs_diag(diag, RS_ELIMIT, "more than %d keys in use", RS_SIGNING_KEYS_MAX);
		}
		rs_key_t *key;
		int ret = load(arg, k, signs_keys || signs_data, &key, diag);
		if (ret != RS_EOK) {
			rs_signing_clear(out);
			return ret;
		}
		if (k->flags & RS_KEY_REVOKED)
			rs_key_set_revoked(key);
		out->keys[out->count] = key;
		out->states[out->count++] = k;
		out->published += published;
		/* An algorithm rollover's new keys sign before their DNSKEYs appear (RFC 6781 4.1.4). */
		if (signs_keys || signs_data) {
			out->signers[out->nsigners] = key;
			out->roles[out->nsigners++] = (rs_key_role_t){ key, signs_keys, signs_data };
		}
	}
	return RS_EOK;
}

void rs_signing_clear(rs_signing_t *s)
{
	for (size_t i = 0; i < s->count; i++)
		rs_key_free(s->keys[i]);
	memset(s, 0, sizeof(*s));
}

int rs_signing_add_keys(const rs_signing_t *s, const rs_policy_t *p, rs_zone_t *zone, uint32_t soa_ttl,
			rs_diag_t *diag)
{
	const uint8_t *origin = rs_name_wire(rs_zone_origin(zone));
	/* CDS and CDNSKEY take the TTL of the DNSKEY RRset they mirror. */
	uint32_t ttl = rs_policy_dnskey_ttl(p, soa_ttl);
	for (size_t i = 0; i < s->count; i++) {
		if (!rs_keystate_published(s->states[i]))
			continue;
		size_t len;
		const uint8_t *dnskey = rs_key_dnskey(s->keys[i], &len);
		int ret = rs_zone_add(zone, origin, RS_TYPE_DNSKEY, 0, dnskey, len);
		if (ret == RS_EOK && p->cds && rs_keystate_wants_ds(s->states[i])) {
			uint8_t ds[128];
			int dslen = rs_ds_make(origin, dnskey, len, p->ds_digest, ds, sizeof(ds));
			ret = dslen < 0 ? dslen : rs_zone_add(zone, origin, RS_TYPE_CDS, ttl, ds, (size_t)dslen);
			if (ret == RS_EOK)
				ret = rs_zone_add(zone, origin, RS_TYPE_CDNSKEY, ttl, dnskey, len);
		}
		if (ret != RS_EOK)
			return rs_diag(diag, ret, "cannot add key %u: %s", s->states[i]->tag, rs_strerror(ret));
	}
	return RS_EOK;
}

void rs_signing_opts(const rs_signing_t *s, const rs_policy_t *p, const rs_zone_t *zone, int64_t now,
		     rs_sign_opts_t *out)
{
	const rs_rr_t *soa = rs_zone_soa(zone);
	uint32_t minimum = rs_get32(soa->rdata + soa->rdlen - 4);
	*out = (rs_sign_opts_t){
		.inception = now - p->sig_inception,
		.expiration = rs_policy_expiration(p, now),
		.nsec3 = p->nsec3,
		.nsec3_params = p->nsec3_params,
		.roles = s->roles,
		.dnskey_ttl = rs_policy_dnskey_ttl(p, soa->ttl),
		.nsec_ttl_set = p->nsec_ttl_mode != RS_TTL_RFC9077,
		.nsec_ttl = p->nsec_ttl_mode == RS_TTL_SOA ? soa->ttl : minimum,
	};
}

void rs_signing_describe(const rs_signing_t *s, char *out, size_t max)
{
	static const char *const labels[3] = { "dnskey", "ksk", "zsk" };
	size_t n = 0;
	out[0] = '\0';
	for (int which = 0; which < 3 && n < max; which++) {
		n += (size_t)snprintf(out + n, max - n, "%s%s=", which ? " " : "", labels[which]);
		bool any = false;
		for (size_t i = 0; i < s->count && n < max; i++) {
			const rs_keystate_t *k = s->states[i];
			bool in = which == 0 ? rs_keystate_published(k) : which == 1 ? rs_keystate_signs_keys(k)
											: rs_keystate_signs_data(k);
			if (in) {
				n += (size_t)snprintf(out + n, max - n, "%s%u", any ? "," : "", k->tag);
				any = true;
			}
		}
		if (!any && n < max)
			n += (size_t)snprintf(out + n, max - n, "-");
	}
}
