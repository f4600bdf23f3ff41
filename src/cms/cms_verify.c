/* cms_verify.c: parse and verify CMS SignedData (RFC 5652) and RFC 3161
 * time-stamp tokens with OpenSSL, behind a bounded BER pre-check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>

#include "cms/cms.h"

struct cms_sd {
	CMS_ContentInfo *ci;
	STACK_OF(X509) *certs;
	STACK_OF(CMS_SignerInfo) *sis;     /* borrowed from ci */
	const uint8_t *econtent;
	size_t econtent_len;
	int econtent_nid;
};

/* ---- bounded BER walker ---- */

static int ber_walk(size_t *used_out, const uint8_t *p, size_t len, size_t base, int depth,
	struct siegel_diag *d)
{
	if (depth > CMS_MAX_DEPTH)
		return siegel_fail(d, SIEGEL_E_LIMIT, "CMS: nesting deeper than %d levels at offset %zu",
			CMS_MAX_DEPTH, base);
	size_t off = 0;
	if (len < 2)
		return siegel_fail(d, SIEGEL_E_PARSE, "CMS: truncated element at offset %zu", base);
	uint8_t tag = p[off++];
	int constructed = (tag & 0x20) != 0;
	if ((tag & 0x1f) == 0x1f) { /* high tag number form, at most 4 bytes */
		int n = 0;
		for (;;) {
			if (off >= len || ++n > 4)
				return siegel_fail(d, SIEGEL_E_PARSE,
					"CMS: bad high tag number at offset %zu", base);
			if (!(p[off++] & 0x80))
				break;
		}
	}
	if (off >= len)
		return siegel_fail(d, SIEGEL_E_PARSE, "CMS: truncated length at offset %zu", base);
	uint8_t l0 = p[off++];
	if (l0 == 0x80) {
		if (!constructed)
			return siegel_fail(d, SIEGEL_E_PARSE,
				"CMS: indefinite length on a primitive element at offset %zu", base);
		for (;;) {
			if (len - off >= 2 && p[off] == 0 && p[off + 1] == 0) {
				*used_out = off + 2;
				return 0;
			}
			if (off >= len)
				return siegel_fail(d, SIEGEL_E_PARSE,
					"CMS: indefinite-length element at offset %zu has no end-of-contents",
					base);
			size_t u;
			int rc = ber_walk(&u, p + off, len - off, base + off, depth + 1, d);
			if (rc)
				return rc;
			off += u;
		}
	}
	size_t clen;
	if (l0 < 0x80) {
		clen = l0;
	} else {
		size_t n = l0 & 0x7f;
		if (n > 4 || n == 0)
			return siegel_fail(d, SIEGEL_E_PARSE,
				"CMS: length field of %zu bytes at offset %zu (limit 4)", n, base);
		if (len - off < n)
			return siegel_fail(d, SIEGEL_E_PARSE, "CMS: truncated length at offset %zu", base);
		clen = 0;
		for (size_t i = 0; i < n; i++)
			clen = (clen << 8) | p[off++];
	}
	if (clen > len - off)
		return siegel_fail(d, SIEGEL_E_PARSE,
			"CMS: element at offset %zu claims %zu content bytes, only %zu left", base, clen,
			len - off);
	if (constructed) {
		size_t end = off + clen;
		while (off < end) {
			size_t u;
			int rc = ber_walk(&u, p + off, end - off, base + off, depth + 1, d);
			if (rc)
				return rc;
			off += u;
		}
	} else {
		off += clen;
	}
	*used_out = off;
	return 0;
}

int cms_ber_check(size_t *tlv_len_out, const uint8_t *der, size_t len, struct siegel_diag *d)
{
	if (der == NULL || len == 0)
		return siegel_fail(d, SIEGEL_E_PARSE, "CMS: empty input");
	if (len > CMS_MAX_DER)
		return siegel_fail(d, SIEGEL_E_LIMIT, "CMS: %zu bytes, limit %u", len, CMS_MAX_DER);
	if (der[0] != 0x30)
		return siegel_fail(d, SIEGEL_E_PARSE,
			"CMS: ContentInfo must start with SEQUENCE (0x30), got 0x%02x", der[0]);
	return ber_walk(tlv_len_out, der, len, 0, 0, d);
}

