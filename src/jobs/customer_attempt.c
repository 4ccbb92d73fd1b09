/* Customer role, one attempt: its subscription to the replies, the
 * attempt timer, reading feedback and results from the provider asked,
 * the NIP-09 withdrawal, its record in the job table, and its settlement
 * (the provider's metering notes answered with a receipt). */
#include "customer_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/kinds.h"
#include "hearth/view.h"

/* Deletions and requests need no per-relay bookkeeping here: a request
 * nobody took shows up as the attempt's timeout. */
void cust_pub_ignored(const uint8_t id[32], const char *relay,
                      enum hearth_pub_result r, const char *msg, void *user)
{
    (void)id, (void)relay, (void)r, (void)msg, (void)user;
}

static void timeout_cb(lws_sorted_usec_list_t *sul)
{
    struct catt *t = lws_container_of(sul, struct catt, timer);
    if (t->a.outcome != HEARTH_CUST_RUNNING)
        return;
    if (t->paying) { /* the wallet's own timeout ends the payment */
        cust_rearm(t);
        return;
    }
    t->a.outcome = HEARTH_CUST_TIMEOUT;
    snprintf(t->a.reason, sizeof t->a.reason,
             "no feedback or result from the provider in %.1f s",
             t->job->o.attempt_timeout_ms / 1000.0);
    cust_attempt_ended(t);
}

void cust_rearm(struct catt *t)
{
    lws_sul_schedule(hearth_loop_lws(t->job->c->loop), 0, &t->timer,
                     timeout_cb,
                     (lws_usec_t)t->job->o.attempt_timeout_ms * 1000);
}

/* ---- results ---- */

static void take_result(struct catt *t, const hearth_event *ev,
                        const hearth_job_reply *r)
{
    hearth_customer_job *j = t->job;
    hearth_customer_check ck;
    memset(&ck, 0, sizeof ck);
    ck.kind = j->spec.kind;
    memcpy(ck.request_id, t->a.request_id, 32);
    memcpy(ck.provider, t->a.provider, 32);
    /* what we prepaid is what we agreed to, even above the bid */
    ck.bid_msat = t->price_msat > t->a.bid_msat ? t->price_msat
                                                : t->a.bid_msat;
    ck.inputs = j->spec.inputs;
    ck.ninputs = j->spec.ninputs;
    ck.params = j->spec.params;
    ck.nparams = j->spec.nparams;
    memcpy(t->a.result_id, ev->id, 32);
    t->a.amount_msat = r->amount_msat;
    crypto_hash_sha256(t->a.output_hash, (const uint8_t *)r->content,
                       r->content_len);
    if (hearth_customer_verify(&ck, ev, r, t->summary, sizeof t->summary) !=
        HEARTH_OK) {
        t->a.outcome = HEARTH_CUST_INVALID;
        snprintf(t->a.reason, sizeof t->a.reason, "bad result: %.140s",
                 t->summary);
        t->summary[0] = 0;
    } else if (hearth_buf_add(&t->result, r->content, r->content_len) !=
               HEARTH_OK) {
        t->a.outcome = HEARTH_CUST_ERROR;
        snprintf(t->a.reason, sizeof t->a.reason, "out of memory");
    } else {
        t->a.outcome = HEARTH_CUST_OK;
    }
    cust_attempt_ended(t);
}

/* ---- feedback ---- */

static void price_asked(struct catt *t, const hearth_job_reply *r)
{
    if (cust_pay_asked(t, r))
        return;
    uint64_t max = t->job->o.max_price_msat;
    t->a.amount_msat = r->amount_msat;
    if (max && r->amount_msat > max) {
        t->a.outcome = HEARTH_CUST_PRICE;
        snprintf(t->a.reason, sizeof t->a.reason,
                 "asks %llu msat, above the maximum of %llu",
                 (unsigned long long)r->amount_msat,
                 (unsigned long long)max);
    } else if (t->rebid || r->amount_msat <= t->a.bid_msat) {
        /* it asked again after we met its price: no haggling loops */
        t->a.outcome = HEARTH_CUST_PRICE;
        snprintf(t->a.reason, sizeof t->a.reason,
                 "asks %llu msat although the bid was %llu",
                 (unsigned long long)r->amount_msat,
                 (unsigned long long)t->a.bid_msat);
    } else {
        t->a.outcome = HEARTH_CUST_REBID;
        snprintf(t->a.reason, sizeof t->a.reason,
                 "quoted %llu msat: asked again with that bid",
                 (unsigned long long)r->amount_msat);
    }
    cust_attempt_ended(t);
}

