/* Customer role, the job side: submitting, choosing providers with the
 * selection over the market view, re-bidding, retrying, redundancy,
 * the deadline, cancellation and the final report. The attempts
 * themselves (requests, replies, timers) are in customer_attempt.c. */
#include "customer_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/error.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"

#define DEFAULT_DEADLINE_MS 300000u
#define DEFAULT_ATTEMPT_MS  60000u
#define DEFAULT_ATTEMPTS    8u
#define DEFAULT_TOP_N       3u

static const char *const outcome_names[] = {
    "running", "ok", "error", "price", "timeout", "invalid", "rebid",
    "cancelled", "failed", "no-provider", "deadline"};

const char *hearth_cust_outcome_name(int o)
{
    if (o < 0 || (size_t)o >= sizeof outcome_names / sizeof *outcome_names)
        return "unknown";
    return outcome_names[o];
}

static const char *const receipt_names[] = {
    "none", "pending", "no-note", "accepted", "disputed", "failed"};

const char *hearth_cust_receipt_name(int r)
{
    if (r < 0 || (size_t)r >= sizeof receipt_names / sizeof *receipt_names)
        return "unknown";
    return receipt_names[r];
}

void hearth_customer_opts_default(hearth_customer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->strategy = HEARTH_STRATEGY_BALANCED;
    o->redundancy = 1;
    o->deadline_ms = DEFAULT_DEADLINE_MS;
    o->attempt_timeout_ms = DEFAULT_ATTEMPT_MS;
    o->max_attempts = DEFAULT_ATTEMPTS;
}

int64_t cust_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the job's own copy of the spec ---- */

/* Allocations of one spec copy, chained so one walk frees them. */
struct mem {
    struct mem *next;
    max_align_t align[];
};

static void *mem_alloc(void **head, size_t n)
{
    struct mem *m = calloc(1, sizeof *m + n + 1);
    if (!m)
        return NULL;
    m->next = *head;
    *head = m;
    return m->align;
}

static void mem_free(void *head)
{
    struct mem *m = head;
    while (m) {
        struct mem *next = m->next;
        free(m);
        m = next;
    }
}

static char *mem_dup(void **head, const char *s, size_t n)
{
    char *p = s ? mem_alloc(head, n) : NULL;
    if (p)
        memcpy(p, s, n);
    return p;
}

#define DUPS(head, s) mem_dup(head, (s) ? (s) : "", (s) ? strlen(s) : 0)

static int copy_inputs(void **h, const hearth_job_spec *s, hearth_job_spec *d)
{
    hearth_job_input *in = mem_alloc(h, sizeof *in * (s->ninputs + 1));
    if (!in)
        return HEARTH_ENOMEM;
    for (size_t i = 0; i < s->ninputs; i++) {
        in[i].value = mem_dup(h, s->inputs[i].value, s->inputs[i].len);
        in[i].len = s->inputs[i].len;
        in[i].type = DUPS(h, s->inputs[i].type);
        in[i].marker = DUPS(h, s->inputs[i].marker);
        if (!in[i].value || !in[i].type || !in[i].marker)
            return HEARTH_ENOMEM;
    }
    d->inputs = in;
    return HEARTH_OK;
}

static int copy_params(void **h, const hearth_job_spec *s, hearth_job_spec *d)
{
    hearth_job_param *pa = mem_alloc(h, sizeof *pa * (s->nparams + 1));
    if (!pa)
        return HEARTH_ENOMEM;
    for (size_t i = 0; i < s->nparams; i++) {
        pa[i].key = DUPS(h, s->params[i].key);
        pa[i].value = DUPS(h, s->params[i].value);
        if (!pa[i].key || !pa[i].value)
            return HEARTH_ENOMEM;
    }
    d->params = pa;
    return HEARTH_OK;
}

