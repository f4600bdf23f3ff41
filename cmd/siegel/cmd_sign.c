/* siegel sign file|batch|route run|job status|job abort|job recover: batch signing from
 * the command line. The signer sees the confirmed list and the job number
 * before the PIN is asked for; the PIN is read without echo from the
 * terminal (or from --pin-fd N for scripts), straight into locked memory. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "cli.h"
#include "csp/csp.h"
#include "job/job.h"
#include "sign/sign.h"
#include "store/store.h"

#define SIGN_CLI_MAX_FILES JOB_MAX_DOCS

static const char sign_usage[] =
	"usage: siegel sign file FILE... [options]        sign files (PAdES for PDF, .p7s otherwise)\n"
	"       siegel sign batch DIR|FILE... [options]   sign every file of a directory as one job\n"
	"       siegel sign route run NAME --config FILE  run a directory route\n"
	"       siegel sign job status ID|NUMBER [--json]\n"
	"       siegel sign job abort ID|NUMBER\n"
	"       siegel sign job recover --out DIR [--json]\n"
	"                         clean up after jobs whose process ended (crash, kill) with DIR\n"
	"                         as outbox: what they published is taken out again, they are\n"
	"                         recorded FAILED (the next job into DIR does this by itself)\n"
	"       siegel sign audit verify [--head SEQ:HASH] [--json]\n"
	"                         check the audit trail (sequence, hash chain, signatures) and\n"
	"                         print its head; --head: a head recorded earlier must still be\n"
	"                         there (shows newest entries that were removed)\n"
	"options:\n"
	"  --data DIR        data directory: store, audit key (default ./data; env SIEGEL_DATA)\n"
	"  --module SO       PKCS#11 module (default SoftHSM2 with the token store in DIR/tokens)\n"
	"  --token LABEL     token label\n"
	"  --key LABEL       key label (CKA_LABEL)     --key-id HEX   key id (CKA_ID)\n"
	"  --cert PEM        signer certificate        --chain PEM    intermediate certificates\n"
	"  --trust PEM       trust anchors for the signer certificate check\n"
	"  --out DIR         outbox (default: beside each input)\n"
	"  --format auto|pades|cades   --infix S (default .signiert)   --pss (RSA-PSS)\n"
	"  --per-auth N      signatures per PIN entry (default 1)\n"
	"  --tsa URL         RFC 3161 time-stamp authority (B-T)\n"
	"  --pin-fd N        read PINs line by line from fd N instead of the terminal\n"
	"  --yes             do not ask for confirmation of the document list\n"
	"  --json            machine-readable output\n";

struct sign_opts {
	const char *data, *module, *token, *key, *key_id, *cert, *chain, *trust, *out;
	const char *format, *infix, *tsa, *config, *head;
	unsigned per_auth;
	int pin_fd, yes, json, pss;
	const char *pos[SIGN_CLI_MAX_FILES > 64 ? 64 : SIGN_CLI_MAX_FILES];
	size_t n_pos;
};

static int parse(struct sign_opts *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	o->pin_fd = -1;
	o->per_auth = 1;
	o->data = getenv("SIEGEL_DATA");
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		if (strcmp(a, "--data") == 0) slot = &o->data;
		else if (strcmp(a, "--module") == 0) slot = &o->module;
		else if (strcmp(a, "--token") == 0) slot = &o->token;
		else if (strcmp(a, "--key") == 0) slot = &o->key;
		else if (strcmp(a, "--key-id") == 0) slot = &o->key_id;
		else if (strcmp(a, "--cert") == 0) slot = &o->cert;
		else if (strcmp(a, "--chain") == 0) slot = &o->chain;
		else if (strcmp(a, "--trust") == 0) slot = &o->trust;
		else if (strcmp(a, "--out") == 0) slot = &o->out;
		else if (strcmp(a, "--format") == 0) slot = &o->format;
		else if (strcmp(a, "--infix") == 0) slot = &o->infix;
		else if (strcmp(a, "--tsa") == 0) slot = &o->tsa;
		else if (strcmp(a, "--config") == 0) slot = &o->config;
		else if (strcmp(a, "--head") == 0) slot = &o->head;
		else if (strcmp(a, "--yes") == 0) { o->yes = 1; continue; }
		else if (strcmp(a, "--json") == 0) { o->json = 1; continue; }
		else if (strcmp(a, "--pss") == 0) { o->pss = 1; continue; }
		else if (strcmp(a, "--per-auth") == 0 || strcmp(a, "--pin-fd") == 0) {
			long long v = 0;
			if (i + 1 >= argc || siegel_strtoll(&v, argv[i + 1], 0, JOB_MAX_PER_AUTH) != 0) {
				fprintf(stderr, "siegel sign: %s wants a number\n", a);
				return 2;
			}
			if (a[2] == 'p' && a[3] == 'e')
				o->per_auth = (unsigned)v;
			else
				o->pin_fd = (int)v;
			i++;
			continue;
		} else if (strncmp(a, "--", 2) == 0) {
			fprintf(stderr, "siegel sign: unknown option %s\n%s", a, sign_usage);
			return 2;
		} else {
			if (o->n_pos >= sizeof(o->pos) / sizeof(o->pos[0])) {
				fprintf(stderr, "siegel sign: too many arguments (use batch DIR)\n");
				return 2;
			}
			o->pos[o->n_pos++] = a;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "siegel sign: %s wants a value\n", a);
			return 2;
		}
		*slot = argv[++i];
	}
	if (o->data == NULL)
		o->data = "data";
	return 0;
}

static int fail(const struct sign_opts *o, int err, const struct siegel_diag *d)
{
	if (o->json) {
		json_t *j = json_pack("{s:s, s:s}", "error", siegel_err_name(err), "message",
			d && d->msg[0] ? d->msg : siegel_strerror(err));
		cli_print_json(j);
	} else {
		fprintf(stderr, "siegel sign: %s: %s\n", siegel_err_name(err),
			d && d->msg[0] ? d->msg : siegel_strerror(err));
	}
	return 1;
}

static int open_store(struct store **s, const struct sign_opts *o, struct siegel_diag *d)
{
	char path[4096];
	if (siegel_mkdir_p(o->data, 0700) != 0)
		return siegel_fail(d, SIEGEL_E_IO, "cannot create data directory %s", o->data);
	if (siegel_path_join(path, sizeof(path), o->data, "siegel.db") != 0)
		return siegel_fail(d, SIEGEL_E_LIMIT, "data directory path too long");
	return store_open(s, path, d);
}

/* The audit key of this data directory (created on first use). */
static int audit_key_open(struct csp_key *k, const struct sign_opts *o, struct siegel_diag *d)
{
	char path[4096];
	if (siegel_path_join(path, sizeof(path), o->data, "sign-audit-key.pem") != 0)
		return siegel_fail(d, SIEGEL_E_LIMIT, "data directory path too long");
	if (access(path, F_OK) != 0) {
		EVP_PKEY *pk = EVP_EC_gen("P-256");
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		int ok = pk != NULL && f != NULL &&
			 PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) == 1;
		if (f != NULL)
			fclose(f);
		else if (fd >= 0)
			close(fd);
		EVP_PKEY_free(pk);
		if (!ok)
			return siegel_fail(d, SIEGEL_E_IO, "cannot create the audit key %s", path);
	}
	return csp_soft_load_pem(k, path, d);
}