static void take_feedback(struct catt *t, const hearth_job_reply *r)
{
    hearth_customer_job *j = t->job;
    if (j->cbs.on_feedback)
        j->cbs.on_feedback(j, r->status, r->info, t->a.provider, j->user);
    if (r->status == HEARTH_NIP90_PROCESSING && r->percent >= 0 &&
        j->cbs.on_progress)
        j->cbs.on_progress(j, r->percent, t->a.provider, j->user);
    if (r->status == HEARTH_NIP90_ERROR) {
        t->a.outcome = HEARTH_CUST_ERROR;
        snprintf(t->a.reason, sizeof t->a.reason, "provider: %s",
                 *r->info ? r->info : "error (no reason given)");
        cust_attempt_ended(t);
    } else if (r->status == HEARTH_NIP90_PAYMENT_REQUIRED) {
        price_asked(t, r);
    }
}

static int on_event(hearth_sub *s, const hearth_event *ev, const char *relay,
                    void *user)
{
    struct catt *t = user;
    hearth_job_reply *r = NULL;
    (void)s, (void)relay;
    if (ev->kind == HEARTH_KIND_DELETION) {
        /* the filter matched only our own deletions of this request */
        if (t->a.outcome == HEARTH_CUST_RUNNING &&
            !memcmp(ev->pubkey, t->job->c->pk, 32))
            hearth_customer_cancel(t->job, "cancelled by the customer");
        return 0;
    }
    /* only the provider asked speaks for this attempt */
    if (t->a.outcome != HEARTH_CUST_RUNNING ||
        memcmp(ev->pubkey, t->a.provider, 32))
        return 0;
    if (hearth_nip90_reply_parse(ev, t->job->c->sk, &r, NULL) != HEARTH_OK)
        return 0;
    if (!memcmp(r->request_id, t->a.request_id, 32)) {
        if (!t->first_reply_ms)
            t->first_reply_ms = cust_now_ms();
        cust_rearm(t);
        if (r->is_result)
            take_result(t, ev, r);
        else
            take_feedback(t, r);
    }
    hearth_job_reply_free(r);
    return 0;
}

/* ---- life of an attempt ---- */

/* Replies to the request, and our own deletions of it: `hearth job
 * cancel` from another process stops this one too. */
static int subscribe(struct catt *t, uint32_t kind)
{
    char id[65], me[65];
    hearth_buf f[2] = {HEARTH_BUF_INIT, HEARTH_BUF_INIT};
    hearth_filter *flt[2] = {NULL, NULL};
    hearth_hex_encode(t->a.request_id, 32, id);
    hearth_hex_encode(t->job->c->pk, 32, me);
    hearth_buf_addf(&f[0], "{\"kinds\":[%u,%u],\"#e\":[\"%s\"]}",
                    kind + HEARTH_KIND_RESULT_OFFSET,
                    HEARTH_KIND_JOB_FEEDBACK, id);
    hearth_buf_addf(&f[1], "{\"kinds\":[%u],\"authors\":[\"%s\"],"
                           "\"#e\":[\"%s\"]}", HEARTH_KIND_DELETION, me, id);
    int rc = HEARTH_OK;
    for (int i = 0; i < 2 && rc == HEARTH_OK; i++) {
        rc = hearth_buf_error(&f[i]);
        if (rc == HEARTH_OK)
            rc = hearth_filter_parse(f[i].p, f[i].len, &flt[i], NULL);
    }
    hearth_sub_cbs cbs = {.on_event = on_event};
    if (rc == HEARTH_OK)
        rc = hearth_pool_sub(t->job->c->pool, flt, 2, &cbs, t, &t->sub);
    for (int i = 0; i < 2; i++) {
        hearth_filter_free(flt[i]);
        hearth_buf_free(&f[i]);
    }
    return rc;
}


