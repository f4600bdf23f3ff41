/* Benchmark: finished transactions per second over HTTPS (keep-alive, one
 * libcurl easy handle per client thread) against the in-process rate
 * (threads calling tse_start + tse_finish directly) measured in the same run
 * on the same SoftHSM2 token and store.
 *
 *   bench_http_tx [seconds per phase (default 5)] [clients (default 32)]
 *
 * Each finished transaction = PUT revision 1 (ACTIVE) + PUT revision 2
 * (FINISHED), i.e. two signatures. Latency is per request. Needs chronyd
 * (updateTime before signing). Prints the rates, p50/p99 and the ratio. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/http/http_client.h"
#include "../tests/tse/tse_fixture.h"
#include "http/http.h"
#include "tenant/tenant.h"

#define MAX_CLIENTS 256
#define MAX_SAMPLES (1u << 20)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct shared {
	struct tse *t;
	double secs;
	int port;
	char cafile[1024];
	char token[128];
	atomic_uint_fast64_t done, errors;
	atomic_uint n_samples;
	float *samples_ms;
	atomic_int go;
};

struct worker {
	struct shared *sh;
	int id;
};

static void *inproc_worker(void *v)
{
	struct worker *w = v;
	struct shared *sh = w->sh;
	char client[32];
	snprintf(client, sizeof(client), "BENCH-%03d", w->id);
	struct tse_tx_result r;
	tse_tx_result_init(&r);
	double end = now_s() + sh->secs;
	while (now_s() < end) {
		struct siegel_diag d = { { 0 } };
		int rc = tse_start(sh->t, "bench-inproc", client, "Kassenbeleg-V1", NULL, 0, &r, &d);
		if (rc == 0)
			rc = tse_finish(sh->t, "bench-inproc", client, r.transaction_number,
				"Kassenbeleg-V1", (const uint8_t *)"Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar",
				38, &r, &d);
		if (rc) {
			atomic_fetch_add(&sh->errors, 1);
			fprintf(stderr, "in-process: %s: %s\n", siegel_err_name(rc), d.msg);
			break;
		}
		atomic_fetch_add(&sh->done, 1);
	}
	tse_tx_result_free(&r);
	return NULL;
}

static void sample(struct shared *sh, double ms)
{
	unsigned i = atomic_fetch_add(&sh->n_samples, 1);
	if (i < MAX_SAMPLES)
		sh->samples_ms[i] = (float)ms;
}

static void *http_worker(void *v)
{
	struct worker *w = v;
	struct shared *sh = w->sh;
	struct hc c;
	hc_init(&c, sh->port, sh->cafile);
	snprintf(c.token, sizeof(c.token), "%s", sh->token);
	char client[32], path[256], body[256];
	snprintf(client, sizeof(client), "BENCH-%03d", w->id);
	hc_req(&c, "GET", "/api/v1/health", NULL); /* connect */
	double end = now_s() + sh->secs;
	for (unsigned long n = 0; now_s() < end; n++) {
		long st = 0;
		for (int rev = 1; rev <= 2; rev++) {
			snprintf(path, sizeof(path), "/api/v1/tss/bench-http/tx/c%d-%lu?revision=%d", w->id,
				n, rev);
			snprintf(body, sizeof(body), rev == 1
				? "{\"state\":\"ACTIVE\",\"client_id\":\"%s\",\"process_type\":\"Kassenbeleg-V1\"}"
				: "{\"state\":\"FINISHED\",\"client_id\":\"%s\",\"process_type\":\"Kassenbeleg-V1\","
				  "\"process_data\":\"QmVsZWdeMS4wMF8wLjAwXzAuMDBfMC4wMF8wLjAwXjEuMDA6QmFy\"}",
				client);
			double t0 = now_s();
			st = hc_req(&c, "PUT", path, body);
			sample(sh, (now_s() - t0) * 1e3);
			if (st != 200)
				break;
		}
		if (st != 200) {
			atomic_fetch_add(&sh->errors, 1);
			fprintf(stderr, "https: status %ld curl %d %s\n", st, (int)c.cc, c.body ? c.body : "");
			break;
		}
		atomic_fetch_add(&sh->done, 1);
	}
	hc_free(&c);
	return NULL;
}

