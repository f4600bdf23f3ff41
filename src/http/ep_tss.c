/* /api/v1/tss/{tssId}: PUT creates, GET describes, PATCH changes the state
 * (INITIALIZED = initialize, DISABLED = disableSecureElement). */
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "alg/alg.h"
#include "http/http_int.h"

#define TSS_GEN_PIN 8
#define TSS_GEN_PUK 10

json_t *http_tss_json(struct tse *t, const char *internal_id, const char *tss_id,
	struct siegel_diag *d, int *err_out)
{
	struct tse_tss_info in;
	*err_out = tse_tss_info(t, internal_id, &in, d);
	if (*err_out)
		return NULL;
	const struct alg_info *ai = alg_get(in.alg);
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:i,s:i,s:i,s:i,s:s,s:b,s:I,s:s,s:I}",
		"id", tss_id, "state", in.state, "description", in.description,
		"serial_number", in.serial_hex,
		"signature_algorithm", ai ? ai->sig_name : "?",
		"signature_timestamp_format", logmsg_time_format_name(in.time_format),
		"signature_counter", (json_int_t)in.signature_counter,
		"transaction_counter", (json_int_t)in.transaction_counter,
		"number_registered_clients", (int)in.n_clients,
		"max_number_registered_clients", (int)in.max_clients,
		"number_active_transactions", (int)in.n_open_tx,
		"max_number_active_transactions", (int)in.max_open_tx,
		"supported_update_variants", "SIGNED",
		"time_set", in.time_set,
		"time_synced_at", (json_int_t)in.time_synced_at,
		"time_server", in.time_server,
		"time_now", (json_int_t)in.now);
	if (o == NULL)
		*err_out = SIEGEL_E_NOMEM;
	return o;
}

static int gen_digits(char *out, size_t n)
{
	uint8_t r[32];
	if (n >= sizeof(r) || RAND_bytes(r, (int)n) != 1)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)('0' + r[i] % 10);
	out[n] = 0;
	return 0;
}

static void reply_tss(struct http_req *rq, unsigned status)
{
	struct siegel_diag d = { { 0 } };
	int rc;
	json_t *o = http_tss_json(rq->srv->tse, rq->tss, http_param(rq, "tssId"), &d, &rc);
	if (o == NULL)
		http_reply_err(rq, rc, &d);
	else
		http_reply_json(rq, status, o);
}

