/* The pow runner: NIP-90 kind 5970 "event PoW delegation". The customer
 * sends an unsigned event and a difficulty; the runner mines the nonce
 * tag (hearth/pow.h, on the GPU when one is there) and hands back the
 * event with the nonce and the id, still unsigned. docs/pow.md has the
 * contract. */
#include "hearth/runner.h"
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/kinds.h"
#include "hearth/pow.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pow_runner {
    hearth_pow_runner_opts o;
    hearth_pow_cuda *cuda;   /* NULL: CPU only */
    uint64_t mhash_s;        /* measured, 0 if not */
} pow_runner;

void hearth_pow_runner_opts_default(hearth_pow_runner_opts *o)
{
    memset(o, 0, sizeof *o);
    o->use_cuda = -1;
    o->max_difficulty = 40;
    o->slots = 1;
    o->bench_ms = 200;
}

static void logf_(const pow_runner *r, const char *fmt, ...)
{
    if (!r->o.log)
        return;
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->o.log(r->o.log_user, line);
}

static void why_set(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || !whylen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* The target from param "pow": 1..max, digits only. */
static int parse_target(const pow_runner *r, const hearth_runner_job *job,
                        int *target, char *why, size_t whylen)
{
    const char *v = hearth_job_param_get(job, "pow");
    if (!v) {
        why_set(why, whylen,
                "param pow is missing: give the difficulty, a whole number "
                "from 1 to %d",
                r->o.max_difficulty);
        return HEARTH_EINVAL;
    }
    size_t n = strlen(v);
    int x = 0, ok = n >= 1 && n <= 3;
    for (size_t i = 0; ok && i < n; i++) {
        ok = v[i] >= '0' && v[i] <= '9';
        x = x * 10 + (v[i] - '0');
    }
    if (!ok || x < 1 || x > r->o.max_difficulty) {
        why_set(why, whylen,
                "param pow must be a whole number from 1 to %d",
                r->o.max_difficulty);
        return HEARTH_EINVAL;
    }
    *target = x;
    return HEARTH_OK;
}

/* The event to mine and its target, or HEARTH_EINVAL with a sentence. */
static int parse_job(const pow_runner *r, const hearth_runner_job *job,
                     hearth_event **ev, int *target, char *why,
                     size_t whylen)
{
    *ev = NULL;
    if (job->kind != HEARTH_KIND_JOB_POW) {
        why_set(why, whylen, "the pow runner serves kind %u, not kind %u",
                HEARTH_KIND_JOB_POW, job->kind);
        return HEARTH_EINVAL;
    }
    if (job->ninputs != 1) {
        why_set(why, whylen,
                "the pow job needs exactly one input, the unsigned event as "
                "text (got %zu)",
                job->ninputs);
        return HEARTH_EINVAL;
    }
    const hearth_job_input *in = &job->inputs[0];
    if (!in->type || strcmp(in->type, "text") != 0) {
        why_set(why, whylen,
                "the input must be of type text, the unsigned event as JSON "
                "(got type %s)",
                in->type ? in->type : "none");
        return HEARTH_EINVAL;
    }
    int rc = parse_target(r, job, target, why, whylen);
    if (rc)
        return rc;
    const char *perr = NULL;
    rc = hearth_event_parse(in->value ? in->value : "", in->value ? in->len : 0,
                            HEARTH_PARSE_UNSIGNED, ev, &perr);
    if (rc) {
        const char *p = perr ? perr : "not valid JSON";
        if (!strncmp(p, "invalid: ", 9))
            p += 9;
        why_set(why, whylen, "the input is not a Nostr event: %s", p);
        return rc == HEARTH_ENOMEM ? rc : HEARTH_EINVAL;
    }
    const char *missing = !((*ev)->has & HEARTH_EV_HAS_PUBKEY) ? "pubkey"
                          : !((*ev)->has & HEARTH_EV_HAS_CREATED_AT)
                              ? "created_at"
                              : NULL;
    if (missing) {
        why_set(why, whylen,
                "the event has no %s, and the id to mine covers it",
                missing);
        hearth_event_free(*ev);
        *ev = NULL;
        return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

static int pow_describe(void *self, hearth_runner_desc *out)
{
    pow_runner *r = self;
    out->name = "pow";
    out->backend = HEARTH_BACKEND_POW;
    out->nkinds = 1;
    out->kinds[0] = HEARTH_KIND_JOB_POW;
    out->slots = r->o.slots ? r->o.slots : 1;
    out->bench_mhash_s = r->mhash_s;
    out->gpu = r->cuda != NULL;
    return HEARTH_OK;
}

static int pow_check(void *self, const hearth_runner_job *job, char *why,
                     size_t whylen)
{
    hearth_event *ev;
    int target;
    int rc = parse_job(self, job, &ev, &target, why, whylen);
    hearth_event_free(ev);
    return rc;
}

static int pow_estimate(void *self, const hearth_runner_job *job,
                        hearth_usage *usage, uint32_t *ms)
{
    pow_runner *r = self;
    int target;
    int rc = parse_target(r, job, &target, NULL, 0);
    if (rc)
        return rc;
    /* each try wins with odds 2^-target: 2^target tries expected */
    usage->hashes = target >= 63 ? UINT64_MAX : (uint64_t)1 << target;
    double rate = (double)(r->mhash_s ? r->mhash_s : 1) * 1e6;
    double t = ceil(ldexp(1.0, target) / rate * 1000.0);
    *ms = t > (double)UINT32_MAX ? UINT32_MAX : (uint32_t)t;
    return HEARTH_OK;
}

typedef struct run_ctx {
    const hearth_runner_io *io;
} run_ctx;

static void on_progress(void *user, uint64_t tries, double done)
{
    run_ctx *c = user;
    if (!c->io->progress)
        return;
    /* 100 only when a nonce is found, not from the odds */
    unsigned p = (unsigned)(done * 100.0);
    c->io->progress(c->io->user, p > 99 ? 99 : p);
}

static int on_cancelled(void *user)
{
    run_ctx *c = user;
    return c->io->cancelled ? c->io->cancelled(c->io->user) : 0;
}

/* Mine on the GPU; any device error falls back to the CPU for this job. */
static int mine(pow_runner *r, hearth_event *ev, int target,
                const hearth_pow_opts *po, hearth_pow_result *pr,
                uint64_t *gpu_ms)
{
    *gpu_ms = 0;
    if (r->cuda) {
        hearth_nip13_job job;
        int rc = hearth_pow_job_init(ev, target, &job);
        if (rc)
            return rc;
        rc = hearth_pow_cuda_mine(r->cuda, &job, po, pr, gpu_ms);
        if (rc == HEARTH_OK)
            rc = hearth_pow_job_apply(ev, &job, pr->nonce);
        hearth_nip13_job_free(&job);
        if (rc != HEARTH_EIO && rc != HEARTH_ENOTFOUND)
            return rc;
        logf_(r, "pow: the GPU failed (%s); mining this job on the CPU",
              hearth_strerror(rc));
    }
    uint64_t before = pr->tries;
    int rc = hearth_pow_mine_event(ev, target, po, pr);
    pr->tries += before;
    return rc;
}

static int pow_run(void *self, const hearth_runner_job *job,
                   const hearth_runner_io *io, hearth_runner_result *res)
{
    pow_runner *r = self;
    hearth_event *ev;
    int target;
    int rc = parse_job(r, job, &ev, &target, res->error, sizeof res->error);
    if (rc)
        return rc;
    run_ctx ctx = {io};
    hearth_pow_opts po;
    hearth_pow_opts_default(&po);
    po.threads = r->o.threads;
    po.impl = (hearth_pow_impl)r->o.cpu_impl;
    po.time_limit_ms = job->time_limit_ms;
    po.progress = on_progress;
    po.progress_ms = 500;
    po.cancelled = on_cancelled;
    po.user = &ctx;
    hearth_pow_result pr;
    memset(&pr, 0, sizeof pr);
    uint64_t gpu_ms = 0;
    rc = mine(r, ev, target, &po, &pr, &gpu_ms);
    res->usage.hashes = pr.tries;
    res->usage.gpu_ms = gpu_ms;
    switch (rc) {
    case HEARTH_OK:
        res->usage.jobs = 1;
        rc = hearth_event_to_json(ev, &res->output);
        if (rc == HEARTH_OK && io->progress)
            io->progress(io->user, 100);
        break;
    case HEARTH_ECANCELED:
        why_set(res->error, sizeof res->error,
                "the job was cancelled after %llu hashes",
                (unsigned long long)pr.tries);
        break;
    case HEARTH_ETIMEDOUT:
        why_set(res->error, sizeof res->error,
                "no nonce reached difficulty %d within the time limit of "
                "%u ms (%llu hashes tried)",
                target, job->time_limit_ms, (unsigned long long)pr.tries);
        break;
    case HEARTH_ENOTFOUND:
        why_set(res->error, sizeof res->error,
                "every nonce of the range was tried without reaching "
                "difficulty %d",
                target);
        rc = HEARTH_EIO;
        break;
    case HEARTH_EINVAL:
        why_set(res->error, sizeof res->error,
                "the event cannot be mined (its pubkey or created_at is "
                "missing, or it is too large)");
        break;
    default:
        why_set(res->error, sizeof res->error, "mining failed: %s",
                hearth_strerror(rc));
        if (rc != HEARTH_ENOMEM)
            rc = HEARTH_EIO;
        break;
    }
    hearth_event_free(ev);
    return rc;
}

static int pow_health(void *self, char *why, size_t whylen)
{
    (void)self;
    (void)why;
    (void)whylen;
    return HEARTH_OK; /* the CPU path is always there */
}

static void pow_free(void *self)
{
    pow_runner *r = self;
    hearth_pow_cuda_close(r->cuda);
    free(r);
}

static const hearth_runner_ops pow_ops = {
    pow_describe, pow_check, pow_estimate, pow_run, pow_health, pow_free,
};

/* Hashes per second for bench_ms on an event no nonce can win. */
static void measure(pow_runner *r)
{
    hearth_event *ev;
    static const char text[] = "hearth pow speed measurement";
    if (hearth_event_new(1, 1700000000, text, sizeof text - 1, &ev))
        return;
    ev->has |= HEARTH_EV_HAS_PUBKEY; /* all-zero key: any key costs the same */
    /* laid out as a typical job (target 24), mined for a target never
     * reached so the run lasts bench_ms */
    hearth_nip13_job job;
    if (hearth_pow_job_init(ev, 24, &job)) {
        hearth_event_free(ev);
        return;
    }
    job.target = HEARTH_NIP13_MAX_BITS;
    hearth_pow_opts po;
    hearth_pow_opts_default(&po);
    po.threads = r->o.threads;
    po.impl = (hearth_pow_impl)r->o.cpu_impl;
    po.time_limit_ms = r->o.bench_ms;
    hearth_pow_result pr;
    uint64_t gpu_ms;
    int rc = r->cuda ? hearth_pow_cuda_mine(r->cuda, &job, &po, &pr, &gpu_ms)
                     : hearth_pow_mine(&job, &po, &pr);
    if (rc == HEARTH_ETIMEDOUT && pr.elapsed_us) {
        double mh = (double)pr.tries / (double)pr.elapsed_us;
        r->mhash_s = mh < 1.0 ? 1 : (uint64_t)(mh + 0.5);
        logf_(r, "pow: %.1f Mhash/s on %s", mh,
              r->cuda ? "the GPU" : hearth_pow_impl_name(pr.impl));
    }
    hearth_nip13_job_free(&job);
    hearth_event_free(ev);
}

int hearth_runner_pow_new(const hearth_pow_runner_opts *o,
                          hearth_runner **out)
{
    *out = NULL;
    hearth_pow_runner_opts dflt;
    if (!o) {
        hearth_pow_runner_opts_default(&dflt);
        o = &dflt;
    }
    if (o->max_difficulty < 1 || o->max_difficulty > HEARTH_NIP13_MAX_BITS)
        return HEARTH_EINVAL;
    hearth_pow_impl impl;
    if (o->cpu_impl < 0 || o->cpu_impl >= HEARTH_POW_NIMPL ||
        (o->cpu_impl != HEARTH_POW_AUTO &&
         !hearth_pow_impl_available((hearth_pow_impl)o->cpu_impl)))
        return HEARTH_EINVAL;
    pow_runner *r = calloc(1, sizeof *r);
    hearth_runner *h = calloc(1, sizeof *h);
    if (!r || !h) {
        free(r);
        free(h);
        return HEARTH_ENOMEM;
    }
    r->o = *o;
    r->o.cuda_lib = NULL; /* not kept: the caller owns the string */
    if (o->use_cuda != 0) {
        char why[HEARTH_RUNNER_WHY_MAX];
        int rc = hearth_pow_cuda_open(o->cuda_lib, &r->cuda, why, sizeof why);
        if (rc && o->use_cuda == 1) {
            logf_(r, "pow: %s", why);
            free(r);
            free(h);
            return rc;
        }
        if (rc)
            logf_(r, "pow: %s; mining on the CPU", why);
        else
            logf_(r, "pow: mining on the GPU with %s (%d device%s)",
                  hearth_pow_cuda_path(r->cuda),
                  hearth_pow_cuda_devices(r->cuda),
                  hearth_pow_cuda_devices(r->cuda) == 1 ? "" : "s");
    }
    if (!r->cuda) {
        if (o->cpu_impl == HEARTH_POW_AUTO &&
            hearth_pow_impl_auto(&impl) != HEARTH_OK)
            logf_(r, "pow: HEARTH_POW_IMPL names no implementation this "
                     "CPU runs; using the fastest");
        else if (o->cpu_impl != HEARTH_POW_AUTO)
            impl = (hearth_pow_impl)o->cpu_impl;
        logf_(r, "pow: CPU miner %s", hearth_pow_impl_name(impl));
    }
    if (o->bench_ms)
        measure(r);
    h->ops = &pow_ops;
    h->self = r;
    *out = h;
    return HEARTH_OK;
}
