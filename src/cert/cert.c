/* cert: the built-in test CA, TSS leaf certificates, CSRs signed through the
 * csp, and checks of CA-issued leaves.
 *
 * Test CA (TEST ONLY, never for a certified TSE):
 *   root  P-384, self-signed, 25 years, CA:TRUE, keyCertSign+cRLSign, SKI
 *   ca    P-384, signed by root, 15 years, CA:TRUE pathlen:0, same usages,
 *         SKI + AKI
 *   leaf  the TSS key, signed by ca, CA:FALSE, digitalSignature, SKI + AKI
 * All signed ecdsa-with-SHA384 with random positive 16-byte serials. Times
 * come from the injected clock, so a fake clock gives a reproducible validity.
 * OpenSSL errors are put into the diagnostic and cleared from the queue. */
#include "cert/cert.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define CERT_MAX_LEN (64 * 1024)     /* a certificate or CA file we read */
#define CERT_SERIAL_LEN 16
#define CERT_ROOT_YEARS 25
#define CERT_CA_YEARS 15
#define CERT_MAX_LEAF_DAYS (30 * 366)
#define CERT_ROOT_CN "siegel Test Root CA (TEST ONLY)"
#define CERT_CA_CN "siegel Test TSE CA (TEST ONLY)"
#define CERT_CA_ORG "siegel"

static const char *const ca_files[4] = { "root.pem", "root.key", "ca.pem", "ca.key" };

/* Sets "<what>: <first OpenSSL error>" (or just what) and clears the queue. */
static int ossl_fail(struct siegel_diag *d, int err, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];
	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		siegel_diag_set(d, "%s: %s", what, buf);
	} else {
		siegel_diag_set(d, "%s", what);
	}
	ERR_clear_error();
	return err;
}

static int64_t clock_now(const struct siegel_clock *clk)
{
	if (clk == NULL || clk->now == NULL)
		clk = siegel_clock_system();
	return clk->now(clk->ctx);
}

/* t + years calendar years (UTC); 29 Feb maps to 1 Mar. */
static int64_t add_years(int64_t t, int years)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL)
		return t + (int64_t)years * 365 * 86400;
	tm.tm_year += years;
	return (int64_t)timegm(&tm);
}

static int random_serial(X509 *x)
{
	uint8_t b[CERT_SERIAL_LEN];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return SIEGEL_E_CRYPTO;
	b[0] = (uint8_t)((b[0] & 0x7f) | 0x40); /* positive, exactly 16 bytes */
	BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
	ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	int ok = ai != NULL && X509_set_serialNumber(x, ai) == 1;
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return ok ? 0 : SIEGEL_E_CRYPTO;
}

/* A name from (field, value) pairs, NULL-terminated. */
static X509_NAME *make_name(const char *const *kv)
{
	X509_NAME *n = X509_NAME_new();
	if (n == NULL)
		return NULL;
	for (; kv[0] != NULL; kv += 2) {
		if (X509_NAME_add_entry_by_txt(n, kv[0], MBSTRING_UTF8,
			    (const unsigned char *)kv[1], -1, -1, 0) != 1) {
			X509_NAME_free(n);
			return NULL;
		}
	}
	return n;
}

/* The TSS subject: C=DE, O=org, CN=serial hex, serialNumber=serial hex. */
static int tss_name(X509_NAME **out, const struct csp_key *key, const char *org,
	struct siegel_diag *d)
{
	char hex[2 * ALG_SERIAL_LEN + 1];
	if (org == NULL || org[0] == 0 || strlen(org) > 64)
		return siegel_fail(d, SIEGEL_E_INVAL,
			"organisation name for the TSS certificate: want 1..64 characters");
	siegel_hex_encode(hex, key->serial, ALG_SERIAL_LEN);
	const char *kv[] = { "C", "DE", "O", org, "CN", hex, "serialNumber", hex, NULL };
	*out = make_name(kv);
	if (*out == NULL)
		return ossl_fail(d, SIEGEL_E_CRYPTO, "TSS certificate subject");
	return 0;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = e != NULL && X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok;
}

struct cert_profile {
	const char *basic;     /* basicConstraints value */
	const char *usage;     /* keyUsage value */
	int aki;               /* add authorityKeyIdentifier */
};

