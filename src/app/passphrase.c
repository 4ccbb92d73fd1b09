/* Passphrases for encrypted keys (NIP-49): $HEARTH_PASSPHRASE, else a
 * prompt on the controlling terminal with echo off. ISIG is off too, so
 * Ctrl-C cannot kill us and leave the terminal without echo: a ^C in the
 * line (or ^D, EOF) cancels the prompt instead. */
#include "cli.h"
#include "hearth/error.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define NO_SOURCE "the key is encrypted (ncryptsec) and there is no " \
                  "terminal to ask the passphrase on: set HEARTH_PASSPHRASE"

static int from_env(const char *env, char *buf, size_t cap, const char **why)
{
    size_t n = strlen(env);
    if (n >= cap) {
        *why = "HEARTH_PASSPHRASE is longer than 1024 bytes";
        return HEARTH_ETOOBIG;
    }
    memcpy(buf, env, n + 1);
    return HEARTH_OK;
}

/* one line from fd (echo already off); 0 at newline, else an error */
static int read_tty_line(int fd, char *buf, size_t cap, const char **why)
{
    size_t n = 0;
    char c;
    for (;;) {
        ssize_t r = read(fd, &c, 1);
        if (r <= 0 || c == 3 || c == 4) {
            *why = "passphrase prompt cancelled";
            return HEARTH_ECANCELED;
        }
        if (c == '\n' || c == '\r')
            break;
        if (n + 1 < cap)
            buf[n] = c;
        n++;
    }
    if (n + 1 > cap) {
        sodium_memzero(buf, cap);
        *why = "passphrase longer than 1024 bytes";
        return HEARTH_ETOOBIG;
    }
    buf[n] = '\0';
    return HEARTH_OK;
}

static int prompt(int fd, const char *text, char *buf, size_t cap,
                  const char **why)
{
    struct termios old, quiet;
    if (tcgetattr(fd, &old) != 0) {
        *why = NO_SOURCE;
        return HEARTH_EIO;
    }
    quiet = old;
    /* canonical mode stays on: backspace still edits the line */
    quiet.c_lflag &= (tcflag_t) ~(ECHO | ISIG);
    if (write(fd, text, strlen(text)) < 0 ||
        tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        *why = NO_SOURCE;
        return HEARTH_EIO;
    }
    int rc = read_tty_line(fd, buf, cap, why);
    tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0) {
        /* only cosmetic: the typed newline was not echoed */
    }
    return rc;
}

static int ask_twice(int fd, const char *text, char *buf, size_t cap,
                     const char **why)
{
    char again[1026];
    int rc = prompt(fd, text, buf, cap, why);
    if (rc == HEARTH_OK)
        rc = prompt(fd, "Repeat the passphrase: ", again, sizeof again, why);
    if (rc == HEARTH_OK && strcmp(buf, again) != 0) {
        *why = "the two passphrases differ";
        rc = HEARTH_EINVAL;
    }
    sodium_memzero(again, sizeof again);
    return rc;
}

int cli_passphrase(const char *text, int confirm, char *buf, size_t cap,
                   const char **why)
{
    const char *env = getenv("HEARTH_PASSPHRASE");
    if (env)
        return from_env(env, buf, cap, why);
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        *why = NO_SOURCE;
        return HEARTH_EIO;
    }
    int rc = confirm ? ask_twice(fd, text, buf, cap, why)
                     : prompt(fd, text, buf, cap, why);
    close(fd);
    if (rc)
        sodium_memzero(buf, cap);
    return rc;
}

int cli_passphrase_cb(void *ctx, char *buf, size_t cap, const char **why)
{
    (void)ctx;
    return cli_passphrase("Passphrase for the encrypted key: ", 0, buf, cap,
                          why);
}
