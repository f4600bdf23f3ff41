/* siegel verify / extend-report / store: the verifyBatch verifier, the
 * algorithm-suitability step and the qualified certificate store. The exit
 * status of `verify` is the seed's return code (0, 100..112); 2 is a usage
 * error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "suit/suit.h"
#include "verify/report.h"
#include "verify/verify.h"

static const char verify_usage[] =
	"usage: siegel verify FILE [DATAFILE] [options]\n"
	"  FILE      a PDF (every signature is checked), a detached CMS signature (.p7s,\n"
	"            with DATAFILE) or an enveloping one (.p7m); DER or base64\n"
	"  --report OUT.xml   write the XML report (seed format, docs/report.xsd)\n"
	"  --html OUT.html    write the report as HTML (share/report.xslt)\n"
	"  --store DIR        qualified certificate store (default $SIEGEL_STORE or\n"
	"                     ${SIEGEL_DATA:-./data}/qualified-store); read only\n"
	"  --at TIME          evaluate at TIME (YYYY-MM-DDTHH:MM:SSZ or @unixseconds)\n"
	"  --no-ocsp          skip the OCSP check (step 6)\n"
	"  --ocsp-url URL     ask this responder instead of the certificate's AIA\n"
	"  --ocsp-timeout S   seconds per OCSP request (default 10)\n"
	"  --share DIR        data files (report.xslt, catalogue.xml); default $SIEGEL_SHARE\n"
	"                     or <binary dir>/../share\n"
	"  --quiet            print nothing; the exit status is the result\n"
	"exit status: the seed's return code (0 fseOk, 100..112, see docs/verify.md); 2 usage\n";

static int parse_time(int64_t *out, const char *s)
{
	if (s[0] == '@') {
		long long v;
		if (siegel_strtoll(&v, s + 1, 0, 253402300799LL) != 0)
			return -1;
		*out = v;
		return 0;
	}
	struct tm tm = { 0 };
	int Y, M, D, h = 0, m = 0, sec = 0;
	char z = 0;
	int n = sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &Y, &M, &D, &h, &m, &sec, &z);
	if (n != 3 && !(n == 7 && z == 'Z'))
		return -1;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* Finds a shipped data file: --share, $SIEGEL_SHARE, <exe>/../share,
 * <exe>/../share/siegel, /usr/share/siegel. */
static int share_file(char *out, size_t cap, const char *opt, const char *name)
{
	char exe[4096];
	char dirs[4][4096];
	size_t n = 0;
	if (opt)
		snprintf(dirs[n++], sizeof(dirs[0]), "%s", opt);
	else if (getenv("SIEGEL_SHARE"))
		snprintf(dirs[n++], sizeof(dirs[0]), "%s", getenv("SIEGEL_SHARE"));
	if (!opt) {
		ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (l > 0) {
			exe[l] = 0;
			char *slash = strrchr(exe, '/');
			if (slash)
				*slash = 0;
			snprintf(dirs[n++], sizeof(dirs[0]), "%.4000s/../share", exe);
			snprintf(dirs[n++], sizeof(dirs[0]), "%.4000s/../share/siegel", exe);
		}
		snprintf(dirs[n++], sizeof(dirs[0]), "/usr/share/siegel");
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(out, cap, "%.4000s/%s", dirs[i], name);
		if (access(out, R_OK) == 0)
			return 0;
	}
	fprintf(stderr, "siegel: cannot find %s (use --share DIR or SIEGEL_SHARE)\n", name);
	return -1;
}

static const char *default_store(char *buf, size_t cap)
{
	if (getenv("SIEGEL_STORE"))
		return getenv("SIEGEL_STORE");
	const char *data = getenv("SIEGEL_DATA");
	snprintf(buf, cap, "%s/qualified-store", data && data[0] ? data : "./data");
	return buf;
}

static int need_arg(int i, int argc, const char *opt)
{
	if (i + 1 >= argc) {
		fprintf(stderr, "siegel: %s needs a value\n", opt);
		return 0;
	}
	return 1;
}

