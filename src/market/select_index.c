/* The index of a market snapshot and the scan over it
 * (include/hearth/select.h, docs/selection.md "Speed").
 *
 * Layout. Offers are grouped into runs of equal static signature (job
 * kind, model list, VRAM, tier, rails): every filter that does not depend
 * on the clock, the offer's free slots or its price has one answer for a
 * whole run, so a request settles it once per run. Inside a run the
 * offers are sorted by a reference price and cut into chunks of up to 64;
 * a chunk keeps the range of each price component and the best round
 * trip, speed, load and trust of its offers. A request then
 *   - counts a run of another kind, or one that fails a static filter,
 *     without reading its offers (only the expiry, when a chunk may hold
 *     expired ones, since "expired" is counted before the others);
 *   - settles the price filter for a whole chunk when its price range lies
 *     on one side of the limit (the sort makes that nearly every chunk);
 *   - skips ranking a chunk whose best possible key cannot enter the heap.
 * What is left per offer is a vectorised pass over three columns (expiry,
 * cooldown, slots) for the chunks of matching runs.
 *
 * Offers whose values do not fit the 32-bit columns, or whose signature
 * changed in an update, are kept on a spill list and judged from the
 * arrays by the plain code each time, so the result never differs. The
 * visiting order does not matter: the ranking is a strict total order (ties
 * end at the array index) and round-robin uses a bitmap in array order. */
#include "select_internal.h"

#include "hearth/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    C_IDX, C_EXP, C_COOL, C_CAP, C_PJOB, C_PIN, C_POUT, C_PGPU, C_PHASH,
    C_MHASH, C_TOKENS, C_RTT, C_TRUST, C_NCOLS
};
#define NPRICE 5          /* C_PJOB .. C_PHASH, the order of hearth_price */
#define CHUNK 64
#define SPILLED UINT32_MAX
/* a row whose offer moved to the spill list: always "expired", and the
 * run's ndead takes it back out of that count */
#define DEAD_EXP INT32_MIN

/* what every offer of a run shares */
struct sig {
    uint32_t kind, vram, model[3];
    uint8_t nmodels, tier, rails;
};

struct irun {
    struct sig s;
    uint32_t row0, row1, c0, c1;
    uint32_t ndead;
};

/* bounds over the rows of a chunk; update() only widens them */
struct chunk {
    uint32_t row0, len;
    int32_t min_exp;
    uint32_t pmin[NPRICE], pmax[NPRICE];
    uint32_t nonzero;        /* price components not 0 in some row, bits */
    double kmin, kmax;       /* range of ref_price() */
    uint32_t min_rtt;
    float max_trust;
    double max_mh, max_ts;   /* speeds as measure_offer() takes them */
    double min_load;
};

struct ixdata {
    size_t nrows, nruns, nchunks, nspill;
    uint32_t *col[C_NCOLS];   /* per row, rows in run order */
    uint32_t *pos;            /* offer -> row, SPILLED */
    uint32_t *spill;          /* offers judged from the arrays; room for n */
    struct irun *runs;
    struct chunk *chunks;
};

static uint32_t rel_time(int64_t t, int64_t base)
{
    int64_t d;
    if (__builtin_sub_overflow(t, base, &d))
        d = t < base ? INT64_MIN : INT64_MAX;
    int32_t r = d < -2 * (int64_t)HOT_RANGE ? INT32_MIN + 1
                : d > 2 * (int64_t)HOT_RANGE ? INT32_MAX - 1 : (int32_t)d;
    return (uint32_t)r;
}

/* values that do not fit the columns: judged from the arrays */
static int is_cold(const hearth_peer *p)
{
    const hearth_price *pr = &p->price;
    return p->nmodels > 3 || p->capacity_free > UINT16_MAX ||
           p->capacity_total > UINT16_MAX || pr->per_job > UINT32_MAX ||
           pr->per_mtok_in > UINT32_MAX || pr->per_mtok_out > UINT32_MAX ||
           pr->per_gpu_second > UINT32_MAX || pr->per_mhash > UINT32_MAX ||
           p->bench_mhash_s > UINT32_MAX;
}

