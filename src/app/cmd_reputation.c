/* hearth market reputation: follow metering notes and receipts on relays
 * for a while (hearth_repsync), score every provider as seen from our key
 * with priors from our ledger, fill the market view's reputation slot and
 * print each score with its explanation (docs/reputation.md "Wiring"). */
#include "cli.h"
#include "pool_cli.h"

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/ledger.h"
#include "hearth/repstore.h"
#include "hearth/repsync.h"
#include "hearth/reputation.h"
#include "hearth/view.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_SYNC_S 30.0

struct rep_cli {
    struct pool_cli c;
    char data[4096];
    double sync_s;
    uint8_t pk[32];
    hearth_view *view;
    hearth_repstore *store;
    hearth_ledger *ledger;
    hearth_repsync *rs;
};

static const char rep_help[] =
    "usage: hearth market reputation [--relay URL]... [--data DIR] [--key SPEC]\n"
    "                                [--sync S] [--json]\n"
    "\n"
    "Scores every provider from the metering notes (kind 7441) and receipts\n"
    "(kind 7442) seen on the relays, as seen from your key: trust flows from\n"
    "you along backed spending, with your own ledger's counterparties as\n"
    "priors (docs/reputation.md). Follows the relays until each has sent what\n"
    "it stores (EOSE) or S seconds pass, keeps what it saw in DIR/reputation,\n"
    "writes the scores into the market view (DIR/view, what 'hearth peers'\n"
    "ranks) and prints one line per provider, best first: score, confidence\n"
    "and why. Without --relay it scores what DIR/reputation already holds.\n"
    "\n"
    "Exit status 1 if a relay failed or the scores could not be computed or\n"
    "written.\n"
    "\n"
    "options:\n"
    "  --data DIR       data directory (default $XDG_DATA_HOME/hearth, i.e.\n"
    "                   ~/.local/share/hearth, as 'hearth run'); the ledger\n"
    "                   DIR/ledger is read for priors when it exists\n"
    "  --sync S         follow the relays at most S seconds (default 30)\n"
    "  --json           the scores as one JSON array\n";

static void default_data(char *out, size_t n)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, n, "%s/hearth", xdg);
    else
        snprintf(out, n, "%s/.local/share/hearth", home ? home : ".");
}

static int parse_args(struct rep_cli *q, int argc, char **argv)
{
    q->sync_s = DEFAULT_SYNC_S;
    for (int i = 1; i < argc; i++) {
        int r = pool_cli_opt(&q->c, argc, argv, &i);
        const char *a = argv[i];
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if (!strcmp(a, "--data") && i + 1 < argc) {
            snprintf(q->data, sizeof q->data, "%s", argv[++i]);
        } else if (!strcmp(a, "--sync") && i + 1 < argc) {
            char *end;
            q->sync_s = strtod(argv[++i], &end);
            if (*end || !(q->sync_s > 0 && q->sync_s <= 86400)) {
                cli_error("--sync wants seconds, more than 0");
                return -1;
            }
        } else {
            cli_error("unexpected argument '%s' (see --help)", a);
            return -1;
        }
    }
    if (!q->data[0])
        default_data(q->data, sizeof q->data);
    return 0;
}

/* ---- output ---- */

static int by_score(const void *a, const void *b)
{
    const hearth_rep_score *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->confidence > y->confidence ? -1 : x->confidence < y->confidence;
}

static void json_score(hearth_buf *b, const hearth_rep_score *s)
{
    const hearth_rep_explain *w = &s->why;
    char hex[65];
    hearth_hex_encode(s->provider, 32, hex);
    hearth_buf_addf(b, "{\"provider\":\"%s\",\"score\":%.6f,"
                    "\"confidence\":%.6f,\"receipts\":%u,\"unbacked\":%u,"
                    "\"duplicates\":%u,\"self_dealt\":%u,\"jobs\":%u,"
                    "\"raters\":%u,\"weighted_raters\":%u,"
                    "\"capped_raters\":%u,\"good\":%.6g,\"bad\":%.6g,"
                    "\"network_score\":%.6f,\"network_conf\":%.6f,"
                    "\"own_good\":%.6g,\"own_bad\":%.6g,\"own_share\":%.6f,"
                    "\"standing\":%.6g}",
                    hex, s->score, s->confidence, w->receipts, w->unbacked,
                    w->duplicates, w->self_dealt, w->jobs, w->raters,
                    w->weighted_raters, w->capped_raters, w->good, w->bad,
                    w->network_score, w->network_conf, w->own_good,
                    w->own_bad, w->own_share, w->standing);
}

