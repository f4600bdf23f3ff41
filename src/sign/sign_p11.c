/* sign_p11: PKCS#11 for document signing. Unlike csp_p11 (a service key that
 * stays logged in with a stored PIN), this session never keeps a PIN: the
 * caller logs in and out explicitly and passes the PIN for each context-
 * specific login, so a batch can bound the signatures per authentication and
 * reset the authorization afterwards (TR-03114 2.1). Nothing here recovers a
 * lost session by itself: a lost session is a fault of the batch. The module,
 * token and attribute mechanics are csp_p11_util's, shared with csp_p11. */
#include "sign/sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include "alg/alg.h"
#include "csp/csp_p11_util.h"

/* Module, token and session; no PIN is ever stored here. */
struct sign_p11 {
	struct csp_p11u u;
};

/* sign_p11's report of a failed call, "PKCS#11 <fn> <what>: CKR_...". Logins
 * are explicit here, so CKR_USER_NOT_LOGGED_IN is the caller's missing login
 * (SIEGEL_E_UNAUTHENTICATED), not a session to recover. */
static int p11_fail(struct siegel_diag *d, CK_RV rv, const char *fn, const char *what)
{
	char buf[32];
	siegel_diag_set(d, "PKCS#11 %s%s%s: %s", fn, what ? " " : "", what ? what : "",
		csp_p11u_rv_name(rv, buf, sizeof(buf)));
	if (rv == CKR_USER_NOT_LOGGED_IN)
		return SIEGEL_E_UNAUTHENTICATED;
	return csp_p11u_rv_err(rv);
}

int sign_p11_open(struct sign_p11 **out, const char *module_path, const char *token_label,
	struct siegel_diag *d)
{
	if (out == NULL || module_path == NULL || token_label == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "PKCS#11: module path and token label needed");
	struct sign_p11 *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "PKCS#11: out of memory");
	p->u.fail = p11_fail;
	int found = 0;
	int rc = csp_p11u_set_label(&p->u, token_label, d);
	if (rc == 0)
		rc = csp_p11u_load(&p->u, module_path, d);
	if (rc == 0)
		rc = csp_p11u_find_slot(&p->u, &found, NULL, NULL, d);
	if (rc == 0 && !found)
		rc = siegel_fail(d, SIEGEL_E_NOTFOUND, "PKCS#11: no token labelled \"%s\" in %s",
			token_label, module_path);
	if (rc == 0)
		rc = csp_p11u_session_open(&p->u, d);
	if (rc) {
		csp_p11u_unload(&p->u);
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void sign_p11_close(struct sign_p11 *p)
{
	if (p == NULL)
		return;
	if (p->u.have_sess)
		(void)p->u.f->C_Logout(p->u.sess);
	csp_p11u_session_close(&p->u);
	csp_p11u_unload(&p->u);
	free(p);
}

int sign_p11_login(struct sign_p11 *p, const char *pin, size_t pin_len, struct siegel_diag *d)
{
	if (p == NULL || !p->u.have_sess)
		return siegel_fail(d, SIEGEL_E_STATE, "PKCS#11: no session");
	if (pin == NULL || pin_len == 0 || pin_len > SIGN_MAX_PIN)
		return siegel_fail(d, SIEGEL_E_AUTH_FAILED, "PKCS#11: PIN must be 1..%d bytes",
			SIGN_MAX_PIN);
	CK_RV rv = p->u.f->C_Login(p->u.sess, CKU_USER, (CK_UTF8CHAR_PTR)pin, pin_len);
	if (rv != CKR_OK)
		return p11_fail(d, rv, "C_Login(CKU_USER)", p->u.label_str);
	return 0;
}

int sign_p11_logout(struct sign_p11 *p, struct siegel_diag *d)
{
	if (p == NULL || !p->u.have_sess)
		return 0;
	CK_RV rv = p->u.f->C_Logout(p->u.sess);
	if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN)
		return p11_fail(d, rv, "C_Logout", p->u.label_str);
	return 0;
}

int sign_p11_logged_in(struct sign_p11 *p)
{
	if (p == NULL || !p->u.have_sess)
		return 0;
	CK_SESSION_INFO si;
	if (p->u.f->C_GetSessionInfo(p->u.sess, &si) != CKR_OK)
		return 0;
	return si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS ||
	       si.state == CKS_RW_SO_FUNCTIONS;
}

