/* Provider loop side: subscriptions, admission, cancellation, publishing
 * what the workers finished, restart recovery and draining. Everything
 * here runs on the loop thread. */
#include "provider_internal.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/meter.h"

#define RESUME_MAX 4096u        /* open jobs looked at on start */
#define QUOTE_TTL_S 3600        /* a quote nobody took is closed after */

void hearth_provider_opts_default(hearth_provider_opts *o)
{
    memset(o, 0, sizeof *o);
    o->queue_max = 8;
    o->progress_ms = 1000;
    o->max_age_s = 900;
    o->time_limit_ms = 600000;
}

int64_t prov_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void prov_log(hearth_provider *p, const char *fmt, ...)
{
    if (!p->o.log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->o.log(p->o.log_ctx, line);
}

/* first 12 hex digits: enough to find a job, short enough for a log */
static const char *short_id(const uint8_t id[32], char buf[13])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 6; i++) {
        buf[2 * i] = hx[id[i] >> 4];
        buf[2 * i + 1] = hx[id[i] & 15];
    }
    buf[12] = 0;
    return buf;
}

/* ---- publishing ---- */

/* One published event's answers. A result becomes DONE on the first
 * relay that accepts it. */
struct pubctx {
    hearth_provider *p;
    hearth_job_rec rec;
    int is_result, delivered;
    size_t remaining;
};

static void check_drained(hearth_provider *p);

static void delivered(hearth_provider *p, hearth_job_rec *rec)
{
    char sid[13];
    rec->state = HEARTH_JOB_DONE;
    rec->updated_at = (int64_t)time(NULL);
    /* the result is on a relay now: the table keeps only its id */
    if (prov_record(p, rec, "", 0) == HEARTH_OK) {
        p->st.done++;
        p->st.earned_msat += rec->amount_msat;
    }
    prov_log(p, "job %s delivered (%llu msat)", short_id(rec->id, sid),
             (unsigned long long)rec->amount_msat);
}

static void on_pub(const uint8_t id[32], const char *relay,
                   enum hearth_pub_result r, const char *msg, void *user)
{
    struct pubctx *c = user;
    hearth_provider *p = c->p;
    if (r == HEARTH_PUB_OK && c->is_result && !c->delivered) {
        c->delivered = 1;
        delivered(p, &c->rec);
    } else if (r != HEARTH_PUB_OK) {
        char sid[13];
        prov_log(p, "event %s not taken by %s: %s", short_id(id, sid),
                 relay, msg);
    }
    if (--c->remaining)
        return;
    free(c);
    p->pending_pubs--;
    check_drained(p);
}

/* Publish and free a signed event; rec (may be NULL) for a result. */
static void publish(hearth_provider *p, hearth_event *ev,
                    const hearth_job_rec *rec)
{
    if (!ev)
        return;
    size_t n = hearth_pool_nrelays(p->pool);
    struct pubctx *c = calloc(1, sizeof *c);
    if (c && n) {
        c->p = p;
        c->remaining = n;
        if (rec) {
            c->rec = *rec;
            c->is_result = 1;
        }
        if (hearth_pool_publish(p->pool, ev, on_pub, c) == HEARTH_OK) {
            p->pending_pubs++;
            c = NULL;
        }
    }
    if (c)
        prov_log(p, "could not publish an event (no relay or no memory)");
    free(c);
    hearth_event_free(ev);
}

/* ---- admission ---- */

static struct lane *lane_for(hearth_provider *p, uint32_t kind)
{
    for (size_t i = 0; i < p->nlanes; i++)
        for (size_t k = 0; k < p->lanes[i].desc.nkinds; k++)
            if (p->lanes[i].desc.kinds[k] == kind)
                return &p->lanes[i];
    return NULL;
}

static int addressed_to_me(hearth_provider *p, const hearth_event *ev)
{
    for (size_t i = 0; i < ev->ntags; i++) {
        const hearth_tag *t = &ev->tags[i];
        uint8_t pk[32];
        if (t->n >= 2 && t->v[0].n == 1 && t->v[0].p[0] == 'p' &&
            hearth_hex_decode(t->v[1].p, t->v[1].n, pk, 32, 0) == HEARTH_OK &&
            !memcmp(pk, p->pk, 32))
            return 1;
    }
    return 0;
}

