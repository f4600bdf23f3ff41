/* The OpenAPI 3.0 document, generated from the route table so that it can
 * never miss a route. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

static json_t *snippet(const char *text)
{
	if (text == NULL)
		return NULL;
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (j == NULL)
		fprintf(stderr, "siegel: bad OpenAPI snippet in the route table: %s\n", je.text);
	return j;
}

static json_t *error_response(const char *desc)
{
	return json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", desc, "content", "application/json",
		"schema", "$ref", "#/components/schemas/Error");
}

static const char *status_text(unsigned s)
{
	switch (s) {
	case 400: return "malformed JSON, unknown field, wrong type or bad value";
	case 401: return "no, unknown or expired bearer token (or wrong API credentials)";
	case 403: return "TSS user not authenticated / wrong PIN (ErrorAuthenticationFailed ...)";
	case 404: return "no such TSS (of this tenant), transaction, export job or route";
	case 409: return "state conflict (e.g. export not COMPLETED, TSS exists) or revision mismatch";
	case 413: return "body too large";
	case 429: return "too many open transactions";
	case 500: return "internal error";
	case 501: return "not yet available (E_NOTSUP)";
	case 503: return "time not synchronised, time servers unreachable, too many export jobs, or shutting down";
	default: return "error";
	}
}

void *http_openapi_build(void)
{
	json_t *doc = json_pack("{s:s,s:{s:s,s:s,s:s},s:[{s:s}],s:{}}",
		"openapi", "3.0.3",
		"info", "title", "siegel TSE service", "version", "1.0.0", "description",
		"A cash-register TSE (BSI TR-03151 v1.0.1) over HTTPS. Errors are "
		"{\"code\",\"message\"}; codes are the TR-03151 error names or the E_* codes "
		"of docs/api.md.",
		"servers", "url", "https://127.0.0.1:8443",
		"paths");
	json_t *components = json_pack("{s:{s:{s:s,s:[s,s],s:{s:{s:s},s:{s:s}}}},s:{s:{s:s,s:s}}}",
		"schemas", "Error", "type", "object", "required", "code", "message", "properties", "code",
		"type", "string", "message", "type", "string",
		"securitySchemes", "bearer", "type", "http", "scheme", "bearer");
	if (doc == NULL || components == NULL) {
		json_decref(doc);
		json_decref(components);
		return NULL;
	}
	json_object_set_new(doc, "components", components);
	json_t *paths = json_object_get(doc, "paths");
	for (size_t i = 0; i < http_n_routes; i++) {
		const struct http_route *r = &http_routes[i];
		json_t *item = json_object_get(paths, r->path);
		if (item == NULL) {
			item = json_object();
			json_object_set_new(paths, r->path, item);
		}
		json_t *op = json_pack("{s:s,s:s}", "operationId", r->name, "summary", r->summary);
		if (r->se_function)
			json_object_set_new(op, "x-se-api", json_string(r->se_function));
		if (!r->available)
			json_object_set_new(op, "x-not-yet-available", json_true());
		json_t *params = json_array();
		for (const char *p = strchr(r->path, '{'); p; p = strchr(p + 1, '{')) {
			const char *e = strchr(p, '}');
			json_array_append_new(params, json_pack("{s:s%,s:s,s:b,s:{s:s}}", "name", p + 1,
				(size_t)(e - p - 1), "in", "path", "required", 1, "schema", "type", "string"));
		}
		json_t *q = snippet(r->query);
		if (q != NULL)
			json_array_extend(params, q);
		json_decref(q);
		if (json_array_size(params))
			json_object_set_new(op, "parameters", params);
		else
			json_decref(params);
		json_t *rb = snippet(r->request_schema);
		if (rb != NULL)
			json_object_set_new(op, "requestBody", json_pack("{s:b,s:{s:{s:o}}}", "required", 1,
				"content", "application/json", "schema", rb));
		else if (r->request_type != NULL)
			json_object_set_new(op, "requestBody", json_pack("{s:b,s:s,s:{s:{s:{s:s,s:s,s:I}}}}",
				"required", 1, "description", "the raw body, streamed to a temporary file",
				"content", r->request_type, "schema", "type", "string", "format", "binary",
				"maxLength", (json_int_t)r->max_body));
		json_t *responses = json_object();
		char code[16];
		snprintf(code, sizeof(code), "%u", r->ok_status ? r->ok_status : 200);
		json_t *ok = json_pack("{s:s}", "description", "success");
		json_t *rs = snippet(r->response_schema);
		const char *ctype = r->response_type ? r->response_type : "application/json";
		if (rs == NULL)
			rs = json_pack("{s:s}", "type", "string");
		json_object_set_new(ok, "content", json_pack("{s:{s:o}}", ctype, "schema", rs));
		json_object_set_new(responses, code, ok);
		for (const char *e = r->errors; e && *e;) {
			unsigned s = (unsigned)strtoul(e, NULL, 10);
			snprintf(code, sizeof(code), "%u", s);
			json_object_set_new(responses, code, error_response(status_text(s)));
			e = strchr(e, ',');
			if (e)
				e++;
		}
		json_object_set_new(op, "responses", responses);
		if (r->auth == HTTP_AUTH_TENANT)
			json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearer"));
		char lower[16];
		size_t k;
		for (k = 0; r->method[k] && k + 1 < sizeof(lower); k++)
			lower[k] = (char)tolower((unsigned char)r->method[k]);
		lower[k] = 0;
		json_object_set_new(item, lower, op);
	}
	return doc;
}
