#include "alg/alg.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

/* ecdsa-plain-signatures 0.4.0.127.0.7.1.1.4.1.x (BSI TR-03111) */
static const uint8_t oid_plain_sha224[] = { 0x06, 0x0a, 0x04, 0x00, 0x7f, 0x00, 0x07, 0x01, 0x01, 0x04, 0x01, 0x02 };
static const uint8_t oid_plain_sha256[] = { 0x06, 0x0a, 0x04, 0x00, 0x7f, 0x00, 0x07, 0x01, 0x01, 0x04, 0x01, 0x03 };
static const uint8_t oid_plain_sha384[] = { 0x06, 0x0a, 0x04, 0x00, 0x7f, 0x00, 0x07, 0x01, 0x01, 0x04, 0x01, 0x04 };
static const uint8_t oid_plain_sha512[] = { 0x06, 0x0a, 0x04, 0x00, 0x7f, 0x00, 0x07, 0x01, 0x01, 0x04, 0x01, 0x05 };
static const uint8_t oid_plain_sha3_256[] = { 0x06, 0x0a, 0x04, 0x00, 0x7f, 0x00, 0x07, 0x01, 0x01, 0x04, 0x01, 0x09 };
static const uint8_t oid_plain_sha3_384[] = { 0x06, 0x0a, 0x04, 0x00, 0x7f, 0x00, 0x07, 0x01, 0x01, 0x04, 0x01, 0x0a };
static const uint8_t oid_plain_sha3_512[] = { 0x06, 0x0a, 0x04, 0x00, 0x7f, 0x00, 0x07, 0x01, 0x01, 0x04, 0x01, 0x0b };

/* named curves */
static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t oid_bp256[] = { 0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07 };
static const uint8_t oid_bp384[] = { 0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0b };

static const struct alg_info algs[] = {
	{ SIEGEL_ALG_P256_SHA256, "p256", "ecdsa-plain-SHA256", "P-256", NID_X9_62_prime256v1,
	  NID_sha256, 32, 32, oid_plain_sha256, sizeof(oid_plain_sha256), oid_p256, sizeof(oid_p256) },
	{ SIEGEL_ALG_P384_SHA384, "p384", "ecdsa-plain-SHA384", "P-384", NID_secp384r1,
	  NID_sha384, 48, 48, oid_plain_sha384, sizeof(oid_plain_sha384), oid_p384, sizeof(oid_p384) },
	{ SIEGEL_ALG_BP256_SHA256, "bp256", "ecdsa-plain-SHA256", "brainpoolP256r1",
	  NID_brainpoolP256r1, NID_sha256, 32, 32, oid_plain_sha256, sizeof(oid_plain_sha256),
	  oid_bp256, sizeof(oid_bp256) },
	{ SIEGEL_ALG_BP384_SHA384, "bp384", "ecdsa-plain-SHA384", "brainpoolP384r1",
	  NID_brainpoolP384r1, NID_sha384, 48, 48, oid_plain_sha384, sizeof(oid_plain_sha384),
	  oid_bp384, sizeof(oid_bp384) },
};

static const struct {
	const uint8_t *oid;
	size_t len;
	const char *name;
	int hash_nid;
} sig_oids[] = {
	{ oid_plain_sha224, sizeof(oid_plain_sha224), "ecdsa-plain-SHA224", NID_sha224 },
	{ oid_plain_sha256, sizeof(oid_plain_sha256), "ecdsa-plain-SHA256", NID_sha256 },
	{ oid_plain_sha384, sizeof(oid_plain_sha384), "ecdsa-plain-SHA384", NID_sha384 },
	{ oid_plain_sha512, sizeof(oid_plain_sha512), "ecdsa-plain-SHA512", NID_sha512 },
	{ oid_plain_sha3_256, sizeof(oid_plain_sha3_256), "ecdsa-plain-SHA3-256", NID_sha3_256 },
	{ oid_plain_sha3_384, sizeof(oid_plain_sha3_384), "ecdsa-plain-SHA3-384", NID_sha3_384 },
	{ oid_plain_sha3_512, sizeof(oid_plain_sha3_512), "ecdsa-plain-SHA3-512", NID_sha3_512 },
};

const struct alg_info *alg_get(enum siegel_alg alg)
{
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (algs[i].alg == alg)
			return &algs[i];
	return NULL;
}

const struct alg_info *alg_by_config_name(const char *name)
{
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(algs[i].config_name, name) == 0 || strcmp(algs[i].curve_name, name) == 0)
			return &algs[i];
	return NULL;
}

const struct alg_info *alg_by_curve_nid(int nid)
{
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (algs[i].curve_nid == nid)
			return &algs[i];
	return NULL;
}

int alg_sig_oid_lookup(const char **name_out, int *hash_nid_out, const uint8_t *oid_tlv,
	size_t oid_tlv_len)
{
	for (size_t i = 0; i < sizeof(sig_oids) / sizeof(sig_oids[0]); i++) {
		if (sig_oids[i].len == oid_tlv_len && memcmp(sig_oids[i].oid, oid_tlv, oid_tlv_len) == 0) {
			*name_out = sig_oids[i].name;
			*hash_nid_out = sig_oids[i].hash_nid;
			return 0;
		}
	}
	return SIEGEL_E_NOTSUP;
}

void alg_serial_number(uint8_t out[ALG_SERIAL_LEN], const uint8_t *pub, size_t pub_len)
{
	SHA256(pub, pub_len, out);
}

