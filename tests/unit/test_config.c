/* The configuration file reader (src/app/config.c): syntax, quoting,
 * comments, bounds and errors that name the line. */
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/config.h"
#include "tmpdir.h"

static int parse(const char *text, struct config *c, char *err)
{
    return config_parse(text, strlen(text), c, err, CONFIG_ERR_MAX);
}

static void test_good(void)
{
    struct config c;
    char err[CONFIG_ERR_MAX] = "";
    const char *t = "# hearth\n\n"
                    "relay = wss://relay.example.com\r\n"
                    "  relay=ws://127.0.0.1:7447   # local\n"
                    "name = \"  Bob's rig \\\"4090\\\" \"  # quoted\n"
                    "credit-limit\t=\t20000\n"
                    "runner = pow,threads=2";
    CHECKF(parse(t, &c, err) == 0, "%s", err);
    CHECK(c.n == 5);
    CHECK(!strcmp(c.e[0].key, "relay") && c.e[0].line == 3 &&
          !strcmp(c.e[0].value, "wss://relay.example.com"));
    /* an unquoted value keeps everything after '=': a '#' is data */
    CHECK(!strcmp(c.e[1].value, "ws://127.0.0.1:7447   # local"));
    CHECK(!strcmp(c.e[2].value, "  Bob's rig \"4090\" ") &&
          c.e[2].line == 5);
    CHECK(!strcmp(c.e[3].key, "credit-limit") &&
          !strcmp(c.e[3].value, "20000"));
    CHECK(!strcmp(c.e[4].value, "pow,threads=2") && c.e[4].line == 7);
    config_free(&c);
    CHECK(parse("", &c, err) == 0 && c.n == 0);
    config_free(&c);
}

static void bad(const char *text, const char *want)
{
    struct config c;
    char err[CONFIG_ERR_MAX] = "";
    CHECKF(parse(text, &c, err) == -1 && strstr(err, want), "%s -> %s",
           text, err);
    CHECK(c.e == NULL && c.mem == NULL && c.n == 0);
}

static void test_bad(void)
{
    bad("relay wss://x\n", "line 1: expected '=' after 'relay'");
    bad("\n\nRelay = x\n", "line 3: expected 'key = value'");
    bad("= x\n", "line 1: expected 'key = value'");
    bad("relay =   \n", "line 1: 'relay' has no value");
    bad("name = \"open\n", "line 1: unterminated");
    bad("name = \"a\" b\n", "line 1: unterminated or bad quoted");
    bad("name = \"a\\n\"\n", "line 1: unterminated or bad quoted");
    bad("a = 1\nb = x\001y\n", "line 2: control character 0x01");
    bad("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = 1\n", "at most 32");
    char *big = malloc(CONFIG_MAX_LINE + 16);
    memset(big, 'x', CONFIG_MAX_LINE + 8);
    memcpy(big, "name = ", 7);
    big[CONFIG_MAX_LINE + 8] = 0;
    bad(big, "line 1: longer than 1024 bytes");
    free(big);
    size_t n = (CONFIG_MAX_ENTRIES + 1) * 6;
    char *many = malloc(n + 1);
    for (size_t i = 0; i < CONFIG_MAX_ENTRIES + 1; i++)
        memcpy(many + 6 * i, "a = 1\n", 6);
    many[n] = 0;
    bad(many, "line 257: more than 256 settings");
    free(many);
    struct config c;
    char err[CONFIG_ERR_MAX];
    CHECK(config_parse("a = 1", CONFIG_MAX_BYTES + 1, &c, err, sizeof err) ==
          -1 && strstr(err, "larger than"));
    /* an embedded NUL is refused, not taken as the end */
    CHECK(config_parse("a = 1\0b = 2", 11, &c, err, sizeof err) == -1 &&
          strstr(err, "control character 0x00"));
}

static void test_load(void)
{
    char *dir = tap_tmpdir("config");
    char path[4200], err[CONFIG_ERR_MAX + 4200];
    struct config c;
    snprintf(path, sizeof path, "%s/hearth.conf", dir);
    CHECK(config_load(path, 1, &c, err, sizeof err) == 0 && c.n == 0);
    CHECK(config_load(path, 0, &c, err, sizeof err) == -1 &&
          strstr(err, "No such file"));
    FILE *f = fopen(path, "w");
    fputs("relay = ws://a\nport 7000\n", f);
    fclose(f);
    CHECK(config_load(path, 0, &c, err, sizeof err) == -1);
    CHECKF(strstr(err, "hearth.conf: line 2: expected '='") != NULL, "%s",
           err);
    f = fopen(path, "w");
    for (unsigned i = 0; i < CONFIG_MAX_BYTES / 8 + 8; i++)
        fputs("# pad..\n", f);
    fclose(f);
    CHECK(config_load(path, 0, &c, err, sizeof err) == -1 &&
          strstr(err, "larger than"));
    tap_rmtree(dir);
    free(dir);
}

static void test_paths(void)
{
    char buf[512];
    setenv("HEARTH_CONFIG", "/etc/hearth/x.conf", 1);
    CHECK(!strcmp(config_default_path(buf, sizeof buf), "/etc/hearth/x.conf"));
    unsetenv("HEARTH_CONFIG");
    setenv("XDG_CONFIG_HOME", "/tmp/xdg", 1);
    CHECK(!strcmp(config_default_path(buf, sizeof buf),
                  "/tmp/xdg/hearth/hearth.conf"));
    setenv("XDG_CONFIG_HOME", "relative", 1); /* the spec says ignore it */
    setenv("HOME", "/home/a", 1);
    CHECK(!strcmp(config_default_path(buf, sizeof buf),
                  "/home/a/.config/hearth/hearth.conf"));
    CHECK(config_default_path(buf, 8) == NULL);
    static const char *const known[] = {"relay", "runner", "credit-limit",
                                        "price-mhash"};
    CHECK(!strcmp(config_suggest("relays", known, 4), "relay"));
    CHECK(!strcmp(config_suggest("credit-limt", known, 4), "credit-limit"));
    CHECK(config_suggest("wallet", known, 4) == NULL);
}

int main(void)
{
    test_good();
    test_bad();
    test_load();
    test_paths();
    return tap_done();
}
