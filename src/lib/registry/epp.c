/*
 * EPP sessions (RFC 5730): frames in, responses out, transport elsewhere.
 * Every frame is parsed with libxml2 (no DTD, no network, no entities) and
 * validated against the built-in EPP, domain and secDNS-1.1 schemas before
 * anything in it is read, so the handlers below only see documents the
 * schemas allow. Domain commands are in epp_domain.c.
 */
#include <libxml/parserInternals.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "epp.h"
#include "internal.h"

/* Built from the files in schemas/ by tools/embed.c. */
struct rs_embedded {
	const char *name;
	const char *text;
};
extern const struct rs_embedded rs_epp_schemas[];

#define MAX_LOGIN_FAILURES 3

/* Schema imports resolve to the built-in files, and nothing else loads: no file, no network (XXE). */
static xmlParserInputPtr load_builtin(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	(void)id;
	const char *base = url != NULL ? strrchr(url, '/') : NULL;
	base = base != NULL ? base + 1 : url;
	for (size_t i = 0; base != NULL && rs_epp_schemas[i].name != NULL; i++) {
		size_t n = strlen(rs_epp_schemas[i].name);
		if (strncmp(base, rs_epp_schemas[i].name, n) == 0 && strcmp(base + n, ".xsd") == 0)
			return xmlNewStringInputStream(ctxt, (const xmlChar *)rs_epp_schemas[i].text);
	}
	return NULL;
}

static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

int rs_epp_new(const char *server_id, rs_epp_t **out, rs_diag_t *diag)
{
	xmlInitParser();
	xmlSetExternalEntityLoader(load_builtin);
	xmlSetGenericErrorFunc(NULL, quiet); /* library code is silent: errors come back as EPP results */
	rs_epp_t *epp = calloc(1, sizeof(*epp));
	if (epp == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	snprintf(epp->server_id, sizeof(epp->server_id), "%s", server_id);
	const char *entry = NULL;
	for (size_t i = 0; rs_epp_schemas[i].name != NULL; i++)
		if (strcmp(rs_epp_schemas[i].name, "regsign-epp") == 0)
			entry = rs_epp_schemas[i].text;
	xmlSchemaParserCtxtPtr pc = entry ? xmlSchemaNewMemParserCtxt(entry, (int)strlen(entry)) : NULL;
	if (pc != NULL) {
		xmlSchemaSetParserErrors(pc, quiet, quiet, NULL);
		epp->schema = xmlSchemaParse(pc);
		xmlSchemaFreeParserCtxt(pc);
	}
	if (epp->schema == NULL) {
		free(epp);
		return rs_diag(diag, RS_EINVAL, "the built-in EPP schemas do not load");
	}
	*out = epp;
	return RS_EOK;
}

void rs_epp_free(rs_epp_t *epp)
{
	if (epp == NULL)
		return;
	xmlSchemaFree(epp->schema);
	free(epp);
}

/* The first validation error, kept for the 2001 answer. */
static void schema_error(void *arg, xmlErrorPtr err)
{
	rs_epp_session_t *s = arg;
	if (s->schema_error[0] != '\0' || err == NULL)
		return;
	snprintf(s->schema_error, sizeof(s->schema_error), "line %d: %s", err->line, err->message ? err->message : "");
	s->schema_error[strcspn(s->schema_error, "\n")] = '\0';
}

int rs_epp_session_new(rs_epp_t *epp, const rs_registry_t *reg, const char *peer_cert, rs_epp_session_t **out)
{
	rs_epp_session_t *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return RS_ENOMEM;
	s->epp = epp;
	s->reg = reg;
	snprintf(s->peer_cert, sizeof(s->peer_cert), "%s", peer_cert);
	s->valid = xmlSchemaNewValidCtxt(epp->schema);
	if (s->valid == NULL) {
		free(s);
		return RS_ENOMEM;
	}
	xmlSchemaSetValidStructuredErrors(s->valid, schema_error, s);
	*out = s;
	return RS_EOK;
}

void rs_epp_session_free(rs_epp_session_t *s)
{
	if (s == NULL)
		return;
	xmlSchemaFreeValidCtxt(s->valid);
	free(s);
}

const char *rs_epp_client(const rs_epp_session_t *s)
{
	return s->logged_in ? s->client : NULL;
}

/* ---- Writing responses ---- */

void epp_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S.0Z", &tm);
}

