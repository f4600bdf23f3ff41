/* sign_cms: CMS SignedData (RFC 5652) for detached CAdES-B-B and PAdES
 * signatures, encoded in DER by hand: OpenSSL's CMS_sign always adds
 * signing-time, which PAdES-B-B forbids (EN 319 142-1 5.3), and the signature
 * value comes from the token. The signed attributes are hashed as a DER SET
 * OF (tag 0x31, members sorted) and embedded as [0] IMPLICIT. */
#include "sign/sign.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include "der/der.h"
#include "sign/sign_ecfast.h"

static const uint8_t oid_signed_data[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02 };
static const uint8_t oid_data[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01 };
static const uint8_t oid_content_type[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03 };
static const uint8_t oid_message_digest[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04 };
static const uint8_t oid_signing_time[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05 };
static const uint8_t oid_signing_cert_v2[] = { 0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x2f };
static const uint8_t oid_sig_tst[] = { 0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x0e };

#define CMS_MAX_ATTRS 4

struct attr {
	uint8_t buf[128];
	size_t len;
};

/* Attribute ::= SEQUENCE { attrType OID, attrValues SET { value } } with a
 * small value (message-digest, signing-time): every length fits the DER
 * short form, so it is written straight into a->buf. */
static int attr_small(struct attr *a, const uint8_t *oid, size_t oid_len, uint8_t vtag,
	const uint8_t *v, size_t vl)
{
	size_t setl = 2 + vl, seql = oid_len + 2 + setl;
	if (seql > 127 || 2 + seql > sizeof(a->buf))
		return SIEGEL_E_LIMIT;
	uint8_t *q = a->buf;
	*q++ = 0x30;
	*q++ = (uint8_t)seql;
	memcpy(q, oid, oid_len);
	q += oid_len;
	*q++ = 0x31;
	*q++ = (uint8_t)setl;
	*q++ = vtag;
	*q++ = (uint8_t)vl;
	memcpy(q, v, vl);
	a->len = 2 + seql;
	return 0;
}

int sign_cms_prepare_signer(struct sign_signer *s)
{
	struct siegel_buf *b = &s->attr_ct;
	siegel_buf_reset(b);
	size_t m = der_begin(b, 0x30);
	siegel_buf_append(b, oid_content_type, sizeof(oid_content_type));
	size_t ms = der_begin(b, 0x31);
	siegel_buf_append(b, oid_data, sizeof(oid_data));
	der_end(b, ms);
	der_end(b, m);
	b = &s->attr_ess;
	siegel_buf_reset(b);
	m = der_begin(b, 0x30);
	siegel_buf_append(b, oid_signing_cert_v2, sizeof(oid_signing_cert_v2));
	ms = der_begin(b, 0x31);
	siegel_buf_append(b, s->essv2_der.data, s->essv2_der.len);
	der_end(b, ms);
	der_end(b, m);
	return s->attr_ct.err ? s->attr_ct.err : s->attr_ess.err;
}

struct attr_ref {
	const uint8_t *p;
	size_t len;
};

static int cmp_attr_ref(const void *x, const void *y)
{
	const struct attr_ref *a = x, *b = y;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->p, b->p, n);
	return c != 0 ? c : (a->len < b->len ? -1 : a->len > b->len);
}

/* Appends the signed attributes as DER SET (0x31) to out: the signer's
 * prepared content-type and signing-certificate-v2 attributes, and the
 * per-document message-digest (and signing-time), in DER SET OF order. */
