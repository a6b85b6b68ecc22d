/* regsign policy list|show|check|import: signing policies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "custody.h"
#include "managed.h"
#include "regsign/crypto.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: regsign [--state DIR] policy list\n"
		"       regsign [--state DIR] policy show NAME\n"
		"       regsign [--state DIR] policy check FILE|NAME [--soa-ttl SECONDS] [--soa-expire SECONDS]\n"
		"       regsign [--state DIR] policy import FILE\n"
		"\n"
		"Policies are YAML files (see policies/ for the shipped ones: cloud-tld, ripe-ncc,\n"
		"default). check reads a policy and refuses one that cannot be kept safely, with\n"
		"the reason (for example a pre-publication shorter than the DNSKEY TTL plus the\n"
		"propagation delay). import stores a checked policy under its name; zones that use\n"
		"that name follow it from their next enforce. With --soa-expire, check also warns\n"
		"(a warning line, not a refusal) when the refresh margin (validity - refresh -\n"
		"jitter) is below that SOA expire plus ttl.max-zone; zone add warns so for its zone.\n"
		"\n"
		"examples:\n"
		"  regsign policy check my-tld.yaml\n"
		"  regsign policy import my-tld.yaml && regsign zone set-policy example. my-tld\n");
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	size_t got;
	while (buf != NULL && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (n + 1 == cap) {
			char *nb = cap < (1u << 20) ? realloc(buf, cap *= 2) : NULL;
			if (nb == NULL) {
				free(buf);
				buf = NULL;
			}
			buf = nb;
		}
	}
	fclose(f);
	if (buf != NULL) {
		buf[n] = '\0';
		*len = n;
	}
	return buf;
}

int cli_policy_load(rs_store_t *store, const char *arg, bool check, rs_policy_t *p, char **text)
{
	if (strchr(arg, '/') == NULL && strstr(arg, ".yaml") == NULL)
		return cli_policy_get(store, arg, p, text);
	size_t len;
	char *t = read_file(arg, &len);
	if (t == NULL) {
		cli_error("cannot read policy file '%s'", arg);
		return RS_EINVAL;
	}
	rs_diag_t diag;
	if (rs_policy_parse(t, len, arg, p, &diag) != RS_EOK) {
		cli_error("%s", diag.text);
		free(t);
		return RS_EINVAL;
	}
	if (check && rs_policy_check(p, 0, &diag) != RS_EOK) {
		cli_policy_refusal(arg, t, diag.text);
		free(t);
		return RS_EINVAL;
	}
	if (text != NULL)
		*text = t;
	else
		free(t);
	return RS_EOK;
}

static void summary(const rs_policy_t *p)
{
	char a[32], b[32], c[32];
	printf("%s: %s\n", p->name, p->description);
	const rs_policy_key_t *keys[2] = { &p->ksk, &p->zsk };
	for (int i = 0; i < (p->csk ? 1 : 2); i++) {
		const rs_policy_key_t *k = keys[i];
		rs_policy_duration_format(k->lifetime, a);
		rs_policy_duration_format(k->publish, b);
		rs_policy_duration_format(k->retire, c);
		printf("  %s  %s", p->csk ? "csk" : i == 0 ? "ksk" : "zsk", rs_alg_name(k->alg));
		if (k->bits)
			printf(" %u", k->bits);
		printf(", lifetime %s, published %s before use, kept %s after, %s\n",
		       k->lifetime ? a : "unlimited", b, c,
		       k->method == RS_ROLL_PREPUBLISH ? "pre-publication" : "double-signature");
	}
	rs_policy_duration_format(p->sig_validity, a);
	rs_policy_duration_format(p->sig_refresh, b);
	printf("  signatures valid %s, zone signed every %s; %s", a, b, p->nsec3 ? "NSEC3" : "NSEC");
	if (p->max_dnskeys)
		printf("; at most %u DNSKEYs", p->max_dnskeys);
	printf("\n");
	if (p->nsec3 && p->nsec3_params.iterations > 0)
		printf("  warning: NSEC3 iterations %u; RFC 9276 3.1 asks for 0\n", p->nsec3_params.iterations);
}

int cmd_policy(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	if (sub == NULL || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		help(sub == NULL ? stderr : stdout);
		return sub == NULL ? RS_EINVAL : RS_EOK;
	}
	const char *arg = NULL;
	long soa_ttl = 0, soa_expire = -1;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			help(stdout);
			return RS_EOK;
		} else if (strcmp(argv[i], "--soa-ttl") == 0 && i + 1 < argc) {
			char *end;
			soa_ttl = strtol(argv[++i], &end, 10);
			if (*end != '\0' || soa_ttl <= 0 || soa_ttl > 0x7fffffff) {
				cli_error("invalid --soa-ttl '%s'", argv[i]);
				return RS_EINVAL;
			}
		} else if (strcmp(argv[i], "--soa-expire") == 0 && i + 1 < argc) {
			char *end;
			soa_expire = strtol(argv[++i], &end, 10);
			if (*end != '\0' || soa_expire < 0 || soa_expire > 0x7fffffff) {
				cli_error("invalid --soa-expire '%s'", argv[i]);
				return RS_EINVAL;
			}
		} else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
			if (!cli_set_now(argv[++i]))
				return RS_EINVAL;
		} else if (arg == NULL) {
			arg = argv[i];
		} else {
			cli_error("unexpected argument '%s'", argv[i]);
			return RS_EINVAL;
		}
	}
	rs_store_t *store = NULL;
	int code = RS_EOK;
	rs_policy_t p;
	char *text = NULL;
	if (strcmp(sub, "list") == 0) {
		/* Reading the list must not create a state directory. */
		if ((code = cli_store_if_any(&store)) != RS_EOK)
			return code;
		for (size_t i = 0; rs_policy_builtin_name(i) != NULL; i++) {
			char *stored = NULL;
			bool imported = store != NULL &&
					rs_store_policy_get(store, rs_policy_builtin_name(i), &stored) == RS_EOK;
			free(stored);
			if (!imported && cli_policy_get(NULL, rs_policy_builtin_name(i), &p, NULL) == RS_EOK)
				printf("%-16s shipped   %s\n", p.name, p.description);
		}
		char name[64];
		for (size_t i = 0; store != NULL && rs_store_policy_name(store, i, name) == RS_EOK; i++)
			if (cli_policy_get(store, name, &p, NULL) == RS_EOK)
				printf("%-16s imported  %s\n", name, p.description);
	} else if (arg == NULL) {
		cli_error("policy %s needs an argument", sub);
		code = RS_EINVAL;
	} else if (strcmp(sub, "show") == 0) {
		code = cli_store_if_any(&store);
		if (code == RS_EOK && (code = cli_policy_load(store, arg, false, &p, &text)) == RS_EOK)
			fputs(text, stdout);
	} else if (strcmp(sub, "check") == 0) {
		if (strchr(arg, '/') == NULL && strstr(arg, ".yaml") == NULL)
			code = cli_store_if_any(&store);
		rs_diag_t diag;
		if (code == RS_EOK && (code = cli_policy_load(store, arg, false, &p, &text)) == RS_EOK) {
			if (rs_policy_check(&p, (uint32_t)soa_ttl, &diag) != RS_EOK) {
				cli_policy_refusal(arg, text, diag.text);
				code = RS_EINVAL;
			} else {
				if (soa_expire >= 0 && rs_policy_check_margin(&p, (uint32_t)soa_expire, 0, &diag) != RS_EOK)
					cli_error("warning: %s", diag.text);
				summary(&p);
				printf("policy %s: ok\n", p.name);
			}
		}
	} else if (strcmp(sub, "import") == 0) {
		rs_diag_t diag;
		if ((code = cli_policy_load(NULL, arg, true, &p, &text)) == RS_EOK &&
		    (code = cli_store_create(&store)) == RS_EOK) {
			int ret = rs_store_begin(store, &diag);
			if (ret == RS_EOK)
				ret = rs_store_policy_put(store, p.name, text, cli_now(), &diag);
			if (ret == RS_EOK && !cli_audit(store, "policy-import", NULL, 0, "ok", "policy %s from %s", p.name,
							arg))
				ret = RS_EIO;
			if (ret == RS_EOK)
				ret = rs_store_commit(store, &diag);
			else
				rs_store_rollback(store);
			if (ret == RS_EOK)
				cli_audit_flush(store);
			if (ret != RS_EOK) {
				cli_error("%s", diag.text);
				code = ret;
			} else {
				printf("policy %s imported\n", p.name);
			}
		}
	} else {
		cli_error("unknown command 'policy %s'", sub);
		help(stderr);
		code = RS_EINVAL;
	}
	free(text);
	rs_store_close(store);
	return code;
}
