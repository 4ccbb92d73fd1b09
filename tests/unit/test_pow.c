/* The fast NIP-13 miner (hearth/pow.h): the split compression of the
 * shared core, the shared scan loop (the CUDA kernel's too), each SIMD /
 * SHA-NI kernel against the reference on random events whose nonce lands
 * at every offset of a block with tails of 1-3 blocks, the threaded miner,
 * cancellation and limits, width choice and the CUDA loader. Kernels this
 * CPU cannot run are skipped with a note. */
#include "compute/pow_internal.h"
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/nip13.h"
#include "hearth/pow.h"
#include "util/sha256_core.h"
#include "tap.h"

#include <math.h>
#include <sodium.h>
#include <stdint.h>

static uint32_t rnd(uint32_t n)
{
    return randombytes_uniform(n);
}

/* An event with a random pubkey, 0-3 random tags and content of len
 * characters, some of which JSON escapes. */
static hearth_event *random_event(size_t len)
{
    static const char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 .,:\"\\\n\t";
    char *content = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        content[i] = alphabet[rnd(sizeof alphabet - 1)];
    hearth_event *ev = NULL;
    CHECK(hearth_event_new(1 + rnd(40000), 1600000000 + rnd(100000000),
                           content, len, &ev) == HEARTH_OK);
    free(content);
    if (!ev)
        return NULL;
    randombytes_buf(ev->pubkey, 32);
    ev->has |= HEARTH_EV_HAS_PUBKEY;
    unsigned ntags = rnd(4);
    for (unsigned t = 0; t < ntags; t++) {
        char v[40];
        size_t n = rnd(sizeof v);
        for (size_t i = 0; i < n; i++)
            v[i] = alphabet[rnd(36)];
        const char *vals[2] = {t & 1 ? "t" : "p", v};
        size_t lens[2] = {1, n};
        CHECK(hearth_event_add_tag(ev, 2, vals, lens) == HEARTH_OK);
    }
    return ev;
}

/* The id of the job's event with this nonce, hashed with libsodium from a
 * full serialization: the independent reference. */
static void sodium_id(const hearth_nip13_job *job, const uint8_t *prefix,
                      uint64_t nonce, uint8_t id[32])
{
    size_t len = job->prefix_len + job->tail_len;
    uint8_t *m = malloc(len);
    memcpy(m, prefix, job->prefix_len);
    memcpy(m + job->prefix_len, job->tail, job->tail_len);
    hearth_pow_decimal(nonce, job->width, m + job->prefix_len + job->nonce_off);
    crypto_hash_sha256(id, m, len);
    free(m);
}

static void test_split_compression(void)
{
    int bad = 0;
    for (int round = 0; round < 200; round++) {
        uint32_t s[8], w[16];
        randombytes_buf(s, sizeof s);
        randombytes_buf(w, sizeof w);
        uint32_t want[8], wc[16];
        memcpy(want, s, sizeof s);
        memcpy(wc, w, sizeof w);
        hearth_sha256_compress_words(want, wc);
        for (unsigned r = 0; r <= 16; r++) {
            uint32_t st[8], got[8];
            memcpy(got, s, sizeof s);
            memcpy(wc, w, sizeof w);
            hearth_sha256_rounds_head(s, wc, r, st);
            hearth_sha256_compress_from(got, st, r, wc);
            bad += memcmp(got, want, sizeof got) != 0;
        }
    }
    CHECKF(bad == 0, "%d split compressions differ", bad);
}

/* Random jobs at every width 6..19 and content lengths 0..199, so the
 * nonce digits land at every offset of a block and the tail after them
 * runs over 1, 2 and 3 blocks. */
typedef struct case_ {
    hearth_event *ev;
    hearth_nip13_job job;
    uint8_t *prefix;   /* the serialization before the job's tail */
} case_;

static int make_case(case_ *c, size_t len, int target, unsigned width)
{
    memset(c, 0, sizeof *c);
    c->ev = random_event(len);
    if (!c->ev)
        return 0;
    int rc = width ? hearth_nip13_job_init(c->ev, target, width, &c->job)
                   : hearth_pow_job_init(c->ev, target, &c->job);
    CHECK(rc == HEARTH_OK);
    if (rc)
        return 0;
    hearth_buf ser = HEARTH_BUF_INIT;
    CHECK(hearth_event_serialize(c->ev, &ser) == HEARTH_OK);
    c->prefix = (uint8_t *)ser.p;
    return 1;
}

