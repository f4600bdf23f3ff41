/* GET /api/v1/tss: the TSS of the authenticated tenant. */
#include <stdio.h>
#include <string.h>

#include "http/http_int.h"

struct list_ctx {
	const char *prefix;
	size_t prefix_len;
	json_t *arr;
};

static void add(void *vctx, const char *id)
{
	struct list_ctx *c = vctx;
	if (strncmp(id, c->prefix, c->prefix_len) == 0)
		json_array_append_new(c->arr, json_pack("{s:s}", "id", id + c->prefix_len));
}

void ep_tss_list_get(struct http_req *rq)
{
	char prefix[TENANT_MAX_ID + 2];
	snprintf(prefix, sizeof(prefix), "%s.", rq->tenant);
	struct list_ctx c = { prefix, strlen(prefix), json_array() };
	struct siegel_diag d = { { 0 } };
	int rc = tse_tss_list(rq->srv->tse, add, &c, &d);
	if (rc) {
		json_decref(c.arr);
		http_reply_err(rq, rc, &d);
		return;
	}
	http_reply_json(rq, 200, json_pack("{s:I,s:o}", "count", (json_int_t)json_array_size(c.arr),
		"data", c.arr));
}
