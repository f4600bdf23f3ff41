/* Export jobs of the service (see http_int.h): a table in memory, a queue,
 * HTTP_EXPORT_THREADS threads that run export_to_file_ex. At most one job
 * per TSS runs at a time (an incremental export continues after the previous
 * one, so two of the same TSS must not overlap). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "export/export.h"
#include "http/http_int.h"

#define JOB_PATH_MAX 1024
#define JOB_CLIENT_MAX 64

enum job_state { JOB_PENDING, JOB_WORKING, JOB_COMPLETED, JOB_ERROR };

static const char *const state_names[] = { "PENDING", "WORKING", "COMPLETED", "ERROR" };

struct job {
	struct http_exports *x;
	char id[HTTP_EXPORT_ID_LEN + 1];
	char tss[TSE_MAX_ID + 1];            /* internal id "<tenant>.<tssId>" */
	struct export_filter f;
	char client_id[JOB_CLIENT_MAX];
	enum job_state state;
	uint64_t done, total;
	struct export_result r;
	int64_t created_at, started_at, finished_at;
	int err;
	char err_msg[sizeof(((struct siegel_diag *)0)->msg)];
	char path[JOB_PATH_MAX];
	struct job *next;                    /* queue */
};

struct http_exports {
	struct http_server *srv;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *jobs[HTTP_EXPORT_MAX_JOBS];
	size_t n_jobs;
	struct job *q_head;
	pthread_t threads[HTTP_EXPORT_THREADS];
	size_t n_threads;
	int stopping;
	char dir[JOB_PATH_MAX];              /* DATA/exports; "" = no data directory */
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* DATA/exports/<tss>/<id>.tar */
static int job_path(char *out, size_t cap, const struct http_exports *x, const char *tss,
	const char *id, struct siegel_diag *d)
{
	if (x->dir[0] == 0)
		return siegel_fail(d, SIEGEL_E_NOTSUP, "the service has no data directory for exports");
	int n = snprintf(out, cap, "%s/%s/%s.tar", x->dir, tss, id);
	if (n < 0 || (size_t)n >= cap)
		return siegel_fail(d, SIEGEL_E_LIMIT, "export path too long under %s", x->dir);
	return 0;
}

static int id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n != HTTP_EXPORT_ID_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return 1;
}

/* An export id as the routes get it: 32 hex digits, else 404. */
static int check_id(const char *tss, const char *id, struct siegel_diag *d)
{
	if (id == NULL || tss == NULL)
		return siegel_fail(d, SIEGEL_E_NOTFOUND, "no export id given");
	if (!id_valid(id))
		return siegel_fail(d, SIEGEL_E_NOTFOUND, "no export '%.64s' of this TSS", id);
	return 0;
}

/* The tenant's own TSS name from the internal id. */
static const char *public_tss(const char *tss)
{
	const char *dot = strchr(tss, '.');
	return dot ? dot + 1 : tss;
}

static json_t *job_json(const struct job *j)
{
	char href[512];
	snprintf(href, sizeof(href), "/api/v1/tss/%s/exports/%s/file", public_tss(j->tss), j->id);
	json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:{s:I,s:I}}", "id", j->id, "tss_id", public_tss(j->tss),
		"state", state_names[j->state], "created_at", (json_int_t)j->created_at, "progress",
		"logs_written", (json_int_t)j->done, "logs_total", (json_int_t)j->total);
	if (o == NULL)
		return NULL;
	if (j->started_at)
		json_object_set_new(o, "started_at", json_integer(j->started_at));
	if (j->finished_at)
		json_object_set_new(o, "finished_at", json_integer(j->finished_at));
	if (j->state == JOB_COMPLETED) {
		json_object_set_new(o, "logs", json_integer((json_int_t)j->r.logs));
		if (j->r.logs) {
			json_object_set_new(o, "first_signature_counter",
				json_integer((json_int_t)j->r.first_counter));
			json_object_set_new(o, "last_signature_counter",
				json_integer((json_int_t)j->r.last_counter));
		}
		json_object_set_new(o, "bytes", json_integer((json_int_t)j->r.bytes));
		json_object_set_new(o, "serial_number", json_string(j->r.serial_hex));
		json_object_set_new(o, "file", json_string(href));
	}
	if (j->state == JOB_ERROR)
		json_object_set_new(o, "error", json_pack("{s:s,s:s}", "code", siegel_err_name(j->err),
			"message", j->err_msg));
	return o;
}

