/* tar: ustar writer and strict streaming reader (see tar.h). */
#include "tar/tar.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ustar header layout (POSIX.1-1988) */
#define H_NAME 0
#define H_MODE 100
#define H_UID 108
#define H_GID 116
#define H_SIZE 124
#define H_MTIME 136
#define H_CHKSUM 148
#define H_TYPE 156
#define H_LINK 157
#define H_MAGIC 257
#define H_VERSION 263
#define H_UNAME 265
#define H_GNAME 297
#define H_DEVMAJOR 329
#define H_DEVMINOR 337
#define H_PREFIX 345

static const uint8_t zero_block[TAR_BLOCK];

/* ------------------------------------------------------------------ */
/* writer                                                               */

void tar_writer_init(struct tar_writer *w, tar_write_fn write, void *ctx, int64_t mtime)
{
	memset(w, 0, sizeof(*w));
	w->write = write;
	w->ctx = ctx;
	w->mtime = mtime < 0 ? 0 : mtime;
}

static int put(struct tar_writer *w, const void *p, size_t n)
{
	if (w->err)
		return w->err;
	int rc = w->write(w->ctx, p, n);
	if (rc) {
		w->err = rc < 0 ? rc : SIEGEL_E_IO;
		return w->err;
	}
	w->bytes += n;
	return 0;
}

/* Octal number in a field of width w: w-1 digits, zero-padded, NUL. */
static void octal(uint8_t *f, size_t w, uint64_t v)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%0*" PRIo64, (int)(w - 1), v);
	memcpy(f, tmp, w - 1);
	f[w - 1] = 0;
}

const char *tar_name_problem(const char *name)
{
	if (name == NULL || name[0] == 0)
		return "empty name";
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "control character in the name";
	if (name[0] == '/')
		return "absolute name";
	/* any '..' path component */
	for (const char *p = name; *p;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return "'..' in the name";
		if (e == NULL)
			break;
		p = e + 1;
	}
	if (strchr(name, '/') != NULL)
		return "directory part ('/') in the name";
	if (strcmp(name, ".") == 0)
		return "name '.'";
	return NULL;
}

const char *tar_basename(const char *name)
{
	const char *s = strrchr(name, '/');
	if (s == NULL)
		return name;
	/* "dir/" reports as "dir/" rather than "" */
	return s[1] ? s + 1 : name;
}

int tar_write_file(struct tar_writer *w, const char *name, const void *data, size_t len,
	struct siegel_diag *d)
{
	if (w->err)
		return siegel_fail(d, w->err, "tar: an earlier write failed");
	size_t nl = name ? strlen(name) : 0;
	const char *why = tar_name_problem(name);
	if (why == NULL && nl > TAR_NAME_FIELD)
		why = "longer than the 100-byte ustar name field";
	if (why == NULL)
		for (size_t i = 0; i < nl; i++)
			if ((unsigned char)name[i] > 0x7e)
				why = "not ISO 646 ASCII";
	if (why != NULL)
		return siegel_fail(d, SIEGEL_E_PARAM, "tar member '%s': %s", name ? name : "", why);
	if ((uint64_t)len > TAR_MAX_SIZE_FIELD)
		return siegel_fail(d, SIEGEL_E_LIMIT, "tar member '%s': %zu bytes is too large", name, len);
	uint8_t h[TAR_BLOCK];
	memset(h, 0, sizeof(h));
	memcpy(h + H_NAME, name, nl);
	octal(h + H_MODE, 8, 0644);
	octal(h + H_UID, 8, 0);
	octal(h + H_GID, 8, 0);
	octal(h + H_SIZE, 12, (uint64_t)len);
	octal(h + H_MTIME, 12, (uint64_t)w->mtime);
	h[H_TYPE] = '0';
	memcpy(h + H_MAGIC, "ustar", 6);      /* "ustar\0" */
	memcpy(h + H_VERSION, "00", 2);
	octal(h + H_DEVMAJOR, 8, 0);
	octal(h + H_DEVMINOR, 8, 0);
	memset(h + H_CHKSUM, ' ', 8);
	unsigned sum = 0;
	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += h[i];
	char ck[16];
	snprintf(ck, sizeof(ck), "%06o", sum);
	memcpy(h + H_CHKSUM, ck, 6);
	h[H_CHKSUM + 6] = 0;
	h[H_CHKSUM + 7] = ' ';
	int rc = put(w, h, sizeof(h));
	if (rc == 0 && len > 0)
		rc = put(w, data, len);
	if (rc == 0 && len % TAR_BLOCK)
		rc = put(w, zero_block, TAR_BLOCK - len % TAR_BLOCK);
	if (rc)
		return siegel_fail(d, rc, "tar member '%s': write failed", name);
	w->members++;
	return 0;
}

