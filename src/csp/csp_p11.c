/* csp_p11: keys in a PKCS#11 token (SoftHSM2 by default, any module works).
 * One csp_p11 = one loaded module, one R/W session logged in as user on one
 * token, guarded by a mutex. Messages are hashed in software with the key's
 * algorithm; the token computes CKM_ECDSA over the digest and returns plain
 * r||s (PKCS#11 v2.40 §2.3.6), which is exactly the TR-03111 format. */
#include "csp/csp.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#define P11_LABEL_LEN 32        /* CK_TOKEN_INFO.label, blank padded */
#define P11_MAX_PIN 256
#define P11_MAX_ATTR 4096       /* upper bound for the attributes we read */
#define P11_ID_LEN 16           /* CKA_ID = first bytes of the serial number */

struct csp_p11 {
	pthread_mutex_t mu;         /* guards everything below after open */
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	int owns_init;              /* we called C_Initialize, so we C_Finalize */
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE sess;
	int have_sess;
	unsigned long gen;          /* bumped whenever the session is re-opened */
	unsigned char label[P11_LABEL_LEN];
	char label_str[P11_LABEL_LEN + 1];
	char *pin;                  /* siegel_secmem, NUL-terminated */
	size_t pin_cap;
	size_t pin_len;
	CK_RV last_rv;              /* of the last failed PKCS#11 call */
	struct siegel_diag last_err; /* of the last failed sign */
};

struct p11_key {
	struct csp_p11 *p;          /* borrowed: close p after releasing its keys */
	CK_OBJECT_HANDLE priv;
	unsigned long gen;          /* p->gen when priv was looked up */
	int always_auth;
	int hash_nid;
	size_t field_len;
	char *label;
	uint8_t id[256];
	size_t id_len;
};

static const char *rv_name(CK_RV rv, char *buf, size_t n)
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

/* The siegel error a PKCS#11 failure maps to. */
static int rv_err(CK_RV rv)
{
	switch (rv) {
	case CKR_PIN_INCORRECT:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_INVALID:
	case CKR_PIN_EXPIRED:
		return SIEGEL_E_AUTH_FAILED;
	case CKR_PIN_LOCKED:
		return SIEGEL_E_PIN_BLOCKED;
	case CKR_HOST_MEMORY:
	case CKR_DEVICE_MEMORY:
		return SIEGEL_E_NOMEM;
	default:
		return SIEGEL_E_PKCS11;
	}
}

/* Records rv, sets "<what>: <fn>: CKR_..." and returns the mapped error. */
static int p11_fail(struct csp_p11 *p, struct siegel_diag *d, CK_RV rv, const char *fn,
	const char *what)
{
	char buf[32];
	p->last_rv = rv;
	if (what != NULL)
		siegel_diag_set(d, "PKCS#11 %s: %s: %s", what, fn, rv_name(rv, buf, sizeof(buf)));
	else
		siegel_diag_set(d, "PKCS#11 %s: %s", fn, rv_name(rv, buf, sizeof(buf)));
	return rv_err(rv);
}

/* Return values after which a fresh session (and login) may help. */
static int rv_session_lost(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	       rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_DEVICE_REMOVED ||
	       rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_CRYPTOKI_NOT_INITIALIZED;
}

static int pad_label(unsigned char out[P11_LABEL_LEN], const char *label)
{
	size_t n = label ? strlen(label) : 0;
	if (n == 0 || n > P11_LABEL_LEN)
		return SIEGEL_E_INVAL;
	memset(out, ' ', P11_LABEL_LEN);
	memcpy(out, label, n);
	return 0;
}

/* Finds the initialised token labelled p->label (*found = 1, p->slot set) and
 * the first slot with an uninitialised token (*free_slot, *have_free). */
