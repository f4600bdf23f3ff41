/* verify-export over every export TAR of shared/testdata/tse/manifest.json:
 * the library API and the CLI (--json) must report every figure the
 * manifest expects (counts, counters, gaps, sets, info.csv, mismatches, TAR
 * notes, the strict result), name the offending member of a damaged TAR,
 * and exit 0 for ok, 1 for failed. A --trust root is checked too. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cert/cert.h"
#include "exportcheck/exportcheck.h"
#include "harness.h"

/* The reference-checker fields a report must reproduce exactly. */
static const char *const fields[] = {
	"messages", "transaction_logs", "system_logs", "audit_logs", "valid_signatures",
	"invalid_signatures", "unknown_key", "parse_errors", "certificates", "counter_min",
	"counter_max", "counter_gaps", "duplicate_counters", "serial_numbers", "time_formats",
	"curves", "signature_algorithms", "indefinite_length_logs", "info_csv",
	"certificate_name_mismatches", "filename_mismatches", "client_ids", "tar_skipped_types",
	"tar_truncated", "result",
};

static void shared(char out[4096], const char *rel)
{
	char *p = t_shared_path(rel);
	snprintf(out, 4096, "%s", p);
	free(p);
}

static void compare(const char *what, const char *path, json_t *exp, json_t *got)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_t *e = json_object_get(exp, fields[i]);
		if (e == NULL)
			continue;
		json_t *g = json_object_get(got, fields[i]);
		t_checks++;
		if (g == NULL || !json_equal(e, g)) {
			t_failures++;
			char *es = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
			char *gs = g ? json_dumps(g, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
			fprintf(stderr, "FAIL %s %s: %s = %s, want %s\n", what, path, fields[i],
				gs ? gs : "(missing)", es ? es : "?");
			free(es);
			free(gs);
		}
	}
	/* The offending member is named among the errors. */
	const char *off = json_string_value(json_object_get(exp, "offending_member"));
	if (off != NULL) {
		json_t *errs = json_object_get(got, "errors");
		int found = 0;
		for (size_t i = 0; i < json_array_size(errs); i++) {
			const char *m = json_string_value(json_object_get(json_array_get(errs, i), "member"));
			found |= m != NULL && strcmp(m, off) == 0;
		}
		t_checks++;
		if (!found) {
			t_failures++;
			fprintf(stderr, "FAIL %s %s: offending member %s not named in errors\n", what, path, off);
		}
	}
	/* ok verdicts carry no errors; gaps and a missing info.csv are warnings. */
	const char *res = json_string_value(json_object_get(exp, "result"));
	if (res != NULL && strcmp(res, "ok") == 0)
		CHECK(json_array_size(json_object_get(got, "errors")) == 0);
	if (json_is_null(json_object_get(exp, "info_csv"))) {
		json_t *w = json_object_get(got, "warnings");
		int found = 0;
		for (size_t i = 0; i < json_array_size(w); i++)
			found |= strstr(json_string_value(json_object_get(json_array_get(w, i), "problem")),
				"info.csv missing") != NULL;
		CHECK(found);
	}
}

