/* The openai runner: NIP-90 kind 5050 text generation through an
 * OpenAI-compatible chat completions backend (llama.cpp server, Ollama,
 * vLLM) on the provider's machine (docs/runner-openai.md). This file
 * holds setup, admission, estimates, the model list and health; the
 * request itself is in runner_openai_run.c, the answer parsing in
 * runner_openai_stream.c. Nothing here logs: inputs and outputs are the
 * customer's. */
#include "runner_openai_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/error.h"
#include "hearth/utf8.h"

#define DEFAULT_TOKENS_S  20u        /* until a job was measured */
#define MODELS_BODY_MAX   (1u << 20) /* GET /models answer */
#define TEMPLATE_TOKENS   4u         /* chat template cost per message */

void hearth_openai_runner_opts_default(hearth_openai_runner_opts *o)
{
    memset(o, 0, sizeof *o);
    o->base_url = "http://127.0.0.1:8080/v1";
    o->connect_timeout_ms = 5000;
    o->idle_timeout_ms = 60000;
    o->max_output = 1u << 20;
    o->max_tokens = 4096;
    o->slots = 1;
    o->time_limit_ms = 600000;
    o->health_timeout_ms = 3000;
    o->max_input = 1u << 20;
    o->gpu = 1;
}

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    if (!why || !whylen)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* ---- names ---- */

/* A model name we can offer and put in a request: 1..63 printable ASCII
 * bytes without spaces (Ollama's "llama3.2:3b", vLLM's "org/model"). */
static int model_name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= HEARTH_OFFER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* ---- the model list ---- */

typedef struct sink {
    hearth_buf *b;
    size_t max;
} sink;

static size_t sink_write(char *p, size_t size, size_t n, void *user)
{
    sink *s = user;
    if (s->b->len + n > s->max)
        return 0;   /* too big: libcurl fails the transfer */
    hearth_buf_add(s->b, p, n);
    return hearth_buf_error(s->b) ? 0 : n;
}

/* Parse {"data":[{"id":..},..]}; names we cannot offer are skipped. */
static int parse_models(const hearth_buf *b,
                        char names[][HEARTH_OFFER_NAME_MAX], size_t *n)
{
    json_error_t err;
    json_t *j = json_loadb(b->p, b->len, 0, &err);
    json_t *data = json_object_get(j, "data");
    size_t i;
    json_t *m;
    *n = 0;
    if (!json_is_array(data)) {
        json_decref(j);
        return HEARTH_EINVAL;
    }
    json_array_foreach(data, i, m) {
        json_t *id = json_object_get(m, "id");
        if (*n == HEARTH_OFFER_MAX_MODELS)
            break;
        if (!json_is_string(id) ||
            !model_name_ok(json_string_value(id), json_string_length(id)))
            continue;
        memcpy(names[*n], json_string_value(id), json_string_length(id) + 1);
        (*n)++;
    }
    json_decref(j);
    return HEARTH_OK;
}

/* GET {base}/models within health_timeout_ms. */
static int fetch_models(hearth_oai_runner *r,
                        char names[][HEARTH_OFFER_NAME_MAX], size_t *n,
                        char *why, size_t whylen)
{
    hearth_buf url = HEARTH_BUF_INIT, body = HEARTH_BUF_INIT;
    sink s = {&body, MODELS_BODY_MAX};
    struct curl_slist *hdr = NULL;
    long status = 0;
    int rc = HEARTH_ENOMEM;
    CURL *h = curl_easy_init();
    hearth_buf_addf(&url, "%s/models", r->base);
    if (r->auth)
        hdr = curl_slist_append(NULL, r->auth);
    if (!h || hearth_buf_error(&url) || (r->auth && !hdr))
        goto out;
    curl_easy_setopt(h, CURLOPT_URL, url.p);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)r->o.health_timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)r->o.health_timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    rc = HEARTH_EIO;
    if (cc != CURLE_OK && status == 0)
        say(why, whylen, "the model backend at %s is not answering",
            r->origin);
    else if (cc != CURLE_OK)
        say(why, whylen, "the model backend at %s sent a broken model list",
            r->origin);
    else if (status != 200)
        say(why, whylen, "the model backend at %s answered HTTP %ld to GET "
            "/models", r->origin, status);
    else if (parse_models(&body, names, n))
        say(why, whylen, "the model backend at %s sent a model list that is "
            "not OpenAI's {\"data\":[{\"id\":..}]}", r->origin);
    else
        rc = HEARTH_OK;
