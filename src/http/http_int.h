/* http internals shared by the server, the router and the endpoints. */
#ifndef SIEGEL_HTTP_INT_H
#define SIEGEL_HTTP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "base/base.h"
#include "http/http.h"
#include "tenant/tenant.h"
#include "tse/tse.h"

#define HTTP_MAX_PARAMS 3
#define HTTP_MAX_PARAM_LEN 128
#define HTTP_MAX_ROUTES 40
#define HTTP_MAX_JSON_DEPTH 8

/* ---- stable HTTP-level error codes (the TR names come from siegel_err_name) ---- */
enum http_ecode {
	HE_JSON,            /* 400 body is not a JSON object */
	HE_UNKNOWN_FIELD,   /* 400 a field the endpoint does not know */
	HE_TYPE,            /* 400 a field has the wrong JSON type */
	HE_MISSING_FIELD,   /* 400 a required field is absent */
	HE_BAD_VALUE,       /* 400 a value out of range / malformed (path, query, body) */
	HE_UNAUTHORIZED,    /* 401 no or unknown bearer token */
	HE_TOKEN_EXPIRED,   /* 401 the bearer token has expired */
	HE_BAD_CREDENTIALS, /* 401 wrong API key or secret */
	HE_NOT_FOUND,       /* 404 unknown route or resource */
	HE_METHOD,          /* 405 */
	HE_REVISION,        /* 409 revision is not the next one */
	HE_IDEMPOTENCY,     /* 409 same txId+revision with another body */
	HE_BODY_TOO_LARGE,  /* 413 */
	HE_INTERNAL,        /* 500 */
	HE_NOTSUP,          /* 501 not yet available */
	HE_SHUTTING_DOWN,   /* 503 */
	HE_COUNT
};
struct http_ecode_info {
	const char *name;
	unsigned status;
	const char *text;
};
const struct http_ecode_info *http_ecode_get(enum http_ecode c);
/* HTTP status of a siegel error. */
unsigned http_status_of(int err);

/* ---- metrics ---- */
#define HTTP_N_STATUS 16
#define HTTP_N_LAT 12
struct http_metrics {
	atomic_uint_fast64_t req[HTTP_MAX_ROUTES + 1][HTTP_N_STATUS];
	atomic_uint_fast64_t signatures, replays;
	atomic_uint_fast64_t lat[HTTP_N_LAT + 1];    /* signing call latency histogram */
	atomic_uint_fast64_t lat_sum_us, lat_count;
};
void http_metrics_request(struct http_metrics *m, int route_idx, unsigned status);
void http_metrics_sign(struct http_metrics *m, int64_t ns, int replay);
/* Prometheus text exposition; caller frees. */
char *http_metrics_render(struct http_metrics *m, size_t *len_out);

/* ---- server and request ---- */
struct http_req;
struct http_server {
	struct MHD_Daemon *mhd;
	struct tse *tse;
	struct tenant_db *tenants;
	struct http_config cfg;
	char *cert_pem, *key_pem;
	int port;
	char *openapi;                 /* the generated document, served as is */
	struct http_exports *exports;  /* export jobs (http_export.c) */
	size_t openapi_len;
	struct http_metrics metrics;
	pthread_mutex_t q_lock;
	pthread_cond_t q_cond, idle_cond;
	struct http_req *q_head, *q_tail;
	unsigned busy;                 /* workers running a request */
	int stopping;
	pthread_t *workers;
	size_t n_workers;
	atomic_int in_flight;          /* requests between first call and completion */
	atomic_int draining;
};

enum http_auth { HTTP_AUTH_NONE, HTTP_AUTH_TENANT };

struct http_route {
	const char *method;
	const char *path;              /* "/api/v1/tss/{tssId}/tx/{txId}" */
	const char *name;              /* metrics/log label, OpenAPI operationId */
	void (*handler)(struct http_req *rq);
	enum http_auth auth;
	int blocking;                  /* runs on a worker (touches the store) */
	int available;                 /* 0: documented, answers 501 E_NOTSUP */
	/* OpenAPI snippets (JSON text) */
	const char *summary;
	const char *se_function;       /* TR-03151 function(s), for the docs table */
	const char *query;             /* JSON array of parameter objects, or NULL */
	const char *request_schema;    /* JSON schema of the body, or NULL */
	unsigned ok_status;
	const char *response_schema;   /* JSON schema of the success body, or NULL */
	const char *response_type;     /* default application/json */
	const char *errors;            /* e.g. "400,401,404,409" */
	/* a raw body of this type (not JSON), streamed to a temp file in the
	 * data directory (http_req.body_path) with its own limit */
	const char *request_type;
	size_t max_body;
};
extern const struct http_route http_routes[];
extern const size_t http_n_routes;

