/* Shared set-up for the signing tests (tests/sign, tests/job, bench/sign):
 * a SoftHSM2 token, a test PKI made with the OpenSSL API (root -> CA ->
 * signer certificates for token keys, a TSA), and PDF inputs of every xref
 * kind. Header-only test code. */
#ifndef SIEGEL_TEST_SIGN_FIXTURE_H
#define SIEGEL_TEST_SIGN_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "csp/csp.h"
#include "harness.h"
#include "sign/sign.h"

#define FX_TOKEN "sign-test"
#define FX_PIN "246813"
#define FX_SO_PIN "12345678"

/* SoftHSM2 token store under dir, token FX_TOKEN created. Returns the module. */
static inline const char *fx_token(const char *dir)
{
	char conf[512];
	struct siegel_diag d = { { 0 } };
	if (siegel_mkdir_p(dir, 0700) != 0 || csp_softhsm_prepare(conf, sizeof(conf), dir, &d) != 0) {
		fprintf(stderr, "softhsm set-up failed: %s\n", d.msg);
		exit(99);
	}
	setenv("SOFTHSM2_CONF", conf, 1);
	const char *mod = csp_softhsm_default_module();
	if (mod == NULL) {
		fprintf(stderr, "SoftHSM2 is not installed\n");
		exit(99);
	}
	struct csp_p11 *p = NULL;
	struct csp_p11_config cfg = { .module_path = mod, .token_label = FX_TOKEN,
		.user_pin = FX_PIN, .create_token = 1, .so_pin = FX_SO_PIN };
	if (csp_p11_open(&p, &cfg, &d) != 0) {
		fprintf(stderr, "token: %s\n", d.msg);
		exit(99);
	}
	csp_p11_close(p);
	return mod;
}

/* Generates a token key (logged in with FX_PIN, logged out after). */
static inline EVP_PKEY *fx_keygen(const char *mod, const char *label, const char *type, int aa)
{
	struct sign_p11 *p = NULL;
	struct siegel_diag d = { { 0 } };
	EVP_PKEY *pub = NULL;
	if (sign_p11_open(&p, mod, FX_TOKEN, &d) != 0 ||
	    sign_p11_login(p, FX_PIN, strlen(FX_PIN), &d) != 0 ||
	    sign_p11_generate(&pub, p, label, (const uint8_t *)label, strlen(label), type, aa, &d) != 0) {
		fprintf(stderr, "keygen %s: %s\n", label, d.msg);
		exit(99);
	}
	sign_p11_close(p);
	return pub;
}

static inline EVP_PKEY *fx_soft_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	if (k == NULL)
		exit(99);
	return k;
}

static inline void fx_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX c;
	X509V3_set_ctx(&c, issuer ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &c, nid, value);
	if (e == NULL)
		exit(99);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A certificate for pub, valid from now+from_s to now+to_s, issued by
 * issuer/ikey (self-signed when issuer is NULL). ku/eku: extension values
 * (NULL: none). */
static inline X509 *fx_cert(EVP_PKEY *pub, const char *cn, X509 *issuer, EVP_PKEY *ikey, int ca,
	long from_s, long to_s, const char *ku, const char *eku)
{
	static long serial = 1000;
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(x), to_s);
	X509_set_pubkey(x, pub);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"DE", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"siegel test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	fx_ext(x, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	if (ku != NULL)
		fx_ext(x, issuer, NID_key_usage, ku);
	if (eku != NULL)
		fx_ext(x, issuer, NID_ext_key_usage, eku);
	fx_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		fx_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	if (X509_sign(x, ikey, EVP_sha256()) <= 0)
		exit(99);
	return x;
}

static inline void fx_pem(const char *path, X509 *a, X509 *b)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		exit(99);
	PEM_write_X509(f, a);
	if (b != NULL)
		PEM_write_X509(f, b);
	fclose(f);
}

struct fx_pki {
	EVP_PKEY *root_key, *ca_key;
	X509 *root, *ca;
	STACK_OF(X509) *trust, *chain;
	char root_pem[512], chain_pem[512];
};

