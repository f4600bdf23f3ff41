/* logmsg: TR-03151 v1.0.1 log messages (version 2). Encoder and decoder share
 * the byte layout in this file (tse-reference.md §2); signing goes through an
 * injected callback, verification through alg. */
#include "logmsg/logmsg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "der/der.h"

/* id-SE-API-transaction-log / system-log / SE-audit-log (0.4.0.127.0.7.3.7.1.x) */
static const uint8_t oid_tx[] = { 0x04, 0x00, 0x7f, 0x00, 0x07, 0x03, 0x07, 0x01, 0x01 };
static const uint8_t oid_sys[] = { 0x04, 0x00, 0x7f, 0x00, 0x07, 0x03, 0x07, 0x01, 0x02 };
static const uint8_t oid_aud[] = { 0x04, 0x00, 0x7f, 0x00, 0x07, 0x03, 0x07, 0x01, 0x03 };

#define LOG_VERSION 2

/* Context tags of the certifiedData fields (TR-03151 v1.0.1 Tab. 4 / App. A). */
#define TAG_OPTYPE 0x80
#define TAG_CLIENT 0x81
#define TAG_PDATA 0x82
#define TAG_PDATA_CONS 0xa2
#define TAG_PTYPE 0x83
#define TAG_EXT 0x84
#define TAG_TXNO 0x85
#define TAG_INT 0x86
#define TAG_SYSDATA 0x81
#define TAG_SYSINT 0x82

/* ---- time ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int dd)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

struct civil {
	int64_t year;
	int mon, day, hour, min, sec;
};

static void civil_from_unix(struct civil *c, int64_t t)
{
	int64_t z = t / 86400, s = t % 86400;
	if (s < 0) {
		s += 86400;
		z--;
	}
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
	c->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	c->year = yoe + era * 400 + (c->mon <= 2);
	c->hour = (int)(s / 3600);
	c->min = (int)(s / 60 % 60);
	c->sec = (int)(s % 60);
}

static int days_in_month(int64_t y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

static int digits(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Parses the DER text of a UTCTime (YYMMDDhhmmssZ, RFC 5280 years 1950-2049)
 * or GeneralizedTime (YYYYMMDDhhmmss[.f+]Z, no trailing fraction zeros) into
 * t. On failure writes the reason to why and returns SIEGEL_E_PARSE. */
static int time_parse_text(struct logmsg_time *t, enum logmsg_time_format fmt, const char *s,
	size_t n, char *why, size_t why_len)
{
	int y = 0, mo = 0, dd = 0, hh = 0, mi = 0, ss = 0;
	size_t p = 0;
	uint32_t millis = 0;
	if (n == 0 || n >= sizeof(t->text) || s[n - 1] != 'Z') {
		snprintf(why, why_len, "must end in 'Z' (UTC) and be at most %zu characters",
			sizeof(t->text) - 1);
		return SIEGEL_E_PARSE;
	}
	if (fmt == LOGMSG_TIME_UTC) {
		if (n != 13 || digits(s, 2, &y) != 0) {
			snprintf(why, why_len, "want YYMMDDhhmmssZ (13 characters)");
			return SIEGEL_E_PARSE;
		}
		y += y < 50 ? 2000 : 1900;
		p = 2;
	} else if (fmt == LOGMSG_TIME_GENERALIZED) {
		if (n < 15 || digits(s, 4, &y) != 0) {
			snprintf(why, why_len, "want YYYYMMDDhhmmss[.fff]Z");
			return SIEGEL_E_PARSE;
		}
		p = 4;
	} else {
		snprintf(why, why_len, "not a text time format");
		return SIEGEL_E_PARSE;
	}
	if (digits(s + p, 2, &mo) || digits(s + p + 2, 2, &dd) || digits(s + p + 4, 2, &hh) ||
	    digits(s + p + 6, 2, &mi) || digits(s + p + 8, 2, &ss)) {
		snprintf(why, why_len, "non-digit in date/time");
		return SIEGEL_E_PARSE;
	}
	p += 10;
	if (fmt == LOGMSG_TIME_GENERALIZED && p != n - 1) {
		/* fraction: '.', 1..9 digits, last digit not 0 (X.690 11.7) */
		size_t nf = n - 1 - p - 1;
		if (s[p] != '.' || nf == 0 || nf > 9) {
			snprintf(why, why_len, "bad fraction of seconds (want .f to .fffffffff)");
			return SIEGEL_E_PARSE;
		}
		for (size_t i = 0; i < nf; i++) {
			char ch = s[p + 1 + i];
			if (ch < '0' || ch > '9') {
				snprintf(why, why_len, "non-digit in fraction of seconds");
				return SIEGEL_E_PARSE;
			}
			if (i < 3)
				millis = millis * 10 + (uint32_t)(ch - '0');
		}
		for (size_t i = nf; i < 3; i++)
			millis *= 10;
		if (s[n - 2] == '0') {
			snprintf(why, why_len, "trailing zero in fraction of seconds (not DER)");
			return SIEGEL_E_PARSE;
		}
	} else if (p != n - 1) {
		snprintf(why, why_len, "unexpected characters before 'Z'");
		return SIEGEL_E_PARSE;
	}
	if (mo < 1 || mo > 12 || dd < 1 || dd > days_in_month(y, mo) || hh > 23 || mi > 59 ||
	    ss > 59) {
		snprintf(why, why_len, "date/time field out of range");
		return SIEGEL_E_PARSE;
	}
	memset(t, 0, sizeof(*t));
	t->fmt = fmt;
	t->unix_sec = days_from_civil(y, mo, dd) * 86400 + hh * 3600 + mi * 60 + ss;
	t->millis = millis;
	memcpy(t->text, s, n);
	t->text[n] = 0;
	return 0;
}