/* ---- PIN and confirmation on the terminal ---- */

struct pin_io {
	int fd;                 /* --pin-fd, or -1 for /dev/tty */
};

/* Reads one line into pin (locked memory) without echo. */
static int read_line(int fd, char *pin, size_t cap, size_t *len)
{
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (c == '\n' || c == '\r')
			break;
		if (n < cap)
			pin[n++] = c;
		c = 0;
	}
	*len = n;
	return n > 0 ? 0 : SIEGEL_E_UNAUTHORIZED;
}

static int cli_pin(void *ctx, char *pin, size_t cap, size_t *len, const char *number,
	unsigned round, unsigned rounds, unsigned attempt)
{
	struct pin_io *io = ctx;
	if (io->fd >= 0)
		return read_line(io->fd, pin, cap, len);
	int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (tty < 0)
		return SIEGEL_E_UNAUTHORIZED;
	char prompt[160];
	int pl = snprintf(prompt, sizeof(prompt), "%sJob %s - PIN (authentication %u of %u): ",
		attempt > 1 ? "wrong PIN. " : "", number, round, rounds);
	if (pl > 0 && write(tty, prompt, (size_t)pl) < 0) {
		close(tty);
		return SIEGEL_E_IO;
	}
	struct termios old, quiet;
	int have = tcgetattr(tty, &old) == 0;
	if (have) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		tcsetattr(tty, TCSAFLUSH, &quiet);
	}
	int rc = read_line(tty, pin, cap, len);
	if (have)
		tcsetattr(tty, TCSAFLUSH, &old);
	if (write(tty, "\n", 1) < 0)
		rc = rc ? rc : SIEGEL_E_IO;
	close(tty);
	return rc;
}

