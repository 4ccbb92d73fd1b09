/* Peer selection: hard filters, then a score, then a pick among the best
 * (include/hearth/select.h; the formula and its reasons are in
 * docs/selection.md).
 *
 * The hot loop runs once per offer in the view (100,000 of them in a busy
 * market), so it allocates nothing, computes no logarithm (it ranks by
 * the product whose log2 is the score) and keeps only the best few in a
 * small heap. The exact score and its parts are computed afterwards, for
 * the few candidates that are returned. */
#include "select_internal.h"

#include "hearth/error.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int keyset_init(struct keyset *ks, const uint8_t (*keys)[32],
                       size_t n)
{
    ks->keys = keys;
    ks->n = n;
    ks->slot = NULL;
    if (!n)
        return HEARTH_OK;
    if (!keys || n > UINT32_MAX / 4)
        return HEARTH_EINVAL;
    size_t size = 16;
    unsigned bits = 4;
    while (size < 2 * n) {
        size <<= 1;
        bits++;
    }
    if (size <= KEYSET_STACK) {
        ks->slot = ks->stack;
    } else if (!(ks->slot = malloc(size * sizeof *ks->slot))) {
        return HEARTH_ENOMEM;
    }
    memset(ks->slot, 0, size * sizeof *ks->slot);
    ks->shift = 64 - bits;
    ks->mask = size - 1;
    for (size_t i = 0; i < n; i++) {
        size_t h = key_hash(keys[i], ks->shift);
        while (ks->slot[h])
            h = (h + 1) & ks->mask;
        ks->slot[h] = (uint32_t)(i + 1);
    }
    return HEARTH_OK;
}

static void keyset_free(struct keyset *ks)
{
    if (ks->slot && ks->slot != ks->stack)
        free(ks->slot);
}

void sel_fill(const struct ctx *c, const hearth_peer *peers,
                 const hearth_peer_obs *obs, size_t i, hearth_candidate *out)
{
    struct raw r;
    uint64_t price = price_of(&peers[i].price, &c->usage);
    measure(c, &peers[i], obs ? &obs[i] : NULL, &r);
    out->index = i;
    out->price_msat = price;
    out->latency_ms = r.latency;
    out->rtt_ms = r.rtt;
    out->queue_ms = r.queue;
    out->run_ms = r.run;
    out->reliability = r.reliability;
    out->reputation = r.reputation;
    out->load = r.load;
    out->part.price = -log2(1.0 + (double)price);
    out->part.latency = -log2(1.0 + r.latency);
    out->part.reliability = 2.0 * log2(r.reliability);
    out->part.reputation = log2(0.5 + r.reputation);
    out->part.capacity = log2(1.0 - 0.5 * r.load);
    out->score = out->part.price + out->part.latency +
                 out->part.reliability + out->part.reputation +
                 out->part.capacity;
}

/* min-heap on "better": the root is the worst of the kept */
void sel_sift_down(hearth_strategy s, hearth_candidate *h, size_t n,
                      size_t i)
{
    hearth_candidate x = h[i];
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= n)
            break;
        if (k + 1 < n && better(s, &h[k], &h[k + 1]))
            k++;
        if (!better(s, &x, &h[k]))
            break;
        h[i] = h[k];
        i = k;
    }
    h[i] = x;
}

void sel_sift_up(hearth_strategy s, hearth_candidate *h, size_t i)
{
    hearth_candidate x = h[i];
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!better(s, &h[up], &x))
            break;
        h[i] = h[up];
        i = up;
    }
    h[i] = x;
}

