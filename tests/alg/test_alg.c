/* alg: r||s <-> DER, serial numbers against the golden key hashes, plain
 * ECDSA sign/verify for every algorithm, OID lookup. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include "alg/alg.h"
#include "base/base.h"
#include "harness.h"

static EVP_PKEY *read_pub_pem(const char *rel)
{
	char *path = t_shared_path(rel);
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (k == NULL)
		fprintf(stderr, "cannot read %s\n", path);
	free(path);
	return k;
}

static json_t *read_sidecar(const char *rel)
{
	char *path = t_shared_path(rel);
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);
	if (j == NULL)
		fprintf(stderr, "%s: %s\n", path, e.text);
	free(path);
	return j;
}

static void test_plain_der(void)
{
	/* r with a high bit (DER needs 00), s with leading zero bytes (DER drops them) */
	uint8_t rs[64], back[64];
	for (int i = 0; i < 32; i++) {
		rs[i] = (uint8_t)(0x80 + i);
		rs[32 + i] = i < 3 ? 0 : (uint8_t)i;
	}
	uint8_t *der = NULL;
	size_t der_len = 0;
	CHECK_OK(alg_plain_to_der(&der, &der_len, rs, sizeof(rs)));
	/* 30 LL 02 21 00 80.. 02 1d 03.. */
	CHECK(der_len == 2 + 2 + 33 + 2 + 29);
	CHECK(der[0] == 0x30 && der[2] == 0x02 && der[3] == 0x21 && der[4] == 0x00 && der[5] == 0x80);
	CHECK(der[37] == 0x02 && der[38] == 0x1d && der[39] == 0x03);
	CHECK_OK(alg_der_to_plain(back, 32, der, der_len));
	CHECK_MEM(back, rs, 64);
	/* trailing garbage and truncation are refused */
	uint8_t *junk = malloc(der_len + 1);
	memcpy(junk, der, der_len);
	junk[der_len] = 0;
	CHECK(alg_der_to_plain(back, 32, junk, der_len + 1) != 0);
	CHECK(alg_der_to_plain(back, 32, der, der_len - 1) != 0);
	/* a value wider than the field does not fit */
	CHECK(alg_der_to_plain(back, 16, der, der_len) != 0);
	free(junk);
	OPENSSL_free(der);
	CHECK_RC(alg_plain_to_der(&der, &der_len, rs, 63), SIEGEL_E_INVAL);
	CHECK_RC(alg_plain_to_der(&der, &der_len, rs, 0), SIEGEL_E_INVAL);
}

/* serialNumber = SHA-256(04||X||Y) for every golden key; the point comes
 * from the PEM, the expected hash from the sidecar (the generator's value). */
static void test_serials(void)
{
	static const char *golden[] = { "tse/golden/01_sys_authenticateUser_unixt_p256.json",
		"tse/golden/14_sys_UpdateTime_gent_bp256.json",
		"tse/golden/17_tx_finish_unixt_p384.json",
		"tse/golden/18_tx_finish_unixt_bp384.json" };
	for (size_t i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		json_t *j = read_sidecar(golden[i]);
		CHECK(j != NULL);
		if (j == NULL)
			continue;
		const char *keyrel = json_string_value(json_object_get(j, "key"));
		char rel[256];
		snprintf(rel, sizeof(rel), "tse/%s", keyrel ? keyrel : "?");
		EVP_PKEY *k = read_pub_pem(rel);
		CHECK(k != NULL);
		if (k) {
			uint8_t pub[ALG_MAX_PUB], serial[ALG_SERIAL_LEN];
			size_t pub_len = 0;
			int nid = 0;
			CHECK_OK(alg_point_from_pkey(pub, &pub_len, &nid, k));
			size_t want_pub_len = 0;
			uint8_t *want_pub = t_unhex(json_string_value(json_object_get(j,
				"public_key_uncompressed_hex")), &want_pub_len);
			CHECK(pub_len == want_pub_len && memcmp(pub, want_pub, pub_len) == 0);
			const struct alg_info *ai = alg_by_curve_nid(nid);
			CHECK(ai != NULL && strcmp(ai->curve_name,
				json_string_value(json_object_get(j, "curve"))) == 0);
			alg_serial_number(serial, pub, pub_len);
			char hex[2 * ALG_SERIAL_LEN + 1];
			siegel_hex_encode(hex, serial, ALG_SERIAL_LEN);
			CHECK_STR(hex, json_string_value(json_object_get(j, "serialNumber_hex")));
			free(want_pub);

			/* the golden signature verifies over dtbs, not over a changed dtbs */
			size_t dl = 0, sl = 0;
			uint8_t *dtbs = t_unhex(json_string_value(json_object_get(j, "dtbs_hex")), &dl);
			uint8_t *sig = t_unhex(json_string_value(json_object_get(j,
				"signatureValue_hex")), &sl);
			CHECK(sl == 2 * ai->field_len);
			CHECK_OK(alg_verify_plain(k, ai->hash_nid, dtbs, dl, sig, sl));
			dtbs[dl / 2] ^= 0x01;
			CHECK_RC(alg_verify_plain(k, ai->hash_nid, dtbs, dl, sig, sl), SIEGEL_E_VERIFY);
			dtbs[dl / 2] ^= 0x01;
			sig[sl - 1] ^= 0x80;
			CHECK_RC(alg_verify_plain(k, ai->hash_nid, dtbs, dl, sig, sl), SIEGEL_E_VERIFY);
			sig[sl - 1] ^= 0x80;
			/* wrong length signature */
			CHECK_RC(alg_verify_plain(k, ai->hash_nid, dtbs, dl, sig, sl - 2), SIEGEL_E_VERIFY);
			/* wrong hash */
			CHECK_RC(alg_verify_plain(k, ai->hash_nid == NID_sha256 ? NID_sha384 : NID_sha256,
				dtbs, dl, sig, sl), SIEGEL_E_VERIFY);
			/* key from the point gives the same verdict */
			EVP_PKEY *k2 = NULL;
			CHECK_OK(alg_pkey_from_point(&k2, nid, pub, pub_len));
			if (k2)
				CHECK_OK(alg_verify_plain(k2, ai->hash_nid, dtbs, dl, sig, sl));
			EVP_PKEY_free(k2);
			free(dtbs);
			free(sig);
		}
		EVP_PKEY_free(k);
		json_decref(j);
	}
}

