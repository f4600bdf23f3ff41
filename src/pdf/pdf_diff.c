/* pdf_diff.c: what the incremental updates after a signature changed.
 *
 * The signed revision (the file up to the end of the signature's ByteRange)
 * and the whole file are both opened with qpdf; every object number of either
 * is compared (dictionary text with references as "n g R", raw stream bytes),
 * plus the trailer's /Root, /Encrypt and /Info. Each difference is put into a
 * class (enum pdf_change) by what the object is and which keys changed; the
 * document's class is the highest one found. This follows the modification
 * levels of pyHanko's difference analysis (NONE, LTA_UPDATES, FORM_FILLING,
 * ANNOTATIONS, OTHER), in a simpler, conservative form: anything not known
 * to be harmless is "other". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qpdf/qpdf-c.h>

#include "pdf/pdf_internal.h"

#define DIFF_MAX_KEYS 256

struct diff {
	qpdf_data a, b;
	int size_a;
	int root_id, acroform_id, info_id;
	enum pdf_change level;
	char msg[256];
};

static void bump(struct diff *df, enum pdf_change c, int id, const char *why)
{
	if (c > df->level) {
		df->level = c;
		if (id > 0)
			snprintf(df->msg, sizeof(df->msg), "object %d: %s", id, why);
		else
			snprintf(df->msg, sizeof(df->msg), "%s", why);
	}
}

static char *dup_unparse(qpdf_data q, qpdf_oh oh, int resolved)
{
	const char *s = resolved ? qpdf_oh_unparse_resolved(q, oh) : qpdf_oh_unparse(q, oh);
	return strdup(s ? s : "");
}

static int same_text(qpdf_data qa, qpdf_oh a, qpdf_data qb, qpdf_oh b, int resolved)
{
	char *x = dup_unparse(qa, a, resolved);
	char *y = dup_unparse(qb, b, resolved);
	int r = x && y && strcmp(x, y) == 0;
	free(x);
	free(y);
	return r;
}

static int name_is(qpdf_data q, qpdf_oh oh, const char *key, const char *name)
{
	qpdf_oh v = qpdf_oh_get_key_if_dict(q, oh, key);
	int r = qpdf_oh_is_name_and_equals(q, v, name);
	qpdf_oh_release(q, v);
	return r;
}

static int has_key(qpdf_data q, qpdf_oh oh, const char *key)
{
	return qpdf_oh_is_dictionary(q, oh) && qpdf_oh_has_key(q, oh, key);
}

static int obj_equal(qpdf_data qa, qpdf_oh a, qpdf_data qb, qpdf_oh b)
{
	if (qpdf_oh_get_type_code(qa, a) != qpdf_oh_get_type_code(qb, b))
		return 0;
	if (!qpdf_oh_is_stream(qa, a))
		return same_text(qa, a, qb, b, 1);
	qpdf_oh da = qpdf_oh_get_dict(qa, a), db = qpdf_oh_get_dict(qb, b);
	int eq = same_text(qa, da, qb, db, 1);
	qpdf_oh_release(qa, da);
	qpdf_oh_release(qb, db);
	if (!eq)
		return 0;
	unsigned char *ba = NULL, *bb = NULL;
	size_t la = 0, lb = 0;
	QPDF_ERROR_CODE ea = qpdf_oh_get_stream_data(qa, a, qpdf_dl_none, NULL, &ba, &la);
	QPDF_ERROR_CODE eb = qpdf_oh_get_stream_data(qb, b, qpdf_dl_none, NULL, &bb, &lb);
	/* unreadable stream data is never "equal" */
	eq = !(ea & QPDF_ERRORS) && !(eb & QPDF_ERRORS) && la == lb &&
		(la == 0 || (ba && bb && memcmp(ba, bb, la) == 0));
	free(ba);
	free(bb);
	return eq;
}

