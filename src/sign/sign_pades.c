/* sign_pades: PAdES signatures as an incremental update (ISO 32000-1 7.5.6,
 * 12.8). The original bytes stay an unchanged prefix; appended are the /Sig
 * dictionary (SubFilter ETSI.CAdES.detached, /M, a fixed-width ByteRange
 * placeholder, /Contents sized with headroom), a merged field+widget, the
 * rewritten first page (or its /Annots array) and AcroForm (or catalog), and
 * a cross-reference section of the same kind as the file's last one (table or
 * uncompressed stream) chained with /Prev. libqpdf only parses. */
#include "sign/sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <qpdf/qpdf-c.h>

#define PADES_MAX_NEW_OBJS 8
#define PADES_MAX_PAGE_DEPTH 64
#define PADES_MAX_FIELDS 100000
#define PADES_TAIL_SCAN 2048
#define PADES_BR_PLACEHOLDER "[0 0000000000 0000000000 0000000000]"

int sign_is_pdf(const uint8_t *data, size_t len)
{
	return data != NULL && len >= 8 && memcmp(data, "%PDF-", 5) == 0;
}

struct newobj {
	int num, gen;
	size_t off;
};

struct pades {
	qpdf_data q;
	struct siegel_buf *out;       /* the update; its byte 0 is at file offset base */
	size_t base;
	struct newobj objs[PADES_MAX_NEW_OBJS];
	size_t n_objs;
	struct siegel_diag *d;
};

