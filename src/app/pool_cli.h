/* Shared plumbing of the relay-pool commands (hearth req, hearth publish):
 * their common options, the loop and the pool, a timeout, signals, and the
 * per-relay report on stderr. */
#ifndef HEARTH_POOL_CLI_H
#define HEARTH_POOL_CLI_H

#include <libwebsockets.h>
#include <stdint.h>

#include "hearth/loop.h"
#include "hearth/pool.h"

struct pool_cli {
    const char *relays[HEARTH_POOL_MAX_RELAYS];
    size_t nrelays;
    double timeout;           /* seconds; 0: none */
    int has_timeout;
    const char *key;
    const char *ca_file;
    int stats;
    int json;
    int help;
    hearth_loop *loop;
    hearth_pool *pool;
    uint8_t sk[32];
    int has_key;
    lws_sorted_usec_list_t timer;
    void (*on_timeout)(struct pool_cli *c);
    int timed_out;
};

/* Consume argv[*i] (and its value) if it is a common option: 1 if taken,
 * 0 if not one of them, -1 on a usage error (already printed). */
int pool_cli_opt(struct pool_cli *c, int argc, char **argv, int *i);

/* Key for signing and AUTH: --key must load (errors printed, -1);
 * otherwise $HEARTH_KEY or the default key file are used when present
 * and usable, and the command runs without a key when they are not. */
int pool_cli_key(struct pool_cli *c);

/* Loop, pool (with o, whose sk and ca_file this fills in), relays, signal
 * handlers. Prints the error; returns a CLI_* exit code. */
int pool_cli_open(struct pool_cli *c, hearth_pool_opts *o);
/* Call on_timeout (default: stop the loop) after secs. */
void pool_cli_arm_timeout(struct pool_cli *c, double secs);
/* One stderr line per dropped relay, and the stats with --stats. Returns
 * the number of relays dropped for misbehaviour. */
int pool_cli_report(struct pool_cli *c);
void pool_cli_close(struct pool_cli *c);

/* 64 hex characters or an npub; prints the error. 0 or -1. */
int pool_cli_pubkey(const char *s, uint8_t pk[32]);

/* NIP-65 outbox model: find pk's newest kind-10002 relay list on the
 * relays already in the pool, then call done with it (NULL when none was
 * found: the caller goes on with the relays it has). */
typedef void (*pool_cli_list_cb)(struct pool_cli *c,
                                 const hearth_relay_list *list, void *user);
int pool_cli_fetch_relay_list(struct pool_cli *c, const uint8_t pk[32],
                              pool_cli_list_cb done, void *user);
/* Add up to max of the list's relays to the pool; how many were new. */
size_t pool_cli_add_relays(struct pool_cli *c, char *const *urls, size_t n,
                           size_t max);

/* Help text for the common options. */
extern const char pool_cli_help[];

#endif
