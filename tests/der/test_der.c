/* der: writer output as byte tables (X.690 DER rules) and reader strictness. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "der/der.h"
#include "harness.h"

/* Compares b with a hex string. */
static int buf_is(const struct siegel_buf *b, const char *hex)
{
	size_t n = 0;
	uint8_t *want = t_unhex(hex, &n);
	int ok = b->err == 0 && b->len == n && (n == 0 || memcmp(b->data, want, n) == 0);
	if (!ok) {
		char *got = malloc(2 * b->len + 1);
		siegel_hex_encode(got, b->data, b->len);
		fprintf(stderr, "  got  %s\n  want %s\n", got, hex);
		free(got);
	}
	free(want);
	return ok;
}

/* Reads one element of tag from hex; returns rc, fills t/diag. The parsed
 * bytes live in *keep (caller frees). */
static int read_hex(const char *hex, uint8_t tag, int allow_indef, struct der_tlv *t,
	struct siegel_diag *d, uint8_t **keep, int *at_end)
{
	size_t n = 0;
	*keep = t_unhex(hex, &n);
	struct der_cursor c;
	der_cursor_init(&c, *keep, n);
	memset(d, 0, sizeof(*d));
	int rc = der_read(&c, t, tag, allow_indef, "TEST.elem", d);
	if (at_end)
		*at_end = der_at_end(&c);
	return rc;
}

static void check_reject(const char *hex, uint8_t tag, int allow_indef, const char *needle)
{
	struct der_tlv t;
	struct siegel_diag d;
	uint8_t *p = NULL;
	int rc = read_hex(hex, tag, allow_indef, &t, &d, &p, NULL);
	CHECK_RC(rc, SIEGEL_E_PARSE);
	CHECK(strstr(d.msg, "TEST.elem") != NULL);
	if (needle && strstr(d.msg, needle) == NULL) {
		fprintf(stderr, "  diag \"%s\" lacks \"%s\" (input %s)\n", d.msg, needle, hex);
		CHECK(0);
	}
	free(p);
}

static void check_uint(const char *hex, int want_rc, uint64_t want)
{
	struct der_tlv t;
	struct siegel_diag d;
	uint8_t *p = NULL;
	uint64_t v = 12345;
	CHECK_OK(read_hex(hex, 0x02, 0, &t, &d, &p, NULL));
	CHECK_RC(der_get_uint(&v, &t, "TEST.int", &d), want_rc);
	if (want_rc == 0)
		CHECK(v == want);
	else
		CHECK(strstr(d.msg, "TEST.int") != NULL);
	free(p);
}

