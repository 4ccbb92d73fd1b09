#include "hearth/nip13.h"
#include "hearth/buf.h"
#include "hearth/error.h"
#include "../util/arena.h"
#include "../util/sha256_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t pow10_tab[HEARTH_NIP13_MAX_WIDTH + 1] = {
    1ull,
    10ull,
    100ull,
    1000ull,
    10000ull,
    100000ull,
    1000000ull,
    10000000ull,
    100000000ull,
    1000000000ull,
    10000000000ull,
    100000000000ull,
    1000000000000ull,
    10000000000000ull,
    100000000000000ull,
    1000000000000000ull,
    10000000000000000ull,
    100000000000000000ull,
    1000000000000000000ull,
    10000000000000000000ull,
};

int hearth_nip13_leading_zero_bits(const uint8_t id[32])
{
    /* the id is the big-endian words of the final state: count on those
     * with the same routine the miners use */
    uint32_t s[8];
    for (int i = 0; i < 8; i++)
        s[i] = (uint32_t)id[4 * i] << 24 | (uint32_t)id[4 * i + 1] << 16 |
               (uint32_t)id[4 * i + 2] << 8 | (uint32_t)id[4 * i + 3];
    return hearth_sha256_zero_bits(s);
}

int hearth_nip13_difficulty(const hearth_event *ev)
{
    if (!(ev->has & HEARTH_EV_HAS_ID))
        return HEARTH_EINVAL;
    return hearth_nip13_leading_zero_bits(ev->id);
}

static int is_nonce_tag(const hearth_tag *t)
{
    return t->n >= 1 && t->v[0].n == 5 && memcmp(t->v[0].p, "nonce", 5) == 0;
}

int hearth_nip13_committed_target(const hearth_event *ev, int *target)
{
    const hearth_tag *tag = NULL;
    for (size_t i = 0; i < ev->ntags; i++) {
        if (!is_nonce_tag(&ev->tags[i]))
            continue;
        if (tag)
            return HEARTH_EINVAL;
        tag = &ev->tags[i];
    }
    if (!tag)
        return 0;
    if (tag->n < 2)
        return HEARTH_EINVAL;
    if (tag->n < 3)
        return 0;
    hearth_str s = tag->v[2];
    if (s.n < 1 || s.n > 3)
        return HEARTH_EINVAL;
    int x = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return HEARTH_EINVAL;
        x = x * 10 + (s.p[i] - '0');
    }
    if (x > HEARTH_NIP13_MAX_BITS)
        return HEARTH_EINVAL;
    *target = x;
    return 1;
}

