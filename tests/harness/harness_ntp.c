#include "harness_ntp.h"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "harness.h"
#include "sntp/sntp.h"

/* The chronyd pid for the SIGALRM/atexit safeguard: a handler can only reach
 * file-scope state (test programs only, not libsiegel). */
static volatile pid_t chrony_pid;

static void chrony_kill(void)
{
	if (chrony_pid > 0)
		kill(chrony_pid, SIGTERM);
}

static void on_alarm(int sig)
{
	(void)sig;
	chrony_kill();
	static const char m[] = "test: time limit reached, killed chronyd\n";
	if (write(2, m, sizeof(m) - 1) < 0) {
		/* nothing left to do */
	}
	_exit(98);
}

void t_alarm(int seconds)
{
	signal(SIGALRM, on_alarm);
	alarm((unsigned)seconds);
}

static const char *src_dir(void)
{
	const char *s = getenv("SIEGEL_SRC");
	return s ? s : ".";
}

int t_chrony_start(const char *dir, int port, int ttl_s)
{
	static int registered;
	char *out = NULL;
	int rc = t_run(&out, "'%s/scripts/test-ntp-server.sh' start '%s' %d %d", src_dir(), dir,
		port, ttl_s);
	long pid = out ? strtol(out, NULL, 10) : 0;
	free(out);
	if (rc != 0 || pid <= 0) {
		fprintf(stderr, "cannot start chronyd (rc %d), see %s/chronyd.log\n", rc, dir);
		return -1;
	}
	chrony_pid = (pid_t)pid;
	if (!registered) {
		atexit(chrony_kill);
		registered = 1;
	}
	return 0;
}

void t_chrony_stop(const char *dir)
{
	if (chrony_pid <= 0)
		return;
	if (t_run(NULL, "'%s/scripts/test-ntp-server.sh' stop '%s'", src_dir(), dir) != 0)
		fprintf(stderr, "warning: stopping chronyd failed\n");
	chrony_pid = 0;
}

int t_ntp_wait_ready(const char *name, int ms)
{
	for (int waited = 0; waited <= ms; waited += 200) {
		struct sntp_sample s;
		if (sntp_query(&s, name, 500, siegel_clock_system(), NULL) == 0)
			return 0;
		usleep(200 * 1000);
	}
	return -1;
}

int t_ntp_start(struct t_ntp *n, int ttl_s)
{
	memset(n, 0, sizeof(*n));
	if (siegel_path_join(n->dir, sizeof(n->dir), t_tmpdir(), "ntp") != 0)
		return -1;
	n->port = t_free_port(1);
	snprintf(n->name, sizeof(n->name), "127.0.0.1:%d", n->port);
	if (t_chrony_start(n->dir, n->port, ttl_s) != 0 || t_ntp_wait_ready(n->name, 15000) != 0) {
		fprintf(stderr, "no NTP server on loopback (%s)\n", n->name);
		return -1;
	}
	return 0;
}

void t_ntp_stop(struct t_ntp *n)
{
	t_chrony_stop(n->dir);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * T_NS + ts.tv_nsec;
}

static uint64_t to_ntp(int64_t ns)
{
	uint64_t sec = (uint64_t)(ns / T_NS) + 2208988800u;
	uint64_t frac = ((uint64_t)(ns % T_NS) << 32) / (uint64_t)T_NS;
	return ((sec & 0xffffffffu) << 32) | frac;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void *liar_run(void *arg)
{
	struct t_liar *l = arg;
	while (!atomic_load(&l->stop)) {
		struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		uint8_t req[256], p[48];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(l->fd, req, sizeof(req), 0, (struct sockaddr *)&from, &fl);
		if (n < 48 || l->mode == T_LIAR_SILENT)
			continue;
		/* A slow network, not a slow server: the delay lies before T2. */
		if (l->delay_ms > 0)
			usleep((useconds_t)l->delay_ms * 1000);
		int64_t t2 = now_ns() + l->offset_ns;
		int li = 0, vn = 4, mode = 4, stratum = 2;
		memset(p, 0, sizeof(p));
		memcpy(p + 12, "LIAR", 4);
		switch (l->mode) {
		case T_LIAR_LI3: li = 3; break;
		case T_LIAR_KOD_RATE: li = 3; stratum = 0; memcpy(p + 12, "RATE", 4); break;
		case T_LIAR_MODE3: mode = 3; break;
		case T_LIAR_STRATUM16: stratum = 16; break;
		case T_LIAR_VERSION2: vn = 2; break;
		default: break;
		}
		p[0] = (uint8_t)(li << 6 | vn << 3 | mode);
		p[1] = (uint8_t)stratum;
		p[2] = 6;
		p[3] = 0xec; /* precision 2^-20 */
		put64(p + 16, to_ntp(t2 - 10 * T_NS));     /* reference */
		memcpy(p + 24, req + 40, 8);               /* originate = their transmit */
		if (l->mode == T_LIAR_BAD_ORIGIN)
			p[31] ^= 1;
		put64(p + 32, to_ntp(t2));                 /* receive */
		int64_t t3 = now_ns() + l->offset_ns;
		put64(p + 40, l->mode == T_LIAR_ZERO_TX ? 0 : to_ntp(t3));
		size_t len = l->mode == T_LIAR_SHORT ? 40 : 48;
		if (sendto(l->fd, p, len, 0, (struct sockaddr *)&from, fl) < 0)
			perror("liar sendto");
	}
	return NULL;
}

int t_liar_start(struct t_liar *l, enum t_liar_mode mode, int64_t offset_ns, int v6, int delay_ms)
{
	memset(l, 0, sizeof(*l));
	l->mode = mode;
	l->offset_ns = offset_ns;
	l->delay_ms = delay_ms;
	atomic_init(&l->stop, 0);
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*a);
	}
	l->fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (l->fd < 0)
		return -1;
	if (bind(l->fd, (struct sockaddr *)&ss, sl) != 0 ||
	    getsockname(l->fd, (struct sockaddr *)&ss, &sl) != 0) {
		close(l->fd);
		return -1;
	}
	l->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
			   : ((struct sockaddr_in *)&ss)->sin_port);
	snprintf(l->name, sizeof(l->name), v6 ? "[::1]:%d" : "127.0.0.1:%d", l->port);
	if (pthread_create(&l->th, NULL, liar_run, l) != 0) {
		close(l->fd);
		return -1;
	}
	return 0;
}

void t_liar_stop(struct t_liar *l)
{
	atomic_store(&l->stop, 1);
	pthread_join(l->th, NULL);
	close(l->fd);
}
