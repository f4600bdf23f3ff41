/* Shared set-up for the TSE tests: a data directory with a SoftHSM2 token,
 * a chronyd on loopback, and a helper that digests the whole store so a test
 * can prove that a rejected call changed nothing. Header-only, test code. */
#ifndef SIEGEL_TEST_TSE_FIXTURE_H
#define SIEGEL_TEST_TSE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "csp/csp.h"
#include "harness.h"
#include "harness_ntp.h"
#include "store/store.h"
#include "tse/tse.h"

#define FX_ADMIN_PIN "12345"
#define FX_ADMIN_PUK "123456"
#define FX_TA_PIN "54321"
#define FX_TA_PUK "654321"

/* Points SoftHSM2 at the token store of the data directory dir, as the CLI does. */
static inline void fx_softhsm(const char *dir)
{
	char conf[512];
	struct siegel_diag d = { { 0 } };
	if (siegel_mkdir_p(dir, 0700) != 0 || csp_softhsm_prepare(conf, sizeof(conf), dir, &d) != 0) {
		fprintf(stderr, "softhsm set-up failed: %s\n", d.msg);
		exit(99);
	}
	setenv("SOFTHSM2_CONF", conf, 1);
}

static inline void fx_config(struct tse_config *cfg, const char *data_dir,
	const char *const *ntp, size_t n_ntp)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->data_dir = data_dir;
	cfg->ntp_servers = ntp;
	cfg->n_ntp_servers = n_ntp;
	cfg->ntp_timeout_ms = 800;
	cfg->kdf_log2n = 10; /* cheaper PIN hashing in tests */
}

static inline int fx_create(struct tse *t, const char *id, enum siegel_alg alg,
	enum logmsg_time_format tf, unsigned max_clients, unsigned max_open)
{
	struct tse_tss_params p = {
		.tss_id = id, .alg = alg, .time_format = tf,
		.admin_pin = FX_ADMIN_PIN, .admin_puk = FX_ADMIN_PUK,
		.time_admin_pin = FX_TA_PIN, .time_admin_puk = FX_TA_PUK,
		.max_clients = max_clients, .max_open_tx = max_open,
	};
	struct siegel_diag d = { { 0 } };
	int rc = tse_tss_create(t, &p, &d);
	if (rc)
		fprintf(stderr, "create %s: %s\n", id, d.msg);
	return rc;
}

/* create + auth + initialize + updateTime + register clients */
static inline int fx_ready(struct tse *t, const char *id, enum siegel_alg alg,
	enum logmsg_time_format tf, const char *const *clients, size_t n_clients)
{
	struct siegel_diag d = { { 0 } };
	int rc = fx_create(t, id, alg, tf, 0, 0);
	if (rc == 0)
		rc = tse_authenticate(t, id, TSE_USER_ADMIN, FX_ADMIN_PIN, NULL, &d);
	if (rc == 0)
		rc = tse_initialize(t, id, "siegel test", &d);
	if (rc == 0)
		rc = tse_update_time(t, id, NULL, &d);
	for (size_t i = 0; rc == 0 && i < n_clients; i++)
		rc = tse_register_client(t, id, clients[i], &d);
	if (rc)
		fprintf(stderr, "ready %s: %s: %s\n", id, siegel_err_name(rc), d.msg);
	return rc;
}

/* SHA-256 over every row of every table: equal digests = unchanged store. */
static inline void fx_store_digest(struct store *s, uint8_t out[32])
{
	static const char *const q[] = {
		"SELECT * FROM tss ORDER BY id",
		"SELECT * FROM users ORDER BY tss_id, user_id",
		"SELECT * FROM clients ORDER BY tss_id, client_id",
		"SELECT * FROM transactions ORDER BY tss_id, number",
		"SELECT * FROM logs ORDER BY tss_id, counter",
	};
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(store_db(s), q[i], -1, &st, NULL) != SQLITE_OK)
			exit(99);
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(st); c++) {
				const void *b = sqlite3_column_blob(st, c);
				int n = sqlite3_column_bytes(st, c);
				EVP_DigestUpdate(md, &n, sizeof(n));
				if (b != NULL && n > 0)
					EVP_DigestUpdate(md, b, (size_t)n);
			}
		}
		sqlite3_finalize(st);
	}
	EVP_DigestFinal_ex(md, out, NULL);
	EVP_MD_CTX_free(md);
}

#endif
