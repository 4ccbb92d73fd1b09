/* Offer keeper: keeps this peer's offers alive on its relays. It
 * publishes them at once, again every refresh interval (each time with a
 * fresh created_at and a NIP-40 expiration ttl ahead, docs/protocol.md
 * "Lifetime"), again whenever asked (capacity or prices changed), and on
 * a clean shutdown withdraws them with one NIP-09 deletion. `hearth offer
 * publish --keep` uses it; the peer daemon will too.
 *
 * Everything runs on the loop thread, through the relay pool. Publishes
 * cannot be cancelled in the pool, so free the keeper after the pool, or
 * once hearth_keeper_pending is 0. */
#ifndef HEARTH_KEEPER_H
#define HEARTH_KEEPER_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/event.h"
#include "hearth/loop.h"
#include "hearth/offer.h"
#include "hearth/pool.h"

#define HEARTH_KEEPER_MAX_OFFERS 64u

typedef struct hearth_keeper hearth_keeper;

typedef struct hearth_keeper_opts {
    uint32_t refresh_s;       /* between publishes (HEARTH_OFFER_REFRESH_S) */
    uint32_t ttl_s;           /* expiration = created_at + ttl; 0: twice
                                 refresh_s, at most HEARTH_OFFER_MAX_TTL_S */
    int pow_bits;             /* NIP-13 bits mined on each offer (0) */
    uint32_t stop_timeout_ms; /* wait for the deletion's OKs (5000) */
    /* Each relay's final answer for each offer or deletion published.
     * May be NULL. */
    void (*on_result)(hearth_keeper *k, const hearth_event *ev,
                      const char *relay, enum hearth_pub_result r,
                      const char *message, void *user);
    /* After hearth_keeper_stop: every relay answered the deletion
     * (all_ok: each with OK) or stop_timeout_ms passed (all_ok 0). */
    void (*on_stopped)(hearth_keeper *k, int all_ok, void *user);
    void *user;
} hearth_keeper_opts;

void hearth_keeper_opts_default(hearth_keeper_opts *o);

/* Copies the offers (1..HEARTH_KEEPER_MAX_OFFERS, at distinct addresses:
 * job kind and backend), the key and opts; pubkey, event_id, created_at
 * and expires_at of the offers are not read. Publishes nothing yet.
 * HEARTH_EINVAL if an offer does not pass hearth_offer_check. */
int hearth_keeper_new(hearth_loop *loop, hearth_pool *pool,
                      const uint8_t sk[32], const hearth_offer *offers,
                      size_t n, const hearth_keeper_opts *opts,
                      hearth_keeper **out);
/* Publish now and every refresh_s from now on. */
int hearth_keeper_start(hearth_keeper *k);
/* Publish now (the refresh timer starts over): a change the market
 * should see before the next refresh. */
int hearth_keeper_publish(hearth_keeper *k);
/* Replace the offers and publish now; offers whose address is gone are
 * withdrawn with a deletion. */
int hearth_keeper_update(hearth_keeper *k, const hearth_offer *offers,
                         size_t n);
/* Stop refreshing and publish the deletion of every offer; on_stopped
 * follows (never from inside this call). A second call does nothing. */
int hearth_keeper_stop(hearth_keeper *k);
/* Events still waiting for some relay's answer. */
size_t hearth_keeper_pending(const hearth_keeper *k);
void hearth_keeper_free(hearth_keeper *k);

/* Pure: the unsigned NIP-09 deletion (kind 5) of the given offers of
 * pubkey: ["a", "31907:<pubkey>:<job kind>:<backend>"] for each, then
 * ["k", "31907"] so relays can serve it to {"#k":["31907"]}. */
int hearth_offer_deletion(const hearth_offer *offers, size_t n,
                          const uint8_t pubkey[32], int64_t created_at,
                          hearth_event **out);

#endif
