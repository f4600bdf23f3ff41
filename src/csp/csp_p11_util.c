/* csp_p11_util: PKCS#11 mechanics shared by csp_p11 and sign_p11 (see
 * csp_p11_util.h). Every failed call is reported through u->fail so that each
 * user keeps its own wording and error mapping. */
#include "csp/csp_p11_util.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *csp_p11u_rv_name(CK_RV rv, char *buf, size_t n)
{
	switch (rv) {
#define X(c) case c: return #c;
		X(CKR_OK)
		X(CKR_CANCEL)
		X(CKR_HOST_MEMORY)
		X(CKR_SLOT_ID_INVALID)
		X(CKR_GENERAL_ERROR)
		X(CKR_FUNCTION_FAILED)
		X(CKR_ARGUMENTS_BAD)
		X(CKR_NO_EVENT)
		X(CKR_NEED_TO_CREATE_THREADS)
		X(CKR_CANT_LOCK)
		X(CKR_ATTRIBUTE_READ_ONLY)
		X(CKR_ATTRIBUTE_SENSITIVE)
		X(CKR_ATTRIBUTE_TYPE_INVALID)
		X(CKR_ATTRIBUTE_VALUE_INVALID)
		X(CKR_ACTION_PROHIBITED)
		X(CKR_DATA_INVALID)
		X(CKR_DATA_LEN_RANGE)
		X(CKR_DEVICE_ERROR)
		X(CKR_DEVICE_MEMORY)
		X(CKR_DEVICE_REMOVED)
		X(CKR_ENCRYPTED_DATA_INVALID)
		X(CKR_ENCRYPTED_DATA_LEN_RANGE)
		X(CKR_FUNCTION_CANCELED)
		X(CKR_FUNCTION_NOT_PARALLEL)
		X(CKR_FUNCTION_NOT_SUPPORTED)
		X(CKR_KEY_HANDLE_INVALID)
		X(CKR_KEY_SIZE_RANGE)
		X(CKR_KEY_TYPE_INCONSISTENT)
		X(CKR_KEY_NOT_NEEDED)
		X(CKR_KEY_CHANGED)
		X(CKR_KEY_NEEDED)
		X(CKR_KEY_INDIGESTIBLE)
		X(CKR_KEY_FUNCTION_NOT_PERMITTED)
		X(CKR_KEY_NOT_WRAPPABLE)
		X(CKR_KEY_UNEXTRACTABLE)
		X(CKR_MECHANISM_INVALID)
		X(CKR_MECHANISM_PARAM_INVALID)
		X(CKR_OBJECT_HANDLE_INVALID)
		X(CKR_OPERATION_ACTIVE)
		X(CKR_OPERATION_NOT_INITIALIZED)
		X(CKR_PIN_INCORRECT)
		X(CKR_PIN_INVALID)
		X(CKR_PIN_LEN_RANGE)
		X(CKR_PIN_EXPIRED)
		X(CKR_PIN_LOCKED)
		X(CKR_SESSION_CLOSED)
		X(CKR_SESSION_COUNT)
		X(CKR_SESSION_HANDLE_INVALID)
		X(CKR_SESSION_PARALLEL_NOT_SUPPORTED)
		X(CKR_SESSION_READ_ONLY)
		X(CKR_SESSION_EXISTS)
		X(CKR_SESSION_READ_ONLY_EXISTS)
		X(CKR_SESSION_READ_WRITE_SO_EXISTS)
		X(CKR_SIGNATURE_INVALID)
		X(CKR_SIGNATURE_LEN_RANGE)
		X(CKR_TEMPLATE_INCOMPLETE)
		X(CKR_TEMPLATE_INCONSISTENT)
		X(CKR_TOKEN_NOT_PRESENT)
		X(CKR_TOKEN_NOT_RECOGNIZED)
		X(CKR_TOKEN_WRITE_PROTECTED)
		X(CKR_UNWRAPPING_KEY_SIZE_RANGE)
		X(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT)
		X(CKR_USER_ALREADY_LOGGED_IN)
		X(CKR_USER_NOT_LOGGED_IN)
		X(CKR_USER_PIN_NOT_INITIALIZED)
		X(CKR_USER_TYPE_INVALID)
		X(CKR_USER_ANOTHER_ALREADY_LOGGED_IN)
		X(CKR_USER_TOO_MANY_TYPES)
		X(CKR_WRAPPED_KEY_INVALID)
		X(CKR_WRAPPED_KEY_LEN_RANGE)
		X(CKR_WRAPPING_KEY_HANDLE_INVALID)
		X(CKR_WRAPPING_KEY_SIZE_RANGE)
		X(CKR_WRAPPING_KEY_TYPE_INCONSISTENT)
		X(CKR_RANDOM_SEED_NOT_SUPPORTED)
		X(CKR_RANDOM_NO_RNG)
		X(CKR_DOMAIN_PARAMS_INVALID)
		X(CKR_CURVE_NOT_SUPPORTED)
		X(CKR_BUFFER_TOO_SMALL)
		X(CKR_SAVED_STATE_INVALID)
		X(CKR_INFORMATION_SENSITIVE)
		X(CKR_STATE_UNSAVEABLE)
		X(CKR_CRYPTOKI_NOT_INITIALIZED)
		X(CKR_CRYPTOKI_ALREADY_INITIALIZED)
		X(CKR_MUTEX_BAD)
		X(CKR_MUTEX_NOT_LOCKED)
		X(CKR_NEW_PIN_MODE)
		X(CKR_NEXT_OTP)
		X(CKR_EXCEEDED_MAX_ITERATIONS)
		X(CKR_FIPS_SELF_TEST_FAILED)
		X(CKR_LIBRARY_LOAD_FAILED)
		X(CKR_PIN_TOO_WEAK)
		X(CKR_PUBLIC_KEY_INVALID)
		X(CKR_FUNCTION_REJECTED)
#undef X
	default:
		snprintf(buf, n, "CKR_0x%08lx", (unsigned long)rv);
		return buf;
	}
}

