/* sntp: SNTP client (RFC 4330; packet format and checks of RFC 5905).
 *
 * One query = one 48-byte client packet (LI=0, VN=4, Mode=3) over a
 * connected UDP socket. The transmit timestamp is our send time with random
 * low bits; a reply counts only if its originate timestamp echoes it exactly,
 * so blind spoofing needs to guess ~2^32 values. Replies that fail that check
 * (or are too short) are ignored and we keep waiting until the deadline, so
 * an injected bogus packet cannot pre-empt the real answer.
 *
 * Local times T1/T4 come from clock_gettime(CLOCK_REALTIME) (nanoseconds);
 * the deadline from CLOCK_MONOTONIC. The struct siegel_clock argument is not
 * read today: its `now` has only whole seconds, too coarse for offset and
 * delay. It stays in the interface for a future sub-second injectable clock.
 *
 * Offsets are computed on wrapped 64-bit NTP timestamp differences, so the
 * NTP era (2036 rollover) does not matter as long as server and local clock
 * are within 68 years of each other. */
#include "sntp/sntp.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SNTP_PACKET_LEN 48
#define SNTP_DEFAULT_PORT "123"
#define SNTP_DEFAULT_TIMEOUT_MS 1500
#define SNTP_DEFAULT_MAX_DISAGREEMENT 2.0
#define SNTP_DEFAULT_MAX_DELAY 2.0
#define SNTP_MAX_TIMEOUT_MS 60000
#define SNTP_MAX_SERVERS 16
#define SNTP_MAX_HOST 240       /* DNS names are at most 253; keeps "[host]:port" < 256 */
/* Seconds from 1900-01-01 (NTP era 0) to 1970-01-01. */
#define SNTP_UNIX_EPOCH 2208988800u
/* Round trips below zero by less than this are clock granularity, not lies. */
#define SNTP_NEG_DELAY_SLACK_NS 1000000

#define NS_PER_SEC 1000000000LL

/* Server name split into host and port, plus "host:port" for messages. */
struct sntp_target {
	char host[SNTP_MAX_HOST + 1];
	char port[8];
	char name[sizeof(((struct sntp_sample *)0)->server)];
};

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unix nanoseconds -> NTP 32.32 timestamp (era bits dropped by the cast). */
static uint64_t ns_to_ntp(int64_t unix_ns)
{
	int64_t sec = unix_ns / NS_PER_SEC;
	int64_t nsec = unix_ns % NS_PER_SEC;
	if (nsec < 0) {
		nsec += NS_PER_SEC;
		sec--;
	}
	uint64_t s = (uint32_t)((uint64_t)sec + SNTP_UNIX_EPOCH);
	uint64_t frac = ((uint64_t)nsec << 32) / (uint64_t)NS_PER_SEC;
	return (s << 32) | frac;
}

/* a - b of two NTP timestamps in nanoseconds, valid for |a - b| < 68 years. */
static int64_t ntp_diff_ns(uint64_t a, uint64_t b)
{
	uint64_t u = a - b;
	int neg = (u >> 63) != 0;
	if (neg)
		u = (uint64_t)0 - u;
	int64_t ns = (int64_t)(u >> 32) * NS_PER_SEC +
		(int64_t)(((u & 0xffffffffu) * (uint64_t)NS_PER_SEC) >> 32);
	return neg ? -ns : ns;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* Splits "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal
 * (two or more colons, default port). */
static int parse_target(struct sntp_target *t, const char *server, struct siegel_diag *d)
{
	const char *host = server, *port = NULL;
	size_t host_len;

	memset(t, 0, sizeof(*t));
	if (server == NULL || server[0] == 0)
		return siegel_fail(d, SIEGEL_E_INVAL, "empty time server name");
	if (server[0] == '[') {
		const char *end = strchr(server, ']');
		if (end == NULL)
			return siegel_fail(d, SIEGEL_E_INVAL, "%s: missing ']' after IPv6 address",
				server);
		host = server + 1;
		host_len = (size_t)(end - host);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != 0)
			return siegel_fail(d, SIEGEL_E_INVAL,
				"%s: want \"[address]\" or \"[address]:port\"", server);
	} else {
		const char *colon = strchr(server, ':');
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			host_len = (size_t)(colon - server);
			port = colon + 1;
		} else {
			host_len = strlen(server); /* no port, or a bare IPv6 literal */
		}
	}
	if (host_len == 0)
		return siegel_fail(d, SIEGEL_E_INVAL, "%s: empty host name", server);
	if (host_len > SNTP_MAX_HOST)
		return siegel_fail(d, SIEGEL_E_INVAL, "%.64s...: host name longer than %d bytes",
			server, SNTP_MAX_HOST);
	memcpy(t->host, host, host_len);
	if (port != NULL) {
		long long p;
		if (siegel_strtoll(&p, port, 1, 65535) != 0)
			return siegel_fail(d, SIEGEL_E_INVAL, "%s: port \"%s\" is not in 1..65535",
				server, port);
		snprintf(t->port, sizeof(t->port), "%lld", p);
	} else {
		snprintf(t->port, sizeof(t->port), "%s", SNTP_DEFAULT_PORT);
	}
	if (strchr(t->host, ':') != NULL)
		snprintf(t->name, sizeof(t->name), "[%s]:%s", t->host, t->port);
	else
		snprintf(t->name, sizeof(t->name), "%s:%s", t->host, t->port);
	return 0;
}

