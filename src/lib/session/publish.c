/*
 * Publication: build the zone, sign it, read the output back and verify it
 * completely, write it atomically, and only then commit what it showed. The
 * signed zone is never seen before it is verified, and a state is never
 * counted as published unless a verified, written zone carried it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "regsign/audit.h"
#include "regsign/registry.h"
#include "regsign/verify.h"

uint32_t rs_serial_next(int mode, uint32_t old, int64_t now)
{
	uint32_t want;
	switch (mode) {
	case RS_SERIAL_KEEP: return old;
	case RS_SERIAL_UNIXTIME: want = (uint32_t)now; break;
	case RS_SERIAL_DATE: {
		time_t t = (time_t)now;
		struct tm tm;
		gmtime_r(&t, &tm);
		want = (uint32_t)((tm.tm_year + 1900) * 1000000 + (tm.tm_mon + 1) * 10000 + tm.tm_mday * 100);
		break;
	}
	default: want = old + 1;
	}
	return rs_serial_gt(want, old) ? want : old + 1;
}

int rs_signed_serial(const char *path, uint32_t *serial)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return RS_ENOENT;
	char line[4096];
	int ret = RS_ENOENT;
	/* The SOA comes first in regsign's output, and within the apex in older or other signers' files. */
	for (int n = 0; n < 64 && ret == RS_ENOENT && fgets(line, sizeof(line), f) != NULL; n++) {
		char owner[1024], ttl[32], cls[16], type[16];
		unsigned long s;
		if (line[0] == ';' || sscanf(line, "%1023s %31s %15s %15s %*s %*s %lu", owner, ttl, cls, type, &s) != 5)
			continue;
		if (strcmp(cls, "IN") == 0 && strcmp(type, "SOA") == 0) {
			*serial = (uint32_t)s;
			ret = RS_EOK;
		}
	}
	fclose(f);
	return ret;
}

double session_seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

int rs_session_key(rs_session_t *s, const rs_keystate_t *k, bool need_private, rs_key_t **out, rs_diag_t *diag)
{
	rs_keystore_t *ks;
	rs_diag_t why;
	int ret = session_keystore(s, &ks, &why);
	if (ret == RS_EOK)
		ret = rs_keystore_load(ks, k->locator, s->origin, k->alg, (k->role & RS_ROLE_KSK) != 0, need_private, out,
				       &why);
	return ret == RS_EOK ? RS_EOK : rs_diag(diag, ret, "%s: key %u: %s", s->zone.name, k->tag, why.text);
}

int session_load_key(void *arg, const rs_keystate_t *k, bool need_private, rs_key_t **out, rs_diag_t *diag)
{
	return rs_session_key(arg, k, need_private, out, diag);
}

/* A record above ttl.max-zone could outlive its signatures in caches. */
static int check_ttls(const rs_session_t *s, const rs_zone_t *zone, rs_diag_t *diag)
{
	uint32_t max = s->policy.max_zone_ttl;
	int ret = rs_zone_check_ttls(zone, max, diag);
	uint32_t dnskey_ttl = rs_policy_dnskey_ttl(&s->policy, rs_zone_soa(zone)->ttl);
	if (ret == RS_EOK && dnskey_ttl > max)
		ret = rs_diag(diag, RS_EZONE, "%s: DNSKEY TTL %u is above ttl.max-zone %u", s->zone.name, dnskey_ttl, max);
	return ret;
}

static void skipped(void *arg, const char *domain, const char *reason)
{
	rs_session_t *s = arg;
	rs_log(&s->o.log, RS_LOG_WARNING, s->zone.name, "delegation %s left out of the zone: %s (fix it with "
	       "regsign domain add, or remove it)", domain, reason);
}

