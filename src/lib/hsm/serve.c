/*
 * The activation agent's token, served to regsign processes over p11-kit's
 * PKCS#11 RPC (clients load p11-kit-client.so). PKCS#11 login state belongs
 * to the application, so every session opened in the agent's process is
 * logged in once the agent logged in: clients sign without ever seeing the
 * PIN. They see a filtered copy of the module's function list: slot, token
 * and mechanism information, their own sessions, finding objects, public
 * attributes, signing and random octets; key changes only while the admin
 * window is open; logging in, PINs, token initialisation, decryption and
 * everything else are refused. Session handles are checked to belong to the
 * connection that opened them (one thread per connection, so thread-local).
 */
#define P11_KIT_FUTURE_UNSTABLE_API 1
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/remote.h>

#include "internal.h"

/* A client may not exhaust the token's sessions for the others. */
#define MAX_SESSIONS 256

typedef struct {
	CK_SESSION_HANDLE handles[MAX_SESSIONS];
	size_t n;
} conn_t;

static struct {
	/* Calls hold it shared; the end takes it whole (first in line), so no call runs into a finalised module. */
	pthread_rwlock_t lock;
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID slot;
	bool (*may_change)(void);
	bool ended;
} agent = { PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP, NULL, 0, NULL, true };

static _Thread_local conn_t *conn;
static CK_FUNCTION_LIST served;

static bool owned(CK_SESSION_HANDLE h)
{
	for (size_t i = 0; conn != NULL && i < conn->n; i++)
		if (conn->handles[i] == h)
			return true;
	return false;
}

static void forget(CK_SESSION_HANDLE h)
{
	for (size_t i = 0; i < conn->n; i++)
		if (conn->handles[i] == h) {
			conn->handles[i] = conn->handles[--conn->n];
			return;
		}
}

/* Every call: the agent still runs, and (h not 0) the session is the caller's. */
static CK_RV enter(CK_SESSION_HANDLE h, bool session)
{
	pthread_rwlock_rdlock(&agent.lock);
	if (agent.ended || conn == NULL)
		return CKR_DEVICE_REMOVED;
	return !session || owned(h) ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
}

static CK_RV leave(CK_RV rv)
{
	pthread_rwlock_unlock(&agent.lock);
	return rv;
}

/* Key changes: only while the key holders' admin window is open. */
static CK_RV enter_change(CK_SESSION_HANDLE h)
{
	CK_RV rv = enter(h, true);
	return rv == CKR_OK && !agent.may_change() ? CKR_ACTION_PROHIBITED : rv;
}

#define PASS(h, call)                                  \
	do {                                           \
		CK_RV rv_ = enter(h, true);            \
		return leave(rv_ == CKR_OK ? (call) : rv_); \
	} while (0)
#define PASS_CHANGE(h, call)                           \
	do {                                           \
		CK_RV rv_ = enter_change(h);           \
		return leave(rv_ == CKR_OK ? (call) : rv_); \
	} while (0)

/* ---- the module as a whole: never initialised or finalised by a client ---- */

static CK_RV a_initialize(void *args)
{
	(void)args;
	return CKR_OK;
}

static void close_own(void)
{
	while (conn != NULL && conn->n > 0)
		agent.f->C_CloseSession(conn->handles[--conn->n]);
}

static CK_RV a_finalize(void *reserved)
{
	(void)reserved;
	CK_RV rv = enter(0, false);
	if (rv == CKR_OK)
		close_own();
	return leave(rv);
}

static CK_RV a_get_info(CK_INFO *info)
{
	CK_RV rv = enter(0, false);
	return leave(rv == CKR_OK ? agent.f->C_GetInfo(info) : rv);
}

static CK_RV a_get_function_list(CK_FUNCTION_LIST **list)
{
	*list = &served;
	return CKR_OK;
}

/* ---- the one slot of the activated token ---- */

static CK_RV a_get_slot_list(CK_BBOOL present, CK_SLOT_ID *slots, CK_ULONG *count)
{
	(void)present;
	CK_RV rv = enter(0, false);
	if (rv == CKR_OK && slots != NULL && *count < 1)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (rv == CKR_OK && slots != NULL)
		slots[0] = agent.slot;
	if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL)
		*count = 1;
	return leave(rv);
}

