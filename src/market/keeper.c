/* Offer keeper: publish, refresh, withdraw (include/hearth/keeper.h,
 * docs/market-view.md "Keeping offers alive"). */
#include "hearth/keeper.h"

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/nip13.h"

#include <libwebsockets.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One event handed to the pool, until every relay has answered. */
struct ticket {
    struct ticket *next;
    hearth_keeper *k;
    hearth_event *ev;
    size_t remaining;          /* relays yet to answer */
    int not_ok;                /* some relay did not accept it */
    int is_stop;               /* the deletion of hearth_keeper_stop */
};

struct hearth_keeper {
    hearth_loop *loop;
    hearth_pool *pool;
    uint8_t sk[32], pk[32];
    hearth_keeper_opts o;
    hearth_offer *offers;      /* HEARTH_KEEPER_MAX_OFFERS slots */
    size_t n;
    int64_t last;              /* created_at of the newest publish */
    int started, stopping, stop_reported;
    struct ticket *tickets;
    size_t ntickets;
    lws_sorted_usec_list_t refresh_sul, stop_sul;
};

void hearth_keeper_opts_default(hearth_keeper_opts *o)
{
    memset(o, 0, sizeof *o);
    o->refresh_s = HEARTH_OFFER_REFRESH_S;
    o->stop_timeout_ms = 5000;
}

/* ---- pure ---- */

int hearth_offer_deletion(const hearth_offer *offers, size_t n,
                          const uint8_t pubkey[32], int64_t created_at,
                          hearth_event **out)
{
    static const char content[] = "hearth offers withdrawn";
    char pk[65], a[128], k[16];
    hearth_event *ev;
    *out = NULL;
    if (n == 0)
        return HEARTH_EINVAL;
    int rc = hearth_event_new(HEARTH_KIND_DELETION, created_at, content,
                              sizeof content - 1, &ev);
    if (rc)
        return rc;
    hearth_hex_encode(pubkey, 32, pk);
    for (size_t i = 0; i < n && !rc; i++) {
        const char *be = hearth_backend_name(offers[i].backend);
        snprintf(a, sizeof a, "%u:%s:%u:%s", HEARTH_KIND_OFFER, pk,
                 offers[i].job_kind, be ? be : "?");
        rc = hearth_event_add_tagv(ev, "a", a, NULL);
    }
    snprintf(k, sizeof k, "%u", HEARTH_KIND_OFFER);
    if (!rc)
        rc = hearth_event_add_tagv(ev, "k", k, NULL);
    if (rc) {
        hearth_event_free(ev);
        return rc;
    }
    *out = ev;
    return HEARTH_OK;
}

/* ---- publishing ---- */

static void finish_stop(hearth_keeper *k, int all_ok)
{
    if (k->stop_reported)
        return;
    k->stop_reported = 1;
    lws_sul_cancel(&k->stop_sul);
    if (k->o.on_stopped)
        k->o.on_stopped(k, all_ok, k->o.user);
}