static void check_tar(const char *rel, json_t *exp)
{
	char path[4096];
	shared(path, rel);
	struct exportcheck_report *r = NULL;
	struct siegel_diag d = { { 0 } };
	/* library, one thread and two threads */
	for (int threads = 1; threads <= 2; threads++) {
		struct exportcheck_opts o;
		memset(&o, 0, sizeof(o));
		o.threads = threads;
		int rc = exportcheck_file(&r, path, &o, &d);
		CHECK_OK(rc);
		if (rc) {
			fprintf(stderr, "%s: %s\n", rel, d.msg);
			continue;
		}
		json_t *got = exportcheck_json(r);
		compare(threads == 1 ? "api" : "api/2 threads", rel, exp, got);
		json_decref(got);
		exportcheck_free(r);
		r = NULL;
	}
	/* in memory */
	size_t len = 0;
	uint8_t *data = t_read(path, &len);
	CHECK_OK(exportcheck_mem(&r, data, len, NULL, &d));
	if (r != NULL) {
		json_t *got = exportcheck_json(r);
		compare("mem", rel, exp, got);
		json_decref(got);
		exportcheck_free(r);
	}
	free(data);
	/* CLI */
	char *out = NULL;
	int st = t_run(&out, "'%s' verify-export --json '%s' 2>/dev/null", t_siegel_bin(), path);
	const char *res = json_string_value(json_object_get(exp, "result"));
	CHECK(st == (res && strcmp(res, "ok") == 0 ? 0 : 1));
	json_error_t je;
	json_t *cli = out ? json_loads(out, 0, &je) : NULL;
	CHECK(cli != NULL);
	if (cli != NULL)
		compare("cli", rel, exp, cli);
	json_decref(cli);
	free(out);
	/* the text form names the result */
	st = t_run(&out, "'%s' verify-export '%s' 2>&1", t_siegel_bin(), path);
	CHECK(out != NULL && strstr(out, "result:") != NULL);
	free(out);
}

static void check_trust(void)
{
	char tar[4096], nist[4096], bp[4096];
	shared(tar, "tse/exports/vendorA_p256_unixt.tar");
	shared(nist, "tse/keys/TEST-ONLY_nist-root-ca.cert.pem");
	shared(bp, "tse/keys/TEST-ONLY_bp-root-ca.cert.pem");
	char *out = NULL;
	CHECK(t_run(&out, "'%s' verify-export --json --trust '%s' '%s'", t_siegel_bin(), nist, tar) == 0);
	CHECK(out && strstr(out, "\"chain\": \"trusted\""));
	free(out);
	/* the wrong root: the chain is consistent but not trusted -> failed */
	CHECK(t_run(&out, "'%s' verify-export --json --trust '%s' '%s'", t_siegel_bin(), bp, tar) == 1);
	CHECK(out && strstr(out, "\"chain\": \"untrusted\""));
	free(out);
	/* without --trust the chain is consistent but untrusted, the result ok */
	CHECK(t_run(&out, "'%s' verify-export --json '%s'", t_siegel_bin(), tar) == 0);
	CHECK(out && strstr(out, "\"chain\": \"untrusted\""));
	free(out);
	/* brainpool chain */
	shared(tar, "tse/exports/vendorD_brainpool_gent.tar");
	CHECK(t_run(&out, "'%s' verify-export --json --trust '%s' '%s'", t_siegel_bin(), bp, tar) == 0);
	CHECK(out && strstr(out, "\"chain\": \"trusted\""));
	free(out);
	/* not a TAR: exit 2 */
	CHECK(t_run(&out, "'%s' verify-export '%s' 2>/dev/null", t_siegel_bin(), nist) == 2);
	free(out);
	CHECK(t_run(&out, "'%s' verify-export /nonexistent.tar 2>/dev/null", t_siegel_bin()) == 2);
	free(out);
}

int main(void)
{
	size_t len = 0;
	char mp[4096];
	shared(mp, "tse/manifest.json");
	uint8_t *m = t_read(mp, &len);
	json_error_t je;
	json_t *man = json_loadb((const char *)m, len, 0, &je);
	free(m);
	CHECK(man != NULL);
	json_t *files = json_object_get(man, "files");
	int n = 0;
	for (size_t i = 0; i < json_array_size(files); i++) {
		json_t *f = json_array_get(files, i);
		const char *kind = json_string_value(json_object_get(f, "kind"));
		if (kind == NULL || strcmp(kind, "export-tar") != 0)
			continue;
		char rel[512];
		snprintf(rel, sizeof(rel), "tse/%s", json_string_value(json_object_get(f, "path")));
		check_tar(rel, json_object_get(f, "expected"));
		n++;
	}
	CHECK(n == 14);
	check_trust();
	json_decref(man);
	return t_done();
}
