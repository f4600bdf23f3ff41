/* job: Stapelsignatur (TR-03114) with all-or-nothing publication, see job.h. */
#include "job/job.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include "alg/alg.h"
#include "csp/csp.h"
#include "der/der.h"
#include "store/store.h"

#define JOB_PATH_MAX 4096
#define JOB_BAD_HANDLE 0x7fff0bad /* test hook: an object handle no token has */

/* In the outbox: a job's staging directory is made as JOB_NEW_PREFIX, its
 * lock file JOB_LOCK is made and locked (flock, released by the kernel when
 * the process ends), and only then is it renamed to JOB_STAGING_PREFIX
 * <number>-<pid>: a staging directory whose lock can be taken belongs to a
 * process that has ended. Where no lock can be had, it is named
 * JOB_UNLOCKED_PREFIX instead, which recovery never touches. JOB_MANIFEST
 * in it lists what publish() moves out (see there). */
#define JOB_NEW_PREFIX ".siegel-new-"
#define JOB_STAGING_PREFIX ".siegel-staging-"
#define JOB_UNLOCKED_PREFIX ".siegel-unlocked-"
#define JOB_LOCK ".lock"
#define JOB_MANIFEST ".publishing"
#define JOB_FRESH_STALE_S 60 /* an empty JOB_NEW_PREFIX directory this old is left over */
#define JOB_MANIFEST_MAX ((size_t)JOB_MAX_DOCS * 2 * (24 + JOB_MAX_NAME + 1))

static const char *const state_names[] = { "CONFIRMED", "RUNNING", "DONE", "FAILED", "ABORTED" };

