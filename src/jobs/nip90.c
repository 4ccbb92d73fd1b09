/* NIP-90 job requests: parse (plain, NIP-44 or NIP-04 encrypted), the
 * route tag, build, and the runner's view. docs/protocol-jobs.md is the
 * profile this follows. */
#include "hearth/nip90.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/pool.h"
#include "../util/arena.h"
#include "nip90_int.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tags that may appear at most once in a request */
enum {
    SEEN_OUTPUT = 1u << 0,
    SEEN_BID = 1u << 1,
    SEEN_RELAYS = 1u << 2,
    SEEN_ROUTE = 1u << 3
};

typedef struct req_parse {
    hearth_job_request *r;
    struct hearth_arena *arena;
    unsigned seen;
    const char *why;
} req_parse;

static const char *const input_types[] = {"text", "url", "event", "job"};

/* The static name, so the request need not own a copy. */
static const char *input_type(const hearth_str *s)
{
    for (size_t i = 0; i < sizeof input_types / sizeof *input_types; i++)
        if (hearth_nip90_is(s, input_types[i]))
            return input_types[i];
    return NULL;
}

/* event and job inputs name an event: anything else is unusable */
static int input_needs_id(const char *type)
{
    return !strcmp(type, "event") || !strcmp(type, "job");
}

static int fail(req_parse *c, int rc, const char *why)
{
    c->why = why;
    return rc;
}

static int once(req_parse *c, unsigned bit)
{
    if (c->seen & bit)
        return 0;
    c->seen |= bit;
    return 1;
}

static char *dup_str(req_parse *c, const hearth_str *s)
{
    return hearth_nip90_dup(&c->arena, s->p, s->n);
}

static int take_input(req_parse *c, const hearth_tag *t)
{
    hearth_job_request *r = c->r;
    if (t->n < 3)
        return fail(c, HEARTH_EINVAL, "invalid: i tag needs data and a type");
    const char *type = input_type(&t->v[2]);
    if (!type)
        return fail(c, HEARTH_EINVAL, "invalid: unknown input type");
    if (t->v[1].n > HEARTH_NIP90_MAX_INPUT)
        return fail(c, HEARTH_ETOOBIG, "invalid: input data too long");
    uint8_t id[32];
    if (input_needs_id(type) && hearth_nip90_hex32(&t->v[1], id) != HEARTH_OK)
        return fail(c, HEARTH_EINVAL,
                    "invalid: event or job input needs an event id");
    /* values 3 and 4: relay hint and marker */
    for (size_t k = 3; k < t->n && k < 5; k++)
        if (hearth_nip90_text(&t->v[k], HEARTH_NIP90_MAX_SHORT) != HEARTH_OK)
            return fail(c, HEARTH_EINVAL, "invalid: bad input relay or marker");
    if (r->ninputs == HEARTH_NIP90_MAX_INPUTS)
        return fail(c, HEARTH_ETOOBIG, "invalid: too many inputs");
    hearth_job_input *in = &r->inputs[r->ninputs];
    char *value = dup_str(c, &t->v[1]);
    char *marker = t->n >= 5 ? dup_str(c, &t->v[4]) : "";
    if (!value || !marker)
        return fail(c, HEARTH_ENOMEM, HEARTH_NIP90_OOM);
    in->value = value;
    in->len = t->v[1].n;
    in->type = type;
    in->marker = marker;
    r->ninputs++;
    return HEARTH_OK;
}

static int param_known(const hearth_job_request *r, const hearth_str *key)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (hearth_nip90_is(key, r->params[i].key))
            return 1;
    return 0;
}

/* A repeated key keeps its first value: hearth_job_param_get returns the
 * first too, and a router that rebuilds the request sends one value, so
 * every peer on the route sees the same job. */
