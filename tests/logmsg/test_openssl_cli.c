/* logmsg checked by an independent implementation, the openssl CLI: for each
 * TR-03151 algorithm a fresh key signs a transaction log through logmsg, and
 * `openssl dgst -verify` must accept the DTBS and reject a changed one;
 * `openssl asn1parse` must read the message; the serialNumber must equal the
 * SHA-256 of the point the CLI extracts. The reverse direction too: the CLI
 * signs a DTBS and logmsg_verify accepts the message built around it. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "alg/alg.h"
#include "base/base.h"
#include "harness.h"
#include "logmsg/logmsg.h"

struct signer {
	EVP_PKEY *key;
	int hash_nid;
};

static int sign_cb(void *ctx, uint8_t *sig_out, size_t *sig_len, const uint8_t *dtbs,
	size_t dtbs_len)
{
	struct signer *s = ctx;
	return alg_sign_plain(sig_out, sig_len, s->key, s->hash_nid, dtbs, dtbs_len);
}

/* A signer that hands out a signature computed elsewhere. */
struct given_sig {
	uint8_t sig[ALG_MAX_SIG];
	size_t len;
};

static int given_cb(void *ctx, uint8_t *sig_out, size_t *sig_len, const uint8_t *dtbs,
	size_t dtbs_len)
{
	struct given_sig *g = ctx;
	(void)dtbs;
	(void)dtbs_len;
	memcpy(sig_out, g->sig, g->len);
	*sig_len = g->len;
	return 0;
}

static void write_pem(const char *path, EVP_PKEY *k, int priv)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK((priv ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) :
		      PEM_write_PUBKEY(f, k)) == 1);
	fclose(f);
}

static void upper(char *s)
{
	for (; *s; s++)
		*s = (char)toupper((unsigned char)*s);
}

/* Builds a FinishTransaction for the test; chunks if indefinite. */
static void fill_msg(struct logmsg *m, const struct alg_info *ai, const uint8_t *serial,
	enum logmsg_time_format fmt, const struct logmsg_bytes *chunks, size_t n_chunks)
{
	static const char pd[] = "Beleg^62.00_0.00_0.00_0.00_0.00^66.30:Bar";
	memset(m, 0, sizeof(*m));
	m->kind = LOGMSG_TRANSACTION;
	m->operation_type = (struct logmsg_bytes){ (const uint8_t *)"FinishTransaction", 17 };
	m->client_id = (struct logmsg_bytes){ (const uint8_t *)"137741-0001 Kasse 1", 19 };
	m->process_data = (struct logmsg_bytes){ (const uint8_t *)pd, sizeof(pd) - 1 };
	m->has_process_type = 1;
	m->process_type = (struct logmsg_bytes){ (const uint8_t *)"Kassenbeleg-V1", 14 };
	m->transaction_number = 300;
	m->serial_number = (struct logmsg_bytes){ serial, ALG_SERIAL_LEN };
	m->alg = ai->alg;
	m->signature_counter = 128;
	CHECK_OK(logmsg_time_set(&m->log_time, fmt, 1718000020));
	m->process_data_chunks = chunks;
	m->n_process_data_chunks = n_chunks;
}

