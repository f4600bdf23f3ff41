/* Generated exports that imitate other vendors, signed with software keys
 * under the built-in test CA and packed with our TAR writer: P-384/SHA-384
 * with GeneralizedTime and BER indefinite-length processData, P-256 with
 * UTCTime, brainpoolP256r1 with unixTime; clientIds with spaces, counters
 * starting at 2 (and at 120), shuffled members, lower-camel and v1.0.1
 * system-log names, an audit log, no info.csv or unquoted info.csv, upper-case
 * certificate names with DER content. All verify; the P-384 one is restored
 * and exported again byte for byte. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert/cert.h"
#include "csp/csp.h"
#include "export/export.h"
#include "exportcheck/exportcheck.h"
#include "harness.h"
#include "logmsg/logmsg.h"

#define MAXM 64

struct member {
	char name[160];
	struct siegel_buf data;
};

struct gen {
	struct csp_key key;
	enum logmsg_time_format tf;
	uint64_t counter;
	int64_t time;
	struct member m[MAXM];
	size_t n;
	uint64_t tx;
};

static void add_log(struct gen *g, struct logmsg *m)
{
	m->serial_number.p = g->key.serial;
	m->serial_number.len = ALG_SERIAL_LEN;
	m->alg = g->key.alg;
	m->signature_counter = g->counter++;
	CHECK_OK(logmsg_time_set(&m->log_time, g->tf, g->time));
	g->time += 7;
	struct member *x = &g->m[g->n++];
	siegel_buf_init(&x->data);
	struct siegel_diag d = { { 0 } };
	CHECK_OK(logmsg_encode(&x->data, m, csp_sign, &g->key, &d));
	struct logmsg p;
	CHECK_OK(logmsg_parse(&p, x->data.data, x->data.len, &d));
	struct siegel_buf name;
	siegel_buf_init(&name);
	CHECK_OK(logmsg_file_name(&name, &p));
	siegel_buf_putc(&name, 0);
	snprintf(x->name, sizeof(x->name), "%s", (const char *)name.data);
	siegel_buf_free(&name);
	logmsg_clear(&p);
}

static void sys_log(struct gen *g, const char *op, const uint8_t *data, size_t len)
{
	struct logmsg m;
	memset(&m, 0, sizeof(m));
	m.kind = LOGMSG_SYSTEM;
	m.operation_type.p = (const uint8_t *)op;
	m.operation_type.len = strlen(op);
	m.system_operation_data.p = data;
	m.system_operation_data.len = len;
	add_log(g, &m);
}

static void tx_log(struct gen *g, const char *op, const char *client, uint64_t txno,
	const char *ptype, const char *pd, int chunks)
{
	struct logmsg m;
	memset(&m, 0, sizeof(m));
	m.kind = LOGMSG_TRANSACTION;
	m.operation_type.p = (const uint8_t *)op;
	m.operation_type.len = strlen(op);
	m.client_id.p = (const uint8_t *)client;
	m.client_id.len = strlen(client);
	m.process_data.p = (const uint8_t *)pd;
	m.process_data.len = strlen(pd);
	struct logmsg_bytes parts[3];
	if (chunks > 0) {
		size_t n = strlen(pd), step = (n + (size_t)chunks - 1) / (size_t)chunks;
		size_t k = 0;
		for (size_t off = 0; off < n && k < 3; off += step, k++) {
			parts[k].p = (const uint8_t *)pd + off;
			parts[k].len = off + step > n ? n - off : step;
		}
		m.process_data_chunks = parts;
		m.n_process_data_chunks = k;
	}
	if (ptype != NULL) {
		m.has_process_type = 1;
		m.process_type.p = (const uint8_t *)ptype;
		m.process_type.len = strlen(ptype);
	}
	m.transaction_number = txno;
	add_log(g, &m);
}

static void receipt(struct gen *g, const char *client, int chunks)
{
	uint64_t no = ++g->tx;
	tx_log(g, "StartTransaction", client, no, "Kassenbeleg-V1", "", 0);
	tx_log(g, "UpdateTransaction", client, no, "Bestellung-V1", "1;\"Kaffee\";2.50", 0);
	tx_log(g, "FinishTransaction", client, no, "Kassenbeleg-V1",
		"Beleg^2.50_0.00_0.00_0.00_0.00^2.50:Bar", chunks);
}

static void add_file(struct gen *g, const char *name, const void *p, size_t n)
{
	struct member *x = &g->m[g->n++];
	snprintf(x->name, sizeof(x->name), "%s", name);
	siegel_buf_init(&x->data);
	siegel_buf_append(&x->data, p, n);
}

static void add_chain(struct gen *g, struct cert_ca *ca, int upper_der)
{
	X509 *leaf = NULL;
	struct siegel_diag d = { { 0 } };
	CHECK_OK(cert_issue_leaf(&leaf, ca, &g->key, "vendor-like (TEST)", 3650, NULL, &d));
	X509 *xs[3] = { leaf, ca->ca, ca->root };
	for (int i = 0; i < 3; i++) {
		char hex[65], name[128];
		CHECK_OK(cert_key_hash_hex(hex, xs[i]));
		struct siegel_buf b;
		siegel_buf_init(&b);
		if (upper_der) {
			for (char *p = hex; *p; p++)
				if (*p >= 'a' && *p <= 'f')
					*p = (char)(*p - 'a' + 'A');
			snprintf(name, sizeof(name), "%s_X509.%s", hex, i == 0 ? "CRT" : "cer");
			CHECK_OK(cert_to_der(&b, xs[i]));
		} else {
			snprintf(name, sizeof(name), "%s_X509.pem", hex);
			CHECK_OK(cert_to_pem(&b, xs[i]));
		}
		add_file(g, name, b.data, b.len);
		siegel_buf_free(&b);
	}
	X509_free(leaf);
}

/* Writes the members in a shuffled order (fixed permutation). */
static void write_tar(struct siegel_buf *out, struct gen *g)
{
	struct tar_writer w;
	tar_writer_init(&w, tar_write_buf, out, 1722600000);
	struct siegel_diag d = { { 0 } };
	size_t n = g->n, order[MAXM];
	for (size_t k = 0; k < n; k++)
		order[k] = k;
	uint32_t x = 12345;
	for (size_t k = n; k > 1; k--) { /* Fisher-Yates with a fixed LCG */
		x = x * 1103515245u + 12345u;
		size_t j = (x >> 8) % k, tmp = order[k - 1];
		order[k - 1] = order[j];
		order[j] = tmp;
	}
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		CHECK_OK(tar_write_file(&w, g->m[i].name, g->m[i].data.data, g->m[i].data.len, &d));
	}
	CHECK_OK(tar_write_end(&w, &d));
}

