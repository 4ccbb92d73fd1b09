/* Small deterministic PRNGs for selection and the simulator: randomness
 * always comes from a seed the caller passed, never from global state, so
 * a choice or a whole simulated run can be replayed exactly. */
#ifndef HEARTH_MARKET_RNG_H
#define HEARTH_MARKET_RNG_H

#include <stdint.h>

/* splitmix64: one well-mixed output per call; also turns any seed
 * (0, 1, 2, ... included) into a good xoshiro state. */
static inline uint64_t hearth_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* xoshiro256**: fast, 2^256 period, passes BigCrush; for the simulator's
 * long streams. */
typedef struct hearth_rng {
    uint64_t s[4];
} hearth_rng;

static inline void hearth_rng_seed(hearth_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = hearth_splitmix64(&seed);
}

static inline uint64_t hearth_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t hearth_rng_next(hearth_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = hearth_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = hearth_rng_rotl(s[3], 45);
    return out;
}

/* uniform in [0, 1) with 53 random bits */
static inline double hearth_rng_unit(uint64_t x)
{
    return (double)(x >> 11) * 0x1p-53;
}

/* uniform in [0, n) without modulo bias worth caring about at n < 2^32
 * (multiply-high; n up to 2^32 keeps the bias below 2^-32) */
static inline uint64_t hearth_rng_below(uint64_t x, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)x * n) >> 64);
}

#endif