static void ctx_init(struct ctx *c, const hearth_select_req *req)
{
    c->kind = req->job_kind;
    c->model = req->model_hash;
    c->model_set = req->model_hash != 0;
    c->min_vram = req->min_vram_mb;
    c->max_tier = req->max_tier ? req->max_tier : 255u;
    c->rails = req->rails;
    c->rails_set = req->rails != 0;
    c->max_price = req->max_price_msat ? req->max_price_msat : UINT64_MAX;
    c->now = req->now;
    c->usage = req->usage;
    c->hash_k = (double)req->usage.hashes / 1000.0;
    c->tok_ms = ((double)req->usage.tokens_out +
                 (double)req->usage.tokens_in / PROMPT_SPEEDUP) * 1000.0;
    c->gpu_ms = (double)req->usage.gpu_ms;
    const hearth_usage *u = &req->usage;
    c->small_usage = (u->jobs | u->tokens_in | u->tokens_out | u->gpu_ms |
                      u->hashes) <= UINT32_MAX;
}

static void put_stats(hearth_select_stats *st, size_t n,
                      const size_t cnt[R_COUNT])
{
    if (!st)
        return;
    st->considered = n;
    st->wrong_kind = cnt[R_KIND];
    st->expired = cnt[R_EXPIRED];
    st->wrong_model = cnt[R_MODEL];
    st->too_small = cnt[R_SMALL];
    st->wrong_tier = cnt[R_TIER];
    st->no_rail = cnt[R_RAIL];
    st->full = cnt[R_FULL];
    st->cooling_down = cnt[R_COOL];
    st->hw_failed = cnt[R_HWFAIL];
    st->too_expensive = cnt[R_PRICE];
    st->blocked = cnt[R_BLOCKED];
    st->untrusted = cnt[R_UNTRUSTED];
    st->eligible = cnt[R_ELIGIBLE];
}

/* Top-N: draw the choice among the best m and move it to the front */
static void pick(hearth_candidate *h, size_t m, hearth_strategy s,
                 uint64_t seed)
{
    uint64_t x = seed ^ 0x5ca1ab1e0ddba11u;
    double u = hearth_rng_unit(hearth_splitmix64(&x));
    size_t j = (size_t)(u * (double)m);
    if (s == HEARTH_STRATEGY_BALANCED) {
        /* probability proportional to 2^score: a peer half as good by
         * the score gets half the jobs */
        double w[HEARTH_SELECT_TOPN_MAX], sum = 0;
        for (size_t k = 0; k < m; k++)
            sum += w[k] = exp2(h[k].score - h[0].score);
        double t = u * sum;
        for (j = 0; j + 1 < m && t >= w[j]; j++)
            t -= w[j];
    }
    if (j >= m)
        j = m - 1;
    hearth_candidate chosen = h[j];
    memmove(&h[1], &h[0], j * sizeof *h);
    h[0] = chosen;
}

void sel_place(struct run *w, size_t i)
{
    size_t e = w->e++;
    if (e >= w->start && e < w->start + w->want)
        sel_fill(&w->c, w->peers, w->obs, i, &w->out[e - w->start]);
    else if (e < w->wrapped)
        sel_fill(&w->c, w->peers, w->obs, i, &w->out[w->m - w->start + e]);
}

static void scan_plain(struct run *w, size_t n)
{
    const uint32_t kind = w->c.kind;
    for (size_t i = 0; i < n; i++) {
        const hearth_peer *p = &w->peers[i];
        if (p->job_kind != kind) {
            w->cnt[R_KIND]++;
            continue;
        }
        uint64_t price;
        unsigned why = reject(&w->c, p, w->obs ? &w->obs[i] : NULL, &price);
        w->cnt[why]++;
        if (why == R_ELIGIBLE)
            consider(w, i, price, p->capacity_free, p->capacity_total,
                     p->bench_mhash_s, p->bench_tokens_s, LOOSE);
    }
}

/* Round-robin over an index, whose rows are not in array order: one scan
 * marks the eligible offers in a bitmap indexed by array position, then
 * the eligible ones from number seed mod m are read off it in order. The
 * bitmap is on the stack up to RR_STACK_WORDS * 64 offers. */
