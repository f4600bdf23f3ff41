/* The SE API end to end on a real SoftHSM2 token and a real NTP server
 * (chronyd on loopback): lifecycle, users, time, clients, transactions, the
 * logs they leave, and every rejected input leaving the store unchanged. */
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "logmsg/logmsg.h"
#include "tse_fixture.h"

static struct t_ntp ntp;
static const char *ntp_list[1];

/* Every log of a TSS: decodes, verifies with the certificate's key, counters
 * run 1..n without gaps, file-name-relevant fields are sane. Returns the
 * number of logs; ops_out (optional) gets the operation types joined by ','. */
static int check_all_logs(struct tse *t, const char *tss, char *ops_out, size_t cap)
{
	sqlite3 *db = store_db(tse_store(t));
	sqlite3_stmt *st = NULL;
	CHECK(sqlite3_prepare_v2(db, "SELECT cert_leaf FROM tss WHERE id = ?", -1, &st, NULL) == SQLITE_OK);
	sqlite3_bind_text(st, 1, tss, -1, SQLITE_STATIC);
	CHECK(sqlite3_step(st) == SQLITE_ROW);
	X509 *x = NULL;
	CHECK_OK(cert_parse(&x, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), NULL));
	sqlite3_finalize(st);
	EVP_PKEY *pk = x ? X509_get0_pubkey(x) : NULL;
	CHECK(sqlite3_prepare_v2(db, "SELECT counter, der FROM logs WHERE tss_id = ? ORDER BY counter",
		-1, &st, NULL) == SQLITE_OK);
	sqlite3_bind_text(st, 1, tss, -1, SQLITE_STATIC);
	int n = 0;
	if (ops_out)
		ops_out[0] = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		n++;
		struct logmsg m;
		struct siegel_diag d = { { 0 } };
		CHECK(sqlite3_column_int64(st, 0) == n);
		int rc = logmsg_parse(&m, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), &d);
		CHECK_OK(rc);
		if (rc) {
			fprintf(stderr, "log %d: %s\n", n, d.msg);
			continue;
		}
		CHECK(m.signature_counter == (uint64_t)n);
		CHECK(pk != NULL && logmsg_verify(&m, pk, 1) == 0);
		if (ops_out && strlen(ops_out) + m.operation_type.len + 2 < cap) {
			if (ops_out[0])
				strcat(ops_out, ",");
			strncat(ops_out, (const char *)m.operation_type.p, m.operation_type.len);
		}
		logmsg_clear(&m);
	}
	sqlite3_finalize(st);
	X509_free(x);
	return n;
}

