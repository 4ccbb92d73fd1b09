#include "hearth/filter.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "../util/arena.h"
#include "json_internal.h"

#include <stdlib.h>
#include <string.h>

#define FAIL(code, reason)      \
    do {                        \
        *why = (reason);        \
        return (code);          \
    } while (0)

/* arena block size: most filters are a few short lists */
#define HINT 4096

static int cmp32(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static int cmpkind(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* bytewise, a proper prefix first: the order the store's keys sort in */
static int cmpstr(const void *a, const void *b)
{
    const hearth_str *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = n ? memcmp(x->p, y->p, n) : 0;
    if (c)
        return c;
    return (x->n > y->n) - (x->n < y->n);
}

static int cmptag(const void *a, const void *b)
{
    const hearth_filter_tag *x = a, *y = b;
    return (x->name > y->name) - (x->name < y->name);
}

/* Sort, then squeeze out duplicates; returns the new count. */
static size_t sort_unique(void *base, size_t n, size_t size,
                          int (*cmp)(const void *, const void *))
{
    if (n < 2)
        return n;
    qsort(base, n, size, cmp);
    unsigned char *p = base;
    size_t k = 1;
    for (size_t i = 1; i < n; i++) {
        if (cmp(p + (k - 1) * size, p + i * size) == 0)
            continue;
        if (k != i)
            memcpy(p + k * size, p + i * size, size);
        k++;
    }
    return k;
}

static int get_list(const json_t *v, const char *bad, size_t *n,
                    const char **why)
{
    if (!json_is_array(v))
        FAIL(HEARTH_EINVAL, bad);
    *n = json_array_size(v);
    if (*n > HEARTH_FILTER_MAX_VALUES)
        FAIL(HEARTH_ETOOBIG, "invalid: too many values in a filter list");
    return HEARTH_OK;
}

static void *list_alloc(hearth_filter *f, size_t n, size_t size)
{
    return hearth_arena_alloc(&f->arena, (n ? n : 1) * size, HINT);
}

static int hex32(const json_t *s, uint8_t out[32])
{
    return json_is_string(s) &&
           hearth_hex_decode(json_string_value(s), json_string_length(s), out,
                             32, 0) == HEARTH_OK;
}

static int parse_hex_list(hearth_filter *f, const json_t *v,
                          uint8_t (**out)[32], size_t *nout, const char *bad,
                          const char **why)
{
    size_t n;
    int rc = get_list(v, bad, &n, why);
    if (rc)
        return rc;
    uint8_t (*a)[32] = list_alloc(f, n, 32);
    if (!a)
        FAIL(HEARTH_ENOMEM, "error: out of memory");
    for (size_t i = 0; i < n; i++)
        if (!hex32(json_array_get(v, i), a[i]))
            FAIL(HEARTH_EINVAL, bad);
    *out = a;
    *nout = sort_unique(a, n, 32, cmp32);
    return HEARTH_OK;
}

static int parse_kinds(hearth_filter *f, const json_t *v, const char **why)
{
    static const char bad[] =
        "invalid: kinds must be a list of integers from 0 to 65535";
    size_t n;
    int rc = get_list(v, bad, &n, why);
    if (rc)
        return rc;
    uint32_t *k = list_alloc(f, n, sizeof *k);
    if (!k)
        FAIL(HEARTH_ENOMEM, "error: out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 ||
            json_integer_value(x) > HEARTH_MAX_KIND)
            FAIL(HEARTH_EINVAL, bad);
        k[i] = (uint32_t)json_integer_value(x);
    }
    f->kinds = k;
    f->nkinds = sort_unique(k, n, sizeof *k, cmpkind);
    return HEARTH_OK;
}

static int parse_tag_value(hearth_filter *f, char name, const json_t *s,
                           hearth_str *out, const char **why)
{
    uint8_t tmp[32];
    if (!json_is_string(s))
        FAIL(HEARTH_EINVAL, "invalid: tag filter values must be strings");
    size_t n = json_string_length(s);
    if (n > HEARTH_FILTER_MAX_VALUE_LEN)
        FAIL(HEARTH_ETOOBIG, "invalid: tag filter value too long");
    /* NIP-01 asks clients for exact hex here; a typo (an npub, a prefix)
     * is better reported than silently matching nothing */
    if ((name == 'e' || name == 'p') && !hex32(s, tmp))
        FAIL(HEARTH_EINVAL,
             "invalid: #e and #p values must be 64 lowercase hex characters");
    out->n = n;
    out->p = hearth_arena_strdup(&f->arena, json_string_value(s), n, HINT);
    if (!out->p)
        FAIL(HEARTH_ENOMEM, "error: out of memory");
    return HEARTH_OK;
}

static int parse_tag(hearth_filter *f, char name, const json_t *v,
                     const char **why)
{
    size_t n;
    int rc = get_list(v, "invalid: tag filters must be lists of strings", &n,
                      why);
    if (rc)
        return rc;
    if (f->ntags >= HEARTH_FILTER_MAX_TAGS)
        FAIL(HEARTH_ETOOBIG, "invalid: too many tag filters");
    if (!f->tags) {
        f->tags = list_alloc(f, HEARTH_FILTER_MAX_TAGS, sizeof *f->tags);
        if (!f->tags)
            FAIL(HEARTH_ENOMEM, "error: out of memory");
    }
    hearth_str *vals = list_alloc(f, n, sizeof *vals);
    if (!vals)
        FAIL(HEARTH_ENOMEM, "error: out of memory");
    for (size_t i = 0; i < n; i++) {
        rc = parse_tag_value(f, name, json_array_get(v, i), &vals[i], why);
        if (rc)
            return rc;
    }
    hearth_filter_tag *t = &f->tags[f->ntags++];
    t->name = name;
    t->values = vals;
    t->n = sort_unique(vals, n, sizeof *vals, cmpstr);
    return HEARTH_OK;
}

/* since, until, limit: integers that JavaScript clients can represent */
static int parse_int(const json_t *v, int64_t *out, const char *bad,
                     const char **why)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > HEARTH_MAX_TIMESTAMP)
        FAIL(HEARTH_EINVAL, bad);
    *out = json_integer_value(v);
    return HEARTH_OK;
}

