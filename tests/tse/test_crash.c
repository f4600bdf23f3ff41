/* Crash safety: a child process runs transactions on a SoftHSM2-backed TSS and
 * reports every answer it received through a pipe; the parent SIGKILLs it at
 * random moments (at least 50 times) until 1,000 transactions are finished.
 * After every kill the store must hold a gapless counter sequence 1..n equal
 * to the TSS counter, every acknowledged log must be there, every log must
 * verify, and the next child (and finally the CLI) must work on. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cert/cert.h"
#include "logmsg/logmsg.h"
#include "tse_fixture.h"

#define TARGET_FINISHED 1000
#define MIN_KILLS 50
#define MAX_ACKS 40000

struct ack {
	char op;         /* 'S' start, 'F' finish */
	uint64_t tx;
	uint64_t counter;
};

static struct t_ntp ntp;

static void child_run(const char *data, int fd)
{
	/* A restart does what `siegel` does on start: guard the token store. */
	fx_softhsm(data);
	const char *list[1] = { ntp.name };
	struct tse_config cfg;
	fx_config(&cfg, data, list, 1);
	struct tse *t = NULL;
	struct siegel_diag d = { { 0 } };
	if (tse_open(&t, &cfg, &d) != 0) {
		fprintf(stderr, "child: %s\n", d.msg);
		_exit(3);
	}
	struct tse_tx_result r;
	tse_tx_result_init(&r);
	const char *pd = "Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar";
	for (;;) {
		if (tse_start(t, "crash", "KASSE-01", " ", NULL, 0, &r, &d) != 0) {
			fprintf(stderr, "child start: %s\n", d.msg);
			_exit(4);
		}
		struct ack a = { 'S', r.transaction_number, r.signature_counter };
		if (write(fd, &a, sizeof(a)) != (ssize_t)sizeof(a))
			_exit(5);
		if (tse_finish(t, "crash", "KASSE-01", a.tx, "Kassenbeleg-V1", (const uint8_t *)pd,
			    strlen(pd), &r, &d) != 0) {
			fprintf(stderr, "child finish: %s\n", d.msg);
			_exit(6);
		}
		struct ack f = { 'F', r.transaction_number, r.signature_counter };
		if (write(fd, &f, sizeof(f)) != (ssize_t)sizeof(f))
			_exit(5);
	}
}

/* Checks the store after a kill. Verifies logs from *verified+1 on. */
static int check_store(const char *data, const struct ack *acks, size_t n_acks, EVP_PKEY *pk,
	uint64_t *verified)
{
	char path[512];
	if (siegel_path_join(path, sizeof(path), data, "siegel.db") != 0)
		abort();
	sqlite3 *db = NULL;
	int bad = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return 1;
	sqlite3_stmt *st = NULL;
	sqlite3_prepare_v2(db,
		"SELECT (SELECT sig_counter FROM tss WHERE id = 'crash'), count(*), min(counter), "
		"max(counter) FROM logs WHERE tss_id = 'crash'", -1, &st, NULL);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		sqlite3_close(db);
		return 1;
	}
	int64_t sig = sqlite3_column_int64(st, 0), cnt = sqlite3_column_int64(st, 1);
	int64_t mn = sqlite3_column_int64(st, 2), mx = sqlite3_column_int64(st, 3);
	sqlite3_finalize(st);
	if (!(mn == 1 && mx == cnt && sig == mx)) {
		fprintf(stderr, "counters: tss %lld, %lld logs, min %lld, max %lld\n", (long long)sig,
			(long long)cnt, (long long)mn, (long long)mx);
		bad = 1;
	}
	/* every acknowledged answer is stored with its counter */
	sqlite3_prepare_v2(db,
		"SELECT tx_number, operation FROM logs WHERE tss_id = 'crash' AND counter = ?", -1, &st, NULL);
	for (size_t i = 0; i < n_acks; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, (sqlite3_int64)acks[i].counter);
		const char *want = acks[i].op == 'S' ? "StartTransaction" : "FinishTransaction";
		if (sqlite3_step(st) != SQLITE_ROW ||
		    (uint64_t)sqlite3_column_int64(st, 0) != acks[i].tx ||
		    strcmp((const char *)sqlite3_column_text(st, 1), want) != 0) {
			fprintf(stderr, "acknowledged %c tx %llu counter %llu is missing\n", acks[i].op,
				(unsigned long long)acks[i].tx, (unsigned long long)acks[i].counter);
			bad = 1;
			break;
		}
	}
	sqlite3_finalize(st);
	/* transaction numbers are gapless too */
	sqlite3_prepare_v2(db,
		"SELECT count(*), coalesce(max(number),0), (SELECT tx_counter FROM tss WHERE id = 'crash') "
		"FROM transactions WHERE tss_id = 'crash'", -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    !(sqlite3_column_int64(st, 0) == sqlite3_column_int64(st, 1) &&
		    sqlite3_column_int64(st, 1) == sqlite3_column_int64(st, 2))) {
		fprintf(stderr, "transaction numbers have a gap\n");
		bad = 1;
	}
	sqlite3_finalize(st);
	/* new logs decode and verify */
	sqlite3_prepare_v2(db,
		"SELECT counter, der FROM logs WHERE tss_id = 'crash' AND counter > ? ORDER BY counter",
		-1, &st, NULL);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)*verified);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct logmsg m;
		uint64_t c = (uint64_t)sqlite3_column_int64(st, 0);
		if (logmsg_parse(&m, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), NULL) != 0 ||
		    m.signature_counter != c || logmsg_verify(&m, pk, 1) != 0) {
			fprintf(stderr, "log %llu does not verify\n", (unsigned long long)c);
			bad = 1;
		}
		logmsg_clear(&m);
		*verified = c;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return bad;
}

