/* Subscriptions: REQ on every relay (queued past max_subscriptions),
 * resumed after reconnects with `since`, per-relay EOSE and the all-EOSE
 * notification, strict checking and de-duplication of incoming events, and
 * the queue that holds verified events while the application is busy. */
#include "pool_internal.h"

#include "hearth/error.h"
#include "hearth/message.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void set_state(hearth_sub *s, struct pool_relay *r,
                      enum hearth_sub_state st, const char *msg)
{
    struct sub_at *a = &s->at[r->index];
    if (a->state == st)
        return;
    a->state = st;
    snprintf(a->message, sizeof a->message, "%s", msg ? msg : "");
    if (!s->dead && s->cbs.on_state)
        s->cbs.on_state(s, r->url, st, a->message, s->user);
}

static void fire_all_eose(hearth_sub *s)
{
    s->eose_pending = 0;
    s->all_eose = 1;
    if (s->cbs.on_all_eose)
        s->cbs.on_all_eose(s, s->user);
}

/* All EOSE is announced only after the events queued before it reached
 * the application, so "all stored events are in" means just that. */
static void check_all_eose(hearth_sub *s)
{
    hearth_pool *p = s->pool;
    if (s->all_eose || s->eose_pending || s->dead || p->nrelays == 0)
        return;
    for (size_t i = 0; i < p->nrelays; i++)
        if (s->at[i].state < HEARTH_SUB_EOSE)
            return;
    if (s->refs)
        s->eose_pending = 1;
    else
        fire_all_eose(s);
}

/* the state a subscription starts in at a relay */
static enum hearth_sub_state initial_state(const struct pool_relay *r)
{
    if (r->state == HEARTH_RELAY_COOLING ||
        (r->state == HEARTH_RELAY_IDLE && r->attempt > 0))
        return HEARTH_SUB_FAILED;
    return HEARTH_SUB_PENDING;
}

static int copy_filter(const hearth_filter *f, hearth_filter **out)
{
    hearth_buf b = HEARTH_BUF_INIT;
    int rc = hearth_filter_to_json(f, &b);
    if (rc == HEARTH_OK)
        rc = hearth_buf_error(&b);
    if (rc == HEARTH_OK)
        rc = hearth_filter_parse(b.p, b.len, out, NULL);
    hearth_buf_free(&b);
    return rc;
}

static void sub_free(hearth_sub *s)
{
    for (size_t i = 0; i < s->nfilters; i++)
        hearth_filter_free(s->filters[i]);
    free(s->filters);
    pool_seen_free(&s->seen);
    free(s);
}

int hearth_pool_sub(hearth_pool *p, hearth_filter *const *filters, size_t n,
                    const hearth_sub_cbs *cbs, void *user, hearth_sub **out)
{
    *out = NULL;
    if (!n || n > HEARTH_MSG_MAX_FILTERS || !cbs || !cbs->on_event)
        return HEARTH_EINVAL;
    hearth_sub *s = calloc(1, sizeof *s);
    if (!s)
        return HEARTH_ENOMEM;
    s->filters = calloc(n, sizeof *s->filters);
    int rc = s->filters ? HEARTH_OK : HEARTH_ENOMEM;
    for (size_t i = 0; i < n && rc == HEARTH_OK; i++, s->nfilters++)
        rc = copy_filter(filters[i], &s->filters[i]);
    if (rc == HEARTH_OK)
        rc = pool_seen_init(&s->seen, p->o.seen_cap ? p->o.seen_cap : 65536);
    if (rc) {
        sub_free(s);
        return rc;
    }
    s->pool = p;
    s->cbs = *cbs;
    s->user = user;
    snprintf(s->subid, sizeof s->subid, "hearth-%" PRIu64, ++p->next_subid);
    s->next = p->subs;
    if (p->subs)
        p->subs->prev = s;
    p->subs = s;
    for (size_t i = 0; i < p->nrelays; i++) {
        s->at[i].state = initial_state(p->relays[i]);
        pool_want_write(p->relays[i]);
    }
    *out = s;
    return HEARTH_OK;
}

void pool_sub_add_relay(hearth_pool *p, struct pool_relay *r)
{
    for (hearth_sub *s = p->subs; s; s = s->next)
        memset(&s->at[r->index], 0, sizeof s->at[r->index]);
}