int tar_write_end(struct tar_writer *w, struct siegel_diag *d)
{
	int rc = put(w, zero_block, TAR_BLOCK);
	if (rc == 0)
		rc = put(w, zero_block, TAR_BLOCK);
	if (rc)
		return siegel_fail(d, rc, "tar: writing the end blocks failed");
	return 0;
}

int tar_write_stdio(void *ctx, const void *p, size_t n)
{
	return fwrite(p, 1, n, (FILE *)ctx) == n ? 0 : SIEGEL_E_IO;
}

int tar_write_buf(void *ctx, const void *p, size_t n)
{
	struct siegel_buf *b = ctx;
	siegel_buf_append(b, p, n);
	return b->err ? b->err : 0;
}

/* ------------------------------------------------------------------ */
/* reader                                                               */

static long stdio_read(void *ctx, void *buf, size_t n)
{
	FILE *f = ctx;
	size_t got = fread(buf, 1, n, f);
	if (got < n && ferror(f))
		return -1;
	return (long)got;
}

static int stdio_skip(void *ctx, uint64_t n)
{
	FILE *f = ctx;
	if (n <= (uint64_t)INT64_MAX && fseeko(f, (off_t)n, SEEK_CUR) == 0)
		return 0;
	/* not seekable: read and drop */
	uint8_t tmp[4096];
	while (n > 0) {
		size_t k = n > sizeof(tmp) ? sizeof(tmp) : (size_t)n;
		size_t got = fread(tmp, 1, k, f);
		if (got != k)
			return ferror(f) ? SIEGEL_E_IO : SIEGEL_E_PARSE;
		n -= k;
	}
	return 0;
}

void tar_source_stdio(struct tar_source *s, FILE *f)
{
	memset(s, 0, sizeof(*s));
	s->read = stdio_read;
	s->skip = stdio_skip;
	s->ctx = f;
	off_t here = ftello(f);
	if (here >= 0 && fseeko(f, 0, SEEK_END) == 0) {
		off_t end = ftello(f);
		if (end >= here)
			s->total = (uint64_t)(end - here);
		if (fseeko(f, here, SEEK_SET) != 0)
			s->total = 0;
	}
}

/* Reads exactly n bytes: returns n, fewer at end of input, or -1. */
static long read_full(const struct tar_source *s, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		long r = s->read(s->ctx, (uint8_t *)buf + got, n - got);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (long)got;
}

/* Strict octal field: optional leading spaces, 1+ octal digits, then only
 * NUL or space up to the end of the field. allow_empty: an all-NUL/space
 * field is 0. Returns 0 or -1. */
static int parse_octal(uint64_t *out, const uint8_t *f, size_t w, int allow_empty)
{
	size_t i = 0;
	while (i < w && f[i] == ' ')
		i++;
	uint64_t v = 0;
	size_t digits = 0;
	for (; i < w && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
		if (v > (UINT64_MAX >> 3))
			return -1;
		v = (v << 3) | (uint64_t)(f[i] - '0');
	}
	for (; i < w; i++)
		if (f[i] != 0 && f[i] != ' ')
			return -1;
	if (digits == 0) {
		/* all NUL/space */
		if (!allow_empty)
			return -1;
		v = 0;
	}
	*out = v;
	return 0;
}

/* Copies a NUL-terminated (or full-width) text field; -1 if a byte after the
 * first NUL is not NUL (a sign of a corrupt header) is NOT checked: vendors
 * leave garbage there. */
static size_t field_text(char *out, const uint8_t *f, size_t w)
{
	size_t n = 0;
	while (n < w && f[n] != 0)
		n++;
	memcpy(out, f, n);
	out[n] = 0;
	return n;
}

