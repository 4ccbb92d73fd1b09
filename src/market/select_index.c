/* The compact index of a market snapshot and the scan over it
 * (include/hearth/select.h, docs/selection.md "Speed"). */
#include "select_internal.h"

#include "hearth/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the index: the same filters over a compact copy ----
 *
 * Struct of arrays in blocks: 4 bytes a field, 18 fields, 72 bytes a
 * peer, read as one sequential stream. Each block of 64 peers goes through two
 * loops. The first computes every peer's reason mask from the arrays
 * with nothing but compares, shifts and ors, which the compiler turns
 * into vector instructions (8 or 16 peers an instruction). The second,
 * scalar, counts the reasons and gathers the peers that passed, without
 * a branch; only those get a price and a place in the ranking. Values
 * that do not fit 32 bits mark a peer cold: it is judged from the
 * arrays by the plain code instead, so the result never differs. */

enum {
    A_KIND, A_EXPIRES, A_COOLDOWN, A_VRAM, A_FLAGS, A_CAP, A_MODEL0,
    A_MODEL1, A_MODEL2, A_PJOB, A_PIN, A_POUT, A_PGPU, A_PHASH, A_MHASH,
    A_TOKENS, A_RTT, A_TRUST, A_NCOLS
};
#define BLOCK 64
#define COLD_BIT 15   /* in a mask: judge this peer from the arrays */
/* flags: tier rank in bits 0-7, rails in 8-15, cold in bit 16 */


static size_t index_cap(size_t n)
{
    return (n + BLOCK - 1) / BLOCK * BLOCK;
}

/* field a of peer i: blocks of BLOCK peers, each holding its fields one
 * after the other (4.5 KiB), so a scan reads one sequential stream */
static inline uint32_t *cell(const hearth_select_index *ix, int a, size_t i)
{
    return (uint32_t *)ix->hot + ((i / BLOCK) * A_NCOLS + (size_t)a) * BLOCK +
           i % BLOCK;
}

static uint32_t rel_time(int64_t t, int64_t base)
{
    int64_t d;
    if (__builtin_sub_overflow(t, base, &d))
        d = t < base ? INT64_MIN : INT64_MAX;
    int32_t r = d < -2 * (int64_t)HOT_RANGE ? INT32_MIN + 1
                : d > 2 * (int64_t)HOT_RANGE ? INT32_MAX - 1 : (int32_t)d;
    return (uint32_t)r;
}

static void index_put(hearth_select_index *ix, const hearth_peer *p,
                      const hearth_peer_obs *o, size_t i)
{
    const hearth_price *pr = &p->price;
    int cold = p->nmodels > 3 || p->capacity_free > UINT16_MAX ||
               p->capacity_total > UINT16_MAX || pr->per_job > UINT32_MAX ||
               pr->per_mtok_in > UINT32_MAX || pr->per_mtok_out > UINT32_MAX ||
               pr->per_gpu_second > UINT32_MAX ||
               pr->per_mhash > UINT32_MAX || p->bench_mhash_s > UINT32_MAX;
    uint32_t v[A_NCOLS] = {0};
    v[A_KIND] = p->job_kind;
    v[A_EXPIRES] = p->expires_at ? rel_time(p->expires_at, ix->base)
                                 : (uint32_t)INT32_MAX;
    v[A_COOLDOWN] = o ? rel_time(o->cooldown_until, ix->base)
                      : (uint32_t)INT32_MIN;
    v[A_VRAM] = p->vram_mb;
    v[A_FLAGS] = tier_rank(p->tier) | (uint32_t)p->rails << 8 |
                 (uint32_t)cold << 16;
    if (!cold) {
        v[A_CAP] = p->capacity_free | p->capacity_total << 16;
        for (unsigned k = 0; k < p->nmodels; k++)
            v[A_MODEL0 + k] = p->model_hash[k];
        v[A_PJOB] = (uint32_t)pr->per_job;
        v[A_PIN] = (uint32_t)pr->per_mtok_in;
        v[A_POUT] = (uint32_t)pr->per_mtok_out;
        v[A_PGPU] = (uint32_t)pr->per_gpu_second;
        v[A_PHASH] = (uint32_t)pr->per_mhash;
        v[A_MHASH] = (uint32_t)p->bench_mhash_s;
        v[A_TOKENS] = p->bench_tokens_s;
    }
    /* the observations' part of the score, for the bounds: the round
     * trip as measure_obs() has it, and the trust factor rounded up */
    struct raw r = {0};
    measure_obs(o, &r);
    v[A_RTT] = (uint32_t)r.rtt;
    double t = r.reliability * r.reliability * (0.5 + r.reputation);
    float up = (float)t;
    if ((double)up < t)
        up = nextafterf(up, 2.0f);
    memcpy(&v[A_TRUST], &up, sizeof up);
    for (int a = 0; a < A_NCOLS; a++)
        *cell(ix, a, i) = v[a];
}

