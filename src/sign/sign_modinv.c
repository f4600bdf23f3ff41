/* sign_modinv: variable-time modular inverse by batched divsteps.
 *
 * The algorithm is D. J. Bernstein and B.-Y. Yang, "Fast constant-time gcd
 * computation and modular inversion" (2019), in the variable-time variant
 * with 62 divsteps per batch that libsecp256k1 documents in
 * doc/safegcd_implementation.md. Numbers are little-endian arrays of signed
 * 62-bit limbs: every limb but the top one is in [0, 2^62), the top one
 * carries the sign.
 *
 * f starts as the modulus and g as the input; each batch computes from the
 * low 64 bits of f and g a 2x2 matrix t that, applied to (f, g) and divided
 * by 2^62, does 62 divsteps; d and e follow along modulo m so that
 * d·a = f and e·a = g (mod m) hold throughout. When g reaches 0, f is
 * ±gcd(a, m) and d·sign(f) is the inverse. */
#include "sign/sign_modinv.h"

#include <string.h>

__extension__ typedef __int128 i128;

#define M62 (UINT64_MAX >> 2)
/* Far more batches than any input needs (about 12 for 256 bits, 24 for
 * 521); reached only if the arithmetic were wrong. */
#define MAX_BATCHES 64

struct trans {
	int64_t u, v, q, r;
};

/* Up to 62 divsteps on the low bits of f and g (f odd); eta = -delta. */
static int64_t divsteps_62(int64_t eta, uint64_t f, uint64_t g, struct trans *t)
{
	uint64_t u = 1, v = 0, q = 0, r = 1, m, w;
	int i = 62, limit, zeros;
	for (;;) {
		/* the sentinel bit stops the count at i */
		zeros = __builtin_ctzll(g | (UINT64_MAX << i));
		g >>= zeros;
		u <<= zeros;
		v <<= zeros;
		eta -= zeros;
		i -= zeros;
		if (i == 0)
			break;
		/* f and g odd here */
		if (eta < 0) {
			uint64_t tmp;
			eta = -eta;
			tmp = f;
			f = g;
			g = -tmp;
			tmp = u;
			u = q;
			q = -tmp;
			tmp = v;
			v = r;
			r = -tmp;
			/* cancel up to 6 low bits of g: w = -g/f mod 64 */
			limit = (int)eta + 1 > i ? i : (int)eta + 1;
			m = (UINT64_MAX >> (64 - limit)) & 63u;
			w = (f * g * (f * f - 2)) & m;
		} else {
			/* up to 4 bits: w = -g/f mod 16 */
			limit = (int)eta + 1 > i ? i : (int)eta + 1;
			m = (UINT64_MAX >> (64 - limit)) & 15u;
			w = f + (((f + 1) & 4) << 1);
			w = (-w * g) & m;
		}
		g += f * w;
		q += u * w;
		r += v * w;
	}
	t->u = (int64_t)u;
	t->v = (int64_t)v;
	t->q = (int64_t)q;
	t->r = (int64_t)r;
	return eta;
}

/* (d, e) = t·(d, e) / 2^62 mod m, kept in (-2m, m). */
static void update_de(int64_t *d, int64_t *e, const struct trans *t, const struct sign_modinv *mi)
{
	const int n = mi->len;
	const int64_t u = t->u, v = t->v, q = t->q, r = t->r;
	/* add the multiples of m that make the low 62 bits zero; start with
	 * [u, q]·m when d < 0 and [v, r]·m when e < 0 to stay in range */
	int64_t sd = d[n - 1] >> 63, se = e[n - 1] >> 63;
	int64_t md = (u & sd) + (v & se), me = (q & sd) + (r & se);
	i128 cd = (i128)u * d[0] + (i128)v * e[0];
	i128 ce = (i128)q * d[0] + (i128)r * e[0];
	md -= (int64_t)((mi->m_inv62 * (uint64_t)cd + (uint64_t)md) & M62);
	me -= (int64_t)((mi->m_inv62 * (uint64_t)ce + (uint64_t)me) & M62);
	cd += (i128)mi->m[0] * md;
	ce += (i128)mi->m[0] * me;
	cd >>= 62;
	ce >>= 62;
	for (int i = 1; i < n; i++) {
		cd += (i128)u * d[i] + (i128)v * e[i] + (i128)mi->m[i] * md;
		ce += (i128)q * d[i] + (i128)r * e[i] + (i128)mi->m[i] * me;
		d[i - 1] = (int64_t)((uint64_t)cd & M62);
		e[i - 1] = (int64_t)((uint64_t)ce & M62);
		cd >>= 62;
		ce >>= 62;
	}
	d[n - 1] = (int64_t)cd;
	e[n - 1] = (int64_t)ce;
}

