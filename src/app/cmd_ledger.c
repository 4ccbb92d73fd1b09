/* hearth ledger: this peer's books (docs/ledger.md): balances per
 * counterparty and rail, history, CSV/JSON export, and the double-entry
 * check. Reads <data>/ledger, the ledger `hearth run` keeps. */
#include "cli.h"
#include "job_cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/ledger.h"

#define LIST_MAX 1000u
#define SETTLE_DEFAULT_S 15.0

static const char help[] =
"usage: hearth ledger balances [--data DIR] [--json]\n"
"       hearth ledger history [--limit N] [--data DIR] [--json]\n"
"       hearth ledger export [--csv | --json] [--data DIR]\n"
"       hearth ledger check [--data DIR]\n"
"       hearth ledger settle [--data DIR] [--key SPEC] [--relay URL]...\n"
"                            [--wallet FILE] [--json] [--timeout S]\n"
"\n"
"The double-entry ledger of this peer (docs/ledger.md), kept by 'hearth\n"
"run' in DIR/ledger (DIR: --data, else $XDG_DATA_HOME/hearth). Amounts are\n"
"millisatoshi. balances: per counterparty and rail, what they owe us (> 0)\n"
"or we owe them (< 0). history: newest entries first (default 50).\n"
"export: every entry, CSV (one line per leg, RFC 4180) or JSON. check:\n"
"every entry balances and the balances equal a replay of the entries\n"
"(exit status 1 if not). settle: finish the settlements of the jobs\n"
"this peer bought that a crash or an early exit left unfinished\n"
"(docs/settlement.md): look up payments on the wallet (--wallet, a NIP-47\n"
"connection file of mode 0600), fetch results, feedback and metering\n"
"notes from the relays, answer final notes with receipts, release the\n"
"prepayments of jobs that failed (default --timeout 15 s; exit status 1\n"
"when some still wait).\n";

struct opts {
    char dir[PATH_MAX];
    int json, csv, help;
    unsigned long limit;
};

static int parse(struct opts *o, int argc, char **argv)
{
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    memset(o, 0, sizeof *o);
    o->limit = 50;
    if (xdg && *xdg)
        snprintf(o->dir, sizeof o->dir, "%s/hearth/ledger", xdg);
    else
        snprintf(o->dir, sizeof o->dir, "%s/.local/share/hearth/ledger",
                 home ? home : ".");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json"))
            o->json = 1;
        else if (!strcmp(a, "--csv"))
            o->csv = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            o->help = 1;
        else if (!strcmp(a, "--data") && i + 1 < argc)
            snprintf(o->dir, sizeof o->dir, "%s/ledger", argv[++i]);
        else if (!strcmp(a, "--limit") && i + 1 < argc) {
            char *end;
            o->limit = strtoul(argv[++i], &end, 10);
            if (*end || !o->limit || o->limit > LIST_MAX) {
                cli_error("--limit wants 1 to %u", LIST_MAX);
                return -1;
            }
        } else {
            cli_error("unexpected argument '%s' (see --help)", a);
            return -1;
        }
    }
    return 0;
}

static int open_ledger(const struct opts *o, hearth_ledger **l)
{
    if (hearth_ledger_open(o->dir, l)) {
        cli_error("cannot open the ledger in %s: %s (is --data right?)",
                  o->dir, strerror(errno));
        return CLI_ERROR;
    }
    return CLI_OK;
}

static void print_balance(const hearth_ledger_balance *b, int json, int first)
{
    char cp[65];
    hearth_hex_encode(b->counterparty, 32, cp);
    if (json)
        printf("%s{\"counterparty\":\"%s\",\"rail\":\"%s\",\"net_owed_msat\":"
               "%lld,\"revenue_msat\":%lld,\"expense_msat\":%lld,"
               "\"disputed_msat\":%lld}", first ? "" : ",", cp,
               hearth_ledger_rail_name(b->rail), (long long)b->net_owed,
               (long long)-b->acct[HEARTH_ACCT_REVENUE],
               (long long)b->acct[HEARTH_ACCT_EXPENSE],
               (long long)b->acct[HEARTH_ACCT_DISPUTED]);
    else
        printf("%.16s...  %-9s %14lld %14lld %14lld\n", cp,
               hearth_ledger_rail_name(b->rail), (long long)b->net_owed,
               (long long)-b->acct[HEARTH_ACCT_REVENUE],
               (long long)b->acct[HEARTH_ACCT_EXPENSE]);
}