static void sig_of(const hearth_peer *p, struct sig *s)
{
    memset(s, 0, sizeof *s);
    s->kind = p->job_kind;
    s->vram = p->vram_mb;
    s->nmodels = p->nmodels;
    for (unsigned k = 0; k < p->nmodels && k < 3; k++)
        s->model[k] = p->model_hash[k];
    s->tier = (uint8_t)tier_rank(p->tier);
    s->rails = p->rails;
}

static int sig_cmp(const struct sig *a, const struct sig *b)
{
#define CMP(f) if (a->f != b->f) return a->f < b->f ? -1 : 1
    CMP(kind); CMP(tier); CMP(vram); CMP(rails); CMP(nmodels);
    CMP(model[0]); CMP(model[1]); CMP(model[2]);
#undef CMP
    return 0;
}

/* the column values of an offer */
static void row_vals(int64_t base, const hearth_peer *p,
                     const hearth_peer_obs *o, uint32_t v[C_NCOLS])
{
    const hearth_price *pr = &p->price;
    v[C_EXP] = p->expires_at ? rel_time(p->expires_at, base)
                             : (uint32_t)INT32_MAX;
    v[C_COOL] = o ? rel_time(o->cooldown_until, base) : (uint32_t)INT32_MIN;
    v[C_CAP] = p->capacity_free | p->capacity_total << 16;
    v[C_PJOB] = (uint32_t)pr->per_job;
    v[C_PIN] = (uint32_t)pr->per_mtok_in;
    v[C_POUT] = (uint32_t)pr->per_mtok_out;
    v[C_PGPU] = (uint32_t)pr->per_gpu_second;
    v[C_PHASH] = (uint32_t)pr->per_mhash;
    v[C_MHASH] = (uint32_t)p->bench_mhash_s;
    v[C_TOKENS] = p->bench_tokens_s;
    /* the observations' part of the score, for the bounds: the round
     * trip as measure_obs() has it, and the trust factor rounded up */
    struct raw r = {0};
    measure_obs(o, &r);
    v[C_RTT] = (uint32_t)r.rtt;
    double t = r.reliability * r.reliability * (0.5 + r.reputation);
    float up = (float)t;
    if ((double)up < t)
        up = nextafterf(up, 2.0f);
    memcpy(&v[C_TRUST], &up, sizeof up);
}

/* The sort key inside a run: the price of a typical job (one call, 500
 * prompt and 250 generated tokens, a GPU second, 2^30 hashes), from the
 * price columns. The chunks' price bounds use it too (price_bounds()), so
 * only their tightness depends on the weights, never a result. */
static const double REF_W[NPRICE] = {1.0, 5e-4, 2.5e-4, 1.0, 1073.741824};

static double ref_price(const uint32_t v[C_NCOLS])
{
    double k = 0.0;
    for (int c = 0; c < NPRICE; c++)
        k += (double)v[C_PJOB + c] * REF_W[c];
    return k;
}

static double load_of(uint32_t cap)
{
    uint32_t free_slots = cap & 0xffffu, total = cap >> 16;
    uint32_t busy = total - (free_slots < total ? free_slots : total);
    return total ? (double)busy / total : 0.5; /* as measure_offer() */
}

static void chunk_reset(struct chunk *ch)
{
    ch->min_exp = INT32_MAX;
    for (int k = 0; k < NPRICE; k++) {
        ch->pmin[k] = UINT32_MAX;
        ch->pmax[k] = 0;
    }
    ch->nonzero = 0;
    ch->kmin = INFINITY;
    ch->kmax = 0.0;
    ch->min_rtt = UINT32_MAX;
    ch->max_trust = 0.0f;
    ch->max_mh = ch->max_ts = 0.0;
    ch->min_load = 1.0;
}

