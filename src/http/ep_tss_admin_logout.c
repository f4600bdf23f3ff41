/* POST /api/v1/tss/{tssId}/admin/logout: logOut. */
#include "http/http_int.h"

void ep_tss_admin_logout_post(struct http_req *rq)
{
	const char *user = TSE_USER_ADMIN;
	const struct http_jfield spec[] = {
		HJ_STRING("user_id", 0, &user, 64),
	};
	if (http_json_parse(rq, spec, sizeof(spec) / sizeof(spec[0])) != 0 || http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	int rc = tse_logout(rq->srv->tse, rq->tss, user, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	http_reply_json(rq, 200, json_pack("{s:s,s:b}", "user_id", user, "authenticated", 0));
}