static void test_writer(void)
{
	struct siegel_buf b;
	siegel_buf_init(&b);

	/* lengths: short form up to 127, then minimal long form */
	der_put_len(&b, 0);
	der_put_len(&b, 127);
	der_put_len(&b, 128);
	der_put_len(&b, 255);
	der_put_len(&b, 256);
	der_put_len(&b, 65536);
	CHECK(buf_is(&b, "007f818081ff820100" "83010000"));
	siegel_buf_reset(&b);

	/* INTEGER: minimal two's complement, 0x00 prefix before a high bit */
	static const struct {
		uint64_t v;
		const char *hex;
	} ints[] = {
		{ 0, "020100" }, { 1, "020101" }, { 127, "02017f" }, { 128, "02020080" },
		{ 255, "020200ff" }, { 256, "02020100" }, { 0x7fffffff, "02047fffffff" },
		{ 0x80000000u, "02050080000000" }, { 1716199200, "0204664b1f20" },
		{ UINT64_MAX, "020900ffffffffffffffff" }, { 0x7fffffffffffffffull, "02087fffffffffffffff" },
	};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		siegel_buf_reset(&b);
		der_put_uint(&b, 0x02, ints[i].v);
		CHECK(buf_is(&b, ints[i].hex));
	}
	siegel_buf_reset(&b);
	der_put_uint(&b, 0x85, 134);
	CHECK(buf_is(&b, "85020086"));

	siegel_buf_reset(&b);
	der_put_bool(&b, 0x80, 1);
	der_put_bool(&b, 0x81, 0);
	der_put_bool(&b, 0x01, 42);
	CHECK(buf_is(&b, "8001ff810100" "0101ff"));

	siegel_buf_reset(&b);
	der_put_tlv(&b, 0x82, NULL, 0);
	der_put_tlv(&b, 0x04, "ab", 2);
	CHECK(buf_is(&b, "8200" "04026162"));

	/* der_begin/der_end: nested, short and long forms (content moved) */
	siegel_buf_reset(&b);
	size_t o = der_begin(&b, 0x30);
	size_t i1 = der_begin(&b, 0x30);
	der_put_bool(&b, 0x80, 1);
	der_end(&b, i1);
	der_end(&b, o);
	CHECK(buf_is(&b, "3005" "30038001ff"));

	siegel_buf_reset(&b);
	siegel_buf_putc(&b, 0xee); /* existing data before the mark stays */
	o = der_begin(&b, 0x30);
	uint8_t big[200];
	memset(big, 0x5a, sizeof(big));
	der_put_tlv(&b, 0x04, big, sizeof(big));
	der_end(&b, o);
	CHECK(b.err == 0 && b.len == 1 + 3 + 3 + 200);
	CHECK(b.data[0] == 0xee && b.data[1] == 0x30 && b.data[2] == 0x81 && b.data[3] == 203);
	CHECK(b.data[4] == 0x04 && b.data[5] == 0x81 && b.data[6] == 200 && b.data[7] == 0x5a &&
		b.data[206] == 0x5a);

	siegel_buf_reset(&b);
	o = der_begin(&b, 0x30);
	uint8_t *huge = calloc(1, 70000);
	siegel_buf_append(&b, huge, 70000);
	der_end(&b, o);
	CHECK(b.err == 0 && b.len == 70000 + 5);
	CHECK(b.data[1] == 0x83 && b.data[2] == 0x01 && b.data[3] == 0x11 && b.data[4] == 0x70);
	free(huge);

	/* round trip: what the writer writes, the reader reads back */
	siegel_buf_reset(&b);
	der_put_uint(&b, 0x02, 1ull << 40);
	struct der_cursor c;
	struct der_tlv t;
	struct siegel_diag d = { { 0 } };
	uint64_t v = 0;
	der_cursor_init(&c, b.data, b.len);
	CHECK_OK(der_read(&c, &t, 0x02, 0, "TEST", &d));
	CHECK_OK(der_get_uint(&v, &t, "TEST", &d));
	CHECK(v == 1ull << 40);
	CHECK(der_at_end(&c));
	siegel_buf_free(&b);
}