/* An unparseable request addressed to us still deserves an answer. */
static void refuse_raw(hearth_provider *p, const hearth_event *req,
                       const char *why)
{
    hearth_event *ev = NULL;
    char id[65], pk[65];
    hearth_hex_encode(req->id, 32, id);
    hearth_hex_encode(req->pubkey, 32, pk);
    if (hearth_event_new(HEARTH_KIND_JOB_FEEDBACK, (int64_t)time(NULL), "",
                         0, &ev) ||
        hearth_event_add_tagv(ev, "status", "error", why, NULL) ||
        hearth_event_add_tagv(ev, "e", id, NULL) ||
        hearth_event_add_tagv(ev, "p", pk, NULL)) {
        hearth_event_free(ev);
        return;
    }
    publish(p, prov_sign(p, ev), NULL);
}

/* The first record of a request, in the state admission decided: one
 * durable commit, and the duplicate check (nonzero: another copy of the
 * request got there first, or the table failed; do nothing). */
static int record(hearth_provider *p, const hearth_job_request *req,
                  const hearth_job_rec *rec)
{
    return hearth_jobdb_insert(p->db, rec, req->json, req->json_len, NULL);
}

/* Record the refusal and tell the customer why. Frees req. */
static void refuse(hearth_provider *p, hearth_job_request *req,
                   hearth_job_rec *rec, const char *why)
{
    char sid[13];
    rec->state = HEARTH_JOB_FAILED;
    snprintf(rec->reason, sizeof rec->reason, "%s", why);
    if (record(p, req, rec) == HEARTH_OK) {
        p->st.refused++;
        prov_log(p, "job %s refused: %s", short_id(rec->id, sid), why);
        publish(p, prov_error_feedback(p, req, why), NULL);
    }
    hearth_job_request_free(req);
}

static int is_blocked(hearth_provider *p, const uint8_t pk[32])
{
    for (size_t i = 0; i < p->o.nblocked; i++)
        if (!memcmp(p->o.blocked[i], pk, 32))
            return 1;
    return 0;
}

static int in_route(hearth_provider *p, const hearth_job_request *req)
{
    for (size_t i = 0; i < req->nroute; i++)
        if (!memcmp(req->route[i], p->pk, 32))
            return 1;
    return 0;
}

static void rec_init(hearth_provider *p, const hearth_job_request *req,
                     hearth_job_rec *rec)
{
    memset(rec, 0, sizeof *rec);
    memcpy(rec->id, req->id, 32);
    rec->role = HEARTH_JOB_PROVIDER;
    rec->state = HEARTH_JOB_QUOTED;
    rec->kind = req->kind;
    memcpy(rec->customer, req->customer, 32);
    memcpy(rec->provider, p->pk, 32);
    rec->created_at = rec->updated_at = (int64_t)time(NULL);
    rec->deadline = req->expiration;
    hearth_nip90_input_hash(req->inputs, req->ninputs, rec->input_hash);
}

static void active_add(hearth_provider *p, struct pjob *j)
{
    j->aprev = NULL;
    j->anext = p->active;
    if (p->active)
        p->active->aprev = j;
    p->active = j;
}

static void active_del(hearth_provider *p, struct pjob *j)
{
    if (j->aprev)
        j->aprev->anext = j->anext;
    else if (p->active == j)
        p->active = j->anext;
    if (j->anext)
        j->anext->aprev = j->aprev;
    j->anext = j->aprev = NULL;
}

/* Queue an admitted job (QUEUED already on record). Takes req. */
static void admit(hearth_provider *p, struct lane *l, hearth_job_request *req,
                  const hearth_job_rec *rec)
{
    struct pjob *j = calloc(1, sizeof *j);
    if (!j) {
        hearth_job_request_free(req);
        return; /* QUEUED in the table: the next start runs it */
    }
    j->lane = l;
    j->req = req;
    j->rec = *rec;
    atomic_init(&j->cancel, 0);
    active_add(p, j);
    prov_enqueue(j);
}

static int lane_full(hearth_provider *p, struct lane *l)
{
    pthread_mutex_lock(&l->mu);
    uint32_t load = l->queued + l->running;
    pthread_mutex_unlock(&l->mu);
    return load >= l->desc.slots + p->o.queue_max;
}

static int lane_idle(struct lane *l)
{
    pthread_mutex_lock(&l->mu);
    int idle = !l->queued && l->running < l->desc.slots;
    pthread_mutex_unlock(&l->mu);
    return idle;
}

/* Admission: customer, input, capacity, price and bid decide the state
 * the job is first recorded in. Takes req. */
