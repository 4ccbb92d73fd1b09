/* hearth hw: what this machine offers the market. Without an NVIDIA GPU it
 * says why in one sentence and that the CPU will be used, because that is
 * the first thing a gaming-PC owner checks when a GPU does not show up. */
#include "cli.h"
#include "hearth/error.h"
#include "hearth/hw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB(bytes) ((unsigned long long)((bytes) >> 20))

#if defined(__x86_64__) || defined(__i386__)
#define SHA_LABEL "SHA-NI"
#else
#define SHA_LABEL "SHA2"
#endif

static const char *yes(int v)
{
    return v ? "yes" : "no";
}

static void text_procs(hearth_buf *b, const hearth_gpu_reading *r)
{
    hearth_buf_adds(b, "  Processes:    ");
    if (!r->nprocs)
        hearth_buf_adds(b, "none");
    for (uint32_t i = 0; i < r->nprocs; i++) {
        const hearth_gpu_proc *p = &r->procs[i];
        hearth_buf_addf(b, "%s%u (%s", i ? ", " : "", p->pid,
                        p->compute && p->graphics ? "compute+graphics"
                        : p->graphics ? "graphics" : "compute");
        if (p->used_bytes != HEARTH_GPU_USED_UNKNOWN)
            hearth_buf_addf(b, ", %llu MiB", MIB(p->used_bytes));
        hearth_buf_addf(b, "%s)", p->own ? ", this hearth" : "");
    }
    if (r->procs_truncated)
        hearth_buf_adds(b, ", ...");
    hearth_buf_addf(b, "\n  Others on it: %u\n", r->nforeign);
}

static void text_live(hearth_buf *b, const hearth_gpu_reading *r)
{
    if (r->have & HEARTH_GPU_HAVE_TEMP)
        hearth_buf_addf(b, "  Temperature:  %u C\n", r->temp_c);
    else
        hearth_buf_adds(b, "  Temperature:  not reported\n");
    if (r->have & HEARTH_GPU_HAVE_UTIL)
        hearth_buf_addf(b, "  Utilisation:  %u%% GPU, %u%% memory\n",
                        r->util_gpu, r->util_mem);
    else
        hearth_buf_adds(b, "  Utilisation:  not reported\n");
    if (r->have & HEARTH_GPU_HAVE_POWER)
        hearth_buf_addf(b, "  Power:        %u.%u W\n", r->power_mw / 1000,
                        r->power_mw % 1000 / 100);
    else
        hearth_buf_adds(b, "  Power:        not reported\n");
    if (r->have & HEARTH_GPU_HAVE_PROCS)
        text_procs(b, r);
    else
        hearth_buf_adds(b, "  Processes:    not reported\n");
}

static void text_gpu(hearth_buf *b, const hearth_hw *hw, uint32_t i)
{
    const hearth_gpu *g = &hw->gpus[i];
    hearth_buf_addf(b, "\nGPU %u:          %s (tier %u)\n", i, g->name,
                    g->tier);
    hearth_buf_addf(b, "  PCI bus:      %s\n",
                    g->pci_bus_id[0] ? g->pci_bus_id : "unknown");
    hearth_buf_addf(b, "  VRAM:         %llu MiB total", MIB(g->vram_total));
    if (g->live.have & HEARTH_GPU_HAVE_MEM)
        hearth_buf_addf(b, ", %llu MiB free", MIB(g->live.mem_free));
    hearth_buf_addf(b, "\n  Compute:      capability %u.%u, %u SMs\n",
                    g->cc_major, g->cc_minor, g->sm_count);
    if (g->live.have)
        text_live(b, &g->live);
}

