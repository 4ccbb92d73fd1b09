/* Mutual credit policy (docs/settlement.md "Admission"). */
#include "hearth/credit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hearth/error.h"

void hearth_credit_policy_default(hearth_credit_policy *p)
{
    memset(p, 0, sizeof *p);
    p->stranger_msat = HEARTH_CREDIT_DEFAULT_STRANGER_MSAT;
    p->limit_msat = HEARTH_CREDIT_DEFAULT_LIMIT_MSAT;
    p->grace_s = HEARTH_CREDIT_DEFAULT_GRACE_S;
}

/* saturating: hostile ledgers and quotes must not wrap the comparison */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint64_t hearth_credit_limit(const hearth_credit_policy *p,
                             const uint8_t customer[32],
                             const hearth_ledger_standing *s)
{
    for (size_t i = 0; i < p->ntrust; i++)
        if (!memcmp(p->trust[i].pubkey, customer, 32))
            return p->trust[i].limit_msat;
    /* credit is earned by paying; a key that never pays takes at most
     * the stranger's share, and one disputing our bills not even that */
    uint64_t paid = s && s->paid_msat > 0 ? (uint64_t)s->paid_msat : 0;
    uint64_t base = s && s->disputed_msat > 0 ? 0 : p->stranger_msat;
    uint64_t l = add_sat(base, paid);
    return l < p->limit_msat ? l : p->limit_msat;
}

/* What they owe us (a refund we owe them is negative: credit they can
 * use) plus claims they dispute (disputing every bill must not buy free
 * work) plus what is in flight; saturating, for hostile figures. */
static int64_t net_exposure(const hearth_ledger_standing *s,
                            uint64_t inflight)
{
    int64_t net = s->owed_msat, r;
    if (s->disputed_msat > 0 &&
        __builtin_add_overflow(net, s->disputed_msat, &net))
        net = INT64_MAX;
    int64_t fl = inflight > INT64_MAX ? INT64_MAX : (int64_t)inflight;
    if (__builtin_add_overflow(net, fl, &r))
        r = INT64_MAX;
    return r;
}

/* net + quote > limit, without overflow */
static int over_limit(int64_t net, uint64_t quote, uint64_t limit)
{
    if (net < 0) {
        uint64_t credit = (uint64_t)(-(net + 1)) + 1;
        return quote > credit && quote - credit > limit;
    }
    return add_sat((uint64_t)net, quote) > limit;
}

static void day_of(int64_t t, char out[16])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || !strftime(out, 16, "%Y-%m-%d", &tm))
        snprintf(out, 16, "long ago");
}

int hearth_credit_decide(const hearth_credit_policy *p,
                         const uint8_t customer[32],
                         const hearth_ledger_standing *s,
                         uint64_t inflight_msat, uint64_t quote_msat,
                         int64_t now, hearth_credit_decision *d)
{
    if (!p || !customer || !s || !d)
        return HEARTH_EINVAL;
    memset(d, 0, sizeof *d);
    d->limit_msat = hearth_credit_limit(p, customer, s);
    int64_t net = net_exposure(s, inflight_msat);
    d->exposure_msat = net > 0 ? (uint64_t)net : 0;
    uint64_t owed = s->owed_msat > 0 ? (uint64_t)s->owed_msat : 0;
    int64_t age;
    if (__builtin_sub_overflow(now, s->owing_since, &age))
        age = s->owing_since < 0 ? INT64_MAX : INT64_MIN;
    if (owed && s->owing_since && age > (int64_t)p->grace_s) {
        char day[16];
        day_of(s->owing_since, day);
        d->verdict = HEARTH_CREDIT_OVERDUE;
        d->due_msat = add_sat(owed, quote_msat);
        snprintf(d->why, sizeof d->why,
                 "payment overdue: you have owed %llu msat since %s; pay "
                 "it with this job's price to be served again",
                 (unsigned long long)owed, day);
        return HEARTH_OK;
    }
    if (over_limit(net, quote_msat, d->limit_msat)) {
        d->verdict = HEARTH_CREDIT_PREPAY;
        d->due_msat = quote_msat;
        snprintf(d->why, sizeof d->why,
                 "credit limit reached: you owe %llu msat of a %llu msat "
                 "limit; this job must be paid first",
                 (unsigned long long)d->exposure_msat,
                 (unsigned long long)d->limit_msat);
        return HEARTH_OK;
    }
    d->verdict = HEARTH_CREDIT_SERVE;
    return HEARTH_OK;
}