int sign_p11_find_key(struct sign_p11_key *out, struct sign_p11 *p, const char *label,
	const uint8_t *id, size_t id_len, struct siegel_diag *d)
{
	if (out == NULL || p == NULL || (label == NULL && id_len == 0))
		return siegel_fail(d, SIEGEL_E_INVAL, "PKCS#11 key: label or id needed");
	const char *what = label != NULL ? label : "(by CKA_ID)";
	CK_OBJECT_HANDLE hs[2];
	CK_ULONG n = 0;
	int rc = csp_p11u_find_objects(hs, 2, &n, &p->u, CKO_PRIVATE_KEY, label, id, id_len, d);
	if (rc)
		return rc;
	if (n != 1)
		return siegel_fail(d, n == 0 ? SIEGEL_E_NOTFOUND : SIEGEL_E_EXISTS,
			"PKCS#11: %s private key %s on token \"%s\"%s", n == 0 ? "no" : "more than one",
			what, p->u.label_str, n == 0 ? " (logged in?)" : "");
	memset(out, 0, sizeof(*out));
	out->handle = hs[0];
	snprintf(out->label, sizeof(out->label), "%s", what);
	CK_KEY_TYPE kt = 0;
	CK_BBOOL aa = CK_FALSE, can_sign = CK_FALSE;
	CK_ATTRIBUTE a[3] = {
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_SIGN, &can_sign, sizeof(can_sign) },
		{ CKA_ALWAYS_AUTHENTICATE, &aa, sizeof(aa) },
	};
	CK_RV rv = p->u.f->C_GetAttributeValue(p->u.sess, hs[0], a, 3);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return p11_fail(d, rv, "C_GetAttributeValue", what);
	if (a[2].ulValueLen == CK_UNAVAILABLE_INFORMATION)
		aa = CK_FALSE;
	if (!can_sign)
		return siegel_fail(d, SIEGEL_E_NOTSUP, "PKCS#11: key %s has CKA_SIGN false", what);
	out->always_auth = aa == CK_TRUE;
	out->sign_handle = hs[0];
	uint8_t *v = NULL;
	size_t vl = 0;
	if (kt == CKK_EC) {
		out->type = SIGN_KEY_EC;
		rc = csp_p11u_attr_get(&v, &vl, &p->u, hs[0], CKA_EC_PARAMS, what, d);
		if (rc)
			return rc;
		const struct alg_info *ai = csp_p11u_curve_of(v, vl);
		if (ai != NULL)
			out->size_bytes = ai->field_len;
		free(v);
		if (out->size_bytes == 0)
			return siegel_fail(d, SIEGEL_E_NOTSUP,
				"PKCS#11: key %s is on a curve we do not sign with "
				"(want P-256, P-384, brainpoolP256r1/384r1)", what);
	} else if (kt == CKK_RSA) {
		out->type = SIGN_KEY_RSA;
		rc = csp_p11u_attr_get(&v, &vl, &p->u, hs[0], CKA_MODULUS, what, d);
		if (rc)
			return rc;
		size_t i = 0;
		while (i < vl && v[i] == 0)
			i++;
		out->size_bytes = vl - i;
		free(v);
		if (out->size_bytes * 8 < 3000 || out->size_bytes > SIGN_MAX_SIG)
			return siegel_fail(d, SIEGEL_E_NOTSUP,
				"PKCS#11: RSA key %s has %zu bits; signing needs 3072..8192 (BSI TR-02102-1)",
				what, out->size_bytes * 8);
	} else {
		return siegel_fail(d, SIEGEL_E_NOTSUP, "PKCS#11: key %s has type 0x%lx, want EC or RSA",
			what, (unsigned long)kt);
	}
	if (!out->always_auth)
		out->sign_handle = csp_p11u_session_copy(&p->u, hs[0]);
	return 0;
}

/* DigestInfo prefixes (RFC 8017 9.2 note 1). */
static const uint8_t di_sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t di_sha384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const uint8_t di_sha512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };

