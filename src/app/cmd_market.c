/* hearth market sync: fill or refresh the local market view from relays
 * (hearth_sync, docs/market-view.md "Sync"), once or following. */
#include "cli.h"
#include "pool_cli.h"

#include "hearth/error.h"
#include "hearth/kinds.h"
#include "hearth/sync.h"
#include "hearth/view.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_S 30.0
#define MAX_VERIFY_THREADS 4  /* past this the writer is the bottleneck */

struct market_sync {
    struct pool_cli c;
    const char *data;
    int follow;
    uint32_t kinds[HEARTH_SYNC_MAX_KINDS];
    size_t nkinds;
    hearth_view *view;
    hearth_sync *sync;
};

static const char sync_help[] =
    "usage: hearth market sync --relay URL [--relay URL...] [--data DIR]\n"
    "                          [--follow] [--kind K...] [--timeout S] [--json]\n"
    "\n"
    "Fills or refreshes the local market view (what 'hearth peers' ranks)\n"
    "from relays: live offers (kind 31907) and NIP-09 deletions of offers,\n"
    "checked and stored in batches; expired offers are purged. Without\n"
    "--follow it exits once every relay has sent what it stores (EOSE) and\n"
    "prints what happened: offers stored (and replaced), duplicates, older\n"
    "versions, deletions (and the offers they removed), rejected events with\n"
    "their reasons, expired offers purged. With --follow it keeps the view\n"
    "up to date until SIGINT/SIGTERM (or --timeout), then prints the same.\n"
    "\n"
    "Exit status 1 if a relay failed, closed the subscription or had not\n"
    "finished in time (without --follow), or the view could not store a\n"
    "batch. Rejected offers are other people's mistakes: they are counted,\n"
    "not an error.\n"
    "\n"
    "options:\n"
    "  --data DIR       the market view (default $XDG_DATA_HOME/hearth/view,\n"
    "                   i.e. ~/.local/share/hearth/view, as 'hearth peers')\n"
    "  --follow         keep following after EOSE\n"
    "  --kind K         only offers of this NIP-90 job kind; repeat for more\n"
    "                   (default every kind)\n"
    "  --json           the counts as one JSON object\n"
    "  --timeout S      give up after S seconds (default 30; none with\n"
    "                   --follow)\n";

static void default_dir(char *out, size_t n)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, n, "%s/hearth/view", xdg);
    else
        snprintf(out, n, "%s/.local/share/hearth/view", home ? home : ".");
}

static int parse_args(struct market_sync *q, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int r = pool_cli_opt(&q->c, argc, argv, &i);
        const char *a = argv[i];
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if (!strcmp(a, "--follow")) {
            q->follow = 1;
        } else if (!strcmp(a, "--data") && i + 1 < argc) {
            q->data = argv[++i];
        } else if (!strcmp(a, "--kind") && i + 1 < argc) {
            char *end;
            errno = 0;
            unsigned long k = strtoul(argv[++i], &end, 10);
            if (*end || errno || k < HEARTH_KIND_JOB_MIN ||
                k > HEARTH_KIND_JOB_MAX) {
                cli_error("--kind wants a NIP-90 job kind, 5000-5999");
                return -1;
            }
            if (q->nkinds == HEARTH_SYNC_MAX_KINDS) {
                cli_error("at most %u --kind", HEARTH_SYNC_MAX_KINDS);
                return -1;
            }
            q->kinds[q->nkinds++] = (uint32_t)k;
        } else {
            cli_error("unexpected argument '%s' (see --help)", a);
            return -1;
        }
    }
    return 0;
}

static void on_caught_up(hearth_sync *s, void *user)
{
    struct market_sync *q = user;
    const hearth_sync_stats *st = hearth_sync_get_stats(s);
    if (!q->follow) {
        hearth_loop_stop(q->c.loop);
        return;
    }
    fprintf(stderr, "hearth: caught up (%llu events, %llu stored); "
            "following\n", (unsigned long long)st->events,
            (unsigned long long)st->stored);
}