static void run_alg(const char *dir, enum siegel_alg alg, enum logmsg_time_format fmt,
	int indefinite)
{
	const struct alg_info *ai = alg_get(alg);
	char pubp[512], keyp[512], dtbsp[512], sigp[512], logp[512], badp[512];
	char *out = NULL;
	struct siegel_diag d = { { 0 } };
	CHECK(ai != NULL);
	if (ai == NULL)
		return;
	const char *dg = ai->hash_nid == NID_sha384 ? "-sha384" : "-sha256";
	snprintf(pubp, sizeof(pubp), "%s/%s.pub.pem", dir, ai->config_name);
	snprintf(keyp, sizeof(keyp), "%s/%s.key.pem", dir, ai->config_name);
	snprintf(dtbsp, sizeof(dtbsp), "%s/%s.dtbs.bin", dir, ai->config_name);
	snprintf(badp, sizeof(badp), "%s/%s.dtbs-bad.bin", dir, ai->config_name);
	snprintf(sigp, sizeof(sigp), "%s/%s.sig.der", dir, ai->config_name);
	snprintf(logp, sizeof(logp), "%s/%s.log.der", dir, ai->config_name);

	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", OBJ_nid2sn(ai->curve_nid));
	CHECK(k != NULL);
	if (k == NULL)
		return;
	write_pem(pubp, k, 0);
	write_pem(keyp, k, 1);
	uint8_t pub[ALG_MAX_PUB], serial[ALG_SERIAL_LEN];
	size_t pub_len = 0;
	int nid = 0;
	CHECK_OK(alg_point_from_pkey(pub, &pub_len, &nid, k));
	alg_serial_number(serial, pub, pub_len);

	struct logmsg_bytes chunks[2] = {
		{ (const uint8_t *)"Beleg^62.00_0.00_0.00_0.00_0.00", 31 },
		{ (const uint8_t *)"^66.30:Bar", 10 },
	};
	struct logmsg m;
	fill_msg(&m, ai, serial, fmt, chunks, indefinite ? 2 : 0);
	struct signer s = { k, ai->hash_nid };
	struct siegel_buf b;
	siegel_buf_init(&b);
	CHECK_OK(logmsg_encode(&b, &m, sign_cb, &s, &d));

	struct logmsg p;
	int rc = logmsg_parse(&p, b.data, b.len, &d);
	CHECK_OK(rc);
	if (rc) {
		fprintf(stderr, "  %s: %s\n", ai->config_name, d.msg);
		goto out;
	}
	CHECK(p.process_data_indefinite == indefinite);
	CHECK(p.signature.len == 2 * ai->field_len);
	CHECK_STR(p.sig_alg_name, ai->sig_name);
	CHECK_OK(logmsg_verify(&p, k, 1));

	t_write(logp, b.data, b.len);
	t_write(dtbsp, p.dtbs.p, p.dtbs.len);
	uint8_t *der = NULL;
	size_t der_len = 0;
	CHECK_OK(alg_plain_to_der(&der, &der_len, p.signature.p, p.signature.len));
	if (der)
		t_write(sigp, der, der_len);
	OPENSSL_free(der);

	/* the CLI verifies the DTBS ... */
	rc = t_run(&out, "openssl dgst %s -verify '%s' -signature '%s' '%s' 2>&1", dg, pubp, sigp,
		dtbsp);
	CHECK(rc == 0 && out && strstr(out, "Verified OK") != NULL);
	if (rc != 0)
		fprintf(stderr, "  %s: openssl dgst: %s\n", ai->config_name, out ? out : "");
	free(out);
	/* ... and rejects it with one byte changed (inside processData) */
	uint8_t *bad = malloc(p.dtbs.len);
	memcpy(bad, p.dtbs.p, p.dtbs.len);
	bad[p.dtbs.len / 2] ^= 0x01;
	t_write(badp, bad, p.dtbs.len);
	free(bad);
	rc = t_run(&out, "openssl dgst %s -verify '%s' -signature '%s' '%s' 2>&1", dg, pubp, sigp,
		badp);
	CHECK(rc != 0 && out && strstr(out, "Verified OK") == NULL);
	free(out);

	/* serialNumber = SHA-256 of the point, as the CLI sees it */
	char want[2 * ALG_SERIAL_LEN + 1];
	siegel_hex_encode(want, p.serial_number.p, ALG_SERIAL_LEN);
	rc = t_run(&out, "openssl pkey -pubin -in '%s' -outform DER | tail -c %zu | openssl dgst -sha256 -r",
		pubp, 1 + 2 * ai->field_len);
	CHECK(rc == 0 && out && strlen(out) >= 64 && strncmp(out, want, 64) == 0);
	free(out);

	/* asn1parse reads the message; spot-check what it decoded */
	rc = t_run(&out, "openssl asn1parse -inform DER -in '%s' 2>&1", logp);
	CHECK(rc == 0 && out != NULL);
	if (rc == 0 && out) {
		CHECK(strstr(out, ":0.4.0.127.0.7.3.7.1.1") != NULL);
		CHECK(strstr(out, ai->hash_nid == NID_sha384 ? ":0.4.0.127.0.7.1.1.4.1.4" :
							      ":0.4.0.127.0.7.1.1.4.1.3") != NULL);
		upper(want);
		CHECK(strstr(out, want) != NULL);
		CHECK(strstr(out, "prim: INTEGER           :80") != NULL); /* counter 128 */
		CHECK(strstr(out, "prim: cont [ 5 ]") != NULL);
		CHECK((strstr(out, "l=inf  cons: cont [ 2 ]") != NULL) == indefinite);
	}
	free(out);

	/* reverse: the CLI signs our DTBS; the message around that signature
	 * verifies with logmsg_verify */
	rc = t_run(NULL, "openssl dgst %s -sign '%s' -out '%s' '%s'", dg, keyp, sigp, dtbsp);
	CHECK(rc == 0);
	if (rc == 0) {
		size_t sl = 0;
		uint8_t *sd = t_read(sigp, &sl);
		struct given_sig g;
		g.len = 2 * ai->field_len;
		CHECK_OK(alg_der_to_plain(g.sig, ai->field_len, sd, sl));
		free(sd);
		siegel_buf_reset(&b);
		CHECK_OK(logmsg_encode(&b, &m, given_cb, &g, &d));
		struct logmsg q;
		CHECK_OK(logmsg_parse(&q, b.data, b.len, &d));
		CHECK_OK(logmsg_verify(&q, k, 1));
		logmsg_clear(&q);
	}
	logmsg_clear(&p);
out:
	siegel_buf_free(&b);
	EVP_PKEY_free(k);
}

int main(void)
{
	char *ver = NULL;
	if (t_run(&ver, "openssl version") != 0) {
		fprintf(stderr, "openssl CLI not found\n");
		CHECK(0);
		free(ver);
		return t_done();
	}
	free(ver);
	const char *dir = t_tmpdir();
	run_alg(dir, SIEGEL_ALG_P256_SHA256, LOGMSG_TIME_UNIX, 0);
	run_alg(dir, SIEGEL_ALG_P384_SHA384, LOGMSG_TIME_UNIX, 1);
	run_alg(dir, SIEGEL_ALG_BP256_SHA256, LOGMSG_TIME_GENERALIZED, 0);
	run_alg(dir, SIEGEL_ALG_BP384_SHA384, LOGMSG_TIME_UTC, 1);
	return t_done();
}