static void cli_progress(void *ctx, size_t done, size_t total, const char *name)
{
	(void)ctx;
	if (!isatty(2))
		return;
	char bar[31];
	size_t fill = total ? done * 30 / total : 30;
	for (size_t i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = 0;
	fprintf(stderr, "\r[%s] %zu/%zu %-40.40s%s", bar, done, total, name,
		done == total ? "\n" : "");
}

static int confirm(const struct sign_opts *o, const struct job *j)
{
	FILE *f = o->json ? stderr : stdout;
	fprintf(f, "Job %s: %zu document(s) to sign\n", j->number, j->n_docs);
	for (size_t i = 0; i < j->n_docs; i++) {
		char h[17];
		siegel_hex_encode(h, j->docs[i].sha256, 8);
		fprintf(f, "  %-40s %10llu bytes  SHA-256 %s...  -> %s\n", j->docs[i].name,
			(unsigned long long)j->docs[i].size, h, j->docs[i].out_name);
	}
	fflush(f);
	if (o->yes)
		return 0;
	int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (tty < 0)
		return -1;
	const char q[] = "Sign these documents? [y/N] ";
	char a[8] = { 0 };
	ssize_t r = write(tty, q, sizeof(q) - 1) < 0 ? -1 : read(tty, a, sizeof(a) - 1);
	close(tty);
	return r > 0 && (a[0] == 'y' || a[0] == 'Y' || a[0] == 'j' || a[0] == 'J') ? 0 : -1;
}

/* ---- sign file / batch / route ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Expands directories (batch) into their regular, non-hidden files. */
static int collect(char ***out, size_t *n_out, const struct sign_opts *o, int batch,
	struct siegel_diag *d)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < o->n_pos; i++) {
		struct stat st;
		if (stat(o->pos[i], &st) != 0)
			return siegel_fail(d, SIEGEL_E_IO, "%s: %s", o->pos[i], strerror(errno));
		DIR *dir = (batch && S_ISDIR(st.st_mode)) ? opendir(o->pos[i]) : NULL;
		struct dirent *e = NULL;
		do {
			char path[4096];
			if (dir != NULL) {
				e = readdir(dir);
				if (e == NULL)
					break;
				if (e->d_name[0] == '.')
					continue;
				if (siegel_path_join(path, sizeof(path), o->pos[i], e->d_name) != 0)
					continue;
				struct stat fs;
				if (lstat(path, &fs) != 0 || !S_ISREG(fs.st_mode))
					continue;
			} else {
				if (!S_ISREG(st.st_mode)) {
					return siegel_fail(d, SIEGEL_E_PARAM, "%s is not a regular file%s",
						o->pos[i], batch ? "" : " (use siegel sign batch DIR)");
				}
				snprintf(path, sizeof(path), "%s", o->pos[i]);
			}
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				char **nv = realloc(v, cap * sizeof(*v));
				if (nv == NULL)
					return SIEGEL_E_NOMEM;
				v = nv;
			}
			if ((v[n++] = strdup(path)) == NULL)
				return SIEGEL_E_NOMEM;
			if (n > SIGN_CLI_MAX_FILES)
				return siegel_fail(d, SIEGEL_E_LIMIT, "more than %d files", SIGN_CLI_MAX_FILES);
		} while (dir != NULL);
		if (dir != NULL)
			closedir(dir);
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	*n_out = n;
	return 0;
}