/* The unsigned zone: its input, or its template and the registry data; then its keys. */
int session_build(rs_session_t *s, const char *input, const rs_signing_t *signing, rs_zone_t **out,
		 rs_publish_result_t *res, rs_diag_t *diag)
{
	/* regsign makes this zone's CDS and CDNSKEY: any other in the input is refused. */
	rs_zone_opts_t zo = { .threads = s->o.threads, .cds_must_match = true };
	rs_zone_opts_t to = { .threads = s->o.threads }; /* a template has no keys yet */
	rs_zone_t *zone = NULL, *tmpl = NULL;
	int ret = rs_zone_new(s->origin, &zo, &zone);
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "%s", rs_strerror(ret));
	if (!s->zone.registry) {
		ret = rs_zone_read(zone, input, diag);
	} else if ((ret = rs_zone_new(s->origin, &to, &tmpl)) == RS_EOK) {
		ret = rs_zone_read(tmpl, input, diag);
		if (ret == RS_EOK)
			ret = rs_zone_finish(tmpl, diag);
		rs_registry_t reg = { .store = s->store };
		if (ret == RS_EOK)
			ret = rs_registry_zone_build(&reg, tmpl, s->policy.max_zone_ttl, zone, skipped, s,
						     &res->delegations, &res->skipped, diag);
		rs_zone_free(tmpl);
	}
	if (ret == RS_EOK)
		ret = rs_signing_add_keys(signing, &s->policy, zone, s->zone.soa_ttl, diag);
	if (ret == RS_EOK)
		ret = rs_zone_finish(zone, diag);
	if (ret == RS_EOK)
		ret = check_ttls(s, zone, diag);
	if (ret != RS_EOK) {
		rs_zone_free(zone);
		return ret;
	}
	const rs_rr_t *soa = rs_zone_soa(zone);
	s->zone.soa_ttl = soa->ttl;
	s->zone.soa_minimum = rs_get32(soa->rdata + soa->rdlen - 4);
	if (s->policy.ds_ttl_from_ns)
		rs_zone_ds_ttl_from_ns(zone);
	res->ttl_fixes = rs_zone_ttl_fixes(zone);
	/* ZONEMD as the policy says, else as the input's apex asks; the signer fills in the digests. */
	uint8_t hashes[RS_ZONEMD_HASHES];
	ret = rs_zonemd_setup(&zone, s->policy.zonemd_set ? s->policy.zonemd : NULL, s->policy.nzonemd, hashes,
			      &res->zonemd, &res->zonemd_stale, diag);
	if (ret != RS_EOK) {
		rs_zone_free(zone);
		return ret;
	}
	if (res->zonemd_stale > 0)
		rs_log(&s->o.log, RS_LOG_WARNING, s->zone.name, "%zu apex ZONEMD record%s of '%s' dropped: %s",
		       res->zonemd_stale, res->zonemd_stale > 1 ? "s" : "", input,
		       res->zonemd == 0 ? "signing changes the zone they digest (the policy's zonemd makes new ones)"
					: "of a scheme or hash algorithm regsign does not make");
	*out = zone;
	return RS_EOK;
}

/* The highest of two serials, 0 standing for none. */
static uint32_t serial_max(uint32_t a, uint32_t b)
{
	return a == 0 || (b != 0 && rs_serial_gt(b, a)) ? b : a;
}

uint32_t session_published_serial(const rs_session_t *s, const rs_publish_opts_t *po)
{
	uint32_t published = serial_max(s->zone.serial, po->serial_floor), out_serial;
	/* The last output may be newer than the state, if its commit was lost; so may the one written before. */
	if (po->output != NULL && rs_signed_serial(po->output, &out_serial) == RS_EOK)
		published = serial_max(published, out_serial);
	if (s->zone.output[0] != '\0' && (po->output == NULL || strcmp(s->zone.output, po->output) != 0) &&
	    rs_signed_serial(s->zone.output, &out_serial) == RS_EOK)
		published = serial_max(published, out_serial);
	return published;
}