static void decide(hearth_provider *p, struct lane *l, hearth_job_request *req,
                   hearth_job_rec *rec)
{
    char why[HEARTH_RUNNER_WHY_MAX], sid[13];
    hearth_runner_job rj;
    hearth_usage u;
    uint32_t ms;

    hearth_nip90_runner_job(req, &rj);
    if (is_blocked(p, req->customer)) {
        refuse(p, req, rec, "this provider does not take jobs from you");
        return;
    }
    if (hearth_runner_check(l->r, &rj, why, sizeof why) != HEARTH_OK) {
        refuse(p, req, rec, why[0] ? why : "the job's input is not valid");
        return;
    }
    pthread_mutex_lock(&l->mu);
    uint32_t load = l->queued + l->running;
    pthread_mutex_unlock(&l->mu);
    if (lane_full(p, l)) {
        snprintf(why, sizeof why,
                 "busy, try later: %u jobs are ahead of yours", load);
        p->st.busy++;
        refuse(p, req, rec, why);
        return;
    }
    hearth_runner_estimate(l->r, &rj, &u, &ms);
    rec->amount_msat = hearth_offer_price(&l->price, &u);
    if (rec->amount_msat > req->bid_msat) {
        /* the customer has not agreed to this price: quote it */
        hearth_nip90_feedback fb = {.status = HEARTH_NIP90_PAYMENT_REQUIRED,
                                    .info = "price above your bid",
                                    .percent = -1,
                                    .amount_msat = rec->amount_msat};
        hearth_event *ev = NULL;
        if (record(p, req, rec)) {
            hearth_job_request_free(req);
            return;
        }
        p->st.quoted++;
        if (!hearth_nip90_feedback_build(req, &fb, p->sk,
                                         (int64_t)time(NULL), &ev))
            publish(p, prov_sign(p, ev), NULL);
        prov_log(p, "job %s quoted %llu msat", short_id(rec->id, sid),
                 (unsigned long long)rec->amount_msat);
        hearth_job_request_free(req);
        return;
    }
    /* A job that starts at once is recorded RUNNING right away: one
     * commit less on every job's path. Should the peer crash before the
     * worker starts it, the restart closes it with an error: never run
     * twice, never lost. */
    rec->state = lane_idle(l) ? HEARTH_JOB_RUNNING : HEARTH_JOB_QUEUED;
    if (record(p, req, rec)) {
        hearth_job_request_free(req);
        return;
    }
    prov_log(p, "job %s kind %u %s (%llu msat, about %u ms)",
             short_id(rec->id, sid), rec->kind,
             hearth_job_state_name(rec->state),
             (unsigned long long)rec->amount_msat, ms);
    admit(p, l, req, rec);
}

static int routes_kind(hearth_provider *p, uint32_t kind)
{
    for (size_t i = 0; p->o.route && i < p->o.nroute_kinds; i++)
        if (p->o.route_kinds[i] == kind)
            return 1;
    return 0;
}

/* An open job this peer cannot serve goes to the router, which answers
 * the customer itself. 1 when it took req. */
static int offer_to_router(hearth_provider *p, struct lane *l,
                           hearth_job_request **req)
{
    const char *why = !l ? "this peer does not serve the kind"
                          : "this peer's queue is full";
    if (!p->o.route || (*req)->nproviders || (l && !lane_full(p, l)))
        return 0;
    if (!p->o.route(p->o.route_user, *req, why))
        return 0;
    *req = NULL;
    return 1;
}

static void on_request(hearth_provider *p, const hearth_event *ev)
{
    struct lane *l = lane_for(p, ev->kind);
    int64_t now = (int64_t)time(NULL);
    hearth_job_request *req = NULL;
    hearth_job_rec rec;
    const char *why = NULL;

    if ((!l && !routes_kind(p, ev->kind)) || p->draining ||
        ev->created_at < now - (int64_t)p->o.max_age_s)
        return;
    if (hearth_nip90_request_parse(ev, p->sk, &req, &why) != HEARTH_OK) {
        if (addressed_to_me(p, ev))
            refuse_raw(p, ev, why ? why : "invalid: malformed job request");
        return;
    }
    if (!hearth_nip90_request_is_for(req, p->pk) || in_route(p, req) ||
        (req->expiration && req->expiration <= now)) {
        hearth_job_request_free(req);
        return;
    }
    if (offer_to_router(p, l, &req) || !l) {
        hearth_job_request_free(req);
        return;
    }
    rec_init(p, req, &rec);
    /* relays resend, and a restart replays the subscription: a cheap read
     * first; record() is the authoritative check */
    hearth_job_rec old;
    if (hearth_jobdb_get(p->db, req->id, &old) != HEARTH_ENOTFOUND) {
        hearth_job_request_free(req);
        return;
    }
    p->st.seen++;
    decide(p, l, req, &rec);
}

