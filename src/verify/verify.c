/* verify.c: the seed's eight verification steps for every signature of a
 * PDF or of a CMS file, return codes, and the report. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <strings.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "cms/cms.h"
#include "pdf/pdf.h"
#include "verify/report.h"
#include "verify/verify_internal.h"

static const struct {
	int code;
	const char *name;
	const char *text;
} codes[] = {
	{ 0, "fseOk", "signature verification successful" },
	{ 100, "fseVerifyCantDecrypt", "cannot decrypt (algorithm, SubFilter or encryption not implemented)" },
	{ 101, "fseVerifyCantFindCertificate", "cannot find the signer certificate" },
	{ 102, "fseVerifyCantFindIssuer", "cannot find the issuer of the certificate" },
	{ 103, "fseVerifyNoSelfSignedAllowed", "self-signed certificates are not allowed" },
	{ 104, "fseVerifyCertInvalid", "invalid certificate: expired or revoked" },
	{ 105, "fseVerifyOCSPerror", "OCSP error" },
	{ 106, "fseVerifyWrongPDFversion", "wrong PDF version" },
	{ 107, "fseVerifyNoValidSignature", "no valid signature" },
	{ 108, "fseVerifyCantReadFromFile", "cannot read from file" },
	{ 109, "fseVerifyCantReadFromB64", "cannot process base64-encoded data" },
	{ 110, "fseVerifyBadPdfFormat", "the PDF format of the data is broken" },
	{ 111, "fseVerifyPdfNotSigned", "the PDF data is not signed" },
	{ 112, "fseVerifyNotPdfData", "the data is not PDF" },
};

const char *verify_code_name(int code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].name;
	return "fseUnknown";
}

const char *verify_code_text(int code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].text;
	return "unknown code";
}

int verify_code_is_integrity(int code)
{
	return code == VERIFY_CANT_DECRYPT || code == VERIFY_NO_VALID_SIGNATURE;
}

int64_t verify_now(const struct verify_ctx *v)
{
	if (v->o.has_at)
		return v->o.at;
	const struct siegel_clock *c = v->o.clock ? v->o.clock : siegel_clock_system();
	return c->now(c->ctx);
}

int verify_ctx_new(struct verify_ctx **out, const struct verify_opts *o, struct siegel_diag *d)
{
	*out = NULL;
	struct verify_ctx *v = calloc(1, sizeof(*v));
	if (v == NULL)
		return SIEGEL_E_NOMEM;
	v->o = *o;
	v->xs = X509_STORE_new();
	v->store_certs = sk_X509_new_null();
	v->cache_slots = VERIFY_SIGCACHE_SLOTS;
	v->cache = calloc(v->cache_slots, sizeof(*v->cache));
	if (v->xs == NULL || v->store_certs == NULL || v->cache == NULL) {
		verify_ctx_free(v);
		return SIEGEL_E_NOMEM;
	}
	if (o->store_dir) {
		int rc = certstore_load(v, o->store_dir, d);
		if (rc) {
			verify_ctx_free(v);
			return rc;
		}
	}
	*out = v;
	return 0;
}

void verify_ctx_free(struct verify_ctx *v)
{
	if (v == NULL)
		return;
	X509_STORE_free(v->xs);
	sk_X509_pop_free(v->store_certs, X509_free);
	free(v->cache);
	free(v);
}

/* ---- certificate facts for the report ---- */

static int has_qc_compliance(X509 *x)
{
	/* id-etsi-qcs-QcCompliance 0.4.0.1862.1.1 inside the qcStatements
	 * extension (1.3.6.1.5.5.7.1.3) */
	static const uint8_t oid[] = { 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x01 };
	int idx = X509_get_ext_by_NID(x, NID_qcStatements, -1);
	if (idx < 0)
		return 0;
	ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(x, idx));
	return v && memmem(ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v), oid,
		sizeof(oid)) != NULL;
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

