/* Hardware detection: the CPU and memory from the kernel and the CPU's own
 * feature bits, GPUs from hw_cuda.c and hw_nvml.c, and the tier an offer
 * advertises. */
#include "hw_internal.h"

#include "hearth/error.h"

#include <ctype.h>
#include <dlfcn.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define HW_X86 1
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

void hearth_hw_copy(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (!n)
        return;
    if (len >= n) {
        len = n - 1;
        while (len && ((unsigned char)src[len] & 0xc0) == 0x80)
            len--;  /* src[len] continues a sequence: cut before it */
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
}

void *hearth_hw_dlopen(const char *env, const char *soname, char *why,
                       size_t whylen, const char **shown)
{
    const char *path = getenv(env);
    int overridden = path && *path;
    if (!overridden)
        path = soname;
    *shown = path;
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (lib)
        return lib;
    const char *err = dlerror();
    if (err && strstr(err, "No such file") && !overridden)
        snprintf(why, whylen, "%s not found: the NVIDIA driver is not "
                 "installed", path);
    else if (err && strstr(err, "No such file"))
        snprintf(why, whylen, "%s (from %s) not found", path, env);
    else
        snprintf(why, whylen, "cannot load %s: %s", path,
                 err ? err : "unknown error");
    return NULL;
}

int hearth_hw_dlsym(void *lib, const char *name, void *fp)
{
    _Static_assert(sizeof(void *) == sizeof(void (*)(void)),
                   "function pointers must fit in a data pointer (POSIX)");
    void *p = dlsym(lib, name);
    if (!p)
        return HEARTH_ENOTFOUND;
    memcpy(fp, &p, sizeof p);
    return HEARTH_OK;
}

uint8_t hearth_gpu_tier(uint32_t vram_mb, unsigned cc_major,
                        unsigned cc_minor)
{
    (void)cc_minor;  /* every boundary is at a .0 capability */
    if (vram_mb == 0)
        return 0;
    if (vram_mb >= HEARTH_TIER1_MIN_MB && cc_major >= 8)
        return 1;
    if (vram_mb >= HEARTH_TIER2_MIN_MB && cc_major >= 7)
        return 2;
    if (vram_mb >= HEARTH_TIER3_MIN_MB && cc_major >= 6)
        return 3;
    return 4;
}

/* "key<spaces/tabs>: value" lines; value of the first key of keys found */
static const char *field(const char *text, const char *key, size_t *len)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        if (!strncmp(line, key, klen)) {
            const char *p = line + klen;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == ':') {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                const char *e = end ? end : p + strlen(p);
                while (e > p && isspace((unsigned char)e[-1]))
                    e--;
                *len = (size_t)(e - p);
                return p;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

int hearth_hw_parse_cpuinfo(const char *text, char *model, size_t n)
{
    /* x86, then what ARM boards, MIPS and POWER say instead */
    static const char *const keys[] = {"model name", "Model", "Hardware",
                                       "cpu model", "cpu"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t len;
        const char *v = field(text, keys[i], &len);
        if (v && len) {
            char tmp[256];
            if (len >= sizeof tmp)
                len = sizeof tmp - 1;
            memcpy(tmp, v, len);
            tmp[len] = '\0';
            hearth_hw_copy(model, n, tmp);
            return HEARTH_OK;
        }
    }
    return HEARTH_ENOTFOUND;
}

static int kib_field(const char *text, const char *key, uint64_t *bytes)
{
    size_t len;
    const char *v = field(text, key, &len);
    if (!v)
        return HEARTH_ENOTFOUND;
    *bytes = strtoull(v, NULL, 10) * 1024u;  /* the kernel writes "kB" */
    return HEARTH_OK;
}

int hearth_hw_parse_meminfo(const char *text, uint64_t *total,
                            uint64_t *avail)
{
    if (kib_field(text, "MemTotal", total))
        return HEARTH_ENOTFOUND;
    /* MemAvailable (Linux 3.14+) counts reclaimable cache; MemFree does
     * not, so it under-reports on older kernels */
    if (kib_field(text, "MemAvailable", avail) &&
        kib_field(text, "MemFree", avail))
        *avail = 0;
    return HEARTH_OK;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;  /* /proc sizes read as 0 */
    char *p = malloc(cap);
    while (p) {
        len += fread(p + len, 1, cap - 1 - len, f);
        if (len < cap - 1 || cap >= (1u << 24))
            break;
        char *q = realloc(p, cap *= 2);
        if (!q) {
            free(p);
            p = NULL;
        } else {
            p = q;
        }
    }
    if (p)
        p[len] = '\0';
    fclose(f);
    return p;
}

#ifdef HW_X86
static void x86_brand(char *model, size_t n)
{
    unsigned r[12], max = __get_cpuid_max(0x80000000u, NULL);
    if (max < 0x80000004u)
        return;
    for (unsigned i = 0; i < 3; i++)
        __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1],
                    &r[4 * i + 2], &r[4 * i + 3]);
    char brand[49];
    memcpy(brand, r, 48);
    brand[48] = '\0';
    char *b = brand;
    while (*b == ' ')
        b++;
    hearth_hw_copy(model, n, b);
}

