/* Private to the customer role: the job (customer.c: submitting, choosing,
 * finishing) and its attempts (customer_attempt.c: sending, replies,
 * timers) share these structures. */
#ifndef HEARTH_CUSTOMER_INTERNAL_H
#define HEARTH_CUSTOMER_INTERNAL_H

#include <libwebsockets.h>

#include "hearth/customer.h"
#include "hearth/ledger.h"
#include "hearth/meter.h"
#include "hearth/nwc.h"

/* How long after its result an attempt waits for the final metering
 * note: the provider sends it right behind the result, so a few seconds
 * cover the relays' round trip without holding the job up much. */
#define CUST_NOTE_GRACE_MS 3000


/* One request to one provider. */
struct catt {
    hearth_customer_job *job;
    hearth_customer_attempt a;       /* what callers see */
    hearth_sub *sub;
    lws_sorted_usec_list_t timer;    /* attempt timeout */
    int64_t sent_ms, first_reply_ms;
    int rebid;                       /* this attempt is a re-bid */
    hearth_buf result;               /* verified content (OK) */
    char summary[HEARTH_CUSTOMER_SUMMARY_MAX];
    /* settlement (customer_receipt part of customer_attempt.c) */
    hearth_sub *note_sub;            /* kind 7441 from the provider */
    lws_sorted_usec_list_t grace;    /* waiting for the final note */
    hearth_meter_note note;          /* the latest note by seq */
    int have_note;
    /* Lightning (customer_pay.c): the record's settlement fields */
    int paying;                      /* pay_invoice in flight */
    uint8_t settle;                  /* HEARTH_SETTLE_* bits */
    uint8_t payment_hash[32];
    uint8_t preimage[32];
    uint64_t price_msat;             /* the job's part of the invoice */
    uint64_t owed_msat;              /* the part paying what we owed */
    uint64_t reserved_msat;          /* the reservation booked, 0: none */
};

struct hearth_customer_job {
    hearth_customer *c;
    hearth_customer_job *next;       /* c's list */
    hearth_job_spec spec;            /* deep copy (see spec_copy) */
    void *spec_mem;
    hearth_customer_opts o;
    uint8_t pinned[32];
    hearth_customer_cbs cbs;
    void *user;
    uint8_t root[32];                /* first request id */
    int64_t created_at, deadline;    /* unix s */
    int64_t deadline_ms;             /* unix ms, exact */
    struct catt att[HEARTH_CUSTOMER_MAX_ATTEMPTS];
    size_t natt;
    uint8_t rebid_done[HEARTH_CUSTOMER_MAX_ATTEMPTS][32];
    size_t nrebid;
    int finished;                    /* on_done scheduled */
    int final;                       /* enum hearth_cust_outcome */
    int ending;                      /* finish() ran: report once settled */
    char reason[HEARTH_CUSTOMER_WHY_MAX];
    lws_sorted_usec_list_t deadline_timer;
    lws_sorted_usec_list_t done_timer;
};

struct hearth_customer {
    hearth_loop *loop;
    hearth_pool *pool;
    hearth_view *view;
    hearth_jobdb *db;
    uint8_t sk[32], pk[32];
    hearth_customer_job *jobs;
    hearth_ledger *ledger;           /* may be NULL */
    hearth_nwc *wallet;              /* may be NULL */
    struct cust_pass *pass;          /* settling pass running, or NULL */
};

/* customer_settle.c: stop a settling pass without its callback */
void cust_pass_free(struct cust_pass *p);

/* What answering a final note needs (customer_book.c), from a live
 * attempt or from a job record after a restart. */
struct cust_answer {
    hearth_customer *c;
    hearth_job_rec *rec;             /* its settle bits are updated and
                                        the record written (if db) */
    int result_ok;                   /* the result passed every check */
    uint8_t output_hash[32];         /* of the result received */
    uint8_t input_hash[32];          /* hearth_nip90_input_hash */
    uint64_t quote_msat;             /* bid, or the prepaid price */
    hearth_price price;              /* the offer's (or the note's) */
    uint64_t reserved_msat;          /* prepaid: the reservation, else 0 */
    const uint8_t *preimage;         /* prepaid: the proof, else NULL */
    uint64_t paid_msat;
    /* out */
    hearth_dispute why;
    uint64_t accepted_msat;
    uint8_t receipt_id[32];
};

/* customer.c */
int64_t cust_now_ms(void);
/* an attempt ended (outcome and reason set): record, withdraw, move on */
void cust_attempt_ended(struct catt *t);
/* one more attempt with a chosen provider: HEARTH_OK when sent */
int cust_send(hearth_customer_job *j, const uint8_t provider[32],
              uint64_t bid, int rebid);

/* an attempt's settlement ended: report the job if it was waiting */
void cust_settled(hearth_customer_job *j);

/* customer_attempt.c */
int cust_attempt_start(hearth_customer_job *j, struct catt *t,
                       hearth_event *req);
void cust_attempt_stop(struct catt *t);
/* NIP-09 deletion of t's request, published and forgotten */
void cust_withdraw(hearth_customer *c, const struct catt *t,
                   const char *reason);
/* after the attempt ended: with a result, wait for the final note and
 * answer it with a receipt; without, stop listening for notes */
void cust_settle_start(struct catt *t);
/* stop listening for notes (no receipt); safe twice */
void cust_settle_stop(struct catt *t);
/* job table record of t (HEARTH_OK without a table) */
int cust_record(hearth_customer_job *j, const struct catt *t);
void cust_fill_rec(hearth_customer_job *j, const struct catt *t,
                   hearth_job_rec *rec);
void cust_rearm(struct catt *t);
void cust_pub_ignored(const uint8_t id[32], const char *relay,
                      enum hearth_pub_result r, const char *msg, void *user);

/* customer_pay.c */
/* payment-required with a bolt11: 1 when handled here (paying, or the
 * attempt ended), 0 to treat it as a quote */
int cust_pay_asked(struct catt *t, const hearth_job_reply *r);
/* a prepaid attempt that ended without a result: release unused */
void cust_refund(struct catt *t);
/* SHA-256(tag || hash): event ids derived from a payment hash */
void cust_derive_id(const char *tag, const uint8_t hash[32], uint8_t out[32]);
/* book a Lightning payment found settled: reserve the price, and pay
 * what we owed with the rest (docs/settlement.md "Payment"). */
int cust_book_paid(hearth_customer *c, const hearth_job_rec *rec,
                   const uint8_t preimage[32], uint64_t price,
                   uint64_t owed, const char **why);
/* release a prepaid job's reservation with nothing used */
int cust_release_unused(hearth_customer *c, hearth_job_rec *rec);

/* customer_book.c */
/* judge the note, book it (ledger first), then publish the receipt;
 * HEARTH_OK when the receipt went out */
int cust_answer_note(struct cust_answer *a, const hearth_meter_note *note);

#endif