static void text(hearth_buf *b, const hearth_hw *hw,
                 const hearth_hw_summary *s)
{
    hearth_buf_addf(b, "CPU:            %s\n", hw->cpu_model);
    hearth_buf_addf(b, "Cores:          %u logical, %u usable by hearth\n",
                    hw->cpu_threads, hw->cpu_usable);
    hearth_buf_addf(b, "%-16s%s (AVX2: %s)\n", SHA_LABEL ":",
                    yes(hw->cpu_sha), yes(hw->cpu_avx2));
    hearth_buf_addf(b, "Memory:         %llu MiB total, %llu MiB "
                    "available\n", MIB(hw->mem_total),
                    MIB(hw->mem_available));
    if (!hw->ngpus) {
        hearth_buf_addf(b, "\nNo NVIDIA GPU found (%s); hearth will use the "
                        "CPU.\n", hw->no_gpu[0] ? hw->no_gpu : "no reason "
                        "given");
        hearth_buf_addf(b, "Tier:           0 (CPU only, %u cores)\n",
                        s->cpu_cores);
        return;
    }
    hearth_buf_addf(b, "NVIDIA driver:  %s, ",
                    hw->driver_version[0] ? hw->driver_version : "unknown");
    if (hw->cuda_version > 0)
        hearth_buf_addf(b, "CUDA %d.%d\n", hw->cuda_version / 1000,
                        hw->cuda_version % 1000 / 10);
    else
        hearth_buf_adds(b, "CUDA version unknown\n");
    if (hw->no_live[0])
        hearth_buf_addf(b, "Live readings:  unavailable (%s)\n",
                        hw->no_live);
    for (uint32_t i = 0; i < hw->ngpus; i++)
        text_gpu(b, hw, i);
    hearth_buf_addf(b, "\nTier:           %u (%u x %s, %u MiB)\n", s->tier,
                    s->gpu_count, s->gpu, s->vram_mb);
}

/* JSON: one object, built with a count per nesting level for commas */
static void key(hearth_buf *b, int *n, const char *k)
{
    if ((*n)++)
        hearth_buf_addc(b, ',');
    hearth_buf_addjson(b, k, strlen(k));
    hearth_buf_addc(b, ':');
}

static void jstr(hearth_buf *b, int *n, const char *k, const char *v)
{
    key(b, n, k);
    if (v && *v)
        hearth_buf_addjson(b, v, strlen(v));
    else
        hearth_buf_adds(b, "null");
}

static void jnum(hearth_buf *b, int *n, const char *k, unsigned long long v,
                 int have)
{
    key(b, n, k);
    if (have)
        hearth_buf_addf(b, "%llu", v);
    else
        hearth_buf_adds(b, "null");
}

static void jbool(hearth_buf *b, int *n, const char *k, int v)
{
    key(b, n, k);
    hearth_buf_adds(b, v ? "true" : "false");
}

static void json_procs(hearth_buf *b, int *n, const hearth_gpu_reading *r)
{
    int have = (r->have & HEARTH_GPU_HAVE_PROCS) != 0;
    key(b, n, "processes");
    if (!have)
        hearth_buf_adds(b, "null");
    else
        hearth_buf_addc(b, '[');
    for (uint32_t i = 0; have && i < r->nprocs; i++) {
        const hearth_gpu_proc *p = &r->procs[i];
        int m = 0;
        hearth_buf_adds(b, i ? ",{" : "{");
        jnum(b, &m, "pid", p->pid, 1);
        jbool(b, &m, "compute", p->compute);
        jbool(b, &m, "graphics", p->graphics);
        jbool(b, &m, "own", p->own);
        jnum(b, &m, "used_mib", MIB(p->used_bytes),
             p->used_bytes != HEARTH_GPU_USED_UNKNOWN);
        hearth_buf_addc(b, '}');
    }
    if (have)
        hearth_buf_addc(b, ']');
    jnum(b, n, "other_processes", r->nforeign, have);
    key(b, n, "processes_truncated");
    hearth_buf_adds(b, have ? (r->procs_truncated ? "true" : "false")
                            : "null");
}

static void json_gpu(hearth_buf *b, const hearth_gpu *g)
{
    const hearth_gpu_reading *r = &g->live;
    char cc[16];
    int n = 0;
    snprintf(cc, sizeof cc, "%u.%u", g->cc_major, g->cc_minor);
    hearth_buf_addc(b, '{');
    jnum(b, &n, "ordinal", (unsigned)g->ordinal, 1);
    jstr(b, &n, "name", g->name);
    jstr(b, &n, "pci_bus_id", g->pci_bus_id);
    jnum(b, &n, "vram_total_mib", MIB(g->vram_total), 1);
    jnum(b, &n, "vram_free_mib", MIB(r->mem_free),
         r->have & HEARTH_GPU_HAVE_MEM);
    jstr(b, &n, "compute_capability", cc);
    jnum(b, &n, "sms", g->sm_count, 1);
    jnum(b, &n, "tier", g->tier, 1);
    jnum(b, &n, "temperature_c", r->temp_c, r->have & HEARTH_GPU_HAVE_TEMP);
    jnum(b, &n, "utilization_gpu", r->util_gpu,
         r->have & HEARTH_GPU_HAVE_UTIL);
    jnum(b, &n, "utilization_memory", r->util_mem,
         r->have & HEARTH_GPU_HAVE_UTIL);
    jnum(b, &n, "power_mw", r->power_mw, r->have & HEARTH_GPU_HAVE_POWER);
    json_procs(b, &n, r);
    hearth_buf_addc(b, '}');
}

