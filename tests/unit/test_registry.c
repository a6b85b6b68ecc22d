/*
 * Unit tests of registry: which DS records a registry takes, the registry
 * data in a throwaway SQLite store, DS updates with their outcomes (nothing
 * changes on a refusal), the registry zone text, and EPP sessions answering
 * frames directly (the TLS server is the integration test's).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "regsign/crypto.h"
#include "regsign/dns.h"
#include "regsign/registry.h"
#include "tap/tap.h"

static rs_ds_entry_t entry(const char *text)
{
	rs_ds_entry_t e;
	rs_diag_t d;
	if (rs_ds_entry_from_text(text, &e, &d) != RS_EOK)
		printf("# %s: %s\n", text, d.text);
	return e;
}

static void test_ds_check(void)
{
	rs_ds_entry_t e;
	rs_diag_t d;
	char hex64[65], hex96[97], hex40[41];
	memset(hex64, 'A', 64), hex64[64] = 0;
	memset(hex96, 'B', 96), hex96[96] = 0;
	memset(hex40, 'C', 40), hex40[40] = 0;
	char t[200];
	snprintf(t, sizeof(t), "12345 13 2 %s", hex64);
	is_int(rs_ds_entry_from_text(t, &e, &d), RS_EOK, "DS with SHA-256 taken");
	is_int(e.ds_len, 36, "... 36 octets of RDATA");
	snprintf(t, sizeof(t), "12345 14 4 %s", hex96);
	is_int(rs_ds_entry_from_text(t, &e, &d), RS_EOK, "DS with SHA-384 taken");
	snprintf(t, sizeof(t), "12345 13 2 %s", hex40);
	is_int(rs_ds_entry_from_text(t, &e, &d), RS_ESYNTAX, "a SHA-256 digest of 20 octets: syntax");
	snprintf(t, sizeof(t), "12345 13 1 %s", hex40);
	is_int(rs_ds_entry_from_text(t, &e, &d), RS_EALG, "digest type 1 (SHA-1) refused");
	ok(strstr(d.text, "SHA-1") != NULL, "... saying why: %s", d.text);
	snprintf(t, sizeof(t), "12345 5 2 %s", hex64);
	is_int(rs_ds_entry_from_text(t, &e, &d), RS_EALG, "algorithm 5 (RSASHA1) refused");
	snprintf(t, sizeof(t), "12345 200 2 %s", hex64);
	is_int(rs_ds_entry_from_text(t, &e, &d), RS_EALG, "unknown algorithm 200 refused");
	snprintf(t, sizeof(t), "12345 13 3 %s", hex64);
	is_int(rs_ds_entry_from_text(t, &e, &d), RS_EALG, "digest type 3 (GOST) refused");
	is_int(rs_ds_entry_from_text("12345 13 2 XYZ", &e, &d), RS_ESYNTAX, "non-hex digest: syntax");
	is_int(rs_ds_entry_from_text("12345 13 2 AB\nCD", &e, &d), RS_ESYNTAX, "a newline in the text: syntax");
	is_int(rs_ds_entry_from_text("", &e, &d), RS_ESYNTAX, "empty text: syntax");

	/* keyData: a DNSKEY becomes its SHA-256 DS, which matches it. */
	uint8_t owner[RS_NAME_MAX];
	rs_dname_from_str("child.cloud.", owner);
	rs_key_t *key;
	rs_key_generate(owner, RS_ALG_ECDSAP256SHA256, 0, true, &key, NULL);
	size_t klen;
	const uint8_t *dnskey = rs_key_dnskey(key, &klen);
	is_int(rs_ds_entry_from_key(owner, dnskey, klen, &e, &d), RS_EOK, "keyData: DS made from the DNSKEY");
	ok(e.ds[3] == RS_DS_SHA256 && rs_ds_matches(e.ds, e.ds_len, owner, dnskey, klen), "... SHA-256, matching it");
	ok(e.key_len == klen && memcmp(e.key, dnskey, klen) == 0, "... with the DNSKEY kept");
	uint8_t bad[RS_DNSKEY_RDATA_MAX];
	memcpy(bad, dnskey, klen);
	bad[1] &= (uint8_t)~1;
	bad[0] &= (uint8_t)~1; /* clear the zone key bit (flags 0x0100) */
	is_int(rs_ds_entry_from_key(owner, bad, klen, &e, &d), RS_ESYNTAX, "keyData without the zone key flag refused");
	memcpy(bad, dnskey, klen);
	bad[2] = 2;
	is_int(rs_ds_entry_from_key(owner, bad, klen, &e, &d), RS_ESYNTAX, "keyData with protocol 2 refused");
	memcpy(bad, dnskey, klen);
	is_int(rs_ds_entry_from_key(owner, bad, 20, &e, &d), RS_ESYNTAX, "a truncated P-256 key refused");
	uint8_t other[RS_NAME_MAX];
	rs_dname_from_str("other.cloud.", other);
	rs_ds_entry_from_key(owner, dnskey, klen, &e, &d);
	ok(!rs_ds_matches(e.ds, e.ds_len, other, dnskey, klen), "the DS of a key does not match it under another owner");
	rs_ds_row_t row;
	rs_ds_entry_t back;
	rs_ds_entry_to_row(&e, 7, &row);
	ok(rs_ds_entry_from_row(&row, &back) == RS_EOK && back.ds_len == e.ds_len && back.key_len == e.key_len &&
		   memcmp(back.ds, e.ds, e.ds_len) == 0,
	   "an entry survives its stored row");
	rs_key_free(key);
}