/* Never a serial at or below one already published: secondaries would not transfer it. */
static uint32_t next_serial(const rs_session_t *s, const rs_zone_t *zone, const rs_publish_opts_t *po)
{
	const rs_rr_t *soa = rs_zone_soa(zone);
	uint32_t base = rs_get32(soa->rdata + soa->rdlen - 20), published = session_published_serial(s, po);
	if (published != 0 && rs_serial_gt(published, base))
		base = published;
	uint32_t serial = rs_serial_next(s->policy.serial, base, s->o.now);
	if (published != 0 && !rs_serial_gt(serial, published))
		serial = published + 1;
	return serial;
}

/* The zone as signed last time, for incremental signing; NULL (after a warning) when it cannot serve. */
static rs_zone_t *previous_output(rs_session_t *s, const char *path)
{
	if (access(path, F_OK) != 0)
		return NULL;
	rs_zone_opts_t zo = { .threads = s->o.threads, .keep_dnssec = true };
	rs_zone_t *prev = NULL;
	rs_diag_t diag;
	int ret = rs_zone_new(s->origin, &zo, &prev);
	if (ret == RS_EOK)
		ret = rs_zone_read(prev, path, &diag);
	if (ret == RS_EOK)
		ret = rs_zone_finish(prev, &diag);
	if (ret != RS_EOK) {
		rs_log(&s->o.log, RS_LOG_WARNING, s->zone.name, "signatures of '%s' not reused, signing everything: %s",
		       path, diag.text);
		rs_zone_free(prev);
		return NULL;
	}
	return prev;
}

/* Is the apex DNSKEY RRset of the checked zone exactly the keys the states publish? */
int session_check_dnskeys(const rs_session_t *s, const rs_zone_t *zone, const rs_signing_t *signing, rs_diag_t *diag)
{
	size_t n;
	const rs_node_t *apex = rs_zone_nodes(zone, &n);
	const rs_rr_t *rrs = rs_zone_rrs(zone);
	uint32_t b = 0, e = 0;
	rs_node_rrset(zone, apex, RS_TYPE_DNSKEY, &b, &e);
	if (e - b != signing->published)
		return rs_diag(diag, RS_EZONE, "%s: the signed zone has %u DNSKEY records, the key states publish %zu",
			       s->zone.name, e - b, signing->published);
	for (size_t i = 0; i < signing->count; i++) {
		if (!rs_keystate_published(signing->states[i]))
			continue;
		size_t len;
		const uint8_t *key = rs_key_dnskey(signing->keys[i], &len);
		bool found = false;
		for (uint32_t j = b; j < e && !found; j++)
			found = rrs[j].rdlen == len && memcmp(rrs[j].rdata, key, len) == 0;
		if (!found)
			return rs_diag(diag, RS_EZONE, "%s: the DNSKEY of key %u is missing from the signed zone", s->zone.name,
				       signing->states[i]->tag);
	}
	return RS_EOK;
}

