/* csp: the key holder behind a small ops table. A csp_key signs TR-03151
 * DTBS (hash in software, ECDSA in the token) and gives its public key.
 * Backends: PKCS#11 through any module (SoftHSM2 by default) and a software
 * key (tests only). */
#ifndef SIEGEL_CSP_H
#define SIEGEL_CSP_H

#include <stddef.h>
#include <stdint.h>

#include "alg/alg.h"
#include "base/base.h"

struct csp_ops {
	int version;          /* 1 */
	const char *name;     /* "pkcs11", "soft" */
	/* Plain r||s signature over msg hashed with the key's algorithm. */
	int (*sign)(void *ctx, uint8_t *sig_out, size_t *sig_len, const uint8_t *msg,
		size_t msg_len);
	void (*release)(void *ctx);
};

/* A usable key. pub/serial are filled when the key is opened. */
struct csp_key {
	const struct csp_ops *ops;
	void *ctx;
	enum siegel_alg alg;
	uint8_t pub[ALG_MAX_PUB];   /* 04||X||Y */
	size_t pub_len;
	uint8_t serial[ALG_SERIAL_LEN]; /* SHA-256(pub) */
};

/* Signs msg (calls key->ops->sign). Matches logmsg_sign_fn with ctx = key. */
int csp_sign(void *key, uint8_t *sig_out, size_t *sig_len, const uint8_t *msg,
	size_t msg_len) SIEGEL_WUR;
/* Releases the backend context; the struct may be reused. NULL-safe. */
void csp_key_release(struct csp_key *key);
/* The public key as an OpenSSL object (caller frees). */
int csp_key_pkey(EVP_PKEY **out, const struct csp_key *key) SIEGEL_WUR;

/* ---- software keys (tests only) ---- */
int csp_soft_generate(struct csp_key *out, enum siegel_alg alg) SIEGEL_WUR;
/* From a PKCS#8/traditional PEM private key; alg from the curve. */
int csp_soft_load_pem(struct csp_key *out, const char *path, struct siegel_diag *d) SIEGEL_WUR;
int csp_soft_load_pkey(struct csp_key *out, EVP_PKEY *pkey /* up-ref'd */) SIEGEL_WUR;
/* The private key of a software key (borrowed); NULL for other backends. */
const EVP_PKEY *csp_soft_pkey(const struct csp_key *key);

/* ---- PKCS#11 ---- */
struct csp_p11;  /* a loaded module with one logged-in session on one token */

struct csp_p11_config {
	const char *module_path;  /* e.g. /usr/lib/softhsm/libsofthsm2.so */
	const char *token_label;
	const char *user_pin;     /* borrowed; copied into locked memory */
	/* If the token does not exist: initialise the first free slot with
	 * this label, SO PIN and user PIN (SoftHSM2 has always one free slot). */
	int create_token;
	const char *so_pin;
};

int csp_p11_open(struct csp_p11 **out, const struct csp_p11_config *cfg,
	struct siegel_diag *d) SIEGEL_WUR;
void csp_p11_close(struct csp_p11 *p);
/* Finds the EC private key with CKA_LABEL label (and its public key); with
 * generate set, creates a new token key pair of alg when none exists.
 * SIEGEL_E_NOTFOUND when absent and not generating. */
int csp_p11_key(struct csp_key *out, struct csp_p11 *p, const char *label, enum siegel_alg alg,
	int generate, struct siegel_diag *d) SIEGEL_WUR;

/* Writes a SoftHSM2 configuration whose token directory is tokendir. The
 * caller points SOFTHSM2_CONF at it before csp_p11_open (process-wide, so
 * only cmd/ and tests do that). */
int csp_softhsm_write_conf(const char *conf_path, const char *tokendir,
	struct siegel_diag *d) SIEGEL_WUR;
/* The SoftHSM2 module path of this system (Debian: /usr/lib/softhsm/libsofthsm2.so). */
const char *csp_softhsm_default_module(void);

/* SoftHSM2's file store rewrites each token's token.object in place (truncate,
 * then write) at every login; a crash in between leaves an empty file and
 * the token with its keys is gone. Before the module is loaded, this guard
 * restores every empty token.object from its last good copy and refreshes the
 * copies of the good ones (atomically, under SoftHSM's own token.lock).
 * *n_tokens_out (optional) gets the number of tokens found. */
int csp_softhsm_guard(const char *tokendir, int *n_tokens_out, struct siegel_diag *d) SIEGEL_WUR;

/* The embedded default: a SoftHSM2 token store in <data_dir>/tokens with its
 * configuration in <data_dir>/softhsm2.conf (path written to conf_out),
 * guarded as above. The caller sets SOFTHSM2_CONF to conf_out before the
 * module is loaded. */
int csp_softhsm_prepare(char *conf_out, size_t conf_cap, const char *data_dir,
	struct siegel_diag *d) SIEGEL_WUR;

/* ---- additions (the declarations above are stable) ---- */
/* Notes: csp_softhsm_write_conf also creates tokendir (0700);
 * csp_softhsm_default_module returns NULL when SoftHSM2 is not installed. */

/* csp_p11_key_generate flags */
#define CSP_P11_ALWAYS_AUTH 0x1u  /* CKA_ALWAYS_AUTHENTICATE: the token wants the
				   * user PIN again for every signature
				   * (C_Login(CKU_CONTEXT_SPECIFIC), done by csp_sign) */
/* Generates a new token key pair of alg labelled label (CKA_ID = first 16
 * bytes of the serial number) and opens it like csp_p11_key.
 * SIEGEL_E_EXISTS if a private key with that label is already there. */
int csp_p11_key_generate(struct csp_key *out, struct csp_p11 *p, const char *label,
	enum siegel_alg alg, unsigned flags, struct siegel_diag *d) SIEGEL_WUR;
/* The message of the last failed csp_sign on a key of p (csp_sign has no
 * diag), e.g. "PKCS#11 C_Sign: CKR_DEVICE_ERROR". Keys borrow p: release
 * them before csp_p11_close. */
void csp_p11_last_error(struct csp_p11 *p, struct siegel_diag *d);

#endif
