/* Stapelsignatur jobs against SoftHSM2: PIN asks per n (CKA_ALWAYS_AUTHENTICATE
 * key, n = 5, 12 documents: 3 asks; plain key, n = 1: 12 asks), all-or-
 * nothing under injected faults (token error, document modified after
 * confirmation, failed self-check), a wrong PIN signs nothing, the session is
 * logged out after the job, manual abort, the audit trail (gap and edit
 * detection), the PIN neither in process memory after the job nor in the
 * store, the directory route, and recovery after the process was killed
 * while signing, while publishing and after it. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../sign/sign_fixture.h"
#include "harness.h"
#include "job/job.h"
#include "store/store.h"

static const char *dir;
static const char *mod;
static struct fx_pki pki;
static X509 *cert_aa, *cert_plain;
static struct store *st;
static struct csp_key audit_key;

struct pin_src {
	unsigned asks;
	int wrong;
	const char *abort_ref;     /* abort this job from the PIN prompt of round 2 */
};

static int pin_cb(void *ctx, char *pin, size_t cap, size_t *len, const char *number,
	unsigned round, unsigned rounds, unsigned attempt)
{
	struct pin_src *p = ctx;
	p->asks++;
	CHECK(number != NULL && strlen(number) == JOB_NUMBER_LEN);
	CHECK(round >= 1 && round <= rounds && attempt >= 1);
	const char *v = p->wrong ? "999999" : FX_PIN;
	size_t n = strlen(v);
	if (n > cap)
		return SIEGEL_E_LIMIT;
	memcpy(pin, v, n);
	*len = n;
	return 0;
}

/* Documents 1..n in dir/in-<tag>: every third one not a PDF. */
static char **make_docs(const char *tag, size_t n, char *inbox, size_t cap)
{
	snprintf(inbox, cap, "%s/in-%s", dir, tag);
	if (siegel_mkdir_p(inbox, 0700) != 0)
		exit(99);
	char **v = calloc(n, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		v[i] = malloc(600);
		if (i % 3 == 2) {
			snprintf(v[i], 600, "%s/Anlage%02zu.xml", inbox, i + 1);
			char x[128];
			int l = snprintf(x, sizeof(x), "<Anlage nr=\"%zu\"/>\n", i + 1);
			t_write(v[i], x, (size_t)l);
		} else {
			snprintf(v[i], 600, "%s/Dokument%02zu.pdf", inbox, i + 1);
			fx_make_pdf(v[i], 2, i == 0);
		}
	}
	return v;
}

