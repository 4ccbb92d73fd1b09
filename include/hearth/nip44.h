/* NIP-44 version 2 encrypted payloads, including the extended length prefix
 * of nips PR #1907: plaintexts of 1..65535 bytes carry a 2-byte big-endian
 * length, longer ones two zero bytes and then a 4-byte big-endian length.
 *
 * Output is appended to the caller's hearth_buf; on failure the buffer is
 * left as it was. The shared-secret helper below is also what NIP-04 uses. */
#ifndef HEARTH_NIP44_H
#define HEARTH_NIP44_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"

#define HEARTH_NIP44_VERSION 2

/* The protocol allows plaintexts up to 2^32-1 bytes, which would mean
 * holding ~5.7 GB of base64 plus the decoded copy in memory for a single
 * decrypt. We accept up to 16 MiB: above the largest official test vector
 * (10 MB), far above what relays carry in one event (hearth's own parser
 * stops at HEARTH_EVENT_MAX_JSON), yet a bounded ~60 MiB peak per call. */
#define HEARTH_NIP44_MAX_PLAINTEXT (16u << 20)
/* Plaintexts shorter than this use the 2-byte prefix. */
#define HEARTH_NIP44_EXTENDED_THRESHOLD 65536u

/* Unhashed x coordinate of sk * P, where P is the even-y point with x
 * coordinate pk (NIP-04 and NIP-44 both use it). HEARTH_EINVAL if sk is not
 * in [1, n-1] or pk is not the x coordinate of a curve point. */
int hearth_ecdh_x(const uint8_t sk[32], const uint8_t pk[32], uint8_t x[32]);

/* HKDF-extract(salt "nip44-v2", ecdh x). Symmetric:
 * conv(a, B) == conv(b, A). Same errors as hearth_ecdh_x. */
int hearth_nip44_conversation_key(const uint8_t sk[32], const uint8_t pk[32],
                                  uint8_t ck[32]);

/* HKDF-expand(ck, info = nonce, 76 bytes), split 32/12/32. */
int hearth_nip44_message_keys(const uint8_t ck[32], const uint8_t nonce[32],
                              uint8_t chacha_key[32],
                              uint8_t chacha_nonce[12],
                              uint8_t hmac_key[32]);

/* Padded size of an n-byte plaintext, not counting the length prefix.
 * 0 if n is 0 or above the protocol maximum 2^32-1. */
size_t hearth_nip44_padded_len(size_t n);

/* Appends the base64 payload for pt[0..n) to out. nonce may be NULL (fresh
 * random nonce, the only safe choice outside tests). HEARTH_EINVAL for an
 * empty plaintext, HEARTH_ETOOBIG above HEARTH_NIP44_MAX_PLAINTEXT. */
int hearth_nip44_encrypt(const uint8_t ck[32], const char *pt, size_t n,
                         const uint8_t *nonce, hearth_buf *out);

/* Appends the plaintext of payload[0..n) to out (it may contain NUL; out
 * stays NUL-terminated). HEARTH_EINVAL for a malformed or unsupported
 * payload, HEARTH_ETOOBIG beyond our bound, HEARTH_ECRYPTO for a MAC
 * mismatch; *why (if given) names the problem with an "invalid: " prefix.
 * The MAC is checked before anything inside the ciphertext is looked at. */
int hearth_nip44_decrypt(const uint8_t ck[32], const char *payload, size_t n,
                         hearth_buf *out, const char **why);

#endif