void hearth_pool_unsub(hearth_sub *s)
{
    if (!s || s->dead)
        return;
    s->dead = 1;
    hearth_pool *p = s->pool;
    for (size_t i = 0; i < p->nrelays; i++) {
        if (!s->at[i].sent || p->relays[i]->state != HEARTH_RELAY_OPEN)
            continue;
        s->at[i].need_close = 1;
        pool_want_write(p->relays[i]);
    }
}

enum hearth_sub_state hearth_sub_relay_state(const hearth_sub *s, size_t i,
                                             const char **message)
{
    if (i >= s->pool->nrelays)
        return HEARTH_SUB_FAILED;
    if (message)
        *message = s->at[i].message;
    return s->at[i].state;
}

/* Freed only from the tick, so no callback can free a subscription that a
 * loop over the list is still looking at. */
void pool_sub_reap(hearth_pool *p)
{
    hearth_sub *s = p->subs;
    while (s) {
        hearth_sub *next = s->next;
        int busy = !s->dead || s->refs;
        for (size_t i = 0; i < p->nrelays && !busy; i++)
            busy = s->at[i].need_close;
        if (!busy) {
            if (s->prev)
                s->prev->next = s->next;
            else
                p->subs = s->next;
            if (s->next)
                s->next->prev = s->prev;
            sub_free(s);
        }
        s = next;
    }
}

void pool_sub_release(hearth_sub *s)
{
    if (!s || !s->refs)
        return;
    s->refs--;
    if (!s->refs && s->eose_pending && !s->dead && !s->pool->freeing)
        fire_all_eose(s);
}

void pool_sub_free_all(hearth_pool *p)
{
    while (p->subs) {
        hearth_sub *n = p->subs->next;
        sub_free(p->subs);
        p->subs = n;
    }
}

static hearth_sub *find_sub(hearth_pool *p, const char *subid)
{
    for (hearth_sub *s = p->subs; s; s = s->next)
        if (!strcmp(s->subid, subid))
            return s;
    return NULL;
}

/* ---- relay up / down ---- */

void pool_sub_relay_up(struct pool_relay *r)
{
    for (hearth_sub *s = r->pool->subs; s; s = s->next) {
        struct sub_at *a = &s->at[r->index];
        a->sent = a->need_close = a->waiting_auth = 0;
        if (!s->dead && a->state != HEARTH_SUB_CLOSED)
            set_state(s, r, HEARTH_SUB_PENDING, NULL);
    }
}

void pool_sub_relay_down(struct pool_relay *r, const char *why)
{
    for (hearth_sub *s = r->pool->subs; s; s = s->next) {
        struct sub_at *a = &s->at[r->index];
        a->sent = a->need_close = a->waiting_auth = 0;
        if (s->dead || a->state == HEARTH_SUB_CLOSED)
            continue;
        set_state(s, r, HEARTH_SUB_FAILED, why);
        check_all_eose(s);
    }
}

/* ---- outbound ---- */

/* REQ with since moved up to where this relay left off. Only after an
 * EOSE: stored events come newest first, so before it the newest event
 * seen says nothing about older ones still missing. */
static int build_req(const struct pool_relay *r, const hearth_sub *s,
                     hearth_buf *out)
{
    const struct sub_at *a = &s->at[r->index];
    int64_t since = -1;
    if (a->eosed_once) {
        since = a->newest > a->eose_wall ? a->newest : a->eose_wall;
        since -= r->pool->o.resume_margin_s;
        if (since < 0)
            since = 0;
    }
    int saved_has[HEARTH_MSG_MAX_FILTERS];
    int64_t saved[HEARTH_MSG_MAX_FILTERS];
    for (size_t i = 0; i < s->nfilters; i++) {
        hearth_filter *f = s->filters[i];
        saved_has[i] = f->has_since;
        saved[i] = f->since;
        if (since >= 0 && (!f->has_since || f->since < since)) {
            f->has_since = 1;
            f->since = since;
        }
    }
    int rc = hearth_msg_build_req(s->subid, s->filters, s->nfilters, out);
    for (size_t i = 0; i < s->nfilters; i++) {
        s->filters[i]->has_since = saved_has[i];
        s->filters[i]->since = saved[i];
    }
    return rc;
}

static int slot_free(const struct pool_relay *r)
{
    int64_t max = r->lim.max_subscriptions;
    return max <= 0 || r->nsent_reqs < (uint64_t)max;
}