static int take_param(req_parse *c, const hearth_tag *t)
{
    hearth_job_request *r = c->r;
    if (t->n < 3)
        return fail(c, HEARTH_EINVAL,
                    "invalid: param tag needs a key and a value");
    if (t->v[1].n == 0 ||
        hearth_nip90_text(&t->v[1], HEARTH_NIP90_MAX_PARAM_KEY) != HEARTH_OK)
        return fail(c, HEARTH_EINVAL, "invalid: bad param key");
    if (t->v[2].n > HEARTH_NIP90_MAX_PARAM_VALUE)
        return fail(c, HEARTH_ETOOBIG, "invalid: param value too long");
    if (hearth_nip90_text(&t->v[2], HEARTH_NIP90_MAX_PARAM_VALUE) != HEARTH_OK)
        return fail(c, HEARTH_EINVAL, "invalid: bad param value");
    if (param_known(r, &t->v[1]))
        return HEARTH_OK;
    if (r->nparams == HEARTH_NIP90_MAX_PARAMS)
        return fail(c, HEARTH_ETOOBIG, "invalid: too many params");
    char *key = dup_str(c, &t->v[1]);
    char *value = dup_str(c, &t->v[2]);
    if (!key || !value)
        return fail(c, HEARTH_ENOMEM, HEARTH_NIP90_OOM);
    r->params[r->nparams].key = key;
    r->params[r->nparams].value = value;
    r->nparams++;
    return HEARTH_OK;
}

static int take_output(req_parse *c, const hearth_tag *t)
{
    if (!once(c, SEEN_OUTPUT))
        return fail(c, HEARTH_EINVAL, "invalid: duplicate output tag");
    if (t->n < 2 || t->v[1].n == 0 ||
        hearth_nip90_text(&t->v[1], HEARTH_NIP90_MAX_SHORT) != HEARTH_OK)
        return fail(c, HEARTH_EINVAL, "invalid: bad output tag");
    c->r->output = dup_str(c, &t->v[1]);
    return c->r->output ? HEARTH_OK : fail(c, HEARTH_ENOMEM, HEARTH_NIP90_OOM);
}

static int take_bid(req_parse *c, const hearth_tag *t)
{
    if (!once(c, SEEN_BID))
        return fail(c, HEARTH_EINVAL, "invalid: duplicate bid tag");
    if (t->n < 2 || hearth_nip90_u64(&t->v[1], &c->r->bid_msat) != HEARTH_OK)
        return fail(c, HEARTH_EINVAL, "invalid: bad bid tag");
    return HEARTH_OK;
}

static int relay_known(const hearth_job_request *r, const char *url)
{
    for (size_t i = 0; i < r->nrelays; i++)
        if (!strcmp(r->relays[i], url))
            return 1;
    return 0;
}

/* Relays are kept normalized (and without repeats) so that answering
 * there goes through the pool as is. */
static int take_relay(req_parse *c, const hearth_str *url, hearth_buf *tmp)
{
    hearth_buf_reset(tmp);
    if (hearth_nip90_text(url, HEARTH_RELAY_URL_MAX) != HEARTH_OK ||
        hearth_relay_url_normalize(url->p, tmp) != HEARTH_OK ||
        tmp->len > HEARTH_RELAY_URL_MAX)
        return fail(c, HEARTH_EINVAL, "invalid: bad relays tag");
    hearth_job_request *r = c->r;
    if (relay_known(r, tmp->p))
        return HEARTH_OK;
    char *copy = hearth_nip90_dup(&c->arena, tmp->p, tmp->len);
    if (!copy)
        return fail(c, HEARTH_ENOMEM, HEARTH_NIP90_OOM);
    r->relays[r->nrelays++] = copy;
    return HEARTH_OK;
}

static int take_relays(req_parse *c, const hearth_tag *t)
{
    if (!once(c, SEEN_RELAYS))
        return fail(c, HEARTH_EINVAL, "invalid: duplicate relays tag");
    if (t->n - 1 > HEARTH_NIP90_MAX_RELAYS)
        return fail(c, HEARTH_ETOOBIG, "invalid: too many relays");
    hearth_buf tmp = HEARTH_BUF_INIT;
    int rc = HEARTH_OK;
    for (size_t k = 1; rc == HEARTH_OK && k < t->n; k++)
        rc = take_relay(c, &t->v[k], &tmp);
    hearth_buf_free(&tmp);
    return rc;
}

