/* 8 nonces per SHA-256 compression with AVX2: lane i hashes low digits
 * d + i of the batch. Compiled for AVX2 through the function attribute
 * only, so the rest of libhearth stays baseline x86-64 and this runs only
 * where pow_cpu.c found AVX2. */
#include "pow_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define V __m256i
#define ADD(a, b) _mm256_add_epi32(a, b)
#define XOR(a, b) _mm256_xor_si256(a, b)
#define AND(a, b) _mm256_and_si256(a, b)
#define SET1(x) _mm256_set1_epi32((int)(x))
/* no rotate before AVX-512: two shifts and an OR */
#define ROTR(x, n)                                                         \
    _mm256_or_si256(_mm256_srli_epi32(x, n), _mm256_slli_epi32(x, 32 - (n)))
#define BS0(x) XOR(XOR(ROTR(x, 2), ROTR(x, 13)), ROTR(x, 22))
#define BS1(x) XOR(XOR(ROTR(x, 6), ROTR(x, 11)), ROTR(x, 25))
#define SS0(x) XOR(XOR(ROTR(x, 7), ROTR(x, 18)), _mm256_srli_epi32(x, 3))
#define SS1(x) XOR(XOR(ROTR(x, 17), ROTR(x, 19)), _mm256_srli_epi32(x, 10))
#define CH(e, f, g) XOR(AND(XOR(f, g), e), g)

/* Rounds t0..63 with kw[t] = K[t] + W[t]; Maj as ((a^b)&(b^c))^b, where
 * b^c is the previous round's a^b. */
#define ROUNDS(t0, kw)                                                     \
    do {                                                                   \
        V bc_ = XOR(b, c);                                                 \
        for (unsigned t_ = (t0); t_ < 64; t_++) {                          \
            V t1_ = ADD(ADD(h, BS1(e)), ADD(CH(e, f, g), (kw)[t_]));       \
            V ab_ = XOR(a, b);                                             \
            V t2_ = ADD(BS0(a), XOR(AND(ab_, bc_), b));                    \
            bc_ = ab_;                                                     \
            h = g;                                                         \
            g = f;                                                         \
            f = e;                                                         \
            e = ADD(d, t1_);                                               \
            d = c;                                                         \
            c = b;                                                         \
            b = a;                                                         \
            a = ADD(t1_, t2_);                                             \
        }                                                                  \
    } while (0)

__attribute__((target("avx2"))) size_t
hearth_pow_scan_avx2(const pow_layout *l, const pow_batch *bt, size_t d0,
                     size_t d1)
{
    const unsigned ja = l->ja, r = bt->r;
    const unsigned jb = l->nvw == 2 ? ja + 1 : ja;
    const V mask = SET1(l->mask);
    for (size_t dd = d0; dd < d1; dd += 8) {
        V w[64], kw[64];
        for (unsigned j = 0; j < 16; j++) {
            w[j] = SET1(bt->w[j]);
            kw[j] = SET1(bt->kw[j]);
        }
        w[ja] = _mm256_or_si256(
            w[ja], _mm256_loadu_si256((const __m256i *)(l->tab_a + dd)));
        kw[ja] = ADD(w[ja], SET1(hearth_pow_k[ja]));
        if (jb != ja) {
            w[jb] = _mm256_or_si256(
                w[jb], _mm256_loadu_si256((const __m256i *)(l->tab_b + dd)));
            kw[jb] = ADD(w[jb], SET1(hearth_pow_k[jb]));
        }
        for (unsigned t = 16; t < 64; t++) {
            w[t] = ADD(ADD(SS1(w[t - 2]), w[t - 7]),
                       ADD(SS0(w[t - 15]), w[t - 16]));
            kw[t] = ADD(w[t], SET1(hearth_pow_k[t]));
        }
        V a = SET1(bt->st[0]), b = SET1(bt->st[1]), c = SET1(bt->st[2]),
          d = SET1(bt->st[3]), e = SET1(bt->st[4]), f = SET1(bt->st[5]),
          g = SET1(bt->st[6]), h = SET1(bt->st[7]);
        ROUNDS(r, kw);
        V s0 = ADD(a, SET1(bt->in[0]));
        if (l->nafter) {
            V s[8] = {s0,
                      ADD(b, SET1(bt->in[1])),
                      ADD(c, SET1(bt->in[2])),
                      ADD(d, SET1(bt->in[3])),
                      ADD(e, SET1(bt->in[4])),
                      ADD(f, SET1(bt->in[5])),
                      ADD(g, SET1(bt->in[6])),
                      ADD(h, SET1(bt->in[7]))};
            for (size_t i = 0; i < l->nafter; i++) {
                V kwa[64];
                for (unsigned t = 0; t < 64; t++)
                    kwa[t] = SET1(l->after_kw[i][t]);
                a = s[0], b = s[1], c = s[2], d = s[3];
                e = s[4], f = s[5], g = s[6], h = s[7];
                ROUNDS(0, kwa);
                s[0] = ADD(s[0], a), s[1] = ADD(s[1], b);
                s[2] = ADD(s[2], c), s[3] = ADD(s[3], d);
                s[4] = ADD(s[4], e), s[5] = ADD(s[5], f);
                s[6] = ADD(s[6], g), s[7] = ADD(s[7], h);
            }
            s0 = s[0];
        }
        /* candidate: the bits under the mask of the first word are zero */
        V z = _mm256_cmpeq_epi32(AND(s0, mask), _mm256_setzero_si256());
        if (!_mm256_testz_si256(z, z))
            return dd;
    }
    return d1;
}

#else
size_t hearth_pow_scan_avx2(const pow_layout *l, const pow_batch *b,
                            size_t d0, size_t d1)
{
    return d1; /* never selected off x86 */
}
#endif
