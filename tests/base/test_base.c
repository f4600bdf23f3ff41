#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "harness.h"

int main(void)
{
	/* hex round trip and strictness */
	uint8_t raw[4] = { 0x00, 0xab, 0x7f, 0xff };
	char hex[9];
	siegel_hex_encode(hex, raw, 4);
	CHECK_STR(hex, "00ab7fff");
	uint8_t back[4];
	CHECK_OK(siegel_hex_decode(back, 4, "00AB7fff"));
	CHECK_MEM(back, raw, 4);
	CHECK_RC(siegel_hex_decode(back, 4, "00ab7ff"), SIEGEL_E_PARSE);
	CHECK_RC(siegel_hex_decode(back, 4, "00ab7fgf"), SIEGEL_E_PARSE);

	/* base64 against RFC 4648 test vectors */
	static const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	for (int i = 0; i < 7; i++) {
		char *e = siegel_b64_encode((const uint8_t *)plain[i], strlen(plain[i]));
		CHECK_STR(e, enc[i]);
		free(e);
		uint8_t *d = NULL;
		size_t dl = 0;
		CHECK_OK(siegel_b64_decode(&d, &dl, enc[i], strlen(enc[i]), 0));
		CHECK(dl == strlen(plain[i]) && memcmp(d, plain[i], dl) == 0);
		free(d);
	}
	uint8_t *d = NULL;
	size_t dl;
	CHECK_RC(siegel_b64_decode(&d, &dl, "Zm9v!", 5, 0), SIEGEL_E_PARSE);
	CHECK_RC(siegel_b64_decode(&d, &dl, "Zg=a", 4, 0), SIEGEL_E_PARSE);
	CHECK_RC(siegel_b64_decode(&d, &dl, "Zg==Zg==", 8, 0), SIEGEL_E_PARSE);
	CHECK_RC(siegel_b64_decode(&d, &dl, "Zm9v\nYmFy", 9, 0), SIEGEL_E_PARSE);
	CHECK_OK(siegel_b64_decode(&d, &dl, "Zm9v\nYmFy", 9, 1));
	CHECK(dl == 6 && memcmp(d, "foobar", 6) == 0);
	free(d);

	/* strict numbers */
	long long v;
	CHECK_OK(siegel_strtoll(&v, "42", 0, 100));
	CHECK(v == 42);
	CHECK_RC(siegel_strtoll(&v, "42x", 0, 100), SIEGEL_E_PARSE);
	CHECK_RC(siegel_strtoll(&v, " 42", 0, 100), SIEGEL_E_PARSE);
	CHECK_RC(siegel_strtoll(&v, "101", 0, 100), SIEGEL_E_LIMIT);
	CHECK_RC(siegel_strtoll(&v, "99999999999999999999", 0, 100), SIEGEL_E_PARSE);

	/* sticky buffer */
	struct siegel_buf b;
	siegel_buf_init(&b);
	siegel_buf_puts(&b, "ab");
	siegel_buf_printf(&b, "%d", 12);
	CHECK(b.len == 4 && memcmp(b.data, "ab12", 4) == 0 && b.err == 0);
	siegel_buf_free(&b);

	/* error names */
	CHECK_STR(siegel_err_name(SIEGEL_E_TIME_NOT_SET), "ErrorTimeNotSet");
	CHECK_STR(siegel_err_name(SIEGEL_E_NO_TRANSACTION), "ErrorNoTransaction");

	/* atomic write + read with limit */
	char path[512];
	snprintf(path, sizeof(path), "%s/f.bin", t_tmpdir());
	CHECK_OK(siegel_write_file_atomic(path, "hello", 5, 0600, NULL));
	uint8_t *p = NULL;
	size_t pl = 0;
	CHECK_OK(siegel_read_file(&p, &pl, path, 100, NULL));
	CHECK(pl == 5 && memcmp(p, "hello", 5) == 0);
	CHECK(p[5] == 0); /* read files are NUL-terminated */
	CHECK(strlen((const char *)p) == 5);
	free(p);
	struct siegel_diag diag;
	CHECK_RC(siegel_read_file(&p, &pl, path, 4, &diag), SIEGEL_E_LIMIT);
	CHECK(strstr(diag.msg, "limit") != NULL);

	void *s = siegel_secmem_alloc(32);
	CHECK(s != NULL);
	memcpy(s, "secret", 6);
	siegel_secmem_free(s, 32);
	return t_done();
}
