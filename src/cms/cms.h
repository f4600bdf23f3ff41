/* cms: CMS / PKCS#7 SignedData (RFC 5652, CAdES EN 319 122-1) — the verify
 * half (cms_verify.c). The build half (batch signing) will sit next to it in
 * cms_sign.c and share this header.
 *
 * Untrusted input is checked once by a bounded BER walker (depth, lengths)
 * before OpenSSL's decoder sees it; everything after that reads the parsed
 * structure. Signature algorithms are looked up in a fixed table: anything
 * else is SIEGEL_E_NOTSUP (the verifier's 100 fseVerifyCantDecrypt). */
#ifndef SIEGEL_CMS_H
#define SIEGEL_CMS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "base/base.h"

#define CMS_MAX_DER (4u << 20)       /* one signature container */
#define CMS_MAX_DEPTH 48             /* BER nesting */
#define CMS_MAX_SIGNERS 16           /* SignerInfos per SignedData */
#define CMS_MAX_CERTS 64             /* certificates carried in SignedData */
#define CMS_MAX_DIGEST 64

struct cms_sd; /* opaque parsed SignedData */

/* Checks BER structure of der[0..len): one outer TLV, nesting at most
 * CMS_MAX_DEPTH, every length inside its parent. *tlv_len_out = bytes of the
 * outer element (the rest of the buffer is the caller's business). */
int cms_ber_check(size_t *tlv_len_out, const uint8_t *der, size_t len,
	struct siegel_diag *d) SIEGEL_WUR;

/* Parses a ContentInfo carrying SignedData. When zero_pad_ok, bytes after
 * the element must all be 0x00 (a PDF /Contents placeholder); otherwise
 * there must be none. SIEGEL_E_PARSE for anything malformed, SIEGEL_E_LIMIT
 * over a hard limit. Free with cms_sd_free (NULL is a no-op). */
int cms_sd_parse(struct cms_sd **out, const uint8_t *der, size_t len, int zero_pad_ok,
	struct siegel_diag *d) SIEGEL_WUR;
void cms_sd_free(struct cms_sd *sd);

size_t cms_sd_signer_count(const struct cms_sd *sd);
/* Certificates carried in SignedData (borrowed, lives as long as sd). */
STACK_OF(X509) *cms_sd_certs(const struct cms_sd *sd);
/* Encapsulated content: *out = NULL when detached. Borrowed. */
void cms_sd_econtent(const uint8_t **out, size_t *len_out, const struct cms_sd *sd);
/* NID of eContentType (NID_pkcs7_data, NID_id_smime_ct_TSTInfo, ...). */
int cms_sd_econtent_nid(const struct cms_sd *sd);

/* One SignerInfo as read. Pointers are borrowed from sd. */
struct cms_signer {
	int digest_nid;              /* digestAlgorithm */
	const char *digest_name;     /* "SHA-256" */
	int sig_nid;                 /* signatureAlgorithm as given */
	char sig_oid[80];            /* dotted OID of signatureAlgorithm */
	const char *sig_name;        /* "ecdsa-with-SHA256", "RSASSA-PSS", ... */
	int has_signed_attrs;
	int has_signing_time;
	int64_t signing_time;        /* Unix seconds, when has_signing_time */
	int has_ess_cert;            /* signing-certificate(-v2) present */
	const uint8_t *sig_value;
	size_t sig_len;
	const uint8_t *tst_der;      /* first signature-time-stamp token, or NULL */
	size_t tst_len;
};
int cms_sd_signer(struct cms_signer *out, const struct cms_sd *sd, size_t i,
	struct siegel_diag *d) SIEGEL_WUR;

/* Finds the signer certificate of SignerInfo i (issuerAndSerialNumber or
 * subjectKeyIdentifier) among the SignedData certificates, then in extra
 * (may be NULL). *out is borrowed. SIEGEL_E_NOTFOUND when absent. */
int cms_sd_find_signer_cert(X509 **out, const struct cms_sd *sd, size_t i,
	STACK_OF(X509) *extra) SIEGEL_WUR;

/* Verifies SignerInfo i against the digest of the signed content (computed
 * by the caller with signer.digest_nid): messageDigest and content-type
 * attributes, ESS signing-certificate(-v2) against cert, and the signature
 * value with cert's public key. *digest_ok_out says whether the content
 * digest matched (HashMatched). Returns 0, SIEGEL_E_VERIFY (digest or
 * signature mismatch, cert substitution), SIEGEL_E_NOTSUP (algorithm not
 * implemented) or SIEGEL_E_PARSE (malformed attributes). */
int cms_sd_verify_signer(int *digest_ok_out, const struct cms_sd *sd, size_t i, X509 *cert,
	const uint8_t *digest, size_t digest_len, struct siegel_diag *d) SIEGEL_WUR;

/* Digest helper: out holds CMS_MAX_DIGEST bytes; the content is given as up
 * to n parts (a PDF's two ByteRange pieces). SIEGEL_E_NOTSUP for an unknown
 * or disallowed digest (MD5, MD2). */
struct cms_part {
	const uint8_t *p;
	size_t len;
};
int cms_digest(uint8_t *out, size_t *out_len, int digest_nid, const struct cms_part *parts,
	size_t n) SIEGEL_WUR;

/* Time-stamp token (RFC 3161) carried as an unsigned attribute or as a PDF
 * document time-stamp: parses the token, checks that its message imprint is
 * the hash of `data` (the signature value, or the ByteRange content for a
 * document time-stamp), verifies the token's own SignerInfo with its
 * certificate. *gen_time_out = genTime. *tsa_cert_out is borrowed from
 * *token_out, which the caller frees with cms_sd_free. */
int cms_tst_verify(int64_t *gen_time_out, X509 **tsa_cert_out, struct cms_sd **token_out,
	const uint8_t *tst_der, size_t tst_len, const struct cms_part *data, size_t n_data,
	STACK_OF(X509) *extra, struct siegel_diag *d) SIEGEL_WUR;

/* Seed-style hash name ("haSHA256") for a digest NID; "haUnknown" if none. */
const char *cms_hash_ha_name(int digest_nid);

#endif
