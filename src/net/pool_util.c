/* Pure helpers of the relay pool: backoff schedule, the bounded seen-id
 * set, relay URL normalization, the publish retry policy, NIP-65 parsing. */
#include "pool_internal.h"

#include "hearth/error.h"
#include "hearth/kinds.h"
#include "hearth/message.h"

#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

uint32_t pool_backoff_ms(unsigned attempt, uint32_t base_ms, uint32_t max_ms,
                         uint32_t rnd)
{
    uint64_t step = base_ms ? base_ms : 1;
    if (max_ms < step)
        max_ms = (uint32_t)step;
    while (attempt-- > 0 && step < max_ms)
        step <<= 1;
    if (step > max_ms)
        step = max_ms;
    uint32_t half = (uint32_t)(step / 2);
    return (uint32_t)(step - half) + (half ? rnd % (half + 1) : 0);
}

/* ---- seen set ---- */

int pool_seen_init(pool_seen *s, uint32_t cap)
{
    memset(s, 0, sizeof *s);
    if (cap == 0 || cap > (1u << 26))
        return HEARTH_EINVAL;
    s->cap = cap;
    s->head = s->tail = POOL_SEEN_NIL;
    randombytes_buf(s->key, sizeof s->key);
    return HEARTH_OK;
}

void pool_seen_free(pool_seen *s)
{
    free(s->table);
    free(s->ent);
    memset(s, 0, sizeof *s);
}

static uint32_t seen_hash(const pool_seen *s, const uint8_t id[32])
{
    uint8_t h[crypto_shorthash_BYTES];
    uint32_t v;
    crypto_shorthash(h, id, 32, s->key);
    memcpy(&v, h, sizeof v);
    return v;
}

/* slot holding id, or the empty slot where it would go */
static uint32_t seen_slot(const pool_seen *s, const uint8_t id[32])
{
    uint32_t i = seen_hash(s, id) & s->mask;
    while (s->table[i] && memcmp(s->ent[s->table[i] - 1].id, id, 32))
        i = (i + 1) & s->mask;
    return i;
}

static void lru_unlink(pool_seen *s, uint32_t e)
{
    pool_seen_ent *x = &s->ent[e];
    if (x->prev != POOL_SEEN_NIL)
        s->ent[x->prev].next = x->next;
    else
        s->head = x->next;
    if (x->next != POOL_SEEN_NIL)
        s->ent[x->next].prev = x->prev;
    else
        s->tail = x->prev;
}

static void lru_push_front(pool_seen *s, uint32_t e)
{
    s->ent[e].prev = POOL_SEEN_NIL;
    s->ent[e].next = s->head;
    if (s->head != POOL_SEEN_NIL)
        s->ent[s->head].prev = e;
    s->head = e;
    if (s->tail == POOL_SEEN_NIL)
        s->tail = e;
}

int pool_seen_has(pool_seen *s, const uint8_t id[32])
{
    if (!s->table)
        return 0;
    uint32_t i = seen_slot(s, id);
    if (!s->table[i])
        return 0;
    uint32_t e = s->table[i] - 1;
    lru_unlink(s, e);
    lru_push_front(s, e);
    return 1;
}

/* Backward-shift deletion keeps linear probing free of tombstones. */
static void seen_table_remove(pool_seen *s, uint32_t i)
{
    uint32_t j = i;
    s->table[i] = 0;
    for (;;) {
        j = (j + 1) & s->mask;
        if (!s->table[j])
            return;
        uint32_t home = seen_hash(s, s->ent[s->table[j] - 1].id) & s->mask;
        /* move j back to i unless its home lies cyclically in (i, j] */
        if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
            s->table[i] = s->table[j];
            s->table[j] = 0;
            i = j;
        }
    }
}

