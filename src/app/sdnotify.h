/* systemd's readiness and watchdog protocol (sd_notify(3)), spoken
 * directly: one datagram to $NOTIFY_SOCKET. A few lines instead of a
 * dependency on libsystemd; outside systemd every call is a no-op. */
#ifndef HEARTH_APP_SDNOTIFY_H
#define HEARTH_APP_SDNOTIFY_H

#include <stdint.h>

/* Send state ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=..."):
 * 1 sent, 0 not under systemd, -1 error (errno). */
int sd_notify_send(const char *state);
/* The watchdog interval systemd expects pings at, in microseconds, when
 * it is meant for this process ($WATCHDOG_USEC, $WATCHDOG_PID); 0 if
 * none. Ping at half of it. */
uint64_t sd_watchdog_usec(void);

#endif
