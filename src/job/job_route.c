/* job_route: the directory route ("Verzeichnisstrecke", fideAS sign): an
 * inbox, an outbox, an allowed format, a key, the output naming and the abort
 * conditions, configured as data:
 *
 *   [route rechnungen]
 *   inbox = /srv/sign/in
 *   outbox = /srv/sign/out
 *   format = pdf              # pdf (PAdES, PDF only) | any (PAdES for PDF, .p7s otherwise)
 *   module = /usr/lib/softhsm/libsofthsm2.so
 *   token = signer
 *   key = qes
 *   cert = signer.pem
 *   chain = chain.pem         # optional
 *   trust = trust.pem
 *   infix = .signiert
 *   per_auth = 100            # n signatures per authentication
 *   max_signatures = 500      # abort condition (0: none)
 *   deadline = 1767222000     # abort condition, Unix seconds (0: none)
 *   tsa = http://tsa.example/ # optional: PAdES/CAdES B-T
 *
 * A run signs exactly the content confirmed at its start; files appearing
 * later wait for the next run. */
#include "job/job.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROUTE_MAX_LINE 1024
#define ROUTE_MAX_FILE (1024 * 1024)

enum kt { K_STR, K_UINT, K_INT64 };

/* The schema: the only place route keys are defined. */
static const struct {
	const char *key;
	enum kt type;
	size_t off, size;
} schema[] = {
#define S(k, f) { k, K_STR, offsetof(struct job_route, f), sizeof(((struct job_route *)0)->f) }
	S("inbox", inbox), S("outbox", outbox), S("format", format), S("module", module),
	S("token", token), S("key", key_label), S("cert", cert), S("chain", chain),
	S("trust", trust), S("infix", infix), S("tsa", tsa_url),
#undef S
	{ "per_auth", K_UINT, offsetof(struct job_route, per_auth), 0 },
	{ "max_signatures", K_UINT, offsetof(struct job_route, max_signatures), 0 },
	{ "deadline", K_INT64, offsetof(struct job_route, deadline), 0 },
};

static int set_key(struct job_route *r, const char *k, const char *v, const char *path, int line,
	struct siegel_diag *d)
{
	for (size_t i = 0; i < sizeof(schema) / sizeof(schema[0]); i++) {
		if (strcmp(schema[i].key, k) != 0)
			continue;
		char *f = (char *)r + schema[i].off;
		long long x = 0;
		switch (schema[i].type) {
		case K_STR:
			if (strlen(v) >= schema[i].size)
				return siegel_fail(d, SIEGEL_E_LIMIT, "%s:%d: %s longer than %zu bytes", path,
					line, k, schema[i].size - 1);
			memcpy(f, v, strlen(v) + 1);
			return 0;
		case K_UINT:
			if (siegel_strtoll(&x, v, 0, JOB_MAX_PER_AUTH) != 0)
				return siegel_fail(d, SIEGEL_E_PARAM, "%s:%d: %s wants 0..%d, got \"%s\"", path,
					line, k, JOB_MAX_PER_AUTH, v);
			*(unsigned *)(void *)f = (unsigned)x;
			return 0;
		case K_INT64:
			if (siegel_strtoll(&x, v, 0, INT64_MAX) != 0)
				return siegel_fail(d, SIEGEL_E_PARAM, "%s:%d: %s wants Unix seconds, got \"%s\"",
					path, line, k, v);
			*(int64_t *)(void *)f = x;
			return 0;
		}
	}
	return siegel_fail(d, SIEGEL_E_PARAM, "%s:%d: unknown route key \"%s\"", path, line, k);
}

static int route_check(const struct job_route *r, const char *path, struct siegel_diag *d)
{
	if (!r->inbox[0] || !r->outbox[0] || !r->module[0] || !r->token[0] || !r->key_label[0] ||
	    !r->cert[0] || !r->trust[0])
		return siegel_fail(d, SIEGEL_E_PARAM, "%s: route %s needs inbox, outbox, module, "
			"token, key, cert and trust", path, r->name);
	if (strcmp(r->format, "pdf") != 0 && strcmp(r->format, "any") != 0)
		return siegel_fail(d, SIEGEL_E_PARAM, "%s: route %s: format must be pdf or any", path,
			r->name);
	if (strcmp(r->inbox, r->outbox) == 0)
		return siegel_fail(d, SIEGEL_E_PARAM, "%s: route %s: inbox and outbox must differ", path,
			r->name);
	return 0;
}

