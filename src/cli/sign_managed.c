/*
 * regsign sign --zone: sign a managed zone with the keys and timings the
 * state machine gives now, after a clock check and the steps that are due.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "custody.h"
#include "managed.h"
#include "regsign/signer.h"
#include "regsign/zone.h"

#define MAX_SIGN_KEYS 16

/* RFC 1982: is a newer than b? */
static bool serial_gt(uint32_t a, uint32_t b)
{
	return a != b && (uint32_t)(a - b) < 0x80000000u;
}

int cli_new_serial(const char *mode, uint32_t old, int64_t now, uint32_t *out)
{
	uint32_t want;
	if (strcmp(mode, "keep") == 0) {
		*out = old;
		return RS_EOK;
	} else if (strcmp(mode, "increment") == 0) {
		want = old + 1;
	} else if (strcmp(mode, "unixtime") == 0) {
		want = (uint32_t)now;
	} else if (strcmp(mode, "dateserial") == 0) {
		time_t t = (time_t)now;
		struct tm tm;
		gmtime_r(&t, &tm);
		want = (uint32_t)((tm.tm_year + 1900) * 1000000 + (tm.tm_mon + 1) * 10000 + tm.tm_mday * 100);
	} else {
		return RS_EINVAL;
	}
	*out = serial_gt(want, old) ? want : old + 1;
	return RS_EOK;
}

/* Statements 5.6: a signer whose clock is wrong must not sign. */
static int clock_guard(const cli_zone_t *z, bool force)
{
	if (force || z->zone.last_sign == 0)
		return EXIT_OK;
	char last[15];
	rs_time_format(z->zone.last_sign, last);
	if (z->now < z->zone.last_sign) {
		cli_error("%s: the clock is behind the last signing run (%s); check the time source, or "
			  "pass --force-clock if the time is right", z->zone.name, last);
		return EXIT_INPUT;
	}
	/* A time the operator gave with --now is a decision, not a clock fault. */
	if (!cli_now_given() && z->now - z->zone.last_sign > z->policy.clock_max_jump) {
		char jump[32];
		rs_policy_duration_format(z->now - z->zone.last_sign, jump);
		cli_error("%s: the clock is %s ahead of the last signing run (%s), more than clock.max-jump; "
			  "check the time source, or pass --force-clock if the time is right", z->zone.name, jump,
			  last);
		return EXIT_INPUT;
	}
	return EXIT_OK;
}

/* The keys the zone publishes or signs with now, from their files or the token. */
static int load_keys(cli_zone_t *z, rs_key_t **keys, rs_key_role_t *roles,
		     const rs_keystate_t **states, size_t *count)
{
	size_t n = 0;
	for (size_t i = 0; i < z->keys.count; i++) {
		const rs_keystate_t *k = &z->keys.keys[i];
		bool signs = rs_keystate_signs_keys(k) || rs_keystate_signs_data(k);
		if (!signs && !rs_keystate_published(k))
			continue;
		if (n == MAX_SIGN_KEYS) {
			cli_error("%s: more than %d keys in use", z->zone.name, MAX_SIGN_KEYS);
			return EXIT_INPUT;
		}
		int ret = cli_zone_key(z, k, signs, &keys[n]);
		if (ret != RS_EOK) {
			*count = n;
			return cli_exit_code(ret);
		}
		roles[n] = (rs_key_role_t){ keys[n], rs_keystate_signs_keys(k), rs_keystate_signs_data(k) };
		states[n] = k;
		n++;
	}
	*count = n;
	return EXIT_OK;
}

/* Read the unsigned zone, publish the DNSKEYs, apply the policy's TTL rules. */
static int add_cds(cli_zone_t *z, rs_zone_t *zone, rs_key_t *key)
{
	size_t len;
	const uint8_t *dnskey = rs_key_dnskey(key, &len);
	uint8_t ds[128];
	int dslen = rs_ds_make(z->origin, dnskey, len, z->policy.ds_digest, ds, sizeof(ds));
	if (dslen < 0)
		return dslen;
	/* Same TTL as the DNSKEY RRset they mirror. */
	uint32_t ttl = rs_policy_dnskey_ttl(&z->policy, z->zone.soa_ttl);
	int ret = rs_zone_add(zone, z->origin, RS_TYPE_CDS, ttl, ds, (size_t)dslen);
	return ret == RS_EOK ? rs_zone_add(zone, z->origin, RS_TYPE_CDNSKEY, ttl, dnskey, len) : ret;
}

