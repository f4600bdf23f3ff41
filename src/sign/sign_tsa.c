/* sign_tsa: RFC 3161 time-stamp tokens for PAdES/CAdES B-T. An in-process
 * TSA (OpenSSL TS_RESP_CTX) for tests and benchmarks, and a plain HTTP client
 * (RFC 3161 3.4: POST application/timestamp-query). Every token is checked
 * before it goes into a signature: granted, for our message imprint, with our
 * nonce (2.4.2: no replayed or foreign answer), and its SignedData signature
 * verifies with the TSA certificate inside it. Whether that certificate is a
 * trusted TSA is the verifier's question (cms_tst_verify + chain). */
#include "sign/sign.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/ts.h>

#define TSA_MAX_RESPONSE (256u * 1024u)
#define TSA_MAX_HEADER (16u * 1024u)    /* status line and header fields */
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

/* DER TimeStampReq for imprint (certReq TRUE, random 63-bit nonce); the
 * nonce goes to *nonce_out (caller frees) to be compared with the answer's. */
static int make_request(struct siegel_buf *out, ASN1_INTEGER **nonce_out, const uint8_t *imprint,
	size_t il, int hash_nid)
{
	*nonce_out = NULL;
	const EVP_MD *md = EVP_get_digestbynid(hash_nid);
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_INTEGER *nonce = NULL;
	int rc = SIEGEL_E_CRYPTO;
	uint8_t nb[8];
	if (md == NULL || req == NULL || mi == NULL || alg == NULL)
		goto out;
	X509_ALGOR_set_md(alg, md);
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
	if (rc == 0) {
		*nonce_out = nonce;
		nonce = NULL;
	}
out:
	ASN1_INTEGER_free(nonce);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
	ERR_clear_error();
	return rc;
}

/* The token's SignedData has one SignerInfo whose certificate is in the token
 * (we asked with certReq), and its signature over the TSTInfo (message-digest
 * attribute and signature value) verifies with that certificate. No chain is
 * built here: PKCS7_NOVERIFY. */
static int check_token_signature(PKCS7 *tok, const char *who, struct siegel_diag *d)
{
	STACK_OF(PKCS7_SIGNER_INFO) *sis = PKCS7_type_is_signed(tok) ?
		PKCS7_get_signer_info(tok) : NULL;
	if (sis == NULL || sk_PKCS7_SIGNER_INFO_num(sis) != 1)
		return siegel_fail(d, SIEGEL_E_VERIFY, "TSA %s: token has %d signers, want 1", who,
			sis ? sk_PKCS7_SIGNER_INFO_num(sis) : 0);
	STACK_OF(X509) *signers = PKCS7_get0_signers(tok, NULL, 0);
	if (signers == NULL)
		return siegel_fail(d, SIEGEL_E_VERIFY, "TSA %s: token does not contain the TSA "
			"certificate (certReq was set)", who);
	sk_X509_free(signers); /* the certificates stay owned by tok */
	if (PKCS7_verify(tok, NULL, NULL, NULL, NULL, PKCS7_NOVERIFY) != 1)
		return siegel_fail(d, SIEGEL_E_VERIFY, "TSA %s: token signature does not verify "
			"with the TSA certificate in it", who);
	return 0;
}

/* Checks a DER TimeStampResp: granted, signature, imprint (hash and value)
 * and nonce as asked; appends the token (DER ContentInfo). who names the TSA
 * in messages. */
