/* cert: the built-in test CA (root P-384 -> intermediate P-384 -> TSS leaf),
 * leaf issuance for a TSS key, CSRs signed by the TSS key, and import of a
 * CA-issued leaf for that key. */
#ifndef SIEGEL_CERT_H
#define SIEGEL_CERT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "base/base.h"
#include "csp/csp.h"

/* The test CA lives in dir as root.pem, root.key, ca.pem, ca.key (created on
 * first use, 0600 keys). */
struct cert_ca {
	X509 *root;
	X509 *ca;          /* intermediate */
	EVP_PKEY *ca_key;
};

/* Loads the CA from dir, creating it first when absent. */
int cert_ca_open(struct cert_ca *out, const char *dir, const struct siegel_clock *clk,
	struct siegel_diag *d) SIEGEL_WUR;
void cert_ca_close(struct cert_ca *ca);

/* Issues the TSS leaf for key: subject C=DE, O=<org>, CN=<serial hex>,
 * serialNumber=<serial hex>; keyUsage digitalSignature (critical),
 * basicConstraints CA:FALSE (critical), SKI, AKI; signed ecdsa-with-SHA384. */
int cert_issue_leaf(X509 **out, const struct cert_ca *ca, const struct csp_key *key,
	const char *org, int valid_days, const struct siegel_clock *clk,
	struct siegel_diag *d) SIEGEL_WUR;

/* A PKCS#10 request for key, signed by the key through its csp (one
 * signature of the key). PEM appended to out. */
int cert_make_csr(struct siegel_buf *out_pem, struct csp_key *key, const char *org,
	struct siegel_diag *d) SIEGEL_WUR;

/* Checks that a CA-issued certificate (PEM or DER) belongs to key (same
 * public key) and is usable (CA:FALSE, digitalSignature when keyUsage present). */
int cert_check_leaf(X509 **out, const uint8_t *data, size_t len, const struct csp_key *key,
	struct siegel_diag *d) SIEGEL_WUR;

/* PEM/DER conversions */
int cert_to_pem(struct siegel_buf *out, X509 *x) SIEGEL_WUR;
int cert_to_der(struct siegel_buf *out, X509 *x) SIEGEL_WUR;
int cert_parse(X509 **out, const uint8_t *data, size_t len, struct siegel_diag *d) SIEGEL_WUR;
/* Lower-case hex SHA-256 of the certificate's uncompressed EC public key
 * (the TR-03151 export file-name stem). out holds 65 chars. */
int cert_key_hash_hex(char out[65], X509 *x) SIEGEL_WUR;

/* Notes (the declarations above are stable):
 * - cert_ca_open creates the CA only when none of the four files exist; an
 *   incomplete set is SIEGEL_E_STATE, a ca.pem not signed by root.pem or a
 *   ca.key not matching ca.pem is SIEGEL_E_VERIFY.
 * - cert_check_leaf: SIEGEL_E_PARSE for bytes that are no certificate (DER
 *   must have no trailing bytes), SIEGEL_E_PARAM (ErrorParameterMismatch) for
 *   another key, a CA certificate or a keyUsage without digitalSignature. It
 *   does not check the validity period or the issuer.
 * - clk may be NULL (system clock). */

#endif
