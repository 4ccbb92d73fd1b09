/* Reputation: a provider's score from customer receipts, as seen by one
 * local peer. Pure functions: the caller hands in receipt facts it has
 * already verified (signatures, payment proofs, metering notes) and gets
 * back per-provider scores; nothing here touches relays or storage except
 * hearth_rep_fill_view, which only writes the results into the market view.
 *
 * The model (docs/reputation.md): trust flows from the local peer along
 * backed spending, as in personalized PageRank (teleport only to the local
 * peer, its direct counterparties and caller-given priors), so keys with no
 * paid path from the local peer have no standing and their receipts weigh
 * nothing. Each customer's receipts for a provider are weighted by the
 * customer's standing not counting what that provider itself conferred,
 * capped per customer, on log-scaled backed amounts; disputes count against
 * with the same weight. The local peer's own receipts are blended in on
 * top and weigh most. No global state; the caller owns all memory. */
#ifndef HEARTH_REPUTATION_H
#define HEARTH_REPUTATION_H

#include <stddef.h>
#include <stdint.h>

typedef struct hearth_view hearth_view;

/* Dispute reason codes, as in the receipt event (docs/protocol.md). The
 * score treats them alike; they are kept for the explanation. */
enum hearth_rep_reason {
    HEARTH_REP_ACCEPTED = 0,
    HEARTH_REP_WRONG_RESULT = 1,
    HEARTH_REP_NOT_DELIVERED = 2,
    HEARTH_REP_OVERCHARGED = 3,
    HEARTH_REP_TOO_SLOW = 4,
    HEARTH_REP_OTHER = 5
};

/* One verified receipt. Several receipts for the same (customer, provider,
 * job) are one job: its amount is the largest seen (notes are cumulative)
 * and it is disputed if any of them is a dispute. */
typedef struct hearth_rep_receipt {
    uint8_t customer[32];
    uint8_t provider[32];
    uint8_t job_id[32];
    uint64_t amount_msat;  /* the amount the receipt accepts or disputes */
    uint8_t disputed;      /* 0: accepted; 1: dispute */
    uint8_t reason;        /* enum hearth_rep_reason; 0 when accepted */
    /* 1 only if a Lightning preimage or the provider's own metering note
     * for the job backs it; unbacked receipts count zero */
    uint8_t backed;
} hearth_rep_receipt;

/* Standing the local peer gives a key from its own ledger (how much it has
 * itself transacted with it), in the same units as the local peer's own
 * seed weight 1.0. Keys with a prior are pre-trusted in proportion. */
typedef struct hearth_rep_prior {
    uint8_t pubkey[32];
    double weight;         /* finite, >= 0 */
} hearth_rep_prior;

typedef struct hearth_rep_params {
    double damping;        /* trust kept per hop, (0,1); 0.75 */
    double direct_seed;    /* seed shared by the local peer's direct
                            * counterparties (local peer: 1.0); 1.0 */
    double full_standing;  /* landing probability at which a customer's
                            * weight reaches the cap 1.0; 0.01 */
    double prior_strength; /* pseudo-evidence pulling toward 0.5; 2.0 */
    double dispute_weight; /* a disputed msat vs an accepted one; 1.0 */
    double self_max;       /* most the local peer's own view can take of
                            * the final score; 0.8 */
    double self_strength;  /* own evidence at which that share is half
                            * reached; 1.0 */
    double unit_msat;      /* spending unit of the log scale; 1000 */
    double min_msat;       /* a job counts at least this much; 1000 */
    unsigned max_iter;     /* iteration cap; 200 */
    double tolerance;      /* L1 change that ends the iteration; 1e-10 */
} hearth_rep_params;

void hearth_rep_params_default(hearth_rep_params *p);

/* Why a provider scored what it did. Weights are in log-spend units:
 * log(1 + msat / unit_msat) of a customer's jobs with the provider, times
 * that customer's weight in [0,1]. */
typedef struct hearth_rep_explain {
    uint32_t receipts;       /* receipts naming this provider */
    uint32_t unbacked;       /* ... of which unbacked: ignored */
    uint32_t duplicates;     /* ... repeating a job already counted */
    uint32_t self_dealt;     /* ... signed by the provider itself: ignored */
    uint32_t jobs;           /* distinct backed jobs */
    uint32_t raters;         /* customers (not the local peer) with jobs */
    uint32_t weighted_raters;/* ... whose weight was above 0 */
    uint32_t capped_raters;  /* ... whose weight hit the cap */
    double good;             /* weighted accepted evidence, others */
    double bad;              /* weighted disputed evidence, others */
    double network_score;    /* (good + k/2) / (good + bad + k) */
    double network_conf;     /* (good + bad) / (good + bad + k) */
    double own_good;         /* the local peer's accepted evidence */
    double own_bad;          /* the local peer's disputed evidence */
    double own_share;        /* share of the final score from own view */
    double standing;         /* the provider's own landing probability */
} hearth_rep_explain;

typedef struct hearth_rep_score {
    uint8_t provider[32];
    float score;             /* 0..1; 0.5 means unknown */
    float confidence;        /* 0..1 */
    hearth_rep_explain why;
} hearth_rep_score;

typedef struct hearth_rep_result {
    hearth_rep_score *scores; /* sorted by provider pubkey; free with
                               * hearth_rep_result_free */
    size_t n;
    unsigned iterations;      /* trust propagation steps run */
    int converged;            /* 1 if the tolerance was met before the cap */
} hearth_rep_result;

/* Most receipts one call accepts (HEARTH_ETOOBIG beyond). */
#define HEARTH_REP_MAX_RECEIPTS (1u << 26)

/* Score every provider named in receipts[0..n). local is this peer's key;
 * its own receipts (customer == local) are its own experience. priors may
 * be NULL (np = 0); params NULL means defaults. On success *out holds the
 * scores (caller frees with hearth_rep_result_free). HEARTH_EINVAL on bad
 * arguments or parameters, HEARTH_ETOOBIG, HEARTH_ENOMEM. */
int hearth_rep_compute(const uint8_t local[32],
                       const hearth_rep_receipt *receipts, size_t n,
                       const hearth_rep_prior *priors, size_t np,
                       const hearth_rep_params *params,
                       hearth_rep_result *out);

void hearth_rep_result_free(hearth_rep_result *r);

/* The score of one provider in a result, or NULL if it has none. */
const hearth_rep_score *hearth_rep_find(const hearth_rep_result *r,
                                        const uint8_t provider[32]);

/* One line of text for `--explain`; returns what snprintf returns. */
int hearth_rep_explain_str(const hearth_rep_score *s, char *buf, size_t len);

/* Write every score of r into the view's reputation slot. Stops at the
 * first error and returns it. */
int hearth_rep_fill_view(hearth_view *v, const hearth_rep_result *r);

#endif
