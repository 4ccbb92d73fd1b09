/* The configuration file (docs/configuration.md): one `key = value` per
 * line, keys the long options of `hearth run` without their dashes, so a
 * setting means the same in the file and on the command line and one
 * parser validates both. Untrusted input: bounded in size, lines and
 * entries; every error names the line. */
#ifndef HEARTH_APP_CONFIG_H
#define HEARTH_APP_CONFIG_H

#include <stddef.h>

#define CONFIG_MAX_BYTES (64u << 10)
#define CONFIG_MAX_LINE 1024u
#define CONFIG_MAX_ENTRIES 256u
#define CONFIG_KEY_MAX 32u
#define CONFIG_ERR_MAX 256u

struct config_entry {
    unsigned line;
    char key[CONFIG_KEY_MAX + 1];
    const char *value;            /* into config.mem, NUL-terminated */
};

struct config {
    struct config_entry *e;
    size_t n;
    char *mem;                    /* the values */
};

/* Parse text (need not be NUL-terminated). 0, or -1 with "line N: why"
 * in err. Blank lines and lines starting with '#' are ignored; a value may
 * be double-quoted to keep spaces at its ends ("\\" and "\"" escape). */
int config_parse(const char *text, size_t len, struct config *c, char *err,
                 size_t errlen);
/* Read and parse path. 0 (with n = 0 when the file does not exist and
 * missing_ok), or -1 with the error in err ("path: why" / "path:N: why"). */
int config_load(const char *path, int missing_ok, struct config *c,
                char *err, size_t errlen);
void config_free(struct config *c);
/* $HEARTH_CONFIG, else $XDG_CONFIG_HOME/hearth/hearth.conf, else
 * ~/.config/hearth/hearth.conf. NULL if it does not fit. */
const char *config_default_path(char *buf, size_t n);
/* The known key closest to key (at most two edits away), or NULL: for
 * "did you mean". */
const char *config_suggest(const char *key, const char *const *known,
                           size_t nknown);

#endif
