/* The game guard (include/hearth/guard.h) on simulated readings: a game
 * appearing and leaving, desktop processes ignored, foreign GPU and CPU
 * load, temperature with hysteresis, power, allowed hours, the owner's
 * switch, and the quiet period before coming back. */
#include "tap.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "hearth/error.h"
#include "hearth/guard.h"

static hearth_guard_sample idle(int64_t now)
{
    hearth_guard_sample s;
    memset(&s, 0, sizeof s);
    s.now = now;
    s.minute_of_day = 12 * 60;
    s.have_gpu = s.have_temp = s.have_power = s.have_cpu = 1;
    s.gpu_temp_c = 50;
    s.gpu_power_mw = 30000;
    s.cpu_foreign_pct = 5;
    return s;
}

static void add_proc(hearth_guard_sample *s, const char *name, int graphics,
                     uint64_t bytes)
{
    hearth_guard_proc *p = &s->procs[s->nprocs++];
    memset(p, 0, sizeof *p);
    strcpy(p->name, name);
    p->graphics = (uint8_t)graphics;
    p->compute = (uint8_t)!graphics;
    p->used_bytes = bytes;
}

static void test_game(void)
{
    hearth_guard g;
    hearth_guard_init(&g, NULL);
    hearth_guard_sample s = idle(1000);
    add_proc(&s, "Xorg", 1, 600ull << 20);       /* the desktop: ignored */
    add_proc(&s, "firefox", 1, 100ull << 20);    /* small: not a game */
    CHECK(hearth_guard_step(&g, &s) == 0 && !g.aside);
    add_proc(&s, "eldenring.exe", 1, 6ull << 30);
    s.now = 1010;
    CHECK(hearth_guard_step(&g, &s) == 1 && g.aside &&
          g.reason == HEARTH_GUARD_GAME);
    CHECK(strstr(g.why, "eldenring.exe") != NULL);
    /* the game ends: still aside for the quiet period, then back */
    s.nprocs = 1;
    s.now = 1011;
    CHECK(hearth_guard_step(&g, &s) == 0 && g.aside);
    s.now = 1010 + 299;
    CHECK(hearth_guard_step(&g, &s) == 0 && g.aside);
    s.now = 1010 + 300;
    CHECK(hearth_guard_step(&g, &s) == 1 && !g.aside && g.since == 1310);
    /* a graphics process whose VRAM the driver does not report counts */
    add_proc(&s, "game", 1, UINT64_MAX);
    CHECK(hearth_guard_step(&g, &s) == 1 && g.reason == HEARTH_GUARD_GAME);
}

static void test_load(void)
{
    hearth_guard g;
    hearth_guard_init(&g, NULL);
    hearth_guard_sample s = idle(0);
    /* our own job keeps the GPU busy: that is not a reason */
    s.gpu_util = 99;
    s.gpu_ours_busy = 1;
    CHECK(hearth_guard_step(&g, &s) == 0 && !g.aside);
    s.gpu_ours_busy = 0;
    CHECK(hearth_guard_step(&g, &s) == 1 && g.reason == HEARTH_GUARD_GPU_BUSY);
    hearth_guard_init(&g, NULL);
    s = idle(0);
    add_proc(&s, "python3", 0, 2ull << 30);      /* someone's CUDA job */
    CHECK(hearth_guard_step(&g, &s) == 1 && g.reason == HEARTH_GUARD_GPU_BUSY);
    hearth_guard_init(&g, NULL);
    s = idle(0);
    s.cpu_foreign_pct = 39.9;
    CHECK(hearth_guard_step(&g, &s) == 0);
    s.cpu_foreign_pct = 40;
    CHECK(hearth_guard_step(&g, &s) == 1 && g.reason == HEARTH_GUARD_CPU_BUSY);
    /* without readings the guard decides on what it has */
    hearth_guard_init(&g, NULL);
    s = idle(0);
    s.have_gpu = s.have_temp = s.have_power = s.have_cpu = 0;
    s.gpu_util = 100;
    s.cpu_foreign_pct = 100;
    CHECK(hearth_guard_step(&g, &s) == 0 && !g.aside);
}

