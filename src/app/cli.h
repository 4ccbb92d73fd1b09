/* Shared helpers for the hearth command line: exit codes, errors, option
 * parsing conventions, bounded line reading. */
#ifndef HEARTH_CLI_H
#define HEARTH_CLI_H

#include <stdio.h>

#include "hearth/buf.h"

/* Exit codes (documented in README.md and the man page) */
enum {
    CLI_OK = 0,       /* success */
    CLI_FAIL = 1,     /* the command ran, and some input failed a check */
    CLI_USAGE = 2,    /* bad command line */
    CLI_ERROR = 3     /* could not run: key, file, crypto or memory error */
};

/* Longest stdin line the line-oriented commands accept (one event). */
#define CLI_MAX_LINE (4u << 20)

typedef struct cli_verb {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_verb;

/* Runs the verb named by argv[1] of a noun; prints the noun's help for
 * -h/--help/no verb; unknown verbs are a usage error. */
int cli_dispatch(const char *noun, const cli_verb *verbs, int argc,
                 char **argv);

/* "hearth: error: ..." on stderr, one line */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read one line (without the newline) into b. Returns 1 for a line, 0 at
 * EOF, -1 if the line exceeds CLI_MAX_LINE (the rest of it is skipped). */
int cli_read_line(FILE *f, hearth_buf *b);

/* Key from --key, else $HEARTH_KEY, else the default key file
 * ($XDG_CONFIG_HOME/hearth/key). Prints the error itself. */
int cli_load_key(const char *spec, unsigned char sk[32]);

/* The default key file: $XDG_CONFIG_HOME/hearth/key or
 * ~/.config/hearth/key (truncated to cap). */
void cli_default_key_path(char *path, size_t cap);

/* A passphrase for NIP-49 keys into buf (cap bytes with the NUL):
 * $HEARTH_PASSPHRASE if set, else asked on the terminal without echo
 * (twice if confirm). HEARTH_OK, or an error with *why naming the fix.
 * passphrase.c */
int cli_passphrase(const char *prompt, int confirm, char *buf, size_t cap,
                   const char **why);
/* hearth_passphrase_fn for hearth_key_load_pw (ctx unused) */
int cli_passphrase_cb(void *ctx, char *buf, size_t cap, const char **why);

/* Create the missing directories leading to path (mode 0700: they will
 * hold keys and wallet secrets). 0 or -1 with errno. */
int cli_mkdir_parents(const char *path);

/* the nouns */
int cmd_key(int argc, char **argv);
int cmd_event(int argc, char **argv);
int cmd_nip44(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_relay(int argc, char **argv);
int cmd_req(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_offer(int argc, char **argv);
int cmd_hw(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_peers(int argc, char **argv);
int cmd_market(int argc, char **argv);
int cmd_market_reputation(int argc, char **argv); /* cmd_reputation.c */
int cmd_market_challenge(int argc, char **argv);  /* cmd_challenge.c */
int cmd_run(int argc, char **argv);
int cmd_ledger(int argc, char **argv);
int cmd_job(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_demo(int argc, char **argv);

#endif
