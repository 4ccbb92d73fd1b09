/* The customer role (docs/jobs.md "Customer"): ask the market for a NIP-90
 * job, follow it, check what comes back, and move on to another provider
 * when one fails. `hearth job submit` uses it, and so does the router role
 * when it delegates a job.
 *
 * A submitted job is a chain of attempts. Each attempt is one signed
 * request addressed (p tag) to one provider, with a bid, published through
 * the relay pool (to which the provider's inbox relays from its offer are
 * added), and one subscription to its replies. An attempt ends with a
 * verified result, or fails: error feedback, a price above max_price, no
 * word from the provider for attempt_timeout_ms, or a result that fails a
 * check. A failed attempt is recorded (market view and job table), its
 * request is withdrawn with a NIP-09 deletion, and the next provider the
 * selection gives is asked, until the overall deadline.
 *
 * Everything runs on the loop thread, like the pool it uses. The customer
 * must be freed before the pool. */
#ifndef HEARTH_CUSTOMER_H
#define HEARTH_CUSTOMER_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/jobdb.h"
#include "hearth/ledger.h"
#include "hearth/loop.h"
#include "hearth/nwc.h"
#include "hearth/nip90.h"
#include "hearth/pool.h"
#include "hearth/select.h"
#include "hearth/view.h"

typedef struct hearth_customer hearth_customer;
typedef struct hearth_customer_job hearth_customer_job;

#define HEARTH_CUSTOMER_MAX_ATTEMPTS 32u   /* per job, retries included */
#define HEARTH_CUSTOMER_MAX_REDUNDANCY 8u
#define HEARTH_CUSTOMER_WHY_MAX 160u       /* = HEARTH_JOB_REASON_MAX */
#define HEARTH_CUSTOMER_SUMMARY_MAX 320u

/* How an attempt (or, for the last four, a whole job) ended. */
enum hearth_cust_outcome {
    HEARTH_CUST_RUNNING = 0,   /* attempt still open */
    HEARTH_CUST_OK,            /* a result that passed every check */
    HEARTH_CUST_ERROR,         /* the provider sent error feedback */
    HEARTH_CUST_PRICE,         /* it asked more than max_price */
    HEARTH_CUST_TIMEOUT,       /* no feedback or result in time */
    HEARTH_CUST_INVALID,       /* its result failed a check */
    HEARTH_CUST_REBID,         /* it quoted a price within max_price: the
                                  job was asked again with that bid */
    HEARTH_CUST_CANCELLED,     /* withdrawn: by the caller or the deadline */
    HEARTH_CUST_FAILED,        /* job: every provider asked failed */
    HEARTH_CUST_NO_PROVIDER,   /* job: no eligible provider (left) */
    HEARTH_CUST_DEADLINE       /* job: the deadline passed first */
};
const char *hearth_cust_outcome_name(int outcome);

typedef struct hearth_customer_opts {
    hearth_strategy strategy;       /* selection strategy (balanced) */
    size_t top_n;                   /* randomise among the best top_n;
                                       0: 3 for balanced, 1 otherwise */
    uint64_t seed;                  /* for that draw; 0: random */
    uint64_t max_price_msat;        /* 0: no limit */
    const uint8_t *provider;        /* NULL: select; else only this one
                                       (copied) */
    unsigned redundancy;            /* distinct providers at once (1) */
    uint32_t deadline_ms;           /* whole job (300000) */
    uint32_t attempt_timeout_ms;    /* silence that fails an attempt
                                       (60000) */
    int encrypt;                    /* NIP-44 request and replies */
    size_t nrelays;                 /* more relays to add to the pool */
    const char *const *relays;
    unsigned max_attempts;          /* requests sent at most (8) */
} hearth_customer_opts;

void hearth_customer_opts_default(hearth_customer_opts *o);

/* What became of an attempt's settlement (docs/jobs.md "Customer"): an
 * attempt that got a result waits a short grace for the provider's final
 * metering note (kind 7441), checks it and answers with a receipt (kind
 * 7442). */
enum hearth_cust_receipt {
    HEARTH_CUST_RECEIPT_NONE = 0,  /* no result: nothing to settle */
    HEARTH_CUST_RECEIPT_PENDING,   /* result in, final note awaited */
    HEARTH_CUST_RECEIPT_NO_NOTE,   /* no final note within the grace */
    HEARTH_CUST_RECEIPT_ACCEPTED,  /* accept receipt published */
    HEARTH_CUST_RECEIPT_DISPUTED,  /* dispute receipt published */
    HEARTH_CUST_RECEIPT_FAILED     /* the receipt could not be built */
};
/* "none", "pending", "no-note", "accepted", "disputed", "failed" */
const char *hearth_cust_receipt_name(int receipt);

