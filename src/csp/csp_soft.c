/* csp_soft: a software EC key (tests, test CA). Signs plain r||s through
 * alg_sign_plain; never use for a real TSE. */
#include "csp/csp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

struct soft_ctx {
	EVP_PKEY *pkey;
	int hash_nid;
};

static int soft_sign(void *ctx, uint8_t *sig_out, size_t *sig_len, const uint8_t *msg,
	size_t msg_len)
{
	struct soft_ctx *c = ctx;
	if (c == NULL || c->pkey == NULL)
		return SIEGEL_E_INVAL;
	return alg_sign_plain(sig_out, sig_len, c->pkey, c->hash_nid, msg, msg_len);
}

static void soft_release(void *ctx)
{
	struct soft_ctx *c = ctx;
	if (c == NULL)
		return;
	EVP_PKEY_free(c->pkey);
	free(c);
}

static const struct csp_ops soft_ops = {
	.version = 1,
	.name = "soft",
	.sign = soft_sign,
	.release = soft_release,
};

/* Takes over pkey (one reference) and fills out; frees pkey on failure. */
static int soft_take(struct csp_key *out, EVP_PKEY *pkey, struct siegel_diag *d)
{
	uint8_t pub[ALG_MAX_PUB];
	size_t pub_len = 0;
	int nid = 0;
	int rc = SIEGEL_E_NOMEM;
	struct soft_ctx *c = NULL;

	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) {
		rc = siegel_fail(d, SIEGEL_E_NOTSUP, "software key: not an EC key (type %s)",
			OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)));
		goto out;
	}
	BIGNUM *priv = NULL;
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &priv) != 1) {
		rc = siegel_fail(d, SIEGEL_E_INVAL, "software key: no private key (public key only?)");
		goto out;
	}
	BN_clear_free(priv);
	rc = alg_point_from_pkey(pub, &pub_len, &nid, pkey);
	if (rc) {
		siegel_diag_set(d, "software key: cannot read the public point (%s)",
			siegel_err_name(rc));
		goto out;
	}
	const struct alg_info *ai = alg_by_curve_nid(nid);
	if (ai == NULL) {
		rc = siegel_fail(d, SIEGEL_E_NOTSUP,
			"software key: curve %s is not one of P-256, P-384, brainpoolP256r1, brainpoolP384r1",
			OBJ_nid2sn(nid));
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		rc = siegel_fail(d, SIEGEL_E_NOMEM, "software key: out of memory");
		goto out;
	}
	c->pkey = pkey;
	c->hash_nid = ai->hash_nid;
	pkey = NULL;
	memset(out, 0, sizeof(*out));
	out->ops = &soft_ops;
	out->ctx = c;
	out->alg = ai->alg;
	memcpy(out->pub, pub, pub_len);
	out->pub_len = pub_len;
	alg_serial_number(out->serial, pub, pub_len);
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	return rc;
}

int csp_soft_generate(struct csp_key *out, enum siegel_alg alg)
{
	const struct alg_info *ai = alg_get(alg);
	if (out == NULL || ai == NULL)
		return SIEGEL_E_INVAL;
	EVP_PKEY *pkey = EVP_EC_gen(OBJ_nid2sn(ai->curve_nid));
	if (pkey == NULL)
		return SIEGEL_E_CRYPTO;
	return soft_take(out, pkey, NULL);
}

int csp_soft_load_pem(struct csp_key *out, const char *path, struct siegel_diag *d)
{
	if (out == NULL || path == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "software key: no output or path");
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return siegel_fail(d, SIEGEL_E_IO, "%s: %s", path, strerror(errno));
	EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pkey == NULL)
		return siegel_fail(d, SIEGEL_E_PARSE,
			"%s: not a PEM private key (PKCS#8 or traditional EC, unencrypted)", path);
	int rc = soft_take(out, pkey, d);
	if (rc) {
		struct siegel_diag inner = { { 0 } };
		if (d != NULL) {
			inner = *d;
			siegel_diag_set(d, "%s: %s", path, inner.msg);
		}
	}
	return rc;
}

int csp_soft_load_pkey(struct csp_key *out, EVP_PKEY *pkey)
{
	if (out == NULL || pkey == NULL)
		return SIEGEL_E_INVAL;
	if (EVP_PKEY_up_ref(pkey) != 1)
		return SIEGEL_E_CRYPTO;
	return soft_take(out, pkey, NULL);
}

const EVP_PKEY *csp_soft_pkey(const struct csp_key *key)
{
	if (key == NULL || key->ops != &soft_ops || key->ctx == NULL)
		return NULL;
	return ((const struct soft_ctx *)key->ctx)->pkey;
}
