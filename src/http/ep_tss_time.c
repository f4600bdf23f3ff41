/* POST /api/v1/tss/{tssId}/time: updateTime — a synchronisation with the
 * configured time servers; the body is empty (a caller never sets the time). */
#include "http/http_int.h"

void ep_tss_time_post(struct http_req *rq)
{
	if (http_json_parse(rq, NULL, 0) != 0 || http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	struct tse_time_result tr;
	int rc = tse_update_time(rq->srv->tse, rq->tss, &tr, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	http_reply_json(rq, 200, json_pack("{s:I,s:I,s:s,s:f,s:f}", "time_before", (json_int_t)tr.before,
		"time_after", (json_int_t)tr.after, "server", tr.server, "offset", tr.offset, "delay",
		tr.delay));
}
