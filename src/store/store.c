#include "store/store.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_migrations.h"

#define STORE_STMT_CACHE 64
#define STORE_BUSY_MS 5000

struct store_stmt_slot {
	const char *sql;
	sqlite3_stmt *st;
};

#define STORE_MAX_BATCH 64
/* Every STORE_CKPT_FRAMES new WAL frames the checkpoint thread copies the
 * WAL into the database. It races with the commits that keep appending, so
 * it never finds the WAL completely copied, and SQLite only starts the WAL
 * over when it is: from STORE_CKPT_SYNC_FRAMES on, a commit checkpoints too,
 * copying the little the thread left, and the next commit starts the WAL
 * over (about 12 MB at most). */
#define STORE_CKPT_FRAMES 1000
#define STORE_CKPT_SYNC_FRAMES 3000

/* A queued store_txn call. */
struct store_req {
	store_txn_fn fn;
	void *ctx;
	struct siegel_diag *d;
	int rc;
	sem_t done;                  /* posted by the commit thread */
	struct store_req *next;
};

struct store {
	sqlite3 *db;
	struct store_stmt_slot cache[STORE_STMT_CACHE];
	size_t n_cache;
	pthread_mutex_t db_lock;     /* recursive: the connection and the statement cache */
	pthread_mutex_t q_lock;      /* the queue below */
	pthread_cond_t q_work;       /* the queue has calls for the committer */
	struct store_req *q_head, *q_tail;
	int leader;                  /* the committer is running a batch */
	int stopping;
	int committer_started;
	pthread_t committer;
	/* background WAL checkpoints (see wal_hook) */
	sqlite3 *ck_db;              /* the checkpointer's own connection */
	pthread_mutex_t ck_lock;
	pthread_cond_t ck_cond;
	int ck_pending, ck_stopping, ck_started;
	int ck_signaled_at;          /* WAL frames at the last signal (commit thread) */
	pthread_t checkpointer;
	uint64_t ck_runs, ck_sync;
	int wal_last;                /* WAL frames after the previous commit */
	uint64_t wal_frames;         /* frames written by commits, summed */
	uint64_t batches, calls;
	uint64_t busy_ns;            /* time leaders spent running batches */
	uint64_t cpu_ns;             /* CPU time of the commit thread in them */
};

int store_fail(struct store *s, struct siegel_diag *d, const char *what)
{
	return siegel_fail(d, SIEGEL_E_DB, "%s: %s", what, s && s->db ? sqlite3_errmsg(s->db) : "no database");
}

sqlite3 *store_db(struct store *s)
{
	return s->db;
}

int store_changes(struct store *s)
{
	return sqlite3_changes(s->db);
}

int store_exec(struct store *s, const char *sql, struct siegel_diag *d)
{
	char *err = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		int rc = siegel_fail(d, SIEGEL_E_DB, "SQL failed: %s", err ? err : sqlite3_errmsg(s->db));
		sqlite3_free(err);
		return rc;
	}
	return 0;
}

