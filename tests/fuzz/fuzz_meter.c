/* Settlement events: any bytes that parse as an event go through the
 * metering-note and receipt parsers. Nothing may crash or leak; a
 * rejection must say why; an accepted note or receipt must hold its
 * bounds, build back into an event that parses to the same struct, and
 * survive the customer's checks and the receipt built for it. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/meter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1700000000LL

static void note_bounds(const hearth_meter_note *n)
{
    if (n->seq == 0 || n->amount_msat > HEARTH_MSAT_MAX ||
        (n->has_quote && n->quote_msat > HEARTH_MSAT_MAX) ||
        (n->has_output && !n->final) ||
        (n->rail != HEARTH_RAIL_CREDIT && n->rail != HEARTH_RAIL_LIGHTNING) ||
        (n->bolt11[0] && n->rail != HEARTH_RAIL_LIGHTNING) ||
        strlen(n->bolt11) > HEARTH_METER_BOLT11_MAX ||
        strlen(n->offer) > HEARTH_METER_ADDR_MAX)
        abort();
}

/* rebuild, reparse, compare; then the customer's side */
static void note_again(const hearth_meter_note *n, int64_t t)
{
    hearth_event *ev = NULL;
    hearth_meter_note back;
    const char *why = NULL;
    if (hearth_meter_note_to_event(n, t, &ev, &why) != HEARTH_OK)
        abort();
    /* the rebuilt event is unsigned: the offer's pubkey goes unchecked */
    if (hearth_meter_note_from_event(ev, t, &back, &why) != HEARTH_OK ||
        back.seq != n->seq || back.amount_msat != n->amount_msat ||
        memcmp(&back.usage, &n->usage, sizeof back.usage) ||
        memcmp(&back.price, &n->price, sizeof back.price) ||
        strcmp(back.bolt11, n->bolt11) || strcmp(back.offer, n->offer))
        abort();
    hearth_event_free(ev);

    hearth_dispute d = HEARTH_DISPUTE_NONE;
    int rc = hearth_meter_check_note(n, HEARTH_METER_NO_QUOTE, &n->price,
                                     NULL, &d, &why);
    if ((rc == HEARTH_OK) != (d == HEARTH_DISPUTE_NONE) || !why)
        abort();
    rc = hearth_meter_check_output(n, n->output_sha256, &d, &why);
    if ((rc == HEARTH_OK) != (d == HEARTH_DISPUTE_NONE))
        abort();
    hearth_receipt r;
    hearth_receipt_for(n, d, &r);
    if (!hearth_receipt_matches(&r, n) ||
        hearth_receipt_to_event(&r, t, &ev, &why) != HEARTH_OK)
        abort();
    hearth_event_free(ev);
    if (hearth_meter_note_follows(n, n, &why) == HEARTH_OK ||
        hearth_meter_note_supersedes(n, n))
        abort();
}

static void receipt_again(const hearth_receipt *r, int64_t t)
{
    hearth_event *ev = NULL;
    hearth_receipt back;
    const char *why = NULL;
    if ((r->status == HEARTH_RECEIPT_ACCEPT) !=
            (r->reason == HEARTH_DISPUTE_NONE) ||
        strlen(r->text) > HEARTH_RECEIPT_TEXT_MAX ||
        (r->has_paid && !r->has_preimage) ||
        (r->has_preimage && r->rail != HEARTH_RAIL_LIGHTNING))
        abort();
    if (hearth_receipt_to_event(r, t, &ev, &why) != HEARTH_OK ||
        hearth_receipt_from_event(ev, t, &back, &why) != HEARTH_OK ||
        back.status != r->status || back.reason != r->reason ||
        back.amount_msat != r->amount_msat || strcmp(back.text, r->text))
        abort();
    hearth_event_free(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hearth_event *ev = NULL;
    if (hearth_event_parse((const char *)data, size, 0, &ev, NULL) !=
        HEARTH_OK)
        return 0;
    /* "now" follows the event, so the future-skew rule does not hide the
     * rest of the parser from the fuzzer */
    int64_t t = ev->created_at;
    hearth_meter_note n;
    const char *why = NULL;
    int rc = hearth_meter_note_from_event(ev, t, &n, &why);
    if (rc != HEARTH_OK && (!why || strncmp(why, "invalid: ", 9)))
        abort();
    if (rc == HEARTH_OK) {
        note_bounds(&n);
        note_again(&n, t);
    }
    hearth_receipt r;
    why = NULL;
    rc = hearth_receipt_from_event(ev, t, &r, &why);
    if (rc != HEARTH_OK && (!why || strncmp(why, "invalid: ", 9)))
        abort();
    if (rc == HEARTH_OK)
        receipt_again(&r, t);
    hearth_event_free(ev);
    return 0;
}
