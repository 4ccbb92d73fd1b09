/* Parsing what an OpenAI-compatible backend answers to a chat completion:
 * the streamed chunks, a whole JSON completion, and error bodies. Nothing
 * here logs: the text is the customer's output. */
#include "runner_openai_internal.h"

#include <jansson.h>
#include <string.h>

#include "hearth/error.h"

void hearth_oai_answer_init(hearth_oai_answer *a, hearth_buf *out,
                            size_t max_output, const char *avoid,
                            size_t avoid_len)
{
    memset(a, 0, sizeof *a);
    a->out = out;
    a->max_output = max_output;
    a->avoid = avoid;
    a->avoid_len = avoid_len;
}

/* Does msg repeat a window of the prompt? Windows are 16 bytes, or the
 * whole prompt when it is shorter (but at least 4, below which any short
 * word would match). */
static int repeats(const char *msg, size_t n, const char *avoid,
                   size_t avoid_len)
{
    size_t w = avoid_len < 16 ? avoid_len : 16;
    if (!avoid || w < 4 || n < w)
        return 0;
    for (size_t i = 0; i + w <= n; i++)
        if (memmem(avoid, avoid_len, msg + i, w))
            return 1;
    return 0;
}

/* Printable ASCII only: whitespace becomes one space, any other byte run
 * one '?', so a message cannot forge lines or terminal escapes in logs or
 * in the result; cut at a word when too long. */
static void sanitize(const char *m, size_t n, char *msg, size_t msglen)
{
    size_t k = 0, max = msglen - 1;
    int cut = 0;
    for (size_t i = 0; i < n && !cut; i++) {
        unsigned char c = (unsigned char)m[i];
        char o = c == ' ' || c == '\n' || c == '\r' || c == '\t' ? ' '
                 : c > 0x20 && c < 0x7f                          ? (char)c
                                                                 : '?';
        if ((o == ' ' || o == '?') && k && msg[k - 1] == o)
            continue;
        if (o == ' ' && k == 0)
            continue;
        if (k == max)
            cut = 1;
        else
            msg[k++] = o;
    }
    if (cut) {
        size_t sp = k;
        while (sp && msg[sp - 1] != ' ')
            sp--;
        if (sp > max / 2)
            k = sp;
    }
    while (k && msg[k - 1] == ' ')
        k--;
    msg[k] = '\0';
}

static void set_message(const char *m, size_t n, const char *avoid,
                        size_t avoid_len, char *msg, size_t msglen)
{
    msg[0] = '\0';
    if (!msglen)
        return;
    if (msglen > HEARTH_OAI_MSG_MAX + 1)
        msglen = HEARTH_OAI_MSG_MAX + 1;
    /* only the part that could be shown is checked against the prompt;
     * whitespace folding can only shorten it, so twice the room covers */
    size_t look = n < 2 * msglen + 16 ? n : 2 * msglen + 16;
    if (repeats(m, look, avoid, avoid_len))
        return;
    sanitize(m, look, msg, msglen);
}

/* The message of a parsed error value, or NULL. */
static json_t *message_of(json_t *j)
{
    json_t *e = json_object_get(j, "error");
    if (json_is_string(e))
        return e;
    json_t *m = json_object_get(e, "message");
    if (json_is_string(m))
        return m;
    m = json_object_get(j, "message");
    return json_is_string(m) ? m : NULL;
}

static int is_error(json_t *j, const char *event)
{
    json_t *e = json_object_get(j, "error");
    /* vLLM's older errors are {"object":"error","message":..} */
    json_t *o = json_object_get(j, "object");
    return (e && !json_is_null(e)) || !strcmp(event, "error") ||
           (json_is_string(o) && !strcmp(json_string_value(o), "error"));
}

static int backend_error(hearth_oai_answer *a, json_t *j)
{
    json_t *m = message_of(j);
    a->backend_error = 1;
    if (m)
        set_message(json_string_value(m), json_string_length(m), a->avoid,
                    a->avoid_len, a->message, sizeof a->message);
    return HEARTH_EIO;
}

/* Keep text up to max_output, cut on a UTF-8 character boundary. */
static int add_text(hearth_oai_answer *a, const char *p, size_t n)
{
    if (a->full)
        return HEARTH_OK;
    size_t room = a->max_output > a->out->len ? a->max_output - a->out->len
                                              : 0;
    if (n > room) {
        n = room;
        while (n && ((unsigned char)p[n] & 0xc0) == 0x80)
            n--;
        a->full = 1;
    }
    hearth_buf_add(a->out, p, n);
    return hearth_buf_error(a->out);
}