/* Formats unix_sec (+ millis for GeneralizedTime) as DER time text. */
static int time_format_text(char out[32], enum logmsg_time_format fmt, int64_t unix_sec,
	uint32_t millis)
{
	struct civil c;
	if (millis > 999)
		return SIEGEL_E_INVAL;
	civil_from_unix(&c, unix_sec);
	if (fmt == LOGMSG_TIME_UTC) {
		if (c.year < 1950 || c.year > 2049 || millis != 0)
			return SIEGEL_E_INVAL;
		snprintf(out, 32, "%02d%02d%02d%02d%02d%02dZ", (int)(c.year % 100), c.mon, c.day,
			c.hour, c.min, c.sec);
		return 0;
	}
	if (fmt == LOGMSG_TIME_GENERALIZED) {
		if (c.year < 0 || c.year > 9999)
			return SIEGEL_E_INVAL;
		int n = snprintf(out, 32, "%04d%02d%02d%02d%02d%02d", (int)c.year, c.mon, c.day,
			c.hour, c.min, c.sec);
		if (millis != 0) {
			char frac[5];
			snprintf(frac, sizeof(frac), ".%03u", (unsigned)millis);
			size_t fl = 4;
			while (frac[fl - 1] == '0')
				fl--;
			frac[fl] = 0;
			n += snprintf(out + n, (size_t)(32 - n), "%s", frac);
		}
		snprintf(out + n, (size_t)(32 - n), "Z");
		return 0;
	}
	return SIEGEL_E_INVAL;
}

int logmsg_time_set(struct logmsg_time *t, enum logmsg_time_format fmt, int64_t unix_sec)
{
	memset(t, 0, sizeof(*t));
	t->fmt = fmt;
	t->unix_sec = unix_sec;
	if (fmt == LOGMSG_TIME_UNIX)
		return unix_sec < 0 ? SIEGEL_E_INVAL : 0;
	return time_format_text(t->text, fmt, unix_sec, 0);
}

const char *logmsg_time_format_name(enum logmsg_time_format fmt)
{
	switch (fmt) {
	case LOGMSG_TIME_UNIX:
		return "unixTime";
	case LOGMSG_TIME_UTC:
		return "utcTime";
	case LOGMSG_TIME_GENERALIZED:
		return "generalizedTime";
	}
	return "unknown";
}

