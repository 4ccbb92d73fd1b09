/* The receipt store: the settlement events (metering notes, kind 7441;
 * receipts, kind 7442) this peer has seen on relays, kept so reputation
 * (reputation.h) can be computed from them. Its own LMDB environment
 * (<data>/reputation), bounded, idempotent by event id, one durable
 * transaction per batch. docs/reputation.md "Wiring" has the layout, the
 * bounds and how facts are derived.
 *
 * Only the fields reputation needs are kept (who, which job, how much,
 * the verdict), never an event's JSON: the store can always be rebuilt
 * from relays.
 *
 * All calls are thread-safe (LMDB serialises writers). */
#ifndef HEARTH_REPSTORE_H
#define HEARTH_REPSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/event.h"
#include "hearth/reputation.h"

typedef struct hearth_repstore hearth_repstore;

typedef struct hearth_repstore_opts {
    /* records (notes + receipts) kept per provider: the note's signer,
     * the receipt's p tag. Past it the provider's oldest go (8192) */
    uint32_t max_per_provider;
    /* records kept in all; past it the oldest of all go (262144) */
    uint32_t max_total;
} hearth_repstore_opts;

void hearth_repstore_opts_default(hearth_repstore_opts *o);

/* What ingest did with one event. */
enum hearth_repstore_status {
    HEARTH_REPSTORE_STORED = 0,
    HEARTH_REPSTORE_DUPLICATE,  /* this event id is stored already */
    HEARTH_REPSTORE_REJECTED,   /* bad signature or refused by meter.h */
    HEARTH_REPSTORE_IGNORED,    /* neither a note nor a receipt */
    HEARTH_REPSTORE_TOO_OLD     /* older than all its provider keeps at
                                   the bound: it would go at once */
};

typedef struct hearth_repstore_result {
    enum hearth_repstore_status status;
    const char *why;            /* REJECTED: static, NIP-01 prefixed */
} hearth_repstore_result;

typedef struct hearth_repstore_info {
    uint64_t records;           /* notes + receipts */
    uint64_t notes, receipts;
    uint64_t providers;         /* providers with records */
    uint64_t evicted;           /* dropped by the bounds since open */
    uint64_t map_size;          /* bytes */
} hearth_repstore_info;

/* Open (creating) the store under dir (made 0700). opts NULL means the
 * defaults, and so does 0 in a field. HEARTH_EIO with errno. */
int hearth_repstore_open(const char *dir, const hearth_repstore_opts *opts,
                         hearth_repstore **out);
void hearth_repstore_close(hearth_repstore *s);

/* Store evs[0..n) in one durable transaction. Each event is parsed with
 * meter.h at now; verified != 0 says the caller has checked ids and
 * signatures (events from the pool are), otherwise they are checked here
 * (HEARTH_REPSTORE_REJECTED when they fail). res (may be NULL) gets one
 * verdict per event. Returns a storage error, if any; then nothing of the
 * batch is stored. */
int hearth_repstore_ingest(hearth_repstore *s, hearth_event *const *evs,
                           size_t n, int64_t now, int verified,
                           hearth_repstore_result *res);

/* Derive reputation facts from what is stored: one per receipt (several
 * for one job are folded by hearth_rep_compute), newest first, at most
 * max (caller-allocated out), only receipts created at or after since.
 * backed = 1 when the provider's own metering note for that job and that
 * customer is stored; the amount is then the receipt's accepted amount
 * capped at the largest the provider billed for the job, or for a
 * dispute the amount billed. A receipt's Lightning preimage is not used:
 * checking it needs the note's invoice, and whenever the note is there it
 * backs the receipt already. *n gets the count. */
int hearth_repstore_facts(hearth_repstore *s, int64_t since,
                          hearth_rep_receipt *out, size_t max, size_t *n);

int hearth_repstore_get_info(hearth_repstore *s, hearth_repstore_info *out);

#endif
