/* bench/verify: verifier throughput on one core (the process pins itself to
 * CPU 0): PDFs/s for a PAdES B-B PDF (ECDSA P-256, chain leaf -> P-384
 * intermediate -> P-384 root in the store) and CMS/s for a detached CAdES
 * .p7s, each the full verify_buffer path (parse, hash, signature, chain,
 * report model; no OCSP, no XML). In the same run the raw OpenSSL rates:
 * EVP_PKEY_verify of one ECDSA P-256 signature, and CMS_verify of the same
 * .p7s with the same store (which re-verifies the chain each time). Goal:
 * >= 1,000 PDFs/s. Usage: bench_verify [seconds per measurement, default 2]. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/base.h"
#include "harness.h"
#include "verify/report.h"
#include "verify/verify.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t *load(const char *rel, size_t *len)
{
	char *p = t_shared_path(rel);
	uint8_t *b = t_read(p, len);
	free(p);
	return b;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	if (secs <= 0)
		secs = 2.0;
	cpu_set_t cs;
	CPU_ZERO(&cs);
	CPU_SET(0, &cs);
	int pinned = sched_setaffinity(0, sizeof(cs), &cs) == 0;

	size_t pl, cl, dl, rl;
	uint8_t *pdf = load("signatures/pdf/generated/pades-bb-p256.pdf", &pl);
	uint8_t *p7s = load("signatures/cms/generated/valid-p256-sha256.p7s", &cl);
	uint8_t *data = load("signatures/cms/generated/hello.txt", &dl);
	uint8_t *root = load("signatures/pki/" "root/root.crt", &rl); /* the shared PKI root (a directory named root) */
	char store[4096];
	snprintf(store, sizeof(store), "%s/store", t_tmpdir());
	if (siegel_mkdir_p(store, 0755) != 0)
		return 1;
	char rp[4200];
	snprintf(rp, sizeof(rp), "%s/root.pem", store);
	t_write(rp, root, rl);

	struct verify_opts o = { .store_dir = store, .no_ocsp = 1 };
	struct verify_ctx *v = NULL;
	struct siegel_diag d;
	if (verify_ctx_new(&v, &o, &d) != 0) {
		fprintf(stderr, "%s\n", d.msg);
		return 1;
	}
	/* sanity: both verify with 0 */
	struct report *r = NULL;
	if (verify_buffer(&r, v, "b.pdf", pdf, pl, NULL, 0, NULL, &d) != 0 || r->error != 0) {
		fprintf(stderr, "PDF does not verify: %d\n", r ? r->error : -1);
		return 1;
	}
	report_free(r);
	if (verify_buffer(&r, v, "b.p7s", p7s, cl, data, dl, "hello.txt", &d) != 0 || r->error != 0) {
		fprintf(stderr, "CMS does not verify\n");
		return 1;
	}
	report_free(r);

	long n_pdf = 0, n_cms = 0, n_raw = 0, n_ocms = 0;
	double t0 = now_s(), t;
	do {
		for (int i = 0; i < 50; i++) {
			if (verify_buffer(&r, v, "b.pdf", pdf, pl, NULL, 0, NULL, &d) != 0 || r->error)
				return 1;
			report_free(r);
		}
		n_pdf += 50;
	} while ((t = now_s()) - t0 < secs);
	double pdf_rate = (double)n_pdf / (t - t0);

	t0 = now_s();
	do {
		for (int i = 0; i < 50; i++) {
			if (verify_buffer(&r, v, "b.p7s", p7s, cl, data, dl, "d", &d) != 0 || r->error)
				return 1;
			report_free(r);
		}
		n_cms += 50;
	} while ((t = now_s()) - t0 < secs);
	double cms_rate = (double)n_cms / (t - t0);

	/* raw OpenSSL: one ECDSA P-256 verification of a fixed digest */
	char *kp = t_shared_path("signatures/pki/signers/signer.TEST-ONLY.key");
	FILE *f = fopen(kp, "r");
	EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	free(kp);
	uint8_t dig[32] = { 1, 2, 3 }, sig[80];
	size_t sl = sizeof(sig);
	EVP_PKEY_CTX *sc = EVP_PKEY_CTX_new(key, NULL);
	if (!key || !sc || EVP_PKEY_sign_init(sc) <= 0 || EVP_PKEY_sign(sc, sig, &sl, dig, 32) <= 0)
		return 1;
	EVP_PKEY_CTX_free(sc);
	EVP_PKEY_CTX *vc = EVP_PKEY_CTX_new(key, NULL);
	EVP_PKEY_verify_init(vc);
	t0 = now_s();
	do {
		for (int i = 0; i < 200; i++)
			if (EVP_PKEY_verify(vc, sig, sl, dig, 32) != 1)
				return 1;
		n_raw += 200;
	} while ((t = now_s()) - t0 < secs);
	double raw_rate = (double)n_raw / (t - t0);
	EVP_PKEY_CTX_free(vc);
	EVP_PKEY_free(key);

	/* raw OpenSSL CMS_verify (parse + content digest + signature + chain) */
	X509_STORE *xs = X509_STORE_new();
	BIO *rb = BIO_new_mem_buf(root, (int)rl);
	X509 *rx = PEM_read_bio_X509(rb, NULL, NULL, NULL);
	X509_STORE_add_cert(xs, rx);
	X509_STORE_set_purpose(xs, X509_PURPOSE_ANY);
	t0 = now_s();
	do {
		for (int i = 0; i < 20; i++) {
			const unsigned char *p = p7s;
			CMS_ContentInfo *ci = d2i_CMS_ContentInfo(NULL, &p, (long)cl);
			BIO *in = BIO_new_mem_buf(data, (int)dl);
			int ok = ci && CMS_verify(ci, NULL, xs, in, NULL, CMS_BINARY) == 1;
			BIO_free(in);
			CMS_ContentInfo_free(ci);
			if (!ok)
				return 1;
		}
		n_ocms += 20;
	} while ((t = now_s()) - t0 < secs);
	double ocms_rate = (double)n_ocms / (t - t0);
	X509_free(rx);
	BIO_free(rb);
	X509_STORE_free(xs);

	printf("bench verify (one core%s, %.1f s per measurement)\n", pinned ? ", pinned to CPU 0" : "",
		secs);
	printf("  PDF  pades-bb-p256.pdf (%zu bytes): %10.0f PDFs/s  (%.1f us each)%s\n", pl, pdf_rate,
		1e6 / pdf_rate, pdf_rate >= 1000 ? "" : "  BELOW the 1,000/s goal");
	printf("  CMS  valid-p256-sha256.p7s       : %10.0f CMS/s   (%.1f us each)\n", cms_rate,
		1e6 / cms_rate);
	printf("  raw OpenSSL ECDSA P-256 verify   : %10.0f /s\n", raw_rate);
	printf("  raw OpenSSL CMS_verify (+chain)  : %10.0f /s\n", ocms_rate);
	printf("  ratio PDF / raw ECDSA verify     : %10.2f\n", pdf_rate / raw_rate);
	printf("  ratio CMS / raw ECDSA verify     : %10.2f\n", cms_rate / raw_rate);
	printf("  ratio CMS / raw CMS_verify       : %10.2f\n", cms_rate / ocms_rate);
	verify_ctx_free(v);
	free(pdf);
	free(p7s);
	free(data);
	free(root);
	return t_done() == 0 ? 0 : 1;
}
