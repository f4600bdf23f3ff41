/* tar: the ustar writer (exact header bytes, padding, end blocks, GNU tar
 * lists and extracts without a word) and the strict reader (checksum, octal
 * fields, truncation, non-regular types, unsafe names, vendor variance). */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tar/tar.h"

struct seen {
	int n;
	char names[16][TAR_MAX_NAME + 1];
	char types[16];
	const char *unsafe[16];
	size_t lens[16];
	uint8_t first[16];
};

static int on_member(void *ctx, const struct tar_member *m, struct siegel_diag *d)
{
	(void)d;
	struct seen *s = ctx;
	if (s->n < 16) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", m->name);
		s->types[s->n] = m->type;
		s->unsafe[s->n] = m->unsafe;
		s->lens[s->n] = m->len;
		s->first[s->n] = m->len ? m->data[0] : 0;
	}
	s->n++;
	return 0;
}

static int read_mem(struct tar_read_status *st, struct seen *s, const uint8_t *p, size_t n,
	struct siegel_diag *d)
{
	memset(s, 0, sizeof(*s));
	FILE *f = fmemopen((void *)p, n, "rb");
	struct tar_source src;
	tar_source_stdio(&src, f);
	int rc = tar_read(st, &src, NULL, on_member, s, d);
	fclose(f);
	return rc;
}

/* Rewrites the header checksum of the block at h. */
static void fix_checksum(uint8_t *h)
{
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	char ck[8];
	snprintf(ck, sizeof(ck), "%06o", sum);
	memcpy(h + 148, ck, 6);
	h[154] = 0;
	h[155] = ' ';
}

static void test_writer(void)
{
	struct siegel_buf b;
	siegel_buf_init(&b);
	struct tar_writer w;
	tar_writer_init(&w, tar_write_buf, &b, 1715763600);
	struct siegel_diag d = { { 0 } };
	CHECK_OK(tar_write_file(&w, "info.csv", "abc\n", 4, &d));
	uint8_t big[1500];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	CHECK_OK(tar_write_file(&w, "Unixt_1_Sig-2_Log-Sys_x.log", big, sizeof(big), &d));
	CHECK_OK(tar_write_file(&w, "empty", "", 0, &d));
	CHECK_OK(tar_write_end(&w, &d));
	/* 3 headers + 1 + 3 data blocks + 2 end blocks */
	CHECK(b.len == 512 * 9);
	CHECK(w.bytes == b.len);
	const uint8_t *h = b.data;
	CHECK(memcmp(h + 257, "ustar\0" "00", 8) == 0);
	CHECK(h[156] == '0');
	CHECK(memcmp(h + 100, "0000644\0", 8) == 0);
	CHECK(memcmp(h + 124, "00000000004\0", 12) == 0);
	char mt[16];
	snprintf(mt, sizeof(mt), "%011o", 1715763600u);
	CHECK(memcmp(h + 136, mt, 11) == 0);
	/* padding is zero */
	for (size_t i = 512 + 4; i < 1024; i++)
		if (b.data[i] != 0) {
			CHECK(!"padding not zero");
			break;
		}
	/* bad names are refused, naming the member */
	CHECK_RC(tar_write_file(&w, "../x.log", "a", 1, &d), SIEGEL_E_PARAM);
	CHECK(strstr(d.msg, "../x.log") != NULL);
	CHECK_RC(tar_write_file(&w, "dir/x.log", "a", 1, &d), SIEGEL_E_PARAM);
	CHECK_RC(tar_write_file(&w, "/abs", "a", 1, &d), SIEGEL_E_PARAM);
	CHECK_RC(tar_write_file(&w, "", "a", 1, &d), SIEGEL_E_PARAM);
	char longname[128];
	memset(longname, 'a', 101);
	longname[101] = 0;
	CHECK_RC(tar_write_file(&w, longname, "a", 1, &d), SIEGEL_E_PARAM);

	/* read back */
	struct tar_read_status st;
	struct seen s;
	CHECK_OK(read_mem(&st, &s, b.data, b.len, &d));
	CHECK(st.end_seen && !st.truncated);
	CHECK(s.n == 3);
	CHECK_STR(s.names[0], "info.csv");
	CHECK(s.lens[1] == 1500 && s.first[1] == 0);
	CHECK(s.types[2] == '0' && s.lens[2] == 0);

	/* GNU tar: lists and extracts without any message */
	const char *dir = t_tmpdir();
	char path[512];
	snprintf(path, sizeof(path), "%s/w.tar", dir);
	t_write(path, b.data, b.len);
	char *out = NULL;
	CHECK(t_run(&out, "tar -tvf '%s' 2>&1 >/dev/null", path) == 0);
	CHECK(out == NULL || out[0] == 0);
	free(out);
	CHECK(t_run(&out, "mkdir -p '%s/x' && tar -C '%s/x' -xf '%s' 2>&1", dir, dir, path) == 0);
	CHECK(out == NULL || out[0] == 0);
	free(out);
	size_t n = 0;
	snprintf(path, sizeof(path), "%s/x/Unixt_1_Sig-2_Log-Sys_x.log", dir);
	uint8_t *x = t_read(path, &n);
	CHECK(n == sizeof(big) && memcmp(x, big, n) == 0);
	free(x);
	siegel_buf_free(&b);
}

