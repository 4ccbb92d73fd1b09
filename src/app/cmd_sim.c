/* hearth sim: the market simulator (docs/simulator.md) from the command
 * line. Results on stdout are a pure function of the options, so two runs
 * can be diffed; the wall-clock time goes to stderr. */
#include "cli.h"
#include "hearth/error.h"
#include "hearth/sim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
"usage: hearth sim [options]\n"
"\n"
"Simulates a market of synthetic providers and customers in simulated\n"
"time; every choice of provider is made by the same selection code\n"
"'hearth peers' and 'hearth job' use. Prints a Markdown summary, or JSON\n"
"with --json. The same options (seed included) give the same output.\n"
"\n"
"  --providers N     providers (default 1000)\n"
"  --jobs N          jobs to simulate (default 100000)\n"
"  --seed N          (default 1)\n"
"  --strategy S      balanced (default), cheapest, fastest, least-loaded,\n"
"                    round-robin\n"
"  --top-n N         choose at random among the best N (default 3)\n"
"  --customers N     peers sending jobs, each with its own view (default 32)\n"
"  --view N          providers each customer hears of (default 1000; 0 all)\n"
"  --refresh S       seconds between a customer's re-reads of offers (30)\n"
"  --load X          offered load, share of all job slots (default 0.6)\n"
"  --liars X         share of providers advertising better hardware (0.05)\n"
"  --failers X       share of providers failing many jobs (0.05)\n"
"  --churn X         share of providers leaving during the run (0.3)\n"
"  --pow-share X     share of jobs that are NIP-13 PoW (0.3)\n"
"  --attempts N      attempts per job, retries included (default 3)\n"
"\n"
"Settlement (docs/simulator.md \"Settlement\"):\n"
"  --settle          book, pay, verify and rate every job\n"
"  --dishonest-providers X  share returning tampered results or\n"
"                    overcharging (0.3)\n"
"  --nonpaying-customers X  share never paying: deadbeats and\n"
"                    disputers (0.3)\n"
"  --cheat-rate X    share of its jobs a dishonest provider cheats on (1)\n"
"  --verify X        chance a tampered result is detected (1)\n"
"  --credit-cap MSAT most credit a provider gives a customer (20000)\n"
"  --stranger-credit MSAT  credit before any payment (500)\n"
"  --pay-interval S  honest customers settle balances this often (600)\n"
"  --rep-interval S  customers recompute reputation this often (300)\n"
"  --rep-min X       providers scoring below are not chosen (0.4)\n"
"  --no-credit-limit unlimited credit (to see what limits do)\n"
"  --no-reputation   receipts do not steer choices (likewise)\n"
"\n"
"  --json            JSON on stdout instead of Markdown\n"
"  --markdown FILE   also write the Markdown summary to FILE\n";

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_share(const char *s, double max, double *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= 0 && v <= max))
        return -1;
    *out = v;
    return 0;
}

static int write_file(const char *path, const hearth_buf *b)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fwrite(b->p, 1, b->len, f) == b->len;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

