/* placeholder until the real cmd_nip44.c lands: replace this file */
#include "cli.h"
int cmd_nip44(int argc, char **argv) { (void)argc; (void)argv; cli_error("not built yet"); return CLI_ERROR; }
