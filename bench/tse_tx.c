/* bench/tse_tx: finished transactions per second (startTransaction +
 * finishTransaction) in-process on a SoftHSM2 P-256 key, against two ceilings
 * measured in the same run on the same machine:
 *   - the SoftHSM2 signing rate (csp_sign: SHA-256 of the input + C_Sign),
 *     two signatures per finished transaction;
 *   - a bare SQLite durable-commit loop (WAL, synchronous=FULL, one log-sized
 *     row per commit).
 * ratio = tx/s / min(sign/s / 2, commit/s). Clients run in threads so the
 * store can batch their commits (group commit).
 *
 * usage: bench_tse_tx [seconds per phase, default 5] [client threads, default 16]
 * Needs chronyd (Debian package chrony) for the time sync. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "csp/csp.h"
#include "harness.h"
#include "harness_ntp.h"
#include "store/store.h"
#include "tse/tse.h"

#define MAX_THREADS 64

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Ceiling 1: signatures per second with the token key. */
static double sign_rate(const char *data, double secs)
{
	struct csp_p11 *p = NULL;
	struct siegel_diag d = { { 0 } };
	uint8_t *pin = NULL;
	size_t pin_len = 0;
	char path[512];
	if (siegel_path_join(path, sizeof(path), data, "token.pin") != 0)
		abort();
	if (siegel_read_file(&pin, &pin_len, path, 64, &d) != 0)
		return 0;
	struct csp_p11_config pc = { .module_path = csp_softhsm_default_module(),
		.token_label = "siegel", .user_pin = (const char *)pin };
	struct csp_key key;
	if (csp_p11_open(&p, &pc, &d) != 0 ||
	    csp_p11_key(&key, p, "siegel-bench-ceiling", SIEGEL_ALG_P256_SHA256, 1, &d) != 0) {
		fprintf(stderr, "sign ceiling: %s\n", d.msg);
		free(pin);
		return 0;
	}
	uint8_t msg[200], sig[ALG_MAX_SIG];
	memset(msg, 0x5a, sizeof(msg));
	size_t n = 0;
	double t0 = now_s(), t1;
	do {
		for (int i = 0; i < 100; i++) {
			size_t sl = 0;
			if (csp_sign(&key, sig, &sl, msg, sizeof(msg)) != 0)
				return 0;
		}
		n += 100;
		t1 = now_s();
	} while (t1 - t0 < secs);
	csp_key_release(&key);
	csp_p11_close(p);
	free(pin);
	return (double)n / (t1 - t0);
}

/* Ceiling 2: durable commits per second of a bare SQLite loop. */
static double commit_rate(const char *dir, double secs, int run)
{
	char path[512], name[32];
	snprintf(name, sizeof(name), "bare%d.db", run);
	if (siegel_path_join(path, sizeof(path), dir, name) != 0)
		abort();
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		"CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL);", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, ?)", -1, &st, NULL) != SQLITE_OK)
		return 0;
	uint8_t row[230];
	memset(row, 0xa5, sizeof(row));
	size_t n = 0;
	double t0 = now_s(), t1;
	do {
		sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
		sqlite3_bind_blob(st, 2, row, sizeof(row), SQLITE_STATIC);
		sqlite3_step(st);
		sqlite3_reset(st);
		if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			return 0;
		n++;
		t1 = now_s();
	} while (t1 - t0 < secs);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return (double)n / (t1 - t0);
}

