/* Nostr events (NIP-01): strict parsing, canonical serialization, id,
 * BIP-340 signing and verification, kind classes, addresses, NIP-40.
 *
 * An event owns all its memory; hearth_event_free releases it. Strings carry
 * explicit lengths because content and tag values may contain NUL; each is
 * also NUL-terminated for convenience. */
#ifndef HEARTH_EVENT_H
#define HEARTH_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"

/* Bounds applied by the parser. A relay may enforce tighter ones. */
#define HEARTH_EVENT_MAX_JSON   (4u << 20) /* bytes of one event's JSON */
#define HEARTH_EVENT_MAX_TAGS   10000u
#define HEARTH_TAG_MAX_VALUES   256u
/* JavaScript numbers are exact up to 2^53-1; past that ids computed by
 * JS clients would disagree with ours, so such timestamps are rejected. */
#define HEARTH_MAX_TIMESTAMP    9007199254740991LL
#define HEARTH_MAX_KIND         65535u

typedef struct hearth_str {
    const char *p;
    size_t n;
} hearth_str;

typedef struct hearth_tag {
    size_t n;          /* number of values, including the tag name */
    hearth_str *v;
} hearth_tag;

/* which optional fields an event has (unsigned events lack some) */
enum {
    HEARTH_EV_HAS_ID = 1u << 0,
    HEARTH_EV_HAS_PUBKEY = 1u << 1,
    HEARTH_EV_HAS_SIG = 1u << 2,
    HEARTH_EV_HAS_CREATED_AT = 1u << 3
};

struct hearth_arena;

typedef struct hearth_event {
    uint8_t id[32];
    uint8_t pubkey[32];
    uint8_t sig[64];
    int64_t created_at;
    uint32_t kind;
    unsigned has;      /* HEARTH_EV_HAS_* */
    size_t ntags;
    hearth_tag *tags;
    hearth_str content;
    /* private */
    size_t tags_cap;
    struct hearth_arena *arena;
} hearth_event;

/* parse flags */
enum {
    /* accept events without id, pubkey and sig (input to signing) */
    HEARTH_PARSE_UNSIGNED = 1u << 0
};

/* Strict parse of one event object. Rejects wrong types, non-integer or
 * out-of-range numbers, hex that is not lowercase or of the wrong length,
 * duplicate or unknown keys, invalid UTF-8, and anything over the bounds
 * above. Does NOT check the id or signature: call hearth_event_verify.
 * On failure *why (if given) names the problem with an "invalid: " prefix. */
int hearth_event_parse(const char *json, size_t len, unsigned flags,
                       hearth_event **out, const char **why);

/* Build an event in code. content may contain NUL. */
int hearth_event_new(uint32_t kind, int64_t created_at, const char *content,
                     size_t content_len, hearth_event **out);
/* Append a tag of n values (lens may be NULL for NUL-terminated values). */
int hearth_event_add_tag(hearth_event *ev, size_t n, const char *const *vals,
                         const size_t *lens);
/* Convenience: hearth_event_add_tagv(ev, "p", hex, NULL) */
int hearth_event_add_tagv(hearth_event *ev, const char *name, ...);
int hearth_event_set_content(hearth_event *ev, const char *content, size_t n);
void hearth_event_free(hearth_event *ev);

/* NIP-01 canonical form [0,pubkey,created_at,kind,tags,content] */
int hearth_event_serialize(const hearth_event *ev, hearth_buf *out);
/* sha256 of the canonical form */
int hearth_event_compute_id(const hearth_event *ev, uint8_t id[32]);
/* Full JSON object with id, pubkey, created_at, kind, tags, content, sig
 * (only the fields the event has). */
int hearth_event_to_json(const hearth_event *ev, hearth_buf *out);

/* Recompute the id from the fields, compare it with the claimed one, then
 * check the BIP-340 signature over the recomputed id. HEARTH_OK,
 * HEARTH_EBADID or HEARTH_EBADSIG (with *why set). */
int hearth_event_verify(const hearth_event *ev, const char **why);
/* The same checks and results, the public key parsed through v's cache
 * (hearth/keys.h; v NULL: as hearth_event_verify). v belongs to the
 * calling thread. */
struct hearth_verifier;
int hearth_event_verify_with(struct hearth_verifier *v,
                             const hearth_event *ev, const char **why);

/* Set pubkey from sk, compute the id, sign it (with fresh aux randomness). */
int hearth_event_sign(hearth_event *ev, const uint8_t sk[32]);

/* kind classes (NIP-01) */
enum hearth_kind_class {
    HEARTH_KIND_REGULAR,
    HEARTH_KIND_REPLACEABLE,
    HEARTH_KIND_EPHEMERAL,
    HEARTH_KIND_ADDRESSABLE
};
enum hearth_kind_class hearth_kind_class(uint32_t kind);

/* First tag whose name equals name; NULL if none. */
const hearth_tag *hearth_event_find_tag(const hearth_event *ev,
                                        const char *name);
/* Value of the "d" tag ("" if absent, as NIP-01 says). */
hearth_str hearth_event_d(const hearth_event *ev);
/* "kind:pubkeyhex:d" for replaceable ("kind:pubkeyhex:") and addressable
 * events; HEARTH_EINVAL for other kinds. */
int hearth_event_address(const hearth_event *ev, hearth_buf *out);

/* NIP-40: 1 and *at set if the event has a valid expiration tag, 0 if none,
 * HEARTH_EINVAL if the tag is malformed. */
int hearth_event_expiration(const hearth_event *ev, int64_t *at);
/* 1 if expired at time now, else 0 (malformed expiration counts as none) */
int hearth_event_is_expired(const hearth_event *ev, int64_t now);

#endif
