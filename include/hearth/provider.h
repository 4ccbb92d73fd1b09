/* The provider role (docs/jobs.md "Provider"): serve NIP-90 jobs from any
 * Nostr client on this peer's runners.
 *
 * The provider subscribes, through the relay pool, to job requests of the
 * kinds its runners serve (open ones and ones addressed to it) and to
 * NIP-09 deletions of them (cancellation). Each request is parsed and
 * decrypted (nip90.h), checked for duplicates and recorded in the job
 * table (jobdb.h) before anything else, admitted or refused with an
 * `error` feedback a person understands, quoted with `payment-required`
 * when its price is above the customer's bid, and queued for its runner.
 * Each runner has its own worker threads (its slots) and a bounded queue:
 * past it, "busy, try later". Running jobs report `processing` feedback
 * with a percentage (at most one per progress_ms), `partial` results when
 * the runner streams, and end with the result event (or an `error`).
 *
 * Crash safety: every state change is committed to the job table before
 * its effect is published, so after a restart hearth_provider_start finds
 * each unfinished job where it was: QUEUED jobs run, a job that was
 * RUNNING is closed with an error feedback (it is never run twice), and a
 * RESULT that no relay had accepted is published again.
 *
 * Thread rules: all calls on the loop thread, like the pool's. */
#ifndef HEARTH_PROVIDER_H
#define HEARTH_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/jobdb.h"
#include "hearth/ledger.h"
#include "hearth/loop.h"
#include "hearth/nip90.h"
#include "hearth/offer.h"
#include "hearth/pool.h"
#include "hearth/runner.h"

typedef struct hearth_provider hearth_provider;

typedef struct hearth_provider_opts {
    const uint8_t *sk;                 /* the peer's key (copied) */
    hearth_runner *const *runners;     /* not owned; outlive the provider */
    size_t nrunners;
    const hearth_price *prices;        /* one per runner; NULL: all free */
    uint32_t queue_max;                /* waiting jobs per runner (8) */
    uint32_t progress_ms;              /* between processing feedback
                                          (1000) */
    uint32_t max_age_s;                /* ignore older requests (900) */
    uint32_t time_limit_ms;            /* per job (600000) */
    uint64_t mem_limit;                /* per job, for runners that can
                                          bound it (0: the runner's) */
    const uint8_t (*blocked)[32];      /* customers refused */
    size_t nblocked;
    /* one line per notable thing: never inputs, outputs or keys */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
    /* Router role (docs/router.md): job kinds it subscribes to without
     * serving them, and the hook offered every open request addressed to
     * nobody that this peer cannot serve (kind not served, or its queue
     * full). The hook returns 1 when it took the request (and owns req
     * from then on), 0 to leave it. NULL: no routing. */
    const uint32_t *route_kinds;
    size_t nroute_kinds;
    int (*route)(void *route_user, hearth_job_request *req,
                 const char *why);
    void *route_user;
    /* The ledger receipts are booked in (docs/ledger.md), or NULL. A
     * customer's receipt (kind 7442) for a delivered job becomes an
     * ACCEPTED or DISPUTED posting, idempotent by the receipt's id. */
    hearth_ledger *ledger;
    /* after hearth_provider_drain: no job runs any more and every event
     * the provider published got its answers (or timed out) */
    void (*on_drained)(hearth_provider *p, void *user);
    void *user;
} hearth_provider_opts;

void hearth_provider_opts_default(hearth_provider_opts *o);

/* Pool, loop and job table must outlive the provider. */
int hearth_provider_new(hearth_loop *loop, hearth_pool *pool,
                        hearth_jobdb *db, const hearth_provider_opts *o,
                        hearth_provider **out);
/* Resume unfinished jobs from the job table, start the workers and
 * subscribe. */
int hearth_provider_start(hearth_provider *p);
/* Hand over what the workers finished: call from the pool's on_wake. */
void hearth_provider_on_wake(hearth_provider *p);
/* Stop taking jobs; running jobs finish. After deadline_ms they are
 * cancelled and closed with an error feedback; queued ones stay queued
 * for the next start. on_drained follows (never from inside this call). */
int hearth_provider_drain(hearth_provider *p, uint32_t deadline_ms);
/* Joins the workers (cancelling running jobs without feedback) and frees
 * everything. */
void hearth_provider_free(hearth_provider *p);

typedef struct hearth_provider_stats {
    uint64_t seen;          /* requests for us, after de-duplication */
    uint64_t refused;       /* error feedback at admission */
    uint64_t quoted;        /* payment-required sent */
    uint64_t busy;          /* refused for a full queue */
    uint64_t done, failed, cancelled;
    uint32_t running, queued;
    uint64_t earned_msat;   /* amounts of delivered results */
} hearth_provider_stats;
void hearth_provider_get_stats(const hearth_provider *p,
                               hearth_provider_stats *st);

#endif
