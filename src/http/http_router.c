/* The route table: the map of the API. Every route, its handler, whether it
 * needs a bearer token, and the snippets the OpenAPI document is built from.
 * docs/api.md describes the same table for people. */
#include <stdio.h>
#include <string.h>

#include "http/http_int.h"

#define V1 "/api/v1"
#define TSS V1 "/tss/{tssId}"

/* ---- schema snippets (JSON) ---- */
#define S_TSS \
	"{\"type\":\"object\",\"properties\":{" \
	"\"id\":{\"type\":\"string\"},\"state\":{\"type\":\"string\",\"enum\":[\"CREATED\"," \
	"\"UNINITIALIZED\",\"INITIALIZED\",\"DISABLED\"]},\"description\":{\"type\":\"string\"}," \
	"\"serial_number\":{\"type\":\"string\",\"description\":\"hex SHA-256 of the public key\"}," \
	"\"signature_algorithm\":{\"type\":\"string\"},\"signature_timestamp_format\":{\"type\":\"string\"}," \
	"\"signature_counter\":{\"type\":\"integer\"},\"transaction_counter\":{\"type\":\"integer\"}," \
	"\"number_registered_clients\":{\"type\":\"integer\"},\"max_number_registered_clients\":{\"type\":\"integer\"}," \
	"\"number_active_transactions\":{\"type\":\"integer\"},\"max_number_active_transactions\":{\"type\":\"integer\"}," \
	"\"supported_update_variants\":{\"type\":\"string\"},\"time_set\":{\"type\":\"boolean\"}," \
	"\"time_synced_at\":{\"type\":\"integer\"},\"time_server\":{\"type\":\"string\"},\"time_now\":{\"type\":\"integer\"}," \
	"\"admin_pin\":{\"type\":\"string\",\"description\":\"only in the answer of PUT when generated\"}," \
	"\"admin_puk\":{\"type\":\"string\"},\"time_admin_pin\":{\"type\":\"string\"},\"time_admin_puk\":{\"type\":\"string\"}}}"
#define S_TSS_CREATE \
	"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{" \
	"\"admin_pin\":{\"type\":\"string\",\"minLength\":5,\"maxLength\":32}," \
	"\"admin_puk\":{\"type\":\"string\",\"minLength\":6,\"maxLength\":32}," \
	"\"time_admin_pin\":{\"type\":\"string\",\"minLength\":5,\"maxLength\":32}," \
	"\"time_admin_puk\":{\"type\":\"string\",\"minLength\":6,\"maxLength\":32}," \
	"\"signature_algorithm\":{\"type\":\"string\",\"enum\":[\"p256\",\"p384\",\"bp256\",\"bp384\"]}," \
	"\"signature_timestamp_format\":{\"type\":\"string\",\"enum\":[\"unixTime\",\"utcTime\",\"generalizedTime\"]}," \
	"\"max_number_registered_clients\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100000}," \
	"\"max_number_active_transactions\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000000}}}"
#define S_TSS_PATCH \
	"{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"state\"],\"properties\":{" \
	"\"state\":{\"type\":\"string\",\"enum\":[\"INITIALIZED\",\"DISABLED\"]}," \
	"\"description\":{\"type\":\"string\",\"maxLength\":200}}}"
#define S_AUTH_REQ \
	"{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"api_key\",\"api_secret\"]," \
	"\"properties\":{\"api_key\":{\"type\":\"string\"},\"api_secret\":{\"type\":\"string\"}}}"
#define S_AUTH_RESP \
	"{\"type\":\"object\",\"properties\":{\"access_token\":{\"type\":\"string\"}," \
	"\"token_type\":{\"type\":\"string\"},\"expires_in\":{\"type\":\"integer\"}," \
	"\"expires_at\":{\"type\":\"integer\"},\"tenant\":{\"type\":\"string\"}}}"
#define S_USER_PIN \
	"{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"pin\"],\"properties\":{" \
	"\"user_id\":{\"type\":\"string\",\"enum\":[\"admin\",\"timeAdmin\"],\"default\":\"admin\"}," \
	"\"pin\":{\"type\":\"string\"}}}"
#define S_USER \
	"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{" \
	"\"user_id\":{\"type\":\"string\",\"enum\":[\"admin\",\"timeAdmin\"],\"default\":\"admin\"}}}"
