/* Export, restore and deleteStoredData end to end on a real SoftHSM2 token
 * and a real NTP server (chronyd on loopback):
 * - round trip: a TSS with two clients (one with a space), updates, system
 *   logs -> export -> verify-export ok -> restore into a new data directory ->
 *   export again -> the same .log members byte for byte;
 * - GNU tar lists/extracts the export silently, openssl asn1parse reads
 *   every .log;
 * - filters, maximumNumberRecords, incremental export, exportSerialNumbers,
 *   getLogMessageCertificate, export after disable without login;
 * - tampering (a flipped byte in every log, a removed log, a swapped
 *   certificate, truncation, directory/symlink/'../' members): detected with
 *   the member named, restore refuses each and writes nothing;
 * - deleteStoredData: only exported logs, ErrorUnexportedStoredData, admin;
 * - the CLI: tse export|restore|serials|cert|delete-exported, verify-export. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export/export.h"
#include "exportcheck/exportcheck.h"
#include "../tse/tse_fixture.h"

static struct t_ntp ntp;
static const char *ntp_list[1];

/* ------------------------------------------------------------------ */
/* TAR members in memory                                                */

struct mem {
	char name[TAR_MAX_NAME + 1];
	char type;
	uint8_t *data;
	size_t len;
	char link[100];
};

struct mems {
	struct mem v[512];
	size_t n;
};

static int collect(void *ctx, const struct tar_member *m, struct siegel_diag *d)
{
	(void)d;
	struct mems *s = ctx;
	if (s->n >= 512)
		return SIEGEL_E_LIMIT;
	struct mem *x = &s->v[s->n++];
	memset(x, 0, sizeof(*x));
	snprintf(x->name, sizeof(x->name), "%s", m->name);
	x->type = m->type;
	x->len = m->len;
	x->data = malloc(m->len ? m->len : 1);
	if (m->len)
		memcpy(x->data, m->data, m->len);
	return 0;
}

static int read_members(struct mems *s, const uint8_t *p, size_t n)
{
	s->n = 0;
	FILE *f = fmemopen((void *)p, n, "rb");
	struct tar_source src;
	tar_source_stdio(&src, f);
	struct tar_read_status st;
	struct siegel_diag d = { { 0 } };
	int rc = tar_read(&st, &src, NULL, collect, s, &d);
	fclose(f);
	return rc;
}

static void mems_free(struct mems *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].data);
	s->n = 0;
}

/* Writes members raw (any name, any type), as a hostile tool would. */
static void raw_header(struct siegel_buf *b, const char *name, char type, size_t len,
	const char *link)
{
	uint8_t h[512];
	memset(h, 0, sizeof(h));
	snprintf((char *)h, 100, "%s", name);
	memcpy(h + 100, "0000644\0", 8);
	memcpy(h + 108, "0000000\0", 8);
	memcpy(h + 116, "0000000\0", 8);
	snprintf((char *)h + 124, 12, "%011zo", len);
	memcpy(h + 136, "14620000000\0", 12);
	h[156] = (uint8_t)type;
	if (link)
		snprintf((char *)h + 157, 100, "%s", link);
	memcpy(h + 257, "ustar\0" "00", 8);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	char ck[8];
	snprintf(ck, sizeof(ck), "%06o", sum);
	memcpy(h + 148, ck, 6);
	h[154] = 0;
	h[155] = ' ';
	siegel_buf_append(b, h, 512);
}

static void build_tar(struct siegel_buf *b, const struct mems *s, int end_blocks)
{
	static const uint8_t zero[512];
	siegel_buf_reset(b);
	for (size_t i = 0; i < s->n; i++) {
		const struct mem *m = &s->v[i];
		raw_header(b, m->name, m->type, m->type == '0' ? m->len : 0, m->link[0] ? m->link : NULL);
		if (m->type == '0') {
			siegel_buf_append(b, m->data, m->len);
			if (m->len % 512)
				siegel_buf_append(b, zero, 512 - m->len % 512);
		}
	}
	if (end_blocks) {
		siegel_buf_append(b, zero, 512);
		siegel_buf_append(b, zero, 512);
	}
}

static int is_log(const char *name)
{
	size_t n = strlen(name);
	return n > 4 && strcmp(name + n - 4, ".log") == 0;
}