/* ---- the export threads ---- */

static int job_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct job *j = ctx;
	struct http_exports *x = j->x;
	pthread_mutex_lock(&x->lock);
	j->done = done;
	j->total = total;
	int stop = x->stopping;
	pthread_mutex_unlock(&x->lock);
	return stop ? SIEGEL_E_BUSY : 0;
}

static int tss_running(const struct http_exports *x, const char *tss)
{
	for (size_t i = 0; i < x->n_jobs; i++)
		if (x->jobs[i]->state == JOB_WORKING && strcmp(x->jobs[i]->tss, tss) == 0)
			return 1;
	return 0;
}

/* The first queued job whose TSS has no running export, unlinked. */
static struct job *next_job(struct http_exports *x)
{
	for (struct job **pp = &x->q_head; *pp; pp = &(*pp)->next) {
		struct job *j = *pp;
		if (!tss_running(x, j->tss)) {
			*pp = j->next;
			j->next = NULL;
			return j;
		}
	}
	return NULL;
}

static void run_job(struct http_exports *x, struct job *j)
{
	struct siegel_diag d = { { 0 } };
	struct export_result r;
	memset(&r, 0, sizeof(r));
	char dir[JOB_PATH_MAX];
	int rc = 0;
	int n = snprintf(dir, sizeof(dir), "%s/%s", x->dir, j->tss);
	if (n < 0 || (size_t)n >= sizeof(dir))
		rc = siegel_fail(&d, SIEGEL_E_LIMIT, "export directory path too long");
	else if (siegel_mkdir_p(dir, 0700) != 0)
		rc = siegel_fail(&d, SIEGEL_E_IO, "cannot create the export directory %s: %s", dir,
			strerror(errno));
	if (rc == 0)
		rc = export_to_file_ex(&r, x->srv->tse, j->tss, &j->f, j->path, now_s(), job_progress,
			j, &d);
	pthread_mutex_lock(&x->lock);
	j->finished_at = now_s();
	if (rc == 0) {
		j->r = r;
		j->done = r.logs;
		j->state = JOB_COMPLETED;
	} else {
		j->err = rc;
		if (x->stopping && rc == SIEGEL_E_BUSY)
			snprintf(j->err_msg, sizeof(j->err_msg), "the service stopped during the export");
		else
			snprintf(j->err_msg, sizeof(j->err_msg), "%s", d.msg[0] ? d.msg : siegel_strerror(rc));
		j->state = JOB_ERROR;
		if (http_status_of(rc) >= 500)
			fprintf(stderr, "siegel serve: export %s of %s: %s: %s\n", j->id, j->tss,
				siegel_err_name(rc), j->err_msg);
	}
	pthread_cond_broadcast(&x->cond); /* another job of this TSS may run now */
	pthread_mutex_unlock(&x->lock);
}

static void *export_main(void *arg)
{
	struct http_exports *x = arg;
	pthread_mutex_lock(&x->lock);
	for (;;) {
		struct job *j = NULL;
		while (!x->stopping && (j = next_job(x)) == NULL)
			pthread_cond_wait(&x->cond, &x->lock);
		if (x->stopping)
			break;
		j->state = JOB_WORKING;
		j->started_at = now_s();
		pthread_mutex_unlock(&x->lock);
		run_job(x, j);
		pthread_mutex_lock(&x->lock);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* ---- start / stop ---- */

int http_spool_dir(const struct http_server *s, char *out, size_t cap, struct siegel_diag *d)
{
	if (s->cfg.data_dir == NULL || s->cfg.data_dir[0] == 0)
		return siegel_fail(d, SIEGEL_E_NOTSUP, "the service has no data directory");
	int n = snprintf(out, cap, "%s/%s/.incoming", s->cfg.data_dir, HTTP_EXPORTS_DIR);
	if (n < 0 || (size_t)n >= cap)
		return siegel_fail(d, SIEGEL_E_LIMIT, "spool directory path too long");
	if (siegel_mkdir_p(out, 0700) != 0)
		return siegel_fail(d, SIEGEL_E_IO, "cannot create %s: %s", out, strerror(errno));
	return 0;
}

int http_exports_start(struct http_server *s, struct siegel_diag *d)
{
	struct http_exports *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "no memory for the export jobs");
	x->srv = s;
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, NULL);
	if (s->cfg.data_dir != NULL && s->cfg.data_dir[0] != 0) {
		int n = snprintf(x->dir, sizeof(x->dir), "%s/%s", s->cfg.data_dir, HTTP_EXPORTS_DIR);
		if (n < 0 || (size_t)n >= sizeof(x->dir) - TSE_MAX_ID - HTTP_EXPORT_ID_LEN - 32) {
			pthread_mutex_destroy(&x->lock);
			pthread_cond_destroy(&x->cond);
			free(x);
			return siegel_fail(d, SIEGEL_E_LIMIT, "data_dir path too long for exports");
		}
	}
	s->exports = x;
	for (size_t i = 0; i < HTTP_EXPORT_THREADS; i++) {
		if (pthread_create(&x->threads[i], NULL, export_main, x) != 0) {
			http_exports_stop(s);
			return siegel_fail(d, SIEGEL_E_NOMEM, "cannot start export thread %zu", i);
		}
		x->n_threads++;
	}
	return 0;
}

