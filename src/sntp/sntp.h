/* sntp: an SNTP client (RFC 4330 / RFC 5905 client mode) used by updateTime.
 * The TSE takes its time only from time servers, never from a caller. */
#ifndef SIEGEL_SNTP_H
#define SIEGEL_SNTP_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct sntp_sample {
	char server[256];
	int64_t unix_sec;      /* server time at the moment of the answer, corrected by delay/2 */
	uint32_t nsec;
	double offset;         /* server - local clock, seconds (RFC 4330 formula) */
	double delay;          /* round trip, seconds */
	int stratum;
	int leap;              /* LI field */
};

struct sntp_config {
	const char *const *servers;  /* "host" or "host:port" or "[v6]:port" */
	size_t n_servers;
	int timeout_ms;              /* per server, default 1500 */
	double max_disagreement;     /* seconds two servers may differ, default 2.0 */
	double max_delay;            /* reject answers with a larger round trip, default 2.0 */
};

/* Queries one server. Rejects: no answer in time, wrong mode/version,
 * originate timestamp mismatch (spoofing), LI=3 (unsynchronised), stratum 0
 * (Kiss-o'-Death) or > 15, zero transmit timestamp, too long round trip. */
int sntp_query(struct sntp_sample *out, const char *server, int timeout_ms,
	const struct siegel_clock *clk, struct siegel_diag *d) SIEGEL_WUR;

/* Queries every server; needs at least one good answer, and all good answers
 * must agree within max_disagreement (else SIEGEL_E_INVALID_TIME). The
 * result is the median sample. SIEGEL_E_TIMESYNC if no server answered well;
 * the diagnostic lists what each server did wrong. */
int sntp_sync(struct sntp_sample *out, const struct sntp_config *cfg,
	const struct siegel_clock *clk, struct siegel_diag *d) SIEGEL_WUR;

/* Notes (the declarations above are stable):
 * - T1/T4 are read from clock_gettime(CLOCK_REALTIME) in nanoseconds; the clk
 *   argument (may be NULL) is not read yet, its whole-second `now` is too
 *   coarse. It stays for a future sub-second injectable clock.
 * - sample.server is the normalised "host:port" / "[v6]:port".
 * - Errors: SIEGEL_E_INVAL for a malformed server name or config,
 *   SIEGEL_E_TIMESYNC for everything a server did wrong (unresolvable name,
 *   no answer, rejected reply), SIEGEL_E_INVALID_TIME for disagreement.
 * - On success sntp_sync leaves "" in the diagnostic, or "N of M time servers
 *   failed: ..." when some servers were unusable (worth logging). */

#endif
