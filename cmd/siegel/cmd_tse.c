/* siegel tse ...: the SE API on a local data directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cli.h"

/* Random decimal credentials for tse create when none are given. */
static void random_digits(char *out, size_t n)
{
	uint8_t r[32];
	if (RAND_bytes(r, (int)n) != 1)
		abort();
	for (size_t i = 0; i < n; i++)
		out[i] = (char)('0' + r[i] % 10);
	out[n] = 0;
	siegel_wipe(r, sizeof(r));
}

static int get_process_data(const struct cli_opts *o, uint8_t **pd, size_t *len)
{
	int given = (o->data_text != NULL) + (o->data_hex != NULL) + (o->data_file != NULL);
	*pd = NULL;
	*len = 0;
	if (given > 1) {
		fprintf(stderr, "siegel: give processData once (--data-text, --data-hex or --data-file)\n");
		return 2;
	}
	if (o->data_text != NULL) {
		*len = strlen(o->data_text);
		*pd = (uint8_t *)strdup(o->data_text);
		return *pd ? 0 : 1;
	}
	if (o->data_hex != NULL) {
		if (siegel_hex_decode_alloc(pd, len, o->data_hex) != 0) {
			fprintf(stderr, "siegel: --data-hex is not valid hex\n");
			return 2;
		}
		return 0;
	}
	if (o->data_file != NULL) {
		struct siegel_diag d = { { 0 } };
		/* The TSE enforces its own limit; read a little more to report it. */
		if (siegel_read_file(pd, len, o->data_file, (size_t)64 << 20, &d) != 0) {
			fprintf(stderr, "siegel: %s\n", d.msg);
			return 1;
		}
	}
	return 0;
}

static int parse_tx(const struct cli_opts *o, uint64_t *tx)
{
	long long v;
	if (o->tx == NULL || siegel_strtoll(&v, o->tx, 1, INT64_MAX) != 0) {
		fprintf(stderr, "siegel: --tx needs a transaction number\n");
		return 2;
	}
	*tx = (uint64_t)v;
	return 0;
}

static json_t *tx_json(const struct tse_tx_result *r)
{
	char serial[2 * ALG_SERIAL_LEN + 1];
	siegel_hex_encode(serial, r->serial, ALG_SERIAL_LEN);
	char *sig = siegel_b64_encode(r->signature, r->signature_len);
	char *log = siegel_b64_encode(r->log.data, r->log.len);
	json_t *j = json_pack("{s:I,s:I,s:I,s:s,s:I,s:s,s:s,s:s}",
		"transaction_number", (json_int_t)r->transaction_number,
		"signature_counter", (json_int_t)r->signature_counter,
		"log_time", (json_int_t)r->log_time,
		"log_time_text", r->log_time_text,
		"start_time", (json_int_t)r->start_time,
		"serial_number", serial,
		"signature", sig ? sig : "",
		"log_message", log ? log : "");
	if (j != NULL && r->qr.len > 0)
		json_object_set_new(j, "qr_code_data", json_string((const char *)r->qr.data));
	free(sig);
	free(log);
	return j;
}

static void print_tx(const struct cli_opts *o, const char *what, const struct tse_tx_result *r)
{
	if (o->json) {
		cli_print_json(tx_json(r));
		return;
	}
	char *sig = siegel_b64_encode(r->signature, r->signature_len);
	printf("%s: transaction %llu, signature counter %llu, log time %s\n", what,
		(unsigned long long)r->transaction_number, (unsigned long long)r->signature_counter,
		r->log_time_text);
	printf("signature: %s\n", sig ? sig : "");
	if (r->qr.len > 0)
		printf("qr: %s\n", (const char *)r->qr.data);
	free(sig);
}

struct open_print {
	json_t *arr;
	int json;
};

static void open_cb(void *ctx, const struct tse_open_tx *tx)
{
	struct open_print *p = ctx;
	if (p->json) {
		json_array_append_new(p->arr, json_pack("{s:I,s:s,s:s?,s:I,s:I,s:I,s:I}",
			"number", (json_int_t)tx->number, "client_id", tx->client_id,
			"process_type", tx->process_type, "start_time", (json_int_t)tx->start_time,
			"last_time", (json_int_t)tx->last_time,
			"start_counter", (json_int_t)tx->start_counter,
			"last_counter", (json_int_t)tx->last_counter));
	} else {
		printf("%llu\t%s\t%s\tstarted %lld\tlast %lld\n", (unsigned long long)tx->number,
			tx->client_id, tx->process_type ? tx->process_type : "-",
			(long long)tx->start_time, (long long)tx->last_time);
	}
}

