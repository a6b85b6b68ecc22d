/*
 * libFuzzer target over policy files: the input is YAML policy text; what
 * parses is checked, and each field path is looked up for its line, as the
 * command line does when it reports a refused policy.
 */
#include <string.h>

#include "regsign/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rs_policy_t p;
	rs_diag_t diag;
	const char *text = (const char *)data;
	if (rs_policy_parse(text, size, "fuzz", &p, &diag) == RS_EOK) {
		rs_policy_check(&p, (uint32_t)size, &diag);
		rs_policy_expiration(&p, 1800000000);
		char out[32];
		rs_policy_duration_format(p.zsk.lifetime, out);
	}
	rs_policy_field_line(text, size, "keys.zsk.publish");
	rs_policy_field_line(text, size, "signatures.validity");
	return 0;
}
