/* siegel serve end to end, in process: a real HTTPS client (libcurl) against
 * the service on 127.0.0.1 (free port), a SoftHSM2 token and a real NTP
 * server (chronyd on loopback).
 *   - a till's day: create TSS, admin auth, initialize, time sync, 2 clients,
 *     100 receipts with updates (every log signature verified with the
 *     certificate from GET certificates), open transactions, an export job
 *     (polled, downloaded, checked with siegel verify-export), filters and
 *     ErrorTooManyRecords, disable, an export after disable; restore of the
 *     downloaded TAR as a new TSS, a tampered TAR refused naming the member
 *   - isolation also for another tenant's export ids
 *   - idempotency: the same PUT 3x sequentially and 3x concurrently: one
 *     signature, the same answer
 *   - isolation: tenant B gets 404 for tenant A's TSS on every route
 *   - bad input: malformed JSON, wrong types, unknown fields, 10 MB body,
 *     no/wrong/expired token, wrong PIN, wrong method, TLS 1.0/1.1 clients;
 *     the server keeps serving
 *   - the OpenAPI document parses and has every route of the route table
 *   - metrics and the request log */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "http/http.h"
#include "http_client.h"
#include "logmsg/logmsg.h"
#include "tenant/tenant.h"
#include "../tse/tse_fixture.h"

static struct t_ntp ntp;
static const char *ntp_list[1];
static int port;
static char cafile[1024];
static struct tenant_creds ta, tb;

static EVP_PKEY *leaf_key; /* of tenant A's TSS "till" */
static char a_export_id[64]; /* an export of tenant A's TSS "till" */
static char tar_path[512];   /* its TAR, downloaded */
static uint64_t a_export_counter; /* the signature counter it ended with */

/* Checks a transaction answer: the log message decodes, verifies with the
 * TSS certificate, and matches the JSON fields. Returns the counter. */
static uint64_t check_tx_answer(json_t *o, const char *want_op)
{
	const char *b64 = json_string_value(json_object_get(o, "log_message"));
	CHECK(b64 != NULL);
	if (b64 == NULL)
		return 0;
	uint8_t *der = NULL;
	size_t len = 0;
	CHECK_OK(siegel_b64_decode(&der, &len, b64, strlen(b64), 0));
	struct logmsg m;
	struct siegel_diag d = { { 0 } };
	int rc = logmsg_parse(&m, der, len, &d);
	CHECK_OK(rc);
	uint64_t counter = 0;
	if (rc == 0) {
		CHECK(leaf_key != NULL && logmsg_verify(&m, leaf_key, 1) == 0);
		counter = m.signature_counter;
		json_t *sig = json_object_get(o, "signature");
		CHECK((uint64_t)json_integer_value(json_object_get(sig, "counter")) == counter);
		char *sv = siegel_b64_encode(m.signature.p, m.signature.len);
		CHECK_STR(json_string_value(json_object_get(sig, "value")), sv);
		free(sv);
		CHECK(m.transaction_number == (uint64_t)json_integer_value(json_object_get(o, "number")));
		CHECK(m.operation_type.len == strlen(want_op) &&
		      memcmp(m.operation_type.p, want_op, m.operation_type.len) == 0);
		/* the answer's fields are built from the TSE result, not from a
		 * parse of the log: they must still say what the log says */
		json_t *lg = json_object_get(o, "log");
		CHECK_STR(json_string_value(json_object_get(lg, "operation")), want_op);
		CHECK(json_integer_value(json_object_get(lg, "timestamp")) == m.log_time.unix_sec);
		CHECK_STR(json_string_value(json_object_get(lg, "timestamp_format")),
			logmsg_time_format_name(m.log_time.fmt));
		CHECK_STR(json_string_value(json_object_get(sig, "algorithm")), m.sig_alg_name);
		char serial[2 * ALG_SERIAL_LEN + 1] = "";
		if (m.serial_number.len == ALG_SERIAL_LEN)
			siegel_hex_encode(serial, m.serial_number.p, ALG_SERIAL_LEN);
		CHECK_STR(json_string_value(json_object_get(o, "tss_serial_number")), serial);
		const char *pt = json_string_value(json_object_get(o, "process_type"));
		if (m.has_process_type)
			CHECK(pt != NULL && strlen(pt) == m.process_type.len &&
			      memcmp(pt, m.process_type.p, m.process_type.len) == 0);
		else
			CHECK(pt == NULL);
		logmsg_clear(&m);
	}
	free(der);
	return counter;
}

static void load_leaf(struct hc *c, const char *tss)
{
	char path[256];
	snprintf(path, sizeof(path), "/api/v1/tss/%s/certificates", tss);
	CHECK(hc_req(c, "GET", path, NULL) == 200);
	json_t *certs = json_object_get(c->json, "certificates");
	CHECK(json_array_size(certs) == 3);
	const char *pem = json_string_value(json_array_get(certs, 0));
	BIO *bio = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	CHECK(x != NULL);
	EVP_PKEY_free(leaf_key);
	leaf_key = x ? X509_get_pubkey(x) : NULL;
	X509_free(x);
}

static uint64_t tss_counter(struct hc *c, const char *tss)
{
	char path[256];
	snprintf(path, sizeof(path), "/api/v1/tss/%s", tss);
	CHECK(hc_req(c, "GET", path, NULL) == 200);
	return (uint64_t)json_integer_value(json_object_get(c->json, "signature_counter"));
}

static long put_tx(struct hc *c, const char *tss, const char *tx, int rev, const char *state,
	const char *client, const char *type, const char *data_text)
{
	char path[256], body[1024], extra[700] = "";
	snprintf(path, sizeof(path), "/api/v1/tss/%s/tx/%s?revision=%d", tss, tx, rev);
	if (type)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			",\"process_type\":\"%s\"", type);
	if (data_text) {
		char *b = siegel_b64_encode((const uint8_t *)data_text, strlen(data_text));
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			",\"process_data\":\"%s\"", b);
		free(b);
	}
	snprintf(body, sizeof(body), "{\"state\":\"%s\",\"client_id\":\"%s\"%s}", state, client, extra);
	return hc_req(c, "PUT", path, body);
}

