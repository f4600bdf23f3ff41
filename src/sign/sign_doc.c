/* sign_doc: reading a document to sign. The buffer is the caller's and is
 * reused from one document to the next; a regular file is read with one
 * read(2) into memory sized by the confirmed size or fstat (no 64 KiB steps
 * with reallocs, no second read for the end: a file that grows meanwhile is
 * read up to a little more than that size; the caller's size and hash check
 * decide whether those are the confirmed bytes), and the
 * bytes are hashed as read so that the confirmation check and the PAdES
 * byte-range hash share one pass over the document. */
#include "sign/sign.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sign_doc_read(struct siegel_buf *b, EVP_MD_CTX *sha, const char *path, size_t max_len,
	size_t expect, struct siegel_diag *d)
{
	if (b == NULL || path == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "read: no buffer or path");
	siegel_buf_reset(b);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return siegel_fail(d, errno == ENOENT ? SIEGEL_E_NOTFOUND : SIEGEL_E_IO, "%s: %s",
			path, strerror(errno));
	struct stat st;
	size_t step = 65536, size = SIZE_MAX;
	int known = expect != SIGN_DOC_SIZE_UNKNOWN && expect <= max_len;
	if (known) {
		size = expect;
		step = expect + 2; /* room to see expect + 1 bytes in one read */
	} else if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
		   (uint64_t)st.st_size <= max_len) {
		size = (size_t)st.st_size;
		step = size + 1;
	}
	int rc = 0;
	if (siegel_buf_reserve(b, step) != 0)
		rc = siegel_fail(d, SIEGEL_E_NOMEM, "%s: out of memory", path);
	while (rc == 0) {
		if (b->cap - b->len < 2 && siegel_buf_reserve(b, 65536) != 0) {
			rc = siegel_fail(d, SIEGEL_E_NOMEM, "%s: out of memory", path);
			break;
		}
		/* cap - len - 1: siegel_buf keeps room for a terminating NUL */
		ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = siegel_fail(d, SIEGEL_E_IO, "%s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		if (b->len > max_len) {
			rc = siegel_fail(d, SIEGEL_E_LIMIT, "%s: larger than the limit of %zu bytes",
				path, max_len);
			break;
		}
		if (b->len == size || (known && b->len > size))
			break;
	}
	close(fd);
	if (rc == 0 && sha != NULL && EVP_DigestUpdate(sha, b->data, b->len) != 1)
		rc = siegel_fail(d, SIEGEL_E_CRYPTO, "%s: hashing failed", path);
	if (rc)
		siegel_buf_reset(b);
	return rc;
}
