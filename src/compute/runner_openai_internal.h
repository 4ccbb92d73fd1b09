/* The openai runner's answer parsing (runner_openai_stream.c), kept apart
 * from the HTTP side so the unit test and the fuzzer reach it without a
 * network. Internal to libhearth. */
#ifndef HEARTH_COMPUTE_RUNNER_OPENAI_INTERNAL_H
#define HEARTH_COMPUTE_RUNNER_OPENAI_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "sse.h"
#include "hearth/buf.h"
#include "hearth/runner.h"

#define HEARTH_OAI_MSG_MAX 120u  /* bytes of a backend message we repeat */

/* What one answer (streamed or not) gave so far. */
typedef struct hearth_oai_answer {
    hearth_buf *out;         /* generated text, caller's buffer */
    size_t max_output;       /* bytes of text kept */
    int full;                /* max_output reached: the rest is dropped */
    int done;                /* "data: [DONE]" seen */
    int finished;            /* a choice's finish_reason seen */
    int have_usage;          /* the backend reported usage */
    uint64_t prompt_tokens, completion_tokens;
    uint64_t chunks;         /* local count: chunks that carried text;
                                for a whole JSON answer, its bytes / 4 */
    const char *avoid;       /* the prompt, kept out of messages; may be
                                NULL */
    size_t avoid_len;
    /* set when the backend reported an error inside a 200 answer:
     * HEARTH_OAI_MSG_MAX bytes of its message, sanitized, or "" */
    int backend_error;
    char message[HEARTH_OAI_MSG_MAX + 1];
} hearth_oai_answer;

typedef struct hearth_oai_stream {
    hearth_sse sse;
    hearth_oai_answer *ans;
} hearth_oai_stream;

void hearth_oai_answer_init(hearth_oai_answer *a, hearth_buf *out,
                            size_t max_output, const char *avoid,
                            size_t avoid_len);

/* A text/event-stream answer fed in pieces. max_line bounds one SSE line
 * and one event's data. Feed returns HEARTH_OK, HEARTH_ETOOBIG (a line
 * too long), HEARTH_EINVAL (an event that is not a JSON chunk), HEARTH_EIO
 * (the backend sent an error; ans->message says what) or HEARTH_ENOMEM.
 * Events after [DONE] are ignored. */
int hearth_oai_stream_init(hearth_oai_stream *s, hearth_oai_answer *ans,
                           size_t max_line);
int hearth_oai_stream_feed(hearth_oai_stream *s, const char *p, size_t n);
int hearth_oai_stream_finish(hearth_oai_stream *s);
void hearth_oai_stream_free(hearth_oai_stream *s);

/* A whole application/json chat completion (a backend that ignored
 * "stream"). Same returns as hearth_oai_stream_feed. */
int hearth_oai_parse_completion(hearth_oai_answer *a, const char *p,
                                size_t n);

/* The message of an error body: {"error":{"message":..}}, {"error":..}
 * or {"message":..} (vLLM's older form), sanitized into msg (printable
 * ASCII, at most HEARTH_OAI_MSG_MAX bytes, cut on a word). "" when there
 * is none, or when it repeats any 16 bytes of avoid (the prompt), since a
 * backend error must never carry the customer's input into a result.
 * Always HEARTH_OK. */
int hearth_oai_error_message(const char *body, size_t n, const char *avoid,
                             size_t avoid_len, char *msg, size_t msglen);

/* ---- the runner (runner_openai.c, runner_openai_run.c) ---- */

#define HEARTH_OAI_KIND 5050u

typedef struct hearth_oai_runner {
    hearth_openai_runner_opts o;   /* string pointers not kept: below */
    char *base;                    /* base_url without a trailing '/' */
    char *origin;                  /* scheme://host:port, for sentences */
    char *auth;                    /* "Authorization: Bearer ..." or NULL */
    char *default_model;
    size_t nfixed;                 /* models from the options */
    char fixed[HEARTH_OFFER_MAX_MODELS][HEARTH_OFFER_NAME_MAX];
    pthread_mutex_t lock;          /* guards the fields below */
    int listed;                    /* GET /models answered once */
    size_t nlisted;
    char listed_models[HEARTH_OFFER_MAX_MODELS][HEARTH_OFFER_NAME_MAX];
    uint32_t measured_tokens_s;    /* 0 until a job was long enough */
    uint32_t busy;                 /* jobs running now */
} hearth_oai_runner;

/* A job checked and turned into what the request needs. */
typedef struct hearth_oai_job {
    char model[HEARTH_OFFER_NAME_MAX];
    uint32_t max_tokens;
    int has_temperature, has_top_p, has_seed;
    double temperature, top_p;
    uint64_t seed;
    size_t system_len, user_len;   /* bytes of the two messages */
    uint64_t tokens_in;            /* local estimate */
} hearth_oai_job;

/* Admission: HEARTH_OK, or HEARTH_EINVAL with a sentence in why. */
int hearth_oai_prepare(hearth_oai_runner *r, const hearth_runner_job *job,
                       hearth_oai_job *p, char *why, size_t whylen);
/* The two messages' texts (NUL-terminated; system may be empty). */
int hearth_oai_messages(const hearth_runner_job *job, hearth_buf *system,
                        hearth_buf *user);
/* The chat completions request body. */
int hearth_oai_request(const hearth_oai_job *p, const hearth_buf *system,
                       const hearth_buf *user, hearth_buf *body);
/* Output tokens per second for estimates. */
uint32_t hearth_oai_tokens_s(hearth_oai_runner *r);
int hearth_oai_run(hearth_oai_runner *r, const hearth_runner_job *job,
                   const hearth_runner_io *io, hearth_runner_result *res);

#endif
