/*
 * EPP sessions (RFC 5730): frames in, responses out, transport elsewhere.
 * Every frame is parsed with libxml2 (no DTD, no network, no entities) and
 * validated against the built-in EPP, domain and secDNS-1.1 schemas before
 * anything in it is read, so the handlers below only see documents the
 * schemas allow. Domain commands are in epp_domain.c.
 */
#include <libxml/parserInternals.h>
#include <inttypes.h>
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

#define MAX_LOGIN_FAILURES 3 /* in one session */
#define ADDRESS_MEMORY 86400   /* seconds an address's failed logins are remembered after its last */

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
	epp->limits = (rs_epp_limits_t){ RS_EPP_HASH_SLOTS, RS_EPP_LOCKOUT, RS_EPP_DELAY_MAX };
	if (sem_init(&epp->hash_slots, 0, RS_EPP_HASH_SLOTS) != 0) {
		free(epp);
		return rs_diag(diag, RS_ENOMEM, "cannot make the password-check semaphore");
	}
	epp->have_slots = true;
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
		sem_destroy(&epp->hash_slots);
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
	if (epp->have_slots)
		sem_destroy(&epp->hash_slots);
	free(epp);
}

int rs_epp_set_limits(rs_epp_t *epp, const rs_epp_limits_t *limits)
{
	epp->limits.hash_slots = limits->hash_slots ? limits->hash_slots : RS_EPP_HASH_SLOTS;
	epp->limits.lockout = limits->lockout ? limits->lockout : RS_EPP_LOCKOUT;
	epp->limits.delay_max = limits->delay_max ? limits->delay_max : RS_EPP_DELAY_MAX;
	if (epp->have_slots)
		sem_destroy(&epp->hash_slots);
	epp->have_slots = sem_init(&epp->hash_slots, 0, epp->limits.hash_slots) == 0;
	return epp->have_slots ? RS_EOK : RS_ENOMEM;
}

/* A waiting check holds no memory: Argon2id allocates its 64 MiB only once it has a slot. */
bool epp_password_ok(rs_epp_t *epp, const char *hash, const char *pw)
{
	while (sem_wait(&epp->hash_slots) != 0)
		;
	bool ok = crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
	sem_post(&epp->hash_slots);
	return ok;
}

