/* PAdES B-B/B-T and CAdES-B-B with keys in SoftHSM2, checked by independent
 * tools: every signed PDF passes pdfsig (valid, whole document signed) and
 * qpdf --check, and the input is a byte prefix of the output, for a classic-
 * xref PDF, an xref-stream/object-stream PDF, a linearized PDF, a PDF with a
 * form and already-signed PDFs (the earlier signatures stay valid); every
 * .p7s verifies with openssl cms -verify. Rejections: encrypted, damaged,
 * DocMDP-certified, non-PDF input, a too small /Contents. The signer
 * certificate check: expired, wrong keyUsage, no chain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/obj_mac.h>

#include "harness.h"
#include "sign/sign.h"
#include "sign/sign_ecfast.h"
#include "sign_fixture.h"

struct ctx {
	struct sign_p11 *p;
	struct sign_p11_key key;
	int hash_nid, pss;
};

static int raw(void *c, uint8_t *sig, size_t *sl, size_t cap, const uint8_t *dig, size_t dl,
	struct siegel_diag *d)
{
	struct ctx *x = c;
	return sign_p11_sign_digest(sig, sl, cap, x->p, &x->key, x->hash_nid, x->pss, dig, dl,
		FX_PIN, strlen(FX_PIN), d);
}

static const char *dir;
static const char *mod;
static struct fx_pki pki;

struct signer_set {
	struct ctx c;
	struct sign_signer s;
};

static int signer_open(struct signer_set *ss, const char *label, const char *type, int pss)
{
	struct siegel_diag d = { { 0 } };
	EVP_PKEY *pub = fx_keygen(mod, label, type, 0);
	X509 *cert = fx_signer_cert(&pki, pub, label);
	EVP_PKEY_free(pub);
	memset(ss, 0, sizeof(*ss));
	int rc = sign_p11_open(&ss->c.p, mod, FX_TOKEN, &d);
	if (rc == 0)
		rc = sign_p11_login(ss->c.p, FX_PIN, strlen(FX_PIN), &d);
	if (rc == 0)
		rc = sign_p11_find_key(&ss->c.key, ss->c.p, label, NULL, 0, &d);
	if (rc == 0)
		rc = sign_cert_check(cert, pki.chain, pki.trust, time(NULL), &d);
	if (rc == 0)
		rc = sign_signer_init(&ss->s, cert, pki.chain, 0, pss, &d);
	X509_free(cert);
	ss->c.hash_nid = ss->s.hash_nid;
	ss->c.pss = pss;
	if (rc)
		fprintf(stderr, "signer %s: %s\n", label, d.msg);
	return rc;
}

static void signer_close(struct signer_set *ss)
{
	sign_signer_free(&ss->s);
	sign_p11_close(ss->c.p);
}

static int sign_pdf(struct signer_set *ss, const char *in, const char *out, size_t cap,
	struct sign_tsa_local *tsa, struct siegel_diag *d)
{
	size_t len = 0;
	uint8_t *pdf = t_read(in, &len);
	struct siegel_buf o;
	siegel_buf_init(&o);
	struct sign_cms_params cp = { .sign = raw, .sign_ctx = &ss->c,
		.tsa = tsa ? sign_tsa_local_fn : NULL, .tsa_ctx = tsa };
	struct sign_pades_opts po = { .when = time(NULL), .contents_cap = cap };
	int rc = sign_pades_sign(&o, pdf, len, &ss->s, &cp, &po, d);
	if (rc == 0) {
		t_write(out, o.data, o.len);
		CHECK(o.len > len && memcmp(o.data, pdf, len) == 0); /* input is a prefix */
	}
	siegel_buf_free(&o);
	free(pdf);
	return rc;
}

/* pdfsig: n signatures, all valid, the last covers the whole file. */
static void check_pdf(const char *path, int n_sigs)
{
	char *out = NULL;
	int rc = t_run(&out, "pdfsig -nocert '%s' 2>&1", path);
	int valid = 0;
	for (const char *q = out; q && (q = strstr(q, "Signature is Valid.")) != NULL; q++)
		valid++;
	CHECK(rc == 0);
	CHECK(valid == n_sigs);
	const char *last = out ? strstr(out, "Signature #") : NULL;
	for (const char *q = last; q && (q = strstr(q + 1, "Signature #")) != NULL;)
		last = q;
	CHECK(last != NULL && strstr(last, "Total document signed") != NULL);
	CHECK(out != NULL && strstr(out, "ETSI.CAdES.detached") != NULL);
	if (valid != n_sigs || rc != 0)
		fprintf(stderr, "pdfsig %s:\n%s\n", path, out ? out : "");
	free(out);
	char *qo = NULL;
	rc = t_run(&qo, "qpdf --check '%s' 2>&1", path);
	CHECK(rc == 0);
	if (rc != 0)
		fprintf(stderr, "qpdf --check %s:\n%s\n", path, qo ? qo : "");
	free(qo);
}

