/* hearth job: the customer's commands (docs/cli-job.md). cmd_job.c holds
 * the noun, the shared helpers and submit's command line; job_submit.c
 * runs a submitted job; job_status.c reads and cancels recorded jobs. */
#ifndef HEARTH_JOB_CLI_H
#define HEARTH_JOB_CLI_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"
#include "hearth/customer.h"
#include "hearth/jobdb.h"
#include "pool_cli.h"

struct job_submit {
    struct pool_cli c;
    char data[PATH_MAX];
    uint32_t kind;
    hearth_buf data_in[HEARTH_NIP90_MAX_INPUTS];  /* input values */
    hearth_job_input inputs[HEARTH_NIP90_MAX_INPUTS];
    size_t ninputs;
    hearth_job_param params[HEARTH_NIP90_MAX_PARAMS];
    size_t nparams;
    char pow[8];                  /* --pow N as param "pow" */
    const char *output;
    hearth_customer_opts o;
    uint8_t provider[32];
    int has_provider;
    double sync_s;                /* market sync before choosing */
    int ephemeral_key;
    const char *wallet;           /* --wallet FILE: NIP-47 connection */
};

/* The wallet client of a NIP-47 connection file (0600; its content is
 * never printed) on loop; prints the error. */
int job_wallet_open(hearth_loop *loop, const char *path, const char *ca_file,
                    hearth_nwc **out);
/* DATA/ledger, opened (created); prints the error. */
int job_ledger_open(const char *data, hearth_ledger **out);
/* One line per record the settling pass worked on, and a summary, on
 * stderr (prefix "hearth: "), or JSON on stdout. */
void job_settle_print(const hearth_customer_settle_report *r, int json);

/* The data directory: --data, else $XDG_DATA_HOME/hearth, else
 * ~/.local/share/hearth (as `hearth run`). */
void job_data_dir(const char *opt, char *out, size_t n);
/* DATA/<sub>, created (0700) when create; prints the error. */
int job_subdir(const char *data, const char *sub, int create, char *out,
               size_t n);
/* "npub1abcdefghij..uvwxyz" for logs */
void job_npub_short(const uint8_t pk[32], char out[32]);

int job_submit_parse(struct job_submit *q, int argc, char **argv);
int job_submit_run(struct job_submit *q);
void job_submit_clear(struct job_submit *q);

int job_status(int argc, char **argv);
int job_cancel(int argc, char **argv);

#endif
