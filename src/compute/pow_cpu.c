/* The CPU miner: layout choice, implementation dispatch, and the threads
 * that share a job's nonce range batch by batch. The kernels that hash
 * are in pow_avx2.c, pow_avx512.c, pow_shani.c and, for the portable
 * path, hearth_pow_scan in src/util/sha256_core.h. */
#include "hearth/pow.h"
#include "hearth/error.h"
#include "pow_internal.h"
#include "../util/arena.h"
#include "../util/sha256_core.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const uint32_t hearth_pow_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu,
    0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u, 0xd807aa98u, 0x12835b01u,
    0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u,
    0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu,
    0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u,
    0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u,
    0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u,
    0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u, 0x1e376c08u,
    0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu,
    0x682e6ff3u, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
    0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

/* ---- implementations ---- */

static const char *const impl_names[HEARTH_POW_NIMPL] = {
    "auto", "scalar", "avx2", "avx512", "shani"};

const char *hearth_pow_impl_name(hearth_pow_impl impl)
{
    if ((unsigned)impl >= HEARTH_POW_NIMPL)
        return "?";
    return impl_names[impl];
}

int hearth_pow_impl_parse(const char *name, hearth_pow_impl *out)
{
    for (unsigned i = 0; name && i < HEARTH_POW_NIMPL; i++)
        if (!strcmp(name, impl_names[i])) {
            *out = (hearth_pow_impl)i;
            return HEARTH_OK;
        }
    return HEARTH_EINVAL;
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* SHA-NI is CPUID leaf 7 EBX bit 29; GCC 12's __builtin_cpu_supports
 * has no name for it. */
static int cpu_has_sha(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b >> 29) & 1;
}

int hearth_pow_impl_available(hearth_pow_impl impl)
{
    __builtin_cpu_init();
    switch (impl) {
    case HEARTH_POW_SCALAR:
        return 1;
    case HEARTH_POW_AVX2:
        return __builtin_cpu_supports("avx2") != 0;
    case HEARTH_POW_AVX512:
        return __builtin_cpu_supports("avx512f") != 0;
    case HEARTH_POW_SHANI:
        return cpu_has_sha() && __builtin_cpu_supports("sse4.1");
    default:
        return 0;
    }
}
#else
int hearth_pow_impl_available(hearth_pow_impl impl)
{
    return impl == HEARTH_POW_SCALAR;
}
#endif

int hearth_pow_impl_auto(hearth_pow_impl *out)
{
    /* SHA-NI first: where it exists it beats 16 lanes of AVX-512 */
    static const hearth_pow_impl order[] = {HEARTH_POW_SHANI,
                                            HEARTH_POW_AVX512,
                                            HEARTH_POW_AVX2};
    *out = HEARTH_POW_SCALAR;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (hearth_pow_impl_available(order[i])) {
            *out = order[i];
            break;
        }
    const char *env = getenv("HEARTH_POW_IMPL");
    if (!env || !*env || !strcmp(env, "auto"))
        return HEARTH_OK;
    hearth_pow_impl forced;
    if (hearth_pow_impl_parse(env, &forced) ||
        !hearth_pow_impl_available(forced))
        return HEARTH_EINVAL;
    *out = forced;
    return HEARTH_OK;
}

void hearth_pow_opts_default(hearth_pow_opts *o)
{
    memset(o, 0, sizeof *o);
    o->progress_ms = 250;
}

/* ---- layout ---- */

static uint64_t pow10u(unsigned n)
{
    uint64_t x = 1;
    while (n--)
        x *= 10;
    return x;
}