static int take_token(struct siegel_buf *out, const uint8_t *resp, size_t rl,
	const uint8_t *imprint, size_t il, int hash_nid, const ASN1_INTEGER *nonce,
	const char *who, struct siegel_diag *d)
{
	const uint8_t *q = resp;
	TS_RESP *r = rl <= TSA_MAX_RESPONSE ? d2i_TS_RESP(NULL, &q, (long)rl) : NULL;
	int rc = 0;
	if (r == NULL) {
		rc = siegel_fail(d, SIEGEL_E_PARSE, "TSA %s: answer is no TimeStampResp (%zu bytes)",
			who, rl);
		goto out;
	}
	long st = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(r)));
	PKCS7 *tok = TS_RESP_get_token(r);
	TS_TST_INFO *ti = TS_RESP_get_tst_info(r);
	if ((st != 0 && st != 1) || tok == NULL || ti == NULL) {
		rc = siegel_fail(d, SIEGEL_E_SIGNING, "TSA %s: request not granted (PKIStatus %ld)",
			who, st);
		goto out;
	}
	if ((rc = check_token_signature(tok, who, d)) != 0)
		goto out;
	TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(ti);
	const ASN1_OBJECT *aobj = NULL;
	X509_ALGOR_get0(&aobj, NULL, NULL, TS_MSG_IMPRINT_get_algo(mi));
	ASN1_OCTET_STRING *m = TS_MSG_IMPRINT_get_msg(mi);
	if (aobj == NULL || OBJ_obj2nid(aobj) != hash_nid || m == NULL ||
	    (size_t)ASN1_STRING_length(m) != il ||
	    memcmp(ASN1_STRING_get0_data(m), imprint, il) != 0) {
		rc = siegel_fail(d, SIEGEL_E_VERIFY, "TSA %s: token is for another message imprint",
			who);
		goto out;
	}
	const ASN1_INTEGER *tn = TS_TST_INFO_get_nonce(ti);
	if (tn == NULL) {
		rc = siegel_fail(d, SIEGEL_E_VERIFY, "TSA %s: token has no nonce, the request had "
			"one (RFC 3161 2.4.2)", who);
		goto out;
	}
	if (ASN1_INTEGER_cmp(tn, nonce) != 0) {
		rc = siegel_fail(d, SIEGEL_E_VERIFY, "TSA %s: token nonce differs from the "
			"request's (replayed or foreign answer)", who);
		goto out;
	}
	unsigned char *der = NULL;
	int l = i2d_PKCS7(tok, &der);
	if (l <= 0) {
		rc = siegel_fail(d, SIEGEL_E_CRYPTO, "TSA %s: cannot encode the token", who);
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
	ASN1_INTEGER *nonce = NULL;
	int rc = make_request(&req, &nonce, imprint, imprint_len, hash_nid);
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
		ASN1_INTEGER_free(nonce);
		ERR_clear_error();
		return siegel_fail(d, SIEGEL_E_CRYPTO, "local TSA: no response");
	}
	rc = take_token(token_out, der, (size_t)l, imprint, imprint_len, hash_nid, nonce,
		"(local)", d);
	OPENSSL_free(der);
	ASN1_INTEGER_free(nonce);
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

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Untrusted bytes for a message: printable ASCII, at most cap-1 of them. */
static void printable(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < cap; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	out[o] = 0;
}

/* Offset just past the blank line that ends the HTTP header ("\r\n\r\n", or
 * bare "\n\n" from lenient servers), 0 while there is none. */
static size_t head_end(const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0;
	const uint8_t *a = memmem(p, n, "\r\n\r\n", 4), *b = memmem(p, n, "\n\n", 2);
	if (a != NULL && (b == NULL || a + 2 <= b))
		return (size_t)(a - p) + 4;
	return b != NULL ? (size_t)(b - p) + 2 : 0;
}

static int name_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

/* Parses the status line and header fields in h[0..hl): status 200, Content-
 * Type application/timestamp-reply (parameters allowed), no transfer coding
 * (our request is HTTP/1.0, an answer must not be chunked). *clen_out gets
 * Content-Length, -1 when absent. */
