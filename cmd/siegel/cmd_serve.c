/* Placeholder until this command lands; says so plainly. */
#include <stdio.h>

#include "cli.h"
#include "cmds.h"

int cmd_serve(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "siegel: this command is not available in this build yet\n");
	return 2;
}