#define RR_STACK_WORDS 4096u
static int round_robin_index(struct run *w, const hearth_select_index *ix,
                             int32_t now, uint64_t seed,
                             hearth_candidate *out, size_t max_out,
                             size_t *nout)
{
    uint64_t stack[RR_STACK_WORDS], *bits = stack;
    size_t words = (ix->n + 63) / 64;
    if (words > RR_STACK_WORDS && !(bits = malloc(words * sizeof *bits)))
        return HEARTH_ENOMEM;
    memset(bits, 0, words * sizeof *bits);
    sel_scan_index(w, ix, now, bits);
    size_t m = w->cnt[R_ELIGIBLE];
    size_t want = max_out < m ? max_out : m;
    if (want) {
        /* the word holding eligible number seed mod m */
        size_t skip = (size_t)(seed % m), wd = 0;
        for (;; wd++) {
            size_t c = (size_t)__builtin_popcountll(bits[wd]);
            if (skip < c)
                break;
            skip -= c;
        }
        uint64_t x = bits[wd];
        while (skip--)
            x &= x - 1;
        for (size_t k = 0; k < want; k++) {
            while (!x) {
                wd = wd + 1 < words ? wd + 1 : 0;
                x = bits[wd];
            }
            size_t i = wd * 64 + (size_t)__builtin_ctzll(x);
            x &= x - 1;
            sel_fill(&w->c, w->peers, w->obs, i, &out[k]);
        }
    }
    *nout = want;
    if (bits != stack)
        free(bits);
    return HEARTH_OK;
}

int hearth_select(const hearth_peer *peers, const hearth_peer_obs *obs,
                  size_t n, const hearth_select_req *req,
                  hearth_candidate *out, size_t max_out, size_t *nout,
                  hearth_select_stats *stats)
{
    if (!req || !nout || (n && !peers) || (max_out && !out) ||
        (unsigned)req->strategy > HEARTH_STRATEGY_ROUND_ROBIN ||
        (req->index && req->index->n != n) ||
        (req->index && n && !req->index->hot))
        return HEARTH_EINVAL;
    *nout = 0;
    /* not memset: the key sets' stack tables alone are 16 KiB */
    struct run w;
    memset(w.cnt, 0, sizeof w.cnt);
    w.size = 0;
    ctx_init(&w.c, req);
    w.c.trust = &w.trust;
    w.c.block = &w.block;
    int rc = keyset_init(&w.trust, req->trust, req->ntrust);
    if (rc)
        return rc;
    if ((rc = keyset_init(&w.block, req->block, req->nblock))) {
        keyset_free(&w.trust);
        return rc;
    }
    w.peers = peers;
    w.obs = obs;
    w.strat = req->strategy;
    size_t top = req->top_n ? req->top_n : 1;
    if (top > HEARTH_SELECT_TOPN_MAX)
        top = HEARTH_SELECT_TOPN_MAX;
    /* keep at least top_n; beyond max_out they live on the stack */
    hearth_candidate spill[HEARTH_SELECT_TOPN_MAX];
    w.k = max_out;
    w.h = out;
    if (w.strat != HEARTH_STRATEGY_ROUND_ROBIN && top > max_out) {
        w.k = top;
        w.h = spill;
    }

    const hearth_select_index *ix = req->index;
    int64_t rel = ix ? req->now - ix->base : 0;
    int use_ix = ix && rel > -(int64_t)HOT_RANGE && rel < (int64_t)HOT_RANGE;
    w.place = 0;
    if (w.strat == HEARTH_STRATEGY_ROUND_ROBIN && use_ix) {
        rc = round_robin_index(&w, ix, (int32_t)rel, req->seed, out, max_out,
                               nout);
        if (!rc)
            put_stats(stats, n, w.cnt);
    } else if (w.strat == HEARTH_STRATEGY_ROUND_ROBIN) {
        scan_plain(&w, n);
        put_stats(stats, n, w.cnt);
        /* the eligible peers in array order, from number seed mod m,
         * wrapping: a second pass, since m is known only after the first */
        w.m = w.cnt[R_ELIGIBLE];
        w.want = max_out < w.m ? max_out : w.m;
        if (w.want) {
            w.start = (size_t)(req->seed % w.m);
            w.wrapped = w.start + w.want > w.m ? w.start + w.want - w.m : 0;
            w.e = 0;
            w.out = out;
            w.place = 1;
            scan_plain(&w, n);
        }
        *nout = w.want;
    } else {
        if (use_ix)
            sel_scan_index(&w, ix, (int32_t)rel, NULL);
        else
            scan_plain(&w, n);
        put_stats(stats, n, w.cnt);
        hearth_candidate *h = w.h;
        size_t size = w.size;
        /* heap sort: pop the worst to the back, leaving best first */
        for (size_t end = size; end > 1; end--) {
            hearth_candidate t = h[0];
            h[0] = h[end - 1];
            h[end - 1] = t;
            sel_sift_down(w.strat, h, end - 1, 0);
        }
        for (size_t j = 0; j < size; j++)
            sel_fill(&w.c, peers, obs, h[j].index, &h[j]);
        size_t m = top < size ? top : size;
        if (m > 1)
            pick(h, m, w.strat, req->seed);
        *nout = size < max_out ? size : max_out;
        if (h != out && *nout)
            memcpy(out, h, *nout * sizeof *out);
    }
    keyset_free(&w.trust);
    keyset_free(&w.block);
    return rc;
}

