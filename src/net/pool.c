/* The relay pool object: its lws vhost and protocol, the periodic tick
 * that drives reconnects, retries and timeouts, misbehaviour scoring and
 * statistics. Connections live in pool_conn.c, NIP-11 in pool_nip11.c,
 * subscriptions in pool_sub.c and publishing in pool_pub.c. */
#include "pool_internal.h"

#include "hearth/error.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One tick drives every timer of the pool (reconnects, NIP-11 and AUTH
 * waits, publish retries and deadlines, cooling-off): a fixed 100 ms step
 * is far below any of those delays and keeps the timing code in one place. */
#define POOL_TICK_MS 100

#define RX_BUFFER 65536

static int pool_callback(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len);

static const struct lws_protocols pool_protocols[] = {
    {"hearth-pool", pool_callback, 0, RX_BUFFER, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}
};

void hearth_pool_opts_default(hearth_pool_opts *o)
{
    memset(o, 0, sizeof *o);
    o->backoff_min_ms = 500;
    o->backoff_max_ms = 60000;
    o->nip11_timeout_ms = 5000;
    o->seen_cap = 65536;
    o->max_in_events = 1024;
    o->max_pub_bytes = 64u << 20;
    o->pub_attempts = 5;
    o->pub_timeout_ms = 30000;
    o->flood_per_s = 20000;
    o->drop_score = 100;
    o->cooloff_ms = 300000;
    o->resume_margin_s = 60;
}

int64_t pool_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pool_relay_error(struct pool_relay *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->last_error, sizeof r->last_error, fmt, ap);
    va_end(ap);
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    hearth_pool *p = lws_container_of(sul, hearth_pool, tick);
    int64_t now = pool_now_ms();
    for (size_t i = 0; i < p->nrelays; i++)
        pool_conn_tick(p->relays[i], now);
    pool_pub_tick(p, now);
    pool_pub_reap(p);
    pool_sub_reap(p);
    if (!p->app_busy)
        pool_sub_drain(p);
    pool_schedule_tick(p, POOL_TICK_MS);
}

void pool_schedule_tick(hearth_pool *p, uint32_t ms)
{
    lws_sul_schedule(p->ctx, 0, &p->tick, tick_cb, (lws_usec_t)ms * 1000);
}

static void drain_cb(lws_sorted_usec_list_t *sul)
{
    hearth_pool *p = lws_container_of(sul, hearth_pool, drain);
    pool_sub_drain(p);
}

void pool_schedule_drain(hearth_pool *p)
{
    /* not inline: the caller may be deep inside its own processing */
    lws_sul_schedule(p->ctx, 0, &p->drain, drain_cb, 1);
}

void hearth_pool_resume(hearth_pool *p)
{
    p->app_busy = 0;
    pool_schedule_drain(p);
}

void pool_want_write(struct pool_relay *r)
{
    if (r->wsi && r->state == HEARTH_RELAY_OPEN && !r->closing)
        lws_callback_on_writable(r->wsi);
}

static int create_vhost(hearth_pool *p)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = pool_protocols;
    info.vhost_name = "hearth-pool";
    info.user = p;
    /* lets lws build this vhost's client TLS context; the CA bundle is
     * what wss:// certificates are checked against */
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.client_ssl_ca_filepath = p->ca_file;
    p->vh = lws_create_vhost(p->ctx, &info);
    return p->vh ? HEARTH_OK : HEARTH_EIO;
}

/* zero means "the default" wherever zero would make no sense */
static void merge_opts(hearth_pool_opts *d, const hearth_pool_opts *o)
{
#define TAKE(f) if (o->f) d->f = o->f
    TAKE(backoff_min_ms);
    TAKE(backoff_max_ms);
    TAKE(seen_cap);
    TAKE(max_in_events);
    TAKE(max_pub_bytes);
    TAKE(pub_attempts);
    TAKE(pub_timeout_ms);
    TAKE(flood_per_s);
    TAKE(drop_score);
    TAKE(cooloff_ms);
#undef TAKE
    d->sk = o->sk;
    d->ca_file = o->ca_file;
    d->nip11_timeout_ms = o->nip11_timeout_ms;
    d->resume_margin_s = o->resume_margin_s;
    d->on_wake = o->on_wake;
    d->user = o->user;
}

