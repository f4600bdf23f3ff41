/* POST /api/v1/tss/{tssId}/exports: exportData as an asynchronous job. The
 * body holds the optional filters of TR-03151 exportData (src/export); a bad
 * combination is refused here (400 ErrorParameterMismatch), everything found
 * while exporting (ErrorTooManyRecords, ErrorNoDataAvailable) ends the job in
 * ERROR with that code. No admin login; works in every state, also after
 * disableSecureElement (TR-03153-1 §3.8). Answer: 202 with the job. */
#include <stdint.h>
#include <string.h>

#include "export/export.h"
#include "http/http_int.h"

void ep_tss_exports_post(struct http_req *rq)
{
	long long tx = 0, tx_first = 0, tx_last = INT64_MAX, t_start = 0, t_end = INT64_MAX;
	long long max_records = 0;
	int has_tx = 0, has_first = 0, has_last = 0, has_start = 0, has_end = 0, incremental = 0;
	const char *client = NULL;
	const struct http_jfield spec[] = {
		HJ_INTEGER("transaction_number", 0, &tx, 0, INT64_MAX, &has_tx),
		HJ_INTEGER("start_transaction_number", 0, &tx_first, 0, INT64_MAX, &has_first),
		HJ_INTEGER("end_transaction_number", 0, &tx_last, 0, INT64_MAX, &has_last),
		HJ_INTEGER("start_date", 0, &t_start, 0, INT64_MAX, &has_start),
		HJ_INTEGER("end_date", 0, &t_end, 0, INT64_MAX, &has_end),
		HJ_STRING("client_id", 0, &client, 30),
		HJ_INTEGER("maximum_number_records", 0, &max_records, 0, INT64_MAX, NULL),
		{ "incremental", HJ_BOOL, 0, &incremental, 0, 0, NULL },
	};
	if (http_json_parse(rq, spec, sizeof(spec) / sizeof(spec[0])) != 0 || http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	struct tse_tss_info in;
	int rc = tse_tss_info(rq->srv->tse, rq->tss, &in, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	struct export_filter f;
	memset(&f, 0, sizeof(f));
	f.has_tx = has_tx;
	f.tx = (uint64_t)tx;
	f.has_tx_range = has_first || has_last;
	f.tx_first = (uint64_t)tx_first;
	f.tx_last = (uint64_t)tx_last;
	f.has_time = has_start || has_end;
	f.time_start = t_start;
	f.time_end = t_end;
	f.client_id = client;
	f.max_records = (uint64_t)max_records;
	f.incremental = incremental;
	json_t *job = NULL;
	if ((rc = export_filter_check(&f, &d)) != 0 ||
	    (rc = http_export_submit(rq->srv, rq->tss, &f, &job, &d)) != 0) {
		http_reply_err(rq, rc, &d);
		return;
	}
	snprintf(rq->location, sizeof(rq->location), "/api/v1/tss/%s/exports/%s",
		http_param(rq, "tssId"), json_string_value(json_object_get(job, "id")));
	http_reply_json(rq, 202, job);
}
