/*
 * Keys in a PKCS#11 token. The module is loaded unmanaged through p11-kit and
 * initialised with CKF_OS_LOCKING_OK, so the signer's threads each open their
 * own session and sign concurrently. RSA signs with CKM_SHA*_RSA_PKCS (PKCS#1
 * v1.5, RFC 5702), ECDSA with CKM_ECDSA over a digest made here (its r || s
 * output is already RFC 6605's form), EdDSA with CKM_EDDSA (RFC 8080).
 * p11-kit 0.24's RPC (the activation agent's transport) drops CKM_EDDSA and
 * CKM_EC_EDWARDS_KEY_PAIR_GEN (p11-kit issues 668, 776): a token that lists
 * neither but lists ECDSA gets them under the EC names, which the agent maps
 * back for Edwards keys (serve.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <sodium.h>

#include "regsign/dns.h"
#include "regsign/hsm.h"
#include "internal.h"

#define ID_LEN 16
#define BACKUP_LABEL "regsign backup key"

/* A module is initialised once per process, however many tokens of it are open. */
static struct {
	pthread_mutex_t lock;
	char path[4096];
	CK_FUNCTION_LIST *f;
	unsigned refs;
} module = { PTHREAD_MUTEX_INITIALIZER, "", NULL, 0 };

struct rs_hsm {
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID slot;
	bool edwards_as_ec; /* EdDSA under the EC mechanisms' names (see above) */
	CK_SESSION_HANDLE session;
	unsigned refs; /* the handle itself, and each key made from it */
};

/* The private half of a token key, as the signer sees it. */
typedef struct {
	rs_hsm_t *hsm;
	uint8_t id[ID_LEN];
	int alg;
} token_key_t;

typedef struct {
	token_key_t *key;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE priv;
} token_session_t;

/* PKCS#11 takes attribute values by non-const pointer; these are never written. */
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static const char *rv_text(CK_RV rv)
{
	switch (rv) {
	case CKR_PIN_INCORRECT: return "wrong PIN";
	case CKR_PIN_LOCKED: return "PIN locked";
	case CKR_USER_NOT_LOGGED_IN: return "not logged in";
	case CKR_TOKEN_NOT_PRESENT: return "token not present";
	case CKR_DEVICE_ERROR: return "device error";
	case CKR_DEVICE_MEMORY: return "token memory full";
	case CKR_MECHANISM_INVALID: return "mechanism not supported by the token";
	case CKR_KEY_NOT_WRAPPABLE: return "key not wrappable";
	case CKR_KEY_UNEXTRACTABLE: return "key not extractable";
	case CKR_WRAPPED_KEY_INVALID: return "wrapped key invalid";
	case CKR_UNWRAPPING_KEY_HANDLE_INVALID: return "no backup key in the token";
	case CKR_ATTRIBUTE_VALUE_INVALID: return "attribute value refused";
	case CKR_TEMPLATE_INCONSISTENT: return "template inconsistent";
	case CKR_ARGUMENTS_BAD: return "bad arguments";
	case CKR_FUNCTION_FAILED: return "function failed";
	case CKR_ACTION_PROHIBITED: return "refused by the activation agent: key changes need an admin activation";
	case CKR_FUNCTION_NOT_SUPPORTED: return "not offered by the activation agent or the module";
	case CKR_DEVICE_REMOVED: return "the activation agent ended (regsign activate again)";
	}
	return "error";
}

static int hsm_err(rs_diag_t *diag, CK_RV rv, const char *what)
{
	rs_diag(diag, RS_EHSM, "pkcs11: %s: %s (0x%lx)", what, rv_text(rv), (unsigned long)rv);
	return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ? RS_EDENIED : RS_EHSM;
}

static int module_get(const char *path, CK_FUNCTION_LIST **out, rs_diag_t *diag)
{
	int ret = RS_EOK;
	pthread_mutex_lock(&module.lock);
	if (module.f != NULL && strcmp(module.path, path) != 0) {
		ret = rs_diag(diag, RS_EINVAL, "pkcs11: module '%s' is loaded; one module per process", module.path);
	} else if (module.f == NULL) {
		CK_FUNCTION_LIST *f = p11_kit_module_load(path, P11_KIT_MODULE_UNMANAGED);
		if (f == NULL) {
			ret = rs_diag(diag, RS_EHSM, "pkcs11: cannot load module '%s': %s", path, p11_kit_message());
		} else {
			CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
			CK_RV rv = f->C_Initialize(&args);
			if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
				p11_kit_module_release(f);
				ret = hsm_err(diag, rv, "C_Initialize");
			} else {
				module.f = f;
				snprintf(module.path, sizeof(module.path), "%s", path);
			}
		}
	}
	if (ret == RS_EOK) {
		module.refs++;
		*out = module.f;
	}
	pthread_mutex_unlock(&module.lock);
	return ret;
}

static void module_put(void)
{
	pthread_mutex_lock(&module.lock);
	if (module.refs > 0 && --module.refs == 0) {
		module.f->C_Finalize(NULL);
		p11_kit_module_release(module.f);
		module.f = NULL;
	}
	pthread_mutex_unlock(&module.lock);
}

