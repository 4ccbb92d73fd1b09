/* The NIP-47 client: requests out through a pool of the wallet's relays,
 * responses matched back by their "e" tag, one callback per request.
 *
 * Order matters because NIP-47 events are ephemeral (relays forward them
 * and forget): requests wait until the response subscription has reached
 * EOSE on the relays, or a reply could arrive before anyone listens; and
 * until the wallet's info event has been looked for, because it decides
 * the encryption. Each request carries a NIP-40 expiration at its own
 * deadline so that a wallet reading it late (after we gave up and told
 * the user it failed) does not pay it anyway. */
#include "hearth/nwc.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/filter.h"
#include "hearth/hex.h"
#include "hearth/nip04.h"
#include "hearth/nip44.h"
#include "hearth/pool.h"

struct req {
    struct req *next;
    hearth_nwc *c;
    enum hearth_nwc_method m;
    hearth_nwc_cb cb;
    void *user;
    char *plain;            /* request JSON until it is published */
    int published, nip44;
    uint8_t id[32];
    int has_expect;
    uint8_t expect[32];     /* payment hash the caller expects */
    size_t nrelays, results, oks;
    time_t deadline;
    lws_sorted_usec_list_t timer;
};

struct hearth_nwc {
    hearth_loop *loop;
    hearth_pool *pool;
    hearth_nwc_opts o;
    uint8_t sk[32], pk[32], wallet[32];
    uint8_t ck[32];         /* NIP-44 conversation key */
    char relay0[HEARTH_RELAY_URL_MAX + 1]; /* for messages */
    hearth_sub *info_sub, *resp_sub;
    int info_done, resp_done, wallet_nip44;
    enum hearth_nwc_enc enc;
    struct req *reqs;
    lws_sorted_usec_list_t info_timer;
};

void hearth_nwc_opts_default(hearth_nwc_opts *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = 60000;
    o->info_timeout_ms = 5000;
    o->enc = HEARTH_NWC_ENC_AUTO;
}

int hearth_nwc_ready(const hearth_nwc *c)
{
    return c->enc != HEARTH_NWC_ENC_AUTO && c->resp_done;
}

enum hearth_nwc_enc hearth_nwc_encryption(const hearth_nwc *c)
{
    return c->enc;
}

size_t hearth_nwc_pending(const hearth_nwc *c)
{
    size_t n = 0;
    for (const struct req *r = c->reqs; r; r = r->next)
        n++;
    return n;
}

/* ---- finishing requests ---- */

static void req_free(struct req *r)
{
    lws_sul_cancel(&r->timer);
    free(r->plain);
    free(r);
}

static void unlink_req(hearth_nwc *c, struct req *r)
{
    for (struct req **p = &c->reqs; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            return;
        }
}

/* Unlinked before the callback, so the callback may start new requests. */
static void finish(struct req *r, hearth_nwc_result *res)
{
    unlink_req(r->c, r);
    res->method = r->m;
    r->cb(res, r->user);
    req_free(r);
}

static void finish_err(struct req *r, int err, const char *msg)
{
    hearth_nwc_result *res = calloc(1, sizeof *res);
    if (!res) {
        /* still one callback: a stack result without the big fields */
        static const hearth_nwc_result empty;
        hearth_nwc_result small = empty;
        small.err = HEARTH_ENOMEM;
        finish(r, &small);
        return;
    }
    res->err = err;
    snprintf(res->message, sizeof res->message, "%s", msg);
    finish(r, res);
    free(res);
}

static void on_timeout(lws_sorted_usec_list_t *sul)
{
    struct req *r = lws_container_of(sul, struct req, timer);
    char msg[512];
    snprintf(msg, sizeof msg,
             "the wallet did not answer %s within %u s: is the wallet "
             "service running and connected to %s?",
             hearth_nwc_method_name(r->m), r->c->o.timeout_ms / 1000,
             r->c->relay0);
    finish_err(r, HEARTH_ETIMEDOUT, msg);
}