static int key_in(const uint8_t (*keys)[32], size_t n, const uint8_t k[32])
{
    for (size_t i = 0; i < n; i++)
        if (!memcmp(keys[i], k, 32))
            return 1;
    return 0;
}

static int take_p(req_parse *c, const hearth_tag *t)
{
    hearth_job_request *r = c->r;
    uint8_t pk[32];
    if (t->n < 2 || hearth_nip90_hex32(&t->v[1], pk) != HEARTH_OK)
        return fail(c, HEARTH_EINVAL, "invalid: bad p tag");
    if (key_in((const uint8_t(*)[32])r->providers, r->nproviders, pk))
        return HEARTH_OK;
    if (r->nproviders == HEARTH_NIP90_MAX_PROVIDERS)
        return fail(c, HEARTH_ETOOBIG, "invalid: too many p tags");
    memcpy(r->providers[r->nproviders++], pk, 32);
    return HEARTH_OK;
}

static int take_route(req_parse *c, const hearth_tag *t)
{
    hearth_job_request *r = c->r;
    if (!once(c, SEEN_ROUTE))
        return fail(c, HEARTH_EINVAL, "invalid: duplicate route tag");
    if (t->n < 2)
        return fail(c, HEARTH_EINVAL, "invalid: bad route tag");
    if (t->n - 1 > HEARTH_NIP90_MAX_ROUTE)
        return fail(c, HEARTH_ETOOBIG, "invalid: route too long");
    for (size_t k = 1; k < t->n; k++) {
        uint8_t pk[32];
        if (hearth_nip90_hex32(&t->v[k], pk) != HEARTH_OK)
            return fail(c, HEARTH_EINVAL, "invalid: bad route tag");
        if (key_in((const uint8_t(*)[32])r->route, r->nroute, pk))
            return fail(c, HEARTH_EINVAL, "invalid: route repeats a peer");
        memcpy(r->route[r->nroute++], pk, 32);
    }
    return HEARTH_OK;
}

/* p tags address the request, so only the public ones count. */
static int take_tag(req_parse *c, const hearth_tag *t, int private_)
{
    if (t->n == 0)
        return HEARTH_OK;
    const hearth_str *name = &t->v[0];
    if (hearth_nip90_is(name, "i"))
        return take_input(c, t);
    if (hearth_nip90_is(name, "param"))
        return take_param(c, t);
    if (hearth_nip90_is(name, "output"))
        return take_output(c, t);
    if (hearth_nip90_is(name, "bid"))
        return take_bid(c, t);
    if (hearth_nip90_is(name, "relays"))
        return take_relays(c, t);
    if (hearth_nip90_is(name, "route"))
        return take_route(c, t);
    if (hearth_nip90_is(name, "p") && !private_)
        return take_p(c, t);
    return HEARTH_OK;
}

static int take_tags(req_parse *c, const hearth_tag *tags, size_t n,
                     int private_)
{
    for (size_t i = 0; i < n; i++) {
        int rc = take_tag(c, &tags[i], private_);
        if (rc != HEARTH_OK)
            return rc;
    }
    return HEARTH_OK;
}

/* Checks who the encrypted request is for before spending a decryption
 * on it. */
static int check_addressee(req_parse *c, const uint8_t *sk)
{
    if (c->r->nproviders != 1)
        return fail(c, HEARTH_EINVAL,
                    "invalid: encrypted request needs exactly one p tag");
    if (!sk)
        return fail(c, HEARTH_EINVAL,
                    "invalid: encrypted request and no key to decrypt it");
    uint8_t pk[32];
    if (hearth_key_pubkey(sk, pk) != HEARTH_OK)
        return fail(c, HEARTH_EINVAL, "error: bad secret key");
    if (memcmp(pk, c->r->providers[0], 32))
        return fail(c, HEARTH_EINVAL,
                    "invalid: encrypted request is not addressed to us");
    return HEARTH_OK;
}