/* create + admin auth + initialize + clients + time */
static void setup_tss(struct hc *c, const char *tss)
{
	char path[256];
	snprintf(path, sizeof(path), "/api/v1/tss/%s", tss);
	CHECK(hc_req(c, "PUT", path,
		"{\"admin_pin\":\"12345\",\"admin_puk\":\"123456\",\"time_admin_pin\":\"54321\","
		"\"time_admin_puk\":\"654321\"}") == 201);
	CHECK_STR(hc_str(c, "state"), "UNINITIALIZED");
	CHECK(hc_req(c, "PUT", path, "{}") == 409);
	CHECK_STR(hc_code(c), "E_EXISTS");
	snprintf(path, sizeof(path), "/api/v1/tss/%s/admin/auth", tss);
	CHECK(hc_req(c, "POST", path, "{\"pin\":\"12345\"}") == 200);
	snprintf(path, sizeof(path), "/api/v1/tss/%s", tss);
	CHECK(hc_req(c, "PATCH", path, "{\"state\":\"INITIALIZED\",\"description\":\"Till 1\"}") == 200);
	CHECK_STR(hc_str(c, "state"), "INITIALIZED");
	for (int i = 1; i <= 2; i++) {
		snprintf(path, sizeof(path), "/api/v1/tss/%s/clients/KASSE-%d", tss, i);
		CHECK(hc_req(c, "PUT", path, NULL) == 200);
	}
	CHECK(put_tx(c, tss, "before-time", 1, "ACTIVE", "KASSE-1", NULL, NULL) == 503);
	CHECK_STR(hc_code(c), "ErrorTimeNotSet");
	snprintf(path, sizeof(path), "/api/v1/tss/%s/time", tss);
	CHECK(hc_req(c, "POST", path, NULL) == 200);
	CHECK_STR(hc_str(c, "server"), ntp.name);
}

/* ---- exports ---- */

/* POST …/exports with body; on 202 polls the job until it has finished and
 * returns its final state ("" on a transport problem); id_out gets the id. */
static const char *export_run(struct hc *c, const char *tss, const char *body, char *id_out,
	size_t id_cap)
{
	static char state[32];
	char path[256];
	state[0] = 0;
	snprintf(path, sizeof(path), "/api/v1/tss/%s/exports", tss);
	long st = hc_req(c, "POST", path, body);
	if (st != 202)
		fprintf(stderr, "POST %s %s -> %ld %s\n", path, body, st, c->body ? c->body : "");
	CHECK(st == 202);
	if (st != 202)
		return state;
	const char *id = hc_str(c, "id");
	CHECK(strlen(id) == 32);
	CHECK(strcmp(hc_str(c, "state"), "PENDING") == 0 || strcmp(hc_str(c, "state"), "WORKING") == 0 ||
	      strcmp(hc_str(c, "state"), "COMPLETED") == 0);
	snprintf(id_out, id_cap, "%s", id);
	snprintf(path, sizeof(path), "/api/v1/tss/%s/exports/%s", tss, id_out);
	for (int i = 0; i < 3000; i++) {
		if (hc_req(c, "GET", path, NULL) != 200)
			break;
		const char *s = hc_str(c, "state");
		if (strcmp(s, "COMPLETED") == 0 || strcmp(s, "ERROR") == 0) {
			snprintf(state, sizeof(state), "%s", s);
			break;
		}
		struct timespec ts = { 0, 10 * 1000000 };
		nanosleep(&ts, NULL);
	}
	CHECK(state[0] != 0);
	return state;
}

/* GET …/file into path; returns the status. */
static long export_download(struct hc *c, const char *tss, const char *id, const char *path)
{
	char url[256];
	snprintf(url, sizeof(url), "/api/v1/tss/%s/exports/%s/file", tss, id);
	long st = hc_req(c, "GET", url, NULL);
	if (st == 200) {
		char *ct = NULL;
		curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct);
		CHECK(ct != NULL && strcmp(ct, "application/x-tar") == 0);
		t_write(path, c->body, c->len);
	}
	return st;
}

/* Whether GET …/exports listed id (in state, unless NULL). */
static int list_has(json_t *list, const char *id, const char *state)
{
	json_t *arr = json_object_get(list, "exports");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *e = json_array_get(arr, i);
		const char *eid = json_string_value(json_object_get(e, "id"));
		const char *est = json_string_value(json_object_get(e, "state"));
		if (eid != NULL && strcmp(eid, id) == 0)
			return state == NULL || (est != NULL && strcmp(est, state) == 0);
	}
	return 0;
}

/* siegel verify-export FILE --json: result ok and `messages` logs. */
static void verify_export(const char *path, uint64_t messages)
{
	char *out = NULL;
	int rc = t_run(&out, "'%s' verify-export '%s' --json", t_siegel_bin(), path);
	CHECK(rc == 0);
	json_t *j = out ? json_loads(out, 0, NULL) : NULL;
	CHECK(j != NULL);
	CHECK_STR(json_string_value(json_object_get(j, "result")), "ok");
	uint64_t n = (uint64_t)json_integer_value(json_object_get(j, "messages"));
	if (n != messages)
		fprintf(stderr, "verify-export %s: %llu messages, want %llu\n", path,
			(unsigned long long)n, (unsigned long long)messages);
	CHECK(n == messages);
	json_decref(j);
	free(out);
}

/* Export of "till" while it is INITIALIZED (no admin login needed), the
 * filters, and the download checked by siegel verify-export. */
