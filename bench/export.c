/* bench/export: export and verify-export of N log messages (default 1,000,000).
 *
 *   bench_export [N] [THREADS]
 *
 * 1. Generates a TSS (software key, test CA) and N really signed log messages
 *    (Start/Finish pairs of two clients plus a system log every 1000), signed
 *    with the OpenSSL software key in two threads and inserted straight into
 *    the store (signing N messages through SoftHSM would take hours).
 * 2. Runs the export in a fresh child process (this binary, mode "export"):
 *    seconds, logs/s and the child's peak RSS (getrusage ru_maxrss; goal
 *    < 64 MB).
 * 3. Runs verify-export in a fresh child process (mode "verify") with THREADS
 *    verification threads (default 2) and measures, in the same process, the
 *    raw OpenSSL ECDSA P-256 verify rate on one thread (EVP_PKEY_verify over a
 *    SHA-256 digest); prints both and their ratio (goal >= 0.7).
 * Not run by make test. */
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "csp/csp.h"
#include "export/export.h"
#include "exportcheck/exportcheck.h"
#include "harness.h"
#include "logmsg/logmsg.h"
#include "store/store.h"
#include "tse/tse.h"

#define TSS "bench"
#define GEN_THREADS 2
#define CHUNK 20000

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static struct tse *open_tse(const char *dir)
{
	struct tse_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dir = dir;
	cfg.key_backend = "soft";
	cfg.kdf_log2n = 10;
	struct tse *t = NULL;
	struct siegel_diag d = { { 0 } };
	if (tse_open(&t, &cfg, &d) != 0) {
		fprintf(stderr, "tse_open: %s\n", d.msg);
		exit(1);
	}
	return t;
}

/* ---- generation ---- */

struct gen_job {
	struct csp_key *key;
	uint64_t first, count;  /* counters first .. first+count-1 */
	int64_t t0;
	struct siegel_buf der;  /* concatenated messages */
	size_t *lens;
	int *kinds;
	uint64_t *txno;
	int64_t *times;
};

static void *gen_worker(void *arg)
{
	struct gen_job *j = arg;
	static const char *const clients[] = { "KASSE-01", "KASSE 02" };
	static const char pd[] = "Beleg^12.50_0.00_0.00_0.00_0.00^12.50:Bar";
	static const uint8_t sysdata[] = { 0x81, 0x04, 0x66, 0x00, 0x00, 0x00, 0x82, 0x04, 0x66,
		0x00, 0x00, 0x01 };
	for (uint64_t i = 0; i < j->count; i++) {
		uint64_t c = j->first + i;
		struct logmsg m;
		memset(&m, 0, sizeof(m));
		int64_t tm = j->t0 + (int64_t)(c / 4);
		if (c % 1000 == 1) {
			m.kind = LOGMSG_SYSTEM;
			m.operation_type.p = (const uint8_t *)"updateTime";
			m.operation_type.len = 10;
			m.system_operation_data.p = sysdata;
			m.system_operation_data.len = sizeof(sysdata);
		} else {
			/* counters 2k / 2k+1 -> Start / Finish of transaction k */
			int start = c % 2 == 0;
			m.kind = LOGMSG_TRANSACTION;
			m.operation_type.p = (const uint8_t *)(start ? "StartTransaction" : "FinishTransaction");
			m.operation_type.len = start ? 16 : 17;
			m.client_id.p = (const uint8_t *)clients[(c / 2) % 2];
			m.client_id.len = strlen(clients[(c / 2) % 2]);
			m.has_process_type = 1;
			m.process_type.p = (const uint8_t *)"Kassenbeleg-V1";
			m.process_type.len = 14;
			if (!start) {
				m.process_data.p = (const uint8_t *)pd;
				m.process_data.len = sizeof(pd) - 1;
			}
			m.transaction_number = c / 2;
		}
		m.serial_number.p = j->key->serial;
		m.serial_number.len = ALG_SERIAL_LEN;
		m.alg = j->key->alg;
		m.signature_counter = c;
		if (logmsg_time_set(&m.log_time, LOGMSG_TIME_UNIX, tm) != 0)
			abort();
		size_t before = j->der.len;
		struct siegel_diag d = { { 0 } };
		if (logmsg_encode(&j->der, &m, csp_sign, j->key, &d) != 0) {
			fprintf(stderr, "encode: %s\n", d.msg);
			abort();
		}
		j->lens[i] = j->der.len - before;
		j->kinds[i] = (int)m.kind;
		j->txno[i] = m.kind == LOGMSG_TRANSACTION ? m.transaction_number : 0;
		j->times[i] = tm;
	}
	return NULL;
}

