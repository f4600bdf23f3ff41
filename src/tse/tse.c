#include "tse/tse.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "cert/cert.h"
#include "der/der.h"
#include "csp/csp.h"
#include "sntp/sntp.h"
#include "store/store.h"

#define KDF_SALT 16
#define KDF_OUT 32
#define HASH_BLOB (1 + KDF_SALT + KDF_OUT) /* log2n || salt || scrypt */

static const char *const default_ntp[] = { "ptbtime1.ptb.de", "ptbtime2.ptb.de", "ptbtime3.ptb.de" };

/* A TSS key, opened once and kept for the life of the tse. */
struct tse_key {
	char tss_id[TSE_MAX_ID + 1];
	struct csp_key key;
	struct tse_key *next;
};

struct tse {
	struct tse_config cfg;
	char *data_dir;
	char *token_pin;
	struct store *store;
	struct csp_p11 *p11;          /* NULL with the soft backend */
	struct cert_ca ca;
	int soft;
	char boot_id[64];
	pthread_mutex_t keys_lock;
	struct tse_key *keys;
};

/* The TSS row as the operations need it. */
struct tss_row {
	char id[TSE_MAX_ID + 1];
	char state[16];
	char description[256];
	enum siegel_alg alg;
	enum logmsg_time_format time_format;
	uint8_t serial[ALG_SERIAL_LEN];
	uint64_t sig_counter, tx_counter;
	unsigned max_clients, max_open_tx;
	int has_time;
	int64_t time_offset_ns, time_synced_at;
	char time_boot_id[64];
	char time_server[256];
};

/* ------------------------------------------------------------------ */
/* helpers                                                              */

static int64_t host_now(const struct tse *t)
{
	return t->cfg.clock->now(t->cfg.clock->ctx);
}

/* TSE time = host time + offset learned from the last sync. */
static int64_t tss_now(const struct tse *t, const struct tss_row *r)
{
	int64_t now = host_now(t);
	if (r->has_time)
		now += r->time_offset_ns / 1000000000;
	return now;
}

static int tss_time_set(const struct tse *t, const struct tss_row *r)
{
	if (!r->has_time || strcmp(r->time_boot_id, t->boot_id) != 0)
		return 0;
	int64_t age = tss_now(t, r) - r->time_synced_at;
	return age >= 0 && age <= t->cfg.time_valid_for;
}

static void read_boot_id(char out[64])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	out[0] = 0;
	if (f != NULL) {
		if (fgets(out, 64, f) == NULL)
			out[0] = 0;
		fclose(f);
	}
	out[strcspn(out, "\n")] = 0;
	if (out[0] == 0)
		strcpy(out, "unknown-boot");
}

static int is_printable_string_char(unsigned char c)
{
	/* ASN.1 PrintableString */
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       strchr(" '()+,-./:=?", c) != NULL;
}

int tse_check_client_id(const char *client_id, struct siegel_diag *d)
{
	if (client_id == NULL || client_id[0] == 0)
		return siegel_fail(d, SIEGEL_E_CLIENT_ID, "clientId is empty");
	size_t n = strlen(client_id);
	if (n > LOGMSG_MAX_CLIENT_ID)
		return siegel_fail(d, SIEGEL_E_CLIENT_ID,
			"clientId has %zu characters, at most %d allowed (TR-03151-1 App. A)", n,
			LOGMSG_MAX_CLIENT_ID);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)client_id[i];
		/* TR-03151-1 App. A: A-Z a-z 0-9 space ' ( ) + - , . = */
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			 strchr(" '()+-,.=", c) != NULL;
		if (!ok || c == 0)
			return siegel_fail(d, SIEGEL_E_CLIENT_ID,
				"clientId has the character 0x%02x at position %zu; allowed are A-Z a-z 0-9 "
				"space ' ( ) + - , . = (TR-03151-1 App. A)", c, i);
	}
	return 0;
}

int tse_check_tss_id(const char *id, struct siegel_diag *d)
{
	if (id == NULL || id[0] == 0)
		return siegel_fail(d, SIEGEL_E_PARAM, "tssId is empty");
	size_t n = strlen(id);
	if (n > TSE_MAX_ID)
		return siegel_fail(d, SIEGEL_E_PARAM, "tssId longer than %d characters", TSE_MAX_ID);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_' || c == '.'))
			return siegel_fail(d, SIEGEL_E_PARAM,
				"tssId may contain only A-Z a-z 0-9 . _ - (got 0x%02x)", (unsigned char)c);
	}
	return 0;
}

static int check_process_type(const char *pt, struct siegel_diag *d)
{
	if (pt == NULL)
		return 0;
	size_t n = strlen(pt);
	if (n > LOGMSG_MAX_PROCESS_TYPE)
		return siegel_fail(d, SIEGEL_E_PARAM,
			"processType has %zu bytes, at most %d allowed (TR-03151 4.3)", n,
			LOGMSG_MAX_PROCESS_TYPE);
	for (size_t i = 0; i < n; i++)
		if (!is_printable_string_char((unsigned char)pt[i]))
			return siegel_fail(d, SIEGEL_E_PARAM,
				"processType has the character 0x%02x at position %zu, not allowed in a "
				"PrintableString", (unsigned char)pt[i], i);
	return 0;
}

static int check_secret(const char *what, const char *s, size_t min, struct siegel_diag *d)
{
	if (s == NULL)
		return siegel_fail(d, SIEGEL_E_PARAM, "%s is missing", what);
	size_t n = strlen(s);
	if (n < min || n > 32)
		return siegel_fail(d, SIEGEL_E_PARAM, "%s must have %zu to 32 characters", what, min);
	return 0;
}

/* scrypt hash of a PIN or PUK: log2n || salt || hash. */
static int secret_hash(uint8_t out[HASH_BLOB], const char *secret, int log2n,
	const uint8_t *salt)
{
	out[0] = (uint8_t)log2n;
	if (salt != NULL)
		memcpy(out + 1, salt, KDF_SALT);
	else if (RAND_bytes(out + 1, KDF_SALT) != 1)
		return SIEGEL_E_CRYPTO;
	if (EVP_PBE_scrypt(secret, strlen(secret), out + 1, KDF_SALT, (uint64_t)1 << log2n, 8, 1,
		    (uint64_t)64 << 20, out + 1 + KDF_SALT, KDF_OUT) != 1)
		return SIEGEL_E_CRYPTO;
	return 0;
}

static int secret_matches(const uint8_t *blob, size_t blob_len, const char *secret)
{
	uint8_t h[HASH_BLOB];
	if (blob_len != HASH_BLOB || blob[0] < 10 || blob[0] > 20)
		return 0;
	if (secret_hash(h, secret, blob[0], blob + 1) != 0)
		return 0;
	int eq = CRYPTO_memcmp(h, blob, HASH_BLOB) == 0;
	siegel_wipe(h, sizeof(h));
	return eq;
}

static const char *alg_text(enum siegel_alg a)
{
	const struct alg_info *ai = alg_get(a);
	return ai ? ai->config_name : "?";
}

/* ------------------------------------------------------------------ */
/* rows                                                                 */

static const char sql_tss_get[] =
	"SELECT id, state, coalesce(description,''), alg, time_format, serial, sig_counter, "
	"tx_counter, max_clients, max_open_tx, time_offset_ns, time_synced_at, "
	"coalesce(time_boot_id,''), coalesce(time_server,'') FROM tss WHERE id = ?";

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
	snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

static int tss_load(struct tse *t, const char *id, struct tss_row *r, struct siegel_diag *d)
{
	sqlite3_stmt *st = store_stmt(t->store, sql_tss_get, d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s == SQLITE_DONE) {
		sqlite3_reset(st);
		return siegel_fail(d, SIEGEL_E_NOTFOUND, "no TSS with id '%s'", id);
	}
	if (s != SQLITE_ROW) {
		sqlite3_reset(st);
		return store_fail(t->store, d, "loading TSS");
	}
	memset(r, 0, sizeof(*r));
	copy_text(r->id, sizeof(r->id), sqlite3_column_text(st, 0));
	copy_text(r->state, sizeof(r->state), sqlite3_column_text(st, 1));
	copy_text(r->description, sizeof(r->description), sqlite3_column_text(st, 2));
	const struct alg_info *ai = alg_by_config_name((const char *)sqlite3_column_text(st, 3));
	r->alg = ai ? ai->alg : SIEGEL_ALG_NONE;
	if (logmsg_time_format_parse(&r->time_format, (const char *)sqlite3_column_text(st, 4)) != 0)
		r->time_format = LOGMSG_TIME_UNIX;
	if (sqlite3_column_bytes(st, 5) == ALG_SERIAL_LEN)
		memcpy(r->serial, sqlite3_column_blob(st, 5), ALG_SERIAL_LEN);
	r->sig_counter = (uint64_t)sqlite3_column_int64(st, 6);
	r->tx_counter = (uint64_t)sqlite3_column_int64(st, 7);
	r->max_clients = (unsigned)sqlite3_column_int(st, 8);
	r->max_open_tx = (unsigned)sqlite3_column_int(st, 9);
	r->has_time = sqlite3_column_type(st, 10) != SQLITE_NULL;
	r->time_offset_ns = sqlite3_column_int64(st, 10);
	r->time_synced_at = sqlite3_column_int64(st, 11);
	copy_text(r->time_boot_id, sizeof(r->time_boot_id), sqlite3_column_text(st, 12));
	copy_text(r->time_server, sizeof(r->time_server), sqlite3_column_text(st, 13));
	sqlite3_reset(st);
	if (ai == NULL)
		return siegel_fail(d, SIEGEL_E_DB, "TSS '%s' has an unknown algorithm", id);
	return 0;
}

/* ------------------------------------------------------------------ */
/* keys                                                                 */

static void key_label(char *out, size_t cap, const char *tss_id)
{
	snprintf(out, cap, "siegel-tss-%s", tss_id);
}

