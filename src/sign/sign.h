/* sign: the signing engine for documents (CAdES detached .p7s, PAdES in PDF)
 * with keys in a PKCS#11 token or signature card.
 *
 *  - sign_p11.c: one module, one token, one session; the PIN is always the
 *    caller's (locked memory), logins and logouts are explicit so that a
 *    batch can bound the signatures per authentication (TR-03114) and reset
 *    the authorization afterwards. Keys with CKA_ALWAYS_AUTHENTICATE get
 *    C_Login(CKU_CONTEXT_SPECIFIC) after each C_SignInit.
 *  - sign_signer.c: the signer certificate parsed once (issuer/serial, ESS
 *    cert hash, algorithm identifiers) and its check before signing.
 *  - sign_cms.c: our own DER SignedData (CAdES-B-B / PAdES CMS) and the self-
 *    check of a signature just made.
 *  - sign_pades.c: the PDF incremental-update writer (libqpdf only parses).
 *  - sign_tsa.c: RFC 3161 time-stamp tokens (HTTP client and an in-process
 *    TSA for tests). */
#ifndef SIEGEL_SIGN_H
#define SIEGEL_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/base.h"

#define SIGN_MAX_PIN 64                 /* bytes of a PIN */
#define SIGN_MAX_SIG 1024               /* signature value (RSA-8192) */
#define SIGN_MAX_DIGEST 64
#define SIGN_MAX_CERT_BYTES (64u * 1024u)
#define SIGN_MAX_CHAIN 8                /* certificates besides the signer's */
#define SIGN_MAX_DOC_BYTES (1024ull * 1024ull * 1024ull) /* 1 GiB per document */
/* Bytes reserved for the CMS in a PDF when the caller gives none: an
 * estimate from the signer (sign_pades.c) plus these. */
#define SIGN_PADES_CONTENTS_SLACK 1024   /* structure, attributes, future growth */
#define SIGN_PADES_TST_ALLOWANCE 12288   /* an RFC 3161 token with its TSA's certificates */
#define SIGN_PADES_CONTENTS_MAX (1024u * 1024u)
#define SIGN_MAX_TST_BYTES (64u * 1024u)

enum sign_key_type { SIGN_KEY_EC = 1, SIGN_KEY_RSA = 2 };

/* ---- PKCS#11 ---- */
struct sign_p11;

struct sign_p11_key {
	unsigned long handle;        /* CK_OBJECT_HANDLE of the private key */
	unsigned long sign_handle;   /* what C_SignInit gets: a session copy or handle */
	enum sign_key_type type;
	int always_auth;             /* CKA_ALWAYS_AUTHENTICATE */
	size_t size_bytes;           /* EC: field length; RSA: modulus length */
	char label[65];
};

/* Loads the module, finds the token by label, opens a session. No login. */
int sign_p11_open(struct sign_p11 **out, const char *module_path, const char *token_label,
	struct siegel_diag *d) SIEGEL_WUR;
/* C_Logout (if logged in), C_CloseSession, C_Finalize. NULL-safe. */
void sign_p11_close(struct sign_p11 *p);
/* C_Login(CKU_USER). SIEGEL_E_AUTH_FAILED for a wrong PIN, SIEGEL_E_PIN_BLOCKED. */
int sign_p11_login(struct sign_p11 *p, const char *pin, size_t pin_len,
	struct siegel_diag *d) SIEGEL_WUR;
/* C_Logout; the session stays open. */
int sign_p11_logout(struct sign_p11 *p, struct siegel_diag *d) SIEGEL_WUR;
/* 1 if the session is in a logged-in state (C_GetSessionInfo), else 0. */
int sign_p11_logged_in(struct sign_p11 *p);
/* Finds the private key by CKA_LABEL and/or CKA_ID (id_len 0: label only;
 * label NULL: id only). Needs a login (private objects). A key without
 * CKA_ALWAYS_AUTHENTICATE signs through a session copy of itself inside the
 * token (csp_p11u_session_copy), which C_Logout destroys. */
int sign_p11_find_key(struct sign_p11_key *out, struct sign_p11 *p, const char *label,
	const uint8_t *id, size_t id_len, struct siegel_diag *d) SIEGEL_WUR;
/* Signs a digest: EC -> DER ECDSA-Sig-Value (CKM_ECDSA), RSA -> PKCS#1 v1.5
 * over DigestInfo (CKM_RSA_PKCS) or PSS (CKM_RSA_PKCS_PSS, salt = hash
 * length). For an always-authenticate key, pin is used for the context-
 * specific login after C_SignInit. */
int sign_p11_sign_digest(uint8_t *sig_out, size_t *sig_len, size_t sig_cap, struct sign_p11 *p,
	const struct sign_p11_key *k, int hash_nid, int rsa_pss, const uint8_t *digest,
	size_t digest_len, const char *pin, size_t pin_len, struct siegel_diag *d) SIEGEL_WUR;
/* Test/bench: generates a token key pair. type: "p256", "p384", "bp256",
 * "bp384", "rsa3072", "rsa4096". *pub_out (optional) gets the public key. */