static int is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int parse_field(hearth_filter *f, const char *key, const json_t *v,
                       const char **why)
{
    int64_t x;
    int rc;
    if (key[0] == '#') {
        if (is_letter(key[1]) && key[2] == '\0')
            return parse_tag(f, key[1], v, why);
        FAIL(HEARTH_EINVAL,
             "unsupported: tag filters must name a single letter a-z or A-Z");
    }
    if (!strcmp(key, "ids")) {
        f->has_ids = 1;
        return parse_hex_list(f, v, &f->ids, &f->nids,
            "invalid: ids must be a list of 64 lowercase hex characters", why);
    }
    if (!strcmp(key, "authors")) {
        f->has_authors = 1;
        return parse_hex_list(f, v, &f->authors, &f->nauthors,
            "invalid: authors must be a list of 64 lowercase hex characters",
            why);
    }
    if (!strcmp(key, "kinds")) {
        f->has_kinds = 1;
        return parse_kinds(f, v, why);
    }
    if (!strcmp(key, "since")) {
        f->has_since = 1;
        return parse_int(v, &f->since,
            "invalid: since must be an integer from 0 to 2^53-1", why);
    }
    if (!strcmp(key, "until")) {
        f->has_until = 1;
        return parse_int(v, &f->until,
            "invalid: until must be an integer from 0 to 2^53-1", why);
    }
    if (!strcmp(key, "limit")) {
        f->has_limit = 1;
        rc = parse_int(v, &x,
            "invalid: limit must be an integer from 0 to 2^53-1", why);
        if (rc == HEARTH_OK)
            f->limit = (uint64_t)x;
        return rc;
    }
    /* NIP-50 full-text search is not implemented; ignoring the key would
     * answer with events the client did not ask for */
    if (!strcmp(key, "search"))
        FAIL(HEARTH_EINVAL, "unsupported: search (NIP-50)");
    FAIL(HEARTH_EINVAL, "unsupported: unknown filter field");
}

int hearth_filter_from_json(const json_t *obj, hearth_filter **out,
                            const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *out = NULL;
    if (!json_is_object(obj))
        FAIL(HEARTH_EINVAL, "invalid: filter must be a JSON object");
    hearth_filter *f = calloc(1, sizeof *f);
    if (!f)
        FAIL(HEARTH_ENOMEM, "error: out of memory");
    const char *key;
    json_t *v;
    int rc = HEARTH_OK;
    json_object_foreach((json_t *)obj, key, v) {
        rc = parse_field(f, key, v, why);
        if (rc)
            break;
    }
    /* the loader rejects duplicate keys, so no letter repeats here */
    if (rc == HEARTH_OK && f->ntags > 1)
        qsort(f->tags, f->ntags, sizeof *f->tags, cmptag);
    if (rc) {
        hearth_filter_free(f);
        return rc;
    }
    *out = f;
    return HEARTH_OK;
}

int hearth_filter_parse(const char *json, size_t len, hearth_filter **out,
                        const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *out = NULL;
    json_t *j = hearth_json_load(json, len, HEARTH_FILTER_MAX_JSON, why);
    if (!j)
        return len > HEARTH_FILTER_MAX_JSON ? HEARTH_ETOOBIG : HEARTH_EINVAL;
    int rc = hearth_filter_from_json(j, out, why);
    json_decref(j);
    return rc;
}

