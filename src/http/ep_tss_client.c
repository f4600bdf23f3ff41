/* /api/v1/tss/{tssId}/clients/{clientId}: PUT registerClient, DELETE
 * deregisterClient (admin). PUT of a registered client answers 200 again. */
#include "http/http_int.h"

static int client_common(struct http_req *rq, const char **client_out)
{
	if (http_json_parse(rq, NULL, 0) != 0 || http_tss(rq) != 0)
		return -1;
	const char *client = http_param(rq, "clientId");
	struct siegel_diag d = { { 0 } };
	int rc = tse_check_client_id(client, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return -1;
	}
	*client_out = client;
	return 0;
}

void ep_tss_client_put(struct http_req *rq)
{
	const char *client = NULL;
	if (client_common(rq, &client) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	int rc = tse_register_client(rq->srv->tse, rq->tss, client, &d);
	if (rc && rc != SIEGEL_E_EXISTS) {
		http_reply_err(rq, rc, &d);
		return;
	}
	http_reply_json(rq, 200, json_pack("{s:s,s:s}", "client_id", client, "state", "REGISTERED"));
}

void ep_tss_client_delete(struct http_req *rq)
{
	const char *client = NULL;
	if (client_common(rq, &client) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	int rc = tse_deregister_client(rq->srv->tse, rq->tss, client, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	http_reply_json(rq, 200, json_pack("{s:s,s:s}", "client_id", client, "state", "DEREGISTERED"));
}