static const char *out_path_classic(void)
{
	static char p[512];
	snprintf(p, sizeof(p), "%s/in-classic.pdf", dir);
	return p;
}

static void test_pdfs(struct signer_set *ss)
{
	char base[512], in[512], out[512], out2[512];
	struct siegel_diag d = { { 0 } };
	snprintf(base, sizeof(base), "%s/base.pdf", dir);
	fx_make_pdf(base, 40, 0);
	static const struct { const char *name, *qpdf; int form; } kinds[] = {
		{ "classic", "--object-streams=disable", 0 },
		{ "objstm", "--object-streams=generate", 0 },
		{ "linear", "--linearize", 0 },
		{ "form", "--object-streams=disable", 1 },
		{ "formobj", "--object-streams=generate", 1 },
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char src[512];
		snprintf(src, sizeof(src), "%s/src-%s.pdf", dir, kinds[i].name);
		fx_make_pdf(src, 5, kinds[i].form);
		snprintf(in, sizeof(in), "%s/in-%s.pdf", dir, kinds[i].name);
		snprintf(out, sizeof(out), "%s/out-%s.pdf", dir, kinds[i].name);
		snprintf(out2, sizeof(out2), "%s/out2-%s.pdf", dir, kinds[i].name);
		CHECK(fx_qpdf(kinds[i].qpdf, src, in) == 0);
		CHECK_OK(sign_pdf(ss, in, out, 0, NULL, &d));
		if (d.msg[0])
			fprintf(stderr, "%s: %s\n", kinds[i].name, d.msg);
		check_pdf(out, 1);
		/* a second signature keeps the first valid */
		d.msg[0] = 0;
		CHECK_OK(sign_pdf(ss, out, out2, 0, NULL, &d));
		if (d.msg[0])
			fprintf(stderr, "%s twice: %s\n", kinds[i].name, d.msg);
		check_pdf(out2, 2);
	}
	/* the xref kind of the update follows the file */
	snprintf(out, sizeof(out), "%s/out-objstm.pdf", dir);
	size_t len = 0;
	uint8_t *b = t_read(out, &len);
	CHECK(len > 200 && memmem(b + len - 200, 200, "/Type /XRef", 11) == NULL); /* stream data */
	free(b);

	/* already signed by someone else (shared corpus) */
	const char *const foreign[] = { "signatures/pdf/generated/pades-bb-p256.pdf",
		"signatures/pdf/node-signpdf/signed-once.pdf" };
	for (size_t i = 0; i < 2; i++) {
		snprintf(out, sizeof(out), "%s/foreign-%zu.pdf", dir, i);
		d.msg[0] = 0;
		char *src = t_shared_path(foreign[i]);
		CHECK_OK(sign_pdf(ss, src, out, 0, NULL, &d));
		if (d.msg[0])
			fprintf(stderr, "foreign %zu: %s\n", i, d.msg);
		char *o = NULL;
		t_run(&o, "pdfsig -nocert '%s' 2>&1", out);
		int valid = 0;
		for (const char *q = o; q && (q = strstr(q, "Signature is Valid.")) != NULL; q++)
			valid++;
		CHECK(valid == 2);
		CHECK(o && strstr(o, "Total document signed") != NULL);
		if (valid != 2)
			fprintf(stderr, "%s\n", o ? o : "");
		free(o);
		/* clean, or only the warning the input already has (blank line before xref) */
		int in_rc = t_run(NULL, "qpdf --check '%s' >/dev/null 2>&1", src);
		int out_rc = t_run(NULL, "qpdf --check '%s' >/dev/null 2>&1", out);
		CHECK(out_rc == 0 || out_rc == in_rc);
		free(src);
	}
}

