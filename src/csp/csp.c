/* csp: dispatch over the backend ops table and the SoftHSM2 helpers shared
 * by cmd/ and the tests. */
#include "csp/csp.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int csp_sign(void *key, uint8_t *sig_out, size_t *sig_len, const uint8_t *msg, size_t msg_len)
{
	struct csp_key *k = key;
	if (k == NULL || k->ops == NULL || k->ops->sign == NULL || sig_out == NULL ||
	    sig_len == NULL || (msg == NULL && msg_len != 0))
		return SIEGEL_E_INVAL;
	return k->ops->sign(k->ctx, sig_out, sig_len, msg, msg_len);
}

void csp_key_release(struct csp_key *key)
{
	if (key == NULL)
		return;
	if (key->ops != NULL && key->ops->release != NULL)
		key->ops->release(key->ctx);
	key->ops = NULL;
	key->ctx = NULL;
}

int csp_key_pkey(EVP_PKEY **out, const struct csp_key *key)
{
	if (out == NULL || key == NULL || key->pub_len == 0)
		return SIEGEL_E_INVAL;
	const struct alg_info *ai = alg_get(key->alg);
	if (ai == NULL)
		return SIEGEL_E_NOTSUP;
	return alg_pkey_from_point(out, ai->curve_nid, key->pub, key->pub_len);
}

int csp_softhsm_write_conf(const char *conf_path, const char *tokendir, struct siegel_diag *d)
{
	if (conf_path == NULL || tokendir == NULL || tokendir[0] == 0)
		return siegel_fail(d, SIEGEL_E_INVAL, "SoftHSM2 config: no path or token directory");
	if (strchr(tokendir, '\n') != NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "SoftHSM2 config: token directory contains a newline");
	struct siegel_buf b;
	siegel_buf_init(&b);
	siegel_buf_printf(&b,
		"directories.tokendir = %s\n"
		"objectstore.backend = file\n"
		"log.level = ERROR\n"
		"slots.removable = false\n",
		tokendir);
	int rc = b.err;
	if (rc == 0 && siegel_mkdir_p(tokendir, 0700) != 0)
		rc = siegel_fail(d, SIEGEL_E_IO, "SoftHSM2 config: cannot create token directory %s",
			tokendir);
	else if (rc == 0)
		rc = siegel_write_file_atomic(conf_path, b.data, b.len, 0600, d);
	else
		siegel_diag_set(d, "SoftHSM2 config: out of memory");
	siegel_buf_free(&b);
	return rc;
}

const char *csp_softhsm_default_module(void)
{
	static const char *const paths[] = {
		"/usr/lib/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], R_OK) == 0)
			return paths[i];
	return NULL;
}