static void free_case(case_ *c)
{
    hearth_nip13_job_free(&c->job);
    hearth_event_free(c->ev);
    free(c->prefix);
}

static void test_job_try_vs_sodium(void)
{
    int bad = 0, cases = 0;
    unsigned tails[4] = {0};
    for (size_t len = 0; len < 200; len += 1 + rnd(3)) {
        case_ c;
        if (!make_case(&c, len, 8, 6 + rnd(14)))
            continue;
        size_t blocks = (c.job.tail_len + 9 + 63) / 64;
        tails[blocks < 4 ? blocks : 3]++;
        for (int i = 0; i < 4; i++) {
            uint64_t lo = 1;
            for (unsigned k = 1; k < c.job.width; k++)
                lo *= 10;
            uint64_t n = lo + rnd((uint32_t)(lo < 1000000 ? lo : 1000000));
            uint8_t a[32], b[32];
            hearth_nip13_job_try(&c.job, n, a);
            sodium_id(&c.job, c.prefix, n, b);
            bad += memcmp(a, b, 32) != 0;
            cases++;
        }
        free_case(&c);
    }
    CHECKF(bad == 0, "%d of %d ids differ from libsodium", bad, cases);
    CHECKF(tails[1] && tails[2] && tails[3], "tails of 1/2/3 blocks: %u %u %u",
           tails[1], tails[2], tails[3]);
}

/* hearth_pow_scan, the scalar miner and the CUDA kernel's loop, finds the
 * first nonce a plain loop over hearth_nip13_job_try finds. */
static void test_scan(void)
{
    int bad = 0, cases = 0;
    for (size_t len = 0; len < 200; len += 1 + rnd(5)) {
        case_ c;
        if (!make_case(&c, len, 6, 6 + rnd(14)))
            continue;
        uint64_t first = 100000 + rnd(800000);
        uint64_t want = 0, n;
        for (n = first;; n++)
            if (hearth_nip13_job_try(&c.job, n, NULL) >= 6) {
                want = n;
                break;
            }
        for (unsigned low = 1; low <= 4; low++) {
            uint64_t got = 0, tries = 0;
            int hit = hearth_pow_scan(c.job.mid, c.job.prefix_len, c.job.tail,
                                      c.job.tail_len, c.job.nonce_off,
                                      c.job.width, low, 6, first, 5000, &got,
                                      &tries);
            cases++;
            int ok = want - first < 5000 ? hit && got == want &&
                                               tries == want - first + 1
                                         : !hit && tries == 5000;
            if (!ok)
                fprintf(stderr, "scan len %zu width %u low %u: want %llu "
                                "got %d %llu\n",
                        len, c.job.width, low, (unsigned long long)want, hit,
                        (unsigned long long)got);
            bad += !ok;
        }
        free_case(&c);
    }
    CHECKF(bad == 0, "%d of %d scans wrong", bad, cases);
}

/* Each kernel flags exactly the groups of lanes the reference does, with
 * masks of 1..4 bits so that flags are common and a wrong hash shows. */
