/* The market view: every live offer this peer has seen, one compact
 * record per (job kind, provider, backend), and what this peer has
 * observed of each provider (round trip, successes, failures, cooldown,
 * reputation). It lives in an LMDB environment of its own and hands the
 * selector (select.h) contiguous arrays. Layout, rules and sizes:
 * docs/market-view.md.
 *
 * Thread rules: as for the event store. A hearth_view may be shared by
 * threads; every call runs its own transaction. Writes (ingest, purge,
 * observe) serialize on LMDB's writer lock; snapshots never wait for them.
 * hearth_view_close must not race with any other call. */
#ifndef HEARTH_VIEW_H
#define HEARTH_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/event.h"
#include "hearth/offer.h"
#include "hearth/select.h"

typedef struct hearth_view hearth_view;

typedef struct hearth_view_opts {
    /* upper bound of the file; only pages in use take space.
     * 0: 1 GiB (256 MiB on 32-bit) */
    uint64_t map_size;
    /* NIP-13 bits an offer needs to enter the view; 0: none */
    int min_pow;
    /* offer updates and deletions accepted per provider per minute, kept
     * in memory; 0: no limit. Default 30. */
    uint32_t rate_per_min;
    /* threads that check signatures of a batch; 0 or 1: the calling
     * thread only. Worth it on batches of a few hundred. */
    unsigned verify_threads;
} hearth_view_opts;

void hearth_view_opts_default(hearth_view_opts *o);

/* Open (creating dir 0700 and files 0600 if needed). opts may be NULL.
 * HEARTH_EIO (errno set) on a file problem; HEARTH_EINVAL if dir holds a
 * view of another format. */
int hearth_view_open(const char *dir, const hearth_view_opts *opts,
                     hearth_view **out);
void hearth_view_close(hearth_view *v);

/* ---- ingesting events ---- */

enum hearth_view_status {
    HEARTH_VIEW_STORED,      /* a new offer, or a newer version (replaced) */
    HEARTH_VIEW_DUPLICATE,   /* this very offer is in the view already */
    HEARTH_VIEW_OLDER,       /* a newer version is in the view: dropped */
    HEARTH_VIEW_DELETION,    /* a NIP-09 deletion of offers, applied */
    HEARTH_VIEW_DELETED,     /* its author deleted this offer: dropped */
    HEARTH_VIEW_REJECTED,    /* bad id or signature, invalid offer, PoW */
    HEARTH_VIEW_RATE_LIMITED,/* too many updates from this provider */
    HEARTH_VIEW_IGNORED,     /* neither an offer nor a deletion of one */
    HEARTH_VIEW_ERROR        /* the batch failed in storage */
};

typedef struct hearth_view_result {
    enum hearth_view_status status;
    const char *why;    /* static; "" or a NIP-01 prefixed reason */
    int replaced;       /* STORED: an older version was removed */
    unsigned removed;   /* DELETION: offers it removed */
} hearth_view_result;

/* Check and apply n events in ONE write transaction: offers (kind 31907:
 * signature, hearth_offer_from_event, minimum PoW, rate limit, newer
 * created_at wins, ties to the lower id as in NIP-01) and NIP-09
 * deletions (kind 5 with ["a", "31907:<pubkey>:<d>"] from that same
 * pubkey: removes the offer and refuses versions not newer than the
 * deletion). Other kinds are IGNORED. results[i] reports on evs[i].
 * Returns HEARTH_OK when the batch committed; on a storage failure
 * nothing is applied, every result is ERROR and the code is returned. */
int hearth_view_ingest(hearth_view *v, hearth_event *const *evs, size_t n,
                       int64_t now, hearth_view_result *results);

/* Remove up to max offers whose expiration is <= now (earliest first),
 * and deletion marks too old to matter, in one transaction. *purged (may
 * be NULL) gets the number of offers removed. */
int hearth_view_purge_expired(hearth_view *v, int64_t now, size_t max,
                              size_t *purged);

/* ---- reading ---- */

/* Unexpired offers of one job kind (0: all kinds) as contiguous arrays,
 * ordered by (job kind, pubkey, backend): peers[i] from
 * hearth_peer_from_offer, obs[i] this peer's observations of its
 * provider, offers[i] the full offer. obs and offers may be NULL when not
 * wanted. The caller frees each array with free(); with *n = 0 they are
 * NULL. */
int hearth_view_snapshot(hearth_view *v, uint32_t job_kind, int64_t now,
                         hearth_peer **peers, hearth_peer_obs **obs,
                         hearth_offer **offers, size_t *n);

/* The stored offer for this address (expired or not, until purged);
 * HEARTH_ENOTFOUND if none. */
int hearth_view_get_offer(hearth_view *v, uint32_t job_kind,
                          const uint8_t pubkey[32], hearth_backend backend,
                          hearth_offer *out);

/* ---- observations ---- */

enum hearth_view_outcome {
    HEARTH_OBS_OK,      /* a job succeeded: clears the failure streak */
    HEARTH_OBS_FAILED,  /* a job failed or timed out: cooldown */
    HEARTH_OBS_RTT      /* only a round-trip sample */
};

/* Record an outcome for a provider. rtt_ms 0 means no sample; samples
 * are smoothed (new = 3/4 old + 1/4 sample). A failure sets
 * cooldown_until = now + hearth_view_backoff(consecutive failures). */
int hearth_view_observe(hearth_view *v, const uint8_t pubkey[32],
                        enum hearth_view_outcome what, uint32_t rtt_ms,
                        int64_t now);
/* Observations of a provider; a never-observed one gets zeros and
 * reputation 0.5 (unknown), and HEARTH_OK. */
int hearth_view_get_obs(hearth_view *v, const uint8_t pubkey[32],
                        hearth_peer_obs *out);
/* The ledger's reputation for a provider, 0..1. */
int hearth_view_set_reputation(hearth_view *v, const uint8_t pubkey[32],
                               float reputation);
/* The hardware check's mark (docs/challenge.md), kept with the
 * provider's observations and read back in hearth_peer_obs (hw_*). */
typedef struct hearth_view_hw_check {
    int verdict;              /* enum hearth_hw_verdict */
    int64_t checked_at;       /* unix s */
    uint64_t measured_hs;     /* achieved, hashes per second */
    uint64_t claimed_hs;      /* what the offer claimed */
} hearth_view_hw_check;
/* Set (replace) a provider's mark; its other observations stay.
 * HEARTH_EINVAL for an unknown verdict. */
int hearth_view_set_hw_check(hearth_view *v, const uint8_t pubkey[32],
                             const hearth_view_hw_check *c);
/* Cooldown in seconds after the given number of consecutive failures:
 * 30 s after the first, doubling each time, at most 1 hour (0 for 0). */
int64_t hearth_view_backoff(uint32_t consecutive_failures);

/* ---- maintenance ---- */

typedef struct hearth_view_info {
    uint64_t offers;       /* stored, expired ones until purged included */
    uint64_t observed;     /* providers with observations */
    uint64_t marks;        /* deletion marks */
    uint64_t map_size;     /* configured bound, bytes */
    uint64_t used;         /* bytes of the file in use */
    uint64_t offer_bytes;  /* pages of the offers database, bytes */
} hearth_view_info;

int hearth_view_get_info(hearth_view *v, hearth_view_info *info);

#endif
