/* /api/v1/tss/{tssId}/tx/{txId}?revision=N
 *
 * PUT: revision 1 with state ACTIVE starts the transaction; a later revision
 * with ACTIVE updates it (signed update), with FINISHED or CANCELLED
 * finishes it. CANCELLED finishes with processType "Kassenbeleg-V1" and
 * processData "AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^" (DSFinV-K
 * Belegabbruch) unless the request gives them.
 *
 * Idempotency: the answer of every successful PUT is stored in tx_answers
 * (keyed by TSS, transaction number and revision; a start also maps its
 * txId to the number in tx_refs) in the same store transaction as the
 * signature (tse_tx_hooked). A request
 * with a stored txId+revision and the same body gets the stored answer and
 * nothing is signed; with another body: 409 E_IDEMPOTENCY. A revision that is
 * not the next one: 409 E_REVISION. Identical concurrent requests are
 * serialized by the store, so exactly one of them signs.
 *
 * GET: the stored answer of the latest revision. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "http/http_int.h"
#include "logmsg/logmsg.h"
#include "store/store.h"

#define TX_MAX_ID 64
#define TX_MAX_REVISION 1000000
#define TX_CANCEL_TYPE "Kassenbeleg-V1"
#define TX_CANCEL_DATA "AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^"

struct tx_hook_ctx {
	const char *tss, *tx_id;
	long long revision;
	uint8_t req_hash[32];
	int64_t now;
	enum tse_tx_op op;
	enum http_ecode conflict;     /* HE_COUNT = none */
	/* The answer: the request's own fields (JSON-escaped once, before the
	 * store transaction), completed in hook_after with the signed ones. */
	struct siegel_buf resp;
	size_t head_len;              /* resp.len of the request's own fields */
	char *response;               /* malloc'd answer (stored or new) */
	int replay;
};

static int check_tx_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > TX_MAX_ID)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_' || c == '.'))
			return -1;
	}
	return 0;
}

/* Appends s as a JSON string (quotes included); s is valid UTF-8 (it came
 * through the JSON parser or is ASCII), so only '"', '\\' and control
 * characters need escapes. */
static void json_str(struct siegel_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	siegel_buf_putc(b, '"');
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		siegel_buf_append(b, s + run, i - run);
		run = i + 1;
		char e[6] = { '\\', 0 };
		size_t el = 2;
		switch (ch) {
		case '"': e[1] = '"'; break;
		case '\\': e[1] = '\\'; break;
		case '\n': e[1] = 'n'; break;
		case '\r': e[1] = 'r'; break;
		case '\t': e[1] = 't'; break;
		case '\b': e[1] = 'b'; break;
		case '\f': e[1] = 'f'; break;
		default:
			e[1] = 'u';
			e[2] = '0';
			e[3] = '0';
			e[4] = hex[ch >> 4];
			e[5] = hex[ch & 15];
			el = 6;
		}
		siegel_buf_append(b, e, el);
	}
	siegel_buf_append(b, s + run, n - run);
	siegel_buf_putc(b, '"');
}

/* Appends the base64 of in (RFC 4648, padded) as a JSON string. */
static void json_b64(struct siegel_buf *b, const uint8_t *in, size_t n)
{
	size_t out = 4 * ((n + 2) / 3);
	siegel_buf_putc(b, '"');
	if (siegel_buf_reserve(b, out + 1) == 0 && !b->err) {
		EVP_EncodeBlock(b->data + b->len, in, (int)n);
		b->len += out;
	}
	siegel_buf_putc(b, '"');
}

static int tss_exists(struct tx_hook_ctx *c, struct store *s, struct siegel_diag *d)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM tss WHERE id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss, -1, SQLITE_STATIC);
	int exists = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	return exists ? 0 : siegel_fail(d, SIEGEL_E_NOTFOUND, "no TSS with this id");
}

/* The stored request txId+revision: replay its answer (same body) or 409. */
static int replay_or_conflict(struct tx_hook_ctx *c, const void *hash, int hash_len,
	const unsigned char *response, struct siegel_diag *d)
{
	if (hash_len != 32 || memcmp(hash, c->req_hash, 32) != 0) {
		c->conflict = HE_IDEMPOTENCY;
		return siegel_fail(d, SIEGEL_E_EXISTS,
			"transaction '%s' revision %lld was already sent with another body", c->tx_id,
			c->revision);
	}
	c->response = strdup(response ? (const char *)response : "");
	if (c->response == NULL)
		return SIEGEL_E_NOMEM;
	c->replay = 1;
	return TSE_HOOK_DONE;
}

