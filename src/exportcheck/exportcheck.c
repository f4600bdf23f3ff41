/* exportcheck: the export TAR checker (see exportcheck.h). */
#include "exportcheck/exportcheck.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "cert/cert.h"

#define BATCH_JOBS 512
#define BATCH_ARENA ((size_t)4 << 20)

enum { STEP_START = 1, STEP_UPDATE = 2, STEP_FINISH = 3 };

struct exportcheck_txrec {
	uint64_t tx, counter;
	int step;
};

struct job {
	struct logmsg m;
	size_t off, len;
	int key;
	const EVP_PKEY *pkey;     /* NULL = unknown key */
	int result;               /* 0 valid, else invalid */
	char member[TAR_MAX_NAME + 1];
};

struct ctx {
	struct exportcheck_report *r;
	const struct exportcheck_opts *o;
	int pass;
	struct job *jobs;
	size_t n_jobs;
	uint8_t *arena;
	size_t arena_len, arena_cap;
	int hook_rc;
	struct siegel_diag hook_diag;
};

/* ------------------------------------------------------------------ */
/* findings                                                             */

static void add_problem(struct exportcheck_problem **v, size_t *n, uint64_t *omitted,
	const char *member, const char *fmt, va_list ap)
{
	if (*n >= EXPORTCHECK_MAX_PROBLEMS) {
		(*omitted)++;
		return;
	}
	if (*v == NULL) {
		*v = calloc(EXPORTCHECK_MAX_PROBLEMS, sizeof(**v));
		if (*v == NULL) {
			(*omitted)++;
			return;
		}
	}
	struct exportcheck_problem *p = &(*v)[(*n)++];
	snprintf(p->member, sizeof(p->member), "%s", member ? member : "");
	vsnprintf(p->problem, sizeof(p->problem), fmt, ap);
}

