/* siegel tenant add ID [--name TEXT] | list | rotate-secret ID   [--data DIR] [--json]
 * Tenants of the HTTPS service. The secret is shown once (add, rotate-secret);
 * only its hash is stored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cmds.h"
#include "store/store.h"
#include "tenant/tenant.h"

static const char tenant_usage[] =
	"usage: siegel tenant add ID [--name TEXT] [--data DIR] [--json]\n"
	"       siegel tenant list [--data DIR] [--json]\n"
	"       siegel tenant rotate-secret ID [--data DIR] [--json]\n"
	"  ID: 1-16 characters a-z 0-9 '-'. The API secret is printed once; store it safely.\n";

static void print_creds(const struct tenant_creds *c, int json)
{
	if (json) {
		json_t *o = json_pack("{s:s,s:s,s:s}", "id", c->id, "api_key", c->api_key, "api_secret",
			c->api_secret);
		cli_print_json(o);
		return;
	}
	printf("tenant:     %s\napi_key:    %s\napi_secret: %s\n", c->id, c->api_key, c->api_secret);
}

static void list_one(void *ctx, const struct tenant_info *ti)
{
	if (ctx != NULL) {
		json_array_append_new(ctx, json_pack("{s:s,s:s,s:s,s:I,s:b}", "id", ti->id, "name",
			ti->name, "api_key", ti->api_key, "created_at", (json_int_t)ti->created_at,
			"disabled", ti->disabled));
		return;
	}
	printf("%-16s  %s  %s%s\n", ti->id, ti->api_key, ti->name, ti->disabled ? "  (disabled)" : "");
}

int cmd_tenant(int argc, char **argv)
{
	const char *data = getenv("SIEGEL_DATA"), *name = NULL, *op = NULL, *id = NULL;
	int json = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
			data = argv[++i];
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--help") == 0) {
			fputs(tenant_usage, stdout);
			return 0;
		} else if (strncmp(argv[i], "--", 2) == 0) {
			fprintf(stderr, "siegel tenant: unknown option '%s'\n%s", argv[i], tenant_usage);
			return 2;
		} else if (op == NULL)
			op = argv[i];
		else if (id == NULL)
			id = argv[i];
		else {
			fprintf(stderr, "siegel tenant: too many arguments\n%s", tenant_usage);
			return 2;
		}
	}
	if (data == NULL)
		data = "data";
	int want_id = op && (strcmp(op, "add") == 0 || strcmp(op, "rotate-secret") == 0);
	if (op == NULL || (!want_id && strcmp(op, "list") != 0) || (want_id && id == NULL) ||
	    (!want_id && id != NULL)) {
		fputs(tenant_usage, stderr);
		return 2;
	}
	struct siegel_diag d = { { 0 } };
	struct cli_opts o;
	memset(&o, 0, sizeof(o));
	o.json = json;
	if (siegel_mkdir_p(data, 0700) != 0) {
		fprintf(stderr, "siegel tenant: cannot create %s\n", data);
		return 1;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/siegel.db", data);
	struct store *s = NULL;
	int rc = store_open(&s, path, &d);
	if (rc)
		return cli_error(&o, rc, &d);
	struct tenant_config tc = { 0 };
	const char *log2n = getenv("SIEGEL_KDF_LOG2N"); /* tests: cheaper hashing */
	long long v;
	if (log2n != NULL && siegel_strtoll(&v, log2n, 10, 20) == 0)
		tc.kdf_log2n = (int)v;
	struct tenant_db *db = NULL;
	rc = tenant_db_open(&db, s, &tc, &d);
	if (rc == 0) {
		if (strcmp(op, "list") == 0) {
			json_t *arr = json ? json_array() : NULL;
			rc = tenant_list(db, list_one, arr, &d);
			if (rc == 0 && arr != NULL)
				cli_print_json(arr);
			else
				json_decref(arr);
		} else {
			struct tenant_creds c;
			rc = strcmp(op, "add") == 0 ? tenant_add(db, id, name, &c, &d)
						    : tenant_rotate_secret(db, id, &c, &d);
			if (rc == 0)
				print_creds(&c, json);
			siegel_wipe(&c, sizeof(c));
		}
	}
	tenant_db_close(db);
	store_close(s);
	return rc ? cli_error(&o, rc, &d) : 0;
}
