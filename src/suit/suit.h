/* suit: algorithm suitability (the seed's extendReport). A catalogue as data
 * in the shape of RFC 5698 (DSSC) / ETSI TS 119 322: per algorithm its OIDs
 * and evaluations (parameter range such as the RSA modulus length or the EC
 * order length, validity start/end, source document and version); several
 * sources may disagree (RSA-2048: SOG-IS/BNetzA end 2025, ETSI TS 119 312
 * v1.5.1 end 2028), and an algorithm is suitable at a time only when every
 * source that evaluates it says so. */
#ifndef SIEGEL_SUIT_H
#define SIEGEL_SUIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define SUIT_MAX_CATALOGUE (4u << 20)  /* bytes of a catalogue file */
#define SUIT_MAX_ALGS 256
#define SUIT_MAX_EVALS 32              /* per algorithm */
#define SUIT_MAX_OIDS 8                /* per algorithm */
#define SUIT_MAX_REPORT (64u << 20)    /* bytes of a report to extend */

struct suit_eval {
	char param[32];             /* "moduluslength", "orderlength" or "" */
	int has_min, has_max;
	long min, max;
	int has_start, has_end;
	int64_t start, end;         /* Unix seconds; end = last suitable second (day inclusive) */
	char source[96];            /* "ETSI TS 119 312" */
	char version[32];           /* "V1.5.1" */
	char recommendation[8];     /* "R" recommended, "L" legacy, "" */
};

struct suit_alg {
	char name[64];
	char oids[SUIT_MAX_OIDS][80];
	size_t n_oids;
	struct suit_eval evals[SUIT_MAX_EVALS];
	size_t n_evals;
};

struct suit_catalogue {
	char name[128];
	char publisher[128];
	int64_t issue_date;
	int has_next_update;
	int64_t next_update;
	struct suit_alg *algs;
	size_t n_algs;
};

int suit_catalogue_load(struct suit_catalogue *c, const char *path,
	struct siegel_diag *d) SIEGEL_WUR;
void suit_catalogue_free(struct suit_catalogue *c);

/* Verdict of one algorithm at one time. */
enum suit_verdict {
	SUIT_UNKNOWN = -1,          /* not in the catalogue (or no evaluation for the parameter) */
	SUIT_UNSUITABLE = 0,
	SUIT_SUITABLE = 1,
};
/* Evaluates algorithm oid with parameter value param (0 = none) at t. When
 * src_out is given it receives a "source version: yes/no until ..." summary. */
enum suit_verdict suit_evaluate(const struct suit_catalogue *c, const char *oid, long param,
	int64_t t, char *src_out, size_t src_cap);
const struct suit_alg *suit_find(const struct suit_catalogue *c, const char *oid);

/* extend-report: adds a <Suitability> element to every <Signature> of the
 * report in xml (replacing an earlier one). now = the evaluation time.
 * *worst_out: 1 all suitable, 0 something unsuitable, -1 something unknown.
 * *warning_out (may be NULL) is set when the catalogue is past NextUpdate. */
int suit_extend_report(struct siegel_buf *out, int *worst_out, int *stale_out,
	const uint8_t *xml, size_t xml_len, const struct suit_catalogue *c, int64_t now,
	struct siegel_diag *d) SIEGEL_WUR;

#endif
