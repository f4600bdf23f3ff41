/* der: a minimal, strict DER writer and reader for the structures siegel
 * signs and parses by hand (TR-03151 log messages, App. D serial numbers).
 * The reader is a cursor with explicit bounds; every failure names what it
 * expected. BER indefinite length is accepted only where a caller asks for it. */
#ifndef SIEGEL_DER_H
#define SIEGEL_DER_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define DER_MAX_DEPTH 8

/* ---- writer: appends to a siegel_buf (sticky error) ---- */
void der_put_len(struct siegel_buf *b, size_t len);
void der_put_tlv(struct siegel_buf *b, uint8_t tag, const void *val, size_t len);
/* INTEGER, minimal two's complement of a non-negative value. */
void der_put_uint(struct siegel_buf *b, uint8_t tag, uint64_t v);
void der_put_bool(struct siegel_buf *b, uint8_t tag, int v);
/* Starts a constructed element; der_end patches the length (definite).
 * Elements may nest; marks are offsets into b. */
size_t der_begin(struct siegel_buf *b, uint8_t tag);
void der_end(struct siegel_buf *b, size_t mark);

/* ---- reader ---- */
struct der_cursor {
	const uint8_t *p;
	size_t len;
	size_t off;
	size_t base;    /* offset of p[0] in the whole input, for diagnostics */
};
/* One element as read: tag, the full TLV and the content. For an indefinite
 * length element `indefinite` is set and `val` covers the content up to (not
 * including) the end-of-contents octets. */
struct der_tlv {
	uint8_t tag;
	const uint8_t *tlv;
	size_t tlv_len;
	const uint8_t *val;
	size_t val_len;
	int indefinite;
	size_t off;     /* offset of the tag in the whole input (cursor base + off) */
};

void der_cursor_init(struct der_cursor *c, const uint8_t *p, size_t len);
/* A cursor over the content of t (read from parent), keeping absolute offsets
 * for diagnostics. */
void der_cursor_sub(struct der_cursor *sub, const struct der_tlv *t);
int der_at_end(const struct der_cursor *c);
/* Tag of the next element without consuming; -1 at end. */
int der_peek_tag(const struct der_cursor *c);
/* Reads the next element, which must have tag `tag`. Lengths must be minimal
 * DER; allow_indefinite permits BER indefinite length (constructed tags only),
 * with nested definite/indefinite content checked up to DER_MAX_DEPTH.
 * `what` names the element for the diagnostic. */
int der_read(struct der_cursor *c, struct der_tlv *out, uint8_t tag, int allow_indefinite,
	const char *what, struct siegel_diag *d) SIEGEL_WUR;
/* Human-readable name of a tag for diagnostics: "INTEGER (0x02)",
 * "[3] (0x83)", "[2] constructed (0xa2)". */
void der_tag_name(char out[40], uint8_t tag);
/* INTEGER content -> uint64 (non-negative, minimal). */
int der_get_uint(uint64_t *out, const struct der_tlv *t, const char *what,
	struct siegel_diag *d) SIEGEL_WUR;
/* Concatenates the OCTET STRING chunks of an indefinite constructed value
 * (each chunk 04 LL ...). Appends to out. */
int der_collect_chunks(struct siegel_buf *out, const struct der_tlv *t, const char *what,
	struct siegel_diag *d) SIEGEL_WUR;

#endif
