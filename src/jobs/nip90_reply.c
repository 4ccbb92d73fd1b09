/* NIP-90 results and feedback (build and parse) and cancellation.
 * docs/protocol-jobs.md describes the profile. */
#include "hearth/nip90.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "../util/arena.h"
#include "nip90_int.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* NDK 2.14 spells payment-required with an underscore: read both, write
 * the NIP's spelling. */
static const struct {
    const char *name;
    enum hearth_nip90_status status;
} statuses[] = {
    {"payment-required", HEARTH_NIP90_PAYMENT_REQUIRED},
    {"processing", HEARTH_NIP90_PROCESSING},
    {"error", HEARTH_NIP90_ERROR},
    {"success", HEARTH_NIP90_SUCCESS},
    {"partial", HEARTH_NIP90_PARTIAL},
    {"payment_required", HEARTH_NIP90_PAYMENT_REQUIRED},
};

const char *hearth_nip90_status_name(enum hearth_nip90_status s)
{
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++)
        if (statuses[i].status == s)
            return statuses[i].name;
    return NULL;
}

static int status_of(const hearth_str *name, enum hearth_nip90_status *s)
{
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++)
        if (hearth_nip90_is(name, statuses[i].name)) {
            *s = statuses[i].status;
            return HEARTH_OK;
        }
    return HEARTH_EINVAL;
}

/* ---- building ---- */

static int add_u64(hearth_nip90_tw *w, const char *name, uint64_t x,
                   const char *extra)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, x);
    const char *v[3] = {name, num, extra};
    return hearth_nip90_tw_add(w, extra && *extra ? 3 : 2, v, NULL);
}

/* ["e", request id(, first relay of the request as the hint)], ["p",
 * customer] */
static int add_refs(hearth_event *ev, const hearth_job_request *req)
{
    char id[65], customer[65];
    hearth_hex_encode(req->id, 32, id);
    hearth_hex_encode(req->customer, 32, customer);
    const char *hint = req->nrelays ? req->relays[0] : NULL;
    int rc = hearth_event_add_tagv(ev, "e", id, hint, NULL);
    if (rc == HEARTH_OK)
        rc = hearth_event_add_tagv(ev, "p", customer, NULL);
    return rc;
}

/* Encrypts pt to the customer the way the request was encrypted and makes
 * it the content. */
static int seal(hearth_event *ev, const hearth_job_request *req,
                const uint8_t sk[32], const char *pt, size_t n)
{
    hearth_buf ct = HEARTH_BUF_INIT;
    int rc = hearth_nip90_encrypt(req->enc, sk, req->customer, pt, n, &ct);
    if (rc == HEARTH_OK)
        rc = hearth_event_set_content(ev, ct.p, ct.len);
    hearth_buf_free(&ct);
    return rc;
}

static int check_text(const char *s)
{
    return !s || strlen(s) <= HEARTH_NIP90_MAX_INFO ? HEARTH_OK
                                                     : HEARTH_EINVAL;
}

static int check_feedback(const hearth_nip90_feedback *fb)
{
    if (!hearth_nip90_status_name(fb->status) || fb->percent < -1 ||
        fb->percent > 100 || (fb->content_len && !fb->content))
        return HEARTH_EINVAL;
    if (check_text(fb->info) != HEARTH_OK ||
        check_text(fb->bolt11) != HEARTH_OK)
        return HEARTH_EINVAL;
    return HEARTH_OK;
}

/* The tags that are private when the request was encrypted. The partial
 * output rides in a ["content", ...] tag then: NDK decrypts feedback
 * content as a JSON array of tags, so the content cannot be both. */
static int add_feedback_tags(hearth_nip90_tw *w,
                             const hearth_nip90_feedback *fb, int enc)
{
    const char *sv[3] = {"status", hearth_nip90_status_name(fb->status),
                         fb->info};
    int rc = hearth_nip90_tw_add(w, fb->info && *fb->info ? 3 : 2, sv, NULL);
    if (rc == HEARTH_OK && fb->amount_msat)
        rc = add_u64(w, "amount", fb->amount_msat, fb->bolt11);
    if (rc == HEARTH_OK && fb->percent >= 0)
        rc = add_u64(w, "progress", (uint64_t)fb->percent, NULL);
    if (rc == HEARTH_OK && enc && fb->content_len) {
        const char *cv[2] = {"content", fb->content};
        size_t lens[2] = {7, fb->content_len};
        rc = hearth_nip90_tw_add(w, 2, cv, lens);
    }
    return rc;
}