/* Read what was written back and check it all, as a validator would, before anyone sees it. */
static int verify_output(rs_session_t *s, rs_outfile_t *out, const rs_signing_t *signing, rs_publish_result_t *res,
			 rs_zone_t **checked, rs_diag_t *diag)
{
	char path[4200];
	int ret = rs_outfile_readback(out, path, sizeof(path), diag);
	if (ret != RS_EOK)
		return ret;
	rs_zone_opts_t zo = { .threads = s->o.threads, .keep_dnssec = true };
	rs_zone_t *zone = NULL;
	rs_diag_t why;
	if ((ret = rs_zone_new(s->origin, &zo, &zone)) != RS_EOK)
		return rs_diag(diag, ret, "%s", rs_strerror(ret));
	ret = rs_zone_read(zone, path, &why);
	if (ret == RS_EOK)
		ret = rs_zone_finish(zone, &why);
	if (ret != RS_EOK) {
		rs_zone_free(zone);
		return rs_diag(diag, RS_EZONE, "%s: the signed zone cannot be read back: %s", s->zone.name, why.text);
	}
	/* An algorithm rollover's new keys sign before their DNSKEYs appear (RFC 6781 4.1.4). */
	bool foreign = false;
	for (size_t i = 0; i < signing->count; i++)
		foreign = foreign || !rs_keystate_published(signing->states[i]);
	rs_verify_opts_t vo = { .now = s->o.now, .threads = s->o.threads, .max_problems = 10,
				.foreign_signatures = foreign };
	rs_verify_result_t vr;
	rs_buf_t report;
	rs_buf_init(&report, 1 << 16);
	ret = rs_verify_zone(zone, &vo, &report, &vr, &why);
	if (ret != RS_EOK) {
		rs_diag(diag, ret, "%s: cannot verify the signed zone: %s", s->zone.name, why.text);
	} else if (vr.problems > 0) {
		size_t first = report.data != NULL ? strcspn((const char *)report.data, "\n") : 0;
		ret = rs_diag(diag, RS_EZONE, "%s: the signed zone failed verification (%llu problems; first: %.*s); "
			      "nothing was published", s->zone.name, (unsigned long long)vr.problems, (int)first,
			      report.data != NULL ? (const char *)report.data : "");
	} else {
		ret = session_check_dnskeys(s, zone, signing, diag);
		res->verified = vr.signatures;
	}
	rs_buf_clear(&report);
	if (ret == RS_EOK)
		*checked = zone;
	else
		rs_zone_free(zone);
	return ret;
}

static int no_key(void *arg, const rs_keyset_t *set, rs_keystate_t *key)
{
	(void)arg, (void)set, (void)key;
	return RS_ELOCKED;
}

/* When the state machine wakes next, now that the publication started its clocks. */
int64_t session_next_event(const rs_session_t *s)
{
	rs_keyset_t copy = { 0 };
	if (rs_keyset_copy(&s->keys, &copy) != RS_EOK)
		return s->o.now;
	rs_enforce_ctx_t ctx = { no_key, NULL, NULL, NULL, NULL };
	int64_t next = s->o.now;
	if (rs_enforce(&s->policy, &copy, s->o.now, &ctx, &next, NULL) != RS_EOK)
		next = s->o.now;
	rs_keyset_clear(&copy);
	return next;
}

/* Published: what it shows is what resolvers may see from now on, and the zone is well. */
void session_mark_published(rs_session_t *s, uint32_t serial)
{
	rs_keyset_published(&s->keys, s->o.now);
	s->zone.serial = serial;
	s->zone.last_sign = s->o.now;
	s->zone.last_failure = 0;
	s->zone.last_error[0] = '\0';
	s->zone.next_event = session_next_event(s);
}

/* A failed publication is recorded, and nothing else: the state stays as it was committed. */
void rs_session_fail(rs_session_t *s, const char *why)
{
	session_record_failure(s, why, true);
}

/* The zone's failure fields, and (audit) an audit entry, in a transaction of its own. */
void session_record_failure(rs_session_t *s, const char *why, bool audit)
{
	rs_diag_t diag;
	rs_zone_rec_t z;
	if (rs_store_begin(s->store, &diag) != RS_EOK)
		return;
	rs_audit_event_t e = { s->o.now, s->o.operator, "sign", s->zone.name, 0, "failed", why };
	int ret = rs_store_zone_get(s->store, s->zone.name, &z);
	if (ret == RS_EOK) {
		z.last_failure = s->o.now;
		snprintf(z.last_error, sizeof(z.last_error), "%s", why);
		ret = rs_store_zone_update(s->store, &z, &diag);
	}
	if (ret == RS_EOK && audit)
		ret = rs_audit_record(s->store, &e, &diag);
	if (ret == RS_EOK && rs_store_commit(s->store, &diag) == RS_EOK) {
		if (audit)
			session_flush_audit(s);
	} else {
		rs_store_rollback(s->store);
	}
}

