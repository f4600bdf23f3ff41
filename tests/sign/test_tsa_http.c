/* The RFC 3161 HTTP client (sign_tsa_http_fn) against a TSA in a thread of
 * this test: plain sockets on 127.0.0.1, real TimeStampResps from OpenSSL's
 * TS_RESP_CTX with a TSA certificate of the fixture PKI. A good answer (also
 * with HTTP/1.0, lower-case header names, media type parameters and no
 * Content-Length) gives a token, and a PAdES B-T signed through it is valid
 * for pdfsig and carries id-smime-aa-timeStampToken. Each bad answer is
 * refused with its error class and a message that names the URL and the
 * problem: HTTP 500, no status line, Content-Type text/html, garbage, a
 * body shorter or longer than Content-Length, chunked, an oversized header,
 * PKIStatus rejection, a token for another imprint, with another or no
 * nonce, with a flipped signature byte, without the TSA certificate; then
 * connection refused and a TSA that never answers (1 s timeout). After every
 * failure the server keeps serving and the next request gets a good token. */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/ts.h>

#include "harness.h"
#include "harness_ntp.h"
#include "sign/sign.h"
#include "sign_fixture.h"

/* ---- the TSA server ---- */

enum mode {
	M_GOOD,       /* HTTP/1.1 200, Content-Type, Content-Length */
	M_GOOD_LAX,   /* HTTP/1.0, lower-case names, media type parameters, no length */
	M_500,
	M_NOSTATUS,   /* not HTTP at all */
	M_HTML,       /* 200 with Content-Type text/html */
	M_GARBAGE,    /* 200, right Content-Type, random bytes */
	M_TRUNC,      /* Content-Length 100 more than sent */
	M_LONGER,     /* Content-Length 10 less than sent */
	M_CHUNKED,
	M_BIGHDR,     /* a 20 KB header field */
	M_REJECT,     /* PKIStatus rejection */
	M_IMPRINT,    /* the request's imprint changed before answering */
	M_NONCE,      /* the request's nonce changed before answering */
	M_NONONCE,    /* the nonce removed from the request */
	M_BADSIG,     /* a byte of the token's signature value flipped */
	M_NOCERT,     /* certReq cleared: no TSA certificate in the token */
	M_SILENT,     /* reads the request, never answers */
};

struct srv {
	int lfd, port;
	pthread_t th;
	atomic_int mode, stop, answered;
	TS_RESP_CTX *ctx;             /* used by the server thread only */
	pthread_mutex_t mu;
	char last_head[1024];         /* the last request's header, under mu */
	size_t last_body;
};

static struct srv srv;

static int send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads the POST (header, then Content-Length bytes) into b. 0 or -1. */
static int read_request(struct siegel_buf *b, size_t *body_off, int fd)
{
	for (;;) {
		uint8_t *e = b->len ? memmem(b->data, b->len, "\r\n\r\n", 4) : NULL;
		if (e != NULL) {
			*body_off = (size_t)(e - b->data) + 4;
			siegel_buf_putc(b, 0);
			b->len--;
			const char *cl = strcasestr((const char *)b->data, "\r\nContent-Length:");
			size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
			if (b->len - *body_off >= want)
				return 0;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10000) <= 0)
			return -1;
		uint8_t t[4096];
		ssize_t r = recv(fd, t, sizeof(t), 0);
		if (r <= 0 || b->len > 65536)
			return -1;
		siegel_buf_append(b, t, (size_t)r);
	}
}

static uint8_t *der_of_resp(size_t *len, TS_RESP *r)
{
	unsigned char *der = NULL;
	int l = r ? i2d_TS_RESP(r, &der) : 0;
	uint8_t *out = NULL;
	if (l > 0 && (out = malloc((size_t)l)) != NULL) {
		memcpy(out, der, (size_t)l);
		*len = (size_t)l;
	}
	OPENSSL_free(der);
	return out;
}