static int find_slot(struct csp_p11 *p, int *found, CK_SLOT_ID *free_slot, int *have_free,
	struct siegel_diag *d)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0;
	CK_RV rv;
	int rc = 0;

	*found = 0;
	*have_free = 0;
	for (;;) {
		rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n);
		if (rv != CKR_OK)
			return p11_fail(p, d, rv, "C_GetSlotList", NULL);
		free(slots);
		slots = calloc(n ? n : 1, sizeof(*slots));
		if (slots == NULL)
			return siegel_fail(d, SIEGEL_E_NOMEM, "PKCS#11 slot list: out of memory");
		rv = p->f->C_GetSlotList(CK_TRUE, slots, &n);
		if (rv == CKR_OK)
			break;
		if (rv != CKR_BUFFER_TOO_SMALL) {
			rc = p11_fail(p, d, rv, "C_GetSlotList", NULL);
			goto out;
		}
	}
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		rv = p->f->C_GetTokenInfo(slots[i], &ti);
		if (rv != CKR_OK)
			continue; /* token vanished or unreadable: not ours */
		if (ti.flags & CKF_TOKEN_INITIALIZED) {
			if (!*found && memcmp(ti.label, p->label, P11_LABEL_LEN) == 0) {
				*found = 1;
				p->slot = slots[i];
			}
		} else if (!*have_free) {
			*have_free = 1;
			*free_slot = slots[i];
		}
	}
out:
	free(slots);
	return rc;
}

static int token_flags(struct csp_p11 *p, CK_FLAGS *flags, struct siegel_diag *d)
{
	CK_TOKEN_INFO ti;
	CK_RV rv = p->f->C_GetTokenInfo(p->slot, &ti);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_GetTokenInfo", p->label_str);
	*flags = ti.flags;
	return 0;
}

static void session_close(struct csp_p11 *p)
{
	if (p->have_sess)
		(void)p->f->C_CloseSession(p->sess);
	p->have_sess = 0;
	p->sess = CK_INVALID_HANDLE;
}

/* Opens the R/W session on p->slot and logs in as user. */
static int session_open_login(struct csp_p11 *p, struct siegel_diag *d)
{
	CK_RV rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
		&p->sess);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_OpenSession", p->label_str);
	p->have_sess = 1;
	rv = p->f->C_Login(p->sess, CKU_USER, (CK_UTF8CHAR_PTR)p->pin, p->pin_len);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		int rc = p11_fail(p, d, rv, "C_Login", p->label_str);
		session_close(p);
		return rc;
	}
	p->gen++;
	return 0;
}

/* After a session-lost error: re-initialise the module if it was finalised
 * under us, find the token again, open a new session and log in. */
static int session_recover(struct csp_p11 *p, CK_RV why, struct siegel_diag *d)
{
	session_close(p);
	if (why == CKR_CRYPTOKI_NOT_INITIALIZED) {
		CK_C_INITIALIZE_ARGS args;
		memset(&args, 0, sizeof(args));
		args.flags = CKF_OS_LOCKING_OK;
		CK_RV rv = p->f->C_Initialize(&args);
		if (rv == CKR_OK)
			p->owns_init = 1;
		else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
			return p11_fail(p, d, rv, "C_Initialize", "re-initialise after session loss");
	}
	int found = 0, have_free = 0;
	CK_SLOT_ID free_slot = 0;
	int rc = find_slot(p, &found, &free_slot, &have_free, d);
	if (rc)
		return rc;
	if (!found)
		return siegel_fail(d, SIEGEL_E_NOTFOUND, "PKCS#11: token \"%s\" is gone", p->label_str);
	return session_open_login(p, d);
}

/* Initialises a fresh token in free_slot and sets the user PIN. */
static int token_create(struct csp_p11 *p, CK_SLOT_ID free_slot, const char *so_pin,
	struct siegel_diag *d)
{
	CK_RV rv = p->f->C_InitToken(free_slot, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), p->label);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_InitToken", p->label_str);
	/* SoftHSM2 moves an initialised token to a new slot id: look again. */
	int found = 0, have_free = 0;
	int rc = find_slot(p, &found, &free_slot, &have_free, d);
	if (rc)
		return rc;
	if (!found)
		return siegel_fail(d, SIEGEL_E_PKCS11,
			"PKCS#11: token \"%s\" not visible after C_InitToken", p->label_str);
	return 0;
}

static int user_pin_init(struct csp_p11 *p, const char *so_pin, struct siegel_diag *d)
{
	CK_SESSION_HANDLE s;
	CK_RV rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_OpenSession", p->label_str);
	int rc = 0;
	rv = p->f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin));
	if (rv != CKR_OK) {
		rc = p11_fail(p, d, rv, "C_Login(SO)", p->label_str);
		goto out;
	}
	rv = p->f->C_InitPIN(s, (CK_UTF8CHAR_PTR)p->pin, p->pin_len);
	if (rv != CKR_OK)
		rc = p11_fail(p, d, rv, "C_InitPIN", p->label_str);
	(void)p->f->C_Logout(s);