void session_reuse_window(const rs_session_t *s, rs_sign_opts_t *so)
{
	/*
	 * A kept signature must outlive the next run and the caches: never less
	 * than the refresh interval plus the longest TTL left (floor). Above
	 * that, each RRset is signed again when its signature has between floor
	 * and validity - floor left, its own point in that range (a hash): on
	 * average at half its validity, as a whole zone signed at once is then
	 * re-signed a little at every run, not in one storm. A signature just
	 * made is always kept at the next run. None may live longer than the
	 * policy allows now (a validity shortened since it was made).
	 */
	int64_t floor = s->policy.sig_refresh + (int64_t)s->policy.max_zone_ttl, v = s->policy.sig_validity;
	int64_t high = v - floor, fresh = v - s->policy.sig_jitter - s->policy.sig_refresh;
	if (high > fresh)
		high = fresh;
	if (high > floor) {
		so->reuse_until = s->o.now + floor;
		so->reuse_spread = high - floor;
	} else {
		so->reuse_until = s->o.now + (v / 2 > floor ? v / 2 : floor);
		so->reuse_spread = 0;
	}
	so->reuse_latest = s->o.now + s->policy.sig_validity;
}

int64_t session_signatures(const rs_zone_t *zone, int64_t now, uint64_t *count)
{
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(zone, &n);
	const rs_rr_t *rr = rs_zone_rrs(zone);
	size_t records = n ? nodes[n - 1].first + nodes[n - 1].count : 0;
	int32_t least = INT32_MAX;
	uint64_t sigs = 0;
	for (size_t i = 0; i < records; i++)
		if (rr[i].type == RS_TYPE_RRSIG && rr[i].rdlen > 18) {
			int32_t left = (int32_t)(rs_get32(rr[i].rdata + 8) - (uint32_t)now); /* RFC 4034 3.1.5 */
			least = left < least ? left : least;
			sigs++;
		}
	if (count != NULL)
		*count = sigs;
	return least == INT32_MAX ? 0 : now + least;
}

int session_commit_publication(rs_session_t *s, const rs_publish_result_t *res, const char *keys, const char *what,
			       rs_diag_t *diag)
{
	rs_publication_t pub = { s->o.now, res->serial, res->stats.signatures, res->stats.reused, "", "" };
	snprintf(pub.keys, sizeof(pub.keys), "%s", keys);
	snprintf(pub.output, sizeof(pub.output), "%s", s->zone.output);
	int ret = session_commit(s, &pub, diag);
	if (ret != RS_EOK) {
		char why[sizeof(diag->text)];
		snprintf(why, sizeof(why), "%s", diag->text);
		/* The next run reads the serial back from the output or the journal, and takes these steps again. */
		rs_diag(diag, ret, "%s: %s, but the state could not be recorded: %s", s->zone.name, what, why);
	}
	return ret;
}

