/* POST /api/v1/tss/{tssId}/restore: restoreFromBackup. The body is an export
 * TAR (application/x-tar, up to HTTP_RESTORE_MAX_BODY, spooled to a temp file
 * by the server); it is imported as the new TSS {tssId} after every check of
 * src/exportcheck passed (export_restore). The TSS must not exist yet (409);
 * a TAR that fails a check is 400 with the member named, and nothing is
 * created. The restored TSS is a read-only archive (state DISABLED): it can
 * be read and exported, never sign. */
#include <time.h>

#include "export/export.h"
#include "http/http_int.h"

void ep_tss_restore_post(struct http_req *rq)
{
	if (http_tss(rq) != 0)
		return;
	if (rq->body_io_err) {
		struct siegel_diag d = { { 0 } };
		siegel_fail(&d, SIEGEL_E_IO, "spooling the request body failed");
		http_reply_err(rq, SIEGEL_E_IO, &d);
		return;
	}
	if (rq->body_path == NULL || rq->body_file_len == 0) {
		http_reply_code(rq, HE_BAD_VALUE,
			"send the export TAR as the body (Content-Type: application/x-tar)");
		return;
	}
	struct siegel_diag d = { { 0 } };
	struct tse_tss_info in;
	int rc = tse_tss_info(rq->srv->tse, rq->tss, &in, &d);
	if (rc == 0) {
		siegel_fail(&d, SIEGEL_E_EXISTS, "TSS '%s' exists; restore creates a new TSS id",
			http_param(rq, "tssId"));
		http_reply_err(rq, SIEGEL_E_EXISTS, &d);
		return;
	}
	if (rc != SIEGEL_E_NOTFOUND) {
		http_reply_err(rq, rc, &d);
		return;
	}
	d.msg[0] = 0;
	struct export_restore_result res;
	rc = export_restore(&res, rq->srv->tse, rq->tss, rq->body_path, NULL, (int64_t)time(NULL), &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	json_t *o = http_tss_json(rq->srv->tse, rq->tss, http_param(rq, "tssId"), &d, &rc);
	if (o == NULL) {
		http_reply_err(rq, rc, &d);
		return;
	}
	json_object_set_new(o, "restored", json_pack("{s:I,s:I,s:I}", "logs", (json_int_t)res.logs,
		"first_signature_counter", (json_int_t)res.first_counter, "last_signature_counter",
		(json_int_t)res.last_counter));
	http_reply_json(rq, 201, o);
}
