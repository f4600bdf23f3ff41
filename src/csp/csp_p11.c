/* csp_p11: keys in a PKCS#11 token (SoftHSM2 by default, any module works).
 * One csp_p11 = one loaded module, one R/W session logged in as user on one
 * token, guarded by a mutex. Messages are hashed in software with the key's
 * algorithm; the token computes CKM_ECDSA over the digest and returns plain
 * r||s (PKCS#11 v2.40 §2.3.6), which is exactly the TR-03111 format. */
#include "csp/csp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp_p11_util.h"

#define P11_MAX_PIN 256
#define P11_ID_LEN 16           /* CKA_ID = first bytes of the serial number */

struct csp_p11 {
	pthread_mutex_t mu;         /* guards everything below after open */
	struct csp_p11u u;          /* module, token, session; u.last_rv drives retries */
	unsigned long gen;          /* bumped whenever the session is re-opened */
	char *pin;                  /* siegel_secmem, NUL-terminated */
	size_t pin_cap;
	size_t pin_len;
	struct siegel_diag last_err; /* of the last failed sign */
};

struct p11_key {
	struct csp_p11 *p;          /* borrowed: close p after releasing its keys */
	CK_OBJECT_HANDLE priv;
	CK_OBJECT_HANDLE work;      /* what C_SignInit gets: a session copy of priv, or priv */
	unsigned long gen;          /* p->gen when priv was looked up */
	int always_auth;
	int hash_nid;
	size_t field_len;
	char *label;
	uint8_t id[256];
	size_t id_len;
};

/* csp_p11's report of a failed call, "PKCS#11 <what>: <fn>: CKR_...": a PIN
 * failure maps as for every user, and the token running out of memory is
 * SIEGEL_E_NOMEM. (CKR_USER_NOT_LOGGED_IN stays SIEGEL_E_PKCS11: here it means
 * a lost session, which p11_sign recovers from by logging in again.) */
static int p11_report(struct siegel_diag *d, CK_RV rv, const char *fn, const char *what)
{
	char buf[32];
	const char *name = csp_p11u_rv_name(rv, buf, sizeof(buf));
	if (what != NULL)
		siegel_diag_set(d, "PKCS#11 %s: %s: %s", what, fn, name);
	else
		siegel_diag_set(d, "PKCS#11 %s: %s", fn, name);
	if (rv == CKR_HOST_MEMORY || rv == CKR_DEVICE_MEMORY)
		return SIEGEL_E_NOMEM;
	return csp_p11u_rv_err(rv);
}

/* Records rv in p (for the retry decisions) and reports it. */
static int p11_fail(struct csp_p11 *p, struct siegel_diag *d, CK_RV rv, const char *fn,
	const char *what)
{
	return csp_p11u_fail(&p->u, d, rv, fn, what);
}

/* Return values after which a fresh session (and login) may help. */
static int rv_session_lost(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	       rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_DEVICE_REMOVED ||
	       rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_CRYPTOKI_NOT_INITIALIZED;
}

static int token_flags(struct csp_p11 *p, CK_FLAGS *flags, struct siegel_diag *d)
{
	CK_TOKEN_INFO ti;
	CK_RV rv = p->u.f->C_GetTokenInfo(p->u.slot, &ti);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_GetTokenInfo", p->u.label_str);
	*flags = ti.flags;
	return 0;
}

/* Opens the R/W session on p->u.slot and logs in as user. */
static int session_open_login(struct csp_p11 *p, struct siegel_diag *d)
{
	int rc = csp_p11u_session_open(&p->u, d);
	if (rc)
		return rc;
	CK_RV rv = p->u.f->C_Login(p->u.sess, CKU_USER, (CK_UTF8CHAR_PTR)p->pin, p->pin_len);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		rc = p11_fail(p, d, rv, "C_Login", p->u.label_str);
		csp_p11u_session_close(&p->u);
		return rc;
	}
	p->gen++;
	return 0;
}

/* After a session-lost error: re-initialise the module if it was finalised
 * under us, find the token again, open a new session and log in. */
