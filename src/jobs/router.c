/* Router role: delegate open jobs this peer cannot serve and answer the
 * original customer under its own signature (docs/router.md). */
#include "hearth/router.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"

/* One routed job: the original request and the delegated job. */
struct rjob {
    struct rjob *next;
    hearth_router *r;
    hearth_job_request *req;      /* the original customer's request */
    hearth_job_rec rec;           /* role ROUTER, id = original request */
    hearth_customer_job *cj;
    int64_t last_fb_ms;
};

struct hearth_router {
    hearth_pool *pool;
    hearth_customer *cust;
    hearth_jobdb *db;
    hearth_router_opts o;
    uint8_t sk[32], pk[32];
    struct rjob *jobs;
    hearth_router_stats st;
};

void hearth_router_opts_default(hearth_router_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_jobs = 16;
    o->deadline_ms = 120000;
    o->attempt_timeout_ms = 30000;
    o->strategy = HEARTH_STRATEGY_BALANCED;
}

static void rlog(hearth_router *r, const char *fmt, ...)
{
    char line[400];
    va_list ap;
    if (!r->o.log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->o.log(r->o.log_ctx, line);
}

static const char *short_hex(const uint8_t *id, char buf[13])
{
    char full[65];
    hearth_hex_encode(id, 32, full);
    memcpy(buf, full, 12);
    buf[12] = 0;
    return buf;
}

int hearth_router_next_route(const hearth_job_request *req,
                             const uint8_t me[32],
                             uint8_t route[HEARTH_NIP90_MAX_ROUTE][32],
                             size_t *n)
{
    *n = 0;
    if (req->nroute) {
        memcpy(route, req->route, 32 * req->nroute);
        *n = req->nroute;
    } else {
        memcpy(route[(*n)++], req->customer, 32);
    }
    for (size_t i = 0; i < *n; i++)
        if (!memcmp(route[i], me, 32))
            return HEARTH_EINVAL; /* it came through here already */
    if (*n >= HEARTH_NIP90_MAX_ROUTE)
        return HEARTH_EINVAL;
    memcpy(route[(*n)++], me, 32);
    return HEARTH_OK;
}

/* ---- answering the original customer ---- */

static void on_pub(const uint8_t id[32], const char *relay,
                   enum hearth_pub_result res, const char *msg, void *user)
{
    (void)id, (void)relay, (void)res, (void)msg, (void)user;
}

static void publish(hearth_router *r, hearth_event *ev)
{
    if (ev && hearth_event_sign(ev, r->sk) == HEARTH_OK)
        hearth_pool_publish(r->pool, ev, on_pub, NULL);
    hearth_event_free(ev);
}

static void feedback(hearth_router *r, const hearth_job_request *req,
                     enum hearth_nip90_status st, const char *info, int pct)
{
    hearth_nip90_feedback fb = {.status = st, .info = info, .percent = pct};
    hearth_event *ev = NULL;
    if (!hearth_nip90_feedback_build(req, &fb, r->sk, (int64_t)time(NULL),
                                     &ev))
        publish(r, ev);
}

/* The result to the original customer: the delegate's output under this
 * peer's signature, the chain in a "delegated" tag. */
static int answer(struct rjob *j, const hearth_customer_result *res)
{
    hearth_router *r = j->r;
    hearth_event *ev = NULL;
    char rid[65], prov[65];
    uint64_t amount = res->chosen->amount_msat + r->o.fee_msat;
    hearth_hex_encode(res->chosen->result_id, 32, rid);
    hearth_hex_encode(res->chosen->provider, 32, prov);
    int rc = hearth_nip90_result_build(j->req, res->content, res->content_len,
                                       amount, NULL, r->sk,
                                       (int64_t)time(NULL), &ev);
    if (rc == HEARTH_OK)
        rc = hearth_event_add_tagv(ev, "delegated", rid, prov, NULL);
    if (rc != HEARTH_OK) {
        hearth_event_free(ev);
        return rc;
    }
    publish(r, ev);
    j->rec.amount_msat = amount;
    memcpy(j->rec.provider, res->chosen->provider, 32);
    memcpy(j->rec.upstream, res->chosen->request_id, 32);
    crypto_hash_sha256(j->rec.output_hash, (const uint8_t *)res->content,
                       res->content_len);
    return HEARTH_OK;
}

static void unlink_job(hearth_router *r, struct rjob *j)
{
    for (struct rjob **p = &r->jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    r->st.active--;
}

static void finish(struct rjob *j, int ok, const char *why)
{
    hearth_router *r = j->r;
    char sid[13];
    j->rec.state = ok ? HEARTH_JOB_DONE : HEARTH_JOB_FAILED;
    j->rec.updated_at = (int64_t)time(NULL);
    if (!ok) {
        snprintf(j->rec.reason, sizeof j->rec.reason, "%s", why);
        feedback(r, j->req, HEARTH_NIP90_ERROR, j->rec.reason, -1);
        r->st.failed++;
    } else {
        r->st.delivered++;
        r->st.fees_msat += r->o.fee_msat;
    }
    hearth_jobdb_put(r->db, &j->rec, NULL, 0, NULL);
    rlog(r, "routed job %s %s%s%s", short_hex(j->rec.id, sid),
         ok ? "delivered" : "failed", ok ? "" : ": ", ok ? "" : why);
    unlink_job(r, j);
    hearth_job_request_free(j->req);
    free(j);
}

/* ---- the delegate's progress and outcome ---- */

static void on_progress(hearth_customer_job *cj, int pct,
                        const uint8_t provider[32], void *user)
{
    struct rjob *j = user;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (now - j->last_fb_ms < 1000)
        return; /* the customer needs a pulse, not every tick */
    j->last_fb_ms = now;
    char info[32];
    snprintf(info, sizeof info, "%d%% (delegated)", pct);
    feedback(j->r, j->req, HEARTH_NIP90_PROCESSING, info, pct);
}

static void on_done(hearth_customer_job *cj, const hearth_customer_result *res,
                    void *user)
{
    struct rjob *j = user;
    char why[HEARTH_JOB_REASON_MAX];
    if (res->outcome == HEARTH_CUST_OK && res->verified &&
        answer(j, res) == HEARTH_OK) {
        finish(j, 1, "");
        return;
    }
    snprintf(why, sizeof why, "the job was delegated and failed: %.100s",
             res->reason && *res->reason ? res->reason
                                         : hearth_cust_outcome_name(
                                               res->outcome));
    finish(j, 0, why);
}

/* ---- taking a job ---- */

static int delegate(hearth_router *r, struct rjob *j)
{
    uint8_t route[HEARTH_NIP90_MAX_ROUTE][32];
    size_t nroute;
    hearth_job_spec spec;
    hearth_customer_opts co;
    hearth_customer_cbs cbs = {.on_progress = on_progress, .on_done = on_done};
    const hearth_job_request *q = j->req;

    if (hearth_router_next_route(q, r->pk, route, &nroute))
        return HEARTH_EINVAL;
    memset(&spec, 0, sizeof spec);
    spec.kind = q->kind;
    spec.ninputs = q->ninputs;
    spec.inputs = q->inputs;
    spec.nparams = q->nparams;
    spec.params = q->params;
    spec.output = q->output;
    spec.nroute = nroute;
    spec.route = (const uint8_t(*)[32])route;
    hearth_customer_opts_default(&co);
    co.strategy = r->o.strategy;
    co.deadline_ms = r->o.deadline_ms;
    co.attempt_timeout_ms = r->o.attempt_timeout_ms;
    /* what the customer bid, less this router's fee, is what the delegate
     * may cost; without a bid only free offers do (1 msat: 0 means no
     * limit to the customer role) */
    co.max_price_msat = q->bid_msat > r->o.fee_msat
                            ? q->bid_msat - r->o.fee_msat
                            : 1;
    co.encrypt = q->enc != HEARTH_NIP90_PLAIN;
    return hearth_customer_submit(r->cust, &spec, &co, &cbs, j, &j->cj);
}

static void rec_init(hearth_router *r, const hearth_job_request *req,
                     hearth_job_rec *rec)
{
    memset(rec, 0, sizeof *rec);
    memcpy(rec->id, req->id, 32);
    rec->role = HEARTH_JOB_ROUTER;
    rec->state = HEARTH_JOB_RUNNING;
    rec->kind = req->kind;
    memcpy(rec->customer, req->customer, 32);
    rec->created_at = rec->updated_at = (int64_t)time(NULL);
    rec->deadline = req->expiration;
}

int hearth_router_take(void *router, hearth_job_request *req,
                       const char *why)
{
    hearth_router *r = router;
    char sid[13];
    if (r->st.active >= r->o.max_jobs || req->nproviders ||
        (r->o.fee_msat && req->bid_msat < r->o.fee_msat)) {
        r->st.declined++;
        return 0;
    }
    struct rjob *j = calloc(1, sizeof *j);
    if (!j)
        return 0;
    j->r = r;
    j->req = req;
    rec_init(r, req, &j->rec);
    /* seen on another relay already: it is ours, or was */
    if (hearth_jobdb_insert(r->db, &j->rec, req->json, req->json_len,
                            NULL) != HEARTH_OK) {
        free(j);
        return 0;
    }
    if (delegate(r, j) != HEARTH_OK) {
        /* nobody to delegate to: stay silent, another provider may take
         * the open job, and the record says why */
        j->rec.state = HEARTH_JOB_FAILED;
        snprintf(j->rec.reason, sizeof j->rec.reason,
                 "no provider to delegate to");
        hearth_jobdb_put(r->db, &j->rec, NULL, 0, NULL);
        r->st.declined++;
        free(j);
        return 0;
    }
    j->next = r->jobs;
    r->jobs = j;
    r->st.active++;
    r->st.taken++;
    rlog(r, "job %s kind %u routed (%s)", short_hex(req->id, sid), req->kind,
         why);
    feedback(r, req, HEARTH_NIP90_PROCESSING, "delegated", 0);
    return 1;
}

/* ---- life cycle ---- */

int hearth_router_new(hearth_pool *pool, hearth_customer *customer,
                      hearth_jobdb *db, const hearth_router_opts *o,
                      hearth_router **out)
{
    *out = NULL;
    if (!o || !o->sk || !customer || !db)
        return HEARTH_EINVAL;
    hearth_router *r = calloc(1, sizeof *r);
    if (!r)
        return HEARTH_ENOMEM;
    r->pool = pool;
    r->cust = customer;
    r->db = db;
    r->o = *o;
    memcpy(r->sk, o->sk, 32);
    r->o.sk = r->sk;
    if (hearth_key_pubkey(r->sk, r->pk)) {
        free(r);
        return HEARTH_EINVAL;
    }
    *out = r;
    return HEARTH_OK;
}

int hearth_router_start(hearth_router *r)
{
    hearth_job_rec recs[64];
    size_t n = 0;
    int rc = hearth_jobdb_list(r->db, HEARTH_JOB_ROUTER, 1, recs, 64, &n);
    for (size_t i = 0; rc == HEARTH_OK && i < n; i++) {
        /* the delegation did not survive the restart: close it, so the
         * customer knows and the record is final */
        recs[i].state = HEARTH_JOB_FAILED;
        snprintf(recs[i].reason, sizeof recs[i].reason,
                 "the router restarted while the job was delegated");
        hearth_jobdb_put(r->db, &recs[i], NULL, 0, NULL);
        r->st.failed++;
    }
    return rc;
}

void hearth_router_free(hearth_router *r)
{
    if (!r)
        return;
    while (r->jobs) {
        struct rjob *j = r->jobs;
        r->jobs = j->next;
        hearth_job_request_free(j->req);
        free(j);
    }
    sodium_memzero(r->sk, sizeof r->sk);
    free(r);
}

void hearth_router_get_stats(const hearth_router *r, hearth_router_stats *st)
{
    *st = r->st;
}