/* One attempt as the callbacks and the final report see it. */
typedef struct hearth_customer_attempt {
    uint8_t provider[32];
    uint8_t request_id[32];
    unsigned number;                /* 1.. in the job's chain */
    int outcome;                    /* enum hearth_cust_outcome */
    char reason[HEARTH_CUSTOMER_WHY_MAX];  /* "" for OK and RUNNING */
    uint64_t bid_msat;
    uint64_t amount_msat;           /* charged (OK) or quoted (PRICE) */
    uint8_t result_id[32];          /* zero without a result */
    uint8_t output_hash[32];        /* SHA-256 of the result content */
    /* settlement: final in on_done, PENDING or NONE in on_attempt */
    int receipt;                    /* enum hearth_cust_receipt */
    uint8_t note_id[32];            /* the final note answered, else zero */
    uint8_t receipt_id[32];         /* the receipt published, else zero */
    char receipt_reason[32];        /* dispute code ("overcharged"), or
                                       "no metering note"; "" if accepted */
    uint64_t receipt_msat;          /* the amount the receipt accepts */
    uint64_t paid_msat;             /* paid over Lightning before the job
                                       ran (docs/settlement.md), else 0 */
} hearth_customer_attempt;

typedef struct hearth_customer_result {
    int outcome;                    /* OK, FAILED, NO_PROVIDER, DEADLINE,
                                       CANCELLED */
    const char *reason;             /* "" for OK */
    /* the first verified result (outcome OK), else NULL/0/zero */
    const char *content;
    size_t content_len;
    const hearth_customer_attempt *chosen;
    int verified;                   /* 1 when content passed every check */
    const char *summary;            /* what was checked, one sentence */
    /* every attempt, in order */
    size_t nattempts;
    const hearth_customer_attempt *attempts;
    /* redundancy: results that passed, and whether they agree (1/0;
     * -1 when fewer than two were asked for). Agreement is the same
     * output hash; for NIP-13 PoW (kind 5970) different nonces are all
     * correct answers, so agreement is "every result passed the check". */
    unsigned redundancy, nok;
    int agree;
} hearth_customer_result;

typedef struct hearth_customer_cbs {
    /* processing feedback with a ["progress", pct] tag */
    void (*on_progress)(hearth_customer_job *j, int percent,
                        const uint8_t provider[32], void *user);
    /* every feedback accepted from the provider (info "" if none) */
    void (*on_feedback)(hearth_customer_job *j, enum hearth_nip90_status st,
                        const char *info, const uint8_t provider[32],
                        void *user);
    /* an attempt was sent (outcome RUNNING; also from inside
     * hearth_customer_submit), paid its provider's invoice (RUNNING with
     * paid_msat set) or ended */
    void (*on_attempt)(hearth_customer_job *j,
                       const hearth_customer_attempt *a, void *user);
    /* once, never from inside a hearth_customer_* call; the job and
     * everything r points to are freed when it returns */
    void (*on_done)(hearth_customer_job *j, const hearth_customer_result *r,
                    void *user);
} hearth_customer_cbs;

/* loop and pool must outlive the customer; view and jobdb (both may be
 * NULL) too. sk is the customer's key (copied). */
int hearth_customer_new(hearth_loop *loop, hearth_pool *pool,
                        hearth_view *view, hearth_jobdb *db,
                        const uint8_t sk[32], hearth_customer **out);
/* Unsubscribes and frees every job without callbacks (deletions already
 * handed to the pool still go out). NULL is fine. */
void hearth_customer_free(hearth_customer *c);

/* Settlement (docs/settlement.md), both optional and both must outlive
 * the customer (free the wallet client first: a payment in flight calls
 * back into its attempt). With a ledger, receipts are booked (accepted /
 * disputed on credit; reserve and release for prepaid jobs) before they
 * are published. With a wallet, a payment-required carrying a bolt11 is
 * paid when its amount is the one asked and at most max_price (plus what
 * the ledger says we owe that provider); without one such an attempt
 * fails, unless it is a quote above the bid (bid again). */
void hearth_customer_set_ledger(hearth_customer *c, hearth_ledger *l);
void hearth_customer_set_wallet(hearth_customer *c, hearth_nwc *w);