/* Keys of a dictionary (or a stream's dictionary), copied. */
static int dict_keys(char ***out, int *n_out, qpdf_data q, qpdf_oh oh)
{
	*out = NULL;
	*n_out = 0;
	qpdf_oh d = qpdf_oh_is_stream(q, oh) ? qpdf_oh_get_dict(q, oh) : qpdf_oh_new_object(q, oh);
	if (!qpdf_oh_is_dictionary(q, d)) {
		qpdf_oh_release(q, d);
		return 0;
	}
	char **keys = calloc(DIFF_MAX_KEYS, sizeof(char *));
	if (keys == NULL) {
		qpdf_oh_release(q, d);
		return -1;
	}
	int n = 0, rc = 0;
	qpdf_oh_begin_dict_key_iter(q, d);
	while (qpdf_oh_dict_more_keys(q)) {
		const char *k = qpdf_oh_dict_next_key(q);
		if (n >= DIFF_MAX_KEYS) {
			rc = -1;
			break;
		}
		keys[n] = strdup(k);
		if (keys[n++] == NULL) {
			rc = -1;
			break;
		}
	}
	qpdf_oh_release(q, d);
	*out = keys;
	*n_out = n;
	return rc;
}

static void free_keys(char **k, int n)
{
	for (int i = 0; i < n; i++)
		free(k[i]);
	free(k);
}

/* Keys whose values differ between the two dictionaries: 1 when every one of
 * them is in `allowed`, 0 when another key changed (named in *bad), -1 on
 * error. */
static int only_keys_changed(char *bad, size_t bad_cap, qpdf_data qa, qpdf_oh a, qpdf_data qb,
	qpdf_oh b, const char *const *allowed)
{
	char **ka, **kb;
	int na, nb;
	int r1 = dict_keys(&ka, &na, qa, a);
	int r2 = dict_keys(&kb, &nb, qb, b);
	int result = 1;
	if (r1 || r2) {
		result = -1;
		goto out;
	}
	qpdf_oh da = qpdf_oh_is_stream(qa, a) ? qpdf_oh_get_dict(qa, a) : qpdf_oh_new_object(qa, a);
	qpdf_oh db = qpdf_oh_is_stream(qb, b) ? qpdf_oh_get_dict(qb, b) : qpdf_oh_new_object(qb, b);
	for (int pass = 0; pass < 2 && result == 1; pass++) {
		char **ks = pass ? kb : ka;
		int n = pass ? nb : na;
		for (int i = 0; i < n && result == 1; i++) {
			qpdf_oh va = qpdf_oh_get_key(qa, da, ks[i]);
			qpdf_oh vb = qpdf_oh_get_key(qb, db, ks[i]);
			int same = same_text(qa, va, qb, vb, 0);
			qpdf_oh_release(qa, va);
			qpdf_oh_release(qb, vb);
			if (same)
				continue;
			int ok = 0;
			for (size_t j = 0; allowed && allowed[j]; j++)
				if (strcmp(allowed[j], ks[i]) == 0)
					ok = 1;
			if (!ok) {
				snprintf(bad, bad_cap, "%s", ks[i]);
				result = 0;
			}
		}
	}
	qpdf_oh_release(qa, da);
	qpdf_oh_release(qb, db);
out:
	free_keys(ka, na);
	free_keys(kb, nb);
	return result;
}

static int is_sig_field(qpdf_data q, qpdf_oh oh)
{
	if (!qpdf_oh_is_dictionary(q, oh))
		return 0;
	if (name_is(q, oh, "/FT", "/Sig"))
		return 1;
	qpdf_oh p = qpdf_oh_get_key(q, oh, "/Parent");
	int r = qpdf_oh_is_dictionary(q, p) && name_is(q, p, "/FT", "/Sig");
	qpdf_oh_release(q, p);
	if (r)
		return 1;
	qpdf_oh v = qpdf_oh_get_key(q, oh, "/V");
	r = qpdf_oh_is_dictionary(q, v) && (name_is(q, v, "/Type", "/Sig") ||
		name_is(q, v, "/Type", "/DocTimeStamp"));
	qpdf_oh_release(q, v);
	return r;
}

