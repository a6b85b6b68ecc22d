/* Private to the registry module: DNS questions with ldns (dnsq.c), and the RRsets they return. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "regsign/registry.h"

#define RRSET_MAX RS_DNSQ_SET_MAX
#define RDATA_MAX RS_DNSQ_RDATA_MAX

typedef rs_dnsq_set_t rrset_t;

/*
 * Ask server ("ADDR" or "ADDR@PORT") for the qtype RRset of qname (wire),
 * without recursion; with dnssec, set DO and collect the RRSIGs covering it
 * into sigs. The answer must be authoritative and NOERROR; NODATA gives an
 * empty set. RS_EIO or RS_ESYNTAX with the reason in diag, which begins
 * "SERVER: " but for a malformed server.
 */
int dnsq_rrset(const char *server, const uint8_t *qname, uint16_t qtype, unsigned timeout_ms, rrset_t *set,
	       rrset_t *sigs, rs_diag_t *diag);

/*
 * The A and AAAA addresses of host (presentation form), asked with RD of
 * resolver ("ADDR" or "ADDR@PORT"; NULL or "": the system's, from
 * /etc/resolv.conf), waiting up to timeout_ms per try: up to max of them into
 * addrs, how many into *count. Failures say why after the host's name (which
 * they leave to the caller) and name the resolver: RS_ENOENT it answered
 * without an address (NXDOMAIN, no A or AAAA, SERVFAIL, REFUSED), RS_EIO it did
 * not answer or cannot be read from resolv.conf, RS_ESYNTAX resolver is not an
 * address, RS_EINVAL host is not a name.
 */
int dnsq_addresses(const char *resolver, const char *host, unsigned timeout_ms, char addrs[][64], size_t max,
		   size_t *count, rs_diag_t *diag);

/*
 * Check a delegation's names (directly below its zone, name servers, glue
 * only for its own in-domain servers, which must have it) and normalise
 * them in place; RS_ESYNTAX or RS_ELIMIT with the reason, naming d.
 */
int registry_check_domain(rs_domain_rec_t *d, rs_diag_t *diag);

/*
 * Check and store delegation d (names normalised in place) with its history
 * line, and its audit entry if audit, inside the caller's transaction.
 */
int registry_put_domain(const rs_registry_t *reg, rs_domain_rec_t *d, const char *actor, int64_t now, bool audit,
			rs_diag_t *diag);

/*
 * A refused or failed attempt, audited in a transaction of its own (the
 * change itself was rolled back): who tried what, and why it was refused.
 */
void registry_refused(const rs_registry_t *reg, int64_t now, const char *actor, const char *action, const char *domain,
		      const char *why);

/* End the transaction of a change: commit if ret is RS_EOK (then reg->committed), else roll back. */
int registry_finish(const rs_registry_t *reg, int ret, rs_diag_t *diag);

/* Presentation form of a name, lower case with the final dot (and its wire form into wire, if not NULL). */
int registry_name(const char *in, char out[256], uint8_t *wire);
/* Is name one of the space-separated names of list? */
bool registry_names_include(const char *list, const char *name);
