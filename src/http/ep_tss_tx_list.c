/* GET /api/v1/tss/{tssId}/tx?state=ACTIVE: the open transactions, with the
 * txId under which each was started over HTTP (absent for CLI transactions). */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "store/store.h"

static void add(void *ctx, const struct tse_open_tx *tx)
{
	json_t *o = json_pack("{s:I,s:s,s:I,s:I,s:I,s:I}", "number", (json_int_t)tx->number,
		"client_id", tx->client_id ? tx->client_id : "", "time_start", (json_int_t)tx->start_time,
		"time_last", (json_int_t)tx->last_time,
		"signature_counter_start", (json_int_t)tx->start_counter,
		"signature_counter_last", (json_int_t)tx->last_counter);
	if (o != NULL && tx->process_type != NULL)
		json_object_set_new(o, "process_type", json_string(tx->process_type));
	json_array_append_new(ctx, o);
}

void ep_tss_tx_list_get(struct http_req *rq)
{
	const char *state = http_query(rq, "state");
	if (state != NULL && strcmp(state, "ACTIVE") != 0) {
		http_reply_code(rq, HE_BAD_VALUE, "state: only ACTIVE can be listed");
		return;
	}
	if (http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	struct tse_tss_info in;
	int rc = tse_tss_info(rq->srv->tse, rq->tss, &in, &d);
	json_t *arr = json_array();
	if (rc == 0)
		rc = tse_open_transactions(rq->srv->tse, rq->tss, add, arr, &d);
	if (rc) {
		json_decref(arr);
		http_reply_err(rq, rc, &d);
		return;
	}
	struct store *s = tse_store(rq->srv->tse);
	store_lock(s);
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		sqlite3_stmt *st = store_stmt(s,
			"SELECT tx_id FROM tx_answers WHERE tss_id = ? AND number = ? LIMIT 1", NULL);
		if (st == NULL)
			break;
		sqlite3_bind_text(st, 1, rq->tss, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)json_integer_value(json_object_get(o, "number")));
		if (sqlite3_step(st) == SQLITE_ROW)
			json_object_set_new(o, "tx_id", json_string((const char *)sqlite3_column_text(st, 0)));
		sqlite3_reset(st);
	}
	store_unlock(s);
	http_reply_json(rq, 200, json_pack("{s:I,s:o}", "count", (json_int_t)json_array_size(arr),
		"data", arr));
}