#define SLOT_CALL(slot, call)                                                      \
	do {                                                                       \
		CK_RV rv_ = enter(0, false);                                       \
		if (rv_ == CKR_OK && (slot) != agent.slot)                         \
			rv_ = CKR_SLOT_ID_INVALID;                                 \
		return leave(rv_ == CKR_OK ? (call) : rv_);                        \
	} while (0)

static CK_RV a_get_slot_info(CK_SLOT_ID slot, CK_SLOT_INFO *info)
{
	SLOT_CALL(slot, agent.f->C_GetSlotInfo(slot, info));
}

/* Clients need no login (the agent is logged in): generic tools then do not ask for a PIN. */
static CK_RV token_info(CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
	CK_RV rv = agent.f->C_GetTokenInfo(slot, info);
	if (rv == CKR_OK)
		info->flags &= ~(CK_FLAGS)CKF_LOGIN_REQUIRED;
	return rv;
}

static CK_RV a_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
	SLOT_CALL(slot, token_info(slot, info));
}

static CK_RV a_get_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
	SLOT_CALL(slot, agent.f->C_GetMechanismList(slot, list, count));
}

static CK_RV a_get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info)
{
	SLOT_CALL(slot, agent.f->C_GetMechanismInfo(slot, type, info));
}

/* ---- sessions: the caller's own ---- */

static CK_RV a_open_session(CK_SLOT_ID slot, CK_FLAGS flags, void *app, CK_NOTIFY notify,
			     CK_SESSION_HANDLE *out)
{
	(void)app;
	(void)notify;
	CK_RV rv = enter(0, false);
	if (rv == CKR_OK && slot != agent.slot)
		rv = CKR_SLOT_ID_INVALID;
	else if (rv == CKR_OK && conn->n >= MAX_SESSIONS)
		rv = CKR_SESSION_COUNT;
	CK_SESSION_HANDLE h;
	/* No callbacks into the agent on a client's behalf. */
	if (rv == CKR_OK && (rv = agent.f->C_OpenSession(slot, flags, NULL, NULL, &h)) == CKR_OK) {
		conn->handles[conn->n++] = h;
		*out = h;
	}
	return leave(rv);
}

static CK_RV a_close_session(CK_SESSION_HANDLE h)
{
	CK_RV rv = enter(h, true);
	if (rv == CKR_OK && (rv = agent.f->C_CloseSession(h)) == CKR_OK)
		forget(h);
	return leave(rv);
}

/* Only the caller's: the real C_CloseAllSessions would end every client's. */
static CK_RV a_close_all_sessions(CK_SLOT_ID slot)
{
	CK_RV rv = enter(0, false);
	if (rv == CKR_OK && slot != agent.slot)
		rv = CKR_SLOT_ID_INVALID;
	if (rv == CKR_OK)
		close_own();
	return leave(rv);
}

static CK_RV a_get_session_info(CK_SESSION_HANDLE h, CK_SESSION_INFO *info)
{
	PASS(h, agent.f->C_GetSessionInfo(h, info));
}

/* The agent is logged in for everyone; a client's PIN is never looked at, a logout never ends it. */
static CK_RV a_login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR *pin, CK_ULONG len)
{
	(void)pin;
	(void)len;
	CK_RV rv = enter(h, true);
	return leave(rv != CKR_OK ? rv : user == CKU_USER ? CKR_USER_ALREADY_LOGGED_IN
							   : CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
}

static CK_RV a_logout(CK_SESSION_HANDLE h)
{
	CK_RV rv = enter(h, true);
	return leave(rv);
}

/* ---- objects ---- */

static CK_RV a_find_objects_init(CK_SESSION_HANDLE h, CK_ATTRIBUTE *t, CK_ULONG n)
{
	PASS(h, agent.f->C_FindObjectsInit(h, t, n));
}

static CK_RV a_find_objects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *n)
{
	PASS(h, agent.f->C_FindObjects(h, objs, max, n));
}

static CK_RV a_find_objects_final(CK_SESSION_HANDLE h)
{
	PASS(h, agent.f->C_FindObjectsFinal(h));
}

static CK_RV a_get_object_size(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ULONG *size)
{
	PASS(h, agent.f->C_GetObjectSize(h, obj, size));
}