static void free_docs(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static size_t count_files(const char *path)
{
	DIR *dd = opendir(path);
	size_t n = 0;
	struct dirent *e;
	while (dd && (e = readdir(dd)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	if (dd)
		closedir(dd);
	return n;
}

static void base_cfg(struct job_config *c, const char *label, X509 *cert, unsigned n,
	const char *outbox, struct pin_src *ps)
{
	memset(c, 0, sizeof(*c));
	c->module = mod;
	c->token = FX_TOKEN;
	c->key_label = label;
	c->cert = cert;
	c->chain = pki.chain;
	c->trust = pki.trust;
	c->per_auth = n;
	c->outbox = outbox;
	c->pin = pin_cb;
	c->pin_ctx = ps;
	c->store = st;
	c->audit_key = &audit_key;
	if (siegel_mkdir_p(outbox, 0700) != 0)
		exit(99);
}

static int run_job(struct job **jo, const char *tag, const char *label, X509 *cert, unsigned n,
	size_t ndocs, struct pin_src *ps, struct job_config *c, char *outbox, size_t cap)
{
	char inbox[512];
	char **docs = make_docs(tag, ndocs, inbox, sizeof(inbox));
	snprintf(outbox, cap, "%s/out-%s", dir, tag);
	base_cfg(c, label, cert, n, outbox, ps);
	struct siegel_diag d = { { 0 } };
	int rc = job_new(jo, (const char *const *)docs, ndocs, c, &d);
	free_docs(docs, ndocs);
	if (rc) {
		fprintf(stderr, "job_new: %s\n", d.msg);
		return rc;
	}
	rc = job_run(*jo, c, &d);
	if (rc)
		fprintf(stderr, "job %s: %s\n", tag, d.msg);
	return rc;
}

/* The results of job_id's audit entries in order, joined by ",", with a
 * "signed" run collapsed to "signed*N". */
static void audit_results(char *out, size_t cap, int64_t job_id)
{
	sqlite3_stmt *q = NULL;
	out[0] = 0;
	if (sqlite3_prepare_v2(store_db(st), "SELECT result FROM sign_audit WHERE job_id = ? "
		"ORDER BY seq", -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(q, 1, job_id);
	int run = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(q, 0);
		if (strcmp(r, "signed") == 0) {
			run++;
			continue;
		}
		size_t l = strlen(out);
		if (run)
			snprintf(out + l, cap - l, "signed*%d,", run);
		run = 0;
		l = strlen(out);
		/* "failed: why" -> "failed" */
		snprintf(out + l, cap - l, "%.*s,", (int)strcspn(r, ":"), r);
	}
	if (run) {
		size_t l = strlen(out);
		snprintf(out + l, cap - l, "signed*%d,", run);
	}
	sqlite3_finalize(q);
}

static void test_pin_counts(void)
{
	/* A session of our own: the module stays initialised, so the login
	 * state the job leaves behind is visible here. */
	struct sign_p11 *p = NULL;
	struct sign_p11_key k;
	struct siegel_diag d = { { 0 } };
	CHECK_OK(sign_p11_open(&p, mod, FX_TOKEN, &d));
	CHECK_OK(sign_p11_login(p, FX_PIN, strlen(FX_PIN), &d));
	CHECK_OK(sign_p11_find_key(&k, p, "aa", NULL, 0, &d));
	CHECK(k.always_auth == 1);
	CHECK(k.sign_handle == k.handle); /* always-authenticate: no session copy */
	CHECK_OK(sign_p11_logout(p, &d));
	/* a plain key signs through a session copy that the logout destroys */
	{
		struct sign_p11_key pk;
		uint8_t dig[32] = { 7 }, sig[SIGN_MAX_SIG];
		size_t sl = 0;
		CHECK_OK(sign_p11_login(p, FX_PIN, strlen(FX_PIN), &d));
		CHECK_OK(sign_p11_find_key(&pk, p, "plain", NULL, 0, &d));
		CHECK(pk.sign_handle != 0 && pk.sign_handle != pk.handle);
		CHECK_OK(sign_p11_sign_digest(sig, &sl, sizeof(sig), p, &pk, NID_sha256, 0, dig, 32,
			NULL, 0, &d));
		CHECK(sign_p11_probe_unauth_sign(p, &pk) == 0); /* logged in: it signs */
		CHECK_OK(sign_p11_logout(p, &d));
		CHECK(sign_p11_probe_unauth_sign(p, &pk) != 0);
		CHECK(sign_p11_sign_digest(sig, &sl, sizeof(sig), p, &pk, NID_sha256, 0, dig, 32, NULL, 0,
			&d) != 0);
		/* logged in again, the old copy is gone: it was destroyed, not hidden */
		CHECK_OK(sign_p11_login(p, FX_PIN, strlen(FX_PIN), &d));
		struct sign_p11_key old = pk;
		old.handle = old.sign_handle;
		CHECK(sign_p11_sign_digest(sig, &sl, sizeof(sig), p, &old, NID_sha256, 0, dig, 32, NULL, 0,
			&d) != 0);
		CHECK_OK(sign_p11_logout(p, &d));
	}

	struct job *j = NULL;
	struct job_config c;
	struct pin_src ps = { 0 };
	char outbox[512];
	CHECK_OK(run_job(&j, "aa5", "aa", cert_aa, 5, 12, &ps, &c, outbox, sizeof(outbox)));
	CHECK(ps.asks == 3);
	CHECK(j && j->pin_asks == 3 && j->state == JOB_DONE && j->n_signed == 12);
	CHECK(count_files(outbox) == 12);
	/* after the job: logged out, a further C_Sign fails */
	CHECK(sign_p11_logged_in(p) == 0);
	CHECK(sign_p11_probe_unauth_sign(p, &k) != 0);
	/* outputs verify independently */
	char f[600], data[600];
	snprintf(f, sizeof(f), "%s/Dokument01.signiert.pdf", outbox);
	char *o = NULL;
	CHECK(t_run(&o, "pdfsig -nocert '%s' 2>&1 | grep -c 'Signature is Valid'", f) == 0);
	CHECK(o && atoi(o) == 1);
	free(o);
	snprintf(f, sizeof(f), "%s/Anlage03.xml.p7s", outbox);
	snprintf(data, sizeof(data), "%s/in-aa5/Anlage03.xml", dir);
	CHECK(t_run(NULL, "openssl cms -verify -binary -inform DER -in '%s' -content '%s' -CAfile '%s' "
		"-certfile '%s' -purpose any -out /dev/null 2>/dev/null", f, data, pki.root_pem,
		pki.chain_pem) == 0);
	struct job_status js;
	CHECK_OK(job_status_get(&js, st, j->number, &d));
	CHECK_STR(js.state, "DONE");
	CHECK(js.n_signed == 12 && js.pin_asks == 3);
	job_free(j);

	/* 70 documents: their "signed" entries are written in groups (64 and
	 * 6), all before the job is published */
	{
		struct pin_src ps70 = { 0 };
		char ob70[512], ar[256];
		CHECK_OK(run_job(&j, "plain70", "plain", cert_plain, 70, 70, &ps70, &c, ob70,
			sizeof(ob70)));
		CHECK(j && j->state == JOB_DONE && count_files(ob70) == 70);
		if (j != NULL) {
			audit_results(ar, sizeof(ar), j->id);
			CHECK_STR(ar, "signed*70,published,");
		}
		job_free(j);
	}

	/* plain key, n = 1: a PIN per document */
	j = NULL;
	memset(&ps, 0, sizeof(ps));
	CHECK_OK(run_job(&j, "plain1", "plain", cert_plain, 1, 12, &ps, &c, outbox, sizeof(outbox)));
	CHECK(ps.asks == 12);
	CHECK(count_files(outbox) == 12);
	CHECK(sign_p11_logged_in(p) == 0);
	job_free(j);

	/* always-auth key, n = 1 (Einfachsignatur): 4 asks for 4 documents */
	j = NULL;
	memset(&ps, 0, sizeof(ps));
	CHECK_OK(run_job(&j, "aa1", "aa", cert_aa, 1, 4, &ps, &c, outbox, sizeof(outbox)));
	CHECK(ps.asks == 4);
	job_free(j);
	sign_p11_close(p);
}

static void append_byte(void *ctx, const char *path)
{
	(void)ctx;
	FILE *f = fopen(path, "a");
	if (f) {
		fputc('\n', f);
		fclose(f);
	}
}

static void test_faults(void)
{
	static const char *const kinds[] = { "token", "modified", "selfcheck" };
	for (size_t kind = 0; kind < 3; kind++) {
		for (size_t at = 1; at <= 7; at += 3) {
			char tag[64], outbox[512], inbox[512];
			snprintf(tag, sizeof(tag), "fault-%s-%zu", kinds[kind], at);
			char **docs = make_docs(tag, 7, inbox, sizeof(inbox));
			snprintf(outbox, sizeof(outbox), "%s/out-%s", dir, tag);
			struct pin_src ps = { 0 };
			struct job_config c;
			base_cfg(&c, "aa", cert_aa, 5, outbox, &ps);
			if (kind == 0)
				c.hooks.token_error_at = at;
			else if (kind == 1) {
				c.hooks.modify_at = at;
				c.hooks.modify = append_byte;
			} else
				c.hooks.selfcheck_fail_at = at;
			struct job *j = NULL;
			struct siegel_diag d = { { 0 } };
			CHECK_OK(job_new(&j, (const char *const *)docs, 7, &c, &d));
			free_docs(docs, 7);
			if (j == NULL)
				continue;
			int rc = job_run(j, &c, &d);
			CHECK(rc != 0);
			CHECK(j->state == JOB_FAILED);
			CHECK(count_files(outbox) == 0); /* no output file at all, no staging */
			const char *want = kind == 0 ? "CKR_" : kind == 1 ? "changed after confirmation" :
				"self-check";
			CHECK(strstr(j->reason, want) != NULL);
			if (strstr(j->reason, want) == NULL)
				fprintf(stderr, "%s: reason: %s\n", tag, j->reason);
			struct job_status js;
			/* a job number starts with a letter: digits only would be read
			 * as a job id by job status/abort */
			CHECK(j->number[0] >= 'A' && j->number[0] <= 'Z');
			CHECK_OK(job_status_get(&js, st, j->number, &d));
			CHECK_STR(js.state, "FAILED");
			CHECK(strstr(js.reason, want) != NULL);
			/* the signatures made before the fault are in the audit trail,
			 * then the failure */
			char ar[256], exp_ar[64];
			audit_results(ar, sizeof(ar), j->id);
			if (at > 1)
				snprintf(exp_ar, sizeof(exp_ar), "signed*%zu,failed,", at - 1);
			else
				snprintf(exp_ar, sizeof(exp_ar), "failed,");
			CHECK_STR(ar, exp_ar);
			job_free(j);
		}
	}
	/* a wrong PIN signs nothing */
	struct job *j = NULL;
	struct job_config c;
	struct pin_src ps = { .wrong = 1 };
	char outbox[512];
	CHECK(run_job(&j, "wrongpin", "aa", cert_aa, 5, 3, &ps, &c, outbox, sizeof(outbox)) ==
		SIEGEL_E_AUTH_FAILED);
	CHECK(ps.asks == JOB_DEFAULT_PIN_TRIES);
	CHECK(j && j->state == JOB_FAILED && strstr(j->reason, "wrong PIN") != NULL);
	CHECK(count_files(outbox) == 0);
	job_free(j);
	/* the certificate check comes first: an expired certificate signs nothing */
	EVP_PKEY *pub = X509_get0_pubkey(cert_aa);
	X509 *expired = fx_cert(pub, "expired", pki.ca, pki.ca_key, 0, -7200, -3600,
		"critical,digitalSignature", NULL);
	memset(&ps, 0, sizeof(ps));
	j = NULL;
	CHECK(run_job(&j, "expired", "aa", expired, 5, 3, &ps, &c, outbox, sizeof(outbox)) ==
		SIEGEL_E_CERT_EXPIRED);
	CHECK(ps.asks == 0 && count_files(outbox) == 0);
	job_free(j);
	X509_free(expired);
}

/* Publication never replaces a file: with an output name taken in the
 * outbox the job fails, the files it had already moved there are taken out
 * again, and the file that was there is left as it was. */
static void test_collision(void)
{
	char inbox[512], outbox[512], taken[700];
	char **docs = make_docs("taken", 7, inbox, sizeof(inbox));
	snprintf(outbox, sizeof(outbox), "%s/out-taken", dir);
	struct pin_src ps = { 0 };
	struct job_config c;
	base_cfg(&c, "plain", cert_plain, 7, outbox, &ps);
	/* documents 1-4 are published before it (Anlage03 as a .p7s) */
	snprintf(taken, sizeof(taken), "%s/Dokument05.signiert.pdf", outbox);
	static const char mine[] = "somebody else's file\n";
	t_write(taken, mine, sizeof(mine) - 1);
	struct job *j = NULL;
	struct siegel_diag d = { { 0 } };
	CHECK_OK(job_new(&j, (const char *const *)docs, 7, &c, &d));
	free_docs(docs, 7);
	if (j == NULL)
		return;
	CHECK(job_run(j, &c, &d) == SIEGEL_E_EXISTS);
	CHECK(j->state == JOB_FAILED && strstr(j->reason, "exists already") != NULL);
	CHECK(count_files(outbox) == 1); /* only the file that was there: no staging */
	size_t n = 0;
	uint8_t *b = t_read(taken, &n);
	CHECK(b != NULL && n == sizeof(mine) - 1 && memcmp(b, mine, n) == 0);
	free(b);
	char ar[256];
	audit_results(ar, sizeof(ar), j->id);
	CHECK_STR(ar, "signed*7,failed,");
	job_free(j);
}

/* ---- killed in the middle: the next job in the outbox cleans up ---- */

struct crash_at {
	const char *where;
	size_t k;
};

static void crash_point(void *ctx, const char *where, size_t k)
{
	const struct crash_at *c = ctx;
	if (strcmp(where, c->where) == 0 && k == c->k)
		raise(SIGKILL);
}

static void test_crash(void)
{
	static const struct crash_at cases[] = { { "staged", 3 }, { "moved", 2 }, { "done", 0 } };
	char db[600];
	snprintf(db, sizeof(db), "%s/siegel.db", dir);
	for (size_t ci = 0; ci < 3; ci++) {
		char tag[64], inbox[512], outbox[512];
		snprintf(tag, sizeof(tag), "crash-%s", cases[ci].where);
		char **docs = make_docs(tag, 7, inbox, sizeof(inbox));
		snprintf(outbox, sizeof(outbox), "%s/out-%s", dir, tag);
		struct pin_src ps = { 0 };
		struct job_config c;
		base_cfg(&c, "plain", cert_plain, 7, outbox, &ps);
		char number[JOB_NUMBER_LEN + 1] = "";
		int fds[2];
		if (pipe(fds) != 0)
			exit(99);
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			/* its own store connection: the parent's is not the child's */
			close(fds[0]);
			struct store *cs = NULL;
			struct siegel_diag d = { { 0 } };
			if (store_open(&cs, db, &d) != 0)
				_exit(90);
			c.store = cs;
			c.hooks.point = crash_point;
			c.hooks.point_ctx = (void *)&cases[ci];
			struct job *j = NULL;
			if (job_new(&j, (const char *const *)docs, 7, &c, &d) != 0 ||
			    write(fds[1], j->number, JOB_NUMBER_LEN) != JOB_NUMBER_LEN)
				_exit(91);
			if (job_run(j, &c, &d) != 0)
				fprintf(stderr, "crash job: %s\n", d.msg);
			_exit(92); /* not reached: the hook ends the process */
		}
		close(fds[1]);
		CHECK(read(fds[0], number, JOB_NUMBER_LEN) == JOB_NUMBER_LEN);
		close(fds[0]);
		int status = 0;
		waitpid(pid, &status, 0);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		/* left behind: the staging directory and what was published */
		size_t published = ci == 0 ? 0 : ci == 1 ? 2 : 7;
		CHECK(count_files(outbox) == published + 1);
		/* a staging directory whose job is alive (holds the lock) stays */
		char live[700], live_lock[800];
		snprintf(live, sizeof(live), "%s/.siegel-staging-LIVEJB-1", outbox);
		snprintf(live_lock, sizeof(live_lock), "%s/.lock", live);
		CHECK(mkdir(live, 0700) == 0);
		int lfd = open(live_lock, O_RDWR | O_CREAT, 0600);
		CHECK(lfd >= 0 && flock(lfd, LOCK_EX) == 0);
		struct siegel_diag d = { { 0 } };
		struct job_status js;
		if (ci < 2) {
			/* its status: RUNNING, its process ended (its staging
			 * directory can be locked), its outbox recorded; while a
			 * process holds that directory it counts as running */
			CHECK_OK(job_status_get(&js, st, number, &d));
			char rp[4096];
			CHECK(realpath(outbox, rp) != NULL);
			CHECK_STR(js.state, "RUNNING");
			CHECK_STR(js.outbox, rp);
			CHECK(js.ended == 1);
			char sdir[700];
			snprintf(sdir, sizeof(sdir), "%s/.siegel-staging-%s-%ld/.lock", outbox, number,
				(long)pid);
			int hfd = open(sdir, O_RDWR);
			CHECK(hfd >= 0 && flock(hfd, LOCK_EX) == 0);
			CHECK_OK(job_status_get(&js, st, number, &d));
			CHECK(js.ended == 0);
			if (hfd >= 0)
				close(hfd);
			/* the next job of the same documents into the same outbox:
			 * it cleans up first, so none of its names is taken */
			struct job *j = NULL;
			CHECK_OK(job_new(&j, (const char *const *)docs, 7, &c, &d));
			if (j != NULL) {
				CHECK_OK(job_run(j, &c, &d));
				CHECK(j->state == JOB_DONE);
				job_free(j);
			}
			CHECK(count_files(outbox) == 7 + 1);
			CHECK_OK(job_status_get(&js, st, number, &d));
			CHECK_STR(js.state, "FAILED");
			CHECK(strstr(js.reason, "interrupted") != NULL);
			if (ci == 1)
				CHECK(strstr(js.reason, "the 2 files it had published were taken out") != NULL);
			char ar[256];
			audit_results(ar, sizeof(ar), js.id);
			/* killed while signing, before its "signed" entries were
			 * written (in groups, at the latest before publication): the
			 * recovery writes them for the 3 outputs it finds staged */
			CHECK_STR(ar, ci == 0 ? "signed*3,failed," : "signed*7,failed,");
			/* each with its document's name and confirmed hash and the
			 * signer recorded at the start */
			sqlite3_stmt *q = NULL;
			CHECK(sqlite3_prepare_v2(store_db(st), "SELECT COUNT(*) FROM sign_audit a "
				"JOIN sign_job_docs d ON d.job_id = a.job_id AND d.name = a.doc_name "
				"AND d.sha256 = a.doc_sha256 JOIN sign_jobs j ON j.id = a.job_id "
				"AND j.key_id = a.key_id AND length(j.key_id) = 64 "
				"WHERE a.job_id = ? AND a.result = 'signed'", -1, &q, NULL) == SQLITE_OK);
			sqlite3_bind_int64(q, 1, js.id);
			CHECK(sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == (ci == 0 ? 3 : 7));
			sqlite3_finalize(q);
		} else {
			/* recorded DONE: only its staging directory goes */
			size_t n = 0;
			CHECK_OK(job_recover(&c, &n, &d));
			CHECK(n == 1);
			CHECK(count_files(outbox) == 7 + 1);
			CHECK_OK(job_status_get(&js, st, number, &d));
			CHECK_STR(js.state, "DONE");
		}
		struct stat sb;
		CHECK(stat(live, &sb) == 0);
		close(lfd);
		unlink(live_lock);
		rmdir(live);
		free_docs(docs, 7);
	}
	/* a look-alike staging directory that is not private (another user's
	 * would not be ours either) is left alone, even with a manifest naming
	 * a file of the outbox by its inode; made private, it is recovered */
	char outbox[512], victim[700], fake[700], man[800];
	snprintf(outbox, sizeof(outbox), "%s/out-lookalike", dir);
	CHECK(siegel_mkdir_p(outbox, 0700) == 0);
	snprintf(victim, sizeof(victim), "%s/Vertrag.signiert.pdf", outbox);
	t_write(victim, "%PDF-1.7\n", 9);
	struct stat vs;
	CHECK(stat(victim, &vs) == 0);
	snprintf(fake, sizeof(fake), "%s/.siegel-staging-ABCDEF-1", outbox);
	CHECK(mkdir(fake, 0700) == 0 && chmod(fake, 0755) == 0);
	snprintf(man, sizeof(man), "%s/.publishing", fake);
	char entry[300];
	int el = snprintf(entry, sizeof(entry), "%llu Vertrag.signiert.pdf", (unsigned long long)vs.st_ino);
	t_write(man, entry, (size_t)el + 1);
	snprintf(man, sizeof(man), "%s/.lock", fake);
	t_write(man, "", 0);
	/* a job that could not lock its staging (a file system without locks)
	 * names it so that recovery never touches it */
	char unl[700];
	snprintf(unl, sizeof(unl), "%s/.siegel-unlocked-ABCDEF-1", outbox);
	CHECK(mkdir(unl, 0700) == 0);
	snprintf(man, sizeof(man), "%s/.publishing", unl);
	t_write(man, entry, (size_t)el + 1);
	struct job_config c;
	memset(&c, 0, sizeof(c));
	c.outbox = outbox;
	c.store = st;
	c.audit_key = &audit_key;
	size_t n = 9;
	struct siegel_diag d = { { 0 } };
	CHECK_OK(job_recover(&c, &n, &d));
	CHECK(n == 0 && access(victim, F_OK) == 0 && access(fake, F_OK) == 0);
	CHECK(access(unl, F_OK) == 0);
	/* directories of jobs that ended before naming their staging: one with
	 * its lock file goes; an empty one only when it is a minute old (a job
	 * may have just made it) */
	char fresh1[700], fresh2[700];
	snprintf(fresh1, sizeof(fresh1), "%s/.siegel-new-AAAAAA-1", outbox);
	snprintf(fresh2, sizeof(fresh2), "%s/.siegel-new-BBBBBB-1", outbox);
	CHECK(mkdir(fresh1, 0700) == 0 && mkdir(fresh2, 0700) == 0);
	snprintf(man, sizeof(man), "%s/.lock", fresh1);
	t_write(man, "", 0);
	CHECK_OK(job_recover(&c, &n, &d));
	CHECK(access(fresh1, F_OK) != 0 && access(fresh2, F_OK) == 0);
	struct timespec old[2] = { { time(NULL) - 120, 0 }, { time(NULL) - 120, 0 } };
	CHECK(utimensat(AT_FDCWD, fresh2, old, 0) == 0);
	CHECK_OK(job_recover(&c, &n, &d));
	CHECK(access(fresh2, F_OK) != 0);
	CHECK(chmod(fake, 0700) == 0);
	CHECK_OK(job_recover(&c, &n, &d));
	CHECK(n == 1 && access(victim, F_OK) != 0 && access(fake, F_OK) != 0);
	CHECK(access(unl, F_OK) == 0);
}

static int pin_abort_cb(void *ctx, char *pin, size_t cap, size_t *len, const char *number,
	unsigned round, unsigned rounds, unsigned attempt)
{
	if (round == 2) {
		struct siegel_diag d = { { 0 } };
		CHECK_OK(job_abort_request(st, number, &d)); /* as `siegel sign job abort` does */
	}
	return pin_cb(ctx, pin, cap, len, number, round, rounds, attempt);
}

static void test_abort(void)
{
	char inbox[512], outbox[512];
	char **docs = make_docs("abort", 8, inbox, sizeof(inbox));
	snprintf(outbox, sizeof(outbox), "%s/out-abort", dir);
	struct pin_src ps = { 0 };
	struct job_config c;
	base_cfg(&c, "aa", cert_aa, 3, outbox, &ps);
	c.pin = pin_abort_cb;
	struct job *j = NULL;
	struct siegel_diag d = { { 0 } };
	CHECK_OK(job_new(&j, (const char *const *)docs, 8, &c, &d));
	if (j != NULL) {
		CHECK(job_run(j, &c, &d) != 0);
		CHECK(j->state == JOB_ABORTED);
		CHECK(count_files(outbox) == 0);
		struct job_status js;
		CHECK_OK(job_status_get(&js, st, j->number, &d));
		CHECK_STR(js.state, "ABORTED");
		/* an ended job cannot be aborted again */
		CHECK_RC(job_abort_request(st, j->number, &d), SIEGEL_E_STATE);
		job_free(j);
	}
	/* abort before the run: a confirmed job never starts */
	c.pin = pin_cb;
	j = NULL;
	CHECK_OK(job_new(&j, (const char *const *)docs, 8, &c, &d));
	if (j != NULL) {
		char ref[32];
		snprintf(ref, sizeof(ref), "%lld", (long long)j->id);
		CHECK_OK(job_abort_request(st, ref, &d));
		ps.asks = 0;
		CHECK(job_run(j, &c, &d) != 0);
		CHECK(ps.asks == 0 && j->state == JOB_ABORTED);
		job_free(j);
	}
	free_docs(docs, 8);
}

static void test_audit(void)
{
	struct siegel_diag d = { { 0 } };
	EVP_PKEY *pub = NULL;
	CHECK_OK(csp_key_pkey(&pub, &audit_key));
	struct job_audit_check ac;
	memset(&ac, 0, sizeof(ac));
	CHECK_OK(job_audit_verify(&ac, st, pub, &d));
	if (d.msg[0])
		fprintf(stderr, "audit: %s\n", d.msg);
	CHECK(ac.entries >= 12 + 12 + 4);
	/* the head recorded now: cutting the newest entries is seen with it */
	struct job_audit_check rec;
	memset(&rec, 0, sizeof(rec));
	rec.want_seq = ac.entries;
	memcpy(rec.want_hash, ac.head, 32);
	CHECK_OK(job_audit_verify(&rec, st, pub, &d));
	rec.want_hash[0] ^= 1;
	CHECK_RC(job_audit_verify(&rec, st, pub, &d), SIEGEL_E_VERIFY);
	CHECK(strstr(d.msg, "not the one recorded") != NULL);
	rec.want_hash[0] ^= 1;
	char sql[128];
	snprintf(sql, sizeof(sql), "DELETE FROM sign_audit WHERE seq >= %zu", ac.entries - 1);
	CHECK(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL) == SQLITE_OK);
	struct job_audit_check cut;
	memset(&cut, 0, sizeof(cut));
	CHECK_OK(job_audit_verify(&cut, st, pub, &d)); /* the chain alone looks fine */
	CHECK(cut.entries == ac.entries - 2);
	CHECK_RC(job_audit_verify(&rec, st, pub, &d), SIEGEL_E_VERIFY);
	CHECK(strstr(d.msg, "newest entries were removed") != NULL);
	/* signed entries name the document and its hash */
	sqlite3_stmt *q = NULL;
	sqlite3_prepare_v2(store_db(st), "SELECT count(*) FROM sign_audit WHERE result = 'signed' "
		"AND doc_sha256 IS NOT NULL AND doc_name IS NOT NULL", -1, &q, NULL);
	CHECK(sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) >= 28);
	sqlite3_finalize(q);
	/* an edit is detected */
	char *err = NULL;
	sqlite3_exec(store_db(st), "UPDATE sign_audit SET doc_name = 'Faelschung.pdf' WHERE seq = 5",
		NULL, NULL, &err);
	CHECK_RC(job_audit_verify(&ac, st, pub, &d), SIEGEL_E_VERIFY);
	CHECK(strstr(d.msg, "entry 5") != NULL);
	/* a gap is detected */
	sqlite3_exec(store_db(st), "DELETE FROM sign_audit WHERE seq = 5", NULL, NULL, &err);
	CHECK_RC(job_audit_verify(&ac, st, pub, &d), SIEGEL_E_VERIFY);
	CHECK(strstr(d.msg, "gap") != NULL);
	EVP_PKEY_free(pub);
}

static void test_route(void)
{
	char conf[512], inbox[512], outbox[512], path[700];
	snprintf(inbox, sizeof(inbox), "%s/route-in", dir);
	snprintf(outbox, sizeof(outbox), "%s/route-out", dir);
	CHECK(siegel_mkdir_p(inbox, 0700) == 0 && siegel_mkdir_p(outbox, 0700) == 0);
	snprintf(conf, sizeof(conf), "%s/routes.conf", dir);
	FILE *f = fopen(conf, "w");
	fprintf(f, "[service]\nport = 8443\n\n[route rechnungen]\ninbox = %s\noutbox = %s\n"
		"format = pdf\nmodule = %s\ntoken = %s\nkey = plain\ncert = %s/plain.pem\n"
		"chain = %s\ntrust = %s\ninfix = .signiert\nper_auth = 10\nmax_signatures = 3\n",
		inbox, outbox, mod, FX_TOKEN, dir, pki.chain_pem, pki.root_pem);
	fclose(f);
	snprintf(path, sizeof(path), "%s/plain.pem", dir);
	fx_pem(path, cert_plain, NULL);
	struct job_route routes[JOB_ROUTE_MAX];
	size_t nr = 0;
	struct siegel_diag d = { { 0 } };
	CHECK_OK(job_routes_load(routes, JOB_ROUTE_MAX, &nr, conf, &d));
	CHECK(nr == 1 && strcmp(routes[0].name, "rechnungen") == 0 && routes[0].max_signatures == 3);
	for (int i = 1; i <= 4; i++) {
		snprintf(path, sizeof(path), "%s/Dokument%d.pdf", inbox, i);
		fx_make_pdf(path, 1, 0);
	}
	snprintf(path, sizeof(path), "%s/notiz.txt", inbox);
	t_write(path, "kein PDF\n", 9);
	char **paths = NULL;
	size_t n = 0;
	CHECK_OK(job_route_scan(&paths, &n, &routes[0], &d));
	CHECK(n == 3); /* max_signatures; the .txt is not the route's format */
	struct pin_src ps = { 0 };
	struct job_config c;
	base_cfg(&c, "plain", cert_plain, routes[0].per_auth, outbox, &ps);
	c.route = routes[0].name;
	c.pdf_only = 1;
	c.infix = routes[0].infix;
	struct job *j = NULL;
	CHECK_OK(job_new(&j, (const char *const *)paths, n, &c, &d));
	/* a file appearing after confirmation waits for the next job */
	snprintf(path, sizeof(path), "%s/Dokument0.pdf", inbox);
	fx_make_pdf(path, 1, 0);
	if (j != NULL) {
		CHECK_OK(job_run(j, &c, &d));
		CHECK(ps.asks == 1);
		CHECK_OK(job_route_finish(j, &d));
		job_free(j);
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	snprintf(path, sizeof(path), "%s/Dokument1.signiert.pdf", outbox);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/Dokument0.signiert.pdf", outbox);
	CHECK(access(path, F_OK) != 0);
	CHECK(count_files(outbox) == 3);
	CHECK(count_files(inbox) == 3); /* Dokument0, Dokument4 and notiz.txt stay */
	/* non-PDF on a PDF-only route: rejected at confirmation */
	const char *one[] = { path };
	snprintf(path, sizeof(path), "%s/notiz.txt", inbox);
	CHECK_RC(job_new(&j, one, 1, &c, &d), SIEGEL_E_PARAM);
	CHECK(strstr(d.msg, "not a PDF") != NULL);
}

/* ---- the PIN in memory ---- */

#define MEM_PIN_LEN 11
static const uint8_t mem_pin_x[MEM_PIN_LEN] = { /* "58316094727" ^ 0x5a */
	0x6f, 0x62, 0x69, 0x6b, 0x6c, 0x6a, 0x63, 0x6e, 0x6d, 0x68, 0x6d };

static int mem_pin_cb(void *ctx, char *pin, size_t cap, size_t *len, const char *number,
	unsigned round, unsigned rounds, unsigned attempt)
{
	(void)ctx; (void)number; (void)round; (void)rounds; (void)attempt;
	if (cap < MEM_PIN_LEN)
		return SIEGEL_E_LIMIT;
	for (size_t i = 0; i < MEM_PIN_LEN; i++)
		pin[i] = (char)(mem_pin_x[i] ^ 0x5a);
	*len = MEM_PIN_LEN;
	return 0;
}

/* 1 if the PIN occurs in buf (compared through the mask, so this code
 * never holds the PIN in clear). */
static int has_pin(const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i + MEM_PIN_LEN <= n; i++) {
		if ((uint8_t)(buf[i] ^ 0x5a) != mem_pin_x[0])
			continue;
		size_t k = 1;
		while (k < MEM_PIN_LEN && (uint8_t)(buf[i + k] ^ 0x5a) == mem_pin_x[k])
			k++;
		if (k == MEM_PIN_LEN)
			return 1;
	}
	return 0;
}

static int scan_self(void)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	int mem = open("/proc/self/mem", O_RDONLY);
	if (maps == NULL || mem < 0)
		return -1;
	static uint8_t chunk[1 << 20];
	char line[512];
	int found = 0;
	while (!found && fgets(line, sizeof(line), maps) != NULL) {
		unsigned long lo, hi;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r')
			continue;
		if (strstr(line, "[vvar]") || strstr(line, "[vsyscall]"))
			continue;
		for (unsigned long a = lo; a < hi && !found; a += sizeof(chunk) - MEM_PIN_LEN) {
			size_t want = hi - a < sizeof(chunk) ? hi - a : sizeof(chunk);
			ssize_t got = pread(mem, chunk, want, (off_t)a);
			if (got > 0 && has_pin(chunk, (size_t)got)) {
				fprintf(stderr, "PIN found in %s", line);
				found = 1;
			}
			if ((size_t)got < sizeof(chunk))
				break;
		}
	}
	fclose(maps);
	close(mem);
	memset(chunk, 0, sizeof(chunk));
	return found;
}

