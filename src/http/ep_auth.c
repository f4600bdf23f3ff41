/* POST /api/v1/auth: API key + secret -> short-lived bearer token. */
#include <string.h>
#include <time.h>

#include "http/http_int.h"

void ep_auth_post(struct http_req *rq)
{
	const char *key = NULL, *secret = NULL;
	const struct http_jfield spec[] = {
		HJ_STRING("api_key", 1, &key, 256),
		HJ_STRING("api_secret", 1, &secret, 256),
	};
	if (http_json_parse(rq, spec, sizeof(spec) / sizeof(spec[0])) != 0)
		return;
	char token[TENANT_TOKEN_LEN + 1];
	int64_t expires = 0;
	struct siegel_diag d = { { 0 } };
	int rc = tenant_auth(rq->srv->tenants, key, secret, token, &expires, &d);
	if (rc == SIEGEL_E_AUTH_FAILED) {
		http_reply_code(rq, HE_BAD_CREDENTIALS, NULL);
		return;
	}
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	/* the tenant, for the request log */
	if (tenant_token_check(rq->srv->tenants, token, rq->tenant, NULL) != 0)
		rq->tenant[0] = 0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:s}", "access_token", token, "token_type", "Bearer",
		"expires_in", (json_int_t)(expires - ts.tv_sec), "expires_at", (json_int_t)expires,
		"tenant", rq->tenant);
	siegel_wipe(token, sizeof(token));
	http_reply_json(rq, 200, o);
}
