/* logmsg: TR-03151 v1.0.1 log messages (log version 2): encoding with an
 * injected signer, a strict decoder, verification, export file names, the
 * systemOperationData of every system log siegel writes, App. D serial number
 * lists and the DSFinV-K receipt QR code.
 *
 * LogMessage ::= SEQUENCE { version INTEGER(2), certifiedDataType OID,
 *   certifiedData (fields, not wrapped), serialNumber OCTET STRING,
 *   signatureAlgorithm AlgorithmIdentifier, seAuditData OCTET STRING OPTIONAL,
 *   signatureCounter INTEGER, logTime Time, signatureValue OCTET STRING }
 * Signature input (DTBS) = every TLV before signatureValue, as encoded. */
#ifndef SIEGEL_LOGMSG_H
#define SIEGEL_LOGMSG_H

#include <stddef.h>
#include <stdint.h>

#include "alg/alg.h"
#include "base/base.h"

#define LOGMSG_MAX_SIZE ((size_t)16 << 20)   /* hard limit on one message */
#define LOGMSG_MAX_PROCESS_TYPE 100
#define LOGMSG_MAX_CLIENT_ID 30               /* TR-03151-1 App. A */

enum logmsg_kind {
	LOGMSG_TRANSACTION = 1,  /* 0.4.0.127.0.7.3.7.1.1 */
	LOGMSG_SYSTEM = 2,       /* 0.4.0.127.0.7.3.7.1.2 */
	LOGMSG_AUDIT = 3,        /* 0.4.0.127.0.7.3.7.1.3 */
};

enum logmsg_time_format {
	LOGMSG_TIME_UNIX = 0,        /* INTEGER, default */
	LOGMSG_TIME_UTC = 1,         /* UTCTime YYMMDDhhmmssZ */
	LOGMSG_TIME_GENERALIZED = 2, /* GeneralizedTime YYYYMMDDhhmmss[.fff]Z */
};

struct logmsg_bytes {
	const uint8_t *p;
	size_t len;
};

struct logmsg_time {
	enum logmsg_time_format fmt;
	int64_t unix_sec;
	uint32_t millis;   /* fraction of GeneralizedTime, 0 otherwise */
	/* For UTC/Generalized: the exact string as decoded (or as encoded). */
	char text[32];
};

struct logmsg {
	enum logmsg_kind kind;
	/* certifiedData, transaction log */
	struct logmsg_bytes operation_type;   /* [0] tx + system */
	struct logmsg_bytes client_id;        /* [1] tx */
	struct logmsg_bytes process_data;     /* [2] tx: the value (chunks joined) */
	int has_process_type;
	struct logmsg_bytes process_type;     /* [3] tx */
	int has_additional_external;
	struct logmsg_bytes additional_external; /* [4] tx */
	uint64_t transaction_number;          /* [5] tx */
	int has_additional_internal;
	struct logmsg_bytes additional_internal; /* [6] tx, [2] system */
	/* certifiedData, system log */
	struct logmsg_bytes system_operation_data; /* [1] system: content octets */
	/* common */
	struct logmsg_bytes serial_number;    /* 32 bytes */
	enum siegel_alg alg;                  /* encode: selects the OID */
	int has_se_audit_data;
	struct logmsg_bytes se_audit_data;    /* audit logs */
	uint64_t signature_counter;
	struct logmsg_time log_time;

	/* encode only: if n_chunks > 0, processData is written BER constructed
	 * indefinite (A2 80 04 .. 04 .. 00 00) from these chunks instead. */
	const struct logmsg_bytes *process_data_chunks;
	size_t n_process_data_chunks;

	/* decode only (point into the parsed buffer unless noted) */
	int process_data_indefinite;
	const char *sig_alg_name;             /* "ecdsa-plain-SHA256" ... */
	int sig_hash_nid;
	struct logmsg_bytes sig_alg_tlv;      /* signatureAlgorithm TLV */
	struct logmsg_bytes signature;        /* r||s */
	struct logmsg_bytes dtbs;             /* signed bytes */
	uint8_t *owned;                       /* joined processData chunks; logmsg_clear frees */
};

/* Signs dtbs, writing plain r||s (BSI TR-03111) to sig_out (ALG_MAX_SIG). */
typedef int (*logmsg_sign_fn)(void *ctx, uint8_t *sig_out, size_t *sig_len,
	const uint8_t *dtbs, size_t dtbs_len);

