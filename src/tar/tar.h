/* tar: POSIX.1-1988 ustar archives as TR-03151 v1.0.1 §5 / App. C wants them
 * (regular files in the root, typeflag '0', magic "ustar\0" version "00",
 * 512-byte blocks, two zero blocks at the end).
 *
 * The writer streams through a callback, one member at a time, so an export
 * of any size needs constant memory. The reader is a strict streaming parser
 * of untrusted archives: it checks every header (checksum, octal fields,
 * name field termination), detects truncation and reports each member to a
 * callback with its type, so callers can refuse directories, links and
 * unsafe names. It tolerates what real TSE exports vary in: GNU magic
 * "ustar  \0", any uname/gname/uid/gid, octal fields padded with spaces or
 * NULs ("000644 \0", "0100644 "), with or without 10240-byte record padding. */
#ifndef SIEGEL_TAR_H
#define SIEGEL_TAR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/base.h"

#define TAR_BLOCK 512
#define TAR_NAME_FIELD 100               /* ustar name field */
#define TAR_PREFIX_FIELD 155             /* ustar prefix field */
#define TAR_MAX_NAME (TAR_PREFIX_FIELD + 1 + TAR_NAME_FIELD)
#define TAR_MAX_MEMBER ((size_t)32 << 20) /* hard limit on one member the reader loads */
#define TAR_MAX_SIZE_FIELD ((uint64_t)077777777777) /* 11 octal digits: 8 GiB - 1 */

/* ---- writer ---- */

/* Writes n bytes; 0 or a negative siegel_err. */
typedef int (*tar_write_fn)(void *ctx, const void *p, size_t n);

struct tar_writer {
	tar_write_fn write;
	void *ctx;
	int64_t mtime;      /* archive creation time, used for every member */
	uint64_t bytes;     /* written so far */
	uint64_t members;
	int err;            /* sticky: after an error every call returns it */
};

void tar_writer_init(struct tar_writer *w, tar_write_fn write, void *ctx, int64_t mtime);
/* Writes one regular file (mode 0644, uid/gid 0, empty uname/gname) with its
 * data and padding. The name must be 1..100 bytes of printable ASCII without
 * '/', and not "." or "..": SIEGEL_E_PARAM otherwise (the diag names it). */
int tar_write_file(struct tar_writer *w, const char *name, const void *data, size_t len,
	struct siegel_diag *d) SIEGEL_WUR;
/* Writes the two zero blocks that end the archive. */
int tar_write_end(struct tar_writer *w, struct siegel_diag *d) SIEGEL_WUR;
/* A tar_write_fn for a stdio stream (ctx = FILE *). */
int tar_write_stdio(void *ctx, const void *p, size_t n);
/* A tar_write_fn appending to a struct siegel_buf (ctx). */
int tar_write_buf(void *ctx, const void *p, size_t n);

/* ---- reader ---- */

/* A source of archive bytes. read returns bytes read (0 at end of input,
 * < 0 on error); skip (optional) advances n bytes, 0 or < 0. */
struct tar_source {
	long (*read)(void *ctx, void *buf, size_t n);
	int (*skip)(void *ctx, uint64_t n);
	void *ctx;
	uint64_t total;     /* size of the input if known (0 = unknown): sizes are checked against it */
};
/* A source reading a stdio stream (seekable streams skip with fseeko). */
void tar_source_stdio(struct tar_source *s, FILE *f);

struct tar_member {
	char name[TAR_MAX_NAME + 1];   /* prefix "/" name as stored */
	char type;                     /* typeflag; '0' for regular files ('\0' mapped to '0') */
	uint64_t size;                 /* from the header */
	int64_t mtime;
	uint64_t offset;               /* of the header in the archive */
	/* Name problems (NULL = fine): "absolute name", "'..' component",
	 * "directory part ('/')", "empty name", "control character". */
	const char *unsafe;
	/* Data: only for regular members the callback asked for (want_data). */
	const uint8_t *data;
	size_t len;
};

/* Called for each header before the data is read: return 1 to get the data
 * (regular files only), 0 to skip it. NULL = always 1. */
typedef int (*tar_want_fn)(void *ctx, const struct tar_member *m);
/* Called for every member (any type). A non-zero return stops reading and is
 * returned by tar_read. */
typedef int (*tar_member_fn)(void *ctx, const struct tar_member *m, struct siegel_diag *d);

struct tar_read_status {
	uint64_t members;
	uint64_t bytes;                /* consumed */
	int end_seen;                  /* the two zero blocks were found */
	int truncated;                 /* input ended inside a header, a member or before the end blocks */
	char truncated_member[TAR_MAX_NAME + 1]; /* the member cut off ("" if between members) */
	int bad_header;                /* a header failed a check (checksum, octal, magic) */
};

/* Reads the whole archive. Returns 0 when it ended with the end blocks,
 * SIEGEL_E_PARSE for a malformed header or a truncated archive (status says
 * which, the diag names the member and the offset), SIEGEL_E_LIMIT for a
 * member over TAR_MAX_MEMBER that was wanted, or what the callback returned. */
int tar_read(struct tar_read_status *st, const struct tar_source *src, tar_want_fn want,
	tar_member_fn fn, void *ctx, struct siegel_diag *d) SIEGEL_WUR;

/* Checks one member name for the TR-03151 rule "files in the root only":
 * NULL if fine, else a short reason (see tar_member.unsafe). */
const char *tar_name_problem(const char *name);
/* The part of name after the last '/' (for reporting). */
const char *tar_basename(const char *name);

#endif
