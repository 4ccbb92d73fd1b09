/* BOLT 11: the amount of the human-readable part, the bech32 checksum and
 * the payment hash (include/hearth/bolt11.h). */
#include "hearth/bolt11.h"

#include <string.h>

#include "hearth/error.h"
#include "hearth/meter.h"

#define TIMESTAMP_CHARS 7   /* 35 bits */
#define SIGNATURE_CHARS 104 /* 520 bits: signature and recovery id */
#define CHECKSUM_CHARS 6
#define HASH_CHARS 52       /* 256 bits in 5-bit groups, padded */
#define FIELD_P 1           /* 'p': payment hash */
#define AMOUNT_DIGITS_MAX 19

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static int fail(const char **why, const char *msg)
{
    if (why)
        *why = msg;
    return HEARTH_EINVAL;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* 1 when s has no mixed case (bech32 forbids it) */
static int one_case(const char *s, size_t len)
{
    int lo = 0, up = 0;
    for (size_t i = 0; i < len; i++) {
        lo |= s[i] >= 'a' && s[i] <= 'z';
        up |= s[i] >= 'A' && s[i] <= 'Z';
    }
    return !(lo && up);
}

/* the position of the last '1' (the separator), or len */
static size_t separator(const char *s, size_t len)
{
    for (size_t i = len; i-- > 0;)
        if (s[i] == '1')
            return i;
    return len;
}

static const char *const networks[] = {"bcrt", "tbs", "bc", "tb"};

/* "ln" and a network; returns the characters used, 0 when unknown */
static size_t prefix(const char *h, size_t n, char net[5])
{
    if (n < 2 || lower(h[0]) != 'l' || lower(h[1]) != 'n')
        return 0;
    for (size_t k = 0; k < sizeof networks / sizeof *networks; k++) {
        size_t m = strlen(networks[k]), i;
        if (2 + m > n)
            continue;
        for (i = 0; i < m && lower(h[2 + i]) == networks[k][i]; i++)
            ;
        if (i == m) {
            memcpy(net, networks[k], m + 1);
            return 2 + m;
        }
    }
    return 0;
}

/* msat per unit of the multiplier (p is handled apart: 1/10 msat) */
static uint64_t unit_msat(char m)
{
    switch (m) {
    case 0: return 100000000000ULL; /* 1 BTC */
    case 'm': return 100000000ULL;
    case 'u': return 100000ULL;
    case 'n': return 100ULL;
    default: return 0;
    }
}

static int amount_of(const char *a, size_t n, uint64_t *msat,
                     const char **why)
{
    char m = 0;
    uint64_t v = 0;
    if (n && !(a[n - 1] >= '0' && a[n - 1] <= '9'))
        m = lower(a[--n]);
    if (n == 0 || n > AMOUNT_DIGITS_MAX)
        return fail(why, "invoice amount is not 1 to 19 digits");
    if (a[0] == '0')
        return fail(why, "invoice amount has a leading zero");
    for (size_t i = 0; i < n; i++) {
        if (a[i] < '0' || a[i] > '9')
            return fail(why, "invoice amount is not a decimal number");
        v = v * 10 + (uint64_t)(a[i] - '0'); /* 19 digits fit in 64 bits */
    }
    if (m == 'p') {
        if (v % 10)
            return fail(why, "invoice amount is not a whole msat");
        v /= 10;
    } else {
        uint64_t u = unit_msat(m);
        if (!u)
            return fail(why, "invoice amount has an unknown multiplier");
        if (v > HEARTH_MSAT_MAX / u)
            return fail(why, "invoice amount is above 21 million bitcoin");
        v *= u;
    }
    if (v > HEARTH_MSAT_MAX)
        return fail(why, "invoice amount is above 21 million bitcoin");
    *msat = v;
    return HEARTH_OK;
}

static int hrp_parse(const char *s, size_t len, hearth_bolt11 *out,
                     const char **why)
{
    if (!s || len > HEARTH_BOLT11_MAX)
        return fail(why, "invoice is missing or too long");
    if (!one_case(s, len))
        return fail(why, "invoice mixes upper and lower case");
    size_t sep = separator(s, len);
    if (sep == len)
        return fail(why, "invoice has no separator");
    size_t used = prefix(s, sep, out->network);
    if (!used)
        return fail(why, "not a Lightning invoice for a known network");
    if (used == sep)
        return HEARTH_OK;
    out->has_amount = 1;
    return amount_of(s + used, sep - used, &out->amount_msat, why);
}

int hearth_bolt11_amount(const char *s, size_t len, uint64_t *msat, int *has,
                         const char **why)
{
    hearth_bolt11 b;
    memset(&b, 0, sizeof b);
    int rc = hrp_parse(s, len, &b, why);
    if (rc == HEARTH_OK) {
        if (msat)
            *msat = b.amount_msat;
        if (has)
            *has = b.has_amount;
    }
    return rc;
}

/* ---- the data part ---- */

static int value_of(char c)
{
    const char *p = c ? strchr(charset, lower(c)) : NULL;
    return p ? (int)(p - charset) : -1;
}

static uint32_t polymod_step(uint32_t chk, int v)
{
    static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa,
                                    0x3d4233dd, 0x2a1462b3};
    uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ (uint32_t)v;
    for (int i = 0; i < 5; i++)
        if ((top >> i) & 1)
            chk ^= gen[i];
    return chk;
}

