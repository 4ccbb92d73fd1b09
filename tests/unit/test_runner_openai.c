/* The openai runner: the SSE parser split at every byte, answer and error
 * parsing, admission and estimates offline, then whole jobs against
 * tests/openai/fake_backend.mjs (a real HTTP server in node): streaming
 * with and without usage, a non-streaming backend, backend errors, a
 * backend that hangs, is slow, or is down, cancellation and limits. The
 * server part is skipped with a note when node is not installed. */
#include "compute/runner_openai_internal.h"
#include "compute/sse.h"
#include "hearth/error.h"
#include "hearth/runner.h"
#include "tap.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- SSE parser ---- */

typedef struct events {
    hearth_buf log;   /* "name|data\n" per event */
    int count;
} events;

static int log_event(void *user, const char *name, const char *data,
                     size_t len)
{
    events *e = user;
    CHECK(data[len] == '\0');
    hearth_buf_addf(&e->log, "%s|", name);
    hearth_buf_add(&e->log, data, len);
    hearth_buf_addc(&e->log, '\n');
    e->count++;
    return 0;
}

static const char sse_stream[] =
    "\xef\xbb\xbf: a comment first\r\n"
    "data: one\r\n\r\n"
    "event: error\n"
    "data:two\n"
    "data:  lines\n"
    "id: 7\n"
    "retry: 100\n"
    "\n"
    "\n"
    "data\r"
    "\r"
    "data: cr only\r\r"
    "unknown: field\n"
    "data: {\"x\":1}\n\n"
    "data: at the end";
static const char sse_expected[] =
    "|one\n"
    "error|two\n lines\n"
    "|\n"
    "|cr only\n"
    "|{\"x\":1}\n"
    "|at the end\n";

/* Every split into two pieces, and one byte at a time, give the same
 * events as the whole stream at once. */
static void test_sse_splits(void)
{
    size_t n = sizeof sse_stream - 1;
    for (size_t cut = 0; cut <= n + 1; cut++) {
        events e = {HEARTH_BUF_INIT, 0};
        hearth_sse s;
        CHECK(hearth_sse_init(&s, 1024, 1024, log_event, &e) == HEARTH_OK);
        int rc = HEARTH_OK;
        if (cut <= n) {
            rc |= hearth_sse_feed(&s, sse_stream, cut);
            rc |= hearth_sse_feed(&s, sse_stream + cut, n - cut);
        } else {
            for (size_t i = 0; i < n; i++)
                rc |= hearth_sse_feed(&s, sse_stream + i, 1);
        }
        rc |= hearth_sse_finish(&s);
        CHECK(rc == HEARTH_OK);
        CHECKF(e.log.p && !strcmp(e.log.p, sse_expected), "cut %zu: %s", cut,
               e.log.p ? e.log.p : "(none)");
        hearth_sse_free(&s);
        hearth_buf_free(&e.log);
    }
}

static void test_sse_bounds(void)
{
    events e = {HEARTH_BUF_INIT, 0};
    hearth_sse s;
    CHECK(hearth_sse_init(&s, 16, 20, log_event, &e) == HEARTH_OK);
    CHECK(hearth_sse_feed(&s, "data: 0123456789\n", 17) == HEARTH_OK);
    CHECK(hearth_sse_feed(&s, "data: 0123456789\n", 17) == HEARTH_ETOOBIG);
    hearth_sse_free(&s);
    CHECK(hearth_sse_init(&s, 16, 64, log_event, &e) == HEARTH_OK);
    CHECK(hearth_sse_feed(&s, "data: 0123456789abc", 19) == HEARTH_ETOOBIG);
    hearth_sse_free(&s);
    /* a BOM cut short is ordinary bytes, here a field name */
    CHECK(hearth_sse_init(&s, 16, 64, log_event, &e) == HEARTH_OK);
    CHECK(hearth_sse_feed(&s, "\xef\xbb", 2) == HEARTH_OK);
    CHECK(hearth_sse_finish(&s) == HEARTH_OK);
    CHECK(e.count == 0);
    hearth_sse_free(&s);
    hearth_buf_free(&e.log);
}

