/* Job table: every field through a round trip and a reopen, the insert
 * duplicate check, blobs, the whole transition matrix, listing order and
 * filters against an oracle, hex-prefix lookup, map growth, kill -9 in
 * the middle of a stream of puts, and writers on several threads. */
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/jobdb.h"
#include "tap.h"
#include "tmpdir.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- fixtures ---- */

static hearth_jobdb *open_db(const char *dir)
{
    hearth_jobdb *db = NULL;
    int rc = hearth_jobdb_open(dir, &db);
    CHECKF(rc == HEARTH_OK && db, "open %s: %s", dir, hearth_strerror(rc));
    if (!db)
        exit(1);
    return db;
}

static void rm_dir(char *dir)
{
    CHECKF(tap_rmtree(dir) == 0, "rmdir %s", dir);
    free(dir);
}

/* distinct ids from a number: a spread first byte, the number last */
static void mk_id(uint32_t n, uint8_t id[32])
{
    memset(id, 0, 32);
    id[0] = (uint8_t)(n * 37u + 11u);
    id[1] = (uint8_t)(n >> 16);
    for (int i = 0; i < 4; i++)
        id[28 + i] = (uint8_t)(n >> (24 - 8 * i));
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7u);
}

/* every field set, and different for different n */
static hearth_job_rec mk_rec(uint32_t n, int role, int state)
{
    hearth_job_rec r;
    memset(&r, 0, sizeof r);
    mk_id(n, r.id);
    r.role = (uint8_t)role;
    r.state = (uint8_t)state;
    r.attempts = (uint16_t)(n + 3);
    r.kind = 5000u + n;
    fill(r.customer, 32, (uint8_t)(n + 1));
    fill(r.provider, 32, (uint8_t)(n + 2));
    fill(r.upstream, 32, (uint8_t)(n + 3));
    fill(r.result_id, 32, (uint8_t)(n + 4));
    fill(r.input_hash, 32, (uint8_t)(n + 5));
    fill(r.output_hash, 32, (uint8_t)(n + 6));
    r.created_at = 1700000000 + (int64_t)n;
    r.updated_at = -1 - (int64_t)n;
    r.deadline = INT64_MAX - n;
    r.amount_msat = UINT64_MAX - n;
    r.usage.jobs = 1 + n;
    r.usage.tokens_in = 0x0102030405060708ull + n;
    r.usage.tokens_out = 0x8070605040302010ull + n;
    r.usage.gpu_ms = 123456789ull * (n + 1);
    r.usage.hashes = 1ull << (n % 64);
    snprintf(r.reason, sizeof r.reason, "reason %u", n);
    fill(r.payment_hash, 32, (uint8_t)(n + 7));
    r.paid_msat = 1000 + n;
    r.settle = (uint8_t)(n % 2 ? HEARTH_SETTLE_INVOICED : 0);
    return r;
}

