/* The libmicrohttpd glue: TLS, limits, the access handler, the worker pool
 * (suspend/resume), authentication, the request log and graceful stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "http/http_int.h"

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *http_param(const struct http_req *rq, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < HTTP_MAX_PARAMS; i++)
		if (rq->param_names[i] && strncmp(rq->param_names[i], name, n) == 0 &&
		    rq->param_names[i][n] == '}')
			return rq->params[i];
	return NULL;
}

const char *http_query(const struct http_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

int http_tss(struct http_req *rq)
{
	struct siegel_diag d = { { 0 } };
	const char *id = http_param(rq, "tssId");
	int rc = id ? tenant_tss_internal(rq->tss, sizeof(rq->tss), rq->tenant, id, &d) : SIEGEL_E_INVAL;
	if (rc) {
		http_reply_err(rq, rc, &d);
		return -1;
	}
	return 0;
}

/* ---- authentication, then the handler ---- */

/* Checks the bearer token of a tenant route: 0, or -1 with the reply set. */
static int authenticate(struct http_req *rq)
{
	if (rq->route->auth != HTTP_AUTH_TENANT || rq->authenticated)
		return 0;
	const char *h = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
		MHD_HTTP_HEADER_AUTHORIZATION);
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
		http_reply_code(rq, HE_UNAUTHORIZED, "send 'Authorization: Bearer TOKEN' (POST /api/v1/auth)");
		return -1;
	}
	struct siegel_diag d = { { 0 } };
	int rc = tenant_token_check(rq->srv->tenants, h + 7, rq->tenant, &d);
	if (rc == SIEGEL_E_STATE) {
		http_reply_code(rq, HE_TOKEN_EXPIRED, "%s", d.msg);
		return -1;
	}
	if (rc == SIEGEL_E_AUTH_FAILED) {
		http_reply_code(rq, HE_UNAUTHORIZED, "%s", d.msg);
		return -1;
	}
	if (rc) {
		http_reply_err(rq, rc, &d);
		return -1;
	}
	rq->authenticated = 1;
	return 0;
}

static void run_route(struct http_req *rq)
{
	if (authenticate(rq) != 0)
		return;
	rq->route->handler(rq);
	if (rq->reply == NULL)
		http_reply_code(rq, HE_INTERNAL, "the handler gave no answer");
}

/* Request threads run below the store's commit thread: the signing and
 * commit path goes first, new work waits (docs/api.md has the figures).
 * Linux nice values are per thread; raising one needs no privilege. */
static void lower_priority(const struct http_server *s)
{
	if (s->cfg.request_nice > 0)
		(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), s->cfg.request_nice);
}

/* MHD calls this on the polling thread that will serve the connection. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
	enum MHD_ConnectionNotificationCode code)
{
	(void)conn;
	(void)socket_ctx;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		lower_priority(cls);
}

/* ---- worker pool ---- */

static void *worker_main(void *arg)
{
	struct http_server *s = arg;
	lower_priority(s);
	for (;;) {
		pthread_mutex_lock(&s->q_lock);
		while (s->q_head == NULL && !s->stopping)
			pthread_cond_wait(&s->q_cond, &s->q_lock);
		struct http_req *rq = s->q_head;
		if (rq == NULL) {
			pthread_mutex_unlock(&s->q_lock);
			break;
		}
		s->q_head = rq->next;
		if (s->q_head == NULL)
			s->q_tail = NULL;
		s->busy++;
		pthread_mutex_unlock(&s->q_lock);

		run_route(rq);
		rq->state = RQ_READY;
		MHD_resume_connection(rq->conn); /* rq belongs to MHD again from here */

		pthread_mutex_lock(&s->q_lock);
		s->busy--;
		pthread_cond_broadcast(&s->idle_cond);
		pthread_mutex_unlock(&s->q_lock);
	}
	return NULL;
}

