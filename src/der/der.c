/* der: strict DER writer and reader (see der.h). The reader accepts only
 * single-byte tags and minimal definite lengths; BER indefinite length only
 * where the caller allows it, and then only on constructed elements. */
#include "der/der.h"

#include <stdio.h>
#include <string.h>

/* ---- writer ---- */

/* Appends a definite length in the shortest form (X.690 8.1.3). */
void der_put_len(struct siegel_buf *b, size_t len)
{
	uint8_t tmp[1 + sizeof(size_t)];
	size_t n = 0;
	if (len < 0x80) {
		siegel_buf_putc(b, (uint8_t)len);
		return;
	}
	for (size_t v = len; v != 0; v >>= 8)
		n++;
	tmp[0] = (uint8_t)(0x80 | n);
	for (size_t i = 0; i < n; i++)
		tmp[n - i] = (uint8_t)(len >> (8 * i));
	siegel_buf_append(b, tmp, n + 1);
}

void der_put_tlv(struct siegel_buf *b, uint8_t tag, const void *val, size_t len)
{
	siegel_buf_putc(b, tag);
	der_put_len(b, len);
	if (len > 0)
		siegel_buf_append(b, val, len);
}

/* Minimal two's complement of a non-negative value: no leading 0x00 unless
 * the next byte has its top bit set (X.690 8.3.2). */
void der_put_uint(struct siegel_buf *b, uint8_t tag, uint64_t v)
{
	uint8_t tmp[9];
	size_t n = 0;
	do {
		tmp[8 - n] = (uint8_t)v;
		v >>= 8;
		n++;
	} while (v != 0);
	if (tmp[9 - n] & 0x80) {
		tmp[8 - n] = 0x00;
		n++;
	}
	der_put_tlv(b, tag, tmp + 9 - n, n);
}

/* DER BOOLEAN: TRUE is 0xFF (X.690 11.1). */
void der_put_bool(struct siegel_buf *b, uint8_t tag, int v)
{
	uint8_t c = v ? 0xff : 0x00;
	der_put_tlv(b, tag, &c, 1);
}

/* Writes the tag and a one-byte placeholder length; returns the offset of
 * the tag for der_end. */
size_t der_begin(struct siegel_buf *b, uint8_t tag)
{
	size_t mark = b->len;
	siegel_buf_putc(b, tag);
	siegel_buf_putc(b, 0);
	return mark;
}

/* Patches the length of the element started at mark, moving the content
 * when the length needs the long form. */
void der_end(struct siegel_buf *b, size_t mark)
{
	if (b->err)
		return;
	if (mark + 2 > b->len) {
		b->err = SIEGEL_E_INVAL;
		return;
	}
	size_t content = b->len - mark - 2;
	if (content < 0x80) {
		b->data[mark + 1] = (uint8_t)content;
		return;
	}
	size_t n = 0;
	for (size_t v = content; v != 0; v >>= 8)
		n++;
	if (siegel_buf_reserve(b, n) != 0)
		return;
	memmove(b->data + mark + 2 + n, b->data + mark + 2, content);
	b->data[mark + 1] = (uint8_t)(0x80 | n);
	for (size_t i = 0; i < n; i++)
		b->data[mark + 1 + n - i] = (uint8_t)(content >> (8 * i));
	b->len += n;
	b->data[b->len] = 0;
}

/* ---- reader ---- */

void der_cursor_init(struct der_cursor *c, const uint8_t *p, size_t len)
{
	c->p = p;
	c->len = len;
	c->off = 0;
	c->base = 0;
}

void der_cursor_sub(struct der_cursor *sub, const struct der_tlv *t)
{
	sub->p = t->val;
	sub->len = t->val_len;
	sub->off = 0;
	sub->base = t->off + (size_t)(t->val - t->tlv);
}

int der_at_end(const struct der_cursor *c)
{
	return c->off >= c->len;
}

int der_peek_tag(const struct der_cursor *c)
{
	return c->off < c->len ? c->p[c->off] : -1;
}