#define S_UNBLOCK \
	"{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"puk\",\"new_pin\"],\"properties\":{" \
	"\"user_id\":{\"type\":\"string\",\"enum\":[\"admin\",\"timeAdmin\"],\"default\":\"admin\"}," \
	"\"puk\":{\"type\":\"string\"},\"new_pin\":{\"type\":\"string\"}}}"
#define S_USER_RESP \
	"{\"type\":\"object\",\"properties\":{\"user_id\":{\"type\":\"string\"}," \
	"\"authenticated\":{\"type\":\"boolean\"},\"remaining_retries\":{\"type\":\"integer\"}}}"
#define S_TIME_RESP \
	"{\"type\":\"object\",\"properties\":{\"time_before\":{\"type\":\"integer\"},\"time_after\":{\"type\":\"integer\"}," \
	"\"server\":{\"type\":\"string\"},\"offset\":{\"type\":\"number\"},\"delay\":{\"type\":\"number\"}}}"
#define S_CLIENT \
	"{\"type\":\"object\",\"properties\":{\"client_id\":{\"type\":\"string\"}," \
	"\"state\":{\"type\":\"string\",\"enum\":[\"REGISTERED\",\"DEREGISTERED\"]}}}"
#define S_TX_REQ \
	"{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"state\",\"client_id\"],\"properties\":{" \
	"\"state\":{\"type\":\"string\",\"enum\":[\"ACTIVE\",\"FINISHED\",\"CANCELLED\"]}," \
	"\"client_id\":{\"type\":\"string\",\"maxLength\":30}," \
	"\"process_type\":{\"type\":\"string\",\"maxLength\":100}," \
	"\"process_data\":{\"type\":\"string\",\"format\":\"byte\",\"description\":\"base64\"}}}"
#define S_TX \
	"{\"type\":\"object\",\"properties\":{\"tx_id\":{\"type\":\"string\"},\"number\":{\"type\":\"integer\"}," \
	"\"revision\":{\"type\":\"integer\"},\"state\":{\"type\":\"string\"},\"client_id\":{\"type\":\"string\"}," \
	"\"process_type\":{\"type\":\"string\"},\"time_start\":{\"type\":\"integer\"}," \
	"\"log\":{\"type\":\"object\",\"properties\":{\"operation\":{\"type\":\"string\"}," \
	"\"timestamp\":{\"type\":\"integer\"},\"timestamp_format\":{\"type\":\"string\"}," \
	"\"timestamp_text\":{\"type\":\"string\"}}}," \
	"\"signature\":{\"type\":\"object\",\"properties\":{\"value\":{\"type\":\"string\",\"format\":\"byte\"}," \
	"\"algorithm\":{\"type\":\"string\"},\"counter\":{\"type\":\"integer\"}}}," \
	"\"tss_serial_number\":{\"type\":\"string\"},\"log_message\":{\"type\":\"string\",\"format\":\"byte\"," \
	"\"description\":\"the TR-03151 log message (DER, base64)\"},\"qr_code_data\":{\"type\":\"string\"}}}"
#define S_TX_LIST \
	"{\"type\":\"object\",\"properties\":{\"count\":{\"type\":\"integer\"},\"data\":{\"type\":\"array\"," \
	"\"items\":{\"type\":\"object\",\"properties\":{\"number\":{\"type\":\"integer\"},\"tx_id\":{\"type\":\"string\"}," \
	"\"client_id\":{\"type\":\"string\"},\"process_type\":{\"type\":\"string\"},\"time_start\":{\"type\":\"integer\"}," \
	"\"time_last\":{\"type\":\"integer\"},\"signature_counter_start\":{\"type\":\"integer\"}," \
	"\"signature_counter_last\":{\"type\":\"integer\"}}}}}}"
#define S_CERTS \
	"{\"type\":\"object\",\"properties\":{\"serial_number\":{\"type\":\"string\"},\"certificates\":{\"type\":\"array\"," \
	"\"description\":\"PEM: leaf, intermediate, root\",\"items\":{\"type\":\"string\"}}}}"
#define S_LOG \
	"{\"type\":\"object\",\"properties\":{\"signature_counter\":{\"type\":\"integer\"}," \
	"\"operation\":{\"type\":\"string\"},\"log_message\":{\"type\":\"string\",\"format\":\"byte\"}}}"