int csp_p11u_rv_err(CK_RV rv)
{
	switch (rv) {
	case CKR_PIN_INCORRECT:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_INVALID:
	case CKR_PIN_EXPIRED:
		return SIEGEL_E_AUTH_FAILED;
	case CKR_PIN_LOCKED:
		return SIEGEL_E_PIN_BLOCKED;
	default:
		return SIEGEL_E_PKCS11;
	}
}

int csp_p11u_fail(struct csp_p11u *u, struct siegel_diag *d, CK_RV rv, const char *fn,
	const char *what)
{
	u->last_rv = rv;
	return u->fail(d, rv, fn, what);
}

int csp_p11u_set_label(struct csp_p11u *u, const char *label, struct siegel_diag *d)
{
	size_t n = label ? strlen(label) : 0;
	if (n == 0 || n > CSP_P11U_LABEL_LEN)
		return siegel_fail(d, SIEGEL_E_INVAL, "PKCS#11: token label must be 1..%d bytes",
			CSP_P11U_LABEL_LEN);
	memset(u->label, ' ', CSP_P11U_LABEL_LEN);
	memcpy(u->label, label, n);
	memcpy(u->label_str, label, n);
	u->label_str[n] = 0;
	return 0;
}

int csp_p11u_load(struct csp_p11u *u, const char *module_path, struct siegel_diag *d)
{
	/* RTLD_NODELETE: many modules (SoftHSM2 included) keep OpenSSL or thread
	 * state alive past C_Finalize, unloading them is not safe. */
	u->dl = dlopen(module_path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (u->dl == NULL) {
		const char *e = dlerror();
		return siegel_fail(d, SIEGEL_E_IO, "PKCS#11 module %s: %s", module_path,
			e ? e : "dlopen failed");
	}
	CK_C_GetFunctionList gfl;
	*(void **)&gfl = dlsym(u->dl, "C_GetFunctionList");
	if (gfl == NULL)
		return siegel_fail(d, SIEGEL_E_PKCS11, "PKCS#11 module %s: no C_GetFunctionList",
			module_path);
	CK_RV rv = gfl(&u->f);
	if (rv != CKR_OK || u->f == NULL) {
		u->f = NULL;
		return csp_p11u_fail(u, d, rv != CKR_OK ? rv : CKR_GENERAL_ERROR, "C_GetFunctionList",
			module_path);
	}
	return csp_p11u_initialize(u, module_path, d);
}

int csp_p11u_initialize(struct csp_p11u *u, const char *what, struct siegel_diag *d)
{
	CK_C_INITIALIZE_ARGS args;
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	CK_RV rv = u->f->C_Initialize(&args);
	if (rv == CKR_OK)
		u->owns_init = 1;
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return csp_p11u_fail(u, d, rv, "C_Initialize", what);
	return 0;
}

void csp_p11u_unload(struct csp_p11u *u)
{
	if (u->f != NULL && u->owns_init)
		(void)u->f->C_Finalize(NULL);
	u->owns_init = 0;
	if (u->dl != NULL)
		dlclose(u->dl);
	u->dl = NULL;
}

int csp_p11u_find_slot(struct csp_p11u *u, int *found, CK_SLOT_ID *free_slot, int *have_free,
	struct siegel_diag *d)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0;
	CK_RV rv;
	int rc = 0;

	*found = 0;
	if (have_free != NULL)
		*have_free = 0;
	/* Ask for the count, then the list; the list may grow in between. */
	for (;;) {
		rv = u->f->C_GetSlotList(CK_TRUE, NULL, &n);
		if (rv != CKR_OK) {
			rc = csp_p11u_fail(u, d, rv, "C_GetSlotList", NULL);
			goto out;
		}
		free(slots);
		slots = calloc(n ? n : 1, sizeof(*slots));
		if (slots == NULL)
			return siegel_fail(d, SIEGEL_E_NOMEM, "PKCS#11 slot list: out of memory");
		rv = u->f->C_GetSlotList(CK_TRUE, slots, &n);
		if (rv == CKR_OK)
			break;
		if (rv != CKR_BUFFER_TOO_SMALL) {
			rc = csp_p11u_fail(u, d, rv, "C_GetSlotList", NULL);
			goto out;
		}
	}
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		rv = u->f->C_GetTokenInfo(slots[i], &ti);
		if (rv != CKR_OK)
			continue; /* token vanished or unreadable: not ours */
		if (ti.flags & CKF_TOKEN_INITIALIZED) {
			if (!*found && memcmp(ti.label, u->label, CSP_P11U_LABEL_LEN) == 0) {
				*found = 1;
				u->slot = slots[i];
			}
		} else if (free_slot != NULL && have_free != NULL && !*have_free) {
			*have_free = 1;
			*free_slot = slots[i];
		}
	}