/* Secret values are never asked of a private or secret key here, whatever the token would say. */
static bool asks_secret(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	bool secret_type = false;
	for (CK_ULONG i = 0; i < n; i++)
		switch (t[i].type) {
		case CKA_VALUE: case CKA_PRIVATE_EXPONENT: case CKA_PRIME_1: case CKA_PRIME_2:
		case CKA_EXPONENT_1: case CKA_EXPONENT_2: case CKA_COEFFICIENT:
			secret_type = true;
		}
	if (!secret_type)
		return false;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE a = { CKA_CLASS, &cls, sizeof(cls) };
	return agent.f->C_GetAttributeValue(h, obj, &a, 1) != CKR_OK || cls == CKO_PRIVATE_KEY ||
	       cls == CKO_SECRET_KEY;
}

static CK_RV a_get_attribute_value(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_RV rv = enter(h, true);
	if (rv == CKR_OK)
		rv = asks_secret(h, obj, t, n) ? CKR_ATTRIBUTE_SENSITIVE : agent.f->C_GetAttributeValue(h, obj, t, n);
	return leave(rv);
}

static CK_RV a_set_attribute_value(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE *t, CK_ULONG n)
{
	PASS_CHANGE(h, agent.f->C_SetAttributeValue(h, obj, t, n));
}

static CK_RV a_create_object(CK_SESSION_HANDLE h, CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
	PASS_CHANGE(h, agent.f->C_CreateObject(h, t, n, out));
}

static CK_RV a_destroy_object(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
	PASS_CHANGE(h, agent.f->C_DestroyObject(h, obj));
}

/*
 * A session copy (CKA_TOKEN false, nothing else changed) is how the signer
 * signs fast; it dies with the session and is as sensitive as the original.
 * Any other copy is a key change.
 */
static CK_RV a_copy_object(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE *t, CK_ULONG n,
			   CK_OBJECT_HANDLE *out)
{
	bool session_copy = n == 1 && t != NULL && t[0].type == CKA_TOKEN &&
			    t[0].ulValueLen == sizeof(CK_BBOOL) && t[0].pValue != NULL &&
			    *(CK_BBOOL *)t[0].pValue == CK_FALSE;
	CK_RV rv = session_copy ? enter(h, true) : enter_change(h);
	return leave(rv == CKR_OK ? agent.f->C_CopyObject(h, obj, t, n, out) : rv);
}

/*
 * p11-kit 0.24's RPC drops the EdDSA mechanisms, so clients (pkcs11.c) ask
 * for them under the EC names: an EC key pair on an Edwards curve, ECDSA
 * with an Edwards key. Neither means anything else, so they are mapped back.
 */
static bool edwards_params(const CK_ATTRIBUTE *t, CK_ULONG n)
{
	static const uint8_t ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
	static const uint8_t ed448[] = { 0x06, 0x03, 0x2b, 0x65, 0x71 };
	for (CK_ULONG i = 0; i < n; i++)
		if (t[i].type == CKA_EC_PARAMS && t[i].pValue != NULL && t[i].ulValueLen == sizeof(ed25519) &&
		    (memcmp(t[i].pValue, ed25519, sizeof(ed25519)) == 0 ||
		     memcmp(t[i].pValue, ed448, sizeof(ed448)) == 0))
			return true;
	return false;
}

static CK_RV a_generate_key_pair(CK_SESSION_HANDLE h, CK_MECHANISM *m, CK_ATTRIBUTE *pub, CK_ULONG npub,
				 CK_ATTRIBUTE *priv, CK_ULONG npriv, CK_OBJECT_HANDLE *hpub, CK_OBJECT_HANDLE *hpriv)
{
	CK_MECHANISM edwards = { CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0 };
	if (m != NULL && m->mechanism == CKM_EC_KEY_PAIR_GEN && edwards_params(pub, npub))
		m = &edwards;
	PASS_CHANGE(h, agent.f->C_GenerateKeyPair(h, m, pub, npub, priv, npriv, hpub, hpriv));
}

static CK_RV a_wrap_key(CK_SESSION_HANDLE h, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
			CK_BYTE *out, CK_ULONG *len)
{
	PASS_CHANGE(h, agent.f->C_WrapKey(h, m, wrapping, key, out, len));
}

static CK_RV a_unwrap_key(CK_SESSION_HANDLE h, CK_MECHANISM *m, CK_OBJECT_HANDLE unwrapping, CK_BYTE *in,
			  CK_ULONG len, CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
	PASS_CHANGE(h, agent.f->C_UnwrapKey(h, m, unwrapping, in, len, t, n, out));
}

/* ---- signing and random octets ---- */

