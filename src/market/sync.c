/* Market sync: relay pool -> batches -> market view (docs/market-view.md,
 * "Sync"). */
#include "hearth/sync.h"

#include "hearth/error.h"
#include "hearth/kinds.h"
#include "hearth/offer.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hearth_sync {
    hearth_loop *loop;
    hearth_pool *pool;
    hearth_view *view;
    hearth_sync_opts o;
    hearth_sub *sub;
    hearth_event **pending;     /* batch_max slots */
    hearth_view_result *res;    /* batch_max verdicts */
    size_t npending;
    int batch_armed, caught_up;
    lws_sorted_usec_list_t batch_sul, purge_sul;
    hearth_sync_stats st;
};

void hearth_sync_opts_default(hearth_sync_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch_ms = 100;
    o->batch_max = 512;
    o->purge_ms = 60000;
    o->purge_max = 4096;
}

/* ---- pure parts ---- */

int hearth_sync_filters(const uint32_t *job_kinds, size_t n, int64_t since,
                        hearth_filter *out[2])
{
    hearth_buf b = HEARTH_BUF_INIT;
    int rc = HEARTH_EINVAL;
    out[0] = out[1] = NULL;
    if (n > HEARTH_SYNC_MAX_KINDS || since < 0 || since > HEARTH_MAX_TIMESTAMP)
        return HEARTH_EINVAL;
    hearth_buf_addf(&b, "{\"kinds\":[%u]", HEARTH_KIND_OFFER);
    for (size_t i = 0; i < n; i++)
        hearth_buf_addf(&b, "%s\"%u\"", i ? "," : ",\"#k\":[", job_kinds[i]);
    hearth_buf_addf(&b, "%s,\"since\":%lld}", n ? "]" : "",
                    (long long)since);
    if (!hearth_buf_error(&b))
        rc = hearth_filter_parse(b.p, b.len, &out[0], NULL);
    /* NIP-09 asks deletions to name the deleted kinds in k tags; hearth's
     * do. Asking for every kind 5 instead would pull each relay's whole
     * history of deletions of notes, reactions, ... */
    hearth_buf_reset(&b);
    hearth_buf_addf(&b, "{\"kinds\":[%u],\"#k\":[\"%u\"],\"since\":%lld}",
                    HEARTH_KIND_DELETION, HEARTH_KIND_OFFER, (long long)since);
    if (rc == HEARTH_OK)
        rc = hearth_buf_error(&b) ? HEARTH_ENOMEM
                                  : hearth_filter_parse(b.p, b.len, &out[1],
                                                        NULL);
    hearth_buf_free(&b);
    if (rc) {
        hearth_filter_free(out[0]);
        out[0] = NULL;
    }
    return rc;
}

static void count_reason(hearth_sync_stats *st, const char *why)
{
    if (!why)
        why = "";
    for (size_t i = 0; i < st->nreasons; i++)
        if (st->reasons[i].why == why || !strcmp(st->reasons[i].why, why)) {
            st->reasons[i].n++;
            return;
        }
    if (st->nreasons == HEARTH_SYNC_MAX_REASONS) {
        st->other_reasons++;
        return;
    }
    st->reasons[st->nreasons].why = why;
    st->reasons[st->nreasons++].n = 1;
}

void hearth_sync_count(hearth_sync_stats *st, const hearth_event *ev,
                       const hearth_view_result *r)
{
    (void)ev;
    switch (r->status) {
    case HEARTH_VIEW_STORED:
        st->stored++;
        st->replaced += r->replaced != 0;
        break;
    case HEARTH_VIEW_DUPLICATE:
        st->duplicate++;
        break;
    case HEARTH_VIEW_OLDER:
        st->older++;
        break;
    case HEARTH_VIEW_DELETION:
        st->deletions++;
        st->deleted += r->removed;
        break;
    case HEARTH_VIEW_DELETED:
        st->was_deleted++;
        break;
    case HEARTH_VIEW_REJECTED:
        st->rejected++;
        count_reason(st, r->why);
        break;
    case HEARTH_VIEW_RATE_LIMITED:
        st->rate_limited++;
        break;
    case HEARTH_VIEW_IGNORED:
        st->ignored++;
        break;
    default:
        st->errors++;
        break;
    }
}

/* ---- batching ---- */

/* The pool frees its event after the callback; the batch needs its own.
 * Built field by field: cheaper than printing and parsing JSON again. */
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

int hearth_sync_flush(hearth_sync *s)
{
    size_t n = s->npending;
    int rc;
    if (s->batch_armed) {
        lws_sul_cancel(&s->batch_sul);
        s->batch_armed = 0;
    }
    if (!n)
        return HEARTH_OK;
    rc = hearth_view_ingest(s->view, s->pending, n, (int64_t)time(NULL),
                            s->res);
    s->st.batches++;
    for (size_t i = 0; i < n; i++)
        hearth_sync_count(&s->st, s->pending[i], &s->res[i]);
    if (s->o.on_batch)
        s->o.on_batch(s, s->pending, s->res, n, s->o.user);
    for (size_t i = 0; i < n; i++)
        hearth_event_free(s->pending[i]);
    s->npending = 0;
    return rc;
}