static int build_feedback(hearth_event *ev, const hearth_job_request *req,
                          const hearth_nip90_feedback *fb,
                          const uint8_t sk[32])
{
    int enc = req->enc != HEARTH_NIP90_PLAIN;
    hearth_buf pt = HEARTH_BUF_INIT;
    hearth_nip90_tw w;
    int rc = hearth_nip90_tw_init(&w, ev, enc ? &pt : NULL);
    if (rc == HEARTH_OK)
        rc = add_feedback_tags(&w, fb, enc);
    if (rc == HEARTH_OK)
        rc = hearth_nip90_tw_end(&w);
    if (rc == HEARTH_OK && enc)
        rc = seal(ev, req, sk, pt.p, pt.len);
    else if (rc == HEARTH_OK && fb->content_len)
        rc = hearth_event_set_content(ev, fb->content, fb->content_len);
    if (rc == HEARTH_OK)
        rc = add_refs(ev, req);
    if (rc == HEARTH_OK && enc)
        rc = hearth_event_add_tagv(ev, "encrypted", NULL);
    if (pt.p)
        sodium_memzero(pt.p, pt.len);
    hearth_buf_free(&pt);
    return rc;
}

int hearth_nip90_feedback_build(const hearth_job_request *req,
                                const hearth_nip90_feedback *fb,
                                const uint8_t sk[32], int64_t now,
                                hearth_event **out)
{
    if (!out || !req || !fb || !sk || check_feedback(fb) != HEARTH_OK)
        return HEARTH_EINVAL;
    *out = NULL;
    hearth_event *ev = NULL;
    int rc = hearth_event_new(7000, now, "", 0, &ev);
    if (rc == HEARTH_OK)
        rc = build_feedback(ev, req, fb, sk);
    if (rc != HEARTH_OK) {
        hearth_event_free(ev);
        return rc;
    }
    *out = ev;
    return HEARTH_OK;
}

static int add_inputs(hearth_event *ev, const hearth_job_request *req)
{
    int rc = HEARTH_OK;
    for (size_t i = 0; rc == HEARTH_OK && i < req->ninputs; i++) {
        const hearth_job_input *in = &req->inputs[i];
        int marked = in->marker && *in->marker;
        const char *v[5] = {"i", in->value, in->type, "", in->marker};
        size_t lens[5] = {1, in->len, strlen(in->type), 0,
                          marked ? strlen(in->marker) : 0};
        rc = hearth_event_add_tag(ev, marked ? 5 : 3, v, lens);
    }
    return rc;
}

static int build_result(hearth_event *ev, const hearth_job_request *req,
                        const char *content, size_t len, uint64_t amount,
                        const char *bolt11, const uint8_t sk[32])
{
    int enc = req->enc != HEARTH_NIP90_PLAIN;
    int rc = HEARTH_OK;
    /* NIP-44 has no empty plaintext; an empty output reveals nothing */
    if (enc && len)
        rc = seal(ev, req, sk, content, len);
    else if (!enc && len)
        rc = hearth_event_set_content(ev, content, len);
    if (rc == HEARTH_OK && enc)
        rc = hearth_event_add_tagv(ev, "encrypted", NULL);
    if (rc == HEARTH_OK && !enc) {
        const char *v[2] = {"request", req->json};
        size_t lens[2] = {7, req->json_len};
        rc = hearth_event_add_tag(ev, 2, v, lens);
    }
    if (rc == HEARTH_OK)
        rc = add_refs(ev, req);
    if (rc == HEARTH_OK && !enc)
        rc = add_inputs(ev, req);
    if (rc == HEARTH_OK && amount) {
        hearth_nip90_tw w;
        hearth_nip90_tw_init(&w, ev, NULL);
        rc = add_u64(&w, "amount", amount, bolt11);
    }
    return rc;
}

int hearth_nip90_result_build(const hearth_job_request *req,
                              const char *content, size_t len,
                              uint64_t amount_msat, const char *bolt11,
                              const uint8_t sk[32], int64_t now,
                              hearth_event **out)
{
    if (!out || !req || !sk || (len && !content) ||
        check_text(bolt11) != HEARTH_OK)
        return HEARTH_EINVAL;
    *out = NULL;
    if (req->kind < 5000 || req->kind > 5999 ||
        (req->enc == HEARTH_NIP90_PLAIN && !req->json))
        return HEARTH_EINVAL;
    hearth_event *ev = NULL;
    int rc = hearth_event_new(req->kind + 1000, now, "", 0, &ev);
    if (rc == HEARTH_OK)
        rc = build_result(ev, req, content, len, amount_msat, bolt11, sk);
    if (rc != HEARTH_OK) {
        hearth_event_free(ev);
        return rc;
    }
    *out = ev;
    return HEARTH_OK;
}

