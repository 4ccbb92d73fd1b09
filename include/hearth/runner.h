/* Runners: the compute plane (docs/runners.md). A runner turns one job
 * (inputs and params of a NIP-90 request) into an output and a usage
 * vector. It never sees keys, relays or who the customer is: the jobs
 * layer hands it only what the work needs, and publishes what it returns.
 *
 * Three runners ship: pow (NIP-13 event PoW delegation, CPU and CUDA),
 * openai (an OpenAI-compatible HTTP backend: llama.cpp server, Ollama,
 * vLLM) and exec (any program speaking the JSON-lines protocol of
 * docs/runner-exec.md). All are used through the same calls below.
 *
 * Thread rules: hearth_runner_run blocks and is called on a worker thread,
 * several at once on one runner (up to desc.slots). The io callbacks are
 * called on that same worker thread. Everything else may be called from
 * any thread. */
#ifndef HEARTH_RUNNER_H
#define HEARTH_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"
#include "hearth/offer.h"

#define HEARTH_RUNNER_MAX_KINDS 16u
#define HEARTH_RUNNER_WHY_MAX   200u  /* bytes of a reason, with the NUL */

/* One "i" tag of a request. value is not NUL-terminated in general: use
 * len. type is "text", "url", "event" or "job" (NIP-90). */
typedef struct hearth_job_input {
    const char *value;
    size_t len;
    const char *type;
    const char *marker;   /* fourth value, "" if none */
} hearth_job_input;

typedef struct hearth_job_param {
    const char *key;
    const char *value;
} hearth_job_param;

/* A job as a runner sees it. */
typedef struct hearth_runner_job {
    uint32_t kind;                    /* NIP-90 request kind */
    size_t ninputs;
    const hearth_job_input *inputs;
    size_t nparams;
    const hearth_job_param *params;
    const char *output;               /* requested MIME type, NULL if none */
    uint32_t time_limit_ms;           /* wall clock; 0 = the runner's own */
    uint64_t mem_limit;               /* bytes; 0 = the runner's own */
} hearth_runner_job;

/* The value of the first param named key, or NULL. */
const char *hearth_job_param_get(const hearth_runner_job *job,
                                 const char *key);

/* What a running job may report. All callbacks may be NULL. */
typedef struct hearth_runner_io {
    /* 0..100; the jobs layer decides how often it becomes feedback */
    void (*progress)(void *user, unsigned percent);
    /* a piece of output the runner streams (NIP-90 "partial") */
    void (*partial)(void *user, const char *data, size_t len);
    /* nonzero once the job must stop (cancelled, shutdown); runners poll
     * it at least every 100 ms */
    int (*cancelled)(void *user);
    void *user;
} hearth_runner_io;

typedef struct hearth_runner_result {
    hearth_buf output;    /* the result event's content */
    hearth_usage usage;   /* metered: jobs = 1 on success */
    /* on failure: one sentence a person understands, e.g. "the model
     * backend at http://127.0.0.1:8080 is not answering"; never the
     * input or output */
    char error[HEARTH_RUNNER_WHY_MAX];
} hearth_runner_result;

void hearth_runner_result_init(hearth_runner_result *r);
void hearth_runner_result_free(hearth_runner_result *r);

typedef struct hearth_runner_desc {
    const char *name;                 /* "pow", "openai", "exec" */
    hearth_backend backend;
    size_t nkinds;
    uint32_t kinds[HEARTH_RUNNER_MAX_KINDS];
    size_t nmodels;
    char models[HEARTH_OFFER_MAX_MODELS][HEARTH_OFFER_NAME_MAX];
    uint32_t slots;                   /* jobs it runs at once */
    uint64_t bench_mhash_s;           /* measured, 0 if not measured */
    uint32_t bench_tokens_s;
    int gpu;                          /* 1 if it runs on a GPU */
} hearth_runner_desc;

typedef struct hearth_runner_ops {
    int (*describe)(void *self, hearth_runner_desc *out);
    int (*check)(void *self, const hearth_runner_job *job, char *why,
                 size_t whylen);
    int (*estimate)(void *self, const hearth_runner_job *job,
                    hearth_usage *usage, uint32_t *ms);
    int (*run)(void *self, const hearth_runner_job *job,
               const hearth_runner_io *io, hearth_runner_result *res);
    int (*health)(void *self, char *why, size_t whylen);
    void (*free)(void *self);
} hearth_runner_ops;

typedef struct hearth_runner {
    const hearth_runner_ops *ops;
    void *self;
} hearth_runner;

/* What the runner serves: kinds, models, slots, measured speed. */
int hearth_runner_describe(hearth_runner *r, hearth_runner_desc *out);
/* Admission: HEARTH_OK, or HEARTH_EINVAL with why ("invalid: ..." style
 * sentence without the prefix, e.g. "param pow must be 1..64") when the
 * job cannot be served as asked. Cheap; never runs the job. */
int hearth_runner_check(hearth_runner *r, const hearth_runner_job *job,
                        char *why, size_t whylen);
/* Expected usage (for the quote) and wall time in ms. */
int hearth_runner_estimate(hearth_runner *r, const hearth_runner_job *job,
                           hearth_usage *usage, uint32_t *ms);
/* Run to completion. HEARTH_OK with res->output and res->usage; else
 * HEARTH_ECANCELED (io->cancelled said stop), HEARTH_ETIMEDOUT (the time
 * limit passed), HEARTH_EINVAL (bad input found while running) or
 * HEARTH_EIO (the backend or program failed), each with res->error set.
 * res->usage holds what was used even on failure. */
int hearth_runner_run(hearth_runner *r, const hearth_runner_job *job,
                      const hearth_runner_io *io, hearth_runner_result *res);