static void test_kernels(void)
{
    static const hearth_pow_impl impls[] = {HEARTH_POW_AVX2,
                                            HEARTH_POW_AVX512,
                                            HEARTH_POW_SHANI};
    for (size_t k = 0; k < sizeof impls / sizeof impls[0]; k++) {
        hearth_pow_impl impl = impls[k];
        if (!hearth_pow_impl_available(impl)) {
            printf("# skip %s: this CPU cannot run it\n",
                   hearth_pow_impl_name(impl));
            continue;
        }
        int bad = 0, jobs = 0, straddles = 0;
        unsigned offsets[64] = {0}, seen = 0, tails[4] = {0};
        /* until the low digits have started at each of the 61 offsets
         * that keep them in one block */
        for (unsigned attempt = 0; attempt < 1500 && seen < 61; attempt++) {
            size_t len = attempt % 200;
            case_ c;
            int target = 1 + (int)rnd(4);
            if (!make_case(&c, len, target, 6 + rnd(14)))
                continue;
            uint64_t lo = 1;
            for (unsigned i = 1; i < c.job.width; i++)
                lo *= 10;
            uint64_t nb = 9 * lo / HEARTH_POW_BATCH; /* batches */
            uint64_t base = (lo / HEARTH_POW_BATCH +
                             rnd((uint32_t)(nb < 1000 ? nb : 1000))) *
                            HEARTH_POW_BATCH;
            uint8_t cand[HEARTH_POW_BATCH];
            unsigned lanes = 0;
            int rc = hearth_pow_test_groups(&c.job, impl, base, cand, &lanes);
            if (rc == HEARTH_ENOTFOUND) {
                straddles++;
                free_case(&c);
                continue;
            }
            CHECK(rc == HEARTH_OK);
            jobs++;
            size_t q = c.job.nonce_off + c.job.width - 4;
            seen += offsets[q % 64]++ == 0;
            size_t left = ((c.job.tail_len + 9 + 63) / 64) - q / 64;
            tails[left < 4 ? left : 3]++;
            uint32_t mask = ~(0xffffffffu >> target);
            /* every group of the first jobs, then every 7th: each digit
             * offset is still checked against the reference, at a cost
             * sanitizer builds can afford */
            unsigned step = jobs <= 8 ? 1 : 7;
            for (unsigned g = 0; g < HEARTH_POW_BATCH / lanes; g += step) {
                int want = 0;
                for (unsigned i = 0; i < lanes; i++) {
                    uint8_t id[32];
                    hearth_nip13_job_try(&c.job, base + g * lanes + i, id);
                    uint32_t h0 = (uint32_t)id[0] << 24 |
                                  (uint32_t)id[1] << 16 |
                                  (uint32_t)id[2] << 8 | id[3];
                    want |= (h0 & mask) == 0;
                }
                bad += want != cand[g];
            }
            free_case(&c);
        }
        CHECKF(bad == 0, "%s: %d groups flagged wrongly over %d jobs",
               hearth_pow_impl_name(impl), bad, jobs);
        CHECKF(seen == 61 && tails[1] && tails[2] && tails[3],
               "%s: %u offsets; tails of 1/2/3 blocks from the digits: "
               "%u %u %u",
               hearth_pow_impl_name(impl), seen, tails[1], tails[2],
               tails[3]);
        printf("# %s: %d jobs, %u digit offsets, tails of 1/2/3+ blocks "
               "%u/%u/%u, %d skipped (digits across blocks)\n",
               hearth_pow_impl_name(impl), jobs, seen, tails[1], tails[2],
               tails[3], straddles);
    }
}

/* With one thread every implementation finds the first winner in order,
 * after exactly as many tries as a plain loop. */
static void test_mine_single(void)
{
    for (int impl = HEARTH_POW_SCALAR; impl < HEARTH_POW_NIMPL; impl++) {
        if (!hearth_pow_impl_available((hearth_pow_impl)impl))
            continue;
        int bad = 0;
        for (int round = 0; round < 12; round++) {
            case_ c;
            if (!make_case(&c, rnd(180), 10, 0))
                continue;
            uint64_t n = 1;
            for (unsigned i = 1; i < c.job.width; i++)
                n *= 10;
            uint64_t first = n;
            while (hearth_nip13_job_try(&c.job, n, NULL) < 10)
                n++;
            hearth_pow_opts o;
            hearth_pow_opts_default(&o);
            o.threads = 1;
            o.impl = (hearth_pow_impl)impl;
            hearth_pow_result r;
            int rc = hearth_pow_mine(&c.job, &o, &r);
            /* SIMD kernels count whole groups before the winner's */
            int ok = rc == HEARTH_OK && r.nonce == n && r.bits >= 10 &&
                     r.tries == n - first + 1 && r.threads == 1;
            if (!ok)
                fprintf(stderr, "%s: rc %d nonce %llu want %llu tries %llu\n",
                        hearth_pow_impl_name((hearth_pow_impl)impl), rc,
                        (unsigned long long)r.nonce, (unsigned long long)n,
                        (unsigned long long)r.tries);
            bad += !ok;
            free_case(&c);
        }
        CHECKF(bad == 0, "%s: %d wrong",
               hearth_pow_impl_name((hearth_pow_impl)impl), bad);
    }
}

static void test_mine_event(void)
{
    for (int round = 0; round < 6; round++) {
        hearth_event *ev = random_event(rnd(150));
        if (!ev)
            continue;
        hearth_pow_opts o;
        hearth_pow_opts_default(&o);
        o.threads = 1 + (unsigned)round % 3;
        hearth_pow_result r;
        int target = 12 + round % 3;
        CHECK(hearth_pow_mine_event(ev, target, &o, &r) == HEARTH_OK);
        uint8_t id[32];
        CHECK(hearth_event_compute_id(ev, id) == HEARTH_OK);
        CHECK(memcmp(id, ev->id, 32) == 0);
        CHECK(hearth_nip13_difficulty(ev) >= target);
        CHECK(hearth_nip13_difficulty(ev) == r.bits);
        int committed = -1;
        CHECK(hearth_nip13_committed_target(ev, &committed) == 1 &&
              committed == target);
        const char *why = NULL;
        CHECK(hearth_nip13_check(ev, target, &why) == HEARTH_OK);
        CHECK(r.tries >= 1);
        hearth_event_free(ev);
    }
}