/* The TimeStampResp for the DER request, altered as mode says. */
static uint8_t *make_resp(size_t *len, const uint8_t *q, size_t ql, int mode)
{
	if (mode == M_REJECT) {
		TS_RESP *r = TS_RESP_new();
		TS_STATUS_INFO *si = TS_STATUS_INFO_new();
		TS_STATUS_INFO_set_status(si, TS_STATUS_REJECTION);
		TS_RESP_set_status_info(r, si);
		TS_STATUS_INFO_free(si);
		uint8_t *o = der_of_resp(len, r);
		TS_RESP_free(r);
		return o;
	}
	const uint8_t *p = q;
	TS_REQ *req = d2i_TS_REQ(NULL, &p, (long)ql);
	if (req == NULL)
		return NULL;
	if (mode == M_IMPRINT) {
		ASN1_OCTET_STRING *m = TS_MSG_IMPRINT_get_msg(TS_REQ_get_msg_imprint(req));
		uint8_t v[64];
		int n = ASN1_STRING_length(m);
		memcpy(v, ASN1_STRING_get0_data(m), (size_t)n);
		v[0] ^= 0x01;
		ASN1_OCTET_STRING_set(m, v, n);
	} else if (mode == M_NONCE) {
		ASN1_INTEGER *n = ASN1_INTEGER_new();
		ASN1_INTEGER_set(n, 4711);
		TS_REQ_set_nonce(req, n);
		ASN1_INTEGER_free(n);
	} else if (mode == M_NONONCE) {
		TS_REQ *r2 = TS_REQ_new(); /* the same request without a nonce */
		TS_REQ_set_version(r2, 1);
		TS_REQ_set_msg_imprint(r2, TS_REQ_get_msg_imprint(req));
		TS_REQ_set_cert_req(r2, 1);
		TS_REQ_free(req);
		req = r2;
	} else if (mode == M_NOCERT) {
		TS_REQ_set_cert_req(req, 0);
	}
	unsigned char *der = NULL;
	int l = i2d_TS_REQ(req, &der);
	TS_REQ_free(req);
	BIO *bio = l > 0 ? BIO_new_mem_buf(der, l) : NULL;
	TS_RESP *r = bio ? TS_RESP_create_response(srv.ctx, bio) : NULL;
	BIO_free(bio);
	OPENSSL_free(der);
	if (r != NULL && mode == M_BADSIG) {
		PKCS7 *tok = TS_RESP_get_token(r);
		PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(tok), 0);
		int n = ASN1_STRING_length(si->enc_digest);
		uint8_t v[1024];
		memcpy(v, ASN1_STRING_get0_data(si->enc_digest), (size_t)n);
		v[n - 1] ^= 0x01; /* the low byte of ECDSA s: still DER, wrong value */
		ASN1_OCTET_STRING_set(si->enc_digest, v, n);
	}
	uint8_t *o = der_of_resp(len, r);
	TS_RESP_free(r);
	return o;
}

