#include "hearth/policy.h"
#include "hearth/error.h"
#include "hearth/kinds.h"
#include "hearth/nip13.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void hearth_policy_init(hearth_policy *p)
{
    memset(p, 0, sizeof *p);
    p->max_future = 15 * 60;
}

static int job_kind_allowed(const hearth_policy *p, uint32_t request_kind)
{
    if (request_kind < HEARTH_KIND_JOB_MIN || request_kind > HEARTH_KIND_JOB_MAX)
        return 0;
    if (p->njob_kinds == 0)
        return 1;
    for (size_t i = 0; i < p->njob_kinds; i++)
        if (p->job_kinds[i] == request_kind)
            return 1;
    return 0;
}

int hearth_policy_market_kind(const hearth_policy *p, uint32_t kind)
{
    switch (kind) {
    case HEARTH_KIND_METADATA:
    case HEARTH_KIND_DELETION:
    case HEARTH_KIND_RELAY_LIST:
    case HEARTH_KIND_HANDLER_INFO:
    case HEARTH_KIND_HANDLER_REC:
    case HEARTH_KIND_JOB_FEEDBACK:
    case HEARTH_KIND_OFFER:
    case HEARTH_KIND_METERING_NOTE:
    case HEARTH_KIND_RECEIPT:
        return 1;
    }
    if (job_kind_allowed(p, kind))
        return 1;
    /* a result is welcome exactly when its request kind is */
    return kind >= HEARTH_KIND_JOB_MIN + HEARTH_KIND_RESULT_OFFSET &&
           job_kind_allowed(p, kind - HEARTH_KIND_RESULT_OFFSET);
}

static int pow_for_kind(const hearth_policy *p, uint32_t kind)
{
    for (size_t i = 0; i < p->npow; i++)
        if (p->pow[i].kind == kind)
            return p->pow[i].bits;
    return p->default_pow;
}

int hearth_policy_check(const hearth_policy *p, const hearth_event *ev,
                        int64_t now, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (p->discovery && !hearth_policy_market_kind(p, ev->kind)) {
        *why = "blocked: this relay only accepts hearth market kinds";
        return HEARTH_EPERM;
    }
    if (p->max_future > 0 && ev->created_at > now + p->max_future) {
        *why = "invalid: created_at is too far in the future";
        return HEARTH_EPERM;
    }
    if (p->max_content && ev->content.n > p->max_content) {
        *why = "invalid: content too large";
        return HEARTH_EPERM;
    }
    int bits = pow_for_kind(p, ev->kind);
    if (bits > 0 && hearth_nip13_check(ev, bits, why) != HEARTH_OK)
        return HEARTH_EPERM;
    return HEARTH_OK;
}

/* strict decimal in [0, max]; *end is set past the digits */
static int parse_uint(const char *s, unsigned long max, unsigned long *out,
                      const char **end)
{
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    char *e;
    unsigned long v = strtoul(s, &e, 10);
    if (errno || v > max)
        return 0;
    *out = v;
    *end = e;
    return 1;
}

int hearth_policy_parse_kinds(hearth_policy *p, const char *list,
                              const char **why)
{
    const char *s = list;
    p->njob_kinds = 0;
    while (*s) {
        unsigned long a, b;
        if (!parse_uint(s, HEARTH_KIND_JOB_MAX, &a, &s) || a < HEARTH_KIND_JOB_MIN)
            goto bad;
        b = a;
        if (*s == '-' && (!parse_uint(s + 1, HEARTH_KIND_JOB_MAX, &b, &s) || b < a))
            goto bad;
        for (unsigned long k = a; k <= b; k++) {
            if (p->njob_kinds == HEARTH_POLICY_MAX_KINDS) {
                *why = "too many job kinds (at most 256)";
                return HEARTH_EINVAL;
            }
            p->job_kinds[p->njob_kinds++] = (uint32_t)k;
        }
        if (*s == ',')
            s++;
        else if (*s)
            goto bad;
    }
    return HEARTH_OK;
bad:
    *why = "job kinds must be a list like 5970,5100-5199 within 5000-5999";
    return HEARTH_EINVAL;
}

int hearth_policy_parse_pow(hearth_policy *p, const char *list,
                            const char **why)
{
    const char *s = list;
    p->npow = 0;
    while (*s) {
        unsigned long kind, bits;
        if (*s == '*' && s[1] == ':') {
            if (!parse_uint(s + 2, 256, &bits, &s))
                goto bad;
            p->default_pow = (int)bits;
        } else {
            if (!parse_uint(s, HEARTH_MAX_KIND, &kind, &s) || *s != ':' ||
                !parse_uint(s + 1, 256, &bits, &s))
                goto bad;
            if (p->npow == HEARTH_POLICY_MAX_KINDS) {
                *why = "too many PoW rules (at most 256)";
                return HEARTH_EINVAL;
            }
            p->pow[p->npow].kind = (uint32_t)kind;
            p->pow[p->npow++].bits = (int)bits;
        }
        if (*s == ',')
            s++;
        else if (*s)
            goto bad;
    }
    return HEARTH_OK;
bad:
    *why = "PoW rules must look like 5970:20,1:8,*:0 (kind:bits, * = any)";
    return HEARTH_EINVAL;
}
