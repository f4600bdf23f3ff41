/* sign_modinv against OpenSSL's BN_mod_inverse: the orders of every curve
 * the signer supports (and secp256k1, P-224, P-521), odd moduli of every
 * size from 2 to SIGN_MODINV_MAX_BITS bits, prime or not, with inputs at
 * the edges (1, 2, m-1, m-2, powers of two, all ones, single limbs) and
 * random ones. The result must be the same number, and "no inverse" must
 * agree. Also: inputs out of range and moduli that are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include "harness.h"
#include "sign/sign_modinv.h"

static int cases, mismatches;

/* One input: sign_modinv must give what BN_mod_inverse gives. */
static void check_one(const struct sign_modinv *mi, const BIGNUM *m, const BIGNUM *a,
	BN_CTX *bn)
{
	BIGNUM *want = BN_new(), *got = BN_new();
	CHECK(want != NULL && got != NULL);
	if (want == NULL || got == NULL)
		goto out;
	int have = BN_mod_inverse(want, a, m, bn) != NULL;
	ERR_clear_error();
	int rc = sign_modinv(got, a, mi);
	cases++;
	int ok = have ? rc == 0 && BN_cmp(want, got) == 0 : rc == SIEGEL_E_INVAL;
	if (!ok) {
		mismatches++;
		if (mismatches <= 5) {
			char *ms = BN_bn2hex(m), *as = BN_bn2hex(a);
			fprintf(stderr, "mismatch: m=%s a=%s openssl %s, sign_modinv rc %d\n", ms, as,
				have ? "inverts" : "cannot", rc);
			OPENSSL_free(ms);
			OPENSSL_free(as);
		}
	}
out:
	BN_free(want);
	BN_free(got);
}

/* Edge inputs and `randoms` random ones for modulus m. */
static void run_modulus(const BIGNUM *m, int randoms, int all_powers, BN_CTX *bn)
{
	struct sign_modinv mi;
	CHECK_OK(sign_modinv_init(&mi, m));
	BIGNUM *a = BN_new();
	CHECK(a != NULL);
	if (a == NULL)
		return;
	int bits = BN_num_bits(m);
	/* 1, 2, 3 and m-1, m-2, m-3 */
	for (unsigned w = 1; w <= 3; w++) {
		if (BN_set_word(a, w) && BN_cmp(a, m) < 0)
			check_one(&mi, m, a, bn);
		if (BN_copy(a, m) && BN_sub_word(a, w) && !BN_is_zero(a))
			check_one(&mi, m, a, bn);
	}
	/* powers of two, and 2^k - 1 (all ones), below m: every k, or those
	 * next to limb and byte boundaries */
	for (int k = 1; k < bits; k++) {
		if (!all_powers && k % 62 > 2 && k % 62 < 60 && k % 8 != 0 && k + 3 < bits)
			continue;
		BN_zero(a);
		if (BN_set_bit(a, k) && BN_cmp(a, m) < 0)
			check_one(&mi, m, a, bn);
		if (BN_sub_word(a, 1) && !BN_is_zero(a) && BN_cmp(a, m) < 0)
			check_one(&mi, m, a, bn);
	}
	/* one set 62-bit limb at each limb position */
	for (int k = 0; k + 62 <= bits; k += 62) {
		BN_zero(a);
		for (int j = 0; j < 62; j++)
			(void)BN_set_bit(a, k + j);
		if (BN_cmp(a, m) < 0)
			check_one(&mi, m, a, bn);
	}
	for (int i = 0; i < randoms; i++) {
		if (!BN_rand_range(a, m)) {
			CHECK(0);
			break;
		}
		if (!BN_is_zero(a))
			check_one(&mi, m, a, bn);
	}
	BN_free(a);
}

static void refused(const char *hex_m)
{
	BIGNUM *m = NULL;
	struct sign_modinv mi;
	CHECK(BN_hex2bn(&m, hex_m) > 0);
	CHECK_RC(sign_modinv_init(&mi, m), SIEGEL_E_INVAL);
	BN_free(m);
}

int main(void)
{
	BN_CTX *bn = BN_CTX_new();
	CHECK(bn != NULL);
	static const int nids[] = { NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1,
		NID_brainpoolP256r1, NID_brainpoolP384r1, NID_brainpoolP512r1, NID_secp256k1,
		NID_secp224r1 };
	for (size_t i = 0; i < sizeof nids / sizeof nids[0]; i++) {
		EC_GROUP *g = EC_GROUP_new_by_curve_name(nids[i]);
		CHECK(g != NULL);
		if (g == NULL)
			continue;
		/* the order (the self-check's modulus) and the field prime */
		run_modulus(EC_GROUP_get0_order(g), 4000, 1, bn);
		BIGNUM *p = BN_new();
		if (p != NULL && EC_GROUP_get_curve(g, p, NULL, NULL, bn))
			run_modulus(p, 500, 1, bn);
		BN_free(p);
		EC_GROUP_free(g);
	}
	/* odd moduli of every size, mostly composite: gcd > 1 must be refused
	 * exactly where OpenSSL finds no inverse */
	BIGNUM *m = BN_new();
	CHECK(m != NULL);
	for (int bits = 2; m != NULL && bits <= SIGN_MODINV_MAX_BITS; bits++) {
		for (int k = 0; k < 3; k++) {
			if (!BN_rand(m, bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD)) {
				CHECK(0);
				break;
			}
			if (BN_is_one(m))
				continue;
			run_modulus(m, bits < 16 ? 20 : 40, 0, bn);
		}
	}
	/* small composites with many shared factors */
	for (unsigned long v = 3; m != NULL && v < 400; v += 2) {
		if (BN_set_word(m, v))
			run_modulus(m, 0, 1, bn);
	}
	printf("%d inputs, %d mismatches against BN_mod_inverse\n", cases, mismatches);
	CHECK(mismatches == 0);
	CHECK(cases > 50000);

	/* inputs outside [1, m-1] */
	struct sign_modinv mi;
	BIGNUM *a = BN_new(), *out = BN_new();
	CHECK(a != NULL && out != NULL);
	CHECK(BN_set_word(m, 1000003));
	CHECK_OK(sign_modinv_init(&mi, m));
	BN_zero(a);
	CHECK_RC(sign_modinv(out, a, &mi), SIEGEL_E_INVAL);
	CHECK(BN_copy(a, m) != NULL);
	CHECK_RC(sign_modinv(out, a, &mi), SIEGEL_E_INVAL);
	CHECK(BN_add_word(a, 5));
	CHECK_RC(sign_modinv(out, a, &mi), SIEGEL_E_INVAL);
	CHECK(BN_set_word(a, 7));
	BN_set_negative(a, 1);
	CHECK_RC(sign_modinv(out, a, &mi), SIEGEL_E_INVAL);
	/* moduli that are refused: even, 1, 0, negative, too long */
	refused("10");
	refused("1");
	refused("0");
	refused("-7");
	BIGNUM *big = BN_new();
	CHECK(big != NULL && BN_set_bit(big, SIGN_MODINV_MAX_BITS) && BN_add_word(big, 1));
	CHECK_RC(sign_modinv_init(&mi, big), SIEGEL_E_INVAL);
	/* the longest accepted modulus works */
	CHECK(BN_rand(big, SIGN_MODINV_MAX_BITS, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD));
	CHECK_OK(sign_modinv_init(&mi, big));
	BN_free(big);
	BN_free(a);
	BN_free(out);
	BN_free(m);
	BN_CTX_free(bn);
	return t_done();
}
