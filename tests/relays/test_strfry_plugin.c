/* Drives the built hearth-strfry-policy over pipes the way strfry does:
 * one request line, then wait for its answer line (with a deadline, so a
 * plugin that buffers its stdout or hangs fails instead of blocking), and
 * compares every answer byte for byte. Requests are written as strfry
 * writes them: minified, keys sorted, so the event's id comes after its
 * content. A line that must get no answer is followed by a probe whose
 * answer has to be the very next line.
 *
 * usage: test_strfry_plugin PATH-TO-hearth-strfry-policy */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/nip13.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define NOW 1700000000LL
#define T_BLOCKED "blocked: this relay only accepts hearth market kinds"
#define T_FUTURE "invalid: created_at is too far in the future"
#define T_MALFORMED "error: the relay sent a malformed policy request"
#define T_TOO_LONG "invalid: event too large for this relay"

static const char *plugin_path;
static uint8_t sk[32];

/* ---- the plugin process ---- */

struct proc {
    pid_t pid;
    int in, out;       /* its stdin (we write), its stdout (we read) */
    FILE *err;         /* its stderr, kept in a temporary file */
    char buf[1 << 16];
    size_t have;
};

static void spawn(struct proc *p, const char *const *args)
{
    int in[2], out[2];
    memset(p, 0, sizeof *p);
    p->err = tmpfile();
    if (!p->err || pipe(in) || pipe(out)) {
        perror("spawn");
        exit(1);
    }
    const char *argv[32] = {plugin_path};
    for (int i = 0; args && args[i]; i++)
        argv[i + 1] = args[i];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fileno(p->err), 2);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    if (posix_spawn(&p->pid, plugin_path, &fa, NULL, (char *const *)argv,
                    environ)) {
        perror(plugin_path);
        exit(1);
    }
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    p->in = in[1];
    p->out = out[0];
}

static void send_raw(struct proc *p, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(p->in, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            perror("write to plugin");
            exit(1);
        }
        s += w;
        n -= (size_t)w;
    }
}

static void send_line(struct proc *p, const char *s)
{
    send_raw(p, s, strlen(s));
    send_raw(p, "\n", 1);
}

/* The next answer line (malloc'd, without '\n'), or NULL if none comes
 * within 10 seconds or stdout closes. */
static char *recv_line(struct proc *p)
{
    for (;;) {
        char *nl = memchr(p->buf, '\n', p->have);
        if (nl) {
            size_t n = (size_t)(nl - p->buf);
            char *line = strndup(p->buf, n);
            memmove(p->buf, nl + 1, p->have - n - 1);
            p->have -= n + 1;
            return line;
        }
        struct pollfd pfd = {p->out, POLLIN, 0};
        if (p->have == sizeof p->buf || poll(&pfd, 1, 10000) != 1)
            return NULL;
        ssize_t r = read(p->out, p->buf + p->have, sizeof p->buf - p->have);
        if (r <= 0)
            return NULL;
        p->have += (size_t)r;
    }
}