int hearth_nip90_cancel_build(const uint8_t request_id[32], uint32_t kind,
                              const char *reason, int64_t now,
                              hearth_event **out)
{
    if (!out || !request_id || kind < 5000 || kind > 5999)
        return HEARTH_EINVAL;
    *out = NULL;
    const char *text = reason ? reason : "";
    hearth_event *ev = NULL;
    int rc = hearth_event_new(5, now, text, strlen(text), &ev);
    char id[65], k[12];
    hearth_hex_encode(request_id, 32, id);
    snprintf(k, sizeof k, "%" PRIu32, kind);
    if (rc == HEARTH_OK)
        rc = hearth_event_add_tagv(ev, "e", id, NULL);
    if (rc == HEARTH_OK)
        rc = hearth_event_add_tagv(ev, "k", k, NULL);
    if (rc != HEARTH_OK) {
        hearth_event_free(ev);
        return rc;
    }
    *out = ev;
    return HEARTH_OK;
}

/* ---- parsing ---- */

typedef struct reply_parse {
    hearth_job_reply *r;
    struct hearth_arena *arena;
    const hearth_event *ev;
    const hearth_tag *priv;   /* decrypted feedback tags */
    size_t npriv;
    const char *why;
} reply_parse;

static int fail(reply_parse *c, int rc, const char *why)
{
    c->why = why;
    return rc;
}

/* Private tags win over public ones of the same name. */
static const hearth_tag *find(const reply_parse *c, const char *name)
{
    const hearth_tag *t = hearth_nip90_find(c->priv, c->npriv, name);
    return t ? t : hearth_nip90_find(c->ev->tags, c->ev->ntags, name);
}

static int take_status(reply_parse *c)
{
    hearth_job_reply *r = c->r;
    const hearth_tag *t = find(c, "status");
    if (!t)
        return fail(c, HEARTH_EINVAL, "invalid: feedback needs a status tag");
    if (t->n < 2)
        return fail(c, HEARTH_EINVAL, "invalid: bad status tag");
    if (status_of(&t->v[1], &r->status) != HEARTH_OK)
        return fail(c, HEARTH_EINVAL, "invalid: unknown feedback status");
    if (t->n < 3)
        return HEARTH_OK;
    if (hearth_nip90_text(&t->v[2], HEARTH_NIP90_MAX_INFO) != HEARTH_OK)
        return fail(c, HEARTH_EINVAL, "invalid: bad status tag");
    r->info = hearth_nip90_dup(&c->arena, t->v[2].p, t->v[2].n);
    return r->info ? HEARTH_OK : fail(c, HEARTH_ENOMEM, HEARTH_NIP90_OOM);
}

static int take_amount(reply_parse *c)
{
    hearth_job_reply *r = c->r;
    const hearth_tag *t = find(c, "amount");
    if (!t)
        return HEARTH_OK;
    if (t->n < 2 || hearth_nip90_u64(&t->v[1], &r->amount_msat) != HEARTH_OK)
        return fail(c, HEARTH_EINVAL, "invalid: bad amount tag");
    if (t->n < 3)
        return HEARTH_OK;
    if (hearth_nip90_text(&t->v[2], HEARTH_NIP90_MAX_INFO) != HEARTH_OK)
        return fail(c, HEARTH_EINVAL, "invalid: bad amount tag");
    r->bolt11 = hearth_nip90_dup(&c->arena, t->v[2].p, t->v[2].n);
    return r->bolt11 ? HEARTH_OK : fail(c, HEARTH_ENOMEM, HEARTH_NIP90_OOM);
}

static int take_progress(reply_parse *c)
{
    const hearth_tag *t = find(c, "progress");
    if (!t)
        return HEARTH_OK;
    uint64_t pct = 0;
    if (t->n < 2 || t->v[1].n > 3 ||
        hearth_nip90_u64(&t->v[1], &pct) != HEARTH_OK || pct > 100)
        return fail(c, HEARTH_EINVAL, "invalid: bad progress tag");
    c->r->percent = (int)pct;
    return HEARTH_OK;
}

static int take_request_id(reply_parse *c)
{
    const hearth_tag *t = hearth_nip90_find(c->ev->tags, c->ev->ntags, "e");
    if (!t || t->n < 2 ||
        hearth_nip90_hex32(&t->v[1], c->r->request_id) != HEARTH_OK)
        return fail(c, HEARTH_EINVAL,
                    "invalid: reply needs an e tag with the request id");
    return HEARTH_OK;
}

static int set_content(reply_parse *c, const char *p, size_t n)
{
    char *copy = hearth_nip90_dup(&c->arena, p, n);
    if (!copy)
        return fail(c, HEARTH_ENOMEM, HEARTH_NIP90_OOM);
    c->r->content = copy;
    c->r->content_len = n;
    return HEARTH_OK;
}

/* Feedback plaintext is normally a JSON array of tags (what NDK and
 * hearth send); anything else is taken as the partial output itself, as
 * the NIP-90 text can be read to allow. */
