/* GET /api/v1/tss/{tssId}/logs/last: readLogMessage — the last log message. */
#include <stdlib.h>

#include "http/http_int.h"
#include "logmsg/logmsg.h"

void ep_tss_logs_last_get(struct http_req *rq)
{
	if (http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	uint8_t *der = NULL;
	size_t len = 0;
	int rc = tse_last_log(rq->srv->tse, rq->tss, &der, &len, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	struct logmsg m;
	rc = logmsg_parse(&m, der, len, &d);
	char *b64 = siegel_b64_encode(der, len);
	json_t *o = NULL;
	if (rc == 0 && b64 != NULL)
		o = json_pack("{s:I,s:s%,s:s}", "signature_counter", (json_int_t)m.signature_counter,
			"operation", (const char *)m.operation_type.p, m.operation_type.len,
			"log_message", b64);
	if (rc == 0)
		logmsg_clear(&m);
	free(b64);
	free(der);
	if (o == NULL) {
		http_reply_err(rq, rc ? rc : SIEGEL_E_NOMEM, &d);
		return;
	}
	http_reply_json(rq, 200, o);
}