static void json(hearth_buf *b, const hearth_hw *hw,
                 const hearth_hw_summary *s)
{
    int n = 0, m = 0;
    char cuda[16];
    snprintf(cuda, sizeof cuda, "%d.%d", hw->cuda_version / 1000,
             hw->cuda_version % 1000 / 10);
    hearth_buf_addc(b, '{');
    key(b, &n, "cpu");
    hearth_buf_addc(b, '{');
    jstr(b, &m, "model", hw->cpu_model);
    jnum(b, &m, "threads", hw->cpu_threads, 1);
    jnum(b, &m, "usable", hw->cpu_usable, 1);
    jbool(b, &m, "sha", hw->cpu_sha);
    jbool(b, &m, "avx2", hw->cpu_avx2);
    hearth_buf_addc(b, '}');
    key(b, &n, "memory");
    m = 0;
    hearth_buf_addc(b, '{');
    jnum(b, &m, "total_mib", MIB(hw->mem_total), 1);
    jnum(b, &m, "available_mib", MIB(hw->mem_available), 1);
    hearth_buf_addc(b, '}');
    key(b, &n, "driver");
    m = 0;
    hearth_buf_addc(b, '{');
    jstr(b, &m, "version", hw->driver_version);
    jstr(b, &m, "cuda", hw->cuda_version > 0 ? cuda : NULL);
    hearth_buf_addc(b, '}');
    key(b, &n, "gpus");
    hearth_buf_addc(b, '[');
    for (uint32_t i = 0; i < hw->ngpus; i++) {
        if (i)
            hearth_buf_addc(b, ',');
        json_gpu(b, &hw->gpus[i]);
    }
    hearth_buf_addc(b, ']');
    jstr(b, &n, "no_gpu", hw->no_gpu);
    jstr(b, &n, "no_live", hw->no_live);
    key(b, &n, "summary");
    m = 0;
    hearth_buf_addc(b, '{');
    jnum(b, &m, "tier", s->tier, 1);
    jstr(b, &m, "gpu", s->gpu);
    jnum(b, &m, "gpu_count", s->gpu_count, 1);
    jnum(b, &m, "vram_mib", s->vram_mb, 1);
    jnum(b, &m, "cpu_cores", s->cpu_cores, 1);
    hearth_buf_adds(b, "}}\n");
}

int cmd_hw(int argc, char **argv)
{
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            puts("usage: hearth hw [--json]\n\n"
                 "Shows what this machine can offer: CPU model, cores, SHA\n"
                 "instructions, memory, and each NVIDIA GPU with its VRAM,\n"
                 "compute capability, temperature, utilisation, power, the\n"
                 "processes using it, and its tier (1 best .. 4). Without a\n"
                 "usable NVIDIA driver it says why, and that the CPU is used.\n"
                 "--json prints one object (missing readings are null).\n"
                 "HEARTH_LIBCUDA and HEARTH_LIBNVML name other driver\n"
                 "libraries to load (see docs/hardware.md).");
            return CLI_OK;
        }
        if (strcmp(argv[i], "--json")) {
            cli_error("unexpected argument '%s' (see 'hearth hw --help')",
                      argv[i]);
            return CLI_USAGE;
        }
        as_json = 1;
    }
    hearth_hw *hw = malloc(sizeof *hw);
    hearth_hw_summary s;
    hearth_buf b = HEARTH_BUF_INIT;
    if (!hw || hearth_hw_detect(hw) || hearth_hw_summarize(hw, &s)) {
        free(hw);
        cli_error("out of memory");
        return CLI_ERROR;
    }
    if (as_json)
        json(&b, hw, &s);
    else
        text(&b, hw, &s);
    free(hw);
    int rc = CLI_OK;
    if (hearth_buf_error(&b)) {
        cli_error("out of memory");
        rc = CLI_ERROR;
    } else if (fwrite(b.p, 1, b.len, stdout) != b.len || fflush(stdout)) {
        cli_error("cannot write to standard output");
        rc = CLI_ERROR;
    }
    hearth_buf_free(&b);
    return rc;
}