static void chunk_widen(struct chunk *ch, const uint32_t v[C_NCOLS])
{
    if ((int32_t)v[C_EXP] < ch->min_exp)
        ch->min_exp = (int32_t)v[C_EXP];
    for (int k = 0; k < NPRICE; k++) {
        uint32_t x = v[C_PJOB + k];
        ch->pmin[k] = x < ch->pmin[k] ? x : ch->pmin[k];
        ch->pmax[k] = x > ch->pmax[k] ? x : ch->pmax[k];
        ch->nonzero |= (uint32_t)(x != 0) << k;
    }
    double key = ref_price(v);
    ch->kmin = key < ch->kmin ? key : ch->kmin;
    ch->kmax = key > ch->kmax ? key : ch->kmax;
    if (v[C_RTT] < ch->min_rtt)
        ch->min_rtt = v[C_RTT];
    float t;
    memcpy(&t, &v[C_TRUST], sizeof t);
    if (t > ch->max_trust)
        ch->max_trust = t;
    double mh = v[C_MHASH] ? (double)v[C_MHASH] : UNKNOWN_MHASH_S;
    double ts = v[C_TOKENS] ? (double)v[C_TOKENS] : UNKNOWN_TOKENS_S;
    ch->max_mh = mh > ch->max_mh ? mh : ch->max_mh;
    ch->max_ts = ts > ch->max_ts ? ts : ch->max_ts;
    double l = load_of(v[C_CAP]);
    ch->min_load = l < ch->min_load ? l : ch->min_load;
}

/* build: one entry per warm offer, sorted into runs */
struct order {
    struct sig s;
    double key;
    uint32_t idx;
};

static int order_cmp(const void *pa, const void *pb)
{
    const struct order *a = pa, *b = pb;
    int c = sig_cmp(&a->s, &b->s);
    if (c)
        return c;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static void ixdata_free(struct ixdata *d)
{
    if (!d)
        return;
    for (int a = 0; a < C_NCOLS; a++)
        free(d->col[a]);
    free(d->pos);
    free(d->spill);
    free(d->runs);
    free(d->chunks);
    free(d);
}

/* runs and chunks for the sorted entries */
static int lay_out(struct ixdata *d, const struct order *ord, size_t nw)
{
    size_t nruns = 0, nchunks = 0, in_run = 0;
    for (size_t r = 0; r < nw; r++) {
        if (r == 0 || sig_cmp(&ord[r].s, &ord[r - 1].s)) {
            nruns++;
            in_run = 0;
        }
        if (in_run++ % CHUNK == 0)
            nchunks++;
    }
    d->runs = calloc(nruns ? nruns : 1, sizeof *d->runs);
    d->chunks = calloc(nchunks ? nchunks : 1, sizeof *d->chunks);
    if (!d->runs || !d->chunks)
        return HEARTH_ENOMEM;
    struct irun *run = NULL;
    struct chunk *ch = NULL;
    for (size_t r = 0; r < nw; r++) {
        if (r == 0 || sig_cmp(&ord[r].s, &ord[r - 1].s)) {
            if (run)
                run->c1 = (uint32_t)d->nchunks;
            run = &d->runs[d->nruns++];
            run->s = ord[r].s;
            run->row0 = (uint32_t)r;
            run->c0 = (uint32_t)d->nchunks;
            ch = NULL;
        }
        run->row1 = (uint32_t)r + 1;
        if (!ch || ch->len == CHUNK) {
            ch = &d->chunks[d->nchunks++];
            ch->row0 = (uint32_t)r;
            chunk_reset(ch);
        }
        ch->len++;
    }
    if (run)
        run->c1 = (uint32_t)d->nchunks;
    return HEARTH_OK;
}

static void put_row(struct ixdata *d, size_t row, const uint32_t v[C_NCOLS])
{
    for (int a = C_EXP; a < C_NCOLS; a++)
        d->col[a][row] = v[a];
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
    if (n >= UINT32_MAX)
        return HEARTH_ENOMEM;
    struct ixdata *d = calloc(1, sizeof *d);
    struct order *ord = malloc((n ? n : 1) * sizeof *ord);
    if (!d || !ord)
        goto nomem;
    size_t m = n ? n : 1;
    d->pos = malloc(m * sizeof *d->pos);
    d->spill = malloc(m * sizeof *d->spill);
    if (!d->pos || !d->spill)
        goto nomem;
    size_t nw = 0;
    for (size_t i = 0; i < n; i++) {
        /* a failed hardware check is rare: judged from the arrays */
        if (is_cold(&peers[i]) || hw_failed(&peers[i], obs ? &obs[i] : NULL)) {
            d->pos[i] = SPILLED;
            d->spill[d->nspill++] = (uint32_t)i;
            continue;
        }
        uint32_t v[C_NCOLS];
        row_vals(now, &peers[i], NULL, v);
        sig_of(&peers[i], &ord[nw].s);
        ord[nw].key = ref_price(v);
        ord[nw++].idx = (uint32_t)i;
    }
    qsort(ord, nw, sizeof *ord, order_cmp);
    for (int a = 0; a < C_NCOLS; a++)
        if (!(d->col[a] = malloc((nw ? nw : 1) * sizeof(uint32_t))))
            goto nomem;
    d->nrows = nw;
    if (lay_out(d, ord, nw))
        goto nomem;
    for (size_t c = 0; c < d->nchunks; c++) {
        struct chunk *ch = &d->chunks[c];
        for (uint32_t row = ch->row0; row < ch->row0 + ch->len; row++) {
            uint32_t i = ord[row].idx, v[C_NCOLS];
            row_vals(now, &peers[i], obs ? &obs[i] : NULL, v);
            put_row(d, row, v);
            d->col[C_IDX][row] = i;
            d->pos[i] = row;
            chunk_widen(ch, v);
        }
    }
    free(ord);
    ix->hot = d;
    ix->n = n;
    return HEARTH_OK;
nomem:
    free(ord);
    ixdata_free(d);
    return HEARTH_ENOMEM;
}

/* the run and chunk holding a row: binary searches, rows are in order */
static struct irun *run_of(struct ixdata *d, uint32_t row)
{
    size_t lo = 0, hi = d->nruns;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->runs[mid].row0 <= row)
            lo = mid;
        else
            hi = mid;
    }
    return &d->runs[lo];
}

