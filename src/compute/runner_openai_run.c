/* One openai job: POST {base}/chat/completions, read the streamed answer
 * as it comes, and turn every way it can fail into one sentence. The
 * transfer runs on libcurl's multi interface driven by our own loop, so
 * cancellation, the job's time limit and the idle timeout are checked at
 * least every POLL_MS whatever the backend does (the easy interface's
 * progress callback can go a second between calls on a quiet socket). */
#include "runner_openai_internal.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hearth/error.h"

#define POLL_MS          50u
#define PARTIAL_MS       250u         /* streamed pieces: at most this often */
#define PARTIAL_BYTES    1024u        /* ... unless this much is waiting */
#define ERROR_BODY_MAX   (16u << 10)  /* of an HTTP error answer */
#define MEASURE_TOKENS   8u           /* fewer say nothing about speed */

enum mode { MODE_NONE, MODE_SSE, MODE_JSON, MODE_ERROR };

typedef struct call {
    hearth_oai_runner *r;
    const hearth_oai_job *p;
    const hearth_runner_io *io;
    hearth_runner_result *res;
    CURL *h;
    enum mode mode;
    long status;
    hearth_oai_answer ans;
    hearth_oai_stream st;
    int st_ready;
    hearth_buf body;            /* a JSON answer or an error answer */
    size_t body_max;
    size_t max_line;
    int fail;                   /* what the write side stopped on */
    int got_header;             /* any header line came */
    int got_bytes;              /* any byte of a body came */
    size_t sent;                /* output bytes handed to io->partial */
    unsigned percent;
    uint64_t start, last_byte, last_flush, first_text, end;
} call;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void say(call *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->res->error, sizeof c->res->error, fmt, ap);
    va_end(ap);
}

/* ---- the write side (called inside curl_multi_perform) ---- */

static int starts_with_ci(const char *s, const char *prefix)
{
    return s && !strncasecmp(s, prefix, strlen(prefix));
}

/* Pick how to read the answer from its status and Content-Type; a
 * backend that sends no useful type is sniffed: '{' is one JSON object. */
static int pick_mode(call *c, const char *p, size_t n)
{
    char *type = NULL;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
    curl_easy_getinfo(c->h, CURLINFO_CONTENT_TYPE, &type);
    if (c->status < 200 || c->status >= 300) {
        c->mode = MODE_ERROR;
        c->body_max = ERROR_BODY_MAX;
        return HEARTH_OK;
    }
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' ||
                     p[i] == '\t'))
        i++;
    if (starts_with_ci(type, "text/event-stream"))
        c->mode = MODE_SSE;
    else if (starts_with_ci(type, "application/json") || (i < n && p[i] == '{'))
        c->mode = MODE_JSON;
    else
        c->mode = MODE_SSE;
    if (c->mode == MODE_SSE) {
        int rc = hearth_oai_stream_init(&c->st, &c->ans, c->max_line);
        c->st_ready = rc == HEARTH_OK;
        return rc;
    }
    /* JSON escapes can double the text; the rest is the envelope */
    c->body_max = c->ans.max_output * 2 + (64u << 10);
    return HEARTH_OK;
}

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    call *c = user;
    c->last_byte = now_ms();
    c->got_bytes = 1;
    if (c->mode == MODE_NONE && (c->fail = pick_mode(c, p, n)))
        return 0;
    if (c->mode == MODE_SSE) {
        size_t before = c->ans.out->len;
        c->fail = hearth_oai_stream_feed(&c->st, p, n);
        if (c->ans.out->len > before && !c->first_text)
            c->first_text = c->last_byte;
        /* max_output reached: stop reading, the job keeps what it has */
        return c->fail || c->ans.full ? 0 : n;
    }
    if (c->body.len + n > c->body_max) {
        /* an error body is only read for its message: the start will do */
        c->fail = c->mode == MODE_ERROR ? HEARTH_OK : HEARTH_ETOOBIG;
        return 0;
    }
    hearth_buf_add(&c->body, p, n);
    c->fail = hearth_buf_error(&c->body);
    return c->fail ? 0 : n;
}

static size_t on_header(char *p, size_t size, size_t n, void *user)
{
    call *c = user;
    c->last_byte = now_ms();
    c->got_header = 1;
    return n;
}

