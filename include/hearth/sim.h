/* Market simulator (docs/simulator.md): synthetic providers and
 * customers in simulated time, every choice made by the real
 * hearth_select over each customer's own view and observations, so a
 * change to selection shows up here as a change in latency, cost, drops
 * and in how fast bad providers lose traffic. Deterministic: the same
 * configuration (seed included) gives the same result, bit for bit. */
#ifndef HEARTH_SIM_H
#define HEARTH_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"
#include "hearth/select.h"

typedef struct hearth_sim_config {
    size_t providers;       /* population (kept about constant by churn) */
    size_t jobs;            /* arrivals to simulate */
    uint64_t seed;
    hearth_strategy strategy;
    size_t top_n;           /* top-N randomisation of every choice */
    size_t customers;       /* peers sending jobs, each with its own view
                               and its own observations */
    size_t view;            /* providers a customer hears of (its relays'
                               reach); 0 or >= providers: all of them */
    double refresh_s;       /* a customer re-reads offers this often */
    double load;            /* offered load, share of all job slots */
    double liars;           /* share advertising better hardware */
    double failers;         /* share failing many jobs */
    double churn;           /* share of providers leaving during the run */
    double pow_share;       /* share of jobs that are NIP-13 PoW */
    unsigned max_attempts;  /* per job, retries included */
    /* Settlement (docs/simulator.md "Settlement"): off unless settle is
     * set, so a run without it gives the bytes it always gave. */
    int settle;             /* book, pay, verify and rate every job */
    double dishonest;       /* providers returning tampered results (half)
                               or overcharging (half) */
    double cheat_rate;      /* share of its jobs a dishonest one cheats on */
    double nonpaying;       /* customers never paying: half take credit
                               and never settle, half dispute honest work */
    double verify_p;        /* a tampered result is detected (PoW: 1.0) */
    uint64_t credit_cap_msat;      /* most credit a provider gives anyone */
    uint64_t stranger_credit_msat; /* credit before any payment; the limit
                                      grows by what the customer paid */
    double pay_interval_s;  /* honest customers settle balances this often */
    double rep_interval_s;  /* a customer recomputes reputation this often */
    double rep_min;         /* providers scoring below are not chosen */
    int no_credit_limit;    /* ablation: unlimited credit for everyone */
    int no_reputation;      /* ablation: receipts do not steer choices */
} hearth_sim_config;

void hearth_sim_defaults(hearth_sim_config *c);

#define HEARTH_SIM_PHASES 10   /* the run cut in tenths, by arrival */

typedef struct hearth_sim_dist {
    double mean, p10, p50, p90, p99, max, gini;
} hearth_sim_dist;

typedef struct hearth_sim_phase {
    uint64_t jobs, completed, attempts;
    uint64_t to_liars, to_failers;    /* attempts sent to them */
    uint64_t failed_attempts;         /* errors, timeouts, vanished peers */
    double latency_p50_ms;
    /* settlement runs only */
    double t_start;                   /* simulated s of its first arrival */
    uint64_t honest_attempts;         /* attempts of paying customers */
    uint64_t to_dishonest;            /* ... sent to dishonest providers */
    double honest_billed_msat;        /* work honest providers delivered */
    double honest_unpaid_msat;        /* ... that will never be paid */
    double customer_lost_msat;        /* honest customers paid for wrong
                                         results and overcharges */
} hearth_sim_phase;

/* Settlement totals (settle runs). msat as doubles: sums of many jobs. */
typedef struct hearth_sim_settle {
    uint64_t credit_jobs, prepaid_jobs; /* admitted on each rail */
    uint64_t refused;                 /* payment asked, customer did not pay:
                                         cut off */
    uint64_t payments;                /* balance settlements (Lightning) */
    uint64_t tampered, tampered_detected, overcharged;
    uint64_t disputes;                /* dispute receipts, all customers */
    uint64_t honest_disputed;         /* ... of honest providers' work */
    uint64_t receipts;                /* receipts gossiped (pairs folded) */
    uint64_t rep_runs;                /* hearth_rep_compute calls */
    uint64_t rep_excluded;            /* provider exclusions by score,
                                         summed over runs */
    uint64_t rep_excluded_honest;     /* ... of honest providers */
    uint64_t own_bans;                /* a customer caught one itself */
    double honest_billed_msat, honest_paid_msat, honest_unpaid_msat;
    double customer_paid_msat, customer_lost_msat;
    double dishonest_share;           /* of paying customers' attempts */
    int warmup_phase;                 /* first tenth from which the share
                                         stays below 5%; -1: never */
    double warmup_s;                  /* its start in simulated s */
} hearth_sim_settle;

typedef struct hearth_sim_result {
    hearth_sim_config config;
    double sim_seconds;               /* simulated time of the run */
    double arrival_rate;              /* jobs per simulated second */
    uint64_t jobs, completed, failed; /* failed: every attempt failed */
    uint64_t dropped_no_provider;     /* nobody eligible at all */
    uint64_t dropped_price;           /* eligible but for the price limit */
    uint64_t attempts, timeouts, errors;
    uint64_t lost;                    /* sent to a provider that had left */
    uint64_t busy;                    /* "busy" answers (not failures) */
    uint64_t slow;                    /* delivered, but over twice the
                                         promised run time */
    hearth_sim_dist latency_ms;       /* of completed jobs, arrival to result */
    double latency_p95_ms;
    hearth_sim_dist cost_msat;        /* paid per completed job */
    size_t identities;                /* provider identities over the run */
    size_t liar_ids, failer_ids;
    hearth_sim_dist earnings_msat;    /* per identity */
    hearth_sim_dist utilisation;      /* busy slot time / online slot time */
    double liar_pop, failer_pop;      /* shares of online providers, mean */
    uint64_t select_calls, peer_visits; /* work done by hearth_select */
    hearth_sim_phase phase[HEARTH_SIM_PHASES];
    hearth_sim_settle settle;
} hearth_sim_result;

/* Run the simulation. HEARTH_EINVAL for a nonsensical configuration
 * (no providers, no jobs, shares outside 0..1, load <= 0),
 * HEARTH_ENOMEM. */
int hearth_sim_run(const hearth_sim_config *c, hearth_sim_result *out);

/* One JSON object (no wall-clock figures: equal results give equal
 * bytes) / a Markdown summary, appended to out. */
int hearth_sim_json(const hearth_sim_result *r, hearth_buf *out);
int hearth_sim_markdown(const hearth_sim_result *r, hearth_buf *out);

/* A synthetic market snapshot of n offers (about 1.7 per provider: PoW
 * kind 5970 and text generation kind 5050), from the simulator's
 * hardware mix and price model, with observations as a peer that has
 * been running a while would have them (some history, some cooldowns).
 * For benchmarks and tests of selection. */
void hearth_sim_market(uint64_t seed, size_t n, int64_t now,
                       hearth_peer *peers, hearth_peer_obs *obs);

/* Job kinds and model names the simulator uses */
#define HEARTH_SIM_KIND_TEXT 5050u
#define HEARTH_SIM_KIND_POW 5970u
extern const char *const hearth_sim_models[3];

#endif
