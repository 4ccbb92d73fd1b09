/* Bump allocator owned by one object (an event, a filter): everything is
 * freed at once. Internal to libhearth. */
#ifndef HEARTH_ARENA_H
#define HEARTH_ARENA_H

#include <stddef.h>

struct hearth_arena;

/* Allocate n bytes aligned for any type; grows by new blocks of at least
 * hint bytes. Returns NULL on allocation failure. */
void *hearth_arena_alloc(struct hearth_arena **a, size_t n, size_t hint);
/* Copy n bytes and append a NUL. */
char *hearth_arena_strdup(struct hearth_arena **a, const char *s, size_t n,
                          size_t hint);
void hearth_arena_free(struct hearth_arena *a);

#endif