static int decode_private(req_parse *c, const hearth_event *ev,
                          const hearth_buf *pt)
{
    hearth_tag *tags = NULL;
    size_t n = 0;
    int rc = hearth_nip90_decode_tags(pt->p, pt->len,
                                      HEARTH_NIP90_MAX_TAGS - ev->ntags,
                                      &c->arena, &tags, &n);
    if (rc == HEARTH_ETOOBIG)
        return fail(c, rc, "invalid: too many tags");
    if (rc == HEARTH_ENOMEM)
        return fail(c, rc, HEARTH_NIP90_OOM);
    if (rc != HEARTH_OK)
        return fail(c, rc, HEARTH_NIP90_WHY_NOTAGS);
    return take_tags(c, tags, n, 1);
}

static int take_encrypted(req_parse *c, const hearth_event *ev,
                          const uint8_t *sk)
{
    int rc = check_addressee(c, sk);
    if (rc != HEARTH_OK)
        return rc;
    if (ev->content.n == 0)
        return fail(c, HEARTH_EINVAL,
                    "invalid: encrypted request has no content");
    hearth_buf pt = HEARTH_BUF_INIT;
    rc = hearth_nip90_decrypt(sk, ev->pubkey, ev->content.p, ev->content.n,
                              HEARTH_NIP90_MAX_PLAIN, &pt, &c->r->enc);
    if (rc == HEARTH_ETOOBIG)
        fail(c, rc, "invalid: encrypted tags too long");
    else if (rc == HEARTH_ENOMEM)
        fail(c, rc, HEARTH_NIP90_OOM);
    else if (rc != HEARTH_OK)
        fail(c, rc, HEARTH_NIP90_WHY_DECRYPT);
    else
        rc = decode_private(c, ev, &pt);
    if (pt.p)
        sodium_memzero(pt.p, pt.len);
    hearth_buf_free(&pt);
    return rc;
}

static int keep_json(req_parse *c, const hearth_event *ev)
{
    hearth_buf b = HEARTH_BUF_INIT;
    int rc = hearth_event_to_json(ev, &b);
    if (rc != HEARTH_OK) {
        hearth_buf_free(&b);
        return fail(c, rc, HEARTH_NIP90_OOM);
    }
    c->r->json = b.p;
    c->r->json_len = b.len;
    return HEARTH_OK;
}

static int parse_request(req_parse *c, const hearth_event *ev,
                         const uint8_t *sk)
{
    hearth_job_request *r = c->r;
    memcpy(r->id, ev->id, 32);
    memcpy(r->customer, ev->pubkey, 32);
    r->kind = ev->kind;
    r->created_at = ev->created_at;
    int64_t at = 0;
    int rc = hearth_event_expiration(ev, &at);
    if (rc < 0)
        return fail(c, HEARTH_EINVAL, "invalid: bad expiration tag");
    r->expiration = rc == 1 ? at : 0;
    rc = take_tags(c, ev->tags, ev->ntags, 0);
    if (rc == HEARTH_OK && hearth_nip90_has_encrypted(ev->tags, ev->ntags))
        rc = take_encrypted(c, ev, sk);
    if (rc != HEARTH_OK)
        return rc;
    /* the author is the last peer the job passed through */
    if (r->nroute && memcmp(r->route[r->nroute - 1], r->customer, 32))
        return fail(c, HEARTH_EINVAL,
                    "invalid: route must end with the request's author");
    return keep_json(c, ev);
}