int alg_digest(uint8_t *out, size_t *out_len, int hash_nid, const uint8_t *msg, size_t msg_len)
{
	const EVP_MD *md = EVP_get_digestbynid(hash_nid);
	unsigned int n = 0;
	if (md == NULL)
		return SIEGEL_E_NOTSUP;
	if (EVP_Digest(msg, msg_len, out, &n, md, NULL) != 1)
		return SIEGEL_E_CRYPTO;
	*out_len = n;
	return 0;
}

int alg_plain_to_der(uint8_t **der_out, size_t *der_len, const uint8_t *rs, size_t rs_len)
{
	if (rs_len == 0 || rs_len % 2 != 0 || rs_len > ALG_MAX_SIG)
		return SIEGEL_E_INVAL;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, (int)(rs_len / 2), NULL);
	BIGNUM *s = BN_bin2bn(rs + rs_len / 2, (int)(rs_len / 2), NULL);
	int rc = SIEGEL_E_NOMEM;
	if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	unsigned char *p = NULL;
	int n = i2d_ECDSA_SIG(sig, &p);
	if (n <= 0)
		goto out;
	*der_out = p;
	*der_len = (size_t)n;
	rc = 0;
out:
	ECDSA_SIG_free(sig);
	return rc;
}

int alg_der_to_plain(uint8_t *rs_out, size_t field_len, const uint8_t *der, size_t der_len)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	int rc = SIEGEL_E_CRYPTO;
	if (sig == NULL)
		return rc;
	if (p != der + der_len)
		goto out;
	const BIGNUM *r = NULL, *s = NULL;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, rs_out, (int)field_len) < 0 ||
	    BN_bn2binpad(s, rs_out + field_len, (int)field_len) < 0)
		goto out;
	rc = 0;
out:
	ECDSA_SIG_free(sig);
	return rc;
}

int alg_pkey_from_point(EVP_PKEY **out, int curve_nid, const uint8_t *pub, size_t pub_len)
{
	const char *group = OBJ_nid2sn(curve_nid);
	if (group == NULL || pub_len == 0)
		return SIEGEL_E_INVAL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int rc = SIEGEL_E_CRYPTO;
	if (bld == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	*out = pkey;
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

int alg_curve_nid(const EVP_PKEY *pkey)
{
	char group[80];
	size_t glen = 0;
	if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
		    &glen) != 1) {
		ERR_clear_error();
		return NID_undef;
	}
	int nid = OBJ_sn2nid(group);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(group);
	if (nid == NID_undef)
		nid = OBJ_txt2nid(group);
	return nid;
}

int alg_point_from_pkey(uint8_t *pub_out, size_t *pub_len, int *curve_nid_out,
	const EVP_PKEY *pkey)
{
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC)
		return SIEGEL_E_NOTSUP;
	int nid = alg_curve_nid(pkey);
	if (nid == NID_undef)
		return SIEGEL_E_NOTSUP;
	/* Force the uncompressed form regardless of how the key was encoded. */
	EVP_PKEY *dup = EVP_PKEY_dup((EVP_PKEY *)pkey);
	if (dup == NULL)
		return SIEGEL_E_NOMEM;
	int rc = SIEGEL_E_CRYPTO;
	size_t n = 0;
	if (EVP_PKEY_set_utf8_string_param(dup, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
		    "uncompressed") == 1 &&
	    EVP_PKEY_get_octet_string_param(dup, OSSL_PKEY_PARAM_PUB_KEY, pub_out, ALG_MAX_PUB,
		    &n) == 1 &&
	    n > 0 && pub_out[0] == 0x04) {
		*pub_len = n;
		*curve_nid_out = nid;
		rc = 0;
	}
	EVP_PKEY_free(dup);
	return rc;
}

int alg_verify_plain(const EVP_PKEY *pkey, int hash_nid, const uint8_t *msg, size_t msg_len,
	const uint8_t *rs, size_t rs_len)
{
	uint8_t dig[ALG_MAX_DIGEST];
	size_t dlen = 0;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int rc = alg_digest(dig, &dlen, hash_nid, msg, msg_len);
	if (rc)
		return rc;
	int bits = EVP_PKEY_get_bits(pkey);
	if (bits <= 0 || rs_len != 2 * (((size_t)bits + 7) / 8))
		return SIEGEL_E_VERIFY;
	rc = alg_plain_to_der(&der, &der_len, rs, rs_len);
	if (rc)
		return rc;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new((EVP_PKEY *)pkey, NULL);
	rc = SIEGEL_E_CRYPTO;
	if (ctx != NULL && EVP_PKEY_verify_init(ctx) == 1) {
		int v = EVP_PKEY_verify(ctx, der, der_len, dig, dlen);
		rc = v == 1 ? 0 : SIEGEL_E_VERIFY;
	}
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	return rc;
}

int alg_sign_plain(uint8_t *rs_out, size_t *rs_len, EVP_PKEY *pkey, int hash_nid,
	const uint8_t *msg, size_t msg_len)
{
	uint8_t dig[ALG_MAX_DIGEST];
	size_t dlen = 0;
	int rc = alg_digest(dig, &dlen, hash_nid, msg, msg_len);
	if (rc)
		return rc;
	int bits = EVP_PKEY_get_bits(pkey);
	if (bits <= 0)
		return SIEGEL_E_CRYPTO;
	size_t field = ((size_t)bits + 7) / 8;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
	uint8_t der[ALG_MAX_SIG + 16];
	size_t der_len = sizeof(der);
	rc = SIEGEL_E_CRYPTO;
	if (ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
	    EVP_PKEY_sign(ctx, der, &der_len, dig, dlen) == 1 &&
	    alg_der_to_plain(rs_out, field, der, der_len) == 0) {
		*rs_len = 2 * field;
		rc = 0;
	}
	EVP_PKEY_CTX_free(ctx);
	return rc;
}