static int parse_head(long *clen_out, const char *h, size_t hl, const char *url,
	struct siegel_diag *d)
{
	static const char ct_want[] = "application/timestamp-reply";
	const char *p = h, *end = h + hl;
	char shown[72];
	int ct_seen = 0;
	*clen_out = -1;
	for (int first = 1; p < end; first = 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *next = nl ? nl + 1 : end;
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (first) {
			/* HTTP/1.x SP 3DIGIT [SP reason] */
			if (ll < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' ||
			    p[8] != ' ' || p[9] < '0' || p[9] > '9' || p[10] < '0' || p[10] > '9' ||
			    p[11] < '0' || p[11] > '9' || (ll > 12 && p[12] != ' ')) {
				printable(shown, sizeof(shown), p, ll);
				return siegel_fail(d, SIEGEL_E_PARSE, "TSA %s: no HTTP/1.x status line "
					"(\"%s\")", url, shown);
			}
			int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
			if (status != 200) {
				printable(shown, sizeof(shown), p + 12, ll > 12 ? ll - 12 : 0);
				return siegel_fail(d, SIEGEL_E_IO, "TSA %s: HTTP status %d%s, want 200",
					url, status, shown);
			}
			p = next;
			continue;
		}
		if (ll == 0)
			break; /* the blank line */
		const char *co = memchr(p, ':', ll);
		if (co == NULL || co == p) {
			printable(shown, sizeof(shown), p, ll);
			return siegel_fail(d, SIEGEL_E_PARSE, "TSA %s: malformed HTTP header line "
				"\"%s\"", url, shown);
		}
		size_t nlen = (size_t)(co - p);
		const char *v = co + 1, *ve = p + ll;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t vl = (size_t)(ve - v);
		if (name_is(p, nlen, "Content-Type")) {
			size_t mt = 0; /* the media type: up to parameters or blanks */
			while (mt < vl && v[mt] != ';' && v[mt] != ' ' && v[mt] != '\t')
				mt++;
			if (!name_is(v, mt, ct_want)) {
				printable(shown, sizeof(shown), v, vl);
				return siegel_fail(d, SIEGEL_E_PARSE, "TSA %s: Content-Type \"%s\", want "
					"%s", url, shown, ct_want);
			}
			ct_seen = 1;
		} else if (name_is(p, nlen, "Content-Length")) {
			long cl = 0;
			size_t i = 0;
			for (; i < vl && v[i] >= '0' && v[i] <= '9'; i++)
				if (cl <= (long)TSA_MAX_RESPONSE) /* saturates above the limit */
					cl = cl * 10 + (v[i] - '0');
			if (vl == 0 || i != vl || (*clen_out >= 0 && *clen_out != cl)) {
				printable(shown, sizeof(shown), v, vl);
				return siegel_fail(d, SIEGEL_E_PARSE, "TSA %s: bad Content-Length \"%s\"",
					url, shown);
			}
			if (cl > (long)TSA_MAX_RESPONSE)
				return siegel_fail(d, SIEGEL_E_LIMIT, "TSA %s: Content-Length over %u "
					"bytes", url, TSA_MAX_RESPONSE);
			*clen_out = cl;
		} else if (name_is(p, nlen, "Transfer-Encoding") && !name_is(v, vl, "identity")) {
			printable(shown, sizeof(shown), v, vl);
			return siegel_fail(d, SIEGEL_E_NOTSUP, "TSA %s: Transfer-Encoding \"%s\" in the "
				"answer to an HTTP/1.0 request (chunked is not supported)", url, shown);
		}
		p = next;
	}
	if (!ct_seen)
		return siegel_fail(d, SIEGEL_E_PARSE, "TSA %s: answer without Content-Type, want %s",
			url, ct_want);
	return 0;
}

/* Connects to host:port within timeout_s (SO_SNDTIMEO bounds connect on
 * Linux); *fd_out = -1 and a message naming the last error on failure. */
