#include "tenant/tenant.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "store/store.h"

#define KDF_SALT 16
#define KDF_OUT 32
#define HASH_BLOB (1 + KDF_SALT + KDF_OUT) /* log2n || salt || scrypt */

struct token_slot {
	uint8_t hash[32];
	char tenant[TENANT_MAX_ID + 1];
	int64_t expires_at;
	int used;
};

struct tenant_db {
	struct store *store;
	struct tenant_config cfg;
	pthread_mutex_t cache_lock;
	struct token_slot cache[TENANT_TOKEN_CACHE];
};

static int64_t db_now(const struct tenant_db *db)
{
	return db->cfg.clock->now(db->cfg.clock->ctx);
}

int tenant_db_open(struct tenant_db **out, struct store *s, const struct tenant_config *cfg,
	struct siegel_diag *d)
{
	struct tenant_db *db = calloc(1, sizeof(*db));
	if (db == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "no memory for the tenant cache");
	db->store = s;
	if (cfg != NULL)
		db->cfg = *cfg;
	if (db->cfg.token_ttl <= 0)
		db->cfg.token_ttl = TENANT_DEFAULT_TOKEN_TTL;
	if (db->cfg.token_ttl > TENANT_MAX_TOKEN_TTL)
		db->cfg.token_ttl = TENANT_MAX_TOKEN_TTL;
	if (db->cfg.kdf_log2n <= 0)
		db->cfg.kdf_log2n = TENANT_KDF_LOG2N;
	if (db->cfg.clock == NULL)
		db->cfg.clock = siegel_clock_system();
	pthread_mutex_init(&db->cache_lock, NULL);
	*out = db;
	return 0;
}

void tenant_db_close(struct tenant_db *db)
{
	if (db == NULL)
		return;
	pthread_mutex_destroy(&db->cache_lock);
	OPENSSL_cleanse(db->cache, sizeof(db->cache));
	free(db);
}

int tenant_check_id(const char *id, struct siegel_diag *d)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > TENANT_MAX_ID)
		return siegel_fail(d, SIEGEL_E_PARAM, "tenant id must have 1 to %d characters",
			TENANT_MAX_ID);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return siegel_fail(d, SIEGEL_E_PARAM,
				"tenant id '%s': only a-z, 0-9 and '-' are allowed", id);
	}
	return 0;
}

int tenant_tss_internal(char *out, size_t cap, const char *tenant, const char *tss_id,
	struct siegel_diag *d)
{
	size_t n = tss_id ? strlen(tss_id) : 0;
	if (n == 0 || n > TENANT_MAX_TSS_ID)
		return siegel_fail(d, SIEGEL_E_PARAM, "tssId must have 1 to %d characters",
			TENANT_MAX_TSS_ID);
	for (size_t i = 0; i < n; i++) {
		char c = tss_id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_' || c == '.'))
			return siegel_fail(d, SIEGEL_E_PARAM,
				"tssId: only A-Z, a-z, 0-9, '.', '_' and '-' are allowed");
	}
	int w = snprintf(out, cap, "%s.%s", tenant, tss_id);
	if (w < 0 || (size_t)w >= cap)
		return siegel_fail(d, SIEGEL_E_PARAM, "tssId too long");
	return 0;
}

/* ---- hashing ---- */

static int secret_hash(uint8_t out[HASH_BLOB], const char *secret, int log2n)
{
	out[0] = (uint8_t)log2n;
	if (RAND_bytes(out + 1, KDF_SALT) != 1)
		return SIEGEL_E_CRYPTO;
	if (EVP_PBE_scrypt(secret, strlen(secret), out + 1, KDF_SALT, (uint64_t)1 << log2n, 8, 1,
		    0, out + 1 + KDF_SALT, KDF_OUT) != 1)
		return SIEGEL_E_CRYPTO;
	return 0;
}