/* Matches method+path. Returns the route index, or -1 (no path matched) or
 * -2 (path matched, method did not: allow gets the allowed methods). */
int http_route_match(const char *method, const char *path, char params[HTTP_MAX_PARAMS][HTTP_MAX_PARAM_LEN],
	const char *names[HTTP_MAX_PARAMS], char *allow, size_t allow_cap);

enum http_req_state { RQ_READING, RQ_QUEUED, RQ_READY };

struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	char method[16];
	char *path;
	int route_idx;                 /* -1 none */
	const struct http_route *route;
	char params[HTTP_MAX_PARAMS][HTTP_MAX_PARAM_LEN];
	const char *param_names[HTTP_MAX_PARAMS];
	struct siegel_buf body;
	int too_large;
	char *body_path;               /* request_type routes: the body as a temp file */
	int body_fd;                   /* -1 when closed */
	int body_io_err;               /* errno of a failed write to body_path */
	size_t body_file_len;
	size_t max_body;               /* of this route */
	json_t *json;                  /* parsed body (http_json_parse) */
	char tenant[TENANT_MAX_ID + 1];
	char tss[TSE_MAX_ID + 1];      /* internal id "<tenant>.<tssId>" */
	int authenticated;             /* the bearer token was checked */
	int64_t t0_ns;
	enum http_req_state state;
	/* the reply */
	unsigned status;
	char *reply;
	size_t reply_len;
	const char *content_type;
	int reply_fd;                  /* >= 0: the answer is this file (reply_fd_len bytes) */
	uint64_t reply_fd_len;
	char location[256];            /* Location header, "" = none */
	char disposition[128];         /* Content-Disposition header, "" = none */
	char allow[64];
	int www_auth;
	struct http_req *next;
};

/* Path parameter by name ("tssId"); NULL if the route has none. */
const char *http_param(const struct http_req *rq, const char *name);
/* Query argument; NULL if absent. */
const char *http_query(const struct http_req *rq, const char *name);
/* Resolves {tssId} to rq->tss for the authenticated tenant. On failure the
 * error reply is set and -1 returned. */
int http_tss(struct http_req *rq);

