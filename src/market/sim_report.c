/* The simulator's reports (include/hearth/sim.h): JSON and Markdown from
 * a hearth_sim_result. Fixed formats and no wall-clock figure, so equal
 * results give equal bytes. */
#include "hearth/sim.h"

#include "hearth/error.h"

static void json_dist(hearth_buf *b, const char *name,
                      const hearth_sim_dist *d, int gini)
{
    hearth_buf_addf(b, "\"%s\":{\"mean\":%.3f,\"p10\":%.3f,\"p50\":%.3f,"
                       "\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f",
                    name, d->mean, d->p10, d->p50, d->p90, d->p99, d->max);
    if (gini)
        hearth_buf_addf(b, ",\"gini\":%.4f", d->gini);
    hearth_buf_addc(b, '}');
}

static double share(uint64_t part, uint64_t whole)
{
    return whole ? (double)part / (double)whole : 0.0;
}

/* the settlement part (settle runs only: other runs keep their bytes) */
static void json_settle(const hearth_sim_result *r, hearth_buf *b)
{
    const hearth_sim_config *c = &r->config;
    const hearth_sim_settle *t = &r->settle;
    hearth_buf_addf(b,
        ",\"settlement\":{\"config\":{\"dishonest_providers\":%.4f,"
        "\"nonpaying_customers\":%.4f,\"cheat_rate\":%.4f,\"verify\":%.4f,"
        "\"credit_cap_msat\":%llu,\"stranger_credit_msat\":%llu,"
        "\"pay_interval_s\":%.3f,\"rep_interval_s\":%.3f,\"rep_min\":%.4f,"
        "\"credit_limit\":%s,\"reputation\":%s},",
        c->dishonest, c->nonpaying, c->cheat_rate, c->verify_p,
        (unsigned long long)c->credit_cap_msat,
        (unsigned long long)c->stranger_credit_msat, c->pay_interval_s,
        c->rep_interval_s, c->rep_min, c->no_credit_limit ? "false" : "true",
        c->no_reputation ? "false" : "true");
    hearth_buf_addf(b,
        "\"credit_jobs\":%llu,\"prepaid_jobs\":%llu,\"refused\":%llu,"
        "\"payments\":%llu,\"tampered\":%llu,\"tampered_detected\":%llu,"
        "\"overcharged\":%llu,\"disputes\":%llu,\"honest_disputed\":%llu,"
        "\"receipts\":%llu,\"rep_runs\":%llu,\"rep_excluded\":%llu,"
        "\"rep_excluded_honest\":%llu,\"own_bans\":%llu,",
        (unsigned long long)t->credit_jobs,
        (unsigned long long)t->prepaid_jobs, (unsigned long long)t->refused,
        (unsigned long long)t->payments, (unsigned long long)t->tampered,
        (unsigned long long)t->tampered_detected,
        (unsigned long long)t->overcharged, (unsigned long long)t->disputes,
        (unsigned long long)t->honest_disputed,
        (unsigned long long)t->receipts, (unsigned long long)t->rep_runs,
        (unsigned long long)t->rep_excluded,
        (unsigned long long)t->rep_excluded_honest,
        (unsigned long long)t->own_bans);
    hearth_buf_addf(b,
        "\"honest_billed_msat\":%.0f,\"honest_paid_msat\":%.0f,"
        "\"honest_unpaid_msat\":%.0f,\"honest_unpaid_share\":%.6f,"
        "\"customer_paid_msat\":%.0f,\"customer_lost_msat\":%.0f,"
        "\"customer_lost_share\":%.6f,\"dishonest_share\":%.6f,"
        "\"warmup_window\":%d,\"warmup_s\":%.3f,\"windows\":[",
        t->honest_billed_msat, t->honest_paid_msat, t->honest_unpaid_msat,
        t->honest_billed_msat > 0 ? t->honest_unpaid_msat /
                                        t->honest_billed_msat : 0.0,
        t->customer_paid_msat, t->customer_lost_msat,
        t->customer_paid_msat > 0 ? t->customer_lost_msat /
                                        t->customer_paid_msat : 0.0,
        t->dishonest_share, t->warmup_phase, t->warmup_s);
    for (size_t i = 0; i < HEARTH_SIM_PHASES; i++) {
        const hearth_sim_phase *ph = &r->phase[i];
        hearth_buf_addf(b,
            "%s{\"t_start\":%.3f,\"attempts\":%llu,\"to_dishonest\":%.6f,"
            "\"honest_billed_msat\":%.0f,\"honest_unpaid_msat\":%.0f,"
            "\"customer_lost_msat\":%.0f}",
            i ? "," : "", ph->t_start,
            (unsigned long long)ph->honest_attempts,
            share(ph->to_dishonest, ph->honest_attempts),
            ph->honest_billed_msat, ph->honest_unpaid_msat,
            ph->customer_lost_msat);
    }
    hearth_buf_adds(b, "]}");
}