/* The request as sent is kept with the record: `hearth job cancel` reads
 * its kind and relays there. */
static void record_new(hearth_customer_job *j, const struct catt *t,
                       const hearth_event *req)
{
    hearth_buf json = HEARTH_BUF_INIT;
    hearth_job_rec rec;
    if (!j->c->db)
        return;
    cust_fill_rec(j, t, &rec);
    if (hearth_event_to_json(req, &json) == HEARTH_OK &&
        !hearth_buf_error(&json))
        hearth_jobdb_put(j->c->db, &rec, json.p, json.len, NULL);
    else
        hearth_jobdb_put(j->c->db, &rec, NULL, 0, NULL);
    hearth_buf_free(&json);
}

static int subscribe_notes(struct catt *t);

int cust_attempt_start(hearth_customer_job *j, struct catt *t,
                       hearth_event *req)
{
    /* subscribed before publishing: a fast provider's first feedback
     * must not pass by unseen */
    int rc = subscribe(t, j->spec.kind);
    if (rc == HEARTH_OK)
        rc = subscribe_notes(t);
    if (rc == HEARTH_OK)
        rc = hearth_pool_publish(j->c->pool, req, cust_pub_ignored, NULL);
    if (rc != HEARTH_OK) {
        cust_attempt_stop(t);
        cust_settle_stop(t);
        return rc;
    }
    t->sent_ms = cust_now_ms();
    cust_rearm(t);
    record_new(j, t, req);
    return HEARTH_OK;
}

void cust_attempt_stop(struct catt *t)
{
    if (t->sub) {
        hearth_pool_unsub(t->sub);
        t->sub = NULL;
    }
    lws_sul_cancel(&t->timer);
}

void cust_withdraw(hearth_customer *c, const struct catt *t,
                   const char *reason)
{
    hearth_event *ev = NULL;
    if (hearth_nip90_cancel_build(t->a.request_id, t->job->spec.kind, reason,
                                  (int64_t)time(NULL), &ev) == HEARTH_OK &&
        hearth_event_sign(ev, c->sk) == HEARTH_OK)
        hearth_pool_publish(c->pool, ev, cust_pub_ignored, NULL);
    hearth_event_free(ev);
}

/* ---- the job table ---- */

/* As the provider hashes them: each length first, so inputs cannot be
 * re-cut into others. */
static void input_hash(const hearth_job_spec *s, uint8_t out[32])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < s->ninputs; i++) {
        uint8_t len[8];
        for (int b = 0; b < 8; b++)
            len[b] = (uint8_t)((uint64_t)s->inputs[i].len >> (8 * b));
        crypto_hash_sha256_update(&st, len, sizeof len);
        crypto_hash_sha256_update(&st, (const uint8_t *)s->inputs[i].value,
                                  s->inputs[i].len);
    }
    crypto_hash_sha256_final(&st, out);
}

static uint8_t state_of(int outcome)
{
    switch (outcome) {
    case HEARTH_CUST_RUNNING: return HEARTH_JOB_RUNNING;
    case HEARTH_CUST_OK: return HEARTH_JOB_DONE;
    case HEARTH_CUST_REBID:
    case HEARTH_CUST_CANCELLED: return HEARTH_JOB_CANCELLED;
    default: return HEARTH_JOB_FAILED;
    }
}

/* Fields (docs/jobs.md "Customer"): one record per attempt, id = its
 * request id; upstream = the first request of the chain (zero on the
 * first itself); attempts = its number in the chain; amount = the bid
 * while running, what the result charged once done. */
