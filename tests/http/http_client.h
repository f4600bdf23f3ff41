/* A small libcurl client for the HTTPS tests and the benchmark: one easy
 * handle per thread (keep-alive), JSON bodies, the server's self-signed
 * certificate as the only trust anchor. Header-only, test code. */
#ifndef SIEGEL_TEST_HTTP_CLIENT_H
#define SIEGEL_TEST_HTTP_CLIENT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

struct hc {
	CURL *curl;
	char base[128];
	char cafile[1024];
	char token[128];
	struct curl_slist *hdrs;
	/* last answer */
	long status;
	char *body;
	size_t len;
	json_t *json;
	CURLcode cc;
	int no_json;                   /* 1: do not parse answers (benchmark) */
};

static size_t hc_write(char *p, size_t sz, size_t n, void *ud)
{
	struct hc *c = ud;
	size_t add = sz * n;
	char *nb = realloc(c->body, c->len + add + 1);
	if (nb == NULL)
		return 0;
	memcpy(nb + c->len, p, add);
	c->len += add;
	nb[c->len] = 0;
	c->body = nb;
	return add;
}

static inline void hc_init(struct hc *c, int port, const char *cafile)
{
	memset(c, 0, sizeof(*c));
	c->curl = curl_easy_init();
	snprintf(c->base, sizeof(c->base), "https://127.0.0.1:%d", port);
	snprintf(c->cafile, sizeof(c->cafile), "%s", cafile);
}

static inline void hc_reset_answer(struct hc *c)
{
	free(c->body);
	c->body = NULL;
	c->len = 0;
	json_decref(c->json);
	c->json = NULL;
	c->status = 0;
}

static inline void hc_free(struct hc *c)
{
	hc_reset_answer(c);
	curl_slist_free_all(c->hdrs);
	curl_easy_cleanup(c->curl);
}

/* Sends method path with body (may be NULL, len = -1 for strlen); returns
 * the status (0 on a transport error, c->cc says which). */
static inline long hc_req_len(struct hc *c, const char *method, const char *path, const char *body,
	long len)
{
	hc_reset_answer(c);
	char url[1024];
	snprintf(url, sizeof(url), "%s%s", c->base, path);
	CURL *h = c->curl;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_CAINFO, c->cafile);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hc_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_slist_free_all(c->hdrs);
	c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	c->hdrs = curl_slist_append(c->hdrs, "Expect:");
	if (c->token[0]) {
		char a[200];
		snprintf(a, sizeof(a), "Authorization: Bearer %s", c->token);
		c->hdrs = curl_slist_append(c->hdrs, a);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->hdrs);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, len < 0 ? (long)strlen(body) : len);
	} else {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
		if (strcmp(method, "GET") == 0)
			curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	c->cc = curl_easy_perform(h);
	if (c->cc != CURLE_OK)
		return 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	if (c->body != NULL && !c->no_json)
		c->json = json_loads(c->body, 0, NULL);
	return c->status;
}

static inline long hc_req(struct hc *c, const char *method, const char *path, const char *body)
{
	return hc_req_len(c, method, path, body, -1);
}

/* The "code" of an error answer ("" if none). */
static inline const char *hc_code(const struct hc *c)
{
	const char *s = json_string_value(json_object_get(c->json, "code"));
	return s ? s : "";
}

static inline const char *hc_str(const struct hc *c, const char *key)
{
	const char *s = json_string_value(json_object_get(c->json, key));
	return s ? s : "";
}

/* POST /api/v1/auth; keeps the token in c. Returns the status. */
static inline long hc_login(struct hc *c, const char *key, const char *secret)
{
	char body[512];
	snprintf(body, sizeof(body), "{\"api_key\":\"%s\",\"api_secret\":\"%s\"}", key, secret);
	c->token[0] = 0;
	long st = hc_req(c, "POST", "/api/v1/auth", body);
	if (st == 200)
		snprintf(c->token, sizeof(c->token), "%s", hc_str(c, "access_token"));
	return st;
}

#endif
