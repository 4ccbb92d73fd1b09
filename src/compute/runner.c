/* The runner interface: dispatch to a runner's operations, and the small
 * helpers every runner shares. */
#include "hearth/runner.h"

#include <stdlib.h>
#include <string.h>

#include "hearth/error.h"

const char *hearth_job_param_get(const hearth_runner_job *job,
                                 const char *key)
{
    for (size_t i = 0; i < job->nparams; i++)
        if (job->params[i].key && !strcmp(job->params[i].key, key))
            return job->params[i].value;
    return NULL;
}

void hearth_runner_result_init(hearth_runner_result *r)
{
    memset(r, 0, sizeof *r);
    hearth_buf_init(&r->output);
}

void hearth_runner_result_free(hearth_runner_result *r)
{
    hearth_buf_free(&r->output);
}

int hearth_runner_describe(hearth_runner *r, hearth_runner_desc *out)
{
    memset(out, 0, sizeof *out);
    return r->ops->describe(r->self, out);
}

static void set_why(char *why, size_t whylen, const char *s)
{
    if (why && whylen) {
        strncpy(why, s, whylen - 1);
        why[whylen - 1] = 0;
    }
}

int hearth_runner_check(hearth_runner *r, const hearth_runner_job *job,
                        char *why, size_t whylen)
{
    set_why(why, whylen, "");
    if (!r->ops->check)
        return HEARTH_OK;
    return r->ops->check(r->self, job, why, whylen);
}

int hearth_runner_estimate(hearth_runner *r, const hearth_runner_job *job,
                           hearth_usage *usage, uint32_t *ms)
{
    memset(usage, 0, sizeof *usage);
    usage->jobs = 1;
    *ms = 0;
    if (!r->ops->estimate)
        return HEARTH_OK;
    return r->ops->estimate(r->self, job, usage, ms);
}

int hearth_runner_run(hearth_runner *r, const hearth_runner_job *job,
                      const hearth_runner_io *io, hearth_runner_result *res)
{
    static const hearth_runner_io none;
    int rc = r->ops->run(r->self, job, io ? io : &none, res);
    if (rc != HEARTH_OK && !res->error[0])
        /* a runner that forgot to say why still gives the customer a
         * sentence, never an empty error */
        set_why(res->error, sizeof res->error, hearth_strerror(rc));
    return rc;
}

int hearth_runner_health(hearth_runner *r, char *why, size_t whylen)
{
    set_why(why, whylen, "");
    if (!r->ops->health)
        return HEARTH_OK;
    return r->ops->health(r->self, why, whylen);
}

void hearth_runner_free(hearth_runner *r)
{
    if (!r)
        return;
    if (r->ops->free)
        r->ops->free(r->self);
    free(r);
}