/* ---- answer parsing ---- */

static void feed_all(hearth_oai_stream *s, const char *text, int expect)
{
    int rc = hearth_oai_stream_feed(s, text, strlen(text));
    if (!rc)
        rc = hearth_oai_stream_finish(s);
    CHECKF(rc == expect, "rc %d, want %d", rc, expect);
}

static void test_answers(void)
{
    hearth_buf out = HEARTH_BUF_INIT;
    hearth_oai_answer a;
    hearth_oai_stream s;

    hearth_oai_answer_init(&a, &out, 100, NULL, 0);
    CHECK(hearth_oai_stream_init(&s, &a, 4096) == HEARTH_OK);
    feed_all(&s,
             "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"
             "data: {\"choices\":[{\"delta\":{\"content\":\"h\\u00e9\"}}]}\n\n"
             "data: {\"choices\":[{\"delta\":{\"content\":null},"
             "\"finish_reason\":\"stop\"}]}\n\n"
             "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
             "\"completion_tokens\":1}}\n\n"
             "data: [DONE]\n\n"
             "data: not json after done is ignored\n\n",
             HEARTH_OK);
    CHECK(out.len == 3 && !memcmp(out.p, "h\xc3\xa9", 3));
    CHECK(a.done && a.finished && a.have_usage && a.chunks == 1);
    CHECK(a.prompt_tokens == 3 && a.completion_tokens == 1);
    hearth_oai_stream_free(&s);

    /* max_output cuts on a character, never inside one */
    hearth_buf_reset(&out);
    hearth_oai_answer_init(&a, &out, 4, NULL, 0);
    CHECK(hearth_oai_stream_init(&s, &a, 4096) == HEARTH_OK);
    feed_all(&s, "data: {\"choices\":[{\"delta\":{\"content\":\"abc\\u00e9\"}}]}"
                 "\n\n", HEARTH_OK);
    CHECK(out.len == 3 && a.full);
    hearth_oai_stream_free(&s);

    hearth_buf_reset(&out);
    hearth_oai_answer_init(&a, &out, 100, NULL, 0);
    CHECK(hearth_oai_stream_init(&s, &a, 4096) == HEARTH_OK);
    feed_all(&s, "data: {\"choices\":[{\"delta\":{\"content\":5}}]}\n\n",
             HEARTH_EINVAL);
    hearth_oai_stream_free(&s);

    hearth_oai_answer_init(&a, &out, 100, NULL, 0);
    CHECK(hearth_oai_stream_init(&s, &a, 4096) == HEARTH_OK);
    feed_all(&s, "event: error\ndata: {\"message\":\"busy\\u001b[31m now\"}\n\n",
             HEARTH_EIO);
    CHECKF(!strcmp(a.message, "busy?[31m now"), "%s", a.message);
    hearth_oai_stream_free(&s);

    /* llama.cpp's "error:" line */
    hearth_oai_answer_init(&a, &out, 100, NULL, 0);
    CHECK(hearth_oai_stream_init(&s, &a, 4096) == HEARTH_OK);
    feed_all(&s, "error: {\"code\":500,\"message\":\"context full\","
                 "\"type\":\"server_error\"}\n\n", HEARTH_EIO);
    CHECKF(!strcmp(a.message, "context full"), "%s", a.message);
    hearth_oai_stream_free(&s);

    /* a whole completion */
    hearth_buf_reset(&out);
    hearth_oai_answer_init(&a, &out, 100, NULL, 0);
    const char *full = "{\"choices\":[{\"message\":{\"content\":\"12345678\"},"
                       "\"finish_reason\":\"stop\"}]}";
    CHECK(hearth_oai_parse_completion(&a, full, strlen(full)) == HEARTH_OK);
    CHECK(out.len == 8 && a.chunks == 2 && !a.have_usage && a.done);
    CHECK(hearth_oai_parse_completion(&a, "[1]", 3) == HEARTH_EINVAL);
    CHECK(hearth_oai_parse_completion(&a, "{}", 2) == HEARTH_EINVAL);
    hearth_buf_free(&out);
}

