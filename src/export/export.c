/* export: TR-03151 export, serial numbers, certificates and restore (see export.h). */
#include "export/export.h"

#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "cert/cert.h"
#include "exportcheck/exportcheck.h"
#include "logmsg/logmsg.h"
#include "store/store.h"

/* The filter as SQL over logs; ?1 tss, ?2 counter > , ?3 counter <=, ?4 tx,
 * ?5/?6 tx range, ?7/?8 time range, ?9 client. */
#define FILTER_SQL \
	"tss_id = ?1 AND counter > ?2 AND counter <= ?3" \
	" AND (?4 IS NULL OR tx_number = ?4)" \
	" AND (?5 IS NULL OR tx_number >= ?5) AND (?6 IS NULL OR tx_number <= ?6)" \
	" AND (?7 IS NULL OR log_time >= ?7) AND (?8 IS NULL OR log_time <= ?8)" \
	" AND (?9 IS NULL OR client_id = ?9)"

static void bind_filter(sqlite3_stmt *st, const char *tss_id, const struct export_filter *f,
	uint64_t after, uint64_t upto)
{
	sqlite3_bind_text(st, 1, tss_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)(upto > (uint64_t)INT64_MAX ? INT64_MAX : upto));
	if (f->has_tx)
		sqlite3_bind_int64(st, 4, (sqlite3_int64)f->tx);
	if (f->has_tx_range) {
		sqlite3_bind_int64(st, 5, (sqlite3_int64)f->tx_first);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)(f->tx_last > (uint64_t)INT64_MAX ? INT64_MAX
			: f->tx_last));
	}
	if (f->has_time) {
		sqlite3_bind_int64(st, 7, f->time_start);
		sqlite3_bind_int64(st, 8, f->time_end);
	}
	if (f->client_id != NULL)
		sqlite3_bind_text(st, 9, f->client_id, -1, SQLITE_STATIC);
}

static int filtered(const struct export_filter *f)
{
	return f->has_tx || f->has_tx_range || f->has_time || f->client_id != NULL;
}

static int check_filter(const struct export_filter *f, struct siegel_diag *d)
{
	if (f->has_tx && f->has_tx_range)
		return siegel_fail(d, SIEGEL_E_PARAM,
			"give either a transaction number or a transaction number range");
	if (f->has_tx_range && f->tx_first > f->tx_last)
		return siegel_fail(d, SIEGEL_E_PARAM, "transaction range: start %" PRIu64 " > end %" PRIu64,
			f->tx_first, f->tx_last);
	if (f->has_time && f->time_start > f->time_end)
		return siegel_fail(d, SIEGEL_E_PARAM, "time range: start after end");
	if ((f->has_tx || f->has_tx_range) && f->has_time)
		return siegel_fail(d, SIEGEL_E_PARAM,
			"a transaction filter and a time range cannot be combined");
	if (f->client_id != NULL && tse_check_client_id(f->client_id, d) != 0)
		return SIEGEL_E_PARAM;
	if (f->tx_last > (uint64_t)INT64_MAX || f->tx > (uint64_t)INT64_MAX)
		return siegel_fail(d, SIEGEL_E_PARAM, "transaction number out of range");
	return 0;
}

int export_filter_check(const struct export_filter *f, struct siegel_diag *d)
{
	return check_filter(f, d);
}

/* ------------------------------------------------------------------ */
/* TSS row                                                              */

struct tss_export_row {
	char description[256];
	uint8_t serial[ALG_SERIAL_LEN];
	uint64_t sig_counter;
	struct siegel_buf certs[3];   /* leaf, ca, root (PEM) */
};

static void row_free(struct tss_export_row *r)
{
	for (int i = 0; i < 3; i++)
		siegel_buf_free(&r->certs[i]);
}