static int run(const struct sign_opts *o, char **paths, size_t n, const char *route_name,
	const struct job_route *route)
{
	struct siegel_diag d = { { 0 } };
	int rc = 0;
	struct store *st = NULL;
	struct csp_key ak;
	memset(&ak, 0, sizeof(ak));
	STACK_OF(X509) *cert = NULL, *chain = NULL, *trust = NULL;
	struct job *j = NULL;
	uint8_t *key_id = NULL;
	size_t key_id_len = 0;
	char outdir[4096];
	const char *module = o->module;
	char conf[4096];

	if (module == NULL) {
		if (getenv("SOFTHSM2_CONF") == NULL) {
			rc = csp_softhsm_prepare(conf, sizeof(conf), o->data, &d);
			if (rc)
				goto out;
			setenv("SOFTHSM2_CONF", conf, 1);
		}
		module = csp_softhsm_default_module();
		if (module == NULL) {
			rc = siegel_fail(&d, SIEGEL_E_NOTFOUND, "no --module and SoftHSM2 is not installed");
			goto out;
		}
	}
	if (o->token == NULL || (o->key == NULL && o->key_id == NULL) || o->cert == NULL ||
	    o->trust == NULL) {
		fprintf(stderr, "siegel sign: --token, --key (or --key-id), --cert and --trust are "
			"required\n%s", sign_usage);
		return 2;
	}
	if (o->key_id != NULL && siegel_hex_decode_alloc(&key_id, &key_id_len, o->key_id) != 0) {
		rc = siegel_fail(&d, SIEGEL_E_PARAM, "--key-id wants hex");
		goto out;
	}
	if ((rc = sign_load_certs(&cert, o->cert, &d)) != 0 ||
	    (o->chain && (rc = sign_load_certs(&chain, o->chain, &d)) != 0) ||
	    (rc = sign_load_certs(&trust, o->trust, &d)) != 0)
		goto out;
	if ((rc = open_store(&st, o, &d)) != 0 || (rc = audit_key_open(&ak, o, &d)) != 0)
		goto out;

	struct pin_io pio = { o->pin_fd };
	struct job_config c;
	memset(&c, 0, sizeof(c));
	c.module = module;
	c.token = o->token;
	c.key_label = o->key;
	c.key_id = key_id;
	c.key_id_len = key_id_len;
	c.cert = sk_X509_value(cert, 0);
	c.chain = chain;
	c.trust = trust;
	c.rsa_pss = o->pss;
	c.per_auth = o->per_auth;
	c.format = o->format == NULL || strcmp(o->format, "auto") == 0 ? JOB_FORMAT_AUTO :
		   strcmp(o->format, "pades") == 0 ? JOB_FORMAT_PADES : JOB_FORMAT_CADES;
	c.pdf_only = c.format == JOB_FORMAT_PADES;
	c.infix = o->infix;
	c.pin = cli_pin;
	c.pin_ctx = &pio;
	c.progress = cli_progress;
	c.store = st;
	c.audit_key = &ak;
	c.route = route_name;
	struct sign_tsa_http tsa_http = { .url = o->tsa }; /* lives as long as the job */
	if (o->tsa != NULL) {
		c.tsa = sign_tsa_http_fn;
		c.tsa_ctx = &tsa_http;
	}
	if (route != NULL) {
		c.deadline = route->deadline;
		c.copy_original = 1;
		if (route->deadline > 0 && time(NULL) > route->deadline) {
			rc = siegel_fail(&d, SIEGEL_E_STATE, "route %s: the deadline has passed",
				route->name);
			goto out;
		}
	}
	if (o->out != NULL) {
		snprintf(outdir, sizeof(outdir), "%s", o->out);
	} else {
		/* beside the inputs: the directory of the first one */
		const char *sl = strrchr(paths[0], '/');
		snprintf(outdir, sizeof(outdir), "%.*s", sl ? (int)(sl - paths[0]) : 1,
			sl ? paths[0] : ".");
	}
	if (siegel_mkdir_p(outdir, 0750) != 0) {
		rc = siegel_fail(&d, SIEGEL_E_IO, "cannot create %s", outdir);
		goto out;
	}
	c.outbox = outdir;

	rc = job_new(&j, (const char *const *)paths, n, &c, &d);
	if (rc)
		goto out;
	if (confirm(o, j) != 0) {
		struct siegel_diag d2 = { { 0 } };
		char ref[32];
		snprintf(ref, sizeof(ref), "%lld", (long long)j->id);
		if (job_abort_request(st, ref, &d2) != 0)
			fprintf(stderr, "siegel sign: %s\n", d2.msg);
		rc = siegel_fail(&d, SIEGEL_E_UNAUTHORIZED, "job %s not confirmed: nothing signed",
			j->number);
		goto out;
	}
	rc = job_run(j, &c, &d);
	if (rc == 0 && route != NULL)
		rc = job_route_finish(j, &d);
	if (rc == 0) {
		if (o->json) {
			json_t *out = json_pack("{s:I, s:s, s:s, s:I, s:i, s:s}", "id", (json_int_t)j->id,
				"number", j->number, "state", job_state_name(j->state), "signed",
				(json_int_t)j->n_signed, "pin_asks", (int)j->pin_asks, "outbox", outdir);
			cli_print_json(out);
		} else {
			printf("Job %s (id %lld): %s, %zu signed, published in %s\n", j->number,
				(long long)j->id, job_state_name(j->state), j->n_signed, outdir);
		}
	}
out:
	job_free(j);
	free(key_id);
	sk_X509_pop_free(cert, X509_free);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(trust, X509_free);
	csp_key_release(&ak);
	store_close(st);
	return rc ? fail(o, rc, &d) : 0;
}

