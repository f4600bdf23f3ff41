#include "store/store.h"

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

struct store {
	sqlite3 *db;
	struct store_stmt_slot cache[STORE_STMT_CACHE];
	size_t n_cache;
	int in_txn;
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

int store_open(struct store **out, const char *path, struct siegel_diag *d)
{
	struct store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return SIEGEL_E_NOMEM;
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
		"PRAGMA busy_timeout = 5000;", d);
	if (rc)
		goto fail;
	rc = store_migrate(s, d);
	if (rc)
		goto fail;
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
	for (size_t i = 0; i < s->n_cache; i++)
		sqlite3_finalize(s->cache[i].st);
	sqlite3_close(s->db);
	free(s);
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

int store_txn(struct store *s, store_txn_fn fn, void *ctx, struct siegel_diag *d)
{
	int waited = 0, backoff = 1;
	for (;;) {
		int r = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (r == SQLITE_OK)
			break;
		if ((r & 0xff) != SQLITE_BUSY || waited >= STORE_BUSY_MS)
			return store_fail(s, d, "BEGIN");
		sleep_ms(backoff);
		waited += backoff;
		backoff = backoff < 64 ? backoff * 2 : 64;
	}
	s->in_txn = 1;
	int rc = fn(s, ctx, d);
	if (rc == 0) {
		if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			rc = siegel_fail(d, SIEGEL_E_STORAGE, "COMMIT: %s", sqlite3_errmsg(s->db));
			(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		}
	} else {
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
	s->in_txn = 0;
	return rc;
}