static const char *code_text(int code)
{
	switch (code) {
	case 1000: return "Command completed successfully";
	case 1500: return "Command completed successfully; ending session";
	case 2001: return "Command syntax error";
	case 2002: return "Command use error";
	case 2004: return "Parameter value range error";
	case 2005: return "Parameter value syntax error";
	case 2101: return "Unimplemented command";
	case 2102: return "Unimplemented option";
	case 2103: return "Unimplemented extension";
	case 2200: return "Authentication error";
	case 2201: return "Authorization error";
	case 2303: return "Object does not exist";
	case 2306: return "Parameter value policy error";
	case 2307: return "Unimplemented object service";
	case 2400: return "Command failed";
	case 2500: return "Command failed; server closing connection";
	case 2501: return "Authentication error; server closing connection";
	case 2502: return "Session limit exceeded; server closing connection";
	default: return "Command failed";
	}
}

int epp_begin(epp_writer_t *w, rs_buf_t *out)
{
	w->out = out;
	w->buf = xmlBufferCreate();
	w->w = w->buf ? xmlNewTextWriterMemory(w->buf, 0) : NULL;
	if (w->w == NULL) {
		xmlBufferFree(w->buf);
		return RS_ENOMEM;
	}
	xmlTextWriterStartDocument(w->w, "1.0", "UTF-8", "no");
	xmlTextWriterStartElement(w->w, BAD_CAST "epp");
	xmlTextWriterWriteAttribute(w->w, BAD_CAST "xmlns", BAD_CAST EPP_NS);
	return RS_EOK;
}

int epp_end(epp_writer_t *w)
{
	xmlTextWriterEndDocument(w->w);
	xmlFreeTextWriter(w->w);
	w->out->len = 0;
	int ret = rs_buf_append(w->out, xmlBufferContent(w->buf), (size_t)xmlBufferLength(w->buf));
	xmlBufferFree(w->buf);
	return ret;
}

void epp_element(epp_writer_t *w, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	xmlTextWriterWriteVFormatElement(w->w, BAD_CAST name, fmt, ap);
	va_end(ap);
}

void epp_result(epp_writer_t *w, int code, const char *reason)
{
	char c[8];
	snprintf(c, sizeof(c), "%d", code);
	xmlTextWriterStartElement(w->w, BAD_CAST "response");
	xmlTextWriterStartElement(w->w, BAD_CAST "result");
	xmlTextWriterWriteAttribute(w->w, BAD_CAST "code", BAD_CAST c);
	epp_element(w, "msg", "%s", code_text(code));
	if (reason != NULL && reason[0] != '\0')
		epp_ext_value(w, "reason", "", reason);
}

void epp_ext_value(epp_writer_t *w, const char *what, const char *value, const char *reason)
{
	xmlTextWriterStartElement(w->w, BAD_CAST "extValue");
	xmlTextWriterStartElement(w->w, BAD_CAST "value");
	xmlTextWriterStartElement(w->w, BAD_CAST "regsign:detail");
	xmlTextWriterWriteAttribute(w->w, BAD_CAST "xmlns:regsign", BAD_CAST "urn:x-regsign:epp");
	xmlTextWriterWriteAttribute(w->w, BAD_CAST "about", BAD_CAST what);
	xmlTextWriterWriteString(w->w, BAD_CAST value);
	xmlTextWriterEndElement(w->w);
	xmlTextWriterEndElement(w->w);
	epp_element(w, "reason", "%s", reason);
	xmlTextWriterEndElement(w->w);
}

