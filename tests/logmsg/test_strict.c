/* logmsg decoder on hostile input: truncations, corrupted tag/length bytes,
 * non-DER encodings, wrong values, element order, limits. Every rejection
 * must come with a diagnostic naming the TR-03151 element. The variants are
 * built from the golden element lists (sidecar "elements"), re-wrapped in a
 * correct outer SEQUENCE so only the intended defect is present. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alg/alg.h"
#include "base/base.h"
#include "harness.h"
#include "logmsg/logmsg.h"

#define MAX_EL 16

struct msg {
	uint8_t *el[MAX_EL];
	size_t len[MAX_EL];
	char name[MAX_EL][64];
	size_t n;
	EVP_PKEY *pkey;
	uint8_t *der; /* the golden file */
	size_t der_len;
};

static json_t *load_json(const char *stem)
{
	char rel[256];
	snprintf(rel, sizeof(rel), "tse/golden/%s.json", stem);
	char *p = t_shared_path(rel);
	json_error_t e;
	json_t *j = json_load_file(p, 0, &e);
	if (j == NULL) {
		fprintf(stderr, "%s: %s\n", p, e.text);
		exit(99);
	}
	free(p);
	return j;
}

static void msg_load(struct msg *m, const char *stem)
{
	memset(m, 0, sizeof(*m));
	json_t *j = load_json(stem);
	json_t *els = json_object_get(j, "elements");
	for (size_t i = 0; i < json_array_size(els) && i < MAX_EL; i++) {
		json_t *e = json_array_get(els, i);
		m->el[i] = t_unhex(json_string_value(json_object_get(e, "hex")), &m->len[i]);
		snprintf(m->name[i], sizeof(m->name[i]), "%s",
			json_string_value(json_object_get(e, "name")));
		m->n++;
	}
	const struct alg_info *ai = alg_by_config_name(json_string_value(json_object_get(j, "curve")));
	size_t pl = 0;
	uint8_t *pub = t_unhex(json_string_value(json_object_get(j, "public_key_uncompressed_hex")), &pl);
	if (ai == NULL || alg_pkey_from_point(&m->pkey, ai->curve_nid, pub, pl) != 0) {
		fprintf(stderr, "%s: bad key in sidecar\n", stem);
		exit(99);
	}
	free(pub);
	char rel[256];
	snprintf(rel, sizeof(rel), "tse/golden/%s.der", stem);
	char *p = t_shared_path(rel);
	m->der = t_read(p, &m->der_len);
	free(p);
	json_decref(j);
}

static void msg_free(struct msg *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->el[i]);
	EVP_PKEY_free(m->pkey);
	free(m->der);
	memset(m, 0, sizeof(*m));
}

static size_t msg_find(const struct msg *m, const char *prefix)
{
	for (size_t i = 0; i < m->n; i++)
		if (strncmp(m->name[i], prefix, strlen(prefix)) == 0)
			return i;
	fprintf(stderr, "no element %s\n", prefix);
	exit(99);
}

static void msg_set(struct msg *m, size_t i, const char *hex)
{
	free(m->el[i]);
	m->el[i] = t_unhex(hex, &m->len[i]);
}

static void msg_remove(struct msg *m, size_t i)
{
	free(m->el[i]);
	memmove(&m->el[i], &m->el[i + 1], (m->n - i - 1) * sizeof(m->el[0]));
	memmove(&m->len[i], &m->len[i + 1], (m->n - i - 1) * sizeof(m->len[0]));
	memmove(&m->name[i], &m->name[i + 1], (m->n - i - 1) * sizeof(m->name[0]));
	m->n--;
}

static void msg_insert(struct msg *m, size_t i, const char *hex)
{
	memmove(&m->el[i + 1], &m->el[i], (m->n - i) * sizeof(m->el[0]));
	memmove(&m->len[i + 1], &m->len[i], (m->n - i) * sizeof(m->len[0]));
	memmove(&m->name[i + 1], &m->name[i], (m->n - i) * sizeof(m->name[0]));
	m->el[i] = t_unhex(hex, &m->len[i]);
	snprintf(m->name[i], sizeof(m->name[i]), "inserted");
	m->n++;
}

/* 30 <minimal length> elements... (written here, independent of der.c) */
static uint8_t *msg_assemble(const struct msg *m, size_t *len)
{
	size_t c = 0;
	for (size_t i = 0; i < m->n; i++)
		c += m->len[i];
	uint8_t *out = malloc(c + 6);
	size_t o = 0;
	out[o++] = 0x30;
	if (c < 0x80) {
		out[o++] = (uint8_t)c;
	} else if (c < 0x100) {
		out[o++] = 0x81;
		out[o++] = (uint8_t)c;
	} else {
		out[o++] = 0x82;
		out[o++] = (uint8_t)(c >> 8);
		out[o++] = (uint8_t)c;
	}
	for (size_t i = 0; i < m->n; i++) {
		memcpy(out + o, m->el[i], m->len[i]);
		o += m->len[i];
	}
	*len = o;
	return out;
}