/* one stderr line per relay that did not finish; returns how many */
static int report_relays(struct market_sync *q)
{
    static const char *const words[] = {"no answer", "no EOSE", "eose",
                                        "closed", "failed"};
    hearth_sub *sub = hearth_sync_sub(q->sync);
    hearth_pool_relay_info rs;
    int bad = 0;
    for (size_t i = 0; i < hearth_pool_nrelays(q->c.pool); i++) {
        const char *msg = "";
        enum hearth_sub_state x = hearth_sub_relay_state(sub, i, &msg);
        hearth_pool_relay_stats(q->c.pool, i, &rs);
        if ((x == HEARTH_SUB_EOSE || (q->follow && x == HEARTH_SUB_SENT)) &&
            !rs.drops)
            continue;
        bad++;
        if (rs.drops)
            continue; /* pool_cli_report prints those */
        if (!*msg)
            msg = q->c.timed_out ? "timed out" : rs.last_error;
        fprintf(stderr, "hearth: relay %s: %s: %s\n", rs.url, words[x],
                *msg ? msg : "-");
    }
    return bad;
}

static void print_counts(struct market_sync *q, uint64_t offers)
{
    const hearth_sync_stats *st = hearth_sync_get_stats(q->sync);
    const struct {
        const char *key, *label;
        uint64_t n;
    } rows[] = {
        {"events", "events", st->events},
        {"stored", "stored", st->stored},
        {"replaced", "  replacing", st->replaced},
        {"duplicate", "duplicate", st->duplicate},
        {"older", "older", st->older},
        {"deletions", "deletions", st->deletions},
        {"deleted", "  offers removed", st->deleted},
        {"was_deleted", "deleted before", st->was_deleted},
        {"rejected", "rejected", st->rejected},
        {"rate_limited", "rate limited", st->rate_limited},
        {"ignored", "ignored", st->ignored},
        {"errors", "errors", st->errors},
        {"expired", "expired", st->expired},
    };
    hearth_buf b = HEARTH_BUF_INIT;
    size_t nrows = sizeof rows / sizeof rows[0];
    if (q->c.json) {
        hearth_buf_adds(&b, "{\"data\":");
        hearth_buf_addjson(&b, q->data, strlen(q->data));
        hearth_buf_addf(&b, ",\"relays\":%zu,\"caught_up\":%s,\"offers\":%llu",
                        hearth_pool_nrelays(q->c.pool),
                        hearth_sync_caught_up(q->sync) ? "true" : "false",
                        (unsigned long long)offers);
        for (size_t i = 0; i < nrows; i++)
            hearth_buf_addf(&b, ",\"%s\":%llu", rows[i].key,
                            (unsigned long long)rows[i].n);
        hearth_buf_adds(&b, ",\"reasons\":{");
        for (size_t i = 0; i < st->nreasons; i++) {
            if (i)
                hearth_buf_addc(&b, ',');
            hearth_buf_addjson(&b, st->reasons[i].why,
                               strlen(st->reasons[i].why));
            hearth_buf_addf(&b, ":%llu", (unsigned long long)st->reasons[i].n);
        }
        if (st->other_reasons)
            hearth_buf_addf(&b, "%s\"other\":%llu", st->nreasons ? "," : "",
                            (unsigned long long)st->other_reasons);
        hearth_buf_addf(&b, "},\"newest\":%lld}\n", (long long)st->newest);
    } else {
        hearth_buf_addf(&b, "market view %s: %llu offers\n", q->data,
                        (unsigned long long)offers);
        for (size_t i = 0; i < nrows; i++) {
            hearth_buf_addf(&b, "  %-16s %llu\n", rows[i].label,
                            (unsigned long long)rows[i].n);
            if (!strcmp(rows[i].key, "rejected")) {
                for (size_t r = 0; r < st->nreasons; r++)
                    hearth_buf_addf(&b, "    %6llu  %s\n",
                                    (unsigned long long)st->reasons[r].n,
                                    st->reasons[r].why);
                if (st->other_reasons)
                    hearth_buf_addf(&b, "    %6llu  (other reasons)\n",
                                    (unsigned long long)st->other_reasons);
            }
        }
    }
    if (!hearth_buf_error(&b))
        fwrite(b.p, 1, b.len, stdout);
    fflush(stdout);
    hearth_buf_free(&b);
}