static void test_reader(void)
{
	struct der_tlv t;
	struct siegel_diag d;
	uint8_t *p = NULL;
	int end = 0;

	/* accepted */
	CHECK_OK(read_hex("0403616263", 0x04, 0, &t, &d, &p, &end));
	CHECK(end && t.tag == 0x04 && t.val_len == 3 && memcmp(t.val, "abc", 3) == 0);
	CHECK(t.tlv == p && t.tlv_len == 5 && t.off == 0 && !t.indefinite);
	free(p);
	CHECK_OK(read_hex("8200", 0x82, 0, &t, &d, &p, &end));
	CHECK(end && t.val_len == 0);
	free(p);

	/* long form lengths, correct */
	{
		struct siegel_buf b;
		siegel_buf_init(&b);
		uint8_t x[300];
		memset(x, 1, sizeof(x));
		der_put_tlv(&b, 0x04, x, 128);
		der_put_tlv(&b, 0x04, x, 300);
		struct der_cursor c;
		der_cursor_init(&c, b.data, b.len);
		CHECK_OK(der_read(&c, &t, 0x04, 0, "TEST", &d));
		CHECK(t.val_len == 128 && t.tlv_len == 131);
		CHECK_OK(der_read(&c, &t, 0x04, 0, "TEST", &d));
		CHECK(t.val_len == 300 && t.tlv_len == 304 && t.off == 131);
		CHECK(der_at_end(&c));
		CHECK(der_peek_tag(&c) == -1);
		siegel_buf_free(&b);
	}

	/* rejected: wrong tag, with the offset and both tag names */
	check_reject("0201ff", 0x04, 0, "want OCTET STRING (0x04), got INTEGER (0x02) at offset 0");
	/* long form where short suffices */
	check_reject("048105" "0102030405", 0x04, 0, "non-minimal");
	check_reject("04820005" "0102030405", 0x04, 0, "non-minimal");
	/* leading zero length byte */
	check_reject("04820080", 0x04, 0, "non-minimal");
	/* length beyond the buffer */
	check_reject("040501020304", 0x04, 0, "exceeds");
	check_reject("0484ffffffff00", 0x04, 0, "exceeds");
	check_reject("0488ffffffffffffffff", 0x04, 0, "exceeds");
	check_reject("0489010000000000000000", 0x04, 0, "out of range");
	check_reject("04ff", 0x04, 0, "out of range");
	/* truncated header */
	check_reject("04", 0x04, 0, "truncated");
	check_reject("", 0x04, 0, "end of data");
	check_reject("0482", 0x04, 0, "truncated");
	/* multi-byte tag */
	check_reject("1f2201aa", 0x1f, 0, "multi-byte");
	/* indefinite length: refused unless allowed, and on primitive tags */
	check_reject("a28004016100" "00", 0xa2, 0, "indefinite");
	check_reject("a280040161", 0xa2, 1, "end-of-contents");
	check_reject("82800000", 0x82, 1, "primitive");
	check_reject("a280040161000100", 0xa2, 1, "end-of-contents");
	/* nesting beyond DER_MAX_DEPTH */
	{
		char hex[256] = "a280";
		for (int i = 0; i < DER_MAX_DEPTH + 2; i++)
			strcat(hex, "2480");
		for (int i = 0; i < DER_MAX_DEPTH + 3; i++)
			strcat(hex, "0000");
		check_reject(hex, 0xa2, 1, "nesting");
	}

	/* indefinite accepted when allowed: val excludes the EOC */
	CHECK_OK(read_hex("a2800402616204016300008501", 0xa2, 1, &t, &d, &p, &end));
	CHECK(!end && t.indefinite && t.val_len == 7 && t.tlv_len == 11);
	{
		struct siegel_buf j;
		siegel_buf_init(&j);
		CHECK_OK(der_collect_chunks(&j, &t, "TEST.chunks", &d));
		CHECK(j.len == 3 && memcmp(j.data, "abc", 3) == 0);
		siegel_buf_free(&j);
	}
	free(p);
	/* nested definite-inside-indefinite found correctly, but chunks must be
	 * primitive OCTET STRINGs */
	CHECK_OK(read_hex("a28024020400" "0000", 0xa2, 1, &t, &d, &p, &end));
	CHECK(end && t.indefinite);
	{
		struct siegel_buf j;
		siegel_buf_init(&j);
		CHECK_RC(der_collect_chunks(&j, &t, "TEST.chunks", &d), SIEGEL_E_PARSE);
		CHECK(strstr(d.msg, "TEST.chunks") != NULL && strstr(d.msg, "offset 2") != NULL);
		siegel_buf_free(&j);
	}
	free(p);
	/* zero chunks: empty value */
	CHECK_OK(read_hex("a2800000", 0xa2, 1, &t, &d, &p, &end));
	CHECK(end && t.indefinite && t.val_len == 0);
	free(p);

	/* INTEGER -> uint64 */
	check_uint("020100", 0, 0);
	check_uint("02017f", 0, 127);
	check_uint("02020080", 0, 128);
	check_uint("020900ffffffffffffffff", 0, UINT64_MAX);
	check_uint("0200", SIEGEL_E_PARSE, 0);
	check_uint("020200ff" "", 0, 255);
	check_uint("0202007f", SIEGEL_E_PARSE, 0);     /* non-minimal */
	check_uint("020180", SIEGEL_E_PARSE, 0);       /* negative */
	check_uint("0202ff80", SIEGEL_E_PARSE, 0);     /* negative */
	check_uint("0209010000000000000000", SIEGEL_E_PARSE, 0); /* > 8 bytes of value */
	check_uint("020a0001000000000000000000", SIEGEL_E_PARSE, 0);

	/* sub cursors keep absolute offsets in diagnostics */
	{
		size_t n = 0;
		uint8_t *buf = t_unhex("3006" "020101" "040100", &n);
		struct der_cursor c, in;
		CHECK(der_peek_tag(&(struct der_cursor){ buf, n, 0, 0 }) == 0x30);
		der_cursor_init(&c, buf, n);
		CHECK_OK(der_read(&c, &t, 0x30, 0, "TEST", &d));
		der_cursor_sub(&in, &t);
		CHECK_OK(der_read(&in, &t, 0x02, 0, "TEST", &d));
		CHECK(t.off == 2);
		CHECK_RC(der_read(&in, &t, 0x02, 0, "TEST.second", &d), SIEGEL_E_PARSE);
		CHECK(strstr(d.msg, "TEST.second: want INTEGER (0x02), got OCTET STRING (0x04) at offset 5") != NULL);
		free(buf);
	}

	char name[40];
	der_tag_name(name, 0x83);
	CHECK_STR(name, "[3] (0x83)");
	der_tag_name(name, 0xa2);
	CHECK_STR(name, "[2] constructed (0xa2)");
	der_tag_name(name, 0x17);
	CHECK_STR(name, "UTCTime (0x17)");
}

int main(void)
{
	test_writer();
	test_reader();
	return t_done();
}
