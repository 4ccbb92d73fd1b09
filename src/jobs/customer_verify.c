/* Customer-side checks of a NIP-90 result (pure functions): the envelope
 * every result must have right, and for NIP-13 PoW delegation (kind 5970)
 * the mined event itself, since a wrong answer there is cheap to detect
 * and expensive to discover later (a relay refusing the event). */
#include "hearth/customer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/error.h"
#include "hearth/kinds.h"
#include "hearth/nip13.h"

static int failf(char *why, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int failf(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why && n)
        vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return HEARTH_EINVAL;
}

static int is_nonce(const hearth_tag *t)
{
    return t->n >= 1 && t->v[0].n == 5 && !memcmp(t->v[0].p, "nonce", 5);
}

static int str_eq(const hearth_str *a, const hearth_str *b)
{
    return a->n == b->n && !memcmp(a->p, b->p, a->n);
}

static int tag_eq(const hearth_tag *a, const hearth_tag *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (!str_eq(&a->v[i], &b->v[i]))
            return 0;
    return 1;
}

/* The miner may only replace nonce tags: the others must match in order. */
static int same_tags(const hearth_event *in, const hearth_event *out)
{
    size_t i = 0, k = 0;
    for (;;) {
        while (i < in->ntags && is_nonce(&in->tags[i]))
            i++;
        while (k < out->ntags && is_nonce(&out->tags[k]))
            k++;
        if (i == in->ntags || k == out->ntags)
            return i == in->ntags && k == out->ntags;
        if (!tag_eq(&in->tags[i++], &out->tags[k++]))
            return 0;
    }
}

static int same_fields(const hearth_event *in, const hearth_event *out,
                       char *why, size_t n)
{
    if ((in->has & HEARTH_EV_HAS_PUBKEY) &&
        memcmp(in->pubkey, out->pubkey, 32))
        return failf(why, n, "the mined event's pubkey was changed");
    if ((in->has & HEARTH_EV_HAS_CREATED_AT) &&
        in->created_at != out->created_at)
        return failf(why, n, "the mined event's created_at was changed");
    if (in->kind != out->kind)
        return failf(why, n, "the mined event's kind was changed");
    if (!str_eq(&in->content, &out->content))
        return failf(why, n, "the mined event's content was changed");
    if (!same_tags(in, out))
        return failf(why, n, "the mined event's tags were changed");
    return HEARTH_OK;
}

static int check_mined(const hearth_event *in, const hearth_event *out,
                       int target, char *why, size_t n)
{
    uint8_t id[32];
    int committed = 0;
    unsigned need = HEARTH_EV_HAS_ID | HEARTH_EV_HAS_PUBKEY |
                    HEARTH_EV_HAS_CREATED_AT;
    if ((out->has & need) != need)
        return failf(why, n, "the mined event lacks its id, pubkey or "
                             "created_at");
    if (hearth_event_compute_id(out, id) != HEARTH_OK ||
        memcmp(id, out->id, 32))
        return failf(why, n, "the mined event's id is not its NIP-01 id");
    int bits = hearth_nip13_leading_zero_bits(id);
    if (bits < target)
        return failf(why, n, "the mined event has %d leading zero bits, "
                             "fewer than the %d asked for", bits, target);
    if (hearth_nip13_committed_target(out, &committed) != 1)
        return failf(why, n, "the mined event has no single nonce tag "
                             "committing to a target");
    if (committed < target)
        return failf(why, n, "the nonce tag commits to %d bits, fewer than "
                             "the %d asked for", committed, target);
    if (same_fields(in, out, why, n) != HEARTH_OK)
        return HEARTH_EINVAL;
    if (why && n)
        snprintf(why, n, "PoW: id recomputed, %d >= %d leading zero bits, "
                         "committed target %d, other fields unchanged",
                 bits, target, committed);
    return HEARTH_OK;
}

int hearth_customer_verify_pow(const char *input, size_t input_len,
                               int target, const char *output,
                               size_t output_len, char *why, size_t whylen)
{
    hearth_event *in = NULL, *out = NULL;
    if (!input || !output || target < 0 || target > HEARTH_NIP13_MAX_BITS)
        return failf(why, whylen, "no input, no output or a bad target");
    if (hearth_event_parse(input, input_len, HEARTH_PARSE_UNSIGNED, &in,
                           NULL) != HEARTH_OK)
        return failf(why, whylen, "the job's input is not an event");
    int rc = hearth_event_parse(output, output_len, HEARTH_PARSE_UNSIGNED,
                                &out, NULL);
    if (rc != HEARTH_OK)
        rc = failf(why, whylen, "the result is not a Nostr event");
    else
        rc = check_mined(in, out, target, why, whylen);
    hearth_event_free(in);
    hearth_event_free(out);
    return rc;
}

