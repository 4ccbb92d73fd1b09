/* hearth-html2text: an exec runner (docs/runner-exec.md) for NIP-90 kind
 * 5000, text extraction. Each "text" input holds an HTML document or
 * fragment; the result is its readable text: tags removed, scripts,
 * styles and other non-text elements dropped, entities decoded, blocks
 * on their own lines, list items marked "- ", whitespace collapsed
 * except inside <pre>.
 *
 * It runs offline in the sandbox, so "url" inputs are refused: the
 * customer sends the page itself. It never writes the input anywhere but
 * into the result. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define PROTOCOL_VERSION 1
#define KIND_EXTRACT 5000
#define REQUEST_MAX (64u << 20)   /* bytes of the request line */

/* ---- growable output ---- */

typedef struct text {
    char *p;
    size_t len, cap;
    int oom;
} text;

static void text_add(text *t, const char *s, size_t n)
{
    if (t->oom)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->oom = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = 0;
}

/* ---- protocol lines ---- */

/* One JSON object per line, flushed at once so hearth sees progress as
 * it happens. */
static int emit(json_t *msg)
{
    if (!msg)
        return -1;
    char *s = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!s)
        return -1;
    int ok = printf("%s\n", s) > 0 && fflush(stdout) == 0;
    free(s);
    return ok ? 0 : -1;
}

/* cause "input": the customer's job is at fault; "runner": we are */
static int fail(const char *sentence, const char *cause)
{
    emit(json_pack("{s:s,s:s}", "error", sentence, "cause", cause));
    return 1;
}

/* ---- the converter ---- */

typedef struct conv {
    text out;
    int space;       /* whitespace seen since the last character */
    int newlines;    /* line breaks owed before the next character, 0..2 */
    int bullet;      /* a list item starts before the next character */
    int pre;         /* depth of <pre> */
    size_t done, total;   /* input bytes, for progress */
    int last_tenth;
} conv;

static void want_lines(conv *c, int n)
{
    if (c->newlines < n)
        c->newlines = n;
}

/* Pay what is owed (breaks, a space, a bullet), then write s. */
static void put(conv *c, const char *s, size_t n)
{
    if (c->out.len) {
        if (c->newlines) {
            text_add(&c->out, "\n\n", (size_t)c->newlines);
        } else if (c->space && c->out.p[c->out.len - 1] != '\n')
            text_add(&c->out, " ", 1);
    }
    if (c->bullet)
        text_add(&c->out, "- ", 2);
    c->newlines = c->space = c->bullet = 0;
    text_add(&c->out, s, n);
}

static void put_space(conv *c, char ch)
{
    if (!c->pre)
        c->space = 1;
    else if (ch != '\r')
        put(c, &ch, 1);
}

static void put_codepoint(conv *c, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        cp = 0xFFFD;
    if (cp == 0xA0) {   /* no-break space: plain text has only one kind */
        put_space(c, ' ');
        return;
    }
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (cp < 0x80 && isspace((unsigned char)cp))
        put_space(c, (char)cp);
    else
        put(c, b, n);
}

static const struct { const char *name; uint32_t cp; } entities[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
    {"nbsp", 0xA0}, {"copy", 0xA9}, {"reg", 0xAE}, {"trade", 0x2122},
    {"mdash", 0x2014}, {"ndash", 0x2013}, {"hellip", 0x2026},
    {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"laquo", 0xAB}, {"raquo", 0xBB}, {"bull", 0x2022},
    {"middot", 0xB7}, {"deg", 0xB0}, {"times", 0xD7}, {"divide", 0xF7},
    {"euro", 0x20AC}, {"pound", 0xA3}, {"yen", 0xA5}, {"cent", 0xA2},
    {"sect", 0xA7}, {"para", 0xB6}, {"plusmn", 0xB1}, {"shy", 0xAD},
    {"eacute", 0xE9}, {"egrave", 0xE8}, {"agrave", 0xE0}, {"uuml", 0xFC},
    {"ouml", 0xF6}, {"auml", 0xE4}, {"szlig", 0xDF}, {"ccedil", 0xE7},
    {"larr", 0x2190}, {"rarr", 0x2192}, {"hearts", 0x2665},
};

/* these five are often written without the semicolon */
static int legacy_entity(const char *name)
{
    return !strcmp(name, "amp") || !strcmp(name, "lt") ||
           !strcmp(name, "gt") || !strcmp(name, "quot") ||
           !strcmp(name, "nbsp");
}