static int open_view(struct market_sync *q, char *dir, size_t dirlen)
{
    hearth_view_opts vo;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (!q->data) {
        default_dir(dir, dirlen);
        q->data = dir;
    }
    if (cli_mkdir_parents(q->data)) {
        cli_error("cannot create the directories leading to %s: %s",
                  q->data, strerror(errno));
        return CLI_ERROR;
    }
    hearth_view_opts_default(&vo);
    vo.verify_threads = cpus > MAX_VERIFY_THREADS ? MAX_VERIFY_THREADS
                        : cpus > 0                ? (unsigned)cpus
                                                  : 1;
    int rc = hearth_view_open(q->data, &vo, &q->view);
    if (rc) {
        cli_error("cannot open the market view in %s: %s", q->data,
                  rc == HEARTH_EIO ? strerror(errno) : hearth_strerror(rc));
        return CLI_ERROR;
    }
    return CLI_OK;
}

static int run(struct market_sync *q)
{
    hearth_pool_opts o;
    hearth_sync_opts so;
    hearth_view_info info;
    hearth_pool_opts_default(&o);
    int rc = pool_cli_open(&q->c, &o);
    if (rc)
        return rc;
    hearth_sync_opts_default(&so);
    memcpy(so.job_kinds, q->kinds, sizeof q->kinds);
    so.njob_kinds = q->nkinds;
    so.on_caught_up = on_caught_up;
    so.user = q;
    if (hearth_sync_new(q->c.loop, q->c.pool, q->view, &so, &q->sync)) {
        cli_error("could not subscribe to the market");
        return CLI_ERROR;
    }
    double t = q->c.has_timeout ? q->c.timeout
               : q->follow      ? 0
                                : DEFAULT_TIMEOUT_S;
    if (t > 0)
        pool_cli_arm_timeout(&q->c, t);
    if (hearth_loop_run(q->c.loop)) {
        cli_error("event loop failed");
        return CLI_ERROR;
    }
    int bad = hearth_sync_flush(q->sync) != HEARTH_OK;
    bad |= hearth_sync_purge(q->sync, (int64_t)time(NULL)) != HEARTH_OK;
    if (!q->follow || !hearth_sync_caught_up(q->sync))
        bad |= report_relays(q) > 0;
    bad |= pool_cli_report(&q->c) > 0;
    bad |= hearth_sync_get_stats(q->sync)->errors > 0;
    if (hearth_view_get_info(q->view, &info))
        info.offers = 0;
    print_counts(q, info.offers);
    return bad ? CLI_FAIL : CLI_OK;
}

static int sync_run(int argc, char **argv)
{
    struct market_sync q;
    char dir[4096];
    memset(&q, 0, sizeof q);
    int rc = parse_args(&q, argc, argv) ? CLI_USAGE : CLI_OK;
    if (rc == CLI_OK && q.c.help)
        printf("%s%s", sync_help, pool_cli_help);
    else if (rc == CLI_OK && !q.c.nrelays) {
        cli_error("no relay: give at least one --relay URL");
        rc = CLI_USAGE;
    } else if (rc == CLI_OK && pool_cli_key(&q.c))
        rc = CLI_ERROR;
    else if (rc == CLI_OK && (rc = open_view(&q, dir, sizeof dir)) == CLI_OK)
        rc = run(&q);
    /* the sync unsubscribes and flushes: before the pool and the view go */
    hearth_sync_free(q.sync);
    pool_cli_close(&q.c);
    hearth_view_close(q.view);
    return rc;
}

static const cli_verb verbs[] = {
    {"sync", sync_run, "fill and refresh the market view from relays"},
    {"reputation", cmd_market_reputation, "score providers from receipts"},
    {"challenge", cmd_market_challenge, "check a provider's claimed hash rate"},
    {NULL, NULL, NULL}
};

int cmd_market(int argc, char **argv)
{
    return cli_dispatch("market", verbs, argc, argv);
}
