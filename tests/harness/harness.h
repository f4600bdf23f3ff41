/* Tiny test harness: CHECK macros that count failures, a temp directory per
 * test, helpers to find the shared test data and the siegel binary, and to run
 * external programs (openssl, chronyd, ...). Exit status = number of failures. */
#ifndef SIEGEL_TEST_HARNESS_H
#define SIEGEL_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/base.h"

extern int t_failures; /* test programs only: the harness is not in libsiegel */
extern int t_checks;

#define CHECK(cond) do { t_checks++; if (!(cond)) { t_failures++; \
	fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_RC(expr, want) do { int rc_ = (expr); t_checks++; if (rc_ != (want)) { \
	t_failures++; fprintf(stderr, "FAIL %s:%d: %s = %d (%s), want %d (%s)\n", __FILE__, \
	__LINE__, #expr, rc_, siegel_err_name(rc_), (int)(want), siegel_err_name(want)); } } while (0)
#define CHECK_OK(expr) CHECK_RC(expr, 0)
#define CHECK_MEM(a, b, n) do { t_checks++; if (memcmp((a), (b), (n)) != 0) { t_failures++; \
	fprintf(stderr, "FAIL %s:%d: %s != %s (%zu bytes)\n", __FILE__, __LINE__, #a, #b, (size_t)(n)); } } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); t_checks++; \
	if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) { t_failures++; \
	fprintf(stderr, "FAIL %s:%d: %s = \"%s\", want \"%s\"\n", __FILE__, __LINE__, #a, \
	a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } } while (0)

/* Prints the summary ("N passed, M failed") and returns the exit status. */
int t_done(void);
/* Removes the temporary directory (unless failures or SIEGEL_KEEP_TMP). */
void t_cleanup(void);

/* A fresh temporary directory for this test (removed by t_done unless
 * SIEGEL_KEEP_TMP is set). Returned string lives until exit. */
const char *t_tmpdir(void);
/* Path under ../shared/testdata (from SIEGEL_SHARED), static buffer per call. */
char *t_shared_path(const char *rel);
/* Path of the siegel binary (SIEGEL_BIN). */
const char *t_siegel_bin(void);
/* Reads a whole file; aborts the test on failure. Caller frees. */
uint8_t *t_read(const char *path, size_t *len);
void t_write(const char *path, const void *data, size_t len);
/* Runs a shell command, captures stdout (malloc'd, may be NULL) and returns
 * the exit status (or -1). */
int t_run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns a free TCP/UDP port on 127.0.0.1 (best effort). */
int t_free_port(int udp);
/* A clock that runs with the system clock plus an adjustable shift, for
 * timeouts and expiries. Initialise with t_shift_clock_init; pass &c.clock. */
struct t_shift_clock {
	int64_t shift;
	struct siegel_clock clock;
};
void t_shift_clock_init(struct t_shift_clock *c);

/* Hex helpers for golden comparisons. */
uint8_t *t_unhex(const char *hex, size_t *len);

#endif