/* Reads the TSS; the caller holds the store lock. */
static int row_load(struct store *s, const char *tss_id, struct tss_export_row *r,
	struct siegel_diag *d)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 3; i++)
		siegel_buf_init(&r->certs[i]);
	sqlite3_stmt *st = store_stmt(s, "SELECT coalesce(description,''), serial, sig_counter, "
		"cert_leaf, cert_ca, cert_root FROM tss WHERE id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, tss_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? siegel_fail(d, SIEGEL_E_NOTFOUND, "no TSS with id '%s'", tss_id)
					 : store_fail(s, d, "loading TSS");
	}
	snprintf(r->description, sizeof(r->description), "%s",
		(const char *)sqlite3_column_text(st, 0));
	rc = 0;
	if (sqlite3_column_bytes(st, 1) != ALG_SERIAL_LEN)
		rc = siegel_fail(d, SIEGEL_E_STATE, "TSS '%s' has no key yet", tss_id);
	else
		memcpy(r->serial, sqlite3_column_blob(st, 1), ALG_SERIAL_LEN);
	r->sig_counter = (uint64_t)sqlite3_column_int64(st, 2);
	for (int i = 0; i < 3 && rc == 0; i++) {
		int n = sqlite3_column_bytes(st, 3 + i);
		if (n <= 0)
			rc = siegel_fail(d, SIEGEL_E_STATE, "TSS '%s' has no certificate chain", tss_id);
		else
			siegel_buf_append(&r->certs[i], sqlite3_column_blob(st, 3 + i), (size_t)n);
	}
	sqlite3_reset(st);
	for (int i = 0; i < 3 && rc == 0; i++)
		if (r->certs[i].err)
			rc = SIEGEL_E_NOMEM;
	if (rc)
		row_free(r);
	return rc;
}

static int cert_member_name(char out[128], const struct siegel_buf *pem, struct siegel_diag *d)
{
	X509 *x = NULL;
	char hex[65];
	int rc = cert_parse(&x, pem->data, pem->len, d);
	if (rc == 0)
		rc = cert_key_hash_hex(hex, x);
	X509_free(x);
	if (rc)
		return siegel_fail(d, rc, "stored certificate unusable");
	snprintf(out, 128, "%s_X509.pem", hex);
	return 0;
}

static void csv_quoted(struct siegel_buf *out, const char *s)
{
	siegel_buf_putc(out, '"');
	for (; *s; s++) {
		if (*s == '"')
			siegel_buf_putc(out, '"');
		siegel_buf_putc(out, (uint8_t)*s);
	}
	siegel_buf_putc(out, '"');
}

void export_info_csv(struct siegel_buf *out, const char *description)
{
	siegel_buf_puts(out, "\"description:\",");
	csv_quoted(out, description ? description : "");
	siegel_buf_puts(out, ",\"manufacturer:\",");
	csv_quoted(out, EXPORT_MANUFACTURER);
	siegel_buf_puts(out, ",\"version:\",");
	csv_quoted(out, EXPORT_VERSION);
	siegel_buf_putc(out, '\n');
}

/* ------------------------------------------------------------------ */
/* export                                                               */

struct page_row {
	uint64_t counter;
	size_t off, len;
};

int export_write(struct export_result *out, struct tse *t, const char *tss_id,
	const struct export_filter *f, tar_write_fn write, void *write_ctx, int64_t now,
	struct siegel_diag *d)
{
	return export_write_ex(out, t, tss_id, f, write, write_ctx, now, NULL, NULL, d);
}