/* One archive with a single member, built raw so tests can damage it. */
static size_t raw_archive(uint8_t *a, const char *name, char type, const char *data, size_t len)
{
	memset(a, 0, 512 * 8);
	snprintf((char *)a, 100, "%s", name);
	memcpy(a + 100, "0000644\0", 8);
	memcpy(a + 108, "0000000\0", 8);
	memcpy(a + 116, "0000000\0", 8);
	snprintf((char *)a + 124, 12, "%011zo", len);
	memcpy(a + 136, "14620000000\0", 12);
	a[156] = (uint8_t)type;
	memcpy(a + 257, "ustar\0" "00", 8);
	fix_checksum(a);
	memcpy(a + 512, data, len);
	size_t blocks = 1 + (len + 511) / 512;
	return (blocks + 2) * 512;
}

static void test_reader_strict(void)
{
	uint8_t a[512 * 8];
	struct tar_read_status st;
	struct seen s;
	struct siegel_diag d = { { 0 } };
	size_t n = raw_archive(a, "a.log", '0', "hello", 5);
	CHECK_OK(read_mem(&st, &s, a, n, &d));
	CHECK(s.n == 1 && s.lens[0] == 5 && s.unsafe[0] == NULL);

	/* checksum */
	a[0] ^= 1;
	CHECK_RC(read_mem(&st, &s, a, n, &d), SIEGEL_E_PARSE);
	CHECK(st.bad_header && strstr(d.msg, "checksum") != NULL);
	a[0] ^= 1;
	/* size not octal */
	n = raw_archive(a, "a.log", '0', "hello", 5);
	a[124 + 5] = '9';
	fix_checksum(a);
	CHECK_RC(read_mem(&st, &s, a, n, &d), SIEGEL_E_PARSE);
	CHECK(strstr(d.msg, "size") != NULL && strstr(d.msg, "a.log") != NULL);
	/* wrong magic */
	n = raw_archive(a, "a.log", '0', "hello", 5);
	memcpy(a + 257, "xxxxx", 5);
	fix_checksum(a);
	CHECK_RC(read_mem(&st, &s, a, n, &d), SIEGEL_E_PARSE);
	/* size beyond the file: truncated, member named */
	n = raw_archive(a, "big.log", '0', "hello", 5);
	snprintf((char *)a + 124, 12, "%011o", 4096u);
	fix_checksum(a);
	CHECK_RC(read_mem(&st, &s, a, n, &d), SIEGEL_E_PARSE);
	CHECK(st.truncated && strcmp(st.truncated_member, "big.log") == 0);
	/* cut in the data */
	n = raw_archive(a, "cut.log", '0', "hello", 5);
	CHECK_RC(read_mem(&st, &s, a, 600, &d), SIEGEL_E_PARSE);
	CHECK(st.truncated && strcmp(st.truncated_member, "cut.log") == 0);
	/* no end blocks */
	CHECK_RC(read_mem(&st, &s, a, 1024, &d), SIEGEL_E_PARSE);
	CHECK(st.truncated && s.n == 1);
	/* cut inside the header */
	CHECK_RC(read_mem(&st, &s, a, 300, &d), SIEGEL_E_PARSE);
	CHECK(st.truncated);
	/* non-regular types are reported, not read */
	n = raw_archive(a, "extra/", '5', "", 0);
	CHECK_OK(read_mem(&st, &s, a, n, &d));
	CHECK(s.n == 1 && s.types[0] == '5' && s.unsafe[0] != NULL);
	n = raw_archive(a, "link.log", '2', "", 0);
	memcpy(a + 157, "../../../../etc/passwd", 22);
	fix_checksum(a);
	CHECK_OK(read_mem(&st, &s, a, n, &d));
	CHECK(s.n == 1 && s.types[0] == '2' && s.lens[0] == 0);
	/* unsafe names */
	n = raw_archive(a, "../evil.log", '0', "x", 1);
	CHECK_OK(read_mem(&st, &s, a, n, &d));
	CHECK(s.unsafe[0] != NULL && strstr(s.unsafe[0], "..") != NULL);
	n = raw_archive(a, "/etc/x", '0', "x", 1);
	CHECK_OK(read_mem(&st, &s, a, n, &d));
	CHECK(s.unsafe[0] != NULL);
	n = raw_archive(a, "d/x.log", '0', "x", 1);
	CHECK_OK(read_mem(&st, &s, a, n, &d));
	CHECK(s.unsafe[0] != NULL);
	/* ustar prefix field joins with '/' */
	n = raw_archive(a, "x.log", '0', "x", 1);
	memcpy(a + 345, "pre", 3);
	fix_checksum(a);
	CHECK_OK(read_mem(&st, &s, a, n, &d));
	CHECK_STR(s.names[0], "pre/x.log");
	CHECK(s.unsafe[0] != NULL);
	/* empty input */
	CHECK_RC(read_mem(&st, &s, a, 0, &d), SIEGEL_E_PARSE);
}