int hearth_select_index_build(const hearth_peer *peers,
                              const hearth_peer_obs *obs, size_t n,
                              int64_t now, hearth_select_index *ix)
{
    if (!ix || (n && !peers))
        return HEARTH_EINVAL;
    ix->hot = NULL;
    ix->n = 0;
    ix->base = now;
    size_t cap = index_cap(n ? n : 1);
    if (cap > SIZE_MAX / (A_NCOLS * sizeof(uint32_t)))
        return HEARTH_ENOMEM;
    /* zeroed: the padding of the last block is read, never counted */
    uint32_t *h = aligned_alloc(64, cap * A_NCOLS * sizeof *h);
    if (!h)
        return HEARTH_ENOMEM;
    memset(h, 0, cap * A_NCOLS * sizeof *h);
    ix->hot = h;
    ix->n = n;
    for (size_t i = 0; i < n; i++)
        index_put(ix, &peers[i], obs ? &obs[i] : NULL, i);
    return HEARTH_OK;
}

void hearth_select_index_update(hearth_select_index *ix,
                                const hearth_peer *peers,
                                const hearth_peer_obs *obs, size_t i)
{
    if (ix && ix->hot && peers && i < ix->n)
        index_put(ix, &peers[i], obs ? &obs[i] : NULL, i);
}

void hearth_select_index_free(hearth_select_index *ix)
{
    if (!ix)
        return;
    free(ix->hot);
    ix->hot = NULL;
    ix->n = 0;
}

/* the filter values as the vector loop wants them: plain locals */
struct want {
    uint32_t kind, model, model_set, min_vram, max_tier, rails, rails_set;
    int32_t now;
    const uint32_t *col[A_NCOLS];   /* the fields of the current block */
};

/* Where the compiler can, build block_masks twice, for AVX2 (8 peers an
 * instruction) and for the baseline (SSE2, 4), and pick at load time. */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef VECTOR_CLONES
#define VECTOR_CLONES
#endif

/* Reasons R_KIND..R_COOL of the BLOCK peers from i0 into mask, and how
 * many of the first len peers (cold ones aside) each reason rejects,
 * added to count. Compares, shifts, ors and sums over arrays, without a
 * branch: every loop here is vectorized. */
static VECTOR_CLONES void block_masks(const struct want *f, size_t len,
                                          uint32_t *restrict mask,
                                          uint32_t *restrict count)
{
    const uint32_t *restrict kind = f->col[A_KIND];
    const int32_t *restrict exp = (const int32_t *)f->col[A_EXPIRES];
    const int32_t *restrict cool = (const int32_t *)f->col[A_COOLDOWN];
    const uint32_t *restrict vram = f->col[A_VRAM];
    const uint32_t *restrict flags = f->col[A_FLAGS];
    const uint32_t *restrict cap = f->col[A_CAP];
    const uint32_t *restrict m0 = f->col[A_MODEL0];
    const uint32_t *restrict m1 = f->col[A_MODEL1];
    const uint32_t *restrict m2 = f->col[A_MODEL2];
    const uint32_t K = f->kind, M = f->model, MS = f->model_set,
                   V = f->min_vram, T = f->max_tier, R = f->rails,
                   RS = f->rails_set, L = (uint32_t)len;
    const int32_t now = f->now;
    uint32_t first[BLOCK];
    for (uint32_t j = 0; j < BLOCK; j++) {
        uint32_t fl = flags[j], c = cap[j];
        uint32_t no_model = (m0[j] != M) & (m1[j] != M) & (m2[j] != M) & MS;
        uint32_t full = ((c >> 16) != 0) & ((c & 0xffffu) == 0);
        uint32_t m = (uint32_t)(kind[j] != K) << R_KIND |
                     (uint32_t)(exp[j] <= now) << R_EXPIRED |
                     no_model << R_MODEL |
                     (uint32_t)(vram[j] < V) << R_SMALL |
                     (uint32_t)((fl & 0xffu) > T) << R_TIER |
                     ((((fl >> 8) & R) == 0) & RS) << R_RAIL |
                     full << R_FULL |
                     (uint32_t)(cool[j] > now) << R_COOL;
        uint32_t live = (uint32_t)(j < L), is_cold = (fl >> 16) & live;
        mask[j] = m | is_cold << COLD_BIT;
        /* the lowest set bit, for the live warm peers only */
        first[j] = (m & (0u - m)) & (0u - (live & (is_cold ^ 1u)));
    }
    for (int r = R_KIND; r <= R_COOL; r++) {
        uint32_t n = 0, bit = 1u << r;
        for (int j = 0; j < BLOCK; j++)
            n += first[j] == bit;
        count[r] += n;
    }
}