static struct req *find_req(hearth_nwc *c, const uint8_t id[32])
{
    for (struct req *r = c->reqs; r; r = r->next)
        if (r->published && memcmp(r->id, id, 32) == 0)
            return r;
    return NULL;
}

/* ---- sending ---- */

static int encrypt_for(hearth_nwc *c, int nip44, const char *pt,
                       hearth_buf *out)
{
    if (nip44)
        return hearth_nip44_encrypt(c->ck, pt, strlen(pt), NULL, out);
    return hearth_nip04_encrypt(c->sk, c->wallet, pt, strlen(pt), NULL, out);
}

static int build_event(hearth_nwc *c, struct req *r, hearth_event **out)
{
    hearth_buf ct = HEARTH_BUF_INIT;
    char wallet_hex[65], exp[24];
    hearth_event *ev = NULL;
    time_t now = time(NULL);
    int rc = encrypt_for(c, r->nip44, r->plain, &ct);
    hearth_hex_encode(c->wallet, 32, wallet_hex);
    snprintf(exp, sizeof exp, "%lld", (long long)r->deadline + 5);
    if (rc == HEARTH_OK)
        rc = hearth_event_new(HEARTH_NWC_KIND_REQUEST, (int64_t)now, ct.p,
                              ct.len, &ev);
    if (rc == HEARTH_OK)
        rc = hearth_event_add_tagv(ev, "p", wallet_hex, NULL);
    if (rc == HEARTH_OK && r->nip44)
        rc = hearth_event_add_tagv(ev, "encryption", "nip44_v2", NULL);
    if (rc == HEARTH_OK)
        rc = hearth_event_add_tagv(ev, "expiration", exp, NULL);
    if (rc == HEARTH_OK)
        rc = hearth_event_sign(ev, c->sk);
    hearth_buf_free(&ct);
    if (rc != HEARTH_OK)
        hearth_event_free(ev);
    else
        *out = ev;
    return rc;
}

static void on_pub(const uint8_t id[32], const char *relay,
                   enum hearth_pub_result pr, const char *message, void *user)
{
    struct req *r = find_req(user, id);
    char msg[512];
    if (!r)
        return; /* answered already */
    r->results++;
    if (pr == HEARTH_PUB_OK)
        r->oks++;
    if (r->results < r->nrelays || r->oks)
        return;
    snprintf(msg, sizeof msg, "no wallet relay took the %s request (%s: %s)",
             hearth_nwc_method_name(r->m), relay, message);
    finish_err(r, HEARTH_EIO, msg);
}

static int send_req(hearth_nwc *c, struct req *r)
{
    hearth_event *ev = NULL;
    r->nip44 = c->enc == HEARTH_NWC_ENC_NIP44;
    int rc = build_event(c, r, &ev);
    if (rc != HEARTH_OK)
        return rc;
    memcpy(r->id, ev->id, 32);
    r->nrelays = hearth_pool_nrelays(c->pool);
    r->published = 1;
    rc = hearth_pool_publish(c->pool, ev, on_pub, c);
    hearth_event_free(ev);
    sodium_memzero(r->plain, strlen(r->plain));
    free(r->plain);
    r->plain = NULL;
    if (rc != HEARTH_OK)
        r->published = 0;
    return rc;
}

/* Publish everything that waited for the subscription and the info. */
static void flush(hearth_nwc *c)
{
    if (!hearth_nwc_ready(c))
        return;
    struct req *r = c->reqs;
    while (r) {
        struct req *next = r->next;
        if (!r->published && send_req(c, r) != HEARTH_OK)
            finish_err(r, HEARTH_EIO, "could not send the request to the "
                       "wallet's relays");
        r = next;
    }
}

static void choose_enc(hearth_nwc *c)
{
    if (c->enc != HEARTH_NWC_ENC_AUTO || !c->info_done)
        return;
    /* NIP-47: no encryption tag in the info event means NIP-04 only */
    c->enc = c->wallet_nip44 ? HEARTH_NWC_ENC_NIP44 : HEARTH_NWC_ENC_NIP04;
    lws_sul_cancel(&c->info_timer);
}

