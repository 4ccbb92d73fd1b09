/* The pow runner (kind 5970): real small jobs mined end to end, the
 * output event checked field by field against the input, cancellation,
 * time limits, estimates and the refusals with their reasons. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/nip13.h"
#include "hearth/runner.h"
#include "tap.h"

#include <jansson.h>
#include <stdint.h>

static const char *event_json =
    "{\"pubkey\":\"a48380f4cfcc1ad5378294fcac36439770f9c878dd880ffa94bb74ea"
    "54a6f243\",\"created_at\":1700000000,\"kind\":1,\"tags\":[[\"t\","
    "\"nostr\"],[\"nonce\",\"77\",\"3\"],[\"p\",\"x\"]],\"content\":"
    "\"hello \\\"pow\\\"\\nline two\"}";

static hearth_runner *new_runner(void)
{
    hearth_pow_runner_opts o;
    hearth_pow_runner_opts_default(&o);
    o.bench_ms = 50;
    o.threads = 2;
    hearth_runner *r = NULL;
    CHECK(hearth_runner_pow_new(&o, &r) == HEARTH_OK);
    return r;
}

static void make_job(hearth_runner_job *job, hearth_job_input *in,
                     hearth_job_param *p, const char *json, const char *pow)
{
    memset(job, 0, sizeof *job);
    in->value = json;
    in->len = strlen(json);
    in->type = "text";
    in->marker = "";
    p->key = "pow";
    p->value = pow;
    job->kind = 5970;
    job->ninputs = 1;
    job->inputs = in;
    job->nparams = pow ? 1 : 0;
    job->params = p;
}

/* Every field but the id and the nonce tag is as the customer sent it;
 * the nonce tag is last, once. */
static void check_output(const char *out, int target)
{
    hearth_event *ev = NULL, *orig = NULL;
    const char *why = NULL;
    CHECKF(hearth_event_parse(out, strlen(out), HEARTH_PARSE_UNSIGNED, &ev,
                              &why) == HEARTH_OK,
           "%s", why);
    CHECK(hearth_event_parse(event_json, strlen(event_json),
                             HEARTH_PARSE_UNSIGNED, &orig, &why) ==
          HEARTH_OK);
    if (!ev || !orig) {
        hearth_event_free(ev);
        hearth_event_free(orig);
        return;
    }
    CHECK(ev->has & HEARTH_EV_HAS_ID);
    CHECK(!(ev->has & HEARTH_EV_HAS_SIG));
    uint8_t id[32];
    CHECK(hearth_event_compute_id(ev, id) == HEARTH_OK &&
          memcmp(id, ev->id, 32) == 0);
    CHECK(hearth_nip13_difficulty(ev) >= target);
    int committed = -1;
    CHECK(hearth_nip13_committed_target(ev, &committed) == 1 &&
          committed == target);
    CHECK(memcmp(ev->pubkey, orig->pubkey, 32) == 0);
    CHECK(ev->created_at == orig->created_at && ev->kind == orig->kind);
    CHECK(ev->content.n == orig->content.n &&
          memcmp(ev->content.p, orig->content.p, ev->content.n) == 0);
    /* the original's tags without its nonce tag, then one new nonce tag */
    CHECK(ev->ntags == 3);
    if (ev->ntags == 3) {
        CHECK(!strcmp(ev->tags[0].v[0].p, "t") &&
              !strcmp(ev->tags[0].v[1].p, "nostr"));
        CHECK(!strcmp(ev->tags[1].v[0].p, "p") &&
              !strcmp(ev->tags[1].v[1].p, "x"));
        CHECK(!strcmp(ev->tags[2].v[0].p, "nonce") && ev->tags[2].n == 3);
    }
    hearth_event_free(ev);
    hearth_event_free(orig);
}

static unsigned last_percent;
static void on_progress(void *user, unsigned p)
{
    (void)user;
    last_percent = p;
}

static void test_run(void)
{
    hearth_runner *r = new_runner();
    if (!r)
        return;
    hearth_runner_desc d;
    CHECK(hearth_runner_describe(r, &d) == HEARTH_OK);
    CHECK(!strcmp(d.name, "pow") && d.backend == HEARTH_BACKEND_POW);
    CHECK(d.nkinds == 1 && d.kinds[0] == 5970 && d.slots == 1);
    CHECK(d.bench_mhash_s >= 1);
    CHECK(d.gpu == 0 || d.gpu == 1);
    char why[HEARTH_RUNNER_WHY_MAX];
    CHECK(hearth_runner_health(r, why, sizeof why) == HEARTH_OK);

    static const char *targets[] = {"8", "12", "16"};
    for (int i = 0; i < 3; i++) {
        hearth_runner_job job;
        hearth_job_input in;
        hearth_job_param p;
        make_job(&job, &in, &p, event_json, targets[i]);
        CHECK(hearth_runner_check(r, &job, why, sizeof why) == HEARTH_OK);
        hearth_usage u;
        uint32_t ms;
        CHECK(hearth_runner_estimate(r, &job, &u, &ms) == HEARTH_OK);
        CHECK(u.hashes == (uint64_t)1 << atoi(targets[i]) && u.jobs == 1);
        hearth_runner_io io = {on_progress, NULL, NULL, NULL};
        hearth_runner_result res;
        hearth_runner_result_init(&res);
        last_percent = 0;
        int rc = hearth_runner_run(r, &job, &io, &res);
        CHECKF(rc == HEARTH_OK, "%s", res.error);
        CHECK(res.usage.jobs == 1 && res.usage.hashes >= 1);
        CHECK(last_percent == 100);
        if (rc == HEARTH_OK) {
            hearth_buf_addc(&res.output, '\0');
            check_output(res.output.p, atoi(targets[i]));
        }
        hearth_runner_result_free(&res);
    }
    hearth_runner_free(r);
}