static void test_pin_memory(void)
{
#ifdef __SANITIZE_ADDRESS__
	/* ASan's shadow mappings make a scan of all readable memory meaningless
	 * (and take minutes): this check runs in the normal build. */
	fprintf(stderr, "PIN memory scan skipped under AddressSanitizer\n");
	return;
#endif
	char tokdir[512];
	snprintf(tokdir, sizeof(tokdir), "%s/memtok", dir);
	char outbox[512], inbox[512], dbp[600];
	snprintf(dbp, sizeof(dbp), "%s/mem.db", dir);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		/* the child: its own token whose PIN never exists in clear outside
		 * locked memory, a job of 6 documents, then a scan of itself */
		char conf[512];
		struct siegel_diag d = { { 0 } };
		if (siegel_mkdir_p(tokdir, 0700) != 0 ||
		    csp_softhsm_prepare(conf, sizeof(conf), tokdir, &d) != 0)
			_exit(90);
		setenv("SOFTHSM2_CONF", conf, 1);
		char *pin = siegel_secmem_alloc(SIGN_MAX_PIN + 1);
		size_t pl = 0;
		mem_pin_cb(NULL, pin, SIGN_MAX_PIN, &pl, NULL, 1, 1, 1);
		struct csp_p11 *cp = NULL;
		struct csp_p11_config cc = { .module_path = mod, .token_label = "memtest",
			.user_pin = pin, .create_token = 1, .so_pin = FX_SO_PIN };
		if (csp_p11_open(&cp, &cc, &d) != 0)
			_exit(91);
		csp_p11_close(cp);
		struct sign_p11 *p = NULL;
		EVP_PKEY *pub = NULL;
		if (sign_p11_open(&p, mod, "memtest", &d) != 0 || sign_p11_login(p, pin, pl, &d) != 0 ||
		    sign_p11_generate(&pub, p, "mem", (const uint8_t *)"m", 1, "p256", 1, &d) != 0)
			_exit(92);
		sign_p11_close(p);
		siegel_secmem_free(pin, SIGN_MAX_PIN + 1);
		X509 *cert = fx_signer_cert(&pki, pub, "mem");
		struct store *ms = NULL;
		if (store_open(&ms, dbp, &d) != 0)
			_exit(93);
		char **docs = make_docs("mem", 6, inbox, sizeof(inbox));
		snprintf(outbox, sizeof(outbox), "%s/out-mem", dir);
		struct job_config c;
		base_cfg(&c, "mem", cert, 5, outbox, NULL);
		c.token = "memtest";
		c.pin = mem_pin_cb;
		c.store = ms;
		struct job *j = NULL;
		if (job_new(&j, (const char *const *)docs, 6, &c, &d) != 0 || job_run(j, &c, &d) != 0) {
			fprintf(stderr, "mem job: %s\n", d.msg);
			_exit(94);
		}
		if (j->pin_asks != 2)
			_exit(95);
		job_free(j);
		store_close(ms);
		if (scan_self() != 0)
			_exit(1);
		/* control: the scanner does find a PIN left in ordinary memory */
		char *leak = malloc(64);
		size_t ll = 0;
		mem_pin_cb(NULL, leak, 64, &ll, NULL, 1, 1, 1);
		_exit(scan_self() == 1 ? 0 : 2);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "PIN memory child: status %d\n", WEXITSTATUS(status));
	/* neither in the store (database, WAL) nor in any file the job wrote */
	char *o = NULL;
	t_run(&o, "find '%s' -type f \\( -name 'mem.db*' -o -path '*out-mem*' -o -name '*.log' \\)",
		dir);
	int files = 0;
	for (char *line = o ? strtok(o, "\n") : NULL; line != NULL; line = strtok(NULL, "\n")) {
		size_t len = 0;
		uint8_t *b = t_read(line, &len);
		CHECK(!has_pin(b, len));
		free(b);
		files++;
	}
	CHECK(files >= 4);
	free(o);
}

int main(void)
{
	dir = t_tmpdir();
	mod = fx_token(dir);
	fx_pki_new(&pki, dir);
	EVP_PKEY *pa = fx_keygen(mod, "aa", "p256", 1);
	EVP_PKEY *pp = fx_keygen(mod, "plain", "p256", 0);
	cert_aa = fx_signer_cert(&pki, pa, "Stapel Signer AA");
	cert_plain = fx_signer_cert(&pki, pp, "Stapel Signer");
	char db[600];
	snprintf(db, sizeof(db), "%s/siegel.db", dir);
	struct siegel_diag d = { { 0 } };
	if (store_open(&st, db, &d) != 0 || csp_soft_generate(&audit_key, SIEGEL_ALG_P256_SHA256) != 0) {
		fprintf(stderr, "store: %s\n", d.msg);
		return 99;
	}
	test_pin_counts();
	test_faults();
	test_collision();
	test_crash();
	test_abort();
	test_route();
	test_pin_memory();
	test_audit();
	store_close(st);
	csp_key_release(&audit_key);
	X509_free(cert_aa);
	X509_free(cert_plain);
	EVP_PKEY_free(pa);
	EVP_PKEY_free(pp);
	return t_done();
}