int hearth_nip13_check(const hearth_event *ev, int min_difficulty,
                       const char **why)
{
    /* the reasons carry numbers, so they cannot be static strings */
    static _Thread_local char reason[96];
    const char *dummy;
    if (!why)
        why = &dummy;
    if (min_difficulty <= 0)
        return HEARTH_OK;
    int d = hearth_nip13_difficulty(ev);
    if (d < 0) {
        *why = "pow: event has no id";
        return HEARTH_EINVAL;
    }
    if (d < min_difficulty) {
        snprintf(reason, sizeof reason, "pow: difficulty %d is less than %d",
                 d, min_difficulty);
        *why = reason;
        return HEARTH_EINVAL;
    }
    int target;
    int rc = hearth_nip13_committed_target(ev, &target);
    if (rc < 0) {
        *why = "pow: malformed nonce tag";
        return HEARTH_EINVAL;
    }
    /* a lucky hit above a lower aim is still a low-effort event */
    if (rc == 1 && target < min_difficulty) {
        snprintf(reason, sizeof reason,
                 "pow: committed target difficulty %d is less than %d",
                 target, min_difficulty);
        *why = reason;
        return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

static void drop_nonce_tags(hearth_event *ev)
{
    size_t k = 0;
    for (size_t i = 0; i < ev->ntags; i++)
        if (!is_nonce_tag(&ev->tags[i]))
            ev->tags[k++] = ev->tags[i];
    ev->ntags = k;
}

void hearth_nip13_job_free(hearth_nip13_job *job)
{
    free(job->tail);
    job->tail = NULL;
    job->tail_len = 0;
}

int hearth_nip13_job_init(hearth_event *ev, int target, unsigned width,
                          hearth_nip13_job *job)
{
    memset(job, 0, sizeof *job);
    if (target < 0 || target > HEARTH_NIP13_MAX_BITS || width < 1 ||
        width > HEARTH_NIP13_MAX_WIDTH)
        return HEARTH_EINVAL;
    if ((ev->has & (HEARTH_EV_HAS_PUBKEY | HEARTH_EV_HAS_CREATED_AT)) !=
        (HEARTH_EV_HAS_PUBKEY | HEARTH_EV_HAS_CREATED_AT))
        return HEARTH_EINVAL;

    /* Last tag, so that only the closing of the tags and the content
     * follow the digits and the per-try tail stays short. */
    drop_nonce_tags(ev);
    char zeros[HEARTH_NIP13_MAX_WIDTH], tgt[4];
    memset(zeros, '0', width);
    snprintf(tgt, sizeof tgt, "%d", target);
    const char *vals[3] = {"nonce", zeros, tgt};
    size_t lens[3] = {5, width, strlen(tgt)};
    int rc = hearth_event_add_tag(ev, 3, vals, lens);
    if (rc)
        return rc;

    /* The serialization ends with <digits>","<target>"]],<content>]; find
     * the digits from that known suffix rather than from counted offsets,
     * so a change in the serializer shows up here as an error. */
    hearth_buf ser = HEARTH_BUF_INIT, suffix = HEARTH_BUF_INIT;
    hearth_event_serialize(ev, &ser);
    hearth_buf_addf(&suffix, "\",\"%s\"]],", tgt);
    hearth_buf_addjson(&suffix, ev->content.p, ev->content.n);
    hearth_buf_addc(&suffix, ']');
    rc = hearth_buf_error(&ser) ? hearth_buf_error(&ser)
                                : hearth_buf_error(&suffix);
    if (rc == HEARTH_OK &&
        (ser.len < suffix.len + width ||
         memcmp(ser.p + ser.len - suffix.len, suffix.p, suffix.len) != 0 ||
         memcmp(ser.p + ser.len - suffix.len - width, zeros, width) != 0))
        rc = HEARTH_EINVAL;
    if (rc) {
        hearth_buf_free(&ser);
        hearth_buf_free(&suffix);
        return rc;
    }
    size_t off = ser.len - suffix.len - width;
    size_t cut = off & ~(size_t)63; /* start of the block with the digits */
    hearth_sha256_midstate(job->mid, (const uint8_t *)ser.p, cut / 64);
    job->prefix_len = cut;
    job->tail_len = ser.len - cut;
    memmove(ser.p, ser.p + cut, job->tail_len);
    job->tail = (uint8_t *)ser.p; /* the job takes over the buffer */
    job->nonce_off = off - cut;
    job->width = width;
    job->target = target;
    hearth_buf_free(&suffix);
    return HEARTH_OK;
}

int hearth_nip13_job_try(const hearth_nip13_job *job, uint64_t nonce,
                         uint8_t id[32])
{
    if (job->width < 1 || job->width > HEARTH_NIP13_MAX_WIDTH ||
        nonce >= pow10_tab[job->width])
        return HEARTH_EINVAL;
    uint32_t s[8];
    int bits = hearth_pow_try(job->mid, job->prefix_len, job->tail,
                              job->tail_len, job->nonce_off, job->width,
                              nonce, s);
    if (id)
        hearth_sha256_digest(s, id);
    return bits;
}

int hearth_nip13_job_apply(hearth_event *ev, const hearth_nip13_job *job,
                           uint64_t nonce)
{
    if (job->width < 1 || job->width > HEARTH_NIP13_MAX_WIDTH ||
        nonce >= pow10_tab[job->width] || ev->ntags == 0)
        return HEARTH_EINVAL;
    hearth_tag *t = &ev->tags[ev->ntags - 1];
    if (!is_nonce_tag(t) || t->n != 3 || t->v[1].n != job->width)
        return HEARTH_EINVAL; /* not the event the job was made from */
    uint8_t digits[HEARTH_NIP13_MAX_WIDTH];
    hearth_pow_decimal(nonce, job->width, digits);
    char *p = hearth_arena_strdup(&ev->arena, (const char *)digits,
                                  job->width, 0);
    if (!p)
        return HEARTH_ENOMEM;
    t->v[1].p = p;
    /* the id comes from the full serializer, not from the job, so a wrong
     * layout cannot produce an event whose id does not verify */
    int rc = hearth_event_compute_id(ev, ev->id);
    if (rc)
        return rc;
    ev->has = (ev->has | HEARTH_EV_HAS_ID) & ~(unsigned)HEARTH_EV_HAS_SIG;
    return HEARTH_OK;
}

int hearth_nip13_mine(hearth_event *ev, int target, uint64_t max_tries,
                      uint64_t *tries_out)
{
    uint64_t tries = 0;
    int rc = HEARTH_ENOTFOUND;
    if (tries_out)
        *tries_out = 0;
    if (target < 0 || target > HEARTH_NIP13_MAX_BITS)
        return HEARTH_EINVAL;
    /* One job per digit count; nonces without leading zeros, so the tag
     * reads like any other miner's. */
    for (unsigned width = 1; width <= HEARTH_NIP13_MAX_WIDTH; width++) {
        uint64_t n = width == 1 ? 0 : pow10_tab[width - 1];
        uint64_t end = pow10_tab[width];
        if (max_tries && end - n > max_tries - tries)
            end = n + (max_tries - tries);
        hearth_nip13_job job;
        rc = hearth_nip13_job_init(ev, target, width, &job);
        if (rc)
            break;
        int found = 0;
        for (; n < end; n++) {
            tries++;
            if (hearth_nip13_job_try(&job, n, NULL) >= target) {
                found = 1;
                break;
            }
        }
        if (found || (max_tries && tries == max_tries) ||
            width == HEARTH_NIP13_MAX_WIDTH) {
            rc = hearth_nip13_job_apply(ev, &job, found ? n : n - 1);
            if (rc == HEARTH_OK && !found)
                rc = HEARTH_ENOTFOUND;
            hearth_nip13_job_free(&job);
            break;
        }
        hearth_nip13_job_free(&job);
    }
    if (tries_out)
        *tries_out = tries;
    return rc;
}
