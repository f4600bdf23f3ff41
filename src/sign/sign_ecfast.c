/* sign_ecfast: ECDSA verification with the public key's multiples
 * precomputed (see sign_ecfast.h).
 *
 * ECDSA accepts (r, s) when x(u1·G + u2·Q) mod n = r, u1 = e/s, u2 = r/s.
 * OpenSSL computes u1·G + u2·Q as one double-base multiplication in which Q
 * is a variable base. Here a private copy of the curve group has Q as its
 * generator with the generator's multiples precomputed, so both halves are
 * fixed-base multiplications, and the sum is compared with r in projective
 * coordinates, without the field inversion of the affine conversion. 1/s
 * comes from sign_modinv, several times faster than BN_mod_inverse. */

/* EC_GROUP_precompute_mult, EC_GROUP_method_of, the EC_GFp_*_method
 * functions and EC_POINT_get_Jprojective_coordinates_GFp are deprecated in
 * OpenSSL 3.0 without a replacement; they are the only way to have a fixed
 * base other than the curve's own generator and to skip the inversion. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "sign/sign_ecfast.h"
#include "alg/alg.h"
#include "sign/sign_modinv.h"

#include <stdlib.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>

struct sign_ecfast {
	EC_GROUP *g;            /* the named curve */
	EC_GROUP *gq;           /* the curve with Q as generator, precomputed */
	EC_GROUP *gg;           /* wNAF method only: g with G precomputed; else NULL */
	int wnaf;               /* the group uses OpenSSL's generic wNAF multiplication */
	EC_POINT *q;            /* the public key */
	EC_POINT *p1, *p2;      /* u1·G, u2·Q, then their sum */
	BIGNUM *n, *p;          /* order, field prime */
	BIGNUM *zero;
	BIGNUM *r, *s, *e, *w, *u1, *u2, *x, *z, *t;
	BN_CTX *bn;
	struct sign_modinv ord; /* inverses mod n (1/s) */
	int order_bits;
	size_t order_bytes;
};

void sign_ecfast_free(struct sign_ecfast *v)
{
	if (v == NULL)
		return;
	EC_POINT_free(v->q);
	EC_POINT_free(v->p1);
	EC_POINT_free(v->p2);
	EC_GROUP_free(v->gq);
	EC_GROUP_free(v->gg);
	EC_GROUP_free(v->g);
	BN_free(v->n);
	BN_free(v->p);
	BN_free(v->zero);
	BN_free(v->r);
	BN_free(v->s);
	BN_free(v->e);
	BN_free(v->w);
	BN_free(v->u1);
	BN_free(v->u2);
	BN_free(v->x);
	BN_free(v->z);
	BN_free(v->t);
	BN_CTX_free(v->bn);
	free(v);
}

/* Whether OpenSSL multiplies in this group with its generic wNAF code
 * (P-384 and brainpool in 3.0; P-256 has its own nistz256 code). That code
 * uses a constant-time ladder, which ignores precomputation, whenever a
 * multiplication has only one term. */
static int group_is_wnaf(const EC_GROUP *g)
{
	const EC_METHOD *m = EC_GROUP_method_of(g);
	return m == EC_GFp_mont_method() || m == EC_GFp_simple_method() ||
		m == EC_GFp_nist_method();
}

unsigned long sign_ecfast_after(const EVP_PKEY *pub)
{
	return alg_curve_nid(pub) == NID_X9_62_prime256v1 ? 512 : 16;
}

/* A BIGNUM with room for bits, so that setting it later does not allocate. */
static BIGNUM *bn_new_room(int bits)
{
	BIGNUM *b = BN_new();
	if (b != NULL && !BN_set_bit(b, bits)) {
		BN_free(b);
		return NULL;
	}
	if (b != NULL)
		BN_zero(b);
	return b;
}

