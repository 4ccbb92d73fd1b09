/* A relay on a loopback port for test_sync.c (see sync_relay.c). */
#ifndef SYNC_RELAY_H
#define SYNC_RELAY_H

#include "hearth/loop.h"

struct test_relay;

/* store in dir, discovery policy, kernel-chosen port; NULL on failure */
struct test_relay *test_relay_start(hearth_loop *loop, const char *dir,
                                    int *port);
/* after hearth_loop_run returned, before hearth_loop_free */
void test_relay_stop(struct test_relay *t);
/* after hearth_loop_free */
void test_relay_free(struct test_relay *t);

#endif
