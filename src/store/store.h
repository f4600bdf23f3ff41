/* store: the durable state of every TSS in one SQLite database (WAL,
 * synchronous=FULL) with versioned migrations. The TSE logic runs each
 * operation inside store_txn(): the counter reservation, the signature and the
 * log row commit together or not at all, and nothing is acknowledged before
 * the commit returns. */
#ifndef SIEGEL_STORE_H
#define SIEGEL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "base/base.h"

struct store;

/* Opens (creating and migrating) the database at path and starts its commit
 * thread; an open store does not survive fork() (open it in the child). */
int store_open(struct store **out, const char *path, struct siegel_diag *d) SIEGEL_WUR;
void store_close(struct store *s);
/* Schema version after migrations. */
int store_schema_version(struct store *s);

/* Runs fn inside a database transaction. fn returns 0 to keep its changes,
 * an error to undo them (the error is returned).
 *
 * Group commit: calls from several threads are batched. The store's commit
 * thread (started by store_open) runs the queued functions inside one
 * BEGIN IMMEDIATE ... COMMIT, each in its own SAVEPOINT (so one failing
 * function undoes only its own changes), and every caller returns only after
 * that COMMIT is durable. If the COMMIT fails, every function of the batch
 * gets SIEGEL_E_STORAGE. A busy database is retried with back-off for up to
 * 5 s. fn runs on the commit thread: it must not call store_txn or wait for
 * the caller's thread, and a caller must not hold store_lock while it waits
 * here. The
 * commit thread keeps the process's scheduling priority, so a server can run
 * its request threads below it (http: request_nice). */
typedef int (*store_txn_fn)(struct store *s, void *ctx, struct siegel_diag *d);
int store_txn(struct store *s, store_txn_fn fn, void *ctx, struct siegel_diag *d) SIEGEL_WUR;
/* Statistics: batches committed, functions run in them, and the time
 * leaders spent running batches (busy_ns may be NULL). */
void store_txn_stats(struct store *s, uint64_t *batches, uint64_t *calls, uint64_t *busy_ns);

/* CPU time the commit thread spent running batches (busy_ns is wall time:
 * the difference is time it waited for the disk or for a CPU). */
uint64_t store_txn_cpu_ns(struct store *s);

/* WAL checkpoints: the checkpoint thread copies the WAL into the database
 * after every STORE_CKPT_FRAMES frames, outside the commit path; runs counts
 * its checkpoints, sync those a commit had to do itself. */
void store_ckpt_stats(struct store *s, uint64_t *runs, uint64_t *sync);

/* Pages the main connection's commits wrote to the WAL (one frame each):
 * per store call, the disk cost of a schema's writes, free of the noise of
 * timings. */
uint64_t store_wal_frames(struct store *s);

/* Reads outside store_txn must hold the database lock (recursive). */
void store_lock(struct store *s);
void store_unlock(struct store *s);

/* A cached prepared statement (reset and cleared bindings). The statement
 * stays owned by the store; do not finalize. NULL on error (diag set). */
sqlite3_stmt *store_stmt(struct store *s, const char *sql, struct siegel_diag *d);
/* Steps a statement to completion (no rows expected): 0 or SIEGEL_E_DB. */
int store_exec_stmt(struct store *s, sqlite3_stmt *st, struct siegel_diag *d) SIEGEL_WUR;
/* Runs plain SQL without results. */
int store_exec(struct store *s, const char *sql, struct siegel_diag *d) SIEGEL_WUR;
/* Error helper: diag "what: sqlite message", returns SIEGEL_E_DB. */
int store_fail(struct store *s, struct siegel_diag *d, const char *what);
sqlite3 *store_db(struct store *s);
/* Number of rows changed by the last statement. */
int store_changes(struct store *s);

#endif