/* A token label as PKCS#11 keeps it: 32 octets padded with spaces. */
static void pad_label(const char *label, CK_UTF8CHAR out[32])
{
	size_t n = strlen(label);
	memset(out, ' ', 32);
	memcpy(out, label, n < 32 ? n : 32);
}

/* Slot of the first token whose label is label, or (label NULL) that is not initialised. */
static int find_slot(CK_FUNCTION_LIST *f, const char *label, CK_SLOT_ID *out, rs_diag_t *diag)
{
	CK_ULONG n = 0;
	CK_RV rv = f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv != CKR_OK)
		return hsm_err(diag, rv, "C_GetSlotList");
	CK_SLOT_ID *slots = calloc(n + 1, sizeof(*slots));
	if (slots == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	if ((rv = f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) {
		free(slots);
		return hsm_err(diag, rv, "C_GetSlotList");
	}
	CK_UTF8CHAR want[32];
	if (label != NULL)
		pad_label(label, want);
	int ret = RS_ENOENT;
	for (CK_ULONG i = 0; i < n && ret == RS_ENOENT; i++) {
		CK_TOKEN_INFO info;
		if (f->C_GetTokenInfo(slots[i], &info) != CKR_OK)
			continue;
		bool ready = info.flags & CKF_TOKEN_INITIALIZED;
		if (label != NULL ? ready && memcmp(info.label, want, 32) == 0 : !ready) {
			*out = slots[i];
			ret = RS_EOK;
		}
	}
	free(slots);
	if (ret == RS_ENOENT && label != NULL)
		rs_diag(diag, ret, "pkcs11: no token labelled '%s'", label);
	else if (ret == RS_ENOENT)
		rs_diag(diag, ret, "pkcs11: no free token to initialise");
	return ret;
}

int rs_hsm_init_token(const char *path, const char *label, const char *so_pin, const char *pin,
		      rs_diag_t *diag)
{
	CK_FUNCTION_LIST *f;
	int ret = module_get(path, &f, diag);
	if (ret != RS_EOK)
		return ret;
	CK_SLOT_ID slot;
	if ((ret = find_slot(f, label, &slot, NULL)) == RS_EOK) {
		module_put();
		return rs_diag(diag, RS_EINVAL, "pkcs11: a token labelled '%s' exists already", label);
	}
	CK_UTF8CHAR lab[32];
	pad_label(label, lab);
	CK_SESSION_HANDLE s;
	CK_RV rv;
	if ((ret = find_slot(f, NULL, &slot, diag)) != RS_EOK)
		goto out;
	if ((rv = f->C_InitToken(slot, (CK_UTF8CHAR *)so_pin, strlen(so_pin), lab)) != CKR_OK) {
		ret = hsm_err(diag, rv, "C_InitToken");
		goto out;
	}
	/* Some modules (SoftHSM2) move an initialised token to a new slot. */
	if ((ret = find_slot(f, label, &slot, diag)) != RS_EOK)
		goto out;
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK) {
		ret = hsm_err(diag, rv, "C_OpenSession");
		goto out;
	}
	if ((rv = f->C_Login(s, CKU_SO, (CK_UTF8CHAR *)so_pin, strlen(so_pin))) != CKR_OK)
		ret = hsm_err(diag, rv, "C_Login (security officer)");
	else if ((rv = f->C_InitPIN(s, (CK_UTF8CHAR *)pin, strlen(pin))) != CKR_OK)
		ret = hsm_err(diag, rv, "C_InitPIN");
	f->C_Logout(s);
	f->C_CloseSession(s);
out:
	module_put();
	return ret;
}

int rs_hsm_open(const char *path, const char *label, rs_hsm_t **out, rs_diag_t *diag)
{
	rs_hsm_t *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	int ret = module_get(path, &h->f, diag);
	if (ret != RS_EOK) {
		free(h);
		return ret;
	}
	CK_RV rv;
	if ((ret = find_slot(h->f, label, &h->slot, diag)) == RS_EOK &&
	    (rv = h->f->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h->session)) !=
		    CKR_OK)
		ret = hsm_err(diag, rv, "C_OpenSession");
	if (ret != RS_EOK) {
		module_put();
		free(h);
		return ret;
	}
	CK_MECHANISM_INFO info;
	h->edwards_as_ec = h->f->C_GetMechanismInfo(h->slot, CKM_EDDSA, &info) != CKR_OK &&
			   h->f->C_GetMechanismInfo(h->slot, CKM_EC_EDWARDS_KEY_PAIR_GEN, &info) != CKR_OK &&
			   h->f->C_GetMechanismInfo(h->slot, CKM_ECDSA, &info) == CKR_OK;
	h->refs = 1;
	*out = h;
	return RS_EOK;
}

