#include "hearth/loop.h"
#include "hearth/error.h"

#include <libwebsockets.h>
#include <signal.h>
#include <stdlib.h>

struct hearth_loop {
    struct lws_context *ctx;
    volatile sig_atomic_t stop;
};

int hearth_loop_new(hearth_loop **out)
{
    struct lws_context_creation_info info;
    hearth_loop *l = calloc(1, sizeof *l);
    *out = NULL;
    if (!l)
        return HEARTH_ENOMEM;
    memset(&info, 0, sizeof info);
    /* vhosts (server listener, client pool) are added by their modules */
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.user = l;
    lws_set_log_level(LLL_ERR, NULL);
    l->ctx = lws_create_context(&info);
    if (!l->ctx) {
        free(l);
        return HEARTH_EIO;
    }
    *out = l;
    return HEARTH_OK;
}

struct lws_context *hearth_loop_lws(hearth_loop *l)
{
    return l->ctx;
}

int hearth_loop_run(hearth_loop *l)
{
    while (!l->stop)
        if (lws_service(l->ctx, 0) < 0)
            return HEARTH_EIO;
    return HEARTH_OK;
}

void hearth_loop_stop(hearth_loop *l)
{
    l->stop = 1;
    lws_cancel_service(l->ctx);
}

int hearth_loop_stopping(const hearth_loop *l)
{
    return l->stop != 0;
}

void hearth_loop_wake(hearth_loop *l)
{
    lws_cancel_service(l->ctx);
}

void hearth_loop_free(hearth_loop *l)
{
    if (!l)
        return;
    lws_context_destroy(l->ctx);
    free(l);
}
