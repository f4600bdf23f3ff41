/* libFuzzer target for the export checker: the TAR reader, info.csv, the log
 * decoder and the certificate handling behind `siegel verify-export` (not
 * built by CMake). Build, e.g. (from the repository root):
 *   clang -std=c11 -D_GNU_SOURCE -g -fsanitize=fuzzer,address,undefined -Isrc \
 *     tests/fuzz/fuzz_exportcheck.c src/exportcheck/*.c src/tar/*.c src/logmsg/*.c \
 *     src/der/*.c src/alg/*.c src/cert/*.c src/csp/*.c src/base/*.c \
 *     $(pkg-config --cflags p11-kit-1) -lcrypto -ljansson -ldl -lpthread -o fuzz_exportcheck
 *   ./fuzz_exportcheck -max_len=65536 ../shared/testdata/tse/exports/
 * Invariants: no crash, no leak; a report is produced or a diagnostic says
 * why not; a produced report can be printed as JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base.h"
#include "exportcheck/exportcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct exportcheck_report *r = NULL;
	struct exportcheck_opts o;
	struct siegel_diag d;
	memset(&o, 0, sizeof(o));
	memset(&d, 0, sizeof(d));
	int rc = exportcheck_mem(&r, data, size, &o, &d);
	if (rc != 0) {
		if (d.msg[0] == 0 || r != NULL)
			abort();
		return 0;
	}
	json_t *j = exportcheck_json(r);
	if (j == NULL)
		abort();
	json_decref(j);
	exportcheck_free(r);
	return 0;
}