static EVP_PKEY *load_pubkey(const char *data)
{
	char path[512];
	if (siegel_path_join(path, sizeof(path), data, "siegel.db") != 0)
		abort();
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT cert_leaf FROM tss WHERE id = 'crash'", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW &&
	    cert_parse(&x, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), NULL) == 0) {
		pk = X509_get_pubkey(x);
	}
	X509_free(x);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return pk;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

int main(void)
{
	t_alarm(500);
	const char *dir = t_tmpdir();
	char data[512];
	if (siegel_path_join(data, sizeof(data), dir, "data") != 0)
		abort();
	if (t_ntp_start(&ntp, 480) != 0)
		return 99;
	fx_softhsm(data);

	/* Set-up in a child: the parent never touches the token (no PKCS#11
	 * state may cross fork). */
	pid_t p = fork();
	if (p == 0) {
		const char *list[1] = { ntp.name };
		const char *clients[1] = { "KASSE-01" };
		struct tse_config cfg;
		fx_config(&cfg, data, list, 1);
		struct tse *t = NULL;
		if (tse_open(&t, &cfg, NULL) != 0 ||
		    fx_ready(t, "crash", SIEGEL_ALG_P256_SHA256, LOGMSG_TIME_UNIX, clients, 1) != 0)
			_exit(1);
		tse_close(t);
		_exit(0);
	}
	int st = 0;
	waitpid(p, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	EVP_PKEY *pk = load_pubkey(data);
	CHECK(pk != NULL);

	struct ack *acks = calloc(MAX_ACKS, sizeof(*acks));
	size_t n_acks = 0, finished = 0;
	int kills = 0, rounds = 0, bad_rounds = 0;
	uint64_t verified = 0;
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	while ((finished < TARGET_FINISHED || kills < MIN_KILLS) && rounds < 2000 && n_acks < MAX_ACKS - 1000) {
		rounds++;
		int fds[2];
		if (pipe(fds) != 0)
			return 99;
		pid_t c = fork();
		if (c == 0) {
			close(fds[0]);
			child_run(data, fds[1]);
			_exit(0);
		}
		close(fds[1]);
		/* Every fourth child dies during start-up (token login, database
		 * open); the others once they answered, at a random moment of the
		 * transactions that follow. */
		if (rounds % 4 == 0) {
			sleep_us(rand() % 30000);
		} else {
			struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
			struct ack a;
			if (poll(&pfd, 1, 20000) > 0 && read(fds[0], &a, sizeof(a)) == (ssize_t)sizeof(a)) {
				acks[n_acks++] = a;
				finished += a.op == 'F';
			}
			sleep_us(500 + rand() % 60000);
		}
		kill(c, SIGKILL);
		waitpid(c, &st, 0);
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
			kills++;
		else
			fprintf(stderr, "child ended by itself (status %d)\n", st);
		struct ack a;
		while (read(fds[0], &a, sizeof(a)) == (ssize_t)sizeof(a)) {
			if (n_acks < MAX_ACKS)
				acks[n_acks++] = a;
			if (a.op == 'F')
				finished++;
		}
		close(fds[0]);
		if (check_store(data, acks, n_acks, pk, &verified) != 0)
			bad_rounds++;
	}
	printf("%d kills, %zu transactions finished, %zu answers checked, %llu logs verified\n", kills,
		finished, n_acks, (unsigned long long)verified);
	CHECK(kills >= MIN_KILLS);
	CHECK(finished >= TARGET_FINISHED);
	CHECK(bad_rounds == 0);

	/* The CLI works on the same data directory afterwards. */
	char *out = NULL;
	CHECK(t_run(&out, "SIEGEL_KDF_LOG2N=10 '%s' tse status --data '%s' --tss crash --json", t_siegel_bin(),
		data) == 0);
	CHECK(out && strstr(out, "\"state\": \"INITIALIZED\"") != NULL);
	free(out);
	CHECK(t_run(&out, "'%s' tse start --data '%s' --tss crash --client KASSE-01 --json", t_siegel_bin(),
		data) == 0);
	CHECK(out && strstr(out, "\"signature_counter\"") != NULL);
	free(out);
	CHECK(check_store(data, acks, n_acks, pk, &verified) == 0);
	EVP_PKEY_free(pk);
	free(acks);
	t_ntp_stop(&ntp);
	return t_done();
}