static void __attribute__((format(printf, 3, 4)))
err_at(struct exportcheck_report *r, const char *member, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_problem(&r->errors, &r->n_errors, &r->errors_omitted, member, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
warn_at(struct exportcheck_report *r, const char *member, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_problem(&r->warnings, &r->n_warnings, &r->warnings_omitted, member, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* small sets                                                           */

static void set_add(struct exportcheck_strset *s, const char *p, size_t n)
{
	for (size_t i = s->n; i > 0; i--)
		if (strlen(s->v[i - 1]) == n && memcmp(s->v[i - 1], p, n) == 0)
			return;
	if (s->n >= EXPORTCHECK_MAX_SET) {
		s->overflow = 1;
		return;
	}
	if ((s->n & (s->n - 1)) == 0 || s->v == NULL) {
		size_t cap = s->n ? 2 * s->n : 8;
		char **nv = realloc(s->v, cap * sizeof(*nv));
		if (nv == NULL) {
			s->overflow = 1;
			return;
		}
		s->v = nv;
	}
	char *c = malloc(n + 1);
	if (c == NULL) {
		s->overflow = 1;
		return;
	}
	memcpy(c, p, n);
	c[n] = 0;
	s->v[s->n++] = c;
}

static void set_adds(struct exportcheck_strset *s, const char *p)
{
	set_add(s, p, strlen(p));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void set_sort(struct exportcheck_strset *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(char *), cmp_str);
}

static void set_free(struct exportcheck_strset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------ */
/* member classes                                                       */

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

static int is_log_name(const char *base)
{
	return ends_with(base, ".log");
}

/* <stem>_X509.<cer|crt|pem|der> (any case) or v1.0.1 <stem>_CVC.der; stem_len_out. */
static int is_cert_name(const char *base, size_t *stem_len_out)
{
	const char *u = NULL;
	for (const char *p = base; (p = strchr(p, '_')) != NULL; p++)
		u = p;
	if (u == NULL)
		return 0;
	static const char *const exts[] = { "cer", "crt", "pem", "der" };
	const char *dot = strchr(u, '.');
	if (dot == NULL)
		return 0;
	size_t tl = (size_t)(dot - u);
	int x509 = tl == 5 && strncasecmp(u, "_X509", 5) == 0;
	int cvc = tl == 4 && strncasecmp(u, "_CVC", 4) == 0;
	if (!x509 && !cvc)
		return 0;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (strcasecmp(dot + 1, exts[i]) == 0) {
			*stem_len_out = (size_t)(u - base);
			return 1;
		}
	return 0;
}

static const char *type_name(char t)
{
	switch (t) {
	case '1': return "hard link";
	case '2': return "symlink";
	case '3': return "character device";
	case '4': return "block device";
	case '5': return "directory";
	case '6': return "FIFO";
	case '7': return "contiguous file";
	case 'x': case 'g': return "pax extended header";
	case 'L': case 'K': return "GNU long name";
	default: return "non-regular type";
	}
}

/* ------------------------------------------------------------------ */
/* info.csv                                                             */

/* One CSV line into up to max fields: quoted (RFC 4180 "" escapes) or bare
 * (surrounding spaces trimmed). Returns the number of fields or -1. */
static int csv_fields(const char *s, size_t n, char out[][256], int max, int *quoted_all,
	int *bare_values)
{
	int k = 0;
	size_t i = 0;
	for (;;) {
		if (k >= max)
			return -1;
		while (i < n && s[i] == ' ')
			i++;
		size_t o = 0;
		if (i < n && s[i] == '"') {
			i++;
			for (;;) {
				if (i >= n)
					return -1;
				if (s[i] == '"') {
					if (i + 1 < n && s[i + 1] == '"') {
						if (o + 1 < 256)
							out[k][o++] = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				if (o + 1 < 256)
					out[k][o++] = s[i];
				i++;
			}
			while (i < n && s[i] == ' ')
				i++;
		} else {
			size_t st = i;
			while (i < n && s[i] != ',')
				i++;
			size_t e = i;
			while (e > st && s[e - 1] == ' ')
				e--;
			if (e - st > 0) {
				if (k % 2 == 1)
					*bare_values = 1;
				*quoted_all = 0;
			}
			for (size_t j = st; j < e && o + 1 < 256; j++)
				out[k][o++] = s[j];
		}
		out[k][o] = 0;
		k++;
		if (i >= n)
			return k;
		if (s[i] != ',')
			return -1;
		i++;
	}
}

int exportcheck_info_csv_parse(const char *text, size_t len, char *desc, size_t desc_cap,
	char *manufacturer, size_t man_cap, char *version, size_t ver_cap, int *quoted_out)
{
	int found_desc = 0, quoted = 1, bare = 0;
	desc[0] = manufacturer[0] = version[0] = 0;
	size_t i = 0;
	while (i < len) {
		size_t e = i;
		while (e < len && text[e] != '\n')
			e++;
		size_t le = e;
		if (le > i && text[le - 1] == '\r')
			le--;
		if (le > i) {
			char (*f)[256] = calloc(16, 256);
			if (f == NULL)
				return SIEGEL_E_NOMEM;
			int q = 1;
			int nf = csv_fields(text + i, le - i, f, 16, &q, &bare);
			if (nf < 0) {
				free(f);
				return SIEGEL_E_PARSE;
			}
			for (int k = 0; k + 1 < nf; k += 2) {
				if (strcmp(f[k], "description:") == 0) {
					snprintf(desc, desc_cap, "%s", f[k + 1]);
					found_desc = 1;
				} else if (strcmp(f[k], "manufacturer:") == 0 && !manufacturer[0]) {
					snprintf(manufacturer, man_cap, "%s", f[k + 1]);
				} else if (strcmp(f[k], "version:") == 0 && !version[0]) {
					snprintf(version, ver_cap, "%s", f[k + 1]);
				}
			}
			free(f);
		}
		i = e + 1;
	}
	(void)quoted;
	if (quoted_out)
		*quoted_out = !bare;
	return found_desc ? 0 : SIEGEL_E_PARSE;
}

/* ------------------------------------------------------------------ */
/* pass 1: certificates and info.csv                                    */

static int want_pass1(void *vctx, const struct tar_member *m)
{
	(void)vctx;
	const char *b = tar_basename(m->name);
	size_t sl;
	return strcmp(b, "info.csv") == 0 || is_cert_name(b, &sl);
}

static int pass1_member(void *vctx, const struct tar_member *m, struct siegel_diag *d)
{
	(void)d;
	struct ctx *c = vctx;
	struct exportcheck_report *r = c->r;
	if (m->type != '0' || m->data == NULL)
		return 0;
	const char *b = tar_basename(m->name);
	size_t stem = 0;
	if (strcmp(b, "info.csv") == 0) {
		if (r->info_csv != NULL) {
			err_at(r, m->name, "a second info.csv");
			return 0;
		}
		if (m->len > EXPORTCHECK_MAX_INFO_CSV) {
			err_at(r, m->name, "info.csv: %zu bytes, more than %d", m->len, EXPORTCHECK_MAX_INFO_CSV);
			return 0;
		}
		r->info_csv = malloc(m->len + 1);
		if (r->info_csv == NULL)
			return SIEGEL_E_NOMEM;
		memcpy(r->info_csv, m->data, m->len);
		r->info_csv[m->len] = 0;
		r->info_csv_len = m->len;
		return 0;
	}
	if (!is_cert_name(b, &stem))
		return 0;
	struct siegel_diag cd = { { 0 } };
	X509 *x = NULL;
	if (cert_parse(&x, m->data, m->len, &cd) != 0) {
		err_at(r, m->name, "not a certificate: %s", cd.msg);
		return 0;
	}
	if (r->n_certs >= EXPORTCHECK_MAX_CERTS) {
		X509_free(x);
		err_at(r, m->name, "more than %d certificates", EXPORTCHECK_MAX_CERTS);
		return 0;
	}
	struct exportcheck_cert *ce = &r->certs[r->n_certs];
	memset(ce, 0, sizeof(*ce));
	snprintf(ce->member, sizeof(ce->member), "%s", m->name);
	ce->x = x;
	r->n_certs++;
	r->certificates++;
	if (cert_key_hash_hex(ce->key_hash, x) != 0) {
		ce->key_hash[0] = 0;
		ce->curve = "unknown";
		err_at(r, m->name, "certificate key is not an EC key on a supported curve");
	} else {
		uint8_t pub[ALG_MAX_PUB];
		size_t pl = 0;
		int nid = 0;
		const struct alg_info *ai = NULL;
		if (alg_point_from_pkey(pub, &pl, &nid, X509_get0_pubkey(x)) == 0)
			ai = alg_by_curve_nid(nid);
		ce->curve = ai ? ai->curve_name : "unknown";
	}
	ce->self_signed = X509_check_issued(x, x) == X509_V_OK;
	if (ce->key_hash[0] && (stem != 64 || strncasecmp(b, ce->key_hash, 64) != 0)) {
		ce->name_mismatch = 1;
		set_adds(&r->certificate_name_mismatches, m->name);
		err_at(r, m->name, "certificate file name != SHA-256 of its public key (%s)", ce->key_hash);
	}
	ERR_clear_error();
	return 0;
}

/* ------------------------------------------------------------------ */
/* file names                                                           */

struct fname {
	char fmt[8];
	const char *time;
	size_t time_len;
	uint64_t sig;
	char logtype;            /* 'T' 'S' 'A' */
	uint64_t tx;
	const char *op;
	size_t op_len;
	const char *client;
	size_t client_len;
};

static int parse_u64(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	if (s >= end || !isdigit((unsigned char)*s))
		return -1;
	while (s < end && isdigit((unsigned char)*s)) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		s++;
	}
	*p = s;
	*out = v;
	return 0;
}

/* s = a name without ".log" and without _Fc-<n> */
static int fname_parse(struct fname *f, const char *s, size_t n)
{
	memset(f, 0, sizeof(*f));
	const char *end = s + n;
	const char *u = memchr(s, '_', n);
	if (u == NULL || u - s >= (long)sizeof(f->fmt))
		return -1;
	memcpy(f->fmt, s, (size_t)(u - s));
	const char *sig = NULL;
	for (const char *p = u + 1; p + 5 <= end; p++)
		if (memcmp(p, "_Sig-", 5) == 0) {
			sig = p;
			break;
		}
	if (sig == NULL)
		return -1;
	f->time = u + 1;
	f->time_len = (size_t)(sig - f->time);
	const char *p = sig + 5;
	if (parse_u64(&p, end, &f->sig) != 0)
		return -1;
	if (end - p >= 12 && memcmp(p, "_Log-Tra_No-", 12) == 0) {
		f->logtype = 'T';
		p += 12;
		if (parse_u64(&p, end, &f->tx) != 0 || p >= end || *p != '_')
			return -1;
		p++;
		const char *cl = NULL;
		for (const char *q = p; q + 8 <= end; q++)
			if (memcmp(q, "_Client-", 8) == 0) {
				cl = q;
				break;
			}
		if (cl == NULL)
			return -1;
		f->op = p;
		f->op_len = (size_t)(cl - p);
		f->client = cl + 8;
		f->client_len = (size_t)(end - f->client);
		return 0;
	}
	if (end - p >= 9 && memcmp(p, "_Log-Sys_", 9) == 0) {
		f->logtype = 'S';
		f->op = p + 9;
		f->op_len = (size_t)(end - f->op);
		return f->op_len ? 0 : -1;
	}
	if (end - p == 8 && memcmp(p, "_Log-Aud", 8) == 0) {
		f->logtype = 'A';
		return 0;
	}
	return -1;
}

/* length of s without a trailing _Fc-<digits> */
static size_t strip_fc(const char *s, size_t n)
{
	size_t i = n;
	while (i > 0 && isdigit((unsigned char)s[i - 1]))
		i--;
	if (i < n && i >= 4 && memcmp(s + i - 4, "_Fc-", 4) == 0)
		return i - 4;
	return n;
}

static const char *const field_names[] = { "format", "time", "counter", "type", "transaction",
	"operation", "client" };

/* Equal byte strings; either pointer may be NULL when its length is 0. */
static int same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void check_file_name(struct exportcheck_report *r, const char *member, const struct logmsg *m)
{
	const char *base = tar_basename(member);
	struct siegel_buf e;
	siegel_buf_init(&e);
	if (logmsg_file_name(&e, m) != 0 || e.len < 4) {
		siegel_buf_free(&e);
		err_at(r, member, "no TR-03151 file name can be derived from the content");
		return;
	}
	size_t el = e.len - 4; /* without .log */
	const char *es = (const char *)e.data;
	size_t bl = strlen(base);
	if (bl < 4 || !ends_with(base, ".log")) {
		siegel_buf_free(&e);
		return;
	}
	bl -= 4;
	if ((bl == el && memcmp(base, es, el) == 0) ||
	    (bl > el && memcmp(base, es, el) == 0 && strip_fc(base, bl) == el)) {
		siegel_buf_free(&e);
		return;
	}
	struct fname fa, fe;
	if (fname_parse(&fa, base, strip_fc(base, bl)) != 0 || fname_parse(&fe, es, el) != 0) {
		err_at(r, member, "file name does not follow TR-03151 5.1.2 (from the content: %s)", es);
		siegel_buf_free(&e);
		return;
	}
	unsigned fields = 0;
	if (strcmp(fa.fmt, fe.fmt) != 0)
		fields |= EXPORTCHECK_F_FORMAT;
	if (!same_bytes(fa.time, fa.time_len, fe.time, fe.time_len))
		fields |= EXPORTCHECK_F_TIME;
	if (fa.sig != fe.sig)
		fields |= EXPORTCHECK_F_COUNTER;
	if (fa.logtype != fe.logtype)
		fields |= EXPORTCHECK_F_LOGTYPE;
	else {
		if (fa.tx != fe.tx)
			fields |= EXPORTCHECK_F_TX;
		if (!same_bytes(fa.op, fa.op_len, fe.op, fe.op_len))
			fields |= EXPORTCHECK_F_OPERATION;
		if (!same_bytes(fa.client, fa.client_len, fe.client, fe.client_len))
			fields |= EXPORTCHECK_F_CLIENT;
	}
	struct exportcheck_fname *nv = realloc(r->fname_mismatches,
		(r->n_fname_mismatches + 1) * sizeof(*nv));
	if (nv != NULL && r->n_fname_mismatches < EXPORTCHECK_MAX_PROBLEMS) {
		r->fname_mismatches = nv;
		snprintf(nv[r->n_fname_mismatches].name, sizeof(nv->name), "%s", member);
		nv[r->n_fname_mismatches].fields = fields;
		r->n_fname_mismatches++;
	} else if (nv != NULL) {
		r->fname_mismatches = nv;
	}
	if (fields == EXPORTCHECK_F_COUNTER) {
		err_at(r, member, "file name counter %" PRIu64 " != signatureCounter %" PRIu64, fa.sig,
			fe.sig);
	} else {
		char list[128] = "";
		for (size_t i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++)
			if (fields & (1u << i)) {
				if (list[0])
					strcat(list, ", ");
				strcat(list, field_names[i]);
			}
		err_at(r, member, "file name does not match the content (%s); from the content: %s.log",
			list[0] ? list : "form", es);
	}
	siegel_buf_free(&e);
}

/* ------------------------------------------------------------------ */
/* pass 2: logs                                                         */

static int find_key(struct exportcheck_report *r, const uint8_t *serial, size_t len,
	const char *member)
{
	if (len != ALG_SERIAL_LEN)
		return -1;
	for (size_t i = 0; i < r->n_keys; i++)
		if (memcmp(r->keys[i].serial, serial, ALG_SERIAL_LEN) == 0)
			return (int)i;
	if (r->n_keys >= EXPORTCHECK_MAX_KEYS)
		return -2;
	struct exportcheck_key *k = &r->keys[r->n_keys];
	memset(k, 0, sizeof(*k));
	memcpy(k->serial, serial, ALG_SERIAL_LEN);
	siegel_hex_encode(k->hex, serial, ALG_SERIAL_LEN);
	k->cert = -1;
	for (size_t c = 0; c < r->n_certs; c++)
		if (strcmp(r->certs[c].key_hash, k->hex) == 0) {
			k->cert = (int)c;
			break;
		}
	snprintf(k->first_member, sizeof(k->first_member), "%s", member);
	set_adds(&r->serial_numbers, k->hex);
	if (k->cert >= 0)
		set_adds(&r->curves, r->certs[k->cert].curve);
	return (int)r->n_keys++;
}

static int push_counter(struct exportcheck_key *k, uint64_t c)
{
	if (k->n_counters == k->cap_counters) {
		size_t cap = k->cap_counters ? 2 * k->cap_counters : 256;
		uint64_t *nv = realloc(k->counters, cap * sizeof(*nv));
		if (nv == NULL)
			return SIEGEL_E_NOMEM;
		k->counters = nv;
		k->cap_counters = cap;
	}
	k->counters[k->n_counters++] = c;
	return 0;
}

static int push_tx(struct exportcheck_key *k, uint64_t tx, uint64_t counter, int step)
{
	if (k->n_tx == k->cap_tx) {
		size_t cap = k->cap_tx ? 2 * k->cap_tx : 256;
		struct exportcheck_txrec *nv = realloc(k->tx, cap * sizeof(*nv));
		if (nv == NULL)
			return SIEGEL_E_NOMEM;
		k->tx = nv;
		k->cap_tx = cap;
	}
	k->tx[k->n_tx].tx = tx;
	k->tx[k->n_tx].counter = counter;
	k->tx[k->n_tx].step = step;
	k->n_tx++;
	return 0;
}

static int tx_step(const struct logmsg *m)
{
	const char *op = (const char *)m->operation_type.p;
	size_t n = m->operation_type.len;
	if (n < 5)
		return 0;
	if (n == 16 && strncasecmp(op, "StartTransaction", 16) == 0)
		return STEP_START;
	if (n == 17 && strncasecmp(op, "UpdateTransaction", 17) == 0)
		return STEP_UPDATE;
	if (n == 17 && strncasecmp(op, "FinishTransaction", 17) == 0)
		return STEP_FINISH;
	return 0;
}

struct worker {
	struct ctx *c;
	size_t first, step;
};

static void *verify_worker(void *arg)
{
	struct worker *w = arg;
	for (size_t i = w->first; i < w->c->n_jobs; i += w->step) {
		struct job *j = &w->c->jobs[i];
		if (j->pkey != NULL)
			j->result = logmsg_verify(&j->m, j->pkey, 0);
	}
	return NULL;
}

static int flush_jobs(struct ctx *c)
{
	struct exportcheck_report *r = c->r;
	int threads = c->o && c->o->threads > 1 ? c->o->threads : 1;
	if (threads > EXPORTCHECK_MAX_THREADS)
		threads = EXPORTCHECK_MAX_THREADS;
	if ((size_t)threads > c->n_jobs)
		threads = c->n_jobs > 0 ? (int)c->n_jobs : 1;
	struct worker w[EXPORTCHECK_MAX_THREADS];
	pthread_t th[EXPORTCHECK_MAX_THREADS];
	int started = 0;
	for (int i = 1; i < threads; i++) {
		w[i].c = c;
		w[i].first = (size_t)i;
		w[i].step = (size_t)threads;
		if (pthread_create(&th[i], NULL, verify_worker, &w[i]) != 0)
			break;
		started = i;
	}
	w[0].c = c;
	w[0].first = 0;
	w[0].step = (size_t)(started + 1);
	if (started + 1 != threads) {
		/* fewer threads than asked: the ones running take stride `threads`;
		 * finish the rest here. */
		for (int i = 1; i <= started; i++)
			pthread_join(th[i], NULL);
		started = 0;
		w[0].step = 1;
		for (size_t i = 0; i < c->n_jobs; i++)
			c->jobs[i].result = c->jobs[i].pkey ? logmsg_verify(&c->jobs[i].m, c->jobs[i].pkey, 0) : 0;
	} else {
		verify_worker(&w[0]);
		for (int i = 1; i <= started; i++)
			pthread_join(th[i], NULL);
	}
	int rc = 0;
	for (size_t i = 0; i < c->n_jobs; i++) {
		struct job *j = &c->jobs[i];
		struct exportcheck_key *k = &r->keys[j->key];
		int valid = 0;
		if (j->pkey == NULL) {
			r->unknown_key++;
		} else if (j->result == 0) {
			valid = 1;
			r->valid_signatures++;
			k->valid++;
		} else {
			r->invalid_signatures++;
			k->invalid++;
			err_at(r, j->member, "invalid signature (signatureCounter %" PRIu64 ")",
				j->m.signature_counter);
		}
		if (rc == 0 && c->hook_rc == 0 && c->o && c->o->on_log) {
			rc = c->o->on_log(c->o->on_log_ctx, j->member, &j->m, c->arena + j->off, j->len,
				valid, &c->hook_diag);
			c->hook_rc = rc;
		}
		logmsg_clear(&j->m);
	}
	ERR_clear_error();
	c->n_jobs = 0;
	c->arena_len = 0;
	return rc;
}

static int want_pass2(void *vctx, const struct tar_member *m)
{
	(void)vctx;
	return is_log_name(tar_basename(m->name));
}

static int log_member(struct ctx *c, const struct tar_member *tm)
{
	struct exportcheck_report *r = c->r;
	r->messages++;
	if (tm->len > LOGMSG_MAX_SIZE) {
		r->parse_errors++;
		err_at(r, tm->name, "log message of %zu bytes over the limit", tm->len);
		return 0;
	}
	if (c->n_jobs == BATCH_JOBS || c->arena_len + tm->len > c->arena_cap) {
		int rc = flush_jobs(c);
		if (rc)
			return rc;
	}
	if (tm->len > c->arena_cap) {
		uint8_t *na = realloc(c->arena, tm->len);
		if (na == NULL)
			return SIEGEL_E_NOMEM;
		c->arena = na;
		c->arena_cap = tm->len;
	}
	struct job *j = &c->jobs[c->n_jobs];
	memset(j, 0, sizeof(*j));
	j->off = c->arena_len;
	j->len = tm->len;
	memcpy(c->arena + j->off, tm->data, tm->len);
	struct siegel_diag pd = { { 0 } };
	if (logmsg_parse(&j->m, c->arena + j->off, j->len, &pd) != 0) {
		r->parse_errors++;
		err_at(r, tm->name, "not a TR-03151 log message: %s", pd.msg);
		logmsg_clear(&j->m);
		return 0;
	}
	c->arena_len += tm->len;
	struct logmsg *m = &j->m;
	snprintf(j->member, sizeof(j->member), "%s", tm->name);
	switch (m->kind) {
	case LOGMSG_TRANSACTION:
		r->transaction_logs++;
		set_add(&r->client_ids, (const char *)m->client_id.p, m->client_id.len);
		break;
	case LOGMSG_SYSTEM:
		r->system_logs++;
		break;
	case LOGMSG_AUDIT:
		r->audit_logs++;
		break;
	}
	set_adds(&r->time_formats, logmsg_time_format_name(m->log_time.fmt));
	if (m->process_data_indefinite)
		r->indefinite_length_logs++;
	const char *an = m->sig_alg_name ? m->sig_alg_name : "unknown";
	size_t ai = 0;
	while (ai < r->n_sig_algs && strcmp(r->sig_algs[ai].name, an) != 0)
		ai++;
	if (ai == r->n_sig_algs && ai < sizeof(r->sig_algs) / sizeof(r->sig_algs[0])) {
		r->sig_algs[ai].name = an; /* static strings of alg */
		r->sig_algs[ai].n = 0;
		r->n_sig_algs++;
	}
	if (ai < r->n_sig_algs)
		r->sig_algs[ai].n++;
	if (!r->have_counters || m->signature_counter < r->counter_min)
		r->counter_min = m->signature_counter;
	if (!r->have_counters || m->signature_counter > r->counter_max)
		r->counter_max = m->signature_counter;
	r->have_counters = 1;
	check_file_name(r, tm->name, m);

	int ki = find_key(r, m->serial_number.p, m->serial_number.len, tm->name);
	if (ki < 0) {
		/* should not happen: logmsg_parse checks the serial's length */
		err_at(r, tm->name, "too many distinct serialNumbers");
		logmsg_clear(m);
		return 0;
	}
	struct exportcheck_key *k = &r->keys[ki];
	k->logs++;
	if (k->logs == 1 || m->signature_counter < k->counter_min)
		k->counter_min = m->signature_counter;
	if (k->logs == 1 || m->signature_counter > k->counter_max)
		k->counter_max = m->signature_counter;
	if (m->log_time.unix_sec > k->time_max)
		k->time_max = m->log_time.unix_sec;
	int rc = push_counter(k, m->signature_counter);
	if (rc == 0 && m->kind == LOGMSG_TRANSACTION)
		rc = push_tx(k, m->transaction_number, m->signature_counter, tx_step(m));
	if (rc) {
		logmsg_clear(m);
		return rc;
	}
	j->key = ki;
	j->pkey = k->cert >= 0 ? X509_get0_pubkey(r->certs[k->cert].x) : NULL;
	c->n_jobs++;
	return 0;
}

static int pass2_member(void *vctx, const struct tar_member *m, struct siegel_diag *d)
{
	(void)d;
	struct ctx *c = vctx;
	struct exportcheck_report *r = c->r;
	r->tar_members++;
	const char *b = tar_basename(m->name);
	if (m->type != '0') {
		r->tar_skipped_types[(unsigned char)m->type]++;
		err_at(r, m->name, "non-regular member (%s, typeflag '%c'): TR-03151 App. C allows "
			"regular files only", type_name(m->type), m->type);
		return 0;
	}
	if (m->unsafe != NULL)
		err_at(r, m->name, "unsafe member name (%s): TR-03151 App. C wants all files in the root",
			m->unsafe);
	size_t stem;
	if (is_log_name(b))
		return log_member(c, m);
	if (strcmp(b, "info.csv") == 0 || is_cert_name(b, &stem))
		return 0;
	err_at(r, m->name, "unexpected file (TR-03151 5.1: only info.csv, certificates and .log files)");
	return 0;
}

/* ------------------------------------------------------------------ */
/* after the logs                                                       */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_tx(const void *a, const void *b)
{
	const struct exportcheck_txrec *x = a, *y = b;
	if (x->tx != y->tx)
		return x->tx < y->tx ? -1 : 1;
	return x->counter < y->counter ? -1 : x->counter > y->counter;
}

static const char *step_name(int s)
{
	return s == STEP_START ? "Start" : s == STEP_UPDATE ? "Update" : s == STEP_FINISH ? "Finish" : "?";
}

static void check_counters(struct exportcheck_report *r, int ki)
{
	struct exportcheck_key *k = &r->keys[ki];
	if (k->n_counters > 1)
		qsort(k->counters, k->n_counters, sizeof(uint64_t), cmp_u64);
	for (size_t i = 1; i < k->n_counters; i++) {
		uint64_t a = k->counters[i - 1], b = k->counters[i];
		if (a == b) {
			r->duplicate_counters++;
			err_at(r, "", "signatureCounter %" PRIu64 " appears more than once (key %.16s...)", b,
				k->hex);
		} else if (b > a + 1) {
			struct exportcheck_gap *ng = realloc(r->gaps, (r->n_gaps + 1) * sizeof(*ng));
			if (ng != NULL) {
				r->gaps = ng;
				ng[r->n_gaps].key = ki;
				ng[r->n_gaps].first = a + 1;
				ng[r->n_gaps].last = b - 1;
				r->n_gaps++;
			}
			warn_at(r, "", "signature counter gap [%" PRIu64 ",%" PRIu64 "] (key %.16s...): "
				"logs missing, or a partial export", a + 1, b - 1, k->hex);
		}
	}
}

static void check_transactions(struct exportcheck_report *r, int ki)
{
	struct exportcheck_key *k = &r->keys[ki];
	if (k->n_tx > 1)
		qsort(k->tx, k->n_tx, sizeof(*k->tx), cmp_tx);
	size_t i = 0;
	while (i < k->n_tx) {
		size_t e = i;
		while (e < k->n_tx && k->tx[e].tx == k->tx[i].tx)
			e++;
		int starts = 0, finishes = 0;
		uint64_t start_c = 0, finish_c = 0;
		for (size_t j = i; j < e; j++) {
			if (k->tx[j].step == STEP_START) {
				if (starts++ == 0)
					start_c = k->tx[j].counter;
			} else if (k->tx[j].step == STEP_FINISH) {
				if (finishes++ == 0)
					finish_c = k->tx[j].counter;
			}
		}
		uint64_t txn = k->tx[i].tx;
		if (starts > 1)
			err_at(r, "", "transaction %" PRIu64 ": %d Start logs", txn, starts);
		if (finishes > 1)
			err_at(r, "", "transaction %" PRIu64 ": %d Finish logs", txn, finishes);
		for (size_t j = i; j < e; j++) {
			const struct exportcheck_txrec *x = &k->tx[j];
			if (starts && x->step != STEP_START && x->counter < start_c)
				err_at(r, "", "transaction %" PRIu64 ": %s (signatureCounter %" PRIu64
					") before Start (%" PRIu64 ")", txn, step_name(x->step), x->counter, start_c);
			if (finishes && x->step != STEP_FINISH && x->counter > finish_c)
				err_at(r, "", "transaction %" PRIu64 ": %s (signatureCounter %" PRIu64
					") after Finish (%" PRIu64 ")", txn, step_name(x->step), x->counter, finish_c);
		}
		i = e;
	}
}

static enum exportcheck_chain verify_chain(struct exportcheck_report *r,
	struct exportcheck_key *k, X509 *trust, int use_trust, char *why, size_t why_cap)
{
	X509 *leaf = r->certs[k->cert].x;
	X509_STORE *store = X509_STORE_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	enum exportcheck_chain res = EXPORTCHECK_CHAIN_BROKEN;
	int anchors = 0;
	if (store == NULL || untrusted == NULL || ctx == NULL) {
		snprintf(why, why_cap, "out of memory");
		goto out;
	}
	if (use_trust) {
		X509_STORE_add_cert(store, trust);
		anchors++;
	}
	for (size_t i = 0; i < r->n_certs; i++) {
		if (r->certs[i].x == leaf)
			continue;
		if (!use_trust && r->certs[i].self_signed) {
			X509_STORE_add_cert(store, r->certs[i].x);
			anchors++;
		} else {
			sk_X509_push(untrusted, r->certs[i].x);
		}
	}
	if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
		snprintf(why, why_cap, "cannot set up chain verification");
		goto out;
	}
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
	if (k->time_max > 0)
		X509_VERIFY_PARAM_set_time(vp, (time_t)k->time_max);
	else
		X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_NO_CHECK_TIME);
	if (X509_verify_cert(ctx) == 1) {
		res = use_trust ? EXPORTCHECK_CHAIN_TRUSTED : EXPORTCHECK_CHAIN_UNTRUSTED;
		why[0] = 0;
	} else {
		int e = X509_STORE_CTX_get_error(ctx);
		if (e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
		    e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
		    (anchors == 0 && e == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN))
			res = EXPORTCHECK_CHAIN_MISSING;
		else
			res = EXPORTCHECK_CHAIN_BROKEN;
		snprintf(why, why_cap, "%s (depth %d)", X509_verify_cert_error_string(e),
			X509_STORE_CTX_get_error_depth(ctx));
	}
out:
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	ERR_clear_error();
	return res;
}

static int chain_rank(enum exportcheck_chain c)
{
	switch (c) {
	case EXPORTCHECK_CHAIN_BROKEN: return 0;
	case EXPORTCHECK_CHAIN_MISSING: return 1;
	case EXPORTCHECK_CHAIN_UNTRUSTED: return 2;
	case EXPORTCHECK_CHAIN_TRUSTED: return 3;
	}
	return 0;
}

static void finish_report(struct exportcheck_report *r, const struct exportcheck_opts *o)
{
	X509 *trust = o ? o->trust : NULL;
	r->trust_given = trust != NULL;
	int any = 0;
	r->chain = EXPORTCHECK_CHAIN_MISSING;
	for (size_t i = 0; i < r->n_keys; i++) {
		struct exportcheck_key *k = &r->keys[i];
		check_counters(r, (int)i);
		check_transactions(r, (int)i);
		if (k->cert < 0) {
			k->chain = EXPORTCHECK_CHAIN_MISSING;
			snprintf(k->chain_problem, sizeof(k->chain_problem), "no certificate");
			err_at(r, k->first_member, "no certificate for serialNumber %s (%" PRIu64
				" logs unverifiable)", k->hex, k->logs);
		} else {
			enum exportcheck_chain c = EXPORTCHECK_CHAIN_MISSING;
			char why[160] = "";
			if (trust != NULL)
				c = verify_chain(r, k, trust, 1, why, sizeof(why));
			if (c != EXPORTCHECK_CHAIN_TRUSTED) {
				char why2[160] = "";
				enum exportcheck_chain c2 = verify_chain(r, k, trust, 0, why2, sizeof(why2));
				if (trust != NULL && c2 == EXPORTCHECK_CHAIN_UNTRUSTED)
					snprintf(k->chain_problem, sizeof(k->chain_problem),
						"the chain in the TAR does not lead to the trusted root: %s", why);
				else
					snprintf(k->chain_problem, sizeof(k->chain_problem), "%s", why2);
				c = c2;
			}
			k->chain = c;
			const char *member = r->certs[k->cert].member;
			if (c == EXPORTCHECK_CHAIN_BROKEN)
				err_at(r, member, "certificate chain broken: %s", k->chain_problem);
			else if (c == EXPORTCHECK_CHAIN_MISSING)
				warn_at(r, member, "certificate chain incomplete: %s", k->chain_problem);
			else if (c == EXPORTCHECK_CHAIN_UNTRUSTED && trust != NULL)
				err_at(r, member, "%s", k->chain_problem);
		}
		if (!any || chain_rank(k->chain) < chain_rank(r->chain))
			r->chain = k->chain;
		any = 1;
	}
	if (r->info_csv == NULL) {
		warn_at(r, "info.csv", "info.csv missing (TR-03151 5.1.1: SHALL be present)");
	} else {
		int q = 0;
		r->info_csv_ok = exportcheck_info_csv_parse(r->info_csv, r->info_csv_len,
			r->info_description, sizeof(r->info_description), r->info_manufacturer,
			sizeof(r->info_manufacturer), r->info_version, sizeof(r->info_version), &q) == 0;
		r->info_csv_quoted = q;
		if (!r->info_csv_ok)
			err_at(r, "info.csv", "info.csv is not in the TR-03151 5.1.1 layout "
				"(\"description:\",...,\"manufacturer:\",...,\"version:\",...)");
		else if (!q)
			warn_at(r, "info.csv", "info.csv values are not quoted (TR-03151 amendment: SHOULD be)");
	}
	if (r->messages == 0 && !r->tar_truncated)
		warn_at(r, "", "no log messages in the archive");
	set_sort(&r->serial_numbers);
	set_sort(&r->time_formats);
	set_sort(&r->curves);
	set_sort(&r->client_ids);
	set_sort(&r->certificate_name_mismatches);
	r->ok = r->n_errors == 0 && r->errors_omitted == 0 && r->invalid_signatures == 0 &&
		r->unknown_key == 0 && r->parse_errors == 0 && !r->tar_truncated && !r->tar_bad_header;
}

/* ------------------------------------------------------------------ */
/* driver                                                               */

static int run(struct exportcheck_report **out, FILE *f, const struct exportcheck_opts *o,
	struct siegel_diag *d)
{
	*out = NULL;
	struct exportcheck_report *r = calloc(1, sizeof(*r));
	struct ctx c;
	memset(&c, 0, sizeof(c));
	int rc = SIEGEL_E_NOMEM;
	if (r == NULL)
		goto fail;
	c.r = r;
	c.o = o;
	c.jobs = calloc(BATCH_JOBS, sizeof(struct job));
	c.arena = malloc(BATCH_ARENA);
	c.arena_cap = BATCH_ARENA;
	if (c.jobs == NULL || c.arena == NULL)
		goto fail;

	struct tar_source src;
	struct tar_read_status st;
	struct siegel_diag td = { { 0 } };
	/* pass 1 */
	tar_source_stdio(&src, f);
	c.pass = 1;
	rc = tar_read(&st, &src, want_pass1, pass1_member, &c, &td);
	if (rc == SIEGEL_E_NOMEM || rc == SIEGEL_E_IO) {
		siegel_fail(d, rc, "%s", td.msg);
		goto fail;
	}
	if (st.members == 0 && (st.bad_header || st.truncated || !st.end_seen)) {
		rc = siegel_fail(d, SIEGEL_E_PARSE, "not a TAR archive: %s", td.msg);
		goto fail;
	}
	/* pass 2 */
	if (fseeko(f, 0, SEEK_SET) != 0) {
		rc = siegel_fail(d, SIEGEL_E_IO, "cannot rewind the archive for the second pass");
		goto fail;
	}
	tar_source_stdio(&src, f);
	c.pass = 2;
	memset(&td, 0, sizeof(td));
	rc = tar_read(&st, &src, want_pass2, pass2_member, &c, &td);
	int frc = c.hook_rc ? c.hook_rc : flush_jobs(&c);
	if (c.hook_rc) {
		rc = siegel_fail(d, c.hook_rc, "%s", c.hook_diag.msg);
		goto fail;
	}
	if (rc == SIEGEL_E_NOMEM || rc == SIEGEL_E_IO || frc) {
		rc = rc == SIEGEL_E_NOMEM || rc == SIEGEL_E_IO ? rc : frc;
		siegel_fail(d, rc, "%s", td.msg);
		goto fail;
	}
	if (rc != 0) {
		if (st.truncated) {
			r->tar_truncated = 1;
			if (st.truncated_member[0] && is_log_name(tar_basename(st.truncated_member))) {
				r->messages++;
				r->parse_errors++;
			}
			err_at(r, st.truncated_member, "truncated archive%s: %s",
				st.truncated_member[0] ? ", member incomplete" : "", td.msg);
		} else if (st.bad_header) {
			r->tar_bad_header = 1;
			err_at(r, "", "%s", td.msg);
		} else {
			err_at(r, st.truncated_member, "%s", td.msg);
			r->tar_bad_header = 1;
		}
	}
	finish_report(r, o);
	free(c.jobs);
	free(c.arena);
	*out = r;
	return 0;
fail:
	if (c.jobs) {
		for (size_t i = 0; i < c.n_jobs; i++)
			logmsg_clear(&c.jobs[i].m);
	}
	free(c.jobs);
	free(c.arena);
	exportcheck_free(r);
	return rc;
}

int exportcheck_file(struct exportcheck_report **out, const char *path,
	const struct exportcheck_opts *o, struct siegel_diag *d)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return siegel_fail(d, SIEGEL_E_IO, "cannot open %s", path);
	int rc = run(out, f, o, d);
	fclose(f);
	return rc;
}

int exportcheck_mem(struct exportcheck_report **out, const uint8_t *data, size_t len,
	const struct exportcheck_opts *o, struct siegel_diag *d)
{
	if (len == 0)
		return siegel_fail(d, SIEGEL_E_PARSE, "not a TAR archive: empty input");
	FILE *f = fmemopen((void *)data, len, "rb");
	if (f == NULL)
		return siegel_fail(d, SIEGEL_E_NOMEM, "fmemopen failed");
	int rc = run(out, f, o, d);
	fclose(f);
	return rc;
}

void exportcheck_free(struct exportcheck_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_certs; i++)
		X509_free(r->certs[i].x);
	for (size_t i = 0; i < r->n_keys; i++) {
		free(r->keys[i].counters);
		free(r->keys[i].tx);
	}
	set_free(&r->serial_numbers);
	set_free(&r->time_formats);
	set_free(&r->curves);
	set_free(&r->client_ids);
	set_free(&r->certificate_name_mismatches);
	free(r->gaps);
	free(r->info_csv);
	free(r->fname_mismatches);
	free(r->errors);
	free(r->warnings);
	free(r);
}

const char *exportcheck_chain_name(enum exportcheck_chain c)
{
	switch (c) {
	case EXPORTCHECK_CHAIN_MISSING: return "missing";
	case EXPORTCHECK_CHAIN_BROKEN: return "broken";
	case EXPORTCHECK_CHAIN_UNTRUSTED: return "untrusted";
	case EXPORTCHECK_CHAIN_TRUSTED: return "trusted";
	}
	return "missing";
}

/* ------------------------------------------------------------------ */
/* output                                                               */

/* json_string needs UTF-8; member names and ids from a hostile TAR may not be. */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	if (j != NULL)
		return j;
	size_t n = strlen(s);
	char *c = malloc(n + 1);
	if (c == NULL)
		return json_string("");
	for (size_t i = 0; i <= n; i++)
		c[i] = (s[i] & 0x80) ? '?' : s[i];
	j = json_string(c);
	free(c);
	return j;
}

static json_t *jset(const struct exportcheck_strset *s)
{
	json_t *a = json_array();
	for (size_t i = 0; i < s->n; i++)
		json_array_append_new(a, jstr(s->v[i]));
	return a;
}

static json_t *jproblems(const struct exportcheck_problem *p, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:o,s:o}", "member", jstr(p[i].member), "problem",
			jstr(p[i].problem)));
	return a;
}