int sign_ecfast_new(struct sign_ecfast **out, const EVP_PKEY *pub, struct siegel_diag *d)
{
	*out = NULL;
	if (pub == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "ecfast: no key");
	if (!EVP_PKEY_is_a(pub, "EC"))
		return siegel_fail(d, SIEGEL_E_NOTSUP, "ecfast: not an EC key");
	int nid = alg_curve_nid(pub);
	if (nid == NID_undef)
		return siegel_fail(d, SIEGEL_E_NOTSUP, "ecfast: EC key without a named curve");
	uint8_t pt[1 + 2 * 66];
	size_t pt_len = 0;
	if (EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt,
	    &pt_len) != 1) {
		ERR_clear_error();
		return siegel_fail(d, SIEGEL_E_NOTSUP, "ecfast: no public point (or over %zu bytes)",
			sizeof pt);
	}

	struct sign_ecfast *v = calloc(1, sizeof *v);
	if (v == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "ecfast: out of memory");
	int err = SIEGEL_E_CRYPTO;
	const char *what = "curve";
	v->g = EC_GROUP_new_by_curve_name(nid);
	if (v->g == NULL)
		goto fail;
	if (EC_GROUP_get_field_type(v->g) != NID_X9_62_prime_field) {
		err = SIEGEL_E_NOTSUP;
		what = "not a prime curve";
		goto fail;
	}
	v->bn = BN_CTX_new();
	v->n = BN_dup(EC_GROUP_get0_order(v->g));
	v->p = BN_new();
	v->q = EC_POINT_new(v->g);
	v->p1 = EC_POINT_new(v->g);
	v->p2 = EC_POINT_new(v->g);
	v->zero = BN_new();
	if (v->bn == NULL || v->n == NULL || v->p == NULL || v->q == NULL || v->p1 == NULL ||
	    v->p2 == NULL || v->zero == NULL ||
	    !EC_GROUP_get_curve(v->g, v->p, NULL, NULL, v->bn))
		goto fail;
	BN_zero(v->zero);
	if (sign_modinv_init(&v->ord, v->n) != 0) {
		err = SIEGEL_E_NOTSUP;
		what = "order";
		goto fail;
	}
	v->order_bits = BN_num_bits(v->n);
	v->order_bytes = (size_t)BN_num_bytes(v->n);
	int room = 2 * (BN_num_bits(v->p) > v->order_bits ? BN_num_bits(v->p) : v->order_bits) + 64;
	v->r = bn_new_room(room);
	v->s = bn_new_room(room);
	v->e = bn_new_room(room);
	v->w = bn_new_room(room);
	v->u1 = bn_new_room(room);
	v->u2 = bn_new_room(room);
	v->x = bn_new_room(room);
	v->z = bn_new_room(room);
	v->t = bn_new_room(room);
	if (v->r == NULL || v->s == NULL || v->e == NULL || v->w == NULL || v->u1 == NULL ||
	    v->u2 == NULL || v->x == NULL || v->z == NULL || v->t == NULL)
		goto fail;

	what = "public point";
	if (!EC_POINT_oct2point(v->g, v->q, pt, pt_len, v->bn) ||
	    EC_POINT_is_at_infinity(v->g, v->q) || EC_POINT_is_on_curve(v->g, v->q, v->bn) != 1)
		goto fail;

	what = "precomputation";
	v->wnaf = group_is_wnaf(v->g);
	v->gq = EC_GROUP_dup(v->g);
	if (v->gq == NULL ||
	    !EC_GROUP_set_generator(v->gq, v->q, v->n, EC_GROUP_get0_cofactor(v->g)) ||
	    !EC_GROUP_precompute_mult(v->gq, v->bn) || !EC_GROUP_have_precompute_mult(v->gq))
		goto fail;
	/* nistz256 has a built-in table for G; the wNAF code has none */
	if (v->wnaf) {
		v->gg = EC_GROUP_dup(v->g);
		if (v->gg == NULL || !EC_GROUP_precompute_mult(v->gg, v->bn) ||
		    !EC_GROUP_have_precompute_mult(v->gg))
			goto fail;
	}
	*out = v;
	return 0;

fail:
	{
		unsigned long e = ERR_peek_last_error();
		char es[160] = "";
		if (e != 0)
			ERR_error_string_n(e, es, sizeof es);
		ERR_clear_error();
		sign_ecfast_free(v);
		return siegel_fail(d, err, "ecfast: %s %s%s%s", OBJ_nid2sn(nid), what,
			es[0] ? ": " : "", es);
	}
}

/* k times the generator of grp (G or Q), from its precomputed multiples. */
static int fixed_mul(struct sign_ecfast *v, const EC_GROUP *grp, EC_POINT *out, const BIGNUM *k)
{
	/* A second term with scalar 0 keeps the wNAF code off the ladder. */
	if (v->wnaf)
		return EC_POINT_mul(grp, out, k, v->q, v->zero, v->bn);
	return EC_POINT_mul(grp, out, k, NULL, NULL, v->bn);
}

/* One DER INTEGER from [*p, end) that can be in [1, n-1]: its big-endian
 * magnitude in *val, *len (no leading zero byte). 0, or -1 when it is not
 * DER, negative, zero or longer than the order (then it is >= n). */