static struct chunk *chunk_of(struct ixdata *d, const struct irun *run,
                              uint32_t row)
{
    size_t lo = run->c0, hi = run->c1;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->chunks[mid].row0 <= row)
            lo = mid;
        else
            hi = mid;
    }
    return &d->chunks[lo];
}

void hearth_select_index_update(hearth_select_index *ix,
                                const hearth_peer *peers,
                                const hearth_peer_obs *obs, size_t i)
{
    if (!ix || !ix->hot || !peers || i >= ix->n)
        return;
    struct ixdata *d = ix->hot;
    uint32_t row = d->pos[i];
    if (row == SPILLED)
        return; /* judged from the arrays, always current */
    const hearth_peer *p = &peers[i];
    struct irun *run = run_of(d, row);
    struct chunk *ch = chunk_of(d, run, row);
    struct sig s;
    sig_of(p, &s);
    if (is_cold(p) || hw_failed(p, obs ? &obs[i] : NULL) ||
        sig_cmp(&s, &run->s)) {
        /* it no longer belongs to its run: the spill list takes it */
        d->col[C_EXP][row] = (uint32_t)DEAD_EXP;
        ch->min_exp = DEAD_EXP;
        run->ndead++;
        d->pos[i] = SPILLED;
        d->spill[d->nspill++] = (uint32_t)i;
        return;
    }
    uint32_t v[C_NCOLS];
    row_vals(ix->base, p, obs ? &obs[i] : NULL, v);
    put_row(d, row, v);
    chunk_widen(ch, v);
}

void hearth_select_index_free(hearth_select_index *ix)
{
    if (!ix)
        return;
    ixdata_free(ix->hot);
    ix->hot = NULL;
    ix->n = 0;
}

/* ---- the scan ---- */

/* Where the compiler can, build the row loops twice, for AVX2 and for the
 * baseline (SSE2), and pick at load time. */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef VECTOR_CLONES
#define VECTOR_CLONES
#endif

