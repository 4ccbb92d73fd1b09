/* The market view, reading side: snapshots for the selector, single
 * offers, observations of providers, sizes. */
#include "view_internal.h"

#include "hearth/error.h"

#include <stdlib.h>
#include <string.h>

#define BACKOFF_FIRST_S 30
#define BACKOFF_MAX_S 3600

int64_t hearth_view_backoff(uint32_t failures)
{
    if (failures == 0)
        return 0;
    if (failures > 7) /* 30 << 7 is past the cap already */
        return BACKOFF_MAX_S;
    int64_t s = (int64_t)BACKOFF_FIRST_S << (failures - 1);
    return s < BACKOFF_MAX_S ? s : BACKOFF_MAX_S;
}

/* ---- snapshot ---- */

struct snap {
    hearth_peer *peers;
    hearth_peer_obs *obs;
    hearth_offer *offers;
    size_t n, cap;
};

static int grow(struct snap *s, size_t hint, int want_obs, int want_offers)
{
    size_t cap = s->cap ? 2 * s->cap : hint > 64 ? hint : 64;
    hearth_peer *p = realloc(s->peers, cap * sizeof *p);
    if (!p)
        return HEARTH_ENOMEM;
    s->peers = p;
    if (want_obs) {
        hearth_peer_obs *o = realloc(s->obs, cap * sizeof *o);
        if (!o)
            return HEARTH_ENOMEM;
        s->obs = o;
    }
    if (want_offers) {
        hearth_offer *o = realloc(s->offers, cap * sizeof *o);
        if (!o)
            return HEARTH_ENOMEM;
        s->offers = o;
    }
    s->cap = cap;
    return HEARTH_OK;
}

static void obs_of(hearth_view *v, MDB_txn *txn, const uint8_t *pk,
                   hearth_peer_obs *out)
{
    MDB_val k = {32, (void *)pk}, val;
    if (mdb_get(txn, v->dbi[VDB_OBS], &k, &val) != MDB_SUCCESS ||
        hearth_vw_obs_decode(val.mv_data, val.mv_size, out))
        hearth_vw_obs_default(out);
}

/* Observations merged in: within one job kind the offers come in pubkey
 * order, and so do the observations, so a cursor that only moves forward
 * (a few steps, else a seek) finds them without a lookup per offer. It
 * seeks back when the next job kind starts over at small pubkeys. */
struct obs_walk {
    MDB_cursor *c;
    MDB_val k, v;
    int rc;              /* MDB_SUCCESS while positioned */
    const uint8_t *last; /* pubkey asked for before, NULL at first */
};

static void obs_next(struct obs_walk *w, const uint8_t *pk,
                     hearth_peer_obs *out)
{
    int steps = 0;
    if (!w->last || memcmp(pk, w->last, 32) < 0) {
        w->k = (MDB_val){32, (void *)pk};
        w->rc = mdb_cursor_get(w->c, &w->k, &w->v, MDB_SET_RANGE);
    }
    while (w->rc == MDB_SUCCESS && w->k.mv_size == 32 &&
           memcmp(w->k.mv_data, pk, 32) < 0) {
        if (++steps > 8) {
            w->k = (MDB_val){32, (void *)pk};
            w->rc = mdb_cursor_get(w->c, &w->k, &w->v, MDB_SET_RANGE);
            break;
        }
        w->rc = mdb_cursor_get(w->c, &w->k, &w->v, MDB_NEXT);
    }
    w->last = pk;
    if (w->rc != MDB_SUCCESS || w->k.mv_size != 32 ||
        memcmp(w->k.mv_data, pk, 32) ||
        hearth_vw_obs_decode(w->v.mv_data, w->v.mv_size, out))
        hearth_vw_obs_default(out);
}

/* Walk the offers of one kind (or all) in key order, keep the unexpired
 * ones. Providers with several backends are adjacent in key order, so
 * their observations are looked up once. */