static void test_error_messages(void)
{
    char msg[HEARTH_OAI_MSG_MAX + 1];
    const char *prompt = "please summarise the secret quarterly numbers";
    const char *b1 = "{\"error\":{\"message\":\"context\\n\\nis  full\"}}";
    hearth_oai_error_message(b1, strlen(b1), prompt, strlen(prompt), msg,
                             sizeof msg);
    CHECKF(!strcmp(msg, "context is full"), "%s", msg);
    const char *b2 = "{\"error\":\"model is loading\"}";
    hearth_oai_error_message(b2, strlen(b2), NULL, 0, msg, sizeof msg);
    CHECK(!strcmp(msg, "model is loading"));
    const char *b3 = "{\"object\":\"error\",\"message\":\"bad request\"}";
    hearth_oai_error_message(b3, strlen(b3), NULL, 0, msg, sizeof msg);
    CHECK(!strcmp(msg, "bad request"));
    /* a message quoting the prompt is dropped whole */
    const char *b4 = "{\"error\":{\"message\":\"cannot tokenize: summarise "
                     "the secret quarterly\"}}";
    hearth_oai_error_message(b4, strlen(b4), prompt, strlen(prompt), msg,
                             sizeof msg);
    CHECK(msg[0] == '\0');
    hearth_oai_error_message("<html>", 6, NULL, 0, msg, sizeof msg);
    CHECK(msg[0] == '\0');
    /* long: bounded, cut on a word */
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_adds(&b, "{\"error\":{\"message\":\"");
    for (int i = 0; i < 100; i++)
        hearth_buf_adds(&b, "word ");
    hearth_buf_adds(&b, "\"}}");
    hearth_oai_error_message(b.p, b.len, NULL, 0, msg, sizeof msg);
    CHECK(strlen(msg) <= HEARTH_OAI_MSG_MAX && strlen(msg) > 60);
    CHECK(msg[strlen(msg) - 1] == 'd');
    hearth_buf_free(&b);
}

/* ---- admission and estimates ---- */

static hearth_job_input text_input(const char *s)
{
    hearth_job_input in = {s, strlen(s), "text", ""};
    return in;
}

static hearth_runner_job make_job(const hearth_job_input *in, size_t nin,
                                  const hearth_job_param *pa, size_t npa)
{
    hearth_runner_job j;
    memset(&j, 0, sizeof j);
    j.kind = 5050;
    j.inputs = in;
    j.ninputs = nin;
    j.params = pa;
    j.nparams = npa;
    return j;
}

static int check1(hearth_runner *r, const char *key, const char *value,
                  char *why, size_t whylen)
{
    hearth_job_input in = text_input("hello there");
    hearth_job_param pa = {key, value};
    hearth_runner_job j = make_job(&in, 1, &pa, key ? 1 : 0);
    return hearth_runner_check(r, &j, why, whylen);
}

