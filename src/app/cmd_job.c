/* hearth job: submit, follow and cancel NIP-90 jobs as a customer
 * (docs/cli-job.md). This file: the noun, shared helpers and the command
 * line of `hearth job submit`. */
#include "cli.h"
#include "job_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hearth/error.h"
#include "hearth/kinds.h"
#include "hearth/nip19.h"

static const char submit_help[] =
"usage: hearth job submit --kind K --input TEXT [--input-type T] ...\n"
"                         [--param k=v]... [--relay URL]... [options]\n"
"\n"
"Asks the market for a NIP-90 job and prints its result on stdout. Without\n"
"--provider it first syncs the market view from the relays, then picks a\n"
"provider with the same selection as 'hearth peers'; a provider that\n"
"fails (error, a price above --max-price, silence, a result that fails\n"
"the checks) is recorded and the next one is asked, until --deadline.\n"
"Kind 5970 (NIP-13 PoW) results are checked in full.\n"
"\n"
"  --kind K            NIP-90 job kind, 5000-5999 (5970 with --pow)\n"
"  --input TEXT        an input ('-' reads stdin); repeat for more\n"
"  --input-type T      text (default), url, event or job: the type of the\n"
"                      last --input\n"
"  --input-file PATH   an input read from a file\n"
"  --param k=v         a job parameter; repeat for more\n"
"  --pow N             kind 5970 with param pow=N: the input is the\n"
"                      unsigned event (pubkey and created_at filled in\n"
"                      from --key and now when missing)\n"
"  --output MIME       the output type asked for\n"
"  --provider KEY      only this provider (npub or hex)\n"
"  --strategy S        balanced (default), cheapest, fastest,\n"
"                      least-loaded, round-robin\n"
"  --top-n N           choose among the best N (3 balanced, else 1)\n"
"  --max-price MSAT    never bid or pay above this (default: no limit)\n"
"  --encrypt           NIP-44 encrypted request and replies\n"
"  --redundancy N      ask N providers at once and compare (1..8)\n"
"  --deadline S        give up after S seconds (default 300)\n"
"  --attempt-timeout S a provider silent this long has failed (60)\n"
"  --sync S            seconds the market sync may take (default 5)\n"
"  --data DIR          market view (DIR/view), job table (DIR/jobs) and\n"
"                      ledger (DIR/ledger); default $XDG_DATA_HOME/hearth.\n"
"                      Unfinished settlements found there are finished\n"
"                      first (as 'hearth ledger settle', at most 5 s)\n"
"  --wallet FILE       pay providers' Lightning invoices through this\n"
"                      NIP-47 connection (a file of mode 0600); without\n"
"                      it jobs are bought on credit only\n"
"  --json              one JSON object: id, provider, result, amount,\n"
"                      verified, attempts, agreement\n"
"\n"
"Exit status: 0 result delivered and checked, 1 every provider failed or\n"
"a check failed, 2 usage, 3 could not run.\n\n";

void job_data_dir(const char *opt, char *out, size_t n)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (opt)
        snprintf(out, n, "%s", opt);
    else if (xdg && *xdg)
        snprintf(out, n, "%s/hearth", xdg);
    else
        snprintf(out, n, "%s/.local/share/hearth", home ? home : ".");
}

int job_subdir(const char *data, const char *sub, int create, char *out,
               size_t n)
{
    struct stat sb;
    snprintf(out, n, "%s/%s", data, sub);
    if (!create) {
        if (stat(out, &sb) == 0 && S_ISDIR(sb.st_mode))
            return 0;
        cli_error("no job table in %s (give the --data DIR the job was "
                  "submitted or served with)", out);
        return -1;
    }
    if (cli_mkdir_parents(out) || (mkdir(out, 0700) && errno != EEXIST)) {
        cli_error("cannot create %s: %s", out, strerror(errno));
        return -1;
    }
    return 0;
}

void job_npub_short(const uint8_t pk[32], char out[32])
{
    hearth_buf b = HEARTH_BUF_INIT;
    if (hearth_nip19_encode32("npub", pk, &b) == 0 && b.len > 16)
        snprintf(out, 32, "%.12s..%s", b.p, b.p + b.len - 6);
    else
        snprintf(out, 32, "?");
    hearth_buf_free(&b);
}

/* ---- submit's command line ---- */

static int whole(const char *opt, const char *v, unsigned long long max,
                 unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long x = v && *v >= '0' && *v <= '9'
                               ? strtoull(v, &end, 10) : 0;
    if (!v || *v < '0' || *v > '9' || *end || errno || x > max) {
        cli_error("%s wants a whole number up to %llu", opt, max);
        return -1;
    }
    *out = x;
    return 0;
}