static int signed_attrs(struct siegel_buf *out, const struct sign_signer *s,
	const struct sign_cms_params *p)
{
	struct attr md, st;
	struct attr_ref at[CMS_MAX_ATTRS];
	size_t n = 0;
	if (s->attr_ct.len == 0 || s->attr_ess.len == 0)
		return SIEGEL_E_INVAL;
	at[n++] = (struct attr_ref){ s->attr_ct.data, s->attr_ct.len };
	at[n++] = (struct attr_ref){ s->attr_ess.data, s->attr_ess.len };
	int rc = attr_small(&md, oid_message_digest, sizeof(oid_message_digest), 0x04,
		p->digest, p->digest_len);
	if (rc)
		return rc;
	at[n++] = (struct attr_ref){ md.buf, md.len };
	if (p->signing_time >= 0) {
		time_t t = (time_t)p->signing_time;
		struct tm tm;
		char ts[20];
		if (gmtime_r(&t, &tm) == NULL)
			return SIEGEL_E_INVAL;
		int utc = tm.tm_year >= 50 && tm.tm_year < 150; /* RFC 5652 11.3 */
		strftime(ts, sizeof(ts), utc ? "%y%m%d%H%M%SZ" : "%Y%m%d%H%M%SZ", &tm);
		rc = attr_small(&st, oid_signing_time, sizeof(oid_signing_time),
			utc ? 0x17 : 0x18, (const uint8_t *)ts, strlen(ts));
		if (rc)
			return rc;
		at[n++] = (struct attr_ref){ st.buf, st.len };
	}
	qsort(at, n, sizeof(at[0]), cmp_attr_ref);
	size_t mset = der_begin(out, 0x31);
	for (size_t i = 0; i < n; i++)
		siegel_buf_append(out, at[i].p, at[i].len);
	der_end(out, mset);
	return out->err;
}

int sign_cms_build(struct siegel_buf *out, const struct sign_signer *s,
	const struct sign_cms_params *p, struct siegel_diag *d)
{
	if (out == NULL || s == NULL || p == NULL || p->sign == NULL || p->digest == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "CMS: missing signer, digest or sign function");
	if (p->digest_len != s->digest_len)
		return siegel_fail(d, SIEGEL_E_INVAL, "CMS: digest is %zu bytes, the signer's hash "
			"gives %zu", p->digest_len, s->digest_len);
	struct siegel_buf attrs, tst;
	siegel_buf_init(&attrs);
	siegel_buf_init(&tst);
	int rc = signed_attrs(&attrs, s, p);
	if (rc) {
		siegel_buf_free(&attrs);
		return siegel_fail(d, rc, "CMS: cannot encode the signed attributes");
	}
	uint8_t h[SIGN_MAX_DIGEST];
	unsigned hl = 0;
	if (EVP_Digest(attrs.data, attrs.len, h, &hl, s->md, NULL) != 1) {
		siegel_buf_free(&attrs);
		return siegel_fail(d, SIEGEL_E_CRYPTO, "CMS: hashing the signed attributes failed");
	}
	uint8_t sig[SIGN_MAX_SIG];
	size_t sig_len = 0;
	rc = p->sign(p->sign_ctx, sig, &sig_len, sizeof(sig), h, hl, d);
	if (rc)
		goto out;
	if (p->tsa != NULL) {
		uint8_t imp[SIGN_MAX_DIGEST];
		unsigned il = 0;
		if (EVP_Digest(sig, sig_len, imp, &il, s->md, NULL) != 1) {
			rc = siegel_fail(d, SIEGEL_E_CRYPTO, "CMS: hashing the signature value failed");
			goto out;
		}
		rc = p->tsa(p->tsa_ctx, &tst, imp, il, s->hash_nid, d);
		if (rc)
			goto out;
		if (tst.len == 0 || tst.len > SIGN_MAX_TST_BYTES || tst.data[0] != 0x30) {
			rc = siegel_fail(d, SIEGEL_E_PARSE, "TSA: time-stamp token of %zu bytes is unusable",
				tst.len);
			goto out;
		}
	}

	size_t m0 = der_begin(out, 0x30);                       /* ContentInfo */
	siegel_buf_append(out, oid_signed_data, sizeof(oid_signed_data));
	size_t m1 = der_begin(out, 0xa0);
	size_t m2 = der_begin(out, 0x30);                       /* SignedData */
	der_put_uint(out, 0x02, 1);
	size_t m3 = der_begin(out, 0x31);
	siegel_buf_append(out, s->digest_alg.data, s->digest_alg.len);
	der_end(out, m3);
	size_t m4 = der_begin(out, 0x30);                       /* EncapsulatedContentInfo */
	siegel_buf_append(out, oid_data, sizeof(oid_data));
	der_end(out, m4);
	der_put_tlv(out, 0xa0, s->certs_der.data, s->certs_der.len);
	size_t m5 = der_begin(out, 0x31);
	size_t m6 = der_begin(out, 0x30);                       /* SignerInfo */
	der_put_uint(out, 0x02, 1);
	siegel_buf_append(out, s->sid_der.data, s->sid_der.len);
	siegel_buf_append(out, s->digest_alg.data, s->digest_alg.len);
	size_t at = out->len;
	siegel_buf_append(out, attrs.data, attrs.len);
	if (!out->err)
		out->data[at] = 0xa0;                           /* [0] IMPLICIT */
	siegel_buf_append(out, s->sig_alg.data, s->sig_alg.len);
	der_put_tlv(out, 0x04, sig, sig_len);
	if (tst.len > 0) {
		size_t m7 = der_begin(out, 0xa1);
		size_t m8 = der_begin(out, 0x30);
		siegel_buf_append(out, oid_sig_tst, sizeof(oid_sig_tst));
		size_t m9 = der_begin(out, 0x31);
		siegel_buf_append(out, tst.data, tst.len);
		der_end(out, m9);
		der_end(out, m8);
		der_end(out, m7);
	}
	der_end(out, m6);
	der_end(out, m5);
	der_end(out, m2);
	der_end(out, m1);
	der_end(out, m0);
	if (out->err)
		rc = siegel_fail(d, SIEGEL_E_NOMEM, "CMS: out of memory");
out:
	siegel_buf_free(&attrs);
	siegel_buf_free(&tst);
	return rc;
}