static CK_RV a_sign_init(CK_SESSION_HANDLE h, CK_MECHANISM *m, CK_OBJECT_HANDLE key)
{
	CK_RV rv = enter(h, true);
	CK_KEY_TYPE type = CKK_EC;
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &type, sizeof(type) };
	CK_MECHANISM eddsa = { CKM_EDDSA, NULL, 0 };
	if (rv == CKR_OK && m != NULL && m->mechanism == CKM_ECDSA &&
	    agent.f->C_GetAttributeValue(h, key, &a, 1) == CKR_OK && type == CKK_EC_EDWARDS)
		m = &eddsa;
	return leave(rv == CKR_OK ? agent.f->C_SignInit(h, m, key) : rv);
}

static CK_RV a_sign(CK_SESSION_HANDLE h, CK_BYTE *data, CK_ULONG len, CK_BYTE *sig, CK_ULONG *siglen)
{
	PASS(h, agent.f->C_Sign(h, data, len, sig, siglen));
}

static CK_RV a_sign_update(CK_SESSION_HANDLE h, CK_BYTE *part, CK_ULONG len)
{
	PASS(h, agent.f->C_SignUpdate(h, part, len));
}

static CK_RV a_sign_final(CK_SESSION_HANDLE h, CK_BYTE *sig, CK_ULONG *siglen)
{
	PASS(h, agent.f->C_SignFinal(h, sig, siglen));
}

static CK_RV a_generate_random(CK_SESSION_HANDLE h, CK_BYTE *out, CK_ULONG len)
{
	PASS(h, agent.f->C_GenerateRandom(h, out, len));
}

/* ---- everything else: not offered ---- */

#define REFUSED(name, args) \
	static CK_RV name args  \
	{                       \
		return CKR_FUNCTION_NOT_SUPPORTED; \
	}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
REFUSED(r_init_token, (CK_SLOT_ID a, CK_UTF8CHAR *b, CK_ULONG c, CK_UTF8CHAR *d))
REFUSED(r_init_pin, (CK_SESSION_HANDLE a, CK_UTF8CHAR *b, CK_ULONG c))
REFUSED(r_set_pin, (CK_SESSION_HANDLE a, CK_UTF8CHAR *b, CK_ULONG c, CK_UTF8CHAR *d, CK_ULONG e))
REFUSED(r_get_operation_state, (CK_SESSION_HANDLE a, CK_BYTE *b, CK_ULONG *c))
REFUSED(r_set_operation_state, (CK_SESSION_HANDLE a, CK_BYTE *b, CK_ULONG c, CK_OBJECT_HANDLE d,
				CK_OBJECT_HANDLE e))
REFUSED(r_mech_key, (CK_SESSION_HANDLE a, CK_MECHANISM *b, CK_OBJECT_HANDLE c))
REFUSED(r_mech, (CK_SESSION_HANDLE a, CK_MECHANISM *b))
REFUSED(r_in_out, (CK_SESSION_HANDLE a, CK_BYTE *b, CK_ULONG c, CK_BYTE *d, CK_ULONG *e))
REFUSED(r_in, (CK_SESSION_HANDLE a, CK_BYTE *b, CK_ULONG c))
REFUSED(r_out, (CK_SESSION_HANDLE a, CK_BYTE *b, CK_ULONG *c))
REFUSED(r_in_in, (CK_SESSION_HANDLE a, CK_BYTE *b, CK_ULONG c, CK_BYTE *d, CK_ULONG e))
REFUSED(r_digest_key, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b))
REFUSED(r_generate_key,
	(CK_SESSION_HANDLE a, CK_MECHANISM *b, CK_ATTRIBUTE *c, CK_ULONG d, CK_OBJECT_HANDLE *e))
REFUSED(r_derive_key, (CK_SESSION_HANDLE a, CK_MECHANISM *b, CK_OBJECT_HANDLE c, CK_ATTRIBUTE *d, CK_ULONG e,
		       CK_OBJECT_HANDLE *f))
REFUSED(r_session, (CK_SESSION_HANDLE a))
REFUSED(r_wait, (CK_FLAGS a, CK_SLOT_ID *b, void *c))
#pragma GCC diagnostic pop

