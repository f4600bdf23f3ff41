/* The subcommand families of siegel, one file each (cmd_<family>.c). */
#ifndef SIEGEL_CMDS_H
#define SIEGEL_CMDS_H

struct tse;
struct cli_opts;

int cmd_tse(int argc, char **argv);
/* siegel tse export|restore|delete-exported|serials|cert (cmd_tse_export.c) */
int cmd_tse_export(const char *op, const struct cli_opts *o, struct tse *t);
/* siegel verify-export FILE.tar [--json] [--trust ROOT.pem] (cmd_verify_export.c) */
int cmd_verify_export(int argc, char **argv);
/* siegel serve [--config FILE] (cmd_serve.c); siegel tenant ... (cmd_tenant.c) */
int cmd_serve(int argc, char **argv);
int cmd_tenant(int argc, char **argv);
/* siegel verify ..., siegel extend-report ..., siegel store add ... (cmd_verify.c) */
int cmd_verify(int argc, char **argv);
int cmd_extend_report(int argc, char **argv);
int cmd_store(int argc, char **argv);
/* siegel sign file|batch|route run|job status|job abort (cmd_sign.c) */
int cmd_sign(int argc, char **argv);

#endif