static int cancel_after(void *user)
{
    int *calls = user;
    return ++*calls >= 3;
}

static void test_stops(void)
{
    hearth_event *ev = random_event(20);
    if (!ev)
        return;
    hearth_nip13_job job;
    CHECK(hearth_pow_job_init(ev, 200, &job) == HEARTH_OK);
    hearth_pow_opts o;
    hearth_pow_result r;
    int calls = 0;
    hearth_pow_opts_default(&o);
    o.cancelled = cancel_after;
    o.user = &calls;
    CHECK(hearth_pow_mine(&job, &o, &r) == HEARTH_ECANCELED);
    CHECK(calls == 3 && r.tries > 0);

    hearth_pow_opts_default(&o);
    o.time_limit_ms = 50;
    CHECK(hearth_pow_mine(&job, &o, &r) == HEARTH_ETIMEDOUT);
    CHECK(r.tries > 0);

    hearth_pow_opts_default(&o);
    o.max_tries = 25000; /* three batches */
    o.threads = 2;
    CHECK(hearth_pow_mine(&job, &o, &r) == HEARTH_ENOTFOUND);
    CHECK(r.tries == 3 * HEARTH_POW_BATCH);

    /* an implementation the CPU lacks is refused, not emulated */
    for (int impl = HEARTH_POW_SCALAR; impl < HEARTH_POW_NIMPL; impl++)
        if (!hearth_pow_impl_available((hearth_pow_impl)impl)) {
            hearth_pow_opts_default(&o);
            o.impl = (hearth_pow_impl)impl;
            CHECK(hearth_pow_mine(&job, &o, &r) == HEARTH_EINVAL);
        }
    hearth_nip13_job_free(&job);

    /* widths below 6 are not this miner's */
    CHECK(hearth_nip13_job_init(ev, 4, 5, &job) == HEARTH_OK);
    CHECK(hearth_pow_mine(&job, NULL, &r) == HEARTH_EINVAL);
    hearth_nip13_job_free(&job);
    hearth_event_free(ev);
}

/* Compressions per try of width w for digits at `at` followed by suffix
 * bytes; 99 when the four low digits cross a block. */
static unsigned cost(uint64_t at, size_t suffix, unsigned w)
{
    uint64_t q = at + w - 4;
    if (q / 64 != (q + 3) / 64)
        return 99;
    return (unsigned)((at + w + suffix + 8) / 64 - q / 64 + 1);
}

static void test_width(void)
{
    /* the choice is the cheapest layout that leaves enough nonces, by
     * brute force over every digit offset in a block */
    int bad = 0, one_block = 0, cases = 0, fits = 0;
    for (uint64_t at = 100; at < 164; at++)
        for (size_t suffix = 12; suffix < 200; suffix += 1 + rnd(7))
            for (int target = 4; target <= 40; target += 12) {
                unsigned blocks, w, pad;
                w = hearth_pow_choose_width(at, suffix, target, &pad, &blocks);
                unsigned best = 99;
                for (unsigned z = 0; z <= HEARTH_POW_MAX_PAD; z++)
                    for (unsigned x = 6; x <= 19; x++)
                        if (9.0 * pow(10.0, x - 1.0) >=
                                ldexp(1.0, target + 8) &&
                            cost(at + z, suffix, x) < best)
                            best = cost(at + z, suffix, x);
                bad += cost(at + pad, suffix, w) != best || blocks != best ||
                       9.0 * pow(10.0, w - 1.0) < ldexp(1.0, target + 8);
                one_block += blocks == 1;
                /* four digits and the padding fit behind the suffix: the
                 * try must be one block */
                if (suffix + 9 + 4 <= 64) {
                    fits++;
                    bad += blocks != 1;
                }
                cases++;
            }
    CHECKF(bad == 0, "%d of %d layouts not the cheapest", bad, cases);
    CHECK(one_block > 0 && fits > 0);
    /* without padding */
    unsigned blocks;
    CHECK(hearth_pow_choose_width(10, 12, 50, NULL, NULL) >= 17);
    hearth_pow_choose_width(10, 300, 8, NULL, &blocks);
    CHECK(blocks == 6);
    /* short notes: the job has its changing digits in its final block,
     * and mining it gives an event whose id verifies */
    for (size_t len = 0; len < 40; len++) {
        hearth_event *ev = random_event(len);
        hearth_nip13_job job;
        if (!ev || hearth_pow_job_init(ev, 16, &job) != HEARTH_OK) {
            CHECK(0);
            hearth_event_free(ev);
            continue;
        }
        size_t q = job.nonce_off + job.width - 4;
        size_t padded = (job.tail_len + 9 + 63) & ~(size_t)63;
        size_t suffix = job.tail_len - job.nonce_off - job.width;
        if (suffix + 9 + 4 <= 64)
            CHECKF(q >= padded - 64 && q + 4 <= padded,
                   "len %zu: low digits at %zu of %zu", len, q, padded);
        hearth_pow_opts o;
        hearth_pow_opts_default(&o);
        o.threads = 1;
        hearth_pow_result r;
        CHECK(hearth_pow_mine(&job, &o, &r) == HEARTH_OK);
        CHECK(hearth_pow_job_apply(ev, &job, r.nonce) == HEARTH_OK);
        uint8_t id[32];
        CHECK(hearth_event_compute_id(ev, id) == HEARTH_OK &&
              !memcmp(id, ev->id, 32));
        CHECK(hearth_nip13_difficulty(ev) >= 16);
        hearth_nip13_job_free(&job);
        hearth_event_free(ev);
    }
}

