/* hearth-strfry-policy: the write policy of `hearth relay` as a strfry
 * writePolicy plugin (strfry docs/plugins.md).
 *
 * strfry writes one JSON request per line to our stdin and then blocks
 * until it reads an answer carrying that event's id from our stdout. So:
 * every request that carries an id gets exactly one answer line, flushed
 * at once; nothing in the input may crash or stall us; and lines we cannot
 * answer (no id) are only logged, since an answer with a made-up id would
 * make strfry restart us.
 *
 * Decisions (docs/relay-operators.md explains them to operators):
 * - No signature check by default: strfry verifies ids and signatures
 *   before it consults a plugin, and verifying again costs ~50 us per
 *   event. --verify turns it on, for feeding requests from elsewhere.
 * - The same policy for every sourceType (IP4, IP6, Import, Stream, Sync):
 *   a discovery relay should not store through a sync what it refuses
 *   from a client.
 * - The clock is the request's receivedAt (strfry stamps it with its own
 *   time(), in seconds); our clock only if it is missing.
 * - Problems with the event get the parser's or policy's NIP-01 reason
 *   ("invalid:", "blocked:", "pow:"); problems with the request around it
 *   are the relay's fault and say "error:". */
#include "hearth/buf.h"
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/policy.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "0.1.0"
#endif

#define PROG "hearth-strfry-policy"

/* strfry sends the normalised event (at most its maxEventSize, 64 KiB by
 * default) plus ~200 bytes of envelope, so 1 MiB leaves ample room while
 * bounding what one line can make us hold. */
#define DEFAULT_MAX_LINE (1u << 20)
#define MIN_MAX_LINE 4096u
#define MAX_MAX_LINE (64u << 20)

#define MSG_MALFORMED "error: the relay sent a malformed policy request"
#define MSG_TOO_LONG "invalid: event too large for this relay"

enum { EXIT_USAGE = 2, EXIT_RUN = 3 };

/* ---- finding event.id without a full parse ----
 *
 * A line too long to keep, or one that is not valid JSON, still has to be
 * answered with its id, and strfry writes keys in sorted order, so the id
 * comes after the (possibly huge) content. This scanner follows only
 * string boundaries and nesting, byte by byte, and remembers the value of
 * the key "id" directly inside the top-level "event" object. */

enum { WANT_NONE, WANT_EVENT, WANT_ID };

struct sniff {
    long depth;        /* open { and [ outside strings */
    long event_depth;  /* depth inside the top-level event object, else 0 */
    int in_str, esc;
    char s[65];        /* the current string, while it is short and plain */
    size_t n;
    int plain;         /* no escapes and at most 64 bytes */
    int after_string;  /* the last token was a string: ':' makes it a key */
    int want;          /* what the value after the current ':' is */
    int reading_id;    /* the current string is event.id's value */
    int nids, id_ok;
    char id[65];
};

static void sniff_init(struct sniff *s)
{
    memset(s, 0, sizeof *s);
}

