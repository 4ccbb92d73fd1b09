/* Write policy for relays that host hearth market discovery. One pure
 * function, shared by `hearth relay` and the strfry plugin in relays/, so
 * both apply exactly the same rules. */
#ifndef HEARTH_POLICY_H
#define HEARTH_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/event.h"

#define HEARTH_POLICY_MAX_KINDS 256u

typedef struct hearth_policy_pow {
    uint32_t kind;
    int bits;
} hearth_policy_pow;

typedef struct hearth_policy {
    /* discovery mode: accept only the kinds the market uses (NIP-89
     * announcements, NIP-90 requests of job_kinds with their results and
     * feedback, hearth offers/notes/receipts, deletions, relay lists,
     * metadata); everything else is "blocked:" */
    int discovery;
    size_t njob_kinds;            /* 0 in discovery mode = every 5000-5999 */
    uint32_t job_kinds[HEARTH_POLICY_MAX_KINDS];
    /* minimum NIP-13 difficulty per kind, and for all other kinds */
    size_t npow;
    hearth_policy_pow pow[HEARTH_POLICY_MAX_KINDS];
    int default_pow;
    /* created_at more than this many seconds in the future is refused
     * (0 = no limit) */
    int64_t max_future;
    /* content bytes (0 = only the event-size bound applies) */
    size_t max_content;
} hearth_policy;

/* Defaults: not discovery, no PoW, 15 minutes of clock skew. */
void hearth_policy_init(hearth_policy *p);

/* HEARTH_OK, or HEARTH_EPERM with *why set to a NIP-01 prefixed reason
 * ("blocked: ...", "pow: ...", "invalid: ..."). The event must already be
 * parsed; the caller verifies the signature separately. */
int hearth_policy_check(const hearth_policy *p, const hearth_event *ev,
                        int64_t now, const char **why);

/* 1 if kind is one the hearth market uses, under p's job kinds */
int hearth_policy_market_kind(const hearth_policy *p, uint32_t kind);

/* Parse a "5970,5100-5199" list into job_kinds / "5970:20,1:8" into pow.
 * HEARTH_EINVAL with *why naming the problem. */
int hearth_policy_parse_kinds(hearth_policy *p, const char *list,
                              const char **why);
int hearth_policy_parse_pow(hearth_policy *p, const char *list,
                            const char **why);

#endif
