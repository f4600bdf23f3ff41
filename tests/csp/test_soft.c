/* csp software keys and the csp.c helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "csp/csp.h"
#include "harness.h"

static const char golden_serial[] =
	"b07b419a340384ad282d0ca3298d3e09e8c80e1de2669f2837a026f1893b339d";

static void check_sign_verify(struct csp_key *k)
{
	const struct alg_info *ai = alg_get(k->alg);
	static const uint8_t msg[] = "TR-03151 DTBS stand-in";
	uint8_t sig[ALG_MAX_SIG];
	size_t sig_len = 0;
	EVP_PKEY *pub = NULL;
	CHECK(ai != NULL);
	if (ai == NULL)
		return;
	CHECK(k->pub_len == 1 + 2 * ai->field_len && k->pub[0] == 0x04);
	uint8_t ser[ALG_SERIAL_LEN];
	alg_serial_number(ser, k->pub, k->pub_len);
	CHECK_MEM(ser, k->serial, ALG_SERIAL_LEN);
	CHECK_OK(csp_sign(k, sig, &sig_len, msg, sizeof(msg)));
	CHECK(sig_len == 2 * ai->field_len);
	CHECK_OK(csp_key_pkey(&pub, k));
	if (pub == NULL)
		return;
	CHECK_OK(alg_verify_plain(pub, ai->hash_nid, msg, sizeof(msg), sig, sig_len));
	CHECK_RC(alg_verify_plain(pub, ai->hash_nid, msg, sizeof(msg) - 1, sig, sig_len),
		SIEGEL_E_VERIFY);
	EVP_PKEY_free(pub);
}

int main(void)
{
	struct siegel_diag d = { { 0 } };
	struct csp_key k;
	char hex[2 * ALG_SERIAL_LEN + 1];

	/* the golden P-256 test key: serial = SHA-256 of its point */
	char *path = t_shared_path("tse/keys/TEST-ONLY_tse-p256-golden.key.pem");
	CHECK_OK(csp_soft_load_pem(&k, path, &d));
	siegel_hex_encode(hex, k.serial, ALG_SERIAL_LEN);
	CHECK_STR(hex, golden_serial);
	CHECK(k.alg == SIEGEL_ALG_P256_SHA256);
	CHECK_STR(k.ops->name, "soft");
	check_sign_verify(&k);
	csp_key_release(&k);
	CHECK(k.ops == NULL && k.ctx == NULL);
	csp_key_release(&k); /* twice is harmless */
	csp_key_release(NULL);
	uint8_t sig[ALG_MAX_SIG];
	size_t sig_len;
	CHECK_RC(csp_sign(&k, sig, &sig_len, (const uint8_t *)"x", 1), SIEGEL_E_INVAL);

	/* the same key from an EVP_PKEY: up-ref'd, the caller keeps its reference */
	FILE *f = fopen(path, "r");
	EVP_PKEY *pk = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	CHECK(pk != NULL);
	CHECK_OK(csp_soft_load_pkey(&k, pk));
	EVP_PKEY_free(pk);
	siegel_hex_encode(hex, k.serial, ALG_SERIAL_LEN);
	CHECK_STR(hex, golden_serial);
	check_sign_verify(&k);
	csp_key_release(&k);
	free(path);

	/* a brainpool golden key: algorithm from the curve */
	path = t_shared_path("tse/keys/TEST-ONLY_tse-bp384-golden.key.pem");
	CHECK_OK(csp_soft_load_pem(&k, path, &d));
	CHECK(k.alg == SIEGEL_ALG_BP384_SHA384);
	check_sign_verify(&k);
	csp_key_release(&k);
	free(path);

	/* bad inputs say what is wrong */
	CHECK_RC(csp_soft_load_pem(&k, "/nonexistent/key.pem", &d), SIEGEL_E_IO);
	CHECK(strstr(d.msg, "/nonexistent/key.pem") != NULL);
	path = t_shared_path("tse/keys/TEST-ONLY_tse-p256-golden.pub.pem");
	CHECK_RC(csp_soft_load_pem(&k, path, &d), SIEGEL_E_PARSE);
	CHECK(strstr(d.msg, "not a PEM private key") != NULL);
	free(path);
	EVP_PKEY *rsa = EVP_RSA_gen(1024);
	CHECK(rsa != NULL);
	CHECK_RC(csp_soft_load_pkey(&k, rsa), SIEGEL_E_NOTSUP);
	EVP_PKEY_free(rsa);
	EVP_PKEY *p521 = EVP_EC_gen("P-521");
	CHECK(p521 != NULL);
	CHECK_RC(csp_soft_load_pkey(&k, p521), SIEGEL_E_NOTSUP);
	EVP_PKEY_free(p521);

	/* generated keys for every algorithm */
	static const enum siegel_alg algs[] = { SIEGEL_ALG_P256_SHA256, SIEGEL_ALG_P384_SHA384,
		SIEGEL_ALG_BP256_SHA256, SIEGEL_ALG_BP384_SHA384 };
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		CHECK_OK(csp_soft_generate(&k, algs[i]));
		CHECK(k.alg == algs[i]);
		check_sign_verify(&k);
		csp_key_release(&k);
	}
	CHECK_RC(csp_soft_generate(&k, SIEGEL_ALG_NONE), SIEGEL_E_INVAL);

	/* SoftHSM2 helpers */
	char conf[512], tokdir[512];
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", t_tmpdir());
	snprintf(tokdir, sizeof(tokdir), "%s/tokens/a", t_tmpdir());
	CHECK_OK(csp_softhsm_write_conf(conf, tokdir, &d));
	size_t n = 0;
	uint8_t *txt = t_read(conf, &n);
	char want[1024];
	snprintf(want, sizeof(want),
		"directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n"
		"slots.removable = false\n", tokdir);
	CHECK(n == strlen(want) && memcmp(txt, want, n) == 0);
	free(txt);
	char *out = NULL;
	CHECK(t_run(&out, "test -d '%s'", tokdir) == 0);
	free(out);
	CHECK_RC(csp_softhsm_write_conf(conf, "a\nb", &d), SIEGEL_E_INVAL);
	const char *mod = csp_softhsm_default_module();
	CHECK(mod != NULL);
	return t_done();
}