static void progress(hearth_nwc *c)
{
    choose_enc(c);
    flush(c);
}

/* ---- receiving ---- */

static int tag_hex32(const hearth_event *ev, const char *name, uint8_t v[32])
{
    const hearth_tag *t = hearth_event_find_tag(ev, name);
    if (!t || t->n < 2 || t->v[1].n != 64)
        return HEARTH_EINVAL;
    return hearth_hex_decode(t->v[1].p, 64, v, 32, 0);
}

static int decrypt_reply(hearth_nwc *c, const hearth_event *ev,
                         hearth_buf *pt)
{
    /* the payload's shape says the scheme: only NIP-04 has "?iv=" */
    if (strstr(ev->content.p, "?iv="))
        return hearth_nip04_decrypt(c->sk, c->wallet, ev->content.p,
                                    ev->content.n, pt, NULL);
    return hearth_nip44_decrypt(c->ck, ev->content.p, ev->content.n, pt,
                                NULL);
}

static void handle_reply(hearth_nwc *c, const hearth_event *ev)
{
    uint8_t e[32], p[32];
    hearth_buf pt = HEARTH_BUF_INIT;
    struct req *r;
    if (tag_hex32(ev, "e", e) || tag_hex32(ev, "p", p) ||
        memcmp(p, c->pk, 32) != 0 || !(r = find_req(c, e)))
        return; /* not ours, or for a request that has ended */
    if (ev->content.n > 2 * HEARTH_NWC_REPLY_MAX ||
        decrypt_reply(c, ev, &pt) != HEARTH_OK) {
        hearth_buf_free(&pt);
        finish_err(r, HEARTH_ECRYPTO, "could not decrypt the wallet's "
                   "reply (wrong connection secret?)");
        return;
    }
    hearth_nwc_result *res = malloc(sizeof *res);
    if (!res) {
        hearth_buf_free(&pt);
        finish_err(r, HEARTH_ENOMEM, "out of memory");
        return;
    }
    hearth_nwc_reply_parse(r->m, pt.p, pt.len, r->has_expect ? r->expect
                                                             : NULL, res);
    sodium_memzero(pt.p, pt.len);
    hearth_buf_free(&pt);
    finish(r, res);
    sodium_memzero(res, sizeof *res);
    free(res);
}

static int has_word(const char *s, size_t n, const char *w)
{
    size_t wn = strlen(w);
    for (size_t i = 0; i + wn <= n; i++)
        if ((i == 0 || s[i - 1] == ' ') && memcmp(s + i, w, wn) == 0 &&
            (i + wn == n || s[i + wn] == ' '))
            return 1;
    return 0;
}

static int on_info(hearth_sub *s, const hearth_event *ev, const char *relay,
                   void *user)
{
    hearth_nwc *c = user;
    const hearth_tag *t = hearth_event_find_tag(ev, "encryption");
    if (t && t->n >= 2 && has_word(t->v[1].p, t->v[1].n, "nip44_v2"))
        c->wallet_nip44 = 1;
    c->info_done = 1;
    progress(c);
    return 0;
}

static void on_info_eose(hearth_sub *s, void *user)
{
    hearth_nwc *c = user;
    c->info_done = 1;
    progress(c);
}

static void on_info_timer(lws_sorted_usec_list_t *sul)
{
    hearth_nwc *c = lws_container_of(sul, hearth_nwc, info_timer);
    c->info_done = 1;
    progress(c);
}

static int on_resp(hearth_sub *s, const hearth_event *ev, const char *relay,
                   void *user)
{
    handle_reply(user, ev);
    return 0;
}

static void on_resp_eose(hearth_sub *s, void *user)
{
    hearth_nwc *c = user;
    c->resp_done = 1;
    progress(c);
}

/* ---- setup ---- */

