/* sign_signer: the signer certificate, parsed once per batch (d2i_X509 is
 * slow in OpenSSL 3: cache everything a signature needs), and the check of
 * the certificate before anything is signed. */
#include "sign/sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "der/der.h"
#include "sign/sign_ecfast.h"

/* DER TLVs of the OIDs (RFC 5754, RFC 5758, RFC 8017) */
static const uint8_t oid_sha256[] = { 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };
static const uint8_t oid_sha384[] = { 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02 };
static const uint8_t oid_sha512[] = { 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03 };
static const uint8_t oid_ecdsa_sha256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
static const uint8_t oid_ecdsa_sha384[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03 };
static const uint8_t oid_ecdsa_sha512[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04 };
static const uint8_t oid_rsa_sha256[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b };
static const uint8_t oid_rsa_sha384[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c };
static const uint8_t oid_rsa_sha512[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d };
static const uint8_t oid_rsassa_pss[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a };
static const uint8_t oid_mgf1[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08 };

static const uint8_t *hash_oid(int nid)
{
	return nid == NID_sha384 ? oid_sha384 : nid == NID_sha512 ? oid_sha512 : oid_sha256;
}

/* AlgorithmIdentifier of a SHA-2 hash, parameters absent (RFC 5754 2). */
static void put_hash_alg(struct siegel_buf *b, int nid, int with_null)
{
	size_t m = der_begin(b, 0x30);
	siegel_buf_append(b, hash_oid(nid), sizeof(oid_sha256));
	if (with_null)
		der_put_tlv(b, 0x05, NULL, 0);
	der_end(b, m);
}

int sign_load_certs(STACK_OF(X509) **out, const char *path, struct siegel_diag *d)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = siegel_read_file(&data, &len, path, SIGN_MAX_CERT_BYTES * SIGN_MAX_CHAIN, d);
	if (rc)
		return rc;
	STACK_OF(X509) *sk = sk_X509_new_null();
	if (sk == NULL) {
		free(data);
		return SIEGEL_E_NOMEM;
	}
	if (len > 0 && data[0] == 0x30) {
		const uint8_t *q = data;
		X509 *x = d2i_X509(NULL, &q, (long)len);
		if (x == NULL || q != data + len) {
			X509_free(x);
			rc = siegel_fail(d, SIEGEL_E_PARSE, "%s: not a DER certificate", path);
		} else {
			sk_X509_push(sk, x);
		}
	} else {
		BIO *bio = BIO_new_mem_buf(data, (int)len);
		X509 *x;
		while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
			if (sk_X509_num(sk) >= SIGN_MAX_CHAIN * 16) {
				X509_free(x);
				break;
			}
			sk_X509_push(sk, x);
		}
		ERR_clear_error();
		BIO_free(bio);
		if (sk_X509_num(sk) == 0)
			rc = siegel_fail(d, SIEGEL_E_PARSE, "%s: no PEM certificate found", path);
	}
	free(data);
	if (rc) {
		sk_X509_pop_free(sk, X509_free);
		return rc;
	}
	*out = sk;
	return 0;
}

static int cmp_der(const void *a, const void *b)
{
	const struct siegel_buf *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->data, y->data, n);
	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int i2d_buf(struct siegel_buf *b, int len, unsigned char *der)
{
	if (len <= 0 || der == NULL)
		return SIEGEL_E_CRYPTO;
	siegel_buf_append(b, der, (size_t)len);
	OPENSSL_free(der);
	return b->err;
}

