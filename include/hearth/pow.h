/* NIP-13 proof of work, fast: the multi-threaded CPU miner with SIMD and
 * SHA-NI implementations, and the loader of the CUDA miner
 * (libhearth-cuda.so). docs/pow.md has the layout and the numbers.
 *
 * A mining job is a hearth_nip13_job (hearth/nip13.h). hearth_pow_job_init
 * picks the nonce width so the digits that change on every try sit in the
 * final SHA-256 block whenever the event allows: a try is then one
 * compression, minus the rounds before the nonce's first word, which are
 * done once per 10,000 tries. Nonces have exactly `width` digits and no
 * leading zero: the tried range is 10^(width-1) .. 10^width - 1, in
 * batches of 10,000 that share all but the last four digits. */
#ifndef HEARTH_POW_H
#define HEARTH_POW_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/event.h"
#include "hearth/nip13.h"

#define HEARTH_POW_BATCH 10000u   /* tries per batch: the last 4 digits */
#define HEARTH_POW_MIN_WIDTH 6u   /* 4 changing digits under 2 fixed ones */

/* CPU implementations. AUTO picks $HEARTH_POW_IMPL when set (a name
 * below), else the fastest this CPU runs: shani, then avx512, avx2,
 * scalar. */
typedef enum hearth_pow_impl {
    HEARTH_POW_AUTO = 0,
    HEARTH_POW_SCALAR = 1,   /* portable C, the shared sha256_core.h loop */
    HEARTH_POW_AVX2 = 2,     /* 8 nonces per compression */
    HEARTH_POW_AVX512 = 3,   /* 16 nonces per compression */
    HEARTH_POW_SHANI = 4     /* Intel SHA extensions, 2 nonces in flight */
} hearth_pow_impl;
#define HEARTH_POW_NIMPL 5

/* "auto", "scalar", "avx2", "avx512", "shani". */
const char *hearth_pow_impl_name(hearth_pow_impl impl);
int hearth_pow_impl_parse(const char *name, hearth_pow_impl *out);
/* 1 if this CPU (and this build) can run impl, else 0. */
int hearth_pow_impl_available(hearth_pow_impl impl);
/* What AUTO resolves to: $HEARTH_POW_IMPL if set and runnable, else the
 * fastest available. HEARTH_EINVAL if the variable names something
 * unknown or not runnable here (*out is then the fastest). */
int hearth_pow_impl_auto(hearth_pow_impl *out);

typedef struct hearth_pow_opts {
    unsigned threads;          /* 0: every online CPU */
    hearth_pow_impl impl;      /* HEARTH_POW_AUTO: see above */
    uint64_t max_tries;        /* 0: no limit; counted in whole batches */
    uint32_t time_limit_ms;    /* 0: none; else HEARTH_ETIMEDOUT */
    uint64_t first_batch;      /* start this many batches into the range
                                  (benchmarks; 0 normally) */
    /* Called on the calling thread about every progress_ms (default 250)
     * with the tries so far and the chance that a miner would have found
     * a nonce by now, 1 - exp(-tries / 2^target): the search has no fixed
     * length, so this is the honest "percent done". */
    void (*progress)(void *user, uint64_t tries, double done);
    uint32_t progress_ms;
    /* Polled on the calling thread every 20 ms; nonzero stops the search
     * with HEARTH_ECANCELED. */
    int (*cancelled)(void *user);
    void *user;
} hearth_pow_opts;

void hearth_pow_opts_default(hearth_pow_opts *o);

typedef struct hearth_pow_result {
    uint64_t nonce;            /* the winning nonce when HEARTH_OK */
    int bits;                  /* leading zero bits of its id */
    uint64_t tries;            /* hashes computed, also on failure */
    uint64_t elapsed_us;
    hearth_pow_impl impl;      /* what ran */
    unsigned threads;
} hearth_pow_result;

#define HEARTH_POW_MAX_PAD 63u   /* zeros a nonce may carry before its digits */