void ep_tss_put(struct http_req *rq)
{
	const char *pin = NULL, *puk = NULL, *ta_pin = NULL, *ta_puk = NULL, *alg = NULL, *tf = NULL;
	long long max_clients = 0, max_open = 0;
	const struct http_jfield spec[] = {
		HJ_STRING("admin_pin", 0, &pin, 32),
		HJ_STRING("admin_puk", 0, &puk, 32),
		HJ_STRING("time_admin_pin", 0, &ta_pin, 32),
		HJ_STRING("time_admin_puk", 0, &ta_puk, 32),
		HJ_STRING("signature_algorithm", 0, &alg, 16),
		HJ_STRING("signature_timestamp_format", 0, &tf, 32),
		HJ_INTEGER("max_number_registered_clients", 0, &max_clients, 1, 100000, NULL),
		HJ_INTEGER("max_number_active_transactions", 0, &max_open, 1, 1000000, NULL),
	};
	if (http_json_parse(rq, spec, sizeof(spec) / sizeof(spec[0])) != 0 || http_tss(rq) != 0)
		return;
	struct tse_tss_params p;
	memset(&p, 0, sizeof(p));
	p.tss_id = rq->tss;
	if (alg != NULL) {
		const struct alg_info *ai = alg_by_config_name(alg);
		if (ai == NULL) {
			http_reply_code(rq, HE_BAD_VALUE, "signature_algorithm: want p256, p384, bp256 or bp384");
			return;
		}
		p.alg = ai->alg;
	}
	if (tf != NULL && logmsg_time_format_parse(&p.time_format, tf) != 0) {
		http_reply_code(rq, HE_BAD_VALUE,
			"signature_timestamp_format: want unixTime, utcTime or generalizedTime");
		return;
	}
	p.max_clients = (unsigned)max_clients;
	p.max_open_tx = (unsigned)max_open;
	char g_pin[TSS_GEN_PIN + 1], g_puk[TSS_GEN_PUK + 1], g_ta_pin[TSS_GEN_PIN + 1],
		g_ta_puk[TSS_GEN_PUK + 1];
	int gen[4] = { pin == NULL, puk == NULL, ta_pin == NULL, ta_puk == NULL };
	if ((gen[0] && gen_digits(g_pin, TSS_GEN_PIN)) || (gen[1] && gen_digits(g_puk, TSS_GEN_PUK)) ||
	    (gen[2] && gen_digits(g_ta_pin, TSS_GEN_PIN)) ||
	    (gen[3] && gen_digits(g_ta_puk, TSS_GEN_PUK))) {
		http_reply_code(rq, HE_INTERNAL, "no random bytes");
		return;
	}
	p.admin_pin = gen[0] ? g_pin : pin;
	p.admin_puk = gen[1] ? g_puk : puk;
	p.time_admin_pin = gen[2] ? g_ta_pin : ta_pin;
	p.time_admin_puk = gen[3] ? g_ta_puk : ta_puk;
	struct siegel_diag d = { { 0 } };
	int rc = tse_tss_create(rq->srv->tse, &p, &d);
	if (rc) {
		http_reply_err(rq, rc, &d);
	} else {
		json_t *o = http_tss_json(rq->srv->tse, rq->tss, http_param(rq, "tssId"), &d, &rc);
		if (o == NULL) {
			http_reply_err(rq, rc, &d);
		} else {
			/* generated credentials are shown once, here */
			if (gen[0])
				json_object_set_new(o, "admin_pin", json_string(g_pin));
			if (gen[1])
				json_object_set_new(o, "admin_puk", json_string(g_puk));
			if (gen[2])
				json_object_set_new(o, "time_admin_pin", json_string(g_ta_pin));
			if (gen[3])
				json_object_set_new(o, "time_admin_puk", json_string(g_ta_puk));
			http_reply_json(rq, 201, o);
		}
	}
	siegel_wipe(g_pin, sizeof(g_pin));
	siegel_wipe(g_puk, sizeof(g_puk));
	siegel_wipe(g_ta_pin, sizeof(g_ta_pin));
	siegel_wipe(g_ta_puk, sizeof(g_ta_puk));
}

void ep_tss_get(struct http_req *rq)
{
	if (http_tss(rq) != 0)
		return;
	reply_tss(rq, 200);
}

void ep_tss_patch(struct http_req *rq)
{
	const char *state = NULL, *desc = NULL;
	const struct http_jfield spec[] = {
		HJ_STRING("state", 1, &state, 32),
		HJ_STRING("description", 0, &desc, 200),
	};
	if (http_json_parse(rq, spec, sizeof(spec) / sizeof(spec[0])) != 0 || http_tss(rq) != 0)
		return;
	struct siegel_diag d = { { 0 } };
	int rc;
	if (strcmp(state, "INITIALIZED") == 0) {
		rc = tse_initialize(rq->srv->tse, rq->tss, desc ? desc : "", &d);
	} else if (strcmp(state, "DISABLED") == 0) {
		if (desc != NULL) {
			http_reply_code(rq, HE_BAD_VALUE, "description only goes with state INITIALIZED");
			return;
		}
		rc = tse_disable(rq->srv->tse, rq->tss, &d);
	} else {
		http_reply_code(rq, HE_BAD_VALUE, "state: want INITIALIZED or DISABLED");
		return;
	}
	if (rc) {
		http_reply_err(rq, rc, &d);
		return;
	}
	reply_tss(rq, 200);
}