/* Expects rejection of buf with a diagnostic containing every needle. */
static void expect_reject_buf(const uint8_t *buf, size_t len, int want_rc, const char *label,
	const char *needle1, const char *needle2)
{
	struct logmsg lm;
	struct siegel_diag d;
	memset(&d, 0, sizeof(d));
	int rc = logmsg_parse(&lm, buf, len, &d);
	int ok = rc != 0 && (want_rc == 0 || rc == want_rc) && d.msg[0] != 0 &&
		(needle1 == NULL || strstr(d.msg, needle1) != NULL) &&
		(needle2 == NULL || strstr(d.msg, needle2) != NULL) && lm.owned == NULL;
	CHECK(ok);
	if (!ok)
		fprintf(stderr, "  %s: rc=%s diag=\"%s\" (want %s / %s)\n", label, siegel_err_name(rc),
			d.msg, needle1 ? needle1 : "-", needle2 ? needle2 : "-");
	else if (getenv("SIEGEL_TEST_VERBOSE"))
		printf("  %-40s %s\n", label, d.msg);
	logmsg_clear(&lm);
}

static void expect_reject(const struct msg *m, int want_rc, const char *label, const char *n1,
	const char *n2)
{
	size_t len = 0;
	uint8_t *buf = msg_assemble(m, &len);
	expect_reject_buf(buf, len, want_rc, label, n1, n2);
	free(buf);
}

/* Parses; returns rc; on success verifies and reports whether it verified. */
static int parse_verify(const uint8_t *buf, size_t len, EVP_PKEY *k, int *verified,
	struct siegel_diag *d)
{
	struct logmsg lm;
	memset(d, 0, sizeof(*d));
	int rc = logmsg_parse(&lm, buf, len, d);
	*verified = 0;
	if (rc == 0) {
		*verified = logmsg_verify(&lm, k, 1) == 0;
		logmsg_clear(&lm);
	}
	return rc;
}

static void test_truncations(const char *stem)
{
	struct msg m;
	msg_load(&m, stem);
	struct siegel_diag d;
	int verified, bad = 0;
	/* the untouched message parses and verifies (control) */
	CHECK(parse_verify(m.der, m.der_len, m.pkey, &verified, &d) == 0 && verified);
	for (size_t n = 0; n < m.der_len; n++) {
		/* a fresh allocation of exactly n bytes, so ASan sees over-reads */
		uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, m.der, n);
		int rc = parse_verify(cut, n, m.pkey, &verified, &d);
		if (rc == 0 || d.msg[0] == 0 || strstr(d.msg, "TR-03151") == NULL) {
			bad++;
			fprintf(stderr, "  %s cut at %zu: rc=%d diag=\"%s\"\n", stem, n, rc, d.msg);
		}
		free(cut);
	}
	CHECK(bad == 0);
	msg_free(&m);
}

/* Offsets of every tag and length byte (outer header, each element, and the
 * chunks inside an indefinite processData). */
static size_t header_offsets(const struct msg *m, size_t hdr_len, size_t *offs, size_t max)
{
	size_t n = 0, o = hdr_len;
	for (size_t i = 0; i < hdr_len && n < max; i++)
		offs[n++] = i;
	for (size_t e = 0; e < m->n; e++) {
		const uint8_t *p = m->el[e];
		size_t hl = p[1] < 0x81 ? 2 : 2 + (p[1] & 0x7fu);
		for (size_t i = 0; i < hl && n < max; i++)
			offs[n++] = o + i;
		if (p[1] == 0x80) {
			/* chunks: 04 LL ... until 00 00 */
			size_t q = 2;
			while (q + 1 < m->len[e] && !(p[q] == 0 && p[q + 1] == 0)) {
				if (n + 2 <= max) {
					offs[n++] = o + q;
					offs[n++] = o + q + 1;
				}
				q += 2 + p[q + 1];
			}
			if (n + 2 <= max) {
				offs[n++] = o + q;
				offs[n++] = o + q + 1;
			}
		}
		o += m->len[e];
	}
	return n;
}

