/* NTP servers for tests, on loopback only: a real chronyd (started by
 * scripts/test-ntp-server.sh, serving the system clock, never adjusting it)
 * and a lying server in a thread for the negative paths. */
#ifndef SIEGEL_TEST_HARNESS_NTP_H
#define SIEGEL_TEST_HARNESS_NTP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define T_NS 1000000000LL

/* Starts chronyd on 127.0.0.1:port with its files in dir; it exits on its
 * own after ttl_s. Installs an atexit/SIGALRM safeguard that kills it.
 * Returns 0 or -1. */
int t_chrony_start(const char *dir, int port, int ttl_s);
void t_chrony_stop(const char *dir);
/* A test's time server: chronyd on a free 127.0.0.1 port with its files in
 * <t_tmpdir()>/ntp, started and answering as synchronised (15 s at most).
 * It exits by itself after ttl_s. Returns 0, or -1 with a message printed. */
struct t_ntp {
	char dir[512];
	char name[64];   /* "127.0.0.1:PORT" */
	int port;
};
int t_ntp_start(struct t_ntp *n, int ttl_s);
void t_ntp_stop(struct t_ntp *n);

/* Waits until the server at name answers as synchronised (up to ms). */
int t_ntp_wait_ready(const char *name, int ms);
/* Arms a whole-test time limit; on expiry chronyd is killed and the test exits 98. */
void t_alarm(int seconds);

enum t_liar_mode {
	T_LIAR_OK,        /* a correct answer, shifted by offset_ns */
	T_LIAR_SILENT,    /* never answers */
	T_LIAR_LI3,       /* leap indicator 3: not synchronised */
	T_LIAR_KOD_RATE,  /* Kiss-o'-Death RATE */
	T_LIAR_BAD_ORIGIN,
	T_LIAR_MODE3,
	T_LIAR_ZERO_TX,
	T_LIAR_STRATUM16,
	T_LIAR_VERSION2,
	T_LIAR_SHORT,     /* a 40-byte packet */
};

struct t_liar {
	int fd;
	int port;
	char name[64];
	enum t_liar_mode mode;
	int64_t offset_ns;
	int delay_ms;     /* wait before answering (network delay) */
	atomic_int stop;
	pthread_t th;
};

/* Starts a lying server on 127.0.0.1 (v6 = 0) or ::1. Returns 0 or -1. */
int t_liar_start(struct t_liar *l, enum t_liar_mode mode, int64_t offset_ns, int v6,
	int delay_ms);
void t_liar_stop(struct t_liar *l);

#endif
