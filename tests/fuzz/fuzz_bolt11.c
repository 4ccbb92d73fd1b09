/* BOLT 11: any bytes through the amount parser and the full parser.
 * Nothing may crash; a rejection must say why; an accepted amount is
 * within 21 million bitcoin and both parsers agree on it. */
#include "hearth/bolt11.h"
#include "hearth/error.h"
#include "hearth/meter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *why = NULL;
    uint64_t msat = 0;
    int has = 0;
    hearth_bolt11 b;
    int rc = hearth_bolt11_amount(s, size, &msat, &has, &why);
    if (rc != HEARTH_OK && (!why || !*why))
        abort();
    if (rc == HEARTH_OK && (msat > HEARTH_MSAT_MAX || (!has && msat)))
        abort();
    why = NULL;
    int rc2 = hearth_bolt11_parse(s, size, &b, &why);
    if (rc2 != HEARTH_OK && (!why || !*why))
        abort();
    if (rc2 == HEARTH_OK &&
        (rc != HEARTH_OK || b.amount_msat != msat || b.has_amount != has))
        abort();
    return 0;
}
