/* The game guard (docs/guard.md). */
#include "hearth/guard.h"

#include <stdio.h>
#include <string.h>

#include "hearth/error.h"

/* Desktops keep a graphics context open all the time; these never mean a
 * game is running. */
static const char *const default_ignore[] = {
    "Xorg", "Xwayland", "gnome-shell", "kwin_x11", "kwin_wayland",
    "plasmashell", "sway", "mutter", "cinnamon", "xfwm4", "picom"};

void hearth_guard_opts_default(hearth_guard_opts *o)
{
    memset(o, 0, sizeof *o);
    o->quiet_s = 300;
    o->gpu_temp_max_c = 83;
    o->gpu_temp_resume_c = 75;
    o->gpu_foreign_util = 25;
    o->gpu_foreign_mem = 256ull << 20;
    o->cpu_foreign_pct = 40;
    for (size_t i = 0; i < sizeof default_ignore / sizeof *default_ignore;
         i++)
        snprintf(o->ignore[o->nignore++], HEARTH_GUARD_NAME_MAX, "%s",
                 default_ignore[i]);
}

static int two_digits(const char *s, unsigned max, unsigned *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    *out = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
    return *out > max ? -1 : 0;
}

static int hhmm(const char *s, uint16_t *min)
{
    unsigned h, m;
    if (two_digits(s, 24, &h) || s[2] != ':' || two_digits(s + 3, 59, &m) ||
        (h == 24 && m))
        return -1;
    *min = (uint16_t)(h * 60 + m);
    return 0;
}

int hearth_guard_window_parse(const char *s, hearth_guard_window *w,
                              const char **why)
{
    if (strlen(s) != 11 || s[5] != '-' || hhmm(s, &w->start) ||
        hhmm(s + 6, &w->end)) {
        *why = "allowed hours must look like 22:00-08:00 (24-hour clock)";
        return HEARTH_EINVAL;
    }
    if (w->start == w->end) {
        *why = "allowed hours start and end at the same time: leave the "
               "setting out to allow any time";
        return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

const char *hearth_guard_reason_name(int r)
{
    static const char *const names[] = {
        "none", "owner", "game", "gpu-busy", "cpu-busy", "hot", "power",
        "schedule"};
    return r >= 0 && r <= HEARTH_GUARD_SCHEDULE ? names[r] : "unknown";
}

void hearth_guard_init(hearth_guard *g, const hearth_guard_opts *o)
{
    memset(g, 0, sizeof *g);
    if (o)
        g->o = *o;
    else
        hearth_guard_opts_default(&g->o);
}

static int in_windows(const hearth_guard_opts *o, unsigned minute)
{
    if (!o->nwindows)
        return 1;
    for (size_t i = 0; i < o->nwindows; i++) {
        const hearth_guard_window *w = &o->windows[i];
        if (w->start < w->end ? minute >= w->start && minute < w->end
                              : minute >= w->start || minute < w->end)
            return 1;
    }
    return 0;
}

static int ignored(const hearth_guard_opts *o, const char *name)
{
    for (size_t i = 0; i < o->nignore; i++)
        if (!strncmp(o->ignore[i], name, HEARTH_GUARD_NAME_MAX))
            return 1;
    return 0;
}

/* A foreign graphics process holding real VRAM; when the driver does not
 * say how much, any graphics process not on the ignore list. */
static const hearth_guard_proc *game(const hearth_guard_opts *o,
                                     const hearth_guard_sample *s)
{
    for (size_t i = 0; i < s->nprocs && i < HEARTH_GUARD_MAX_PROCS; i++) {
        const hearth_guard_proc *p = &s->procs[i];
        if (!p->graphics || ignored(o, p->name))
            continue;
        if (p->used_bytes == UINT64_MAX || p->used_bytes >= o->gpu_foreign_mem)
            return p;
    }
    return NULL;
}

static int foreign_compute(const hearth_guard_sample *s)
{
    for (size_t i = 0; i < s->nprocs && i < HEARTH_GUARD_MAX_PROCS; i++)
        if (s->procs[i].compute && !s->procs[i].graphics)
            return 1;
    return 0;
}

/* The GPU causes that need a quiet period; 0 when none holds. Temperature
 * has hysteresis so a card hovering at the limit does not flap. */
static int slow_cause(hearth_guard *g, const hearth_guard_sample *s,
                      char *why, size_t n)
{
    const hearth_guard_opts *o = &g->o;
    const hearth_guard_proc *p;
    if (s->have_gpu && (p = game(o, s))) {
        snprintf(why, n, "the GPU is in use by %s", p->name[0] ? p->name
                                                              : "a game");
        return HEARTH_GUARD_GAME;
    }
    if (s->have_gpu && (foreign_compute(s) ||
                        (!s->gpu_ours_busy && o->gpu_foreign_util &&
                         s->gpu_util >= o->gpu_foreign_util))) {
        snprintf(why, n, "the GPU is busy with work that is not ours (%u%%)",
                 s->gpu_util);
        return HEARTH_GUARD_GPU_BUSY;
    }
    if (s->have_temp && o->gpu_temp_max_c) {
        unsigned limit = g->hot ? o->gpu_temp_resume_c : o->gpu_temp_max_c;
        g->hot = s->gpu_temp_c >= limit;
        if (g->hot) {
            snprintf(why, n, "the GPU is at %u C (limit %u C)", s->gpu_temp_c,
                     o->gpu_temp_max_c);
            return HEARTH_GUARD_HOT;
        }
    }
    if (s->have_power && o->gpu_power_max_mw &&
        s->gpu_power_mw >= o->gpu_power_max_mw) {
        snprintf(why, n, "the GPU draws %u W (limit %u W)",
                 s->gpu_power_mw / 1000, o->gpu_power_max_mw / 1000);
        return HEARTH_GUARD_POWER;
    }
    if (s->have_cpu && o->cpu_foreign_pct &&
        s->cpu_foreign_pct >= (double)o->cpu_foreign_pct) {
        snprintf(why, n, "other programs use %.0f%% of the CPU",
                 s->cpu_foreign_pct);
        return HEARTH_GUARD_CPU_BUSY;
    }
    return HEARTH_GUARD_NONE;
}

static int set(hearth_guard *g, int aside, int reason, const char *why,
               int64_t now)
{
    if (g->aside == aside && g->reason == reason)
        return 0;
    int changed = g->aside != aside;
    g->aside = aside;
    g->reason = reason;
    snprintf(g->why, sizeof g->why, "%s", why);
    if (changed)
        g->since = now;
    return changed;
}

int hearth_guard_step(hearth_guard *g, const hearth_guard_sample *s)
{
    char why[sizeof g->why];
    int r = slow_cause(g, s, why, sizeof why);
    if (r) {
        g->last_cause = s->now;
        return set(g, 1, r, why, s->now);
    }
    if (s->owner_paused)
        return set(g, 1, HEARTH_GUARD_OWNER, "paused by the owner", s->now);
    if (!in_windows(&g->o, s->minute_of_day))
        return set(g, 1, HEARTH_GUARD_SCHEDULE,
                   "outside the allowed hours", s->now);
    if (g->aside && g->last_cause &&
        s->now - g->last_cause < (int64_t)g->o.quiet_s) {
        /* still waiting out the quiet period: keep the old reason */
        return 0;
    }
    return set(g, 0, HEARTH_GUARD_NONE, "", s->now);
}
