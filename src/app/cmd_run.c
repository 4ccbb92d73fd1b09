/* hearth run: the peer daemon (docs/run.md). Loads the key, connects to
 * the relays (or starts the embedded relay), publishes the offers of its
 * runners and serves NIP-90 jobs until SIGINT/SIGTERM, then drains: no
 * new jobs, running ones finish (or are closed with an error after a
 * deadline), the offers are withdrawn, and it exits. */
#include "cli.h"
#include "run_opts.h"

#include <errno.h>
#include <sodium.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/hw.h"
#include "hearth/jobdb.h"
#include "hearth/keeper.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/loop.h"
#include "hearth/nip19.h"
#include "hearth/pool.h"
#include "hearth/provider.h"
#include "hearth/relay.h"
#include "hearth/router.h"
#include "hearth/store.h"
#include "hearth/sync.h"
#include "hearth/view.h"

struct peer {
    struct run_opts o;
    uint8_t sk[32], pk[32];
    hearth_loop *loop;
    hearth_store *store;          /* embedded relay only */
    hearth_relay *relay;
    hearth_pool *pool;
    hearth_jobdb *db;
    hearth_ledger *ledger;
    hearth_runner *runners[RUN_MAX_RUNNERS];
    hearth_price prices[RUN_MAX_RUNNERS];
    size_t nrunners;
    hearth_provider *prov;
    hearth_view *view;            /* router only: the market */
    hearth_sync *sync;
    hearth_customer *cust;
    hearth_router *router;
    hearth_keeper *keeper;
    hearth_offer offers[HEARTH_KEEPER_MAX_OFFERS];
    size_t noffers;
    int stopping;
};

/* the one event loop and its peer, reachable from the signal handler */
static struct peer *the_peer;
static volatile sig_atomic_t got_term;

void run_log(const char *fmt, ...)
{
    char ts[32], line[600];
    time_t t = time(NULL);
    struct tm tm;
    va_list ap;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s hearth: %s\n", ts, line);
}

static void log_cb(void *ctx, const char *line)
{
    run_log("%s%s", (const char *)ctx, line);
}

/* ---- shutdown: signal -> drain -> withdraw offers -> stop ---- */

static void on_signal(int sig)
{
    if (!the_peer)
        return;
    if (got_term++)
        hearth_loop_stop(the_peer->loop); /* asked twice: now */
    else
        hearth_loop_wake(the_peer->loop);
}

static void keeper_stopped(hearth_keeper *k, int all_ok, void *user)
{
    struct peer *pe = user;
    run_log("offers withdrawn%s", all_ok ? "" : " (not every relay answered)");
    hearth_loop_stop(pe->loop);
}

static void drained(hearth_provider *p, void *user)
{
    struct peer *pe = user;
    run_log("drained: no job running");
    if (!pe->keeper || hearth_keeper_stop(pe->keeper))
        hearth_loop_stop(pe->loop);
}