static void test_reader_variance(void)
{
	uint8_t a[512 * 8];
	struct tar_read_status st;
	struct seen s;
	struct siegel_diag d = { { 0 } };
	/* GNU magic "ustar  \0", mode "0100644 ", octal with space terminators,
	 * uname/gname/uid set */
	size_t n = raw_archive(a, "a.log", '0', "hi", 2);
	memcpy(a + 257, "ustar  \0", 8);
	memcpy(a + 100, "0100644 ", 8);
	memcpy(a + 124, "         2 ", 12);
	memcpy(a + 108, "001750 \0", 8);
	memcpy(a + 265, "user", 4);
	memcpy(a + 297, "None", 4);
	fix_checksum(a);
	CHECK_OK(read_mem(&st, &s, a, n, &d));
	CHECK(s.n == 1 && s.lens[0] == 2);
	/* "000644 \0" style, POSIX version " \0" (a re-packed vendor TAR) */
	n = raw_archive(a, "b.log", '0', "hi", 2);
	memcpy(a + 100, "000644 \0", 8);
	memcpy(a + 263, " \0", 2);
	fix_checksum(a);
	CHECK_OK(read_mem(&st, &s, a, n, &d));
	/* typeflag NUL = regular (old writers) */
	n = raw_archive(a, "c.log", '\0', "hi", 2);
	CHECK_OK(read_mem(&st, &s, a, n, &d));
	CHECK(s.types[0] == '0');
	/* record padding: zero blocks up to 10240 bytes */
	uint8_t rec[10240];
	memset(rec, 0, sizeof(rec));
	n = raw_archive(rec, "d.log", '0', "hi", 2);
	CHECK_OK(read_mem(&st, &s, rec, sizeof(rec), &d));
	CHECK(st.end_seen && s.n == 1);
	/* a lone zero block at the very end is accepted */
	n = raw_archive(a, "e.log", '0', "hi", 2);
	CHECK_OK(read_mem(&st, &s, a, 512 * 3, &d));
	/* skipping data the callback does not want */
	n = raw_archive(a, "f.log", '0', "hi", 2);
	memset(&s, 0, sizeof(s));
	FILE *f = fmemopen(a, n, "rb");
	struct tar_source src;
	tar_source_stdio(&src, f);
	CHECK(src.total == n);
	CHECK_OK(tar_read(&st, &src, NULL, on_member, &s, &d));
	fclose(f);
	CHECK(s.n == 1);
}

int main(void)
{
	test_writer();
	test_reader_strict();
	test_reader_variance();
	return t_done();
}