static const struct cert_profile root_profile = {
	"critical,CA:TRUE", "critical,keyCertSign,cRLSign", 0 };
static const struct cert_profile ca_profile = {
	"critical,CA:TRUE,pathlen:0", "critical,keyCertSign,cRLSign", 1 };
static const struct cert_profile leaf_profile = {
	"critical,CA:FALSE", "critical,digitalSignature", 1 };

/* Builds and signs (SHA-384) a v3 certificate for pub. issuer NULL means
 * self-signed (then issuer_key is the subject's own key). */
static int make_cert(X509 **out, const X509_NAME *subject, EVP_PKEY *pub, X509 *issuer,
	EVP_PKEY *issuer_key, int64_t not_before, int64_t not_after,
	const struct cert_profile *prof, struct siegel_diag *d)
{
	int rc = SIEGEL_E_CRYPTO;
	X509 *x = X509_new();
	if (x == NULL)
		return ossl_fail(d, SIEGEL_E_NOMEM, "X509_new");
	if (X509_set_version(x, X509_VERSION_3) != 1 || random_serial(x) != 0 ||
	    X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
	    X509_set_pubkey(x, pub) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) == NULL) {
		rc = ossl_fail(d, SIEGEL_E_CRYPTO, "building certificate");
		goto out;
	}
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (!add_ext(x, &ctx, NID_basic_constraints, prof->basic) ||
	    !add_ext(x, &ctx, NID_key_usage, prof->usage) ||
	    !add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
	    (prof->aki && !add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"))) {
		rc = ossl_fail(d, SIEGEL_E_CRYPTO, "adding certificate extensions");
		goto out;
	}
	if (X509_sign(x, issuer_key, EVP_sha384()) <= 0) {
		rc = ossl_fail(d, SIEGEL_E_CRYPTO, "signing certificate (ecdsa-with-SHA384)");
		goto out;
	}
	*out = x;
	x = NULL;
	rc = 0;
out:
	X509_free(x);
	return rc;
}

static void path_of(char *out, size_t cap, const char *dir, const char *file)
{
	snprintf(out, cap, "%s/%s", dir, file);
}

/* Writes obj (a private key when is_key, else an X509) as PEM, atomically. */
static int write_pem(const char *path, int mode, int is_key, void *obj,
	struct siegel_diag *d)
{
	BIO *b = BIO_new(BIO_s_mem());
	int ok = b != NULL && (is_key
		? PEM_write_bio_PrivateKey(b, obj, NULL, NULL, 0, NULL, NULL)
		: PEM_write_bio_X509(b, obj)) == 1;
	if (!ok) {
		BIO_free(b);
		return ossl_fail(d, SIEGEL_E_CRYPTO, "PEM encoding");
	}
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	int rc = siegel_write_file_atomic(path, p, (size_t)n, mode, d);
	if (is_key)
		OPENSSL_cleanse(p, (size_t)n);
	BIO_free(b);
	return rc;
}

static int create_ca(const char *dir, int64_t now, struct siegel_diag *d)
{
	char path[4096];
	EVP_PKEY *root_key = NULL, *ca_key = NULL;
	X509 *root = NULL, *ca = NULL;
	X509_NAME *rn = NULL, *cn = NULL;
	int rc;

	if (siegel_mkdir_p(dir, 0700) != 0)
		return siegel_fail(d, SIEGEL_E_IO, "%s: cannot create directory: %s", dir,
			strerror(errno));
	root_key = EVP_EC_gen("P-384");
	ca_key = EVP_EC_gen("P-384");
	if (root_key == NULL || ca_key == NULL) {
		rc = ossl_fail(d, SIEGEL_E_CRYPTO, "generating P-384 CA keys");
		goto out;
	}
	const char *rkv[] = { "C", "DE", "O", CERT_CA_ORG, "CN", CERT_ROOT_CN, NULL };
	const char *ckv[] = { "C", "DE", "O", CERT_CA_ORG, "CN", CERT_CA_CN, NULL };
	rn = make_name(rkv);
	cn = make_name(ckv);
	if (rn == NULL || cn == NULL) {
		rc = ossl_fail(d, SIEGEL_E_CRYPTO, "CA names");
		goto out;
	}
	rc = make_cert(&root, rn, root_key, NULL, root_key, now,
		add_years(now, CERT_ROOT_YEARS), &root_profile, d);
	if (rc == 0)
		rc = make_cert(&ca, cn, ca_key, root, root_key, now, add_years(now, CERT_CA_YEARS),
			&ca_profile, d);
	if (rc != 0)
		goto out;
	/* Keys first: a crash in between leaves an incomplete set, which
	 * cert_ca_open reports instead of silently replacing. */
	path_of(path, sizeof(path), dir, "root.key");
	rc = write_pem(path, 0600, 1, root_key, d);
	if (rc == 0) {
		path_of(path, sizeof(path), dir, "ca.key");
		rc = write_pem(path, 0600, 1, ca_key, d);
	}
	if (rc == 0) {
		path_of(path, sizeof(path), dir, "root.pem");
		rc = write_pem(path, 0644, 0, root, d);
	}
	if (rc == 0) {
		path_of(path, sizeof(path), dir, "ca.pem");
		rc = write_pem(path, 0644, 0, ca, d);
	}
out:
	X509_NAME_free(rn);
	X509_NAME_free(cn);
	X509_free(root);
	X509_free(ca);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(ca_key);
	return rc;
}

