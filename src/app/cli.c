#include "cli.h"
#include "hearth/error.h"
#include "hearth/keys.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("hearth: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void noun_help(FILE *f, const char *noun, const cli_verb *verbs)
{
    fprintf(f, "usage: hearth %s <verb> [options]\n\nverbs:\n", noun);
    for (const cli_verb *v = verbs; v->name; v++)
        fprintf(f, "  %-10s %s\n", v->name, v->summary);
    fprintf(f, "\nRun 'hearth %s <verb> --help' for options.\n", noun);
}

int cli_dispatch(const char *noun, const cli_verb *verbs, int argc,
                 char **argv)
{
    if (argc < 2) {
        noun_help(stderr, noun, verbs);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        noun_help(stdout, noun, verbs);
        return CLI_OK;
    }
    for (const cli_verb *v = verbs; v->name; v++)
        if (!strcmp(argv[1], v->name))
            return v->run(argc - 1, argv + 1);
    cli_error("unknown verb '%s %s' (see 'hearth %s --help')", noun, argv[1],
              noun);
    return CLI_USAGE;
}

int cli_read_line(FILE *f, hearth_buf *b)
{
    int c, too_long = 0;
    hearth_buf_reset(b);
    while ((c = getc(f)) != EOF && c != '\n') {
        if (b->len >= CLI_MAX_LINE) {
            too_long = 1;
            continue;
        }
        hearth_buf_addc(b, (char)c);
    }
    if (c == EOF && b->len == 0 && !too_long)
        return 0;
    if (b->len && b->p[b->len - 1] == '\r')
        b->p[--b->len] = '\0';
    return too_long ? -1 : 1;
}

void cli_default_key_path(char *path, size_t cap)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(path, cap, "%s/hearth/key", xdg);
    else
        snprintf(path, cap, "%s/.config/hearth/key", home ? home : ".");
}

int cli_load_key(const char *spec, unsigned char sk[32])
{
    char path[4096];
    const char *why = NULL;
    if (!spec)
        spec = getenv("HEARTH_KEY");
    if (!spec) {
        cli_default_key_path(path, sizeof path);
        spec = path;
    }
    int rc = hearth_key_load_pw(spec, cli_passphrase_cb, NULL, sk, &why);
    if (rc) {
        if (spec == path && rc == HEARTH_EIO)
            cli_error("no key: pass --key (an nsec, 64-char hex secret or key "
                      "file) or create %s with 'hearth key new --out %s'",
                      path, path);
        else
            cli_error("%s", why ? why : hearth_strerror(rc));
    }
    return rc;
}

int cli_mkdir_parents(const char *path)
{
    char dir[4096];
    size_t n = strlen(path);
    if (n >= sizeof dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, path, n + 1);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}
