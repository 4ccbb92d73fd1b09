/* Reputation sync: relay pool -> receipt store -> hearth_rep_compute ->
 * the market view's reputation slot (include/hearth/repsync.h,
 * docs/reputation.md "Wiring"). Shaped like the market sync
 * (src/market/sync.c): batches on a timer, one store transaction each. */
#include "hearth/repsync.h"

#include "hearth/error.h"
#include "hearth/kinds.h"

#include <libwebsockets.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Scores that moved less than this are not written again: every write is
 * a view transaction, and the selector cannot tell such moves apart. */
#define WRITE_EPSILON 1e-4f

/* A round with nothing new stored still runs every IDLE_ROUNDS intervals:
 * receipts age out of the window and our ledger's priors move. */
#define IDLE_ROUNDS 10

/* What we last wrote to the view for one provider. */
typedef struct written {
    uint8_t pk[32];
    float score;
} written;

struct hearth_repsync {
    hearth_loop *loop;
    hearth_pool *pool;
    hearth_view *view;
    hearth_ledger *ledger;
    hearth_repstore *store;
    uint8_t pk[32];
    hearth_repsync_opts o;
    hearth_sub *sub;
    hearth_event **pending;             /* batch_max slots */
    hearth_repstore_result *res;        /* batch_max verdicts */
    size_t npending;
    int batch_armed, timer_armed, caught_up, started;
    int dirty;                          /* stored since the last round */
    unsigned idle;                      /* timer rounds skipped */
    lws_sorted_usec_list_t batch_sul, timer_sul;
    hearth_rep_result last;
    written *wr;                        /* sorted by pk */
    size_t nwr;
    hearth_repsync_stats st;
};

void hearth_repsync_opts_default(hearth_repsync_opts *o)
{
    memset(o, 0, sizeof *o);
    o->window_s = HEARTH_REPSYNC_WINDOW_S;
    o->interval_s = 60;
    o->batch_ms = 100;
    o->batch_max = 512;
    o->max_facts = 50000;
    o->max_priors = 4096;
    hearth_rep_params_default(&o->params);
}

/* ---- pure parts ---- */

int hearth_repsync_filter(int64_t since, hearth_filter **out)
{
    char js[96];
    *out = NULL;
    if (since < 0 || since > HEARTH_MAX_TIMESTAMP)
        return HEARTH_EINVAL;
    int n = snprintf(js, sizeof js, "{\"kinds\":[%u,%u],\"since\":%lld}",
                     HEARTH_KIND_METERING_NOTE, HEARTH_KIND_RECEIPT,
                     (long long)since);
    return hearth_filter_parse(js, (size_t)n, out, NULL);
}

static double prior_weight(double msat)
{
    double w = log1p(msat / 1000.0) / log1p(1e6);
    return 0.5 * (w < 1.0 ? w : 1.0);
}