/* siegel sign job recover --out DIR: job_recover with the data directory's
 * store and audit key. */
static int cmd_recover(const struct sign_opts *o)
{
	struct siegel_diag d = { { 0 } };
	if (o->n_pos != 0 || o->out == NULL) {
		fputs(sign_usage, stderr);
		return 2;
	}
	struct store *st = NULL;
	struct csp_key ak;
	memset(&ak, 0, sizeof(ak));
	int rc = open_store(&st, o, &d);
	if (rc == 0)
		rc = audit_key_open(&ak, o, &d);
	struct job_config c;
	memset(&c, 0, sizeof(c));
	c.outbox = o->out;
	c.store = st;
	c.audit_key = &ak;
	size_t n = 0;
	if (rc == 0)
		rc = job_recover(&c, &n, &d);
	if (rc == 0 && o->json)
		cli_print_json(json_pack("{s:s, s:I}", "outbox", o->out, "recovered", (json_int_t)n));
	else if (rc == 0)
		printf("%zu ended job%s cleaned up in %s\n", n, n == 1 ? "" : "s", o->out);
	csp_key_release(&ak);
	store_close(st);
	return rc ? fail(o, rc, &d) : 0;
}

static int cmd_job(const struct sign_opts *o, const char *op)
{
	struct siegel_diag d = { { 0 } };
	if (strcmp(op, "recover") == 0)
		return cmd_recover(o);
	if (o->n_pos != 1) {
		fputs(sign_usage, stderr);
		return 2;
	}
	struct store *st = NULL;
	int rc = open_store(&st, o, &d);
	if (rc)
		return fail(o, rc, &d);
	if (strcmp(op, "abort") == 0) {
		rc = job_abort_request(st, o->pos[0], &d);
		if (rc == 0 && !o->json)
			printf("abort of job %s requested\n", o->pos[0]);
	} else {
		struct job_status js;
		rc = job_status_get(&js, st, o->pos[0], &d);
		if (rc == 0 && o->json) {
			cli_print_json(json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:I, "
				"s:s, s:b}", "id", (json_int_t)js.id, "number", js.number, "route",
				js.route, "state", js.state, "documents", (json_int_t)js.n_docs, "signed",
				(json_int_t)js.n_signed, "pin_asks", (json_int_t)js.pin_asks, "reason",
				js.reason, "created_at", (json_int_t)js.created_at, "finished_at",
				(json_int_t)js.finished_at, "outbox", js.outbox, "process_ended",
				js.ended));
		} else if (rc == 0) {
			printf("job %lld  number %s  route %s  state %s  documents %lld  signed %lld  "
				"PIN entries %lld%s%s\n", (long long)js.id, js.number, js.route, js.state,
				(long long)js.n_docs, (long long)js.n_signed, (long long)js.pin_asks,
				js.reason[0] ? "  reason: " : "", js.reason);
			if (js.ended)
				printf("its process has ended without finishing it; clean up with: "
					"siegel sign job recover --out %s\n", js.outbox);
		}
	}
	store_close(st);
	return rc ? fail(o, rc, &d) : 0;
}

