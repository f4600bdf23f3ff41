/* certstore.c: the qualified certificate store (a read-only directory of
 * certificates), chain building against it with a cache of verified
 * certificate signatures, and the chain model's time checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "verify/verify_internal.h"

static int64_t asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return INT64_MIN;
	return (int64_t)timegm(&tm);
}

void verify_name_string(char *out, size_t cap, const X509_NAME *n)
{
	size_t o = 0;
	out[0] = 0;
	int cnt = X509_NAME_entry_count(n);
	for (int i = 0; i < cnt; i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
		char oid[64];
		if (sn == NULL) {
			OBJ_obj2txt(oid, sizeof(oid), X509_NAME_ENTRY_get_object(e), 1);
			sn = oid;
		}
		unsigned char *u = NULL;
		int l = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e));
		int w = snprintf(out + o, cap - o, "%s%s=%.*s", i ? "; " : "", sn, l > 0 ? l : 0,
			l > 0 ? (const char *)u : "");
		OPENSSL_free(u);
		if (w < 0 || (size_t)w >= cap - o) {
			out[cap - 1] = 0;
			return;
		}
		o += (size_t)w;
	}
}

static int add_cert(struct verify_ctx *v, X509 *x, const char *path, struct siegel_diag *d)
{
	if (sk_X509_num(v->store_certs) >= VERIFY_MAX_STORE_CERTS) {
		X509_free(x);
		return siegel_fail(d, SIEGEL_E_LIMIT, "certificate store: more than %d certificates",
			VERIFY_MAX_STORE_CERTS);
	}
	if (!X509_STORE_add_cert(v->xs, x)) {
		ERR_clear_error(); /* duplicate */
	}
	if (!sk_X509_push(v->store_certs, x)) {
		X509_free(x);
		return SIEGEL_E_NOMEM;
	}
	(void)path;
	return 0;
}

static int load_file(struct verify_ctx *v, const char *path, struct siegel_diag *d)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = siegel_read_file(&buf, &len, path, VERIFY_MAX_CERT_FILE, d);
	if (rc)
		return rc;
	int n = 0;
	if (len > 10 && memmem(buf, len, "-----BEGIN", 10) != NULL) {
		BIO *b = BIO_new_mem_buf(buf, (int)len);
		X509 *x;
		while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
			rc = add_cert(v, x, path, d);
			if (rc)
				break;
			n++;
		}
		BIO_free(b);
		ERR_clear_error();
	} else {
		const unsigned char *p = buf;
		X509 *x = d2i_X509(NULL, &p, (long)len);
		if (x != NULL && (size_t)(p - buf) == len) {
			rc = add_cert(v, x, path, d);
			n = rc == 0;
		} else {
			X509_free(x);
		}
		ERR_clear_error();
	}
	free(buf);
	if (rc == 0 && n == 0)
		rc = siegel_fail(d, SIEGEL_E_PARSE, "certificate store: %s holds no certificate", path);
	return rc;
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

/* siegel_dir_list filter of certstore_load: the certificate file endings. */
static int cert_file_keep(const char *path, void *ctx)
{
	(void)ctx;
	return has_suffix(path, ".pem") || has_suffix(path, ".crt") || has_suffix(path, ".der") ||
	       has_suffix(path, ".cer");
}

