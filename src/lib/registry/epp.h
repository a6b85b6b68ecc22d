/* Private to the EPP files: the session, response writing and element reading. */
#pragma once

#include <libxml/tree.h>
#include <semaphore.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlwriter.h>

#include "regsign/registry.h"

#define EPP_NS "urn:ietf:params:xml:ns:epp-1.0"
#define DOMAIN_NS "urn:ietf:params:xml:ns:domain-1.0"
#define SECDNS_NS "urn:ietf:params:xml:ns:secDNS-1.1"

struct rs_epp {
	xmlSchemaPtr schema;
	char server_id[65];
	rs_epp_limits_t limits;
	sem_t hash_slots; /* Argon2id runs at once: its 64 MiB each is the server's memory ceiling */
	bool have_slots;
};

struct rs_epp_session {
	rs_epp_t *epp;
	const rs_registry_t *reg;
	xmlSchemaValidCtxtPtr valid;
	char peer_cert[65];
	char client[64];
	bool logged_in;
	unsigned failures; /* in this session; across sessions they are in the store */
	unsigned delay;    /* seconds to hold the last answer (rs_epp_answer_delay) */
	char addr[64];
	bool (*admit)(void *arg, const char *clid);
	void *arg;
	const rs_log_t *log;
	char schema_error[256];
};

/* A response being written; epp_begin() opens <epp>, epp_end() puts the document into out. */
typedef struct {
	xmlBufferPtr buf;
	xmlTextWriterPtr w;
	rs_buf_t *out;
} epp_writer_t;

int epp_begin(epp_writer_t *w, rs_buf_t *out);
int epp_end(epp_writer_t *w);
/* <response><result code=..><msg>..</msg>, with reason as an extValue if not NULL; leaves <result> open. */
void epp_result(epp_writer_t *w, int code, const char *reason);
/* An extValue in the open <result>: what it is about, its value, and the reason. */
void epp_ext_value(epp_writer_t *w, const char *what, const char *value, const char *reason);
/* Close the open element (result, resData or extension), write trID, close the response. */
void epp_trid(epp_writer_t *w, const char *cltrid);
void epp_element(epp_writer_t *w, const char *name, const char *fmt, ...) RS_PRINTF(3, 4);
/* A whole response of one result. */
int epp_simple(int code, const char *reason, const char *cltrid, rs_buf_t *out);
/* RFC 3339 UTC time, as EPP dates are written. */
void epp_time(int64_t t, char out[32]);

/* First element child of n in namespace ns (NULL: any) named name (NULL: any). */
xmlNodePtr epp_child(xmlNodePtr n, const char *ns, const char *name);
/* Next element sibling named name (NULL: any). */
xmlNodePtr epp_next(xmlNodePtr n, const char *name);
/* Text of n (n may be NULL), white space trimmed, into out. */
void epp_text(xmlNodePtr n, char *out, size_t max);

/*
 * A command that failed inside the server (the store, memory): the details go
 * to the operator's log with a reference, the registrar gets 2400, the
 * reference and nothing else (no path, no SQLite message).
 */
int epp_internal(rs_epp_session_t *s, const char *cltrid, const char *detail, rs_buf_t *out);
/* Does text come from the store (it names state.db)? Such text is for the operator only. */
bool epp_internal_text(const char *text);
/* crypto_pwhash_str_verify and crypto_pwhash_str, at most limits.hash_slots at once. */
bool epp_password_ok(rs_epp_t *epp, const char *hash, const char *pw);
int epp_password_hash(rs_epp_t *epp, char hash[160], const char *pw);

int epp_set_password(rs_epp_session_t *s, const rs_registrar_rec_t *r, const char *pw, int64_t now, rs_diag_t *diag);
int epp_domain_info(rs_epp_session_t *s, xmlNodePtr info, const char *cltrid, int64_t now, rs_buf_t *out);
int epp_domain_update(rs_epp_session_t *s, xmlNodePtr update, xmlNodePtr secdns, const char *cltrid, int64_t now,
		      rs_buf_t *out);