static void test_export(struct hc *c, uint64_t counter)
{
	char id[64], path[256];
	/* no login needed */
	CHECK(hc_req(c, "POST", "/api/v1/tss/till/admin/logout", NULL) == 200);
	counter++; /* logOut is logged */
	CHECK_STR(export_run(c, "till", "{}", id, sizeof(id)), "COMPLETED");
	CHECK((uint64_t)json_integer_value(json_object_get(c->json, "logs")) == counter);
	json_t *pr = json_object_get(c->json, "progress");
	CHECK((uint64_t)json_integer_value(json_object_get(pr, "logs_written")) == counter);
	CHECK((uint64_t)json_integer_value(json_object_get(pr, "logs_total")) == counter);
	CHECK((uint64_t)json_integer_value(json_object_get(c->json, "last_signature_counter")) == counter);
	snprintf(a_export_id, sizeof(a_export_id), "%s", id);
	a_export_counter = counter;
	snprintf(tar_path, sizeof(tar_path), "%s/till-1.tar", t_tmpdir());
	CHECK(export_download(c, "till", id, tar_path) == 200);
	verify_export(tar_path, counter);
	/* HEAD of the file */
	snprintf(path, sizeof(path), "/api/v1/tss/till/exports/%s/file", id);
	curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	CHECK(hc_req(c, "HEAD", path, NULL) == 200);
	curl_easy_setopt(c->curl, CURLOPT_NOBODY, 0L);

	/* filters: one transaction (3 logs); a range of one client */
	CHECK_STR(export_run(c, "till", "{\"transaction_number\":5}", id, sizeof(id)), "COMPLETED");
	CHECK(json_integer_value(json_object_get(c->json, "logs")) == 3);
	char p2[512];
	snprintf(p2, sizeof(p2), "%s/till-tx5.tar", t_tmpdir());
	CHECK(export_download(c, "till", id, p2) == 200);
	verify_export(p2, 3);
	CHECK_STR(export_run(c, "till", "{\"start_transaction_number\":1,\"end_transaction_number\":10,"
		"\"client_id\":\"KASSE-1\"}", id, sizeof(id)), "COMPLETED");
	CHECK(json_integer_value(json_object_get(c->json, "logs")) == 15);
	/* too many records: the job ends in ERROR, its file is 409 */
	CHECK_STR(export_run(c, "till", "{\"maximum_number_records\":10}", id, sizeof(id)), "ERROR");
	CHECK_STR(json_string_value(json_object_get(json_object_get(c->json, "error"), "code")),
		"ErrorTooManyRecords");
	CHECK(export_download(c, "till", id, p2) == 409);
	CHECK_STR(hc_code(c), "E_STATE");
	/* nothing since the full export above (incremental continues after it) */
	CHECK_STR(export_run(c, "till", "{\"incremental\":true}", id, sizeof(id)), "ERROR");
	CHECK_STR(json_string_value(json_object_get(json_object_get(c->json, "error"), "code")),
		"ErrorNoDataAvailable");
	/* refused up front */
	CHECK(hc_req(c, "POST", "/api/v1/tss/till/exports",
		"{\"transaction_number\":5,\"start_transaction_number\":1}") == 400);
	CHECK_STR(hc_code(c), "ErrorParameterMismatch");
	CHECK(hc_req(c, "POST", "/api/v1/tss/till/exports", "{\"start_date\":10,\"end_date\":5}") == 400);
	CHECK(hc_req(c, "POST", "/api/v1/tss/till/exports", "{\"format\":\"zip\"}") == 400);
	CHECK_STR(hc_code(c), "E_UNKNOWN_FIELD");
	CHECK(hc_req(c, "POST", "/api/v1/tss/till/exports", "{\"incremental\":1}") == 400);
	CHECK_STR(hc_code(c), "E_TYPE");
	CHECK(hc_req(c, "POST", "/api/v1/tss/nothere/exports", "{}") == 404);
	/* unknown ids */
	CHECK(hc_req(c, "GET", "/api/v1/tss/till/exports/0123456789abcdef0123456789abcdef", NULL) == 404);
	CHECK(hc_req(c, "GET", "/api/v1/tss/till/exports/..%2F..%2Fsiegel.db/file", NULL) == 404);
	/* another TSS of the same tenant does not see the job */
	snprintf(path, sizeof(path), "/api/v1/tss/idem/exports/%s", a_export_id);
	CHECK(hc_req(c, "GET", path, NULL) == 404);
	/* the list has every job of the TSS; a finished one can be deleted with
	 * its TAR (the logs stay) */
	CHECK(hc_req(c, "GET", "/api/v1/tss/till/exports", NULL) == 200);
	CHECK(list_has(c->json, a_export_id, "COMPLETED"));
	CHECK(list_has(c->json, id, "ERROR")); /* the incremental one above */
	json_int_t listed = json_integer_value(json_object_get(c->json, "count"));
	CHECK(listed >= 5 && (size_t)listed == json_array_size(json_object_get(c->json, "exports")));
	CHECK_STR(export_run(c, "till", "{\"transaction_number\":5}", id, sizeof(id)), "COMPLETED");
	snprintf(path, sizeof(path), "/api/v1/tss/till/exports/%s", id);
	CHECK(hc_req(c, "DELETE", path, NULL) == 200);
	CHECK(hc_req(c, "GET", path, NULL) == 404);
	CHECK(export_download(c, "till", id, p2) == 404);
	CHECK(hc_req(c, "DELETE", path, NULL) == 404);
	CHECK(hc_req(c, "GET", "/api/v1/tss/till/exports", NULL) == 200);
	CHECK(!list_has(c->json, id, NULL));
	CHECK(json_integer_value(json_object_get(c->json, "count")) == listed);
	CHECK(hc_req(c, "DELETE", "/api/v1/tss/till/exports/0123456789abcdef0123456789abcdef", NULL) == 404);
	CHECK(hc_req(c, "DELETE", "/api/v1/tss/till/exports/..%2F..%2Fsiegel.db", NULL) == 404);
	snprintf(path, sizeof(path), "/api/v1/tss/idem/exports/%s", a_export_id);
	CHECK(hc_req(c, "DELETE", path, NULL) == 404); /* not under another TSS */
	CHECK(hc_req(c, "GET", "/api/v1/tss/till/logs/last", NULL) == 200);
	CHECK(hc_req(c, "POST", "/api/v1/tss/till/admin/auth", "{\"pin\":\"12345\"}") == 200);
}