int cmd_verify(int argc, char **argv)
{
	const char *pos[2] = { NULL, NULL };
	size_t npos = 0;
	const char *report_path = NULL, *html_path = NULL, *store = NULL, *at = NULL;
	const char *share = NULL, *ocsp_url = NULL, *ocsp_timeout = NULL;
	int no_ocsp = 0, quiet = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(verify_usage, stdout);
			return 0;
		} else if (strcmp(a, "--no-ocsp") == 0) {
			no_ocsp = 1;
		} else if (strcmp(a, "--quiet") == 0) {
			quiet = 1;
		} else if (strcmp(a, "--report") == 0 || strcmp(a, "--html") == 0 ||
			   strcmp(a, "--store") == 0 || strcmp(a, "--at") == 0 ||
			   strcmp(a, "--share") == 0 || strcmp(a, "--ocsp-url") == 0 ||
			   strcmp(a, "--ocsp-timeout") == 0) {
			if (!need_arg(i, argc, a))
				return 2;
			const char *v = argv[++i];
			if (strcmp(a, "--report") == 0) report_path = v;
			else if (strcmp(a, "--html") == 0) html_path = v;
			else if (strcmp(a, "--store") == 0) store = v;
			else if (strcmp(a, "--at") == 0) at = v;
			else if (strcmp(a, "--share") == 0) share = v;
			else if (strcmp(a, "--ocsp-url") == 0) ocsp_url = v;
			else ocsp_timeout = v;
		} else if (a[0] == '-' && a[1] == '-') {
			fprintf(stderr, "siegel verify: unknown option %s\n%s", a, verify_usage);
			return 2;
		} else if (npos < 2) {
			pos[npos++] = a;
		} else {
			fprintf(stderr, "siegel verify: too many arguments\n%s", verify_usage);
			return 2;
		}
	}
	if (npos == 0) {
		fputs(verify_usage, stderr);
		return 2;
	}
	struct verify_opts o = { .no_ocsp = no_ocsp, .ocsp_url = ocsp_url };
	char sb[4096];
	o.store_dir = store ? store : default_store(sb, sizeof(sb));
	if (at) {
		if (parse_time(&o.at, at) != 0) {
			fprintf(stderr, "siegel verify: --at %s: want YYYY-MM-DDTHH:MM:SSZ or @seconds\n", at);
			return 2;
		}
		o.has_at = 1;
	}
	if (ocsp_timeout) {
		long long t;
		if (siegel_strtoll(&t, ocsp_timeout, 1, 300) != 0) {
			fprintf(stderr, "siegel verify: --ocsp-timeout: 1..300 seconds\n");
			return 2;
		}
		o.ocsp_timeout = (int)t;
	}
	char xslt[4096];
	if (html_path && share_file(xslt, sizeof(xslt), share, "report.xslt") != 0)
		return 2;
	struct siegel_diag d = { "" };
	struct verify_ctx *v = NULL;
	if (verify_ctx_new(&v, &o, &d) != 0) {
		fprintf(stderr, "siegel verify: %s\n", d.msg);
		return VERIFY_CANT_READ_FILE;
	}
	struct report *r = NULL;
	if (verify_file(&r, v, pos[0], pos[1], &d) != 0 || r == NULL) {
		fprintf(stderr, "siegel verify: %s\n", d.msg[0] ? d.msg : "out of memory");
		verify_ctx_free(v);
		return VERIFY_CANT_READ_FILE;
	}
	verify_ctx_free(v);
	int code = r->error;
	if (!quiet) {
		printf("%s: %d %s", pos[0], code, verify_code_name(code));
		printf("%s%s\n", r->message[0] ? ": " : "", r->message);
		for (size_t i = 0; i < r->n_sigs; i++) {
			const struct report_sig *s = &r->sigs[i];
			char sd[21];
			report_time(sd, s->sign_date);
			printf("  signature %zu%s%s: %d %s, signer \"%s\", signed %s (%s)%s%s\n", i + 1,
				s->field[0] ? " " : "", s->field, s->error, verify_code_name(s->error),
				s->has_cert ? s->subject : "?", sd,
				report_sign_date_source_name(s->sign_date_source), s->message[0] ? ": " : "",
				s->message);
		}
	}
	int rc = code;
	if (report_path || html_path) {
		struct siegel_buf xml;
		siegel_buf_init(&xml);
		if (report_write_xml(&xml, r) != 0) {
			fprintf(stderr, "siegel verify: cannot build the report\n");
			siegel_buf_free(&xml);
			report_free(r);
			return VERIFY_CANT_READ_FILE;
		}
		if (report_path && siegel_write_file_atomic(report_path, xml.data, xml.len, 0644, &d) != 0) {
			fprintf(stderr, "siegel verify: %s\n", d.msg);
			rc = code ? code : VERIFY_CANT_READ_FILE;
		}
		if (html_path && report_write_html(html_path, xml.data, xml.len, xslt, &d) != 0) {
			fprintf(stderr, "siegel verify: %s\n", d.msg);
			rc = code ? code : VERIFY_CANT_READ_FILE;
		}
		siegel_buf_free(&xml);
	}
	report_free(r);
	return rc;
}

static const char extend_usage[] =
	"usage: siegel extend-report -r REPORT.xml [--catalogue FILE] [-o OUT.xml] [--at TIME]\n"
	"                            [--share DIR]\n"
	"  adds to every Signature of the report whether its hash and signature algorithms\n"
	"  were suitable at the signing time and are suitable now (default catalogue:\n"
	"  share/catalogue.xml). The report is rewritten in place unless -o is given.\n"
	"exit status: 0 all suitable, 10 an algorithm is unsuitable (at signing time or now),\n"
	"  100 an algorithm is not in the catalogue, 1 error, 2 usage\n";

