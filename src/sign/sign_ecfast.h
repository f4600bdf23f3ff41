/* sign_ecfast: ECDSA verification for one fixed EC public key, for the self-
 * check after every signature of a batch. The key's multiples are
 * precomputed once, so u2·Q costs a fixed-base multiplication like u1·G
 * instead of a variable-base one: about 1.8x the verifications per second of
 * EVP_PKEY_verify on P-256 and 2.5x on P-384 and the brainpool curves
 * (OpenSSL 3.0), for a setup of 1-20 ms. Accepts exactly the
 * signatures OpenSSL's ECDSA verification accepts (strict DER, r and s in
 * [1, n-1], both s and n-s). */
#ifndef SIEGEL_SIGN_ECFAST_H
#define SIEGEL_SIGN_ECFAST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "base/base.h"

/* A verifier for one EC public key. Not thread-safe: one thread at a time. */
struct sign_ecfast;

/* SIEGEL_E_NOTSUP when pub is not an EC key on a named prime curve;
 * SIEGEL_E_CRYPTO or SIEGEL_E_NOMEM when OpenSSL fails. */
int sign_ecfast_new(struct sign_ecfast **out, const EVP_PKEY *pub, struct siegel_diag *d)
	SIEGEL_WUR;
/* NULL is a no-op. */
void sign_ecfast_free(struct sign_ecfast *v);
/* After how many verifications with pub the setup of sign_ecfast_new has
 * paid for itself (setup time / time saved per verification, OpenSSL 3.0,
 * rounded up): 512 on P-256, whose table takes ~18 ms while
 * EVP_PKEY_verify is already fast there (nistz256); 16 on the other curves,
 * where the setup takes 0.2-2.5 ms and every verification saves
 * 0.17-0.35 ms. */
unsigned long sign_ecfast_after(const EVP_PKEY *pub);
/* 0 when sig_der (DER ECDSA-Sig-Value, strict: no trailing bytes, r and s
 * in [1, n-1]) is a signature over digest, the hash value (its leftmost
 * bits when it is longer than the order, as ECDSA does; its length is not
 * checked against any hash algorithm). SIEGEL_E_VERIFY when it is not,
 * SIEGEL_E_CRYPTO when OpenSSL fails (out of memory), SIEGEL_E_INVAL on
 * NULL arguments. Allocates nothing itself (OpenSSL's point multiplication
 * still does internally). */
int sign_ecfast_verify(struct sign_ecfast *v, const uint8_t *sig_der, size_t sig_len,
	const uint8_t *digest, size_t digest_len) SIEGEL_WUR;

#endif