int sign_p11_generate(EVP_PKEY **pub_out, struct sign_p11 *p, const char *label,
	const uint8_t *id, size_t id_len, const char *type, int always_auth,
	struct siegel_diag *d) SIEGEL_WUR;
/* Test: C_SignInit + C_Sign on a fresh session without login, with the key
 * handle k (which a logged-out session cannot use), then with its session
 * copy in p's session. Returns CKR_OK if either signed, else the CK_RV. */
unsigned long sign_p11_probe_unauth_sign(struct sign_p11 *p, const struct sign_p11_key *k);

/* ---- signer ---- */
struct sign_signer {
	X509 *cert;
	EVP_PKEY *pub;                /* of cert */
	enum sign_key_type type;
	int hash_nid;                 /* NID_sha256 / NID_sha384 / NID_sha512 */
	int rsa_pss;
	size_t digest_len;
	struct siegel_buf certs_der;  /* [0] certificates content: DER certs, sorted */
	struct siegel_buf sid_der;    /* IssuerAndSerialNumber */
	struct siegel_buf essv2_der;  /* SigningCertificateV2 */
	struct siegel_buf digest_alg; /* AlgorithmIdentifier of the hash */
	struct siegel_buf sig_alg;    /* AlgorithmIdentifier of the signature */
	struct siegel_buf attr_ct;    /* signed attribute content-type (id-data), DER */
	struct siegel_buf attr_ess;   /* signed attribute signing-certificate-v2, DER */
	EVP_MD *md;                   /* hash_nid, fetched once */
	EVP_MD_CTX *hctx;             /* scratch hash context (one thread per signer) */
	EVP_PKEY_CTX *vctx;           /* verify context of pub, prepared once (self-check) */
	struct sign_selfcheck *chk;   /* the self-check's own state (changes per check) */
	char subject[256];            /* one-line DN for messages */
	char key_id[65];              /* hex SHA-256 of the certificate, for the audit */
};

/* The self-check's state. After sign_ecfast_after(key) checks of an EC
 * signer (512 on P-256, 16 on the other curves), a verifier with the key's
 * multiples precomputed takes over (sign_ecfast.h: ~3x the verifications per
 * second on P-256, 2.5x on P-384 and brainpool); before that its setup
 * would cost more than it saves, so short jobs keep EVP_PKEY_verify. */
struct sign_ecfast;
struct sign_selfcheck {
	unsigned long checks;
	struct sign_ecfast *fast;     /* NULL until `after` checks */
	unsigned long after;          /* sign_ecfast_after(key), 0 = not asked yet */
	int fast_unavailable;         /* the key or curve has no fast verifier */
};

/* Parses the signer certificate (and chain certificates to embed) once.
 * hash_nid 0: SHA-256 (SHA-384 for 384-bit curves). */
int sign_signer_init(struct sign_signer *s, X509 *cert, STACK_OF(X509) *chain, int hash_nid,
	int rsa_pss, struct siegel_diag *d) SIEGEL_WUR;
void sign_signer_free(struct sign_signer *s);

/* Loads certificates (PEM bundle, or one DER certificate) from a file. */
int sign_load_certs(STACK_OF(X509) **out, const char *path, struct siegel_diag *d) SIEGEL_WUR;

/* The check before signing: the chain from cert (via untrusted) to a
 * certificate of trust (chain model: every CA certificate valid when it
 * issued the next one), cert valid at `now`, keyUsage digitalSignature or
 * nonRepudiation, not a CA. Any failure = nothing is signed. */
int sign_cert_check(X509 *cert, STACK_OF(X509) *untrusted, STACK_OF(X509) *trust, int64_t now,
	struct siegel_diag *d) SIEGEL_WUR;

/* ---- CMS (CAdES-B-B, detached) ---- */

/* Produces the signature value over a digest (EC: DER ECDSA-Sig-Value). */
typedef int (*sign_raw_fn)(void *ctx, uint8_t *sig_out, size_t *sig_len, size_t sig_cap,
	const uint8_t *digest, size_t digest_len, struct siegel_diag *d);
/* Fetches an RFC 3161 TimeStampToken (DER ContentInfo) for imprint (hash of
 * hash_nid over the signature value). Appends to token_out. */
typedef int (*sign_tsa_fn)(void *ctx, struct siegel_buf *token_out, const uint8_t *imprint,
	size_t imprint_len, int hash_nid, struct siegel_diag *d);

struct sign_cms_params {
	const uint8_t *digest;        /* of the content, signer->hash_nid */
	size_t digest_len;
	int64_t signing_time;         /* Unix seconds; < 0: no signing-time (PAdES) */
	sign_raw_fn sign;
	void *sign_ctx;
	sign_tsa_fn tsa;              /* optional: signature-time-stamp (B-T) */
	void *tsa_ctx;
};

/* Builds ContentInfo(SignedData) with content-type, message-digest,
 * signing-certificate-v2 (+ signing-time) and appends it to out. */