static int is_hex64(const char *p, size_t n)
{
    if (n != 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    return 1;
}

static int sniff_key_is(const struct sniff *s, const char *key)
{
    return s->plain && s->n == strlen(key) && !memcmp(s->s, key, s->n);
}

static void sniff_string_end(struct sniff *s)
{
    s->s[s->n] = '\0';
    if (!s->reading_id) {
        s->after_string = 1;
        return;
    }
    /* two ids would make any answer a guess, so count them */
    s->nids++;
    s->id_ok = s->plain && is_hex64(s->s, s->n);
    if (s->id_ok)
        memcpy(s->id, s->s, sizeof s->id);
    s->reading_id = 0;
}

static void sniff_byte(struct sniff *s, unsigned char c)
{
    if (s->in_str) {
        if (s->esc) {
            s->esc = 0;
        } else if (c == '\\') {
            s->esc = 1;
            s->plain = 0;
        } else if (c == '"') {
            s->in_str = 0;
            sniff_string_end(s);
        } else if (s->n < 64) {
            s->s[s->n++] = (char)c;
        } else {
            s->plain = 0;
        }
        return;
    }
    switch (c) {
    case ' ': case '\t': case '\r': case '\n':
        return;
    case '"':
        s->in_str = 1;
        s->n = 0;
        s->plain = 1;
        s->reading_id = s->want == WANT_ID;
        s->want = WANT_NONE;
        s->after_string = 0;
        return;
    case ':':
        s->want = WANT_NONE;
        if (s->after_string && s->depth == 1 && sniff_key_is(s, "event"))
            s->want = WANT_EVENT;
        else if (s->after_string && s->event_depth &&
                 s->depth == s->event_depth && sniff_key_is(s, "id"))
            s->want = WANT_ID;
        s->after_string = 0;
        return;
    case '{':
        s->depth++;
        if (s->want == WANT_EVENT && s->depth == 2)
            s->event_depth = 2;
        break;
    case '[':
        s->depth++;
        break;
    case '}': case ']':
        if (s->depth == s->event_depth)
            s->event_depth = 0;
        s->depth--;
        break;
    }
    s->want = WANT_NONE;
    s->after_string = 0;
}

static const char *sniff_id(const struct sniff *s)
{
    return s->nids == 1 && s->id_ok ? s->id : NULL;
}

/* ---- the plugin ---- */

struct plugin {
    hearth_policy policy;
    int verify;
    size_t max_line;
    char *line;         /* max_line + 1 bytes */
    unsigned long lineno;
    hearth_buf out;
};

/* One line up to '\n' or EOF. Keeps at most max_line bytes; every byte,
 * kept or not, goes through the sniffer. 0 at EOF with nothing read. */
static int read_line(struct plugin *pl, size_t *len, int *too_long,
                     struct sniff *sn)
{
    size_t n = 0;
    int c, any = 0;
    *too_long = 0;
    sniff_init(sn);
    while ((c = getc_unlocked(stdin)) != EOF) {
        any = 1;
        if (c == '\n')
            break;
        sniff_byte(sn, (unsigned char)c);
        if (n < pl->max_line)
            pl->line[n++] = (char)c;
        else
            *too_long = 1;
    }
    pl->line[n] = '\0';
    *len = n;
    return any;
}

static void logf_line(const struct plugin *pl, const char *what,
                      const char *detail)
{
    fprintf(stderr, PROG ": line %lu: %s%s%s\n", pl->lineno, what,
            detail ? ": " : "", detail ? detail : "");
}

/* strfry reads answers with an 8 KiB fgets; ids are 64 bytes and every
 * msg is a short static reason, so a line always fits. */
static int answer(struct plugin *pl, const char *id, int accept,
                  const char *msg)
{
    hearth_buf *b = &pl->out;
    hearth_buf_reset(b);
    hearth_buf_adds(b, "{\"id\":\"");
    hearth_buf_adds(b, id);
    hearth_buf_adds(b, accept ? "\",\"action\":\"accept\",\"msg\":"
                              : "\",\"action\":\"reject\",\"msg\":");
    hearth_buf_addjson(b, msg, strlen(msg));
    hearth_buf_adds(b, "}\n");
    if (hearth_buf_error(b))
        return HEARTH_ENOMEM;
    if (fwrite(b->p, 1, b->len, stdout) != b->len || fflush(stdout) != 0)
        return HEARTH_EIO;
    return HEARTH_OK;
}

/* Reject when we know the id; otherwise strfry cannot be waiting for us
 * (it always sends one), so a log line is all we can do. */
static int reject_or_log(struct plugin *pl, const char *id, const char *msg,
                         const char *what, const char *detail)
{
    logf_line(pl, what, detail);
    return id ? answer(pl, id, 0, msg) : HEARTH_OK;
}

static int judge_event(struct plugin *pl, const char *id, json_t *jev,
                       int64_t now)
{
    /* the re-encoding is byte-faithful for what the strict parser cares
     * about (jansson already refused duplicate keys and bad UTF-8, and
     * keeps reals as reals), and keeps the parser's public signature */
    char *text = json_dumps(jev, JSON_COMPACT);
    hearth_event *ev = NULL;
    const char *why = NULL;
    int rc = text ? hearth_event_parse(text, strlen(text), 0, &ev, &why)
                  : HEARTH_ENOMEM;
    free(text);
    /* strfry treats a dead plugin as "error: internal error" anyway, and
     * this way the next event may still fit */
    if (rc == HEARTH_ENOMEM)
        return answer(pl, id, 0, "error: out of memory in the policy plugin");
    if (rc != HEARTH_OK)
        return answer(pl, id, 0, why ? why : "invalid: malformed event");
    if (pl->verify && hearth_event_verify(ev, &why) != HEARTH_OK) {
        hearth_event_free(ev);
        return answer(pl, id, 0, why);
    }
    rc = hearth_policy_check(&pl->policy, ev, now, &why);
    hearth_event_free(ev);
    return rc == HEARTH_OK ? answer(pl, id, 1, "") : answer(pl, id, 0, why);
}

static int handle_line(struct plugin *pl, size_t len, int too_long,
                       const struct sniff *sn)
{
    const char *sid = sniff_id(sn);
    if (too_long)
        return reject_or_log(pl, sid, MSG_TOO_LONG,
                             "request longer than --max-line", NULL);
    size_t i = 0;
    while (i < len && (pl->line[i] == ' ' || pl->line[i] == '\t' ||
                       pl->line[i] == '\r'))
        i++;
    if (i == len)
        return HEARTH_OK;

    json_error_t err;
    json_t *req = json_loadb(pl->line, len,
                             JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!req)
        return reject_or_log(pl, sid, MSG_MALFORMED, "not JSON", err.text);
    int rc = HEARTH_OK;
    json_t *type = json_object_get(req, "type");
    json_t *jev = json_object_get(req, "event");
    json_t *jid = json_object_get(jev, "id");
    json_t *at = json_object_get(req, "receivedAt");
    const char *id = json_is_string(jid) &&
                     is_hex64(json_string_value(jid), json_string_length(jid))
                         ? json_string_value(jid) : NULL;
    if (!json_is_object(req)) {
        logf_line(pl, "request is not a JSON object", NULL);
    } else if (!json_is_string(type)) {
        rc = reject_or_log(pl, id, MSG_MALFORMED, "request without a type",
                           NULL);
    } else if (strcmp(json_string_value(type), "new") != 0) {
        /* the protocol defines answers only to "new"; answering anything
         * else could desynchronise strfry's request/answer pairing */
        logf_line(pl, "ignoring request of type", json_string_value(type));
    } else if (!id) {
        logf_line(pl, "request without an event id to answer", NULL);
    } else {
        int64_t now = json_is_integer(at) && json_integer_value(at) >= 0
                          ? (int64_t)json_integer_value(at)
                          : (int64_t)time(NULL);
        rc = judge_event(pl, id, jev, now);
    }
    json_decref(req);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: " PROG " [options]\n\n"
        "strfry writePolicy plugin applying hearth's relay policy (the same\n"
        "rules as `hearth relay`). Reads strfry's JSON-line requests on stdin,\n"
        "answers accept or reject on stdout, logs problems on stderr.\n\n"
        "options:\n"
        "  --discovery            accept only hearth market kinds\n"
        "  --job-kinds LIST       with --discovery, the NIP-90 request kinds\n"
        "                         (and their results) to host, e.g.\n"
        "                         5970,5100-5199 (default: all of 5000-5999)\n"
        "  --pow LIST             minimum NIP-13 difficulty per kind, e.g.\n"
        "                         31907:8,*:0 (* = every other kind)\n"
        "  --max-future SECONDS   refuse created_at further ahead than this\n"
        "                         (default 900, 0 = no limit)\n"
        "  --verify               check ids and signatures again (strfry\n"
        "                         already has; use when feeding other input)\n"
        "  --max-line BYTES       longest request line kept (default %u)\n"
        "  -h, --help             this help\n"
        "  --version              print the version\n\n"
        "Exit status: 0 at end of input, 2 usage error, 3 could not run.\n",
        DEFAULT_MAX_LINE);
}