static int balances(int argc, char **argv)
{
    struct opts o;
    hearth_ledger *l = NULL;
    size_t n = 0;
    if (parse(&o, argc, argv))
        return CLI_USAGE;
    if (o.help)
        return fputs(help, stdout), CLI_OK;
    int rc = open_ledger(&o, &l);
    hearth_ledger_balance *b = calloc(LIST_MAX, sizeof *b);
    if (rc == CLI_OK && (!b || hearth_ledger_balances(l, b, LIST_MAX, &n))) {
        cli_error("cannot read the balances");
        rc = CLI_ERROR;
    }
    if (rc == CLI_OK && !o.json)
        printf("counterparty         rail      owed to us (msat)  revenue     "
               "   expense\n");
    if (rc == CLI_OK && o.json)
        printf("[");
    for (size_t i = 0; rc == CLI_OK && i < n; i++)
        print_balance(&b[i], o.json, i == 0);
    if (rc == CLI_OK && o.json)
        printf("]\n");
    free(b);
    hearth_ledger_close(l);
    return rc;
}

static int history(int argc, char **argv)
{
    struct opts o;
    hearth_ledger *l = NULL;
    size_t n = 0;
    if (parse(&o, argc, argv))
        return CLI_USAGE;
    if (o.help)
        return fputs(help, stdout), CLI_OK;
    int rc = open_ledger(&o, &l);
    hearth_ledger_entry *e = calloc(o.limit, sizeof *e);
    if (rc == CLI_OK && (!e || hearth_ledger_history(l, NULL, e, o.limit, &n))) {
        cli_error("cannot read the history");
        rc = CLI_ERROR;
    }
    for (size_t i = 0; rc == CLI_OK && i < n; i++) {
        char cp[65], job[65];
        hearth_hex_encode(e[i].counterparty, 32, cp);
        hearth_hex_encode(e[i].job_id, 32, job);
        if (o.json)
            printf("{\"seq\":%llu,\"time\":%lld,\"kind\":\"%s\",\"side\":\"%s\","
                   "\"rail\":\"%s\",\"counterparty\":\"%s\",\"job\":\"%s\","
                   "\"amount_msat\":%llu}\n",
                   (unsigned long long)e[i].seq, (long long)e[i].time,
                   hearth_ledger_kind_name(e[i].kind),
                   e[i].side == HEARTH_SIDE_SELL ? "sell" : "buy",
                   hearth_ledger_rail_name(e[i].rail), cp, job,
                   (unsigned long long)e[i].amount_msat);
        else
            printf("%6llu %-9s %-4s %-9s %.12s  job %.12s %12llu msat\n",
                   (unsigned long long)e[i].seq,
                   hearth_ledger_kind_name(e[i].kind),
                   e[i].side == HEARTH_SIDE_SELL ? "sell" : "buy",
                   hearth_ledger_rail_name(e[i].rail), cp, job,
                   (unsigned long long)e[i].amount_msat);
    }
    free(e);
    hearth_ledger_close(l);
    return rc;
}

static int export_run(int argc, char **argv)
{
    struct opts o;
    hearth_ledger *l = NULL;
    hearth_buf b = HEARTH_BUF_INIT;
    if (parse(&o, argc, argv))
        return CLI_USAGE;
    if (o.help)
        return fputs(help, stdout), CLI_OK;
    int rc = open_ledger(&o, &l);
    if (rc == CLI_OK && (o.json ? hearth_ledger_export_json(l, &b)
                                : hearth_ledger_export_csv(l, &b))) {
        cli_error("cannot export the ledger");
        rc = CLI_ERROR;
    }
    if (rc == CLI_OK)
        fwrite(b.p, 1, b.len, stdout);
    hearth_buf_free(&b);
    hearth_ledger_close(l);
    return rc;
}

static int check_run(int argc, char **argv)
{
    struct opts o;
    hearth_ledger *l = NULL;
    hearth_ledger_report r;
    if (parse(&o, argc, argv))
        return CLI_USAGE;
    if (o.help)
        return fputs(help, stdout), CLI_OK;
    int rc = open_ledger(&o, &l);
    if (rc != CLI_OK)
        return rc;
    int bad = hearth_ledger_check(l, &r) != HEARTH_OK;
    printf("%llu entries, %llu balances, sum %lld msat, %llu bad entries, "
           "%llu bad balances, %llu bad index, %llu open reservations: %s\n",
           (unsigned long long)r.entries, (unsigned long long)r.balances,
           (long long)r.sum, (unsigned long long)r.bad_entries,
           (unsigned long long)r.bad_balances,
           (unsigned long long)r.bad_index,
           (unsigned long long)r.open_reservations, bad ? "BAD" : "ok");
    hearth_ledger_close(l);
    return bad ? CLI_FAIL : CLI_OK;
}

/* ---- settle: the customer's unfinished settlements ---- */

struct settle_run {
    struct pool_cli c;
    char data[PATH_MAX];
    const char *wallet;
    hearth_jobdb *db;
    hearth_ledger *ledger;
    hearth_nwc *nwc;
    hearth_customer *cust;
    hearth_customer_settle_report rep;
    int done, polls;
    lws_sorted_usec_list_t flush;
};