int sign_cms_build(struct siegel_buf *out, const struct sign_signer *s,
	const struct sign_cms_params *p, struct siegel_diag *d) SIEGEL_WUR;

/* Internal (sign_signer_init): encodes the signed attributes that are the
 * same for every document of the signer (content-type, signing-cert-v2). */
int sign_cms_prepare_signer(struct sign_signer *s) SIEGEL_WUR;

/* The self-check: parses the CMS just made, checks that its message-digest
 * is `digest`, that it names the signer and that its signature verifies with
 * the signer's public key over the signed attributes. */
int sign_cms_selfcheck(const uint8_t *cms, size_t cms_len, const uint8_t *digest,
	size_t digest_len, const struct sign_signer *s, struct siegel_diag *d) SIEGEL_WUR;

/* ---- PAdES ---- */
struct sign_pades_opts {
	int64_t when;                 /* /M, Unix seconds */
	size_t contents_cap;          /* bytes reserved for the CMS; 0: default */
	const char *reason;           /* optional /Reason (not with commitment types) */
};

/* Signs the PDF pdf as an incremental update appended to its bytes (out gets
 * the whole new file). cms->digest/digest_len are filled in here; signing
 * time is never set (PAdES: /M). Rejects encrypted, repaired and DocMDP
 * certified documents, and non-PDF input. The self-check is done on the
 * output bytes before returning. */
int sign_pades_sign(struct siegel_buf *out, const uint8_t *pdf, size_t pdf_len,
	const struct sign_signer *s, const struct sign_cms_params *cms,
	const struct sign_pades_opts *o, struct siegel_diag *d) SIEGEL_WUR;

/* The same as an update only: upd gets the bytes to append to pdf (the new
 * file is pdf || upd; pdf is neither copied nor changed). pdf_hash
 * (optional) is a hash context of s->hash_nid that has consumed exactly
 * pdf[0..pdf_len) -- e.g. from the check against the confirmed document hash
 * -- and is continued (on a copy) instead of hashing the PDF again. The self-
 * check is done on pdf || upd as it will be written. */
int sign_pades_update(struct siegel_buf *upd, const uint8_t *pdf, size_t pdf_len,
	const EVP_MD_CTX *pdf_hash, const struct sign_signer *s, const struct sign_cms_params *cms,
	const struct sign_pades_opts *o, struct siegel_diag *d) SIEGEL_WUR;

/* Reads a document into b (reset first, its memory reused), at most max_len
 * bytes, in one read for a regular file, and feeds it to sha (optional,
 * initialised by the caller). expect: the size the caller confirmed, or
 * SIGN_DOC_SIZE_UNKNOWN. With it there is no fstat: one read asks for more
 * than expect bytes, and more than expect (the file grew) ends the reading,
 * so the caller's size check must decide; without it the size comes from
 * fstat. */
#define SIGN_DOC_SIZE_UNKNOWN SIZE_MAX
int sign_doc_read(struct siegel_buf *b, EVP_MD_CTX *sha, const char *path, size_t max_len,
	size_t expect, struct siegel_diag *d) SIEGEL_WUR;

/* 1 if data starts like a PDF ("%PDF-" within the first 1024 bytes). */
int sign_is_pdf(const uint8_t *data, size_t len);

/* ---- time stamps ---- */
/* Both sign_tsa_fn below accept a token only if it is granted, for the
 * imprint and hash asked, carries the request's nonce (RFC 3161 2.4.2) and
 * its signature verifies with the TSA certificate inside it (certReq is
 * set); the TSA's chain and trust are the verifier's job. A token that fails
 * is SIEGEL_E_VERIFY, an answer that is no TimeStampResp SIEGEL_E_PARSE, a
 * refused request SIEGEL_E_SIGNING. */
/* In-process RFC 3161 TSA (tests, benchmarks): cert with EKU timeStamping. */
struct sign_tsa_local;
int sign_tsa_local_new(struct sign_tsa_local **out, X509 *cert, EVP_PKEY *key,
	struct siegel_diag *d) SIEGEL_WUR;
void sign_tsa_local_free(struct sign_tsa_local *t);
int sign_tsa_local_fn(void *ctx, struct siegel_buf *token_out, const uint8_t *imprint,
	size_t imprint_len, int hash_nid, struct siegel_diag *d);
/* RFC 3161 over HTTP/1.0 (ctx = struct sign_tsa_http). The answer must be
 * status 200 with Content-Type application/timestamp-reply, not chunked, as
 * long as its Content-Length says; every message names the URL. Network
 * failures, timeouts, HTTP errors and truncated answers are SIEGEL_E_IO. */
struct sign_tsa_http {
	const char *url;              /* "http://host[:port]/path" */
	int timeout_s;                /* connect, send, and the whole answer; <= 0: 10 s */
};
int sign_tsa_http_fn(void *ctx, struct siegel_buf *token_out, const uint8_t *imprint,
	size_t imprint_len, int hash_nid, struct siegel_diag *d);

#endif