static int is_annotation(qpdf_data q, qpdf_oh oh)
{
	return qpdf_oh_is_dictionary(q, oh) && (name_is(q, oh, "/Type", "/Annot") ||
		(has_key(q, oh, "/Subtype") && has_key(q, oh, "/Rect")));
}

static int is_field(qpdf_data q, qpdf_oh oh)
{
	return qpdf_oh_is_dictionary(q, oh) && (has_key(q, oh, "/FT") ||
		name_is(q, oh, "/Subtype", "/Widget") ||
		(has_key(q, oh, "/Parent") && has_key(q, oh, "/T")));
}

static int is_dss(qpdf_data q, qpdf_oh oh)
{
	if (!qpdf_oh_is_dictionary(q, oh) || qpdf_oh_is_stream(q, oh))
		return 0;
	if (name_is(q, oh, "/Type", "/DSS"))
		return 1;
	static const char *const dss_keys[] = { "/Type", "/Certs", "/OCSPs", "/CRLs", "/VRI",
		"/Cert", "/OCSP", "/CRL", "/TU", "/TS", NULL };
	char **k;
	int n;
	if (dict_keys(&k, &n, q, oh) != 0 || n == 0) {
		free_keys(k, n);
		return 0;
	}
	int all_dss = 1, all_hash = 1;
	for (int i = 0; i < n; i++) {
		int in = 0;
		for (size_t j = 0; dss_keys[j]; j++)
			if (strcmp(k[i], dss_keys[j]) == 0)
				in = 1;
		all_dss &= in;
		size_t l = strlen(k[i]);
		int hex = l == 41;
		for (size_t j = 1; hex && j < l; j++)
			hex = strchr("0123456789ABCDEFabcdef", k[i][j]) != NULL;
		all_hash &= hex;
	}
	free_keys(k, n);
	return all_dss || all_hash;
}

/* Elements appended to an array (old ones kept in place). */
static enum pdf_change classify_array(const char **why, qpdf_data qa, qpdf_oh a, qpdf_data qb,
	qpdf_oh b)
{
	int na = qpdf_oh_get_array_n_items(qa, a), nb = qpdf_oh_get_array_n_items(qb, b);
	if (nb < na) {
		*why = "array elements removed";
		return PDF_CHANGE_OTHER;
	}
	for (int i = 0; i < na; i++) {
		qpdf_oh x = qpdf_oh_get_array_item(qa, a, i), y = qpdf_oh_get_array_item(qb, b, i);
		int same = same_text(qa, x, qb, y, 0);
		qpdf_oh_release(qa, x);
		qpdf_oh_release(qb, y);
		if (!same) {
			*why = "array element replaced";
			return PDF_CHANGE_OTHER;
		}
	}
	enum pdf_change c = PDF_CHANGE_NONE;
	*why = "signature fields added";
	for (int i = na; i < nb; i++) {
		qpdf_oh y = qpdf_oh_get_array_item(qb, b, i);
		enum pdf_change e;
		if (is_sig_field(qb, y))
			e = PDF_CHANGE_SIGNATURES;
		else if (is_annotation(qb, y) || is_field(qb, y))
			e = PDF_CHANGE_ANNOTATIONS;
		else
			e = PDF_CHANGE_OTHER;
		qpdf_oh_release(qb, y);
		if (e > c) {
			c = e;
			*why = e == PDF_CHANGE_SIGNATURES ? "signature fields added" :
				e == PDF_CHANGE_ANNOTATIONS ? "annotations or form fields added" :
				"array element of unknown kind added";
		}
	}
	return c;
}

/* One object that exists in the new file and differs from the signed
 * revision (oa may be a null object: newly added). */