static void test_lifecycle(struct tse *t, struct t_shift_clock *clk)
{
	struct siegel_diag d = { { 0 } };
	struct tse_tx_result r;
	tse_tx_result_init(&r);
	const char *id = "life";
	uint8_t before[32], after[32];

	CHECK_OK(fx_create(t, id, SIEGEL_ALG_P256_SHA256, LOGMSG_TIME_UNIX, 2, 2));
	CHECK_RC(fx_create(t, id, SIEGEL_ALG_P256_SHA256, LOGMSG_TIME_UNIX, 2, 2), SIEGEL_E_EXISTS);
	struct tse_tss_info in;
	CHECK_OK(tse_tss_info(t, id, &in, &d));
	CHECK_STR(in.state, "UNINITIALIZED");
	CHECK(in.signature_counter == 0 && !in.time_set);

	/* Before initialize: transactions and clients refused, store unchanged. */
	fx_store_digest(tse_store(t), before);
	CHECK_RC(tse_start(t, id, "KASSE-01", NULL, NULL, 0, &r, &d), SIEGEL_E_SE_NOT_INITIALIZED);
	CHECK_RC(tse_initialize(t, id, "x", &d), SIEGEL_E_UNAUTHENTICATED);
	fx_store_digest(tse_store(t), after);
	CHECK_MEM(before, after, 32);

	/* Wrong PIN three times blocks; the PUK unblocks. Each attempt is logged. */
	int rem = -1;
	CHECK_RC(tse_authenticate(t, id, TSE_USER_ADMIN, "99999", &rem, &d), SIEGEL_E_AUTH_FAILED);
	CHECK(rem == 2);
	CHECK(strstr(d.msg, "2 tries left") != NULL);
	CHECK_RC(tse_authenticate(t, id, TSE_USER_ADMIN, "99999", &rem, &d), SIEGEL_E_AUTH_FAILED);
	CHECK(rem == 1);
	CHECK_RC(tse_authenticate(t, id, TSE_USER_ADMIN, "99999", &rem, &d), SIEGEL_E_PIN_BLOCKED);
	CHECK(rem == 0);
	CHECK_RC(tse_authenticate(t, id, TSE_USER_ADMIN, FX_ADMIN_PIN, &rem, &d), SIEGEL_E_PIN_BLOCKED);
	CHECK_RC(tse_unblock(t, id, TSE_USER_ADMIN, "000000", "11111", &d), SIEGEL_E_UNBLOCK_FAILED);
	CHECK_RC(tse_authenticate(t, id, TSE_USER_ADMIN, FX_ADMIN_PIN, &rem, &d), SIEGEL_E_PIN_BLOCKED);
	CHECK_OK(tse_unblock(t, id, TSE_USER_ADMIN, FX_ADMIN_PUK, "11111", &d));
	CHECK_RC(tse_authenticate(t, id, TSE_USER_ADMIN, FX_ADMIN_PIN, &rem, &d), SIEGEL_E_AUTH_FAILED);
	CHECK_RC(tse_authenticate(t, id, "root", "11111", &rem, &d), SIEGEL_E_UNKNOWN_USER);
	CHECK_OK(tse_authenticate(t, id, TSE_USER_ADMIN, "11111", &rem, &d));
	CHECK(rem == 3);

	/* initialize once */
	CHECK_RC(tse_initialize(t, id, "bad\x01", &d), SIEGEL_E_PARAM);
	CHECK_OK(tse_initialize(t, id, "Kasse Filiale 1", &d));
	CHECK_RC(tse_initialize(t, id, "again", &d), SIEGEL_E_ALREADY_INITIALIZED);
	CHECK_OK(tse_register_client(t, id, "KASSE-01", &d));
	CHECK_RC(tse_register_client(t, id, "KASSE-01", &d), SIEGEL_E_EXISTS);

	/* No transaction before the time is set. */
	fx_store_digest(tse_store(t), before);
	CHECK_RC(tse_start(t, id, "KASSE-01", NULL, NULL, 0, &r, &d), SIEGEL_E_TIME_NOT_SET);
	fx_store_digest(tse_store(t), after);
	CHECK_MEM(before, after, 32);

	/* timeAdmin may update the time but nothing else. */
	CHECK_OK(tse_logout(t, id, TSE_USER_ADMIN, &d));
	CHECK_RC(tse_logout(t, id, TSE_USER_ADMIN, &d), SIEGEL_E_UNAUTHENTICATED);
	CHECK_RC(tse_update_time(t, id, NULL, &d), SIEGEL_E_UNAUTHENTICATED);
	CHECK_OK(tse_authenticate(t, id, TSE_USER_TIMEADMIN, FX_TA_PIN, NULL, &d));
	CHECK_RC(tse_register_client(t, id, "KASSE-02", &d), SIEGEL_E_UNAUTHORIZED);
	struct tse_time_result tr;
	CHECK_OK(tse_update_time(t, id, &tr, &d));
	CHECK_STR(tr.server, ntp.name);
	int64_t host = siegel_clock_system()->now(NULL);
	CHECK(tr.after >= host - 2 && tr.after <= host + 2);
	CHECK_OK(tse_tss_info(t, id, &in, &d));
	CHECK(in.time_set);

	/* Auto-logout after inactivity: a logOut(timeout) log, then refusal. */
	clk->shift = TSE_DEFAULT_AUTH_TIMEOUT + 5;
	CHECK_RC(tse_update_time(t, id, NULL, &d), SIEGEL_E_UNAUTHENTICATED);
	clk->shift = 0;
	uint8_t *der = NULL;
	size_t der_len = 0;
	CHECK_OK(tse_last_log(t, id, &der, &der_len, &d));
	struct logmsg m;
	CHECK_OK(logmsg_parse(&m, der, der_len, &d));
	CHECK(m.operation_type.len == 6 && memcmp(m.operation_type.p, "logOut", 6) == 0);
	/* 81 "timeAdmin" 82 01 01 (cause timeout) */
	CHECK(m.system_operation_data.len == 14 && m.system_operation_data.p[13] == 1);
	logmsg_clear(&m);
	free(der);

	/* Transactions */
	CHECK_OK(tse_authenticate(t, id, TSE_USER_ADMIN, "11111", NULL, &d));
	CHECK_OK(tse_start(t, id, "KASSE-01", " ", NULL, 0, &r, &d));
	CHECK(r.transaction_number == 1);
	uint64_t c1 = r.signature_counter;
	const char *upd = "1;\"Bier\";3.50";
	CHECK_OK(tse_update(t, id, "KASSE-01", 1, "Bestellung-V1", (const uint8_t *)upd, strlen(upd), &r, &d));
	CHECK(r.signature_counter == c1 + 1);
	const char *pd = "Beleg^3.50_0.00_0.00_0.00_0.00^3.50:Bar";
	CHECK_OK(tse_finish(t, id, "KASSE-01", 1, "Kassenbeleg-V1", (const uint8_t *)pd, strlen(pd), &r, &d));
	CHECK(r.signature_counter == c1 + 2);
	CHECK(r.qr.len > 0 && strncmp((const char *)r.qr.data, "V0;KASSE-01;Kassenbeleg-V1;Beleg^3.50", 37) == 0);
	CHECK(strstr((const char *)r.qr.data, ";ecdsa-plain-SHA256;unixTime;") != NULL);

	/* Bad input: each its own error, the store unchanged. */
	fx_store_digest(tse_store(t), before);
	char big[200];
	memset(big, 'A', sizeof(big));
	big[101] = 0;
	CHECK_RC(tse_start(t, id, "KASSE-01", big, NULL, 0, &r, &d), SIEGEL_E_PARAM);
	CHECK(strstr(d.msg, "processType") != NULL);
	big[31] = 0;
	CHECK_RC(tse_start(t, id, big, NULL, NULL, 0, &r, &d), SIEGEL_E_CLIENT_ID);
	CHECK(strstr(d.msg, "30") != NULL);
	CHECK_RC(tse_start(t, id, "KASSE_01", NULL, NULL, 0, &r, &d), SIEGEL_E_CLIENT_ID);
	CHECK_RC(tse_start(t, id, "", NULL, NULL, 0, &r, &d), SIEGEL_E_CLIENT_ID);
	CHECK_RC(tse_start(t, id, "KASSE-99", NULL, NULL, 0, &r, &d), SIEGEL_E_CLIENT_NOT_REGISTERED);
	size_t huge_len = TSE_DEFAULT_MAX_PROCESS_DATA + 1;
	uint8_t *huge = calloc(1, huge_len);
	CHECK_RC(tse_start(t, id, "KASSE-01", NULL, huge, huge_len, &r, &d), SIEGEL_E_LIMIT);
	CHECK(strstr(d.msg, "processData") != NULL);
	free(huge);
	CHECK_RC(tse_finish(t, id, "KASSE-01", 77, "Kassenbeleg-V1", NULL, 0, &r, &d), SIEGEL_E_NO_TRANSACTION);
	CHECK(strstr(d.msg, "does not exist") != NULL);
	CHECK_RC(tse_finish(t, id, "KASSE-01", 1, "Kassenbeleg-V1", NULL, 0, &r, &d), SIEGEL_E_NO_TRANSACTION);
	CHECK(strstr(d.msg, "already finished") != NULL);
	CHECK_RC(tse_update(t, id, "KASSE-01", 1, NULL, NULL, 0, &r, &d), SIEGEL_E_NO_TRANSACTION);
	CHECK_RC(tse_finish(t, id, "KASSE-01", 2, NULL, NULL, 0, &r, &d), SIEGEL_E_PARAM);
	CHECK(r.log.len == 0);
	fx_store_digest(tse_store(t), after);
	CHECK_MEM(before, after, 32);

	/* Another client's transaction is not yours. */
	CHECK_OK(tse_register_client(t, id, "KASSE 2 (Bar)", &d));
	CHECK_OK(tse_start(t, id, "KASSE-01", " ", NULL, 0, &r, &d));
	uint64_t tx2 = r.transaction_number;
	CHECK(tx2 == 2);
	CHECK_RC(tse_finish(t, id, "KASSE 2 (Bar)", tx2, "Kassenbeleg-V1", NULL, 0, &r, &d),
		SIEGEL_E_NO_TRANSACTION);
	CHECK(strstr(d.msg, "another client") != NULL);

	/* Limits: 2 clients, 2 open transactions. */
	CHECK_RC(tse_register_client(t, id, "KASSE-03", &d), SIEGEL_E_CLIENT_LIMIT);
	CHECK_OK(tse_start(t, id, "KASSE 2 (Bar)", " ", NULL, 0, &r, &d));
	fx_store_digest(tse_store(t), before);
	CHECK_RC(tse_start(t, id, "KASSE-01", " ", NULL, 0, &r, &d), SIEGEL_E_TX_LIMIT);
	fx_store_digest(tse_store(t), after);
	CHECK_MEM(before, after, 32);
	CHECK_OK(tse_tss_info(t, id, &in, &d));
	CHECK(in.n_open_tx == 2 && in.max_open_tx == 2 && in.n_clients == 2);

	/* Deregistered clients cannot sign. */
	CHECK_OK(tse_deregister_client(t, id, "KASSE 2 (Bar)", &d));
	CHECK_RC(tse_finish(t, id, "KASSE 2 (Bar)", 3, "X", NULL, 0, &r, &d), SIEGEL_E_CLIENT_NOT_REGISTERED);

	CHECK_OK(tse_self_test(t, id, &d));

	char ops[2048];
	int n = check_all_logs(t, id, ops, sizeof(ops));
	CHECK_OK(tse_tss_info(t, id, &in, &d));
	CHECK((uint64_t)n == in.signature_counter);
	CHECK_STR(ops,
		"authenticateUser,authenticateUser,authenticateUser,authenticateUser,unblockUser,authenticateUser,"
		"unblockUser,authenticateUser,authenticateUser,authenticateUser,initialize,registerClient,"
		"logOut,authenticateUser,updateTime,logOut,authenticateUser,StartTransaction,"
		"UpdateTransaction,FinishTransaction,registerClient,StartTransaction,StartTransaction,"
		"deregisterClient,selfTest");

	/* disable: no more signing, state kept. */
	CHECK_OK(tse_disable(t, id, &d));
	CHECK_RC(tse_start(t, id, "KASSE-01", " ", NULL, 0, &r, &d), SIEGEL_E_SE_DISABLED);
	CHECK_RC(tse_authenticate(t, id, TSE_USER_ADMIN, "11111", NULL, &d), SIEGEL_E_SE_DISABLED);
	CHECK_OK(tse_tss_info(t, id, &in, &d));
	CHECK_STR(in.state, "DISABLED");
	tse_tx_result_free(&r);
}