static void enqueue(struct http_server *s, struct http_req *rq)
{
	rq->next = NULL;
	pthread_mutex_lock(&s->q_lock);
	if (s->q_tail)
		s->q_tail->next = rq;
	else
		s->q_head = rq;
	s->q_tail = rq;
	pthread_cond_signal(&s->q_cond);
	pthread_mutex_unlock(&s->q_lock);
}

/* ---- raw bodies (request_type routes): spooled to a file, not memory ---- */

static void spool_open(struct http_req *rq)
{
	struct siegel_diag d = { { 0 } };
	char dir[2048];
	int rc = http_spool_dir(rq->srv, dir, sizeof(dir), &d);
	size_t cap = strlen(dir) + 32;
	if (rc == 0 && (rq->body_path = malloc(cap)) == NULL)
		rc = siegel_fail(&d, SIEGEL_E_NOMEM, "no memory");
	if (rc == 0) {
		snprintf(rq->body_path, cap, "%s/body-XXXXXX", dir);
		rq->body_fd = mkostemp(rq->body_path, O_CLOEXEC);
		if (rq->body_fd < 0) {
			rc = siegel_fail(&d, SIEGEL_E_IO, "cannot create a spool file in %s: %s", dir,
				strerror(errno));
			free(rq->body_path);
			rq->body_path = NULL;
		}
	}
	if (rc)
		http_reply_err(rq, rc, &d);
}

static void spool_write(struct http_req *rq, const char *p, size_t n)
{
	if (rq->too_large || rq->body_io_err)
		return;
	if (rq->body_file_len + n > rq->max_body) {
		rq->too_large = 1;
		if (ftruncate(rq->body_fd, 0) != 0)
			rq->body_io_err = errno;
		return;
	}
	rq->body_file_len += n;
	while (n > 0) {
		ssize_t k = write(rq->body_fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rq->body_io_err = errno ? errno : EIO;
			return;
		}
		p += k;
		n -= (size_t)k;
	}
}

/* ---- MHD callbacks ---- */

