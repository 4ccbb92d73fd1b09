/* The openai runner's stream parsing (src/compute/sse.c and
 * runner_openai_stream.c): any bytes, split anywhere, must give the same
 * events as when fed whole, never pass a bound, keep the output valid
 * UTF-8 within max_output, and turn any error body into a short printable
 * message that never repeats the "prompt". The first byte picks the split
 * point and the bounds, so the corpus explores those too. */
#include "compute/runner_openai_internal.h"
#include "compute/sse.h"
#include "hearth/error.h"
#include "hearth/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int log_event(void *user, const char *name, const char *data,
                     size_t len)
{
    hearth_buf *log = user;
    if (data[len] != '\0' || strlen(name) >= 64)
        abort();
    hearth_buf_addf(log, "%s|%zu|", name, len);
    hearth_buf_add(log, data, len);
    return 0;
}

/* Events (or the error) of feeding p in two pieces cut at cut. */
static int events(const char *p, size_t n, size_t cut, size_t max,
                  hearth_buf *log)
{
    hearth_sse s;
    if (hearth_sse_init(&s, max, max, log_event, log))
        abort();
    int rc = hearth_sse_feed(&s, p, cut);
    if (!rc)
        rc = hearth_sse_feed(&s, p + cut, n - cut);
    if (!rc)
        rc = hearth_sse_finish(&s);
    if (s.line_len > max || s.data_len > max)
        abort();
    hearth_sse_free(&s);
    return rc;
}

static void check_sse(const char *p, size_t n, size_t cut, size_t max)
{
    hearth_buf a = HEARTH_BUF_INIT, b = HEARTH_BUF_INIT;
    int ra = events(p, n, n, max, &a);
    int rb = events(p, n, cut, max, &b);
    /* a bound can be hit at the same byte either way, so the events up to
     * it match too */
    if (ra != rb || a.len != b.len || (a.len && memcmp(a.p, b.p, a.len)))
        abort();
    hearth_buf_free(&a);
    hearth_buf_free(&b);
}

static void check_printable(const char *m)
{
    size_t len = strlen(m);
    if (len > HEARTH_OAI_MSG_MAX)
        abort();
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)m[i] < 0x20 || (unsigned char)m[i] >= 0x7f)
            abort();
}

static void check_answer(const char *p, size_t n, size_t cut,
                         size_t max_output)
{
    hearth_buf out = HEARTH_BUF_INIT;
    hearth_oai_answer a;
    hearth_oai_stream s;
    hearth_oai_answer_init(&a, &out, max_output, p, n);
    if (hearth_oai_stream_init(&s, &a, 4096))
        abort();
    int rc = hearth_oai_stream_feed(&s, p, cut);
    if (!rc)
        rc = hearth_oai_stream_feed(&s, p + cut, n - cut);
    if (!rc)
        rc = hearth_oai_stream_finish(&s);
    if (out.len > max_output || !hearth_utf8_valid(out.p, out.len))
        abort();
    check_printable(a.message);
    hearth_oai_stream_free(&s);

    hearth_buf_reset(&out);
    hearth_oai_answer_init(&a, &out, max_output, p, n);
    hearth_oai_parse_completion(&a, p, n);
    if (out.len > max_output || !hearth_utf8_valid(out.p, out.len))
        abort();
    check_printable(a.message);
    hearth_buf_free(&out);
}

static void check_error_body(const char *p, size_t n, size_t cut)
{
    char msg[HEARTH_OAI_MSG_MAX + 1];
    /* the tail of the input plays the prompt */
    hearth_oai_error_message(p, n, p + cut, n - cut, msg, sizeof msg);
    check_printable(msg);
    size_t w = n - cut < 16 ? n - cut : 16;
    if (w >= 4)
        for (size_t i = 0; i + w <= strlen(msg); i++)
            if (memmem(p + cut, n - cut, msg + i, w))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    size_t cut = n ? (size_t)data[0] * 257u % (n + 1) : 0;
    size_t max = 8 + (data[0] & 0x3f) * 4;
    check_sse(p, n, cut, max);
    check_sse(p, n, cut, 1 << 16);
    check_answer(p, n, cut, data[0] & 0x1f);
    check_answer(p, n, cut, 1 << 16);
    check_error_body(p, n, cut);
    return 0;
}
