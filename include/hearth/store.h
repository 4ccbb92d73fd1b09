/* The event store: Nostr events in one LMDB environment, with the indexes
 * a NIP-01 relay needs to answer filters without scanning everything.
 * Layout, semantics and decisions: docs/store.md.
 *
 * Thread rules. A hearth_store may be shared by any number of threads.
 * Every call runs in its own LMDB transaction and returns with it closed:
 * reads see a consistent snapshot and never block; writes (put, purge)
 * serialize on LMDB's writer lock, so one writer at a time makes progress
 * and the others wait. The callback of a query runs inside the read
 * transaction: it must not call a write function of the same store (the
 * snapshot would pin old pages) and must not keep the row pointers.
 * hearth_store_close must not race with any other call.
 *
 * Durability. A put or purge returns only after its commit reached the
 * disk (fdatasync), so an event acknowledged to a client survives kill -9
 * and power loss. A commit costs about a millisecond: pass events in
 * batches to put_batch. */
#ifndef HEARTH_STORE_H
#define HEARTH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/event.h"
#include "hearth/filter.h"

typedef struct hearth_store hearth_store;

typedef struct hearth_store_opts {
    /* Upper bound of the database file. Only pages in use take disk
     * space, so the default is large: 16 GiB (1 GiB on 32-bit). When the
     * map is full, writes fail with HEARTH_EIO ("error: database is full"). */
    uint64_t map_size;
    /* Simultaneous read transactions, over all threads and processes;
     * 0 means 256. */
    unsigned max_readers;
} hearth_store_opts;

/* Open (creating dir with mode 0700 and the files with 0600 if needed).
 * opts may be NULL for the defaults. HEARTH_EIO with errno set on a file
 * problem; HEARTH_EINVAL if the directory holds a store of another format. */
int hearth_store_open(const char *dir, const hearth_store_opts *opts,
                      hearth_store **out);
void hearth_store_close(hearth_store *s);

/* ---- writing ---- */

enum hearth_store_status {
    HEARTH_STORE_STORED,     /* written (an older version may be replaced) */
    HEARTH_STORE_DUPLICATE,  /* this id is already stored */
    HEARTH_STORE_OLDER,      /* a newer version of this replaceable or
                                addressable event is stored: not written */
    HEARTH_STORE_DELETED,    /* its author deleted it (NIP-09): refused */
    HEARTH_STORE_EXPIRED,    /* its NIP-40 expiration has passed: refused */
    HEARTH_STORE_EPHEMERAL,  /* kind 20000-29999: never stored, broadcast it */
    HEARTH_STORE_ERROR       /* not written; see why */
};

typedef struct hearth_store_result {
    enum hearth_store_status status;
    int ok;            /* the boolean for the relay's OK message */
    const char *why;   /* static; "" or a NIP-01 prefixed reason */
    uint64_t serial;   /* the stored event's serial when STORED */
    int replaced;      /* STORED: 1 if an older version was removed */
} hearth_store_result;

/* Apply n events, already verified by the caller, in ONE transaction with
 * one durable commit, in order (an event sees the ones before it in the
 * batch). results[i] reports on evs[i]. now is the time for NIP-40.
 * Returns HEARTH_OK when the batch committed, whatever the per-event
 * statuses; on a storage failure nothing of the batch is applied, every
 * result says ERROR with an "error: " reason, and the code is returned. */
int hearth_store_put_batch(hearth_store *s, hearth_event *const *evs,
                           size_t n, int64_t now,
                           hearth_store_result *results);

/* Remove up to max events whose NIP-40 expiration is <= now, in one
 * transaction, so a relay can call it from a timer with bounded work.
 * *purged (may be NULL) gets the number removed; fewer than max means
 * nothing else has expired. */
int hearth_store_purge_expired(hearth_store *s, int64_t now, size_t max,
                               size_t *purged);

/* ---- reading ---- */

/* *found = 1 if an event with this id is stored. Cheap: one B-tree lookup,
 * meant to run before signature verification. */
int hearth_store_has_id(hearth_store *s, const uint8_t id[32], int *found);

/* Append the stored JSON of the event with this id to out;
 * HEARTH_ENOTFOUND if none. Expired events are still returned until
 * purged (queries hide them). */
int hearth_store_get_json(hearth_store *s, const uint8_t id[32],
                          hearth_buf *out);

/* One query result. The pointers are valid only during the callback. */
typedef struct hearth_store_row {
    const char *json;      /* hearth_event_to_json output, not NUL-ended */
    size_t len;
    const uint8_t *id;     /* 32 bytes */
    const uint8_t *pubkey; /* 32 bytes */
    int64_t created_at;
    uint32_t kind;
    uint64_t serial;
} hearth_store_row;

/* Return 0 to go on, 1 to stop early (the query then returns HEARTH_OK),
 * or a negative hearth_err to abort (the query returns it). */
typedef int (*hearth_store_cb)(void *ctx, const hearth_store_row *row);

/* What a query did, for tests and metrics. */
typedef struct hearth_store_stats {
    uint64_t rows_scanned;  /* index rows and id lookups visited */
    uint64_t records_read;  /* event records fetched to be matched */
    uint64_t matched;       /* records that passed hearth_filter_match */
    uint64_t returned;      /* rows handed to the callback (or counted) */
} hearth_store_stats;

/* The events matching any of the n filters (one REQ), newest first
 * (created_at descending, then id ascending), each once. Each filter
 * contributes at most its limit, and at most max_results rows are
 * returned in all. Expired events (NIP-40, at time now) are left out.
 * stats may be NULL; it is reset, then filled. */
int hearth_store_query(hearth_store *s, hearth_filter *const *filters,
                       size_t n, size_t max_results, int64_t now,
                       hearth_store_cb cb, void *ctx,
                       hearth_store_stats *stats);

/* NIP-45: the number of distinct events matching any of the filters,
 * limits ignored, through the same indexes as a query. */
int hearth_store_count(hearth_store *s, hearth_filter *const *filters,
                       size_t n, int64_t now, uint64_t *count,
                       hearth_store_stats *stats);

/* ---- query plans ---- */

enum hearth_store_index {
    HEARTH_INDEX_NONE,         /* the filter can match nothing */
    HEARTH_INDEX_IDS,          /* direct lookup of each id */
    HEARTH_INDEX_PUBKEY_KIND,  /* one range per (author, kind) pair */
    HEARTH_INDEX_PUBKEY,       /* one range per author */
    HEARTH_INDEX_TAG,          /* one range per value of one #x list */
    HEARTH_INDEX_KIND,         /* one range per kind */
    HEARTH_INDEX_CREATED       /* the whole time line, within since/until */
};

typedef struct hearth_store_plan {
    enum hearth_store_index index;
    size_t ranges;   /* cursors merged (or ids looked up) */
    char tag;        /* the letter, for HEARTH_INDEX_TAG */
} hearth_store_plan;

/* The index a query would walk for f. Pure: needs no store. */
void hearth_store_explain(const hearth_filter *f, hearth_store_plan *plan);
/* Short name of an index ("pubkey+kind"); never NULL. */
const char *hearth_store_index_name(enum hearth_store_index index);

/* ---- maintenance ---- */

typedef struct hearth_store_info {
    uint64_t events;     /* stored events */
    uint64_t map_size;   /* configured upper bound, bytes */
    uint64_t used;       /* bytes of the map in use */
} hearth_store_info;

int hearth_store_get_info(hearth_store *s, hearth_store_info *info);

#endif