static void take_usage(hearth_oai_answer *a, json_t *j)
{
    json_t *u = json_object_get(j, "usage");
    json_t *pt = json_object_get(u, "prompt_tokens");
    json_t *ct = json_object_get(u, "completion_tokens");
    if (!json_is_integer(pt) || !json_is_integer(ct) ||
        json_integer_value(pt) < 0 || json_integer_value(ct) < 0)
        return;
    a->have_usage = 1;
    a->prompt_tokens = (uint64_t)json_integer_value(pt);
    a->completion_tokens = (uint64_t)json_integer_value(ct);
}

/* One choice; only the first counts since we never ask for n > 1. field
 * is "delta" in a chunk, "message" in a whole completion. */
static int take_choice(hearth_oai_answer *a, json_t *j, const char *field,
                       int *had_text)
{
    json_t *choices = json_object_get(j, "choices");
    *had_text = 0;
    if (choices && !json_is_array(choices))
        return HEARTH_EINVAL;
    json_t *c = json_array_get(choices, 0);
    if (!c)
        return HEARTH_OK;   /* the usage chunk has "choices": [] */
    if (!json_is_object(c))
        return HEARTH_EINVAL;
    json_t *fr = json_object_get(c, "finish_reason");
    if (json_is_string(fr))
        a->finished = 1;
    json_t *d = json_object_get(c, field);
    if (d && !json_is_object(d) && !json_is_null(d))
        return HEARTH_EINVAL;
    json_t *text = json_object_get(d, "content");
    if (text && !json_is_string(text) && !json_is_null(text))
        return HEARTH_EINVAL;
    size_t n = json_string_length(text);
    *had_text = n > 0;
    return n ? add_text(a, json_string_value(text), n) : HEARTH_OK;
}

static json_t *load(const char *p, size_t n)
{
    json_error_t err;
    /* NUL is legal in generated text; jansson refuses it unless asked */
    json_t *j = json_loadb(p, n, JSON_ALLOW_NUL, &err);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int on_event(void *user, const char *name, const char *data,
                    size_t len)
{
    hearth_oai_stream *s = user;
    hearth_oai_answer *a = s->ans;
    if (a->done)
        return HEARTH_OK;
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        a->done = 1;
        return HEARTH_OK;
    }
    json_t *j = load(data, len);
    if (!j)
        return HEARTH_EINVAL;
    int rc, had_text = 0;
    if (is_error(j, name)) {
        rc = backend_error(a, j);
    } else {
        rc = take_choice(a, j, "delta", &had_text);
        take_usage(a, j);
    }
    a->chunks += had_text;
    json_decref(j);
    return rc;
}

int hearth_oai_stream_init(hearth_oai_stream *s, hearth_oai_answer *ans,
                           size_t max_line)
{
    s->ans = ans;
    return hearth_sse_init(&s->sse, max_line, max_line, on_event, s);
}

int hearth_oai_stream_feed(hearth_oai_stream *s, const char *p, size_t n)
{
    return hearth_sse_feed(&s->sse, p, n);
}

int hearth_oai_stream_finish(hearth_oai_stream *s)
{
    return hearth_sse_finish(&s->sse);
}

void hearth_oai_stream_free(hearth_oai_stream *s)
{
    hearth_sse_free(&s->sse);
}

int hearth_oai_parse_completion(hearth_oai_answer *a, const char *p,
                                size_t n)
{
    json_t *j = load(p, n);
    if (!j)
        return HEARTH_EINVAL;
    int rc, had_text = 0;
    if (is_error(j, "")) {
        rc = backend_error(a, j);
    } else if (!json_is_array(json_object_get(j, "choices"))) {
        rc = HEARTH_EINVAL;
    } else {
        size_t before = a->out->len;
        rc = take_choice(a, j, "message", &had_text);
        /* no chunks to count: estimate at 4 bytes a token */
        a->chunks += (a->out->len - before + 3) / 4;
        take_usage(a, j);
        a->finished = a->done = rc == HEARTH_OK;
    }
    json_decref(j);
    return rc;
}

int hearth_oai_error_message(const char *body, size_t n, const char *avoid,
                             size_t avoid_len, char *msg, size_t msglen)
{
    if (!msglen)
        return HEARTH_OK;
    msg[0] = '\0';
    json_t *j = load(body, n);
    json_t *m = j ? message_of(j) : NULL;
    if (m)
        set_message(json_string_value(m), json_string_length(m), avoid,
                    avoid_len, msg, msglen);
    json_decref(j);
    return HEARTH_OK;
}
