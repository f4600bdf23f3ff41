#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"

struct opt_def {
	const char *name;
	size_t off;      /* offset of the const char * field, or of the int flag */
	int is_flag;
};

#define OPT(n, f) { n, offsetof(struct cli_opts, f), 0 }
#define FLAG(n, f) { n, offsetof(struct cli_opts, f), 1 }

static const struct opt_def opt_defs[] = {
	OPT("--data", data), OPT("--tss", tss), FLAG("--json", json), FLAG("--help", help),
	OPT("--alg", alg), OPT("--time-format", time_format),
	OPT("--admin-pin", admin_pin), OPT("--admin-puk", admin_puk),
	OPT("--time-admin-pin", time_admin_pin), OPT("--time-admin-puk", time_admin_puk),
	OPT("--user", user), OPT("--pin", pin), OPT("--puk", puk), OPT("--new-pin", new_pin),
	OPT("--description", description), OPT("--client", client), OPT("--tx", tx),
	OPT("--type", type), OPT("--data-text", data_text), OPT("--data-hex", data_hex),
	OPT("--data-file", data_file), OPT("--out", out), OPT("--key-backend", key_backend),
	OPT("--p11-module", p11_module), OPT("--max-host-skew", max_host_skew),
	OPT("--in", in), OPT("--trust", trust), OPT("--threads", threads),
	OPT("--tx-first", tx_first), OPT("--tx-last", tx_last),
	OPT("--start-date", start_date), OPT("--end-date", end_date),
	OPT("--max-records", max_records), FLAG("--incremental", incremental),
	OPT("--format", format),
};

int cli_parse(struct cli_opts *o, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0) {
			if (o->n_pos >= CLI_MAX_POS) {
				fprintf(stderr, "siegel: too many arguments\n");
				return 2;
			}
			o->pos[o->n_pos++] = a;
			continue;
		}
		/* --data takes processData for transactions only when --data-text is
		 * not used: `--data` is the data directory everywhere. */
		if (strcmp(a, "--ntp") == 0) {
			if (i + 1 >= argc || o->n_ntp >= CLI_MAX_NTP) {
				fprintf(stderr, "siegel: --ntp needs a HOST[:PORT] (at most %d)\n", CLI_MAX_NTP);
				return 2;
			}
			o->ntp[o->n_ntp++] = argv[++i];
			continue;
		}
		const struct opt_def *def = NULL;
		for (size_t k = 0; k < sizeof(opt_defs) / sizeof(opt_defs[0]); k++)
			if (strcmp(opt_defs[k].name, a) == 0)
				def = &opt_defs[k];
		if (def == NULL) {
			fprintf(stderr, "siegel: unknown option '%s' (see siegel --help)\n", a);
			return 2;
		}
		if (def->is_flag) {
			*(int *)((char *)o + def->off) = 1;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "siegel: option %s needs a value\n", a);
			return 2;
		}
		*(const char **)((char *)o + def->off) = argv[++i];
	}
	if (o->data == NULL)
		o->data = getenv("SIEGEL_DATA");
	if (o->data == NULL)
		o->data = "data";
	if (o->tss == NULL)
		o->tss = "default";
	if (o->n_ntp == 0) {
		/* SIEGEL_NTP: comma-separated servers (the service configuration). */
		static char env_copy[1024];
		const char *env = getenv("SIEGEL_NTP");
		if (env != NULL && strlen(env) < sizeof(env_copy)) {
			strcpy(env_copy, env);
			for (char *tok = strtok(env_copy, ","); tok && o->n_ntp < CLI_MAX_NTP;
			     tok = strtok(NULL, ","))
				o->ntp[o->n_ntp++] = tok;
		}
	}
	return 0;
}

int cli_open_tse(struct tse **out, const struct cli_opts *o)
{
	struct siegel_diag d = { { 0 } };
	struct tse_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dir = o->data;
	cfg.key_backend = o->key_backend ? o->key_backend : getenv("SIEGEL_KEY_BACKEND");
	cfg.p11_module = o->p11_module;
	cfg.ntp_servers = o->n_ntp ? o->ntp : NULL;
	cfg.n_ntp_servers = o->n_ntp;
	if (o->max_host_skew != NULL) {
		long long v;
		if (siegel_strtoll(&v, o->max_host_skew, -1, 100LL * 365 * 86400) != 0) {
			fprintf(stderr, "siegel: --max-host-skew needs seconds (or -1)\n");
			return 2;
		}
		cfg.max_host_skew = v;
	}
	const char *log2n = getenv("SIEGEL_KDF_LOG2N"); /* tests: cheaper PIN hashing */
	if (log2n != NULL) {
		long long v;
		if (siegel_strtoll(&v, log2n, 10, 20) == 0)
			cfg.kdf_log2n = (int)v;
	}
	int rc = siegel_mkdir_p(o->data, 0700);
	if (rc) {
		fprintf(stderr, "siegel: cannot create %s\n", o->data);
		return 1;
	}
	/* SoftHSM2 reads its configuration from SOFTHSM2_CONF at C_Initialize:
	 * point it at a token directory inside the data directory. */
	if (o->p11_module == NULL && (cfg.key_backend == NULL || strcmp(cfg.key_backend, "soft") != 0)) {
		char conf[4096];
		if (csp_softhsm_prepare(conf, sizeof(conf), o->data, &d) != 0) {
			fprintf(stderr, "siegel: %s\n", d.msg[0] ? d.msg : "cannot prepare the SoftHSM2 token");
			return 1;
		}
		setenv("SOFTHSM2_CONF", conf, 1);
	}
	rc = tse_open(out, &cfg, &d);
	if (rc)
		return cli_error(o, rc, &d);
	return 0;
}

void cli_print_json(json_t *obj)
{
	char *s = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (s != NULL) {
		puts(s);
		free(s);
	}
	json_decref(obj);
}

int cli_error(const struct cli_opts *o, int err, const struct siegel_diag *d)
{
	const char *msg = d && d->msg[0] ? d->msg : siegel_strerror(err);
	if (o->json) {
		json_t *j = json_pack("{s:s,s:s}", "code", siegel_err_name(err), "message", msg);
		char *s = j ? json_dumps(j, JSON_SORT_KEYS) : NULL;
		if (s != NULL)
			fprintf(stdout, "%s\n", s);
		free(s);
		json_decref(j);
	} else {
		fprintf(stderr, "siegel: %s: %s\n", siegel_err_name(err), msg);
	}
	return 1;
}