static const char *param_of(const hearth_customer_check *ck, const char *k)
{
    for (size_t i = 0; i < ck->nparams; i++)
        if (ck->params[i].key && !strcmp(ck->params[i].key, k))
            return ck->params[i].value;
    return NULL;
}

/* a decimal 0..256, the whole string */
static int parse_target(const char *s, int *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return HEARTH_EINVAL;
    long x = strtol(s, &end, 10);
    if (*end || x > HEARTH_NIP13_MAX_BITS)
        return HEARTH_EINVAL;
    *out = (int)x;
    return HEARTH_OK;
}

static int check_pow(const hearth_customer_check *ck,
                     const hearth_job_reply *r, char *why, size_t n)
{
    int target;
    if (ck->ninputs != 1 ||
        parse_target(param_of(ck, "pow"), &target) != HEARTH_OK)
        return failf(why, n, "a PoW job needs one input and param pow");
    return hearth_customer_verify_pow(ck->inputs[0].value, ck->inputs[0].len,
                                      target, r->content, r->content_len,
                                      why, n);
}

static int check_envelope(const hearth_customer_check *ck,
                          const hearth_event *ev, const hearth_job_reply *r,
                          char *why, size_t n)
{
    if (!r->is_result ||
        ev->kind != ck->kind + HEARTH_KIND_RESULT_OFFSET)
        return failf(why, n, "the result has kind %u, not %u", ev->kind,
                     ck->kind + HEARTH_KIND_RESULT_OFFSET);
    if (memcmp(r->request_id, ck->request_id, 32))
        return failf(why, n, "the result's e tag names another request");
    if (memcmp(ev->pubkey, ck->provider, 32))
        return failf(why, n, "the result is not from the provider asked");
    if (r->amount_msat > ck->bid_msat)
        return failf(why, n, "the result charges %llu msat, above the bid "
                             "of %llu", (unsigned long long)r->amount_msat,
                     (unsigned long long)ck->bid_msat);
    return HEARTH_OK;
}

int hearth_customer_verify(const hearth_customer_check *ck,
                           const hearth_event *ev,
                           const hearth_job_reply *reply, char *why,
                           size_t whylen)
{
    char pow[HEARTH_CUSTOMER_SUMMARY_MAX] = "";
    if (!ck || !ev || !reply)
        return failf(why, whylen, "nothing to check");
    if (check_envelope(ck, ev, reply, why, whylen) != HEARTH_OK)
        return HEARTH_EINVAL;
    if (ck->kind == HEARTH_KIND_JOB_POW &&
        check_pow(ck, reply, why, whylen) != HEARTH_OK)
        return HEARTH_EINVAL;
    if (ck->kind == HEARTH_KIND_JOB_POW && why && whylen)
        snprintf(pow, sizeof pow, "; %s", why);
    if (why && whylen)
        snprintf(why, whylen, "kind %u, e tag, author and amount %llu <= "
                              "bid %llu checked%s",
                 ev->kind, (unsigned long long)reply->amount_msat,
                 (unsigned long long)ck->bid_msat, pow);
    return HEARTH_OK;
}

int hearth_customer_estimate(const hearth_job_spec *spec, hearth_usage *u)
{
    int target;
    memset(u, 0, sizeof *u);
    u->jobs = 1;
    if (!spec || spec->kind != HEARTH_KIND_JOB_POW)
        return HEARTH_ENOTFOUND;
    for (size_t i = 0; i < spec->nparams; i++) {
        if (!spec->params[i].key || strcmp(spec->params[i].key, "pow") ||
            parse_target(spec->params[i].value, &target) != HEARTH_OK)
            continue;
        /* the expected number of tries to find target zero bits */
        u->hashes = target >= 64 ? UINT64_MAX : (uint64_t)1 << target;
        return HEARTH_OK;
    }
    return HEARTH_ENOTFOUND;
}