static int checksum_ok(const char *s, size_t sep, const uint8_t *d,
                       size_t nd)
{
    uint32_t chk = 1;
    for (size_t i = 0; i < sep; i++)
        chk = polymod_step(chk, (unsigned char)lower(s[i]) >> 5);
    chk = polymod_step(chk, 0);
    for (size_t i = 0; i < sep; i++)
        chk = polymod_step(chk, (unsigned char)lower(s[i]) & 31);
    for (size_t i = 0; i < nd; i++)
        chk = polymod_step(chk, d[i]);
    return chk == 1;
}

static void hash_of(const uint8_t *d, uint8_t out[32])
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < HASH_CHARS && n < 32; i++) {
        acc = (acc << 5) | d[i];
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
}

/* the tagged fields between the timestamp and the signature */
static int fields(const uint8_t *d, size_t end, hearth_bolt11 *out,
                  const char **why)
{
    size_t i = TIMESTAMP_CHARS;
    while (i < end) {
        if (end - i < 3)
            return fail(why, "invoice field is cut short");
        size_t type = d[i], flen = (size_t)d[i + 1] << 5 | d[i + 2];
        i += 3;
        if (flen > end - i)
            return fail(why, "invoice field runs past the signature");
        if (type == FIELD_P && flen == HASH_CHARS) {
            if (out->has_payment_hash)
                return fail(why, "invoice has two payment hashes");
            hash_of(d + i, out->payment_hash);
            out->has_payment_hash = 1;
        }
        i += flen;
    }
    return HEARTH_OK;
}

int hearth_bolt11_parse(const char *s, size_t len, hearth_bolt11 *out,
                        const char **why)
{
    uint8_t d[HEARTH_BOLT11_MAX];
    if (!out)
        return fail(why, "no output");
    memset(out, 0, sizeof *out);
    int rc = hrp_parse(s, len, out, why);
    if (rc != HEARTH_OK)
        return rc;
    size_t sep = separator(s, len), nd = len - sep - 1;
    if (nd < TIMESTAMP_CHARS + SIGNATURE_CHARS + CHECKSUM_CHARS)
        return fail(why, "invoice is too short for a timestamp and a "
                         "signature");
    for (size_t i = 0; i < nd; i++) {
        int v = value_of(s[sep + 1 + i]);
        if (v < 0)
            return fail(why, "invoice has a character outside bech32");
        d[i] = (uint8_t)v;
    }
    if (!checksum_ok(s, sep, d, nd))
        return fail(why, "invoice checksum is wrong");
    return fields(d, nd - CHECKSUM_CHARS - SIGNATURE_CHARS, out, why);
}
