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

/* Opens (creating and migrating) the database at path. */
int store_open(struct store **out, const char *path, struct siegel_diag *d) SIEGEL_WUR;
void store_close(struct store *s);
/* Schema version after migrations. */
int store_schema_version(struct store *s);

/* Runs fn inside BEGIN IMMEDIATE ... COMMIT. fn returns 0 to commit, an
 * error to roll back (the error is returned). A busy database is retried
 * with back-off for up to busy_ms (default 5 s). */
typedef int (*store_txn_fn)(struct store *s, void *ctx, struct siegel_diag *d);
int store_txn(struct store *s, store_txn_fn fn, void *ctx, struct siegel_diag *d) SIEGEL_WUR;

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
