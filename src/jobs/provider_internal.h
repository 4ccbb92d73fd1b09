/* Private to the provider: the loop side (provider.c: subscriptions,
 * admission, publishing) and the worker side (provider_work.c: runner
 * threads) share these structures. */
#ifndef HEARTH_PROVIDER_INTERNAL_H
#define HEARTH_PROVIDER_INTERNAL_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>

#include "hearth/nip90.h"
#include "hearth/provider.h"

struct lane;

/* One admitted job. Owned by its lane's queue, then by the worker that
 * runs it, then by the loop (the finished message) which frees it. */
struct pjob {
    struct pjob *qnext;           /* lane queue link */
    struct pjob *anext, *aprev;   /* active list (loop thread only) */
    struct lane *lane;
    hearth_job_request *req;
    hearth_job_rec rec;
    atomic_int cancel;
    int64_t last_fb_ms;           /* worker: progress throttle */
    int last_pct;
};

/* One runner, its worker threads and its queue. */
struct lane {
    hearth_provider *p;
    hearth_runner *r;
    hearth_runner_desc desc;
    hearth_price price;
    pthread_t *threads;
    uint32_t nthreads, started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pjob *qhead, *qtail;
    uint32_t queued, running;     /* under mu */
    int hold;                     /* draining: start nothing new */
    atomic_int stop;              /* freeing: threads exit (read by
                                     running jobs without the lock) */
};

enum { MSG_FEEDBACK = 1, MSG_FINISHED = 2 };

/* From a worker to the loop. */
struct outmsg {
    struct outmsg *next;
    int type;
    struct pjob *job;             /* MSG_FINISHED: the job, now the loop's */
    hearth_event *ev;             /* signed event to publish, or NULL */
};

struct hearth_provider {
    hearth_loop *loop;
    hearth_pool *pool;
    hearth_jobdb *db;
    hearth_provider_opts o;
    uint8_t sk[32], pk[32];
    struct lane *lanes;
    size_t nlanes;
    pthread_mutex_t out_mu;       /* guards the outbox and st */
    struct outmsg *out_head, *out_tail;
    struct pjob *active;          /* admitted, not finished (loop) */
    hearth_sub *sub_req, *sub_del, *sub_rcpt;
    hearth_provider_stats st;
    size_t pending_pubs;
    int draining, drained;
    lws_sorted_usec_list_t drain_sul;
};

/* provider.c */
void prov_log(hearth_provider *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int64_t prov_now_ms(void);

/* provider_work.c */
int prov_lanes_start(hearth_provider *p);
void prov_lanes_stop(hearth_provider *p);
/* queue a job on its lane (takes ownership) */
void prov_enqueue(struct pjob *j);
/* remove a queued job; 1 if it was still queued (the caller owns it) */
int prov_dequeue(struct pjob *j);
void prov_post(hearth_provider *p, int type, struct pjob *j,
               hearth_event *ev);
void prov_job_free(struct pjob *j);
/* hearth_jobdb_put, and a log line when the table refuses or fails: the
 * state in memory and on disk then differ, and the operator should know */
int prov_record(hearth_provider *p, const hearth_job_rec *rec,
                const char *blob, size_t len);
/* Sign an unsigned event with the peer's key; NULL on failure (freed). */
hearth_event *prov_sign(hearth_provider *p, hearth_event *ev);
/* A signed error feedback for req. */
hearth_event *prov_error_feedback(hearth_provider *p,
                                  const hearth_job_request *req,
                                  const char *why);

#endif
