/* tenant: the businesses using the HTTPS service. A tenant has an API key
 * and a secret (stored as an scrypt hash); POST /api/v1/auth trades them for
 * a short-lived random bearer token (stored as SHA-256, with its expiry).
 * A tenant's TSS live in the tss table under the internal id
 * "<tenant id>.<tssId>", so one tenant can never name another's TSS.
 *
 * The tables live in the store of the TSE (migration 2). Token checks run on
 * every request and are answered from an in-memory cache when possible. */
#ifndef SIEGEL_TENANT_H
#define SIEGEL_TENANT_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define TENANT_MAX_ID 16              /* [a-z0-9-]{1,16} */
#define TENANT_MAX_NAME 128
#define TENANT_KEY_LEN 32             /* hex chars of an API key */
#define TENANT_SECRET_LEN 64          /* hex chars of an API secret */
#define TENANT_TOKEN_LEN 64           /* hex chars of a bearer token */
#define TENANT_DEFAULT_TOKEN_TTL 900  /* s */
#define TENANT_MAX_TOKEN_TTL 86400
#define TENANT_TOKEN_CACHE 4096       /* cached tokens (entries, power of two) */
#define TENANT_KDF_LOG2N 14           /* scrypt cost of secret hashes */
/* Longest tssId a tenant may use: the internal id must fit TSE_MAX_ID. */
#define TENANT_MAX_TSS_ID (64 - TENANT_MAX_ID - 1)

struct store;
struct tenant_db;

struct tenant_config {
	int64_t token_ttl;                 /* 0 = TENANT_DEFAULT_TOKEN_TTL */
	int kdf_log2n;                     /* 0 = TENANT_KDF_LOG2N */
	const struct siegel_clock *clock;  /* NULL = system clock */
};

/* Opens the tenant tables of store (borrowed; must outlive the db). */
int tenant_db_open(struct tenant_db **out, struct store *s, const struct tenant_config *cfg,
	struct siegel_diag *d) SIEGEL_WUR;
void tenant_db_close(struct tenant_db *db);

struct tenant_creds {
	char id[TENANT_MAX_ID + 1];
	char api_key[TENANT_KEY_LEN + 1];
	char api_secret[TENANT_SECRET_LEN + 1];   /* shown once; wipe after use */
};

/* Adds a tenant with a fresh key and secret. SIEGEL_E_EXISTS if the id is taken. */
int tenant_add(struct tenant_db *db, const char *id, const char *name, struct tenant_creds *out,
	struct siegel_diag *d) SIEGEL_WUR;
/* New secret (the old one and every token of the tenant stop working). */
int tenant_rotate_secret(struct tenant_db *db, const char *id, struct tenant_creds *out,
	struct siegel_diag *d) SIEGEL_WUR;

struct tenant_info {
	const char *id, *name, *api_key;
	int64_t created_at;
	int disabled;
};
int tenant_list(struct tenant_db *db, void (*fn)(void *ctx, const struct tenant_info *ti),
	void *ctx, struct siegel_diag *d) SIEGEL_WUR;

/* Checks key + secret; on success a new token (hex) and its expiry. Wrong
 * credentials: SIEGEL_E_AUTH_FAILED (no hint which part was wrong). */
int tenant_auth(struct tenant_db *db, const char *api_key, const char *api_secret,
	char token_out[TENANT_TOKEN_LEN + 1], int64_t *expires_out, struct siegel_diag *d) SIEGEL_WUR;
/* Maps a bearer token to its tenant. SIEGEL_E_AUTH_FAILED: unknown token (or
 * its tenant is disabled); SIEGEL_E_STATE: the token has expired. */
int tenant_token_check(struct tenant_db *db, const char *token, char tenant_out[TENANT_MAX_ID + 1],
	struct siegel_diag *d) SIEGEL_WUR;

int tenant_check_id(const char *id, struct siegel_diag *d) SIEGEL_WUR;
/* "<tenant>.<tss_id>" into out (TSE_MAX_ID + 1 bytes); checks tss_id. */
int tenant_tss_internal(char *out, size_t cap, const char *tenant, const char *tss_id,
	struct siegel_diag *d) SIEGEL_WUR;

#endif
