/* POST /api/v1/tss/{tssId}/admin/auth: authenticateUser (admin or timeAdmin, PIN). */
#include "http/http_int.h"

void ep_tss_admin_auth_post(struct http_req *rq)
{
	const char *user = TSE_USER_ADMIN, *pin = NULL;
	const struct http_jfield spec[] = {
		HJ_STRING("user_id", 0, &user, 64),
		HJ_STRING("pin", 1, &pin, 64),
	};
	if (http_json_parse(rq, spec, sizeof(spec) / sizeof(spec[0])) != 0 || http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	int remaining = 0;
	int rc = tse_authenticate(rq->srv->tse, rq->tss, user, pin, &remaining, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	http_reply_json(rq, 200, json_pack("{s:s,s:b,s:i}", "user_id", user, "authenticated", 1,
		"remaining_retries", remaining));
}
