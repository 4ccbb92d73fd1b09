/* placeholder until the real cmd_key.c lands: replace this file */
#include "cli.h"
int cmd_key(int argc, char **argv) { (void)argc; (void)argv; cli_error("not built yet"); return CLI_ERROR; }
