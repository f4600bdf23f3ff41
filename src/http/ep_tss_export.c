/* GET /api/v1/tss/{tssId}/exports/{exportId}: state and progress of an export
 * job. Not yet available (501 E_NOTSUP after the TSS check). */
#include "http/http_int.h"

void ep_tss_export_get(struct http_req *rq)
{
	if (http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	struct tse_tss_info in;
	int rc = tse_tss_info(rq->srv->tse, rq->tss, &in, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	http_reply_code(rq, HE_NOTSUP, "exports are not yet available in this build");
}