/* A connected UDP socket to the first usable address of t. */
static int open_socket(int *fd_out, const struct sntp_target *t, struct siegel_diag *d)
{
	struct addrinfo hints, *res = NULL;
	int rc = SIEGEL_E_IO, err_no = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_protocol = IPPROTO_UDP;
	hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
	int g = getaddrinfo(t->host, t->port, &hints, &res);
	if (g == EAI_ADDRFAMILY || g == EAI_NONAME) {
		/* AI_ADDRCONFIG hides ::1 and 127.0.0.1 on hosts with only
		 * loopback; retry without it before giving up. */
		hints.ai_flags = AI_NUMERICSERV;
		g = getaddrinfo(t->host, t->port, &hints, &res);
	}
	if (g != 0)
		return siegel_fail(d, SIEGEL_E_TIMESYNC, "%s: cannot resolve host name: %s",
			t->name, g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err_no = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			err_no = errno;
			close(fd);
			continue;
		}
		*fd_out = fd;
		rc = 0;
		break;
	}
	freeaddrinfo(res);
	if (rc != 0)
		return siegel_fail(d, SIEGEL_E_TIMESYNC, "%s: cannot open UDP socket: %s", t->name,
			strerror(err_no));
	return 0;
}

/* Kiss code (refid of a stratum-0 reply) as printable text. */
static void kiss_code(char out[17], const uint8_t *refid)
{
	size_t o = 0;
	for (int i = 0; i < 4; i++) {
		if (refid[i] >= 0x20 && refid[i] < 0x7f && refid[i] != '\\')
			out[o++] = (char)refid[i];
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", refid[i]);
	}
	out[o] = 0;
}

/* Checks a reply whose originate timestamp matched and fills out. */
static int check_reply(struct sntp_sample *out, const struct sntp_target *t,
	const uint8_t *p, uint64_t t1, uint64_t t4, int64_t t4_ns, double max_delay,
	struct siegel_diag *d)
{
	int li = p[0] >> 6, vn = (p[0] >> 3) & 7, mode = p[0] & 7, stratum = p[1];
	uint64_t t2 = get_be64(p + 32), t3 = get_be64(p + 40);

	if (mode != 4)
		return siegel_fail(d, SIEGEL_E_TIMESYNC, "%s: reply mode %d, want 4 (server)",
			t->name, mode);
	if (vn != 3 && vn != 4)
		return siegel_fail(d, SIEGEL_E_TIMESYNC, "%s: reply version %d, want 3 or 4",
			t->name, vn);
	if (stratum == 0) {
		char kiss[17];
		kiss_code(kiss, p + 12);
		return siegel_fail(d, SIEGEL_E_TIMESYNC,
			"%s: Kiss-o'-Death \"%s\" (server refuses to serve us)", t->name, kiss);
	}
	if (li == 3)
		return siegel_fail(d, SIEGEL_E_TIMESYNC,
			"%s: leap indicator 3 (server not synchronised)", t->name);
	if (stratum > 15)
		return siegel_fail(d, SIEGEL_E_TIMESYNC,
			"%s: stratum %d (server not synchronised), want 1..15", t->name, stratum);
	if (t3 == 0)
		return siegel_fail(d, SIEGEL_E_TIMESYNC, "%s: reply has a zero transmit timestamp",
			t->name);
	if (t2 == 0)
		return siegel_fail(d, SIEGEL_E_TIMESYNC, "%s: reply has a zero receive timestamp",
			t->name);

