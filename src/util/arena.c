#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct hearth_arena {
    struct hearth_arena *next;
    size_t used;
    size_t cap;
    alignas(max_align_t) unsigned char data[];
};

#define ALIGN (alignof(max_align_t))

void *hearth_arena_alloc(struct hearth_arena **a, size_t n, size_t hint)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + ALIGN - 1) & ~(ALIGN - 1);
    struct hearth_arena *h = *a;
    if (!h || h->cap - h->used < n) {
        size_t cap = hint > n ? hint : n;
        if (cap < 1024)
            cap = 1024;
        h = malloc(sizeof *h + cap);
        if (!h)
            return NULL;
        h->next = *a;
        h->used = 0;
        h->cap = cap;
        *a = h;
    }
    void *p = h->data + h->used;
    h->used += n;
    return p;
}

char *hearth_arena_strdup(struct hearth_arena **a, const char *s, size_t n,
                          size_t hint)
{
    char *p = hearth_arena_alloc(a, n + 1, hint);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void hearth_arena_free(struct hearth_arena *a)
{
    while (a) {
        struct hearth_arena *next = a->next;
        free(a);
        a = next;
    }
}