static int tsa_connect(int *fd_out, const char *host, const char *port, int timeout_s,
	const char *url, struct siegel_diag *d)
{
	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	*fd_out = -1;
	int gr = getaddrinfo(host, port, &hints, &ai);
	if (gr != 0 || ai == NULL) {
		if (ai != NULL)
			freeaddrinfo(ai);
		return siegel_fail(d, SIEGEL_E_IO, "TSA %s: cannot resolve %s: %s", url, host,
			gai_strerror(gr));
	}
	int fd = -1, err = 0;
	for (struct addrinfo *a = ai; a != NULL && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		struct timeval tv = { timeout_s, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return siegel_fail(d, SIEGEL_E_IO, "TSA %s: cannot connect: %s", url,
			err == EINPROGRESS || err == EAGAIN ? "no connection within the timeout" :
			strerror(err));
	*fd_out = fd;
	return 0;
}

/* Reads the HTTP answer into resp within deadline (monotonic ms): the header
 * (at most TSA_MAX_HEADER bytes) is checked as soon as it is complete, the
 * body then ends at Content-Length, or at the end of the connection when
 * there is none. *body_off = where the body starts in resp. */
static int read_answer(size_t *body_off, struct siegel_buf *resp, int fd, int64_t deadline,
	int timeout_s, const char *url, struct siegel_diag *d)
{
	size_t he = 0;
	long clen = -1;
	int rc = 0;
	for (;;) {
		if (he == 0 && (he = head_end(resp->data, resp->len)) != 0) {
			if (he > TSA_MAX_HEADER)
				return siegel_fail(d, SIEGEL_E_LIMIT, "TSA %s: HTTP header over %u bytes",
					url, TSA_MAX_HEADER);
			if ((rc = parse_head(&clen, (const char *)resp->data, he, url, d)) != 0)
				return rc;
		}
		if (he == 0 && resp->len > TSA_MAX_HEADER)
			return siegel_fail(d, SIEGEL_E_LIMIT, "TSA %s: HTTP header over %u bytes", url,
				TSA_MAX_HEADER);
		if (he != 0 && clen >= 0 && resp->len - he >= (size_t)clen)
			break;
		int64_t left = deadline - mono_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return siegel_fail(d, SIEGEL_E_IO, "TSA %s: no %s within %d s", url,
				resp->len == 0 ? "answer" : "complete answer", timeout_s);
		uint8_t b[4096];
		ssize_t r = pr > 0 ? recv(fd, b, sizeof(b), 0) : -1;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return siegel_fail(d, SIEGEL_E_IO, "TSA %s: receive failed: %s", url,
				strerror(errno));
		if (r == 0)
			break;
		if (resp->len + (size_t)r > TSA_MAX_HEADER + TSA_MAX_RESPONSE)
			return siegel_fail(d, SIEGEL_E_LIMIT, "TSA %s: answer over %u bytes", url,
				TSA_MAX_RESPONSE);
		siegel_buf_append(resp, b, (size_t)r);
		if (resp->err)
			return siegel_fail(d, SIEGEL_E_NOMEM, "TSA %s: no memory for the answer", url);
	}
	if (he == 0)
		return siegel_fail(d, resp->len == 0 ? SIEGEL_E_IO : SIEGEL_E_PARSE, "TSA %s: %s", url,
			resp->len == 0 ? "connection closed without an answer" :
			"connection closed inside the HTTP header");
	size_t bl = resp->len - he;
	if (clen >= 0 && bl < (size_t)clen)
		return siegel_fail(d, SIEGEL_E_IO, "TSA %s: answer truncated: %zu of %ld body bytes "
			"(Content-Length)", url, bl, clen);
	if (clen >= 0 && bl > (size_t)clen)
		return siegel_fail(d, SIEGEL_E_PARSE, "TSA %s: %zu body bytes, more than "
			"Content-Length %ld", url, bl, clen);
	if (bl > TSA_MAX_RESPONSE)
		return siegel_fail(d, SIEGEL_E_LIMIT, "TSA %s: answer over %u bytes", url,
			TSA_MAX_RESPONSE);
	*body_off = he;
	return 0;
}

int sign_tsa_http_fn(void *ctx, struct siegel_buf *token_out, const uint8_t *imprint,
	size_t imprint_len, int hash_nid, struct siegel_diag *d)
{
	const struct sign_tsa_http *cfg = ctx;
	const char *url = cfg ? cfg->url : NULL;
	int timeout_s = cfg && cfg->timeout_s > 0 ? cfg->timeout_s : TSA_TIMEOUT_S;
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
		char *pe = NULL;
		long pn = strtol(port, &pe, 10);
		if (port[0] < '0' || port[0] > '9' || *pe != 0 || pn < 1 || pn > 65535)
			return siegel_fail(d, SIEGEL_E_INVAL, "TSA URL %s: bad port", url);
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
	ASN1_INTEGER *nonce = NULL;
	int fd = -1;
	int rc = make_request(&req, &nonce, imprint, imprint_len, hash_nid);
	if (rc) {
		rc = siegel_fail(d, rc, "TSA %s: cannot build the request", url);
		goto out;
	}
	if ((rc = tsa_connect(&fd, host, port, timeout_s, url, d)) != 0)
		goto out;
	char hdr[TSA_MAX_URL + 512];
	int n = snprintf(hdr, sizeof(hdr), "POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: "
		"application/timestamp-query\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		path, host, req.len);
	if (n < 0 || (size_t)n >= sizeof(hdr) || send_all(fd, hdr, (size_t)n) != 0 ||
	    send_all(fd, req.data, req.len) != 0) {
		rc = siegel_fail(d, SIEGEL_E_IO, "TSA %s: send failed: %s", url, strerror(errno));
		goto out;
	}
	size_t body = 0;
	rc = read_answer(&body, &resp, fd, mono_ms() + (int64_t)timeout_s * 1000, timeout_s, url, d);
	if (rc == 0)
		rc = take_token(token_out, resp.data + body, resp.len - body, imprint, imprint_len,
			hash_nid, nonce, url, d);
out:
	if (fd >= 0)
		close(fd);
	ASN1_INTEGER_free(nonce);
	siegel_buf_free(&req);
	siegel_buf_free(&resp);
	return rc;
}