/* The job's path: sign_doc_read hashes while reading into a reused buffer,
 * sign_pades_update continues that SHA-256 state and returns only the update;
 * pdf || update is the signed file. */
static void test_update_midstate(struct signer_set *ss)
{
	static const char *const kinds[] = { "classic", "objstm", "linear", "formobj" };
	struct siegel_buf in, upd;
	siegel_buf_init(&in);
	siegel_buf_init(&upd);
	EVP_MD_CTX *sha = EVP_MD_CTX_new(), *fin = EVP_MD_CTX_new();
	struct siegel_diag d = { { 0 } };
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char src[512], out[512];
		snprintf(src, sizeof(src), "%s/in-%s.pdf", dir, kinds[i]);
		snprintf(out, sizeof(out), "%s/upd-%s.pdf", dir, kinds[i]);
		size_t want_len = 0;
		uint8_t *want = t_read(src, &want_len);
		uint8_t h[32], hw[32];
		SHA256(want, want_len, hw);
		CHECK(EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1);
		CHECK_OK(sign_doc_read(&in, sha, src, SIGN_MAX_DOC_BYTES, SIGN_DOC_SIZE_UNKNOWN, &d));
		CHECK(in.len == want_len && memcmp(in.data, want, want_len) == 0);
		CHECK(EVP_MD_CTX_copy_ex(fin, sha) == 1 && EVP_DigestFinal_ex(fin, h, NULL) == 1);
		CHECK(memcmp(h, hw, 32) == 0);
		struct sign_cms_params cp = { .sign = raw, .sign_ctx = &ss->c };
		struct sign_pades_opts po = { .when = time(NULL) };
		CHECK_OK(sign_pades_update(&upd, in.data, in.len, sha, &ss->s, &cp, &po, &d));
		if (d.msg[0])
			fprintf(stderr, "update %s: %s\n", kinds[i], d.msg);
		struct siegel_buf o;
		siegel_buf_init(&o);
		siegel_buf_append(&o, in.data, in.len);
		siegel_buf_append(&o, upd.data, upd.len);
		t_write(out, o.data, o.len);
		siegel_buf_free(&o);
		check_pdf(out, 1);
		/* the state is only copied: it still finalises to the document hash */
		CHECK(EVP_MD_CTX_copy_ex(fin, sha) == 1 && EVP_DigestFinal_ex(fin, h, NULL) == 1);
		CHECK(memcmp(h, hw, 32) == 0);
		free(want);
	}
	/* a hash state of another hash than the signer's is refused */
	CHECK(EVP_DigestInit_ex(sha, EVP_sha384(), NULL) == 1);
	CHECK_OK(sign_doc_read(&in, sha, out_path_classic(), SIGN_MAX_DOC_BYTES, SIGN_DOC_SIZE_UNKNOWN, &d));
	struct sign_cms_params cp = { .sign = raw, .sign_ctx = &ss->c };
	struct sign_pades_opts po = { .when = time(NULL) };
	CHECK_RC(sign_pades_update(&upd, in.data, in.len, sha, &ss->s, &cp, &po, &d),
		SIEGEL_E_INVAL);
	CHECK(upd.len == 0);
	/* the buffer is reused: a small file after a large one */
	char small[512];
	snprintf(small, sizeof(small), "%s/small.dat", dir);
	t_write(small, "abc", 3);
	CHECK_OK(sign_doc_read(&in, NULL, small, SIGN_MAX_DOC_BYTES, SIGN_DOC_SIZE_UNKNOWN, &d));
	CHECK(in.len == 3 && memcmp(in.data, "abc", 3) == 0);
	CHECK_RC(sign_doc_read(&in, NULL, small, 2, SIGN_DOC_SIZE_UNKNOWN, &d), SIEGEL_E_LIMIT);
	CHECK(in.len == 0);
	/* with the confirmed size: exactly it; a file that grew or shrank reads
	 * as another size, which the caller's check sees */
	CHECK_OK(sign_doc_read(&in, NULL, small, SIGN_MAX_DOC_BYTES, 3, &d));
	CHECK(in.len == 3 && memcmp(in.data, "abc", 3) == 0);
	CHECK_OK(sign_doc_read(&in, NULL, small, SIGN_MAX_DOC_BYTES, 2, &d));
	CHECK(in.len == 3);
	CHECK_OK(sign_doc_read(&in, NULL, small, SIGN_MAX_DOC_BYTES, 7, &d));
	CHECK(in.len == 3 && memcmp(in.data, "abc", 3) == 0);
	CHECK_RC(sign_doc_read(&in, NULL, small, 2, 2, &d), SIEGEL_E_LIMIT);
	CHECK(in.len == 0);
	snprintf(small, sizeof(small), "%s/does-not-exist", dir);
	CHECK_RC(sign_doc_read(&in, NULL, small, SIGN_MAX_DOC_BYTES, SIGN_DOC_SIZE_UNKNOWN, &d), SIEGEL_E_NOTFOUND);
	EVP_MD_CTX_free(sha);
	EVP_MD_CTX_free(fin);
	siegel_buf_free(&in);
	siegel_buf_free(&upd);
}