int hearth_nip90_request_parse(const hearth_event *ev, const uint8_t *sk,
                               hearth_job_request **out, const char **why)
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
    if (ev->kind < 5000 || ev->kind > 5999) {
        *why = "invalid: not a job request kind";
        return HEARTH_EINVAL;
    }
    unsigned need = HEARTH_EV_HAS_ID | HEARTH_EV_HAS_PUBKEY;
    if ((ev->has & need) != need) {
        *why = "invalid: request has no id or pubkey";
        return HEARTH_EINVAL;
    }
    if (ev->ntags > HEARTH_NIP90_MAX_TAGS) {
        *why = "invalid: too many tags";
        return HEARTH_ETOOBIG;
    }
    req_parse c = {0};
    c.r = calloc(1, sizeof *c.r);
    if (!c.r) {
        *why = HEARTH_NIP90_OOM;
        return HEARTH_ENOMEM;
    }
    int rc = parse_request(&c, ev, sk);
    c.r->mem_ = c.arena;
    if (rc != HEARTH_OK) {
        *why = c.why;
        hearth_job_request_free(c.r);
        return rc;
    }
    *out = c.r;
    return HEARTH_OK;
}

void hearth_job_request_free(hearth_job_request *r)
{
    if (!r)
        return;
    hearth_arena_free(r->mem_);
    free(r->json);
    free(r);
}

int hearth_nip90_request_is_for(const hearth_job_request *r,
                                const uint8_t pubkey[32])
{
    if (r->nproviders == 0)
        return 1;
    return key_in((const uint8_t(*)[32])r->providers, r->nproviders, pubkey);
}

void hearth_nip90_runner_job(const hearth_job_request *r,
                             hearth_runner_job *job)
{
    memset(job, 0, sizeof *job);
    job->kind = r->kind;
    job->ninputs = r->ninputs;
    job->inputs = r->inputs;
    job->nparams = r->nparams;
    job->params = r->params;
    job->output = r->output;
}

/* ---- building ---- */

static int check_input(const hearth_job_input *in)
{
    if (!in->value || !in->type || in->len > HEARTH_NIP90_MAX_INPUT)
        return HEARTH_EINVAL;
    hearth_str type = {in->type, strlen(in->type)};
    const char *known = input_type(&type);
    if (!known)
        return HEARTH_EINVAL;
    uint8_t id[32];
    hearth_str value = {in->value, in->len};
    if (input_needs_id(known) && hearth_nip90_hex32(&value, id) != HEARTH_OK)
        return HEARTH_EINVAL;
    if (in->marker && strlen(in->marker) > HEARTH_NIP90_MAX_SHORT)
        return HEARTH_EINVAL;
    return HEARTH_OK;
}

/* Unlike the parser, a repeated key is refused: the caller would lose a
 * value without noticing. */
static int check_params(const hearth_job_param *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!p[i].key || !p[i].value)
            return HEARTH_EINVAL;
        size_t klen = strlen(p[i].key);
        if (klen == 0 || klen > HEARTH_NIP90_MAX_PARAM_KEY ||
            strlen(p[i].value) > HEARTH_NIP90_MAX_PARAM_VALUE)
            return HEARTH_EINVAL;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(p[k].key, p[i].key))
                return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

static int check_relays(const char *const *relays, size_t n)
{
    hearth_buf tmp = HEARTH_BUF_INIT;
    int rc = HEARTH_OK;
    for (size_t i = 0; rc == HEARTH_OK && i < n; i++) {
        hearth_buf_reset(&tmp);
        if (!relays[i] || strlen(relays[i]) > HEARTH_RELAY_URL_MAX ||
            hearth_relay_url_normalize(relays[i], &tmp) != HEARTH_OK ||
            tmp.len > HEARTH_RELAY_URL_MAX)
            rc = HEARTH_EINVAL;
    }
    hearth_buf_free(&tmp);
    return rc;
}

static int check_route(const hearth_job_spec *s, const uint8_t author[32])
{
    if (s->nroute > HEARTH_NIP90_MAX_ROUTE)
        return HEARTH_ETOOBIG;
    for (size_t i = 0; i < s->nroute; i++)
        if (key_in(s->route, i, s->route[i]))
            return HEARTH_EINVAL;
    if (s->nroute && memcmp(s->route[s->nroute - 1], author, 32))
        return HEARTH_EINVAL;
    return HEARTH_OK;
}