static int open_feedback(reply_parse *c, const hearth_buf *pt)
{
    hearth_tag *tags = NULL;
    size_t n = 0;
    int rc = hearth_nip90_decode_tags(pt->p, pt->len, HEARTH_NIP90_MAX_TAGS,
                                      &c->arena, &tags, &n);
    if (rc == HEARTH_EINVAL)
        return set_content(c, pt->p, pt->len);
    if (rc == HEARTH_ETOOBIG)
        return fail(c, rc, "invalid: too many tags");
    if (rc != HEARTH_OK)
        return fail(c, rc, HEARTH_NIP90_OOM);
    c->priv = tags;
    c->npriv = n;
    const hearth_tag *t = hearth_nip90_find(tags, n, "content");
    if (t && t->n >= 2)
        return set_content(c, t->v[1].p, t->v[1].n);
    return set_content(c, "", 0);
}

static int open_encrypted(reply_parse *c, const uint8_t *sk)
{
    const hearth_event *ev = c->ev;
    c->r->enc = HEARTH_NIP90_NIP44;
    if (ev->content.n == 0)
        return set_content(c, "", 0);
    if (!sk)
        return fail(c, HEARTH_EINVAL,
                    "invalid: encrypted reply and no key to decrypt it");
    hearth_buf pt = HEARTH_BUF_INIT;
    int rc = hearth_nip90_decrypt(sk, ev->pubkey, ev->content.p,
                                  ev->content.n, HEARTH_EVENT_MAX_JSON, &pt,
                                  &c->r->enc);
    if (rc == HEARTH_ENOMEM)
        fail(c, rc, HEARTH_NIP90_OOM);
    else if (rc != HEARTH_OK)
        fail(c, rc, HEARTH_NIP90_WHY_DECRYPT);
    else if (c->r->is_result)
        rc = set_content(c, pt.p, pt.len);
    else
        rc = open_feedback(c, &pt);
    if (pt.p)
        sodium_memzero(pt.p, pt.len);
    hearth_buf_free(&pt);
    return rc;
}

static int parse_reply(reply_parse *c, const uint8_t *sk)
{
    const hearth_event *ev = c->ev;
    hearth_job_reply *r = c->r;
    memcpy(r->id, ev->id, 32);
    memcpy(r->provider, ev->pubkey, 32);
    r->kind = ev->kind;
    r->is_result = ev->kind != 7000;
    r->status = HEARTH_NIP90_SUCCESS;
    r->info = "";
    r->bolt11 = "";
    r->percent = -1;
    int rc = take_request_id(c);
    if (rc != HEARTH_OK)
        return rc;
    if (hearth_nip90_has_encrypted(ev->tags, ev->ntags))
        rc = open_encrypted(c, sk);
    else
        rc = set_content(c, ev->content.p, ev->content.n);
    if (rc == HEARTH_OK && !r->is_result)
        rc = take_status(c);
    if (rc == HEARTH_OK)
        rc = take_amount(c);
    if (rc == HEARTH_OK && !r->is_result)
        rc = take_progress(c);
    return rc;
}

int hearth_nip90_reply_parse(const hearth_event *ev, const uint8_t *sk,
                             hearth_job_reply **out, const char **why)
{
    const char *ignored;
    if (!why)
        why = &ignored;
    *why = NULL;
    if (!out || !ev) {
        *why = "error: no event";
        return HEARTH_EINVAL;
    }
    *out = NULL;
    if (ev->kind < 6000 || ev->kind > 7000) {
        *why = "invalid: not a job result or feedback kind";
        return HEARTH_EINVAL;
    }
    unsigned need = HEARTH_EV_HAS_ID | HEARTH_EV_HAS_PUBKEY;
    if ((ev->has & need) != need) {
        *why = "invalid: reply has no id or pubkey";
        return HEARTH_EINVAL;
    }
    if (ev->ntags > HEARTH_NIP90_MAX_TAGS) {
        *why = "invalid: too many tags";
        return HEARTH_ETOOBIG;
    }
    reply_parse c = {0};
    c.ev = ev;
    c.r = calloc(1, sizeof *c.r);
    if (!c.r) {
        *why = HEARTH_NIP90_OOM;
        return HEARTH_ENOMEM;
    }
    int rc = parse_reply(&c, sk);
    c.r->mem_ = c.arena;
    if (rc != HEARTH_OK) {
        *why = c.why;
        hearth_job_reply_free(c.r);
        return rc;
    }
    *out = c.r;
    return HEARTH_OK;
}

void hearth_job_reply_free(hearth_job_reply *r)
{
    if (!r)
        return;
    hearth_arena_free(r->mem_);
    free(r);
}