int sign_signer_init(struct sign_signer *s, X509 *cert, STACK_OF(X509) *chain, int hash_nid,
	int rsa_pss, struct siegel_diag *d)
{
	memset(s, 0, sizeof(*s));
	siegel_buf_init(&s->certs_der);
	siegel_buf_init(&s->sid_der);
	siegel_buf_init(&s->essv2_der);
	siegel_buf_init(&s->digest_alg);
	siegel_buf_init(&s->sig_alg);
	siegel_buf_init(&s->attr_ct);
	siegel_buf_init(&s->attr_ess);
	if (cert == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "signer: no certificate");
	int rc = SIEGEL_E_CRYPTO;
	s->cert = cert;
	X509_up_ref(cert);
	s->pub = X509_get_pubkey(cert);
	if (s->pub == NULL) {
		rc = siegel_fail(d, SIEGEL_E_PARSE, "signer certificate: unreadable public key");
		goto fail;
	}
	X509_NAME_oneline(X509_get_subject_name(cert), s->subject, sizeof(s->subject));
	int bits = EVP_PKEY_get_bits(s->pub);
	if (EVP_PKEY_is_a(s->pub, "EC")) {
		s->type = SIGN_KEY_EC;
		if (rsa_pss) {
			rc = siegel_fail(d, SIEGEL_E_INVAL, "signer: PSS is for RSA keys, %s has EC",
				s->subject);
			goto fail;
		}
		if (hash_nid == 0)
			hash_nid = bits > 256 ? NID_sha384 : NID_sha256;
	} else if (EVP_PKEY_is_a(s->pub, "RSA")) {
		s->type = SIGN_KEY_RSA;
		if (hash_nid == 0)
			hash_nid = NID_sha256;
	} else {
		rc = siegel_fail(d, SIEGEL_E_NOTSUP, "signer %s: key is neither EC nor RSA", s->subject);
		goto fail;
	}
	if (hash_nid != NID_sha256 && hash_nid != NID_sha384 && hash_nid != NID_sha512) {
		rc = siegel_fail(d, SIEGEL_E_NOTSUP, "signer: hash must be SHA-256, -384 or -512");
		goto fail;
	}
	s->hash_nid = hash_nid;
	s->rsa_pss = rsa_pss;
	s->digest_len = hash_nid == NID_sha384 ? 48 : hash_nid == NID_sha512 ? 64 : 32;

	/* certificates: signer + chain, DER SET OF order */
	size_t n_extra = chain ? (size_t)sk_X509_num(chain) : 0;
	if (n_extra > SIGN_MAX_CHAIN) {
		rc = siegel_fail(d, SIEGEL_E_LIMIT, "signer: %zu chain certificates, at most %d",
			n_extra, SIGN_MAX_CHAIN);
		goto fail;
	}
	struct siegel_buf certs[SIGN_MAX_CHAIN + 1];
	size_t nc = 0;
	for (size_t i = 0; i <= n_extra; i++) {
		X509 *x = i == 0 ? cert : sk_X509_value(chain, (int)(i - 1));
		if (i > 0 && X509_cmp(x, cert) == 0)
			continue;
		siegel_buf_init(&certs[nc]);
		unsigned char *der = NULL;
		int l = i2d_X509(x, &der);
		if (i2d_buf(&certs[nc], l, der) != 0) {
			for (size_t j = 0; j <= nc; j++)
				siegel_buf_free(&certs[j]);
			rc = siegel_fail(d, SIEGEL_E_CRYPTO, "signer: cannot encode certificate");
			goto fail;
		}
		if (i == 0) {
			uint8_t h[32];
			char hex[65];
			EVP_Digest(certs[nc].data, certs[nc].len, h, NULL, EVP_sha256(), NULL);
			siegel_hex_encode(hex, h, sizeof(h));
			memcpy(s->key_id, hex, sizeof(s->key_id));
		}
		nc++;
	}
	/* ESS: hash of the signer certificate (certs[0] before sorting) */
	uint8_t ch[SIGN_MAX_DIGEST];
	unsigned chl = 0;
	EVP_Digest(certs[0].data, certs[0].len, ch, &chl, EVP_get_digestbynid(hash_nid), NULL);
	qsort(certs, nc, sizeof(certs[0]), cmp_der);
	for (size_t i = 0; i < nc; i++) {
		siegel_buf_append(&s->certs_der, certs[i].data, certs[i].len);
		siegel_buf_free(&certs[i]);
	}

	/* issuer and serial */
	struct siegel_buf name, serial;
	siegel_buf_init(&name);
	siegel_buf_init(&serial);
	unsigned char *der = NULL;
	int l = i2d_X509_NAME(X509_get_issuer_name(cert), &der);
	int rc2 = i2d_buf(&name, l, der);
	der = NULL;
	l = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &der);
	if (rc2 == 0)
		rc2 = i2d_buf(&serial, l, der);
	else
		OPENSSL_free(der);
	if (rc2 == 0) {
		size_t m = der_begin(&s->sid_der, 0x30);
		siegel_buf_append(&s->sid_der, name.data, name.len);
		siegel_buf_append(&s->sid_der, serial.data, serial.len);
		der_end(&s->sid_der, m);

		/* SigningCertificateV2 ::= SEQ { SEQ OF ESSCertIDv2 } (RFC 5035) */
		size_t m0 = der_begin(&s->essv2_der, 0x30);
		size_t m1 = der_begin(&s->essv2_der, 0x30);
		size_t m2 = der_begin(&s->essv2_der, 0x30);
		if (hash_nid != NID_sha256)
			put_hash_alg(&s->essv2_der, hash_nid, 0);
		der_put_tlv(&s->essv2_der, 0x04, ch, chl);
		size_t m3 = der_begin(&s->essv2_der, 0x30);       /* IssuerSerial */
		size_t m4 = der_begin(&s->essv2_der, 0x30);       /* GeneralNames */
		size_t m5 = der_begin(&s->essv2_der, 0xa4);       /* directoryName [4] */
		siegel_buf_append(&s->essv2_der, name.data, name.len);
		der_end(&s->essv2_der, m5);
		der_end(&s->essv2_der, m4);
		siegel_buf_append(&s->essv2_der, serial.data, serial.len);
		der_end(&s->essv2_der, m3);
		der_end(&s->essv2_der, m2);
		der_end(&s->essv2_der, m1);
		der_end(&s->essv2_der, m0);
	}
	siegel_buf_free(&name);
	siegel_buf_free(&serial);
	if (rc2 != 0) {
		rc = siegel_fail(d, SIEGEL_E_CRYPTO, "signer: cannot encode issuer/serial");
		goto fail;
	}

	put_hash_alg(&s->digest_alg, hash_nid, 0);
	size_t m = der_begin(&s->sig_alg, 0x30);
	if (s->type == SIGN_KEY_EC) {
		siegel_buf_append(&s->sig_alg, hash_nid == NID_sha384 ? oid_ecdsa_sha384 :
			hash_nid == NID_sha512 ? oid_ecdsa_sha512 : oid_ecdsa_sha256,
			sizeof(oid_ecdsa_sha256));
	} else if (!rsa_pss) {
		siegel_buf_append(&s->sig_alg, hash_nid == NID_sha384 ? oid_rsa_sha384 :
			hash_nid == NID_sha512 ? oid_rsa_sha512 : oid_rsa_sha256, sizeof(oid_rsa_sha256));
		der_put_tlv(&s->sig_alg, 0x05, NULL, 0);
	} else {
		/* RSASSA-PSS-params (RFC 4055 3.1): hash, MGF1(hash), salt = hash length */
		siegel_buf_append(&s->sig_alg, oid_rsassa_pss, sizeof(oid_rsassa_pss));
		size_t mp = der_begin(&s->sig_alg, 0x30);
		size_t m0 = der_begin(&s->sig_alg, 0xa0);
		put_hash_alg(&s->sig_alg, hash_nid, 1);
		der_end(&s->sig_alg, m0);
		size_t m1 = der_begin(&s->sig_alg, 0xa1);
		size_t mg = der_begin(&s->sig_alg, 0x30);
		siegel_buf_append(&s->sig_alg, oid_mgf1, sizeof(oid_mgf1));
		put_hash_alg(&s->sig_alg, hash_nid, 1);
		der_end(&s->sig_alg, mg);
		der_end(&s->sig_alg, m1);
		size_t m2 = der_begin(&s->sig_alg, 0xa2);
		der_put_uint(&s->sig_alg, 0x02, s->digest_len);
		der_end(&s->sig_alg, m2);
		der_end(&s->sig_alg, mp);
	}
	der_end(&s->sig_alg, m);
	if (s->certs_der.err || s->sid_der.err || s->essv2_der.err || s->digest_alg.err ||
	    s->sig_alg.err || sign_cms_prepare_signer(s) != 0) {
		rc = siegel_fail(d, SIEGEL_E_NOMEM, "signer: out of memory");
		goto fail;
	}

	/* per-document work done once: the hash implementation and the
	 * verify context of the self-check */
	s->md = EVP_MD_fetch(NULL, OBJ_nid2sn(hash_nid), NULL);
	s->hctx = EVP_MD_CTX_new();
	s->vctx = EVP_PKEY_CTX_new_from_pkey(NULL, s->pub, NULL);
	s->chk = calloc(1, sizeof(*s->chk));
	int ok = s->md != NULL && s->hctx != NULL && s->vctx != NULL && s->chk != NULL &&
		EVP_PKEY_verify_init(s->vctx) == 1;
	if (ok && s->type == SIGN_KEY_RSA)
		ok = rsa_pss ? EVP_PKEY_CTX_set_rsa_padding(s->vctx, RSA_PKCS1_PSS_PADDING) > 0 &&
			EVP_PKEY_CTX_set_rsa_pss_saltlen(s->vctx, (int)s->digest_len) > 0 &&
			EVP_PKEY_CTX_set_rsa_mgf1_md(s->vctx, s->md) > 0 :
			EVP_PKEY_CTX_set_rsa_padding(s->vctx, RSA_PKCS1_PADDING) > 0;
	if (ok)
		ok = EVP_PKEY_CTX_set_signature_md(s->vctx, s->md) > 0;
	if (!ok) {
		ERR_clear_error();
		rc = siegel_fail(d, SIEGEL_E_CRYPTO, "signer %s: cannot prepare hash and verify "
			"context", s->subject);
		goto fail;
	}
	return 0;
