/* DELETE /api/v1/tss/{tssId}/logs: deleteStoredData. Deletes the log
 * messages that an export has already delivered and keeps every other one;
 * needs the admin login. Nothing exported yet: 409 ErrorUnexportedStoredData;
 * no logs at all: 404 ErrorNoDataAvailable. The deletion writes its own
 * system log (deleteStoredData), so the next export shows it. */
#include "http/http_int.h"

void ep_tss_logs_delete(struct http_req *rq)
{
	if (http_json_parse(rq, NULL, 0) != 0 || http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	uint64_t n = 0;
	int rc = tse_delete_exported(rq->srv->tse, rq->tss, &n, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	http_reply_json(rq, 200, json_pack("{s:I}", "deleted", (json_int_t)n));
}