static void test_corruptions(const char *stem)
{
	struct msg m;
	msg_load(&m, stem);
	size_t offs[128];
	size_t hdr = m.der[1] < 0x80 ? 2 : 2 + (m.der[1] & 0x7fu);
	size_t n = header_offsets(&m, hdr, offs, 128);
	static const int xors[] = { 0x01, 0x02, 0x20, 0x40, 0x80, 0xff };
	uint8_t *buf = malloc(m.der_len);
	int rejected = 0, unverified = 0, bad = 0;
	struct siegel_diag d;
	/* tag/length bytes: xor patterns, 0x00, 0x80, 0xff, +-1 */
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < 11; k++) {
			memcpy(buf, m.der, m.der_len);
			uint8_t o = buf[offs[i]];
			uint8_t v = k < 6 ? (uint8_t)(o ^ xors[k]) : k == 6 ? 0x00 : k == 7 ? 0x80 :
				k == 8 ? 0xff : k == 9 ? (uint8_t)(o + 1) : (uint8_t)(o - 1);
			if (v == o)
				continue;
			buf[offs[i]] = v;
			int verified = 0;
			int rc = parse_verify(buf, m.der_len, m.pkey, &verified, &d);
			if (rc != 0 && d.msg[0] != 0)
				rejected++;
			else if (rc == 0 && !verified)
				unverified++;
			else {
				bad++;
				fprintf(stderr, "  %s byte %zu %02x->%02x: rc=%d verified=%d diag=\"%s\"\n",
					stem, offs[i], o, v, rc, verified, d.msg);
			}
		}
	}
	/* every byte, one bit flipped: never a valid message */
	for (size_t i = 0; i < m.der_len; i++) {
		memcpy(buf, m.der, m.der_len);
		buf[i] ^= 0x04;
		int verified = 0;
		int rc = parse_verify(buf, m.der_len, m.pkey, &verified, &d);
		if (!((rc != 0 && d.msg[0]) || (rc == 0 && !verified))) {
			bad++;
			fprintf(stderr, "  %s byte %zu ^04 accepted\n", stem, i);
		}
	}
	CHECK(bad == 0);
	CHECK(rejected > 0);
	free(buf);
	msg_free(&m);
}

