/* SHA-256 with the Intel SHA extensions (SHA-NI): sha256rnds2 does two
 * rounds, sha256msg1/msg2 the message schedule four words at a time. One
 * message alone leaves the unit waiting on each rnds2's latency, so two
 * nonces are hashed in step. The rounds before the quad holding the
 * nonce's first changing word are done once per batch (pow_cpu.c sets
 * b->r to a multiple of 4), and later constant blocks use the
 * precomputed K + W, so they need no schedule at all.
 *
 * State order: the instructions keep a..h as two vectors, ABEF and CDGH
 * (A in the top lane); to_sha/from_sha convert from and to a..h. */
#include "pow_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define SHA_TARGET __attribute__((target("sha,sse4.1")))

/* a..h (s[0..7]) to ABEF / CDGH */
#define TO_SHA(s, abef, cdgh)                                              \
    do {                                                                   \
        __m128i t_ = _mm_loadu_si128((const __m128i *)(s));                \
        __m128i u_ = _mm_loadu_si128((const __m128i *)((s) + 4));          \
        t_ = _mm_shuffle_epi32(t_, 0xB1);     /* CDAB */                   \
        u_ = _mm_shuffle_epi32(u_, 0x1B);     /* EFGH */                   \
        (abef) = _mm_alignr_epi8(t_, u_, 8);  /* ABEF */                   \
        (cdgh) = _mm_blend_epi16(u_, t_, 0xF0); /* CDGH */                 \
    } while (0)

/* Two rounds pairs from the K + W quad kw into the state. */
#define QUAD(abef, cdgh, kw)                                               \
    do {                                                                   \
        __m128i m_ = (kw);                                                 \
        (cdgh) = _mm_sha256rnds2_epu32(cdgh, abef, m_);                    \
        m_ = _mm_shuffle_epi32(m_, 0x0E);                                  \
        (abef) = _mm_sha256rnds2_epu32(abef, cdgh, m_);                    \
    } while (0)

/* Quad q >= 4 of the schedule from the four before it, in ring m. */
#define NEXT_QUAD(m, q)                                                    \
    (m)[(q) & 3] = _mm_sha256msg2_epu32(                                   \
        _mm_add_epi32(_mm_sha256msg1_epu32((m)[(q) & 3], (m)[((q) + 1) & 3]), \
                      _mm_alignr_epi8((m)[((q) + 3) & 3],                  \
                                      (m)[((q) + 2) & 3], 4)),             \
        (m)[((q) + 3) & 3])

SHA_TARGET size_t hearth_pow_scan_shani(const pow_layout *l,
                                        const pow_batch *bt, size_t d0,
                                        size_t d1)
{
    const unsigned ja = l->ja, r = bt->r;
    const unsigned jb = l->nvw == 2 ? ja + 1 : ja;
    __m128i st_abef, st_cdgh, in_abef, in_cdgh;
    TO_SHA(bt->st, st_abef, st_cdgh);
    TO_SHA(bt->in, in_abef, in_cdgh);
    for (size_t dd = d0; dd < d1; dd += 2) {
        uint32_t w[2][16];
        __m128i m[2][4], abef[2], cdgh[2];
        for (int k = 0; k < 2; k++) {
            for (int j = 0; j < 16; j++)
                w[k][j] = bt->w[j];
            w[k][ja] |= l->tab_a[dd + k];
            if (jb != ja)
                w[k][jb] |= l->tab_b[dd + k];
            for (int j = 0; j < 4; j++)
                m[k][j] = _mm_loadu_si128((const __m128i *)&w[k][4 * j]);
            abef[k] = st_abef;
            cdgh[k] = st_cdgh;
        }
        for (unsigned q = 0; q < 16; q++) {
            __m128i kq = _mm_loadu_si128((const __m128i *)&hearth_pow_k[4 * q]);
            for (int k = 0; k < 2; k++) {
                if (q >= 4)
                    NEXT_QUAD(m[k], q);
                if (4 * q >= r)
                    QUAD(abef[k], cdgh[k], _mm_add_epi32(m[k][q & 3], kq));
            }
        }
        for (int k = 0; k < 2; k++) {
            abef[k] = _mm_add_epi32(abef[k], in_abef);
            cdgh[k] = _mm_add_epi32(cdgh[k], in_cdgh);
        }
        for (size_t i = 0; i < l->nafter; i++) {
            __m128i sa[2] = {abef[0], abef[1]}, sc[2] = {cdgh[0], cdgh[1]};
            for (unsigned q = 0; q < 16; q++) {
                __m128i kw =
                    _mm_loadu_si128((const __m128i *)&l->after_kw[i][4 * q]);
                for (int k = 0; k < 2; k++)
                    QUAD(abef[k], cdgh[k], kw);
            }
            for (int k = 0; k < 2; k++) {
                abef[k] = _mm_add_epi32(abef[k], sa[k]);
                cdgh[k] = _mm_add_epi32(cdgh[k], sc[k]);
            }
        }
        for (int k = 0; k < 2; k++) {
            uint32_t h0 = (uint32_t)_mm_extract_epi32(abef[k], 3); /* A */
            if ((h0 & l->mask) == 0)
                return dd;
        }
    }
    return d1;
}

#else
size_t hearth_pow_scan_shani(const pow_layout *l, const pow_batch *b,
                             size_t d0, size_t d1)
{
    return d1; /* never selected off x86 */
}
#endif
