/* Reputation from receipts (include/hearth/reputation.h, docs/reputation.md).
 *
 * Steps, each a function below:
 *   1. give every key a dense id (sorted table, so results come out sorted);
 *   2. fold receipts into jobs (largest amount, disputed if any dispute) and
 *      jobs into one edge per (customer, provider) pair, log-scaled;
 *   3. propagate trust from the local peer over those edges (personalized
 *      PageRank: teleport only to the seed, so unreachable keys get none);
 *   4. weigh each pair by the customer's standing minus what the provider
 *      itself gave it, capped, and blend in the local peer's own view. */
#include "hearth/reputation.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/error.h"
#include "hearth/view.h"

#define NO_SLOT UINT32_MAX

typedef struct rep_key {
    uint8_t k[32];
} rep_key;

/* One backed receipt, reduced to what the fold needs. */
typedef struct rep_rec {
    uint32_t c, p;
    const uint8_t *job;
    double msat;
    uint8_t disputed;
} rep_rec;

/* One (customer, provider) pair after folding its jobs. */
typedef struct rep_pair {
    uint32_t c, p;
    double acc_msat, dis_msat;
    double good, bad;   /* log-spend evidence, split by amount */
    double volume;      /* good + bad: what the customer spent */
} rep_pair;

/* Everything one computation builds; freed as a whole by ctx_free. */
typedef struct rep_ctx {
    const hearth_rep_params *pa;
    rep_key *keys;
    size_t nkeys;
    uint32_t local;
    rep_pair *pairs;
    size_t npairs;
    /* CSR out-edges of the trust graph */
    size_t *off, *end;
    uint32_t *dst;
    double *w;
    double *outw;
    double *seed, *pi, *next;
    uint32_t *slot;     /* node -> index in the result, NO_SLOT if none */
} rep_ctx;

void hearth_rep_params_default(hearth_rep_params *p)
{
    p->damping = 0.75;
    p->direct_seed = 1.0;
    p->full_standing = 0.01;
    p->prior_strength = 2.0;
    p->dispute_weight = 1.0;
    p->self_max = 0.8;
    p->self_strength = 1.0;
    p->unit_msat = 1000.0;
    p->min_msat = 1000.0;
    p->max_iter = 200;
    p->tolerance = 1e-10;
}

static int positive(double x)
{
    return isfinite(x) && x > 0;
}

static int params_ok(const hearth_rep_params *p)
{
    return positive(p->damping) && p->damping < 1 &&
           isfinite(p->direct_seed) && p->direct_seed >= 0 &&
           positive(p->full_standing) && positive(p->prior_strength) &&
           isfinite(p->dispute_weight) && p->dispute_weight >= 0 &&
           isfinite(p->self_max) && p->self_max >= 0 && p->self_max <= 1 &&
           positive(p->self_strength) && positive(p->unit_msat) &&
           isfinite(p->min_msat) && p->min_msat >= 0 && p->max_iter > 0 &&
           isfinite(p->tolerance) && p->tolerance >= 0;
}

static void ctx_free(rep_ctx *x)
{
    free(x->keys);
    free(x->pairs);
    free(x->off);
    free(x->end);
    free(x->dst);
    free(x->w);
    free(x->outw);
    free(x->seed);
    free(x->pi);
    free(x->next);
    free(x->slot);
}

/* ---- 1. key table ---- */

static int key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static uint32_t key_id(const rep_ctx *x, const uint8_t k[32])
{
    const rep_key *f = bsearch(k, x->keys, x->nkeys, sizeof *x->keys,
                               key_cmp);
    return f ? (uint32_t)(f - x->keys) : NO_SLOT;
}

