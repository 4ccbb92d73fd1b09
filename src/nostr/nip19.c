/* Bech32 (BIP-173) and the NIP-19 entities built on it.
 *
 * Decoding works on fixed stack arrays sized by HEARTH_NIP19_MAX_LEN rather
 * than the heap: nsec payloads pass through here, and a stack buffer can be
 * wiped before it goes out of scope without leaving copies in freed blocks. */
#include "hearth/nip19.h"
#include "hearth/utf8.h"
#include "hearth/error.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(code, reason)      \
    do {                        \
        *why = (reason);        \
        return (code);          \
    } while (0)

#define HRP_MAX 83u
#define CHECKSUM_LEN 6u
/* most 8-bit bytes a string of HEARTH_NIP19_MAX_LEN characters can carry */
#define MAX_BYTES (HEARTH_NIP19_MAX_LEN * 5u / 8u)
/* polymod result of a bech32m checksum: recognised only to say so */
#define BECH32M_CONST 0x2bc830a3u

/* the reason strings spell these bounds out */
_Static_assert(HEARTH_NIP19_MAX_LEN == 5000 && HEARTH_NIP19_MAX_RELAYS == 16,
               "update the reasons in nip19.c");

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t polymod_step(uint32_t chk, unsigned v)
{
    static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa,
                                    0x3d4233dd, 0x2a1462b3};
    uint32_t top = chk >> 25;
    chk = (chk & 0x1ffffff) << 5 ^ v;
    for (int i = 0; i < 5; i++)
        if (top >> i & 1)
            chk ^= gen[i];
    return chk;
}

/* checksum state after the expanded hrp: high bits, a zero, low bits */
static uint32_t hrp_polymod(const char *hrp, size_t n)
{
    uint32_t chk = 1;
    for (size_t i = 0; i < n; i++)
        chk = polymod_step(chk, (unsigned char)hrp[i] >> 5);
    chk = polymod_step(chk, 0);
    for (size_t i = 0; i < n; i++)
        chk = polymod_step(chk, (unsigned char)hrp[i] & 31);
    return chk;
}

/* 5-bit value of a (lowercase) data character, -1 if not in the alphabet */
static int char_value(char c)
{
    const char *p = c ? strchr(charset, c) : NULL;
    return p ? (int)(p - charset) : -1;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Characters must be printable US-ASCII and not mix cases (BIP-173). */
static int check_chars(const char *s, size_t len, const char **why)
{
    int upper = 0, low = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126)
            FAIL(HEARTH_EINVAL, "invalid: bech32 character out of range");
        upper |= c >= 'A' && c <= 'Z';
        low |= c >= 'a' && c <= 'z';
    }
    if (upper && low)
        FAIL(HEARTH_EINVAL, "invalid: bech32 string mixes upper and lower "
                            "case");
    return HEARTH_OK;
}

/* Data characters (checksum excluded) to 8-bit bytes. Padding may be at
 * most 4 zero bits: anything else means the string was not produced by
 * encoding whole bytes. */
static int regroup(const char *d, size_t nd, uint8_t *out, size_t *n,
                   const char **why)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    *n = 0;
    for (size_t i = 0; i < nd; i++) {
        acc = (acc << 5 | (uint32_t)char_value(lower(d[i]))) & 0xfff;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[(*n)++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits >= 5)
        FAIL(HEARTH_EINVAL, "invalid: bech32 padding longer than 4 bits");
    if (acc & ((1u << bits) - 1))
        FAIL(HEARTH_EINVAL, "invalid: bech32 padding bits are not zero");
    return HEARTH_OK;
}

/* Full BIP-173 decode into hrp (lowercased) and out (MAX_BYTES room). */
static int decode_core(const char *s, size_t len, char hrp[HRP_MAX + 1],
                       uint8_t *out, size_t *n, const char **why)
{
    if (len > HEARTH_NIP19_MAX_LEN)
        FAIL(HEARTH_ETOOBIG, "invalid: bech32 string longer than 5000 "
                             "characters");
    int rc = check_chars(s, len, why);
    if (rc)
        return rc;
    size_t sep = len;
    while (sep > 0 && s[sep - 1] != '1')
        sep--;
    if (sep == 0)
        FAIL(HEARTH_EINVAL, "invalid: bech32 separator '1' missing");
    sep--; /* the hrp may itself contain '1': the last one separates */
    if (sep == 0)
        FAIL(HEARTH_EINVAL, "invalid: bech32 prefix (hrp) is empty");
    if (sep > HRP_MAX)
        FAIL(HEARTH_EINVAL, "invalid: bech32 prefix longer than 83 "
                            "characters");
    size_t nd = len - sep - 1;
    if (nd < CHECKSUM_LEN)
        FAIL(HEARTH_EINVAL, "invalid: bech32 checksum too short");
    for (size_t i = 0; i < sep; i++)
        hrp[i] = lower(s[i]);
    hrp[sep] = '\0';
    uint32_t chk = hrp_polymod(hrp, sep);
    for (size_t i = sep + 1; i < len; i++) {
        int v = char_value(lower(s[i]));
        if (v < 0)
            FAIL(HEARTH_EINVAL, "invalid: bech32 data character outside "
                                "the bech32 alphabet");
        chk = polymod_step(chk, (unsigned)v);
    }
    if (chk == BECH32M_CONST)
        FAIL(HEARTH_EINVAL, "invalid: bech32m checksum (NIP-19 uses "
                            "bech32)");
    if (chk != 1)
        FAIL(HEARTH_EINVAL, "invalid: bad bech32 checksum");
    return regroup(s + sep + 1, nd - CHECKSUM_LEN, out, n, why);
}