static int rec_eq(const hearth_job_rec *a, const hearth_job_rec *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

static void blob_text(uint32_t n, char *out, size_t cap)
{
    snprintf(out, cap, "{\"id\":\"%u\",\"content\":\"%0*u\"}", n,
             (int)(n % 200), n);
}

static int blob_is(hearth_jobdb *db, const uint8_t id[32], const char *want)
{
    hearth_buf b = HEARTH_BUF_INIT;
    int rc = hearth_jobdb_blob(db, id, &b);
    int ok = rc == HEARTH_OK && b.len == strlen(want) &&
             !memcmp(b.p, want, b.len);
    hearth_buf_free(&b);
    return ok;
}

/* ---- tests ---- */

static void test_names(void)
{
    CHECK(!strcmp(hearth_job_state_name(HEARTH_JOB_QUOTED), "quoted"));
    CHECK(!strcmp(hearth_job_state_name(HEARTH_JOB_RESULT), "result"));
    CHECK(!strcmp(hearth_job_state_name(HEARTH_JOB_CANCELLED), "cancelled"));
    CHECK(!strcmp(hearth_job_state_name(0), "unknown"));
    CHECK(!strcmp(hearth_job_state_name(8), "unknown"));
    for (int s = HEARTH_JOB_QUOTED; s <= HEARTH_JOB_CANCELLED; s++)
        CHECK(hearth_job_state_final(s) == (s >= HEARTH_JOB_DONE));
    CHECK(!hearth_job_state_final(0));
}

static void test_round_trip(const char *dir)
{
    hearth_jobdb *db = open_db(dir);
    hearth_job_rec r = mk_rec(1, HEARTH_JOB_ROUTER, HEARTH_JOB_RUNNING), got;
    memset(r.reason, 'x', HEARTH_JOB_REASON_MAX - 1); /* longest reason */
    r.created_at = -5;
    CHECK(hearth_jobdb_insert(db, &r, "{\"a\":1}", 7, NULL) == HEARTH_OK);
    memset(&got, 0xee, sizeof got);
    CHECK(hearth_jobdb_get(db, r.id, &got) == HEARTH_OK);
    CHECK(rec_eq(&r, &got));
    CHECK(blob_is(db, r.id, "{\"a\":1}"));

    hearth_job_rec z;   /* all-zero fields come back as zero */
    memset(&z, 0, sizeof z);
    mk_id(2, z.id);
    z.role = HEARTH_JOB_PROVIDER;
    z.state = HEARTH_JOB_QUOTED;
    CHECK(hearth_jobdb_insert(db, &z, NULL, 0, NULL) == HEARTH_OK);
    memset(&got, 0xee, sizeof got);
    CHECK(hearth_jobdb_get(db, z.id, &got) == HEARTH_OK);
    CHECK(rec_eq(&z, &got));
    hearth_buf b = HEARTH_BUF_INIT;
    CHECK(hearth_jobdb_blob(db, z.id, &b) == HEARTH_ENOTFOUND);
    hearth_buf_free(&b);

    uint8_t none[32] = {0};
    CHECK(hearth_jobdb_get(db, none, &got) == HEARTH_ENOTFOUND);
    hearth_jobdb_close(db);
}

static void test_duplicate(const char *dir)
{
    hearth_jobdb *db = open_db(dir);
    hearth_job_rec a = mk_rec(10, HEARTH_JOB_PROVIDER, HEARTH_JOB_QUOTED);
    hearth_job_rec b = mk_rec(11, HEARTH_JOB_CUSTOMER, HEARTH_JOB_QUEUED);
    hearth_job_rec got, ex;
    memcpy(b.id, a.id, 32);
    CHECK(hearth_jobdb_insert(db, &a, "first", 5, NULL) == HEARTH_OK);
    CHECK(hearth_jobdb_insert(db, &b, "second", 6, &ex) == 1);
    CHECK(rec_eq(&ex, &a));
    CHECK(hearth_jobdb_insert(db, &b, "second", 6, NULL) == 1);
    CHECK(hearth_jobdb_get(db, a.id, &got) == HEARTH_OK && rec_eq(&got, &a));
    CHECK(blob_is(db, a.id, "first"));
    size_t n = 0;
    hearth_job_rec list[4];
    CHECK(hearth_jobdb_list(db, 0, 0, list, 4, &n) == HEARTH_OK && n == 1);
    hearth_jobdb_close(db);
}

static void test_blobs(const char *dir)
{
    hearth_jobdb *db = open_db(dir);
    hearth_job_rec r = mk_rec(20, HEARTH_JOB_PROVIDER, HEARTH_JOB_QUEUED);
    hearth_buf b = HEARTH_BUF_INIT;
    CHECK(hearth_jobdb_put(db, &r, "request", 7, NULL) == HEARTH_OK);
    CHECK(blob_is(db, r.id, "request"));
    r.state = HEARTH_JOB_RUNNING;  /* NULL leaves the blob alone */
    CHECK(hearth_jobdb_put(db, &r, NULL, 0, NULL) == HEARTH_OK);
    CHECK(blob_is(db, r.id, "request"));
    r.state = HEARTH_JOB_RESULT;   /* replaced by the signed result */
    CHECK(hearth_jobdb_put(db, &r, "result", 6, NULL) == HEARTH_OK);
    CHECK(blob_is(db, r.id, "result"));
    /* appended, not overwritten */
    CHECK(hearth_buf_adds(&b, ">") == HEARTH_OK);
    CHECK(hearth_jobdb_blob(db, r.id, &b) == HEARTH_OK);
    CHECK(b.len == 7 && !memcmp(b.p, ">result", 7));
    r.state = HEARTH_JOB_DONE;     /* delivered: deleted in the same put */
    CHECK(hearth_jobdb_put(db, &r, "", 0, NULL) == HEARTH_OK);
    hearth_buf_reset(&b);
    CHECK(hearth_jobdb_blob(db, r.id, &b) == HEARTH_ENOTFOUND);
    /* deleting again is fine (an unchanged final record) */
    CHECK(hearth_jobdb_put(db, &r, "", 0, NULL) == HEARTH_OK);
    /* binary content, NULs included */
    hearth_job_rec r2 = mk_rec(21, HEARTH_JOB_CUSTOMER, HEARTH_JOB_QUOTED);
    const char bin[5] = {'a', 0, 'b', 0, 'c'};
    CHECK(hearth_jobdb_put(db, &r2, bin, 5, NULL) == HEARTH_OK);
    hearth_buf_reset(&b);
    CHECK(hearth_jobdb_blob(db, r2.id, &b) == HEARTH_OK && b.len == 5 &&
          !memcmp(b.p, bin, 5));
    hearth_buf_free(&b);
    hearth_jobdb_close(db);
}

static int expect_ok(int from, int to)
{
    if (from == to)
        return 1;
    if (hearth_job_state_final(from))
        return 0;
    if (to == HEARTH_JOB_FAILED || to == HEARTH_JOB_CANCELLED)
        return 1;
    if (to > from && to <= HEARTH_JOB_DONE)
        return 1;
    return from == HEARTH_JOB_RUNNING && to == HEARTH_JOB_QUEUED;
}

static void test_transitions(const char *dir)
{
    hearth_jobdb *db = open_db(dir);
    uint32_t n = 100;
    for (int from = HEARTH_JOB_QUOTED; from <= HEARTH_JOB_CANCELLED; from++) {
        for (int to = HEARTH_JOB_QUOTED; to <= HEARTH_JOB_CANCELLED; to++) {
            hearth_job_rec r = mk_rec(n++, HEARTH_JOB_PROVIDER, from), got;
            const char *why = "unset";
            CHECK(hearth_jobdb_insert(db, &r, NULL, 0, NULL) == HEARTH_OK);
            hearth_job_rec next = r;
            next.state = (uint8_t)to;
            next.updated_at += 1;  /* a real update changes a field */
            int rc = hearth_jobdb_put(db, &next, NULL, 0, &why);
            int ok = expect_ok(from, to) && !hearth_job_state_final(from);
            CHECKF(rc == (ok ? HEARTH_OK : HEARTH_EINVAL),
                   "%s -> %s: %d", hearth_job_state_name(from),
                   hearth_job_state_name(to), rc);
            CHECK(hearth_jobdb_get(db, r.id, &got) == HEARTH_OK);
            CHECK(rec_eq(&got, ok ? &next : &r));
            if (ok) {
                CHECK(why == NULL);
            } else if (hearth_job_state_final(from)) {
                const char *want =
                    from == HEARTH_JOB_DONE ? "invalid: job is already done"
                    : from == HEARTH_JOB_FAILED
                        ? "invalid: job is already failed"
                        : "invalid: job is already cancelled";
                CHECKF(why && !strcmp(why, want), "%s", why ? why : "NULL");
            } else {
                CHECK(why && !strncmp(why, "invalid: ", 9));
            }
            /* a final record re-put unchanged is a no-op, not an error */
            if (hearth_job_state_final(from)) {
                why = "unset";
                CHECK(hearth_jobdb_put(db, &r, NULL, 0, &why) == HEARTH_OK);
                CHECK(why == NULL);
            }
        }
    }
    /* role never changes */
    hearth_job_rec r = mk_rec(n++, HEARTH_JOB_CUSTOMER, HEARTH_JOB_QUEUED);
    const char *why = NULL;
    CHECK(hearth_jobdb_put(db, &r, NULL, 0, &why) == HEARTH_OK);
    r.role = HEARTH_JOB_ROUTER;
    CHECK(hearth_jobdb_put(db, &r, NULL, 0, &why) == HEARTH_EINVAL);
    CHECK(why && strstr(why, "role"));
    /* out-of-range values are refused before touching the table */
    r.role = HEARTH_JOB_CUSTOMER;
    r.state = 0;
    CHECK(hearth_jobdb_put(db, &r, NULL, 0, &why) == HEARTH_EINVAL);
    r.state = 8;
    CHECK(hearth_jobdb_put(db, &r, NULL, 0, NULL) == HEARTH_EINVAL);
    r.state = HEARTH_JOB_QUEUED;
    r.role = 4;
    CHECK(hearth_jobdb_insert(db, &r, NULL, 0, NULL) == HEARTH_EINVAL);
    r.role = HEARTH_JOB_CUSTOMER;
    memset(r.reason, 'y', sizeof r.reason);  /* no NUL */
    CHECK(hearth_jobdb_put(db, &r, NULL, 0, &why) == HEARTH_EINVAL);
    /* a chain through every forward state, with the customer retry */
    hearth_job_rec c = mk_rec(n++, HEARTH_JOB_CUSTOMER, HEARTH_JOB_QUOTED);
    static const int path[] = {
        HEARTH_JOB_QUEUED, HEARTH_JOB_RUNNING, HEARTH_JOB_QUEUED,
        HEARTH_JOB_RUNNING, HEARTH_JOB_RESULT, HEARTH_JOB_DONE
    };
    CHECK(hearth_jobdb_put(db, &c, NULL, 0, NULL) == HEARTH_OK);
    for (size_t i = 0; i < sizeof path / sizeof path[0]; i++) {
        c.state = (uint8_t)path[i];
        c.attempts++;
        CHECK(hearth_jobdb_put(db, &c, NULL, 0, NULL) == HEARTH_OK);
    }
    hearth_jobdb_close(db);
}

/* ---- listing ---- */

static int cmp_newest(const void *pa, const void *pb)
{
    const hearth_job_rec *a = pa, *b = pb;
    if (a->created_at != b->created_at)
        return a->created_at < b->created_at ? 1 : -1;
    return -memcmp(a->id, b->id, 32);
}

#define NLIST 300

static void check_list(hearth_jobdb *db, const hearth_job_rec *all,
                       size_t nall, int role, int open_only, size_t max)
{
    hearth_job_rec *want = calloc(nall, sizeof *want);
    hearth_job_rec *got = calloc(max + 1, sizeof *got);
    size_t nw = 0, n = 99;
    for (size_t i = 0; i < nall; i++)
        if ((!role || all[i].role == role) &&
            (!open_only || !hearth_job_state_final(all[i].state)))
            want[nw++] = all[i];
    qsort(want, nw, sizeof *want, cmp_newest);
    if (nw > max)
        nw = max;
    CHECK(hearth_jobdb_list(db, role, open_only, got, max, &n) ==
          HEARTH_OK);
    CHECKF(n == nw, "role %d open %d max %zu: %zu, want %zu", role,
           open_only, max, n, nw);
    for (size_t i = 0; i < n && i < nw; i++)
        CHECKF(rec_eq(&got[i], &want[i]), "role %d open %d: #%zu", role,
               open_only, i);
    free(want);
    free(got);
}

static void check_lists(hearth_jobdb *db, const hearth_job_rec *all,
                        size_t nall)
{
    static const size_t maxes[] = {0, 1, 7, NLIST, NLIST + 5};
    for (int role = 0; role <= HEARTH_JOB_ROUTER; role++)
        for (int open = 0; open <= 1; open++)
            for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++)
                check_list(db, all, nall, role, open, maxes[m]);
}