/* Opens (or with generate, creates) the key of a TSS; cached. */
static int tss_key(struct tse *t, const char *tss_id, enum siegel_alg alg, int generate,
	struct csp_key **out, struct siegel_diag *d)
{
	/* Lock order: database, then keys (the store leader holds the first). */
	store_lock(t->store);
	pthread_mutex_lock(&t->keys_lock);
	for (struct tse_key *k = t->keys; k != NULL; k = k->next) {
		if (strcmp(k->tss_id, tss_id) == 0) {
			pthread_mutex_unlock(&t->keys_lock);
			store_unlock(t->store);
			*out = &k->key;
			return 0;
		}
	}
	struct tse_key *k = calloc(1, sizeof(*k));
	int rc = SIEGEL_E_NOMEM;
	if (k == NULL)
		goto out;
	snprintf(k->tss_id, sizeof(k->tss_id), "%s", tss_id);
	if (t->soft) {
		/* Tests only: the key is kept as PEM in the database. */
		sqlite3_stmt *st = store_stmt(t->store, "SELECT soft_key FROM tss WHERE id = ?", d);
		rc = SIEGEL_E_DB;
		if (st == NULL)
			goto out;
		sqlite3_bind_text(st, 1, tss_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) > 0) {
			BIO *bio = BIO_new_mem_buf(sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0));
			EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
			BIO_free(bio);
			sqlite3_reset(st);
			rc = pk ? csp_soft_load_pkey(&k->key, pk) : SIEGEL_E_CRYPTO;
			EVP_PKEY_free(pk);
		} else {
			sqlite3_reset(st);
			rc = generate ? csp_soft_generate(&k->key, alg)
				      : siegel_fail(d, SIEGEL_E_NOTFOUND, "no key for TSS '%s'", tss_id);
		}
	} else {
		char label[128];
		key_label(label, sizeof(label), tss_id);
		rc = csp_p11_key(&k->key, t->p11, label, alg, generate, d);
	}
	if (rc)
		goto out;
	k->next = t->keys;
	t->keys = k;
	*out = &k->key;
	k = NULL;
out:
	free(k);
	pthread_mutex_unlock(&t->keys_lock);
	store_unlock(t->store);
	return rc;
}

/* ------------------------------------------------------------------ */
/* signing a log inside a store transaction                              */

/* Signs m with the TSS key as message counter+1, stores it and advances the
 * counter. m's certifiedData must be set; the rest is filled here. der_out
 * (optional) gets the DER. */
static int tss_append_log(struct tse *t, struct tss_row *r, struct logmsg *m, int64_t log_time,
	const char *client_id, struct siegel_buf *der_out, struct siegel_diag *d)
{
	struct csp_key *key = NULL;
	int rc = tss_key(t, r->id, r->alg, 0, &key, d);
	if (rc)
		return rc;
	if (r->sig_counter >= (uint64_t)INT64_MAX - 1)
		return siegel_fail(d, SIEGEL_E_LIMIT, "signature counter exhausted");
	m->serial_number.p = r->serial;
	m->serial_number.len = ALG_SERIAL_LEN;
	m->alg = r->alg;
	m->signature_counter = r->sig_counter + 1;
	rc = logmsg_time_set(&m->log_time, r->time_format, log_time);
	if (rc)
		return siegel_fail(d, rc, "log time %lld cannot be encoded", (long long)log_time);

	struct siegel_buf local;
	struct siegel_buf *der = der_out;
	if (der == NULL) {
		siegel_buf_init(&local);
		der = &local;
	}
	size_t start = der->len;
	rc = logmsg_encode(der, m, csp_sign, key, d);
	if (rc) {
		if (rc != SIEGEL_E_PARAM && rc != SIEGEL_E_LIMIT)
			rc = siegel_fail(d, SIEGEL_E_SIGNING, "signing the log message failed: %s",
				d ? d->msg : siegel_strerror(rc));
		goto out;
	}
	sqlite3_stmt *st = store_stmt(t->store,
		"INSERT INTO logs (tss_id, counter, kind, log_time, tx_number, client_id, operation, der) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?)", d);
	if (st == NULL) {
		rc = SIEGEL_E_STORAGE;
		goto out;
	}
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)m->signature_counter);
	sqlite3_bind_int(st, 3, (int)m->kind);
	sqlite3_bind_int64(st, 4, log_time);
	if (m->kind == LOGMSG_TRANSACTION)
		sqlite3_bind_int64(st, 5, (sqlite3_int64)m->transaction_number);
	if (client_id != NULL)
		sqlite3_bind_text(st, 6, client_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, (const char *)m->operation_type.p, (int)m->operation_type.len,
		SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, der->data + start, (int)(der->len - start), SQLITE_STATIC);
	rc = store_exec_stmt(t->store, st, d);
	if (rc)
		goto out;
	st = store_stmt(t->store,
		"UPDATE tss SET sig_counter = ? WHERE id = ? AND sig_counter = ?", d);
	if (st == NULL) {
		rc = SIEGEL_E_STORAGE;
		goto out;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)m->signature_counter);
	sqlite3_bind_text(st, 2, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)r->sig_counter);
	rc = store_exec_stmt(t->store, st, d);
	if (rc == 0 && store_changes(t->store) != 1)
		rc = siegel_fail(d, SIEGEL_E_STORAGE, "signature counter changed concurrently");
	if (rc == 0)
		r->sig_counter = m->signature_counter;
out:
	if (der == &local)
		siegel_buf_free(&local);
	return rc;
}

/* A system log with the given operation type and systemOperationData. */
static int tss_system_log(struct tse *t, struct tss_row *r, const char *op,
	const struct siegel_buf *sysdata, int64_t log_time, struct siegel_diag *d)
{
	if (sysdata->err)
		return SIEGEL_E_NOMEM;
	struct logmsg m;
	memset(&m, 0, sizeof(m));
	m.kind = LOGMSG_SYSTEM;
	m.operation_type.p = (const uint8_t *)op;
	m.operation_type.len = strlen(op);
	m.system_operation_data.p = sysdata->data;
	m.system_operation_data.len = sysdata->len;
	return tss_append_log(t, r, &m, log_time, NULL, NULL, d);
}

/* ------------------------------------------------------------------ */
/* open / close                                                         */

static int read_or_make_token_pin(char **out, const char *path, struct siegel_diag *d)
{
	uint8_t *p = NULL;
	size_t n = 0;
	int rc = siegel_read_file(&p, &n, path, 256, NULL);
	if (rc == SIEGEL_E_NOTFOUND) {
		uint8_t rnd[12];
		char hex[25];
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return SIEGEL_E_CRYPTO;
		siegel_hex_encode(hex, rnd, sizeof(rnd));
		rc = siegel_write_file_atomic(path, hex, strlen(hex), 0600, d);
		siegel_wipe(rnd, sizeof(rnd));
		if (rc)
			return rc;
		*out = strdup(hex);
		siegel_wipe(hex, sizeof(hex));
		return *out ? 0 : SIEGEL_E_NOMEM;
	}
	if (rc)
		return siegel_fail(d, rc, "cannot read the token PIN file %s", path);
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		p[--n] = 0;
	*out = (char *)p;
	return 0;
}