const char *job_state_name(enum job_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

static int64_t job_now(const struct job_config *cfg)
{
	const struct siegel_clock *c = cfg->clock ? cfg->clock : siegel_clock_system();
	return c->now(c->ctx);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* "Dokument1.pdf" + ".signiert" -> "Dokument1.signiert.pdf" (fideAS naming). */
static char *pdf_out_name(const char *name, const char *infix)
{
	const char *dot = strrchr(name, '.');
	size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
	size_t n = strlen(name) + strlen(infix) + 1;
	char *s = malloc(n);
	if (s != NULL)
		snprintf(s, n, "%.*s%s%s", (int)stem, name, infix, name + stem);
	return s;
}

static char *cms_out_name(const char *name)
{
	size_t n = strlen(name) + 5;
	char *s = malloc(n);
	if (s != NULL)
		snprintf(s, n, "%s.p7s", name);
	return s;
}

/* ---- store helpers ---- */

struct sqlp {
	char t;               /* 'i' int, 's' text, 'b' blob, 'n' null */
	int64_t i;
	const char *s;
	const void *b;
	size_t bl;
};

static int bind_all(sqlite3_stmt *st, const struct sqlp *ps, int n)
{
	for (int k = 0; k < n; k++) {
		int r = SQLITE_OK;
		switch (ps[k].t) {
		case 'i': r = sqlite3_bind_int64(st, k + 1, ps[k].i); break;
		case 's': r = sqlite3_bind_text(st, k + 1, ps[k].s, -1, SQLITE_TRANSIENT); break;
		case 'b': r = sqlite3_bind_blob(st, k + 1, ps[k].b, (int)ps[k].bl, SQLITE_TRANSIENT); break;
		default: r = sqlite3_bind_null(st, k + 1); break;
		}
		if (r != SQLITE_OK)
			return SIEGEL_E_DB;
	}
	return 0;
}

struct exec_ctx {
	const char *sql;
	const struct sqlp *ps;
	int n;
	int64_t rowid;
};

static int exec_fn(struct store *s, void *ctx, struct siegel_diag *d)
{
	struct exec_ctx *e = ctx;
	sqlite3_stmt *st = store_stmt(s, e->sql, d);
	if (st == NULL)
		return SIEGEL_E_DB;
	if (bind_all(st, e->ps, e->n) != 0)
		return store_fail(s, d, "bind");
	int rc = store_exec_stmt(s, st, d);
	if (rc == 0)
		e->rowid = sqlite3_last_insert_rowid(store_db(s));
	return rc;
}

static int db_exec(struct store *s, const char *sql, const struct sqlp *ps, int n,
	struct siegel_diag *d)
{
	struct exec_ctx e = { sql, ps, n, 0 };
	return store_txn(s, exec_fn, &e, d);
}

/* ---- audit trail ---- */

struct audit_rec {
	int64_t seq, job_id, at;
	const char *number, *route, *doc_name, *key_id, *result;
	const uint8_t *doc_sha256;    /* NULL or 32 bytes */
	const uint8_t *prev;          /* 32 bytes */
};

/* The signed encoding of one entry: DER SEQUENCE of its fields. */
static void audit_encode(struct siegel_buf *b, const struct audit_rec *r)
{
	size_t m = der_begin(b, 0x30);
	der_put_uint(b, 0x02, (uint64_t)r->seq);
	der_put_uint(b, 0x02, (uint64_t)r->job_id);
	der_put_tlv(b, 0x0c, r->number, strlen(r->number));
	der_put_tlv(b, 0x0c, r->route, strlen(r->route));
	der_put_tlv(b, 0x0c, r->doc_name ? r->doc_name : "", r->doc_name ? strlen(r->doc_name) : 0);
	der_put_tlv(b, 0x04, r->doc_sha256, r->doc_sha256 ? 32 : 0);
	der_put_tlv(b, 0x0c, r->key_id, strlen(r->key_id));
	der_put_uint(b, 0x02, (uint64_t)(r->at < 0 ? 0 : r->at));
	der_put_tlv(b, 0x0c, r->result, strlen(r->result));
	der_put_tlv(b, 0x04, r->prev, 32);
	der_end(b, m);
}

struct audit_ctx {
	struct audit_rec r;
	struct csp_key *key;
};

static int audit_fn(struct store *s, void *ctx, struct siegel_diag *d)
{
	struct audit_ctx *a = ctx;
	uint8_t prev[32] = { 0 };
	int64_t last = 0;
	sqlite3_stmt *st = store_stmt(s, "SELECT seq, hash FROM sign_audit ORDER BY seq DESC LIMIT 1",
		d);
	if (st == NULL)
		return SIEGEL_E_DB;
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		if (sqlite3_column_bytes(st, 1) != 32) {
			sqlite3_reset(st);
			return siegel_fail(d, SIEGEL_E_STATE, "audit trail: entry %lld has no hash",
				(long long)last);
		}
		memcpy(prev, sqlite3_column_blob(st, 1), 32);
	} else if (r != SQLITE_DONE) {
		sqlite3_reset(st);
		return store_fail(s, d, "audit trail: last entry");
	}
	sqlite3_reset(st);
	a->r.seq = last + 1;
	a->r.prev = prev;
	struct siegel_buf enc;
	siegel_buf_init(&enc);
	audit_encode(&enc, &a->r);
	if (enc.err) {
		siegel_buf_free(&enc);
		return SIEGEL_E_NOMEM;
	}
	uint8_t h[32], sig[ALG_MAX_SIG];
	size_t sl = 0;
	SHA256(enc.data, enc.len, h);
	int rc = csp_sign(a->key, sig, &sl, enc.data, enc.len);
	siegel_buf_free(&enc);
	if (rc)
		return siegel_fail(d, rc, "audit trail: signing entry %lld failed", (long long)a->r.seq);
	struct sqlp ps[] = {
		{ 'i', a->r.seq, 0, 0, 0 }, { 'i', a->r.job_id, 0, 0, 0 },
		{ 's', 0, a->r.number, 0, 0 }, { 's', 0, a->r.route, 0, 0 },
		{ a->r.doc_name ? 's' : 'n', 0, a->r.doc_name, 0, 0 },
		{ a->r.doc_sha256 ? 'b' : 'n', 0, 0, a->r.doc_sha256, 32 },
		{ 's', 0, a->r.key_id, 0, 0 }, { 'i', a->r.at, 0, 0, 0 },
		{ 's', 0, a->r.result, 0, 0 }, { 'b', 0, 0, prev, 32 }, { 'b', 0, 0, h, 32 },
		{ 'b', 0, 0, sig, sl },
	};
	struct exec_ctx e = { "INSERT INTO sign_audit (seq, job_id, job_number, route, doc_name, "
		"doc_sha256, key_id, at, result, prev_hash, hash, sig) VALUES "
		"(?,?,?,?,?,?,?,?,?,?,?,?)", ps, 12, 0 };
	return exec_fn(s, &e, d);
}

static void audit_fill(struct audit_ctx *a, const struct job_config *cfg, const struct job *j,
	const char *key_id, const struct job_doc *doc, const char *result)
{
	memset(a, 0, sizeof(*a));
	a->key = cfg->audit_key;
	a->r.job_id = j->id;
	a->r.number = j->number;
	a->r.route = cfg->route ? cfg->route : "cli";
	a->r.doc_name = doc ? doc->name : NULL;
	a->r.doc_sha256 = doc ? doc->sha256 : NULL;
	a->r.key_id = key_id ? key_id : "";
	a->r.at = job_now(cfg);
	a->r.result = result;
}

static int audit_append(const struct job_config *cfg, const struct job *j, const char *key_id,
	const struct job_doc *doc, const char *result, struct siegel_diag *d)
{
	if (cfg->store == NULL)
		return 0;
	if (cfg->audit_key == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "audit trail: no audit key configured");
	struct audit_ctx a;
	audit_fill(&a, cfg, j, key_id, doc, result);
	return store_txn(cfg->store, audit_fn, &a, d);
}

/* The "signed" entries of a job are written JOB_AUDIT_GROUP at a time, in
 * one store transaction (one fsync instead of one per document), and always
 * before anything is published: a published signature has its entry. When
 * the process ends before, job_recover writes the entries of the outputs it
 * finds staged (recover_signed); only a signature not yet staged is lost, as
 * a crash between C_Sign and its entry always could. The strings the
 * entries point to (job, documents, key id) live as long as the job. */
#define JOB_AUDIT_GROUP 64

struct audit_group {
	struct audit_ctx e[JOB_AUDIT_GROUP];
	size_t n;
};

static int audit_group_fn(struct store *s, void *ctx, struct siegel_diag *d)
{
	struct audit_group *g = ctx;
	for (size_t i = 0; i < g->n; i++) {
		int rc = audit_fn(s, &g->e[i], d);
		if (rc)
			return rc;
	}
	return 0;
}

/* Writes the entries held back; an error fails the job (nothing is
 * published without its entries). */
static int audit_flush(const struct job_config *cfg, struct audit_group *g, struct siegel_diag *d)
{
	if (cfg->store == NULL || g->n == 0)
		return 0;
	int rc = store_txn(cfg->store, audit_group_fn, g, d);
	g->n = 0;
	return rc;
}

static int audit_defer(const struct job_config *cfg, struct audit_group *g, const struct job *j,
	const char *key_id, const struct job_doc *doc, const char *result, struct siegel_diag *d)
{
	if (cfg->store == NULL)
		return 0;
	if (cfg->audit_key == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "audit trail: no audit key configured");
	audit_fill(&g->e[g->n++], cfg, j, key_id, doc, result);
	return g->n == JOB_AUDIT_GROUP ? audit_flush(cfg, g, d) : 0;
}

int job_audit_verify(struct job_audit_check *c, struct store *s, EVP_PKEY *pub,
	struct siegel_diag *d)
{
	c->entries = 0;
	memset(c->head, 0, sizeof(c->head));
	uint8_t point[ALG_MAX_PUB];
	size_t pl = 0;
	int curve = 0;
	if (alg_point_from_pkey(point, &pl, &curve, pub) != 0 || alg_by_curve_nid(curve) == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "audit verify: the audit key is not a usable EC key");
	int hash_nid = alg_by_curve_nid(curve)->hash_nid;
	store_lock(s);
	sqlite3_stmt *st = store_stmt(s, "SELECT seq, job_id, job_number, route, doc_name, doc_sha256, "
		"key_id, at, result, prev_hash, hash, sig FROM sign_audit ORDER BY seq", d);
	if (st == NULL) {
		store_unlock(s);
		return SIEGEL_E_DB;
	}
	uint8_t prev[32] = { 0 };
	int64_t want = 1;
	int rc = 0;
	struct siegel_buf enc;
	siegel_buf_init(&enc);
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct audit_rec a;
		memset(&a, 0, sizeof(a));
		a.seq = sqlite3_column_int64(st, 0);
		if (a.seq != want) {
			rc = siegel_fail(d, SIEGEL_E_VERIFY, "audit trail: gap, entry %lld follows %lld",
				(long long)a.seq, (long long)(want - 1));
			break;
		}
		a.job_id = sqlite3_column_int64(st, 1);
		a.number = (const char *)sqlite3_column_text(st, 2);
		a.route = (const char *)sqlite3_column_text(st, 3);
		a.doc_name = (const char *)sqlite3_column_text(st, 4);
		a.doc_sha256 = sqlite3_column_bytes(st, 5) == 32 ? sqlite3_column_blob(st, 5) : NULL;
		a.key_id = (const char *)sqlite3_column_text(st, 6);
		a.at = sqlite3_column_int64(st, 7);
		a.result = (const char *)sqlite3_column_text(st, 8);
		if (a.number == NULL || a.route == NULL || a.key_id == NULL || a.result == NULL ||
		    sqlite3_column_bytes(st, 9) != 32 || sqlite3_column_bytes(st, 10) != 32 ||
		    memcmp(sqlite3_column_blob(st, 9), prev, 32) != 0) {
			rc = siegel_fail(d, SIEGEL_E_VERIFY,
				"audit trail: entry %lld does not chain to entry %lld", (long long)a.seq,
				(long long)(want - 1));
			break;
		}
		a.prev = prev;
		siegel_buf_reset(&enc);
		audit_encode(&enc, &a);
		uint8_t h[32];
		SHA256(enc.data, enc.len, h);
		if (enc.err || memcmp(h, sqlite3_column_blob(st, 10), 32) != 0 ||
		    alg_verify_plain(pub, hash_nid, enc.data, enc.len, sqlite3_column_blob(st, 11),
			    (size_t)sqlite3_column_bytes(st, 11)) != 0) {
			rc = siegel_fail(d, SIEGEL_E_VERIFY,
				"audit trail: entry %lld was changed (hash or signature mismatch)",
				(long long)a.seq);
			break;
		}
		if (c->want_seq == (uint64_t)a.seq && memcmp(h, c->want_hash, 32) != 0) {
			rc = siegel_fail(d, SIEGEL_E_VERIFY, "audit trail: entry %lld is not the one "
				"recorded (its hash differs)", (long long)a.seq);
			break;
		}
		memcpy(prev, h, 32);
		want++;
	}
	if (rc == 0 && r != SQLITE_DONE)
		rc = store_fail(s, d, "audit trail: read");
	sqlite3_reset(st);
	store_unlock(s);
	siegel_buf_free(&enc);
	if (rc == 0 && c->want_seq > (uint64_t)(want - 1))
		rc = siegel_fail(d, SIEGEL_E_VERIFY, "audit trail: it ends at entry %lld, but entry "
			"%llu was recorded: its newest entries were removed", (long long)(want - 1),
			(unsigned long long)c->want_seq);
	if (rc == 0) {
		c->entries = (size_t)(want - 1);
		memcpy(c->head, prev, 32);
	}
	return rc;
}

/* ---- job creation ---- */

void job_free(struct job *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->n_docs; i++) {
		free(j->docs[i].path);
		free(j->docs[i].name);
		free(j->docs[i].out_name);
	}
	free(j->docs);
	free(j->outbox);
	free(j);
}

void job_abort(struct job *j)
{
	if (j != NULL)
		atomic_store(&j->abort_flag, 1);
}

/* TR-03114 5.4 note 16: a hash reduced to 6 characters over the SAK
 * identity, the current time and the hashes of all documents (plus 128
 * random bits, so two jobs of the same documents differ). */
static void make_number(struct job *j, const struct job_config *cfg)
{
	static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"; /* no I, O, 0, 1 */
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	uint8_t h[32], rnd[16];
	int64_t now = job_now(cfg);
	const char *sid = cfg->service_id ? cfg->service_id : "siegel";
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	EVP_DigestInit_ex(mc, EVP_sha256(), NULL);
	EVP_DigestUpdate(mc, sid, strlen(sid) + 1);
	EVP_DigestUpdate(mc, &now, sizeof(now));
	EVP_DigestUpdate(mc, rnd, sizeof(rnd));
	for (size_t i = 0; i < j->n_docs; i++)
		EVP_DigestUpdate(mc, j->docs[i].sha256, 32);
	EVP_DigestFinal_ex(mc, h, NULL);
	EVP_MD_CTX_free(mc);
	/* a letter first: a number of digits only would read as a job id
	 * (job status, job abort take either) */
	j->number[0] = alphabet[h[0] % 24];
	for (int i = 1; i < JOB_NUMBER_LEN; i++)
		j->number[i] = alphabet[h[i] & 31];
	j->number[JOB_NUMBER_LEN] = 0;
}