out:
	(void)p->f->C_CloseSession(s);
	return rc;
}

int csp_p11_open(struct csp_p11 **out, const struct csp_p11_config *cfg, struct siegel_diag *d)
{
	if (out == NULL || cfg == NULL || cfg->module_path == NULL || cfg->user_pin == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "PKCS#11: no module path or user PIN");
	size_t pin_len = strlen(cfg->user_pin);
	if (pin_len == 0 || pin_len >= P11_MAX_PIN)
		return siegel_fail(d, SIEGEL_E_INVAL, "PKCS#11: user PIN must be 1..%d bytes",
			P11_MAX_PIN - 1);
	if (cfg->create_token && (cfg->so_pin == NULL || cfg->so_pin[0] == 0))
		return siegel_fail(d, SIEGEL_E_INVAL, "PKCS#11: create_token needs an SO PIN");

	struct csp_p11 *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "PKCS#11: out of memory");
	int rc = SIEGEL_E_INVAL;
	int mu_ok = 0;
	if (pad_label(p->label, cfg->token_label) != 0) {
		siegel_diag_set(d, "PKCS#11: token label must be 1..%d bytes", P11_LABEL_LEN);
		goto fail;
	}
	snprintf(p->label_str, sizeof(p->label_str), "%s", cfg->token_label);
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		rc = siegel_fail(d, SIEGEL_E_NOMEM, "PKCS#11: cannot create mutex");
		goto fail;
	}
	mu_ok = 1;
	p->pin_cap = pin_len + 1;
	p->pin = siegel_secmem_alloc(p->pin_cap);
	if (p->pin == NULL) {
		rc = siegel_fail(d, SIEGEL_E_NOMEM, "PKCS#11: out of memory for the PIN");
		goto fail;
	}
	memcpy(p->pin, cfg->user_pin, pin_len);
	p->pin_len = pin_len;

	/* RTLD_NODELETE: many modules (SoftHSM2 included) keep OpenSSL or thread
	 * state alive past C_Finalize, unloading them is not safe. */
	p->dl = dlopen(cfg->module_path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (p->dl == NULL) {
		const char *e = dlerror();
		rc = siegel_fail(d, SIEGEL_E_IO, "PKCS#11 module %s: %s", cfg->module_path,
			e ? e : "dlopen failed");
		goto fail;
	}
	CK_C_GetFunctionList gfl;
	*(void **)&gfl = dlsym(p->dl, "C_GetFunctionList");
	if (gfl == NULL) {
		rc = siegel_fail(d, SIEGEL_E_PKCS11, "PKCS#11 module %s: no C_GetFunctionList",
			cfg->module_path);
		goto fail;
	}
	CK_RV rv = gfl(&p->f);
	if (rv != CKR_OK || p->f == NULL) {
		rc = p11_fail(p, d, rv != CKR_OK ? rv : CKR_GENERAL_ERROR, "C_GetFunctionList",
			cfg->module_path);
		p->f = NULL;
		goto fail;
	}
	CK_C_INITIALIZE_ARGS args;
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = p->f->C_Initialize(&args);
	if (rv == CKR_OK) {
		p->owns_init = 1;
	} else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		rc = p11_fail(p, d, rv, "C_Initialize", cfg->module_path);
		goto fail;
	}

	int found = 0, have_free = 0;
	CK_SLOT_ID free_slot = 0;
	rc = find_slot(p, &found, &free_slot, &have_free, d);
	if (rc)
		goto fail;
	if (!found) {
		if (!cfg->create_token) {
			rc = siegel_fail(d, SIEGEL_E_NOTFOUND, "PKCS#11: no token labelled \"%s\" in %s",
				p->label_str, cfg->module_path);
			goto fail;
		}
		if (!have_free) {
			rc = siegel_fail(d, SIEGEL_E_NOTFOUND,
				"PKCS#11: no token \"%s\" and no uninitialised token to create it in %s",
				p->label_str, cfg->module_path);
			goto fail;
		}
		rc = token_create(p, free_slot, cfg->so_pin, d);
		if (rc)
			goto fail;
	}
	CK_FLAGS tflags = 0;
	rc = token_flags(p, &tflags, d);
	if (rc)
		goto fail;
	if (!(tflags & CKF_USER_PIN_INITIALIZED)) {
		if (!cfg->create_token) {
			rc = siegel_fail(d, SIEGEL_E_STATE,
				"PKCS#11: token \"%s\" has no user PIN (CKF_USER_PIN_INITIALIZED unset)",
				p->label_str);
			goto fail;
		}
		rc = user_pin_init(p, cfg->so_pin, d);
		if (rc)
			goto fail;
	}
	rc = session_open_login(p, d);
	if (rc)
		goto fail;
	*out = p;
	return 0;