static void fill_cert(struct report_sig *rs, X509 *x)
{
	rs->has_cert = 1;
	verify_name_string(rs->subject, sizeof(rs->subject), X509_get_subject_name(x));
	verify_name_string(rs->issuer, sizeof(rs->issuer), X509_get_issuer_name(x));
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	if (hex) {
		const char *h = hex[0] == '-' ? hex + 1 : hex;
		snprintf(rs->serial, sizeof(rs->serial), "%s%s", strlen(h) % 2 ? "0" : "", h);
	}
	OPENSSL_free(hex);
	BN_free(bn);
	rs->not_before = asn1_unix(X509_get0_notBefore(x));
	rs->not_after = asn1_unix(X509_get0_notAfter(x));
	unsigned char *der = NULL;
	int dl = i2d_X509(x, &der);
	if (dl > 0)
		rs->cert_b64 = siegel_b64_encode(der, (size_t)dl);
	OPENSSL_free(der);
	rs->qc_compliance = has_qc_compliance(x);
	EVP_PKEY *pk = X509_get0_pubkey(x);
	if (pk) {
		int id = EVP_PKEY_get_base_id(pk);
		snprintf(rs->key_alg, sizeof(rs->key_alg), "%s", id == EVP_PKEY_RSA ? "RSA" :
			id == EVP_PKEY_RSA_PSS ? "RSA-PSS" : id == EVP_PKEY_EC ? "EC" :
			id == EVP_PKEY_ED25519 ? "Ed25519" : id == EVP_PKEY_DSA ? "DSA" : "other");
		rs->key_bits = EVP_PKEY_get_bits(pk);
		if (id == EVP_PKEY_EC) {
			size_t l = 0;
			if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, rs->curve,
				sizeof(rs->curve), &l))
				rs->curve[0] = 0;
		}
	}
	ERR_clear_error();
}

/* Appends src to the NUL-terminated dst of size cap, truncating. */
static void cat(char *dst, size_t cap, const char *src)
{
	size_t l = strlen(dst), n = strlen(src);
	if (l + 1 >= cap)
		return;
	if (n > cap - l - 1)
		n = cap - l - 1;
	memcpy(dst + l, src, n);
	dst[l + n] = 0;
}

/* Sets the signature's code unless one is set already, with a message. */
static void set_code(struct report_sig *rs, int code, const char *msg)
{
	if (rs->error != 0)
		return;
	rs->error = code;
	rs->message[0] = 0;
	cat(rs->message, sizeof(rs->message), msg ? msg : verify_code_text(code));
}

static void note(struct report_sig *rs, const char *msg)
{
	if (rs->message[0])
		cat(rs->message, sizeof(rs->message), "; ");
	cat(rs->message, sizeof(rs->message), msg);
}