	int64_t d21 = ntp_diff_ns(t2, t1);   /* T2 - T1 */
	int64_t d34 = ntp_diff_ns(t3, t4);   /* T3 - T4 */
	int64_t d32 = ntp_diff_ns(t3, t2);   /* server processing time */
	int64_t d41 = ntp_diff_ns(t4, t1);   /* our round trip */
	if (d32 < 0)
		return siegel_fail(d, SIEGEL_E_TIMESYNC,
			"%s: reply transmitted %.6f s before it was received", t->name,
			(double)-d32 / 1e9);
	int64_t offset_ns = (d21 + d34) / 2;
	int64_t delay_ns = d41 - d32;
	if (delay_ns < 0) {
		if (delay_ns < -SNTP_NEG_DELAY_SLACK_NS)
			return siegel_fail(d, SIEGEL_E_TIMESYNC,
				"%s: negative round trip %.6f s (server processing time %.6f s "
				"exceeds our wait %.6f s)", t->name, (double)delay_ns / 1e9,
				(double)d32 / 1e9, (double)d41 / 1e9);
		delay_ns = 0;
	}
	if ((double)delay_ns / 1e9 > max_delay)
		return siegel_fail(d, SIEGEL_E_TIMESYNC, "%s: round trip %.3f s exceeds %.3f s",
			t->name, (double)delay_ns / 1e9, max_delay);

	int64_t server_ns = t4_ns + offset_ns;
	int64_t sec = server_ns / NS_PER_SEC, nsec = server_ns % NS_PER_SEC;
	if (nsec < 0) {
		nsec += NS_PER_SEC;
		sec--;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->server, sizeof(out->server), "%s", t->name);
	out->unix_sec = sec;
	out->nsec = (uint32_t)nsec;
	out->offset = (double)offset_ns / 1e9;
	out->delay = (double)delay_ns / 1e9;
	out->stratum = stratum;
	out->leap = li;
	return 0;
}

/* sntp_query with an explicit round-trip limit (sntp_sync passes its config). */
static int query(struct sntp_sample *out, const char *server, int timeout_ms,
	double max_delay, struct siegel_diag *d)
{
	struct sntp_target t;
	uint8_t pkt[SNTP_PACKET_LEN], reply[1024];
	char bogus[200] = "";
	int fd = -1, rc;

	if (out == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "sntp_query: no output sample");
	if (timeout_ms <= 0)
		timeout_ms = SNTP_DEFAULT_TIMEOUT_MS;
	if (timeout_ms > SNTP_MAX_TIMEOUT_MS)
		timeout_ms = SNTP_MAX_TIMEOUT_MS;
	rc = parse_target(&t, server, d);
	if (rc != 0)
		return rc;
	int64_t deadline = mono_ms() + timeout_ms;
	rc = open_socket(&fd, &t, d);
	if (rc != 0)
		return rc;

	/* Client packet: everything zero but LI/VN/Mode and the transmit
	 * timestamp. The low 16 bits of the fraction (< 16 us) are random. */
	uint16_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		rc = siegel_fail(d, SIEGEL_E_IO, "%s: getrandom: %s", t.name, strerror(errno));
		goto out;
	}
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = (0 << 6) | (4 << 3) | 3;
	uint64_t t1 = (ns_to_ntp(realtime_ns()) & ~(uint64_t)0xffff) | rnd;
	put_be64(pkt + 40, t1);
	if (send(fd, pkt, sizeof(pkt), 0) != (ssize_t)sizeof(pkt)) {
		rc = siegel_fail(d, SIEGEL_E_TIMESYNC, "%s: send: %s", t.name, strerror(errno));
		goto out;
	}

	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			if (bogus[0])
				rc = siegel_fail(d, SIEGEL_E_TIMESYNC,
					"%s: no valid answer within %d ms (ignored %s)", t.name,
					timeout_ms, bogus);
			else
				rc = siegel_fail(d, SIEGEL_E_TIMESYNC,
					"%s: no answer within %d ms", t.name, timeout_ms);
			goto out;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n = poll(&pfd, 1, (int)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = siegel_fail(d, SIEGEL_E_IO, "%s: poll: %s", t.name, strerror(errno));
			goto out;
		}
		if (n == 0)
			continue; /* deadline check above reports the timeout */
		ssize_t r = recv(fd, reply, sizeof(reply), MSG_DONTWAIT);
		int64_t t4_ns = realtime_ns();
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			if (errno == ECONNREFUSED)
				rc = siegel_fail(d, SIEGEL_E_TIMESYNC,
					"%s: no NTP server on that port (ICMP port unreachable)",
					t.name);
			else
				rc = siegel_fail(d, SIEGEL_E_TIMESYNC, "%s: recv: %s", t.name,
					strerror(errno));
			goto out;
		}
		if (r < SNTP_PACKET_LEN) {
			snprintf(bogus, sizeof(bogus), "a %zd-byte packet, want at least %d",
				r, SNTP_PACKET_LEN);
			continue;
		}
		uint64_t orig = get_be64(reply + 24);
		if (orig != t1) {
			/* Stale, duplicated or spoofed: ignore, keep waiting. */
			snprintf(bogus, sizeof(bogus),
				"a reply with originate timestamp %016llx, want %016llx "
				"(stale or spoofed)", (unsigned long long)orig,
				(unsigned long long)t1);
			continue;
		}
		rc = check_reply(out, &t, reply, t1, ns_to_ntp(t4_ns), t4_ns, max_delay, d);
		goto out;
	}