fail:
	if (p->f != NULL && p->owns_init)
		(void)p->f->C_Finalize(NULL);
	if (p->dl != NULL)
		dlclose(p->dl);
	siegel_secmem_free(p->pin, p->pin_cap);
	if (mu_ok)
		pthread_mutex_destroy(&p->mu);
	free(p);
	return rc;
}

void csp_p11_close(struct csp_p11 *p)
{
	if (p == NULL)
		return;
	/* No C_Logout: the login state is shared by all sessions of this
	 * process on the token; closing our last session ends it. */
	session_close(p);
	if (p->owns_init)
		(void)p->f->C_Finalize(NULL);
	dlclose(p->dl);
	siegel_secmem_free(p->pin, p->pin_cap);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

void csp_p11_last_error(struct csp_p11 *p, struct siegel_diag *d)
{
	if (p == NULL || d == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	*d = p->last_err;
	pthread_mutex_unlock(&p->mu);
}

/* ---- objects ---- */

/* Reads one attribute into a malloc'd buffer (caller frees). */
static int attr_get(uint8_t **out, size_t *out_len, struct csp_p11 *p, CK_OBJECT_HANDLE h,
	CK_ATTRIBUTE_TYPE type, const char *what, struct siegel_diag *d)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv = p->f->C_GetAttributeValue(p->sess, h, &a, 1);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_GetAttributeValue", what);
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > P11_MAX_ATTR)
		return siegel_fail(d, SIEGEL_E_PKCS11, "PKCS#11 %s: attribute unavailable or too long",
			what);
	uint8_t *buf = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (buf == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "PKCS#11 %s: out of memory", what);
	a.pValue = buf;
	rv = p->f->C_GetAttributeValue(p->sess, h, &a, 1);
	if (rv != CKR_OK) {
		free(buf);
		return p11_fail(p, d, rv, "C_GetAttributeValue", what);
	}
	*out = buf;
	*out_len = a.ulValueLen;
	return 0;
}

/* A CK_BBOOL attribute; an attribute the object does not have reads as false. */
static int attr_bool(int *out, struct csp_p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
	const char *what, struct siegel_diag *d)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };
	CK_RV rv = p->f->C_GetAttributeValue(p->sess, h, &a, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID) {
		*out = 0;
		return 0;
	}
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_GetAttributeValue", what);
	*out = v == CK_TRUE;
	return 0;
}

/* Finds up to max objects of class with CKA_LABEL label (and CKA_ID id when
 * id_len > 0). */
static int find_objects(CK_OBJECT_HANDLE *hs, CK_ULONG max, CK_ULONG *n, struct csp_p11 *p,
	CK_OBJECT_CLASS cls, const char *label, const uint8_t *id, size_t id_len,
	struct siegel_diag *d)
{
	CK_ATTRIBUTE tmpl[3] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, id_len },
	};
	CK_RV rv = p->f->C_FindObjectsInit(p->sess, tmpl, id_len > 0 ? 3 : 2);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_FindObjectsInit", label);
	*n = 0;
	rv = p->f->C_FindObjects(p->sess, hs, max, n);
	CK_RV rv2 = p->f->C_FindObjectsFinal(p->sess);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_FindObjects", label);
	if (rv2 != CKR_OK)
		return p11_fail(p, d, rv2, "C_FindObjectsFinal", label);
	return 0;
}

/* The name of the curve whose OID DER is params, for messages. */
static const char *curve_name_of(const uint8_t *params, size_t len)
{
	static const enum siegel_alg all[] = { SIEGEL_ALG_P256_SHA256, SIEGEL_ALG_P384_SHA384,
		SIEGEL_ALG_BP256_SHA256, SIEGEL_ALG_BP384_SHA384 };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const struct alg_info *ai = alg_get(all[i]);
		if (ai != NULL && ai->curve_oid_der_len == len &&
		    memcmp(ai->curve_oid_der, params, len) == 0)
			return ai->curve_name;
	}
	return "an unsupported curve";
}