/* Steps 1-8 for SignerInfo idx of sd over the content parts. */
static void check_signer(struct verify_ctx *v, struct report_sig *rs, struct cms_sd *sd,
	size_t idx, const struct cms_part *parts, size_t nparts, const struct pdf_sig *ps)
{
	struct siegel_diag d = { "" };
	int64_t now = verify_now(v);
	rs->verify_date = now;
	rs->sign_date = now;
	rs->sign_date_source = REPORT_SIGNDATE_NONE;
	snprintf(rs->ocsp_status, sizeof(rs->ocsp_status), "skipped");
	struct cms_signer s;
	if (cms_sd_signer(&s, sd, idx, &d) != 0) {
		set_code(rs, VERIFY_NO_VALID_SIGNATURE, d.msg);
		return;
	}
	snprintf(rs->hash_alg, sizeof(rs->hash_alg), "%s", cms_hash_ha_name(s.digest_nid));
	snprintf(rs->hash_alg_doc, sizeof(rs->hash_alg_doc), "%s", rs->hash_alg);
	snprintf(rs->sig_alg, sizeof(rs->sig_alg), "%.63s", s.sig_name ? s.sig_name : s.sig_oid);
	snprintf(rs->sig_alg_oid, sizeof(rs->sig_alg_oid), "%s", s.sig_oid);
	/* step 1: hash of the signed content with the signature's algorithm */
	uint8_t dig[CMS_MAX_DIGEST];
	size_t dl = 0;
	if (cms_digest(dig, &dl, s.digest_nid, parts, nparts) != 0) {
		char m[160];
		snprintf(m, sizeof(m), "digest algorithm %s is not implemented (or not allowed)",
			OBJ_nid2sn(s.digest_nid));
		set_code(rs, VERIFY_CANT_DECRYPT, m);
		return;
	}
	/* step 3: signer certificate by issuer+serial or SKI */
	X509 *cert = NULL;
	if (cms_sd_find_signer_cert(&cert, sd, idx, v->store_certs) != 0) {
		set_code(rs, VERIFY_CANT_FIND_CERTIFICATE,
			"the signer certificate named in the SignerInfo is neither in the signature nor "
			"in the qualified store");
		return;
	}
	fill_cert(rs, cert);
	/* step 4: mathematical verification */
	int dok = 0;
	int rc = cms_sd_verify_signer(&dok, sd, idx, cert, dig, dl, &d);
	rs->hash_matched = dok;
	if (rc == SIEGEL_E_NOTSUP) {
		set_code(rs, VERIFY_CANT_DECRYPT, d.msg);
		return;
	}
	if (rc) {
		set_code(rs, VERIFY_NO_VALID_SIGNATURE, d.msg);
		return;
	}
	/* PDF: later incremental updates (step 1 of the PDF checks) */
	if (ps != NULL) {
		snprintf(rs->change_class, sizeof(rs->change_class), "%s", pdf_change_name(ps->change));
		snprintf(rs->change_detail, sizeof(rs->change_detail), "%s", ps->change_msg);
		enum pdf_change allowed = ps->docmdp_p == 1 ? PDF_CHANGE_NONE :
			ps->docmdp_p == 3 ? PDF_CHANGE_ANNOTATIONS : PDF_CHANGE_FORM;
		rs->has_changed = ps->change > allowed;
		if (rs->has_changed) {
			char m[400];
			snprintf(m, sizeof(m), "the document was changed after signing (%s: %s)",
				pdf_change_name(ps->change), ps->change_msg);
			set_code(rs, VERIFY_NO_VALID_SIGNATURE, m);
			return;
		}
	}
	/* step 7: signing time */
	if (s.tst_der != NULL) {
		int64_t gt;
		X509 *tsa = NULL;
		struct cms_sd *tok = NULL;
		struct cms_part sp = { s.sig_value, s.sig_len };
		rc = cms_tst_verify(&gt, &tsa, &tok, s.tst_der, s.tst_len, &sp, 1, v->store_certs, &d);
		if (rc == SIEGEL_E_VERIFY || rc == SIEGEL_E_PARSE || rc == SIEGEL_E_LIMIT) {
			char m[600];
			snprintf(m, sizeof(m), "signature time-stamp: %s", d.msg);
			set_code(rs, VERIFY_NO_VALID_SIGNATURE, m);
			cms_sd_free(tok);
			return;
		}
		if (rc == 0) {
			struct chain_out tc;
			chain_validate(&tc, v, tsa, cms_sd_certs(tok), gt, X509_PURPOSE_TIMESTAMP_SIGN,
				1);
			if (tc.code == 0) {
				rs->sign_date = gt;
				rs->sign_date_source = REPORT_SIGNDATE_TIMESTAMP;
			} else {
				char m[400];
				snprintf(m, sizeof(m), "signature time-stamp not used: TSA not trusted (%s)",
					tc.msg);
				note(rs, m);
			}
			chain_out_free(&tc);
		} else {
			char m[600];
			snprintf(m, sizeof(m), "signature time-stamp not used: %s", d.msg);
			note(rs, m);
		}
		cms_sd_free(tok);
	}
	if (rs->sign_date_source == REPORT_SIGNDATE_NONE && s.has_signing_time) {
		rs->sign_date = s.signing_time;
		rs->sign_date_source = REPORT_SIGNDATE_SIGNING_TIME;
	}
	if (rs->sign_date_source == REPORT_SIGNDATE_NONE && ps != NULL && ps->has_m) {
		rs->sign_date = ps->m_time;
		rs->sign_date_source = REPORT_SIGNDATE_PDF_M;
	}
	if (rs->sign_date_source == REPORT_SIGNDATE_NONE)
		note(rs, "no signing time in the signature: validity checked at the verification time");
	/* steps 2, 3, 8: chain against the qualified store, chain model */
	struct chain_out c;
	chain_validate(&c, v, cert, cms_sd_certs(sd), rs->sign_date, 0, 1);
	rs->chain_validated = c.validated;
	rs->is_self_signed = c.self_signed;
	rs->root_in_store = c.root_in_store;
	if (c.code != 0) {
		set_code(rs, c.code, c.msg);
		chain_out_free(&c);
		return;
	}
	/* step 5: qualified = root in the qualified store and QC statement */
	rs->is_qualified = rs->root_in_store && rs->qc_compliance;
	/* step 6: OCSP */
	if (!v->o.no_ocsp) {
		X509 *issuer = sk_X509_num(c.chain) > 1 ? sk_X509_value(c.chain, 1) : NULL;
		if (issuer == NULL) {
			snprintf(rs->ocsp_status, sizeof(rs->ocsp_status), "skipped");
			snprintf(rs->ocsp_detail, sizeof(rs->ocsp_detail),
				"signer certificate is itself in the qualified store");
		} else {
			struct ocsp_out oo;
			ocsp_check(&oo, v, cert, issuer, c.chain);
			snprintf(rs->ocsp_status, sizeof(rs->ocsp_status), "%s", oo.status);
			snprintf(rs->ocsp_detail, sizeof(rs->ocsp_detail), "%s", oo.detail);
			if (strcmp(oo.status, "revoked") == 0) {
				if (rs->sign_date_source == REPORT_SIGNDATE_TIMESTAMP &&
				    oo.revoked_at > rs->sign_date && oo.reason != 1 /* keyCompromise */) {
					note(rs, "certificate revoked after the time-stamped signing time");
				} else {
					char m[400];
					snprintf(m, sizeof(m), "signer certificate revoked: %s", oo.detail);
					set_code(rs, VERIFY_CERT_INVALID, m);
				}
			} else if (strcmp(oo.status, "good") != 0) {
				char m[400];
				snprintf(m, sizeof(m), "OCSP: %s", oo.detail);
				set_code(rs, VERIFY_OCSP_ERROR, m);
			}
		}
	} else {
		snprintf(rs->ocsp_detail, sizeof(rs->ocsp_detail), "OCSP check switched off (--no-ocsp)");
	}
	chain_out_free(&c);
}

