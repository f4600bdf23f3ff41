/* csp_p11_util: the PKCS#11 mechanics shared by csp_p11 (the TSE key: stored
 * PIN, self-recovering session) and sign_p11 (document keys: the PIN is asked
 * for per round, explicit login and logout). Only mechanics live here: loading
 * the module, finding the token, the session handle, attribute reads, object
 * search and CKR_* names. No PIN and no login policy: those stay with the two
 * users, which differ on purpose. Internal to src/, not part of the API. */
#ifndef SIEGEL_CSP_P11_UTIL_H
#define SIEGEL_CSP_P11_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "alg/alg.h"
#include "base/base.h"

#define CSP_P11U_LABEL_LEN 32      /* CK_TOKEN_INFO.label, blank padded */
#define CSP_P11U_MAX_ATTR 8192     /* upper bound for an attribute we read
				    * (an RSA-8192 modulus is 1024 bytes) */

/* Reports a failed PKCS#11 call fn (about what, may be NULL): sets d in the
 * user's own wording and returns the siegel error rv maps to for that user. */
typedef int (*csp_p11u_fail_fn)(struct siegel_diag *d, CK_RV rv, const char *fn,
	const char *what);

/* One loaded module, one token, at most one session. Zero-initialise, set
 * fail, then csp_p11u_set_label and csp_p11u_load. */
struct csp_p11u {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	int owns_init;              /* we called C_Initialize, so we C_Finalize */
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE sess;
	int have_sess;
	unsigned char label[CSP_P11U_LABEL_LEN]; /* as in CK_TOKEN_INFO */
	char label_str[CSP_P11U_LABEL_LEN + 1];  /* for messages */
	CK_RV last_rv;              /* of the last call reported through csp_p11u_fail */
	csp_p11u_fail_fn fail;
};

/* "CKR_PIN_INCORRECT", or "CKR_0x..." written to buf for an unknown value. */
const char *csp_p11u_rv_name(CK_RV rv, char *buf, size_t n);
/* The siegel error of a PIN failure (wrong, blocked, bad length) or else
 * SIEGEL_E_PKCS11; users add their own cases in front. */
int csp_p11u_rv_err(CK_RV rv);
/* Records rv in u->last_rv and reports it through u->fail. */
int csp_p11u_fail(struct csp_p11u *u, struct siegel_diag *d, CK_RV rv, const char *fn,
	const char *what);

/* Sets the token label (1..32 bytes) in both forms. SIEGEL_E_INVAL otherwise. */
int csp_p11u_set_label(struct csp_p11u *u, const char *label, struct siegel_diag *d) SIEGEL_WUR;
/* dlopen + C_GetFunctionList + csp_p11u_initialize. On failure the caller
 * still calls csp_p11u_unload. */
int csp_p11u_load(struct csp_p11u *u, const char *module_path, struct siegel_diag *d) SIEGEL_WUR;
/* C_Initialize with OS locking; CKR_CRYPTOKI_ALREADY_INITIALIZED is fine
 * (someone else in the process owns the library then, we do not finalize). */
int csp_p11u_initialize(struct csp_p11u *u, const char *what, struct siegel_diag *d) SIEGEL_WUR;
/* C_Finalize if we initialised, dlclose. Does not touch the session. */
void csp_p11u_unload(struct csp_p11u *u);

/* Finds the initialised token labelled u->label (*found = 1, u->slot set)
 * and, when free_slot is not NULL, the first slot with an uninitialised
 * token (*free_slot, *have_free). */
int csp_p11u_find_slot(struct csp_p11u *u, int *found, CK_SLOT_ID *free_slot, int *have_free,
	struct siegel_diag *d) SIEGEL_WUR;
/* Opens the serial R/W session on u->slot (no login). */
int csp_p11u_session_open(struct csp_p11u *u, struct siegel_diag *d) SIEGEL_WUR;
/* C_CloseSession if one is open. */
void csp_p11u_session_close(struct csp_p11u *u);

/* Reads one attribute of h into a malloc'd buffer (caller frees). */
int csp_p11u_attr_get(uint8_t **out, size_t *out_len, struct csp_p11u *u, CK_OBJECT_HANDLE h,
	CK_ATTRIBUTE_TYPE type, const char *what, struct siegel_diag *d) SIEGEL_WUR;
/* A CK_BBOOL attribute; an attribute the object does not have reads as false. */
int csp_p11u_attr_bool(int *out, struct csp_p11u *u, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
	const char *what, struct siegel_diag *d) SIEGEL_WUR;
int csp_p11u_attr_ulong(CK_ULONG *out, struct csp_p11u *u, CK_OBJECT_HANDLE h,
	CK_ATTRIBUTE_TYPE type, const char *what, struct siegel_diag *d) SIEGEL_WUR;
/* The handle to sign with for private key h: a copy of it as a session
 * object inside the token (C_CopyObject, CKA_TOKEN false), or h itself when
 * the token refuses the copy (CKA_COPYABLE false, smart cards). SoftHSM2
 * re-reads a token object's file (open, lock, stat, read, close) on every
 * C_SignInit; a session object lives in memory: about 22,000 against 14,000
 * P-256 signatures/s. The copy is a private session object: C_Logout and
 * closing the session destroy it. Not for CKA_ALWAYS_AUTHENTICATE keys (the
 * callers keep those as they are). */
CK_OBJECT_HANDLE csp_p11u_session_copy(struct csp_p11u *u, CK_OBJECT_HANDLE h);
/* Finds up to max objects of class cls with CKA_LABEL label (when not NULL)
 * and CKA_ID id (when id_len > 0); *n gets the number found. */
int csp_p11u_find_objects(CK_OBJECT_HANDLE *hs, CK_ULONG max, CK_ULONG *n, struct csp_p11u *u,
	CK_OBJECT_CLASS cls, const char *label, const uint8_t *id, size_t id_len,
	struct siegel_diag *d) SIEGEL_WUR;

/* The curve (of those we sign with) whose OID DER is CKA_EC_PARAMS params;
 * NULL for any other. */
const struct alg_info *csp_p11u_curve_of(const uint8_t *params, size_t len);
/* CKA_EC_POINT is DER OCTET STRING { 04||X||Y } (PKCS#11 v2.40); some modules
 * return the raw point. Writes the raw uncompressed point of a curve with
 * field_len bytes per coordinate; SIEGEL_E_PARSE for anything else. */
int csp_p11u_ec_point(uint8_t *pub, size_t *pub_len, const uint8_t *v, size_t n,
	size_t field_len) SIEGEL_WUR;

#endif