unsigned hearth_pow_choose_width(uint64_t digits_at, size_t suffix_len,
                                 int target, unsigned *pad, unsigned *blocks)
{
    /* 9 * 10^(w-1) nonces without a leading zero */
    unsigned wmin = HEARTH_POW_MIN_WIDTH;
    while (wmin < HEARTH_NIP13_MAX_WIDTH &&
           log2(9.0) + (wmin - 1) * log2(10.0) < target + 8.0)
        wmin++;
    unsigned best = wmin, best_pad = 0, best_blocks = ~0u, best_ja = 0;
    int best_straddle = 1;
    unsigned max_pad = pad ? HEARTH_POW_MAX_PAD : 0;
    for (unsigned z = 0; z <= max_pad; z++)
        for (unsigned w = wmin; w <= HEARTH_NIP13_MAX_WIDTH; w++) {
            uint64_t at = digits_at + z;
            uint64_t len = at + w + suffix_len;
            uint64_t q = at + w - 4; /* first changing digit */
            unsigned nb = (unsigned)((len + 8) / 64 - q / 64 + 1);
            int straddle = (q + 3) / 64 != q / 64;
            unsigned ja = (unsigned)(q % 64) / 4;
            /* fewest blocks, then digits in one block, then the most
             * rounds done once; the shortest nonce among equals */
            if (nb < best_blocks ||
                (nb == best_blocks &&
                 (straddle < best_straddle ||
                  (straddle == best_straddle && ja > best_ja)))) {
                best = w;
                best_pad = z;
                best_blocks = nb;
                best_straddle = straddle;
                best_ja = ja;
            }
        }
    if (pad)
        *pad = best_pad;
    if (blocks)
        *blocks = best_blocks;
    return best;
}

static hearth_tag *nonce_tag(hearth_event *ev)
{
    if (ev->ntags == 0)
        return NULL;
    hearth_tag *t = &ev->tags[ev->ntags - 1];
    if (t->n != 3 || t->v[0].n != 5 || memcmp(t->v[0].p, "nonce", 5) != 0)
        return NULL;
    return t;
}

/* Put pad zeros before the digits of the nonce tag hearth_nip13_job_init
 * added, and rebuild the job around the digits' new place. */
static int widen(hearth_event *ev, unsigned pad, hearth_nip13_job *job)
{
    hearth_tag *t = nonce_tag(ev);
    if (!t || t->v[1].n != job->width)
        return HEARTH_EINVAL;
    size_t n = pad + job->width;
    char zeros[HEARTH_POW_MAX_PAD + HEARTH_NIP13_MAX_WIDTH];
    memset(zeros, '0', n);
    char *v = hearth_arena_strdup(&ev->arena, zeros, n, 0);
    if (!v)
        return HEARTH_ENOMEM;
    t->v[1].p = v;
    t->v[1].n = n;
    uint64_t off = job->prefix_len + job->nonce_off + pad;
    hearth_buf ser = HEARTH_BUF_INIT;
    int rc = hearth_event_serialize(ev, &ser);
    if (rc == HEARTH_OK &&
        (ser.len != job->prefix_len + job->tail_len + pad ||
         memcmp(ser.p + off - pad, zeros, n) != 0))
        rc = HEARTH_EINVAL; /* the serializer moved things: refuse */
    if (rc) {
        hearth_buf_free(&ser);
        return rc;
    }
    size_t cut = off & ~(uint64_t)63;
    hearth_sha256_midstate(job->mid, (const uint8_t *)ser.p, cut / 64);
    free(job->tail);
    job->prefix_len = cut;
    job->tail_len = ser.len - cut;
    memmove(ser.p, ser.p + cut, job->tail_len);
    job->tail = (uint8_t *)ser.p;
    job->nonce_off = off - cut;
    return HEARTH_OK;
}

int hearth_pow_job_init(hearth_event *ev, int target, hearth_nip13_job *job)
{
    /* a first job only to learn where the digits land */
    hearth_nip13_job probe;
    int rc = hearth_nip13_job_init(ev, target, HEARTH_POW_MIN_WIDTH, &probe);
    if (rc)
        return rc;
    uint64_t at = probe.prefix_len + probe.nonce_off;
    size_t suffix = probe.tail_len - probe.nonce_off - probe.width;
    hearth_nip13_job_free(&probe);
    unsigned pad;
    unsigned w = hearth_pow_choose_width(at, suffix, target, &pad, NULL);
    rc = hearth_nip13_job_init(ev, target, w, job);
    if (rc == HEARTH_OK && pad) {
        rc = widen(ev, pad, job);
        if (rc)
            hearth_nip13_job_free(job);
    }
    return rc;
}

