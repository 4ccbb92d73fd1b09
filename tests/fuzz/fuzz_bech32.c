/* bech32 and NIP-19 decoders: any bytes must decode or be rejected (NIP-19
 * with a reason); whatever decodes must re-encode, and the re-encoding must
 * decode to the same thing. Generic bech32 is canonical, so there the
 * re-encoding must also equal the lowercased input byte for byte. */
#include "hearth/nip19.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_bech32(const char *s, size_t n)
{
    char hrp[84], hrp2[84];
    hearth_buf d = HEARTH_BUF_INIT, e = HEARTH_BUF_INIT, d2 = HEARTH_BUF_INIT;
    if (hearth_bech32_decode(s, n, hrp, &d) == 0) {
        if (hearth_bech32_encode(hrp, (const uint8_t *)d.p, d.len, &e))
            abort(); /* a decodable hrp and payload must encode */
        if (e.len != n)
            abort();
        for (size_t i = 0; i < n; i++) {
            char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
            if (e.p[i] != c)
                abort();
        }
        if (hearth_bech32_decode(e.p, e.len, hrp2, &d2) || strcmp(hrp, hrp2) ||
            d.len != d2.len || memcmp(d.p, d2.p, d.len))
            abort();
    }
    hearth_buf_free(&d);
    hearth_buf_free(&e);
    hearth_buf_free(&d2);
}

static int same(const hearth_nip19 *a, const hearth_nip19 *b)
{
    if (a->type != b->type || memcmp(a->data, b->data, 32) ||
        a->has_author != b->has_author || a->has_kind != b->has_kind ||
        memcmp(a->author, b->author, 32) || a->kind != b->kind ||
        a->nrelays != b->nrelays || a->identifier_len != b->identifier_len)
        return 0;
    for (size_t i = 0; i < a->nrelays; i++)
        if (strcmp(a->relays[i], b->relays[i]))
            return 0;
    if (!a->identifier != !b->identifier)
        return 0;
    return !a->identifier ||
           !memcmp(a->identifier, b->identifier, a->identifier_len);
}

/* The 32-byte shortcut must agree with the full decoder. */
static void check_decode32(const char *s, size_t n, const hearth_nip19 *x,
                           int decoded)
{
    static const char *const hrps[] = {"npub", "nsec", "note"};
    char *z;
    if (memchr(s, 0, n) || !(z = malloc(n + 1)))
        return;
    memcpy(z, s, n);
    z[n] = '\0';
    for (int t = 0; t < 3; t++) {
        uint8_t out[32];
        if (hearth_nip19_decode32(z, hrps[t], out) != 0)
            continue;
        if (!decoded || (int)x->type != t || memcmp(out, x->data, 32))
            abort();
    }
    free(z);
}

static void check_nip19(const char *s, size_t n)
{
    hearth_nip19 x, y;
    const char *why = NULL;
    hearth_buf e = HEARTH_BUF_INIT, e2 = HEARTH_BUF_INIT;
    int rc = hearth_nip19_decode(s, n, &x, &why);
    check_decode32(s, n, &x, rc == 0);
    if (rc) {
        if (!why)
            abort();
        return;
    }
    /* re-encoding drops skipped TLV items, so it never grows */
    if (hearth_nip19_encode(&x, &e))
        abort();
    if (hearth_nip19_decode(e.p, e.len, &y, &why) || !same(&x, &y))
        abort();
    if (hearth_nip19_encode(&y, &e2) || e.len != e2.len ||
        memcmp(e.p, e2.p, e.len))
        abort();
    hearth_nip19_clear(&x);
    hearth_nip19_clear(&y);
    hearth_buf_free(&e);
    hearth_buf_free(&e2);
}

/* Random strings almost never carry a valid checksum, so also treat the
 * input as a payload: the first byte picks the prefix, and the rest goes
 * through the encoder into the TLV parser. */
static void check_payload(const uint8_t *data, size_t size)
{
    static const char *const hrps[] = {"npub", "nsec", "note", "nprofile",
                                       "nevent", "naddr"};
    hearth_buf s = HEARTH_BUF_INIT;
    if (size == 0)
        return;
    if (hearth_bech32_encode(hrps[data[0] % 6], data + 1, size - 1, &s) == 0)
        check_nip19(s.p, s.len);
    hearth_buf_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_bech32((const char *)data, size);
    check_nip19((const char *)data, size);
    check_payload(data, size);
    return 0;
}
