#include "base.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

static const struct {
	int code;
	const char *name;
	const char *text;
} err_table[] = {
	{ SIEGEL_OK, "OK", "success" },
	{ SIEGEL_E_NOMEM, "E_NOMEM", "out of memory" },
	{ SIEGEL_E_INVAL, "E_INVAL", "invalid argument" },
	{ SIEGEL_E_PARSE, "E_PARSE", "malformed input" },
	{ SIEGEL_E_IO, "E_IO", "input/output error" },
	{ SIEGEL_E_DB, "E_DB", "database error" },
	{ SIEGEL_E_CRYPTO, "E_CRYPTO", "cryptographic operation failed" },
	{ SIEGEL_E_PKCS11, "E_PKCS11", "PKCS#11 token error" },
	{ SIEGEL_E_NOTFOUND, "E_NOTFOUND", "not found" },
	{ SIEGEL_E_LIMIT, "E_LIMIT", "input exceeds a limit" },
	{ SIEGEL_E_VERIFY, "E_VERIFY", "signature does not verify" },
	{ SIEGEL_E_NOTSUP, "E_NOTSUP", "not supported" },
	{ SIEGEL_E_EXISTS, "E_EXISTS", "already exists" },
	{ SIEGEL_E_STATE, "E_STATE", "wrong state for this operation" },
	{ SIEGEL_E_TIMESYNC, "E_TIMESYNC", "time synchronisation failed" },
	{ SIEGEL_E_BUSY, "E_BUSY", "resource busy" },
	{ SIEGEL_E_SE_NOT_INITIALIZED, "ErrorSeApiNotInitialized", "the TSS is not initialized" },
	{ SIEGEL_E_TIME_NOT_SET, "ErrorTimeNotSet", "the time has not been set (run updateTime)" },
	{ SIEGEL_E_NO_TRANSACTION, "ErrorNoTransaction", "no open transaction with this number for this client" },
	{ SIEGEL_E_SE_DISABLED, "ErrorSecureElementDisabled", "the TSS is disabled" },
	{ SIEGEL_E_UNAUTHENTICATED, "ErrorUserNotAuthenticated", "the user is not authenticated" },
	{ SIEGEL_E_UNAUTHORIZED, "ErrorUserNotAuthorized", "the user's role may not call this function" },
	{ SIEGEL_E_AUTH_FAILED, "ErrorAuthenticationFailed", "wrong PIN" },
	{ SIEGEL_E_PIN_BLOCKED, "ErrorPinIsBlocked", "the PIN is blocked (unblock with the PUK)" },
	{ SIEGEL_E_UNKNOWN_USER, "ErrorUnknownUserId", "unknown user id" },
	{ SIEGEL_E_UNBLOCK_FAILED, "ErrorUnblockFailed", "wrong PUK" },
	{ SIEGEL_E_CLIENT_NOT_REGISTERED, "ErrorClientNotRegistered", "the client is not registered" },
	{ SIEGEL_E_CLIENT_LIMIT, "ErrorMaxNumberOfClientsReached", "maximum number of clients reached" },
	{ SIEGEL_E_TX_LIMIT, "ErrorMaxNumberOfTransactionsReached", "maximum number of open transactions reached" },
	{ SIEGEL_E_INVALID_TIME, "ErrorInvalidTime", "the time from the time servers is not acceptable" },
	{ SIEGEL_E_ALREADY_INITIALIZED, "ErrorSeApiAlreadyInitialized", "the TSS is already initialized" },
	{ SIEGEL_E_SIGNING, "ErrorSigningFailed", "signing failed" },
	{ SIEGEL_E_STORAGE, "ErrorStorageFailure", "storing the log message failed" },
	{ SIEGEL_E_PARAM, "ErrorParameterMismatch", "invalid or inconsistent parameters" },
	{ SIEGEL_E_TOO_MANY_RECORDS, "ErrorTooManyRecords", "too many records for one export" },
	{ SIEGEL_E_UNEXPORTED, "ErrorUnexportedStoredData", "stored data has not been exported" },
	{ SIEGEL_E_NO_DATA, "ErrorNoDataAvailable", "no data available" },
	{ SIEGEL_E_SELFTEST, "ErrorSelfTestFailed", "self test failed" },
	{ SIEGEL_E_CLIENT_ID, "ErrorInvalidClientId", "invalid clientId" },
	{ SIEGEL_E_CERT_EXPIRED, "ErrorCertificateExpired", "the certificate has expired" },
};