struct record_ctx {
	struct job *j;
	const struct job_config *cfg;
};

static int record_fn(struct store *s, void *ctx, struct siegel_diag *d)
{
	struct record_ctx *r = ctx;
	struct job *j = r->j;
	struct sqlp ps[] = {
		{ 's', 0, j->number, 0, 0 }, { 's', 0, r->cfg->route ? r->cfg->route : "cli", 0, 0 },
		{ 'i', (int64_t)j->n_docs, 0, 0, 0 },
		{ r->cfg->key_label ? 's' : 'n', 0, r->cfg->key_label, 0, 0 },
		{ 'i', job_now(r->cfg), 0, 0, 0 },
	};
	struct exec_ctx e = { "INSERT INTO sign_jobs (number, route, state, n_docs, key, created_at) "
		"VALUES (?, ?, 'CONFIRMED', ?, ?, ?)", ps, 5, 0 };
	int rc = exec_fn(s, &e, d);
	if (rc)
		return rc;
	j->id = e.rowid;
	for (size_t i = 0; i < j->n_docs; i++) {
		struct sqlp pd[] = {
			{ 'i', j->id, 0, 0, 0 }, { 'i', (int64_t)i, 0, 0, 0 },
			{ 's', 0, j->docs[i].name, 0, 0 }, { 'i', (int64_t)j->docs[i].size, 0, 0, 0 },
			{ 'b', 0, 0, j->docs[i].sha256, 32 }, { 's', 0, j->docs[i].out_name, 0, 0 },
		};
		struct exec_ctx ed = { "INSERT INTO sign_job_docs (job_id, idx, name, size, sha256, "
			"output) VALUES (?,?,?,?,?,?)", pd, 6, 0 };
		rc = exec_fn(s, &ed, d);
		if (rc)
			return rc;
	}
	return 0;
}

int job_new(struct job **out, const char *const *paths, size_t n, const struct job_config *cfg,
	struct siegel_diag *d)
{
	if (out == NULL || cfg == NULL || (n > 0 && paths == NULL))
		return siegel_fail(d, SIEGEL_E_INVAL, "job: no documents or configuration");
	if (n == 0)
		return siegel_fail(d, SIEGEL_E_NO_DATA, "job: no documents to sign");
	if (n > JOB_MAX_DOCS)
		return siegel_fail(d, SIEGEL_E_LIMIT, "job: %zu documents, at most %d", n, JOB_MAX_DOCS);
	const char *infix = cfg->infix ? cfg->infix : ".signiert";
	struct job *j = calloc(1, sizeof(*j));
	if (j == NULL || (j->docs = calloc(n, sizeof(*j->docs))) == NULL) {
		free(j);
		return siegel_fail(d, SIEGEL_E_NOMEM, "job: out of memory");
	}
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct job_doc *doc = &j->docs[i];
		j->n_docs = i + 1;
		doc->path = strdup(paths[i]);
		doc->name = strdup(base_name(paths[i]));
		if (doc->path == NULL || doc->name == NULL) {
			rc = SIEGEL_E_NOMEM;
			break;
		}
		if (doc->name[0] == 0 || strlen(doc->name) > JOB_MAX_NAME) {
			rc = siegel_fail(d, SIEGEL_E_PARAM, "job: document name \"%s\" is empty or "
				"longer than %d bytes", paths[i], JOB_MAX_NAME);
			break;
		}
		uint8_t *data = NULL;
		size_t len = 0;
		rc = siegel_read_file(&data, &len, doc->path, SIGN_MAX_DOC_BYTES, d);
		if (rc)
			break;
		doc->size = len;
		SHA256(data, len, doc->sha256);
		doc->pdf = sign_is_pdf(data, len);
		free(data);
		int pades = cfg->format == JOB_FORMAT_PADES || (cfg->format == JOB_FORMAT_AUTO && doc->pdf);
		if ((pades || cfg->pdf_only) && !doc->pdf) {
			rc = siegel_fail(d, SIEGEL_E_PARAM, "job: %s is not a PDF (no %%PDF- header) and "
				"this route signs PDF only", doc->path);
			break;
		}
		doc->pdf = pades;
		doc->out_name = pades ? pdf_out_name(doc->name, infix) : cms_out_name(doc->name);
		if (doc->out_name == NULL)
			rc = SIEGEL_E_NOMEM;
		for (size_t k = 0; rc == 0 && k < i; k++)
			if (strcmp(j->docs[k].out_name, doc->out_name) == 0 ||
			    strcmp(j->docs[k].name, doc->name) == 0)
				rc = siegel_fail(d, SIEGEL_E_EXISTS, "job: two documents named %s",
					doc->name);
	}
	if (rc == 0) {
		make_number(j, cfg);
		j->state = JOB_CONFIRMED;
		atomic_init(&j->abort_flag, 0);
		if (cfg->store != NULL) {
			struct record_ctx r = { j, cfg };
			rc = store_txn(cfg->store, record_fn, &r, d);
		}
	}
	if (rc) {
		job_free(j);
		return rc == SIEGEL_E_NOMEM ? siegel_fail(d, rc, "job: out of memory") : rc;
	}
	*out = j;
	return 0;
}

/* ---- running ---- */

struct raw_ctx {
	struct sign_p11 *p;
	struct sign_p11_key key;
	int hash_nid, rsa_pss;
	const char *pin;
	size_t pin_len;
	int corrupt;
	int bad_handle;
};

static int raw_sign(void *ctx, uint8_t *sig, size_t *sl, size_t cap, const uint8_t *dig, size_t dl,
	struct siegel_diag *d)
{
	struct raw_ctx *r = ctx;
	struct sign_p11_key k = r->key;
	if (r->bad_handle)
		k.handle = k.sign_handle = JOB_BAD_HANDLE;
	int rc = sign_p11_sign_digest(sig, sl, cap, r->p, &k, r->hash_nid, r->rsa_pss, dig, dl,
		r->pin, r->pin_len, d);
	if (rc == 0 && r->corrupt && *sl > 0)
		sig[*sl - 1] ^= 0x01;
	return rc;
}

static int abort_requested(struct job *j, const struct job_config *cfg)
{
	if (atomic_load(&j->abort_flag))
		return 1;
	if (cfg->store == NULL || j->id == 0)
		return 0;
	int req = 0;
	store_lock(cfg->store);
	sqlite3_stmt *st = store_stmt(cfg->store,
		"SELECT abort_requested FROM sign_jobs WHERE id = ?", NULL);
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, j->id);
		if (sqlite3_step(st) == SQLITE_ROW)
			req = sqlite3_column_int(st, 0) != 0;
		sqlite3_reset(st);
	}
	store_unlock(cfg->store);
	return req;
}

static int set_state(struct job *j, const struct job_config *cfg, enum job_state s,
	struct siegel_diag *d)
{
	j->state = s;
	if (cfg->store == NULL || j->id == 0)
		return 0;
	int end = s == JOB_DONE || s == JOB_FAILED || s == JOB_ABORTED;
	struct sqlp ps[] = {
		{ 's', 0, job_state_name(s), 0, 0 }, { 'i', (int64_t)j->n_signed, 0, 0, 0 },
		{ 'i', j->pin_asks, 0, 0, 0 }, { j->reason[0] ? 's' : 'n', 0, j->reason, 0, 0 },
		{ end ? 'i' : 'n', job_now(cfg), 0, 0, 0 }, { j->key_id[0] ? 's' : 'n', 0, j->key_id, 0, 0 },
		{ j->outbox ? 's' : 'n', 0, j->outbox, 0, 0 }, { 'i', j->id, 0, 0, 0 },
	};
	return db_exec(cfg->store, "UPDATE sign_jobs SET state = ?, n_signed = ?, pin_asks = ?, "
		"reason = ?, finished_at = ?, key_id = COALESCE(?, key_id), "
		"outbox = COALESCE(?, outbox) WHERE id = ?", ps, 8, d);
}

