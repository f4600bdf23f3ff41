/* cms: the bounded BER check and SignedData parsing on valid and hostile
 * input (truncated at every length, deep nesting, huge lengths, trailing
 * bytes, zero padding, random byte flips), signer facts and verification of
 * a corpus signature (openssl cms -sign, test PKI). Never a crash. */
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>

#include "base/base.h"
#include "cms/cms.h"
#include "harness.h"

static uint8_t *load(const char *rel, size_t *len)
{
	char *p = t_shared_path(rel);
	uint8_t *b = t_read(p, len);
	free(p);
	return b;
}

int main(void)
{
	struct siegel_diag d;
	size_t len, dlen;
	uint8_t *der = load("signatures/cms/generated/valid-p256-sha256.p7s", &len);
	uint8_t *data = load("signatures/cms/generated/hello.txt", &dlen);

	/* valid: parse, signer facts, verify */
	struct cms_sd *sd = NULL;
	CHECK_OK(cms_sd_parse(&sd, der, len, 0, &d));
	CHECK(cms_sd_signer_count(sd) == 1);
	struct cms_signer s;
	CHECK_OK(cms_sd_signer(&s, sd, 0, &d));
	CHECK(s.digest_nid == NID_sha256);
	CHECK_STR(s.sig_name, "ecdsa-with-SHA256");
	CHECK(s.has_signing_time && s.has_ess_cert);
	X509 *cert = NULL;
	CHECK_OK(cms_sd_find_signer_cert(&cert, sd, 0, NULL));
	struct cms_part part = { data, dlen };
	uint8_t dg[CMS_MAX_DIGEST];
	size_t dgl;
	CHECK_OK(cms_digest(dg, &dgl, s.digest_nid, &part, 1));
	int ok = 0;
	CHECK_OK(cms_sd_verify_signer(&ok, sd, 0, cert, dg, dgl, &d));
	CHECK(ok == 1);
	dg[0] ^= 1;
	CHECK_RC(cms_sd_verify_signer(&ok, sd, 0, cert, dg, dgl, &d), SIEGEL_E_VERIFY);
	CHECK(ok == 0);
	CHECK(strstr(d.msg, "messageDigest") != NULL);
	CHECK_STR(cms_hash_ha_name(NID_sha256), "haSHA256");
	CHECK_RC(cms_digest(dg, &dgl, NID_md5, &part, 1), SIEGEL_E_NOTSUP);
	cms_sd_free(sd);

	/* zero padding only where allowed (PDF /Contents) */
	uint8_t *pad = calloc(len + 64, 1);
	memcpy(pad, der, len);
	CHECK_RC(cms_sd_parse(&sd, pad, len + 64, 0, &d), SIEGEL_E_PARSE);
	CHECK(strstr(d.msg, "trailing") != NULL);
	CHECK_OK(cms_sd_parse(&sd, pad, len + 64, 1, &d));
	cms_sd_free(sd);
	pad[len + 10] = 1;
	CHECK_RC(cms_sd_parse(&sd, pad, len + 64, 1, &d), SIEGEL_E_PARSE);
	free(pad);

	/* truncated at every length: an error with a message, never a crash */
	int all_fail = 1;
	for (size_t n = 0; n < len; n++) {
		d.msg[0] = 0;
		int rc = cms_sd_parse(&sd, der, n, 0, &d);
		if (rc == 0) {
			all_fail = 0;
			cms_sd_free(sd);
		} else if (d.msg[0] == 0) {
			all_fail = 0;
		}
	}
	CHECK(all_fail);

	/* deep nesting: 200 levels of indefinite SEQUENCE, and of definite ones */
	uint8_t deep[1024];
	size_t k = 0;
	for (int i = 0; i < 200; i++) {
		deep[k++] = 0x30;
		deep[k++] = 0x80;
	}
	for (int i = 0; i < 200; i++) {
		deep[k++] = 0;
		deep[k++] = 0;
	}
	CHECK_RC(cms_sd_parse(&sd, deep, k, 0, &d), SIEGEL_E_LIMIT);
	CHECK(strstr(d.msg, "nesting") != NULL);
	k = 0;
	for (int i = 0; i < 100; i++) {
		deep[k++] = 0x30;
		deep[k++] = 0x82;
		size_t rest = (size_t)(100 - i - 1) * 4;
		deep[k++] = (uint8_t)(rest >> 8);
		deep[k++] = (uint8_t)rest;
	}
	CHECK_RC(cms_sd_parse(&sd, deep, k, 0, &d), SIEGEL_E_LIMIT);

	/* huge lengths */
	static const uint8_t huge1[] = { 0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00 };
	CHECK_RC(cms_sd_parse(&sd, huge1, sizeof(huge1), 0, &d), SIEGEL_E_PARSE);
	CHECK(strstr(d.msg, "claims") != NULL);
	static const uint8_t huge2[] = { 0x30, 0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	CHECK_RC(cms_sd_parse(&sd, huge2, sizeof(huge2), 0, &d), SIEGEL_E_PARSE);
	static const uint8_t inner[] = { 0x30, 0x06, 0x04, 0x83, 0x7f, 0xff, 0xff, 0x00 };
	CHECK_RC(cms_sd_parse(&sd, inner, sizeof(inner), 0, &d), SIEGEL_E_PARSE);
	static const uint8_t prim_indef[] = { 0x30, 0x80, 0x04, 0x80, 0, 0, 0, 0 };
	CHECK_RC(cms_sd_parse(&sd, prim_indef, sizeof(prim_indef), 0, &d), SIEGEL_E_PARSE);
	CHECK_RC(cms_sd_parse(&sd, (const uint8_t *)"text", 4, 0, &d), SIEGEL_E_PARSE);
	CHECK_RC(cms_sd_parse(&sd, NULL, 0, 0, &d), SIEGEL_E_PARSE);
	/* a ContentInfo that is not SignedData */
	static const uint8_t data_ci[] = { 0x30, 0x0f, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
		0x0d, 0x01, 0x07, 0x01, 0xa0, 0x02, 0x04, 0x00 };
	CHECK_RC(cms_sd_parse(&sd, data_ci, sizeof(data_ci), 0, &d), SIEGEL_E_PARSE);

	/* random byte flips: parse and verify must not crash */
	srand(7);
	uint8_t *m = malloc(len);
	for (int it = 0; it < 2000; it++) {
		memcpy(m, der, len);
		int flips = 1 + rand() % 4;
		for (int f = 0; f < flips; f++)
			m[rand() % len] = (uint8_t)rand();
		if (cms_sd_parse(&sd, m, len, 0, &d) == 0) {
			struct cms_signer s2;
			X509 *c2 = NULL;
			if (cms_sd_signer(&s2, sd, 0, &d) == 0 &&
			    cms_sd_find_signer_cert(&c2, sd, 0, NULL) == 0 &&
			    cms_digest(dg, &dgl, s2.digest_nid, &part, 1) == 0)
				if (cms_sd_verify_signer(&ok, sd, 0, c2, dg, dgl, &d) == 0)
					ok = 1;
			cms_sd_free(sd);
		}
	}
	free(m);
	CHECK(1);

	/* time-stamp token of the corpus B-T PDF is covered by tests/verify */
	free(der);
	free(data);
	return t_done();
}
