/* NIP-90 helpers: value checks, encryption either way, the JSON array of
 * private tags, and the tag writer. */
#include "nip90_int.h"

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/nip04.h"
#include "hearth/nip44.h"
#include "hearth/nip90.h"
#include "../util/arena.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>

int hearth_nip90_hex32(const hearth_str *s, uint8_t out[32])
{
    if (s->n != 64)
        return HEARTH_EINVAL;
    return hearth_hex_decode(s->p, s->n, out, 32, 0);
}

int hearth_nip90_u64(const hearth_str *s, uint64_t *v)
{
    if (s->n == 0 || s->n > 20)
        return HEARTH_EINVAL;
    uint64_t x = 0;
    for (size_t i = 0; i < s->n; i++) {
        unsigned d = (unsigned char)s->p[i] - '0';
        if (d > 9 || x > (UINT64_MAX - d) / 10)
            return HEARTH_EINVAL;
        x = x * 10 + d;
    }
    *v = x;
    return HEARTH_OK;
}

int hearth_nip90_text(const hearth_str *s, size_t max)
{
    if (s->n > max || (s->n && memchr(s->p, '\0', s->n)))
        return HEARTH_EINVAL;
    return HEARTH_OK;
}

int hearth_nip90_is(const hearth_str *v, const char *s)
{
    size_t n = strlen(s);
    return v->n == n && memcmp(v->p, s, n) == 0;
}

const hearth_tag *hearth_nip90_find(const hearth_tag *tags, size_t n,
                                    const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (tags[i].n >= 1 && hearth_nip90_is(&tags[i].v[0], name))
            return &tags[i];
    return NULL;
}

int hearth_nip90_has_encrypted(const hearth_tag *tags, size_t n)
{
    return hearth_nip90_find(tags, n, "encrypted") != NULL;
}

char *hearth_nip90_dup(struct hearth_arena **a, const char *p, size_t n)
{
    return hearth_arena_strdup(a, p, n, HEARTH_NIP90_ARENA_HINT);
}

int hearth_nip90_encrypt(int enc, const uint8_t sk[32], const uint8_t pk[32],
                         const char *pt, size_t n, hearth_buf *out)
{
    if (enc == HEARTH_NIP90_NIP04)
        return hearth_nip04_encrypt(sk, pk, pt, n, NULL, out);
    if (enc != HEARTH_NIP90_NIP44)
        return HEARTH_EINVAL;
    uint8_t ck[32];
    int rc = hearth_nip44_conversation_key(sk, pk, ck);
    if (rc == HEARTH_OK)
        rc = hearth_nip44_encrypt(ck, pt, n, NULL, out);
    sodium_memzero(ck, sizeof ck);
    return rc;
}

/* Base64 turns 3 bytes into 4; twice the plaintext plus room for nonce,
 * MAC, padding and iv is a safe upper bound for either scheme, so a huge
 * payload is refused before any work is spent on it. */
static int payload_too_big(size_t n, size_t max)
{
    return max < SIZE_MAX / 4 && n > 2 * max + 1024;
}

static int has_iv(const char *p, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (p[i] == '?' && memcmp(p + i, "?iv=", 4) == 0)
            return 1;
    return 0;
}

int hearth_nip90_decrypt(const uint8_t sk[32], const uint8_t pk[32],
                         const char *payload, size_t n, size_t max,
                         hearth_buf *out, int *enc)
{
    if (payload_too_big(n, max))
        return HEARTH_ETOOBIG;
    size_t start = out->len;
    int rc;
    if (has_iv(payload, n)) {
        *enc = HEARTH_NIP90_NIP04;
        rc = hearth_nip04_decrypt(sk, pk, payload, n, out, NULL);
    } else {
        *enc = HEARTH_NIP90_NIP44;
        uint8_t ck[32];
        rc = hearth_nip44_conversation_key(sk, pk, ck);
        if (rc == HEARTH_OK)
            rc = hearth_nip44_decrypt(ck, payload, n, out, NULL);
        sodium_memzero(ck, sizeof ck);
    }
    if (rc == HEARTH_OK && out->len - start > max)
        rc = HEARTH_ETOOBIG;
    return rc;
}