#define S_TSS_LIST \
	"{\"type\":\"object\",\"properties\":{\"count\":{\"type\":\"integer\"},\"data\":{\"type\":\"array\"," \
	"\"items\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"}}}}}}"
#define S_OK "{\"type\":\"object\"}"
#define S_DELETED \
	"{\"type\":\"object\",\"properties\":{\"deleted\":{\"type\":\"integer\"," \
	"\"description\":\"log messages deleted\"}}}"
#define S_EXPORT_REQ \
	"{\"type\":\"object\",\"additionalProperties\":false,\"description\":\"Filters of exportData " \
	"(TR-03151 v1.0.1), combined with AND; none = everything stored for the TSS\",\"properties\":{" \
	"\"transaction_number\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"the logs of this " \
	"transaction (with client_id: only if it is that client's)\"}," \
	"\"start_transaction_number\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"transaction " \
	"logs with number >= this\"}," \
	"\"end_transaction_number\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"transaction " \
	"logs with number <= this\"}," \
	"\"start_date\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"every log with logTime >= " \
	"this (Unix seconds)\"}," \
	"\"end_date\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"every log with logTime <= " \
	"this (Unix seconds)\"}," \
	"\"client_id\":{\"type\":\"string\",\"maxLength\":30,\"description\":\"only this client's " \
	"transaction logs\"}," \
	"\"maximum_number_records\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"more matching " \
	"logs: the job ends in ERROR with ErrorTooManyRecords (0 = no limit)\"}," \
	"\"incremental\":{\"type\":\"boolean\",\"description\":\"the logs after the previous full or " \
	"incremental export\"}}}"
#define S_EXPORT \
	"{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"tss_id\":{\"type\":\"string\"}," \
	"\"state\":{\"type\":\"string\",\"enum\":[\"PENDING\",\"WORKING\",\"COMPLETED\",\"ERROR\"]}," \
	"\"created_at\":{\"type\":\"integer\"},\"started_at\":{\"type\":\"integer\"}," \
	"\"finished_at\":{\"type\":\"integer\"},\"progress\":{\"type\":\"object\",\"properties\":{" \
	"\"logs_written\":{\"type\":\"integer\"},\"logs_total\":{\"type\":\"integer\"}}}," \
	"\"logs\":{\"type\":\"integer\",\"description\":\"COMPLETED: logs in the TAR\"}," \
	"\"first_signature_counter\":{\"type\":\"integer\"},\"last_signature_counter\":{\"type\":\"integer\"}," \
	"\"bytes\":{\"type\":\"integer\",\"description\":\"COMPLETED: size of the TAR\"}," \
	"\"serial_number\":{\"type\":\"string\"},\"file\":{\"type\":\"string\",\"description\":" \
	"\"COMPLETED: the path of the TAR download\"},\"error\":{\"type\":\"object\",\"description\":" \
	"\"ERROR: what went wrong\",\"properties\":{\"code\":{\"type\":\"string\"}," \
	"\"message\":{\"type\":\"string\"}}}}}"
#define S_EXPORT_LIST \
	"{\"type\":\"object\",\"properties\":{\"count\":{\"type\":\"integer\"}," \
	"\"exports\":{\"type\":\"array\",\"items\":" S_EXPORT "}}}"
#define S_RESTORE \
	"{\"type\":\"object\",\"description\":\"the restored TSS (state DISABLED: a read-only archive) " \
	"as in GET /tss/{tssId}, with restored\",\"properties\":{\"id\":{\"type\":\"string\"}," \
	"\"state\":{\"type\":\"string\"},\"serial_number\":{\"type\":\"string\"}," \
	"\"signature_counter\":{\"type\":\"integer\"},\"restored\":{\"type\":\"object\",\"properties\":{" \
	"\"logs\":{\"type\":\"integer\"},\"first_signature_counter\":{\"type\":\"integer\"}," \
	"\"last_signature_counter\":{\"type\":\"integer\"}}}}}"

#define Q_REVISION \
	"[{\"name\":\"revision\",\"in\":\"query\",\"required\":true,\"schema\":{\"type\":\"integer\",\"minimum\":1}," \
	"\"description\":\"1 starts the transaction; every further request the next number\"}]"
#define Q_STATE \
	"[{\"name\":\"state\",\"in\":\"query\",\"required\":false,\"schema\":{\"type\":\"string\",\"enum\":[\"ACTIVE\"]," \
	"\"default\":\"ACTIVE\"}}]"

#define R(m, p, n, h, a, b, av, sum, se, q, rq, ok, rs, rt, err) \
	{ .method = m, .path = p, .name = n, .handler = h, .auth = a, .blocking = b, .available = av, \
	  .summary = sum, .se_function = se, .query = q, .request_schema = rq, .ok_status = ok, \
	  .response_schema = rs, .response_type = rt, .errors = err }
/* a route whose body is raw (type rt_in), spooled to a file, up to max bytes */
#define RX(m, p, n, h, a, b, av, sum, se, q, rq, ok, rs, rt, err, rt_in, max) \
	{ .method = m, .path = p, .name = n, .handler = h, .auth = a, .blocking = b, .available = av, \
	  .summary = sum, .se_function = se, .query = q, .request_schema = rq, .ok_status = ok, \
	  .response_schema = rs, .response_type = rt, .errors = err, .request_type = rt_in, \
	  .max_body = max }
#define T HTTP_AUTH_TENANT
#define N HTTP_AUTH_NONE

const struct http_route http_routes[] = {
	R("POST", V1 "/auth", "auth", ep_auth_post, N, 1, 1,
		"Trade API key and secret for a short-lived bearer token", NULL, NULL, S_AUTH_REQ, 200,
		S_AUTH_RESP, NULL, "400,401,413"),
	R("GET", V1 "/health", "health", ep_health_get, N, 0, 1, "Liveness", NULL, NULL, NULL, 200,
		S_OK, NULL, ""),
	R("GET", "/metrics", "metrics", ep_metrics_get, N, 0, 1, "Prometheus metrics", NULL, NULL,
		NULL, 200, NULL, "text/plain", ""),
	R("GET", V1 "/openapi.json", "openapi", ep_openapi_get, N, 0, 1, "This document", NULL,
		NULL, NULL, 200, S_OK, NULL, ""),
	R("GET", V1 "/tss", "tss_list", ep_tss_list_get, T, 1, 1, "The tenant's TSS", NULL, NULL,
		NULL, 200, S_TSS_LIST, NULL, "401"),
	R("PUT", TSS, "tss_put", ep_tss_put, T, 1, 1,
		"Create a TSS: key pair in the token, certificate chain, admin and timeAdmin PIN/PUK "
		"(generated and returned once when absent)", "(set-up) key generation, certificate",
		NULL, S_TSS_CREATE, 201, S_TSS, NULL, "400,401,409"),
	R("GET", TSS, "tss_get", ep_tss_get, T, 1, 1,
		"State, serial number, counters, limits, time of a TSS",
		"getMaxNumberOfClients, getCurrentNumberOfClients, getMaxNumberOfTransactions, "
		"getCurrentNumberOfTransactions, getSupportedTransactionUpdateVariants, getTimeSyncVariant, "
		"exportSerialNumbers", NULL, NULL, 200, S_TSS, NULL, "401,404"),
	R("PATCH", TSS, "tss_patch", ep_tss_patch, T, 1, 1,
		"Change the state: INITIALIZED (initialize, with description) or DISABLED "
		"(disableSecureElement); needs the admin login",
		"initialize, disableSecureElement", NULL, S_TSS_PATCH, 200, S_TSS, NULL,
		"400,401,403,404,409"),
	R("POST", TSS "/admin/auth", "tss_admin_auth", ep_tss_admin_auth_post, T, 1, 1,
		"Log in as admin or timeAdmin with the PIN", "authenticateUser", NULL, S_USER_PIN, 200,
		S_USER_RESP, NULL, "400,401,403,404"),
	R("POST", TSS "/admin/logout", "tss_admin_logout", ep_tss_admin_logout_post, T, 1, 1,
		"Log out", "logOut", NULL, S_USER, 200, S_USER_RESP, NULL, "400,401,403,404"),
	R("POST", TSS "/admin/unblock", "tss_admin_unblock", ep_tss_admin_unblock_post, T, 1, 1,
		"Unblock a PIN with the PUK and set a new PIN", "unblockUser", NULL, S_UNBLOCK, 200,
		S_USER_RESP, NULL, "400,401,403,404"),
	R("POST", TSS "/time", "tss_time", ep_tss_time_post, T, 1, 1,
		"Synchronise the TSS time with the configured time servers (never a time from the "
		"caller); needs admin or timeAdmin", "updateTime", NULL, NULL, 200, S_TIME_RESP, NULL,
		"401,403,404,409,503"),
	R("POST", TSS "/selftest", "tss_selftest", ep_tss_selftest_post, T, 1, 1,
		"Self test (key, counters, database); logged", "runSelfTest", NULL, NULL, 200, S_OK, NULL,
		"401,404,409,500"),
	R("PUT", TSS "/clients/{clientId}", "tss_client_put", ep_tss_client_put, T, 1, 1,
		"Register a client (cash register serial number); needs admin", "registerClient", NULL,
		NULL, 200, S_CLIENT, NULL, "400,401,403,404,409"),
	R("DELETE", TSS "/clients/{clientId}", "tss_client_delete", ep_tss_client_delete, T, 1, 1,
		"Deregister a client; needs admin", "deregisterClient", NULL, NULL, 200, S_CLIENT, NULL,
		"400,401,403,404,409"),
	R("PUT", TSS "/tx/{txId}", "tss_tx_put", ep_tss_tx_put, T, 1, 1,
		"Start (revision 1, ACTIVE), update (ACTIVE) or finish (FINISHED, CANCELLED) a "
		"transaction. The txId is chosen by the client; a retry with the same txId, revision "
		"and body returns the stored answer and never signs again",
		"startTransaction, updateTransaction, finishTransaction", Q_REVISION, S_TX_REQ, 200, S_TX,
		NULL, "400,401,404,409,413,429,503"),
	R("GET", TSS "/tx/{txId}", "tss_tx_get", ep_tss_tx_get, T, 1, 1,
		"The latest answer for a transaction", NULL, NULL, NULL, 200, S_TX, NULL, "401,404"),
	R("GET", TSS "/tx", "tss_tx_list", ep_tss_tx_list_get, T, 1, 1,
		"Open transactions (to close stale ones at day end)", "getOpenTransactions", Q_STATE, NULL,
		200, S_TX_LIST, NULL, "400,401,404"),
	R("GET", TSS "/certificates", "tss_certificates", ep_tss_certificates_get, T, 1, 1,
		"Certificate chain of the TSS key (PEM: leaf, intermediate, root)",
		"getLogMessageCertificate", NULL, NULL, 200, S_CERTS, NULL, "401,404"),
	R("GET", TSS "/logs/last", "tss_logs_last", ep_tss_logs_last_get, T, 1, 1,
		"The last log message (DER, base64)", "readLogMessage", NULL, NULL, 200, S_LOG, NULL,
		"401,404"),
	R("DELETE", TSS "/logs", "tss_logs_delete", ep_tss_logs_delete, T, 1, 1,
		"Delete the log messages an export has delivered (deleteStoredData); every other log "
		"stays, and the deletion is logged. Needs the admin login. 409 "
		"ErrorUnexportedStoredData when nothing was exported yet",
		"deleteStoredData", NULL, NULL, 200, S_DELETED, NULL, "401,403,404,409"),
	R("POST", TSS "/exports", "tss_exports_post", ep_tss_exports_post, T, 1, 1,
		"Start an export job: the TAR of TR-03151 v1.0.1 §5 with the optional filters, written "
		"to a file by a background thread. No admin login; works in every state, also after "
		"disable (TR-03153-1 §3.8). The job's logs are marked exported when it completes",
		"exportData, exportFilteredByTransactionNumber(Interval), exportFilteredByPeriodOfTime, "
		"exportMoreData (incremental)",
		NULL, S_EXPORT_REQ, 202, S_EXPORT, NULL, "400,401,404,503"),
	R("GET", TSS "/exports", "tss_exports_get", ep_tss_exports_get, T, 1, 1,
		"The export jobs of the TSS and the TARs the service keeps (also from before a restart)",
		NULL, NULL, NULL, 200, S_EXPORT_LIST, NULL, "401,404"),
	R("DELETE", TSS "/exports/{exportId}", "tss_export_delete", ep_tss_export_delete, T, 1, 1,
		"Delete a finished export job and its TAR (kept until then); 409 while it is queued or "
		"running. The logs stay in the TSS", NULL, NULL, NULL, 200, S_OK, NULL,
		"400,401,404,409"),
	R("GET", TSS "/exports/{exportId}", "tss_export_get", ep_tss_export_get, T, 1, 1,
		"State (PENDING, WORKING, COMPLETED, ERROR), progress, result or error of an export job",
		NULL, NULL, NULL, 200, S_EXPORT, NULL, "401,404"),
	R("GET", TSS "/exports/{exportId}/file", "tss_export_file", ep_tss_export_file_get, T, 1, 1,
		"The TAR of a COMPLETED export job, streamed (409 while PENDING/WORKING or after ERROR)",
		"exportData", NULL, NULL, 200, NULL, "application/x-tar", "401,404,409"),
	RX("POST", TSS "/restore", "tss_restore", ep_tss_restore_post, T, 1, 1,
		"restoreFromBackup: import an export TAR (the body, application/x-tar, at most 256 MiB) "
		"as the new TSS {tssId} after every check of siegel verify-export passed. The TSS must "
		"not exist (409); a TAR failing a check is 400 naming the member, and nothing is created. "
		"The restored TSS is read-only (DISABLED): readable and exportable, it never signs",
		"restoreFromBackup", NULL, NULL, 201, S_RESTORE, NULL, "400,401,409,413",
		"application/x-tar", HTTP_RESTORE_MAX_BODY),
};
const size_t http_n_routes = sizeof(http_routes) / sizeof(http_routes[0]);

_Static_assert(sizeof(http_routes) / sizeof(http_routes[0]) <= HTTP_MAX_ROUTES,
	"raise HTTP_MAX_ROUTES");

size_t http_route_count(void)
{
	return http_n_routes;
}

void http_route_describe(size_t i, const char **method, const char **path, const char **name)
{
	*method = i < http_n_routes ? http_routes[i].method : NULL;
	*path = i < http_n_routes ? http_routes[i].path : NULL;
	*name = i < http_n_routes ? http_routes[i].name : NULL;
}

/* Matches path against a pattern, capturing {name} segments. */
static int match_path(const char *pat, const char *path, char params[HTTP_MAX_PARAMS][HTTP_MAX_PARAM_LEN],
	const char *names[HTTP_MAX_PARAMS], size_t *n_out)
{
	size_t n = 0;
	while (*pat && *path) {
		if (*pat == '{') {
			const char *end = strchr(pat, '}');
			const char *seg_end = strchr(path, '/');
			size_t len = seg_end ? (size_t)(seg_end - path) : strlen(path);
			if (end == NULL || n >= HTTP_MAX_PARAMS || len == 0 || len >= HTTP_MAX_PARAM_LEN)
				return 0;
			memcpy(params[n], path, len);
			params[n][len] = 0;
			names[n] = pat + 1;  /* up to '}' — compared with http_param */
			n++;
			pat = end + 1;
			path += len;
			continue;
		}
		if (*pat != *path)
			return 0;
		pat++;
		path++;
	}
	/* a trailing slash is tolerated */
	if (*path == '/' && path[1] == 0)
		path++;
	*n_out = n;
	return *pat == 0 && *path == 0;
}

int http_route_match(const char *method, const char *path, char params[HTTP_MAX_PARAMS][HTTP_MAX_PARAM_LEN],
	const char *names[HTTP_MAX_PARAMS], char *allow, size_t allow_cap)
{
	int path_matched = 0;
	if (allow_cap)
		allow[0] = 0;
	for (size_t i = 0; i < http_n_routes; i++) {
		size_t n = 0;
		char p[HTTP_MAX_PARAMS][HTTP_MAX_PARAM_LEN];
		const char *nm[HTTP_MAX_PARAMS] = { NULL, NULL, NULL };
		if (!match_path(http_routes[i].path, path, p, nm, &n))
			continue;
		if (strcmp(http_routes[i].method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 && strcmp(http_routes[i].method, "GET") == 0)) {
			memcpy(params, p, sizeof(p));
			memcpy(names, nm, sizeof(nm));
			return (int)i;
		}
		path_matched = 1;
		size_t l = strlen(allow);
		snprintf(allow + l, allow_cap - l, "%s%s", l ? ", " : "", http_routes[i].method);
	}
	return path_matched ? -2 : -1;
}
