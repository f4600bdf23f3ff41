/* sntp tests. The positive path runs against a real NTP server: chronyd on
 * 127.0.0.1 started by scripts/test-ntp-server.sh (serving the system clock,
 * never adjusting it). The negative paths use lying servers, threads of this
 * test with one UDP socket on 127.0.0.1 (or ::1) each. Both helpers are in
 * tests/harness/harness_ntp.c. No other network. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_ntp.h"
#include "sntp/sntp.h"

#define NS T_NS
#define CHRONY_TTL_S 180       /* chronyd exits on its own after this (-t) */
#define TEST_ALARM_S 240       /* whole test bound; the handler kills chronyd */
#define CHRONY_READY_MS 15000  /* how long chronyd may take to answer */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One query against a liar of the given mode; checks the error and that the
 * message contains want. */
static void check_liar(enum t_liar_mode mode, const char *want)
{
	struct t_liar l;
	struct sntp_sample s;
	struct siegel_diag d = { { 0 } };
	CHECK(t_liar_start(&l, mode, 0, 0, 0) == 0);
	CHECK_RC(sntp_query(&s, l.name, 400, siegel_clock_system(), &d), SIEGEL_E_TIMESYNC);
	if (strstr(d.msg, want) == NULL || strstr(d.msg, l.name) == NULL) {
		t_failures++;
		fprintf(stderr, "FAIL liar mode %d: message \"%s\", want \"%s\"\n", mode, d.msg,
			want);
	}
	t_checks++;
	t_liar_stop(&l);
}

static void test_bad_names(void)
{
	static const char *bad[] = { "", "[::1", "[::1]x", "127.0.0.1:0", "127.0.0.1:65536",
		"127.0.0.1:12x", ":123", "[]:123" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sntp_sample s;
		struct siegel_diag d = { { 0 } };
		CHECK_RC(sntp_query(&s, bad[i], 200, NULL, &d), SIEGEL_E_INVAL);
		CHECK(d.msg[0] != 0);
	}
	/* Unresolvable: an empty label is refused by the resolver itself, so
	 * no DNS packet leaves the host. */
	struct sntp_sample s;
	struct siegel_diag d = { { 0 } };
	CHECK_RC(sntp_query(&s, "no..such.invalid:123", 500, NULL, &d), SIEGEL_E_TIMESYNC);
	CHECK(strstr(d.msg, "no..such.invalid:123: cannot resolve host name") == d.msg);
}

static void test_no_server(void)
{
	struct sntp_sample s;
	struct siegel_diag d = { { 0 } };
	char name[64];

	/* A closed port: the kernel answers with port unreachable. */
	snprintf(name, sizeof(name), "127.0.0.1:%d", t_free_port(1));
	int64_t t0 = mono_ms();
	CHECK_RC(sntp_query(&s, name, 500, NULL, &d), SIEGEL_E_TIMESYNC);
	CHECK(mono_ms() - t0 < 1500);
	CHECK(strstr(d.msg, name) == d.msg);
	CHECK(strstr(d.msg, "no NTP server") || strstr(d.msg, "no answer"));

	/* A server that never answers: the timeout is honoured. */
	struct t_liar l;
	CHECK(t_liar_start(&l, T_LIAR_SILENT, 0, 0, 0) == 0);
	t0 = mono_ms();
	CHECK_RC(sntp_query(&s, l.name, 400, NULL, &d), SIEGEL_E_TIMESYNC);
	int64_t el = mono_ms() - t0;
	CHECK(el >= 390 && el < 1500);
	char want[128];
	snprintf(want, sizeof(want), "%s: no answer within 400 ms", l.name);
	CHECK_STR(d.msg, want);
	t_liar_stop(&l);
}

