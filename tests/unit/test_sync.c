/* Market sync and the offer keeper: the sync's filters, its tally of
 * verdicts, the NIP-09 deletion the keeper publishes (applied by a real
 * view), and the whole round in one process: `hearth relay` (library) on
 * a loopback port, a keeper publishing two offers through the pool, a
 * sync filling a view, an update withdrawing one offer, a stop
 * withdrawing the other. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/filter.h"
#include "hearth/hex.h"
#include "hearth/keeper.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/loop.h"
#include "hearth/offer.h"
#include "hearth/pool.h"
#include "hearth/sync.h"
#include "hearth/view.h"
#include "sync_relay.h"
#include "tap.h"
#include "tmpdir.h"

#include <dirent.h>
#include <libwebsockets.h>
#include <time.h>
#include <unistd.h>

/* ---- fixtures ---- */



static void make_offer(hearth_offer *o, uint32_t kind, hearth_backend be)
{
    memset(o, 0, sizeof *o);
    o->job_kind = kind;
    o->backend = be;
    o->price.per_job = 7;
    o->capacity_free = o->capacity_total = 1;
    o->rails = HEARTH_RAIL_LIGHTNING;
    o->hw.cpu_cores = 4;
}

static hearth_event *signed_offer(const hearth_offer *tpl, const uint8_t sk[32],
                                  int64_t now)
{
    hearth_offer o = *tpl;
    hearth_event *ev = NULL;
    o.expires_at = now + 600;
    CHECK(hearth_offer_to_event(&o, now, &ev) == HEARTH_OK);
    CHECK(ev && hearth_event_sign(ev, sk) == HEARTH_OK);
    return ev;
}

static int has_tag(const hearth_event *ev, const char *name, const char *val)
{
    for (size_t i = 0; i < ev->ntags; i++)
        if (ev->tags[i].n >= 2 && !strcmp(ev->tags[i].v[0].p, name) &&
            !strcmp(ev->tags[i].v[1].p, val))
            return 1;
    return 0;
}

/* ---- pure parts ---- */

static void test_filters(void)
{
    uint8_t sk[32];
    hearth_filter *f[2];
    hearth_offer o;
    int64_t now = time(NULL);
    hearth_key_generate(sk);
    make_offer(&o, 5100, HEARTH_BACKEND_OPENAI);
    hearth_event *offer = signed_offer(&o, sk, now);
    hearth_event *del = NULL, *bare = NULL;
    CHECK(hearth_offer_deletion(&o, 1, offer->pubkey, now, &del) == 0);
    CHECK(hearth_event_sign(del, sk) == 0);
    /* a deletion without the k tag NIP-09 asks for */
    CHECK(hearth_event_new(HEARTH_KIND_DELETION, now, "", 0, &bare) == 0);
    CHECK(hearth_event_add_tagv(bare, "a", "31907:00:5100:openai", NULL) == 0);
    CHECK(hearth_event_sign(bare, sk) == 0);

    CHECK(hearth_sync_filters(NULL, 0, now - 10, f) == HEARTH_OK);
    CHECK(hearth_filter_match(f[0], offer) == 1);
    CHECK(hearth_filter_match(f[0], del) == 0);
    CHECK(hearth_filter_match(f[1], del) == 1);
    CHECK(hearth_filter_match(f[1], bare) == 0);
    CHECK(hearth_filter_match(f[1], offer) == 0);
    CHECK(f[0]->has_since && f[0]->since == now - 10 && f[1]->since == now - 10);
    hearth_filter_free(f[0]);
    hearth_filter_free(f[1]);

    /* by job kind: the offer's k tag carries its job kind */
    uint32_t k5970 = 5970, both[2] = {5970, 5100};
    CHECK(hearth_sync_filters(&k5970, 1, 0, f) == HEARTH_OK);
    CHECK(hearth_filter_match(f[0], offer) == 0);
    CHECK(hearth_filter_match(f[1], del) == 1); /* deletions: every kind */
    hearth_filter_free(f[0]);
    hearth_filter_free(f[1]);
    CHECK(hearth_sync_filters(both, 2, 0, f) == HEARTH_OK);
    CHECK(hearth_filter_match(f[0], offer) == 1);
    hearth_filter_free(f[0]);
    hearth_filter_free(f[1]);
    /* offers older than since are not asked for */
    CHECK(hearth_sync_filters(NULL, 0, now + 1, f) == HEARTH_OK);
    CHECK(hearth_filter_match(f[0], offer) == 0);
    hearth_filter_free(f[0]);
    hearth_filter_free(f[1]);

    uint32_t many[HEARTH_SYNC_MAX_KINDS + 1] = {0};
    CHECK(hearth_sync_filters(many, HEARTH_SYNC_MAX_KINDS + 1, 0, f) ==
          HEARTH_EINVAL);
    CHECK(hearth_sync_filters(NULL, 0, -1, f) == HEARTH_EINVAL);
    hearth_event_free(offer);
    hearth_event_free(del);
    hearth_event_free(bare);
}