static int header_checksum_ok(const uint8_t *h, uint64_t want)
{
	unsigned long usum = 0;
	long ssum = 0;
	for (size_t i = 0; i < TAR_BLOCK; i++) {
		uint8_t c = (i >= H_CHKSUM && i < H_CHKSUM + 8) ? ' ' : h[i];
		usum += c;
		ssum += (signed char)c;
	}
	return (uint64_t)usum == want || (ssum >= 0 && (uint64_t)ssum == want);
}

static int is_zero_block(const uint8_t *h)
{
	return memcmp(h, zero_block, TAR_BLOCK) == 0;
}

static int bad_header(struct tar_read_status *st, struct siegel_diag *d, uint64_t off,
	const char *name, const char *what)
{
	st->bad_header = 1;
	if (name != NULL && name[0])
		return siegel_fail(d, SIEGEL_E_PARSE, "tar header at offset %" PRIu64 " (member '%s'): %s",
			off, name, what);
	return siegel_fail(d, SIEGEL_E_PARSE, "tar header at offset %" PRIu64 ": %s", off, what);
}

/* Parses one non-zero header block into m. */
static int parse_header(struct tar_member *m, const uint8_t *h, uint64_t off,
	struct tar_read_status *st, struct siegel_diag *d)
{
	memset(m, 0, sizeof(*m));
	m->offset = off;
	char name[TAR_NAME_FIELD + 1], prefix[TAR_PREFIX_FIELD + 1];
	field_text(name, h + H_NAME, TAR_NAME_FIELD);
	int posix = memcmp(h + H_MAGIC, "ustar\0", 6) == 0;
	int gnu = memcmp(h + H_MAGIC, "ustar ", 6) == 0;
	if (!posix && !gnu)
		return bad_header(st, d, off, name, "not a ustar header (magic is not \"ustar\")");
	if (posix && memcmp(h + H_VERSION, "00", 2) != 0 && memcmp(h + H_VERSION, " \0", 2) != 0)
		return bad_header(st, d, off, name, "unknown ustar version");
	if (gnu && memcmp(h + H_VERSION, " \0", 2) != 0)
		return bad_header(st, d, off, name, "unknown GNU tar version");
	uint64_t sum = 0;
	if (parse_octal(&sum, h + H_CHKSUM, 8, 0) != 0)
		return bad_header(st, d, off, name, "checksum field is not octal");
	if (!header_checksum_ok(h, sum))
		return bad_header(st, d, off, name, "header checksum mismatch");
	prefix[0] = 0;
	if (posix)
		field_text(prefix, h + H_PREFIX, TAR_PREFIX_FIELD);
	if (prefix[0])
		snprintf(m->name, sizeof(m->name), "%s/%s", prefix, name);
	else
		snprintf(m->name, sizeof(m->name), "%s", name);
	uint64_t v = 0;
	if (parse_octal(&v, h + H_SIZE, 12, 0) != 0)
		return bad_header(st, d, off, m->name, "size field is not octal");
	m->size = v;
	if (parse_octal(&v, h + H_MTIME, 12, 1) != 0)
		return bad_header(st, d, off, m->name, "mtime field is not octal");
	m->mtime = v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
	if (parse_octal(&v, h + H_MODE, 8, 1) != 0)
		return bad_header(st, d, off, m->name, "mode field is not octal");
	/* uid, gid, uname, gname, devmajor/minor: any content (vendor variance). */
	m->type = h[H_TYPE] == 0 ? '0' : (char)h[H_TYPE];
	m->unsafe = tar_name_problem(m->name);
	return 0;
}

