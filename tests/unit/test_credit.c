/* The mutual credit policy (include/hearth/credit.h): limits, trust,
 * in-flight jobs, disputes and refunds in the exposure, the overdue
 * deadline, and saturation on hostile figures. */
#include "tap.h"

#include <stdint.h>
#include <string.h>

#include "hearth/credit.h"
#include "hearth/error.h"

static const uint8_t alice[32] = {1}, bob[32] = {2};

static hearth_credit_decision decide(const hearth_credit_policy *p,
                                     const uint8_t who[32], int64_t owed,
                                     int64_t disputed, int64_t since,
                                     uint64_t inflight, uint64_t quote,
                                     int64_t now)
{
    hearth_ledger_standing s = {owed, disputed, since, 0};
    hearth_credit_decision d;
    CHECK(hearth_credit_decide(p, who, &s, inflight, quote, now, &d) ==
          HEARTH_OK);
    return d;
}

/* earned credit: stranger + paid, capped; nothing while disputing */
static void test_earned(void)
{
    hearth_credit_policy p;
    hearth_credit_policy_default(&p);
    CHECK(p.limit_msat == HEARTH_CREDIT_DEFAULT_LIMIT_MSAT &&
          p.stranger_msat == HEARTH_CREDIT_DEFAULT_STRANGER_MSAT);
    hearth_ledger_standing s = {0, 0, 0, 0};
    CHECK(hearth_credit_limit(&p, alice, NULL) == 500);
    CHECK(hearth_credit_limit(&p, alice, &s) == 500);
    s.paid_msat = 5000;
    CHECK(hearth_credit_limit(&p, alice, &s) == 5500);
    s.paid_msat = 1000000;
    CHECK(hearth_credit_limit(&p, alice, &s) == 20000);
    s.paid_msat = -5000; /* we paid them (a refund): no credit from it */
    CHECK(hearth_credit_limit(&p, alice, &s) == 500);
    s.paid_msat = 5000;
    s.disputed_msat = 1;
    CHECK(hearth_credit_limit(&p, alice, &s) == 5000);
    s.paid_msat = INT64_MAX;
    CHECK(hearth_credit_limit(&p, alice, &s) == 20000);
    /* a stranger's second small job fits, its third does not */
    hearth_credit_decision d;
    s = (hearth_ledger_standing){300, 0, 10, 0};
    CHECK(hearth_credit_decide(&p, alice, &s, 0, 200, 20, &d) == HEARTH_OK &&
          d.verdict == HEARTH_CREDIT_SERVE && d.limit_msat == 500);
    CHECK(hearth_credit_decide(&p, alice, &s, 0, 201, 20, &d) == HEARTH_OK &&
          d.verdict == HEARTH_CREDIT_PREPAY);
}

static void test_limit(void)
{
    hearth_credit_policy p;
    hearth_credit_policy_default(&p);
    p.stranger_msat = p.limit_msat; /* a flat limit, as --credit-stranger */
    /* a stranger with nothing owed: served up to the limit exactly */
    hearth_credit_decision d = decide(&p, alice, 0, 0, 0, 0, 20000, 1000);
    CHECK(d.verdict == HEARTH_CREDIT_SERVE && d.due_msat == 0 && !d.why[0]);
    d = decide(&p, alice, 0, 0, 0, 0, 20001, 1000);
    CHECK(d.verdict == HEARTH_CREDIT_PREPAY && d.due_msat == 20001);
    CHECK(strstr(d.why, "credit limit reached") != NULL);
    /* what they owe, what they dispute and what is in flight all count */
    d = decide(&p, alice, 15000, 0, 900, 0, 5000, 1000);
    CHECK(d.verdict == HEARTH_CREDIT_SERVE);
    d = decide(&p, alice, 15000, 0, 900, 1, 5000, 1000);
    CHECK(d.verdict == HEARTH_CREDIT_PREPAY && d.exposure_msat == 15001);
    d = decide(&p, alice, 10000, 6000, 900, 0, 5000, 1000);
    CHECK(d.verdict == HEARTH_CREDIT_PREPAY && d.exposure_msat == 16000);
    /* a refund we owe them is credit they can use */
    d = decide(&p, alice, -10000, 0, 0, 0, 30000, 1000);
    CHECK(d.verdict == HEARTH_CREDIT_SERVE && d.exposure_msat == 0);
    /* ...but claims on us they hold in dispute do not lower exposure */
    d = decide(&p, alice, 0, -50000, 0, 0, 30000, 1000);
    CHECK(d.verdict == HEARTH_CREDIT_PREPAY);
}

static void test_trust(void)
{
    hearth_credit_trust t[2] = {{{2}, 1000000}, {{3}, 0}};
    hearth_credit_policy p;
    hearth_credit_policy_default(&p);
    p.trust = t;
    p.ntrust = 2;
    CHECK(hearth_credit_limit(&p, bob, NULL) == 1000000);
    CHECK(hearth_credit_limit(&p, alice, NULL) ==
          HEARTH_CREDIT_DEFAULT_STRANGER_MSAT);
    hearth_credit_decision d = decide(&p, bob, 900000, 0, 1, 0, 50000, 2);
    CHECK(d.verdict == HEARTH_CREDIT_SERVE && d.limit_msat == 1000000);
    /* a limit of zero: every job paid first */
    uint8_t carol[32] = {3};
    d = decide(&p, carol, 0, 0, 0, 0, 1, 2);
    CHECK(d.verdict == HEARTH_CREDIT_PREPAY && d.due_msat == 1);
}

static void test_overdue(void)
{
    hearth_credit_policy p;
    hearth_credit_policy_default(&p);
    p.grace_s = 3600;
    /* owed within the grace: fine; past it: the balance and the job */
    hearth_credit_decision d = decide(&p, alice, 100, 0, 1000, 0, 10, 4600);
    CHECK(d.verdict == HEARTH_CREDIT_SERVE);
    d = decide(&p, alice, 100, 0, 1000, 0, 10, 4601);
    CHECK(d.verdict == HEARTH_CREDIT_OVERDUE && d.due_msat == 110);
    CHECK(strstr(d.why, "payment overdue: you have owed 100 msat since "
                        "1970-01-01") != NULL);
    /* nothing owed: no deadline, whatever the (stale) time says */
    d = decide(&p, alice, 0, 0, 1000, 0, 10, 999999);
    CHECK(d.verdict == HEARTH_CREDIT_SERVE);
}

static void test_hostile(void)
{
    hearth_credit_policy p;
    hearth_credit_policy_default(&p);
    hearth_credit_decision d = decide(&p, alice, INT64_MAX, INT64_MAX, 0,
                                      UINT64_MAX, UINT64_MAX, 0);
    CHECK(d.verdict == HEARTH_CREDIT_PREPAY &&
          d.exposure_msat == (uint64_t)INT64_MAX &&
          d.due_msat == UINT64_MAX);
    d = decide(&p, alice, 1, 0, INT64_MIN, 0, UINT64_MAX, INT64_MAX);
    CHECK(d.verdict == HEARTH_CREDIT_OVERDUE && d.due_msat == UINT64_MAX);
    hearth_ledger_standing s = {0, 0, 0, 0};
    CHECK(hearth_credit_decide(&p, alice, &s, 0, 1, 0, NULL) ==
          HEARTH_EINVAL);
    CHECK(hearth_credit_decide(NULL, alice, &s, 0, 1, 0, &d) ==
          HEARTH_EINVAL);
}

int main(void)
{
    test_earned();
    test_limit();
    test_trust();
    test_overdue();
    test_hostile();
    return tap_done();
}
