/* report.c: report model, XML writer (libxml2 xmlTextWriter) and the XSLT
 * view (libxslt). */
#include <stdlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/xmlwriter.h>
#include <libxslt/transform.h>
#include <libxslt/xsltInternals.h>
#include <libxslt/xsltutils.h>

#include "verify/report.h"
#include "verify/verify.h"

const char *report_sign_date_source_name(enum report_sign_date_source s)
{
	switch (s) {
	case REPORT_SIGNDATE_TIMESTAMP: return "timestamp";
	case REPORT_SIGNDATE_SIGNING_TIME: return "signing-time";
	case REPORT_SIGNDATE_PDF_M: return "pdf-m";
	case REPORT_SIGNDATE_NONE: break;
	}
	return "none";
}

struct report *report_new(void)
{
	return calloc(1, sizeof(struct report));
}

struct report_sig *report_add_sig(struct report *r)
{
	struct report_sig *n = realloc(r->sigs, (r->n_sigs + 1) * sizeof(*n));
	if (n == NULL)
		return NULL;
	r->sigs = n;
	memset(&n[r->n_sigs], 0, sizeof(*n));
	return &n[r->n_sigs++];
}

void report_free(struct report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_sigs; i++)
		free(r->sigs[i].cert_b64);
	free(r->sigs);
	free(r);
}

void report_time(char out[21], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
		memset(&tm, 0, sizeof(tm));
	if (strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		memcpy(out, "0000-00-00T00:00:00Z", 21);
}

/* Valid UTF-8 without control characters (XML 1.0 Char), malloc'd. */
static char *xml_clean(const char *s)
{
	size_t n = strlen(s);
	char *o = malloc(n + 1);
	if (o == NULL)
		return NULL;
	size_t k = 0;
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		size_t l = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
			: (c & 0xf8) == 0xf0 ? 4 : 0;
		int ok = l != 0 && i + l <= n && !(l == 2 && c < 0xc2);
		for (size_t j = 1; ok && j < l; j++)
			ok = (u[i + j] & 0xc0) == 0x80;
		if (ok && l == 3 && c == 0xef && u[i + 1] == 0xbf && u[i + 2] >= 0xbe)
			ok = 0; /* U+FFFE, U+FFFF */
		if (!ok) {
			o[k++] = '?';
			i++;
			continue;
		}
		if (l == 1 && c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			o[k++] = ' ';
			i++;
			continue;
		}
		memcpy(o + k, u + i, l);
		k += l;
		i += l;
	}
	o[k] = 0;
	return o;
}

struct xw {
	xmlTextWriterPtr w;
	int err;
};

static void el(struct xw *x, const char *name, const char *text)
{
	if (x->err)
		return;
	char *c = xml_clean(text ? text : "");
	if (c == NULL || xmlTextWriterWriteElement(x->w, BAD_CAST name, BAD_CAST c) < 0)
		x->err = 1;
	free(c);
}

static void el_int(struct xw *x, const char *name, long long v)
{
	char b[32];
	snprintf(b, sizeof(b), "%lld", v);
	el(x, name, b);
}

static void el_time(struct xw *x, const char *name, int64_t t)
{
	char b[21];
	report_time(b, t);
	el(x, name, b);
}

static void start(struct xw *x, const char *name)
{
	if (!x->err && xmlTextWriterStartElement(x->w, BAD_CAST name) < 0)
		x->err = 1;
}

static void end(struct xw *x)
{
	if (!x->err && xmlTextWriterEndElement(x->w) < 0)
		x->err = 1;
}

static void attr(struct xw *x, const char *name, const char *v)
{
	if (x->err)
		return;
	char *c = xml_clean(v ? v : "");
	if (c == NULL || xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST c) < 0)
		x->err = 1;
	free(c);
}

