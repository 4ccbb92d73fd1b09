/* Differential test of selection: the index path against the plain path
 * (bit for bit: candidates, their explain figures and order, the reason
 * counts) and both against a straightforward reference written from
 * docs/selection.md (filter everything, sort everything), over random
 * markets shaped like real ones (few hardware signatures, so the index's
 * runs and chunks are long, with every edge mixed in), random updates and
 * random requests for every strategy. */
#include "hearth/error.h"
#include "hearth/offer.h"
#include "hearth/select.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1700000000

static uint64_t rng_state = 777;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

static uint32_t models[4];
static const uint32_t vrams[] = {0, 8192, 24576};

static void random_peer(hearth_peer *p, hearth_peer_obs *o, size_t i)
{
    memset(p, 0, sizeof *p);
    for (int k = 0; k < 32; k++)
        p->pubkey[k] = (uint8_t)rnd();
    p->pubkey[0] = (uint8_t)(i & 0x3f);
    p->pubkey[1] = 0;
    /* mostly one of a few hardware profiles, as a real market (long
     * runs of one signature in the index), sometimes anything */
    uint64_t prof = below(8) ? below(3) : 3 + below(1000);
    uint64_t save = rng_state;
    rng_state = prof;
    p->job_kind = below(3) ? 5050 : 5970;
    p->tier = (uint8_t)below(5);
    p->rails = (uint8_t)(1 + below(3));
    p->nmodels = (uint8_t)(below(30) == 0 ? 4 : 1 + below(2));
    for (unsigned k = 0; k < p->nmodels; k++)
        p->model_hash[k] = models[(k + below(2)) % 4];
    p->vram_mb = vrams[below(3)];
    rng_state = save;
    uint64_t prem = 5 - (p->tier ? p->tier : 5) + 1;
    p->price.per_job = below(4) == 0 ? 0 : 100 + below(300);
    p->price.per_mtok_in = prem * (20000 + below(60000));
    p->price.per_mtok_out = prem * (80000 + below(300000));
    p->price.per_gpu_second = below(6) == 0 ? below(50) : 0;
    p->price.per_mhash = below(5) == 0 ? below(3) : 0;
    if (p->job_kind == 5970) { /* PoW: a price per job and per hash */
        p->price.per_mtok_in = p->price.per_mtok_out = 0;
        p->price.per_mhash = below(5) ? 1 + below(2) : 0;
    }
    if (below(60) == 0)
        p->price.per_mtok_out = (uint64_t)1 << 40; /* past 32 bits */
    if (below(300) == 0)
        p->price.per_job = UINT64_MAX;
    p->bench_mhash_s = below(5) == 0 ? 0 : 1 + below(20000);
    p->bench_tokens_s = below(5) == 0 ? 0 : (uint32_t)(1 + below(150));
    p->capacity_total = (uint32_t)below(4);
    p->capacity_free = (uint32_t)below(p->capacity_total + 1);
    int64_t e[] = {0, NOW - 5, NOW, NOW + 1, INT64_MAX, INT64_MIN + 1};
    p->expires_at = below(4) ? NOW + 60 : e[below(6)];
    memset(o, 0, sizeof *o);
    o->rtt_ms = (uint32_t)below(400);
    o->jobs_ok = (uint32_t)below(50);
    o->jobs_failed = (uint32_t)below(10);
    o->consecutive_failures = (uint32_t)(below(4) ? 0 : below(5));
    int64_t c[] = {0, NOW - 1, NOW, NOW + 1, NOW + 3600};
    o->cooldown_until = below(4) ? 0 : c[below(5)];
    o->reputation = (float)below(11) / 10.0f;
}

static void random_req(hearth_select_req *r, const uint8_t (*keys)[32],
                       size_t nkeys)
{
    memset(r, 0, sizeof *r);
    r->job_kind = below(8) ? 5050 : 5970;
    r->model_hash = below(3) ? models[below(4)] : 0;
    r->min_vram_mb = below(3) ? 0 : (uint32_t)below(30000);
    r->max_tier = (uint8_t)below(5);
    r->rails = (uint8_t)below(4);
    if (r->job_kind == 5970)
        r->usage = (hearth_usage){.jobs = 1, .hashes = below(1u << 31)};
    else
        r->usage = (hearth_usage){.jobs = below(3), .tokens_in = below(2000),
                                  .tokens_out = below(800),
                                  .gpu_ms = below(3) ? 0 : below(5000)};
    if (r->job_kind == 5050 && below(3)) /* a typical chat turn */
        r->usage = (hearth_usage){.jobs = 1, .tokens_in = 400 + below(300),
                                  .tokens_out = 200 + below(100)};
    if (below(20) == 0)
        r->usage.tokens_out = (uint64_t)1 << 40; /* big usage */
    r->max_price_msat = below(3) ? 0 : 1 + below(1500);
    if (r->job_kind == 5970 && r->max_price_msat)
        r->max_price_msat *= 2;
    r->strategy = (hearth_strategy)below(5);
    r->top_n = (size_t)below(5);
    r->seed = rnd();
    r->now = NOW + (int64_t)below(3) - 1;
    if (below(8) == 0) {
        r->block = keys;
        r->nblock = below(nkeys);
    }
    if (below(8) == 0) {
        r->trust = keys;
        r->ntrust = below(nkeys);
    }
}