static int check_counts(const hearth_job_spec *s)
{
    if (s->ninputs > HEARTH_NIP90_MAX_INPUTS ||
        s->nparams > HEARTH_NIP90_MAX_PARAMS ||
        s->nrelays > HEARTH_NIP90_MAX_RELAYS ||
        s->nproviders > HEARTH_NIP90_MAX_PROVIDERS)
        return HEARTH_ETOOBIG;
    if ((s->ninputs && !s->inputs) || (s->nparams && !s->params) ||
        (s->nrelays && !s->relays) || (s->nproviders && !s->providers) ||
        (s->nroute && !s->route))
        return HEARTH_EINVAL;
    return HEARTH_OK;
}

static int check_spec(const hearth_job_spec *s, const uint8_t author[32])
{
    if (s->kind < 5000 || s->kind > 5999)
        return HEARTH_EINVAL;
    int rc = check_counts(s);
    for (size_t i = 0; rc == HEARTH_OK && i < s->ninputs; i++)
        rc = check_input(&s->inputs[i]);
    if (rc == HEARTH_OK)
        rc = check_params(s->params, s->nparams);
    if (rc == HEARTH_OK)
        rc = check_relays(s->relays, s->nrelays);
    if (rc == HEARTH_OK)
        rc = check_route(s, author);
    if (rc != HEARTH_OK)
        return rc;
    if (s->output &&
        (!*s->output || strlen(s->output) > HEARTH_NIP90_MAX_SHORT))
        return HEARTH_EINVAL;
    if (s->enc != HEARTH_NIP90_PLAIN && s->enc != HEARTH_NIP90_NIP04 &&
        s->enc != HEARTH_NIP90_NIP44)
        return HEARTH_EINVAL;
    if (s->enc != HEARTH_NIP90_PLAIN && s->nproviders != 1)
        return HEARTH_EINVAL;
    if (s->expiration < 0 || s->expiration > HEARTH_MAX_TIMESTAMP)
        return HEARTH_EINVAL;
    return HEARTH_OK;
}

static int add_input(hearth_nip90_tw *w, const hearth_job_input *in)
{
    int marked = in->marker && *in->marker;
    /* the relay hint slot stays empty: inputs carry none in hearth */
    const char *v[5] = {"i", in->value, in->type, "", in->marker};
    size_t lens[5] = {1, in->len, strlen(in->type), 0,
                      marked ? strlen(in->marker) : 0};
    return hearth_nip90_tw_add(w, marked ? 5 : 3, v, lens);
}

static int add_u64(hearth_nip90_tw *w, const char *name, uint64_t x)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, x);
    const char *v[2] = {name, num};
    return hearth_nip90_tw_add(w, 2, v, NULL);
}

static int add_route(hearth_nip90_tw *w, const hearth_job_spec *s)
{
    char hex[HEARTH_NIP90_MAX_ROUTE][65];
    const char *v[HEARTH_NIP90_MAX_ROUTE + 1] = {"route"};
    for (size_t i = 0; i < s->nroute; i++) {
        hearth_hex_encode(s->route[i], 32, hex[i]);
        v[i + 1] = hex[i];
    }
    return hearth_nip90_tw_add(w, s->nroute + 1, v, NULL);
}

/* The tags NDK moves into the content of an encrypted request (i, param,
 * output, bid, relays), plus the route: which peers relayed a private job
 * is nobody else's business. */
