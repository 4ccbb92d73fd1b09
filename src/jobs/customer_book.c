/* Customer role, answering a final metering note (docs/settlement.md
 * "End of a job"): judge it, book it in the ledger, mark the job record
 * BOOKED, publish the receipt, mark it RECEIPT. The ledger posting comes
 * before the receipt, so a crash in between is finished by `hearth
 * ledger settle` (the posting then comes back as a duplicate: its event
 * id is the note's id). Used by live attempts and by the settling pass. */
#include "customer_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hearth/error.h"

/* Why the note cannot be accepted, or NONE. A result that failed our
 * checks is a wrong result whatever the note says of it. */
static hearth_dispute judge(const struct cust_answer *a,
                            const hearth_meter_note *n)
{
    hearth_dispute why = HEARTH_DISPUTE_NONE;
    if (!a->result_ok)
        return HEARTH_DISPUTE_WRONG_RESULT;
    if (hearth_meter_check_output(n, a->output_hash, &why, NULL))
        return why;
    /* the provider ran other inputs than we sent */
    if (memcmp(a->input_hash, n->input_sha256, 32))
        return HEARTH_DISPUTE_WRONG_RESULT;
    /* the bid (or what we prepaid) is what we agreed to pay */
    if (hearth_meter_check_note(n, a->quote_msat, &a->price, NULL, &why,
                                NULL))
        return why;
    return HEARTH_DISPUTE_NONE;
}

static int put(struct cust_answer *a)
{
    if (!a->c->db)
        return HEARTH_OK;
    a->rec->updated_at = (int64_t)time(NULL);
    return hearth_jobdb_put(a->c->db, a->rec, NULL, 0, NULL);
}

/* credit: accepted or disputed, keyed by the note; prepaid: the release
 * of the reservation with the accepted amount used */
static int book(struct cust_answer *a, const hearth_meter_note *n)
{
    hearth_ledger_post_req p;
    hearth_ledger *l = a->c->ledger;
    if (!l)
        return HEARTH_OK;
    if (a->reserved_msat) {
        uint64_t used = a->accepted_msat > a->reserved_msat
                            ? a->reserved_msat : a->accepted_msat;
        int rc = hearth_ledger_release(l, a->rec->id, used,
                                       (int64_t)time(NULL), NULL);
        return rc == HEARTH_LEDGER_DUP ? HEARTH_OK : rc;
    }
    if (!n->amount_msat)
        return HEARTH_OK; /* nothing due: nothing to book */
    memset(&p, 0, sizeof p);
    memcpy(p.event_id, n->id, 32);
    p.kind = a->why == HEARTH_DISPUTE_NONE ? HEARTH_POST_ACCEPTED
                                          : HEARTH_POST_DISPUTED;
    p.side = HEARTH_SIDE_BUY;
    p.rail = HEARTH_RAIL_CREDIT;
    memcpy(p.counterparty, n->provider, 32);
    memcpy(p.job_id, a->rec->id, 32);
    p.amount_msat = n->amount_msat;
    p.time = (int64_t)time(NULL);
    int rc = hearth_ledger_post(l, &p, NULL);
    return rc == HEARTH_LEDGER_DUP ? HEARTH_OK : rc;
}

static int publish(struct cust_answer *a, hearth_receipt *r)
{
    hearth_customer *c = a->c;
    hearth_event *ev = NULL;
    int rc = hearth_receipt_to_event(r, (int64_t)time(NULL), &ev, NULL);
    if (rc == HEARTH_OK)
        rc = hearth_event_sign(ev, c->sk);
    if (rc == HEARTH_OK)
        rc = hearth_pool_publish(c->pool, ev, cust_pub_ignored, NULL);
    if (rc == HEARTH_OK)
        memcpy(a->receipt_id, ev->id, 32);
    hearth_event_free(ev);
    return rc;
}

int cust_answer_note(struct cust_answer *a, const hearth_meter_note *n)
{
    hearth_receipt r;
    a->why = judge(a, n);
    hearth_receipt_for(n, a->why, &r);
    a->accepted_msat = r.amount_msat;
    if (a->preimage && n->rail == HEARTH_RAIL_LIGHTNING) {
        r.has_preimage = 1;
        memcpy(r.preimage, a->preimage, 32);
        r.has_paid = 1;
        r.paid_msat = a->paid_msat;
    }
    if (!(a->rec->settle & HEARTH_SETTLE_BOOKED)) {
        int rc = book(a, n);
        if (rc != HEARTH_OK)
            return rc;
        a->rec->settle |= HEARTH_SETTLE_BOOKED;
        put(a);
    }
    int rc = publish(a, &r);
    if (rc != HEARTH_OK)
        return rc;
    a->rec->settle |= HEARTH_SETTLE_RECEIPT;
    put(a);
    return HEARTH_OK;
}
