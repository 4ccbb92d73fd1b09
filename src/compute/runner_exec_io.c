/* Talking to an exec runner's program: the request on stdin, JSON lines
 * on stdout, stderr drained and thrown away (docs/runner-exec.md,
 * "Protocol"). Nothing the program writes is ever logged: its stdout
 * carries the job's output and its stderr may echo the inputs. */
#include "exec_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hearth/error.h"

/* how often io->cancelled is asked while nothing happens */
#define POLL_SLICE_MS 100
/* how long stdout may stay open after the program exited (a descendant
 * that left its process group can hold it) */
#define DRAIN_MS 1000
#define CHUNK 65536

int64_t hearth_exec_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hearth_exec_fmt_size(uint64_t n, char *out, size_t len)
{
    const uint64_t kib = 1024, mib = 1024 * 1024;
    if (n >= mib && n % mib == 0)
        snprintf(out, len, "%llu MiB", (unsigned long long)(n / mib));
    else if (n >= kib && n % kib == 0)
        snprintf(out, len, "%llu KiB", (unsigned long long)(n / kib));
    else
        snprintf(out, len, "%llu bytes", (unsigned long long)n);
}

static int broken(hearth_exec_talk *t, const char *sentence)
{
    snprintf(t->res->error, sizeof t->res->error, "%s", sentence);
    t->broken = 1;
    return HEARTH_EIO;
}

/* The program's own sentence, made safe for an error field: no control
 * characters, cut on a UTF-8 boundary. */
static void copy_sentence(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n > cap - 1) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = (ch < 0x20 || ch == 0x7F) ? ' ' : (char)ch;
    }
    dst[n] = 0;
    if (!n)
        snprintf(dst, cap, "the runner program reported an error");
}

static int take_usage(hearth_exec_talk *t, json_t *u)
{
    static const char *const names[] = {"tokens_in", "tokens_out", "gpu_ms",
                                        "hashes"};
    uint64_t *fields[] = {&t->res->usage.tokens_in,
                          &t->res->usage.tokens_out, &t->res->usage.gpu_ms,
                          &t->res->usage.hashes};
    if (!json_is_object(u))
        return broken(t, "the runner wrote a malformed usage line");
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(u, names[i]);
        if (!v)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return broken(t, "the runner wrote a malformed usage line");
        /* totals so far: the last line wins */
        *fields[i] = (uint64_t)json_integer_value(v);
    }
    return HEARTH_OK;
}

static int take_progress(hearth_exec_talk *t, json_t *p)
{
    if (!json_is_number(p))
        return broken(t, "the runner wrote a malformed progress line");
    double v = json_number_value(p);
    unsigned pct = v <= 0 ? 0 : v >= 100 ? 100 : (unsigned)v;
    if (t->io->progress)
        t->io->progress(t->io->user, pct);
    return HEARTH_OK;
}

static int take_final(hearth_exec_talk *t, json_t *result, json_t *error,
                      json_t *cause)
{
    if (result && error)
        return broken(t, "the runner wrote both a result and an error");
    if (result) {
        if (!json_is_string(result))
            return broken(t, "the runner wrote a malformed result line");
        if (hearth_buf_add(&t->res->output, json_string_value(result),
                           json_string_length(result)) != HEARTH_OK)
            return HEARTH_ENOMEM;
        t->final = HEARTH_EXEC_FINAL_RESULT;
        return HEARTH_OK;
    }
    if (!json_is_string(error) || (cause && !json_is_string(cause)))
        return broken(t, "the runner wrote a malformed error line");
    copy_sentence(t->res->error, sizeof t->res->error,
                  json_string_value(error));
    /* the program judged the job itself unserviceable unless it says the
     * fault is its own */
    t->error_rc = cause && !strcmp(json_string_value(cause), "runner")
                      ? HEARTH_EIO : HEARTH_EINVAL;
    t->final = HEARTH_EXEC_FINAL_ERROR;
    return HEARTH_OK;
}

