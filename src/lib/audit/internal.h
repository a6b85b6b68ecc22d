/* Private to the audit module. */
#pragma once

#include "regsign/base.h"

/*
 * Send each line of text (audit entries) to "tls:HOST:PORT" as RFC 5424
 * messages over TLS (RFC 5425), the collector verified against the CA file
 * ca. RS_EIO (unreachable, certificate refused), RS_EINVAL (no CA, a CA
 * file that cannot be read, a malformed target) with the reason in diag.
 */
int audit_tls_send(const char *target, const char *ca, const rs_buf_t *text, rs_diag_t *diag);