static void test_cases(void)
{
	struct msg m;
	size_t i, len = 0;
	uint8_t *buf;

	/* --- transaction log 06 (Start, unixTime) --- */
	msg_load(&m, "06_tx_start_space_unixt_p256");
	i = msg_find(&m, "clientId");
	msg_set(&m, i, "8181084b415353452d3031");
	expect_reject(&m, SIEGEL_E_PARSE, "non-minimal length clientId", "clientId", "non-minimal");
	msg_free(&m);

	msg_load(&m, "06_tx_start_space_unixt_p256");
	msg_set(&m, 0, "02810102");
	expect_reject(&m, SIEGEL_E_PARSE, "non-minimal length version", "version", "non-minimal");
	msg_set(&m, 0, "02020002");
	expect_reject(&m, SIEGEL_E_PARSE, "non-minimal INTEGER version", "version", "non-minimal");
	msg_set(&m, 0, "020103");
	expect_reject(&m, SIEGEL_E_PARSE, "version 3", "version", "got 3");
	msg_set(&m, 0, "020101");
	expect_reject(&m, SIEGEL_E_PARSE, "version 1", "version", NULL);
	msg_set(&m, 0, "040102");
	expect_reject(&m, SIEGEL_E_PARSE, "version wrong tag", "version", "want INTEGER");
	msg_free(&m);

	/* outer SEQUENCE: non-minimal / leading-zero / indefinite / huge length, trailing bytes */
	msg_load(&m, "06_tx_start_space_unixt_p256");
	buf = msg_assemble(&m, &len); /* 30 81 LL ... */
	CHECK(buf[1] == 0x81);
	{
		uint8_t *v = malloc(len + 2);
		v[0] = 0x30;
		v[1] = 0x82;
		v[2] = 0x00;
		memcpy(v + 3, buf + 2, len - 2);
		expect_reject_buf(v, len + 1, SIEGEL_E_PARSE, "outer length leading zero", "LogMessage",
			"non-minimal");
		v[1] = 0x80; /* indefinite: 30 80 content 00 00 */
		memcpy(v + 2, buf + 3, len - 3);
		v[len - 1] = 0;
		v[len] = 0;
		expect_reject_buf(v, len + 1, SIEGEL_E_PARSE, "outer indefinite", "LogMessage",
			"indefinite");
		free(v);
		v = malloc(len + 1);
		memcpy(v, buf, len);
		v[len] = 0x00;
		expect_reject_buf(v, len + 1, SIEGEL_E_PARSE, "trailing byte", "LogMessage", "trailing");
		v[1] = 0x84; /* 30 84 ff ff ff f0: huge */
		v[2] = 0xff;
		expect_reject_buf(v, 6, SIEGEL_E_PARSE, "outer huge length", "LogMessage", "exceeds");
		free(v);
	}
	free(buf);
	expect_reject_buf((const uint8_t *)"", 0, SIEGEL_E_PARSE, "empty input", "LogMessage", NULL);
	expect_reject_buf((const uint8_t *)"\x31\x00", 2, SIEGEL_E_PARSE, "SET instead of SEQUENCE",
		"LogMessage", "want SEQUENCE");

	/* certifiedDataType */
	i = msg_find(&m, "certifiedDataType");
	msg_set(&m, i, "060904007f000703070104");
	expect_reject(&m, SIEGEL_E_PARSE, "unknown certifiedDataType", "certifiedDataType",
		"0.4.0.127.0.7.3.7.1.4");
	msg_free(&m);

	/* operationType */
	msg_load(&m, "06_tx_start_space_unixt_p256");
	i = msg_find(&m, "operationType");
	msg_set(&m, i, "801143616e63656c5472616e73616374696f6e"); /* CancelTransaction */
	expect_reject(&m, SIEGEL_E_PARSE, "unknown tx operationType", "operationType", "Cancel");
	msg_set(&m, i, "8010737461727454" "72616e73616374696f6e"); /* startTransaction */
	{
		/* lower-case spelling is accepted (verification then fails, the bytes changed) */
		buf = msg_assemble(&m, &len);
		struct logmsg lm;
		struct siegel_diag d;
		CHECK_OK(logmsg_parse(&lm, buf, len, &d));
		struct siegel_buf fn;
		siegel_buf_init(&fn);
		CHECK_OK(logmsg_file_name(&fn, &lm));
		CHECK(fn.data && strstr((char *)fn.data, "_Start_Client-KASSE-01.log") != NULL);
		CHECK_RC(logmsg_verify(&lm, m.pkey, 1), SIEGEL_E_VERIFY);
		siegel_buf_free(&fn);
		logmsg_clear(&lm);
		free(buf);
	}
	msg_free(&m);

	/* element order */
	msg_load(&m, "06_tx_start_space_unixt_p256");
	{
		size_t a = msg_find(&m, "operationType"), b = msg_find(&m, "clientId");
		uint8_t *t = m.el[a];
		size_t tl = m.len[a];
		m.el[a] = m.el[b];
		m.len[a] = m.len[b];
		m.el[b] = t;
		m.len[b] = tl;
		expect_reject(&m, SIEGEL_E_PARSE, "clientId before operationType", "operationType", NULL);
	}
	msg_free(&m);
	msg_load(&m, "06_tx_start_space_unixt_p256");
	{
		size_t a = msg_find(&m, "processType"), b = msg_find(&m, "transactionNumber");
		uint8_t *t = m.el[a];
		size_t tl = m.len[a];
		m.el[a] = m.el[b];
		m.len[a] = m.len[b];
		m.el[b] = t;
		m.len[b] = tl;
		expect_reject(&m, SIEGEL_E_PARSE, "processType after transactionNumber", "[3]",
			"out of order");
	}
	msg_free(&m);
	msg_load(&m, "06_tx_start_space_unixt_p256");
	i = msg_find(&m, "processType");
	msg_insert(&m, i, "830120");
	expect_reject(&m, SIEGEL_E_PARSE, "duplicate processType", "[3]", "out of order");
	msg_free(&m);
	msg_load(&m, "06_tx_start_space_unixt_p256");
	i = msg_find(&m, "transactionNumber");
	msg_remove(&m, i);
	expect_reject(&m, SIEGEL_E_PARSE, "missing transactionNumber", "transactionNumber", NULL);
	msg_free(&m);
	msg_load(&m, "06_tx_start_space_unixt_p256");
	i = msg_find(&m, "serialNumber");
	msg_insert(&m, i, "860100");
	msg_insert(&m, i, "860100");
	expect_reject(&m, SIEGEL_E_PARSE, "duplicate additionalInternalData", "[6]", "out of order");
	msg_free(&m);

	/* processType absent (conditional) parses */
	msg_load(&m, "06_tx_start_space_unixt_p256");
	msg_remove(&m, msg_find(&m, "processType"));
	{
		buf = msg_assemble(&m, &len);
		struct logmsg lm;
		struct siegel_diag d;
		CHECK_OK(logmsg_parse(&lm, buf, len, &d));
		CHECK(lm.has_process_type == 0 && lm.transaction_number == 1);
		logmsg_clear(&lm);
		free(buf);
	}
	msg_free(&m);

	/* processData: indefinite-length defects */
	static const struct {
		const char *hex, *label, *needle;
	} pd[] = {
		{ "a20604016104016200", "constructed definite processData", "definite" },
		{ "a280040161", "processData without EOC", "end-of-contents" },
		{ "a28004816100" "0000", "non-minimal chunk length", "non-minimal" },
		{ "a2802480040141000000" "00", "nested constructed chunk", "OCTET STRING" },
		{ "a280" "2480248024802480248024802480248024802480" "040141"
		  "0000000000000000000000000000000000000000" "0000",
		  "deep nesting", "nesting" },
		{ "a280" "0201050000", "INTEGER chunk", "want OCTET STRING" },
		{ "a280048480000000" "0000", "huge chunk length", "exceeds" },
		{ "82847fffffff", "huge processData length", "exceeds" },
		{ "8280", "indefinite primitive processData", "indefinite" },
	};
	for (size_t k = 0; k < sizeof(pd) / sizeof(pd[0]); k++) {
		msg_load(&m, "10_tx_finish_indefinite_unixt_p256");
		msg_set(&m, msg_find(&m, "processData"), pd[k].hex);
		expect_reject(&m, SIEGEL_E_PARSE, pd[k].label, "processData", pd[k].needle);
		msg_free(&m);
	}
	/* indefinite length anywhere else */
	msg_load(&m, "10_tx_finish_indefinite_unixt_p256");
	msg_set(&m, msg_find(&m, "clientId"), "a18004084b415353452d30310000");
	expect_reject(&m, SIEGEL_E_PARSE, "indefinite clientId", "clientId", NULL);
	msg_free(&m);
	msg_load(&m, "10_tx_finish_indefinite_unixt_p256");
	msg_set(&m, msg_find(&m, "signatureAlgorithm"), "3080060a04007f000701010401030000");
	expect_reject(&m, SIEGEL_E_PARSE, "indefinite signatureAlgorithm", "signatureAlgorithm",
		"indefinite");
	msg_free(&m);
	msg_load(&m, "10_tx_finish_indefinite_unixt_p256");
	msg_set(&m, msg_find(&m, "serialNumber"),
		"2480" "0420b07b419a340384ad282d0ca3298d3e09e8c80e1de2669f2837a026f1893b339d" "0000");
	expect_reject(&m, SIEGEL_E_PARSE, "indefinite serialNumber", "serialNumber", NULL);
	msg_free(&m);

	/* the common tail */
	msg_load(&m, "09_tx_finish_kassenbeleg_unixt_p256");
	i = msg_find(&m, "serialNumber");
	msg_set(&m, i, "041f" "b07b419a340384ad282d0ca3298d3e09e8c80e1de2669f2837a026f1893b33");
	expect_reject(&m, SIEGEL_E_PARSE, "31-byte serialNumber", "serialNumber", "32");
	msg_free(&m);

	msg_load(&m, "09_tx_finish_kassenbeleg_unixt_p256");
	i = msg_find(&m, "signatureAlgorithm");
	msg_set(&m, i, "300c060a04007f00070101040106");
	expect_reject(&m, SIEGEL_E_NOTSUP, "unknown signature OID", "signatureAlgorithm",
		"0.4.0.127.0.7.1.1.4.1.6");
	msg_set(&m, i, "300e060a04007f000701010401030500");
	expect_reject(&m, SIEGEL_E_PARSE, "signatureAlgorithm NULL parameters", "signatureAlgorithm",
		"parameters");
	msg_set(&m, i, "060a04007f00070101040103");
	expect_reject(&m, SIEGEL_E_PARSE, "bare OID as signatureAlgorithm", "signatureAlgorithm",
		"SEQUENCE");
	msg_set(&m, i, "3000");
	expect_reject(&m, SIEGEL_E_PARSE, "empty signatureAlgorithm", "signatureAlgorithm", NULL);
	msg_free(&m);

	msg_load(&m, "09_tx_finish_kassenbeleg_unixt_p256");
	i = msg_find(&m, "signatureCounter");
	msg_insert(&m, i, "040100");
	expect_reject(&m, SIEGEL_E_PARSE, "seAuditData in a transaction log", "seAuditData", NULL);
	msg_free(&m);

	static const struct {
		const char *hex, *label;
	} ctr[] = {
		{ "0201ff", "negative signatureCounter" },
		{ "0202000a", "non-minimal signatureCounter" },
		{ "0209010000000000000000", "9-byte signatureCounter" },
		{ "0200", "empty signatureCounter" },
		{ "0a0101", "signatureCounter as ENUMERATED" },
	};
	for (size_t k = 0; k < sizeof(ctr) / sizeof(ctr[0]); k++) {
		msg_load(&m, "09_tx_finish_kassenbeleg_unixt_p256");
		msg_set(&m, msg_find(&m, "signatureCounter"), ctr[k].hex);
		expect_reject(&m, SIEGEL_E_PARSE, ctr[k].label, "signatureCounter", NULL);
		msg_free(&m);
	}
	msg_load(&m, "09_tx_finish_kassenbeleg_unixt_p256");
	msg_set(&m, msg_find(&m, "transactionNumber"), "8501ff");
	expect_reject(&m, SIEGEL_E_PARSE, "negative transactionNumber", "transactionNumber", NULL);
	msg_free(&m);

	static const struct {
		const char *hex, *label;
	} tm[] = {
		{ "170c323430373032303630303030", "UTCTime without Z" },
		{ "170d3234313330323036303030305a", "UTCTime month 13" },
		{ "170b323430373032303630305a", "UTCTime without seconds" },
		{ "180f32303234303233303132303030305a", "GeneralizedTime Feb 30" },
		{ "181332303234303830323132303130302e3132305a", "GeneralizedTime trailing zero" },
		{ "181032303234303830323132303130302e5a", "GeneralizedTime empty fraction" },
		{ "180f32303234303830323132303130302b", "GeneralizedTime with offset" },
		{ "180f32303234303830323132363030305a", "GeneralizedTime minute 60" },
		{ "02088000000000000000", "unixTime negative" },
		{ "020900ffffffffffffffff", "unixTime beyond int64" },
		{ "0c0f32303234303830323132303130305a", "UTF8String time" },
	};
	for (size_t k = 0; k < sizeof(tm) / sizeof(tm[0]); k++) {
		msg_load(&m, "09_tx_finish_kassenbeleg_unixt_p256");
		msg_set(&m, msg_find(&m, "logTime"), tm[k].hex);
		expect_reject(&m, SIEGEL_E_PARSE, tm[k].label, "logTime", NULL);
		msg_free(&m);
	}

	msg_load(&m, "09_tx_finish_kassenbeleg_unixt_p256");
	msg_remove(&m, m.n - 1);
	expect_reject(&m, SIEGEL_E_PARSE, "missing signatureValue", "signatureValue", NULL);
	msg_free(&m);
	msg_load(&m, "09_tx_finish_kassenbeleg_unixt_p256");
	msg_set(&m, m.n - 1, "0403010203");
	expect_reject(&m, SIEGEL_E_PARSE, "odd signatureValue", "signatureValue", NULL);
	msg_set(&m, m.n - 1, "0400");
	expect_reject(&m, SIEGEL_E_PARSE, "empty signatureValue", "signatureValue", NULL);
	msg_free(&m);
	msg_load(&m, "09_tx_finish_kassenbeleg_unixt_p256");
	msg_insert(&m, m.n, "0500");
	expect_reject(&m, SIEGEL_E_PARSE, "element after signatureValue", "after signatureValue",
		NULL);
	msg_free(&m);

	/* system and audit logs */
	msg_load(&m, "01_sys_authenticateUser_unixt_p256");
	msg_set(&m, msg_find(&m, "systemOperationData"), "a18004058105000000");
	expect_reject(&m, SIEGEL_E_PARSE, "indefinite systemOperationData", "systemOperationData",
		NULL);
	msg_set(&m, msg_find(&m, "operationType"), "8000");
	expect_reject(&m, SIEGEL_E_PARSE, "empty system operationType", "operationType", NULL);
	msg_free(&m);
	msg_load(&m, "01_sys_authenticateUser_unixt_p256");
	msg_insert(&m, msg_find(&m, "serialNumber"), "830100");
	expect_reject(&m, SIEGEL_E_PARSE, "tx field in a system log", "SystemLog", "[3]");
	msg_free(&m);
	msg_load(&m, "11_aud_unixt_p256");
	msg_remove(&m, msg_find(&m, "seAuditData"));
	expect_reject(&m, SIEGEL_E_PARSE, "audit log without seAuditData", "seAuditData", NULL);
	msg_free(&m);
	msg_load(&m, "11_aud_unixt_p256");
	msg_insert(&m, msg_find(&m, "serialNumber"), "800c61757468656e74696361");
	expect_reject(&m, SIEGEL_E_PARSE, "certifiedData in an audit log", "AuditLog", "[0]");
	msg_free(&m);

	/* size limit: checked before anything is read */
	{
		size_t big = LOGMSG_MAX_SIZE + 1;
		uint8_t *p = calloc(1, big);
		p[0] = 0x30;
		p[1] = 0x84;
		p[2] = 0x01;
		p[3] = 0x00;
		p[4] = 0x00;
		/* the declared length is irrelevant: the size limit is checked first */
		expect_reject_buf(p, big, SIEGEL_E_LIMIT, "message over LOGMSG_MAX_SIZE", "LogMessage",
			"limit");
		free(p);
	}
}