/* Copies qpdf's transient string (valid until the next call). */
static char *qdup(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static void obj_begin(struct pades *p, int num, int gen)
{
	if (p->n_objs >= PADES_MAX_NEW_OBJS) {
		p->out->err = SIEGEL_E_LIMIT;
		return;
	}
	p->objs[p->n_objs++] = (struct newobj){ num, gen, p->base + p->out->len };
	siegel_buf_printf(p->out, "%d %d obj\n", num, gen);
}

static void obj_end(struct pades *p)
{
	siegel_buf_puts(p->out, "\nendobj\n");
}

/* Writes dict text (unparsed "<< ... >>") with extra entries before its end. */
static int put_dict_plus(struct siegel_buf *b, const char *dict, const char *extra)
{
	size_t n = strlen(dict);
	while (n > 0 && (dict[n - 1] == ' ' || dict[n - 1] == '\n'))
		n--;
	if (n < 4 || memcmp(dict, "<<", 2) != 0 || memcmp(dict + n - 2, ">>", 2) != 0)
		return SIEGEL_E_PARSE;
	siegel_buf_append(b, dict, n - 2);
	siegel_buf_puts(b, " ");
	siegel_buf_puts(b, extra);
	siegel_buf_puts(b, " >>");
	return 0;
}

/* The items of an array handle as unparsed text, plus one more reference. */
static int array_plus(struct siegel_buf *b, qpdf_data q, qpdf_oh arr, int add_num)
{
	siegel_buf_putc(b, '[');
	if (arr != 0 && qpdf_oh_is_array(q, arr)) {
		int n = qpdf_oh_get_array_n_items(q, arr);
		if (n > PADES_MAX_FIELDS)
			return SIEGEL_E_LIMIT;
		for (int i = 0; i < n; i++) {
			qpdf_oh it = qpdf_oh_get_array_item(q, arr, i);
			siegel_buf_puts(b, qpdf_oh_unparse(q, it));
			siegel_buf_putc(b, ' ');
		}
	}
	siegel_buf_printf(b, "%d 0 R]", add_num);
	return 0;
}

/* PDF text string literal with escapes. */
static void put_pdf_string(struct siegel_buf *b, const char *s)
{
	siegel_buf_putc(b, '(');
	for (; *s; s++) {
		if (*s == '(' || *s == ')' || *s == '\\')
			siegel_buf_putc(b, '\\');
		siegel_buf_putc(b, (uint8_t)*s);
	}
	siegel_buf_putc(b, ')');
}

/* Finds the offset the last startxref points at and what is there. */
static int last_xref(size_t *off_out, int *is_stream, const uint8_t *pdf, size_t len,
	struct siegel_diag *d)
{
	size_t from = len > PADES_TAIL_SCAN ? len - PADES_TAIL_SCAN : 0;
	const char key[] = "startxref";
	size_t kl = sizeof(key) - 1;
	size_t at = (size_t)-1;
	for (size_t i = len - kl; i + 1 > from && i < len; i--) {
		if (memcmp(pdf + i, key, kl) == 0) {
			at = i;
			break;
		}
		if (i == 0)
			break;
	}
	if (at == (size_t)-1)
		return siegel_fail(d, SIEGEL_E_PARSE, "PDF: no startxref in the last %d bytes",
			PADES_TAIL_SCAN);
	size_t i = at + kl;
	while (i < len && (pdf[i] == ' ' || pdf[i] == '\r' || pdf[i] == '\n' || pdf[i] == '\t'))
		i++;
	size_t v = 0;
	int digits = 0;
	while (i < len && pdf[i] >= '0' && pdf[i] <= '9' && digits < 15) {
		v = v * 10 + (size_t)(pdf[i] - '0');
		i++;
		digits++;
	}
	if (digits == 0 || v >= len)
		return siegel_fail(d, SIEGEL_E_PARSE, "PDF: startxref value is missing or beyond EOF");
	size_t j = v;
	while (j < len && (pdf[j] == ' ' || pdf[j] == '\r' || pdf[j] == '\n' || pdf[j] == '\t'))
		j++;
	if (j + 4 <= len && memcmp(pdf + j, "xref", 4) == 0)
		*is_stream = 0;
	else if (j < len && pdf[j] >= '0' && pdf[j] <= '9')
		*is_stream = 1;
	else
		return siegel_fail(d, SIEGEL_E_PARSE,
			"PDF: startxref %zu points at neither 'xref' nor an xref stream object", v);
	*off_out = v;
	return 0;
}

static int qpdf_problem(qpdf_data q, struct siegel_diag *d, const char *what)
{
	if (qpdf_has_error(q)) {
		qpdf_error e = qpdf_get_error(q);
		return siegel_fail(d, SIEGEL_E_PARSE, "PDF %s: %s", what,
			e ? qpdf_get_error_full_text(q, e) : "error");
	}
	/* Recovery is off, so a file that needs repair fails to read; warnings
	 * that remain are rejected too, except cosmetic ones that change no
	 * object (several signers write a blank line before "xref"). */
	while (qpdf_more_warnings(q)) {
		qpdf_error e = qpdf_next_warning(q);
		const char *w = e ? qpdf_get_error_full_text(q, e) : "warning";
		if (strstr(w, "extraneous whitespace seen before xref") != NULL)
			continue;
		return siegel_fail(d, SIEGEL_E_PARSE,
			"PDF damaged (qpdf had to repair it), rejected: %s", w);
	}
	return 0;
}

/* First leaf of the page tree (/Pages -> /Kids[0] ...), without building
 * qpdf's page cache. */
static qpdf_oh first_page(qpdf_data q, qpdf_oh root)
{
	qpdf_oh n = qpdf_oh_get_key(q, root, "/Pages");
	for (int depth = 0; depth < PADES_MAX_PAGE_DEPTH; depth++) {
		if (!qpdf_oh_is_dictionary(q, n))
			return 0;
		if (!qpdf_oh_has_key(q, n, "/Kids"))
			return qpdf_oh_is_indirect(q, n) ? n : 0;
		qpdf_oh kids = qpdf_oh_get_key(q, n, "/Kids");
		if (!qpdf_oh_is_array(q, kids) || qpdf_oh_get_array_n_items(q, kids) < 1)
			return 0;
		n = qpdf_oh_get_array_item(q, kids, 0);
	}
	return 0;
}

/* A field name "SignatureN" not used by a top-level field. */
static void unique_field_name(char *out, size_t cap, qpdf_data q, qpdf_oh fields)
{
	int n = (fields != 0 && qpdf_oh_is_array(q, fields)) ? qpdf_oh_get_array_n_items(q, fields) : 0;
	if (n > PADES_MAX_FIELDS)
		n = PADES_MAX_FIELDS;
	for (int k = 1;; k++) {
		snprintf(out, cap, "Signature%d", k);
		int used = 0;
		for (int i = 0; i < n && !used; i++) {
			qpdf_oh f = qpdf_oh_get_array_item(q, fields, i);
			qpdf_oh t = qpdf_oh_get_key_if_dict(q, f, "/T");
			if (qpdf_oh_is_string(q, t) && strcmp(qpdf_oh_get_utf8_value(q, t), out) == 0)
				used = 1;
		}
		if (!used)
			return;
	}
}

static int cmp_newobj(const void *a, const void *b)
{
	const struct newobj *x = a, *y = b;
	return (x->num > y->num) - (x->num < y->num);
}

static int write_update(struct pades *p, const uint8_t *pdf, size_t pdf_len,
	const struct sign_pades_opts *o, size_t *br_off, size_t *lt_off, size_t *gt_off,
	size_t contents_cap)
{
	qpdf_data q = p->q;
	struct siegel_buf *out = p->out;
	struct siegel_diag *d = p->d;
	char *t1 = NULL, *t2 = NULL;
	int rc = 0;

	size_t prev = 0;
	int xref_stream = 0;
	rc = last_xref(&prev, &xref_stream, pdf, pdf_len, d);
	if (rc)
		return rc;

	qpdf_oh trailer = qpdf_get_trailer(q);
	qpdf_oh root = qpdf_get_root(q);
	if (!qpdf_oh_is_dictionary(q, root) || !qpdf_oh_is_indirect(q, root))
		return siegel_fail(d, SIEGEL_E_PARSE, "PDF: no indirect document catalog (/Root)");
	if (qpdf_oh_has_key(q, trailer, "/Encrypt") || qpdf_is_encrypted(q))
		return siegel_fail(d, SIEGEL_E_NOTSUP, "PDF is encrypted: rejected");
	qpdf_oh perms = qpdf_oh_get_key(q, root, "/Perms");
	if (qpdf_oh_is_dictionary(q, perms) && qpdf_oh_has_key(q, perms, "/DocMDP"))
		return siegel_fail(d, SIEGEL_E_NOTSUP,
			"PDF is a certified document (/Perms /DocMDP): adding a signature is not allowed");
	qpdf_oh size_h = qpdf_oh_get_key(q, trailer, "/Size");
	if (!qpdf_oh_is_integer(q, size_h))
		return siegel_fail(d, SIEGEL_E_PARSE, "PDF trailer: /Size is not an integer");
	long long size = qpdf_oh_get_int_value(q, size_h);
	if (size < 1 || size > 8000000)
		return siegel_fail(d, SIEGEL_E_PARSE, "PDF trailer: /Size %lld out of range", size);
	qpdf_oh page = first_page(q, root);
	if (page == 0)
		return siegel_fail(d, SIEGEL_E_PARSE, "PDF: no first page in the page tree");
	rc = qpdf_problem(q, d, "page tree");
	if (rc)
		return rc;

	int sig_num = (int)size, wid_num = (int)size + 1, next = (int)size + 2;
	qpdf_oh acro = qpdf_oh_get_key(q, root, "/AcroForm");
	int have_acro = qpdf_oh_is_dictionary(q, acro);
	qpdf_oh fields = have_acro ? qpdf_oh_get_key(q, acro, "/Fields") : 0;
	char fname[32];
	unique_field_name(fname, sizeof(fname), q, fields);

	/* make sure the last line of the original ends */
	if (pdf[pdf_len - 1] != '\n' && pdf[pdf_len - 1] != '\r')
		siegel_buf_putc(out, '\n');

	/* 1: the signature dictionary */
	obj_begin(p, sig_num, 0);
	time_t when = (time_t)o->when;
	struct tm tm;
	char mdate[40];
	gmtime_r(&when, &tm);
	strftime(mdate, sizeof(mdate), "D:%Y%m%d%H%M%S+00'00'", &tm);
	siegel_buf_printf(out, "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
		"/M (%s) ", mdate);
	if (o->reason != NULL) {
		siegel_buf_puts(out, "/Reason ");
		put_pdf_string(out, o->reason);
		siegel_buf_putc(out, ' ');
	}
	siegel_buf_puts(out, "/ByteRange ");
	*br_off = out->len;
	siegel_buf_puts(out, PADES_BR_PLACEHOLDER);
	siegel_buf_puts(out, " /Contents ");
	*lt_off = out->len;
	siegel_buf_putc(out, '<');
	if (siegel_buf_reserve(out, 2 * contents_cap + 64) == 0) {
		memset(out->data + out->len, '0', 2 * contents_cap);
		out->len += 2 * contents_cap;
	}
	*gt_off = out->len;
	siegel_buf_puts(out, "> >>");
	obj_end(p);

	/* 2: the field + widget */
	int page_num = qpdf_oh_get_object_id(q, page), page_gen = qpdf_oh_get_generation(q, page);
	obj_begin(p, wid_num, 0);
	siegel_buf_printf(out, "<< /Type /Annot /Subtype /Widget /FT /Sig /T (%s) /V %d 0 R "
		"/P %d %d R /Rect [0 0 0 0] /F 132 >>", fname, sig_num, page_num, page_gen);
	obj_end(p);

	/* 3: the page's /Annots */
	struct siegel_buf tmp;
	siegel_buf_init(&tmp);
	qpdf_oh annots = qpdf_oh_get_key(q, page, "/Annots");
	if (qpdf_oh_is_array(q, annots) && qpdf_oh_is_indirect(q, annots)) {
		obj_begin(p, qpdf_oh_get_object_id(q, annots), qpdf_oh_get_generation(q, annots));
		rc = array_plus(out, q, annots, wid_num);
		obj_end(p);
	} else {
		rc = array_plus(&tmp, q, qpdf_oh_is_array(q, annots) ? annots : 0, wid_num);
		siegel_buf_putc(&tmp, 0);
		if (rc == 0 && !tmp.err) {
			qpdf_oh_remove_key(q, page, "/Annots");
			t1 = qdup(qpdf_oh_unparse_resolved(q, page));
			struct siegel_buf ex;
			siegel_buf_init(&ex);
			siegel_buf_puts(&ex, "/Annots ");
			siegel_buf_puts(&ex, (const char *)tmp.data);
			siegel_buf_putc(&ex, 0);
			obj_begin(p, page_num, page_gen);
			rc = ex.err ? ex.err : put_dict_plus(out, t1, (const char *)ex.data);
			obj_end(p);
			siegel_buf_free(&ex);
		}
	}
	siegel_buf_reset(&tmp);
	if (rc)
		goto out;

	/* 4: the form: /Fields gets the widget, /SigFlags 3 */
	long long sigflags = 3;
	if (have_acro) {
		qpdf_oh sf = qpdf_oh_get_key(q, acro, "/SigFlags");
		if (qpdf_oh_is_integer(q, sf))
			sigflags |= qpdf_oh_get_int_value(q, sf);
	}
	siegel_buf_puts(&tmp, "/Fields ");
	if (have_acro && qpdf_oh_is_array(q, fields) && qpdf_oh_is_indirect(q, fields)) {
		obj_begin(p, qpdf_oh_get_object_id(q, fields), qpdf_oh_get_generation(q, fields));
		rc = array_plus(out, q, fields, wid_num);
		obj_end(p);
		siegel_buf_printf(&tmp, "%d %d R", qpdf_oh_get_object_id(q, fields),
			qpdf_oh_get_generation(q, fields));
	} else {
		rc = array_plus(&tmp, q, have_acro ? fields : 0, wid_num);
	}
	siegel_buf_printf(&tmp, " /SigFlags %lld", sigflags);
	siegel_buf_putc(&tmp, 0);
	if (rc == 0 && tmp.err)
		rc = tmp.err;
	if (rc)
		goto out;
	if (have_acro && qpdf_oh_is_indirect(q, acro)) {
		qpdf_oh_remove_key(q, acro, "/Fields");
		qpdf_oh_remove_key(q, acro, "/SigFlags");
		free(t2);
		t2 = qdup(qpdf_oh_unparse_resolved(q, acro));
		obj_begin(p, qpdf_oh_get_object_id(q, acro), qpdf_oh_get_generation(q, acro));
		rc = put_dict_plus(out, t2, (const char *)tmp.data);
		obj_end(p);
	} else {
		struct siegel_buf form;
		siegel_buf_init(&form);
		siegel_buf_puts(&form, "/AcroForm ");
		if (have_acro) {
			qpdf_oh_remove_key(q, acro, "/Fields");
			qpdf_oh_remove_key(q, acro, "/SigFlags");
			char *at = qdup(qpdf_oh_unparse(q, acro));
			rc = at ? put_dict_plus(&form, at, (const char *)tmp.data) : SIEGEL_E_NOMEM;
			free(at);
		} else {
			siegel_buf_puts(&form, "<< ");
			siegel_buf_puts(&form, (const char *)tmp.data);
			siegel_buf_puts(&form, " >>");
		}
		siegel_buf_putc(&form, 0);
		if (rc == 0) {
			qpdf_oh_remove_key(q, root, "/AcroForm");
			free(t2);
			t2 = qdup(qpdf_oh_unparse_resolved(q, root));
			obj_begin(p, qpdf_oh_get_object_id(q, root), qpdf_oh_get_generation(q, root));
			rc = form.err ? form.err : put_dict_plus(out, t2, (const char *)form.data);
			obj_end(p);
		}
		siegel_buf_free(&form);
	}
	if (rc)
		goto out;
	rc = qpdf_problem(q, d, "objects");
	if (rc)
		goto out;

	/* 5: cross-reference section of the same kind, chained with /Prev */
	siegel_buf_reset(&tmp);
	siegel_buf_printf(&tmp, "/Root %d %d R", qpdf_oh_get_object_id(q, root),
		qpdf_oh_get_generation(q, root));
	qpdf_oh info = qpdf_oh_get_key(q, trailer, "/Info");
	if (qpdf_oh_is_indirect(q, info))
		siegel_buf_printf(&tmp, " /Info %d %d R", qpdf_oh_get_object_id(q, info),
			qpdf_oh_get_generation(q, info));
	qpdf_oh id = qpdf_oh_get_key(q, trailer, "/ID");
	if (qpdf_oh_is_array(q, id)) {
		siegel_buf_puts(&tmp, " /ID ");
		siegel_buf_puts(&tmp, qpdf_oh_unparse_resolved(q, id));
	}
	siegel_buf_printf(&tmp, " /Prev %zu", prev);
	siegel_buf_putc(&tmp, 0);
	if (tmp.err) {
		rc = tmp.err;
		goto out;
	}
	int xnum = xref_stream ? next++ : 0;
	int new_size = next;
	for (size_t i = 0; i < p->n_objs; i++)
		if (p->objs[i].num >= new_size)
			new_size = p->objs[i].num + 1;
	if (!xref_stream) {
		qsort(p->objs, p->n_objs, sizeof(p->objs[0]), cmp_newobj);
		size_t xoff = p->base + out->len;
		siegel_buf_puts(out, "xref\n");
		for (size_t i = 0; i < p->n_objs;) {
			size_t j = i + 1;
			while (j < p->n_objs && p->objs[j].num == p->objs[j - 1].num + 1)
				j++;
			siegel_buf_printf(out, "%d %zu\n", p->objs[i].num, j - i);
			for (size_t k = i; k < j; k++)
				siegel_buf_printf(out, "%010zu %05d n\r\n", p->objs[k].off,
					p->objs[k].gen);
			i = j;
		}
		siegel_buf_printf(out, "trailer\n<< /Size %d %s >>\nstartxref\n%zu\n%%%%EOF\n",
			new_size, (const char *)tmp.data, xoff);
	} else {
		size_t xoff = p->base + out->len;
		p->objs[p->n_objs++] = (struct newobj){ xnum, 0, xoff };
		qsort(p->objs, p->n_objs, sizeof(p->objs[0]), cmp_newobj);
		uint8_t rows[PADES_MAX_NEW_OBJS * 7];
		struct siegel_buf idx;
		siegel_buf_init(&idx);
		for (size_t i = 0; i < p->n_objs;) {
			size_t j = i + 1;
			while (j < p->n_objs && p->objs[j].num == p->objs[j - 1].num + 1)
				j++;
			siegel_buf_printf(&idx, "%s%d %zu", i ? " " : "", p->objs[i].num, j - i);
			i = j;
		}
		siegel_buf_putc(&idx, 0);
		for (size_t i = 0; i < p->n_objs; i++) {
			uint8_t *r = rows + 7 * i;
			size_t off = p->objs[i].off;
			r[0] = 1;
			r[1] = (uint8_t)(off >> 24);
			r[2] = (uint8_t)(off >> 16);
			r[3] = (uint8_t)(off >> 8);
			r[4] = (uint8_t)off;
			r[5] = (uint8_t)(p->objs[i].gen >> 8);
			r[6] = (uint8_t)p->objs[i].gen;
		}
		if (xoff > 0xffffffffu)
			rc = siegel_fail(d, SIEGEL_E_LIMIT, "PDF: output over 4 GiB");
		siegel_buf_printf(out, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Index [%s] %s "
			"/Length %zu >>\nstream\n", xnum, new_size, idx.err ? "" : (const char *)idx.data,
			(const char *)tmp.data, 7 * p->n_objs);
		siegel_buf_append(out, rows, 7 * p->n_objs);
		siegel_buf_printf(out, "\nendstream\nendobj\nstartxref\n%zu\n%%%%EOF\n", xoff);
		if (idx.err && rc == 0)
			rc = idx.err;
		siegel_buf_free(&idx);
	}
	if (rc == 0 && out->err)
		rc = siegel_fail(d, out->err, "PDF update: %s", siegel_strerror(out->err));
out:
	siegel_buf_free(&tmp);
	free(t1);
	free(t2);
	return rc;
}

static size_t der_total_len(const uint8_t *p, size_t n)
{
	if (n < 2 || p[0] != 0x30)
		return 0;
	if (p[1] < 0x80)
		return 2 + (size_t)p[1];
	size_t k = p[1] & 0x7f, l = 0;
	if (k == 0 || k > 4 || n < 2 + k)
		return 0;
	for (size_t i = 0; i < k; i++)
		l = (l << 8) | p[2 + i];
	return 2 + k + l;
}

/* Lower-case and upper-case hex digit value, or -1. */
static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int hex_to_bin(uint8_t *out, const uint8_t *hex, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* The default /Contents reservation: this signer's CMS (certificates,
 * identifiers, the largest signature of its key, the fixed structure) with
 * slack, plus room for a time-stamp token when a TSA is asked. A fixed 16 KiB
 * made every PDF 32 KB of hex zeros larger, to write and to skip when hashing. */
static size_t contents_estimate(const struct sign_signer *s, int with_tsa)
{
	int sig = EVP_PKEY_get_size(s->pub);
	size_t n = s->certs_der.len + s->sid_der.len + s->essv2_der.len + 2 * s->digest_alg.len +
		   s->sig_alg.len + (sig > 0 ? (size_t)sig : SIGN_MAX_SIG) + SIGN_PADES_CONTENTS_SLACK;
	if (with_tsa)
		n += SIGN_PADES_TST_ALLOWANCE;
	n = (n + 1023) & ~(size_t)1023;
	return n < SIGN_PADES_CONTENTS_MAX ? n : SIGN_PADES_CONTENTS_MAX;
}

int sign_pades_update(struct siegel_buf *upd, const uint8_t *pdf, size_t pdf_len,
	const EVP_MD_CTX *pdf_hash, const struct sign_signer *s, const struct sign_cms_params *cms,
	const struct sign_pades_opts *o, struct siegel_diag *d)
{
	if (upd == NULL || pdf == NULL || s == NULL || cms == NULL || o == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "PAdES: missing argument");
	siegel_buf_reset(upd); /* empty on every failure: nothing stale to write */
	if (!sign_is_pdf(pdf, pdf_len))
		return siegel_fail(d, SIEGEL_E_PARSE, "not a PDF (no %%PDF- header): rejected");
	if (pdf_len > SIGN_MAX_DOC_BYTES)
		return siegel_fail(d, SIEGEL_E_LIMIT, "PDF of %zu bytes is over the limit", pdf_len);
	size_t cap = o->contents_cap ? o->contents_cap : contents_estimate(s, cms->tsa != NULL);
	if (cap > SIGN_PADES_CONTENTS_MAX)
		return siegel_fail(d, SIEGEL_E_LIMIT, "PAdES: Contents reservation %zu over %u", cap,
			SIGN_PADES_CONTENTS_MAX);
	if (pdf_hash != NULL && (EVP_MD_CTX_get0_md(pdf_hash) == NULL ||
	    EVP_MD_get_type(EVP_MD_CTX_get0_md(pdf_hash)) != s->hash_nid))
		return siegel_fail(d, SIEGEL_E_INVAL, "PAdES: the PDF's hash state is not of the "
			"signer's hash");

	struct pades p;
	memset(&p, 0, sizeof(p));
	p.out = upd;
	p.base = pdf_len;
	p.d = d;
	p.q = qpdf_init();
	if (p.q == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "qpdf_init failed");
	qpdf_silence_errors(p.q);
	qpdf_set_suppress_warnings(p.q, QPDF_TRUE);
	qpdf_set_attempt_recovery(p.q, QPDF_FALSE);
	int rc = 0;
	EVP_MD_CTX *mc = NULL;
	struct siegel_buf cmsb;
	siegel_buf_init(&cmsb);
	/* qpdf reads the caller's bytes in place (no copy) */
	QPDF_ERROR_CODE qe = qpdf_read_memory(p.q, "document", (const char *)pdf,
		(unsigned long long)pdf_len, NULL);
	if (qe & QPDF_ERRORS) {
		qpdf_error e = qpdf_get_error(p.q);
		const char *msg = e ? qpdf_get_error_full_text(p.q, e) : "unreadable";
		if (strstr(msg, "password") != NULL)
			rc = siegel_fail(d, SIEGEL_E_NOTSUP, "PDF is encrypted: rejected (%s)", msg);
		else
			rc = siegel_fail(d, SIEGEL_E_PARSE, "PDF damaged or unreadable: rejected (%s)",
				msg);
		goto out;
	}
	rc = qpdf_problem(p.q, d, "read");
	if (rc)
		goto out;
	if (qpdf_is_encrypted(p.q)) {
		rc = siegel_fail(d, SIEGEL_E_NOTSUP, "PDF is encrypted: rejected");
		goto out;
	}

	if (siegel_buf_reserve(upd, 2 * cap + 8192) != 0) {
		rc = siegel_fail(d, SIEGEL_E_NOMEM, "PAdES: out of memory");
		goto out;
	}
	size_t br = 0, lt = 0, gt = 0;  /* offsets in upd */
	rc = write_update(&p, pdf, pdf_len, o, &br, &lt, &gt, cap);
	if (rc)
		goto out;
	if (!(br < lt && lt < gt && gt < upd->len)) {
		rc = siegel_fail(d, SIEGEL_E_SELFTEST, "PAdES: placeholders out of order");
		goto out;
	}

	/* ByteRange: everything but the <hex> string, delimiters included */
	size_t total = pdf_len + upd->len;
	size_t r1 = pdf_len + lt, r2 = pdf_len + gt + 1, l2 = total - r2;
	char brtext[sizeof(PADES_BR_PLACEHOLDER)];
	int bl = snprintf(brtext, sizeof(brtext), "[0 %zu %zu %zu]", r1, r2, l2);
	if (bl < 0 || (size_t)bl >= sizeof(brtext)) {
		rc = siegel_fail(d, SIEGEL_E_LIMIT, "PAdES: ByteRange does not fit the placeholder");
		goto out;
	}
	memset(upd->data + br, ' ', sizeof(PADES_BR_PLACEHOLDER) - 1);
	memcpy(upd->data + br, brtext, (size_t)bl);

	/* the document hash: the PDF (its hash state when the caller has one),
	 * then the update around /Contents */
	uint8_t dig[SIGN_MAX_DIGEST];
	unsigned dl = 0;
	mc = EVP_MD_CTX_new();
	int hok = mc != NULL;
	if (hok && pdf_hash != NULL)
		hok = EVP_MD_CTX_copy_ex(mc, pdf_hash) == 1;
	else if (hok)
		hok = EVP_DigestInit_ex(mc, s->md, NULL) == 1 &&
		      EVP_DigestUpdate(mc, pdf, pdf_len) == 1;
	if (!hok || EVP_DigestUpdate(mc, upd->data, lt) != 1 ||
	    EVP_DigestUpdate(mc, upd->data + gt + 1, upd->len - gt - 1) != 1 ||
	    EVP_DigestFinal_ex(mc, dig, &dl) != 1 || dl != s->digest_len) {
		rc = siegel_fail(d, SIEGEL_E_CRYPTO, "PAdES: hashing the byte ranges failed");
		goto out;
	}

	struct sign_cms_params cp = *cms;
	cp.digest = dig;
	cp.digest_len = dl;
	cp.signing_time = -1;
	rc = sign_cms_build(&cmsb, s, &cp, d);
	if (rc)
		goto out;
	if (cmsb.len > cap) {
		rc = siegel_fail(d, SIEGEL_E_LIMIT, "PAdES: the CMS needs %zu bytes but only %zu are "
			"reserved in /Contents: raise the reservation (contents_cap)", cmsb.len, cap);
		goto out;
	}
	static const char hx[] = "0123456789ABCDEF";
	for (size_t i = 0; i < cmsb.len; i++) {
		upd->data[lt + 1 + 2 * i] = (uint8_t)hx[cmsb.data[i] >> 4];
		upd->data[lt + 1 + 2 * i + 1] = (uint8_t)hx[cmsb.data[i] & 15];
	}

	/* self-check on the bytes to be written (pdf || upd): ByteRange as
	 * written, CMS as written */
	size_t c0, c1, c2, c3;
	char brcopy[sizeof(PADES_BR_PLACEHOLDER)];
	memcpy(brcopy, upd->data + br, sizeof(brcopy) - 1);
	brcopy[sizeof(brcopy) - 1] = 0;
	if (sscanf(brcopy, "[%zu %zu %zu %zu]", &c0, &c1, &c2, &c3) != 4 || c0 != 0 ||
	    c1 != r1 || c1 < pdf_len || upd->data[c1 - pdf_len] != '<' || c2 != r2 ||
	    upd->data[c2 - 1 - pdf_len] != '>' || c2 + c3 != total) {
		rc = siegel_fail(d, SIEGEL_E_SELFTEST, "PAdES self-check: ByteRange %s does not cover "
			"the file exactly around /Contents", brcopy);
		goto out;
	}
	uint8_t hdr[8];
	if (hex_to_bin(hdr, upd->data + lt + 1, sizeof(hdr)) != 0) {
		rc = siegel_fail(d, SIEGEL_E_SELFTEST, "PAdES self-check: /Contents is not hex");
		goto out;
	}
	size_t clen = der_total_len(hdr, sizeof(hdr));
	if (clen == 0 || clen > cap) {
		rc = siegel_fail(d, SIEGEL_E_SELFTEST, "PAdES self-check: /Contents holds no CMS");
		goto out;
	}
	/* decoded into cmsb's memory: the CMS as written, not as built */
	siegel_buf_reset(&cmsb);
	if (siegel_buf_reserve(&cmsb, clen) != 0) {
		rc = SIEGEL_E_NOMEM;
		goto out;
	}
	if (hex_to_bin(cmsb.data, upd->data + lt + 1, clen) != 0) {
		rc = siegel_fail(d, SIEGEL_E_SELFTEST, "PAdES self-check: /Contents is not hex");
		goto out;
	}
	rc = sign_cms_selfcheck(cmsb.data, clen, dig, dl, s, d);
out:
	if (rc)
		siegel_buf_reset(upd);
	EVP_MD_CTX_free(mc);
	siegel_buf_free(&cmsb);
	qpdf_cleanup(&p.q);
	return rc;
}

int sign_pades_sign(struct siegel_buf *out, const uint8_t *pdf, size_t pdf_len,
	const struct sign_signer *s, const struct sign_cms_params *cms,
	const struct sign_pades_opts *o, struct siegel_diag *d)
{
	if (out == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "PAdES: missing argument");
	struct siegel_buf upd;
	siegel_buf_init(&upd);
	int rc = sign_pades_update(&upd, pdf, pdf_len, NULL, s, cms, o, d);
	siegel_buf_reset(out);
	if (rc == 0) {
		siegel_buf_append(out, pdf, pdf_len);
		siegel_buf_append(out, upd.data, upd.len);
		if (out->err) {
			rc = siegel_fail(d, SIEGEL_E_NOMEM, "PAdES: out of memory for %zu bytes",
				pdf_len + upd.len);
			siegel_buf_reset(out);
		}
	}
	siegel_buf_free(&upd);
	return rc;
}
