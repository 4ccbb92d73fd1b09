/* SHA-256 (FIPS 180-4) compression and midstate helpers, header-only so
 * that the NIP-13 miner in libhearth and the CUDA kernel in
 * libhearth-cuda.so run the very same code. Everything here is C that nvcc
 * also compiles as C++ for the device: no tables in memory (the round
 * constants are immediates), no variable-length arrays, no library calls.
 *
 * Ids are hashed everywhere else with libsodium (hearth_sha256); this core
 * exists for mining, where the point is to hash a fixed prefix once
 * (the midstate) and per try only the last block(s) that hold the nonce. */
#ifndef HEARTH_SHA256_CORE_H
#define HEARTH_SHA256_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define HEARTH_HD __host__ __device__
#else
#define HEARTH_HD
#endif

static inline HEARTH_HD uint32_t hearth_sha256_rotr(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static inline HEARTH_HD uint32_t hearth_sha256_S0(uint32_t x)
{
    return hearth_sha256_rotr(x, 2) ^ hearth_sha256_rotr(x, 13) ^
           hearth_sha256_rotr(x, 22);
}

static inline HEARTH_HD uint32_t hearth_sha256_S1(uint32_t x)
{
    return hearth_sha256_rotr(x, 6) ^ hearth_sha256_rotr(x, 11) ^
           hearth_sha256_rotr(x, 25);
}

static inline HEARTH_HD uint32_t hearth_sha256_s0(uint32_t x)
{
    return hearth_sha256_rotr(x, 7) ^ hearth_sha256_rotr(x, 18) ^ (x >> 3);
}

static inline HEARTH_HD uint32_t hearth_sha256_s1(uint32_t x)
{
    return hearth_sha256_rotr(x, 17) ^ hearth_sha256_rotr(x, 19) ^ (x >> 10);
}

static inline HEARTH_HD void hearth_sha256_init(uint32_t h[8])
{
    h[0] = 0x6a09e667u;
    h[1] = 0xbb67ae85u;
    h[2] = 0x3c6ef372u;
    h[3] = 0xa54ff53au;
    h[4] = 0x510e527fu;
    h[5] = 0x9b05688cu;
    h[6] = 0x1f83d9abu;
    h[7] = 0x5be0cd19u;
}

/* The message schedule lives in a 16-word window: W[t] replaces W[t-16] in
 * place. With i a constant the compiler resolves every index, so on the
 * GPU the window stays in registers. */
#define HEARTH_SHA256_W(i)                                                 \
    ((i) < 16 ? w[(i) & 15]                                                \
              : (w[(i) & 15] += hearth_sha256_s1(w[((i) - 2) & 15]) +      \
                                w[((i) - 7) & 15] +                        \
                                hearth_sha256_s0(w[((i) - 15) & 15])))

/* One round. Instead of shifting eight variables each round, the caller
 * rotates the argument order, so only d and h are written. */
#define HEARTH_SHA256_R(a, b, c, d, e, f, g, h, i, k)                      \
    do {                                                                   \
        uint32_t t_ = h + hearth_sha256_S1(e) + ((e & f) ^ (~e & g)) +     \
                      (k) + HEARTH_SHA256_W(i);                            \
        d += t_;                                                           \
        h = t_ + hearth_sha256_S0(a) + ((a & b) ^ (a & c) ^ (b & c));      \
    } while (0)

/* Eight rounds bring the argument order back to where it started. */
#define HEARTH_SHA256_R8(i, k0, k1, k2, k3, k4, k5, k6, k7)                \
    do {                                                                   \
        HEARTH_SHA256_R(a, b, c, d, e, f, g, h, (i) + 0, k0);              \
        HEARTH_SHA256_R(h, a, b, c, d, e, f, g, (i) + 1, k1);              \
        HEARTH_SHA256_R(g, h, a, b, c, d, e, f, (i) + 2, k2);              \
        HEARTH_SHA256_R(f, g, h, a, b, c, d, e, (i) + 3, k3);              \
        HEARTH_SHA256_R(e, f, g, h, a, b, c, d, (i) + 4, k4);              \
        HEARTH_SHA256_R(d, e, f, g, h, a, b, c, (i) + 5, k5);              \
        HEARTH_SHA256_R(c, d, e, f, g, h, a, b, (i) + 6, k6);              \
        HEARTH_SHA256_R(b, c, d, e, f, g, h, a, (i) + 7, k7);              \
    } while (0)

/* Compress one block given as 16 big-endian words. w is overwritten (it
 * becomes the message schedule). */
static inline HEARTH_HD void hearth_sha256_compress_words(uint32_t s[8],
                                                          uint32_t w[16])
{
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3];
    uint32_t e = s[4], f = s[5], g = s[6], h = s[7];

    HEARTH_SHA256_R8(0, 0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u,
                     0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u);
    HEARTH_SHA256_R8(8, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u,
                     0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u);
    HEARTH_SHA256_R8(16, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu,
                     0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau);
    HEARTH_SHA256_R8(24, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
                     0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u);
    HEARTH_SHA256_R8(32, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u,
                     0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u);
    HEARTH_SHA256_R8(40, 0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u,
                     0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u);
    HEARTH_SHA256_R8(48, 0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u,
                     0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u);
    HEARTH_SHA256_R8(56, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
                     0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u);

    s[0] += a;
    s[1] += b;
    s[2] += c;
    s[3] += d;
    s[4] += e;
    s[5] += f;
    s[6] += g;
    s[7] += h;
}