static int send_close(struct pool_relay *r, hearth_buf *out)
{
    for (hearth_sub *s = r->pool->subs; s; s = s->next) {
        struct sub_at *a = &s->at[r->index];
        if (!a->need_close)
            continue;
        a->need_close = 0;
        if (a->sent) {
            a->sent = 0;
            r->nsent_reqs--;
        }
        return hearth_msg_build_close(s->subid, out) == HEARTH_OK;
    }
    return 0;
}

int pool_sub_next_msg(struct pool_relay *r, hearth_buf *out)
{
    if (send_close(r, out))
        return 1;
    size_t start = out->len;
    int64_t max_len = r->lim.max_message_length;
    for (hearth_sub *s = r->pool->subs; s && slot_free(r); s = s->next) {
        struct sub_at *a = &s->at[r->index];
        if (s->dead || a->state != HEARTH_SUB_PENDING || a->waiting_auth)
            continue;
        if (build_req(r, s, out))
            return 0;
        size_t n = out->len - start;
        if (max_len > 0 && n > (uint64_t)max_len) {
            char why[160];
            out->len = start;
            out->p[start] = '\0';
            snprintf(why, sizeof why, "failed: REQ of %zu bytes is over the "
                     "relay's max_message_length %" PRId64, n, max_len);
            set_state(s, r, HEARTH_SUB_CLOSED, why);
            check_all_eose(s);
            continue;
        }
        a->sent = 1;
        r->nsent_reqs++;
        set_state(s, r, HEARTH_SUB_SENT, NULL);
        return 1;
    }
    return 0;
}

/* ---- inbound ---- */

static int deliver(hearth_sub *s, const hearth_event *ev,
                   struct pool_relay *r)
{
    int rc = s->cbs.on_event(s, ev, r->url, s->user);
    if (rc == 0)
        r->st.events_delivered++;
    return rc;
}

static void enqueue(struct pool_relay *r, hearth_sub *s, hearth_event *ev,
                    size_t bytes)
{
    hearth_pool *p = r->pool;
    struct pool_inq *q = calloc(1, sizeof *q);
    if (!q) {
        /* cannot hold it: stop reading rather than lose more */
        hearth_event_free(ev);
        pool_relay_error(r, "out of memory queueing an event");
        pool_conn_pause(r, POOL_PAUSE_APP);
        return;
    }
    q->sub = s;
    q->ev = ev;
    q->bytes = bytes;
    s->refs++;
    if (r->inq_tail)
        r->inq_tail->next = q;
    else
        r->inq = q;
    r->inq_tail = q;
    r->inq_len++;
    r->inq_bytes += bytes;
    if (r->inq_len > r->st.queued_max)
        r->st.queued_max = r->inq_len;
    if (r->inq_len >= p->o.max_in_events ||
        r->inq_bytes >= POOL_INQ_MAX_BYTES)
        pool_conn_pause(r, POOL_PAUSE_APP);
}

static void accept_event(struct pool_relay *r, hearth_sub *s,
                         hearth_event *ev, size_t bytes)
{
    hearth_pool *p = r->pool;
    if (!p->app_busy && !r->inq) {
        if (deliver(s, ev, r) == 0) {
            hearth_event_free(ev);
            return;
        }
        p->app_busy = 1;
    } else if (!p->app_busy) {
        pool_schedule_drain(p);
    }
    enqueue(r, s, ev, bytes);
}

static int verified(struct pool_relay *r, hearth_sub *s,
                    const hearth_event *ev)
{
    const char *why = NULL;
    char buf[200];
    int rc = hearth_event_verify(ev, &why);
    if (rc) {
        if (rc == HEARTH_EBADID)
            r->st.bad_id++;
        else
            r->st.bad_sig++;
        snprintf(buf, sizeof buf, "forged event: %s",
                 why ? why : hearth_strerror(rc));
        pool_penalize(r, 10, buf);
        return 0;
    }
    if (!hearth_filter_match_any(s->filters, s->nfilters, ev)) {
        /* a buggy relay more often than a hostile one (some skip tag
         * conditions): a lighter penalty, but it adds up */
        r->st.unmatched++;
        pool_penalize(r, 3, "event does not match the subscription");
        return 0;
    }
    return 1;
}

/* 1 if subid is one this pool issued at some point: events for it may
 * still be on the wire after the subscription was closed and freed */
