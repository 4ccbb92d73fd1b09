/* The exec runner: any job kind served by an external program speaking
 * the JSON-lines protocol of docs/runner-exec.md, each job in a fresh
 * sandbox (runner_exec_spawn.c) and conversation (runner_exec_io.c). */
#include "exec_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hearth/error.h"

#define PROTOCOL_VERSION 1
#define DESCRIBE_TIMEOUT_MS 10000
#define DIR_MAX 4096

typedef struct exec_runner {
    hearth_exec_runner_opts o;   /* limits; its pointers are not kept */
    char *program;
    char **args;                 /* NULL-terminated copy */
    char **hidden;               /* NULL-terminated copy */
    size_t nkinds;
    uint32_t kinds[HEARTH_RUNNER_MAX_KINDS];
    size_t nmodels;
    char models[HEARTH_OFFER_MAX_MODELS][HEARTH_OFFER_NAME_MAX];
    int gpu;
    atomic_int mode;             /* hearth_exec_sandbox of the last start */
} exec_runner;

static const hearth_runner_ops exec_ops;

void hearth_exec_runner_opts_default(hearth_exec_runner_opts *o)
{
    memset(o, 0, sizeof *o);
    o->time_limit_ms = 60000;
    o->mem_limit = 1ull << 30;
    o->cpu_limit_s = 60;
    o->max_output = 8ull << 20;
    o->max_procs = 64;
    o->slots = 1;
    o->max_file = 256ull << 20;
    o->max_files = 256;
}

/* ---- copies of the caller's strings ---- */

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static int strv_copy(const char *const *src, char ***out)
{
    size_t n = 0;
    while (src && src[n])
        n++;
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return HEARTH_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = strdup(src[i]))) {
            strv_free(v);
            return HEARTH_ENOMEM;
        }
    *out = v;
    return HEARTH_OK;
}

/* ---- one start of the program ---- */

typedef struct exec_call {
    char dir[DIR_MAX];
    char *env[5];
    char **argv;
    hearth_exec_spawn spawn;
} exec_call;

static void call_free(exec_call *k)
{
    for (size_t i = 0; i < 5; i++)
        free(k->env[i]);
    free(k->argv);   /* its strings belong to the runner */
    if (k->dir[0])
        hearth_exec_rmtree(k->dir);
}

static char *env_var(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s=%s", name, value);
    return s;
}

/* Prepare everything the child needs: argv, a clean environment and the
 * job directory, which is also HOME and TMPDIR. extra is appended to
 * argv (--describe), or NULL. */
static int call_init(exec_runner *r, exec_call *k, const char *extra,
                     uint64_t mem_limit)
{
    memset(k, 0, sizeof *k);
    int rc = hearth_exec_tmpdir(k->dir, sizeof k->dir);
    if (rc != HEARTH_OK) {
        k->dir[0] = 0;
        return rc;
    }
    size_t nargs = 0;
    while (r->args[nargs])
        nargs++;
    k->argv = calloc(nargs + 3, sizeof *k->argv);
    k->env[0] = env_var("PATH", "/usr/bin:/bin");
    k->env[1] = env_var("HOME", k->dir);
    k->env[2] = env_var("TMPDIR", k->dir);
    k->env[3] = env_var("LANG", "C.UTF-8");
    if (!k->argv || !k->env[0] || !k->env[1] || !k->env[2] || !k->env[3])
        return HEARTH_ENOMEM;
    k->argv[0] = r->program;
    for (size_t i = 0; i < nargs; i++)
        k->argv[i + 1] = r->args[i];
    k->argv[nargs + 1] = (char *)extra;
    hearth_exec_spawn *s = &k->spawn;
    s->program = r->program;
    s->argv = k->argv;
    s->envp = k->env;
    s->cwd = k->dir;
    s->hidden = (const char *const *)r->hidden;
    s->namespaces = 1;
    s->network = r->o.allow_network;
    s->mem_limit = mem_limit;
    s->cpu_limit_s = r->o.cpu_limit_s;
    s->max_file = r->o.max_file;
    s->max_procs = r->o.max_procs;
    s->max_files = r->o.max_files;
    return HEARTH_OK;
}

