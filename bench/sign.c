/* bench/sign: document signing throughput on one core with a SoftHSM2 P-256
 * key: the raw C_SignInit+C_Sign rate, PAdES B-B of a 100 KB PDF (read,
 * parse, incremental update, hash, CMS, C_Sign, self-check, write) and CAdES
 * .p7s of a 10 KB file (read, hash, CMS, C_Sign, self-check, write), each
 * with its ratio to the C_Sign-bound ceiling measured in the same run.
 * usage: bench_sign [seconds per measurement, default 3] */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/sign/sign_fixture.h"
#include "harness.h"
#include "sign/sign.h"

struct ctx {
	struct sign_p11 *p;
	struct sign_p11_key key;
};

static int raw(void *c, uint8_t *sig, size_t *sl, size_t cap, const uint8_t *dig, size_t dl,
	struct siegel_diag *d)
{
	struct ctx *x = c;
	return sign_p11_sign_digest(sig, sl, cap, x->p, &x->key, NID_sha256, 0, dig, dl, NULL, 0, d);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3.0;
	if (secs <= 0)
		secs = 3.0;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (sched_setaffinity(0, sizeof(one), &one) != 0)
		fprintf(stderr, "warning: could not pin to CPU 0\n");
	const char *dir = t_tmpdir();
	const char *mod = fx_token(dir);
	struct fx_pki pki;
	fx_pki_new(&pki, dir);
	EVP_PKEY *pub = fx_keygen(mod, "bench", "p256", 0);
	X509 *cert = fx_signer_cert(&pki, pub, "Bench Signer");
	struct siegel_diag d = { { 0 } };
	struct ctx c;
	memset(&c, 0, sizeof(c));
	struct sign_signer s;
	if (sign_p11_open(&c.p, mod, FX_TOKEN, &d) != 0 ||
	    sign_p11_login(c.p, FX_PIN, strlen(FX_PIN), &d) != 0 ||
	    sign_p11_find_key(&c.key, c.p, "bench", NULL, 0, &d) != 0 ||
	    sign_signer_init(&s, cert, pki.chain, 0, 0, &d) != 0) {
		fprintf(stderr, "set-up: %s\n", d.msg);
		return 1;
	}
	char pdf[512], file[512], out[512];
	/* documents on tmpfs, as a spool directory would be (ext4 flushes a
	 * truncated file on close, which would measure the disk) */
	const char *io = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : dir;
	snprintf(pdf, sizeof(pdf), "%s/siegel-bench-%d-in.pdf", io, (int)getpid());
	snprintf(file, sizeof(file), "%s/siegel-bench-%d-in.dat", io, (int)getpid());
	snprintf(out, sizeof(out), "%s/siegel-bench-%d-out", io, (int)getpid());
	fx_make_pdf(pdf, 43, 0);
	uint8_t data[10 * 1024];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	t_write(file, data, sizeof(data));

	/* 1. raw C_Sign */
	uint8_t dig[32] = { 1, 2, 3 }, sig[SIGN_MAX_SIG];
	size_t sl = 0;
	long n_raw = 0;
	double t0 = now_s(), t1;
	do {
		for (int k = 0; k < 100; k++, n_raw++)
			if (raw(&c, sig, &sl, sizeof(sig), dig, 32, &d) != 0) {
				fprintf(stderr, "C_Sign: %s\n", d.msg);
				return 1;
			}
		t1 = now_s();
	} while (t1 - t0 < secs);
	double raw_rate = (double)n_raw / (t1 - t0);

	/* 2. PAdES B-B, 100 KB PDF, file to file */
	size_t pdf_len = 0;
	free(t_read(pdf, &pdf_len));
	struct siegel_buf o;
	siegel_buf_init(&o);
	long n_pdf = 0;
	t0 = now_s();
	do {
		size_t len = 0;
		uint8_t *in = NULL;
		if (siegel_read_file(&in, &len, pdf, SIGN_MAX_DOC_BYTES, &d) != 0)
			return 1;
		struct sign_cms_params cp = { .sign = raw, .sign_ctx = &c };
		struct sign_pades_opts po = { .when = time(NULL) };
		if (sign_pades_sign(&o, in, len, &s, &cp, &po, &d) != 0) {
			fprintf(stderr, "PAdES: %s\n", d.msg);
			return 1;
		}
		FILE *f = fopen(out, "wb");
		fwrite(o.data, 1, o.len, f);
		fclose(f);
		free(in);
		n_pdf++;
		t1 = now_s();
	} while (t1 - t0 < secs);
	double pdf_rate = (double)n_pdf / (t1 - t0);
	size_t pdf_out_len = o.len;

	/* 3. CAdES .p7s, 10 KB file */
	long n_cms = 0;
	t0 = now_s();
	do {
		size_t len = 0;
		uint8_t *in = NULL;
		if (siegel_read_file(&in, &len, file, SIGN_MAX_DOC_BYTES, &d) != 0)
			return 1;
		uint8_t h[32];
		SHA256(in, len, h);
		siegel_buf_reset(&o);
		struct sign_cms_params cp = { .digest = h, .digest_len = 32,
			.signing_time = time(NULL), .sign = raw, .sign_ctx = &c };
		if (sign_cms_build(&o, &s, &cp, &d) != 0 ||
		    sign_cms_selfcheck(o.data, o.len, h, 32, &s, &d) != 0) {
			fprintf(stderr, "CMS: %s\n", d.msg);
			return 1;
		}
		FILE *f = fopen(out, "wb");
		fwrite(o.data, 1, o.len, f);
		fclose(f);
		free(in);
		n_cms++;
		t1 = now_s();
	} while (t1 - t0 < secs);
	double cms_rate = (double)n_cms / (t1 - t0);

	printf("bench/sign (one core, SoftHSM2 P-256, %.1f s each)\n", secs);
	printf("  raw C_SignInit+C_Sign      %8.0f /s\n", raw_rate);
	printf("  PAdES B-B %zu KB PDF -> %zu KB  %8.0f PDFs/s   ratio to C_Sign %.2f\n",
		pdf_len / 1024, pdf_out_len / 1024, pdf_rate, pdf_rate / raw_rate);
	printf("  CAdES-B-B .p7s of 10 KB     %8.0f files/s  ratio to C_Sign %.2f\n", cms_rate,
		cms_rate / raw_rate);
	unlink(pdf);
	unlink(file);
	unlink(out);
	siegel_buf_free(&o);
	sign_signer_free(&s);
	sign_p11_close(c.p);
	X509_free(cert);
	EVP_PKEY_free(pub);
	return t_done();
}
