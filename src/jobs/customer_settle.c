/* Customer role, finishing settlements after a restart (`hearth ledger
 * settle`, and the start of `hearth job submit`): docs/settlement.md
 * "Crash recovery". One pass: pick the unfinished records, look up their
 * payments on the wallet, fetch their results, feedback and metering
 * notes from the relays in one subscription, then settle each. */
#include "customer_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/kinds.h"

#define PASS_AGE_S (7 * 86400)
#define LIST_MAX 512u

struct item {
    struct cust_pass *pass;
    hearth_job_rec rec;
    hearth_job_request *req;        /* NULL: unreadable (encrypted) */
    int fetch;                      /* results, notes asked for */
    int looking;                    /* lookup_invoice in flight */
    int lookup_done, unpaid;
    uint64_t lookup_msat;
    uint8_t preimage[32];
    int have_result, result_ok, error;
    uint8_t output_hash[32];
    char why[HEARTH_CUSTOMER_WHY_MAX];
    hearth_meter_note note;
    int have_note;
};

struct cust_pass {
    hearth_customer *c;
    hearth_customer_settle_cb cb;
    void *user;
    size_t n, looking;
    struct item it[HEARTH_CUSTOMER_SETTLE_MAX];
    hearth_sub *sub;
    int eose;
    lws_sorted_usec_list_t timer, done;
    hearth_customer_settle_report rep;
};

static const uint8_t zero[32];

void cust_pass_free(struct cust_pass *p)
{
    if (!p)
        return;
    if (p->sub)
        hearth_pool_unsub(p->sub);
    lws_sul_cancel(&p->timer);
    lws_sul_cancel(&p->done);
    for (size_t i = 0; i < p->n; i++)
        hearth_job_request_free(p->it[i].req);
    if (p->c->pass == p)
        p->c->pass = NULL;
    free(p);
}

/* ---- choosing the records ---- */

static int unfinished(const hearth_job_rec *r, int64_t now)
{
    uint8_t s = r->settle;
    if (r->role != HEARTH_JOB_CUSTOMER || r->created_at < now - PASS_AGE_S ||
        (s & (HEARTH_SETTLE_RECEIPT | HEARTH_SETTLE_REFUNDED)))
        return 0;
    if (s & HEARTH_SETTLE_INVOICED)
        return 1;
    /* on credit: a result came, its note was not answered */
    return memcmp(r->result_id, zero, 32) != 0;
}

static void read_request(struct cust_pass *p, struct item *it)
{
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_event *ev = NULL;
    if (hearth_jobdb_blob(p->c->db, it->rec.id, &b) == HEARTH_OK &&
        hearth_event_parse(b.p, b.len, 0, &ev, NULL) == HEARTH_OK)
        hearth_nip90_request_parse(ev, NULL, &it->req, NULL);
    hearth_event_free(ev);
    hearth_buf_free(&b);
}

static int pick(struct cust_pass *p)
{
    size_t n = 0;
    int64_t now = (int64_t)time(NULL);
    hearth_job_rec *recs = calloc(LIST_MAX, sizeof *recs);
    if (!recs)
        return HEARTH_ENOMEM;
    int rc = hearth_jobdb_list(p->c->db, HEARTH_JOB_CUSTOMER, 0, recs,
                               LIST_MAX, &n);
    for (size_t i = 0; rc == HEARTH_OK && i < n &&
                       p->n < HEARTH_CUSTOMER_SETTLE_MAX; i++) {
        if (!unfinished(&recs[i], now))
            continue;
        struct item *it = &p->it[p->n++];
        it->pass = p;
        it->rec = recs[i];
        read_request(p, it);
    }
    free(recs);
    return rc;
}

/* ---- payments: lookup_invoice on our wallet ---- */

static void maybe_end(struct cust_pass *p);

static void on_lookup(const hearth_nwc_result *r, void *user)
{
    struct item *it = user;
    struct cust_pass *p = it->pass;
    it->looking = 0;
    p->looking--;
    it->lookup_done = 1;
    if (r->err == HEARTH_OK && r->settled && r->has_preimage) {
        memcpy(it->preimage, r->preimage, 32);
        it->lookup_msat = r->amount_msat;
    } else {
        it->unpaid = 1;
        snprintf(it->why, sizeof it->why, "%.150s", r->err == HEARTH_OK
                 ? "the invoice is not paid" : r->message);
    }
    maybe_end(p);
}