void http_exports_stop(struct http_server *s)
{
	struct http_exports *x = s->exports;
	if (x == NULL)
		return;
	pthread_mutex_lock(&x->lock);
	x->stopping = 1;
	for (struct job *j = x->q_head; j; j = j->next) {
		j->state = JOB_ERROR;
		j->err = SIEGEL_E_BUSY;
		snprintf(j->err_msg, sizeof(j->err_msg), "the service stopped before the export began");
	}
	x->q_head = NULL;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	for (size_t i = 0; i < x->n_threads; i++)
		pthread_join(x->threads[i], NULL);
	for (size_t i = 0; i < x->n_jobs; i++)
		free(x->jobs[i]);
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->cond);
	free(x);
	s->exports = NULL;
}

/* ---- the requests ---- */

/* Makes room for one job: drops the oldest finished one. Lock held. */
static int make_room(struct http_exports *x, struct siegel_diag *d)
{
	if (x->n_jobs < HTTP_EXPORT_MAX_JOBS)
		return 0;
	size_t oldest = x->n_jobs;
	for (size_t i = 0; i < x->n_jobs; i++) {
		const struct job *j = x->jobs[i];
		if ((j->state == JOB_COMPLETED || j->state == JOB_ERROR) &&
		    (oldest == x->n_jobs || j->finished_at < x->jobs[oldest]->finished_at))
			oldest = i;
	}
	if (oldest == x->n_jobs)
		return siegel_fail(d, SIEGEL_E_BUSY, "%d export jobs are queued or running; try later",
			HTTP_EXPORT_MAX_JOBS);
	/* The TAR of a completed job stays on disk and is still found by id. */
	free(x->jobs[oldest]);
	x->jobs[oldest] = x->jobs[--x->n_jobs];
	return 0;
}

int http_export_submit(struct http_server *s, const char *tss, const struct export_filter *f,
	json_t **out, struct siegel_diag *d)
{
	struct http_exports *x = s->exports;
	*out = NULL;
	if (x->dir[0] == 0)
		return siegel_fail(d, SIEGEL_E_NOTSUP, "the service has no data directory for exports");
	struct job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "no memory for an export job");
	uint8_t rnd[HTTP_EXPORT_ID_LEN / 2];
	if (RAND_bytes(rnd, (int)sizeof(rnd)) != 1) {
		free(j);
		return siegel_fail(d, SIEGEL_E_CRYPTO, "no random bytes for the export id");
	}
	siegel_hex_encode(j->id, rnd, sizeof(rnd));
	j->x = x;
	snprintf(j->tss, sizeof(j->tss), "%s", tss);
	j->f = *f;
	if (f->client_id != NULL) {
		if (strlen(f->client_id) >= sizeof(j->client_id)) {
			free(j);
			return siegel_fail(d, SIEGEL_E_CLIENT_ID, "client_id is too long");
		}
		snprintf(j->client_id, sizeof(j->client_id), "%s", f->client_id);
		j->f.client_id = j->client_id;
	}
	int rc = job_path(j->path, sizeof(j->path), x, tss, j->id, d);
	if (rc) {
		free(j);
		return rc;
	}
	j->state = JOB_PENDING;
	j->created_at = now_s();
	pthread_mutex_lock(&x->lock);
	if (x->stopping)
		rc = siegel_fail(d, SIEGEL_E_BUSY, "the service is shutting down");
	if (rc == 0)
		rc = make_room(x, d);
	if (rc == 0) {
		x->jobs[x->n_jobs++] = j;
		struct job **pp = &x->q_head;
		while (*pp)
			pp = &(*pp)->next;
		*pp = j;
		*out = job_json(j);
		pthread_cond_broadcast(&x->cond);
	}
	pthread_mutex_unlock(&x->lock);
	if (rc) {
		free(j);
		return rc;
	}
	return *out ? 0 : siegel_fail(d, SIEGEL_E_NOMEM, "no memory for the answer");
}