int tse_open(struct tse **out, const struct tse_config *cfg, struct siegel_diag *d)
{
	struct tse *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return SIEGEL_E_NOMEM;
	pthread_mutex_init(&t->keys_lock, NULL);
	t->cfg = *cfg;
	int rc = SIEGEL_E_NOMEM;
	char path[4096];
	if (cfg->data_dir == NULL) {
		rc = siegel_fail(d, SIEGEL_E_INVAL, "no data directory");
		goto fail;
	}
	t->data_dir = strdup(cfg->data_dir);
	if (t->data_dir == NULL)
		goto fail;
	t->cfg.data_dir = t->data_dir;
	if (t->cfg.clock == NULL)
		t->cfg.clock = siegel_clock_system();
	if (t->cfg.ntp_servers == NULL || t->cfg.n_ntp_servers == 0) {
		t->cfg.ntp_servers = default_ntp;
		t->cfg.n_ntp_servers = sizeof(default_ntp) / sizeof(default_ntp[0]);
	}
	if (t->cfg.max_host_skew == 0)
		t->cfg.max_host_skew = TSE_DEFAULT_MAX_HOST_SKEW;
	if (t->cfg.time_valid_for <= 0)
		t->cfg.time_valid_for = TSE_DEFAULT_TIME_VALID_FOR;
	if (t->cfg.auth_timeout <= 0)
		t->cfg.auth_timeout = TSE_DEFAULT_AUTH_TIMEOUT;
	if (t->cfg.max_process_data == 0)
		t->cfg.max_process_data = TSE_DEFAULT_MAX_PROCESS_DATA;
	if (t->cfg.kdf_log2n == 0)
		t->cfg.kdf_log2n = 14;
	if (t->cfg.token_label == NULL)
		t->cfg.token_label = "siegel";
	t->soft = cfg->key_backend != NULL && strcmp(cfg->key_backend, "soft") == 0;
	read_boot_id(t->boot_id);

	rc = siegel_mkdir_p(t->data_dir, 0700);
	if (rc) {
		rc = siegel_fail(d, rc, "cannot create the data directory %s: %s", t->data_dir,
			strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/siegel.db", t->data_dir);
	rc = store_open(&t->store, path, d);
	if (rc)
		goto fail;
	snprintf(path, sizeof(path), "%s/ca", t->data_dir);
	rc = siegel_mkdir_p(path, 0700);
	if (rc == 0)
		rc = cert_ca_open(&t->ca, path, t->cfg.clock, d);
	if (rc)
		goto fail;
	if (!t->soft) {
		if (cfg->token_pin != NULL) {
			t->token_pin = strdup(cfg->token_pin);
			rc = t->token_pin ? 0 : SIEGEL_E_NOMEM;
		} else {
			snprintf(path, sizeof(path), "%s/token.pin", t->data_dir);
			rc = read_or_make_token_pin(&t->token_pin, path, d);
		}
		if (rc)
			goto fail;
		uint8_t so[12];
		char so_hex[25];
		if (RAND_bytes(so, sizeof(so)) != 1) {
			rc = SIEGEL_E_CRYPTO;
			goto fail;
		}
		siegel_hex_encode(so_hex, so, sizeof(so));
		/* The token is created once per data directory; afterwards a missing
		 * token is an error, never silently replaced by an empty one. */
		char marker[4096];
		snprintf(marker, sizeof(marker), "%s/token.created", t->data_dir);
		int created = access(marker, F_OK) == 0;
		struct csp_p11_config pc = {
			.module_path = cfg->p11_module ? cfg->p11_module : csp_softhsm_default_module(),
			.token_label = t->cfg.token_label,
			.user_pin = t->token_pin,
			.create_token = !created,
			.so_pin = so_hex,
		};
		rc = csp_p11_open(&t->p11, &pc, d);
		if (rc == SIEGEL_E_NOTFOUND && created)
			rc = siegel_fail(d, SIEGEL_E_PKCS11,
				"the token '%s' of this data directory is missing; restore the token "
				"store (%s/tokens) from a backup", t->cfg.token_label, t->data_dir);
		if (rc == 0 && !created)
			rc = siegel_write_file_atomic(marker, t->cfg.token_label,
				strlen(t->cfg.token_label), 0600, d);
		siegel_wipe(so_hex, sizeof(so_hex));
		siegel_wipe(so, sizeof(so));
		if (rc)
			goto fail;
	}
	*out = t;
	return 0;
fail:
	tse_close(t);
	return rc;
}

void tse_close(struct tse *t)
{
	if (t == NULL)
		return;
	while (t->keys != NULL) {
		struct tse_key *k = t->keys;
		t->keys = k->next;
		csp_key_release(&k->key);
		free(k);
	}
	csp_p11_close(t->p11);
	cert_ca_close(&t->ca);
	store_close(t->store);
	if (t->token_pin != NULL) {
		siegel_wipe(t->token_pin, strlen(t->token_pin));
		free(t->token_pin);
	}
	free(t->data_dir);
	pthread_mutex_destroy(&t->keys_lock);
	free(t);
}

struct store *tse_store(struct tse *t)
{
	return t->store;
}

/* ------------------------------------------------------------------ */
/* TSS creation and info                                                */

struct create_ctx {
	struct tse *t;
	const struct tse_tss_params *p;
	struct csp_key *key;
	struct siegel_buf leaf, ca, root, soft_pem;
	uint8_t admin_pin[HASH_BLOB], admin_puk[HASH_BLOB], ta_pin[HASH_BLOB], ta_puk[HASH_BLOB];
};

static int insert_user(struct store *s, const char *tss, const char *user, const uint8_t *pin,
	const uint8_t *puk, struct siegel_diag *d)
{
	sqlite3_stmt *st = store_stmt(s,
		"INSERT INTO users (tss_id, user_id, pin_hash, puk_hash, pin_retries, puk_retries) "
		"VALUES (?, ?, ?, ?, ?, ?)", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, tss, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, pin, HASH_BLOB, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, puk, HASH_BLOB, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, TSE_PIN_RETRIES);
	sqlite3_bind_int(st, 6, TSE_PUK_RETRIES);
	return store_exec_stmt(s, st, d);
}

static int create_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct create_ctx *c = vctx;
	const struct tse_tss_params *p = c->p;
	sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM tss WHERE id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, p->tss_id, -1, SQLITE_STATIC);
	int exists = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	if (exists)
		return siegel_fail(d, SIEGEL_E_EXISTS, "a TSS with id '%s' exists already", p->tss_id);
	char label[128];
	key_label(label, sizeof(label), p->tss_id);
	st = store_stmt(s,
		"INSERT INTO tss (id, state, alg, time_format, key_backend, key_label, soft_key, serial, "
		"pubkey, cert_leaf, cert_ca, cert_root, max_clients, max_open_tx, created_at) "
		"VALUES (?, 'UNINITIALIZED', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, p->tss_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, alg_text(c->key->alg), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, logmsg_time_format_name(p->time_format), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->t->soft ? "soft" : "pkcs11", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, label, -1, SQLITE_TRANSIENT);
	if (c->soft_pem.len)
		sqlite3_bind_blob(st, 6, c->soft_pem.data, (int)c->soft_pem.len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, c->key->serial, ALG_SERIAL_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, c->key->pub, (int)c->key->pub_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 9, c->leaf.data, (int)c->leaf.len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 10, c->ca.data, (int)c->ca.len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 11, c->root.data, (int)c->root.len, SQLITE_STATIC);
	sqlite3_bind_int(st, 12, (int)(p->max_clients ? p->max_clients : TSE_DEFAULT_MAX_CLIENTS));
	sqlite3_bind_int(st, 13, (int)(p->max_open_tx ? p->max_open_tx : TSE_DEFAULT_MAX_OPEN_TX));
	sqlite3_bind_int64(st, 14, host_now(c->t));
	int rc = store_exec_stmt(s, st, d);
	if (rc == 0)
		rc = insert_user(s, p->tss_id, TSE_USER_ADMIN, c->admin_pin, c->admin_puk, d);
	if (rc == 0)
		rc = insert_user(s, p->tss_id, TSE_USER_TIMEADMIN, c->ta_pin, c->ta_puk, d);
	return rc;
}

int tse_tss_create(struct tse *t, const struct tse_tss_params *p, struct siegel_diag *d)
{
	int rc = tse_check_tss_id(p->tss_id, d);
	if (rc)
		return rc;
	if ((rc = check_secret("admin PIN", p->admin_pin, 5, d)) ||
	    (rc = check_secret("admin PUK", p->admin_puk, 6, d)) ||
	    (rc = check_secret("timeAdmin PIN", p->time_admin_pin, 5, d)) ||
	    (rc = check_secret("timeAdmin PUK", p->time_admin_puk, 6, d)))
		return rc;
	if (p->time_format != LOGMSG_TIME_UNIX && p->time_format != LOGMSG_TIME_UTC &&
	    p->time_format != LOGMSG_TIME_GENERALIZED)
		return siegel_fail(d, SIEGEL_E_PARAM, "unknown log time format");
	enum siegel_alg alg = p->alg ? p->alg : SIEGEL_ALG_P256_SHA256;
	if (alg_get(alg) == NULL)
		return siegel_fail(d, SIEGEL_E_PARAM, "unknown signature algorithm");
	struct tss_row probe;
	store_lock(t->store);
	rc = tss_load(t, p->tss_id, &probe, NULL);
	store_unlock(t->store);
	if (rc == 0)
		return siegel_fail(d, SIEGEL_E_EXISTS, "a TSS with id '%s' exists already", p->tss_id);

	struct create_ctx c;
	memset(&c, 0, sizeof(c));
	c.t = t;
	c.p = p;
	siegel_buf_init(&c.leaf);
	siegel_buf_init(&c.ca);
	siegel_buf_init(&c.root);
	siegel_buf_init(&c.soft_pem);
	X509 *leaf = NULL;
	rc = tss_key(t, p->tss_id, alg, 1, &c.key, d);
	if (rc)
		goto out;
	if (c.key->alg != alg) {
		rc = siegel_fail(d, SIEGEL_E_EXISTS,
			"the token holds a key for '%s' with another algorithm", p->tss_id);
		goto out;
	}
	if (t->soft) {
		const EVP_PKEY *pk = csp_soft_pkey(c.key);
		BIO *bio = BIO_new(BIO_s_mem());
		char *mem = NULL;
		if (pk == NULL || bio == NULL || PEM_write_bio_PrivateKey(bio, (EVP_PKEY *)pk, NULL, NULL, 0, NULL, NULL) != 1) {
			BIO_free(bio);
			rc = SIEGEL_E_CRYPTO;
			goto out;
		}
		long n = BIO_get_mem_data(bio, &mem);
		siegel_buf_append(&c.soft_pem, mem, (size_t)n);
		BIO_free(bio);
	}
	rc = cert_issue_leaf(&leaf, &t->ca, c.key, "siegel TSE (TEST CA)", 365 * 8, t->cfg.clock, d);
	if (rc == 0)
		rc = cert_to_pem(&c.leaf, leaf);
	if (rc == 0)
		rc = cert_to_pem(&c.ca, t->ca.ca);
	if (rc == 0)
		rc = cert_to_pem(&c.root, t->ca.root);
	if (rc)
		goto out;
	if ((rc = secret_hash(c.admin_pin, p->admin_pin, t->cfg.kdf_log2n, NULL)) ||
	    (rc = secret_hash(c.admin_puk, p->admin_puk, t->cfg.kdf_log2n, NULL)) ||
	    (rc = secret_hash(c.ta_pin, p->time_admin_pin, t->cfg.kdf_log2n, NULL)) ||
	    (rc = secret_hash(c.ta_puk, p->time_admin_puk, t->cfg.kdf_log2n, NULL)))
		goto out;
	rc = store_txn(t->store, create_txn, &c, d);
out:
	X509_free(leaf);
	siegel_buf_free(&c.leaf);
	siegel_buf_free(&c.ca);
	siegel_buf_free(&c.root);
	if (c.soft_pem.data)
		siegel_wipe(c.soft_pem.data, c.soft_pem.len);
	siegel_buf_free(&c.soft_pem);
	return rc;
}

static unsigned count_rows(struct tse *t, const char *sql, const char *tss_id)
{
	sqlite3_stmt *st = store_stmt(t->store, sql, NULL);
	unsigned n = 0;
	if (st == NULL)
		return 0;
	sqlite3_bind_text(st, 1, tss_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (unsigned)sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return n;
}

static const char sql_count_clients[] =
	"SELECT count(*) FROM clients WHERE tss_id = ? AND state = 'REGISTERED'";
static const char sql_count_open[] =
	"SELECT count(*) FROM transactions WHERE tss_id = ? AND state = 'ACTIVE'";

int tse_tss_info(struct tse *t, const char *tss_id, struct tse_tss_info *out, struct siegel_diag *d)
{
	struct tss_row r;
	store_lock(t->store);
	int rc = tss_load(t, tss_id, &r, d);
	if (rc) {
		store_unlock(t->store);
		return rc;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", r.id);
	snprintf(out->state, sizeof(out->state), "%s", r.state);
	snprintf(out->description, sizeof(out->description), "%s", r.description);
	out->alg = r.alg;
	out->time_format = r.time_format;
	siegel_hex_encode(out->serial_hex, r.serial, ALG_SERIAL_LEN);
	out->signature_counter = r.sig_counter;
	out->transaction_counter = r.tx_counter;
	out->max_clients = r.max_clients;
	out->max_open_tx = r.max_open_tx;
	out->n_clients = count_rows(t, sql_count_clients, tss_id);
	out->n_open_tx = count_rows(t, sql_count_open, tss_id);
	store_unlock(t->store);
	out->time_set = tss_time_set(t, &r);
	out->time_synced_at = r.has_time ? r.time_synced_at : 0;
	snprintf(out->time_server, sizeof(out->time_server), "%s", r.time_server);
	out->now = tss_now(t, &r);
	return 0;
}

int tse_tss_list(struct tse *t, void (*fn)(void *ctx, const char *tss_id), void *ctx,
	struct siegel_diag *d)
{
	store_lock(t->store);
	sqlite3_stmt *st = store_stmt(t->store, "SELECT id FROM tss ORDER BY id", d);
	int s = SQLITE_ERROR;
	if (st != NULL) {
		while ((s = sqlite3_step(st)) == SQLITE_ROW)
			fn(ctx, (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
	int rc = s == SQLITE_DONE ? 0 : store_fail(t->store, d, "listing TSS");
	store_unlock(t->store);
	return rc;
}

/* ------------------------------------------------------------------ */
/* users                                                                */

struct user_row {
	uint8_t pin[HASH_BLOB], puk[HASH_BLOB];
	size_t pin_len, puk_len;
	int pin_retries, puk_retries;
	int logged_in;
	int64_t logged_in_until;
};

static int user_load(struct tse *t, const char *tss, const char *user, struct user_row *u,
	struct siegel_diag *d)
{
	sqlite3_stmt *st = store_stmt(t->store,
		"SELECT pin_hash, puk_hash, pin_retries, puk_retries, logged_in_until FROM users "
		"WHERE tss_id = ? AND user_id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, tss, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	if (s != SQLITE_ROW) {
		sqlite3_reset(st);
		return s == SQLITE_DONE ? siegel_fail(d, SIEGEL_E_UNKNOWN_USER, "unknown user '%s'", user)
					: store_fail(t->store, d, "loading user");
	}
	memset(u, 0, sizeof(*u));
	u->pin_len = (size_t)sqlite3_column_bytes(st, 0);
	u->puk_len = (size_t)sqlite3_column_bytes(st, 1);
	if (u->pin_len == HASH_BLOB)
		memcpy(u->pin, sqlite3_column_blob(st, 0), HASH_BLOB);
	if (u->puk_len == HASH_BLOB)
		memcpy(u->puk, sqlite3_column_blob(st, 1), HASH_BLOB);
	u->pin_retries = sqlite3_column_int(st, 2);
	u->puk_retries = sqlite3_column_int(st, 3);
	u->logged_in = sqlite3_column_type(st, 4) != SQLITE_NULL;
	u->logged_in_until = sqlite3_column_int64(st, 4);
	sqlite3_reset(st);
	return 0;
}

static int user_set(struct tse *t, const char *tss, const char *user, const char *sql,
	int64_t a, int has_a, struct siegel_diag *d)
{
	sqlite3_stmt *st = store_stmt(t->store, sql, d);
	if (st == NULL)
		return SIEGEL_E_DB;
	if (has_a)
		sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_text(st, 2, tss, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, user, -1, SQLITE_STATIC);
	return store_exec_stmt(t->store, st, d);
}

static const char sql_set_login[] =
	"UPDATE users SET logged_in_until = ?1 WHERE tss_id = ?2 AND user_id = ?3";
static const char sql_set_pin_retries[] =
	"UPDATE users SET pin_retries = ?1 WHERE tss_id = ?2 AND user_id = ?3";
static const char sql_set_puk_retries[] =
	"UPDATE users SET puk_retries = ?1 WHERE tss_id = ?2 AND user_id = ?3";

static enum logmsg_role role_of(const char *user)
{
	if (strcmp(user, TSE_USER_ADMIN) == 0)
		return LOGMSG_ROLE_ADMIN;
	if (strcmp(user, TSE_USER_TIMEADMIN) == 0)
		return LOGMSG_ROLE_TIMEADMIN;
	return LOGMSG_ROLE_UNKNOWN;
}

/* Ends a session: a logOut log (cause 0 user, 1 timeout), then the flag. */
static int log_out_user(struct tse *t, struct tss_row *r, const char *user, int cause_timeout,
	struct siegel_diag *d)
{
	struct siegel_buf sd;
	siegel_buf_init(&sd);
	logmsg_sys_log_out(&sd, user, cause_timeout);
	int rc = tss_system_log(t, r, "logOut", &sd, tss_now(t, r), d);
	siegel_buf_free(&sd);
	if (rc == 0)
		rc = user_set(t, r->id, user,
			"UPDATE users SET logged_in_until = NULL WHERE tss_id = ?2 AND user_id = ?3", 0, 0, d);
	return rc;
}

/* Logs out users whose inactivity timeout passed (a logOut log with cause
 * timeout each). Runs inside the caller's store transaction. */
static int expire_sessions(struct tse *t, struct tss_row *r, struct siegel_diag *d)
{
	static const char *const users[] = { TSE_USER_ADMIN, TSE_USER_TIMEADMIN };
	int64_t now = tss_now(t, r);
	for (size_t i = 0; i < 2; i++) {
		struct user_row u;
		int rc = user_load(t, r->id, users[i], &u, d);
		if (rc)
			return rc;
		if (!u.logged_in || u.logged_in_until > now)
			continue;
		rc = log_out_user(t, r, users[i], 1, d);
		if (rc)
			return rc;
	}
	return 0;
}

/* The TSS may sign (has a key, not disabled). */
static int check_can_sign(const struct tss_row *r, struct siegel_diag *d)
{
	if (strcmp(r->state, "DISABLED") == 0)
		return siegel_fail(d, SIEGEL_E_SE_DISABLED, "TSS '%s' is disabled", r->id);
	if (strcmp(r->state, "CREATED") == 0)
		return siegel_fail(d, SIEGEL_E_STATE, "TSS '%s' has no key yet", r->id);
	return 0;
}

/* Requires an authenticated admin, or (timeadmin_ok) timeAdmin; extends the
 * session. Must run after expire_sessions. */
static int require_role(struct tse *t, struct tss_row *r, int timeadmin_ok, struct siegel_diag *d)
{
	int64_t now = tss_now(t, r);
	static const char *const users[] = { TSE_USER_ADMIN, TSE_USER_TIMEADMIN };
	int any = 0;
	for (size_t i = 0; i < (timeadmin_ok ? 2u : 1u); i++) {
		struct user_row u;
		int rc = user_load(t, r->id, users[i], &u, d);
		if (rc)
			return rc;
		if (u.logged_in && u.logged_in_until > now) {
			rc = user_set(t, r->id, users[i], sql_set_login, now + t->cfg.auth_timeout, 1, d);
			if (rc)
				return rc;
			any = 1;
		}
	}
	if (any)
		return 0;
	if (!timeadmin_ok) {
		struct user_row u;
		if (user_load(t, r->id, TSE_USER_TIMEADMIN, &u, NULL) == 0 && u.logged_in)
			return siegel_fail(d, SIEGEL_E_UNAUTHORIZED,
				"this function needs the admin role; timeAdmin may only update the time");
	}
	return siegel_fail(d, SIEGEL_E_UNAUTHENTICATED, "log in as %s first (authenticateUser)",
		timeadmin_ok ? "admin or timeAdmin" : "admin");
}

/* Generic operation context: the transaction callback sets `result` for an
 * error that must still commit the logs written so far (e.g. a wrong PIN). */
struct op_ctx {
	struct tse *t;
	const char *tss_id;
	struct tss_row row;
	int result;
	const void *args;
	void *out;
};

struct auth_args {
	const char *user, *pin, *puk, *new_pin;
	int remaining;
};

/* Prologue of every call that may sign on behalf of a user: the TSS row,
 * it can sign, and sessions past their inactivity timeout are logged out. */
static int user_op_begin(struct op_ctx *c, struct siegel_diag *d)
{
	int rc = tss_load(c->t, c->tss_id, &c->row, d);
	if (rc == 0)
		rc = check_can_sign(&c->row, d);
	if (rc == 0)
		rc = expire_sessions(c->t, &c->row, d);
	return rc;
}

/* user_op_begin, then the row of user (SIEGEL_E_UNKNOWN_USER if none). */
static int user_op_load(struct op_ctx *c, const char *user, struct user_row *u,
	struct siegel_diag *d)
{
	int rc = user_op_begin(c, d);
	if (rc == 0)
		rc = user_load(c->t, c->tss_id, user, u, d);
	return rc;
}

static int auth_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	(void)s;
	struct op_ctx *c = vctx;
	struct tse *t = c->t;
	struct auth_args *a = (struct auth_args *)c->args;
	int rc = user_op_begin(c, d);
	if (rc)
		return rc;
	int64_t now = tss_now(t, &c->row);
	struct user_row u;
	struct siegel_buf sd;
	siegel_buf_init(&sd);
	rc = user_load(t, c->tss_id, a->user, &u, d);
	if (rc == SIEGEL_E_UNKNOWN_USER) {
		/* The attempt is logged with role unknown (TR-03151 amendment). */
		logmsg_sys_authenticate_user(&sd, a->user, LOGMSG_ROLE_UNKNOWN, 0);
		rc = tss_system_log(t, &c->row, "authenticateUser", &sd, now, d);
		siegel_buf_free(&sd);
		c->result = siegel_fail(d, SIEGEL_E_UNKNOWN_USER, "unknown user '%s' (known: %s, %s)",
			a->user, TSE_USER_ADMIN, TSE_USER_TIMEADMIN);
		return rc;
	}
	if (rc)
		return rc;
	int ok = 0;
	if (u.pin_retries <= 0) {
		c->result = siegel_fail(d, SIEGEL_E_PIN_BLOCKED,
			"the PIN of '%s' is blocked; unblock it with the PUK", a->user);
	} else if (secret_matches(u.pin, u.pin_len, a->pin)) {
		ok = 1;
		a->remaining = TSE_PIN_RETRIES;
		rc = user_set(t, c->tss_id, a->user, sql_set_pin_retries, TSE_PIN_RETRIES, 1, d);
		if (rc == 0)
			rc = user_set(t, c->tss_id, a->user, sql_set_login, now + t->cfg.auth_timeout, 1, d);
	} else {
		a->remaining = u.pin_retries - 1;
		rc = user_set(t, c->tss_id, a->user, sql_set_pin_retries, a->remaining, 1, d);
		c->result = a->remaining > 0
			? siegel_fail(d, SIEGEL_E_AUTH_FAILED, "wrong PIN for '%s', %d %s left", a->user,
				a->remaining, a->remaining == 1 ? "try" : "tries")
			: siegel_fail(d, SIEGEL_E_PIN_BLOCKED,
				"wrong PIN for '%s'; the PIN is now blocked, unblock it with the PUK", a->user);
	}
	if (rc == 0) {
		logmsg_sys_authenticate_user(&sd, a->user, role_of(a->user), ok);
		rc = tss_system_log(t, &c->row, "authenticateUser", &sd, now, NULL);
	}
	siegel_buf_free(&sd);
	return rc;
}

/* Runs fn in a store transaction and returns the operation's result. */
static int run_op(struct tse *t, const char *tss_id, store_txn_fn fn, const void *args, void *out,
	struct siegel_diag *d)
{
	struct op_ctx c;
	memset(&c, 0, sizeof(c));
	c.t = t;
	c.tss_id = tss_id;
	c.args = args;
	c.out = out;
	int rc = tse_check_tss_id(tss_id, d);
	if (rc)
		return rc;
	rc = store_txn(t->store, fn, &c, d);
	return rc ? rc : c.result;
}

int tse_authenticate(struct tse *t, const char *tss_id, const char *user_id, const char *pin,
	int *remaining_out, struct siegel_diag *d)
{
	if (user_id == NULL || pin == NULL)
		return siegel_fail(d, SIEGEL_E_PARAM, "userId and PIN are required");
	if (strlen(user_id) > 64 || strlen(pin) > 64)
		return siegel_fail(d, SIEGEL_E_PARAM, "userId or PIN too long");
	struct auth_args a = { .user = user_id, .pin = pin, .remaining = 0 };
	int rc = run_op(t, tss_id, auth_txn, &a, NULL, d);
	if (remaining_out)
		*remaining_out = a.remaining;
	return rc;
}

static int logout_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	(void)s;
	struct op_ctx *c = vctx;
	struct tse *t = c->t;
	const struct auth_args *a = c->args;
	struct user_row u;
	int rc = user_op_load(c, a->user, &u, d);
	if (rc)
		return rc;
	if (!u.logged_in) {
		c->result = siegel_fail(d, SIEGEL_E_UNAUTHENTICATED, "'%s' is not logged in", a->user);
		return 0;
	}
	return log_out_user(t, &c->row, a->user, 0, d);
}

int tse_logout(struct tse *t, const char *tss_id, const char *user_id, struct siegel_diag *d)
{
	if (user_id == NULL || role_of(user_id) == LOGMSG_ROLE_UNKNOWN)
		return siegel_fail(d, SIEGEL_E_UNKNOWN_USER, "unknown user '%s'", user_id ? user_id : "");
	struct auth_args a = { .user = user_id };
	return run_op(t, tss_id, logout_txn, &a, NULL, d);
}

static int unblock_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	(void)s;
	struct op_ctx *c = vctx;
	struct tse *t = c->t;
	const struct auth_args *a = c->args;
	struct user_row u;
	int rc = user_op_load(c, a->user, &u, d);
	if (rc)
		return rc;
	int result;
	if (u.puk_retries <= 0) {
		c->result = siegel_fail(d, SIEGEL_E_UNBLOCK_FAILED,
			"the PUK of '%s' is blocked after %d wrong entries", a->user, TSE_PUK_RETRIES);
		return 0;
	}
	if (secret_matches(u.puk, u.puk_len, a->puk)) {
		uint8_t h[HASH_BLOB];
		rc = secret_hash(h, a->new_pin, t->cfg.kdf_log2n, NULL);
		if (rc)
			return rc;
		sqlite3_stmt *st = store_stmt(t->store,
			"UPDATE users SET pin_hash = ?, pin_retries = ?, puk_retries = ?, "
			"logged_in_until = NULL WHERE tss_id = ? AND user_id = ?", d);
		if (st == NULL)
			return SIEGEL_E_DB;
		sqlite3_bind_blob(st, 1, h, HASH_BLOB, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, TSE_PIN_RETRIES);
		sqlite3_bind_int(st, 3, TSE_PUK_RETRIES);
		sqlite3_bind_text(st, 4, c->tss_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, a->user, -1, SQLITE_STATIC);
		rc = store_exec_stmt(t->store, st, d);
		if (rc)
			return rc;
		result = 0;
	} else {
		rc = user_set(t, c->tss_id, a->user, sql_set_puk_retries, u.puk_retries - 1, 1, d);
		if (rc)
			return rc;
		result = 1;
		c->result = siegel_fail(d, SIEGEL_E_UNBLOCK_FAILED, "wrong PUK for '%s', %d tries left",
			a->user, u.puk_retries - 1);
	}
	struct siegel_buf sd;
	siegel_buf_init(&sd);
	logmsg_sys_unblock_user(&sd, a->user, result);
	rc = tss_system_log(t, &c->row, "unblockUser", &sd, tss_now(t, &c->row), NULL);
	siegel_buf_free(&sd);
	return rc;
}

int tse_unblock(struct tse *t, const char *tss_id, const char *user_id, const char *puk,
	const char *new_pin, struct siegel_diag *d)
{
	if (user_id == NULL || role_of(user_id) == LOGMSG_ROLE_UNKNOWN)
		return siegel_fail(d, SIEGEL_E_UNKNOWN_USER, "unknown user '%s'", user_id ? user_id : "");
	int rc = check_secret("PUK", puk, 1, d);
	if (rc == 0)
		rc = check_secret("new PIN", new_pin, 5, d);
	if (rc)
		return rc;
	struct auth_args a = { .user = user_id, .puk = puk, .new_pin = new_pin };
	return run_op(t, tss_id, unblock_txn, &a, NULL, d);
}

/* ------------------------------------------------------------------ */
/* certificates from another CA                                         */

struct csr_args {
	struct siegel_buf *out;
};

static int csr_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct op_ctx *c = vctx;
	const struct csr_args *a = c->args;
	int rc = tss_load(c->t, c->tss_id, &c->row, d);
	if (rc == 0)
		rc = check_can_sign(&c->row, d);
	if (rc)
		return rc;
	if (c->row.sig_counter != 0)
		return siegel_fail(d, SIEGEL_E_STATE,
			"TSS '%s' has signed %llu log messages; a certificate request is possible only "
			"before the first one", c->tss_id, (unsigned long long)c->row.sig_counter);
	struct csp_key *key = NULL;
	rc = tss_key(c->t, c->tss_id, c->row.alg, 0, &key, d);
	if (rc == 0)
		rc = cert_make_csr(a->out, key, "siegel TSE", d);
	if (rc)
		return rc;
	/* The request used the key's first signature. */
	sqlite3_stmt *st = store_stmt(s, "UPDATE tss SET sig_counter = 1 WHERE id = ? AND sig_counter = 0", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
	rc = store_exec_stmt(s, st, d);
	if (rc == 0 && store_changes(s) != 1)
		rc = siegel_fail(d, SIEGEL_E_STORAGE, "signature counter changed concurrently");
	return rc;
}

int tse_make_csr(struct tse *t, const char *tss_id, struct siegel_buf *out, struct siegel_diag *d)
{
	struct csr_args a = { out };
	size_t len = out->len;
	int rc = run_op(t, tss_id, csr_txn, &a, NULL, d);
	if (rc)
		out->len = len;
	return rc;
}

struct import_args {
	struct siegel_buf leaf, ca, root;
	STACK_OF(X509) *chain;
};

static int import_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct op_ctx *c = vctx;
	struct import_args *a = (struct import_args *)c->args;
	int rc = tss_load(c->t, c->tss_id, &c->row, d);
	if (rc == 0)
		rc = check_can_sign(&c->row, d);
	if (rc)
		return rc;
	struct csp_key *key = NULL;
	rc = tss_key(c->t, c->tss_id, c->row.alg, 0, &key, d);
	if (rc)
		return rc;
	X509 *leaf = sk_X509_value(a->chain, 0);
	struct siegel_buf der;
	siegel_buf_init(&der);
	rc = cert_to_der(&der, leaf);
	X509 *checked = NULL;
	if (rc == 0)
		rc = cert_check_leaf(&checked, der.data, der.len, key, d);
	X509_free(checked);
	siegel_buf_free(&der);
	if (rc)
		return rc;
	sqlite3_stmt *st = store_stmt(s,
		"UPDATE tss SET cert_leaf = ?, cert_ca = ?, cert_root = ? WHERE id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_blob(st, 1, a->leaf.data, (int)a->leaf.len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, a->ca.data, (int)a->ca.len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, a->root.data, (int)a->root.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->tss_id, -1, SQLITE_STATIC);
	return store_exec_stmt(s, st, d);
}

#define TSE_MAX_CERT_BUNDLE ((size_t)256 << 10)

int tse_import_cert(struct tse *t, const char *tss_id, const uint8_t *pem, size_t len,
	struct siegel_diag *d)
{
	if (len > TSE_MAX_CERT_BUNDLE)
		return siegel_fail(d, SIEGEL_E_LIMIT, "certificate bundle larger than %zu bytes",
			TSE_MAX_CERT_BUNDLE);
	struct import_args a;
	memset(&a, 0, sizeof(a));
	siegel_buf_init(&a.leaf);
	siegel_buf_init(&a.ca);
	siegel_buf_init(&a.root);
	a.chain = sk_X509_new_null();
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	int rc = SIEGEL_E_NOMEM;
	if (a.chain == NULL || bio == NULL)
		goto out;
	X509 *x;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(a.chain, x) <= 0) {
			X509_free(x);
			goto out;
		}
	}
	int n = sk_X509_num(a.chain);
	if (n != 3) {
		rc = siegel_fail(d, SIEGEL_E_PARAM,
			"the bundle has %d PEM certificates; give the TSS leaf, its intermediate and the root, "
			"in this order", n);
		goto out;
	}
	/* each certificate is signed by the next; the root by itself */
	for (int i = 0; i < n; i++) {
		X509 *cert = sk_X509_value(a.chain, i);
		X509 *issuer = sk_X509_value(a.chain, i + 1 < n ? i + 1 : i);
		EVP_PKEY *ik = X509_get0_pubkey(issuer);
		if (ik == NULL || X509_verify(cert, ik) != 1) {
			static const char *const names[] = { "leaf", "intermediate", "root" };
			rc = siegel_fail(d, SIEGEL_E_VERIFY, "the %s certificate is not signed by the %s",
				names[i], i + 1 < n ? names[i + 1] : "root itself");
			goto out;
		}
	}
	if ((rc = cert_to_pem(&a.leaf, sk_X509_value(a.chain, 0))) != 0 ||
	    (rc = cert_to_pem(&a.ca, sk_X509_value(a.chain, 1))) != 0 ||
	    (rc = cert_to_pem(&a.root, sk_X509_value(a.chain, 2))) != 0)
		goto out;
	rc = run_op(t, tss_id, import_txn, &a, NULL, d);
out:
	BIO_free(bio);
	sk_X509_pop_free(a.chain, X509_free);
	siegel_buf_free(&a.leaf);
	siegel_buf_free(&a.ca);
	siegel_buf_free(&a.root);
	ERR_clear_error();
	return rc;
}

/* ------------------------------------------------------------------ */
/* restricted functions                                                 */

/* The state a function that signs on behalf of the cash register needs. */
static int check_initialized(struct tse *t, const struct tss_row *r, int need_time,
	struct siegel_diag *d)
{
	if (strcmp(r->state, "DISABLED") == 0)
		return siegel_fail(d, SIEGEL_E_SE_DISABLED, "TSS '%s' is disabled", r->id);
	if (strcmp(r->state, "INITIALIZED") != 0)
		return siegel_fail(d, SIEGEL_E_SE_NOT_INITIALIZED, "TSS '%s' is not initialized (state %s)",
			r->id, r->state);
	if (need_time && !tss_time_set(t, r))
		return siegel_fail(d, SIEGEL_E_TIME_NOT_SET,
			"the time of TSS '%s' is not set: run updateTime (time servers) first", r->id);
	return 0;
}

#define NEED_NOTHING (-1) /* initialize itself */
#define NEED_INIT 0
#define NEED_INIT_TIME 1

/* Common prologue of restricted functions: load, may sign, sessions, role,
 * and (need >= 0) the TSS initialized, (need 1) with its time set. Errors
 * found after sessions were expired go to c->result so the logOut logs
 * commit. */
static int restricted_begin(struct op_ctx *c, int timeadmin_ok, int need, struct siegel_diag *d)
{
	int rc = user_op_begin(c, d);
	if (rc)
		return rc;
	rc = require_role(c->t, &c->row, timeadmin_ok, d);
	if (rc == 0 && need >= 0)
		rc = check_initialized(c->t, &c->row, need, d);
	if (rc)
		c->result = rc;
	return 0;
}

static int initialize_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct op_ctx *c = vctx;
	int rc = restricted_begin(c, 0, NEED_NOTHING, d);
	if (rc || c->result)
		return rc;
	if (strcmp(c->row.state, "INITIALIZED") == 0) {
		c->result = siegel_fail(d, SIEGEL_E_ALREADY_INITIALIZED, "TSS '%s' is already initialized",
			c->tss_id);
		return 0;
	}
	const char *desc = c->args;
	struct siegel_buf sd;
	siegel_buf_init(&sd);
	logmsg_sys_initialize(&sd, desc);
	rc = tss_system_log(c->t, &c->row, "initialize", &sd, tss_now(c->t, &c->row), d);
	siegel_buf_free(&sd);
	if (rc)
		return rc;
	sqlite3_stmt *st = store_stmt(s,
		"UPDATE tss SET state = 'INITIALIZED', description = ? WHERE id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, desc, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->tss_id, -1, SQLITE_STATIC);
	return store_exec_stmt(s, st, d);
}

int tse_initialize(struct tse *t, const char *tss_id, const char *description,
	struct siegel_diag *d)
{
	if (description == NULL)
		description = "";
	size_t n = strlen(description);
	if (n > 200)
		return siegel_fail(d, SIEGEL_E_PARAM, "description longer than 200 characters");
	for (size_t i = 0; i < n; i++)
		if (!is_printable_string_char((unsigned char)description[i]))
			return siegel_fail(d, SIEGEL_E_PARAM,
				"description has the character 0x%02x, not allowed in a PrintableString",
				(unsigned char)description[i]);
	return run_op(t, tss_id, initialize_txn, description, NULL, d);
}

struct time_args {
	struct sntp_sample sample;
	int64_t host_at_sample;
};

static int update_time_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct op_ctx *c = vctx;
	struct tse *t = c->t;
	const struct time_args *a = c->args;
	int rc = restricted_begin(c, 1, NEED_INIT, d);
	if (rc || c->result)
		return rc;
	/* The new TSE time, as of now. */
	int64_t host = host_now(t);
	int64_t after = a->sample.unix_sec + (host - a->host_at_sample);
	int64_t before = tss_now(t, &c->row);
	/* Never step back before a log already signed. */
	sqlite3_stmt *st = store_stmt(s, "SELECT max(log_time) FROM logs WHERE tss_id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
	int64_t last = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		last = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (after + 1 < last) {
		c->result = siegel_fail(d, SIEGEL_E_INVALID_TIME,
			"time server %s says %lld, which is before the last log message (%lld)",
			a->sample.server, (long long)after, (long long)last);
		return 0;
	}
	struct siegel_buf sd;
	siegel_buf_init(&sd);
	logmsg_sys_update_time(&sd, c->row.time_format, before, after);
	rc = tss_system_log(t, &c->row, "updateTime", &sd, after, d);
	siegel_buf_free(&sd);
	if (rc)
		return rc;
	st = store_stmt(s,
		"UPDATE tss SET time_offset_ns = ?, time_synced_at = ?, time_boot_id = ?, time_server = ? "
		"WHERE id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_int64(st, 1, (after - host) * 1000000000);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_text(st, 3, t->boot_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->sample.server, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, c->tss_id, -1, SQLITE_STATIC);
	rc = store_exec_stmt(s, st, d);
	struct tse_time_result *out = c->out;
	if (rc == 0 && out != NULL) {
		out->before = before;
		out->after = after;
		snprintf(out->server, sizeof(out->server), "%s", a->sample.server);
		out->offset = a->sample.offset;
		out->delay = a->sample.delay;
	}
	return rc;
}

int tse_update_time(struct tse *t, const char *tss_id, struct tse_time_result *out,
	struct siegel_diag *d)
{
	struct tss_row r;
	int rc = tse_check_tss_id(tss_id, d);
	if (rc == 0) {
		store_lock(t->store);
		rc = tss_load(t, tss_id, &r, d);
		store_unlock(t->store);
	}
	if (rc)
		return rc;
	/* Cheap checks before the network round trip. */
	if ((rc = check_can_sign(&r, d)) != 0)
		return rc;
	struct time_args a;
	memset(&a, 0, sizeof(a));
	struct sntp_config sc = {
		.servers = t->cfg.ntp_servers,
		.n_servers = t->cfg.n_ntp_servers,
		.timeout_ms = t->cfg.ntp_timeout_ms,
	};
	rc = sntp_sync(&a.sample, &sc, t->cfg.clock, d);
	if (rc)
		return rc == SIEGEL_E_TIMESYNC || rc == SIEGEL_E_INVALID_TIME ? rc : SIEGEL_E_TIMESYNC;
	a.host_at_sample = host_now(t);
	if (t->cfg.max_host_skew > 0) {
		int64_t skew = a.sample.unix_sec - a.host_at_sample;
		if (skew > t->cfg.max_host_skew || -skew > t->cfg.max_host_skew)
			return siegel_fail(d, SIEGEL_E_INVALID_TIME,
				"time server %s is %lld s away from the host clock (limit %lld s); refusing it",
				a.sample.server, (long long)skew, (long long)t->cfg.max_host_skew);
	}
	return run_op(t, tss_id, update_time_txn, &a, out, d);
}

struct client_args {
	const char *client_id;
	int reg;
};

static int client_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct op_ctx *c = vctx;
	struct tse *t = c->t;
	const struct client_args *a = c->args;
	int rc = restricted_begin(c, 0, NEED_INIT, d);
	if (rc || c->result)
		return rc;
	sqlite3_stmt *st = store_stmt(s,
		"SELECT state FROM clients WHERE tss_id = ? AND client_id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->client_id, -1, SQLITE_STATIC);
	int registered = sqlite3_step(st) == SQLITE_ROW &&
			 strcmp((const char *)sqlite3_column_text(st, 0), "REGISTERED") == 0;
	sqlite3_reset(st);
	if (a->reg && registered) {
		c->result = siegel_fail(d, SIEGEL_E_EXISTS, "client '%s' is already registered",
			a->client_id);
		return 0;
	}
	if (!a->reg && !registered) {
		c->result = siegel_fail(d, SIEGEL_E_CLIENT_NOT_REGISTERED, "client '%s' is not registered",
			a->client_id);
		return 0;
	}
	if (a->reg && count_rows(t, sql_count_clients, c->tss_id) >= c->row.max_clients) {
		c->result = siegel_fail(d, SIEGEL_E_CLIENT_LIMIT,
			"TSS '%s' has the maximum of %u registered clients", c->tss_id, c->row.max_clients);
		return 0;
	}
	struct siegel_buf sd;
	siegel_buf_init(&sd);
	logmsg_sys_client(&sd, a->client_id);
	int64_t now = tss_now(t, &c->row);
	rc = tss_system_log(t, &c->row, a->reg ? "registerClient" : "deregisterClient", &sd, now, d);
	siegel_buf_free(&sd);
	if (rc)
		return rc;
	st = store_stmt(s,
		"INSERT INTO clients (tss_id, client_id, state, changed_at) VALUES (?1, ?2, ?3, ?4) "
		"ON CONFLICT (tss_id, client_id) DO UPDATE SET state = ?3, changed_at = ?4", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->client_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a->reg ? "REGISTERED" : "DEREGISTERED", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	return store_exec_stmt(s, st, d);
}

int tse_register_client(struct tse *t, const char *tss_id, const char *client_id,
	struct siegel_diag *d)
{
	int rc = tse_check_client_id(client_id, d);
	if (rc)
		return rc;
	struct client_args a = { client_id, 1 };
	return run_op(t, tss_id, client_txn, &a, NULL, d);
}

int tse_deregister_client(struct tse *t, const char *tss_id, const char *client_id,
	struct siegel_diag *d)
{
	int rc = tse_check_client_id(client_id, d);
	if (rc)
		return rc;
	struct client_args a = { client_id, 0 };
	return run_op(t, tss_id, client_txn, &a, NULL, d);
}

static int disable_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct op_ctx *c = vctx;
	int rc = restricted_begin(c, 0, NEED_INIT_TIME, d);
	if (rc || c->result)
		return rc;
	int64_t now = tss_now(c->t, &c->row);
	struct siegel_buf sd;
	siegel_buf_init(&sd);
	logmsg_sys_disable(&sd, c->row.time_format, now);
	rc = tss_system_log(c->t, &c->row, "disableSecureElement", &sd, now, d);
	siegel_buf_free(&sd);
	if (rc)
		return rc;
	sqlite3_stmt *st = store_stmt(s,
		"UPDATE tss SET state = 'DISABLED' WHERE id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
	rc = store_exec_stmt(s, st, d);
	if (rc)
		return rc;
	st = store_stmt(s, "UPDATE users SET logged_in_until = NULL WHERE tss_id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
	return store_exec_stmt(s, st, d);
}

int tse_disable(struct tse *t, const char *tss_id, struct siegel_diag *d)
{
	return run_op(t, tss_id, disable_txn, NULL, NULL, d);
}

static int self_test_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct op_ctx *c = vctx;
	struct tse *t = c->t;
	int rc = tss_load(t, c->tss_id, &c->row, d);
	if (rc == 0)
		rc = check_can_sign(&c->row, d);
	if (rc)
		return rc;
	/* Counter consistency: no stored log may be beyond the counter. */
	char detail[160] = "ok";
	int result = 0;
	sqlite3_stmt *st = store_stmt(s,
		"SELECT coalesce(max(counter),0) FROM logs WHERE tss_id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
	int64_t maxc = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		maxc = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	/* Equal, except right after a certificate request (counter 1, no log). */
	if ((uint64_t)maxc != c->row.sig_counter && !(maxc == 0 && c->row.sig_counter == 1)) {
		result = 1;
		snprintf(detail, sizeof(detail), "counter %llu but last stored log %lld",
			(unsigned long long)c->row.sig_counter, (long long)maxc);
	}
	/* The key must match the certificate's serial. */
	struct csp_key *key = NULL;
	rc = tss_key(t, c->tss_id, c->row.alg, 0, &key, d);
	if (rc)
		return rc;
	if (memcmp(key->serial, c->row.serial, ALG_SERIAL_LEN) != 0) {
		result = 1;
		snprintf(detail, sizeof(detail), "the token key does not match the TSS serial number");
	}
	struct siegel_buf sd, der;
	siegel_buf_init(&sd);
	siegel_buf_init(&der);
	logmsg_sys_self_test(&sd, "CSP", result, detail);
	struct logmsg m;
	memset(&m, 0, sizeof(m));
	m.kind = LOGMSG_SYSTEM;
	m.operation_type.p = (const uint8_t *)"selfTest";
	m.operation_type.len = 8;
	m.system_operation_data.p = sd.data;
	m.system_operation_data.len = sd.len;
	rc = sd.err ? SIEGEL_E_NOMEM
		    : tss_append_log(t, &c->row, &m, tss_now(t, &c->row), NULL, &der, d);
	/* The signature just made must verify with the key (sign/verify test). */
	if (rc == 0) {
		struct logmsg back;
		EVP_PKEY *pk = NULL;
		rc = logmsg_parse(&back, der.data, der.len, d);
		if (rc == 0) {
			rc = csp_key_pkey(&pk, key);
			if (rc == 0 && logmsg_verify(&back, pk, 1) != 0)
				rc = siegel_fail(d, SIEGEL_E_SELFTEST,
					"self test: the new signature does not verify");
			EVP_PKEY_free(pk);
			logmsg_clear(&back);
		}
	}
	siegel_buf_free(&sd);
	siegel_buf_free(&der);
	if (rc == 0 && result)
		c->result = siegel_fail(d, SIEGEL_E_SELFTEST, "self test failed: %s", detail);
	return rc;
}

int tse_self_test(struct tse *t, const char *tss_id, struct siegel_diag *d)
{
	return run_op(t, tss_id, self_test_txn, NULL, NULL, d);
}

/* ------------------------------------------------------------------ */
/* transactions                                                         */

void tse_tx_result_init(struct tse_tx_result *r)
{
	memset(r, 0, sizeof(*r));
	siegel_buf_init(&r->log);
	siegel_buf_init(&r->qr);
}

void tse_tx_result_free(struct tse_tx_result *r)
{
	if (r == NULL)
		return;
	siegel_buf_free(&r->log);
	siegel_buf_free(&r->qr);
}

enum tx_op { TX_START, TX_UPDATE, TX_FINISH };

struct tx_args {
	enum tx_op op;
	const char *client_id;
	uint64_t number;
	const char *process_type;
	const uint8_t *pd;
	size_t pd_len;
	const struct tse_tx_hook *hook; /* optional (tse_tx_hooked) */
};

static int tx_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct op_ctx *c = vctx;
	struct tse *t = c->t;
	const struct tx_args *a = c->args;
	struct tse_tx_result *out = c->out;
	uint64_t hook_number = a->number;
	if (a->hook != NULL && a->hook->before != NULL) {
		int hr = a->hook->before(a->hook->ctx, s, &hook_number, d);
		if (hr == TSE_HOOK_DONE)
			return 0;
		if (hr)
			return hr;
	}
	int rc = tss_load(t, c->tss_id, &c->row, d);
	if (rc == 0)
		rc = check_initialized(t, &c->row, 1, d);
	if (rc)
		return rc;
	sqlite3_stmt *st = store_stmt(s,
		"SELECT 1 FROM clients WHERE tss_id = ? AND client_id = ? AND state = 'REGISTERED'", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->client_id, -1, SQLITE_STATIC);
	int registered = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	if (!registered)
		return siegel_fail(d, SIEGEL_E_CLIENT_NOT_REGISTERED,
			"client '%s' is not registered at TSS '%s'", a->client_id, c->tss_id);

	uint64_t number;
	int64_t start_time = 0;
	if (a->op == TX_START) {
		if (count_rows(t, sql_count_open, c->tss_id) >= c->row.max_open_tx)
			return siegel_fail(d, SIEGEL_E_TX_LIMIT,
				"TSS '%s' has the maximum of %u open transactions", c->tss_id,
				c->row.max_open_tx);
		number = c->row.tx_counter + 1;
	} else {
		number = hook_number;
		st = store_stmt(s,
			"SELECT client_id, state, start_time FROM transactions WHERE tss_id = ? AND number = ?",
			d);
		if (st == NULL)
			return SIEGEL_E_DB;
		sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)number);
		int found = sqlite3_step(st) == SQLITE_ROW;
		int same_client = found &&
			strcmp((const char *)sqlite3_column_text(st, 0), a->client_id) == 0;
		int active = found && strcmp((const char *)sqlite3_column_text(st, 1), "ACTIVE") == 0;
		start_time = found ? sqlite3_column_int64(st, 2) : 0;
		sqlite3_reset(st);
		if (!found)
			return siegel_fail(d, SIEGEL_E_NO_TRANSACTION, "transaction %llu does not exist",
				(unsigned long long)number);
		if (!same_client)
			return siegel_fail(d, SIEGEL_E_NO_TRANSACTION,
				"transaction %llu belongs to another client", (unsigned long long)number);
		if (!active)
			return siegel_fail(d, SIEGEL_E_NO_TRANSACTION, "transaction %llu is already finished",
				(unsigned long long)number);
	}

	static const char *const ops[] = { "StartTransaction", "UpdateTransaction", "FinishTransaction" };
	int64_t now = tss_now(t, &c->row);
	struct logmsg m;
	memset(&m, 0, sizeof(m));
	m.kind = LOGMSG_TRANSACTION;
	m.operation_type.p = (const uint8_t *)ops[a->op];
	m.operation_type.len = strlen(ops[a->op]);
	m.client_id.p = (const uint8_t *)a->client_id;
	m.client_id.len = strlen(a->client_id);
	m.process_data.p = a->pd;
	m.process_data.len = a->pd_len;
	if (a->process_type != NULL) {
		m.has_process_type = 1;
		m.process_type.p = (const uint8_t *)a->process_type;
		m.process_type.len = strlen(a->process_type);
	}
	m.transaction_number = number;
	rc = tss_append_log(t, &c->row, &m, now, a->client_id, &out->log, d);
	if (rc)
		return rc;

	if (a->op == TX_START) {
		start_time = now;
		st = store_stmt(s,
			"INSERT INTO transactions (tss_id, number, client_id, state, process_type, start_time, "
			"start_counter, last_time, last_counter, revision) "
			"VALUES (?1, ?2, ?3, 'ACTIVE', ?4, ?5, ?6, ?5, ?6, 1)", d);
		if (st == NULL)
			return SIEGEL_E_DB;
		sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)number);
		sqlite3_bind_text(st, 3, a->client_id, -1, SQLITE_STATIC);
		if (a->process_type)
			sqlite3_bind_text(st, 4, a->process_type, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)c->row.sig_counter);
		rc = store_exec_stmt(s, st, d);
		if (rc)
			return rc;
		st = store_stmt(s, "UPDATE tss SET tx_counter = ? WHERE id = ? AND tx_counter = ?", d);
		if (st == NULL)
			return SIEGEL_E_DB;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)number);
		sqlite3_bind_text(st, 2, c->tss_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)c->row.tx_counter);
		rc = store_exec_stmt(s, st, d);
		if (rc == 0 && store_changes(t->store) != 1)
			rc = siegel_fail(d, SIEGEL_E_STORAGE, "transaction counter changed concurrently");
		if (rc)
			return rc;
	} else {
		st = store_stmt(s,
			"UPDATE transactions SET state = ?1, last_time = ?2, last_counter = ?3, "
			"revision = revision + 1, process_type = coalesce(?4, process_type) "
			"WHERE tss_id = ?5 AND number = ?6", d);
		if (st == NULL)
			return SIEGEL_E_DB;
		sqlite3_bind_text(st, 1, a->op == TX_FINISH ? "FINISHED" : "ACTIVE", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)c->row.sig_counter);
		if (a->process_type)
			sqlite3_bind_text(st, 4, a->process_type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, c->tss_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)number);
		rc = store_exec_stmt(s, st, d);
		if (rc)
			return rc;
	}

	out->transaction_number = number;
	out->signature_counter = c->row.sig_counter;
	out->log_time = now;
	out->start_time = start_time;
	memcpy(out->serial, c->row.serial, ALG_SERIAL_LEN);
	struct logmsg back;
	rc = logmsg_parse(&back, out->log.data, out->log.len, d);
	if (rc)
		return rc;
	if (back.signature.len <= sizeof(out->signature)) {
		memcpy(out->signature, back.signature.p, back.signature.len);
		out->signature_len = back.signature.len;
	}
	out->alg = c->row.alg;
	out->time_format = back.log_time.fmt;
	if (back.log_time.fmt == LOGMSG_TIME_UNIX)
		snprintf(out->log_time_text, sizeof(out->log_time_text), "%lld", (long long)now);
	else
		snprintf(out->log_time_text, sizeof(out->log_time_text), "%s", back.log_time.text);
	if (a->op == TX_FINISH) {
		struct csp_key *key = NULL;
		rc = tss_key(t, c->tss_id, c->row.alg, 0, &key, d);
		if (rc == 0)
			rc = logmsg_qr_code(&out->qr, &back, start_time, 0, key->pub, key->pub_len);
	}
	logmsg_clear(&back);
	if (rc == 0 && a->hook != NULL && a->hook->after != NULL)
		rc = a->hook->after(a->hook->ctx, s, out, d);
	return rc;
}

