/* GET /api/v1/tss/{tssId}/exports/{exportId}: state (PENDING, WORKING,
 * COMPLETED, ERROR), progress (logs written of the matching total), the
 * result or the error of an export job. Another TSS's or tenant's id: 404. */
#include "http/http_int.h"

void ep_tss_export_get(struct http_req *rq)
{
	if (http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	json_t *job = NULL;
	int rc = http_export_status(rq->srv, rq->tss, http_param(rq, "exportId"), &job, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	http_reply_json(rq, 200, job);
}