static void test_rejects(struct signer_set *ss)
{
	char src[512], in[512], out[512];
	struct siegel_diag d = { { 0 } };
	snprintf(src, sizeof(src), "%s/src-classic.pdf", dir);
	/* encrypted */
	snprintf(in, sizeof(in), "%s/enc.pdf", dir);
	CHECK(t_run(NULL, "qpdf --encrypt '' owner 256 -- '%s' '%s'", src, in) == 0);
	snprintf(out, sizeof(out), "%s/enc-out.pdf", dir);
	CHECK_RC(sign_pdf(ss, in, out, 0, NULL, &d), SIEGEL_E_NOTSUP);
	CHECK(strstr(d.msg, "encrypted") != NULL);
	snprintf(in, sizeof(in), "%s/enc2.pdf", dir);
	CHECK(t_run(NULL, "qpdf --encrypt user owner 256 -- '%s' '%s'", src, in) == 0);
	CHECK_RC(sign_pdf(ss, in, out, 0, NULL, &d), SIEGEL_E_NOTSUP);
	/* damaged: a broken xref offset */
	size_t len = 0;
	uint8_t *b = t_read(src, &len);
	uint8_t *sx = memmem(b, len, "startxref\n", 10);
	CHECK(sx != NULL);
	if (sx) {
		sx[10] = sx[10] == '1' ? '2' : '1';
		snprintf(in, sizeof(in), "%s/damaged.pdf", dir);
		t_write(in, b, len);
		d.msg[0] = 0;
		CHECK(sign_pdf(ss, in, out, 0, NULL, &d) != 0);
		CHECK(d.msg[0] != 0);
	}
	free(b);
	/* DocMDP certified */
	const char *mdp = "%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R /Perms << /DocMDP 4 0 R >> >>\n"
		"endobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page "
		"/Parent 2 0 R /MediaBox [0 0 100 100] >>\nendobj\n4 0 obj\n<< /Type /Sig /Filter "
		"/Adobe.PPKLite /Reference [<< /TransformMethod /DocMDP /TransformParams << /P 1 >> >>] >>\n"
		"endobj\ntrailer\n<< /Root 1 0 R /Size 5 >>\n%%EOF\n";
	snprintf(in, sizeof(in), "%s/mdp-src.pdf", dir);
	t_write(in, mdp, strlen(mdp));
	char in2[512];
	snprintf(in2, sizeof(in2), "%s/mdp.pdf", dir);
	CHECK(fx_qpdf("", in, in2) == 0);
	CHECK_RC(sign_pdf(ss, in2, out, 0, NULL, &d), SIEGEL_E_NOTSUP);
	CHECK(strstr(d.msg, "DocMDP") != NULL);
	/* not a PDF */
	char *notpdf = t_shared_path("signatures/pdf/generated/not-a-pdf.pdf");
	CHECK_RC(sign_pdf(ss, notpdf, out, 0, NULL, &d), SIEGEL_E_PARSE);
	free(notpdf);
	/* Contents too small: a clear error */
	CHECK_RC(sign_pdf(ss, src, out, 64, NULL, &d), SIEGEL_E_LIMIT);
	CHECK(strstr(d.msg, "reserved") != NULL);
}

