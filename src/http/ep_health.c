/* GET /api/v1/health: liveness, no authentication. */
#include "http/http_int.h"

void ep_health_get(struct http_req *rq)
{
	http_reply_json(rq, 200, json_pack("{s:s}", "status", "ok"));
}