out:
	close(fd);
	return rc;
}

int sntp_query(struct sntp_sample *out, const char *server, int timeout_ms,
	const struct siegel_clock *clk, struct siegel_diag *d)
{
	(void)clk; /* see the file comment */
	return query(out, server, timeout_ms, SNTP_DEFAULT_MAX_DELAY, d);
}

static int cmp_offset(const void *a, const void *b)
{
	const struct sntp_sample *x = a, *y = b;
	return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Appends "; msg" (or "msg") to the joined diagnostic text, truncating. */
static void join_msg(char *buf, size_t cap, const char *msg)
{
	size_t n = strlen(buf);
	if (n > 0 && n + 2 < cap) {
		memcpy(buf + n, "; ", 2);
		n += 2;
	}
	size_t m = strlen(msg);
	if (m > cap - 1 - n)
		m = cap - 1 - n;
	memcpy(buf + n, msg, m);
	buf[n + m] = 0;
}

int sntp_sync(struct sntp_sample *out, const struct sntp_config *cfg,
	const struct siegel_clock *clk, struct siegel_diag *d)
{
	char errs[sizeof(((struct siegel_diag *)0)->msg)] = "";
	struct sntp_sample *s = NULL;
	size_t n_good = 0;
	int rc;

	(void)clk; /* see the file comment */
	if (out == NULL || cfg == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "sntp_sync: missing output or config");
	if (cfg->n_servers == 0 || cfg->servers == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "no time servers configured");
	if (cfg->n_servers > SNTP_MAX_SERVERS)
		return siegel_fail(d, SIEGEL_E_LIMIT, "%zu time servers configured, at most %d",
			cfg->n_servers, SNTP_MAX_SERVERS);
	int timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : SNTP_DEFAULT_TIMEOUT_MS;
	double max_dis = cfg->max_disagreement > 0 ? cfg->max_disagreement
		: SNTP_DEFAULT_MAX_DISAGREEMENT;
	double max_delay = cfg->max_delay > 0 ? cfg->max_delay : SNTP_DEFAULT_MAX_DELAY;

	s = calloc(cfg->n_servers, sizeof(*s));
	if (s == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "out of memory");
	for (size_t i = 0; i < cfg->n_servers; i++) {
		struct siegel_diag qd = { { 0 } };
		if (query(&s[n_good], cfg->servers[i], timeout_ms, max_delay, &qd) == 0)
			n_good++;
		else
			join_msg(errs, sizeof(errs), qd.msg);
	}
	if (n_good == 0) {
		rc = siegel_fail(d, SIEGEL_E_TIMESYNC, "no usable time server: %s", errs);
		goto out;
	}
	qsort(s, n_good, sizeof(*s), cmp_offset);
	double spread = s[n_good - 1].offset - s[0].offset;
	if (spread > max_dis) {
		rc = siegel_fail(d, SIEGEL_E_INVALID_TIME,
			"time servers disagree by %.3f s (limit %.3f s): %s offset %+.3f s, "
			"%s offset %+.3f s", spread, max_dis, s[0].server, s[0].offset,
			s[n_good - 1].server, s[n_good - 1].offset);
		goto out;
	}
	*out = s[(n_good - 1) / 2];
	/* Success: the diagnostic names the servers that failed, if any. */
	if (errs[0])
		siegel_diag_set(d, "%zu of %zu time servers failed: %s",
			cfg->n_servers - n_good, cfg->n_servers, errs);
	else
		siegel_diag_set(d, "%s", "");
	rc = 0;
out:
	free(s);
	return rc;
}
