/* One message table behind rs_strerror() and the diagnostic helper. */
#include <string.h>

#include "regsign/base.h"

const char *rs_strerror(int code)
{
	switch (code) {
	case RS_EOK: return "success";
	case RS_ESYNTAX: return "syntax error";
	case RS_EZONE: return "invalid zone content";
	case RS_EKEY: return "invalid key";
	case RS_EALG: return "unsupported algorithm";
	case RS_ECRYPTO: return "cryptographic operation failed";
	case RS_ENOKEY: return "no usable key";
	case RS_ELIMIT: return "size limit exceeded";
	case RS_EHSM: return "HSM operation failed";
	case RS_ELOCKED: return "keys are not activated";
	case RS_EDENIED: return "not authorised";
	case RS_ECHECK: return "pre-delegation check failed";
	case RS_EBOGUS: return "problems found";
	case RS_ESTALE: return "state older than its audit log";
	}
	if (code < 0 && code > RS_EBASE)
		return strerror(-code);
	return "unknown error";
}

int rs_diag(rs_diag_t *diag, int code, const char *fmt, ...)
{
	if (diag != NULL) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(diag->text, sizeof(diag->text), fmt, ap);
		va_end(ap);
	}
	return code;
}

void rs_wipe(void *ptr, size_t len)
{
	if (ptr == NULL)
		return;
	volatile uint8_t *p = ptr;
	while (len--)
		*p++ = 0;
}

void rs_log(const rs_log_t *log, int level, const char *zone, const char *fmt, ...)
{
	if (log == NULL || log->fn == NULL)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log->fn(log->arg, level, zone, msg);
}