static int build_keys(rep_ctx *x, const uint8_t local[32],
                      const hearth_rep_receipt *r, size_t n,
                      const hearth_rep_prior *pr, size_t np)
{
    size_t cap = 2 * n + np + 1, m = 0;
    x->keys = malloc(cap * sizeof *x->keys);
    if (!x->keys)
        return HEARTH_ENOMEM;
    memcpy(x->keys[m++].k, local, 32);
    for (size_t i = 0; i < n; i++) {
        memcpy(x->keys[m++].k, r[i].customer, 32);
        memcpy(x->keys[m++].k, r[i].provider, 32);
    }
    for (size_t i = 0; i < np; i++)
        memcpy(x->keys[m++].k, pr[i].pubkey, 32);
    qsort(x->keys, m, sizeof *x->keys, key_cmp);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (u == 0 || memcmp(x->keys[u - 1].k, x->keys[i].k, 32) != 0)
            x->keys[u++] = x->keys[i];
    x->nkeys = u;
    x->local = key_id(x, local);
    return HEARTH_OK;
}

/* ---- 2. receipts -> jobs -> pairs ---- */

static int rec_cmp(const void *a, const void *b)
{
    const rep_rec *x = a, *y = b;
    if (x->c != y->c)
        return x->c < y->c ? -1 : 1;
    if (x->p != y->p)
        return x->p < y->p ? -1 : 1;
    return memcmp(x->job, y->job, 32);
}

/* Providers get a result slot; every receipt counts in its provider's
 * explanation, and only backed receipts between two distinct keys go on
 * to the fold. Self-receipts are dropped because a key vouching for itself
 * costs nothing. */
static size_t collect(rep_ctx *x, const hearth_rep_receipt *r, size_t n,
                      rep_rec *out, hearth_rep_score *sc)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = key_id(x, r[i].customer), p = key_id(x, r[i].provider);
        hearth_rep_explain *e = &sc[x->slot[p]].why;
        e->receipts++;
        if (!r[i].backed) {
            e->unbacked++;
            continue;
        }
        if (c == p) {
            e->self_dealt++;
            continue;
        }
        double a = (double)r[i].amount_msat;
        out[m++] = (rep_rec){ c, p, r[i].job_id,
                              a > x->pa->min_msat ? a : x->pa->min_msat,
                              r[i].disputed ? 1 : 0 };
    }
    return m;
}

/* Log scale on the pair's total, not per job, so splitting spending into
 * many small jobs buys nothing over one large job. */
static void pair_evidence(const hearth_rep_params *pa, rep_pair *q)
{
    double tot = q->acc_msat + q->dis_msat;
    q->volume = log1p(tot / pa->unit_msat);
    q->good = tot > 0 ? q->volume * q->acc_msat / tot : 0;
    q->bad = tot > 0 ? q->volume * q->dis_msat / tot : 0;
}

/* Fold sorted records: one job per (c, p, job id), one pair per (c, p). */
static int fold_pairs(rep_ctx *x, rep_rec *rec, size_t m,
                      hearth_rep_score *sc)
{
    x->pairs = calloc(m ? m : 1, sizeof *x->pairs);
    if (!x->pairs)
        return HEARTH_ENOMEM;
    size_t np = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i;
        double amt = 0;
        int dis = 0;
        for (; j < m && rec_cmp(&rec[i], &rec[j]) == 0; j++) {
            amt = rec[j].msat > amt ? rec[j].msat : amt;
            dis |= rec[j].disputed;
        }
        hearth_rep_explain *e = &sc[x->slot[rec[i].p]].why;
        e->jobs++;
        e->duplicates += (uint32_t)(j - i - 1);
        if (np == 0 || x->pairs[np - 1].c != rec[i].c ||
            x->pairs[np - 1].p != rec[i].p)
            x->pairs[np++] = (rep_pair){ .c = rec[i].c, .p = rec[i].p };
        if (dis)
            x->pairs[np - 1].dis_msat += amt;
        else
            x->pairs[np - 1].acc_msat += amt;
        i = j;
    }
    x->npairs = np;
    for (size_t i = 0; i < np; i++)
        pair_evidence(x->pa, &x->pairs[i]);
    return HEARTH_OK;
}

/* ---- 3. trust propagation ---- */

/* Customer -> provider: trust passes only on net satisfied spending (a
 * disputed provider gets none from that customer). Provider -> customer:
 * a provider passes standing to those who paid it, by what they spent;
 * that is the "spent with trusted providers" half of the loop. */
static double edge_cp(const hearth_rep_params *pa, const rep_pair *q)
{
    double w = q->good - pa->dispute_weight * q->bad;
    return w > 0 ? w : 0;
}