/* ------------------------------------------------------------------ */

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static int count_rows(struct tse *t, const char *sql)
{
	struct store *s = tse_store(t);
	store_lock(s);
	sqlite3_stmt *st = NULL;
	int n = -1;
	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	store_unlock(s);
	return n;
}

/* An export of tss into a buffer; rc of export_write. */
static int export_buf(struct siegel_buf *b, struct export_result *r, struct tse *t,
	const char *tss, const struct export_filter *f, struct siegel_diag *d)
{
	siegel_buf_reset(b);
	return export_write(r, t, tss, f, tar_write_buf, b, now_s(), d);
}

static struct exportcheck_report *check_buf(const struct siegel_buf *b)
{
	struct exportcheck_report *r = NULL;
	struct siegel_diag d = { { 0 } };
	if (exportcheck_mem(&r, b->data, b->len, NULL, &d) != 0)
		fprintf(stderr, "exportcheck: %s\n", d.msg);
	return r;
}

static int has_error_for(const struct exportcheck_report *r, const char *member)
{
	for (size_t i = 0; i < r->n_errors; i++)
		if (strcmp(r->errors[i].member, member) == 0)
			return 1;
	return 0;
}

static struct tse *open_soft(const char *dir)
{
	struct tse_config cfg;
	fx_config(&cfg, dir, ntp_list, 1);
	cfg.key_backend = "soft";
	struct tse *t = NULL;
	struct siegel_diag d = { { 0 } };
	if (tse_open(&t, &cfg, &d) != 0)
		fprintf(stderr, "tse_open %s: %s\n", dir, d.msg);
	return t;
}

/* Restore of a damaged TAR: refused, the diag names want (if given), the
 * store stays empty and unchanged. */
static void restore_refused(struct tse *empty, const struct siegel_buf *tar, const char *want,
	const char *what)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/damaged.tar", t_tmpdir());
	t_write(path, tar->data, tar->len);
	uint8_t before[32], after[32];
	fx_store_digest(tse_store(empty), before);
	struct export_restore_result rr;
	struct siegel_diag d = { { 0 } };
	int rc = export_restore(&rr, empty, "rt", path, NULL, now_s(), &d);
	t_checks++;
	if (rc == 0) {
		t_failures++;
		fprintf(stderr, "FAIL restore of %s accepted\n", what);
	}
	if (want != NULL && strstr(d.msg, want) == NULL) {
		t_failures++;
		fprintf(stderr, "FAIL restore of %s: diag '%s' does not name '%s'\n", what, d.msg, want);
	}
	fx_store_digest(tse_store(empty), after);
	CHECK_MEM(before, after, 32);
	CHECK(count_rows(empty, "SELECT count(*) FROM logs") == 0);
	CHECK(count_rows(empty, "SELECT count(*) FROM tss") == 0);
}