/* siegel sign audit verify: job_audit_verify with the public half of the
 * data directory's audit key. */
static int cmd_audit(const struct sign_opts *o)
{
	struct siegel_diag d = { { 0 } };
	struct job_audit_check c;
	memset(&c, 0, sizeof(c));
	if (o->n_pos != 0) {
		fputs(sign_usage, stderr);
		return 2;
	}
	if (o->head != NULL) {
		const char *colon = strchr(o->head, ':');
		long long seq = 0;
		char num[24];
		size_t nl = colon ? (size_t)(colon - o->head) : 0;
		if (colon == NULL || nl == 0 || nl >= sizeof(num)) {
			fprintf(stderr, "siegel sign: --head wants SEQ:HASH (as printed by audit verify)\n");
			return 2;
		}
		memcpy(num, o->head, nl);
		num[nl] = 0;
		if (siegel_strtoll(&seq, num, 1, INT64_MAX) != 0 || strlen(colon + 1) != 64 ||
		    siegel_hex_decode(c.want_hash, sizeof(c.want_hash), colon + 1) != 0) {
			fprintf(stderr, "siegel sign: --head wants SEQ:HASH (as printed by audit verify)\n");
			return 2;
		}
		c.want_seq = (uint64_t)seq;
	}
	char path[4096];
	if (siegel_path_join(path, sizeof(path), o->data, "sign-audit-key.pem") != 0)
		return fail(o, siegel_fail(&d, SIEGEL_E_LIMIT, "data directory path too long"), &d);
	FILE *f = fopen(path, "r");
	EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f != NULL)
		fclose(f);
	if (key == NULL)
		return fail(o, siegel_fail(&d, SIEGEL_E_NOTFOUND, "no audit key %s", path), &d);
	struct store *st = NULL;
	int rc = open_store(&st, o, &d);
	if (rc == 0)
		rc = job_audit_verify(&c, st, key, &d);
	store_close(st);
	EVP_PKEY_free(key);
	if (rc)
		return fail(o, rc, &d);
	char hex[65];
	siegel_hex_encode(hex, c.head, sizeof(c.head));
	if (o->json)
		cli_print_json(json_pack("{s:s, s:I, s:s, s:b}", "result", "ok", "entries",
			(json_int_t)c.entries, "head", hex, "recorded_head_checked", c.want_seq != 0));
	else
		printf("audit trail ok: %zu entries, sequence gapless, hash chain and signatures "
			"verified%s\nhead %zu:%s\n", c.entries,
			c.want_seq ? ", recorded head still there" : "", c.entries, hex);
	return 0;
}

