/* pdf: signed PDFs built here (classic xref, one signature made with the
 * OpenSSL CMS API and the corpus test signer), then ByteRange variants,
 * incremental updates of every change class, and hostile files (xref loops,
 * huge lengths, deep nesting, field-tree loops, truncation at every length,
 * random damage). Each must give its code through verify_buffer with a
 * message, never a crash. */
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/pem.h>

#include "base/base.h"
#include "harness.h"
#include "pdf/pdf.h"
#include "verify/report.h"
#include "verify/verify.h"

#define CONTENTS_HEX 8192

struct built {
	struct siegel_buf b;
	size_t obj_off[16];
	size_t xref_off;
};

static void obj(struct built *p, int n, const char *body)
{
	p->obj_off[n] = p->b.len;
	siegel_buf_printf(&p->b, "%d 0 obj\n%s\nendobj\n", n, body);
}

static void xref_classic(struct built *p, int first, int count, long prev, int size)
{
	p->xref_off = p->b.len;
	if (first == 0) {
		siegel_buf_printf(&p->b, "xref\n0 %d\n0000000000 65535 f \n", count);
		for (int i = 1; i < count; i++)
			siegel_buf_printf(&p->b, "%010zu 00000 n \n", p->obj_off[i]);
	} else {
		siegel_buf_printf(&p->b, "xref\n0 1\n0000000000 65535 f \n%d %d\n", first, count);
		for (int i = first; i < first + count; i++)
			siegel_buf_printf(&p->b, "%010zu 00000 n \n", p->obj_off[i]);
	}
	siegel_buf_printf(&p->b, "trailer\n<< /Size %d /Root 1 0 R", size);
	if (prev >= 0)
		siegel_buf_printf(&p->b, " /Prev %ld", prev);
	siegel_buf_printf(&p->b, " >>\nstartxref\n%zu\n%%%%EOF\n", p->xref_off);
}

static X509 *signer_cert, *interm;
static EVP_PKEY *signer_key;

static void load_signer(void)
{
	char *p = t_shared_path("signatures/pki/signers/signer.crt");
	FILE *f = fopen(p, "r");
	signer_cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	free(p);
	p = t_shared_path("signatures/pki/interm/interm.crt");
	f = fopen(p, "r");
	interm = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	free(p);
	p = t_shared_path("signatures/pki/signers/signer.TEST-ONLY.key");
	f = fopen(p, "r");
	signer_key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	free(p);
}

/* A one-page PDF with one ETSI.CAdES.detached signature over the whole file.
 * gap_mode 0: proper; 1: the gap excludes the < > delimiters. */