static void test_liars(void)
{
	char want[128];
	struct t_liar l;
	struct sntp_sample s;
	struct siegel_diag d = { { 0 } };

	CHECK(t_liar_start(&l, T_LIAR_LI3, 0, 0, 0) == 0);
	CHECK_RC(sntp_query(&s, l.name, 400, NULL, &d), SIEGEL_E_TIMESYNC);
	snprintf(want, sizeof(want), "%s: leap indicator 3 (server not synchronised)", l.name);
	CHECK_STR(d.msg, want);
	t_liar_stop(&l);

	check_liar(T_LIAR_KOD_RATE, "Kiss-o'-Death \"RATE\"");
	check_liar(T_LIAR_BAD_ORIGIN, "originate timestamp");
	check_liar(T_LIAR_MODE3, "reply mode 3, want 4");
	check_liar(T_LIAR_ZERO_TX, "zero transmit timestamp");
	check_liar(T_LIAR_STRATUM16, "stratum 16");
	check_liar(T_LIAR_VERSION2, "reply version 2");
	check_liar(T_LIAR_SHORT, "40-byte packet");

	/* A correct but shifted server: accepted by a single query, offset seen. */
	CHECK(t_liar_start(&l, T_LIAR_OK, 3600 * NS, 0, 0) == 0);
	CHECK_OK(sntp_query(&s, l.name, 1000, NULL, &d));
	CHECK(s.offset > 3599.9 && s.offset < 3600.1);
	CHECK(llabs(s.unix_sec - (int64_t)time(NULL) - 3600) <= 1);
	CHECK(s.delay >= 0 && s.delay < 0.5);
	CHECK(s.stratum == 2 && s.leap == 0);
	CHECK_STR(s.server, l.name);
	t_liar_stop(&l);

	/* Too slow: rejected by max_delay. */
	CHECK(t_liar_start(&l, T_LIAR_OK, 0, 0, 300) == 0);
	const char *one[] = { l.name };
	struct sntp_config cfg = { .servers = one, .n_servers = 1, .timeout_ms = 1000,
		.max_delay = 0.1 };
	CHECK_RC(sntp_sync(&s, &cfg, NULL, &d), SIEGEL_E_TIMESYNC);
	CHECK(strstr(d.msg, "round trip") != NULL && strstr(d.msg, "exceeds 0.100 s") != NULL);
	t_liar_stop(&l);

	/* IPv6 literal with port, when ::1 exists here. */
	if (t_liar_start(&l, T_LIAR_OK, 0, 1, 0) == 0) {
		CHECK_OK(sntp_query(&s, l.name, 1000, NULL, &d));
		CHECK_STR(s.server, l.name);
		CHECK(s.offset > -0.1 && s.offset < 0.1);
		t_liar_stop(&l);
	} else {
		fprintf(stderr, "note: no ::1, IPv6 case skipped\n");
	}

	/* All servers bad: every failure is named. */
	struct t_liar a, b;
	CHECK(t_liar_start(&a, T_LIAR_LI3, 0, 0, 0) == 0);
	CHECK(t_liar_start(&b, T_LIAR_KOD_RATE, 0, 0, 0) == 0);
	const char *two[] = { a.name, b.name };
	struct sntp_config c2 = { .servers = two, .n_servers = 2, .timeout_ms = 400 };
	CHECK_RC(sntp_sync(&s, &c2, NULL, &d), SIEGEL_E_TIMESYNC);
	CHECK(strstr(d.msg, "no usable time server") != NULL);
	CHECK(strstr(d.msg, a.name) != NULL && strstr(d.msg, "leap indicator 3") != NULL);
	CHECK(strstr(d.msg, b.name) != NULL && strstr(d.msg, "Kiss-o'-Death") != NULL);
	t_liar_stop(&a);
	t_liar_stop(&b);

	struct sntp_config c0 = { .servers = NULL, .n_servers = 0 };
	CHECK_RC(sntp_sync(&s, &c0, NULL, &d), SIEGEL_E_INVAL);
}