static int tx_run(struct tse *t, const char *tss_id, const struct tx_args *a,
	struct tse_tx_result *out, struct siegel_diag *d)
{
	int rc = tse_check_client_id(a->client_id, d);
	if (rc)
		return rc;
	if ((rc = check_process_type(a->process_type, d)) != 0)
		return rc;
	if (a->op == TX_FINISH && a->process_type == NULL)
		return siegel_fail(d, SIEGEL_E_PARAM, "finishTransaction needs a processType");
	if (a->pd_len > t->cfg.max_process_data)
		return siegel_fail(d, SIEGEL_E_LIMIT,
			"processData has %zu bytes, the limit is %zu", a->pd_len, t->cfg.max_process_data);
	if (a->pd_len > 0 && a->pd == NULL)
		return SIEGEL_E_INVAL;
	if (a->op != TX_START && a->number == 0 && a->hook == NULL)
		return siegel_fail(d, SIEGEL_E_NO_TRANSACTION, "transaction number 0 does not exist");
	siegel_buf_reset(&out->log);
	siegel_buf_reset(&out->qr);
	rc = run_op(t, tss_id, tx_txn, a, out, d);
	if (rc) {
		siegel_buf_reset(&out->log);
		siegel_buf_reset(&out->qr);
	}
	return rc;
}

