/* pdf: reading signed PDFs for verification (ISO 32000-1 §12.8) with libqpdf's
 * C API (qpdf-c.h): the signature fields and their dictionaries, ByteRange
 * sanity, coverage, and what incremental updates after each signature
 * changed. qpdf is used with recovery switched off: a file that would need
 * repair is rejected, not guessed at. The /Contents of a signature is taken
 * from the ByteRange gap in the file bytes (never decrypted) and cross-checked
 * against the dictionary value. */
#ifndef SIEGEL_PDF_H
#define SIEGEL_PDF_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define PDF_MAX_SIZE (256u << 20)     /* bytes of one PDF */
#define PDF_MAX_SIGNATURES 64         /* filled signature fields per PDF */
#define PDF_MAX_FIELDS 10000          /* AcroForm fields visited */
#define PDF_MAX_FIELD_DEPTH 32        /* /Kids nesting of the field tree */
#define PDF_MAX_CONTENTS (2u << 20)   /* hex digits of one /Contents */
#define PDF_MAX_OBJECTS 200000        /* objects compared in the update analysis */
#define PDF_MAX_TEXT 512              /* /Reason, /Location, field names (bytes, UTF-8) */

/* Why a PDF could not be read at all (the verifier maps these to codes). */
enum pdf_fail {
	PDF_FAIL_NONE = 0,
	PDF_FAIL_NOT_PDF,       /* no %PDF- header: 112 */
	PDF_FAIL_VERSION,       /* header version not 1.0 .. 2.0: 106 */
	PDF_FAIL_STRUCTURE,     /* no usable xref/trailer, needs repair, over a limit: 110 */
	PDF_FAIL_ENCRYPTED,     /* encrypted and cannot be opened without a password: 100 */
};

/* What incremental updates after a signature changed, in increasing order;
 * anything above PDF_CHANGE_FORM is HasChanged=1. */
enum pdf_change {
	PDF_CHANGE_NONE = 0,      /* signature covers the whole file */
	PDF_CHANGE_SIGNATURES,    /* further signatures / document time-stamps only */
	PDF_CHANGE_DSS,           /* + LTV data (/DSS) */
	PDF_CHANGE_FORM,          /* + form filling (field values and appearances) */
	PDF_CHANGE_ANNOTATIONS,   /* + annotations added or changed */
	PDF_CHANGE_OTHER,         /* anything else: content, pages, catalog, ... */
};
const char *pdf_change_name(enum pdf_change c); /* "none", "signatures", ... */

/* ByteRange sanity result */
enum pdf_br {
	PDF_BR_OK = 0,
	PDF_BR_MALFORMED,     /* not 4 non-negative integers */
	PDF_BR_NOT_AT_ZERO,
	PDF_BR_OUTSIDE,       /* beyond the end of the file / overlapping */
	PDF_BR_GAP,           /* gap is not exactly the <hex> /Contents string */
	PDF_BR_NOT_REVISION,  /* second range does not end at the end of a revision */
};

struct pdf_sig {
	char field[PDF_MAX_TEXT];     /* fully qualified field name (UTF-8) */
	char subfilter[64];           /* without the slash */
	char filter[64];
	int is_doc_timestamp;         /* /Type /DocTimeStamp */
	int64_t br[4];
	enum pdf_br br_status;
	char br_msg[160];
	uint8_t *contents;            /* decoded gap bytes (malloc'd), when br_status OK */
	size_t contents_len;
	int has_m;
	int64_t m_time;               /* /M as Unix seconds */
	char reason[PDF_MAX_TEXT];
	char location[PDF_MAX_TEXT];
	int covers_whole_file;
	size_t revision_end;          /* br[2] + br[3] */
	enum pdf_change change;       /* what later updates changed */
	char change_msg[256];         /* first offending object, for the report */
	int docmdp_p;                 /* DocMDP permission 1..3 of a certification signature, or 0 */
};

struct pdf_doc {
	const uint8_t *data;          /* borrowed */
	size_t len;
	char version[8];              /* "1.7" */
	int encrypted;
	size_t n_sigs;
	struct pdf_sig *sigs;         /* in file order (by /Contents position) */
	size_t n_placeholders;        /* /V with all-zero /Contents (not signed) */
	void *qpdf;                   /* private: the open qpdf_data */
};

/* Reads the PDF in data[0..len) (borrowed for the lifetime of doc). On
 * failure *fail_out says which class and d the exact reason. Signatures whose
 * dictionaries are broken still appear with a br_status/message so the
 * verifier can report them (107). Free with pdf_doc_free. */
int pdf_open(struct pdf_doc *doc, enum pdf_fail *fail_out, const uint8_t *data, size_t len,
	struct siegel_diag *d) SIEGEL_WUR;
void pdf_doc_free(struct pdf_doc *doc);

/* Analyses the updates after signature i (when it does not cover the whole
 * file): fills sig->change and change_msg. */
int pdf_analyse_changes(struct pdf_doc *doc, size_t i, struct siegel_diag *d) SIEGEL_WUR;

/* Parses a PDF date "D:YYYYMMDDHHmmSSOHH'mm'" (prefix optional, trailing
 * parts optional) into Unix seconds. */
int pdf_parse_date(int64_t *out, const char *s) SIEGEL_WUR;

#endif