static void test_check(void)
{
    static const char *const models[] = {"llama3.2:3b", "qwen2.5"};
    hearth_openai_runner_opts o;
    hearth_runner *r;
    char why[HEARTH_RUNNER_WHY_MAX];
    hearth_openai_runner_opts_default(&o);
    o.models = models;
    o.nmodels = 2;
    o.base_url = "http://user:pw@127.0.0.1:9/v1/";
    CHECK(hearth_runner_openai_new(&o, &r) == HEARTH_OK);

    CHECK(check1(r, NULL, NULL, why, sizeof why) == HEARTH_OK);
    CHECK(check1(r, "model", "qwen2.5", why, sizeof why) == HEARTH_OK);
    CHECK(check1(r, "max_tokens", "4096", why, sizeof why) == HEARTH_OK);
    CHECK(check1(r, "temperature", "0.7", why, sizeof why) == HEARTH_OK);
    CHECK(check1(r, "top_p", "1", why, sizeof why) == HEARTH_OK);
    CHECK(check1(r, "seed", "4294967295", why, sizeof why) == HEARTH_OK);
    CHECK(check1(r, "system", "be brief", why, sizeof why) == HEARTH_OK);

    CHECK(check1(r, "stop", "x", why, sizeof why) == HEARTH_EINVAL);
    CHECKF(strstr(why, "param stop is not supported"), "%s", why);
    CHECK(check1(r, "model", "gpt-4", why, sizeof why) == HEARTH_EINVAL);
    CHECKF(!strcmp(why, "model gpt-4 is not offered here (offered: "
                        "llama3.2:3b, qwen2.5)"), "%s", why);
    CHECK(check1(r, "temperature", "2.5", why, sizeof why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "param temperature must be a number from 0 to 2"));
    CHECK(check1(r, "temperature", "nan", why, sizeof why) == HEARTH_EINVAL);
    CHECK(check1(r, "temperature", " 1", why, sizeof why) == HEARTH_EINVAL);
    CHECK(check1(r, "top_p", "-0.1", why, sizeof why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "param top_p must be a number from 0 to 1"));
    CHECK(check1(r, "max_tokens", "0", why, sizeof why) == HEARTH_EINVAL);
    CHECK(check1(r, "max_tokens", "4097", why, sizeof why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "param max_tokens must be an integer from 1 to 4096"));
    CHECK(check1(r, "max_tokens", "1.5", why, sizeof why) == HEARTH_EINVAL);
    CHECK(check1(r, "seed", "4294967296", why, sizeof why) == HEARTH_EINVAL);
    CHECK(check1(r, "seed", "-1", why, sizeof why) == HEARTH_EINVAL);

    hearth_job_param twice[] = {{"seed", "1"}, {"seed", "2"}};
    hearth_job_input in[3] = {text_input("a"), text_input("b"),
                              text_input("you are terse")};
    hearth_runner_job j = make_job(in, 1, twice, 2);
    CHECK(hearth_runner_check(r, &j, why, sizeof why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "param seed is given twice"));

    j = make_job(in, 0, NULL, 0);
    CHECK(hearth_runner_check(r, &j, why, sizeof why) == HEARTH_EINVAL);
    CHECK(strstr(why, "at least one text input"));
    in[2].marker = "system";
    j = make_job(in + 2, 1, NULL, 0);   /* a system input alone */
    CHECK(hearth_runner_check(r, &j, why, sizeof why) == HEARTH_EINVAL);
    in[1].type = "url";
    j = make_job(in, 2, NULL, 0);
    CHECK(hearth_runner_check(r, &j, why, sizeof why) == HEARTH_EINVAL);
    CHECKF(!strcmp(why, "input 2 is not of type text: this provider takes "
                        "text inputs only"), "%s", why);
    in[1].type = "text";
    in[1].value = "\xff";
    in[1].len = 1;
    CHECK(hearth_runner_check(r, &j, why, sizeof why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "input 2 is not UTF-8 text"));
    j.kind = 5970;
    CHECK(hearth_runner_check(r, &j, why, sizeof why) == HEARTH_EINVAL);

    /* estimate: 8 bytes of prompt = 2 tokens plus the template's 4 */
    hearth_job_input est = text_input("abcdefgh");
    hearth_job_param mt = {"max_tokens", "100"};
    j = make_job(&est, 1, &mt, 1);
    hearth_usage u;
    uint32_t ms;
    CHECK(hearth_runner_estimate(r, &j, &u, &ms) == HEARTH_OK);
    CHECK(u.jobs == 1 && u.tokens_in == 6 && u.tokens_out == 100);
    CHECK(ms == 5000);   /* 100 tokens at the assumed 20 tokens/s */

    hearth_runner_desc d;
    CHECK(hearth_runner_describe(r, &d) == HEARTH_OK);   /* no network */
    CHECK(!strcmp(d.name, "openai") && d.backend == HEARTH_BACKEND_OPENAI);
    CHECK(d.nkinds == 1 && d.kinds[0] == 5050 && d.nmodels == 2);
    CHECK(!strcmp(d.models[1], "qwen2.5") && d.slots == 1);
    hearth_runner_free(r);

    /* no list, no default, no model param: nothing to ask the backend */
    hearth_openai_runner_opts_default(&o);
    CHECK(hearth_runner_openai_new(&o, &r) == HEARTH_OK);
    CHECK(check1(r, NULL, NULL, why, sizeof why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "param model is required: this provider has no "
                       "default model"));
    CHECK(check1(r, "model", "anything", why, sizeof why) == HEARTH_OK);
    hearth_runner_free(r);

    o.base_url = "ftp://127.0.0.1/v1";
    CHECK(hearth_runner_openai_new(&o, &r) == HEARTH_EINVAL);
    o.base_url = "http://127.0.0.1/v1";
    o.api_key = "a\r\nX-Evil: 1";
    CHECK(hearth_runner_openai_new(&o, &r) == HEARTH_EINVAL);
}

