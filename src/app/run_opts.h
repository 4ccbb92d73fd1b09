/* hearth run's command line: options, runner specs, the key (docs/run.md). */
#ifndef HEARTH_RUN_OPTS_H
#define HEARTH_RUN_OPTS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/offer.h"
#include "hearth/pool.h"
#include "hearth/runner.h"

#define RUN_MAX_RUNNERS 8

struct run_opts {
    const char *relays[HEARTH_POOL_MAX_RELAYS];
    size_t nrelays;
    char embedded_url[64];
    const char *key;
    char data[PATH_MAX];
    char key_path[PATH_MAX];     /* the key file, hidden from exec runners */
    const char *specs[RUN_MAX_RUNNERS];
    size_t nspecs;
    int port;                    /* embedded relay */
    hearth_price price;          /* --price-*: every runner's default */
    uint32_t queue;
    int queue_set;
    int offers;                  /* publish offers (default 1) */
    const char *name;            /* NIP-89 name */
    uint64_t credit_msat;
    uint32_t drain_s;
    uint32_t route_kinds[16];    /* --route: kinds delegated when this
                                    peer cannot serve them */
    size_t nroute;
    uint64_t route_fee;
    uint8_t blocked[64][32];     /* --block: customers refused */
    size_t nblocked;
    int help;
};

/* CLI_OK, or a CLI_* error already printed. */
int run_opts_parse(struct run_opts *o, int argc, char **argv);
/* --key, $HEARTH_KEY, the default key file; creates the default key file
 * (mode 0600) on first run. */
int run_key(struct run_opts *o, uint8_t sk[32]);
/* One runner per --runner (default: pow), with its price. */
int run_make_runners(const struct run_opts *o, hearth_runner **rs,
                     hearth_price *prices, size_t *n);
void run_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
