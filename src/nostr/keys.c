#include "hearth/keys.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/nip19.h"
#include "hearth/nip49.h"
#include "crypto.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int hearth_key_generate(uint8_t sk[32])
{
    if (hearth_crypto_init())
        return HEARTH_ECRYPTO;
    do {
        randombytes_buf(sk, 32);
    } while (!secp256k1_ec_seckey_verify(secp256k1_context_static, sk));
    return HEARTH_OK;
}

int hearth_key_pubkey(const uint8_t sk[32], uint8_t pk[32])
{
    const secp256k1_context *ctx = hearth_secp_sign_ctx();
    secp256k1_keypair kp;
    secp256k1_xonly_pubkey xpk;
    if (!ctx)
        return HEARTH_ECRYPTO;
    if (!secp256k1_keypair_create(ctx, &kp, sk))
        return HEARTH_EINVAL;
    int ok = secp256k1_keypair_xonly_pub(ctx, &xpk, NULL, &kp) &&
             secp256k1_xonly_pubkey_serialize(ctx, pk, &xpk);
    sodium_memzero(&kp, sizeof kp);
    return ok ? HEARTH_OK : HEARTH_ECRYPTO;
}

int hearth_key_pubkey_valid(const uint8_t pk[32])
{
    secp256k1_xonly_pubkey xpk;
    return secp256k1_xonly_pubkey_parse(secp256k1_context_static, &xpk, pk);
}

int hearth_schnorr_sign(const uint8_t sk[32], const uint8_t *msg,
                        size_t msglen, const uint8_t aux[32],
                        uint8_t sig[64])
{
    const secp256k1_context *ctx = hearth_secp_sign_ctx();
    secp256k1_keypair kp;
    uint8_t fresh[32];
    if (!ctx)
        return HEARTH_ECRYPTO;
    if (!secp256k1_keypair_create(ctx, &kp, sk))
        return HEARTH_EINVAL;
    if (!aux) {
        randombytes_buf(fresh, sizeof fresh);
        aux = fresh;
    }
    secp256k1_schnorrsig_extraparams ep = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
    ep.ndata = (unsigned char *)aux;
    int ok = secp256k1_schnorrsig_sign_custom(ctx, sig, msg, msglen, &kp, &ep);
    sodium_memzero(&kp, sizeof kp);
    return ok ? HEARTH_OK : HEARTH_ECRYPTO;
}

int hearth_schnorr_verify(const uint8_t pk[32], const uint8_t *msg,
                          size_t msglen, const uint8_t sig[64])
{
    secp256k1_xonly_pubkey xpk;
    const secp256k1_context *ctx = secp256k1_context_static;
    if (!secp256k1_xonly_pubkey_parse(ctx, &xpk, pk))
        return HEARTH_EBADSIG;
    if (!secp256k1_schnorrsig_verify(ctx, sig, msg, msglen, &xpk))
        return HEARTH_EBADSIG;
    return HEARTH_OK;
}

/* 512 entries of ~100 bytes: ~50 KiB per thread, within L2 */
#define VERIFIER_SLOTS 512u

struct verifier_slot {
    uint8_t pk[32];
    secp256k1_xonly_pubkey xpk;
    int used;
};

struct hearth_verifier {
    uint64_t hits, misses;
    struct verifier_slot slot[VERIFIER_SLOTS];
};

hearth_verifier *hearth_verifier_new(void)
{
    return calloc(1, sizeof(hearth_verifier));
}

void hearth_verifier_free(hearth_verifier *v)
{
    free(v);
}

void hearth_verifier_stats(const hearth_verifier *v, uint64_t *hits,
                           uint64_t *misses)
{
    if (hits)
        *hits = v ? v->hits : 0;
    if (misses)
        *misses = v ? v->misses : 0;
}

/* pk is an x coordinate chosen by its owner: anyone can make keys that
 * share a slot, which only costs them (and their slot neighbours) a
 * miss. */
static unsigned slot_of(const uint8_t pk[32])
{
    uint32_t h;
    memcpy(&h, pk + 28, 4);
    h ^= (uint32_t)pk[0] << 8 | pk[1];
    return (unsigned)(h * 2654435761u >> 16) % VERIFIER_SLOTS;
}

int hearth_verifier_schnorr(hearth_verifier *v, const uint8_t pk[32],
                            const uint8_t *msg, size_t msglen,
                            const uint8_t sig[64])
{
    const secp256k1_context *ctx = secp256k1_context_static;
    if (!v)
        return hearth_schnorr_verify(pk, msg, msglen, sig);
    struct verifier_slot *s = &v->slot[slot_of(pk)];
    if (s->used && memcmp(s->pk, pk, 32) == 0) {
        v->hits++;
    } else {
        v->misses++;
        s->used = 0;
        /* an invalid key is never cached: it fails here every time */
        if (!secp256k1_xonly_pubkey_parse(ctx, &s->xpk, pk))
            return HEARTH_EBADSIG;
        memcpy(s->pk, pk, 32);
        s->used = 1;
    }
    if (!secp256k1_schnorrsig_verify(ctx, sig, msg, msglen, &s->xpk))
        return HEARTH_EBADSIG;
    return HEARTH_OK;
}

