/* hearth ledger: this peer's books (docs/ledger.md): balances per
 * counterparty and rail, history, CSV/JSON export, and the double-entry
 * check. Reads <data>/ledger, the ledger `hearth run` keeps. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/ledger.h"

#define LIST_MAX 1000u

static const char help[] =
"usage: hearth ledger balances [--data DIR] [--json]\n"
"       hearth ledger history [--limit N] [--data DIR] [--json]\n"
"       hearth ledger export [--csv | --json] [--data DIR]\n"
"       hearth ledger check [--data DIR]\n"
"\n"
"The double-entry ledger of this peer (docs/ledger.md), kept by 'hearth\n"
"run' in DIR/ledger (DIR: --data, else $XDG_DATA_HOME/hearth). Amounts are\n"
"millisatoshi. balances: per counterparty and rail, what they owe us (> 0)\n"
"or we owe them (< 0). history: newest entries first (default 50).\n"
"export: every entry, CSV (one line per leg, RFC 4180) or JSON. check:\n"
"every entry balances and the balances equal a replay of the entries\n"
"(exit status 1 if not).\n";

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

static const cli_verb verbs[] = {
    {"balances", balances, "what each counterparty owes or is owed"},
    {"history", history, "the newest entries"},
    {"export", export_run, "every entry as CSV or JSON"},
    {"check", check_run, "check the double-entry books"},
    {NULL, NULL, NULL},
};

int cmd_ledger(int argc, char **argv)
{
    return cli_dispatch("ledger", verbs, argc, argv);
}
