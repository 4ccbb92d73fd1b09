/* Selection latency (docs/benchmarks.md, "Selection and simulator").
 *
 *   bench_select [--rounds N] [--min-offers N] [--json]
 *   bench_select --sim [--providers N] [--jobs N]
 *
 * Times hearth_select over synthetic markets of 1,000, 10,000 and 100,000
 * offers from the simulator's hardware and price model
 * (hearth_sim_market), for each strategy, in two shapes:
 *   one-kind  every offer is of the requested kind, which is what
 *             hearth_view_snapshot(kind) hands to `hearth peers`: the
 *             worst case, most offers pass the kind check
 *   mixed     PoW and text-generation offers interleaved (a snapshot of
 *             all kinds)
 * and two ways: "plain" over the hearth_peer and hearth_peer_obs arrays
 * (216 bytes a peer), and "index" with a hearth_select_index (64 bytes a
 * peer) built once beforehand, as a peer that selects many times from one
 * snapshot does. Each call is timed on its own (CLOCK_MONOTONIC) after a
 * warm-up, so p99 includes whatever else the machine was doing; the
 * thread's CPU time is reported next to it.
 *
 * --sim times the simulator instead (hearth_sim_run with the defaults of
 * `hearth sim`, 10,000 providers and 1,000,000 jobs unless told). */
#include "hearth/select.h"
#include "hearth/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOW 1700000000