static int seconds(const char *opt, const char *v, double max, double *out)
{
    char *end;
    double x = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || !(x > 0) || x > max) {
        cli_error("%s wants seconds, more than 0 and up to %.0f", opt, max);
        return -1;
    }
    *out = x;
    return 0;
}

static int read_all(FILE *f, hearth_buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b->len + n > HEARTH_NIP90_MAX_INPUT)
            return HEARTH_ETOOBIG;
        if (hearth_buf_add(b, chunk, n))
            return HEARTH_ENOMEM;
    }
    return ferror(f) ? HEARTH_EIO : HEARTH_OK;
}

static int add_input(struct job_submit *q, const char *text, const char *path)
{
    if (q->ninputs == HEARTH_NIP90_MAX_INPUTS) {
        cli_error("at most %u inputs", HEARTH_NIP90_MAX_INPUTS);
        return -1;
    }
    hearth_buf *b = &q->data_in[q->ninputs];
    int rc = HEARTH_OK;
    if (path || !strcmp(text, "-")) {
        FILE *f = path ? fopen(path, "rb") : stdin;
        rc = f ? read_all(f, b) : HEARTH_EIO;
        if (f && f != stdin)
            fclose(f);
        /* a file's last newline is not part of the event or text */
        while (rc == HEARTH_OK && b->len && b->p[b->len - 1] == '\n')
            b->len--;
    } else if (strlen(text) > HEARTH_NIP90_MAX_INPUT) {
        rc = HEARTH_ETOOBIG;
    } else {
        rc = hearth_buf_add(b, text, strlen(text));
    }
    if (rc == HEARTH_OK && hearth_buf_addc(b, 0) == HEARTH_OK)
        b->len--; /* NUL-terminated for the parsers, not part of it */
    if (rc != HEARTH_OK) {
        cli_error("cannot read input %s: %s", path ? path : "from stdin",
                  rc == HEARTH_EIO ? strerror(errno) : hearth_strerror(rc));
        return -1;
    }
    q->inputs[q->ninputs].value = b->p ? b->p : "";
    q->inputs[q->ninputs].len = b->len;
    q->inputs[q->ninputs].type = "text";
    q->inputs[q->ninputs].marker = "";
    q->ninputs++;
    return 0;
}

static int input_type(struct job_submit *q, const char *v)
{
    static const char *const types[] = {"text", "url", "event", "job"};
    if (!q->ninputs) {
        cli_error("--input-type comes after the --input it describes");
        return -1;
    }
    for (size_t i = 0; i < 4; i++)
        if (!strcmp(v, types[i])) {
            q->inputs[q->ninputs - 1].type = types[i];
            return 0;
        }
    cli_error("--input-type: text, url, event or job");
    return -1;
}

static int add_param(struct job_submit *q, char *kv)
{
    char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        cli_error("--param wants key=value");
        return -1;
    }
    if (q->nparams == HEARTH_NIP90_MAX_PARAMS) {
        cli_error("at most %u params", HEARTH_NIP90_MAX_PARAMS);
        return -1;
    }
    *eq = 0;
    q->params[q->nparams].key = kv;
    q->params[q->nparams].value = eq + 1;
    q->nparams++;
    return 0;
}

static int set_pow(struct job_submit *q, const char *v)
{
    unsigned long long x;
    if (whole("--pow", v, 256, &x))
        return -1;
    snprintf(q->pow, sizeof q->pow, "%llu", x);
    if (!q->kind)
        q->kind = HEARTH_KIND_JOB_POW;
    if (q->nparams == HEARTH_NIP90_MAX_PARAMS) {
        cli_error("at most %u params", HEARTH_NIP90_MAX_PARAMS);
        return -1;
    }
    q->params[q->nparams].key = "pow";
    q->params[q->nparams++].value = q->pow;
    return 0;
}

/* the options with a number: 1 taken, 0 not one of them, -1 bad */
static int number_opt(struct job_submit *q, const char *a, const char *v)
{
    unsigned long long x;
    double s;
    if (!strcmp(a, "--kind")) {
        if (whole(a, v, HEARTH_KIND_JOB_MAX, &x))
            return -1;
        if (x < HEARTH_KIND_JOB_MIN) {
            cli_error("--kind wants a NIP-90 job kind, 5000-5999");
            return -1;
        }
        q->kind = (uint32_t)x;
    } else if (!strcmp(a, "--max-price")) {
        if (whole(a, v, UINT64_MAX, &x))
            return -1;
        q->o.max_price_msat = x;
    } else if (!strcmp(a, "--redundancy")) {
        if (whole(a, v, HEARTH_CUSTOMER_MAX_REDUNDANCY, &x) || x == 0)
            return x == 0 ? (cli_error("--redundancy is 1..8"), -1) : -1;
        q->o.redundancy = (unsigned)x;
    } else if (!strcmp(a, "--top-n")) {
        if (whole(a, v, HEARTH_SELECT_TOPN_MAX, &x))
            return -1;
        q->o.top_n = (size_t)x;
    } else if (!strcmp(a, "--deadline") || !strcmp(a, "--attempt-timeout")) {
        if (seconds(a, v, 86400, &s))
            return -1;
        if (a[2] == 'd')
            q->o.deadline_ms = (uint32_t)(s * 1000);
        else
            q->o.attempt_timeout_ms = (uint32_t)(s * 1000);
    } else if (!strcmp(a, "--sync")) {
        if (seconds(a, v, 3600, &q->sync_s))
            return -1;
    } else {
        return 0;
    }
    return 1;
}

