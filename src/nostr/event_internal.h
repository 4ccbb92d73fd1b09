/* Internal: pieces shared by the two event parsers (event_parse.c, the
 * single-pass hot path, and event.c's jansson path used inside messages). */
#ifndef HEARTH_EVENT_INTERNAL_H
#define HEARTH_EVENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "hearth/event.h"

enum {
    HEARTH_F_ID = 1, HEARTH_F_PUBKEY = 2, HEARTH_F_SIG = 4,
    HEARTH_F_CREATED = 8, HEARTH_F_KIND = 16, HEARTH_F_TAGS = 32,
    HEARTH_F_CONTENT = 64
};

/* the required-field rules and the "has" bits, given the fields seen */
int hearth_event_check_required(hearth_event *ev, unsigned seen,
                                unsigned flags, const char **why);

/* exactly 2*n lowercase hex digits (table driven: ids are on the hot path) */
int hearth_event_hex_decode(const char *s, size_t len, uint8_t *out, size_t n);

/* Parse one event object at the start of json; *used = bytes consumed.
 * Lets message parsers take an event out of ["EVENT", {...}] in place. */
int hearth_event_parse_span(const char *json, size_t len, unsigned flags,
                            hearth_event **out, size_t *used,
                            const char **why);

#endif