static uint64_t mag(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

/* Work traded with one (counterparty, rail), less what they still owe. */
static double traded_msat(const hearth_ledger_balance *b)
{
    double v = (double)mag(b->acct[HEARTH_ACCT_REVENUE]) +
               (double)mag(b->acct[HEARTH_ACCT_EXPENSE]);
    if (b->net_owed > 0)
        v -= (double)b->net_owed;
    return v > 0 ? v : 0;
}

int hearth_repsync_priors(hearth_ledger *l, const uint8_t our_pk[32],
                          hearth_rep_prior *out, size_t max, size_t *n)
{
    size_t nb = 0, w = 0;
    *n = 0;
    if (!l || !max)
        return HEARTH_OK;
    hearth_ledger_balance *b = calloc(max, sizeof *b);
    if (!b)
        return HEARTH_ENOMEM;
    int rc = hearth_ledger_balances(l, b, max, &nb);
    /* balances come in (counterparty, rail) order: sum each run of rails */
    for (size_t i = 0; rc == HEARTH_OK && i < nb;) {
        double v = 0;
        size_t j = i;
        for (; j < nb && !memcmp(b[j].counterparty, b[i].counterparty, 32);
             j++)
            v += traded_msat(&b[j]);
        if (v > 0 && memcmp(b[i].counterparty, our_pk, 32)) {
            memcpy(out[w].pubkey, b[i].counterparty, 32);
            out[w++].weight = prior_weight(v);
        }
        i = j;
    }
    free(b);
    *n = w;
    return rc;
}

/* ---- batching ---- */

/* The pool frees its event after the callback; the batch needs its own
 * (as in sync.c: field by field, cheaper than JSON). */
static hearth_event *copy_event(const hearth_event *ev)
{
    const char *vals[HEARTH_TAG_MAX_VALUES];
    size_t lens[HEARTH_TAG_MAX_VALUES];
    hearth_event *c;
    if (hearth_event_new(ev->kind, ev->created_at, ev->content.p,
                         ev->content.n, &c))
        return NULL;
    for (size_t t = 0; t < ev->ntags; t++) {
        const hearth_tag *tag = &ev->tags[t];
        for (size_t i = 0; i < tag->n; i++) {
            vals[i] = tag->v[i].p;
            lens[i] = tag->v[i].n;
        }
        if (hearth_event_add_tag(c, tag->n, vals, lens)) {
            hearth_event_free(c);
            return NULL;
        }
    }
    memcpy(c->id, ev->id, 32);
    memcpy(c->pubkey, ev->pubkey, 32);
    memcpy(c->sig, ev->sig, 64);
    c->has = ev->has;
    return c;
}

static void count(hearth_repsync_stats *st, const hearth_repstore_result *r)
{
    switch (r->status) {
    case HEARTH_REPSTORE_STORED:
        st->stored++;
        break;
    case HEARTH_REPSTORE_DUPLICATE:
        st->duplicate++;
        break;
    case HEARTH_REPSTORE_REJECTED:
        st->rejected++;
        break;
    case HEARTH_REPSTORE_TOO_OLD:
        st->too_old++;
        break;
    default:
        st->ignored++;
        break;
    }
}

int hearth_repsync_flush(hearth_repsync *r)
{
    size_t n = r->npending;
    if (r->batch_armed) {
        lws_sul_cancel(&r->batch_sul);
        r->batch_armed = 0;
    }
    if (!n)
        return HEARTH_OK;
    /* the pool verified ids and signatures already */
    int rc = hearth_repstore_ingest(r->store, r->pending, n,
                                    (int64_t)time(NULL), 1, r->res);
    r->st.batches++;
    for (size_t i = 0; i < n; i++) {
        if (rc)
            r->st.errors++;
        else
            count(&r->st, &r->res[i]);
        r->dirty |= !rc && r->res[i].status == HEARTH_REPSTORE_STORED;
        hearth_event_free(r->pending[i]);
    }
    r->npending = 0;
    return rc;
}

static void batch_cb(lws_sorted_usec_list_t *sul)
{
    hearth_repsync *r = lws_container_of(sul, hearth_repsync, batch_sul);
    r->batch_armed = 0;
    hearth_repsync_flush(r);
}

static int on_event(hearth_sub *sub, const hearth_event *ev,
                    const char *relay, void *user)
{
    hearth_repsync *r = user;
    hearth_event *c = copy_event(ev);
    (void)sub;
    (void)relay;
    r->st.events++;
    if (!c) {
        r->st.errors++; /* out of memory: this one is lost */
        return 0;
    }
    r->pending[r->npending++] = c;
    if (r->npending >= r->o.batch_max) {
        hearth_repsync_flush(r);
    } else if (!r->batch_armed) {
        lws_sul_schedule(hearth_loop_lws(r->loop), 0, &r->batch_sul,
                         batch_cb, (lws_usec_t)r->o.batch_ms * 1000);
        r->batch_armed = 1;
    }
    return 0;
}

/* ---- computation ---- */

/* The scores of res that differ from what the view has from us (res and
 * wr are both sorted by provider), and 0.5 for providers we scored
 * before that are gone now (their receipts aged out or were evicted). */
static int changes(hearth_repsync *r, const hearth_rep_result *res,
                   hearth_rep_result *ch)
{
    size_t i = 0, j = 0;
    memset(ch, 0, sizeof *ch);
    ch->scores = calloc(res->n + r->nwr + 1, sizeof *ch->scores);
    if (!ch->scores)
        return HEARTH_ENOMEM;
    while (i < res->n || j < r->nwr) {
        int c = i == res->n   ? 1
                : j == r->nwr ? -1
                              : memcmp(res->scores[i].provider,
                                       r->wr[j].pk, 32);
        if (c < 0 || (c == 0 && fabsf(res->scores[i].score - r->wr[j].score)
                                    >= WRITE_EPSILON))
            ch->scores[ch->n++] = res->scores[i];
        if (c > 0 && r->wr[j].score != 0.5f) {
            hearth_rep_score *s = &ch->scores[ch->n++];
            memcpy(s->provider, r->wr[j].pk, 32);
            s->score = 0.5f;
        }
        i += c <= 0;
        j += c >= 0;
    }
    return HEARTH_OK;
}

/* Remember what the view now holds from us: res's scores. */
static int remember(hearth_repsync *r, const hearth_rep_result *res)
{
    written *w = calloc(res->n + 1, sizeof *w);
    if (!w)
        return HEARTH_ENOMEM;
    for (size_t i = 0; i < res->n; i++) {
        memcpy(w[i].pk, res->scores[i].provider, 32);
        w[i].score = res->scores[i].score;
    }
    free(r->wr);
    r->wr = w;
    r->nwr = res->n;
    return HEARTH_OK;
}

static int write_view(hearth_repsync *r, const hearth_rep_result *res)
{
    hearth_rep_result ch;
    int rc = changes(r, res, &ch);
    if (rc)
        return rc;
    rc = hearth_rep_fill_view(r->view, &ch);
    r->st.last_written = ch.n;
    free(ch.scores);
    return rc ? rc : remember(r, res);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int64_t window_start(const hearth_repsync *r)
{
    if (r->o.since)
        return r->o.since;
    int64_t s = (int64_t)time(NULL) - (int64_t)r->o.window_s;
    return s < 0 ? 0 : s;
}

/* Read facts and priors, and score them into out. */
static int score(hearth_repsync *r, hearth_rep_result *out)
{
    size_t nf = 0, np = 0;
    hearth_rep_receipt *f = calloc(r->o.max_facts, sizeof *f);
    hearth_rep_prior *p = calloc(r->o.max_priors, sizeof *p);
    int rc = f && p ? HEARTH_OK : HEARTH_ENOMEM;
    if (rc == HEARTH_OK)
        rc = hearth_repstore_facts(r->store, window_start(r), f,
                                   r->o.max_facts, &nf);
    if (rc == HEARTH_OK)
        rc = hearth_repsync_priors(r->ledger, r->pk, p, r->o.max_priors, &np);
    if (rc == HEARTH_OK)
        rc = hearth_rep_compute(r->pk, f, nf, p, np, &r->o.params, out);
    r->st.last_facts = nf;
    r->st.last_priors = np;
    free(f);
    free(p);
    return rc;
}

int hearth_repsync_compute(hearth_repsync *r)
{
    hearth_rep_result res;
    uint64_t t0 = now_us();
    hearth_repsync_flush(r);
    memset(&res, 0, sizeof res);
    int rc = score(r, &res);
    if (rc == HEARTH_OK)
        rc = write_view(r, &res);
    r->st.last_us = now_us() - t0;
    r->st.computes++;
    r->dirty = 0;
    r->idle = 0;
    if (rc) {
        r->st.compute_errors++;
        hearth_rep_result_free(&res);
        return rc;
    }
    r->st.last_scores = res.n;
    hearth_rep_result_free(&r->last);
    r->last = res;
    if (r->o.on_scored)
        r->o.on_scored(r, &r->last, r->o.user);
    return HEARTH_OK;
}

static void timer_cb(lws_sorted_usec_list_t *sul)
{
    hearth_repsync *r = lws_container_of(sul, hearth_repsync, timer_sul);
    hearth_repsync_flush(r);
    if (r->dirty || ++r->idle >= IDLE_ROUNDS)
        hearth_repsync_compute(r);
    lws_sul_schedule(hearth_loop_lws(r->loop), 0, &r->timer_sul, timer_cb,
                     (lws_usec_t)r->o.interval_s * LWS_US_PER_SEC);
}

static void on_all_eose(hearth_sub *sub, void *user)
{
    hearth_repsync *r = user;
    (void)sub;
    hearth_repsync_compute(r);
    r->caught_up = 1;
    if (r->o.on_caught_up)
        r->o.on_caught_up(r, r->o.user);
}

/* ---- life cycle ---- */

static void fill_defaults(hearth_repsync_opts *o)
{
    hearth_repsync_opts d;
    hearth_repsync_opts_default(&d);
    if (!o->window_s)
        o->window_s = d.window_s;
    if (!o->interval_s)
        o->interval_s = d.interval_s;
    if (!o->batch_ms)
        o->batch_ms = d.batch_ms;
    if (!o->batch_max)
        o->batch_max = d.batch_max;
    if (!o->max_facts)
        o->max_facts = d.max_facts;
    if (!o->max_priors)
        o->max_priors = d.max_priors;
    if (o->params.damping == 0) /* never set: a zero damping is invalid */
        o->params = d.params;
}

int hearth_repsync_new(hearth_loop *loop, hearth_pool *pool,
                       hearth_view *view, hearth_ledger *ledger,
                       hearth_repstore *store, const uint8_t our_pk[32],
                       const hearth_repsync_opts *opts,
                       hearth_repsync **out)
{
    *out = NULL;
    if (!loop || !pool || !view || !store || !our_pk)
        return HEARTH_EINVAL;
    hearth_repsync *r = calloc(1, sizeof *r);
    if (!r)
        return HEARTH_ENOMEM;
    if (opts)
        r->o = *opts;
    else
        hearth_repsync_opts_default(&r->o);
    fill_defaults(&r->o);
    r->loop = loop;
    r->pool = pool;
    r->view = view;
    r->ledger = ledger;
    r->store = store;
    memcpy(r->pk, our_pk, 32);
    r->pending = calloc(r->o.batch_max, sizeof *r->pending);
    r->res = calloc(r->o.batch_max, sizeof *r->res);
    if (!r->pending || !r->res) {
        hearth_repsync_free(r);
        return HEARTH_ENOMEM;
    }
    *out = r;
    return HEARTH_OK;
}

int hearth_repsync_start(hearth_repsync *r)
{
    hearth_filter *f;
    if (r->started)
        return HEARTH_EINVAL;
    int rc = hearth_repsync_filter(window_start(r), &f);
    if (rc)
        return rc;
    hearth_sub_cbs cbs = {on_event, NULL, on_all_eose};
    rc = hearth_pool_sub(r->pool, &f, 1, &cbs, r, &r->sub);
    hearth_filter_free(f);
    if (rc)
        return rc;
    r->started = 1;
    lws_sul_schedule(hearth_loop_lws(r->loop), 0, &r->timer_sul, timer_cb,
                     (lws_usec_t)r->o.interval_s * LWS_US_PER_SEC);
    r->timer_armed = 1;
    return HEARTH_OK;
}

void hearth_repsync_free(hearth_repsync *r)
{
    if (!r)
        return;
    if (r->sub)
        hearth_pool_unsub(r->sub);
    if (r->pending)
        hearth_repsync_flush(r);
    if (r->timer_armed)
        lws_sul_cancel(&r->timer_sul);
    free(r->pending);
    free(r->res);
    free(r->wr);
    hearth_rep_result_free(&r->last);
    free(r);
}

const hearth_rep_result *hearth_repsync_result(const hearth_repsync *r)
{
    return &r->last;
}

int hearth_repsync_caught_up(const hearth_repsync *r)
{
    return r->caught_up;
}

const hearth_repsync_stats *hearth_repsync_get_stats(const hearth_repsync *r)
{
    return &r->st;
}

hearth_sub *hearth_repsync_sub(const hearth_repsync *r)
{
    return r->sub;
}
