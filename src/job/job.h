/* job: batch signing ("Stapelsignatur", BSI TR-03114) on top of src/sign.
 *
 * A job holds the confirmed list of documents (name, size, SHA-256) and a
 * job number that the signer sees before being asked for the PIN. It signs
 * at most n documents per authentication (n = 1: single signature) and asks
 * again after each n; the PIN lives only in locked memory for one round and
 * is wiped after it, then C_Logout. All-or-nothing: outputs go to a staging
 * directory and are published only when every document is signed and self-
 * checked; on any fault nothing is published, the job is marked failed with
 * the reason and the authorization is reset. Every signature is recorded in
 * the audit trail of the store (hash chain, each entry signed). A job whose
 * process ended in the middle (crash, kill) is cleaned up by the next job
 * into the same outbox (job_recover): nothing of it stays published.
 *
 * Routes (job_route.c): the directory route of fideAS sign, configured as
 * data (one [route NAME] section per route). */
#ifndef SIEGEL_JOB_H
#define SIEGEL_JOB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "sign/sign.h"

struct store;
struct csp_key;

#define JOB_MAX_DOCS 100000
#define JOB_NUMBER_LEN 6
#define JOB_MAX_PER_AUTH 100000
#define JOB_DEFAULT_PIN_TRIES 3
#define JOB_MAX_NAME 255
#define JOB_MAX_REASON 512

enum job_format { JOB_FORMAT_AUTO = 0, JOB_FORMAT_PADES, JOB_FORMAT_CADES };
enum job_state { JOB_CONFIRMED = 0, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_ABORTED };

/* The PIN source (the CLI reads the terminal without echo; the API takes it
 * from the request). Writes at most cap bytes into pin (locked memory owned
 * by the job) and sets *len. job_number is shown with the prompt; round is
 * the authentication 1..rounds, attempt counts wrong PINs within a round.
 * Return an error (e.g. SIEGEL_E_UNAUTHORIZED) when the signer declines. */
typedef int (*job_pin_fn)(void *ctx, char *pin, size_t cap, size_t *len,
	const char *job_number, unsigned round, unsigned rounds, unsigned attempt);
typedef void (*job_progress_fn)(void *ctx, size_t done, size_t total, const char *name);

/* Fault injection for tests: 1-based document index, 0 = off. */
struct job_hooks {
	size_t token_error_at;        /* sign with an invalid key handle (a real CKR_ error) */
	size_t modify_at;             /* call modify(path) just before the document is read */
	void (*modify)(void *ctx, const char *path);
	void *modify_ctx;
	size_t selfcheck_fail_at;     /* corrupt the signature value the token returned */
	/* called at points of job_run: "staged" after document k is in
	 * staging, "moved" after the k-th file is published, "done" once the
	 * job is recorded DONE (k = 0) and before staging is removed; a crash
	 * test ends the process there */
	void (*point)(void *ctx, const char *where, size_t k);
	void *point_ctx;
};

struct job_config {
	/* key */
	const char *module;           /* PKCS#11 module path */
	const char *token;            /* token label */
	const char *key_label;        /* CKA_LABEL and/or */
	const uint8_t *key_id;        /* CKA_ID */
	size_t key_id_len;
	X509 *cert;                   /* signer certificate (borrowed) */
	STACK_OF(X509) *chain;        /* intermediates to check and embed (borrowed, optional) */
	STACK_OF(X509) *trust;        /* trust anchors (borrowed) */
	int hash_nid;                 /* 0: by key */
	int rsa_pss;
	unsigned per_auth;            /* n signatures per authentication; 0 -> 1 */
	unsigned max_pin_tries;       /* per round; 0 -> JOB_DEFAULT_PIN_TRIES */
	/* documents */
	enum job_format format;       /* AUTO: PAdES for PDF, CAdES .p7s otherwise */
	int pdf_only;                 /* reject non-PDF input */
	const char *outbox;           /* where outputs are published */
	const char *infix;            /* "Dokument1" + infix + ".pdf"; NULL: ".signiert" */
	int copy_original;            /* CAdES: publish the original beside its .p7s */
	sign_tsa_fn tsa;              /* B-T when set */
	void *tsa_ctx;
	size_t contents_cap;          /* PAdES /Contents reservation; 0: default */
	/* interaction */
	job_pin_fn pin;
	void *pin_ctx;
	job_progress_fn progress;
	void *progress_ctx;
	/* records */
	struct store *store;          /* optional: jobs + audit trail */
	struct csp_key *audit_key;    /* signs audit entries (needed with store) */
	const char *route;            /* NULL: "cli" */
	const char *service_id;       /* for the job number; NULL: "siegel" */
	const struct siegel_clock *clock; /* NULL: system */
	int64_t deadline;             /* Unix seconds; 0: none. Reached = job aborted */
	struct job_hooks hooks;
};