static void list_cb(void *ctx, const char *id)
{
	json_t *arr = ctx;
	if (arr != NULL)
		json_array_append_new(arr, json_string(id));
	else
		puts(id);
}

static int print_status(const struct cli_opts *o, struct tse *t)
{
	struct siegel_diag d = { { 0 } };
	struct tse_tss_info in;
	int rc = tse_tss_info(t, o->tss, &in, &d);
	if (rc)
		return cli_error(o, rc, &d);
	const struct alg_info *ai = alg_get(in.alg);
	if (o->json) {
		cli_print_json(json_pack(
			"{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:i,s:i,s:i,s:i,s:b,s:I,s:s,s:I,s:s,s:s}",
			"tss_id", in.id, "state", in.state, "description", in.description,
			"serial_number", in.serial_hex, "signature_algorithm", ai ? ai->sig_name : "?",
			"curve", ai ? ai->curve_name : "?",
			"log_time_format", logmsg_time_format_name(in.time_format),
			"signature_counter", (json_int_t)in.signature_counter,
			"transaction_counter", (json_int_t)in.transaction_counter,
			"current_number_of_clients", (int)in.n_clients,
			"max_number_of_clients", (int)in.max_clients,
			"current_number_of_transactions", (int)in.n_open_tx,
			"max_number_of_transactions", (int)in.max_open_tx,
			"time_set", in.time_set, "time_synced_at", (json_int_t)in.time_synced_at,
			"time_server", in.time_server, "time", (json_int_t)in.now,
			"supported_update_variants", "signed", "time_sync_variant", "noInput"));
		return 0;
	}
	printf("tss:               %s\n", in.id);
	printf("state:             %s\n", in.state);
	printf("description:       %s\n", in.description);
	printf("serial number:     %s\n", in.serial_hex);
	printf("algorithm:         %s on %s\n", ai ? ai->sig_name : "?", ai ? ai->curve_name : "?");
	printf("log time format:   %s\n", logmsg_time_format_name(in.time_format));
	printf("signature counter: %llu\n", (unsigned long long)in.signature_counter);
	printf("transactions:      %llu started, %u open (max %u)\n",
		(unsigned long long)in.transaction_counter, in.n_open_tx, in.max_open_tx);
	printf("clients:           %u registered (max %u)\n", in.n_clients, in.max_clients);
	printf("time:              %s%s%s\n", in.time_set ? "set, synced with " : "not set",
		in.time_set ? in.time_server : "", "");
	printf("update variants:   signed\n");
	printf("time sync variant: noInput (updateTime asks the time servers)\n");
	return 0;
}

static int tse_create(const struct cli_opts *o, struct tse *t)
{
	struct siegel_diag d = { { 0 } };
	struct tse_tss_params p;
	memset(&p, 0, sizeof(p));
	p.tss_id = o->tss;
	if (o->alg != NULL) {
		const struct alg_info *ai = alg_by_config_name(o->alg);
		if (ai == NULL) {
			fprintf(stderr, "siegel: --alg must be p256, p384, bp256 or bp384\n");
			return 2;
		}
		p.alg = ai->alg;
	}
	if (o->time_format != NULL && logmsg_time_format_parse(&p.time_format, o->time_format) != 0) {
		fprintf(stderr, "siegel: --time-format must be unixTime, utcTime or generalizedTime\n");
		return 2;
	}
	char apin[8], apuk[12], tpin[8], tpuk[12];
	random_digits(apin, 6);
	random_digits(apuk, 10);
	random_digits(tpin, 6);
	random_digits(tpuk, 10);
	int shown = o->admin_pin == NULL || o->admin_puk == NULL || o->time_admin_pin == NULL ||
		    o->time_admin_puk == NULL;
	p.admin_pin = o->admin_pin ? o->admin_pin : apin;
	p.admin_puk = o->admin_puk ? o->admin_puk : apuk;
	p.time_admin_pin = o->time_admin_pin ? o->time_admin_pin : tpin;
	p.time_admin_puk = o->time_admin_puk ? o->time_admin_puk : tpuk;
	int rc = tse_tss_create(t, &p, &d);
	if (rc)
		return cli_error(o, rc, &d);
	if (shown && !o->json) {
		printf("Credentials (shown once, keep them safe):\n");
		printf("  admin PIN %s  PUK %s\n  timeAdmin PIN %s  PUK %s\n", p.admin_pin, p.admin_puk,
			p.time_admin_pin, p.time_admin_puk);
	}
	if (o->json && shown) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "admin_pin", p.admin_pin, "admin_puk",
			p.admin_puk, "time_admin_pin", p.time_admin_pin, "time_admin_puk", p.time_admin_puk);
		cli_print_json(j);
	}
	siegel_wipe(apin, sizeof(apin));
	siegel_wipe(apuk, sizeof(apuk));
	siegel_wipe(tpin, sizeof(tpin));
	siegel_wipe(tpuk, sizeof(tpuk));
	return o->json && shown ? 0 : print_status(o, t);
}