/* Mining reuses the rounds that come before the nonce digits in a block:
 * those depend only on words that stay the same over many tries. The two
 * helpers below split a compression at round r (r <= 16) with the same
 * unrolled rounds as above; each round before/after r is skipped by a
 * test on a value that is the same for every try, so the branch costs
 * next to nothing on a CPU and does not diverge on a GPU. */
#define HEARTH_SHA256_RG8(i, cond, k0, k1, k2, k3, k4, k5, k6, k7)         \
    do {                                                                   \
        if ((i) + 0 cond) HEARTH_SHA256_R(a, b, c, d, e, f, g, h, (i) + 0, k0); \
        if ((i) + 1 cond) HEARTH_SHA256_R(h, a, b, c, d, e, f, g, (i) + 1, k1); \
        if ((i) + 2 cond) HEARTH_SHA256_R(g, h, a, b, c, d, e, f, (i) + 2, k2); \
        if ((i) + 3 cond) HEARTH_SHA256_R(f, g, h, a, b, c, d, e, (i) + 3, k3); \
        if ((i) + 4 cond) HEARTH_SHA256_R(e, f, g, h, a, b, c, d, (i) + 4, k4); \
        if ((i) + 5 cond) HEARTH_SHA256_R(d, e, f, g, h, a, b, c, (i) + 5, k5); \
        if ((i) + 6 cond) HEARTH_SHA256_R(c, d, e, f, g, h, a, b, (i) + 6, k6); \
        if ((i) + 7 cond) HEARTH_SHA256_R(b, c, d, e, f, g, h, a, (i) + 7, k7); \
    } while (0)

/* Rounds 0..r-1 (r <= 16) of the block w from chaining state s; st gets
 * the working variables a..h after them, in that order. */
static inline HEARTH_HD void hearth_sha256_rounds_head(const uint32_t s[8],
                                                       const uint32_t win[16],
                                                       unsigned r,
                                                       uint32_t st[8])
{
    uint32_t w[16];
    for (int j = 0; j < 16; j++)
        w[j] = win[j];
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3];
    uint32_t e = s[4], f = s[5], g = s[6], h = s[7];
    HEARTH_SHA256_RG8(0, < r, 0x428a2f98u, 0x71374491u, 0xb5c0fbcfu,
                      0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
                      0xab1c5ed5u);
    HEARTH_SHA256_RG8(8, < r, 0xd807aa98u, 0x12835b01u, 0x243185beu,
                      0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u,
                      0xc19bf174u);
    /* after r rounds the variable named m above plays role (m + r) % 8 */
    uint32_t v[8] = {a, b, c, d, e, f, g, h};
    for (unsigned m = 0; m < 8; m++)
        st[(m + r) & 7] = v[m];
}