static void note_skip(void *arg, const char *domain, const char *reason)
{
	(void)domain, (void)reason;
	(*(int *)arg)++;
}

/* The registry zone of cloud. from template, finished, as "owner ttl IN type rdata" lines; NULL on error. */
static char *built_zone(const rs_registry_t *reg, const char *template, uint32_t max_ttl, size_t *n, size_t *skipped)
{
	uint8_t origin[255];
	rs_dname_from_str("cloud.", origin);
	rs_zone_opts_t zo = { .threads = 1 };
	rs_zone_t *tmpl = NULL, *zone = NULL;
	rs_diag_t d;
	int skips = 0;
	int ret = rs_zone_new(origin, &zo, &tmpl);
	if (ret == RS_EOK)
		ret = rs_zone_read(tmpl, template, &d);
	if (ret == RS_EOK)
		ret = rs_zone_finish(tmpl, &d);
	if (ret == RS_EOK)
		ret = rs_zone_new(origin, &zo, &zone);
	if (ret == RS_EOK)
		ret = rs_registry_zone_build(reg, tmpl, max_ttl, zone, note_skip, &skips, n, skipped, &d);
	if (ret == RS_EOK)
		ret = rs_zone_finish(zone, &d);
	rs_buf_t text;
	rs_buf_init(&text, 1 << 20);
	size_t nn;
	const rs_node_t *nodes = ret == RS_EOK ? rs_zone_nodes(zone, &nn) : NULL;
	for (size_t i = 0; nodes != NULL && i < nn; i++)
		for (uint32_t j = nodes[i].first; j < nodes[i].first + nodes[i].count; j++) {
			const rs_rr_t *rr = &rs_zone_rrs(zone)[j];
			rs_rr_format(&text, NULL, rs_name_wire(rr->owner), rr->ttl, rr->type, rr->rdata, rr->rdlen);
		}
	rs_buf_append(&text, "", 1);
	rs_zone_free(tmpl);
	rs_zone_free(zone);
	if (ret != RS_EOK || (size_t)skips != *skipped) {
		printf("# %s\n", ret != RS_EOK ? d.text : "skips reported and counted differ");
		rs_buf_clear(&text);
		return NULL;
	}
	/* One space between fields, as the checks read them. */
	for (uint8_t *p = text.data; *p; p++)
		if (*p == '\t')
			*p = ' ';
	return (char *)text.data;
}

/* The registry's audit hook: counts, and can refuse (to show a refusal undoes the change). */
static int records, refuse_record;
static int record(void *arg, int64_t when, const char *actor, const char *action, const char *domain,
		  const char *result, const char *detail, rs_diag_t *diag)
{
	(void)result;
	(void)arg, (void)when, (void)actor, (void)action, (void)domain, (void)detail;
	records++;
	return refuse_record ? rs_diag(diag, RS_EIO, "audit refused") : RS_EOK;
}