/* ---- SignedData ---- */

static int64_t tm_to_unix(const struct tm *tm)
{
	struct tm t = *tm;
	return (int64_t)timegm(&t);
}

static int asn1_time_unix(int64_t *out, const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return SIEGEL_E_PARSE;
	*out = tm_to_unix(&tm);
	return 0;
}

void cms_sd_free(struct cms_sd *sd)
{
	if (sd == NULL)
		return;
	sk_X509_pop_free(sd->certs, X509_free);
	CMS_ContentInfo_free(sd->ci);
	free(sd);
}

int cms_sd_parse(struct cms_sd **out, const uint8_t *der, size_t len, int zero_pad_ok,
	struct siegel_diag *d)
{
	*out = NULL;
	size_t tlv_len;
	int rc = cms_ber_check(&tlv_len, der, len, d);
	if (rc)
		return rc;
	for (size_t i = tlv_len; i < len; i++)
		if (!zero_pad_ok || der[i] != 0)
			return siegel_fail(d, SIEGEL_E_PARSE,
				"CMS: %zu bytes of trailing data after the ContentInfo (%zu bytes)",
				len - tlv_len, tlv_len);
	const unsigned char *p = der;
	ERR_clear_error();
	CMS_ContentInfo *ci = d2i_CMS_ContentInfo(NULL, &p, (long)tlv_len);
	if (ci == NULL || (size_t)(p - der) != tlv_len) {
		unsigned long e = ERR_peek_last_error();
		CMS_ContentInfo_free(ci);
		ERR_clear_error();
		return siegel_fail(d, SIEGEL_E_PARSE, "CMS: ContentInfo does not decode: %s",
			e ? ERR_reason_error_string(e) : "trailing bytes");
	}
	if (OBJ_obj2nid(CMS_get0_type(ci)) != NID_pkcs7_signed) {
		CMS_ContentInfo_free(ci);
		return siegel_fail(d, SIEGEL_E_PARSE, "CMS: contentType is not id-signedData");
	}
	struct cms_sd *sd = calloc(1, sizeof(*sd));
	if (sd == NULL) {
		CMS_ContentInfo_free(ci);
		return SIEGEL_E_NOMEM;
	}
	sd->ci = ci;
	sd->sis = CMS_get0_SignerInfos(ci);
	int n = sd->sis ? sk_CMS_SignerInfo_num(sd->sis) : 0;
	if (n <= 0) {
		cms_sd_free(sd);
		return siegel_fail(d, SIEGEL_E_PARSE, "CMS: SignedData.signerInfos is empty");
	}
	if (n > CMS_MAX_SIGNERS) {
		cms_sd_free(sd);
		return siegel_fail(d, SIEGEL_E_LIMIT, "CMS: %d SignerInfos, limit %d", n,
			CMS_MAX_SIGNERS);
	}
	sd->certs = CMS_get1_certs(ci);
	if (sd->certs == NULL)
		sd->certs = sk_X509_new_null();
	if (sd->certs == NULL) {
		cms_sd_free(sd);
		return SIEGEL_E_NOMEM;
	}
	if (sk_X509_num(sd->certs) > CMS_MAX_CERTS) {
		int nc = sk_X509_num(sd->certs);
		cms_sd_free(sd);
		return siegel_fail(d, SIEGEL_E_LIMIT, "CMS: %d certificates, limit %d", nc,
			CMS_MAX_CERTS);
	}
	sd->econtent_nid = OBJ_obj2nid(CMS_get0_eContentType(ci));
	ASN1_OCTET_STRING **pos = CMS_get0_content(ci);
	if (pos != NULL && *pos != NULL) {
		sd->econtent = ASN1_STRING_get0_data(*pos);
		sd->econtent_len = (size_t)ASN1_STRING_length(*pos);
	}
	*out = sd;
	return 0;
}