static void on_wake(void *user)
{
    struct peer *pe = user;
    if (pe->prov)
        hearth_provider_on_wake(pe->prov);
    if (got_term && !pe->stopping) {
        pe->stopping = 1;
        run_log("stopping: taking no new jobs, running ones have %u s",
                pe->o.drain_s);
        if (!pe->prov || hearth_provider_drain(pe->prov, pe->o.drain_s * 1000))
            hearth_loop_stop(pe->loop);
    }
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- setting up ---- */

static int open_dir(const char *data, const char *sub, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", data, sub);
    if (cli_mkdir_parents(out) || (mkdir(out, 0700) && errno != EEXIST)) {
        cli_error("cannot create %s: %s", out, strerror(errno));
        return -1;
    }
    return 0;
}

static int start_relay(struct peer *pe)
{
    char dir[PATH_MAX];
    hearth_relay_opts ro;
    if (open_dir(pe->o.data, "relay", dir, sizeof dir))
        return CLI_ERROR;
    if (hearth_store_open(dir, NULL, &pe->store)) {
        cli_error("cannot open the event store in %s", dir);
        return CLI_ERROR;
    }
    hearth_relay_opts_init(&ro);
    ro.port = pe->o.port;
    /* a local relay for a local market: this peer publishes a feedback
     * and a result per job through one connection, and a busy provider
     * must not be throttled by its own relay (docs/provider.md) */
    ro.rate_conn = 2000;
    ro.rate_pubkey = 1000;
    ro.log = log_cb;
    ro.log_ctx = "relay: ";
    if (hearth_relay_new(pe->loop, pe->store, &ro, &pe->relay)) {
        cli_error("cannot listen on 127.0.0.1 port %d (in use? try --port)",
                  pe->o.port);
        return CLI_ERROR;
    }
    snprintf(pe->o.embedded_url, sizeof pe->o.embedded_url,
             "ws://127.0.0.1:%d", hearth_relay_port(pe->relay));
    pe->o.relays[pe->o.nrelays++] = pe->o.embedded_url;
    run_log("embedded relay on %s, data in %s", pe->o.embedded_url, dir);
    return CLI_OK;
}

static int start_pool(struct peer *pe)
{
    hearth_pool_opts po;
    hearth_pool_opts_default(&po);
    po.sk = pe->sk;
    po.on_wake = on_wake;
    po.user = pe;
    if (pe->relay)
        po.nip11_timeout_ms = 0; /* our own relay: nothing to learn */
    if (hearth_pool_new(pe->loop, &po, &pe->pool)) {
        cli_error("cannot create the relay pool");
        return CLI_ERROR;
    }
    for (size_t i = 0; i < pe->o.nrelays; i++)
        if (hearth_pool_add_relay(pe->pool, pe->o.relays[i], NULL)) {
            cli_error("'%s' is not a ws:// or wss:// relay URL",
                      pe->o.relays[i]);
            return CLI_USAGE;
        }
    return CLI_OK;
}

static void fill_offer(struct peer *pe, hearth_offer *o,
                       const hearth_runner_desc *d, const hearth_price *price,
                       const hearth_hw_summary *hw, uint32_t kind)
{
    memset(o, 0, sizeof *o);
    o->job_kind = kind;
    o->backend = d->backend;
    o->price = *price;
    o->hw = *hw;
    o->nmodels = d->nmodels;
    memcpy(o->models, d->models, sizeof o->models);
    o->bench_mhash_s = d->bench_mhash_s;
    o->bench_tokens_s = d->bench_tokens_s;
    o->capacity_total = o->capacity_free = d->slots ? d->slots : 1;
    for (size_t i = 0; i < pe->o.nrelays && i < HEARTH_OFFER_MAX_RELAYS; i++) {
        hearth_buf b = HEARTH_BUF_INIT;
        if (!hearth_relay_url_normalize(pe->o.relays[i], &b) &&
            b.len < HEARTH_OFFER_URL_MAX)
            memcpy(o->relays[o->nrelays++], b.p, b.len + 1);
        hearth_buf_free(&b);
    }
    o->rails = HEARTH_RAIL_CREDIT;
    o->credit_limit_msat = pe->o.credit_msat;
}

static int build_offers(struct peer *pe)
{
    hearth_hw_summary hw;
    hearth_hw *h = calloc(1, sizeof *h);
    memset(&hw, 0, sizeof hw);
    if (h && !hearth_hw_detect(h))
        hearth_hw_summarize(h, &hw);
    free(h);
    for (size_t r = 0; r < pe->nrunners; r++) {
        hearth_runner_desc d;
        if (hearth_runner_describe(pe->runners[r], &d))
            continue;
        if (!d.gpu) {
            /* a CPU runner must not advertise the GPU it does not use */
            memset(hw.gpu, 0, sizeof hw.gpu);
            hw.gpu_count = hw.vram_mb = 0;
            hw.cc_major = hw.cc_minor = 0;
            hw.tier = 0;
        }
        for (size_t k = 0; k < d.nkinds; k++) {
            const char *why;
            hearth_offer *o = &pe->offers[pe->noffers];
            if (pe->noffers == HEARTH_KEEPER_MAX_OFFERS)
                break;
            fill_offer(pe, o, &d, &pe->prices[r], &hw, d.kinds[k]);
            if (hearth_offer_check(o, (int64_t)time(NULL), &why)) {
                cli_error("offer for kind %u: %s", d.kinds[k], why);
                return CLI_USAGE;
            }
            pe->noffers++;
        }
    }
    return CLI_OK;
}

static void announce_result(const uint8_t id[32], const char *relay,
                            enum hearth_pub_result r, const char *msg,
                            void *user)
{
    if (r != HEARTH_PUB_OK)
        run_log("NIP-89 announcement not taken by %s: %s", relay, msg);
}

static int start_offers(struct peer *pe)
{
    hearth_keeper_opts ko;
    hearth_event *ann = NULL;
    if (!pe->o.offers || !pe->noffers)
        return CLI_OK;
    hearth_keeper_opts_default(&ko);
    ko.on_stopped = keeper_stopped;
    ko.user = pe;
    if (hearth_keeper_new(pe->loop, pe->pool, pe->sk, pe->offers,
                          pe->noffers, &ko, &pe->keeper) ||
        hearth_keeper_start(pe->keeper)) {
        cli_error("cannot publish the offers");
        return CLI_ERROR;
    }
    /* NIP-89: generic DVM clients find the peer by its job kinds */
    if (!hearth_offer_announcement(pe->offers, pe->noffers, pe->o.name,
                                   (int64_t)time(NULL), &ann) &&
        !hearth_event_sign(ann, pe->sk))
        hearth_pool_publish(pe->pool, ann, announce_result, NULL);
    hearth_event_free(ann);
    return CLI_OK;
}

/* The router needs the market: a view kept in step with the relays, and
 * the customer role to delegate through. */
static int start_router(struct peer *pe)
{
    char dir[PATH_MAX];
    hearth_view_opts vo;
    hearth_sync_opts so;
    hearth_router_opts ro;
    if (!pe->o.nroute)
        return CLI_OK;
    if (open_dir(pe->o.data, "view", dir, sizeof dir))
        return CLI_ERROR;
    hearth_view_opts_default(&vo);
    hearth_sync_opts_default(&so);
    memcpy(so.job_kinds, pe->o.route_kinds, pe->o.nroute * sizeof(uint32_t));
    so.njob_kinds = pe->o.nroute;
    hearth_router_opts_default(&ro);
    ro.sk = pe->sk;
    ro.fee_msat = pe->o.route_fee;
    ro.log = log_cb;
    ro.log_ctx = "router: ";
    if (hearth_view_open(dir, &vo, &pe->view) ||
        hearth_sync_new(pe->loop, pe->pool, pe->view, &so, &pe->sync) ||
        hearth_customer_new(pe->loop, pe->pool, pe->view, pe->db, pe->sk,
                            &pe->cust) ||
        hearth_router_new(pe->pool, pe->cust, pe->db, &ro, &pe->router) ||
        hearth_router_start(pe->router)) {
        cli_error("cannot start the router (market view in %s)", dir);
        return CLI_ERROR;
    }
    return CLI_OK;
}

static int start_provider(struct peer *pe)
{
    char dir[PATH_MAX];
    hearth_provider_opts po;
    if (open_dir(pe->o.data, "jobs", dir, sizeof dir))
        return CLI_ERROR;
    if (hearth_jobdb_open(dir, &pe->db)) {
        cli_error("cannot open the job table in %s", dir);
        return CLI_ERROR;
    }
    if (open_dir(pe->o.data, "ledger", dir, sizeof dir) ||
        hearth_ledger_open(dir, &pe->ledger)) {
        cli_error("cannot open the ledger in %s", dir);
        return CLI_ERROR;
    }
    int rc = start_router(pe);
    if (rc != CLI_OK)
        return rc;
    hearth_provider_opts_default(&po);
    if (pe->router) {
        po.route_kinds = pe->o.route_kinds;
        po.nroute_kinds = pe->o.nroute;
        po.route = hearth_router_take;
        po.route_user = pe->router;
    }
    po.sk = pe->sk;
    po.runners = pe->runners;
    po.nrunners = pe->nrunners;
    po.prices = pe->prices;
    if (pe->o.queue_set)
        po.queue_max = pe->o.queue;
    po.blocked = (const uint8_t(*)[32])pe->o.blocked;
    po.nblocked = pe->o.nblocked;
    po.log = log_cb;
    po.log_ctx = "";
    po.on_drained = drained;
    po.ledger = pe->ledger;
    po.user = pe;
    if (hearth_provider_new(pe->loop, pe->pool, pe->db, &po, &pe->prov) ||
        hearth_provider_start(pe->prov)) {
        cli_error("cannot start serving jobs");
        return CLI_ERROR;
    }
    return CLI_OK;
}

static void ready(struct peer *pe)
{
    char hex[65];
    hearth_buf npub = HEARTH_BUF_INIT;
    hearth_hex_encode(pe->pk, 32, hex);
    hearth_nip19_encode32("npub", pe->pk, &npub);
    run_log("peer %s serving %zu offer(s) on %zu relay(s)",
            npub.len ? npub.p : hex, pe->noffers, pe->o.nrelays);
    hearth_buf_free(&npub);
    /* one machine-readable line on stdout: scripts and tests wait for it */
    printf("{\"ready\":true,\"pubkey\":\"%s\",\"relays\":[", hex);
    for (size_t i = 0; i < pe->o.nrelays; i++)
        printf("%s\"%s\"", i ? "," : "", pe->o.relays[i]);
    printf("]}\n");
    fflush(stdout);
}

static void teardown(struct peer *pe)
{
    /* workers first: they hand events to the pool through the loop */
    hearth_provider_free(pe->prov);
    hearth_router_free(pe->router);
    hearth_customer_free(pe->cust);
    hearth_sync_free(pe->sync);
    if (pe->relay)
        hearth_relay_stop(pe->relay);
    hearth_pool_free(pe->pool);
    hearth_keeper_free(pe->keeper);
    hearth_loop_free(pe->loop);
    hearth_relay_free(pe->relay);
    hearth_store_close(pe->store);
    hearth_jobdb_close(pe->db);
    hearth_ledger_close(pe->ledger);
    hearth_view_close(pe->view);
    for (size_t i = 0; i < pe->nrunners; i++)
        hearth_runner_free(pe->runners[i]);
}

static int serve(struct peer *pe)
{
    int rc;
    if (hearth_key_pubkey(pe->sk, pe->pk)) {
        cli_error("the key is not a valid secp256k1 secret");
        return CLI_ERROR;
    }
    if ((rc = run_make_runners(&pe->o, pe->runners, pe->prices,
                               &pe->nrunners)))
        return rc;
    if (hearth_loop_new(&pe->loop)) {
        cli_error("cannot start the event loop");
        return CLI_ERROR;
    }
    if ((!pe->o.nrelays && (rc = start_relay(pe))) ||
        (rc = start_pool(pe)) || (rc = build_offers(pe)) ||
        (rc = start_provider(pe)) || (rc = start_offers(pe)))
        return rc;
    the_peer = pe;
    catch_signals();
    ready(pe);
    rc = hearth_loop_run(pe->loop) ? CLI_ERROR : CLI_OK;
    the_peer = NULL;
    hearth_provider_stats st;
    hearth_provider_get_stats(pe->prov, &st);
    run_log("stopped: %" PRIu64 " jobs done, %" PRIu64 " failed, %" PRIu64
            " refused, %" PRIu64 " msat earned", st.done, st.failed,
            st.refused, st.earned_msat);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    struct peer *pe = calloc(1, sizeof *pe);
    if (!pe) {
        cli_error("out of memory");
        return CLI_ERROR;
    }
    int rc = run_opts_parse(&pe->o, argc, argv);
    if (rc == CLI_OK && !pe->o.help)
        rc = run_key(&pe->o, pe->sk);
    if (rc == CLI_OK && !pe->o.help)
        rc = serve(pe);
    teardown(pe);
    sodium_memzero(pe->sk, sizeof pe->sk);
    free(pe);
    return rc;
}
