/* The registry commands' shared set-up. */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "custody.h"
#include "managed.h"
#include "registry.h"
#include "regsign/audit.h"

/* Audit entries of registry changes name who acted: the registrar over EPP, the operator, or the scanner. */
static int record(void *arg, int64_t when, const char *actor, const char *action, const char *domain,
		  const char *result, const char *detail, rs_diag_t *diag)
{
	rs_audit_event_t e = { when, actor, action, domain, 0, result, detail };
	return rs_audit_record(arg, &e, diag);
}

static void committed(void *arg)
{
	cli_audit_flush(arg);
}

bool cli_check_mode(const char *text, rs_check_mode_t *out)
{
	static const char *const names[] = { "off", "warn", "enforce" };
	for (int i = 0; i < 3; i++)
		if (strcmp(text, names[i]) == 0) {
			*out = (rs_check_mode_t)i;
			return true;
		}
	return false;
}

const char *cli_check_mode_name(rs_check_mode_t mode)
{
	return mode == RS_CHECK_OFF ? "off" : mode == RS_CHECK_WARN ? "warn" : "enforce";
}

void cli_registry(rs_store_t *store, const char *zone, rs_registry_t *reg)
{
	char v[64];
	*reg = (rs_registry_t){ .store = store, .check = RS_CHECK_ENFORCE, .dns_port = 53, .timeout_ms = 3000,
				.record = record, .committed = committed, .arg = store };
	if (rs_store_setting_get(store, SET_CHECK, v, sizeof(v)) == RS_EOK)
		cli_check_mode(v, &reg->check);
	if (rs_store_setting_get(store, SET_DNS_PORT, v, sizeof(v)) == RS_EOK)
		reg->dns_port = (uint16_t)strtoul(v, NULL, 10);
	if (rs_store_setting_get(store, SET_TIMEOUT, v, sizeof(v)) == RS_EOK)
		reg->timeout_ms = (unsigned)strtoul(v, NULL, 10);
	if (rs_store_setting_get(store, SET_RESOLVER, v, sizeof(v)) == RS_EOK && strcmp(v, "system") != 0)
		snprintf(reg->resolver, sizeof(reg->resolver), "%s", v);
	rs_zone_rec_t z;
	rs_policy_t p;
	if (zone != NULL && rs_store_zone_get(store, zone, &z) == RS_EOK &&
	    cli_policy_get(store, z.policy, &p, NULL) == RS_EOK)
		reg->min_sig_life = (uint32_t)p.sig_validity, reg->max_ttl = p.max_zone_ttl;
}

void cli_print_report(FILE *f, const rs_check_report_t *report)
{
	for (size_t i = 0; report->checked && i < report->count; i++)
		fprintf(f, "  %-24s %s: %s\n", report->servers[i].server,
			report->servers[i].result == RS_EOK ? "ok" : "FAILED", report->servers[i].detail);
}

int cli_finish(rs_store_t *store, int ret, const rs_diag_t *diag)
{
	rs_diag_t commit;
	if (ret == RS_EOK && (ret = rs_store_commit(store, &commit)) != RS_EOK)
		diag = &commit;
	if (ret != RS_EOK) {
		rs_store_rollback(store);
		if (ret != RS_EIO || diag == &commit)
			cli_error("%s", diag->text);
		return ret;
	}
	cli_audit_flush(store);
	return RS_EOK;
}

bool cli_x509_fingerprint(X509 *cert, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	out[0] = '\0';
	if (cert == NULL || X509_digest(cert, EVP_sha256(), md, &len) != 1 || len != 32)
		return false;
	sodium_bin2hex(out, 65, md, 32);
	return true;
}

bool cli_cert_fingerprint(const char *path, char out[65])
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		cli_error("cannot open certificate '%s'", path);
		return false;
	}
	X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	bool ok = cli_x509_fingerprint(cert, out);
	X509_free(cert);
	if (!ok)
		cli_error("%s: not a PEM certificate", path);
	return ok;
}