static void note_mode(exec_runner *r, const hearth_exec_child *c)
{
    atomic_store(&r->mode, c->namespaces ? HEARTH_EXEC_SANDBOX_NAMESPACES
                                         : HEARTH_EXEC_SANDBOX_RLIMITS);
}

/* Why the program ended the way it did, when it gave no usable answer. */
static int exit_error(hearth_exec_talk *t, int status)
{
    char *why = t->res->error;
    size_t len = sizeof t->res->error;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU)
        snprintf(why, len, "the runner program used up its CPU time limit");
    else if (WIFSIGNALED(status))
        snprintf(why, len, "the runner program crashed (signal %d)",
                 WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0 &&
             t->final == HEARTH_EXEC_FINAL_RESULT)
        snprintf(why, len, "the runner program exited with status %d "
                 "after its result", WEXITSTATUS(status));
    else if (WEXITSTATUS(status) != 0)
        snprintf(why, len, "the runner program exited with status %d "
                 "without a result", WEXITSTATUS(status));
    else
        snprintf(why, len, "the runner program exited without a result");
    return HEARTH_EIO;
}

/* Map how the conversation ended to the run's return code. */
static int outcome(hearth_exec_talk *t, hearth_exec_child *c, int rc,
                   uint32_t time_ms)
{
    char *why = t->res->error;
    size_t len = sizeof t->res->error;
    if (rc == HEARTH_ECANCELED) {
        snprintf(why, len, "the job was cancelled");
        return rc;
    }
    if (rc == HEARTH_ETIMEDOUT) {
        snprintf(why, len, "the runner program did not finish within "
                 "its time limit of %u ms", (unsigned)time_ms);
        return rc;
    }
    if (rc != HEARTH_OK)
        return rc;   /* a protocol failure, already explained */
    if (t->final == HEARTH_EXEC_FINAL_ERROR)
        return t->error_rc;
    if (t->final == HEARTH_EXEC_FINAL_RESULT && WIFEXITED(c->status) &&
        WEXITSTATUS(c->status) == 0)
        return HEARTH_OK;
    return exit_error(t, c->status);
}

/* ---- the request line ---- */

static int set_new(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0 ? HEARTH_OK
                                                      : HEARTH_EINVAL;
}