int tse_start(struct tse *t, const char *tss_id, const char *client_id, const char *process_type,
	const uint8_t *process_data, size_t pd_len, struct tse_tx_result *out, struct siegel_diag *d)
{
	struct tx_args a = { TX_START, client_id, 0, process_type, process_data, pd_len, NULL };
	return tx_run(t, tss_id, &a, out, d);
}

int tse_update(struct tse *t, const char *tss_id, const char *client_id, uint64_t tx_number,
	const char *process_type, const uint8_t *process_data, size_t pd_len,
	struct tse_tx_result *out, struct siegel_diag *d)
{
	struct tx_args a = { TX_UPDATE, client_id, tx_number, process_type, process_data, pd_len, NULL };
	return tx_run(t, tss_id, &a, out, d);
}

int tse_finish(struct tse *t, const char *tss_id, const char *client_id, uint64_t tx_number,
	const char *process_type, const uint8_t *process_data, size_t pd_len,
	struct tse_tx_result *out, struct siegel_diag *d)
{
	struct tx_args a = { TX_FINISH, client_id, tx_number, process_type, process_data, pd_len, NULL };
	return tx_run(t, tss_id, &a, out, d);
}

int tse_tx_hooked(struct tse *t, const char *tss_id, enum tse_tx_op op, const char *client_id,
	uint64_t tx_number, const char *process_type, const uint8_t *process_data, size_t pd_len,
	const struct tse_tx_hook *hook, struct tse_tx_result *out, struct siegel_diag *d)
{
	if (op != TSE_TX_START && op != TSE_TX_UPDATE && op != TSE_TX_FINISH)
		return siegel_fail(d, SIEGEL_E_INVAL, "unknown transaction operation");
	struct tx_args a = { (enum tx_op)op, client_id, tx_number, process_type, process_data, pd_len,
		hook };
	return tx_run(t, tss_id, &a, out, d);
}