/* ---- io ---- */

static void flush_partial(call *c, uint64_t now, int force)
{
    hearth_buf *out = c->ans.out;
    size_t waiting = out->len - c->sent;
    if (!c->io->partial || !waiting)
        return;
    if (!force && waiting < PARTIAL_BYTES && now - c->last_flush < PARTIAL_MS)
        return;
    c->io->partial(c->io->user, out->p + c->sent, waiting);
    c->sent = out->len;
    c->last_flush = now;
}

static void report_progress(call *c, unsigned percent)
{
    if (!c->io->progress || percent == c->percent)
        return;
    c->percent = percent;
    c->io->progress(c->io->user, percent);
}

static unsigned running_percent(const call *c)
{
    uint64_t pct = c->ans.chunks * 100u / c->p->max_tokens;
    return pct > 99 ? 99 : (unsigned)pct; /* 100 only once it is done */
}

/* Why the loop must stop now, or HEARTH_OK. */
static int must_stop(call *c, uint64_t now, uint32_t limit_ms)
{
    if (c->io->cancelled && c->io->cancelled(c->io->user)) {
        say(c, "the job was cancelled");
        return HEARTH_ECANCELED;
    }
    if (now - c->start >= limit_ms) {
        say(c, "the job ran longer than its time limit of %u ms", limit_ms);
        return HEARTH_ETIMEDOUT;
    }
    if (now - c->last_byte >= c->r->o.idle_timeout_ms) {
        say(c, "the model backend at %s sent nothing for %u ms",
            c->r->origin, c->r->o.idle_timeout_ms);
        return HEARTH_ETIMEDOUT;
    }
    return HEARTH_OK;
}

/* ---- the transfer ---- */

static int setup(call *c, const hearth_buf *body, struct curl_slist **hdr)
{
    hearth_oai_runner *r = c->r;
    hearth_buf url = HEARTH_BUF_INIT;
    static const char *const fixed[] = {
        "Content-Type: application/json",
        "Accept: text/event-stream, application/json",
        "Expect:",   /* no 100-continue round trip before big prompts */
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        struct curl_slist *n = curl_slist_append(*hdr, fixed[i]);
        if (!n)
            return HEARTH_ENOMEM;
        *hdr = n;
    }
    if (r->auth) {
        struct curl_slist *n = curl_slist_append(*hdr, r->auth);
        if (!n)
            return HEARTH_ENOMEM;
        *hdr = n;
    }
    hearth_buf_addf(&url, "%s/chat/completions", r->base);
    if (hearth_buf_error(&url) || !(c->h = curl_easy_init())) {
        hearth_buf_free(&url);
        return HEARTH_ENOMEM;
    }
    CURL *h = c->h;
    curl_easy_setopt(h, CURLOPT_URL, url.p);   /* libcurl copies it */
    hearth_buf_free(&url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->p);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)r->o.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    return HEARTH_OK;
}

/* Drive the transfer until it ends or must stop; *cc is libcurl's
 * verdict when it ended. */
static int drive(call *c, uint32_t limit_ms, CURLcode *cc)
{
    CURLM *m = curl_multi_init();
    int running = 1, rc = HEARTH_OK;
    *cc = CURLE_OK;
    if (!m || curl_multi_add_handle(m, c->h) != CURLM_OK) {
        curl_multi_cleanup(m);
        say(c, "out of memory");
        return HEARTH_ENOMEM;
    }
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            *cc = CURLE_FAILED_INIT;
            break;
        }
        uint64_t now = now_ms();
        flush_partial(c, now, 0);
        report_progress(c, running_percent(c));
        if (!running || (rc = must_stop(c, now, limit_ms)))
            break;
        curl_multi_poll(m, NULL, 0, POLL_MS, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE)
            *cc = msg->data.result;
    curl_multi_remove_handle(m, c->h);
    curl_multi_cleanup(m);
    return rc;
}

/* ---- what it all means ---- */

