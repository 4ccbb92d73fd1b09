/* Mutual credit policy (docs/settlement.md "Credit"): how much a provider
 * lets a customer owe before it asks for payment first, and when an old
 * debt stops it serving that customer at all.
 *
 * Pure: the provider hands in the customer's standing from its ledger
 * (hearth_ledger_standing_get) and what it has admitted for that customer
 * but not billed yet, and gets a verdict with a sentence for the
 * customer. The simulator uses the same function. */
#ifndef HEARTH_CREDIT_H
#define HEARTH_CREDIT_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/ledger.h"

/* Credit is earned: a stranger gets half a sat (a few small PoW jobs,
 * little to lose), and every msat it pays raises its limit by as much, up
 * to 20 sats. The simulator shows why: with 30% non-paying customers a
 * stranger's credit of 1000 msat already costs honest providers more than
 * 1% of their earnings, 500 msat 0.38% (docs/simulator.md "Settlement"). */
#define HEARTH_CREDIT_DEFAULT_STRANGER_MSAT 500u
#define HEARTH_CREDIT_DEFAULT_LIMIT_MSAT 20000u
/* a balance owed continuously for longer than a week is overdue */
#define HEARTH_CREDIT_DEFAULT_GRACE_S (7u * 24u * 3600u)
#define HEARTH_CREDIT_WHY_MAX 200u

/* A customer the operator trusts more (or less) than a stranger. */
typedef struct hearth_credit_trust {
    uint8_t pubkey[32];
    uint64_t limit_msat;
} hearth_credit_trust;

typedef struct hearth_credit_policy {
    uint64_t stranger_msat; /* a customer that has paid nothing yet */
    uint64_t limit_msat;   /* the most a customer without a trust entry
                              can earn: stranger + what it paid */
    uint32_t grace_s;      /* how long a balance may stay owed */
    const hearth_credit_trust *trust;  /* not owned; first match wins */
    size_t ntrust;
} hearth_credit_policy;

void hearth_credit_policy_default(hearth_credit_policy *p);
/* A trust entry's limit, else min(limit, stranger + paid); no stranger
 * credit while the customer holds any of our bills in dispute. s may be
 * NULL (a stranger). */
uint64_t hearth_credit_limit(const hearth_credit_policy *p,
                             const uint8_t customer[32],
                             const hearth_ledger_standing *s);

enum hearth_credit_verdict {
    HEARTH_CREDIT_SERVE = 0,   /* inside the limit: run, bill afterwards */
    HEARTH_CREDIT_PREPAY = 1,  /* over the limit: this job paid first */
    HEARTH_CREDIT_OVERDUE = 2  /* owed too long: pay the balance and
                                  this job first */
};

typedef struct hearth_credit_decision {
    int verdict;               /* enum hearth_credit_verdict */
    uint64_t limit_msat;       /* the customer's limit */
    uint64_t exposure_msat;    /* owed + held in dispute + in flight */
    uint64_t due_msat;         /* PREPAY: the quote; OVERDUE: the
                                  balance owed plus the quote; SERVE: 0 */
    char why[HEARTH_CREDIT_WHY_MAX]; /* for the customer; "" on SERVE */
} hearth_credit_decision;

/* Decide for one job quoted at quote_msat. inflight_msat: what this
 * customer's admitted, not yet billed jobs will cost. HEARTH_OK, or
 * HEARTH_EINVAL for NULL arguments. */
int hearth_credit_decide(const hearth_credit_policy *p,
                         const uint8_t customer[32],
                         const hearth_ledger_standing *s,
                         uint64_t inflight_msat, uint64_t quote_msat,
                         int64_t now, hearth_credit_decision *d);

#endif