static void test_list(const char *dir)
{
    hearth_jobdb *db = open_db(dir);
    hearth_job_rec *all = calloc(NLIST, sizeof *all);
    srand(7);
    for (uint32_t i = 0; i < NLIST; i++) {
        int role = 1 + (int)(i % 3), state = 1 + rand() % 7;
        all[i] = mk_rec(1000 + i, role, state);
        /* ties and negative times on purpose */
        all[i].created_at = (int64_t)(rand() % 50) - 10;
        CHECK(hearth_jobdb_insert(db, &all[i], NULL, 0, NULL) == HEARTH_OK);
    }
    check_lists(db, all, NLIST);
    /* move some along: finals leave the open set, times change */
    for (uint32_t i = 0; i < NLIST; i += 3) {
        if (hearth_job_state_final(all[i].state))
            continue;
        all[i].state = i % 2 || all[i].state > HEARTH_JOB_RUNNING
                           ? HEARTH_JOB_DONE : HEARTH_JOB_RUNNING;
        all[i].created_at += 1000;
        CHECK(hearth_jobdb_put(db, &all[i], NULL, 0, NULL) == HEARTH_OK);
    }
    check_lists(db, all, NLIST);
    hearth_jobdb_close(db);
    /* reopen keeps records, blobs and indexes */
    db = open_db(dir);
    check_lists(db, all, NLIST);
    for (uint32_t i = 0; i < NLIST; i++) {
        hearth_job_rec got;
        CHECK(hearth_jobdb_get(db, all[i].id, &got) == HEARTH_OK &&
              rec_eq(&got, &all[i]));
    }
    hearth_jobdb_close(db);
    free(all);
}