/* CKA_EC_POINT is DER OCTET STRING { 04||X||Y } (PKCS#11 v2.40); some
 * modules return the raw point. Writes the raw point. */
static int ec_point_unwrap(uint8_t *pub, size_t *pub_len, const uint8_t *v, size_t n,
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

static int attr_ulong(CK_ULONG *out, struct csp_p11 *p, CK_OBJECT_HANDLE h,
	CK_ATTRIBUTE_TYPE type, const char *what, struct siegel_diag *d)
{
	CK_ULONG v = 0;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };
	CK_RV rv = p->f->C_GetAttributeValue(p->sess, h, &a, 1);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_GetAttributeValue", what);
	*out = v;
	return 0;
}

/* ---- signing ---- */

/* Looks the private key handle up again after the session changed. */
static int key_refind(struct p11_key *k, struct siegel_diag *d)
{
	CK_OBJECT_HANDLE hs[2];
	CK_ULONG n = 0;
	int rc = find_objects(hs, 2, &n, k->p, CKO_PRIVATE_KEY, k->label, k->id, k->id_len, d);
	if (rc)
		return rc;
	if (n != 1)
		return siegel_fail(d, n == 0 ? SIEGEL_E_NOTFOUND : SIEGEL_E_EXISTS,
			"PKCS#11: private key \"%s\" %s after re-login", k->label,
			n == 0 ? "is gone" : "is no longer unique");
	k->priv = hs[0];
	k->gen = k->p->gen;
	return 0;
}

/* C_SignInit (+ context-specific login) + C_Sign over the digest. */
static int sign_once(struct p11_key *k, uint8_t *sig, CK_ULONG *sig_len, const uint8_t *dig,
	size_t dig_len, struct siegel_diag *d)
{
	struct csp_p11 *p = k->p;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_RV rv = p->f->C_SignInit(p->sess, &mech, k->priv);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_SignInit", k->label);
	if (k->always_auth) {
		rv = p->f->C_Login(p->sess, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)p->pin,
			p->pin_len);
		if (rv != CKR_OK) {
			int rc = p11_fail(p, d, rv, "C_Login(CKU_CONTEXT_SPECIFIC)", k->label);
			/* The signing operation is still active: start over with a
			 * fresh session next time. */
			session_close(p);
			return rc;
		}
	}
	*sig_len = ALG_MAX_SIG;
	rv = p->f->C_Sign(p->sess, (CK_BYTE_PTR)dig, dig_len, sig, sig_len);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_Sign", k->label);
	return 0;
}