static void lookups(struct cust_pass *p)
{
    for (size_t i = 0; i < p->n; i++) {
        struct item *it = &p->it[i];
        if (!(it->rec.settle & HEARTH_SETTLE_INVOICED) ||
            (it->rec.settle & HEARTH_SETTLE_PAID))
            continue;
        if (!p->c->wallet) {
            it->unpaid = 1;
            snprintf(it->why, sizeof it->why, "its payment can only be "
                     "looked up with the wallet (--wallet)");
        } else if (hearth_nwc_lookup_invoice(p->c->wallet,
                                             it->rec.payment_hash, NULL,
                                             on_lookup, it) == HEARTH_OK) {
            it->looking = 1;
            p->looking++;
        }
    }
}

/* ---- results, feedback and notes from the relays ---- */

static struct item *item_of(struct cust_pass *p, const uint8_t req[32],
                            const uint8_t author[32])
{
    for (size_t i = 0; i < p->n; i++)
        if (!memcmp(p->it[i].rec.id, req, 32) &&
            !memcmp(p->it[i].rec.provider, author, 32))
            return &p->it[i];
    return NULL;
}

static uint64_t quote_of(const struct item *it)
{
    uint64_t bid = it->req ? it->req->bid_msat : 0;
    return it->rec.amount_msat > bid && (it->rec.settle & HEARTH_SETTLE_PAID)
               ? it->rec.amount_msat : bid;
}

static void take_result(struct item *it, const hearth_event *ev,
                        const hearth_job_reply *r)
{
    hearth_customer_check ck;
    char sum[HEARTH_CUSTOMER_SUMMARY_MAX];
    if (it->have_result || !it->req)
        return;
    memset(&ck, 0, sizeof ck);
    ck.kind = it->req->kind;
    memcpy(ck.request_id, it->rec.id, 32);
    memcpy(ck.provider, it->rec.provider, 32);
    ck.bid_msat = quote_of(it);
    ck.inputs = it->req->inputs;
    ck.ninputs = it->req->ninputs;
    ck.params = it->req->params;
    ck.nparams = it->req->nparams;
    it->have_result = 1;
    it->result_ok = hearth_customer_verify(&ck, ev, r, sum, sizeof sum) ==
                    HEARTH_OK;
    crypto_hash_sha256(it->output_hash, (const uint8_t *)r->content,
                       r->content_len);
    memcpy(it->rec.result_id, ev->id, 32);
}

static void take_note(struct cust_pass *p, const hearth_event *ev)
{
    hearth_meter_note n;
    struct item *it;
    if (hearth_meter_note_from_event(ev, (int64_t)time(NULL), &n, NULL) ||
        memcmp(n.customer, p->c->pk, 32) ||
        !(it = item_of(p, n.request_id, ev->pubkey)))
        return;
    if (it->have_note && (!hearth_meter_note_supersedes(&n, &it->note) ||
                          hearth_meter_note_follows(&n, &it->note, NULL)))
        return;
    it->note = n;
    it->have_note = 1;
}

static int on_event(hearth_sub *s, const hearth_event *ev, const char *relay,
                    void *user)
{
    struct cust_pass *p = user;
    hearth_job_reply *r = NULL;
    struct item *it;
    (void)s, (void)relay;
    if (ev->kind == HEARTH_KIND_METERING_NOTE) {
        take_note(p, ev);
        return 0;
    }
    if (hearth_nip90_reply_parse(ev, p->c->sk, &r, NULL) != HEARTH_OK)
        return 0;
    if ((it = item_of(p, r->request_id, ev->pubkey))) {
        if (r->is_result)
            take_result(it, ev, r);
        else if (r->status == HEARTH_NIP90_ERROR)
            it->error = 1;
    }
    hearth_job_reply_free(r);
    return 0;
}

static void on_all_eose(hearth_sub *s, void *user)
{
    struct cust_pass *p = user;
    (void)s;
    p->eose = 1;
    maybe_end(p);
}

static void filter_of(struct cust_pass *p, hearth_buf *f)
{
    hearth_buf_addf(f, "{\"kinds\":[%u,%u", HEARTH_KIND_JOB_FEEDBACK,
                    HEARTH_KIND_METERING_NOTE);
    for (size_t i = 0; i < p->n; i++)
        hearth_buf_addf(f, ",%u", p->it[i].rec.kind +
                                      HEARTH_KIND_RESULT_OFFSET);
    hearth_buf_adds(f, "],\"#e\":[");
    for (size_t i = 0; i < p->n; i++) {
        hearth_buf_adds(f, i ? ",\"" : "\"");
        hearth_buf_addhex(f, p->it[i].rec.id, 32);
        hearth_buf_addc(f, '"');
    }
    hearth_buf_adds(f, "]}");
}

