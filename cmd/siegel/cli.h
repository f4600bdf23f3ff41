/* The siegel command line: shared option parsing and output helpers. */
#ifndef SIEGEL_CLI_H
#define SIEGEL_CLI_H

#include <stddef.h>

#include <jansson.h>

#include "base/base.h"
#include "tse/tse.h"

#define CLI_MAX_NTP 8
#define CLI_MAX_POS 8

/* Every option any subcommand takes; each subcommand reads what it needs. */
struct cli_opts {
	const char *data;
	const char *tss;
	int json;
	int help;
	const char *alg, *time_format;
	const char *admin_pin, *admin_puk, *time_admin_pin, *time_admin_puk;
	const char *user, *pin, *puk, *new_pin;
	const char *description;
	const char *client;
	const char *tx;
	const char *type;       /* processType */
	const char *data_text;  /* processData as text */
	const char *data_hex;   /* processData as hex */
	const char *data_file;  /* processData from a file */
	const char *out;
	const char *key_backend;
	const char *p11_module;
	const char *ntp[CLI_MAX_NTP];
	size_t n_ntp;
	const char *max_host_skew;
	/* export / restore / verify-export (cmd_tse_export.c, cmd_verify_export.c) */
	const char *in;             /* restore: the TAR to import */
	const char *trust;          /* verify-export/restore: trust anchor PEM */
	const char *threads;        /* verify-export: verification threads */
	const char *tx_first, *tx_last;   /* export: transaction number range */
	const char *start_date, *end_date; /* export: time range (unix s or ISO 8601 UTC) */
	const char *max_records;    /* export: maximumNumberRecords */
	int incremental;            /* export: everything since the previous export */
	const char *format;         /* cert: pem (default) | tar */
	const char *pos[CLI_MAX_POS];
	size_t n_pos;
};

/* Parses argv (after the subcommand words). Returns 0 or prints an error and
 * returns 2. */
int cli_parse(struct cli_opts *o, int argc, char **argv);

/* Opens the data directory with the defaults (SoftHSM2 token in DIR/tokens). */
int cli_open_tse(struct tse **out, const struct cli_opts *o);

/* Prints an error in the chosen format and returns the exit code (1). */
int cli_error(const struct cli_opts *o, int err, const struct siegel_diag *d);
/* Prints a JSON object (and frees it). */
void cli_print_json(json_t *obj);

#include "cmds.h"

#endif