static void test_count(void)
{
    hearth_sync_stats st;
    hearth_view_result r;
    static char reasons[HEARTH_SYNC_MAX_REASONS + 2][32];
    memset(&st, 0, sizeof st);
    memset(&r, 0, sizeof r);
    r.status = HEARTH_VIEW_STORED;
    hearth_sync_count(&st, NULL, &r);
    r.replaced = 1;
    hearth_sync_count(&st, NULL, &r);
    r.status = HEARTH_VIEW_DELETION;
    r.removed = 3;
    hearth_sync_count(&st, NULL, &r);
    r.status = HEARTH_VIEW_DELETED;
    hearth_sync_count(&st, NULL, &r);
    r.status = HEARTH_VIEW_ERROR;
    hearth_sync_count(&st, NULL, &r);
    CHECK(st.stored == 2 && st.replaced == 1 && st.deletions == 1 &&
          st.deleted == 3 && st.was_deleted == 1 && st.errors == 1);
    /* equal reasons are one row, even from different pointers */
    char copy[] = "invalid: offer has expired";
    r.status = HEARTH_VIEW_REJECTED;
    r.why = "invalid: offer has expired";
    hearth_sync_count(&st, NULL, &r);
    r.why = copy;
    hearth_sync_count(&st, NULL, &r);
    CHECK(st.rejected == 2 && st.nreasons == 1 && st.reasons[0].n == 2);
    for (unsigned i = 0; i < HEARTH_SYNC_MAX_REASONS + 1; i++) {
        snprintf(reasons[i], sizeof reasons[i], "invalid: reason %u", i);
        r.why = reasons[i];
        hearth_sync_count(&st, NULL, &r);
    }
    CHECK(st.nreasons == HEARTH_SYNC_MAX_REASONS);
    CHECK(st.other_reasons == 2);
    CHECK(st.rejected == 2 + HEARTH_SYNC_MAX_REASONS + 1);
}