/* Lock held. */
static struct job *find_job(struct http_exports *x, const char *tss, const char *id)
{
	for (size_t i = 0; i < x->n_jobs; i++)
		if (strcmp(x->jobs[i]->id, id) == 0 && strcmp(x->jobs[i]->tss, tss) == 0)
			return x->jobs[i];
	return NULL;
}

/* A finished TAR on disk whose job is no longer in the table (dropped, or
 * before a restart). */
static int find_file(struct http_exports *x, const char *tss, const char *id, char *path,
	size_t cap, struct stat *st)
{
	struct siegel_diag d = { { 0 } };
	return job_path(path, cap, x, tss, id, &d) == 0 && stat(path, st) == 0 && S_ISREG(st->st_mode);
}

/* The JSON of a finished TAR on disk whose job is no longer in the table. */
static json_t *file_json(const char *tss, const char *id, const struct stat *st)
{
	char href[512];
	snprintf(href, sizeof(href), "/api/v1/tss/%s/exports/%s/file", public_tss(tss), id);
	return json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "id", id, "tss_id", public_tss(tss), "state",
		"COMPLETED", "finished_at", (json_int_t)st->st_mtime, "bytes", (json_int_t)st->st_size,
		"file", href);
}

int http_export_status(struct http_server *s, const char *tss, const char *id, json_t **out,
	struct siegel_diag *d)
{
	struct http_exports *x = s->exports;
	*out = NULL;
	int rc = check_id(tss, id, d);
	if (rc)
		return rc;
	pthread_mutex_lock(&x->lock);
	struct job *j = find_job(x, tss, id);
	if (j != NULL)
		*out = job_json(j);
	pthread_mutex_unlock(&x->lock);
	if (j == NULL) {
		char path[JOB_PATH_MAX];
		struct stat st;
		if (!find_file(x, tss, id, path, sizeof(path), &st))
			return siegel_fail(d, SIEGEL_E_NOTFOUND, "no export '%s' of this TSS", id);
		*out = file_json(tss, id, &st);
	}
	return *out ? 0 : siegel_fail(d, SIEGEL_E_NOMEM, "no memory for the answer");
}

/* siegel_dir_list filter: "<32 hex>.tar" */
static int is_export_file(const char *path, void *ctx)
{
	(void)ctx;
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	size_t n = strlen(b);
	if (n != HTTP_EXPORT_ID_LEN + 4 || strcmp(b + HTTP_EXPORT_ID_LEN, ".tar") != 0)
		return 0;
	char id[HTTP_EXPORT_ID_LEN + 1];
	memcpy(id, b, HTTP_EXPORT_ID_LEN);
	id[HTTP_EXPORT_ID_LEN] = 0;
	return id_valid(id);
}