static int fetch(struct cust_pass *p)
{
    hearth_buf f = HEARTH_BUF_INIT;
    hearth_filter *flt = NULL;
    hearth_sub_cbs cbs = {.on_event = on_event, .on_all_eose = on_all_eose};
    if (!p->n) {
        p->eose = 1;
        return HEARTH_OK;
    }
    filter_of(p, &f);
    int rc = hearth_buf_error(&f);
    if (rc == HEARTH_OK)
        rc = hearth_filter_parse(f.p, f.len, &flt, NULL);
    if (rc == HEARTH_OK)
        rc = hearth_pool_sub(p->c->pool, &flt, 1, &cbs, p, &p->sub);
    hearth_filter_free(flt);
    hearth_buf_free(&f);
    return rc;
}

/* ---- settling each ---- */

static void put(struct cust_pass *p, hearth_job_rec *rec)
{
    rec->updated_at = (int64_t)time(NULL);
    hearth_jobdb_put(p->c->db, rec, NULL, 0, NULL);
}

static hearth_customer_settled *line(struct cust_pass *p, struct item *it,
                                     const char *what, uint64_t msat)
{
    hearth_customer_settled *s = &p->rep.items[p->rep.n++];
    memcpy(s->request_id, it->rec.id, 32);
    memcpy(s->provider, it->rec.provider, 32);
    s->what = what;
    s->amount_msat = msat;
    snprintf(s->detail, sizeof s->detail, "%s", it->why);
    return s;
}

/* a payment found settled: booked as at the time it was made */
static void book_found(struct cust_pass *p, struct item *it)
{
    uint64_t price = it->rec.amount_msat, all = it->lookup_msat;
    if (!price || price > all)
        price = all;
    if (cust_book_paid(p->c, &it->rec, it->preimage, price, all - price,
                       NULL) != HEARTH_OK)
        return;
    it->rec.settle |= HEARTH_SETTLE_PAID;
    it->rec.paid_msat = all;
    put(p, &it->rec);
    p->rep.paid++;
    line(p, it, "paid", all);
}

/* the preimage for the receipt: from the lookup, else the reservation
 * booked when the payment was made */
static int proof(struct cust_pass *p, struct item *it)
{
    hearth_ledger_entry e;
    uint8_t id[32];
    if (it->lookup_done)
        return HEARTH_OK;
    cust_derive_id("hearth reserve", it->rec.payment_hash, id);
    int rc = hearth_ledger_find_event(p->c->ledger, id, &e);
    if (rc == HEARTH_OK)
        memcpy(it->preimage, e.preimage, 32);
    return rc;
}

static void answer(struct cust_pass *p, struct item *it)
{
    struct cust_answer a;
    hearth_ledger_reservation res;
    memset(&a, 0, sizeof a);
    a.c = p->c;
    a.rec = &it->rec;
    /* a note naming no output disputes itself (not delivered) */
    a.result_ok = it->have_result ? it->result_ok : 1;
    memcpy(a.output_hash, it->output_hash, 32);
    hearth_nip90_input_hash(it->req->inputs, it->req->ninputs, a.input_hash);
    a.quote_msat = quote_of(it);
    a.price = it->note.price; /* the offer is not at hand: quote bounds */
    if ((it->rec.settle & HEARTH_SETTLE_PAID) && p->c->ledger &&
        hearth_ledger_reservation_get(p->c->ledger, it->rec.id, &res) ==
            HEARTH_OK) {
        a.reserved_msat = res.amount_msat;
        a.paid_msat = res.amount_msat; /* the job's part of the invoice */
        a.preimage = proof(p, it) == HEARTH_OK ? it->preimage : NULL;
    }
    if (it->have_result && it->rec.state == HEARTH_JOB_RUNNING) {
        it->rec.state = it->result_ok ? HEARTH_JOB_DONE : HEARTH_JOB_FAILED;
        memcpy(it->rec.output_hash, it->output_hash, 32);
    }
    if (cust_answer_note(&a, &it->note) != HEARTH_OK) {
        snprintf(it->why, sizeof it->why, "the receipt could not be booked "
                 "or published");
        line(p, it, "waiting", 0);
        p->rep.waiting++;
        return;
    }
    p->rep.receipts++;
    line(p, it, a.why == HEARTH_DISPUTE_NONE ? "receipt accepted"
                                             : "receipt disputed",
         a.accepted_msat);
}

