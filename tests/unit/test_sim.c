/* The market simulator (src/market/sim.c): the same seed gives the same
 * bytes, another seed other bytes; the books balance; bad providers lose
 * traffic as customers learn; the synthetic market is well formed. With
 * settlement (sim_settle.c): the issue 6 targets hold, and stop holding
 * when credit limits or reputation are switched off. */
#include "hearth/error.h"
#include "hearth/sim.h"
#include "tap.h"

#include <math.h>

static void small(hearth_sim_config *c, uint64_t seed)
{
    hearth_sim_defaults(c);
    c->providers = 300;
    c->jobs = 30000;
    c->customers = 8;
    c->view = 0;
    c->seed = seed;
}

static int run_json(const hearth_sim_config *c, hearth_buf *out,
                    hearth_sim_result *r)
{
    hearth_buf_reset(out);
    int rc = hearth_sim_run(c, r);
    return rc ? rc : hearth_sim_json(r, out);
}

static void test_determinism(void)
{
    hearth_sim_config c;
    hearth_sim_result r;
    hearth_buf a = HEARTH_BUF_INIT, b = HEARTH_BUF_INIT;
    small(&c, 7);
    CHECK(run_json(&c, &a, &r) == 0);
    CHECK(run_json(&c, &b, &r) == 0);
    CHECK(a.len > 500 && a.len == b.len && !memcmp(a.p, b.p, a.len));
    c.seed = 8;
    CHECK(run_json(&c, &b, &r) == 0);
    CHECK(a.len != b.len || memcmp(a.p, b.p, a.len));
    /* every strategy runs, and deterministically too */
    for (int s = 0; s <= HEARTH_STRATEGY_ROUND_ROBIN; s++) {
        small(&c, 3);
        c.jobs = 5000;
        c.strategy = (hearth_strategy)s;
        CHECK(run_json(&c, &a, &r) == 0);
        CHECK(run_json(&c, &b, &r) == 0);
        CHECKF(a.len == b.len && !memcmp(a.p, b.p, a.len), "strategy %d", s);
        CHECK(r.completed > r.jobs / 2);
    }
    hearth_buf_free(&a);
    hearth_buf_free(&b);
}

static void test_books(void)
{
    hearth_sim_config c;
    hearth_sim_result r;
    small(&c, 11);
    CHECK(hearth_sim_run(&c, &r) == 0);
    CHECK(r.jobs == c.jobs);
    CHECK(r.completed + r.failed + r.dropped_no_provider + r.dropped_price ==
          r.jobs);
    uint64_t jobs = 0, attempts = 0;
    for (int i = 0; i < HEARTH_SIM_PHASES; i++) {
        jobs += r.phase[i].jobs;
        attempts += r.phase[i].attempts;
    }
    CHECK(jobs == r.jobs && attempts == r.attempts);
    CHECK(r.attempts >= r.completed);
    CHECK(r.latency_ms.p10 <= r.latency_ms.p50 &&
          r.latency_ms.p50 <= r.latency_p95_ms &&
          r.latency_p95_ms <= r.latency_ms.p99 &&
          r.latency_ms.p99 <= r.latency_ms.max);
    CHECK(r.latency_ms.p50 > 0 && r.cost_msat.p50 > 0);
    CHECK(r.earnings_msat.gini >= 0 && r.earnings_msat.gini <= 1);
    CHECK(r.utilisation.max <= 1.0 + 1e-9 && r.utilisation.mean > 0);
    CHECK(r.identities >= c.providers);
    CHECK(r.select_calls >= r.attempts);
    hearth_buf md = HEARTH_BUF_INIT;
    CHECK(hearth_sim_markdown(&r, &md) == 0);
    CHECK(md.len > 500 && strstr(md.p, "| job latency |") &&
          strstr(md.p, "Traffic to bad providers"));
    hearth_buf_free(&md);

    small(&c, 1);
    c.providers = 0;
    CHECK(hearth_sim_run(&c, &r) == HEARTH_EINVAL);
    small(&c, 1);
    c.liars = 0.7;
    c.failers = 0.7;
    CHECK(hearth_sim_run(&c, &r) == HEARTH_EINVAL);
    small(&c, 1);
    c.churn = 1.0;
    CHECK(hearth_sim_run(&c, &r) == HEARTH_EINVAL);
    CHECK(hearth_sim_run(NULL, &r) == HEARTH_EINVAL);
}