static void test_time_servers(struct tse *t, const char *dir)
{
	struct siegel_diag d = { { 0 } };
	const char *id = "timing";
	CHECK_OK(fx_create(t, id, SIEGEL_ALG_P256_SHA256, LOGMSG_TIME_UNIX, 0, 0));
	CHECK_OK(tse_authenticate(t, id, TSE_USER_ADMIN, FX_ADMIN_PIN, NULL, &d));
	CHECK_OK(tse_initialize(t, id, "timing", &d));
	tse_close(t);

	/* A server that is unreachable, one that lies about being synchronised,
	 * one two hours off: each refused, nothing stored. */
	struct t_liar li3, off, silent;
	CHECK(t_liar_start(&li3, T_LIAR_LI3, 0, 0, 0) == 0);
	CHECK(t_liar_start(&off, T_LIAR_OK, 7200 * T_NS, 0, 0) == 0);
	CHECK(t_liar_start(&silent, T_LIAR_SILENT, 0, 0, 0) == 0);
	struct {
		const char *server;
		int want;
		const char *msg;
	} cases[] = {
		{ silent.name, SIEGEL_E_TIMESYNC, silent.name },
		{ li3.name, SIEGEL_E_TIMESYNC, "synchron" },
		{ off.name, SIEGEL_E_INVALID_TIME, "host clock" },
		{ "127.0.0.1:1", SIEGEL_E_TIMESYNC, "127.0.0.1:1" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *list[1] = { cases[i].server };
		struct tse_config cfg;
		fx_config(&cfg, dir, list, 1);
		struct tse *u = NULL;
		CHECK_OK(tse_open(&u, &cfg, &d));
		if (u == NULL)
			continue;
		uint8_t before[32], after[32];
		fx_store_digest(tse_store(u), before);
		CHECK_RC(tse_update_time(u, id, NULL, &d), cases[i].want);
		if (strstr(d.msg, cases[i].msg) == NULL) {
			t_failures++;
			fprintf(stderr, "FAIL time case %zu: message '%s' lacks '%s'\n", i, d.msg, cases[i].msg);
		}
		fx_store_digest(tse_store(u), after);
		CHECK_MEM(before, after, 32);
		tse_close(u);
	}
	/* chronyd and the liar disagree: refused as well. */
	const char *both[2] = { ntp.name, off.name };
	struct tse_config cfg;
	fx_config(&cfg, dir, both, 2);
	cfg.max_host_skew = -1;
	struct tse *u = NULL;
	CHECK_OK(tse_open(&u, &cfg, &d));
	if (u != NULL) {
		CHECK_RC(tse_update_time(u, id, NULL, &d), SIEGEL_E_INVALID_TIME);
		CHECK(strstr(d.msg, "disagree") != NULL);
		tse_close(u);
	}
	t_liar_stop(&li3);
	t_liar_stop(&off);
	t_liar_stop(&silent);
}

/* Each algorithm and time format: a Finish log verified by the openssl CLI
 * (independent of our verifier), serialNumber checked against openssl. */
static void test_algorithms(struct tse *t)
{
	static const struct {
		enum siegel_alg alg;
		enum logmsg_time_format tf;
		const char *dgst;
		size_t point_len;
	} algs[] = {
		{ SIEGEL_ALG_P256_SHA256, LOGMSG_TIME_UNIX, "-sha256", 65 },
		{ SIEGEL_ALG_P384_SHA384, LOGMSG_TIME_UTC, "-sha384", 97 },
		{ SIEGEL_ALG_BP256_SHA256, LOGMSG_TIME_GENERALIZED, "-sha256", 65 },
		{ SIEGEL_ALG_BP384_SHA384, LOGMSG_TIME_UNIX, "-sha384", 97 },
	};
	const char *clients[] = { "KASSE-01" };
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		struct siegel_diag d = { { 0 } };
		char id[32];
		snprintf(id, sizeof(id), "alg-%s", alg_get(algs[i].alg)->config_name);
		CHECK_OK(fx_ready(t, id, algs[i].alg, algs[i].tf, clients, 1));
		struct tse_tx_result r;
		tse_tx_result_init(&r);
		CHECK_OK(tse_start(t, id, "KASSE-01", "Kassenbeleg-V1", NULL, 0, &r, &d));
		const char *pd = "Beleg^1.00_0.00_0.00_0.00_0.00^1.00:Bar";
		CHECK_OK(tse_finish(t, id, "KASSE-01", r.transaction_number, "Kassenbeleg-V1",
			(const uint8_t *)pd, strlen(pd), &r, &d));
		struct logmsg m;
		CHECK_OK(logmsg_parse(&m, r.log.data, r.log.len, &d));
		CHECK(m.log_time.fmt == algs[i].tf);
		char path[512], dtbs[512], sig[512], pub[512], logf[512];
		snprintf(dtbs, sizeof(dtbs), "%s/%s.dtbs", t_tmpdir(), id);
		snprintf(sig, sizeof(sig), "%s/%s.sig", t_tmpdir(), id);
		snprintf(pub, sizeof(pub), "%s/%s.pub.pem", t_tmpdir(), id);
		snprintf(logf, sizeof(logf), "%s/%s.log", t_tmpdir(), id);
		t_write(dtbs, m.dtbs.p, m.dtbs.len);
		t_write(logf, r.log.data, r.log.len);
		uint8_t *sder = NULL;
		size_t sder_len = 0;
		CHECK_OK(alg_plain_to_der(&sder, &sder_len, m.signature.p, m.signature.len));
		t_write(sig, sder, sder_len);
		OPENSSL_free(sder);
		/* the public key from the TSS certificate, as the auditor gets it */
		sqlite3_stmt *st = NULL;
		sqlite3_prepare_v2(store_db(tse_store(t)), "SELECT cert_leaf FROM tss WHERE id = ?", -1, &st, NULL);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		CHECK(sqlite3_step(st) == SQLITE_ROW);
		snprintf(path, sizeof(path), "%s/%s.cert.pem", t_tmpdir(), id);
		t_write(path, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
		sqlite3_finalize(st);
		CHECK(t_run(NULL, "openssl x509 -in '%s' -pubkey -noout > '%s'", path, pub) == 0);
		char *out = NULL;
		CHECK(t_run(&out, "openssl dgst %s -verify '%s' -signature '%s' '%s' 2>&1", algs[i].dgst,
			pub, sig, dtbs) == 0);
		CHECK(out && strstr(out, "Verified OK") != NULL);
		free(out);
		/* a flipped byte must fail in openssl too */
		((uint8_t *)m.dtbs.p)[m.dtbs.len - 1] ^= 1;
		t_write(dtbs, m.dtbs.p, m.dtbs.len);
		CHECK(t_run(NULL, "openssl dgst %s -verify '%s' -signature '%s' '%s' >/dev/null 2>&1",
			algs[i].dgst, pub, sig, dtbs) != 0);
		/* serialNumber = SHA-256 of the uncompressed point, per openssl */
		CHECK(t_run(&out, "openssl pkey -pubin -in '%s' -outform DER | tail -c %zu | "
			"openssl dgst -sha256 -r", pub, algs[i].point_len) == 0);
		char serial_hex[65];
		siegel_hex_encode(serial_hex, m.serial_number.p, m.serial_number.len);
		CHECK(out && strncmp(out, serial_hex, 64) == 0);
		free(out);
		CHECK(t_run(NULL, "openssl asn1parse -inform DER -in '%s' >/dev/null", logf) == 0);
		logmsg_clear(&m);
		tse_tx_result_free(&r);
	}
}

int main(void)
{
	t_alarm(300);
	const char *dir = t_tmpdir();
	char data[512];
	if (siegel_path_join(data, sizeof(data), dir, "data") != 0)
		abort();
	if (t_ntp_start(&ntp, 280) != 0)
		return 99;
	ntp_list[0] = ntp.name;
	fx_softhsm(data);

	struct t_shift_clock sc;
	t_shift_clock_init(&sc);
	struct tse_config cfg;
	fx_config(&cfg, data, ntp_list, 1);
	cfg.clock = &sc.clock;
	struct tse *t = NULL;
	struct siegel_diag d = { { 0 } };
	CHECK_OK(tse_open(&t, &cfg, &d));
	if (t == NULL) {
		fprintf(stderr, "tse_open: %s\n", d.msg);
		return t_done();
	}
	test_lifecycle(t, &sc);
	test_algorithms(t);
	test_time_servers(t, data); /* closes t */
	t_ntp_stop(&ntp);
	return t_done();
}
