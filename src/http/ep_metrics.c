/* GET /metrics: Prometheus text format. */
#include "http/http_int.h"

void ep_metrics_get(struct http_req *rq)
{
	size_t len = 0;
	char *text = http_metrics_render(&rq->srv->metrics, &len);
	if (text == NULL) {
		http_reply_code(rq, HE_INTERNAL, "out of memory");
		return;
	}
	http_reply_raw(rq, 200, "text/plain; version=0.0.4", text, len);
}