size_t cms_sd_signer_count(const struct cms_sd *sd)
{
	return (size_t)sk_CMS_SignerInfo_num(sd->sis);
}

STACK_OF(X509) *cms_sd_certs(const struct cms_sd *sd)
{
	return sd->certs;
}

void cms_sd_econtent(const uint8_t **out, size_t *len_out, const struct cms_sd *sd)
{
	*out = sd->econtent;
	*len_out = sd->econtent_len;
}

int cms_sd_econtent_nid(const struct cms_sd *sd)
{
	return sd->econtent_nid;
}

/* Signature algorithms this verifier implements (by OID NID). */
static const struct {
	int nid;
	const char *name;
} sig_algs[] = {
	{ NID_rsaEncryption, "rsaEncryption" },
	{ NID_sha1WithRSAEncryption, "sha1WithRSAEncryption" },
	{ NID_sha224WithRSAEncryption, "sha224WithRSAEncryption" },
	{ NID_sha256WithRSAEncryption, "sha256WithRSAEncryption" },
	{ NID_sha384WithRSAEncryption, "sha384WithRSAEncryption" },
	{ NID_sha512WithRSAEncryption, "sha512WithRSAEncryption" },
	{ NID_rsassaPss, "RSASSA-PSS" },
	{ NID_X9_62_id_ecPublicKey, "id-ecPublicKey" },
	{ NID_ecdsa_with_SHA1, "ecdsa-with-SHA1" },
	{ NID_ecdsa_with_SHA224, "ecdsa-with-SHA224" },
	{ NID_ecdsa_with_SHA256, "ecdsa-with-SHA256" },
	{ NID_ecdsa_with_SHA384, "ecdsa-with-SHA384" },
	{ NID_ecdsa_with_SHA512, "ecdsa-with-SHA512" },
};

static const struct {
	int nid;
	const char *name;
	const char *ha;
} digests[] = {
	{ NID_sha1, "SHA-1", "haSHA1" },
	{ NID_sha224, "SHA-224", "haSHA224" },
	{ NID_sha256, "SHA-256", "haSHA256" },
	{ NID_sha384, "SHA-384", "haSHA384" },
	{ NID_sha512, "SHA-512", "haSHA512" },
	{ NID_sha3_256, "SHA3-256", "haSHA3_256" },
	{ NID_sha3_384, "SHA3-384", "haSHA3_384" },
	{ NID_sha3_512, "SHA3-512", "haSHA3_512" },
	{ NID_ripemd160, "RIPEMD-160", "haRIPEMD160" },
};

const char *cms_hash_ha_name(int digest_nid)
{
	for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++)
		if (digests[i].nid == digest_nid)
			return digests[i].ha;
	return "haUnknown";
}

static const char *digest_name(int nid)
{
	for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++)
		if (digests[i].nid == nid)
			return digests[i].name;
	return NULL;
}

int cms_digest(uint8_t *out, size_t *out_len, int digest_nid, const struct cms_part *parts,
	size_t n)
{
	if (digest_name(digest_nid) == NULL)
		return SIEGEL_E_NOTSUP;
	const EVP_MD *md = EVP_get_digestbynid(digest_nid);
	if (md == NULL)
		return SIEGEL_E_NOTSUP;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (c == NULL)
		return SIEGEL_E_NOMEM;
	int ok = EVP_DigestInit_ex(c, md, NULL);
	for (size_t i = 0; ok && i < n; i++)
		if (parts[i].len)
			ok = EVP_DigestUpdate(c, parts[i].p, parts[i].len);
	unsigned int l = 0;
	if (ok)
		ok = EVP_DigestFinal_ex(c, out, &l);
	EVP_MD_CTX_free(c);
	if (!ok)
		return SIEGEL_E_CRYPTO;
	*out_len = l;
	return 0;
}

/* The single value of a signed/unsigned attribute, or NULL; *count_out =
 * number of attributes of that type. */