struct worker {
	struct tse *t;
	char client[32];
	double secs;
	atomic_long *done;
	int failed;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct tse_tx_result r;
	struct siegel_diag d = { { 0 } };
	const char *pd = "Beleg^12.50_0.00_0.00_0.00_0.00^12.50:Bar";
	tse_tx_result_init(&r);
	double t0 = now_s();
	while (now_s() - t0 < w->secs) {
		if (tse_start(w->t, "bench", w->client, " ", NULL, 0, &r, &d) != 0 ||
		    tse_finish(w->t, "bench", w->client, r.transaction_number, "Kassenbeleg-V1",
			    (const uint8_t *)pd, strlen(pd), &r, &d) != 0) {
			fprintf(stderr, "%s: %s\n", w->client, d.msg);
			w->failed = 1;
			break;
		}
		atomic_fetch_add(w->done, 1);
	}
	tse_tx_result_free(&r);
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5.0;
	int threads = argc > 2 ? atoi(argv[2]) : 16;
	if (secs <= 0 || threads < 1 || threads > MAX_THREADS) {
		fprintf(stderr, "usage: %s [seconds] [threads 1..%d]\n", argv[0], MAX_THREADS);
		return 2;
	}
	t_alarm((int)(secs * 4) + 120);
	const char *dir = t_tmpdir();
	char data[512], conf[600];
	struct t_ntp ntp;
	if (siegel_path_join(data, sizeof(data), dir, "data") != 0)
		abort();
	if (t_ntp_start(&ntp, (int)(secs * 4) + 100) != 0)
		return 1;
	struct siegel_diag d = { { 0 } };
	if (siegel_mkdir_p(data, 0700) != 0 || csp_softhsm_prepare(conf, sizeof(conf), data, &d) != 0)
		return 1;
	setenv("SOFTHSM2_CONF", conf, 1);

	const char *list[1] = { ntp.name };
	struct tse_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dir = data;
	cfg.ntp_servers = list;
	cfg.n_ntp_servers = 1;
	struct tse *t = NULL;
	struct tse_tss_params p = { .tss_id = "bench", .admin_pin = "12345", .admin_puk = "123456",
		.time_admin_pin = "12345", .time_admin_puk = "123456",
		.max_clients = MAX_THREADS, .max_open_tx = 1000 };
	if (tse_open(&t, &cfg, &d) != 0 || tse_tss_create(t, &p, &d) != 0 ||
	    tse_authenticate(t, "bench", TSE_USER_ADMIN, "12345", NULL, &d) != 0 ||
	    tse_initialize(t, "bench", "bench", &d) != 0 || tse_update_time(t, "bench", NULL, &d) != 0) {
		fprintf(stderr, "set-up: %s\n", d.msg);
		return 1;
	}
	struct worker w[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	atomic_long done = 0;
	for (int i = 0; i < threads; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].t = t;
		w[i].secs = secs;
		w[i].done = &done;
		snprintf(w[i].client, sizeof(w[i].client), "KASSE-%02d", i);
		if (tse_register_client(t, "bench", w[i].client, &d) != 0) {
			fprintf(stderr, "client: %s\n", d.msg);
			return 1;
		}
	}
	/* Ceilings before and after the transaction phase: on a shared machine
	 * the disk and CPU vary; the spread shows how much. */
	double sign_pre = sign_rate(data, secs / 2);
	double commit_pre = commit_rate(dir, secs / 2, 0);
	uint64_t b0, c0, b1, c1;
	store_txn_stats(tse_store(t), &b0, &c0, NULL);
	double t0 = now_s();
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, worker_run, &w[i]);
	int failed = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		failed |= w[i].failed;
	}
	double elapsed = now_s() - t0;
	store_txn_stats(tse_store(t), &b1, &c1, NULL);
	double tx_rate = (double)atomic_load(&done) / elapsed;
	tse_close(t);

	double sign_post = sign_rate(data, secs / 2);
	double commit_post = commit_rate(dir, secs / 2, 1);
	double sign = (sign_pre + sign_post) / 2, commit = (commit_pre + commit_post) / 2;
	double ceiling = sign / 2 < commit ? sign / 2 : commit;
	printf("bench/tse_tx: %d client threads, %.1f s per phase, %ld CPUs\n", threads, secs,
		sysconf(_SC_NPROCESSORS_ONLN));
	printf("  finished transactions/s (start+finish): %.0f\n", tx_rate);
	printf("  group commit: %.1f store calls per commit\n",
		b1 > b0 ? (double)(c1 - c0) / (double)(b1 - b0) : 0.0);
	printf("  ceiling: SoftHSM2 P-256 signatures/s:   %.0f (before %.0f, after %.0f; /2 = %.0f tx/s)\n",
		sign, sign_pre, sign_post, sign / 2);
	printf("  ceiling: bare SQLite durable commits/s:  %.0f (before %.0f, after %.0f)\n", commit,
		commit_pre, commit_post);
	printf("  ratio to min(sign/2, commit): %.2f (goal >= 0.70)\n", ceiling > 0 ? tx_rate / ceiling : 0);
	t_ntp_stop(&ntp);
	t_cleanup();
	return failed;
}