/* (f, g) = t·(f, g) / 2^62 on the low len limbs (exact: the low 62 bits of
 * both products are zero by construction of t). */
static void update_fg(int len, int64_t *f, int64_t *g, const struct trans *t)
{
	const int64_t u = t->u, v = t->v, q = t->q, r = t->r;
	i128 cf = (i128)u * f[0] + (i128)v * g[0];
	i128 cg = (i128)q * f[0] + (i128)r * g[0];
	cf >>= 62;
	cg >>= 62;
	for (int i = 1; i < len; i++) {
		cf += (i128)u * f[i] + (i128)v * g[i];
		cg += (i128)q * f[i] + (i128)r * g[i];
		f[i - 1] = (int64_t)((uint64_t)cf & M62);
		g[i - 1] = (int64_t)((uint64_t)cg & M62);
		cf >>= 62;
		cg >>= 62;
	}
	f[len - 1] = (int64_t)cf;
	g[len - 1] = (int64_t)cg;
}

/* Limbs of any signed values into the canonical form (low limbs in
 * [0, 2^62), the top one signed). */
static void carry(int64_t *x, int n)
{
	for (int i = 0; i < n - 1; i++) {
		int64_t c = x[i] >> 62;
		x[i] = (int64_t)((uint64_t)x[i] & M62);
		x[i + 1] += c;
	}
}

