/* The view's compact offer record, the observation record and the
 * per-provider rate limiter. */
#include "view_internal.h"

#include "hearth/error.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int hearth_vw_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return HEARTH_OK;
    case MDB_NOTFOUND: return HEARTH_ENOTFOUND;
    case ENOMEM: return HEARTH_ENOMEM;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH: return HEARTH_EINVAL;
    }
    if (rc > 0)
        errno = rc;
    return HEARTH_EIO;
}

/* ---- offer record ---- */

/* LEB128: prices and counts are mostly small, so a record is a few
 * hundred bytes instead of the 3 KiB of a hearth_offer */
static void put_var(hearth_buf *b, uint64_t x)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n] = (uint8_t)(x & 0x7f);
        x >>= 7;
        if (x)
            t[n] |= 0x80;
        n++;
    } while (x);
    hearth_buf_add(b, t, n);
}

static void put_str(hearth_buf *b, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    put_var(b, n);
    hearth_buf_add(b, s, n);
}

int hearth_vw_rec_encode(const hearth_offer *o, hearth_buf *b)
{
    uint8_t head[REC_HEAD];
    const hearth_price *p = &o->price;
    const hearth_hw_summary *hw = &o->hw;
    head[0] = REC_VERSION;
    memcpy(head + 1, o->event_id, 32);
    v_put_be64(head + 33, (uint64_t)o->created_at);
    v_put_be64(head + 41, (uint64_t)o->expires_at);
    hearth_buf_add(b, head, sizeof head);
    const uint64_t nums[] = {
        o->version, p->per_job, p->per_mtok_in, p->per_mtok_out,
        p->per_gpu_second, p->per_mhash, hw->gpu_count, hw->vram_mb,
        hw->cc_major, hw->cc_minor, hw->tier, hw->cpu_cores,
        o->bench_mhash_s, o->bench_tokens_s, o->capacity_free,
        o->capacity_total, o->rails, o->credit_limit_msat,
        (uint64_t)o->pow_bits, o->nmodels, o->nrelays
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        put_var(b, nums[i]);
    put_str(b, hw->gpu, HEARTH_OFFER_NAME_MAX - 1);
    for (size_t i = 0; i < o->nmodels; i++)
        put_str(b, o->models[i], HEARTH_OFFER_NAME_MAX - 1);
    for (size_t i = 0; i < o->nrelays; i++)
        put_str(b, o->relays[i], HEARTH_OFFER_URL_MAX - 1);
    return hearth_buf_error(b);
}

struct rd {
    const uint8_t *p, *end;
    int bad;
};

static uint64_t get_var(struct rd *r, uint64_t max)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            break;
        uint8_t c = *r->p++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return x <= max ? x : (r->bad = 1, 0);
    }
    r->bad = 1;
    return 0;
}

static void get_str(struct rd *r, char *out, size_t cap)
{
    size_t n = (size_t)get_var(r, cap - 1);
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        out[0] = '\0';
        return;
    }
    memcpy(out, r->p, n);
    out[n] = '\0';
    r->p += n;
}

