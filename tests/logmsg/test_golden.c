/* logmsg against the golden vectors (shared/testdata/tse/golden): every .der
 * is parsed and compared field by field with its JSON sidecar, verified with
 * the sidecar's public key, re-encoded byte-identically, named as in the
 * export TAR; system data, QR codes and App. D serial lists are rebuilt. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "alg/alg.h"
#include "base/base.h"
#include "harness.h"
#include "logmsg/logmsg.h"

static const char *jstr(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

/* Hex field -> bytes (malloc'd, never NULL); *present = key exists. */
static uint8_t *jhex(json_t *j, const char *key, size_t *len, int *present)
{
	const char *h = jstr(j, key);
	if (present)
		*present = h != NULL;
	if (h == NULL) {
		*len = 0;
		return calloc(1, 1);
	}
	return t_unhex(h, len);
}

static int bytes_eq(const struct logmsg_bytes *b, const void *p, size_t n)
{
	return b->len == n && (n == 0 || memcmp(b->p, p, n) == 0);
}

static int bytes_eq_str(const struct logmsg_bytes *b, const char *s)
{
	return s != NULL && bytes_eq(b, s, strlen(s));
}

/* "2024-05-20T10:01:05.125Z" -> unix seconds + millis (independent of logmsg). */
static int iso_parse(const char *s, int64_t *sec, uint32_t *ms)
{
	struct tm tm;
	int y, mo, d, h, mi, se, f;
	memset(&tm, 0, sizeof(tm));
	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &y, &mo, &d, &h, &mi, &se, &f) != 7)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*sec = (int64_t)timegm(&tm);
	*ms = (uint32_t)f;
	return 0;
}