int export_write_ex(struct export_result *out, struct tse *t, const char *tss_id,
	const struct export_filter *f, tar_write_fn write, void *write_ctx, int64_t now,
	export_progress_fn progress, void *progress_ctx, struct siegel_diag *d)
{
	struct export_filter none;
	memset(&none, 0, sizeof(none));
	if (f == NULL)
		f = &none;
	memset(out, 0, sizeof(*out));
	int rc = tse_check_tss_id(tss_id, d);
	if (rc == 0)
		rc = check_filter(f, d);
	if (rc)
		return rc;
	struct store *s = tse_store(t);
	struct tss_export_row row;
	uint64_t after = 0, count = 0;

	store_lock(s);
	rc = row_load(s, tss_id, &row, d);
	if (rc) {
		store_unlock(s);
		return rc;
	}
	if (f->incremental) {
		sqlite3_stmt *st = store_stmt(s, "SELECT coalesce(max(snapshot_counter), 0) FROM exports "
			"WHERE tss_id = ? AND kind IN ('full', 'incremental')", d);
		if (st == NULL) {
			rc = SIEGEL_E_DB;
		} else {
			sqlite3_bind_text(st, 1, tss_id, -1, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_ROW)
				after = (uint64_t)sqlite3_column_int64(st, 0);
			else
				rc = store_fail(s, d, "reading the previous export");
			sqlite3_reset(st);
		}
	}
	if (rc == 0) {
		sqlite3_stmt *st = store_stmt(s, "SELECT count(*) FROM logs WHERE " FILTER_SQL, d);
		if (st == NULL) {
			rc = SIEGEL_E_DB;
		} else {
			bind_filter(st, tss_id, f, after, row.sig_counter);
			if (sqlite3_step(st) == SQLITE_ROW)
				count = (uint64_t)sqlite3_column_int64(st, 0);
			else
				rc = store_fail(s, d, "counting logs");
			sqlite3_reset(st);
		}
	}
	store_unlock(s);
	if (rc)
		goto out;
	out->after_counter = after;
	out->snapshot_counter = row.sig_counter;
	out->created_at = now;
	siegel_hex_encode(out->serial_hex, row.serial, ALG_SERIAL_LEN);
	if (f->max_records > 0 && count > f->max_records) {
		rc = siegel_fail(d, SIEGEL_E_TOO_MANY_RECORDS, "%" PRIu64 " logs match, more than "
			"maximumNumberRecords %" PRIu64, count, f->max_records);
		goto out;
	}
	if (count == 0 && (filtered(f) || f->incremental)) {
		rc = siegel_fail(d, SIEGEL_E_NO_DATA, f->incremental && !filtered(f)
			? "no logs since the previous export" : "no logs match the filter");
		goto out;
	}
	if (progress != NULL && (rc = progress(progress_ctx, 0, count)) != 0) {
		rc = siegel_fail(d, rc, "export stopped");
		goto out;
	}

	struct tar_writer w;
	tar_writer_init(&w, write, write_ctx, now);
	struct siegel_buf buf;
	siegel_buf_init(&buf);
	export_info_csv(&buf, row.description);
	rc = buf.err ? buf.err : tar_write_file(&w, "info.csv", buf.data, buf.len, d);
	for (int i = 0; i < 3 && rc == 0; i++) {
		char name[128];
		rc = cert_member_name(name, &row.certs[i], d);
		if (rc == 0)
			rc = tar_write_file(&w, name, row.certs[i].data, row.certs[i].len, d);
	}

	/* the logs, a page at a time */
	struct page_row rows[EXPORT_PAGE_ROWS];
	uint64_t cursor = after;
	struct siegel_buf name, prev;
	siegel_buf_init(&name);
	siegel_buf_init(&prev);
	unsigned fc = 0;
	while (rc == 0) {
		size_t n = 0;
		siegel_buf_reset(&buf);
		store_lock(s);
		sqlite3_stmt *st = store_stmt(s, "SELECT counter, der FROM logs WHERE " FILTER_SQL
			" ORDER BY counter LIMIT " "256", d);
		if (st == NULL) {
			store_unlock(s);
			rc = SIEGEL_E_DB;
			break;
		}
		bind_filter(st, tss_id, f, cursor, row.sig_counter);
		int sr;
		while (n < EXPORT_PAGE_ROWS && (sr = sqlite3_step(st)) == SQLITE_ROW) {
			rows[n].counter = (uint64_t)sqlite3_column_int64(st, 0);
			rows[n].off = buf.len;
			rows[n].len = (size_t)sqlite3_column_bytes(st, 1);
			siegel_buf_append(&buf, sqlite3_column_blob(st, 1), rows[n].len);
			n++;
		}
		if (n < EXPORT_PAGE_ROWS && sr != SQLITE_DONE)
			rc = store_fail(s, d, "reading logs");
		sqlite3_reset(st);
		store_unlock(s);
		if (rc == 0 && buf.err)
			rc = SIEGEL_E_NOMEM;
		if (rc || n == 0)
			break;
		for (size_t i = 0; i < n && rc == 0; i++) {
			struct logmsg m;
			struct siegel_diag pd = { { 0 } };
			rc = logmsg_parse(&m, buf.data + rows[i].off, rows[i].len, &pd);
			if (rc) {
				rc = siegel_fail(d, SIEGEL_E_STORAGE, "stored log %" PRIu64 " does not decode: %s",
					rows[i].counter, pd.msg);
				break;
			}
			siegel_buf_reset(&name);
			rc = logmsg_file_name(&name, &m);
			logmsg_clear(&m);
			if (rc) {
				rc = siegel_fail(d, rc, "log %" PRIu64 ": no file name", rows[i].counter);
				break;
			}
			/* Counters are unique per TSS and rows come in counter order, so
			 * an equal name can only be the previous one. */
			if (prev.len == name.len && memcmp(prev.data, name.data, name.len) == 0) {
				fc++;
			} else {
				fc = 0;
				siegel_buf_reset(&prev);
				siegel_buf_append(&prev, name.data, name.len);
			}
			if (fc > 0) {
				name.len -= 4; /* ".log" */
				siegel_buf_printf(&name, "_Fc-%u.log", fc);
			}
			siegel_buf_putc(&name, 0);
			if (name.err || prev.err) {
				rc = SIEGEL_E_NOMEM;
				break;
			}
			rc = tar_write_file(&w, (const char *)name.data, buf.data + rows[i].off, rows[i].len, d);
			if (rc)
				break;
			if (out->logs == 0)
				out->first_counter = rows[i].counter;
			out->last_counter = rows[i].counter;
			out->logs++;
			cursor = rows[i].counter;
			if (progress != NULL && (rc = progress(progress_ctx, out->logs, count)) != 0) {
				rc = siegel_fail(d, rc, "export stopped after %" PRIu64 " logs", out->logs);
				break;
			}
		}
		if (n < EXPORT_PAGE_ROWS)
			break;
	}
	if (rc == 0)
		rc = tar_write_end(&w, d);
	out->bytes = w.bytes;
	siegel_buf_free(&name);
	siegel_buf_free(&prev);
	siegel_buf_free(&buf);
out:
	row_free(&row);
	return rc;
}