static int take_message(hearth_exec_talk *t, json_t *m)
{
    json_t *v;
    int rc = HEARTH_OK;
    if (t->final)
        return broken(t, "the runner wrote more after its final line");
    if ((v = json_object_get(m, "usage")))
        rc = take_usage(t, v);
    if (rc == HEARTH_OK && (v = json_object_get(m, "progress")))
        rc = take_progress(t, v);
    if (rc == HEARTH_OK && (v = json_object_get(m, "partial"))) {
        if (!json_is_string(v))
            return broken(t, "the runner wrote a malformed partial line");
        if (t->io->partial)
            t->io->partial(t->io->user, json_string_value(v),
                           json_string_length(v));
    }
    json_t *result = json_object_get(m, "result");
    json_t *error = json_object_get(m, "error");
    if (rc == HEARTH_OK && (result || error))
        rc = take_final(t, result, error, json_object_get(m, "cause"));
    return rc;
}

static int blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

static int take_line(hearth_exec_talk *t, const char *p, size_t n)
{
    if (blank(p, n))
        return HEARTH_OK;
    json_error_t jerr;
    json_t *m = json_loadb(p, n, 0, &jerr);
    if (!m)
        return broken(t, "the runner wrote a line that is not JSON");
    int rc;
    if (!json_is_object(m))
        rc = broken(t, "the runner wrote a line that is not a JSON object");
    else if (t->describe && t->described)
        rc = broken(t, "the runner wrote more than one line for --describe");
    else if (t->describe) {
        t->described = json_incref(m);
        rc = HEARTH_OK;
    } else
        rc = take_message(t, m);
    json_decref(m);
    return rc;
}

/* Split what was read into lines; each complete one is acted on. */
static int take_bytes(hearth_exec_talk *t, const char *p, size_t n)
{
    t->total += n;
    if (t->total > t->max_output) {
        char size[32], why[80];
        hearth_exec_fmt_size(t->max_output, size, sizeof size);
        snprintf(why, sizeof why, "the runner wrote more than %s", size);
        return broken(t, why);
    }
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (t->line.len + take > HEARTH_EXEC_LINE_MAX) {
            char size[32], why[80];
            hearth_exec_fmt_size(HEARTH_EXEC_LINE_MAX, size, sizeof size);
            snprintf(why, sizeof why,
                     "the runner wrote a line longer than %s", size);
            return broken(t, why);
        }
        if (hearth_buf_add(&t->line, p, take) != HEARTH_OK)
            return HEARTH_ENOMEM;
        if (!nl)
            break;
        int rc = take_line(t, t->line.p, t->line.len);
        hearth_buf_reset(&t->line);
        if (rc != HEARTH_OK)
            return rc;
        p += take + 1;
        n -= take + 1;
    }
    return HEARTH_OK;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* read from *fd; 1 = got bytes into buf (*n), 0 = nothing now, -1 = EOF
 * or error (fd closed) */
static int read_some(int *fd, char *buf, size_t cap, size_t *n)
{
    ssize_t r = read(*fd, buf, cap);
    if (r > 0) {
        *n = (size_t)r;
        return 1;
    }
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    close_fd(fd);
    return -1;
}

/* EPIPE (the program closed stdin early) is not an error: it may not
 * need the whole request. Returns 1 if EPIPE was met. */