/* "20240802115957Z" (GeneralizedTime, no fraction) -> unix seconds. */
static int64_t gent_parse(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (s == NULL || sscanf(s, "%4d%2d%2d%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

/* Signer returning the golden signature; records the DTBS it was given. */
struct fixed_sig {
	const uint8_t *sig;
	size_t sig_len;
	const uint8_t *want_dtbs;
	size_t want_dtbs_len;
	int calls, dtbs_ok;
};

static int fixed_sign(void *ctx, uint8_t *sig_out, size_t *sig_len, const uint8_t *dtbs,
	size_t dtbs_len)
{
	struct fixed_sig *f = ctx;
	f->calls++;
	f->dtbs_ok = dtbs_len == f->want_dtbs_len && memcmp(dtbs, f->want_dtbs, dtbs_len) == 0;
	if (*sig_len < f->sig_len)
		return SIEGEL_E_INVAL;
	memcpy(sig_out, f->sig, f->sig_len);
	*sig_len = f->sig_len;
	return 0;
}

static void buf_check(const struct siegel_buf *b, const uint8_t *want, size_t n, const char *what,
	const char *file)
{
	int ok = b->err == 0 && b->len == n && memcmp(b->data, want, n) == 0;
	CHECK(ok);
	if (!ok)
		fprintf(stderr, "  %s: %s differs (%zu vs %zu bytes)\n", file, what, b->len, n);
}

/* systemOperationData rebuilt with the logmsg_sys_* builders from the
 * sidecar's decoded fields. Returns 1 if the operation has a builder. */
static int build_sys(struct siegel_buf *b, json_t *j, enum logmsg_time_format fmt)
{
	const char *op = jstr(j, "operationType");
	json_t *f = json_object_get(j, "systemOperationData");
	json_t *v0 = json_object_get(json_array_get(f, 0), "value");
	json_t *v1 = json_object_get(json_array_get(f, 1), "value");
	json_t *v2 = json_object_get(json_array_get(f, 2), "value");
	const char *s1 = json_string_value(v1), *s2 = json_string_value(v2);
	if (op == NULL)
		return 0;
	if (strcasecmp(op, "authenticateUser") == 0) {
		int role = -1;
		CHECK(s1 && sscanf(s1, "ENUMERATED %d", &role) == 1);
		CHECK(s2 != NULL);
		logmsg_sys_authenticate_user(b, json_string_value(v0), (enum logmsg_role)role,
			s2 && strstr(s2, "TRUE") != NULL);
	} else if (strcasecmp(op, "initialize") == 0) {
		logmsg_sys_initialize(b, json_string_value(v0));
	} else if (strcasecmp(op, "registerClient") == 0 || strcasecmp(op, "deregisterClient") == 0) {
		logmsg_sys_client(b, json_string_value(v0));
	} else if (strcasecmp(op, "logOut") == 0) {
		int cause = -1;
		CHECK(s1 && sscanf(s1, "ENUMERATED %d", &cause) == 1);
		logmsg_sys_log_out(b, json_string_value(v0), cause == 1);
	} else if (strcasecmp(op, "updateTime") == 0) {
		int64_t before, after;
		if (json_is_integer(v0)) {
			before = json_integer_value(v0);
			after = json_integer_value(v1);
		} else {
			before = gent_parse(json_string_value(v0));
			after = gent_parse(s1);
		}
		logmsg_sys_update_time(b, fmt, before, after);
	} else {
		return 0;
	}
	return 1;
}

static int test_log(const char *name, const uint8_t *der, size_t der_len, json_t *j)
{
	struct logmsg m;
	struct siegel_diag d = { { 0 } };
	int rc = logmsg_parse(&m, der, der_len, &d);
	CHECK_OK(rc);
	if (rc) {
		fprintf(stderr, "  %s: %s\n", name, d.msg);
		return 1;
	}
	const char *kind = jstr(j, "kind");
	enum logmsg_kind want_kind = strcmp(kind, "transaction") == 0 ? LOGMSG_TRANSACTION :
		strcmp(kind, "system") == 0 ? LOGMSG_SYSTEM : LOGMSG_AUDIT;
	CHECK(m.kind == want_kind);
	CHECK(json_integer_value(json_object_get(j, "version")) == 2);

	size_t n = 0;
	int present = 0;
	uint8_t *b;
	if (want_kind != LOGMSG_AUDIT)
		CHECK(bytes_eq_str(&m.operation_type, jstr(j, "operationType")));
	else
		CHECK(m.operation_type.len == 0);
	if (want_kind == LOGMSG_TRANSACTION) {
		CHECK(bytes_eq_str(&m.client_id, jstr(j, "clientId")));
		b = jhex(j, "processData_hex", &n, &present);
		CHECK(present && bytes_eq(&m.process_data, b, n));
		free(b);
		CHECK(m.process_data_indefinite ==
			(strcmp(jstr(j, "processData_encoding"), "indefinite") == 0));
		const char *pt = jstr(j, "processType");
		CHECK(m.has_process_type == (pt != NULL));
		if (pt)
			CHECK(bytes_eq_str(&m.process_type, pt));
		CHECK(m.transaction_number ==
			(uint64_t)json_integer_value(json_object_get(j, "transactionNumber")));
		CHECK(!m.has_additional_external && !m.has_additional_internal);
	}
	if (want_kind == LOGMSG_SYSTEM) {
		b = jhex(j, "systemOperationData_hex", &n, &present);
		CHECK(present && bytes_eq(&m.system_operation_data, b, n));
		free(b);
	}
	b = jhex(j, "seAuditData_hex", &n, &present);
	CHECK(m.has_se_audit_data == present && (!present || bytes_eq(&m.se_audit_data, b, n)));
	free(b);
	b = jhex(j, "serialNumber_hex", &n, &present);
	CHECK(present && bytes_eq(&m.serial_number, b, n));
	free(b);
	json_t *sa = json_object_get(j, "signatureAlgorithm");
	CHECK_STR(m.sig_alg_name, jstr(sa, "name"));
	CHECK(m.signature_counter == (uint64_t)json_integer_value(json_object_get(j, "signatureCounter")));

	json_t *lt = json_object_get(j, "logTime");
	enum logmsg_time_format fmt = LOGMSG_TIME_UNIX;
	CHECK_OK(logmsg_time_format_parse(&fmt, jstr(lt, "format")));
	CHECK(m.log_time.fmt == fmt);
	CHECK_STR(logmsg_time_format_name(m.log_time.fmt), jstr(lt, "format"));
	CHECK(m.log_time.unix_sec == json_integer_value(json_object_get(lt, "unix")));
	if (fmt != LOGMSG_TIME_UNIX)
		CHECK_STR(m.log_time.text, jstr(lt, "value"));
	char iso[32];
	logmsg_time_iso(iso, m.log_time.unix_sec, m.log_time.millis);
	CHECK_STR(iso, jstr(lt, "iso8601"));

	/* signatureAlgorithm and logTime TLVs as in the element list */
	json_t *els = json_object_get(j, "elements");
	for (size_t i = 0; i < json_array_size(els); i++) {
		json_t *e = json_array_get(els, i);
		const char *en = jstr(e, "name");
		if (strcmp(en, "signatureAlgorithm") == 0) {
			b = jhex(e, "hex", &n, NULL);
			CHECK(bytes_eq(&m.sig_alg_tlv, b, n));
			free(b);
		}
	}

	size_t dtbs_len = 0, sig_len = 0;
	uint8_t *dtbs = jhex(j, "dtbs_hex", &dtbs_len, NULL);
	uint8_t *sig = jhex(j, "signatureValue_hex", &sig_len, NULL);
	CHECK(bytes_eq(&m.dtbs, dtbs, dtbs_len));
	CHECK(bytes_eq(&m.signature, sig, sig_len));

	/* signature with the sidecar's key */
	const struct alg_info *ai = alg_by_config_name(jstr(j, "curve"));
	CHECK(ai != NULL);
	size_t pub_len = 0;
	uint8_t *pub = jhex(j, "public_key_uncompressed_hex", &pub_len, NULL);
	EVP_PKEY *pkey = NULL;
	if (ai)
		CHECK_OK(alg_pkey_from_point(&pkey, ai->curve_nid, pub, pub_len));
	if (pkey) {
		CHECK_OK(logmsg_verify(&m, pkey, 1));
		CHECK_OK(logmsg_verify(&m, pkey, 0));
		/* a copy with one signature bit flipped does not verify */
		uint8_t *bad = malloc(der_len);
		memcpy(bad, der, der_len);
		bad[der_len - 1] ^= 0x01;
		struct logmsg mb;
		CHECK_OK(logmsg_parse(&mb, bad, der_len, &d));
		CHECK_RC(logmsg_verify(&mb, pkey, 1), SIEGEL_E_VERIFY);
		logmsg_clear(&mb);
		free(bad);
	}

	/* export file name */
	struct siegel_buf out;
	siegel_buf_init(&out);
	CHECK_OK(logmsg_file_name(&out, &m));
	CHECK_STR((const char *)out.data, jstr(j, "tar_member_name"));

	/* DTBS and the whole message rebuilt from the decoded fields */
	struct logmsg m2 = m;
	struct logmsg_bytes chunks[8];
	json_t *jc = json_object_get(j, "processData_chunks_hex");
	uint8_t *chunk_mem[8] = { 0 };
	if (json_array_size(jc) > 0) {
		CHECK(json_array_size(jc) <= 8);
		for (size_t i = 0; i < json_array_size(jc) && i < 8; i++) {
			chunk_mem[i] = t_unhex(json_string_value(json_array_get(jc, i)), &chunks[i].len);
			chunks[i].p = chunk_mem[i];
		}
		m2.process_data_chunks = chunks;
		m2.n_process_data_chunks = json_array_size(jc) < 8 ? json_array_size(jc) : 8;
	}
	siegel_buf_reset(&out);
	CHECK_OK(logmsg_encode_dtbs(&out, &m2, &d));
	buf_check(&out, dtbs, dtbs_len, "encode_dtbs", name);

	struct fixed_sig fs = { sig, sig_len, dtbs, dtbs_len, 0, 0 };
	siegel_buf_reset(&out);
	rc = logmsg_encode(&out, &m2, fixed_sign, &fs, &d);
	CHECK_OK(rc);
	if (rc)
		fprintf(stderr, "  %s: encode: %s\n", name, d.msg);
	CHECK(fs.calls == 1 && fs.dtbs_ok);
	buf_check(&out, der, der_len, "encode", name);

	/* ... with the algorithm chosen by enum and the time rebuilt from its
	 * numeric value (exercises the OID table and the time formatter) */
	if (ai) {
		m2.alg = ai->alg;
		m2.sig_alg_tlv.p = NULL;
		m2.sig_alg_tlv.len = 0;
		CHECK_OK(logmsg_time_set(&m2.log_time, fmt, m.log_time.unix_sec));
		if (m.log_time.millis) {
			m2.log_time.millis = m.log_time.millis;
			m2.log_time.text[0] = 0;
		}
		fs.calls = 0;
		siegel_buf_reset(&out);
		CHECK_OK(logmsg_encode(&out, &m2, fixed_sign, &fs, &d));
		CHECK(fs.calls == 1 && fs.dtbs_ok);
		buf_check(&out, der, der_len, "encode(alg enum, time_set)", name);
	}

	/* systemOperationData from the builders */
	if (want_kind == LOGMSG_SYSTEM) {
		siegel_buf_reset(&out);
		if (build_sys(&out, j, fmt)) {
			b = jhex(j, "systemOperationData_hex", &n, NULL);
			buf_check(&out, b, n, "systemOperationData builder", name);
			free(b);
		} else {
			fprintf(stderr, "  %s: no builder for %s\n", name, jstr(j, "operationType"));
			CHECK(0);
		}
	}

	/* receipt QR code */
	const char *qr = jstr(j, "qr_code");
	if (qr) {
		int64_t ssec = 0;
		uint32_t sms = 0;
		CHECK(iso_parse(jstr(json_object_get(j, "qr_inputs"), "start_time"), &ssec, &sms) == 0);
		siegel_buf_reset(&out);
		CHECK_OK(logmsg_qr_code(&out, &m, ssec, sms, pub, pub_len));
		CHECK_STR((const char *)out.data, qr);
		/* the same from the encoder-side struct with chunks (golden 10) */
		if (m2.n_process_data_chunks > 0) {
			struct logmsg m3 = m2;
			m3.process_data.p = NULL;
			m3.process_data.len = 0;
			m3.sig_alg_name = NULL;
			siegel_buf_reset(&out);
			CHECK_OK(logmsg_qr_code(&out, &m3, ssec, sms, pub, pub_len));
			CHECK_STR((const char *)out.data, qr);
		}
	}

	for (size_t i = 0; i < 8; i++)
		free(chunk_mem[i]);
	siegel_buf_free(&out);
	EVP_PKEY_free(pkey);
	free(pub);
	free(dtbs);
	free(sig);
	logmsg_clear(&m);
	CHECK(m.owned == NULL && m.dtbs.p == NULL);
	return 0;
}

static void test_serials(const char *name, const uint8_t *der, size_t der_len, json_t *j)
{
	json_t *recs = json_object_get(j, "records");
	size_t n = json_array_size(recs);
	CHECK(n > 0);
	struct logmsg_serial_record *r = calloc(n ? n : 1, sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(recs, i);
		CHECK_OK(siegel_hex_decode(r[i].serial, ALG_SERIAL_LEN, jstr(e, "serialNumber_hex")));
		r[i].transaction_log = json_is_true(json_object_get(e, "transactionLog"));
		r[i].system_log = json_is_true(json_object_get(e, "systemLog"));
		r[i].audit_log = json_is_true(json_object_get(e, "auditLog"));
	}
	struct siegel_buf out;
	siegel_buf_init(&out);
	CHECK_OK(logmsg_serials_encode(&out, r, n));
	buf_check(&out, der, der_len, "exportSerialNumbers", name);
	size_t hl = 0;
	uint8_t *h = jhex(j, "der_hex", &hl, NULL);
	buf_check(&out, h, hl, "exportSerialNumbers der_hex", name);
	free(h);
	free(r);
	siegel_buf_free(&out);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	char *dir = t_shared_path("tse/golden");
	DIR *dh = opendir(dir);
	CHECK(dh != NULL);
	if (dh == NULL)
		return t_done();
	char *names[64];
	size_t nn = 0;
	struct dirent *de;
	while ((de = readdir(dh)) != NULL && nn < 64) {
		size_t l = strlen(de->d_name);
		if (l > 4 && strcmp(de->d_name + l - 4, ".der") == 0)
			names[nn++] = strdup(de->d_name);
	}
	closedir(dh);
	qsort(names, nn, sizeof(names[0]), cmp_str);
	CHECK(nn == 20);

	int logs = 0, serial_lists = 0;
	for (size_t i = 0; i < nn; i++) {
		char path[1024], jpath[1024];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(jpath, sizeof(jpath), "%s", path);
		memcpy(jpath + strlen(jpath) - 4, ".json", 6);
		json_error_t je;
		json_t *j = json_load_file(jpath, 0, &je);
		CHECK(j != NULL);
		if (j == NULL) {
			fprintf(stderr, "  %s: %s\n", jpath, je.text);
			continue;
		}
		size_t der_len = 0;
		uint8_t *der = t_read(path, &der_len);
		int before = t_failures;
		if (json_object_get(j, "records") != NULL) {
			test_serials(names[i], der, der_len, j);
			serial_lists++;
		} else {
			test_log(names[i], der, der_len, j);
			logs++;
		}
		printf("%s %s\n", t_failures == before ? "ok  " : "FAIL", names[i]);
		free(der);
		json_decref(j);
		free(names[i]);
	}
	CHECK(logs == 18 && serial_lists == 2);
	free(dir);
	return t_done();
}