/* price_of for 32-bit prices: with usage below 2^32 too, every product
 * fits in 64 bits and each division by a constant is a multiplication;
 * usage figures that are 0 cost nothing (a loop-invariant branch) */
static inline uint64_t index_price(const struct ctx *c, const struct want *f,
                                   size_t j)
{
    const hearth_usage *u = &c->usage;
    if (!c->small_usage) {
        hearth_price p = {f->col[A_PJOB][j], f->col[A_PIN][j],
                          f->col[A_POUT][j], f->col[A_PGPU][j],
                          f->col[A_PHASH][j]};
        return price_of(&p, u);
    }
    uint64_t x = 0;
    if (u->tokens_in)
        x += ((uint64_t)f->col[A_PIN][j] * u->tokens_in + 999999) / 1000000;
    if (u->tokens_out)
        x += ((uint64_t)f->col[A_POUT][j] * u->tokens_out + 999999) /
             1000000;
    if (u->gpu_ms)
        x += ((uint64_t)f->col[A_PGPU][j] * u->gpu_ms + 999) / 1000;
    if (u->hashes)
        x += ((uint64_t)f->col[A_PHASH][j] * u->hashes + 999999) / 1000000;
    return sat_add(x, (uint64_t)f->col[A_PJOB][j] * u->jobs);
}

/* a cold peer, or one that passed the mask: the rest of the filters */
static void judge(struct run *w, const struct want *f, size_t i0, size_t j,
                  int cold)
{
    size_t i = i0 + j;
    const hearth_peer *p = &w->peers[i];
    uint64_t price;
    unsigned why;
    if (cold) {
        why = p->job_kind != w->c.kind
                  ? R_KIND
                  : reject(&w->c, p, w->obs ? &w->obs[i] : NULL, &price);
        w->cnt[why]++;
        if (why == R_ELIGIBLE)
            consider(w, i, price, p->capacity_free, p->capacity_total,
                     p->bench_mhash_s, p->bench_tokens_s, LOOSE);
        return;
    }
    price = index_price(&w->c, f, j);
    why = R_ELIGIBLE - (R_ELIGIBLE - R_PRICE) * (price > w->c.max_price);
    if ((w->c.block->n || w->c.trust->n) && why == R_ELIGIBLE)
        why = (unsigned)listed_out(&w->c, p);
    w->cnt[why]++;
    if (why == R_ELIGIBLE) {
        uint32_t cap = f->col[A_CAP][j], tb = f->col[A_TRUST][j];
        float trust;
        memcpy(&trust, &tb, sizeof trust);
        struct obs_bound ob = {f->col[A_RTT][j], trust};
        consider(w, i, price, cap & 0xffffu, cap >> 16, f->col[A_MHASH][j],
                 f->col[A_TOKENS][j], ob);
    }
}

static void flush_count(struct run *w, uint32_t count[R_COUNT])
{
    for (int r = 0; r < R_COUNT; r++) {
        w->cnt[r] += count[r];
        count[r] = 0;
    }
}

void sel_scan_index(struct run *w, const hearth_select_index *ix,
                    int32_t now)
{
    struct want f = {w->c.kind, w->c.model, w->c.model_set, w->c.min_vram,
                     w->c.max_tier, w->c.rails, w->c.rails_set, now, {0}};

    uint32_t mask[BLOCK], count[R_COUNT] = {0};
    uint8_t pass[BLOCK];
    for (size_t i0 = 0; i0 < ix->n; i0 += BLOCK) {
        size_t len = ix->n - i0 < BLOCK ? ix->n - i0 : BLOCK;
        for (int a = 0; a < A_NCOLS; a++)
            f.col[a] = cell(ix, a, i0);
        block_masks(&f, len, mask, count);
        size_t np = 0;
        uint32_t cold = 0;
        for (size_t j = 0; j < len; j++) {
            pass[np] = (uint8_t)j;
            np += mask[j] == 0;
            cold |= mask[j];
        }
        cold >>= COLD_BIT;
        if (__builtin_expect(cold, 0)) { /* in array order: round-robin */
            for (size_t j = 0; j < len; j++)
                if (mask[j] == 0 || mask[j] >> COLD_BIT)
                    judge(w, &f, i0, j, mask[j] != 0);
        } else {
            for (size_t k = 0; k < np; k++)
                judge(w, &f, i0, pass[k], 0);
        }
        if (i0 % (BLOCK << 16) == 0 || i0 + BLOCK >= ix->n)
            flush_count(w, count); /* before a uint32_t could overflow */
    }
}
