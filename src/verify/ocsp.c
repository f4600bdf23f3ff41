/* ocsp.c: step 6, an OCSP request (RFC 6960) for the signer certificate to
 * the responder named in its AIA extension or a configured one, over plain
 * HTTP with a time limit, and a checked answer: response signature (CA or
 * delegated responder chaining to the store), nonce, freshness, status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "verify/verify_internal.h"

static void fail(struct ocsp_out *o, const char *fmt, const char *arg)
{
	snprintf(o->status, sizeof(o->status), "error");
	unsigned long e = ERR_peek_last_error();
	char tmp[200];
	snprintf(tmp, sizeof(tmp), fmt, arg ? arg : "");
	snprintf(o->detail, sizeof(o->detail), "%s%s%s", tmp, e ? ": " : "",
		e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "" : "");
	ERR_clear_error();
}

void ocsp_check(struct ocsp_out *o, struct verify_ctx *v, X509 *cert, X509 *issuer,
	STACK_OF(X509) *untrusted)
{
	memset(o, 0, sizeof(*o));
	char url[1024] = "";
	if (v->o.ocsp_url) {
		snprintf(url, sizeof(url), "%s", v->o.ocsp_url);
	} else {
		STACK_OF(OPENSSL_STRING) *aia = X509_get1_ocsp(cert);
		for (int i = 0; aia && i < sk_OPENSSL_STRING_num(aia) && !url[0]; i++) {
			const char *u = sk_OPENSSL_STRING_value(aia, i);
			if (strncmp(u, "http://", 7) == 0)
				snprintf(url, sizeof(url), "%s", u);
		}
		X509_email_free(aia);
	}
	if (!url[0]) {
		fail(o, "no OCSP responder: the certificate has no http AIA OCSP URL and none is "
			"configured (--ocsp-url)%s", NULL);
		return;
	}
	char *host = NULL, *port = NULL, *path = NULL;
	int ssl = 0;
	OCSP_REQUEST *req = NULL;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = NULL;
	BIO *reqb = NULL, *rsp = NULL;
	X509_STORE *trust = NULL;
	STACK_OF(X509) *others = NULL;
	if (!OSSL_HTTP_parse_url(url, &ssl, NULL, &host, &port, NULL, &path, NULL, NULL) || ssl) {
		fail(o, "OCSP URL %s is not a plain http:// URL", url);
		goto out;
	}
	req = OCSP_REQUEST_new();
	id = OCSP_cert_to_id(NULL, cert, issuer);
	if (req == NULL || id == NULL || !OCSP_request_add0_id(req, id)) {
		fail(o, "cannot build the OCSP request%s", NULL);
		goto out;
	}
	OCSP_CERTID *id_req = id;
	id = OCSP_CERTID_dup(id_req);
	if (id == NULL || !OCSP_request_add1_nonce(req, NULL, -1)) {
		fail(o, "cannot build the OCSP request%s", NULL);
		goto out;
	}
	reqb = ASN1_item_i2d_mem_bio(ASN1_ITEM_rptr(OCSP_REQUEST), (const ASN1_VALUE *)req);
	int timeout = v->o.ocsp_timeout > 0 ? v->o.ocsp_timeout : VERIFY_OCSP_DEFAULT_TIMEOUT;
	rsp = reqb ? OSSL_HTTP_transfer(NULL, host, port, path, 0, NULL, NULL, NULL, NULL, NULL, NULL,
		0, NULL, "application/ocsp-request", reqb, "application/ocsp-response", 1,
		VERIFY_OCSP_MAX_RESPONSE, timeout, 0) : NULL;
	if (rsp == NULL) {
		fail(o, "OCSP responder %s did not answer", url);
		goto out;
	}
	resp = ASN1_item_d2i_bio(ASN1_ITEM_rptr(OCSP_RESPONSE), rsp, NULL);
	if (resp == NULL) {
		fail(o, "OCSP responder %s sent no valid OCSPResponse", url);
		goto out;
	}
	int st = OCSP_response_status(resp);
	if (st != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		fail(o, "OCSP responder answered %s", OCSP_response_status_str(st));
		goto out;
	}
	bs = OCSP_response_get1_basic(resp);
	if (bs == NULL) {
		fail(o, "OCSP response is not a BasicOCSPResponse%s", NULL);
		goto out;
	}
	if (OCSP_check_nonce(req, bs) == 0) {
		fail(o, "OCSP response nonce does not match the request%s", NULL);
		goto out;
	}
	/* trust: the qualified store plus the issuer; the responder is the CA
	 * itself or a delegated responder certified by it */
	trust = X509_STORE_new();
	others = sk_X509_new_null();
	if (trust == NULL || others == NULL) {
		fail(o, "out of memory%s", NULL);
		goto out;
	}
	for (int i = 0; i < sk_X509_num(v->store_certs); i++)
		X509_STORE_add_cert(trust, sk_X509_value(v->store_certs, i));
	ERR_clear_error();
	sk_X509_push(others, issuer);
	for (int i = 0; untrusted && i < sk_X509_num(untrusted); i++)
		sk_X509_push(others, sk_X509_value(untrusted, i));
	X509_VERIFY_PARAM *vp = X509_STORE_get0_param(trust);
	X509_VERIFY_PARAM_set_time(vp, (time_t)verify_now(v));
	if (OCSP_basic_verify(bs, others, trust, 0) <= 0) {
		fail(o, "OCSP response signature or responder certificate does not verify%s", NULL);
		goto out;
	}
	int status = -1, reason = -1;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	if (!OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd, &nextupd)) {
		fail(o, "OCSP response has no status for the certificate%s", NULL);
		goto out;
	}
	if (!OCSP_check_validity(thisupd, nextupd, 300, -1)) {
		fail(o, "OCSP response is not current (thisUpdate/nextUpdate)%s", NULL);
		goto out;
	}
	if (status == V_OCSP_CERTSTATUS_GOOD) {
		snprintf(o->status, sizeof(o->status), "good");
		snprintf(o->detail, sizeof(o->detail), "good (responder %.200s)", url);
	} else if (status == V_OCSP_CERTSTATUS_REVOKED) {
		struct tm tm;
		snprintf(o->status, sizeof(o->status), "revoked");
		o->reason = reason;
		if (rev && ASN1_TIME_to_tm(rev, &tm))
			o->revoked_at = (int64_t)timegm(&tm);
		char ts[32] = "?";
		time_t tt = (time_t)o->revoked_at;
		if (gmtime_r(&tt, &tm))
			strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(o->detail, sizeof(o->detail), "revoked at %s, reason %s (responder %.200s)", ts,
			reason >= 0 ? OCSP_crl_reason_str(reason) : "unspecified", url);
	} else {
		snprintf(o->status, sizeof(o->status), "unknown");
		snprintf(o->detail, sizeof(o->detail), "responder %.200s does not know the certificate", url);
	}
	ERR_clear_error();
out:
	OPENSSL_free(host);
	OPENSSL_free(port);
	OPENSSL_free(path);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	BIO_free(reqb);
	BIO_free(rsp);
	X509_STORE_free(trust);
	sk_X509_free(others);
}
