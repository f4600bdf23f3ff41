/* pdf.c: signature fields, signature dictionaries and ByteRange checks of a
 * PDF read with libqpdf's C API (no recovery). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <qpdf/qpdf-c.h>

#include "pdf/pdf_internal.h"

const char *pdf_change_name(enum pdf_change c)
{
	switch (c) {
	case PDF_CHANGE_NONE: return "none";
	case PDF_CHANGE_SIGNATURES: return "signatures";
	case PDF_CHANGE_DSS: return "dss";
	case PDF_CHANGE_FORM: return "form-filling";
	case PDF_CHANGE_ANNOTATIONS: return "annotations";
	case PDF_CHANGE_OTHER: return "other";
	}
	return "other";
}

/* Copies n bytes of UTF-8 text, dropping control characters and invalid
 * sequences, truncating at a character boundary. */
static void text_copy(char *dst, size_t cap, const char *src, size_t n)
{
	size_t o = 0;
	const unsigned char *s = (const unsigned char *)src;
	for (size_t i = 0; i < n && o + 1 < cap;) {
		unsigned char c = s[i];
		size_t k = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
			: (c & 0xf8) == 0xf0 ? 4 : 0;
		if (k == 0 || i + k > n || (k == 2 && c < 0xc2)) {
			i++;
			continue;
		}
		int ok = 1;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				ok = 0;
		if (!ok) {
			i++;
			continue;
		}
		if (k == 1 && (c < 0x20 || c == 0x7f)) {
			if (c == '\t' || c == '\n' || c == '\r')
				dst[o++] = ' ';
			i++;
			continue;
		}
		if (o + k >= cap)
			break;
		memcpy(dst + o, s + i, k);
		o += k;
		i += k;
	}
	dst[o] = 0;
}

int pdf_parse_date(int64_t *out, const char *s)
{
	if (s == NULL)
		return SIEGEL_E_PARSE;
	if (s[0] == 'D' && s[1] == ':')
		s += 2;
	int v[6] = { 0, 1, 1, 0, 0, 0 };
	static const int w[6] = { 4, 2, 2, 2, 2, 2 };
	size_t i = 0;
	for (int f = 0; f < 6; f++) {
		if (!isdigit((unsigned char)s[i])) {
			if (f == 0)
				return SIEGEL_E_PARSE;
			break;
		}
		int x = 0;
		for (int k = 0; k < w[f]; k++) {
			if (!isdigit((unsigned char)s[i]))
				return SIEGEL_E_PARSE;
			x = x * 10 + (s[i++] - '0');
		}
		v[f] = x;
	}
	if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
		return SIEGEL_E_PARSE;
	int64_t off = 0;
	char o = s[i];
	if (o == '+' || o == '-') {
		i++;
		int hh = 0, mm = 0;
		if (isdigit((unsigned char)s[i]) && isdigit((unsigned char)s[i + 1])) {
			hh = (s[i] - '0') * 10 + (s[i + 1] - '0');
			i += 2;
			if (s[i] == '\'')
				i++;
			if (isdigit((unsigned char)s[i]) && isdigit((unsigned char)s[i + 1])) {
				mm = (s[i] - '0') * 10 + (s[i + 1] - '0');
				i += 2;
			}
		}
		if (hh > 23 || mm > 59)
			return SIEGEL_E_PARSE;
		off = (int64_t)(hh * 3600 + mm * 60) * (o == '+' ? 1 : -1);
	}
	struct tm tm = { 0 };
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	*out = (int64_t)timegm(&tm) - off;
	return 0;
}

/* ---- qpdf helpers ---- */

static int qfail(qpdf_data q, struct siegel_diag *d, const char *what)
{
	qpdf_error e = qpdf_get_error(q);
	const char *t = e ? qpdf_get_error_full_text(q, e) : "unknown error";
	return siegel_fail(d, SIEGEL_E_PARSE, "PDF: %s: %s", what, t);
}

