/* Hardware detection: tiers, /proc parsing, this machine's CPU facts, and
 * the GPU path against fake NVIDIA libraries (tests/hw/fake_*.c, whose
 * paths arrive in HW_FAKE_* from tests/unit/meson.build). */
#include "tap.h"

#include "hearth/error.h"
#include "hearth/hw.h"
#include "market/hw_internal.h"

#include <dlfcn.h>
#include <unistd.h>

#define MIB (1024ULL * 1024ULL)

static const char *fake(const char *name)
{
    const char *p = getenv(name);
    if (!p || !*p) {
        fprintf(stderr, "%s is not set (run through meson test)\n", name);
        exit(1);
    }
    return p;
}

static void use(const char *cuda, const char *nvml)
{
    setenv("HEARTH_LIBCUDA", cuda, 1);
    setenv("HEARTH_LIBNVML", nvml, 1);
}

static void test_tiers(void)
{
    static const struct {
        uint32_t mb;
        unsigned major, minor;
        uint8_t tier;
    } t[] = {
        {0, 8, 9, 0},            /* no GPU */
        {0, 0, 0, 0},
        /* tier 1 edge: 7/8 of 16 GiB, capability 8.0 */
        {HEARTH_TIER1_MIN_MB, 8, 0, 1},
        {HEARTH_TIER1_MIN_MB - 1, 8, 0, 2},
        {HEARTH_TIER1_MIN_MB, 7, 9, 2},
        {16384, 8, 0, 1},
        {81920, 9, 0, 1},
        {32768, 7, 0, 2},        /* more VRAM never lowers the tier */
        /* tier 2 edge: 7/8 of 8 GiB, 7.0 */
        {HEARTH_TIER2_MIN_MB, 7, 0, 2},
        {HEARTH_TIER2_MIN_MB - 1, 7, 0, 3},
        {HEARTH_TIER2_MIN_MB, 6, 9, 3},
        /* tier 3 edge: 7/8 of 4 GiB, 6.0 */
        {HEARTH_TIER3_MIN_MB, 6, 0, 3},
        {HEARTH_TIER3_MIN_MB - 1, 6, 0, 4},
        {HEARTH_TIER3_MIN_MB, 5, 2, 4},
        {24576, 5, 2, 4},
        {1, 9, 0, 4},
        /* what real cards report (MiB from cuDeviceTotalMem) */
        {24217, 8, 9, 1},        /* RTX 4090, 24 GB */
        {16072, 8, 9, 1},        /* RTX 4080, 16 GB */
        {15095, 8, 6, 1},        /* RTX A4000 16 GB, ECC on */
        {12050, 8, 6, 2},        /* RTX 3060, 12 GB */
        {7974, 8, 6, 2},         /* RTX 3070, 8 GB */
        {15109, 7, 5, 2},        /* Tesla T4, 16 GB with ECC */
        {6075, 6, 1, 3},         /* GTX 1060, 6 GB */
        {3912, 7, 5, 3},         /* GTX 1650, 4 GB */
        {3022, 6, 1, 4},         /* GTX 1060, 3 GB */
        {11441, 3, 7, 4},        /* Tesla K80 half, 12 GB, too old */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        CHECKF(hearth_gpu_tier(t[i].mb, t[i].major, t[i].minor) ==
                   t[i].tier,
               "%u MiB cc %u.%u: tier %u, want %u", t[i].mb, t[i].major,
               t[i].minor, hearth_gpu_tier(t[i].mb, t[i].major, t[i].minor),
               t[i].tier);
    CHECK(HEARTH_TIER1_MIN_MB > 12288 && HEARTH_TIER2_MIN_MB > 6144 &&
          HEARTH_TIER3_MIN_MB > 3072);
}

static void test_parsers(void)
{
    char model[128];
    uint64_t total = 0, avail = 0;
    CHECK(hearth_hw_parse_cpuinfo("processor\t: 0\nvendor_id\t: GenuineIntel"
                                  "\nmodel\t\t: 85\nmodel name\t: Intel(R) "
                                  "Xeon(R) CPU  \n", model,
                                  sizeof model) == 0);
    CHECK(!strcmp(model, "Intel(R) Xeon(R) CPU"));
    /* a Raspberry Pi: no "model name", a board "Model" at the end */
    CHECK(hearth_hw_parse_cpuinfo("processor\t: 0\nBogoMIPS\t: 108.00\n"
                                  "CPU part\t: 0xd08\n\nModel\t\t: "
                                  "Raspberry Pi 4 Model B Rev 1.4\n", model,
                                  sizeof model) == 0);
    CHECK(!strcmp(model, "Raspberry Pi 4 Model B Rev 1.4"));
    CHECK(hearth_hw_parse_cpuinfo("processor : 0\n", model, sizeof model) ==
          HEARTH_ENOTFOUND);
    /* "model name" must not match the "model" line, nor "modelx" */
    CHECK(hearth_hw_parse_cpuinfo("modelx : no\nmodel name : yes", model,
                                  sizeof model) == 0 &&
          !strcmp(model, "yes"));
    /* truncation never splits a UTF-8 character */
    char small[6];
    hearth_hw_copy(small, sizeof small, "abcd\xc3\xa9z");
    CHECK(!strcmp(small, "abcd"));
    CHECK(hearth_hw_parse_meminfo("MemTotal:       32768000 kB\nMemFree:"
                                  "         1000 kB\nMemAvailable:   2000 kB"
                                  "\n", &total, &avail) == 0);
    CHECK(total == 32768000ULL * 1024 && avail == 2000ULL * 1024);
    CHECK(hearth_hw_parse_meminfo("MemTotal: 100 kB\nMemFree: 40 kB\n",
                                  &total, &avail) == 0 &&
          avail == 40 * 1024);
    CHECK(hearth_hw_parse_meminfo("MemFree: 40 kB\n", &total, &avail) ==
          HEARTH_ENOTFOUND);
}

/* a flag of this machine's /proc/cpuinfo, as a whole word */
static int cpu_flag(const char *text, const char *flag)
{
    const char *line = strstr(text, "\nflags");
    if (!line)
        return -1;
    const char *end = strchr(line + 1, '\n');
    size_t n = strlen(flag);
    for (const char *p = strstr(line, flag); p && (!end || p < end);
         p = strstr(p + 1, flag))
        if (p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n' || !p[n]))
            return 1;
    return 0;
}

static void test_no_gpu(void)
{
    hearth_hw hw;
    hearth_hw_summary s;
    use("/nonexistent/libcuda.so.1", "/nonexistent/libnvidia-ml.so.1");
    CHECK(hearth_hw_detect(&hw) == 0);
    CHECK(hw.ngpus == 0);
    CHECKF(strstr(hw.no_gpu, "/nonexistent/libcuda.so.1") &&
               strstr(hw.no_gpu, "not found"), "%s", hw.no_gpu);
    CHECK(hw.no_live[0] == '\0');
    CHECK(hearth_hw_detect(NULL) == HEARTH_EINVAL);

    /* the CPU facts agree with what the kernel says */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(hw.cpu_threads == (uint32_t)online);
    CHECK(hw.cpu_usable >= 1 && hw.cpu_usable <= hw.cpu_threads);
    CHECK(hw.cpu_model[0] && strcmp(hw.cpu_model, "unknown"));
    CHECK(hw.mem_total > 16 * MIB);
    CHECK(hw.mem_available > 0 && hw.mem_available <= hw.mem_total);
    char *info = tap_slurp("/proc/cpuinfo", NULL);
    char model[128];
    if (hearth_hw_parse_cpuinfo(info, model, sizeof model) == 0)
        CHECK(!strcmp(model, hw.cpu_model));
#if defined(__x86_64__) || defined(__i386__)
    /* cpuid and the kernel's flags are two sources for the same bits */
    if (cpu_flag(info, "sha_ni") >= 0) {
        CHECK(hw.cpu_sha == cpu_flag(info, "sha_ni"));
        CHECK(hw.cpu_avx2 == cpu_flag(info, "avx2"));
    }
#endif
    free(info);

    CHECK(hearth_hw_summarize(&hw, &s) == 0);
    CHECK(s.tier == 0 && s.gpu[0] == '\0' && s.gpu_count == 0 &&
          s.vram_mb == 0);
    CHECK(s.cpu_cores == hw.cpu_usable);

    /* and with the default names, on a machine without the driver */
    unsetenv("HEARTH_LIBCUDA");
    unsetenv("HEARTH_LIBNVML");
    void *real = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (real) {
        dlclose(real);
        printf("# libcuda.so.1 present: default-name check skipped\n");
        return;
    }
    CHECK(hearth_hw_detect(&hw) == 0 && hw.ngpus == 0);
    CHECKF(!strcmp(hw.no_gpu, "libcuda.so.1 not found: the NVIDIA driver "
                              "is not installed"), "%s", hw.no_gpu);
}

static int nvml_refs(const char *path)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    int (*refs)(void) = NULL;
    if (!lib)
        return -1;
    *(void **)&refs = dlsym(lib, "fake_nvml_refcount");
    int n = refs ? refs() : -1;
    dlclose(lib);
    return n;
}

static const hearth_gpu_proc *proc(const hearth_gpu_reading *r, uint32_t pid)
{
    for (uint32_t i = 0; i < r->nprocs; i++)
        if (r->procs[i].pid == pid)
            return &r->procs[i];
    return NULL;
}

static void check_4090(const hearth_gpu *g)
{
    const hearth_gpu_reading *r = &g->live;
    CHECK(!strcmp(g->name, "NVIDIA GeForce RTX 4090"));
    CHECK(!strcmp(g->pci_bus_id, "0000:02:00.0"));
    CHECK(g->ordinal == 0);
    CHECK(g->vram_total == 25393692672ULL);
    CHECK(g->cc_major == 8 && g->cc_minor == 9 && g->sm_count == 128);
    CHECK(g->tier == 1);
    CHECK(r->have == (HEARTH_GPU_HAVE_MEM | HEARTH_GPU_HAVE_TEMP |
                      HEARTH_GPU_HAVE_UTIL | HEARTH_GPU_HAVE_POWER |
                      HEARTH_GPU_HAVE_PROCS));
    CHECK(r->mem_total == 24564 * MIB && r->mem_free == 18000 * MIB);
    CHECK(r->temp_c == 63 && r->util_gpu == 97 && r->util_mem == 41);
    CHECK(r->power_mw == 312500);
    /* 4242 computes and draws: one entry, the larger memory figure */
    CHECK(r->nprocs == 3 && r->nforeign == 2 && !r->procs_truncated);
    const hearth_gpu_proc *p = proc(r, 4242);
    CHECK(p && p->compute && p->graphics && !p->own &&
          p->used_bytes == 5120 * MIB);
    p = proc(r, 1234);
    CHECK(p && !p->compute && p->graphics && !p->own &&
          p->used_bytes == HEARTH_GPU_USED_UNKNOWN);
    p = proc(r, (uint32_t)getpid());
    CHECK(p && p->compute && !p->graphics && p->own &&
          p->used_bytes == 512 * MIB);
}

static void check_1060(const hearth_gpu *g)
{
    const hearth_gpu_reading *r = &g->live;
    CHECK(!strcmp(g->name, "NVIDIA GeForce GTX 1060 6GB"));
    CHECK(!strcmp(g->pci_bus_id, "0000:01:00.0"));
    CHECK(g->ordinal == 1);
    CHECK(g->vram_total == 6370295808ULL);
    CHECK(g->cc_major == 6 && g->cc_minor == 1 && g->sm_count == 10);
    CHECK(g->tier == 3);
    /* no power reading: the rest is still there */
    CHECK(r->have == (HEARTH_GPU_HAVE_MEM | HEARTH_GPU_HAVE_TEMP |
                      HEARTH_GPU_HAVE_UTIL | HEARTH_GPU_HAVE_PROCS));
    CHECK(r->mem_total == 6144 * MIB && r->mem_free == 6000 * MIB);
    CHECK(r->temp_c == 41 && r->util_gpu == 0 && r->power_mw == 0);
    CHECK(r->nprocs == 0 && r->nforeign == 0);
}

static void test_fake_gpus(void)
{
    hearth_hw hw;
    hearth_hw_summary s;
    const char *nvml = fake("HW_FAKE_NVML");
    use(fake("HW_FAKE_CUDA"), nvml);
    CHECK(hearth_hw_detect(&hw) == 0);
    CHECKF(hw.ngpus == 2, "%u GPUs: %s", hw.ngpus, hw.no_gpu);
    CHECK(hw.no_gpu[0] == '\0');
    CHECKF(hw.no_live[0] == '\0', "%s", hw.no_live);
    CHECK(hw.cuda_version == 13000);
    CHECK(!strcmp(hw.driver_version, "580.95.05"));
    if (hw.ngpus == 2) {
        check_4090(&hw.gpus[0]);
        check_1060(&hw.gpus[1]);
    }
    /* every nvmlInit_v2 was paired with an nvmlShutdown */
    CHECK(nvml_refs(nvml) == 0);

    CHECK(hearth_hw_summarize(&hw, &s) == 0);
    CHECK(s.tier == 1 && !strcmp(s.gpu, "NVIDIA GeForce RTX 4090"));
    CHECK(s.gpu_count == 1 && s.vram_mb == 24217);
    CHECK(s.cc_major == 8 && s.cc_minor == 9);
    CHECK(s.cpu_cores == hw.cpu_usable);
}

static void test_monitor(void)
{
    hearth_gpu_monitor *m = NULL;
    hearth_gpu_reading r;
    char why[HEARTH_HW_WHY_MAX] = "";
    const char *nvml = fake("HW_FAKE_NVML");
    use(fake("HW_FAKE_CUDA"), nvml);
    CHECKF(hearth_gpu_monitor_open(&m, why, sizeof why) == 0, "%s", why);
    if (!m)
        return;
    CHECK(!strcmp(hearth_gpu_monitor_driver(m), "580.95.05"));
    CHECK(nvml_refs(nvml) == 1);
    /* NVML's own spelling of the bus id (8-digit domain) works too */
    CHECK(hearth_gpu_sample(m, "00000000:02:00.0", &r) == 0);
    CHECK(r.temp_c == 63 && r.nforeign == 2);
    CHECK(hearth_gpu_sample(m, "0000:03:00.0", &r) == HEARTH_ENOTFOUND);
    CHECK(r.have == 0);
    CHECK(hearth_gpu_sample(m, "not a bus", &r) == HEARTH_EINVAL);
    CHECK(hearth_gpu_sample(m, "", &r) == HEARTH_EINVAL);
    CHECK(hearth_gpu_sample(NULL, "0000:02:00.0", &r) == HEARTH_EINVAL);

    /* 300 more processes: more than the first buffer and than the array;
     * every one still counts as foreign */
    setenv("FAKE_NVML_EXTRA_PROCS", "300", 1);
    CHECK(hearth_gpu_sample(m, "0000:02:00.0", &r) == 0);
    unsetenv("FAKE_NVML_EXTRA_PROCS");
    CHECK(r.have & HEARTH_GPU_HAVE_PROCS);
    CHECK(r.nprocs == HEARTH_GPU_MAX_PROCS && r.procs_truncated);
    CHECKF(r.nforeign == 302, "%u foreign", r.nforeign);
    CHECK(proc(&r, 4242) && proc(&r, (uint32_t)getpid()));
    hearth_gpu_monitor_close(m);
    CHECK(nvml_refs(nvml) == 0);
    hearth_gpu_monitor_close(NULL);
}

static void test_broken(void)
{
    hearth_hw hw;
    const char *cuda = fake("HW_FAKE_CUDA"), *nvml = fake("HW_FAKE_NVML");
    hearth_gpu_monitor *m = (hearth_gpu_monitor *)&hw;  /* must be reset */
    char why[HEARTH_HW_WHY_MAX];

    /* a library without a required entry point */
    use(fake("HW_FAKE_CUDA_NOSYM"), nvml);
    CHECK(hearth_hw_detect(&hw) == 0 && hw.ngpus == 0);
    CHECKF(strstr(hw.no_gpu, "lacks cuDeviceGetAttribute"), "%s",
           hw.no_gpu);

    /* cuInit fails: the reason names the error; NVML, if present, tells
     * that GPUs exist */
    use(fake("HW_FAKE_CUDA_NOINIT"), "/nonexistent/libnvidia-ml.so.1");
    unsetenv("CUDA_VISIBLE_DEVICES");
    CHECK(hearth_hw_detect(&hw) == 0 && hw.ngpus == 0);
    CHECKF(!strcmp(hw.no_gpu, "cuInit failed: the driver finds no CUDA GPU "
                              "(CUDA_ERROR_NO_DEVICE = 100)"), "%s",
           hw.no_gpu);
    CHECK(hw.cuda_version == 13000);
    use(fake("HW_FAKE_CUDA_NOINIT"), nvml);
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    CHECK(hearth_hw_detect(&hw) == 0 && hw.ngpus == 0);
    unsetenv("CUDA_VISIBLE_DEVICES");
    CHECKF(strstr(hw.no_gpu, "CUDA_ERROR_NO_DEVICE") &&
               strstr(hw.no_gpu, "NVML sees 2 GPUs (NVIDIA GeForce GTX "
                                 "1060 6GB)") &&
               strstr(hw.no_gpu, "CUDA_VISIBLE_DEVICES=\"\" may hide them"),
           "%s", hw.no_gpu);
    CHECK(nvml_refs(nvml) == 0);

    /* GPUs without live readings: NVML missing, or failing to start */
    use(cuda, "/nonexistent/libnvidia-ml.so.1");
    CHECK(hearth_hw_detect(&hw) == 0 && hw.ngpus == 2);
    CHECK(hw.gpus[0].live.have == 0 && hw.gpus[0].tier == 1);
    CHECK(hw.driver_version[0] == '\0' && hw.cuda_version == 13000);
    CHECKF(strstr(hw.no_live, "/nonexistent/libnvidia-ml.so.1 (from "
                              "HEARTH_LIBNVML) not found"), "%s",
           hw.no_live);
    use(cuda, fake("HW_FAKE_NVML_NOINIT"));
    CHECK(hearth_hw_detect(&hw) == 0 && hw.ngpus == 2);
    CHECK(hw.gpus[1].live.have == 0 && hw.gpus[1].tier == 3);
    CHECKF(!strcmp(hw.no_live, "nvmlInit_v2 failed: the nvidia kernel "
                               "module is not loaded (error 9)"), "%s",
           hw.no_live);
    CHECK(hearth_gpu_monitor_open(&m, why, sizeof why) == HEARTH_ENOTFOUND);
    CHECK(m == NULL && strstr(why, "nvmlInit_v2 failed"));

    /* not a shared object at all */
    use("/proc/self/status", nvml);
    CHECK(hearth_hw_detect(&hw) == 0 && hw.ngpus == 0);
    CHECKF(strstr(hw.no_gpu, "cannot load /proc/self/status"), "%s",
           hw.no_gpu);

    /* the CUDA toolkit's stub libcuda, a classic mistake, if installed */
    static const char *const stubs[] = {
        "/usr/local/cuda/lib64/stubs/libcuda.so",
        "/usr/local/cuda/lib/stubs/libcuda.so"};
    for (size_t i = 0; i < 2; i++) {
        if (access(stubs[i], R_OK))
            continue;
        use(stubs[i], "/nonexistent/libnvidia-ml.so.1");
        CHECK(hearth_hw_detect(&hw) == 0 && hw.ngpus == 0);
        CHECKF(strstr(hw.no_gpu, "CUDA_ERROR_STUB_LIBRARY"), "%s",
               hw.no_gpu);
        break;
    }
}

static hearth_gpu gpu(const char *name, uint32_t mb, uint16_t major,
                      uint16_t minor)
{
    hearth_gpu g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "%s", name);
    g.vram_total = (uint64_t)mb * MIB;
    g.cc_major = major;
    g.cc_minor = minor;
    g.tier = hearth_gpu_tier(mb, major, minor);
    return g;
}

