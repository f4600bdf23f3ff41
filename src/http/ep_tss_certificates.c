/* GET /api/v1/tss/{tssId}/certificates: getLogMessageCertificate — the chain
 * of the TSS key as PEM (leaf, intermediate, root). */
#include <string.h>

#include "http/http_int.h"
#include "store/store.h"

void ep_tss_certificates_get(struct http_req *rq)
{
	if (http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	struct store *s = tse_store(rq->srv->tse);
	json_t *certs = json_array();
	char serial[2 * ALG_SERIAL_LEN + 1] = "";
	int found = 0;
	store_lock(s);
	sqlite3_stmt *st = store_stmt(s,
		"SELECT cert_leaf, cert_ca, cert_root, serial FROM tss WHERE id = ?", &d);
	if (st != NULL) {
		sqlite3_bind_text(st, 1, rq->tss, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			found = 1;
			for (int i = 0; i < 3; i++)
				if (sqlite3_column_bytes(st, i) > 0)
					json_array_append_new(certs, json_stringn(sqlite3_column_blob(st, i),
						(size_t)sqlite3_column_bytes(st, i)));
			if (sqlite3_column_bytes(st, 3) == ALG_SERIAL_LEN)
				siegel_hex_encode(serial, sqlite3_column_blob(st, 3), ALG_SERIAL_LEN);
		}
		sqlite3_reset(st);
	}
	store_unlock(s);
	if (st == NULL) {
		json_decref(certs);
		http_reply_err(rq, SIEGEL_E_DB, &d);
		return;
	}
	if (!found) {
		json_decref(certs);
		http_reply_code(rq, HE_NOT_FOUND, "no TSS '%s'", http_param(rq, "tssId"));
		return;
	}
	http_reply_json(rq, 200, json_pack("{s:s,s:o}", "serial_number", serial, "certificates", certs));
}