int rs_hsm_login(rs_hsm_t *h, const char *pin, rs_diag_t *diag)
{
	CK_RV rv = h->f->C_Login(h->session, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
	return rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN ? RS_EOK : hsm_err(diag, rv, "C_Login");
}

int rs_hsm_check_so(rs_hsm_t *h, const char *so_pin, rs_diag_t *diag)
{
	CK_RV rv = h->f->C_Login(h->session, CKU_SO, (CK_UTF8CHAR *)so_pin, strlen(so_pin));
	if (rv != CKR_OK)
		return hsm_err(diag, rv, "C_Login (security officer)");
	h->f->C_Logout(h->session);
	return RS_EOK;
}

static void hsm_unref(rs_hsm_t *h)
{
	if (h == NULL || --h->refs > 0)
		return;
	h->f->C_CloseSession(h->session);
	free(h);
	module_put();
}

void rs_hsm_close(rs_hsm_t *h)
{
	hsm_unref(h);
}

CK_FUNCTION_LIST *hsm_functions(rs_hsm_t *h, CK_SLOT_ID *slot)
{
	*slot = h->slot;
	return h->f;
}

/* ---- locators ---- */

static void locator_make(const uint8_t id[ID_LEN], char *out);

void rs_hsm_new_locator(char *locator)
{
	uint8_t id[ID_LEN];
	randombytes_buf(id, sizeof(id));
	locator_make(id, locator);
}

static void locator_make(const uint8_t id[ID_LEN], char *out)
{
	int n = snprintf(out, RS_LOCATOR_MAX, "pkcs11:id=");
	for (size_t i = 0; i < ID_LEN; i++)
		n += snprintf(out + n, RS_LOCATOR_MAX - (size_t)n, "%%%02x", id[i]);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int locator_parse(const char *locator, uint8_t id[ID_LEN], rs_diag_t *diag)
{
	const char *p = locator;
	if (strncmp(p, "pkcs11:id=", 10) != 0 || strlen(p) != 10 + 3 * ID_LEN)
		return rs_diag(diag, RS_EINVAL, "pkcs11: '%s' is not a key locator (pkcs11:id=%%..)", locator);
	for (size_t i = 0, at = 10; i < ID_LEN; i++, at += 3) {
		int hi = hexval(p[at + 1]), lo = hexval(p[at + 2]);
		if (p[at] != '%' || hi < 0 || lo < 0)
			return rs_diag(diag, RS_EINVAL, "pkcs11: '%s' is not a key locator", locator);
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	return RS_EOK;
}

/* Objects of class cls (or any class when cls is -1) with CKA_ID id; *n in: room, out: found. */
static CK_RV find_objects(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, long cls, const uint8_t *id, size_t id_len,
			  CK_OBJECT_HANDLE *objs, CK_ULONG *n)
{
	CK_OBJECT_CLASS c = (CK_OBJECT_CLASS)cls;
	CK_ATTRIBUTE t[2];
	CK_ULONG nt = 0;
	if (id != NULL)
		t[nt++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, id_len };
	if (cls >= 0)
		t[nt++] = (CK_ATTRIBUTE){ CKA_CLASS, &c, sizeof(c) };
	CK_RV rv = f->C_FindObjectsInit(s, t, nt);
	if (rv != CKR_OK)
		return rv;
	CK_ULONG room = *n;
	rv = f->C_FindObjects(s, objs, room, n);
	f->C_FindObjectsFinal(s);
	return rv;
}

static int find_one(rs_hsm_t *h, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const uint8_t id[ID_LEN],
		    CK_OBJECT_HANDLE *out, rs_diag_t *diag)
{
	CK_ULONG n = 1;
	CK_RV rv = find_objects(h->f, s, (long)cls, id, ID_LEN, out, &n);
	if (rv != CKR_OK)
		return hsm_err(diag, rv, "C_FindObjects");
	return n == 1 ? RS_EOK : rs_diag(diag, RS_ENOENT, "pkcs11: the token has no such key");
}

/* ---- public keys: token attributes <-> DNSKEY RDATA ---- */

/* DER OIDs of the curves (RFC 5480, RFC 8410). */
static const uint8_t OID_P256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t OID_P384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t OID_ED25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const uint8_t OID_ED448[] = { 0x06, 0x03, 0x2b, 0x65, 0x71 };

static bool curve_of(int alg, const uint8_t **oid, size_t *len, CK_KEY_TYPE *type)
{
	*type = CKK_EC;
	switch (alg) {
	case RS_ALG_ECDSAP256SHA256: *oid = OID_P256; *len = sizeof(OID_P256); return true;
	case RS_ALG_ECDSAP384SHA384: *oid = OID_P384; *len = sizeof(OID_P384); return true;
	case RS_ALG_ED25519: *oid = OID_ED25519; *len = sizeof(OID_ED25519); break;
	case RS_ALG_ED448: *oid = OID_ED448; *len = sizeof(OID_ED448); break;
	default: return false;
	}
	*type = CKK_EC_EDWARDS;
	return true;
}

static bool is_rsa(int alg)
{
	return alg == RS_ALG_RSASHA1 || alg == RS_ALG_RSASHA1_NSEC3_SHA1 || alg == RS_ALG_RSASHA256 ||
	       alg == RS_ALG_RSASHA512;
}

/* The value of one attribute, malloc'd. */
static int get_attr(rs_hsm_t *h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type, uint8_t **out, size_t *len,
		    rs_diag_t *diag)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv = h->f->C_GetAttributeValue(h->session, obj, &a, 1);
	if (rv == CKR_OK && a.ulValueLen != CK_UNAVAILABLE_INFORMATION) {
		if ((a.pValue = malloc(a.ulValueLen + 1)) == NULL)
			return rs_diag(diag, RS_ENOMEM, "out of memory");
		rv = h->f->C_GetAttributeValue(h->session, obj, &a, 1);
	}
	if (rv != CKR_OK) {
		free(a.pValue);
		return hsm_err(diag, rv, "C_GetAttributeValue");
	}
	*out = a.pValue;
	*len = a.ulValueLen;
	return RS_EOK;
}

/* Content of a DER OCTET STRING (how CKA_EC_POINT holds a point). */
static bool der_octets(const uint8_t *der, size_t len, const uint8_t **val, size_t *vlen)
{
	if (len < 2 || der[0] != 0x04)
		return false;
	size_t n = der[1], hdr = 2;
	if (n == 0x81 && len >= 3) {
		n = der[2];
		hdr = 3;
	}
	if (hdr + n != len)
		return false;
	*val = der + hdr;
	*vlen = n;
	return true;
}

/* DNSKEY RDATA of the public key object pub. */
static int public_rdata(rs_hsm_t *h, CK_OBJECT_HANDLE pub, int alg, bool ksk, rs_buf_t *out, rs_diag_t *diag)
{
	uint8_t head[4] = { 0x01, ksk ? 0x01 : 0x00, 3, (uint8_t)alg };
	int ret = rs_buf_append(out, head, 4);
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	if (ret == RS_EOK && is_rsa(alg)) {
		/* RFC 3110 2: exponent length, exponent, modulus, without leading zeros. */
		if ((ret = get_attr(h, pub, CKA_PUBLIC_EXPONENT, &a, &alen, diag)) == RS_EOK &&
		    (ret = get_attr(h, pub, CKA_MODULUS, &b, &blen, diag)) == RS_EOK) {
			size_t ea = 0, mb = 0;
			while (ea < alen && a[ea] == 0)
				ea++;
			while (mb < blen && b[mb] == 0)
				mb++;
			uint8_t el[3] = { 0, (uint8_t)((alen - ea) >> 8), (uint8_t)(alen - ea) };
			if (alen - ea < 256)
				ret = rs_buf_append(out, el + 2, 1);
			else
				ret = rs_buf_append(out, el, 3);
			if (ret == RS_EOK)
				ret = rs_buf_append(out, a + ea, alen - ea);
			if (ret == RS_EOK)
				ret = rs_buf_append(out, b + mb, blen - mb);
		}
	} else if (ret == RS_EOK) {
		const uint8_t *pt;
		size_t ptlen;
		if ((ret = get_attr(h, pub, CKA_EC_POINT, &a, &alen, diag)) == RS_EOK) {
			if (!der_octets(a, alen, &pt, &ptlen))
				ret = rs_diag(diag, RS_EKEY, "pkcs11: malformed CKA_EC_POINT");
			else if (alg == RS_ALG_ECDSAP256SHA256 || alg == RS_ALG_ECDSAP384SHA384)
				/* RFC 6605 4: X || Y, without the uncompressed-point octet. */
				ret = ptlen > 1 && pt[0] == 0x04 ? rs_buf_append(out, pt + 1, ptlen - 1)
								 : rs_diag(diag, RS_EKEY, "pkcs11: compressed EC point");
			else
				ret = rs_buf_append(out, pt, ptlen);
		}
	}
	free(a);
	free(b);
	return ret;
}

/* ---- signing through the token ---- */

static int session_open(void *ctx, void **out)
{
	token_key_t *k = ctx;
	token_session_t *ts = calloc(1, sizeof(*ts));
	if (ts == NULL)
		return RS_ENOMEM;
	ts->key = k;
	CK_FUNCTION_LIST *f = k->hsm->f;
	if (f->C_OpenSession(k->hsm->slot, CKF_SERIAL_SESSION, NULL, NULL, &ts->session) != CKR_OK) {
		free(ts);
		return RS_EHSM;
	}
	CK_OBJECT_HANDLE stored;
	if (find_one(k->hsm, ts->session, CKO_PRIVATE_KEY, k->id, &stored, NULL) != RS_EOK) {
		f->C_CloseSession(ts->session);
		free(ts);
		return RS_ELOCKED; /* private objects are visible only when logged in */
	}
	/*
	 * Sign with a session copy of the key, made inside the token: it stays as
	 * sensitive as the original and dies with the session, and SoftHSM2 does
	 * not go back to its object files for it before every signature (that
	 * measured 4-14 times slower). A token that refuses the copy signs with
	 * the stored object.
	 */
	CK_ATTRIBUTE t = { CKA_TOKEN, &no, sizeof(no) };
	if (f->C_CopyObject(ts->session, stored, &t, 1, &ts->priv) != CKR_OK)
		ts->priv = stored;
	*out = ts;
	return RS_EOK;
}

static int session_sign(void *handle, const uint8_t *data, size_t len, uint8_t *sig, size_t *sig_len)
{
	token_session_t *ts = handle;
	CK_FUNCTION_LIST *f = ts->key->hsm->f;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	uint8_t md[64];
	const uint8_t *in = data;
	size_t inlen = len;
	switch (ts->key->alg) {
	case RS_ALG_RSASHA1: case RS_ALG_RSASHA1_NSEC3_SHA1: mech.mechanism = CKM_SHA1_RSA_PKCS; break;
	case RS_ALG_RSASHA256: mech.mechanism = CKM_SHA256_RSA_PKCS; break;
	case RS_ALG_RSASHA512: mech.mechanism = CKM_SHA512_RSA_PKCS; break;
	case RS_ALG_ECDSAP256SHA256: SHA256(data, len, md); in = md; inlen = 32; break;
	case RS_ALG_ECDSAP384SHA384: SHA384(data, len, md); in = md; inlen = 48; break;
	case RS_ALG_ED25519: case RS_ALG_ED448:
		mech.mechanism = ts->key->hsm->edwards_as_ec ? CKM_ECDSA : CKM_EDDSA;
		break;
	default: return RS_EALG;
	}
	CK_ULONG n = RS_SIG_MAX;
	if (f->C_SignInit(ts->session, &mech, ts->priv) != CKR_OK ||
	    f->C_Sign(ts->session, (CK_BYTE *)in, inlen, sig, &n) != CKR_OK)
		return RS_EHSM;
	*sig_len = n;
	return RS_EOK;
}

static void session_close(void *handle)
{
	token_session_t *ts = handle;
	ts->key->hsm->f->C_CloseSession(ts->session);
	free(ts);
}

static void token_key_release(void *ctx)
{
	token_key_t *k = ctx;
	hsm_unref(k->hsm);
	free(k);
}

static const rs_key_ops_t TOKEN_OPS = { session_open, session_sign, session_close, token_key_release };

/* The key whose public object is pub, signing through the token. */
static int key_from_token(rs_hsm_t *h, CK_OBJECT_HANDLE pub, const uint8_t id[ID_LEN], const uint8_t *origin,
			  int alg, bool ksk, rs_key_t **out, rs_diag_t *diag)
{
	rs_buf_t rdata;
	rs_buf_init(&rdata, 4096);
	int ret = public_rdata(h, pub, alg, ksk, &rdata, diag);
	rs_key_t *key = NULL;
	if (ret == RS_EOK && (ret = rs_key_from_dnskey(origin, rdata.data, rdata.len, &key)) != RS_EOK)
		rs_diag(diag, ret, "pkcs11: the token's public key is not usable: %s", rs_strerror(ret));
	rs_buf_clear(&rdata);
	token_key_t *k = ret == RS_EOK ? calloc(1, sizeof(*k)) : NULL;
	if (ret == RS_EOK && k == NULL)
		ret = rs_diag(diag, RS_ENOMEM, "out of memory");
	if (ret != RS_EOK) {
		rs_key_free(key);
		return ret;
	}
	k->hsm = h;
	h->refs++;
	memcpy(k->id, id, ID_LEN);
	k->alg = alg;
	rs_key_set_external(key, &TOKEN_OPS, k);
	*out = key;
	return RS_EOK;
}

int rs_hsm_key(rs_hsm_t *h, const char *locator, const uint8_t *origin, int alg, bool ksk, rs_key_t **out,
	       rs_diag_t *diag)
{
	uint8_t id[ID_LEN];
	CK_OBJECT_HANDLE pub;
	int ret = locator_parse(locator, id, diag);
	if (ret == RS_EOK)
		ret = find_one(h, h->session, CKO_PUBLIC_KEY, id, &pub, diag);
	if (ret == RS_EOK)
		ret = key_from_token(h, pub, id, origin, alg, ksk, out, diag);
	return ret;
}

/* What every public half regsign keeps is: a token object anyone may see, that only verifies. */
static CK_ULONG public_attrs(CK_ATTRIBUTE *t, uint8_t id[ID_LEN], const char *label)
{
	CK_ULONG n = 0;
	t[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &no, sizeof(no) };
	t[n++] = (CK_ATTRIBUTE){ CKA_VERIFY, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_ENCRYPT, &no, sizeof(no) };
	t[n++] = (CK_ATTRIBUTE){ CKA_WRAP, &no, sizeof(no) };
	t[n++] = (CK_ATTRIBUTE){ CKA_ID, id, ID_LEN };
	t[n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	return n;
}

/*
 * What every private half regsign keeps is, made or restored: sensitive (never
 * readable in clear), extractable only wrapped by a trusted key (the backup
 * key), signing only.
 */
static CK_ULONG private_attrs(CK_ATTRIBUTE *t, uint8_t id[ID_LEN], const char *label)
{
	CK_ULONG n = 0;
	t[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_WRAP_WITH_TRUSTED, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_SIGN, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_DECRYPT, &no, sizeof(no) };
	t[n++] = (CK_ATTRIBUTE){ CKA_UNWRAP, &no, sizeof(no) };
	t[n++] = (CK_ATTRIBUTE){ CKA_ID, id, ID_LEN };
	t[n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	return n;
}

int rs_hsm_generate(rs_hsm_t *h, const uint8_t *origin, int alg, unsigned bits, bool ksk, const char *label,
		    rs_key_t **out, char *locator, rs_diag_t *diag)
{
	uint8_t id[ID_LEN];
	if (locator[0] != '\0') {
		int ret = locator_parse(locator, id, diag);
		if (ret != RS_EOK)
			return ret;
	} else {
		randombytes_buf(id, sizeof(id));
	}
	CK_ULONG modbits = bits ? bits : 2048;
	CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
	const uint8_t *oid = NULL;
	size_t oidlen = 0;
	CK_KEY_TYPE type = CKK_RSA;
	CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	if (!is_rsa(alg)) {
		if (!curve_of(alg, &oid, &oidlen, &type))
			return rs_diag(diag, RS_EALG, "pkcs11: algorithm %d cannot be made in a token", alg);
		mech.mechanism = type == CKK_EC || h->edwards_as_ec ? CKM_EC_KEY_PAIR_GEN : CKM_EC_EDWARDS_KEY_PAIR_GEN;
	}
	CK_ATTRIBUTE pub[12], priv[12];
	CK_ULONG npub = public_attrs(pub, id, label), npriv = private_attrs(priv, id, label);
	if (type == CKK_RSA) {
		pub[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &modbits, sizeof(modbits) };
		pub[npub++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent) };
	} else {
		pub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid, oidlen };
	}
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_RV rv = h->f->C_GenerateKeyPair(h->session, &mech, pub, npub, priv, npriv, &hpub, &hpriv);
	if (rv != CKR_OK)
		return hsm_err(diag, rv, "C_GenerateKeyPair");
	int ret = key_from_token(h, hpub, id, origin, alg, ksk, out, diag);
	if (ret != RS_EOK) {
		h->f->C_DestroyObject(h->session, hpriv);
		h->f->C_DestroyObject(h->session, hpub);
		return ret;
	}
	locator_make(id, locator);
	return RS_EOK;
}

/* The objects (public and private half) of the key at locator; *n in: room, out: found. */
static int key_objects(rs_hsm_t *h, const char *locator, CK_OBJECT_HANDLE *objs, CK_ULONG *n, rs_diag_t *diag)
{
	uint8_t id[ID_LEN];
	int ret = locator_parse(locator, id, diag);
	if (ret != RS_EOK)
		return ret;
	CK_RV rv = find_objects(h->f, h->session, -1, id, ID_LEN, objs, n);
	if (rv != CKR_OK)
		return hsm_err(diag, rv, "C_FindObjects");
	return *n > 0 ? RS_EOK : rs_diag(diag, RS_ENOENT, "pkcs11: no key %s in the token", locator);
}

int rs_hsm_relabel(rs_hsm_t *h, const char *locator, const char *label, rs_diag_t *diag)
{
	CK_OBJECT_HANDLE objs[4];
	CK_ULONG n = 4;
	int ret = key_objects(h, locator, objs, &n, diag);
	CK_ATTRIBUTE a = { CKA_LABEL, (void *)label, strlen(label) };
	CK_RV rv = CKR_OK;
	for (CK_ULONG i = 0; ret == RS_EOK && rv == CKR_OK && i < n; i++)
		rv = h->f->C_SetAttributeValue(h->session, objs[i], &a, 1);
	return ret != RS_EOK || rv == CKR_OK ? ret : hsm_err(diag, rv, "C_SetAttributeValue");
}

int rs_hsm_destroy(rs_hsm_t *h, const char *locator, rs_diag_t *diag)
{
	CK_OBJECT_HANDLE objs[4];
	CK_ULONG n = 4;
	int ret = key_objects(h, locator, objs, &n, diag);
	CK_RV rv = CKR_OK;
	for (CK_ULONG i = 0; ret == RS_EOK && rv == CKR_OK && i < n; i++)
		rv = h->f->C_DestroyObject(h->session, objs[i]);
	return ret != RS_EOK || rv == CKR_OK ? ret : hsm_err(diag, rv, "C_DestroyObject");
}

int rs_hsm_list(rs_hsm_t *h, void (*fn)(void *arg, const char *locator, const char *label), void *arg,
		rs_diag_t *diag)
{
	enum { MAX_OBJECTS = 4096 };
	CK_OBJECT_HANDLE *objs = calloc(MAX_OBJECTS, sizeof(*objs));
	if (objs == NULL)
		return rs_diag(diag, RS_ENOMEM, "out of memory");
	CK_ULONG n = MAX_OBJECTS;
	CK_RV rv = find_objects(h->f, h->session, CKO_PUBLIC_KEY, NULL, 0, objs, &n);
	int ret = rv == CKR_OK ? RS_EOK : hsm_err(diag, rv, "C_FindObjects");
	for (CK_ULONG i = 0; ret == RS_EOK && i < n; i++) {
		uint8_t *id = NULL, *label = NULL;
		size_t idlen, llen;
		if (get_attr(h, objs[i], CKA_ID, &id, &idlen, NULL) == RS_EOK && idlen == ID_LEN &&
		    get_attr(h, objs[i], CKA_LABEL, &label, &llen, NULL) == RS_EOK) {
			char loc[RS_LOCATOR_MAX];
			label[llen] = '\0';
			locator_make(id, loc);
			fn(arg, loc, (char *)label);
		}
		free(id);
		free(label);
	}
	free(objs);
	return ret;
}

/*
 * SoftHSM2 makes an object first and writes its template (CKA_ID,
 * CKA_LABEL) and then its key value in later writes: a kill inside
 * C_GenerateKeyPair can leave a shell with neither id nor label, which holds
 * no key. Such shells are given the locator (and label) of the generation
 * that was cut short, so that they are set aside with it instead of lying in
 * the token unnamed. label NULL only counts them.
 */
int rs_hsm_adopt_shells(rs_hsm_t *h, const char *locator, const char *label, size_t *count, rs_diag_t *diag)
{
	enum { MAX_OBJECTS = 4096 };
	*count = 0;
	uint8_t id[ID_LEN];
	int ret = locator_parse(locator, id, diag);
	CK_OBJECT_HANDLE *objs = ret == RS_EOK ? calloc(MAX_OBJECTS, sizeof(*objs)) : NULL;
	if (ret == RS_EOK && objs == NULL)
		ret = rs_diag(diag, RS_ENOMEM, "out of memory");
	static const CK_OBJECT_CLASS classes[] = { CKO_PUBLIC_KEY, CKO_PRIVATE_KEY };
	for (size_t c = 0; ret == RS_EOK && c < sizeof(classes) / sizeof(classes[0]); c++) {
		CK_ULONG n = MAX_OBJECTS;
		CK_RV rv = find_objects(h->f, h->session, (long)classes[c], NULL, 0, objs, &n);
		if (rv != CKR_OK)
			ret = hsm_err(diag, rv, "C_FindObjects");
		for (CK_ULONG i = 0; ret == RS_EOK && i < n; i++) {
			uint8_t *oid = NULL, *olabel = NULL;
			size_t idlen = 0, llen = 0;
			bool shell = get_attr(h, objs[i], CKA_ID, &oid, &idlen, NULL) == RS_EOK && idlen == 0 &&
				     get_attr(h, objs[i], CKA_LABEL, &olabel, &llen, NULL) == RS_EOK && llen == 0;
			free(oid);
			free(olabel);
			if (!shell)
				continue;
			if (label != NULL) {
				CK_ATTRIBUTE t[] = { { CKA_ID, id, ID_LEN }, { CKA_LABEL, (void *)label, strlen(label) } };
				if ((rv = h->f->C_SetAttributeValue(h->session, objs[i], t, 2)) != CKR_OK)
					ret = hsm_err(diag, rv, "C_SetAttributeValue");
			}
			if (ret == RS_EOK)
				(*count)++;
		}
	}
	free(objs);
	return ret;
}

/* ---- backup ---- */

static int backup_key(rs_hsm_t *h, CK_OBJECT_HANDLE *out, rs_diag_t *diag)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_LABEL, BACKUP_LABEL, strlen(BACKUP_LABEL) } };
	CK_ULONG n = 0;
	CK_RV rv = h->f->C_FindObjectsInit(h->session, t, 2);
	if (rv == CKR_OK) {
		rv = h->f->C_FindObjects(h->session, out, 1, &n);
		h->f->C_FindObjectsFinal(h->session);
	}
	if (rv != CKR_OK)
		return hsm_err(diag, rv, "C_FindObjects");
	return n == 1 ? RS_EOK : rs_diag(diag, RS_ENOENT, "pkcs11: no backup key loaded");
}