int hearth_pow_job_apply(hearth_event *ev, const hearth_nip13_job *job,
                         uint64_t nonce)
{
    hearth_tag *t = nonce_tag(ev);
    if (!t || job->width < 1 || job->width > HEARTH_NIP13_MAX_WIDTH ||
        t->v[1].n < job->width ||
        t->v[1].n > HEARTH_POW_MAX_PAD + job->width ||
        nonce >= pow10u(job->width))
        return HEARTH_EINVAL;
    size_t pad = t->v[1].n - job->width;
    char v[HEARTH_POW_MAX_PAD + HEARTH_NIP13_MAX_WIDTH];
    memset(v, '0', pad);
    hearth_pow_decimal(nonce, job->width, (uint8_t *)v + pad);
    char *p = hearth_arena_strdup(&ev->arena, v, pad + job->width, 0);
    if (!p)
        return HEARTH_ENOMEM;
    t->v[1].p = p;
    /* from the full serializer, not the job: a wrong layout cannot give
     * an event whose id does not verify */
    int rc = hearth_event_compute_id(ev, ev->id);
    if (rc)
        return rc;
    ev->has = (ev->has | HEARTH_EV_HAS_ID) & ~(unsigned)HEARTH_EV_HAS_SIG;
    return HEARTH_OK;
}

static void layout_free(pow_layout *l)
{
    free(l->tab_a);
    free(l->tab_b);
    free(l->after_kw);
    memset(l, 0, sizeof *l);
}

static void expand_kw(const uint32_t w16[16], uint32_t kw[64])
{
    uint32_t w[64];
    memcpy(w, w16, 16 * sizeof w[0]);
    for (int t = 16; t < 64; t++)
        w[t] = hearth_sha256_s1(w[t - 2]) + w[t - 7] +
               hearth_sha256_s0(w[t - 15]) + w[t - 16];
    for (int t = 0; t < 64; t++)
        kw[t] = w[t] + hearth_pow_k[t];
}

static int layout_init(pow_layout *l, const hearth_nip13_job *job)
{
    memset(l, 0, sizeof *l);
    l->job = job;
    l->padded = (job->tail_len + 9 + 63) & ~(size_t)63;
    l->bits = (job->prefix_len + job->tail_len) * 8;
    l->q = job->nonce_off + job->width - 4;
    l->vblock = l->q & ~(size_t)63;
    l->ja = (unsigned)(l->q - l->vblock) / 4;
    l->nvw = (l->q + 3 - l->vblock) / 4 == l->ja ? 1 : 2;
    l->simd_ok = l->q + 3 < l->vblock + 64;
    if (job->target == 0)
        l->mask = 0;
    else if (job->target >= 32)
        l->mask = 0xffffffffu;
    else
        l->mask = ~(0xffffffffu >> job->target);
    if (!l->simd_ok)
        return HEARTH_OK; /* only the scalar path runs */

    /* padding so a 16-lane load at the last group stays in bounds */
    l->tab_a = calloc(HEARTH_POW_BATCH + 16, sizeof *l->tab_a);
    l->tab_b = calloc(HEARTH_POW_BATCH + 16, sizeof *l->tab_b);
    l->nafter = (l->padded - l->vblock) / 64 - 1;
    if (l->nafter)
        l->after_kw = calloc(l->nafter, sizeof *l->after_kw);
    if (!l->tab_a || !l->tab_b || (l->nafter && !l->after_kw)) {
        layout_free(l);
        return HEARTH_ENOMEM;
    }
    for (unsigned d = 0; d < HEARTH_POW_BATCH; d++) {
        uint32_t w[16] = {0};
        uint8_t dig[4];
        hearth_pow_decimal(d, 4, dig);
        hearth_pow_put_bytes(w, l->q - l->vblock, dig, 4);
        l->tab_a[d] = w[l->ja];
        l->tab_b[d] = l->nvw == 2 ? w[l->ja + 1] : 0;
    }
    for (size_t i = 0; i < l->nafter; i++) {
        uint32_t w[16];
        hearth_pow_block_words(job->tail, job->tail_len, l->bits, l->padded,
                               l->vblock + 64 * (i + 1), 0, NULL, 0, w);
        expand_kw(w, l->after_kw[i]);
    }
    return HEARTH_OK;
}