int tse_open_transactions(struct tse *t, const char *tss_id,
	void (*fn)(void *ctx, const struct tse_open_tx *tx), void *ctx, struct siegel_diag *d)
{
	store_lock(t->store);
	sqlite3_stmt *st = store_stmt(t->store,
		"SELECT number, client_id, process_type, start_time, last_time, start_counter, "
		"last_counter FROM transactions WHERE tss_id = ? AND state = 'ACTIVE' ORDER BY number", d);
	if (st == NULL) {
		store_unlock(t->store);
		return SIEGEL_E_DB;
	}
	sqlite3_bind_text(st, 1, tss_id, -1, SQLITE_STATIC);
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		struct tse_open_tx tx = {
			.number = (uint64_t)sqlite3_column_int64(st, 0),
			.client_id = (const char *)sqlite3_column_text(st, 1),
			.process_type = (const char *)sqlite3_column_text(st, 2),
			.start_time = sqlite3_column_int64(st, 3),
			.last_time = sqlite3_column_int64(st, 4),
			.start_counter = (uint64_t)sqlite3_column_int64(st, 5),
			.last_counter = (uint64_t)sqlite3_column_int64(st, 6),
		};
		fn(ctx, &tx);
	}
	sqlite3_reset(st);
	int rc = s == SQLITE_DONE ? 0 : store_fail(t->store, d, "listing open transactions");
	store_unlock(t->store);
	return rc;
}

