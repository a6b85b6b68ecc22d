/* EPP domain:info and domain:update with secDNS-1.1 (RFC 5731, RFC 5910): the DS records of a delegation. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epp.h"
#include "internal.h"
#include "regsign/dns.h"

/*
 * The delegation a command names, if it exists and the client sponsors it;
 * else the answer is written, and for a change (refused not NULL) why it was
 * refused is audited.
 */
static int find_domain(rs_epp_session_t *s, xmlNodePtr cmd, rs_domain_rec_t *d, const char *cltrid, rs_buf_t *out,
		       bool *answered, const char *refused, int64_t now)
{
	char name[300], norm[256], actor[80];
	*answered = true;
	epp_text(epp_child(cmd, DOMAIN_NS, "name"), name, sizeof(name));
	snprintf(actor, sizeof(actor), "epp:%s", s->client);
	const char *why = NULL;
	int code = 2005, got = RS_ENOENT;
	if (registry_name(name, norm, NULL) != RS_EOK)
		why = "not a domain name";
	else if ((got = rs_store_domain_get(s->reg->store, norm, d)) == RS_ENOENT)
		why = "no such domain", code = 2303;
	else if (got != RS_EOK)
		return epp_internal(s, cltrid, "cannot read the delegation from the state database", out);
	else if (strcmp(d->registrar, s->client) != 0)
		why = "the domain is sponsored by another registrar", code = 2201;
	if (why == NULL) {
		*answered = false;
		return RS_EOK;
	}
	if (refused != NULL)
		registry_refused(s->reg, now, actor, refused, code == 2005 ? "" : norm, why);
	return epp_simple(code, code == 2303 ? norm : why, cltrid, out);
}

/* A repository object identifier (RFC 5730 2.8) that stays the same for the delegation. */
static void roid(const char *name, char out[40])
{
	unsigned char h[crypto_generichash_BYTES_MIN];
	crypto_generichash(h, sizeof(h), (const unsigned char *)name, strlen(name), NULL, 0);
	char hex[17];
	sodium_bin2hex(hex, sizeof(hex), h, 8);
	snprintf(out, 40, "D%.16s-REGSIGN", hex);
}

/* EPP writes names without the root's trailing dot (RFC 5731 2.1). */
static void write_name(epp_writer_t *w, const char *element, const char *name)
{
	size_t len = strlen(name);
	epp_element(w, element, "%.*s", (int)(len > 1 && name[len - 1] == '.' ? len - 1 : len), name);
}

static void write_key(epp_writer_t *w, const uint8_t *key, size_t len)
{
	char b64[2048];
	xmlTextWriterStartElement(w->w, BAD_CAST "secDNS:keyData");
	epp_element(w, "secDNS:flags", "%u", rs_get16(key));
	epp_element(w, "secDNS:protocol", "%u", key[2]);
	epp_element(w, "secDNS:alg", "%u", key[3]);
	sodium_bin2base64(b64, sizeof(b64), key + 4, len - 4, sodium_base64_VARIANT_ORIGINAL);
	epp_element(w, "secDNS:pubKey", "%s", b64);
	xmlTextWriterEndElement(w->w);
}

