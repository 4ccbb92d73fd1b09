/* Peer selection: pure functions over a snapshot of the market view. The
 * CLI (`hearth peers`), the job client and the simulator call the same
 * code. Nothing here touches LMDB, the network or global state; the
 * randomness is a seed in the request, so every choice is reproducible
 * and can be explained. */
#ifndef HEARTH_SELECT_H
#define HEARTH_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/offer.h"

/* One offer as the selector sees it: fixed size, no pointers, so a view
 * of 100,000 offers is one contiguous array. */
typedef struct hearth_peer {
    uint8_t pubkey[32];
    uint32_t job_kind;
    uint8_t backend;          /* hearth_backend */
    uint8_t tier;             /* 1..4, 0 = CPU only */
    uint8_t rails;            /* HEARTH_RAIL_* */
    uint8_t nmodels;
    uint32_t vram_mb;
    uint32_t model_hash[HEARTH_OFFER_MAX_MODELS]; /* hearth_model_hash */
    hearth_price price;
    uint64_t bench_mhash_s;
    uint32_t bench_tokens_s;
    uint32_t capacity_free, capacity_total;
    int64_t expires_at;
} hearth_peer;

/* What this peer has observed of a provider (kept in LMDB by the view). */
typedef struct hearth_peer_obs {
    uint32_t rtt_ms;          /* relay round trip, 0 = unknown */
    uint32_t jobs_ok, jobs_failed;
    uint32_t consecutive_failures;
    int64_t last_failure;
    int64_t cooldown_until;   /* not selectable before this time */
    float reputation;         /* 0..1 from receipts (ledger), 0.5 unknown */
} hearth_peer_obs;

typedef enum hearth_strategy {
    HEARTH_STRATEGY_BALANCED = 0,   /* default */
    HEARTH_STRATEGY_CHEAPEST,
    HEARTH_STRATEGY_FASTEST,
    HEARTH_STRATEGY_LEAST_LOADED,
    HEARTH_STRATEGY_ROUND_ROBIN
} hearth_strategy;

typedef struct hearth_select_req {
    uint32_t job_kind;
    uint32_t model_hash;        /* 0 = any model */
    uint32_t min_vram_mb;
    uint8_t max_tier;           /* 0 = any; else tier <= max_tier (1 best) */
    uint8_t rails;              /* need at least one of these rails; 0 any */
    uint64_t max_price_msat;    /* 0 = no limit; for the estimated usage */
    hearth_usage usage;         /* estimated size of the job */
    const uint8_t (*trust)[32]; /* if ntrust > 0, only these pubkeys */
    size_t ntrust;
    const uint8_t (*block)[32]; /* never these */
    size_t nblock;
    hearth_strategy strategy;
    size_t top_n;               /* randomise among the best top_n (>= 1) */
    uint64_t seed;              /* randomisation and round-robin position */
    int64_t now;
} hearth_select_req;

/* One ranked candidate with the parts of its score, for --explain */
typedef struct hearth_candidate {
    size_t index;               /* into the peers array */
    double score;               /* higher is better */
    uint64_t price_msat;        /* for req->usage */
    double latency_ms;          /* expected: rtt + queue + run time */
    double reliability;         /* 0..1 */
    double reputation;          /* 0..1 */
    double load;                /* 0..1, busy share of capacity */
} hearth_candidate;

/* Why a peer was filtered out (counts, for --explain) */
typedef struct hearth_select_stats {
    size_t considered, wrong_kind, wrong_model, too_small, wrong_tier,
        no_rail, too_expensive, untrusted, blocked, cooling_down, expired,
        full;
} hearth_select_stats;

/* Rank peers[0..n) (obs may be NULL = nothing observed) for req; writes up
 * to max_out candidates, best first, into out and their count to *nout.
 * The first candidate is the choice (after top-N randomisation). */
int hearth_select(const hearth_peer *peers, const hearth_peer_obs *obs,
                  size_t n, const hearth_select_req *req,
                  hearth_candidate *out, size_t max_out, size_t *nout,
                  hearth_select_stats *stats);

/* FNV-1a of a model name: models are compared by hash in the hot loop */
uint32_t hearth_model_hash(const char *name);
/* fill a hearth_peer from a parsed offer */
void hearth_peer_from_offer(const hearth_offer *o, hearth_peer *out);
int hearth_strategy_parse(const char *name, hearth_strategy *out);
const char *hearth_strategy_name(hearth_strategy s);

#endif
