/* Loader of the CUDA miner (libhearth-cuda.so, src/cuda/pow.cu) and the
 * host loop around it. hearth never links against the library: it is
 * opened with dlopen, so the same binary runs on machines without a GPU
 * or without the CUDA driver, and says so in one sentence. */
#include "hearth/pow.h"
#include "hearth/error.h"

#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LIBNAME "libhearth-cuda.so"
#define RANGE_US 100000u /* one kernel call: short enough to cancel */

#if defined(__x86_64__)
#define MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define MULTIARCH "aarch64-linux-gnu"
#else
#define MULTIARCH ""
#endif

struct hearth_pow_cuda {
    void *dl;
    char path[PATH_MAX];
    int devices;
    hearth_cuda_pow_search_fn search;
};

static void say(char *why, size_t whylen, const char *fmt, const char *a)
{
    if (why && whylen)
        snprintf(why, whylen, fmt, a);
}

/* 1 loaded, 0 not there, HEARTH_EIO wrong ABI (why set). */
static int load(hearth_pow_cuda *c, const char *path, char *why,
                size_t whylen)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        return 0;
    hearth_cuda_pow_abi_fn abi;
    hearth_cuda_pow_devices_fn devices;
    /* dlsym hands back void *; the exports are functions of these types
     * (pow.cu checks that at compile time) */
    *(void **)&abi = dlsym(dl, "hearth_cuda_pow_abi");
    *(void **)&devices = dlsym(dl, "hearth_cuda_pow_devices");
    *(void **)&c->search = dlsym(dl, "hearth_cuda_pow_search");
    if (!abi || !devices || !c->search || abi() != HEARTH_CUDA_POW_ABI) {
        dlclose(dl);
        say(why, whylen,
            "%s is from another hearth version (its ABI differs); "
            "rebuild it with this one",
            path);
        return HEARTH_EIO;
    }
    c->dl = dl;
    c->devices = devices();
    snprintf(c->path, sizeof c->path, "%s", path);
    return 1;
}

static int load_default(hearth_pow_cuda *c, char *why, size_t whylen)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = 0; /* exe is now the binary's directory */
        /* installed: <prefix>/bin/hearth and <prefix>/<libdir>/hearth;
         * build tree: build/hearth, build/tests/..., build/bench/... next
         * to build/src/cuda */
        static const char *const rel[] = {
            "../lib/" MULTIARCH "/hearth/" LIBNAME,
            "../lib/hearth/" LIBNAME,
            "../lib64/hearth/" LIBNAME,
            LIBNAME,
            "src/cuda/" LIBNAME,
            "../src/cuda/" LIBNAME,
            "../../src/cuda/" LIBNAME,
        };
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            char p[PATH_MAX + 64];
            snprintf(p, sizeof p, "%s/%s", exe, rel[i]);
            if (access(p, R_OK) != 0)
                continue;
            char real[PATH_MAX];
            int rc = load(c, realpath(p, real) ? real : p, why, whylen);
            if (rc)
                return rc;
        }
    }
    /* last: the dynamic loader's own search path (LD_LIBRARY_PATH) */
    return load(c, LIBNAME, why, whylen);
}

int hearth_pow_cuda_open(const char *path, hearth_pow_cuda **out, char *why,
                         size_t whylen)
{
    *out = NULL;
    say(why, whylen, "%s", "");
    hearth_pow_cuda *c = calloc(1, sizeof *c);
    if (!c)
        return HEARTH_ENOMEM;
    const char *env = getenv("HEARTH_CUDA_LIB");
    const char *given = path ? path : (env && *env ? env : NULL);
    int rc = given ? load(c, given, why, whylen)
                   : load_default(c, why, whylen);
    if (rc == 0) {
        if (given)
            say(why, whylen,
                "no CUDA miner: %s could not be loaded (missing, or built "
                "for another system)",
                given);
        else
            say(why, whylen,
                "no CUDA miner: %s was not found next to hearth or in its "
                "lib directory (set HEARTH_CUDA_LIB to its path)",
                LIBNAME);
        rc = HEARTH_ENOTFOUND;
    } else if (rc == 1 && c->devices <= 0) {
        say(why, whylen,
            "no CUDA device: %s loaded, but the CUDA driver reports no GPU",
            c->path);
        rc = HEARTH_ENOTFOUND;
    }
    if (rc != 1) {
        if (c->dl)
            dlclose(c->dl);
        free(c);
        return rc;
    }
    *out = c;
    return HEARTH_OK;
}