/* Close its stdin; its exit status (or -1), and its stderr in *log. */
static int finish(struct proc *p, char **log)
{
    close(p->in);
    int st = 0;
    if (waitpid(p->pid, &st, 0) != p->pid)
        st = -1;
    char *rest = recv_line(p);
    CHECKF(rest == NULL, "unexpected output at exit: %s", rest);
    free(rest);
    close(p->out);
    long n = ftell(p->err);
    *log = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    rewind(p->err);
    if (n > 0 && fread(*log, 1, (size_t)n, p->err) != (size_t)n)
        **log = '\0';
    fclose(p->err);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- requests and expected answers ---- */

static hearth_event *make_event(uint32_t kind, int64_t at, const char *content)
{
    hearth_event *ev = NULL;
    CHECK(hearth_event_new(kind, at, content, strlen(content), &ev) == 0);
    CHECK(hearth_event_sign(ev, sk) == 0);
    return ev;
}

/* an unmined event whose id has fewer than 8 leading zero bits */
static hearth_event *make_weak_event(uint32_t kind)
{
    for (int64_t at = NOW;; at++) {
        hearth_event *ev = make_event(kind, at, "");
        if (hearth_nip13_difficulty(ev) < 8)
            return ev;
        hearth_event_free(ev);
    }
}

static hearth_event *make_mined_event(uint32_t kind, int target)
{
    hearth_event *ev = NULL;
    CHECK(hearth_event_new(kind, NOW, "", 0, &ev) == 0);
    CHECK(hearth_key_pubkey(sk, ev->pubkey) == 0);
    ev->has |= HEARTH_EV_HAS_PUBKEY;
    CHECK(hearth_nip13_mine(ev, target, 0, NULL) == 0);
    CHECK(hearth_event_sign(ev, sk) == 0);
    return ev;
}

static json_t *event_json(const hearth_event *ev)
{
    hearth_buf b = HEARTH_BUF_INIT;
    CHECK(hearth_event_to_json(ev, &b) == 0);
    json_t *j = json_loadb(b.p, b.len, JSON_ALLOW_NUL, NULL);
    CHECK(j != NULL);
    hearth_buf_free(&b);
    return j;
}

static char *request_json(json_t *ev, const char *source, long long at)
{
    json_t *req = json_object();
    json_object_set_new(req, "type", json_string("new"));
    json_object_set_new(req, "event", ev);
    if (at >= 0)
        json_object_set_new(req, "receivedAt", json_integer(at));
    json_object_set_new(req, "sourceType", json_string(source));
    json_object_set_new(req, "sourceInfo",
                        json_string(strncmp(source, "IP", 2) ? "wss://peer.example"
                                                             : "203.0.113.7"));
    char *s = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(req);
    return s;
}

static char *request(const hearth_event *ev, const char *source)
{
    return request_json(event_json(ev), source, NOW);
}

static char *hexid(const hearth_event *ev)
{
    static char hex[65];
    hearth_hex_encode(ev->id, 32, hex);
    return hex;
}

static char *expected(const char *id, int accept, const char *msg)
{
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_addf(&b, "{\"id\":\"%s\",\"action\":\"%s\",\"msg\":", id,
                    accept ? "accept" : "reject");
    hearth_buf_addjson(&b, msg, strlen(msg));
    hearth_buf_addc(&b, '}');
    return b.p;
}

#define EXPECT(p, id, accept, msg) expect_answer(p, id, accept, msg, __LINE__)

static void expect_answer(struct proc *p, const char *id, int accept,
                          const char *msg, int line)
{
    char *want = expected(id, accept, msg);
    char *got = recv_line(p);
    CHECKF(got && !strcmp(got, want), "line %d: want %s got %s", line, want,
           got ? got : "(nothing)");
    free(want);
    free(got);
}

/* send one line, expect one answer */
static void ask(struct proc *p, char *req, const char *id, int accept,
                const char *msg, int line)
{
    send_line(p, req);
    expect_answer(p, id, accept, msg, line);
    free(req);
}
#define ASK(p, req, id, accept, msg) ask(p, req, id, accept, msg, __LINE__)

/* a line that must get no answer, then a probe that must */
static void silent(struct proc *p, const char *line, size_t n, int at)
{
    send_raw(p, line, n);
    send_raw(p, "\n", 1);
    hearth_event *ev = make_event(31990, NOW, "probe");
    char *req = request(ev, "IP4");
    send_line(p, req);
    expect_answer(p, hexid(ev), 1, "", at);
    free(req);
    hearth_event_free(ev);
}
#define SILENT(p, s) silent(p, s, strlen(s), __LINE__)

/* the reason hearth_event_parse gives for this event JSON */
static const char *parse_reason(json_t *ev)
{
    char *s = json_dumps(ev, JSON_COMPACT);
    hearth_event *out = NULL;
    const char *why = NULL;
    CHECK(hearth_event_parse(s, strlen(s), 0, &out, &why) != HEARTH_OK);
    CHECK(why && !strncmp(why, "invalid: ", 9));
    hearth_event_free(out);
    free(s);
    return why ? why : "?";
}

static void bad_event(struct proc *p, const char *key, json_t *value, int at)
{
    hearth_event *ev = make_event(31907, NOW, "x");
    json_t *j = event_json(ev);
    if (value)
        json_object_set_new(j, key, value);
    else
        json_object_del(j, key);
    const char *why = parse_reason(j);
    char *req = request_json(j, "IP4", NOW);
    ask(p, req, hexid(ev), 0, why, at);
    hearth_event_free(ev);
}

/* ---- the cases ---- */

static void test_policy(void)
{
    const char *args[] = {"--discovery", "--job-kinds", "5970,5100-5199",
                          "--pow", "31907:8,*:0", "--max-future", "900", NULL};
    struct proc p;
    spawn(&p, args);
    hearth_event *ev;

    /* market kinds pass, others are blocked */
    static const uint32_t ok_kinds[] = {0, 5, 10002, 31989, 31990, 7000,
                                        7441, 7442, 5970, 6970, 5100,
                                        5199, 6150};
    for (size_t i = 0; i < sizeof ok_kinds / sizeof *ok_kinds; i++) {
        ev = make_event(ok_kinds[i], NOW, "m");
        ASK(&p, request(ev, "IP4"), hexid(ev), 1, "");
        hearth_event_free(ev);
    }
    static const uint32_t blocked[] = {1, 3, 4, 7, 1984, 5000, 5200, 6200,
                                       22242, 30023, 7443};
    for (size_t i = 0; i < sizeof blocked / sizeof *blocked; i++) {
        ev = make_event(blocked[i], NOW, "m");
        ASK(&p, request(ev, "IP6"), hexid(ev), 0, T_BLOCKED);
        hearth_event_free(ev);
    }

    /* offers need 8 bits of committed work */
    ev = make_mined_event(31907, 8);
    ASK(&p, request(ev, "IP4"), hexid(ev), 1, "");
    hearth_event_free(ev);
    ev = make_weak_event(31907);
    char why[96];
    snprintf(why, sizeof why, "pow: difficulty %d is less than 8",
             hearth_nip13_difficulty(ev));
    ASK(&p, request(ev, "IP4"), hexid(ev), 0, why);
    hearth_event_free(ev);
    ev = make_mined_event(31907, 4);
    int d = hearth_nip13_difficulty(ev);
    if (d < 8)
        snprintf(why, sizeof why, "pow: difficulty %d is less than 8", d);
    else
        snprintf(why, sizeof why,
                 "pow: committed target difficulty 4 is less than 8");
    ASK(&p, request(ev, "IP4"), hexid(ev), 0, why);
    hearth_event_free(ev);

    /* the clock is receivedAt, else the plugin's own */
    ev = make_event(31990, NOW + 901, "");
    ASK(&p, request(ev, "IP4"), hexid(ev), 0, T_FUTURE);
    hearth_event_free(ev);
    ev = make_event(31990, NOW + 900, "");
    ASK(&p, request(ev, "IP4"), hexid(ev), 1, "");
    hearth_event_free(ev);
    ev = make_event(31990, (int64_t)time(NULL), "");
    ASK(&p, request_json(event_json(ev), "IP4", -1), hexid(ev), 1, "");
    hearth_event_free(ev);
    ev = make_event(31990, NOW + 3600, "");
    ASK(&p, request_json(event_json(ev), "IP4", -1), hexid(ev), 1, "");
    hearth_event_free(ev);

    /* the same rules whatever the source */
    static const char *sources[] = {"Import", "Stream", "Sync", "IP6",
                                    "Unknown"};
    for (size_t i = 0; i < 5; i++) {
        ev = make_event(5970, NOW, "s");
        ASK(&p, request(ev, sources[i]), hexid(ev), 1, "");
        hearth_event_free(ev);
        ev = make_event(1, NOW, "s");
        ASK(&p, request(ev, sources[i]), hexid(ev), 0, T_BLOCKED);
        hearth_event_free(ev);
    }

    /* content with quotes, escapes, NUL and non-ASCII is just content */
    ev = NULL;
    CHECK(hearth_event_new(7000, NOW, "a\"b\\c\0d\xc3\xa9\n", 10, &ev) == 0);
    CHECK(hearth_event_sign(ev, sk) == 0);
    ASK(&p, request(ev, "IP4"), hexid(ev), 1, "");
    hearth_event_free(ev);

    /* without --verify a tampered event is judged by the policy alone:
     * strfry has verified everything it hands over */
    ev = make_event(31990, NOW, "signed");
    json_t *j = event_json(ev);
    json_object_set_new(j, "content", json_string("tampered"));
    ASK(&p, request_json(j, "IP4", NOW), hexid(ev), 1, "");
    hearth_event_free(ev);

    char *log;
    CHECK(finish(&p, &log) == 0);
    CHECKF(strstr(log, "ready (discovery on, job kinds 101 listed, 1 PoW rules") !=
               NULL, "log: %s", log);
    free(log);
}

static void test_malformed(void)
{
    const char *args[] = {"--discovery", NULL};
    struct proc p;
    spawn(&p, args);
    hearth_event *ev = make_event(31990, NOW, "x");
    char id[65];
    memcpy(id, hexid(ev), sizeof id);
    char line[1024];

    /* lines without an id to answer: logged, skipped */
    SILENT(&p, "hello world");                                  /* line 1 */
    SILENT(&p, "[1,2,3]");
    SILENT(&p, "{\"type\":\"new\",\"event\":{\"kind\":1}}");
    SILENT(&p, "{\"type\":\"new\"}");
    snprintf(line, sizeof line,
             "{\"event\":{\"id\":\"%.63s\"},\"type\":\"new\"}", id);
    SILENT(&p, line);                                 /* 63 hex digits */
    snprintf(line, sizeof line, "{\"event\":{\"id\":\"%s\"},\"type\":\"new\"}",
             "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789");
    SILENT(&p, line);                                 /* uppercase */
    snprintf(line, sizeof line,
             "{\"event\":{\"id\":\"%s\",\"kind\":1},\"type\":\"lookup\"}", id);
    SILENT(&p, line);                                 /* unknown type */
    snprintf(line, sizeof line,
             "{\"event\":{\"id\":\"%s\",\"id\":\"%s\"},\"type\":\"new\"}",
             id, id);
    SILENT(&p, line);                                 /* two ids: a guess */
    snprintf(line, sizeof line,
             "{\"event\":{\"tags\":[[\"id\",\"%s\"]],\"x\":{\"id\":\"%s\"}},"
             "\"id\":\"%s\",\"type\":\"new\"", id, id, id);
    SILENT(&p, line);                 /* "id"s, none of them event.id */
    SILENT(&p, "");
    SILENT(&p, " \t\r");
    silent(&p, "\0\0", 2, __LINE__);       /* NULs are not blank, nor JSON */

    /* lines with an id: answered, with "error:" for the envelope */
    snprintf(line, sizeof line,
             "{\"event\":{\"content\":\"\\\"id\\\":\\\"x\",\"id\":\"%s\","
             "\"kind\":1", id);
    ASK(&p, strdup(line), id, 0, T_MALFORMED);         /* truncated JSON */
    snprintf(line, sizeof line,
             "{\"event\":{\"id\":\"%s\"},\"type\":\"new\",\"type\":\"new\"}",
             id);
    ASK(&p, strdup(line), id, 0, T_MALFORMED);         /* duplicate key */
    snprintf(line, sizeof line, "{\"event\":{\"content\":\"a");
    size_t n = strlen(line);
    n += (size_t)snprintf(line + n + 1, sizeof line - n - 1,
                          "b\",\"id\":\"%s\"},\"type\":\"new\"}", id) + 1;
    send_raw(&p, line, n);                             /* raw NUL byte */
    send_raw(&p, "\n", 1);
    EXPECT(&p, id, 0, T_MALFORMED);
    snprintf(line, sizeof line, "{\"event\":{\"id\":\"%s\"}}", id);
    ASK(&p, strdup(line), id, 0, T_MALFORMED);         /* no type */
    snprintf(line, sizeof line,
             "{\"event\":{\"id\":\"%s\"},\"type\":7}", id);
    ASK(&p, strdup(line), id, 0, T_MALFORMED);         /* type not a string */

    /* a well-formed request around a bad event: the parser's reason */
    bad_event(&p, "kind", json_string("1"), __LINE__);
    bad_event(&p, "created_at", json_real(1.5), __LINE__);
    bad_event(&p, "extra", json_true(), __LINE__);
    bad_event(&p, "sig", NULL, __LINE__);
    bad_event(&p, "pubkey", json_string("ABCD"), __LINE__);
    bad_event(&p, "tags", json_pack("[[i]]", 1), __LINE__);
    bad_event(&p, "content", json_integer(3), __LINE__);
    snprintf(line, sizeof line, "{\"event\":{\"id\":\"%s\"},\"type\":\"new\"}",
             id);
    ASK(&p, strdup(line), id, 0, "invalid: missing pubkey");

    /* a huge line, id after the content as strfry orders it */
    size_t big = (1u << 20) + 4096;
    char *huge = malloc(big + 256);
    n = (size_t)sprintf(huge, "{\"event\":{\"content\":\"");
    memset(huge + n, 'q', big);
    n += big;
    n += (size_t)sprintf(huge + n, "\",\"id\":\"%s\",\"kind\":1},"
                         "\"type\":\"new\"}", id);
    send_raw(&p, huge, n);
    send_raw(&p, "\n", 1);
    EXPECT(&p, id, 0, T_TOO_LONG);
    /* and one without an id */
    memset(huge, '[', big);
    silent(&p, huge, big, __LINE__);
    free(huge);

    /* the last line needs no newline */
    char *req = request(ev, "IP4");
    send_raw(&p, req, strlen(req));
    free(req);
    close(p.in);
    EXPECT(&p, id, 1, "");
    p.in = open("/dev/null", O_WRONLY);
    hearth_event_free(ev);

    char *log;
    CHECK(finish(&p, &log) == 0);
    CHECKF(strstr(log, "line 1: not JSON") != NULL, "log: %s", log);
    CHECKF(strstr(log, "line 13: ignoring request of type: lookup") != NULL,
           "log: %s", log);
    CHECKF(strstr(log, "request without an event id to answer") != NULL,
           "log: %s", log);
    CHECKF(strstr(log, "request longer than --max-line") != NULL, "log: %s",
           log);
    CHECKF(strstr(log, "line 23: not JSON") != NULL, "log: %s", log);
    CHECKF(!strstr(log, "line 19:") && !strstr(log, "line 21:"), /* blank */
           "log: %s", log);
    free(log);
}

static void test_verify(void)
{
    const char *args[] = {"--verify", "--max-line=4096", NULL};
    struct proc p;
    spawn(&p, args);
    hearth_event *ev = make_event(1, NOW, "signed");
    ASK(&p, request(ev, "IP4"), hexid(ev), 1, "");       /* open relay */
    json_t *j = event_json(ev);
    json_object_set_new(j, "content", json_string("tampered"));
    ASK(&p, request_json(j, "IP4", NOW), hexid(ev), 0,
        "invalid: event id does not match its content");
    j = event_json(ev);
    char sig[129];
    hearth_hex_encode(ev->sig, 64, sig);
    sig[0] = sig[0] == '0' ? '1' : '0';
    json_object_set_new(j, "sig", json_string(sig));
    ASK(&p, request_json(j, "IP4", NOW), hexid(ev), 0, "invalid: bad signature");

    /* --max-line bounds the line, not the event */
    j = event_json(ev);
    char *content = malloc(5000);
    memset(content, 'z', 4999);
    content[4999] = '\0';
    json_object_set_new(j, "content", json_string(content));
    free(content);
    ASK(&p, request_json(j, "IP4", NOW), hexid(ev), 0, T_TOO_LONG);
    hearth_event_free(ev);

    char *log;
    CHECK(finish(&p, &log) == 0);
    CHECKF(strstr(log, "verify on") != NULL, "log: %s", log);
    free(log);
}

static int run_args(const char *const *args, char **log)
{
    struct proc p;
    spawn(&p, args);
    char *out = recv_line(&p), *more;
    while (out && (more = recv_line(&p)))
        free(more);
    int rc = finish(&p, log);
    if (out) {
        /* keep stdout's first line in front of the log for the checks */
        char *both = malloc(strlen(out) + strlen(*log) + 2);
        sprintf(both, "%s\n%s", out, *log);
        free(*log);
        *log = both;
    }
    free(out);
    return rc;
}

static void test_cli(void)
{
    char *log;
    const char *help[] = {"--help", NULL};
    CHECK(run_args(help, &log) == 0);
    CHECKF(!strncmp(log, "usage: hearth-strfry-policy", 27), "%s", log);
    free(log);
    static const char *const bad[][3] = {
        {"--bogus", NULL},
        {"--pow", "31907", NULL},
        {"--pow", "1:300", NULL},
        {"--job-kinds", "4000", NULL},
        {"--job-kinds", NULL},
        {"--max-future", "-1", NULL},
        {"--max-future", "12x", NULL},
        {"--max-line", "10", NULL},
        {"--discoveryx", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECKF(run_args(bad[i], &log) == 2, "%s %s", bad[i][0],
               bad[i][1] ? bad[i][1] : "");
        CHECKF(strstr(log, "hearth-strfry-policy: ") != NULL, "%s", log);
        free(log);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH-TO-hearth-strfry-policy\n", argv[0]);
        return 1;
    }
    plugin_path = argv[1];
    signal(SIGPIPE, SIG_IGN);
    alarm(120); /* a hung plugin fails the test instead of stalling it */
    hearth_key_generate(sk);
    test_policy();
    test_malformed();
    test_verify();
    test_cli();
    return tap_done();
}