static void classify(struct diff *df, int id, qpdf_oh oa, qpdf_oh ob)
{
	qpdf_data qa = df->a, qb = df->b;
	int is_new = qpdf_oh_is_null(qa, oa);
	char bad[64] = "";
	char why[200];
	if (qpdf_oh_is_null(qb, ob)) {
		bump(df, PDF_CHANGE_OTHER, id, "object deleted");
		return;
	}
	if (qpdf_oh_is_stream(qb, ob)) {
		if (name_is(qb, ob, "/Type", "/XRef") || name_is(qb, ob, "/Type", "/ObjStm"))
			return;
		if (!is_new) {
			bump(df, PDF_CHANGE_OTHER, id, "stream content or dictionary changed");
			return;
		}
		if (id < df->size_a)
			bump(df, PDF_CHANGE_OTHER, id, "stream placed in a previously free object number");
		return; /* a new stream matters only through the object that references it */
	}
	if (is_new) {
		if (name_is(qb, ob, "/Type", "/Sig") || name_is(qb, ob, "/Type", "/DocTimeStamp") ||
		    is_sig_field(qb, ob))
			bump(df, PDF_CHANGE_SIGNATURES, id, "signature added");
		else if (is_dss(qb, ob))
			bump(df, PDF_CHANGE_DSS, id, "validation data (DSS) added");
		else if (is_annotation(qb, ob) || is_field(qb, ob))
			bump(df, PDF_CHANGE_ANNOTATIONS, id, "annotation or form field added");
		else if (name_is(qb, ob, "/Type", "/Page") || name_is(qb, ob, "/Type", "/Pages"))
			bump(df, PDF_CHANGE_OTHER, id, "page added");
		else if (id < df->size_a)
			bump(df, PDF_CHANGE_OTHER, id, "object placed in a previously free object number");
		return;
	}
	if (qpdf_oh_is_array(qa, oa) && qpdf_oh_is_array(qb, ob)) {
		const char *w = "";
		enum pdf_change c = classify_array(&w, qa, oa, qb, ob);
		bump(df, c, id, w);
		return;
	}
	if (!qpdf_oh_is_dictionary(qa, oa) || !qpdf_oh_is_dictionary(qb, ob)) {
		bump(df, PDF_CHANGE_OTHER, id, "object changed");
		return;
	}
	if (name_is(qa, oa, "/Type", "/Sig") || name_is(qa, oa, "/Type", "/DocTimeStamp")) {
		bump(df, PDF_CHANGE_OTHER, id, "an existing signature dictionary was rewritten");
		return;
	}
	if (id == df->root_id) {
		static const char *const ok[] = { "/AcroForm", "/DSS", "/Extensions", NULL };
		int r = only_keys_changed(bad, sizeof(bad), qa, oa, qb, ob, ok);
		if (r != 1) {
			snprintf(why, sizeof(why), "document catalog key %s changed", r < 0 ? "?" : bad);
			bump(df, PDF_CHANGE_OTHER, id, why);
			return;
		}
		static const char *const ok_dss[] = { "/DSS", "/Extensions", NULL };
		r = only_keys_changed(bad, sizeof(bad), qa, oa, qb, ob, ok_dss);
		bump(df, r == 1 ? PDF_CHANGE_DSS : PDF_CHANGE_SIGNATURES, id,
			r == 1 ? "validation data (DSS) added" : "form fields of the catalog changed");
		return;
	}
	if (id == df->acroform_id) {
		static const char *const ok[] = { "/Fields", "/SigFlags", "/DR", "/DA",
			"/NeedAppearances", NULL };
		int r = only_keys_changed(bad, sizeof(bad), qa, oa, qb, ob, ok);
		if (r != 1) {
			snprintf(why, sizeof(why), "AcroForm key %s changed", r < 0 ? "?" : bad);
			bump(df, PDF_CHANGE_OTHER, id, why);
		} else {
			bump(df, PDF_CHANGE_SIGNATURES, id, "AcroForm updated for a signature");
		}
		return;
	}
	if (id == df->info_id) {
		bump(df, PDF_CHANGE_SIGNATURES, id, "document information updated");
		return;
	}
	if (is_dss(qb, ob)) {
		bump(df, PDF_CHANGE_DSS, id, "validation data (DSS) updated");
		return;
	}
	if (is_sig_field(qb, ob)) {
		qpdf_oh va = qpdf_oh_get_key(qa, oa, "/V");
		if (qpdf_oh_is_dictionary(qa, va)) {
			qpdf_oh vb = qpdf_oh_get_key(qb, ob, "/V");
			int same = same_text(qa, va, qb, vb, 0);
			qpdf_oh_release(qb, vb);
			if (!same) {
				qpdf_oh_release(qa, va);
				bump(df, PDF_CHANGE_OTHER, id, "the value of a signed signature field was replaced");
				return;
			}
		}
		qpdf_oh_release(qa, va);
		static const char *const ok[] = { "/V", "/AP", "/AS", "/MK", "/F", "/Lock", "/SV",
			NULL };
		int r = only_keys_changed(bad, sizeof(bad), qa, oa, qb, ob, ok);
		if (r != 1) {
			snprintf(why, sizeof(why), "signature field key %s changed", r < 0 ? "?" : bad);
			bump(df, PDF_CHANGE_OTHER, id, why);
		} else {
			bump(df, PDF_CHANGE_SIGNATURES, id, "empty signature field signed");
		}
		return;
	}
	if (is_field(qb, ob)) {
		static const char *const ok[] = { "/V", "/AP", "/AS", "/MK", NULL };
		int r = only_keys_changed(bad, sizeof(bad), qa, oa, qb, ob, ok);
		if (r != 1) {
			snprintf(why, sizeof(why), "form field key %s changed", r < 0 ? "?" : bad);
			bump(df, PDF_CHANGE_OTHER, id, why);
		} else {
			bump(df, PDF_CHANGE_FORM, id, "form field filled in");
		}
		return;
	}
	if (is_annotation(qb, ob)) {
		bump(df, PDF_CHANGE_ANNOTATIONS, id, "annotation changed");
		return;
	}
	if (name_is(qb, ob, "/Type", "/Page")) {
		static const char *const ok[] = { "/Annots", NULL };
		int r = only_keys_changed(bad, sizeof(bad), qa, oa, qb, ob, ok);
		if (r != 1) {
			snprintf(why, sizeof(why), "page key %s changed", r < 0 ? "?" : bad);
			bump(df, PDF_CHANGE_OTHER, id, why);
			return;
		}
		qpdf_oh aa = qpdf_oh_get_key(qa, oa, "/Annots"), ab = qpdf_oh_get_key(qb, ob, "/Annots");
		if (qpdf_oh_is_null(qa, aa)) {
			qpdf_oh_release(qa, aa);
			aa = qpdf_oh_new_array(qa);
		}
		const char *w = "page /Annots is not an array";
		enum pdf_change c = qpdf_oh_is_array(qb, ab) ?
			classify_array(&w, qa, aa, qb, ab) : PDF_CHANGE_OTHER;
		qpdf_oh_release(qa, aa);
		qpdf_oh_release(qb, ab);
		snprintf(why, sizeof(why), "page annotations: %s", w);
		bump(df, c, id, why);
		return;
	}
	bump(df, PDF_CHANGE_OTHER, id, "object changed");
}