static int http_error(call *c)
{
    char msg[HEARTH_OAI_MSG_MAX + 1];
    const char *o = c->r->origin;
    hearth_oai_error_message(c->body.p, c->body.len, c->ans.avoid,
                             c->ans.avoid_len, msg, sizeof msg);
    if (c->status == 404)
        say(c, "model %s was not found at the model backend at %s%s%s",
            c->p->model, o, msg[0] ? ": " : "", msg);
    else if (c->status == 401 || c->status == 403)
        say(c, "the model backend at %s refused the API key (HTTP %ld)", o,
            c->status);
    else if (msg[0])
        say(c, "the model backend at %s answered HTTP %ld: %s", o, c->status,
            msg);
    else
        say(c, "the model backend at %s answered HTTP %ld", o, c->status);
    return HEARTH_EIO;
}

/* The answer's own failures (bad stream, error inside it). */
static int answer_error(call *c, int rc)
{
    const char *o = c->r->origin;
    switch (rc) {
    case HEARTH_OK:
        return HEARTH_OK;
    case HEARTH_ENOMEM:
        say(c, "out of memory");
        return HEARTH_ENOMEM;
    case HEARTH_ETOOBIG:
        if (c->mode == MODE_JSON)
            say(c, "the model backend at %s sent an answer larger than %zu "
                "bytes", o, c->body_max);
        else
            say(c, "the model backend at %s sent an answer line longer "
                "than %zu bytes", o, c->max_line);
        return HEARTH_EIO;
    case HEARTH_EIO:
        if (c->ans.message[0])
            say(c, "the model backend at %s reported an error: %s", o,
                c->ans.message);
        else
            say(c, "the model backend at %s reported an error", o);
        return HEARTH_EIO;
    default:
        say(c, "the model backend at %s sent a malformed %s", o,
            c->mode == MODE_JSON ? "answer" : "stream");
        return HEARTH_EIO;
    }
}

static int transport_error(call *c, CURLcode cc)
{
    const char *o = c->r->origin;
    if (!c->got_bytes && cc == CURLE_GOT_NOTHING)
        say(c, "the model backend at %s closed the connection without "
            "answering", o);
    else if (!c->got_bytes && !c->got_header)
        say(c, "the model backend at %s is not answering", o);
    else
        say(c, "the model backend at %s broke off its answer", o);
    return HEARTH_EIO;
}

static int conclude(call *c, CURLcode cc)
{
    const char *o = c->r->origin;
    if (c->fail)
        return answer_error(c, c->fail);
    if (cc == CURLE_WRITE_ERROR && c->ans.full)
        cc = CURLE_OK;   /* we stopped reading at max_output */
    if (c->mode == MODE_ERROR)   /* a cut error body still has a status */
        return http_error(c);
    if (cc != CURLE_OK)
        return transport_error(c, cc);
    if (c->mode == MODE_JSON)
        return answer_error(c, hearth_oai_parse_completion(&c->ans, c->body.p,
                                                           c->body.len));
    if (c->mode == MODE_NONE) {
        say(c, "the model backend at %s answered with nothing", o);
        return HEARTH_EIO;
    }
    if (c->ans.full)
        return HEARTH_OK;   /* what follows the cut was never read */
    int rc = answer_error(c, hearth_oai_stream_finish(&c->st));
    if (!rc && !c->ans.full && !c->ans.done && !c->ans.finished) {
        say(c, "the model backend at %s ended its stream before the answer "
            "was complete", o);
        rc = HEARTH_EIO;
    }
    return rc;
}

/* Usage: the backend's own count when it sent one, else ours (one token
 * per streamed chunk that carried text, the prompt estimate in). */
static void account(call *c, int rc)
{
    hearth_usage *u = &c->res->usage;
    u->jobs = rc == HEARTH_OK;
    u->tokens_in = c->ans.have_usage ? c->ans.prompt_tokens : c->p->tokens_in;
    u->tokens_out = c->ans.have_usage ? c->ans.completion_tokens
                                      : c->ans.chunks;
    u->gpu_ms = c->end - c->start;
}

/* Learn the backend's speed from jobs long enough to say something. */
static void measure(call *c)
{
    uint64_t toks = c->res->usage.tokens_out;
    if (toks < MEASURE_TOKENS || !c->first_text || c->end <= c->first_text)
        return;
    uint64_t tps = toks * 1000u / (c->end - c->first_text);
    if (!tps)
        return;
    if (tps > UINT32_MAX)
        tps = UINT32_MAX;
    hearth_oai_runner *r = c->r;
    pthread_mutex_lock(&r->lock);
    /* a moving average, so one odd job does not swing the estimates */
    r->measured_tokens_s = r->measured_tokens_s
        ? (uint32_t)((3u * (uint64_t)r->measured_tokens_s + tps) / 4u)
        : (uint32_t)tps;
    pthread_mutex_unlock(&r->lock);
}

