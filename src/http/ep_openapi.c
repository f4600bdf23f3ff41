/* GET /api/v1/openapi.json: the OpenAPI 3 document built from the route table at start. */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

void ep_openapi_get(struct http_req *rq)
{
	char *copy = malloc(rq->srv->openapi_len + 1);
	if (copy == NULL) {
		http_reply_code(rq, HE_INTERNAL, "out of memory");
		return;
	}
	memcpy(copy, rq->srv->openapi, rq->srv->openapi_len + 1);
	http_reply_raw(rq, 200, "application/json", copy, rq->srv->openapi_len);
}
