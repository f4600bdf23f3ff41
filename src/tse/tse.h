/* tse: the SE API of BSI TR-03151 v1.0.1 over the store, the key holder and
 * the time servers. One `struct tse` serves every TSS of a data directory.
 *
 * Every signing operation is one store transaction: read the counter, sign
 * the log with counter+1, insert the log row, advance the counter, commit.
 * A crash before the commit leaves no trace; the caller gets its answer only
 * after the commit. Errors use the TR-03151 names (siegel_err_name). */
#ifndef SIEGEL_TSE_H
#define SIEGEL_TSE_H

#include <stddef.h>
#include <stdint.h>

#include "alg/alg.h"
#include "base/base.h"
#include "logmsg/logmsg.h"

#define TSE_DEFAULT_MAX_PROCESS_DATA ((size_t)1 << 20)
#define TSE_DEFAULT_MAX_CLIENTS 199
#define TSE_DEFAULT_MAX_OPEN_TX 2000
#define TSE_DEFAULT_AUTH_TIMEOUT 900          /* s of inactivity before auto-logout */
#define TSE_DEFAULT_TIME_VALID_FOR 86400      /* s a time sync stays valid */
#define TSE_DEFAULT_MAX_HOST_SKEW 3600        /* s the time server may differ from the host */
#define TSE_PIN_RETRIES 3
#define TSE_PUK_RETRIES 10
#define TSE_MAX_ID 64                         /* tssId length */

struct tse_config {
	const char *data_dir;          /* siegel.db, tokens/, ca/ live here */
	const char *key_backend;       /* "pkcs11" (default) or "soft" (tests only) */
	const char *p11_module;        /* default: the SoftHSM2 module */
	const char *token_label;       /* default "siegel" */
	const char *token_pin;         /* default: <data_dir>/token.pin, made on first run */
	const char *const *ntp_servers;/* default: ptbtime1/2/3.ptb.de */
	size_t n_ntp_servers;
	int ntp_timeout_ms;
	int64_t max_host_skew;         /* 0 = default, <0 = no check */
	int64_t time_valid_for;
	int64_t auth_timeout;
	size_t max_process_data;
	int kdf_log2n;                 /* scrypt cost for PIN/PUK hashes, default 14 */
	const struct siegel_clock *clock; /* default: system clock */
};

struct tse;

int tse_open(struct tse **out, const struct tse_config *cfg, struct siegel_diag *d) SIEGEL_WUR;
void tse_close(struct tse *t);

/* ---- TSS lifecycle ---- */
struct tse_tss_params {
	const char *tss_id;            /* [A-Za-z0-9._-]{1,64} */
	enum siegel_alg alg;           /* 0 = P-256 */
	enum logmsg_time_format time_format;
	const char *admin_pin, *admin_puk;          /* PIN 5..32, PUK 6..32 chars */
	const char *time_admin_pin, *time_admin_puk;
	unsigned max_clients, max_open_tx;          /* 0 = defaults */
};

struct tse_tss_info {
	char id[TSE_MAX_ID + 1];
	char state[16];                /* CREATED UNINITIALIZED INITIALIZED DISABLED */
	char description[256];
	enum siegel_alg alg;
	enum logmsg_time_format time_format;
	char serial_hex[2 * ALG_SERIAL_LEN + 1];
	uint64_t signature_counter;
	uint64_t transaction_counter;
	unsigned n_clients, max_clients;
	unsigned n_open_tx, max_open_tx;
	int time_set;
	int64_t time_synced_at;        /* TSE time of the last sync, 0 = never */
	char time_server[256];
	int64_t now;                   /* TSE time now (host time + offset) */
};

/* Creates the TSS: key pair in the token (label "siegel-tss-<id>"), leaf
 * certificate from the test CA, admin and timeAdmin credentials. State
 * UNINITIALIZED afterwards. */
