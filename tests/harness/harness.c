#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"

int t_failures;
int t_checks;
static char tmpdir[256];

const char *t_tmpdir(void)
{
	if (tmpdir[0] == 0) {
		const char *base = getenv("TMPDIR");
		snprintf(tmpdir, sizeof(tmpdir), "%s/siegel-test-XXXXXX", base ? base : "/tmp");
		if (mkdtemp(tmpdir) == NULL) {
			perror("mkdtemp");
			exit(99);
		}
	}
	return tmpdir;
}

void t_cleanup(void)
{
	if (tmpdir[0] && getenv("SIEGEL_KEEP_TMP") == NULL && t_failures == 0) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "warning: could not remove %s\n", tmpdir);
	} else if (tmpdir[0]) {
		fprintf(stderr, "kept %s\n", tmpdir);
	}
}

int t_done(void)
{
	printf("%d passed, %d failed\n", t_checks - t_failures, t_failures);
	t_cleanup();
	return t_failures ? 1 : 0;
}

char *t_shared_path(const char *rel)
{
	const char *s = getenv("SIEGEL_SHARED");
	if (s == NULL)
		s = "../shared";
	size_t n = strlen(s) + strlen(rel) + 16;
	char *p = malloc(n);
	snprintf(p, n, "%s/testdata/%s", s, rel);
	return p; /* small, leaked deliberately in tests? no: callers free */
}

const char *t_siegel_bin(void)
{
	const char *b = getenv("SIEGEL_BIN");
	return b ? b : "siegel";
}

uint8_t *t_read(const char *path, size_t *len)
{
	uint8_t *p = NULL;
	struct siegel_diag d = { { 0 } };
	if (siegel_read_file(&p, len, path, (size_t)1 << 30, &d) != 0) {
		fprintf(stderr, "cannot read %s: %s\n", path, d.msg);
		exit(99);
	}
	return p;
}

void t_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(99);
	}
}

int t_run(char **out, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	struct siegel_buf b;
	siegel_buf_init(&b);
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), p)) > 0)
		siegel_buf_append(&b, tmp, n);
	int st = pclose(p);
	if (out)
		*out = (char *)siegel_buf_steal(&b, NULL);
	else
		siegel_buf_free(&b);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

int t_free_port(int udp)
{
	int fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t l = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) != 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	close(fd);
	return ntohs(a.sin_port);
}

uint8_t *t_unhex(const char *hex, size_t *len)
{
	uint8_t *p = NULL;
	if (siegel_hex_decode_alloc(&p, len, hex) != 0) {
		fprintf(stderr, "bad hex in test\n");
		exit(99);
	}
	return p;
}

static int64_t shift_now(void *ctx)
{
	return siegel_clock_system()->now(NULL) + ((struct t_shift_clock *)ctx)->shift;
}

static int64_t shift_mono(void *ctx)
{
	(void)ctx;
	return siegel_clock_system()->mono_ns(NULL);
}

void t_shift_clock_init(struct t_shift_clock *c)
{
	c->shift = 0;
	c->clock.now = shift_now;
	c->clock.mono_ns = shift_mono;
	c->clock.ctx = c;
}