/* "--name VALUE" or "--name=VALUE"; NULL if argv[*i] is not --name */
static const char *opt_value(int argc, char **argv, int *i, const char *name,
                             int *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static int parse_count(const char *s, long long min, long long max,
                       long long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

/* 0 to run, -1 to exit 0 (help/version), else a usage error was printed */
static int parse_args(int argc, char **argv, struct plugin *pl)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v, *why = NULL;
        int missing = 0;
        long long n;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--version")) {
            printf(PROG " %s\n", HEARTH_VERSION);
            return -1;
        } else if (!strcmp(a, "--discovery")) {
            pl->policy.discovery = 1;
        } else if (!strcmp(a, "--verify")) {
            pl->verify = 1;
        } else if ((v = opt_value(argc, argv, &i, "--job-kinds", &missing))) {
            if (hearth_policy_parse_kinds(&pl->policy, v, &why) != HEARTH_OK)
                goto bad_value;
        } else if ((v = opt_value(argc, argv, &i, "--pow", &missing))) {
            if (hearth_policy_parse_pow(&pl->policy, v, &why) != HEARTH_OK)
                goto bad_value;
        } else if ((v = opt_value(argc, argv, &i, "--max-future", &missing))) {
            why = "expected whole seconds (0 = no limit)";
            if (!parse_count(v, 0, HEARTH_MAX_TIMESTAMP, &n))
                goto bad_value;
            pl->policy.max_future = n;
        } else if ((v = opt_value(argc, argv, &i, "--max-line", &missing))) {
            why = "expected a byte count from 4096 to 67108864";
            if (!parse_count(v, MIN_MAX_LINE, MAX_MAX_LINE, &n))
                goto bad_value;
            pl->max_line = (size_t)n;
        } else {
            fprintf(stderr, PROG ": %s '%s' (see --help)\n",
                    missing ? "missing value for" : "unexpected argument", a);
            return EXIT_USAGE;
        }
        continue;
    bad_value:
        fprintf(stderr, PROG ": %s: %s\n", a, why);
        return EXIT_USAGE;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct plugin pl = {0};
    hearth_policy_init(&pl.policy);
    pl.max_line = DEFAULT_MAX_LINE;
    hearth_buf_init(&pl.out);
    int rc = parse_args(argc, argv, &pl);
    if (rc)
        return rc < 0 ? 0 : rc;

    /* a vanished strfry should end us with a log line, not a signal */
    signal(SIGPIPE, SIG_IGN);
    pl.line = malloc(pl.max_line + 1);
    if (!pl.line) {
        fprintf(stderr, PROG ": out of memory\n");
        return EXIT_RUN;
    }
    char kinds[32] = "5000-5999";
    if (pl.policy.njob_kinds)
        snprintf(kinds, sizeof kinds, "%zu listed", pl.policy.njob_kinds);
    fprintf(stderr, PROG ": ready (discovery %s, job kinds %s, %zu PoW "
            "rules, default PoW %d, max-future %lld s, verify %s)\n",
            pl.policy.discovery ? "on" : "off", kinds,
            pl.policy.npow, pl.policy.default_pow,
            (long long)pl.policy.max_future, pl.verify ? "on" : "off");

    size_t len;
    int too_long;
    struct sniff sn;
    int status = 0;
    while (read_line(&pl, &len, &too_long, &sn)) {
        pl.lineno++;
        rc = handle_line(&pl, len, too_long, &sn);
        if (rc != HEARTH_OK) {
            fprintf(stderr, PROG ": cannot answer strfry: %s\n",
                    hearth_strerror(rc));
            status = EXIT_RUN;
            break;
        }
    }
    if (!status && ferror(stdin)) {
        fprintf(stderr, PROG ": reading stdin: %s\n", strerror(errno));
        status = EXIT_RUN;
    }
    free(pl.line);
    hearth_buf_free(&pl.out);
    return status;
}