static int load_cert_file(X509 **out, const char *path, struct siegel_diag *d)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = siegel_read_file(&data, &len, path, CERT_MAX_LEN, d);
	if (rc != 0)
		return rc;
	struct siegel_diag inner = { { 0 } };
	rc = cert_parse(out, data, len, &inner);
	if (rc != 0)
		siegel_diag_set(d, "%s: %s", path, inner.msg);
	free(data);
	return rc;
}

static int load_key_file(EVP_PKEY **out, const char *path, struct siegel_diag *d)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = siegel_read_file(&data, &len, path, CERT_MAX_LEN, d);
	if (rc != 0)
		return rc;
	BIO *b = BIO_new_mem_buf(data, (int)len);
	*out = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	OPENSSL_cleanse(data, len);
	free(data);
	if (*out == NULL) {
		char what[4200];
		snprintf(what, sizeof(what), "%s: not an unencrypted PEM private key", path);
		return ossl_fail(d, SIEGEL_E_PARSE, what);
	}
	return 0;
}

int cert_ca_open(struct cert_ca *out, const char *dir, const struct siegel_clock *clk,
	struct siegel_diag *d)
{
	char path[4096], missing[64] = "";
	int present = 0, rc;

	if (out == NULL || dir == NULL || dir[0] == 0)
		return siegel_fail(d, SIEGEL_E_INVAL, "cert_ca_open: no output or directory");
	memset(out, 0, sizeof(*out));
	if (strlen(dir) > 4000)
		return siegel_fail(d, SIEGEL_E_INVAL, "CA directory path too long");
	for (int i = 0; i < 4; i++) {
		struct stat st;
		path_of(path, sizeof(path), dir, ca_files[i]);
		if (stat(path, &st) == 0) {
			present++;
		} else {
			size_t n = strlen(missing);
			snprintf(missing + n, sizeof(missing) - n, "%s%s", n ? ", " : "",
				ca_files[i]);
		}
	}
	if (present == 0) {
		rc = create_ca(dir, clock_now(clk), d);
		if (rc != 0)
			return rc;
	} else if (present != 4) {
		return siegel_fail(d, SIEGEL_E_STATE,
			"%s: incomplete test CA (missing %s); remove the directory to create a "
			"new one", dir, missing);
	}

	path_of(path, sizeof(path), dir, "root.pem");
	rc = load_cert_file(&out->root, path, d);
	if (rc == 0) {
		path_of(path, sizeof(path), dir, "ca.pem");
		rc = load_cert_file(&out->ca, path, d);
	}
	if (rc == 0) {
		path_of(path, sizeof(path), dir, "ca.key");
		rc = load_key_file(&out->ca_key, path, d);
	}
	if (rc != 0)
		goto fail;
	EVP_PKEY *root_pub = X509_get0_pubkey(out->root);
	if (root_pub == NULL || X509_verify(out->root, root_pub) != 1) {
		rc = siegel_fail(d, SIEGEL_E_VERIFY, "%s/root.pem: not a valid self-signed certificate", dir);
		goto fail;
	}
	if (X509_verify(out->ca, root_pub) != 1) {
		rc = siegel_fail(d, SIEGEL_E_VERIFY, "%s/ca.pem: not signed by root.pem", dir);
		goto fail;
	}
	if (X509_check_private_key(out->ca, out->ca_key) != 1) {
		rc = siegel_fail(d, SIEGEL_E_VERIFY, "%s/ca.key: does not match ca.pem", dir);
		goto fail;
	}
	ERR_clear_error();
	return 0;
fail:
	ERR_clear_error();
	cert_ca_close(out);
	return rc;
}