uint32_t hearth_model_hash(const char *name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
        h ^= *s;
        h *= 16777619u;
    }
    return h ? h : 1u;
}

void hearth_peer_from_offer(const hearth_offer *o, hearth_peer *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->pubkey, o->pubkey, 32);
    out->job_kind = o->job_kind;
    out->backend = (uint8_t)o->backend;
    out->tier = o->hw.tier;
    out->rails = (uint8_t)o->rails;
    size_t nm = o->nmodels < HEARTH_OFFER_MAX_MODELS ? o->nmodels
                                                      : HEARTH_OFFER_MAX_MODELS;
    out->nmodels = (uint8_t)nm;
    for (size_t i = 0; i < nm; i++)
        out->model_hash[i] = hearth_model_hash(o->models[i]);
    out->vram_mb = o->hw.vram_mb;
    out->price = o->price;
    out->bench_mhash_s = o->bench_mhash_s;
    out->bench_tokens_s = o->bench_tokens_s;
    out->capacity_free = o->capacity_free;
    out->capacity_total = o->capacity_total;
    out->expires_at = o->expires_at;
}

static const char *const strategy_names[] = {
    [HEARTH_STRATEGY_BALANCED] = "balanced",
    [HEARTH_STRATEGY_CHEAPEST] = "cheapest",
    [HEARTH_STRATEGY_FASTEST] = "fastest",
    [HEARTH_STRATEGY_LEAST_LOADED] = "least-loaded",
    [HEARTH_STRATEGY_ROUND_ROBIN] = "round-robin",
};

int hearth_strategy_parse(const char *name, hearth_strategy *out)
{
    if (!name || !out)
        return HEARTH_EINVAL;
    for (size_t s = 0; s < sizeof strategy_names / sizeof *strategy_names;
         s++) {
        const char *a = strategy_names[s], *b = name;
        while (*a && (*a == *b || (*a == '-' && *b == '_'))) {
            a++;
            b++;
        }
        if (!*a && !*b) {
            *out = (hearth_strategy)s;
            return HEARTH_OK;
        }
    }
    return HEARTH_EINVAL;
}

const char *hearth_strategy_name(hearth_strategy s)
{
    if ((unsigned)s >= sizeof strategy_names / sizeof *strategy_names)
        return "unknown";
    return strategy_names[s];
}