int hearth_sim_json(const hearth_sim_result *r, hearth_buf *b)
{
    if (!r || !b)
        return HEARTH_EINVAL;
    const hearth_sim_config *c = &r->config;
    hearth_buf_addf(b,
        "{\"config\":{\"providers\":%zu,\"jobs\":%zu,\"seed\":%llu,"
        "\"strategy\":\"%s\",\"top_n\":%zu,\"customers\":%zu,"
        "\"view\":%zu,\"refresh_s\":%.3f,\"load\":%.3f,"
        "\"liars\":%.4f,\"failers\":%.4f,\"churn\":%.4f,"
        "\"pow_share\":%.4f,\"max_attempts\":%u},",
        c->providers, c->jobs, (unsigned long long)c->seed,
        hearth_strategy_name(c->strategy), c->top_n, c->customers, c->view,
        c->refresh_s, c->load, c->liars, c->failers, c->churn, c->pow_share,
        c->max_attempts);
    hearth_buf_addf(b,
        "\"sim_seconds\":%.3f,\"arrival_rate\":%.3f,"
        "\"jobs\":{\"arrived\":%llu,\"completed\":%llu,\"failed\":%llu,"
        "\"dropped_no_provider\":%llu,\"dropped_price\":%llu,"
        "\"drop_rate\":%.6f,\"attempts\":%llu,\"errors\":%llu,"
        "\"timeouts\":%llu,\"lost\":%llu,\"busy\":%llu,\"slow\":%llu},",
        r->sim_seconds, r->arrival_rate, (unsigned long long)r->jobs,
        (unsigned long long)r->completed, (unsigned long long)r->failed,
        (unsigned long long)r->dropped_no_provider,
        (unsigned long long)r->dropped_price,
        share(r->dropped_no_provider + r->dropped_price, r->jobs),
        (unsigned long long)r->attempts, (unsigned long long)r->errors,
        (unsigned long long)r->timeouts, (unsigned long long)r->lost,
        (unsigned long long)r->busy, (unsigned long long)r->slow);
    json_dist(b, "latency_ms", &r->latency_ms, 0);
    hearth_buf_addf(b, ",\"latency_p95_ms\":%.3f,", r->latency_p95_ms);
    json_dist(b, "cost_msat", &r->cost_msat, 0);
    hearth_buf_addf(b,
        ",\"providers\":{\"identities\":%zu,\"liar_identities\":%zu,"
        "\"failer_identities\":%zu,\"liar_share_online\":%.4f,"
        "\"failer_share_online\":%.4f,",
        r->identities, r->liar_ids, r->failer_ids, r->liar_pop,
        r->failer_pop);
    json_dist(b, "earnings_msat", &r->earnings_msat, 1);
    hearth_buf_addc(b, ',');
    json_dist(b, "utilisation", &r->utilisation, 1);
    hearth_buf_addf(b, "},\"select\":{\"calls\":%llu,\"peer_visits\":%llu},"
                       "\"phases\":[",
                    (unsigned long long)r->select_calls,
                    (unsigned long long)r->peer_visits);
    for (size_t i = 0; i < HEARTH_SIM_PHASES; i++) {
        const hearth_sim_phase *ph = &r->phase[i];
        hearth_buf_addf(b,
            "%s{\"jobs\":%llu,\"completed\":%llu,\"attempts\":%llu,"
            "\"to_liars\":%.4f,\"to_failers\":%.4f,"
            "\"failed_attempts\":%.4f,\"latency_p50_ms\":%.3f}",
            i ? "," : "", (unsigned long long)ph->jobs,
            (unsigned long long)ph->completed,
            (unsigned long long)ph->attempts,
            share(ph->to_liars, ph->attempts),
            share(ph->to_failers, ph->attempts),
            share(ph->failed_attempts, ph->attempts), ph->latency_p50_ms);
    }
    hearth_buf_addc(b, ']');
    if (c->settle)
        json_settle(r, b);
    hearth_buf_adds(b, "}\n");
    return hearth_buf_error(b);
}