/* Restore: the downloaded TAR as a new TSS; a tampered copy is refused. */
static void test_restore(struct hc *c, uint64_t counter)
{
	size_t len = 0;
	uint8_t *tar = t_read(tar_path, &len);
	CHECK(hc_req_len(c, "POST", "/api/v1/tss/till-copy/restore", (const char *)tar, (long)len) == 201);
	CHECK_STR(hc_str(c, "state"), "DISABLED");
	CHECK((uint64_t)json_integer_value(json_object_get(c->json, "signature_counter")) == counter);
	CHECK((uint64_t)json_integer_value(json_object_get(json_object_get(c->json, "restored"), "logs")) ==
	      counter);
	/* the restored TSS is an archive: it exports, it does not sign */
	char id[64], p[512];
	CHECK_STR(export_run(c, "till-copy", "{}", id, sizeof(id)), "COMPLETED");
	snprintf(p, sizeof(p), "%s/till-copy.tar", t_tmpdir());
	CHECK(export_download(c, "till-copy", id, p) == 200);
	verify_export(p, counter);
	CHECK(put_tx(c, "till-copy", "r-1", 1, "ACTIVE", "KASSE-1", NULL, NULL) >= 400);
	/* only into a new TSS id */
	CHECK(hc_req_len(c, "POST", "/api/v1/tss/till-copy/restore", (const char *)tar, (long)len) == 409);
	CHECK_STR(hc_code(c), "E_EXISTS");
	CHECK(hc_req_len(c, "POST", "/api/v1/tss/till/restore", (const char *)tar, (long)len) == 409);
	CHECK(hc_req(c, "POST", "/api/v1/tss/empty/restore", NULL) == 400);
	CHECK(hc_req(c, "POST", "/api/v1/tss/junk/restore", "not a tar archive at all") == 400);
	CHECK(hc_req(c, "GET", "/api/v1/tss/junk", NULL) == 404);
	/* a tampered TAR: the last byte (in the signature) of a .log member flipped */
	char member[101] = "";
	for (size_t off = 0; off + 512 <= len;) {
		const char *h = (const char *)tar + off;
		if (h[0] == 0)
			break;
		size_t size = (size_t)strtoull(h + 124, NULL, 8);
		size_t nl = strnlen(h, 100);
		if (nl > 4 && memcmp(h + nl - 4, ".log", 4) == 0 && size > 0 && member[0] == 0 &&
		    strstr(h, "Log-Tra") != NULL && off > 20 * 512) {
			memcpy(member, h, nl);
			member[nl] = 0;
			tar[off + 512 + size - 1] ^= 0x01;
		}
		off += 512 + (size + 511) / 512 * 512;
	}
	CHECK(member[0] != 0);
	CHECK(hc_req_len(c, "POST", "/api/v1/tss/tampered/restore", (const char *)tar, (long)len) == 400);
	const char *msg = hc_str(c, "message");
	if (strstr(msg, member) == NULL)
		fprintf(stderr, "tampered restore: message '%s' does not name %s\n", msg, member);
	CHECK(strstr(msg, member) != NULL);
	CHECK(hc_req(c, "GET", "/api/v1/tss/tampered", NULL) == 404);
	CHECK(hc_req(c, "GET", "/api/v1/tss/tampered/logs/last", NULL) == 404);
	free(tar);
}

static void test_day(struct hc *c)
{
	const char *tss = "till";
	setup_tss(c, tss);
	load_leaf(c, tss);
	uint64_t last = tss_counter(c, tss);
	for (int i = 0; i < 100; i++) {
		char tx[32], item[64];
		snprintf(tx, sizeof(tx), "rcpt-%03d", i);
		const char *client = i % 2 ? "KASSE-2" : "KASSE-1";
		CHECK(put_tx(c, tss, tx, 1, "ACTIVE", client, NULL, NULL) == 200);
		CHECK(check_tx_answer(c->json, "StartTransaction") == ++last);
		snprintf(item, sizeof(item), "Brot %d", i);
		CHECK(put_tx(c, tss, tx, 2, "ACTIVE", client, "Kassenbeleg-V1", item) == 200);
		CHECK(check_tx_answer(c->json, "UpdateTransaction") == ++last);
		if (i % 10 == 9) {
			CHECK(put_tx(c, tss, tx, 3, "CANCELLED", client, NULL, NULL) == 200);
			CHECK_STR(hc_str(c, "state"), "CANCELLED");
		} else {
			CHECK(put_tx(c, tss, tx, 3, "FINISHED", client, "Kassenbeleg-V1",
				"Beleg^2.50_0.00_0.00_0.00_0.00^2.50:Bar") == 200);
			CHECK_STR(hc_str(c, "state"), "FINISHED");
		}
		CHECK(check_tx_answer(c->json, "FinishTransaction") == ++last);
		CHECK(strncmp(hc_str(c, "qr_code_data"), "V0;KASSE-", 9) == 0);
		if (i == 50) {
			/* GET tx returns the stored answer of the latest revision */
			char *fin = strdup(c->body);
			char path[128];
			snprintf(path, sizeof(path), "/api/v1/tss/%s/tx/%s", tss, tx);
			CHECK(hc_req(c, "GET", path, NULL) == 200);
			CHECK_STR(c->body, fin);
			free(fin);
			/* a finished transaction takes no further revision */
			CHECK(put_tx(c, tss, tx, 4, "ACTIVE", client, NULL, NULL) == 409);
			CHECK_STR(hc_code(c), "ErrorNoTransaction");
		}
	}
	CHECK(tss_counter(c, tss) == last);
	/* open transactions */
	CHECK(put_tx(c, tss, "open-1", 1, "ACTIVE", "KASSE-1", "Kassenbeleg-V1", NULL) == 200);
	last++;
	CHECK(hc_req(c, "GET", "/api/v1/tss/till/tx?state=ACTIVE", NULL) == 200);
	CHECK(json_integer_value(json_object_get(c->json, "count")) == 1);
	CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(c->json, "data"), 0),
		"tx_id")), "open-1");
	CHECK(hc_req(c, "GET", "/api/v1/tss/till/tx?state=FINISHED", NULL) == 400);
	CHECK(hc_req(c, "GET", "/api/v1/tss/till/tx/nope", NULL) == 404);
	CHECK_STR(hc_code(c), "E_NOT_FOUND");
	/* readLogMessage */
	CHECK(hc_req(c, "GET", "/api/v1/tss/till/logs/last", NULL) == 200);
	CHECK((uint64_t)json_integer_value(json_object_get(c->json, "signature_counter")) == last);
	CHECK_STR(hc_str(c, "operation"), "StartTransaction");
	CHECK(hc_req(c, "GET", "/api/v1/tss", NULL) == 200);
	CHECK(json_integer_value(json_object_get(c->json, "count")) >= 1);
	CHECK(hc_req(c, "POST", "/api/v1/tss/till/selftest", NULL) == 200);
	/* export: the whole day, checked by siegel verify-export */
	test_export(c, tss_counter(c, tss));
	/* disable: no more signatures */
	CHECK(hc_req(c, "PATCH", "/api/v1/tss/till", "{\"state\":\"DISABLED\"}") == 200);
	CHECK_STR(hc_str(c, "state"), "DISABLED");
	CHECK(put_tx(c, tss, "after-disable", 1, "ACTIVE", "KASSE-1", NULL, NULL) == 409);
	CHECK_STR(hc_code(c), "ErrorSecureElementDisabled");
	CHECK(hc_req(c, "GET", "/api/v1/tss/till/certificates", NULL) == 200);
	/* exports still work after disable (TR-03153-1 3.8); they never need a
	 * login (test_export logs out first) */
	uint64_t counter = tss_counter(c, tss);
	char id[64], p[512];
	/* incremental: what was signed after the full export (logins, disable) */
	CHECK_STR(export_run(c, tss, "{\"incremental\":true}", id, sizeof(id)), "COMPLETED");
	CHECK((uint64_t)json_integer_value(json_object_get(c->json, "logs")) == counter - a_export_counter);
	CHECK((uint64_t)json_integer_value(json_object_get(c->json, "first_signature_counter")) ==
	      a_export_counter + 1);
	CHECK_STR(export_run(c, tss, "{}", id, sizeof(id)), "COMPLETED");
	snprintf(p, sizeof(p), "%s/till-disabled.tar", t_tmpdir());
	CHECK(export_download(c, tss, id, p) == 200);
	verify_export(p, counter);
	test_restore(c, a_export_counter);
}