static json_t *jgaps(const struct exportcheck_report *r, int key)
{
	json_t *a = json_array();
	for (size_t i = 0; i < r->n_gaps; i++)
		if (key < 0 || r->gaps[i].key == key)
			json_array_append_new(a, json_pack("[I,I]", (json_int_t)r->gaps[i].first,
				(json_int_t)r->gaps[i].last));
	return a;
}

json_t *exportcheck_json(const struct exportcheck_report *r)
{
	json_t *j = json_object();
	if (j == NULL)
		return NULL;
#define NUM(k, v) json_object_set_new(j, k, json_integer((json_int_t)(v)))
	NUM("messages", r->messages);
	NUM("transaction_logs", r->transaction_logs);
	NUM("system_logs", r->system_logs);
	NUM("audit_logs", r->audit_logs);
	NUM("valid_signatures", r->valid_signatures);
	NUM("invalid_signatures", r->invalid_signatures);
	NUM("unknown_key", r->unknown_key);
	NUM("parse_errors", r->parse_errors);
	NUM("certificates", r->certificates);
	NUM("duplicate_counters", r->duplicate_counters);
	NUM("indefinite_length_logs", r->indefinite_length_logs);
	if (r->have_counters) {
		NUM("counter_min", r->counter_min);
		NUM("counter_max", r->counter_max);
	} else {
		json_object_set_new(j, "counter_min", json_null());
		json_object_set_new(j, "counter_max", json_null());
	}
#undef NUM
	json_object_set_new(j, "counter_gaps", jgaps(r, -1));
	json_object_set_new(j, "serial_numbers", jset(&r->serial_numbers));
	json_object_set_new(j, "time_formats", jset(&r->time_formats));
	json_object_set_new(j, "curves", jset(&r->curves));
	json_object_set_new(j, "client_ids", jset(&r->client_ids));
	json_object_set_new(j, "certificate_name_mismatches", jset(&r->certificate_name_mismatches));
	json_t *algs = json_object();
	for (size_t i = 0; i < r->n_sig_algs; i++)
		json_object_set_new(algs, r->sig_algs[i].name, json_integer((json_int_t)r->sig_algs[i].n));
	json_object_set_new(j, "signature_algorithms", algs);
	json_t *info = r->info_csv ? json_stringn(r->info_csv, r->info_csv_len) : json_null();
	if (info == NULL) /* not UTF-8 or with NUL bytes */
		info = jstr(r->info_csv);
	json_object_set_new(j, "info_csv", info);
	if (r->info_csv && r->info_csv_ok)
		json_object_set_new(j, "info", json_pack("{s:o,s:o,s:o,s:b}", "description",
			jstr(r->info_description), "manufacturer", jstr(r->info_manufacturer), "version",
			jstr(r->info_version), "quoted", r->info_csv_quoted));
	json_t *fm = json_array();
	for (size_t i = 0; i < r->n_fname_mismatches; i++) {
		json_t *fields = json_array();
		for (size_t b = 0; b < sizeof(field_names) / sizeof(field_names[0]); b++)
			if (r->fname_mismatches[i].fields & (1u << b))
				json_array_append_new(fields, json_string(field_names[b]));
		json_array_append_new(fm, json_pack("{s:o,s:o}", "name",
			jstr(r->fname_mismatches[i].name), "fields", fields));
	}
	json_object_set_new(j, "filename_mismatches", fm);
	json_t *sk = json_object();
	for (int t = 0; t < 256; t++)
		if (r->tar_skipped_types[t]) {
			char key[8];
			if (t >= 0x20 && t < 0x7f)
				snprintf(key, sizeof(key), "%c", t);
			else
				snprintf(key, sizeof(key), "\\x%02x", t);
			json_object_set_new(sk, key, json_integer((json_int_t)r->tar_skipped_types[t]));
		}
	json_object_set_new(j, "tar_skipped_types", sk);
	json_object_set_new(j, "tar_truncated", json_boolean(r->tar_truncated));
	json_object_set_new(j, "chain", json_string(exportcheck_chain_name(r->chain)));
	json_t *keys = json_array();
	for (size_t i = 0; i < r->n_keys; i++) {
		const struct exportcheck_key *k = &r->keys[i];
		json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:s}", "serial_number", k->hex,
			"logs", (json_int_t)k->logs, "valid", (json_int_t)k->valid,
			"invalid", (json_int_t)k->invalid, "counter_min", (json_int_t)k->counter_min,
			"counter_max", (json_int_t)k->counter_max, "counter_gaps", jgaps(r, (int)i),
			"chain", exportcheck_chain_name(k->chain));
		if (o != NULL && k->cert >= 0) {
			json_object_set_new(o, "certificate", jstr(r->certs[k->cert].member));
			json_object_set_new(o, "curve", json_string(r->certs[k->cert].curve));
		}
		if (o != NULL && k->chain_problem[0])
			json_object_set_new(o, "chain_problem", jstr(k->chain_problem));
		json_array_append_new(keys, o);
	}
	json_object_set_new(j, "keys", keys);
	json_object_set_new(j, "errors", jproblems(r->errors, r->n_errors));
	json_object_set_new(j, "warnings", jproblems(r->warnings, r->n_warnings));
	if (r->errors_omitted)
		json_object_set_new(j, "errors_omitted", json_integer((json_int_t)r->errors_omitted));
	if (r->warnings_omitted)
		json_object_set_new(j, "warnings_omitted", json_integer((json_int_t)r->warnings_omitted));
	json_object_set_new(j, "result", json_string(r->ok ? "ok" : "failed"));
	return j;
}

