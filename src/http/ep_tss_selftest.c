/* POST /api/v1/tss/{tssId}/selftest: runSelfTest (logged). */
#include "http/http_int.h"

void ep_tss_selftest_post(struct http_req *rq)
{
	if (http_json_parse(rq, NULL, 0) != 0 || http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	int rc = tse_self_test(rq->srv->tse, rq->tss, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	http_reply_json(rq, 200, json_pack("{s:b}", "passed", 1));
}
