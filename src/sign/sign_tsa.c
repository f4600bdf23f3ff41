/* sign_tsa: RFC 3161 time-stamp tokens for PAdES/CAdES B-T. An in-process
 * TSA (OpenSSL TS_RESP_CTX) for tests and benchmarks, and a plain HTTP client
 * (RFC 3161 3.4: POST application/timestamp-query). */
#include "sign/sign.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/ts.h>

#define TSA_MAX_RESPONSE (256u * 1024u)
#define TSA_TIMEOUT_S 10
#define TSA_MAX_URL 512

struct sign_tsa_local {
	TS_RESP_CTX *ctx;
};

static ASN1_INTEGER *serial_cb(TS_RESP_CTX *ctx, void *data)
{
	(void)ctx;
	(void)data;
	uint8_t r[16];
	ASN1_INTEGER *s = ASN1_INTEGER_new();
	if (s == NULL || RAND_bytes(r, sizeof(r)) != 1) {
		ASN1_INTEGER_free(s);
		return NULL;
	}
	r[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(r, sizeof(r), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, s) == NULL) {
		ASN1_INTEGER_free(s);
		s = NULL;
	}
	BN_free(bn);
	return s;
}

int sign_tsa_local_new(struct sign_tsa_local **out, X509 *cert, EVP_PKEY *key,
	struct siegel_diag *d)
{
	struct sign_tsa_local *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return SIEGEL_E_NOMEM;
	t->ctx = TS_RESP_CTX_new();
	ASN1_OBJECT *pol = OBJ_txt2obj("1.3.6.1.4.1.99999.1.1", 1); /* test policy */
	if (t->ctx == NULL || pol == NULL || TS_RESP_CTX_set_signer_cert(t->ctx, cert) != 1 ||
	    TS_RESP_CTX_set_signer_key(t->ctx, key) != 1 ||
	    TS_RESP_CTX_set_def_policy(t->ctx, pol) != 1 ||
	    TS_RESP_CTX_add_md(t->ctx, EVP_sha256()) != 1 ||
	    TS_RESP_CTX_add_md(t->ctx, EVP_sha384()) != 1 ||
	    TS_RESP_CTX_add_md(t->ctx, EVP_sha512()) != 1 ||
	    TS_RESP_CTX_set_accuracy(t->ctx, 1, 0, 0) != 1) {
		ASN1_OBJECT_free(pol);
		sign_tsa_local_free(t);
		ERR_clear_error();
		return siegel_fail(d, SIEGEL_E_CRYPTO, "local TSA: certificate/key not usable "
			"(EKU timeStamping critical needed)");
	}
	ASN1_OBJECT_free(pol);
	TS_RESP_CTX_set_serial_cb(t->ctx, serial_cb, NULL);
	TS_RESP_CTX_set_signer_digest(t->ctx, EVP_sha256());
	TS_RESP_CTX_add_flags(t->ctx, TS_ESS_CERT_ID_CHAIN);
	*out = t;
	return 0;
}

void sign_tsa_local_free(struct sign_tsa_local *t)
{
	if (t == NULL)
		return;
	TS_RESP_CTX_free(t->ctx);
	free(t);
}

/* DER TimeStampReq for imprint (certReq TRUE, random nonce). */
static int make_request(struct siegel_buf *out, const uint8_t *imprint, size_t il, int hash_nid)
{
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_INTEGER *nonce = NULL;
	int rc = SIEGEL_E_CRYPTO;
	uint8_t nb[8];
	if (req == NULL || mi == NULL || alg == NULL)
		goto out;
	X509_ALGOR_set_md(alg, EVP_get_digestbynid(hash_nid));
	if (TS_MSG_IMPRINT_set_algo(mi, alg) != 1 ||
	    TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)imprint, (int)il) != 1 ||
	    TS_REQ_set_version(req, 1) != 1 || TS_REQ_set_msg_imprint(req, mi) != 1 ||
	    TS_REQ_set_cert_req(req, 1) != 1 || RAND_bytes(nb, sizeof(nb)) != 1)
		goto out;
	nb[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(nb, sizeof(nb), NULL);
	nonce = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	BN_free(bn);
	if (nonce == NULL || TS_REQ_set_nonce(req, nonce) != 1)
		goto out;
	unsigned char *der = NULL;
	int l = i2d_TS_REQ(req, &der);
	if (l > 0) {
		siegel_buf_append(out, der, (size_t)l);
		rc = out->err;
	}
	OPENSSL_free(der);
out:
	ASN1_INTEGER_free(nonce);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
	return rc;
}