static int build_zone(cli_zone_t *z, const char *input, rs_key_t **keys, const rs_keystate_t **states,
		      size_t nkeys, unsigned threads, rs_zone_t **out)
{
	rs_zone_opts_t zo = { .threads = threads };
	rs_zone_t *zone = NULL;
	rs_diag_t diag;
	int ret = rs_zone_new(z->origin, &zo, &zone);
	if (ret == RS_EOK)
		ret = rs_zone_read(zone, input != NULL ? input : z->zone.input, &diag);
	else
		rs_diag(&diag, ret, "%s", rs_strerror(ret));
	uint32_t dnskey_ttl = 0;
	if (ret == RS_EOK) {
		for (size_t i = 0; i < nkeys && ret == RS_EOK; i++) {
			if (!rs_keystate_published(states[i]))
				continue; /* signs before its DNSKEY appears (algorithm rollover) */
			size_t len;
			const uint8_t *dnskey = rs_key_dnskey(keys[i], &len);
			ret = rs_zone_add(zone, z->origin, RS_TYPE_DNSKEY, 0, dnskey, len);
			if (ret == RS_EOK && z->policy.cds && rs_keystate_wants_ds(states[i]))
				ret = add_cds(z, zone, keys[i]);
		}
		if (ret != RS_EOK)
			rs_diag(&diag, ret, "%s: cannot add the keys: %s", z->zone.name, rs_strerror(ret));
		if (ret == RS_EOK)
			ret = rs_zone_finish(zone, &diag);
	}
	if (ret == RS_EOK) {
		const rs_rr_t *soa = rs_zone_soa(zone);
		z->zone.soa_ttl = soa->ttl;
		z->zone.soa_minimum = rs_get32(soa->rdata + soa->rdlen - 4);
		dnskey_ttl = rs_policy_dnskey_ttl(&z->policy, soa->ttl);
	}
	if (ret == RS_EOK && dnskey_ttl > z->policy.max_zone_ttl)
		ret = rs_diag(&diag, RS_EZONE, "%s: DNSKEY TTL %u is above ttl.max-zone %u", z->zone.input,
			      dnskey_ttl, z->policy.max_zone_ttl);
	if (ret == RS_EOK && cli_check_ttls(zone, &z->policy) != EXIT_OK) {
		rs_zone_free(zone);
		return EXIT_INPUT;
	}
	if (ret == RS_EOK && z->policy.ds_ttl_from_ns)
		rs_zone_ds_ttl_from_ns(zone);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		rs_zone_free(zone);
		return cli_exit_code(ret);
	}
	*out = zone;
	return EXIT_OK;
}

static const char *serial_mode(int serial)
{
	static const char *const names[] = { "keep", "increment", "unixtime", "dateserial" };
	return names[serial];
}

/*
 * The zone as signed last time, for incremental signing; NULL (after a
 * warning, unless there is no such file) when it cannot serve.
 */
static rs_zone_t *previous_output(const cli_zone_t *z, const char *path, unsigned threads)
{
	if (access(path, F_OK) != 0)
		return NULL;
	rs_zone_opts_t zo = { .threads = threads, .keep_dnssec = true };
	rs_zone_t *prev = NULL;
	rs_diag_t diag;
	int ret = rs_zone_new(z->origin, &zo, &prev);
	if (ret == RS_EOK)
		ret = rs_zone_read(prev, path, &diag);
	if (ret == RS_EOK)
		ret = rs_zone_finish(prev, &diag);
	if (ret != RS_EOK) {
		cli_error("warning: %s: signatures of '%s' not reused, signing everything: %s", z->zone.name, path,
			  diag.text);
		rs_zone_free(prev);
		return NULL;
	}
	return prev;
}