void exportcheck_print(FILE *f, const struct exportcheck_report *r)
{
	fprintf(f, "messages:          %" PRIu64 " (%" PRIu64 " transaction, %" PRIu64 " system, %"
		PRIu64 " audit)\n", r->messages, r->transaction_logs, r->system_logs, r->audit_logs);
	fprintf(f, "signatures:        %" PRIu64 " valid, %" PRIu64 " invalid, %" PRIu64
		" without certificate\n", r->valid_signatures, r->invalid_signatures, r->unknown_key);
	fprintf(f, "parse errors:      %" PRIu64 "\n", r->parse_errors);
	fprintf(f, "certificates:      %" PRIu64 ", chain %s\n", r->certificates,
		exportcheck_chain_name(r->chain));
	for (size_t i = 0; i < r->n_keys; i++) {
		const struct exportcheck_key *k = &r->keys[i];
		fprintf(f, "key %s: %" PRIu64 " logs, counters %" PRIu64 "..%" PRIu64, k->hex, k->logs,
			k->counter_min, k->counter_max);
		int first = 1;
		for (size_t g = 0; g < r->n_gaps; g++)
			if (r->gaps[g].key == (int)i) {
				fprintf(f, "%s[%" PRIu64 ",%" PRIu64 "]", first ? ", gaps " : " ",
					r->gaps[g].first, r->gaps[g].last);
				first = 0;
			}
		fprintf(f, "%s\n", k->cert >= 0 ? "" : ", NO CERTIFICATE");
	}
	fprintf(f, "info.csv:          %s\n", r->info_csv == NULL ? "missing"
		: r->info_csv_ok ? (r->info_csv_quoted ? "ok" : "ok (unquoted values)") : "malformed");
	if (r->info_csv_ok)
		fprintf(f, "  description \"%s\", manufacturer \"%s\", version \"%s\"\n",
			r->info_description, r->info_manufacturer, r->info_version);
	for (size_t i = 0; i < r->n_errors; i++)
		fprintf(f, "ERROR   %s%s%s\n", r->errors[i].member, r->errors[i].member[0] ? ": " : "",
			r->errors[i].problem);
	if (r->errors_omitted)
		fprintf(f, "ERROR   ... and %" PRIu64 " more\n", r->errors_omitted);
	for (size_t i = 0; i < r->n_warnings; i++)
		fprintf(f, "WARNING %s%s%s\n", r->warnings[i].member, r->warnings[i].member[0] ? ": " : "",
			r->warnings[i].problem);
	if (r->warnings_omitted)
		fprintf(f, "WARNING ... and %" PRIu64 " more\n", r->warnings_omitted);
	fprintf(f, "result:            %s\n", r->ok ? "ok" : "FAILED");
}