static int ref_id(qpdf_data q, qpdf_oh dict, const char *key)
{
	qpdf_oh v = qpdf_oh_get_key_if_dict(q, dict, key);
	int id = qpdf_oh_is_indirect(q, v) ? qpdf_oh_get_object_id(q, v) : 0;
	qpdf_oh_release(q, v);
	return id;
}

static int trailer_size(qpdf_data q)
{
	qpdf_oh t = qpdf_get_trailer(q);
	qpdf_oh s = qpdf_oh_get_key_if_dict(q, t, "/Size");
	int n = 0;
	if (!qpdf_oh_get_value_as_int(q, s, &n))
		n = 0;
	qpdf_oh_release(q, s);
	qpdf_oh_release(q, t);
	return n;
}

int pdf_analyse_changes(struct pdf_doc *doc, size_t i, struct siegel_diag *d)
{
	struct pdf_sig *s = &doc->sigs[i];
	s->change = PDF_CHANGE_NONE;
	s->change_msg[0] = 0;
	if (s->br_status != PDF_BR_OK || s->covers_whole_file)
		return 0;
	struct diff df = { .b = doc->qpdf };
	enum pdf_fail fail;
	struct siegel_diag dd;
	void *qv = NULL;
	if (pdf_qpdf_open(&qv, doc->data, s->revision_end, &fail, &dd) != 0) {
		s->change = PDF_CHANGE_OTHER;
		snprintf(s->change_msg, sizeof(s->change_msg), "the signed revision does not parse: %.200s",
			dd.msg);
		return 0;
	}
	df.a = qv;
	df.size_a = trailer_size(df.a);
	int size_b = trailer_size(df.b);
	int max = df.size_a > size_b ? df.size_a : size_b;
	int rc = 0;
	if (max > PDF_MAX_OBJECTS || max < 0) {
		rc = siegel_fail(d, SIEGEL_E_LIMIT, "PDF: trailer /Size %d over the limit of %d objects",
			max, PDF_MAX_OBJECTS);
		goto out;
	}
	qpdf_oh ta = qpdf_get_trailer(df.a), tb = qpdf_get_trailer(df.b);
	static const char *const tkeys[] = { "/Root", "/Encrypt" };
	for (size_t k = 0; k < 2; k++) {
		qpdf_oh va = qpdf_oh_get_key(df.a, ta, tkeys[k]), vb = qpdf_oh_get_key(df.b, tb, tkeys[k]);
		if (!same_text(df.a, va, df.b, vb, 0)) {
			char w[64];
			snprintf(w, sizeof(w), "trailer %s replaced", tkeys[k]);
			bump(&df, PDF_CHANGE_OTHER, 0, w);
		}
		qpdf_oh_release(df.a, va);
		qpdf_oh_release(df.b, vb);
	}
	df.root_id = ref_id(df.b, tb, "/Root");
	df.info_id = ref_id(df.b, tb, "/Info");
	qpdf_oh root = qpdf_get_root(df.b);
	df.acroform_id = ref_id(df.b, root, "/AcroForm");
	qpdf_oh_release(df.b, root);
	qpdf_oh_release(df.a, ta);
	qpdf_oh_release(df.b, tb);
	for (int id = 1; id < max; id++) {
		qpdf_oh oa = qpdf_get_object_by_id(df.a, id, 0);
		qpdf_oh ob = qpdf_get_object_by_id(df.b, id, 0);
		int na = qpdf_oh_is_null(df.a, oa), nb = qpdf_oh_is_null(df.b, ob);
		if (!(na && nb) && (na || nb || !obj_equal(df.a, oa, df.b, ob)))
			classify(&df, id, oa, ob);
		qpdf_oh_release(df.a, oa);
		qpdf_oh_release(df.b, ob);
		if (qpdf_has_error(df.a) || qpdf_has_error(df.b)) {
			qpdf_data q = qpdf_has_error(df.b) ? df.b : df.a;
			qpdf_error e = qpdf_get_error(q);
			char w[200];
			snprintf(w, sizeof(w), "unreadable: %.150s", e ? qpdf_get_error_full_text(q, e) : "");
			bump(&df, PDF_CHANGE_OTHER, id, w);
			break;
		}
	}
	s->change = df.level;
	snprintf(s->change_msg, sizeof(s->change_msg), "%s", df.level == PDF_CHANGE_NONE ?
		"no objects changed after the signed revision" : df.msg);
out:
	qpdf_cleanup(&df.a);
	return rc;
}