out:
    if (rc == HEARTH_ENOMEM)
        say(why, whylen, "out of memory");
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    hearth_buf_free(&url);
    hearth_buf_free(&body);
    return rc;
}

static int refresh_models(hearth_oai_runner *r, char *why, size_t whylen)
{
    char names[HEARTH_OFFER_MAX_MODELS][HEARTH_OFFER_NAME_MAX];
    size_t n = 0;
    int rc = fetch_models(r, names, &n, why, whylen);
    if (rc)
        return rc;
    pthread_mutex_lock(&r->lock);
    r->listed = 1;
    r->nlisted = n;
    memcpy(r->listed_models, names, sizeof names);
    pthread_mutex_unlock(&r->lock);
    return HEARTH_OK;
}

/* The offered models, copied out under the lock; -1 when not known yet
 * (no list in the options and the backend never answered GET /models). */
static long offered(hearth_oai_runner *r,
                    char names[][HEARTH_OFFER_NAME_MAX])
{
    if (r->nfixed) {
        memcpy(names, r->fixed, sizeof r->fixed);
        return (long)r->nfixed;
    }
    pthread_mutex_lock(&r->lock);
    long n = r->listed ? (long)r->nlisted : -1;
    memcpy(names, r->listed_models, sizeof r->listed_models);
    pthread_mutex_unlock(&r->lock);
    return n;
}

uint32_t hearth_oai_tokens_s(hearth_oai_runner *r)
{
    if (r->o.tokens_s)
        return r->o.tokens_s;
    pthread_mutex_lock(&r->lock);
    uint32_t t = r->measured_tokens_s;
    pthread_mutex_unlock(&r->lock);
    return t ? t : DEFAULT_TOKENS_S;
}

/* ---- admission ---- */

/* Whole-string decimal number, nothing strtod would also take (hex,
 * "inf", "nan", spaces), so the same text means the same on every
 * backend. */
static int parse_number(const char *v, double *out)
{
    if (!v || !*v || strspn(v, "0123456789.eE+-") != strlen(v))
        return HEARTH_EINVAL;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (*end || errno || !isfinite(d))
        return HEARTH_EINVAL;
    *out = d;
    return HEARTH_OK;
}

static int parse_uint(const char *v, uint64_t max, uint64_t *out)
{
    if (!v || !*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 19)
        return HEARTH_EINVAL;
    uint64_t x = strtoull(v, NULL, 10);
    if (x > max)
        return HEARTH_EINVAL;
    *out = x;
    return HEARTH_OK;
}