static ASN1_TYPE *attr_single(int *count_out, int *nvalues_out, CMS_SignerInfo *si, int nid,
	int is_signed)
{
	int idx = -1, count = 0;
	ASN1_TYPE *t = NULL;
	*nvalues_out = 0;
	for (;;) {
		idx = is_signed ? CMS_signed_get_attr_by_NID(si, nid, idx)
			: CMS_unsigned_get_attr_by_NID(si, nid, idx);
		if (idx < 0)
			break;
		count++;
		if (count == 1) {
			X509_ATTRIBUTE *a = is_signed ? CMS_signed_get_attr(si, idx)
				: CMS_unsigned_get_attr(si, idx);
			*nvalues_out = X509_ATTRIBUTE_count(a);
			t = X509_ATTRIBUTE_get0_type(a, 0);
		}
	}
	*count_out = count;
	return t;
}

int cms_sd_signer(struct cms_signer *out, const struct cms_sd *sd, size_t i,
	struct siegel_diag *d)
{
	memset(out, 0, sizeof(*out));
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sd->sis, (int)i);
	if (si == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "CMS: no SignerInfo %zu", i);
	X509_ALGOR *dig = NULL, *sig = NULL;
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
	const ASN1_OBJECT *obj = NULL;
	X509_ALGOR_get0(&obj, NULL, NULL, dig);
	out->digest_nid = OBJ_obj2nid(obj);
	out->digest_name = digest_name(out->digest_nid);
	X509_ALGOR_get0(&obj, NULL, NULL, sig);
	out->sig_nid = OBJ_obj2nid(obj);
	OBJ_obj2txt(out->sig_oid, sizeof(out->sig_oid), obj, 1);
	for (size_t k = 0; k < sizeof(sig_algs) / sizeof(sig_algs[0]); k++)
		if (sig_algs[k].nid == out->sig_nid)
			out->sig_name = sig_algs[k].name;
	ASN1_OCTET_STRING *sv = CMS_SignerInfo_get0_signature(si);
	out->sig_value = ASN1_STRING_get0_data(sv);
	out->sig_len = (size_t)ASN1_STRING_length(sv);
	out->has_signed_attrs = CMS_signed_get_attr_count(si) > 0;

	int count, nv;
	ASN1_TYPE *t = attr_single(&count, &nv, si, NID_pkcs9_signingTime, 1);
	if (count > 1 || (count == 1 && nv != 1))
		return siegel_fail(d, SIEGEL_E_PARSE,
			"CMS SignerInfo %zu: signing-time attribute must occur once with one value", i);
	if (t != NULL) {
		if ((t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME) ||
		    asn1_time_unix(&out->signing_time, (const ASN1_TIME *)t->value.asn1_string) != 0)
			return siegel_fail(d, SIEGEL_E_PARSE,
				"CMS SignerInfo %zu: signing-time is not a valid Time", i);
		out->has_signing_time = 1;
	}
	int c1, c2;
	(void)attr_single(&c1, &nv, si, NID_id_smime_aa_signingCertificate, 1);
	(void)attr_single(&c2, &nv, si, NID_id_smime_aa_signingCertificateV2, 1);
	out->has_ess_cert = c1 + c2 > 0;
	t = attr_single(&count, &nv, si, NID_id_smime_aa_timeStampToken, 0);
	if (t != NULL) {
		if (t->type != V_ASN1_SEQUENCE)
			return siegel_fail(d, SIEGEL_E_PARSE,
				"CMS SignerInfo %zu: signature-time-stamp is not a ContentInfo", i);
		out->tst_der = ASN1_STRING_get0_data(t->value.sequence);
		out->tst_len = (size_t)ASN1_STRING_length(t->value.sequence);
	}
	return 0;
}

