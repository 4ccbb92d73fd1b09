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
    uint8_t tier;             /* 1..4, 0 = CPU only (fails any max_tier) */
    uint8_t rails;            /* HEARTH_RAIL_* */
    uint8_t nmodels;
    uint32_t vram_mb;
    uint32_t model_hash[HEARTH_OFFER_MAX_MODELS]; /* hearth_model_hash */
    hearth_price price;
    uint64_t bench_mhash_s;   /* 0 = not measured: assumed slow */
    uint32_t bench_tokens_s;  /* 0 = not measured: assumed slow */
    uint32_t capacity_free, capacity_total;  /* total 0 = not advertised */
    int64_t expires_at;       /* NIP-40; expired when <= now; 0 = never */
} hearth_peer;

/* The hardware check's mark on a provider (docs/challenge.md): whether its
 * claimed hash rate held up in a timed PoW challenge this peer sent. */
enum hearth_hw_verdict {
    HEARTH_HW_UNCHECKED = 0,  /* never checked (and every old record) */
    HEARTH_HW_PASS = 1,
    HEARTH_HW_FAIL = 2        /* its GPU offers are not selected */
};

/* What this peer has observed of a provider (kept in LMDB by the view). */
typedef struct hearth_peer_obs {
    uint32_t rtt_ms;          /* relay round trip, 0 = unknown (250 ms) */
    uint32_t jobs_ok, jobs_failed;
    uint32_t consecutive_failures;
    int64_t last_failure;
    int64_t cooldown_until;   /* not selectable before this time */
    float reputation;         /* 0..1 from receipts (ledger), 0.5 unknown */
    /* the latest hardware check (hearth market challenge) */
    uint8_t hw_verdict;       /* enum hearth_hw_verdict */
    int64_t hw_checked_at;    /* unix s, 0 if never */
    uint64_t hw_measured_hs;  /* hashes per second achieved */
    uint64_t hw_claimed_hs;   /* what the offer claimed, hashes/s */
} hearth_peer_obs;

typedef enum hearth_strategy {
    HEARTH_STRATEGY_BALANCED = 0,   /* default */
    HEARTH_STRATEGY_CHEAPEST,
    HEARTH_STRATEGY_FASTEST,
    HEARTH_STRATEGY_LEAST_LOADED,
    HEARTH_STRATEGY_ROUND_ROBIN
} hearth_strategy;

typedef struct hearth_select_index hearth_select_index;

typedef struct hearth_select_req {
    uint32_t job_kind;
    uint32_t model_hash;        /* 0 = any model */
    uint32_t min_vram_mb;
    uint8_t max_tier;           /* 0 = any; else 1 <= tier <= max_tier */
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
    /* optional: a hearth_select_index of these peers and obs, kept in
     * step; same result, most offers never read. NULL: none. */
    const hearth_select_index *index;
} hearth_select_req;

/* The score of a candidate is log2 of a weighted product (docs/selection.md):
 *   score = part.price + part.latency + part.reliability
 *         + part.reputation + part.capacity
 * each part a log2 of one factor, so the parts are additive, unit-free,
 * and "1 point" means "twice as good" in that factor. */
typedef struct hearth_score_parts {
    double price;        /* -log2(1 + price_msat) */
    double latency;      /* -log2(1 + latency_ms) */
    double reliability;  /* 2 * log2(reliability) */
    double reputation;   /* log2(0.5 + reputation) */
    double capacity;     /* log2(1 - load / 2) */
} hearth_score_parts;

/* One ranked candidate with the parts of its score, for --explain */
typedef struct hearth_candidate {
    size_t index;               /* into the peers array */
    double score;               /* higher is better; sum of part */
    uint64_t price_msat;        /* for req->usage: hearth_offer_price */
    double latency_ms;          /* expected: rtt + queue + run time */
    double reliability;         /* 0..1 */
    double reputation;          /* 0..1 */
    double load;                /* 0..1, busy share of capacity */
    double rtt_ms, queue_ms, run_ms;   /* latency_ms = their sum */
    hearth_score_parts part;
} hearth_candidate;

/* Why a peer was filtered out (counts, for --explain). Each rejected peer
 * is counted once, under the first reason in this order: wrong_kind,
 * expired, wrong_model, too_small, wrong_tier, no_rail, full,
 * cooling_down, hw_failed, too_expensive, blocked, untrusted. considered
 * = n = eligible + the sum of the reasons. hw_failed: the offer claims a
 * GPU (tier 1..4) and its provider's hardware check FAILED. */
