/* NIP-01 filters: parsing, serialization and matching.
 *
 * A parsed filter is normalized: every list is sorted ascending and has no
 * duplicates. Matching uses binary search on that order, and the event
 * store can walk its indexes in the same order. Callers read the fields but
 * do not build filters by hand: make them with hearth_filter_parse (a
 * command line tool composes the JSON text first).
 *
 * Decisions (see docs/protocol-messages.md):
 *  - An empty list is accepted and matches nothing: NIP-01 says a list
 *    condition needs at least one of its values to match, and an empty list
 *    has none. Absent and empty are therefore different (the has_ flags).
 *  - "search" (NIP-50) is rejected with "unsupported: search": silently
 *    ignoring it would return events that do not match what was asked for.
 *  - Unknown keys and tag filters with names other than one letter a-zA-Z
 *    are rejected with "unsupported: ...".
 *  - "#e" and "#p" values must be 64 lowercase hex characters, as NIP-01
 *    requires of clients; other tag values are arbitrary strings.
 *  - since > until is accepted (it matches nothing). */
#ifndef HEARTH_FILTER_H
#define HEARTH_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"
#include "hearth/event.h"

/* Bounds applied by the parser. */
#define HEARTH_FILTER_MAX_JSON       HEARTH_EVENT_MAX_JSON
#define HEARTH_FILTER_MAX_VALUES     1000u  /* per list (ids, #e, ...) */
#define HEARTH_FILTER_MAX_TAGS       16u    /* "#x" conditions per filter */
#define HEARTH_FILTER_MAX_VALUE_LEN  1024u  /* bytes of one tag value */

/* "#x": the event must carry an x tag whose first value is in the list */
typedef struct hearth_filter_tag {
    char name;            /* a-z or A-Z */
    size_t n;
    hearth_str *values;   /* sorted by bytes, then length; may contain NUL */
} hearth_filter_tag;

typedef struct hearth_filter {
    int has_ids, has_authors, has_kinds;
    size_t nids, nauthors, nkinds;
    uint8_t (*ids)[32];
    uint8_t (*authors)[32];
    uint32_t *kinds;
    size_t ntags;
    hearth_filter_tag *tags;  /* sorted by name, names unique */
    int has_since, has_until, has_limit;
    int64_t since, until;     /* 0 .. HEARTH_MAX_TIMESTAMP */
    uint64_t limit;           /* 0 .. HEARTH_MAX_TIMESTAMP */
    /* private */
    struct hearth_arena *arena;
} hearth_filter;

/* Strict parse of one filter object. On failure *why (if given) carries an
 * "invalid: " or "unsupported: " prefix, ready for a CLOSED message. */
int hearth_filter_parse(const char *json, size_t len, hearth_filter **out,
                        const char **why);

/* Canonical JSON object (keys in a fixed order, lists normalized);
 * appended to out. */
int hearth_filter_to_json(const hearth_filter *f, hearth_buf *out);

/* 1 if ev passes every condition of f, else 0. limit plays no part: it
 * only bounds the initial query. */
int hearth_filter_match(const hearth_filter *f, const hearth_event *ev);
/* 1 if ev passes any of the n filters (the filters of one REQ are OR'd). */
int hearth_filter_match_any(hearth_filter *const *filters, size_t n,
                            const hearth_event *ev);

void hearth_filter_free(hearth_filter *f);

#endif
