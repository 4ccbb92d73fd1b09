/* The ingest pipeline: the loop thread submits events that passed the
 * cheap checks; verify threads check ids and signatures; one writer thread
 * commits what they pass in batches (one LMDB transaction, one fdatasync
 * each); results go back to the loop thread, which answers OK only then.
 *
 * A batch is whatever is queued when the writer comes round, up to
 * o.batch: under load the commit cost is shared by hundreds of events, and
 * a lone event is committed at once, so latency stays one commit long.
 * All writes go through the writer, NIP-40 purges included, so the loop
 * thread never waits for LMDB's write lock. */
#include "relay_internal.h"

#include "hearth/error.h"
#include "hearth/keys.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PURGE_MAX 1000  /* expired events removed per purge transaction */

void relay_job_free(struct relay_job *j)
{
    hearth_event_free(j->ev);
    free(j);
}

static void q_push(struct relay_queue *q, struct relay_job *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->n++;
}

static struct relay_job *q_pop(struct relay_queue *q)
{
    struct relay_job *j = q->head;
    if (!j)
        return NULL;
    q->head = j->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    j->next = NULL;
    return j;
}

/* Under mu. 1 if the caller must wake the loop (once it unlocked): the
 * loop drains everything on one wake, so later results ride along. */
static int push_done(hearth_relay *r, struct relay_job *j)
{
    q_push(&r->done_q, j);
    if (r->wake_pending)
        return 0;
    r->wake_pending = 1;
    return 1;
}

static int skips_store(const struct relay_job *j)
{
    return !j->verified ||
           hearth_kind_class(j->ev->kind) == HEARTH_KIND_EPHEMERAL;
}

/* Group commit. A durable commit costs much the same for 50 events as for
 * 500 (page write-back and B-tree paths dominate: 36 us per event at 16
 * per commit, 12 us at 256, under 8 at 1024, docs/benchmarks.md), so
 * while more events are being verified the writer waits up to
 * GROUP_WAIT_US for a fuller batch. An event that arrives alone is
 * committed at once: no added latency without load; under load an OK
 * waits at most this much longer. */
#define GROUP_MIN 512u
#define GROUP_WAIT_US 20000

static size_t group_target(const hearth_relay *r)
{
    return r->o.batch < GROUP_MIN ? r->o.batch : GROUP_MIN;
}

/* Under mu, after a verify thread finished a job. While the writer
 * gathers a batch, waking it for every event (a futex wake and a context
 * switch each, on both sides) cost more than the events' B-tree inserts:
 * it is woken only when the batch is full or nothing is left to verify. */
static void wake_writer(hearth_relay *r)
{
    if (!r->gathering || r->write_q.n >= group_target(r) || !r->verify_q.head)
        pthread_cond_signal(&r->write_cv);
}

/* v: the calling verify thread's key cache, or NULL */
static void verify(hearth_verifier *v, struct relay_job *j)
{
    j->verified = hearth_event_verify_with(v, j->ev, &j->why) == HEARTH_OK;
    if (j->verified && skips_store(j)) {
        /* ephemeral: broadcast, never stored (NIP-01) */
        j->res.status = HEARTH_STORE_EPHEMERAL;
        j->res.ok = 1;
        j->res.why = "";
    }
}

/* Verification is bulk work that can wait a few milliseconds; the loop
 * thread answers REQs and moves bytes, and should not queue behind it when
 * there are fewer cores than busy threads. Linux applies nice per thread. */
#define VERIFY_NICE 5

static void *verify_main(void *arg)
{
    hearth_relay *r = arg;
    /* authors repeat: parsed public keys are kept per thread (NULL on
     * out of memory: verification then parses every time) */
    hearth_verifier *v = hearth_verifier_new();
    setpriority(PRIO_PROCESS, (id_t)gettid(), VERIFY_NICE);
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->verify_q.head && !r->stopping)
            pthread_cond_wait(&r->verify_cv, &r->mu);
        struct relay_job *j = q_pop(&r->verify_q);
        if (!j)
            break; /* stopping, and nothing left to check */
        pthread_mutex_unlock(&r->mu);
        verify(v, j);
        pthread_mutex_lock(&r->mu);
        if (!skips_store(j)) {
            q_push(&r->write_q, j);
            wake_writer(r);
        } else {
            wake_writer(r); /* the batch may be waiting for this one */
            if (push_done(r, j)) {
                pthread_mutex_unlock(&r->mu);
                relay_lws_wake(r);
                pthread_mutex_lock(&r->mu);
            }
        }
    }
    if (--r->workers_live == 0)
        pthread_cond_broadcast(&r->write_cv);
    pthread_mutex_unlock(&r->mu);
    hearth_verifier_free(v);
    return NULL;
}

static void purge(hearth_relay *r)
{
    size_t n = 0;
    if (hearth_store_purge_expired(r->store, (int64_t)time(NULL), PURGE_MAX,
                                   &n) == HEARTH_OK &&
        n == PURGE_MAX) {
        pthread_mutex_lock(&r->mu);
        r->purge_due = 1; /* more are due: go on after the next batch */
        pthread_mutex_unlock(&r->mu);
    }
}

/* Commit n jobs; their results land in res. The highest serial stored. */
static uint64_t commit(hearth_relay *r, struct relay_job **jobs, size_t n,
                       hearth_event **evs, hearth_store_result *res)
{
    uint64_t top = 0;
    for (size_t i = 0; i < n; i++)
        evs[i] = jobs[i]->ev;
    hearth_store_put_batch(r->store, evs, n, (int64_t)time(NULL), res);
    for (size_t i = 0; i < n; i++) {
        jobs[i]->res = res[i];
        if (res[i].status == HEARTH_STORE_STORED && res[i].serial > top)
            top = res[i].serial;
    }
    return top;
}