static void test_bt(struct signer_set *ss)
{
	EVP_PKEY *tk = fx_soft_key();
	X509 *tc = fx_cert(tk, "siegel test TSA", pki.ca, pki.ca_key, 0, -60, 365L * 86400,
		"critical,digitalSignature", "critical,timeStamping");
	struct sign_tsa_local *tsa = NULL;
	struct siegel_diag d = { { 0 } };
	CHECK_OK(sign_tsa_local_new(&tsa, tc, tk, &d));
	char in[512], out[512];
	snprintf(in, sizeof(in), "%s/in-objstm.pdf", dir);
	snprintf(out, sizeof(out), "%s/bt.pdf", dir);
	CHECK_OK(sign_pdf(ss, in, out, 0, tsa, &d));
	check_pdf(out, 1);
	/* the CMS carries the signature time-stamp */
	char *o = NULL;
	t_run(&o, "cd '%s' && pdfsig -nocert -dump bt.pdf >/dev/null 2>&1", dir);
	free(o);
	o = NULL;
	CHECK(t_run(&o, "cd '%s' && openssl cms -cmsout -print -inform DER -in bt.pdf.sig0 2>&1 | "
		"grep -c 'id-smime-aa-timeStampToken'", dir) == 0);
	CHECK(o != NULL && atoi(o) >= 1);
	free(o);
	sign_tsa_local_free(tsa);
	X509_free(tc);
	EVP_PKEY_free(tk);
}

/* .p7s for any file with EC (P-256, P-384, brainpool) and RSA-3072 (PKCS#1
 * v1.5 and PSS), verified by openssl cms. */
static void test_cms(void)
{
	static const struct { const char *label, *type; int pss; } keys[] = {
		{ "cms-p256", "p256", 0 }, { "cms-p384", "p384", 0 }, { "cms-bp256", "bp256", 0 },
		{ "cms-rsa", "rsa3072", 0 }, { "cms-pss", "rsa3072", 1 },
	};
	char data[512], p7s[512];
	snprintf(data, sizeof(data), "%s/rechnung.xml", dir);
	const char *xml = "<?xml version=\"1.0\"?><Invoice><ID>4711</ID></Invoice>\n";
	t_write(data, xml, strlen(xml));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct signer_set ss;
		if (signer_open(&ss, keys[i].label, keys[i].type, keys[i].pss) != 0) {
			CHECK(0);
			continue;
		}
		uint8_t dig[64];
		unsigned dl = 0;
		EVP_Digest(xml, strlen(xml), dig, &dl, EVP_get_digestbynid(ss.s.hash_nid), NULL);
		struct siegel_buf o;
		siegel_buf_init(&o);
		struct siegel_diag d = { { 0 } };
		struct sign_cms_params cp = { .digest = dig, .digest_len = dl,
			.signing_time = time(NULL), .sign = raw, .sign_ctx = &ss.c };
		CHECK_OK(sign_cms_build(&o, &ss.s, &cp, &d));
		CHECK_OK(sign_cms_selfcheck(o.data, o.len, dig, dl, &ss.s, &d));
		/* the self-check catches a wrong hash and a broken signature */
		uint8_t bad[64];
		memcpy(bad, dig, dl);
		bad[0] ^= 1;
		CHECK_RC(sign_cms_selfcheck(o.data, o.len, bad, dl, &ss.s, &d), SIEGEL_E_VERIFY);
		o.data[o.len - 1] ^= 1;
		CHECK(sign_cms_selfcheck(o.data, o.len, dig, dl, &ss.s, &d) != 0);
		o.data[o.len - 1] ^= 1;
		if (ss.s.type == SIGN_KEY_EC) {
			/* a long job: the precomputed verifier takes over and judges
			 * exactly the same */
			unsigned long after = sign_ecfast_after(ss.s.pub);
			CHECK(after == (strcmp(keys[i].type, "p256") == 0 ? 512ul : 16ul));
			CHECK(ss.s.chk != NULL && ss.s.chk->fast == NULL); /* 3 checks so far */
			for (unsigned long k = 0; k < after + 4; k++)
				CHECK_OK(sign_cms_selfcheck(o.data, o.len, dig, dl, &ss.s, &d));
			CHECK(ss.s.chk != NULL && ss.s.chk->fast != NULL);
			CHECK_RC(sign_cms_selfcheck(o.data, o.len, bad, dl, &ss.s, &d), SIEGEL_E_VERIFY);
			for (size_t k = 1; k <= 8; k++) {
				o.data[o.len - k] ^= 0x10;
				CHECK(sign_cms_selfcheck(o.data, o.len, dig, dl, &ss.s, &d) != 0);
				o.data[o.len - k] ^= 0x10;
			}
			CHECK_OK(sign_cms_selfcheck(o.data, o.len, dig, dl, &ss.s, &d));
		}
		snprintf(p7s, sizeof(p7s), "%s/rechnung-%s.xml.p7s", dir, keys[i].label);
		t_write(p7s, o.data, o.len);
		char *out = NULL;
		int rc = t_run(&out, "openssl cms -verify -binary -inform DER -in '%s' -content '%s' "
			"-CAfile '%s' -certfile '%s' -purpose any -out /dev/null 2>&1", p7s, data,
			pki.root_pem, pki.chain_pem);
		CHECK(rc == 0);
		if (rc != 0)
			fprintf(stderr, "%s: %s\n", keys[i].label, out ? out : "");
		free(out);
		/* the CAdES attributes: signing-certificate-v2 and signing-time */
		out = NULL;
		t_run(&out, "openssl cms -cmsout -print -inform DER -in '%s'", p7s);
		CHECK(out && strstr(out, "id-smime-aa-signingCertificateV2") != NULL);
		CHECK(out && strstr(out, "signingTime") != NULL);
		free(out);
		siegel_buf_free(&o);
		signer_close(&ss);
	}
}

