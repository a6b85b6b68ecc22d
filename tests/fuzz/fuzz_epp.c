/*
 * libFuzzer target over EPP frames as a logged-in registrar sends them: the
 * XML parser settings, schema validation, and every command handler behind
 * it, with a real SQLite registry in a temporary directory (the pre-delegation
 * check is off: no network).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsign/registry.h"

static rs_store_t *store;
static char dir[] = "/tmp/regsign-fuzz-epp.XXXXXX";
static rs_epp_t *epp;
static rs_registry_t reg;

static const char login[] = "<?xml version=\"1.0\"?><epp xmlns=\"urn:ietf:params:xml:ns:epp-1.0\"><command><login>"
			    "<clID>one</clID><pw>secret-1</pw><options><version>1.0</version><lang>en</lang></options>"
			    "<svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI></svcs></login></command></epp>";

static void cleanup(void)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	rs_diag_t d;
	if (sodium_init() < 0 || mkdtemp(dir) == NULL || rs_store_open(dir, RS_STORE_CREATE, &store, &d) != RS_EOK ||
	    rs_epp_new("fuzz", &epp, &d) != RS_EOK)
		abort();
	atexit(cleanup);
	reg = (rs_registry_t){ .store = store, .check = RS_CHECK_OFF, .min_sig_life = 3600 };
	rs_registrar_rec_t r = { .id = "one", .name = "One" };
	if (crypto_pwhash_str(r.pw_hash, "secret-1", 8, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN) != 0)
		abort();
	rs_store_begin(store, &d);
	rs_store_registrar_put(store, &r, &d);
	rs_store_commit(store, &d);
	rs_domain_rec_t dom = { .name = "a.cloud.", .zone = "cloud.", .registrar = "one", .ns_ttl = 3600,
				.ns = "ns1.a.cloud. ns.example.net.", .glue = "ns1.a.cloud./192.0.2.1" };
	if (rs_registry_domain_put(&reg, &dom, "fuzz", 1, &d) != RS_EOK)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rs_epp_session_t *s;
	if (rs_epp_session_new(epp, &reg, "", &s) != RS_EOK)
		return 0;
	rs_buf_t out;
	rs_buf_init(&out, 1 << 20);
	bool close;
	rs_epp_handle(s, (const uint8_t *)login, sizeof(login) - 1, 1795400000, &out, &close);
	rs_epp_handle(s, data, size, 1795400000, &out, &close);
	rs_buf_clear(&out);
	rs_epp_session_free(s);
	return 0;
}
