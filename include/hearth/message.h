/* Client-relay protocol messages (NIP-01, NIP-42 AUTH, NIP-45 COUNT):
 * strict parsing, building, the machine-readable prefixes of OK and CLOSED,
 * and the NIP-42 authentication event.
 *
 * Parsers check the shape of a message and of the event and filters inside
 * it; they do not verify signatures (call hearth_event_verify, or
 * hearth_auth_check for AUTH). Builders append one message to a hearth_buf,
 * and check their arguments first so that on HEARTH_EINVAL nothing is
 * appended. Whatever a builder writes, the matching parser accepts. */
#ifndef HEARTH_MESSAGE_H
#define HEARTH_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"
#include "hearth/event.h"
#include "hearth/filter.h"

/* Bounds. A message holds at most one event, so it gets that bound plus
 * room for the message type, subscription id and quoting. */
#define HEARTH_MSG_MAX_JSON     (HEARTH_EVENT_MAX_JSON + (64u << 10))
#define HEARTH_SUBID_MAX        64u   /* characters (code points), NIP-01 */
#define HEARTH_MSG_MAX_FILTERS  32u   /* per REQ or COUNT */
#define HEARTH_CHALLENGE_MAX    1024u /* bytes of an AUTH challenge */

typedef enum hearth_msg_type {
    HEARTH_MSG_NONE = 0,
    /* client to relay */
    HEARTH_MSG_EVENT,          /* ["EVENT", event] */
    HEARTH_MSG_REQ,            /* ["REQ", subid, filter...] */
    HEARTH_MSG_CLOSE,          /* ["CLOSE", subid] */
    HEARTH_MSG_AUTH,           /* ["AUTH", kind-22242 event] */
    HEARTH_MSG_COUNT,          /* ["COUNT", subid, filter...] */
    /* relay to client */
    HEARTH_MSG_RELAY_EVENT,    /* ["EVENT", subid, event] */
    HEARTH_MSG_OK,             /* ["OK", id, bool, message] */
    HEARTH_MSG_EOSE,           /* ["EOSE", subid] */
    HEARTH_MSG_CLOSED,         /* ["CLOSED", subid, message] */
    HEARTH_MSG_NOTICE,         /* ["NOTICE", message] */
    HEARTH_MSG_AUTH_CHALLENGE, /* ["AUTH", challenge] */
    HEARTH_MSG_COUNT_RESULT    /* ["COUNT", subid, {"count": n, ...}] */
} hearth_msg_type;

/* One parsed message; which fields are set depends on type. Strings are
 * owned, NUL-terminated, and never contain NUL (the parsers reject it:
 * these are identifiers and one-line texts, not event content). */
typedef struct hearth_msg {
    hearth_msg_type type;
    char *subid;              /* REQ CLOSE COUNT RELAY_EVENT EOSE CLOSED
                                 COUNT_RESULT */
    hearth_event *event;      /* EVENT RELAY_EVENT AUTH */
    size_t nfilters;          /* REQ COUNT: 1..HEARTH_MSG_MAX_FILTERS */
    hearth_filter **filters;
    uint8_t id[32];           /* OK */
    int ok;                   /* OK: 1 accepted, 0 refused */
    char *message;            /* OK CLOSED NOTICE; may be "" */
    char *challenge;          /* AUTH_CHALLENGE */
    uint64_t count;           /* COUNT_RESULT */
    int approximate;          /* COUNT_RESULT: -1 absent, 0 false, 1 true */
} hearth_msg;

/* Parse a message a client sends (EVENT REQ CLOSE AUTH COUNT) or one a
 * relay sends (EVENT OK EOSE CLOSED NOTICE AUTH COUNT). On success the
 * caller must hearth_msg_clear(out); on failure out is left cleared and
 * *why (if given) carries a NIP-01 prefix, ready for a NOTICE or OK. */
int hearth_msg_parse_client(const char *json, size_t len, hearth_msg *out,
                            const char **why);
int hearth_msg_parse_relay(const char *json, size_t len, hearth_msg *out,
                           const char **why);