static int ok_line(const struct cli_opts *o, const char *what)
{
	if (o->json)
		cli_print_json(json_pack("{s:s}", "result", "ok"));
	else
		printf("%s\n", what);
	return 0;
}

int cmd_tse(int argc, char **argv)
{
	if (argc < 1) {
		fprintf(stderr, "siegel tse: which operation? (see siegel --help)\n");
		return 2;
	}
	const char *op = argv[0];
	struct cli_opts o;
	memset(&o, 0, sizeof(o));
	int rc = cli_parse(&o, argc - 1, argv + 1);
	if (rc)
		return rc;
	static const char *const known[] = { "create", "auth", "logout", "unblock", "init", "time",
		"client", "start", "update", "finish", "open", "status", "last-log", "selftest",
		"disable", "list", "csr", "import-cert", "export", "restore", "delete-exported", "serials", "cert" };
	int found = 0;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		found |= strcmp(known[i], op) == 0;
	if (!found) {
		fprintf(stderr, "siegel tse: unknown operation '%s' (see siegel --help)\n", op);
		return 2;
	}
	struct tse *t = NULL;
	rc = cli_open_tse(&t, &o);
	if (rc)
		return rc;
	struct siegel_diag d = { { 0 } };
	uint8_t *pd = NULL;
	size_t pd_len = 0;
	uint64_t txno = 0;
	struct tse_tx_result res;
	tse_tx_result_init(&res);

	if (strcmp(op, "create") == 0) {
		rc = tse_create(&o, t);
	} else if (strcmp(op, "status") == 0) {
		rc = print_status(&o, t);
	} else if (strcmp(op, "list") == 0) {
		json_t *arr = o.json ? json_array() : NULL;
		rc = tse_tss_list(t, list_cb, arr, &d);
		if (rc)
			rc = cli_error(&o, rc, &d);
		else if (arr)
			cli_print_json(arr);
	} else if (strcmp(op, "auth") == 0) {
		int remaining = 0;
		rc = tse_authenticate(t, o.tss, o.user ? o.user : TSE_USER_ADMIN, o.pin ? o.pin : "",
			&remaining, &d);
		if (rc) {
			if (o.json) {
				json_t *j = json_pack("{s:s,s:s,s:i}", "code", siegel_err_name(rc), "message",
					d.msg, "remaining_retries", remaining);
				cli_print_json(j);
				rc = 1;
			} else {
				rc = cli_error(&o, rc, &d);
			}
		} else {
			rc = ok_line(&o, "authenticated");
		}
	} else if (strcmp(op, "logout") == 0) {
		rc = tse_logout(t, o.tss, o.user ? o.user : TSE_USER_ADMIN, &d);
		rc = rc ? cli_error(&o, rc, &d) : ok_line(&o, "logged out");
	} else if (strcmp(op, "unblock") == 0) {
		rc = tse_unblock(t, o.tss, o.user ? o.user : TSE_USER_ADMIN, o.puk, o.new_pin, &d);
		rc = rc ? cli_error(&o, rc, &d) : ok_line(&o, "unblocked");
	} else if (strcmp(op, "init") == 0) {
		rc = tse_initialize(t, o.tss, o.description ? o.description : "", &d);
		rc = rc ? cli_error(&o, rc, &d) : ok_line(&o, "initialized");
	} else if (strcmp(op, "time") == 0) {
		struct tse_time_result tr;
		memset(&tr, 0, sizeof(tr));
		rc = tse_update_time(t, o.tss, &tr, &d);
		if (rc) {
			rc = cli_error(&o, rc, &d);
		} else if (o.json) {
			cli_print_json(json_pack("{s:I,s:I,s:s,s:f,s:f}", "time_before", (json_int_t)tr.before,
				"time_after", (json_int_t)tr.after, "server", tr.server, "offset", tr.offset,
				"delay", tr.delay));
		} else {
			printf("time set from %s: %lld (was %lld, offset %.3f s, delay %.3f s)\n", tr.server,
				(long long)tr.after, (long long)tr.before, tr.offset, tr.delay);
		}
	} else if (strcmp(op, "client") == 0) {
		if (o.n_pos != 2 || (strcmp(o.pos[0], "add") != 0 && strcmp(o.pos[0], "rm") != 0)) {
			fprintf(stderr, "siegel tse client: add ID | rm ID\n");
			rc = 2;
		} else if (strcmp(o.pos[0], "add") == 0) {
			rc = tse_register_client(t, o.tss, o.pos[1], &d);
			rc = rc ? cli_error(&o, rc, &d) : ok_line(&o, "client registered");
		} else {
			rc = tse_deregister_client(t, o.tss, o.pos[1], &d);
			rc = rc ? cli_error(&o, rc, &d) : ok_line(&o, "client deregistered");
		}
	} else if (strcmp(op, "start") == 0 || strcmp(op, "update") == 0 ||
		   strcmp(op, "finish") == 0) {
		rc = get_process_data(&o, &pd, &pd_len);
		if (rc == 0 && strcmp(op, "start") != 0)
			rc = parse_tx(&o, &txno);
		if (rc == 0 && o.client == NULL) {
			fprintf(stderr, "siegel: --client is required\n");
			rc = 2;
		}
		if (rc == 0) {
			if (strcmp(op, "start") == 0)
				rc = tse_start(t, o.tss, o.client, o.type, pd, pd_len, &res, &d);
			else if (strcmp(op, "update") == 0)
				rc = tse_update(t, o.tss, o.client, txno, o.type, pd, pd_len, &res, &d);
			else
				rc = tse_finish(t, o.tss, o.client, txno, o.type, pd, pd_len, &res, &d);
			if (rc)
				rc = cli_error(&o, rc, &d);
			else
				print_tx(&o, op, &res);
		}
	} else if (strcmp(op, "open") == 0) {
		struct open_print p = { o.json ? json_array() : NULL, o.json };
		rc = tse_open_transactions(t, o.tss, open_cb, &p, &d);
		if (rc)
			rc = cli_error(&o, rc, &d);
		else if (p.arr)
			cli_print_json(p.arr);
	} else if (strcmp(op, "last-log") == 0) {
		uint8_t *der = NULL;
		size_t n = 0;
		rc = tse_last_log(t, o.tss, &der, &n, &d);
		if (rc) {
			rc = cli_error(&o, rc, &d);
		} else if (o.out != NULL) {
			rc = siegel_write_file_atomic(o.out, der, n, 0644, &d);
			rc = rc ? cli_error(&o, rc, &d) : 0;
		} else if (o.json) {
			char *b = siegel_b64_encode(der, n);
			cli_print_json(json_pack("{s:s}", "log_message", b ? b : ""));
			free(b);
		} else {
			char *hex = malloc(2 * n + 1);
			if (hex) {
				siegel_hex_encode(hex, der, n);
				puts(hex);
			}
			free(hex);
		}
		free(der);
	} else if (strcmp(op, "selftest") == 0) {
		rc = tse_self_test(t, o.tss, &d);
		rc = rc ? cli_error(&o, rc, &d) : ok_line(&o, "self test passed");
	} else if (strcmp(op, "export") == 0 || strcmp(op, "restore") == 0 ||
		   strcmp(op, "delete-exported") == 0 || strcmp(op, "serials") == 0 ||
		   strcmp(op, "cert") == 0) {
		rc = cmd_tse_export(op, &o, t);
	} else if (strcmp(op, "csr") == 0) {
		struct siegel_buf pem;
		siegel_buf_init(&pem);
		rc = tse_make_csr(t, o.tss, &pem, &d);
		if (rc)
			rc = cli_error(&o, rc, &d);
		else if (o.out != NULL)
			rc = siegel_write_file_atomic(o.out, pem.data, pem.len, 0644, &d) ? cli_error(&o, SIEGEL_E_IO, &d) : 0;
		else
			fwrite(pem.data, 1, pem.len, stdout);
		siegel_buf_free(&pem);
	} else if (strcmp(op, "import-cert") == 0) {
		uint8_t *pem = NULL;
		size_t n = 0;
		if (o.pos[0] == NULL && o.data_file == NULL) {
			fprintf(stderr, "siegel tse import-cert: give the PEM bundle (leaf, intermediate, root) as FILE\n");
			rc = 2;
		} else if ((rc = siegel_read_file(&pem, &n, o.pos[0] ? o.pos[0] : o.data_file, (size_t)1 << 20, &d)) != 0) {
			rc = cli_error(&o, rc, &d);
		} else {
			rc = tse_import_cert(t, o.tss, pem, n, &d);
			rc = rc ? cli_error(&o, rc, &d) : ok_line(&o, "certificate chain imported");
		}
		free(pem);
	} else if (strcmp(op, "disable") == 0) {
		rc = tse_disable(t, o.tss, &d);
		rc = rc ? cli_error(&o, rc, &d) : ok_line(&o, "disabled");
	}
	free(pd);
	tse_tx_result_free(&res);
	tse_close(t);
	return rc;
}