void cust_fill_rec(hearth_customer_job *j, const struct catt *t,
                   hearth_job_rec *out)
{
    hearth_job_rec rec;
    memset(&rec, 0, sizeof rec);
    memcpy(rec.id, t->a.request_id, 32);
    rec.role = HEARTH_JOB_CUSTOMER;
    rec.state = state_of(t->a.outcome);
    rec.attempts = (uint16_t)t->a.number;
    rec.kind = j->spec.kind;
    memcpy(rec.customer, j->c->pk, 32);
    memcpy(rec.provider, t->a.provider, 32);
    if (t->a.number > 1)
        memcpy(rec.upstream, j->root, 32);
    memcpy(rec.result_id, t->a.result_id, 32);
    input_hash(&j->spec, rec.input_hash);
    memcpy(rec.output_hash, t->a.output_hash, 32);
    rec.created_at = (int64_t)(t->sent_ms / 1000);
    rec.updated_at = (int64_t)time(NULL);
    rec.deadline = j->deadline;
    rec.amount_msat = t->a.outcome == HEARTH_CUST_OK ? t->a.amount_msat
                      : t->price_msat ? t->price_msat : t->a.bid_msat;
    snprintf(rec.reason, sizeof rec.reason, "%s", t->a.reason);
    memcpy(rec.payment_hash, t->payment_hash, 32);
    rec.paid_msat = t->a.paid_msat;
    rec.settle = t->settle;
    *out = rec;
}

int cust_record(hearth_customer_job *j, const struct catt *t)
{
    hearth_job_rec rec;
    if (!j->c->db)
        return HEARTH_OK;
    cust_fill_rec(j, t, &rec);
    return hearth_jobdb_put(j->c->db, &rec, NULL, 0, NULL);
}

/* ---- settlement: the metering note and the receipt ---- */

/* The latest note by seq. A higher seq that breaks the cumulative rule
 * (lower amount, other price vector...) is ignored: the earlier note
 * still stands, and a final note that never comes is "no metering note". */
static void keep_note(struct catt *t, const hearth_meter_note *n)
{
    if (t->have_note && (!hearth_meter_note_supersedes(n, &t->note) ||
                         hearth_meter_note_follows(n, &t->note, NULL)))
        return;
    t->note = *n;
    t->have_note = 1;
}

static void settle(struct catt *t);

static int on_note(hearth_sub *s, const hearth_event *ev, const char *relay,
                   void *user)
{
    struct catt *t = user;
    hearth_meter_note n;
    (void)s, (void)relay;
    if (ev->kind != HEARTH_KIND_METERING_NOTE ||
        memcmp(ev->pubkey, t->a.provider, 32) ||
        hearth_meter_note_from_event(ev, (int64_t)time(NULL), &n, NULL))
        return 0;
    /* a note about another request, or billing someone else, is not ours
     * to answer */
    if (memcmp(n.request_id, t->a.request_id, 32) ||
        memcmp(n.customer, t->job->c->pk, 32))
        return 0;
    keep_note(t, &n);
    if (t->a.receipt == HEARTH_CUST_RECEIPT_PENDING && t->note.final)
        settle(t);
    return 0;
}

static int subscribe_notes(struct catt *t)
{
    char id[65], prov[65];
    hearth_buf f = HEARTH_BUF_INIT;
    hearth_filter *flt = NULL;
    hearth_hex_encode(t->a.request_id, 32, id);
    hearth_hex_encode(t->a.provider, 32, prov);
    hearth_buf_addf(&f, "{\"kinds\":[%u],\"authors\":[\"%s\"],"
                        "\"#e\":[\"%s\"]}", HEARTH_KIND_METERING_NOTE, prov, id);
    int rc = hearth_buf_error(&f);
    if (rc == HEARTH_OK)
        rc = hearth_filter_parse(f.p, f.len, &flt, NULL);
    hearth_sub_cbs cbs = {.on_event = on_note};
    if (rc == HEARTH_OK)
        rc = hearth_pool_sub(t->job->c->pool, &flt, 1, &cbs, t, &t->note_sub);
    hearth_filter_free(flt);
    hearth_buf_free(&f);
    return rc;
}

void cust_settle_stop(struct catt *t)
{
    if (t->note_sub) {
        hearth_pool_unsub(t->note_sub);
        t->note_sub = NULL;
    }
    lws_sul_cancel(&t->grace);
}