static void test_tampering(struct tse *empty, const struct siegel_buf *good)
{
	struct mems s;
	struct siegel_buf b;
	siegel_buf_init(&b);
	CHECK_OK(read_members(&s, good->data, good->len));
	size_t nlogs = 0;
	/* a flipped byte in every log (in the middle of the DTBS) */
	for (size_t i = 0; i < s.n; i++) {
		struct mem *m = &s.v[i];
		if (!is_log(m->name))
			continue;
		nlogs++;
		size_t pos = m->len / 2;
		m->data[pos] ^= 0x01;
		build_tar(&b, &s, 1);
		struct exportcheck_report *r = check_buf(&b);
		CHECK(r != NULL && !r->ok);
		t_checks++;
		if (r != NULL && !has_error_for(r, m->name)) {
			t_failures++;
			fprintf(stderr, "FAIL flipped byte in %s not reported for it\n", m->name);
		}
		exportcheck_free(r);
		restore_refused(empty, &b, m->name, m->name);
		m->data[pos] ^= 0x01;
	}
	CHECK(nlogs > 10);
	/* a removed log: a gap; restore refuses a partial export */
	struct mems s2 = s;
	size_t victim = 0;
	for (size_t i = 0, k = 0; i < s.n; i++)
		if (is_log(s.v[i].name) && ++k == 5)
			victim = i;
	memmove(&s2.v[victim], &s2.v[victim + 1], (s2.n - victim - 1) * sizeof(s2.v[0]));
	s2.n--;
	build_tar(&b, &s2, 1);
	struct exportcheck_report *r = check_buf(&b);
	CHECK(r != NULL && r->n_gaps == 1);
	exportcheck_free(r);
	restore_refused(empty, &b, "missing", "removed log");
	/* swapped certificate: the leaf file gets the CA certificate */
	s2 = s;
	size_t leaf = 0, ca = 0;
	for (size_t i = 1; i < s.n; i++)
		if (strstr(s.v[i].name, "_X509.") != NULL) {
			if (leaf == 0)
				leaf = i;
			else if (ca == 0)
				ca = i;
		}
	s2.v[leaf].data = s.v[ca].data;
	s2.v[leaf].len = s.v[ca].len;
	build_tar(&b, &s2, 1);
	r = check_buf(&b);
	CHECK(r != NULL && !r->ok && has_error_for(r, s.v[leaf].name));
	exportcheck_free(r);
	restore_refused(empty, &b, NULL, "swapped certificate");
	/* truncated inside a log */
	build_tar(&b, &s, 1);
	size_t cut = b.len / 2;
	struct siegel_buf t2;
	siegel_buf_init(&t2);
	siegel_buf_append(&t2, b.data, cut);
	r = check_buf(&t2);
	CHECK(r != NULL && !r->ok && r->tar_truncated);
	exportcheck_free(r);
	restore_refused(empty, &t2, "truncated", "truncated TAR");
	siegel_buf_free(&t2);
	/* extra members: directory, symlink, '../' name */
	static const struct { const char *name; char type; const char *link; } extra[] = {
		{ "extra/", '5', NULL },
		{ "Unixt_1_Sig-999_Log-Sys_logOut.log", '2', "../../../../etc/passwd" },
		{ "../evil.log", '0', NULL },
	};
	for (size_t e = 0; e < 3; e++) {
		s2 = s;
		struct mem *m = &s2.v[s2.n++];
		memset(m, 0, sizeof(*m));
		snprintf(m->name, sizeof(m->name), "%s", extra[e].name);
		m->type = extra[e].type;
		if (extra[e].link)
			snprintf(m->link, sizeof(m->link), "%s", extra[e].link);
		if (m->type == '0') {
			/* a validly signed log under a hostile name */
			m->data = s.v[victim].data;
			m->len = s.v[victim].len;
		}
		build_tar(&b, &s2, 1);
		r = check_buf(&b);
		CHECK(r != NULL && !r->ok && has_error_for(r, extra[e].name));
		exportcheck_free(r);
		restore_refused(empty, &b, extra[e].name, extra[e].name);
	}
	mems_free(&s);
	siegel_buf_free(&b);
}

/* The .log members of two TARs are the same set, byte for byte. */
static void same_logs(const struct siegel_buf *a, const struct siegel_buf *b, size_t *n_out)
{
	struct mems *x = calloc(1, sizeof(*x)), *y = calloc(1, sizeof(*y));
	CHECK_OK(read_members(x, a->data, a->len));
	CHECK_OK(read_members(y, b->data, b->len));
	size_t nx = 0, ny = 0;
	for (size_t i = 0; i < x->n; i++) {
		if (!is_log(x->v[i].name))
			continue;
		nx++;
		int found = 0;
		for (size_t j = 0; j < y->n; j++)
			if (strcmp(x->v[i].name, y->v[j].name) == 0)
				found = y->v[j].len == x->v[i].len &&
					memcmp(y->v[j].data, x->v[i].data, x->v[i].len) == 0;
		t_checks++;
		if (!found) {
			t_failures++;
			fprintf(stderr, "FAIL %s differs or missing after restore\n", x->v[i].name);
		}
	}
	for (size_t j = 0; j < y->n; j++)
		ny += is_log(y->v[j].name);
	CHECK(nx == ny && nx > 0);
	*n_out = nx;
	mems_free(x);
	mems_free(y);
	free(x);
	free(y);
}

static void run_tx(struct tse *t, const char *tss, const char *client, int updates)
{
	struct siegel_diag d = { { 0 } };
	struct tse_tx_result r;
	tse_tx_result_init(&r);
	CHECK_OK(tse_start(t, tss, client, " ", NULL, 0, &r, &d));
	uint64_t no = r.transaction_number;
	for (int u = 0; u < updates; u++) {
		const char *pd = "Bestellung-V1 1;\"Kaffee\";2.50";
		CHECK_OK(tse_update(t, tss, client, no, "Bestellung-V1", (const uint8_t *)pd, strlen(pd),
			&r, &d));
	}
	const char *pd = "Beleg^2.50_0.00_0.00_0.00_0.00^2.50:Bar";
	CHECK_OK(tse_finish(t, tss, client, no, "Kassenbeleg-V1", (const uint8_t *)pd, strlen(pd), &r,
		&d));
	tse_tx_result_free(&r);
}