int certstore_load(struct verify_ctx *v, const char *dir, struct siegel_diag *d)
{
	char **paths = NULL;
	size_t n = 0;
	struct siegel_diag inner = { { 0 } };
	/* no store yet: empty */
	int rc = siegel_dir_list(&paths, &n, dir, VERIFY_MAX_STORE_CERTS, 1, cert_file_keep, NULL,
		&inner);
	if (rc == SIEGEL_E_LIMIT)
		return siegel_fail(d, rc, "certificate store %s: more than %d files", dir,
			VERIFY_MAX_STORE_CERTS);
	if (rc)
		return siegel_fail(d, rc, "certificate store %s", inner.msg);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct stat st;
		if (stat(paths[i], &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		rc = load_file(v, paths[i], d);
	}
	siegel_strv_free(paths, n);
	return rc;
}

int certstore_contains(const struct verify_ctx *v, X509 *x)
{
	for (int i = 0; i < sk_X509_num(v->store_certs); i++)
		if (X509_cmp(sk_X509_value(v->store_certs, i), x) == 0)
			return 1;
	return 0;
}

/* ---- signature cache ---- */

static int sig_ok_cached(struct verify_ctx *v, X509 *x, X509 *issuer)
{
	uint8_t key[64];
	unsigned int l1 = 32, l2 = 32;
	if (!X509_digest(x, EVP_sha256(), key, &l1) || !X509_digest(issuer, EVP_sha256(), key + 32, &l2))
		return X509_verify(x, X509_get0_pubkey(issuer)) == 1;
	size_t slot = ((size_t)key[0] | (size_t)key[1] << 8 | (size_t)key[33] << 16) %
		v->cache_slots;
	if (memcmp(v->cache[slot], key, 64) == 0)
		return 1;
	EVP_PKEY *pk = X509_get0_pubkey(issuer);
	int ok = pk != NULL && X509_verify(x, pk) == 1;
	ERR_clear_error();
	if (ok)
		memcpy(v->cache[slot], key, 64);
	return ok;
}

/* Replaces OpenSSL's internal_verify: signatures along the chain through the
 * cache; time checks are ours (chain model, after the build). */
static int cached_verify(X509_STORE_CTX *ctx)
{
	struct verify_ctx *v = X509_STORE_CTX_get_app_data(ctx);
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	int n = sk_X509_num(chain);
	for (int i = n - 2; i >= 0; i--) {
		X509 *x = sk_X509_value(chain, i), *iss = sk_X509_value(chain, i + 1);
		if (!sig_ok_cached(v, x, iss)) {
			X509_STORE_CTX_set_error_depth(ctx, i);
			X509_STORE_CTX_set_current_cert(ctx, x);
			X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_SIGNATURE_FAILURE);
			return 0;
		}
	}
	return 1;
}

static void fmt_time(char out[21], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 21, "?");
}

void chain_out_free(struct chain_out *c)
{
	sk_X509_pop_free(c->chain, X509_free);
	c->chain = NULL;
}

static void cn_of(char *out, size_t cap, X509 *x)
{
	verify_name_string(out, cap, X509_get_subject_name(x));
}

void chain_validate(struct chain_out *out, struct verify_ctx *v, X509 *leaf,
	STACK_OF(X509) *untrusted, int64_t sign_time, int purpose, int is_signer)
{
	memset(out, 0, sizeof(*out));
	char name[200];
	out->self_signed = X509_self_signed(leaf, 0) == 1;
	ERR_clear_error();
	int in_store = certstore_contains(v, leaf);
	if (out->self_signed && !in_store) {
		out->code = VERIFY_NO_SELF_SIGNED;
		cn_of(name, sizeof(name), leaf);
		snprintf(out->msg, sizeof(out->msg),
			"signer certificate \"%s\" is self-signed and not in the qualified store", name);
		return;
	}
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	if (ctx == NULL || !X509_STORE_CTX_init(ctx, v->xs, leaf, untrusted)) {
		X509_STORE_CTX_free(ctx);
		out->code = VERIFY_CANT_FIND_ISSUER;
		snprintf(out->msg, sizeof(out->msg), "out of memory building the chain");
		return;
	}
	X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_NO_CHECK_TIME);
	X509_VERIFY_PARAM_set_depth(p, 10);
	if (purpose)
		X509_STORE_CTX_set_purpose(ctx, purpose);
	X509_STORE_CTX_set_app_data(ctx, v);
	X509_STORE_CTX_set_verify(ctx, cached_verify);
	int ok = X509_verify_cert(ctx) == 1;
	int err = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
	if (!ok) {
		switch (err) {
		case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
			out->code = VERIFY_NO_SELF_SIGNED;
			break;
		case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
		case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
		case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
			out->code = VERIFY_CANT_FIND_ISSUER;
			break;
		default:
			out->code = VERIFY_CERT_INVALID;
		}
		if (cur)
			cn_of(name, sizeof(name), cur);
		else
			snprintf(name, sizeof(name), "?");
		snprintf(out->msg, sizeof(out->msg), "%s: %.80s (depth %d, \"%.120s\")",
			out->code == VERIFY_CANT_FIND_ISSUER ? "no chain to a certificate of the qualified store"
			: "certificate chain invalid", X509_verify_cert_error_string(err), depth, name);
		X509_STORE_CTX_free(ctx);
		ERR_clear_error();
		return;
	}
	out->chain = X509_STORE_CTX_get1_chain(ctx);
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	out->validated = 1;
	int n = sk_X509_num(out->chain);
	X509 *top = sk_X509_value(out->chain, n - 1);
	out->root_in_store = certstore_contains(v, top) && X509_self_signed(top, 0) == 1;
	/* chain model (Kettenmodell): the signer certificate at the signing time,
	 * every issuer at the time it issued the certificate below it */
	int64_t t = sign_time;
	for (int i = 0; i < n; i++) {
		X509 *x = sk_X509_value(out->chain, i);
		int64_t nb = asn1_unix(X509_get0_notBefore(x)), na = asn1_unix(X509_get0_notAfter(x));
		if (t < nb || t > na) {
			char ts[21], a[21], b[21];
			fmt_time(ts, t);
			fmt_time(a, nb);
			fmt_time(b, na);
			cn_of(name, sizeof(name), x);
			out->code = VERIFY_CERT_INVALID;
			out->validated = 0;
			snprintf(out->msg, sizeof(out->msg),
				"certificate \"%.150s\" was not valid at %s (%s, chain model; valid %s .. %s)", name,
				ts, i == 0 ? "the signing time" : "issuance of the certificate below", a, b);
			return;
		}
		t = nb;
	}
	if (is_signer && (X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(leaf) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))) {
		out->code = VERIFY_CERT_INVALID;
		out->validated = 0;
		snprintf(out->msg, sizeof(out->msg),
			"signer certificate key usage allows neither digitalSignature nor nonRepudiation");
		return;
	}
	out->code = 0;
}