static void write_sig(struct xw *x, const struct report_sig *s)
{
	start(x, "Signature");
	el_int(x, "Error", s->error);
	el(x, "ErrorStr", verify_code_name(s->error));
	if (s->message[0])
		el(x, "Message", s->message);
	el_time(x, "VerifyDate", s->verify_date);
	el_time(x, "SignDate", s->sign_date);
	el(x, "SignDateSource", report_sign_date_source_name(s->sign_date_source));
	if (s->has_cert) {
		start(x, "Certificate");
		start(x, "Content");
		el(x, "Subject", s->subject);
		el(x, "Issuer", s->issuer);
		el(x, "SerialNumber", s->serial);
		start(x, "Chain");
		el_int(x, "Validated", s->chain_validated);
		el_int(x, "IsSelfSigned", s->is_self_signed);
		end(x);
		el_time(x, "NotBefore", s->not_before);
		el_time(x, "NotAfter", s->not_after);
		el(x, "Data", s->cert_b64 ? s->cert_b64 : "");
		end(x);
		start(x, "Evaluation");
		el_int(x, "IsQualified", s->is_qualified);
		el_int(x, "RootInStore", s->root_in_store);
		el_int(x, "QcCompliance", s->qc_compliance);
		end(x);
		end(x);
	}
	el(x, "HashAlgorithmSignature", s->hash_alg[0] ? s->hash_alg : "haUnknown");
	start(x, "SignatureAlgorithm");
	attr(x, "OID", s->sig_alg_oid);
	attr(x, "KeyAlgorithm", s->key_alg);
	char kb[16];
	snprintf(kb, sizeof(kb), "%d", s->key_bits);
	attr(x, "KeySize", kb);
	if (s->curve[0])
		attr(x, "Curve", s->curve);
	if (!x->err && xmlTextWriterWriteString(x->w, BAD_CAST s->sig_alg) < 0)
		x->err = 1;
	end(x);
	start(x, "OCSP");
	attr(x, "Status", s->ocsp_status[0] ? s->ocsp_status : "skipped");
	if (s->ocsp_detail[0]) {
		char *c = xml_clean(s->ocsp_detail);
		if (c == NULL || xmlTextWriterWriteString(x->w, BAD_CAST c) < 0)
			x->err = 1;
		free(c);
	}
	end(x);
	if (s->is_pdf) {
		start(x, "PDF");
		el(x, "Reason", s->reason);
		el(x, "Location", s->location);
		el_int(x, "HasChanged", s->has_changed);
		el_int(x, "HashMatched", s->hash_matched);
		el(x, "HashAlgorithmDoc", s->hash_alg_doc[0] ? s->hash_alg_doc : "haUnknown");
		el(x, "FieldName", s->field);
		el(x, "SubFilter", s->subfilter);
		if (s->has_byte_range) {
			char b[96];
			snprintf(b, sizeof(b), "%lld %lld %lld %lld", (long long)s->byte_range[0],
				(long long)s->byte_range[1], (long long)s->byte_range[2],
				(long long)s->byte_range[3]);
			el(x, "ByteRange", b);
		}
		el_int(x, "CoversWholeFile", s->covers_whole_file);
		start(x, "ChangeClass");
		if (s->change_detail[0])
			attr(x, "Detail", s->change_detail);
		if (!x->err && xmlTextWriterWriteString(x->w,
			BAD_CAST (s->change_class[0] ? s->change_class : "none")) < 0)
			x->err = 1;
		end(x);
		end(x);
	}
	end(x);
}