static void text_score(hearth_buf *b, const hearth_rep_score *s)
{
    char hex[65], why[1024];
    hearth_hex_encode(s->provider, 32, hex);
    hearth_rep_explain_str(s, why, sizeof why);
    hearth_buf_addf(b, "%s  %s\n", hex, why); /* why has score, conf */
}

static int print_scores(struct rep_cli *q)
{
    const hearth_rep_result *r = hearth_repsync_result(q->rs);
    const hearth_repsync_stats *st = hearth_repsync_get_stats(q->rs);
    hearth_rep_score *s = malloc((r->n + 1) * sizeof *s);
    hearth_buf b = HEARTH_BUF_INIT;
    if (!s)
        return CLI_ERROR;
    if (r->n)
        memcpy(s, r->scores, r->n * sizeof *s);
    qsort(s, r->n, sizeof *s, by_score);
    if (q->c.json)
        hearth_buf_addc(&b, '[');
    else
        hearth_buf_addf(&b, "# %llu receipts, %llu priors, %zu providers, "
                        "%llu ms; provider, score, confidence, why\n",
                        (unsigned long long)st->last_facts,
                        (unsigned long long)st->last_priors, r->n,
                        (unsigned long long)(st->last_us / 1000));
    for (size_t i = 0; i < r->n; i++) {
        if (q->c.json && i)
            hearth_buf_addc(&b, ',');
        if (q->c.json)
            json_score(&b, &s[i]);
        else
            text_score(&b, &s[i]);
    }
    if (q->c.json)
        hearth_buf_adds(&b, "]\n");
    int rc = hearth_buf_error(&b) ? CLI_ERROR : CLI_OK;
    if (rc == CLI_OK)
        fwrite(b.p, 1, b.len, stdout);
    fflush(stdout);
    hearth_buf_free(&b);
    free(s);
    return rc;
}

/* ---- running ---- */

static int open_sub(struct rep_cli *q, const char *sub, char *dir, size_t n)
{
    snprintf(dir, n, "%s/%s", q->data, sub);
    if (cli_mkdir_parents(dir)) {
        cli_error("cannot create the directories leading to %s: %s", dir,
                  strerror(errno));
        return -1;
    }
    return 0;
}

static int open_all(struct rep_cli *q)
{
    char dir[4200];
    struct stat sb;
    int rc = HEARTH_OK;
    if (open_sub(q, "view", dir, sizeof dir) ||
        (rc = hearth_view_open(dir, NULL, &q->view)) ||
        open_sub(q, "reputation", dir, sizeof dir) ||
        (rc = hearth_repstore_open(dir, NULL, &q->store))) {
        if (rc)
            cli_error("cannot open %s: %s", dir,
                      rc == HEARTH_EIO ? strerror(errno)
                                       : hearth_strerror(rc));
        return CLI_ERROR;
    }
    /* priors only from a ledger that exists: never create an empty one */
    snprintf(dir, sizeof dir, "%s/ledger", q->data);
    if (stat(dir, &sb) == 0 && (rc = hearth_ledger_open(dir, &q->ledger))) {
        cli_error("cannot open the ledger in %s: %s", dir,
                  rc == HEARTH_EIO ? strerror(errno) : hearth_strerror(rc));
        return CLI_ERROR;
    }
    return CLI_OK;
}

static void on_caught_up(hearth_repsync *rs, void *user)
{
    struct rep_cli *q = user;
    (void)rs;
    hearth_loop_stop(q->c.loop);
}

