/* NIP-49 private key encryption: a secret key sealed under a password as
 * an "ncryptsec1..." bech32 string (scrypt, then XChaCha20-Poly1305 with
 * the key-security byte as associated data). See docs/cli-key.md. */
#ifndef HEARTH_NIP49_H
#define HEARTH_NIP49_H

#include <stddef.h>
#include <stdint.h>

#define HEARTH_NIP49_VERSION 0x02u
/* 91 payload bytes: version, log_n, salt 16, nonce 24, key-security byte,
 * ciphertext 32 + tag 16 */
#define HEARTH_NIP49_BYTES 91u
/* characters of an ncryptsec string: "ncryptsec1", 146 data, 6 checksum */
#define HEARTH_NIP49_LEN 162u
/* scrypt needs 128 * 8 * 2^log_n bytes: 22 is 4 GiB. Anything above is
 * refused before allocating, so a hostile key file cannot ask for more. */
#define HEARTH_NIP49_MAX_LOG_N 22u
#define HEARTH_NIP49_DEFAULT_LOG_N 16u
/* passwords longer than this many bytes are HEARTH_ETOOBIG */
#define HEARTH_NIP49_MAX_PASSWORD 1024u

/* the key-security byte (NIP-49) */
enum {
    HEARTH_NIP49_KS_INSECURE = 0x00, /* known to have been handled in clear */
    HEARTH_NIP49_KS_SECURE = 0x01,   /* not known to have been */
    HEARTH_NIP49_KS_UNKNOWN = 0x02   /* not tracked */
};

/* Password normalisation: NIP-49 asks for NFKC, and hearth carries no
 * Unicode tables. Passwords made only of ASCII and the Latin-1 letters
 * U+00C0..U+00FF are already NFKC (none of them decomposes under NFKC,
 * and nothing in that set composes with a neighbour), so they are used as
 * given. Encrypting with any other password is HEARTH_EINVAL; decrypting
 * tries such a password's bytes as given (valid UTF-8 only), which works
 * whenever it was typed in NFKC form. */

/* Encrypt sk into out (NUL-terminated). log_n 1..HEARTH_NIP49_MAX_LOG_N
 * (0: HEARTH_EINVAL, above: HEARTH_ETOOBIG), key_security 0..2, sk a valid
 * secret key, password non-empty and as above: else HEARTH_EINVAL.
 * HEARTH_ENOMEM if scrypt cannot get its memory. */
int hearth_nip49_encrypt(const uint8_t sk[32], const char *password,
                         unsigned log_n, unsigned key_security,
                         char out[HEARTH_NIP49_LEN + 1]);

/* Decrypt a NUL-terminated ncryptsec with the default bound on log_n.
 * log_n and key_security may be NULL. Errors: HEARTH_EINVAL (not an
 * ncryptsec, bad version, key-security byte, password or decrypted key),
 * HEARTH_ETOOBIG (log_n above the bound, password too long),
 * HEARTH_ECRYPTO (wrong password or tampered string), HEARTH_ENOMEM. */
int hearth_nip49_decrypt(const char *s, const char *password, uint8_t sk[32],
                         uint8_t *log_n, uint8_t *key_security);

/* The same on s[0..len) with the bound given (at most
 * HEARTH_NIP49_MAX_LOG_N; fuzzers pass a small one), and *why (may be
 * NULL) set to a reason on failure. sk is zeroed on failure. */
int hearth_nip49_decrypt_ex(const char *s, size_t len, const char *password,
                            unsigned max_log_n, uint8_t sk[32],
                            uint8_t *log_n, uint8_t *key_security,
                            const char **why);

/* Check an ncryptsec's structure without a password (bech32, prefix,
 * length, version, log_n bound, key-security byte). */
int hearth_nip49_inspect(const char *s, size_t len, uint8_t *log_n,
                         uint8_t *key_security, const char **why);

/* 1 if s[0..len) begins like an ncryptsec (either case), else 0 */
int hearth_nip49_is_ncryptsec(const char *s, size_t len);

#endif