/* receipts go out before we leave (at most 5 s) */
static void settle_flush(lws_sorted_usec_list_t *sul)
{
    struct settle_run *s = lws_container_of(sul, struct settle_run, flush);
    if (!hearth_pool_pending(s->c.pool) || ++s->polls > 100) {
        hearth_loop_stop(s->c.loop);
        return;
    }
    lws_sul_schedule(hearth_loop_lws(s->c.loop), 0, &s->flush, settle_flush,
                     50 * 1000);
}

static int settle_parse(struct settle_run *s, int argc, char **argv)
{
    const char *data = NULL;
    for (int i = 1; i < argc; i++) {
        int r = pool_cli_opt(&s->c, argc, argv, &i);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if (!strcmp(argv[i], "--data") && i + 1 < argc) {
            data = argv[++i];
        } else if (!strcmp(argv[i], "--wallet") && i + 1 < argc) {
            s->wallet = argv[++i];
        } else {
            cli_error("unexpected argument '%s' (see --help)", argv[i]);
            return -1;
        }
    }
    job_data_dir(data, s->data, sizeof s->data);
    return 0;
}

static void settle_done(const hearth_customer_settle_report *r, void *user)
{
    struct settle_run *s = user;
    s->rep = *r;
    s->done = 1;
    lws_sul_schedule(hearth_loop_lws(s->c.loop), 0, &s->flush, settle_flush,
                     1);
}

static int settle_open(struct settle_run *s)
{
    char dir[PATH_MAX + 8];
    hearth_pool_opts po;
    int rc;
    if (job_subdir(s->data, "jobs", 0, dir, sizeof dir))
        return CLI_ERROR;
    if ((rc = hearth_jobdb_open(dir, &s->db))) {
        cli_error("cannot open the job table in %s: %s", dir,
                  hearth_strerror(rc));
        return CLI_ERROR;
    }
    if (job_ledger_open(s->data, &s->ledger) || pool_cli_key(&s->c))
        return CLI_ERROR;
    if (!s->c.has_key) {
        cli_error("no key: give the --key the jobs were submitted with");
        return CLI_USAGE;
    }
    hearth_pool_opts_default(&po);
    if ((rc = pool_cli_open(&s->c, &po)))
        return rc;
    if (s->wallet &&
        job_wallet_open(s->c.loop, s->wallet, s->c.ca_file, &s->nwc))
        return CLI_ERROR;
    if (hearth_customer_new(s->c.loop, s->c.pool, NULL, s->db, s->c.sk,
                            &s->cust)) {
        cli_error("cannot start the customer");
        return CLI_ERROR;
    }
    hearth_customer_set_ledger(s->cust, s->ledger);
    hearth_customer_set_wallet(s->cust, s->nwc);
    return CLI_OK;
}

static int settle_run(struct settle_run *s)
{
    double secs = s->c.has_timeout ? s->c.timeout : SETTLE_DEFAULT_S;
    int rc = settle_open(s);
    if (rc != CLI_OK)
        return rc;
    if (hearth_customer_settle_pending(s->cust, (uint32_t)(secs * 1000),
                                       settle_done, s)) {
        cli_error("cannot start settling");
        return CLI_ERROR;
    }
    if (hearth_loop_run(s->c.loop) || !s->done) {
        cli_error("interrupted before the settlements were finished");
        return CLI_FAIL;
    }
    job_settle_print(&s->rep, s->c.json);
    return s->rep.waiting ? CLI_FAIL : CLI_OK;
}

static int settle(int argc, char **argv)
{
    struct settle_run *s = calloc(1, sizeof *s);
    if (!s) {
        cli_error("out of memory");
        return CLI_ERROR;
    }
    int rc = settle_parse(s, argc, argv) ? CLI_USAGE : CLI_OK;
    if (rc == CLI_OK && s->c.help)
        fputs(help, stdout);
    else if (rc == CLI_OK)
        rc = settle_run(s);
    hearth_nwc_free(s->nwc);
    hearth_customer_free(s->cust);
    if (s->c.loop)
        lws_sul_cancel(&s->flush);
    pool_cli_close(&s->c);
    hearth_jobdb_close(s->db);
    hearth_ledger_close(s->ledger);
    free(s);
    return rc;
}

static const cli_verb verbs[] = {
    {"balances", balances, "what each counterparty owes or is owed"},
    {"history", history, "the newest entries"},
    {"export", export_run, "every entry as CSV or JSON"},
    {"check", check_run, "check the double-entry books"},
    {"settle", settle, "finish the settlements of jobs bought"},
    {NULL, NULL, NULL},
};

int cmd_ledger(int argc, char **argv)
{
    return cli_dispatch("ledger", verbs, argc, argv);
}
