/* alg: the signature algorithms of TR-03151 log messages (ECDSA plain, BSI
 * TR-03111) and the OpenSSL glue shared by signing and verification:
 * curves, hashes, OIDs, r||s <-> DER conversion, key hashes. */
#ifndef SIEGEL_ALG_H
#define SIEGEL_ALG_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "base/base.h"

enum siegel_alg {
	SIEGEL_ALG_NONE = 0,
	SIEGEL_ALG_P256_SHA256 = 1,   /* default */
	SIEGEL_ALG_P384_SHA384 = 2,
	SIEGEL_ALG_BP256_SHA256 = 3,
	SIEGEL_ALG_BP384_SHA384 = 4,
};

#define ALG_MAX_FIELD 66      /* bytes of one coordinate (P-521 upper bound) */
#define ALG_MAX_PUB 133       /* uncompressed point 04||X||Y */
#define ALG_MAX_SIG 132       /* plain r||s */
#define ALG_MAX_DIGEST 64
#define ALG_SERIAL_LEN 32     /* SHA-256 of the public key */

struct alg_info {
	enum siegel_alg alg;
	const char *config_name;  /* "p256", "p384", "bp256", "bp384" */
	const char *sig_name;     /* "ecdsa-plain-SHA256" */
	const char *curve_name;   /* "P-256", "brainpoolP256r1" */
	int curve_nid;            /* NID_X9_62_prime256v1, ... */
	int hash_nid;             /* NID_sha256 / NID_sha384 */
	size_t field_len;         /* 32 or 48 */
	size_t digest_len;        /* 32 or 48 */
	const uint8_t *sig_oid_der; /* full DER TLV 06 0A 04 00 7F 00 07 01 01 04 01 03 */
	size_t sig_oid_der_len;
	const uint8_t *curve_oid_der; /* DER TLV of the named-curve OID (for PKCS#11 CKA_EC_PARAMS) */
	size_t curve_oid_der_len;
};

const struct alg_info *alg_get(enum siegel_alg alg);
/* By config name ("p256"...) or signature name + curve name; NULL if unknown. */
const struct alg_info *alg_by_config_name(const char *name);
/* Curve by OpenSSL NID; NULL if not one of ours. */
const struct alg_info *alg_by_curve_nid(int nid);

/* The ecdsa-plain signature OIDs TR-03151 knows (TR-03111): maps the DER TLV of
 * a signatureAlgorithm OID to its name and hash. Returns 0 or SIEGEL_E_NOTSUP. */
int alg_sig_oid_lookup(const char **name_out, int *hash_nid_out, const uint8_t *oid_tlv,
	size_t oid_tlv_len) SIEGEL_WUR;

/* SHA-256 of the uncompressed public key = TR-03151 serialNumber. */
void alg_serial_number(uint8_t out[ALG_SERIAL_LEN], const uint8_t *pub, size_t pub_len);

/* Digest with the given hash NID. out must hold ALG_MAX_DIGEST bytes. */
int alg_digest(uint8_t *out, size_t *out_len, int hash_nid, const uint8_t *msg,
	size_t msg_len) SIEGEL_WUR;

/* r||s (2*field_len bytes) <-> DER ECDSA-Sig-Value. */
int alg_plain_to_der(uint8_t **der_out, size_t *der_len, const uint8_t *rs, size_t rs_len) SIEGEL_WUR;
int alg_der_to_plain(uint8_t *rs_out, size_t field_len, const uint8_t *der, size_t der_len) SIEGEL_WUR;

/* Public keys as OpenSSL objects. The EVP_PKEY is owned by the caller
 * (EVP_PKEY_free). */
int alg_pkey_from_point(EVP_PKEY **out, int curve_nid, const uint8_t *pub, size_t pub_len) SIEGEL_WUR;
/* The named curve of an EC key (OpenSSL's group name: short, NIST or OID
 * text); NID_undef for other keys and explicit parameters. */
int alg_curve_nid(const EVP_PKEY *pkey);
/* Uncompressed point and curve of an EC key; pub_out holds ALG_MAX_PUB bytes. */
int alg_point_from_pkey(uint8_t *pub_out, size_t *pub_len, int *curve_nid_out,
	const EVP_PKEY *pkey) SIEGEL_WUR;

/* Verifies a plain r||s signature over msg with the given hash. Returns 0 if
 * valid, SIEGEL_E_VERIFY if not, another error for unusable input. */
int alg_verify_plain(const EVP_PKEY *pkey, int hash_nid, const uint8_t *msg, size_t msg_len,
	const uint8_t *rs, size_t rs_len) SIEGEL_WUR;

/* Software signing (tests, test CA): plain r||s over msg with hash. */
int alg_sign_plain(uint8_t *rs_out, size_t *rs_len, EVP_PKEY *pkey, int hash_nid,
	const uint8_t *msg, size_t msg_len) SIEGEL_WUR;

#endif