static int session_recover(struct csp_p11 *p, CK_RV why, struct siegel_diag *d)
{
	csp_p11u_session_close(&p->u);
	int rc = 0;
	if (why == CKR_CRYPTOKI_NOT_INITIALIZED)
		rc = csp_p11u_initialize(&p->u, "re-initialise after session loss", d);
	int found = 0;
	if (rc == 0)
		rc = csp_p11u_find_slot(&p->u, &found, NULL, NULL, d);
	if (rc)
		return rc;
	if (!found)
		return siegel_fail(d, SIEGEL_E_NOTFOUND, "PKCS#11: token \"%s\" is gone", p->u.label_str);
	return session_open_login(p, d);
}

/* Starts try number attempt (0 or 1) of an operation under p->mu: clears the
 * recorded rv, and recovers the session when the first try lost it (why) or
 * when there is none open. */
static int attempt_begin(struct csp_p11 *p, int attempt, CK_RV why, struct siegel_diag *d)
{
	p->u.last_rv = CKR_OK;
	if (attempt > 0)
		return session_recover(p, why, d);
	if (!p->u.have_sess)
		return session_recover(p, CKR_SESSION_CLOSED, d);
	return 0;
}

/* Initialises a fresh token in free_slot and sets the user PIN. */
static int token_create(struct csp_p11 *p, CK_SLOT_ID free_slot, const char *so_pin,
	struct siegel_diag *d)
{
	CK_RV rv = p->u.f->C_InitToken(free_slot, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), p->u.label);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_InitToken", p->u.label_str);
	/* SoftHSM2 moves an initialised token to a new slot id: look again. */
	int found = 0;
	int rc = csp_p11u_find_slot(&p->u, &found, NULL, NULL, d);
	if (rc)
		return rc;
	if (!found)
		return siegel_fail(d, SIEGEL_E_PKCS11,
			"PKCS#11: token \"%s\" not visible after C_InitToken", p->u.label_str);
	return 0;
}

static int user_pin_init(struct csp_p11 *p, const char *so_pin, struct siegel_diag *d)
{
	CK_SESSION_HANDLE s;
	CK_RV rv = p->u.f->C_OpenSession(p->u.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
		&s);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_OpenSession", p->u.label_str);
	int rc = 0;
	rv = p->u.f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin));
	if (rv != CKR_OK) {
		rc = p11_fail(p, d, rv, "C_Login(SO)", p->u.label_str);
		goto out;
	}
	rv = p->u.f->C_InitPIN(s, (CK_UTF8CHAR_PTR)p->pin, p->pin_len);
	if (rv != CKR_OK)
		rc = p11_fail(p, d, rv, "C_InitPIN", p->u.label_str);
	(void)p->u.f->C_Logout(s);