typedef struct hearth_select_stats {
    size_t considered, wrong_kind, wrong_model, too_small, wrong_tier,
        no_rail, too_expensive, untrusted, blocked, cooling_down, expired,
        full;
    size_t eligible;            /* passed every filter */
    size_t hw_failed;
} hearth_select_stats;

/* top_n beyond max_out is honoured up to this many (a stack buffer) */
#define HEARTH_SELECT_TOPN_MAX 64u

/* Rank peers[0..n) (obs may be NULL = nothing observed; else obs[i]
 * belongs to peers[i]) for req; writes up to max_out candidates, best
 * first, into out and their count to *nout. The first candidate is the
 * choice (after top-N randomisation). stats may be NULL.
 *
 * Ranking: balanced by score; cheapest by price, fastest by latency_ms,
 * least-loaded by load (ties by score, then by index). Top-N: the choice
 * is drawn with req->seed among the best min(top_n, HEARTH_SELECT_TOPN_MAX)
 * (balanced: with probability proportional to 2^score; the others:
 * uniformly) and moved to out[0]; the rest stay in rank order.
 * Round-robin: the eligible peers in array order, starting at eligible
 * number seed mod eligible (so seeds 0, 1, 2, ... visit each in turn);
 * top_n is ignored. One pass over the peers (two for round-robin without
 * an index), no allocation unless a trust or block list exceeds 1024 keys
 * or, with an index, round-robin runs over more than 262,144 peers; with
 * req->index whole groups of peers are settled at once and the arrays
 * are touched only for the few peers that could rank.
 * HEARTH_EINVAL on NULL arguments or an index of another size,
 * HEARTH_ENOMEM only for such allocations. */
int hearth_select(const hearth_peer *peers, const hearth_peer_obs *obs,
                  size_t n, const hearth_select_req *req,
                  hearth_candidate *out, size_t max_out, size_t *nout,
                  hearth_select_stats *stats);

/* An index of one snapshot, for a caller that selects many times from it:
 * the offers grouped by static signature (kind, models, VRAM, tier,
 * rails) and sorted by price into chunks of 64 with bounds, so a request
 * settles whole runs and chunks at once and reads few offers
 * (docs/selection.md, "Speed"). About 60 bytes a peer. Peers whose values
 * do not fit its columns, or whose signature changed in an update, are
 * judged from the arrays instead, so the result is always the same as
 * without it. A request whose now is more than 34 years from the index's
 * base (the 32-bit times) simply does not use it. Read-only during
 * hearth_select: several threads may select from one index. */
struct hearth_select_index {
    void *hot;                  /* the runs, chunks and columns */
    size_t n;
    int64_t base;               /* times are kept relative to this */
};

/* Build for peers[0..n) and obs (may be NULL), around time now (sorts
 * the peers: O(n log n)). HEARTH_EINVAL, HEARTH_ENOMEM; ix is empty on
 * failure. */
int hearth_select_index_build(const hearth_peer *peers,
                              const hearth_peer_obs *obs, size_t n,
                              int64_t now, hearth_select_index *ix);
/* After peers[i] or obs[i] changed: refresh record i (O(log n); a peer
 * whose kind, models, VRAM, tier or rails changed moves to the spill
 * list, judged from the arrays: rebuild when many have). */
void hearth_select_index_update(hearth_select_index *ix,
                                const hearth_peer *peers,
                                const hearth_peer_obs *obs, size_t i);
void hearth_select_index_free(hearth_select_index *ix);

/* FNV-1a (32-bit) of a model name: models are compared by hash in the
 * hot loop. Never 0 (0 means "any model" in a request): a name hashing
 * to 0 gets 1. */
uint32_t hearth_model_hash(const char *name);
/* fill a hearth_peer from a parsed offer (models beyond
 * HEARTH_OFFER_MAX_MODELS cannot exist in an offer) */
void hearth_peer_from_offer(const hearth_offer *o, hearth_peer *out);
/* "balanced", "cheapest", "fastest", "least-loaded", "round-robin"
 * ('_' for '-' also accepted); HEARTH_EINVAL otherwise */
int hearth_strategy_parse(const char *name, hearth_strategy *out);
const char *hearth_strategy_name(hearth_strategy s);

#endif