static double run_phase(struct shared *sh, int n, void *(*fn)(void *))
{
	pthread_t th[MAX_CLIENTS];
	struct worker w[MAX_CLIENTS];
	atomic_store(&sh->done, 0);
	atomic_store(&sh->n_samples, 0);
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		w[i] = (struct worker){ sh, i };
		pthread_create(&th[i], NULL, fn, &w[i]);
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return (double)atomic_load(&sh->done) / (now_s() - t0);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	int n = argc > 2 ? atoi(argv[2]) : 32;
	if (secs <= 0 || n < 1 || n > MAX_CLIENTS) {
		fprintf(stderr, "usage: bench_http_tx [seconds] [clients 1..%d]\n", MAX_CLIENTS);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const char *dir = t_tmpdir();
	char ntp_dir[512], data[512], ntp_name[64];
	snprintf(ntp_dir, sizeof(ntp_dir), "%s/ntp", dir);
	snprintf(data, sizeof(data), "%s/data", dir);
	int nport = t_free_port(1);
	snprintf(ntp_name, sizeof(ntp_name), "127.0.0.1:%d", nport);
	const char *ntp[1] = { ntp_name };
	if (t_chrony_start(ntp_dir, nport, (int)(4 * secs) + 120) != 0 ||
	    t_ntp_wait_ready(ntp_name, 15000) != 0) {
		fprintf(stderr, "bench_http_tx: no NTP server (chronyd) on loopback\n");
		return 1;
	}
	fx_softhsm(data);
	struct tse_config cfg;
	fx_config(&cfg, data, ntp, 1);
	struct shared sh;
	memset(&sh, 0, sizeof(sh));
	sh.secs = secs;
	sh.samples_ms = calloc(MAX_SAMPLES, sizeof(float));
	struct siegel_diag d = { { 0 } };
	if (tse_open(&sh.t, &cfg, &d) != 0) {
		fprintf(stderr, "tse_open: %s\n", d.msg);
		return 1;
	}
	struct tenant_db *tenants = NULL;
	struct tenant_creds cr;
	struct tenant_config tc = { .kdf_log2n = 10 };
	if (tenant_db_open(&tenants, tse_store(sh.t), &tc, &d) != 0 ||
	    tenant_add(tenants, "bench", NULL, &cr, &d) != 0) {
		fprintf(stderr, "tenant: %s\n", d.msg);
		return 1;
	}
	const char *clients[MAX_CLIENTS];
	char names[MAX_CLIENTS][32];
	for (int i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "BENCH-%03d", i);
		clients[i] = names[i];
	}
	if (fx_ready(sh.t, "bench-inproc", SIEGEL_ALG_P256_SHA256, LOGMSG_TIME_UNIX, clients, (size_t)n) ||
	    fx_ready(sh.t, "bench.bench-http", SIEGEL_ALG_P256_SHA256, LOGMSG_TIME_UNIX, clients, (size_t)n))
		return 1;

	struct http_config hcfg = { .listen = "127.0.0.1", .port = -1, .data_dir = data };
	struct http_server *srv = NULL;
	if (http_server_start(&srv, &hcfg, sh.t, tenants, &d) != 0) {
		fprintf(stderr, "http_server_start: %s\n", d.msg);
		return 1;
	}
	sh.port = http_server_port(srv);
	snprintf(sh.cafile, sizeof(sh.cafile), "%s/https-cert.pem", data);
	struct hc login;
	hc_init(&login, sh.port, sh.cafile);
	if (hc_login(&login, cr.api_key, cr.api_secret) != 200) {
		fprintf(stderr, "login failed\n");
		return 1;
	}
	snprintf(sh.token, sizeof(sh.token), "%s", login.token);
	hc_free(&login);

	printf("bench_http_tx: %d clients, %.1f s per phase, SoftHSM2 P-256, SQLite WAL synchronous=FULL\n",
		n, secs);
	double inproc = run_phase(&sh, n, inproc_worker);
	printf("in-process : %8.1f finished tx/s (%d threads, tse_start + tse_finish)\n", inproc, n);
	double https = run_phase(&sh, n, http_worker);
	unsigned ns = atomic_load(&sh.n_samples);
	if (ns > MAX_SAMPLES)
		ns = MAX_SAMPLES;
	qsort(sh.samples_ms, ns, sizeof(float), cmp_float);
	double p50 = ns ? sh.samples_ms[ns / 2] : 0, p99 = ns ? sh.samples_ms[(size_t)(ns * 0.99)] : 0;
	printf("https      : %8.1f finished tx/s (%d keep-alive clients, 2 PUTs per tx)\n", https, n);
	printf("latency    : p50 %.2f ms, p99 %.2f ms per request (%u requests)\n", p50, p99, ns);
	printf("ratio      : %.2f (https / in-process)\n", inproc > 0 ? https / inproc : 0);
	printf("errors     : %llu\n", (unsigned long long)atomic_load(&sh.errors));
	http_server_stop(srv);
	tenant_db_close(tenants);
	tse_close(sh.t);
	free(sh.samples_ms);
	t_chrony_stop(ntp_dir);
	curl_global_cleanup();
	if (getenv("SIEGEL_KEEP_TMP") == NULL && t_run(NULL, "rm -rf '%s'", dir) != 0)
		fprintf(stderr, "bench_http_tx: could not remove %s\n", dir);
	return atomic_load(&sh.errors) ? 1 : 0;
}
