/* sign_ecfast: on P-256, P-384, P-521, brainpoolP256r1 and brainpoolP384r1,
 * sign_ecfast_verify accepts exactly what EVP_PKEY_verify accepts: valid
 * signatures (also with s replaced by n-s), and not one bit flipped in r,
 * s or the digest, r or s = 0 or n, non-DER encodings (trailing bytes, extra
 * bytes in r or s, leading zeros, long-form lengths, negative values),
 * truncations, another key's signature; digests longer and shorter than
 * the order. Keys other than EC are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "harness.h"
#include "sign/sign_ecfast.h"

#define MAX_SIG 160

struct curve {
	const char *name;
	size_t digest_len;      /* the hash that goes with the curve */
	int rounds;
};

struct fixture {
	const char *curve;
	struct sign_ecfast *v;
	EVP_PKEY_CTX *vctx;     /* verify, no hash algorithm: any digest length */
	EVP_PKEY_CTX *sctx;
	EVP_PKEY_CTX *other;    /* signs with another key on the same curve */
	BIGNUM *n;
	int mismatches;         /* for the summary line */
	int cases;
};

/* The rule: ecfast accepts exactly when EVP does; and the expected answer. */
static void agree(struct fixture *f, const char *what, const uint8_t *sig, size_t sl,
	const uint8_t *dg, size_t dl, int want_ok)
{
	ERR_clear_error();
	int evp = EVP_PKEY_verify(f->vctx, sig, sl, dg, dl);
	ERR_clear_error();
	int fast = sign_ecfast_verify(f->v, sig, sl, dg, dl);
	f->cases++;
	t_checks++;
	if ((fast == 0) != (evp == 1) || (fast != 0 && fast != SIEGEL_E_VERIFY) ||
	    (fast == 0) != want_ok) {
		t_failures++;
		f->mismatches++;
		if (f->mismatches <= 20)
			fprintf(stderr, "FAIL %s %s: ecfast %d (%s), EVP %d, want %s\n", f->curve,
				what, fast, siegel_err_name(fast), evp, want_ok ? "valid" : "invalid");
	}
}

static size_t sign(EVP_PKEY_CTX *c, uint8_t *sig, const uint8_t *dg, size_t dl)
{
	size_t sl = MAX_SIG;
	if (EVP_PKEY_sign(c, sig, &sl, dg, dl) != 1) {
		fprintf(stderr, "EVP_PKEY_sign failed\n");
		exit(99);
	}
	return sl;
}

/* DER of (r, s); aborts when it does not fit. */
static size_t enc(uint8_t *out, const BIGNUM *r, const BIGNUM *s)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r2 = BN_dup(r), *s2 = BN_dup(s);
	if (es == NULL || r2 == NULL || s2 == NULL || !ECDSA_SIG_set0(es, r2, s2) ||
	    i2d_ECDSA_SIG(es, NULL) > MAX_SIG) {
		fprintf(stderr, "enc failed\n");
		exit(99);
	}
	uint8_t *p = out;
	int l = i2d_ECDSA_SIG(es, &p);
	ECDSA_SIG_free(es);
	return (size_t)l;
}

/* SEQUENCE { INTEGER ri, INTEGER si } from raw contents (any bytes, so
 * non-DER integers too), short-form lengths unless long_seq. */
static size_t raw_sig(uint8_t *out, const uint8_t *ri, size_t rl, const uint8_t *si, size_t sl,
	int long_seq)
{
	size_t body = 2 + rl + 2 + sl, o = 0;
	out[o++] = 0x30;
	if (body >= 0x80 || long_seq) {
		out[o++] = 0x81;
		out[o++] = (uint8_t)body;
	} else {
		out[o++] = (uint8_t)body;
	}
	out[o++] = 0x02;
	out[o++] = (uint8_t)rl;
	memcpy(out + o, ri, rl);
	o += rl;
	out[o++] = 0x02;
	out[o++] = (uint8_t)sl;
	memcpy(out + o, si, sl);
	return o + sl;
}

/* The minimal DER INTEGER contents of a non-negative b. */
static size_t int_bytes(uint8_t *out, const BIGNUM *b)
{
	int l = BN_num_bytes(b);
	if (l == 0) {
		out[0] = 0;
		return 1;
	}
	uint8_t tmp[80];
	BN_bn2bin(b, tmp);
	size_t o = 0;
	if (tmp[0] & 0x80)
		out[o++] = 0;
	memcpy(out + o, tmp, (size_t)l);
	return o + (size_t)l;
}

static void flip_bit(BIGNUM *b, int bit)
{
	if (BN_is_bit_set(b, bit))
		BN_clear_bit(b, bit);
	else
		BN_set_bit(b, bit);
}