static void drop_ticket(hearth_keeper *k, struct ticket *t)
{
    for (struct ticket **p = &k->tickets; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    k->ntickets--;
    hearth_event_free(t->ev);
    free(t);
}

static void on_pub(const uint8_t id[32], const char *relay,
                   enum hearth_pub_result r, const char *msg, void *user)
{
    struct ticket *t = user;
    hearth_keeper *k = t->k;
    (void)id;
    if (r != HEARTH_PUB_OK)
        t->not_ok = 1;
    if (k->o.on_result)
        k->o.on_result(k, t->ev, relay, r, msg, k->o.user);
    if (--t->remaining)
        return;
    int stop = t->is_stop, ok = !t->not_ok;
    drop_ticket(k, t);
    if (stop)
        finish_stop(k, ok);
}

/* Sign (mining first if asked) and hand to the pool; takes ev. */
static int send_event(hearth_keeper *k, hearth_event *ev, int is_stop)
{
    struct ticket *t = calloc(1, sizeof *t);
    int rc = t ? HEARTH_OK : HEARTH_ENOMEM;
    if (!rc && k->o.pow_bits > 0 && ev->kind == HEARTH_KIND_OFFER) {
        /* the nonce commits to the pubkey, so it goes in first */
        memcpy(ev->pubkey, k->pk, 32);
        ev->has |= HEARTH_EV_HAS_PUBKEY;
        rc = hearth_nip13_mine(ev, k->o.pow_bits, 0, NULL);
    }
    if (!rc)
        rc = hearth_event_sign(ev, k->sk);
    if (!rc) {
        t->k = k;
        t->ev = ev;
        t->is_stop = is_stop;
        t->remaining = hearth_pool_nrelays(k->pool);
        if (t->remaining)
            rc = hearth_pool_publish(k->pool, ev, on_pub, t);
    }
    if (rc || !t->remaining) {
        hearth_event_free(ev);
        free(t);
        return rc;
    }
    t->next = k->tickets;
    k->tickets = t;
    k->ntickets++;
    return HEARTH_OK;
}

/* created_at of the next publish: never the same second twice, or the
 * newer version could lose the tie on its id (NIP-01) */
static int64_t next_created_at(hearth_keeper *k)
{
    int64_t now = (int64_t)time(NULL);
    return now > k->last ? now : k->last + 1;
}

/* created_at of a deletion: covering every version sent so far (NIP-09:
 * up to its own created_at) needs no more than the newest one's second,
 * and no later, so that a restarted peer's first offers are not refused */
static int64_t deletion_created_at(const hearth_keeper *k)
{
    int64_t now = (int64_t)time(NULL);
    return now > k->last ? now : k->last;
}

static int publish_offers(hearth_keeper *k)
{
    int64_t at = next_created_at(k);
    int first = HEARTH_OK;
    for (size_t i = 0; i < k->n; i++) {
        hearth_offer o = k->offers[i];
        hearth_event *ev = NULL;
        o.expires_at = at + k->o.ttl_s;
        int rc = hearth_offer_to_event(&o, at, &ev);
        if (!rc)
            rc = send_event(k, ev, 0);
        if (rc && !first)
            first = rc;
    }
    k->last = at;
    return first;
}

static void refresh_cb(lws_sorted_usec_list_t *sul)
{
    hearth_keeper *k = lws_container_of(sul, hearth_keeper, refresh_sul);
    hearth_keeper_publish(k);
}

int hearth_keeper_publish(hearth_keeper *k)
{
    if (k->stopping)
        return HEARTH_EINVAL;
    k->started = 1;
    int rc = publish_offers(k);
    lws_sul_schedule(hearth_loop_lws(k->loop), 0, &k->refresh_sul,
                     refresh_cb, (lws_usec_t)k->o.refresh_s * 1000000);
    return rc;
}

int hearth_keeper_start(hearth_keeper *k)
{
    return hearth_keeper_publish(k);
}

static int set_offers(hearth_keeper *k, const hearth_offer *offers, size_t n)
{
    const char *why;
    int64_t now = (int64_t)time(NULL);
    if (n == 0 || n > HEARTH_KEEPER_MAX_OFFERS)
        return HEARTH_EINVAL;
    for (size_t i = 0; i < n; i++) {
        hearth_offer o = offers[i];
        o.expires_at = now + k->o.ttl_s;
        if (hearth_offer_check(&o, now, &why))
            return HEARTH_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (offers[j].job_kind == o.job_kind &&
                offers[j].backend == o.backend)
                return HEARTH_EINVAL;
    }
    memmove(k->offers, offers, n * sizeof *offers);
    k->n = n;
    return HEARTH_OK;
}

static int has_address(const hearth_offer *offers, size_t n,
                       const hearth_offer *o)
{
    for (size_t i = 0; i < n; i++)
        if (offers[i].job_kind == o->job_kind &&
            offers[i].backend == o->backend)
            return 1;
    return 0;
}

int hearth_keeper_update(hearth_keeper *k, const hearth_offer *offers,
                         size_t n)
{
    hearth_offer *gone;
    size_t ngone = 0;
    if (k->stopping)
        return HEARTH_EINVAL;
    gone = malloc(k->n * sizeof *gone);
    if (!gone)
        return HEARTH_ENOMEM;
    for (size_t i = 0; i < k->n; i++)
        if (!has_address(offers, n, &k->offers[i]))
            gone[ngone++] = k->offers[i];
    int rc = set_offers(k, offers, n);
    if (rc == HEARTH_OK && ngone && k->started) {
        hearth_event *del = NULL;
        int64_t at = deletion_created_at(k);
        rc = hearth_offer_deletion(gone, ngone, k->pk, at, &del);
        if (!rc)
            rc = send_event(k, del, 0);
        k->last = at; /* an address added back later must be newer */
    }
    free(gone);
    if (rc)
        return rc;
    return k->started ? hearth_keeper_publish(k) : HEARTH_OK;
}

/* the deletion's answers did not all come in time, or it never went */
static void stop_cb(lws_sorted_usec_list_t *sul)
{
    finish_stop(lws_container_of(sul, hearth_keeper, stop_sul), 0);
}

int hearth_keeper_stop(hearth_keeper *k)
{
    hearth_event *del = NULL;
    if (k->stopping)
        return HEARTH_OK;
    k->stopping = 1;
    lws_sul_cancel(&k->refresh_sul);
    int rc = hearth_offer_deletion(k->offers, k->n, k->pk,
                                   deletion_created_at(k), &del);
    if (!rc)
        rc = send_event(k, del, 1);
    int sent = 0;
    for (struct ticket *t = k->tickets; t; t = t->next)
        sent |= t->is_stop;
    /* nothing in flight (no relay, or an error): report from the loop,
     * never from inside this call */
    lws_sul_schedule(hearth_loop_lws(k->loop), 0, &k->stop_sul, stop_cb,
                     sent ? (lws_usec_t)k->o.stop_timeout_ms * 1000 : 1);
    return rc;
}

size_t hearth_keeper_pending(const hearth_keeper *k)
{
    return k->ntickets;
}

/* ---- life cycle ---- */

int hearth_keeper_new(hearth_loop *loop, hearth_pool *pool,
                      const uint8_t sk[32], const hearth_offer *offers,
                      size_t n, const hearth_keeper_opts *opts,
                      hearth_keeper **out)
{
    hearth_keeper_opts d;
    hearth_keeper *k;
    *out = NULL;
    hearth_keeper_opts_default(&d);
    k = calloc(1, sizeof *k);
    if (!k)
        return HEARTH_ENOMEM;
    k->o = opts ? *opts : d;
    if (!k->o.refresh_s)
        k->o.refresh_s = d.refresh_s;
    if (!k->o.stop_timeout_ms)
        k->o.stop_timeout_ms = d.stop_timeout_ms;
    if (!k->o.ttl_s)
        k->o.ttl_s = 2 * k->o.refresh_s;
    if (k->o.ttl_s > HEARTH_OFFER_MAX_TTL_S)
        k->o.ttl_s = HEARTH_OFFER_MAX_TTL_S;
    k->loop = loop;
    k->pool = pool;
    k->offers = calloc(HEARTH_KEEPER_MAX_OFFERS, sizeof *k->offers);
    int rc = k->offers ? HEARTH_OK : HEARTH_ENOMEM;
    if (!rc)
        rc = hearth_key_pubkey(sk, k->pk);
    if (!rc)
        rc = set_offers(k, offers, n);
    if (rc) {
        free(k->offers);
        free(k);
        return rc;
    }
    memcpy(k->sk, sk, 32);
    *out = k;
    return HEARTH_OK;
}

void hearth_keeper_free(hearth_keeper *k)
{
    if (!k)
        return;
    lws_sul_cancel(&k->refresh_sul);
    lws_sul_cancel(&k->stop_sul);
    while (k->tickets)
        drop_ticket(k, k->tickets);
    sodium_memzero(k->sk, sizeof k->sk);
    free(k->offers);
    free(k);
}