/* ---- cancellation (NIP-09 deletion of the request) ---- */

static void cancel_job(hearth_provider *p, const uint8_t id[32],
                       const uint8_t author[32])
{
    char sid[13];
    for (struct pjob *j = p->active; j; j = j->anext) {
        if (memcmp(j->rec.id, id, 32) || memcmp(j->rec.customer, author, 32))
            continue;
        if (prov_dequeue(j)) {
            active_del(p, j);
            j->rec.state = HEARTH_JOB_CANCELLED;
            snprintf(j->rec.reason, sizeof j->rec.reason,
                     "cancelled by the customer");
            prov_record(p, &j->rec, NULL, 0);
            p->st.cancelled++;
            prov_job_free(j);
        } else {
            atomic_store(&j->cancel, 1); /* the worker stops it */
        }
        prov_log(p, "job %s cancelled by its customer", short_id(id, sid));
        return;
    }
    /* a quote nobody paid: close it too */
    hearth_job_rec rec;
    if (hearth_jobdb_get(p->db, id, &rec) == HEARTH_OK &&
        rec.role == HEARTH_JOB_PROVIDER && rec.state == HEARTH_JOB_QUOTED &&
        !memcmp(rec.customer, author, 32)) {
        rec.state = HEARTH_JOB_CANCELLED;
        snprintf(rec.reason, sizeof rec.reason, "cancelled by the customer");
        prov_record(p, &rec, NULL, 0);
        p->st.cancelled++;
    }
}

static void on_deletion(hearth_provider *p, const hearth_event *ev)
{
    for (size_t i = 0; i < ev->ntags; i++) {
        const hearth_tag *t = &ev->tags[i];
        uint8_t id[32];
        if (t->n >= 2 && t->v[0].n == 1 && t->v[0].p[0] == 'e' &&
            hearth_hex_decode(t->v[1].p, t->v[1].n, id, 32, 0) == HEARTH_OK)
            cancel_job(p, id, ev->pubkey);
    }
}

/* ---- receipts (kind 7442) into the ledger ---- */

static void on_receipt(hearth_provider *p, const hearth_event *ev)
{
    hearth_receipt r;
    hearth_job_rec rec;
    char sid[13];
    if (hearth_receipt_from_event(ev, (int64_t)time(NULL), &r, NULL) ||
        hearth_jobdb_get(p->db, r.request_id, &rec) ||
        rec.role != HEARTH_JOB_PROVIDER || rec.state != HEARTH_JOB_DONE ||
        memcmp(rec.customer, r.customer, 32) || !rec.amount_msat)
        return; /* not a receipt for a job we delivered to its author */
    hearth_ledger_post_req q;
    memset(&q, 0, sizeof q);
    memcpy(q.event_id, r.id, 32);
    q.side = HEARTH_SIDE_SELL;
    q.rail = HEARTH_RAIL_CREDIT;
    memcpy(q.counterparty, rec.customer, 32);
    memcpy(q.job_id, rec.id, 32);
    q.time = (int64_t)time(NULL);
    int accepted = r.status == HEARTH_RECEIPT_ACCEPT;
    q.kind = accepted ? HEARTH_POST_ACCEPTED : HEARTH_POST_DISPUTED;
    /* never book more than we charged, whatever the receipt says */
    q.amount_msat = accepted && r.amount_msat < rec.amount_msat
                        ? r.amount_msat
                        : rec.amount_msat;
    if (!q.amount_msat)
        return;
    q.memo = accepted ? "receipt" : hearth_dispute_name(r.reason);
    const char *why = NULL;
    int rc = hearth_ledger_post(p->o.ledger, &q, &why);
    if (rc == HEARTH_OK)
        prov_log(p, "job %s %s by the customer: %llu msat booked",
                 short_id(rec.id, sid), accepted ? "accepted" : "disputed",
                 (unsigned long long)q.amount_msat);
    else if (rc != HEARTH_LEDGER_DUP)
        prov_log(p, "ledger: could not book a receipt: %s",
                 why ? why : hearth_strerror(rc));
}