/* Customers learn from their own jobs and from gossiped reputation:
 * the share of attempts that reach liars and failers falls from the
 * first tenth of the run to the last. */
static void test_learning(void)
{
    hearth_sim_config c;
    hearth_sim_result r;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        small(&c, seed);
        c.liars = 0.1;
        c.failers = 0.1;
        CHECK(hearth_sim_run(&c, &r) == 0);
        const hearth_sim_phase *a = &r.phase[0], *z = &r.phase[9];
        double first = (double)(a->to_liars + a->to_failers) / a->attempts;
        double last = (double)(z->to_liars + z->to_failers) / z->attempts;
        CHECKF(last < 0.6 * first, "seed %llu: %.4f then %.4f",
               (unsigned long long)seed, first, last);
        double fa = (double)a->failed_attempts / a->attempts;
        double fz = (double)z->failed_attempts / z->attempts;
        CHECKF(fz < fa, "failed attempts %.4f then %.4f", fa, fz);
    }
}

static void test_market(void)
{
    enum { N = 2000 };
    static hearth_peer p[N];
    static hearth_peer_obs o[N];
    hearth_sim_market(5, N, 1700000000, p, o);
    size_t text = 0, pow = 0, cooling = 0;
    for (size_t i = 0; i < N; i++) {
        CHECK(p[i].job_kind == HEARTH_SIM_KIND_TEXT ||
              p[i].job_kind == HEARTH_SIM_KIND_POW);
        text += p[i].job_kind == HEARTH_SIM_KIND_TEXT;
        pow += p[i].job_kind == HEARTH_SIM_KIND_POW;
        CHECK(p[i].tier <= 4 && p[i].capacity_free <= p[i].capacity_total);
        if (p[i].job_kind == HEARTH_SIM_KIND_TEXT)
            CHECK(p[i].nmodels >= 1 && p[i].bench_tokens_s > 0);
        else
            CHECK(p[i].bench_mhash_s > 0 && p[i].price.per_mhash >= 1);
        cooling += o[i].cooldown_until > 1700000000;
    }
    CHECK(text > N / 4 && pow > N / 3 && cooling > 0 && cooling < N / 10);
    /* same seed, same market */
    static hearth_peer q[N];
    hearth_sim_market(5, N, 1700000000, q, NULL);
    CHECK(!memcmp(p, q, sizeof p));
}

/* 30% dishonest providers, 30% non-paying customers */
static void settle_run(hearth_sim_config *c, uint64_t seed)
{
    small(c, seed);
    c->settle = 1;
    c->dishonest = 0.3;
    c->nonpaying = 0.3;
}

static double unpaid_share(const hearth_sim_result *r)
{
    return r->settle.honest_unpaid_msat / r->settle.honest_billed_msat;
}

static double to_dishonest(const hearth_sim_result *r, int i)
{
    return (double)r->phase[i].to_dishonest /
           (double)r->phase[i].honest_attempts;
}

/* The targets: honest providers lose under 1% of their work to
 * non-payment, and after a warm-up of at most two tenths of the run
 * paying customers send under 5% of their attempts to dishonest
 * providers, in every later tenth. */
