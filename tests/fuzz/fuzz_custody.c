/*
 * libFuzzer target over the custody texts a person or another machine can
 * hand to regsign: share files, audit logs (verify and the syslog form of
 * each line) and what a share combines to.
 */
#include <string.h>

#include "regsign/audit.h"
#include "regsign/hsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	rs_diag_t diag;
	rs_share_t share;
	if (rs_share_parse(text, size, "fuzz", &share, &diag) == RS_EOK) {
		uint8_t secret[RS_SECRET_MAX];
		size_t len;
		rs_share_combine(&share, 1, secret, &len, &diag);
		rs_buf_t out;
		rs_buf_init(&out, 4096);
		rs_share_format(&share, &out);
		rs_buf_clear(&out);
	}
	uint64_t entries;
	rs_audit_verify(text, size, "fuzz", size % 7, rs_audit_genesis, &entries, &diag);
	const char *nl = memchr(text, '\n', size);
	rs_buf_t msg;
	rs_buf_init(&msg, 65536);
	rs_audit_syslog(text, nl ? (size_t)(nl - text) : size, "host", 1, &msg);
	rs_buf_clear(&msg);
	return 0;
}
