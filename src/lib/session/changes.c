/*
 * Change sets: what changed since the version a daemon serves, and its
 * publication by signing only that (rs_sign_update), verifying only the
 * names it touched, and committing as a full publication does. The output
 * file is left to the caller (the daemon writes it later; its journal holds
 * the diffs meanwhile). A refresh (the zone's timed run) signs again what
 * falls due with its changes, or alone. Whatever the
 * change-set path cannot take (the keys changed, the NSEC3 parameters, the
 * apex) is said with -EOPNOTSUPP, and the caller publishes in full.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regsign/registry.h"
#include "regsign/verify.h"

/* A growing list of records; with an arena, each record's owner and RDATA are copied there. */
typedef struct {
	rs_xrr_t *r;
	size_t n, cap;
	rs_arena_t *arena; /* non-NULL: keep a copy (the registry reuses its buffers between records) */
} xlist_t;

/* Append a record (the signature of rs_registry_delegation_records's callback). */
static int xlist_put(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl, const uint8_t *rdata, size_t len)
{
	xlist_t *l = arg;
	if (l->n == l->cap) {
		size_t grown = l->cap ? l->cap * 2 : 16;
		rs_xrr_t *p = realloc(l->r, grown * sizeof(*p));
		if (p == NULL)
			return RS_ENOMEM;
		l->r = p;
		l->cap = grown;
	}
	l->r[l->n++] = (rs_xrr_t){ owner, rdata, ttl, type, (uint16_t)len };
	if (l->arena == NULL)
		return RS_EOK;
	size_t olen = rs_dname_len(owner, RS_NAME_MAX);
	uint8_t *o = rs_arena_alloc(l->arena, olen), *r = rs_arena_alloc(l->arena, len ? len : 1);
	if (o == NULL || r == NULL)
		return RS_ENOMEM;
	memcpy(o, owner, olen);
	memcpy(r, rdata, len);
	l->r[l->n - 1].owner = o;
	l->r[l->n - 1].rdata = r;
	return RS_EOK;
}

struct rs_changeset {
	rs_changes_t c;
	xlist_t rm, add; /* behind c.removed and c.added; their records in arena */
	rs_arena_t *arena;
	uint64_t generation;
};

static bool dnssec_type(uint16_t type)
{
	return type == RS_TYPE_RRSIG || type == RS_TYPE_NSEC || type == RS_TYPE_NSEC3 || type == RS_TYPE_NSEC3PARAM;
}

/* Records the session makes from the keys (compared as a whole by same_apex_keys). */
static bool key_type(uint16_t type)
{
	return type == RS_TYPE_DNSKEY || type == RS_TYPE_CDS || type == RS_TYPE_CDNSKEY || type == RS_TYPE_SOA;
}

/* The apex ZONEMD is the signer's, made from the zone: not a change of data. */
static bool made_type(const rs_node_t *node, uint16_t type)
{
	return type == RS_TYPE_ZONEMD && (node->flags & RS_NODE_APEX);
}