static int on_event(hearth_sub *s, const hearth_event *ev, const char *relay,
                    void *user)
{
    hearth_provider *p = user;
    if (s == p->sub_rcpt)
        on_receipt(p, ev);
    else if (s == p->sub_del)
        on_deletion(p, ev);
    else
        on_request(p, ev);
    return 0;
}

/* ---- what the workers finished ---- */

static void finished(hearth_provider *p, struct pjob *j, hearth_event *ev)
{
    char sid[13];
    active_del(p, j);
    if (j->rec.state == HEARTH_JOB_RESULT) {
        prov_log(p, "job %s finished", short_id(j->rec.id, sid));
        publish(p, ev, &j->rec);
    } else {
        if (j->rec.state == HEARTH_JOB_CANCELLED)
            p->st.cancelled++;
        else if (j->rec.state == HEARTH_JOB_FAILED)
            p->st.failed++;
        prov_log(p, "job %s %s: %s", short_id(j->rec.id, sid),
                 hearth_job_state_name(j->rec.state), j->rec.reason);
        publish(p, ev, NULL);
    }
    prov_job_free(j);
}

void hearth_provider_on_wake(hearth_provider *p)
{
    pthread_mutex_lock(&p->out_mu);
    struct outmsg *m = p->out_head;
    p->out_head = p->out_tail = NULL;
    pthread_mutex_unlock(&p->out_mu);
    while (m) {
        struct outmsg *next = m->next;
        if (m->type == MSG_FINISHED)
            finished(p, m->job, m->ev);
        else
            publish(p, m->ev, NULL);
        free(m);
        m = next;
    }
    check_drained(p);
}

/* ---- restart recovery ---- */

static int reparse(hearth_provider *p, const hearth_buf *blob,
                   hearth_job_request **req)
{
    hearth_event *ev = NULL;
    int rc = hearth_event_parse(blob->p, blob->len, 0, &ev, NULL);
    if (rc == HEARTH_OK)
        rc = hearth_nip90_request_parse(ev, p->sk, req, NULL);
    hearth_event_free(ev);
    return rc;
}

static void resume_one(hearth_provider *p, hearth_job_rec *rec)
{
    hearth_buf blob = HEARTH_BUF_INIT;
    hearth_job_request *req = NULL;
    hearth_event *ev = NULL;
    struct lane *l = lane_for(p, rec->kind);
    int have = hearth_jobdb_blob(p->db, rec->id, &blob) == HEARTH_OK;

    if (rec->state == HEARTH_JOB_RESULT) {
        /* signed before the crash: publish the very same event again */
        if (have && !hearth_event_parse(blob.p, blob.len, 0, &ev, NULL))
            publish(p, ev, rec);
    } else if (rec->state == HEARTH_JOB_QUEUED && l && have &&
               reparse(p, &blob, &req) == HEARTH_OK) {
        admit(p, l, req, rec);
    } else if (rec->state == HEARTH_JOB_QUOTED &&
               rec->created_at > (int64_t)time(NULL) - QUOTE_TTL_S) {
        /* still a valid quote: nothing to do until it is taken */
    } else {
        const char *why =
            rec->state == HEARTH_JOB_RUNNING
                ? "the provider restarted while running this job; it will "
                  "not be run again and you were not charged"
                : "the provider could not resume this job after a restart";
        char sid[13];
        rec->state = HEARTH_JOB_FAILED;
        snprintf(rec->reason, sizeof rec->reason, "%s", why);
        prov_record(p, rec, NULL, 0);
        p->st.failed++;
        prov_log(p, "job %s failed: %s", short_id(rec->id, sid), why);
        if (have && reparse(p, &blob, &req) == HEARTH_OK) {
            publish(p, prov_error_feedback(p, req, why), NULL);
            hearth_job_request_free(req);
        }
    }
    hearth_buf_free(&blob);
}

static int resume(hearth_provider *p)
{
    hearth_job_rec *recs = calloc(RESUME_MAX, sizeof *recs);
    size_t n = 0;
    if (!recs)
        return HEARTH_ENOMEM;
    int rc = hearth_jobdb_list(p->db, HEARTH_JOB_PROVIDER, 1, recs,
                               RESUME_MAX, &n);
    /* oldest first, so queued jobs keep their order */
    for (size_t i = n; rc == HEARTH_OK && i-- > 0;)
        resume_one(p, &recs[i]);
    if (n)
        prov_log(p, "resumed %zu unfinished jobs from the job table", n);
    free(recs);
    return rc;
}

