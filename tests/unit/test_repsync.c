/* The reputation sync over a real relay, in one process: `hearth relay`
 * (library) on a loopback port; metering notes and receipts signed in C
 * are published through the pool; a repsync follows them into its store,
 * scores on EOSE and fills the market view. Also its filter. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/filter.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/loop.h"
#include "hearth/meter.h"
#include "hearth/pool.h"
#include "hearth/repstore.h"
#include "hearth/repsync.h"
#include "hearth/view.h"
#include "sync_relay.h"
#include "tap.h"
#include "tmpdir.h"

#include <libwebsockets.h>
#include <time.h>

typedef struct key {
    uint8_t sk[32], pk[32];
} key;

enum { NJOBS = 6, NEVENTS = 2 * NJOBS };

struct round {
    hearth_loop *loop;
    hearth_pool *pool;
    hearth_view *view;
    hearth_repstore *store;
    hearth_repsync *rs;
    key local, good, bad;
    unsigned oks, not_ok, scored;
    float good_rep, bad_rep;
    int timed_out;
    lws_sorted_usec_list_t watchdog;
};

static void keygen(key *k)
{
    hearth_key_generate(k->sk);
    hearth_key_pubkey(k->sk, k->pk);
}

static void test_filter(void)
{
    hearth_filter *f = NULL;
    hearth_event *ev = NULL;
    CHECK(hearth_repsync_filter(1000, &f) == HEARTH_OK && f);
    CHECK(hearth_event_new(HEARTH_KIND_RECEIPT, 1000, "", 0, &ev) ==
          HEARTH_OK);
    CHECK(f && ev && hearth_filter_match(f, ev));
    ev->kind = HEARTH_KIND_METERING_NOTE;
    CHECK(f && hearth_filter_match(f, ev));
    ev->created_at = 999;
    CHECK(f && !hearth_filter_match(f, ev));
    ev->created_at = 1000;
    ev->kind = HEARTH_KIND_OFFER;
    CHECK(f && !hearth_filter_match(f, ev));
    hearth_filter_free(f);
    hearth_event_free(ev);
    CHECK(hearth_repsync_filter(-1, &f) == HEARTH_EINVAL && !f);
}

/* p's note to c for job j, and c's receipt (accept or dispute) */
static void job_events(const key *p, const key *c, uint8_t j,
                       hearth_dispute reason, int64_t at,
                       hearth_event *out[2])
{
    hearth_meter_note n;
    hearth_receipt r;
    memset(&n, 0, sizeof n);
    memset(n.request_id, j, 32);
    n.request_id[0] = p->pk[0];
    memcpy(n.customer, c->pk, 32);
    n.seq = 1;
    n.final = 1;
    n.usage.jobs = 1;
    n.price.per_job = 50000;
    n.amount_msat = 50000;
    memset(n.input_sha256, 1, 32);
    n.has_output = 1;
    memset(n.output_sha256, 2, 32);
    n.rail = HEARTH_RAIL_CREDIT;
    out[0] = out[1] = NULL;
    CHECK(hearth_meter_note_to_event(&n, at, &out[0], NULL) == HEARTH_OK);
    if (!out[0])
        return;
    CHECK(hearth_event_sign(out[0], p->sk) == HEARTH_OK);
    memcpy(n.id, out[0]->id, 32);
    memcpy(n.provider, p->pk, 32);
    hearth_receipt_for(&n, reason, &r);
    CHECK(hearth_receipt_to_event(&r, at + 1, &out[1], NULL) == HEARTH_OK);
    if (out[1])
        CHECK(hearth_event_sign(out[1], c->sk) == HEARTH_OK);
}

static float view_rep(hearth_view *v, const uint8_t pk[32])
{
    hearth_peer_obs o;
    return hearth_view_get_obs(v, pk, &o) ? -1.0f : o.reputation;
}

static void on_caught_up(hearth_repsync *rs, void *user)
{
    struct round *r = user;
    (void)rs;
    r->good_rep = view_rep(r->view, r->good.pk);
    r->bad_rep = view_rep(r->view, r->bad.pk);
    hearth_loop_stop(r->loop);
}

static void on_scored(hearth_repsync *rs, const hearth_rep_result *res,
                      void *user)
{
    struct round *r = user;
    (void)rs;
    (void)res;
    r->scored++;
}

static void start_sync(struct round *r)
{
    hearth_repsync_opts o;
    hearth_repsync_opts_default(&o);
    o.batch_ms = 20;
    o.on_caught_up = on_caught_up;
    o.on_scored = on_scored;
    o.user = r;
    CHECK(hearth_repsync_new(r->loop, r->pool, r->view, NULL, r->store,
                             r->local.pk, &o, &r->rs) == HEARTH_OK);
    CHECK(r->rs && hearth_repsync_start(r->rs) == HEARTH_OK);
    CHECK(r->rs && hearth_repsync_start(r->rs) == HEARTH_EINVAL);
}