static void test_deletion(void)
{
    uint8_t sk[32], pk[32], other[32];
    hearth_offer o[2];
    hearth_view *v = NULL;
    hearth_view_result res[3];
    char *dir = tap_tmpdir("sync");
    int64_t now = time(NULL);
    char a[160], hex[65];
    hearth_key_generate(sk);
    hearth_key_pubkey(sk, pk);
    make_offer(&o[0], 5970, HEARTH_BACKEND_POW);
    make_offer(&o[1], 5100, HEARTH_BACKEND_OPENAI);

    hearth_event *del = NULL;
    CHECK(hearth_offer_deletion(o, 0, pk, now, &del) == HEARTH_EINVAL);
    CHECK(hearth_offer_deletion(o, 2, pk, now + 1, &del) == HEARTH_OK);
    hearth_hex_encode(pk, 32, hex);
    snprintf(a, sizeof a, "31907:%s:5970:pow", hex);
    CHECK(del->kind == HEARTH_KIND_DELETION && del->created_at == now + 1);
    CHECK(has_tag(del, "a", a));
    snprintf(a, sizeof a, "31907:%s:5100:openai", hex);
    CHECK(has_tag(del, "a", a));
    CHECK(has_tag(del, "k", "31907") && del->ntags == 3);

    /* the view applies it: both offers go, late copies are refused */
    CHECK(hearth_view_open(dir, NULL, &v) == HEARTH_OK);
    hearth_event *evs[3] = {signed_offer(&o[0], sk, now),
                            signed_offer(&o[1], sk, now), NULL};
    CHECK(hearth_view_ingest(v, evs, 2, now, res) == HEARTH_OK);
    CHECK(res[0].status == HEARTH_VIEW_STORED &&
          res[1].status == HEARTH_VIEW_STORED);
    CHECK(hearth_event_sign(del, sk) == HEARTH_OK);
    evs[2] = del;
    CHECK(hearth_view_ingest(v, evs + 2, 1, now, res) == HEARTH_OK);
    CHECK(res[0].status == HEARTH_VIEW_DELETION && res[0].removed == 2);
    CHECK(hearth_view_ingest(v, evs, 1, now, res) == HEARTH_OK);
    CHECK(res[0].status == HEARTH_VIEW_DELETED);
    hearth_offer got;
    CHECK(hearth_view_get_offer(v, 5970, pk, HEARTH_BACKEND_POW, &got) ==
          HEARTH_ENOTFOUND);

    /* someone else's deletion of these addresses does nothing */
    hearth_key_generate(sk);
    hearth_key_pubkey(sk, other);
    hearth_event *forged = NULL;
    CHECK(hearth_offer_deletion(o, 1, pk, now + 2, &forged) == HEARTH_OK);
    CHECK(hearth_event_sign(forged, sk) == HEARTH_OK);
    CHECK(hearth_view_ingest(v, &forged, 1, now, res) == HEARTH_OK);
    CHECK(res[0].status == HEARTH_VIEW_DELETION && res[0].removed == 0);
    for (int i = 0; i < 3; i++)
        hearth_event_free(evs[i]);
    hearth_event_free(forged);
    hearth_view_close(v);
    tap_rmtree(dir);
    free(dir);
}

/* ---- the round in one process ---- */

enum phase { P_PUBLISH, P_SYNC, P_UPDATE, P_STOP, P_DONE };

struct round {
    hearth_loop *loop;
    hearth_pool *pool;
    hearth_view *view;
    hearth_sync *sync;
    hearth_keeper *keeper;
    hearth_offer offers[2];
    uint8_t pk[32];
    enum phase phase;
    unsigned oks, not_ok, deletions_ok;
    int stopped, stop_ok, timed_out;
    size_t after_sync, after_update, after_stop;
    lws_sorted_usec_list_t watchdog;
};

static size_t view_count(hearth_view *v)
{
    hearth_peer *peers = NULL;
    size_t n = 0;
    if (hearth_view_snapshot(v, 0, time(NULL), &peers, NULL, NULL, &n))
        return (size_t)-1;
    free(peers);
    return n;
}

static void on_batch(hearth_sync *s, hearth_event *const *evs,
                     const hearth_view_result *res, size_t n, void *user)
{
    struct round *r = user;
    (void)s;
    (void)evs;
    for (size_t i = 0; i < n; i++) {
        if (res[i].status != HEARTH_VIEW_DELETION || !res[i].removed)
            continue;
        if (r->phase == P_UPDATE) {
            r->after_update = view_count(r->view);
            r->phase = P_STOP;
            CHECK(hearth_keeper_stop(r->keeper) == HEARTH_OK);
            CHECK(hearth_keeper_stop(r->keeper) == HEARTH_OK); /* no-op */
        } else if (r->phase == P_STOP) {
            r->after_stop = view_count(r->view);
            r->phase = P_DONE;
        }
    }
    if (r->phase == P_DONE && r->stopped)
        hearth_loop_stop(r->loop);
}

static void on_caught_up(hearth_sync *s, void *user)
{
    struct round *r = user;
    (void)s;
    r->after_sync = view_count(r->view);
    r->phase = P_UPDATE;
    /* withdraw the second offer by leaving it out */
    CHECK(hearth_keeper_update(r->keeper, r->offers, 1) == HEARTH_OK);
}

