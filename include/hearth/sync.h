/* Market sync: the market view follows the relays. One subscription
 * through the relay pool asks every relay for live offers (kind 31907)
 * and for NIP-09 deletions of offers; what arrives is batched and
 * ingested into the view (one write transaction per batch), and expired
 * offers are purged on a timer. `hearth market sync` and the peer daemon
 * use it; docs/market-view.md "Sync" has the filters and the reasons.
 *
 * Everything runs on the loop thread, like the pool it uses. Free the
 * sync before the pool. */
#ifndef HEARTH_SYNC_H
#define HEARTH_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/event.h"
#include "hearth/filter.h"
#include "hearth/loop.h"
#include "hearth/pool.h"
#include "hearth/view.h"

#define HEARTH_SYNC_MAX_KINDS   64u  /* job kinds in the #k filter */
#define HEARTH_SYNC_MAX_REASONS 16u  /* distinct rejection reasons kept */

typedef struct hearth_sync hearth_sync;

/* What the sync did so far; the counts follow hearth_view_status. */
typedef struct hearth_sync_stats {
    uint64_t events;        /* handed over by the pool (verified, new) */
    uint64_t batches;       /* view transactions */
    uint64_t stored;        /* offers new to the view or newer versions */
    uint64_t replaced;      /* of those, ones that replaced an older one */
    uint64_t duplicate;     /* already in the view */
    uint64_t older;         /* a newer version is in the view */
    uint64_t deletions;     /* NIP-09 deletions applied */
    uint64_t deleted;       /* offers those deletions removed */
    uint64_t was_deleted;   /* late copies of offers their author deleted */
    uint64_t rejected;      /* refused by the view (see reasons) */
    uint64_t rate_limited;
    uint64_t ignored;       /* neither an offer nor a deletion of one */
    uint64_t errors;        /* lost to a failed batch (storage) */
    uint64_t expired;       /* offers purged after their expiration */
    int64_t newest;         /* newest created_at handed over; 0 if none */
    /* rejections by reason, in order of first appearance; reasons past
     * the table count in other_reasons */
    size_t nreasons;
    struct {
        const char *why;    /* static, NIP-01 prefixed */
        uint64_t n;
    } reasons[HEARTH_SYNC_MAX_REASONS];
    uint64_t other_reasons;
} hearth_sync_stats;

typedef struct hearth_sync_opts {
    /* only offers of these NIP-90 job kinds (#k); 0 kinds: every kind */
    uint32_t job_kinds[HEARTH_SYNC_MAX_KINDS];
    size_t njob_kinds;
    /* oldest created_at asked for; 0: now - HEARTH_OFFER_MAX_TTL_S, the
     * oldest date a live offer (or a deletion that still matters) has */
    int64_t since;
    uint32_t batch_ms;      /* ingest at most this long after an event
                               arrived (100) */
    uint32_t batch_max;     /* or once this many wait (512) */
    uint32_t purge_ms;      /* between purges of expired offers (60000) */
    uint32_t purge_max;     /* offers removed per transaction (4096) */
    /* After each batch: the events (freed after the call) and the
     * view's verdicts. May be NULL. */
    void (*on_batch)(hearth_sync *s, hearth_event *const *evs,
                     const hearth_view_result *res, size_t n, void *user);
    /* Once, when every relay has sent EOSE (or closed, or failed) and
     * everything before it is in the view. May be NULL. */
    void (*on_caught_up)(hearth_sync *s, void *user);
    void *user;
} hearth_sync_opts;

void hearth_sync_opts_default(hearth_sync_opts *o);

/* Subscribe on every relay of the pool (and relays added later) and
 * start the purge timer. opts is copied; NULL means the defaults, and
 * so does 0 in batch_ms, batch_max, purge_ms and purge_max. The view
 * and pool must outlive the sync. */
int hearth_sync_new(hearth_loop *loop, hearth_pool *pool, hearth_view *view,
                    const hearth_sync_opts *opts, hearth_sync **out);
/* Unsubscribe, ingest what is still waiting, cancel the timers, free.
 * Call it before hearth_pool_free. NULL is fine. */
void hearth_sync_free(hearth_sync *s);

/* Ingest the waiting events now. The return code is the view's. */
int hearth_sync_flush(hearth_sync *s);
/* Purge every offer expired at now (in transactions of purge_max). */
int hearth_sync_purge(hearth_sync *s, int64_t now);
/* 1 once on_caught_up has happened. */
int hearth_sync_caught_up(const hearth_sync *s);
const hearth_sync_stats *hearth_sync_get_stats(const hearth_sync *s);
/* The subscription, for hearth_sub_relay_state. */
hearth_sub *hearth_sync_sub(const hearth_sync *s);

/* ---- pure parts ---- */

/* The two filters the sync subscribes with: offers of the job kinds
 * ({"kinds":[31907],"#k":[...],"since":S}) and deletions of offers
 * ({"kinds":[5],"#k":["31907"],"since":S}). The caller frees both with
 * hearth_filter_free. */
int hearth_sync_filters(const uint32_t *job_kinds, size_t n, int64_t since,
                        hearth_filter *out[2]);
/* Add one event's verdict to st. */
void hearth_sync_count(hearth_sync_stats *st, const hearth_event *ev,
                       const hearth_view_result *r);

#endif
