/* Replies and the error registry: every error body is {"code","message"};
 * code is a TR-03151 error name (siegel_err_name) or one of the HTTP-level
 * codes below. Both lists are documented in docs/api.md and never renamed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http_int.h"

static const struct http_ecode_info ecodes[HE_COUNT] = {
	[HE_JSON] = { "E_JSON", 400, "the body is not a JSON object" },
	[HE_UNKNOWN_FIELD] = { "E_UNKNOWN_FIELD", 400, "unknown field" },
	[HE_TYPE] = { "E_TYPE", 400, "a field has the wrong type" },
	[HE_MISSING_FIELD] = { "E_MISSING_FIELD", 400, "a required field is missing" },
	[HE_BAD_VALUE] = { "E_BAD_VALUE", 400, "a value is malformed or out of range" },
	[HE_UNAUTHORIZED] = { "E_UNAUTHORIZED", 401, "a valid bearer token is required" },
	[HE_TOKEN_EXPIRED] = { "E_TOKEN_EXPIRED", 401, "the bearer token has expired" },
	[HE_BAD_CREDENTIALS] = { "E_BAD_CREDENTIALS", 401, "wrong API key or secret" },
	[HE_NOT_FOUND] = { "E_NOT_FOUND", 404, "not found" },
	[HE_METHOD] = { "E_METHOD", 405, "method not allowed" },
	[HE_REVISION] = { "E_REVISION", 409, "the revision is not the next one of this transaction" },
	[HE_IDEMPOTENCY] = { "E_IDEMPOTENCY", 409,
		"this txId and revision were used with another request body" },
	[HE_BODY_TOO_LARGE] = { "E_BODY_TOO_LARGE", 413, "the request body is too large" },
	[HE_INTERNAL] = { "E_INTERNAL", 500, "internal error" },
	[HE_NOTSUP] = { "E_NOTSUP", 501, "not yet available" },
	[HE_SHUTTING_DOWN] = { "E_SHUTTING_DOWN", 503, "the service is shutting down" },
};

const struct http_ecode_info *http_ecode_get(enum http_ecode c)
{
	return (unsigned)c < HE_COUNT ? &ecodes[c] : &ecodes[HE_INTERNAL];
}

/* siegel_err -> HTTP status. */
static const struct {
	int err;
	unsigned status;
} err_status[] = {
	{ SIEGEL_E_INVAL, 400 }, { SIEGEL_E_PARSE, 400 }, { SIEGEL_E_NOTFOUND, 404 },
	{ SIEGEL_E_LIMIT, 413 }, { SIEGEL_E_VERIFY, 400 }, { SIEGEL_E_NOTSUP, 501 },
	{ SIEGEL_E_EXISTS, 409 }, { SIEGEL_E_STATE, 409 }, { SIEGEL_E_TIMESYNC, 503 },
	{ SIEGEL_E_BUSY, 503 },
	{ SIEGEL_E_SE_NOT_INITIALIZED, 409 }, { SIEGEL_E_TIME_NOT_SET, 503 },
	{ SIEGEL_E_NO_TRANSACTION, 409 }, { SIEGEL_E_SE_DISABLED, 409 },
	{ SIEGEL_E_UNAUTHENTICATED, 403 }, { SIEGEL_E_UNAUTHORIZED, 403 },
	{ SIEGEL_E_AUTH_FAILED, 403 }, { SIEGEL_E_PIN_BLOCKED, 403 },
	{ SIEGEL_E_UNKNOWN_USER, 400 }, { SIEGEL_E_UNBLOCK_FAILED, 403 },
	{ SIEGEL_E_CLIENT_NOT_REGISTERED, 409 }, { SIEGEL_E_CLIENT_LIMIT, 409 },
	{ SIEGEL_E_TX_LIMIT, 429 }, { SIEGEL_E_INVALID_TIME, 503 },
	{ SIEGEL_E_ALREADY_INITIALIZED, 409 }, { SIEGEL_E_PARAM, 400 },
	{ SIEGEL_E_TOO_MANY_RECORDS, 413 }, { SIEGEL_E_UNEXPORTED, 409 },
	{ SIEGEL_E_NO_DATA, 404 }, { SIEGEL_E_CLIENT_ID, 400 }, { SIEGEL_E_CERT_EXPIRED, 409 },
};

unsigned http_status_of(int err)
{
	for (size_t i = 0; i < sizeof(err_status) / sizeof(err_status[0]); i++)
		if (err_status[i].err == err)
			return err_status[i].status;
	return 500;
}

static void drop_fd(struct http_req *rq)
{
	if (rq->reply_fd >= 0)
		close(rq->reply_fd);
	rq->reply_fd = -1;
	rq->reply_fd_len = 0;
}

void http_reply_fd(struct http_req *rq, unsigned status, const char *ctype, int fd, uint64_t len)
{
	/* an empty buffer marks the reply as given; send_reply streams the fd */
	char *none = strdup("");
	http_reply_raw(rq, status, ctype, none, 0);
	if (none == NULL) {
		close(fd);
		http_reply_code(rq, HE_INTERNAL, "out of memory");
		return;
	}
	rq->reply_fd = fd;
	rq->reply_fd_len = len;
}

void http_reply_raw(struct http_req *rq, unsigned status, const char *ctype, char *body, size_t len)
{
	drop_fd(rq);
	free(rq->reply);
	rq->status = status;
	rq->content_type = ctype;
	rq->reply = body;
	rq->reply_len = len;
}

void http_reply_json(struct http_req *rq, unsigned status, json_t *obj)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (s == NULL) {
		static const char oom[] = "{\"code\":\"E_INTERNAL\",\"message\":\"out of memory\"}";
		char *c = strdup(oom);
		http_reply_raw(rq, 500, "application/json", c, c ? strlen(c) : 0);
		return;
	}
	http_reply_raw(rq, status, "application/json", s, strlen(s));
}

static void reply_error(struct http_req *rq, unsigned status, const char *code, const char *msg)
{
	json_t *o = json_pack("{s:s,s:s}", "code", code, "message", msg);
	http_reply_json(rq, status, o);
	rq->www_auth = status == 401;
}

void http_reply_err(struct http_req *rq, int err, const struct siegel_diag *d)
{
	unsigned status = http_status_of(err);
	const char *msg = d && d->msg[0] ? d->msg : siegel_strerror(err);
	if (status >= 500 && status != 501 && status != 503) {
		/* Details of internal failures go to the log, not to the client. */
		fprintf(stderr, "siegel serve: %s %s: %s: %s\n", rq->method, rq->path,
			siegel_err_name(err), msg);
		msg = siegel_strerror(err);
	}
	/* one code for "not found", whichever layer found nothing */
	const char *code = err == SIEGEL_E_NOTFOUND ? http_ecode_get(HE_NOT_FOUND)->name
						  : siegel_err_name(err);
	reply_error(rq, status, code, msg);
}

void http_reply_code(struct http_req *rq, enum http_ecode c, const char *fmt, ...)
{
	const struct http_ecode_info *e = http_ecode_get(c);
	char msg[512];
	if (fmt == NULL) {
		snprintf(msg, sizeof(msg), "%s", e->text);
	} else {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	reply_error(rq, e->status, e->name, msg);
}