int hearth_bech32_decode(const char *s, size_t len, char hrp[84],
                         hearth_buf *data)
{
    uint8_t bytes[MAX_BYTES];
    size_t n = 0;
    const char *why;
    int rc = decode_core(s, len, hrp, bytes, &n, &why);
    if (rc == HEARTH_OK)
        rc = hearth_buf_add(data, bytes, n);
    sodium_memzero(bytes, n);
    return rc;
}

/* 1..83 printable characters, lowercase (encoders must output lowercase,
 * and the checksum covers the hrp as written) */
static int hrp_valid(const char *hrp, size_t n)
{
    if (n == 0 || n > HRP_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)hrp[i];
        if (c < 33 || c > 126 || (c >= 'A' && c <= 'Z'))
            return 0;
    }
    return 1;
}

int hearth_bech32_encode(const char *hrp, const uint8_t *data, size_t n,
                         hearth_buf *out)
{
    size_t hlen = strlen(hrp);
    if (!hrp_valid(hrp, hlen))
        return HEARTH_EINVAL;
    /* refuse what our own decoder would refuse */
    if (n > MAX_BYTES ||
        hlen + 1 + (n * 8 + 4) / 5 + CHECKSUM_LEN > HEARTH_NIP19_MAX_LEN)
        return HEARTH_ETOOBIG;
    uint32_t chk = hrp_polymod(hrp, hlen);
    uint32_t acc = 0;
    unsigned bits = 0;
    hearth_buf_add(out, hrp, hlen);
    hearth_buf_addc(out, '1');
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8 | data[i]) & 0xfff;
        for (bits += 8; bits >= 5;) {
            bits -= 5;
            unsigned v = acc >> bits & 31;
            chk = polymod_step(chk, v);
            hearth_buf_addc(out, charset[v]);
        }
    }
    if (bits) {
        unsigned v = acc << (5 - bits) & 31;
        chk = polymod_step(chk, v);
        hearth_buf_addc(out, charset[v]);
    }
    for (unsigned i = 0; i < CHECKSUM_LEN; i++)
        chk = polymod_step(chk, 0);
    chk ^= 1;
    for (unsigned i = 0; i < CHECKSUM_LEN; i++)
        hearth_buf_addc(out, charset[chk >> 5 * (CHECKSUM_LEN - 1 - i) & 31]);
    return hearth_buf_error(out);
}

static const char *const type_hrps[] = {
    [HEARTH_NIP19_NPUB] = "npub",         [HEARTH_NIP19_NSEC] = "nsec",
    [HEARTH_NIP19_NOTE] = "note",         [HEARTH_NIP19_NPROFILE] = "nprofile",
    [HEARTH_NIP19_NEVENT] = "nevent",     [HEARTH_NIP19_NADDR] = "naddr",
};
#define NTYPES (sizeof type_hrps / sizeof type_hrps[0])

static const char *type_hrp(hearth_nip19_type t)
{
    return (unsigned)t < NTYPES ? type_hrps[t] : NULL;
}

static int type_of(const char *hrp, hearth_nip19_type *t)
{
    for (unsigned i = 0; i < NTYPES; i++)
        if (!strcmp(hrp, type_hrps[i])) {
            *t = (hearth_nip19_type)i;
            return 1;
        }
    return 0;
}

static int is_bare(hearth_nip19_type t)
{
    return t == HEARTH_NIP19_NPUB || t == HEARTH_NIP19_NSEC ||
           t == HEARTH_NIP19_NOTE;
}


static int relay_valid(const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 33 || p[i] > 126)
            return 0;
    return 1;
}