int hearth_vw_rec_decode(const uint8_t *key, const void *data, size_t n,
                         hearth_offer *o)
{
    const uint8_t *p = data;
    if (n < REC_HEAD || p[0] != REC_VERSION)
        return HEARTH_EIO;
    struct rd r = {p + REC_HEAD, p + n, 0};
    hearth_price *pr = &o->price;
    hearth_hw_summary *hw = &o->hw;
    o->job_kind = (uint32_t)key[0] << 8 | key[1];
    memcpy(o->pubkey, key + 2, 32);
    o->backend = (hearth_backend)key[34];
    memcpy(o->event_id, p + 1, 32);
    o->created_at = rec_created_at(p);
    o->expires_at = rec_expires_at(p);
    o->version = (uint32_t)get_var(&r, UINT32_MAX);
    pr->per_job = get_var(&r, UINT64_MAX);
    pr->per_mtok_in = get_var(&r, UINT64_MAX);
    pr->per_mtok_out = get_var(&r, UINT64_MAX);
    pr->per_gpu_second = get_var(&r, UINT64_MAX);
    pr->per_mhash = get_var(&r, UINT64_MAX);
    hw->gpu_count = (uint32_t)get_var(&r, UINT32_MAX);
    hw->vram_mb = (uint32_t)get_var(&r, UINT32_MAX);
    hw->cc_major = (uint16_t)get_var(&r, UINT16_MAX);
    hw->cc_minor = (uint16_t)get_var(&r, UINT16_MAX);
    hw->tier = (uint8_t)get_var(&r, 4);
    hw->cpu_cores = (uint16_t)get_var(&r, UINT16_MAX);
    o->bench_mhash_s = get_var(&r, UINT64_MAX);
    o->bench_tokens_s = (uint32_t)get_var(&r, UINT32_MAX);
    o->capacity_free = (uint32_t)get_var(&r, UINT32_MAX);
    o->capacity_total = (uint32_t)get_var(&r, UINT32_MAX);
    o->rails = (unsigned)get_var(&r, UINT32_MAX);
    o->credit_limit_msat = get_var(&r, UINT64_MAX);
    o->pow_bits = (int)get_var(&r, 256);
    o->nmodels = (size_t)get_var(&r, HEARTH_OFFER_MAX_MODELS);
    o->nrelays = (size_t)get_var(&r, HEARTH_OFFER_MAX_RELAYS);
    if (r.bad)
        return HEARTH_EIO;
    get_str(&r, hw->gpu, sizeof hw->gpu);
    for (size_t i = 0; i < o->nmodels; i++)
        get_str(&r, o->models[i], sizeof o->models[i]);
    for (size_t i = 0; i < o->nrelays; i++)
        get_str(&r, o->relays[i], sizeof o->relays[i]);
    return r.bad || r.p != r.end ? HEARTH_EIO : HEARTH_OK;
}

/* ---- observation record: big-endian, versions in view_internal.h ---- */

static void put_be32(uint8_t *p, uint32_t x)
{
    p[0] = (uint8_t)(x >> 24);
    p[1] = (uint8_t)(x >> 16);
    p[2] = (uint8_t)(x >> 8);
    p[3] = (uint8_t)x;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

void hearth_vw_obs_encode(const hearth_peer_obs *o, uint8_t out[OBS_LEN])
{
    uint32_t rep;
    memcpy(&rep, &o->reputation, 4);
    put_be32(out, o->rtt_ms);
    put_be32(out + 4, o->jobs_ok);
    put_be32(out + 8, o->jobs_failed);
    put_be32(out + 12, o->consecutive_failures);
    v_put_be64(out + 16, (uint64_t)o->last_failure);
    v_put_be64(out + 24, (uint64_t)o->cooldown_until);
    put_be32(out + 32, rep);
    out[36] = OBS_VERSION;
    out[37] = o->hw_verdict <= HEARTH_HW_FAIL ? o->hw_verdict : 0;
    v_put_be64(out + 38, (uint64_t)o->hw_checked_at);
    v_put_be64(out + 46, o->hw_measured_hs);
    v_put_be64(out + 54, o->hw_claimed_hs);
}

static void obs_decode_hw(const uint8_t *in, hearth_peer_obs *o)
{
    o->hw_verdict = in[37] <= HEARTH_HW_FAIL ? in[37] : 0;
    o->hw_checked_at = (int64_t)v_get_be64(in + 38);
    o->hw_measured_hs = v_get_be64(in + 46);
    o->hw_claimed_hs = v_get_be64(in + 54);
}

int hearth_vw_obs_decode(const uint8_t *in, size_t n, hearth_peer_obs *o)
{
    if (n < OBS_LEN_V1 || (n > OBS_LEN_V1 && in[36] < OBS_VERSION) ||
        (n > OBS_LEN_V1 && in[36] == OBS_VERSION && n != OBS_LEN)) {
        hearth_vw_obs_default(o);
        return HEARTH_EINVAL;
    }
    uint32_t rep = get_be32(in + 32);
    memset(o, 0, sizeof *o); /* padding too: callers may compare records */
    o->rtt_ms = get_be32(in);
    o->jobs_ok = get_be32(in + 4);
    o->jobs_failed = get_be32(in + 8);
    o->consecutive_failures = get_be32(in + 12);
    o->last_failure = (int64_t)v_get_be64(in + 16);
    o->cooldown_until = (int64_t)v_get_be64(in + 24);
    memcpy(&o->reputation, &rep, 4);
    if (n == OBS_LEN && in[36] == OBS_VERSION)
        obs_decode_hw(in, o);
    return HEARTH_OK;
}

void hearth_vw_obs_default(hearth_peer_obs *o)
{
    memset(o, 0, sizeof *o);
    o->reputation = 0.5f;
}

/* ---- rate limiter ---- */

#define RATE_WINDOW_S 60
#define RATE_MIN_CAP 1024u
/* 2^21 slots of 48 bytes (96 MiB) at most: past a million providers
 * updating within one minute, new ones are refused until slots age */
#define RATE_MAX_CAP (1u << 21)

static size_t rate_hash(const struct rate *r, const uint8_t pk[32])
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, pk, 32, r->key);
    return (size_t)h & (r->cap - 1);
}