int epp_domain_info(rs_epp_session_t *s, xmlNodePtr info, const char *cltrid, int64_t now, rs_buf_t *out)
{
	rs_domain_rec_t d;
	bool answered;
	int ret = find_domain(s, info, &d, cltrid, out, &answered, NULL, now);
	if (answered)
		return ret;
	rs_ds_row_t *rows = malloc(RS_STORE_DS_MAX * sizeof(*rows));
	size_t nds = 0;
	if (rows == NULL || rs_store_ds_get(s->reg->store, d.name, rows, &nds) != RS_EOK) {
		free(rows);
		return epp_internal(s, cltrid, "cannot read the DS records of the delegation", out);
	}
	epp_writer_t w;
	if (epp_begin(&w, out) != RS_EOK) {
		free(rows);
		return RS_ENOMEM;
	}
	char id[40], cr[32], up[32];
	roid(d.name, id);
	epp_time(d.added, cr);
	epp_time(d.updated, up);
	epp_result(&w, 1000, NULL);
	xmlTextWriterEndElement(w.w);
	xmlTextWriterStartElement(w.w, BAD_CAST "resData");
	xmlTextWriterStartElement(w.w, BAD_CAST "domain:infData");
	xmlTextWriterWriteAttribute(w.w, BAD_CAST "xmlns:domain", BAD_CAST DOMAIN_NS);
	write_name(&w, "domain:name", d.name);
	epp_element(&w, "domain:roid", "%s", id);
	xmlTextWriterStartElement(w.w, BAD_CAST "domain:status");
	xmlTextWriterWriteAttribute(w.w, BAD_CAST "s", BAD_CAST "ok");
	xmlTextWriterEndElement(w.w);
	/* The registry keeps glue with the delegation: host attributes (RFC 5731 1.1). */
	xmlTextWriterStartElement(w.w, BAD_CAST "domain:ns");
	char ns[sizeof(d.ns)];
	snprintf(ns, sizeof(ns), "%s", d.ns);
	for (char *save = NULL, *h = strtok_r(ns, " ", &save); h != NULL; h = strtok_r(NULL, " ", &save)) {
		xmlTextWriterStartElement(w.w, BAD_CAST "domain:hostAttr");
		write_name(&w, "domain:hostName", h);
		const char *pos = NULL;
		char addr[64];
		while (rs_glue_next(d.glue, h, &pos, addr)) {
			xmlTextWriterStartElement(w.w, BAD_CAST "domain:hostAddr");
			xmlTextWriterWriteAttribute(w.w, BAD_CAST "ip", BAD_CAST(strchr(addr, ':') ? "v6" : "v4"));
			xmlTextWriterWriteString(w.w, BAD_CAST addr);
			xmlTextWriterEndElement(w.w);
		}
		xmlTextWriterEndElement(w.w);
	}
	xmlTextWriterEndElement(w.w); /* ns */
	epp_element(&w, "domain:clID", "%s", d.registrar);
	epp_element(&w, "domain:crDate", "%s", cr);
	epp_element(&w, "domain:upDate", "%s", up);
	xmlTextWriterEndElement(w.w); /* infData */
	if (nds > 0) {
		xmlTextWriterEndElement(w.w); /* resData */
		xmlTextWriterStartElement(w.w, BAD_CAST "extension");
		xmlTextWriterStartElement(w.w, BAD_CAST "secDNS:infData");
		xmlTextWriterWriteAttribute(w.w, BAD_CAST "xmlns:secDNS", BAD_CAST SECDNS_NS);
		if (d.max_sig_life > 0)
			epp_element(&w, "secDNS:maxSigLife", "%u", d.max_sig_life);
		for (size_t i = 0; i < nds; i++) {
			rs_ds_entry_t e;
			if (rs_ds_entry_from_row(&rows[i], &e) != RS_EOK)
				continue;
			char hex[2 * RS_DS_RDATA_MAX + 1];
			sodium_bin2hex(hex, sizeof(hex), e.ds + 4, e.ds_len - 4u);
			for (char *p = hex; *p != '\0'; p++)
				*p = (char)(*p >= 'a' ? *p - 'a' + 'A' : *p);
			xmlTextWriterStartElement(w.w, BAD_CAST "secDNS:dsData");
			epp_element(&w, "secDNS:keyTag", "%u", rs_get16(e.ds));
			epp_element(&w, "secDNS:alg", "%u", e.ds[2]);
			epp_element(&w, "secDNS:digestType", "%u", e.ds[3]);
			epp_element(&w, "secDNS:digest", "%s", hex);
			if (e.key_len > 0)
				write_key(&w, e.key, e.key_len);
			xmlTextWriterEndElement(w.w);
		}
		xmlTextWriterEndElement(w.w); /* secDNS:infData */
	}
	free(rows);
	epp_trid(&w, cltrid);
	return epp_end(&w);
}