static int check_param(hearth_oai_runner *r, const hearth_job_param *pa,
                       hearth_oai_job *p, char *why, size_t whylen)
{
    const char *k = pa->key, *v = pa->value;
    uint64_t u;
    if (!strcmp(k, "model")) {
        if (!v || !model_name_ok(v, strlen(v))) {
            say(why, whylen, "param model must be a model name of 1 to %u "
                "printable characters", HEARTH_OFFER_NAME_MAX - 1);
            return HEARTH_EINVAL;
        }
        memcpy(p->model, v, strlen(v) + 1);
    } else if (!strcmp(k, "max_tokens")) {
        if (parse_uint(v, r->o.max_tokens, &u) || u == 0) {
            say(why, whylen, "param max_tokens must be an integer from 1 to "
                "%u", r->o.max_tokens);
            return HEARTH_EINVAL;
        }
        p->max_tokens = (uint32_t)u;
    } else if (!strcmp(k, "temperature")) {
        if (parse_number(v, &p->temperature) || p->temperature < 0 ||
            p->temperature > 2) {
            say(why, whylen, "param temperature must be a number from 0 to "
                "2");
            return HEARTH_EINVAL;
        }
        p->has_temperature = 1;
    } else if (!strcmp(k, "top_p")) {
        if (parse_number(v, &p->top_p) || p->top_p < 0 || p->top_p > 1) {
            say(why, whylen, "param top_p must be a number from 0 to 1");
            return HEARTH_EINVAL;
        }
        p->has_top_p = 1;
    } else if (!strcmp(k, "seed")) {
        /* llama.cpp takes a 32-bit seed; larger ones would be cut */
        if (parse_uint(v, UINT32_MAX, &p->seed)) {
            say(why, whylen, "param seed must be an integer from 0 to %u",
                UINT32_MAX);
            return HEARTH_EINVAL;
        }
        p->has_seed = 1;
    } else if (!strcmp(k, "system")) {
        if (!v || !hearth_utf8_valid(v, strlen(v))) {
            say(why, whylen, "param system must be UTF-8 text");
            return HEARTH_EINVAL;
        }
    } else {
        /* the key is the customer's: show it only when it is short and
         * plain, so the sentence stays one readable line */
        if (model_name_ok(k, strlen(k)) && strlen(k) <= 32)
            say(why, whylen, "param %s is not supported (this provider "
                "takes model, max_tokens, temperature, top_p, seed, system)",
                k);
        else
            say(why, whylen, "a param is not supported (this provider "
                "takes model, max_tokens, temperature, top_p, seed, "
                "system)");
        return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

static int check_params(hearth_oai_runner *r, const hearth_runner_job *job,
                        hearth_oai_job *p, char *why, size_t whylen)
{
    for (size_t i = 0; i < job->nparams; i++) {
        const hearth_job_param *pa = &job->params[i];
        if (!pa->key) {
            say(why, whylen, "a param has no name");
            return HEARTH_EINVAL;
        }
        for (size_t k = 0; k < i; k++)
            if (job->params[k].key && !strcmp(job->params[k].key, pa->key)) {
                say(why, whylen, "param %s is given twice",
                    model_name_ok(pa->key, strlen(pa->key)) ? pa->key : "?");
                return HEARTH_EINVAL;
            }
        int rc = check_param(r, pa, p, why, whylen);
        if (rc)
            return rc;
    }
    return HEARTH_OK;
}

static int is_system(const hearth_job_input *in)
{
    return in->marker && !strcmp(in->marker, "system");
}

static int check_inputs(hearth_oai_runner *r, const hearth_runner_job *job,
                        hearth_oai_job *p, char *why, size_t whylen)
{
    const char *sys = hearth_job_param_get(job, "system");
    size_t nuser = 0, nsys = 0;
    p->system_len = sys ? strlen(sys) : 0;
    nsys = sys != NULL;
    p->user_len = 0;
    for (size_t i = 0; i < job->ninputs; i++) {
        const hearth_job_input *in = &job->inputs[i];
        if (!in->type || strcmp(in->type, "text")) {
            say(why, whylen, "input %zu is not of type text: this provider "
                "takes text inputs only", i + 1);
            return HEARTH_EINVAL;
        }
        if (!in->value || !hearth_utf8_valid(in->value, in->len)) {
            say(why, whylen, "input %zu is not UTF-8 text", i + 1);
            return HEARTH_EINVAL;
        }
        size_t *len = is_system(in) ? &p->system_len : &p->user_len;
        size_t *cnt = is_system(in) ? &nsys : &nuser;
        *len += (*cnt ? 2 : 0) + in->len;   /* "\n\n" between pieces */
        (*cnt)++;
    }
    if (nuser == 0) {
        say(why, whylen, "the job needs at least one text input (the "
            "prompt)");
        return HEARTH_EINVAL;
    }
    if (p->user_len + p->system_len > r->o.max_input) {
        say(why, whylen, "the prompt is %zu bytes; this provider takes at "
            "most %u", p->user_len + p->system_len, r->o.max_input);
        return HEARTH_EINVAL;
    }
    /* about 4 bytes a token for English text under common BPE
     * vocabularies, plus the chat template around each message */
    p->tokens_in = (p->user_len + 3) / 4 + (p->system_len + 3) / 4 +
                   TEMPLATE_TOKENS * (1 + (nsys > 0));
    return HEARTH_OK;
}

static int check_model(hearth_oai_runner *r, hearth_oai_job *p, char *why,
                       size_t whylen)
{
    char names[HEARTH_OFFER_MAX_MODELS][HEARTH_OFFER_NAME_MAX];
    long n = offered(r, names);
    if (!p->model[0] && r->default_model)
        snprintf(p->model, sizeof p->model, "%s", r->default_model);
    if (!p->model[0] && n > 0)
        memcpy(p->model, names[0], sizeof p->model);
    if (!p->model[0]) {
        say(why, whylen, "param model is required: this provider has no "
            "default model");
        return HEARTH_EINVAL;
    }
    if (n < 0)
        return HEARTH_OK;   /* the list is not known: the backend decides */
    for (long i = 0; i < n; i++)
        if (!strcmp(names[i], p->model))
            return HEARTH_OK;
    hearth_buf list = HEARTH_BUF_INIT;
    for (long i = 0; i < n; i++)
        hearth_buf_addf(&list, "%s%s", i ? ", " : "", names[i]);
    say(why, whylen, "model %s is not offered here (offered: %s)", p->model,
        list.p && !list.err ? list.p : "none");
    hearth_buf_free(&list);
    return HEARTH_EINVAL;
}

int hearth_oai_prepare(hearth_oai_runner *r, const hearth_runner_job *job,
                       hearth_oai_job *p, char *why, size_t whylen)
{
    memset(p, 0, sizeof *p);
    p->max_tokens = r->o.max_tokens;
    if (job->kind != HEARTH_OAI_KIND) {
        say(why, whylen, "kind %u is not served by this runner (it serves "
            "%u)", job->kind, HEARTH_OAI_KIND);
        return HEARTH_EINVAL;
    }
    int rc = check_params(r, job, p, why, whylen);
    if (!rc)
        rc = check_inputs(r, job, p, why, whylen);
    if (!rc)
        rc = check_model(r, p, why, whylen);
    return rc;
}

/* ---- the request ---- */

static void join(hearth_buf *b, const char *s, size_t n)
{
    if (b->len)
        hearth_buf_adds(b, "\n\n");
    hearth_buf_add(b, s, n);
}

int hearth_oai_messages(const hearth_runner_job *job, hearth_buf *system,
                        hearth_buf *user)
{
    const char *sys = hearth_job_param_get(job, "system");
    /* the param comes first: it is the customer's standing instruction,
     * marked inputs add to it */
    if (sys)
        join(system, sys, strlen(sys));
    for (size_t i = 0; i < job->ninputs; i++) {
        const hearth_job_input *in = &job->inputs[i];
        join(is_system(in) ? system : user, in->value, in->len);
    }
    hearth_buf_add(system, "", 0);   /* NUL-terminated even when empty */
    hearth_buf_add(user, "", 0);
    return hearth_buf_error(system) ? hearth_buf_error(system)
                                    : hearth_buf_error(user);
}

static int add_message(json_t *msgs, const char *role, const hearth_buf *b)
{
    json_t *m = json_object();
    json_t *c = json_stringn(b->p, b->len);
    if (!m || !c || json_object_set_new(m, "role", json_string(role)) ||
        json_object_set_new(m, "content", c) ||
        json_array_append_new(msgs, m)) {
        if (!m)
            json_decref(c);
        json_decref(m);
        return HEARTH_ENOMEM;
    }
    return HEARTH_OK;
}

int hearth_oai_request(const hearth_oai_job *p, const hearth_buf *system,
                       const hearth_buf *user, hearth_buf *body)
{
    json_t *j = json_object(), *msgs = json_array(), *so = json_object();
    int bad = !j || !msgs || !so;
    if (!bad && system->len)
        bad |= add_message(msgs, "system", system) != HEARTH_OK;
    if (!bad)
        bad |= add_message(msgs, "user", user) != HEARTH_OK;
    if (!bad) {
        bad |= json_object_set_new(j, "model", json_string(p->model));
        bad |= json_object_set(j, "messages", msgs);
        bad |= json_object_set_new(j, "stream", json_true());
        /* the backend then ends the stream with a usage chunk */
        bad |= json_object_set_new(so, "include_usage", json_true());
        bad |= json_object_set(j, "stream_options", so);
        bad |= json_object_set_new(j, "max_tokens",
                                   json_integer(p->max_tokens));
    }
    if (!bad && p->has_temperature)
        bad |= json_object_set_new(j, "temperature",
                                   json_real(p->temperature));
    if (!bad && p->has_top_p)
        bad |= json_object_set_new(j, "top_p", json_real(p->top_p));
    if (!bad && p->has_seed)
        bad |= json_object_set_new(j, "seed",
                                   json_integer((json_int_t)p->seed));
    /* 15 digits: 0.7 goes out as 0.7, not 0.69999999999999996 */
    char *s = bad ? NULL : json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(msgs);
    json_decref(so);
    json_decref(j);
    if (!s)
        return HEARTH_ENOMEM;
    hearth_buf_adds(body, s);
    free(s);
    return hearth_buf_error(body);
}

/* ---- the ops ---- */

static int op_describe(void *self, hearth_runner_desc *out)
{
    hearth_oai_runner *r = self;
    char why[HEARTH_RUNNER_WHY_MAX];
    int rc = HEARTH_OK;
    out->name = "openai";
    out->backend = HEARTH_BACKEND_OPENAI;
    out->nkinds = 1;
    out->kinds[0] = HEARTH_OAI_KIND;
    out->slots = r->o.slots;
    out->gpu = r->o.gpu;
    out->bench_tokens_s = r->o.tokens_s;
    pthread_mutex_lock(&r->lock);
    if (r->measured_tokens_s)
        out->bench_tokens_s = r->measured_tokens_s;
    pthread_mutex_unlock(&r->lock);
    /* a backend that is down now keeps the last list it gave: the offer
     * should not flap with one missed request */
    if (!r->nfixed && refresh_models(r, why, sizeof why)) {
        pthread_mutex_lock(&r->lock);
        rc = r->listed ? HEARTH_OK : HEARTH_EIO;
        pthread_mutex_unlock(&r->lock);
    }
    long n = offered(r, out->models);
    out->nmodels = n > 0 ? (size_t)n : 0;
    return rc;
}

static int op_check(void *self, const hearth_runner_job *job, char *why,
                    size_t whylen)
{
    hearth_oai_job p;
    return hearth_oai_prepare(self, job, &p, why, whylen);
}

static int op_estimate(void *self, const hearth_runner_job *job,
                       hearth_usage *usage, uint32_t *ms)
{
    hearth_oai_runner *r = self;
    hearth_oai_job p;
    char why[HEARTH_RUNNER_WHY_MAX];
    int rc = hearth_oai_prepare(r, job, &p, why, sizeof why);
    if (rc)
        return rc;
    usage->tokens_in = p.tokens_in;
    usage->tokens_out = p.max_tokens;
    /* generation dominates; reading the prompt runs about ten times as
     * fast as writing on llama.cpp and vLLM */
    uint64_t work = p.max_tokens + p.tokens_in / 10;
    uint64_t t = work * 1000 / hearth_oai_tokens_s(r);
    *ms = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
    return HEARTH_OK;
}

static int op_run(void *self, const hearth_runner_job *job,
                  const hearth_runner_io *io, hearth_runner_result *res)
{
    return hearth_oai_run(self, job, io, res);
}

static int op_health(void *self, char *why, size_t whylen)
{
    hearth_oai_runner *r = self;
    char names[HEARTH_OFFER_MAX_MODELS][HEARTH_OFFER_NAME_MAX];
    size_t n;
    if (r->nfixed)
        return fetch_models(r, names, &n, why, whylen);
    return refresh_models(r, why, whylen);
}

static void op_free(void *self)
{
    hearth_oai_runner *r = self;
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r->base);
    free(r->origin);
    if (r->auth)   /* holds the API key */
        memset(r->auth, 0, strlen(r->auth));
    free(r->auth);
    free(r->default_model);
    free(r);
}

static const hearth_runner_ops openai_ops = {
    op_describe, op_check, op_estimate, op_run, op_health, op_free,
};

/* ---- setup ---- */

/* libcurl wants curl_global_init once before any handle exists, and it
 * is not safe to race with other threads starting up; pthread_once gives
 * exactly one call however many runners are made, with no mutable global
 * of ours. It is never undone: the process keeps libcurl until exit. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* scheme://host:port of base_url, without user or password, for the
 * sentences customers and operators read. */
static int make_origin(const char *base, char **out)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = HEARTH_EINVAL;
    if (u && !curl_url_set(u, CURLUPART_URL, base, 0) &&
        !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
        !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
        !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) &&
        (!strcmp(scheme, "http") || !strcmp(scheme, "https"))) {
        hearth_buf b = HEARTH_BUF_INIT;
        hearth_buf_addf(&b, "%s://%s:%s", scheme, host, port);
        rc = hearth_buf_error(&b);
        *out = rc ? NULL : b.p;
        if (rc)
            hearth_buf_free(&b);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

static int copy_opts(hearth_oai_runner *r, const hearth_openai_runner_opts *o)
{
    r->o = *o;
    r->o.base_url = r->o.api_key = r->o.default_model = NULL;
    r->o.models = NULL;
    if (!o->base_url || !*o->base_url || o->nmodels > HEARTH_OFFER_MAX_MODELS ||
        !o->max_tokens || !o->slots || !o->max_output || !o->idle_timeout_ms ||
        !o->connect_timeout_ms || !o->health_timeout_ms || !o->max_input)
        return HEARTH_EINVAL;
    if (o->default_model &&
        !model_name_ok(o->default_model, strlen(o->default_model)))
        return HEARTH_EINVAL;
    for (size_t i = 0; i < o->nmodels; i++) {
        if (!o->models[i] || !model_name_ok(o->models[i], strlen(o->models[i])))
            return HEARTH_EINVAL;
        memcpy(r->fixed[i], o->models[i], strlen(o->models[i]) + 1);
    }
    r->nfixed = o->nmodels;
    size_t n = strlen(o->base_url);
    while (n && o->base_url[n - 1] == '/')
        n--;
    if (!(r->base = strndup(o->base_url, n)))
        return HEARTH_ENOMEM;
    int rc = make_origin(r->base, &r->origin);
    if (rc)
        return rc;
    if (o->default_model && !(r->default_model = strdup(o->default_model)))
        return HEARTH_ENOMEM;
    if (o->api_key && *o->api_key) {
        if (strpbrk(o->api_key, "\r\n"))
            return HEARTH_EINVAL;   /* would split the header */
        hearth_buf b = HEARTH_BUF_INIT;
        hearth_buf_addf(&b, "Authorization: Bearer %s", o->api_key);
        if (hearth_buf_error(&b))
            return HEARTH_ENOMEM;
        r->auth = b.p;
    }
    return HEARTH_OK;
}

int hearth_runner_openai_new(const hearth_openai_runner_opts *o,
                             hearth_runner **out)
{
    hearth_openai_runner_opts def;
    *out = NULL;
    if (!o) {
        hearth_openai_runner_opts_default(&def);
        o = &def;
    }
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return HEARTH_EIO;
    hearth_oai_runner *r = calloc(1, sizeof *r);
    hearth_runner *run = calloc(1, sizeof *run);
    if (!r || !run || pthread_mutex_init(&r->lock, NULL)) {
        free(r);
        free(run);
        return HEARTH_ENOMEM;
    }
    int rc = copy_opts(r, o);
    if (rc) {
        op_free(r);
        free(run);
        return rc;
    }
    run->ops = &openai_ops;
    run->self = r;
    *out = run;
    return HEARTH_OK;
}