int tse_tss_create(struct tse *t, const struct tse_tss_params *p, struct siegel_diag *d) SIEGEL_WUR;
int tse_tss_info(struct tse *t, const char *tss_id, struct tse_tss_info *out,
	struct siegel_diag *d) SIEGEL_WUR;
/* Calls fn for every TSS id. */
int tse_tss_list(struct tse *t, void (*fn)(void *ctx, const char *tss_id), void *ctx,
	struct siegel_diag *d) SIEGEL_WUR;

/* A PKCS#10 request for the TSS key (PEM appended to out), for a CA of the
 * operator's choice. Signing it is the key's first signature (counter 1, as
 * TR-03151-1 2.1.4 allows), so it is possible only before the first log. */
int tse_make_csr(struct tse *t, const char *tss_id, struct siegel_buf *out,
	struct siegel_diag *d) SIEGEL_WUR;
/* Replaces the test-CA chain by a CA-issued one: a PEM bundle with the leaf
 * for the TSS key first, then its intermediate and root. The leaf must hold
 * the TSS key; each certificate must be signed by the next. */
int tse_import_cert(struct tse *t, const char *tss_id, const uint8_t *pem, size_t len,
	struct siegel_diag *d) SIEGEL_WUR;

/* ---- users (TR-03151 4.2: roles admin and timeAdmin) ---- */
#define TSE_USER_ADMIN "admin"
#define TSE_USER_TIMEADMIN "timeAdmin"

/* authenticateUser: logs the attempt. remaining_out (may be NULL) gets the
 * retries left. ErrorAuthenticationFailed, ErrorPinIsBlocked, ErrorUnknownUserId. */
int tse_authenticate(struct tse *t, const char *tss_id, const char *user_id, const char *pin,
	int *remaining_out, struct siegel_diag *d) SIEGEL_WUR;
int tse_logout(struct tse *t, const char *tss_id, const char *user_id, struct siegel_diag *d) SIEGEL_WUR;
int tse_unblock(struct tse *t, const char *tss_id, const char *user_id, const char *puk,
	const char *new_pin, struct siegel_diag *d) SIEGEL_WUR;

/* ---- restricted functions (admin; updateTime also timeAdmin) ---- */
int tse_initialize(struct tse *t, const char *tss_id, const char *description,
	struct siegel_diag *d) SIEGEL_WUR;
struct tse_time_result {
	int64_t before, after;
	char server[256];
	double offset, delay;
};
/* updateTime: asks the configured time servers (SNTP); never takes a time
 * from the caller. */
int tse_update_time(struct tse *t, const char *tss_id, struct tse_time_result *out,
	struct siegel_diag *d) SIEGEL_WUR;
int tse_register_client(struct tse *t, const char *tss_id, const char *client_id,
	struct siegel_diag *d) SIEGEL_WUR;
int tse_deregister_client(struct tse *t, const char *tss_id, const char *client_id,
	struct siegel_diag *d) SIEGEL_WUR;
int tse_disable(struct tse *t, const char *tss_id, struct siegel_diag *d) SIEGEL_WUR;
/* selfTest: checks key, counters and database; logs the result. */
int tse_self_test(struct tse *t, const char *tss_id, struct siegel_diag *d) SIEGEL_WUR;

/* ---- transactions ---- */
struct tse_tx_result {
	uint64_t transaction_number;
	uint64_t signature_counter;
	int64_t log_time;
	char log_time_text[32];        /* as in the log: decimal unix, UTCTime or GeneralizedTime */
	int64_t start_time;
	uint8_t serial[ALG_SERIAL_LEN];
	uint8_t signature[ALG_MAX_SIG];
	size_t signature_len;
	struct siegel_buf log;         /* the DER log message */
	struct siegel_buf qr;          /* finish: DSFinV-K QR string, NUL-terminated */
	enum siegel_alg alg;           /* the signature algorithm of the TSS */
	enum logmsg_time_format time_format; /* of the log's time (log_time_text) */
};
void tse_tx_result_init(struct tse_tx_result *r);
void tse_tx_result_free(struct tse_tx_result *r);

