/* hearth req: subscribe on relays through the pool and print each
 * matching event once as a JSON line. */
#include "cli.h"
#include "pool_cli.h"

#include "hearth/error.h"
#include "hearth/filter.h"
#include "hearth/message.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TIMEOUT_S 15.0

struct req {
    struct pool_cli c;
    hearth_filter *filters[HEARTH_MSG_MAX_FILTERS];
    size_t nfilters;
    int stream;
    unsigned pace;            /* events per second printed; 0: no limit */
    unsigned queue;           /* opts.max_in_events; 0: the default */
    unsigned printed;         /* in the current second */
    time_t second;
    lws_sorted_usec_list_t pace_timer;
    unsigned long events;
    hearth_buf out;
    const char *outbox;       /* --outbox PUBKEY */
    uint8_t outbox_pk[32];
    int no_outbox;
    hearth_sub *sub;
};

static const char req_help[] =
    "usage: hearth req '<filter-json>' [<filter-json>...] --relay URL\n"
    "                  [--relay URL...] [--timeout S] [--stream] [options]\n"
    "\n"
    "Subscribes with the filters (NIP-01 objects, OR'd) on every relay and\n"
    "prints each matching event once, as one JSON line, however many relays\n"
    "send it. Every event is checked first: id recomputed, signature\n"
    "verified, fields matched against the filters; relays that send bad\n"
    "events are dropped. Exits once every relay has sent EOSE (or failed),\n"
    "or after --timeout (default 15 s). With --stream it keeps listening,\n"
    "resuming the subscription after reconnects, until --timeout if given,\n"
    "or SIGINT/SIGTERM.\n"
    "\n"
    "Exit status 1 if a relay failed, closed the subscription, was dropped\n"
    "or had not finished when the time ran out (one line per relay on\n"
    "stderr).\n"
    "\n"
    "options:\n"
    "  --stream         keep listening after EOSE\n"
    "  --pace N         print at most N events a second (slow consumer: the\n"
    "                   pool queues the rest and pauses reading)\n"
    "  --queue N        events held per relay for a slow consumer before\n"
    "                   reading from that relay pauses (default 1024)\n"
    "  --outbox PUBKEY  also read from PUBKEY's outbox: the write relays of\n"
    "                   its NIP-65 relay list (kind 10002), looked up on\n"
    "                   the --relay relays first (hex or npub)\n";

static void pace_cb(lws_sorted_usec_list_t *sul)
{
    struct req *q = lws_container_of(sul, struct req, pace_timer);
    hearth_pool_resume(q->c.pool);
}

/* Busy once this second's quota is used: the pool keeps the event and
 * gets it back to us after hearth_pool_resume. */
static int over_pace(struct req *q)
{
    time_t now = time(NULL);
    if (!q->pace)
        return 0;
    if (now != q->second) {
        q->second = now;
        q->printed = 0;
    }
    if (q->printed < q->pace)
        return 0;
    lws_sul_schedule(hearth_loop_lws(q->c.loop), 0, &q->pace_timer, pace_cb,
                     200 * 1000);
    return 1;
}

static int on_event(hearth_sub *s, const hearth_event *ev, const char *relay,
                    void *user)
{
    struct req *q = user;
    if (over_pace(q))
        return 1;
    q->printed++;
    q->events++;
    hearth_buf_reset(&q->out);
    if (hearth_event_to_json(ev, &q->out) == HEARTH_OK &&
        !hearth_buf_error(&q->out)) {
        fwrite(q->out.p, 1, q->out.len, stdout);
        fputc('\n', stdout);
        fflush(stdout); /* consumers read events as they come */
    }
    return 0;
}

static void on_all_eose(hearth_sub *s, void *user)
{
    struct req *q = user;
    if (!q->stream)
        hearth_loop_stop(q->c.loop);
}

static int parse_args(struct req *q, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int r = pool_cli_opt(&q->c, argc, argv, &i);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--stream")) {
            q->stream = 1;
        } else if (!strcmp(a, "--pace") && i + 1 < argc) {
            q->pace = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--queue") && i + 1 < argc) {
            q->queue = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--outbox") && i + 1 < argc) {
            q->outbox = argv[++i];
            if (pool_cli_pubkey(q->outbox, q->outbox_pk))
                return -1;
        } else if (a[0] == '{') {
            const char *why = NULL;
            if (q->nfilters >= HEARTH_MSG_MAX_FILTERS) {
                cli_error("at most %u filters", HEARTH_MSG_MAX_FILTERS);
                return -1;
            }
            if (hearth_filter_parse(a, strlen(a), &q->filters[q->nfilters],
                                    &why)) {
                cli_error("filter %zu: %s", q->nfilters + 1, why);
                return -1;
            }
            q->nfilters++;
        } else {
            cli_error("unexpected argument '%s' (see --help)", a);
            return -1;
        }
    }
    return 0;
}