static void test_empty_list(const char *dir)
{
    hearth_jobdb *db = open_db(dir);
    hearth_job_rec out[2];
    size_t n = 5;
    CHECK(hearth_jobdb_list(db, 0, 0, out, 2, &n) == HEARTH_OK && n == 0);
    n = 5;
    CHECK(hearth_jobdb_list(db, 0, 1, out, 2, &n) == HEARTH_OK && n == 0);
    hearth_jobdb_close(db);
}

/* ---- prefix lookup ---- */

static void put_hex(hearth_jobdb *db, const char *hex)
{
    hearth_job_rec r = mk_rec(1, HEARTH_JOB_PROVIDER, HEARTH_JOB_QUEUED);
    char full[65];
    snprintf(full, sizeof full, "%s", hex);
    for (size_t i = strlen(full); i < 64; i++)
        full[i] = '0';
    full[64] = '\0';
    CHECK(hearth_hex_decode(full, 64, r.id, 32, 0) == HEARTH_OK);
    CHECK(hearth_jobdb_insert(db, &r, NULL, 0, NULL) == HEARTH_OK);
}

static int find_is(hearth_jobdb *db, const char *prefix, const char *want)
{
    hearth_job_rec r;
    char hex[65];
    if (hearth_jobdb_find_prefix(db, prefix, &r) != HEARTH_OK)
        return 0;
    hearth_hex_encode(r.id, 32, hex);
    return !strncmp(hex, want, strlen(want));
}