/* ---- the reference: every rule of docs/selection.md, written out ---- */

static int on_list(const uint8_t (*keys)[32], size_t n, const uint8_t *pk)
{
    for (size_t i = 0; i < n; i++)
        if (!memcmp(keys[i], pk, 32))
            return 1;
    return 0;
}

/* 0 eligible, else the 1-based number of the first reason in the
 * documented order: kind, expired, model, small, tier, rail, full, cool,
 * price, blocked, untrusted */
static int ref_reason(const hearth_peer *p, const hearth_peer_obs *o,
                      const hearth_select_req *r)
{
    if (p->job_kind != r->job_kind)
        return 1;
    if (p->expires_at != 0 && p->expires_at <= r->now)
        return 2;
    if (r->model_hash) {
        int found = 0;
        for (unsigned k = 0; k < p->nmodels && k < HEARTH_OFFER_MAX_MODELS;
             k++)
            found |= p->model_hash[k] == r->model_hash;
        if (!found)
            return 3;
    }
    if (p->vram_mb < r->min_vram_mb)
        return 4;
    if (r->max_tier && (p->tier == 0 || p->tier > r->max_tier))
        return 5;
    if (r->rails && !(p->rails & r->rails))
        return 6;
    if (p->capacity_total && !p->capacity_free)
        return 7;
    if (o && o->cooldown_until > r->now)
        return 8;
    if (r->max_price_msat &&
        hearth_offer_price(&p->price, &r->usage) > r->max_price_msat)
        return 9;
    if (r->nblock && on_list(r->block, r->nblock, p->pubkey))
        return 10;
    if (r->ntrust && !on_list(r->trust, r->ntrust, p->pubkey))
        return 11;
    return 0;
}

static size_t stat_of(const hearth_select_stats *s, int k)
{
    const size_t v[] = {s->eligible, s->wrong_kind, s->expired,
                        s->wrong_model, s->too_small, s->wrong_tier,
                        s->no_rail, s->full, s->cooling_down,
                        s->too_expensive, s->blocked, s->untrusted};
    return v[k];
}

/* the order of the header: by the strategy's figure, ties by U, then by
 * index; the figures are the returned candidates' own */
static hearth_strategy sort_strat;

/* U, the product whose log2 is the score (docs/selection.md), from the
 * candidate's figures: what balanced ranks by and the others' tie-break */
static double utility_of(const hearth_candidate *c)
{
    return c->reliability * c->reliability * (0.5 + c->reputation) *
           (1.0 - 0.5 * c->load) /
           ((1.0 + (double)c->price_msat) * (1.0 + c->latency_ms));
}

