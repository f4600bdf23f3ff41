/* siegel tse export|restore|delete-exported|serials|cert: the export side of
 * the SE API on a local data directory (src/export). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert/cert.h"
#include "cli.h"
#include "cmds.h"
#include "export/export.h"

#define TRUST_MAX_BYTES (1 << 20)

/* Days since 1970-01-01 (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int dd)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Unix seconds, YYYY-MM-DD (start of day; end of day when end_of_day) or
 * YYYY-MM-DDThh:mm:ss[Z] (UTC). */
static int parse_date(int64_t *out, const char *s, int end_of_day)
{
	long long v;
	if (siegel_strtoll(&v, s, 0, INT64_MAX / 2) == 0) {
		*out = v;
		return 0;
	}
	int y, mo, da, h = 0, mi = 0, se = 0, n = 0;
	size_t len = strlen(s);
	if (len == 10 && sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &da, &n) == 3 && n == 10) {
		if (end_of_day) {
			h = 23;
			mi = 59;
			se = 59;
		}
	} else if ((len == 19 || (len == 20 && s[19] == 'Z')) &&
		   sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &da, &h, &mi, &se, &n) == 6 && n == 19) {
	} else {
		return -1;
	}
	if (mo < 1 || mo > 12 || da < 1 || da > 31 || h > 23 || mi > 59 || se > 60)
		return -1;
	*out = days_from_civil(y, mo, da) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}

static int parse_u64_opt(uint64_t *out, const char *name, const char *s)
{
	long long v;
	if (siegel_strtoll(&v, s, 0, INT64_MAX) != 0) {
		fprintf(stderr, "siegel: %s needs a number\n", name);
		return 2;
	}
	*out = (uint64_t)v;
	return 0;
}

static int build_filter(struct export_filter *f, const struct cli_opts *o)
{
	memset(f, 0, sizeof(*f));
	int rc;
	if (o->tx != NULL) {
		if ((rc = parse_u64_opt(&f->tx, "--tx", o->tx)) != 0)
			return rc;
		f->has_tx = 1;
	}
	if (o->tx_first != NULL || o->tx_last != NULL) {
		f->has_tx_range = 1;
		f->tx_last = INT64_MAX;
		if (o->tx_first && (rc = parse_u64_opt(&f->tx_first, "--tx-first", o->tx_first)) != 0)
			return rc;
		if (o->tx_last && (rc = parse_u64_opt(&f->tx_last, "--tx-last", o->tx_last)) != 0)
			return rc;
	}
	if (o->start_date != NULL || o->end_date != NULL) {
		f->has_time = 1;
		f->time_start = 0;
		f->time_end = INT64_MAX / 2;
		if ((o->start_date && parse_date(&f->time_start, o->start_date, 0) != 0) ||
		    (o->end_date && parse_date(&f->time_end, o->end_date, 1) != 0)) {
			fprintf(stderr, "siegel: dates are Unix seconds, YYYY-MM-DD or "
				"YYYY-MM-DDThh:mm:ssZ (UTC)\n");
			return 2;
		}
	}
	f->client_id = o->client;
	if (o->max_records != NULL && (rc = parse_u64_opt(&f->max_records, "--max-records",
					     o->max_records)) != 0)
		return rc;
	f->incremental = o->incremental;
	return 0;
}

static int load_trust(X509 **out, const struct cli_opts *o)
{
	*out = NULL;
	if (o->trust == NULL)
		return 0;
	struct siegel_diag d = { { 0 } };
	uint8_t *pem = NULL;
	size_t n = 0;
	if (siegel_read_file(&pem, &n, o->trust, TRUST_MAX_BYTES, &d) != 0 ||
	    cert_parse(out, pem, n, &d) != 0) {
		free(pem);
		fprintf(stderr, "siegel: --trust %s: %s\n", o->trust, d.msg);
		return 2;
	}
	free(pem);
	return 0;
}

static int write_out(const struct cli_opts *o, const struct siegel_buf *b, int binary)
{
	struct siegel_diag d = { { 0 } };
	if (o->out != NULL) {
		int rc = siegel_write_file_atomic(o->out, b->data, b->len, 0644, &d);
		return rc ? cli_error(o, rc, &d) : 0;
	}
	if (binary) {
		char *hex = malloc(2 * b->len + 1);
		if (hex == NULL)
			return 1;
		siegel_hex_encode(hex, b->data, b->len);
		if (o->json)
			cli_print_json(json_pack("{s:s}", "hex", hex));
		else
			puts(hex);
		free(hex);
		return 0;
	}
	fwrite(b->data, 1, b->len, stdout);
	return 0;
}