static void served_init(CK_VERSION version)
{
	served = (CK_FUNCTION_LIST){
		.version = version,
		.C_Initialize = a_initialize, .C_Finalize = a_finalize, .C_GetInfo = a_get_info,
		.C_GetFunctionList = a_get_function_list, .C_GetSlotList = a_get_slot_list,
		.C_GetSlotInfo = a_get_slot_info, .C_GetTokenInfo = a_get_token_info,
		.C_GetMechanismList = a_get_mechanism_list, .C_GetMechanismInfo = a_get_mechanism_info,
		.C_InitToken = r_init_token, .C_InitPIN = r_init_pin, .C_SetPIN = r_set_pin,
		.C_OpenSession = a_open_session, .C_CloseSession = a_close_session,
		.C_CloseAllSessions = a_close_all_sessions, .C_GetSessionInfo = a_get_session_info,
		.C_GetOperationState = r_get_operation_state, .C_SetOperationState = r_set_operation_state,
		.C_Login = a_login, .C_Logout = a_logout,
		.C_CreateObject = a_create_object, .C_CopyObject = a_copy_object, .C_DestroyObject = a_destroy_object,
		.C_GetObjectSize = a_get_object_size, .C_GetAttributeValue = a_get_attribute_value,
		.C_SetAttributeValue = a_set_attribute_value, .C_FindObjectsInit = a_find_objects_init,
		.C_FindObjects = a_find_objects, .C_FindObjectsFinal = a_find_objects_final,
		.C_EncryptInit = r_mech_key, .C_Encrypt = r_in_out, .C_EncryptUpdate = r_in_out, .C_EncryptFinal = r_out,
		.C_DecryptInit = r_mech_key, .C_Decrypt = r_in_out, .C_DecryptUpdate = r_in_out, .C_DecryptFinal = r_out,
		.C_DigestInit = r_mech, .C_Digest = r_in_out, .C_DigestUpdate = r_in, .C_DigestKey = r_digest_key,
		.C_DigestFinal = r_out,
		.C_SignInit = a_sign_init, .C_Sign = a_sign, .C_SignUpdate = a_sign_update, .C_SignFinal = a_sign_final,
		.C_SignRecoverInit = r_mech_key, .C_SignRecover = r_in_out,
		.C_VerifyInit = r_mech_key, .C_Verify = r_in_in, .C_VerifyUpdate = r_in, .C_VerifyFinal = r_in,
		.C_VerifyRecoverInit = r_mech_key, .C_VerifyRecover = r_in_out,
		.C_DigestEncryptUpdate = r_in_out, .C_DecryptDigestUpdate = r_in_out, .C_SignEncryptUpdate = r_in_out,
		.C_DecryptVerifyUpdate = r_in_out,
		.C_GenerateKey = r_generate_key, .C_GenerateKeyPair = a_generate_key_pair,
		.C_WrapKey = a_wrap_key, .C_UnwrapKey = a_unwrap_key, .C_DeriveKey = r_derive_key,
		.C_SeedRandom = r_in, .C_GenerateRandom = a_generate_random,
		.C_GetFunctionStatus = r_session, .C_CancelFunction = r_session, .C_WaitForSlotEvent = r_wait,
	};
}

/* ---- the agent's side ---- */

int rs_hsm_serve_begin(rs_hsm_t *hsm, bool (*may_change)(void), rs_diag_t *diag)
{
	CK_SLOT_ID slot;
	CK_FUNCTION_LIST *f = hsm_functions(hsm, &slot);
	pthread_rwlock_wrlock(&agent.lock);
	int ret = agent.f == NULL ? RS_EOK : rs_diag(diag, RS_EINVAL, "pkcs11: a token is served already");
	if (ret == RS_EOK) {
		served_init(f->version);
		agent.f = f;
		agent.slot = slot;
		agent.may_change = may_change;
		agent.ended = false;
	}
	pthread_rwlock_unlock(&agent.lock);
	return ret;
}

int rs_hsm_serve(int fd)
{
	conn_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return RS_ENOMEM;
	conn = c;
	int ret = p11_kit_remote_serve_module(&served, fd, fd) == 0 ? RS_EOK : RS_EIO;
	/* A client that went away (or was killed) leaves its sessions: they are closed here. */
	pthread_rwlock_rdlock(&agent.lock);
	if (!agent.ended)
		close_own();
	pthread_rwlock_unlock(&agent.lock);
	conn = NULL;
	free(c);
	return ret;
}

void rs_hsm_serve_end(void)
{
	pthread_rwlock_wrlock(&agent.lock);
	agent.ended = true;
	pthread_rwlock_unlock(&agent.lock);
}