static void x86_features(hearth_hw *hw)
{
    unsigned a, b, c, d, lo, hi;
    if (__get_cpuid_max(0, NULL) < 7)
        return;
    __cpuid_count(7, 0, a, b, c, d);
    hw->cpu_sha = (b >> 29) & 1;
    int avx2 = (b >> 5) & 1;
    /* AVX2 is usable only if the OS saves the YMM registers on a switch:
     * OSXSAVE set, and XCR0 enables both the SSE and the AVX state */
    __get_cpuid(1, &a, &b, &c, &d);
    if (avx2 && (c >> 27 & 1) && (c >> 28 & 1)) {
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        hw->cpu_avx2 = (lo & 6u) == 6u;
    }
}
#endif

static void detect_cpu(hearth_hw *hw)
{
    char *text = slurp("/proc/cpuinfo");
    snprintf(hw->cpu_model, sizeof hw->cpu_model, "unknown");
    if (!text || hearth_hw_parse_cpuinfo(text, hw->cpu_model,
                                         sizeof hw->cpu_model)) {
#ifdef HW_X86
        x86_brand(hw->cpu_model, sizeof hw->cpu_model);
#endif
    }
    free(text);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    hw->cpu_threads = online > 0 ? (uint32_t)online : 1;
    cpu_set_t set;
    /* a container or taskset may give hearth fewer CPUs than exist */
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        hw->cpu_usable = (uint32_t)CPU_COUNT(&set);
    else
        hw->cpu_usable = hw->cpu_threads;
#ifdef HW_X86
    x86_features(hw);
#elif defined(__aarch64__) && defined(HWCAP_SHA2)
    hw->cpu_sha = (getauxval(AT_HWCAP) & HWCAP_SHA2) != 0;
#endif
}

static void detect_memory(hearth_hw *hw)
{
    char *text = slurp("/proc/meminfo");
    struct sysinfo si;
    if (text && hearth_hw_parse_meminfo(text, &hw->mem_total,
                                        &hw->mem_available) == 0) {
        free(text);
        return;
    }
    free(text);
    if (sysinfo(&si) == 0) {
        hw->mem_total = (uint64_t)si.totalram * si.mem_unit;
        hw->mem_available = (uint64_t)si.freeram * si.mem_unit;
    }
}

/* CUDA sees nothing: say what might hide the GPUs NVML can see */
static void explain_empty(hearth_hw *hw, hearth_gpu_monitor *m)
{
    char first[HEARTH_GPU_NAME_MAX], extra[HEARTH_HW_WHY_MAX] = "";
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    unsigned n = m ? hearth_hw_nvml_count(m, first, sizeof first) : 0;
    if (n)
        snprintf(extra, sizeof extra, "; NVML sees %u GPU%s (%s)", n,
                 n == 1 ? "" : "s", first[0] ? first : "unnamed");
    if (cvd)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
                 "; CUDA_VISIBLE_DEVICES=\"%s\" may hide %s", cvd,
                 n == 1 ? "it" : "them");
    size_t len = strlen(hw->no_gpu);
    snprintf(hw->no_gpu + len, sizeof hw->no_gpu - len, "%s", extra);
}