static void test_chrony(void)
{
	char dir[512], chrony[64];
	snprintf(dir, sizeof(dir), "%s/chrony", t_tmpdir());
	int port = t_free_port(1);
	if (port <= 0 || t_chrony_start(dir, port, CHRONY_TTL_S) != 0) {
		CHECK(!"chronyd started");
		return;
	}
	snprintf(chrony, sizeof(chrony), "127.0.0.1:%d", port);

	/* chronyd may need a moment before it serves as synchronised. */
	struct sntp_sample s;
	struct siegel_diag d = { { 0 } };
	int rc = -1;
	int64_t t0 = mono_ms();
	while (mono_ms() - t0 < CHRONY_READY_MS) {
		rc = sntp_query(&s, chrony, 500, siegel_clock_system(), &d);
		if (rc == 0)
			break;
		usleep(200000);
	}
	CHECK_OK(rc);
	if (rc != 0) {
		fprintf(stderr, "chronyd never answered well: %s\n", d.msg);
		t_chrony_stop(dir);
		return;
	}
	printf("chronyd ready after %lld ms: stratum %d offset %+.6f s delay %.6f s\n",
		(long long)(mono_ms() - t0), s.stratum, s.offset, s.delay);

	const char *only[] = { chrony };
	struct sntp_config cfg = { .servers = only, .n_servers = 1 };
	CHECK_OK(sntp_sync(&s, &cfg, siegel_clock_system(), &d));
	CHECK(llabs(s.unix_sec - (int64_t)time(NULL)) <= 1);
	CHECK(s.offset > -1.0 && s.offset < 1.0);
	CHECK(s.stratum >= 1 && s.stratum <= 15 && s.leap != 3);
	CHECK(s.nsec < 1000000000u);
	CHECK_STR(s.server, chrony);
	CHECK_STR(d.msg, "");

	/* chrony + a server one hour off: they disagree. */
	struct t_liar off, silent, half, one;
	CHECK(t_liar_start(&off, T_LIAR_OK, 3600 * NS, 0, 0) == 0);
	const char *dis[] = { chrony, off.name };
	struct sntp_config c2 = { .servers = dis, .n_servers = 2, .timeout_ms = 1000 };
	CHECK_RC(sntp_sync(&s, &c2, NULL, &d), SIEGEL_E_INVALID_TIME);
	static const char dis_msg[] = "time servers disagree by ";
	CHECK(strncmp(d.msg, dis_msg, sizeof(dis_msg) - 1) == 0);
	double spread = strtod(d.msg + sizeof(dis_msg) - 1, NULL);
	CHECK(spread > 3599.9 && spread < 3600.1);
	CHECK(strstr(d.msg, off.name) != NULL && strstr(d.msg, chrony) != NULL);
	t_liar_stop(&off);

	/* A silent server next to chrony: sync works, the diag names the silent one. */
	CHECK(t_liar_start(&silent, T_LIAR_SILENT, 0, 0, 0) == 0);
	const char *mix[] = { silent.name, chrony };
	struct sntp_config c3 = { .servers = mix, .n_servers = 2, .timeout_ms = 300 };
	CHECK_OK(sntp_sync(&s, &c3, NULL, &d));
	CHECK_STR(s.server, chrony);
	CHECK(strstr(d.msg, "1 of 2 time servers failed") == d.msg);
	CHECK(strstr(d.msg, silent.name) != NULL);
	t_liar_stop(&silent);

	/* Median by offset: chrony (~0), +0.5 s, +1.0 s -> the +0.5 s server. */
	CHECK(t_liar_start(&half, T_LIAR_OK, NS / 2, 0, 0) == 0);
	CHECK(t_liar_start(&one, T_LIAR_OK, NS, 0, 0) == 0);
	const char *three[] = { one.name, chrony, half.name };
	struct sntp_config c4 = { .servers = three, .n_servers = 3 };
	CHECK_OK(sntp_sync(&s, &c4, NULL, &d));
	CHECK_STR(s.server, half.name);
	CHECK(s.offset > 0.4 && s.offset < 0.6);
	/* The same within a tighter limit: 1.0 s spread > 0.8 s. */
	c4.max_disagreement = 0.8;
	CHECK_RC(sntp_sync(&s, &c4, NULL, &d), SIEGEL_E_INVALID_TIME);
	t_liar_stop(&half);
	t_liar_stop(&one);

	t_chrony_stop(dir);
}

int main(void)
{
	t_alarm(TEST_ALARM_S);

	test_bad_names();
	test_no_server();
	test_liars();
	test_chrony();
	return t_done();
}
