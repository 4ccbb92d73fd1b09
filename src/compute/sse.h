/* Incremental Server-Sent Events parser (the text/event-stream format of
 * the WHATWG HTML standard, section "Server-sent events"), used for the
 * streamed answers of OpenAI-compatible backends. Internal to libhearth.
 *
 * Bytes are fed in pieces split anywhere (even inside a CRLF pair or a
 * UTF-8 sequence); each complete event is handed to a callback with its
 * "event" name and its data lines joined by "\n". Lines end with LF, CR or
 * CRLF; lines starting with ':' are comments; "id" and "retry" are
 * ignored. One addition to the standard: an "error" field (llama.cpp
 * server's way to report a failure mid-stream) is taken as data of an
 * event named "error". Both a line and an event's data are bounded. */
#ifndef HEARTH_COMPUTE_SSE_H
#define HEARTH_COMPUTE_SSE_H

#include <stddef.h>

/* An event: name is "" when the stream gave none ("message" in the
 * standard). data is NUL-terminated. Return 0 to go on; any other value
 * stops the feed and is returned by hearth_sse_feed. */
typedef int (*hearth_sse_event_fn)(void *user, const char *name,
                                   const char *data, size_t len);

typedef struct hearth_sse {
    char *line;          /* the line being read */
    size_t line_len, line_cap;
    char *data;          /* the event's data lines, joined by "\n" */
    size_t data_len, data_cap;
    int has_data;        /* a data field was seen (data may be "") */
    char name[64];       /* the event's "event" field, truncated */
    size_t max_line, max_data;
    int after_cr;        /* last byte was CR: skip one LF */
    int started;         /* past the optional leading BOM */
    size_t bom;          /* BOM bytes matched so far */
    hearth_sse_event_fn fn;
    void *user;
} hearth_sse;

/* max_line bounds one line, max_data an event's joined data (bytes).
 * HEARTH_OK or HEARTH_ENOMEM. */
int hearth_sse_init(hearth_sse *s, size_t max_line, size_t max_data,
                    hearth_sse_event_fn fn, void *user);
/* HEARTH_OK, HEARTH_ETOOBIG when a bound is passed, or the callback's
 * nonzero value. After an error the parser must not be fed again. */
int hearth_sse_feed(hearth_sse *s, const char *p, size_t n);
/* End of stream: a last line without its end is taken as ended, and a
 * pending event is dispatched, because backends sometimes close without
 * the final blank line. Same returns as hearth_sse_feed. */
int hearth_sse_finish(hearth_sse *s);
void hearth_sse_free(hearth_sse *s);

#endif