int main(void)
{
	t_alarm(500);
	const char *dir = t_tmpdir();
	char data[512], data2[512], data3[512], path[512];
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(data2, sizeof(data2), "%s/restored", dir);
	snprintf(data3, sizeof(data3), "%s/empty", dir);
	if (t_ntp_start(&ntp, 480) != 0)
		return 99;
	ntp_list[0] = ntp.name;
	fx_softhsm(data);
	struct tse_config cfg;
	fx_config(&cfg, data, ntp_list, 1);
	struct tse *t = NULL;
	struct siegel_diag d = { { 0 } };
	CHECK_OK(tse_open(&t, &cfg, &d));
	if (t == NULL)
		return t_done();

	/* ---- a TSS with two clients, updates, system logs ---- */
	const char *clients[] = { "KASSE-01", "KASSE 02" };
	CHECK_OK(fx_ready(t, "rt", SIEGEL_ALG_P256_SHA256, LOGMSG_TIME_UNIX, clients, 2));
	for (int i = 0; i < 6; i++)
		run_tx(t, "rt", clients[i % 2], i % 3);
	CHECK_OK(tse_self_test(t, "rt", &d));
	struct tse_tx_result open_tx;
	tse_tx_result_init(&open_tx);
	CHECK_OK(tse_start(t, "rt", "KASSE-01", NULL, NULL, 0, &open_tx, &d)); /* stays open */
	tse_tx_result_free(&open_tx);
	int n_logs = count_rows(t, "SELECT count(*) FROM logs WHERE tss_id = 'rt'");
	CHECK(n_logs > 20);

	/* deleteStoredData before any export: ErrorUnexportedStoredData */
	uint64_t deleted = 0;
	CHECK_RC(tse_delete_exported(t, "rt", &deleted, &d), SIEGEL_E_UNEXPORTED);

	/* ---- full export to a file ---- */
	snprintf(path, sizeof(path), "%s/rt.tar", dir);
	struct export_result er;
	CHECK_OK(export_to_file(&er, t, "rt", NULL, path, now_s(), &d));
	CHECK(er.logs == (uint64_t)n_logs && er.first_counter == 1 &&
		er.last_counter == (uint64_t)n_logs);
	CHECK(count_rows(t, "SELECT count(*) FROM logs WHERE tss_id = 'rt' AND exported = 0") == 0);
	size_t tar_len = 0;
	uint8_t *tar = t_read(path, &tar_len);
	struct siegel_buf full;
	siegel_buf_init(&full);
	siegel_buf_append(&full, tar, tar_len);
	free(tar);

	struct exportcheck_report *rep = NULL;
	CHECK_OK(exportcheck_file(&rep, path, NULL, &d));
	if (rep != NULL) {
		CHECK(rep->ok);
		CHECK(rep->messages == (uint64_t)n_logs && rep->valid_signatures == (uint64_t)n_logs);
		CHECK(rep->certificates == 3 && rep->info_csv_ok && rep->info_csv_quoted);
		CHECK_STR(rep->info_manufacturer, EXPORT_MANUFACTURER);
		CHECK_STR(rep->info_description, "siegel test");
		CHECK(rep->n_gaps == 0 && rep->chain == EXPORTCHECK_CHAIN_UNTRUSTED);
		CHECK(rep->client_ids.n == 2);
		for (size_t i = 0; i < rep->n_errors; i++)
			fprintf(stderr, "unexpected: %s: %s\n", rep->errors[i].member, rep->errors[i].problem);
	}
	exportcheck_free(rep);
	/* trusted with the data directory's test CA root */
	char root[600];
	snprintf(root, sizeof(root), "%s/ca/root.pem", data);
	char *out = NULL;
	CHECK(t_run(&out, "'%s' verify-export --json --trust '%s' '%s'", t_siegel_bin(), root, path) == 0);
	CHECK(out && strstr(out, "\"chain\": \"trusted\"") && strstr(out, "\"result\": \"ok\""));
	free(out);
	/* GNU tar: silent listing and extraction; openssl asn1parse on every .log */
	CHECK(t_run(&out, "tar -tvf '%s' 2>&1 >/dev/null", path) == 0);
	CHECK(out == NULL || out[0] == 0);
	free(out);
	CHECK(t_run(&out, "mkdir -p '%s/x' && tar -C '%s/x' -xf '%s' 2>&1", dir, dir, path) == 0);
	CHECK(out == NULL || out[0] == 0);
	free(out);
	CHECK(t_run(&out, "cd '%s/x' && n=0 && for f in *.log; do openssl asn1parse -inform DER "
		"-in \"$f\" >/dev/null || exit 1; n=$((n+1)); done; echo $n", dir) == 0);
	CHECK(out && atoi(out) == n_logs);
	free(out);
	CHECK(t_run(&out, "ls '%s/x' | grep -c 'Client-KASSE 02.log'", dir) == 0);
	CHECK(out && atoi(out) >= 3);
	free(out);

	/* ---- filters ---- */
	struct siegel_buf b;
	siegel_buf_init(&b);
	struct export_filter f;
	memset(&f, 0, sizeof(f));
	f.has_tx = 1;
	f.tx = 3; /* client KASSE-01, 2 updates */
	CHECK_OK(export_buf(&b, &er, t, "rt", &f, &d));
	CHECK(er.logs == 4);
	rep = check_buf(&b);
	CHECK(rep != NULL && rep->ok && rep->transaction_logs == 4 && rep->system_logs == 0);
	exportcheck_free(rep);
	f.client_id = "KASSE-01";
	CHECK_OK(export_buf(&b, &er, t, "rt", &f, &d));
	CHECK(er.logs == 4);
	f.client_id = "KASSE 02";
	CHECK_RC(export_buf(&b, &er, t, "rt", &f, &d), SIEGEL_E_NO_DATA);
	memset(&f, 0, sizeof(f));
	f.has_tx_range = 1;
	f.tx_first = 1;
	f.tx_last = 2; /* tx 1: 0 updates, tx 2: 1 update */
	CHECK_OK(export_buf(&b, &er, t, "rt", &f, &d));
	CHECK(er.logs == 5);
	f.client_id = "KASSE 02"; /* tx 2 only */
	CHECK_OK(export_buf(&b, &er, t, "rt", &f, &d));
	CHECK(er.logs == 3);
	memset(&f, 0, sizeof(f));
	f.client_id = "KASSE 02"; /* tx 2, 4, 6: 3 + 2 + 4 */
	CHECK_OK(export_buf(&b, &er, t, "rt", &f, &d));
	CHECK(er.logs == 9);
	memset(&f, 0, sizeof(f));
	f.has_time = 1;
	f.time_start = 0;
	f.time_end = now_s() + 3600;
	CHECK_OK(export_buf(&b, &er, t, "rt", &f, &d));
	CHECK(er.logs == (uint64_t)n_logs);
	f.time_end = 1;
	CHECK_RC(export_buf(&b, &er, t, "rt", &f, &d), SIEGEL_E_NO_DATA);
	memset(&f, 0, sizeof(f));
	f.max_records = 5;
	CHECK_RC(export_buf(&b, &er, t, "rt", &f, &d), SIEGEL_E_TOO_MANY_RECORDS);
	CHECK(strcmp(siegel_err_name(SIEGEL_E_TOO_MANY_RECORDS), "ErrorTooManyRecords") == 0);
	f.max_records = (uint64_t)n_logs;
	CHECK_OK(export_buf(&b, &er, t, "rt", &f, &d));
	memset(&f, 0, sizeof(f));
	f.has_tx = 1;
	f.has_tx_range = 1;
	CHECK_RC(export_buf(&b, &er, t, "rt", &f, &d), SIEGEL_E_PARAM);

	/* ---- incremental: only what came after the full export ---- */
	memset(&f, 0, sizeof(f));
	f.incremental = 1;
	CHECK_RC(export_buf(&b, &er, t, "rt", &f, &d), SIEGEL_E_NO_DATA);
	run_tx(t, "rt", "KASSE 02", 0);
	snprintf(path, sizeof(path), "%s/inc1.tar", dir);
	CHECK_OK(export_to_file(&er, t, "rt", &f, path, now_s(), &d));
	CHECK(er.logs == 2 && er.first_counter == (uint64_t)n_logs + 1);
	CHECK_RC(export_to_file(&er, t, "rt", &f, path, now_s(), &d), SIEGEL_E_NO_DATA);

	/* ---- exportSerialNumbers, getLogMessageCertificate ---- */
	struct tse_tss_info info;
	CHECK_OK(tse_tss_info(t, "rt", &info, &d));
	siegel_buf_reset(&b);
	CHECK_OK(export_serials(&b, t, "rt", &d));
	struct logmsg_serial_record rec;
	CHECK_OK(siegel_hex_decode(rec.serial, ALG_SERIAL_LEN, info.serial_hex));
	rec.transaction_log = rec.system_log = rec.audit_log = 1;
	struct siegel_buf want;
	siegel_buf_init(&want);
	CHECK_OK(logmsg_serials_encode(&want, &rec, 1));
	CHECK(b.len == want.len && memcmp(b.data, want.data, b.len) == 0);
	CHECK(b.len == 49 && b.data[0] == 0x30);
	siegel_buf_free(&want);
	siegel_buf_reset(&b);
	CHECK_OK(export_certificates(&b, t, "rt", 0, now_s(), &d));
	siegel_buf_putc(&b, 0);
	int pems = 0;
	for (const char *p = (const char *)b.data; (p = strstr(p, "BEGIN CERTIFICATE")) != NULL; p++)
		pems++;
	CHECK(pems == 3);
	siegel_buf_reset(&b);
	CHECK_OK(export_certificates(&b, t, "rt", 1, now_s(), &d));
	rep = check_buf(&b);
	CHECK(rep != NULL && rep->certificates == 3 && rep->messages == 0 && rep->n_errors == 0);
	exportcheck_free(rep);

	/* ---- restore into a new data directory, export again ---- */
	struct tse *t2 = open_soft(data2);
	CHECK(t2 != NULL);
	snprintf(path, sizeof(path), "%s/rt.tar", dir);
	struct export_restore_result rr;
	CHECK_OK(export_restore(&rr, t2, "rt", path, NULL, now_s(), &d));
	if (d.msg[0] && rr.logs == 0)
		fprintf(stderr, "restore: %s\n", d.msg);
	CHECK(rr.logs == (uint64_t)n_logs && rr.first_counter == 1);
	CHECK_STR(rr.serial_hex, info.serial_hex);
	struct tse_tss_info info2;
	CHECK_OK(tse_tss_info(t2, "rt", &info2, &d));
	CHECK_STR(info2.state, "DISABLED");
	CHECK(info2.signature_counter == (uint64_t)n_logs);
	CHECK_STR(info2.description, "siegel test");
	CHECK_RC(export_restore(&rr, t2, "rt", path, NULL, now_s(), &d), SIEGEL_E_EXISTS);
	struct siegel_buf again;
	siegel_buf_init(&again);
	CHECK_OK(export_buf(&again, &er, t2, "rt", NULL, &d));
	size_t same = 0;
	same_logs(&full, &again, &same);
	CHECK(same == (size_t)n_logs);
	/* the restored TSS cannot sign */
	struct tse_tx_result tr;
	tse_tx_result_init(&tr);
	CHECK(tse_start(t2, "rt", "KASSE-01", NULL, NULL, 0, &tr, &d) != 0);
	tse_tx_result_free(&tr);
	siegel_buf_free(&again);
	tse_close(t2);

	/* ---- tampering: detected, named, restore refuses, nothing written ---- */
	struct tse *t3 = open_soft(data3);
	CHECK(t3 != NULL);
	if (t3 != NULL) {
		test_tampering(t3, &full);
		tse_close(t3);
	}

	/* ---- deleteStoredData ---- */
	CHECK_OK(tse_logout(t, "rt", TSE_USER_ADMIN, &d));
	CHECK_RC(tse_delete_exported(t, "rt", &deleted, &d), SIEGEL_E_UNAUTHENTICATED);
	CHECK_OK(tse_authenticate(t, "rt", TSE_USER_ADMIN, FX_ADMIN_PIN, NULL, &d));
	int exported = count_rows(t, "SELECT count(*) FROM logs WHERE tss_id='rt' AND exported=1");
	int total = count_rows(t, "SELECT count(*) FROM logs WHERE tss_id='rt'");
	CHECK_OK(tse_delete_exported(t, "rt", &deleted, &d));
	CHECK(deleted == (uint64_t)exported && exported > 0);
	/* what is left, plus the deleteStoredData log */
	CHECK(count_rows(t, "SELECT count(*) FROM logs WHERE tss_id='rt'") == total - exported + 1);
	CHECK(count_rows(t, "SELECT count(*) FROM logs WHERE tss_id='rt' AND exported=1") == 0);
	CHECK(count_rows(t, "SELECT count(*) FROM logs WHERE tss_id='rt' AND operation='deleteStoredData' "
		"AND counter = (SELECT sig_counter FROM tss WHERE id='rt')") == 1);
	CHECK_OK(tse_self_test(t, "rt", &d));
	/* what is left still exports and verifies (counters continue, no gap) */
	CHECK_OK(export_buf(&b, &er, t, "rt", NULL, &d));
	rep = check_buf(&b);
	CHECK(rep != NULL && rep->ok && rep->n_gaps == 0 &&
	      rep->messages == (uint64_t)(total - exported + 2)); /* + deleteStoredData + selfTest */
	exportcheck_free(rep);

	/* ---- export after disable, without login ---- */
	CHECK_OK(tse_disable(t, "rt", &d));
	CHECK_OK(export_buf(&b, &er, t, "rt", NULL, &d));
	rep = check_buf(&b);
	CHECK(rep != NULL && rep->ok);
	exportcheck_free(rep);
	tse_close(t);

	/* ---- CLI ---- */
	const char *bin = t_siegel_bin();
	setenv("SIEGEL_KDF_LOG2N", "10", 1);
	CHECK(t_run(&out, "'%s' tse export --data '%s' --tss rt --out '%s/cli.tar' --json", bin, data,
		dir) == 0);
	CHECK(out && strstr(out, "\"logs\""));
	free(out);
	CHECK(t_run(&out, "'%s' verify-export '%s/cli.tar'", bin, dir) == 0);
	free(out);
	CHECK(t_run(&out, "'%s' tse export --data '%s' --tss rt --out '%s/cli2.tar' --max-records 1 "
		"--json", bin, data, dir) == 1);
	CHECK(out && strstr(out, "ErrorTooManyRecords"));
	free(out);
	CHECK(t_run(&out, "'%s' tse export --data '%s' --tss rt --out '%s/cli3.tar' --start-date "
		"2000-01-01 --end-date 2000-01-02 2>&1", bin, data, dir) == 1);
	CHECK(out && strstr(out, "ErrorNoDataAvailable"));
	free(out);
	CHECK(t_run(&out, "'%s' tse serials --data '%s' --tss rt", bin, data) == 0);
	CHECK(out && strncmp(out, "302f302d0420", 12) == 0);
	free(out);
	CHECK(t_run(&out, "'%s' tse cert --data '%s' --tss rt --out '%s/chain.pem' && "
		"grep -c 'BEGIN CERTIFICATE' '%s/chain.pem'", bin, data, dir, dir) == 0);
	CHECK(out && atoi(out) == 3);
	free(out);
	CHECK(t_run(&out, "'%s' tse cert --data '%s' --tss rt --format tar --out '%s/chain.tar' && "
		"tar -tf '%s/chain.tar' | grep -c _X509.pem", bin, data, dir, dir) == 0);
	CHECK(out && atoi(out) == 3);
	free(out);
	CHECK(t_run(&out, "'%s' tse delete-exported --data '%s' --tss rt 2>&1", bin, data) == 1);
	free(out);
	char data4[512];
	snprintf(data4, sizeof(data4), "%s/cli-restored", dir);
	CHECK(t_run(&out, "'%s' tse restore --data '%s' --key-backend soft --tss rt --in '%s/rt.tar' "
		"--json", bin, data4, dir) == 0);
	CHECK(out && strstr(out, "\"state\": \"DISABLED\""));
	free(out);
	CHECK(t_run(&out, "'%s' tse restore --data '%s' --key-backend soft --tss rt --in '%s/damaged.tar' "
		"2>&1", bin, data4, dir) == 1);
	free(out);

	siegel_buf_free(&b);
	siegel_buf_free(&full);
	t_ntp_stop(&ntp);
	return t_done();
}