struct commit_ctx {
	const char *tss_id;
	const struct export_filter *f;
	const struct export_result *r;
};

static int commit_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct commit_ctx *c = vctx;
	sqlite3_stmt *st = store_stmt(s, "UPDATE logs SET exported = 1 WHERE " FILTER_SQL
		" AND exported = 0", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	bind_filter(st, c->tss_id, c->f, c->r->after_counter, c->r->snapshot_counter);
	int rc = store_exec_stmt(s, st, d);
	if (rc)
		return rc;
	st = store_stmt(s, "INSERT INTO exports (tss_id, seq, created_at, kind, first_counter, "
		"last_counter, snapshot_counter, logs) VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 "
		"FROM exports WHERE tss_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7)", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->r->created_at);
	sqlite3_bind_text(st, 3, filtered(c->f) ? "filtered" : c->f->incremental ? "incremental" : "full",
		-1, SQLITE_STATIC);
	if (c->r->logs) {
		sqlite3_bind_int64(st, 4, (sqlite3_int64)c->r->first_counter);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)c->r->last_counter);
	}
	sqlite3_bind_int64(st, 6, (sqlite3_int64)c->r->snapshot_counter);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)c->r->logs);
	return store_exec_stmt(s, st, d);
}

int export_commit(struct tse *t, const char *tss_id, const struct export_filter *f,
	const struct export_result *r, struct siegel_diag *d)
{
	struct export_filter none;
	memset(&none, 0, sizeof(none));
	struct commit_ctx c = { tss_id, f ? f : &none, r };
	return store_txn(tse_store(t), commit_txn, &c, d);
}