static int take_slot(hearth_oai_runner *r)
{
    int ok;
    pthread_mutex_lock(&r->lock);
    ok = r->busy < r->o.slots;
    r->busy += ok;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

static void give_slot(hearth_oai_runner *r)
{
    pthread_mutex_lock(&r->lock);
    r->busy--;
    pthread_mutex_unlock(&r->lock);
}

static int request(call *c, const hearth_runner_job *job, hearth_buf *system,
                   hearth_buf *user, hearth_buf *body)
{
    int rc = hearth_oai_messages(job, system, user);
    if (!rc)
        rc = hearth_oai_request(c->p, system, user, body);
    if (rc)
        say(c, "out of memory");
    return rc;
}

static int exchange(call *c, const hearth_runner_job *job)
{
    hearth_buf system = HEARTH_BUF_INIT, user = HEARTH_BUF_INIT;
    hearth_buf body = HEARTH_BUF_INIT, avoid = HEARTH_BUF_INIT;
    struct curl_slist *hdr = NULL;
    uint32_t limit = job->time_limit_ms ? job->time_limit_ms
                                        : c->r->o.time_limit_ms;
    CURLcode cc = CURLE_OK;
    int rc = request(c, job, &system, &user, &body);
    /* the prompt, user and system text, is what error messages must
     * never repeat; the NUL between them keeps windows from spanning */
    if (!rc) {
        hearth_buf_add(&avoid, user.p, user.len);
        hearth_buf_addc(&avoid, '\0');
        hearth_buf_add(&avoid, system.p, system.len);
        if ((rc = hearth_buf_error(&avoid)))
            say(c, "out of memory");
    }
    hearth_oai_answer_init(&c->ans, &c->res->output, c->r->o.max_output,
                           avoid.p, avoid.len);
    if (!rc && (rc = setup(c, &body, &hdr)))
        say(c, "out of memory");
    if (!rc) {
        c->start = c->last_byte = c->last_flush = now_ms();
        rc = drive(c, limit ? limit : UINT32_MAX, &cc);
        c->end = now_ms();
    }
    if (!rc && !c->res->error[0])
        rc = conclude(c, cc);
    account(c, rc);
    if (!rc) {
        flush_partial(c, c->end, 1);
        report_progress(c, 100);
        measure(c);
    }
    curl_easy_cleanup(c->h);
    curl_slist_free_all(hdr);
    /* the prompt does not linger in freed memory longer than needed */
    hearth_buf *secret[] = {&user, &system, &body, &avoid};
    for (size_t i = 0; i < sizeof secret / sizeof *secret; i++)
        if (secret[i]->p)
            memset(secret[i]->p, 0, secret[i]->len);
    hearth_buf_free(&avoid);
    hearth_buf_free(&system);
    hearth_buf_free(&user);
    hearth_buf_free(&body);
    return rc;
}

int hearth_oai_run(hearth_oai_runner *r, const hearth_runner_job *job,
                   const hearth_runner_io *io, hearth_runner_result *res)
{
    hearth_oai_job p;
    call c;
    memset(&c, 0, sizeof c);
    c.r = r;
    c.p = &p;
    c.io = io;
    c.res = res;
    /* one SSE line holds one chunk; allow a whole max_output in one,
     * escaped, for backends that send big pieces */
    c.max_line = (size_t)r->o.max_output * 2 + (64u << 10);
    memset(&res->usage, 0, sizeof res->usage);
    if (hearth_oai_prepare(r, job, &p, res->error, sizeof res->error))
        return HEARTH_EINVAL;
    if (!take_slot(r)) {
        say(&c, "all %u slots of this openai runner are busy", r->o.slots);
        return HEARTH_EBUSY;
    }
    int rc = exchange(&c, job);
    give_slot(r);
    if (c.st_ready)
        hearth_oai_stream_free(&c.st);
    hearth_buf_free(&c.body);
    return rc;
}