/* -1, 0, 1 as canonical x is below, equal to, above canonical y. */
static int cmp(const int64_t *x, const int64_t *y, int n)
{
	for (int i = n - 1; i >= 0; i--)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

/* A non-negative BIGNUM of at most 62·n - 1 bits into n canonical limbs. */
static int from_bn(int64_t *x, int n, const BIGNUM *b)
{
	uint8_t le[8 * SIGN_MODINV_LIMBS];
	uint64_t w[SIGN_MODINV_LIMBS + 1];
	if (BN_is_negative(b) || BN_num_bits(b) > 62 * n - 1 ||
	    BN_bn2lebinpad(b, le, (int)sizeof le) < 0)
		return -1;
	for (int i = 0; i < SIGN_MODINV_LIMBS; i++) {
		w[i] = 0;
		for (int k = 7; k >= 0; k--)
			w[i] = (w[i] << 8) | le[8 * i + k];
	}
	w[SIGN_MODINV_LIMBS] = 0;
	for (int i = 0; i < n; i++) {
		int idx = 62 * i / 64, sh = 62 * i % 64;
		uint64_t v = w[idx] >> sh;
		if (sh > 2)
			v |= w[idx + 1] << (64 - sh);
		x[i] = (int64_t)(v & M62);
	}
	return 0;
}

/* Canonical non-negative limbs into a BIGNUM. */
static int to_bn(BIGNUM *b, const int64_t *x, int n)
{
	uint64_t w[SIGN_MODINV_LIMBS + 1] = { 0 };
	uint8_t le[8 * (SIGN_MODINV_LIMBS + 1)];
	for (int i = 0; i < n; i++) {
		uint64_t v = (uint64_t)x[i];
		int idx = 62 * i / 64, sh = 62 * i % 64;
		w[idx] |= v << sh;
		if (sh > 2)
			w[idx + 1] |= v >> (64 - sh);
	}
	for (int i = 0; i <= SIGN_MODINV_LIMBS; i++)
		for (int k = 0; k < 8; k++)
			le[8 * i + k] = (uint8_t)(w[i] >> (8 * k));
	return BN_lebin2bn(le, (int)sizeof le, b) == NULL ? -1 : 0;
}

int sign_modinv_init(struct sign_modinv *mi, const BIGNUM *m)
{
	memset(mi, 0, sizeof *mi);
	int bits = BN_num_bits(m);
	if (BN_is_negative(m) || !BN_is_odd(m) || bits < 2 || bits > SIGN_MODINV_MAX_BITS ||
	    BN_is_one(m))
		return SIEGEL_E_INVAL;
	mi->len = bits / 62 + 1;
	mi->bytes = BN_num_bytes(m);
	if (from_bn(mi->m, mi->len, m) != 0)
		return SIEGEL_E_INVAL;
	/* Newton's iteration doubles the correct low bits: m·m = 1 mod 8 */
	uint64_t m0 = (uint64_t)mi->m[0], inv = m0;
	for (int k = 0; k < 5; k++)
		inv *= 2 - m0 * inv;
	mi->m_inv62 = inv & M62;
	return 0;
}

int sign_modinv(BIGNUM *out, const BIGNUM *a, const struct sign_modinv *mi)
{
	const int n = mi->len;
	int64_t f[SIGN_MODINV_LIMBS], g[SIGN_MODINV_LIMBS];
	int64_t d[SIGN_MODINV_LIMBS], e[SIGN_MODINV_LIMBS];
	if (n < 1 || BN_is_zero(a) || from_bn(g, n, a) != 0 || cmp(g, mi->m, n) >= 0)
		return SIEGEL_E_INVAL;
	memcpy(f, mi->m, sizeof(int64_t) * (size_t)n);
	memset(d, 0, sizeof d);
	memset(e, 0, sizeof e);
	e[0] = 1;
	int64_t eta = -1; /* delta = 1 */
	int len = n, done = 0;
	for (int batch = 0; batch < MAX_BATCHES && !done; batch++) {
		struct trans t;
		eta = divsteps_62(eta, (uint64_t)f[0], (uint64_t)g[0], &t);
		update_de(d, e, &t, mi);
		update_fg(len, f, g, &t);
		if (g[0] == 0) {
			int64_t any = 0;
			for (int j = 1; j < len; j++)
				any |= g[j];
			if (any == 0) {
				done = 1;
				break;
			}
		}
		/* drop a top limb that is 0 or -1 in both f and g */
		int64_t fn = f[len - 1], gn = g[len - 1];
		int64_t cond = ((int64_t)len - 2) >> 63;
		cond |= fn ^ (fn >> 63);
		cond |= gn ^ (gn >> 63);
		if (cond == 0) {
			f[len - 2] = (int64_t)((uint64_t)f[len - 2] | ((uint64_t)fn << 62));
			g[len - 2] = (int64_t)((uint64_t)g[len - 2] | ((uint64_t)gn << 62));
			len--;
		}
	}
	if (!done)
		return SIEGEL_E_INVAL;
	/* f = ±gcd(a, m): the inverse exists only for ±1 */
	int neg = f[len - 1] < 0;
	if (neg)
		for (int i = 0; i < len; i++)
			f[i] = -f[i];
	carry(f, len);
	if (f[0] != 1)
		return SIEGEL_E_INVAL;
	for (int i = 1; i < len; i++)
		if (f[i] != 0)
			return SIEGEL_E_INVAL;
	/* d·sign(f) into [0, m) */
	if (neg)
		for (int i = 0; i < n; i++)
			d[i] = -d[i];
	carry(d, n);
	while (d[n - 1] < 0) {
		for (int i = 0; i < n; i++)
			d[i] += mi->m[i];
		carry(d, n);
	}
	while (cmp(d, mi->m, n) >= 0) {
		for (int i = 0; i < n; i++)
			d[i] -= mi->m[i];
		carry(d, n);
	}
	return to_bn(out, d, n) == 0 ? 0 : SIEGEL_E_CRYPTO;
}
