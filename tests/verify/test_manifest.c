/* Every PDF and CMS file of ../shared/testdata/signatures/manifest.json gives
 * its expected verifyBatch code (with the manifest's verify time and store),
 * per signature where the manifest lists them, with the coverage and
 * integrity it states; the report of each validates against docs/report.xsd;
 * the verifier does not write to the (read-only) store directory. Revocation
 * entries are checked here without OCSP (code_no_revocation_check); the real
 * responder is in test_pki.sh. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "base/base.h"
#include "harness.h"
#include "verify/report.h"
#include "verify/verify.h"

static int64_t parse_iso(const char *s)
{
	struct tm tm = { 0 };
	int Y, M, D, h, m, sec;
	if (sscanf(s, "%d-%d-%dT%d:%d:%dZ", &Y, &M, &D, &h, &m, &sec) != 6)
		return 0;
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	return (int64_t)timegm(&tm);
}

static unsigned dir_fingerprint(const char *dir)
{
	unsigned h = 5381;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL)
		for (const char *p = e->d_name; *p; p++)
			h = h * 33 + (unsigned char)*p;
	if (d)
		closedir(d);
	struct stat st;
	if (stat(dir, &st) == 0)
		h ^= (unsigned)st.st_mtime ^ (unsigned)st.st_nlink;
	return h;
}

int main(void)
{
	char *mpath = t_shared_path("signatures/manifest.json");
	json_error_t je;
	json_t *m = json_load_file(mpath, 0, &je);
	CHECK(m != NULL && json_is_array(m));
	if (m == NULL) {
		fprintf(stderr, "%s: %s\n", mpath, je.text);
		free(mpath);
		return t_done();
	}
	free(mpath);
	const char *src = getenv("SIEGEL_SRC");
	char xsd[4096];
	snprintf(xsd, sizeof(xsd), "%s/docs/report.xsd", src ? src : ".");
	size_t idx;
	json_t *e;
	int n_checked = 0;
	json_array_foreach(m, idx, e) {
		const char *kind = json_string_value(json_object_get(e, "kind"));
		if (kind == NULL || (strcmp(kind, "pdf") != 0 && strcmp(kind, "cms") != 0))
			continue;
		const char *rel = json_string_value(json_object_get(e, "path"));
		json_t *x = json_object_get(e, "expected");
		int want = (int)json_integer_value(json_object_get(x, "verifyBatch_code"));
		if (json_object_get(x, "ocsp"))
			want = (int)json_integer_value(json_object_get(x, "code_no_revocation_check"));
		/* the store: a fresh directory with the listed certificates, read only */
		char store[4096];
		snprintf(store, sizeof(store), "%s/store-%zu", t_tmpdir(), idx);
		CHECK(siegel_mkdir_p(store, 0755) == 0);
		json_t *sl = json_object_get(e, "store");
		size_t k;
		json_t *c;
		json_array_foreach(sl, k, c) {
			char rp[512];
			snprintf(rp, sizeof(rp), "signatures/%s", json_string_value(c));
			char *p = t_shared_path(rp);
			size_t len;
			uint8_t *b = t_read(p, &len);
			char dst[4200];
			snprintf(dst, sizeof(dst), "%s/%zu.pem", store, k);
			t_write(dst, b, len);
			free(b);
			free(p);
		}
		chmod(store, 0555);
		unsigned fp = dir_fingerprint(store);
		struct verify_opts o = { .store_dir = store, .no_ocsp = 1 };
		const char *vt = json_string_value(json_object_get(x, "verify_time"));
		if (vt) {
			o.has_at = 1;
			o.at = parse_iso(vt);
		}
		struct siegel_diag d = { "" };
		struct verify_ctx *v = NULL;
		CHECK_OK(verify_ctx_new(&v, &o, &d));
		char rp[512];
		snprintf(rp, sizeof(rp), "signatures/%s", rel);
		char *path = t_shared_path(rp);
		char *dpath = NULL;
		const char *df = json_string_value(json_object_get(e, "data_file"));
		if (df) {
			snprintf(rp, sizeof(rp), "signatures/%s", df);
			dpath = t_shared_path(rp);
		}
		struct report *r = NULL;
		CHECK_OK(verify_file(&r, v, path, dpath, &d));
		if (r == NULL) {
			free(path);
			free(dpath);
			verify_ctx_free(v);
			continue;
		}
		n_checked++;
		if (r->error != want)
			fprintf(stderr, "FAIL %s: code %d (%s: %s), want %d\n", rel, r->error,
				verify_code_name(r->error), r->n_sigs ? r->sigs[0].message : r->message, want);
		CHECK(r->error == want);
		/* per signature: code, intactness, coverage, file order */
		json_t *ps = json_object_get(x, "per_signature");
		if (json_is_array(ps) && !json_object_get(x, "ocsp")) {
			CHECK(r->n_sigs == json_array_size(ps));
			json_t *s;
			json_array_foreach(ps, k, s) {
				if (k >= r->n_sigs)
					break;
				int sc = (int)json_integer_value(json_object_get(s, "code"));
				if (r->sigs[k].error != sc)
					fprintf(stderr, "FAIL %s sig %zu: %d, want %d\n", rel, k, r->sigs[k].error, sc);
				CHECK(r->sigs[k].error == sc);
				CHECK_STR(r->sigs[k].field, json_string_value(json_object_get(s, "field")));
				json_t *cov = json_object_get(s, "covers_whole_file");
				if (json_is_boolean(cov))
					CHECK(r->sigs[k].covers_whole_file == json_is_true(cov));
				if (json_is_true(json_object_get(s, "intact")))
					CHECK(r->sigs[k].hash_matched == 1);
			}
		}
		json_t *cov = json_object_get(x, "covers_whole_file");
		if (json_is_boolean(cov) && r->n_sigs > 0 && strcmp(kind, "pdf") == 0 &&
		    r->sigs[0].has_byte_range) {
			/* document level: every signature covers the whole file */
			int got = 1;
			for (size_t q = 0; q < r->n_sigs; q++)
				got &= r->sigs[q].covers_whole_file;
			if (got != json_is_true(cov))
				fprintf(stderr, "FAIL %s: covers_whole_file %d\n", rel, got);
			CHECK(got == json_is_true(cov));
		}
		if (json_is_true(json_object_get(x, "intact")) && r->n_sigs > 0 &&
		    (r->error == 0 || !verify_code_is_integrity(r->error)))
			CHECK(r->sigs[0].hash_matched == 1);
		/* the report: seed element names, valid against the schema */
		struct siegel_buf xml;
		siegel_buf_init(&xml);
		CHECK_OK(report_write_xml(&xml, r));
		char rpath[4096];
		snprintf(rpath, sizeof(rpath), "%s/report-%zu.xml", t_tmpdir(), idx);
		t_write(rpath, xml.data, xml.len);
		char want_attr[64];
		snprintf(want_attr, sizeof(want_attr), "<Signatures Error=\"%d\" ErrorStr=\"%s\"", want,
			verify_code_name(want));
		CHECK(xml.data && memmem(xml.data, xml.len, want_attr, strlen(want_attr)) != NULL);
		siegel_buf_free(&xml);
		int rc = t_run(NULL, "xmllint --noout --schema '%s' '%s' 2>&1", xsd, rpath);
		if (rc != 0)
			fprintf(stderr, "FAIL %s: report does not validate against %s\n", rel, xsd);
		CHECK(rc == 0);
		/* the verifier never writes to the store */
		CHECK(dir_fingerprint(store) == fp);
		chmod(store, 0755);
		report_free(r);
		verify_ctx_free(v);
		free(path);
		free(dpath);
	}
	CHECK(n_checked >= 40);
	printf("%d manifest files checked\n", n_checked);
	json_decref(m);
	return t_done();
}
