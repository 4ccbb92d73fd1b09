/* Drives the relay pool library directly for what the command line cannot
 * show (tests/interop/pool_subs.mjs runs it):
 *
 *   pool_driver subs URL N
 *     N subscriptions at once ({"#t":["sub<i>"]}); each is closed
 *     (hearth_pool_unsub) when it reaches EOSE. With a relay whose NIP-11
 *     max_subscriptions is below N, the rest must wait their turn and
 *     still all finish. Prints "eose <i> <events>" per subscription.
 *   pool_driver shutdown URL...
 *     subscribes and publishes against the relays (which may hang or be
 *     down), then frees the pool after 1 s and prints the ms it took.
 */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/filter.h"
#include "hearth/keys.h"
#include "hearth/loop.h"
#include "hearth/pool.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct drv {
    hearth_loop *loop;
    hearth_pool *pool;
    int n, done;
    int events[64];
    lws_sorted_usec_list_t timer;
};

struct one {
    struct drv *d;
    int i;
};

static int on_event(hearth_sub *s, const hearth_event *ev, const char *relay,
                    void *user)
{
    struct one *o = user;
    o->d->events[o->i]++;
    return 0;
}

static void on_state(hearth_sub *s, const char *relay,
                     enum hearth_sub_state st, const char *message, void *user)
{
    if (getenv("POOL_DRIVER_DEBUG"))
        fprintf(stderr, "sub %d at %s: state %d %s\n",
                ((struct one *)user)->i, relay, (int)st, message);
}

static void on_all_eose(hearth_sub *s, void *user)
{
    struct one *o = user;
    printf("eose %d %d\n", o->i, o->d->events[o->i]);
    fflush(stdout);
    hearth_pool_unsub(s); /* frees the relay's slot for the next REQ */
    if (++o->d->done == o->d->n)
        hearth_loop_stop(o->d->loop);
}

static void stop_cb(lws_sorted_usec_list_t *sul)
{
    struct drv *d = lws_container_of(sul, struct drv, timer);
    hearth_loop_stop(d->loop);
}

static int subs(struct drv *d, const char *url, int n)
{
    static struct one ones[64];
    hearth_sub_cbs cbs = {on_event, on_state, on_all_eose};
    if (hearth_pool_add_relay(d->pool, url, NULL))
        return 1;
    d->n = n;
    for (int i = 0; i < n; i++) {
        char json[64];
        hearth_filter *f = NULL;
        hearth_sub *s = NULL;
        snprintf(json, sizeof json, "{\"#t\":[\"sub%d\"]}", i);
        ones[i] = (struct one){d, i};
        if (hearth_filter_parse(json, strlen(json), &f, NULL) ||
            hearth_pool_sub(d->pool, &f, 1, &cbs, &ones[i], &s))
            return 1;
        hearth_filter_free(f);
    }
    lws_sul_schedule(hearth_loop_lws(d->loop), 0, &d->timer, stop_cb,
                     20 * LWS_US_PER_SEC);
    hearth_loop_run(d->loop);
    lws_sul_cancel(&d->timer);
    return d->done == n ? 0 : 1;
}

static void on_pub(const uint8_t id[32], const char *relay,
                   enum hearth_pub_result r, const char *msg, void *user)
{
}

static int shutdown_test(struct drv *d, int argc, char **argv)
{
    hearth_sub_cbs cbs = {on_event, NULL, NULL};
    struct one o = {d, 0};
    hearth_filter *f = NULL;
    hearth_sub *s = NULL;
    hearth_event *ev = NULL;
    uint8_t sk[32];
    for (int i = 0; i < argc; i++)
        if (hearth_pool_add_relay(d->pool, argv[i], NULL))
            return 1;
    if (hearth_filter_parse("{\"kinds\":[1]}", 13, &f, NULL) ||
        hearth_pool_sub(d->pool, &f, 1, &cbs, &o, &s))
        return 1;
    hearth_filter_free(f);
    hearth_key_generate(sk);
    if (hearth_event_new(1, (int64_t)time(NULL), "bye", 3, &ev) ||
        hearth_event_sign(ev, sk) ||
        hearth_pool_publish(d->pool, ev, on_pub, NULL))
        return 1;
    hearth_event_free(ev);
    lws_sul_schedule(hearth_loop_lws(d->loop), 0, &d->timer, stop_cb,
                     LWS_US_PER_SEC);
    hearth_loop_run(d->loop);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    hearth_pool_free(d->pool);
    d->pool = NULL;
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("free_ms %ld\n", (long)((b.tv_sec - a.tv_sec) * 1000 +
                                   (b.tv_nsec - a.tv_nsec) / 1000000));
    return 0;
}

int main(int argc, char **argv)
{
    struct drv d;
    hearth_pool_opts o;
    memset(&d, 0, sizeof d);
    if (argc < 3) {
        fprintf(stderr, "usage: pool_driver subs URL N | shutdown URL...\n");
        return 2;
    }
    hearth_pool_opts_default(&o);
    if (hearth_loop_new(&d.loop) || hearth_pool_new(d.loop, &o, &d.pool))
        return 3;
    int rc;
    if (!strcmp(argv[1], "subs") && argc == 4)
        rc = subs(&d, argv[2], atoi(argv[3]) > 64 ? 64 : atoi(argv[3]));
    else if (!strcmp(argv[1], "shutdown"))
        rc = shutdown_test(&d, argc - 2, argv + 2);
    else
        rc = 2;
    hearth_pool_free(d.pool);
    hearth_loop_free(d.loop);
    return rc;
}