/* Submit a job: spec says what (kind, inputs, params, output; its bid,
 * providers, enc and expiration are set per attempt), opts how. spec and
 * opts are copied. Sends the first attempt(s) before returning:
 * HEARTH_ENOTFOUND when no provider is eligible (nothing was sent, no
 * callback follows), HEARTH_EINVAL for a bad spec or options. */
int hearth_customer_submit(hearth_customer *c, const hearth_job_spec *spec,
                           const hearth_customer_opts *opts,
                           const hearth_customer_cbs *cbs, void *user,
                           hearth_customer_job **out);
/* Withdraw every open attempt (NIP-09 deletion with the k tag to the
 * pool's relays), record them CANCELLED; on_done follows with
 * CANCELLED (or OK if redundant results were already in). */
int hearth_customer_cancel(hearth_customer_job *j, const char *reason);

/* The request id of the job's first attempt (its name in the job table). */
void hearth_customer_job_id(const hearth_customer_job *j, uint8_t id[32]);

/* ---- finishing settlements after a restart ---- */

#define HEARTH_CUSTOMER_SETTLE_MAX 64u  /* records per pass */

/* One job record the settling pass worked on. */
typedef struct hearth_customer_settled {
    uint8_t request_id[32];
    uint8_t provider[32];
    const char *what;   /* "paid", "receipt accepted", "receipt disputed",
                           "refund due", "waiting", "not paid" */
    char detail[HEARTH_CUSTOMER_WHY_MAX];  /* why it waits, or "" */
    uint64_t amount_msat;
} hearth_customer_settled;

typedef struct hearth_customer_settle_report {
    size_t n;                       /* records worked on */
    hearth_customer_settled items[HEARTH_CUSTOMER_SETTLE_MAX];
    unsigned paid, receipts, refunds, waiting;
    unsigned unpaid;                /* invoices recorded, not paid */
} hearth_customer_settle_report;

typedef void (*hearth_customer_settle_cb)(
    const hearth_customer_settle_report *r, void *user);

/* Finish the settlement of this customer's recorded jobs (needs the job
 * table): payments recorded INVOICED but not PAID are looked up on the
 * wallet (booked when settled); jobs paid or with a result but no
 * receipt get their results, feedback and metering notes fetched from
 * the pool's relays, and each final note is checked and answered (the
 * booking keyed by the note id), a prepaid job with error feedback or
 * past its deadline is released unused. Jobs older than 7 days are left
 * alone. cb runs once from the loop, within about timeout_ms. Returns
 * HEARTH_EINVAL without a job table, HEARTH_EBUSY while a pass runs. */
int hearth_customer_settle_pending(hearth_customer *c, uint32_t timeout_ms,
                                   hearth_customer_settle_cb cb, void *user);

/* ---- checks (pure) ---- */

/* What a result is checked against. */
typedef struct hearth_customer_check {
    uint32_t kind;                  /* the request's kind */
    uint8_t request_id[32];
    uint8_t provider[32];           /* who was asked */
    uint64_t bid_msat;
    const hearth_job_input *inputs; /* the request's, for kind checks */
    size_t ninputs;
    const hearth_job_param *params;
    size_t nparams;
} hearth_customer_check;

/* Check a parsed result (reply->is_result) event ev: kind = request kind
 * + 1000, e tag = the request, author = the provider, amount <= bid, and
 * for kind 5970 hearth_customer_verify_pow. HEARTH_OK with a summary of
 * what passed, or HEARTH_EINVAL with the failed check in why. */
int hearth_customer_verify(const hearth_customer_check *ck,
                           const hearth_event *ev,
                           const hearth_job_reply *reply, char *why,
                           size_t whylen);

/* NIP-13 PoW delegation: the result content must be the input event
 * (unsigned JSON) with one nonce tag committing to >= target, an id that
 * is the recomputed NIP-01 id, at least target leading zero bits, and
 * pubkey, created_at, kind, content and every other tag (in order)
 * unchanged. HEARTH_OK, or HEARTH_EINVAL with why. */
int hearth_customer_verify_pow(const char *input, size_t input_len,
                               int target, const char *output,
                               size_t output_len, char *why, size_t whylen);

/* Expected usage of a job for pricing (jobs = 1; kind 5970: 2^target
 * hashes from param "pow"). 0 when the size can be estimated, else
 * HEARTH_ENOTFOUND (usage holds jobs = 1 only). */
int hearth_customer_estimate(const hearth_job_spec *spec, hearth_usage *u);

#endif