fail:
	sign_signer_free(s);
	return rc;
}

void sign_signer_free(struct sign_signer *s)
{
	if (s == NULL)
		return;
	X509_free(s->cert);
	EVP_PKEY_free(s->pub);
	siegel_buf_free(&s->certs_der);
	siegel_buf_free(&s->sid_der);
	siegel_buf_free(&s->essv2_der);
	siegel_buf_free(&s->digest_alg);
	siegel_buf_free(&s->sig_alg);
	siegel_buf_free(&s->attr_ct);
	siegel_buf_free(&s->attr_ess);
	EVP_MD_free(s->md);
	EVP_MD_CTX_free(s->hctx);
	EVP_PKEY_CTX_free(s->vctx);
	if (s->chk != NULL)
		sign_ecfast_free(s->chk->fast);
	free(s->chk);
	memset(s, 0, sizeof(*s));
}

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
	struct tm tm;
	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return INT64_MIN;
	return (int64_t)timegm(&tm);
}

int sign_cert_check(X509 *cert, STACK_OF(X509) *untrusted, STACK_OF(X509) *trust, int64_t now,
	struct siegel_diag *d)
{
	if (cert == NULL || trust == NULL || sk_X509_num(trust) == 0)
		return siegel_fail(d, SIEGEL_E_INVAL,
			"signer certificate check: no certificate or empty trust store");
	char subj[256];
	X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
	int64_t nb = asn1_time_unix(X509_get0_notBefore(cert));
	int64_t na = asn1_time_unix(X509_get0_notAfter(cert));
	if (now < nb)
		return siegel_fail(d, SIEGEL_E_CERT_EXPIRED,
			"signer certificate %s is not yet valid (notBefore in the future)", subj);
	if (now > na)
		return siegel_fail(d, SIEGEL_E_CERT_EXPIRED, "signer certificate %s has expired", subj);
	uint32_t ku = X509_get_key_usage(cert);
	if (ku != UINT32_MAX && !(ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)))
		return siegel_fail(d, SIEGEL_E_PARAM,
			"signer certificate %s: keyUsage has neither digitalSignature nor "
			"nonRepudiation", subj);
	if (X509_check_ca(cert) == 1 && (X509_get_extension_flags(cert) & EXFLAG_BCONS))
		return siegel_fail(d, SIEGEL_E_PARAM, "signer certificate %s is a CA certificate",
			subj);

	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc = 0;
	if (st == NULL || ctx == NULL) {
		rc = SIEGEL_E_NOMEM;
		goto out;
	}
	for (int i = 0; i < sk_X509_num(trust); i++)
		X509_STORE_add_cert(st, sk_X509_value(trust, i));
	/* Chain model: the time check is ours below, per link. */
	X509_STORE_set_flags(st, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_X509_STRICT);
	if (X509_STORE_CTX_init(ctx, st, cert, untrusted) != 1) {
		rc = SIEGEL_E_NOMEM;
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		rc = siegel_fail(d, SIEGEL_E_VERIFY, "signer certificate %s: no valid chain to the "
			"trust store: %s", subj, X509_verify_cert_error_string(e));
		goto out;
	}
	STACK_OF(X509) *ch = X509_STORE_CTX_get0_chain(ctx);
	for (int i = 0; i + 1 < sk_X509_num(ch); i++) {
		X509 *sub = sk_X509_value(ch, i), *iss = sk_X509_value(ch, i + 1);
		int64_t at = asn1_time_unix(X509_get0_notBefore(sub));
		int64_t inb = asn1_time_unix(X509_get0_notBefore(iss));
		int64_t ina = asn1_time_unix(X509_get0_notAfter(iss));
		if (at < inb || at > ina) {
			char in[256];
			X509_NAME_oneline(X509_get_subject_name(iss), in, sizeof(in));
			rc = siegel_fail(d, SIEGEL_E_CERT_EXPIRED,
				"signer certificate %s: CA certificate %s was not valid when it issued "
				"the next certificate (chain model)", subj, in);
			goto out;
		}
	}
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ERR_clear_error();
	return rc;
}
