/* DELETE /api/v1/tss/{tssId}/exports/{exportId}: deletes a finished export
 * job and its TAR (the service keeps every TAR until then). 409 while the job
 * is queued or running; another TSS's or tenant's id: 404. No admin login,
 * like the export itself: the TAR is a copy, the logs stay in the TSS. */
#include "http/http_int.h"

void ep_tss_export_delete(struct http_req *rq)
{
	if (http_json_parse(rq, NULL, 0) != 0 || http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	int rc = http_export_delete(rq->srv, rq->tss, http_param(rq, "exportId"), &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	http_reply_json(rq, 200, json_pack("{s:b}", "deleted", 1));
}