static void serve_one(int fd)
{
	struct siegel_buf in, out;
	siegel_buf_init(&in);
	siegel_buf_init(&out);
	size_t bo = 0;
	int mode = atomic_load(&srv.mode);
	if (read_request(&in, &bo, fd) != 0)
		goto done;
	pthread_mutex_lock(&srv.mu);
	snprintf(srv.last_head, sizeof(srv.last_head), "%.*s", (int)bo, (const char *)in.data);
	srv.last_body = in.len - bo;
	pthread_mutex_unlock(&srv.mu);
	if (mode == M_SILENT) {
		/* wait for the client to give up and close */
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint8_t t[64];
		while (poll(&p, 1, 10000) > 0 && recv(fd, t, sizeof(t), 0) > 0)
			;
		goto done;
	}
	size_t rl = 0;
	uint8_t *r = NULL;
	if (mode != M_500 && mode != M_NOSTATUS && mode != M_GARBAGE)
		r = make_resp(&rl, in.data + bo, in.len - bo, mode);
	if (mode == M_GARBAGE) {
		rl = 300;
		r = malloc(rl);
		RAND_bytes(r, (int)rl);
	}
	const char *ct = "Content-Type: application/timestamp-reply\r\n";
	switch (mode) {
	case M_500:
		siegel_buf_puts(&out, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain"
			"\r\nContent-Length: 5\r\n\r\noops\n");
		break;
	case M_NOSTATUS:
		siegel_buf_puts(&out, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
		break;
	case M_GOOD_LAX:
		siegel_buf_puts(&out, "HTTP/1.0 200 OK\ncontent-type:  Application/TimeStamp-Reply ; "
			"charset=binary\nserver: test\n\n");
		siegel_buf_append(&out, r, rl);
		break;
	case M_HTML:
		siegel_buf_printf(&out, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
			"Content-Length: %zu\r\n\r\n", rl);
		siegel_buf_append(&out, r, rl);
		break;
	case M_TRUNC:
	case M_LONGER:
		siegel_buf_printf(&out, "HTTP/1.1 200 OK\r\n%sContent-Length: %zu\r\n\r\n", ct,
			mode == M_TRUNC ? rl + 100 : rl - 10);
		siegel_buf_append(&out, r, rl);
		break;
	case M_CHUNKED:
		siegel_buf_printf(&out, "HTTP/1.1 200 OK\r\n%sTransfer-Encoding: chunked\r\n\r\n"
			"%zx\r\n", ct, rl);
		siegel_buf_append(&out, r, rl);
		siegel_buf_puts(&out, "\r\n0\r\n\r\n");
		break;
	case M_BIGHDR:
		siegel_buf_printf(&out, "HTTP/1.1 200 OK\r\n%sX-Pad: ", ct);
		for (int i = 0; i < 20000; i++)
			siegel_buf_putc(&out, 'a');
		siegel_buf_printf(&out, "\r\nContent-Length: %zu\r\n\r\n", rl);
		siegel_buf_append(&out, r, rl);
		break;
	default:
		siegel_buf_printf(&out, "HTTP/1.1 200 OK\r\nServer: siegel-test\r\n%s"
			"Content-Length: %zu\r\nConnection: close\r\n\r\n", ct, rl);
		siegel_buf_append(&out, r, rl);
		break;
	}
	free(r);
	atomic_fetch_add(&srv.answered, 1); /* before the client can have the answer */
	if (out.err == 0 && send_all(fd, out.data, out.len) == 0) {
		/* FIN, then wait for the client's close so that nothing is reset */
		shutdown(fd, SHUT_WR);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint8_t t[64];
		while (poll(&p, 1, 5000) > 0 && recv(fd, t, sizeof(t), 0) > 0)
			;
	}
done:
	ERR_clear_error();
	siegel_buf_free(&in);
	siegel_buf_free(&out);
	close(fd);
}

static void *serve(void *arg)
{
	(void)arg;
	while (!atomic_load(&srv.stop)) {
		struct pollfd p = { .fd = srv.lfd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		int fd = accept(srv.lfd, NULL, NULL);
		if (fd < 0)
			continue;
		serve_one(fd);
	}
	return NULL;
}

static int srv_start(X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain)
{
	srv.ctx = TS_RESP_CTX_new();
	ASN1_OBJECT *pol = OBJ_txt2obj("1.3.6.1.4.1.99999.1.2", 1);
	if (srv.ctx == NULL || pol == NULL || TS_RESP_CTX_set_signer_cert(srv.ctx, cert) != 1 ||
	    TS_RESP_CTX_set_signer_key(srv.ctx, key) != 1 ||
	    TS_RESP_CTX_set_def_policy(srv.ctx, pol) != 1 ||
	    TS_RESP_CTX_set_certs(srv.ctx, chain) != 1 ||
	    TS_RESP_CTX_add_md(srv.ctx, EVP_sha256()) != 1 ||
	    TS_RESP_CTX_add_md(srv.ctx, EVP_sha384()) != 1 ||
	    TS_RESP_CTX_set_accuracy(srv.ctx, 1, 0, 0) != 1)
		return -1;
	ASN1_OBJECT_free(pol);
	TS_RESP_CTX_set_signer_digest(srv.ctx, EVP_sha256());
	pthread_mutex_init(&srv.mu, NULL);
	srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof(a);
	if (srv.lfd < 0 || bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(srv.lfd, (struct sockaddr *)&a, &al) != 0 || listen(srv.lfd, 8) != 0)
		return -1;
	srv.port = ntohs(a.sin_port);
	return pthread_create(&srv.th, NULL, serve, NULL) == 0 ? 0 : -1;
}

static void srv_stop(void)
{
	atomic_store(&srv.stop, 1);
	pthread_join(srv.th, NULL);
	close(srv.lfd);
	TS_RESP_CTX_free(srv.ctx);
	pthread_mutex_destroy(&srv.mu);
}

/* ---- the client ---- */

static char url[128];
static uint8_t imprint[32];

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A good exchange: a token for imprint with the TSA's certificate in it. */
/* One request to the TSA thread answering in mode; the token into tok. */
static int ask(int mode, struct siegel_buf *tok, struct siegel_diag *d)
{
	atomic_store(&srv.mode, mode);
	struct sign_tsa_http h = { url, 5 };
	siegel_buf_init(tok);
	return sign_tsa_http_fn(&h, tok, imprint, sizeof(imprint), NID_sha256, d);
}

static void expect_good(int mode, const char *why)
{
	struct siegel_buf tok;
	struct siegel_diag d = { { 0 } };
	int rc = ask(mode, &tok, &d);
	CHECK_OK(rc);
	if (rc != 0)
		fprintf(stderr, "good request (%s): %s\n", why, d.msg);
	const uint8_t *p = tok.data;
	PKCS7 *p7 = tok.len ? d2i_PKCS7(NULL, &p, (long)tok.len) : NULL;
	TS_TST_INFO *ti = p7 ? PKCS7_to_TS_TST_INFO(p7) : NULL;
	CHECK(ti != NULL && p == tok.data + tok.len);
	if (ti != NULL) {
		ASN1_OCTET_STRING *m = TS_MSG_IMPRINT_get_msg(TS_TST_INFO_get_msg_imprint(ti));
		CHECK(ASN1_STRING_length(m) == 32 &&
			memcmp(ASN1_STRING_get0_data(m), imprint, 32) == 0);
		CHECK(TS_TST_INFO_get_nonce(ti) != NULL);
	}
	CHECK(p7 != NULL && PKCS7_type_is_signed(p7) && sk_X509_num(p7->d.sign->cert) >= 1);
	TS_TST_INFO_free(ti);
	PKCS7_free(p7);
	siegel_buf_free(&tok);
}

/* A bad answer: rc want, a message with the URL and `what`, no token; then
 * the server still serves a good one. */
static void expect_fail(int mode, int want, const char *what)
{
	struct siegel_buf tok;
	struct siegel_diag d = { { 0 } };
	int rc = ask(mode, &tok, &d);
	CHECK_RC(rc, want);
	CHECK(strstr(d.msg, url) != NULL);
	CHECK(strstr(d.msg, what) != NULL);
	CHECK(tok.len == 0);
	if (rc != want || strstr(d.msg, what) == NULL || strstr(d.msg, url) == NULL)
		fprintf(stderr, "mode %d: want %s and \"%s\", got %s: %s\n", mode,
			siegel_err_name(want), what, siegel_err_name(rc), d.msg);
	siegel_buf_free(&tok);
	expect_good(M_GOOD, what);
}

/* ---- PAdES B-T through the HTTP TSA ---- */

struct ctx {
	struct sign_p11 *p;
	struct sign_p11_key key;
	int hash_nid;
};

static int raw(void *c, uint8_t *sig, size_t *sl, size_t cap, const uint8_t *dig, size_t dl,
	struct siegel_diag *d)
{
	struct ctx *x = c;
	return sign_p11_sign_digest(sig, sl, cap, x->p, &x->key, x->hash_nid, 0, dig, dl,
		FX_PIN, strlen(FX_PIN), d);
}

static void test_pades_bt(const char *dir, struct fx_pki *pki)
{
	const char *mod = fx_token(dir);
	struct siegel_diag d = { { 0 } };
	EVP_PKEY *pub = fx_keygen(mod, "tsa-http-p256", "p256", 0);
	X509 *cert = fx_signer_cert(pki, pub, "tsa-http-p256");
	EVP_PKEY_free(pub);
	struct ctx c;
	struct sign_signer s;
	memset(&c, 0, sizeof(c));
	memset(&s, 0, sizeof(s));
	int rc = sign_p11_open(&c.p, mod, FX_TOKEN, &d);
	if (rc == 0)
		rc = sign_p11_login(c.p, FX_PIN, strlen(FX_PIN), &d);
	if (rc == 0)
		rc = sign_p11_find_key(&c.key, c.p, "tsa-http-p256", NULL, 0, &d);
	if (rc == 0)
		rc = sign_signer_init(&s, cert, pki->chain, 0, 0, &d);
	X509_free(cert);
	CHECK_OK(rc);
	if (rc != 0) {
		fprintf(stderr, "signer: %s\n", d.msg);
		sign_p11_close(c.p);
		return;
	}
	c.hash_nid = s.hash_nid;
	char in[512], out[512];
	snprintf(in, sizeof(in), "%s/in.pdf", dir);
	snprintf(out, sizeof(out), "%s/bt-http.pdf", dir);
	fx_make_pdf(in, 3, 0);
	size_t len = 0;
	uint8_t *pdf = t_read(in, &len);
	struct siegel_buf o;
	siegel_buf_init(&o);
	atomic_store(&srv.mode, M_GOOD);
	struct sign_tsa_http h = { url, 5 };
	struct sign_cms_params cp = { .sign = raw, .sign_ctx = &c, .tsa = sign_tsa_http_fn,
		.tsa_ctx = &h };
	struct sign_pades_opts po = { .when = time(NULL) };
	int answered = atomic_load(&srv.answered);
	rc = sign_pades_sign(&o, pdf, len, &s, &cp, &po, &d);
	CHECK_OK(rc);
	if (rc != 0)
		fprintf(stderr, "PAdES B-T: %s\n", d.msg);
	CHECK(atomic_load(&srv.answered) == answered + 1); /* one token per signature */
	if (rc == 0)
		t_write(out, o.data, o.len);
	siegel_buf_free(&o);
	free(pdf);
	char *po_out = NULL;
	rc = t_run(&po_out, "pdfsig -nocert '%s' 2>&1", out);
	CHECK(rc == 0);
	CHECK(po_out != NULL && strstr(po_out, "Signature is Valid.") != NULL);
	CHECK(po_out != NULL && strstr(po_out, "Total document signed") != NULL);
	if (rc != 0 || po_out == NULL || strstr(po_out, "Signature is Valid.") == NULL)
		fprintf(stderr, "pdfsig: %s\n", po_out ? po_out : "");
	free(po_out);
	/* the CMS carries the signature time-stamp */
	t_run(NULL, "cd '%s' && pdfsig -nocert -dump bt-http.pdf >/dev/null 2>&1", dir);
	char *cm = NULL;
	CHECK(t_run(&cm, "cd '%s' && openssl cms -cmsout -print -inform DER -in bt-http.pdf.sig0 "
		"2>&1 | grep -c 'id-smime-aa-timeStampToken'", dir) == 0);
	CHECK(cm != NULL && atoi(cm) >= 1);
	free(cm);
	/* a TSA failure fails the signature, nothing is produced */
	atomic_store(&srv.mode, M_NONCE);
	pdf = t_read(in, &len);
	siegel_buf_init(&o);
	CHECK_RC(sign_pades_sign(&o, pdf, len, &s, &cp, &po, &d), SIEGEL_E_VERIFY);
	CHECK(strstr(d.msg, "nonce") != NULL);
	siegel_buf_free(&o);
	free(pdf);
	atomic_store(&srv.mode, M_GOOD);
	sign_signer_free(&s);
	sign_p11_close(c.p);
}

/* --serve PORTFILE: only the TSA, answering well, for tests/job/test_cli.sh
 * (siegel sign --tsa); writes its port to PORTFILE and stops when stdin
 * closes or after 120 s. */
static int serve_only(const char *portfile)
{
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
	FILE *f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "%d\n", srv.port) < 0 || fclose(f) != 0 || rename(tmp, portfile) != 0)
		return 99;
	char b[64];
	while (read(0, b, sizeof(b)) > 0)
		;
	srv_stop();
	return 0;
}

