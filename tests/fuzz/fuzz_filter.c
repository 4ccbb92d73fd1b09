/* Filter parser: any bytes must parse or be rejected with a reason. A
 * parsed filter must be normalized, serialize and re-parse to the same
 * JSON, and both copies must agree on matching a fixed event. */
#include "hearth/event.h"
#include "hearth/filter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static hearth_event *fixed_event(void)
{
    static hearth_event *ev;
    if (ev)
        return ev;
    if (hearth_event_new(1, 1000, "x", 1, &ev))
        abort();
    hearth_event_add_tagv(ev, "e", A64, NULL);
    hearth_event_add_tagv(ev, "t", "nostr", NULL);
    hearth_event_add_tagv(ev, "d", "", NULL);
    hearth_event_add_tagv(ev, "A", "a", "b", NULL);
    /* id and pubkey need not verify: matching only compares bytes */
    memset(ev->id, 0xaa, 32);
    memset(ev->pubkey, 0xbb, 32);
    ev->has |= HEARTH_EV_HAS_ID | HEARTH_EV_HAS_PUBKEY;
    return ev;
}

static void check_sorted(const hearth_filter *f)
{
    for (size_t i = 1; i < f->nids; i++)
        if (memcmp(f->ids[i - 1], f->ids[i], 32) >= 0)
            abort();
    for (size_t i = 1; i < f->nauthors; i++)
        if (memcmp(f->authors[i - 1], f->authors[i], 32) >= 0)
            abort();
    for (size_t i = 1; i < f->nkinds; i++)
        if (f->kinds[i - 1] >= f->kinds[i])
            abort();
    for (size_t i = 1; i < f->ntags; i++)
        if (f->tags[i - 1].name >= f->tags[i].name)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hearth_filter *f = NULL, *g = NULL;
    const char *why = NULL;
    if (hearth_filter_parse((const char *)data, size, &f, &why) != 0) {
        if (!why || f)
            abort();
        return 0;
    }
    check_sorted(f);
    hearth_buf a = HEARTH_BUF_INIT, b = HEARTH_BUF_INIT;
    if (hearth_filter_to_json(f, &a))
        abort();
    if (hearth_filter_parse(a.p, a.len, &g, &why))
        abort(); /* our own output must always parse */
    if (hearth_filter_to_json(g, &b) || a.len != b.len ||
        memcmp(a.p, b.p, a.len))
        abort();
    const hearth_event *ev = fixed_event();
    if (hearth_filter_match(f, ev) != hearth_filter_match(g, ev))
        abort();
    hearth_buf_free(&a);
    hearth_buf_free(&b);
    hearth_filter_free(f);
    hearth_filter_free(g);
    return 0;
}