static size_t ds_count(rs_store_t *s, const char *domain)
{
	rs_ds_row_t rows[RS_STORE_DS_MAX];
	size_t n = 99;
	rs_store_ds_get(s, domain, rows, &n);
	return n;
}

typedef struct {
	size_t domains, ds;
	char names[8][300];
} each_t;

static int each(void *arg, const rs_domain_rec_t *d, const rs_ds_row_t *ds, size_t nds)
{
	each_t *e = arg;
	(void)ds;
	snprintf(e->names[e->domains++ % 8], 300, "%.255s:%zu", d->name, nds);
	e->ds += nds;
	return RS_EOK;
}

static void test_data(rs_store_t *s, rs_registry_t *reg)
{
	rs_diag_t d;
	rs_registrar_rec_t r = { .id = "one", .name = "One", .added = 1 };
	ok(crypto_pwhash_str(r.pw_hash, "secret-1", 8, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN) == 0,
	   "password hashed");
	rs_store_begin(s, &d);
	rs_store_registrar_put(s, &r, &d);
	snprintf(r.id, sizeof(r.id), "two");
	rs_store_registrar_put(s, &r, &d);
	rs_store_commit(s, &d);
	rs_registrar_rec_t got;
	ok(rs_store_registrar_get(s, "one", &got) == RS_EOK && strcmp(got.name, "One") == 0, "registrar stored");
	is_int(rs_store_registrar_get(s, "nobody", &got), RS_ENOENT, "unknown registrar: ENOENT");

	const char *names[] = { "a.cloud.", "B.Cloud", "c.cloud.", "z.other." };
	for (int i = 0; i < 4; i++) {
		rs_domain_rec_t dom = { .ns_ttl = 3600 };
		snprintf(dom.name, sizeof(dom.name), "%s", names[i]);
		snprintf(dom.zone, sizeof(dom.zone), "%s", i == 3 ? "other." : "cloud.");
		snprintf(dom.registrar, sizeof(dom.registrar), "%s", i == 2 ? "two" : "one");
		snprintf(dom.ns, sizeof(dom.ns), "ns1.%s ns.example.net.", names[i]);
		snprintf(dom.glue, sizeof(dom.glue), "ns1.%s/192.0.2.%d ns1.%s/2001:db8::%d", names[i], i + 1, names[i], i + 1);
		is_int(rs_registry_domain_put(reg, &dom, "tester", 100, &d), RS_EOK, "delegation %s stored", names[i]);
	}
	rs_domain_rec_t dom;
	ok(rs_store_domain_get(s, "b.cloud.", &dom) == RS_EOK, "a name is stored in lower case with its dot");
	is_str(dom.glue, "ns1.b.cloud./192.0.2.2 ns1.b.cloud./2001:db8::2", "... and so are its glue hosts");
	rs_domain_rec_t badd = { .ns_ttl = 1 };
	snprintf(badd.registrar, sizeof(badd.registrar), "one");
	snprintf(badd.zone, sizeof(badd.zone), "cloud.");
	snprintf(badd.name, sizeof(badd.name), "cloud.");
	snprintf(badd.ns, sizeof(badd.ns), "ns.example.net.");
	is_int(rs_registry_domain_put(reg, &badd, "tester", 1, &d), RS_ESYNTAX, "the zone apex is no delegation");
	snprintf(badd.name, sizeof(badd.name), "x.cloud.");
	snprintf(badd.ns, sizeof(badd.ns), "ns.x.cloud.");
	is_int(rs_registry_domain_put(reg, &badd, "tester", 1, &d), RS_ESYNTAX, "an in-domain server needs glue: %s", d.text);
	snprintf(badd.glue, sizeof(badd.glue), "ns.x.cloud./192.0.2.300");
	is_int(rs_registry_domain_put(reg, &badd, "tester", 1, &d), RS_ESYNTAX, "a bad glue address: %s", d.text);
	is_int(rs_store_domain_get(s, "x.cloud.", &dom), RS_ENOENT, "... nothing stored");

	char hex[65];
	memset(hex, 'A', 64), hex[64] = 0;
	rs_ds_change_t *chg = calloc(1, sizeof(*chg));
	rs_check_report_t rep;
	char t[100];
	snprintf(t, sizeof(t), "1 13 2 %s", hex);
	chg->add[chg->nadd++] = entry(t);
	snprintf(t, sizeof(t), "2 13 2 %s", hex);
	chg->add[chg->nadd++] = entry(t);
	records = 0;
	is_int(rs_registry_ds_update(reg, "a.cloud", "one", "epp:one", chg, NULL, 200, &rep, &d), RS_EOK, "two DS added");
	is_int(ds_count(s, "a.cloud."), 2, "... stored");
	is_int(records, 1, "... one audit entry");
	is_int(rs_registry_ds_update(reg, "a.cloud.", "one", "epp:one", chg, NULL, 200, &rep, &d), RS_EOK,
	       "adding the same DS again is no error");
	is_int(ds_count(s, "a.cloud."), 2, "... and adds nothing");
	is_int(rs_registry_ds_update(reg, "c.cloud.", "one", "epp:one", chg, NULL, 200, &rep, &d), RS_EDENIED,
	       "another registrar's domain: EDENIED");
	is_int(rs_registry_ds_update(reg, "n.cloud.", "one", "epp:one", chg, NULL, 200, &rep, &d), RS_ENOENT,
	       "an unknown domain: ENOENT");
	is_int(ds_count(s, "c.cloud."), 0, "... nothing changed");
	refuse_record = 1;
	is_int(rs_registry_ds_update(reg, "b.cloud.", "one", "epp:one", chg, NULL, 200, &rep, &d), RS_EIO,
	       "a change whose audit entry cannot be written fails");
	refuse_record = 0;
	is_int(ds_count(s, "b.cloud."), 0, "... and is undone");

	rs_ds_change_t *big = calloc(1, sizeof(*big));
	for (int i = 0; i < RS_STORE_DS_MAX; i++) {
		snprintf(t, sizeof(t), "%d 13 2 %s", 100 + i, hex);
		big->add[big->nadd++] = entry(t);
	}
	is_int(rs_registry_ds_update(reg, "a.cloud.", "one", "epp:one", big, NULL, 200, &rep, &d), RS_ELIMIT,
	       "more than %d DS in a delegation: ELIMIT", RS_STORE_DS_MAX);
	is_int(ds_count(s, "a.cloud."), 2, "... nothing changed");
	memset(big, 0, sizeof(*big));
	snprintf(t, sizeof(t), "9 13 2 %s", hex);
	big->rem[big->nrem++] = entry(t);
	is_int(rs_registry_ds_update(reg, "a.cloud.", "one", "epp:one", big, NULL, 200, &rep, &d), RS_EINVAL,
	       "removing a DS that is not there: EINVAL");
	memset(big, 0, sizeof(*big));
	big->set_max_sig_life = true;
	big->max_sig_life = 60;
	is_int(rs_registry_ds_update(reg, "a.cloud.", "one", "epp:one", big, NULL, 200, &rep, &d), RS_ERANGE,
	       "maxSigLife below the registry's validity: ERANGE");
	big->max_sig_life = 86400 * 30;
	is_int(rs_registry_ds_update(reg, "a.cloud.", "one", "epp:one", big, NULL, 200, &rep, &d), RS_EOK,
	       "maxSigLife of 30 days taken");
	ok(rs_store_domain_get(s, "a.cloud.", &dom) == RS_EOK && dom.max_sig_life == 86400 * 30, "... and stored");

	/* The registry zone: the template's own records, then delegations with DS at the NS TTL. */
	FILE *f = fopen("template.zone", "w");
	fputs("$ORIGIN cloud.\n$TTL 900\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
	      "old NS ns.old.net.\nold DS 1 13 2 0000000000000000000000000000000000000000000000000000000000000000\n", f);
	fclose(f);
	size_t n = 0, left_out = 0;
	char *text = built_zone(reg, "template.zone", 0, &n, &left_out);
	ok(text != NULL, "registry zone built");
	is_int(n, 3, "... three delegations of cloud. (not the one of other.)");
	ok(text != NULL && strstr(text, "a.cloud. 3600 IN DS 1 13 2 AAAA") != NULL, "... DS at the NS TTL");
	ok(text != NULL && strstr(text, "ns1.b.cloud. 3600 IN AAAA 2001:db8::2") != NULL, "... IPv6 glue");
	ok(text != NULL && strstr(text, "old.cloud.") == NULL, "... the template's own delegation is dropped");
	ok(text != NULL && strstr(text, "ns.cloud. 900 IN A 192.0.2.1") != NULL, "... the template's records stay");
	free(text);
	/* Stored data the zone cannot take leaves that delegation out, and only it. */
	text = built_zone(reg, "template.zone", 1800, &n, &left_out);
	ok(text != NULL && n == 0 && left_out == 3 && strstr(text, "a.cloud.") == NULL,
	   "NS TTLs above the largest zone TTL: every delegation left out, the zone still built");
	free(text);
	rs_domain_rec_t bad = dom;
	snprintf(bad.name, sizeof(bad.name), "zz.cloud.");
	snprintf(bad.glue, sizeof(bad.glue), "ns1.zz.cloud/not-an-address");
	snprintf(bad.ns, sizeof(bad.ns), "ns1.zz.cloud.");
	is_int(rs_store_begin(s, &d), RS_EOK, "store a damaged delegation directly");
	is_int(rs_store_domain_put(s, &bad, &d), RS_EOK, "... (as a bug or an old release could have)");
	rs_store_commit(s, &d);
	text = built_zone(reg, "template.zone", 0, &n, &left_out);
	ok(text != NULL && n == 3 && left_out == 1 && strstr(text, "zz.cloud.") == NULL && strstr(text, "a.cloud.") != NULL,
	   "a damaged delegation is left out, the others are published");
	free(text);
	rs_store_begin(s, &d);
	rs_store_domain_remove(s, "zz.cloud.", &d);
	rs_store_commit(s, &d);
	each_t e = { 0 };
	rs_store_domain_each(s, "cloud.", each, &e);
	ok(e.domains == 3 && e.ds == 2 && strcmp(e.names[0], "a.cloud.:2") == 0 && strcmp(e.names[1], "b.cloud.:0") == 0,
	   "domain_each pairs each delegation with its own DS rows");
	free(chg);
	free(big);
}