static size_t err_index(int err)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == err)
			return i;
	return SIZE_MAX;
}

const char *siegel_strerror(int err)
{
	size_t i = err_index(err);
	return i == SIZE_MAX ? "unknown error" : err_table[i].text;
}

const char *siegel_err_name(int err)
{
	size_t i = err_index(err);
	return i == SIZE_MAX ? "E_UNKNOWN" : err_table[i].name;
}

static void diag_vset(struct siegel_diag *d, const char *fmt, va_list ap)
{
	if (d == NULL)
		return;
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
}

void siegel_diag_set(struct siegel_diag *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vset(d, fmt, ap);
	va_end(ap);
}

int siegel_fail(struct siegel_diag *d, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vset(d, fmt, ap);
	va_end(ap);
	return err;
}

/* ---- buffers ---- */

void siegel_buf_init(struct siegel_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void siegel_buf_free(struct siegel_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void siegel_buf_reset(struct siegel_buf *b)
{
	b->len = 0;
	b->err = 0;
}

int siegel_buf_reserve(struct siegel_buf *b, size_t extra)
{
	if (b->err)
		return b->err;
	if (extra > SIZE_MAX - b->len - 1) {
		b->err = SIEGEL_E_NOMEM;
		return b->err;
	}
	size_t need = b->len + extra + 1; /* room for a terminating NUL */
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *p = realloc(b->data, cap);
	if (p == NULL) {
		b->err = SIEGEL_E_NOMEM;
		return b->err;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void siegel_buf_append(struct siegel_buf *b, const void *p, size_t n)
{
	if (n == 0 || siegel_buf_reserve(b, n) != 0)
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
}

void siegel_buf_putc(struct siegel_buf *b, uint8_t c)
{
	siegel_buf_append(b, &c, 1);
}

void siegel_buf_puts(struct siegel_buf *b, const char *s)
{
	siegel_buf_append(b, s, strlen(s));
}

void siegel_buf_printf(struct siegel_buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (!b->err)
			b->err = SIEGEL_E_INVAL;
		va_end(ap2);
		return;
	}
	if (siegel_buf_reserve(b, (size_t)n) == 0) {
		vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2);
		b->len += (size_t)n;
	}
	va_end(ap2);
}

uint8_t *siegel_buf_steal(struct siegel_buf *b, size_t *len_out)
{
	if (siegel_buf_reserve(b, 0) != 0)
		return NULL;
	b->data[b->len] = 0; /* bytes may have been written directly (read()) */
	uint8_t *p = b->data;
	if (len_out)
		*len_out = b->len;
	memset(b, 0, sizeof(*b));
	return p;
}

/* ---- hex ---- */

void siegel_hex_encode(char *out, const uint8_t *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int siegel_hex_decode(uint8_t *out, size_t out_len, const char *hex)
{
	if (strlen(hex) != 2 * out_len)
		return SIEGEL_E_PARSE;
	for (size_t i = 0; i < out_len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return SIEGEL_E_PARSE;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int siegel_hex_decode_alloc(uint8_t **out, size_t *out_len, const char *hex)
{
	size_t n = strlen(hex);
	if (n % 2)
		return SIEGEL_E_PARSE;
	uint8_t *p = malloc(n / 2 + 1);
	if (p == NULL)
		return SIEGEL_E_NOMEM;
	int rc = siegel_hex_decode(p, n / 2, hex);
	if (rc) {
		free(p);
		return rc;
	}
	*out = p;
	*out_len = n / 2;
	return 0;
}

/* ---- base64 ---- */

static const char b64_alpha[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *siegel_b64_encode(const uint8_t *in, size_t n)
{
	if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	size_t olen = (n + 2) / 3 * 4;
	char *out = malloc(olen + 1);
	if (out == NULL)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64_alpha[v >> 18 & 63];
		out[o++] = b64_alpha[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64_alpha[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64_alpha[v & 63] : '=';
	}
	out[o] = 0;
	return out;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int siegel_b64_decode(uint8_t **out, size_t *out_len, const char *in, size_t in_len,
	int allow_ws)
{
	/* Collect the significant characters first; whitespace only if allowed. */
	char *s = malloc(in_len + 1);
	uint8_t *p = malloc(in_len / 4 * 3 + 3);
	size_t n = 0, o = 0;
	int rc = SIEGEL_E_PARSE;
	if (s == NULL || p == NULL) {
		rc = SIEGEL_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < in_len; i++) {
		char c = in[i];
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
			if (!allow_ws)
				goto out;
			continue;
		}
		s[n++] = c;
	}
	if (n % 4 != 0)
		goto out;
	for (size_t i = 0; i < n; i += 4) {
		int last = i + 4 == n;
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=') {
				/* padding only in the last quantum, only in positions 2 and 3 */
				if (!last || k < 2)
					goto out;
				pad++;
				v[k] = 0;
			} else {
				if (pad)
					goto out;
				v[k] = b64val((unsigned char)s[i + k]);
				if (v[k] < 0)
					goto out;
			}
		}
		uint32_t acc = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		p[o++] = (uint8_t)(acc >> 16);
		if (pad < 2)
			p[o++] = (uint8_t)(acc >> 8);
		if (pad < 1)
			p[o++] = (uint8_t)acc;
	}
	*out = p;
	*out_len = o;
	p = NULL;
	rc = 0;
out:
	free(s);
	free(p);
	return rc;
}

/* ---- secret memory ---- */

void siegel_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

void *siegel_secmem_alloc(size_t n)
{
	if (n == 0)
		n = 1;
	void *p = calloc(1, n);
	if (p == NULL)
		return NULL;
	(void)mlock(p, n); /* best effort: an unprivileged test may lack the limit */
	(void)madvise(p, n, MADV_DONTDUMP);
	return p;
}

void siegel_secmem_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	if (n == 0)
		n = 1;
	siegel_wipe(p, n);
	(void)munlock(p, n);
	free(p);
}

/* ---- numbers ---- */

int siegel_strtoll(long long *out, const char *s, long long min, long long max)
{
	if (s == NULL || *s == 0)
		return SIEGEL_E_PARSE;
	const char *q = s;
	if (*q == '-' || *q == '+')
		q++;
	if (*q < '0' || *q > '9')
		return SIEGEL_E_PARSE;
	errno = 0;
	char *end = NULL;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != 0)
		return SIEGEL_E_PARSE;
	if (v < min || v > max)
		return SIEGEL_E_LIMIT;
	*out = v;
	return 0;
}

/* ---- files ---- */

int siegel_read_file(uint8_t **out, size_t *out_len, const char *path, size_t max_len,
	struct siegel_diag *d)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return siegel_fail(d, errno == ENOENT ? SIEGEL_E_NOTFOUND : SIEGEL_E_IO,
			"%s: %s", path, strerror(errno));
	struct siegel_buf b;
	siegel_buf_init(&b);
	int rc = 0;
	for (;;) {
		if (siegel_buf_reserve(&b, 65536) != 0) {
			rc = SIEGEL_E_NOMEM;
			break;
		}
		ssize_t n = read(fd, b.data + b.len, 65536);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = siegel_fail(d, SIEGEL_E_IO, "%s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
		if (b.len > max_len) {
			rc = siegel_fail(d, SIEGEL_E_LIMIT, "%s: larger than the limit of %zu bytes",
				path, max_len);
			break;
		}
	}
	close(fd);
	if (rc) {
		siegel_buf_free(&b);
		return rc;
	}
	*out = siegel_buf_steal(&b, out_len);
	return *out ? 0 : SIEGEL_E_NOMEM;
}

int siegel_write_file_atomic(const char *path, const void *data, size_t len, int mode,
	struct siegel_diag *d)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16);
	if (tmp == NULL)
		return SIEGEL_E_NOMEM;
	snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		int rc = siegel_fail(d, SIEGEL_E_IO, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	int rc = 0;
	const uint8_t *p = data;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = siegel_fail(d, SIEGEL_E_IO, "%s: %s", tmp, strerror(errno));
			break;
		}
		off += (size_t)n;
	}
	if (rc == 0 && fchmod(fd, (mode_t)mode) != 0)
		rc = siegel_fail(d, SIEGEL_E_IO, "%s: chmod: %s", tmp, strerror(errno));
	if (rc == 0 && fsync(fd) != 0)
		rc = siegel_fail(d, SIEGEL_E_IO, "%s: fsync: %s", tmp, strerror(errno));
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = siegel_fail(d, SIEGEL_E_IO, "%s: rename: %s", path, strerror(errno));
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	if (rc == 0) {
		char *dir = strdup(path);
		if (dir == NULL)
			return SIEGEL_E_NOMEM;
		char *slash = strrchr(dir, '/');
		const char *dname = ".";
		if (slash != NULL) {
			*slash = 0;
			dname = slash == dir ? "/" : dir;
		}
		int dfd = open(dname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	return rc;
}

int siegel_mkdir_p(const char *path, int mode)
{
	char *p = strdup(path);
	if (p == NULL)
		return SIEGEL_E_NOMEM;
	int rc = 0;
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == 0) {
			char c = *s;
			*s = 0;
			if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
				rc = SIEGEL_E_IO;
				break;
			}
			*s = c;
			if (c == 0)
				break;
		}
	}
	free(p);
	return rc;
}