static struct rate_slot *rate_find(struct rate *r, const uint8_t pk[32])
{
    size_t i = rate_hash(r, pk);
    while (r->slots[i].used && memcmp(r->slots[i].pk, pk, 32) != 0)
        i = (i + 1) & (r->cap - 1);
    return &r->slots[i];
}

/* Rebuild without the providers whose window is over, at the size that
 * keeps the table at most half full. */
static int rate_rebuild(struct rate *r, int64_t now)
{
    size_t live = 0, cap = RATE_MIN_CAP;
    for (size_t i = 0; i < r->cap; i++)
        live += r->slots[i].used && now - r->slots[i].start < RATE_WINDOW_S;
    while (cap < 4 * (live + 1) && cap < RATE_MAX_CAP)
        cap *= 2;
    struct rate_slot *old = r->slots;
    size_t oldcap = r->cap;
    r->slots = calloc(cap, sizeof *r->slots);
    if (!r->slots) {
        r->slots = old;
        return HEARTH_ENOMEM;
    }
    r->cap = cap;
    r->n = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].used && now - old[i].start < RATE_WINDOW_S) {
            *rate_find(r, old[i].pk) = old[i];
            r->n++;
        }
    free(old);
    return HEARTH_OK;
}

int hearth_vw_rate_take(struct rate *r, const uint8_t pk[32], int64_t now,
                        uint32_t limit)
{
    if (limit == 0)
        return 1;
    if (!r->slots) {
        randombytes_buf(r->key, sizeof r->key);
        if (rate_rebuild(r, now))
            return HEARTH_ENOMEM;
    }
    struct rate_slot *s = rate_find(r, pk);
    if (!s->used) {
        if (2 * (r->n + 1) > r->cap) {
            if (rate_rebuild(r, now))
                return HEARTH_ENOMEM;
            if (2 * (r->n + 1) > r->cap)
                return 0;
            s = rate_find(r, pk);
        }
        memcpy(s->pk, pk, 32);
        s->used = 1;
        s->start = now;
        s->count = 0;
        r->n++;
    }
    if (now - s->start >= RATE_WINDOW_S || now < s->start) {
        s->start = now;
        s->count = 0;
    }
    if (s->count >= limit)
        return 0;
    s->count++;
    return 1;
}

void hearth_vw_rate_free(struct rate *r)
{
    free(r->slots);
    memset(r, 0, sizeof *r);
}