static int last_log_locked(struct tse *t, const char *tss_id, uint8_t **der_out, size_t *len_out,
	struct siegel_diag *d)
{
	struct tss_row r;
	int rc = tss_load(t, tss_id, &r, d);
	if (rc)
		return rc;
	sqlite3_stmt *st = store_stmt(t->store,
		"SELECT der FROM logs WHERE tss_id = ? ORDER BY counter DESC LIMIT 1", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, tss_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return siegel_fail(d, SIEGEL_E_NO_DATA, "TSS '%s' has no log messages", tss_id);
	}
	size_t n = (size_t)sqlite3_column_bytes(st, 0);
	uint8_t *p = malloc(n ? n : 1);
	if (p == NULL) {
		sqlite3_reset(st);
		return SIEGEL_E_NOMEM;
	}
	memcpy(p, sqlite3_column_blob(st, 0), n);
	sqlite3_reset(st);
	*der_out = p;
	*len_out = n;
	return 0;
}

int tse_last_log(struct tse *t, const char *tss_id, uint8_t **der_out, size_t *len_out,
	struct siegel_diag *d)
{
	store_lock(t->store);
	int rc = last_log_locked(t, tss_id, der_out, len_out, d);
	store_unlock(t->store);
	return rc;
}

/* ------------------------------------------------------------------ */
/* deleteStoredData                                                     */