int epp_password_hash(rs_epp_t *epp, char hash[160], const char *pw)
{
	while (sem_wait(&epp->hash_slots) != 0)
		;
	int ret = crypto_pwhash_str(hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
				    crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0 ? RS_EOK : RS_ENOMEM;
	sem_post(&epp->hash_slots);
	return ret;
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

void rs_epp_session_set_peer(rs_epp_session_t *s, const rs_epp_peer_t *peer)
{
	snprintf(s->addr, sizeof(s->addr), "%s", peer->addr ? peer->addr : "");
	s->admit = peer->admit;
	s->arg = peer->arg;
	s->log = peer->log;
}

unsigned rs_epp_answer_delay(const rs_epp_session_t *s)
{
	return s->delay;
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

bool epp_internal_text(const char *text)
{
	return strstr(text, "state.db") != NULL;
}

int epp_internal(rs_epp_session_t *s, const char *cltrid, const char *detail, rs_buf_t *out)
{
	/* Random, not a count: a registrar learns nothing of other sessions from it. */
	char ref[16], reason[120];
	snprintf(ref, sizeof(ref), "R-%08" PRIx32, randombytes_random());
	rs_log(s->log, RS_LOG_ERR, NULL, "%s%s%s: reference %s: %s", s->addr[0] ? s->addr : "-",
	       s->logged_in ? " for " : "", s->logged_in ? s->client : "", ref, detail);
	snprintf(reason, sizeof(reason), "command failed; the server operator has the details, reference %s", ref);
	return epp_simple(2400, reason, cltrid, out);
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

/* The hold after a registrar's or address's nth failed login: 1, 2, 4 ... s, at most delay_max. */
static unsigned failure_delay(const rs_epp_t *epp, unsigned n)
{
	unsigned d = 1;
	for (unsigned i = 1; i < n && d < epp->limits.delay_max; i++)
		d *= 2;
	return d < epp->limits.delay_max ? d : epp->limits.delay_max;
}

/* Failed logins across sessions: [0] the registrar's (if the attempt could be its), [1] the source address's. */
typedef struct {
	char who[2][100];
	unsigned failures[2];
	int64_t next[2];
} counters_t;

static int counters_read(rs_epp_session_t *s, const char *clid, bool mine, counters_t *c)
{
	memset(c, 0, sizeof(*c));
	/*
	 * Unknown identifiers get no row of their own (guessing names must not
	 * grow the table), nor do logins from another registrar's certificate
	 * (one registrar must not lock out another): their address does.
	 */
	if (mine)
		snprintf(c->who[0], sizeof(c->who[0]), RS_LOGIN_REGISTRAR "%s", clid);
	if (s->addr[0] != '\0')
		snprintf(c->who[1], sizeof(c->who[1]), RS_LOGIN_ADDRESS "%s", s->addr);
	for (int i = 0; i < 2; i++) {
		int ret = c->who[i][0] ? rs_store_login_failures_get(s->reg->store, c->who[i], &c->failures[i], &c->next[i])
				       : RS_ENOENT;
		if (ret != RS_EOK && ret != RS_ENOENT)
			return RS_EIO;
	}
	return RS_EOK;
}

/*
 * Count a checked failure (and audit it) in one transaction; the hold it earns
 * into *delay. The counts are read again under the write lock: simultaneous
 * failures of other sessions all count.
 */
static int count_failure(rs_epp_session_t *s, counters_t *c, const char *actor, int64_t now, unsigned *delay,
			 rs_diag_t *diag)
{
	int ret = rs_store_begin(s->reg->store, diag);
	unsigned n = 0;
	for (int i = 0; i < 2 && ret == RS_EOK; i++) {
		if (!c->who[i][0])
			continue;
		int got = rs_store_login_failures_get(s->reg->store, c->who[i], &c->failures[i], &c->next[i]);
		if (got != RS_EOK && got != RS_ENOENT)
			ret = rs_diag(diag, RS_EIO, "cannot read the failed logins of %s", c->who[i]);
		else if (++c->failures[i] > n)
			n = c->failures[i];
	}
	*delay = failure_delay(s->epp, n);
	char why[400], reg[80] = "", addr[120] = "";
	if (c->who[0][0])
		snprintf(reg, sizeof(reg), "; %u of %u before the registrar is locked", c->failures[0],
			 s->epp->limits.lockout);
	if (c->who[1][0])
		snprintf(addr, sizeof(addr), "; %u from %s", c->failures[1], s->addr);
	snprintf(why, sizeof(why), "identifier, password or certificate not accepted (failure %u of %d in the "
		 "session; certificate %.64s%s%s; next answer held %u s)%s", s->failures, MAX_LOGIN_FAILURES,
		 s->peer_cert[0] ? s->peer_cert : "none", reg, addr, *delay,
		 c->who[0][0] && c->failures[0] >= s->epp->limits.lockout ? "; registrar locked" :
		 s->failures >= MAX_LOGIN_FAILURES ? "; session closed" : "");
	for (int i = 0; i < 2 && ret == RS_EOK; i++)
		if (c->who[i][0])
			ret = rs_store_login_failures_put(s->reg->store, c->who[i], c->failures[i], now + *delay, diag);
	/* An address quiet for a day starts again: many sources must not grow the table for ever. */
	if (ret == RS_EOK)
		ret = rs_store_login_failures_expire(s->reg->store, RS_LOGIN_ADDRESS, now - ADDRESS_MEMORY, diag);
	if (ret == RS_EOK && s->reg->record != NULL)
		ret = s->reg->record(s->reg->arg, now, actor, "epp-login", "", "refused", why, diag);
	return registry_finish(s->reg, ret, diag);
}

static int reset_failures(rs_epp_session_t *s, const counters_t *c, rs_diag_t *diag)
{
	if (c->failures[0] == 0 && c->failures[1] == 0 && c->next[0] == 0 && c->next[1] == 0)
		return RS_EOK;
	int ret = rs_store_begin(s->reg->store, diag);
	for (int i = 0; i < 2 && ret == RS_EOK; i++)
		if (c->who[i][0])
			ret = rs_store_login_failures_clear(s->reg->store, c->who[i], diag);
	return registry_finish(s->reg, ret, diag);
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
	rs_diag_t diag;
	counters_t c;
	char actor[80];
	snprintf(actor, sizeof(actor), "epp:%s", clid[0] ? clid : "-");
	int got = rs_store_registrar_get(s->reg->store, clid, &r);
	/* Only with the registrar's own certificate is its password checked, so only then can it be guessed. */
	bool mine = got == RS_EOK && (r.cert[0] == '\0' || strcmp(r.cert, s->peer_cert) == 0);
	/* What cannot be read or counted is refused: a full disk must not switch the brakes off. */
	if ((got != RS_EOK && got != RS_ENOENT) || counters_read(s, clid, mine, &c) != RS_EOK) {
		sodium_memzero(pw, sizeof(pw));
		sodium_memzero(newpw, sizeof(newpw));
		return epp_internal(s, cltrid, "login: cannot read the registrar or its failed logins", out);
	}
	if (mine && c.failures[0] >= s->epp->limits.lockout) {
		sodium_memzero(pw, sizeof(pw));
		sodium_memzero(newpw, sizeof(newpw));
		char why[300];
		snprintf(why, sizeof(why), "registrar locked after %u failed logins (regsign registrar unlock %s); "
			 "certificate %.64s", c.failures[0], clid, s->peer_cert[0] ? s->peer_cert : "none");
		registry_refused(s->reg, now, actor, "epp-login", "", why);
		*close = true;
		return epp_simple(2501, "login not accepted; the registry operator can help", cltrid, out);
	}
	/* Another session's failure is still held: no check now, and this answer waits as long. */
	int64_t next = c.next[0] > c.next[1] ? c.next[0] : c.next[1];
	bool checked = next <= now;
	bool ok = checked && mine && epp_password_ok(s->epp, r.pw_hash, pw);
	sodium_memzero(pw, sizeof(pw));
	if (!ok) {
		sodium_memzero(newpw, sizeof(newpw));
		bool out_now = ++s->failures >= MAX_LOGIN_FAILURES;
		if (!checked) {
			int64_t wait = next - now;
			s->delay = wait < s->epp->limits.delay_max ? (unsigned)wait : s->epp->limits.delay_max;
			rs_log(s->log, RS_LOG_NOTICE, NULL, "%s: login as %s not checked: a failed login is held %u s",
			       s->addr[0] ? s->addr : "-", clid[0] ? clid : "-", s->delay);
		} else if (count_failure(s, &c, actor, now, &s->delay, &diag) != RS_EOK) {
			*close = out_now;
			return epp_internal(s, cltrid, diag.text, out);
		} else if (mine && c.failures[0] >= s->epp->limits.lockout) {
			*close = true;
			return epp_simple(2501, "login not accepted; the registry operator can help", cltrid, out);
		}
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
	if (reset_failures(s, &c, &diag) != RS_EOK) {
		sodium_memzero(newpw, sizeof(newpw));
		return epp_internal(s, cltrid, diag.text, out);
	}
	if (s->admit != NULL && !s->admit(s->arg, clid)) {
		sodium_memzero(newpw, sizeof(newpw));
		*close = true;
		return epp_simple(2502, "too many sessions of this registrar", cltrid, out);
	}
	if (newpw[0] != '\0') {
		int ret = epp_set_password(s, &r, newpw, now, &diag);
		sodium_memzero(newpw, sizeof(newpw));
		if (ret != RS_EOK)
			return epp_internal(s, cltrid, diag.text, out);
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
	s->delay = 0;
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
	/* Without its state the server still speaks EPP: the registrar learns it is the server, not the link. */
	if (s->reg == NULL && strcmp(name, "logout") == 0) {
		*close = true;
		ret = epp_simple(1500, NULL, cltrid, out);
	} else if (s->reg == NULL)
		ret = epp_internal(s, cltrid, "the state database cannot be opened", out);
	else if (strcmp(name, "login") == 0)
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

int epp_set_password(rs_epp_session_t *s, const rs_registrar_rec_t *r, const char *pw, int64_t now, rs_diag_t *diag)
{
	rs_registrar_rec_t nr = *r;
	if (epp_password_hash(s->epp, nr.pw_hash, pw) != RS_EOK)
		return rs_diag(diag, RS_ENOMEM, "cannot hash the new password: out of memory");
	char actor[80];
	snprintf(actor, sizeof(actor), "epp:%s", r->id);
	int ret = rs_store_begin(s->reg->store, diag);
	if (ret != RS_EOK)
		return ret;
	ret = rs_store_registrar_put(s->reg->store, &nr, diag);
	if (ret == RS_EOK && s->reg->record != NULL)
		ret = s->reg->record(s->reg->arg, now, actor, "registrar-password", "", "ok", "password changed at login", diag);
	return registry_finish(s->reg, ret, diag);
}