/* Does zone's apex ZONEMD RRset have the hashes[0..n), no more and no fewer? */
static bool zonemd_same(const rs_zone_t *zone, const uint8_t *hashes, size_t n)
{
	uint8_t have[RS_ZONEMD_HASHES];
	size_t nh = rs_zonemd_hashes(zone, have);
	if (nh != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (memchr(have, hashes[i], nh) == NULL)
			return false;
	return true;
}

/* Do two zones have ZONEMD digests of the same hashes (none alike)? */
static bool zonemd_alike(const rs_zone_t *a, const rs_zone_t *b)
{
	uint8_t have[RS_ZONEMD_HASHES];
	return zonemd_same(b, have, rs_zonemd_hashes(a, have));
}

static int cs_new(rs_changeset_t **out)
{
	rs_changeset_t *cs = calloc(1, sizeof(*cs));
	if (cs == NULL || (cs->arena = rs_arena_new(1 << 20)) == NULL) {
		free(cs);
		return RS_ENOMEM;
	}
	cs->rm.arena = cs->add.arena = cs->arena;
	*out = cs;
	return RS_EOK;
}

void rs_changeset_free(rs_changeset_t *cs)
{
	if (cs == NULL)
		return;
	rs_arena_free(cs->arena);
	free(cs->rm.r);
	free(cs->add.r);
	free(cs);
}

size_t rs_changeset_size(const rs_changeset_t *cs)
{
	return cs->c.nremoved + cs->c.nadded;
}

uint64_t rs_changeset_generation(const rs_changeset_t *cs)
{
	return cs->generation;
}

/* One record into a list; owner and RDATA copied into the change set's arena. */
static int cs_put(rs_changeset_t *cs, bool added, const uint8_t *owner, uint16_t type, uint32_t ttl,
		  const uint8_t *rdata, size_t len)
{
	xlist_t *l = added ? &cs->add : &cs->rm;
	int ret = xlist_put(l, owner, type, ttl, rdata, len);
	cs->c.added = cs->add.r;
	cs->c.nadded = cs->add.n;
	cs->c.removed = cs->rm.r;
	cs->c.nremoved = cs->rm.n;
	return ret;
}

/* Canonical order of records: owner (RFC 4034 6.1), type, RDATA (6.3); TTL last. */
static int xrr_cmp(const rs_xrr_t *a, const rs_xrr_t *b)
{
	uint8_t ka[RS_NAME_MAX], kb[RS_NAME_MAX];
	size_t la = rs_dname_key(a->owner, ka), lb = rs_dname_key(b->owner, kb);
	int c = memcmp(ka, kb, la < lb ? la : lb);
	if (c != 0 || la != lb)
		return c != 0 ? c : la < lb ? -1 : 1;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	c = rs_rdata_cmp(a->rdata, a->rdlen, b->rdata, b->rdlen);
	if (c != 0)
		return c;
	return a->ttl < b->ttl ? -1 : a->ttl > b->ttl;
}

static int xrr_qsort(const void *a, const void *b)
{
	return xrr_cmp(a, b);
}

/* What differs between two sorted lists: old only -> removed, new only -> added. */
static int cs_merge(rs_changeset_t *cs, rs_xrr_t *old, size_t nold, rs_xrr_t *new, size_t nnew)
{
	if (nold > 1)
		qsort(old, nold, sizeof(*old), xrr_qsort);
	if (nnew > 1)
		qsort(new, nnew, sizeof(*new), xrr_qsort);
	size_t i = 0, j = 0;
	int ret = RS_EOK;
	while (ret == RS_EOK && (i < nold || j < nnew)) {
		int c = i == nold ? 1 : j == nnew ? -1 : xrr_cmp(&old[i], &new[j]);
		if (c == 0) {
			i++, j++;
		} else if (c < 0) {
			ret = cs_put(cs, false, old[i].owner, old[i].type, old[i].ttl, old[i].rdata, old[i].rdlen);
			i++;
		} else {
			ret = cs_put(cs, true, new[j].owner, new[j].type, new[j].ttl, new[j].rdata, new[j].rdlen);
			j++;
		}
	}
	return ret;
}

/* ---- a registry zone: the delegations changed since a generation ---- */

typedef struct {
	rs_session_t *s;
	const rs_zone_t *prev;
	rs_changeset_t *cs;
	rs_registry_t reg;
	rs_diag_t *diag;
} reg_walk_t;

/* One delegation: its records in prev (at the name and below it: its glue) against the registry's now. */
static int delegation_changes(void *arg, const char *domain, uint64_t gen)
{
	reg_walk_t *w = arg;
	if (gen > w->cs->generation)
		w->cs->generation = gen;
	uint8_t wire[RS_NAME_MAX];
	if (rs_dname_from_str(domain, wire) < 0)
		return RS_EOK; /* never stored: the registry checks names where they enter */
	const rs_name_t *origin = rs_zone_origin(w->prev);
	rs_name_t *name = rs_name_new(w->cs->arena, wire);
	if (name == NULL)
		return RS_ENOMEM;
	if (!rs_name_is_sub(name, origin) || rs_name_cmp(name, origin) == 0)
		return RS_EOK;
	size_t nnodes;
	const rs_node_t *nodes = rs_zone_nodes(w->prev, &nnodes);
	const rs_rr_t *rrs = rs_zone_rrs(w->prev);
	xlist_t old = { .arena = NULL }, now = { .arena = w->cs->arena };
	int ret = RS_EOK;
	/* Names at and below the delegation are contiguous in canonical order. */
	for (size_t i = rs_zone_lower_bound(w->prev, rs_name_key(name), name->key_len); i < nnodes && ret == RS_EOK &&
							     rs_name_is_sub(nodes[i].name, name); i++)
		for (uint32_t j = nodes[i].first; j < nodes[i].first + nodes[i].count && ret == RS_EOK; j++)
			if (!dnssec_type(rrs[j].type))
				ret = xlist_put(&old, rs_name_wire(rrs[j].owner), rrs[j].type, rrs[j].ttl, rrs[j].rdata,
						rrs[j].rdlen);
	rs_diag_t why;
	int got = ret == RS_EOK ? rs_registry_delegation_records(&w->reg, domain, w->s->policy.max_zone_ttl, xlist_put,
								 &now, &why) : ret;
	if (got == RS_EZONE) {
		/* As the full build does: the zone goes on without it, and the operator hears why. */
		rs_log(&w->s->o.log, RS_LOG_WARNING, w->s->zone.name, "delegation %s left out of the zone: %s (fix it "
		       "with regsign domain add, or remove it)", domain, why.text);
		now.n = 0;
	} else if (got == RS_ENOENT) {
		now.n = 0;
	} else if (got != RS_EOK) {
		ret = rs_diag(w->diag, got, "%s", why.text);
	}
	if (ret == RS_EOK)
		ret = cs_merge(w->cs, old.r, old.n, now.r, now.n);
	free(old.r);
	free(now.r);
	return ret;
}

int rs_session_registry_changes(rs_session_t *s, const rs_zone_t *prev, uint64_t since, rs_changeset_t **out,
				rs_diag_t *diag)
{
	if (!s->zone.registry)
		return rs_diag(diag, RS_EINVAL, "%s: not a registry zone", s->zone.name);
	rs_changeset_t *cs;
	if (cs_new(&cs) != RS_EOK)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	cs->generation = since;
	reg_walk_t w = { s, prev, cs, { .store = s->store }, diag };
	int ret = rs_store_registry_dirty(s->store, s->zone.name, since, delegation_changes, &w);
	if (ret != RS_EOK) {
		rs_changeset_free(cs);
		return diag->text[0] != '\0' ? ret : rs_diag(diag, ret, "%s: cannot read the registry changes", s->zone.name);
	}
	*out = cs;
	return RS_EOK;
}

/* ---- a zone from its input: the records that differ from what prev was signed from ---- */

static bool same_apex_keys(const rs_node_t *a, const rs_rr_t *ra, const rs_node_t *b, const rs_rr_t *rb);

int rs_session_input_changes(rs_session_t *s, const rs_zone_t *prev, rs_changeset_t **out, rs_diag_t *diag)
{
	rs_signing_t signing;
	int ret = rs_signing_load(&s->keys, session_load_key, s, &signing, diag);
	if (ret != RS_EOK)
		return ret;
	rs_zone_t *now = NULL;
	rs_publish_result_t res = { 0 };
	ret = session_build(s, s->zone.input, &signing, &now, &res, diag);
	rs_signing_clear(&signing);
	if (ret != RS_EOK)
		return ret;
	rs_changeset_t *cs;
	if (cs_new(&cs) != RS_EOK) {
		rs_zone_free(now);
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	}
	size_t na, nb;
	const rs_node_t *a = rs_zone_nodes(prev, &na), *b = rs_zone_nodes(now, &nb);
	const rs_rr_t *ra = rs_zone_rrs(prev), *rb = rs_zone_rrs(now);
	/* The apex beyond the serial, and the keys, are the full path's. */
	const rs_rr_t *sa = rs_zone_soa(prev), *sb = rs_zone_soa(now);
	if (sa->ttl != sb->ttl || sa->rdlen != sb->rdlen || memcmp(sa->rdata, sb->rdata, sa->rdlen - 20) != 0 ||
	    memcmp(sa->rdata + sa->rdlen - 16, sb->rdata + sb->rdlen - 16, 16) != 0 || !same_apex_keys(a, ra, b, rb) ||
	    !zonemd_alike(prev, now)) {
		rs_zone_free(now);
		rs_changeset_free(cs);
		return rs_diag(diag, -EOPNOTSUPP, "%s: the apex changed", s->zone.name);
	}
	/* Both zones live through the walk: the lists point into them. */
	xlist_t old = { .arena = NULL }, new = { .arena = NULL };
	size_t i = 0, j = 0;
	/* One walk of both in canonical order, a name at a time. */
	while (ret == RS_EOK && (i < na || j < nb)) {
		int c = i == na ? 1 : j == nb ? -1 : rs_name_cmp(a[i].name, b[j].name);
		if (c <= 0) {
			for (uint32_t k = a[i].first; k < a[i].first + a[i].count && ret == RS_EOK; k++)
				if (!dnssec_type(ra[k].type) && !key_type(ra[k].type) && !made_type(&a[i], ra[k].type))
					ret = xlist_put(&old, rs_name_wire(ra[k].owner), ra[k].type, ra[k].ttl, ra[k].rdata,
							ra[k].rdlen);
			i++;
		}
		if (c >= 0) {
			for (uint32_t k = b[j].first; k < b[j].first + b[j].count && ret == RS_EOK; k++)
				if (!dnssec_type(rb[k].type) && !key_type(rb[k].type) && !made_type(&b[j], rb[k].type))
					ret = xlist_put(&new, rs_name_wire(rb[k].owner), rb[k].type, rb[k].ttl, rb[k].rdata,
							rb[k].rdlen);
			j++;
		}
		/* Flush a name's records when both sides passed it: the lists stay small. */
		if (ret == RS_EOK) {
			ret = cs_merge(cs, old.r, old.n, new.r, new.n);
			old.n = new.n = 0;
		}
	}
	free(old.r);
	free(new.r);
	rs_zone_free(now);
	if (ret != RS_EOK) {
		rs_changeset_free(cs);
		return rs_diag(diag, ret, "%s: %s", s->zone.name, rs_strerror(ret));
	}
	*out = cs;
	return RS_EOK;
}

/* Are the apex DNSKEY, CDS and CDNSKEY RRsets of two zones the same? */
static bool same_apex_keys(const rs_node_t *a, const rs_rr_t *ra, const rs_node_t *b, const rs_rr_t *rb)
{
	static const uint16_t types[] = { RS_TYPE_DNSKEY, RS_TYPE_CDS, RS_TYPE_CDNSKEY };
	for (size_t t = 0; t < 3; t++) {
		const rs_rr_t *x[64], *y[64];
		size_t nx = 0, ny = 0;
		for (uint32_t k = a->first; k < a->first + a->count; k++)
			if (ra[k].type == types[t] && nx < 64)
				x[nx++] = &ra[k];
		for (uint32_t k = b->first; k < b->first + b->count; k++)
			if (rb[k].type == types[t] && ny < 64)
				y[ny++] = &rb[k];
		if (nx != ny)
			return false;
		for (size_t k = 0; k < nx; k++)
			/* The signer gives the DNSKEY RRset its TTL (rs_sign_update checks the rule still gives prev's). */
			if ((types[t] != RS_TYPE_DNSKEY && x[k]->ttl != y[k]->ttl) || x[k]->rdlen != y[k]->rdlen ||
			    memcmp(x[k]->rdata, y[k]->rdata, x[k]->rdlen))
				return false;
	}
	return true;
}

/* ---- publishing a change set ---- */

/* Do the keys that sign now sign prev's SOA, and only they? Else every signature changes: the full path. */
static bool same_signers(const rs_zone_t *prev, const rs_signing_t *signing)
{
	size_t n;
	const rs_node_t *apex = rs_zone_nodes(prev, &n);
	const rs_rr_t *rrs = rs_zone_rrs(prev);
	size_t found = 0, data_signers = 0;
	for (size_t i = 0; i < signing->nsigners; i++) {
		if (!signing->roles[i].signs_data)
			continue;
		data_signers++;
		uint16_t tag = rs_key_tag(signing->signers[i]);
		for (uint32_t k = apex->first; k < apex->first + apex->count; k++)
			if (rrs[k].type == RS_TYPE_RRSIG && rrs[k].rdlen >= 18 && rs_get16(rrs[k].rdata) == RS_TYPE_SOA &&
			    rs_get16(rrs[k].rdata + 16) == tag) {
				found++;
				break;
			}
	}
	size_t sigs = 0;
	for (uint32_t k = apex->first; k < apex->first + apex->count; k++)
		sigs += rrs[k].type == RS_TYPE_RRSIG && rrs[k].rdlen >= 2 && rs_get16(rrs[k].rdata) == RS_TYPE_SOA;
	return found == data_signers && sigs == data_signers;
}

/* The owners a diff touches, for a verification of those names alone. */
static int diff_names(const rs_diff_t *d, const uint8_t ***out, size_t *n)
{
	const uint8_t **names = malloc((d->nremoved + d->nadded + 1) * sizeof(*names));
	if (names == NULL)
		return RS_ENOMEM;
	size_t k = 0;
	names[k++] = d->soa_to.owner;
	for (size_t i = 0; i < d->nremoved; i++)
		names[k++] = d->removed[i].owner;
	for (size_t i = 0; i < d->nadded; i++)
		names[k++] = d->added[i].owner;
	*out = names;
	*n = k;
	return RS_EOK;
}

int rs_session_publish_changes(rs_session_t *s, const rs_zone_t *prev, rs_changeset_t *cs,
			       const rs_publish_opts_t *po, rs_publish_result_t *res, rs_diag_t *diag)
{
	memset(res, 0, sizeof(*res));
	if (s->o.read_only || s->removed)
		return rs_diag(diag, RS_EINVAL, "%s: this session cannot publish", s->zone.name);
	int ret = rs_session_check_clock(s, diag);
	if (ret != RS_EOK) {
		rs_session_fail(s, diag->text);
		return ret;
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rs_signing_t signing;
	if ((ret = rs_signing_load(&s->keys, session_load_key, s, &signing, diag)) != RS_EOK) {
		rs_session_fail(s, diag->text);
		return ret;
	}
	/* The key states must be what prev shows: a key published, withdrawn or signing anew is the full path's. */
	if (session_check_dnskeys(s, prev, &signing, diag) != RS_EOK || !same_signers(prev, &signing)) {
		rs_signing_clear(&signing);
		return rs_diag(diag, -EOPNOTSUPP, "%s: the keys changed since the served version", s->zone.name);
	}
	const rs_rr_t *soa = rs_zone_soa(prev);
	uint32_t prev_serial = rs_get32(soa->rdata + soa->rdlen - 20);
	uint32_t base = session_published_serial(s, po);
	if (base == 0 || rs_serial_gt(prev_serial, base))
		base = prev_serial;
	rs_changes_t none = { 0 }, *c = cs != NULL ? &cs->c : &none;
	c->serial = rs_serial_next(s->policy.serial, base, s->o.now);
	res->serial = c->serial;
	rs_sign_opts_t so;
	rs_signing_opts(&signing, &s->policy, prev, s->o.now, &so);
	so.threads = s->o.threads;
	/* prev's ZONEMD is made again after the change; a policy that wants other digests takes the full path. */
	uint8_t have[RS_ZONEMD_HASHES];
	so.zonemd = rs_zonemd_hashes(prev, have) > 0;
	if (s->policy.zonemd_set && !zonemd_same(prev, s->policy.zonemd, s->policy.nzonemd)) {
		rs_signing_clear(&signing);
		return rs_diag(diag, -EOPNOTSUPP, "%s: the policy's ZONEMD digests differ from the served version's",
			       s->zone.name);
	}
	if (po->refresh)
		session_reuse_window(s, &so);
	res->signers = signing.nsigners;
	res->published = signing.published;
	rs_zone_t *next = NULL;
	rs_diff_t diff = { 0 };
	ret = rs_sign_update(prev, c, signing.signers, signing.nsigners, &so, &next, &diff, &res->stats, diag);
	res->t_sign = session_seconds_since(&t0);
	if (ret == -EOPNOTSUPP) {
		rs_signing_clear(&signing);
		return ret;
	}
	/* The full path's rule (session_build), on what the change set made: this zone's CDS and CDNSKEY are regsign's. */
	if (ret == RS_EOK)
		ret = rs_zone_check_cds(next, diag);
	/* The names the change touched are checked as a validator would; the rest was verified before. */
	const uint8_t **names = NULL;
	size_t nnames = 0;
	if (ret == RS_EOK && (ret = diff_names(&diff, &names, &nnames)) != RS_EOK)
		rs_diag(diag, ret, "out of memory");
	if (ret == RS_EOK) {
		rs_verify_opts_t vo = { .now = s->o.now, .threads = 1, .max_problems = 10, .names = names,
					.nnames = nnames };
		rs_verify_result_t vr;
		rs_buf_t report;
		rs_buf_init(&report, 1 << 16);
		rs_diag_t why;
		ret = rs_verify_zone(next, &vo, &report, &vr, &why);
		if (ret != RS_EOK) {
			rs_diag(diag, ret, "%s: cannot verify the signed zone: %s", s->zone.name, why.text);
		} else if (vr.problems > 0) {
			size_t first = report.data != NULL ? strcspn((const char *)report.data, "\n") : 0;
			ret = rs_diag(diag, RS_EZONE, "%s: the changed names failed verification (%llu problems; first: "
				      "%.*s); nothing was published", s->zone.name, (unsigned long long)vr.problems,
				      (int)first, report.data != NULL ? (const char *)report.data : "");
		}
		res->verified = vr.signatures;
		rs_buf_clear(&report);
	}
	free(names);
	res->t_verify = session_seconds_since(&t0) - res->t_sign;
	if (ret == RS_EOK) {
		/* Counted as a full publication counts: the zone's signatures, those kept among them. */
		uint64_t made = res->stats.signatures;
		res->expiration = session_signatures(next, s->o.now, &res->stats.signatures);
		res->stats.reused = res->stats.signatures - made;
	}
	if (ret == RS_EOK && po->staged != NULL)
		ret = po->staged(po->staged_arg, next, res->serial, diag);
	char keys[256];
	rs_signing_describe(&signing, keys, sizeof(keys));
	rs_signing_clear(&signing);
	rs_diff_clear(&diff);
	if (ret != RS_EOK) {
		rs_zone_free(next);
		rs_session_fail(s, diag->text);
		return ret;
	}
	if (po->keep != NULL)
		*po->keep = next;
	else
		rs_zone_free(next);
	session_mark_published(s, res->serial);
	size_t size = cs != NULL ? rs_changeset_size(cs) : 0;
	session_note(s, "sign", 0, 0, "serial %u, %s of %zu records: %llu signatures made, %llu verified, by %zu keys "
		     "(%s)", res->serial, cs != NULL ? "a change set" : "a refresh", size,
		     (unsigned long long)(res->stats.signatures - res->stats.reused), (unsigned long long)res->verified,
		     res->signers, keys);
	char what[64];
	snprintf(what, sizeof(what), "serial %u is served", res->serial);
	ret = session_commit_publication(s, res, keys, what, diag);
	return ret;
}