static int cancel_now(void *user)
{
    int *calls = user;
    return ++*calls > 2;
}

static void test_cancel_and_timeout(void)
{
    hearth_runner *r = new_runner();
    if (!r)
        return;
    hearth_runner_job job;
    hearth_job_input in;
    hearth_job_param p;
    make_job(&job, &in, &p, event_json, "40");
    int calls = 0;
    hearth_runner_io io = {NULL, NULL, cancel_now, &calls};
    hearth_runner_result res;
    hearth_runner_result_init(&res);
    CHECK(hearth_runner_run(r, &job, &io, &res) == HEARTH_ECANCELED);
    CHECK(strstr(res.error, "cancelled") != NULL);
    CHECK(res.usage.jobs == 0 && res.usage.hashes > 0);
    CHECK(res.output.len == 0);
    hearth_runner_result_free(&res);

    job.time_limit_ms = 60;
    hearth_runner_result_init(&res);
    CHECK(hearth_runner_run(r, &job, NULL, &res) == HEARTH_ETIMEDOUT);
    CHECKF(strstr(res.error, "time limit") != NULL, "%s", res.error);
    CHECK(res.usage.hashes > 0);
    hearth_runner_result_free(&res);
    hearth_runner_free(r);
}

/* check refuses, and run refuses the same way without mining */
static void refused(hearth_runner *r, const hearth_runner_job *job,
                    const char *want)
{
    char why[HEARTH_RUNNER_WHY_MAX];
    int rc = hearth_runner_check(r, job, why, sizeof why);
    CHECKF(rc == HEARTH_EINVAL && strstr(why, want), "got \"%s\", want \"%s\"",
           why, want);
    hearth_runner_result res;
    hearth_runner_result_init(&res);
    CHECK(hearth_runner_run(r, job, NULL, &res) == HEARTH_EINVAL);
    CHECKF(strstr(res.error, want) != NULL, "%s", res.error);
    CHECK(res.usage.hashes == 0);
    hearth_runner_result_free(&res);
}

static void test_refusals(void)
{
    hearth_runner *r = new_runner();
    if (!r)
        return;
    hearth_runner_job job;
    hearth_job_input in;
    hearth_job_param p;
    static const char *bad_pow[] = {"0", "41", "-3", "1.5", "", "abc",
                                    "0008", "12 "};
    for (size_t i = 0; i < sizeof bad_pow / sizeof bad_pow[0]; i++) {
        make_job(&job, &in, &p, event_json, bad_pow[i]);
        refused(r, &job, "param pow must be a whole number from 1 to 40");
    }
    make_job(&job, &in, &p, event_json, NULL);
    refused(r, &job, "param pow is missing");

    make_job(&job, &in, &p, event_json, "8");
    in.type = "url";
    refused(r, &job, "input must be of type text");

    make_job(&job, &in, &p, event_json, "8");
    job.ninputs = 0;
    refused(r, &job, "exactly one input");
    hearth_job_input two[2] = {in, in};
    job.ninputs = 2;
    job.inputs = two;
    refused(r, &job, "exactly one input");

    make_job(&job, &in, &p, "{\"kind\":1,", "8");
    refused(r, &job, "not a Nostr event");
    make_job(&job, &in, &p, "[1,2,3]", "8");
    refused(r, &job, "not a Nostr event");
    make_job(&job, &in, &p,
             "{\"created_at\":1,\"kind\":1,\"tags\":[],\"content\":\"\"}",
             "8");
    refused(r, &job, "no pubkey");
    make_job(&job, &in, &p,
             "{\"pubkey\":\"a48380f4cfcc1ad5378294fcac36439770f9c878dd880ff"
             "a94bb74ea54a6f243\",\"kind\":1,\"tags\":[],\"content\":\"\"}",
             "8");
    refused(r, &job, "no created_at");

    make_job(&job, &in, &p, event_json, "8");
    job.kind = 5050;
    refused(r, &job, "serves kind 5970");
    hearth_runner_free(r);

    /* a required GPU that is not there fails creation, plainly */
    hearth_pow_runner_opts o;
    hearth_pow_runner_opts_default(&o);
    o.use_cuda = 1;
    o.cuda_lib = "/nonexistent/libhearth-cuda.so";
    o.bench_ms = 0;
    CHECK(hearth_runner_pow_new(&o, &r) == HEARTH_ENOTFOUND && r == NULL);
    /* auto without one falls back to the CPU */
    o.use_cuda = -1;
    CHECK(hearth_runner_pow_new(&o, &r) == HEARTH_OK);
    hearth_runner_desc d;
    CHECK(r && hearth_runner_describe(r, &d) == HEARTH_OK && d.gpu == 0 &&
          d.bench_mhash_s == 0);
    hearth_runner_free(r);
    o.max_difficulty = 0;
    CHECK(hearth_runner_pow_new(&o, &r) == HEARTH_EINVAL);
}

int main(void)
{
    test_run();
    test_cancel_and_timeout();
    test_refusals();
    return tap_done();
}