static size_t numeric_entity(const char *s, size_t n, uint32_t *cp)
{
    size_t i = 2;   /* past "&#" */
    int hex = i < n && (s[i] == 'x' || s[i] == 'X');
    uint64_t v = 0;
    size_t digits = 0;
    if (hex)
        i++;
    for (; i < n && digits < 8; i++, digits++) {
        int d = hex ? (isxdigit((unsigned char)s[i])
                           ? (isdigit((unsigned char)s[i])
                                  ? s[i] - '0'
                                  : (tolower((unsigned char)s[i]) - 'a' + 10))
                           : -1)
                    : (isdigit((unsigned char)s[i]) ? s[i] - '0' : -1);
        if (d < 0)
            break;
        v = v * (hex ? 16 : 10) + (uint64_t)d;
    }
    if (!digits)
        return 0;
    *cp = v > 0x10FFFF ? 0xFFFD : (uint32_t)v;
    return i < n && s[i] == ';' ? i + 1 : i;
}

/* Length of the entity at s ('&'), its code point in *cp; 0 if s is a
 * plain ampersand. */
static size_t entity(const char *s, size_t n, uint32_t *cp)
{
    if (n > 1 && s[1] == '#')
        return numeric_entity(s, n, cp);
    char name[12];
    size_t i = 1;
    while (i < n && i - 1 < sizeof name - 1 && isalnum((unsigned char)s[i])) {
        name[i - 1] = s[i];
        i++;
    }
    name[i - 1] = 0;
    int semi = i < n && s[i] == ';';
    if (!name[0] || (!semi && !legacy_entity(name)))
        return 0;
    for (size_t k = 0; k < sizeof entities / sizeof entities[0]; k++)
        if (!strcmp(entities[k].name, name)) {
            *cp = entities[k].cp;
            return semi ? i + 1 : i;
        }
    return 0;
}

static int in_list(const char *name, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(name, list[i]))
            return 1;
    return 0;
}

/* elements whose content is not text a reader sees */
static const char *const skipped[] = {
    "script", "style", "noscript", "template", "title", "textarea", "svg",
    "math", "iframe", "object", "select", NULL
};
/* elements that stand apart by a blank line */
static const char *const paragraphs[] = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table",
    "blockquote", "pre", "figure", "hr", "address", "fieldset", NULL
};
/* elements that start a new line */
static const char *const lines[] = {
    "div", "section", "article", "header", "footer", "nav", "aside",
    "main", "tr", "dt", "dd", "li", "form", "figcaption", "caption",
    "details", "summary", "body", "html", NULL
};

/* One character of text at s[i]; returns its length. A whole UTF-8
 * sequence goes at once: the input came as a JSON string, so it is
 * valid. */
static size_t plain(conv *c, const char *s, size_t n, size_t i)
{
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x80 && isspace(ch)) {
        put_space(c, (char)ch);
        return 1;
    }
    size_t len = ch < 0x80 ? 1 : ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2;
    if (i + len > n)
        len = n - i;
    put(c, s + i, len);
    return len;
}

/* Skip to the end of a tag starting at s[i] (after its name); returns the
 * index after '>', honouring quoted attribute values. */
static size_t tag_end(const char *s, size_t n, size_t i)
{
    char quote = 0;
    for (; i < n; i++) {
        if (quote) {
            if (s[i] == quote)
                quote = 0;
        } else if (s[i] == '"' || s[i] == '\'')
            quote = s[i];
        else if (s[i] == '>')
            return i + 1;
    }
    return n;
}

/* Index after the closing tag "</name" ... '>' from i, or n. */
static size_t skip_element(const char *s, size_t n, size_t i,
                           const char *name)
{
    size_t len = strlen(name);
    for (; i + 2 + len <= n; i++)
        if (s[i] == '<' && s[i + 1] == '/' &&
            !strncasecmp(s + i + 2, name, len) &&
            (i + 2 + len == n || !isalnum((unsigned char)s[i + 2 + len])))
            return tag_end(s, n, i + 2 + len);
    return n;
}

static void on_tag(conv *c, const char *name, int closing)
{
    if (!strcmp(name, "br")) {
        if (c->newlines < 2)
            c->newlines++;
        else
            text_add(&c->out, "\n", 1);
    } else if (!strcmp(name, "pre")) {
        c->pre += closing ? (c->pre > 0 ? -1 : 0) : 1;
        want_lines(c, 2);
    } else if (in_list(name, paragraphs))
        want_lines(c, 2);
    else if (in_list(name, lines))
        want_lines(c, 1);
    else if (!strcmp(name, "td") || !strcmp(name, "th"))
        c->space = 1;
    if (!closing && !strcmp(name, "li"))
        c->bullet = 1;
}

/* A tag, comment or declaration at s[i] == '<'; returns the index after
 * it, or 0 when the '<' is plain text. */
