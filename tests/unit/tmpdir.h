/* Temporary directories for tests that open LMDB stores and views. */
#ifndef HEARTH_TEST_TMPDIR_H
#define HEARTH_TEST_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh directory under $TMPDIR (or /tmp); the caller frees the path.
 * Exits the test if it cannot be made: nothing after could be trusted. */
static inline char *tap_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *p = malloc(4096);
    if (!p)
        exit(1);
    snprintf(p, 4096, "%s/hearth-%s-XXXXXX", base ? base : "/tmp", tag);
    if (!mkdtemp(p)) {
        perror("mkdtemp");
        exit(1);
    }
    return p;
}

/* Remove dir and everything below it; 0 or -1. */
static inline int tap_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4200];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof path)
            continue; /* never act on a truncated path */
        if (unlink(path) != 0)
            tap_rmtree(path);
    }
    if (d)
        closedir(d);
    return rmdir(dir);
}

#endif
