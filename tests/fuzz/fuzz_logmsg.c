/* libFuzzer target for the TR-03151 log message decoder (not built by CMake).
 * Build, e.g.:
 *   clang -std=c11 -D_GNU_SOURCE -g -fsanitize=fuzzer,address,undefined -Isrc \
 *     tests/fuzz/fuzz_logmsg.c src/logmsg/logmsg.c src/der/der.c src/alg/alg.c \
 *     src/base/base.c -lcrypto -o fuzz_logmsg
 *   ./fuzz_logmsg -max_len=4096 ../shared/testdata/tse/golden/   (seed corpus)
 * Invariants: a rejected input leaves a diagnostic and no owned memory; an
 * accepted one re-encodes to exactly the bytes it was signed over (strict
 * DER means there is only one encoding), unless processData was indefinite. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "logmsg/logmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct logmsg m;
	struct siegel_diag d;
	memset(&d, 0, sizeof(d));
	if (logmsg_parse(&m, data, size, &d) != 0) {
		if (d.msg[0] == 0 || m.owned != NULL)
			abort();
		return 0;
	}
	struct siegel_buf b;
	siegel_buf_init(&b);
	if (!m.process_data_indefinite) {
		if (logmsg_encode_dtbs(&b, &m, &d) != 0 || b.len != m.dtbs.len ||
		    memcmp(b.data, m.dtbs.p, b.len) != 0)
			abort();
	}
	siegel_buf_reset(&b);
	(void)logmsg_file_name(&b, &m);
	siegel_buf_reset(&b);
	if (m.kind == LOGMSG_TRANSACTION) {
		static const uint8_t pub[65] = { 0x04 };
		(void)logmsg_qr_code(&b, &m, 0, 0, pub, sizeof(pub));
	}
	siegel_buf_free(&b);
	logmsg_clear(&m);
	return 0;
}