static int copy_rest(void **h, const hearth_job_spec *s, hearth_job_spec *d)
{
    const char **rl = mem_alloc(h, sizeof *rl * (s->nrelays + 1));
    uint8_t(*route)[32] = mem_alloc(h, 32 * (s->nroute + 1));
    if (!rl || !route)
        return HEARTH_ENOMEM;
    for (size_t i = 0; i < s->nrelays; i++)
        if (!(rl[i] = DUPS(h, s->relays[i])))
            return HEARTH_ENOMEM;
    if (s->nroute)
        memcpy(route, s->route, 32 * s->nroute);
    d->relays = rl;
    d->route = (const uint8_t(*)[32])route;
    if (s->output && !(d->output = DUPS(h, s->output)))
        return HEARTH_ENOMEM;
    return HEARTH_OK;
}

static int spec_copy(hearth_customer_job *j, const hearth_job_spec *s)
{
    j->spec = *s;
    j->spec.output = NULL;
    int rc = copy_inputs(&j->spec_mem, s, &j->spec);
    if (rc == HEARTH_OK)
        rc = copy_params(&j->spec_mem, s, &j->spec);
    if (rc == HEARTH_OK)
        rc = copy_rest(&j->spec_mem, s, &j->spec);
    return rc;
}

/* ---- choosing a provider ---- */

static int tried(const hearth_customer_job *j, const uint8_t pk[32])
{
    for (size_t i = 0; i < j->natt; i++)
        if (!memcmp(j->att[i].a.provider, pk, 32))
            return 1;
    return 0;
}

/* Its inbox relays join the pool: the request and our subscription must
 * reach the relays the provider reads (outbox model). */
static void add_inbox(hearth_customer *c, const hearth_offer *o)
{
    for (size_t i = 0; i < o->nrelays && i < HEARTH_OFFER_MAX_RELAYS; i++)
        hearth_pool_add_relay(c->pool, o->relays[i], NULL);
}

/* The bid: the offer's price for the estimated usage, capped at
 * max_price; max_price itself when the size cannot be estimated. */
static uint64_t bid_for(const hearth_customer_job *j, uint64_t price,
                        int estimated)
{
    uint64_t max = j->o.max_price_msat;
    if (!estimated && max)
        return max;
    return max && price > max ? max : price;
}

struct choice {
    uint8_t pk[32];
    uint64_t bid;
};

static int choose_pinned(hearth_customer_job *j, const hearth_peer *peers,
                         const hearth_offer *offers, size_t n,
                         const hearth_usage *u, int est, struct choice *ch)
{
    if (tried(j, j->pinned))
        return HEARTH_ENOTFOUND;
    memcpy(ch->pk, j->pinned, 32);
    ch->bid = bid_for(j, 0, 0);
    for (size_t i = 0; i < n; i++) {
        if (memcmp(peers[i].pubkey, j->pinned, 32))
            continue;
        add_inbox(j->c, &offers[i]);
        ch->bid = bid_for(j, hearth_offer_price(&peers[i].price, u), est);
        break;
    }
    return HEARTH_OK;
}

static int choose_selected(hearth_customer_job *j, const hearth_peer *peers,
                           const hearth_peer_obs *obs,
                           const hearth_offer *offers, size_t n,
                           const hearth_usage *u, int est,
                           struct choice *ch)
{
    /* never ask a provider twice, never ourselves, and never a peer the
     * job already passed through (a router's delegation: no loops) */
    uint8_t block[HEARTH_CUSTOMER_MAX_ATTEMPTS + HEARTH_NIP90_MAX_ROUTE + 1]
                 [32];
    hearth_select_req rq;
    hearth_candidate cand;
    size_t nc = 0, nb = 0;
    memset(&rq, 0, sizeof rq);
    for (size_t i = 0; i < j->natt; i++)
        memcpy(block[nb++], j->att[i].a.provider, 32);
    for (size_t i = 0; i < j->spec.nroute && i < HEARTH_NIP90_MAX_ROUTE; i++)
        memcpy(block[nb++], j->spec.route[i], 32);
    memcpy(block[nb++], j->c->pk, 32);
    rq.job_kind = j->spec.kind;
    rq.max_price_msat = est ? j->o.max_price_msat : 0;
    rq.usage = *u;
    rq.block = (const uint8_t(*)[32])block;
    rq.nblock = nb;
    rq.strategy = j->o.strategy;
    rq.top_n = j->o.top_n;
    rq.seed = j->o.seed + j->natt; /* round-robin moves on per attempt */
    rq.now = (int64_t)time(NULL);
    int rc = hearth_select(peers, obs, n, &rq, &cand, 1, &nc, NULL);
    if (rc != HEARTH_OK || nc == 0)
        return rc != HEARTH_OK ? rc : HEARTH_ENOTFOUND;
    memcpy(ch->pk, peers[cand.index].pubkey, 32);
    add_inbox(j->c, &offers[cand.index]);
    ch->bid = bid_for(j, cand.price_msat, est);
    return HEARTH_OK;
}