static int ours_once(const hearth_pool *p, const char *subid)
{
    char *end;
    if (strncmp(subid, "hearth-", 7) || !isdigit((unsigned char)subid[7]))
        return 0;
    unsigned long long n = strtoull(subid + 7, &end, 10);
    return !*end && n >= 1 && n <= p->next_subid;
}

void pool_sub_on_event(struct pool_relay *r, hearth_msg *m)
{
    r->st.events_in++;
    hearth_sub *s = find_sub(r->pool, m->subid);
    if (!s) {
        if (ours_once(r->pool, m->subid))
            return;
        r->st.unknown_sub++;
        pool_penalize(r, 5, "event for a subscription never sent");
        return;
    }
    struct sub_at *a = &s->at[r->index];
    /* events may cross our CLOSE on the wire: ignore them, no blame */
    if (s->dead || (a->state != HEARTH_SUB_SENT &&
                    a->state != HEARTH_SUB_EOSE))
        return;
    hearth_event *ev = m->event;
    /* a forgery reusing a known id is dropped here unread, which is safe:
     * only verified events ever enter the set */
    if (pool_seen_has(&s->seen, ev->id)) {
        r->st.duplicates++;
        return;
    }
    if (!verified(r, s, ev))
        return;
    if (pool_seen_add(&s->seen, ev->id))
        return;
    if (ev->created_at > a->newest)
        a->newest = ev->created_at;
    m->event = NULL;
    accept_event(r, s, ev, r->rx.len);
}

void pool_sub_on_eose(struct pool_relay *r, const char *subid)
{
    hearth_sub *s = find_sub(r->pool, subid);
    if (!s || s->dead || s->at[r->index].state != HEARTH_SUB_SENT)
        return;
    s->at[r->index].eosed_once = 1;
    s->at[r->index].eose_wall = (int64_t)time(NULL);
    set_state(s, r, HEARTH_SUB_EOSE, NULL);
    check_all_eose(s);
}

void pool_sub_on_closed(struct pool_relay *r, const char *subid,
                        const char *message)
{
    hearth_pool *p = r->pool;
    hearth_sub *s = find_sub(p, subid);
    if (!s)
        return;
    struct sub_at *a = &s->at[r->index];
    if (a->sent) {
        a->sent = 0;
        r->nsent_reqs--;
    }
    pool_want_write(r); /* a slot is free for a queued REQ */
    if (s->dead || a->state == HEARTH_SUB_CLOSED)
        return;
    if (hearth_prefix_parse(message) == HEARTH_PREFIX_AUTH_REQUIRED &&
        p->has_key && !a->auth_retried) {
        a->auth_retried = 1;
        a->waiting_auth = r->auth != AUTH_OK;
        set_state(s, r, HEARTH_SUB_PENDING, message);
        return;
    }
    set_state(s, r, HEARTH_SUB_CLOSED, message);
    check_all_eose(s);
}

void pool_sub_after_auth(struct pool_relay *r, int ok)
{
    for (hearth_sub *s = r->pool->subs; s; s = s->next) {
        struct sub_at *a = &s->at[r->index];
        if (!a->waiting_auth)
            continue;
        a->waiting_auth = 0;
        if (!ok) {
            set_state(s, r, HEARTH_SUB_CLOSED,
                      "auth-required: our AUTH was refused");
            check_all_eose(s);
        }
    }
}

/* Hand queued events to the application, relays in turn, until it is
 * busy again or every queue is empty; reading resumes below half full. */
void pool_sub_drain(hearth_pool *p)
{
    int progress = 1;
    while (!p->app_busy && progress) {
        progress = 0;
        for (size_t k = 0; k < p->nrelays && !p->app_busy; k++) {
            struct pool_relay *r = p->relays[(p->rr + k) % p->nrelays];
            struct pool_inq *q = r->inq;
            if (!q)
                continue;
            if (!q->sub->dead && deliver(q->sub, q->ev, r) != 0) {
                p->app_busy = 1;
                p->rr = (p->rr + k) % p->nrelays;
                break;
            }
            r->inq = q->next;
            if (!r->inq)
                r->inq_tail = NULL;
            r->inq_len--;
            r->inq_bytes -= q->bytes;
            pool_sub_release(q->sub);
            hearth_event_free(q->ev);
            free(q);
            progress = 1;
            if (r->inq_len <= p->o.max_in_events / 2)
                pool_conn_unpause(r, POOL_PAUSE_APP);
        }
    }
}
