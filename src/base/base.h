/* base: error codes, diagnostics, byte buffers, hex/base64, locked memory.
 * No dependencies beyond libc and OpenSSL's cleanse; every other module uses it. */
#ifndef SIEGEL_BASE_H
#define SIEGEL_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#define SIEGEL_WUR __attribute__((warn_unused_result))

/* Error codes: 0 is success, every error is negative. The TR-03151 names
 * (siegel_err_name) are the stable codes clients see. */
typedef enum {
	SIEGEL_OK = 0,
	SIEGEL_E_NOMEM = -1,
	SIEGEL_E_INVAL = -2,          /* bad argument from the caller */
	SIEGEL_E_PARSE = -3,          /* malformed untrusted input */
	SIEGEL_E_IO = -4,
	SIEGEL_E_DB = -5,
	SIEGEL_E_CRYPTO = -6,
	SIEGEL_E_PKCS11 = -7,
	SIEGEL_E_NOTFOUND = -8,
	SIEGEL_E_LIMIT = -9,          /* input over a configured hard limit */
	SIEGEL_E_VERIFY = -10,        /* a signature does not verify */
	SIEGEL_E_NOTSUP = -11,
	SIEGEL_E_EXISTS = -12,
	SIEGEL_E_STATE = -13,         /* wrong lifecycle state for the call */
	SIEGEL_E_TIMESYNC = -14,      /* no usable answer from any time server */
	SIEGEL_E_BUSY = -15,

	/* TR-03151 v1.0.1 SE API error names */
	SIEGEL_E_SE_NOT_INITIALIZED = -100, /* ErrorSeApiNotInitialized */
	SIEGEL_E_TIME_NOT_SET = -101,       /* ErrorTimeNotSet */
	SIEGEL_E_NO_TRANSACTION = -102,     /* ErrorNoTransaction */
	SIEGEL_E_SE_DISABLED = -103,        /* ErrorSecureElementDisabled */
	SIEGEL_E_UNAUTHENTICATED = -104,    /* ErrorUserNotAuthenticated */
	SIEGEL_E_UNAUTHORIZED = -105,       /* ErrorUserNotAuthorized */
	SIEGEL_E_AUTH_FAILED = -106,        /* ErrorAuthenticationFailed */
	SIEGEL_E_PIN_BLOCKED = -107,        /* ErrorPinIsBlocked */
	SIEGEL_E_UNKNOWN_USER = -108,       /* ErrorUnknownUserId */
	SIEGEL_E_UNBLOCK_FAILED = -109,     /* ErrorUnblockFailed */
	SIEGEL_E_CLIENT_NOT_REGISTERED = -110, /* ErrorClientNotRegistered */
	SIEGEL_E_CLIENT_LIMIT = -111,       /* ErrorMaxNumberOfClientsReached */
	SIEGEL_E_TX_LIMIT = -112,           /* ErrorMaxNumberOfTransactionsReached */
	SIEGEL_E_INVALID_TIME = -113,       /* ErrorInvalidTime */
	SIEGEL_E_ALREADY_INITIALIZED = -114,/* ErrorSeApiAlreadyInitialized (vendor name) */
	SIEGEL_E_SIGNING = -115,            /* ErrorSigningSystemOperationDataFailed / ErrorSignatureFailed */
	SIEGEL_E_STORAGE = -116,            /* ErrorStorageFailure */
	SIEGEL_E_PARAM = -117,              /* ErrorParameterMismatch / invalid parameter */
	SIEGEL_E_TOO_MANY_RECORDS = -118,   /* ErrorTooManyRecords */
	SIEGEL_E_UNEXPORTED = -119,         /* ErrorUnexportedStoredData */
	SIEGEL_E_NO_DATA = -120,            /* ErrorNoDataAvailable */
	SIEGEL_E_SELFTEST = -121,           /* ErrorSelfTestFailed */
	SIEGEL_E_CLIENT_ID = -122,          /* invalid clientId (TR-03151-1 App. A) */
	SIEGEL_E_CERT_EXPIRED = -123,       /* ErrorCertificateExpired */
} siegel_err;

/* Short English description of an error code. Never NULL. */
const char *siegel_strerror(int err);
/* Stable code name: the TR-03151 name for SE API errors ("ErrorTimeNotSet"),
 * otherwise an upper-case name ("E_PARSE"). Never NULL. */
const char *siegel_err_name(int err);

/* Diagnostics: a human-readable message that says what exactly went wrong,
 * e.g. "TR-03151 LogMessage.signatureCounter: want INTEGER, got tag 0x04".
 * Functions take an optional `struct siegel_diag *` (may be NULL). */