static void read_live(hearth_hw *hw, hearth_gpu_monitor *m)
{
    hearth_hw_copy(hw->driver_version, sizeof hw->driver_version,
                   hearth_gpu_monitor_driver(m));
    for (uint32_t i = 0; i < hw->ngpus; i++) {
        hearth_gpu *g = &hw->gpus[i];
        int rc = g->pci_bus_id[0] ? hearth_gpu_sample(m, g->pci_bus_id,
                                                      &g->live)
                                  : HEARTH_ENOTFOUND;
        if (rc && !hw->no_live[0])
            snprintf(hw->no_live, sizeof hw->no_live,
                     "NVML cannot read GPU %u (%s): %s", i,
                     g->pci_bus_id[0] ? g->pci_bus_id : "no PCI bus id",
                     hearth_strerror(rc));
    }
}

int hearth_hw_detect(hearth_hw *out)
{
    if (!out)
        return HEARTH_EINVAL;
    memset(out, 0, sizeof *out);
    detect_cpu(out);
    detect_memory(out);
    int empty = hearth_hw_cuda_scan(out);
    if (!out->ngpus && !empty)
        return HEARTH_OK;
    hearth_gpu_monitor *m = NULL;
    char why[HEARTH_HW_WHY_MAX];
    if (hearth_gpu_monitor_open(&m, why, sizeof why) != HEARTH_OK) {
        m = NULL;
        if (out->ngpus)
            snprintf(out->no_live, sizeof out->no_live, "%s", why);
    }
    if (out->ngpus && m)
        read_live(out, m);
    else if (!out->ngpus)
        explain_empty(out, m);
    hearth_gpu_monitor_close(m);
    return HEARTH_OK;
}

static int better(const hearth_gpu *a, const hearth_gpu *b)
{
    if (a->tier != b->tier)
        return a->tier < b->tier;
    if (a->vram_total != b->vram_total)
        return a->vram_total > b->vram_total;
    return a->cc_major * 100 + a->cc_minor > b->cc_major * 100 + b->cc_minor;
}

static int same_model(const hearth_gpu *a, const hearth_gpu *b)
{
    return !strcmp(a->name, b->name) && a->vram_total == b->vram_total &&
           a->cc_major == b->cc_major && a->cc_minor == b->cc_minor;
}

int hearth_hw_summarize(const hearth_hw *hw, hearth_hw_summary *out)
{
    if (!hw || !out)
        return HEARTH_EINVAL;
    memset(out, 0, sizeof *out);
    uint32_t cores = hw->cpu_usable ? hw->cpu_usable : hw->cpu_threads;
    out->cpu_cores = cores > UINT16_MAX ? UINT16_MAX : (uint16_t)cores;
    const hearth_gpu *best = NULL;
    for (uint32_t i = 0; i < hw->ngpus && i < HEARTH_HW_MAX_GPUS; i++)
        if (hw->gpus[i].tier && (!best || better(&hw->gpus[i], best)))
            best = &hw->gpus[i];
    if (!best)
        return HEARTH_OK;
    for (uint32_t i = 0; i < hw->ngpus && i < HEARTH_HW_MAX_GPUS; i++)
        out->gpu_count += same_model(&hw->gpus[i], best);
    hearth_hw_copy(out->gpu, sizeof out->gpu, best->name);
    uint64_t mb = best->vram_total >> 20;
    out->vram_mb = mb > UINT32_MAX ? UINT32_MAX : (uint32_t)mb;
    out->cc_major = best->cc_major;
    out->cc_minor = best->cc_minor;
    out->tier = best->tier;
    return HEARTH_OK;
}