static int name_is(qpdf_data q, qpdf_oh oh, const char *key, const char *name)
{
	qpdf_oh v = qpdf_oh_get_key(q, oh, key);
	int r = qpdf_oh_is_name_and_equals(q, v, name);
	qpdf_oh_release(q, v);
	return r;
}

static void get_name(char *dst, size_t cap, qpdf_data q, qpdf_oh dict, const char *key)
{
	dst[0] = 0;
	qpdf_oh v = qpdf_oh_get_key(q, dict, key);
	if (qpdf_oh_is_name(q, v)) {
		const char *n = qpdf_oh_get_name(q, v);
		if (n[0] == '/')
			n++;
		text_copy(dst, cap, n, strlen(n));
	}
	qpdf_oh_release(q, v);
}

static void get_text(char *dst, size_t cap, qpdf_data q, qpdf_oh dict, const char *key)
{
	dst[0] = 0;
	qpdf_oh v = qpdf_oh_get_key(q, dict, key);
	if (qpdf_oh_is_string(q, v)) {
		const char *s = NULL;
		size_t n = 0;
		if (qpdf_oh_get_value_as_utf8(q, v, &s, &n) && s != NULL)
			text_copy(dst, cap, s, n);
	}
	qpdf_oh_release(q, v);
}

/* A small set of object ids (open addressing) for loop protection. */
struct idset {
	int *v;
	size_t cap;
	size_t n;
};

static int idset_add(struct idset *s, int id)
{
	if (s->v == NULL) {
		s->cap = 4096;
		s->v = calloc(s->cap, sizeof(int));
		if (s->v == NULL)
			return -1;
	}
	if (s->n * 2 >= s->cap) {
		size_t nc = s->cap * 2;
		int *nv = calloc(nc, sizeof(int));
		if (nv == NULL)
			return -1;
		for (size_t i = 0; i < s->cap; i++)
			if (s->v[i]) {
				size_t h = ((size_t)s->v[i] * 2654435761u) & (nc - 1);
				while (nv[h])
					h = (h + 1) & (nc - 1);
				nv[h] = s->v[i];
			}
		free(s->v);
		s->v = nv;
		s->cap = nc;
	}
	size_t h = ((size_t)id * 2654435761u) & (s->cap - 1);
	while (s->v[h]) {
		if (s->v[h] == id)
			return 1; /* already present */
		h = (h + 1) & (s->cap - 1);
	}
	s->v[h] = id;
	s->n++;
	return 0;
}

struct walk {
	qpdf_data q;
	struct pdf_doc *doc;
	struct idset seen_fields;
	struct idset seen_values;
	size_t n_fields;
	struct siegel_diag *d;
	int rc;
};