static const char *state_word(enum hearth_sub_state st)
{
    switch (st) {
    case HEARTH_SUB_PENDING: return "no answer";
    case HEARTH_SUB_SENT: return "no EOSE";
    case HEARTH_SUB_EOSE: return "eose";
    case HEARTH_SUB_CLOSED: return "closed";
    default: return "failed";
    }
}

/* one line per relay that did not end well; returns how many */
static int report(struct req *q, hearth_sub *s)
{
    int bad = 0;
    if (!s) {
        fprintf(stderr, "hearth: timed out looking up the outbox relays\n");
        return 1;
    }
    hearth_pool_relay_info st;
    for (size_t i = 0; i < hearth_pool_nrelays(q->c.pool); i++) {
        const char *msg = "";
        enum hearth_sub_state x = hearth_sub_relay_state(s, i, &msg);
        hearth_pool_relay_stats(q->c.pool, i, &st);
        int ok = x == HEARTH_SUB_EOSE || (q->stream && x == HEARTH_SUB_SENT);
        if (ok && !st.drops)
            continue;
        bad++;
        if (st.drops)
            continue; /* pool_cli_report prints those */
        if (!*msg)
            msg = q->c.timed_out ? "timed out" : st.last_error;
        fprintf(stderr, "hearth: relay %s: %s: %s\n", st.url, state_word(x),
                *msg ? msg : "-");
    }
    return bad;
}

static int subscribe(struct req *q)
{
    hearth_sub_cbs cbs = {on_event, NULL, on_all_eose};
    if (hearth_pool_sub(q->c.pool, q->filters, q->nfilters, &cbs, q,
                        &q->sub)) {
        cli_error("could not subscribe");
        return CLI_ERROR;
    }
    return CLI_OK;
}

/* NIP-65: an author publishes to its write relays */
static void got_outbox(struct pool_cli *c, const hearth_relay_list *l,
                       void *user)
{
    struct req *q = user;
    size_t added = l ? pool_cli_add_relays(c, l->write, l->nwrite, 8) : 0;
    if (!l || l->nwrite == 0) {
        q->no_outbox = 1;
        cli_error("no outbox relays for %s (no kind-10002 list with write "
                  "relays on the --relay relays); reading those only",
                  q->outbox);
    } else {
        fprintf(stderr, "hearth: outbox of %s: %zu relays (%zu new)\n",
                q->outbox, l->nwrite, added);
    }
    if (subscribe(q))
        hearth_loop_stop(c->loop);
}

static int run(struct req *q)
{
    hearth_pool_opts o;
    hearth_pool_opts_default(&o);
    if (q->queue)
        o.max_in_events = q->queue;
    int rc = pool_cli_open(&q->c, &o);
    if (rc)
        return rc;
    rc = q->outbox ? pool_cli_fetch_relay_list(&q->c, q->outbox_pk,
                                               got_outbox, q)
                   : subscribe(q);
    if (rc)
        return rc;
    double t = q->c.has_timeout ? q->c.timeout
                                : q->stream ? 0 : DEFAULT_TIMEOUT_S;
    if (t > 0)
        pool_cli_arm_timeout(&q->c, t);
    if (hearth_loop_run(q->c.loop)) {
        cli_error("event loop failed");
        return CLI_ERROR;
    }
    lws_sul_cancel(&q->pace_timer);
    int bad = report(q, q->sub) + q->no_outbox;
    bad += pool_cli_report(&q->c) > 0;
    hearth_pool_unsub(q->sub);
    return bad ? CLI_FAIL : CLI_OK;
}

int cmd_req(int argc, char **argv)
{
    struct req q;
    memset(&q, 0, sizeof q);
    int rc = parse_args(&q, argc, argv);
    if (rc == 0 && q.c.help) {
        printf("%s%s", req_help, pool_cli_help);
        rc = CLI_OK;
    } else if (rc == 0 && q.nfilters == 0) {
        cli_error("no filter: give one as JSON, e.g. '{\"kinds\":[1]}'");
        rc = CLI_USAGE;
    } else if (rc == 0 && pool_cli_key(&q.c)) {
        rc = CLI_ERROR;
    } else if (rc == 0) {
        rc = run(&q);
    } else {
        rc = CLI_USAGE;
    }
    pool_cli_close(&q.c);
    for (size_t i = 0; i < q.nfilters; i++)
        hearth_filter_free(q.filters[i]);
    hearth_buf_free(&q.out);
    return rc;
}