/* ---- replies (each sets status + body; the last one wins) ---- */
void http_reply_json(struct http_req *rq, unsigned status, json_t *obj); /* steals obj */
void http_reply_raw(struct http_req *rq, unsigned status, const char *ctype, char *body, size_t len); /* steals body */
/* The answer is the open file fd (len bytes, streamed; fd is owned by rq from here). */
void http_reply_fd(struct http_req *rq, unsigned status, const char *ctype, int fd, uint64_t len);
void http_reply_err(struct http_req *rq, int err, const struct siegel_diag *d);
void http_reply_code(struct http_req *rq, enum http_ecode c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- JSON parse spec ---- */
enum http_jtype { HJ_STR, HJ_INT, HJ_BOOL };
struct http_jfield {
	const char *name;
	enum http_jtype type;
	int required;
	void *out;                     /* const char ** | long long * | int * */
	long long min, max;            /* int range; string: max length (bytes) */
	int *present;                  /* optional */
};
#define HJ_STRING(n, req, p, maxlen) { (n), HJ_STR, (req), (p), 0, (maxlen), NULL }
#define HJ_INTEGER(n, req, p, lo, hi, pres) { (n), HJ_INT, (req), (p), (lo), (hi), (pres) }
/* Parses rq->body as a JSON object against spec (an empty body is {}).
 * Returns 0, or -1 after setting the 400 reply (malformed JSON, unknown
 * field, wrong type, missing field, too long). Strings borrow from rq->json. */
int http_json_parse(struct http_req *rq, const struct http_jfield *spec, size_t n) SIEGEL_WUR;
/* Strict integer from a query string; -1 + 400 reply on error. */
int http_query_int(struct http_req *rq, const char *name, long long min, long long max,
	long long *out, int required) SIEGEL_WUR;

/* ---- endpoints (ep_*.c) ---- */
void ep_auth_post(struct http_req *rq);
void ep_health_get(struct http_req *rq);
void ep_metrics_get(struct http_req *rq);
void ep_openapi_get(struct http_req *rq);
void ep_tss_list_get(struct http_req *rq);
void ep_tss_put(struct http_req *rq);
void ep_tss_get(struct http_req *rq);
void ep_tss_patch(struct http_req *rq);
void ep_tss_admin_auth_post(struct http_req *rq);
void ep_tss_admin_logout_post(struct http_req *rq);
void ep_tss_admin_unblock_post(struct http_req *rq);
void ep_tss_time_post(struct http_req *rq);
void ep_tss_selftest_post(struct http_req *rq);
void ep_tss_client_put(struct http_req *rq);
void ep_tss_client_delete(struct http_req *rq);
void ep_tss_tx_put(struct http_req *rq);
void ep_tss_tx_get(struct http_req *rq);
void ep_tss_tx_list_get(struct http_req *rq);
void ep_tss_certificates_get(struct http_req *rq);
void ep_tss_logs_last_get(struct http_req *rq);
void ep_tss_logs_delete(struct http_req *rq);
void ep_tss_exports_get(struct http_req *rq);
void ep_tss_export_delete(struct http_req *rq);
void ep_tss_exports_post(struct http_req *rq);
void ep_tss_export_get(struct http_req *rq);
void ep_tss_export_file_get(struct http_req *rq);
void ep_tss_restore_post(struct http_req *rq);

/* ---- export jobs (http_export.c) ----
 * POST …/exports queues a job; HTTP_EXPORT_THREADS threads of their own run
 * them (never a request worker: an export of a large TSS takes minutes) and
 * write DATA/exports/<internal tss id>/<job id>.tar through a temp file. The
 * table is in memory (HTTP_EXPORT_MAX_JOBS, the oldest finished job is
 * dropped first); a finished TAR on disk is found again after a restart. */
#define HTTP_EXPORT_THREADS 2
#define HTTP_EXPORT_MAX_JOBS 256
#define HTTP_EXPORT_MAX_LIST 10000 /* TARs of one TSS a list answers with */
#define HTTP_EXPORT_ID_LEN 32          /* hex chars of a job id */
#define HTTP_RESTORE_MAX_BODY (256u << 20)
#define HTTP_EXPORTS_DIR "exports"

struct http_exports;
struct export_filter;
int http_exports_start(struct http_server *s, struct siegel_diag *d) SIEGEL_WUR;
/* Stops the export threads: a running export is cancelled (its temp file
 * removed, nothing marked exported), queued ones end in ERROR. */
void http_exports_stop(struct http_server *s);
/* Queues an export of tss (internal id); *out is the job as JSON (202). */
int http_export_submit(struct http_server *s, const char *tss, const struct export_filter *f,
	json_t **out, struct siegel_diag *d) SIEGEL_WUR;
/* The job id of tss as JSON; SIEGEL_E_NOTFOUND for an unknown id or one of
 * another TSS. */
int http_export_status(struct http_server *s, const char *tss, const char *id, json_t **out,
	struct siegel_diag *d) SIEGEL_WUR;
/* The export jobs and TARs of tss: {"count", "exports": [job, ...]}. */
int http_export_list(struct http_server *s, const char *tss, json_t **out,
	struct siegel_diag *d) SIEGEL_WUR;
/* Deletes a finished job and its TAR; SIEGEL_E_STATE while it is queued or
 * running, SIEGEL_E_NOTFOUND for an unknown id or one of another TSS. */
int http_export_delete(struct http_server *s, const char *tss, const char *id,
	struct siegel_diag *d) SIEGEL_WUR;
/* Opens the TAR of a COMPLETED job: *fd, *len. SIEGEL_E_NOTFOUND, or
 * SIEGEL_E_STATE (not completed: *state_out names the state). */
int http_export_open(struct http_server *s, const char *tss, const char *id, int *fd,
	uint64_t *len, const char **state_out, struct siegel_diag *d) SIEGEL_WUR;
/* DATA/exports/.incoming: where request bodies of raw routes are spooled. */
int http_spool_dir(const struct http_server *s, char *out, size_t cap, struct siegel_diag *d) SIEGEL_WUR;

/* The TSS as JSON (GET/PUT/PATCH tss), tss_id the tenant's own id. */
json_t *http_tss_json(struct tse *t, const char *internal_id, const char *tss_id,
	struct siegel_diag *d, int *err_out);

#endif