/* The rest of a compression whose first r rounds (r <= 16) were done by
 * hearth_sha256_rounds_head: st are the working variables after them, w
 * the whole block (overwritten, as in hearth_sha256_compress_words), s the
 * chaining state before the block, updated in place. */
static inline HEARTH_HD void hearth_sha256_compress_from(uint32_t s[8],
                                                         const uint32_t st[8],
                                                         unsigned r,
                                                         uint32_t w[16])
{
    /* the variable named m must hold role (m + r) % 8 at round r */
    uint32_t a = st[r & 7], b = st[(r + 1) & 7], c = st[(r + 2) & 7],
             d = st[(r + 3) & 7], e = st[(r + 4) & 7], f = st[(r + 5) & 7],
             g = st[(r + 6) & 7], h = st[(r + 7) & 7];
    HEARTH_SHA256_RG8(0, >= r, 0x428a2f98u, 0x71374491u, 0xb5c0fbcfu,
                      0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
                      0xab1c5ed5u);
    HEARTH_SHA256_RG8(8, >= r, 0xd807aa98u, 0x12835b01u, 0x243185beu,
                      0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u,
                      0xc19bf174u);
    HEARTH_SHA256_R8(16, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu,
                     0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau);
    HEARTH_SHA256_R8(24, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
                     0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u);
    HEARTH_SHA256_R8(32, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u,
                     0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u);
    HEARTH_SHA256_R8(40, 0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u,
                     0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u);
    HEARTH_SHA256_R8(48, 0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u,
                     0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u);
    HEARTH_SHA256_R8(56, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
                     0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u);
    s[0] += a;
    s[1] += b;
    s[2] += c;
    s[3] += d;
    s[4] += e;
    s[5] += f;
    s[6] += g;
    s[7] += h;
}

#undef HEARTH_SHA256_RG8
#undef HEARTH_SHA256_R8
#undef HEARTH_SHA256_R
#undef HEARTH_SHA256_W

static inline HEARTH_HD void hearth_sha256_compress(uint32_t s[8],
                                                    const uint8_t block[64])
{
    uint32_t w[16];
    for (int j = 0; j < 16; j++)
        w[j] = (uint32_t)block[4 * j] << 24 |
               (uint32_t)block[4 * j + 1] << 16 |
               (uint32_t)block[4 * j + 2] << 8 | (uint32_t)block[4 * j + 3];
    hearth_sha256_compress_words(s, w);
}

/* State after the first nblocks whole 64-byte blocks of p: the midstate. */
static inline HEARTH_HD void hearth_sha256_midstate(uint32_t s[8],
                                                    const uint8_t *p,
                                                    size_t nblocks)
{
    hearth_sha256_init(s);
    for (size_t i = 0; i < nblocks; i++)
        hearth_sha256_compress(s, p + 64 * i);
}

/* Finish a hash from a midstate: mid is the state after prefix_len bytes
 * (a multiple of 64), tail is the rest of the message. The patch_len bytes
 * at patch instead of tail[patch_off...] are hashed (patch_len may be 0):
 * miners keep one read-only tail and overlay each nonce, so threads can
 * share it. out receives the final state (see hearth_sha256_digest). */
static inline HEARTH_HD void hearth_sha256_finish(
    const uint32_t mid[8], uint64_t prefix_len, const uint8_t *tail,
    size_t tail_len, size_t patch_off, const uint8_t *patch,
    size_t patch_len, uint32_t out[8])
{
    uint64_t bits = (prefix_len + tail_len) * 8;
    /* tail, then 0x80, zeros and the 8-byte length, in whole blocks */
    size_t padded = (tail_len + 9 + 63) & ~(size_t)63;

    for (int i = 0; i < 8; i++)
        out[i] = mid[i];
    for (size_t b = 0; b < padded; b += 64) {
        if (b + 64 <= tail_len &&
            (b + 64 <= patch_off || b >= patch_off + patch_len)) {
            hearth_sha256_compress(out, tail + b); /* plain message bytes */
            continue;
        }
        uint32_t w[16];
        for (int j = 0; j < 16; j++) {
            uint32_t x = 0;
            for (int k = 0; k < 4; k++) {
                size_t pos = b + 4 * (size_t)j + (size_t)k;
                uint32_t c;
                if (pos < tail_len)
                    /* unsigned wrap makes pos < patch_off fail the test */
                    c = pos - patch_off < patch_len ? patch[pos - patch_off]
                                                    : tail[pos];
                else if (pos == tail_len)
                    c = 0x80;
                else if (pos >= padded - 8)
                    c = (uint32_t)(bits >> (8 * (padded - 1 - pos))) & 0xff;
                else
                    c = 0;
                x = x << 8 | c;
            }
            w[j] = x;
        }
        hearth_sha256_compress_words(out, w);
    }
}

