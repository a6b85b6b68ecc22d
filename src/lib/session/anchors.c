/*
 * The zone's trust anchors, published through the session: the keys come
 * from the zone's key store (public parts only), the list from their
 * states, and the publication is audited with the session's commit.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "regsign/publish.h"

void rs_session_anchor_tags(const rs_session_t *s, char *out, size_t max)
{
	size_t n = 0;
	out[0] = '\0';
	const rs_keyset_t *set = rs_session_keys(s);
	for (size_t i = 0; i < set->count && n < max; i++)
		if (rs_anchor_relevant(rs_session_policy(s), &set->keys[i]))
			n += (size_t)snprintf(out + n, max - n, "%s%u", n ? "," : "", set->keys[i].tag);
}

int rs_session_anchors(rs_session_t *s, const rs_anchor_target_t *t, rs_diag_t *diag)
{
	const rs_keyset_t *set = rs_session_keys(s);
	const rs_policy_t *policy = rs_session_policy(s);
	rs_key_t *keys[RS_ANCHOR_MAX];
	rs_anchor_key_t anchors[RS_ANCHOR_MAX];
	size_t n = 0;
	int ret = RS_EOK;
	for (size_t i = 0; ret == RS_EOK && i < set->count; i++) {
		const rs_keystate_t *k = &set->keys[i];
		if (!rs_anchor_relevant(policy, k))
			continue;
		if (n == RS_ANCHOR_MAX)
			ret = rs_diag(diag, RS_ELIMIT, "%s: more than %d trust anchors", rs_session_zone(s)->name,
				      RS_ANCHOR_MAX);
		else if ((ret = rs_session_key(s, k, false, &keys[n], diag)) == RS_EOK) {
			anchors[n].dnskey = rs_key_dnskey(keys[n], &anchors[n].len);
			anchors[n].state = k;
			n++;
		}
	}
	if (ret == RS_EOK && n == 0)
		ret = rs_diag(diag, RS_ENOKEY, "%s: no key-signing key to publish as a trust anchor yet",
			      rs_session_zone(s)->name);
	rs_anchor_opts_t o = { s->origin, policy, set, anchors, n, t->dir, t->pgp_key, t->gnupg_home };
	if (ret == RS_EOK)
		ret = rs_anchor_publish(&o, diag);
	if (ret == RS_EOK) {
		char tags[256];
		rs_session_anchor_tags(s, tags, sizeof(tags));
		rs_session_note(s, "anchors-publish", 0, "trust anchors %s published in %s, signed by OpenPGP key %s", tags,
				t->dir, t->pgp_key);
	}
	for (size_t i = 0; i < n; i++)
		rs_key_free(keys[i]);
	return ret;
}