/* A cached tx_answers query with the TSS and transaction number bound. */
static sqlite3_stmt *answers_stmt(struct store *s, const char *sql, const char *tss,
	uint64_t number, struct siegel_diag *d)
{
	sqlite3_stmt *st = store_stmt(s, sql, d);
	if (st != NULL) {
		sqlite3_bind_text(st, 1, tss, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)number);
	}
	return st;
}

/* Another tenant's (or no) TSS answers 404 before anything else is told.
 * Where this transaction already has a row, its TSS exists (rows are only
 * written with a signature of that TSS), so an update or finish costs two
 * lookups here: txId -> number, and the latest revision of that number. A
 * start (revision 1 without a row) needs no check either: the TSE operation
 * itself answers 404 for a TSS that is not there, before it tells anything
 * else. */
static int hook_before(void *vctx, struct store *s, uint64_t *tx_number, struct siegel_diag *d)
{
	struct tx_hook_ctx *c = vctx;
	sqlite3_stmt *st = store_stmt(s, "SELECT number FROM tx_refs WHERE tss_id = ? AND tx_id = ?",
		d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->tx_id, -1, SQLITE_STATIC);
	int found = sqlite3_step(st) == SQLITE_ROW;
	uint64_t number = found ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	long long last = 0;
	int rc = 0;
	if (found) {
		st = answers_stmt(s,
			"SELECT revision, request_hash, response FROM tx_answers WHERE tss_id = ? AND "
			"number = ? ORDER BY revision DESC LIMIT 1", c->tss, number, d);
		if (st == NULL)
			return SIEGEL_E_DB;
		found = sqlite3_step(st) == SQLITE_ROW;
		if (found) {
			last = sqlite3_column_int64(st, 0);
			if (last == c->revision) /* sent again: the stored answer or 409 */
				rc = replay_or_conflict(c, sqlite3_column_blob(st, 1),
					sqlite3_column_bytes(st, 1), sqlite3_column_text(st, 2), d);
		}
		sqlite3_reset(st);
	}
	if (found && c->revision == last + 1) {
		*tx_number = number;
		return 0;
	}
	if (found && last == c->revision)
		return rc;
	if (!found && c->revision == 1) {
		*tx_number = 0;
		return 0;
	}
	if (!found && (rc = tss_exists(c, s, d)) != 0)
		return rc;
	if (found && last > c->revision) {
		/* an older revision sent again */
		st = answers_stmt(s,
			"SELECT request_hash, response FROM tx_answers WHERE tss_id = ? AND number = ? "
			"AND revision = ?", c->tss, number, d);
		if (st == NULL)
			return SIEGEL_E_DB;
		sqlite3_bind_int64(st, 3, c->revision);
		int old = sqlite3_step(st) == SQLITE_ROW;
		if (old)
			rc = replay_or_conflict(c, sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0),
				sqlite3_column_text(st, 1), d);
		sqlite3_reset(st);
		if (old)
			return rc;
	}
	if (c->revision != last + 1) {
		c->conflict = HE_REVISION;
		return siegel_fail(d, SIEGEL_E_STATE,
			"transaction '%s' is at revision %lld; the next request must have revision %lld",
			c->tx_id, last, last + 1);
	}
	*tx_number = number;
	return 0;
}

/* Completes the answer from the result (no second parse of the log: the
 * result has every field) and stores it with the request hash, in the store
 * transaction of the signature. */
