/* NIP-13 proof of work: an event's difficulty is the number of leading zero
 * bits of its id, and a ["nonce", "<n>", "<target>"] tag both varies the
 * id while mining and commits to the difficulty the author aimed for.
 *
 * Mining here is split so that faster miners reuse it: a job
 * (hearth_nip13_job_init) is the event's NIP-01 serialization with the
 * nonce tag moved last, cut at the 64-byte block that holds the nonce
 * digits. The blocks before it are hashed once into a SHA-256 midstate;
 * a try rehashes only the tail with the nonce digits overlaid, using the
 * shared core in src/util/sha256_core.h. hearth_nip13_mine is the simple
 * single-threaded CPU loop over such jobs.
 *
 * The CUDA miner lives in libhearth-cuda.so (src/cuda/pow.cu, built when
 * the cuda option is enabled and nvcc is found, installed in
 * <libdir>/hearth). hearth never links against it: the compute layer will
 * dlopen it at run time, so one binary runs with or without a GPU. The
 * symbols it exports are described by the hearth_cuda_pow_* types below. */
#ifndef HEARTH_NIP13_H
#define HEARTH_NIP13_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/event.h"

#define HEARTH_NIP13_MAX_BITS 256  /* an id has 256 bits */
#define HEARTH_NIP13_MAX_WIDTH 19  /* nonce digits a job can hold */

/* Leading zero bits of a 32-byte id, 0..256. */
int hearth_nip13_leading_zero_bits(const uint8_t id[32]);

/* Difficulty of an event: leading zero bits of its id as stored (this does
 * not recompute the id; verify the event first). HEARTH_EINVAL if the
 * event has no id. */
int hearth_nip13_difficulty(const hearth_event *ev);

/* The target committed in the nonce tag's third value: 1 and *target set
 * (0..256) if there is one, 0 if there is no nonce tag or it has no third
 * value, HEARTH_EINVAL if the tag is malformed: no nonce value, a target
 * that is not 1-3 decimal digits up to 256, or more than one nonce tag
 * (which commitment counts would be ambiguous). */
int hearth_nip13_committed_target(const hearth_event *ev, int *target);

/* Relay-side check against a required difficulty (min_difficulty <= 0
 * accepts everything). Rejects with HEARTH_EINVAL when the id has fewer
 * leading zero bits than required, when the nonce tag is malformed, and,
 * as NIP-13 advises, when the committed target is below the requirement
 * even if the id happens to have enough bits. An event without a
 * commitment is judged by its id alone. Does not verify the id against
 * the content: call hearth_event_verify first.
 * *why gets a reason with the "pow: " prefix, e.g. "pow: difficulty 12 is
 * less than 20"; it points to thread-local storage that stays valid until
 * the next hearth_nip13_check in the same thread. */
int hearth_nip13_check(const hearth_event *ev, int min_difficulty,
                       const char **why);

/* Single-threaded CPU miner: replaces any nonce tags with one
 * ["nonce", "<n>", "<target>"] at the end of the tags and tries n = 0, 1,
 * 2, ... until the id has at least target leading zero bits. The event
 * needs its pubkey and created_at set (the id covers them); created_at is
 * left alone. On success the event has the nonce tag, the matching id and
 * no signature: sign it afterwards with the key of that pubkey (signing
 * recomputes the id, which stays the same only if the pubkey does).
 * max_tries 0 means no limit. *tries_out (may be NULL) gets
 * the number of hashes computed. HEARTH_ENOTFOUND if max_tries ran out;
 * the event then carries the last nonce tried and its id. */
int hearth_nip13_mine(hearth_event *ev, int target, uint64_t max_tries,
                      uint64_t *tries_out);

/* One mining layout: see the top of this file. */
typedef struct hearth_nip13_job {
    uint32_t mid[8];      /* SHA-256 state after the first prefix_len bytes */
    uint64_t prefix_len;  /* a multiple of 64 */
    uint8_t *tail;        /* the serialization after the prefix (owned) */
    size_t tail_len;
    size_t nonce_off;     /* where the nonce digits start in tail */
    unsigned width;       /* number of nonce digits, 1..19 */
    int target;           /* committed target, 0..256 */
} hearth_nip13_job;

/* Rewrites ev's nonce tags as one ["nonce", "<width zeros>", "<target>"]
 * at the end and builds the job for it. ev must not change until the
 * matching hearth_nip13_job_apply. */
int hearth_nip13_job_init(hearth_event *ev, int target, unsigned width,
                          hearth_nip13_job *job);
/* Leading zero bits of the id the event would have with this nonce (any
 * nonce < 10^width, written zero-padded); id may be NULL.
 * HEARTH_EINVAL if the nonce does not fit the width. */
int hearth_nip13_job_try(const hearth_nip13_job *job, uint64_t nonce,
                         uint8_t id[32]);
/* Write the nonce into ev's nonce tag and set the id. */
int hearth_nip13_job_apply(hearth_event *ev, const hearth_nip13_job *job,
                           uint64_t nonce);
void hearth_nip13_job_free(hearth_nip13_job *job);

/* libhearth-cuda.so exports, looked up with dlsym under these names:
 *  "hearth_cuda_pow_abi": returns HEARTH_CUDA_POW_ABI; refuse the library
 *      if it differs (the job struct or the calls changed).
 *  "hearth_cuda_pow_devices": number of usable CUDA devices, 0 when there
 *      is no GPU or driver.
 *  "hearth_cuda_pow_search": try nonces start .. start+count-1 of the job
 *      (they must stay below 10^width) on the device; returns 1 with the
 *      smallest nonce that reaches job->target in *nonce, 0 if none does,
 *      HEARTH_EINVAL for a bad job or range, HEARTH_ENOTFOUND without a
 *      usable device, HEARTH_EIO for other CUDA errors. The call blocks
 *      until the range is done, so keep count to what the GPU covers in a
 *      fraction of a second. */
#define HEARTH_CUDA_POW_ABI 1
typedef int (*hearth_cuda_pow_abi_fn)(void);
typedef int (*hearth_cuda_pow_devices_fn)(void);
typedef int (*hearth_cuda_pow_search_fn)(int device,
                                         const hearth_nip13_job *job,
                                         uint64_t start, uint64_t count,
                                         uint64_t *nonce);

#endif
