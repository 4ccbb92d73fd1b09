/* Event parser: any bytes must parse or be rejected with a reason; a parsed
 * event must serialize and re-parse to the same canonical form; and the
 * single-pass parser must agree with the jansson path that messages use
 * (same verdict, same event) on every input. */
#include "hearth/event.h"
#include "nostr/json_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void same_event(const hearth_event *a, const hearth_event *b)
{
    hearth_buf x = HEARTH_BUF_INIT, y = HEARTH_BUF_INIT;
    hearth_event_to_json(a, &x);
    hearth_event_to_json(b, &y);
    if (x.len != y.len || memcmp(x.p, y.p, x.len) || a->has != b->has)
        abort();
    hearth_buf_free(&x);
    hearth_buf_free(&y);
}

/* the jansson path: only compared when the input is valid JSON at all,
 * since the two report different first errors on broken JSON */
static void differential(const uint8_t *data, size_t size, int fast_rc,
                         const hearth_event *fast)
{
    const char *why = NULL;
    json_t *j = hearth_json_load((const char *)data, size,
                                 HEARTH_EVENT_MAX_JSON, &why);
    if (!j)
        return;
    hearth_event *slow = NULL;
    int slow_rc = hearth_event_from_json(j, HEARTH_PARSE_UNSIGNED, size,
                                         &slow, &why);
    json_decref(j);
    if ((slow_rc == 0) != (fast_rc == 0))
        abort();
    if (slow && fast)
        same_event(fast, slow);
    hearth_event_free(slow);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hearth_event *ev = NULL;
    const char *why = NULL;
    int rc = hearth_event_parse((const char *)data, size,
                                HEARTH_PARSE_UNSIGNED, &ev, &why);
    differential(data, size, rc, ev);
    if (rc != 0) {
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