struct job_doc {
	char *path;
	char *name;                   /* base name */
	uint64_t size;
	uint8_t sha256[32];
	int pdf;
	char *out_name;               /* published file name */
};

struct job {
	int64_t id;                   /* store row id (0 without store) */
	char number[JOB_NUMBER_LEN + 1];
	struct job_doc *docs;
	size_t n_docs;
	enum job_state state;
	char reason[JOB_MAX_REASON];
	unsigned pin_asks;
	size_t n_signed;
	char key_id[65];              /* the signer's (hex SHA-256 of its certificate), once known */
	char *outbox;                 /* the absolute outbox path, once running */
	atomic_int abort_flag;
};

/* Confirms the documents: reads and hashes each, decides the format and the
 * output name, makes the job number and records the job (state CONFIRMED).
 * Nothing is signed. */
int job_new(struct job **out, const char *const *paths, size_t n, const struct job_config *cfg,
	struct siegel_diag *d) SIEGEL_WUR;
/* Runs a confirmed job (see the top of this file). On failure the job's
 * state and reason say why, and no output exists. */
int job_run(struct job *j, const struct job_config *cfg, struct siegel_diag *d) SIEGEL_WUR;
/* Cleans up after jobs whose process ended (crash, kill) with cfg->outbox
 * as outbox: every staging directory there that no running job holds. The
 * files such a job had already moved into the outbox are taken out again
 * (only while they are still the files it moved), its staged files are
 * removed, and it is recorded FAILED ("interrupted") with an audit entry; a
 * job already recorded DONE only loses its staging directory. job_run does
 * this first. n_out (optional): how many staging directories were cleaned. */
int job_recover(const struct job_config *cfg, size_t *n_out, struct siegel_diag *d) SIEGEL_WUR;
/* Manual abort from another thread (takes effect before the next document). */
void job_abort(struct job *j);
void job_free(struct job *j);
const char *job_state_name(enum job_state s);

/* ---- store: status, abort from another process, audit ---- */
struct job_status {
	int64_t id;
	char number[JOB_NUMBER_LEN + 1];
	char route[64];
	char state[16];
	int64_t n_docs, n_signed, pin_asks;
	char reason[JOB_MAX_REASON];
	int64_t created_at, finished_at;
	char outbox[4096];            /* where it publishes ("" before it started) */
	int ended;                    /* RUNNING, but its process has ended (crash, kill):
				       * job_recover on the outbox cleans up */
};
/* ref: the job id (decimal) or its job number (the newest with it). */
int job_status_get(struct job_status *out, struct store *s, const char *ref,
	struct siegel_diag *d) SIEGEL_WUR;
/* Requests the abort of a running job (it stops before its next document)
 * or aborts a confirmed one. SIEGEL_E_STATE when it has already ended. */
int job_abort_request(struct store *s, const char *ref, struct siegel_diag *d) SIEGEL_WUR;
/* What job_audit_verify checks and finds. The chain alone cannot show that
 * its newest entries were removed: a head recorded earlier (seq and hash,
 * printed by `siegel sign audit verify`) can, given as want_seq/want_hash. */
struct job_audit_check {
	uint64_t want_seq;            /* in: 0, or an entry that must still be there ... */
	uint8_t want_hash[32];        /* ... with this hash */
	size_t entries;               /* out: entries checked */
	uint8_t head[32];             /* out: hash of the last entry (zeros: none) */
};
/* Walks the audit trail: gapless sequence, hash chain and every entry's
 * signature under pub, and the recorded head when one is given. */
int job_audit_verify(struct job_audit_check *c, struct store *s, EVP_PKEY *pub,
	struct siegel_diag *d) SIEGEL_WUR;

/* ---- directory route (job_route.c) ---- */
#define JOB_ROUTE_MAX 32

struct job_route {
	char name[64];
	char inbox[512], outbox[512];
	char format[16];              /* "pdf" (PAdES, PDF only) or "any" */
	char module[512], token[64], key_label[64];
	char cert[512], chain[512], trust[512];
	char infix[64];
	char tsa_url[256];
	unsigned per_auth;
	unsigned max_signatures;      /* 0: no limit */
	int64_t deadline;             /* Unix seconds; 0: none */
};

/* Reads every [route NAME] section of a config file. */
int job_routes_load(struct job_route *routes, size_t cap, size_t *n_out, const char *path,
	struct siegel_diag *d) SIEGEL_WUR;
/* The documents of a route run: the inbox's regular files in name order
 * (hidden files and non-PDF files on a PDF route skipped), at most
 * max_signatures. Paths malloc'd (free each, then the array). */
int job_route_scan(char ***paths_out, size_t *n_out, const struct job_route *r,
	struct siegel_diag *d) SIEGEL_WUR;
/* After a published route job: removes the signed originals from the inbox
 * (they are in the outbox now). */
int job_route_finish(const struct job *j, struct siegel_diag *d) SIEGEL_WUR;

#endif