static int subscribe(hearth_nwc *c, const char *json, const hearth_sub_cbs *cbs,
                     hearth_sub **out)
{
    hearth_filter *f = NULL;
    int rc = hearth_filter_parse(json, strlen(json), &f, NULL);
    if (rc == HEARTH_OK)
        rc = hearth_pool_sub(c->pool, &f, 1, cbs, c, out);
    hearth_filter_free(f);
    return rc;
}

static int start(hearth_nwc *c, const hearth_nwc_conn *conn)
{
    static const hearth_sub_cbs info_cbs = {on_info, NULL, on_info_eose};
    static const hearth_sub_cbs resp_cbs = {on_resp, NULL, on_resp_eose};
    char w[65], p[65], json[320];
    int rc = HEARTH_OK;
    for (size_t i = 0; i < conn->nrelays && rc == HEARTH_OK; i++)
        rc = hearth_pool_add_relay(c->pool, conn->relays[i], NULL);
    if (rc != HEARTH_OK)
        return rc;
    hearth_hex_encode(c->wallet, 32, w);
    hearth_hex_encode(c->pk, 32, p);
    snprintf(json, sizeof json, "{\"kinds\":[%u],\"authors\":[\"%s\"]}",
             HEARTH_NWC_KIND_INFO, w);
    rc = subscribe(c, json, &info_cbs, &c->info_sub);
    /* since: replies are ephemeral, but a relay that stores them anyway
     * must not replay old ones at us */
    snprintf(json, sizeof json,
             "{\"kinds\":[%u],\"authors\":[\"%s\"],\"#p\":[\"%s\"],"
             "\"since\":%lld}",
             HEARTH_NWC_KIND_RESPONSE, w, p, (long long)time(NULL) - 60);
    if (rc == HEARTH_OK)
        rc = subscribe(c, json, &resp_cbs, &c->resp_sub);
    if (rc == HEARTH_OK && c->enc == HEARTH_NWC_ENC_AUTO)
        lws_sul_schedule(hearth_loop_lws(c->loop), 0, &c->info_timer,
                         on_info_timer,
                         (lws_usec_t)c->o.info_timeout_ms * LWS_US_PER_MS);
    return rc;
}

static int init_keys(hearth_nwc *c, const hearth_nwc_conn *conn)
{
    memcpy(c->sk, conn->secret, 32);
    memcpy(c->pk, conn->client_pk, 32);
    memcpy(c->wallet, conn->wallet_pk, 32);
    snprintf(c->relay0, sizeof c->relay0, "%s", conn->relays[0]);
    return hearth_nip44_conversation_key(c->sk, c->wallet, c->ck);
}

int hearth_nwc_new(hearth_loop *loop, const hearth_nwc_conn *conn,
                   const hearth_nwc_opts *opts, hearth_nwc **out)
{
    hearth_pool_opts po;
    hearth_nwc *c;
    if (!loop || !conn || !out || conn->nrelays == 0)
        return HEARTH_EINVAL;
    if (!(c = calloc(1, sizeof *c)))
        return HEARTH_ENOMEM;
    c->loop = loop;
    if (opts)
        c->o = *opts;
    else
        hearth_nwc_opts_default(&c->o);
    if (!c->o.timeout_ms)
        c->o.timeout_ms = 60000;
    c->enc = c->o.enc;
    int rc = init_keys(c, conn);
    hearth_pool_opts_default(&po);
    po.sk = c->sk; /* NIP-42 with the connection key, never the user's */
    po.ca_file = c->o.ca_file;
    if (rc == HEARTH_OK)
        rc = hearth_pool_new(loop, &po, &c->pool);
    if (rc == HEARTH_OK)
        rc = start(c, conn);
    if (rc != HEARTH_OK) {
        hearth_nwc_free(c);
        return rc;
    }
    *out = c;
    return HEARTH_OK;
}

void hearth_nwc_free(hearth_nwc *c)
{
    if (!c)
        return;
    while (c->reqs) {
        struct req *r = c->reqs;
        c->reqs = r->next;
        req_free(r);
    }
    lws_sul_cancel(&c->info_timer);
    hearth_pool_free(c->pool); /* subscriptions and publishes with it */
    sodium_memzero(c, sizeof *c);
    free(c);
}

