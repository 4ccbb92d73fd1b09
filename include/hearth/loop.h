/* The one event loop: a libwebsockets context shared by the relay server
 * and the relay pool (client), each of which adds its own vhost and
 * protocol. Everything network-facing runs on the thread that calls
 * hearth_loop_run; other threads hand work back with hearth_loop_wake,
 * which makes libwebsockets deliver LWS_CALLBACK_EVENT_WAIT_CANCELLED to
 * every protocol on that thread. */
#ifndef HEARTH_LOOP_H
#define HEARTH_LOOP_H

struct lws_context;
typedef struct hearth_loop hearth_loop;

int hearth_loop_new(hearth_loop **out);
/* The underlying context, for lws_create_vhost / lws_client_connect_via_info
 * / lws_sul_schedule. Valid until hearth_loop_free. */
struct lws_context *hearth_loop_lws(hearth_loop *l);
/* Serve until hearth_loop_stop; returns HEARTH_OK or HEARTH_EIO. */
int hearth_loop_run(hearth_loop *l);
/* Ask the loop to return. Safe from any thread and from a signal handler
 * (it only sets a flag and calls lws_cancel_service). */
void hearth_loop_stop(hearth_loop *l);
int hearth_loop_stopping(const hearth_loop *l);
/* Wake the loop thread from another thread. */
void hearth_loop_wake(hearth_loop *l);
void hearth_loop_free(hearth_loop *l);

#endif