static void test_heat(void)
{
    hearth_guard_opts o;
    hearth_guard_opts_default(&o);
    o.quiet_s = 60;
    o.gpu_power_max_mw = 250000;
    hearth_guard g;
    hearth_guard_init(&g, &o);
    hearth_guard_sample s = idle(0);
    s.gpu_temp_c = 82;
    CHECK(hearth_guard_step(&g, &s) == 0);
    s.gpu_temp_c = 83;
    CHECK(hearth_guard_step(&g, &s) == 1 && g.reason == HEARTH_GUARD_HOT);
    /* below the limit but above the resume point: still hot */
    s.now = 100;
    s.gpu_temp_c = 78;
    CHECK(hearth_guard_step(&g, &s) == 0 && g.aside && g.last_cause == 100);
    s.now = 101;
    s.gpu_temp_c = 74;
    CHECK(hearth_guard_step(&g, &s) == 0 && g.aside);
    s.now = 160;
    CHECK(hearth_guard_step(&g, &s) == 1 && !g.aside);
    s.gpu_power_mw = 260000;
    CHECK(hearth_guard_step(&g, &s) == 1 && g.reason == HEARTH_GUARD_POWER);
    CHECK(strstr(g.why, "260 W (limit 250 W)") != NULL);
}

static void test_schedule_owner(void)
{
    hearth_guard_opts o;
    hearth_guard_opts_default(&o);
    const char *why = NULL;
    CHECK(hearth_guard_window_parse("22:00-08:00", &o.windows[0], &why) ==
          HEARTH_OK);
    o.nwindows = 1;
    hearth_guard g;
    hearth_guard_init(&g, &o);
    hearth_guard_sample s = idle(0);
    CHECK(hearth_guard_step(&g, &s) == 1 && g.reason == HEARTH_GUARD_SCHEDULE);
    /* the window opens: back at once (nobody was playing) */
    s.minute_of_day = 22 * 60;
    s.now = 10;
    CHECK(hearth_guard_step(&g, &s) == 1 && !g.aside);
    s.minute_of_day = 7 * 60 + 59;
    CHECK(hearth_guard_step(&g, &s) == 0 && !g.aside);
    s.minute_of_day = 8 * 60;
    CHECK(hearth_guard_step(&g, &s) == 1 && g.aside);
    /* the owner's switch */
    s.minute_of_day = 23 * 60;
    s.owner_paused = 1;
    CHECK(hearth_guard_step(&g, &s) == 0 && g.reason == HEARTH_GUARD_OWNER);
    s.owner_paused = 0;
    CHECK(hearth_guard_step(&g, &s) == 1 && !g.aside);
    hearth_guard_window w;
    const char *bad[] = {"22-08", "25:00-08:00", "22:60-08:00", "22:00-22:00",
                         "22:00 08:00", "24:01-01:00", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECKF(hearth_guard_window_parse(bad[i], &w, &why) == HEARTH_EINVAL &&
               why, "%s", bad[i]);
    CHECK(hearth_guard_window_parse("00:00-24:00", &w, &why) == HEARTH_OK &&
          w.start == 0 && w.end == 1440);
    CHECK(!strcmp(hearth_guard_reason_name(HEARTH_GUARD_GAME), "game") &&
          !strcmp(hearth_guard_reason_name(99), "unknown"));
}

/* the /proc parsers, and a live reading of this machine */
static void test_readings(void)
{
    uint64_t busy, total, ticks;
    CHECK(hearth_guard_parse_cpu("cpu  100 5 50 1000 20 3 2 0 0 0\n"
                                 "cpu0 1 2 3 4\n", &busy, &total) == 0);
    CHECK(total == 1180 && busy == 160);
    CHECK(hearth_guard_parse_cpu("cpu0 1 2 3 4", &busy, &total) ==
          HEARTH_EINVAL);
    CHECK(hearth_guard_parse_cpu("cpu  1 2", &busy, &total) == HEARTH_EINVAL);
    CHECK(hearth_guard_parse_self("4242 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 "
                                  "700 55 0 0 20 0", &ticks) == 0 &&
          ticks == 755);
    CHECK(hearth_guard_parse_self("4242 hearth S 1", &ticks) ==
          HEARTH_EINVAL);
    hearth_guard_sampler *sm = NULL;
    hearth_guard_sample s;
    CHECK(hearth_guard_sampler_new(NULL, &sm) == 0 && sm);
    CHECK(hearth_guard_sampler_read(sm, 0, 0, &s) == 0 && !s.have_cpu &&
          !s.have_gpu && s.minute_of_day < 1440 && s.now > 1700000000);
    usleep(50000);
    CHECK(hearth_guard_sampler_read(sm, 1, 0, &s) == 0 && s.owner_paused);
    CHECK(!s.have_cpu || (s.cpu_foreign_pct >= 0 && s.cpu_foreign_pct <= 100));
    hearth_guard_sampler_free(sm);
}

int main(void)
{
    test_readings();
    test_game();
    test_load();
    test_heat();
    test_schedule_owner();
    return tap_done();
}
