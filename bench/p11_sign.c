/* Benchmark: ECDSA P-256 signatures per second for N seconds each
 *   1. raw C_SignInit+C_Sign(CKM_ECDSA) over a fixed digest, SoftHSM2
 *   2. csp_sign on a SoftHSM2 key (SHA-256 + mutex + the above)
 *   3. OpenSSL EVP_PKEY_sign over a fixed digest (in-process software key)
 * Usage: bench_p11_sign [seconds] [module]. Uses a throw-away token in a
 * temporary directory (SOFTHSM2_CONF is set for this process only). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <p11-kit/pkcs11.h>

#include "csp/csp.h"

#define TOKEN "siegel-bench"
#define PIN "123456"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Raw PKCS#11 loop on the key labelled label; -1 on error. */
static double bench_raw(const char *module, const char *label, double secs)
{
	void *dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	CK_C_GetFunctionList gfl = NULL;
	CK_FUNCTION_LIST_PTR f = NULL;
	if (dl != NULL)
		*(void **)&gfl = dlsym(dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&f) != CKR_OK)
		return -1;
	CK_SLOT_ID slots[16];
	CK_ULONG ns = 16;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	unsigned char want[32];
	memset(want, ' ', sizeof(want));
	memcpy(want, TOKEN, strlen(TOKEN));
	if (f->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK)
		return -1;
	for (CK_ULONG i = 0; i < ns && s == CK_INVALID_HANDLE; i++) {
		CK_TOKEN_INFO ti;
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK && memcmp(ti.label, want, 32) == 0 &&
		    f->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
			return -1;
	}
	if (s == CK_INVALID_HANDLE)
		return -1;
	/* the csp_p11 of main() holds the user login for this process */
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) } };
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	if (f->C_FindObjectsInit(s, t, 2) != CKR_OK || f->C_FindObjects(s, &h, 1, &n) != CKR_OK ||
	    f->C_FindObjectsFinal(s) != CKR_OK || n != 1)
		return -1;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	uint8_t dig[32], sig[64];
	memset(dig, 0x5a, sizeof(dig));
	long count = 0;
	double t0 = now_s(), t1 = t0;
	while (t1 - t0 < secs) {
		CK_ULONG sl = sizeof(sig);
		if (f->C_SignInit(s, &mech, h) != CKR_OK ||
		    f->C_Sign(s, dig, sizeof(dig), sig, &sl) != CKR_OK || sl != 64)
			return -1;
		count++;
		t1 = now_s();
	}
	(void)f->C_CloseSession(s);
	dlclose(dl);
	return (double)count / (t1 - t0);
}

static double bench_csp(struct csp_key *k, double secs)
{
	static const uint8_t msg[] = "a TR-03151 transaction log message DTBS of modest size....";
	uint8_t sig[ALG_MAX_SIG];
	size_t sl;
	long count = 0;
	double t0 = now_s(), t1 = t0;
	while (t1 - t0 < secs) {
		if (csp_sign(k, sig, &sl, msg, sizeof(msg)) != 0)
			return -1;
		count++;
		t1 = now_s();
	}
	return (double)count / (t1 - t0);
}

static double bench_openssl(double secs)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	EVP_PKEY_CTX *ctx = pk ? EVP_PKEY_CTX_new(pk, NULL) : NULL;
	uint8_t dig[32], der[80];
	memset(dig, 0x5a, sizeof(dig));
	long count = 0;
	double t0 = now_s(), t1 = t0, rate = -1;
	if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1)
		goto out;
	while (t1 - t0 < secs) {
		size_t dl = sizeof(der);
		if (EVP_PKEY_sign(ctx, der, &dl, dig, sizeof(dig)) != 1)
			goto out;
		count++;
		t1 = now_s();
	}
	rate = (double)count / (t1 - t0);
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return rate;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3.0;
	const char *module = argc > 2 ? argv[2] : csp_softhsm_default_module();
	struct siegel_diag d = { { 0 } };
	if (secs <= 0 || module == NULL) {
		fprintf(stderr, "usage: %s [seconds > 0] [pkcs11-module]\n", argv[0]);
		return 2;
	}
	char dir[256], conf[300], tok[300];
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/siegel-bench-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (siegel_path_join(conf, sizeof(conf), dir, "softhsm2.conf") != 0)
		abort();
	if (siegel_path_join(tok, sizeof(tok), dir, "tokens") != 0)
		abort();
	int rc = 1;
	struct csp_p11 *p = NULL;
	struct csp_key k = { 0 };
	if (csp_softhsm_write_conf(conf, tok, &d) != 0) {
		fprintf(stderr, "%s\n", d.msg);
		goto out;
	}
	setenv("SOFTHSM2_CONF", conf, 1);
	struct csp_p11_config cfg = { .module_path = module, .token_label = TOKEN,
		.user_pin = PIN, .create_token = 1, .so_pin = "12345678" };
	if (csp_p11_open(&p, &cfg, &d) != 0 ||
	    csp_p11_key(&k, p, "bench-p256", SIEGEL_ALG_P256_SHA256, 1, &d) != 0) {
		fprintf(stderr, "%s\n", d.msg);
		goto out;
	}
	printf("ECDSA P-256, %.1f s each, module %s\n", secs, module);
	double raw = bench_raw(module, "bench-p256", secs);
	double csp = bench_csp(&k, secs);
	double ossl = bench_openssl(secs);
	printf("raw C_Sign (SoftHSM2, CKM_ECDSA)   : %10.0f sign/s\n", raw);
	printf("csp_sign (SHA-256 + SoftHSM2)      : %10.0f sign/s\n", csp);
	printf("OpenSSL EVP_PKEY_sign (in process) : %10.0f sign/s\n", ossl);
	if (raw > 0 && ossl > 0)
		printf("raw C_Sign / OpenSSL               : %10.2f\n", raw / ossl);
	rc = raw > 0 && csp > 0 && ossl > 0 ? 0 : 1;
out:
	csp_key_release(&k);
	csp_p11_close(p);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
	return rc;
}