struct siegel_diag {
	char msg[512];
};
void siegel_diag_set(struct siegel_diag *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Sets the message and returns err, for `return siegel_fail(d, E, "...")`. */
int siegel_fail(struct siegel_diag *d, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Growable byte buffer with a sticky error: appends after a failed append are
 * no-ops, so callers check `err` once at the end. Free with siegel_buf_free. */
struct siegel_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int err;
};
void siegel_buf_init(struct siegel_buf *b);
void siegel_buf_free(struct siegel_buf *b);
void siegel_buf_reset(struct siegel_buf *b); /* len = 0, keeps memory, clears err */
int siegel_buf_reserve(struct siegel_buf *b, size_t extra);
void siegel_buf_append(struct siegel_buf *b, const void *p, size_t n);
void siegel_buf_putc(struct siegel_buf *b, uint8_t c);
void siegel_buf_puts(struct siegel_buf *b, const char *s);
void siegel_buf_printf(struct siegel_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Hands the bytes to the caller (free()) and resets b. NUL-terminates. */
uint8_t *siegel_buf_steal(struct siegel_buf *b, size_t *len_out);

/* Hex: lower case. out must hold 2*n+1 chars. */
void siegel_hex_encode(char *out, const uint8_t *in, size_t n);
/* Decodes exactly 2*out_len hex digits (either case). */
int siegel_hex_decode(uint8_t *out, size_t out_len, const char *hex) SIEGEL_WUR;
/* Decodes a hex string of any even length into a malloc'd buffer. */
int siegel_hex_decode_alloc(uint8_t **out, size_t *out_len, const char *hex) SIEGEL_WUR;

/* Base64 (RFC 4648, with padding). Result is malloc'd and NUL-terminated. */
char *siegel_b64_encode(const uint8_t *in, size_t n);
/* Strict decode: rejects characters outside the alphabet (whitespace allowed
 * only when allow_ws), wrong padding. Result malloc'd. */
int siegel_b64_decode(uint8_t **out, size_t *out_len, const char *in, size_t in_len,
	int allow_ws) SIEGEL_WUR;

/* Locked, wiped memory for secrets (PINs, PUKs). siegel_secmem_free wipes
 * before releasing; NULL is a no-op. mlock failure is tolerated (reported by
 * siegel_secmem_locked) so tests run without CAP_IPC_LOCK. */
void *siegel_secmem_alloc(size_t n);
void siegel_secmem_free(void *p, size_t n);
void siegel_wipe(void *p, size_t n);

/* Strict decimal parse of a whole string into [min, max]. */
int siegel_strtoll(long long *out, const char *s, long long min, long long max) SIEGEL_WUR;

/* Files */
int siegel_read_file(uint8_t **out, size_t *out_len, const char *path, size_t max_len,
	struct siegel_diag *d) SIEGEL_WUR;
/* Writes atomically: temp file in the same directory, fsync, rename, fsync dir. */
int siegel_write_file_atomic(const char *path, const void *data, size_t len, int mode,
	struct siegel_diag *d) SIEGEL_WUR;
int siegel_mkdir_p(const char *path, int mode) SIEGEL_WUR;
/* out = dir + "/" + name; SIEGEL_E_LIMIT if it does not fit in cap. */
int siegel_path_join(char *out, size_t cap, const char *dir, const char *name) SIEGEL_WUR;
/* The entries of dir as "dir/name" paths in strcmp order (free with
 * siegel_strv_free). Names starting with '.' are skipped, and so is every path
 * keep (when not NULL) returns 0 for. More than max kept entries is
 * SIEGEL_E_LIMIT. A dir that does not exist lists as empty with missing_ok,
 * else it is SIEGEL_E_IO like any other dir that cannot be opened. */
int siegel_dir_list(char ***paths_out, size_t *n_out, const char *dir, size_t max,
	int missing_ok, int (*keep)(const char *path, void *ctx), void *ctx,
	struct siegel_diag *d) SIEGEL_WUR;
/* Frees the n strings of v and v. NULL-safe. */
void siegel_strv_free(char **v, size_t n);

/* Config text ("key = value" lines, '#' comments), parsed in place. */
/* s without leading and trailing white space (the end is cut in place). */
char *siegel_trim(char *s);
/* Cuts the next line off the NUL-terminated text at *cursor and returns it
 * without its '#' comment and surrounding white space, possibly empty; NULL
 * when the text is used up. *line counts the lines returned (from 1). */
char *siegel_conf_line(char **cursor, int *line);
/* Splits "key = value" at the first '=' into trimmed key and value;
 * SIEGEL_E_PARSE when there is no '='. */
int siegel_conf_kv(char *line, char **key, char **value) SIEGEL_WUR;

/* Clock: injectable so tests are reproducible. now returns Unix seconds (UTC)
 * of the host clock; mono returns a monotonic nanosecond count. */
struct siegel_clock {
	int64_t (*now)(void *ctx);
	int64_t (*mono_ns)(void *ctx);
	void *ctx;
};
/* The system clock (CLOCK_REALTIME / CLOCK_MONOTONIC). */
const struct siegel_clock *siegel_clock_system(void);

#endif