/* Writes the pieces to a new file name in the staging directory sfd with
 * writev, no fsync: the staged files are made durable once, by publish(),
 * before anything is visible in the outbox. A new file (O_EXCL), never a
 * truncated or renamed-over one: ext4 (auto_da_alloc) flushes those on
 * close. Relative to the directory's descriptor: no path walk per file. */
static int stage_write(int sfd, const char *name, const struct iovec *iov, int n_iov,
	struct siegel_diag *d)
{
	if (n_iov < 0 || n_iov > 4)
		return siegel_fail(d, SIEGEL_E_INVAL, "staging %s: %d pieces", name, n_iov);
	int fd = openat(sfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return siegel_fail(d, SIEGEL_E_IO, "staging %s: %s", name, strerror(errno));
	struct iovec v[4];
	memcpy(v, iov, (size_t)n_iov * sizeof(v[0]));
	int rc = 0, k = 0;
	while (k < n_iov) {
		if (v[k].iov_len == 0) {
			k++;
			continue;
		}
		ssize_t w = writev(fd, v + k, n_iov - k);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = siegel_fail(d, SIEGEL_E_IO, "staging %s: %s", name,
				w < 0 ? strerror(errno) : "short write");
			break;
		}
		size_t done = (size_t)w;
		while (k < n_iov && done >= v[k].iov_len)
			done -= v[k++].iov_len;
		if (k < n_iov) {
			v[k].iov_base = (uint8_t *)v[k].iov_base + done;
			v[k].iov_len -= done;
		}
	}
	if (close(fd) != 0 && rc == 0)
		rc = siegel_fail(d, SIEGEL_E_IO, "staging %s: close: %s", name, strerror(errno));
	return rc;
}

/* The lock of a staging directory sfd: its file JOB_LOCK, opened for
 * writing (on NFS flock is emulated with byte-range locks, and an exclusive
 * one needs a descriptor open for writing, which a directory cannot have).
 * Returns the descriptor with the lock held, or -1 with errno
 * (EWOULDBLOCK: another process holds it). */