static int delete_exported_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct op_ctx *c = vctx;
	int rc = restricted_begin(c, 0, NEED_NOTHING, d);
	if (rc || c->result)
		return rc;
	sqlite3_stmt *st = store_stmt(s,
		"SELECT count(*), coalesce(sum(exported), 0) FROM logs WHERE tss_id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return store_fail(s, d, "counting logs");
	}
	int64_t total = sqlite3_column_int64(st, 0), exported = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	if (total == 0) {
		c->result = siegel_fail(d, SIEGEL_E_NO_DATA, "TSS '%s' has no stored logs", c->tss_id);
		return 0;
	}
	if (exported == 0) {
		c->result = siegel_fail(d, SIEGEL_E_UNEXPORTED,
			"none of the %lld stored logs of TSS '%s' has been exported; export first",
			(long long)total, c->tss_id);
		return 0;
	}
	st = store_stmt(s, "DELETE FROM logs WHERE tss_id = ? AND exported = 1", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
	rc = store_exec_stmt(s, st, d);
	if (rc)
		return rc;
	uint64_t n = (uint64_t)store_changes(s);
	if (c->out != NULL)
		*(uint64_t *)c->out = n;
	/* The deletion is itself logged (as real TSEs do: deleteStoredData,
	 * 81 = number of log messages deleted); the newest stored log then
	 * again carries the current counter. */
	struct siegel_buf sd;
	siegel_buf_init(&sd);
	der_put_uint(&sd, 0x81, n);
	rc = tss_system_log(c->t, &c->row, "deleteStoredData", &sd, tss_now(c->t, &c->row), d);
	siegel_buf_free(&sd);
	return rc;
}

int tse_delete_exported(struct tse *t, const char *tss_id, uint64_t *deleted_out,
	struct siegel_diag *d)
{
	uint64_t n = 0;
	int rc = run_op(t, tss_id, delete_exported_txn, NULL, &n, d);
	if (deleted_out != NULL)
		*deleted_out = rc == 0 ? n : 0;
	return rc;
}