static double pc(double part, double whole)
{
    return whole > 0 ? 100.0 * part / whole : 0.0;
}

static void md_settle(const hearth_sim_result *r, hearth_buf *b)
{
    const hearth_sim_config *c = &r->config;
    const hearth_sim_settle *t = &r->settle;
    hearth_buf_addf(b,
        "\n## Settlement\n\n%.0f%% dishonest providers (cheating on %.0f%% "
        "of their jobs; %.0f%% of tampered results detected), %.0f%% "
        "non-paying customers; credit %llu msat to a stranger, growing "
        "with payments to %llu msat%s; balances settled every %.0f s; "
        "reputation every %.0f s, providers below %.2f not chosen%s.\n\n",
        100 * c->dishonest, 100 * c->cheat_rate, 100 * c->verify_p,
        100 * c->nonpaying, (unsigned long long)c->stranger_credit_msat,
        (unsigned long long)c->credit_cap_msat,
        c->no_credit_limit ? " (limits OFF)" : "", c->pay_interval_s,
        c->rep_interval_s, c->rep_min,
        c->no_reputation ? " (reputation OFF)" : "");
    hearth_buf_addf(b,
        "Admitted %llu on credit, %llu prepaid; %llu refused to pay and "
        "were cut off; %llu balance payments. %llu tampered results (%llu "
        "detected), %llu overcharges; %llu disputes (%llu of honest "
        "work). %llu own bans; %llu exclusions by score (%llu of honest "
        "providers) over %llu reputation runs on up to %llu receipts.\n\n",
        (unsigned long long)t->credit_jobs,
        (unsigned long long)t->prepaid_jobs, (unsigned long long)t->refused,
        (unsigned long long)t->payments, (unsigned long long)t->tampered,
        (unsigned long long)t->tampered_detected,
        (unsigned long long)t->overcharged, (unsigned long long)t->disputes,
        (unsigned long long)t->honest_disputed,
        (unsigned long long)t->own_bans,
        (unsigned long long)t->rep_excluded,
        (unsigned long long)t->rep_excluded_honest,
        (unsigned long long)t->rep_runs, (unsigned long long)t->receipts);
    hearth_buf_addf(b,
        "Honest providers: %.0f msat of work delivered, %.0f never paid "
        "(%.3f%%). Honest customers: %.0f msat paid, %.0f lost to "
        "tampered results and overcharges (%.3f%%). Paying customers' "
        "attempts to dishonest providers: %.2f%% over the run; ",
        t->honest_billed_msat, t->honest_unpaid_msat,
        pc(t->honest_unpaid_msat, t->honest_billed_msat),
        t->customer_paid_msat, t->customer_lost_msat,
        pc(t->customer_lost_msat, t->customer_paid_msat),
        100 * t->dishonest_share);
    if (t->warmup_phase < 0)
        hearth_buf_adds(b, "never below 5% for good.\n\n");
    else
        hearth_buf_addf(b, "below 5%% from tenth %d on (after %.0f "
                           "simulated s).\n\n",
                        t->warmup_phase + 1, t->warmup_s);
    hearth_buf_adds(b, "| tenth | starts at s | attempts | to dishonest "
                       "| honest work msat | unpaid | customers lost msat |"
                       "\n|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < HEARTH_SIM_PHASES; i++) {
        const hearth_sim_phase *ph = &r->phase[i];
        hearth_buf_addf(b, "| %zu | %.0f | %llu | %.2f%% | %.0f | %.3f%% "
                           "| %.0f |\n",
                        i + 1, ph->t_start,
                        (unsigned long long)ph->honest_attempts,
                        100 * share(ph->to_dishonest, ph->honest_attempts),
                        ph->honest_billed_msat,
                        pc(ph->honest_unpaid_msat, ph->honest_billed_msat),
                        ph->customer_lost_msat);
    }
}

static void md_dist(hearth_buf *b, const char *name, const char *unit_,
                    const hearth_sim_dist *d, int gini)
{
    hearth_buf_addf(b, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |",
                    name, d->mean, d->p10, d->p50, d->p90, d->p99, d->max);
    if (gini)
        hearth_buf_addf(b, " %.3f |", d->gini);
    else
        hearth_buf_adds(b, " |");
    hearth_buf_addf(b, " %s |\n", unit_);
}