static void add_edge(rep_ctx *x, uint32_t u, uint32_t v, double w)
{
    if (!(w > 0))
        return;
    size_t at = x->end[u]++;
    x->dst[at] = v;
    x->w[at] = w;
    x->outw[u] += w;
}

/* Ranges are sized for two edges per pair; zero-weight edges are not
 * stored, so end[u] marks where node u's filled range stops. */
static int build_graph(rep_ctx *x)
{
    size_t nk = x->nkeys, ne = 2 * x->npairs;
    x->off = calloc(nk + 1, sizeof *x->off);
    x->end = calloc(nk ? nk : 1, sizeof *x->end);
    x->dst = malloc((ne ? ne : 1) * sizeof *x->dst);
    x->w = malloc((ne ? ne : 1) * sizeof *x->w);
    x->outw = calloc(nk, sizeof *x->outw);
    if (!x->off || !x->end || !x->dst || !x->w || !x->outw)
        return HEARTH_ENOMEM;
    for (size_t i = 0; i < x->npairs; i++) {
        x->off[x->pairs[i].c + 1]++;
        x->off[x->pairs[i].p + 1]++;
    }
    for (size_t k = 0; k < nk; k++)
        x->off[k + 1] += x->off[k];
    memcpy(x->end, x->off, nk * sizeof *x->end);
    for (size_t i = 0; i < x->npairs; i++) {
        const rep_pair *q = &x->pairs[i];
        add_edge(x, q->c, q->p, edge_cp(x->pa, q));
        add_edge(x, q->p, q->c, q->volume);
    }
    return HEARTH_OK;
}

/* Pre-trusted set: the local peer, its direct counterparties in proportion
 * to its satisfied spending with them, and the caller's priors. Sybils can
 * enter none of these without the local peer dealing with them. */
static int build_seed(rep_ctx *x, const hearth_rep_prior *pr, size_t np)
{
    x->seed = calloc(x->nkeys, sizeof *x->seed);
    if (!x->seed)
        return HEARTH_ENOMEM;
    double direct = 0, tot = 0;
    for (size_t i = 0; i < x->npairs; i++)
        if (x->pairs[i].c == x->local)
            direct += edge_cp(x->pa, &x->pairs[i]);
    x->seed[x->local] = 1.0;
    for (size_t i = 0; direct > 0 && i < x->npairs; i++)
        if (x->pairs[i].c == x->local)
            x->seed[x->pairs[i].p] +=
                x->pa->direct_seed * edge_cp(x->pa, &x->pairs[i]) / direct;
    for (size_t i = 0; i < np; i++)
        x->seed[key_id(x, pr[i].pubkey)] += pr[i].weight;
    for (size_t k = 0; k < x->nkeys; k++)
        tot += x->seed[k];
    for (size_t k = 0; k < x->nkeys; k++)
        x->seed[k] /= tot;
    return HEARTH_OK;
}

/* One power-iteration step; returns the L1 change. Mass of nodes without
 * out-edges and the (1 - d) share return to the seed, so total mass stays
 * 1 and nothing leaks to keys the seed cannot reach. */
static double step(rep_ctx *x)
{
    double d = x->pa->damping, back = 1.0 - d, diff = 0;
    size_t nk = x->nkeys;
    memset(x->next, 0, nk * sizeof *x->next);
    for (size_t u = 0; u < nk; u++) {
        if (x->pi[u] == 0)
            continue;
        if (!(x->outw[u] > 0)) {
            back += d * x->pi[u];
            continue;
        }
        double f = d * x->pi[u] / x->outw[u];
        for (size_t e = x->off[u]; e < x->end[u]; e++)
            x->next[x->dst[e]] += f * x->w[e];
    }
    for (size_t k = 0; k < nk; k++) {
        x->next[k] += back * x->seed[k];
        diff += fabs(x->next[k] - x->pi[k]);
    }
    double *t = x->pi;
    x->pi = x->next;
    x->next = t;
    return diff;
}

