/* NIP-49 decoder: any bytes must decrypt or be refused with a reason, and
 * never run scrypt above log_n 10 (the bound is the fuzz-mode parameter of
 * hearth_nip49_decrypt_ex, so a run stays fast). Random strings rarely
 * carry a valid checksum, so the input is also encoded as a payload. */
#include "hearth/error.h"
#include "hearth/nip19.h"
#include "hearth/nip49.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_LOG_N 10u

static void check(const char *s, size_t n)
{
    uint8_t sk[32], log_n = 0, ks = 0;
    const char *why = NULL;
    int rc = hearth_nip49_decrypt_ex(s, n, "nostr", FUZZ_MAX_LOG_N, sk,
                                     &log_n, &ks, &why);
    if (rc == HEARTH_OK && (log_n == 0 || log_n > FUZZ_MAX_LOG_N || ks > 2))
        abort();
    if (rc != HEARTH_OK && !why)
        abort();
    int irc = hearth_nip49_inspect(s, n, NULL, NULL, &why);
    if (rc == HEARTH_OK && irc != HEARTH_OK)
        abort(); /* what decrypts must pass the structural check */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hearth_buf s = HEARTH_BUF_INIT;
    check((const char *)data, size);
    if (hearth_bech32_encode("ncryptsec", data, size, &s) == 0)
        check(s.p, s.len);
    hearth_buf_free(&s);
    return 0;
}