static int hook_after(void *vctx, struct store *s, const struct tse_tx_result *r,
	struct siegel_diag *d)
{
	static const char *const ops[] = { "StartTransaction", "UpdateTransaction", "FinishTransaction" };
	struct tx_hook_ctx *c = vctx;
	struct siegel_buf *b = &c->resp;
	size_t head = c->head_len;
	b->len = head;
	const struct alg_info *ai = alg_get(r->alg);
	char serial[2 * ALG_SERIAL_LEN + 1];
	siegel_hex_encode(serial, r->serial, ALG_SERIAL_LEN);
	const char *op = ops[c->op];
	if (siegel_buf_reserve(b, 4 * (r->log.len / 3) + r->qr.len * 2 + 512) != 0)
		return siegel_fail(d, SIEGEL_E_NOMEM, "no memory for the answer");
	siegel_buf_printf(b, ",\"number\":%llu,\"time_start\":%lld,\"log\":{\"operation\":\"%s\","
		"\"timestamp\":%lld,\"timestamp_format\":\"%s\",\"timestamp_text\":",
		(unsigned long long)r->transaction_number, (long long)r->start_time, op,
		(long long)r->log_time, logmsg_time_format_name(r->time_format));
	json_str(b, r->log_time_text, strlen(r->log_time_text));
	siegel_buf_puts(b, "},\"signature\":{\"value\":");
	json_b64(b, r->signature, r->signature_len);
	siegel_buf_printf(b, ",\"algorithm\":\"%s\",\"counter\":%llu},\"tss_serial_number\":\"%s\","
		"\"log_message\":", ai ? ai->sig_name : "?", (unsigned long long)r->signature_counter,
		serial);
	json_b64(b, r->log.data, r->log.len);
	if (r->qr.len > 0) {
		siegel_buf_puts(b, ",\"qr_code_data\":");
		json_str(b, (const char *)r->qr.data, strlen((const char *)r->qr.data));
	}
	siegel_buf_putc(b, '}');
	siegel_buf_putc(b, 0);
	if (b->err) {
		b->len = head;
		b->err = 0;
		return siegel_fail(d, SIEGEL_E_NOMEM, "no memory for the answer");
	}
	b->len--; /* the NUL stays behind the text */
	sqlite3_stmt *st = store_stmt(s,
		"INSERT INTO tx_answers (tss_id, number, revision, tx_id, request_hash, response, "
		"created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", d);
	int rc = st ? 0 : SIEGEL_E_DB;
	if (rc == 0) {
		sqlite3_bind_text(st, 1, c->tss, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)r->transaction_number);
		sqlite3_bind_int64(st, 3, c->revision);
		sqlite3_bind_text(st, 4, c->tx_id, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, c->req_hash, 32, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, (const char *)b->data, (int)b->len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, c->now);
		rc = store_exec_stmt(s, st, d);
		/* the statement is cached: drop the borrowed text now */
		sqlite3_clear_bindings(st);
	}
	if (rc == 0 && c->op == TSE_TX_START) {
		st = store_stmt(s, "INSERT INTO tx_refs (tss_id, tx_id, number) VALUES (?, ?, ?)", d);
		rc = st ? 0 : SIEGEL_E_DB;
		if (rc == 0) {
			sqlite3_bind_text(st, 1, c->tss, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, c->tx_id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, (sqlite3_int64)r->transaction_number);
			rc = store_exec_stmt(s, st, d);
		}
	}
	return rc;
}

/* SHA-256 over the parsed request: state, client, type, data (length-prefixed). */
static void request_hash(uint8_t out[32], const char *state, const char *client, const char *type,
	const uint8_t *pd, size_t pd_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const void *parts[4] = { state, client, type ? type : "", pd };
	size_t lens[4] = { strlen(state), strlen(client), type ? strlen(type) : 0, pd_len };
	uint8_t present = type != NULL;
	int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
	for (size_t i = 0; ok && i < 4; i++) {
		uint64_t n = lens[i];
		ok = EVP_DigestUpdate(md, &n, sizeof(n)) == 1 &&
		     (n == 0 || EVP_DigestUpdate(md, parts[i], n) == 1);
	}
	ok = ok && EVP_DigestUpdate(md, &present, 1) == 1 && EVP_DigestFinal_ex(md, out, NULL) == 1;
	if (!ok)
		memset(out, 0, 32);
	EVP_MD_CTX_free(md);
}