void hearth_filter_free(hearth_filter *f)
{
    if (!f)
        return;
    hearth_arena_free(f->arena);
    free(f);
}

static void add_key(hearth_buf *out, const char *key, int *first)
{
    hearth_buf_adds(out, *first ? "\"" : ",\"");
    hearth_buf_adds(out, key);
    hearth_buf_adds(out, "\":");
    *first = 0;
}

static void add_hex_list(hearth_buf *out, const uint8_t (*l)[32], size_t n)
{
    hearth_buf_addc(out, '[');
    for (size_t i = 0; i < n; i++) {
        hearth_buf_adds(out, i ? ",\"" : "\"");
        hearth_buf_addhex(out, l[i], 32);
        hearth_buf_addc(out, '"');
    }
    hearth_buf_addc(out, ']');
}

static void add_tag(hearth_buf *out, const hearth_filter_tag *t, int *first)
{
    char key[3] = {'#', t->name, '\0'};
    add_key(out, key, first);
    hearth_buf_addc(out, '[');
    for (size_t i = 0; i < t->n; i++) {
        if (i)
            hearth_buf_addc(out, ',');
        hearth_buf_addjson(out, t->values[i].p, t->values[i].n);
    }
    hearth_buf_addc(out, ']');
}

int hearth_filter_to_json(const hearth_filter *f, hearth_buf *out)
{
    int first = 1;
    hearth_buf_addc(out, '{');
    if (f->has_ids) {
        add_key(out, "ids", &first);
        add_hex_list(out, (const uint8_t (*)[32])f->ids, f->nids);
    }
    if (f->has_authors) {
        add_key(out, "authors", &first);
        add_hex_list(out, (const uint8_t (*)[32])f->authors, f->nauthors);
    }
    if (f->has_kinds) {
        add_key(out, "kinds", &first);
        hearth_buf_addc(out, '[');
        for (size_t i = 0; i < f->nkinds; i++)
            hearth_buf_addf(out, i ? ",%u" : "%u", (unsigned)f->kinds[i]);
        hearth_buf_addc(out, ']');
    }
    for (size_t i = 0; i < f->ntags; i++)
        add_tag(out, &f->tags[i], &first);
    if (f->has_since) {
        add_key(out, "since", &first);
        hearth_buf_addf(out, "%lld", (long long)f->since);
    }
    if (f->has_until) {
        add_key(out, "until", &first);
        hearth_buf_addf(out, "%lld", (long long)f->until);
    }
    if (f->has_limit) {
        add_key(out, "limit", &first);
        hearth_buf_addf(out, "%llu", (unsigned long long)f->limit);
    }
    return hearth_buf_addc(out, '}');
}

static int has32(const uint8_t (*l)[32], size_t n, const uint8_t x[32])
{
    return n && bsearch(x, l, n, 32, cmp32) != NULL;
}

/* any tag named t->name whose first value is in the list */
static int tag_matches(const hearth_filter_tag *t, const hearth_event *ev)
{
    if (t->n == 0)
        return 0;
    for (size_t i = 0; i < ev->ntags; i++) {
        const hearth_tag *g = &ev->tags[i];
        if (g->n < 2 || g->v[0].n != 1 || g->v[0].p[0] != t->name)
            continue;
        if (bsearch(&g->v[1], t->values, t->n, sizeof *t->values, cmpstr))
            return 1;
    }
    return 0;
}

int hearth_filter_match(const hearth_filter *f, const hearth_event *ev)
{
    /* cheapest conditions first: most events fail on time or kind */
    if (f->has_since && ev->created_at < f->since)
        return 0;
    if (f->has_until && ev->created_at > f->until)
        return 0;
    if (f->has_kinds && (f->nkinds == 0 ||
                         !bsearch(&ev->kind, f->kinds, f->nkinds,
                                  sizeof *f->kinds, cmpkind)))
        return 0;
    if (f->has_ids && (!(ev->has & HEARTH_EV_HAS_ID) ||
                       !has32((const uint8_t (*)[32])f->ids, f->nids, ev->id)))
        return 0;
    if (f->has_authors &&
        (!(ev->has & HEARTH_EV_HAS_PUBKEY) ||
         !has32((const uint8_t (*)[32])f->authors, f->nauthors, ev->pubkey)))
        return 0;
    for (size_t i = 0; i < f->ntags; i++)
        if (!tag_matches(&f->tags[i], ev))
            return 0;
    return 1;
}

int hearth_filter_match_any(hearth_filter *const *filters, size_t n,
                            const hearth_event *ev)
{
    for (size_t i = 0; i < n; i++)
        if (hearth_filter_match(filters[i], ev))
            return 1;
    return 0;
}