/* Grow entries (up to cap) and the table (kept at most half full). */
static int seen_grow(pool_seen *s)
{
    uint32_t want = s->nalloc ? s->nalloc * 2 : 64;
    if (want > s->cap)
        want = s->cap;
    pool_seen_ent *ent = realloc(s->ent, (size_t)want * sizeof *ent);
    if (!ent)
        return HEARTH_ENOMEM;
    s->ent = ent;
    s->nalloc = want;
    uint32_t slots = 1;
    while (slots < 2 * want)
        slots <<= 1;
    if (s->table && slots == s->mask + 1)
        return HEARTH_OK;
    uint32_t *t = calloc(slots, sizeof *t);
    if (!t)
        return HEARTH_ENOMEM;
    free(s->table);
    s->table = t;
    s->mask = slots - 1;
    for (uint32_t e = s->head; e != POOL_SEEN_NIL; e = s->ent[e].next)
        s->table[seen_slot(s, s->ent[e].id)] = e + 1;
    return HEARTH_OK;
}

int pool_seen_add(pool_seen *s, const uint8_t id[32])
{
    if (pool_seen_has(s, id))
        return HEARTH_OK;
    uint32_t e;
    if (s->n == s->cap) {
        e = s->tail; /* evict the least recently used */
        seen_table_remove(s, seen_slot(s, s->ent[e].id));
        lru_unlink(s, e);
    } else {
        if (s->n == s->nalloc && seen_grow(s))
            return HEARTH_ENOMEM;
        e = s->n++;
    }
    memcpy(s->ent[e].id, id, 32);
    s->table[seen_slot(s, id)] = e + 1;
    lru_push_front(s, e);
    return HEARTH_OK;
}

/* ---- URLs ---- */

static int host_char(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_';
}

/* printable ASCII that may stand in a path or query */
static int path_char(int c)
{
    return c > 0x20 && c < 0x7f && !strchr("\"<>\\^`{|}#", c);
}

static int parse_port(const char *p, size_t n, int *port)
{
    long v = 0;
    if (n == 0 || n > 5)
        return HEARTH_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return HEARTH_EINVAL;
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return HEARTH_EINVAL;
    *port = (int)v;
    return HEARTH_OK;
}

/* host[:port] or [v6][:port]; host lowercased into host (NUL-terminated,
 * IPv6 without brackets), *port 0 if absent */