/* Everything before the low digits for the batch starting at nonce base,
 * with the low digits' bytes zeroed for the kernels to OR in. */
static void batch_init(const pow_layout *l, uint64_t base, unsigned r,
                       pow_batch *b)
{
    const hearth_nip13_job *job = l->job;
    uint8_t dig[HEARTH_NIP13_MAX_WIDTH];
    static const uint8_t zero4[4];
    b->base = base;
    hearth_pow_decimal(base, job->width, dig);
    memcpy(b->in, job->mid, sizeof b->in);
    for (size_t off = 0; off < l->vblock; off += 64) {
        uint32_t w[16];
        hearth_pow_block_words(job->tail, job->tail_len, l->bits, l->padded,
                               off, job->nonce_off, dig, job->width, w);
        hearth_sha256_compress_words(b->in, w);
    }
    hearth_pow_block_words(job->tail, job->tail_len, l->bits, l->padded,
                           l->vblock, job->nonce_off, dig, job->width, b->w);
    hearth_pow_put_bytes(b->w, l->q - l->vblock, zero4, 4);
    b->r = r;
    hearth_sha256_rounds_head(b->in, b->w, r, b->st);
    for (int t = 0; t < 16; t++)
        b->kw[t] = b->w[t] + hearth_pow_k[t];
}

/* ---- threads ---- */

typedef struct miner {
    const hearth_nip13_job *job;
    pow_layout layout;
    hearth_pow_impl impl;
    pow_scan_fn scan;
    unsigned lanes;
    unsigned r;              /* rounds done once per batch */
    uint64_t base0;          /* first batch: nonce / 10^4 */
    uint64_t end;            /* batches to hand out */
    atomic_uint_fast64_t next;
    atomic_uint_fast64_t tries;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned running;
    int found;
    uint64_t nonce;
    int bits;
} miner;

/* One batch: 1 and *nonce and *bits for the first winner, *tries the hashes
 * done. Every candidate a kernel reports is confirmed with the reference
 * code, so a wrong kernel can only miss, never hand out a bad nonce. */
static int mine_batch(miner *m, uint64_t base, uint64_t *nonce, int *bits,
                      uint64_t *tries)
{
    const hearth_nip13_job *job = m->job;
    *tries = 0;
    if (m->impl == HEARTH_POW_SCALAR) {
        uint64_t n;
        int hit = hearth_pow_scan(job->mid, job->prefix_len, job->tail,
                                  job->tail_len, job->nonce_off, job->width,
                                  4, job->target, base, HEARTH_POW_BATCH, &n,
                                  tries);
        if (!hit)
            return 0;
        *bits = hearth_nip13_job_try(job, n, NULL);
        *nonce = n;
        return *bits >= job->target;
    }
    pow_batch b;
    batch_init(&m->layout, base, m->r, &b);
    size_t d = 0;
    while (d < HEARTH_POW_BATCH) {
        size_t g = m->scan(&m->layout, &b, d, HEARTH_POW_BATCH);
        *tries += g - d;
        if (g >= HEARTH_POW_BATCH)
            break;
        for (unsigned k = 0; k < m->lanes; k++) {
            int z = hearth_nip13_job_try(job, base + g + k, NULL);
            if (z >= job->target) {
                *tries += k + 1;
                *nonce = base + g + k;
                *bits = z;
                return 1;
            }
        }
        *tries += m->lanes;
        d = g + m->lanes;
    }
    return 0;
}