static void test_prefix(const char *dir)
{
    hearth_jobdb *db = open_db(dir);
    hearth_job_rec r;
    CHECK(hearth_jobdb_find_prefix(db, "ab", &r) == HEARTH_ENOTFOUND);
    put_hex(db, "ab12");
    put_hex(db, "ab13");
    put_hex(db, "cd");
    put_hex(db, "1f");
    put_hex(db, "20");
    put_hex(db, "ffffffff");
    put_hex(db, "0123456789abcdef0123456789abcdef"
                "0123456789abcdef0123456789abcde1");
    put_hex(db, "0123456789abcdef0123456789abcdef"
                "0123456789abcdef0123456789abcde2");

    CHECK(find_is(db, "ab12", "ab12"));
    CHECK(find_is(db, "AB13", "ab13"));      /* typed in capitals */
    CHECK(find_is(db, "aB130", "ab13"));
    CHECK(find_is(db, "c", "cd"));           /* odd lengths */
    CHECK(find_is(db, "cd0", "cd"));
    CHECK(find_is(db, "1", "1f"));           /* 1f is the last of "1" */
    CHECK(find_is(db, "2", "20"));
    CHECK(find_is(db, "f", "ff"));           /* the last id in the table */
    CHECK(find_is(db, "0123456789abcdef0123456789abcdef"
                      "0123456789abcdef0123456789abcde2",
                  "0123456789abcdef0123456789abcdef"
                  "0123456789abcdef0123456789abcde2"));
    CHECK(hearth_jobdb_find_prefix(db, "ab1", &r) == HEARTH_EINVAL);
    CHECK(hearth_jobdb_find_prefix(db, "a", &r) == HEARTH_EINVAL);
    CHECK(hearth_jobdb_find_prefix(db, "0123456789abcdef0123456789abcdef"
                                       "0123456789abcdef0123456789abcde",
                                   &r) == HEARTH_EINVAL);
    CHECK(hearth_jobdb_find_prefix(db, "ab14", &r) == HEARTH_ENOTFOUND);
    CHECK(hearth_jobdb_find_prefix(db, "ce", &r) == HEARTH_ENOTFOUND);
    CHECK(hearth_jobdb_find_prefix(db, "21", &r) == HEARTH_ENOTFOUND);
    CHECK(hearth_jobdb_find_prefix(db, "3", &r) == HEARTH_ENOTFOUND);
    CHECK(hearth_jobdb_find_prefix(db, "cd1", &r) == HEARTH_ENOTFOUND);
    /* malformed */
    CHECK(hearth_jobdb_find_prefix(db, "", &r) == HEARTH_EINVAL);
    CHECK(hearth_jobdb_find_prefix(db, "cg", &r) == HEARTH_EINVAL);
    CHECK(hearth_jobdb_find_prefix(db, "c ", &r) == HEARTH_EINVAL);
    char longp[66];
    memset(longp, 'c', 65);
    longp[65] = '\0';
    CHECK(hearth_jobdb_find_prefix(db, longp, &r) == HEARTH_EINVAL);
    hearth_jobdb_close(db);
}