/* ---- idempotency ---- */

struct conc_arg {
	const char *token;
	const char *path, *body;
	pthread_barrier_t *bar;
	long status;
	char *answer;
};

static void *conc_put(void *v)
{
	struct conc_arg *a = v;
	struct hc c;
	hc_init(&c, port, cafile);
	snprintf(c.token, sizeof(c.token), "%s", a->token);
	/* connect first, so the PUTs leave together */
	hc_req(&c, "GET", "/api/v1/health", NULL);
	pthread_barrier_wait(a->bar);
	a->status = hc_req(&c, "PUT", a->path, a->body);
	a->answer = c.body ? strdup(c.body) : NULL;
	hc_free(&c);
	return NULL;
}

static void test_idempotency(struct hc *c)
{
	const char *tss = "idem";
	setup_tss(c, tss);
	load_leaf(c, tss);
	uint64_t before = tss_counter(c, tss);
	char *first = NULL;
	for (int i = 0; i < 3; i++) {
		CHECK(put_tx(c, tss, "same-1", 1, "ACTIVE", "KASSE-1", "Kassenbeleg-V1", "x") == 200);
		if (i == 0)
			first = strdup(c->body);
		else
			CHECK_STR(c->body, first);
	}
	free(first);
	CHECK(tss_counter(c, tss) == before + 1);
	/* revision 2, then revision 1 again: its own stored answer, nothing
	 * signed; GET answers with the latest revision */
	CHECK(put_tx(c, tss, "same-1", 2, "ACTIVE", "KASSE-1", "Kassenbeleg-V1", "z") == 200);
	char *second = strdup(c->body);
	CHECK(put_tx(c, tss, "same-1", 1, "ACTIVE", "KASSE-1", "Kassenbeleg-V1", "x") == 200);
	CHECK(strstr(c->body, "\"revision\":1,") != NULL);
	CHECK(tss_counter(c, tss) == before + 2);
	CHECK(hc_req(c, "GET", "/api/v1/tss/idem/tx/same-1", NULL) == 200);
	CHECK_STR(c->body, second);
	free(second);
	before++;
	/* the same txId+revision with another body; a skipped revision */
	CHECK(put_tx(c, tss, "same-1", 1, "ACTIVE", "KASSE-1", "Kassenbeleg-V1", "y") == 409);
	CHECK_STR(hc_code(c), "E_IDEMPOTENCY");
	CHECK(put_tx(c, tss, "same-1", 4, "FINISHED", "KASSE-1", "Kassenbeleg-V1", "y") == 409);
	CHECK_STR(hc_code(c), "E_REVISION");
	CHECK(put_tx(c, tss, "never", 2, "ACTIVE", "KASSE-1", NULL, NULL) == 409);
	CHECK_STR(hc_code(c), "E_REVISION");
	CHECK(tss_counter(c, tss) == before + 1);

	/* concurrently: start, then finish, 3 identical PUTs each */
	const char *paths[2] = { "/api/v1/tss/idem/tx/conc-1?revision=1",
		"/api/v1/tss/idem/tx/conc-1?revision=2" };
	const char *bodies[2] = { "{\"state\":\"ACTIVE\",\"client_id\":\"KASSE-2\"}",
		"{\"state\":\"FINISHED\",\"client_id\":\"KASSE-2\",\"process_type\":\"Kassenbeleg-V1\","
		"\"process_data\":\"QmVsZWc=\"}" };
	for (int step = 0; step < 2; step++) {
		before = tss_counter(c, tss);
		pthread_barrier_t bar;
		pthread_barrier_init(&bar, NULL, 3);
		struct conc_arg a[3];
		pthread_t th[3];
		for (int i = 0; i < 3; i++) {
			a[i] = (struct conc_arg){ c->token, paths[step], bodies[step], &bar, 0, NULL };
			pthread_create(&th[i], NULL, conc_put, &a[i]);
		}
		for (int i = 0; i < 3; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&bar);
		for (int i = 0; i < 3; i++) {
			CHECK(a[i].status == 200);
			CHECK(a[i].answer != NULL && a[0].answer != NULL && strcmp(a[i].answer, a[0].answer) == 0);
		}
		json_t *o = a[0].answer ? json_loads(a[0].answer, 0, NULL) : NULL;
		check_tx_answer(o, step ? "FinishTransaction" : "StartTransaction");
		json_decref(o);
		for (int i = 0; i < 3; i++)
			free(a[i].answer);
		CHECK(tss_counter(c, tss) == before + 1);
	}
}

/* ---- isolation ---- */