/* process_type may be NULL (element absent) except for finish. */
int tse_start(struct tse *t, const char *tss_id, const char *client_id, const char *process_type,
	const uint8_t *process_data, size_t pd_len, struct tse_tx_result *out,
	struct siegel_diag *d) SIEGEL_WUR;
int tse_update(struct tse *t, const char *tss_id, const char *client_id, uint64_t tx_number,
	const char *process_type, const uint8_t *process_data, size_t pd_len,
	struct tse_tx_result *out, struct siegel_diag *d) SIEGEL_WUR;
int tse_finish(struct tse *t, const char *tss_id, const char *client_id, uint64_t tx_number,
	const char *process_type, const uint8_t *process_data, size_t pd_len,
	struct tse_tx_result *out, struct siegel_diag *d) SIEGEL_WUR;

/* ---- transactions with an idempotency hook (the HTTP layer) ----
 * The hook runs inside the store transaction of the call, so what it reads
 * and writes commits together with the signature or not at all. */
enum tse_tx_op { TSE_TX_START = 0, TSE_TX_UPDATE = 1, TSE_TX_FINISH = 2 };
#define TSE_HOOK_DONE 1
struct store;
struct tse_tx_hook {
	/* First, before anything is read or signed. May set *tx_number (update,
	 * finish). Returns 0 to go on, TSE_HOOK_DONE to end the call successfully
	 * without signing (out stays empty), or an error (nothing changes). */
	int (*before)(void *ctx, struct store *s, uint64_t *tx_number, struct siegel_diag *d);
	/* After the log is stored and out is complete; an error undoes the call. */
	int (*after)(void *ctx, struct store *s, const struct tse_tx_result *out,
		struct siegel_diag *d);
	void *ctx;
};
/* tse_start/update/finish with a hook (may be NULL); with a hook, tx_number
 * may be 0 for update/finish when the hook's before sets it. */
int tse_tx_hooked(struct tse *t, const char *tss_id, enum tse_tx_op op, const char *client_id,
	uint64_t tx_number, const char *process_type, const uint8_t *process_data, size_t pd_len,
	const struct tse_tx_hook *hook, struct tse_tx_result *out, struct siegel_diag *d) SIEGEL_WUR;

struct tse_open_tx {
	uint64_t number;
	const char *client_id;
	const char *process_type;
	int64_t start_time, last_time;
	uint64_t start_counter, last_counter;
};
int tse_open_transactions(struct tse *t, const char *tss_id,
	void (*fn)(void *ctx, const struct tse_open_tx *tx), void *ctx, struct siegel_diag *d) SIEGEL_WUR;

/* readLogMessage: the last log message (DER, malloc'd). */
int tse_last_log(struct tse *t, const char *tss_id, uint8_t **der_out, size_t *len_out,
	struct siegel_diag *d) SIEGEL_WUR;

/* Validation helpers shared with the HTTP layer. */
int tse_check_client_id(const char *client_id, struct siegel_diag *d) SIEGEL_WUR;
int tse_check_tss_id(const char *tss_id, struct siegel_diag *d) SIEGEL_WUR;

/* deleteStoredData (TR-03151 v1.0.1): deletes the log messages that have
 * been exported (marked by src/export) and keeps every other one; needs
 * admin. deleted_out (optional) gets the number deleted. When nothing was
 * exported yet but logs exist: ErrorUnexportedStoredData, nothing deleted;
 * no logs at all: ErrorNoDataAvailable. The deletion writes a system log
 * deleteStoredData (81 = number deleted). */
int tse_delete_exported(struct tse *t, const char *tss_id, uint64_t *deleted_out,
	struct siegel_diag *d) SIEGEL_WUR;

/* The store, for export and tests (borrowed). */
struct store *tse_store(struct tse *t);

#endif
