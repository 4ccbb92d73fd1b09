/* `hearth relay` (the library) for test_sync.c: in a file of its own
 * because relay.h and pool.h both define hearth_relay_stats, so one
 * translation unit cannot include both. */
#include "hearth/error.h"
#include "hearth/relay.h"
#include "hearth/store.h"

#include <stdlib.h>

#include "sync_relay.h"

struct test_relay {
    hearth_store *store;
    hearth_relay *relay;
};

struct test_relay *test_relay_start(hearth_loop *loop, const char *dir,
                                    int *port)
{
    hearth_relay_opts ro;
    struct test_relay *t = calloc(1, sizeof *t);
    if (!t || hearth_store_open(dir, NULL, &t->store)) {
        free(t);
        return NULL;
    }
    hearth_relay_opts_init(&ro);
    ro.port = 0;
    ro.threads = 0;
    ro.policy.discovery = 1;
    if (hearth_relay_new(loop, t->store, &ro, &t->relay)) {
        hearth_store_close(t->store);
        free(t);
        return NULL;
    }
    *port = hearth_relay_port(t->relay);
    return t;
}

void test_relay_stop(struct test_relay *t)
{
    hearth_relay_stop(t->relay);
}

void test_relay_free(struct test_relay *t)
{
    hearth_relay_free(t->relay);
    hearth_store_close(t->store);
    free(t);
}