int cmd_sim(int argc, char **argv)
{
    hearth_sim_config c;
    hearth_sim_defaults(&c);
    int json = 0;
    const char *markdown = NULL;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t u = 0;
        int bad = 0;
#define IS(name) (!strcmp(k, name))
        if (IS("-h") || IS("--help")) {
            fputs(usage_text, stdout);
            return CLI_OK;
        } else if (IS("--json")) {
            json = 1;
            continue;
        } else if (IS("--settle")) {
            c.settle = 1;
            continue;
        } else if (IS("--no-credit-limit")) {
            c.no_credit_limit = 1;
            continue;
        } else if (IS("--no-reputation")) {
            c.no_reputation = 1;
            continue;
        } else if (IS("--markdown")) {
            markdown = v;
            bad = !v;
        } else if (IS("--providers")) {
            bad = parse_u64(v, 10000000, &u) || !u;
            c.providers = (size_t)u;
        } else if (IS("--jobs")) {
            bad = parse_u64(v, 100000000, &u) || !u;
            c.jobs = (size_t)u;
        } else if (IS("--seed")) {
            bad = parse_u64(v, UINT64_MAX, &u);
            c.seed = u;
        } else if (IS("--strategy")) {
            bad = !v || hearth_strategy_parse(v, &c.strategy) != HEARTH_OK;
        } else if (IS("--top-n")) {
            bad = parse_u64(v, HEARTH_SELECT_TOPN_MAX, &u) || !u;
            c.top_n = (size_t)u;
        } else if (IS("--customers")) {
            bad = parse_u64(v, 100000, &u) || !u;
            c.customers = (size_t)u;
        } else if (IS("--view")) {
            bad = parse_u64(v, 10000000, &u);
            c.view = (size_t)u;
        } else if (IS("--attempts")) {
            bad = parse_u64(v, 100, &u) || !u;
            c.max_attempts = (unsigned)u;
        } else if (IS("--refresh")) {
            bad = parse_share(v, 1e9, &c.refresh_s) || !(c.refresh_s > 0);
        } else if (IS("--load")) {
            bad = parse_share(v, 100, &c.load) || !(c.load > 0);
        } else if (IS("--liars")) {
            bad = parse_share(v, 1, &c.liars);
        } else if (IS("--failers")) {
            bad = parse_share(v, 1, &c.failers);
        } else if (IS("--churn")) {
            bad = parse_share(v, 0.99, &c.churn);
        } else if (IS("--pow-share")) {
            bad = parse_share(v, 1, &c.pow_share);
        } else if (IS("--dishonest-providers")) {
            bad = parse_share(v, 1, &c.dishonest);
        } else if (IS("--nonpaying-customers")) {
            bad = parse_share(v, 1, &c.nonpaying);
        } else if (IS("--cheat-rate")) {
            bad = parse_share(v, 1, &c.cheat_rate);
        } else if (IS("--verify")) {
            bad = parse_share(v, 1, &c.verify_p);
        } else if (IS("--rep-min")) {
            bad = parse_share(v, 1, &c.rep_min);
        } else if (IS("--credit-cap")) {
            bad = parse_u64(v, UINT64_MAX, &u);
            c.credit_cap_msat = u;
        } else if (IS("--stranger-credit")) {
            bad = parse_u64(v, UINT64_MAX, &u);
            c.stranger_credit_msat = u;
        } else if (IS("--pay-interval")) {
            bad = parse_share(v, 1e9, &c.pay_interval_s) ||
                  !(c.pay_interval_s > 0);
        } else if (IS("--rep-interval")) {
            bad = parse_share(v, 1e9, &c.rep_interval_s) ||
                  !(c.rep_interval_s > 0);
        } else {
            cli_error("unknown option '%s' (see 'hearth sim --help')", k);
            return CLI_USAGE;
        }
#undef IS
        if (bad) {
            cli_error("%s needs %s", k,
                      !strcmp(k, "--strategy")
                          ? "balanced, cheapest, fastest, least-loaded or "
                            "round-robin"
                          : "a valid value (see 'hearth sim --help')");
            return CLI_USAGE;
        }
        i++;
    }
    if (c.liars + c.failers > 1) {
        cli_error("--liars and --failers add up to more than 1");
        return CLI_USAGE;
    }

    hearth_sim_result r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = hearth_sim_run(&c, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc) {
        cli_error("simulation failed: %s", hearth_strerror(rc));
        return CLI_ERROR;
    }
    fprintf(stderr, "hearth sim: %zu providers, %zu jobs in %.2f s\n",
            c.providers, c.jobs,
            (double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

    hearth_buf md = HEARTH_BUF_INIT, js = HEARTH_BUF_INIT;
    int out = CLI_OK;
    if ((markdown || !json) && hearth_sim_markdown(&r, &md)) {
        cli_error("out of memory");
        out = CLI_ERROR;
    } else if (json && hearth_sim_json(&r, &js)) {
        cli_error("out of memory");
        out = CLI_ERROR;
    } else {
        const hearth_buf *b = json ? &js : &md;
        if (fwrite(b->p, 1, b->len, stdout) != b->len || fflush(stdout)) {
            cli_error("cannot write the output");
            out = CLI_ERROR;
        }
        if (markdown && write_file(markdown, &md)) {
            cli_error("cannot write %s: %s", markdown, strerror(errno));
            out = CLI_ERROR;
        }
    }
    hearth_buf_free(&md);
    hearth_buf_free(&js);
    return out;
}