static void batch_cb(lws_sorted_usec_list_t *sul)
{
    hearth_sync *s = lws_container_of(sul, hearth_sync, batch_sul);
    s->batch_armed = 0;
    hearth_sync_flush(s);
}

static int on_event(hearth_sub *sub, const hearth_event *ev,
                    const char *relay, void *user)
{
    hearth_sync *s = user;
    hearth_event *c = copy_event(ev);
    (void)sub;
    (void)relay;
    s->st.events++;
    if (!c) {
        s->st.errors++; /* out of memory: this one is lost */
        return 0;
    }
    if (ev->created_at > s->st.newest)
        s->st.newest = ev->created_at;
    s->pending[s->npending++] = c;
    if (s->npending >= s->o.batch_max) {
        hearth_sync_flush(s);
    } else if (!s->batch_armed) {
        lws_sul_schedule(hearth_loop_lws(s->loop), 0, &s->batch_sul,
                         batch_cb, (lws_usec_t)s->o.batch_ms * 1000);
        s->batch_armed = 1;
    }
    return 0;
}

/* ---- purge ---- */

int hearth_sync_purge(hearth_sync *s, int64_t now)
{
    size_t purged;
    int rc;
    do {
        purged = 0;
        rc = hearth_view_purge_expired(s->view, now, s->o.purge_max,
                                       &purged);
        s->st.expired += purged;
    } while (rc == HEARTH_OK && purged == s->o.purge_max);
    return rc;
}

static void purge_cb(lws_sorted_usec_list_t *sul)
{
    hearth_sync *s = lws_container_of(sul, hearth_sync, purge_sul);
    size_t purged = 0;
    int rc = hearth_view_purge_expired(s->view, (int64_t)time(NULL),
                                       s->o.purge_max, &purged);
    s->st.expired += purged;
    /* a full transaction means more may be waiting: go on at once, one
     * bounded step per loop turn, so the loop keeps serving */
    lws_usec_t next = rc == HEARTH_OK && purged == s->o.purge_max
                          ? 1
                          : (lws_usec_t)s->o.purge_ms * 1000;
    lws_sul_schedule(hearth_loop_lws(s->loop), 0, &s->purge_sul, purge_cb,
                     next);
}

static void on_all_eose(hearth_sub *sub, void *user)
{
    hearth_sync *s = user;
    (void)sub;
    hearth_sync_flush(s);
    hearth_sync_purge(s, (int64_t)time(NULL));
    s->caught_up = 1;
    if (s->o.on_caught_up)
        s->o.on_caught_up(s, s->o.user);
}

/* ---- life cycle ---- */

int hearth_sync_new(hearth_loop *loop, hearth_pool *pool, hearth_view *view,
                    const hearth_sync_opts *opts, hearth_sync **out)
{
    hearth_filter *f[2];
    hearth_sync *s;
    hearth_sync_opts d;
    *out = NULL;
    hearth_sync_opts_default(&d);
    if (!opts)
        opts = &d;
    s = calloc(1, sizeof *s);
    if (!s)
        return HEARTH_ENOMEM;
    s->loop = loop;
    s->pool = pool;
    s->view = view;
    s->o = *opts;
    if (!s->o.batch_ms)
        s->o.batch_ms = d.batch_ms;
    if (!s->o.batch_max)
        s->o.batch_max = d.batch_max;
    if (!s->o.purge_ms)
        s->o.purge_ms = d.purge_ms;
    if (!s->o.purge_max)
        s->o.purge_max = d.purge_max;
    int64_t since = s->o.since ? s->o.since
                               : (int64_t)time(NULL) - HEARTH_OFFER_MAX_TTL_S;
    s->pending = calloc(s->o.batch_max, sizeof *s->pending);
    s->res = calloc(s->o.batch_max, sizeof *s->res);
    int rc = s->pending && s->res ? HEARTH_OK : HEARTH_ENOMEM;
    if (rc == HEARTH_OK)
        rc = hearth_sync_filters(s->o.job_kinds, s->o.njob_kinds,
                                 since < 0 ? 0 : since, f);
    if (rc == HEARTH_OK) {
        hearth_sub_cbs cbs = {on_event, NULL, on_all_eose};
        rc = hearth_pool_sub(pool, f, 2, &cbs, s, &s->sub);
        hearth_filter_free(f[0]);
        hearth_filter_free(f[1]);
    }
    if (rc) {
        free(s->pending);
        free(s->res);
        free(s);
        return rc;
    }
    lws_sul_schedule(hearth_loop_lws(loop), 0, &s->purge_sul, purge_cb,
                     (lws_usec_t)s->o.purge_ms * 1000);
    *out = s;
    return HEARTH_OK;
}

void hearth_sync_free(hearth_sync *s)
{
    if (!s)
        return;
    hearth_pool_unsub(s->sub);
    hearth_sync_flush(s);
    lws_sul_cancel(&s->purge_sul);
    free(s->pending);
    free(s->res);
    free(s);
}

int hearth_sync_caught_up(const hearth_sync *s)
{
    return s->caught_up;
}

const hearth_sync_stats *hearth_sync_get_stats(const hearth_sync *s)
{
    return &s->st;
}

hearth_sub *hearth_sync_sub(const hearth_sync *s)
{
    return s->sub;
}