int hearth_sim_markdown(const hearth_sim_result *r, hearth_buf *b)
{
    if (!r || !b)
        return HEARTH_EINVAL;
    const hearth_sim_config *c = &r->config;
    hearth_buf_addf(b,
        "# hearth sim: %zu providers, %zu jobs, %s (top-%zu), seed %llu\n\n"
        "%zu customers, each hearing of %zu providers, re-reading offers "
        "every %.0f s; offered load %.0f%%; %.0f%% liars, %.0f%% failers, "
        "%.0f%% churn; %.0f%% of jobs are PoW; up to %u attempts a job.\n\n",
        c->providers, c->jobs, hearth_strategy_name(c->strategy), c->top_n,
        (unsigned long long)c->seed, c->customers,
        c->view && c->view < c->providers ? c->view : c->providers,
        c->refresh_s, 100 * c->load, 100 * c->liars, 100 * c->failers,
        100 * c->churn, 100 * c->pow_share, c->max_attempts);
    hearth_buf_addf(b,
        "Simulated %.0f s at %.1f jobs/s.\n\n"
        "| jobs | count | share |\n|---|---:|---:|\n"
        "| arrived | %llu | 100%% |\n| completed | %llu | %.2f%% |\n"
        "| failed (every attempt) | %llu | %.2f%% |\n"
        "| dropped: nobody eligible | %llu | %.2f%% |\n"
        "| dropped: price limit | %llu | %.2f%% |\n\n"
        "Attempts %llu (%.3f a job): %llu errors, %llu timeouts, %llu sent to "
        "providers that had left, %llu answered busy; %llu results came "
        "over twice as slow as promised.\n\n",
        r->sim_seconds, r->arrival_rate, (unsigned long long)r->jobs,
        (unsigned long long)r->completed, 100 * share(r->completed, r->jobs),
        (unsigned long long)r->failed, 100 * share(r->failed, r->jobs),
        (unsigned long long)r->dropped_no_provider,
        100 * share(r->dropped_no_provider, r->jobs),
        (unsigned long long)r->dropped_price,
        100 * share(r->dropped_price, r->jobs),
        (unsigned long long)r->attempts, share(r->attempts, r->jobs),
        (unsigned long long)r->errors, (unsigned long long)r->timeouts,
        (unsigned long long)r->lost, (unsigned long long)r->busy,
        (unsigned long long)r->slow);
    hearth_buf_adds(b, "| distribution | mean | p10 | p50 | p90 | p99 | max "
                       "| Gini | unit |\n|---|---:|---:|---:|---:|---:|---:"
                       "|---:|---|\n");
    md_dist(b, "job latency", "ms", &r->latency_ms, 0);
    md_dist(b, "cost per job", "msat", &r->cost_msat, 0);
    md_dist(b, "earnings per provider", "msat", &r->earnings_msat, 1);
    hearth_sim_dist u = r->utilisation;
    u.mean *= 100;
    u.p10 *= 100;
    u.p50 *= 100;
    u.p90 *= 100;
    u.p99 *= 100;
    u.max *= 100;
    md_dist(b, "provider utilisation", "%", &u, 1);
    hearth_buf_addf(b,
        "\nJob latency p95: %.1f ms. %zu provider identities over the run "
        "(%zu liars, %zu failers); on average %.1f%% of the providers "
        "online were liars and %.1f%% failers.\n\n",
        r->latency_p95_ms, r->identities, r->liar_ids, r->failer_ids,
        100 * r->liar_pop, 100 * r->failer_pop);
    hearth_buf_adds(b, "Traffic to bad providers over the run (jobs by "
                       "arrival, in tenths):\n\n"
                       "| tenth | jobs | attempts | to liars | to failers "
                       "| failed attempts | p50 latency ms |\n"
                       "|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < HEARTH_SIM_PHASES; i++) {
        const hearth_sim_phase *ph = &r->phase[i];
        hearth_buf_addf(b, "| %zu | %llu | %llu | %.2f%% | %.2f%% | %.2f%% "
                           "| %.1f |\n",
                        i + 1, (unsigned long long)ph->jobs,
                        (unsigned long long)ph->attempts,
                        100 * share(ph->to_liars, ph->attempts),
                        100 * share(ph->to_failers, ph->attempts),
                        100 * share(ph->failed_attempts, ph->attempts),
                        ph->latency_p50_ms);
    }
    hearth_buf_addf(b, "\nhearth_select ran %llu times over %llu offers in "
                       "all (%.0f a call).\n",
                    (unsigned long long)r->select_calls,
                    (unsigned long long)r->peer_visits,
                    share(r->peer_visits, r->select_calls));
    if (c->settle)
        md_settle(r, b);
    return hearth_buf_error(b);
}