static const char *frame_login = "<?xml version=\"1.0\"?><epp xmlns=\"urn:ietf:params:xml:ns:epp-1.0\"><command>"
				 "<login><clID>one</clID><pw>secret-1</pw><options><version>1.0</version><lang>en</lang>"
				 "</options><svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI></svcs></login>"
				 "<clTRID>abc-1</clTRID></command></epp>";

static int answer(rs_epp_session_t *s, const char *frame, rs_buf_t *out, bool *close)
{
	if (rs_epp_handle(s, (const uint8_t *)frame, strlen(frame), 1795400000, out, close) != RS_EOK)
		return -1;
	rs_buf_append(out, "", 1);
	const char *c = strstr((const char *)out->data, "<result code=\"");
	return c ? atoi(c + 14) : 0;
}

static void test_epp(rs_registry_t *reg)
{
	rs_epp_t *epp;
	rs_diag_t d;
	is_int(rs_epp_new("test EPP", &epp, &d), RS_EOK, "the built-in schemas load");
	rs_epp_session_t *s;
	rs_epp_session_new(epp, reg, "", &s);
	rs_buf_t out;
	rs_buf_init(&out, 1 << 20);
	bool close;
	rs_epp_greeting(s, 1795400000, &out);
	rs_buf_append(&out, "", 1);
	ok(strstr((char *)out.data, "<extURI>urn:ietf:params:xml:ns:secDNS-1.1</extURI>") != NULL,
	   "the greeting offers secDNS-1.1");
	const char *info = "<?xml version=\"1.0\"?><epp xmlns=\"urn:ietf:params:xml:ns:epp-1.0\"><command><info>"
			   "<domain:info xmlns:domain=\"urn:ietf:params:xml:ns:domain-1.0\"><domain:name>a.cloud</domain:name>"
			   "</domain:info></info><clTRID>abc-2</clTRID></command></epp>";
	is_int(answer(s, info, &out, &close), 2002, "info before login: 2002");
	is_int(answer(s, frame_login, &out, &close), 1000, "login: 1000");
	ok(strstr((char *)out.data, "<clTRID>abc-1</clTRID>") != NULL, "... the client's transaction id is echoed");
	is_int(answer(s, info, &out, &close), 1000, "info: 1000");
	ok(strstr((char *)out.data, "<secDNS:maxSigLife>2592000</secDNS:maxSigLife>") != NULL &&
		   strstr((char *)out.data, "<secDNS:keyTag>2</secDNS:keyTag>") != NULL,
	   "... with maxSigLife and the DS records");
	ok(strstr((char *)out.data, "<domain:name>a.cloud</domain:name>") != NULL, "... the name without its final dot");
	is_int(answer(s, "<epp", &out, &close), 2001, "a truncated document: 2001");
	is_int(answer(s, "", &out, &close), 2001, "an empty frame: 2001");
	is_int(answer(s, "<?xml version=\"1.0\"?><epp xmlns=\"urn:ietf:params:xml:ns:epp-1.0\"/>", &out, &close), 2001,
	       "an empty <epp/>: 2001");
	is_int(answer(s, "<?xml version=\"1.0\"?><other/>", &out, &close), 2001, "another document: 2001");
	char *deep = malloc(200000);
	strcpy(deep, "<?xml version=\"1.0\"?><epp xmlns=\"urn:ietf:params:xml:ns:epp-1.0\"><command><info>");
	for (int i = 0; i < 5000; i++)
		strcat(deep, "<a>");
	strcat(deep, "</info></command></epp>");
	is_int(answer(s, deep, &out, &close), 2001, "5000 nested elements: 2001");
	free(deep);
	is_int(answer(s, "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY x \"x\">]><epp xmlns=\"urn:ietf:params:xml:ns:epp-1.0\">"
			 "<hello/></epp>", &out, &close), 2001, "a DTD: 2001");
	is_int(answer(s, "<?xml version=\"1.0\"?><epp xmlns=\"urn:ietf:params:xml:ns:epp-1.0\"><hello/></epp>", &out,
		      &close), 0, "hello: a greeting");
	const char *logout = "<?xml version=\"1.0\"?><epp xmlns=\"urn:ietf:params:xml:ns:epp-1.0\"><command><logout/>"
			     "</command></epp>";
	is_int(answer(s, logout, &out, &close), 1500, "logout: 1500");
	ok(close, "... and the connection is to be closed");
	rs_epp_session_free(s);
	rs_epp_session_new(epp, reg, "0000", &s);
	rs_registrar_rec_t r;
	rs_store_registrar_get(reg->store, "one", &r);
	snprintf(r.cert, sizeof(r.cert), "%064d", 1);
	rs_store_begin(reg->store, &d);
	rs_store_registrar_put(reg->store, &r, &d);
	rs_store_commit(reg->store, &d);
	is_int(answer(s, frame_login, &out, &close), 2200, "login from another certificate: 2200");
	rs_buf_clear(&out);
	rs_epp_session_free(s);
	rs_epp_free(epp);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_ds_check();
	char dir[] = "/tmp/regsign-registry.XXXXXX";
	if (mkdtemp(dir) == NULL || chdir(dir) != 0)
		return 1;
	rs_store_t *s;
	rs_diag_t d;
	if (rs_store_open("state", RS_STORE_CREATE, &s, &d) != RS_EOK) {
		printf("# %s\n", d.text);
		return 1;
	}
	rs_registry_t reg = { .store = s, .check = RS_CHECK_OFF, .dns_port = 53, .timeout_ms = 100,
			      .min_sig_life = 86400, .record = record };
	test_data(s, &reg);
	test_epp(&reg);
	rs_store_close(s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# cannot remove %s\n", dir);
	return done_testing();
}