/* ---- requests ---- */

static int submit(hearth_nwc *c, enum hearth_nwc_method m, json_t *params,
                  const uint8_t *expect, hearth_nwc_cb cb, void *user)
{
    struct req *r;
    json_t *root;
    if (!params || !cb)
        return json_decref(params), HEARTH_EINVAL;
    root = json_pack("{s:s,s:o}", "method", hearth_nwc_method_name(m),
                     "params", params);
    r = calloc(1, sizeof *r);
    if (root && r)
        r->plain = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!r || !r->plain) {
        free(r);
        return HEARTH_ENOMEM;
    }
    r->c = c;
    r->m = m;
    r->cb = cb;
    r->user = user;
    r->deadline = time(NULL) + ((time_t)c->o.timeout_ms + 999) / 1000;
    if (expect) {
        r->has_expect = 1;
        memcpy(r->expect, expect, 32);
    }
    r->next = c->reqs;
    c->reqs = r;
    lws_sul_schedule(hearth_loop_lws(c->loop), 0, &r->timer, on_timeout,
                     (lws_usec_t)c->o.timeout_ms * LWS_US_PER_MS);
    if (hearth_nwc_ready(c) && send_req(c, r) != HEARTH_OK) {
        unlink_req(c, r);
        req_free(r);
        return HEARTH_EIO;
    }
    return HEARTH_OK;
}

int hearth_nwc_make_invoice(hearth_nwc *c, uint64_t amount_msat,
                            const char *description, uint32_t expiry_s,
                            hearth_nwc_cb cb, void *user)
{
    if (!c || amount_msat == 0 || amount_msat > (uint64_t)INT64_MAX ||
        (description && strlen(description) > HEARTH_NWC_DESC_MAX))
        return HEARTH_EINVAL;
    json_t *p = json_pack("{s:I}", "amount", (json_int_t)amount_msat);
    if (p && description)
        json_object_set_new(p, "description", json_string(description));
    if (p && expiry_s)
        json_object_set_new(p, "expiry", json_integer(expiry_s));
    return submit(c, HEARTH_NWC_MAKE_INVOICE, p, NULL, cb, user);
}

static int bolt11_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 4 || n > HEARTH_NWC_INVOICE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return 0;
    return 1;
}

int hearth_nwc_pay_invoice(hearth_nwc *c, const char *bolt11,
                           const uint8_t *payment_hash, hearth_nwc_cb cb,
                           void *user)
{
    if (!c || !bolt11_ok(bolt11))
        return HEARTH_EINVAL;
    return submit(c, HEARTH_NWC_PAY_INVOICE,
                  json_pack("{s:s}", "invoice", bolt11), payment_hash, cb,
                  user);
}

int hearth_nwc_lookup_invoice(hearth_nwc *c, const uint8_t *payment_hash,
                              const char *bolt11, hearth_nwc_cb cb, void *user)
{
    char hex[65];
    if (!c || (!payment_hash && !bolt11_ok(bolt11)))
        return HEARTH_EINVAL;
    if (!payment_hash)
        return submit(c, HEARTH_NWC_LOOKUP_INVOICE,
                      json_pack("{s:s}", "invoice", bolt11), NULL, cb, user);
    hearth_hex_encode(payment_hash, 32, hex);
    return submit(c, HEARTH_NWC_LOOKUP_INVOICE,
                  json_pack("{s:s}", "payment_hash", hex), payment_hash, cb,
                  user);
}

int hearth_nwc_get_balance(hearth_nwc *c, hearth_nwc_cb cb, void *user)
{
    if (!c)
        return HEARTH_EINVAL;
    return submit(c, HEARTH_NWC_GET_BALANCE, json_object(), NULL, cb, user);
}

int hearth_nwc_get_info(hearth_nwc *c, hearth_nwc_cb cb, void *user)
{
    if (!c)
        return HEARTH_EINVAL;
    return submit(c, HEARTH_NWC_GET_INFO, json_object(), NULL, cb, user);
}