out:
	free(slots);
	return rc;
}

int csp_p11u_session_open(struct csp_p11u *u, struct siegel_diag *d)
{
	CK_RV rv = u->f->C_OpenSession(u->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
		&u->sess);
	if (rv != CKR_OK)
		return csp_p11u_fail(u, d, rv, "C_OpenSession", u->label_str);
	u->have_sess = 1;
	return 0;
}

void csp_p11u_session_close(struct csp_p11u *u)
{
	if (u->have_sess)
		(void)u->f->C_CloseSession(u->sess);
	u->have_sess = 0;
	u->sess = CK_INVALID_HANDLE;
}

/* ---- objects ---- */

int csp_p11u_attr_get(uint8_t **out, size_t *out_len, struct csp_p11u *u, CK_OBJECT_HANDLE h,
	CK_ATTRIBUTE_TYPE type, const char *what, struct siegel_diag *d)
{
	/* First call for the length, second for the value. */
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv = u->f->C_GetAttributeValue(u->sess, h, &a, 1);
	if (rv != CKR_OK)
		return csp_p11u_fail(u, d, rv, "C_GetAttributeValue", what);
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > CSP_P11U_MAX_ATTR)
		return siegel_fail(d, SIEGEL_E_PKCS11,
			"PKCS#11 %s: attribute 0x%lx unavailable or too long", what ? what : "object",
			(unsigned long)type);
	uint8_t *buf = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (buf == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "PKCS#11 %s: out of memory",
			what ? what : "attribute");
	a.pValue = buf;
	rv = u->f->C_GetAttributeValue(u->sess, h, &a, 1);
	if (rv != CKR_OK) {
		free(buf);
		return csp_p11u_fail(u, d, rv, "C_GetAttributeValue", what);
	}
	*out = buf;
	*out_len = a.ulValueLen;
	return 0;
}

