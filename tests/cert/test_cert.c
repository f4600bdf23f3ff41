/* cert tests: test CA creation and reuse, leaf issuance for every TSS curve,
 * CSRs signed through the csp, leaf import checks. The results are checked
 * with the OpenSSL command line tool as an independent implementation. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cert/cert.h"
#include "harness.h"

#define ORG "siegel Test Kasse GmbH"

static void write_buf(const char *path, const struct siegel_buf *b)
{
	t_write(path, b->data, b->len);
}

static void check_contains(const char *hay, const char *needle, const char *what)
{
	t_checks++;
	if (hay == NULL || strstr(hay, needle) == NULL) {
		t_failures++;
		fprintf(stderr, "FAIL %s: \"%s\" not in:\n%s\n", what, needle, hay ? hay : "(null)");
	}
}

static void test_ca(const char *dir)
{
	struct cert_ca ca, ca2;
	struct siegel_diag d = { { 0 } };
	char path[512];
	struct stat st;

	CHECK_OK(cert_ca_open(&ca, dir, siegel_clock_system(), &d));
	const char *files[] = { "root.pem", "root.key", "ca.pem", "ca.key" };
	for (int i = 0; i < 4; i++) {
		CHECK(siegel_path_join(path, sizeof(path), dir, files[i]) == 0);
		CHECK(stat(path, &st) == 0);
		if (strstr(files[i], ".key"))
			CHECK((st.st_mode & 0777) == 0600);
	}
	/* Reopen: the same root and intermediate are loaded, nothing rewritten. */
	uint8_t *root1 = NULL;
	size_t root1_len = 0;
	if (siegel_path_join(path, sizeof(path), dir, "root.pem") != 0)
		abort();
	root1 = t_read(path, &root1_len);
	CHECK_OK(cert_ca_open(&ca2, dir, NULL, &d));
	CHECK(X509_cmp(ca.root, ca2.root) == 0);
	CHECK(X509_cmp(ca.ca, ca2.ca) == 0);
	CHECK(EVP_PKEY_eq(ca.ca_key, ca2.ca_key) == 1);
	size_t root2_len = 0;
	uint8_t *root2 = t_read(path, &root2_len);
	CHECK(root1_len == root2_len && memcmp(root1, root2, root1_len) == 0);
	free(root1);
	free(root2);
	cert_ca_close(&ca2);
	cert_ca_close(&ca2); /* idempotent */
	cert_ca_close(&ca);

	/* The CA certificates as the OpenSSL tool sees them. */
	char *out = NULL;
	CHECK(t_run(&out, "openssl x509 -in '%s/root.pem' -noout -text -nameopt RFC2253", dir) == 0);
	check_contains(out, "Subject: CN=siegel Test Root CA (TEST ONLY),O=siegel,C=DE", "root subject");
	check_contains(out, "Issuer: CN=siegel Test Root CA (TEST ONLY),O=siegel,C=DE", "root issuer");
	check_contains(out, "ecdsa-with-SHA384", "root sig alg");
	check_contains(out, "NIST CURVE: P-384", "root curve");
	check_contains(out, "X509v3 Basic Constraints: critical\n                CA:TRUE\n", "root CA");
	check_contains(out, "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign", "root KU");
	check_contains(out, "X509v3 Subject Key Identifier", "root SKI");
	free(out);
	CHECK(t_run(&out, "openssl x509 -in '%s/ca.pem' -noout -text -nameopt RFC2253", dir) == 0);
	check_contains(out, "Subject: CN=siegel Test TSE CA (TEST ONLY),O=siegel,C=DE", "ca subject");
	check_contains(out, "Issuer: CN=siegel Test Root CA (TEST ONLY),O=siegel,C=DE", "ca issuer");
	check_contains(out, "CA:TRUE, pathlen:0", "ca pathlen");
	check_contains(out, "X509v3 Authority Key Identifier", "ca AKI");
	check_contains(out, "ecdsa-with-SHA384", "ca sig alg");
	free(out);
	CHECK(t_run(&out, "openssl verify -CAfile '%s/root.pem' '%s/ca.pem' 2>&1", dir, dir) == 0);
	check_contains(out, "ca.pem: OK", "verify intermediate");
	free(out);
	/* 25 and 15 years. */
	CHECK(t_run(&out, "openssl x509 -in '%s/root.pem' -noout -checkend %lld", dir,
		24LL * 366 * 86400) == 0);
	free(out);
	CHECK(t_run(&out, "openssl x509 -in '%s/ca.pem' -noout -checkend %lld", dir,
		15LL * 366 * 86400) == 1);
	free(out);

	/* An incomplete CA directory is reported, not silently replaced. */
	char part[512];
	snprintf(part, sizeof(part), "%s/partial", t_tmpdir());
	CHECK(t_run(NULL, "mkdir -p '%s' && cp '%s/root.pem' '%s/'", part, dir, part) == 0);
	CHECK_RC(cert_ca_open(&ca, part, NULL, &d), SIEGEL_E_STATE);
	check_contains(d.msg, "missing root.key, ca.pem, ca.key", "partial CA message");
	CHECK(ca.root == NULL && ca.ca == NULL && ca.ca_key == NULL);

	/* A tampered intermediate is refused. */
	snprintf(part, sizeof(part), "%s/swapped", t_tmpdir());
	CHECK(t_run(NULL, "mkdir -p '%s' && cp '%s'/* '%s/' && cp '%s/root.pem' '%s/ca.pem'", part,
		dir, part, dir, part) == 0);
	CHECK_RC(cert_ca_open(&ca, part, NULL, &d), SIEGEL_E_VERIFY);
	check_contains(d.msg, "ca.key: does not match ca.pem", "swapped CA message");
}