void epp_trid(epp_writer_t *w, const char *cltrid)
{
	static unsigned long counter;
	char sv[64];
	snprintf(sv, sizeof(sv), "RS-%lld-%lu", (long long)time(NULL), __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	xmlTextWriterEndElement(w->w); /* result, or the last of resData/extension */
	xmlTextWriterStartElement(w->w, BAD_CAST "trID");
	if (cltrid != NULL && cltrid[0] != '\0')
		epp_element(w, "clTRID", "%s", cltrid);
	epp_element(w, "svTRID", "%s", sv);
	xmlTextWriterEndElement(w->w);
	xmlTextWriterEndElement(w->w); /* response */
}

int epp_simple(int code, const char *reason, const char *cltrid, rs_buf_t *out)
{
	epp_writer_t w;
	if (epp_begin(&w, out) != RS_EOK)
		return RS_ENOMEM;
	epp_result(&w, code, reason);
	epp_trid(&w, cltrid);
	return epp_end(&w);
}

int rs_epp_error(int code, const char *text, rs_buf_t *out)
{
	return epp_simple(code, text, NULL, out);
}

int rs_epp_greeting(rs_epp_session_t *s, int64_t now, rs_buf_t *out)
{
	epp_writer_t w;
	char date[32];
	if (epp_begin(&w, out) != RS_EOK)
		return RS_ENOMEM;
	epp_time(now, date);
	xmlTextWriterStartElement(w.w, BAD_CAST "greeting");
	epp_element(&w, "svID", "%s", s->epp->server_id);
	epp_element(&w, "svDate", "%s", date);
	xmlTextWriterStartElement(w.w, BAD_CAST "svcMenu");
	epp_element(&w, "version", "1.0");
	epp_element(&w, "lang", "en");
	epp_element(&w, "objURI", DOMAIN_NS);
	xmlTextWriterStartElement(w.w, BAD_CAST "svcExtension");
	epp_element(&w, "extURI", SECDNS_NS);
	xmlTextWriterEndElement(w.w);
	xmlTextWriterEndElement(w.w);
	/* Data collection: only what provisioning needs, kept as the registry states. */
	xmlTextWriterWriteRaw(w.w, BAD_CAST "<dcp><access><all/></access><statement><purpose><admin/><prov/></purpose>"
				      "<recipient><ours/><public/></recipient><retention><stated/></retention>"
				      "</statement></dcp>");
	xmlTextWriterEndElement(w.w);
	return epp_end(&w);
}

/* ---- Reading commands ---- */

xmlNodePtr epp_child(xmlNodePtr n, const char *ns, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE && (name == NULL || xmlStrcmp(c->name, BAD_CAST name) == 0) &&
		    (ns == NULL || (c->ns != NULL && xmlStrcmp(c->ns->href, BAD_CAST ns) == 0)))
			return c;
	return NULL;
}

xmlNodePtr epp_next(xmlNodePtr n, const char *name)
{
	for (n = n->next; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE && (name == NULL || xmlStrcmp(n->name, BAD_CAST name) == 0))
			return n;
	return NULL;
}

void epp_text(xmlNodePtr n, char *out, size_t max)
{
	xmlChar *t = n ? xmlNodeGetContent(n) : NULL;
	snprintf(out, max, "%s", t ? (const char *)t : "");
	xmlFree(t);
	/* Schema types here are tokens: surrounding white space is not part of them. */
	size_t len = strlen(out), start = strspn(out, " \t\r\n");
	while (len > start && strchr(" \t\r\n", out[len - 1]) != NULL)
		len--;
	memmove(out, out + start, len - start);
	out[len - start] = '\0';
}