/* How many of rows [0, len) are expired (dead rows included) */
static VECTOR_CLONES uint32_t count_expired(const int32_t *restrict exp,
                                            uint32_t len, int32_t now)
{
    uint32_t ne = 0;
    for (uint32_t j = 0; j < len; j++)
        ne += exp[j] <= now;
    return ne;
}

/* The per-offer filters of a chunk whose run passes the static ones:
 * expired, full, cooling down, each counted under the first that applies;
 * pass[j] = 1 for the rest. Compares and sums only: vectorised. */
static VECTOR_CLONES void chunk_mask(const int32_t *restrict exp,
                                     const int32_t *restrict cool,
                                     const uint32_t *restrict cap,
                                     uint32_t len, int32_t now,
                                     uint8_t *restrict pass,
                                     uint32_t cnt[3])
{
    uint32_t ne = 0, nf = 0, nc = 0;
    for (uint32_t j = 0; j < len; j++) {
        uint32_t c = cap[j];
        uint32_t e = exp[j] <= now;
        uint32_t f = ((c >> 16) != 0) & ((c & 0xffffu) == 0);
        uint32_t k = cool[j] > now;
        ne += e;
        nf += f & (e ^ 1u);
        nc += k & ((e | f) ^ 1u);
        pass[j] = (uint8_t)((e | f | k) ^ 1u);
    }
    cnt[0] += ne;
    cnt[1] += nf;
    cnt[2] += nc;
}

/* price_of() of row j, from the columns */
static inline uint64_t row_price(const struct ctx *c,
                                 const struct ixdata *d, size_t row)
{
    const hearth_usage *u = &c->usage;
    if (!c->small_usage) {
        hearth_price p = {d->col[C_PJOB][row], d->col[C_PIN][row],
                          d->col[C_POUT][row], d->col[C_PGPU][row],
                          d->col[C_PHASH][row]};
        return price_of(&p, u);
    }
    /* every product below 2^64; each division by a constant */
    uint64_t x = 0;
    if (u->tokens_in)
        x += ((uint64_t)d->col[C_PIN][row] * u->tokens_in + 999999) / 1000000;
    if (u->tokens_out)
        x += ((uint64_t)d->col[C_POUT][row] * u->tokens_out + 999999) /
             1000000;
    if (u->gpu_ms)
        x += ((uint64_t)d->col[C_PGPU][row] * u->gpu_ms + 999) / 1000;
    if (u->hashes)
        x += ((uint64_t)d->col[C_PHASH][row] * u->hashes + 999999) / 1000000;
    return sat_add(x, (uint64_t)d->col[C_PJOB][row] * u->jobs);
}

static uint64_t bound_price(const struct ctx *c, const uint32_t comp[NPRICE])
{
    hearth_price p = {comp[0], comp[1], comp[2], comp[3], comp[4]};
    return price_of(&p, &c->usage); /* monotonic in every component */
}

/* What the request pays per unit of each price component, over what
 * ref_price() weighs it: price before rounding = sum of comp * w, and
 * w = lam * REF_W componentwise. */
static void price_lam(const struct ctx *c, double lam[NPRICE])
{
    const hearth_usage *u = &c->usage;
    double w[NPRICE] = {(double)u->jobs, (double)u->tokens_in / 1e6,
                        (double)u->tokens_out / 1e6, (double)u->gpu_ms / 1e3,
                        (double)u->hashes / 1e6};
    for (int k = 0; k < NPRICE; k++)
        lam[k] = w[k] / REF_W[k];
}

/* The price range of a chunk's offers: the tighter of the componentwise
 * bounds and the reference key's range scaled by the least and the most
 * the request weighs a component the chunk uses, against the reference.
 * The key form is exact up to rounding, covered by a relative slack of
 * 1e-9 (the doubles err by about 1e-15) and 4 msat for the four roundings
 * up; it is used only below 2^62, far from saturation. */