static void *worker(void *arg)
{
    miner *m = arg;
    while (!atomic_load_explicit(&m->stop, memory_order_relaxed)) {
        uint64_t i = atomic_fetch_add(&m->next, 1);
        if (i >= m->end)
            break;
        uint64_t base = (m->base0 + i) * HEARTH_POW_BATCH, nonce = 0, t;
        int bits = 0;
        int hit = mine_batch(m, base, &nonce, &bits, &t);
        atomic_fetch_add_explicit(&m->tries, t, memory_order_relaxed);
        if (hit) {
            pthread_mutex_lock(&m->mu);
            if (!m->found || nonce < m->nonce) {
                m->found = 1;
                m->nonce = nonce;
                m->bits = bits;
            }
            atomic_store(&m->stop, 1);
            pthread_mutex_unlock(&m->mu);
        }
    }
    pthread_mutex_lock(&m->mu);
    m->running--;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int pick_impl(hearth_pow_impl want, hearth_pow_impl *out)
{
    if (want == HEARTH_POW_AUTO) {
        /* a bad $HEARTH_POW_IMPL leaves *out the fastest: mining goes on */
        hearth_pow_impl_auto(out);
        return HEARTH_OK;
    }
    if ((unsigned)want >= HEARTH_POW_NIMPL ||
        !hearth_pow_impl_available(want))
        return HEARTH_EINVAL;
    *out = want;
    return HEARTH_OK;
}

static void set_kernel(miner *m)
{
    m->lanes = 1;
    m->r = m->layout.ja;
    if (m->impl != HEARTH_POW_SCALAR && !m->layout.simd_ok)
        m->impl = HEARTH_POW_SCALAR; /* low digits cross a block */
    switch (m->impl) {
    case HEARTH_POW_AVX2:
        m->scan = hearth_pow_scan_avx2;
        m->lanes = 8;
        break;
    case HEARTH_POW_AVX512:
        m->scan = hearth_pow_scan_avx512;
        m->lanes = 16;
        break;
    case HEARTH_POW_SHANI:
        /* its rounds go four at a time from a message quad */
        m->scan = hearth_pow_scan_shani;
        m->lanes = 2;
        m->r = m->layout.ja & ~3u;
        break;
    default:
        m->scan = NULL;
        break;
    }
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* Wait for the workers, stopping them on cancel, time limit or a find,
 * and report progress meanwhile. */
static int supervise(miner *m, const hearth_pow_opts *o, uint64_t t0)
{
    int rc = HEARTH_OK;
    uint64_t next_progress = t0 + (uint64_t)o->progress_ms * 1000u;
    pthread_mutex_lock(&m->mu);
    while (m->running > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
        if (m->running == 0 || atomic_load(&m->stop))
            continue;
        pthread_mutex_unlock(&m->mu);
        uint64_t now = now_us();
        if (o->cancelled && o->cancelled(o->user)) {
            rc = HEARTH_ECANCELED;
            atomic_store(&m->stop, 1);
        } else if (o->time_limit_ms &&
                   now - t0 >= (uint64_t)o->time_limit_ms * 1000u) {
            rc = HEARTH_ETIMEDOUT;
            atomic_store(&m->stop, 1);
        } else if (o->progress && now >= next_progress) {
            uint64_t t = atomic_load(&m->tries);
            o->progress(o->user, t,
                        1.0 - exp(-(double)t / ldexp(1.0, m->job->target)));
            next_progress = now + (uint64_t)o->progress_ms * 1000u;
        }
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int hearth_pow_mine(const hearth_nip13_job *job, const hearth_pow_opts *o,
                    hearth_pow_result *res)
{
    hearth_pow_opts dflt;
    if (!o) {
        hearth_pow_opts_default(&dflt);
        o = &dflt;
    }
    memset(res, 0, sizeof *res);
    if (!job || !job->tail || job->width < HEARTH_POW_MIN_WIDTH ||
        job->width > HEARTH_NIP13_MAX_WIDTH || job->target < 0 ||
        job->target > HEARTH_NIP13_MAX_BITS ||
        job->nonce_off + job->width > job->tail_len)
        return HEARTH_EINVAL;
    miner *m = calloc(1, sizeof *m);
    if (!m)
        return HEARTH_ENOMEM;
    int rc = pick_impl(o->impl, &m->impl);
    if (rc == HEARTH_OK)
        rc = layout_init(&m->layout, job);
    if (rc) {
        free(m);
        return rc;
    }
    m->job = job;
    set_kernel(m);
    m->base0 = pow10u(job->width - 5);
    uint64_t nbatches = 9 * m->base0;
    m->end = nbatches;
    if (o->first_batch >= nbatches)
        m->end = 0;
    else
        m->end = nbatches - o->first_batch;
    if (o->max_tries) {
        uint64_t want = (o->max_tries + HEARTH_POW_BATCH - 1) /
                        HEARTH_POW_BATCH;
        if (want < m->end)
            m->end = want;
    }
    m->base0 += o->first_batch;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);

    unsigned n = o->threads ? o->threads : online_cpus();
    pthread_t *tid = calloc(n, sizeof *tid);
    uint64_t t0 = now_us();
    unsigned started = 0;
    if (!tid)
        rc = HEARTH_ENOMEM;
    for (; rc == HEARTH_OK && started < n; started++) {
        pthread_mutex_lock(&m->mu);
        m->running++;
        pthread_mutex_unlock(&m->mu);
        if (pthread_create(&tid[started], NULL, worker, m)) {
            pthread_mutex_lock(&m->mu);
            m->running--;
            pthread_mutex_unlock(&m->mu);
            rc = HEARTH_EIO;
            atomic_store(&m->stop, 1);
            break;
        }
    }
    int src = supervise(m, o, t0);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    free(tid);

    res->tries = atomic_load(&m->tries);
    res->elapsed_us = now_us() - t0;
    res->impl = m->impl;
    res->threads = started;
    if (rc == HEARTH_OK && m->found) {
        res->nonce = m->nonce;
        res->bits = m->bits;
    } else if (rc == HEARTH_OK) {
        rc = src ? src : HEARTH_ENOTFOUND;
    }
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    layout_free(&m->layout);
    free(m);
    return rc;
}

int hearth_pow_mine_event(hearth_event *ev, int target,
                          const hearth_pow_opts *o, hearth_pow_result *res)
{
    hearth_nip13_job job;
    memset(res, 0, sizeof *res);
    int rc = hearth_pow_job_init(ev, target, &job);
    if (rc)
        return rc;
    rc = hearth_pow_mine(&job, o, res);
    if (rc == HEARTH_OK)
        rc = hearth_pow_job_apply(ev, &job, res->nonce);
    hearth_nip13_job_free(&job);
    return rc;
}

/* For tests (declared in pow_internal.h): mark each group of lanes of the
 * batch at nonce base that impl's kernel reports as a candidate. */
int hearth_pow_test_groups(const hearth_nip13_job *job, int impl_,
                           uint64_t base, uint8_t *cand, unsigned *lanes)
{
    hearth_pow_impl impl = (hearth_pow_impl)impl_;
    if (!hearth_pow_impl_available(impl))
        return HEARTH_EINVAL;
    miner m;
    memset(&m, 0, sizeof m);
    m.job = job;
    m.impl = impl;
    int rc = layout_init(&m.layout, job);
    if (rc)
        return rc;
    set_kernel(&m);
    if (m.impl != impl || !m.scan) {
        layout_free(&m.layout);
        return HEARTH_ENOTFOUND; /* the low digits cross a block */
    }
    pow_batch b;
    batch_init(&m.layout, base, m.r, &b);
    memset(cand, 0, HEARTH_POW_BATCH / m.lanes);
    size_t d = 0;
    while (d < HEARTH_POW_BATCH) {
        size_t g = m.scan(&m.layout, &b, d, HEARTH_POW_BATCH);
        if (g >= HEARTH_POW_BATCH)
            break;
        cand[g / m.lanes] = 1;
        d = g + m.lanes;
    }
    *lanes = m.lanes;
    layout_free(&m.layout);
    return HEARTH_OK;
}
