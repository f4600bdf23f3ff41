/* csp_softhsm: keeping SoftHSM2's file object store recoverable after a crash
 * (see csp_softhsm_guard in csp.h). */
#include "csp/csp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_OBJECT_MAX ((size_t)1 << 20)

/* Locks SoftHSM's token.lock the way SoftHSM does (fcntl), so no login
 * rewrites token.object while we copy it. Returns the fd or -1. */
static int lock_token(const char *dir)
{
	char path[4096];
	if (siegel_path_join(path, sizeof(path), dir, "token.lock") != 0)
		return -1;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	while (fcntl(fd, F_SETLKW, &fl) != 0) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static int guard_one(const char *dir, struct siegel_diag *d)
{
	char obj[4096], bak[4096];
	if (siegel_path_join(obj, sizeof(obj), dir, "token.object") != 0 ||
	    siegel_path_join(bak, sizeof(bak), dir, "token.object.siegel-copy") != 0)
		return siegel_fail(d, SIEGEL_E_LIMIT, "%s: path too long", dir);
	int lfd = lock_token(dir);
	if (lfd < 0)
		return siegel_fail(d, SIEGEL_E_IO, "%s: cannot lock the token: %s", dir, strerror(errno));
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = siegel_read_file(&data, &len, obj, TOKEN_OBJECT_MAX, d);
	if (rc == 0 && len > 0) {
		/* A good token.object: refresh the copy when it differs. */
		uint8_t *old = NULL;
		size_t old_len = 0;
		int same = siegel_read_file(&old, &old_len, bak, TOKEN_OBJECT_MAX, NULL) == 0 &&
			   old_len == len && memcmp(old, data, len) == 0;
		free(old);
		if (!same)
			rc = siegel_write_file_atomic(bak, data, len, 0600, d);
	} else if (rc == 0 || rc == SIEGEL_E_NOTFOUND) {
		/* Empty (torn rewrite) or missing: restore the last good copy. */
		free(data);
		data = NULL;
		rc = siegel_read_file(&data, &len, bak, TOKEN_OBJECT_MAX, NULL);
		if (rc == 0 && len > 0)
			rc = siegel_write_file_atomic(obj, data, len, 0600, d);
		else
			rc = 0; /* a token being created: nothing to restore yet */
	}
	free(data);
	close(lfd);
	return rc;
}

int csp_softhsm_guard(const char *tokendir, int *n_tokens_out, struct siegel_diag *d)
{
	DIR *dh = opendir(tokendir);
	int n = 0, rc = 0;
	if (dh == NULL) {
		if (errno == ENOENT) {
			if (n_tokens_out)
				*n_tokens_out = 0;
			return 0;
		}
		return siegel_fail(d, SIEGEL_E_IO, "%s: %s", tokendir, strerror(errno));
	}
	struct dirent *e;
	while (rc == 0 && (e = readdir(dh)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char dir[4096], obj[4200], bak[4200];
		if (siegel_path_join(dir, sizeof(dir), tokendir, e->d_name) != 0 ||
		    siegel_path_join(obj, sizeof(obj), dir, "token.object") != 0 ||
		    siegel_path_join(bak, sizeof(bak), dir, "token.object.siegel-copy") != 0)
			continue;
		struct stat st;
		if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		if (access(obj, F_OK) != 0 && access(bak, F_OK) != 0)
			continue; /* not a token directory */
		rc = guard_one(dir, d);
		n++;
	}
	closedir(dh);
	if (n_tokens_out)
		*n_tokens_out = n;
	return rc;
}

int csp_softhsm_prepare(char *conf_out, size_t conf_cap, const char *data_dir,
	struct siegel_diag *d)
{
	char tokens[4096];
	int n = snprintf(tokens, sizeof(tokens), "%s/tokens", data_dir);
	if (n < 0 || (size_t)n >= sizeof(tokens) ||
	    (size_t)snprintf(conf_out, conf_cap, "%s/softhsm2.conf", data_dir) >= conf_cap)
		return siegel_fail(d, SIEGEL_E_INVAL, "data directory path too long");
	int rc = csp_softhsm_write_conf(conf_out, tokens, d);
	if (rc == 0)
		rc = csp_softhsm_guard(tokens, NULL, d);
	return rc;
}
