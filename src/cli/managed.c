/* Managed zones on the command line: the state directory, the zone session, its log, policies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "custody.h"
#include "managed.h"
#include "regsign/dns.h"
#include "regsign/zone.h"

static int open_store(int flags, rs_store_t **out)
{
	rs_diag_t diag;
	int ret = rs_store_open(cli_state_dir(), flags, out, &diag);
	return cli_check(ret, &diag);
}

int cli_store(rs_store_t **out)
{
	return open_store(0, out);
}

int cli_store_any_age(rs_store_t **out)
{
	return open_store(RS_STORE_ANY_AGE, out);
}

int cli_store_create(rs_store_t **out)
{
	return open_store(RS_STORE_CREATE, out);
}

int cli_store_if_any(rs_store_t **out)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/state.db", cli_state_dir());
	*out = NULL;
	return access(path, F_OK) == 0 ? cli_store(out) : RS_EOK;
}

int cli_check(int ret, const rs_diag_t *diag)
{
	if (ret != RS_EOK)
		cli_error("%s", diag->text);
	return ret;
}

/* Steps as "TIME ZONE what"; what the operator must act on, warnings and errors on standard error. */
static void log_line(void *arg, int level, const char *zone, const char *msg)
{
	unsigned flags = (unsigned)(uintptr_t)arg;
	if (level <= RS_LOG_WARNING && level != RS_LOG_ALERT) {
		cli_error("%s%s%s%s", level == RS_LOG_WARNING ? "warning: " : "", zone ? zone : "", zone ? ": " : "", msg);
		return;
	}
	if (level != RS_LOG_ALERT && (flags & CLI_QUIET))
		return;
	char ts[15];
	rs_time_format(cli_now(), ts);
	FILE *out = level == RS_LOG_ALERT || (flags & CLI_STDERR) ? stderr : stdout;
	fprintf(out, "%s %s %s\n", ts, zone ? zone : "-", msg);
}

rs_session_opts_t cli_session_opts(unsigned flags)
{
	return (rs_session_opts_t){
		.now = cli_now(),
		.now_given = cli_now_given(),
		.read_only = (flags & CLI_LOOK) != 0,
		.operator = cli_operator(),
		.log = { log_line, (void *)(uintptr_t)flags },
	};
}

int cli_zone_open(cli_zone_t *z, const char *name, const rs_session_opts_t *opts)
{
	memset(z, 0, sizeof(*z));
	char canon[256];
	uint8_t wire[255];
	if (!cli_zone_name(name, canon, wire))
		return RS_EINVAL;
	int code = cli_store(&z->store);
	if (code != RS_EOK)
		return code;
	rs_session_opts_t o = opts != NULL ? *opts : cli_session_opts(0);
	rs_diag_t diag;
	return cli_check(rs_session_open(z->store, canon, &o, &z->session, &diag), &diag);
}

void cli_zone_close(cli_zone_t *z)
{
	rs_session_close(z->session);
	rs_store_close(z->store);
	z->session = NULL;
	z->store = NULL;
}

void cli_warn_margin(const rs_policy_t *policy, const rs_zone_t *zone)
{
	const rs_rr_t *soa = rs_zone_soa(zone);
	if (soa == NULL || soa->rdlen < 20)
		return;
	/* The zone's largest TTL matters only when the policy sets no ttl.max-zone. */
	uint32_t max = 0;
	if (policy->max_zone_ttl == 0) {
		size_t n;
		const rs_node_t *nodes = rs_zone_nodes(zone, &n);
		const rs_rr_t *rrs = rs_zone_rrs(zone);
		for (size_t i = 0; i < n; i++)
			for (uint32_t j = nodes[i].first; j < nodes[i].first + nodes[i].count; j++)
				max = rrs[j].ttl > max ? rrs[j].ttl : max;
	}
	rs_diag_t diag;
	if (rs_policy_check_margin(policy, rs_get32(soa->rdata + soa->rdlen - 8), max, &diag) != RS_EOK)
		cli_error("warning: %s", diag.text);
}

int cli_policy_get(rs_store_t *store, const char *name, rs_policy_t *out, char **text_out)
{
	rs_diag_t diag;
	return cli_check(rs_policy_lookup(store, name, out, text_out, &diag), &diag);
}

void cli_policy_refusal(const char *label, const char *text, const char *reason)
{
	char path[96];
	size_t n = strcspn(reason, " :");
	snprintf(path, sizeof(path), "%.*s", (int)(n < sizeof(path) ? n : sizeof(path) - 1), reason);
	size_t line = rs_policy_field_line(text, strlen(text), path);
	if (line > 0)
		cli_error("%s:%zu: %s", label, line, reason);
	else
		cli_error("%s: %s", label, reason);
}

bool cli_zone_name(const char *text, char out[256], uint8_t wire[255])
{
	if (text == NULL) {
		cli_error("--zone is required");
		return false;
	}
	if (rs_dname_from_str(text, wire) != RS_EOK) {
		cli_error("invalid zone name '%s'", text);
		return false;
	}
	rs_dname_to_str(wire, out, 256); /* lower case: rs_dname_from_str folds it */
	return true;
}