static void test_isolation(struct hc *b)
{
	/* tenant B sees none of tenant A's TSS "till" and "idem" */
	CHECK(hc_req(b, "GET", "/api/v1/tss", NULL) == 200);
	CHECK(json_integer_value(json_object_get(b->json, "count")) == 0);
	for (size_t i = 0; i < http_route_count(); i++) {
		const char *method, *path, *name;
		http_route_describe(i, &method, &path, &name);
		/* PUT and restore create a TSS in B's own namespace */
		if (strstr(path, "{tssId}") == NULL || strcmp(name, "tss_put") == 0 ||
		    strcmp(name, "tss_restore") == 0)
			continue;
		char url[512] = "";
		for (const char *p = path; *p;) {
			if (*p == '{') {
				const char *e = strchr(p, '}');
				const char *val = strncmp(p, "{tssId}", 7) == 0 ? "idem"
						  : strncmp(p, "{clientId}", 10) == 0 ? "KASSE-1"
						  : strncmp(p, "{txId}", 6) == 0 ? "conc-1" : "x1";
				strcat(url, val);
				p = e + 1;
			} else {
				size_t l = strlen(url);
				url[l] = *p++;
				url[l + 1] = 0;
			}
		}
		const char *body = NULL;
		if (strcmp(name, "tss_patch") == 0)
			body = "{\"state\":\"DISABLED\"}";
		else if (strcmp(name, "tss_admin_auth") == 0)
			body = "{\"pin\":\"12345\"}";
		else if (strcmp(name, "tss_admin_unblock") == 0)
			body = "{\"puk\":\"123456\",\"new_pin\":\"11111\"}";
		else if (strcmp(name, "tss_tx_put") == 0) {
			strcat(url, "?revision=3");
			body = "{\"state\":\"FINISHED\",\"client_id\":\"KASSE-2\",\"process_type\":\"X\"}";
		} else if (strcmp(name, "tss_exports_post") == 0)
			body = "{}";
		long st = hc_req(b, method, url, body);
		if (st != 404)
			fprintf(stderr, "isolation: %s %s -> %ld %s\n", method, url, st, b->body ? b->body : "");
		CHECK(st == 404);
	}
	/* nor start a transaction there (revision 1: the TSE's own 404) */
	CHECK(hc_req(b, "PUT", "/api/v1/tss/idem/tx/b-start?revision=1",
		"{\"state\":\"ACTIVE\",\"client_id\":\"KASSE-1\"}") == 404);
	CHECK_STR(hc_code(b), "E_NOT_FOUND");
	/* A's export job: B can neither start, read nor download one */
	char url[256];
	CHECK(hc_req(b, "POST", "/api/v1/tss/till/exports", "{}") == 404);
	snprintf(url, sizeof(url), "/api/v1/tss/till/exports/%s", a_export_id);
	CHECK(hc_req(b, "GET", url, NULL) == 404);
	snprintf(url, sizeof(url), "/api/v1/tss/till/exports/%s/file", a_export_id);
	CHECK(hc_req(b, "GET", url, NULL) == 404);
	/* B may have its own TSS of the same name; A's is untouched */
	CHECK(hc_req(b, "PUT", "/api/v1/tss/idem", "{}") == 201);
	CHECK(json_string_value(json_object_get(b->json, "admin_pin")) != NULL);
	CHECK_STR(hc_str(b, "state"), "UNINITIALIZED");
	/* nor with A's export id under B's own TSS */
	snprintf(url, sizeof(url), "/api/v1/tss/idem/exports/%s", a_export_id);
	CHECK(hc_req(b, "GET", url, NULL) == 404);
	snprintf(url, sizeof(url), "/api/v1/tss/idem/exports/%s/file", a_export_id);
	CHECK(hc_req(b, "GET", url, NULL) == 404);
}

/* deleteStoredData over HTTP: admin only, nothing before an export, then
 * exactly the exported logs; the deletion is itself logged and exported. */
static void test_delete_stored(struct hc *c)
{
	const char *url = "/api/v1/tss/idem/logs";
	CHECK(hc_req(c, "POST", "/api/v1/tss/idem/admin/logout", NULL) == 200 ||
	      strcmp(hc_code(c), "ErrorUserNotAuthenticated") == 0);
	CHECK(hc_req(c, "DELETE", url, NULL) == 403);
	CHECK_STR(hc_code(c), "ErrorUserNotAuthenticated");
	CHECK(hc_req(c, "POST", "/api/v1/tss/idem/admin/auth", "{\"pin\":\"12345\"}") == 200);
	CHECK(hc_req(c, "DELETE", url, "{\"all\":true}") == 400); /* no body fields */
	CHECK(hc_req(c, "DELETE", url, NULL) == 409);
	CHECK_STR(hc_code(c), "ErrorUnexportedStoredData");
	uint64_t before = tss_counter(c, "idem");
	char id[64], p[512];
	CHECK_STR(export_run(c, "idem", "{}", id, sizeof(id)), "COMPLETED");
	uint64_t exported = (uint64_t)json_integer_value(json_object_get(c->json, "logs"));
	CHECK(exported == before);
	CHECK(hc_req(c, "DELETE", url, NULL) == 200);
	CHECK((uint64_t)json_integer_value(json_object_get(c->json, "deleted")) == exported);
	/* what is left: the deleteStoredData log, next in the counter */
	CHECK(hc_req(c, "GET", "/api/v1/tss/idem/logs/last", NULL) == 200);
	CHECK((uint64_t)json_integer_value(json_object_get(c->json, "signature_counter")) == before + 1);
	CHECK_STR(export_run(c, "idem", "{}", id, sizeof(id)), "COMPLETED");
	CHECK(json_integer_value(json_object_get(c->json, "logs")) == 1);
	snprintf(p, sizeof(p), "%s/idem-after-delete.tar", t_tmpdir());
	CHECK(export_download(c, "idem", id, p) == 200);
	verify_export(p, 1);
	CHECK(hc_req(c, "DELETE", "/api/v1/tss/nothere/logs", NULL) == 404);
}

/* ---- bad input ---- */