int sign_p11_sign_digest(uint8_t *sig_out, size_t *sig_len, size_t sig_cap, struct sign_p11 *p,
	const struct sign_p11_key *k, int hash_nid, int rsa_pss, const uint8_t *digest,
	size_t digest_len, const char *pin, size_t pin_len, struct siegel_diag *d)
{
	if (p == NULL || !p->u.have_sess || k == NULL)
		return siegel_fail(d, SIEGEL_E_STATE, "PKCS#11 sign: no session");
	uint8_t in[128];
	size_t in_len = 0;
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	if (k->type == SIGN_KEY_RSA && !rsa_pss) {
		const uint8_t *pre = hash_nid == NID_sha384 ? di_sha384 :
				     hash_nid == NID_sha512 ? di_sha512 : di_sha256;
		size_t pl = sizeof(di_sha256);
		if (digest_len + pl > sizeof(in))
			return SIEGEL_E_INVAL;
		memcpy(in, pre, pl);
		memcpy(in + pl, digest, digest_len);
		in_len = pl + digest_len;
		mech.mechanism = CKM_RSA_PKCS;
	} else {
		if (digest_len > sizeof(in))
			return SIEGEL_E_INVAL;
		memcpy(in, digest, digest_len);
		in_len = digest_len;
		if (k->type == SIGN_KEY_RSA) {
			pss.hashAlg = hash_nid == NID_sha384 ? CKM_SHA384 :
				      hash_nid == NID_sha512 ? CKM_SHA512 : CKM_SHA256;
			pss.mgf = hash_nid == NID_sha384 ? CKG_MGF1_SHA384 :
				  hash_nid == NID_sha512 ? CKG_MGF1_SHA512 : CKG_MGF1_SHA256;
			pss.sLen = digest_len;
			mech.mechanism = CKM_RSA_PKCS_PSS;
			mech.pParameter = &pss;
			mech.ulParameterLen = sizeof(pss);
		}
	}
	CK_RV rv = p->u.f->C_SignInit(p->u.sess, &mech,
		(CK_OBJECT_HANDLE)(k->sign_handle ? k->sign_handle : k->handle));
	if (rv != CKR_OK)
		return p11_fail(d, rv, "C_SignInit", k->label);
	if (k->always_auth) {
		rv = p->u.f->C_Login(p->u.sess, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)pin, pin_len);
		if (rv != CKR_OK) {
			int rc = p11_fail(d, rv, "C_Login(CKU_CONTEXT_SPECIFIC)", k->label);
			/* End the pending operation: a zero-length output query would
			 * keep it, so sign into a scratch buffer (fails unauthenticated). */
			uint8_t scratch[SIGN_MAX_SIG];
			CK_ULONG sl = sizeof(scratch);
			(void)p->u.f->C_Sign(p->u.sess, in, in_len, scratch, &sl);
			return rc;
		}
	}
	uint8_t raw[SIGN_MAX_SIG];
	CK_ULONG rl = sizeof(raw);
	rv = p->u.f->C_Sign(p->u.sess, in, in_len, raw, &rl);
	siegel_wipe(in, sizeof(in));
	if (rv != CKR_OK)
		return p11_fail(d, rv, "C_Sign", k->label);
	if (k->type == SIGN_KEY_EC) {
		if (rl != 2 * k->size_bytes)
			return siegel_fail(d, SIEGEL_E_PKCS11,
				"PKCS#11 C_Sign(CKM_ECDSA) %s: %lu bytes, want r||s of %zu", k->label,
				(unsigned long)rl, 2 * k->size_bytes);
		uint8_t *der = NULL;
		size_t dl = 0;
		if (alg_plain_to_der(&der, &dl, raw, rl) != 0)
			return siegel_fail(d, SIEGEL_E_CRYPTO, "ECDSA r||s to DER failed");
		if (dl > sig_cap) {
			OPENSSL_free(der);
			return SIEGEL_E_LIMIT;
		}
		memcpy(sig_out, der, dl);
		*sig_len = dl;
		OPENSSL_free(der);
		return 0;
	}
	if (rl > sig_cap)
		return SIEGEL_E_LIMIT;
	memcpy(sig_out, raw, rl);
	*sig_len = rl;
	return 0;
}

