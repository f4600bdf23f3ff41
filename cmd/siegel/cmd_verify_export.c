/* siegel verify-export FILE.tar [--json] [--trust ROOT.pem] [--threads N]:
 * checks a TSE export TAR of any vendor (src/exportcheck). Exit 0 when every
 * check passed, 1 when something failed, 2 when the file cannot be read as a
 * TAR (or on a usage error). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "cli.h"
#include "cmds.h"
#include "exportcheck/exportcheck.h"

#define TRUST_MAX_BYTES (1 << 20)

static const char usage[] =
	"usage: siegel verify-export FILE.tar [--json] [--trust ROOT.pem] [--threads N]\n"
	"exit status: 0 all checks passed, 1 a check failed, 2 not readable as a TAR\n";

int cmd_verify_export(int argc, char **argv)
{
	struct cli_opts o;
	memset(&o, 0, sizeof(o));
	int rc = cli_parse(&o, argc, argv);
	if (rc)
		return rc;
	if (o.help) {
		fputs(usage, stdout);
		return 0;
	}
	if (o.n_pos != 1) {
		fputs(usage, stderr);
		return 2;
	}
	struct exportcheck_opts xo;
	memset(&xo, 0, sizeof(xo));
	struct siegel_diag d = { { 0 } };
	X509 *trust = NULL;
	if (o.trust != NULL) {
		uint8_t *pem = NULL;
		size_t n = 0;
		if (siegel_read_file(&pem, &n, o.trust, TRUST_MAX_BYTES, &d) != 0 ||
		    cert_parse(&trust, pem, n, &d) != 0) {
			free(pem);
			fprintf(stderr, "siegel: --trust %s: %s\n", o.trust, d.msg);
			return 2;
		}
		free(pem);
		xo.trust = trust;
	}
	if (o.threads != NULL) {
		long long v;
		if (siegel_strtoll(&v, o.threads, 1, EXPORTCHECK_MAX_THREADS) != 0) {
			fprintf(stderr, "siegel: --threads needs 1..%d\n", EXPORTCHECK_MAX_THREADS);
			X509_free(trust);
			return 2;
		}
		xo.threads = (int)v;
	}
	struct exportcheck_report *r = NULL;
	rc = exportcheck_file(&r, o.pos[0], &xo, &d);
	X509_free(trust);
	if (rc) {
		if (o.json) {
			json_t *j = json_pack("{s:s,s:s,s:s}", "result", "unreadable", "code",
				siegel_err_name(rc), "message", d.msg);
			cli_print_json(j);
		} else {
			fprintf(stderr, "siegel verify-export: %s: %s\n", o.pos[0], d.msg);
		}
		return rc == SIEGEL_E_PARSE || rc == SIEGEL_E_IO ? 2 : 1;
	}
	if (o.json)
		cli_print_json(exportcheck_json(r));
	else
		exportcheck_print(stdout, r);
	int ok = r->ok;
	exportcheck_free(r);
	return ok ? 0 : 1;
}