/* Encodes m as DER (definite length except requested processData chunks),
 * calls sign over the DTBS and appends the signatureValue. Appends to out.
 * Checks field limits (clientId length/charset are the caller's policy, but
 * processType > 100 bytes is rejected here). */
int logmsg_encode(struct siegel_buf *out, const struct logmsg *m, logmsg_sign_fn sign,
	void *sign_ctx, struct siegel_diag *d) SIEGEL_WUR;
/* The DTBS alone (what the signer will be given) for m. */
int logmsg_encode_dtbs(struct siegel_buf *out, const struct logmsg *m,
	struct siegel_diag *d) SIEGEL_WUR;

/* Strict decode. m points into der (which must outlive it) plus m->owned.
 * Rejects wrong tags, non-minimal or bad lengths, trailing bytes, unknown
 * certifiedDataType, version != 2; BER indefinite length only for processData.
 * The diagnostic names the TR element. */
int logmsg_parse(struct logmsg *m, const uint8_t *der, size_t der_len,
	struct siegel_diag *d) SIEGEL_WUR;
void logmsg_clear(struct logmsg *m);

/* Verifies the decoded message with pkey; 0, SIEGEL_E_VERIFY or an error.
 * Also checks serial_number == SHA-256 of the key when check_serial. */
int logmsg_verify(const struct logmsg *m, const EVP_PKEY *pkey, int check_serial) SIEGEL_WUR;

/* Time helpers */
int logmsg_time_set(struct logmsg_time *t, enum logmsg_time_format fmt, int64_t unix_sec) SIEGEL_WUR;
const char *logmsg_time_format_name(enum logmsg_time_format fmt); /* "unixTime" ... */
int logmsg_time_format_parse(enum logmsg_time_format *out, const char *name) SIEGEL_WUR;
/* "2024-05-20T10:01:35.000Z" */
void logmsg_time_iso(char out[32], int64_t unix_sec, uint32_t millis);

/* Export file name (TR-03151 5.1.2/5.1.3) without the _Fc-<n> suffix:
 * Unixt_<t>_Sig-<n>_Log-Tra_No-<tx>_<Start|Update|Finish>_Client-<id>.log,
 * ..._Log-Sys_<operationType>.log, ..._Log-Aud.log. Appends to out. */
int logmsg_file_name(struct siegel_buf *out, const struct logmsg *m) SIEGEL_WUR;

/* systemOperationData content for the system logs siegel writes (values
 * untagged inside context tags, TR-03151 amendment §6). Appends to out. */
enum logmsg_role { LOGMSG_ROLE_UNKNOWN = 0, LOGMSG_ROLE_ADMIN = 1, LOGMSG_ROLE_TIMEADMIN = 2 };
void logmsg_sys_initialize(struct siegel_buf *out, const char *description);
/* 81 time-before 82 time-after, each in the log time format (unix: 4 bytes
 * big-endian when it fits, else 8). */
void logmsg_sys_update_time(struct siegel_buf *out, enum logmsg_time_format fmt,
	int64_t before, int64_t after);
void logmsg_sys_authenticate_user(struct siegel_buf *out, const char *user_id,
	enum logmsg_role role, int ok);
void logmsg_sys_log_out(struct siegel_buf *out, const char *user_id, int cause_timeout);
void logmsg_sys_unblock_user(struct siegel_buf *out, const char *user_id, int result);
void logmsg_sys_client(struct siegel_buf *out, const char *client_id); /* (de)registerClient */
void logmsg_sys_disable(struct siegel_buf *out, enum logmsg_time_format fmt, int64_t when);
/* selfTest: 81 component 82 result(0 ok) 83 detail */
void logmsg_sys_self_test(struct siegel_buf *out, const char *component, int result,
	const char *detail);

/* exportSerialNumbers (TR-03151 App. D): SEQUENCE OF { serial, {80 tx, 81 sys, 82 aud} } */
struct logmsg_serial_record {
	uint8_t serial[ALG_SERIAL_LEN];
	int transaction_log, system_log, audit_log;
};
int logmsg_serials_encode(struct siegel_buf *out, const struct logmsg_serial_record *r,
	size_t n) SIEGEL_WUR;

/* DSFinV-K receipt QR string V0;... for a FinishTransaction log, given the
 * start time of the transaction and the public key (04||X||Y). */
int logmsg_qr_code(struct siegel_buf *out, const struct logmsg *finish, int64_t start_unix,
	uint32_t start_millis, const uint8_t *pub, size_t pub_len) SIEGEL_WUR;

#endif