int rs_hsm_backup_key_load(rs_hsm_t *h, const char *so_pin, const uint8_t key[32], rs_diag_t *diag)
{
	CK_OBJECT_HANDLE old;
	if (backup_key(h, &old, NULL) == RS_EOK)
		return RS_EOK;
	CK_RV rv = h->f->C_Login(h->session, CKU_SO, (CK_UTF8CHAR *)so_pin, strlen(so_pin));
	if (rv != CKR_OK)
		return hsm_err(diag, rv, "C_Login (security officer)");
	/*
	 * Only the security officer may mark a key trusted, and the officer can
	 * make only public objects, which SoftHSM2 would store unencrypted: so the
	 * key is a session object, in memory until the session closes. Its value
	 * is sensitive and unextractable, and it can only wrap and unwrap.
	 */
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_TOKEN, &no, sizeof(no) }, { CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) }, { CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_TRUSTED, &yes, sizeof(yes) }, { CKA_WRAP, &yes, sizeof(yes) },
		{ CKA_UNWRAP, &yes, sizeof(yes) }, { CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_DECRYPT, &no, sizeof(no) }, { CKA_LABEL, BACKUP_LABEL, strlen(BACKUP_LABEL) },
		{ CKA_VALUE, (void *)key, 32 },
	};
	CK_OBJECT_HANDLE obj;
	rv = h->f->C_CreateObject(h->session, t, sizeof(t) / sizeof(t[0]), &obj);
	h->f->C_Logout(h->session);
	return rv == CKR_OK ? RS_EOK : hsm_err(diag, rv, "C_CreateObject (backup key)");
}

