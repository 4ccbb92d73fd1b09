/* Event parser: any bytes must parse or be rejected with a reason, and a
 * parsed event must serialize and re-parse to the same canonical form. */
#include "hearth/event.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hearth_event *ev = NULL;
    const char *why = NULL;
    if (hearth_event_parse((const char *)data, size, HEARTH_PARSE_UNSIGNED,
                           &ev, &why) != 0) {
        if (!why)
            abort();
        return 0;
    }
    hearth_buf a = HEARTH_BUF_INIT, b = HEARTH_BUF_INIT, c = HEARTH_BUF_INIT;
    hearth_event_to_json(ev, &a);
    hearth_event *ev2 = NULL;
    if (hearth_event_parse(a.p, a.len, HEARTH_PARSE_UNSIGNED, &ev2, &why))
        abort(); /* our own output must always parse */
    hearth_event_serialize(ev, &b);
    hearth_event_serialize(ev2, &c);
    if (b.len != c.len || memcmp(b.p, c.p, b.len))
        abort();
    hearth_event_verify(ev, &why);
    hearth_buf_free(&a);
    hearth_buf_free(&b);
    hearth_buf_free(&c);
    hearth_event_free(ev);
    hearth_event_free(ev2);
    return 0;
}