int http_export_list(struct http_server *s, const char *tss, json_t **out, struct siegel_diag *d)
{
	struct http_exports *x = s->exports;
	*out = NULL;
	if (tss == NULL)
		return siegel_fail(d, SIEGEL_E_INVAL, "no TSS");
	json_t *arr = json_array();
	if (arr == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "no memory for the answer");
	char **files = NULL;
	size_t n_files = 0;
	int rc = 0;
	if (x->dir[0] != 0) {
		char dir[JOB_PATH_MAX];
		int n = snprintf(dir, sizeof(dir), "%s/%s", x->dir, tss);
		rc = n < 0 || (size_t)n >= sizeof(dir)
			? siegel_fail(d, SIEGEL_E_LIMIT, "export directory path too long")
			: siegel_dir_list(&files, &n_files, dir, HTTP_EXPORT_MAX_LIST, 1, is_export_file,
				NULL, d);
	}
	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; rc == 0 && i < x->n_jobs; i++)
		if (strcmp(x->jobs[i]->tss, tss) == 0 && json_array_append_new(arr, job_json(x->jobs[i])))
			rc = siegel_fail(d, SIEGEL_E_NOMEM, "no memory for the answer");
	/* TARs on disk whose job the table no longer holds (dropped, or from
	 * before a restart) */
	for (size_t i = 0; rc == 0 && i < n_files; i++) {
		const char *b = strrchr(files[i], '/');
		char id[HTTP_EXPORT_ID_LEN + 1];
		memcpy(id, b + 1, HTTP_EXPORT_ID_LEN);
		id[HTTP_EXPORT_ID_LEN] = 0;
		struct stat st;
		if (find_job(x, tss, id) != NULL || stat(files[i], &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (json_array_append_new(arr, file_json(tss, id, &st)))
			rc = siegel_fail(d, SIEGEL_E_NOMEM, "no memory for the answer");
	}
	pthread_mutex_unlock(&x->lock);
	siegel_strv_free(files, n_files);
	if (rc == 0 && (*out = json_pack("{s:I,s:o}", "count", (json_int_t)json_array_size(arr),
			    "exports", arr)) == NULL)
		rc = siegel_fail(d, SIEGEL_E_NOMEM, "no memory for the answer");
	else if (rc)
		json_decref(arr);
	return rc;
}

int http_export_delete(struct http_server *s, const char *tss, const char *id,
	struct siegel_diag *d)
{
	struct http_exports *x = s->exports;
	char path[JOB_PATH_MAX];
	int rc = check_id(tss, id, d);
	if (rc == 0)
		rc = job_path(path, sizeof(path), x, tss, id, d);
	if (rc)
		return rc;
	pthread_mutex_lock(&x->lock);
	int found = 0;
	for (size_t i = 0; i < x->n_jobs; i++) {
		struct job *j = x->jobs[i];
		if (strcmp(j->id, id) != 0 || strcmp(j->tss, tss) != 0)
			continue;
		if (j->state == JOB_PENDING || j->state == JOB_WORKING) {
			rc = siegel_fail(d, SIEGEL_E_STATE, "export %s is %s; delete it when it has "
				"finished", id, state_names[j->state]);
		} else {
			free(j);
			x->jobs[i] = x->jobs[--x->n_jobs];
			found = 1;
		}
		break;
	}
	/* under the lock: no job of this id can be writing the file now (a
	 * download that already opened it keeps reading it) */
	if (rc == 0) {
		if (unlink(path) == 0)
			found = 1;
		else if (errno != ENOENT)
			rc = siegel_fail(d, SIEGEL_E_IO, "cannot delete the export file: %s",
				strerror(errno));
	}
	pthread_mutex_unlock(&x->lock);
	if (rc == 0 && !found)
		rc = siegel_fail(d, SIEGEL_E_NOTFOUND, "no export '%s' of this TSS", id);
	return rc;
}

int http_export_open(struct http_server *s, const char *tss, const char *id, int *fd,
	uint64_t *len, const char **state_out, struct siegel_diag *d)
{
	struct http_exports *x = s->exports;
	*fd = -1;
	*state_out = NULL;
	int rc = check_id(tss, id, d);
	if (rc)
		return rc;
	char path[JOB_PATH_MAX];
	pthread_mutex_lock(&x->lock);
	struct job *j = find_job(x, tss, id);
	if (j != NULL && j->state != JOB_COMPLETED) {
		*state_out = state_names[j->state];
		rc = siegel_fail(d, SIEGEL_E_STATE, "export %s is %s%s%s", id, state_names[j->state],
			j->state == JOB_ERROR ? ": " : ", not COMPLETED yet",
			j->state == JOB_ERROR ? j->err_msg : "");
	} else if (j != NULL) {
		snprintf(path, sizeof(path), "%s", j->path);
	}
	pthread_mutex_unlock(&x->lock);
	if (rc)
		return rc;
	struct stat st;
	if (j == NULL && !find_file(x, tss, id, path, sizeof(path), &st))
		return siegel_fail(d, SIEGEL_E_NOTFOUND, "no export '%s' of this TSS", id);
	int f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return errno == ENOENT ? siegel_fail(d, SIEGEL_E_NOTFOUND, "the file of export %s is gone", id)
				       : siegel_fail(d, SIEGEL_E_IO, "cannot open %s: %s", path, strerror(errno));
	if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(f);
		return siegel_fail(d, SIEGEL_E_IO, "cannot stat %s", path);
	}
	*fd = f;
	*len = (uint64_t)st.st_size;
	*state_out = "COMPLETED";
	return 0;
}
