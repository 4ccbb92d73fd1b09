/* One relay's websocket: connecting (after NIP-11), reconnecting with
 * backoff, reassembling and dispatching inbound messages, writing one
 * outbound message per writable callback, NIP-42 challenges, flood
 * control, and the forced close used by drops and hearth_pool_free. */
#include "pool_internal.h"

#include "hearth/error.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* a connection shorter than this does not reset the backoff: a relay that
 * accepts and at once hangs up must not be hammered */
#define STABLE_MS 5000
/* lws has its own connect timeouts; this bounds the whole handshake */
#define CONNECT_TIMEOUT_MS 15000
/* how long sends wait for a challenge at a relay whose NIP-11 says
 * auth_required */
#define AUTH_HOLD_MS 3000

static void schedule_reconnect(struct pool_relay *r, int64_t now)
{
    hearth_pool *p = r->pool;
    uint32_t d = pool_backoff_ms(r->attempt, p->o.backoff_min_ms,
                                 p->o.backoff_max_ms, randombytes_random());
    if (r->attempt < 32)
        r->attempt++;
    r->state = HEARTH_RELAY_IDLE;
    r->next_connect = now + d;
}

/* the relay is unreachable for now: tell subscriptions and publishes */
static void went_down(struct pool_relay *r, const char *why)
{
    int64_t now = pool_now_ms();
    hearth_buf_reset(&r->rx);
    r->rx_skip = 0;
    r->rx_paused = 0;
    r->closing = 0;
    r->auth = AUTH_NONE;
    r->auth_hold_until = 0;
    r->nsent_reqs = 0;
    if (r->state != HEARTH_RELAY_COOLING)
        schedule_reconnect(r, now);
    pool_sub_relay_down(r, why);
    pool_pub_relay_down(r, why);
}

static void connect_failed(struct pool_relay *r, const char *why)
{
    r->st.connect_failures++;
    pool_relay_error(r, "connect: %s", why);
    went_down(r, r->last_error);
}

/* Host header: the port only when not the default, IPv6 in brackets */
void pool_host_header(const struct pool_relay *r, char *out, size_t n)
{
    int dflt = r->u.port == (r->u.tls ? 443 : 80);
    int v6 = strchr(r->u.host, ':') != NULL;
    if (dflt)
        snprintf(out, n, v6 ? "[%s]" : "%s", r->u.host);
    else
        snprintf(out, n, v6 ? "[%s]:%d" : "%s:%d", r->u.host, r->u.port);
}

/* A connection can die without a FIN (NAT timeouts, sleeping laptops): a
 * websocket PING after 30 s of silence, and a hang-up (then reconnect
 * and resume) when 75 s pass without anything valid from the relay. */
static const lws_retry_bo_t idle_policy = {
    .secs_since_valid_ping = 30,
    .secs_since_valid_hangup = 75,
};

static void connect_ws(struct pool_relay *r)
{
    hearth_pool *p = r->pool;
    struct lws_client_connect_info i;
    char host[280];
    pool_host_header(r, host, sizeof host);
    memset(&i, 0, sizeof i);
    i.context = p->ctx;
    i.vhost = p->vh;
    i.address = r->u.host;
    i.port = r->u.port;
    i.path = r->u.path;
    i.host = host;
    i.origin = host;
    i.ssl_connection = r->u.tls ? LCCSCF_USE_SSL : 0;
    i.local_protocol_name = "hearth-pool";
    i.alpn = "http/1.1";
    i.userdata = &r->ws_tag;
    i.pwsi = &r->wsi;
    i.retry_and_idle_policy = &idle_policy;
    r->state = HEARTH_RELAY_CONNECTING;
    r->connect_started = pool_now_ms();
    if (!lws_client_connect_via_info(&i)) {
        r->wsi = NULL;
        /* lws may already have reported the error through the callback */
        if (r->state == HEARTH_RELAY_CONNECTING)
            connect_failed(r, "could not start the connection");
    }
}

