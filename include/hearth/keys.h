/* secp256k1 keys for Nostr (BIP-340 x-only public keys). */
#ifndef HEARTH_KEYS_H
#define HEARTH_KEYS_H

#include <stddef.h>
#include <stdint.h>

/* Fresh secret key from the OS RNG. */
int hearth_key_generate(uint8_t sk[32]);
/* x-only public key; HEARTH_EINVAL if sk is zero or >= the group order. */
int hearth_key_pubkey(const uint8_t sk[32], uint8_t pk[32]);
/* 1 if pk is a valid x-only public key (a point on the curve). */
int hearth_key_pubkey_valid(const uint8_t pk[32]);

/* BIP-340 over an arbitrary-length message; aux may be NULL (then fresh
 * randomness is used). */
int hearth_schnorr_sign(const uint8_t sk[32], const uint8_t *msg,
                        size_t msglen, const uint8_t aux[32],
                        uint8_t sig[64]);
/* HEARTH_OK or HEARTH_EBADSIG (also for an invalid public key) */
int hearth_schnorr_verify(const uint8_t pk[32], const uint8_t *msg,
                          size_t msglen, const uint8_t sig[64]);

/* A verifier: libsecp256k1's parsed form of recently seen x-only public
 * keys (a small direct-mapped cache keyed by the 32 key bytes), so that an
 * author's repeated events skip the square root that parsing costs. One
 * per thread: not safe to share. Only keys that parsed are kept, so a
 * result never differs from hearth_schnorr_verify's. */
typedef struct hearth_verifier hearth_verifier;
/* NULL on out of memory */
hearth_verifier *hearth_verifier_new(void);
void hearth_verifier_free(hearth_verifier *v);
/* hearth_schnorr_verify through v's cache (v NULL: no cache) */
int hearth_verifier_schnorr(hearth_verifier *v, const uint8_t pk[32],
                            const uint8_t *msg, size_t msglen,
                            const uint8_t sig[64]);
/* cache counters since hearth_verifier_new (tests, diagnostics) */
void hearth_verifier_stats(const hearth_verifier *v, uint64_t *hits,
                           uint64_t *misses);

/* Parse a secret key given as an nsec, 64 hex characters, or the path of a
 * key file holding either (files must not be readable by group/others:
 * HEARTH_EPERM). *why names the fix on failure. An ncryptsec (NIP-49,
 * given or in the file) needs hearth_key_load_pw: here it is
 * HEARTH_ECRYPTO. */
int hearth_key_load(const char *spec, uint8_t sk[32], const char **why);

/* Supplies the passphrase of an encrypted key: writes a NUL-terminated
 * string of at most cap - 1 bytes to buf and returns HEARTH_OK, or returns
 * an error with *why naming the fix. Called only when an ncryptsec is
 * found, after its structure has been checked. */
typedef int (*hearth_passphrase_fn)(void *ctx, char *buf, size_t cap,
                                    const char **why);
/* hearth_key_load that also accepts an ncryptsec (as spec or in the key
 * file), decrypted with the passphrase pw gives (pw NULL: HEARTH_ECRYPTO).
 * log_n above HEARTH_NIP49_MAX_LOG_N is refused before scrypt runs. */
int hearth_key_load_pw(const char *spec, hearth_passphrase_fn pw, void *ctx,
                       uint8_t sk[32], const char **why);
/* Write sk as an nsec line to path, created with mode 0600; fails with
 * HEARTH_EIO if the file exists (never overwrite a key silently). */
int hearth_key_save(const char *path, const uint8_t sk[32]);
/* The same for an ncryptsec, stored as given after its structure is
 * checked (HEARTH_EINVAL / HEARTH_ETOOBIG as hearth_nip49_inspect). */
int hearth_key_save_ncryptsec(const char *path, const char *ncryptsec);

#endif