static int p11_sign(void *ctx, uint8_t *sig_out, size_t *sig_len, const uint8_t *msg,
	size_t msg_len)
{
	struct p11_key *k = ctx;
	if (k == NULL || sig_out == NULL || sig_len == NULL)
		return SIEGEL_E_INVAL;
	struct csp_p11 *p = k->p;
	uint8_t dig[ALG_MAX_DIGEST];
	size_t dig_len = 0;
	struct siegel_diag d = { { 0 } };
	int rc = alg_digest(dig, &dig_len, k->hash_nid, msg, msg_len);
	if (rc)
		return rc;

	uint8_t sig[ALG_MAX_SIG];
	CK_ULONG slen = 0;
	CK_RV why = CKR_OK;
	pthread_mutex_lock(&p->mu);
	for (int attempt = 0; attempt < 2; attempt++) {
		p->last_rv = CKR_OK;
		rc = 0;
		if (attempt > 0)
			rc = session_recover(p, why, &d);
		else if (!p->have_sess)
			rc = session_recover(p, CKR_SESSION_CLOSED, &d);
		if (rc == 0 && k->gen != p->gen)
			rc = key_refind(k, &d);
		if (rc == 0)
			rc = sign_once(k, sig, &slen, dig, dig_len, &d);
		if (rc == 0 || attempt > 0 ||
		    !(rv_session_lost(p->last_rv) || p->last_rv == CKR_OPERATION_ACTIVE))
			break;
		why = p->last_rv;
	}
	if (rc == 0 && slen != 2 * k->field_len)
		rc = siegel_fail(&d, SIEGEL_E_PKCS11,
			"PKCS#11 C_Sign(CKM_ECDSA) for \"%s\" returned %lu bytes, want r||s of %zu",
			k->label, (unsigned long)slen, 2 * k->field_len);
	if (rc == 0) {
		memcpy(sig_out, sig, slen);
		*sig_len = slen;
	} else {
		p->last_err = d;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

static void p11_release(void *ctx)
{
	struct p11_key *k = ctx;
	if (k == NULL)
		return;
	free(k->label);
	free(k);
}

static const struct csp_ops p11_ops = {
	.version = 1,
	.name = "pkcs11",
	.sign = p11_sign,
	.release = p11_release,
};

/* ---- key lookup and generation ---- */

/* Generates a token key pair of ai's curve labelled label and sets CKA_ID on
 * both halves to the first P11_ID_LEN bytes of the serial number. */
static int key_generate(struct csp_p11 *p, const char *label, const struct alg_info *ai,
	unsigned flags, struct siegel_diag *d)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_CLASS pub_cls = CKO_PUBLIC_KEY, priv_cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	CK_ULONG label_len = strlen(label);
	CK_ATTRIBUTE pub_t[] = {
		{ CKA_CLASS, &pub_cls, sizeof(pub_cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_EC_PARAMS, (void *)ai->curve_oid_der, ai->curve_oid_der_len },
		{ CKA_LABEL, (void *)label, label_len },
	};
	CK_ATTRIBUTE priv_t[] = {
		{ CKA_CLASS, &priv_cls, sizeof(priv_cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_LABEL, (void *)label, label_len },
		{ CKA_ALWAYS_AUTHENTICATE, &yes, sizeof(yes) }, /* last: only with the flag */
	};
	CK_ULONG n_priv = sizeof(priv_t) / sizeof(priv_t[0]);
	if (!(flags & CSP_P11_ALWAYS_AUTH))
		n_priv--;
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	CK_RV rv = p->f->C_GenerateKeyPair(p->sess, &mech, pub_t, sizeof(pub_t) / sizeof(pub_t[0]),
		priv_t, n_priv, &hpub, &hpriv);
	if (rv != CKR_OK) {
		char what[128];
		snprintf(what, sizeof(what), "%s key \"%s\"", ai->curve_name, label);
		return p11_fail(p, d, rv, "C_GenerateKeyPair", what);
	}

	uint8_t *point = NULL;
	size_t point_len = 0;
	uint8_t pub[ALG_MAX_PUB];
	size_t pub_len = 0;
	uint8_t serial[ALG_SERIAL_LEN];
	int rc = attr_get(&point, &point_len, p, hpub, CKA_EC_POINT, label, d);
	if (rc)
		goto out;
	if (ec_point_unwrap(pub, &pub_len, point, point_len, ai->field_len) != 0) {
		rc = siegel_fail(d, SIEGEL_E_PKCS11,
			"PKCS#11 key \"%s\": generated CKA_EC_POINT is not an uncompressed %s point",
			label, ai->curve_name);
		goto out;
	}
	alg_serial_number(serial, pub, pub_len);
	CK_ATTRIBUTE ida = { CKA_ID, serial, P11_ID_LEN };
	rv = p->f->C_SetAttributeValue(p->sess, hpriv, &ida, 1);
	if (rv == CKR_OK)
		rv = p->f->C_SetAttributeValue(p->sess, hpub, &ida, 1);
	if (rv != CKR_OK)
		rc = p11_fail(p, d, rv, "C_SetAttributeValue(CKA_ID)", label);
out:
	free(point);
	if (rc) {
		(void)p->f->C_DestroyObject(p->sess, hpriv);
		(void)p->f->C_DestroyObject(p->sess, hpub);
	}
	return rc;
}

enum key_mode { KEY_FIND, KEY_FIND_OR_GENERATE, KEY_GENERATE };

/* Opens (and per mode generates) the key; p->mu held. */
static int key_open_locked(struct csp_key *out, struct csp_p11 *p, const char *label,
	const struct alg_info *ai, enum key_mode mode, unsigned flags, struct siegel_diag *d)
{
	CK_OBJECT_HANDLE hs[2];
	CK_ULONG n = 0;
	uint8_t *params = NULL, *id = NULL, *point = NULL, *pparams = NULL;
	size_t params_len = 0, id_len = 0, point_len = 0, pparams_len = 0;
	uint8_t pub[ALG_MAX_PUB];
	size_t pub_len = 0;
	struct p11_key *k = NULL;
	EVP_PKEY *pk = NULL;

	int rc = find_objects(hs, 2, &n, p, CKO_PRIVATE_KEY, label, NULL, 0, d);
	if (rc)
		goto out;
	if (n > 0 && mode == KEY_GENERATE) {
		rc = siegel_fail(d, SIEGEL_E_EXISTS,
			"PKCS#11: a private key labelled \"%s\" already exists on token \"%s\"", label,
			p->label_str);
		goto out;
	}
	if (n > 1) {
		rc = siegel_fail(d, SIEGEL_E_EXISTS,
			"PKCS#11: several private keys labelled \"%s\" on token \"%s\"", label,
			p->label_str);
		goto out;
	}
	if (n == 0) {
		if (mode == KEY_FIND) {
			rc = siegel_fail(d, SIEGEL_E_NOTFOUND,
				"PKCS#11: no private key labelled \"%s\" on token \"%s\"", label,
				p->label_str);
			goto out;
		}
		rc = key_generate(p, label, ai, flags, d);
		if (rc == 0)
			rc = find_objects(hs, 2, &n, p, CKO_PRIVATE_KEY, label, NULL, 0, d);
		if (rc)
			goto out;
		if (n != 1) {
			rc = siegel_fail(d, SIEGEL_E_PKCS11,
				"PKCS#11: generated key \"%s\" found %lu times", label, (unsigned long)n);
			goto out;
		}
	}
	CK_OBJECT_HANDLE priv = hs[0];

	CK_ULONG kt = 0;
	rc = attr_ulong(&kt, p, priv, CKA_KEY_TYPE, label, d);
	if (rc)
		goto out;
	if (kt != CKK_EC) {
		rc = siegel_fail(d, SIEGEL_E_NOTSUP,
			"PKCS#11: key \"%s\" is not an EC key (CKA_KEY_TYPE 0x%lx)", label,
			(unsigned long)kt);
		goto out;
	}
	rc = attr_get(&params, &params_len, p, priv, CKA_EC_PARAMS, label, d);
	if (rc)
		goto out;
	if (params_len != ai->curve_oid_der_len ||
	    memcmp(params, ai->curve_oid_der, params_len) != 0) {
		rc = siegel_fail(d, SIEGEL_E_PARAM,
			"PKCS#11: key \"%s\" is on %s, the requested algorithm needs %s (CKA_EC_PARAMS)",
			label, curve_name_of(params, params_len), ai->curve_name);
		goto out;
	}
	int can_sign = 0, always_auth = 0;
	rc = attr_bool(&can_sign, p, priv, CKA_SIGN, label, d);
	if (rc == 0)
		rc = attr_bool(&always_auth, p, priv, CKA_ALWAYS_AUTHENTICATE, label, d);
	if (rc)
		goto out;
	if (!can_sign) {
		rc = siegel_fail(d, SIEGEL_E_NOTSUP, "PKCS#11: key \"%s\" has CKA_SIGN false", label);
		goto out;
	}
	rc = attr_get(&id, &id_len, p, priv, CKA_ID, label, d);
	if (rc == SIEGEL_E_PKCS11 && p->last_rv == CKR_ATTRIBUTE_TYPE_INVALID) {
		id_len = 0;
		rc = 0;
	}
	if (rc)
		goto out;
	if (id_len > sizeof(k->id))
		id_len = 0; /* absurd id: match the public key by label only */

	/* The public half: same label (and CKA_ID when the key has one). */
	rc = find_objects(hs, 2, &n, p, CKO_PUBLIC_KEY, label, id, id_len, d);
	if (rc == 0 && n == 0 && id_len > 0)
		rc = find_objects(hs, 2, &n, p, CKO_PUBLIC_KEY, label, NULL, 0, d);
	if (rc)
		goto out;
	if (n != 1) {
		rc = siegel_fail(d, n == 0 ? SIEGEL_E_NOTFOUND : SIEGEL_E_EXISTS,
			"PKCS#11: %s public key object labelled \"%s\" on token \"%s\"",
			n == 0 ? "no" : "more than one", label, p->label_str);
		goto out;
	}
	rc = attr_get(&pparams, &pparams_len, p, hs[0], CKA_EC_PARAMS, label, d);
	if (rc)
		goto out;
	if (pparams_len != params_len || memcmp(pparams, params, params_len) != 0) {
		rc = siegel_fail(d, SIEGEL_E_PARAM,
			"PKCS#11: public key \"%s\" is on %s, its private key on %s", label,
			curve_name_of(pparams, pparams_len), ai->curve_name);
		goto out;
	}
	rc = attr_get(&point, &point_len, p, hs[0], CKA_EC_POINT, label, d);
	if (rc)
		goto out;
	if (ec_point_unwrap(pub, &pub_len, point, point_len, ai->field_len) != 0) {
		rc = siegel_fail(d, SIEGEL_E_PARSE,
			"PKCS#11 key \"%s\": CKA_EC_POINT is not an uncompressed %s point "
			"(raw or DER OCTET STRING)", label, ai->curve_name);
		goto out;
	}
	if (alg_pkey_from_point(&pk, ai->curve_nid, pub, pub_len) != 0) {
		rc = siegel_fail(d, SIEGEL_E_CRYPTO,
			"PKCS#11 key \"%s\": CKA_EC_POINT is not a point on %s", label, ai->curve_name);
		goto out;
	}

	k = calloc(1, sizeof(*k));
	if (k == NULL || (k->label = strdup(label)) == NULL) {
		rc = siegel_fail(d, SIEGEL_E_NOMEM, "PKCS#11 key \"%s\": out of memory", label);
		goto out;
	}
	k->p = p;
	k->priv = priv;
	k->gen = p->gen;
	k->always_auth = always_auth;
	k->hash_nid = ai->hash_nid;
	k->field_len = ai->field_len;
	if (id_len > 0)
		memcpy(k->id, id, id_len);
	k->id_len = id_len;

	memset(out, 0, sizeof(*out));
	out->ops = &p11_ops;
	out->ctx = k;
	out->alg = ai->alg;
	memcpy(out->pub, pub, pub_len);
	out->pub_len = pub_len;
	alg_serial_number(out->serial, pub, pub_len);
	k = NULL;
	rc = 0;
out:
	p11_release(k);
	EVP_PKEY_free(pk);
	free(params);
	free(pparams);
	free(id);
	free(point);
	return rc;
}

static int key_open(struct csp_key *out, struct csp_p11 *p, const char *label,
	enum siegel_alg alg, enum key_mode mode, unsigned flags, struct siegel_diag *d)
{
	const struct alg_info *ai = alg_get(alg);
	if (out == NULL || p == NULL || label == NULL || label[0] == 0 || strlen(label) > 255)
		return siegel_fail(d, SIEGEL_E_INVAL, "PKCS#11 key: label must be 1..255 bytes");
	if (ai == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "PKCS#11 key \"%s\": unknown algorithm %d",
			label, (int)alg);

	int rc = 0;
	CK_RV why = CKR_OK;
	pthread_mutex_lock(&p->mu);
	for (int attempt = 0; attempt < 2; attempt++) {
		p->last_rv = CKR_OK;
		rc = 0;
		if (attempt > 0)
			rc = session_recover(p, why, d);
		else if (!p->have_sess)
			rc = session_recover(p, CKR_SESSION_CLOSED, d);
		if (rc == 0)
			rc = key_open_locked(out, p, label, ai, mode, flags, d);
		if (rc == 0 || attempt > 0 || !rv_session_lost(p->last_rv))
			break;
		why = p->last_rv;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int csp_p11_key(struct csp_key *out, struct csp_p11 *p, const char *label, enum siegel_alg alg,
	int generate, struct siegel_diag *d)
{
	return key_open(out, p, label, alg, generate ? KEY_FIND_OR_GENERATE : KEY_FIND, 0, d);
}

int csp_p11_key_generate(struct csp_key *out, struct csp_p11 *p, const char *label,
	enum siegel_alg alg, unsigned flags, struct siegel_diag *d)
{
	if (flags & ~(unsigned)CSP_P11_ALWAYS_AUTH)
		return siegel_fail(d, SIEGEL_E_INVAL, "PKCS#11 key generation: unknown flags 0x%x",
			flags);
	return key_open(out, p, label, alg, KEY_GENERATE, flags, d);
}
