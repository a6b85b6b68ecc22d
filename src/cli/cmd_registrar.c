/* regsign registrar: the registrars that may log in over EPP; regsign registry: the registry's settings. */
#include <arpa/inet.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody.h"
#include "managed.h"
#include "registry.h"

static void registrar_help(FILE *f)
{
	fprintf(f,
		"usage: regsign registrar add ID --name NAME [--cert CLIENT.pem] < password\n"
		"       regsign registrar list\n"
		"       regsign registrar unlock ID\n"
		"\n"
		"A registrar logs in to the EPP server (regsign epp) with its client identifier ID\n"
		"(3-16 characters) and password (6-16 characters, read from standard input, never\n"
		"stored: only its Argon2id hash is), over TLS with the client certificate given\n"
		"here: a login from any other certificate is refused. Without --cert, any\n"
		"certificate the EPP server's CA accepts will do.\n"
		"\n"
		"Failed EPP logins are counted per registrar across sessions; after the EPP\n"
		"server's --login-lockout (10) of them the registrar cannot log in, even with the\n"
		"right password, until an operator runs 'registrar unlock ID' (audited). list\n"
		"shows the count.\n"
		"\n"
		"example:\n"
		"  printf '%%s\\n' 'S3cret-pw' | regsign registrar add reg-one --name 'Registrar One' --cert one.pem\n");
}

/* A password from standard input (not echoed on a terminal), checked against EPP's pwType. */
static bool read_password(char *pw, size_t max)
{
	int len = cli_read_secret("password", pw, max);
	if (len < 6 || len > 16 || strpbrk(pw, " \t") != NULL) {
		sodium_memzero(pw, max);
		cli_error("the password must have 6 to 16 characters and no blanks (RFC 5730 pwType)");
		return false;
	}
	return true;
}

static int registrar_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' }, { "cert", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	rs_registrar_rec_t r = { 0 };
	const char *cert = NULL;
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "n:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': snprintf(r.name, sizeof(r.name), "%s", optarg); break;
		case 'c': cert = optarg; break;
		case 'h': registrar_help(stdout); return RS_EOK;
		default: registrar_help(stderr); return RS_EINVAL;
		}
	}
	if (optind != argc - 1 || r.name[0] == '\0') {
		registrar_help(stderr);
		return RS_EINVAL;
	}
	const char *id = argv[optind];
	size_t idlen = strlen(id);
	if (idlen < 3 || idlen > 16 || strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != idlen) {
		cli_error("registrar id '%s' must be 3 to 16 letters, digits, '-', '_' or '.'", id);
		return RS_EINVAL;
	}
	snprintf(r.id, sizeof(r.id), "%s", id);
	if (cert != NULL && !cli_cert_fingerprint(cert, r.cert))
		return RS_EINVAL;
	char pw[64];
	if (!read_password(pw, sizeof(pw)))
		return RS_EINVAL;
	int hashed = crypto_pwhash_str(r.pw_hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
				       crypto_pwhash_MEMLIMIT_INTERACTIVE);
	sodium_memzero(pw, sizeof(pw));
	if (hashed != 0) {
		cli_error("cannot hash the password: out of memory");
		return RS_ENOMEM;
	}
	rs_store_t *store;
	int code = cli_store_create(&store);
	if (code != RS_EOK)
		return code;
	rs_diag_t diag;
	rs_registrar_rec_t old;
	r.added = cli_now();
	int ret = rs_store_begin(store, &diag);
	if (ret == RS_EOK && rs_store_registrar_get(store, r.id, &old) == RS_EOK)
		ret = rs_diag(&diag, RS_EINVAL, "registrar '%s' exists", r.id);
	if (ret == RS_EOK)
		ret = rs_store_registrar_put(store, &r, &diag);
	if (ret == RS_EOK && !cli_audit(store, "registrar-add", "", 0, "ok", "registrar %s (%s), certificate %s", r.id,
					r.name, r.cert[0] ? r.cert : "any"))
		ret = RS_EIO;
	if ((code = cli_finish(store, ret, &diag)) == RS_EOK)
		printf("registrar %s added\n", r.id);
	rs_store_close(store);
	return code;
}

static int print_registrar(void *arg, const rs_registrar_rec_t *r)
{
	char who[100];
	unsigned failures;
	int64_t next;
	snprintf(who, sizeof(who), RS_LOGIN_REGISTRAR "%s", r->id);
	rs_store_login_failures_get(arg, who, &failures, &next);
	printf("%-16s %-32s %-64s %u\n", r->id, r->name, r->cert[0] ? r->cert : "(any certificate)", failures);
	return RS_EOK;
}

/* Lift a lock-out (or forget failures short of one): the operator's decision, audited. */
static int registrar_unlock(const char *id)
{
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != RS_EOK)
		return code;
	rs_diag_t diag;
	rs_registrar_rec_t r;
	char who[100];
	unsigned failures = 0;
	int64_t next;
	snprintf(who, sizeof(who), RS_LOGIN_REGISTRAR "%s", id);
	int ret = rs_store_begin(store, &diag);
	if (ret == RS_EOK && rs_store_registrar_get(store, id, &r) != RS_EOK)
		ret = rs_diag(&diag, RS_EINVAL, "no registrar '%s' (registrar list shows them)", id);
	if (ret == RS_EOK && rs_store_login_failures_get(store, who, &failures, &next) == RS_EIO)
		ret = rs_diag(&diag, RS_EIO, "cannot read the failed logins of registrar '%s'", id);
	if (ret == RS_EOK)
		ret = rs_store_login_failures_clear(store, who, &diag);
	if (ret == RS_EOK && !cli_audit(store, "registrar-unlock", "", 0, "ok", "registrar %s: %u failed logins "
					"forgotten", id, failures))
		ret = RS_EIO;
	if ((code = cli_finish(store, ret, &diag)) == RS_EOK)
		printf("registrar %s unlocked (%u failed logins forgotten)\n", id, failures);
	rs_store_close(store);
	return code;
}