/* ---- map growth ---- */

#define BIG_BLOB (256u << 10)
#define BIG_COUNT 200u  /* 50 MiB: past the initial 32 MiB map */

static void test_growth(const char *dir)
{
    hearth_jobdb *db = open_db(dir);
    char *blob = malloc(BIG_BLOB + 1);
    hearth_buf b = HEARTH_BUF_INIT;
    int fails = 0;
    for (uint32_t i = 0; i < BIG_COUNT; i++) {
        hearth_job_rec r = mk_rec(5000 + i, HEARTH_JOB_PROVIDER,
                                  HEARTH_JOB_QUOTED);
        memset(blob, 'a' + (int)(i % 26), BIG_BLOB);
        fails += hearth_jobdb_insert(db, &r, blob, BIG_BLOB, NULL) !=
                 HEARTH_OK;
    }
    CHECKF(fails == 0, "%d inserts failed", fails);
    hearth_jobdb_close(db);
    /* the data really outgrew the initial 32 MiB map */
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    CHECK(stat(path, &st) == 0 && st.st_size > (off_t)(40u << 20));
    db = open_db(dir);
    fails = 0;
    for (uint32_t i = 0; i < BIG_COUNT; i++) {
        uint8_t id[32];
        mk_id(5000 + i, id);
        hearth_buf_reset(&b);
        fails += hearth_jobdb_blob(db, id, &b) != HEARTH_OK ||
                 b.len != BIG_BLOB || b.p[0] != 'a' + (int)(i % 26) ||
                 b.p[BIG_BLOB - 1] != b.p[0];
    }
    CHECKF(fails == 0, "%d blobs wrong after reopen", fails);
    hearth_buf_free(&b);
    free(blob);
    hearth_jobdb_close(db);
}

/* ---- kill -9 ---- */

#define CRASH_ROUNDS 24

static uint32_t crash_n(int round, uint32_t i)
{
    return 100000u + (uint32_t)round * 10000u + i;
}

/* The child: insert QUOTED, then move to RUNNING; after each put has
 * returned, report (i << 1 | stage) on the pipe. */
static void crash_child(const char *dir, int round, int fd)
{
    hearth_jobdb *db = NULL;
    char blob[512];
    if (hearth_jobdb_open(dir, &db) != HEARTH_OK)
        _exit(2);
    for (uint32_t i = 0; i < 9999; i++) {
        uint32_t n = crash_n(round, i);
        hearth_job_rec r = mk_rec(n, HEARTH_JOB_PROVIDER, HEARTH_JOB_QUOTED);
        blob_text(n, blob, sizeof blob);
        if (hearth_jobdb_insert(db, &r, blob, strlen(blob), NULL))
            _exit(3);
        uint32_t msg = i << 1;
        if (write(fd, &msg, 4) != 4)
            _exit(4);
        r.state = HEARTH_JOB_RUNNING;
        r.attempts++;
        if (hearth_jobdb_put(db, &r, NULL, 0, NULL))
            _exit(5);
        msg |= 1;
        if (write(fd, &msg, 4) != 4)
            _exit(4);
    }
    hearth_jobdb_close(db);
    _exit(0);
}

