/* The self-signed localhost certificate of the embedded default (P-256,
 * made with OpenSSL on first run, kept in the data directory). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "http/http.h"

#define TLS_CERT_DAYS 825

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (e == NULL)
		return -1;
	int ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

static int pem_of(struct siegel_buf *out, EVP_PKEY *pk, X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ok = bio != NULL && (pk ? PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL)
				    : PEM_write_bio_X509(bio, x));
	char *mem = NULL;
	long n = ok ? BIO_get_mem_data(bio, &mem) : 0;
	if (ok && n > 0)
		siegel_buf_append(out, mem, (size_t)n);
	BIO_free(bio);
	return ok && out->err == 0 ? 0 : -1;
}

int http_tls_self_signed(const char *dir, char *cert_path, size_t cert_cap, char *key_path,
	size_t key_cap, struct siegel_diag *d)
{
	snprintf(cert_path, cert_cap, "%s/https-cert.pem", dir);
	snprintf(key_path, key_cap, "%s/https-key.pem", dir);
	if (access(cert_path, R_OK) == 0 && access(key_path, R_OK) == 0)
		return 0;
	int rc = SIEGEL_E_CRYPTO;
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	struct siegel_buf kb, cb;
	siegel_buf_init(&kb);
	siegel_buf_init(&cb);
	if (pk == NULL || x == NULL || name == NULL)
		goto out;
	uint8_t serial[16];
	ASN1_INTEGER *sn = X509_get_serialNumber(x);
	BIGNUM *bn = NULL;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x01);
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, sn) == NULL) {
		BN_free(bn);
		goto out;
	}
	BN_free(bn);
	if (X509_set_version(x, 2) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
		    -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
		    (const unsigned char *)"siegel (self-signed)", -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, name) != 1 || X509_set_issuer_name(x, name) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * TLS_CERT_DAYS) == NULL ||
	    X509_set_pubkey(x, pk) != 1 ||
	    add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") != 0 ||
	    add_ext(x, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    add_ext(x, NID_key_usage, "critical,digitalSignature") != 0 ||
	    add_ext(x, NID_ext_key_usage, "serverAuth") != 0 ||
	    X509_sign(x, pk, EVP_sha256()) == 0)
		goto out;
	if (pem_of(&kb, pk, NULL) != 0 || pem_of(&cb, NULL, x) != 0)
		goto out;
	rc = siegel_mkdir_p(dir, 0700);
	if (rc == 0)
		rc = siegel_write_file_atomic(key_path, kb.data, kb.len, 0600, d);
	if (rc == 0)
		rc = siegel_write_file_atomic(cert_path, cb.data, cb.len, 0644, d);
out:
	if (rc == SIEGEL_E_CRYPTO)
		siegel_diag_set(d, "cannot make the self-signed HTTPS certificate");
	if (kb.data)
		siegel_wipe(kb.data, kb.len);
	siegel_buf_free(&kb);
	siegel_buf_free(&cb);
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}