/* The 32-byte digest (big-endian words) of a final state. */
static inline HEARTH_HD void hearth_sha256_digest(const uint32_t s[8],
                                                  uint8_t out[32])
{
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s[i] >> 8);
        out[4 * i + 3] = (uint8_t)s[i];
    }
}

static inline HEARTH_HD void hearth_sha256_oneshot(const uint8_t *p, size_t n,
                                                   uint8_t out[32])
{
    uint32_t s[8];
    hearth_sha256_init(s);
    hearth_sha256_finish(s, 0, p, n, 0, 0, 0, s);
    hearth_sha256_digest(s, out);
}

/* Leading zero bits of the digest of a final state (NIP-13 difficulty):
 * the digest is the words in order, most significant bit first. */
static inline HEARTH_HD int hearth_sha256_zero_bits(const uint32_t s[8])
{
    int n = 0;
    for (int i = 0; i < 8; i++) {
        uint32_t x = s[i];
        if (x == 0) {
            n += 32;
            continue;
        }
        while (!(x & 0x80000000u)) {
            x <<= 1;
            n++;
        }
        break;
    }
    return n;
}

/* Proof-of-work helpers shared by the CPU and CUDA miners. */

#define HEARTH_POW_MAX_WIDTH 19 /* decimal digits; 10^19 < 2^64 */

/* n as exactly width decimal digits, zero-padded; width <= 19 and
 * n < 10^width are the caller's to ensure. */
static inline HEARTH_HD void hearth_pow_decimal(uint64_t n, unsigned width,
                                                uint8_t *out)
{
    for (unsigned i = width; i-- > 0;) {
        out[i] = (uint8_t)('0' + n % 10);
        n /= 10;
    }
}

/* One mining try: hash the message whose tail has the nonce, as width
 * decimal digits, at nonce_off. Returns the leading zero bits; out gets the
 * final state. */
static inline HEARTH_HD int hearth_pow_try(const uint32_t mid[8],
                                           uint64_t prefix_len,
                                           const uint8_t *tail,
                                           size_t tail_len, size_t nonce_off,
                                           unsigned width, uint64_t nonce,
                                           uint32_t out[8])
{
    uint8_t digits[HEARTH_POW_MAX_WIDTH];
    hearth_pow_decimal(nonce, width, digits);
    hearth_sha256_finish(mid, prefix_len, tail, tail_len, nonce_off, digits,
                         width, out);
    return hearth_sha256_zero_bits(out);
}


/* Words of the 64-byte block at offset b of a padded message tail, as
 * hearth_sha256_finish builds them: tail bytes with patch_len bytes of
 * patch overlaid at patch_off, then 0x80, zeros and the bit length
 * total_bits; padded is the tail's padded length (a multiple of 64). */
static inline HEARTH_HD void hearth_pow_block_words(
    const uint8_t *tail, size_t tail_len, uint64_t total_bits, size_t padded,
    size_t b, size_t patch_off, const uint8_t *patch, size_t patch_len,
    uint32_t w[16])
{
    for (int j = 0; j < 16; j++) {
        uint32_t x = 0;
        for (int k = 0; k < 4; k++) {
            size_t pos = b + 4 * (size_t)j + (size_t)k;
            uint32_t c;
            if (pos < tail_len)
                c = pos - patch_off < patch_len ? patch[pos - patch_off]
                                                : tail[pos];
            else if (pos == tail_len)
                c = 0x80;
            else if (pos >= padded - 8)
                c = (uint32_t)(total_bits >> (8 * (padded - 1 - pos))) & 0xff;
            else
                c = 0;
            x = x << 8 | c;
        }
        w[j] = x;
    }
}