/* Checks a DER TimeStampResp: granted, imprint as asked; appends the token. */
static int take_token(struct siegel_buf *out, const uint8_t *resp, size_t rl,
	const uint8_t *imprint, size_t il, struct siegel_diag *d)
{
	const uint8_t *q = resp;
	TS_RESP *r = d2i_TS_RESP(NULL, &q, (long)rl);
	int rc = 0;
	if (r == NULL) {
		rc = siegel_fail(d, SIEGEL_E_PARSE, "TSA: answer is no TimeStampResp");
		goto out;
	}
	long st = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(r)));
	PKCS7 *tok = TS_RESP_get_token(r);
	TS_TST_INFO *ti = TS_RESP_get_tst_info(r);
	if ((st != 0 && st != 1) || tok == NULL || ti == NULL) {
		rc = siegel_fail(d, SIEGEL_E_SIGNING, "TSA: request not granted (PKIStatus %ld)", st);
		goto out;
	}
	ASN1_OCTET_STRING *m = TS_MSG_IMPRINT_get_msg(TS_TST_INFO_get_msg_imprint(ti));
	if (m == NULL || (size_t)ASN1_STRING_length(m) != il ||
	    memcmp(ASN1_STRING_get0_data(m), imprint, il) != 0) {
		rc = siegel_fail(d, SIEGEL_E_VERIFY, "TSA: token is for another message imprint");
		goto out;
	}
	unsigned char *der = NULL;
	int l = i2d_PKCS7(tok, &der);
	if (l <= 0) {
		rc = siegel_fail(d, SIEGEL_E_CRYPTO, "TSA: cannot encode the token");
		goto out;
	}
	siegel_buf_append(out, der, (size_t)l);
	OPENSSL_free(der);
	rc = out->err;
out:
	TS_RESP_free(r);
	ERR_clear_error();
	return rc;
}

int sign_tsa_local_fn(void *ctx, struct siegel_buf *token_out, const uint8_t *imprint,
	size_t imprint_len, int hash_nid, struct siegel_diag *d)
{
	struct sign_tsa_local *t = ctx;
	struct siegel_buf req;
	siegel_buf_init(&req);
	int rc = make_request(&req, imprint, imprint_len, hash_nid);
	if (rc) {
		siegel_buf_free(&req);
		return siegel_fail(d, rc, "TSA: cannot build the request");
	}
	BIO *bio = BIO_new_mem_buf(req.data, (int)req.len);
	TS_RESP *r = bio ? TS_RESP_create_response(t->ctx, bio) : NULL;
	BIO_free(bio);
	siegel_buf_free(&req);
	unsigned char *der = NULL;
	int l = r ? i2d_TS_RESP(r, &der) : 0;
	TS_RESP_free(r);
	if (l <= 0) {
		ERR_clear_error();
		return siegel_fail(d, SIEGEL_E_CRYPTO, "local TSA: no response");
	}
	rc = take_token(token_out, der, (size_t)l, imprint, imprint_len, d);
	OPENSSL_free(der);
	return rc;
}

/* ---- HTTP ---- */

