/* Counters for GET /metrics (Prometheus text format 0.0.4). */
#include <stdio.h>
#include <stdlib.h>

#include "http/http_int.h"

static const unsigned statuses[HTTP_N_STATUS - 1] = { 200, 201, 202, 204, 400, 401, 403, 404,
	405, 409, 413, 429, 500, 501, 503 };
/* upper bounds in ms of the signing latency buckets */
static const double lat_ms[HTTP_N_LAT] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000 };

static size_t status_slot(unsigned status)
{
	for (size_t i = 0; i < HTTP_N_STATUS - 1; i++)
		if (statuses[i] == status)
			return i;
	return HTTP_N_STATUS - 1;
}

void http_metrics_request(struct http_metrics *m, int route_idx, unsigned status)
{
	size_t r = route_idx >= 0 && route_idx < HTTP_MAX_ROUTES ? (size_t)route_idx : HTTP_MAX_ROUTES;
	atomic_fetch_add(&m->req[r][status_slot(status)], 1);
}

void http_metrics_sign(struct http_metrics *m, int64_t ns, int replay)
{
	if (replay) {
		atomic_fetch_add(&m->replays, 1);
		return;
	}
	atomic_fetch_add(&m->signatures, 1);
	double ms = (double)ns / 1e6;
	size_t b = 0;
	while (b < HTTP_N_LAT && ms > lat_ms[b])
		b++;
	atomic_fetch_add(&m->lat[b], 1);
	atomic_fetch_add(&m->lat_sum_us, (uint_fast64_t)(ns / 1000));
	atomic_fetch_add(&m->lat_count, 1);
}

char *http_metrics_render(struct http_metrics *m, size_t *len_out)
{
	struct siegel_buf b;
	siegel_buf_init(&b);
	siegel_buf_puts(&b, "# HELP siegel_http_requests_total HTTP requests by route and status.\n"
		"# TYPE siegel_http_requests_total counter\n");
	for (size_t r = 0; r <= HTTP_MAX_ROUTES; r++) {
		const char *name = r < http_n_routes ? http_routes[r].name : "unmatched";
		if (r >= http_n_routes && r != HTTP_MAX_ROUTES)
			continue;
		for (size_t s = 0; s < HTTP_N_STATUS; s++) {
			uint_fast64_t v = atomic_load(&m->req[r][s]);
			if (v == 0)
				continue;
			if (s < HTTP_N_STATUS - 1)
				siegel_buf_printf(&b, "siegel_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
					name, statuses[s], (unsigned long long)v);
			else
				siegel_buf_printf(&b, "siegel_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
					name, (unsigned long long)v);
		}
	}
	siegel_buf_printf(&b, "# HELP siegel_signatures_total Transaction log messages signed.\n"
		"# TYPE siegel_signatures_total counter\nsiegel_signatures_total %llu\n",
		(unsigned long long)atomic_load(&m->signatures));
	siegel_buf_printf(&b, "# HELP siegel_idempotent_replays_total Retries answered from the stored result.\n"
		"# TYPE siegel_idempotent_replays_total counter\nsiegel_idempotent_replays_total %llu\n",
		(unsigned long long)atomic_load(&m->replays));
	siegel_buf_puts(&b, "# HELP siegel_commit_seconds Signing call latency (sign + durable commit).\n"
		"# TYPE siegel_commit_seconds histogram\n");
	uint_fast64_t cum = 0;
	for (size_t i = 0; i < HTTP_N_LAT; i++) {
		cum += atomic_load(&m->lat[i]);
		siegel_buf_printf(&b, "siegel_commit_seconds_bucket{le=\"%g\"} %llu\n", lat_ms[i] / 1000,
			(unsigned long long)cum);
	}
	cum += atomic_load(&m->lat[HTTP_N_LAT]);
	siegel_buf_printf(&b, "siegel_commit_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	siegel_buf_printf(&b, "siegel_commit_seconds_sum %.6f\nsiegel_commit_seconds_count %llu\n",
		(double)atomic_load(&m->lat_sum_us) / 1e6, (unsigned long long)atomic_load(&m->lat_count));
	if (b.err) {
		siegel_buf_free(&b);
		return NULL;
	}
	return (char *)siegel_buf_steal(&b, len_out);
}
