/* DS records as a registry takes them: checks, keyData into DS, text and stored forms. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "regsign/crypto.h"
#include "regsign/dns.h"
#include "regsign/registry.h"
#include "regsign/zone.h"

bool rs_ds_matches(const uint8_t *ds, size_t ds_len, const uint8_t *owner, const uint8_t *dnskey, size_t len)
{
	if (ds_len < 4 || len < 4 || rs_get16(ds) != rs_keytag(dnskey, len) || ds[2] != dnskey[3])
		return false;
	uint8_t want[RS_DS_RDATA_MAX];
	int n = rs_ds_make(owner, dnskey, len, ds[3], want, sizeof(want));
	return n > 0 && (size_t)n == ds_len && memcmp(want, ds, (size_t)n) == 0;
}

/* DNSSEC algorithms a delegation may use: those regsign validates, less the SHA-1 ones (RFC 8624 3.1). */
static int check_alg(unsigned alg, rs_diag_t *diag)
{
	const char *name = rs_alg_name((int)alg);
	if (name == NULL)
		return rs_diag(diag, RS_EALG, "algorithm %u is not supported", alg);
	if (rs_alg_legacy((int)alg))
		return rs_diag(diag, RS_EALG, "algorithm %u (%s) is not accepted: SHA-1 is deprecated (RFC 8624)", alg,
			       name);
	return RS_EOK;
}

int rs_ds_check(const uint8_t *rdata, size_t len, rs_diag_t *diag)
{
	if (len < 5)
		return rs_diag(diag, RS_ESYNTAX, "a DS of %zu octets is malformed", len);
	int ret = check_alg(rdata[2], diag);
	if (ret != RS_EOK)
		return ret;
	size_t want;
	switch (rdata[3]) {
	case RS_DS_SHA256: want = 32; break;
	case RS_DS_SHA384: want = 48; break;
	case 1: return rs_diag(diag, RS_EALG, "digest type 1 (SHA-1) is not accepted (RFC 8624); use 2 or 4");
	default: return rs_diag(diag, RS_EALG, "digest type %u is not supported; use 2 (SHA-256) or 4 (SHA-384)",
				rdata[3]);
	}
	if (len - 4 != want)
		return rs_diag(diag, RS_ESYNTAX, "a digest of type %u has %zu octets, not %zu", rdata[3], want, len - 4);
	return RS_EOK;
}

int rs_ds_entry_from_key(const uint8_t *owner, const uint8_t *dnskey, size_t len, rs_ds_entry_t *out,
			 rs_diag_t *diag)
{
	if (len < 5 || len > RS_DNSKEY_RDATA_MAX)
		return rs_diag(diag, RS_ESYNTAX, "a DNSKEY of %zu octets is malformed", len);
	uint16_t flags = rs_get16(dnskey);
	if (!(flags & 0x0100))
		return rs_diag(diag, RS_ESYNTAX, "flags %u: not a zone key (RFC 4034 2.1.1)", flags);
	if (dnskey[2] != 3)
		return rs_diag(diag, RS_ESYNTAX, "protocol %u is not 3 (RFC 4034 2.1.2)", dnskey[2]);
	int ret = check_alg(dnskey[3], diag);
	if (ret != RS_EOK)
		return ret;
	rs_key_t *key;
	if (rs_key_from_dnskey(owner, dnskey, len, &key) != RS_EOK)
		return rs_diag(diag, RS_ESYNTAX, "the public key of algorithm %u is malformed", dnskey[3]);
	rs_key_free(key);
	int n = rs_ds_make(owner, dnskey, len, RS_DS_SHA256, out->ds, sizeof(out->ds));
	if (n < 0)
		return rs_diag(diag, n, "cannot make the DS: %s", rs_strerror(n));
	out->ds_len = (uint16_t)n;
	memcpy(out->key, dnskey, len);
	out->key_len = (uint16_t)len;
	return RS_EOK;
}

int rs_ds_entry_from_text(const char *text, rs_ds_entry_t *out, rs_diag_t *diag)
{
	size_t len;
	int ret = rs_rdata_from_text(RS_TYPE_DS, text, out->ds, sizeof(out->ds), &len, diag);
	if (ret == RS_EOK)
		ret = rs_ds_check(out->ds, len, diag);
	if (ret == RS_EOK) {
		out->ds_len = (uint16_t)len;
		out->key_len = 0;
	}
	return ret;
}

int rs_ds_entry_format(const rs_ds_entry_t *e, char *out, size_t max)
{
	return rs_rdata_to_str(RS_TYPE_DS, e->ds, e->ds_len, out, max);
}

void rs_ds_entry_to_row(const rs_ds_entry_t *e, int64_t added, rs_ds_row_t *row)
{
	sodium_bin2hex(row->rdata, sizeof(row->rdata), e->ds, e->ds_len);
	sodium_bin2hex(row->dnskey, sizeof(row->dnskey), e->key, e->key_len);
	row->added = added;
}

int rs_ds_entry_from_row(const rs_ds_row_t *row, rs_ds_entry_t *out)
{
	size_t dl, kl;
	if (sodium_hex2bin(out->ds, sizeof(out->ds), row->rdata, strlen(row->rdata), NULL, &dl, NULL) != 0 ||
	    sodium_hex2bin(out->key, sizeof(out->key), row->dnskey, strlen(row->dnskey), NULL, &kl, NULL) != 0 ||
	    dl < 5)
		return RS_ESYNTAX;
	out->ds_len = (uint16_t)dl;
	out->key_len = (uint16_t)kl;
	return RS_EOK;
}

size_t rs_ds_entries_from_rows(const rs_ds_row_t *rows, size_t n, rs_ds_entry_t *out)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		count += rs_ds_entry_from_row(&rows[i], &out[count]) == RS_EOK;
	return count;
}
