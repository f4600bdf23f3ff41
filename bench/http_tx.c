/* Benchmark: finished transactions per second over HTTPS (keep-alive, one
 * libcurl easy handle per client thread) against the in-process rate
 * (threads calling tse_start + tse_finish directly) measured in the same run
 * on the same SoftHSM2 token and store.
 *
 *   bench_http_tx [seconds per phase (default 5)] [clients (default 32)] [--rounds R]
 *     R rounds (default 3) of an in-process phase then an HTTPS phase; the
 *     ratio is the median of the rounds' ratios
 *   bench_http_tx --soak SECONDS [--rate-fraction F (default 0.8)]
 *                 [--clients N (default 32)] [--measure S (default 5)]
 *   both: [--threads N] [--workers N] for the server (0 = its defaults),
 *         [--nice N] of its request threads (default HTTP_DEFAULT_NICE; 0 = unchanged)
 *
 * Each finished transaction = PUT revision 1 (ACTIVE) + PUT revision 2
 * (FINISHED), i.e. two signatures. Latency is per request. Needs chronyd
 * (updateTime before signing). Prints the rates, p50/p99 and the ratio.
 *
 * Fairness: the server (MHD poll threads, workers, the store's group commit,
 * SoftHSM2) and the HTTPS clients (libcurl + TLS, one thread per client) run
 * in this one process on the same CPUs, while the in-process phase has no
 * client cost at all. The benchmark prints the CPU count and the share of
 * the process CPU time the client threads used in the HTTPS phase (per-thread
 * CPU clocks), so a reader can see how much of the machine the server had.
 *
 * Soak: measures the HTTPS rate for --measure seconds, then drives F of it
 * (paced: transaction k is due at t0 + k / rate, shared by all clients) for
 * SECONDS, sampling the RSS of the process (/proc/self/statm; server and
 * clients together) every 10 s. Prints the RSS series, its least-squares
 * slope in KB/min (all samples, and without the first minute of warm-up),
 * the error count and the achieved rate. Exit status 1 on any error. */
#include <malloc.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../tests/http/http_client.h"
#include "../tests/tse/tse_fixture.h"
#include "http/http.h"
#include "tenant/tenant.h"

#define MAX_CLIENTS 256
#define MAX_ROUNDS 15
#define MAX_SAMPLES (1u << 20)
#define SOAK_SAMPLE_S 10
#define SOAK_MAX_POINTS 4096

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double process_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Resident set size of this process in KiB (0 if unreadable). */
static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;
	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = 0;
	fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
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
	/* soak: pacing (0 = as fast as possible) */
	double rate, t0;
	atomic_uint_fast64_t ticket;
	atomic_int stop;
	/* CPU seconds used by the client threads of the last phase */
	_Atomic double client_cpu;
	const char *tss;               /* the tenant's tssId */
	unsigned long gen;             /* makes txIds unique across phases */
};

struct worker {
	struct shared *sh;
	int id;
};

static void add_double(_Atomic double *a, double v)
{
	double old = atomic_load(a);
	while (!atomic_compare_exchange_weak(a, &old, old + v))
		;
}

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

/* Soak pacing: waits until the next transaction of the shared schedule is
 * due. Returns 0 to go on, -1 when the phase is over. */
static int pace(struct shared *sh, double end)
{
	if (sh->rate <= 0)
		return now_s() < end ? 0 : -1;
	uint64_t k = atomic_fetch_add(&sh->ticket, 1);
	double due = sh->t0 + (double)k / sh->rate;
	if (due >= end || now_s() >= end)
		return -1; /* a server behind the schedule shows as a lower achieved rate */
	for (;;) {
		double wait = due - now_s();
		if (wait <= 0)
			return 0;
		struct timespec ts = { (time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9) };
		nanosleep(&ts, NULL);
	}
}