void cert_ca_close(struct cert_ca *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->root);
	X509_free(ca->ca);
	EVP_PKEY_free(ca->ca_key);
	ca->root = NULL;
	ca->ca = NULL;
	ca->ca_key = NULL;
}

int cert_issue_leaf(X509 **out, const struct cert_ca *ca, const struct csp_key *key,
	const char *org, int valid_days, const struct siegel_clock *clk,
	struct siegel_diag *d)
{
	EVP_PKEY *pub = NULL;
	X509_NAME *name = NULL;
	int rc;

	if (out == NULL || ca == NULL || ca->ca == NULL || ca->ca_key == NULL || key == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "cert_issue_leaf: missing CA or key");
	if (valid_days <= 0 || valid_days > CERT_MAX_LEAF_DAYS)
		return siegel_fail(d, SIEGEL_E_INVAL, "leaf validity %d days: want 1..%d",
			valid_days, CERT_MAX_LEAF_DAYS);
	const struct alg_info *ai = alg_get(key->alg);
	if (ai == NULL)
		return siegel_fail(d, SIEGEL_E_NOTSUP, "TSS key: unknown algorithm %d", key->alg);
	rc = alg_pkey_from_point(&pub, ai->curve_nid, key->pub, key->pub_len);
	if (rc != 0)
		return ossl_fail(d, rc, "TSS key: public point is not on the key's curve");
	rc = tss_name(&name, key, org, d);
	if (rc != 0)
		goto out;
	int64_t now = clock_now(clk);
	rc = make_cert(out, name, pub, ca->ca, ca->ca_key, now, now + (int64_t)valid_days * 86400,
		&leaf_profile, d);
out:
	X509_NAME_free(name);
	EVP_PKEY_free(pub);
	return rc;
}

int cert_make_csr(struct siegel_buf *out_pem, struct csp_key *key, const char *org,
	struct siegel_diag *d)
{
	EVP_PKEY *pub = NULL;
	X509_NAME *name = NULL;
	X509_REQ *req = NULL;
	X509_ALGOR *algo = NULL;
	ASN1_BIT_STRING *bits = NULL;
	uint8_t *tbs = NULL, *der = NULL;
	size_t der_len = 0;
	BIO *b = NULL;
	int rc;

	if (out_pem == NULL || key == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "cert_make_csr: missing output or key");
	const struct alg_info *ai = alg_get(key->alg);
	if (ai == NULL)
		return siegel_fail(d, SIEGEL_E_NOTSUP, "TSS key: unknown algorithm %d", key->alg);
	int sig_nid = ai->hash_nid == NID_sha384 ? NID_ecdsa_with_SHA384
		: ai->hash_nid == NID_sha256 ? NID_ecdsa_with_SHA256 : NID_undef;
	if (sig_nid == NID_undef)
		return siegel_fail(d, SIEGEL_E_NOTSUP, "TSS key: no X.509 signature OID for hash %s",
			OBJ_nid2sn(ai->hash_nid));
	rc = alg_pkey_from_point(&pub, ai->curve_nid, key->pub, key->pub_len);
	if (rc != 0)
		return ossl_fail(d, rc, "TSS key: public point is not on the key's curve");
	rc = tss_name(&name, key, org, d);
	if (rc != 0)
		goto out;

