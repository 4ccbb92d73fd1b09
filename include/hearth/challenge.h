/* The hardware check (docs/challenge.md): a customer asks a provider for a
 * few NIP-13 PoW jobs (kind 5970) sized so that the claimed hash rate
 * would finish them in about S seconds, times them, and judges whether the
 * work done per second supports the claim. A provider whose offer claims
 * a GPU it does not have cannot mine fast enough, and fails.
 *
 * Pure functions: planning from an offer, judging measured times. The
 * jobs themselves go through the customer (customer.h), which checks each
 * result's proof of work; `hearth market challenge` drives it. */
#ifndef HEARTH_CHALLENGE_H
#define HEARTH_CHALLENGE_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/offer.h"
#include "hearth/select.h"

#define HEARTH_CHALLENGE_SECONDS 2.0   /* work at the claimed rate */
#define HEARTH_CHALLENGE_JOBS 8u       /* K: at least this many */
#define HEARTH_CHALLENGE_MAX_JOBS 64u
#define HEARTH_CHALLENGE_MARGIN 4.0    /* fail below claimed / margin */
#define HEARTH_CHALLENGE_MIN_BITS 1
#define HEARTH_CHALLENGE_MAX_BITS 40   /* the pow runner's max_difficulty */
#define HEARTH_CHALLENGE_WHY_MAX 240u

/* Claimed rates of offers without a benchmark, hashes per second, by GPU
 * tier (docs/challenge.md "Claimed rate"): a fraction of what the weakest
 * card of the tier mines, so an honest provider is never asked for more
 * than its class delivers. Tier 0 (CPU only): one slow core. */
#define HEARTH_CHALLENGE_TIER1_HS 2000000000ull
#define HEARTH_CHALLENGE_TIER2_HS 1000000000ull
#define HEARTH_CHALLENGE_TIER3_HS 300000000ull
#define HEARTH_CHALLENGE_TIER4_HS 50000000ull
#define HEARTH_CHALLENGE_CPU_HS 1000000ull

typedef struct hearth_challenge_opts {
    double seconds;     /* S > 0: expected work at the claimed rate (2) */
    unsigned jobs;      /* K, HEARTH_CHALLENGE_JOBS .. _MAX_JOBS (8) */
    double margin;      /* > 1: fail below claimed / margin (4) */
} hearth_challenge_opts;

void hearth_challenge_opts_default(hearth_challenge_opts *o);

typedef struct hearth_challenge_plan {
    uint64_t claimed_hs;      /* hashes per second the offer claims */
    int from_bench;           /* 1: the offer's bench_mhash_s; 0: tier */
    unsigned jobs;            /* K */
    int bits;                 /* difficulty d of each job */
    double margin;
    double expected_s;        /* K 2^d / claimed: work at the claim */
    /* The verdict is FAIL once the work time (elapsed minus the credited
     * round trips) passes this: K 2^d / (claimed / margin), in ms. */
    uint64_t budget_ms;
    /* round trip credited per job at most: S / (2K), in ms */
    uint64_t rtt_cap_ms;
} hearth_challenge_plan;

/* The claimed rate of an offer: bench_mhash_s * 10^6 when measured, else
 * the tier's minimum above. *from_bench (may be NULL) says which. */
uint64_t hearth_challenge_claimed_hs(const hearth_offer *o, int *from_bench);

/* Plan a challenge for offer o (opts NULL: defaults). HEARTH_EINVAL with
 * why (static) for options out of range or an offer that is not for
 * kind 5970. */
int hearth_challenge_plan_for(const hearth_offer *o,
                              const hearth_challenge_opts *opts,
                              hearth_challenge_plan *plan, const char **why);

enum hearth_challenge_outcome {
    HEARTH_CHALLENGE_DONE = 0,   /* a result that passed the PoW check */
    HEARTH_CHALLENGE_TIMEOUT,    /* none in the time left: counts its time */
    HEARTH_CHALLENGE_INVALID     /* a result that failed the check */
};

/* One job as the caller measured it. */
typedef struct hearth_challenge_sample {
    int outcome;            /* enum hearth_challenge_outcome */
    uint64_t elapsed_ms;    /* request sent .. result (or giving up) */
    uint64_t rtt_ms;        /* the relay round trip for it (e.g. the time
                               to the provider's first feedback); at most
                               plan->rtt_cap_ms is credited */
} hearth_challenge_sample;

typedef struct hearth_challenge_verdict {
    int verdict;            /* HEARTH_HW_PASS or HEARTH_HW_FAIL */
    uint64_t measured_hs;   /* done jobs' expected hashes / work time */
    uint64_t claimed_hs;
    unsigned done;          /* jobs that passed */
    uint64_t work_ms;       /* elapsed minus credited round trips */
    char why[HEARTH_CHALLENGE_WHY_MAX];  /* one sentence */
} hearth_challenge_verdict;

/* Work time of the samples so far (what the budget is compared with). */
uint64_t hearth_challenge_work_ms(const hearth_challenge_plan *plan,
                                  const hearth_challenge_sample *s, size_t n);

/* Judge n samples (n <= plan->jobs; fewer means the rest never ran, as
 * when the budget ran out). FAIL when a result failed its check, when
 * fewer than plan->jobs passed, or when measured * margin < claimed;
 * else PASS. HEARTH_EINVAL for n > jobs or a bad outcome. */
int hearth_challenge_judge(const hearth_challenge_plan *plan,
                           const hearth_challenge_sample *s, size_t n,
                           hearth_challenge_verdict *out);

/* "unchecked", "pass", "fail" (enum hearth_hw_verdict) */
const char *hearth_hw_verdict_name(int verdict);

/* P(an honest provider exactly at its claimed rate fails): the chance that
 * K exponential job times (mean 1 each) sum past margin * K minus the
 * uncredited overhead per job in units of a job's expected time:
 * P(Gamma(K, 1) > K (margin - overhead)). For the documentation and the
 * tests. */
double hearth_challenge_false_fail(unsigned jobs, double margin,
                                   double overhead);

#endif