static void *http_worker(void *v)
{
	struct worker *w = v;
	struct shared *sh = w->sh;
	double cpu0 = thread_cpu_s();
	struct hc c;
	hc_init(&c, sh->port, sh->cafile);
	c.no_json = 1; /* the benchmark does not look into the answers */
	snprintf(c.token, sizeof(c.token), "%s", sh->token);
	char client[32], path[256], body[256];
	snprintf(client, sizeof(client), "BENCH-%03d", w->id);
	hc_req(&c, "GET", "/api/v1/health", NULL); /* connect */
	double end = now_s() + sh->secs;
	int soak = sh->rate > 0;
	for (unsigned long n = 0; !atomic_load(&sh->stop) && pace(sh, end) == 0; n++) {
		long st = 0;
		for (int rev = 1; rev <= 2; rev++) {
			snprintf(path, sizeof(path), "/api/v1/tss/%s/tx/g%lu-c%d-%lu?revision=%d", sh->tss,
				sh->gen, w->id, n, rev);
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
			uint64_t e = atomic_fetch_add(&sh->errors, 1);
			if (e < 20)
				fprintf(stderr, "https: status %ld curl %d %s\n", st, (int)c.cc,
					c.body ? c.body : "");
			if (!soak)
				break;
			continue; /* soak: count it and go on (a transport error reconnects) */
		}
		atomic_fetch_add(&sh->done, 1);
	}
	hc_free(&c);
	add_double(&sh->client_cpu, thread_cpu_s() - cpu0);
	return NULL;
}

struct phase {
	double rate;                   /* finished tx/s */
	double wall, cpu;              /* s; process CPU s */
	double batch;                  /* store_txn calls per group commit */
	double leader;                 /* share of the wall time a group-commit leader ran */
	double leader_us, leader_cpu_us; /* per store call: wall and CPU time of the commit thread */
	double wal_pages;              /* per store call: pages its commit wrote to the WAL */
};