static void settle_end(struct catt *t, int receipt, const char *reason)
{
    t->a.receipt = receipt;
    snprintf(t->a.receipt_reason, sizeof t->a.receipt_reason, "%s",
             reason ? reason : "");
    cust_settle_stop(t);
    cust_settled(t->job);
}

static void grace_cb(lws_sorted_usec_list_t *sul)
{
    struct catt *t = lws_container_of(sul, struct catt, grace);
    if (t->a.receipt == HEARTH_CUST_RECEIPT_PENDING)
        settle_end(t, HEARTH_CUST_RECEIPT_NO_NOTE, "no metering note");
}

/* The provider's price vector from its offer in the market view; the
 * note's own when the view does not know it (then only the quote
 * bounds the amount). */
static void offer_price(const struct catt *t, hearth_price *out)
{
    hearth_peer *peers = NULL;
    hearth_peer_obs *obs = NULL;
    hearth_offer *offers = NULL;
    size_t n = 0;
    hearth_customer_job *j = t->job;
    *out = t->note.price;
    if (!j->c->view ||
        hearth_view_snapshot(j->c->view, j->spec.kind, (int64_t)time(NULL),
                             &peers, &obs, &offers, &n) != HEARTH_OK)
        return;
    for (size_t i = 0; i < n; i++)
        if (!memcmp(peers[i].pubkey, t->a.provider, 32)) {
            *out = peers[i].price;
            break;
        }
    free(peers);
    free(obs);
    free(offers);
}

/* what answering the note needs, from the attempt */
static void answer_of(struct catt *t, hearth_job_rec *rec,
                      struct cust_answer *out)
{
    hearth_customer_job *j = t->job;
    struct cust_answer a;
    memset(&a, 0, sizeof a);
    cust_fill_rec(j, t, rec);
    a.c = j->c;
    a.rec = rec;
    a.result_ok = t->a.outcome == HEARTH_CUST_OK;
    memcpy(a.output_hash, t->a.output_hash, 32);
    hearth_nip90_input_hash(j->spec.inputs, j->spec.ninputs, a.input_hash);
    a.quote_msat = t->price_msat > t->a.bid_msat ? t->price_msat
                                                 : t->a.bid_msat;
    offer_price(t, &a.price);
    a.reserved_msat = t->reserved_msat;
    if (t->settle & HEARTH_SETTLE_PAID) {
        a.preimage = t->preimage;
        a.paid_msat = t->price_msat; /* the job's part of the invoice */
    }
    *out = a;
}

static void settle(struct catt *t)
{
    hearth_job_rec rec;
    struct cust_answer a;
    answer_of(t, &rec, &a);
    memcpy(t->a.note_id, t->note.id, 32);
    int rc = cust_answer_note(&a, &t->note);
    t->settle = rec.settle;
    t->a.receipt_msat = a.accepted_msat;
    memcpy(t->a.receipt_id, a.receipt_id, 32);
    if (rc != HEARTH_OK)
        settle_end(t, HEARTH_CUST_RECEIPT_FAILED,
                   rec.settle & HEARTH_SETTLE_BOOKED ? "could not publish"
                                                     : "could not book");
    else if (a.why == HEARTH_DISPUTE_NONE)
        settle_end(t, HEARTH_CUST_RECEIPT_ACCEPTED, "");
    else
        settle_end(t, HEARTH_CUST_RECEIPT_DISPUTED,
                   hearth_dispute_name(a.why));
}

void cust_settle_start(struct catt *t)
{
    if (t->a.outcome != HEARTH_CUST_OK && t->a.outcome != HEARTH_CUST_INVALID) {
        cust_settle_stop(t);
        cust_refund(t); /* prepaid and failed: the provider owes it back */
        return;
    }
    t->a.receipt = HEARTH_CUST_RECEIPT_PENDING;
    if (t->have_note && t->note.final) {
        settle(t);
        return;
    }
    lws_sul_schedule(hearth_loop_lws(t->job->c->loop), 0, &t->grace,
                     grace_cb, (lws_usec_t)CUST_NOTE_GRACE_MS * 1000);
}