/* every acknowledged put is there and intact */
static int crash_verify(hearth_jobdb *db, int round, const uint8_t *stage,
                        uint32_t nmax)
{
    int bad = 0;
    char blob[512];
    for (uint32_t i = 0; i < nmax; i++) {
        if (!stage[i])
            continue;
        uint32_t n = crash_n(round, i);
        hearth_job_rec want = mk_rec(n, HEARTH_JOB_PROVIDER,
                                     HEARTH_JOB_QUOTED), got;
        if (hearth_jobdb_get(db, want.id, &got) != HEARTH_OK) {
            bad++;
            continue;
        }
        /* RUNNING may have committed without being reported */
        if (stage[i] == 2 || got.state == HEARTH_JOB_RUNNING) {
            want.state = HEARTH_JOB_RUNNING;
            want.attempts++;
        }
        blob_text(n, blob, sizeof blob);
        bad += !rec_eq(&got, &want) || !blob_is(db, want.id, blob);
    }
    return bad;
}

static void test_crash(const char *dir)
{
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    uint8_t *stage = calloc(10000, 1);
    uint32_t total = 0;
    printf("# crash seed %u\n", seed);
    srand(seed);
    for (int round = 0; round < CRASH_ROUNDS; round++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            crash_child(dir, round, fds[1]);
        }
        close(fds[1]);
        usleep((useconds_t)(rand() % 40000));
        kill(pid, SIGKILL);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
               "round %d: child ended %d", round, status);
        memset(stage, 0, 10000);
        uint32_t msg, nmax = 0;
        while (read(fds[0], &msg, 4) == 4) {
            uint32_t i = msg >> 1;
            if (i >= 10000)
                continue;
            stage[i] = (uint8_t)((msg & 1) + 1);
            nmax = i + 1;
            total++;
        }
        close(fds[0]);
        hearth_jobdb *db = open_db(dir);
        int bad = crash_verify(db, round, stage, nmax);
        CHECKF(bad == 0, "round %d: %d acknowledged puts lost or damaged",
               round, bad);
        /* the table still takes writes after the crash */
        hearth_job_rec r = mk_rec(900000u + (uint32_t)round,
                                  HEARTH_JOB_CUSTOMER, HEARTH_JOB_QUEUED);
        CHECK(hearth_jobdb_put(db, &r, NULL, 0, NULL) == HEARTH_OK);
        hearth_jobdb_close(db);
    }
    printf("# crash: %u acknowledged puts checked\n", total);
    CHECK(total > 0);
    free(stage);
}

/* ---- threads ---- */

#define THREADS 4
#define PER_THREAD 150u
#define THREAD_BLOB (64u << 10)  /* 4 x 150 x 64 KiB: grows the map */

struct worker {
    hearth_jobdb *db;
    uint32_t base;
    int fails;
};

static void *insert_worker(void *arg)
{
    struct worker *w = arg;
    char *blob = malloc(THREAD_BLOB);
    for (uint32_t i = 0; blob && i < PER_THREAD; i++) {
        hearth_job_rec r = mk_rec(w->base + i, HEARTH_JOB_PROVIDER,
                                  HEARTH_JOB_QUEUED), got;
        memset(blob, 'A' + (int)(i % 26), THREAD_BLOB);
        w->fails += hearth_jobdb_insert(w->db, &r, blob, THREAD_BLOB,
                                        NULL) != HEARTH_OK;
        /* reads interleaved with the other threads' writes */
        w->fails += hearth_jobdb_get(w->db, r.id, &got) != HEARTH_OK ||
                    !rec_eq(&got, &r);
        size_t n;
        hearth_job_rec top[3];
        w->fails += hearth_jobdb_list(w->db, 0, 1, top, 3, &n) != HEARTH_OK;
    }
    w->fails += blob == NULL;
    free(blob);
    return NULL;
}