static void gen_free(struct gen *g)
{
	for (size_t i = 0; i < g->n; i++)
		siegel_buf_free(&g->m[i].data);
	csp_key_release(&g->key);
}

static struct exportcheck_report *check(const struct siegel_buf *b)
{
	struct exportcheck_report *r = NULL;
	struct siegel_diag d = { { 0 } };
	CHECK_OK(exportcheck_mem(&r, b->data, b->len, NULL, &d));
	if (r != NULL)
		for (size_t i = 0; i < r->n_errors; i++)
			fprintf(stderr, "error: %s: %s\n", r->errors[i].member, r->errors[i].problem);
	return r;
}

int main(void)
{
	const char *dir = t_tmpdir();
	char cadir[512];
	snprintf(cadir, sizeof(cadir), "%s/ca", dir);
	CHECK_OK(siegel_mkdir_p(cadir, 0700));
	struct cert_ca ca;
	struct siegel_diag d = { { 0 } };
	CHECK_OK(cert_ca_open(&ca, cadir, NULL, &d));
	static const uint8_t upd[] = { 0x81, 0x04, 0x66, 0xad, 0x00, 0x00, 0x82, 0x04, 0x66, 0xad,
		0x00, 0x05 };
	static const uint8_t auth[] = { 0x81, 0x05, 'a', 'd', 'm', 'i', 'n', 0x82, 0x01, 0x01, 0x83,
		0x01, 0xff };

	/* ---- A: P-384, GeneralizedTime, indefinite processData, spaces, from 2,
	 *          shuffled, no info.csv ---- */
	struct gen *g = calloc(1, sizeof(*g));
	CHECK_OK(csp_soft_generate(&g->key, SIEGEL_ALG_P384_SHA384));
	g->tf = LOGMSG_TIME_GENERALIZED;
	g->counter = 2;
	g->time = (int64_t)time(NULL) + 5;
	sys_log(g, "authenticateUser", auth, sizeof(auth));
	sys_log(g, "initialize", (const uint8_t *)"\x81\x04TEST", 6);
	sys_log(g, "UpdateTime", upd, sizeof(upd)); /* v1.0.1 spelling */
	receipt(g, "137741-0001 Kasse 1", 2);
	receipt(g, "137741-0002 Kasse 2", 3);
	receipt(g, "137741-0001 Kasse 1", 1);
	struct logmsg aud;
	memset(&aud, 0, sizeof(aud));
	aud.kind = LOGMSG_AUDIT;
	aud.has_se_audit_data = 1;
	aud.se_audit_data.p = (const uint8_t *)"\x30\x03\x02\x01\x01";
	aud.se_audit_data.len = 5;
	add_log(g, &aud);
	size_t nlogs = g->n;
	add_chain(g, &ca, 0);
	struct siegel_buf tar;
	siegel_buf_init(&tar);
	write_tar(&tar, g);
	struct exportcheck_report *r = check(&tar);
	if (r != NULL) {
		CHECK(r->ok);
		CHECK(r->messages == nlogs && r->valid_signatures == nlogs);
		CHECK(r->transaction_logs == 9 && r->system_logs == 3 && r->audit_logs == 1);
		CHECK(r->indefinite_length_logs == 3);
		CHECK(r->counter_min == 2 && r->counter_max == 1 + nlogs && r->n_gaps == 0);
		CHECK(r->time_formats.n == 1 && strcmp(r->time_formats.v[0], "generalizedTime") == 0);
		CHECK(r->curves.n == 1 && strcmp(r->curves.v[0], "P-384") == 0);
		CHECK(r->client_ids.n == 2 && strcmp(r->client_ids.v[0], "137741-0001 Kasse 1") == 0);
		CHECK(r->info_csv == NULL && r->n_warnings >= 1);
		CHECK(r->n_sig_algs == 1 && strcmp(r->sig_algs[0].name, "ecdsa-plain-SHA384") == 0);
	}
	exportcheck_free(r);
	/* restore it and export again: the same logs, byte for byte */
	char path[512], data[512];
	snprintf(path, sizeof(path), "%s/a.tar", dir);
	snprintf(data, sizeof(data), "%s/restored", dir);
	t_write(path, tar.data, tar.len);
	struct tse_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dir = data;
	cfg.key_backend = "soft";
	struct tse *t = NULL;
	CHECK_OK(tse_open(&t, &cfg, &d));
	struct export_restore_result rr;
	CHECK_OK(export_restore(&rr, t, "vendor-a", path, ca.root, 1722700000, &d));
	if (d.msg[0] && rr.logs == 0)
		fprintf(stderr, "restore: %s\n", d.msg);
	CHECK(rr.logs == nlogs && rr.first_counter == 2);
	struct tse_tss_info info;
	CHECK_OK(tse_tss_info(t, "vendor-a", &info, &d));
	CHECK(info.alg == SIEGEL_ALG_P384_SHA384 && info.time_format == LOGMSG_TIME_GENERALIZED);
	struct siegel_buf again;
	siegel_buf_init(&again);
	struct export_result er;
	CHECK_OK(export_write(&er, t, "vendor-a", NULL, tar_write_buf, &again, 1722700000, &d));
	CHECK(er.logs == nlogs);
	r = check(&again);
	CHECK(r != NULL && r->ok && r->info_csv != NULL);
	exportcheck_free(r);
	/* every generated log is in the new export, byte for byte */
	for (size_t i = 0; i < nlogs; i++) {
		const uint8_t *p = again.data;
		int found = 0;
		for (size_t off = 0; off + 512 <= again.len && !found;) {
			if (p[off] == 0)
				break;
			size_t sz = (size_t)strtoull((const char *)p + off + 124, NULL, 8);
			if (strcmp((const char *)p + off, g->m[i].name) == 0 && sz == g->m[i].data.len &&
			    memcmp(p + off + 512, g->m[i].data.data, sz) == 0)
				found = 1;
			off += 512 + (sz + 511) / 512 * 512;
		}
		t_checks++;
		if (!found) {
			t_failures++;
			fprintf(stderr, "FAIL %s not exported again byte for byte\n", g->m[i].name);
		}
	}
	siegel_buf_free(&again);
	tse_close(t);
	gen_free(g);
	free(g);

	/* ---- B: P-256, UTCTime, counters from 120, unquoted info.csv, upper-case
	 *          certificate names with DER content ---- */
	g = calloc(1, sizeof(*g));
	CHECK_OK(csp_soft_generate(&g->key, SIEGEL_ALG_P256_SHA256));
	g->tf = LOGMSG_TIME_UTC;
	g->counter = 120;
	g->time = (int64_t)time(NULL) + 5;
	g->tx = 126;
	sys_log(g, "registerClient", (const uint8_t *)"\x81\x0fKASSE 03 (Bar)", 17);
	receipt(g, "KASSE 03 (Bar)", 0);
	receipt(g, "KASSE 03 (Bar)", 2);
	nlogs = g->n;
	add_chain(g, &ca, 1);
	const char *csv = "\"description:\", Test Cafe 35, \"manufacturer:\", other vendor, "
		"\"version:\", 0.1.0";
	add_file(g, "info.csv", csv, strlen(csv));
	siegel_buf_reset(&tar);
	write_tar(&tar, g);
	r = check(&tar);
	if (r != NULL) {
		CHECK(r->ok && r->messages == nlogs && r->valid_signatures == nlogs);
		CHECK(r->counter_min == 120 && r->n_gaps == 0 && r->certificates == 3);
		CHECK(r->time_formats.n == 1 && strcmp(r->time_formats.v[0], "utcTime") == 0);
		CHECK(r->info_csv_ok && !r->info_csv_quoted);
		CHECK_STR(r->info_description, "Test Cafe 35");
		CHECK_STR(r->info_manufacturer, "other vendor");
	}
	exportcheck_free(r);
	gen_free(g);
	free(g);

	/* ---- C: brainpoolP256r1, unixTime ---- */
	g = calloc(1, sizeof(*g));
	CHECK_OK(csp_soft_generate(&g->key, SIEGEL_ALG_BP256_SHA256));
	g->tf = LOGMSG_TIME_UNIX;
	g->counter = 1;
	g->time = (int64_t)time(NULL) + 5;
	sys_log(g, "updateTime", upd, sizeof(upd));
	receipt(g, "K1", 0);
	nlogs = g->n;
	add_chain(g, &ca, 0);
	siegel_buf_reset(&tar);
	write_tar(&tar, g);
	r = check(&tar);
	CHECK(r != NULL && r->ok && r->valid_signatures == nlogs && r->curves.n == 1 &&
		strcmp(r->curves.v[0], "brainpoolP256r1") == 0);
	exportcheck_free(r);
	gen_free(g);
	free(g);

	siegel_buf_free(&tar);
	cert_ca_close(&ca);
	return t_done();
}