/* Document code from the signatures (file order): the first integrity-class
 * code, else the first certificate-class code, else 0. */
static int document_code(const struct report *r)
{
	for (size_t i = 0; i < r->n_sigs; i++)
		if (verify_code_is_integrity(r->sigs[i].error))
			return r->sigs[i].error;
	for (size_t i = 0; i < r->n_sigs; i++)
		if (r->sigs[i].error)
			return r->sigs[i].error;
	return 0;
}

static void doc_fail(struct report *r, int code, const char *msg)
{
	r->error = code;
	snprintf(r->message, sizeof(r->message), "%s", msg && msg[0] ? msg : verify_code_text(code));
}

static void verify_pdf(struct verify_ctx *v, struct report *r, const uint8_t *data, size_t len)
{
	struct siegel_diag d = { "" };
	struct pdf_doc doc;
	enum pdf_fail fail;
	if (pdf_open(&doc, &fail, data, len, &d) != 0) {
		int code = fail == PDF_FAIL_NOT_PDF ? VERIFY_NOT_PDF_DATA :
			fail == PDF_FAIL_VERSION ? VERIFY_WRONG_PDF_VERSION :
			fail == PDF_FAIL_ENCRYPTED ? VERIFY_CANT_DECRYPT : VERIFY_BAD_PDF_FORMAT;
		doc_fail(r, code, d.msg);
		return;
	}
	if (doc.n_sigs == 0) {
		char m[200];
		snprintf(m, sizeof(m), "no filled signature field%s",
			doc.n_placeholders ? " (only unsigned placeholders with all-zero /Contents)" : "");
		doc_fail(r, VERIFY_PDF_NOT_SIGNED, m);
		pdf_doc_free(&doc);
		return;
	}
	for (size_t i = 0; i < doc.n_sigs; i++) {
		struct pdf_sig *ps = &doc.sigs[i];
		struct report_sig *rs = report_add_sig(r);
		if (rs == NULL) {
			doc_fail(r, VERIFY_CANT_READ_FILE, "out of memory");
			break;
		}
		rs->is_pdf = 1;
		rs->verify_date = rs->sign_date = verify_now(v);
		snprintf(rs->ocsp_status, sizeof(rs->ocsp_status), "skipped");
		snprintf(rs->field, sizeof(rs->field), "%s", ps->field);
		snprintf(rs->subfilter, sizeof(rs->subfilter), "%s", ps->subfilter);
		snprintf(rs->reason, sizeof(rs->reason), "%s", ps->reason);
		snprintf(rs->location, sizeof(rs->location), "%s", ps->location);
		memcpy(rs->byte_range, ps->br, sizeof(ps->br));
		rs->has_byte_range = ps->br_status != PDF_BR_MALFORMED;
		rs->covers_whole_file = ps->br_status == PDF_BR_OK && ps->covers_whole_file;
		if (ps->has_m) {
			rs->sign_date = ps->m_time;
			rs->sign_date_source = REPORT_SIGNDATE_PDF_M;
		}
		if (ps->br_status != PDF_BR_OK) {
			set_code(rs, VERIFY_NO_VALID_SIGNATURE, ps->br_msg);
			continue;
		}
		int is_ts = strcmp(ps->subfilter, "ETSI.RFC3161") == 0;
		if (!is_ts && strcmp(ps->subfilter, "adbe.pkcs7.detached") != 0 &&
		    strcmp(ps->subfilter, "ETSI.CAdES.detached") != 0) {
			char m[160];
			snprintf(m, sizeof(m), "SubFilter /%s is not implemented (adbe.pkcs7.detached, "
				"ETSI.CAdES.detached and ETSI.RFC3161 are)", ps->subfilter);
			set_code(rs, VERIFY_CANT_DECRYPT, m);
			continue;
		}
		if (pdf_analyse_changes(&doc, i, &d) != 0) {
			set_code(rs, VERIFY_BAD_PDF_FORMAT, d.msg);
			continue;
		}
		struct cms_part parts[2] = {
			{ data, (size_t)ps->br[1] },
			{ data + ps->br[2], (size_t)ps->br[3] },
		};
		if (is_ts) {
			/* document time-stamp: the token's imprint is the ByteRange hash */
			int64_t gt;
			X509 *tsa = NULL;
			struct cms_sd *tok = NULL;
			int rc = cms_tst_verify(&gt, &tsa, &tok, ps->contents, ps->contents_len, parts, 2,
				v->store_certs, &d);
			rs->hash_matched = rc == 0;
			if (rc == SIEGEL_E_NOTSUP)
				set_code(rs, VERIFY_CANT_DECRYPT, d.msg);
			else if (rc == SIEGEL_E_NOTFOUND)
				set_code(rs, VERIFY_CANT_FIND_CERTIFICATE, d.msg);
			else if (rc)
				set_code(rs, VERIFY_NO_VALID_SIGNATURE, d.msg);
			if (rc == 0) {
				fill_cert(rs, tsa);
				rs->sign_date = gt;
				rs->sign_date_source = REPORT_SIGNDATE_TIMESTAMP;
				struct chain_out c;
				chain_validate(&c, v, tsa, cms_sd_certs(tok), gt, X509_PURPOSE_TIMESTAMP_SIGN,
				1);
				rs->chain_validated = c.validated;
				rs->is_self_signed = c.self_signed;
				rs->root_in_store = c.root_in_store;
				if (c.code)
					set_code(rs, c.code, c.msg);
				chain_out_free(&c);
			}
			cms_sd_free(tok);
			continue;
		}
		struct cms_sd *sd = NULL;
		if (cms_sd_parse(&sd, ps->contents, ps->contents_len, 1, &d) != 0) {
			char m[600];
			snprintf(m, sizeof(m), "signature /Contents: %s", d.msg);
			set_code(rs, VERIFY_NO_VALID_SIGNATURE, m);
			continue;
		}
		const uint8_t *ec;
		size_t ecl;
		cms_sd_econtent(&ec, &ecl, sd);
		if (ec != NULL) {
			set_code(rs, VERIFY_NO_VALID_SIGNATURE,
				"a detached PDF signature must not carry encapsulated content");
		} else {
			check_signer(v, rs, sd, 0, parts, 2, ps);
			if (cms_sd_signer_count(sd) > 1)
				note(rs, "only the first of several SignerInfos was checked (PAdES allows one)");
		}
		cms_sd_free(sd);
	}
	if (r->error == 0)
		r->error = document_code(r);
	pdf_doc_free(&doc);
}