static inline void fx_pki_new(struct fx_pki *k, const char *dir)
{
	k->root_key = fx_soft_key();
	k->ca_key = fx_soft_key();
	k->root = fx_cert(k->root_key, "siegel test root", NULL, k->root_key, 1, -86400,
		20L * 365 * 86400, "critical,keyCertSign,cRLSign", NULL);
	k->ca = fx_cert(k->ca_key, "siegel test CA", k->root, k->root_key, 1, -3600,
		10L * 365 * 86400, "critical,keyCertSign,cRLSign", NULL);
	k->trust = sk_X509_new_null();
	k->chain = sk_X509_new_null();
	X509_up_ref(k->root);
	sk_X509_push(k->trust, k->root);
	X509_up_ref(k->ca);
	sk_X509_push(k->chain, k->ca);
	snprintf(k->root_pem, sizeof(k->root_pem), "%s/root.pem", dir);
	snprintf(k->chain_pem, sizeof(k->chain_pem), "%s/chain.pem", dir);
	fx_pem(k->root_pem, k->root, NULL);
	fx_pem(k->chain_pem, k->ca, NULL);
}

static inline X509 *fx_signer_cert(struct fx_pki *k, EVP_PKEY *pub, const char *cn)
{
	return fx_cert(pub, cn, k->ca, k->ca_key, 0, -60, 2L * 365 * 86400,
		"critical,digitalSignature,nonRepudiation", NULL);
}

/* A classic-xref PDF with `pages` pages of text (about 2.3 KB each) and,
 * with form set, an AcroForm with one text field. */
static inline void fx_make_pdf(const char *path, int pages, int form)
{
	struct siegel_buf b;
	siegel_buf_init(&b);
	size_t off[4096];
	int n = 0;
	siegel_buf_puts(&b, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n");
	/* 1 catalog, 2 pages, 3 font, 4 field (form), then page/content pairs */
	int first = 5;
	off[++n] = b.len;
	siegel_buf_printf(&b, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R%s >>\nendobj\n",
		form ? " /AcroForm << /Fields [4 0 R] /DA (/Helv 0 Tf 0 g) >>" : "");
	off[++n] = b.len;
	siegel_buf_puts(&b, "2 0 obj\n<< /Type /Pages /Kids [");
	for (int i = 0; i < pages; i++)
		siegel_buf_printf(&b, "%d 0 R ", first + 2 * i);
	siegel_buf_printf(&b, "] /Count %d >>\nendobj\n", pages);
	off[++n] = b.len;
	siegel_buf_puts(&b, "3 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n");
	off[++n] = b.len;
	siegel_buf_printf(&b, "4 0 obj\n<< /FT /Tx /T (Name) /V (Erika Mustermann) /Type /Annot "
		"/Subtype /Widget /Rect [50 700 300 720] /P %d 0 R /DA (/Helv 10 Tf 0 g) >>\nendobj\n",
		first);
	for (int i = 0; i < pages; i++) {
		struct siegel_buf c;
		siegel_buf_init(&c);
		siegel_buf_puts(&c, "BT /F1 9 Tf 40 800 Td 11 TL\n");
		for (int l = 0; l < 40; l++)
			siegel_buf_printf(&c, "(Seite %d Zeile %d: Rechnung Nr. %06d ueber 1.234,56 EUR) '\n",
				i + 1, l + 1, i * 100 + l);
		siegel_buf_puts(&c, "ET\n");
		off[++n] = b.len;
		siegel_buf_printf(&b, "%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
			"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R%s >>\nendobj\n",
			first + 2 * i, first + 2 * i + 1, (form && i == 0) ? " /Annots [4 0 R]" : "");
		off[++n] = b.len;
		siegel_buf_printf(&b, "%d 0 obj\n<< /Length %zu >>\nstream\n", first + 2 * i + 1, c.len);
		siegel_buf_append(&b, c.data, c.len);
		siegel_buf_puts(&b, "\nendstream\nendobj\n");
		siegel_buf_free(&c);
	}
	size_t xref = b.len;
	siegel_buf_printf(&b, "xref\n0 %d\n0000000000 65535 f\r\n", n + 1);
	for (int i = 1; i <= n; i++)
		siegel_buf_printf(&b, "%010zu 00000 n\r\n", off[i]);
	siegel_buf_printf(&b, "trailer\n<< /Size %d /Root 1 0 R /ID [<0123456789abcdef0123456789abcdef> "
		"<0123456789abcdef0123456789abcdef>] >>\nstartxref\n%zu\n%%%%EOF\n", n + 1, xref);
	t_write(path, b.data, b.len);
	siegel_buf_free(&b);
}

/* Runs qpdf to make variants: args e.g. "--object-streams=generate". */
static inline int fx_qpdf(const char *args, const char *in, const char *out)
{
	int rc = t_run(NULL, "qpdf %s '%s' '%s' 2>&1", args, in, out);
	return rc == 0 || rc == 3 ? 0 : -1; /* 3: warnings */
}

#endif