/* Overwrite n bytes of the block words w from byte offset off (bytes at
 * 64 and beyond belong to the next block and are left out). */
static inline HEARTH_HD void hearth_pow_put_bytes(uint32_t w[16], size_t off,
                                                  const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n && off + i < 64; i++) {
        size_t pos = off + i;
        unsigned sh = 8 * (3 - (unsigned)(pos & 3));
        w[pos >> 2] = (w[pos >> 2] & ~(0xffu << sh)) | (uint32_t)p[i] << sh;
    }
}

/* Scan nonces first .. first+count-1 (all below 10^width) of a mining tail
 * for one reaching target bits; 1 and *nonce if one does (the smallest in
 * the range), else 0. *tries (may be NULL) gets the hashes computed.
 *
 * Nonces that share all but their last `low` digits (1..4, <= width) form
 * a group: per group the blocks before the one holding those digits and
 * the rounds of that block before their first word are done once, per try
 * only the rest. When the low digits sit in the final block, as
 * hearth_pow_job_init arranges, a try is one partial compression; any
 * later block costs a full one per try. This is the scalar CPU miner and
 * the per-thread loop of the CUDA kernel. */
static inline HEARTH_HD int hearth_pow_scan(
    const uint32_t mid[8], uint64_t prefix_len, const uint8_t *tail,
    size_t tail_len, size_t nonce_off, unsigned width, unsigned low,
    int target, uint64_t first, uint64_t count, uint64_t *nonce,
    uint64_t *tries)
{
    uint64_t bits = (prefix_len + tail_len) * 8;
    size_t padded = (tail_len + 9 + 63) & ~(size_t)63;
    size_t q = nonce_off + width - low;        /* first low digit */
    size_t vb = q & ~(size_t)63;               /* its block */
    unsigned r = (unsigned)((q - vb) >> 2);    /* rounds before its word */
    uint64_t group = 1;
    for (unsigned i = 0; i < low; i++)
        group *= 10;
    uint8_t digits[HEARTH_POW_MAX_WIDTH];
    uint64_t n = first, end = first + count, done = 0;
    int hit = 0;
    while (n < end && !hit) {
        uint32_t s[8], w[16], st[8];
        hearth_pow_decimal(n, width, digits);
        for (int i = 0; i < 8; i++)
            s[i] = mid[i];
        for (size_t b = 0; b < vb; b += 64) {
            hearth_pow_block_words(tail, tail_len, bits, padded, b, nonce_off,
                                   digits, width, w);
            hearth_sha256_compress_words(s, w);
        }
        hearth_pow_block_words(tail, tail_len, bits, padded, vb, nonce_off,
                               digits, width, w);
        hearth_sha256_rounds_head(s, w, r, st);
        uint64_t gend = (n / group + 1) * group;
        if (gend > end)
            gend = end;
        for (; n < gend; n++) {
            uint32_t x[8], wt[16];
            hearth_pow_decimal(n % group, low, digits + width - low);
            for (int i = 0; i < 8; i++)
                x[i] = s[i];
            for (int j = 0; j < 16; j++)
                wt[j] = w[j];
            hearth_pow_put_bytes(wt, q - vb, digits + width - low, low);
            hearth_sha256_compress_from(x, st, r, wt);
            for (size_t b = vb + 64; b < padded; b += 64) {
                hearth_pow_block_words(tail, tail_len, bits, padded, b,
                                       nonce_off, digits, width, wt);
                hearth_sha256_compress_words(x, wt);
            }
            done++;
            if (hearth_sha256_zero_bits(x) >= target) {
                *nonce = n;
                hit = 1;
                break;
            }
        }
    }
    if (tries)
        *tries = done;
    return hit;
}

#endif