static enum MHD_Result send_reply(struct http_req *rq)
{
	struct MHD_Response *resp;
	if (rq->reply_fd >= 0) {
		/* a file: MHD reads it as it sends and closes the fd */
		resp = MHD_create_response_from_fd64(rq->reply_fd_len, rq->reply_fd);
		if (resp == NULL)
			return MHD_NO; /* on_completed closes the fd */
		rq->reply_fd = -1;
	} else {
		resp = MHD_create_response_from_buffer(rq->reply_len, rq->reply, MHD_RESPMEM_MUST_FREE);
		if (resp == NULL)
			return MHD_NO;
		rq->reply = NULL;
	}
	if (rq->location[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, rq->location);
	if (rq->disposition[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, rq->disposition);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		rq->content_type ? rq->content_type : "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (rq->www_auth)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (rq->status == 405 && rq->allow[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rq->allow);
	if (atomic_load(&rq->srv->draining) || rq->status == 413)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result r = MHD_queue_response(rq->conn, rq->status, resp);
	MHD_destroy_response(resp);
	rq->state = RQ_READY + 1; /* sent */
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload_data, size_t *upload_size,
	void **con_cls)
{
	(void)version;
	struct http_server *s = cls;
	struct http_req *rq = *con_cls;
	if (rq == NULL) {
		rq = calloc(1, sizeof(*rq));
		if (rq == NULL)
			return MHD_NO;
		rq->srv = s;
		rq->conn = conn;
		rq->body_fd = -1;
		rq->reply_fd = -1;
		rq->t0_ns = mono_ns();
		snprintf(rq->method, sizeof(rq->method), "%s", method);
		rq->path = strdup(url);
		siegel_buf_init(&rq->body);
		rq->state = RQ_READING;
		*con_cls = rq;
		atomic_fetch_add(&s->in_flight, 1);
		if (rq->path == NULL)
			return MHD_NO;
		rq->route_idx = http_route_match(rq->method, rq->path, rq->params, rq->param_names,
			rq->allow, sizeof(rq->allow));
		rq->route = rq->route_idx >= 0 ? &http_routes[rq->route_idx] : NULL;
		rq->max_body = rq->route && rq->route->max_body ? rq->route->max_body : s->cfg.max_body;
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
			MHD_HTTP_HEADER_CONTENT_LENGTH);
		long long clen = 0;
		if (atomic_load(&s->draining))
			http_reply_code(rq, HE_SHUTTING_DOWN, NULL);
		else if (rq->route_idx == -1)
			http_reply_code(rq, HE_NOT_FOUND, "no route %s %.200s", rq->method, rq->path);
		else if (rq->route_idx == -2)
			http_reply_code(rq, HE_METHOD, "%s is not allowed here (allowed: %s)", rq->method,
				rq->allow);
		else if (cl != NULL && (siegel_strtoll(&clen, cl, 0, INT64_MAX) != 0 ||
					  (unsigned long long)clen > rq->max_body)) {
			/* Answer before the body when the client waits for "100
			 * Continue" or the body is far too large; otherwise read and
			 * drop it, so the client sees the 413 and not a reset. */
			const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
				MHD_HTTP_HEADER_EXPECT);
			if (expect != NULL || (unsigned long long)clen / 16 > rq->max_body || clen < 0)
				http_reply_code(rq, HE_BODY_TOO_LARGE, "the body may have at most %zu bytes",
					rq->max_body);
			else
				rq->too_large = 1;
		}
		/* A raw body may be large: only an authenticated client gets to
		 * send it (checked before the body, on this thread; rare route). */
		if (rq->reply == NULL && !rq->too_large && rq->route->request_type != NULL &&
		    authenticate(rq) == 0)
			spool_open(rq);
		if (rq->reply != NULL)
			return send_reply(rq);
		return MHD_YES;
	}
	if (rq->state > RQ_READY) {
		*upload_size = 0; /* answered early; the rest of the body is dropped */
		return MHD_YES;
	}
	if (*upload_size != 0) {
		if (rq->body_fd >= 0) {
			spool_write(rq, upload_data, *upload_size);
		} else if (!rq->too_large && rq->body.len + *upload_size <= rq->max_body) {
			siegel_buf_append(&rq->body, upload_data, *upload_size);
		} else {
			rq->too_large = 1;
			siegel_buf_free(&rq->body);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->state == RQ_READING) {
		if (rq->body_fd >= 0) {
			close(rq->body_fd);
			rq->body_fd = -1;
		}
		if (rq->too_large || rq->body.err) {
			http_reply_code(rq, HE_BODY_TOO_LARGE, "the body may have at most %zu bytes",
				rq->max_body);
			return send_reply(rq);
		}
		if (rq->route->blocking) {
			rq->state = RQ_QUEUED;
			MHD_suspend_connection(conn);
			enqueue(s, rq);
			return MHD_YES;
		}
		run_route(rq);
		return send_reply(rq);
	}
	if (rq->state == RQ_READY)
		return send_reply(rq);
	return MHD_YES; /* RQ_QUEUED: not reached while suspended */
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
	enum MHD_RequestTerminationCode toe)
{
	(void)conn;
	struct http_server *s = cls;
	struct http_req *rq = *con_cls;
	if (rq == NULL)
		return;
	*con_cls = NULL;
	unsigned status = rq->status ? rq->status : 0;
	http_metrics_request(&s->metrics, rq->route_idx, status);
	if (s->cfg.request_log != NULL) {
		char when[32];
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		double ms = (double)(mono_ns() - rq->t0_ns) / 1e6;
		fprintf(s->cfg.request_log, "%s.%03ldZ tenant=%s %s %s status=%u ms=%.2f%s\n", when,
			ts.tv_nsec / 1000000, rq->tenant[0] ? rq->tenant : "-", rq->method,
			rq->route ? rq->route->path : "(no route)", status, ms,
			toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
		fflush(s->cfg.request_log);
	}
	json_decref(rq->json);
	siegel_buf_free(&rq->body);
	if (rq->body_fd >= 0)
		close(rq->body_fd);
	if (rq->body_path != NULL)
		unlink(rq->body_path);
	free(rq->body_path);
	if (rq->reply_fd >= 0)
		close(rq->reply_fd);
	free(rq->reply);
	free(rq->path);
	free(rq);
	atomic_fetch_sub(&s->in_flight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = 0;
	fprintf(stderr, "siegel serve: libmicrohttpd: %s\n", msg);
}

/* ---- start / stop ---- */

static int read_pem(char **out, const char *path, struct siegel_diag *d)
{
	uint8_t *p = NULL;
	size_t n = 0;
	int rc = siegel_read_file(&p, &n, path, 1 << 20, d);
	if (rc == 0)
		*out = (char *)p;
	return rc;
}

int http_server_port(const struct http_server *s)
{
	return s->port;
}

static void server_free(struct http_server *s)
{
	if (s == NULL)
		return;
	if (s->key_pem)
		siegel_wipe(s->key_pem, strlen(s->key_pem));
	free(s->key_pem);
	free(s->cert_pem);
	free(s->openapi);
	free(s->workers);
	pthread_mutex_destroy(&s->q_lock);
	pthread_cond_destroy(&s->q_cond);
	pthread_cond_destroy(&s->idle_cond);
	free(s);
}

static void stop_workers(struct http_server *s)
{
	pthread_mutex_lock(&s->q_lock);
	while (s->q_head != NULL || s->busy > 0)
		pthread_cond_wait(&s->idle_cond, &s->q_lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->q_cond);
	pthread_mutex_unlock(&s->q_lock);
	for (size_t i = 0; i < s->n_workers; i++)
		pthread_join(s->workers[i], NULL);
	s->n_workers = 0;
}

int http_server_start(struct http_server **out, const struct http_config *cfg, struct tse *t,
	struct tenant_db *tenants, struct siegel_diag *d)
{
	struct http_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "no memory for the server");
	pthread_mutex_init(&s->q_lock, NULL);
	pthread_cond_init(&s->q_cond, NULL);
	pthread_cond_init(&s->idle_cond, NULL);
	s->tse = t;
	s->tenants = tenants;
	s->cfg = *cfg;
	struct http_config *c = &s->cfg;
	if (c->listen == NULL || c->listen[0] == 0)
		c->listen = HTTP_DEFAULT_LISTEN;
	if (c->port == 0)
		c->port = HTTP_DEFAULT_PORT;
	if (c->threads == 0)
		c->threads = HTTP_DEFAULT_THREADS;
	if (c->workers == 0)
		c->workers = HTTP_DEFAULT_WORKERS;
	if (c->workers > HTTP_MAX_WORKERS)
		c->workers = HTTP_MAX_WORKERS;
	if (c->request_nice < 0 || c->request_nice > 19)
		c->request_nice = HTTP_DEFAULT_NICE;
	if (c->max_connections == 0)
		c->max_connections = HTTP_DEFAULT_MAX_CONNECTIONS;
	if (c->max_per_ip == 0)
		c->max_per_ip = HTTP_DEFAULT_MAX_PER_IP;
	if (c->timeout_s == 0)
		c->timeout_s = HTTP_DEFAULT_TIMEOUT;
	if (c->max_body == 0)
		c->max_body = HTTP_DEFAULT_MAX_BODY;
	if (c->max_body > HTTP_MAX_BODY_LIMIT)
		c->max_body = HTTP_MAX_BODY_LIMIT;
	if (c->max_header == 0)
		c->max_header = HTTP_DEFAULT_MAX_HEADER;
	if (c->shutdown_grace <= 0)
		c->shutdown_grace = HTTP_DEFAULT_SHUTDOWN_GRACE;

	int rc;
	char cert_path[4096], key_path[4096];
	if (c->tls_cert == NULL || c->tls_cert[0] == 0) {
		if (c->data_dir == NULL) {
			rc = siegel_fail(d, SIEGEL_E_INVAL, "no TLS certificate and no data directory");
			goto fail;
		}
		rc = http_tls_self_signed(c->data_dir, cert_path, sizeof(cert_path), key_path,
			sizeof(key_path), d);
		if (rc)
			goto fail;
	} else {
		if (c->tls_key == NULL || c->tls_key[0] == 0) {
			rc = siegel_fail(d, SIEGEL_E_INVAL, "tls_cert is set but tls_key is not");
			goto fail;
		}
		snprintf(cert_path, sizeof(cert_path), "%s", c->tls_cert);
		snprintf(key_path, sizeof(key_path), "%s", c->tls_key);
	}
	if ((rc = read_pem(&s->cert_pem, cert_path, d)) != 0 || (rc = read_pem(&s->key_pem, key_path, d)) != 0)
		goto fail;

	json_t *doc = http_openapi_build();
	s->openapi = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
	json_decref(doc);
	if (s->openapi == NULL) {
		rc = siegel_fail(d, SIEGEL_E_NOMEM, "cannot build the OpenAPI document");
		goto fail;
	}
	s->openapi_len = strlen(s->openapi);

	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_TLS | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ITC | MHD_USE_ERROR_LOG;
	uint16_t port = c->port < 0 ? 0 : (uint16_t)c->port;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, c->listen, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, c->listen, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		flags |= MHD_USE_IPv6;
	} else {
		rc = siegel_fail(d, SIEGEL_E_PARAM, "listen: '%s' is no IPv4 or IPv6 address", c->listen);
		goto fail;
	}

