/* Provider worker side: one thread per runner slot takes jobs from its
 * lane's queue, runs them, records each state change in the job table and
 * hands what must be published to the loop through the outbox. */
#include "provider_internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/error.h"
#include "hearth/meter.h"

int prov_record(hearth_provider *p, const hearth_job_rec *rec,
                const char *blob, size_t len)
{
    const char *why = NULL;
    int rc = hearth_jobdb_put(p->db, rec, blob, len, &why);
    if (rc != HEARTH_OK)
        prov_log(p, "job table: could not record a job as %s: %s",
                 hearth_job_state_name(rec->state),
                 why ? why : hearth_strerror(rc));
    return rc;
}

hearth_event *prov_sign(hearth_provider *p, hearth_event *ev)
{
    if (ev && hearth_event_sign(ev, p->sk) != HEARTH_OK) {
        hearth_event_free(ev);
        return NULL;
    }
    return ev;
}

hearth_event *prov_error_feedback(hearth_provider *p,
                                  const hearth_job_request *req,
                                  const char *why)
{
    hearth_nip90_feedback fb = {.status = HEARTH_NIP90_ERROR,
                                .info = why, .percent = -1};
    hearth_event *ev = NULL;
    if (hearth_nip90_feedback_build(req, &fb, p->sk,
                                    (int64_t)time(NULL), &ev))
        return NULL;
    return prov_sign(p, ev);
}

void prov_post(hearth_provider *p, int type, struct pjob *j,
               hearth_event *ev)
{
    struct outmsg *m = calloc(1, sizeof *m);
    if (!m) {
        /* nothing can be published without memory; the job table still
         * has the state, so a restart republishes a result */
        hearth_event_free(ev);
        if (j)
            prov_job_free(j);
        return;
    }
    m->type = type;
    m->job = j;
    m->ev = ev;
    pthread_mutex_lock(&p->out_mu);
    if (p->out_tail)
        p->out_tail->next = m;
    else
        p->out_head = m;
    p->out_tail = m;
    pthread_mutex_unlock(&p->out_mu);
    hearth_loop_wake(p->loop);
}

void prov_job_free(struct pjob *j)
{
    if (!j)
        return;
    hearth_job_request_free(j->req);
    free(j);
}

