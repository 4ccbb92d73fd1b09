/* The router role (docs/router.md): take an open job this peer cannot
 * serve, delegate it to a provider chosen from the market view (through
 * the customer role), and answer the original customer under this peer's
 * own signature, with the chain recorded in tags and its own fee added.
 *
 * Loops are impossible by construction: the delegated request carries a
 * ["route", ...] tag listing every peer the job passed through (the
 * original customer first, this router last); a provider or router never
 * takes a request whose route names it, a router never selects a peer in
 * the route, and a job never passes more than HEARTH_NIP90_MAX_ROUTE
 * peers.
 *
 * Thread rules: the loop thread, like the pool and the customer role. */
#ifndef HEARTH_ROUTER_H
#define HEARTH_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/customer.h"
#include "hearth/jobdb.h"
#include "hearth/nip90.h"
#include "hearth/pool.h"

typedef struct hearth_router hearth_router;

typedef struct hearth_router_opts {
    const uint8_t *sk;            /* this peer's key (copied) */
    uint64_t fee_msat;            /* added to the delegate's charge */
    uint32_t max_jobs;            /* routed at once (16) */
    uint32_t deadline_ms;         /* per routed job (120000) */
    uint32_t attempt_timeout_ms;  /* per delegate (30000) */
    hearth_strategy strategy;     /* choosing the delegate (balanced) */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} hearth_router_opts;

void hearth_router_opts_default(hearth_router_opts *o);

/* customer, pool and db must outlive the router. */
int hearth_router_new(hearth_pool *pool, hearth_customer *customer,
                      hearth_jobdb *db, const hearth_router_opts *o,
                      hearth_router **out);
/* Closes routed jobs still open in the job table (left by a crash) with
 * an error feedback. */
int hearth_router_start(hearth_router *r);
/* The provider's route hook (hearth_provider_opts.route): 1 when the
 * router took req (it owns it then), 0 to leave it. */
int hearth_router_take(void *router, hearth_job_request *req,
                       const char *why);
void hearth_router_free(hearth_router *r);

typedef struct hearth_router_stats {
    uint64_t taken, delivered, failed, declined;
    uint32_t active;
    uint64_t fees_msat;
} hearth_router_stats;
void hearth_router_get_stats(const hearth_router *r, hearth_router_stats *st);

/* Pure: the route of the request a router with pubkey me sends when it
 * delegates req: req's route (or, for a job straight from its customer,
 * just the customer), then me. HEARTH_EINVAL when me is already in it or
 * it would pass HEARTH_NIP90_MAX_ROUTE. */
int hearth_router_next_route(const hearth_job_request *req,
                             const uint8_t me[32],
                             uint8_t route[HEARTH_NIP90_MAX_ROUTE][32],
                             size_t *n);

#endif