/* ---- store add ---- */

int certstore_add(char hex_out[65], const char *dir, const uint8_t *cert, size_t len,
	int64_t now, struct siegel_diag *d)
{
	X509 *x = NULL;
	if (len > 10 && memmem(cert, len, "-----BEGIN", 10) != NULL) {
		BIO *b = BIO_new_mem_buf(cert, (int)len);
		x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
		X509 *extra = b && x ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
		if (extra) {
			X509_free(extra);
			X509_free(x);
			return siegel_fail(d, SIEGEL_E_PARSE, "store add: give one certificate per call");
		}
	} else {
		const unsigned char *p = cert;
		x = d2i_X509(NULL, &p, (long)len);
		if (x && (size_t)(p - cert) != len) {
			X509_free(x);
			x = NULL;
		}
	}
	ERR_clear_error();
	if (x == NULL)
		return siegel_fail(d, SIEGEL_E_PARSE, "store add: not a certificate (PEM or DER)");
	uint8_t h[32];
	unsigned int hl = 32;
	X509_digest(x, EVP_sha256(), h, &hl);
	siegel_hex_encode(hex_out, h, 32);
	struct verify_opts o = { .store_dir = dir, .has_at = 1, .at = now, .no_ocsp = 1 };
	struct verify_ctx *v = NULL;
	int rc = verify_ctx_new(&v, &o, d);
	if (rc) {
		X509_free(x);
		return rc;
	}
	if (certstore_contains(v, x)) {
		rc = siegel_fail(d, SIEGEL_E_EXISTS, "store add: certificate %s is already in %s", hex_out,
			dir);
		goto out;
	}
	char name[200];
	verify_name_string(name, sizeof(name), X509_get_subject_name(x));
	if (X509_self_signed(x, 1) == 1) {
		int64_t nb = asn1_unix(X509_get0_notBefore(x)), na = asn1_unix(X509_get0_notAfter(x));
		if (now < nb || now > na) {
			rc = siegel_fail(d, SIEGEL_E_VERIFY, "store add: \"%s\" is not valid now", name);
			goto out;
		}
	} else {
		struct chain_out c;
		chain_validate(&c, v, x, NULL, now, 0, 0);
		chain_out_free(&c);
		if (c.code != 0) {
			rc = siegel_fail(d, SIEGEL_E_VERIFY, "store add: chain of \"%s\" does not validate: %s",
				name, c.msg);
			goto out;
		}
	}
	ERR_clear_error();
	rc = siegel_mkdir_p(dir, 0755);
	if (rc) {
		rc = siegel_fail(d, rc, "store add: cannot create %s", dir);
		goto out;
	}
	BIO *mb = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long pl = 0;
	if (mb == NULL || !PEM_write_bio_X509(mb, x) || (pl = BIO_get_mem_data(mb, &pem)) <= 0) {
		BIO_free(mb);
		rc = SIEGEL_E_NOMEM;
		goto out;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.pem", dir, hex_out);
	rc = siegel_write_file_atomic(path, pem, (size_t)pl, 0444, d);
	BIO_free(mb);
out:
	verify_ctx_free(v);
	X509_free(x);
	return rc;
}