static void test_summarize(void)
{
    static hearth_hw hw;
    hearth_hw_summary s;
    memset(&hw, 0, sizeof hw);
    hw.cpu_threads = 16;
    hw.cpu_usable = 0;  /* unknown: the online count stands in */
    hw.ngpus = 4;
    hw.gpus[0] = gpu("NVIDIA GeForce RTX 3060", 12050, 8, 6);
    hw.gpus[1] = gpu("NVIDIA GeForce RTX 3090", 24260, 8, 6);
    hw.gpus[2] = gpu("NVIDIA TITAN V", 32510, 7, 0);  /* more VRAM, tier 2 */
    hw.gpus[3] = gpu("NVIDIA GeForce RTX 3090", 24260, 8, 6);
    CHECK(hearth_hw_summarize(&hw, &s) == 0);
    CHECK(!strcmp(s.gpu, "NVIDIA GeForce RTX 3090") && s.gpu_count == 2);
    CHECK(s.tier == 1 && s.vram_mb == 24260 && s.cpu_cores == 16);
    /* same tier and VRAM: the newer architecture wins */
    hw.gpus[0] = gpu("NVIDIA RTX A5000", 24260, 8, 9);
    CHECK(hearth_hw_summarize(&hw, &s) == 0);
    CHECK(!strcmp(s.gpu, "NVIDIA RTX A5000") && s.gpu_count == 1);
    /* a name longer than an offer holds is cut, not overflowed */
    memset(hw.gpus[0].name, 'x', sizeof hw.gpus[0].name - 1);
    hw.gpus[0].name[sizeof hw.gpus[0].name - 1] = '\0';
    CHECK(hearth_hw_summarize(&hw, &s) == 0);
    CHECK(strlen(s.gpu) == sizeof s.gpu - 1);
    CHECK(hearth_hw_summarize(NULL, &s) == HEARTH_EINVAL);
    CHECK(hearth_hw_summarize(&hw, NULL) == HEARTH_EINVAL);
}

int main(void)
{
    test_tiers();
    test_parsers();
    test_no_gpu();
    test_fake_gpus();
    test_monitor();
    test_broken();
    test_summarize();
    return tap_done();
}