void hearth_msg_clear(hearth_msg *m);

/* Builders. Events must be signed (id, pubkey and sig present); subids
 * must be valid (non-empty, at most 64 characters); REQ and COUNT take
 * 1..HEARTH_MSG_MAX_FILTERS filters; a NULL message is "". A message over
 * HEARTH_MSG_MAX_JSON is HEARTH_ETOOBIG and out is left as it was. */
int hearth_msg_build_event(const hearth_event *ev, hearth_buf *out);
int hearth_msg_build_req(const char *subid, hearth_filter *const *filters,
                         size_t n, hearth_buf *out);
int hearth_msg_build_close(const char *subid, hearth_buf *out);
int hearth_msg_build_auth(const hearth_event *ev, hearth_buf *out);
int hearth_msg_build_count(const char *subid, hearth_filter *const *filters,
                           size_t n, hearth_buf *out);
int hearth_msg_build_relay_event(const char *subid, const hearth_event *ev,
                                 hearth_buf *out);
int hearth_msg_build_ok(const uint8_t id[32], int ok, const char *message,
                        hearth_buf *out);
int hearth_msg_build_eose(const char *subid, hearth_buf *out);
int hearth_msg_build_closed(const char *subid, const char *message,
                            hearth_buf *out);
int hearth_msg_build_notice(const char *message, hearth_buf *out);
int hearth_msg_build_auth_challenge(const char *challenge, hearth_buf *out);
/* approximate: -1 leaves the key out, 0 writes false, 1 writes true */
int hearth_msg_build_count_result(const char *subid, uint64_t count,
                                  int approximate, hearth_buf *out);
/* Any parsed (or filled-in) message, by its type. */
int hearth_msg_build(const hearth_msg *m, hearth_buf *out);

/* Machine-readable prefixes of OK and CLOSED messages: NIP-01 (duplicate,
 * pow, blocked, rate-limited, invalid, restricted, mute, error; the
 * "unsupported" of its CLOSED example) and NIP-42 (auth-required). */
typedef enum hearth_prefix {
    HEARTH_PREFIX_NONE = 0,   /* no "word:" at the start (e.g. "") */
    HEARTH_PREFIX_OTHER,      /* a prefix not listed here */
    HEARTH_PREFIX_DUPLICATE,
    HEARTH_PREFIX_POW,
    HEARTH_PREFIX_BLOCKED,
    HEARTH_PREFIX_RATE_LIMITED,
    HEARTH_PREFIX_INVALID,
    HEARTH_PREFIX_RESTRICTED,
    HEARTH_PREFIX_MUTE,
    HEARTH_PREFIX_ERROR,
    HEARTH_PREFIX_AUTH_REQUIRED,
    HEARTH_PREFIX_UNSUPPORTED
} hearth_prefix;

/* "duplicate", "rate-limited", ...; "" for NONE and OTHER */
const char *hearth_prefix_str(hearth_prefix p);
/* The prefix a message starts with: a word of [a-z0-9-] then ':'. */
hearth_prefix hearth_prefix_parse(const char *msg);
/* Append "prefix: text" (just text for NONE and OTHER). */
int hearth_prefix_build(hearth_prefix p, const char *text, hearth_buf *out);

/* NIP-42 */
#define HEARTH_AUTH_KIND     22242u
#define HEARTH_AUTH_MAX_SKEW 600   /* seconds either side of now */

/* Signed kind-22242 event with ["relay", url] and ["challenge", c] tags. */
int hearth_auth_build(const char *relay_url, const char *challenge,
                      const uint8_t sk[32], int64_t created_at,
                      hearth_event **out);
/* Relay side check of a client's AUTH event: kind, challenge tag equal to
 * the one sent, relay tag naming this relay (scheme and host compared
 * without case, trailing '/' of the path ignored), created_at within
 * HEARTH_AUTH_MAX_SKEW of now, then id and signature. On failure *why
 * starts with "invalid: ", ready for the OK message. */
int hearth_auth_check(const hearth_event *ev, const char *relay_url,
                      const char *challenge, int64_t now, const char **why);

#endif