static int staging_lock(int sfd, int create, int shared)
{
	int fd = openat(sfd, JOB_LOCK, O_RDWR | O_NOFOLLOW | O_CLOEXEC |
		(create ? O_CREAT | O_EXCL : 0), 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Removes the staging directory; its files too unless all were published
 * (moved out). */
static void staging_remove(int sfd, const char *dir, const struct job *j, int published)
{
	for (size_t i = 0; !published && i < j->n_docs; i++) {
		(void)unlinkat(sfd, j->docs[i].out_name, 0);
		(void)unlinkat(sfd, j->docs[i].name, 0);
	}
	(void)unlinkat(sfd, JOB_MANIFEST, 0);
	(void)unlinkat(sfd, JOB_LOCK, 0);
	rmdir(dir);
}

/* The manifest of a publication: "<inode> <name>\0" per staged file. It is
 * made durable with the staged files (publish), before the first file is
 * moved, so that after a crash in the middle the files this job moved into
 * the outbox can be told from any other file of the same name
 * (job_recover). */
static int write_manifest(int sfd, const char **names, size_t k, struct siegel_diag *d)
{
	struct siegel_buf m;
	siegel_buf_init(&m);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < k; i++) {
		struct stat st;
		if (fstatat(sfd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = siegel_fail(d, SIEGEL_E_IO, "publish: %s: %s", names[i], strerror(errno));
			break;
		}
		siegel_buf_printf(&m, "%llu %s", (unsigned long long)st.st_ino, names[i]);
		siegel_buf_putc(&m, 0);
	}
	if (rc == 0 && m.err)
		rc = siegel_fail(d, SIEGEL_E_NOMEM, "publish: out of memory");
	int fd = rc ? -1 : openat(sfd, JOB_MANIFEST, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (rc == 0 && fd < 0)
		rc = siegel_fail(d, SIEGEL_E_IO, "publish: manifest: %s", strerror(errno));
	for (size_t off = 0; rc == 0 && off < m.len;) {
		ssize_t w = write(fd, m.data + off, m.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = siegel_fail(d, SIEGEL_E_IO, "publish: manifest: %s",
				w < 0 ? strerror(errno) : "short write");
		else
			off += (size_t)w;
	}
	if (fd >= 0 && close(fd) != 0 && rc == 0)
		rc = siegel_fail(d, SIEGEL_E_IO, "publish: manifest: close: %s", strerror(errno));
	siegel_buf_free(&m);
	return rc;
}

/* Moves one staged file into the outbox without replacing anything: rename
 * with RENAME_NOREPLACE, or where the file system lacks it, link (which
 * never replaces either) and unlink. */
static int move_noreplace(int sfd, int ofd, const char *name)
{
	if (renameat2(sfd, name, ofd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(sfd, name, ofd, name, 0) != 0)
		return -1;
	(void)unlinkat(sfd, name, 0);
	return 0;
}

/* Moves every staged file into the outbox without replacing anything; on a
 * failure the ones already moved are taken back out. */
static int publish(int sfd, const char *outbox, struct job *j, int with_originals,
	const struct job_hooks *hooks, struct siegel_diag *d)
{
	size_t n_names = j->n_docs * (with_originals ? 2 : 1);
	const char **names = calloc(n_names ? n_names : 1, sizeof(*names));
	if (names == NULL)
		return SIEGEL_E_NOMEM;
	size_t k = 0;
	for (size_t i = 0; i < j->n_docs; i++) {
		names[k++] = j->docs[i].out_name;
		if (with_originals && !j->docs[i].pdf)
			names[k++] = j->docs[i].name;
	}
	int rc = 0;
	size_t done = 0;
	/* the manifest first, then durability, once per job, before anything
	 * is visible: one syncfs writes back every staged file and the
	 * manifest in one journal commit. sfd was opened before the first
	 * staged write, so since Linux 5.8 its syncfs reports any write-back
	 * error since then. Such an error may be another file's: then each
	 * staged file's own fsync decides. */
	rc = write_manifest(sfd, names, k, d);
	if (rc == 0 && syncfs(sfd) != 0) {
		for (size_t i = 0; rc == 0 && i <= k; i++) {
			const char *nm = i < k ? names[i] : JOB_MANIFEST;
			int fd = openat(sfd, nm, O_RDONLY | O_CLOEXEC);
			if (fd < 0 || fsync(fd) != 0)
				rc = siegel_fail(d, SIEGEL_E_IO, "publish: fsync %s: %s", nm,
					strerror(errno));
			if (fd >= 0)
				close(fd);
		}
		if (rc == 0 && fsync(sfd) != 0)
			rc = siegel_fail(d, SIEGEL_E_IO, "publish: fsync of the staging directory: %s",
				strerror(errno));
	}
	int ofd = rc ? -1 : open(outbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rc == 0 && ofd < 0)
		rc = siegel_fail(d, SIEGEL_E_IO, "publish: %s: %s", outbox, strerror(errno));
	for (; rc == 0 && done < k; done++) {
		if (move_noreplace(sfd, ofd, names[done]) != 0) {
			rc = siegel_fail(d, errno == EEXIST ? SIEGEL_E_EXISTS : SIEGEL_E_IO,
				"publish %s/%s: %s", outbox, names[done], errno == EEXIST ?
				"exists already (nothing replaced)" : strerror(errno));
			break;
		}
		if (hooks->point != NULL)
			hooks->point(hooks->point_ctx, "moved", done + 1);
	}
	if (rc) {
		/* the job failed: what was moved out is deleted */
		for (size_t i = 0; i < done; i++)
			(void)unlinkat(ofd, names[i], 0);
	}
	free(names);
	if (ofd >= 0 && fsync(ofd) != 0 && rc == 0)
		rc = siegel_fail(d, SIEGEL_E_IO, "publish: fsync %s: %s", outbox, strerror(errno));
	if (ofd >= 0)
		close(ofd);
	return rc;
}

/* Buffers reused from one document to the next. */
struct doc_bufs {
	struct siegel_buf in;         /* the document */
	struct siegel_buf out;        /* the .p7s, or the PDF's incremental update */
	EVP_MD_CTX *sha;              /* SHA-256 of the document (confirmation check) */
	EVP_MD_CTX *fin;              /* scratch copy to finalise it */
};

/* Signs one document into staging. */
static int sign_one(struct job *j, size_t i, const struct job_config *cfg,
	const struct sign_signer *signer, struct raw_ctx *raw, int sfd,
	const char *key_id, struct doc_bufs *b, struct audit_group *ag, struct siegel_diag *d)
{
	struct job_doc *doc = &j->docs[i];
	if (cfg->hooks.modify_at == i + 1 && cfg->hooks.modify != NULL)
		cfg->hooks.modify(cfg->hooks.modify_ctx, doc->path);
	/* one pass over the bytes: the SHA-256 state after the document is
	 * both the confirmation check and, for PAdES with SHA-256, the start
	 * of the byte-range hash */
	if (EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL) != 1)
		return siegel_fail(d, SIEGEL_E_CRYPTO, "SHA-256 unavailable");
	int rc = sign_doc_read(&b->in, b->sha, doc->path, SIGN_MAX_DOC_BYTES, doc->size, d);
	if (rc)
		return rc;
	const uint8_t *data = b->in.data;
	size_t len = b->in.len;
	uint8_t h[32];
	if (EVP_MD_CTX_copy_ex(b->fin, b->sha) != 1 || EVP_DigestFinal_ex(b->fin, h, NULL) != 1)
		return siegel_fail(d, SIEGEL_E_CRYPTO, "%s: hashing failed", doc->name);
	if (len != doc->size || memcmp(h, doc->sha256, 32) != 0)
		return siegel_fail(d, SIEGEL_E_PARAM, "document %s changed after confirmation "
			"(size or SHA-256 differs from the confirmed list)", doc->name);
	raw->bad_handle = cfg->hooks.token_error_at == i + 1;
	raw->corrupt = cfg->hooks.selfcheck_fail_at == i + 1;
	struct sign_cms_params cp = {
		.sign = raw_sign, .sign_ctx = raw, .tsa = cfg->tsa, .tsa_ctx = cfg->tsa_ctx,
	};
	struct iovec iov[2];
	int n_iov = 0;
	siegel_buf_reset(&b->out);
	if (doc->pdf) {
		struct sign_pades_opts po = { .when = job_now(cfg), .contents_cap = cfg->contents_cap };
		rc = sign_pades_update(&b->out, data, len,
			signer->hash_nid == NID_sha256 ? b->sha : NULL, signer, &cp, &po, d);
		iov[n_iov++] = (struct iovec){ (void *)data, len };
	} else {
		uint8_t dig[SIGN_MAX_DIGEST];
		unsigned dl = 0;
		if (signer->hash_nid == NID_sha256) {
			memcpy(dig, h, 32);
			dl = 32;
		} else if (EVP_Digest(data, len, dig, &dl, signer->md, NULL) != 1) {
			return siegel_fail(d, SIEGEL_E_CRYPTO, "%s: hashing failed", doc->name);
		}
		cp.digest = dig;
		cp.digest_len = dl;
		cp.signing_time = job_now(cfg);
		rc = sign_cms_build(&b->out, signer, &cp, d);
		if (rc == 0)
			rc = sign_cms_selfcheck(b->out.data, b->out.len, dig, dl, signer, d);
	}
	iov[n_iov++] = (struct iovec){ b->out.data, b->out.len };
	if (rc == 0)
		rc = stage_write(sfd, doc->out_name, iov, n_iov, d);
	if (rc == 0 && !doc->pdf && cfg->copy_original)
		rc = stage_write(sfd, doc->name, &(struct iovec){ (void *)data, len }, 1, d);
	if (rc == 0)
		rc = audit_defer(cfg, ag, j, key_id, doc, "signed", d);
	if (rc == 0 && cfg->hooks.point != NULL)
		cfg->hooks.point(cfg->hooks.point_ctx, "staged", i + 1);
	return rc;
}

static void doc_bufs_free(struct doc_bufs *b)
{
	siegel_buf_free(&b->in);
	siegel_buf_free(&b->out);
	EVP_MD_CTX_free(b->sha);
	EVP_MD_CTX_free(b->fin);
	memset(b, 0, sizeof(*b));
}

int job_run(struct job *j, const struct job_config *cfg, struct siegel_diag *d)
{
	if (j == NULL || cfg == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "job: missing job or configuration");
	if (j->state != JOB_CONFIRMED)
		return siegel_fail(d, SIEGEL_E_STATE, "job %s is %s, not CONFIRMED", j->number,
			job_state_name(j->state));
	if (cfg->pin == NULL || cfg->module == NULL || cfg->token == NULL || cfg->cert == NULL ||
	    cfg->outbox == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL,
			"job: module, token, certificate, PIN source and outbox are required");
	unsigned per_auth = cfg->per_auth ? cfg->per_auth : 1;
	unsigned max_tries = cfg->max_pin_tries ? cfg->max_pin_tries : JOB_DEFAULT_PIN_TRIES;
	if (per_auth > JOB_MAX_PER_AUTH)
		return siegel_fail(d, SIEGEL_E_LIMIT, "job: n = %u signatures per authentication, "
			"at most %d", per_auth, JOB_MAX_PER_AUTH);

	struct siegel_diag err = { { 0 } };
	struct sign_signer signer;
	memset(&signer, 0, sizeof(signer));
	struct sign_p11 *p11 = NULL;
	char *pin = NULL;
	char staging[JOB_PATH_MAX];
	int have_staging = 0;
	int sfd = -1; /* the staging directory, opened before anything is staged */
	int lock_fd = -1; /* its lock, held until it is gone */
	int rc = 0;
	int aborted = 0;
	struct doc_bufs b;
	memset(&b, 0, sizeof(b));
	siegel_buf_init(&b.in);
	siegel_buf_init(&b.out);
	struct audit_group *audit = calloc(1, sizeof(*audit));
	if (audit == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "job: out of memory");
	unsigned rounds = (unsigned)((j->n_docs + per_auth - 1) / per_auth);

	if (abort_requested(j, cfg)) {
		aborted = 1;
		rc = siegel_fail(&err, SIEGEL_E_STATE, "aborted before the start");
		goto fail;
	}
	/* 1. the signer certificate, before anything is signed */
	rc = sign_cert_check(cfg->cert, cfg->chain, cfg->trust, job_now(cfg), &err);
	if (rc)
		goto fail;
	rc = sign_signer_init(&signer, cfg->cert, cfg->chain, cfg->hash_nid, cfg->rsa_pss, &err);
	if (rc)
		goto fail;
	memcpy(j->key_id, signer.key_id, sizeof(j->key_id));
	free(j->outbox);
	j->outbox = realpath(cfg->outbox, NULL); /* NULL (not there): the staging step says why */
	rc = set_state(j, cfg, JOB_RUNNING, &err);
	if (rc)
		goto fail;
	/* 2. staging next to the outbox (same file system: publication is link) */
	/* first the leftovers of jobs whose process ended in this outbox */
	struct siegel_diag rd = { { 0 } };
	if (job_recover(cfg, NULL, &rd) != 0) {
		/* not fatal here: what is wrong with the outbox fails the steps below */
	}
	char sname[64], nname[64], fresh[JOB_PATH_MAX];
	snprintf(sname, sizeof(sname), JOB_STAGING_PREFIX "%s-%ld", j->number, (long)getpid());
	snprintf(nname, sizeof(nname), JOB_NEW_PREFIX "%s-%ld", j->number, (long)getpid());
	if (siegel_path_join(staging, sizeof(staging), cfg->outbox, sname) != 0 ||
	    siegel_path_join(fresh, sizeof(fresh), cfg->outbox, nname) != 0) {
		rc = siegel_fail(&err, SIEGEL_E_LIMIT, "outbox path too long");
		goto fail;
	}
	if (mkdir(fresh, 0700) != 0) {
		rc = siegel_fail(&err, SIEGEL_E_IO, "staging %s: %s", fresh, strerror(errno));
		goto fail;
	}
	sfd = open(fresh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd >= 0) {
		lock_fd = staging_lock(sfd, 1, 0);
		if (lock_fd < 0) {
			/* a file system without locks: a name recovery leaves alone */
			(void)unlinkat(sfd, JOB_LOCK, 0);
			snprintf(sname, sizeof(sname), JOB_UNLOCKED_PREFIX "%s-%ld", j->number,
				(long)getpid());
			if (siegel_path_join(staging, sizeof(staging), cfg->outbox, sname) != 0)
				staging[0] = 0;
		}
	}
	if (sfd < 0 || staging[0] == 0 || rename(fresh, staging) != 0) {
		rc = siegel_fail(&err, SIEGEL_E_IO, "staging %s: %s", fresh, strerror(errno));
		if (sfd >= 0)
			(void)unlinkat(sfd, JOB_LOCK, 0);
		rmdir(fresh);
		goto fail;
	}
	have_staging = 1;
	/* 3. the token */
	rc = sign_p11_open(&p11, cfg->module, cfg->token, &err);
	if (rc)
		goto fail;
	pin = siegel_secmem_alloc(SIGN_MAX_PIN + 1);
	if (pin == NULL) {
		rc = siegel_fail(&err, SIEGEL_E_NOMEM, "no locked memory for the PIN");
		goto fail;
	}
	b.sha = EVP_MD_CTX_new();
	b.fin = EVP_MD_CTX_new();
	if (b.sha == NULL || b.fin == NULL) {
		rc = siegel_fail(&err, SIEGEL_E_NOMEM, "job: out of memory");
		goto fail;
	}
	struct raw_ctx raw;
	memset(&raw, 0, sizeof(raw));
	raw.p = p11;
	raw.hash_nid = signer.hash_nid;
	raw.rsa_pss = cfg->rsa_pss;
	raw.pin = pin;

	size_t i = 0;
	for (unsigned round = 1; round <= rounds; round++) {
		/* authenticate: the job number is shown with the prompt */
		size_t pin_len = 0;
		for (unsigned attempt = 1;; attempt++) {
			if (abort_requested(j, cfg)) {
				aborted = 1;
				rc = siegel_fail(&err, SIEGEL_E_STATE, "aborted by the signer");
				goto fail;
			}
			siegel_wipe(pin, SIGN_MAX_PIN + 1);
			pin_len = 0;
			j->pin_asks++;
			rc = cfg->pin(cfg->pin_ctx, pin, SIGN_MAX_PIN, &pin_len, j->number, round, rounds,
				attempt);
			if (rc) {
				siegel_fail(&err, rc, "no PIN: the signer declined (round %u of %u)", round,
					rounds);
				goto fail;
			}
			if (pin_len > SIGN_MAX_PIN)
				pin_len = SIGN_MAX_PIN;
			rc = sign_p11_login(p11, pin, pin_len, &err);
			if (rc == 0)
				break;
			if (rc != SIEGEL_E_AUTH_FAILED || attempt >= max_tries) {
				if (rc == SIEGEL_E_AUTH_FAILED)
					siegel_fail(&err, rc, "wrong PIN %u times: nothing signed in this job",
						attempt);
				goto fail;
			}
		}
		raw.pin_len = pin_len;
		/* private-object handles do not outlive a logout: look the key up
		 * again in every round */
		rc = sign_p11_find_key(&raw.key, p11, cfg->key_label, cfg->key_id, cfg->key_id_len,
			&err);
		if (rc)
			goto fail;
		{
			if (raw.key.type != signer.type) {
				rc = siegel_fail(&err, SIEGEL_E_PARAM, "token key %s is %s, the certificate "
					"of %s has an %s key", raw.key.label,
					raw.key.type == SIGN_KEY_EC ? "EC" : "RSA", signer.subject,
					signer.type == SIGN_KEY_EC ? "EC" : "RSA");
				goto fail;
			}
		}
		for (unsigned k = 0; k < per_auth && i < j->n_docs; k++, i++) {
			if (abort_requested(j, cfg)) {
				aborted = 1;
				rc = siegel_fail(&err, SIEGEL_E_STATE, "aborted by the signer");
				goto fail;
			}
			if (cfg->deadline > 0 && job_now(cfg) > cfg->deadline) {
				aborted = 1;
				rc = siegel_fail(&err, SIEGEL_E_STATE, "deadline passed before document %zu",
					i + 1);
				goto fail;
			}
			rc = sign_one(j, i, cfg, &signer, &raw, sfd, signer.key_id, &b, audit, &err);
			if (rc) {
				char why[sizeof(err.msg)];
				memcpy(why, err.msg, sizeof(why));
				siegel_diag_set(&err, "document %zu (%s): %s", i + 1, j->docs[i].name, why);
				goto fail;
			}
			j->n_signed++;
			if (cfg->progress)
				cfg->progress(cfg->progress_ctx, j->n_signed, j->n_docs, j->docs[i].name);
		}
		/* end of the round: reset the authorization */
		siegel_wipe(pin, SIGN_MAX_PIN + 1);
		raw.pin_len = 0;
		rc = sign_p11_logout(p11, &err);
		if (rc)
			goto fail;
	}
	siegel_secmem_free(pin, SIGN_MAX_PIN + 1);
	pin = NULL;
	sign_p11_close(p11);
	p11 = NULL;
	doc_bufs_free(&b);

	/* 4. publish: all or nothing, after the signatures' entries */
	rc = audit_flush(cfg, audit, &err);
	if (rc)
		goto fail;
	free(audit);
	audit = NULL;
	rc = publish(sfd, cfg->outbox, j, cfg->copy_original, &cfg->hooks, &err);
	if (rc)
		goto fail;
	/* recorded DONE before the manifest goes: a crash in between leaves a
	 * staging directory that job_recover only removes */
	j->reason[0] = 0;
	rc = set_state(j, cfg, JOB_DONE, &err);
	if (rc == 0 && cfg->hooks.point != NULL)
		cfg->hooks.point(cfg->hooks.point_ctx, "done", 0);
	staging_remove(sfd, staging, j, 1);
	have_staging = 0;
	close(sfd);
	sfd = -1;
	if (lock_fd >= 0)
		close(lock_fd);
	lock_fd = -1;
	if (rc == 0)
		rc = audit_append(cfg, j, signer.key_id, NULL, "published", &err);
	sign_signer_free(&signer);
	if (rc)
		return siegel_fail(d, rc, "job %s: published, but its record failed: %s", j->number,
			err.msg);
	return 0;

fail:
	/* reset the authorization first, then discard every output */
	if (pin != NULL)
		siegel_secmem_free(pin, SIGN_MAX_PIN + 1);
	sign_p11_close(p11);
	doc_bufs_free(&b);
	if (have_staging)
		staging_remove(sfd, staging, j, 0);
	if (sfd >= 0)
		close(sfd);
	if (lock_fd >= 0)
		close(lock_fd);
	snprintf(j->reason, sizeof(j->reason), "%s", err.msg[0] ? err.msg : siegel_strerror(rc));
	j->n_signed = 0; /* nothing of it was published */
	struct siegel_diag d2 = { { 0 } };
	/* the signatures made before the fault are recorded too */
	if (audit != NULL)
		(void)audit_flush(cfg, audit, &d2);
	free(audit);
	(void)set_state(j, cfg, aborted ? JOB_ABORTED : JOB_FAILED, &d2);
	char res[JOB_MAX_REASON + 16];
	snprintf(res, sizeof(res), "%s: %s", aborted ? "aborted" : "failed", j->reason);
	(void)audit_append(cfg, j, signer.key_id[0] ? signer.key_id : "", NULL, res, &d2);
	sign_signer_free(&signer);
	return siegel_fail(d, rc ? rc : SIEGEL_E_STATE, "job %s %s, nothing published: %s",
		j->number, aborted ? "aborted" : "failed", j->reason);
}

/* ---- recovery after a crash ---- */

/* The names in directory dfd that start with prefix ("": all but "." and
 * ".."), read before the caller changes the directory. Free with
 * siegel_strv_free. */
static int dir_names(char ***out, size_t *n_out, int dfd, const char *prefix)
{
	*out = NULL;
	*n_out = 0;
	int lfd = dup(dfd);
	DIR *dir = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (dir == NULL) {
		if (lfd >= 0)
			close(lfd);
		return SIEGEL_E_IO;
	}
	rewinddir(dir); /* the dup shares its position with dfd */
	char **v = NULL;
	size_t n = 0, cap = 0, pl = strlen(prefix);
	int rc = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(dir)) != NULL;) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strncmp(e->d_name, prefix, pl) != 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			char **nv = realloc(v, nc * sizeof(*nv));
			if (nv == NULL) {
				rc = SIEGEL_E_NOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		if ((v[n] = strdup(e->d_name)) == NULL)
			rc = SIEGEL_E_NOMEM;
		else
			n++;
	}
	closedir(dir);
	if (rc) {
		siegel_strv_free(v, n);
		return rc;
	}
	*out = v;
	*n_out = n;
	return 0;
}


struct recover_row {
	int64_t id;
	char state[16];
	char route[64];
	char key_id[65];
};

static void recover_find(struct recover_row *r, struct store *s, const char *number)
{
	memset(r, 0, sizeof(*r));
	if (s == NULL)
		return;
	store_lock(s);
	sqlite3_stmt *st = store_stmt(s, "SELECT id, state, route, key_id FROM sign_jobs "
		"WHERE number = ? ORDER BY id DESC LIMIT 1", NULL);
	if (st != NULL) {
		sqlite3_bind_text(st, 1, number, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW) {
			const unsigned char *k = sqlite3_column_text(st, 3);
			r->id = sqlite3_column_int64(st, 0);
			snprintf(r->state, sizeof(r->state), "%s", sqlite3_column_text(st, 1));
			snprintf(r->route, sizeof(r->route), "%s", sqlite3_column_text(st, 2));
			snprintf(r->key_id, sizeof(r->key_id), "%s", k ? (const char *)k : "");
		}
		sqlite3_reset(st);
	}
	store_unlock(s);
}

/* Takes out of the outbox what the manifest says this job moved there:
 * a name is removed only while it is still the file that was moved (same
 * inode). Returns how many were removed, or -1 if the manifest is not one
 * publish() wrote. */
static long recover_unpublish(int ofd, const uint8_t *m, size_t len)
{
	long taken = 0;
	size_t i = 0;
	while (i < len) {
		unsigned long long ino = 0;
		size_t digits = 0;
		while (i < len && m[i] >= '0' && m[i] <= '9' && digits < 20) {
			ino = ino * 10 + (unsigned)(m[i++] - '0');
			digits++;
		}
		if (digits == 0 || i >= len || m[i++] != ' ')
			return -1;
		const char *name = (const char *)m + i;
		size_t nl = strnlen(name, len - i);
		if (nl == 0 || nl == len - i || nl > JOB_MAX_NAME || memchr(name, '/', nl) != NULL ||
		    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			return -1;
		i += nl + 1;
		struct stat st;
		if (fstatat(ofd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    (unsigned long long)st.st_ino == ino && unlinkat(ofd, name, 0) == 0)
			taken++;
	}
	return taken;
}

/* The "signed" entries an ended job had not written yet (they go to the
 * store in groups): one for every output still in staging without one,
 * with the staged file's time. Only documents whose output reached staging
 * are known to be signed; a signature made in the last moment before the
 * process ended, and not yet staged, cannot be seen. */
static void recover_signed(const struct job_config *cfg, const struct recover_row *row,
	const char *number, int sfd)
{
	if (cfg->store == NULL || cfg->audit_key == NULL || row->id == 0)
		return;
	struct job j;
	memset(&j, 0, sizeof(j));
	j.id = row->id;
	snprintf(j.number, sizeof(j.number), "%s", number);
	size_t cap = 0;
	int64_t *at = NULL;
	store_lock(cfg->store);
	sqlite3_stmt *st = store_stmt(cfg->store, "SELECT name, sha256, output FROM sign_job_docs "
		"WHERE job_id = ?1 AND name NOT IN (SELECT doc_name FROM sign_audit WHERE job_id = ?1 "
		"AND result = 'signed' AND doc_name IS NOT NULL) ORDER BY idx", NULL);
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, row->id);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(st, 0);
			const char *out = (const char *)sqlite3_column_text(st, 2);
			struct stat sb;
			if (name == NULL || out == NULL || sqlite3_column_bytes(st, 1) != 32 ||
			    fstatat(sfd, out, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
				continue;
			if (j.n_docs == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct job_doc *nd = realloc(j.docs, nc * sizeof(*nd));
				int64_t *na = realloc(at, nc * sizeof(*na));
				if (nd != NULL)
					j.docs = nd;
				if (na != NULL)
					at = na;
				if (nd == NULL || na == NULL)
					break;
				cap = nc;
			}
			struct job_doc *doc = &j.docs[j.n_docs];
			memset(doc, 0, sizeof(*doc));
			if ((doc->name = strdup(name)) == NULL)
				break;
			memcpy(doc->sha256, sqlite3_column_blob(st, 1), 32);
			at[j.n_docs++] = (int64_t)sb.st_mtime;
		}
		sqlite3_reset(st);
	}
	store_unlock(cfg->store);
	struct job_config c = *cfg;
	c.route = row->route;
	struct audit_group *g = calloc(1, sizeof(*g));
	struct siegel_diag d2 = { { 0 } };
	for (size_t i = 0; g != NULL && i < j.n_docs; i++) {
		audit_fill(&g->e[g->n], &c, &j, row->key_id, &j.docs[i], "signed");
		g->e[g->n++].r.at = at[i];
		if (g->n == JOB_AUDIT_GROUP && audit_flush(&c, g, &d2) != 0)
			break;
	}
	if (g != NULL)
		(void)audit_flush(&c, g, &d2);
	free(g);
	for (size_t i = 0; i < j.n_docs; i++)
		free(j.docs[i].name);
	free(j.docs);
	free(at);
}

/* Records an interrupted job FAILED, with its audit entry. */
static void recover_record(const struct job_config *cfg, const struct recover_row *row,
	const char *number, const char *why)
{
	if (cfg->store == NULL || row->id == 0 || strcmp(row->state, "DONE") == 0 ||
	    strcmp(row->state, "FAILED") == 0 || strcmp(row->state, "ABORTED") == 0)
		return;
	struct siegel_diag d2 = { { 0 } };
	struct sqlp ps[] = {
		{ 's', 0, why, 0, 0 }, { 'i', job_now(cfg), 0, 0, 0 }, { 'i', row->id, 0, 0, 0 },
	};
	if (db_exec(cfg->store, "UPDATE sign_jobs SET state = 'FAILED', n_signed = 0, reason = ?, "
		"finished_at = ? WHERE id = ? AND state IN ('CONFIRMED', 'RUNNING')", ps, 3, &d2) != 0)
		return;
	struct job j;
	memset(&j, 0, sizeof(j));
	j.id = row->id;
	snprintf(j.number, sizeof(j.number), "%s", number);
	struct job_config c = *cfg;
	c.route = row->route;
	char res[JOB_MAX_REASON + 16];
	snprintf(res, sizeof(res), "failed: %s", why);
	(void)audit_append(&c, &j, row->key_id, NULL, res, &d2);
}

/* One staging directory: 1 if it was an ended job's and is cleaned up. */
static int recover_one(const struct job_config *cfg, int ofd, const char *dname)
{
	const char *num = dname + strlen(JOB_STAGING_PREFIX);
	if (strlen(num) < JOB_NUMBER_LEN + 2 || num[JOB_NUMBER_LEN] != '-')
		return 0;
	char number[JOB_NUMBER_LEN + 1];
	memcpy(number, num, JOB_NUMBER_LEN);
	number[JOB_NUMBER_LEN] = 0;
	int sfd = openat(ofd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return 0;
	/* only a directory this user made (the outbox may be shared: another
	 * user's look-alike must not make us delete files), and only when no
	 * running job holds it */
	struct stat ds;
	int lfd = -1;
	if (fstat(sfd, &ds) != 0 || ds.st_uid != geteuid() || (ds.st_mode & 077) != 0 ||
	    (lfd = staging_lock(sfd, 0, 0)) < 0) {
		close(sfd);
		return 0;
	}
	struct recover_row row;
	recover_find(&row, cfg->store, number);
	const char *why = "interrupted: the process ended before publication; nothing was published";
	char buf[JOB_MAX_REASON];
	/* the manifest: in a directory private to this user (checked above) */
	char mpath[JOB_PATH_MAX];
	uint8_t *m = NULL;
	size_t mlen = 0;
	struct siegel_diag md = { { 0 } };
	int mrc = SIEGEL_E_NOTFOUND;
	if (strcmp(row.state, "DONE") != 0 &&
	    snprintf(mpath, sizeof(mpath), "%s/%s/%s", cfg->outbox, dname, JOB_MANIFEST) <
	    (int)sizeof(mpath))
		mrc = siegel_read_file(&m, &mlen, mpath, JOB_MANIFEST_MAX, &md);
	if (mrc != SIEGEL_E_NOTFOUND) {
		long taken = mrc == 0 ? recover_unpublish(ofd, m, mlen) : -1;
		free(m);
		if (taken >= 0)
			snprintf(buf, sizeof(buf), "interrupted: the process ended during publication; "
				"the %ld files it had published were taken out again", taken);
		else
			snprintf(buf, sizeof(buf), "interrupted: the process ended during publication, and "
				"its record of what it published is unreadable: check the outbox");
		why = buf;
	}
	if (strcmp(row.state, "DONE") != 0)
		recover_signed(cfg, &row, number, sfd);
	/* the staged files, then the directory */
	char **staged = NULL;
	size_t n_staged = 0;
	if (dir_names(&staged, &n_staged, sfd, "") == 0)
		for (size_t i = 0; i < n_staged; i++)
			(void)unlinkat(sfd, staged[i], 0);
	siegel_strv_free(staged, n_staged);
	(void)unlinkat(ofd, dname, AT_REMOVEDIR);
	(void)fsync(ofd);
	close(sfd);
	close(lfd);
	recover_record(cfg, &row, number, why);
	return 1;
}

/* A staging directory not yet renamed: left by a job that ended between
 * its mkdir and its rename. It goes when its lock can be taken, or when it
 * is still empty after JOB_FRESH_STALE_S (a job that has only just made it
 * has not made its lock yet). */
static void recover_fresh(int ofd, const char *dname)
{
	int fd = openat(ofd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat ds;
	if (fstat(fd, &ds) == 0 && ds.st_uid == geteuid() && (ds.st_mode & 077) == 0) {
		int lfd = staging_lock(fd, 0, 0);
		if (lfd >= 0) {
			(void)unlinkat(fd, JOB_LOCK, 0);
			(void)unlinkat(ofd, dname, AT_REMOVEDIR);
			close(lfd);
		} else if (errno == ENOENT && time(NULL) - ds.st_mtime > JOB_FRESH_STALE_S) {
			(void)unlinkat(ofd, dname, AT_REMOVEDIR); /* only if empty */
		}
	}
	close(fd);
}

int job_recover(const struct job_config *cfg, size_t *n_out, struct siegel_diag *d)
{
	if (n_out != NULL)
		*n_out = 0;
	if (cfg == NULL || cfg->outbox == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "job: no outbox to recover");
	int ofd = open(cfg->outbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ofd < 0)
		return errno == ENOENT ? 0 : siegel_fail(d, SIEGEL_E_IO, "recover: %s: %s", cfg->outbox,
			strerror(errno));
	char **names = NULL;
	size_t n = 0, done = 0;
	int rc = dir_names(&names, &n, ofd, ".siegel-");
	if (rc)
		rc = siegel_fail(d, rc, "recover: cannot list %s%s", cfg->outbox,
			rc == SIEGEL_E_NOMEM ? ": out of memory" : "");
	for (size_t i = 0; i < n; i++) {
		if (strncmp(names[i], JOB_STAGING_PREFIX, strlen(JOB_STAGING_PREFIX)) == 0)
			done += (size_t)recover_one(cfg, ofd, names[i]);
		else if (strncmp(names[i], JOB_NEW_PREFIX, strlen(JOB_NEW_PREFIX)) == 0)
			recover_fresh(ofd, names[i]);
	}
	siegel_strv_free(names, n);
	close(ofd);
	if (n_out != NULL)
		*n_out = done;
	return rc;
}

/* ---- status and abort by reference ---- */

static int find_job(int64_t *id_out, struct store *s, const char *ref, struct siegel_diag *d)
{
	long long v = 0;
	if (siegel_strtoll(&v, ref, 1, INT64_MAX) == 0) {
		*id_out = v;
		return 0;
	}
	store_lock(s);
	sqlite3_stmt *st = store_stmt(s, "SELECT id FROM sign_jobs WHERE number = ? ORDER BY id DESC "
		"LIMIT 1", d);
	int rc = SIEGEL_E_DB;
	if (st != NULL) {
		sqlite3_bind_text(st, 1, ref, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW) {
			*id_out = sqlite3_column_int64(st, 0);
			rc = 0;
		} else {
			rc = siegel_fail(d, SIEGEL_E_NOTFOUND, "no job with id or number \"%s\"", ref);
		}
		sqlite3_reset(st);
	}
	store_unlock(s);
	return rc;
}

/* 1 if the outbox holds a staging directory of job `number` that no
 * process holds: the job's process has ended without finishing it. */
static int staging_ended(const char *outbox, const char *number)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), JOB_STAGING_PREFIX "%s-", number);
	int ofd = open(outbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ofd < 0)
		return 0;
	char **names = NULL;
	size_t n = 0;
	int ended = 0;
	if (dir_names(&names, &n, ofd, prefix) == 0) {
		for (size_t i = 0; i < n && !ended; i++) {
			int fd = openat(ofd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int lfd = fd >= 0 ? staging_lock(fd, 0, 1) : -1;
			if (lfd >= 0) {
				ended = 1;
				close(lfd);
			}
			if (fd >= 0)
				close(fd);
		}
	}
	siegel_strv_free(names, n);
	close(ofd);
	return ended;
}

int job_status_get(struct job_status *out, struct store *s, const char *ref, struct siegel_diag *d)
{
	int64_t id = 0;
	int rc = find_job(&id, s, ref, d);
	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	store_lock(s);
	sqlite3_stmt *st = store_stmt(s, "SELECT id, number, route, state, n_docs, n_signed, pin_asks, "
		"reason, created_at, finished_at, outbox FROM sign_jobs WHERE id = ?", d);
	rc = SIEGEL_E_DB;
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			out->id = sqlite3_column_int64(st, 0);
			snprintf(out->number, sizeof(out->number), "%s", sqlite3_column_text(st, 1));
			snprintf(out->route, sizeof(out->route), "%s", sqlite3_column_text(st, 2));
			snprintf(out->state, sizeof(out->state), "%s", sqlite3_column_text(st, 3));
			out->n_docs = sqlite3_column_int64(st, 4);
			out->n_signed = sqlite3_column_int64(st, 5);
			out->pin_asks = sqlite3_column_int64(st, 6);
			const unsigned char *r = sqlite3_column_text(st, 7);
			snprintf(out->reason, sizeof(out->reason), "%s", r ? (const char *)r : "");
			out->created_at = sqlite3_column_int64(st, 8);
			out->finished_at = sqlite3_column_int64(st, 9);
			const unsigned char *ob = sqlite3_column_text(st, 10);
			snprintf(out->outbox, sizeof(out->outbox), "%s", ob ? (const char *)ob : "");
			rc = 0;
		} else {
			rc = siegel_fail(d, SIEGEL_E_NOTFOUND, "no job with id %lld", (long long)id);
		}
		sqlite3_reset(st);
	}
	store_unlock(s);
	if (rc == 0 && strcmp(out->state, "RUNNING") == 0 && out->outbox[0])
		out->ended = staging_ended(out->outbox, out->number);
	return rc;
}

struct abort_ctx {
	int64_t id;
};

static int abort_fn(struct store *s, void *ctx, struct siegel_diag *d)
{
	struct abort_ctx *a = ctx;
	struct sqlp ps[] = { { 'i', a->id, 0, 0, 0 } };
	struct exec_ctx e = { "UPDATE sign_jobs SET abort_requested = 1, "
		"state = CASE state WHEN 'CONFIRMED' THEN 'ABORTED' ELSE state END, "
		"reason = CASE state WHEN 'CONFIRMED' THEN 'aborted by the signer' ELSE reason END "
		"WHERE id = ? AND state IN ('CONFIRMED', 'RUNNING')", ps, 1, 0 };
	int rc = exec_fn(s, &e, d);
	if (rc == 0 && store_changes(s) != 1)
		rc = siegel_fail(d, SIEGEL_E_STATE, "job %lld has already ended", (long long)a->id);
	return rc;
}

int job_abort_request(struct store *s, const char *ref, struct siegel_diag *d)
{
	struct abort_ctx a = { 0 };
	int rc = find_job(&a.id, s, ref, d);
	if (rc)
		return rc;
	return store_txn(s, abort_fn, &a, d);
}