/* ---- subscriptions ---- */

static int subscribe(hearth_provider *p, int deletions, hearth_sub **out)
{
    hearth_buf f = HEARTH_BUF_INIT;
    hearth_filter *flt = NULL;
    int64_t since = (int64_t)time(NULL) - (int64_t)p->o.max_age_s;
    hearth_buf_adds(&f, deletions ? "{\"kinds\":[5],\"#k\":[" : "{\"kinds\":[");
    const char *sep = "";
    const char *fmt = deletions ? "%s\"%u\"" : "%s%u";
    for (size_t i = 0; i < p->nlanes; i++)
        for (size_t k = 0; k < p->lanes[i].desc.nkinds; k++) {
            hearth_buf_addf(&f, fmt, sep, p->lanes[i].desc.kinds[k]);
            sep = ",";
        }
    for (size_t i = 0; !deletions && p->o.route && i < p->o.nroute_kinds;
         i++) {
        hearth_buf_addf(&f, fmt, sep, p->o.route_kinds[i]);
        sep = ",";
    }
    hearth_buf_addf(&f, "],\"since\":%lld}", (long long)since);
    int rc = hearth_buf_error(&f);
    if (rc == HEARTH_OK)
        rc = hearth_filter_parse(f.p, f.len, &flt, NULL);
    hearth_buf_free(&f);
    if (rc != HEARTH_OK)
        return rc;
    hearth_sub_cbs cbs = {.on_event = on_event};
    rc = hearth_pool_sub(p->pool, &flt, 1, &cbs, p, out);
    hearth_filter_free(flt);
    return rc;
}

static int subscribe_receipts(hearth_provider *p)
{
    char hex[65], f[160];
    hearth_filter *flt = NULL;
    hearth_hex_encode(p->pk, 32, hex);
    snprintf(f, sizeof f, "{\"kinds\":[%u],\"#p\":[\"%s\"],\"since\":%lld}",
             HEARTH_KIND_RECEIPT, hex,
             (long long)time(NULL) - (long long)p->o.max_age_s);
    int rc = hearth_filter_parse(f, strlen(f), &flt, NULL);
    if (rc != HEARTH_OK)
        return rc;
    hearth_sub_cbs cbs = {.on_event = on_event};
    rc = hearth_pool_sub(p->pool, &flt, 1, &cbs, p, &p->sub_rcpt);
    hearth_filter_free(flt);
    return rc;
}

/* ---- life cycle ---- */

static int lanes_init(hearth_provider *p, const hearth_provider_opts *o)
{
    p->lanes = calloc(o->nrunners ? o->nrunners : 1, sizeof *p->lanes);
    if (!p->lanes)
        return HEARTH_ENOMEM;
    for (size_t i = 0; i < o->nrunners; i++) {
        struct lane *l = &p->lanes[i];
        l->p = p;
        l->r = o->runners[i];
        if (o->prices)
            l->price = o->prices[i];
        pthread_mutex_init(&l->mu, NULL);
        pthread_cond_init(&l->cv, NULL);
        p->nlanes++;
        int rc = hearth_runner_describe(l->r, &l->desc);
        if (rc != HEARTH_OK)
            return rc;
        l->nthreads = l->desc.slots ? l->desc.slots : 1;
        l->desc.slots = l->nthreads;
    }
    return HEARTH_OK;
}

int hearth_provider_new(hearth_loop *loop, hearth_pool *pool,
                        hearth_jobdb *db, const hearth_provider_opts *o,
                        hearth_provider **out)
{
    *out = NULL;
    if (!o || !o->sk || (!o->nrunners && !o->route))
        return HEARTH_EINVAL;
    hearth_provider *p = calloc(1, sizeof *p);
    if (!p)
        return HEARTH_ENOMEM;
    p->loop = loop;
    p->pool = pool;
    p->db = db;
    p->o = *o;
    memcpy(p->sk, o->sk, 32);
    p->o.sk = p->sk;
    pthread_mutex_init(&p->out_mu, NULL);
    int rc = hearth_key_pubkey(p->sk, p->pk);
    if (rc == HEARTH_OK)
        rc = lanes_init(p, o);
    if (rc != HEARTH_OK) {
        hearth_provider_free(p);
        return rc;
    }
    *out = p;
    return HEARTH_OK;
}