unsigned long sign_p11_probe_unauth_sign(struct sign_p11 *p, const struct sign_p11_key *k)
{
	CK_SESSION_HANDLE s;
	CK_RV rv = p->u.f->C_OpenSession(p->u.slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		return rv;
	CK_MECHANISM mech = { k->type == SIGN_KEY_EC ? CKM_ECDSA : CKM_RSA_PKCS, NULL, 0 };
	uint8_t in[32] = { 1 }, out[SIGN_MAX_SIG];
	CK_ULONG ol = sizeof(out);
	rv = p->u.f->C_SignInit(s, &mech, (CK_OBJECT_HANDLE)k->handle);
	if (rv == CKR_OK)
		rv = p->u.f->C_Sign(s, in, sizeof(in), out, &ol);
	(void)p->u.f->C_CloseSession(s);
	if (rv == CKR_OK || k->sign_handle == 0 || k->sign_handle == k->handle)
		return rv;
	/* the session copy, in the session that made it */
	ol = sizeof(out);
	CK_RV rc = p->u.f->C_SignInit(p->u.sess, &mech, (CK_OBJECT_HANDLE)k->sign_handle);
	if (rc == CKR_OK)
		rc = p->u.f->C_Sign(p->u.sess, in, sizeof(in), out, &ol);
	return rc;
}

/* ---- key generation (tests, benchmarks) ---- */

int sign_p11_generate(EVP_PKEY **pub_out, struct sign_p11 *p, const char *label,
	const uint8_t *id, size_t id_len, const char *type, int always_auth, struct siegel_diag *d)
{
	if (p == NULL || label == NULL || type == NULL)
		return SIEGEL_E_INVAL;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_CLASS pubc = CKO_PUBLIC_KEY, privc = CKO_PRIVATE_KEY;
	const struct alg_info *ai = alg_by_config_name(type);
	int rsa_bits = 0;
	if (ai == NULL) {
		if (strcmp(type, "rsa3072") == 0)
			rsa_bits = 3072;
		else if (strcmp(type, "rsa4096") == 0)
			rsa_bits = 4096;
		else
			return siegel_fail(d, SIEGEL_E_INVAL, "key type \"%s\": want p256, p384, bp256, "
				"bp384, rsa3072 or rsa4096", type);
	}
	CK_KEY_TYPE kt = ai ? CKK_EC : CKK_RSA;
	CK_ULONG bits = (CK_ULONG)rsa_bits;
	uint8_t e65537[] = { 0x01, 0x00, 0x01 };
	CK_ATTRIBUTE pub_t[8];
	CK_ULONG np = 0;
	pub_t[np++] = (CK_ATTRIBUTE){ CKA_CLASS, &pubc, sizeof(pubc) };
	pub_t[np++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	pub_t[np++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	pub_t[np++] = (CK_ATTRIBUTE){ CKA_VERIFY, &yes, sizeof(yes) };
	pub_t[np++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	if (id_len > 0)
		pub_t[np++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, id_len };
	if (ai) {
		pub_t[np++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)ai->curve_oid_der,
			ai->curve_oid_der_len };
	} else {
		pub_t[np++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) };
		pub_t[np++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, e65537, sizeof(e65537) };
	}
	CK_ATTRIBUTE priv_t[10];
	CK_ULONG nq = 0;
	priv_t[nq++] = (CK_ATTRIBUTE){ CKA_CLASS, &privc, sizeof(privc) };
	priv_t[nq++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	priv_t[nq++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	priv_t[nq++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &yes, sizeof(yes) };
	priv_t[nq++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, sizeof(yes) };
	priv_t[nq++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &no, sizeof(no) };
	priv_t[nq++] = (CK_ATTRIBUTE){ CKA_SIGN, &yes, sizeof(yes) };
	priv_t[nq++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	if (id_len > 0)
		priv_t[nq++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, id_len };
	if (always_auth)
		priv_t[nq++] = (CK_ATTRIBUTE){ CKA_ALWAYS_AUTHENTICATE, &yes, sizeof(yes) };
	CK_MECHANISM mech = { ai ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_RV rv = p->u.f->C_GenerateKeyPair(p->u.sess, &mech, pub_t, np, priv_t, nq, &hpub, &hpriv);
	if (rv != CKR_OK)
		return p11_fail(d, rv, "C_GenerateKeyPair", label);
	if (pub_out == NULL)
		return 0;
	uint8_t *v = NULL, *e = NULL;
	size_t vl = 0, el = 0;
	int rc = 0;
	if (ai) {
		rc = csp_p11u_attr_get(&v, &vl, &p->u, hpub, CKA_EC_POINT, label, d);
		if (rc)
			return rc;
		uint8_t pt[ALG_MAX_PUB];
		size_t pt_len = 0;
		if (csp_p11u_ec_point(pt, &pt_len, v, vl, ai->field_len) != 0 ||
		    alg_pkey_from_point(pub_out, ai->curve_nid, pt, pt_len) != 0)
			rc = siegel_fail(d, SIEGEL_E_PKCS11, "PKCS#11: bad CKA_EC_POINT of new key %s",
				label);
		free(v);
		return rc;
	}
	rc = csp_p11u_attr_get(&v, &vl, &p->u, hpub, CKA_MODULUS, label, d);
	if (rc == 0)
		rc = csp_p11u_attr_get(&e, &el, &p->u, hpub, CKA_PUBLIC_EXPONENT, label, d);
	if (rc == 0) {
		BIGNUM *bn = BN_bin2bn(v, (int)vl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
		OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
		OSSL_PARAM *params = NULL;
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
		if (bn == NULL || be == NULL || bld == NULL || ctx == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
		    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
		    EVP_PKEY_fromdata_init(ctx) <= 0 ||
		    EVP_PKEY_fromdata(ctx, pub_out, EVP_PKEY_PUBLIC_KEY, params) <= 0)
			rc = siegel_fail(d, SIEGEL_E_CRYPTO, "RSA public key of %s", label);
		BN_free(bn);
		BN_free(be);
		OSSL_PARAM_free(params);
		OSSL_PARAM_BLD_free(bld);
		EVP_PKEY_CTX_free(ctx);
	}
	free(v);
	free(e);
	return rc;
}