static void refund(struct cust_pass *p, struct item *it, const char *why)
{
    if (it->rec.state == HEARTH_JOB_RUNNING) {
        it->rec.state = HEARTH_JOB_FAILED;
        snprintf(it->rec.reason, sizeof it->rec.reason, "%s", why);
    }
    snprintf(it->why, sizeof it->why, "%s", why);
    if (cust_release_unused(p->c, &it->rec) == HEARTH_OK) {
        p->rep.refunds++;
        line(p, it, "refund due", it->rec.paid_msat);
    }
}

static void wait_for(struct cust_pass *p, struct item *it, const char *why)
{
    snprintf(it->why, sizeof it->why, "%s", why);
    p->rep.waiting++;
    line(p, it, "waiting", 0);
}

static void settle_one(struct cust_pass *p, struct item *it)
{
    int paid = (it->rec.settle & HEARTH_SETTLE_PAID) != 0;
    if (it->unpaid) {
        p->rep.unpaid++;
        line(p, it, "not paid", 0);
        return;
    }
    if (it->lookup_done && !paid) {
        book_found(p, it);
        paid = (it->rec.settle & HEARTH_SETTLE_PAID) != 0;
    }
    if (!it->req)
        wait_for(p, it, "its request cannot be read (encrypted or missing)");
    else if (it->have_note && it->note.final &&
             (it->have_result || !it->note.has_output))
        answer(p, it);
    else if (paid && !it->have_result && it->error)
        refund(p, it, "the provider answered with an error");
    else if (paid && !it->have_result && it->rec.deadline &&
             it->rec.deadline < (int64_t)time(NULL))
        refund(p, it, "the deadline passed");
    else
        wait_for(p, it, it->have_result ? "no final metering note yet"
                                        : "no result yet");
}

static void done_cb(lws_sorted_usec_list_t *sul)
{
    struct cust_pass *p = lws_container_of(sul, struct cust_pass, done);
    if (p->sub) {
        hearth_pool_unsub(p->sub);
        p->sub = NULL;
    }
    for (size_t i = 0; i < p->n; i++)
        settle_one(p, &p->it[i]);
    if (p->cb)
        p->cb(&p->rep, p->user);
    cust_pass_free(p);
}

static void end_now(struct cust_pass *p)
{
    lws_sul_cancel(&p->timer);
    lws_sul_schedule(hearth_loop_lws(p->c->loop), 0, &p->done, done_cb, 1);
}

static void maybe_end(struct cust_pass *p)
{
    if (p->eose && !p->looking)
        end_now(p);
}

static void timer_cb(lws_sorted_usec_list_t *sul)
{
    struct cust_pass *p = lws_container_of(sul, struct cust_pass, timer);
    /* lookups still in flight are dropped with the client: not paid yet
     * as far as this pass knows */
    for (size_t i = 0; i < p->n; i++)
        if (p->it[i].looking) {
            p->it[i].unpaid = 1;
            snprintf(p->it[i].why, sizeof p->it[i].why,
                     "the wallet did not answer in time");
        }
    end_now(p);
}

int hearth_customer_settle_pending(hearth_customer *c, uint32_t timeout_ms,
                                   hearth_customer_settle_cb cb, void *user)
{
    if (!c || !c->db)
        return HEARTH_EINVAL;
    if (c->pass)
        return HEARTH_EBUSY;
    struct cust_pass *p = calloc(1, sizeof *p);
    if (!p)
        return HEARTH_ENOMEM;
    p->c = c;
    p->cb = cb;
    p->user = user;
    c->pass = p;
    int rc = pick(p);
    if (rc == HEARTH_OK)
        rc = fetch(p);
    if (rc != HEARTH_OK) {
        cust_pass_free(p);
        return rc;
    }
    lookups(p);
    lws_sul_schedule(hearth_loop_lws(c->loop), 0, &p->timer, timer_cb,
                     (lws_usec_t)timeout_ms * 1000);
    maybe_end(p);
    return HEARTH_OK;
}
