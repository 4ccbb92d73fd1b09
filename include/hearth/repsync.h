/* Reputation sync: follows metering notes (kind 7441) and receipts (kind
 * 7442) on the relays through the pool, keeps them in the receipt store
 * (repstore.h), and every interval (and once when the relays' backlog is
 * in) scores every provider with hearth_rep_compute as seen from our key,
 * with priors from our own ledger, and writes the scores into the market
 * view's reputation slot (hearth_rep_fill_view). docs/reputation.md
 * "Wiring".
 *
 * Use: hearth_repsync_new(loop, pool, view, ledger, store, our_pk, opts),
 * hearth_repsync_start, ..., hearth_repsync_free (before the pool, the
 * view, the ledger and the store). Everything runs on the loop thread,
 * like the pool; a computation blocks the loop for its duration, bounded
 * by max_facts (docs/benchmarks.md has the times). */
#ifndef HEARTH_REPSYNC_H
#define HEARTH_REPSYNC_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/filter.h"
#include "hearth/ledger.h"
#include "hearth/loop.h"
#include "hearth/pool.h"
#include "hearth/repstore.h"
#include "hearth/reputation.h"
#include "hearth/view.h"

typedef struct hearth_repsync hearth_repsync;

#define HEARTH_REPSYNC_WINDOW_S (90u * 86400u) /* receipts that count */

typedef struct hearth_repsync_opts {
    /* oldest created_at asked for and scored; 0: now - window_s, moving
     * with the clock at each computation */
    int64_t since;
    uint32_t window_s;      /* HEARTH_REPSYNC_WINDOW_S */
    uint32_t interval_s;    /* between computations (60); one with
                               nothing new stored is skipped, except
                               every tenth (window and priors move) */
    uint32_t batch_ms;      /* store at most this long after an event
                               arrived (100) */
    uint32_t batch_max;     /* or once this many wait (512) */
    uint32_t max_facts;     /* newest receipts fed to one computation
                               (50000) */
    uint32_t max_priors;    /* ledger balances read for priors (4096) */
    hearth_rep_params params;  /* hearth_rep_params_default */
    /* After each computation, with its result (valid during the call).
     * May be NULL. */
    void (*on_scored)(hearth_repsync *r, const hearth_rep_result *res,
                      void *user);
    /* Once, when every relay has sent EOSE (or closed, or failed), the
     * backlog is stored and scored. May be NULL. */
    void (*on_caught_up)(hearth_repsync *r, void *user);
    void *user;
} hearth_repsync_opts;

void hearth_repsync_opts_default(hearth_repsync_opts *o);

typedef struct hearth_repsync_stats {
    uint64_t events;        /* handed over by the pool */
    uint64_t batches;       /* store transactions */
    uint64_t stored, duplicate, rejected, ignored, too_old;
    uint64_t errors;        /* events lost to a failed batch or memory */
    uint64_t computes;      /* computations run */
    uint64_t compute_errors;
    uint64_t last_us;       /* wall time of the last computation, us,
                               reading the store and ledger included */
    uint64_t last_facts;    /* receipts it was fed */
    uint64_t last_priors;
    uint64_t last_scores;   /* providers it scored */
    uint64_t last_written;  /* view entries it changed */
} hearth_repsync_stats;

/* Check and copy everything; nothing happens on the network until
 * hearth_repsync_start. ledger may be NULL (no priors); the others must
 * outlive the sync. opts NULL means the defaults, and so does 0 in a
 * numeric field. */
int hearth_repsync_new(hearth_loop *loop, hearth_pool *pool,
                       hearth_view *view, hearth_ledger *ledger,
                       hearth_repstore *store, const uint8_t our_pk[32],
                       const hearth_repsync_opts *opts,
                       hearth_repsync **out);
/* Subscribe on every relay of the pool and arm the timer. Once only. */
int hearth_repsync_start(hearth_repsync *r);
/* Unsubscribe, store what is waiting, cancel the timers, free. NULL is
 * fine. */
void hearth_repsync_free(hearth_repsync *r);

/* Store the waiting events now. */
int hearth_repsync_flush(hearth_repsync *r);
/* Store the waiting events, score now and fill the view. */
int hearth_repsync_compute(hearth_repsync *r);
/* The last computation's result (empty before the first); valid until
 * the next computation or hearth_repsync_free. */
const hearth_rep_result *hearth_repsync_result(const hearth_repsync *r);
int hearth_repsync_caught_up(const hearth_repsync *r);
const hearth_repsync_stats *hearth_repsync_get_stats(const hearth_repsync *r);
hearth_sub *hearth_repsync_sub(const hearth_repsync *r);

/* ---- pure parts ---- */

/* The filter it subscribes with: {"kinds":[7441,7442],"since":S}. */
int hearth_repsync_filter(int64_t since, hearth_filter **out);

/* Priors from our ledger: one per counterparty we traded with, weight
 * 0.5 * min(1, log1p(v / 1000) / log1p(1e6)) where v is the msat of work
 * sold to and bought from it (revenue and expense over every rail) less
 * what it still owes us: 1 sat counts ~0.025, 1000 sats ~0.25, a million
 * sats or more 0.5, against our own seed weight 1.0. At most max. */
int hearth_repsync_priors(hearth_ledger *l, const uint8_t our_pk[32],
                          hearth_rep_prior *out, size_t max, size_t *n);

#endif
