/* report: the verification report model and its XML form (seed 004,
 * "Die XML-Datei mit den Prüfresultaten"), the element names exactly as in
 * the seed plus a few documented additions (docs/report.xsd), and the HTML
 * view through share/report.xslt. */
#ifndef SIEGEL_REPORT_H
#define SIEGEL_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define REPORT_TEXT 512

enum report_sign_date_source {
	REPORT_SIGNDATE_NONE = 0,      /* not in the signature: "now" was used */
	REPORT_SIGNDATE_TIMESTAMP,     /* verified signature-time-stamp token (genTime) */
	REPORT_SIGNDATE_SIGNING_TIME,  /* CMS signing-time attribute */
	REPORT_SIGNDATE_PDF_M,         /* PDF signature dictionary /M */
};
const char *report_sign_date_source_name(enum report_sign_date_source s);

struct report_sig {
	int error;                         /* verify_code */
	char message[REPORT_TEXT];         /* what exactly went wrong (or "") */
	int64_t verify_date;
	int64_t sign_date;
	enum report_sign_date_source sign_date_source;
	/* Certificate (present when has_cert) */
	int has_cert;
	char subject[REPORT_TEXT];
	char issuer[REPORT_TEXT];
	char serial[130];                  /* upper-case hex, even length */
	int chain_validated;
	int is_self_signed;
	int64_t not_before, not_after;
	char *cert_b64;                    /* base64 DER, malloc'd */
	int is_qualified;
	int qc_compliance;                 /* QC statement id-etsi-qcs-QcCompliance present */
	int root_in_store;
	/* algorithms */
	char hash_alg[32];                 /* "haSHA256" */
	char sig_alg[64];                  /* "ecdsa-with-SHA256" */
	char sig_alg_oid[80];
	char key_alg[16];                  /* "RSA", "EC" */
	int key_bits;
	char curve[32];
	/* OCSP */
	char ocsp_status[16];              /* good, revoked, unknown, error, skipped */
	char ocsp_detail[REPORT_TEXT];
	/* PDF */
	int is_pdf;
	char field[REPORT_TEXT];
	char subfilter[64];
	char reason[REPORT_TEXT];
	char location[REPORT_TEXT];
	int has_changed;
	int hash_matched;
	char hash_alg_doc[32];
	char change_class[24];
	char change_detail[256];
	int covers_whole_file;
	int64_t byte_range[4];
	int has_byte_range;
};

struct report {
	char file_name[4096];
	char data_file_name[4096];         /* detached content (CMS), or "" */
	int has_file_hash;
	uint8_t file_hash[32];             /* SHA-256 of the checked file */
	int error;                         /* Signatures Error = exit code */
	char message[REPORT_TEXT];         /* document-level diagnostic, or "" */
	int64_t verify_date;
	size_t n_sigs;
	struct report_sig *sigs;
};

struct report *report_new(void);
/* Appends a zeroed signature entry; NULL when out of memory. */
struct report_sig *report_add_sig(struct report *r);
void report_free(struct report *r);

/* Writes the XML report (UTF-8, with an xml-stylesheet processing
 * instruction naming report.xslt next to the report). */
int report_write_xml(struct siegel_buf *out, const struct report *r) SIEGEL_WUR;

/* Applies the stylesheet (share/report.xslt) to the XML report in memory and
 * writes the HTML to html_path. */
int report_write_html(const char *html_path, const uint8_t *xml, size_t xml_len,
	const char *xslt_path, struct siegel_diag *d) SIEGEL_WUR;

/* "2010-03-12T12:00:51Z"; out holds 21 chars. */
void report_time(char out[21], int64_t t);

#endif