void der_tag_name(char out[40], uint8_t tag)
{
	static const struct {
		uint8_t tag;
		const char *name;
	} names[] = {
		{ 0x00, "end-of-contents" }, { 0x01, "BOOLEAN" }, { 0x02, "INTEGER" },
		{ 0x04, "OCTET STRING" }, { 0x05, "NULL" }, { 0x06, "OBJECT IDENTIFIER" },
		{ 0x0a, "ENUMERATED" }, { 0x0c, "UTF8String" }, { 0x13, "PrintableString" },
		{ 0x17, "UTCTime" }, { 0x18, "GeneralizedTime" }, { 0x24, "constructed OCTET STRING" },
		{ 0x30, "SEQUENCE" }, { 0x31, "SET" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].tag == tag) {
			snprintf(out, 40, "%s (0x%02x)", names[i].name, tag);
			return;
		}
	}
	if ((tag & 0xc0) == 0x80)
		snprintf(out, 40, "[%u]%s (0x%02x)", tag & 0x1fu, (tag & 0x20) ? " constructed" : "",
			tag);
	else
		snprintf(out, 40, "0x%02x", tag);
}

/* Reads tag and length at c->off without consuming. Sets *hdr_len, *len and
 * *indef. Indefinite length is accepted only if allow_indef and the tag is
 * constructed. */
static int read_header(const struct der_cursor *c, size_t *hdr_len, size_t *len, int *indef,
	int allow_indef, const char *what, struct siegel_diag *d)
{
	size_t at = c->base + c->off;
	size_t avail = c->len - c->off;
	const uint8_t *p = c->p + c->off;
	if (avail < 2)
		return siegel_fail(d, SIEGEL_E_PARSE, "%s: truncated at offset %zu (need tag and length)",
			what, at);
	uint8_t tag = p[0];
	if ((tag & 0x1f) == 0x1f)
		return siegel_fail(d, SIEGEL_E_PARSE,
			"%s: multi-byte tag 0x%02x at offset %zu not allowed", what, tag, at);
	uint8_t l0 = p[1];
	*indef = 0;
	if (l0 < 0x80) {
		*hdr_len = 2;
		*len = l0;
	} else if (l0 == 0x80) {
		if (!allow_indef)
			return siegel_fail(d, SIEGEL_E_PARSE,
				"%s: indefinite length at offset %zu not allowed (DER)", what, at);
		if (!(tag & 0x20))
			return siegel_fail(d, SIEGEL_E_PARSE,
				"%s: indefinite length on primitive tag 0x%02x at offset %zu", what, tag,
				at);
		*hdr_len = 2;
		*len = 0;
		*indef = 1;
	} else {
		size_t n = l0 & 0x7fu;
		if (l0 == 0xff || n > sizeof(size_t))
			return siegel_fail(d, SIEGEL_E_PARSE,
				"%s: length field 0x%02x at offset %zu out of range", what, l0, at);
		if (avail < 2 + n)
			return siegel_fail(d, SIEGEL_E_PARSE, "%s: truncated length at offset %zu",
				what, at);
		if (p[2] == 0)
			return siegel_fail(d, SIEGEL_E_PARSE,
				"%s: non-minimal length (leading 0x00) at offset %zu", what, at);
		size_t v = 0;
		for (size_t i = 0; i < n; i++)
			v = (v << 8) | p[2 + i];
		if (v < 0x80)
			return siegel_fail(d, SIEGEL_E_PARSE,
				"%s: non-minimal length (long form 0x%02x for %zu) at offset %zu", what,
				l0, v, at);
		*hdr_len = 2 + n;
		*len = v;
	}
	if (!*indef && *len > avail - *hdr_len)
		return siegel_fail(d, SIEGEL_E_PARSE,
			"%s: length %zu at offset %zu exceeds the %zu bytes available", what, *len, at,
			avail - *hdr_len);
	return 0;
}

/* Skips the content of an indefinite-length element starting at c->off
 * (after its header) up to and including the end-of-contents octets.
 * Nested elements may be definite or (constructed) indefinite. Sets
 * *content_len to the bytes before the EOC. */
