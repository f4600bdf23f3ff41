/* verify: the verifyBatch-style verifier (seed 004, fideAS sign 2.1):
 * every signature of a PDF, or a CMS signature with its document, checked in
 * the seed's eight steps against a read-only qualified certificate store,
 * with one of the seed's return codes per signature and for the document,
 * collected in a report (report.h). No signing code, no writes to the store. */
#ifndef SIEGEL_VERIFY_H
#define SIEGEL_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "base/base.h"

/* Return codes, exactly as Tabelle 5 of the seed. */
enum verify_code {
	VERIFY_OK = 0,                      /* fseOk */
	VERIFY_CANT_DECRYPT = 100,          /* fseVerifyCantDecrypt */
	VERIFY_CANT_FIND_CERTIFICATE = 101, /* fseVerifyCantFindCertificate */
	VERIFY_CANT_FIND_ISSUER = 102,      /* fseVerifyCantFindIssuer */
	VERIFY_NO_SELF_SIGNED = 103,        /* fseVerifyNoSelfSignedAllowed */
	VERIFY_CERT_INVALID = 104,          /* fseVerifyCertInvalid */
	VERIFY_OCSP_ERROR = 105,            /* fseVerifyOCSPerror */
	VERIFY_WRONG_PDF_VERSION = 106,     /* fseVerifyWrongPDFversion */
	VERIFY_NO_VALID_SIGNATURE = 107,    /* fseVerifyNoValidSignature */
	VERIFY_CANT_READ_FILE = 108,        /* fseVerifyCantReadFromFile */
	VERIFY_CANT_READ_B64 = 109,         /* fseVerifyCantReadFromB64 */
	VERIFY_BAD_PDF_FORMAT = 110,        /* fseVerifyBadPdfFormat */
	VERIFY_PDF_NOT_SIGNED = 111,        /* fseVerifyPdfNotSigned */
	VERIFY_NOT_PDF_DATA = 112,          /* fseVerifyNotPdfData */
};
/* "fseOk", "fseVerifyCantDecrypt", ...; "fseUnknown" for other values. */
const char *verify_code_name(int code);
/* English explanation of a code (the seed's "Erklärung"). */
const char *verify_code_text(int code);
/* 1 for the integrity class (100, 107), which outranks the certificate
 * class (101..105) when several signatures disagree. */
int verify_code_is_integrity(int code);

#define VERIFY_MAX_INPUT (256u << 20)    /* PDF, .p7s/.p7m or data file */
#define VERIFY_MAX_STORE_CERTS 4096      /* certificates in the qualified store */
#define VERIFY_MAX_CERT_FILE (256u << 10)/* one certificate file in the store */
#define VERIFY_OCSP_MAX_RESPONSE (256u << 10)
#define VERIFY_OCSP_DEFAULT_TIMEOUT 10   /* seconds */
#define VERIFY_SIGCACHE_SLOTS 1024       /* verified certificate signatures kept */

struct verify_opts {
	const char *store_dir;       /* qualified certificate store (read only); NULL = empty */
	int has_at;
	int64_t at;                  /* evaluation time ("now") when has_at */
	int no_ocsp;                 /* skip step 6 */
	const char *ocsp_url;        /* configured responder; NULL = from the certificate's AIA */
	int ocsp_timeout;            /* seconds; 0 = VERIFY_OCSP_DEFAULT_TIMEOUT */
	const struct siegel_clock *clock; /* NULL = system clock */
};

struct verify_ctx;
struct report;

/* Loads the store (read only) and sets up the caches. */
int verify_ctx_new(struct verify_ctx **out, const struct verify_opts *o,
	struct siegel_diag *d) SIEGEL_WUR;
void verify_ctx_free(struct verify_ctx *v);

/* Verifies the file at path (PDF, or CMS .p7s with data_path, or enveloping
 * .p7m; DER or base64). Always produces a report unless memory runs out;
 * (*out)->error is the document code (= the exit code). Free with
 * report_free. */
int verify_file(struct report **out, struct verify_ctx *v, const char *path,
	const char *data_path, struct siegel_diag *d) SIEGEL_WUR;
/* The same on bytes already in memory (the benchmark; name goes into the
 * report). detached may be NULL. */
int verify_buffer(struct report **out, struct verify_ctx *v, const char *name,
	const uint8_t *data, size_t len, const uint8_t *detached, size_t detached_len,
	const char *detached_name, struct siegel_diag *d) SIEGEL_WUR;

/* ---- qualified certificate store (certstore.c) ---- */

/* Adds the certificate (PEM or DER) to the store directory dir (created if
 * absent) as <sha256>.pem, but only when its chain validates against the
 * certificates already in the store (a self-signed certificate validates by
 * its own signature), at time now, chain model. SIEGEL_E_VERIFY with the
 * reason otherwise; SIEGEL_E_EXISTS when it is there already. *hex_out gets
 * the SHA-256 fingerprint (65 chars). */
int certstore_add(char hex_out[65], const char *dir, const uint8_t *cert, size_t len,
	int64_t now, struct siegel_diag *d) SIEGEL_WUR;

#endif