/* A keyData element into DNSKEY RDATA. */
static int read_key(xmlNodePtr kd, uint8_t *key, size_t *len)
{
	char flags[16], proto[8], alg[8], b64[4096];
	epp_text(epp_child(kd, SECDNS_NS, "flags"), flags, sizeof(flags));
	epp_text(epp_child(kd, SECDNS_NS, "protocol"), proto, sizeof(proto));
	epp_text(epp_child(kd, SECDNS_NS, "alg"), alg, sizeof(alg));
	epp_text(epp_child(kd, SECDNS_NS, "pubKey"), b64, sizeof(b64));
	unsigned long f = strtoul(flags, NULL, 10);
	rs_put16(key, (uint16_t)f);
	key[2] = (uint8_t)strtoul(proto, NULL, 10);
	key[3] = (uint8_t)strtoul(alg, NULL, 10);
	size_t n;
	if (sodium_base642bin(key + 4, RS_DNSKEY_RDATA_MAX - 4, b64, strlen(b64), " \t\r\n", &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return RS_ESYNTAX;
	*len = 4 + n;
	return RS_EOK;
}

/*
 * One dsData or keyData element into an entry. For additions (check) the DS
 * must be one the registry takes; removals only need to name a stored one.
 */
static int read_entry(xmlNodePtr el, const uint8_t *owner, bool check, rs_ds_entry_t *e, rs_diag_t *diag)
{
	memset(e, 0, sizeof(*e));
	if (xmlStrcmp(el->name, BAD_CAST "keyData") == 0) {
		uint8_t key[RS_DNSKEY_RDATA_MAX];
		size_t klen;
		if (read_key(el, key, &klen) != RS_EOK)
			return rs_diag(diag, RS_ESYNTAX, "keyData: the public key is not base64 or is too long");
		return rs_ds_entry_from_key(owner, key, klen, e, diag);
	}
	char tag[16], alg[8], dt[8], hex[512];
	epp_text(epp_child(el, SECDNS_NS, "keyTag"), tag, sizeof(tag));
	epp_text(epp_child(el, SECDNS_NS, "alg"), alg, sizeof(alg));
	epp_text(epp_child(el, SECDNS_NS, "digestType"), dt, sizeof(dt));
	epp_text(epp_child(el, SECDNS_NS, "digest"), hex, sizeof(hex));
	rs_put16(e->ds, (uint16_t)strtoul(tag, NULL, 10));
	e->ds[2] = (uint8_t)strtoul(alg, NULL, 10);
	e->ds[3] = (uint8_t)strtoul(dt, NULL, 10);
	size_t n;
	if (sodium_hex2bin(e->ds + 4, sizeof(e->ds) - 4, hex, strlen(hex), NULL, &n, NULL) != 0 || n == 0)
		return rs_diag(diag, RS_ESYNTAX, "dsData %s: the digest is too long or not hex", tag);
	e->ds_len = (uint16_t)(4 + n);
	if (!check)
		return RS_EOK;
	rs_diag_t why;
	int ret = rs_ds_check(e->ds, e->ds_len, &why);
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "dsData %s: %s", tag, why.text);
	xmlNodePtr kd = epp_child(el, SECDNS_NS, "keyData");
	if (kd != NULL) {
		size_t klen;
		if (read_key(kd, e->key, &klen) != RS_EOK)
			return rs_diag(diag, RS_ESYNTAX, "dsData %s: the public key is not base64 or is too long", tag);
		if (!rs_ds_matches(e->ds, e->ds_len, owner, e->key, klen))
			return rs_diag(diag, RS_EALG, "dsData %s: the DS does not match its keyData", tag);
		e->key_len = (uint16_t)klen;
	}
	return RS_EOK;
}

/* Entries from the dsData or keyData children of list into v; RS_ELIMIT past RS_STORE_DS_MAX. */
static int read_entries(xmlNodePtr list, const uint8_t *owner, bool check, rs_ds_entry_t *v, size_t *n,
			rs_diag_t *diag)
{
	for (xmlNodePtr c = epp_child(list, SECDNS_NS, NULL); c != NULL; c = epp_next(c, NULL)) {
		if (xmlStrcmp(c->name, BAD_CAST "dsData") != 0 && xmlStrcmp(c->name, BAD_CAST "keyData") != 0)
			continue;
		if (*n == RS_STORE_DS_MAX)
			return rs_diag(diag, RS_ELIMIT, "more than %d DS records in one command", RS_STORE_DS_MAX);
		int ret = read_entry(c, owner, check, &v[*n], diag);
		if (ret != RS_EOK)
			return ret;
		(*n)++;
	}
	return RS_EOK;
}

static int code_of(int ret)
{
	switch (ret) {
	case RS_EOK: return 1000;
	case RS_ESYNTAX: return 2005;
	case RS_ERANGE: return 2004;
	case RS_ENOENT: return 2303;
	case RS_EDENIED: return 2201;
	case RS_EALG:
	case RS_ELIMIT:
	case RS_EINVAL:
	case RS_ECHECK: return 2306;
	default: return 2400;
	}
}

static int update_answer(rs_epp_session_t *s, int ret, const char *reason, const rs_check_report_t *report,
			 const char *cltrid, rs_buf_t *out)
{
	/* The store's failures (I/O, a full disk, a busy database) are the operator's to read, not the registrar's. */
	if (ret != RS_EOK && (code_of(ret) == 2400 || epp_internal_text(reason)))
		return epp_internal(s, cltrid, reason, out);
	epp_writer_t w;
	if (epp_begin(&w, out) != RS_EOK)
		return RS_ENOMEM;
	epp_result(&w, code_of(ret), ret == RS_EOK ? NULL : reason);
	/* The registrar sees what each of the child's servers said. */
	for (size_t i = 0; report->checked && i < report->count; i++) {
		const rs_server_result_t *r = &report->servers[i];
		char text[300];
		snprintf(text, sizeof(text), "%s: %s", r->result == RS_EOK ? "ok" : "failed", r->detail);
		epp_ext_value(&w, "server", r->server, text);
	}
	epp_trid(&w, cltrid);
	return epp_end(&w);
}

/* A refused change is audited (the registry audits its own refusals once it is asked). */
static void audit_refusal(rs_epp_session_t *s, int64_t now, const char *domain, const char *why)
{
	char actor[80];
	snprintf(actor, sizeof(actor), "epp:%s", s->client);
	registry_refused(s->reg, now, actor, "ds-update", domain, why);
}

int epp_domain_update(rs_epp_session_t *s, xmlNodePtr update, xmlNodePtr secdns, const char *cltrid, int64_t now,
		      rs_buf_t *out)
{
	rs_domain_rec_t d;
	bool answered;
	int ret = find_domain(s, update, &d, cltrid, out, &answered, "ds-update", now);
	if (answered)
		return ret;
	static const char *const parts[] = { "add", "rem", "chg" };
	for (size_t i = 0; i < 3; i++)
		if (epp_child(epp_child(update, DOMAIN_NS, parts[i]), NULL, NULL) != NULL)
			return epp_simple(2102, "name servers, contacts and status change with the registry, not here; "
				       "secDNS updates are served", cltrid, out);
	if (secdns == NULL)
		return epp_simple(1000, NULL, cltrid, out);
	xmlChar *urgent = xmlGetProp(secdns, BAD_CAST "urgent");
	bool is_urgent = urgent != NULL &&
			 (xmlStrcmp(urgent, BAD_CAST "true") == 0 || xmlStrcmp(urgent, BAD_CAST "1") == 0);
	xmlFree(urgent);
	if (is_urgent)
		return epp_simple(2102, "urgent updates are not offered: changes take effect at the next signing",
				  cltrid, out);

	uint8_t owner[RS_NAME_MAX];
	rs_dname_from_str(d.name, owner);
	rs_ds_change_t *chg = calloc(1, sizeof(*chg));
	rs_check_report_t *report = calloc(1, sizeof(*report));
	rs_diag_t diag = { 0 };
	if (chg == NULL || report == NULL) {
		free(chg);
		free(report);
		return epp_internal(s, cltrid, "out of memory", out);
	}
	xmlNodePtr rem = epp_child(secdns, SECDNS_NS, "rem"), add = epp_child(secdns, SECDNS_NS, "add");
	xmlNodePtr c = epp_child(secdns, SECDNS_NS, "chg");
	char all[16];
	epp_text(epp_child(rem, SECDNS_NS, "all"), all, sizeof(all));
	chg->rem_all = strcmp(all, "true") == 0 || strcmp(all, "1") == 0;
	ret = read_entries(rem, owner, false, chg->rem, &chg->nrem, &diag);
	if (ret == RS_EOK)
		ret = read_entries(add, owner, true, chg->add, &chg->nadd, &diag);
	/* maxSigLife may come with add (RFC 5910 dsOrKeyType) or in chg. */
	xmlNodePtr holders[2] = { add, c };
	for (size_t i = 0; ret == RS_EOK && i < 2; i++) {
		xmlNodePtr life = epp_child(holders[i], SECDNS_NS, "maxSigLife");
		if (life != NULL) {
			char t[16];
			epp_text(life, t, sizeof(t));
			chg->set_max_sig_life = true;
			chg->max_sig_life = (uint32_t)strtoul(t, NULL, 10);
		}
	}
	if (ret == RS_EOK) {
		char actor[80];
		snprintf(actor, sizeof(actor), "epp:%s", s->client);
		ret = rs_registry_ds_update(s->reg, d.name, s->client, actor, chg, NULL, now, report, &diag);
	} else {
		audit_refusal(s, now, d.name, diag.text);
	}
	ret = update_answer(s, ret, diag.text, report, cltrid, out);
	free(chg);
	free(report);
	return ret;
}