int tar_read(struct tar_read_status *st, const struct tar_source *src, tar_want_fn want,
	tar_member_fn fn, void *ctx, struct siegel_diag *d)
{
	memset(st, 0, sizeof(*st));
	uint8_t h[TAR_BLOCK];
	uint8_t *buf = NULL;
	size_t cap = 0;
	int rc = 0;
	struct tar_member m;
	for (;;) {
		uint64_t off = st->bytes;
		long got = read_full(src, h, TAR_BLOCK);
		if (got < 0) {
			rc = siegel_fail(d, SIEGEL_E_IO, "tar: read error at offset %" PRIu64, off);
			goto out;
		}
		st->bytes += (uint64_t)got;
		if (got < TAR_BLOCK) {
			st->truncated = 1;
			rc = siegel_fail(d, SIEGEL_E_PARSE, got == 0 && st->members > 0
				? "tar: truncated archive: no end-of-archive blocks after member %" PRIu64
				: "tar: truncated archive: input ends inside a header (member %" PRIu64 ")",
				st->members + 1);
			goto out;
		}
		if (is_zero_block(h)) {
			/* End of archive: a second zero block should follow; a lone one
			 * at the end of the input is accepted (as GNU tar does). */
			got = read_full(src, h, TAR_BLOCK);
			if (got < 0) {
				rc = siegel_fail(d, SIEGEL_E_IO, "tar: read error at offset %" PRIu64, st->bytes);
				goto out;
			}
			st->bytes += (uint64_t)got;
			if (got == TAR_BLOCK && !is_zero_block(h)) {
				rc = bad_header(st, d, off, NULL,
					"a zero block inside the archive (data after an end-of-archive block)");
				goto out;
			}
			st->end_seen = 1;
			rc = 0;
			goto out;
		}
		rc = parse_header(&m, h, off, st, d);
		if (rc)
			goto out;
		/* Non-regular members carry no data we read (hard/sym links and
		 * directories have size 0 by definition; others are skipped). */
		int regular = m.type == '0';
		uint64_t padded = (m.size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
		if (m.size > TAR_MAX_SIZE_FIELD) {
			rc = bad_header(st, d, off, m.name, "size out of range");
			goto out;
		}
		if (m.type == '1' || m.type == '2' || m.type == '5')
			padded = 0; /* these have no data even if size says so (POSIX) */
		if (src->total != 0 && padded > 0 && st->bytes + m.size > src->total) {
			st->truncated = 1;
			snprintf(st->truncated_member, sizeof(st->truncated_member), "%s", m.name);
			rc = siegel_fail(d, SIEGEL_E_PARSE,
				"tar: truncated archive: member '%s' declares %" PRIu64
				" bytes but only %" PRIu64 " remain", m.name, m.size, src->total - st->bytes);
			goto out;
		}
		int load = regular && (want == NULL || want(ctx, &m));
		if (load) {
			if (m.size > TAR_MAX_MEMBER) {
				rc = siegel_fail(d, SIEGEL_E_LIMIT, "tar member '%s': %" PRIu64
					" bytes, more than the limit of %zu", m.name, m.size, TAR_MAX_MEMBER);
				goto out;
			}
			if (padded > cap) {
				uint8_t *nb = realloc(buf, (size_t)padded);
				if (nb == NULL) {
					rc = SIEGEL_E_NOMEM;
					goto out;
				}
				buf = nb;
				cap = (size_t)padded;
			}
			got = padded ? read_full(src, buf, (size_t)padded) : 0;
			if (got < 0) {
				rc = siegel_fail(d, SIEGEL_E_IO, "tar: read error in member '%s'", m.name);
				goto out;
			}
			st->bytes += (uint64_t)got;
			if ((uint64_t)got < padded) {
				st->truncated = 1;
				snprintf(st->truncated_member, sizeof(st->truncated_member), "%s", m.name);
				rc = siegel_fail(d, SIEGEL_E_PARSE,
					"tar: truncated archive: member '%s' incomplete (%ld of %" PRIu64 " bytes)",
					m.name, got, m.size);
				goto out;
			}
			m.data = buf;
			m.len = (size_t)m.size;
		} else if (padded > 0) {
			int s = src->skip ? src->skip(src->ctx, padded) : SIEGEL_E_NOTSUP;
			if (s == SIEGEL_E_NOTSUP) {
				/* read and drop */
				uint8_t tmp[TAR_BLOCK];
				uint64_t left = padded;
				s = 0;
				while (left > 0 && s == 0) {
					long r = read_full(src, tmp, TAR_BLOCK);
					if (r != TAR_BLOCK)
						s = r < 0 ? SIEGEL_E_IO : SIEGEL_E_PARSE;
					left -= TAR_BLOCK;
				}
			}
			if (s) {
				st->truncated = s == SIEGEL_E_PARSE;
				snprintf(st->truncated_member, sizeof(st->truncated_member), "%s", m.name);
				rc = siegel_fail(d, s, "tar: member '%s' incomplete", m.name);
				goto out;
			}
			st->bytes += padded;
		}
		st->members++;
		if (fn != NULL) {
			rc = fn(ctx, &m, d);
			if (rc)
				goto out;
		}
	}
out:
	free(buf);
	return rc;
}