static int choose(hearth_customer_job *j, struct choice *ch)
{
    hearth_peer *peers = NULL;
    hearth_peer_obs *obs = NULL;
    hearth_offer *offers = NULL;
    hearth_usage u;
    size_t n = 0;
    int est = hearth_customer_estimate(&j->spec, &u) == HEARTH_OK;
    int rc = HEARTH_OK;
    if (j->c->view)
        rc = hearth_view_snapshot(j->c->view, j->spec.kind,
                                  (int64_t)time(NULL), &peers, &obs, &offers,
                                  &n);
    if (rc == HEARTH_OK && j->o.provider)
        rc = choose_pinned(j, peers, offers, n, &u, est, ch);
    else if (rc == HEARTH_OK)
        rc = choose_selected(j, peers, obs, offers, n, &u, est, ch);
    free(peers);
    free(obs);
    free(offers);
    return rc;
}

/* ---- finishing ---- */

static size_t count(const hearth_customer_job *j, int outcome)
{
    size_t n = 0;
    for (size_t i = 0; i < j->natt; i++)
        n += j->att[i].a.outcome == outcome;
    return n;
}

static int agreement(const hearth_customer_job *j)
{
    const struct catt *first = NULL;
    if (j->o.redundancy < 2)
        return -1;
    if (j->spec.kind == HEARTH_KIND_JOB_POW)
        return count(j, HEARTH_CUST_INVALID) == 0;
    for (size_t i = 0; i < j->natt; i++) {
        const struct catt *t = &j->att[i];
        if (t->a.outcome != HEARTH_CUST_OK)
            continue;
        if (!first)
            first = t;
        else if (memcmp(first->a.output_hash, t->a.output_hash, 32))
            return 0;
    }
    return 1;
}