int rs_hsm_wrap(rs_hsm_t *h, const char *locator, rs_buf_t *out, rs_diag_t *diag)
{
	uint8_t id[ID_LEN];
	CK_OBJECT_HANDLE wrapping, priv;
	int ret = locator_parse(locator, id, diag);
	if (ret == RS_EOK)
		ret = backup_key(h, &wrapping, diag);
	if (ret == RS_EOK)
		ret = find_one(h, h->session, CKO_PRIVATE_KEY, id, &priv, diag);
	if (ret != RS_EOK)
		return ret;
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ULONG n = 0;
	CK_RV rv = h->f->C_WrapKey(h->session, &mech, wrapping, priv, NULL, &n);
	if (rv == CKR_OK && (ret = rs_buf_reserve(out, n)) != RS_EOK)
		return rs_diag(diag, ret, "out of memory");
	if (rv == CKR_OK)
		rv = h->f->C_WrapKey(h->session, &mech, wrapping, priv, out->data + out->len, &n);
	if (rv != CKR_OK)
		return hsm_err(diag, rv, "C_WrapKey");
	out->len += n;
	return RS_EOK;
}

int rs_hsm_unwrap(rs_hsm_t *h, const char *locator, const char *label, const uint8_t *dnskey, size_t dnskey_len,
		  const uint8_t *wrapped, size_t wrapped_len, rs_diag_t *diag)
{
	uint8_t id[ID_LEN];
	CK_OBJECT_HANDLE wrapping, exists;
	int ret = locator_parse(locator, id, diag);
	if (ret == RS_EOK)
		ret = backup_key(h, &wrapping, diag);
	if (ret != RS_EOK)
		return ret;
	if (find_one(h, h->session, CKO_PUBLIC_KEY, id, &exists, NULL) == RS_EOK)
		return rs_diag(diag, RS_EINVAL, "pkcs11: the token holds key %s already", locator);
	if (dnskey_len < 5)
		return rs_diag(diag, RS_EKEY, "pkcs11: DNSKEY too short");
	int alg = dnskey[3];
	const uint8_t *key = dnskey + 4;
	size_t klen = dnskey_len - 4;
	CK_OBJECT_CLASS pcls = CKO_PUBLIC_KEY, scls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE type = CKK_RSA;
	const uint8_t *oid = NULL;
	size_t oidlen = 0;
	uint8_t point[2 + 1 + 132];
	CK_ATTRIBUTE pub[14], priv[14];
	CK_ULONG npub = public_attrs(pub, id, label), npriv = private_attrs(priv, id, label);
	pub[npub++] = (CK_ATTRIBUTE){ CKA_CLASS, &pcls, sizeof(pcls) };
	pub[npub++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &type, sizeof(type) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_CLASS, &scls, sizeof(scls) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &type, sizeof(type) };
	if (is_rsa(alg)) {
		size_t elen = key[0], off = 1;
		if (elen == 0 && klen >= 3) {
			elen = (size_t)key[1] << 8 | key[2];
			off = 3;
		}
		if (off + elen >= klen)
			return rs_diag(diag, RS_EKEY, "pkcs11: malformed RSA public key");
		pub[npub++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, (void *)(key + off), elen };
		pub[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS, (void *)(key + off + elen), klen - off - elen };
	} else if (curve_of(alg, &oid, &oidlen, &type) && klen < 128) {
		/* CKA_EC_POINT: the point as a DER OCTET STRING (uncompressed for the NIST curves). */
		bool nist = type == CKK_EC;
		size_t plen = klen + nist, at = 0;
		point[at++] = 0x04;
		point[at++] = (uint8_t)plen;
		if (nist)
			point[at++] = 0x04;
		memcpy(point + at, key, klen);
		pub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid, oidlen };
		pub[npub++] = (CK_ATTRIBUTE){ CKA_EC_POINT, point, at + klen };
	} else {
		return rs_diag(diag, RS_EALG, "pkcs11: algorithm %d cannot be restored", alg);
	}
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE hpriv, hpub;
	CK_RV rv = h->f->C_UnwrapKey(h->session, &mech, wrapping, (CK_BYTE *)wrapped, wrapped_len, priv, npriv,
				     &hpriv);
	if (rv != CKR_OK)
		return hsm_err(diag, rv, "C_UnwrapKey");
	if ((rv = h->f->C_CreateObject(h->session, pub, npub, &hpub)) != CKR_OK) {
		h->f->C_DestroyObject(h->session, hpriv);
		return hsm_err(diag, rv, "C_CreateObject (public key)");
	}
	return RS_EOK;
}
