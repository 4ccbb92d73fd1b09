/* hearth init's price proposal (docs/configuration.md "hearth init"):
 * from this machine's benchmark and the prices of comparable offers in
 * the market view. Pure, for tests. */
#ifndef HEARTH_APP_INIT_PRICE_H
#define HEARTH_APP_INIT_PRICE_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/offer.h"

/* Below this many comparable offers the market says little: defaults. */
#define INIT_MIN_COMPARABLE 3u
#define INIT_DEFAULT_PER_MHASH 1u   /* msat: the smallest PoW price unit */
#define INIT_DEFAULT_PER_JOB 10u    /* msat */
#define INIT_UTILISATION 0.10       /* share of the day spent on jobs */

struct init_prices {
    uint64_t per_mhash, per_job;    /* proposed */
    size_t comparable;              /* offers the proposal comes from */
    uint64_t mhash_lo, mhash_hi;    /* their quartiles (0 without) */
    double earn_msat_day;           /* at INIT_UTILISATION */
    int from_market;                /* 1: the market's medians */
};

/* prices of comparable offers (may be NULL with n 0); bench_mhs is this
 * machine's PoW speed in million hashes per second. */
void init_propose(double bench_mhs, const hearth_price *market, size_t n,
                  struct init_prices *out);

#endif
