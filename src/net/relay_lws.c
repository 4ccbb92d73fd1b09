/* libwebsockets 4.1 glue for the relay: one vhost whose single protocol
 * serves HTTP (NIP-11 and a short page) and websockets, assembles frames
 * into messages for relay_conn.c, and writes queued answers when the
 * socket can take them. */
#include "relay_internal.h"

#include "hearth/error.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(RELAY_PRE == LWS_PRE, "RELAY_PRE must equal LWS_PRE");

/* What lws allocates per connection for incoming data, for as long as the
 * connection lives. Messages larger than this arrive in pieces and are put
 * together in the connection's own buffer (bounded by max_message), so it
 * is not a limit: it trades idle memory (about 1.8 KiB of lws state plus
 * this per connection) against a memcpy for bigger messages, which is
 * nothing next to a signature check. Most kind-1 notes fit in 1 KiB. */
#define RX_CHUNK 1024
/* Largest single send(); the rest of a bigger message is sent by lws. */
#define TX_CHUNK 65536
/* A connection closing with unsent output gets this long to take it. */
#define CLOSE_GRACE_S 5
/* Keep a message buffer this big across messages; free a bigger one. */
#define RX_KEEP 16384

struct pss {
    hearth_relay_conn *conn;   /* websocket */
    const char *body;          /* HTTP response body */
    size_t body_len;
};

struct relay_timer {
    lws_sorted_usec_list_t sul;
    hearth_relay *r;
};

static const char page[] =
    "This is a Nostr relay (hearth). Connect a Nostr client to it over a "
    "websocket; ask with 'Accept: application/nostr+json' for its NIP-11 "
    "information document.\n";

static hearth_relay *relay_of(struct lws *wsi)
{
    const struct lws_protocols *p = lws_get_protocol(wsi);
    return p ? p->user : NULL;
}

/* ---- HTTP ---- */

static int http_request(hearth_relay *r, struct lws *wsi, struct pss *p)
{
    char accept[1024] = "";
    unsigned char hdr[LWS_PRE + 1024];
    unsigned char *start = hdr + LWS_PRE, *pos = start;
    unsigned char *end = hdr + sizeof hdr - 1;
    const char *type = "text/plain; charset=utf-8";
    if (lws_hdr_copy(wsi, accept, sizeof accept, WSI_TOKEN_HTTP_ACCEPT) < 0)
        accept[0] = '\0';
    p->body = page;
    p->body_len = sizeof page - 1;
    if (strstr(accept, "application/nostr+json")) {
        p->body = r->info;
        p->body_len = r->info_len;
        type = "application/nostr+json";
    }
    /* NIP-11: browsers on other origins must be able to read it */
    if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, type, p->body_len,
                                    &pos, end) ||
        lws_add_http_header_by_name(wsi,
            (const unsigned char *)"access-control-allow-origin:",
            (const unsigned char *)"*", 1, &pos, end) ||
        lws_add_http_header_by_name(wsi,
            (const unsigned char *)"access-control-allow-headers:",
            (const unsigned char *)"*", 1, &pos, end) ||
        lws_add_http_header_by_name(wsi,
            (const unsigned char *)"access-control-allow-methods:",
            (const unsigned char *)"GET, OPTIONS", 12, &pos, end) ||
        lws_finalize_write_http_header(wsi, start, &pos, end))
        return -1;
    lws_callback_on_writable(wsi);
    return 0;
}

