/* NIP-11: before its websocket, each relay's information document is
 * fetched with an lws client HTTP GET (Accept: application/nostr+json) on
 * the same loop, so no thread is needed. The fetch is bounded in time
 * (opts.nip11_timeout_ms) and size; a relay without a document is fine,
 * it just has no known limits. */
#include "pool_internal.h"

#include "hearth/error.h"

#include <jansson.h>
#include <string.h>

#define NIP11_MAX_BYTES (64u << 10)

static int64_t int_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    return (int64_t)json_integer_value(v);
}

int hearth_nip11_parse(const char *json, size_t len, hearth_relay_limits *out)
{
    json_error_t err;
    memset(out, 0, sizeof *out);
    json_t *root = json_loadb(json, len, 0, &err);
    if (!json_is_object(root)) {
        json_decref(root);
        return HEARTH_EINVAL;
    }
    out->fetched = 1;
    json_t *lim = json_object_get(root, "limitation");
    if (json_is_object(lim)) {
        out->max_message_length = int_field(lim, "max_message_length");
        out->max_subscriptions = int_field(lim, "max_subscriptions");
        out->max_limit = int_field(lim, "max_limit");
        int64_t pow = int_field(lim, "min_pow_difficulty");
        out->min_pow_difficulty = pow > 256 ? 256 : (int)pow;
        out->auth_required = json_is_true(json_object_get(lim, "auth_required"));
        out->payment_required =
            json_is_true(json_object_get(lim, "payment_required"));
        out->restricted_writes =
            json_is_true(json_object_get(lim, "restricted_writes"));
    }
    json_decref(root);
    return HEARTH_OK;
}

int pool_nip11_start(struct pool_relay *r)
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
    i.method = "GET";
    i.ssl_connection = (r->u.tls ? LCCSCF_USE_SSL : 0) |
                       LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
    i.local_protocol_name = "hearth-pool";
    i.alpn = "http/1.1";
    i.userdata = &r->http_tag;
    i.pwsi = &r->http_wsi;
    hearth_buf_reset(&r->nip11);
    r->state = HEARTH_RELAY_NIP11;
    r->nip11_deadline = pool_now_ms() + p->o.nip11_timeout_ms;
    if (!lws_client_connect_via_info(&i)) {
        r->http_wsi = NULL;
        if (r->state == HEARTH_RELAY_NIP11)
            pool_nip11_finished(r);
    }
    return HEARTH_OK;
}

static void completed(struct pool_relay *r)
{
    hearth_relay_limits lim;
    r->nip11_done = 1;
    if (!hearth_buf_error(&r->nip11) &&
        hearth_nip11_parse(r->nip11.p ? r->nip11.p : "", r->nip11.len,
                           &lim) == HEARTH_OK)
        r->lim = lim;
    else
        pool_relay_error(r, "nip11: not a JSON object");
    hearth_buf_free(&r->nip11);
}

static int add_accept(struct lws *wsi, void *in, size_t len)
{
    unsigned char **pp = in, *end = *pp + len;
    static const char accept[] = "application/nostr+json";
    return lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ACCEPT,
                                        (const unsigned char *)accept,
                                        (int)sizeof accept - 1, pp, end);
}

static int read_body(struct lws *wsi)
{
    char buf[LWS_PRE + 4096];
    char *px = buf + LWS_PRE;
    int n = (int)sizeof buf - LWS_PRE;
    return lws_http_client_read(wsi, &px, &n) < 0 ? -1 : 0;
}

static void closed(struct lws *wsi, struct pool_relay *r)
{
    if (r->http_wsi == wsi)
        r->http_wsi = NULL;
    if (!r->pool->freeing && r->state == HEARTH_RELAY_NIP11)
        pool_nip11_finished(r);
}

int pool_nip11_callback(struct lws *wsi, enum lws_callback_reasons reason,
                        struct pool_relay *r, void *in, size_t len)
{
    if (reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR ||
        reason == LWS_CALLBACK_CLOSED_CLIENT_HTTP) {
        closed(wsi, r);
        return 0;
    }
    /* a fetch abandoned on timeout may still call back until it closes;
     * lws binds the protocol before it fills in http_wsi, so only calls
     * about the exchange itself are refused */
    int stale = wsi != r->http_wsi || r->pool->freeing;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        return add_accept(wsi, in, len) ? -1 : 0;
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        if (stale)
            return -1;
        if (lws_http_client_http_response(wsi) != 200) {
            r->nip11_done = 1; /* it answered: no document to wait for */
            pool_relay_error(r, "nip11: HTTP status %u",
                             lws_http_client_http_response(wsi));
            return -1;
        }
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
        return stale ? -1 : read_body(wsi);
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (stale)
            return -1;
        if (r->nip11.len + len > NIP11_MAX_BYTES) {
            r->nip11_done = 1;
            pool_relay_error(r, "nip11: document over %u bytes",
                             NIP11_MAX_BYTES);
            return -1;
        }
        hearth_buf_add(&r->nip11, in, len);
        return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        if (stale)
            return -1;
        completed(r);
        r->http_wsi = NULL;
        if (r->state == HEARTH_RELAY_NIP11)
            pool_nip11_finished(r);
        return -1; /* done: no keep-alive connection left behind */
    default:
        return 0;
    }
}