static int propagate(rep_ctx *x, hearth_rep_result *res)
{
    x->pi = malloc(x->nkeys * sizeof *x->pi);
    x->next = malloc(x->nkeys * sizeof *x->next);
    if (!x->pi || !x->next)
        return HEARTH_ENOMEM;
    memcpy(x->pi, x->seed, x->nkeys * sizeof *x->pi);
    res->converged = 0;
    for (res->iterations = 0; res->iterations < x->pa->max_iter;) {
        double diff = step(x);
        res->iterations++;
        if (diff <= x->pa->tolerance) {
            res->converged = 1;
            break;
        }
    }
    return HEARTH_OK;
}

/* ---- 4. scores ---- */

/* The customer's standing for rating p, without the share p itself gave it
 * in the last step: otherwise a provider could pay itself through fresh
 * keys and have them vouch for it with the standing it lent them. */
static double rater_weight(const rep_ctx *x, const rep_pair *q)
{
    double from_p = 0;
    if (x->outw[q->p] > 0)
        from_p = x->pa->damping * x->pi[q->p] * q->volume / x->outw[q->p];
    double s = x->pi[q->c] - from_p;
    if (!(s > 0))
        return 0;
    s /= x->pa->full_standing;
    return s < 1 ? s : 1;
}

static void rate_pairs(const rep_ctx *x, hearth_rep_score *sc)
{
    double beta = x->pa->dispute_weight;
    for (size_t i = 0; i < x->npairs; i++) {
        const rep_pair *q = &x->pairs[i];
        hearth_rep_explain *e = &sc[x->slot[q->p]].why;
        if (q->c == x->local) {
            e->own_good += q->good;
            e->own_bad += beta * q->bad;
            continue;
        }
        double w = rater_weight(x, q);
        e->raters++;
        e->weighted_raters += w > 0;
        e->capped_raters += w >= 1;
        e->good += w * q->good;
        e->bad += beta * w * q->bad;
    }
}

static float clamp01(double v)
{
    if (!(v >= 0))  /* NaN too: never hand the selector garbage */
        return 0;
    return v > 1 ? 1.0f : (float)v;
}

/* Beta-style shrinkage toward 0.5 for the network's view, then the local
 * peer's own ratio blended on top with a share that grows with its own
 * evidence up to self_max. */
static void finish(const rep_ctx *x, hearth_rep_score *s)
{
    const hearth_rep_params *pa = x->pa;
    hearth_rep_explain *e = &s->why;
    double k = pa->prior_strength, ev = e->good + e->bad;
    e->network_score = (e->good + k / 2) / (ev + k);
    e->network_conf = ev / (ev + k);
    double own = e->own_good + e->own_bad, own_conf = 0, ratio = 0.5;
    if (own > 0) {
        own_conf = own / (own + pa->self_strength);
        ratio = e->own_good / own;
    }
    e->own_share = pa->self_max * own_conf;
    e->standing = x->pi[key_id(x, s->provider)];
    s->score = clamp01(e->own_share * ratio +
                       (1 - e->own_share) * e->network_score);
    s->confidence = clamp01(1 - (1 - own_conf) * (1 - e->network_conf));
}

static int make_slots(rep_ctx *x, const hearth_rep_receipt *r, size_t n,
                      hearth_rep_result *res)
{
    x->slot = malloc(x->nkeys * sizeof *x->slot);
    if (!x->slot)
        return HEARTH_ENOMEM;
    for (size_t k = 0; k < x->nkeys; k++)
        x->slot[k] = NO_SLOT;
    for (size_t i = 0; i < n; i++)
        x->slot[key_id(x, r[i].provider)] = 0;
    size_t m = 0;
    for (size_t k = 0; k < x->nkeys; k++)
        if (x->slot[k] != NO_SLOT)
            x->slot[k] = (uint32_t)m++;
    res->scores = calloc(m ? m : 1, sizeof *res->scores);
    if (!res->scores)
        return HEARTH_ENOMEM;
    res->n = m;
    for (size_t k = 0; k < x->nkeys; k++)
        if (x->slot[k] != NO_SLOT)
            memcpy(res->scores[x->slot[k]].provider, x->keys[k].k, 32);
    return HEARTH_OK;
}