int rs_session_publish(rs_session_t *s, const rs_publish_opts_t *po, rs_publish_result_t *res, rs_diag_t *diag)
{
	memset(res, 0, sizeof(*res));
	if (s->o.read_only || s->removed)
		return rs_diag(diag, RS_EINVAL, "%s: this session cannot publish", s->zone.name);
	/* What is published is checked before it is seen: a stream or a device cannot be. */
	struct stat st;
	if (strcmp(po->output, "-") == 0 || (stat(po->output, &st) == 0 && !S_ISREG(st.st_mode)))
		return rs_diag(diag, RS_EINVAL, "%s: a managed zone is published to a regular file, which is verified "
			       "before it replaces the last one ('%s' is not one)", s->zone.name, po->output);
	int ret = rs_session_check_clock(s, diag);
	if (ret != RS_EOK) {
		rs_session_fail(s, diag->text);
		return ret;
	}
	/* Until it finishes, a publication counts as failed: a kill or a signal leaves it so. */
	char started[15], why[128];
	rs_time_format(s->o.now, started);
	snprintf(why, sizeof(why), "the publication started at %s did not finish (interrupted, or still running)",
		 started);
	session_record_failure(s, why, false);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rs_signing_t signing;
	rs_zone_t *zone = NULL, *prev = NULL;
	rs_outfile_t *out = NULL;
	ret = rs_signing_load(&s->keys, session_load_key, s, &signing, diag);
	if (ret != RS_EOK) {
		rs_session_fail(s, diag->text);
		return ret;
	}
	ret = session_build(s, po->input != NULL ? po->input : s->zone.input, &signing, &zone, res, diag);
	res->t_build = session_seconds_since(&t0);
	rs_sign_opts_t so;
	if (ret == RS_EOK) {
		res->serial = next_serial(s, zone, po);
		rs_zone_set_serial(zone, res->serial);
		rs_signing_opts(&signing, &s->policy, zone, s->o.now, &so);
		so.threads = s->o.threads;
		so.zonemd = res->zonemd > 0;
		so.progress = po->progress;
		so.progress_arg = po->progress_arg;
		res->signers = signing.nsigners;
		res->published = signing.published;
		ret = rs_outfile_open(po->output, 0644, &out, diag);
	}
	if (ret == RS_EOK && po->incremental) {
		prev = po->previous != NULL ? NULL : previous_output(s, po->output);
		so.previous = po->previous != NULL ? po->previous : prev;
		session_reuse_window(s, &so);
	}
	if (ret == RS_EOK)
		ret = rs_sign_zone(zone, signing.signers, signing.nsigners, &so, rs_outfile_stream(out), &res->stats, diag);
	res->t_sign = session_seconds_since(&t0) - res->t_build;
	/* The unsigned and the previous zone are done with: the check reads the output alone. */
	rs_zone_free(zone);
	rs_zone_free(prev);
	rs_zone_t *checked = NULL;
	if (ret == RS_EOK)
		ret = verify_output(s, out, &signing, res, &checked, diag);
	if (ret == RS_EOK)
		res->expiration = session_signatures(checked, s->o.now, NULL); /* kept signatures expire first */
	res->t_verify = session_seconds_since(&t0) - res->t_build - res->t_sign;
	if (ret == RS_EOK && po->staged != NULL)
		ret = po->staged(po->staged_arg, checked, res->serial, diag);
	char keys[256];
	rs_signing_describe(&signing, keys, sizeof(keys));
	rs_signing_clear(&signing);
	if (ret == RS_EOK) {
		ret = rs_outfile_commit(out, diag);
		out = NULL;
	}
	if (ret != RS_EOK) {
		rs_zone_free(checked);
		rs_outfile_abort(out);
		rs_session_fail(s, diag->text);
		return ret;
	}
	if (po->keep != NULL)
		*po->keep = checked;
	else
		rs_zone_free(checked);
	session_mark_published(s, res->serial);
	char *abs = realpath(po->output, NULL);
	snprintf(s->zone.output, sizeof(s->zone.output), "%s", abs != NULL ? abs : po->output);
	free(abs);
	char exp[15];
	rs_time_format(res->expiration, exp);
	session_note(s, "sign", 0, 0, "serial %u, %llu signatures (%llu kept, %llu verified) by %zu keys, %zu DNSKEYs "
		     "published (%s), expires %s, output %s%s", res->serial, (unsigned long long)res->stats.signatures,
		     (unsigned long long)res->stats.reused, (unsigned long long)res->verified, res->signers,
		     res->published, keys, exp, s->zone.output, res->skipped ? ", delegations left out" : "");
	char what[4200];
	snprintf(what, sizeof(what), "published to %s", s->zone.output);
	ret = session_commit_publication(s, res, keys, what, diag);
	return ret;
}