int cli_sign_managed(const char *zone_name, const char *out_path, unsigned threads, bool force_clock,
		     bool quiet, const char *input, bool incremental)
{
	cli_zone_t z;
	rs_key_t *keys[MAX_SIGN_KEYS];
	rs_key_role_t roles[MAX_SIGN_KEYS];
	const rs_keystate_t *states[MAX_SIGN_KEYS];
	size_t nkeys = 0;
	rs_zone_t *zone = NULL;
	int code = cli_zone_open(&z, zone_name, quiet);
	z.log = stderr; /* standard output may be the signed zone */
	if (code == EXIT_OK)
		code = clock_guard(&z, force_clock);
	if (code == EXIT_OK)
		code = cli_zone_enforce(&z, force_clock);
	if (code == EXIT_OK)
		code = load_keys(&z, keys, roles, states, &nkeys);
	if (code == EXIT_OK)
		code = build_zone(&z, input, keys, states, nkeys, threads, &zone);
	if (code != EXIT_OK)
		goto out;
	const rs_rr_t *soa = rs_zone_soa(zone);
	uint32_t file_serial = rs_get32(soa->rdata + soa->rdlen - 20), serial;
	/* Never a serial at or below one already signed: secondaries would not transfer it. */
	uint32_t base = z.zone.serial != 0 && serial_gt(z.zone.serial, file_serial) ? z.zone.serial : file_serial;
	cli_new_serial(serial_mode(z.policy.serial), base, z.now, &serial);
	if (z.zone.serial != 0 && !serial_gt(serial, z.zone.serial))
		serial = z.zone.serial + 1;
	rs_zone_set_serial(zone, serial);
	z.zone.serial = serial;
	z.zone.last_sign = z.now;
	/* The state is committed before the output: a crash in between costs a serial, never a step. */
	if ((code = cli_zone_commit(&z)) != EXIT_OK)
		goto out;

	rs_sign_opts_t so = {
		.inception = z.now - z.policy.sig_inception,
		.expiration = rs_policy_expiration(&z.policy, z.now),
		.nsec3 = z.policy.nsec3,
		.nsec3_params = z.policy.nsec3_params,
		.threads = threads,
		.dnskey_ttl = rs_policy_dnskey_ttl(&z.policy, z.zone.soa_ttl),
		.nsec_ttl_set = z.policy.nsec_ttl_mode != RS_TTL_RFC9077,
		.nsec_ttl = z.policy.nsec_ttl_mode == RS_TTL_SOA ? z.zone.soa_ttl : z.zone.soa_minimum,
	};
	size_t signing = 0, npublished = 0;
	for (size_t i = 0; i < nkeys; i++) {
		signing += roles[i].signs_keys || roles[i].signs_data;
		npublished += rs_keystate_published(states[i]);
	}
	/*
	 * A kept signature must outlive the next run and the caches: at least
	 * half its validity left, and never less than the refresh interval plus
	 * the longest TTL. Nor may it live longer than the policy allows now
	 * (a validity shortened since it was made).
	 */
	rs_zone_t *prev = incremental ? previous_output(&z, out_path, threads) : NULL;
	int64_t margin = z.policy.sig_validity / 2;
	if (margin < z.policy.sig_refresh + (int64_t)z.policy.max_zone_ttl)
		margin = z.policy.sig_refresh + (int64_t)z.policy.max_zone_ttl;
	so.previous = prev;
	so.reuse_until = z.now + margin;
	so.reuse_latest = z.now + z.policy.sig_validity;
	rs_diag_t diag;
	rs_outfile_t *out;
	int ret = rs_outfile_open(out_path, 0644, &out, &diag);
	rs_sign_stats_t stats;
	if (ret == RS_EOK) {
		/* Keys that only appear in the DNSKEY RRset are in the zone already; the signer needs the others. */
		rs_key_t *signers[MAX_SIGN_KEYS];
		rs_key_role_t signer_roles[MAX_SIGN_KEYS];
		size_t ns = 0;
		for (size_t i = 0; i < nkeys; i++)
			if (roles[i].signs_keys || roles[i].signs_data) {
				signers[ns] = keys[i];
				signer_roles[ns++] = roles[i];
			}
		so.roles = signer_roles;
		ret = rs_sign_zone(zone, signers, ns, &so, rs_outfile_stream(out), &stats, &diag);
		if (ret == RS_EOK)
			ret = rs_outfile_commit(out, &diag);
		else
			rs_outfile_abort(out);
	}
	char exp[15];
	rs_time_format(so.expiration, exp);
	if (ret != RS_EOK) {
		cli_error("%s", diag.text);
		code = cli_exit_code(ret);
		cli_audit_alone(z.store, "sign", z.zone.name, 0, "failed", "serial %u: %s", serial, diag.text);
	} else {
		cli_audit_alone(z.store, "sign", z.zone.name, 0, "ok", "serial %u, %llu signatures (%llu kept) by %zu "
				"keys, %zu DNSKEYs published, expires %s, output %s", serial,
				(unsigned long long)stats.signatures, (unsigned long long)stats.reused, signing, npublished,
				exp, out_path);
		if (!quiet)
			fprintf(stderr, "signed %s: %llu names, %llu signatures (%llu kept) by %zu keys, %zu DNSKEYs "
				"published, serial %u, expires %s\n", z.zone.name, (unsigned long long)stats.names,
				(unsigned long long)stats.signatures, (unsigned long long)stats.reused, signing,
				npublished, serial, exp);
	}
	rs_zone_free(prev);
out:
	rs_zone_free(zone);
	for (size_t i = 0; i < nkeys; i++)
		rs_key_free(keys[i]);
	cli_zone_close(&z);
	return code;
}