void ep_tss_tx_put(struct http_req *rq)
{
	const char *state = NULL, *client = NULL, *type = NULL, *data_b64 = NULL;
	const struct http_jfield spec[] = {
		HJ_STRING("state", 1, &state, 16),
		HJ_STRING("client_id", 1, &client, 64),
		HJ_STRING("process_type", 0, &type, 100),
		HJ_STRING("process_data", 0, &data_b64, 0),
	};
	long long revision = 0;
	if (http_json_parse(rq, spec, sizeof(spec) / sizeof(spec[0])) != 0 ||
	    http_query_int(rq, "revision", 1, TX_MAX_REVISION, &revision, 1) != 0 || http_tss(rq) != 0)
		return;
	const char *tx_id = http_param(rq, "txId");
	if (check_tx_id(tx_id) != 0) {
		http_reply_code(rq, HE_BAD_VALUE, "txId: 1 to %d characters of A-Z a-z 0-9 . _ -",
			TX_MAX_ID);
		return;
	}
	enum tse_tx_op op;
	int cancel = 0;
	if (strcmp(state, "ACTIVE") == 0) {
		op = revision == 1 ? TSE_TX_START : TSE_TX_UPDATE;
	} else if (strcmp(state, "FINISHED") == 0 || strcmp(state, "CANCELLED") == 0) {
		cancel = state[0] == 'C';
		op = TSE_TX_FINISH;
		if (revision == 1) {
			http_reply_code(rq, HE_BAD_VALUE,
				"a transaction starts with revision 1 in state ACTIVE");
			return;
		}
	} else {
		http_reply_code(rq, HE_BAD_VALUE, "state: want ACTIVE, FINISHED or CANCELLED");
		return;
	}
	uint8_t *pd = NULL;
	size_t pd_len = 0;
	if (data_b64 != NULL && siegel_b64_decode(&pd, &pd_len, data_b64, strlen(data_b64), 0) != 0) {
		http_reply_code(rq, HE_BAD_VALUE, "process_data must be base64 (RFC 4648, padded)");
		return;
	}
	if (cancel) {
		if (type == NULL)
			type = TX_CANCEL_TYPE;
		if (data_b64 == NULL) {
			pd = (uint8_t *)strdup(TX_CANCEL_DATA);
			pd_len = pd ? strlen(TX_CANCEL_DATA) : 0;
		}
	}
	struct tx_hook_ctx c;
	memset(&c, 0, sizeof(c));
	c.tss = rq->tss;
	c.tx_id = tx_id;
	c.revision = revision;
	c.op = op;
	c.conflict = HE_COUNT;
	c.now = (int64_t)time(NULL);
	request_hash(c.req_hash, state, client, type, pd, pd_len);
	/* the request's part of the answer, outside the store transaction */
	siegel_buf_init(&c.resp);
	/* room for the whole answer (the log holds processData), so hook_after
	 * does not grow it inside the store transaction */
	(void)siegel_buf_reserve(&c.resp, 4 * ((pd_len + 700) / 3) + 1024);
	siegel_buf_puts(&c.resp, "{\"tx_id\":");
	json_str(&c.resp, tx_id, strlen(tx_id));
	siegel_buf_printf(&c.resp, ",\"revision\":%lld,\"state\":\"%s\",\"client_id\":", revision,
		state);
	json_str(&c.resp, client, strlen(client));
	if (type != NULL) {
		siegel_buf_puts(&c.resp, ",\"process_type\":");
		json_str(&c.resp, type, strlen(type));
	}
	c.head_len = c.resp.len;
	if (c.resp.err) {
		siegel_buf_free(&c.resp);
		free(pd);
		http_reply_code(rq, HE_INTERNAL, "out of memory");
		return;
	}
	struct tse_tx_hook hook = { hook_before, hook_after, &c };
	struct tse_tx_result r;
	tse_tx_result_init(&r);
	struct siegel_diag d = { { 0 } };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = tse_tx_hooked(rq->srv->tse, rq->tss, op, client, 0, type, pd, pd_len, &hook, &r, &d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	tse_tx_result_free(&r);
	free(pd);
	if (rc) {
		free(c.response);
		siegel_buf_free(&c.resp);
		if (c.conflict != HE_COUNT)
			http_reply_code(rq, c.conflict, "%s", d.msg);
		else
			http_reply_err(rq, rc, &d);
		return;
	}
	http_metrics_sign(&rq->srv->metrics,
		(int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec), c.replay);
	size_t len = 0;
	if (c.replay) {
		siegel_buf_free(&c.resp);
		len = c.response ? strlen(c.response) : 0;
	} else {
		c.response = (char *)siegel_buf_steal(&c.resp, &len);
	}
	if (c.response == NULL) {
		http_reply_code(rq, HE_INTERNAL, "no answer was stored");
		return;
	}
	http_reply_raw(rq, 200, "application/json", c.response, len);
}

void ep_tss_tx_get(struct http_req *rq)
{
	if (http_tss(rq) != 0)
		return;
	const char *tx_id = http_param(rq, "txId");
	struct siegel_diag d = { { 0 } };
	struct tse_tss_info in;
	int rc = tse_tss_info(rq->srv->tse, rq->tss, &in, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	struct store *s = tse_store(rq->srv->tse);
	char *resp = NULL;
	store_lock(s);
	sqlite3_stmt *st = store_stmt(s,
		"SELECT a.response FROM tx_refs r JOIN tx_answers a ON a.tss_id = r.tss_id AND "
		"a.number = r.number WHERE r.tss_id = ? AND r.tx_id = ? ORDER BY a.revision DESC "
		"LIMIT 1", &d);
	if (st != NULL) {
		sqlite3_bind_text(st, 1, rq->tss, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, tx_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			resp = strdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
	store_unlock(s);
	if (st == NULL) {
		http_reply_err(rq, SIEGEL_E_DB, &d);
		return;
	}
	if (resp == NULL) {
		http_reply_code(rq, HE_NOT_FOUND, "no transaction '%s' at this TSS", tx_id);
		return;
	}
	http_reply_raw(rq, 200, "application/json", resp, strlen(resp));
}