/* encode: processType limit and other caller errors */
static int dummy_sign(void *ctx, uint8_t *sig_out, size_t *sig_len, const uint8_t *dtbs,
	size_t dtbs_len)
{
	size_t want = *(const size_t *)ctx;
	(void)dtbs;
	(void)dtbs_len;
	memset(sig_out, 0x11, want);
	*sig_len = want;
	return 0;
}

static void test_encode_rejects(void)
{
	uint8_t serial[ALG_SERIAL_LEN] = { 1 };
	char pt[LOGMSG_MAX_PROCESS_TYPE + 2];
	memset(pt, 'x', sizeof(pt));
	struct logmsg m;
	memset(&m, 0, sizeof(m));
	m.kind = LOGMSG_TRANSACTION;
	m.operation_type = (struct logmsg_bytes){ (const uint8_t *)"FinishTransaction", 17 };
	m.client_id = (struct logmsg_bytes){ (const uint8_t *)"KASSE-01", 8 };
	m.has_process_type = 1;
	m.process_type = (struct logmsg_bytes){ (const uint8_t *)pt, LOGMSG_MAX_PROCESS_TYPE };
	m.transaction_number = 1;
	m.serial_number = (struct logmsg_bytes){ serial, sizeof(serial) };
	m.alg = SIEGEL_ALG_P256_SHA256;
	m.signature_counter = 5;
	CHECK_OK(logmsg_time_set(&m.log_time, LOGMSG_TIME_UNIX, 1716199200));
	size_t siglen = 64;
	struct siegel_buf b;
	struct siegel_diag d = { { 0 } };
	siegel_buf_init(&b);

	CHECK_OK(logmsg_encode(&b, &m, dummy_sign, &siglen, &d)); /* 100 bytes: fine */
	struct logmsg p;
	CHECK_OK(logmsg_parse(&p, b.data, b.len, &d));
	CHECK(p.process_type.len == LOGMSG_MAX_PROCESS_TYPE && p.process_data.len == 0);
	logmsg_clear(&p);

	siegel_buf_reset(&b);
	m.process_type.len = LOGMSG_MAX_PROCESS_TYPE + 1;
	d.msg[0] = 0;
	CHECK_RC(logmsg_encode(&b, &m, dummy_sign, &siglen, &d), SIEGEL_E_LIMIT);
	CHECK(strstr(d.msg, "processType") != NULL && b.len == 0);
	CHECK_RC(logmsg_encode_dtbs(&b, &m, &d), SIEGEL_E_LIMIT);
	CHECK(b.len == 0);
	m.process_type.len = 5;

	m.operation_type = (struct logmsg_bytes){ (const uint8_t *)"Finish", 6 };
	CHECK_RC(logmsg_encode(&b, &m, dummy_sign, &siglen, &d), SIEGEL_E_INVAL);
	CHECK(strstr(d.msg, "operationType") != NULL);
	m.operation_type = (struct logmsg_bytes){ (const uint8_t *)"finishTransaction", 17 };

	m.serial_number.len = 31;
	CHECK_RC(logmsg_encode(&b, &m, dummy_sign, &siglen, &d), SIEGEL_E_INVAL);
	CHECK(strstr(d.msg, "serialNumber") != NULL);
	m.serial_number.len = 32;

	siglen = 63;
	CHECK_RC(logmsg_encode(&b, &m, dummy_sign, &siglen, &d), SIEGEL_E_SIGNING);
	CHECK(strstr(d.msg, "signatureValue") != NULL);
	siglen = 96; /* P-384 length for a P-256 algorithm */
	CHECK_RC(logmsg_encode(&b, &m, dummy_sign, &siglen, &d), SIEGEL_E_SIGNING);
	siglen = 64;

	CHECK_OK(logmsg_time_set(&m.log_time, LOGMSG_TIME_UTC, 1716199200));
	CHECK_STR(m.log_time.text, "240520100000Z");
	CHECK_RC(logmsg_time_set(&m.log_time, LOGMSG_TIME_UTC, 2524608000LL), SIEGEL_E_INVAL); /* 2050 */
	CHECK_RC(logmsg_time_set(&m.log_time, LOGMSG_TIME_UNIX, -1), SIEGEL_E_INVAL);
	/* UTCTime century (RFC 5280 4.1.2.5.1): YY >= 50 is 19YY */
	CHECK_OK(logmsg_time_set(&m.log_time, LOGMSG_TIME_UTC, -631152000LL));
	CHECK_STR(m.log_time.text, "500101000000Z");
	CHECK_RC(logmsg_time_set(&m.log_time, LOGMSG_TIME_UTC, -631152001LL), SIEGEL_E_INVAL);
	CHECK_OK(logmsg_time_set(&m.log_time, LOGMSG_TIME_UTC, 946684799));
	CHECK_STR(m.log_time.text, "991231235959Z");
	siegel_buf_reset(&b);
	CHECK_OK(logmsg_encode(&b, &m, dummy_sign, &siglen, &d));
	CHECK_OK(logmsg_parse(&p, b.data, b.len, &d));
	CHECK(p.log_time.fmt == LOGMSG_TIME_UTC && p.log_time.unix_sec == 946684799);
	CHECK_STR(p.log_time.text, "991231235959Z");
	logmsg_clear(&p);
	{
		char iso[32];
		logmsg_time_iso(iso, 951782400, 7); /* leap day 2000 */
		CHECK_STR(iso, "2000-02-29T00:00:00.007Z");
		enum logmsg_time_format f = LOGMSG_TIME_UNIX;
		CHECK_OK(logmsg_time_format_parse(&f, "generalizedTime"));
		CHECK(f == LOGMSG_TIME_GENERALIZED);
		CHECK_RC(logmsg_time_format_parse(&f, "gent"), SIEGEL_E_INVAL);
	}
	CHECK_OK(logmsg_time_set(&m.log_time, LOGMSG_TIME_GENERALIZED, 1722600060));
	CHECK_STR(m.log_time.text, "20240802120100Z");
	m.log_time.unix_sec++; /* text and number disagree */
	CHECK_RC(logmsg_encode(&b, &m, dummy_sign, &siglen, &d), SIEGEL_E_INVAL);
	CHECK(strstr(d.msg, "logTime") != NULL);
	m.log_time.text[0] = 0;
	m.log_time.millis = 120; /* formatted without trailing zero */
	CHECK_OK(logmsg_encode(&b, &m, dummy_sign, &siglen, &d));
	CHECK(memmem(b.data, b.len, "20240802120101.12Z", 18) != NULL);

	m.kind = LOGMSG_AUDIT;
	siegel_buf_reset(&b);
	CHECK_RC(logmsg_encode(&b, &m, dummy_sign, &siglen, &d), SIEGEL_E_INVAL);
	CHECK(strstr(d.msg, "seAuditData") != NULL);
	m.kind = LOGMSG_TRANSACTION;
	m.has_se_audit_data = 1;
	CHECK_RC(logmsg_encode(&b, &m, dummy_sign, &siglen, &d), SIEGEL_E_INVAL);
	m.has_se_audit_data = 0;
	m.alg = SIEGEL_ALG_NONE;
	CHECK_RC(logmsg_encode(&b, &m, dummy_sign, &siglen, &d), SIEGEL_E_INVAL);
	CHECK(strstr(d.msg, "signatureAlgorithm") != NULL);
	m.alg = SIEGEL_ALG_P256_SHA256;

	/* file names refuse bytes that would leave the export directory */
	CHECK_OK(logmsg_time_set(&m.log_time, LOGMSG_TIME_UNIX, 1716199200));
	siegel_buf_reset(&b);
	CHECK_OK(logmsg_file_name(&b, &m));
	CHECK_STR((char *)b.data, "Unixt_1716199200_Sig-5_Log-Tra_No-1_Finish_Client-KASSE-01.log");
	siegel_buf_reset(&b);
	m.client_id = (struct logmsg_bytes){ (const uint8_t *)"../../x", 7 };
	CHECK_RC(logmsg_file_name(&b, &m), SIEGEL_E_INVAL);
	CHECK(b.len == 0);
	siegel_buf_free(&b);

	/* system data builders: values outside 32 bits, time text, others */
	siegel_buf_init(&b);
	logmsg_sys_update_time(&b, LOGMSG_TIME_UNIX, 1716199193, 4294967296LL);
	size_t n = 0;
	uint8_t *want = t_unhex("8104664b1f19" "82080000000100000000", &n);
	CHECK(b.err == 0 && b.len == n && memcmp(b.data, want, n) == 0);
	free(want);
	siegel_buf_reset(&b);
	logmsg_sys_update_time(&b, LOGMSG_TIME_UTC, 1719900000, 1719900042);
	CHECK(b.err == 0 && b.len == 30 && memcmp(b.data, "\x81\x0d" "240702060000Z", 15) == 0);
	siegel_buf_reset(&b);
	logmsg_sys_disable(&b, LOGMSG_TIME_GENERALIZED, 1722600000);
	CHECK(b.err == 0 && b.len == 17 && memcmp(b.data, "\x81\x0f" "20240802120000Z", 17) == 0);
	siegel_buf_reset(&b);
	logmsg_sys_unblock_user(&b, "admin", 0);
	logmsg_sys_log_out(&b, "admin", 1);
	want = t_unhex("810561646d696e820100" "810561646d696e820101", &n);
	CHECK(b.err == 0 && b.len == n && memcmp(b.data, want, n) == 0);
	free(want);
	siegel_buf_reset(&b);
	logmsg_sys_self_test(&b, "SMAERS", 0, "ok");
	want = t_unhex("8106534d41455253820100" "83026f6b", &n);
	CHECK(b.err == 0 && b.len == n && memcmp(b.data, want, n) == 0);
	free(want);
	siegel_buf_reset(&b);
	logmsg_sys_update_time(&b, LOGMSG_TIME_UTC, 1719900000, 2524608000LL); /* 2050: no UTCTime */
	CHECK(b.err != 0);
	siegel_buf_free(&b);
}

int main(void)
{
	static const char *trunc[] = { "06_tx_start_space_unixt_p256",
		"10_tx_finish_indefinite_unixt_p256", "11_aud_unixt_p256",
		"14_sys_UpdateTime_gent_bp256", "15_tx_start_gent_fraction_bp256",
		"17_tx_finish_unixt_p384", "13_tx_finish_utc_json_p256" };
	for (size_t i = 0; i < sizeof(trunc) / sizeof(trunc[0]); i++) {
		test_truncations(trunc[i]);
		test_corruptions(trunc[i]);
	}
	test_cases();
	test_encode_rejects();
	return t_done();
}