void pool_conn_start(struct pool_relay *r)
{
    r->next_connect = 0;
    if (r->pool->o.nip11_timeout_ms && !r->nip11_done &&
        pool_nip11_start(r) == HEARTH_OK)
        return;
    connect_ws(r);
}

/* after the NIP-11 fetch, whatever its outcome */
void pool_nip11_finished(struct pool_relay *r)
{
    if (r->state == HEARTH_RELAY_NIP11 && !r->pool->freeing)
        connect_ws(r);
}

static void kill_wsi(struct lws *w)
{
    if (w)
        lws_set_timeout(w, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

void pool_conn_kill(struct pool_relay *r)
{
    struct lws *w = r->wsi, *h = r->http_wsi;
    r->wsi = r->http_wsi = NULL;
    kill_wsi(w);
    kill_wsi(h);
}

void pool_conn_tick(struct pool_relay *r, int64_t now)
{
    switch (r->state) {
    case HEARTH_RELAY_COOLING:
        if (now >= r->cooling_until && !r->wsi && !r->http_wsi) {
            r->state = HEARTH_RELAY_IDLE;
            r->score = 0;
            r->attempt = 0;
            r->next_connect = now;
        }
        break;
    case HEARTH_RELAY_IDLE:
        if (r->next_connect && now >= r->next_connect)
            pool_conn_start(r);
        break;
    case HEARTH_RELAY_NIP11:
        if (now >= r->nip11_deadline) {
            struct lws *h = r->http_wsi;
            r->http_wsi = NULL;
            if (h)
                lws_set_timeout(h, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            pool_relay_error(r, "nip11: timed out");
            r->nip11_done = 1; /* reachable but slow: do not wait again */
            pool_nip11_finished(r);
        }
        break;
    case HEARTH_RELAY_CONNECTING:
        if (now - r->connect_started > CONNECT_TIMEOUT_MS && r->wsi) {
            r->closing = 1;
            lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK,
                            LWS_TO_KILL_ASYNC);
        }
        break;
    case HEARTH_RELAY_OPEN:
        if (r->auth == AUTH_SENT && now - r->auth_sent_at > AUTH_HOLD_MS) {
            /* sends wait for the answer to AUTH: never forever */
            pool_relay_error(r, "auth: no answer to our AUTH");
            r->auth = AUTH_FAILED;
            pool_sub_after_auth(r, 0);
            pool_pub_after_auth(r, 0);
            pool_want_write(r);
        }
        if (r->auth_hold_until && now >= r->auth_hold_until) {
            r->auth_hold_until = 0;
            pool_want_write(r);
        }
        if ((r->rx_paused & POOL_PAUSE_FLOOD) && now - r->win_start >= 1000)
            pool_conn_unpause(r, POOL_PAUSE_FLOOD);
        break;
    default:
        break;
    }
}

/* Drop a misbehaving relay: everything waiting on it is told now, and the
 * connection is closed without reconnecting until cooling_until. */
void pool_conn_drop(struct pool_relay *r)
{
    r->state = HEARTH_RELAY_COOLING;
    r->next_connect = 0;
    if (r->wsi) {
        r->closing = 1;
        lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    if (r->http_wsi)
        lws_set_timeout(r->http_wsi, PENDING_TIMEOUT_USER_OK,
                        LWS_TO_KILL_ASYNC);
    pool_sub_relay_down(r, r->last_error);
    pool_pub_relay_dropped(r, r->last_error);
}

void pool_conn_pause(struct pool_relay *r, unsigned why)
{
    if (!r->rx_paused && r->wsi) {
        r->st.paused++;
        lws_rx_flow_control(r->wsi, 0);
    }
    r->rx_paused |= why;
}

void pool_conn_unpause(struct pool_relay *r, unsigned why)
{
    if (!(r->rx_paused & why))
        return;
    r->rx_paused &= ~why;
    if (!r->rx_paused && r->wsi && !r->closing)
        lws_rx_flow_control(r->wsi, 1);
}

/* ---- inbound ---- */

static void flood_check(struct pool_relay *r)
{
    hearth_pool *p = r->pool;
    int64_t now = pool_now_ms();
    if (now - r->win_start >= 1000) {
        r->win_start = now;
        r->win_count = 0;
        r->flood_counted = 0;
    }
    if (++r->win_count <= p->o.flood_per_s || r->flood_counted)
        return;
    /* stop reading for the rest of the second: the flood costs us no CPU
     * and an honest burst is only slowed down */
    r->flood_counted = 1;
    r->st.floods++;
    pool_conn_pause(r, POOL_PAUSE_FLOOD);
    char why[96];
    snprintf(why, sizeof why, "flooding: over %u messages/s",
             p->o.flood_per_s);
    pool_penalize(r, 40, why);
}

static void on_challenge(struct pool_relay *r, const char *challenge)
{
    hearth_pool *p = r->pool;
    if (!p->has_key)
        return;
    hearth_event *ev = NULL;
    if (hearth_auth_build(r->url, challenge, p->sk, (int64_t)time(NULL),
                          &ev)) {
        pool_relay_error(r, "auth: could not sign the AUTH event");
        return;
    }
    hearth_event_free(r->auth_ev);
    r->auth_ev = ev;
    r->auth = AUTH_TO_SEND;
    pool_want_write(r);
}

static void on_auth_ok(struct pool_relay *r, const hearth_msg *m)
{
    r->auth = m->ok ? AUTH_OK : AUTH_FAILED;
    r->auth_hold_until = 0;
    if (!m->ok)
        pool_relay_error(r, "auth: refused: %s", m->message);
    pool_sub_after_auth(r, m->ok);
    pool_pub_after_auth(r, m->ok);
    pool_want_write(r);
}

static void dispatch(struct pool_relay *r, hearth_msg *m)
{
    switch (m->type) {
    case HEARTH_MSG_RELAY_EVENT:
        pool_sub_on_event(r, m);
        break;
    case HEARTH_MSG_EOSE:
        pool_sub_on_eose(r, m->subid);
        break;
    case HEARTH_MSG_CLOSED:
        pool_sub_on_closed(r, m->subid, m->message);
        break;
    case HEARTH_MSG_OK:
        if (r->auth_ev && r->auth == AUTH_SENT &&
            !memcmp(m->id, r->auth_ev->id, 32))
            on_auth_ok(r, m);
        else
            pool_pub_on_ok(r, m);
        break;
    case HEARTH_MSG_NOTICE:
        r->st.notices++;
        break;
    case HEARTH_MSG_AUTH_CHALLENGE:
        on_challenge(r, m->challenge);
        break;
    default:
        break; /* COUNT results: the pool sends no COUNT */
    }
}

static void handle_message(struct pool_relay *r)
{
    hearth_msg m;
    const char *why = NULL;
    r->st.msgs_in++;
    flood_check(r);
    if (r->state != HEARTH_RELAY_OPEN)
        return;
    if (hearth_msg_parse_relay(r->rx.p, r->rx.len, &m, &why)) {
        char buf[160];
        r->st.bad_json++;
        snprintf(buf, sizeof buf, "garbage: %s", why ? why : "unparseable");
        pool_penalize(r, 10, buf);
        return;
    }
    dispatch(r, &m);
    hearth_msg_clear(&m);
}

static void on_receive(struct lws *wsi, struct pool_relay *r, const void *in,
                       size_t len)
{
    r->st.bytes_in += len;
    if (!r->rx_skip) {
        if (r->rx.len + len > HEARTH_MSG_MAX_JSON) {
            /* skip the rest of it rather than buffer without bound */
            r->rx_skip = 1;
            hearth_buf_reset(&r->rx);
            r->st.oversized++;
            pool_penalize(r, 20, "garbage: message over the size bound");
        } else {
            hearth_buf_add(&r->rx, in, len);
        }
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return;
    if (!r->rx_skip && !hearth_buf_error(&r->rx))
        handle_message(r);
    if (r->rx.cap > (1u << 20))
        hearth_buf_free(&r->rx); /* one big message need not pin memory */
    else
        hearth_buf_reset(&r->rx);
    r->rx_skip = 0;
}

/* ---- outbound ---- */

/* The next message for this relay into out (after LWS_PRE bytes): 1 if
 * there is one, 0 if nothing is due. Order: our AUTH, then subscription
 * traffic (CLOSE before REQ), then events. */
static int next_message(struct pool_relay *r, hearth_buf *out)
{
    if (r->auth == AUTH_TO_SEND && r->auth_ev) {
        r->auth = AUTH_SENT;
        r->auth_sent_at = pool_now_ms();
        return hearth_msg_build_auth(r->auth_ev, out) == HEARTH_OK;
    }
    if (r->auth_hold_until || r->auth == AUTH_SENT)
        return 0; /* AUTH first: requests sent before it would be refused */
    if (pool_sub_next_msg(r, out))
        return 1;
    return pool_pub_next_msg(r, out);
}

static int on_writeable(struct lws *wsi, struct pool_relay *r)
{
    if (r->closing || r->state != HEARTH_RELAY_OPEN)
        return -1;
    hearth_buf_reset(&r->tx);
    if (hearth_buf_reserve(&r->tx, LWS_PRE + 1))
        return -1;
    r->tx.len = LWS_PRE;
    if (!next_message(r, &r->tx) || hearth_buf_error(&r->tx))
        return 0;
    size_t n = r->tx.len - LWS_PRE;
    if (lws_write(wsi, (unsigned char *)r->tx.p + LWS_PRE, n,
                  LWS_WRITE_TEXT) < (int)n) {
        pool_relay_error(r, "write failed");
        return -1;
    }
    r->st.msgs_out++;
    r->st.bytes_out += n;
    if (r->tx.cap > (1u << 20))
        hearth_buf_free(&r->tx); /* lws keeps its own copy of a partial */
    lws_callback_on_writable(wsi); /* more may be due */
    return 0;
}

static void on_established(struct pool_relay *r)
{
    int64_t now = pool_now_ms();
    r->state = HEARTH_RELAY_OPEN;
    r->opened_at = now;
    r->closing = 0;
    r->st.connects++;
    r->auth = AUTH_NONE;
    r->nsent_reqs = 0;
    r->win_start = now;
    r->win_count = 0;
    if (r->lim.auth_required && r->pool->has_key)
        r->auth_hold_until = now + AUTH_HOLD_MS;
    pool_sub_relay_up(r);
    pool_pub_relay_up(r);
    pool_want_write(r);
}

static void on_closed(struct pool_relay *r)
{
    int64_t now = pool_now_ms();
    r->wsi = NULL;
    if (r->pool->freeing)
        return;
    r->st.disconnects++;
    if (now - r->opened_at >= STABLE_MS)
        r->attempt = 0;
    if (!r->last_error[0] || r->state == HEARTH_RELAY_OPEN)
        pool_relay_error(r, "connection closed");
    went_down(r, r->last_error);
}

int pool_conn_callback(struct lws *wsi, enum lws_callback_reasons reason,
                       struct pool_tag *tag, void *in, size_t len)
{
    struct pool_relay *r = tag->relay;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        r->wsi = NULL;
        if (r->pool->freeing)
            return 0;
        if (r->state == HEARTH_RELAY_CONNECTING) {
            char why[160];
            snprintf(why, sizeof why, "%.*s", in ? (int)(len < 150 ? len : 150)
                     : 0, in ? (const char *)in : "");
            connect_failed(r, *why ? why : "failed");
        }
        else if (r->state != HEARTH_RELAY_COOLING)
            went_down(r, "connection error");
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (r->pool->freeing || r->state == HEARTH_RELAY_COOLING)
            return -1;
        on_established(r);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (r->closing || r->pool->freeing)
            return -1;
        on_receive(wsi, r, in, len);
        return r->closing ? -1 : 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (r->pool->freeing)
            return -1;
        return on_writeable(wsi, r);
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (r->wsi == wsi || !r->wsi)
            on_closed(r);
        return 0;
    default:
        return 0;
    }
}