static int add_private(hearth_nip90_tw *w, const hearth_job_spec *s)
{
    int rc = HEARTH_OK;
    for (size_t i = 0; rc == HEARTH_OK && i < s->ninputs; i++)
        rc = add_input(w, &s->inputs[i]);
    for (size_t i = 0; rc == HEARTH_OK && i < s->nparams; i++) {
        const char *v[3] = {"param", s->params[i].key, s->params[i].value};
        rc = hearth_nip90_tw_add(w, 3, v, NULL);
    }
    if (rc == HEARTH_OK && s->output) {
        const char *v[2] = {"output", s->output};
        rc = hearth_nip90_tw_add(w, 2, v, NULL);
    }
    if (rc == HEARTH_OK && s->bid_msat)
        rc = add_u64(w, "bid", s->bid_msat);
    if (rc == HEARTH_OK && s->nrelays) {
        const char *v[HEARTH_NIP90_MAX_RELAYS + 1] = {"relays"};
        for (size_t i = 0; i < s->nrelays; i++)
            v[i + 1] = s->relays[i];
        rc = hearth_nip90_tw_add(w, s->nrelays + 1, v, NULL);
    }
    if (rc == HEARTH_OK && s->nroute)
        rc = add_route(w, s);
    return rc;
}

static int add_public(hearth_event *ev, const hearth_job_spec *s)
{
    int rc = HEARTH_OK;
    for (size_t i = 0; rc == HEARTH_OK && i < s->nproviders; i++) {
        char hex[65];
        hearth_hex_encode(s->providers[i], 32, hex);
        rc = hearth_event_add_tagv(ev, "p", hex, NULL);
    }
    if (rc == HEARTH_OK && s->expiration) {
        char num[24];
        snprintf(num, sizeof num, "%" PRId64, s->expiration);
        rc = hearth_event_add_tagv(ev, "expiration", num, NULL);
    }
    if (rc == HEARTH_OK && s->enc != HEARTH_NIP90_PLAIN)
        rc = hearth_event_add_tagv(ev, "encrypted", NULL);
    return rc;
}

static int seal(hearth_event *ev, const hearth_job_spec *s,
                const uint8_t sk[32], const hearth_buf *pt)
{
    if (pt->len > HEARTH_NIP90_MAX_PLAIN)
        return HEARTH_ETOOBIG;
    hearth_buf ct = HEARTH_BUF_INIT;
    int rc = hearth_nip90_encrypt(s->enc, sk, s->providers[0], pt->p,
                                  pt->len, &ct);
    if (rc == HEARTH_OK)
        rc = hearth_event_set_content(ev, ct.p, ct.len);
    hearth_buf_free(&ct);
    return rc;
}

static int build_request(hearth_event *ev, const hearth_job_spec *s,
                         const uint8_t sk[32])
{
    hearth_buf pt = HEARTH_BUF_INIT;
    int enc = s->enc != HEARTH_NIP90_PLAIN;
    hearth_nip90_tw w;
    int rc = hearth_nip90_tw_init(&w, ev, enc ? &pt : NULL);
    if (rc == HEARTH_OK)
        rc = add_private(&w, s);
    if (rc == HEARTH_OK)
        rc = hearth_nip90_tw_end(&w);
    if (rc == HEARTH_OK && enc)
        rc = seal(ev, s, sk, &pt);
    if (rc == HEARTH_OK)
        rc = add_public(ev, s);
    if (pt.p)
        sodium_memzero(pt.p, pt.len);
    hearth_buf_free(&pt);
    return rc;
}

int hearth_nip90_request_build(const hearth_job_spec *spec,
                               const uint8_t sk[32], int64_t now,
                               hearth_event **out)
{
    if (!out || !spec || !sk)
        return HEARTH_EINVAL;
    *out = NULL;
    uint8_t author[32];
    int rc = hearth_key_pubkey(sk, author);
    if (rc == HEARTH_OK)
        rc = check_spec(spec, author);
    if (rc != HEARTH_OK)
        return rc;
    hearth_event *ev = NULL;
    rc = hearth_event_new(spec->kind, now, "", 0, &ev);
    if (rc == HEARTH_OK)
        rc = build_request(ev, spec, sk);
    if (rc != HEARTH_OK) {
        hearth_event_free(ev);
        return rc;
    }
    *out = ev;
    return HEARTH_OK;
}