int cmd_registrar(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return registrar_add(argc, argv);
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		rs_store_t *store;
		int code = cli_store(&store);
		if (code != RS_EOK)
			return code;
		printf("%-16s %-32s %-64s %s\n", "ID", "NAME", "CERTIFICATE (SHA-256)", "FAILED-LOGINS");
		int ret = rs_store_registrar_each(store, print_registrar, store);
		rs_store_close(store);
		return ret == RS_EOK ? RS_EOK : CLI_EINTERNAL;
	}
	if (argc == 3 && strcmp(argv[1], "unlock") == 0)
		return registrar_unlock(argv[2]);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		registrar_help(stdout);
		return RS_EOK;
	}
	registrar_help(stderr);
	return RS_EINVAL;
}

static void registry_help(FILE *f)
{
	fprintf(f,
		"usage: regsign registry [--check off|warn|enforce] [--dns-port PORT] [--timeout MS]\n"
		"                        [--resolver ADDR[@PORT]|system]\n"
		"\n"
		"Shows, or sets, how the registry takes DS records. --check: the pre-delegation\n"
		"check asks every name server of the child for its DNSKEY RRset and requires a\n"
		"key matching a submitted DS that signs it validly now; 'enforce' refuses the DS\n"
		"otherwise (the default), 'warn' takes it and reports, 'off' does not ask.\n"
		"--dns-port: the port the children's servers answer on (53). --timeout: per question.\n"
		"--resolver: the recursive resolver asked for the addresses of name servers that\n"
		"have no glue in the registry (port 53 unless given); 'system' (the default) uses\n"
		"the one in /etc/resolv.conf.\n"
		"\n"
		"examples:\n"
		"  regsign registry --check enforce --timeout 2000\n"
		"  regsign registry --resolver 192.0.2.53@5353\n");
}

/* Is text ADDR or ADDR@PORT, an IPv4 or IPv6 address with a port from 1 to 65535? */
static bool server_address(const char *text)
{
	char host[64];
	const char *at = strchr(text, '@');
	size_t len = at ? (size_t)(at - text) : strlen(text);
	unsigned char buf[16];
	char *end = NULL;
	unsigned long port = at ? strtoul(at + 1, &end, 10) : 53;
	if (len == 0 || len >= sizeof(host) || (at && (at[1] == '\0' || *end != '\0' || port == 0 || port > 65535)))
		return false;
	memcpy(host, text, len);
	host[len] = '\0';
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int cmd_registry(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", required_argument, NULL, 'c' },    { "dns-port", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },  { "resolver", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 },
	};
	const char *names[4] = { SET_CHECK, SET_DNS_PORT, SET_TIMEOUT, SET_RESOLVER };
	const char *values[4] = { NULL, NULL, NULL, NULL };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:p:t:r:h", opts, NULL)) != -1) {
		rs_check_mode_t mode;
		char *end;
		switch (c) {
		case 'c':
			if (!cli_check_mode(optarg, &mode)) {
				cli_error("--check takes off, warn or enforce, not '%s'", optarg);
				return RS_EINVAL;
			}
			values[0] = optarg;
			break;
		case 'p':
		case 't': {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v == 0 || v > (c == 'p' ? 65535UL : 60000UL)) {
				cli_error("invalid --%s '%s'", c == 'p' ? "dns-port" : "timeout", optarg);
				return RS_EINVAL;
			}
			values[c == 'p' ? 1 : 2] = optarg;
			break;
		}
		case 'r':
			if (strcmp(optarg, "system") != 0 && !server_address(optarg)) {
				cli_error("--resolver takes ADDR, ADDR@PORT or system, not '%s'", optarg);
				return RS_EINVAL;
			}
			values[3] = optarg;
			break;
		case 'h': registry_help(stdout); return RS_EOK;
		default: registry_help(stderr); return RS_EINVAL;
		}
	}
	if (optind != argc) {
		registry_help(stderr);
		return RS_EINVAL;
	}
	rs_store_t *store;
	int code = cli_store(&store);
	if (code != RS_EOK)
		return code;
	rs_diag_t diag;
	int ret = rs_store_begin(store, &diag);
	for (int i = 0; i < 4 && ret == RS_EOK; i++) {
		if (values[i] == NULL)
			continue;
		ret = rs_store_setting_put(store, names[i], values[i], &diag);
		if (ret == RS_EOK && !cli_audit(store, "registry-config", "", 0, "ok", "%s = %s", names[i], values[i]))
			ret = RS_EIO;
	}
	if ((code = cli_finish(store, ret, &diag)) != RS_EOK) {
		rs_store_close(store);
		return code;
	}
	rs_registry_t reg;
	cli_registry(store, NULL, &reg);
	printf("check %s\ndns-port %u\ntimeout %u ms\nresolver %s\n", cli_check_mode_name(reg.check), reg.dns_port,
	       reg.timeout_ms, reg.resolver[0] ? reg.resolver : "system");
	rs_store_close(store);
	return RS_EOK;
}