int job_routes_load(struct job_route *routes, size_t cap, size_t *n_out, const char *path,
	struct siegel_diag *d)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = siegel_read_file(&data, &len, path, ROUTE_MAX_FILE, d);
	if (rc)
		return rc;
	size_t n = 0;
	struct job_route *cur = NULL;
	int line = 0;
	/* siegel_read_file NUL-terminates; lines are split in place */
	char *cursor = (char *)data, *s, *key, *value;
	while (rc == 0 && (s = siegel_conf_line(&cursor, &line)) != NULL) {
		if (*s == 0)
			continue;
		if (*s == '[') {
			if (cur != NULL && (rc = route_check(cur, path, d)) != 0)
				break;
			cur = NULL;
			char name[64];
			if (sscanf(s, "[route %63[A-Za-z0-9_.-]]", name) == 1) {
				if (n >= cap) {
					rc = siegel_fail(d, SIEGEL_E_LIMIT, "%s: more than %zu routes", path, cap);
					break;
				}
				cur = &routes[n++];
				memset(cur, 0, sizeof(*cur));
				snprintf(cur->name, sizeof(cur->name), "%s", name);
				snprintf(cur->format, sizeof(cur->format), "pdf");
				snprintf(cur->infix, sizeof(cur->infix), ".signiert");
				cur->per_auth = 1;
			}
			continue; /* other sections belong to other modules */
		}
		if (cur == NULL)
			continue;
		if (siegel_conf_kv(s, &key, &value) != 0) {
			rc = siegel_fail(d, SIEGEL_E_PARSE, "%s:%d: want key = value", path, line);
			break;
		}
		rc = set_key(cur, key, value, path, line, d);
	}
	if (rc == 0 && cur != NULL)
		rc = route_check(cur, path, d);
	free(data);
	if (rc)
		return rc;
	*n_out = n;
	return 0;
}

/* siegel_dir_list filter of job_route_scan: regular files only, and with
 * *pdf_only only those that start like a PDF; anything else stays in the
 * inbox untouched. */
static int route_keep(const char *path, void *pdf_only)
{
	struct stat st;
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	if (!*(int *)pdf_only)
		return 1;
	uint8_t head[8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, head, sizeof(head)) : -1;
	if (fd >= 0)
		close(fd);
	return got >= 8 && sign_is_pdf(head, (size_t)got);
}

int job_route_scan(char ***paths_out, size_t *n_out, const struct job_route *r,
	struct siegel_diag *d)
{
	int pdf_only = strcmp(r->format, "pdf") == 0;
	char **v = NULL;
	size_t n = 0;
	struct siegel_diag inner = { { 0 } };
	int rc = siegel_dir_list(&v, &n, r->inbox, JOB_MAX_DOCS, 0, route_keep, &pdf_only, &inner);
	if (rc == SIEGEL_E_LIMIT)
		return siegel_fail(d, rc, "route %s: more than %d files in the inbox", r->name,
			JOB_MAX_DOCS);
	if (rc)
		return siegel_fail(d, rc, "route %s: inbox %s", r->name, inner.msg);
	if (r->max_signatures > 0 && n > r->max_signatures) {
		for (size_t i = r->max_signatures; i < n; i++)
			free(v[i]);
		n = r->max_signatures;
	}
	*paths_out = v;
	*n_out = n;
	return 0;
}

int job_route_finish(const struct job *j, struct siegel_diag *d)
{
	if (j->state != JOB_DONE)
		return siegel_fail(d, SIEGEL_E_STATE, "route job %s is not published", j->number);
	for (size_t i = 0; i < j->n_docs; i++)
		if (unlink(j->docs[i].path) != 0 && errno != ENOENT)
			return siegel_fail(d, SIEGEL_E_IO, "route: removing %s from the inbox: %s",
				j->docs[i].path, strerror(errno));
	return 0;
}