static int is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hexval(int c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int at_revision_end(const uint8_t *data, size_t end)
{
	size_t e = end;
	for (int k = 0; k < 2 && e > 0 && (data[e - 1] == '\n' || data[e - 1] == '\r'); k++)
		e--;
	return e >= 5 && memcmp(data + e - 5, "%%EOF", 5) == 0;
}

/* ByteRange sanity and the /Contents bytes from the gap. */
static void check_byte_range(struct pdf_sig *s, const struct pdf_doc *doc, const uint8_t *cv,
	size_t cv_len)
{
	const uint8_t *data = doc->data;
	size_t len = doc->len;
	int64_t *br = s->br;
	if (br[0] != 0) {
		s->br_status = PDF_BR_NOT_AT_ZERO;
		snprintf(s->br_msg, sizeof(s->br_msg), "ByteRange starts at %lld, not 0",
			(long long)br[0]);
		return;
	}
	if (br[1] < 0 || br[2] < 0 || br[3] < 0 || br[1] >= br[2] || (uint64_t)br[2] > len ||
	    (uint64_t)br[3] > len - (size_t)br[2]) {
		s->br_status = PDF_BR_OUTSIDE;
		snprintf(s->br_msg, sizeof(s->br_msg),
			"ByteRange [0 %lld %lld %lld] overlaps or lies outside the %zu-byte file",
			(long long)br[1], (long long)br[2], (long long)br[3], len);
		return;
	}
	size_t a = (size_t)br[1], b = (size_t)br[2];
	if (data[a] != '<' || data[b - 1] != '>' || b - a < 2) {
		s->br_status = PDF_BR_GAP;
		snprintf(s->br_msg, sizeof(s->br_msg),
			"ByteRange gap [%zu, %zu) is not exactly the <...> /Contents string "
			"(starts with 0x%02x, ends with 0x%02x)", a, b, data[a], data[b - 1]);
		return;
	}
	size_t ndig = 0;
	for (size_t i = a + 1; i < b - 1; i++) {
		if (is_hex(data[i]))
			ndig++;
		else {
			s->br_status = PDF_BR_GAP;
			snprintf(s->br_msg, sizeof(s->br_msg),
				"ByteRange gap holds a non-hex byte 0x%02x at offset %zu", data[i], i);
			return;
		}
	}
	if (ndig % 2 || ndig > PDF_MAX_CONTENTS) {
		s->br_status = PDF_BR_GAP;
		snprintf(s->br_msg, sizeof(s->br_msg), "/Contents has %zu hex digits (%s)", ndig,
			ndig % 2 ? "odd" : "over the limit");
		return;
	}
	s->contents = malloc(ndig / 2 + 1);
	if (s->contents == NULL) {
		s->br_status = PDF_BR_GAP;
		snprintf(s->br_msg, sizeof(s->br_msg), "out of memory");
		return;
	}
	for (size_t i = 0; i < ndig / 2; i++)
		s->contents[i] = (uint8_t)(hexval(data[a + 1 + 2 * i]) << 4 |
			hexval(data[a + 2 + 2 * i]));
	s->contents_len = ndig / 2;
	/* The gap must be this dictionary's /Contents, not some other string.
	 * Signature /Contents are never encrypted (ISO 32000-1 §7.6.1), and qpdf
	 * leaves them as stored. */
	if (cv_len != s->contents_len || memcmp(cv, s->contents, cv_len) != 0) {
		s->br_status = PDF_BR_GAP;
		snprintf(s->br_msg, sizeof(s->br_msg),
			"ByteRange gap [%zu, %zu) does not hold this signature's /Contents", a, b);
		return;
	}
	s->revision_end = b + (size_t)br[3];
	s->covers_whole_file = s->revision_end == len;
	if (!s->covers_whole_file && !at_revision_end(data, s->revision_end)) {
		s->br_status = PDF_BR_NOT_REVISION;
		snprintf(s->br_msg, sizeof(s->br_msg),
			"ByteRange ends at %zu, which is not the end (%%%%EOF) of a revision", s->revision_end);
		return;
	}
	s->br_status = PDF_BR_OK;
}

static int read_docmdp(qpdf_data q, qpdf_oh sigdict)
{
	int p = 0;
	qpdf_oh refs = qpdf_oh_get_key(q, sigdict, "/Reference");
	int n = qpdf_oh_is_array(q, refs) ? qpdf_oh_get_array_n_items(q, refs) : 0;
	for (int i = 0; i < n && i < 16; i++) {
		qpdf_oh r = qpdf_oh_get_array_item(q, refs, i);
		if (qpdf_oh_is_dictionary(q, r) && name_is(q, r, "/TransformMethod", "/DocMDP")) {
			p = 2;
			qpdf_oh tp = qpdf_oh_get_key(q, r, "/TransformParams");
			qpdf_oh pv = qpdf_oh_get_key_if_dict(q, tp, "/P");
			int x;
			if (qpdf_oh_get_value_as_int(q, pv, &x) && x >= 1 && x <= 3)
				p = x;
			qpdf_oh_release(q, pv);
			qpdf_oh_release(q, tp);
		}
		qpdf_oh_release(q, r);
	}
	qpdf_oh_release(q, refs);
	return p;
}

static void add_signature(struct walk *w, qpdf_oh v, const char *field)
{
	qpdf_data q = w->q;
	struct pdf_doc *doc = w->doc;
	qpdf_oh cont = qpdf_oh_get_key(q, v, "/Contents");
	size_t cv_len = 0;
	const char *cv = NULL;
	if (qpdf_oh_is_string(q, cont))
		cv = qpdf_oh_get_binary_string_value(q, cont, &cv_len);
	int all_zero = 1;
	for (size_t i = 0; cv && i < cv_len; i++)
		if (cv[i])
			all_zero = 0;
	if (cv == NULL || cv_len == 0 || all_zero) {
		/* a prepared, never-filled placeholder: not a signature */
		doc->n_placeholders++;
		qpdf_oh_release(q, cont);
		return;
	}
	if (doc->n_sigs >= PDF_MAX_SIGNATURES) {
		w->rc = siegel_fail(w->d, SIEGEL_E_LIMIT, "PDF: more than %d signatures",
			PDF_MAX_SIGNATURES);
		qpdf_oh_release(q, cont);
		return;
	}
	uint8_t *cvc = malloc(cv_len);
	if (cvc == NULL) {
		w->rc = SIEGEL_E_NOMEM;
		qpdf_oh_release(q, cont);
		return;
	}
	memcpy(cvc, cv, cv_len);
	qpdf_oh_release(q, cont);
	struct pdf_sig *s = &doc->sigs[doc->n_sigs++];
	memset(s, 0, sizeof(*s));
	text_copy(s->field, sizeof(s->field), field, strlen(field));
	get_name(s->subfilter, sizeof(s->subfilter), q, v, "/SubFilter");
	get_name(s->filter, sizeof(s->filter), q, v, "/Filter");
	s->is_doc_timestamp = name_is(q, v, "/Type", "/DocTimeStamp");
	get_text(s->reason, sizeof(s->reason), q, v, "/Reason");
	get_text(s->location, sizeof(s->location), q, v, "/Location");
	char m[64];
	get_text(m, sizeof(m), q, v, "/M");
	if (m[0] && pdf_parse_date(&s->m_time, m) == 0)
		s->has_m = 1;
	s->docmdp_p = read_docmdp(q, v);
	qpdf_oh br = qpdf_oh_get_key(q, v, "/ByteRange");
	int ok = qpdf_oh_is_array(q, br) && qpdf_oh_get_array_n_items(q, br) == 4;
	for (int i = 0; ok && i < 4; i++) {
		qpdf_oh it = qpdf_oh_get_array_item(q, br, i);
		long long x;
		if (!qpdf_oh_is_integer(q, it) || !qpdf_oh_get_value_as_longlong(q, it, &x) || x < 0)
			ok = 0;
		else
			s->br[i] = x;
		qpdf_oh_release(q, it);
	}
	qpdf_oh_release(q, br);
	if (!ok) {
		s->br_status = PDF_BR_MALFORMED;
		snprintf(s->br_msg, sizeof(s->br_msg),
			"/ByteRange is not an array of 4 non-negative integers");
	} else {
		check_byte_range(s, doc, (const uint8_t *)cvc, cv_len);
	}
	free(cvc);
}

static void walk_field(struct walk *w, qpdf_oh f, const char *parent, int parent_is_sig,
	int depth)
{
	qpdf_data q = w->q;
	if (w->rc)
		return;
	if (depth > PDF_MAX_FIELD_DEPTH) {
		w->rc = siegel_fail(w->d, SIEGEL_E_LIMIT, "PDF: AcroForm field tree deeper than %d",
			PDF_MAX_FIELD_DEPTH);
		return;
	}
	if (!qpdf_oh_is_dictionary(q, f))
		return;
	if (qpdf_oh_is_indirect(q, f)) {
		int r = idset_add(&w->seen_fields, qpdf_oh_get_object_id(q, f));
		if (r < 0) {
			w->rc = SIEGEL_E_NOMEM;
			return;
		}
		if (r == 1)
			return; /* loop or shared node: visit once */
	}
	if (++w->n_fields > PDF_MAX_FIELDS) {
		w->rc = siegel_fail(w->d, SIEGEL_E_LIMIT, "PDF: more than %d form fields",
			PDF_MAX_FIELDS);
		return;
	}
	char t[PDF_MAX_TEXT], name[PDF_MAX_TEXT];
	get_text(t, sizeof(t), q, f, "/T");
	if (parent[0] && t[0])
		snprintf(name, sizeof(name), "%.200s.%.300s", parent, t);
	else
		snprintf(name, sizeof(name), "%s", t[0] ? t : parent);
	int is_sig = parent_is_sig;
	qpdf_oh ft = qpdf_oh_get_key(q, f, "/FT");
	if (qpdf_oh_is_name(q, ft))
		is_sig = qpdf_oh_is_name_and_equals(q, ft, "/Sig");
	qpdf_oh_release(q, ft);
	if (is_sig) {
		qpdf_oh v = qpdf_oh_get_key(q, f, "/V");
		if (qpdf_oh_is_dictionary(q, v)) {
			int dup = 0;
			if (qpdf_oh_is_indirect(q, v)) {
				int r = idset_add(&w->seen_values, qpdf_oh_get_object_id(q, v));
				if (r < 0)
					w->rc = SIEGEL_E_NOMEM;
				dup = r == 1;
			}
			if (!dup && !w->rc)
				add_signature(w, v, name);
		}
		qpdf_oh_release(q, v);
	}
	qpdf_oh kids = qpdf_oh_get_key(q, f, "/Kids");
	int n = qpdf_oh_is_array(q, kids) ? qpdf_oh_get_array_n_items(q, kids) : 0;
	for (int i = 0; i < n && !w->rc; i++) {
		qpdf_oh k = qpdf_oh_get_array_item(q, kids, i);
		walk_field(w, k, name, is_sig, depth + 1);
		qpdf_oh_release(q, k);
	}
	qpdf_oh_release(q, kids);
}

static int cmp_sig(const void *a, const void *b)
{
	const struct pdf_sig *x = a, *y = b;
	/* file order: by the position of /Contents; broken ByteRanges last */
	int64_t kx = x->br_status == PDF_BR_MALFORMED ? INT64_MAX : x->br[1];
	int64_t ky = y->br_status == PDF_BR_MALFORMED ? INT64_MAX : y->br[1];
	return kx < ky ? -1 : kx > ky;
}

void pdf_doc_free(struct pdf_doc *doc)
{
	if (doc == NULL)
		return;
	for (size_t i = 0; i < doc->n_sigs; i++)
		free(doc->sigs[i].contents);
	free(doc->sigs);
	if (doc->qpdf) {
		qpdf_data q = doc->qpdf;
		qpdf_cleanup(&q);
	}
	memset(doc, 0, sizeof(*doc));
}

/* Opens data[0..len) with qpdf, strictly. */
int pdf_qpdf_open(void **out, const uint8_t *data, size_t len, enum pdf_fail *fail,
	struct siegel_diag *d)
{
	qpdf_data q = qpdf_init();
	if (q == NULL)
		return SIEGEL_E_NOMEM;
	qpdf_silence_errors(q);
	qpdf_set_suppress_warnings(q, QPDF_TRUE);
	qpdf_set_attempt_recovery(q, QPDF_FALSE);
	QPDF_ERROR_CODE e = qpdf_read_memory(q, "PDF", (const char *)data, (unsigned long long)len, "");
	if ((e & QPDF_ERRORS) || qpdf_has_error(q)) {
		qpdf_error err = qpdf_get_error(q);
		int pw = err && qpdf_get_error_code(q, err) == qpdf_e_password;
		siegel_fail(d, SIEGEL_E_PARSE, "%s", err ? qpdf_get_error_full_text(q, err)
			: "PDF: cannot read the cross-reference table or trailer");
		*fail = pw ? PDF_FAIL_ENCRYPTED : PDF_FAIL_STRUCTURE;
		qpdf_cleanup(&q);
		return SIEGEL_E_PARSE;
	}
	while (qpdf_more_warnings(q))
		(void)qpdf_next_warning(q);
	*out = q;
	return 0;
}

int pdf_open(struct pdf_doc *doc, enum pdf_fail *fail_out, const uint8_t *data, size_t len,
	struct siegel_diag *d)
{
	memset(doc, 0, sizeof(*doc));
	*fail_out = PDF_FAIL_NONE;
	doc->data = data;
	doc->len = len;
	if (len > PDF_MAX_SIZE) {
		*fail_out = PDF_FAIL_STRUCTURE;
		return siegel_fail(d, SIEGEL_E_LIMIT, "PDF: %zu bytes, limit %u", len, PDF_MAX_SIZE);
	}
	/* header: %PDF-x.y within the first 1024 bytes (ISO 32000-1 §7.5.2) */
	size_t hdr = SIZE_MAX;
	for (size_t i = 0; i + 8 <= len && i < 1024; i++)
		if (memcmp(data + i, "%PDF-", 5) == 0) {
			hdr = i;
			break;
		}
	if (hdr == SIZE_MAX) {
		*fail_out = PDF_FAIL_NOT_PDF;
		return siegel_fail(d, SIEGEL_E_PARSE, "not a PDF: no %%PDF- header in the first 1024 bytes");
	}
	const uint8_t *v = data + hdr + 5;
	if (!isdigit(v[0]) || v[1] != '.' || !isdigit(v[2]) ||
	    !((v[0] == '1' && v[2] <= '7') || (v[0] == '2' && v[2] == '0'))) {
		*fail_out = PDF_FAIL_VERSION;
		return siegel_fail(d, SIEGEL_E_PARSE,
			"PDF: header version \"%.3s\" is not one of 1.0 .. 1.7, 2.0", (const char *)v);
	}
	snprintf(doc->version, sizeof(doc->version), "%c.%c", v[0], v[2]);
	void *qv = NULL;
	int rc = pdf_qpdf_open(&qv, data, len, fail_out, d);
	if (rc)
		return rc;
	qpdf_data q = qv;
	doc->qpdf = q;
	doc->encrypted = qpdf_is_encrypted(q) ? 1 : 0;
	doc->sigs = calloc(PDF_MAX_SIGNATURES, sizeof(*doc->sigs));
	if (doc->sigs == NULL) {
		pdf_doc_free(doc);
		return SIEGEL_E_NOMEM;
	}
	struct walk w = { .q = q, .doc = doc, .d = d };
	qpdf_oh root = qpdf_get_root(q);
	if (qpdf_has_error(q) || !qpdf_oh_is_dictionary(q, root)) {
		*fail_out = PDF_FAIL_STRUCTURE;
		rc = qpdf_has_error(q) ? qfail(q, d, "document catalog")
			: siegel_fail(d, SIEGEL_E_PARSE, "PDF: trailer /Root is not a dictionary");
		goto out;
	}
	qpdf_oh af = qpdf_oh_get_key(q, root, "/AcroForm");
	qpdf_oh fields = qpdf_oh_get_key_if_dict(q, af, "/Fields");
	int n = qpdf_oh_is_array(q, fields) ? qpdf_oh_get_array_n_items(q, fields) : 0;
	for (int i = 0; i < n && !w.rc; i++) {
		qpdf_oh f = qpdf_oh_get_array_item(q, fields, i);
		walk_field(&w, f, "", 0, 0);
		qpdf_oh_release(q, f);
		if (qpdf_has_error(q))
			break;
	}
	if (qpdf_has_error(q)) {
		*fail_out = PDF_FAIL_STRUCTURE;
		rc = qfail(q, d, "reading the form fields");
		goto out;
	}
	if (w.rc) {
		*fail_out = PDF_FAIL_STRUCTURE;
		rc = w.rc;
		goto out;
	}
	qsort(doc->sigs, doc->n_sigs, sizeof(*doc->sigs), cmp_sig);
	rc = 0;
out:
	free(w.seen_fields.v);
	free(w.seen_values.v);
	if (rc)
		pdf_doc_free(doc);
	return rc;
}