static int parse_authority(const char *a, size_t n, char host[256], int *port,
                           int *v6)
{
    size_t hn;
    const char *colon = NULL;
    *port = 0;
    *v6 = 0;
    if (n && a[0] == '[') {
        const char *end = memchr(a, ']', n);
        if (!end || end == a + 1)
            return HEARTH_EINVAL;
        for (const char *c = a + 1; c < end; c++)
            if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
                return HEARTH_EINVAL;
        hn = (size_t)(end - a - 1);
        if (end + 1 < a + n) {
            if (end[1] != ':')
                return HEARTH_EINVAL;
            colon = end + 1;
        }
        a++;
        *v6 = 1;
    } else {
        colon = memchr(a, ':', n);
        hn = colon ? (size_t)(colon - a) : n;
        for (size_t i = 0; i < hn; i++)
            if (!host_char((unsigned char)a[i]))
                return HEARTH_EINVAL;
    }
    if (hn == 0 || hn > 253)
        return HEARTH_EINVAL;
    for (size_t i = 0; i < hn; i++)
        host[i] = (char)tolower((unsigned char)a[i]);
    host[hn] = '\0';
    if (colon) {
        const char *pe = (*v6 ? a - 1 : a) + n;
        if (parse_port(colon + 1, (size_t)(pe - colon - 1), port))
            return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

int hearth_relay_url_normalize(const char *url, hearth_buf *out)
{
    int tls, port, v6;
    char host[256];
    if (!url)
        return HEARTH_EINVAL;
    if (!strncasecmp(url, "wss://", 6))
        tls = 1, url += 6;
    else if (!strncasecmp(url, "ws://", 5))
        tls = 0, url += 5;
    else
        return HEARTH_EINVAL;
    size_t an = strcspn(url, "/?#");
    if (memchr(url, '@', an) ||
        parse_authority(url, an, host, &port, &v6))
        return HEARTH_EINVAL;
    const char *rest = url + an;
    for (const char *c = rest; *c; c++)
        if (!path_char((unsigned char)*c))
            return HEARTH_EINVAL;
    if (!strcmp(rest, "/"))
        rest = "";
    if (port == (tls ? 443 : 80))
        port = 0;
    size_t start = out->len;
    hearth_buf_adds(out, tls ? "wss://" : "ws://");
    hearth_buf_addf(out, v6 ? "[%s]" : "%s", host);
    if (port)
        hearth_buf_addf(out, ":%d", port);
    if (*rest && *rest != '/')
        hearth_buf_addc(out, '/');
    hearth_buf_adds(out, rest);
    if (hearth_buf_error(out))
        return HEARTH_ENOMEM;
    if (out->len - start > HEARTH_RELAY_URL_MAX) {
        out->len = start;
        out->p[start] = '\0';
        return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

int pool_url_split(const char *url, pool_url *out)
{
    int v6;
    memset(out, 0, sizeof *out);
    if (!strncmp(url, "wss://", 6))
        out->tls = 1, url += 6;
    else if (!strncmp(url, "ws://", 5))
        url += 5;
    else
        return HEARTH_EINVAL;
    size_t an = strcspn(url, "/?");
    if (parse_authority(url, an, out->host, &out->port, &v6))
        return HEARTH_EINVAL;
    if (!out->port)
        out->port = out->tls ? 443 : 80;
    const char *rest = url + an;
    if (strlen(rest) + 2 > sizeof out->path)
        return HEARTH_EINVAL;
    snprintf(out->path, sizeof out->path, "%s%s", *rest == '/' ? "" : "/",
             rest);
    return HEARTH_OK;
}

/* ---- publish retry policy ---- */

enum hearth_pub_action hearth_pub_policy(int ok, const char *message)
{
    hearth_prefix p = hearth_prefix_parse(message ? message : "");
    if (ok || p == HEARTH_PREFIX_DUPLICATE)
        return HEARTH_PUB_ACCEPT;
    switch (p) {
    case HEARTH_PREFIX_RATE_LIMITED:
    case HEARTH_PREFIX_ERROR:
        return HEARTH_PUB_RETRY;
    case HEARTH_PREFIX_AUTH_REQUIRED:
        return HEARTH_PUB_AUTH;
    default:
        return HEARTH_PUB_REJECT;
    }
}

/* ---- NIP-65 ---- */

static int list_add(char **list, size_t *n, const char *url)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(list[i], url))
            return HEARTH_OK;
    if (*n >= HEARTH_POOL_MAX_RELAYS)
        return HEARTH_OK;
    char *c = strdup(url);
    if (!c)
        return HEARTH_ENOMEM;
    list[(*n)++] = c;
    return HEARTH_OK;
}

int hearth_nip65_parse(const hearth_event *ev, hearth_relay_list *out)
{
    memset(out, 0, sizeof *out);
    if (!ev || ev->kind != HEARTH_KIND_RELAY_LIST)
        return HEARTH_EINVAL;
    hearth_buf u = HEARTH_BUF_INIT;
    int rc = HEARTH_OK;
    for (size_t i = 0; i < ev->ntags && rc == HEARTH_OK; i++) {
        const hearth_tag *t = &ev->tags[i];
        if (t->n < 2 || t->n > 3 || strcmp(t->v[0].p, "r") ||
            strlen(t->v[1].p) != t->v[1].n)
            continue;
        int rd = 1, wr = 1;
        if (t->n == 3) {
            rd = !strcmp(t->v[2].p, "read");
            wr = !strcmp(t->v[2].p, "write");
            if (!rd && !wr)
                continue;
        }
        hearth_buf_reset(&u);
        if (hearth_relay_url_normalize(t->v[1].p, &u))
            continue;
        if (rd)
            rc = list_add(out->read, &out->nread, u.p);
        if (wr && rc == HEARTH_OK)
            rc = list_add(out->write, &out->nwrite, u.p);
    }
    hearth_buf_free(&u);
    if (rc)
        hearth_relay_list_clear(out);
    return rc;
}

void hearth_relay_list_clear(hearth_relay_list *l)
{
    for (size_t i = 0; i < l->nread; i++)
        free(l->read[i]);
    for (size_t i = 0; i < l->nwrite; i++)
        free(l->write[i]);
    memset(l, 0, sizeof *l);
}