int csp_p11u_attr_bool(int *out, struct csp_p11u *u, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
	const char *what, struct siegel_diag *d)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };
	CK_RV rv = u->f->C_GetAttributeValue(u->sess, h, &a, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID) {
		*out = 0;
		return 0;
	}
	if (rv != CKR_OK)
		return csp_p11u_fail(u, d, rv, "C_GetAttributeValue", what);
	*out = v == CK_TRUE;
	return 0;
}

int csp_p11u_attr_ulong(CK_ULONG *out, struct csp_p11u *u, CK_OBJECT_HANDLE h,
	CK_ATTRIBUTE_TYPE type, const char *what, struct siegel_diag *d)
{
	CK_ULONG v = 0;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };
	CK_RV rv = u->f->C_GetAttributeValue(u->sess, h, &a, 1);
	if (rv != CKR_OK)
		return csp_p11u_fail(u, d, rv, "C_GetAttributeValue", what);
	*out = v;
	return 0;
}

CK_OBJECT_HANDLE csp_p11u_session_copy(struct csp_p11u *u, CK_OBJECT_HANDLE h)
{
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE t[1] = { { CKA_TOKEN, &no, sizeof(no) } };
	CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
	if (u->f->C_CopyObject(u->sess, h, t, 1, &copy) != CKR_OK || copy == CK_INVALID_HANDLE)
		return h;
	return copy;
}

int csp_p11u_find_objects(CK_OBJECT_HANDLE *hs, CK_ULONG max, CK_ULONG *n, struct csp_p11u *u,
	CK_OBJECT_CLASS cls, const char *label, const uint8_t *id, size_t id_len,
	struct siegel_diag *d)
{
	CK_ATTRIBUTE tmpl[3];
	CK_ULONG nt = 0;
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	if (label != NULL)
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	if (id_len > 0)
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, id_len };
	const char *what = label != NULL ? label : "(by CKA_ID)";
	CK_RV rv = u->f->C_FindObjectsInit(u->sess, tmpl, nt);
	if (rv != CKR_OK)
		return csp_p11u_fail(u, d, rv, "C_FindObjectsInit", what);
	*n = 0;
	rv = u->f->C_FindObjects(u->sess, hs, max, n);
	CK_RV rv2 = u->f->C_FindObjectsFinal(u->sess);
	if (rv != CKR_OK)
		return csp_p11u_fail(u, d, rv, "C_FindObjects", what);
	if (rv2 != CKR_OK)
		return csp_p11u_fail(u, d, rv2, "C_FindObjectsFinal", what);
	return 0;
}

/* ---- EC keys ---- */

const struct alg_info *csp_p11u_curve_of(const uint8_t *params, size_t len)
{
	static const enum siegel_alg all[] = { SIEGEL_ALG_P256_SHA256, SIEGEL_ALG_P384_SHA384,
		SIEGEL_ALG_BP256_SHA256, SIEGEL_ALG_BP384_SHA384 };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const struct alg_info *ai = alg_get(all[i]);
		if (ai != NULL && ai->curve_oid_der_len == len &&
		    memcmp(ai->curve_oid_der, params, len) == 0)
			return ai;
	}
	return NULL;
}

int csp_p11u_ec_point(uint8_t *pub, size_t *pub_len, const uint8_t *v, size_t n,
	size_t field_len)
{
	size_t want = 1 + 2 * field_len;
	if (n == want && v[0] == 0x04) {
		memcpy(pub, v, n);
		*pub_len = n;
		return 0;
	}
	if (n < 2 || v[0] != 0x04)
		return SIEGEL_E_PARSE;
	size_t len, hdr;
	if (v[1] < 0x80) {
		len = v[1];
		hdr = 2;
	} else if (v[1] == 0x81 && n >= 3 && v[2] >= 0x80) {
		len = v[2];
		hdr = 3;
	} else {
		return SIEGEL_E_PARSE;
	}
	if (hdr + len != n || len != want || v[hdr] != 0x04)
		return SIEGEL_E_PARSE;
	memcpy(pub, v + hdr, len);
	*pub_len = len;
	return 0;
}