out:
	(void)p->u.f->C_CloseSession(s);
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
	p->u.fail = p11_report;
	int mu_ok = 0;
	int rc = csp_p11u_set_label(&p->u, cfg->token_label, d);
	if (rc)
		goto fail;
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

	rc = csp_p11u_load(&p->u, cfg->module_path, d);
	if (rc)
		goto fail;

	int found = 0, have_free = 0;
	CK_SLOT_ID free_slot = 0;
	rc = csp_p11u_find_slot(&p->u, &found, &free_slot, &have_free, d);
	if (rc)
		goto fail;
	if (!found) {
		if (!cfg->create_token) {
			rc = siegel_fail(d, SIEGEL_E_NOTFOUND, "PKCS#11: no token labelled \"%s\" in %s",
				p->u.label_str, cfg->module_path);
			goto fail;
		}
		if (!have_free) {
			rc = siegel_fail(d, SIEGEL_E_NOTFOUND,
				"PKCS#11: no token \"%s\" and no uninitialised token to create it in %s",
				p->u.label_str, cfg->module_path);
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
				p->u.label_str);
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
	csp_p11u_unload(&p->u);
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
	csp_p11u_session_close(&p->u);
	csp_p11u_unload(&p->u);
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

/* The name of the curve whose OID DER is params, for messages. */
static const char *curve_name_of(const uint8_t *params, size_t len)
{
	const struct alg_info *ai = csp_p11u_curve_of(params, len);
	return ai != NULL ? ai->curve_name : "an unsupported curve";
}

/* ---- signing ---- */

/* A key without CKA_ALWAYS_AUTHENTICATE signs through a session copy of
 * itself (csp_p11u_session_copy); the copy dies with the session. */
static void key_work_handle(struct p11_key *k)
{
	k->work = k->always_auth ? k->priv : csp_p11u_session_copy(&k->p->u, k->priv);
}

/* Looks the private key handle up again after the session changed. */
static int key_refind(struct p11_key *k, struct siegel_diag *d)
{
	CK_OBJECT_HANDLE hs[2];
	CK_ULONG n = 0;
	int rc = csp_p11u_find_objects(hs, 2, &n, &k->p->u, CKO_PRIVATE_KEY, k->label, k->id,
		k->id_len, d);
	if (rc)
		return rc;
	if (n != 1)
		return siegel_fail(d, n == 0 ? SIEGEL_E_NOTFOUND : SIEGEL_E_EXISTS,
			"PKCS#11: private key \"%s\" %s after re-login", k->label,
			n == 0 ? "is gone" : "is no longer unique");
	k->priv = hs[0];
	k->gen = k->p->gen;
	key_work_handle(k);
	return 0;
}

/* C_SignInit (+ context-specific login) + C_Sign over the digest. */
static int sign_once(struct p11_key *k, uint8_t *sig, CK_ULONG *sig_len, const uint8_t *dig,
	size_t dig_len, struct siegel_diag *d)
{
	struct csp_p11 *p = k->p;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_RV rv = p->u.f->C_SignInit(p->u.sess, &mech, k->work);
	if (rv != CKR_OK)
		return p11_fail(p, d, rv, "C_SignInit", k->label);
	if (k->always_auth) {
		rv = p->u.f->C_Login(p->u.sess, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)p->pin,
			p->pin_len);
		if (rv != CKR_OK) {
			int rc = p11_fail(p, d, rv, "C_Login(CKU_CONTEXT_SPECIFIC)", k->label);
			/* The signing operation is still active: start over with a
			 * fresh session next time. */
			csp_p11u_session_close(&p->u);
			return rc;
		}
	}
	*sig_len = ALG_MAX_SIG;
	rv = p->u.f->C_Sign(p->u.sess, (CK_BYTE_PTR)dig, dig_len, sig, sig_len);
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
		rc = attempt_begin(p, attempt, why, &d);
		if (rc == 0 && k->gen != p->gen)
			rc = key_refind(k, &d);
		if (rc == 0)
			rc = sign_once(k, sig, &slen, dig, dig_len, &d);
		if (rc == 0 || attempt > 0 ||
		    !(rv_session_lost(p->u.last_rv) || p->u.last_rv == CKR_OPERATION_ACTIVE))
			break;
		why = p->u.last_rv;
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
	struct csp_p11 *p = k->p;
	pthread_mutex_lock(&p->mu);
	if (k->work != k->priv && k->gen == p->gen && p->u.have_sess)
		(void)p->u.f->C_DestroyObject(p->u.sess, k->work);
	pthread_mutex_unlock(&p->mu);
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
	CK_RV rv = p->u.f->C_GenerateKeyPair(p->u.sess, &mech, pub_t, sizeof(pub_t) / sizeof(pub_t[0]),
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
	int rc = csp_p11u_attr_get(&point, &point_len, &p->u, hpub, CKA_EC_POINT, label, d);
	if (rc)
		goto out;
	if (csp_p11u_ec_point(pub, &pub_len, point, point_len, ai->field_len) != 0) {
		rc = siegel_fail(d, SIEGEL_E_PKCS11,
			"PKCS#11 key \"%s\": generated CKA_EC_POINT is not an uncompressed %s point",
			label, ai->curve_name);
		goto out;
	}
	alg_serial_number(serial, pub, pub_len);
	CK_ATTRIBUTE ida = { CKA_ID, serial, P11_ID_LEN };
	rv = p->u.f->C_SetAttributeValue(p->u.sess, hpriv, &ida, 1);
	if (rv == CKR_OK)
		rv = p->u.f->C_SetAttributeValue(p->u.sess, hpub, &ida, 1);
	if (rv != CKR_OK)
		rc = p11_fail(p, d, rv, "C_SetAttributeValue(CKA_ID)", label);
out:
	free(point);
	if (rc) {
		(void)p->u.f->C_DestroyObject(p->u.sess, hpriv);
		(void)p->u.f->C_DestroyObject(p->u.sess, hpub);
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

	int rc = csp_p11u_find_objects(hs, 2, &n, &p->u, CKO_PRIVATE_KEY, label, NULL, 0, d);
	if (rc)
		goto out;
	if (n > 0 && mode == KEY_GENERATE) {
		rc = siegel_fail(d, SIEGEL_E_EXISTS,
			"PKCS#11: a private key labelled \"%s\" already exists on token \"%s\"", label,
			p->u.label_str);
		goto out;
	}
	if (n > 1) {
		rc = siegel_fail(d, SIEGEL_E_EXISTS,
			"PKCS#11: several private keys labelled \"%s\" on token \"%s\"", label,
			p->u.label_str);
		goto out;
	}
	if (n == 0) {
		if (mode == KEY_FIND) {
			rc = siegel_fail(d, SIEGEL_E_NOTFOUND,
				"PKCS#11: no private key labelled \"%s\" on token \"%s\"", label,
				p->u.label_str);
			goto out;
		}
		rc = key_generate(p, label, ai, flags, d);
		if (rc == 0)
			rc = csp_p11u_find_objects(hs, 2, &n, &p->u, CKO_PRIVATE_KEY, label, NULL, 0, d);
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
	rc = csp_p11u_attr_ulong(&kt, &p->u, priv, CKA_KEY_TYPE, label, d);
	if (rc)
		goto out;
	if (kt != CKK_EC) {
		rc = siegel_fail(d, SIEGEL_E_NOTSUP,
			"PKCS#11: key \"%s\" is not an EC key (CKA_KEY_TYPE 0x%lx)", label,
			(unsigned long)kt);
		goto out;
	}
	rc = csp_p11u_attr_get(&params, &params_len, &p->u, priv, CKA_EC_PARAMS, label, d);
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
	rc = csp_p11u_attr_bool(&can_sign, &p->u, priv, CKA_SIGN, label, d);
	if (rc == 0)
		rc = csp_p11u_attr_bool(&always_auth, &p->u, priv, CKA_ALWAYS_AUTHENTICATE, label, d);
	if (rc)
		goto out;
	if (!can_sign) {
		rc = siegel_fail(d, SIEGEL_E_NOTSUP, "PKCS#11: key \"%s\" has CKA_SIGN false", label);
		goto out;
	}
	rc = csp_p11u_attr_get(&id, &id_len, &p->u, priv, CKA_ID, label, d);
	if (rc == SIEGEL_E_PKCS11 && p->u.last_rv == CKR_ATTRIBUTE_TYPE_INVALID) {
		id_len = 0;
		rc = 0;
	}
	if (rc)
		goto out;
	if (id_len > sizeof(k->id))
		id_len = 0; /* absurd id: match the public key by label only */

	/* The public half: same label (and CKA_ID when the key has one). */
	rc = csp_p11u_find_objects(hs, 2, &n, &p->u, CKO_PUBLIC_KEY, label, id, id_len, d);
	if (rc == 0 && n == 0 && id_len > 0)
		rc = csp_p11u_find_objects(hs, 2, &n, &p->u, CKO_PUBLIC_KEY, label, NULL, 0, d);
	if (rc)
		goto out;
	if (n != 1) {
		rc = siegel_fail(d, n == 0 ? SIEGEL_E_NOTFOUND : SIEGEL_E_EXISTS,
			"PKCS#11: %s public key object labelled \"%s\" on token \"%s\"",
			n == 0 ? "no" : "more than one", label, p->u.label_str);
		goto out;
	}
	rc = csp_p11u_attr_get(&pparams, &pparams_len, &p->u, hs[0], CKA_EC_PARAMS, label, d);
	if (rc)
		goto out;
	if (pparams_len != params_len || memcmp(pparams, params, params_len) != 0) {
		rc = siegel_fail(d, SIEGEL_E_PARAM,
			"PKCS#11: public key \"%s\" is on %s, its private key on %s", label,
			curve_name_of(pparams, pparams_len), ai->curve_name);
		goto out;
	}
	rc = csp_p11u_attr_get(&point, &point_len, &p->u, hs[0], CKA_EC_POINT, label, d);
	if (rc)
		goto out;
	if (csp_p11u_ec_point(pub, &pub_len, point, point_len, ai->field_len) != 0) {
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
	key_work_handle(k);
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
		rc = attempt_begin(p, attempt, why, d);
		if (rc == 0)
			rc = key_open_locked(out, p, label, ai, mode, flags, d);
		if (rc == 0 || attempt > 0 || !rv_session_lost(p->u.last_rv))
			break;
		why = p->u.last_rv;
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