int store_schema_version(struct store *s)
{
	sqlite3_stmt *st = NULL;
	int v = -1;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int store_migrate(struct store *s, struct siegel_diag *d)
{
	int v = store_schema_version(s);
	if (v < 0)
		return store_fail(s, d, "reading schema version");
	if (v > STORE_SCHEMA_VERSION)
		return siegel_fail(d, SIEGEL_E_DB,
			"database schema version %d is newer than this siegel (%d)", v,
			STORE_SCHEMA_VERSION);
	for (; v < STORE_SCHEMA_VERSION; v++) {
		char pragma[64];
		int rc = store_exec(s, "BEGIN IMMEDIATE", d);
		if (rc)
			return rc;
		rc = store_exec(s, store_migrations[v], d);
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		if (rc == 0)
			rc = store_exec(s, pragma, d);
		if (rc == 0)
			rc = store_exec(s, "COMMIT", d);
		if (rc) {
			if (store_exec(s, "ROLLBACK", NULL) != 0)
				(void)0; /* the error that led here is reported */
			return rc;
		}
	}
	return 0;
}

static void *committer_main(void *arg);

/* After every commit of the main connection (SQLite calls it with the WAL's
 * frame count; registering it turns off SQLite's own auto-checkpoint, which
 * copied up to 1,000 pages into the database inside a commit of the serial
 * path). The copy runs on the checkpoint thread instead; a WAL that is still
 * past STORE_CKPT_SYNC_FRAMES is checkpointed here, as SQLite would. */
static int wal_hook(void *ctx, sqlite3 *db, const char *name, int frames)
{
	struct store *s = ctx;
	/* a WAL that started over holds only this commit's frames */
	s->wal_frames += (uint64_t)(frames >= s->wal_last ? frames - s->wal_last : frames);
	s->wal_last = frames;
	if (frames >= STORE_CKPT_SYNC_FRAMES || !s->ck_started) {
		if (frames >= STORE_CKPT_FRAMES) {
			(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
			s->ck_sync++;
		}
		return SQLITE_OK;
	}
	if (frames < s->ck_signaled_at) /* the WAL started over */
		s->ck_signaled_at = 0;
	if (frames - s->ck_signaled_at >= STORE_CKPT_FRAMES) {
		s->ck_signaled_at = frames;
		pthread_mutex_lock(&s->ck_lock);
		s->ck_pending = 1;
		pthread_cond_signal(&s->ck_cond);
		pthread_mutex_unlock(&s->ck_lock);
	}
	return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
	struct store *s = arg;
	(void)pthread_setname_np(pthread_self(), "siegel-ckpt");
	pthread_mutex_lock(&s->ck_lock);
	for (;;) {
		while (!s->ck_pending && !s->ck_stopping)
			pthread_cond_wait(&s->ck_cond, &s->ck_lock);
		if (s->ck_stopping)
			break;
		s->ck_pending = 0;
		pthread_mutex_unlock(&s->ck_lock);
		/* PASSIVE: copies what no reader still needs, never blocks the
		 * writer; a busy answer just waits for the next round */
		(void)sqlite3_wal_checkpoint_v2(s->ck_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&s->ck_lock);
		s->ck_runs++;
	}
	pthread_mutex_unlock(&s->ck_lock);
	return NULL;
}

/* Opens the checkpoint connection and thread; without them the main
 * connection checkpoints in its commits (wal_hook). */
static void checkpointer_start(struct store *s, const char *path)
{
	if (sqlite3_open_v2(path, &s->ck_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
		    SQLITE_OK ||
	    sqlite3_busy_timeout(s->ck_db, 1000) != SQLITE_OK) {
		sqlite3_close(s->ck_db);
		s->ck_db = NULL;
		return;
	}
	if (pthread_create(&s->checkpointer, NULL, checkpointer_main, s) != 0) {
		sqlite3_close(s->ck_db);
		s->ck_db = NULL;
		return;
	}
	s->ck_started = 1;
}

int store_open(struct store **out, const char *path, struct siegel_diag *d)
{
	struct store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return SIEGEL_E_NOMEM;
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&s->db_lock, &attr);
	pthread_mutexattr_destroy(&attr);
	pthread_mutex_init(&s->q_lock, NULL);
	pthread_cond_init(&s->q_work, NULL);
	pthread_mutex_init(&s->ck_lock, NULL);
	pthread_cond_init(&s->ck_cond, NULL);
	int rc;
	if (sqlite3_open_v2(path, &s->db,
		    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		rc = store_fail(s, d, path);
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* WAL + FULL: every commit is on disk (fsync of the WAL) before it returns. */
	rc = store_exec(s,
		"PRAGMA journal_mode = WAL;"
		"PRAGMA synchronous = FULL;"
		"PRAGMA foreign_keys = ON;"
		"PRAGMA busy_timeout = 5000;"
		/* the statement journal of the per-call savepoints of a group
		 * commit in memory: spilled, it was a new file in /var/tmp for
		 * most batches (open, writes, unlink on the commit path) */
		"PRAGMA temp_store = MEMORY;", d);
	if (rc)
		goto fail;
	rc = store_migrate(s, d);
	if (rc)
		goto fail;
	checkpointer_start(s, path);
	sqlite3_wal_hook(s->db, wal_hook, s);
	if (pthread_create(&s->committer, NULL, committer_main, s) != 0) {
		rc = siegel_fail(d, SIEGEL_E_NOMEM, "cannot start the store's commit thread");
		goto fail;
	}
	s->committer_started = 1;
	*out = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->committer_started) {
		pthread_mutex_lock(&s->q_lock);
		s->stopping = 1;
		pthread_cond_signal(&s->q_work);
		pthread_mutex_unlock(&s->q_lock);
		pthread_join(s->committer, NULL);
	}
	if (s->ck_started) {
		pthread_mutex_lock(&s->ck_lock);
		s->ck_stopping = 1;
		pthread_cond_signal(&s->ck_cond);
		pthread_mutex_unlock(&s->ck_lock);
		pthread_join(s->checkpointer, NULL);
	}
	sqlite3_close(s->ck_db);
	for (size_t i = 0; i < s->n_cache; i++)
		sqlite3_finalize(s->cache[i].st);
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->db_lock);
	pthread_mutex_destroy(&s->q_lock);
	pthread_cond_destroy(&s->q_work);
	pthread_mutex_destroy(&s->ck_lock);
	pthread_cond_destroy(&s->ck_cond);
	free(s);
}

void store_lock(struct store *s)
{
	pthread_mutex_lock(&s->db_lock);
}

void store_unlock(struct store *s)
{
	pthread_mutex_unlock(&s->db_lock);
}

void store_txn_stats(struct store *s, uint64_t *batches, uint64_t *calls, uint64_t *busy_ns)
{
	pthread_mutex_lock(&s->q_lock);
	*batches = s->batches;
	*calls = s->calls;
	if (busy_ns)
		*busy_ns = s->busy_ns;
	pthread_mutex_unlock(&s->q_lock);
}

uint64_t store_txn_cpu_ns(struct store *s)
{
	pthread_mutex_lock(&s->q_lock);
	uint64_t v = s->cpu_ns;
	pthread_mutex_unlock(&s->q_lock);
	return v;
}

void store_ckpt_stats(struct store *s, uint64_t *runs, uint64_t *sync)
{
	pthread_mutex_lock(&s->ck_lock);
	*runs = s->ck_runs;
	pthread_mutex_unlock(&s->ck_lock);
	store_lock(s); /* ck_sync changes in commits, under the database lock */
	*sync = s->ck_sync;
	store_unlock(s);
}

uint64_t store_wal_frames(struct store *s)
{
	store_lock(s); /* wal_frames changes in commits, under the database lock */
	uint64_t v = s->wal_frames;
	store_unlock(s);
	return v;
}

sqlite3_stmt *store_stmt(struct store *s, const char *sql, struct siegel_diag *d)
{
	for (size_t i = 0; i < s->n_cache; i++) {
		if (s->cache[i].sql == sql || strcmp(s->cache[i].sql, sql) == 0) {
			sqlite3_stmt *st = s->cache[i].st;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		store_fail(s, d, "preparing SQL");
		return NULL;
	}
	if (s->n_cache < STORE_STMT_CACHE) {
		s->cache[s->n_cache].sql = sql;
		s->cache[s->n_cache].st = st;
		s->n_cache++;
	} else {
		/* Cache full: a programming error (too many distinct statements). */
		sqlite3_finalize(st);
		siegel_diag_set(d, "statement cache full");
		return NULL;
	}
	return st;
}

int store_exec_stmt(struct store *s, sqlite3_stmt *st, struct siegel_diag *d)
{
	int r = sqlite3_step(st);
	if (r == SQLITE_DONE || r == SQLITE_ROW) {
		sqlite3_reset(st);
		return 0;
	}
	int rc = store_fail(s, d, "SQL step");
	sqlite3_reset(st);
	return rc;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int begin_immediate(struct store *s, struct siegel_diag *d)
{
	int waited = 0, backoff = 1;
	for (;;) {
		int r = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (r == SQLITE_OK)
			return 0;
		if ((r & 0xff) != SQLITE_BUSY || waited >= STORE_BUSY_MS)
			return siegel_fail(d, SIEGEL_E_STORAGE, "BEGIN: %s", sqlite3_errmsg(s->db));
		sleep_ms(backoff);
		waited += backoff;
		backoff = backoff < 64 ? backoff * 2 : 64;
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs one batch of queued calls in one transaction (leader only). */
static void run_batch(struct store *s, struct store_req *batch)
{
	store_lock(s);
	struct siegel_diag bd = { { 0 } };
	int rc = begin_immediate(s, &bd);
	if (rc) {
		for (struct store_req *r = batch; r != NULL; r = r->next) {
			r->rc = rc;
			if (r->d)
				*r->d = bd;
		}
		store_unlock(s);
		return;
	}
	int single = batch->next == NULL;
	for (struct store_req *r = batch; r != NULL; r = r->next) {
		if (single) {
			r->rc = r->fn(s, r->ctx, r->d);
			continue;
		}
		if (sqlite3_exec(s->db, "SAVEPOINT op", NULL, NULL, NULL) != SQLITE_OK) {
			r->rc = siegel_fail(r->d, SIEGEL_E_STORAGE, "SAVEPOINT: %s", sqlite3_errmsg(s->db));
			continue;
		}
		r->rc = r->fn(s, r->ctx, r->d);
		if (r->rc != 0)
			(void)sqlite3_exec(s->db, "ROLLBACK TO op", NULL, NULL, NULL);
		(void)sqlite3_exec(s->db, "RELEASE op", NULL, NULL, NULL);
	}
	if (single && batch->rc != 0) {
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	} else if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		/* Nothing of the batch is durable: every call fails. */
		siegel_diag_set(&bd, "COMMIT: %s", sqlite3_errmsg(s->db));
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		for (struct store_req *r = batch; r != NULL; r = r->next) {
			r->rc = SIEGEL_E_STORAGE;
			if (r->d)
				*r->d = bd;
		}
	}
	store_unlock(s);
}

/* The commit thread: takes up to STORE_MAX_BATCH queued calls, runs them in
 * one transaction and wakes their callers. One thread owns this serial path
 * so that the threads serving requests can run at a lower priority than it
 * (see store_txn in store.h); the queue is drained before it stops. */
static void *committer_main(void *arg)
{
	struct store *s = arg;
	(void)pthread_setname_np(pthread_self(), "siegel-commit"); /* top -H, perf, gdb */
	pthread_mutex_lock(&s->q_lock);
	for (;;) {
		while (s->q_head == NULL && !s->stopping) {
			s->leader = 0;
			pthread_cond_wait(&s->q_work, &s->q_lock);
		}
		if (s->q_head == NULL)
			break;
		s->leader = 1;
		struct store_req *batch = s->q_head, *last = batch;
		size_t n = 1;
		while (last->next != NULL && n < STORE_MAX_BATCH) {
			last = last->next;
			n++;
		}
		s->q_head = last->next;
		if (s->q_head == NULL)
			s->q_tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&s->q_lock);
		uint64_t t0 = mono_ns(), c0 = thread_cpu_ns();
		run_batch(s, batch);
		uint64_t t1 = mono_ns(), c1 = thread_cpu_ns();
		/* counted before the callers wake: a caller that returned sees
		 * its call in store_txn_stats */
		pthread_mutex_lock(&s->q_lock);
		s->busy_ns += t1 - t0;
		s->cpu_ns += c1 - c0;
		s->batches++;
		s->calls += n;
		pthread_mutex_unlock(&s->q_lock);
		/* Wake exactly this batch's callers, each on its own semaphore:
		 * no herd on a shared lock (callers of a server run at a lower
		 * priority and must not hold a lock the commit thread needs). A
		 * caller's request lives on its stack: next is read before the post. */
		for (struct store_req *r = batch; r != NULL;) {
			struct store_req *next = r->next;
			sem_post(&r->done);
			r = next;
		}
		pthread_mutex_lock(&s->q_lock);
	}
	pthread_mutex_unlock(&s->q_lock);
	return NULL;
}

int store_txn(struct store *s, store_txn_fn fn, void *ctx, struct siegel_diag *d)
{
	struct store_req req;
	memset(&req, 0, sizeof(req));
	req.fn = fn;
	req.ctx = ctx;
	req.d = d;
	if (sem_init(&req.done, 0, 0) != 0)
		return siegel_fail(d, SIEGEL_E_NOMEM, "store: no semaphore for the call");
	pthread_mutex_lock(&s->q_lock);
	if (s->q_tail)
		s->q_tail->next = &req;
	else
		s->q_head = &req;
	s->q_tail = &req;
	if (!s->leader)
		pthread_cond_signal(&s->q_work);
	pthread_mutex_unlock(&s->q_lock);
	while (sem_wait(&req.done) != 0)
		; /* EINTR: a signal handler ran; the call is still queued or running */
	sem_destroy(&req.done);
	return req.rc;
}