static void price_bounds(const struct ctx *c, const double lam[NPRICE],
                         const struct chunk *ch, uint64_t *lo, uint64_t *hi)
{
    *lo = bound_price(c, ch->pmin);
    *hi = bound_price(c, ch->pmax);
    double lmin = INFINITY, lmax = 0.0;
    for (int k = 0; k < NPRICE; k++)
        if (ch->nonzero >> k & 1) {
            lmin = lam[k] < lmin ? lam[k] : lmin;
            lmax = lam[k] > lmax ? lam[k] : lmax;
        }
    if (!ch->nonzero)
        return; /* every price 0: the componentwise bounds are exact */
    const double top = 4611686018427387904.0; /* 2^62 */
    double kl = lmin * ch->kmin * (1.0 - 1e-9);
    double kh = lmax * ch->kmax * (1.0 + 1e-9) + 4.0;
    if (kl > 0 && kl < top && (uint64_t)kl > *lo)
        *lo = (uint64_t)kl;
    if (kh < top && (uint64_t)kh + 1 < *hi)
        *hi = (uint64_t)kh + 1;
}

/* The first static filter a run fails, R_ELIGIBLE if none: the order of
 * reject() for model, VRAM, tier and rails */
static unsigned run_reason(const struct ctx *c, const struct sig *s)
{
    if (c->model_set) {
        unsigned found = 0;
        for (unsigned k = 0; k < s->nmodels; k++)
            found |= s->model[k] == c->model;
        if (!found)
            return R_MODEL;
    }
    if (s->vram < c->min_vram)
        return R_SMALL;
    if (s->tier > c->max_tier)
        return R_TIER;
    if (c->rails_set && !(s->rails & c->rails))
        return R_RAIL;
    return R_ELIGIBLE;
}

/* Can no offer of the chunk enter the heap? The chunk's bounds put into
 * key_bound() give a bound on every offer's bound (each step is monotonic
 * in each of them, rounding included), so this never drops a candidate. */
static int chunk_pruned(const struct run *w, const struct chunk *ch,
                        uint64_t pmin)
{
    if (!w->k || w->size < w->k)
        return !w->k;
    const struct ctx *c = &w->c;
    struct raw r;
    r.load = ch->min_load;
    r.queue = 0.0;
    r.run = c->gpu_ms;   /* as measure_offer(), at the chunk's best speed */
    if (c->hash_k > 0)
        r.run += c->hash_k / ch->max_mh;
    if (c->tok_ms > 0)
        r.run += c->tok_ms / ch->max_ts;
    struct obs_bound ob = {ch->min_rtt, ch->max_trust};
    const hearth_candidate *worst = &w->h[0];
    double b = key_bound(w->strat, pmin, &r, ob);
    if (b < worst->score)
        return 1;
    /* a tie at best on fastest or least-loaded: the tie-break (balanced's
     * key) has a bound too */
    return b == worst->score && (w->strat == HEARTH_STRATEGY_FASTEST ||
                                 w->strat == HEARTH_STRATEGY_LEAST_LOADED) &&
           key_bound(HEARTH_STRATEGY_BALANCED, pmin, &r, ob) <
               worst->reliability;
}

static void rank_row(struct run *w, const struct ixdata *d, size_t row,
                     uint64_t price, uint64_t *rr)
{
    uint32_t i = d->col[C_IDX][row];
    if (rr) {
        rr[i / 64] |= (uint64_t)1 << (i % 64);
        return;
    }
    uint32_t cap = d->col[C_CAP][row], tb = d->col[C_TRUST][row];
    float trust;
    memcpy(&trust, &tb, sizeof trust);
    struct obs_bound ob = {d->col[C_RTT][row], trust};
    consider(w, i, price, cap & 0xffffu, cap >> 16, d->col[C_MHASH][row],
             d->col[C_TOKENS][row], ob);
}

static uint64_t pack(const uint8_t *pass, uint32_t len)
{
    uint64_t bits = 0;
    for (uint32_t j = 0; j < len && j < CHUNK; j++)
        bits |= (uint64_t)pass[j] << j;
    return bits;
}