static int has_suffix_ci(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcasecmp(s + a - b, suf) == 0;
}

/* Base64 text (optionally PEM-armoured) -> bytes; SIEGEL_E_PARSE if invalid. */
static int decode_b64(uint8_t **out, size_t *out_len, const uint8_t *in, size_t len)
{
	const char *s = (const char *)in;
	size_t n = len;
	const char *b = memmem(s, n, "-----BEGIN", 10);
	if (b != NULL) {
		const char *nl = memchr(b, '\n', n - (size_t)(b - s));
		const char *e = nl ? memmem(nl, n - (size_t)(nl - s), "-----END", 8) : NULL;
		if (nl == NULL || e == NULL)
			return SIEGEL_E_PARSE;
		s = nl + 1;
		n = (size_t)(e - s);
	}
	return siegel_b64_decode(out, out_len, s, n, 1);
}

static int looks_b64(const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (!(isalnum(c) || c == '+' || c == '/' || c == '=' || c == '\r' || c == '\n' ||
		      c == ' ' || c == '\t'))
			return 0;
	}
	return 1;
}

static void verify_cms(struct verify_ctx *v, struct report *r, const uint8_t *data, size_t len,
	const uint8_t *detached, size_t dlen, int have_detached)
{
	struct siegel_diag d = { "" };
	struct cms_sd *sd = NULL;
	if (cms_sd_parse(&sd, data, len, 0, &d) != 0) {
		doc_fail(r, VERIFY_NO_VALID_SIGNATURE, d.msg);
		return;
	}
	const uint8_t *ec;
	size_t ecl;
	cms_sd_econtent(&ec, &ecl, sd);
	struct cms_part part;
	if (ec != NULL) {
		part.p = ec;
		part.len = ecl;
		if (have_detached && (dlen != ecl || memcmp(detached, ec, dlen) != 0)) {
			doc_fail(r, VERIFY_NO_VALID_SIGNATURE,
				"the signature encapsulates content that differs from the given data file");
			cms_sd_free(sd);
			return;
		}
	} else if (!have_detached) {
		doc_fail(r, VERIFY_CANT_READ_FILE,
			"detached signature: the signed data file is missing (give it as DATAFILE)");
		cms_sd_free(sd);
		return;
	} else {
		part.p = detached;
		part.len = dlen;
	}
	for (size_t i = 0; i < cms_sd_signer_count(sd); i++) {
		struct report_sig *rs = report_add_sig(r);
		if (rs == NULL) {
			doc_fail(r, VERIFY_CANT_READ_FILE, "out of memory");
			break;
		}
		check_signer(v, rs, sd, i, &part, 1, NULL);
	}
	if (r->error == 0)
		r->error = document_code(r);
	cms_sd_free(sd);
}