	s->workers = calloc(c->workers, sizeof(*s->workers));
	if (s->workers == NULL) {
		rc = siegel_fail(d, SIEGEL_E_NOMEM, "no memory for the workers");
		goto fail;
	}
	for (unsigned i = 0; i < c->workers; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
			rc = siegel_fail(d, SIEGEL_E_NOMEM, "cannot start worker thread %u", i);
			stop_workers(s);
			goto fail;
		}
		s->n_workers++;
	}

	if ((rc = http_exports_start(s, d)) != 0) {
		stop_workers(s);
		goto fail;
	}
	s->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_HTTPS_MEM_KEY, s->key_pem,
		MHD_OPTION_HTTPS_MEM_CERT, s->cert_pem,
		MHD_OPTION_HTTPS_PRIORITIES, HTTP_TLS_PRIORITIES,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)c->threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)c->max_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)c->max_header,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
		MHD_OPTION_END);
	if (s->mhd == NULL) {
		rc = siegel_fail(d, SIEGEL_E_IO, "cannot listen on https://%s:%d (%s)", c->listen, c->port,
			errno ? strerror(errno) : "libmicrohttpd refused the options");
		stop_workers(s);
		http_exports_stop(s);
		goto fail;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : port;
	*out = s;
	return 0;
fail:
	server_free(s);
	return rc;
}

void http_server_stop(struct http_server *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->draining, 1);
	MHD_socket ls = MHD_quiesce_daemon(s->mhd);
	if (ls != MHD_INVALID_SOCKET)
		close(ls);
	int64_t deadline = mono_ns() + (int64_t)s->cfg.shutdown_grace * 1000000000;
	struct timespec tick = { 0, 10 * 1000000 };
	while (atomic_load(&s->in_flight) > 0 && mono_ns() < deadline)
		nanosleep(&tick, NULL);
	/* Every request a worker holds finishes its TSE call (it is one store
	 * transaction: all or nothing), then the connections close. */
	stop_workers(s);
	http_exports_stop(s);
	int64_t last = mono_ns() + 1000000000;
	while (atomic_load(&s->in_flight) > 0 && mono_ns() < last)
		nanosleep(&tick, NULL);
	MHD_stop_daemon(s->mhd);
	server_free(s);
}