int hearth_pool_new(hearth_loop *loop, const hearth_pool_opts *opts,
                    hearth_pool **out)
{
    *out = NULL;
    if (!loop)
        return HEARTH_EINVAL;
    if (sodium_init() < 0)
        return HEARTH_ECRYPTO;
    hearth_pool *p = calloc(1, sizeof *p);
    if (!p)
        return HEARTH_ENOMEM;
    hearth_pool_opts_default(&p->o);
    if (opts)
        merge_opts(&p->o, opts);
    if (p->o.sk) {
        memcpy(p->sk, p->o.sk, 32);
        p->has_key = 1;
        p->o.sk = NULL;
    }
    snprintf(p->ca_file, sizeof p->ca_file, "%s",
             p->o.ca_file ? p->o.ca_file : HEARTH_POOL_CA_FILE);
    p->o.ca_file = NULL;
    p->loop = loop;
    p->ctx = hearth_loop_lws(loop);
    if (create_vhost(p)) {
        free(p);
        return HEARTH_EIO;
    }
    pool_schedule_tick(p, POOL_TICK_MS);
    *out = p;
    return HEARTH_OK;
}

static void relay_free(struct pool_relay *r)
{
    struct pool_inq *q = r->inq;
    while (q) {
        struct pool_inq *n = q->next;
        hearth_event_free(q->ev);
        pool_sub_release(q->sub);
        free(q);
        q = n;
    }
    hearth_event_free(r->auth_ev);
    hearth_buf_free(&r->rx);
    hearth_buf_free(&r->tx);
    hearth_buf_free(&r->nip11);
    free(r->url);
    free(r);
}

void hearth_pool_free(hearth_pool *p)
{
    if (!p)
        return;
    p->freeing = 1;
    for (size_t i = 0; i < p->nrelays; i++)
        pool_conn_kill(p->relays[i]);
    lws_sul_cancel(&p->tick);
    lws_sul_cancel(&p->drain);
    /* every wsi of the vhost is closed by now, so lws frees it at once
     * and never calls back into the pool again */
    lws_vhost_destroy(p->vh);
    pool_pub_free_all(p);
    for (size_t i = 0; i < p->nrelays; i++)
        relay_free(p->relays[i]);
    pool_sub_free_all(p);
    sodium_memzero(p->sk, sizeof p->sk);
    free(p);
}

int hearth_pool_add_relay(hearth_pool *p, const char *url, size_t *index)
{
    hearth_buf u = HEARTH_BUF_INIT;
    int rc = hearth_relay_url_normalize(url, &u);
    if (rc) {
        hearth_buf_free(&u);
        return rc;
    }
    for (size_t i = 0; i < p->nrelays; i++)
        if (!strcmp(p->relays[i]->url, u.p)) {
            hearth_buf_free(&u);
            if (index)
                *index = i;
            return HEARTH_OK;
        }
    if (p->nrelays >= HEARTH_POOL_MAX_RELAYS) {
        hearth_buf_free(&u);
        return HEARTH_ETOOBIG;
    }
    struct pool_relay *r = calloc(1, sizeof *r);
    if (!r) {
        hearth_buf_free(&u);
        return HEARTH_ENOMEM;
    }
    r->url = u.p; /* the buffer's memory becomes the string */
    if (pool_url_split(r->url, &r->u)) {
        relay_free(r);
        return HEARTH_EINVAL;
    }
    r->pool = p;
    r->index = p->nrelays;
    r->ws_tag = (struct pool_tag){POOL_WSI_WS, r};
    r->http_tag = (struct pool_tag){POOL_WSI_HTTP, r};
    r->cooloff_ms = p->o.cooloff_ms ? p->o.cooloff_ms : 300000;
    r->st.url = r->url;
    r->next_connect = pool_now_ms(); /* from the next tick, not from here */
    p->relays[p->nrelays++] = r;
    pool_sub_add_relay(p, r);
    if (index)
        *index = r->index;
    return HEARTH_OK;
}

size_t hearth_pool_nrelays(const hearth_pool *p)
{
    return p->nrelays;
}

size_t hearth_pool_pending(const hearth_pool *p)
{
    return p->npubs;
}

/* Scores decay by one point a second, so rare hiccups of an honest relay
 * never add up to a drop while a burst of forgeries does. */
static void decay(struct pool_relay *r, int64_t now)
{
    int64_t secs = (now - r->score_at) / 1000;
    if (secs <= 0)
        return;
    r->score = secs >= r->score ? 0 : r->score - (uint32_t)secs;
    r->score_at += secs * 1000;
}

void pool_penalize(struct pool_relay *r, uint32_t points, const char *why)
{
    hearth_pool *p = r->pool;
    int64_t now = pool_now_ms();
    decay(r, now);
    if (r->score == 0)
        r->score_at = now;
    r->score += points;
    pool_relay_error(r, "%s", why);
    if (r->score < (p->o.drop_score ? p->o.drop_score : 100) ||
        r->state == HEARTH_RELAY_COOLING)
        return;
    r->st.drops++;
    pool_relay_error(r, "dropped for misbehaviour (score %u, last: %s); "
                     "cooling off %u s", r->score, why, r->cooloff_ms / 1000);
    r->cooling_until = now + r->cooloff_ms;
    if (r->cooloff_ms < 86400000u / 2)
        r->cooloff_ms *= 2;
    pool_conn_drop(r);
}

