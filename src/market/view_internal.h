/* Internal to the market view: the environment, keys, the compact offer
 * record and the in-memory rate limiter (docs/market-view.md). */
#ifndef HEARTH_VIEW_INTERNAL_H
#define HEARTH_VIEW_INTERNAL_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"
#include "hearth/offer.h"
#include "hearth/select.h"
#include "hearth/view.h"

#define VIEW_FORMAT 1u

enum {
    VDB_META,     /* "format" -> be32 */
    VDB_OFFERS,   /* offer key -> record */
    VDB_EXPIRY,   /* be64 expiration, offer key -> "" */
    VDB_MARKS,    /* offer key -> be64 created_at of the deletion */
    VDB_OBS,      /* pubkey -> observation record */
    VDB_COUNT
};

/* be16 job kind, pubkey, backend: the offer's address. The job kind goes
 * first so one kind's offers are one range for the snapshot. */
#define OKEY_LEN 35
#define EKEY_LEN (8 + OKEY_LEN)
/* Observation record: version 1 is 36 bytes without a version byte (rtt,
 * counters, times, reputation). Version 2 appends a version byte (2) and
 * the hardware check: verdict, be64 checked_at, measured and claimed
 * hashes per second. A later version keeps the 37-byte prefix and appends,
 * so an older reader still gets the counters. */
#define OBS_LEN_V1 36
#define OBS_LEN 62
#define OBS_VERSION 2u

/* Per-provider counters of the current minute. Open addressing with a
 * secret SipHash key, so nobody can pick pubkeys that pile into one
 * chain; stale slots go when the table is rebuilt. */
struct rate_slot {
    uint8_t pk[32];
    int64_t start;      /* start of this provider's window */
    uint32_t count;
    uint32_t used;
};

struct rate {
    struct rate_slot *slots;
    size_t cap, n;
    unsigned char key[16];
};

struct hearth_view {
    MDB_env *env;
    MDB_dbi dbi[VDB_COUNT];
    hearth_view_opts opts;
    struct rate rate;   /* only touched inside the write transaction */
};

static inline void v_put_be16(uint8_t *p, uint32_t x)
{
    p[0] = (uint8_t)(x >> 8);
    p[1] = (uint8_t)x;
}

static inline void v_put_be64(uint8_t *p, uint64_t x)
{
    for (int i = 7; i >= 0; i--, x >>= 8)
        p[i] = (uint8_t)x;
}

static inline uint64_t v_get_be64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | p[i];
    return x;
}

static inline void v_okey(uint8_t k[OKEY_LEN], uint32_t job_kind,
                          const uint8_t pk[32], unsigned backend)
{
    v_put_be16(k, job_kind);
    for (int i = 0; i < 32; i++)
        k[2 + i] = pk[i];
    k[34] = (uint8_t)backend;
}

/* ---- records (view_rec.c) ---- */

/* Record: version byte, event id (32), be64 created_at, be64 expiration,
 * then every other field as a varint or a length-prefixed string. The
 * first 49 bytes are fixed so the writer compares versions without
 * decoding. */
#define REC_HEAD 49
#define REC_VERSION 1u

int hearth_vw_rec_encode(const hearth_offer *o, hearth_buf *out);
/* Decode into o (pubkey, job kind and backend come from the key). */
int hearth_vw_rec_decode(const uint8_t *key, const void *p, size_t n,
                         hearth_offer *o);
static inline int64_t rec_created_at(const uint8_t *p)
{
    return (int64_t)v_get_be64(p + 33);
}
static inline int64_t rec_expires_at(const uint8_t *p)
{
    return (int64_t)v_get_be64(p + 41);
}

void hearth_vw_obs_encode(const hearth_peer_obs *o, uint8_t out[OBS_LEN]);
/* Any version: a version 1 record, or one of an unknown later version,
 * reads as "hardware unchecked". HEARTH_EINVAL (defaults in o) when n is
 * too short or the version byte is wrong. */
int hearth_vw_obs_decode(const uint8_t *in, size_t n, hearth_peer_obs *o);
void hearth_vw_obs_default(hearth_peer_obs *o);

/* 1: allowed (and counted), 0: over the limit, HEARTH_ENOMEM */
int hearth_vw_rate_take(struct rate *r, const uint8_t pk[32], int64_t now,
                        uint32_t limit);
void hearth_vw_rate_free(struct rate *r);

/* LMDB return code -> hearth_err */
int hearth_vw_err(int mdb_rc);

#endif