int cms_sd_find_signer_cert(X509 **out, const struct cms_sd *sd, size_t i, STACK_OF(X509) *extra)
{
	*out = NULL;
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sd->sis, (int)i);
	if (si == NULL)
		return SIEGEL_E_INVAL;
	for (int k = 0; k < sk_X509_num(sd->certs); k++) {
		X509 *x = sk_X509_value(sd->certs, k);
		if (CMS_SignerInfo_cert_cmp(si, x) == 0) {
			*out = x;
			return 0;
		}
	}
	for (int k = 0; extra && k < sk_X509_num(extra); k++) {
		X509 *x = sk_X509_value(extra, k);
		if (CMS_SignerInfo_cert_cmp(si, x) == 0) {
			*out = x;
			return 0;
		}
	}
	return SIEGEL_E_NOTFOUND;
}

static int check_ess(CMS_SignerInfo *si, X509 *cert, size_t i, struct siegel_diag *d)
{
	int count, nv;
	ASN1_TYPE *t2 = attr_single(&count, &nv, si, NID_id_smime_aa_signingCertificateV2, 1);
	if (count > 1 || (count == 1 && (nv != 1 || t2->type != V_ASN1_SEQUENCE)))
		return siegel_fail(d, SIEGEL_E_PARSE,
			"CMS SignerInfo %zu: malformed signing-certificate-v2 attribute", i);
	ASN1_TYPE *t1 = attr_single(&count, &nv, si, NID_id_smime_aa_signingCertificate, 1);
	if (count > 1 || (count == 1 && (nv != 1 || t1->type != V_ASN1_SEQUENCE)))
		return siegel_fail(d, SIEGEL_E_PARSE,
			"CMS SignerInfo %zu: malformed signing-certificate attribute", i);
	if (t1 == NULL && t2 == NULL)
		return 0;
	ESS_SIGNING_CERT *ss = NULL;
	ESS_SIGNING_CERT_V2 *ss2 = NULL;
	int rc = 0;
	if (t1 != NULL) {
		const unsigned char *p = ASN1_STRING_get0_data(t1->value.sequence);
		ss = d2i_ESS_SIGNING_CERT(NULL, &p, ASN1_STRING_length(t1->value.sequence));
		if (ss == NULL)
			rc = siegel_fail(d, SIEGEL_E_PARSE,
				"CMS SignerInfo %zu: signing-certificate does not decode", i);
	}
	if (rc == 0 && t2 != NULL) {
		const unsigned char *p = ASN1_STRING_get0_data(t2->value.sequence);
		ss2 = d2i_ESS_SIGNING_CERT_V2(NULL, &p, ASN1_STRING_length(t2->value.sequence));
		if (ss2 == NULL)
			rc = siegel_fail(d, SIEGEL_E_PARSE,
				"CMS SignerInfo %zu: signing-certificate-v2 does not decode", i);
	}
	if (rc == 0) {
		STACK_OF(X509) *chain = sk_X509_new_null();
		if (chain == NULL || !sk_X509_push(chain, cert))
			rc = SIEGEL_E_NOMEM;
		else if (OSSL_ESS_check_signing_certs(ss, ss2, chain, 1) <= 0)
			rc = siegel_fail(d, SIEGEL_E_VERIFY,
				"CMS SignerInfo %zu: the ESS signing-certificate attribute names another "
				"certificate than the signer's", i);
		sk_X509_free(chain);
		ERR_clear_error();
	}
	ESS_SIGNING_CERT_free(ss);
	ESS_SIGNING_CERT_V2_free(ss2);
	return rc;
}