static double now_ns(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* n offers of the text-generation kind only, or of both kinds */
static void market(size_t n, int one_kind, hearth_peer *peers,
                   hearth_peer_obs *obs)
{
    if (!one_kind) {
        hearth_sim_market(42, n, NOW, peers, obs);
        return;
    }
    size_t have = 0, chunk = 4096;
    hearth_peer *tmp = malloc(chunk * sizeof *tmp);
    hearth_peer_obs *tobs = malloc(chunk * sizeof *tobs);
    for (uint64_t seed = 42; have < n; seed++) {
        hearth_sim_market(seed, chunk, NOW, tmp, tobs);
        for (size_t i = 0; i < chunk && have < n; i++)
            if (tmp[i].job_kind == HEARTH_SIM_KIND_TEXT) {
                peers[have] = tmp[i];
                obs[have++] = tobs[i];
            }
    }
    free(tmp);
    free(tobs);
}

/* The query mix, what a customer of this market asks:
 *   8b-cheap  the 8B model over Lightning, at most 400 msat (a fifth of a
 *             text market qualifies)
 *   any       any model, any rail, no price limit: nearly every offer that
 *             is live and has a free slot matches (the broad worst case)
 *   70b-tier  the 70B model, 10 GB of VRAM, tier 2 or better, at most
 *             900 msat
 *   pow       2^30 hashes, at most 3,000 msat (mixed markets only)
 * all with 600 prompt and 250 generated tokens for text, top-3. */
#define NQ 4
static const char *const query_names[NQ] = {"8b-cheap", "any", "70b-tier",
                                            "pow"};

static void query(size_t q, hearth_strategy s, hearth_select_req *req)
{
    memset(req, 0, sizeof *req);
    req->job_kind = HEARTH_SIM_KIND_TEXT;
    req->usage = (hearth_usage){.jobs = 1, .tokens_in = 600,
                                .tokens_out = 250};
    switch (q) {
    case 0:
        req->model_hash = hearth_model_hash(hearth_sim_models[0]);
        req->rails = HEARTH_RAIL_LIGHTNING;
        req->max_price_msat = 400;
        break;
    case 1:
        break;
    case 2:
        req->model_hash = hearth_model_hash(hearth_sim_models[1]);
        req->min_vram_mb = 10000;
        req->max_tier = 2;
        req->max_price_msat = 900;
        break;
    default:
        req->job_kind = HEARTH_SIM_KIND_POW;
        req->usage = (hearth_usage){.jobs = 1, .hashes = 1u << 30};
        req->max_price_msat = 3000;
        break;
    }
    req->strategy = s;
    req->top_n = 3;
    req->now = NOW;
}

static int bench_sim(size_t providers, size_t jobs)
{
    hearth_sim_config c;
    hearth_sim_result r;
    hearth_sim_defaults(&c);
    c.providers = providers;
    c.jobs = jobs;
    double t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    int rc = hearth_sim_run(&c, &r);
    double wall = (now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
    double cpu = (now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1e9;
    if (rc) {
        fprintf(stderr, "bench_select: simulation failed (%d)\n", rc);
        return 1;
    }
    printf("sim %zu providers x %zu jobs: %.2f s wall, %.2f s CPU; "
           "%llu selections over %.0f offers each, %.2f us each on "
           "average (all of the run / selections)\n",
           providers, jobs, wall, cpu, (unsigned long long)r.select_calls,
           (double)r.peer_visits / (double)r.select_calls,
           cpu * 1e6 / (double)r.select_calls);
    return 0;
}

int main(int argc, char **argv)
{
    int rounds = 2000, json = 0, sim = 0;
    size_t providers = 10000, jobs = 1000000, min_offers = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--min-offers") && i + 1 < argc)
            min_offers = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--sim"))
            sim = 1;
        else if (!strcmp(argv[i], "--providers") && i + 1 < argc)
            providers = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--jobs") && i + 1 < argc)
            jobs = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_select [--rounds N] "
                            "[--min-offers N] [--json]\n"
                            "       bench_select --sim [--providers N] "
                            "[--jobs N]\n");
            return 2;
        }
    }
    if (sim)
        return bench_sim(providers, jobs);
    if (rounds < 10)
        rounds = 10;
    static const size_t sizes[] = {1000, 10000, 100000};
    static const hearth_strategy strats[] = {
        HEARTH_STRATEGY_BALANCED, HEARTH_STRATEGY_CHEAPEST,
        HEARTH_STRATEGY_FASTEST, HEARTH_STRATEGY_LEAST_LOADED,
        HEARTH_STRATEGY_ROUND_ROBIN};
    double *t = malloc((size_t)rounds * sizeof *t);
    hearth_peer *peers = malloc(100000 * sizeof *peers);
    hearth_peer_obs *obs = malloc(100000 * sizeof *obs);
    if (!t || !peers || !obs)
        return 1;
    double *cpu = malloc((size_t)rounds * sizeof *cpu);
    double *tq = malloc(NQ * (size_t)rounds * sizeof *tq);
    if (!cpu || !tq)
        return 1;
    if (json)
        printf("[");
    else
        printf("%-8s %6s %-12s %-5s %-8s %8s %8s %8s %8s %8s\n", "shape",
               "offers", "strategy", "mode", "query", "p50 us", "p99 us",
               "max us", "cpu p99", "eligible");
    int first = 1;
    for (int shape = 0; shape < 2; shape++) {
        for (size_t si = 0; si < 3; si++) {
            size_t n = sizes[si];
            if (n < min_offers)
                continue;
            market(n, shape == 0, peers, obs);
            hearth_select_index ix;
            double b0 = now_ns(CLOCK_MONOTONIC);
            if (hearth_select_index_build(peers, obs, n, NOW, &ix))
                return 1;
            double build_us = (now_ns(CLOCK_MONOTONIC) - b0) / 1e3;
            for (size_t k = 0; k < sizeof strats / sizeof *strats; k++)
            for (int mode = 0; mode < 2; mode++) {
                /* the query mix: round r asks query r mod nq; the PoW
                 * query only where there are PoW offers */
                size_t nq = shape == 0 ? NQ - 1 : NQ;
                size_t per[NQ] = {0}, elig[NQ] = {0};
                int reps = rounds;
                for (int r = -reps / 10; r < reps; r++) {
                    size_t q = (size_t)(r < 0 ? -r : r) % nq;
                    hearth_select_req req;
                    query(q, strats[k], &req);
                    req.index = mode ? &ix : NULL;
                    req.seed = (uint64_t)r;
                    hearth_candidate out[10];
                    hearth_select_stats st;
                    size_t nout = 0;
                    double c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
                    double t0 = now_ns(CLOCK_MONOTONIC);
                    hearth_select(peers, obs, n, &req, out, 10, &nout, &st);
                    double dt = now_ns(CLOCK_MONOTONIC) - t0;
                    double dc = now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
                    if (r >= 0) {
                        t[r] = dt;
                        cpu[r] = dc;
                        tq[q * (size_t)reps + per[q]++] = dt;
                        elig[q] = st.eligible;
                    }
                }
                const char *sh = shape == 0 ? "one-kind" : "mixed";
                const char *md = mode ? "index" : "plain";
                for (size_t q = 0; q <= nq; q++) {
                    /* q == nq: the whole mix */
                    double *tt = q < nq ? tq + q * (size_t)reps : t;
                    size_t m = q < nq ? per[q] : (size_t)reps;
                    size_t el = q < nq ? elig[q] : 0;
                    qsort(tt, m, sizeof *tt, cmp_double);
                    if (q == nq)
                        qsort(cpu, m, sizeof *cpu, cmp_double);
                    double p50 = tt[m / 2], p99 = tt[m * 99 / 100],
                           mx = tt[m - 1],
                           c99 = q == nq ? cpu[m * 99 / 100] : 0.0;
                    const char *qn = q < nq ? query_names[q] : "mix";
                    if (json)
                        printf("%s{\"shape\":\"%s\",\"offers\":%zu,"
                               "\"strategy\":\"%s\",\"mode\":\"%s\","
                               "\"query\":\"%s\",\"eligible\":%zu,"
                               "\"p50_us\":%.1f,\"p99_us\":%.1f,"
                               "\"max_us\":%.1f,\"cpu_p99_us\":%.1f,"
                               "\"index_build_us\":%.1f}",
                               first ? "" : ",", sh, n,
                               hearth_strategy_name(strats[k]), md, qn, el,
                               p50 / 1e3, p99 / 1e3, mx / 1e3, c99 / 1e3,
                               build_us);
                    else
                        printf("%-8s %6zu %-12s %-5s %-8s %8.1f %8.1f "
                               "%8.1f %8.1f %8zu\n", sh, n,
                               hearth_strategy_name(strats[k]), md, qn,
                               p50 / 1e3, p99 / 1e3, mx / 1e3, c99 / 1e3,
                               el);
                    first = 0;
                }
            }
            if (!json)
                printf("%-8s %6zu index built in %.0f us\n", "", n,
                       build_us);
            hearth_select_index_free(&ix);
        }
    }
    if (json)
        printf("]\n");
    free(t);
    free(cpu);
    free(tq);
    free(peers);
    free(obs);
    return 0;
}