static int check_args(const uint8_t *local, const hearth_rep_receipt *r,
                      size_t n, const hearth_rep_prior *pr, size_t np,
                      const hearth_rep_params *pa, hearth_rep_result *out)
{
    if (!local || !out || (n && !r) || (np && !pr) || !params_ok(pa))
        return HEARTH_EINVAL;
    if (n > HEARTH_REP_MAX_RECEIPTS || np > HEARTH_REP_MAX_RECEIPTS)
        return HEARTH_ETOOBIG;
    for (size_t i = 0; i < np; i++)
        if (!isfinite(pr[i].weight) || pr[i].weight < 0)
            return HEARTH_EINVAL;
    return HEARTH_OK;
}

static int run(rep_ctx *x, const uint8_t local[32],
               const hearth_rep_receipt *r, size_t n,
               const hearth_rep_prior *pr, size_t np, hearth_rep_result *res)
{
    int rc = build_keys(x, local, r, n, pr, np);
    if (rc == HEARTH_OK)
        rc = make_slots(x, r, n, res);
    if (rc != HEARTH_OK)
        return rc;
    rep_rec *rec = malloc((n ? n : 1) * sizeof *rec);
    if (!rec)
        return HEARTH_ENOMEM;
    size_t m = collect(x, r, n, rec, res->scores);
    qsort(rec, m, sizeof *rec, rec_cmp);
    rc = fold_pairs(x, rec, m, res->scores);
    free(rec);
    if (rc == HEARTH_OK)
        rc = build_graph(x);
    if (rc == HEARTH_OK)
        rc = build_seed(x, pr, np);
    if (rc == HEARTH_OK)
        rc = propagate(x, res);
    if (rc != HEARTH_OK)
        return rc;
    rate_pairs(x, res->scores);
    for (size_t i = 0; i < res->n; i++)
        finish(x, &res->scores[i]);
    return HEARTH_OK;
}

int hearth_rep_compute(const uint8_t local[32],
                       const hearth_rep_receipt *receipts, size_t n,
                       const hearth_rep_prior *priors, size_t np,
                       const hearth_rep_params *params,
                       hearth_rep_result *out)
{
    hearth_rep_params def;
    if (!params) {
        hearth_rep_params_default(&def);
        params = &def;
    }
    int rc = check_args(local, receipts, n, priors, np, params, out);
    if (rc != HEARTH_OK)
        return rc;
    memset(out, 0, sizeof *out);
    rep_ctx x = { .pa = params };
    rc = run(&x, local, receipts, n, priors, np, out);
    ctx_free(&x);
    if (rc != HEARTH_OK)
        hearth_rep_result_free(out);
    return rc;
}

void hearth_rep_result_free(hearth_rep_result *r)
{
    if (!r)
        return;
    free(r->scores);
    r->scores = NULL;
    r->n = 0;
}

const hearth_rep_score *hearth_rep_find(const hearth_rep_result *r,
                                        const uint8_t provider[32])
{
    if (!r || !provider || !r->scores)
        return NULL;
    /* provider is the first member, so the key compare works on scores */
    return bsearch(provider, r->scores, r->n, sizeof *r->scores, key_cmp);
}

int hearth_rep_explain_str(const hearth_rep_score *s, char *buf, size_t len)
{
    const hearth_rep_explain *e = &s->why;
    return snprintf(buf, len,
        "score %.3f conf %.3f = own %.2f x (%.2f good, %.2f bad) + "
        "network %.3f (good %.2f, bad %.2f from %u/%u weighted raters, "
        "%u capped); %u jobs, %u receipts (%u unbacked, %u duplicate, "
        "%u self) ignored where noted",
        s->score, s->confidence, e->own_share, e->own_good, e->own_bad,
        e->network_score, e->good, e->bad, e->weighted_raters, e->raters,
        e->capped_raters, e->jobs, e->receipts, e->unbacked, e->duplicates,
        e->self_dealt);
}

int hearth_rep_fill_view(hearth_view *v, const hearth_rep_result *r)
{
    if (!v || !r)
        return HEARTH_EINVAL;
    for (size_t i = 0; i < r->n; i++) {
        int rc = hearth_view_set_reputation(v, r->scores[i].provider,
                                            r->scores[i].score);
        if (rc != HEARTH_OK)
            return rc;
    }
    return HEARTH_OK;
}
