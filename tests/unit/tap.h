/* Minimal test harness: CHECK records a failure with file:line and goes on;
 * tap_done() prints "N checks, M failed" and gives the exit status. */
#ifndef HEARTH_TAP_H
#define HEARTH_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_checks, tap_failed;

#define CHECK(cond)                                                        \
    do {                                                                   \
        tap_checks++;                                                      \
        if (!(cond)) {                                                     \
            tap_failed++;                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
        }                                                                  \
    } while (0)

#define CHECKF(cond, ...)                                                  \
    do {                                                                   \
        tap_checks++;                                                      \
        if (!(cond)) {                                                     \
            tap_failed++;                                                  \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__,         \
                    __LINE__, #cond);                                      \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

static inline int tap_done(void)
{
    printf("%d checks, %d failed\n", tap_checks, tap_failed);
    return tap_failed ? 1 : (tap_checks ? 0 : 1); /* no checks = failure */
}

/* Read a whole file (tests/vectors/...) relative to the test workdir;
 * aborts the test if missing, so a vector file cannot be silently skipped. */
static inline char *tap_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    p[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return p;
}

#endif