static void job_free(hearth_customer_job *j)
{
    hearth_customer *c = j->c;
    for (hearth_customer_job **pp = &c->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    for (size_t i = 0; i < j->natt; i++) {
        cust_attempt_stop(&j->att[i]);
        cust_settle_stop(&j->att[i]);
        hearth_buf_free(&j->att[i].result);
    }
    lws_sul_cancel(&j->deadline_timer);
    lws_sul_cancel(&j->done_timer);
    mem_free(j->spec_mem);
    free(j);
}

static void report(hearth_customer_job *j)
{
    hearth_customer_result r;
    hearth_customer_attempt atts[HEARTH_CUSTOMER_MAX_ATTEMPTS];
    memset(&r, 0, sizeof r);
    for (size_t i = 0; i < j->natt; i++) {
        atts[i] = j->att[i].a;
        if (!r.chosen && atts[i].outcome == HEARTH_CUST_OK) {
            r.chosen = &atts[i];
            r.content = j->att[i].result.p ? j->att[i].result.p : "";
            r.content_len = j->att[i].result.len;
            r.summary = j->att[i].summary;
            r.verified = 1;
        }
    }
    r.outcome = j->final;
    r.reason = j->reason;
    if (!r.summary)
        r.summary = "";
    r.attempts = atts;
    r.nattempts = j->natt;
    r.redundancy = j->o.redundancy;
    r.nok = (unsigned)count(j, HEARTH_CUST_OK);
    r.agree = agreement(j);
    if (j->cbs.on_done)
        j->cbs.on_done(j, &r, j->user);
}

static void done_cb(lws_sorted_usec_list_t *sul)
{
    hearth_customer_job *j =
        lws_container_of(sul, hearth_customer_job, done_timer);
    report(j);
    job_free(j);
}

static int settling(const hearth_customer_job *j)
{
    for (size_t i = 0; i < j->natt; i++)
        if (j->att[i].a.receipt == HEARTH_CUST_RECEIPT_PENDING ||
            j->att[i].paying)
            return 1;
    return 0;
}

/* The report waits for every receipt: it tells of them, and the job's
 * subscriptions to notes end with it. Each wait is bounded by the grace. */
static void schedule_done(hearth_customer_job *j)
{
    if (!j->ending || settling(j))
        return;
    lws_sul_schedule(hearth_loop_lws(j->c->loop), 0, &j->done_timer,
                     done_cb, 1);
}

void cust_settled(hearth_customer_job *j)
{
    schedule_done(j);
}

/* on_done never runs inside a caller's hearth_customer_* call */
static void finish(hearth_customer_job *j, int outcome, const char *reason)
{
    if (j->finished)
        return;
    j->finished = 1;
    j->ending = 1;
    j->final = outcome;
    snprintf(j->reason, sizeof j->reason, "%s", reason ? reason : "");
    lws_sul_cancel(&j->deadline_timer);
    schedule_done(j);
}

static const struct catt *last_failed(const hearth_customer_job *j)
{
    for (size_t i = j->natt; i-- > 0;)
        if (j->att[i].a.outcome != HEARTH_CUST_OK &&
            j->att[i].a.outcome != HEARTH_CUST_REBID)
            return &j->att[i];
    return NULL;
}

static void finish_empty(hearth_customer_job *j)
{
    char why[HEARTH_CUSTOMER_WHY_MAX];
    const struct catt *t = last_failed(j);
    if (count(j, HEARTH_CUST_OK)) {
        finish(j, HEARTH_CUST_OK, "");
    } else if (cust_now_ms() >= j->deadline_ms) {
        finish(j, HEARTH_CUST_DEADLINE, "the deadline passed before any "
                                        "provider delivered");
    } else if (!t) {
        finish(j, HEARTH_CUST_NO_PROVIDER,
               "no eligible provider in the market view");
    } else {
        snprintf(why, sizeof why, "every provider asked failed; the last: "
                                  "%.100s", t->a.reason);
        finish(j, HEARTH_CUST_FAILED, why);
    }
}

static int running(const hearth_customer_job *j)
{
    return (int)count(j, HEARTH_CUST_RUNNING);
}

/* Keep redundancy attempts open until that many results passed. */
static void advance(hearth_customer_job *j)
{
    struct choice ch;
    unsigned want = j->o.redundancy;
    if (j->finished)
        return;
    size_t ok = count(j, HEARTH_CUST_OK);
    if (ok >= want) {
        finish(j, HEARTH_CUST_OK, "");
        return;
    }
    while (running(j) + ok < want && j->natt < j->o.max_attempts &&
           cust_now_ms() < j->deadline_ms && choose(j, &ch) == HEARTH_OK)
        if (cust_send(j, ch.pk, ch.bid, 0) != HEARTH_OK)
            break;
    if (!running(j))
        finish_empty(j);
}

/* ---- attempts ending ---- */

static int rebid_allowed(hearth_customer_job *j, const struct catt *t)
{
    for (size_t i = 0; i < j->nrebid; i++)
        if (!memcmp(j->rebid_done[i], t->a.provider, 32))
            return 0;
    return j->nrebid < HEARTH_CUSTOMER_MAX_ATTEMPTS;
}

static void observe(hearth_customer_job *j, const struct catt *t)
{
    hearth_view *v = j->c->view;
    int64_t now = (int64_t)time(NULL);
    uint32_t rtt = 0;
    if (!v)
        return;
    switch (t->a.outcome) {
    case HEARTH_CUST_OK:
        /* the first reply (normally "processing" at once) is close to
         * one round trip through the relays */
        if (t->first_reply_ms > t->sent_ms)
            rtt = (uint32_t)(t->first_reply_ms - t->sent_ms);
        hearth_view_observe(v, t->a.provider, HEARTH_OBS_OK, rtt, now);
        break;
    case HEARTH_CUST_ERROR:
    case HEARTH_CUST_PRICE:
    case HEARTH_CUST_TIMEOUT:
    case HEARTH_CUST_INVALID:
        hearth_view_observe(v, t->a.provider, HEARTH_OBS_FAILED, 0, now);
        break;
    default:
        break;  /* re-bids and cancellations say nothing about it */
    }
}

void cust_attempt_ended(struct catt *t)
{
    hearth_customer_job *j = t->job;
    cust_attempt_stop(t);
    cust_settle_start(t);
    if (t->a.outcome != HEARTH_CUST_OK)
        cust_withdraw(j->c, t, t->a.reason);
    observe(j, t);
    cust_record(j, t);
    if (j->cbs.on_attempt)
        j->cbs.on_attempt(j, &t->a, j->user);
    if (t->a.outcome == HEARTH_CUST_REBID && rebid_allowed(j, t)) {
        memcpy(j->rebid_done[j->nrebid++], t->a.provider, 32);
        if (j->natt < j->o.max_attempts && !j->finished)
            cust_send(j, t->a.provider, t->a.amount_msat, 1);
    }
    advance(j);
}

/* ---- sending ---- */

/* The relays the provider should answer on: the spec's, else the pool's. */
static size_t reply_relays(hearth_customer_job *j,
                           char urls[][HEARTH_RELAY_URL_MAX + 1],
                           const char **out)
{
    hearth_pool_relay_info info;
    size_t n = 0;
    if (j->spec.nrelays) {
        for (; n < j->spec.nrelays && n < HEARTH_NIP90_MAX_RELAYS; n++)
            out[n] = j->spec.relays[n];
        return n;
    }
    for (size_t i = 0; i < hearth_pool_nrelays(j->c->pool) &&
                       n < HEARTH_NIP90_MAX_RELAYS; i++) {
        if (hearth_pool_relay_stats(j->c->pool, i, &info) != HEARTH_OK)
            continue;
        snprintf(urls[n], HEARTH_RELAY_URL_MAX + 1, "%s", info.url);
        out[n] = urls[n];
        n++;
    }
    return n;
}

static int build_request(hearth_customer_job *j, const uint8_t pk[32],
                         uint64_t bid, hearth_event **out)
{
    char urls[HEARTH_NIP90_MAX_RELAYS][HEARTH_RELAY_URL_MAX + 1];
    const char *rl[HEARTH_NIP90_MAX_RELAYS];
    uint8_t prov[1][32];
    hearth_job_spec s = j->spec;
    memcpy(prov[0], pk, 32);
    s.bid_msat = bid;
    s.providers = (const uint8_t(*)[32])prov;
    s.nproviders = 1;
    s.enc = j->o.encrypt ? HEARTH_NIP90_NIP44 : HEARTH_NIP90_PLAIN;
    /* a provider that sees the request after the deadline ignores it */
    s.expiration = j->deadline + 5;
    s.nrelays = reply_relays(j, urls, rl);
    s.relays = rl;
    int rc = hearth_nip90_request_build(&s, j->c->sk, (int64_t)time(NULL),
                                        out);
    if (rc == HEARTH_OK && (rc = hearth_event_sign(*out, j->c->sk))) {
        hearth_event_free(*out);
        *out = NULL;
    }
    return rc;
}

int cust_send(hearth_customer_job *j, const uint8_t provider[32],
              uint64_t bid, int rebid)
{
    hearth_event *ev = NULL;
    if (j->natt >= HEARTH_CUSTOMER_MAX_ATTEMPTS)
        return HEARTH_ETOOBIG;
    int rc = build_request(j, provider, bid, &ev);
    if (rc != HEARTH_OK)
        return rc;
    struct catt *t = &j->att[j->natt];
    memset(t, 0, sizeof *t);
    t->job = j;
    t->rebid = rebid;
    memcpy(t->a.provider, provider, 32);
    memcpy(t->a.request_id, ev->id, 32);
    t->a.number = (unsigned)j->natt + 1;
    t->a.outcome = HEARTH_CUST_RUNNING;
    t->a.bid_msat = bid;
    if (j->natt == 0)
        memcpy(j->root, ev->id, 32);
    rc = cust_attempt_start(j, t, ev);
    hearth_event_free(ev);
    if (rc != HEARTH_OK)
        return rc;
    j->natt++;
    if (j->cbs.on_attempt)
        j->cbs.on_attempt(j, &t->a, j->user);
    return HEARTH_OK;
}

/* ---- the public calls ---- */

static void deadline_cb(lws_sorted_usec_list_t *sul)
{
    hearth_customer_job *j =
        lws_container_of(sul, hearth_customer_job, deadline_timer);
    for (size_t i = 0; i < j->natt; i++) {
        struct catt *t = &j->att[i];
        if (t->a.outcome != HEARTH_CUST_RUNNING)
            continue;
        t->a.outcome = HEARTH_CUST_CANCELLED;
        snprintf(t->a.reason, sizeof t->a.reason, "the deadline passed");
        j->finished = 1; /* no new attempts from cust_attempt_ended */
        cust_attempt_ended(t);
    }
    j->finished = 0;
    if (count(j, HEARTH_CUST_OK))
        finish(j, HEARTH_CUST_OK, "");
    else
        finish(j, HEARTH_CUST_DEADLINE, "the deadline passed before any "
                                        "provider delivered");
}

static int check_args(const hearth_job_spec *spec,
                      const hearth_customer_opts *o)
{
    if (!spec || spec->kind < HEARTH_KIND_JOB_MIN ||
        spec->kind > HEARTH_KIND_JOB_MAX ||
        spec->ninputs > HEARTH_NIP90_MAX_INPUTS ||
        spec->nparams > HEARTH_NIP90_MAX_PARAMS ||
        spec->nrelays > HEARTH_NIP90_MAX_RELAYS ||
        spec->nroute > HEARTH_NIP90_MAX_ROUTE)
        return HEARTH_EINVAL;
    if (o && (o->redundancy > HEARTH_CUSTOMER_MAX_REDUNDANCY ||
              (o->provider && o->redundancy > 1)))
        return HEARTH_EINVAL;
    return HEARTH_OK;
}

static void opts_fill(hearth_customer_job *j, const hearth_customer_opts *o)
{
    hearth_customer_opts_default(&j->o);
    if (o)
        j->o = *o;
    if (!j->o.redundancy)
        j->o.redundancy = 1;
    if (!j->o.deadline_ms)
        j->o.deadline_ms = DEFAULT_DEADLINE_MS;
    if (!j->o.attempt_timeout_ms)
        j->o.attempt_timeout_ms = DEFAULT_ATTEMPT_MS;
    if (!j->o.max_attempts || j->o.max_attempts > HEARTH_CUSTOMER_MAX_ATTEMPTS)
        j->o.max_attempts = j->o.max_attempts ? HEARTH_CUSTOMER_MAX_ATTEMPTS
                                              : DEFAULT_ATTEMPTS;
    if (j->o.max_attempts < j->o.redundancy)
        j->o.max_attempts = j->o.redundancy;
    if (!j->o.top_n)
        j->o.top_n = j->o.strategy == HEARTH_STRATEGY_BALANCED
                         ? DEFAULT_TOP_N : 1;
    if (!j->o.seed)
        randombytes_buf(&j->o.seed, sizeof j->o.seed);
    if (j->o.provider) {
        memcpy(j->pinned, j->o.provider, 32);
        j->o.provider = j->pinned;
    }
    /* the extra relays are only needed now */
    j->o.relays = NULL;
    j->o.nrelays = 0;
}

static int job_new(hearth_customer *c, const hearth_job_spec *spec,
                   const hearth_customer_opts *o, hearth_customer_job **out)
{
    hearth_customer_job *j = calloc(1, sizeof *j);
    if (!j)
        return HEARTH_ENOMEM;
    j->c = c;
    opts_fill(j, o);
    if (spec_copy(j, spec) != HEARTH_OK) {
        mem_free(j->spec_mem);
        free(j);
        return HEARTH_ENOMEM;
    }
    j->created_at = (int64_t)time(NULL);
    j->deadline_ms = cust_now_ms() + j->o.deadline_ms;
    j->deadline = (j->deadline_ms + 999) / 1000;
    j->next = c->jobs;
    c->jobs = j;
    *out = j;
    return HEARTH_OK;
}

int hearth_customer_submit(hearth_customer *c, const hearth_job_spec *spec,
                           const hearth_customer_opts *opts,
                           const hearth_customer_cbs *cbs, void *user,
                           hearth_customer_job **out)
{
    hearth_customer_job *j = NULL;
    if (!c || !out || check_args(spec, opts) != HEARTH_OK)
        return HEARTH_EINVAL;
    *out = NULL;
    for (size_t i = 0; opts && i < opts->nrelays; i++)
        hearth_pool_add_relay(c->pool, opts->relays[i], NULL);
    int rc = job_new(c, spec, opts, &j);
    if (rc != HEARTH_OK)
        return rc;
    if (cbs)
        j->cbs = *cbs;
    j->user = user;
    struct choice ch;
    unsigned sent = 0;
    while (sent < j->o.redundancy && choose(j, &ch) == HEARTH_OK &&
           cust_send(j, ch.pk, ch.bid, 0) == HEARTH_OK)
        sent++;
    if (!sent) {
        job_free(j);
        return HEARTH_ENOTFOUND;
    }
    lws_sul_schedule(hearth_loop_lws(c->loop), 0, &j->deadline_timer,
                     deadline_cb, (lws_usec_t)j->o.deadline_ms * 1000);
    *out = j;
    return HEARTH_OK;
}

int hearth_customer_cancel(hearth_customer_job *j, const char *reason)
{
    if (!j || j->finished)
        return HEARTH_EINVAL;
    const char *why = reason && *reason ? reason : "cancelled by the customer";
    j->finished = 1; /* no retries while the attempts close */
    for (size_t i = 0; i < j->natt; i++) {
        struct catt *t = &j->att[i];
        if (t->a.outcome != HEARTH_CUST_RUNNING)
            continue;
        t->a.outcome = HEARTH_CUST_CANCELLED;
        snprintf(t->a.reason, sizeof t->a.reason, "%s", why);
        cust_attempt_ended(t);
    }
    j->finished = 0;
    finish(j, count(j, HEARTH_CUST_OK) ? HEARTH_CUST_OK
                                       : HEARTH_CUST_CANCELLED, why);
    return HEARTH_OK;
}

void hearth_customer_job_id(const hearth_customer_job *j, uint8_t id[32])
{
    memcpy(id, j->root, 32);
}

int hearth_customer_new(hearth_loop *loop, hearth_pool *pool,
                        hearth_view *view, hearth_jobdb *db,
                        const uint8_t sk[32], hearth_customer **out)
{
    if (!loop || !pool || !sk || !out)
        return HEARTH_EINVAL;
    *out = NULL;
    hearth_customer *c = calloc(1, sizeof *c);
    if (!c)
        return HEARTH_ENOMEM;
    c->loop = loop;
    c->pool = pool;
    c->view = view;
    c->db = db;
    memcpy(c->sk, sk, 32);
    int rc = hearth_key_pubkey(c->sk, c->pk);
    if (rc != HEARTH_OK) {
        hearth_customer_free(c);
        return rc;
    }
    *out = c;
    return HEARTH_OK;
}

void hearth_customer_set_ledger(hearth_customer *c, hearth_ledger *l)
{
    if (c)
        c->ledger = l;
}

void hearth_customer_set_wallet(hearth_customer *c, hearth_nwc *w)
{
    if (c)
        c->wallet = w;
}

void hearth_customer_free(hearth_customer *c)
{
    if (!c)
        return;
    while (c->jobs)
        job_free(c->jobs);
    cust_pass_free(c->pass);
    sodium_memzero(c->sk, sizeof c->sk);
    free(c);
}