/* nsec or 64 hex chars (either case) */
static int parse_secret(const char *s, size_t n, uint8_t sk[32])
{
    if (n == 64 && hearth_hex_decode(s, n, sk, 32, 1) == HEARTH_OK)
        goto check;
    if (n > 5 && n < 100 && strncmp(s, "nsec1", 5) == 0) {
        char tmp[100];
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        int rc = hearth_nip19_decode32(tmp, "nsec", sk);
        sodium_memzero(tmp, sizeof tmp);
        if (rc == HEARTH_OK)
            goto check;
    }
    return HEARTH_EINVAL;
check:
    return secp256k1_ec_seckey_verify(secp256k1_context_static, sk)
               ? HEARTH_OK
               : HEARTH_EINVAL;
}

struct pw_src {
    hearth_passphrase_fn fn;
    void *ctx;
};

/* The structure is checked before the passphrase is asked for, so a
 * malformed file fails without a prompt. */
static int decrypt_secret(const char *s, size_t n, const struct pw_src *pw,
                          uint8_t sk[32], const char **why)
{
    char pass[HEARTH_NIP49_MAX_PASSWORD + 2];
    int rc = hearth_nip49_inspect(s, n, NULL, NULL, why);
    if (rc)
        return rc;
    if (!pw->fn) {
        *why = "the key is encrypted (ncryptsec) and no passphrase source "
               "was given";
        return HEARTH_ECRYPTO;
    }
    rc = pw->fn(pw->ctx, pass, sizeof pass, why);
    if (rc == HEARTH_OK)
        rc = hearth_nip49_decrypt_ex(s, n, pass, HEARTH_NIP49_MAX_LOG_N, sk,
                                     NULL, NULL, why);
    sodium_memzero(pass, sizeof pass);
    return rc;
}

static int parse_any(const char *s, size_t n, const struct pw_src *pw,
                     uint8_t sk[32], const char **why)
{
    if (hearth_nip49_is_ncryptsec(s, n))
        return decrypt_secret(s, n, pw, sk, why);
    int rc = parse_secret(s, n, sk);
    if (rc)
        *why = "key file does not hold an nsec, an ncryptsec or a "
               "64-character hex secret";
    return rc;
}

static int load_file(const char *path, const struct pw_src *pw,
                     uint8_t sk[32], const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    char text[256];
    if (fd < 0) {
        *why = "cannot open key: give an nsec, a 64-character hex secret, "
               "or the path of a key file (hearth key new --out FILE)";
        return HEARTH_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        *why = "key path is not a regular file";
        return HEARTH_EIO;
    }
    if (st.st_mode & 077) {
        close(fd);
        *why = "key file is readable by group or others: run chmod 600 on it";
        return HEARTH_EPERM;
    }
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n < 0) {
        *why = "cannot read key file";
        return HEARTH_EIO;
    }
    size_t a = 0, b = (size_t)n;
    while (a < b && isspace((unsigned char)text[a]))
        a++;
    while (b > a && isspace((unsigned char)text[b - 1]))
        b--;
    int rc = parse_any(text + a, b - a, pw, sk, why);
    sodium_memzero(text, sizeof text);
    return rc;
}

int hearth_key_load_pw(const char *spec, hearth_passphrase_fn pw, void *ctx,
                       uint8_t sk[32], const char **why)
{
    const char *dummy;
    struct pw_src src = {pw, ctx};
    if (!why)
        why = &dummy;
    if (!spec || !*spec) {
        *why = "no key given: pass --key with an nsec, hex secret or key file";
        return HEARTH_EINVAL;
    }
    size_t n = strlen(spec);
    if (hearth_nip49_is_ncryptsec(spec, n))
        return decrypt_secret(spec, n, &src, sk, why);
    if (parse_secret(spec, n, sk) == HEARTH_OK)
        return HEARTH_OK;
    return load_file(spec, &src, sk, why);
}

int hearth_key_load(const char *spec, uint8_t sk[32], const char **why)
{
    return hearth_key_load_pw(spec, NULL, NULL, sk, why);
}

/* text to a new file of mode 0600, never over an existing one */
static int write_new(const char *path, const char *text, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return HEARTH_EIO;
    /* umask may have widened nothing (0600 is the ceiling), but be explicit */
    fchmod(fd, 0600);
    ssize_t w = write(fd, text, n);
    int ok = w == (ssize_t)n && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok) {
        unlink(path);
        errno = saved;
        return HEARTH_EIO;
    }
    return HEARTH_OK;
}

int hearth_key_save(const char *path, const uint8_t sk[32])
{
    hearth_buf b = HEARTH_BUF_INIT;
    int rc = hearth_nip19_encode32("nsec", sk, &b);
    if (rc == HEARTH_OK)
        rc = hearth_buf_addc(&b, '\n');
    if (rc == HEARTH_OK)
        rc = write_new(path, b.p, b.len);
    if (b.p)
        sodium_memzero(b.p, b.cap);
    hearth_buf_free(&b);
    return rc;
}

int hearth_key_save_ncryptsec(const char *path, const char *ncryptsec)
{
    char line[HEARTH_NIP49_LEN + 2];
    size_t n = strlen(ncryptsec);
    int rc = hearth_nip49_inspect(ncryptsec, n, NULL, NULL, NULL);
    if (rc)
        return rc;
    memcpy(line, ncryptsec, n);
    line[n] = '\n';
    return write_new(path, line, n + 1);
}
