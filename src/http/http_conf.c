/* The configuration of `siegel serve`: one schema table (key, type, range,
 * default, meaning) is the only place a key is defined. File format:
 * "key = value" per line, '#' starts a comment, blank lines ignored. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "tenant/tenant.h"

#define CONF_MAX_FILE (64u << 10)

enum conf_type { C_STR, C_INT };

struct conf_key {
	const char *key;
	enum conf_type type;
	size_t off;
	long long min, max;
	const char *def;
	const char *help;
};

#define S(k, f, d, h) { k, C_STR, offsetof(struct http_settings, f), 0, HTTP_CONF_STR - 1, d, h }
#define I(k, f, lo, hi, d, h) { k, C_INT, offsetof(struct http_settings, f), lo, hi, d, h }
#define STR_(x) #x
#define STR(x) STR_(x)

static const struct conf_key schema[] = {
	S("listen", listen, HTTP_DEFAULT_LISTEN, "address to listen on (IPv4 or IPv6)"),
	I("port", port, 0, 65535, STR(HTTP_DEFAULT_PORT), "TCP port of the HTTPS service (0 = any free port)"),
	S("data_dir", data_dir, "data", "data directory: siegel.db, token store, CA, HTTPS certificate"),
	S("tls_cert", tls_cert, "", "PEM certificate (chain); empty = self-signed localhost certificate"),
	S("tls_key", tls_key, "", "PEM private key of tls_cert"),
	S("ntp_servers", ntp_servers, "ptbtime1.ptb.de,ptbtime2.ptb.de,ptbtime3.ptb.de",
		"time servers for updateTime, comma-separated HOST[:PORT]"),
	I("ntp_timeout_ms", ntp_timeout_ms, 0, 60000, "0", "time server timeout (0 = library default)"),
	I("max_host_skew", max_host_skew, -1, 100LL * 365 * 86400, "0",
		"refuse time server answers further than this (s) from the host clock (0 = 3600, -1 = off)"),
	S("key_backend", key_backend, "pkcs11", "pkcs11 (SoftHSM2 token in data_dir) or soft (tests only)"),
	I("kdf_log2n", kdf_log2n, 0, 20, "0", "scrypt cost of PIN/PUK/secret hashes (0 = 14)"),
	I("threads", threads, 1, 256, STR(HTTP_DEFAULT_THREADS), "connection polling threads"),
	I("workers", workers, 1, HTTP_MAX_WORKERS, STR(HTTP_DEFAULT_WORKERS),
		"request handler threads (parallel store calls)"),
	I("request_nice", request_nice, 0, 19, STR(HTTP_DEFAULT_NICE),
		"nice value of the polling and handler threads; the store's commit thread (signing and "
		"durable commits) keeps the process's, so work in flight goes before new requests"),
	I("max_connections", max_connections, 1, 100000, STR(HTTP_DEFAULT_MAX_CONNECTIONS),
		"open connections in total"),
	I("max_connections_per_ip", max_connections_per_ip, 1, 100000, STR(HTTP_DEFAULT_MAX_PER_IP),
		"open connections per client address"),
	I("connection_timeout", connection_timeout, 1, 3600, STR(HTTP_DEFAULT_TIMEOUT),
		"seconds of inactivity before a connection is closed (slow clients)"),
	I("max_body", max_body, 1024, HTTP_MAX_BODY_LIMIT, "2097152",
		"largest request body in bytes (larger: 413)"),
	I("max_header", max_header, 4096, 1 << 20, "32768",
		"memory per connection for the request line and headers"),
	I("shutdown_grace", shutdown_grace, 0, 600, STR(HTTP_DEFAULT_SHUTDOWN_GRACE),
		"seconds in-flight requests get on SIGTERM"),
	I("token_ttl", token_ttl, 10, TENANT_MAX_TOKEN_TTL, STR(TENANT_DEFAULT_TOKEN_TTL),
		"lifetime of a bearer token in seconds"),
	S("request_log", request_log, "-", "request log: - = stderr, empty = off, else a file (appended)"),
};

void http_settings_defaults(struct http_settings *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < sizeof(schema) / sizeof(schema[0]); i++)
		if (http_settings_set(s, schema[i].key, schema[i].def, NULL) != 0)
			abort(); /* a default outside its own range: a bug in the table */
}

int http_settings_set(struct http_settings *s, const char *key, const char *value,
	struct siegel_diag *d)
{
	for (size_t i = 0; i < sizeof(schema) / sizeof(schema[0]); i++) {
		const struct conf_key *k = &schema[i];
		if (strcmp(k->key, key) != 0)
			continue;
		char *p = (char *)s + k->off;
		if (k->type == C_STR) {
			if (strlen(value) > (size_t)k->max)
				return siegel_fail(d, SIEGEL_E_PARAM, "config %s: longer than %lld bytes", key,
					k->max);
			snprintf(p, HTTP_CONF_STR, "%s", value);
			return 0;
		}
		long long v;
		if (siegel_strtoll(&v, value, k->min, k->max) != 0)
			return siegel_fail(d, SIEGEL_E_PARAM, "config %s: want an integer in [%lld, %lld], got '%s'",
				key, k->min, k->max, value);
		*(long long *)(void *)p = v;
		return 0;
	}
	return siegel_fail(d, SIEGEL_E_PARAM, "config: unknown key '%s' (see siegel serve --print-config)",
		key);
}

int http_settings_load(struct http_settings *s, const char *path, struct siegel_diag *d)
{
	uint8_t *text = NULL;
	size_t len = 0;
	int rc = siegel_read_file(&text, &len, path, CONF_MAX_FILE, d);
	if (rc)
		return rc;
	int line = 0;
	/* siegel_read_file NUL-terminates; lines are split in place */
	char *cursor = (char *)text, *t, *key, *value;
	while ((t = siegel_conf_line(&cursor, &line)) != NULL) {
		if (*t == 0)
			continue;
		if (siegel_conf_kv(t, &key, &value) != 0) {
			rc = siegel_fail(d, SIEGEL_E_PARSE, "%s:%d: want 'key = value'", path, line);
			break;
		}
		struct siegel_diag kd = { { 0 } };
		rc = http_settings_set(s, key, value, &kd);
		if (rc) {
			rc = siegel_fail(d, rc, "%s:%d: %s", path, line, kd.msg);
			break;
		}
	}
	free(text);
	return rc;
}

void http_settings_print_schema(FILE *f)
{
	for (size_t i = 0; i < sizeof(schema) / sizeof(schema[0]); i++)
		fprintf(f, "# %s\n%s = %s\n", schema[i].help, schema[i].key, schema[i].def);
}

_Static_assert(HTTP_DEFAULT_MAX_BODY == 2097152 && HTTP_DEFAULT_MAX_HEADER == 32768,
	"update the max_body / max_header defaults in the schema table");