static char *dup_bytes(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static int add_relay(hearth_nip19 *x, const uint8_t *v, size_t l,
                     const char **why)
{
    if (!relay_valid(v, l))
        FAIL(HEARTH_EINVAL, "invalid: TLV relay is empty or not printable "
                            "ASCII");
    if (x->nrelays == HEARTH_NIP19_MAX_RELAYS)
        FAIL(HEARTH_ETOOBIG, "invalid: more than 16 TLV relays");
    if (!(x->relays[x->nrelays] = dup_bytes(v, l)))
        FAIL(HEARTH_ENOMEM, "error: out of memory");
    x->nrelays++;
    return HEARTH_OK;
}

static int set_special(hearth_nip19 *x, const uint8_t *v, size_t l,
                       const char **why)
{
    if (x->type != HEARTH_NIP19_NADDR) {
        if (l != 32)
            FAIL(HEARTH_EINVAL, x->type == HEARTH_NIP19_NPROFILE
                                    ? "invalid: nprofile pubkey (TLV 0) is "
                                      "not 32 bytes"
                                    : "invalid: nevent id (TLV 0) is not 32 "
                                      "bytes");
        memcpy(x->data, v, 32);
        return HEARTH_OK;
    }
    if (!hearth_utf8_valid((const char *)v, l))
        FAIL(HEARTH_EINVAL, "invalid: naddr identifier (TLV 0) is not "
                            "UTF-8");
    if (!(x->identifier = dup_bytes(v, l)))
        FAIL(HEARTH_ENOMEM, "error: out of memory");
    x->identifier_len = l;
    return HEARTH_OK;
}

/* One TLV item. Types a prefix does not define are skipped, as NIP-19
 * asks, so newer encoders stay readable. */
static int tlv_item(hearth_nip19 *x, unsigned t, const uint8_t *v, size_t l,
                    unsigned *seen, const char **why)
{
    static const char *const twice[4] = {
        "invalid: TLV 0 (special) appears twice", NULL,
        "invalid: TLV 2 (author) appears twice",
        "invalid: TLV 3 (kind) appears twice"};
    if (t > 3 || (x->type == HEARTH_NIP19_NPROFILE && t > 1))
        return HEARTH_OK;
    if (t != 1 && (*seen & 1u << t))
        FAIL(HEARTH_EINVAL, twice[t]);
    *seen |= 1u << t;
    switch (t) {
    case 0:
        return set_special(x, v, l, why);
    case 1:
        return add_relay(x, v, l, why);
    case 2:
        if (l != 32)
            FAIL(HEARTH_EINVAL, "invalid: TLV author is not 32 bytes");
        memcpy(x->author, v, 32);
        x->has_author = 1;
        return HEARTH_OK;
    default:
        if (l != 4)
            FAIL(HEARTH_EINVAL, "invalid: TLV kind is not 4 bytes");
        x->kind = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
                  (uint32_t)v[2] << 8 | v[3];
        x->has_kind = 1;
        return HEARTH_OK;
    }
}

static int check_required(const hearth_nip19 *x, unsigned seen,
                          const char **why)
{
    if (x->type == HEARTH_NIP19_NPROFILE && !(seen & 1))
        FAIL(HEARTH_EINVAL, "invalid: nprofile has no pubkey (TLV 0)");
    if (x->type == HEARTH_NIP19_NEVENT && !(seen & 1))
        FAIL(HEARTH_EINVAL, "invalid: nevent has no event id (TLV 0)");
    if (x->type != HEARTH_NIP19_NADDR)
        return HEARTH_OK;
    if (!(seen & 1))
        FAIL(HEARTH_EINVAL, "invalid: naddr has no identifier (TLV 0)");
    if (!(seen & 4))
        FAIL(HEARTH_EINVAL, "invalid: naddr has no author (TLV 2)");
    if (!(seen & 8))
        FAIL(HEARTH_EINVAL, "invalid: naddr has no kind (TLV 3)");
    return HEARTH_OK;
}

static int parse_tlv(const uint8_t *p, size_t n, hearth_nip19 *x,
                     const char **why)
{
    unsigned seen = 0;
    size_t i = 0;
    while (i < n) {
        if (n - i < 2)
            FAIL(HEARTH_EINVAL, "invalid: truncated TLV header");
        size_t l = p[i + 1];
        if (n - i - 2 < l)
            FAIL(HEARTH_EINVAL, "invalid: TLV value runs past the end");
        int rc = tlv_item(x, p[i], p + i + 2, l, &seen, why);
        if (rc)
            return rc;
        i += 2 + l;
    }
    return check_required(x, seen, why);
}

static int parse_entity(const char *hrp, const uint8_t *p, size_t n,
                        hearth_nip19 *x, const char **why)
{
    if (!type_of(hrp, &x->type))
        FAIL(HEARTH_EINVAL, "invalid: unknown NIP-19 prefix (expected npub, "
                            "nsec, note, nprofile, nevent or naddr)");
    if (!is_bare(x->type))
        return parse_tlv(p, n, x, why);
    if (n != 32)
        FAIL(HEARTH_EINVAL, "invalid: npub, nsec and note must hold 32 "
                            "bytes");
    memcpy(x->data, p, 32);
    return HEARTH_OK;
}

int hearth_nip19_decode(const char *s, size_t len, hearth_nip19 *out,
                        const char **why)
{
    const char *dummy;
    char hrp[HRP_MAX + 1];
    uint8_t bytes[MAX_BYTES];
    size_t n = 0;
    if (!why)
        why = &dummy;
    memset(out, 0, sizeof *out);
    int rc = decode_core(s, len, hrp, bytes, &n, why);
    if (rc == HEARTH_OK)
        rc = parse_entity(hrp, bytes, n, out, why);
    sodium_memzero(bytes, n);
    if (rc)
        hearth_nip19_clear(out);
    return rc;
}

void hearth_nip19_clear(hearth_nip19 *x)
{
    for (size_t i = 0; i < x->nrelays && i < HEARTH_NIP19_MAX_RELAYS; i++)
        free(x->relays[i]);
    free(x->identifier);
    sodium_memzero(x, sizeof *x); /* data may hold a secret key */
}

/* Appends one TLV item to p (room for MAX_BYTES). */
static int put_tlv(uint8_t *p, size_t *n, unsigned t, const void *v,
                   size_t l)
{
    if (l > 255)
        return HEARTH_EINVAL;
    if (MAX_BYTES - *n < 2 + l)
        return HEARTH_ETOOBIG;
    p[(*n)++] = (uint8_t)t;
    p[(*n)++] = (uint8_t)l;
    if (l)
        memcpy(p + *n, v, l);
    *n += l;
    return HEARTH_OK;
}

/* The special item, then relays, author and kind: the order NIP-19
 * implementations emit, though decoders must not depend on it. */
static int build_tlv(const hearth_nip19 *in, uint8_t *p, size_t *n)
{
    int naddr = in->type == HEARTH_NIP19_NADDR;
    int rc;
    if (in->nrelays > HEARTH_NIP19_MAX_RELAYS)
        return HEARTH_EINVAL;
    if (naddr) {
        if (!in->has_author || !in->has_kind ||
            (!in->identifier && in->identifier_len) ||
            (in->identifier &&
             !hearth_utf8_valid(in->identifier,
                         in->identifier_len)))
            return HEARTH_EINVAL;
        rc = put_tlv(p, n, 0, in->identifier, in->identifier_len);
    } else {
        rc = put_tlv(p, n, 0, in->data, 32);
    }
    for (size_t i = 0; rc == HEARTH_OK && i < in->nrelays; i++) {
        const char *r = in->relays[i];
        size_t l = r ? strlen(r) : 0;
        if (!relay_valid((const uint8_t *)r, l))
            return HEARTH_EINVAL;
        rc = put_tlv(p, n, 1, r, l);
    }
    if (in->type == HEARTH_NIP19_NPROFILE || rc)
        return rc;
    if (in->has_author)
        rc = put_tlv(p, n, 2, in->author, 32);
    if (in->has_kind && rc == HEARTH_OK) {
        uint8_t k[4] = {(uint8_t)(in->kind >> 24), (uint8_t)(in->kind >> 16),
                        (uint8_t)(in->kind >> 8), (uint8_t)in->kind};
        rc = put_tlv(p, n, 3, k, 4);
    }
    return rc;
}

int hearth_nip19_encode(const hearth_nip19 *in, hearth_buf *out)
{
    const char *hrp = type_hrp(in->type);
    uint8_t tlv[MAX_BYTES];
    size_t n = 0;
    if (!hrp)
        return HEARTH_EINVAL;
    if (is_bare(in->type))
        return hearth_bech32_encode(hrp, in->data, 32, out);
    int rc = build_tlv(in, tlv, &n);
    if (rc == HEARTH_OK)
        rc = hearth_bech32_encode(hrp, tlv, n, out);
    return rc;
}

int hearth_nip19_encode32(const char *hrp, const uint8_t in[32],
                          hearth_buf *out)
{
    hearth_nip19_type t;
    if (!type_of(hrp, &t) || !is_bare(t))
        return HEARTH_EINVAL;
    return hearth_bech32_encode(hrp, in, 32, out);
}

int hearth_nip19_decode32(const char *s, const char *hrp, uint8_t out[32])
{
    char got[HRP_MAX + 1];
    uint8_t bytes[MAX_BYTES];
    size_t n = 0;
    const char *why;
    int rc = decode_core(s, strnlen(s, HEARTH_NIP19_MAX_LEN + 1), got, bytes,
                         &n, &why);
    if (rc == HEARTH_OK && (strcmp(got, hrp) != 0 || n != 32))
        rc = HEARTH_EINVAL;
    if (rc == HEARTH_OK)
        memcpy(out, bytes, 32);
    sodium_memzero(bytes, n);
    return rc;
}
