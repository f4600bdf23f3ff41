/* export: the TSE export of TR-03151 v1.0.1 §5 from the store (exportData
 * with its filters, incremental export), exportSerialNumbers (App. D),
 * getLogMessageCertificate, and restoreFromBackup (import of an export TAR
 * into an empty store after every check of exportcheck passed).
 *
 * Export needs no authentication and works in every TSS state, also after
 * disableSecureElement (TR-03153-1 §3.8). It streams: rows are read from
 * SQLite in counter order a page at a time (the database lock is held per
 * page only) and written through a callback, so memory stays constant. */
#ifndef SIEGEL_EXPORT_H
#define SIEGEL_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "base/base.h"
#include "tar/tar.h"
#include "tse/tse.h"

#define EXPORT_MANUFACTURER "siegel"
#define EXPORT_VERSION "siegel 0.1.0 (TR-03151 v1.0.1)"
#define EXPORT_PAGE_ROWS 256                 /* rows read per database lock */
#define EXPORT_MAX_CERT_BYTES (64 * 1024)

/* Filters (TR-03151 v1.0.1 exportData variants). Zero = no filter.
 * - tx: the logs of one transaction (with client_id: of that client);
 * - tx range: the transaction logs with tx_first <= number <= tx_last;
 * - time range: every log (system logs too) with start <= logTime <= end;
 * - client_id alone or with a range: only that client's transaction logs;
 * - max_records: more matching logs -> ErrorTooManyRecords, nothing written;
 * - incremental: the logs after the previous full or incremental export.
 * Filters combine with AND. */
struct export_filter {
	int has_tx;
	uint64_t tx;
	int has_tx_range;
	uint64_t tx_first, tx_last;
	int has_time;
	int64_t time_start, time_end;
	const char *client_id;
	uint64_t max_records;
	int incremental;
};

struct export_result {
	uint64_t logs;
	uint64_t first_counter, last_counter; /* of the exported logs (0 if none) */
	uint64_t after_counter;               /* incremental: logs after this counter */
	uint64_t snapshot_counter;            /* the signature counter when the export began */
	uint64_t bytes;
	int64_t created_at;
	char serial_hex[2 * ALG_SERIAL_LEN + 1];
};

/* Checks a filter as export_write does (ErrorParameterMismatch with the
 * reason): for callers that want to refuse a bad filter before queuing. */
int export_filter_check(const struct export_filter *f, struct siegel_diag *d) SIEGEL_WUR;

/* Writes the export TAR of tss_id through write (info.csv, the three
 * certificates <key hash>_X509.pem, one .log per message in counter order
 * named per TR-03151 5.1.2/5.1.3 with _Fc-<n> on clashes). `now` is the
 * archive time (mtime). Does not mark anything exported: call export_commit
 * once the TAR is stored safely. ErrorTooManyRecords, ErrorNoDataAvailable
 * (a filter or incremental export matching nothing), SIEGEL_E_NOTFOUND. */
int export_write(struct export_result *out, struct tse *t, const char *tss_id,
	const struct export_filter *f, tar_write_fn write, void *write_ctx, int64_t now,
	struct siegel_diag *d) SIEGEL_WUR;
/* Marks the logs of a finished export as exported (same filter, up to its
 * snapshot) and records the export for the next incremental one. */
int export_commit(struct tse *t, const char *tss_id, const struct export_filter *f,
	const struct export_result *r, struct siegel_diag *d) SIEGEL_WUR;
/* export_write to path (temp file, fsync, rename) followed by export_commit. */
int export_to_file(struct export_result *out, struct tse *t, const char *tss_id,
	const struct export_filter *f, const char *path, int64_t now, struct siegel_diag *d) SIEGEL_WUR;

/* Progress of an export (export_write_ex, export_to_file_ex): called once
 * with done = 0 when the number of matching logs (total) is known, then after
 * every log written. A non-zero return stops the export with that error
 * (the diag is set by the caller of the callback: "export stopped"). */
typedef int (*export_progress_fn)(void *ctx, uint64_t done, uint64_t total);
int export_write_ex(struct export_result *out, struct tse *t, const char *tss_id,
	const struct export_filter *f, tar_write_fn write, void *write_ctx, int64_t now,
	export_progress_fn progress, void *progress_ctx, struct siegel_diag *d) SIEGEL_WUR;
int export_to_file_ex(struct export_result *out, struct tse *t, const char *tss_id,
	const struct export_filter *f, const char *path, int64_t now, export_progress_fn progress,
	void *progress_ctx, struct siegel_diag *d) SIEGEL_WUR;

/* exportSerialNumbers: App. D TLV (one record: the TSS key signs all kinds). */
int export_serials(struct siegel_buf *out, struct tse *t, const char *tss_id,
	struct siegel_diag *d) SIEGEL_WUR;
/* getLogMessageCertificate: the chain leaf, intermediate, root as PEM
 * (as_tar = 0) or as a TAR of <key hash>_X509.pem files (archive time now). */
int export_certificates(struct siegel_buf *out, struct tse *t, const char *tss_id, int as_tar,
	int64_t now, struct siegel_diag *d) SIEGEL_WUR;

/* restoreFromBackup: imports the export TAR at path as TSS tss_id into a
 * store that has no such TSS and no logs for it. The archive is checked
 * completely first (exportcheck: every signature valid, every log with its
 * certificate, a complete chain, with trust (optional) trusted, no counter
 * gap or duplicate, one key, file names matching contents, no unsafe or
 * non-regular member); then, inside one store transaction, read again,
 * re-verified and inserted. Any failure rolls everything back and the diag
 * names the offending member. The restored TSS is a read-only archive:
 * state DISABLED, no users or clients (the key is never in a TAR). */
struct export_restore_result {
	uint64_t logs;
	uint64_t first_counter, last_counter;
	char serial_hex[2 * ALG_SERIAL_LEN + 1];
};
int export_restore(struct export_restore_result *out, struct tse *t, const char *tss_id,
	const char *path, X509 *trust, int64_t now, struct siegel_diag *d) SIEGEL_WUR;

/* Writes info.csv (v1.0.1, quoted, LF) for description into out. */
void export_info_csv(struct siegel_buf *out, const char *description);

#endif