int hearth_pool_relay_stats(const hearth_pool *p, size_t i,
                            hearth_pool_relay_info *out)
{
    if (i >= p->nrelays)
        return HEARTH_EINVAL;
    struct pool_relay *r = p->relays[i];
    int64_t now = pool_now_ms();
    decay(r, now);
    *out = r->st;
    out->url = r->url;
    out->state = r->state;
    out->limits = r->lim;
    out->authenticated = r->auth == AUTH_OK;
    out->score = r->score;
    out->cooling_ms = r->state == HEARTH_RELAY_COOLING &&
                      r->cooling_until > now ? r->cooling_until - now : 0;
    out->last_error = r->last_error;
    out->queued = r->inq_len;
    return HEARTH_OK;
}

static const char *state_name(enum hearth_relay_state s)
{
    static const char *const names[] = {"idle", "nip11", "connecting",
                                        "open", "cooling"};
    return (unsigned)s < 5 ? names[s] : "?";
}

static void stats_one_json(const hearth_pool_relay_info *s, hearth_buf *b)
{
    hearth_buf_adds(b, "{\"url\":");
    hearth_buf_addjson(b, s->url, strlen(s->url));
    hearth_buf_addf(b, ",\"state\":\"%s\",\"authenticated\":%s,"
                    "\"nip11\":%s,\"connects\":%llu,\"disconnects\":%llu,"
                    "\"connect_failures\":%llu,\"msgs_in\":%llu,"
                    "\"bytes_in\":%llu,\"msgs_out\":%llu,\"bytes_out\":%llu,"
                    "\"events_in\":%llu,\"events_delivered\":%llu,"
                    "\"duplicates\":%llu,\"bad_json\":%llu,\"bad_id\":%llu,"
                    "\"bad_sig\":%llu,\"unmatched\":%llu,"
                    "\"unknown_sub\":%llu,\"floods\":%llu,"
                    "\"oversized\":%llu,\"notices\":%llu,\"paused\":%llu,"
                    "\"queued\":%u,\"queued_max\":%u,\"score\":%u,\"drops\":%u,\"cooling_ms\":%lld,"
                    "\"last_error\":",
                    state_name(s->state), s->authenticated ? "true" : "false",
                    s->limits.fetched ? "true" : "false",
                    (unsigned long long)s->connects,
                    (unsigned long long)s->disconnects,
                    (unsigned long long)s->connect_failures,
                    (unsigned long long)s->msgs_in,
                    (unsigned long long)s->bytes_in,
                    (unsigned long long)s->msgs_out,
                    (unsigned long long)s->bytes_out,
                    (unsigned long long)s->events_in,
                    (unsigned long long)s->events_delivered,
                    (unsigned long long)s->duplicates,
                    (unsigned long long)s->bad_json,
                    (unsigned long long)s->bad_id,
                    (unsigned long long)s->bad_sig,
                    (unsigned long long)s->unmatched,
                    (unsigned long long)s->unknown_sub,
                    (unsigned long long)s->floods,
                    (unsigned long long)s->oversized,
                    (unsigned long long)s->notices,
                    (unsigned long long)s->paused, s->queued, s->queued_max,
                    s->score, s->drops,
                    (long long)s->cooling_ms);
    hearth_buf_addjson(b, s->last_error, strlen(s->last_error));
    hearth_buf_addc(b, '}');
}

int hearth_pool_stats_json(const hearth_pool *p, hearth_buf *out)
{
    hearth_pool_relay_info s;
    hearth_buf_addc(out, '[');
    for (size_t i = 0; i < p->nrelays; i++) {
        hearth_pool_relay_stats(p, i, &s);
        if (i)
            hearth_buf_addc(out, ',');
        stats_one_json(&s, out);
    }
    hearth_buf_addc(out, ']');
    return hearth_buf_error(out);
}

static int pool_callback(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len)
{
    struct pool_tag *tag = user;
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        struct lws_vhost *vh = lws_get_vhost(wsi);
        hearth_pool *p = vh ? lws_get_vhost_user(vh) : NULL;
        if (p && !p->freeing && p->o.on_wake)
            p->o.on_wake(p->o.user);
        return 0;
    }
    /* connections always carry a tag; vhost-level callbacks do not */
    if (!tag || (tag->kind != POOL_WSI_WS && tag->kind != POOL_WSI_HTTP))
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    if (tag->kind == POOL_WSI_HTTP)
        return pool_nip11_callback(wsi, reason, tag->relay, in, len);
    return pool_conn_callback(wsi, reason, tag, in, len);
}