int main(int argc, char **argv)
{
	int serve_mode = argc == 3 && strcmp(argv[1], "--serve") == 0;
	t_alarm(serve_mode ? 120 : 180);
	const char *dir = t_tmpdir();
	struct fx_pki pki;
	fx_pki_new(&pki, dir);
	EVP_PKEY *tk = fx_soft_key();
	X509 *tc = fx_cert(tk, "siegel test TSA (HTTP)", pki.ca, pki.ca_key, 0, -60, 365L * 86400,
		"critical,digitalSignature", "critical,timeStamping");
	if (srv_start(tc, tk, pki.chain) != 0) {
		fprintf(stderr, "TSA server set-up failed\n");
		return 99;
	}
	if (serve_mode)
		return serve_only(argv[2]);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/tsa", srv.port);
	SHA256((const uint8_t *)"siegel tsa test", 15, imprint);

	/* good answers; the request is an HTTP/1.0 POST of a TimeStampReq */
	expect_good(M_GOOD, "first");
	pthread_mutex_lock(&srv.mu);
	CHECK(strncmp(srv.last_head, "POST /tsa HTTP/1.0\r\n", 20) == 0);
	CHECK(strstr(srv.last_head, "\r\nContent-Type: application/timestamp-query\r\n") != NULL);
	CHECK(srv.last_body > 40);
	pthread_mutex_unlock(&srv.mu);
	expect_good(M_GOOD_LAX, "lax HTTP/1.0 answer");

	/* HTTP */
	expect_fail(M_500, SIEGEL_E_IO, "HTTP status 500");
	expect_fail(M_NOSTATUS, SIEGEL_E_PARSE, "no HTTP/1.x status line");
	expect_fail(M_HTML, SIEGEL_E_PARSE, "Content-Type \"text/html; charset=utf-8\"");
	expect_fail(M_GARBAGE, SIEGEL_E_PARSE, "no TimeStampResp");
	expect_fail(M_TRUNC, SIEGEL_E_IO, "truncated");
	expect_fail(M_LONGER, SIEGEL_E_PARSE, "more than Content-Length");
	expect_fail(M_CHUNKED, SIEGEL_E_NOTSUP, "chunked");
	expect_fail(M_BIGHDR, SIEGEL_E_LIMIT, "HTTP header over");
	/* RFC 3161 */
	expect_fail(M_REJECT, SIEGEL_E_SIGNING, "not granted (PKIStatus 2)");
	expect_fail(M_IMPRINT, SIEGEL_E_VERIFY, "another message imprint");
	expect_fail(M_NONCE, SIEGEL_E_VERIFY, "nonce differs");
	expect_fail(M_NONONCE, SIEGEL_E_VERIFY, "no nonce");
	expect_fail(M_BADSIG, SIEGEL_E_VERIFY, "signature does not verify");
	expect_fail(M_NOCERT, SIEGEL_E_VERIFY, "does not contain the TSA certificate");

	/* a TSA that never answers: the timeout, not the test's alarm */
	{
		atomic_store(&srv.mode, M_SILENT);
		struct sign_tsa_http h = { url, 1 };
		struct siegel_buf tok;
		siegel_buf_init(&tok);
		struct siegel_diag d = { { 0 } };
		int64_t t0 = now_ms();
		CHECK_RC(sign_tsa_http_fn(&h, &tok, imprint, 32, NID_sha256, &d), SIEGEL_E_IO);
		int64_t ms = now_ms() - t0;
		CHECK(ms >= 900 && ms < 4000);
		CHECK(strstr(d.msg, url) != NULL && strstr(d.msg, "no answer within 1 s") != NULL);
		if (strstr(d.msg, "no answer within 1 s") == NULL || ms >= 4000)
			fprintf(stderr, "silent TSA (%lld ms): %s\n", (long long)ms, d.msg);
		siegel_buf_free(&tok);
		expect_good(M_GOOD, "after the silent TSA");
	}
	/* nothing listens */
	{
		char url2[128];
		int port = t_free_port(0);
		snprintf(url2, sizeof(url2), "http://127.0.0.1:%d/tsa", port);
		struct sign_tsa_http h = { url2, 2 };
		struct siegel_buf tok;
		siegel_buf_init(&tok);
		struct siegel_diag d = { { 0 } };
		CHECK(port > 0);
		CHECK_RC(sign_tsa_http_fn(&h, &tok, imprint, 32, NID_sha256, &d), SIEGEL_E_IO);
		CHECK(strstr(d.msg, url2) != NULL && strstr(d.msg, "Connection refused") != NULL);
		if (strstr(d.msg, "Connection refused") == NULL)
			fprintf(stderr, "refused: %s\n", d.msg);
		/* URLs we do not speak */
		h.url = "https://127.0.0.1/tsa";
		CHECK_RC(sign_tsa_http_fn(&h, &tok, imprint, 32, NID_sha256, &d), SIEGEL_E_INVAL);
		h.url = "http://127.0.0.1:1234567/tsa";
		CHECK_RC(sign_tsa_http_fn(&h, &tok, imprint, 32, NID_sha256, &d), SIEGEL_E_INVAL);
		CHECK(strstr(d.msg, "bad port") != NULL);
		CHECK_RC(sign_tsa_http_fn(NULL, &tok, imprint, 32, NID_sha256, &d), SIEGEL_E_INVAL);
		CHECK(tok.len == 0);
		siegel_buf_free(&tok);
	}

	test_pades_bt(dir, &pki);
	expect_good(M_GOOD, "last");

	srv_stop();
	X509_free(tc);
	EVP_PKEY_free(tk);
	X509_free(pki.root);
	X509_free(pki.ca);
	EVP_PKEY_free(pki.root_key);
	EVP_PKEY_free(pki.ca_key);
	sk_X509_pop_free(pki.trust, X509_free);
	sk_X509_pop_free(pki.chain, X509_free);
	return t_done();
}