static void test_cert_check(void)
{
	EVP_PKEY *k = fx_soft_key();
	struct siegel_diag d = { { 0 } };
	time_t now = time(NULL);
	X509 *ok = fx_signer_cert(&pki, k, "ok");
	CHECK_OK(sign_cert_check(ok, pki.chain, pki.trust, now, &d));
	X509 *expired = fx_cert(k, "expired", pki.ca, pki.ca_key, 0, -7200, -3600,
		"critical,digitalSignature", NULL);
	CHECK_RC(sign_cert_check(expired, pki.chain, pki.trust, now, &d), SIEGEL_E_CERT_EXPIRED);
	X509 *future = fx_cert(k, "future", pki.ca, pki.ca_key, 0, 3600, 7200,
		"critical,digitalSignature", NULL);
	CHECK_RC(sign_cert_check(future, pki.chain, pki.trust, now, &d), SIEGEL_E_CERT_EXPIRED);
	X509 *ku = fx_cert(k, "keyEncipherment only", pki.ca, pki.ca_key, 0, -60, 3600,
		"critical,keyEncipherment", NULL);
	CHECK_RC(sign_cert_check(ku, pki.chain, pki.trust, now, &d), SIEGEL_E_PARAM);
	CHECK(strstr(d.msg, "keyUsage") != NULL);
	/* no chain: an unknown CA */
	EVP_PKEY *ok2 = fx_soft_key();
	X509 *other = fx_cert(ok2, "other root", NULL, ok2, 1, -60, 3600, "critical,keyCertSign", NULL);
	X509 *stray = fx_cert(k, "stray", other, ok2, 0, -60, 3600, "critical,digitalSignature", NULL);
	CHECK_RC(sign_cert_check(stray, pki.chain, pki.trust, now, &d), SIEGEL_E_VERIFY);
	/* without the intermediate */
	CHECK_RC(sign_cert_check(ok, NULL, pki.trust, now, &d), SIEGEL_E_VERIFY);
	X509_free(ok);
	X509_free(expired);
	X509_free(future);
	X509_free(ku);
	X509_free(other);
	X509_free(stray);
	EVP_PKEY_free(k);
	EVP_PKEY_free(ok2);
}

int main(void)
{
	dir = t_tmpdir();
	mod = fx_token(dir);
	fx_pki_new(&pki, dir);
	test_cert_check();
	test_cms();
	struct signer_set ss;
	if (signer_open(&ss, "pades-p256", "p256", 0) == 0) {
		test_pdfs(&ss);
		test_update_midstate(&ss);
		test_rejects(&ss);
		test_bt(&ss);
		signer_close(&ss);
	} else {
		CHECK(0);
	}
	/* RSA-3072 PSS in a PDF */
	if (signer_open(&ss, "pades-pss", "rsa3072", 1) == 0) {
		char in[512], out[512];
		struct siegel_diag d = { { 0 } };
		snprintf(in, sizeof(in), "%s/in-classic.pdf", dir);
		snprintf(out, sizeof(out), "%s/pss.pdf", dir);
		CHECK_OK(sign_pdf(&ss, in, out, 0, NULL, &d));
		check_pdf(out, 1);
		signer_close(&ss);
	}
	return t_done();
}