static int write_some(hearth_exec_talk *t, hearth_exec_child *c,
                      size_t *sent)
{
    ssize_t w = write(c->in, t->request + *sent, t->request_len - *sent);
    if (w > 0)
        *sent += (size_t)w;
    else if (w < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    else {
        int epipe = errno == EPIPE;
        close_fd(&c->in);
        return epipe;
    }
    if (*sent == t->request_len)
        close_fd(&c->in);
    return 0;
}

typedef struct loop_state {
    size_t sent;
    int exited;
    int epipe;
    int64_t drain_until;
} loop_state;

/* One pass: wait up to one slice for anything, then handle it. */
static int loop_once(hearth_exec_talk *t, hearth_exec_child *c,
                     loop_state *s, char *buf)
{
    struct pollfd p[4];
    int idx_out = -1, idx_err = -1, idx_in = -1, idx_pid = -1, n = 0;
    int64_t now = hearth_exec_now_ms();
    int64_t until = s->exited && s->drain_until < t->deadline_ms
                        ? s->drain_until : t->deadline_ms;
    int64_t wait = until - now;
    if (wait > POLL_SLICE_MS)
        wait = POLL_SLICE_MS;
    if (wait < 0)
        wait = 0;
    if (c->out >= 0)
        p[idx_out = n++] = (struct pollfd){c->out, POLLIN, 0};
    if (c->err >= 0)
        p[idx_err = n++] = (struct pollfd){c->err, POLLIN, 0};
    if (c->in >= 0)
        p[idx_in = n++] = (struct pollfd){c->in, POLLOUT, 0};
    if (!s->exited && c->pidfd >= 0)
        p[idx_pid = n++] = (struct pollfd){c->pidfd, POLLIN, 0};
    if (poll(p, (nfds_t)n, (int)wait) < 0 && errno != EINTR)
        return broken(t, "the runner program could not be watched");
    size_t got;
    if (idx_out >= 0 && p[idx_out].revents &&
        read_some(&c->out, buf, CHUNK, &got) > 0) {
        int rc = take_bytes(t, buf, got);
        if (rc != HEARTH_OK)
            return rc;
    }
    if (idx_err >= 0 && p[idx_err].revents)
        read_some(&c->err, buf, CHUNK, &got);   /* discarded unread */
    if (idx_in >= 0 && p[idx_in].revents)
        s->epipe |= write_some(t, c, &s->sent);
    if (!s->exited && (idx_pid >= 0 ? p[idx_pid].revents != 0
                                    : hearth_exec_exited(c))) {
        s->exited = 1;
        s->drain_until = hearth_exec_now_ms() + DRAIN_MS;
        /* descendants still in its group go with it; the leader is not
         * reaped yet, so the group id cannot have been reused */
        kill(-c->pid, SIGKILL);
        close_fd(&c->in);
    }
    return HEARTH_OK;
}

static int loop(hearth_exec_talk *t, hearth_exec_child *c, loop_state *s)
{
    char *buf = malloc(CHUNK);
    if (!buf)
        return HEARTH_ENOMEM;
    int rc = HEARTH_OK;
    if (!t->request_len)
        close_fd(&c->in);
    for (;;) {
        if (t->io->cancelled && t->io->cancelled(t->io->user)) {
            rc = HEARTH_ECANCELED;
            break;
        }
        int64_t now = hearth_exec_now_ms();
        if (s->exited && ((c->out < 0 && c->err < 0) ||
                          now >= s->drain_until))
            break;
        if (now >= t->deadline_ms) {
            rc = HEARTH_ETIMEDOUT;
            break;
        }
        rc = loop_once(t, c, s, buf);
        if (rc != HEARTH_OK)
            break;
    }
    free(buf);
    return rc;
}

int hearth_exec_talk_run(hearth_exec_talk *t, hearth_exec_child *c)
{
    if (c->in >= 0)
        fcntl(c->in, F_SETFL, fcntl(c->in, F_GETFL) | O_NONBLOCK);
    /* A write to a pipe whose reader has gone raises SIGPIPE, which would
     * kill the whole peer. The library must not change process-wide
     * dispositions, so SIGPIPE is blocked in this thread only, and one
     * we raised ourselves is taken back before unblocking. */
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    loop_state s = {0, 0, 0, 0};
    int rc = loop(t, c, &s);
    if (s.epipe && !was_pending) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == HEARTH_OK && t->line.len && !t->broken) {
        /* a last line without its newline still counts */
        rc = take_line(t, t->line.p, t->line.len);
        hearth_buf_reset(&t->line);
    }
    return rc;
}

void hearth_exec_talk_free(hearth_exec_talk *t)
{
    hearth_buf_free(&t->line);
    json_decref(t->described);
    t->described = NULL;
}