/* a chunk of a run that passes the static filters */
static void scan_chunk(struct run *w, const struct ixdata *d,
                       const struct chunk *ch, int32_t now,
                       const double lam[NPRICE], uint64_t *rr)
{
    uint8_t pass[CHUNK];
    uint32_t cnt3[3] = {0, 0, 0};
    size_t r0 = ch->row0;
    chunk_mask((const int32_t *)d->col[C_EXP] + r0,
               (const int32_t *)d->col[C_COOL] + r0, d->col[C_CAP] + r0,
               ch->len, now, pass, cnt3);
    w->cnt[R_EXPIRED] += cnt3[0];
    w->cnt[R_FULL] += cnt3[1];
    w->cnt[R_COOL] += cnt3[2];
    size_t np = ch->len - cnt3[0] - cnt3[1] - cnt3[2];
    if (!np)
        return;
    const struct ctx *c = &w->c;
    uint64_t pmin, pmax;
    price_bounds(c, lam, ch, &pmin, &pmax);
    if (pmin > c->max_price) {
        w->cnt[R_PRICE] += np;
        return;
    }
    int lists = c->block->n || c->trust->n;
    int all_cheap = pmax <= c->max_price;
    int rank = rr || !chunk_pruned(w, ch, pmin);
    if (all_cheap && !lists) {
        w->cnt[R_ELIGIBLE] += np;
        if (!rank)
            return;
    }
    /* the passing rows as bits: no branch to mispredict per row */
    for (uint64_t bits = pack(pass, ch->len); bits; bits &= bits - 1) {
        size_t row = r0 + (size_t)__builtin_ctzll(bits);
        if (all_cheap && !lists) {
            if (rr) {
                uint32_t i = d->col[C_IDX][row];
                rr[i / 64] |= (uint64_t)1 << (i % 64);
            } else {
                rank_row(w, d, row, row_price(c, d, row), NULL);
            }
            continue;
        }
        uint64_t price = row_price(c, d, row);
        unsigned why = price > c->max_price ? R_PRICE : R_ELIGIBLE;
        if (why == R_ELIGIBLE && lists)
            why = (unsigned)listed_out(c, &w->peers[d->col[C_IDX][row]]);
        w->cnt[why]++;
        if (why == R_ELIGIBLE && rank)
            rank_row(w, d, row, price, rr);
    }
}

/* an offer on the spill list, from the arrays */
static void scan_spilled(struct run *w, size_t i, uint64_t *rr)
{
    const hearth_peer *p = &w->peers[i];
    uint64_t price = 0;
    unsigned why = p->job_kind != w->c.kind
                       ? R_KIND
                       : reject(&w->c, p, w->obs ? &w->obs[i] : NULL, &price);
    w->cnt[why]++;
    if (why != R_ELIGIBLE)
        return;
    if (rr)
        rr[i / 64] |= (uint64_t)1 << (i % 64);
    else
        consider(w, i, price, p->capacity_free, p->capacity_total,
                 p->bench_mhash_s, p->bench_tokens_s, LOOSE);
}

void sel_scan_index(struct run *w, const hearth_select_index *ix,
                    int32_t now, uint64_t *rr)
{
    const struct ixdata *d = ix->hot;
    double lam[NPRICE];
    price_lam(&w->c, lam);
    for (size_t k = 0; k < d->nruns; k++) {
        const struct irun *run = &d->runs[k];
        size_t live = run->row1 - run->row0 - run->ndead;
        if (run->s.kind != w->c.kind) {
            w->cnt[R_KIND] += live;
            continue;
        }
        /* dead rows count as expired below; take them back out */
        w->cnt[R_EXPIRED] -= run->ndead;
        unsigned why = run_reason(&w->c, &run->s);
        for (uint32_t ci = run->c0; ci < run->c1; ci++) {
            const struct chunk *ch = &d->chunks[ci];
            if (why == R_ELIGIBLE) {
                scan_chunk(w, d, ch, now, lam, rr);
                continue;
            }
            uint32_t ne = ch->min_exp > now
                              ? 0
                              : count_expired(
                                    (const int32_t *)d->col[C_EXP] + ch->row0,
                                    ch->len, now);
            w->cnt[R_EXPIRED] += ne;
            w->cnt[why] += ch->len - ne;
        }
    }
    for (size_t s = 0; s < d->nspill; s++)
        scan_spilled(w, d->spill[s], rr);
}