static void test_sign_verify(void)
{
	static const enum siegel_alg all[] = { SIEGEL_ALG_P256_SHA256, SIEGEL_ALG_P384_SHA384,
		SIEGEL_ALG_BP256_SHA256, SIEGEL_ALG_BP384_SHA384 };
	static const uint8_t msg[] = "TR-03151 test message";
	for (size_t i = 0; i < 4; i++) {
		const struct alg_info *ai = alg_get(all[i]);
		CHECK(ai != NULL);
		if (ai == NULL)
			continue;
		EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", OBJ_nid2sn(ai->curve_nid));
		CHECK(k != NULL);
		if (k == NULL)
			continue;
		uint8_t rs[ALG_MAX_SIG];
		size_t rs_len = 0;
		CHECK_OK(alg_sign_plain(rs, &rs_len, k, ai->hash_nid, msg, sizeof(msg)));
		CHECK(rs_len == 2 * ai->field_len);
		CHECK_OK(alg_verify_plain(k, ai->hash_nid, msg, sizeof(msg), rs, rs_len));
		CHECK_RC(alg_verify_plain(k, ai->hash_nid, msg, sizeof(msg) - 1, rs, rs_len),
			SIEGEL_E_VERIFY);
		/* DER form of the same signature verifies with EVP directly */
		uint8_t *der = NULL, dig[ALG_MAX_DIGEST];
		size_t der_len = 0, dl = 0;
		CHECK_OK(alg_plain_to_der(&der, &der_len, rs, rs_len));
		CHECK_OK(alg_digest(dig, &dl, ai->hash_nid, msg, sizeof(msg)));
		CHECK(dl == ai->digest_len);
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
		CHECK(ctx && EVP_PKEY_verify_init(ctx) == 1 &&
			EVP_PKEY_verify(ctx, der, der_len, dig, dl) == 1);
		EVP_PKEY_CTX_free(ctx);
		OPENSSL_free(der);
		/* point round trip */
		uint8_t pub[ALG_MAX_PUB];
		size_t pub_len = 0;
		int nid = 0;
		CHECK_OK(alg_point_from_pkey(pub, &pub_len, &nid, k));
		CHECK(nid == ai->curve_nid && pub_len == 1 + 2 * ai->field_len && pub[0] == 0x04);
		EVP_PKEY_free(k);
	}
}

static void test_oids(void)
{
	const char *name = NULL;
	int nid = 0;
	const struct alg_info *p256 = alg_get(SIEGEL_ALG_P256_SHA256);
	const struct alg_info *p384 = alg_get(SIEGEL_ALG_P384_SHA384);
	CHECK(p256 && p384);
	CHECK_OK(alg_sig_oid_lookup(&name, &nid, p256->sig_oid_der, p256->sig_oid_der_len));
	CHECK_STR(name, "ecdsa-plain-SHA256");
	CHECK(nid == NID_sha256);
	CHECK_OK(alg_sig_oid_lookup(&name, &nid, p384->sig_oid_der, p384->sig_oid_der_len));
	CHECK_STR(name, "ecdsa-plain-SHA384");
	CHECK(nid == NID_sha384);
	/* DER of 0.4.0.127.0.7.1.1.4.1.3 as in tse-reference.md §2.2 */
	size_t n = 0;
	uint8_t *want = t_unhex("060a04007f00070101040103", &n);
	CHECK(n == p256->sig_oid_der_len && memcmp(want, p256->sig_oid_der, n) == 0);
	want[n - 1] = 0x06; /* .6 is not assigned */
	CHECK_RC(alg_sig_oid_lookup(&name, &nid, want, n), SIEGEL_E_NOTSUP);
	free(want);
	CHECK(alg_by_config_name("bp384") == alg_get(SIEGEL_ALG_BP384_SHA384));
	CHECK(alg_by_config_name("nope") == NULL);
	CHECK(alg_get(SIEGEL_ALG_NONE) == NULL);
}

int main(void)
{
	test_plain_der();
	test_serials();
	test_sign_verify();
	test_oids();
	return t_done();
}