void prov_enqueue(struct pjob *j)
{
    struct lane *l = j->lane;
    pthread_mutex_lock(&l->mu);
    j->qnext = NULL;
    if (l->qtail)
        l->qtail->qnext = j;
    else
        l->qhead = j;
    l->qtail = j;
    l->queued++;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

int prov_dequeue(struct pjob *j)
{
    struct lane *l = j->lane;
    int found = 0;
    pthread_mutex_lock(&l->mu);
    struct pjob *prev = NULL;
    for (struct pjob *q = l->qhead; q; prev = q, q = q->qnext) {
        if (q != j)
            continue;
        if (prev)
            prev->qnext = q->qnext;
        else
            l->qhead = q->qnext;
        if (l->qtail == q)
            l->qtail = prev;
        l->queued--;
        found = 1;
        break;
    }
    pthread_mutex_unlock(&l->mu);
    return found;
}

/* ---- the runner's io ---- */

static void io_progress(void *user, unsigned pct)
{
    struct pjob *j = user;
    hearth_provider *p = j->lane->p;
    int64_t now = prov_now_ms();
    /* a new percentage at most every progress_ms; the same one again
     * every 15 s, so a long job the runner cannot measure (PoW sits at
     * 99% until a nonce wins) still shows the customer it is alive */
    if (now - j->last_fb_ms < (int64_t)p->o.progress_ms ||
        ((int)pct <= j->last_pct && now - j->last_fb_ms < 15000))
        return;
    j->last_fb_ms = now;
    j->last_pct = (int)pct;
    char info[16];
    snprintf(info, sizeof info, "%u%%", pct > 100 ? 100 : pct);
    hearth_nip90_feedback fb = {.status = HEARTH_NIP90_PROCESSING,
                                .info = info, .percent = (int)pct};
    hearth_event *ev = NULL;
    if (!hearth_nip90_feedback_build(j->req, &fb, p->sk, now / 1000, &ev))
        prov_post(p, MSG_FEEDBACK, NULL, prov_sign(p, ev));
}

static void io_partial(void *user, const char *data, size_t len)
{
    struct pjob *j = user;
    hearth_provider *p = j->lane->p;
    hearth_nip90_feedback fb = {.status = HEARTH_NIP90_PARTIAL,
                                .percent = -1, .content = data,
                                .content_len = len};
    hearth_event *ev = NULL;
    if (!hearth_nip90_feedback_build(j->req, &fb, p->sk,
                                     (int64_t)time(NULL), &ev))
        prov_post(p, MSG_FEEDBACK, NULL, prov_sign(p, ev));
}

static int io_cancelled(void *user)
{
    struct pjob *j = user;
    return atomic_load(&j->cancel) || j->lane->stop;
}

/* ---- one job ---- */

static void set_reason(hearth_job_rec *rec, const char *why)
{
    snprintf(rec->reason, sizeof rec->reason, "%.150s", why);
}

/* The charge never exceeds the quote: what the customer agreed to. */
static uint64_t charge(const struct pjob *j, const hearth_usage *u)
{
    uint64_t due = hearth_offer_price(&j->lane->price, u);
    if (j->rec.amount_msat && due > j->rec.amount_msat)
        due = j->rec.amount_msat;
    return due;
}

/* The final metering note (docs/protocol-settlement.md): what the job
 * used and costs, hashes of input and output, never their content. The
 * customer checks it against the quote and answers with a receipt. */
static hearth_event *metering_note(struct pjob *j, uint64_t quote)
{
    hearth_provider *p = j->lane->p;
    const hearth_job_rec *rec = &j->rec;
    hearth_meter_note n;
    hearth_event *ev = NULL;
    memset(&n, 0, sizeof n);
    memcpy(n.request_id, rec->id, 32);
    memcpy(n.customer, rec->customer, 32);
    n.seq = 1;
    n.final = 1;
    n.usage = rec->usage;
    n.amount_msat = rec->amount_msat;
    n.price = j->lane->price;
    memcpy(n.input_sha256, rec->input_hash, 32);
    n.has_output = 1;
    memcpy(n.output_sha256, rec->output_hash, 32);
    n.rail = HEARTH_RAIL_CREDIT;
    n.has_quote = 1;
    n.quote_msat = quote;
    if (hearth_meter_note_to_event(&n, (int64_t)time(NULL), &ev, NULL))
        return NULL;
    return prov_sign(p, ev);
}

static void finish_ok(struct pjob *j, hearth_runner_result *res)
{
    hearth_provider *p = j->lane->p;
    hearth_job_rec *rec = &j->rec;
    hearth_event *ev = NULL;
    hearth_buf json = HEARTH_BUF_INIT;
    uint64_t quote = rec->amount_msat;

    crypto_hash_sha256(rec->output_hash, (const uint8_t *)res->output.p,
                       res->output.len);
    rec->usage = res->usage;
    rec->amount_msat = charge(j, &res->usage);
    if (hearth_nip90_result_build(j->req, res->output.p, res->output.len,
                                  rec->amount_msat, NULL, p->sk,
                                  (int64_t)time(NULL), &ev) ||
        !(ev = prov_sign(p, ev)) || hearth_event_to_json(ev, &json)) {
        hearth_event_free(ev);
        hearth_buf_free(&json);
        rec->state = HEARTH_JOB_FAILED;
        set_reason(rec, "could not build the result event");
        prov_record(p, rec, NULL, 0);
        prov_post(p, MSG_FINISHED, j,
                  prov_error_feedback(p, j->req, rec->reason));
        return;
    }
    memcpy(rec->result_id, ev->id, 32);
    rec->state = HEARTH_JOB_RESULT;
    rec->updated_at = (int64_t)time(NULL);
    hearth_job_rec copy = *rec; /* j belongs to the loop once posted */
    hearth_event *note = metering_note(j, quote); /* after the result */
    /* The result leaves at once and is recorded meanwhile, so the disk's
     * sync is not on the customer's round trip. A crash before the record
     * lands leaves the job RUNNING: the restart closes it with an error
     * (the result may have reached the customer too), it never runs it
     * again. Once recorded, a restart republishes this very event. The
     * state machine keeps a DONE that the loop recorded first. */
    prov_post(p, MSG_FINISHED, j, ev);
    if (note)
        prov_post(p, MSG_FEEDBACK, NULL, note);
    /* not prov_record: refused when the loop recorded DONE first, which
     * is fine */
    hearth_jobdb_put(p->db, &copy, json.p, json.len, NULL);
    hearth_buf_free(&json);
}

static void finish_failed(struct pjob *j, int rc, hearth_runner_result *res)
{
    hearth_provider *p = j->lane->p;
    hearth_job_rec *rec = &j->rec;
    hearth_event *fb = NULL;
    rec->usage = res->usage;
    rec->updated_at = (int64_t)time(NULL);
    if (rc == HEARTH_ECANCELED && atomic_load(&j->cancel) == 1) {
        rec->state = HEARTH_JOB_CANCELLED;
        set_reason(rec, "cancelled by the customer");
    } else {
        rec->state = HEARTH_JOB_FAILED;
        if (rc == HEARTH_ECANCELED)
            set_reason(rec, "the provider stopped before the job finished; "
                            "you were not charged");
        else if (rc == HEARTH_ETIMEDOUT)
            snprintf(rec->reason, sizeof rec->reason,
                     "the job ran past its time limit (%.120s)", res->error);
        else
            set_reason(rec, res->error);
        fb = prov_error_feedback(p, j->req, rec->reason);
    }
    prov_record(p, rec, NULL, 0);
    prov_post(p, MSG_FINISHED, j, fb);
}

static void run_job(struct pjob *j)
{
    hearth_provider *p = j->lane->p;
    hearth_runner_job rj;
    hearth_runner_result res;

    int recorded = j->rec.state == HEARTH_JOB_RUNNING; /* at admission */
    j->rec.state = HEARTH_JOB_RUNNING;
    j->rec.attempts++;
    j->rec.updated_at = (int64_t)time(NULL);
    if (!recorded &&
        prov_record(p, &j->rec, NULL, 0) != HEARTH_OK) {
        /* cancelled meanwhile, or the table failed: do not run a job
         * whose start is not on record */
        prov_post(p, MSG_FINISHED, j, NULL);
        return;
    }
    j->last_pct = -1;
    j->last_fb_ms = 0;
    io_progress(j, 0); /* "processing" at once: the customer knows */

    hearth_nip90_runner_job(j->req, &rj);
    rj.time_limit_ms = p->o.time_limit_ms;
    rj.mem_limit = p->o.mem_limit;
    hearth_runner_io io = {io_progress, io_partial, io_cancelled, j};
    hearth_runner_result_init(&res);
    int rc = hearth_runner_run(j->lane->r, &rj, &io, &res);
    if (rc == HEARTH_OK && atomic_load(&j->cancel))
        rc = HEARTH_ECANCELED; /* cancelled as it finished: no result */
    if (rc == HEARTH_OK)
        finish_ok(j, &res);
    else
        finish_failed(j, rc, &res);
    hearth_runner_result_free(&res);
}

static void *worker(void *arg)
{
    struct lane *l = arg;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        while (!l->stop && (l->hold || !l->qhead))
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop) {
            pthread_mutex_unlock(&l->mu);
            return NULL;
        }
        struct pjob *j = l->qhead;
        l->qhead = j->qnext;
        if (!l->qhead)
            l->qtail = NULL;
        l->queued--;
        l->running++;
        pthread_mutex_unlock(&l->mu);

        run_job(j);

        pthread_mutex_lock(&l->mu);
        l->running--;
        pthread_mutex_unlock(&l->mu);
        hearth_loop_wake(l->p->loop); /* the drain check counts on it */
    }
}

int prov_lanes_start(hearth_provider *p)
{
    for (size_t i = 0; i < p->nlanes; i++) {
        struct lane *l = &p->lanes[i];
        l->threads = calloc(l->nthreads, sizeof *l->threads);
        if (!l->threads)
            return HEARTH_ENOMEM;
        for (; l->started < l->nthreads; l->started++)
            if (pthread_create(&l->threads[l->started], NULL, worker, l))
                return HEARTH_EIO;
    }
    return HEARTH_OK;
}

void prov_lanes_stop(hearth_provider *p)
{
    for (size_t i = 0; i < p->nlanes; i++) {
        struct lane *l = &p->lanes[i];
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        for (uint32_t t = 0; t < l->started; t++)
            pthread_join(l->threads[t], NULL);
        free(l->threads);
        l->threads = NULL;
        l->started = 0;
        while (l->qhead) {
            struct pjob *j = l->qhead;
            l->qhead = j->qnext;
            prov_job_free(j); /* still QUEUED in the table: next start */
        }
        l->qtail = NULL;
        l->queued = 0;
    }
}
