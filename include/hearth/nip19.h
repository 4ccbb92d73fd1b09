/* Bech32 (BIP-173) and NIP-19 entities: npub, nsec, note (bare 32 bytes)
 * and the TLV entities nprofile, nevent, naddr. */
#ifndef HEARTH_NIP19_H
#define HEARTH_NIP19_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"

/* NIP-19 strings are not limited to BIP-173's 90 characters (TLV entities
 * with relays are longer); we accept up to this many characters. */
#define HEARTH_NIP19_MAX_LEN 5000u
#define HEARTH_NIP19_MAX_RELAYS 16u

typedef enum hearth_nip19_type {
    HEARTH_NIP19_NPUB,
    HEARTH_NIP19_NSEC,
    HEARTH_NIP19_NOTE,
    HEARTH_NIP19_NPROFILE,
    HEARTH_NIP19_NEVENT,
    HEARTH_NIP19_NADDR
} hearth_nip19_type;

typedef struct hearth_nip19 {
    hearth_nip19_type type;
    uint8_t data[32];     /* npub/nprofile: pubkey; nsec: secret key;
                             note/nevent: event id; naddr: unused */
    uint8_t author[32];   /* nevent (optional) and naddr (required) */
    int has_author;
    uint32_t kind;        /* nevent (optional) and naddr (required) */
    int has_kind;
    size_t nrelays;
    char *relays[HEARTH_NIP19_MAX_RELAYS]; /* owned, NUL-terminated */
    char *identifier;     /* naddr "d" value, owned, may be "" */
    size_t identifier_len;
} hearth_nip19;

/* Generic bech32: data is 8-bit bytes, converted to 5-bit groups here.
 * hrp must be 1..83 printable lowercase characters (HEARTH_EINVAL);
 * output longer than HEARTH_NIP19_MAX_LEN is HEARTH_ETOOBIG. */
int hearth_bech32_encode(const char *hrp, const uint8_t *data, size_t n,
                         hearth_buf *out);
/* Decodes s into hrp (lowercased, NUL-terminated, at most 83 chars + NUL)
 * and 8-bit data appended to *data. Mixed case, bad checksum (bech32m
 * included), bad padding are HEARTH_EINVAL; more than HEARTH_NIP19_MAX_LEN
 * characters is HEARTH_ETOOBIG. *data is untouched on failure. */
int hearth_bech32_decode(const char *s, size_t len, char hrp[84],
                         hearth_buf *data);

/* Encode an entity; relays/identifier/author/kind are used by the TLV
 * types as NIP-19 specifies (nprofile ignores author and kind). Relays
 * must be 1..255 printable ASCII characters, an naddr identifier at most
 * 255 bytes of UTF-8, and an naddr needs has_author and has_kind: else
 * HEARTH_EINVAL. */
int hearth_nip19_encode(const hearth_nip19 *in, hearth_buf *out);
/* Decode any entity; unknown TLV types are skipped as NIP-19 requires.
 * On success the caller must hearth_nip19_clear(out); on failure *out
 * holds nothing and *why (if given) names the problem. */
int hearth_nip19_decode(const char *s, size_t len, hearth_nip19 *out,
                        const char **why);
void hearth_nip19_clear(hearth_nip19 *x);

/* Shortcuts for the bare 32-byte entities ("npub", "nsec", "note");
 * decode32 fails unless s carries exactly that prefix and 32 bytes. */
int hearth_nip19_encode32(const char *hrp, const uint8_t in[32],
                          hearth_buf *out);
int hearth_nip19_decode32(const char *s, const char *hrp, uint8_t out[32]);

#endif
