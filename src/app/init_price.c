/* hearth init's price proposal. */
#include "init_price.h"

#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* the value at fraction q of the sorted array (nearest rank) */
static uint64_t rank(const uint64_t *v, size_t n, double q)
{
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

void init_propose(double bench_mhs, const hearth_price *market, size_t n,
                  struct init_prices *out)
{
    memset(out, 0, sizeof *out);
    out->per_mhash = INIT_DEFAULT_PER_MHASH;
    out->per_job = INIT_DEFAULT_PER_JOB;
    uint64_t *mh = n >= INIT_MIN_COMPARABLE ? malloc(n * sizeof *mh) : NULL;
    uint64_t *pj = mh ? malloc(n * sizeof *pj) : NULL;
    if (pj) {
        for (size_t i = 0; i < n; i++) {
            mh[i] = market[i].per_mhash;
            pj[i] = market[i].per_job;
        }
        qsort(mh, n, sizeof *mh, cmp_u64);
        qsort(pj, n, sizeof *pj, cmp_u64);
        /* the median: priced like the middle of the market, neither
         * undercutting it nor idle; never free */
        out->per_mhash = rank(mh, n, 0.5) ? rank(mh, n, 0.5) : 1;
        out->per_job = rank(pj, n, 0.5);
        out->mhash_lo = rank(mh, n, 0.25);
        out->mhash_hi = rank(mh, n, 0.75);
        out->comparable = n;
        out->from_market = 1;
    }
    free(mh);
    free(pj);
    if (bench_mhs > 0)
        out->earn_msat_day = bench_mhs * 86400.0 * INIT_UTILISATION *
                             (double)out->per_mhash;
}