/* ---- against the fake backend ---- */

typedef struct backend {
    pid_t pid;
    int in;          /* its stdin: closing it ends the server */
    unsigned port;
} backend;

static int find_node(char *path, size_t len)
{
    const char *env = getenv("PATH");
    char *dirs = strdup(env ? env : "/usr/local/bin:/usr/bin:/bin");
    int found = 0;
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d && !found;
         d = strtok_r(NULL, ":", &save)) {
        snprintf(path, len, "%s/node", *d ? d : ".");
        found = access(path, X_OK) == 0;
    }
    free(dirs);
    return found;
}

static int start_backend(const char *node, backend *b)
{
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return -1;
    b->pid = fork();
    if (b->pid < 0)
        return -1;
    if (b->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        execl(node, "node", "openai/fake_backend.mjs", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    b->in = in[1];
    char line[32];
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t k = read(out[0], line + n, 1);
        if (k <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    close(out[0]);
    b->port = (unsigned)strtoul(line, NULL, 10);
    return b->port ? 0 : -1;
}

static void stop_backend(backend *b)
{
    close(b->in);
    kill(b->pid, SIGTERM);
    waitpid(b->pid, NULL, 0);
}

typedef struct seen {
    hearth_buf partial;
    int npartial;
    unsigned last_percent;
    int progress_calls, progress_backwards;
    int cancel_after_partial;
} seen;

static void on_progress(void *user, unsigned pct)
{
    seen *s = user;
    s->progress_backwards |= pct < s->last_percent;
    s->last_percent = pct;
    s->progress_calls++;
}

static void on_partial(void *user, const char *data, size_t len)
{
    seen *s = user;
    hearth_buf_add(&s->partial, data, len);
    s->npartial++;
}

static int on_cancelled(void *user)
{
    seen *s = user;
    return s->cancel_after_partial && s->npartial > 0;
}

static const char *prompt = "alpha bravo charlie delta echo foxtrot golf";

/* Run prompt with model (and one optional param) on r. */
static int run_model(hearth_runner *r, const char *model, const char *key,
                     const char *value, seen *s, hearth_runner_result *res)
{
    hearth_job_input in = text_input(prompt);
    hearth_job_param pa[2] = {{"model", model}, {key, value}};
    hearth_runner_job j = make_job(&in, 1, pa, key ? 2 : 1);
    hearth_runner_io io = {on_progress, on_partial, on_cancelled, s};
    memset(s, 0, sizeof *s);
    hearth_runner_result_init(res);
    return hearth_runner_run(r, &j, &io, res);
}

static void no_prompt_in(const hearth_runner_result *res)
{
    CHECKF(!strstr(res->error, "bravo") && !strstr(res->error, "foxtrot"),
           "%s", res->error);
}

static void done(seen *s, hearth_runner_result *res)
{
    hearth_buf_free(&s->partial);
    hearth_runner_result_free(res);
}

static const char *reversed = "golf foxtrot echo delta charlie bravo alpha";

static void test_stream(hearth_runner *r)
{
    seen s;
    hearth_runner_result res;
    int rc = run_model(r, "usage", NULL, NULL, &s, &res);
    CHECKF(rc == HEARTH_OK, "%d %s", rc, res.error);
    CHECKF(res.output.p && !strcmp(res.output.p, reversed), "%s",
           res.output.p ? res.output.p : "(null)");
    /* the backend's own count */
    CHECK(res.usage.jobs == 1 && res.usage.tokens_in == 42 &&
          res.usage.tokens_out == 107);
    CHECK(s.npartial >= 1 && s.partial.len == res.output.len &&
          !memcmp(s.partial.p, res.output.p, res.output.len));
    CHECK(s.last_percent == 100 && !s.progress_backwards);
    done(&s, &res);

    /* CRLF, comments, no usage: counted here, one token per chunk */
    rc = run_model(r, "nousage", NULL, NULL, &s, &res);
    CHECKF(rc == HEARTH_OK, "%d %s", rc, res.error);
    CHECK(res.output.p && !strcmp(res.output.p, reversed));
    CHECK(res.usage.tokens_out == 7);
    CHECK(res.usage.tokens_in == (strlen(prompt) + 3) / 4 + 4);
    done(&s, &res);

    rc = run_model(r, "nonstream", NULL, NULL, &s, &res);
    CHECKF(rc == HEARTH_OK, "%d %s", rc, res.error);
    CHECK(res.output.p && !strcmp(res.output.p, reversed));
    CHECK(res.usage.tokens_in == 7 && res.usage.tokens_out == 9);
    CHECK(s.partial.len == res.output.len && s.last_percent == 100);
    done(&s, &res);
}

static void test_request(hearth_runner *r)
{
    seen s;
    hearth_runner_result res;
    hearth_job_input in[2] = {text_input(prompt), text_input("be terse")};
    in[1].marker = "system";
    hearth_job_param pa[] = {{"model", "params"}, {"temperature", "0.7"},
                             {"top_p", "0.9"}, {"seed", "42"},
                             {"max_tokens", "64"}, {"system", "hi"}};
    hearth_runner_job j = make_job(in, 2, pa, 6);
    hearth_runner_io io = {NULL, NULL, NULL, NULL};
    memset(&s, 0, sizeof s);
    hearth_runner_result_init(&res);
    int rc = hearth_runner_run(r, &j, &io, &res);
    CHECKF(rc == HEARTH_OK, "%d %s", rc, res.error);
    /* system: param, then "\n\n", then the marked input */
    const char *want = "max_tokens=64 temperature=0.7 top_p=0.9 seed=42 "
                       "stream=true include_usage=true system_messages=1 "
                       "system_bytes=12 user_messages=1 user_bytes=43";
    CHECKF(res.output.p && !strcmp(res.output.p, want), "%s",
           res.output.p ? res.output.p : "(null)");
    done(&s, &res);
}

static void test_failures(hearth_runner *r, unsigned port)
{
    seen s;
    hearth_runner_result res;
    char want[200];
    int rc = run_model(r, "error", NULL, NULL, &s, &res);
    snprintf(want, sizeof want, "the model backend at http://127.0.0.1:%u "
             "answered HTTP 500: the model crashed while loading", port);
    CHECK(rc == HEARTH_EIO);
    CHECKF(!strcmp(res.error, want), "%s", res.error);
    CHECK(res.usage.jobs == 0);
    done(&s, &res);

    rc = run_model(r, "errorecho", NULL, NULL, &s, &res);
    snprintf(want, sizeof want, "the model backend at http://127.0.0.1:%u "
             "answered HTTP 400", port);
    CHECK(rc == HEARTH_EIO);
    CHECKF(!strcmp(res.error, want), "%s", res.error);
    no_prompt_in(&res);
    done(&s, &res);

    rc = run_model(r, "midstream", NULL, NULL, &s, &res);
    CHECK(rc == HEARTH_EIO);
    CHECKF(strstr(res.error, "reported an error: out of memory"), "%s",
           res.error);
    done(&s, &res);

    rc = run_model(r, "garbage", NULL, NULL, &s, &res);
    CHECK(rc == HEARTH_EIO);
    CHECKF(strstr(res.error, "sent a malformed stream"), "%s", res.error);
    no_prompt_in(&res);
    done(&s, &res);

    rc = run_model(r, "nodone", NULL, NULL, &s, &res);
    CHECK(rc == HEARTH_EIO);
    CHECKF(strstr(res.error, "ended its stream before the answer was "
                             "complete"), "%s", res.error);
    done(&s, &res);

    /* admission runs again inside run */
    rc = run_model(r, "usage", "frequency_penalty", "1", &s, &res);
    CHECK(rc == HEARTH_EINVAL);
    CHECK(strstr(res.error, "param frequency_penalty is not supported"));
    done(&s, &res);
    rc = run_model(r, "gpt-4o", NULL, NULL, &s, &res);
    CHECK(rc == HEARTH_EINVAL);
    CHECKF(strstr(res.error, "model gpt-4o is not offered here"), "%s",
           res.error);
    done(&s, &res);
}

static void test_limits(hearth_runner *r)
{
    seen s;
    hearth_runner_result res;

    /* cancelled once the first piece was streamed */
    hearth_job_input in = text_input(prompt);
    hearth_job_param pa = {"model", "slow"};
    hearth_runner_job j = make_job(&in, 1, &pa, 1);
    hearth_runner_io io = {on_progress, on_partial, on_cancelled, &s};
    memset(&s, 0, sizeof s);
    s.cancel_after_partial = 1;
    hearth_runner_result_init(&res);
    int rc = hearth_runner_run(r, &j, &io, &res);
    CHECK(rc == HEARTH_ECANCELED);
    CHECK(!strcmp(res.error, "the job was cancelled"));
    CHECK(res.usage.jobs == 0 && res.usage.tokens_out >= 1);
    done(&s, &res);

    /* the job's own time limit */
    j.time_limit_ms = 200;
    memset(&s, 0, sizeof s);
    hearth_runner_result_init(&res);
    rc = hearth_runner_run(r, &j, &io, &res);
    CHECK(rc == HEARTH_ETIMEDOUT);
    CHECKF(!strcmp(res.error, "the job ran longer than its time limit of "
                              "200 ms"), "%s", res.error);
    done(&s, &res);

    /* max_tokens chunks: progress climbs to 100, partials batch */
    rc = run_model(r, "long", "max_tokens", "4000", &s, &res);
    CHECKF(rc == HEARTH_OK, "%d %s", rc, res.error);
    CHECK(res.output.len == 20000 && res.usage.tokens_out == 4000);
    /* batched: far fewer pieces than chunks */
    CHECK(s.partial.len == 20000 && s.npartial < 4000);
    CHECK(s.last_percent == 100 && !s.progress_backwards &&
          s.progress_calls >= 2);
    done(&s, &res);
}

static void test_small_output(const char *base)
{
    hearth_openai_runner_opts o;
    hearth_runner *r;
    seen s;
    hearth_runner_result res;
    hearth_openai_runner_opts_default(&o);
    o.base_url = base;
    o.max_output = 1000;
    CHECK(hearth_runner_openai_new(&o, &r) == HEARTH_OK);
    int rc = run_model(r, "long", "max_tokens", "4000", &s, &res);
    CHECKF(rc == HEARTH_OK, "%d %s", rc, res.error);
    CHECK(res.output.len == 1000 && s.partial.len == 1000);
    CHECK(res.usage.tokens_out >= 200 && res.usage.tokens_out < 4000);
    done(&s, &res);
    hearth_runner_free(r);
}

static void test_hang(const char *base, unsigned port)
{
    hearth_openai_runner_opts o;
    hearth_runner *r;
    seen s;
    hearth_runner_result res;
    char want[200];
    hearth_openai_runner_opts_default(&o);
    o.base_url = base;
    o.idle_timeout_ms = 300;
    CHECK(hearth_runner_openai_new(&o, &r) == HEARTH_OK);
    int rc = run_model(r, "hang", NULL, NULL, &s, &res);
    snprintf(want, sizeof want, "the model backend at http://127.0.0.1:%u "
             "sent nothing for 300 ms", port);
    CHECK(rc == HEARTH_ETIMEDOUT);
    CHECKF(!strcmp(res.error, want), "%s", res.error);
    done(&s, &res);
    hearth_runner_free(r);
}

static void test_model_404_and_key(const char *base, unsigned port)
{
    static const char *const models[] = {"missing"};
    hearth_openai_runner_opts o;
    hearth_runner *r;
    seen s;
    hearth_runner_result res;
    char want[200];
    hearth_openai_runner_opts_default(&o);
    o.base_url = base;
    o.models = models;
    o.nmodels = 1;
    CHECK(hearth_runner_openai_new(&o, &r) == HEARTH_OK);
    int rc = run_model(r, "missing", NULL, NULL, &s, &res);
    snprintf(want, sizeof want, "model missing was not found at the model "
             "backend at http://127.0.0.1:%u: model 'missing' not found",
             port);
    CHECK(rc == HEARTH_EIO);
    CHECKF(!strcmp(res.error, want), "%s", res.error);
    done(&s, &res);
    hearth_runner_free(r);

    o.nmodels = 0;
    o.api_key = "wrong-key";
    CHECK(hearth_runner_openai_new(&o, &r) == HEARTH_OK);
    rc = run_model(r, "usage", NULL, NULL, &s, &res);
    CHECK(rc == HEARTH_EIO);
    CHECKF(strstr(res.error, "refused the API key (HTTP 401)"), "%s",
           res.error);
    done(&s, &res);
    char why[HEARTH_RUNNER_WHY_MAX];
    CHECK(hearth_runner_health(r, why, sizeof why) == HEARTH_EIO);
    CHECKF(strstr(why, "answered HTTP 401"), "%s", why);
    hearth_runner_free(r);

    o.api_key = "test-key";
    CHECK(hearth_runner_openai_new(&o, &r) == HEARTH_OK);
    rc = run_model(r, "usage", NULL, NULL, &s, &res);
    CHECKF(rc == HEARTH_OK, "%d %s", rc, res.error);
    done(&s, &res);
    hearth_runner_free(r);
}

static void test_down(hearth_runner *r, unsigned port)
{
    seen s;
    hearth_runner_result res;
    char want[200], why[HEARTH_RUNNER_WHY_MAX];
    snprintf(want, sizeof want, "the model backend at http://127.0.0.1:%u "
             "is not answering", port);
    int rc = run_model(r, "usage", NULL, NULL, &s, &res);
    CHECK(rc == HEARTH_EIO);
    CHECKF(!strcmp(res.error, want), "%s", res.error);
    done(&s, &res);
    CHECK(hearth_runner_health(r, why, sizeof why) == HEARTH_EIO);
    CHECKF(!strcmp(why, want), "%s", why);
    /* describe keeps the list the backend gave while it was up */
    hearth_runner_desc d;
    CHECK(hearth_runner_describe(r, &d) == HEARTH_OK);
    CHECK(d.nmodels == 12);
}

static void test_backend(const char *node)
{
    backend b;
    if (start_backend(node, &b)) {
        CHECKF(0, "the fake backend did not start");
        return;
    }
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u/v1", b.port);
    hearth_openai_runner_opts o;
    hearth_runner *r;
    char why[HEARTH_RUNNER_WHY_MAX];
    hearth_openai_runner_opts_default(&o);
    o.base_url = base;
    CHECK(hearth_runner_openai_new(&o, &r) == HEARTH_OK);

    CHECK(hearth_runner_health(r, why, sizeof why) == HEARTH_OK);
    hearth_runner_desc d;
    CHECK(hearth_runner_describe(r, &d) == HEARTH_OK);
    CHECK(d.nmodels == 12 && !strcmp(d.models[0], "usage"));

    test_stream(r);
    test_request(r);
    test_failures(r, b.port);
    test_limits(r);
    test_small_output(base);
    test_hang(base, b.port);
    test_model_404_and_key(base, b.port);

    stop_backend(&b);
    test_down(r, b.port);
    hearth_runner_free(r);
}

int main(void)
{
    char node[4096];
    /* the backend is on 127.0.0.1: a proxy from the environment must not
     * stand in between */
    setenv("NO_PROXY", "*", 1);
    setenv("no_proxy", "*", 1);
    signal(SIGPIPE, SIG_IGN);
    test_sse_splits();
    test_sse_bounds();
    test_answers();
    test_error_messages();
    test_check();
    if (find_node(node, sizeof node))
        test_backend(node);
    else
        printf("# SKIP fake backend tests: node is not installed\n");
    return tap_done();
}
