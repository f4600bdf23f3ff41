/* POST /api/v1/tss/{tssId}/restore: restoreFromBackup. Not yet available: it
 * needs the export reader (src/export); 501 E_NOTSUP after the TSS check. */
#include "http/http_int.h"

void ep_tss_restore_post(struct http_req *rq)
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
	http_reply_code(rq, HE_NOTSUP, "restoreFromBackup is not yet available in this build");
}