int cmd_tse_export(const char *op, const struct cli_opts *o, struct tse *t)
{
	struct siegel_diag d = { { 0 } };
	int64_t now = (int64_t)time(NULL);
	int rc = 0;
	if (strcmp(op, "export") == 0) {
		struct export_filter f;
		if ((rc = build_filter(&f, o)) != 0)
			return rc;
		if (o->out == NULL) {
			fprintf(stderr, "siegel tse export: --out FILE.tar is required\n");
			return 2;
		}
		struct export_result r;
		rc = export_to_file(&r, t, o->tss, &f, o->out, now, &d);
		if (rc)
			return cli_error(o, rc, &d);
		if (o->json)
			cli_print_json(json_pack("{s:s,s:I,s:I,s:I,s:I,s:s}", "file", o->out,
				"logs", (json_int_t)r.logs, "first_counter", (json_int_t)r.first_counter,
				"last_counter", (json_int_t)r.last_counter, "bytes", (json_int_t)r.bytes,
				"serial_number", r.serial_hex));
		else
			printf("exported %" PRIu64 " logs (signature counters %" PRIu64 "..%" PRIu64
				") to %s, %" PRIu64 " bytes\n", r.logs, r.first_counter, r.last_counter, o->out,
				r.bytes);
		return 0;
	}
	if (strcmp(op, "restore") == 0) {
		if (o->in == NULL) {
			fprintf(stderr, "siegel tse restore: --in FILE.tar is required\n");
			return 2;
		}
		X509 *trust = NULL;
		if ((rc = load_trust(&trust, o)) != 0)
			return rc;
		struct export_restore_result r;
		rc = export_restore(&r, t, o->tss, o->in, trust, now, &d);
		X509_free(trust);
		if (rc)
			return cli_error(o, rc, &d);
		if (o->json)
			cli_print_json(json_pack("{s:s,s:I,s:I,s:I,s:s,s:s}", "tss_id", o->tss,
				"logs", (json_int_t)r.logs, "first_counter", (json_int_t)r.first_counter,
				"last_counter", (json_int_t)r.last_counter, "serial_number", r.serial_hex,
				"state", "DISABLED"));
		else
			printf("restored %" PRIu64 " logs (signature counters %" PRIu64 "..%" PRIu64
				") as TSS '%s' (read-only archive)\n", r.logs, r.first_counter, r.last_counter,
				o->tss);
		return 0;
	}
	if (strcmp(op, "delete-exported") == 0) {
		uint64_t n = 0;
		rc = tse_delete_exported(t, o->tss, &n, &d);
		if (rc)
			return cli_error(o, rc, &d);
		if (o->json)
			cli_print_json(json_pack("{s:s,s:I}", "result", "ok", "deleted", (json_int_t)n));
		else
			printf("deleted %" PRIu64 " exported logs\n", n);
		return 0;
	}
	if (strcmp(op, "serials") == 0) {
		struct siegel_buf b;
		siegel_buf_init(&b);
		rc = export_serials(&b, t, o->tss, &d);
		rc = rc ? cli_error(o, rc, &d) : write_out(o, &b, 1);
		siegel_buf_free(&b);
		return rc;
	}
	if (strcmp(op, "cert") == 0) {
		int as_tar = 0;
		if (o->format != NULL && strcmp(o->format, "tar") == 0)
			as_tar = 1;
		else if (o->format != NULL && strcmp(o->format, "pem") != 0) {
			fprintf(stderr, "siegel tse cert: --format pem|tar\n");
			return 2;
		}
		if (as_tar && o->out == NULL) {
			fprintf(stderr, "siegel tse cert: --format tar needs --out FILE\n");
			return 2;
		}
		struct siegel_buf b;
		siegel_buf_init(&b);
		rc = export_certificates(&b, t, o->tss, as_tar, now, &d);
		rc = rc ? cli_error(o, rc, &d) : write_out(o, &b, 0);
		siegel_buf_free(&b);
		return rc;
	}
	fprintf(stderr, "siegel tse: unknown operation '%s'\n", op);
	return 2;
}