/* Can it take jobs now? HEARTH_OK, or HEARTH_EIO with why. */
int hearth_runner_health(hearth_runner *r, char *why, size_t whylen);
void hearth_runner_free(hearth_runner *r);

/* ---- pow: NIP-13 event PoW delegation (kind 5970 -> 6970) ----
 * Input: one "i" tag of type "text" holding the unsigned event as JSON
 * (pubkey = the customer's key, created_at, kind, tags, content; id and
 * sig absent or ignored). Param "pow": the target difficulty. Output: the
 * event as JSON with a ["nonce", n, target] tag and the matching id,
 * unsigned (the customer signs it). */
typedef struct hearth_pow_runner_opts {
    unsigned threads;        /* CPU threads; 0 = all online CPUs */
    int use_cuda;            /* -1 auto (when a GPU is found), 0 never,
                                1 required */
    const char *cuda_lib;    /* path of libhearth-cuda.so; NULL = the
                                installed one, then next to the binary */
    int max_difficulty;      /* refuse targets above this (40) */
    uint32_t slots;          /* jobs at once (1: each uses every core) */
    int cpu_impl;            /* a hearth_pow_impl (hearth/pow.h); 0 auto */
    uint32_t bench_ms;       /* speed measured at creation for this long
                                (200); 0 skips it (desc.bench_mhash_s 0,
                                estimates assume 1 Mhash/s) */
    /* one line each on what it runs on, e.g. why there is no GPU; NULL
     * for none */
    void (*log)(void *user, const char *line);
    void *log_user;
} hearth_pow_runner_opts;
void hearth_pow_runner_opts_default(hearth_pow_runner_opts *o);
int hearth_runner_pow_new(const hearth_pow_runner_opts *o,
                          hearth_runner **out);

/* ---- openai: OpenAI-compatible chat completions (kind 5050) ----
 * Input: "text" inputs joined as the user prompt (inputs marked "system"
 * and param "system" become the system message). Params: "model",
 * "max_tokens", "temperature", "top_p", "seed", "system"; unknown params
 * refused. docs/runner-openai.md. */
typedef struct hearth_openai_runner_opts {
    const char *base_url;    /* e.g. "http://127.0.0.1:8080/v1" */
    const char *api_key;     /* sent as a bearer token; NULL for none */
    const char *default_model; /* when the request names none */
    size_t nmodels;          /* models offered; 0 = ask the backend
                                (GET /models) */
    const char *const *models;
    uint32_t connect_timeout_ms; /* 5000 */
    uint32_t idle_timeout_ms;    /* no byte from the backend for this
                                    long fails the job (60000) */
    uint32_t max_output;     /* bytes of generated text kept (1 MiB) */
    uint32_t max_tokens;     /* cap on max_tokens (4096) */
    uint32_t slots;          /* concurrent requests to the backend (1) */
    uint32_t time_limit_ms;  /* per job when the request sets none
                                (600000) */
    uint32_t health_timeout_ms; /* whole GET /models of health and
                                   describe (3000) */
    uint32_t tokens_s;       /* output tokens/s for estimates; 0 = measure
                                from finished jobs (20 until then) */
    uint32_t max_input;      /* bytes of prompt (inputs and system) (1 MiB) */
    int gpu;                 /* the backend runs on a GPU (1); only
                                described in the offer */
} hearth_openai_runner_opts;
void hearth_openai_runner_opts_default(hearth_openai_runner_opts *o);
int hearth_runner_openai_new(const hearth_openai_runner_opts *o,
                             hearth_runner **out);

/* ---- exec: an external program (docs/runner-exec.md) ---- */
typedef struct hearth_exec_runner_opts {
    const char *program;     /* absolute path */
    const char *const *args; /* NULL-terminated extra arguments, or NULL */
    size_t nkinds;
    const uint32_t *kinds;   /* job kinds it serves */
    uint32_t time_limit_ms;  /* wall clock per job (60000) */
    uint64_t mem_limit;      /* RLIMIT_AS bytes (1 GiB) */
    uint64_t cpu_limit_s;    /* RLIMIT_CPU seconds (60) */
    uint64_t max_output;     /* bytes of stdout per job (8 MiB) */
    uint32_t max_procs;      /* RLIMIT_NPROC (64) */
    int allow_network;       /* 0: a private network namespace where the
                                OS allows it */
    const char *const *hidden; /* NULL-terminated paths the program must
                                  not reach (the peer's data directory and
                                  key file), or NULL */
    uint32_t slots;          /* jobs at once (1) */
    uint64_t max_file;       /* RLIMIT_FSIZE bytes (256 MiB) */
    uint32_t max_files;      /* RLIMIT_NOFILE (256) */
} hearth_exec_runner_opts;
void hearth_exec_runner_opts_default(hearth_exec_runner_opts *o);
int hearth_runner_exec_new(const hearth_exec_runner_opts *o,
                           hearth_runner **out);

/* What confines an exec runner's programs on this machine. NAMESPACES:
 * private user, pid, mount, IPC and (unless allow_network) network
 * namespaces, hidden paths covered, no capabilities. RLIMITS: the user
 * namespace was refused, so only rlimits, a clean environment and a
 * private working directory remain; the program runs as the peer's own
 * user and can read whatever that user can (docs/runner-exec.md). */
typedef enum hearth_exec_sandbox {
    HEARTH_EXEC_SANDBOX_RLIMITS = 1,
    HEARTH_EXEC_SANDBOX_NAMESPACES = 2
} hearth_exec_sandbox;
/* The mode the last job ran in (probed at hearth_runner_exec_new).
 * HEARTH_EINVAL if r is not an exec runner. */
int hearth_exec_runner_sandbox(hearth_runner *r, hearth_exec_sandbox *mode);

#endif