static int secret_matches(const uint8_t *blob, size_t len, const char *secret)
{
	uint8_t got[KDF_OUT];
	if (len != HASH_BLOB || blob[0] < 10 || blob[0] > 20)
		return 0;
	if (EVP_PBE_scrypt(secret, strlen(secret), blob + 1, KDF_SALT, (uint64_t)1 << blob[0], 8, 1,
		    0, got, KDF_OUT) != 1)
		return 0;
	int ok = CRYPTO_memcmp(got, blob + 1 + KDF_SALT, KDF_OUT) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

static void token_hash(uint8_t out[32], const char *token)
{
	unsigned int n = 32;
	if (EVP_Digest(token, strlen(token), out, &n, EVP_sha256(), NULL) != 1)
		memset(out, 0, 32);
}

static int random_hex(char *out, size_t hex_len)
{
	uint8_t raw[64];
	if (hex_len / 2 > sizeof(raw) || RAND_bytes(raw, (int)(hex_len / 2)) != 1)
		return SIEGEL_E_CRYPTO;
	siegel_hex_encode(out, raw, hex_len / 2);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

/* ---- tenants ---- */

struct add_ctx {
	struct tenant_db *db;
	const char *id, *name;
	const struct tenant_creds *creds;
	const uint8_t *hash;
	int rotate;
};

static int add_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct add_ctx *c = vctx;
	sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM tenants WHERE id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	int exists = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	if (c->rotate) {
		if (!exists)
			return siegel_fail(d, SIEGEL_E_NOTFOUND, "no tenant '%s'", c->id);
		st = store_stmt(s, "UPDATE tenants SET secret_hash = ? WHERE id = ?", d);
		if (st == NULL)
			return SIEGEL_E_DB;
		sqlite3_bind_blob(st, 1, c->hash, HASH_BLOB, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, c->id, -1, SQLITE_STATIC);
		int rc = store_exec_stmt(s, st, d);
		if (rc)
			return rc;
		st = store_stmt(s, "DELETE FROM tenant_tokens WHERE tenant_id = ?", d);
		if (st == NULL)
			return SIEGEL_E_DB;
		sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
		return store_exec_stmt(s, st, d);
	}
	if (exists)
		return siegel_fail(d, SIEGEL_E_EXISTS, "a tenant '%s' exists already", c->id);
	st = store_stmt(s,
		"INSERT INTO tenants (id, name, api_key, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->creds->api_key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, c->hash, HASH_BLOB, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, db_now(c->db));
	return store_exec_stmt(s, st, d);
}

static int add_or_rotate(struct tenant_db *db, const char *id, const char *name, int rotate,
	struct tenant_creds *out, struct siegel_diag *d)
{
	int rc = tenant_check_id(id, d);
	if (rc)
		return rc;
	if (name == NULL)
		name = id;
	if (strlen(name) > TENANT_MAX_NAME)
		return siegel_fail(d, SIEGEL_E_PARAM, "tenant name longer than %d bytes", TENANT_MAX_NAME);
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", id);
	if (random_hex(out->api_key, TENANT_KEY_LEN) || random_hex(out->api_secret, TENANT_SECRET_LEN))
		return siegel_fail(d, SIEGEL_E_CRYPTO, "no random bytes for the credentials");
	uint8_t hash[HASH_BLOB];
	if (secret_hash(hash, out->api_secret, db->cfg.kdf_log2n) != 0)
		return siegel_fail(d, SIEGEL_E_CRYPTO, "hashing the secret failed");
	struct add_ctx c = { db, id, name, out, hash, rotate };
	rc = store_txn(db->store, add_txn, &c, d);
	if (rc == 0 && rotate) {
		pthread_mutex_lock(&db->cache_lock);
		for (size_t i = 0; i < TENANT_TOKEN_CACHE; i++)
			if (db->cache[i].used && strcmp(db->cache[i].tenant, id) == 0)
				memset(&db->cache[i], 0, sizeof(db->cache[i]));
		pthread_mutex_unlock(&db->cache_lock);
	}
	if (rc)
		OPENSSL_cleanse(out, sizeof(*out));
	return rc;
}

int tenant_add(struct tenant_db *db, const char *id, const char *name, struct tenant_creds *out,
	struct siegel_diag *d)
{
	return add_or_rotate(db, id, name, 0, out, d);
}

int tenant_rotate_secret(struct tenant_db *db, const char *id, struct tenant_creds *out,
	struct siegel_diag *d)
{
	int rc = add_or_rotate(db, id, NULL, 1, out, d);
	if (rc == 0) {
		/* The API key stays; report it. */
		store_lock(db->store);
		sqlite3_stmt *st = store_stmt(db->store, "SELECT api_key FROM tenants WHERE id = ?", d);
		if (st != NULL) {
			sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_ROW)
				snprintf(out->api_key, sizeof(out->api_key), "%s",
					(const char *)sqlite3_column_text(st, 0));
			sqlite3_reset(st);
		}
		store_unlock(db->store);
	}
	return rc;
}

int tenant_list(struct tenant_db *db, void (*fn)(void *ctx, const struct tenant_info *ti),
	void *ctx, struct siegel_diag *d)
{
	store_lock(db->store);
	sqlite3_stmt *st = store_stmt(db->store,
		"SELECT id, name, api_key, created_at, disabled FROM tenants ORDER BY id", d);
	int s = SQLITE_ERROR;
	if (st != NULL) {
		while ((s = sqlite3_step(st)) == SQLITE_ROW) {
			struct tenant_info ti = {
				(const char *)sqlite3_column_text(st, 0),
				(const char *)sqlite3_column_text(st, 1),
				(const char *)sqlite3_column_text(st, 2),
				sqlite3_column_int64(st, 3),
				sqlite3_column_int(st, 4),
			};
			fn(ctx, &ti);
		}
		sqlite3_reset(st);
	}
	int rc = s == SQLITE_DONE ? 0 : store_fail(db->store, d, "listing tenants");
	store_unlock(db->store);
	return rc;
}

/* ---- tokens ---- */

struct auth_ctx {
	const char *tenant;
	const uint8_t *hash;
	int64_t now, expires;
};

static int auth_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct auth_ctx *c = vctx;
	sqlite3_stmt *st = store_stmt(s, "DELETE FROM tenant_tokens WHERE expires_at <= ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_int64(st, 1, c->now);
	int rc = store_exec_stmt(s, st, d);
	if (rc)
		return rc;
	st = store_stmt(s,
		"INSERT INTO tenant_tokens (token_hash, tenant_id, expires_at) VALUES (?, ?, ?)", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_blob(st, 1, c->hash, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->expires);
	return store_exec_stmt(s, st, d);
}

static void cache_put(struct tenant_db *db, const uint8_t hash[32], const char *tenant,
	int64_t expires)
{
	size_t i = ((size_t)hash[0] | (size_t)hash[1] << 8) & (TENANT_TOKEN_CACHE - 1);
	pthread_mutex_lock(&db->cache_lock);
	memcpy(db->cache[i].hash, hash, 32);
	snprintf(db->cache[i].tenant, sizeof(db->cache[i].tenant), "%s", tenant);
	db->cache[i].expires_at = expires;
	db->cache[i].used = 1;
	pthread_mutex_unlock(&db->cache_lock);
}

int tenant_auth(struct tenant_db *db, const char *api_key, const char *api_secret,
	char token_out[TENANT_TOKEN_LEN + 1], int64_t *expires_out, struct siegel_diag *d)
{
	if (api_key == NULL || api_secret == NULL || strlen(api_key) > 256 ||
	    strlen(api_secret) > 256)
		return siegel_fail(d, SIEGEL_E_AUTH_FAILED, "wrong API key or secret");
	char tenant[TENANT_MAX_ID + 1] = "";
	uint8_t hash[HASH_BLOB];
	size_t hash_len = 0;
	int disabled = 0;
	store_lock(db->store);
	sqlite3_stmt *st = store_stmt(db->store,
		"SELECT id, secret_hash, disabled FROM tenants WHERE api_key = ?", d);
	if (st == NULL) {
		store_unlock(db->store);
		return SIEGEL_E_DB;
	}
	sqlite3_bind_text(st, 1, api_key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(tenant, sizeof(tenant), "%s", (const char *)sqlite3_column_text(st, 0));
		hash_len = (size_t)sqlite3_column_bytes(st, 1);
		if (hash_len == HASH_BLOB)
			memcpy(hash, sqlite3_column_blob(st, 1), HASH_BLOB);
		disabled = sqlite3_column_int(st, 2);
	}
	sqlite3_reset(st);
	store_unlock(db->store);
	/* scrypt outside the database lock */
	if (tenant[0] == 0 || disabled || !secret_matches(hash, hash_len, api_secret))
		return siegel_fail(d, SIEGEL_E_AUTH_FAILED, "wrong API key or secret");
	char token[TENANT_TOKEN_LEN + 1];
	if (random_hex(token, TENANT_TOKEN_LEN))
		return siegel_fail(d, SIEGEL_E_CRYPTO, "no random bytes for the token");
	uint8_t th[32];
	token_hash(th, token);
	struct auth_ctx c = { tenant, th, db_now(db), db_now(db) + db->cfg.token_ttl };
	int rc = store_txn(db->store, auth_txn, &c, d);
	if (rc) {
		OPENSSL_cleanse(token, sizeof(token));
		return rc;
	}
	cache_put(db, th, tenant, c.expires);
	memcpy(token_out, token, sizeof(token));
	OPENSSL_cleanse(token, sizeof(token));
	*expires_out = c.expires;
	return 0;
}

int tenant_token_check(struct tenant_db *db, const char *token, char tenant_out[TENANT_MAX_ID + 1],
	struct siegel_diag *d)
{
	if (token == NULL || strlen(token) != TENANT_TOKEN_LEN)
		return siegel_fail(d, SIEGEL_E_AUTH_FAILED, "unknown bearer token");
	uint8_t th[32];
	token_hash(th, token);
	int64_t now = db_now(db);
	size_t i = ((size_t)th[0] | (size_t)th[1] << 8) & (TENANT_TOKEN_CACHE - 1);
	int64_t expires = 0;
	int found = 0;
	pthread_mutex_lock(&db->cache_lock);
	if (db->cache[i].used && CRYPTO_memcmp(db->cache[i].hash, th, 32) == 0) {
		found = 1;
		expires = db->cache[i].expires_at;
		memcpy(tenant_out, db->cache[i].tenant, TENANT_MAX_ID + 1);
	}
	pthread_mutex_unlock(&db->cache_lock);
	if (!found) {
		store_lock(db->store);
		sqlite3_stmt *st = store_stmt(db->store,
			"SELECT k.tenant_id, k.expires_at FROM tenant_tokens k JOIN tenants t "
			"ON t.id = k.tenant_id WHERE k.token_hash = ? AND t.disabled = 0", d);
		if (st == NULL) {
			store_unlock(db->store);
			return SIEGEL_E_DB;
		}
		sqlite3_bind_blob(st, 1, th, 32, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			found = 1;
			snprintf(tenant_out, TENANT_MAX_ID + 1, "%s", (const char *)sqlite3_column_text(st, 0));
			expires = sqlite3_column_int64(st, 1);
		}
		sqlite3_reset(st);
		store_unlock(db->store);
		if (found && expires > now)
			cache_put(db, th, tenant_out, expires);
	}
	if (!found)
		return siegel_fail(d, SIEGEL_E_AUTH_FAILED, "unknown bearer token");
	if (expires <= now)
		return siegel_fail(d, SIEGEL_E_STATE, "the bearer token has expired; get a new one "
			"with POST /api/v1/auth");
	return 0;
}