int cms_sd_verify_signer(int *digest_ok_out, const struct cms_sd *sd, size_t i, X509 *cert,
	const uint8_t *digest, size_t digest_len, struct siegel_diag *d)
{
	*digest_ok_out = 0;
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sd->sis, (int)i);
	if (si == NULL || cert == NULL)
		return SIEGEL_E_INVAL;
	struct cms_signer s;
	int rc = cms_sd_signer(&s, sd, i, d);
	if (rc)
		return rc;
	if (s.sig_name == NULL)
		return siegel_fail(d, SIEGEL_E_NOTSUP,
			"CMS SignerInfo %zu: signature algorithm %s is not implemented", i, s.sig_oid);
	if (s.digest_name == NULL)
		return siegel_fail(d, SIEGEL_E_NOTSUP,
			"CMS SignerInfo %zu: digest algorithm %s is not implemented", i,
			OBJ_nid2sn(s.digest_nid));
	ERR_clear_error();
	if (!s.has_signed_attrs) {
		if (sd->econtent_nid != NID_pkcs7_data)
			return siegel_fail(d, SIEGEL_E_VERIFY,
				"CMS SignerInfo %zu: no signed attributes but eContentType is not id-data", i);
		if (s.sig_nid == NID_rsassaPss)
			return siegel_fail(d, SIEGEL_E_NOTSUP,
				"CMS SignerInfo %zu: RSASSA-PSS without signed attributes is not implemented", i);
		EVP_PKEY *pk = X509_get0_pubkey(cert);
		EVP_PKEY_CTX *pc = pk ? EVP_PKEY_CTX_new(pk, NULL) : NULL;
		int ok = pc && EVP_PKEY_verify_init(pc) > 0 &&
			EVP_PKEY_CTX_set_signature_md(pc, EVP_get_digestbynid(s.digest_nid)) > 0 &&
			EVP_PKEY_verify(pc, s.sig_value, s.sig_len, digest, digest_len) == 1;
		EVP_PKEY_CTX_free(pc);
		ERR_clear_error();
		if (!ok)
			return siegel_fail(d, SIEGEL_E_VERIFY,
				"CMS SignerInfo %zu: signature value does not verify over the content digest "
				"(no signed attributes; content changed or wrong key)", i);
		*digest_ok_out = 1;
		return 0;
	}
	/* messageDigest: exactly one, one OCTET STRING value */
	int count, nv;
	ASN1_TYPE *md = attr_single(&count, &nv, si, NID_pkcs9_messageDigest, 1);
	if (count != 1 || nv != 1 || md == NULL || md->type != V_ASN1_OCTET_STRING)
		return siegel_fail(d, SIEGEL_E_VERIFY,
			"CMS SignerInfo %zu: signed attributes need exactly one messageDigest "
			"OCTET STRING (RFC 5652 §11.2), found %d", i, count);
	ASN1_TYPE *ct = attr_single(&count, &nv, si, NID_pkcs9_contentType, 1);
	if (count != 1 || nv != 1 || ct == NULL || ct->type != V_ASN1_OBJECT)
		return siegel_fail(d, SIEGEL_E_VERIFY,
			"CMS SignerInfo %zu: signed attributes need exactly one content-type attribute "
			"(RFC 5652 §11.1)", i);
	if (OBJ_obj2nid(ct->value.object) != sd->econtent_nid ||
	    OBJ_cmp(ct->value.object, CMS_get0_eContentType(sd->ci)) != 0)
		return siegel_fail(d, SIEGEL_E_VERIFY,
			"CMS SignerInfo %zu: content-type attribute differs from eContentType", i);
	const ASN1_OCTET_STRING *mdv = md->value.octet_string;
	int digest_ok = (size_t)ASN1_STRING_length(mdv) == digest_len &&
		memcmp(ASN1_STRING_get0_data(mdv), digest, digest_len) == 0;
	*digest_ok_out = digest_ok;
	rc = check_ess(si, cert, i, d);
	if (rc)
		return rc;
	CMS_SignerInfo_set1_signer_cert(si, cert);
	int v = CMS_SignerInfo_verify(si);
	unsigned long e = ERR_peek_last_error();
	ERR_clear_error();
	if (v != 1)
		return siegel_fail(d, SIEGEL_E_VERIFY,
			"CMS SignerInfo %zu: signature value does not verify with the signer "
			"certificate's key (%s)", i, e ? ERR_reason_error_string(e) : "bad signature");
	if (!digest_ok)
		return siegel_fail(d, SIEGEL_E_VERIFY,
			"CMS SignerInfo %zu: messageDigest does not match the %s of the signed content "
			"(the document was changed after signing)", i, s.digest_name);
	return 0;
}