static void one_round(struct fixture *f, size_t dlen, int round)
{
	uint8_t dg[64], sig[MAX_SIG], mod[MAX_SIG + 8];
	size_t sl, ml;
	RAND_bytes(dg, (int)dlen);
	sl = sign(f->sctx, sig, dg, dlen);
	agree(f, "valid", sig, sl, dg, dlen, 1);

	const uint8_t *p = sig;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
	CHECK(es != NULL);
	if (es == NULL)
		return;
	BIGNUM *r = BN_dup(ECDSA_SIG_get0_r(es)), *s = BN_dup(ECDSA_SIG_get0_s(es));
	BIGNUM *t = BN_new();
	int nbits = BN_num_bits(f->n);
	uint8_t rb[80], sb[80], xb[90];
	size_t rl = int_bytes(rb, r), sbl = int_bytes(sb, s);
	uint32_t rnd;
	RAND_bytes((uint8_t *)&rnd, sizeof rnd);

	/* one bit flipped in r, in s, in the digest */
	BN_copy(t, r);
	flip_bit(t, (int)(rnd % (unsigned)nbits));
	ml = enc(mod, t, s);
	agree(f, "r bit flipped", mod, ml, dg, dlen, 0);
	BN_copy(t, s);
	flip_bit(t, (int)((rnd >> 9) % (unsigned)nbits));
	ml = enc(mod, r, t);
	agree(f, "s bit flipped", mod, ml, dg, dlen, 0);
	uint8_t dg2[64];
	memcpy(dg2, dg, dlen);
	dg2[(rnd >> 18) % dlen] ^= (uint8_t)(1u << ((rnd >> 27) & 7));
	agree(f, "digest bit flipped", sig, sl, dg2, dlen, 0);

	/* r or s = 0 or n; s = n - s is valid too */
	BN_zero(t);
	ml = enc(mod, t, s);
	agree(f, "r = 0", mod, ml, dg, dlen, 0);
	ml = enc(mod, r, t);
	agree(f, "s = 0", mod, ml, dg, dlen, 0);
	ml = enc(mod, f->n, s);
	agree(f, "r = n", mod, ml, dg, dlen, 0);
	ml = enc(mod, r, f->n);
	agree(f, "s = n", mod, ml, dg, dlen, 0);
	BN_add(t, r, f->n);
	ml = enc(mod, t, s);
	agree(f, "r + n", mod, ml, dg, dlen, 0);
	BN_sub(t, f->n, s);
	ml = enc(mod, r, t);
	agree(f, "s = n - s", mod, ml, dg, dlen, 1);

	/* trailing bytes after the SEQUENCE, inside r or s, after s */
	memcpy(mod, sig, sl);
	mod[sl] = (uint8_t)rnd;
	agree(f, "trailing byte", mod, sl + 1, dg, dlen, 0);
	mod[sl + 1] = 0;
	agree(f, "two trailing bytes", mod, sl + 2, dg, dlen, 0);
	memcpy(xb, rb, rl);
	xb[rl] = (uint8_t)(rnd >> 8);
	ml = raw_sig(mod, xb, rl + 1, sb, sbl, 0);
	agree(f, "garbage byte in r", mod, ml, dg, dlen, 0);
	memcpy(xb, sb, sbl);
	xb[sbl] = (uint8_t)(rnd >> 16);
	ml = raw_sig(mod, rb, rl, xb, sbl + 1, 0);
	agree(f, "garbage byte in s", mod, ml, dg, dlen, 0);
	ml = raw_sig(mod, rb, rl, sb, sbl, 0);
	CHECK(ml == sl && memcmp(mod, sig, sl) == 0); /* raw_sig is DER for DER input */
	mod[ml] = 0x02;
	mod[ml + 1] = 0x01;
	mod[ml + 2] = 0x01;
	mod[1] = (uint8_t)(mod[1] + 3);
	if (mod[1] < 0x80)
		agree(f, "third INTEGER", mod, ml + 3, dg, dlen, 0);

	/* non-DER encodings of the same values */
	xb[0] = 0;
	memcpy(xb + 1, rb, rl);
	ml = raw_sig(mod, xb, rl + 1, sb, sbl, 0);
	agree(f, "extra leading zero in r", mod, ml, dg, dlen, 0);
	memcpy(xb + 1, sb, sbl);
	ml = raw_sig(mod, rb, rl, xb, sbl + 1, 0);
	agree(f, "extra leading zero in s", mod, ml, dg, dlen, 0);
	if (sl - 2 < 0x80) {
		ml = raw_sig(mod, rb, rl, sb, sbl, 1);
		agree(f, "long-form SEQUENCE length", mod, ml, dg, dlen, 0);
	}
	if (rb[0] == 0) {
		/* r as a negative number: the same bytes without the sign byte */
		ml = raw_sig(mod, rb + 1, rl - 1, sb, sbl, 0);
		agree(f, "r negative", mod, ml, dg, dlen, 0);
	}
	if (sb[0] == 0) {
		ml = raw_sig(mod, rb, rl, sb + 1, sbl - 1, 0);
		agree(f, "s negative", mod, ml, dg, dlen, 0);
	}
	memcpy(mod, sig, sl);
	mod[0] = 0x31;
	agree(f, "SET instead of SEQUENCE", mod, sl, dg, dlen, 0);
	memcpy(mod, sig, sl);
	mod[2] = 0x03;
	agree(f, "BIT STRING for r", mod, sl, dg, dlen, 0);

	/* truncations: every length in the first rounds, one random later */
	if (round < 3) {
		for (size_t k = 0; k < sl; k++)
			agree(f, "truncated", sig, k, dg, dlen, 0);
	} else {
		agree(f, "truncated", sig, (rnd >> 4) % sl, dg, dlen, 0);
	}
	/* the length byte says shorter or longer than what is there */
	memcpy(mod, sig, sl);
	mod[1] = (uint8_t)(mod[1] - 1);
	agree(f, "SEQUENCE length short", mod, sl, dg, dlen, 0);
	agree(f, "SEQUENCE length short, cut", mod, sl - 1, dg, dlen, 0);

	/* another key's signature; an empty digest */
	ml = sign(f->other, mod, dg, dlen);
	agree(f, "other key", mod, ml, dg, dlen, 0);
	agree(f, "empty digest", sig, sl, dg, 0, 0);

	ECDSA_SIG_free(es);
	BN_free(r);
	BN_free(s);
	BN_free(t);
}

