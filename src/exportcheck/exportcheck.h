/* exportcheck: checks a TSE export TAR (TR-03151 v1.0.1 §5, App. C) from any
 * vendor, without trusting member order or owner fields: every log is
 * decoded, matched to its certificate by serialNumber (= SHA-256 of the
 * certificate's key, not the file name), its signature verified, its file
 * name compared with its content; the certificate chain inside the TAR (and
 * against a trust anchor), info.csv, signature-counter continuity per key
 * and transaction sequences are checked.
 *
 * Reads the archive twice (certificates and info.csv first, then the logs),
 * so the input must be a file (or a memory buffer). Uses only base, tar,
 * alg, logmsg and cert: never the store or a key. */
#ifndef SIEGEL_EXPORTCHECK_H
#define SIEGEL_EXPORTCHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "alg/alg.h"
#include "base/base.h"
#include "logmsg/logmsg.h"
#include "tar/tar.h"

#define EXPORTCHECK_MAX_PROBLEMS 1000  /* errors/warnings kept (the rest counted) */
#define EXPORTCHECK_MAX_CERTS 64       /* certificate members */
#define EXPORTCHECK_MAX_KEYS 64        /* distinct serialNumbers in logs */
#define EXPORTCHECK_MAX_SET 4096       /* entries of a reported set (client ids ...) */
#define EXPORTCHECK_MAX_INFO_CSV 65536
#define EXPORTCHECK_MAX_THREADS 16

/* Hook for restore: called for every log, in archive order, after its
 * signature was checked. m points into der. A non-zero return stops the check
 * and is returned. */
typedef int (*exportcheck_log_fn)(void *ctx, const char *member, const struct logmsg *m,
	const uint8_t *der, size_t der_len, int valid, struct siegel_diag *d);

struct exportcheck_opts {
	X509 *trust;            /* optional trust anchor (borrowed) */
	int threads;            /* signature verification threads (0/1 = none) */
	exportcheck_log_fn on_log;
	void *on_log_ctx;
};

enum exportcheck_chain {
	EXPORTCHECK_CHAIN_MISSING = 0,   /* no certificate, or an issuer not in the TAR */
	EXPORTCHECK_CHAIN_BROKEN,        /* a signature or constraint of the chain fails */
	EXPORTCHECK_CHAIN_UNTRUSTED,     /* consistent up to a root in the TAR, root not trusted */
	EXPORTCHECK_CHAIN_TRUSTED,       /* consistent up to the --trust root */
};

struct exportcheck_problem {
	char member[TAR_MAX_NAME + 1];   /* "" for archive-level findings */
	char problem[400];
};

struct exportcheck_gap {
	int key;                         /* index into keys */
	uint64_t first, last;
};

struct exportcheck_cert {
	char member[TAR_MAX_NAME + 1];
	X509 *x;
	char key_hash[65];
	const char *curve;               /* "P-256" ... or "unknown" */
	int name_mismatch;
	int self_signed;
};

struct exportcheck_key {
	uint8_t serial[ALG_SERIAL_LEN];
	char hex[65];
	int cert;                        /* index into certs, -1 = none */
	uint64_t logs, valid, invalid;
	uint64_t counter_min, counter_max;
	int64_t time_max;
	char first_member[TAR_MAX_NAME + 1];
	enum exportcheck_chain chain;
	char chain_problem[256];
	/* internal */
	uint64_t *counters;
	size_t n_counters, cap_counters;
	struct exportcheck_txrec *tx;
	size_t n_tx, cap_tx;
};

struct exportcheck_strset {
	char **v;
	size_t n;
	int overflow;
};

struct exportcheck_report {
	uint64_t messages, transaction_logs, system_logs, audit_logs;
	uint64_t valid_signatures, invalid_signatures, unknown_key, parse_errors;
	uint64_t certificates;
	int have_counters;
	uint64_t counter_min, counter_max;
	uint64_t duplicate_counters;
	uint64_t indefinite_length_logs;
	struct exportcheck_gap *gaps;
	size_t n_gaps;
	struct exportcheck_strset serial_numbers, time_formats, curves, client_ids;
	struct exportcheck_strset certificate_name_mismatches;
	struct { const char *name; uint64_t n; } sig_algs[16];
	size_t n_sig_algs;
	char *info_csv;                  /* raw content, NUL-terminated; NULL = missing */
	size_t info_csv_len;
	int info_csv_ok, info_csv_quoted;
	char info_description[256], info_manufacturer[256], info_version[256];
	/* filename_mismatches */
	struct exportcheck_fname { char name[TAR_MAX_NAME + 1]; unsigned fields; } *fname_mismatches;
	size_t n_fname_mismatches;
	uint64_t tar_skipped_types[256];
	int tar_truncated;
	int tar_bad_header;
	enum exportcheck_chain chain;    /* worst over the keys that have a certificate */
	int trust_given;
	struct exportcheck_problem *errors, *warnings;
	size_t n_errors, n_warnings;
	uint64_t errors_omitted, warnings_omitted;
	int ok;                          /* result: ok (1) or failed (0) */
	struct exportcheck_cert certs[EXPORTCHECK_MAX_CERTS];
	size_t n_certs;
	struct exportcheck_key keys[EXPORTCHECK_MAX_KEYS];
	size_t n_keys;
	uint64_t tar_members;
};

/* File-name fields that can differ from the content (filename_mismatches). */
#define EXPORTCHECK_F_FORMAT 0x01u
#define EXPORTCHECK_F_TIME 0x02u
#define EXPORTCHECK_F_COUNTER 0x04u
#define EXPORTCHECK_F_LOGTYPE 0x08u
#define EXPORTCHECK_F_TX 0x10u
#define EXPORTCHECK_F_OPERATION 0x20u
#define EXPORTCHECK_F_CLIENT 0x40u

/* Checks the TAR at path. Returns 0 when a report was produced (whatever
 * its result), SIEGEL_E_PARSE when the input cannot be read as a TAR at all
 * (first header invalid, empty file), SIEGEL_E_IO, SIEGEL_E_NOMEM, or what
 * on_log returned. *out is freed with exportcheck_free. */
int exportcheck_file(struct exportcheck_report **out, const char *path,
	const struct exportcheck_opts *o, struct siegel_diag *d) SIEGEL_WUR;
int exportcheck_mem(struct exportcheck_report **out, const uint8_t *data, size_t len,
	const struct exportcheck_opts *o, struct siegel_diag *d) SIEGEL_WUR;
void exportcheck_free(struct exportcheck_report *r);

/* The report as one JSON object (fields in docs/export.md). Caller decrefs. */
json_t *exportcheck_json(const struct exportcheck_report *r);
/* A human-readable report. */
void exportcheck_print(FILE *f, const struct exportcheck_report *r);
const char *exportcheck_chain_name(enum exportcheck_chain c);

/* info.csv (TR-03151 5.1.1): parses the v1.0.1 line, quoted or not, and the
 * v1.1 layout (description from its "description:" line). 0 or SIEGEL_E_PARSE. */
int exportcheck_info_csv_parse(const char *text, size_t len, char *desc, size_t desc_cap,
	char *manufacturer, size_t man_cap, char *version, size_t ver_cap, int *quoted_out) SIEGEL_WUR;

#endif