static int is_pdf_bytes(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 5 <= n && i < 1024; i++)
		if (memcmp(p + i, "%PDF-", 5) == 0)
			return 1;
	return 0;
}

int verify_buffer(struct report **out, struct verify_ctx *v, const char *name,
	const uint8_t *data, size_t len, const uint8_t *detached, size_t detached_len,
	const char *detached_name, struct siegel_diag *d)
{
	(void)d;
	*out = NULL;
	struct report *r = report_new();
	if (r == NULL)
		return SIEGEL_E_NOMEM;
	snprintf(r->file_name, sizeof(r->file_name), "%s", name ? name : "");
	if (detached_name)
		snprintf(r->data_file_name, sizeof(r->data_file_name), "%s", detached_name);
	r->verify_date = verify_now(v);
	unsigned int hl = 32;
	if (EVP_Digest(data, len, r->file_hash, &hl, EVP_sha256(), NULL))
		r->has_file_hash = 1;
	int want_pdf = name && has_suffix_ci(name, ".pdf") && detached == NULL;
	int b64_name = name && (has_suffix_ci(name, ".b64") || has_suffix_ci(name, ".base64") ||
		has_suffix_ci(name, ".pem") || has_suffix_ci(name, ".asc"));
	uint8_t *dec = NULL;
	size_t declen = 0;
	const uint8_t *p = data;
	size_t n = len;
	if (is_pdf_bytes(data, len) && detached == NULL) {
		verify_pdf(v, r, data, len);
		goto done;
	}
	if (want_pdf) {
		/* a PDF was expected: base64 of a PDF is accepted */
		if (!b64_name && !looks_b64(data, len)) {
			doc_fail(r, VERIFY_NOT_PDF_DATA, "not a PDF: no %PDF- header");
			goto done;
		}
		if (decode_b64(&dec, &declen, data, len) != 0) {
			doc_fail(r, VERIFY_CANT_READ_B64, "the base64 input does not decode");
			goto done;
		}
		if (!is_pdf_bytes(dec, declen)) {
			doc_fail(r, VERIFY_NOT_PDF_DATA, "not a PDF: the decoded base64 has no %PDF- header");
			goto done;
		}
		verify_pdf(v, r, dec, declen);
		goto done;
	}
	if (len > 0 && data[0] != 0x30 && (b64_name || looks_b64(data, len) ||
	    memmem(data, len, "-----BEGIN", 10) != NULL)) {
		if (decode_b64(&dec, &declen, data, len) != 0) {
			doc_fail(r, VERIFY_CANT_READ_B64,
				"the input is neither DER nor valid base64 (characters outside the alphabet or "
				"bad padding)");
			goto done;
		}
		p = dec;
		n = declen;
		if (is_pdf_bytes(p, n) && detached == NULL) {
			verify_pdf(v, r, p, n);
			goto done;
		}
	}
	verify_cms(v, r, p, n, detached, detached_len, detached != NULL);
done:
	free(dec);
	*out = r;
	return 0;
}

int verify_file(struct report **out, struct verify_ctx *v, const char *path,
	const char *data_path, struct siegel_diag *d)
{
	*out = NULL;
	uint8_t *data = NULL, *det = NULL;
	size_t len = 0, dlen = 0;
	struct siegel_diag dd = { "" };
	int rc = siegel_read_file(&data, &len, path, VERIFY_MAX_INPUT, &dd);
	if (rc == 0 && data_path)
		rc = siegel_read_file(&det, &dlen, data_path, VERIFY_MAX_INPUT, &dd);
	if (rc) {
		struct report *r = report_new();
		if (r == NULL) {
			free(data);
			return SIEGEL_E_NOMEM;
		}
		snprintf(r->file_name, sizeof(r->file_name), "%s", path);
		if (data_path)
			snprintf(r->data_file_name, sizeof(r->data_file_name), "%s", data_path);
		r->verify_date = verify_now(v);
		doc_fail(r, VERIFY_CANT_READ_FILE, dd.msg);
		free(data);
		*out = r;
		return 0;
	}
	static const uint8_t empty[1] = { 0 };
	rc = verify_buffer(out, v, path, data, len, data_path ? (det ? det : empty) : NULL, dlen,
		data_path, d);
	free(data);
	free(det);
	return rc;
}
