/* The registry commands' shared set-up: site settings, the audit hooks, certificates. */
#pragma once

#include <openssl/x509.h>

#include "cli.h"
#include "regsign/registry.h"
#include "regsign/store.h"

#define SET_CHECK "registry.check"           /* pre-delegation check: off | warn | enforce */
#define SET_DNS_PORT "registry.dns-port"     /* port of the children's servers (53) */
#define SET_TIMEOUT "registry.timeout-ms"    /* per question to a child's server */
#define SET_RESOLVER "registry.resolver"     /* ADDR[@PORT] for name servers outside the registry, or system */

/*
 * The registry environment over store: check mode, port, timeout and
 * resolver from the settings; changes audited with the actor as operator and
 * flushed after each commit. zone (may be NULL): the registry zone, whose
 * policy's signature validity is the least maxSigLife taken.
 */
void cli_registry(rs_store_t *store, const char *zone, rs_registry_t *reg);
/* Parse off|warn|enforce; false if it is none of them. */
bool cli_check_mode(const char *text, rs_check_mode_t *out);
const char *cli_check_mode_name(rs_check_mode_t mode);
/* Print a pre-delegation check report, one line per server. */
void cli_print_report(FILE *f, const rs_check_report_t *report);

/*
 * End a command's transaction: commit if ret is RS_EOK and flush the audit
 * log, else roll back and print diag (unless ret is RS_EIO: cli_audit has
 * said why). Returns ret (RS_EOK, or the error).
 */
int cli_finish(rs_store_t *store, int ret, const rs_diag_t *diag);

/* SHA-256 (hex) of the certificate in PEM file path; prints the error. */
bool cli_cert_fingerprint(const char *path, char out[65]);
/* SHA-256 (hex) of cert (DER), the form registrars' certificates are stored in; "" and false if none. */
bool cli_x509_fingerprint(X509 *cert, char out[65]);

int cmd_registrar(int argc, char **argv);
int cmd_domain(int argc, char **argv);
int cmd_registry(int argc, char **argv);
int cmd_ds_registry(int argc, char **argv); /* ds submit | remove | check */
int cmd_cds_scan(int argc, char **argv);
int cmd_registry_zone(int argc, char **argv);
int cmd_epp(int argc, char **argv);
