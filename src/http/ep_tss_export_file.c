/* GET /api/v1/tss/{tssId}/exports/{exportId}/file: the export TAR of a
 * COMPLETED job, streamed from its file (application/x-tar); 409 E_STATE
 * while the job is PENDING or WORKING, or when it ended in ERROR. */
#include <stdio.h>

#include "http/http_int.h"

void ep_tss_export_file_get(struct http_req *rq)
{
	if (http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	const char *id = http_param(rq, "exportId");
	const char *state = NULL;
	int fd = -1;
	uint64_t len = 0;
	int rc = http_export_open(rq->srv, rq->tss, id, &fd, &len, &state, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	snprintf(rq->disposition, sizeof(rq->disposition), "attachment; filename=\"%s.tar\"", id);
	http_reply_fd(rq, 200, "application/x-tar", fd, len);
}