static void build_signed(struct built *p, int gap_mode)
{
	memset(p, 0, sizeof(*p));
	siegel_buf_init(&p->b);
	siegel_buf_puts(&p->b, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n");
	obj(p, 1, "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] /SigFlags 3 >> >>");
	obj(p, 2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
	obj(p, 3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Annots [4 0 R] /Contents 6 0 R >>");
	obj(p, 4, "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Sig1) /V 5 0 R /P 3 0 R /Rect [0 0 0 0] /F 132 >>");
	p->obj_off[5] = p->b.len;
	siegel_buf_puts(&p->b, "5 0 obj\n<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
		"/M (D:20250301120000Z) /Reason (Pr\xfc" "fung) /ByteRange [0 0000000000 0000000000 0000000000] /Contents <");
	size_t lt = p->b.len - 1;
	for (int i = 0; i < CONTENTS_HEX; i++)
		siegel_buf_putc(&p->b, '0');
	siegel_buf_puts(&p->b, ">");
	size_t gt = p->b.len; /* one past '>' */
	siegel_buf_puts(&p->b, " >>\nendobj\n");
	obj(p, 6, "<< /Length 36 >>\nstream\nBT /F1 12 Tf 20 100 Td (Hello) Tj ET\nendstream");
	xref_classic(p, 0, 7, -1, 7);
	size_t a = gap_mode ? lt + 1 : lt, b = gap_mode ? gt - 1 : gt;
	size_t len = p->b.len;
	char br[64];
	snprintf(br, sizeof(br), "[0 %010zu %010zu %010zu]", a, b, len - b);
	uint8_t *brpos = memmem(p->b.data, len, "[0 0000000000 0000000000 0000000000]", 36);
	memcpy(brpos, br, 36);
	BIO *in = BIO_new(BIO_s_mem());
	BIO_write(in, p->b.data, (int)a);
	BIO_write(in, p->b.data + b, (int)(len - b));
	STACK_OF(X509) *chain = sk_X509_new_null();
	sk_X509_push(chain, interm);
	CMS_ContentInfo *ci = CMS_sign(signer_cert, signer_key, chain, in,
		CMS_DETACHED | CMS_BINARY | CMS_CADES);
	unsigned char *der = NULL;
	int dl = ci ? i2d_CMS_ContentInfo(ci, &der) : 0;
	CHECK(dl > 0 && dl * 2 < CONTENTS_HEX);
	char *hex = malloc((size_t)dl * 2 + 1);
	siegel_hex_encode(hex, der, (size_t)dl);
	memcpy(p->b.data + lt + 1, hex, (size_t)dl * 2);
	free(hex);
	OPENSSL_free(der);
	CMS_ContentInfo_free(ci);
	sk_X509_free(chain);
	BIO_free(in);
}

static struct verify_ctx *ctx(void)
{
	char store[4096];
	snprintf(store, sizeof(store), "%s/store", t_tmpdir());
	if (siegel_mkdir_p(store, 0755) != 0)
		return NULL;
	char *root = t_shared_path("signatures/pki/" "root/root.crt"); /* the shared PKI root */
	size_t l;
	uint8_t *b = t_read(root, &l);
	char dst[4200];
	snprintf(dst, sizeof(dst), "%s/root.pem", store);
	t_write(dst, b, l);
	free(b);
	free(root);
	struct verify_opts o = { .store_dir = store, .no_ocsp = 1 };
	struct verify_ctx *v = NULL;
	struct siegel_diag d;
	if (verify_ctx_new(&v, &o, &d) != 0)
		return NULL;
	return v;
}

static int code_of(struct verify_ctx *v, const uint8_t *data, size_t len, struct report **keep)
{
	struct report *r = NULL;
	struct siegel_diag d;
	if (verify_buffer(&r, v, "test.pdf", data, len, NULL, 0, NULL, &d) != 0 || r == NULL)
		return -1;
	int c = r->error;
	/* every failure comes with a message */
	if (c != 0 && r->message[0] == 0 && (r->n_sigs == 0 || r->sigs[0].message[0] == 0)) {
		fprintf(stderr, "code %d without a message\n", c);
		c = -2;
	}
	if (keep)
		*keep = r;
	else
		report_free(r);
	return c;
}

static void append(struct siegel_buf *dst, const struct siegel_buf *src)
{
	siegel_buf_reset(dst);
	siegel_buf_append(dst, src->data, src->len);
}

/* Appends an incremental update with the given objects (numbers 1..15). */
static void update(struct built *p, const char *const *bodies, const int *nums, int n, int size)
{
	long prev = (long)p->xref_off;
	for (int i = 0; i < n; i++)
		obj(p, nums[i], bodies[i]);
	p->xref_off = p->b.len;
	siegel_buf_printf(&p->b, "xref\n0 1\n0000000000 65535 f \n");
	for (int i = 0; i < n; i++)
		siegel_buf_printf(&p->b, "%d 1\n%010zu 00000 n \n", nums[i], p->obj_off[nums[i]]);
	siegel_buf_printf(&p->b, "trailer\n<< /Size %d /Root 1 0 R /Prev %ld >>\nstartxref\n%zu\n%%%%EOF\n",
		size, prev, p->xref_off);
}

int main(void)
{
	load_signer();
	CHECK(signer_cert && interm && signer_key);
	struct verify_ctx *v = ctx();
	CHECK(v != NULL);
	if (!v || !signer_cert)
		return t_done();
	struct report *r = NULL;

	/* the proper one */
	struct built p;
	build_signed(&p, 0);
	CHECK(code_of(v, p.b.data, p.b.len, &r) == 0);
	if (r) {
		CHECK(r->n_sigs == 1);
		CHECK(r->sigs[0].covers_whole_file == 1);
		CHECK(r->sigs[0].hash_matched == 1);
		CHECK_STR(r->sigs[0].field, "Sig1");
		CHECK_STR(r->sigs[0].reason, "Pr\xc3\xbc" "fung"); /* PDFDocEncoding -> UTF-8 */
		CHECK_STR(r->sigs[0].change_class, "none");
		report_free(r);
	}
	struct pdf_doc doc;
	enum pdf_fail fail;
	struct siegel_diag d;
	CHECK_OK(pdf_open(&doc, &fail, p.b.data, p.b.len, &d));
	CHECK(doc.n_sigs == 1 && doc.sigs[0].br_status == PDF_BR_OK && doc.sigs[0].has_m);
	pdf_doc_free(&doc);
	int64_t t;
	CHECK_OK(pdf_parse_date(&t, "D:20250301130000+01'00'"));
	CHECK(t == 1740830400);
	CHECK_RC(pdf_parse_date(&t, "D:2025130112"), SIEGEL_E_PARSE);

	/* tampered signed byte */
	struct siegel_buf m;
	siegel_buf_init(&m);
	append(&m, &p.b);
	uint8_t *hello = memmem(m.data, m.len, "(Hello)", 7);
	hello[1] = 'J';
	CHECK(code_of(v, m.data, m.len, NULL) == VERIFY_NO_VALID_SIGNATURE);

	/* gap without the < > delimiters -> ByteRange not sane */
	struct built g;
	build_signed(&g, 1);
	CHECK(code_of(v, g.b.data, g.b.len, &r) == VERIFY_NO_VALID_SIGNATURE);
	if (r) {
		CHECK(strstr(r->sigs[0].message, "gap") != NULL);
		report_free(r);
	}
	siegel_buf_free(&g.b);

	/* ByteRange edits (same width, so the dictionary still parses) */
	static const struct {
		const char *from, *to;
	} edits[] = {
		{ "[0 ", "[1 " },
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		append(&m, &p.b);
		uint8_t *x = memmem(m.data, m.len, "/ByteRange [0 ", 14);
		memcpy(x + 11, edits[i].to, strlen(edits[i].to));
		CHECK(code_of(v, m.data, m.len, NULL) == VERIFY_NO_VALID_SIGNATURE);
	}
	append(&m, &p.b);
	uint8_t *x = memmem(m.data, m.len, "/ByteRange [0 ", 14);
	memcpy(x + 36, "9999999999", 10); /* length of the second range: outside the file */
	CHECK(code_of(v, m.data, m.len, &r) == VERIFY_NO_VALID_SIGNATURE);
	if (r) {
		CHECK(strstr(r->sigs[0].message, "outside") != NULL);
		report_free(r);
	}

	/* incremental updates after the signature, by change class */
	struct {
		const char *name;
		const char *bodies[3];
		int nums[3];
		int n;
		int size;
		int code;
		const char *cls;
	} ups[] = {
		{ "page content replaced", { "<< /Length 36 >>\nstream\nBT /F1 12 Tf 20 100 Td (Jello) Tj ET\nendstream" },
		  { 6 }, 1, 7, VERIFY_NO_VALID_SIGNATURE, "other" },
		{ "annotation added", { "<< /Type /Annot /Subtype /Text /Rect [10 10 20 20] /Contents (note) >>",
			"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Annots [4 0 R 7 0 R] /Contents 6 0 R >>" },
		  { 7, 3 }, 2, 8, VERIFY_NO_VALID_SIGNATURE, "annotations" },
		{ "DSS added", { "<< /Type /DSS /Certs [8 0 R] >>", "<< /Length 3 >>\nstream\nabc\nendstream",
			"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] /SigFlags 3 >> /DSS 7 0 R >>" },
		  { 7, 8, 1 }, 3, 9, 0, "dss" },
		{ "new page", { "<< /Type /Pages /Kids [3 0 R 7 0 R] /Count 2 >>",
			"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>" },
		  { 2, 7 }, 2, 8, VERIFY_NO_VALID_SIGNATURE, "other" },
		{ "signature dictionary rewritten", { NULL }, { 5 }, 1, 7, VERIFY_NO_VALID_SIGNATURE,
		  "other" },
		{ "stream with a wrong /Length", { "<< /Length 30 >>\nstream\nBT /F1 12 Tf 20 100 Td (Hello) Tj ET\nendstream" },
		  { 6 }, 1, 7, VERIFY_NO_VALID_SIGNATURE, "other" },
	};
	/* the signature dictionary again, with another /Reason (same /Contents) */
	char *sigobj = NULL;
	{
		const uint8_t *s0 = memmem(p.b.data, p.b.len, "5 0 obj\n", 8);
		const uint8_t *s1 = memmem(s0, p.b.len - (size_t)(s0 - p.b.data), "\nendobj", 7);
		size_t l = (size_t)(s1 - s0) - 8;
		sigobj = malloc(l + 1);
		memcpy(sigobj, s0 + 8, l);
		sigobj[l] = 0;
		char *reason = strstr(sigobj, "/Reason (P");
		reason[9] = 'X';
		ups[4].bodies[0] = sigobj;
	}
	for (size_t i = 0; i < sizeof(ups) / sizeof(ups[0]); i++) {
		struct built u = p;
		siegel_buf_init(&u.b);
		siegel_buf_append(&u.b, p.b.data, p.b.len);
		update(&u, ups[i].bodies, ups[i].nums, ups[i].n, ups[i].size);
		r = NULL;
		int c = code_of(v, u.b.data, u.b.len, &r);
		if (c != ups[i].code)
			fprintf(stderr, "FAIL update \"%s\": %d (%s)\n", ups[i].name, c,
				r && r->n_sigs ? r->sigs[0].message : r ? r->message : "");
		CHECK(c == ups[i].code);
		if (r && r->n_sigs == 1 && ups[i].cls) {
			CHECK_STR(r->sigs[0].change_class, ups[i].cls);
			CHECK(r->sigs[0].covers_whole_file == 0);
			CHECK(r->sigs[0].has_changed == (ups[i].code != 0));
		}
		report_free(r);
		siegel_buf_free(&u.b);
	}

	free(sigobj);

	/* hostile: xref /Prev loop (an update whose /Prev points at itself) */
	{
		struct built u = p;
		siegel_buf_init(&u.b);
		siegel_buf_append(&u.b, p.b.data, p.b.len);
		size_t xo = u.b.len;
		siegel_buf_printf(&u.b, "xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 7 /Root 1 0 R "
			"/Prev %zu >>\nstartxref\n%zu\n%%%%EOF\n", xo, xo);
		int c = code_of(v, u.b.data, u.b.len, NULL);
		CHECK(c == VERIFY_BAD_PDF_FORMAT || c == VERIFY_NO_VALID_SIGNATURE);
		siegel_buf_free(&u.b);
	}
	/* hostile: huge /Length on a stream, startxref far outside, deep nesting,
	 * a field tree loop, too many fields in a chain, not a PDF, bad version */
	{
		struct siegel_buf h;
		siegel_buf_init(&h);
		siegel_buf_puts(&h, "%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
			"2 0 obj\n<< /Length 999999999999 >>\nstream\nabc\nendstream\nendobj\n"
			"xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n"
			"trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n999999999\n%%EOF\n");
		CHECK(code_of(v, h.data, h.len, NULL) == VERIFY_BAD_PDF_FORMAT);
		siegel_buf_reset(&h);
		siegel_buf_puts(&h, "%PDF-1.7\n1 0 obj\n<< /Type /Catalog /AcroForm << /Fields [");
		for (int i = 0; i < 20000; i++)
			siegel_buf_putc(&h, '[');
		for (int i = 0; i < 20000; i++)
			siegel_buf_putc(&h, ']');
		siegel_buf_puts(&h, "] >> >>\nendobj\n");
		size_t xo = h.len;
		siegel_buf_printf(&h, "xref\n0 2\n0000000000 65535 f \n0000000009 00000 n \n"
			"trailer\n<< /Size 2 /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n", xo);
		int c = code_of(v, h.data, h.len, NULL);
		CHECK(c == VERIFY_BAD_PDF_FORMAT || c == VERIFY_PDF_NOT_SIGNED);
		/* field tree loop: 2's /Kids contain 3, whose /Kids contain 2 */
		struct built f;
		memset(&f, 0, sizeof(f));
		siegel_buf_init(&f.b);
		siegel_buf_puts(&f.b, "%PDF-1.7\n");
		obj(&f, 1, "<< /Type /Catalog /AcroForm << /Fields [2 0 R] >> >>");
		obj(&f, 2, "<< /T (a) /FT /Sig /Kids [3 0 R] >>");
		obj(&f, 3, "<< /T (b) /Kids [2 0 R 3 0 R] >>");
		xref_classic(&f, 0, 4, -1, 4);
		CHECK(code_of(v, f.b.data, f.b.len, NULL) == VERIFY_PDF_NOT_SIGNED);
		siegel_buf_free(&f.b);
		/* a chain of 100 nested fields: over the depth limit */
		memset(&f, 0, sizeof(f));
		siegel_buf_init(&f.b);
		siegel_buf_puts(&f.b, "%PDF-1.7\n");
		siegel_buf_printf(&f.b, "1 0 obj\n<< /Type /Catalog /AcroForm << /Fields [2 0 R] >> >>\nendobj\n");
		size_t offs[120];
		for (int i = 2; i < 102; i++) {
			offs[i] = f.b.len;
			siegel_buf_printf(&f.b, "%d 0 obj\n<< /T (f%d) /Kids [%d 0 R] >>\nendobj\n", i, i, i + 1);
		}
		offs[102] = f.b.len;
		siegel_buf_printf(&f.b, "102 0 obj\n<< /T (last) >>\nendobj\n");
		xo = f.b.len;
		siegel_buf_printf(&f.b, "xref\n0 103\n0000000000 65535 f \n%010d 00000 n \n", 9);
		for (int i = 2; i < 103; i++)
			siegel_buf_printf(&f.b, "%010zu 00000 n \n", offs[i]);
		siegel_buf_printf(&f.b, "trailer\n<< /Size 103 /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n", xo);
		r = NULL;
		CHECK(code_of(v, f.b.data, f.b.len, &r) == VERIFY_BAD_PDF_FORMAT);
		if (r) {
			CHECK(strstr(r->message, "deeper") != NULL);
			report_free(r);
		}
		siegel_buf_free(&f.b);
		CHECK(code_of(v, (const uint8_t *)"%PDF-9.1\nxx", 11, NULL) == VERIFY_WRONG_PDF_VERSION);
		CHECK(code_of(v, (const uint8_t *)"hello world, no pdf", 19, NULL) == VERIFY_NOT_PDF_DATA);
		siegel_buf_free(&h);
	}

	/* truncated at many lengths, and random damage: a code, never a crash */
	int bad = 0;
	for (size_t n = 0; n < p.b.len; n += 37) {
		int c = code_of(v, p.b.data, n, NULL);
		if (!(c == VERIFY_BAD_PDF_FORMAT || c == VERIFY_NO_VALID_SIGNATURE ||
		      c == VERIFY_PDF_NOT_SIGNED || c == VERIFY_NOT_PDF_DATA)) {
			fprintf(stderr, "truncated at %zu: code %d\n", n, c);
			bad++;
		}
	}
	CHECK(bad == 0);
	srand(11);
	for (int it = 0; it < 300; it++) {
		append(&m, &p.b);
		for (int f = 0; f < 1 + it % 5; f++)
			m.data[rand() % m.len] = (uint8_t)rand();
		int c = code_of(v, m.data, m.len, NULL);
		if (c < 0 || (c != 0 && (c < 100 || c > 112)))
			bad++;
	}
	CHECK(bad == 0);

	siegel_buf_free(&m);
	siegel_buf_free(&p.b);
	verify_ctx_free(v);
	X509_free(signer_cert);
	X509_free(interm);
	EVP_PKEY_free(signer_key);
	return t_done();
}