int siegel_path_join(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= cap ? SIEGEL_E_LIMIT : 0;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int siegel_dir_list(char ***paths_out, size_t *n_out, const char *dir, size_t max,
	int missing_ok, int (*keep)(const char *path, void *ctx), void *ctx,
	struct siegel_diag *d)
{
	*paths_out = NULL;
	*n_out = 0;
	DIR *dh = opendir(dir);
	if (dh == NULL) {
		if (missing_ok && errno == ENOENT)
			return 0;
		return siegel_fail(d, SIEGEL_E_IO, "%s: %s", dir, strerror(errno));
	}
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(dh)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		if (siegel_path_join(path, sizeof(path), dir, e->d_name) != 0)
			continue;
		if (keep != NULL && !keep(path, ctx))
			continue;
		if (n >= max) {
			rc = siegel_fail(d, SIEGEL_E_LIMIT, "%s: more than %zu entries", dir, max);
			break;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			char **nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				rc = siegel_fail(d, SIEGEL_E_NOMEM, "%s: out of memory", dir);
				break;
			}
			v = nv;
		}
		if ((v[n] = strdup(path)) == NULL) {
			rc = siegel_fail(d, SIEGEL_E_NOMEM, "%s: out of memory", dir);
			break;
		}
		n++;
	}
	closedir(dh);
	if (rc) {
		siegel_strv_free(v, n);
		return rc;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_strp);
	*paths_out = v;
	*n_out = n;
	return 0;
}

void siegel_strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- config text ---- */

char *siegel_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

char *siegel_conf_line(char **cursor, int *line)
{
	char *l = *cursor;
	if (l == NULL)
		return NULL;
	char *nl = strchr(l, '\n');
	if (nl != NULL)
		*nl++ = 0;
	*cursor = nl; /* NULL after the last line */
	(*line)++;
	char *hash = strchr(l, '#');
	if (hash != NULL)
		*hash = 0;
	return siegel_trim(l);
}

int siegel_conf_kv(char *line, char **key, char **value)
{
	char *eq = strchr(line, '=');
	if (eq == NULL)
		return SIEGEL_E_PARSE;
	*eq = 0;
	*key = siegel_trim(line);
	*value = siegel_trim(eq + 1);
	return 0;
}

/* ---- clock ---- */

static int64_t sys_now(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static int64_t sys_mono_ns(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const struct siegel_clock system_clock = { sys_now, sys_mono_ns, NULL };

const struct siegel_clock *siegel_clock_system(void)
{
	return &system_clock;
}
