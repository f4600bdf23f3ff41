/* siegel serve [--config FILE] [--data DIR] [--listen ADDR] [--port N]
 *              [--print-config] [--print-openapi]
 * The TSE as an HTTPS REST service (src/http). Runs in the foreground until
 * SIGTERM or SIGINT, then stops gracefully: no new connections, in-flight
 * requests finish, every store transaction is complete or absent. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "csp/csp.h"
#include "http/http.h"
#include "tenant/tenant.h"

#define SERVE_MAX_NTP 8

static const char serve_usage[] =
	"usage: siegel serve [--config FILE] [--data DIR] [--listen ADDR] [--port N]\n"
	"                    [--print-config] [--print-openapi]\n"
	"  --config FILE   key = value settings (see --print-config for every key and default)\n"
	"  --data DIR      data directory (overrides data_dir)\n"
	"  --listen ADDR   address (overrides listen), --port N (overrides port; 0 = any free port)\n"
	"  --print-config  print every setting with its default and exit\n"
	"  --print-openapi print the OpenAPI document (generated from the route table) and exit\n";

static int serve_fail(const char *what, const struct siegel_diag *d, int rc)
{
	fprintf(stderr, "siegel serve: %s: %s: %s\n", what, siegel_err_name(rc),
		d->msg[0] ? d->msg : siegel_strerror(rc));
	return 1;
}

int cmd_serve(int argc, char **argv)
{
	struct http_settings st;
	struct siegel_diag d = { { 0 } };
	http_settings_defaults(&st);
	const char *config = NULL, *data = NULL, *listen = NULL, *port = NULL;
	for (int i = 0; i < argc; i++) {
		const char **slot = NULL;
		if (strcmp(argv[i], "--config") == 0)
			slot = &config;
		else if (strcmp(argv[i], "--data") == 0)
			slot = &data;
		else if (strcmp(argv[i], "--listen") == 0)
			slot = &listen;
		else if (strcmp(argv[i], "--port") == 0)
			slot = &port;
		else if (strcmp(argv[i], "--print-config") == 0) {
			http_settings_print_schema(stdout);
			return 0;
		} else if (strcmp(argv[i], "--print-openapi") == 0) {
			json_t *doc = http_openapi_build();
			if (doc == NULL)
				return 1;
			cli_print_json(doc);
			return 0;
		} else if (strcmp(argv[i], "--help") == 0) {
			fputs(serve_usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "siegel serve: unknown argument '%s'\n%s", argv[i], serve_usage);
			return 2;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "siegel serve: %s needs a value\n", argv[i]);
			return 2;
		}
		*slot = argv[++i];
	}
	int rc = 0;
	if (config != NULL && (rc = http_settings_load(&st, config, &d)) != 0)
		return serve_fail("config", &d, rc);
	if ((data && (rc = http_settings_set(&st, "data_dir", data, &d)) != 0) ||
	    (listen && (rc = http_settings_set(&st, "listen", listen, &d)) != 0) ||
	    (port && (rc = http_settings_set(&st, "port", port, &d)) != 0)) {
		fputs(serve_usage, stderr);
		return serve_fail("options", &d, rc);
	}

	/* Signals are taken by sigwait in this thread; every other thread
	 * (started below) inherits the blocked mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* the TSE */
	char ntp_buf[HTTP_CONF_STR];
	const char *ntp[SERVE_MAX_NTP];
	size_t n_ntp = 0;
	snprintf(ntp_buf, sizeof(ntp_buf), "%s", st.ntp_servers);
	char *save = NULL;
	for (char *tok = strtok_r(ntp_buf, ", ", &save); tok && n_ntp < SERVE_MAX_NTP;
	     tok = strtok_r(NULL, ", ", &save))
		ntp[n_ntp++] = tok;
	struct tse_config tc;
	memset(&tc, 0, sizeof(tc));
	tc.data_dir = st.data_dir;
	tc.key_backend = st.key_backend;
	tc.ntp_servers = n_ntp ? ntp : NULL;
	tc.n_ntp_servers = n_ntp;
	tc.ntp_timeout_ms = (int)st.ntp_timeout_ms;
	tc.max_host_skew = st.max_host_skew;
	tc.kdf_log2n = (int)st.kdf_log2n;
	if (siegel_mkdir_p(st.data_dir, 0700) != 0) {
		fprintf(stderr, "siegel serve: cannot create the data directory %s\n", st.data_dir);
		return 1;
	}
	if (strcmp(st.key_backend, "soft") != 0) {
		char conf[4096];
		if ((rc = csp_softhsm_prepare(conf, sizeof(conf), st.data_dir, &d)) != 0)
			return serve_fail("SoftHSM2 token", &d, rc);
		setenv("SOFTHSM2_CONF", conf, 1);
	}
	struct tse *t = NULL;
	if ((rc = tse_open(&t, &tc, &d)) != 0)
		return serve_fail("opening the TSE", &d, rc);
	struct tenant_db *tenants = NULL;
	struct tenant_config tnc = { .token_ttl = st.token_ttl, .kdf_log2n = (int)st.kdf_log2n };
	if ((rc = tenant_db_open(&tenants, tse_store(t), &tnc, &d)) != 0) {
		tse_close(t);
		return serve_fail("tenants", &d, rc);
	}

	FILE *log = NULL;
	if (strcmp(st.request_log, "-") == 0)
		log = stderr;
	else if (st.request_log[0] != 0 && (log = fopen(st.request_log, "a")) == NULL)
		fprintf(stderr, "siegel serve: cannot open the request log %s; logging off\n",
			st.request_log);

	struct http_config hc = {
		.listen = st.listen,
		.port = st.port == 0 ? -1 : (int)st.port,
		.tls_cert = st.tls_cert,
		.tls_key = st.tls_key,
		.data_dir = st.data_dir,
		.threads = (unsigned)st.threads,
		.workers = (unsigned)st.workers,
		.request_nice = (int)st.request_nice,
		.max_connections = (unsigned)st.max_connections,
		.max_per_ip = (unsigned)st.max_connections_per_ip,
		.timeout_s = (unsigned)st.connection_timeout,
		.max_body = (size_t)st.max_body,
		.max_header = (size_t)st.max_header,
		.shutdown_grace = (int)st.shutdown_grace,
		.request_log = log,
	};
	struct http_server *srv = NULL;
	if ((rc = http_server_start(&srv, &hc, t, tenants, &d)) != 0) {
		tenant_db_close(tenants);
		tse_close(t);
		if (log != NULL && log != stderr)
			fclose(log);
		return serve_fail("starting the HTTPS service", &d, rc);
	}
	const char *host = strchr(st.listen, ':') ? "[%s]" : "%s";
	char hostbuf[HTTP_CONF_STR + 2];
	snprintf(hostbuf, sizeof(hostbuf), host, st.listen);
	printf("siegel serve: listening on https://%s:%d/api/v1 (OpenAPI: /api/v1/openapi.json)\n",
		hostbuf, http_server_port(srv));
	fflush(stdout);

	int sig = 0;
	while (sigwait(&sigs, &sig) != 0)
		;
	fprintf(stderr, "siegel serve: %s: stopping (in-flight requests finish)\n",
		sig == SIGTERM ? "SIGTERM" : "SIGINT");
	http_server_stop(srv);
	tenant_db_close(tenants);
	tse_close(t);
	if (log != NULL && log != stderr)
		fclose(log);
	fprintf(stderr, "siegel serve: stopped\n");
	return 0;
}