static int send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int sign_tsa_http_fn(void *ctx, struct siegel_buf *token_out, const uint8_t *imprint,
	size_t imprint_len, int hash_nid, struct siegel_diag *d)
{
	const char *url = ctx;
	char host[256], port[8] = "80", path[TSA_MAX_URL];
	if (url == NULL || strncmp(url, "http://", 7) != 0 || strlen(url) >= TSA_MAX_URL)
		return siegel_fail(d, SIEGEL_E_INVAL, "TSA URL must be http://host[:port]/path");
	const char *h = url + 7, *sl = strchr(h, '/'), *co = strchr(h, ':');
	size_t hl = sl ? (size_t)(sl - h) : strlen(h);
	if (co != NULL && (sl == NULL || co < sl)) {
		size_t pl = (size_t)((sl ? sl : h + strlen(h)) - co - 1);
		if (pl == 0 || pl >= sizeof(port))
			return siegel_fail(d, SIEGEL_E_INVAL, "TSA URL %s: bad port", url);
		memcpy(port, co + 1, pl);
		port[pl] = 0;
		hl = (size_t)(co - h);
	}
	if (hl == 0 || hl >= sizeof(host))
		return siegel_fail(d, SIEGEL_E_INVAL, "TSA URL %s: bad host", url);
	memcpy(host, h, hl);
	host[hl] = 0;
	snprintf(path, sizeof(path), "%s", sl ? sl : "/");

	struct siegel_buf req, resp;
	siegel_buf_init(&req);
	siegel_buf_init(&resp);
	int rc = make_request(&req, imprint, imprint_len, hash_nid);
	if (rc) {
		siegel_buf_free(&req);
		return siegel_fail(d, rc, "TSA: cannot build the request");
	}
	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	int fd = -1;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL) {
		rc = siegel_fail(d, SIEGEL_E_IO, "TSA %s: cannot resolve %s", url, host);
		goto out;
	}
	for (struct addrinfo *a = ai; a != NULL && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
		if (fd < 0)
			continue;
		struct timeval tv = { TSA_TIMEOUT_S, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0) {
		rc = siegel_fail(d, SIEGEL_E_IO, "TSA %s: cannot connect", url);
		goto out;
	}
	char hdr[TSA_MAX_URL + 512];
	int n = snprintf(hdr, sizeof(hdr), "POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: "
		"application/timestamp-query\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		path, host, req.len);
	if (n < 0 || (size_t)n >= sizeof(hdr) || send_all(fd, hdr, (size_t)n) != 0 ||
	    send_all(fd, req.data, req.len) != 0) {
		rc = siegel_fail(d, SIEGEL_E_IO, "TSA %s: send failed", url);
		goto out;
	}
	for (;;) {
		uint8_t b[4096];
		ssize_t r = recv(fd, b, sizeof(b), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = siegel_fail(d, SIEGEL_E_IO, "TSA %s: no answer within %d s", url,
				TSA_TIMEOUT_S);
			goto out;
		}
		if (r == 0)
			break;
		if (resp.len + (size_t)r > TSA_MAX_RESPONSE) {
			rc = siegel_fail(d, SIEGEL_E_LIMIT, "TSA %s: answer over %u bytes", url,
				TSA_MAX_RESPONSE);
			goto out;
		}
		siegel_buf_append(&resp, b, (size_t)r);
	}
	siegel_buf_putc(&resp, 0);
	if (resp.err || resp.len < 12 || strncmp((const char *)resp.data, "HTTP/1.", 7) != 0 ||
	    strncmp((const char *)resp.data + 9, "200", 3) != 0) {
		rc = siegel_fail(d, SIEGEL_E_IO, "TSA %s: HTTP answer is not 200", url);
		goto out;
	}
	const char *body = strstr((const char *)resp.data, "\r\n\r\n");
	if (body == NULL) {
		rc = siegel_fail(d, SIEGEL_E_PARSE, "TSA %s: malformed HTTP answer", url);
		goto out;
	}
	body += 4;
	size_t bl = resp.len - 1 - (size_t)((const uint8_t *)body - resp.data);
	rc = take_token(token_out, (const uint8_t *)body, bl, imprint, imprint_len, d);
out:
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	siegel_buf_free(&req);
	siegel_buf_free(&resp);
	return rc;
}
