/* pdf_internal.h: shared between pdf.c and pdf_diff.c only. */
#ifndef SIEGEL_PDF_INTERNAL_H
#define SIEGEL_PDF_INTERNAL_H

#include "pdf/pdf.h"

/* Opens data[0..len) with qpdf (no recovery, errors silenced); *out is a
 * qpdf_data the caller frees with qpdf_cleanup. */
int pdf_qpdf_open(void **out, const uint8_t *data, size_t len, enum pdf_fail *fail,
	struct siegel_diag *d) SIEGEL_WUR;

#endif
