/* The JSON parse spec: each handler declares its fields once; the body is
 * parsed once, checked against the spec (unknown fields, types, required,
 * lengths, ranges), and a failure has already produced the 400 reply. */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

int http_json_parse(struct http_req *rq, const struct http_jfield *spec, size_t n)
{
	json_t *root = NULL;
	if (rq->body.len == 0) {
		root = json_object();
	} else {
		json_error_t je;
		root = json_loadb((const char *)rq->body.data, rq->body.len,
			JSON_REJECT_DUPLICATES, &je);
		if (root == NULL) {
			http_reply_code(rq, HE_JSON, "malformed JSON at line %d column %d: %s", je.line,
				je.column, je.text);
			return -1;
		}
	}
	if (!json_is_object(root)) {
		json_decref(root);
		http_reply_code(rq, HE_JSON, "the body must be a JSON object");
		return -1;
	}
	json_decref(rq->json);
	rq->json = root;
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		size_t i;
		for (i = 0; i < n; i++)
			if (strcmp(spec[i].name, key) == 0)
				break;
		if (i == n) {
			http_reply_code(rq, HE_UNKNOWN_FIELD, "unknown field '%.64s'", key);
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct http_jfield *f = &spec[i];
		v = json_object_get(root, f->name);
		if (f->present)
			*f->present = v != NULL && !json_is_null(v);
		if (v == NULL || json_is_null(v)) {
			if (f->required) {
				http_reply_code(rq, HE_MISSING_FIELD, "field '%s' is required", f->name);
				return -1;
			}
			continue;
		}
		switch (f->type) {
		case HJ_STR:
			if (!json_is_string(v)) {
				http_reply_code(rq, HE_TYPE, "field '%s' must be a string", f->name);
				return -1;
			}
			if (f->max > 0 && json_string_length(v) > (size_t)f->max) {
				http_reply_code(rq, HE_BAD_VALUE, "field '%s' is longer than %lld bytes",
					f->name, f->max);
				return -1;
			}
			if (strlen(json_string_value(v)) != json_string_length(v)) {
				http_reply_code(rq, HE_BAD_VALUE, "field '%s' contains a NUL character",
					f->name);
				return -1;
			}
			*(const char **)f->out = json_string_value(v);
			break;
		case HJ_INT:
			if (!json_is_integer(v)) {
				http_reply_code(rq, HE_TYPE, "field '%s' must be an integer", f->name);
				return -1;
			}
			if (json_integer_value(v) < f->min || json_integer_value(v) > f->max) {
				http_reply_code(rq, HE_BAD_VALUE, "field '%s' must be in [%lld, %lld]",
					f->name, f->min, f->max);
				return -1;
			}
			*(long long *)f->out = (long long)json_integer_value(v);
			break;
		case HJ_BOOL:
			if (!json_is_boolean(v)) {
				http_reply_code(rq, HE_TYPE, "field '%s' must be true or false", f->name);
				return -1;
			}
			*(int *)f->out = json_is_true(v);
			break;
		}
	}
	return 0;
}

int http_query_int(struct http_req *rq, const char *name, long long min, long long max,
	long long *out, int required)
{
	const char *s = http_query(rq, name);
	if (s == NULL) {
		if (!required)
			return 0;
		http_reply_code(rq, HE_MISSING_FIELD, "query parameter '%s' is required", name);
		return -1;
	}
	if (siegel_strtoll(out, s, min, max) != 0) {
		http_reply_code(rq, HE_BAD_VALUE, "query parameter '%s' must be an integer in [%lld, %lld]",
			name, min, max);
		return -1;
	}
	return 0;
}
