/* POST /api/v1/tss/{tssId}/exports: an export job. Not yet available: the
 * export module (src/export) lands separately; until then the TSS is checked
 * (another tenant's TSS stays 404) and the answer is 501 E_NOTSUP. */
#include "http/http_int.h"

void ep_tss_exports_post(struct http_req *rq)
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