static int generate(const char *dir, uint64_t n)
{
	struct tse *t = open_tse(dir);
	struct siegel_diag d = { { 0 } };
	struct tse_tss_params p = { .tss_id = TSS, .alg = SIEGEL_ALG_P256_SHA256,
		.admin_pin = "12345", .admin_puk = "123456", .time_admin_pin = "12345",
		.time_admin_puk = "123456" };
	if (tse_tss_create(t, &p, &d) != 0) {
		fprintf(stderr, "create: %s\n", d.msg);
		return 1;
	}
	struct store *s = tse_store(t);
	sqlite3 *db = store_db(s);
	store_lock(s);
	sqlite3_stmt *st = NULL;
	sqlite3_prepare_v2(db, "SELECT soft_key FROM tss WHERE id = ?", -1, &st, NULL);
	sqlite3_bind_text(st, 1, TSS, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		abort();
	BIO *bio = BIO_new_mem_buf(sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0));
	EVP_PKEY *pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	sqlite3_finalize(st);
	store_unlock(s);
	struct csp_key keys[GEN_THREADS];
	for (int i = 0; i < GEN_THREADS; i++)
		if (pk == NULL || csp_soft_load_pkey(&keys[i], pk) != 0)
			abort();
	EVP_PKEY_free(pk);

	double t0 = now_s();
	store_lock(s);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "INSERT INTO logs (tss_id, counter, kind, log_time, tx_number, "
		"client_id, operation, der) VALUES (?, ?, ?, ?, ?, NULL, 'x', ?)", -1, &st, NULL);
	int64_t base = (int64_t)time(NULL) + 1; /* after the certificates were issued */
	for (uint64_t first = 1; first <= n; first += CHUNK * GEN_THREADS) {
		struct gen_job jobs[GEN_THREADS];
		pthread_t th[GEN_THREADS];
		for (int k = 0; k < GEN_THREADS; k++) {
			struct gen_job *j = &jobs[k];
			memset(j, 0, sizeof(*j));
			j->key = &keys[k];
			j->first = first + (uint64_t)k * CHUNK;
			j->count = j->first > n ? 0 : (n - j->first + 1 < CHUNK ? n - j->first + 1 : CHUNK);
			j->t0 = base;
			siegel_buf_init(&j->der);
			j->lens = calloc(CHUNK, sizeof(size_t));
			j->kinds = calloc(CHUNK, sizeof(int));
			j->txno = calloc(CHUNK, sizeof(uint64_t));
			j->times = calloc(CHUNK, sizeof(int64_t));
			pthread_create(&th[k], NULL, gen_worker, j);
		}
		for (int k = 0; k < GEN_THREADS; k++) {
			pthread_join(th[k], NULL);
			struct gen_job *j = &jobs[k];
			size_t off = 0;
			for (uint64_t i = 0; i < j->count; i++) {
				sqlite3_reset(st);
				sqlite3_bind_text(st, 1, TSS, -1, SQLITE_STATIC);
				sqlite3_bind_int64(st, 2, (sqlite3_int64)(j->first + i));
				sqlite3_bind_int(st, 3, j->kinds[i]);
				sqlite3_bind_int64(st, 4, j->times[i]);
				if (j->txno[i])
					sqlite3_bind_int64(st, 5, (sqlite3_int64)j->txno[i]);
				else
					sqlite3_bind_null(st, 5);
				sqlite3_bind_blob(st, 6, j->der.data + off, (int)j->lens[i], SQLITE_STATIC);
				if (sqlite3_step(st) != SQLITE_DONE)
					abort();
				off += j->lens[i];
			}
			siegel_buf_free(&j->der);
			free(j->lens);
			free(j->kinds);
			free(j->txno);
			free(j->times);
		}
	}
	sqlite3_finalize(st);
	char sql[128];
	snprintf(sql, sizeof(sql), "UPDATE tss SET sig_counter = %" PRIu64 " WHERE id = '" TSS "'", n);
	sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	store_unlock(s);
	for (int i = 0; i < GEN_THREADS; i++)
		csp_key_release(&keys[i]);
	tse_close(t);
	printf("generated %" PRIu64 " signed logs in %.1f s\n", n, now_s() - t0);
	return 0;
}