static int login(rs_epp_session_t *s, xmlNodePtr cmd, const char *cltrid, int64_t now, rs_buf_t *out, bool *close)
{
	if (s->logged_in)
		return epp_simple(2002, "already logged in", cltrid, out);
	char clid[64], pw[64], newpw[64], lang[16];
	epp_text(epp_child(cmd, EPP_NS, "clID"), clid, sizeof(clid));
	epp_text(epp_child(cmd, EPP_NS, "pw"), pw, sizeof(pw));
	epp_text(epp_child(cmd, EPP_NS, "newPW"), newpw, sizeof(newpw));
	epp_text(epp_child(epp_child(cmd, EPP_NS, "options"), EPP_NS, "lang"), lang, sizeof(lang));
	rs_registrar_rec_t r;
	bool ok = rs_store_registrar_get(s->reg->store, clid, &r) == RS_EOK &&
		  (r.cert[0] == '\0' || strcmp(r.cert, s->peer_cert) == 0) &&
		  crypto_pwhash_str_verify(r.pw_hash, pw, strlen(pw)) == 0;
	sodium_memzero(pw, sizeof(pw));
	if (!ok) {
		sodium_memzero(newpw, sizeof(newpw));
		char why[300], actor[80];
		snprintf(actor, sizeof(actor), "epp:%s", clid[0] ? clid : "-");
		bool out_now = ++s->failures >= MAX_LOGIN_FAILURES;
		snprintf(why, sizeof(why), "identifier, password or certificate not accepted (failure %u of %d in the "
			 "session; certificate %.64s)%s", s->failures, MAX_LOGIN_FAILURES,
			 s->peer_cert[0] ? s->peer_cert : "none", out_now ? "; session closed" : "");
		registry_refused(s->reg, now, actor, "epp-login", "", why);
		if (out_now) {
			*close = true;
			return epp_simple(2501, "too many failed logins", cltrid, out);
		}
		/* One answer for every cause: which one failed is not the client's to learn. */
		return epp_simple(2200, "client identifier, password or certificate not accepted", cltrid, out);
	}
	if (strcmp(lang, "en") != 0) {
		sodium_memzero(newpw, sizeof(newpw));
		return epp_simple(2102, "only lang en is served", cltrid, out);
	}
	xmlNodePtr svcs = epp_child(cmd, EPP_NS, "svcs");
	for (xmlNodePtr o = epp_child(svcs, EPP_NS, "objURI"); o != NULL; o = epp_next(o, "objURI")) {
		char uri[256];
		epp_text(o, uri, sizeof(uri));
		if (strcmp(uri, DOMAIN_NS) != 0) {
			sodium_memzero(newpw, sizeof(newpw));
			return epp_simple(2307, uri, cltrid, out);
		}
	}
	xmlNodePtr ext = epp_child(svcs, EPP_NS, "svcExtension");
	for (xmlNodePtr e = epp_child(ext, EPP_NS, "extURI"); e != NULL; e = epp_next(e, "extURI")) {
		char uri[256];
		epp_text(e, uri, sizeof(uri));
		if (strcmp(uri, SECDNS_NS) != 0) {
			sodium_memzero(newpw, sizeof(newpw));
			return epp_simple(2103, uri, cltrid, out);
		}
	}
	if (newpw[0] != '\0') {
		int ret = epp_set_password(s, &r, newpw, now);
		sodium_memzero(newpw, sizeof(newpw));
		if (ret != RS_EOK)
			return epp_simple(2400, "the new password cannot be stored", cltrid, out);
	}
	s->logged_in = true;
	s->failures = 0;
	snprintf(s->client, sizeof(s->client), "%s", clid);
	return epp_simple(1000, NULL, cltrid, out);
}

/* Elements of namespaces this server does not serve are answered before validation, with their own codes. */
static int unserved(xmlNodePtr command, int *code, char *what, size_t max)
{
	xmlNodePtr ext = epp_child(command, EPP_NS, "extension");
	for (xmlNodePtr e = ext ? ext->children : NULL; e != NULL; e = e->next) {
		if (e->type == XML_ELEMENT_NODE &&
		    (e->ns == NULL || xmlStrcmp(e->ns->href, BAD_CAST SECDNS_NS) != 0)) {
			*code = 2103;
			snprintf(what, max, "%s", e->ns ? (const char *)e->ns->href : "no namespace");
			return 1;
		}
	}
	xmlNodePtr verb = epp_child(command, EPP_NS, NULL);
	xmlNodePtr obj = verb != NULL && xmlStrcmp(verb->name, BAD_CAST "login") != 0 ? epp_child(verb, NULL, NULL) : NULL;
	if (obj != NULL && (obj->ns == NULL || xmlStrcmp(obj->ns->href, BAD_CAST DOMAIN_NS) != 0)) {
		*code = 2307;
		snprintf(what, max, "%s", obj->ns ? (const char *)obj->ns->href : "no namespace");
		return 1;
	}
	return 0;
}

