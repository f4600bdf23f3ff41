/* store: schema migrations, durability settings, and group commit: many
 * threads' calls batched into shared commits, a failing call undoing only its
 * own changes. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "store/store.h"
#include "store/store_migrations.h"

#define THREADS 8
#define CALLS 150

static int pragma_text(struct store *s, const char *sql, char *out, size_t cap)
{
	sqlite3_stmt *st = NULL;
	int ok = sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) == SQLITE_OK &&
		 sqlite3_step(st) == SQLITE_ROW;
	if (ok)
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return ok ? 0 : -1;
}

struct ins {
	int key;
	int fail; /* insert, then fail: the insert must be undone */
};

static int ins_fn(struct store *s, void *ctx, struct siegel_diag *d)
{
	const struct ins *a = ctx;
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO scratch (k) VALUES (?)", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_int(st, 1, a->key);
	int rc = store_exec_stmt(s, st, d);
	if (rc == 0 && a->fail)
		rc = siegel_fail(d, SIEGEL_E_PARAM, "call %d fails on purpose", a->key);
	return rc;
}

struct worker {
	struct store *s;
	int id;
	int ok, failed, wrong;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < CALLS; i++) {
		struct ins a = { w->id * 1000 + i, i % 7 == 3 };
		struct siegel_diag d = { { 0 } };
		int rc = store_txn(w->s, ins_fn, &a, &d);
		if (a.fail) {
			w->failed++;
			if (rc != SIEGEL_E_PARAM || strstr(d.msg, "on purpose") == NULL)
				w->wrong++;
		} else if (rc == 0) {
			w->ok++;
		} else {
			w->wrong++;
		}
	}
	return NULL;
}

struct blob_ins {
	int key;
};

/* One row of 3 KB: about one page per commit. */
static int blob_fn(struct store *s, void *ctx, struct siegel_diag *d)
{
	const struct blob_ins *b = ctx;
	static const uint8_t zero[3000];
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO big (k, v) VALUES (?, ?)", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_int(st, 1, b->key);
	sqlite3_bind_blob(st, 2, zero, sizeof(zero), SQLITE_STATIC);
	return store_exec_stmt(s, st, d);
}

static int create_scratch(struct store *s, void *ctx, struct siegel_diag *d)
{
	(void)ctx;
	return store_exec(s, "CREATE TABLE scratch (k INTEGER PRIMARY KEY)", d);
}

