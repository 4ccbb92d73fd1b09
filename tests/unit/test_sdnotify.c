/* sd_notify without libsystemd (src/app/sdnotify.c): datagrams reach a
 * socket named like systemd names it, path and abstract; the watchdog
 * interval is read only when meant for this process. */
#include "tap.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "app/sdnotify.h"

static int listen_at(const char *name, int abstract)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t n = strlen(name);
    memcpy(sa.sun_path + abstract, name, n);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                n + abstract);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len))
        return -1;
    return fd;
}

static int got(int fd, const char *want)
{
    char buf[128];
    ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n < 0)
        return 0;
    buf[n] = '\0';
    return !strcmp(buf, want);
}

int main(void)
{
    char path[200], env[160];
    unsetenv("NOTIFY_SOCKET");
    CHECK(sd_notify_send("READY=1") == 0);
    snprintf(path, sizeof path, "/tmp/hearth-notify-%d", (int)getpid());
    unlink(path);
    int fd = listen_at(path, 0);
    CHECK(fd >= 0);
    setenv("NOTIFY_SOCKET", path, 1);
    CHECK(sd_notify_send("READY=1") == 1 && got(fd, "READY=1"));
    CHECK(sd_notify_send("WATCHDOG=1") == 1 && got(fd, "WATCHDOG=1"));
    close(fd);
    unlink(path);
    snprintf(env, sizeof env, "hearth-notify-abs-%d", (int)getpid());
    fd = listen_at(env, 1);
    snprintf(path, sizeof path, "@%s", env);
    setenv("NOTIFY_SOCKET", path, 1);
    CHECK(fd >= 0 && sd_notify_send("STOPPING=1") == 1 &&
          got(fd, "STOPPING=1"));
    close(fd);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    CHECK(sd_notify_send("READY=1") == -1);
    unsetenv("WATCHDOG_USEC");
    CHECK(sd_watchdog_usec() == 0);
    setenv("WATCHDOG_USEC", "30000000", 1);
    unsetenv("WATCHDOG_PID");
    CHECK(sd_watchdog_usec() == 30000000);
    snprintf(env, sizeof env, "%d", (int)getpid());
    setenv("WATCHDOG_PID", env, 1);
    CHECK(sd_watchdog_usec() == 30000000);
    setenv("WATCHDOG_PID", "1", 1);
    CHECK(sd_watchdog_usec() == 0);
    setenv("WATCHDOG_PID", env, 1);
    setenv("WATCHDOG_USEC", "soon", 1);
    CHECK(sd_watchdog_usec() == 0);
    return tap_done();
}