static int skip_indefinite(struct der_cursor *c, size_t *content_len, int depth,
	const char *what, struct siegel_diag *d)
{
	size_t start = c->off;
	if (depth > DER_MAX_DEPTH)
		return siegel_fail(d, SIEGEL_E_PARSE,
			"%s: indefinite-length nesting deeper than %d at offset %zu", what,
			DER_MAX_DEPTH, c->base + c->off);
	for (;;) {
		if (c->len - c->off < 2)
			return siegel_fail(d, SIEGEL_E_PARSE,
				"%s: missing end-of-contents of the indefinite-length value (offset %zu)",
				what, c->base + c->off);
		if (c->p[c->off] == 0x00) {
			if (c->p[c->off + 1] != 0x00)
				return siegel_fail(d, SIEGEL_E_PARSE,
					"%s: bad end-of-contents 00 %02x at offset %zu", what,
					c->p[c->off + 1], c->base + c->off);
			*content_len = c->off - start;
			c->off += 2;
			return 0;
		}
		size_t hdr = 0, len = 0;
		int indef = 0;
		int rc = read_header(c, &hdr, &len, &indef, 1, what, d);
		if (rc)
			return rc;
		c->off += hdr;
		if (indef) {
			size_t inner = 0;
			rc = skip_indefinite(c, &inner, depth + 1, what, d);
			if (rc)
				return rc;
		} else {
			c->off += len;
		}
	}
}

int der_read(struct der_cursor *c, struct der_tlv *out, uint8_t tag, int allow_indefinite,
	const char *what, struct siegel_diag *d)
{
	size_t at = c->base + c->off;
	char want[40], got[40];
	if (c->off >= c->len) {
		der_tag_name(want, tag);
		return siegel_fail(d, SIEGEL_E_PARSE, "%s: want %s, got end of data at offset %zu",
			what, want, at);
	}
	if (c->p[c->off] != tag) {
		der_tag_name(want, tag);
		der_tag_name(got, c->p[c->off]);
		return siegel_fail(d, SIEGEL_E_PARSE, "%s: want %s, got %s at offset %zu", what, want,
			got, at);
	}
	size_t hdr = 0, len = 0;
	int indef = 0;
	int rc = read_header(c, &hdr, &len, &indef, allow_indefinite, what, d);
	if (rc)
		return rc;
	struct der_tlv t;
	memset(&t, 0, sizeof(t));
	t.tag = tag;
	t.tlv = c->p + c->off;
	t.val = t.tlv + hdr;
	t.off = at;
	if (indef) {
		struct der_cursor tmp = *c;
		tmp.off += hdr;
		rc = skip_indefinite(&tmp, &len, 1, what, d);
		if (rc)
			return rc;
		t.indefinite = 1;
		t.val_len = len;
		t.tlv_len = tmp.off - c->off;
	} else {
		t.val_len = len;
		t.tlv_len = hdr + len;
	}
	c->off += t.tlv_len;
	*out = t;
	return 0;
}

int der_get_uint(uint64_t *out, const struct der_tlv *t, const char *what, struct siegel_diag *d)
{
	const uint8_t *v = t->val;
	size_t n = t->val_len;
	if (t->indefinite || n == 0)
		return siegel_fail(d, SIEGEL_E_PARSE, "%s: empty INTEGER at offset %zu", what, t->off);
	if (v[0] & 0x80)
		return siegel_fail(d, SIEGEL_E_PARSE, "%s: negative INTEGER at offset %zu", what,
			t->off);
	if (n > 1 && v[0] == 0x00 && !(v[1] & 0x80))
		return siegel_fail(d, SIEGEL_E_PARSE,
			"%s: non-minimal INTEGER (leading 0x00) at offset %zu", what, t->off);
	if (v[0] == 0x00 && n > 1) {
		v++;
		n--;
	}
	if (n > 8)
		return siegel_fail(d, SIEGEL_E_PARSE,
			"%s: INTEGER of %zu bytes at offset %zu exceeds 64 bits", what, n, t->off);
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x = (x << 8) | v[i];
	*out = x;
	return 0;
}

int der_collect_chunks(struct siegel_buf *out, const struct der_tlv *t, const char *what,
	struct siegel_diag *d)
{
	if (!(t->tag & 0x20)) {
		siegel_buf_append(out, t->val, t->val_len);
		return out->err;
	}
	struct der_cursor c;
	der_cursor_sub(&c, t);
	while (!der_at_end(&c)) {
		struct der_tlv chunk = { 0 };
		/* Chunks must be primitive definite OCTET STRINGs: nested constructed
		 * chunks (legal BER) are refused to keep the decoder flat. */
		int rc = der_read(&c, &chunk, 0x04, 0, what, d);
		if (rc)
			return rc;
		siegel_buf_append(out, chunk.val, chunk.val_len);
	}
	return out->err;
}