static void test_leaf(const struct cert_ca *ca, enum siegel_alg alg, const char *dir)
{
	const struct alg_info *ai = alg_get(alg);
	struct csp_key key, other;
	struct siegel_diag d = { { 0 } };
	struct siegel_buf pem, der, csr;
	char path[512], hex[65], khex[65], *out = NULL;
	X509 *leaf = NULL, *back = NULL;

	printf("-- %s\n", ai->config_name);
	siegel_buf_init(&pem);
	siegel_buf_init(&der);
	siegel_buf_init(&csr);
	CHECK_OK(csp_soft_generate(&key, alg));
	CHECK_OK(csp_soft_generate(&other, alg));
	siegel_hex_encode(hex, key.serial, sizeof(key.serial));

	CHECK_OK(cert_issue_leaf(&leaf, ca, &key, ORG, 365, siegel_clock_system(), &d));
	if (leaf == NULL) {
		fprintf(stderr, "cert_issue_leaf: %s\n", d.msg);
		goto out;
	}
	CHECK_OK(cert_key_hash_hex(khex, leaf));
	CHECK_STR(khex, hex);
	CHECK_OK(cert_to_pem(&pem, leaf));
	CHECK_OK(cert_to_der(&der, leaf));
	snprintf(path, sizeof(path), "%s/leaf-%s.pem", dir, ai->config_name);
	write_buf(path, &pem);

	/* Chain verification by the OpenSSL tool. */
	CHECK(t_run(&out, "cd '%s' && openssl verify -CAfile root.pem -untrusted ca.pem "
		"leaf-%s.pem 2>&1", dir, ai->config_name) == 0);
	char want[256];
	snprintf(want, sizeof(want), "leaf-%s.pem: OK", ai->config_name);
	check_contains(out, want, "openssl verify leaf");
	free(out);
	CHECK(t_run(&out, "openssl x509 -in '%s' -noout -subject -nameopt RFC2253", path) == 0);
	snprintf(want, sizeof(want), "serialNumber=%s,CN=%s,O=" ORG ",C=DE", hex, hex);
	check_contains(out, want, "leaf subject");
	free(out);
	CHECK(t_run(&out, "openssl x509 -in '%s' -noout -text", path) == 0);
	check_contains(out, "X509v3 Basic Constraints: critical\n                CA:FALSE", "leaf CA:FALSE");
	check_contains(out, "X509v3 Key Usage: critical\n                Digital Signature\n", "leaf KU");
	check_contains(out, "X509v3 Subject Key Identifier", "leaf SKI");
	check_contains(out, "X509v3 Authority Key Identifier", "leaf AKI");
	check_contains(out, "Signature Algorithm: ecdsa-with-SHA384", "leaf sig alg");
	free(out);

	/* Import checks. */
	CHECK_OK(cert_check_leaf(&back, pem.data, pem.len, &key, &d));
	CHECK(back != NULL && X509_cmp(back, leaf) == 0);
	X509_free(back);
	back = NULL;
	CHECK_OK(cert_check_leaf(&back, der.data, der.len, &key, &d));
	X509_free(back);
	back = NULL;
	CHECK_RC(cert_check_leaf(&back, pem.data, pem.len, &other, &d), SIEGEL_E_PARAM);
	check_contains(d.msg, "public key is not the TSS key", "other key message");
	CHECK(back == NULL);
	/* Trailing bytes after DER, garbage, truncation. */
	siegel_buf_putc(&der, 0);
	CHECK_RC(cert_check_leaf(&back, der.data, der.len, &key, &d), SIEGEL_E_PARSE);
	check_contains(d.msg, "1 bytes after the DER certificate", "trailing DER message");
	CHECK_RC(cert_check_leaf(&back, der.data, der.len / 2, &key, &d), SIEGEL_E_PARSE);
	CHECK_RC(cert_check_leaf(&back, (const uint8_t *)"hello", 5, &key, &d), SIEGEL_E_PARSE);
	CHECK_RC(cert_check_leaf(&back, (const uint8_t *)"-----BEGIN CERTIFICATE-----\nAAAA\n", 33,
		&key, &d), SIEGEL_E_PARSE);
	CHECK(back == NULL);

	/* The CSR: signed by the TSS key through csp_sign. */
	CHECK_OK(cert_make_csr(&csr, &key, ORG, &d));
	snprintf(path, sizeof(path), "%s/csr-%s.pem", dir, ai->config_name);
	write_buf(path, &csr);
	CHECK(t_run(&out, "openssl req -in '%s' -verify -noout 2>&1", path) == 0);
	check_contains(out, "verify OK", "openssl req -verify");
	free(out);
	CHECK(t_run(&out, "openssl req -in '%s' -noout -text -nameopt RFC2253", path) == 0);
	snprintf(want, sizeof(want), "Subject: serialNumber=%s,CN=%s,O=" ORG ",C=DE", hex, hex);
	check_contains(out, want, "csr subject");
	check_contains(out, ai->hash_nid == NID_sha384 ? "ecdsa-with-SHA384" : "ecdsa-with-SHA256",
		"csr sig alg");
	free(out);

	/* A CA (the OpenSSL tool) issues from the CSR: good profile accepted,
	 * CA:TRUE or keyCertSign-only refused. */
	static const struct {
		const char *name, *ext;
		int want;
		const char *msg;
	} issued[] = {
		{ "good", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n", 0, "" },
		{ "noext", "subjectKeyIdentifier=hash\n", 0, "" },
		{ "ca", "basicConstraints=critical,CA:TRUE\n", SIEGEL_E_PARAM, "CA:TRUE" },
		{ "ku", "keyUsage=critical,keyCertSign\n", SIEGEL_E_PARAM, "lacks digitalSignature" },
	};
	for (size_t i = 0; i < sizeof(issued) / sizeof(issued[0]); i++) {
		char ext[512], crt[512];
		snprintf(ext, sizeof(ext), "%s/ext-%s.cnf", dir, issued[i].name);
		snprintf(crt, sizeof(crt), "%s/ext-%s-%s.pem", dir, issued[i].name, ai->config_name);
		t_write(ext, issued[i].ext, strlen(issued[i].ext));
		CHECK(t_run(NULL, "openssl x509 -req -in '%s' -CA '%s/ca.pem' -CAkey '%s/ca.key' "
			"-set_serial 7 -days 30 -sha384 -extfile '%s' -out '%s' 2>/dev/null", path, dir,
			dir, ext, crt) == 0);
		size_t n = 0;
		uint8_t *c = t_read(crt, &n);
		CHECK_RC(cert_check_leaf(&back, c, n, &key, &d), issued[i].want);
		if (issued[i].want != 0)
			check_contains(d.msg, issued[i].msg, issued[i].name);
		X509_free(back);
		back = NULL;
		free(c);
	}
out:
	siegel_buf_free(&pem);
	siegel_buf_free(&der);
	siegel_buf_free(&csr);
	X509_free(leaf);
	csp_key_release(&key);
	csp_key_release(&other);
}

static int64_t fixed_now(void *ctx)
{
	return *(const int64_t *)ctx;
}

static void test_args(const struct cert_ca *ca)
{
	struct csp_key key;
	struct siegel_diag d = { { 0 } };
	X509 *x = NULL;
	struct siegel_buf b;
	siegel_buf_init(&b);
	CHECK_OK(csp_soft_generate(&key, SIEGEL_ALG_P256_SHA256));
	CHECK_RC(cert_issue_leaf(&x, ca, &key, ORG, 0, NULL, &d), SIEGEL_E_INVAL);
	CHECK_RC(cert_issue_leaf(&x, ca, &key, "", 10, NULL, &d), SIEGEL_E_INVAL);
	CHECK_RC(cert_make_csr(&b, &key, NULL, &d), SIEGEL_E_INVAL);
	CHECK(x == NULL && b.len == 0);
	/* The validity comes from the injected clock. */
	int64_t t = 1700000000;
	struct siegel_clock fixed = { fixed_now, NULL, &t };
	CHECK_OK(cert_issue_leaf(&x, ca, &key, ORG, 10, &fixed, &d));
	CHECK(x != NULL && ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), (time_t)t) == 0);
	CHECK(x != NULL && ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), (time_t)(t + 864000)) == 0);
	X509_free(x);
	csp_key_release(&key);
	siegel_buf_free(&b);
}

int main(void)
{
	char dir[512];
	struct cert_ca ca;
	struct siegel_diag d = { { 0 } };

	snprintf(dir, sizeof(dir), "%s/ca", t_tmpdir());
	test_ca(dir);
	CHECK_OK(cert_ca_open(&ca, dir, NULL, &d));
	if (ca.ca == NULL) {
		fprintf(stderr, "cert_ca_open: %s\n", d.msg);
		return t_done();
	}
	test_leaf(&ca, SIEGEL_ALG_P256_SHA256, dir);
	test_leaf(&ca, SIEGEL_ALG_P384_SHA384, dir);
	test_leaf(&ca, SIEGEL_ALG_BP256_SHA256, dir);
	test_leaf(&ca, SIEGEL_ALG_BP384_SHA384, dir);
	test_args(&ca);
	cert_ca_close(&ca);
	return t_done();
}