static struct phase run_phase(struct shared *sh, int n, void *(*fn)(void *))
{
	pthread_t th[MAX_CLIENTS];
	struct worker w[MAX_CLIENTS];
	atomic_store(&sh->done, 0);
	atomic_store(&sh->n_samples, 0);
	atomic_store(&sh->client_cpu, 0.0);
	atomic_store(&sh->ticket, 0);
	atomic_store(&sh->stop, 0);
	sh->gen++;
	uint64_t b0, c0, b1, c1, u0, u1;
	store_txn_stats(tse_store(sh->t), &b0, &c0, &u0);
	uint64_t k0 = store_txn_cpu_ns(tse_store(sh->t));
	uint64_t f0 = store_wal_frames(tse_store(sh->t));
	double cpu0 = process_cpu_s();
	double t0 = now_s();
	sh->t0 = t0;
	for (int i = 0; i < n; i++) {
		w[i] = (struct worker){ sh, i };
		pthread_create(&th[i], NULL, fn, &w[i]);
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	struct phase p;
	p.wall = now_s() - t0;
	p.cpu = process_cpu_s() - cpu0;
	p.rate = (double)atomic_load(&sh->done) / p.wall;
	store_txn_stats(tse_store(sh->t), &b1, &c1, &u1);
	p.batch = b1 > b0 ? (double)(c1 - c0) / (double)(b1 - b0) : 0;
	p.leader = (double)(u1 - u0) / 1e9 / p.wall;
	uint64_t k1 = store_txn_cpu_ns(tse_store(sh->t));
	p.leader_us = c1 > c0 ? (double)(u1 - u0) / 1e3 / (double)(c1 - c0) : 0;
	p.leader_cpu_us = c1 > c0 ? (double)(k1 - k0) / 1e3 / (double)(c1 - c0) : 0;
	uint64_t f1 = store_wal_frames(tse_store(sh->t));
	p.wal_pages = c1 > c0 ? (double)(f1 - f0) / (double)(c1 - c0) : 0;
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median of n values (sorts a copy). */
static double median(const double *v, int n)
{
	double c[MAX_ROUNDS];
	memcpy(c, v, (size_t)n * sizeof(*c));
	qsort(c, (size_t)n, sizeof(*c), cmp_double);
	return n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? -1 : x > y;
}

static void latency(struct shared *sh, double *p50, double *p99, unsigned *n_out)
{
	unsigned ns = atomic_load(&sh->n_samples);
	if (ns > MAX_SAMPLES)
		ns = MAX_SAMPLES;
	qsort(sh->samples_ms, ns, sizeof(float), cmp_float);
	*p50 = ns ? sh->samples_ms[ns / 2] : 0;
	*p99 = ns ? sh->samples_ms[(size_t)(ns * 0.99)] : 0;
	*n_out = ns;
}

static void print_cpu(const char *indent, const struct shared *sh, const struct phase *p, int ncpu)
{
	double client = atomic_load(&sh->client_cpu);
	printf("%scpu        : %.2f of %d CPUs busy (process CPU %.1f s in %.1f s); HTTPS clients used "
	       "%.0f %% of it, the server %.0f %%; %.1f store calls per group commit, leader busy %.0f %%, "
	       "%.0f us per call, %.0f us of it on a CPU, %.2f WAL pages per call\n",
		indent, p->cpu / p->wall, ncpu, p->cpu, p->wall, p->cpu > 0 ? 100 * client / p->cpu : 0,
		p->cpu > 0 ? 100 * (p->cpu - client) / p->cpu : 0, p->batch, 100 * p->leader,
		p->leader_us, p->leader_cpu_us, p->wal_pages);
}

/* Least-squares slope of y over x. */
static double slope(const double *x, const double *y, size_t n)
{
	if (n < 2)
		return 0;
	double mx = 0, my = 0;
	for (size_t i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= (double)n;
	my /= (double)n;
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		num += (x[i] - mx) * (y[i] - my);
		den += (x[i] - mx) * (x[i] - mx);
	}
	return den > 0 ? num / den : 0;
}

struct soak_sampler {
	struct shared *sh;
	double t[SOAK_MAX_POINTS], kb[SOAK_MAX_POINTS];
	double heap_kb[SOAK_MAX_POINTS], sql_kb[SOAK_MAX_POINTS];
	uint64_t done[SOAK_MAX_POINTS], errors[SOAK_MAX_POINTS];
	size_t n;
	atomic_int quit;
};

static void *soak_sampler_main(void *v)
{
	struct soak_sampler *s = v;
	double t0 = now_s(), next = t0;
	while (!atomic_load(&s->quit) && s->n < SOAK_MAX_POINTS) {
		double now = now_s();
		if (now >= next) {
			s->t[s->n] = now - t0;
			s->kb[s->n] = (double)rss_kb();
			/* where it went: bytes malloc'd and in use (all arenas), and
			 * SQLite's share of them (page cache, statements) */
			struct mallinfo2 mi = mallinfo2();
			s->heap_kb[s->n] = (double)(mi.uordblks + mi.hblkhd) / 1024;
			s->sql_kb[s->n] = (double)sqlite3_memory_used() / 1024;
			s->done[s->n] = atomic_load(&s->sh->done);
			s->errors[s->n] = atomic_load(&s->sh->errors);
			printf("soak       : t=%5.0f s  RSS %8.0f KB  malloc in use %8.0f KB  (SQLite %6.0f KB)  "
			       "finished %9llu  errors %llu\n",
				s->t[s->n], s->kb[s->n], s->heap_kb[s->n], s->sql_kb[s->n],
				(unsigned long long)s->done[s->n], (unsigned long long)s->errors[s->n]);
			fflush(stdout);
			s->n++;
			next += SOAK_SAMPLE_S;
		}
		struct timespec ts = { 0, 100 * 1000000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int soak(struct shared *sh, int n, double secs, double measure, double fraction, int ncpu)
{
	sh->rate = 0;
	sh->secs = measure;
	struct phase max = run_phase(sh, n, http_worker);
	if (atomic_load(&sh->errors) != 0) {
		fprintf(stderr, "soak: errors while measuring the maximum rate\n");
		return 1;
	}
	printf("max rate   : %8.1f finished tx/s over HTTPS (%.0f s, %d clients)\n", max.rate, measure, n);
	print_cpu("", sh, &max, ncpu);
	sh->rate = fraction * max.rate;
	sh->secs = secs;
	printf("soak       : %.0f s at %.0f %% = %.1f finished tx/s (%.1f requests/s), RSS every %d s\n",
		secs, fraction * 100, sh->rate, 2 * sh->rate, SOAK_SAMPLE_S);
	fflush(stdout);
	struct soak_sampler *sm = calloc(1, sizeof(*sm));
	if (sm == NULL)
		return 1;
	sm->sh = sh;
	pthread_t th;
	pthread_create(&th, NULL, soak_sampler_main, sm);
	struct phase p = run_phase(sh, n, http_worker);
	atomic_store(&sm->quit, 1);
	pthread_join(th, NULL);
	double last_kb = (double)rss_kb();
	double p50, p99;
	unsigned ns;
	latency(sh, &p50, &p99, &ns);
	uint64_t errors = atomic_load(&sh->errors);
	printf("soak rate  : %8.1f finished tx/s achieved (target %.1f), %.1f s\n", p.rate, sh->rate,
		p.wall);
	print_cpu("", sh, &p, ncpu);
	printf("latency    : p50 %.2f ms, p99 %.2f ms per request (%u requests)\n", p50, p99, ns);
	printf("rss series : KB every %d s:", SOAK_SAMPLE_S);
	for (size_t i = 0; i < sm->n; i++)
		printf(" %.0f", sm->kb[i]);
	printf(" (end %.0f)\n", last_kb);
	/* slopes over all samples and without the first minute (warm-up:
	 * caches, arenas, SQLite page cache filling) */
	size_t skip = 0;
	while (skip < sm->n && sm->t[skip] < 60)
		skip++;
	size_t m = sm->n - skip;
	printf("rss slope  : %.1f KB/min over all %zu samples, %.1f KB/min after the first minute "
	       "(%zu samples); first %.0f KB, last %.0f KB\n",
		slope(sm->t, sm->kb, sm->n) * 60, sm->n, slope(sm->t + skip, sm->kb + skip, m) * 60, m,
		sm->n ? sm->kb[0] : 0, sm->n ? sm->kb[sm->n - 1] : 0);
	printf("heap slope : malloc in use %.1f KB/min, SQLite %.1f KB/min (after the first minute)\n",
		slope(sm->t + skip, sm->heap_kb + skip, m) * 60, slope(sm->t + skip, sm->sql_kb + skip, m) * 60);
	printf("errors     : %llu\n", (unsigned long long)errors);
	free(sm);
	return errors ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_http_tx [seconds per phase] [clients 1..%d] [--rounds R (default 3)]\n"
		"       bench_http_tx --soak SECONDS [--rate-fraction F] [--clients N] [--measure S]\n"
		"       (both: [--threads N] [--workers N] of the server, 0 = its defaults;\n"
		"        [--nice N] of its request threads, default %d, 0 = unchanged)\n",
		MAX_CLIENTS, HTTP_DEFAULT_NICE);
}

int main(int argc, char **argv)
{
	double secs = 5, soak_secs = 0, fraction = 0.8, measure = 5;
	int n = 32, pos = 0, threads = 0, workers = 0, nice = HTTP_DEFAULT_NICE, rounds = 3;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--soak") == 0 && i + 1 < argc)
			soak_secs = atof(argv[++i]);
		else if (strcmp(a, "--rate-fraction") == 0 && i + 1 < argc)
			fraction = atof(argv[++i]);
		else if (strcmp(a, "--clients") == 0 && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (strcmp(a, "--measure") == 0 && i + 1 < argc)
			measure = atof(argv[++i]);
		else if (strcmp(a, "--threads") == 0 && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (strcmp(a, "--workers") == 0 && i + 1 < argc)
			workers = atoi(argv[++i]);
		else if (strcmp(a, "--nice") == 0 && i + 1 < argc)
			nice = atoi(argv[++i]);
		else if (strcmp(a, "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (a[0] != '-' && pos == 0 && ++pos)
			secs = atof(a);
		else if (a[0] != '-' && pos == 1 && ++pos)
			n = atoi(a);
		else {
			usage();
			return 2;
		}
	}
	if (secs <= 0 || n < 1 || n > MAX_CLIENTS || soak_secs < 0 || fraction <= 0 || fraction > 1 ||
	    measure <= 0 || threads < 0 || workers < 0 || nice < 0 || nice > 19 ||
	    rounds < 1 || rounds > MAX_ROUNDS) {
		usage();
		return 2;
	}
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const char *dir = t_tmpdir();
	char data[512];
	struct t_ntp ntp_srv;
	snprintf(data, sizeof(data), "%s/data", dir);
	const char *ntp[1] = { ntp_srv.name };
	double run_s = soak_secs > 0 ? soak_secs + measure : 2 * secs * rounds;
	if (t_ntp_start(&ntp_srv, (int)(2 * run_s) + 120) != 0)
		return 1;
	fx_softhsm(data);
	struct tse_config cfg;
	fx_config(&cfg, data, ntp, 1);
	struct shared sh;
	memset(&sh, 0, sizeof(sh));
	sh.secs = secs;
	sh.tss = "bench-http";
	sh.samples_ms = malloc(MAX_SAMPLES * sizeof(float));
	if (sh.samples_ms == NULL)
		return 1;
	/* touch every page now: the soak's RSS series must not show this array
	 * (4 MiB) filling up as latency samples arrive */
	memset(sh.samples_ms, 0xff, MAX_SAMPLES * sizeof(float));
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

	struct http_config hcfg = { .listen = "127.0.0.1", .port = -1, .data_dir = data,
		.threads = (unsigned)threads, .workers = (unsigned)workers, .request_nice = nice };
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

	printf("bench_http_tx: %d clients, SoftHSM2 P-256, SQLite WAL synchronous=FULL, %d online CPUs\n",
		n, ncpu);
	printf("note       : server and the %d HTTPS client threads (libcurl, TLS) share these %d CPUs "
	       "in one process; the in-process phase has no client cost\n", n, ncpu);
	printf("server     : %u MHD polling threads, %u request workers, request threads at nice %d\n",
		hcfg.threads ? hcfg.threads : HTTP_DEFAULT_THREADS,
		hcfg.workers ? hcfg.workers : HTTP_DEFAULT_WORKERS, nice);
	int rc = 0;
	if (soak_secs > 0) {
		rc = soak(&sh, n, soak_secs, measure, fraction, ncpu);
	} else {
		/* Alternating rounds: the speed of a shared machine drifts within
		 * a run; the median of per-round ratios pairs phases that ran a few
		 * seconds apart. */
		printf("phases     : %.1f s each, %d rounds of in-process then HTTPS\n", secs, rounds);
		double r_in[MAX_ROUNDS], r_https[MAX_ROUNDS], r_ratio[MAX_ROUNDS], r_p50[MAX_ROUNDS];
		double p99_max = 0;
		unsigned n_req = 0;
		for (int k = 0; k < rounds; k++) {
			printf("round %d\n", k + 1);
			struct phase inproc = run_phase(&sh, n, inproc_worker);
			printf("  in-process : %8.1f finished tx/s (%d threads, tse_start + tse_finish; %.2f CPUs "
			       "busy, %.1f store calls per group commit, leader busy %.0f %%, %.0f us per call, "
			       "%.0f us of it on a CPU, %.2f WAL pages per call)\n",
				inproc.rate, n, inproc.cpu / inproc.wall, inproc.batch, 100 * inproc.leader,
				inproc.leader_us, inproc.leader_cpu_us, inproc.wal_pages);
			struct phase https = run_phase(&sh, n, http_worker);
			double p50, p99;
			unsigned ns;
			latency(&sh, &p50, &p99, &ns);
			printf("  https      : %8.1f finished tx/s (%d keep-alive clients, 2 PUTs per tx)\n",
				https.rate, n);
			print_cpu("  ", &sh, &https, ncpu);
			printf("  latency    : p50 %.2f ms, p99 %.2f ms per request (%u requests)\n", p50, p99, ns);
			r_in[k] = inproc.rate;
			r_https[k] = https.rate;
			r_ratio[k] = inproc.rate > 0 ? https.rate / inproc.rate : 0;
			r_p50[k] = p50;
			if (p99 > p99_max)
				p99_max = p99;
			n_req += ns;
			printf("  ratio      : %.2f\n", r_ratio[k]);
		}
		printf("in-process : %8.1f finished tx/s (median of %d rounds)\n", median(r_in, rounds), rounds);
		printf("https      : %8.1f finished tx/s (median)\n", median(r_https, rounds));
		printf("latency    : p50 %.2f ms (median), p99 %.2f ms (worst round) per request (%u requests)\n",
			median(r_p50, rounds), p99_max, n_req);
		printf("ratio      : %.2f (https / in-process, median of the rounds' ratios; goal >= 0.6)\n",
			median(r_ratio, rounds));
		printf("errors     : %llu\n", (unsigned long long)atomic_load(&sh.errors));
		rc = atomic_load(&sh.errors) ? 1 : 0;
	}
	http_server_stop(srv);
	tenant_db_close(tenants);
	tse_close(sh.t);
	free(sh.samples_ms);
	t_ntp_stop(&ntp_srv);
	curl_global_cleanup();
	if (getenv("SIEGEL_KEEP_TMP") == NULL && t_run(NULL, "rm -rf '%s'", dir) != 0)
		fprintf(stderr, "bench_http_tx: could not remove %s\n", dir);
	return rc;
}