static int decode_tag(const json_t *arr, struct hearth_arena **a,
                      hearth_tag *t)
{
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n == 0 || n > HEARTH_TAG_MAX_VALUES)
        return HEARTH_EINVAL;
    t->v = hearth_arena_alloc(a, n * sizeof *t->v, HEARTH_NIP90_ARENA_HINT);
    if (!t->v)
        return HEARTH_ENOMEM;
    t->n = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(arr, i);
        if (!json_is_string(s))
            return HEARTH_EINVAL;
        size_t len = json_string_length(s);
        char *p = hearth_nip90_dup(a, json_string_value(s), len);
        if (!p)
            return HEARTH_ENOMEM;
        t->v[i].p = p;
        t->v[i].n = len;
    }
    return HEARTH_OK;
}

int hearth_nip90_decode_tags(const char *json, size_t n, size_t max,
                             struct hearth_arena **a, hearth_tag **tags,
                             size_t *ntags)
{
    /* JSON_ALLOW_NUL: an input's data may hold NUL (it keeps its length) */
    json_t *root = json_loadb(json, n, JSON_ALLOW_NUL, NULL);
    if (!root)
        return HEARTH_EINVAL;
    int rc = HEARTH_OK;
    size_t count = json_array_size(root);
    if (!json_is_array(root))
        rc = HEARTH_EINVAL;
    else if (count > max)
        rc = HEARTH_ETOOBIG;
    hearth_tag *out = NULL;
    if (rc == HEARTH_OK && count) {
        out = hearth_arena_alloc(a, count * sizeof *out,
                                 HEARTH_NIP90_ARENA_HINT);
        if (!out)
            rc = HEARTH_ENOMEM;
    }
    for (size_t i = 0; rc == HEARTH_OK && i < count; i++)
        rc = decode_tag(json_array_get(root, i), a, &out[i]);
    json_decref(root);
    if (rc == HEARTH_OK) {
        *tags = out;
        *ntags = count;
    }
    return rc;
}

int hearth_nip90_tw_init(hearth_nip90_tw *w, hearth_event *ev,
                         hearth_buf *json)
{
    w->ev = ev;
    w->json = json;
    w->count = 0;
    if (json)
        return hearth_buf_addc(json, '[');
    return HEARTH_OK;
}

int hearth_nip90_tw_add(hearth_nip90_tw *w, size_t n,
                        const char *const *vals, const size_t *lens)
{
    if (!w->json) {
        w->count++;
        return hearth_event_add_tag(w->ev, n, vals, lens);
    }
    hearth_buf *b = w->json;
    if (w->count++)
        hearth_buf_addc(b, ',');
    hearth_buf_addc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            hearth_buf_addc(b, ',');
        hearth_buf_addjson(b, vals[i], lens ? lens[i] : strlen(vals[i]));
    }
    hearth_buf_addc(b, ']');
    return hearth_buf_error(b);
}

int hearth_nip90_tw_end(hearth_nip90_tw *w)
{
    if (w->json) {
        hearth_buf_addc(w->json, ']');
        return hearth_buf_error(w->json);
    }
    return HEARTH_OK;
}

void hearth_nip90_input_hash(const hearth_job_input *inputs, size_t n,
                             uint8_t out[32])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < n; i++) {
        uint8_t len[8];
        for (int b = 0; b < 8; b++)
            len[b] = (uint8_t)((uint64_t)inputs[i].len >> (8 * b));
        /* the length first, so inputs cannot be re-cut into others */
        crypto_hash_sha256_update(&st, len, sizeof len);
        crypto_hash_sha256_update(&st, (const uint8_t *)inputs[i].value,
                                  inputs[i].len);
    }
    crypto_hash_sha256_final(&st, out);
}