int hearth_pow_cuda_devices(const hearth_pow_cuda *c)
{
    return c ? c->devices : 0;
}

const char *hearth_pow_cuda_path(const hearth_pow_cuda *c)
{
    return c ? c->path : "";
}

void hearth_pow_cuda_close(hearth_pow_cuda *c)
{
    if (!c)
        return;
    if (c->dl)
        dlclose(c->dl);
    free(c);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int hearth_pow_cuda_mine(hearth_pow_cuda *c, const hearth_nip13_job *job,
                         const hearth_pow_opts *o, hearth_pow_result *res,
                         uint64_t *gpu_ms)
{
    hearth_pow_opts dflt;
    if (!o) {
        hearth_pow_opts_default(&dflt);
        o = &dflt;
    }
    memset(res, 0, sizeof *res);
    if (gpu_ms)
        *gpu_ms = 0;
    if (!c || !job || job->width < HEARTH_POW_MIN_WIDTH ||
        job->width > HEARTH_NIP13_MAX_WIDTH)
        return HEARTH_EINVAL;
    /* the same range as the CPU miner: width digits, no leading zero */
    uint64_t lo = 1;
    for (unsigned i = 1; i < job->width; i++)
        lo *= 10;
    uint64_t hi = lo * 10;
    if (o->first_batch >= (hi - lo) / HEARTH_POW_BATCH)
        return HEARTH_ENOTFOUND;
    lo += o->first_batch * HEARTH_POW_BATCH;
    if (o->max_tries && o->max_tries < hi - lo)
        hi = lo + o->max_tries;

    uint64_t t0 = now_us(), busy = 0, count = 1u << 20;
    uint64_t next_progress = t0 + (uint64_t)o->progress_ms * 1000u;
    int rc = HEARTH_ENOTFOUND;
    while (lo < hi) {
        uint64_t now = now_us();
        if (o->cancelled && o->cancelled(o->user)) {
            rc = HEARTH_ECANCELED;
            break;
        }
        if (o->time_limit_ms &&
            now - t0 >= (uint64_t)o->time_limit_ms * 1000u) {
            rc = HEARTH_ETIMEDOUT;
            break;
        }
        if (o->progress && now >= next_progress) {
            o->progress(o->user, res->tries,
                        1.0 - exp(-(double)res->tries /
                                  ldexp(1.0, job->target)));
            next_progress = now + (uint64_t)o->progress_ms * 1000u;
        }
        uint64_t n = count < hi - lo ? count : hi - lo, nonce = 0;
        int got = c->search(0, job, lo, n, &nonce);
        uint64_t dt = now_us() - now;
        busy += dt;
        if (got < 0) {
            rc = got;
            break;
        }
        if (got == 1) {
            res->tries += nonce - lo + 1;
            res->nonce = nonce;
            res->bits = hearth_nip13_job_try(job, nonce, NULL);
            /* the device's word is checked, not taken */
            rc = res->bits >= job->target ? HEARTH_OK : HEARTH_EIO;
            break;
        }
        res->tries += n;
        lo += n;
        /* size the next call to ~RANGE_US, growing at most 4x a step */
        double scale = dt ? (double)RANGE_US / (double)dt : 4.0;
        if (scale > 4.0)
            scale = 4.0;
        count = (uint64_t)((double)n * scale);
        if (count < (1u << 16))
            count = 1u << 16;
    }
    res->elapsed_us = now_us() - t0;
    res->impl = HEARTH_POW_AUTO;
    res->threads = 0;
    if (gpu_ms)
        *gpu_ms = busy / 1000u;
    return rc;
}