int cmd_sign(int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		fputs(sign_usage, argc < 1 ? stderr : stdout);
		return argc < 1 ? 2 : 0;
	}
	const char *what = argv[0];
	int skip = 1;
	if (strcmp(what, "job") == 0 || strcmp(what, "route") == 0 || strcmp(what, "audit") == 0) {
		if (argc < 2) {
			fputs(sign_usage, stderr);
			return 2;
		}
		skip = 2;
	}
	struct sign_opts o;
	int prc = parse(&o, argc - skip, argv + skip);
	if (prc)
		return prc;
	if (strcmp(what, "audit") == 0) {
		if (strcmp(argv[1], "verify") != 0) {
			fputs(sign_usage, stderr);
			return 2;
		}
		return cmd_audit(&o);
	}
	if (strcmp(what, "job") == 0) {
		if (strcmp(argv[1], "status") != 0 && strcmp(argv[1], "abort") != 0 &&
		    strcmp(argv[1], "recover") != 0) {
			fputs(sign_usage, stderr);
			return 2;
		}
		return cmd_job(&o, argv[1]);
	}
	if (strcmp(what, "route") == 0) {
		if (strcmp(argv[1], "run") != 0 || o.n_pos != 1 || o.config == NULL) {
			fputs(sign_usage, stderr);
			return 2;
		}
		struct job_route *routes = calloc(JOB_ROUTE_MAX, sizeof(*routes));
		size_t nr = 0;
		struct siegel_diag d = { { 0 } };
		int rc = routes ? job_routes_load(routes, JOB_ROUTE_MAX, &nr, o.config, &d) :
				  SIEGEL_E_NOMEM;
		const struct job_route *r = NULL;
		for (size_t i = 0; rc == 0 && i < nr; i++)
			if (strcmp(routes[i].name, o.pos[0]) == 0)
				r = &routes[i];
		if (rc == 0 && r == NULL)
			rc = siegel_fail(&d, SIEGEL_E_NOTFOUND, "%s: no [route %s]", o.config, o.pos[0]);
		char **paths = NULL;
		size_t n = 0;
		if (rc == 0)
			rc = job_route_scan(&paths, &n, r, &d);
		if (rc == 0 && n == 0)
			rc = siegel_fail(&d, SIEGEL_E_NO_DATA, "route %s: the inbox %s has nothing to sign",
				r->name, r->inbox);
		if (rc) {
			free(routes);
			return fail(&o, rc, &d);
		}
		/* the route's data, command-line options where the route has none */
		o.module = r->module[0] ? r->module : o.module;
		o.token = r->token;
		o.key = r->key_label;
		o.cert = r->cert;
		o.chain = r->chain[0] ? r->chain : o.chain;
		o.trust = r->trust;
		o.out = r->outbox;
		o.infix = r->infix;
		o.per_auth = r->per_auth;
		o.format = strcmp(r->format, "pdf") == 0 ? "pades" : "auto";
		o.tsa = r->tsa_url[0] ? r->tsa_url : o.tsa;
		int ret = run(&o, paths, n, r->name, r);
		for (size_t i = 0; i < n; i++)
			free(paths[i]);
		free(paths);
		free(routes);
		return ret;
	}
	if (strcmp(what, "file") != 0 && strcmp(what, "batch") != 0) {
		fprintf(stderr, "siegel sign: unknown subcommand %s\n%s", what, sign_usage);
		return 2;
	}
	if (o.n_pos == 0) {
		fputs(sign_usage, stderr);
		return 2;
	}
	char **paths = NULL;
	size_t n = 0;
	struct siegel_diag d = { { 0 } };
	int rc = collect(&paths, &n, &o, strcmp(what, "batch") == 0, &d);
	if (rc == 0 && n == 0)
		rc = siegel_fail(&d, SIEGEL_E_NO_DATA, "no files to sign");
	int ret = rc ? fail(&o, rc, &d) : run(&o, paths, n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return ret;
}