/* Under mu (or on the only thread, inline). */
static void note_serial(hearth_relay *r, uint64_t serial)
{
    if (serial > r->committed_serial)
        r->committed_serial = serial;
}

uint64_t relay_committed_serial(hearth_relay *r)
{
    pthread_mutex_lock(&r->mu);
    uint64_t s = r->committed_serial;
    pthread_mutex_unlock(&r->mu);
    return s;
}

struct writer_bufs {
    struct relay_job **jobs;
    hearth_event **evs;
    hearth_store_result *res;
};

/* Group commit (see group_target). Under mu. */

static void gather(hearth_relay *r)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += GROUP_WAIT_US * 1000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    r->gathering = 1;
    while (r->write_q.n < group_target(r) && r->verify_q.head && !r->stopping)
        if (pthread_cond_timedwait(&r->write_cv, &r->mu, &until) != 0)
            break;
    r->gathering = 0;
}

static void writer_loop(hearth_relay *r, struct writer_bufs *w)
{
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->write_q.head && !r->purge_due && r->workers_live)
            pthread_cond_wait(&r->write_cv, &r->mu);
        if (!r->write_q.head && !r->purge_due)
            break; /* the verify threads are gone and all is committed */
        gather(r);
        size_t n = 0;
        while (n < r->o.batch && r->write_q.head)
            w->jobs[n++] = q_pop(&r->write_q);
        int want_purge = r->purge_due;
        r->purge_due = 0;
        pthread_mutex_unlock(&r->mu);
        uint64_t top = n ? commit(r, w->jobs, n, w->evs, w->res) : 0;
        if (want_purge)
            purge(r);
        int wake = 0;
        pthread_mutex_lock(&r->mu);
        note_serial(r, top);
        r->batches += n > 0;
        for (size_t i = 0; i < n; i++)
            wake |= push_done(r, w->jobs[i]);
        if (wake) {
            pthread_mutex_unlock(&r->mu);
            relay_lws_wake(r);
            pthread_mutex_lock(&r->mu);
        }
    }
    pthread_mutex_unlock(&r->mu);
}

static void *writer_main(void *arg)
{
    hearth_relay *r = arg;
    struct writer_bufs w;
    w.jobs = malloc(r->o.batch * sizeof *w.jobs);
    w.evs = malloc(r->o.batch * sizeof *w.evs);
    w.res = malloc(r->o.batch * sizeof *w.res);
    if (w.jobs && w.evs && w.res)
        writer_loop(r, &w);
    free(w.jobs);
    free(w.evs);
    free(w.res);
    return NULL;
}

int relay_ingest_start(hearth_relay *r)
{
    if (!r->o.threads)
        return HEARTH_OK;
    r->workers = calloc(r->o.threads, sizeof *r->workers);
    if (!r->workers)
        return HEARTH_ENOMEM;
    r->started = 1;
    for (unsigned i = 0; i < r->o.threads; i++) {
        if (pthread_create(&r->workers[i], NULL, verify_main, r))
            break;
        r->nworkers++;
    }
    pthread_mutex_lock(&r->mu);
    r->workers_live = r->nworkers;
    pthread_mutex_unlock(&r->mu);
    if (r->nworkers && pthread_create(&r->writer, NULL, writer_main, r) == 0)
        return HEARTH_OK;
    relay_ingest_stop(r);
    return HEARTH_ENOMEM;
}

/* Let the verify threads finish what is queued, then the writer commit
 * what they passed; nothing is thrown away half-done. */
void relay_ingest_stop(hearth_relay *r)
{
    if (!r->started || r->stopped)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_cond_broadcast(&r->verify_cv);
    pthread_cond_broadcast(&r->write_cv);
    pthread_mutex_unlock(&r->mu);
    for (unsigned i = 0; i < r->nworkers; i++)
        pthread_join(r->workers[i], NULL);
    if (r->nworkers)
        pthread_join(r->writer, NULL);
    r->stopped = 1;
}

/* Without threads the loop thread does it all at once, batch of one. */
static void submit_inline(hearth_relay *r, struct relay_job *j)
{
    verify(NULL, j);
    if (!skips_store(j)) {
        hearth_event *ev = j->ev;
        hearth_store_put_batch(r->store, &ev, 1, (int64_t)time(NULL), &j->res);
        if (j->res.status == HEARTH_STORE_STORED)
            note_serial(r, j->res.serial);
        r->batches++;
    }
    relay_job_finished(r, j);
}

void relay_submit(hearth_relay *r, struct relay_job *j)
{
    if (!r->nworkers) {
        submit_inline(r, j);
        return;
    }
    pthread_mutex_lock(&r->mu);
    q_push(&r->verify_q, j);
    pthread_cond_signal(&r->verify_cv);
    pthread_mutex_unlock(&r->mu);
}

void relay_request_purge(hearth_relay *r)
{
    if (!r->nworkers) {
        hearth_store_purge_expired(r->store, (int64_t)time(NULL), PURGE_MAX,
                                   NULL);
        return;
    }
    pthread_mutex_lock(&r->mu);
    r->purge_due = 1;
    pthread_cond_signal(&r->write_cv);
    pthread_mutex_unlock(&r->mu);
}

size_t relay_drain(hearth_relay *r)
{
    struct relay_queue q;
    if (r->nworkers) {
        pthread_mutex_lock(&r->mu);
        q = r->done_q;
        memset(&r->done_q, 0, sizeof r->done_q);
        r->wake_pending = 0;
        pthread_mutex_unlock(&r->mu);
        struct relay_job *j;
        while ((j = q_pop(&q)))
            relay_job_finished(r, j);
    }
    if (r->nthrottled)
        relay_unthrottle(r);
    return r->queued;
}
