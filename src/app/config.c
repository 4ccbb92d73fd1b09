/* The configuration file's reader (docs/configuration.md). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

void config_free(struct config *c)
{
    free(c->e);
    free(c->mem);
    memset(c, 0, sizeof *c);
}

static int key_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* A quoted value: copy with escapes into out (room for the whole line).
 * Only spaces and a comment may follow the closing quote. */
static const char *quoted(const char *p, const char *end, char *out)
{
    for (p++; p < end && *p != '"'; p++) {
        if (*p == '\\') {
            if (++p == end || (*p != '\\' && *p != '"'))
                return NULL;
        }
        *out++ = *p;
    }
    *out = '\0';
    if (p == end)
        return NULL;
    p = skip_space(p + 1, end);
    return p == end || *p == '#' ? p : NULL;
}

/* One non-blank, non-comment line into e; its value into out. */
static int parse_line(const char *p, const char *end, unsigned line,
                      struct config_entry *e, char *out, char *err,
                      size_t errlen)
{
    const char *k = p;
    while (p < end && key_char(*p))
        p++;
    if (p == k || (size_t)(p - k) > CONFIG_KEY_MAX)
        return fail(err, errlen, "line %u: expected 'key = value' with a "
                    "lowercase key of at most %u characters", line,
                    CONFIG_KEY_MAX);
    memcpy(e->key, k, (size_t)(p - k));
    e->key[p - k] = '\0';
    e->line = line;
    p = skip_space(p, end);
    if (p == end || *p != '=')
        return fail(err, errlen, "line %u: expected '=' after '%s'", line,
                    e->key);
    p = skip_space(p + 1, end);
    if (p < end && *p == '"') {
        if (!quoted(p, end, out))
            return fail(err, errlen, "line %u: unterminated or bad quoted "
                        "value (escape only \\\\ and \\\")", line);
        return 0;
    }
    const char *v = p, *ve = end;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    if (ve == v)
        return fail(err, errlen, "line %u: '%s' has no value", line, e->key);
    memcpy(out, v, (size_t)(ve - v));
    out[ve - v] = '\0';
    return 0;
}

static int check_bytes(const char *t, size_t len, char *err, size_t errlen)
{
    unsigned line = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)t[i];
        if (ch == '\n')
            line++;
        else if (ch == 0 || (ch < 0x20 && ch != '\t' && ch != '\r') ||
                 ch == 0x7f)
            return fail(err, errlen, "line %u: control character 0x%02x",
                        line, ch);
    }
    return 0;
}

int config_parse(const char *text, size_t len, struct config *c, char *err,
                 size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (len > CONFIG_MAX_BYTES)
        return fail(err, errlen, "larger than %u bytes", CONFIG_MAX_BYTES);
    if (check_bytes(text, len, err, errlen))
        return -1;
    c->e = calloc(CONFIG_MAX_ENTRIES, sizeof *c->e);
    c->mem = malloc(len + 1);  /* values are never longer than the text */
    if (!c->e || !c->mem) {
        config_free(c);
        return fail(err, errlen, "out of memory");
    }
    size_t used = 0;
    unsigned line = 0;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        if (le - p > (long)CONFIG_MAX_LINE) {
            config_free(c);
            return fail(err, errlen, "line %u: longer than %u bytes", line,
                        CONFIG_MAX_LINE);
        }
        const char *q = skip_space(p, le), *qe = le;
        if (qe > q && qe[-1] == '\r')
            qe--;
        if (q < qe && *q != '#') {
            if (c->n == CONFIG_MAX_ENTRIES) {
                config_free(c);
                return fail(err, errlen, "line %u: more than %u settings",
                            line, CONFIG_MAX_ENTRIES);
            }
            struct config_entry *e = &c->e[c->n];
            if (parse_line(q, qe, line, e, c->mem + used, err, errlen)) {
                config_free(c);
                return -1;
            }
            e->value = c->mem + used;
            used += strlen(e->value) + 1;
            c->n++;
        }
        p = nl ? nl + 1 : end;
    }
    /* values point into mem, which does not move: offsets were absolute */
    return 0;
}

/* Read at most CONFIG_MAX_BYTES + 1 so an oversized file is refused
 * without reading all of it. */
static int read_small(int fd, char *buf, size_t *len)
{
    size_t n = 0;
    while (n <= CONFIG_MAX_BYTES) {
        ssize_t r = read(fd, buf + n, CONFIG_MAX_BYTES + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *len = n;
    return 0;
}

int config_load(const char *path, int missing_ok, struct config *c,
                char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && missing_ok)
        return 0;
    if (fd < 0)
        return fail(err, errlen, "%s: %s", path, strerror(errno));
    char *buf = malloc(CONFIG_MAX_BYTES + 1);
    size_t len = 0;
    int rc = buf ? read_small(fd, buf, &len) : -1;
    int e = errno;
    close(fd);
    if (rc) {
        free(buf);
        return fail(err, errlen, "%s: %s", path, strerror(e));
    }
    char why[CONFIG_ERR_MAX];
    rc = config_parse(buf, len, c, why, sizeof why);
    free(buf);
    if (rc)
        return fail(err, errlen, "%s: %s", path, why);
    return 0;
}

const char *config_default_path(char *buf, size_t n)
{
    const char *env = getenv("HEARTH_CONFIG");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int w;
    if (env && *env)
        w = snprintf(buf, n, "%s", env);
    else if (xdg && *xdg == '/')
        w = snprintf(buf, n, "%s/hearth/hearth.conf", xdg);
    else
        w = snprintf(buf, n, "%s/.config/hearth/hearth.conf",
                     home && *home ? home : ".");
    return w > 0 && (size_t)w < n ? buf : NULL;
}

/* Levenshtein distance, stopping early past 2 (keys are short) */
static unsigned distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned row[CONFIG_KEY_MAX + 2];
    if (la > CONFIG_KEY_MAX || lb > CONFIG_KEY_MAX)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            unsigned best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *config_suggest(const char *key, const char *const *known,
                           size_t nknown)
{
    const char *best = NULL;
    unsigned bd = 3;
    for (size_t i = 0; i < nknown; i++) {
        unsigned d = distance(key, known[i]);
        if (d < bd) {
            bd = d;
            best = known[i];
        }
    }
    return best;
}
