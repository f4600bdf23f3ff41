/* /api/v1/tss/{tssId}/tx/{txId}?revision=N
 *
 * PUT: revision 1 with state ACTIVE starts the transaction; a later revision
 * with ACTIVE updates it (signed update), with FINISHED or CANCELLED
 * finishes it. CANCELLED finishes with processType "Kassenbeleg-V1" and
 * processData "AVBelegabbruch^0.00_0.00_0.00_0.00_0.00^" (DSFinV-K
 * Belegabbruch) unless the request gives them.
 *
 * Idempotency: the answer of every successful PUT is stored in tx_requests
 * in the same store transaction as the signature (tse_tx_hooked). A request
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
	const char *tss, *tx_id, *state, *client_id;
	long long revision;
	enum tse_tx_op op;
	uint8_t req_hash[32];
	int64_t now;
	enum http_ecode conflict;     /* HE_COUNT = none */
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

static int hook_before(void *vctx, struct store *s, uint64_t *tx_number, struct siegel_diag *d)
{
	struct tx_hook_ctx *c = vctx;
	/* another tenant's (or no) TSS: 404 before anything else is told */
	sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM tss WHERE id = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss, -1, SQLITE_STATIC);
	int exists = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	if (!exists)
		return siegel_fail(d, SIEGEL_E_NOTFOUND, "no TSS with this id");
	st = store_stmt(s,
		"SELECT request_hash, response FROM tx_requests WHERE tss_id = ? AND tx_id = ? AND "
		"revision = ?", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->tx_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->revision);
	if (sqlite3_step(st) == SQLITE_ROW) {
		int same = sqlite3_column_bytes(st, 0) == 32 &&
			   memcmp(sqlite3_column_blob(st, 0), c->req_hash, 32) == 0;
		if (same)
			c->response = strdup((const char *)sqlite3_column_text(st, 1));
		sqlite3_reset(st);
		if (!same) {
			c->conflict = HE_IDEMPOTENCY;
			return siegel_fail(d, SIEGEL_E_EXISTS,
				"transaction '%s' revision %lld was already sent with another body",
				c->tx_id, c->revision);
		}
		if (c->response == NULL)
			return SIEGEL_E_NOMEM;
		c->replay = 1;
		return TSE_HOOK_DONE;
	}
	sqlite3_reset(st);
	st = store_stmt(s,
		"SELECT revision, number FROM tx_requests WHERE tss_id = ? AND tx_id = ? "
		"ORDER BY revision DESC LIMIT 1", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->tx_id, -1, SQLITE_STATIC);
	long long last = 0;
	uint64_t number = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		number = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (c->revision != last + 1) {
		c->conflict = HE_REVISION;
		return siegel_fail(d, SIEGEL_E_STATE,
			"transaction '%s' is at revision %lld; the next request must have revision %lld",
			c->tx_id, last, last + 1);
	}
	*tx_number = number;
	return 0;
}

static int hook_after(void *vctx, struct store *s, const struct tse_tx_result *r,
	struct siegel_diag *d)
{
	struct tx_hook_ctx *c = vctx;
	struct logmsg m;
	int rc = logmsg_parse(&m, r->log.data, r->log.len, d);
	if (rc)
		return rc;
	char serial[2 * ALG_SERIAL_LEN + 1];
	siegel_hex_encode(serial, r->serial, ALG_SERIAL_LEN);
	char *sig = siegel_b64_encode(r->signature, r->signature_len);
	char *log = siegel_b64_encode(r->log.data, r->log.len);
	json_t *o = NULL;
	if (sig != NULL && log != NULL)
		o = json_pack("{s:s,s:I,s:I,s:s,s:s,s:I,s:{s:s%,s:I,s:s,s:s},s:{s:s,s:s,s:I},s:s,s:s}",
			"tx_id", c->tx_id, "number", (json_int_t)r->transaction_number,
			"revision", (json_int_t)c->revision, "state", c->state, "client_id", c->client_id,
			"time_start", (json_int_t)r->start_time,
			"log", "operation", (const char *)m.operation_type.p, m.operation_type.len,
			"timestamp", (json_int_t)r->log_time,
			"timestamp_format", logmsg_time_format_name(m.log_time.fmt),
			"timestamp_text", r->log_time_text,
			"signature", "value", sig, "algorithm", m.sig_alg_name ? m.sig_alg_name : "?",
			"counter", (json_int_t)r->signature_counter,
			"tss_serial_number", serial, "log_message", log);
	if (o != NULL && m.has_process_type)
		json_object_set_new(o, "process_type",
			json_stringn((const char *)m.process_type.p, m.process_type.len));
	if (o != NULL && r->qr.len > 0)
		json_object_set_new(o, "qr_code_data", json_string((const char *)r->qr.data));
	logmsg_clear(&m);
	free(sig);
	free(log);
	c->response = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (c->response == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "no memory for the answer");
	sqlite3_stmt *st = store_stmt(s,
		"INSERT INTO tx_requests (tss_id, tx_id, revision, number, request_hash, response, "
		"created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", d);
	if (st == NULL)
		return SIEGEL_E_DB;
	sqlite3_bind_text(st, 1, c->tss, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->tx_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->revision);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)r->transaction_number);
	sqlite3_bind_blob(st, 5, c->req_hash, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, c->response, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, c->now);
	return store_exec_stmt(s, st, d);
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
	c.state = state;
	c.client_id = client;
	c.revision = revision;
	c.op = op;
	c.conflict = HE_COUNT;
	c.now = (int64_t)time(NULL);
	request_hash(c.req_hash, state, client, type, pd, pd_len);
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
		if (c.conflict != HE_COUNT)
			http_reply_code(rq, c.conflict, "%s", d.msg);
		else
			http_reply_err(rq, rc, &d);
		return;
	}
	http_metrics_sign(&rq->srv->metrics,
		(int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec), c.replay);
	if (c.response == NULL) {
		http_reply_code(rq, HE_INTERNAL, "no answer was stored");
		return;
	}
	http_reply_raw(rq, 200, "application/json", c.response, strlen(c.response));
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
		"SELECT response FROM tx_requests WHERE tss_id = ? AND tx_id = ? "
		"ORDER BY revision DESC LIMIT 1", &d);
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