	rc = SIEGEL_E_CRYPTO;
	req = X509_REQ_new();
	algo = X509_ALGOR_new();
	bits = ASN1_BIT_STRING_new();
	if (req == NULL || algo == NULL || bits == NULL ||
	    X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, pub) != 1 ||
	    X509_ALGOR_set0(algo, OBJ_nid2obj(sig_nid), V_ASN1_UNDEF, NULL) != 1 ||
	    X509_REQ_set1_signature_algo(req, algo) != 1) {
		rc = ossl_fail(d, SIEGEL_E_CRYPTO, "building the certificate request");
		goto out;
	}
	/* CertificationRequestInfo, signed by the TSS key through its csp. */
	int tbs_len = i2d_re_X509_REQ_tbs(req, &tbs);
	if (tbs_len <= 0) {
		rc = ossl_fail(d, SIEGEL_E_CRYPTO, "encoding CertificationRequestInfo");
		goto out;
	}
	uint8_t rs[ALG_MAX_SIG];
	size_t rs_len = sizeof(rs);
	rc = csp_sign(key, rs, &rs_len, tbs, (size_t)tbs_len);
	if (rc != 0) {
		siegel_diag_set(d, "signing the certificate request with the TSS key (%s): %s",
			key->ops && key->ops->name ? key->ops->name : "?", siegel_strerror(rc));
		goto out;
	}
	rc = alg_plain_to_der(&der, &der_len, rs, rs_len);
	if (rc != 0) {
		siegel_diag_set(d, "TSS key returned a malformed %zu-byte signature", rs_len);
		goto out;
	}
	rc = SIEGEL_E_CRYPTO;
	if (ASN1_BIT_STRING_set(bits, der, (int)der_len) != 1) {
		rc = ossl_fail(d, SIEGEL_E_NOMEM, "signature BIT STRING");
		goto out;
	}
	/* A whole number of octets: no unused bits (as ASN1_item_sign does). */
	bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	X509_REQ_set0_signature(req, bits);
	bits = NULL;
	/* Our own check before anyone sees it: catches a key/csp mismatch. */
	if (X509_REQ_verify(req, pub) != 1) {
		rc = ossl_fail(d, SIEGEL_E_SIGNING,
			"certificate request: the csp signature does not verify with the TSS public key");
		goto out;
	}
	b = BIO_new(BIO_s_mem());
	if (b == NULL || PEM_write_bio_X509_REQ(b, req) != 1) {
		rc = ossl_fail(d, SIEGEL_E_CRYPTO, "PEM encoding of the certificate request");
		goto out;
	}
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	siegel_buf_append(out_pem, p, (size_t)n);
	rc = out_pem->err ? siegel_fail(d, SIEGEL_E_NOMEM, "out of memory") : 0;
out:
	BIO_free(b);
	OPENSSL_free(der);
	OPENSSL_free(tbs);
	ASN1_BIT_STRING_free(bits);
	X509_ALGOR_free(algo);
	X509_REQ_free(req);
	X509_NAME_free(name);
	EVP_PKEY_free(pub);
	ERR_clear_error();
	return rc;
}

int cert_check_leaf(X509 **out, const uint8_t *data, size_t len, const struct csp_key *key,
	struct siegel_diag *d)
{
	X509 *x = NULL;
	uint8_t pub[ALG_MAX_PUB];
	size_t pub_len = 0;
	int nid = 0, rc;

	if (out == NULL || key == NULL || (data == NULL && len != 0))
		return siegel_fail(d, SIEGEL_E_INVAL, "cert_check_leaf: missing output or key");
	const struct alg_info *ai = alg_get(key->alg);
	if (ai == NULL)
		return siegel_fail(d, SIEGEL_E_NOTSUP, "TSS key: unknown algorithm %d", key->alg);
	rc = cert_parse(&x, data, len, d);
	if (rc != 0)
		return rc;
	EVP_PKEY *pk = X509_get0_pubkey(x);
	if (pk == NULL || alg_point_from_pkey(pub, &pub_len, &nid, pk) != 0) {
		rc = siegel_fail(d, SIEGEL_E_PARAM,
			"certificate: public key is not an EC key on a supported curve");
		goto out;
	}
	if (nid != ai->curve_nid) {
		rc = siegel_fail(d, SIEGEL_E_PARAM,
			"certificate: key on curve %s, the TSS key is on %s", OBJ_nid2sn(nid),
			ai->curve_name);
		goto out;
	}
	if (pub_len != key->pub_len || memcmp(pub, key->pub, pub_len) != 0) {
		char want[2 * 8 + 1];
		siegel_hex_encode(want, key->serial, 8);
		rc = siegel_fail(d, SIEGEL_E_PARAM,
			"certificate: public key is not the TSS key (serial %s...)", want);
		goto out;
	}
	uint32_t flags = X509_get_extension_flags(x);
	if (flags & EXFLAG_INVALID) {
		rc = siegel_fail(d, SIEGEL_E_PARSE, "certificate: malformed or duplicate extensions");
		goto out;
	}
	if (flags & EXFLAG_CA) {
		rc = siegel_fail(d, SIEGEL_E_PARAM,
			"certificate: basicConstraints CA:TRUE, want CA:FALSE for a TSS key");
		goto out;
	}
	if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE)) {
		rc = siegel_fail(d, SIEGEL_E_PARAM,
			"certificate: keyUsage lacks digitalSignature");
		goto out;
	}
	*out = x;
	x = NULL;
	siegel_diag_set(d, "%s", "");
	rc = 0;