static void test_settle_targets(void)
{
    hearth_sim_config c;
    hearth_sim_result r;
    for (uint64_t seed = 1; seed <= 2; seed++) {
        settle_run(&c, seed);
        CHECK(hearth_sim_run(&c, &r) == 0);
        const hearth_sim_settle *t = &r.settle;
        CHECKF(unpaid_share(&r) < 0.01, "seed %llu: unpaid %.4f",
               (unsigned long long)seed, unpaid_share(&r));
        CHECKF(t->warmup_phase >= 0 && t->warmup_phase <= 2,
               "seed %llu: warm-up tenth %d", (unsigned long long)seed,
               t->warmup_phase);
        for (int i = 2; i < HEARTH_SIM_PHASES; i++)
            CHECKF(to_dishonest(&r, i) < 0.05, "tenth %d: %.4f", i + 1,
                   to_dishonest(&r, i));
        /* the books agree with the flows: what non-payers took is what
         * honest providers are still owed or hold in dispute */
        double flows = 0;
        for (int i = 0; i < HEARTH_SIM_PHASES; i++)
            flows += r.phase[i].honest_unpaid_msat;
        CHECKF(fabs(flows - t->honest_unpaid_msat) < 1, "%.0f vs %.0f",
               flows, t->honest_unpaid_msat);
        CHECK(t->credit_jobs > 0 && t->prepaid_jobs > 0 && t->refused > 0);
        CHECK(t->tampered_detected == t->tampered && t->overcharged > 0);
        CHECK(t->rep_runs > 0 && t->receipts > 0 && t->own_bans > 0);
        CHECK(t->customer_lost_msat < 0.02 * t->customer_paid_msat);
        CHECK(r.completed + r.failed + r.dropped_no_provider +
                  r.dropped_price == r.jobs);
    }
}

/* The mechanisms, not luck: with unlimited credit the non-payers take
 * far more than 1%; without reputation (no scores from receipts, no
 * customer avoiding a provider it caught) dishonest providers keep
 * over 5% of the traffic to the end. */
static void test_settle_ablations(void)
{
    hearth_sim_config c;
    hearth_sim_result r;
    settle_run(&c, 1);
    c.no_credit_limit = 1;
    CHECK(hearth_sim_run(&c, &r) == 0);
    CHECKF(unpaid_share(&r) > 0.05, "no limits: unpaid %.4f",
           unpaid_share(&r));
    settle_run(&c, 1);
    c.no_reputation = 1;
    CHECK(hearth_sim_run(&c, &r) == 0);
    CHECKF(to_dishonest(&r, HEARTH_SIM_PHASES - 1) > 0.05,
           "no reputation: last tenth %.4f",
           to_dishonest(&r, HEARTH_SIM_PHASES - 1));
    CHECK(r.settle.warmup_phase == -1 && r.settle.own_bans == 0);
    /* honest providers only: nobody to catch, nobody excluded for it */
    settle_run(&c, 1);
    c.dishonest = 0;
    CHECK(hearth_sim_run(&c, &r) == 0);
    CHECK(r.settle.tampered == 0 && r.settle.overcharged == 0 &&
          r.settle.customer_lost_msat == 0);
}

/* settle runs are deterministic too, report their part, and runs
 * without it do not */
static void test_settle_report(void)
{
    hearth_sim_config c;
    hearth_sim_result r;
    hearth_buf a = HEARTH_BUF_INIT, b = HEARTH_BUF_INIT;
    settle_run(&c, 5);
    c.jobs = 8000;
    CHECK(run_json(&c, &a, &r) == 0);
    CHECK(run_json(&c, &b, &r) == 0);
    CHECK(a.len == b.len && !memcmp(a.p, b.p, a.len));
    CHECK(strstr(a.p, "\"settlement\":{") && strstr(a.p, "\"windows\":["));
    hearth_buf_reset(&b);
    CHECK(hearth_sim_markdown(&r, &b) == 0);
    CHECK(strstr(b.p, "## Settlement") != NULL);
    c.settle = 0;
    CHECK(run_json(&c, &a, &r) == 0);
    CHECK(!strstr(a.p, "settlement"));
    settle_run(&c, 1);
    c.verify_p = 1.5;
    CHECK(hearth_sim_run(&c, &r) == HEARTH_EINVAL);
    hearth_buf_free(&a);
    hearth_buf_free(&b);
}

int main(void)
{
    test_determinism();
    test_books();
    test_learning();
    test_market();
    test_settle_targets();
    test_settle_ablations();
    test_settle_report();
    return tap_done();
}