int cms_tst_verify(int64_t *gen_time_out, X509 **tsa_cert_out, struct cms_sd **token_out,
	const uint8_t *tst_der, size_t tst_len, const struct cms_part *data, size_t n_data,
	STACK_OF(X509) *extra, struct siegel_diag *d)
{
	*token_out = NULL;
	*tsa_cert_out = NULL;
	struct cms_sd *tok = NULL;
	int rc = cms_sd_parse(&tok, tst_der, tst_len, 0, d);
	if (rc)
		return rc;
	TS_TST_INFO *ti = NULL;
	if (tok->econtent_nid != NID_id_smime_ct_TSTInfo || tok->econtent == NULL) {
		rc = siegel_fail(d, SIEGEL_E_PARSE, "time-stamp token: eContent is not a TSTInfo");
		goto out;
	}
	const unsigned char *p = tok->econtent;
	ti = d2i_TS_TST_INFO(NULL, &p, (long)tok->econtent_len);
	if (ti == NULL || (size_t)(p - tok->econtent) != tok->econtent_len) {
		rc = siegel_fail(d, SIEGEL_E_PARSE, "time-stamp token: TSTInfo does not decode");
		goto out;
	}
	TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(ti);
	X509_ALGOR *ia = TS_MSG_IMPRINT_get_algo(mi);
	const ASN1_OBJECT *io = NULL;
	X509_ALGOR_get0(&io, NULL, NULL, ia);
	uint8_t h[CMS_MAX_DIGEST];
	size_t hl;
	rc = cms_digest(h, &hl, OBJ_obj2nid(io), data, n_data);
	if (rc) {
		rc = siegel_fail(d, SIEGEL_E_NOTSUP, "time-stamp token: imprint hash %s not implemented",
			OBJ_nid2sn(OBJ_obj2nid(io)));
		goto out;
	}
	ASN1_OCTET_STRING *im = TS_MSG_IMPRINT_get_msg(mi);
	if ((size_t)ASN1_STRING_length(im) != hl || memcmp(ASN1_STRING_get0_data(im), h, hl) != 0) {
		rc = siegel_fail(d, SIEGEL_E_VERIFY,
			"time-stamp token: message imprint does not match the time-stamped data");
		goto out;
	}
	int64_t gt;
	if (asn1_time_unix(&gt, TS_TST_INFO_get_time(ti)) != 0) {
		rc = siegel_fail(d, SIEGEL_E_PARSE, "time-stamp token: bad genTime");
		goto out;
	}
	X509 *tsa = NULL;
	if (cms_sd_find_signer_cert(&tsa, tok, 0, extra) != 0) {
		rc = siegel_fail(d, SIEGEL_E_NOTFOUND, "time-stamp token: TSA certificate not found");
		goto out;
	}
	struct cms_signer s;
	rc = cms_sd_signer(&s, tok, 0, d);
	if (rc)
		goto out;
	struct cms_part part = { tok->econtent, tok->econtent_len };
	uint8_t cd[CMS_MAX_DIGEST];
	size_t cdl;
	if (cms_digest(cd, &cdl, s.digest_nid, &part, 1) != 0) {
		rc = siegel_fail(d, SIEGEL_E_NOTSUP, "time-stamp token: digest not implemented");
		goto out;
	}
	int dok;
	rc = cms_sd_verify_signer(&dok, tok, 0, tsa, cd, cdl, d);
	if (rc)
		goto out;
	if (!(X509_get_extension_flags(tsa) & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(tsa) & XKU_TIMESTAMP)) {
		rc = siegel_fail(d, SIEGEL_E_VERIFY,
			"time-stamp token: TSA certificate lacks extended key usage timeStamping");
		goto out;
	}
	*gen_time_out = gt;
	*tsa_cert_out = tsa;
	*token_out = tok;
	tok = NULL;
out:
	TS_TST_INFO_free(ti);
	cms_sd_free(tok);
	return rc;
}