/* ---- child: export ---- */

static int run_export(const char *dir)
{
	struct tse *t = open_tse(dir);
	char path[4096];
	snprintf(path, sizeof(path), "%s/export.tar", dir);
	struct export_result r;
	struct siegel_diag d = { { 0 } };
	double t0 = now_s();
	int rc = export_to_file(&r, t, TSS, NULL, path, (int64_t)time(NULL), &d);
	double dt = now_s() - t0;
	tse_close(t);
	if (rc) {
		fprintf(stderr, "export: %s\n", d.msg);
		return 1;
	}
	printf("export:        %" PRIu64 " logs, %.1f MB in %.2f s = %.0f logs/s, peak RSS %.1f MB "
		"(goal < 64 MB)\n", r.logs, (double)r.bytes / 1e6, dt, (double)r.logs / dt,
		(double)peak_rss_kb() / 1024.0);
	return 0;
}

/* ---- child: verify-export and the raw verify rate ---- */

static double raw_verify_rate(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	uint8_t dig[32], sig[80];
	for (int i = 0; i < 32; i++)
		dig[i] = (uint8_t)i;
	size_t sl = sizeof(sig);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	EVP_PKEY_sign_init(c);
	EVP_PKEY_sign(c, sig, &sl, dig, 32);
	EVP_PKEY_CTX_free(c);
	int n = 0;
	double t0 = now_s(), dt;
	do {
		for (int i = 0; i < 500; i++) {
			c = EVP_PKEY_CTX_new(k, NULL);
			EVP_PKEY_verify_init(c);
			if (EVP_PKEY_verify(c, sig, sl, dig, 32) != 1)
				abort();
			EVP_PKEY_CTX_free(c);
		}
		n += 500;
		dt = now_s() - t0;
	} while (dt < 3.0);
	EVP_PKEY_free(k);
	return n / dt;
}

static int run_verify(const char *dir, int threads)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/export.tar", dir);
	struct exportcheck_opts o;
	memset(&o, 0, sizeof(o));
	o.threads = threads;
	struct exportcheck_report *r = NULL;
	struct siegel_diag d = { { 0 } };
	double t0 = now_s();
	int rc = exportcheck_file(&r, path, &o, &d);
	double dt = now_s() - t0;
	if (rc) {
		fprintf(stderr, "verify-export: %s\n", d.msg);
		return 1;
	}
	double rate = (double)r->messages / dt;
	double raw = raw_verify_rate();
	printf("verify-export: %" PRIu64 " logs (%" PRIu64 " valid, result %s) in %.2f s = %.0f logs/s "
		"with %d thread%s, peak RSS %.1f MB\n", r->messages, r->valid_signatures,
		r->ok ? "ok" : "FAILED", dt, rate, threads, threads == 1 ? "" : "s",
		(double)peak_rss_kb() / 1024.0);
	printf("raw OpenSSL ECDSA P-256 verify: %.0f/s on 1 thread; ratio %.2f (goal >= 0.7)\n", raw,
		rate / raw);
	for (size_t i = 0; i < r->n_errors && i < 5; i++)
		printf("  error: %s: %s\n", r->errors[i].member, r->errors[i].problem);
	int ok = r->ok;
	exportcheck_free(r);
	return ok ? 0 : 1;
}

static int child(const char *self, const char *mode, const char *dir, const char *arg)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execl(self, self, mode, dir, arg, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "export") == 0)
		return run_export(argv[2]);
	if (argc >= 4 && strcmp(argv[1], "verify") == 0)
		return run_verify(argv[2], atoi(argv[3]));
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	const char *threads = argc > 2 ? argv[2] : "2";
	if (n < 2) {
		fprintf(stderr, "usage: bench_export [N >= 2] [THREADS]\n");
		return 2;
	}
	char dir[] = "/tmp/siegel-bench-export-XXXXXX";
	if (mkdtemp(dir) == NULL)
		return 1;
	int rc = generate(dir, n);
	if (rc == 0)
		rc = child(argv[0], "export", dir, "");
	if (rc == 0)
		rc = child(argv[0], "verify", dir, threads);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return rc;
}