static void test_bad_input(struct hc *c, struct t_shift_clock *tclk)
{
	const char *p = "/api/v1/tss/idem/tx/bad-1?revision=1";
	CHECK(hc_req(c, "PUT", p, "{\"state\":\"ACTIVE\",") == 400);
	CHECK_STR(hc_code(c), "E_JSON");
	CHECK(hc_req(c, "PUT", p, "[1,2]") == 400);
	CHECK_STR(hc_code(c), "E_JSON");
	CHECK(hc_req(c, "PUT", p, "{\"state\":1,\"client_id\":\"KASSE-1\"}") == 400);
	CHECK_STR(hc_code(c), "E_TYPE");
	CHECK(hc_req(c, "PUT", p, "{\"state\":\"ACTIVE\",\"client_id\":\"KASSE-1\",\"amount\":5}") == 400);
	CHECK_STR(hc_code(c), "E_UNKNOWN_FIELD");
	CHECK(hc_req(c, "PUT", p, "{\"client_id\":\"KASSE-1\"}") == 400);
	CHECK_STR(hc_code(c), "E_MISSING_FIELD");
	CHECK(hc_req(c, "PUT", p, "{\"state\":\"ACTIVE\",\"client_id\":\"KASSE-1\",\"process_data\":\"***\"}") == 400);
	CHECK_STR(hc_code(c), "E_BAD_VALUE");
	CHECK(hc_req(c, "PUT", "/api/v1/tss/idem/tx/bad-1", "{\"state\":\"ACTIVE\",\"client_id\":\"KASSE-1\"}") == 400);
	CHECK_STR(hc_code(c), "E_MISSING_FIELD");
	CHECK(hc_req(c, "PUT", "/api/v1/tss/idem/tx/bad-1?revision=abc", "{\"state\":\"ACTIVE\",\"client_id\":\"KASSE-1\"}") == 400);
	CHECK(hc_req(c, "PUT", p, "{\"state\":\"ACTIVE\",\"client_id\":\"KASSE-1\",\"state\":\"ACTIVE\"}") == 400);
	CHECK(hc_req(c, "PUT", p, "{\"state\":\"ACTIVE\",\"client_id\":\"NOPE\"}") == 409);
	CHECK_STR(hc_code(c), "ErrorClientNotRegistered");
	/* 10 MB body */
	size_t big_len = 10u << 20;
	char *big = malloc(big_len + 1);
	memset(big, ' ', big_len);
	big[0] = '{';
	big[big_len - 1] = '}';
	big[big_len] = 0;
	long st413 = hc_req_len(c, "PUT", p, big, (long)big_len);
	if (st413 != 413)
		fprintf(stderr, "10 MB body: status %ld curl %d (%s) body %s\n", st413, (int)c->cc,
			curl_easy_strerror(c->cc), c->body ? c->body : "");
	CHECK(st413 == 413);
	CHECK_STR(hc_code(c), "E_BODY_TOO_LARGE");
	free(big);
	/* wrong PIN */
	CHECK(hc_req(c, "POST", "/api/v1/tss/idem/admin/auth", "{\"pin\":\"99999\"}") == 403);
	CHECK_STR(hc_code(c), "ErrorAuthenticationFailed");
	CHECK(hc_req(c, "POST", "/api/v1/tss/idem/admin/auth", "{\"pin\":12345}") == 400);
	CHECK_STR(hc_code(c), "E_TYPE");
	CHECK(hc_req(c, "POST", "/api/v1/tss/idem/admin/auth", "{\"user_id\":\"root\",\"pin\":\"12345\"}") == 400);
	CHECK_STR(hc_code(c), "ErrorUnknownUserId");
	/* routes and methods */
	CHECK(hc_req(c, "GET", "/api/v1/nothing", NULL) == 404);
	CHECK_STR(hc_code(c), "E_NOT_FOUND");
	CHECK(hc_req(c, "POST", "/api/v1/tss/idem", "{}") == 405);
	CHECK_STR(hc_code(c), "E_METHOD");
	CHECK(hc_req(c, "PUT", "/api/v1/tss/bad%20id", "{}") == 400);
	/* tokens: none, wrong, expired */
	char saved[128];
	snprintf(saved, sizeof(saved), "%s", c->token);
	c->token[0] = 0;
	CHECK(hc_req(c, "GET", "/api/v1/tss/idem", NULL) == 401);
	CHECK_STR(hc_code(c), "E_UNAUTHORIZED");
	/* a raw upload (restore) is refused before its body is spooled */
	CHECK(hc_req(c, "POST", "/api/v1/tss/anon/restore", "not a tar, and no token") == 401);
	CHECK_STR(hc_code(c), "E_UNAUTHORIZED");
	snprintf(c->token, sizeof(c->token), "%064d", 7);
	CHECK(hc_req(c, "GET", "/api/v1/tss/idem", NULL) == 401);
	CHECK_STR(hc_code(c), "E_UNAUTHORIZED");
	snprintf(c->token, sizeof(c->token), "%s", saved);
	tclk->shift = TENANT_DEFAULT_TOKEN_TTL + 1;
	CHECK(hc_req(c, "GET", "/api/v1/tss/idem", NULL) == 401);
	CHECK_STR(hc_code(c), "E_TOKEN_EXPIRED");
	tclk->shift = 0;
	CHECK(hc_req(c, "GET", "/api/v1/tss/idem", NULL) == 200);
	/* wrong API credentials */
	struct hc x;
	hc_init(&x, port, cafile);
	CHECK(hc_login(&x, ta.api_key, tb.api_secret) == 401);
	CHECK_STR(hc_code(&x), "E_BAD_CREDENTIALS");
	CHECK(hc_req(&x, "POST", "/api/v1/auth", "{\"api_key\":\"k\"}") == 400);
	hc_free(&x);
	/* TLS 1.0 and 1.1 are refused; 1.2 and 1.3 work */
	static const char *const bad[] = { "-tls1", "-tls1_1" };
	for (int i = 0; i < 2; i++)
		CHECK(t_run(NULL, "echo | openssl s_client -connect 127.0.0.1:%d %s -cipher "
			"'DEFAULT:@SECLEVEL=0' >/dev/null 2>&1", port, bad[i]) != 0);
	CHECK(t_run(NULL, "echo | openssl s_client -connect 127.0.0.1:%d -tls1_2 >/dev/null 2>&1", port) == 0);
	CHECK(t_run(NULL, "echo | openssl s_client -connect 127.0.0.1:%d -tls1_3 >/dev/null 2>&1", port) == 0);
	/* a weak cipher suite is refused even with TLS 1.2 */
	CHECK(t_run(NULL, "echo | openssl s_client -connect 127.0.0.1:%d -tls1_2 -cipher AES128-SHA "
		">/dev/null 2>&1", port) != 0);
	/* still serving */
	CHECK(hc_req(c, "GET", "/api/v1/health", NULL) == 200);
	CHECK(hc_req(c, "GET", "/api/v1/tss/idem", NULL) == 200);
}

/* ---- OpenAPI ---- */

static void test_openapi(struct hc *c)
{
	CHECK(hc_req(c, "GET", "/api/v1/openapi.json", NULL) == 200);
	json_t *doc = c->json;
	CHECK(doc != NULL);
	if (doc == NULL)
		return;
	CHECK(strncmp(hc_str(c, "openapi"), "3.0", 3) == 0);
	CHECK(json_is_object(json_object_get(doc, "info")));
	CHECK(json_is_string(json_object_get(json_object_get(doc, "info"), "title")));
	json_t *paths = json_object_get(doc, "paths");
	CHECK(json_is_object(paths));
	size_t n_ops = 0;
	const char *k;
	json_t *item;
	json_object_foreach(paths, k, item) {
		CHECK(k[0] == '/');
		const char *m;
		json_t *op;
		json_object_foreach(item, m, op) {
			n_ops++;
			CHECK(json_is_object(json_object_get(op, "responses")));
			CHECK(json_object_size(json_object_get(op, "responses")) >= 1);
			/* every {param} of the path is declared */
			for (const char *p = strchr(k, '{'); p; p = strchr(p + 1, '{')) {
				size_t l = (size_t)(strchr(p, '}') - p - 1);
				int found = 0;
				size_t i;
				json_t *par;
				json_array_foreach(json_object_get(op, "parameters"), i, par) {
					const char *pn = json_string_value(json_object_get(par, "name"));
					if (pn && strlen(pn) == l && strncmp(pn, p + 1, l) == 0 &&
					    strcmp(json_string_value(json_object_get(par, "in")), "path") == 0)
						found = 1;
				}
				CHECK(found);
			}
		}
	}
	CHECK(n_ops == http_route_count());
	for (size_t i = 0; i < http_route_count(); i++) {
		const char *method, *path, *name;
		http_route_describe(i, &method, &path, &name);
		char lower[16];
		size_t j;
		for (j = 0; method[j] && j < 15; j++)
			lower[j] = (char)tolower((unsigned char)method[j]);
		lower[j] = 0;
		json_t *op = json_object_get(json_object_get(paths, path), lower);
		if (op == NULL)
			fprintf(stderr, "OpenAPI misses %s %s\n", method, path);
		CHECK(op != NULL);
		CHECK_STR(json_string_value(json_object_get(op, "operationId")), name);
	}
	CHECK(json_is_object(json_object_get(json_object_get(json_object_get(doc, "components"),
		"schemas"), "Error")));
}

