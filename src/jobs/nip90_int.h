/* Helpers shared by the NIP-90 request and reply code (nip90*.c). Internal
 * to libhearth. */
#ifndef HEARTH_NIP90_INT_H
#define HEARTH_NIP90_INT_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"
#include "hearth/event.h"

struct hearth_arena;

/* Arena block size: most requests fit in one block. */
#define HEARTH_NIP90_ARENA_HINT 4096u

#define HEARTH_NIP90_OOM "error: out of memory"

/* 64 lowercase hex characters into 32 bytes: HEARTH_OK or HEARTH_EINVAL. */
int hearth_nip90_hex32(const hearth_str *s, uint8_t out[32]);
/* Decimal uint64 (digits only, no sign, no overflow). */
int hearth_nip90_u64(const hearth_str *s, uint64_t *v);
/* Short text value: at most max bytes and no NUL (it goes to a const char *
 * API where a NUL would silently cut it). HEARTH_OK or HEARTH_EINVAL. */
int hearth_nip90_text(const hearth_str *s, size_t max);
/* Whether two strings are equal / v equals the C string s. */
int hearth_nip90_is(const hearth_str *v, const char *s);
/* 1 if the tag list has an ["encrypted"] tag. */
int hearth_nip90_has_encrypted(const hearth_tag *tags, size_t n);
/* First tag named name in tags[0..n), NULL if none. */
const hearth_tag *hearth_nip90_find(const hearth_tag *tags, size_t n,
                                    const char *name);
/* Copy into the arena (NUL-terminated); NULL on allocation failure. */
char *hearth_nip90_dup(struct hearth_arena **a, const char *p, size_t n);

/* Encrypt pt[0..n) from sk to pk with enc (HEARTH_NIP90_NIP04 or _NIP44),
 * appending the payload to out. */
int hearth_nip90_encrypt(int enc, const uint8_t sk[32], const uint8_t pk[32],
                         const char *pt, size_t n, hearth_buf *out);
/* Decrypt payload with sk and the peer's pk, telling the scheme by the
 * "?iv=" that only NIP-04 payloads hold (base64 never has '?'). *enc gets
 * the scheme. Plaintexts above max are refused with HEARTH_ETOOBIG before
 * or after decrypting. Error codes as the nip04/nip44 decrypt functions. */
int hearth_nip90_decrypt(const uint8_t sk[32], const uint8_t pk[32],
                         const char *payload, size_t n, size_t max,
                         hearth_buf *out, int *enc);

/* Decode a JSON array of tags (arrays of at least one string each) into
 * arena storage. HEARTH_EINVAL if it is anything else, HEARTH_ETOOBIG with
 * more than max tags, HEARTH_ENOMEM. */
int hearth_nip90_decode_tags(const char *json, size_t n, size_t max,
                             struct hearth_arena **a, hearth_tag **tags,
                             size_t *ntags);

/* Where built tags go: onto the event (public) or into a JSON array of
 * tags that will be encrypted (private). */
typedef struct hearth_nip90_tw {
    hearth_event *ev;
    hearth_buf *json;        /* NULL: tags go to ev */
    size_t count;
} hearth_nip90_tw;

/* Starts a JSON array in json when it is given. */
int hearth_nip90_tw_init(hearth_nip90_tw *w, hearth_event *ev,
                         hearth_buf *json);
/* lens may be NULL (NUL-terminated values). */
int hearth_nip90_tw_add(hearth_nip90_tw *w, size_t n,
                        const char *const *vals, const size_t *lens);
/* Closes the JSON array. */
int hearth_nip90_tw_end(hearth_nip90_tw *w);

/* Reasons used by both requests and replies */
#define HEARTH_NIP90_WHY_DECRYPT "invalid: encrypted content does not decrypt"
#define HEARTH_NIP90_WHY_NOTAGS \
    "invalid: encrypted content is not a JSON array of tags"

#endif
