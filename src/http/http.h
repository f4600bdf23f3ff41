/* http: the TSE as an HTTPS REST service (libmicrohttpd with GnuTLS).
 *
 * Map of the API: the route table in http_router.c; one ep_<route>.c per
 * resource; errors as {"code","message"} from http_reply.c; request bodies
 * through a parse spec (http_json.c). The OpenAPI document is generated from
 * the route table (http_openapi.c).
 *
 * Threads: MHD polls connections with a pool of `threads` threads and never
 * blocks in a handler: a request that touches the store is suspended and run
 * by one of `workers` handler threads, so a slow TSS or tenant holds one
 * worker, never a poll thread, and concurrent requests reach the store's
 * group commit together. */
#ifndef SIEGEL_HTTP_H
#define SIEGEL_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/base.h"

#define HTTP_DEFAULT_LISTEN "127.0.0.1"
#define HTTP_DEFAULT_PORT 8443
#define HTTP_DEFAULT_THREADS 4
#define HTTP_DEFAULT_WORKERS 32
#define HTTP_DEFAULT_MAX_CONNECTIONS 1024
#define HTTP_DEFAULT_MAX_PER_IP 256
#define HTTP_DEFAULT_TIMEOUT 30                 /* s of inactivity before a connection is closed */
#define HTTP_DEFAULT_MAX_BODY (2u << 20)        /* bytes; processData (1 MiB) as base64 fits */
#define HTTP_DEFAULT_MAX_HEADER (32u << 10)     /* bytes of request line + headers */
#define HTTP_DEFAULT_SHUTDOWN_GRACE 10          /* s for in-flight requests on SIGTERM */
#define HTTP_MAX_BODY_LIMIT (64u << 20)
#define HTTP_MAX_WORKERS 1024
#define HTTP_DEFAULT_NICE 10
/* TLS 1.2 + 1.3 only; ECDHE; AES-GCM or ChaCha20-Poly1305 (BSI TR-03116-4 spirit). */
#define HTTP_TLS_PRIORITIES \
	"SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:" \
	"+AES-128-GCM:+CHACHA20-POLY1305:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"

struct tse;
struct tenant_db;
struct http_server;

struct http_config {
	const char *listen;            /* IPv4 or IPv6 address; default 127.0.0.1 */
	int port;                      /* 0 = HTTP_DEFAULT_PORT; -1 = any free port */
	const char *tls_cert, *tls_key;/* PEM files; NULL = self-signed localhost certificate */
	const char *data_dir;          /* where the self-signed certificate is kept */
	unsigned threads, workers;     /* 0 = defaults */
	int request_nice;              /* nice of polling and handler threads (0..19; 0 = unchanged) */
	unsigned max_connections, max_per_ip, timeout_s;
	size_t max_body, max_header;
	int shutdown_grace;
	FILE *request_log;             /* one line per request; NULL = none */
};

/* Starts the service (borrows t and tenants until http_server_stop). */
int http_server_start(struct http_server **out, const struct http_config *cfg, struct tse *t,
	struct tenant_db *tenants, struct siegel_diag *d) SIEGEL_WUR;
/* The port the service listens on. */
int http_server_port(const struct http_server *s);
/* Graceful stop: no new connections, in-flight requests finish (up to
 * shutdown_grace, then every running TSE call still completes), then closes. */
void http_server_stop(struct http_server *s);

/* Makes (once) a self-signed P-256 certificate for localhost/127.0.0.1/::1
 * as DIR/https-cert.pem and DIR/https-key.pem (0600). */
int http_tls_self_signed(const char *dir, char *cert_path, size_t cert_cap, char *key_path,
	size_t key_cap, struct siegel_diag *d) SIEGEL_WUR;

/* ---- configuration file: "key = value" lines, '#' comments ----
 * Every key is defined once, in the schema table of http_conf.c. */
#define HTTP_CONF_STR 256
struct http_settings {
	char listen[HTTP_CONF_STR];
	long long port;
	char data_dir[HTTP_CONF_STR];
	char tls_cert[HTTP_CONF_STR], tls_key[HTTP_CONF_STR];
	char ntp_servers[HTTP_CONF_STR];   /* comma-separated HOST[:PORT] */
	long long ntp_timeout_ms;
	long long max_host_skew;
	char key_backend[HTTP_CONF_STR];   /* pkcs11 | soft (tests) */
	long long kdf_log2n;
	long long threads, workers, request_nice, max_connections, max_connections_per_ip;
	long long connection_timeout, max_body, max_header, shutdown_grace;
	long long token_ttl;
	char request_log[HTTP_CONF_STR];   /* "-" = stderr, "" = off, or a file */
};
void http_settings_defaults(struct http_settings *s);
int http_settings_set(struct http_settings *s, const char *key, const char *value,
	struct siegel_diag *d) SIEGEL_WUR;
int http_settings_load(struct http_settings *s, const char *path, struct siegel_diag *d) SIEGEL_WUR;
/* Writes the schema (key, default, meaning) as "key = default  # help" lines. */
void http_settings_print_schema(FILE *f);

/* The OpenAPI 3.0 document generated from the route table (caller frees with
 * json_decref; returned as void * to keep jansson out of this header). */
void *http_openapi_build(void);
/* Route table access for tests and docs. */
size_t http_route_count(void);
void http_route_describe(size_t i, const char **method, const char **path, const char **name);

#endif