static int walk(hearth_view *v, MDB_txn *txn, uint32_t job_kind, int64_t now,
                struct snap *s, int want_obs, int want_offers)
{
    MDB_cursor *c;
    struct obs_walk ow = {0};
    MDB_val k, val;
    uint8_t start[2];
    int err = HEARTH_OK;
    hearth_offer *scratch = want_offers ? NULL : malloc(sizeof *scratch);
    if (!want_offers && !scratch)
        return HEARTH_ENOMEM;
    int rc = mdb_cursor_open(txn, v->dbi[VDB_OFFERS], &c);
    if (!rc && want_obs &&
        (rc = mdb_cursor_open(txn, v->dbi[VDB_OBS], &ow.c)))
        mdb_cursor_close(c);
    if (rc) {
        free(scratch);
        return hearth_vw_err(rc);
    }
    /* all kinds: the entry count is the size, so nothing is copied twice */
    MDB_stat st;
    size_t hint = !job_kind && !mdb_stat(txn, v->dbi[VDB_OFFERS], &st)
                      ? st.ms_entries : 0;
    v_put_be16(start, job_kind);
    k = (MDB_val){2, start};
    rc = mdb_cursor_get(c, &k, &val, job_kind ? MDB_SET_RANGE : MDB_FIRST);
    for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
        const uint8_t *key = k.mv_data;
        if (k.mv_size != OKEY_LEN)
            continue;
        if (job_kind && memcmp(key, start, 2) != 0)
            break;
        if (val.mv_size < REC_HEAD || rec_expires_at(val.mv_data) <= now)
            continue;
        if (s->n == s->cap && (err = grow(s, hint, want_obs, want_offers)))
            break;
        hearth_offer *o = want_offers ? &s->offers[s->n] : scratch;
        if (want_offers)
            memset(o, 0, sizeof *o);
        if (hearth_vw_rec_decode(key, val.mv_data, val.mv_size, o))
            continue; /* a damaged record hides one offer, not the view */
        hearth_peer_from_offer(o, &s->peers[s->n]);
        if (want_obs) {
            if (s->n && !memcmp(s->peers[s->n - 1].pubkey, key + 2, 32))
                s->obs[s->n] = s->obs[s->n - 1];
            else
                obs_next(&ow, key + 2, &s->obs[s->n]);
        }
        s->n++;
    }
    mdb_cursor_close(c);
    if (ow.c)
        mdb_cursor_close(ow.c);
    free(scratch);
    if (err)
        return err;
    return rc == MDB_NOTFOUND ? HEARTH_OK : hearth_vw_err(rc);
}

