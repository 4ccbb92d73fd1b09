/* Customer role, the Lightning rail (docs/settlement.md "Payment"): a
 * payment-required feedback with a bolt11 invoice is checked (amount,
 * maximum price), its payment hash recorded (settle INVOICED) before it
 * is paid through the wallet (NIP-47), the payment booked (reserve, and
 * payment of what we owed) and the record marked PAID; the attempt then
 * waits for the result. A prepaid attempt that fails is released with
 * nothing used (the provider owes the prepayment back). */
#include "customer_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hearth/bolt11.h"
#include "hearth/error.h"

void cust_derive_id(const char *tag, const uint8_t hash[32], uint8_t out[32])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)tag, strlen(tag));
    crypto_hash_sha256_update(&st, hash, 32);
    crypto_hash_sha256_final(&st, out);
}

static void post_req(const hearth_job_rec *rec, const uint8_t preimage[32],
                     hearth_ledger_post_req *p)
{
    memset(p, 0, sizeof *p);
    p->side = HEARTH_SIDE_BUY;
    p->rail = HEARTH_RAIL_LIGHTNING;
    memcpy(p->counterparty, rec->provider, 32);
    memcpy(p->job_id, rec->id, 32);
    memcpy(p->preimage, preimage, 32);
    p->time = (int64_t)time(NULL);
}

int cust_book_paid(hearth_customer *c, const hearth_job_rec *rec,
                   const uint8_t preimage[32], uint64_t price,
                   uint64_t owed, const char **why)
{
    hearth_ledger_post_req p;
    int rc = HEARTH_OK;
    if (!c->ledger)
        return HEARTH_OK;
    post_req(rec, preimage, &p);
    if (price) {
        cust_derive_id("hearth reserve", rec->payment_hash, p.event_id);
        p.kind = HEARTH_POST_RESERVE;
        p.amount_msat = price;
        rc = hearth_ledger_reserve(c->ledger, &p, why);
    }
    if ((rc == HEARTH_OK || rc == HEARTH_LEDGER_DUP) && owed) {
        cust_derive_id("hearth payment", rec->payment_hash, p.event_id);
        p.kind = HEARTH_POST_PAYMENT;
        p.settle_rail = HEARTH_RAIL_CREDIT;
        p.amount_msat = owed;
        rc = hearth_ledger_post(c->ledger, &p, why);
    }
    return rc == HEARTH_LEDGER_DUP ? HEARTH_OK : rc;
}

int cust_release_unused(hearth_customer *c, hearth_job_rec *rec)
{
    int rc = HEARTH_OK;
    if (c->ledger) {
        rc = hearth_ledger_release(c->ledger, rec->id, 0, (int64_t)time(NULL),
                                   NULL);
        if (rc == HEARTH_LEDGER_DUP || rc == HEARTH_ENOTFOUND)
            rc = HEARTH_OK; /* released before, or nothing was reserved */
    }
    if (rc != HEARTH_OK)
        return rc;
    rec->settle |= HEARTH_SETTLE_REFUNDED | HEARTH_SETTLE_BOOKED;
    rec->updated_at = (int64_t)time(NULL);
    if (c->db)
        hearth_jobdb_put(c->db, rec, NULL, 0, NULL);
    return HEARTH_OK;
}

/* ---- live attempts ---- */

static void end_attempt(struct catt *t, int outcome, const char *reason)
{
    t->a.outcome = outcome;
    snprintf(t->a.reason, sizeof t->a.reason, "%s", reason);
    cust_attempt_ended(t);
}

/* What our own ledger says we owe this provider (all rails), 0 if
 * nothing or no ledger. */
static uint64_t we_owe(hearth_customer *c, const uint8_t provider[32])
{
    hearth_ledger_standing s;
    if (!c->ledger || hearth_ledger_standing_get(c->ledger, provider, &s) ||
        s.owed_msat >= 0)
        return 0;
    return (uint64_t)-s.owed_msat;
}

