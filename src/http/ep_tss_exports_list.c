/* GET /api/v1/tss/{tssId}/exports: the export jobs of the TSS still in the
 * service's table and the TARs kept on disk (also from before a restart),
 * each as in GET …/exports/{exportId}. */
#include "http/http_int.h"

void ep_tss_exports_get(struct http_req *rq)
{
	if (http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	struct tse_tss_info in;
	json_t *list = NULL;
	int rc = tse_tss_info(rq->srv->tse, rq->tss, &in, &d); /* no such TSS: 404 */
	if (rc == 0)
		rc = http_export_list(rq->srv, rq->tss, &list, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	http_reply_json(rq, 200, list);
}