static int start_loop(struct rep_cli *q)
{
    hearth_pool_opts o;
    hearth_pool_opts_default(&o);
    if (q->c.nrelays)
        return pool_cli_open(&q->c, &o);
    /* no relays: a loop and an idle pool, only for the sync's API */
    if (hearth_loop_new(&q->c.loop) ||
        hearth_pool_new(q->c.loop, &o, &q->c.pool)) {
        cli_error("could not start the event loop (libwebsockets)");
        return CLI_ERROR;
    }
    return CLI_OK;
}

/* one stderr line per relay that did not send EOSE; returns how many */
static int report_relays(struct rep_cli *q)
{
    hearth_sub *sub = hearth_repsync_sub(q->rs);
    hearth_pool_relay_info rs;
    int bad = 0;
    for (size_t i = 0; sub && i < hearth_pool_nrelays(q->c.pool); i++) {
        const char *msg = "";
        if (hearth_sub_relay_state(sub, i, &msg) == HEARTH_SUB_EOSE)
            continue;
        hearth_pool_relay_stats(q->c.pool, i, &rs);
        if (!*msg)
            msg = q->c.timed_out ? "timed out" : rs.last_error;
        fprintf(stderr, "hearth: relay %s: no EOSE: %s\n", rs.url,
                *msg ? msg : "-");
        bad++;
    }
    return bad;
}

static int run(struct rep_cli *q)
{
    hearth_repsync_opts so;
    int bad = 0, rc = start_loop(q);
    if (rc)
        return rc;
    hearth_repsync_opts_default(&so);
    so.on_caught_up = on_caught_up;
    so.user = q;
    if (hearth_repsync_new(q->c.loop, q->c.pool, q->view, q->ledger,
                           q->store, q->pk, &so, &q->rs)) {
        cli_error("out of memory");
        return CLI_ERROR;
    }
    if (q->c.nrelays) {
        if (hearth_repsync_start(q->rs)) {
            cli_error("could not subscribe to the relays");
            return CLI_ERROR;
        }
        pool_cli_arm_timeout(&q->c, q->sync_s);
        if (hearth_loop_run(q->c.loop)) {
            cli_error("event loop failed");
            return CLI_ERROR;
        }
        bad |= report_relays(q) > 0;
        bad |= pool_cli_report(&q->c) > 0;
        bad |= hearth_repsync_get_stats(q->rs)->errors > 0;
    }
    /* after EOSE the scores are fresh; after a timeout, score now */
    if (!hearth_repsync_caught_up(q->rs) &&
        (rc = hearth_repsync_compute(q->rs))) {
        cli_error("could not compute the scores: %s", hearth_strerror(rc));
        return CLI_FAIL;
    }
    bad |= hearth_repsync_get_stats(q->rs)->compute_errors > 0;
    rc = print_scores(q);
    return rc ? rc : bad ? CLI_FAIL : CLI_OK;
}

int cmd_market_reputation(int argc, char **argv)
{
    struct rep_cli q;
    memset(&q, 0, sizeof q);
    int rc = parse_args(&q, argc, argv) ? CLI_USAGE : CLI_OK;
    if (rc == CLI_OK && q.c.help) {
        printf("%s%s", rep_help, pool_cli_help);
        return CLI_OK;
    }
    if (rc == CLI_OK && pool_cli_key(&q.c))
        rc = CLI_ERROR;
    else if (rc == CLI_OK && !q.c.has_key) {
        cli_error("reputation is personal: it needs your key (--key, "
                  "$HEARTH_KEY or ~/.config/hearth/key)");
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK)
        hearth_key_pubkey(q.c.sk, q.pk);
    if (rc == CLI_OK && (rc = open_all(&q)) == CLI_OK)
        rc = run(&q);
    /* the sync unsubscribes and flushes: before the pool and the stores */
    hearth_repsync_free(q.rs);
    pool_cli_close(&q.c);
    hearth_ledger_close(q.ledger);
    hearth_repstore_close(q.store);
    hearth_view_close(q.view);
    return rc;
}
