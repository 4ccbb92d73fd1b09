/* The hardware check: planning and judging (include/hearth/challenge.h,
 * docs/challenge.md). Pure: no clock, no network. */
#include "hearth/challenge.h"

#include "hearth/error.h"
#include "hearth/kinds.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void hearth_challenge_opts_default(hearth_challenge_opts *o)
{
    o->seconds = HEARTH_CHALLENGE_SECONDS;
    o->jobs = HEARTH_CHALLENGE_JOBS;
    o->margin = HEARTH_CHALLENGE_MARGIN;
}

const char *hearth_hw_verdict_name(int verdict)
{
    switch (verdict) {
    case HEARTH_HW_PASS:
        return "pass";
    case HEARTH_HW_FAIL:
        return "fail";
    default:
        return "unchecked";
    }
}

uint64_t hearth_challenge_claimed_hs(const hearth_offer *o, int *from_bench)
{
    static const uint64_t tier_hs[5] = {
        HEARTH_CHALLENGE_CPU_HS, HEARTH_CHALLENGE_TIER1_HS,
        HEARTH_CHALLENGE_TIER2_HS, HEARTH_CHALLENGE_TIER3_HS,
        HEARTH_CHALLENGE_TIER4_HS
    };
    int bench = o->bench_mhash_s > 0;
    if (from_bench)
        *from_bench = bench;
    if (bench) /* offers cap bench figures far below 2^64 / 10^6 */
        return o->bench_mhash_s > UINT64_MAX / 1000000u
                   ? UINT64_MAX : o->bench_mhash_s * 1000000u;
    return tier_hs[o->hw.tier <= 4 ? o->hw.tier : 4];
}

static int check_opts(const hearth_challenge_opts *o, const char **why)
{
    if (!(o->seconds > 0 && o->seconds <= 3600)) {
        *why = "the challenge lasts more than 0 and at most 3600 seconds";
        return HEARTH_EINVAL;
    }
    if (o->jobs < HEARTH_CHALLENGE_JOBS || o->jobs > HEARTH_CHALLENGE_MAX_JOBS) {
        *why = "a challenge has 8 to 64 jobs";
        return HEARTH_EINVAL;
    }
    if (!(o->margin > 1 && o->margin <= 1000)) {
        *why = "the margin is more than 1 and at most 1000";
        return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

/* d with K 2^d / claimed closest to S (in log terms), within the bounds */
static int bits_for(double claimed_hs, double seconds, unsigned jobs)
{
    double d = round(log2(claimed_hs * seconds / jobs));
    if (!(d >= HEARTH_CHALLENGE_MIN_BITS))
        return HEARTH_CHALLENGE_MIN_BITS;
    return d > HEARTH_CHALLENGE_MAX_BITS ? HEARTH_CHALLENGE_MAX_BITS : (int)d;
}

int hearth_challenge_plan_for(const hearth_offer *o,
                              const hearth_challenge_opts *opts,
                              hearth_challenge_plan *plan, const char **why)
{
    hearth_challenge_opts def;
    const char *w = "";
    if (!opts) {
        hearth_challenge_opts_default(&def);
        opts = &def;
    }
    memset(plan, 0, sizeof *plan);
    int rc = check_opts(opts, &w);
    if (rc == HEARTH_OK && o->job_kind != HEARTH_KIND_JOB_POW) {
        w = "the hardware check needs an offer of NIP-13 PoW (kind 5970)";
        rc = HEARTH_EINVAL;
    }
    if (why)
        *why = w;
    if (rc)
        return rc;
    plan->claimed_hs = hearth_challenge_claimed_hs(o, &plan->from_bench);
    plan->jobs = opts->jobs;
    plan->margin = opts->margin;
    plan->bits = bits_for((double)plan->claimed_hs, opts->seconds, opts->jobs);
    double work = ldexp((double)opts->jobs, plan->bits);
    plan->expected_s = work / (double)plan->claimed_hs;
    plan->budget_ms = (uint64_t)ceil(plan->expected_s * opts->margin * 1000);
    plan->rtt_cap_ms = (uint64_t)(opts->seconds * 1000 / (2.0 * opts->jobs));
    return HEARTH_OK;
}

uint64_t hearth_challenge_work_ms(const hearth_challenge_plan *plan,
                                  const hearth_challenge_sample *s, size_t n)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t credit = s[i].rtt_ms < plan->rtt_cap_ms ? s[i].rtt_ms
                                                         : plan->rtt_cap_ms;
        t += s[i].elapsed_ms > credit ? s[i].elapsed_ms - credit : 0;
    }
    return t;
}

static void say(hearth_challenge_verdict *v, const hearth_challenge_plan *p,
                size_t invalid)
{
    char claim[64];
    snprintf(claim, sizeof claim, "%.4g MH/s claimed (%s)",
             (double)p->claimed_hs / 1e6,
             p->from_bench ? "the offer's benchmark" : "its GPU tier");
    double got = (double)v->measured_hs / 1e6, secs = v->work_ms / 1000.0;
    if (invalid)
        snprintf(v->why, sizeof v->why, "%zu result(s) failed the proof of "
                 "work check; %.4g MH/s against %s", invalid, got, claim);
    else if (v->verdict == HEARTH_HW_PASS)
        snprintf(v->why, sizeof v->why, "achieved %.4g MH/s against %s: "
                 "%u jobs of %d bits in %.2f s of work", got, claim,
                 v->done, p->bits, secs);
    else
        snprintf(v->why, sizeof v->why, "achieved %.4g MH/s, below 1/%g of "
                 "the %s: %u of %u jobs of %d bits done in %.2f s of work",
                 got, p->margin, claim, v->done, p->jobs, p->bits, secs);
}

int hearth_challenge_judge(const hearth_challenge_plan *plan,
                           const hearth_challenge_sample *s, size_t n,
                           hearth_challenge_verdict *out)
{
    size_t invalid = 0;
    memset(out, 0, sizeof *out);
    if (n > plan->jobs || plan->bits < 1 || plan->bits > 63)
        return HEARTH_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i].outcome == HEARTH_CHALLENGE_DONE)
            out->done++;
        else if (s[i].outcome == HEARTH_CHALLENGE_INVALID)
            invalid++;
        else if (s[i].outcome != HEARTH_CHALLENGE_TIMEOUT)
            return HEARTH_EINVAL;
    }
    out->claimed_hs = plan->claimed_hs;
    out->work_ms = hearth_challenge_work_ms(plan, s, n);
    double hashes = ldexp((double)out->done, plan->bits);
    double ms = out->work_ms ? (double)out->work_ms : 1.0;
    double hs = hashes * 1000.0 / ms;
    out->measured_hs = hs >= 1.8e19 ? UINT64_MAX : (uint64_t)hs;
    int fast = hs * plan->margin >= (double)plan->claimed_hs;
    out->verdict = !invalid && out->done == plan->jobs && fast
                       ? HEARTH_HW_PASS : HEARTH_HW_FAIL;
    say(out, plan, invalid);
    return HEARTH_OK;
}

/* P(Gamma(K, 1) > x) = e^-x sum_{i<K} x^i / i!, summed in logs */
double hearth_challenge_false_fail(unsigned jobs, double margin,
                                   double overhead)
{
    double x = jobs * (margin - overhead), sum = 0;
    if (!(x > 0))
        return 1.0;
    for (unsigned i = 0; i < jobs; i++)
        sum += exp(-x + i * log(x) - lgamma(i + 1.0));
    return sum < 1.0 ? sum : 1.0;
}