int logmsg_time_format_parse(enum logmsg_time_format *out, const char *name)
{
	static const enum logmsg_time_format all[] = { LOGMSG_TIME_UNIX, LOGMSG_TIME_UTC,
		LOGMSG_TIME_GENERALIZED };
	if (name == NULL)
		return SIEGEL_E_INVAL;
	for (size_t i = 0; i < 3; i++) {
		if (strcmp(name, logmsg_time_format_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return SIEGEL_E_INVAL;
}

void logmsg_time_iso(char out[32], int64_t unix_sec, uint32_t millis)
{
	struct civil c;
	civil_from_unix(&c, unix_sec);
	/* room for any int64 year; out keeps the first 31 characters */
	char t[96];
	snprintf(t, sizeof(t), "%04lld-%02d-%02dT%02d:%02d:%02d.%03uZ", (long long)c.year, c.mon, c.day,
		c.hour, c.min, c.sec, (unsigned)(millis % 1000));
	snprintf(out, 32, "%.31s", t);
}

/* The text of a UTC/Generalized time: as stored, else formatted. */
static int time_text(char out[32], const struct logmsg_time *t)
{
	if (t->text[0]) {
		memcpy(out, t->text, sizeof(t->text));
		out[31] = 0;
		return 0;
	}
	return time_format_text(out, t->fmt, t->unix_sec, t->millis);
}

/* ---- helpers ---- */

static int bytes_ok(const struct logmsg_bytes *x)
{
	return x->len == 0 || x->p != NULL;
}

/* PrintableString alphabet (X.680 41.4). */
static int printable(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = p[i];
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
			continue;
		if (strchr(" '()+,-./:=?", ch) == NULL || ch == 0)
			return 0;
	}
	return 1;
}

/* "StartTransaction" / "startTransaction" -> "Start" (either first-letter case). */
static const char *tx_step(const uint8_t *p, size_t n)
{
	static const char *const names[] = { "Start", "Update", "Finish" };
	for (size_t i = 0; i < 3; i++) {
		size_t k = strlen(names[i]);
		if (n != k + 11 || memcmp(p + k, "Transaction", 11) != 0)
			continue;
		if ((p[0] == names[i][0] || p[0] == names[i][0] + ('a' - 'A')) &&
		    memcmp(p + 1, names[i] + 1, k - 1) == 0)
			return names[i];
	}
	return NULL;
}

/* Dotted text of an OID content for diagnostics (best effort). */
static void oid_text(char *out, size_t n, const uint8_t *v, size_t len)
{
	size_t o = 0;
	uint64_t arc = 0;
	int first = 1;
	out[0] = 0;
	for (size_t i = 0; i < len && o + 24 < n; i++) {
		if (arc > (UINT64_MAX >> 7)) {
			snprintf(out + o, n - o, "...");
			return;
		}
		arc = (arc << 7) | (v[i] & 0x7fu);
		if (v[i] & 0x80)
			continue;
		if (first) {
			uint64_t a = arc < 80 ? arc / 40 : 2;
			o += (size_t)snprintf(out + o, n - o, "%" PRIu64 ".%" PRIu64, a, arc - 40 * a);
			first = 0;
		} else {
			o += (size_t)snprintf(out + o, n - o, ".%" PRIu64, arc);
		}
		arc = 0;
	}
	if (out[0] == 0)
		snprintf(out, n, "(empty)");
}

static void set_bytes(struct logmsg_bytes *b, const struct der_tlv *t)
{
	b->p = t->val;
	b->len = t->val_len;
}

/* ---- encoder ---- */

static int put_time(struct siegel_buf *b, const struct logmsg_time *t, struct siegel_diag *d)
{
	char text[32];
	if (t->fmt == LOGMSG_TIME_UNIX) {
		if (t->unix_sec < 0)
			return siegel_fail(d, SIEGEL_E_INVAL,
				"TR-03151 LogMessage.logTime: negative unixTime %lld",
				(long long)t->unix_sec);
		der_put_uint(b, 0x02, (uint64_t)t->unix_sec);
		return 0;
	}
	if (t->fmt != LOGMSG_TIME_UTC && t->fmt != LOGMSG_TIME_GENERALIZED)
		return siegel_fail(d, SIEGEL_E_INVAL, "TR-03151 LogMessage.logTime: unknown format %d",
			(int)t->fmt);
	if (t->text[0]) {
		/* The stored text is what gets signed: it must be valid DER time
		 * text and agree with unix_sec/millis. */
		struct logmsg_time chk;
		char why[96];
		size_t n = strnlen(t->text, sizeof(t->text));
		if (time_parse_text(&chk, t->fmt, t->text, n, why, sizeof(why)) != 0)
			return siegel_fail(d, SIEGEL_E_INVAL, "TR-03151 LogMessage.logTime \"%.*s\": %s",
				(int)n, t->text, why);
		if (chk.unix_sec != t->unix_sec || chk.millis != t->millis)
			return siegel_fail(d, SIEGEL_E_INVAL,
				"TR-03151 LogMessage.logTime: text \"%s\" does not match unix_sec %lld.%03u",
				chk.text, (long long)t->unix_sec, (unsigned)t->millis);
		memcpy(text, chk.text, sizeof(text));
	} else if (time_format_text(text, t->fmt, t->unix_sec, t->millis) != 0) {
		return siegel_fail(d, SIEGEL_E_INVAL,
			"TR-03151 LogMessage.logTime: %lld.%03u not representable as %s",
			(long long)t->unix_sec, (unsigned)t->millis, logmsg_time_format_name(t->fmt));
	}
	der_put_tlv(b, t->fmt == LOGMSG_TIME_UTC ? 0x17 : 0x18, text, strlen(text));
	return 0;
}

/* signatureAlgorithm: from m->alg, else the decoded TLV (re-encoding a parsed
 * message), which must be a SEQUENCE holding only a known OID. */
static int put_sig_alg(struct siegel_buf *b, const struct logmsg *m, struct siegel_diag *d)
{
	const struct alg_info *ai = alg_get(m->alg);
	if (ai != NULL) {
		der_put_tlv(b, 0x30, ai->sig_oid_der, ai->sig_oid_der_len);
		return 0;
	}
	if (m->sig_alg_tlv.len == 0 || m->sig_alg_tlv.p == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL,
			"TR-03151 LogMessage.signatureAlgorithm: no algorithm (alg %d)", (int)m->alg);
	struct der_cursor c, in;
	struct der_tlv seq, oid;
	const char *name = NULL;
	int nid = 0;
	der_cursor_init(&c, m->sig_alg_tlv.p, m->sig_alg_tlv.len);
	int rc = der_read(&c, &seq, 0x30, 0, "TR-03151 LogMessage.signatureAlgorithm", d);
	if (rc)
		return SIEGEL_E_INVAL;
	der_cursor_sub(&in, &seq);
	if (!der_at_end(&c) ||
	    der_read(&in, &oid, 0x06, 0, "TR-03151 LogMessage.signatureAlgorithm", d) != 0 ||
	    !der_at_end(&in) || alg_sig_oid_lookup(&name, &nid, oid.tlv, oid.tlv_len) != 0)
		return siegel_fail(d, SIEGEL_E_INVAL,
			"TR-03151 LogMessage.signatureAlgorithm: sig_alg_tlv is not SEQUENCE { known OID }");
	siegel_buf_append(b, m->sig_alg_tlv.p, m->sig_alg_tlv.len);
	return 0;
}

static int put_process_data(struct siegel_buf *b, const struct logmsg *m, struct siegel_diag *d)
{
	if (m->n_process_data_chunks == 0) {
		if (!bytes_ok(&m->process_data))
			return siegel_fail(d, SIEGEL_E_INVAL, "TR-03151 TransactionLog.processData: NULL");
		der_put_tlv(b, TAG_PDATA, m->process_data.p, m->process_data.len);
		return 0;
	}
	if (m->process_data_chunks == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL,
			"TR-03151 TransactionLog.processData: %zu chunks but no array",
			m->n_process_data_chunks);
	/* BER constructed indefinite length (TR-03151-1 §3.7.2): A2 80 {04 LL ..} 00 00 */
	siegel_buf_putc(b, TAG_PDATA_CONS);
	siegel_buf_putc(b, 0x80);
	for (size_t i = 0; i < m->n_process_data_chunks; i++) {
		const struct logmsg_bytes *ch = &m->process_data_chunks[i];
		if (!bytes_ok(ch))
			return siegel_fail(d, SIEGEL_E_INVAL,
				"TR-03151 TransactionLog.processData: chunk %zu is NULL", i);
		der_put_tlv(b, 0x04, ch->p, ch->len);
	}
	siegel_buf_putc(b, 0x00);
	siegel_buf_putc(b, 0x00);
	return 0;
}

static int put_tx(struct siegel_buf *b, const struct logmsg *m, struct siegel_diag *d)
{
	if (!bytes_ok(&m->operation_type) || !bytes_ok(&m->client_id) ||
	    !bytes_ok(&m->process_type) || !bytes_ok(&m->additional_external) ||
	    !bytes_ok(&m->additional_internal))
		return siegel_fail(d, SIEGEL_E_INVAL, "TR-03151 TransactionLog: NULL field with length");
	if (tx_step(m->operation_type.p, m->operation_type.len) == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL,
			"TR-03151 TransactionLog.operationType: \"%.*s\" is not Start-, Update- or FinishTransaction",
			(int)(m->operation_type.len > 40 ? 40 : m->operation_type.len),
			m->operation_type.p ? (const char *)m->operation_type.p : "");
	if (m->has_process_type && m->process_type.len > LOGMSG_MAX_PROCESS_TYPE)
		return siegel_fail(d, SIEGEL_E_LIMIT,
			"TR-03151 TransactionLog.processType: %zu bytes exceed the maximum of %d",
			m->process_type.len, LOGMSG_MAX_PROCESS_TYPE);
	der_put_tlv(b, TAG_OPTYPE, m->operation_type.p, m->operation_type.len);
	der_put_tlv(b, TAG_CLIENT, m->client_id.p, m->client_id.len);
	int rc = put_process_data(b, m, d);
	if (rc)
		return rc;
	if (m->has_process_type)
		der_put_tlv(b, TAG_PTYPE, m->process_type.p, m->process_type.len);
	if (m->has_additional_external)
		der_put_tlv(b, TAG_EXT, m->additional_external.p, m->additional_external.len);
	der_put_uint(b, TAG_TXNO, m->transaction_number);
	if (m->has_additional_internal)
		der_put_tlv(b, TAG_INT, m->additional_internal.p, m->additional_internal.len);
	return 0;
}

static int put_sys(struct siegel_buf *b, const struct logmsg *m, struct siegel_diag *d)
{
	if (!bytes_ok(&m->operation_type) || !bytes_ok(&m->system_operation_data) ||
	    !bytes_ok(&m->additional_internal))
		return siegel_fail(d, SIEGEL_E_INVAL, "TR-03151 SystemLog: NULL field with length");
	if (m->operation_type.len == 0 || !printable(m->operation_type.p, m->operation_type.len))
		return siegel_fail(d, SIEGEL_E_INVAL,
			"TR-03151 SystemLog.operationType: empty or not a PrintableString");
	der_put_tlv(b, TAG_OPTYPE, m->operation_type.p, m->operation_type.len);
	der_put_tlv(b, TAG_SYSDATA, m->system_operation_data.p, m->system_operation_data.len);
	if (m->has_additional_internal)
		der_put_tlv(b, TAG_SYSINT, m->additional_internal.p, m->additional_internal.len);
	return 0;
}

int logmsg_encode_dtbs(struct siegel_buf *out, const struct logmsg *m, struct siegel_diag *d)
{
	int rc;
	if (out == NULL || m == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "logmsg_encode: NULL argument");
	if (out->err)
		return out->err;
	size_t start = out->len;
	der_put_uint(out, 0x02, LOG_VERSION);
	switch (m->kind) {
	case LOGMSG_TRANSACTION:
		der_put_tlv(out, 0x06, oid_tx, sizeof(oid_tx));
		rc = put_tx(out, m, d);
		break;
	case LOGMSG_SYSTEM:
		der_put_tlv(out, 0x06, oid_sys, sizeof(oid_sys));
		rc = put_sys(out, m, d);
		break;
	case LOGMSG_AUDIT:
		der_put_tlv(out, 0x06, oid_aud, sizeof(oid_aud));
		rc = 0;
		break;
	default:
		rc = siegel_fail(d, SIEGEL_E_INVAL, "TR-03151 LogMessage.certifiedDataType: kind %d",
			(int)m->kind);
	}
	if (rc)
		goto fail;
	rc = SIEGEL_E_INVAL;
	if (m->serial_number.len != ALG_SERIAL_LEN || m->serial_number.p == NULL) {
		siegel_fail(d, rc, "TR-03151 LogMessage.serialNumber: want %d bytes, got %zu",
			ALG_SERIAL_LEN, m->serial_number.len);
		goto fail;
	}
	der_put_tlv(out, 0x04, m->serial_number.p, m->serial_number.len);
	rc = put_sig_alg(out, m, d);
	if (rc)
		goto fail;
	if ((m->kind == LOGMSG_AUDIT) != (m->has_se_audit_data != 0)) {
		rc = siegel_fail(d, SIEGEL_E_INVAL,
			"TR-03151 LogMessage.seAuditData: present in and only in audit logs");
		goto fail;
	}
	if (m->has_se_audit_data) {
		if (!bytes_ok(&m->se_audit_data)) {
			rc = siegel_fail(d, SIEGEL_E_INVAL, "TR-03151 LogMessage.seAuditData: NULL");
			goto fail;
		}
		der_put_tlv(out, 0x04, m->se_audit_data.p, m->se_audit_data.len);
	}
	der_put_uint(out, 0x02, m->signature_counter);
	rc = put_time(out, &m->log_time, d);
	if (rc)
		goto fail;
	if (out->err) {
		rc = siegel_fail(d, out->err, "logmsg_encode: out of memory");
		goto fail;
	}
	if (out->len - start > LOGMSG_MAX_SIZE - ALG_MAX_SIG - 16) {
		rc = siegel_fail(d, SIEGEL_E_LIMIT, "TR-03151 LogMessage: %zu bytes exceed the limit",
			out->len - start);
		goto fail;
	}
	return 0;
fail:
	/* Leave out as it was before the call. */
	if (!out->err)
		out->len = start;
	return rc;
}

int logmsg_encode(struct siegel_buf *out, const struct logmsg *m, logmsg_sign_fn sign,
	void *sign_ctx, struct siegel_diag *d)
{
	struct siegel_buf dtbs;
	uint8_t sig[ALG_MAX_SIG];
	size_t sig_len = sizeof(sig);
	if (sign == NULL || out == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "logmsg_encode: NULL argument");
	siegel_buf_init(&dtbs);
	int rc = logmsg_encode_dtbs(&dtbs, m, d);
	if (rc)
		goto out;
	rc = sign(sign_ctx, sig, &sig_len, dtbs.data, dtbs.len);
	if (rc) {
		siegel_diag_set(d, "TR-03151 LogMessage.signatureValue: signer failed (%s)",
			siegel_err_name(rc));
		goto out;
	}
	const struct alg_info *ai = alg_get(m->alg);
	if (sig_len == 0 || sig_len > ALG_MAX_SIG || sig_len % 2 != 0 ||
	    (ai != NULL && sig_len != 2 * ai->field_len)) {
		rc = siegel_fail(d, SIEGEL_E_SIGNING,
			"TR-03151 LogMessage.signatureValue: signer returned %zu bytes", sig_len);
		goto out;
	}
	size_t mark = der_begin(out, 0x30);
	siegel_buf_append(out, dtbs.data, dtbs.len);
	der_put_tlv(out, 0x04, sig, sig_len);
	der_end(out, mark);
	if (out->err) {
		rc = siegel_fail(d, out->err, "logmsg_encode: out of memory");
		goto out;
	}
	rc = 0;
out:
	siegel_buf_free(&dtbs);
	return rc;
}

/* ---- decoder ---- */

#define E_TX "TR-03151 TransactionLog"
#define E_SYS "TR-03151 SystemLog"
#define E_LM "TR-03151 LogMessage"

/* Reads a mandatory certifiedData field; when another context tag stands in
 * its place the diagnostic says the order is wrong. */
static int read_field(struct der_cursor *c, struct der_tlv *t, uint8_t tag, const char *what,
	struct siegel_diag *d)
{
	int rc = der_read(c, t, tag, 0, what, d);
	int got = der_peek_tag(c);
	if (rc == SIEGEL_E_PARSE && d != NULL && got != tag && got >= 0x80 && got <= 0xbf) {
		size_t n = strlen(d->msg);
		snprintf(d->msg + n, sizeof(d->msg) - n, "%s",
			(got & 0x1f) == (tag & 0x1f) ? " (constructed encoding not allowed here)" :
						       " (element out of order, duplicated or not defined here)");
	}
	return rc;
}

/* Reads an optional primitive element if the next tag is `tag`. */
static int read_opt(struct der_cursor *c, int *has, struct logmsg_bytes *b, uint8_t tag,
	const char *what, struct siegel_diag *d)
{
	struct der_tlv t;
	if (der_peek_tag(c) != tag)
		return 0;
	int rc = der_read(c, &t, tag, 0, what, d);
	if (rc)
		return rc;
	*has = 1;
	set_bytes(b, &t);
	return 0;
}

static int parse_tx(struct logmsg *m, struct der_cursor *c, struct siegel_diag *d)
{
	struct der_tlv t;
	int rc = read_field(c, &t, TAG_OPTYPE, E_TX ".operationType [0]", d);
	if (rc)
		return rc;
	if (tx_step(t.val, t.val_len) == NULL)
		return siegel_fail(d, SIEGEL_E_PARSE,
			E_TX ".operationType [0]: \"%.*s\" at offset %zu is not Start-, Update- or FinishTransaction",
			(int)(t.val_len > 40 ? 40 : t.val_len), (const char *)t.val, t.off);
	set_bytes(&m->operation_type, &t);
	rc = read_field(c, &t, TAG_CLIENT, E_TX ".clientId [1]", d);
	if (rc)
		return rc;
	set_bytes(&m->client_id, &t);
	if (der_peek_tag(c) == TAG_PDATA_CONS) {
		/* Only processData may use BER indefinite length (TR-03151 Tab. 4). */
		rc = der_read(c, &t, TAG_PDATA_CONS, 1, E_TX ".processData [2]", d);
		if (rc)
			return rc;
		if (!t.indefinite)
			return siegel_fail(d, SIEGEL_E_PARSE,
				E_TX ".processData [2]: constructed encoding with definite length at offset %zu (want 82 LL or A2 80)",
				t.off);
		struct siegel_buf joined;
		siegel_buf_init(&joined);
		rc = der_collect_chunks(&joined, &t, E_TX ".processData [2] chunk", d);
		if (rc) {
			siegel_buf_free(&joined);
			return rc;
		}
		m->owned = siegel_buf_steal(&joined, &m->process_data.len);
		if (m->owned == NULL)
			return siegel_fail(d, SIEGEL_E_NOMEM, E_TX ".processData [2]: out of memory");
		m->process_data.p = m->owned;
		m->process_data_indefinite = 1;
	} else {
		rc = read_field(c, &t, TAG_PDATA, E_TX ".processData [2]", d);
		if (rc)
			return rc;
		set_bytes(&m->process_data, &t);
	}
	rc = read_opt(c, &m->has_process_type, &m->process_type, TAG_PTYPE, E_TX ".processType [3]", d);
	if (rc)
		return rc;
	rc = read_opt(c, &m->has_additional_external, &m->additional_external, TAG_EXT,
		E_TX ".additionalExternalData [4]", d);
	if (rc)
		return rc;
	rc = read_field(c, &t, TAG_TXNO, E_TX ".transactionNumber [5]", d);
	if (rc)
		return rc;
	rc = der_get_uint(&m->transaction_number, &t, E_TX ".transactionNumber [5]", d);
	if (rc)
		return rc;
	return read_opt(c, &m->has_additional_internal, &m->additional_internal, TAG_INT,
		E_TX ".additionalInternalData [6]", d);
}

static int parse_sys(struct logmsg *m, struct der_cursor *c, struct siegel_diag *d)
{
	struct der_tlv t;
	int rc = read_field(c, &t, TAG_OPTYPE, E_SYS ".operationType [0]", d);
	if (rc)
		return rc;
	if (t.val_len == 0 || !printable(t.val, t.val_len))
		return siegel_fail(d, SIEGEL_E_PARSE,
			E_SYS ".operationType [0]: empty or not a PrintableString at offset %zu", t.off);
	set_bytes(&m->operation_type, &t);
	rc = read_field(c, &t, TAG_SYSDATA, E_SYS ".systemOperationData [1]", d);
	if (rc)
		return rc;
	set_bytes(&m->system_operation_data, &t);
	return read_opt(c, &m->has_additional_internal, &m->additional_internal, TAG_SYSINT,
		E_SYS ".additionalInternalData [2]", d);
}

static int parse_time(struct logmsg *m, struct der_cursor *c, struct siegel_diag *d)
{
	struct der_tlv t;
	char got[40], why[96];
	int tag = der_peek_tag(c);
	int rc;
	if (tag == 0x02) {
		uint64_t v = 0;
		rc = der_read(c, &t, 0x02, 0, E_LM ".logTime (unixTime)", d);
		if (rc == 0)
			rc = der_get_uint(&v, &t, E_LM ".logTime (unixTime)", d);
		if (rc)
			return rc;
		if (v > (uint64_t)INT64_MAX)
			return siegel_fail(d, SIEGEL_E_PARSE, E_LM ".logTime (unixTime): %" PRIu64
				" at offset %zu out of range", v, t.off);
		m->log_time.fmt = LOGMSG_TIME_UNIX;
		m->log_time.unix_sec = (int64_t)v;
		return 0;
	}
	if (tag == 0x17 || tag == 0x18) {
		enum logmsg_time_format fmt = tag == 0x17 ? LOGMSG_TIME_UTC : LOGMSG_TIME_GENERALIZED;
		const char *what = tag == 0x17 ? E_LM ".logTime (utcTime)" : E_LM ".logTime (generalizedTime)";
		rc = der_read(c, &t, (uint8_t)tag, 0, what, d);
		if (rc)
			return rc;
		if (time_parse_text(&m->log_time, fmt, (const char *)t.val, t.val_len, why,
			    sizeof(why)) != 0)
			return siegel_fail(d, SIEGEL_E_PARSE, "%s at offset %zu: %s", what, t.off, why);
		return 0;
	}
	if (tag < 0)
		return siegel_fail(d, SIEGEL_E_PARSE, E_LM ".logTime: missing at offset %zu",
			c->base + c->off);
	der_tag_name(got, (uint8_t)tag);
	return siegel_fail(d, SIEGEL_E_PARSE,
		E_LM ".logTime: want unixTime INTEGER (0x02), utcTime (0x17) or generalizedTime (0x18), got %s at offset %zu",
		got, c->base + c->off);
}

static int parse_body(struct logmsg *m, const uint8_t *der, size_t der_len, struct siegel_diag *d)
{
	struct der_cursor top, c, in;
	struct der_tlv seq, t;
	char txt[96];
	uint64_t v = 0;
	int rc;

	der_cursor_init(&top, der, der_len);
	rc = der_read(&top, &seq, 0x30, 0, E_LM, d);
	if (rc)
		return rc;
	if (!der_at_end(&top))
		return siegel_fail(d, SIEGEL_E_PARSE,
			E_LM ": %zu trailing bytes after the SEQUENCE at offset %zu", top.len - top.off,
			top.off);
	der_cursor_sub(&c, &seq);

	rc = der_read(&c, &t, 0x02, 0, E_LM ".version", d);
	if (rc == 0)
		rc = der_get_uint(&v, &t, E_LM ".version", d);
	if (rc)
		return rc;
	if (v != LOG_VERSION)
		return siegel_fail(d, SIEGEL_E_PARSE,
			E_LM ".version: want 2 (TR-03151 v1.0.1), got %" PRIu64 " at offset %zu", v, t.off);

	rc = der_read(&c, &t, 0x06, 0, E_LM ".certifiedDataType", d);
	if (rc)
		return rc;
	if (t.val_len == sizeof(oid_tx) && memcmp(t.val, oid_tx, sizeof(oid_tx)) == 0)
		m->kind = LOGMSG_TRANSACTION;
	else if (t.val_len == sizeof(oid_sys) && memcmp(t.val, oid_sys, sizeof(oid_sys)) == 0)
		m->kind = LOGMSG_SYSTEM;
	else if (t.val_len == sizeof(oid_aud) && memcmp(t.val, oid_aud, sizeof(oid_aud)) == 0)
		m->kind = LOGMSG_AUDIT;
	else {
		oid_text(txt, sizeof(txt), t.val, t.val_len);
		return siegel_fail(d, SIEGEL_E_PARSE,
			E_LM ".certifiedDataType: unknown OID %s at offset %zu (want 0.4.0.127.0.7.3.7.1.1/2/3)",
			txt, t.off);
	}

	if (m->kind == LOGMSG_TRANSACTION)
		rc = parse_tx(m, &c, d);
	else if (m->kind == LOGMSG_SYSTEM)
		rc = parse_sys(m, &c, d);
	if (rc)
		return rc;

	int tag = der_peek_tag(&c);
	if (tag >= 0x80) {
		/* A context tag here is a certifiedData field in the wrong place. */
		der_tag_name(txt, (uint8_t)tag);
		return siegel_fail(d, SIEGEL_E_PARSE,
			"%s: element %s at offset %zu out of order, duplicated or not defined for this log type",
			m->kind == LOGMSG_TRANSACTION ? E_TX : m->kind == LOGMSG_SYSTEM ? E_SYS :
											"TR-03151 AuditLog",
			txt, c.base + c.off);
	}
	rc = der_read(&c, &t, 0x04, 0, E_LM ".serialNumber", d);
	if (rc)
		return rc;
	if (t.val_len != ALG_SERIAL_LEN)
		return siegel_fail(d, SIEGEL_E_PARSE,
			E_LM ".serialNumber: want %d bytes (SHA-256 of the key), got %zu at offset %zu",
			ALG_SERIAL_LEN, t.val_len, t.off);
	set_bytes(&m->serial_number, &t);

	rc = der_read(&c, &t, 0x30, 0, E_LM ".signatureAlgorithm", d);
	if (rc)
		return rc;
	m->sig_alg_tlv.p = t.tlv;
	m->sig_alg_tlv.len = t.tlv_len;
	der_cursor_sub(&in, &t);
	rc = der_read(&in, &t, 0x06, 0, E_LM ".signatureAlgorithm.algorithm", d);
	if (rc)
		return rc;
	if (!der_at_end(&in))
		return siegel_fail(d, SIEGEL_E_PARSE,
			E_LM ".signatureAlgorithm: parameters at offset %zu MUST NOT be present (TR-03153-1)",
			in.base + in.off);
	if (alg_sig_oid_lookup(&m->sig_alg_name, &m->sig_hash_nid, t.tlv, t.tlv_len) != 0) {
		oid_text(txt, sizeof(txt), t.val, t.val_len);
		return siegel_fail(d, SIEGEL_E_NOTSUP,
			E_LM ".signatureAlgorithm: unsupported signature algorithm OID %s at offset %zu (want ecdsa-plain-SHA256/384/512, 0.4.0.127.0.7.1.1.4.1.x)",
			txt, t.off);
	}

	if (m->kind == LOGMSG_AUDIT) {
		rc = der_read(&c, &t, 0x04, 0, E_LM ".seAuditData", d);
		if (rc)
			return rc;
		m->has_se_audit_data = 1;
		set_bytes(&m->se_audit_data, &t);
	} else if (der_peek_tag(&c) == 0x04) {
		return siegel_fail(d, SIEGEL_E_PARSE,
			E_LM ".seAuditData at offset %zu: only allowed in audit logs", c.base + c.off);
	}

	rc = der_read(&c, &t, 0x02, 0, E_LM ".signatureCounter", d);
	if (rc == 0)
		rc = der_get_uint(&m->signature_counter, &t, E_LM ".signatureCounter", d);
	if (rc)
		return rc;

	rc = parse_time(m, &c, d);
	if (rc)
		return rc;

	/* DTBS = the content of the SEQUENCE up to signatureValue (TR-03151 2.4). */
	m->dtbs.p = seq.val;
	m->dtbs.len = (size_t)((c.p + c.off) - seq.val);

	rc = der_read(&c, &t, 0x04, 0, E_LM ".signatureValue", d);
	if (rc)
		return rc;
	if (t.val_len == 0 || t.val_len % 2 != 0 || t.val_len > ALG_MAX_SIG)
		return siegel_fail(d, SIEGEL_E_PARSE,
			E_LM ".signatureValue: %zu bytes at offset %zu is not a plain r||s", t.val_len,
			t.off);
	set_bytes(&m->signature, &t);
	if (!der_at_end(&c)) {
		der_tag_name(txt, c.p[c.off]);
		return siegel_fail(d, SIEGEL_E_PARSE,
			E_LM ": unexpected element %s after signatureValue at offset %zu", txt,
			c.base + c.off);
	}
	return 0;
}

int logmsg_parse(struct logmsg *m, const uint8_t *der, size_t der_len, struct siegel_diag *d)
{
	if (m == NULL || (der == NULL && der_len > 0))
		return siegel_fail(d, SIEGEL_E_INVAL, "logmsg_parse: NULL argument");
	memset(m, 0, sizeof(*m));
	if (der_len > LOGMSG_MAX_SIZE)
		return siegel_fail(d, SIEGEL_E_LIMIT, E_LM ": %zu bytes exceed the limit of %zu",
			der_len, LOGMSG_MAX_SIZE);
	int rc = parse_body(m, der, der_len, d);
	if (rc)
		logmsg_clear(m);
	return rc;
}

void logmsg_clear(struct logmsg *m)
{
	if (m == NULL)
		return;
	free(m->owned);
	memset(m, 0, sizeof(*m));
}

/* ---- verification ---- */

int logmsg_verify(const struct logmsg *m, const EVP_PKEY *pkey, int check_serial)
{
	if (m == NULL || pkey == NULL || m->dtbs.p == NULL || m->signature.p == NULL)
		return SIEGEL_E_INVAL;
	int hash_nid = m->sig_hash_nid;
	if (hash_nid == 0) {
		const struct alg_info *ai = alg_get(m->alg);
		if (ai == NULL)
			return SIEGEL_E_INVAL;
		hash_nid = ai->hash_nid;
	}
	if (check_serial) {
		uint8_t pub[ALG_MAX_PUB], serial[ALG_SERIAL_LEN];
		size_t pub_len = 0;
		int nid = 0;
		int rc = alg_point_from_pkey(pub, &pub_len, &nid, pkey);
		if (rc)
			return rc;
		alg_serial_number(serial, pub, pub_len);
		if (m->serial_number.len != ALG_SERIAL_LEN ||
		    memcmp(serial, m->serial_number.p, ALG_SERIAL_LEN) != 0)
			return SIEGEL_E_VERIFY;
	}
	return alg_verify_plain(pkey, hash_nid, m->dtbs.p, m->dtbs.len, m->signature.p,
		m->signature.len);
}

/* ---- export file names ---- */

/* Bytes that may go into a file name: printable ASCII without path separators. */
static int name_safe(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '/' || p[i] == '\\')
			return 0;
	return 1;
}

int logmsg_file_name(struct siegel_buf *out, const struct logmsg *m)
{
	char text[32];
	if (out == NULL || m == NULL)
		return SIEGEL_E_INVAL;
	size_t start = out->len;
	switch (m->log_time.fmt) {
	case LOGMSG_TIME_UNIX:
		if (m->log_time.unix_sec < 0)
			return SIEGEL_E_INVAL;
		siegel_buf_printf(out, "Unixt_%lld", (long long)m->log_time.unix_sec);
		break;
	case LOGMSG_TIME_UTC:
	case LOGMSG_TIME_GENERALIZED:
		if (time_text(text, &m->log_time) != 0 || !name_safe((const uint8_t *)text, strlen(text)))
			return SIEGEL_E_INVAL;
		siegel_buf_printf(out, "%s_%s", m->log_time.fmt == LOGMSG_TIME_UTC ? "Utc" : "Gent",
			text);
		break;
	default:
		return SIEGEL_E_INVAL;
	}
	siegel_buf_printf(out, "_Sig-%" PRIu64, m->signature_counter);
	int rc = 0;
	if (m->kind == LOGMSG_TRANSACTION) {
		const char *step = m->operation_type.p ?
			tx_step(m->operation_type.p, m->operation_type.len) : NULL;
		if (step == NULL || !bytes_ok(&m->client_id) ||
		    !name_safe(m->client_id.p, m->client_id.len))
			rc = SIEGEL_E_INVAL;
		else {
			siegel_buf_printf(out, "_Log-Tra_No-%" PRIu64 "_%s_Client-",
				m->transaction_number, step);
			siegel_buf_append(out, m->client_id.p, m->client_id.len);
			siegel_buf_puts(out, ".log");
		}
	} else if (m->kind == LOGMSG_SYSTEM) {
		if (m->operation_type.len == 0 || m->operation_type.p == NULL ||
		    !name_safe(m->operation_type.p, m->operation_type.len))
			rc = SIEGEL_E_INVAL;
		else {
			siegel_buf_puts(out, "_Log-Sys_");
			siegel_buf_append(out, m->operation_type.p, m->operation_type.len);
			siegel_buf_puts(out, ".log");
		}
	} else if (m->kind == LOGMSG_AUDIT) {
		siegel_buf_puts(out, "_Log-Aud.log");
	} else {
		rc = SIEGEL_E_INVAL;
	}
	if (rc == 0 && out->err)
		rc = out->err;
	if (rc && !out->err) {
		out->len = start;
		if (out->data)
			out->data[start] = 0;
	}
	return rc;
}

/* ---- systemOperationData ---- */

static void put_str(struct siegel_buf *out, uint8_t tag, const char *s)
{
	der_put_tlv(out, tag, s, s ? strlen(s) : 0);
}

static void put_byte(struct siegel_buf *out, uint8_t tag, uint8_t v)
{
	der_put_tlv(out, tag, &v, 1);
}

/* A time value in the log's format, untagged inside `tag` (amendment §6):
 * unixTime as 4 big-endian bytes (8 if it does not fit), else the text. */
static void put_time_value(struct siegel_buf *out, uint8_t tag, enum logmsg_time_format fmt,
	int64_t t)
{
	if (fmt == LOGMSG_TIME_UNIX) {
		uint8_t be[8];
		uint64_t u = (uint64_t)t;
		size_t n = (t >= 0 && t <= (int64_t)UINT32_MAX) ? 4 : 8;
		for (size_t i = 0; i < n; i++)
			be[n - 1 - i] = (uint8_t)(u >> (8 * i));
		der_put_tlv(out, tag, be, n);
		return;
	}
	struct logmsg_time lt;
	if (logmsg_time_set(&lt, fmt, t) != 0) {
		if (!out->err)
			out->err = SIEGEL_E_INVAL;
		return;
	}
	der_put_tlv(out, tag, lt.text, strlen(lt.text));
}

void logmsg_sys_initialize(struct siegel_buf *out, const char *description)
{
	put_str(out, 0x81, description);
}

void logmsg_sys_update_time(struct siegel_buf *out, enum logmsg_time_format fmt, int64_t before,
	int64_t after)
{
	put_time_value(out, 0x81, fmt, before);
	put_time_value(out, 0x82, fmt, after);
}

void logmsg_sys_authenticate_user(struct siegel_buf *out, const char *user_id,
	enum logmsg_role role, int ok)
{
	put_str(out, 0x81, user_id);
	put_byte(out, 0x82, (uint8_t)role);
	put_byte(out, 0x83, ok ? 0xff : 0x00);
}

void logmsg_sys_log_out(struct siegel_buf *out, const char *user_id, int cause_timeout)
{
	put_str(out, 0x81, user_id);
	put_byte(out, 0x82, cause_timeout ? 1 : 0);
}

void logmsg_sys_unblock_user(struct siegel_buf *out, const char *user_id, int result)
{
	put_str(out, 0x81, user_id);
	put_byte(out, 0x82, (uint8_t)result);
}

void logmsg_sys_client(struct siegel_buf *out, const char *client_id)
{
	put_str(out, 0x81, client_id);
}

void logmsg_sys_disable(struct siegel_buf *out, enum logmsg_time_format fmt, int64_t when)
{
	put_time_value(out, 0x81, fmt, when);
}

void logmsg_sys_self_test(struct siegel_buf *out, const char *component, int result,
	const char *detail)
{
	put_str(out, 0x81, component);
	put_byte(out, 0x82, (uint8_t)result);
	if (detail != NULL)
		put_str(out, 0x83, detail);
}

/* ---- exportSerialNumbers (App. D) ---- */

int logmsg_serials_encode(struct siegel_buf *out, const struct logmsg_serial_record *r, size_t n)
{
	if (out == NULL || (r == NULL && n > 0))
		return SIEGEL_E_INVAL;
	size_t outer = der_begin(out, 0x30);
	for (size_t i = 0; i < n; i++) {
		size_t rec = der_begin(out, 0x30);
		der_put_tlv(out, 0x04, r[i].serial, ALG_SERIAL_LEN);
		size_t usage = der_begin(out, 0x30);
		der_put_bool(out, 0x80, r[i].transaction_log);
		der_put_bool(out, 0x81, r[i].system_log);
		der_put_bool(out, 0x82, r[i].audit_log);
		der_end(out, usage);
		der_end(out, rec);
	}
	der_end(out, outer);
	return out->err;
}

/* ---- DSFinV-K receipt QR code ---- */

int logmsg_qr_code(struct siegel_buf *out, const struct logmsg *finish, int64_t start_unix,
	uint32_t start_millis, const uint8_t *pub, size_t pub_len)
{
	char start_iso[32], log_iso[32];
	if (out == NULL || finish == NULL || finish->kind != LOGMSG_TRANSACTION || pub == NULL ||
	    pub_len == 0 || finish->signature.p == NULL || finish->signature.len == 0 ||
	    !bytes_ok(&finish->client_id) || !bytes_ok(&finish->process_type))
		return SIEGEL_E_INVAL;
	const char *alg_name = finish->sig_alg_name;
	if (alg_name == NULL) {
		const struct alg_info *ai = alg_get(finish->alg);
		if (ai == NULL)
			return SIEGEL_E_INVAL;
		alg_name = ai->sig_name;
	}
	char *sig64 = siegel_b64_encode(finish->signature.p, finish->signature.len);
	char *pub64 = siegel_b64_encode(pub, pub_len);
	int rc = SIEGEL_E_NOMEM;
	if (sig64 == NULL || pub64 == NULL)
		goto out;
	logmsg_time_iso(start_iso, start_unix, start_millis);
	logmsg_time_iso(log_iso, finish->log_time.unix_sec, finish->log_time.millis);
	siegel_buf_puts(out, "V0;");
	siegel_buf_append(out, finish->client_id.p, finish->client_id.len);
	siegel_buf_putc(out, ';');
	if (finish->has_process_type)
		siegel_buf_append(out, finish->process_type.p, finish->process_type.len);
	siegel_buf_putc(out, ';');
	/* processData is the value, chunks joined (as decoded, or the chunks an
	 * encoder was given). */
	if (finish->n_process_data_chunks > 0 && finish->process_data.len == 0 &&
	    finish->process_data_chunks != NULL) {
		for (size_t i = 0; i < finish->n_process_data_chunks; i++)
			siegel_buf_append(out, finish->process_data_chunks[i].p,
				finish->process_data_chunks[i].len);
	} else if (bytes_ok(&finish->process_data)) {
		siegel_buf_append(out, finish->process_data.p, finish->process_data.len);
	}
	siegel_buf_printf(out, ";%" PRIu64 ";%" PRIu64 ";%s;%s;%s;%s;%s;%s",
		finish->transaction_number, finish->signature_counter, start_iso, log_iso, alg_name,
		logmsg_time_format_name(finish->log_time.fmt), sig64, pub64);
	rc = out->err;
out:
	free(sig64);
	free(pub64);
	return rc;
}