/* the options with a text value: 1 taken, 0 not one of them, -1 bad */
static int text_opt(struct job_submit *q, const char *a, char *v)
{
    if (!strcmp(a, "--input"))
        return add_input(q, v, NULL) ? -1 : 1;
    if (!strcmp(a, "--input-file"))
        return add_input(q, NULL, v) ? -1 : 1;
    if (!strcmp(a, "--input-type"))
        return input_type(q, v) ? -1 : 1;
    if (!strcmp(a, "--param"))
        return add_param(q, v) ? -1 : 1;
    if (!strcmp(a, "--pow"))
        return set_pow(q, v) ? -1 : 1;
    if (!strcmp(a, "--output"))
        return (q->output = v), 1;
    if (!strcmp(a, "--data"))
        return snprintf(q->data, sizeof q->data, "%s", v), 1;
    if (!strcmp(a, "--wallet"))
        return (q->wallet = v), 1;
    if (!strcmp(a, "--provider")) {
        if (pool_cli_pubkey(v, q->provider))
            return -1;
        q->has_provider = 1;
        return 1;
    }
    if (!strcmp(a, "--strategy")) {
        if (hearth_strategy_parse(v, &q->o.strategy) == 0)
            return 1;
        cli_error("--strategy: balanced, cheapest, fastest, least-loaded "
                  "or round-robin");
        return -1;
    }
    return 0;
}

int job_submit_parse(struct job_submit *q, int argc, char **argv)
{
    hearth_customer_opts_default(&q->o);
    q->sync_s = 5;
    for (int i = 1; i < argc; i++) {
        int r = pool_cli_opt(&q->c, argc, argv, &i);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--encrypt")) {
            q->o.encrypt = 1;
            continue;
        }
        if (i + 1 >= argc) {
            cli_error("unknown option or missing value: '%s' (see --help)",
                      a);
            return -1;
        }
        r = number_opt(q, a, argv[i + 1]);
        if (r == 0)
            r = text_opt(q, a, argv[i + 1]);
        if (r < 0)
            return -1;
        if (r == 0) {
            cli_error("unknown option '%s' (see --help)", a);
            return -1;
        }
        i++;
    }
    return 0;
}

static int check_submit(struct job_submit *q)
{
    if (!q->kind) {
        cli_error("which job? give --kind K (or --pow N for NIP-13 PoW)");
        return -1;
    }
    if (!q->ninputs) {
        cli_error("no input: give --input TEXT, --input - or --input-file");
        return -1;
    }
    if (!q->c.nrelays) {
        cli_error("no relay: give at least one --relay URL");
        return -1;
    }
    if (q->has_provider && q->o.redundancy > 1) {
        cli_error("--redundancy needs several providers: drop --provider");
        return -1;
    }
    return 0;
}

void job_submit_clear(struct job_submit *q)
{
    for (size_t i = 0; i < HEARTH_NIP90_MAX_INPUTS; i++)
        hearth_buf_free(&q->data_in[i]);
}

static int submit(int argc, char **argv)
{
    struct job_submit *q = calloc(1, sizeof *q);
    if (!q) {
        cli_error("out of memory");
        return CLI_ERROR;
    }
    int rc = job_submit_parse(q, argc, argv) ? CLI_USAGE : CLI_OK;
    if (rc == CLI_OK && q->c.help)
        printf("%s%s", submit_help, pool_cli_help);
    else if (rc == CLI_OK && check_submit(q))
        rc = CLI_USAGE;
    else if (rc == CLI_OK)
        rc = job_submit_run(q);
    job_submit_clear(q);
    free(q);
    return rc;
}

static const cli_verb verbs[] = {
    {"submit", submit, "ask the market for a job and print its result"},
    {"status", job_status, "show a recorded job and its attempts"},
    {"cancel", job_cancel, "withdraw a running job (NIP-09 deletion)"},
    {NULL, NULL, NULL}
};

int cmd_job(int argc, char **argv)
{
    return cli_dispatch("job", verbs, argc, argv);
}