int hearth_view_snapshot(hearth_view *v, uint32_t job_kind, int64_t now,
                         hearth_peer **peers, hearth_peer_obs **obs,
                         hearth_offer **offers, size_t *n)
{
    struct snap s = {0};
    MDB_txn *txn;
    *peers = NULL;
    if (obs)
        *obs = NULL;
    if (offers)
        *offers = NULL;
    *n = 0;
    int rc = mdb_txn_begin(v->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return hearth_vw_err(rc);
    rc = walk(v, txn, job_kind, now, &s, obs != NULL, offers != NULL);
    mdb_txn_abort(txn);
    if (rc || s.n == 0) {
        free(s.peers);
        free(s.obs);
        free(s.offers);
        return rc;
    }
    *peers = s.peers;
    if (obs)
        *obs = s.obs;
    if (offers)
        *offers = s.offers;
    *n = s.n;
    return HEARTH_OK;
}

int hearth_view_get_offer(hearth_view *v, uint32_t job_kind,
                          const uint8_t pubkey[32], hearth_backend backend,
                          hearth_offer *out)
{
    MDB_txn *txn;
    uint8_t key[OKEY_LEN];
    v_okey(key, job_kind, pubkey, backend);
    MDB_val k = {OKEY_LEN, key}, val;
    int rc = mdb_txn_begin(v->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return hearth_vw_err(rc);
    rc = mdb_get(txn, v->dbi[VDB_OFFERS], &k, &val);
    if (rc == MDB_SUCCESS) {
        memset(out, 0, sizeof *out);
        rc = hearth_vw_rec_decode(key, val.mv_data, val.mv_size, out);
    } else {
        rc = hearth_vw_err(rc);
    }
    mdb_txn_abort(txn);
    return rc;
}

/* ---- observations ---- */

typedef void (*obs_update)(hearth_peer_obs *o, const void *arg);

/* read, change, write one provider's record in its own transaction */
static int obs_modify(hearth_view *v, const uint8_t pk[32], obs_update fn,
                      const void *arg)
{
    MDB_txn *txn;
    hearth_peer_obs o;
    uint8_t rec[OBS_LEN];
    int rc = mdb_txn_begin(v->env, NULL, 0, &txn);
    if (rc)
        return hearth_vw_err(rc);
    obs_of(v, txn, pk, &o);
    fn(&o, arg);
    hearth_vw_obs_encode(&o, rec);
    MDB_val k = {32, (void *)pk}, val = {OBS_LEN, rec};
    rc = mdb_put(txn, v->dbi[VDB_OBS], &k, &val, 0);
    if (rc) {
        mdb_txn_abort(txn);
        return hearth_vw_err(rc);
    }
    return hearth_vw_err(mdb_txn_commit(txn));
}

struct outcome {
    enum hearth_view_outcome what;
    uint32_t rtt_ms;
    int64_t now;
};

static uint32_t inc(uint32_t x)
{
    return x == UINT32_MAX ? x : x + 1;
}

static void apply_outcome(hearth_peer_obs *o, const void *arg)
{
    const struct outcome *oc = arg;
    if (oc->rtt_ms) /* smoothed: one slow answer does not define a peer */
        o->rtt_ms = o->rtt_ms ? (uint32_t)(((uint64_t)o->rtt_ms * 3 +
                                            oc->rtt_ms) / 4)
                              : oc->rtt_ms;
    if (oc->what == HEARTH_OBS_OK) {
        o->jobs_ok = inc(o->jobs_ok);
        o->consecutive_failures = 0;
        o->cooldown_until = 0;
    } else if (oc->what == HEARTH_OBS_FAILED) {
        o->jobs_failed = inc(o->jobs_failed);
        o->consecutive_failures = inc(o->consecutive_failures);
        o->last_failure = oc->now;
        o->cooldown_until = oc->now +
                            hearth_view_backoff(o->consecutive_failures);
    }
}

int hearth_view_observe(hearth_view *v, const uint8_t pubkey[32],
                        enum hearth_view_outcome what, uint32_t rtt_ms,
                        int64_t now)
{
    struct outcome oc = {what, rtt_ms, now};
    if (what != HEARTH_OBS_OK && what != HEARTH_OBS_FAILED &&
        what != HEARTH_OBS_RTT)
        return HEARTH_EINVAL;
    return obs_modify(v, pubkey, apply_outcome, &oc);
}

static void apply_reputation(hearth_peer_obs *o, const void *arg)
{
    o->reputation = *(const float *)arg;
}

int hearth_view_set_reputation(hearth_view *v, const uint8_t pubkey[32],
                               float reputation)
{
    if (!(reputation >= 0.0f && reputation <= 1.0f))
        return HEARTH_EINVAL;
    return obs_modify(v, pubkey, apply_reputation, &reputation);
}

static void apply_hw_check(hearth_peer_obs *o, const void *arg)
{
    const hearth_view_hw_check *c = arg;
    o->hw_verdict = (uint8_t)c->verdict;
    o->hw_checked_at = c->checked_at;
    o->hw_measured_hs = c->measured_hs;
    o->hw_claimed_hs = c->claimed_hs;
}

int hearth_view_set_hw_check(hearth_view *v, const uint8_t pubkey[32],
                             const hearth_view_hw_check *c)
{
    if (c->verdict != HEARTH_HW_UNCHECKED && c->verdict != HEARTH_HW_PASS &&
        c->verdict != HEARTH_HW_FAIL)
        return HEARTH_EINVAL;
    return obs_modify(v, pubkey, apply_hw_check, c);
}

int hearth_view_get_obs(hearth_view *v, const uint8_t pubkey[32],
                        hearth_peer_obs *out)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(v->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return hearth_vw_err(rc);
    obs_of(v, txn, pubkey, out);
    mdb_txn_abort(txn);
    return HEARTH_OK;
}

/* ---- info ---- */

int hearth_view_get_info(hearth_view *v, hearth_view_info *info)
{
    MDB_txn *txn;
    MDB_stat st[VDB_COUNT], env;
    MDB_envinfo ei;
    memset(info, 0, sizeof *info);
    int rc = mdb_txn_begin(v->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return hearth_vw_err(rc);
    for (int i = 0; i < VDB_COUNT && !rc; i++)
        rc = mdb_stat(txn, v->dbi[i], &st[i]);
    mdb_txn_abort(txn);
    if (rc || (rc = mdb_env_info(v->env, &ei)) ||
        (rc = mdb_env_stat(v->env, &env)))
        return hearth_vw_err(rc);
    info->offers = st[VDB_OFFERS].ms_entries;
    info->observed = st[VDB_OBS].ms_entries;
    info->marks = st[VDB_MARKS].ms_entries;
    info->map_size = ei.me_mapsize;
    info->used = ((uint64_t)ei.me_last_pgno + 1) * env.ms_psize;
    info->offer_bytes = (st[VDB_OFFERS].ms_branch_pages +
                         st[VDB_OFFERS].ms_leaf_pages +
                         st[VDB_OFFERS].ms_overflow_pages) *
                        (uint64_t)st[VDB_OFFERS].ms_psize;
    return HEARTH_OK;
}
