/* Placeholder until this command lands; says so plainly. */
#include <stdio.h>

#include "cli.h"
#include "cmds.h"

int cmd_tse_export(const char *op, const struct cli_opts *o, struct tse *t)
{
	(void)op; (void)o; (void)t;
	fprintf(stderr, "siegel: this command is not available in this build yet\n");
	return 2;
}