int report_write_xml(struct siegel_buf *out, const struct report *r)
{
	xmlBufferPtr buf = xmlBufferCreate();
	if (buf == NULL)
		return SIEGEL_E_NOMEM;
	struct xw x = { .w = xmlNewTextWriterMemory(buf, 0) };
	if (x.w == NULL) {
		xmlBufferFree(buf);
		return SIEGEL_E_NOMEM;
	}
	xmlTextWriterSetIndent(x.w, 1);
	xmlTextWriterSetIndentString(x.w, BAD_CAST "  ");
	if (xmlTextWriterStartDocument(x.w, NULL, "UTF-8", NULL) < 0)
		x.err = 1;
	if (!x.err && xmlTextWriterWritePI(x.w, BAD_CAST "xml-stylesheet",
		BAD_CAST "type=\"text/xsl\" href=\"report.xslt\"") < 0)
		x.err = 1;
	start(&x, "Report");
	el(&x, "FileName", r->file_name);
	if (r->has_file_hash) {
		char hex[65];
		siegel_hex_encode(hex, r->file_hash, 32);
		for (char *p = hex; *p; p++)
			if (*p >= 'a' && *p <= 'f')
				*p = (char)(*p - 'a' + 'A');
		start(&x, "FileHash");
		attr(&x, "Alg", "haSHA256");
		if (!x.err && xmlTextWriterWriteString(x.w, BAD_CAST hex) < 0)
			x.err = 1;
		end(&x);
	}
	if (r->data_file_name[0])
		el(&x, "DataFileName", r->data_file_name);
	start(&x, "Signatures");
	char code[16];
	snprintf(code, sizeof(code), "%d", r->error);
	attr(&x, "Error", code);
	attr(&x, "ErrorStr", verify_code_name(r->error));
	snprintf(code, sizeof(code), "%zu", r->n_sigs);
	attr(&x, "Count", code);
	char vd[21];
	report_time(vd, r->verify_date);
	attr(&x, "VerifyDate", vd);
	if (r->message[0])
		el(&x, "Message", r->message);
	for (size_t i = 0; i < r->n_sigs; i++)
		write_sig(&x, &r->sigs[i]);
	end(&x);
	end(&x);
	if (!x.err && xmlTextWriterEndDocument(x.w) < 0)
		x.err = 1;
	xmlFreeTextWriter(x.w);
	int rc = 0;
	if (x.err)
		rc = SIEGEL_E_NOMEM;
	else
		siegel_buf_append(out, xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
	xmlBufferFree(buf);
	if (rc == 0 && out->err)
		rc = SIEGEL_E_NOMEM;
	return rc;
}

int report_write_html(const char *html_path, const uint8_t *xml, size_t xml_len,
	const char *xslt_path, struct siegel_diag *d)
{
	int rc = SIEGEL_E_PARSE;
	xsltStylesheetPtr st = NULL;
	xmlDocPtr sdoc = NULL, doc = NULL, res = NULL;
	sdoc = xmlReadFile(xslt_path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (sdoc == NULL) {
		rc = siegel_fail(d, SIEGEL_E_IO, "%s: cannot read the stylesheet", xslt_path);
		goto out;
	}
	st = xsltParseStylesheetDoc(sdoc);
	if (st == NULL) {
		xmlFreeDoc(sdoc);
		rc = siegel_fail(d, SIEGEL_E_PARSE, "%s: not a valid XSLT stylesheet", xslt_path);
		goto out;
	}
	if (xml_len > INT32_MAX) {
		rc = siegel_fail(d, SIEGEL_E_LIMIT, "report too large");
		goto out;
	}
	doc = xmlReadMemory((const char *)xml, (int)xml_len, "report.xml", NULL,
		XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL) {
		rc = siegel_fail(d, SIEGEL_E_PARSE, "the report is not well-formed XML");
		goto out;
	}
	res = xsltApplyStylesheet(st, doc, NULL);
	if (res == NULL) {
		rc = siegel_fail(d, SIEGEL_E_PARSE, "%s: applying the stylesheet failed", xslt_path);
		goto out;
	}
	if (xsltSaveResultToFilename(html_path, res, st, 0) < 0) {
		rc = siegel_fail(d, SIEGEL_E_IO, "%s: cannot write the HTML", html_path);
		goto out;
	}
	rc = 0;
out:
	xmlFreeDoc(res);
	xmlFreeDoc(doc);
	xsltFreeStylesheet(st);
	return rc;
}