int rs_epp_handle(rs_epp_session_t *s, const uint8_t *frame, size_t len, int64_t now, rs_buf_t *out, bool *close)
{
	*close = false;
	if (len > RS_EPP_FRAME_MAX)
		return epp_simple(2001, "frame too long", NULL, out);
	/* No DTD, no entity expansion, no network: a frame is data, never instructions to the parser. */
	xmlDocPtr doc = xmlReadMemory((const char *)frame, (int)len, "frame", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL) {
		xmlErrorPtr err = xmlGetLastError();
		char why[200];
		snprintf(why, sizeof(why), "not well-formed XML: line %d: %s", err ? err->line : 0,
			 err && err->message ? err->message : "");
		why[strcspn(why, "\n")] = '\0';
		return epp_simple(2001, why, NULL, out);
	}
	int ret;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlNodePtr command = epp_child(root, EPP_NS, "command");
	char cltrid[80] = "", what[256];
	int code;
	/* Before any text is read: a DTD could define entities that expand without bound. */
	if (doc->intSubset != NULL) {
		ret = epp_simple(2001, "a document type declaration is not accepted", NULL, out);
		goto out;
	}
	epp_text(epp_child(command, EPP_NS, "clTRID"), cltrid, sizeof(cltrid));
	if (command != NULL && unserved(command, &code, what, sizeof(what))) {
		ret = epp_simple(code, what, strlen(cltrid) <= 64 ? cltrid : NULL, out);
		goto out;
	}
	s->schema_error[0] = '\0';
	if (root == NULL || xmlSchemaValidateDoc(s->valid, doc) != 0) {
		ret = epp_simple(2001, s->schema_error[0] ? s->schema_error : "not valid EPP", NULL, out);
		goto out;
	}
	if (epp_child(root, EPP_NS, "hello") != NULL) {
		ret = rs_epp_greeting(s, now, out);
		goto out;
	}
	if (command == NULL) {
		ret = epp_simple(2001, "a client sends commands or hello", NULL, out);
		goto out;
	}
	xmlNodePtr verb = epp_child(command, EPP_NS, NULL);
	const char *name = (const char *)verb->name;
	if (strcmp(name, "login") == 0)
		ret = login(s, verb, cltrid, now, out, close);
	else if (!s->logged_in)
		ret = epp_simple(2002, "log in first", cltrid, out);
	else if (strcmp(name, "logout") == 0) {
		*close = true;
		s->logged_in = false;
		ret = epp_simple(1500, NULL, cltrid, out);
	} else if (strcmp(name, "info") == 0)
		ret = epp_domain_info(s, epp_child(verb, DOMAIN_NS, "info"), cltrid, now, out);
	else if (strcmp(name, "update") == 0)
		ret = epp_domain_update(s, epp_child(verb, DOMAIN_NS, "update"),
					epp_child(epp_child(command, EPP_NS, "extension"), SECDNS_NS, "update"), cltrid,
					now, out);
	else
		ret = epp_simple(2101, name, cltrid, out);
out:
	xmlFreeDoc(doc);
	return ret;
}

int epp_set_password(rs_epp_session_t *s, const rs_registrar_rec_t *r, const char *pw, int64_t now)
{
	rs_registrar_rec_t nr = *r;
	if (crypto_pwhash_str(nr.pw_hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return RS_ENOMEM;
	rs_diag_t diag;
	char actor[80];
	snprintf(actor, sizeof(actor), "epp:%s", r->id);
	int ret = rs_store_begin(s->reg->store, &diag);
	if (ret != RS_EOK)
		return ret;
	ret = rs_store_registrar_put(s->reg->store, &nr, &diag);
	if (ret == RS_EOK && s->reg->record != NULL)
		ret = s->reg->record(s->reg->arg, now, actor, "registrar-password", "", "ok", "password changed at login", &diag);
	return registry_finish(s->reg, ret, &diag);
}