static void on_pub(const uint8_t id[32], const char *relay,
                   enum hearth_pub_result res, const char *msg, void *user)
{
    struct round *r = user;
    (void)id;
    (void)relay;
    if (res != HEARTH_PUB_OK) {
        fprintf(stderr, "publish: %d %s\n", (int)res, msg);
        r->not_ok++;
    }
    if (++r->oks == NEVENTS)
        start_sync(r);
}

static void watchdog_cb(lws_sorted_usec_list_t *sul)
{
    struct round *r = lws_container_of(sul, struct round, watchdog);
    r->timed_out = 1;
    hearth_loop_stop(r->loop);
}

/* we bought from good (all accepted) and from bad (all disputed) */
static void publish_all(struct round *r)
{
    int64_t at = (int64_t)time(NULL) - 600;
    for (int j = 0; j < NJOBS; j++) {
        hearth_event *ev[2];
        int to_bad = j % 2;
        job_events(to_bad ? &r->bad : &r->good, &r->local, (uint8_t)(j + 1),
                   to_bad ? HEARTH_DISPUTE_WRONG_RESULT : HEARTH_DISPUTE_NONE,
                   at + j, ev);
        for (int k = 0; k < 2; k++) {
            CHECK(ev[k] && hearth_pool_publish(r->pool, ev[k], on_pub, r) ==
                               HEARTH_OK);
            hearth_event_free(ev[k]);
        }
    }
}

static void test_round(void)
{
    struct round r;
    char *dir = tap_tmpdir("repsync"), sub[4200], url[64];
    struct test_relay *relay;
    int port = 0;
    hearth_pool_opts po;
    memset(&r, 0, sizeof r);
    keygen(&r.local);
    keygen(&r.good);
    keygen(&r.bad);
    snprintf(sub, sizeof sub, "%s/view", dir);
    CHECK(hearth_view_open(sub, NULL, &r.view) == HEARTH_OK);
    snprintf(sub, sizeof sub, "%s/reputation", dir);
    CHECK(hearth_repstore_open(sub, NULL, &r.store) == HEARTH_OK);
    CHECK(hearth_loop_new(&r.loop) == HEARTH_OK);
    snprintf(sub, sizeof sub, "%s/relay", dir);
    relay = test_relay_start(r.loop, sub, &port);
    if (!relay) {
        CHECKF(0, "could not start the relay");
        return;
    }
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    hearth_pool_opts_default(&po);
    po.nip11_timeout_ms = 0;
    CHECK(hearth_pool_new(r.loop, &po, &r.pool) == HEARTH_OK);
    CHECK(hearth_pool_add_relay(r.pool, url, NULL) == HEARTH_OK);
    publish_all(&r);
    lws_sul_schedule(hearth_loop_lws(r.loop), 0, &r.watchdog, watchdog_cb,
                     20 * LWS_US_PER_SEC);
    CHECK(hearth_loop_run(r.loop) == HEARTH_OK);
    lws_sul_cancel(&r.watchdog);

    CHECKF(!r.timed_out, "oks %u", r.oks);
    CHECK(r.not_ok == 0);
    const hearth_repsync_stats *st = r.rs ? hearth_repsync_get_stats(r.rs)
                                          : NULL;
    CHECKF(st && st->stored == NEVENTS && st->rejected == 0 &&
           st->errors == 0 && st->computes >= 1 && st->last_facts == NJOBS,
           "%llu", st ? (unsigned long long)st->stored : 0ull);
    CHECK(r.rs && hearth_repsync_caught_up(r.rs) && r.scored >= 1);
    CHECKF(r.good_rep > 0.7f, "%f", r.good_rep);
    CHECKF(r.bad_rep >= 0 && r.bad_rep < 0.3f, "%f", r.bad_rep);
    const hearth_rep_score *g =
        r.rs ? hearth_rep_find(hearth_repsync_result(r.rs), r.good.pk) : NULL;
    CHECK(g && g->why.jobs == NJOBS / 2 && g->why.own_good > 0);

    hearth_repsync_free(r.rs);
    hearth_pool_free(r.pool);
    test_relay_stop(relay);
    hearth_loop_free(r.loop);
    test_relay_free(relay);
    hearth_repstore_close(r.store);
    hearth_view_close(r.view);
    tap_rmtree(dir);
    free(dir);
}

int main(void)
{
    test_filter();
    test_round();
    return tap_done();
}