static int der_int(const uint8_t **p, const uint8_t *end, size_t max_bytes,
	const uint8_t **val, size_t *len)
{
	const uint8_t *c = *p;
	if (end - c < 2 || c[0] != 0x02 || c[1] >= 0x80 || c[1] == 0 ||
	    (size_t)(end - c - 2) < c[1])
		return -1;
	size_t l = c[1];
	const uint8_t *b = c + 2;
	*p = b + l;
	if (b[0] & 0x80)
		return -1;
	if (b[0] == 0) {
		if (l == 1 || !(b[1] & 0x80))
			return -1;
		b++;
		l--;
	}
	if (l > max_bytes)
		return -1;
	*val = b;
	*len = l;
	return 0;
}

/* r and s of a DER ECDSA-Sig-Value into v->r, v->s; -1 when it is not
 * strict DER or r or s is not in [1, n-1]. */
static int parse_sig(struct sign_ecfast *v, const uint8_t *sig, size_t len)
{
	const uint8_t *end = sig + len, *p = sig, *rv, *sv;
	size_t body, rl, sl;
	if (len < 2 || p[0] != 0x30)
		return -1;
	if (p[1] < 0x80) {
		body = p[1];
		p += 2;
	} else if (p[1] == 0x81 && len >= 3 && p[2] >= 0x80) {
		body = p[2];
		p += 3;
	} else {
		return -1;
	}
	if ((size_t)(end - p) != body)
		return -1;
	if (der_int(&p, end, v->order_bytes, &rv, &rl) != 0 ||
	    der_int(&p, end, v->order_bytes, &sv, &sl) != 0 || p != end)
		return -1;
	if (BN_bin2bn(rv, (int)rl, v->r) == NULL || BN_bin2bn(sv, (int)sl, v->s) == NULL)
		return -1;
	if (BN_is_zero(v->r) || BN_is_zero(v->s) || BN_cmp(v->r, v->n) >= 0 ||
	    BN_cmp(v->s, v->n) >= 0)
		return -1;
	return 0;
}

int sign_ecfast_verify(struct sign_ecfast *v, const uint8_t *sig_der, size_t sig_len,
	const uint8_t *digest, size_t digest_len)
{
	if (v == NULL || (sig_der == NULL && sig_len != 0) || (digest == NULL && digest_len != 0))
		return SIEGEL_E_INVAL;
	if (sig_der == NULL || parse_sig(v, sig_der, sig_len) != 0)
		return SIEGEL_E_VERIFY;

	/* e: the leftmost order_bits bits of the digest (SEC 1 4.1.4 step 5) */
	static const uint8_t none[1];
	size_t dl = digest_len;
	if (8 * dl > (size_t)v->order_bits)
		dl = ((size_t)v->order_bits + 7) / 8;
	if (BN_bin2bn(dl ? digest : none, (int)dl, v->e) == NULL)
		goto crypto;
	if (8 * dl > (size_t)v->order_bits && !BN_rshift(v->e, v->e, 8 - (v->order_bits & 7)))
		goto crypto;

	if (sign_modinv(v->w, v->s, &v->ord) != 0 || !BN_mod_mul(v->u1, v->e, v->w, v->n, v->bn) ||
	    !BN_mod_mul(v->u2, v->r, v->w, v->n, v->bn))
		goto crypto;
	if (!fixed_mul(v, v->wnaf ? v->gg : v->g, v->p1, v->u1) ||
	    !fixed_mul(v, v->gq, v->p2, v->u2) ||
	    !EC_POINT_add(v->g, v->p1, v->p1, v->p2, v->bn))
		goto crypto;
	if (EC_POINT_is_at_infinity(v->g, v->p1))
		return SIEGEL_E_VERIFY;

	/* x mod n = r with x = X/Z^2 < p: X = c·Z^2 for c = r, r+n, ... below p */
	if (!EC_POINT_get_Jprojective_coordinates_GFp(v->g, v->p1, v->x, NULL, v->z, v->bn) ||
	    !BN_nnmod(v->x, v->x, v->p, v->bn) || !BN_mod_sqr(v->z, v->z, v->p, v->bn))
		goto crypto;
	for (; BN_cmp(v->r, v->p) < 0; ) {
		if (!BN_mod_mul(v->t, v->r, v->z, v->p, v->bn))
			goto crypto;
		if (BN_cmp(v->t, v->x) == 0)
			return 0;
		if (!BN_add(v->r, v->r, v->n))
			goto crypto;
	}
	return SIEGEL_E_VERIFY;

crypto:
	ERR_clear_error();
	return SIEGEL_E_CRYPTO;
}