static EVP_PKEY_CTX *ctx_for(EVP_PKEY *k, int verify)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	if (c == NULL || (verify ? EVP_PKEY_verify_init(c) : EVP_PKEY_sign_init(c)) != 1) {
		fprintf(stderr, "EVP_PKEY_CTX setup failed\n");
		exit(99);
	}
	return c;
}

static void run_curve(const struct curve *c)
{
	struct siegel_diag d = { "" };
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", c->name);
	EVP_PKEY *key2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", c->name);
	CHECK(key != NULL && key2 != NULL);
	if (key == NULL || key2 == NULL)
		return;
	struct fixture f = { .curve = c->name };
	CHECK_OK(sign_ecfast_new(&f.v, key, &d));
	if (f.v == NULL) {
		fprintf(stderr, "%s: %s\n", c->name, d.msg);
		return;
	}
	f.vctx = ctx_for(key, 1);
	f.sctx = ctx_for(key, 0);
	f.other = ctx_for(key2, 0);
	f.n = NULL;
	CHECK(EVP_PKEY_get_bn_param(key, "order", &f.n) == 1 && f.n != NULL);
	if (f.n == NULL)
		return;

	for (int i = 0; i < c->rounds; i++)
		one_round(&f, c->digest_len, i);

	/* digests longer and shorter than the order (SHA-384 on P-256, SHA-256
	 * on P-384, SHA-512 on all) */
	static const size_t lens[] = { 20, 28, 32, 48, 64 };
	for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
		for (int i = 0; i < 30; i++) {
			uint8_t dg[64], sig[MAX_SIG];
			RAND_bytes(dg, (int)lens[li]);
			size_t sl = sign(f.sctx, sig, dg, lens[li]);
			agree(&f, "other digest length", sig, sl, dg, lens[li], 1);
			dg[lens[li] - 1] ^= 1;
			/* past the order the last byte is not used: both must say valid */
			size_t used = ((size_t)BN_num_bits(f.n) + 7) / 8;
			int low_bits_cut = lens[li] > used ||
				(lens[li] * 8 > (size_t)BN_num_bits(f.n) && (BN_num_bits(f.n) & 7) != 0);
			agree(&f, "other digest length, last bit flipped", sig, sl, dg, lens[li],
				low_bits_cut);
		}
	}
	printf("%s: %d cases, %d disagreements\n", c->name, f.cases, f.mismatches);

	sign_ecfast_free(f.v);
	EVP_PKEY_CTX_free(f.vctx);
	EVP_PKEY_CTX_free(f.sctx);
	EVP_PKEY_CTX_free(f.other);
	BN_free(f.n);
	EVP_PKEY_free(key);
	EVP_PKEY_free(key2);
}

int main(void)
{
	static const struct curve curves[] = {
		{ "P-256", 32, 300 },
		{ "P-384", 48, 300 },
		{ "P-521", 64, 100 },
		{ "brainpoolP256r1", 32, 300 },
		{ "brainpoolP384r1", 48, 300 },
	};
	for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
		run_curve(&curves[i]);

	/* keys that are not EC */
	struct siegel_diag d;
	struct sign_ecfast *v = (struct sign_ecfast *)&d;
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	CHECK(ed != NULL);
	CHECK_RC(sign_ecfast_new(&v, ed, &d), SIEGEL_E_NOTSUP);
	CHECK(v == NULL);
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	CHECK(rsa != NULL);
	CHECK_RC(sign_ecfast_new(&v, rsa, &d), SIEGEL_E_NOTSUP);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(rsa);
	sign_ecfast_free(NULL);
	return t_done();
}