static void test_metrics(struct hc *c, const char *logpath)
{
	CHECK(hc_req(c, "GET", "/metrics", NULL) == 200);
	CHECK(c->body && strstr(c->body, "siegel_http_requests_total{route=\"tss_tx_put\",status=\"200\"}"));
	CHECK(c->body && strstr(c->body, "siegel_http_requests_total{route=\"auth\",status=\"401\"}"));
	CHECK(c->body && strstr(c->body, "siegel_signatures_total "));
	CHECK(c->body && strstr(c->body, "siegel_idempotent_replays_total "));
	CHECK(c->body && strstr(c->body, "siegel_commit_seconds_bucket{le=\"+Inf\"}"));
	size_t n = 0;
	char *log = (char *)t_read(logpath, &n);
	CHECK(log && strstr(log, "tenant=alpha PUT /api/v1/tss/{tssId}/tx/{txId} status=200 ms="));
	CHECK(log && strstr(log, "tenant=- GET /api/v1/tss/{tssId} status=401"));
	free(log);
}

int main(void)
{
	t_alarm(500);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const char *dir = t_tmpdir();
	char data[512], logpath[512];
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(logpath, sizeof(logpath), "%s/requests.log", dir);
	if (t_ntp_start(&ntp, 480) != 0)
		return 99;
	ntp_list[0] = ntp.name;
	fx_softhsm(data);
	struct tse_config cfg;
	fx_config(&cfg, data, ntp_list, 1);
	struct tse *t = NULL;
	struct siegel_diag d = { { 0 } };
	CHECK_OK(tse_open(&t, &cfg, &d));
	if (t == NULL) {
		fprintf(stderr, "tse_open: %s\n", d.msg);
		return t_done();
	}
	struct t_shift_clock sc;
	t_shift_clock_init(&sc);
	struct tenant_config tcfg = { .kdf_log2n = 10, .clock = &sc.clock };
	struct tenant_db *tenants = NULL;
	CHECK_OK(tenant_db_open(&tenants, tse_store(t), &tcfg, &d));
	CHECK_OK(tenant_add(tenants, "alpha", "Alpha GmbH", &ta, &d));
	CHECK_OK(tenant_add(tenants, "beta", NULL, &tb, &d));
	struct tenant_creds scratch;
	CHECK_RC(tenant_add(tenants, "alpha", NULL, &scratch, &d), SIEGEL_E_EXISTS);
	CHECK_RC(tenant_add(tenants, "Bad.Id", NULL, &scratch, &d), SIEGEL_E_PARAM);
	FILE *log = fopen(logpath, "a");
	struct http_config hc = {
		.listen = "127.0.0.1", .port = -1, .data_dir = data, .threads = 2, .workers = 16,
		.request_log = log,
	};
	struct http_server *srv = NULL;
	CHECK_OK(http_server_start(&srv, &hc, t, tenants, &d));
	if (srv == NULL) {
		fprintf(stderr, "http_server_start: %s\n", d.msg);
		return t_done();
	}
	port = http_server_port(srv);
	snprintf(cafile, sizeof(cafile), "%s/https-cert.pem", data);

	struct hc a, b;
	hc_init(&a, port, cafile);
	hc_init(&b, port, cafile);
	CHECK(hc_login(&a, ta.api_key, ta.api_secret) == 200);
	CHECK(hc_login(&b, tb.api_key, tb.api_secret) == 200);
	CHECK(strlen(a.token) == TENANT_TOKEN_LEN);

	test_openapi(&a);
	test_day(&a);
	test_idempotency(&a);
	test_isolation(&b);
	test_bad_input(&a, &sc);
	test_metrics(&a, logpath);
	test_delete_stored(&a);

	/* after a restart the TARs on disk are still listed and downloadable */
	http_server_stop(srv);
	srv = NULL;
	CHECK_OK(http_server_start(&srv, &hc, t, tenants, &d));
	if (srv == NULL)
		return t_done();
	port = http_server_port(srv);
	hc_free(&a);
	hc_free(&b);
	hc_init(&a, port, cafile);
	hc_init(&b, port, cafile);
	CHECK(hc_login(&a, ta.api_key, ta.api_secret) == 200);
	CHECK(hc_login(&b, tb.api_key, tb.api_secret) == 200);
	CHECK(hc_req(&a, "GET", "/api/v1/tss/till/exports", NULL) == 200);
	CHECK(list_has(a.json, a_export_id, "COMPLETED"));
	{
		char p[512];
		snprintf(p, sizeof(p), "%s/till-after-restart.tar", t_tmpdir());
		CHECK(export_download(&a, "till", a_export_id, p) == 200);
		verify_export(p, a_export_counter);
	}

	/* a rotated secret ends the old credentials and tokens */
	struct tenant_creds nb;
	CHECK_OK(tenant_rotate_secret(tenants, "beta", &nb, &d));
	CHECK_STR(nb.api_key, tb.api_key);
	CHECK(hc_req(&b, "GET", "/api/v1/tss", NULL) == 401);
	CHECK(hc_login(&b, tb.api_key, tb.api_secret) == 401);
	CHECK(hc_login(&b, nb.api_key, nb.api_secret) == 200);

	hc_free(&a);
	hc_free(&b);
	http_server_stop(srv);
	fclose(log);
	EVP_PKEY_free(leaf_key);
	tenant_db_close(tenants);
	tse_close(t);
	t_ntp_stop(&ntp);
	curl_global_cleanup();
	return t_done();
}