out:
	X509_free(x);
	ERR_clear_error();
	return rc;
}

static int append_bio(struct siegel_buf *out, BIO *b)
{
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	siegel_buf_append(out, p, (size_t)n);
	return out->err ? SIEGEL_E_NOMEM : 0;
}

int cert_to_pem(struct siegel_buf *out, X509 *x)
{
	if (out == NULL || x == NULL)
		return SIEGEL_E_INVAL;
	BIO *b = BIO_new(BIO_s_mem());
	int rc = SIEGEL_E_CRYPTO;
	if (b != NULL && PEM_write_bio_X509(b, x) == 1)
		rc = append_bio(out, b);
	BIO_free(b);
	ERR_clear_error();
	return rc;
}

int cert_to_der(struct siegel_buf *out, X509 *x)
{
	if (out == NULL || x == NULL)
		return SIEGEL_E_INVAL;
	unsigned char *p = NULL;
	int n = i2d_X509(x, &p);
	if (n <= 0) {
		ERR_clear_error();
		return SIEGEL_E_CRYPTO;
	}
	siegel_buf_append(out, p, (size_t)n);
	OPENSSL_free(p);
	return out->err ? SIEGEL_E_NOMEM : 0;
}

int cert_parse(X509 **out, const uint8_t *data, size_t len, struct siegel_diag *d)
{
	static const char pem_begin[] = "-----BEGIN";
	if (out == NULL || (data == NULL && len != 0))
		return siegel_fail(d, SIEGEL_E_INVAL, "cert_parse: no output or input");
	if (len == 0)
		return siegel_fail(d, SIEGEL_E_PARSE, "certificate: empty input");
	if (len > CERT_MAX_LEN)
		return siegel_fail(d, SIEGEL_E_LIMIT, "certificate: %zu bytes, at most %d", len,
			CERT_MAX_LEN);
	/* PEM, possibly after whitespace or explanatory text. */
	const uint8_t *pem = memmem(data, len, pem_begin, sizeof(pem_begin) - 1);
	if (pem != NULL) {
		BIO *b = BIO_new_mem_buf(data, (int)len);
		*out = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
		if (*out == NULL)
			return ossl_fail(d, SIEGEL_E_PARSE,
				"certificate: no valid \"-----BEGIN CERTIFICATE-----\" PEM block");
		ERR_clear_error();
		return 0;
	}
	if (data[0] != 0x30)
		return siegel_fail(d, SIEGEL_E_PARSE,
			"certificate: neither PEM nor DER (first byte 0x%02x, want 0x30 SEQUENCE)",
			data[0]);
	const unsigned char *p = data;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL)
		return ossl_fail(d, SIEGEL_E_PARSE, "certificate: malformed DER");
	if (p != data + len) {
		X509_free(x);
		return siegel_fail(d, SIEGEL_E_PARSE, "certificate: %zu bytes after the DER certificate",
			(size_t)(data + len - p));
	}
	*out = x;
	return 0;
}

int cert_key_hash_hex(char out[65], X509 *x)
{
	uint8_t pub[ALG_MAX_PUB], serial[ALG_SERIAL_LEN];
	size_t pub_len = 0;
	int nid = 0;
	if (out == NULL || x == NULL)
		return SIEGEL_E_INVAL;
	EVP_PKEY *pk = X509_get0_pubkey(x);
	if (pk == NULL) {
		ERR_clear_error();
		return SIEGEL_E_PARSE;
	}
	int rc = alg_point_from_pkey(pub, &pub_len, &nid, pk);
	if (rc != 0)
		return rc;
	alg_serial_number(serial, pub, pub_len);
	siegel_hex_encode(out, serial, sizeof(serial));
	return 0;
}