static int ref_cmp(const void *pa, const void *pb)
{
    const hearth_candidate *a = pa, *b = pb;
    double ua = utility_of(a), ub = utility_of(b), ka = ua, kb = ub;
    switch (sort_strat) {
    case HEARTH_STRATEGY_CHEAPEST:
        if (a->price_msat != b->price_msat)
            return a->price_msat < b->price_msat ? -1 : 1;
        break;
    case HEARTH_STRATEGY_FASTEST:
        ka = -a->latency_ms;
        kb = -b->latency_ms;
        break;
    case HEARTH_STRATEGY_LEAST_LOADED:
        ka = -a->load;
        kb = -b->load;
        break;
    default:
        break;
    }
    if (ka != kb)
        return ka > kb ? -1 : 1;
    if (ua != ub)
        return ua > ub ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Each eligible offer scored on its own (hearth_select with a market of
 * that one offer: its figures do not depend on the others), then all of
 * them sorted by the rules of the header. */
static size_t ref_rank(const hearth_peer *peers, const hearth_peer_obs *obs,
                       size_t n, const hearth_select_req *req,
                       hearth_candidate *all, size_t *cnt)
{
    size_t m = 0;
    memset(cnt, 0, 12 * sizeof *cnt);
    for (size_t i = 0; i < n; i++) {
        int why = ref_reason(&peers[i], obs ? &obs[i] : NULL, req);
        cnt[why]++;
        if (why)
            continue;
        hearth_select_req one = *req;
        one.index = NULL;
        one.top_n = 1;
        one.strategy = HEARTH_STRATEGY_BALANCED;
        one.nblock = one.ntrust = 0;
        size_t got = 0;
        hearth_select(&peers[i], obs ? &obs[i] : NULL, 1, &one, &all[m], 1,
                      &got, NULL);
        all[m++].index = i;
    }
    return m;
}

static int same_cand(const hearth_candidate *a, const hearth_candidate *b)
{
    return !memcmp(a, b, sizeof *a);
}

static void round_once(hearth_peer *peers, hearth_peer_obs *obs, size_t n,
                       const hearth_select_index *ix, hearth_candidate *all,
                       const uint8_t (*keys)[32], size_t nkeys,
                       size_t *fails)
{
    hearth_select_req req;
    random_req(&req, keys, nkeys);
    size_t max_out = (size_t)below(13);
    hearth_candidate a[16], b[16];
    hearth_select_stats sa, sb;
    size_t na = 0, nb = 0;
    int ra = hearth_select(peers, obs, n, &req, a, max_out, &na, &sa);
    req.index = ix;
    int rb = hearth_select(peers, obs, n, &req, b, max_out, &nb, &sb);
    int ok = ra == 0 && rb == 0 && na == nb &&
             !memcmp(&sa, &sb, sizeof sa);
    for (size_t k = 0; ok && k < na; k++)
        ok = same_cand(&a[k], &b[k]);

    /* against the reference */
    size_t cnt[12];
    size_t m = ref_rank(peers, obs, n, &req, all, cnt);
    for (int k = 0; ok && k < 12; k++)
        ok = stat_of(&sb, k) == cnt[k];
    ok = ok && sb.considered == n;
    size_t want = max_out < m ? max_out : m;
    ok = ok && nb == want;
    if (ok && req.strategy == HEARTH_STRATEGY_ROUND_ROBIN) {
        /* the eligible offers in array order from number seed mod m */
        for (size_t k = 0; ok && k < want; k++)
            ok = same_cand(&b[k], &all[(req.seed % m + k) % m]);
    } else if (ok && want) {
        sort_strat = req.strategy;
        qsort(all, m, sizeof *all, ref_cmp);
        size_t top = req.top_n ? req.top_n : 1;
        /* out[0] is drawn among the best top_n; the rest keep rank order */
        size_t j = 0, drawn = 0;
        for (; drawn < top && drawn < m; drawn++)
            if (same_cand(&b[0], &all[drawn]))
                break;
        ok = drawn < top && drawn < m;
        for (size_t k = 1; ok && k < want; k++, j++) {
            if (j == drawn)
                j++;
            ok = same_cand(&b[k], &all[j]);
        }
    }
    if (!ok && (*fails)++ < 5)
        fprintf(stderr, "# mismatch: n %zu strategy %d top_n %zu max_out "
                "%zu nout %zu/%zu eligible %zu/%zu\n", n, (int)req.strategy,
                req.top_n, max_out, na, nb, sb.eligible, m);
}

static void test_random(size_t n, int rounds)
{
    hearth_peer *peers = malloc((n ? n : 1) * sizeof *peers);
    hearth_peer_obs *obs = malloc((n ? n : 1) * sizeof *obs);
    hearth_candidate *all = malloc((n ? n : 1) * sizeof *all);
    uint8_t (*keys)[32] = malloc(40 * 32);
    for (size_t i = 0; i < n; i++)
        random_peer(&peers[i], &obs[i], i);
    for (size_t k = 0; k < 40; k++)
        memcpy(keys[k], peers[below(n ? n : 1)].pubkey, 32);
    hearth_select_index ix;
    int with_obs = below(4) != 0;
    hearth_peer_obs *o = with_obs ? obs : NULL;
    CHECK(hearth_select_index_build(peers, o, n, NOW - (int64_t)below(100),
                                    &ix) == 0);
    size_t fails = 0;
    for (int r = 0; r < rounds; r++) {
        /* the market moves between selections, the index follows */
        for (int u = 0; n && u < 3; u++) {
            size_t i = below(n);
            switch (below(5)) {
            case 0: /* slots taken or given back */
                peers[i].capacity_free = (uint32_t)below(
                    peers[i].capacity_total + 1);
                break;
            case 1: /* new observations */
                obs[i].rtt_ms = (uint32_t)below(400);
                obs[i].cooldown_until = below(2) ? 0 : NOW + 30;
                obs[i].jobs_ok += 1;
                break;
            case 2: /* a new offer, perhaps of another kind or price */
                random_peer(&peers[i], &obs[i], i);
                break;
            case 3:
                peers[i].price.per_mtok_out = below(2000000);
                break;
            default:
                peers[i].expires_at = NOW - 1;
                break;
            }
            hearth_select_index_update(&ix, peers, o, i);
        }
        round_once(peers, o, n, &ix, all, (const uint8_t(*)[32])keys, 40,
                   &fails);
    }
    CHECKF(fails == 0, "%zu offers: %zu of %d rounds differ", n, fails,
           rounds);
    hearth_select_index_free(&ix);
    free(peers);
    free(obs);
    free(all);
    free(keys);
}

int main(void)
{
    const char *names[] = {"llama-8b", "llama-70b", "mistral-7b", "qwen-32b"};
    for (int k = 0; k < 4; k++)
        models[k] = hearth_model_hash(names[k]);
    static const size_t sizes[] = {0, 1, 5, 63, 64, 65, 300, 1000, 4000};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        test_random(sizes[s], sizes[s] >= 1000 ? 150 : 300);
    return tap_done();
}
