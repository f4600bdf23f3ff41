/* POST /api/v1/tss/{tssId}/admin/unblock: unblockUser (PUK, new PIN). */
#include "http/http_int.h"

void ep_tss_admin_unblock_post(struct http_req *rq)
{
	const char *user = TSE_USER_ADMIN, *puk = NULL, *new_pin = NULL;
	const struct http_jfield spec[] = {
		HJ_STRING("user_id", 0, &user, 64),
		HJ_STRING("puk", 1, &puk, 64),
		HJ_STRING("new_pin", 1, &new_pin, 64),
	};
	if (http_json_parse(rq, spec, sizeof(spec) / sizeof(spec[0])) != 0 || http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	int rc = tse_unblock(rq->srv->tse, rq->tss, user, puk, new_pin, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	http_reply_json(rq, 200, json_pack("{s:s,s:b}", "user_id", user, "authenticated", 0));
}