static json_t *inputs_json(const hearth_runner_job *job)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < job->ninputs; i++) {
        const hearth_job_input *in = &job->inputs[i];
        json_t *o = json_object();
        if (!o || json_array_append_new(a, o) != 0 ||
            set_new(o, "value", json_stringn(in->value ? in->value : "",
                                             in->value ? in->len : 0)) ||
            set_new(o, "type", json_string(in->type ? in->type : "text")) ||
            set_new(o, "marker", json_string(in->marker ? in->marker : ""))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *params_json(const hearth_runner_job *job)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < job->nparams; i++) {
        const hearth_job_param *p = &job->params[i];
        /* the first of repeated keys wins, as in hearth_job_param_get */
        if (!p->key || !p->value || json_object_get(o, p->key))
            continue;
        if (set_new(o, p->key, json_string(p->value)) != HEARTH_OK) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* The one request line, newline included. HEARTH_EINVAL when a string is
 * not UTF-8 (JSON cannot carry it). */
static int request_line(const hearth_runner_job *job, uint32_t time_ms,
                        uint64_t mem, hearth_buf *out)
{
    json_t *root = json_object(), *limits = json_object();
    int rc = root && limits ? HEARTH_OK : HEARTH_ENOMEM;
    if (rc == HEARTH_OK)
        rc = set_new(root, "v", json_integer(PROTOCOL_VERSION));
    if (rc == HEARTH_OK)
        rc = set_new(root, "kind", json_integer(job->kind));
    if (rc == HEARTH_OK)
        rc = set_new(root, "inputs", inputs_json(job));
    if (rc == HEARTH_OK)
        rc = set_new(root, "params", params_json(job));
    if (rc == HEARTH_OK)
        rc = set_new(root, "output", job->output ? json_string(job->output)
                                                 : json_null());
    if (rc == HEARTH_OK)
        rc = set_new(limits, "time_ms", json_integer(time_ms));
    if (rc == HEARTH_OK)
        rc = set_new(limits, "mem", json_integer((json_int_t)mem));
    if (rc == HEARTH_OK) {
        rc = set_new(root, "limits", limits);
        limits = NULL;
    }
    char *text = rc == HEARTH_OK ? json_dumps(root, JSON_COMPACT) : NULL;
    if (rc == HEARTH_OK && !text)
        rc = HEARTH_ENOMEM;
    if (rc == HEARTH_OK) {
        hearth_buf_adds(out, text);
        hearth_buf_addc(out, '\n');
        rc = hearth_buf_error(out);
    }
    free(text);
    json_decref(limits);
    json_decref(root);
    return rc;
}

/* ---- run ---- */

static uint32_t job_time_ms(const exec_runner *r, const hearth_runner_job *j)
{
    /* the job may ask for less than the operator allows, never more */
    if (j->time_limit_ms && j->time_limit_ms < r->o.time_limit_ms)
        return j->time_limit_ms;
    return r->o.time_limit_ms;
}

static uint64_t job_mem(const exec_runner *r, const hearth_runner_job *j)
{
    if (j->mem_limit && j->mem_limit < r->o.mem_limit)
        return j->mem_limit;
    return r->o.mem_limit;
}

static int exec_run(void *self, const hearth_runner_job *job,
                    const hearth_runner_io *io, hearth_runner_result *res)
{
    exec_runner *r = self;
    uint32_t time_ms = job_time_ms(r, job);
    uint64_t mem = job_mem(r, job);
    hearth_buf req = HEARTH_BUF_INIT;
    int rc = request_line(job, time_ms, mem, &req);
    if (rc != HEARTH_OK) {
        hearth_buf_free(&req);
        snprintf(res->error, sizeof res->error, rc == HEARTH_EINVAL
                 ? "an input or param is not valid UTF-8"
                 : "out of memory while preparing the job");
        return rc;
    }
    exec_call k;
    hearth_exec_child c;
    rc = call_init(r, &k, NULL, mem);
    if (rc == HEARTH_OK)
        rc = hearth_exec_start(&k.spawn, &c, res->error, sizeof res->error);
    else
        snprintf(res->error, sizeof res->error,
                 "could not make the job's working directory");
    if (rc != HEARTH_OK) {
        call_free(&k);
        hearth_buf_free(&req);
        return rc == HEARTH_ENOMEM ? rc : HEARTH_EIO;
    }
    note_mode(r, &c);
    hearth_exec_talk t = {0};
    t.io = io;
    t.res = res;
    t.request = req.p;
    t.request_len = req.len;
    t.max_output = r->o.max_output;
    t.deadline_ms = hearth_exec_now_ms() + time_ms;
    rc = hearth_exec_talk_run(&t, &c);
    hearth_exec_stop(&c);
    rc = outcome(&t, &c, rc, time_ms);
    if (rc == HEARTH_OK)
        res->usage.jobs = 1;
    else
        hearth_buf_reset(&res->output);
    hearth_exec_talk_free(&t);
    call_free(&k);
    hearth_buf_free(&req);
    return rc;
}

/* ---- describe ---- */

static int take_kinds(exec_runner *r, json_t *kinds)
{
    size_t i;
    json_t *v;
    if (!json_is_array(kinds) || json_array_size(kinds) == 0 ||
        json_array_size(kinds) > HEARTH_RUNNER_MAX_KINDS)
        return HEARTH_EINVAL;
    json_array_foreach(kinds, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > UINT32_MAX)
            return HEARTH_EINVAL;
        r->kinds[i] = (uint32_t)json_integer_value(v);
    }
    r->nkinds = json_array_size(kinds);
    return HEARTH_OK;
}

static int take_models(exec_runner *r, json_t *models)
{
    size_t i;
    json_t *v;
    if (!models)
        return HEARTH_OK;
    if (!json_is_array(models) ||
        json_array_size(models) > HEARTH_OFFER_MAX_MODELS)
        return HEARTH_EINVAL;
    json_array_foreach(models, i, v) {
        if (!json_is_string(v) ||
            json_string_length(v) >= HEARTH_OFFER_NAME_MAX)
            return HEARTH_EINVAL;
        memcpy(r->models[i], json_string_value(v), json_string_length(v));
        r->models[i][json_string_length(v)] = 0;
    }
    r->nmodels = json_array_size(models);
    return HEARTH_OK;
}

static int take_description(exec_runner *r, json_t *d)
{
    json_t *v = json_object_get(d, "v");
    if (!json_is_integer(v) || json_integer_value(v) != PROTOCOL_VERSION)
        return HEARTH_EINVAL;
    int rc = take_kinds(r, json_object_get(d, "kinds"));
    if (rc == HEARTH_OK)
        rc = take_models(r, json_object_get(d, "models"));
    r->gpu = json_is_true(json_object_get(d, "gpu"));
    return rc;
}

/* Run `program ARGS... --describe` in the same sandbox as jobs. */
static int describe_program(exec_runner *r)
{
    exec_call k;
    hearth_exec_child c;
    hearth_runner_result res;
    hearth_runner_result_init(&res);
    int rc = call_init(r, &k, "--describe", r->o.mem_limit);
    if (rc == HEARTH_OK)
        rc = hearth_exec_start(&k.spawn, &c, res.error, sizeof res.error);
    if (rc != HEARTH_OK) {
        call_free(&k);
        return HEARTH_EIO;
    }
    note_mode(r, &c);
    static const hearth_runner_io none;
    hearth_exec_talk t = {0};
    t.io = &none;
    t.res = &res;
    t.describe = 1;
    t.max_output = HEARTH_EXEC_LINE_MAX;
    t.deadline_ms = hearth_exec_now_ms() + DESCRIBE_TIMEOUT_MS;
    rc = hearth_exec_talk_run(&t, &c);
    hearth_exec_stop(&c);
    if (rc == HEARTH_OK && (!t.described || !WIFEXITED(c.status) ||
                            WEXITSTATUS(c.status) != 0))
        rc = HEARTH_EIO;
    if (rc == HEARTH_OK)
        rc = take_description(r, t.described);
    hearth_exec_talk_free(&t);
    hearth_runner_result_free(&res);
    call_free(&k);
    return rc == HEARTH_ENOMEM ? rc : rc == HEARTH_OK ? rc : HEARTH_EIO;
}

/* Which sandbox this machine gives, found by setting one up without
 * running anything in it. */
static int probe_sandbox(exec_runner *r)
{
    exec_call k;
    hearth_exec_child c;
    char why[HEARTH_RUNNER_WHY_MAX];
    int rc = call_init(r, &k, NULL, r->o.mem_limit);
    if (rc == HEARTH_OK) {
        k.spawn.program = NULL;
        rc = hearth_exec_start(&k.spawn, &c, why, sizeof why);
    }
    if (rc == HEARTH_OK)
        note_mode(r, &c);
    call_free(&k);
    return rc;
}

/* ---- the other operations ---- */

static int exec_describe(void *self, hearth_runner_desc *out)
{
    exec_runner *r = self;
    out->name = "exec";
    out->backend = HEARTH_BACKEND_EXEC;
    out->nkinds = r->nkinds;
    memcpy(out->kinds, r->kinds, sizeof out->kinds);
    out->nmodels = r->nmodels;
    memcpy(out->models, r->models, sizeof out->models);
    out->slots = r->o.slots;
    out->gpu = r->gpu;
    return HEARTH_OK;
}

static int exec_check(void *self, const hearth_runner_job *job, char *why,
                      size_t whylen)
{
    exec_runner *r = self;
    for (size_t i = 0; i < r->nkinds; i++)
        if (r->kinds[i] == job->kind)
            return HEARTH_OK;
    snprintf(why, whylen, "kind %u is not served by this runner",
             (unsigned)job->kind);
    return HEARTH_EINVAL;
}

static int exec_health(void *self, char *why, size_t whylen)
{
    exec_runner *r = self;
    if (access(r->program, X_OK) == 0)
        return HEARTH_OK;
    snprintf(why, whylen, "the runner program %s cannot be run",
             r->program);
    return HEARTH_EIO;
}

static void exec_free(void *self)
{
    exec_runner *r = self;
    if (!r)
        return;
    free(r->program);
    strv_free(r->args);
    strv_free(r->hidden);
    free(r);
}

static const hearth_runner_ops exec_ops = {
    exec_describe, exec_check, NULL, exec_run, exec_health, exec_free
};

/* Zero means "the default" for every limit. */
static void fill_defaults(hearth_exec_runner_opts *o)
{
    hearth_exec_runner_opts d;
    hearth_exec_runner_opts_default(&d);
    if (!o->time_limit_ms) o->time_limit_ms = d.time_limit_ms;
    if (!o->mem_limit) o->mem_limit = d.mem_limit;
    if (!o->cpu_limit_s) o->cpu_limit_s = d.cpu_limit_s;
    if (!o->max_output) o->max_output = d.max_output;
    if (!o->max_procs) o->max_procs = d.max_procs;
    if (!o->slots) o->slots = d.slots;
    if (!o->max_file) o->max_file = d.max_file;
    if (!o->max_files) o->max_files = d.max_files;
}

static int runner_init(exec_runner *r, const hearth_exec_runner_opts *o)
{
    r->o = *o;
    fill_defaults(&r->o);
    r->o.program = NULL;
    r->o.args = r->o.hidden = NULL;
    r->o.kinds = NULL;
    atomic_init(&r->mode, HEARTH_EXEC_SANDBOX_RLIMITS);
    r->program = strdup(o->program);
    if (!r->program || strv_copy(o->args, &r->args) != HEARTH_OK ||
        strv_copy(o->hidden, &r->hidden) != HEARTH_OK)
        return HEARTH_ENOMEM;
    r->nkinds = o->nkinds;
    for (size_t i = 0; i < o->nkinds; i++)
        r->kinds[i] = o->kinds[i];
    int rc = probe_sandbox(r);
    if (rc == HEARTH_OK && !r->nkinds)
        rc = describe_program(r);
    return rc;
}

int hearth_runner_exec_new(const hearth_exec_runner_opts *o,
                           hearth_runner **out)
{
    *out = NULL;
    if (!o || !o->program || o->program[0] != '/' ||
        o->nkinds > HEARTH_RUNNER_MAX_KINDS || (o->nkinds && !o->kinds))
        return HEARTH_EINVAL;
    exec_runner *r = calloc(1, sizeof *r);
    hearth_runner *h = calloc(1, sizeof *h);
    int rc = r && h ? runner_init(r, o) : HEARTH_ENOMEM;
    if (rc != HEARTH_OK) {
        exec_free(r);
        free(h);
        return rc;
    }
    h->ops = &exec_ops;
    h->self = r;
    *out = h;
    return HEARTH_OK;
}

int hearth_exec_runner_sandbox(hearth_runner *r, hearth_exec_sandbox *mode)
{
    if (!r || r->ops != &exec_ops)
        return HEARTH_EINVAL;
    exec_runner *x = r->self;
    *mode = (hearth_exec_sandbox)atomic_load(&x->mode);
    return HEARTH_OK;
}
