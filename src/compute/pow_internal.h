/* Shared between the CPU miner's dispatcher (pow_cpu.c) and its SIMD and
 * SHA-NI kernels (pow_avx2.c, pow_avx512.c, pow_shani.c). */
#ifndef HEARTH_POW_INTERNAL_H
#define HEARTH_POW_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/nip13.h"

extern const uint32_t hearth_pow_k[64];

/* What stays the same for a whole job. The four low digits of a batch sit
 * in block vblock of the tail, in word jA (and jA + 1 when they cross a
 * word): tab_a[d] / tab_b[d] are those words for low digits d, with the
 * constant bytes around the digits already in place. Blocks after vblock
 * never change, so their schedule plus round constants is precomputed. */
typedef struct pow_layout {
    const hearth_nip13_job *job;
    size_t padded;           /* tail length padded to whole blocks */
    uint64_t bits;           /* message length in bits */
    size_t q;                /* tail offset of the first low digit */
    size_t vblock;           /* tail offset of its block */
    unsigned ja;             /* its word in that block */
    unsigned nvw;            /* changing words: 1 or 2 */
    int simd_ok;             /* low digits within one block */
    uint32_t *tab_a, *tab_b; /* HEARTH_POW_BATCH entries each */
    size_t nafter;
    uint32_t (*after_kw)[64];
    uint32_t mask;           /* a try is a candidate if (H0 & mask) == 0 */
} pow_layout;

/* What stays the same for one batch of 10,000 nonces. */
typedef struct pow_batch {
    uint64_t base;           /* first nonce of the batch */
    uint32_t in[8];          /* chaining state before vblock */
    uint32_t w[16];          /* vblock's words for this batch */
    unsigned r;              /* rounds done once */
    uint32_t st[8];          /* working variables after them */
    uint32_t kw[16];         /* K[t] + w[t] */
} pow_batch;

/* Scan low digits d0 .. d1-1 (d0 and d1 multiples of lanes) and return
 * the first group (a multiple of lanes) holding a candidate, or d1. The
 * caller checks candidates exactly with the reference code. */
typedef size_t (*pow_scan_fn)(const pow_layout *l, const pow_batch *b,
                              size_t d0, size_t d1);

size_t hearth_pow_scan_avx2(const pow_layout *l, const pow_batch *b,
                            size_t d0, size_t d1);
size_t hearth_pow_scan_avx512(const pow_layout *l, const pow_batch *b,
                              size_t d0, size_t d1);
size_t hearth_pow_scan_shani(const pow_layout *l, const pow_batch *b,
                             size_t d0, size_t d1);

/* Tests: which groups of lanes of the batch at nonce base impl's kernel
 * reports as candidates (cand: one byte per group). HEARTH_ENOTFOUND when
 * the job's low digits cross a block (only the scalar path runs then). */
int hearth_pow_test_groups(const hearth_nip13_job *job, int impl,
                           uint64_t base, uint8_t *cand, unsigned *lanes);

#endif