int hearth_provider_start(hearth_provider *p)
{
    int rc = resume(p);
    if (rc == HEARTH_OK)
        rc = prov_lanes_start(p);
    if (rc == HEARTH_OK)
        rc = subscribe(p, 0, &p->sub_req);
    if (rc == HEARTH_OK)
        rc = subscribe(p, 1, &p->sub_del);
    if (rc == HEARTH_OK && p->o.ledger)
        rc = subscribe_receipts(p);
    return rc;
}

static uint32_t running(hearth_provider *p)
{
    uint32_t n = 0;
    for (size_t i = 0; i < p->nlanes; i++) {
        pthread_mutex_lock(&p->lanes[i].mu);
        n += p->lanes[i].running;
        pthread_mutex_unlock(&p->lanes[i].mu);
    }
    return n;
}

static void check_drained(hearth_provider *p)
{
    if (!p->draining || p->drained || running(p) || p->pending_pubs)
        return;
    pthread_mutex_lock(&p->out_mu);
    int empty = p->out_head == NULL;
    pthread_mutex_unlock(&p->out_mu);
    if (!empty)
        return;
    p->drained = 1;
    lws_sul_cancel(&p->drain_sul);
    if (p->o.on_drained)
        p->o.on_drained(p, p->o.user);
}

static void drain_deadline(lws_sorted_usec_list_t *sul)
{
    hearth_provider *p = lws_container_of(sul, hearth_provider, drain_sul);
    /* 2: not the customer's cancel; the worker reports a shutdown */
    for (struct pjob *j = p->active; j; j = j->anext)
        atomic_store(&j->cancel, 2);
}

static void drain_soon(lws_sorted_usec_list_t *sul)
{
    hearth_provider *p = lws_container_of(sul, hearth_provider, drain_sul);
    check_drained(p);
}

int hearth_provider_drain(hearth_provider *p, uint32_t deadline_ms)
{
    if (p->draining)
        return HEARTH_OK;
    p->draining = 1;
    if (p->sub_req) {
        hearth_pool_unsub(p->sub_req);
        p->sub_req = NULL;
    }
    for (size_t i = 0; i < p->nlanes; i++) {
        pthread_mutex_lock(&p->lanes[i].mu);
        p->lanes[i].hold = 1;
        pthread_mutex_unlock(&p->lanes[i].mu);
    }
    struct lws_context *cx = hearth_loop_lws(p->loop);
    if (running(p)) {
        lws_sul_schedule(cx, 0, &p->drain_sul, drain_deadline,
                         (lws_usec_t)deadline_ms * 1000);
    } else {
        /* on_drained never from inside this call */
        lws_sul_schedule(cx, 0, &p->drain_sul, drain_soon, 1);
    }
    return HEARTH_OK;
}

void hearth_provider_get_stats(const hearth_provider *p,
                               hearth_provider_stats *st)
{
    *st = p->st;
    st->running = st->queued = 0;
    for (size_t i = 0; i < p->nlanes; i++) {
        struct lane *l = &p->lanes[i];
        pthread_mutex_lock(&l->mu);
        st->running += l->running;
        st->queued += l->queued;
        pthread_mutex_unlock(&l->mu);
    }
}

void hearth_provider_free(hearth_provider *p)
{
    if (!p)
        return;
    if (p->loop)
        lws_sul_cancel(&p->drain_sul);
    for (struct pjob *j = p->active; j; j = j->anext)
        atomic_store(&j->cancel, 2);
    if (p->sub_req)
        hearth_pool_unsub(p->sub_req);
    if (p->sub_del)
        hearth_pool_unsub(p->sub_del);
    if (p->sub_rcpt)
        hearth_pool_unsub(p->sub_rcpt);
    prov_lanes_stop(p);
    struct outmsg *m = p->out_head;
    while (m) {
        struct outmsg *next = m->next;
        hearth_event_free(m->ev);
        prov_job_free(m->job);
        free(m);
        m = next;
    }
    for (size_t i = 0; i < p->nlanes; i++) {
        pthread_mutex_destroy(&p->lanes[i].mu);
        pthread_cond_destroy(&p->lanes[i].cv);
    }
    free(p->lanes);
    pthread_mutex_destroy(&p->out_mu);
    sodium_memzero(p->sk, sizeof p->sk);
    free(p);
}