int cmd_extend_report(int argc, char **argv)
{
	const char *rep = NULL, *cat = NULL, *outp = NULL, *at = NULL, *share = NULL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(extend_usage, stdout);
			return 0;
		}
		if (strcmp(a, "-r") == 0 || strcmp(a, "--report") == 0 || strcmp(a, "--catalogue") == 0 ||
		    strcmp(a, "-o") == 0 || strcmp(a, "--at") == 0 || strcmp(a, "--share") == 0) {
			if (!need_arg(i, argc, a))
				return 2;
			const char *v = argv[++i];
			if (a[1] == 'r' || strcmp(a, "--report") == 0) rep = v;
			else if (strcmp(a, "--catalogue") == 0) cat = v;
			else if (strcmp(a, "-o") == 0) outp = v;
			else if (strcmp(a, "--at") == 0) at = v;
			else share = v;
		} else {
			fprintf(stderr, "siegel extend-report: unexpected %s\n%s", a, extend_usage);
			return 2;
		}
	}
	if (rep == NULL) {
		fputs(extend_usage, stderr);
		return 2;
	}
	int64_t now = (int64_t)time(NULL);
	if (at && parse_time(&now, at) != 0) {
		fprintf(stderr, "siegel extend-report: --at %s: want YYYY-MM-DDTHH:MM:SSZ\n", at);
		return 2;
	}
	char catpath[4096];
	if (cat == NULL) {
		if (share_file(catpath, sizeof(catpath), share, "catalogue.xml") != 0)
			return 2;
		cat = catpath;
	}
	struct siegel_diag d = { "" };
	struct suit_catalogue c;
	if (suit_catalogue_load(&c, cat, &d) != 0) {
		fprintf(stderr, "siegel extend-report: %s\n", d.msg);
		return 1;
	}
	uint8_t *xml = NULL;
	size_t xl = 0;
	if (siegel_read_file(&xml, &xl, rep, SUIT_MAX_REPORT, &d) != 0) {
		fprintf(stderr, "siegel extend-report: %s\n", d.msg);
		suit_catalogue_free(&c);
		return 1;
	}
	struct siegel_buf out;
	siegel_buf_init(&out);
	int worst = 1, stale = 0;
	int rc = suit_extend_report(&out, &worst, &stale, xml, xl, &c, now, &d);
	free(xml);
	if (rc == 0 && stale) {
		char nu[21];
		report_time(nu, c.next_update);
		fprintf(stderr, "siegel extend-report: warning: the catalogue %s is out of date "
			"(its next update was due %s)\n", cat, nu);
	}
	suit_catalogue_free(&c);
	if (rc == 0)
		rc = siegel_write_file_atomic(outp ? outp : rep, out.data, out.len, 0644, &d);
	siegel_buf_free(&out);
	if (rc) {
		fprintf(stderr, "siegel extend-report: %s\n", d.msg);
		return 1;
	}
	return worst > 0 ? 0 : worst == 0 ? 10 : 100;
}

static const char store_usage[] =
	"usage: siegel store add CERT [--store DIR] [--at TIME]\n"
	"  add: puts CERT (PEM or DER) into the qualified certificate store, only if its\n"
	"  chain validates against the store (a self-signed root by its own signature).\n";

int cmd_store(int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		fputs(store_usage, argc < 1 ? stderr : stdout);
		return argc < 1 ? 2 : 0;
	}
	const char *op = argv[0], *cert = NULL, *store = NULL, *at = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--store") == 0 || strcmp(argv[i], "--at") == 0) {
			if (!need_arg(i, argc, argv[i]))
				return 2;
			if (strcmp(argv[i], "--store") == 0)
				store = argv[++i];
			else
				at = argv[++i];
		} else if (cert == NULL && argv[i][0] != '-') {
			cert = argv[i];
		} else {
			fprintf(stderr, "siegel store: unexpected %s\n%s", argv[i], store_usage);
			return 2;
		}
	}
	char sb[4096];
	if (store == NULL)
		store = default_store(sb, sizeof(sb));
	struct siegel_diag d = { "" };
	if (strcmp(op, "add") != 0 || cert == NULL) {
		fputs(store_usage, stderr);
		return 2;
	}
	int64_t now = (int64_t)time(NULL);
	if (at && parse_time(&now, at) != 0) {
		fprintf(stderr, "siegel store: --at %s: want YYYY-MM-DDTHH:MM:SSZ\n", at);
		return 2;
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	if (siegel_read_file(&buf, &len, cert, VERIFY_MAX_CERT_FILE, &d) != 0) {
		fprintf(stderr, "siegel store: %s\n", d.msg);
		return 1;
	}
	char hex[65];
	int rc = certstore_add(hex, store, buf, len, now, &d);
	free(buf);
	if (rc == SIEGEL_E_EXISTS) {
		printf("%s: already in %s\n", cert, store);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "siegel store: %s\n", d.msg);
		return 1;
	}
	printf("%s: added to %s as %s.pem\n", cert, store, hex);
	return 0;
}