static void on_result(hearth_keeper *k, const hearth_event *ev,
                      const char *relay, enum hearth_pub_result res,
                      const char *msg, void *user)
{
    struct round *r = user;
    (void)k;
    (void)relay;
    if (res != HEARTH_PUB_OK) {
        fprintf(stderr, "publish: %d %s\n", (int)res, msg);
        r->not_ok++;
        return;
    }
    if (ev->kind == HEARTH_KIND_DELETION) {
        r->deletions_ok++;
        return;
    }
    if (++r->oks == 2 && r->phase == P_PUBLISH) {
        hearth_sync_opts so;
        hearth_sync_opts_default(&so);
        so.batch_ms = 20;
        so.on_batch = on_batch;
        so.on_caught_up = on_caught_up;
        so.user = r;
        r->phase = P_SYNC;
        CHECK(hearth_sync_new(r->loop, r->pool, r->view, &so, &r->sync) ==
              HEARTH_OK);
    }
}

static void on_stopped(hearth_keeper *k, int all_ok, void *user)
{
    struct round *r = user;
    (void)k;
    r->stopped = 1;
    r->stop_ok = all_ok;
    if (r->phase == P_DONE)
        hearth_loop_stop(r->loop);
}

static void watchdog_cb(lws_sorted_usec_list_t *sul)
{
    struct round *r = lws_container_of(sul, struct round, watchdog);
    r->timed_out = 1;
    hearth_loop_stop(r->loop);
}

static void test_round(void)
{
    struct round r;
    char *dir = tap_tmpdir("sync"), sub[4200], url[64];
    struct test_relay *relay;
    int port = 0;
    hearth_pool_opts po;
    hearth_keeper_opts ko;
    uint8_t sk[32];
    memset(&r, 0, sizeof r);
    hearth_key_generate(sk);
    hearth_key_pubkey(sk, r.pk);
    make_offer(&r.offers[0], 5970, HEARTH_BACKEND_POW);
    make_offer(&r.offers[1], 5100, HEARTH_BACKEND_OPENAI);

    snprintf(sub, sizeof sub, "%s/view", dir);
    CHECK(hearth_view_open(sub, NULL, &r.view) == HEARTH_OK);
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

    hearth_keeper_opts_default(&ko);
    ko.refresh_s = 60;
    ko.on_result = on_result;
    ko.on_stopped = on_stopped;
    ko.user = &r;
    /* two offers at one address are refused */
    hearth_offer twins[2] = {r.offers[0], r.offers[0]};
    hearth_keeper *bad = NULL;
    CHECK(hearth_keeper_new(r.loop, r.pool, sk, twins, 2, &ko, &bad) ==
          HEARTH_EINVAL && !bad);
    CHECK(hearth_keeper_new(r.loop, r.pool, sk, r.offers, 2, &ko,
                            &r.keeper) == HEARTH_OK);
    CHECK(hearth_keeper_start(r.keeper) == HEARTH_OK);
    lws_sul_schedule(hearth_loop_lws(r.loop), 0, &r.watchdog, watchdog_cb,
                     20 * LWS_US_PER_SEC);
    CHECK(hearth_loop_run(r.loop) == HEARTH_OK);
    lws_sul_cancel(&r.watchdog);

    CHECKF(!r.timed_out, "phase %d, oks %u", (int)r.phase, r.oks);
    CHECK(r.not_ok == 0);
    CHECKF(r.after_sync == 2, "%zu", r.after_sync);
    CHECKF(r.after_update == 1, "%zu", r.after_update);
    CHECKF(r.after_stop == 0, "%zu", r.after_stop);
    CHECK(r.stopped && r.stop_ok && r.deletions_ok == 2);
    CHECK(hearth_keeper_pending(r.keeper) == 0);
    const hearth_sync_stats *st = r.sync ? hearth_sync_get_stats(r.sync) : NULL;
    CHECK(st && st->stored >= 2 && st->deletions == 2 && st->deleted == 2 &&
          st->rejected == 0 && st->errors == 0);
    CHECK(r.sync && hearth_sync_caught_up(r.sync));

    hearth_sync_free(r.sync);
    hearth_pool_free(r.pool);
    hearth_keeper_free(r.keeper);
    test_relay_stop(relay);
    hearth_loop_free(r.loop);
    test_relay_free(relay);
    hearth_view_close(r.view);
    tap_rmtree(dir);
    free(dir);
}

int main(void)
{
    test_filters();
    test_count();
    test_deletion();
    test_round();
    return tap_done();
}