/* ---- self-check ---- */

#define RD(c, t, tag, what) do { rc = der_read((c), (t), (tag), 0, (what), d); if (rc) return rc; } while (0)

int sign_cms_selfcheck(const uint8_t *cms, size_t cms_len, const uint8_t *digest,
	size_t digest_len, const struct sign_signer *s, struct siegel_diag *d)
{
	struct der_cursor c, ci, sd, sis, si, attrs;
	struct der_tlv t, oid, body, set, sinfo, sattrs, sig;
	int rc;
	der_cursor_init(&c, cms, cms_len);
	RD(&c, &t, 0x30, "self-check: ContentInfo");
	if (!der_at_end(&c))
		return siegel_fail(d, SIEGEL_E_PARSE, "self-check: bytes after ContentInfo");
	der_cursor_sub(&ci, &t);
	RD(&ci, &oid, 0x06, "self-check: ContentInfo.contentType");
	if (oid.tlv_len != sizeof(oid_signed_data) ||
	    memcmp(oid.tlv, oid_signed_data, oid.tlv_len) != 0)
		return siegel_fail(d, SIEGEL_E_PARSE, "self-check: not SignedData");
	RD(&ci, &body, 0xa0, "self-check: ContentInfo.content");
	der_cursor_sub(&sd, &body);
	RD(&sd, &t, 0x30, "self-check: SignedData");
	der_cursor_sub(&sd, &t);
	RD(&sd, &t, 0x02, "self-check: SignedData.version");
	RD(&sd, &t, 0x31, "self-check: SignedData.digestAlgorithms");
	RD(&sd, &t, 0x30, "self-check: SignedData.encapContentInfo");
	if (t.val_len != sizeof(oid_data) || memcmp(t.val, oid_data, sizeof(oid_data)) != 0)
		return siegel_fail(d, SIEGEL_E_PARSE,
			"self-check: encapContentInfo is not a detached id-data");
	if (der_peek_tag(&sd) == 0xa0)
		RD(&sd, &t, 0xa0, "self-check: SignedData.certificates");
	if (der_peek_tag(&sd) == 0xa1)
		RD(&sd, &t, 0xa1, "self-check: SignedData.crls");
	RD(&sd, &set, 0x31, "self-check: SignedData.signerInfos");
	der_cursor_sub(&sis, &set);
	RD(&sis, &sinfo, 0x30, "self-check: SignerInfo");
	if (!der_at_end(&sis))
		return siegel_fail(d, SIEGEL_E_PARSE, "self-check: more than one SignerInfo");
	der_cursor_sub(&si, &sinfo);
	RD(&si, &t, 0x02, "self-check: SignerInfo.version");
	RD(&si, &t, 0x30, "self-check: SignerInfo.sid");
	if (t.tlv_len != s->sid_der.len || memcmp(t.tlv, s->sid_der.data, t.tlv_len) != 0)
		return siegel_fail(d, SIEGEL_E_VERIFY,
			"self-check: SignerInfo.sid does not name the signer certificate");
	RD(&si, &t, 0x30, "self-check: SignerInfo.digestAlgorithm");
	RD(&si, &sattrs, 0xa0, "self-check: SignerInfo.signedAttrs");
	RD(&si, &t, 0x30, "self-check: SignerInfo.signatureAlgorithm");
	RD(&si, &sig, 0x04, "self-check: SignerInfo.signature");

	int have_md = 0, have_ct = 0;
	der_cursor_sub(&attrs, &sattrs);
	while (!der_at_end(&attrs)) {
		struct der_tlv a, aoid, vals, v;
		struct der_cursor ac, vc;
		RD(&attrs, &a, 0x30, "self-check: Attribute");
		der_cursor_sub(&ac, &a);
		RD(&ac, &aoid, 0x06, "self-check: Attribute.attrType");
		RD(&ac, &vals, 0x31, "self-check: Attribute.attrValues");
		der_cursor_sub(&vc, &vals);
		if (aoid.tlv_len == sizeof(oid_message_digest) &&
		    memcmp(aoid.tlv, oid_message_digest, aoid.tlv_len) == 0) {
			RD(&vc, &v, 0x04, "self-check: messageDigest");
			if (v.val_len != digest_len || memcmp(v.val, digest, digest_len) != 0)
				return siegel_fail(d, SIEGEL_E_VERIFY,
					"self-check: message-digest differs from the document hash");
			have_md++;
		} else if (aoid.tlv_len == sizeof(oid_content_type) &&
			   memcmp(aoid.tlv, oid_content_type, aoid.tlv_len) == 0) {
			have_ct++;
		}
	}
	if (have_md != 1 || have_ct != 1)
		return siegel_fail(d, SIEGEL_E_VERIFY,
			"self-check: want exactly one content-type and one message-digest attribute");

	/* the signature over DER(SET OF attributes): hashed as SET (tag 0x31)
	 * from the bytes as embedded, verified with the prepared context */
	static const uint8_t set_tag = 0x31;
	uint8_t h[SIGN_MAX_DIGEST];
	unsigned hl = 0;
	rc = SIEGEL_E_VERIFY;
	struct sign_selfcheck *chk = s->chk;
	if (chk != NULL && s->type == SIGN_KEY_EC && chk->fast == NULL && !chk->fast_unavailable) {
		if (chk->after == 0)
			chk->after = sign_ecfast_after(s->pub);
		if (++chk->checks > chk->after && sign_ecfast_new(&chk->fast, s->pub, NULL) != 0)
			chk->fast_unavailable = 1; /* EVP_PKEY_verify goes on */
	}
	if (s->hctx != NULL && s->vctx != NULL && sattrs.tlv_len > 1 &&
	    EVP_DigestInit_ex(s->hctx, s->md, NULL) == 1 &&
	    EVP_DigestUpdate(s->hctx, &set_tag, 1) == 1 &&
	    EVP_DigestUpdate(s->hctx, sattrs.tlv + 1, sattrs.tlv_len - 1) == 1 &&
	    EVP_DigestFinal_ex(s->hctx, h, &hl) == 1 && hl == s->digest_len &&
	    (chk != NULL && chk->fast != NULL
		    ? sign_ecfast_verify(chk->fast, sig.val, sig.val_len, h, hl) == 0
		    : EVP_PKEY_verify(s->vctx, sig.val, sig.val_len, h, hl) == 1))
		rc = 0;
	ERR_clear_error();
	if (rc)
		return siegel_fail(d, SIEGEL_E_VERIFY, "self-check: the signature value does not "
			"verify with the public key of %s", s->subject);
	return 0;
}