/* The layout hearth_pow_job_init chooses for an event whose nonce digits
 * would start at byte digits_at of its serialization, followed by
 * suffix_len bytes (`","<target>"]],<content JSON>]`): the width (the
 * return value) and *pad, a number of '0' characters written before the
 * digits (NIP-13 lets a nonce be any string; a width of at most 19 digits
 * alone seldom reaches the last block). Chosen are the fewest blocks per
 * try, then the four changing digits within one block, then the most
 * rounds done once per batch, then the shortest nonce, among widths that
 * leave at least 2^(target+8) nonces (running out has odds below
 * e^-256), up to 19. pad NULL: no padding considered. *blocks (may be
 * NULL) gets the compressions per try. */
unsigned hearth_pow_choose_width(uint64_t digits_at, size_t suffix_len,
                                 int target, unsigned *pad,
                                 unsigned *blocks);

/* hearth_nip13_job_init with the layout chosen above. The job's width is
 * that of the changing digits; the padding stays in ev's nonce tag, so
 * write the result with hearth_pow_job_apply, not hearth_nip13_job_apply
 * (which refuses a padded tag). */
int hearth_pow_job_init(hearth_event *ev, int target, hearth_nip13_job *job);
/* Write nonce (zeros of the padding, then width digits) into ev's nonce
 * tag and set the id from the full serialization; no signature. */
int hearth_pow_job_apply(hearth_event *ev, const hearth_nip13_job *job,
                         uint64_t nonce);

/* Mine a job (width >= HEARTH_POW_MIN_WIDTH) on the CPU. HEARTH_OK with
 * res->nonce reaching job->target (with one thread the smallest in the
 * order tried; with more, the first any thread found). Else
 * HEARTH_ENOTFOUND (the range or max_tries ran out), HEARTH_ECANCELED,
 * HEARTH_ETIMEDOUT, HEARTH_EINVAL (bad job, or an implementation this CPU
 * cannot run), HEARTH_ENOMEM or HEARTH_EIO (threads could not start).
 * res->tries is filled in every case. */
int hearth_pow_mine(const hearth_nip13_job *job, const hearth_pow_opts *o,
                    hearth_pow_result *res);

/* The whole thing for an event: job, mine, then the nonce tag and the id
 * written into ev (no signature). ev keeps a nonce tag of zeros when the
 * search fails. */
int hearth_pow_mine_event(hearth_event *ev, int target,
                          const hearth_pow_opts *o, hearth_pow_result *res);

/* ---- CUDA: libhearth-cuda.so loaded at run time ---- */
typedef struct hearth_pow_cuda hearth_pow_cuda;

/* Load the library from path; if NULL from $HEARTH_CUDA_LIB; else the
 * installed copy (<prefix>/lib/<multiarch>/hearth, <prefix>/lib/hearth,
 * <prefix>/lib64/hearth, with <prefix> the running binary's directory's
 * parent) and then the build tree next to the running binary (., ..,
 * src/cuda, ../src/cuda). HEARTH_ENOTFOUND when no library loads or it
 * sees no device, HEARTH_EIO when its ABI differs; why (may be NULL) gets
 * one plain sentence either way, e.g. "no CUDA device: libhearth-cuda.so
 * loaded from ... but the driver reports none". */
int hearth_pow_cuda_open(const char *path, hearth_pow_cuda **out, char *why,
                         size_t whylen);
int hearth_pow_cuda_devices(const hearth_pow_cuda *c);
/* Where the library was loaded from. */
const char *hearth_pow_cuda_path(const hearth_pow_cuda *c);
/* Mine on device 0 in ranges sized to about 100 ms each, polling
 * o->cancelled and reporting progress between them. Same results as
 * hearth_pow_mine (o->threads and o->impl are ignored; res->threads is
 * 0). *gpu_ms (may be NULL) gets the milliseconds spent in kernels. */
int hearth_pow_cuda_mine(hearth_pow_cuda *c, const hearth_nip13_job *job,
                         const hearth_pow_opts *o, hearth_pow_result *res,
                         uint64_t *gpu_ms);
void hearth_pow_cuda_close(hearth_pow_cuda *c);

#endif