static int fd_write(void *ctx, const void *p, size_t n)
{
	int fd = *(int *)ctx;
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t k = write(fd, b, n);
		if (k < 0)
			return SIEGEL_E_IO;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Buffered writer over an fd: the TAR writer makes many small writes. */
struct bufw {
	int fd;
	uint8_t buf[1 << 16];
	size_t len;
};

static int bufw_flush(struct bufw *b)
{
	int rc = fd_write(&b->fd, b->buf, b->len);
	b->len = 0;
	return rc;
}

static int bufw_write(void *ctx, const void *p, size_t n)
{
	struct bufw *b = ctx;
	if (b->len + n > sizeof(b->buf)) {
		int rc = bufw_flush(b);
		if (rc)
			return rc;
		if (n > sizeof(b->buf))
			return fd_write(&b->fd, p, n);
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	return 0;
}

int export_to_file(struct export_result *out, struct tse *t, const char *tss_id,
	const struct export_filter *f, const char *path, int64_t now, struct siegel_diag *d)
{
	return export_to_file_ex(out, t, tss_id, f, path, now, NULL, NULL, d);
}

int export_to_file_ex(struct export_result *out, struct tse *t, const char *tss_id,
	const struct export_filter *f, const char *path, int64_t now, export_progress_fn progress,
	void *progress_ctx, struct siegel_diag *d)
{
	size_t pl = strlen(path);
	char *tmp = malloc(pl + 16);
	struct bufw *b = malloc(sizeof(*b));
	if (tmp == NULL || b == NULL) {
		free(tmp);
		free(b);
		return SIEGEL_E_NOMEM;
	}
	snprintf(tmp, pl + 16, "%s.tmpXXXXXX", path);
	int rc = 0;
	b->fd = mkstemp(tmp);
	b->len = 0;
	if (b->fd < 0) {
		rc = siegel_fail(d, SIEGEL_E_IO, "cannot create %s", tmp);
		goto out;
	}
	fchmod(b->fd, 0644);
	rc = export_write_ex(out, t, tss_id, f, bufw_write, b, now, progress, progress_ctx, d);
	if (rc == 0 && bufw_flush(b) != 0)
		rc = siegel_fail(d, SIEGEL_E_IO, "writing %s failed", tmp);
	if (rc == 0 && fsync(b->fd) != 0)
		rc = siegel_fail(d, SIEGEL_E_IO, "fsync %s failed", tmp);
	if (close(b->fd) != 0 && rc == 0)
		rc = siegel_fail(d, SIEGEL_E_IO, "close %s failed", tmp);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = siegel_fail(d, SIEGEL_E_IO, "cannot rename %s to %s", tmp, path);
	if (rc) {
		unlink(tmp);
		goto out;
	}
	/* make the rename durable */
	char *dirc = strdup(path);
	if (dirc != NULL) {
		int dfd = open(dirname(dirc), O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
		free(dirc);
	}
	rc = export_commit(t, tss_id, f, out, d);
out:
	free(tmp);
	free(b);
	return rc;
}

/* ------------------------------------------------------------------ */
/* serial numbers, certificates                                         */

/* Checks tss_id and reads its TSS under the store lock. */
static int row_get(struct tse *t, const char *tss_id, struct tss_export_row *row,
	struct siegel_diag *d)
{
	int rc = tse_check_tss_id(tss_id, d);
	if (rc)
		return rc;
	store_lock(tse_store(t));
	rc = row_load(tse_store(t), tss_id, row, d);
	store_unlock(tse_store(t));
	return rc;
}

int export_serials(struct siegel_buf *out, struct tse *t, const char *tss_id,
	struct siegel_diag *d)
{
	struct tss_export_row row;
	int rc = row_get(t, tss_id, &row, d);
	if (rc)
		return rc;
	struct logmsg_serial_record rec;
	memcpy(rec.serial, row.serial, ALG_SERIAL_LEN);
	rec.transaction_log = rec.system_log = rec.audit_log = 1;
	row_free(&row);
	return logmsg_serials_encode(out, &rec, 1);
}

int export_certificates(struct siegel_buf *out, struct tse *t, const char *tss_id, int as_tar,
	int64_t now, struct siegel_diag *d)
{
	struct tss_export_row row;
	int rc = row_get(t, tss_id, &row, d);
	if (rc)
		return rc;
	if (!as_tar) {
		for (int i = 0; i < 3; i++)
			siegel_buf_append(out, row.certs[i].data, row.certs[i].len);
		rc = out->err;
	} else {
		struct tar_writer w;
		tar_writer_init(&w, tar_write_buf, out, now);
		for (int i = 0; i < 3 && rc == 0; i++) {
			char name[128];
			rc = cert_member_name(name, &row.certs[i], d);
			if (rc == 0)
				rc = tar_write_file(&w, name, row.certs[i].data, row.certs[i].len, d);
		}
		if (rc == 0)
			rc = tar_write_end(&w, d);
	}
	row_free(&row);
	return rc;
}

/* ------------------------------------------------------------------ */
/* restore                                                              */

/* The report must be clean for a restore; names the first problem. */
static int restore_acceptable(const struct exportcheck_report *r, struct siegel_diag *d)
{
	if (!r->ok) {
		if (r->n_errors > 0)
			return siegel_fail(d, SIEGEL_E_VERIFY, "restore refused: %s%s%s", r->errors[0].member,
				r->errors[0].member[0] ? ": " : "", r->errors[0].problem);
		return siegel_fail(d, SIEGEL_E_VERIFY, "restore refused: the archive failed its checks");
	}
	if (r->messages == 0)
		return siegel_fail(d, SIEGEL_E_NO_DATA, "restore refused: no log messages in the archive");
	if (r->n_keys != 1)
		return siegel_fail(d, SIEGEL_E_PARAM, "restore refused: logs of %zu keys (one TSS has one)",
			r->n_keys);
	if (r->n_gaps > 0)
		return siegel_fail(d, SIEGEL_E_VERIFY, "restore refused: signature counters %" PRIu64
			"..%" PRIu64 " missing (a partial export cannot be restored)", r->gaps[0].first,
			r->gaps[0].last);
	if (r->duplicate_counters)
		return siegel_fail(d, SIEGEL_E_VERIFY, "restore refused: duplicate signature counters");
	const struct exportcheck_key *k = &r->keys[0];
	if (k->chain != EXPORTCHECK_CHAIN_TRUSTED && k->chain != EXPORTCHECK_CHAIN_UNTRUSTED)
		return siegel_fail(d, SIEGEL_E_VERIFY, "restore refused: %s: certificate chain %s: %s",
			k->cert >= 0 ? r->certs[k->cert].member : k->first_member,
			exportcheck_chain_name(k->chain), k->chain_problem);
	if (r->time_formats.n != 1)
		return siegel_fail(d, SIEGEL_E_PARAM, "restore refused: logs use %zu time formats",
			r->time_formats.n);
	return 0;
}

struct restore_ctx {
	struct tse *t;
	const char *tss_id;
	const char *path;
	X509 *trust;
	int64_t now;
	const struct exportcheck_report *first;
	struct export_restore_result *out;
	uint64_t max_tx;
	struct store *s;
};

static int restore_log(void *vctx, const char *member, const struct logmsg *m,
	const uint8_t *der, size_t der_len, int valid, struct siegel_diag *d)
{
	struct restore_ctx *c = vctx;
	if (!valid)
		return siegel_fail(d, SIEGEL_E_VERIFY, "restore refused: %s: signature not valid", member);
	sqlite3_stmt *st = store_stmt(c->s,
		"INSERT INTO logs (tss_id, counter, kind, log_time, tx_number, client_id, operation, der, "
		"exported) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	if (m->signature_counter > (uint64_t)INT64_MAX)
		return siegel_fail(d, SIEGEL_E_PARAM, "%s: signature counter out of range", member);
	sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)m->signature_counter);
	sqlite3_bind_int(st, 3, (int)m->kind);
	sqlite3_bind_int64(st, 4, m->log_time.unix_sec);
	if (m->kind == LOGMSG_TRANSACTION) {
		sqlite3_bind_int64(st, 5, (sqlite3_int64)m->transaction_number);
		sqlite3_bind_text(st, 6, (const char *)m->client_id.p, (int)m->client_id.len,
			SQLITE_STATIC);
		if (m->transaction_number > c->max_tx)
			c->max_tx = m->transaction_number;
	}
	sqlite3_bind_text(st, 7, m->operation_type.p ? (const char *)m->operation_type.p : "",
		(int)m->operation_type.len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, der, (int)der_len, SQLITE_STATIC);
	struct siegel_diag ld = { { 0 } };
	int rc = store_exec_stmt(c->s, st, &ld);
	if (rc)
		return siegel_fail(d, rc, "restore: %s: %s", member, ld.msg);
	c->out->logs++;
	return 0;
}

/* Leaf, its issuer and the root among the certificates of the report. */
static int restore_chain(X509 *chain[3], const struct exportcheck_report *r, struct siegel_diag *d)
{
	const struct exportcheck_key *k = &r->keys[0];
	chain[0] = r->certs[k->cert].x;
	chain[1] = chain[2] = NULL;
	for (size_t i = 0; i < r->n_certs && chain[1] == NULL; i++)
		if (r->certs[i].x != chain[0] && X509_check_issued(r->certs[i].x, chain[0]) == X509_V_OK)
			chain[1] = r->certs[i].x;
	if (chain[1] == NULL)
		return siegel_fail(d, SIEGEL_E_VERIFY, "restore refused: no issuer of the TSS certificate");
	if (X509_check_issued(chain[1], chain[1]) == X509_V_OK) {
		chain[2] = chain[1];
	} else {
		for (size_t i = 0; i < r->n_certs && chain[2] == NULL; i++)
			if (X509_check_issued(r->certs[i].x, chain[1]) == X509_V_OK)
				chain[2] = r->certs[i].x;
	}
	ERR_clear_error();
	if (chain[2] == NULL)
		return siegel_fail(d, SIEGEL_E_VERIFY, "restore refused: no root certificate");
	return 0;
}

static int restore_txn(struct store *s, void *vctx, struct siegel_diag *d)
{
	struct restore_ctx *c = vctx;
	c->s = s;
	sqlite3_stmt *st = store_stmt(s, "SELECT (SELECT count(*) FROM tss WHERE id = ?1) + "
		"(SELECT count(*) FROM logs WHERE tss_id = ?1)", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
	int exists = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0;
	sqlite3_reset(st);
	if (exists)
		return siegel_fail(d, SIEGEL_E_EXISTS, "restore needs an empty store: TSS '%s' exists",
			c->tss_id);

	/* Second reading inside the transaction: every log re-verified and inserted. */
	struct exportcheck_opts o;
	memset(&o, 0, sizeof(o));
	o.trust = c->trust;
	o.on_log = restore_log;
	o.on_log_ctx = c;
	struct exportcheck_report *r = NULL;
	c->out->logs = 0;
	c->max_tx = 0;
	int rc = exportcheck_file(&r, c->path, &o, d);
	if (rc)
		return rc;
	rc = restore_acceptable(r, d);
	if (rc == 0 && (r->messages != c->first->messages ||
			memcmp(r->keys[0].serial, c->first->keys[0].serial, ALG_SERIAL_LEN) != 0 ||
			c->out->logs != r->messages))
		rc = siegel_fail(d, SIEGEL_E_VERIFY, "restore refused: the archive changed while reading");
	X509 *chain[3];
	if (rc == 0)
		rc = restore_chain(chain, r, d);
	const struct alg_info *ai = NULL;
	if (rc == 0) {
		uint8_t pub[ALG_MAX_PUB];
		size_t pl = 0;
		int nid = 0;
		if (alg_point_from_pkey(pub, &pl, &nid, X509_get0_pubkey(chain[0])) == 0)
			ai = alg_by_curve_nid(nid);
		if (ai == NULL)
			rc = siegel_fail(d, SIEGEL_E_NOTSUP, "restore refused: the TSS key's curve is not "
				"supported by siegel");
		else {
			memcpy(c->out->serial_hex, r->keys[0].hex, sizeof(c->out->serial_hex));
			c->out->first_counter = r->keys[0].counter_min;
			c->out->last_counter = r->keys[0].counter_max;
		}
		if (rc == 0 && ai != NULL) {
			struct siegel_buf pem[3];
			for (int i = 0; i < 3; i++)
				siegel_buf_init(&pem[i]);
			for (int i = 0; i < 3 && rc == 0; i++)
				rc = cert_to_pem(&pem[i], chain[i]);
			st = rc ? NULL : store_stmt(s,
				"INSERT INTO tss (id, state, description, alg, time_format, key_backend, key_label, "
				"serial, pubkey, cert_leaf, cert_ca, cert_root, sig_counter, tx_counter, "
				"max_clients, max_open_tx, created_at) VALUES (?, 'DISABLED', ?, ?, ?, 'restored', "
				"?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", d);
			if (rc == 0 && st == NULL)
				rc = SIEGEL_E_DB;
			if (rc == 0) {
				char label[128];
				snprintf(label, sizeof(label), "siegel-tss-%s", c->tss_id);
				sqlite3_bind_text(st, 1, c->tss_id, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 2, r->info_csv_ok ? r->info_description : "", -1,
					SQLITE_TRANSIENT);
				sqlite3_bind_text(st, 3, ai->config_name, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 4, r->time_formats.v[0], -1, SQLITE_TRANSIENT);
				sqlite3_bind_text(st, 5, label, -1, SQLITE_TRANSIENT);
				sqlite3_bind_blob(st, 6, r->keys[0].serial, ALG_SERIAL_LEN, SQLITE_TRANSIENT);
				sqlite3_bind_blob(st, 7, pub, (int)pl, SQLITE_TRANSIENT);
				for (int i = 0; i < 3; i++)
					sqlite3_bind_blob(st, 8 + i, pem[i].data, (int)pem[i].len, SQLITE_TRANSIENT);
				sqlite3_bind_int64(st, 11, (sqlite3_int64)r->keys[0].counter_max);
				sqlite3_bind_int64(st, 12, (sqlite3_int64)c->max_tx);
				sqlite3_bind_int(st, 13, TSE_DEFAULT_MAX_CLIENTS);
				sqlite3_bind_int(st, 14, TSE_DEFAULT_MAX_OPEN_TX);
				sqlite3_bind_int64(st, 15, c->now);
				rc = store_exec_stmt(s, st, d);
			}
			for (int i = 0; i < 3; i++)
				siegel_buf_free(&pem[i]);
		}
	}
	exportcheck_free(r);
	return rc;
}

int export_restore(struct export_restore_result *out, struct tse *t, const char *tss_id,
	const char *path, X509 *trust, int64_t now, struct siegel_diag *d)
{
	memset(out, 0, sizeof(*out));
	int rc = tse_check_tss_id(tss_id, d);
	if (rc)
		return rc;
	/* First reading: the complete check, nothing written. */
	struct exportcheck_opts o;
	memset(&o, 0, sizeof(o));
	o.trust = trust;
	o.threads = 2;
	struct exportcheck_report *r = NULL;
	rc = exportcheck_file(&r, path, &o, d);
	if (rc)
		return rc;
	rc = restore_acceptable(r, d);
	if (rc == 0) {
		struct restore_ctx c = { .t = t, .tss_id = tss_id, .path = path, .trust = trust,
			.now = now, .first = r, .out = out };
		rc = store_txn(tse_store(t), restore_txn, &c, d);
	}
	exportcheck_free(r);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}