int main(void)
{
	char path[512], buf[64];
	snprintf(path, sizeof(path), "%s/s.db", t_tmpdir());
	struct store *s = NULL;
	struct siegel_diag d = { { 0 } };
	CHECK_OK(store_open(&s, path, &d));
	int v = store_schema_version(s);
	CHECK(v >= 1);
	CHECK(pragma_text(s, "PRAGMA journal_mode", buf, sizeof(buf)) == 0 && strcmp(buf, "wal") == 0);
	CHECK(pragma_text(s, "PRAGMA synchronous", buf, sizeof(buf)) == 0 && strcmp(buf, "2") == 0);
	CHECK(pragma_text(s, "SELECT count(*) FROM sqlite_master WHERE name = 'logs'", buf, sizeof(buf)) == 0 &&
	      strcmp(buf, "1") == 0);
	CHECK_OK(store_txn(s, create_scratch, NULL, &d));

	/* group commit under concurrency */
	struct worker w[THREADS];
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = s;
		w[i].id = i + 1;
		pthread_create(&th[i], NULL, worker_run, &w[i]);
	}
	int ok = 0, wrong = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += w[i].ok;
		wrong += w[i].wrong;
	}
	CHECK(wrong == 0);
	uint64_t batches = 0, calls = 0;
	store_txn_stats(s, &batches, &calls, NULL);
	CHECK(calls == (uint64_t)(THREADS * CALLS + 1));
	printf("%llu calls in %llu commits\n", (unsigned long long)calls, (unsigned long long)batches);
	CHECK(batches < calls); /* some calls shared a commit */
	snprintf(buf, sizeof(buf), "%d", ok);
	char got[256];
	CHECK(pragma_text(s, "SELECT count(*) FROM scratch", got, sizeof(got)) == 0);
	CHECK_STR(got, buf);
	CHECK(pragma_text(s, "SELECT count(*) FROM scratch WHERE k % 1000 % 7 = 3", got, sizeof(got)) == 0);
	CHECK_STR(got, "0");
	store_close(s);

	/* WAL checkpoints run on their own thread and keep the WAL bounded: 6,000
	 * commits of a page each would make a 24 MB WAL without them */
	{
		CHECK_OK(store_open(&s, path, &d));
		CHECK_OK(store_exec(s, "CREATE TABLE IF NOT EXISTS big (k INTEGER PRIMARY KEY, v BLOB)", &d));
		for (int i = 0; i < 6000; i++) {
			struct blob_ins b = { i };
			CHECK_OK(store_txn(s, blob_fn, &b, &d));
		}
		uint64_t runs = 0, sync = 0;
		for (int t = 0; t < 200 && runs == 0; t++) {
			store_ckpt_stats(s, &runs, &sync);
			if (runs == 0)
				usleep(10000);
		}
		printf("checkpoints: %llu on the thread, %llu in commits\n", (unsigned long long)runs,
			(unsigned long long)sync);
		CHECK(runs >= 1);
		char wal[600];
		snprintf(wal, sizeof(wal), "%s-wal", path);
		struct stat st;
		CHECK(stat(wal, &st) == 0);
		CHECK(st.st_size < 16L * 1024 * 1024);
		printf("WAL after 6000 commits: %lld bytes\n", (long long)st.st_size);
		CHECK(pragma_text(s, "SELECT count(*) FROM big", got, sizeof(got)) == 0);
		CHECK_STR(got, "6000");
		store_close(s);
	}

	/* reopening keeps the version; a newer schema is refused */
	CHECK_OK(store_open(&s, path, &d));
	CHECK(store_schema_version(s) == v);
	CHECK_OK(store_exec(s, "PRAGMA user_version = 999", &d));
	store_close(s);
	CHECK_RC(store_open(&s, path, &d), SIEGEL_E_DB);
	CHECK(strstr(d.msg, "newer") != NULL);

	/* migration 5 moves the idempotency records of a version-4 database
	 * (tx_requests, one row per revision) into tx_refs and tx_answers */
	{
		char old[512];
		snprintf(old, sizeof(old), "%s/v4.db", t_tmpdir());
		sqlite3 *db = NULL;
		CHECK(sqlite3_open(old, &db) == SQLITE_OK);
		for (int i = 0; i < 4; i++)
			CHECK(sqlite3_exec(db, store_migrations[i], NULL, NULL, NULL) == SQLITE_OK);
		CHECK(sqlite3_exec(db,
			"INSERT INTO tx_requests VALUES ('T1','a',1,7,x'01','{\"r\":1}',100);"
			"INSERT INTO tx_requests VALUES ('T1','a',2,7,x'02','{\"r\":2}',101);"
			"INSERT INTO tx_requests VALUES ('T1','b',1,8,x'03','{\"b\":1}',102);"
			"INSERT INTO tx_requests VALUES ('T2','a',1,1,x'04','{\"t2\":1}',103);"
			"PRAGMA user_version = 4;", NULL, NULL, NULL) == SQLITE_OK);
		sqlite3_close(db);
		CHECK_OK(store_open(&s, old, &d));
		CHECK(store_schema_version(s) == v);
		CHECK(pragma_text(s, "SELECT group_concat(tss_id || ':' || tx_id || '=' || number, ' ') "
			"FROM (SELECT * FROM tx_refs ORDER BY tss_id, tx_id)", got, sizeof(got)) == 0);
		CHECK_STR(got, "T1:a=7 T1:b=8 T2:a=1");
		CHECK(pragma_text(s, "SELECT group_concat(tss_id || number || '/' || revision || tx_id || "
			"hex(request_hash) || response || created_at, ' ') FROM (SELECT * FROM tx_answers "
			"ORDER BY tss_id, number, revision)", got, sizeof(got)) == 0);
		CHECK_STR(got, "T17/1a01{\"r\":1}100 T17/2a02{\"r\":2}101 T18/1b03{\"b\":1}102 "
			"T21/1a04{\"t2\":1}103");
		CHECK(pragma_text(s, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'tx_requests%'",
			got, sizeof(got)) == 0);
		CHECK_STR(got, "0");
		/* commits are counted in WAL pages */
		uint64_t f0 = store_wal_frames(s);
		CHECK_OK(store_txn(s, create_scratch, NULL, &d));
		CHECK(store_wal_frames(s) > f0);
		store_close(s);
	}

	/* not a database */
	snprintf(path, sizeof(path), "%s/junk.db", t_tmpdir());
	t_write(path, "this is not sqlite, just text that is long enough to be a header", 64);
	CHECK_RC(store_open(&s, path, &d), SIEGEL_E_DB);
	CHECK(d.msg[0] != 0);
	return t_done();
}