static void test_impl_names(void)
{
    hearth_pow_impl i;
    CHECK(hearth_pow_impl_parse("avx2", &i) == HEARTH_OK &&
          i == HEARTH_POW_AVX2);
    CHECK(hearth_pow_impl_parse("sse9", &i) == HEARTH_EINVAL);
    CHECK(!strcmp(hearth_pow_impl_name(HEARTH_POW_SHANI), "shani"));
    CHECK(hearth_pow_impl_available(HEARTH_POW_SCALAR));
    setenv("HEARTH_POW_IMPL", "scalar", 1);
    CHECK(hearth_pow_impl_auto(&i) == HEARTH_OK && i == HEARTH_POW_SCALAR);
    setenv("HEARTH_POW_IMPL", "nonsense", 1);
    CHECK(hearth_pow_impl_auto(&i) == HEARTH_EINVAL);
    unsetenv("HEARTH_POW_IMPL");
    CHECK(hearth_pow_impl_auto(&i) == HEARTH_OK &&
          hearth_pow_impl_available(i));
    printf("# fastest here: %s\n", hearth_pow_impl_name(i));
}

static void test_cuda_loader(void)
{
    hearth_pow_cuda *c = NULL;
    char why[200];
    CHECK(hearth_pow_cuda_open("/nonexistent/libhearth-cuda.so", &c, why,
                               sizeof why) == HEARTH_ENOTFOUND);
    CHECK(c == NULL && strstr(why, "/nonexistent/libhearth-cuda.so"));
    /* a library that is not ours */
    int rc = hearth_pow_cuda_open("libm.so.6", &c, why, sizeof why);
    CHECK(rc == HEARTH_EIO && c == NULL);
    /* the built one when nvcc was found: loads, and without a GPU says so */
    rc = hearth_pow_cuda_open(NULL, &c, why, sizeof why);
    CHECK(rc == HEARTH_OK || rc == HEARTH_ENOTFOUND);
    if (rc == HEARTH_OK) {
        CHECK(hearth_pow_cuda_devices(c) > 0);
        hearth_event *ev = random_event(40);
        hearth_nip13_job job;
        CHECK(ev && hearth_pow_job_init(ev, 16, &job) == HEARTH_OK);
        hearth_pow_result r;
        uint64_t ms;
        CHECK(hearth_pow_cuda_mine(c, &job, NULL, &r, &ms) == HEARTH_OK);
        CHECK(hearth_nip13_job_try(&job, r.nonce, NULL) >= 16);
        hearth_nip13_job_free(&job);
        hearth_event_free(ev);
        hearth_pow_cuda_close(c);
    } else {
        CHECK(why[0] != 0);
        printf("# cuda: %s\n", why);
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_split_compression();
    test_job_try_vs_sodium();
    test_scan();
    test_kernels();
    test_mine_single();
    test_mine_event();
    test_stops();
    test_width();
    test_impl_names();
    test_cuda_loader();
    return tap_done();
}