/* HEARTH_OK when the invoice may be paid; else the attempt ended */
static int check_invoice(struct catt *t, const hearth_job_reply *r,
                         hearth_bolt11 *b)
{
    const char *why = "";
    char msg[HEARTH_CUSTOMER_WHY_MAX];
    uint64_t max = t->job->o.max_price_msat;
    uint64_t owed = we_owe(t->job->c, t->a.provider);
    if (hearth_bolt11_parse(r->bolt11, strlen(r->bolt11), b, &why)) {
        snprintf(t->a.reason, sizeof t->a.reason,
                 "payment required: the invoice is unusable (%s)", why);
        t->a.outcome = HEARTH_CUST_PRICE;
        cust_attempt_ended(t);
        return HEARTH_EINVAL;
    }
    if (!b->has_amount || b->amount_msat != r->amount_msat ||
        !r->amount_msat) {
        snprintf(msg, sizeof msg, "payment required: the invoice is for "
                 "%llu msat, not the %llu msat asked",
                 (unsigned long long)b->amount_msat,
                 (unsigned long long)r->amount_msat);
        end_attempt(t, HEARTH_CUST_PRICE, msg);
        return HEARTH_EINVAL;
    }
    if (!b->has_payment_hash) {
        end_attempt(t, HEARTH_CUST_PRICE, "payment required: the invoice "
                    "has no payment hash");
        return HEARTH_EINVAL;
    }
    if (max && r->amount_msat > max + owed) {
        snprintf(msg, sizeof msg, "asks %llu msat, above the maximum of "
                 "%llu", (unsigned long long)r->amount_msat,
                 (unsigned long long)(max + owed));
        end_attempt(t, HEARTH_CUST_PRICE, msg);
        return HEARTH_EINVAL;
    }
    /* an invoice for more than we owe pays that debt first (an overdue
     * balance is asked as owed + price); the rest is the job's price */
    t->owed_msat = owed && r->amount_msat > owed ? owed : 0;
    t->price_msat = r->amount_msat - t->owed_msat;
    return HEARTH_OK;
}

static void paid(struct catt *t, const hearth_nwc_result *res)
{
    hearth_customer_job *j = t->job;
    hearth_job_rec rec;
    memcpy(t->preimage, res->preimage, 32);
    t->settle |= HEARTH_SETTLE_PAID;
    t->a.paid_msat = t->price_msat + t->owed_msat;
    cust_fill_rec(j, t, &rec);
    /* a booking that failed (the disk) leaves the receipt unbooked
     * later, never booked on credit instead */
    cust_book_paid(j->c, &rec, t->preimage, t->price_msat, t->owed_msat,
                   NULL);
    t->reserved_msat = t->price_msat;
    cust_record(j, t);
    if (j->cbs.on_attempt)
        j->cbs.on_attempt(j, &t->a, j->user);
    if (t->a.outcome == HEARTH_CUST_RUNNING)
        cust_rearm(t); /* now the provider runs it */
    else
        cust_refund(t); /* withdrawn while paying */
}

static void on_paid(const hearth_nwc_result *res, void *user)
{
    struct catt *t = user;
    t->paying = 0;
    if (res->err == HEARTH_OK && res->has_preimage) {
        paid(t, res);
    } else if (t->a.outcome == HEARTH_CUST_RUNNING) {
        t->a.outcome = HEARTH_CUST_ERROR;
        snprintf(t->a.reason, sizeof t->a.reason, "payment failed: %.140s",
                 *res->message ? res->message : "no preimage from the wallet");
        cust_attempt_ended(t);
    }
    cust_settled(t->job);
}

int cust_pay_asked(struct catt *t, const hearth_job_reply *r)
{
    hearth_customer_job *j = t->job;
    hearth_bolt11 b;
    if (!r->bolt11 || !*r->bolt11)
        return 0;
    /* one invoice per attempt: a second one while or after paying is
     * not paid (nor taken for a quote) */
    if (t->paying || (t->settle & HEARTH_SETTLE_INVOICED))
        return 1;
    if (!j->c->wallet) {
        /* a quote above the bid: bid again as without Lightning */
        if (r->amount_msat > t->a.bid_msat && !t->rebid)
            return 0;
        end_attempt(t, HEARTH_CUST_PRICE, "payment required: no wallet "
                    "connection (--wallet)");
        return 1;
    }
    if (check_invoice(t, r, &b) != HEARTH_OK)
        return 1;
    memcpy(t->payment_hash, b.payment_hash, 32);
    t->settle |= HEARTH_SETTLE_INVOICED;
    t->a.amount_msat = r->amount_msat;
    /* the hash is on disk before the money moves */
    if (cust_record(j, t) != HEARTH_OK) {
        end_attempt(t, HEARTH_CUST_ERROR, "cannot record the invoice in the "
                    "job table");
        return 1;
    }
    if (hearth_nwc_pay_invoice(j->c->wallet, r->bolt11, t->payment_hash,
                               on_paid, t) != HEARTH_OK) {
        end_attempt(t, HEARTH_CUST_ERROR, "cannot ask the wallet to pay");
        return 1;
    }
    t->paying = 1;
    return 1;
}

void cust_refund(struct catt *t)
{
    hearth_job_rec rec;
    if (!(t->settle & HEARTH_SETTLE_PAID) ||
        (t->settle & HEARTH_SETTLE_REFUNDED))
        return;
    cust_fill_rec(t->job, t, &rec);
    if (cust_release_unused(t->job->c, &rec) == HEARTH_OK)
        t->settle = rec.settle;
}