static void test_threads(const char *dir)
{
    hearth_jobdb *db = open_db(dir);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (struct worker){db, 200000u + (uint32_t)t * 1000u, 0};
        CHECK(pthread_create(&th[t], NULL, insert_worker, &w[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECKF(w[t].fails == 0, "thread %d: %d failures", t, w[t].fails);
    }
    hearth_job_rec *all = calloc(THREADS * PER_THREAD + 1, sizeof *all);
    size_t n = 0;
    CHECK(hearth_jobdb_list(db, 0, 0, all, THREADS * PER_THREAD + 1, &n) ==
          HEARTH_OK);
    CHECKF(n == THREADS * PER_THREAD, "%zu records", n);
    int missing = 0;
    for (int t = 0; t < THREADS; t++)
        for (uint32_t i = 0; i < PER_THREAD; i++) {
            hearth_job_rec want = mk_rec(w[t].base + i, HEARTH_JOB_PROVIDER,
                                         HEARTH_JOB_QUEUED), got;
            missing += hearth_jobdb_get(db, want.id, &got) != HEARTH_OK ||
                       !rec_eq(&got, &want);
        }
    CHECKF(missing == 0, "%d records missing or wrong", missing);
    free(all);
    hearth_jobdb_close(db);
}

static void test_open_errors(void)
{
    hearth_jobdb *db = (hearth_jobdb *)1;
    CHECK(hearth_jobdb_open("/proc/nonexistent/jobs", &db) == HEARTH_EIO);
    CHECK(db == NULL);
    hearth_jobdb_close(NULL);
}

/* Settlement progresses after the final state; nothing else does, and
 * progress is never undone. */
static void test_settle(const char *dir)
{
    hearth_jobdb *db = open_db(dir);
    hearth_job_rec r = mk_rec(7, HEARTH_JOB_CUSTOMER, HEARTH_JOB_DONE), got;
    const char *why = NULL;
    r.settle = HEARTH_SETTLE_INVOICED | HEARTH_SETTLE_PAID;
    CHECK(hearth_jobdb_insert(db, &r, NULL, 0, NULL) == HEARTH_OK);
    hearth_job_rec next = r;
    next.settle |= HEARTH_SETTLE_BOOKED | HEARTH_SETTLE_RECEIPT;
    next.updated_at += 5;
    CHECK(hearth_jobdb_put(db, &next, NULL, 0, &why) == HEARTH_OK);
    CHECK(hearth_jobdb_get(db, r.id, &got) == HEARTH_OK && rec_eq(&got, &next));
    /* undoing a bit, or changing the paid invoice, is refused */
    hearth_job_rec bad = next;
    bad.settle = HEARTH_SETTLE_PAID;
    CHECK(hearth_jobdb_put(db, &bad, NULL, 0, &why) == HEARTH_EINVAL);
    CHECK(why && strstr(why, "settlement") != NULL);
    bad = next;
    bad.settle |= HEARTH_SETTLE_REFUNDED;
    bad.paid_msat += 1;
    CHECK(hearth_jobdb_put(db, &bad, NULL, 0, &why) == HEARTH_EINVAL);
    bad = next;
    bad.settle |= HEARTH_SETTLE_REFUNDED;
    bad.amount_msat += 1;
    CHECK(hearth_jobdb_put(db, &bad, NULL, 0, &why) == HEARTH_EINVAL);
    CHECK(hearth_jobdb_get(db, r.id, &got) == HEARTH_OK && rec_eq(&got, &next));
    hearth_jobdb_close(db);
}

int main(void)
{
    /* each test gets its own environment */
    void (*const tests[])(const char *) = {
        test_round_trip, test_duplicate, test_blobs, test_transitions,
        test_list, test_empty_list, test_prefix, test_growth, test_crash,
        test_threads, test_settle
    };
    test_names();
    test_open_errors();
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        char *base = tap_tmpdir("jobdb");
        char dir[4200];
        /* a directory that does not exist yet: open makes it */
        snprintf(dir, sizeof dir, "%s/jobs", base);
        tests[i](dir);
        struct stat st;
        CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
        rm_dir(base);
    }
    return tap_done();
}
