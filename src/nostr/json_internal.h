/* Internal bridge between jansson and the Nostr types: messages contain
 * events and filters, so their parsers share these entry points. */
#ifndef HEARTH_JSON_INTERNAL_H
#define HEARTH_JSON_INTERNAL_H

#include <jansson.h>

#include "hearth/event.h"
#include "hearth/filter.h"

/* Decode with the flags every Nostr parser needs: duplicate keys rejected,
 * \u0000 allowed inside strings, nothing after the value. NULL on error
 * with *why set. */
json_t *hearth_json_load(const char *s, size_t n, size_t max,
                         const char **why);

int hearth_event_from_json(const json_t *obj, unsigned flags, size_t hint,
                           hearth_event **out, const char **why);

/* One filter object (NIP-01); see hearth_filter_parse for the rules. */
int hearth_filter_from_json(const json_t *obj, hearth_filter **out,
                            const char **why);

#endif