static size_t markup(conv *c, const char *s, size_t n, size_t i)
{
    if (i + 3 < n && !strncmp(s + i, "<!--", 4)) {
        for (size_t k = i + 4; k + 3 <= n; k++)
            if (!strncmp(s + k, "-->", 3))
                return k + 3;
        return n;
    }
    if (i + 8 < n && !strncmp(s + i, "<![CDATA[", 9)) {
        size_t k = i + 9;
        while (k + 3 <= n && strncmp(s + k, "]]>", 3))
            k++;
        if (k + 3 > n)
            k = n;
        for (size_t j = i + 9; j < k;)
            j += plain(c, s, k, j);
        return k + 3 <= n ? k + 3 : n;
    }
    if (i + 1 < n && (s[i + 1] == '!' || s[i + 1] == '?'))
        return tag_end(s, n, i + 2);
    int closing = i + 1 < n && s[i + 1] == '/';
    size_t k = i + 1 + (size_t)closing;
    if (k >= n || !isalpha((unsigned char)s[k]))
        return 0;
    char name[32];
    size_t len = 0;
    while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '-' ||
                     s[k] == ':')) {
        if (len < sizeof name - 1)
            name[len++] = (char)tolower((unsigned char)s[k]);
        k++;
    }
    name[len] = 0;
    size_t end = tag_end(s, n, k);
    int self_closing = end >= 2 && s[end - 1] == '>' && s[end - 2] == '/';
    if (!closing && !self_closing && in_list(name, skipped))
        return skip_element(s, n, end, name);
    on_tag(c, name, closing);
    return end;
}

static void progress(conv *c, size_t at)
{
    if (!c->total)
        return;
    int tenth = (int)((c->done + at) * 10 / c->total);
    if (tenth > c->last_tenth && tenth < 10) {
        c->last_tenth = tenth;
        emit(json_pack("{s:i}", "progress", tenth * 10));
    }
}

static void convert(conv *c, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if ((i & 0xFFFF) == 0)
            progress(c, i);
        unsigned char ch = (unsigned char)s[i];
        if (ch == '<') {
            size_t end = markup(c, s, n, i);
            if (end) {
                i = end;
                continue;
            }
        } else if (ch == '&') {
            uint32_t cp;
            size_t len = entity(s + i, n - i, &cp);
            if (len) {
                put_codepoint(c, cp);
                i += len;
                continue;
            }
        }
        i += plain(c, s, n, i);
    }
    c->done += n;
}

/* ---- the job ---- */

static int describe(void)
{
    return emit(json_pack("{s:i,s:s,s:[i],s:[]}", "v", PROTOCOL_VERSION,
                          "name", "html2text", "kinds", KIND_EXTRACT,
                          "models")) ? 1 : 0;
}

static json_t *read_request(void)
{
    text in = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0 && !in.oom) {
        if (in.len + n > REQUEST_MAX) {
            free(in.p);
            return NULL;
        }
        text_add(&in, buf, n);
    }
    json_error_t err;
    json_t *req = in.oom || !in.p ? NULL
                                   : json_loadb(in.p, in.len, 0, &err);
    free(in.p);
    return req;
}

/* The checks a customer's job must pass, as one sentence or NULL. */
static const char *job_problem(json_t *req)
{
    json_t *inputs = json_object_get(req, "inputs"), *in;
    json_t *output = json_object_get(req, "output");
    size_t i;
    if (json_array_size(inputs) == 0)
        return "the job has no input";
    if (json_is_string(output) &&
        strcmp(json_string_value(output), "text/plain"))
        return "only text/plain output is offered";
    json_array_foreach(inputs, i, in) {
        const char *type = json_string_value(json_object_get(in, "type"));
        if (!json_is_string(json_object_get(in, "value")))
            return "an input has no value";
        if (type && strcmp(type, "text"))
            return "only text inputs are taken: send the HTML itself, "
                   "this runner has no network";
    }
    return NULL;
}

static int run(json_t *req)
{
    json_t *v = json_object_get(req, "v");
    if (!json_is_integer(v) || json_integer_value(v) != PROTOCOL_VERSION)
        return fail("unsupported protocol version", "runner");
    const char *problem = job_problem(req);
    if (problem)
        return fail(problem, "input");
    json_t *inputs = json_object_get(req, "inputs"), *in;
    conv c = {0};
    size_t i;
    json_array_foreach(inputs, i, in)
        c.total += json_string_length(json_object_get(in, "value"));
    emit(json_pack("{s:i}", "progress", 0));
    json_array_foreach(inputs, i, in) {
        json_t *value = json_object_get(in, "value");
        if (i > 0)
            want_lines(&c, 2);
        convert(&c, json_string_value(value), json_string_length(value));
    }
    if (c.out.oom) {
        free(c.out.p);
        return fail("out of memory", "runner");
    }
    json_t *result = json_stringn(c.out.p ? c.out.p : "", c.out.len);
    free(c.out.p);
    if (!result)
        return fail("the extracted text is not valid UTF-8", "runner");
    return emit(json_pack("{s:o}", "result", result)) ? 1 : 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--describe"))
            return describe();
    json_t *req = read_request();
    if (!json_is_object(req)) {
        json_decref(req);
        return fail("the request is not a JSON object", "runner");
    }
    int rc = run(req);
    json_decref(req);
    return rc;
}
