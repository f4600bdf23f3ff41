/* sign_modinv: inverses modulo a fixed odd modulus (the order of an EC
 * group), for the self-check's ECDSA verification (sign_ecfast).
 *
 * Bernstein-Yang "safegcd" divsteps in batches of 62 on signed 62-bit limbs,
 * in the variable-time form: its running time depends on the input, so it
 * is only for public values (s of a signature). About 1-3 us for a 256-bit
 * modulus, where OpenSSL 3.0's BN_mod_inverse takes 10-20 us and was half of
 * the self-check's time. */
#ifndef SIEGEL_SIGN_MODINV_H
#define SIEGEL_SIGN_MODINV_H

#include <stdint.h>

#include <openssl/bn.h>

#include "base/base.h"

/* Limbs of 62 bits: moduli of up to SIGN_MODINV_MAX_BITS bits (P-521 fits). */
#define SIGN_MODINV_LIMBS 9
#define SIGN_MODINV_MAX_BITS (62 * (SIGN_MODINV_LIMBS - 1) + 61)

struct sign_modinv {
	int64_t m[SIGN_MODINV_LIMBS]; /* the modulus, 62 bits per limb */
	uint64_t m_inv62;             /* m^-1 mod 2^62 */
	int len;                      /* limbs in use (one more than m needs) */
	int bytes;                    /* bytes of m */
};

/* SIEGEL_E_INVAL when m is negative, even, below 3 or longer than
 * SIGN_MODINV_MAX_BITS bits. */
int sign_modinv_init(struct sign_modinv *mi, const BIGNUM *m) SIEGEL_WUR;
/* out = a^-1 mod m for a in [1, m-1]. SIEGEL_E_INVAL when a is outside that
 * range or has no inverse (gcd(a, m) > 1); SIEGEL_E_CRYPTO when OpenSSL
 * cannot store the result. Allocates nothing when out has room for m. */
int sign_modinv(BIGNUM *out, const BIGNUM *a, const struct sign_modinv *mi) SIEGEL_WUR;

#endif
