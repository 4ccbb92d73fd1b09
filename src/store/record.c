/* Key encodings and the event record (docs/store.md, "Records"). */
#include "store_internal.h"

#include "hearth/error.h"
#include "hearth/hex.h"
#include "../nostr/crypto.h"

#include <stdlib.h>
#include <string.h>

/* record header: version, flags, kind, created_at, expiration, id,
 * pubkey, d length, tag count, JSON offset */
#define REC_VERSION 1u
#define REC_HAS_EXP 1u
#define REC_HEADER 96u
#define TAG_ENTRY_HEAD 5u  /* letter, be32 length */

static int is_hex64(const char *v, size_t n)
{
    if (n != 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
            return 0;
    return 1;
}

/* e and p values (64 hex) dominate tag indexes: 33 bytes instead of 65
 * keeps more keys per page. A value longer than an LMDB key allows is
 * hashed; the match on the record removes nothing here (SHA-256 does not
 * collide in practice) but still decides what is returned. */
size_t hearth_st_enc_value(const char *v, size_t n, uint8_t *out)
{
    if (is_hex64(v, n)) {
        out[0] = ENC_HEX32;
        hearth_hex_decode(v, n, out + 1, 32, 0);
        return 33;
    }
    if (n <= VALUE_INLINE_MAX) {
        out[0] = (uint8_t)n;
        if (n)
            memcpy(out + 1, v, n);
        return n + 1;
    }
    out[0] = ENC_HASH;
    hearth_sha256(v, n, out + 1);
    return 33;
}

size_t hearth_st_addr_key(uint32_t kind, const uint8_t pk[32],
                          const char *d, size_t dlen, uint8_t *out)
{
    put_be16(out, kind);
    memcpy(out + 2, pk, 32);
    return 34 + hearth_st_enc_value(d, dlen, out + 34);
}

static int indexed_tag(const hearth_tag *t)
{
    return t->n >= 2 && t->v[0].n == 1 &&
           is_letter((unsigned char)t->v[0].p[0]);
}

static void build_header(const hearth_event *ev, hearth_str d, size_t ntags,
                         uint8_t h[REC_HEADER])
{
    int64_t exp = 0;
    int has_exp = hearth_event_expiration(ev, &exp) == 1;
    memset(h, 0, REC_HEADER);
    h[0] = REC_VERSION;
    h[1] = has_exp ? REC_HAS_EXP : 0;
    put_be16(h + 2, ev->kind);
    put_be64(h + 4, (uint64_t)ev->created_at);
    put_be64(h + 12, has_exp ? (uint64_t)exp : 0);
    memcpy(h + 20, ev->id, 32);
    memcpy(h + 52, ev->pubkey, 32);
    put_be32(h + 84, (uint32_t)d.n);
    put_be32(h + 88, (uint32_t)ntags);
    /* h + 92, the JSON offset, is patched once the tags are written */
}

int hearth_st_rec_build(const hearth_event *ev, hearth_buf *out)
{
    hearth_str d = {"", 0};
    if (hearth_kind_class(ev->kind) == HEARTH_KIND_ADDRESSABLE)
        d = hearth_event_d(ev);
    size_t ntags = 0;
    for (size_t i = 0; i < ev->ntags; i++)
        ntags += indexed_tag(&ev->tags[i]);
    size_t start = out->len;
    uint8_t h[REC_HEADER];
    build_header(ev, d, ntags, h);
    hearth_buf_add(out, h, sizeof h);
    hearth_buf_add(out, d.p, d.n);
    for (size_t i = 0; i < ev->ntags; i++) {
        const hearth_tag *t = &ev->tags[i];
        if (!indexed_tag(t))
            continue;
        uint8_t e[TAG_ENTRY_HEAD];
        e[0] = (uint8_t)t->v[0].p[0];
        put_be32(e + 1, (uint32_t)t->v[1].n);
        hearth_buf_add(out, e, sizeof e);
        hearth_buf_add(out, t->v[1].p, t->v[1].n);
    }
    size_t json_off = out->len - start;
    int rc = hearth_event_to_json(ev, out);
    if (rc)
        return rc;
    put_be32((uint8_t *)out->p + start + 92, (uint32_t)json_off);
    return HEARTH_OK;
}

/* Walk the tag entries, checking every length against the record end. */
static int check_tags(const uint8_t *p, const uint8_t *end, size_t ntags,
                      const uint8_t **after)
{
    for (size_t i = 0; i < ntags; i++) {
        if ((size_t)(end - p) < TAG_ENTRY_HEAD)
            return HEARTH_EIO;
        size_t n = get_be32(p + 1);
        p += TAG_ENTRY_HEAD;
        if ((size_t)(end - p) < n)
            return HEARTH_EIO;
        p += n;
    }
    *after = p;
    return HEARTH_OK;
}

int hearth_st_rec_view(const void *data, size_t n, struct rec *r)
{
    const uint8_t *p = data, *end = p + n;
    if (n < REC_HEADER || p[0] != REC_VERSION)
        return HEARTH_EIO;
    r->kind = get_be16(p + 2);
    r->created_at = (int64_t)get_be64(p + 4);
    r->has_exp = p[1] & REC_HAS_EXP;
    r->exp = (int64_t)get_be64(p + 12);
    r->id = p + 20;
    r->pubkey = p + 52;
    r->dlen = get_be32(p + 84);
    r->ntags = get_be32(p + 88);
    size_t json_off = get_be32(p + 92);
    if (r->dlen > n - REC_HEADER)
        return HEARTH_EIO;
    r->d = (const char *)p + REC_HEADER;
    r->tags = p + REC_HEADER + r->dlen;
    const uint8_t *after;
    if (check_tags(r->tags, end, r->ntags, &after) ||
        json_off != (size_t)(after - p))
        return HEARTH_EIO;
    r->json = (const char *)after;
    r->json_len = (size_t)(end - after);
    return HEARTH_OK;
}

void hearth_st_rec_tag_next(const uint8_t **pos, const char **letter,
                            const char **v, size_t *n)
{
    const uint8_t *p = *pos;
    *letter = (const char *)p;
    *n = get_be32(p + 1);
    *v = (const char *)p + TAG_ENTRY_HEAD;
    *pos = p + TAG_ENTRY_HEAD + *n;
}

static int skeleton_grow(struct skeleton *k, size_t n)
{
    if (n <= k->cap)
        return HEARTH_OK;
    size_t cap = k->cap ? k->cap : 16;
    while (cap < n)
        cap *= 2;
    hearth_tag *t = realloc(k->tags, cap * sizeof *t);
    if (!t)
        return HEARTH_ENOMEM;
    k->tags = t;
    hearth_str *v = realloc(k->vals, 2 * cap * sizeof *v);
    if (!v)
        return HEARTH_ENOMEM;
    k->vals = v;
    k->cap = cap;
    return HEARTH_OK;
}

int hearth_st_skeleton_fill(struct skeleton *k, const struct rec *r)
{
    int rc = skeleton_grow(k, r->ntags);
    if (rc)
        return rc;
    hearth_event *ev = &k->ev;
    memset(ev, 0, sizeof *ev);
    memcpy(ev->id, r->id, 32);
    memcpy(ev->pubkey, r->pubkey, 32);
    ev->created_at = r->created_at;
    ev->kind = r->kind;
    ev->has = HEARTH_EV_HAS_ID | HEARTH_EV_HAS_PUBKEY |
              HEARTH_EV_HAS_CREATED_AT;
    ev->content = (hearth_str){"", 0};
    const uint8_t *pos = r->tags;
    for (size_t i = 0; i < r->ntags; i++) {
        hearth_str *v = &k->vals[2 * i];
        hearth_st_rec_tag_next(&pos, &v[0].p, &v[1].p, &v[1].n);
        v[0].n = 1;
        k->tags[i].n = 2;
        k->tags[i].v = v;
    }
    ev->ntags = r->ntags;
    ev->tags = k->tags;
    return HEARTH_OK;
}

void hearth_st_skeleton_free(struct skeleton *k)
{
    free(k->tags);
    free(k->vals);
    memset(k, 0, sizeof *k);
}