static int http_body(struct lws *wsi, struct pss *p)
{
    unsigned char *buf;
    if (!p->body)
        return -1;
    buf = malloc(LWS_PRE + p->body_len);
    if (!buf)
        return -1;
    memcpy(buf + LWS_PRE, p->body, p->body_len);
    int n = lws_write(wsi, buf + LWS_PRE, p->body_len, LWS_WRITE_HTTP_FINAL);
    free(buf);
    p->body = NULL;
    if (n < 0)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- websocket ---- */

static void name_peer(hearth_relay_conn *c, struct lws *wsi)
{
    char ip[48] = "";
    if (!lws_get_peer_simple(wsi, ip, sizeof ip))
        strcpy(ip, "?");
    snprintf(c->peer, sizeof c->peer, "%s", ip);
}

static int on_established(hearth_relay *r, struct lws *wsi, struct pss *p)
{
    p->conn = relay_conn_alloc(r, wsi);
    if (!p->conn)
        return -1;
    name_peer(p->conn, wsi);
    return 0;
}

/* A message may come in many pieces: a frame bigger than RX_CHUNK, or
 * several continuation frames. A message in one piece is handled where it
 * lies, without a copy. */
static int on_receive(hearth_relay_conn *c, struct lws *wsi, const char *in,
                      size_t len)
{
    hearth_relay *r = c->relay;
    int final = lws_is_final_fragment(wsi) &&
                !lws_remaining_packet_payload(wsi);
    if (c->closing) {
        /* what it sends now is ignored; but closing with its message half
         * read would reset the connection and could lose our NOTICE */
        if (c->rx_skip && final) {
            c->rx_skip = 0;
            lws_callback_on_writable(wsi);
        }
        return 0;
    }
    if (final && !c->rx.len) {
        relay_conn_message(c, in, len);
        return 0;
    }
    if (c->rx.len + len > r->o.max_message) {
        relay_conn_too_large(c, c->rx.len + len);
        hearth_buf_free(&c->rx);
        c->rx_skip = !final;
        return 0;
    }
    if (hearth_buf_add(&c->rx, in, len))
        return -1;
    if (!final)
        return 0;
    relay_conn_message(c, c->rx.p, c->rx.len);
    if (c->rx.cap > RX_KEEP)
        hearth_buf_free(&c->rx);
    else
        hearth_buf_reset(&c->rx);
    return 0;
}

/* Server-to-client frames are not masked: FIN + text opcode, then the
 * payload length in the shortest form RFC 6455 allows. */
static size_t frame_header(unsigned char *h, size_t len)
{
    h[0] = 0x81;
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    h[1] = 126;
    h[2] = (unsigned char)(len >> 8);
    h[3] = (unsigned char)len;
    return 4;
}

/* Frame the queued messages that fit into one buffer of at most TX_CHUNK
 * bytes, for one send(). lws 4.1 sends one frame per lws_write, and under
 * ingest load a connection has tens of OKs waiting at once: one system
 * call (and one wake-up of the reader) per OK was the largest cost of the
 * loop thread. Returns the number of messages framed (0: the first one
 * does not fit, send it alone). */
static size_t coalesce(hearth_relay *r, hearth_relay_conn *c)
{
    hearth_buf *b = &r->tx;
    size_t n = 0;
    hearth_buf_reset(b);
    if (hearth_buf_reserve(b, LWS_PRE + TX_CHUNK))
        return 0;
    b->len = LWS_PRE;
    for (struct relay_out *o = c->out_head; o; o = o->next, n++) {
        if (o->len > 0xffff || b->len - LWS_PRE + 4 + o->len > TX_CHUNK)
            break;
        b->len += frame_header((unsigned char *)b->p + b->len, o->len);
        memcpy(b->p + b->len, o->data + LWS_PRE, o->len);
        b->len += o->len;
    }
    return n;
}

static void out_pop(hearth_relay_conn *c)
{
    struct relay_out *o = c->out_head;
    c->out_head = o->next;
    if (!c->out_head)
        c->out_tail = NULL;
    c->out_bytes -= o->len;
    free(o);
}

/* One send: several messages framed together (as raw bytes: lws has no
 * multi-frame write, and no extension is negotiated that would have to
 * see each frame), or one message lws frames itself. */
static int write_some(hearth_relay *r, hearth_relay_conn *c, struct lws *wsi)
{
    size_t n = c->out_head->next ? coalesce(r, c) : 0;
    if (n > 1) {
        if (lws_write(wsi, (unsigned char *)r->tx.p + LWS_PRE,
                      r->tx.len - LWS_PRE, LWS_WRITE_RAW) < 0)
            return -1;
        while (n--)
            out_pop(c);
        return 0;
    }
    struct relay_out *o = c->out_head;
    if (lws_write(wsi, (unsigned char *)o->data + LWS_PRE, o->len,
                  LWS_WRITE_TEXT) < 0)
        return -1;
    out_pop(c);
    return 0;
}

static int on_writeable(hearth_relay_conn *c, struct lws *wsi)
{
    while (c->out_head && !lws_send_pipe_choked(wsi))
        if (write_some(c->relay, c, wsi))
            return -1;
    if (c->out_head) {
        lws_callback_on_writable(wsi);
    } else if (c->closing && !c->rx_skip) {
        lws_close_reason(wsi, (enum lws_close_status)c->close_code, NULL, 0);
        return -1;
    }
    relay_update_flow(c);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    hearth_relay *r = relay_of(wsi);
    struct pss *p = user;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (r)
            relay_drain(r);
        return 0;
    case LWS_CALLBACK_HTTP:
        return http_request(r, wsi, p);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_body(wsi, p);
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(r, wsi, p);
    case LWS_CALLBACK_RECEIVE:
        return p->conn ? on_receive(p->conn, wsi, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return p->conn ? on_writeable(p->conn, wsi) : -1;
    case LWS_CALLBACK_CLOSED:
        if (p->conn) {
            relay_log(r, "closed %s", p->conn->peer);
            relay_conn_gone(p->conn);
            p->conn = NULL;
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

int relay_lws_listen(hearth_relay *r)
{
    struct lws_protocols *pr = calloc(2, sizeof *pr);
    struct lws_context_creation_info info;
    if (!pr)
        return HEARTH_ENOMEM;
    r->protocols = pr;
    pr[0].name = "nostr";
    pr[0].callback = callback;
    pr[0].per_session_data_size = sizeof(struct pss);
    pr[0].rx_buffer_size = RX_CHUNK;
    pr[0].tx_packet_size = TX_CHUNK;
    pr[0].user = r;
    memset(&info, 0, sizeof info);
    info.port = r->o.port;
    info.iface = r->o.host;
    info.protocols = pr;
    info.vhost_name = "hearth-relay";
    info.user = r;
    r->vhost = lws_create_vhost(hearth_loop_lws(r->loop), &info);
    if (!r->vhost)
        return HEARTH_EIO;
    r->port = lws_get_vhost_listen_port(r->vhost);
    return HEARTH_OK;
}

void relay_lws_want_write(hearth_relay_conn *c)
{
    if (!c->wsi)
        return;
    if (c->closing)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_GRACE_S);
    lws_callback_on_writable(c->wsi);
}

void relay_lws_flow(hearth_relay_conn *c, int enable)
{
    if (c->wsi)
        lws_rx_flow_control(c->wsi, enable);
}

void relay_lws_wake(hearth_relay *r)
{
    if (r->loop)
        hearth_loop_wake(r->loop);
}

static void purge_tick(lws_sorted_usec_list_t *sul)
{
    struct relay_timer *t = lws_container_of(sul, struct relay_timer, sul);
    relay_request_purge(t->r);
    lws_sul_schedule(hearth_loop_lws(t->r->loop), 0, &t->sul, purge_tick,
                     (lws_usec_t)t->r->o.purge_interval * LWS_US_PER_SEC);
}

void relay_lws_start_timer(hearth_relay *r)
{
    struct relay_timer *t;
    if (!r->o.purge_interval || !(t = calloc(1, sizeof *t)))
        return;
    t->r = r;
    r->sul = t;
    lws_sul_schedule(hearth_loop_lws(r->loop), 0, &t->sul, purge_tick,
                     (lws_usec_t)r->o.purge_interval * LWS_US_PER_SEC);
}

void relay_lws_cleanup(hearth_relay *r)
{
    struct relay_timer *t = r->sul;
    if (t && t->r) {
        lws_sul_cancel(&t->sul);
        t->r = NULL;
    }
}
