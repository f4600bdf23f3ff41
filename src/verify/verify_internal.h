/* verify_internal.h: shared by the files of src/verify only. */
#ifndef SIEGEL_VERIFY_INTERNAL_H
#define SIEGEL_VERIFY_INTERNAL_H

#include <openssl/x509.h>

#include "verify/verify.h"

struct verify_ctx {
	struct verify_opts o;
	X509_STORE *xs;                      /* the qualified store as trust anchors */
	STACK_OF(X509) *store_certs;
	/* verified (certificate, issuer) signature pairs: SHA-256 of both DERs */
	uint8_t (*cache)[64];
	size_t cache_slots;
};

int64_t verify_now(const struct verify_ctx *v);

/* Loads every certificate file of dir into v (read only). */
int certstore_load(struct verify_ctx *v, const char *dir, struct siegel_diag *d) SIEGEL_WUR;
int certstore_contains(const struct verify_ctx *v, X509 *x);

/* Step 2/3/8: the chain from leaf to a certificate of the store, chain model
 * (leaf valid at sign_time, each issuer valid when it issued the certificate
 * below it). is_signer: the leaf must allow digitalSignature or
 * nonRepudiation. code = 0, 102, 103 or 104 with msg. chain owned (sk_X509_pop_free). */
struct chain_out {
	int code;
	char msg[320];
	int validated;
	int self_signed;
	int root_in_store;
	STACK_OF(X509) *chain;
};
void chain_validate(struct chain_out *out, struct verify_ctx *v, X509 *leaf,
	STACK_OF(X509) *untrusted, int64_t sign_time, int purpose, int is_signer);
void chain_out_free(struct chain_out *c);

/* Step 6: OCSP for cert (issued by issuer). status: "good", "revoked",
 * "unknown", "error". */
struct ocsp_out {
	char status[16];
	char detail[320];
	int64_t revoked_at;
	int reason;
};
void ocsp_check(struct ocsp_out *out, struct verify_ctx *v, X509 *cert, X509 *issuer,
	STACK_OF(X509) *untrusted);

/* "C=DE; O=Apsec Test; CN=Veronika" (the seed's form), UTF-8. */
void verify_name_string(char *out, size_t cap, const X509_NAME *n);

#endif
