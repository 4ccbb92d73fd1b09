/* Hardware detection (docs/hardware.md): the CPU, memory and NVIDIA GPUs of
 * this machine, and live GPU readings for stepping aside when a game or
 * another program wants the GPU.
 *
 * GPUs are found through the CUDA driver API (libcuda.so.1) and read
 * through NVML (libnvidia-ml.so.1), both loaded with dlopen at run time,
 * so the same binary runs on machines without NVIDIA libraries: detection
 * then succeeds with no GPU and says why in hearth_hw.no_gpu. The library
 * names can be replaced with the environment variables HEARTH_LIBCUDA and
 * HEARTH_LIBNVML (a path or a soname), which is how the tests load fake
 * drivers. */
#ifndef HEARTH_HW_H
#define HEARTH_HW_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/offer.h"

#define HEARTH_HW_MAX_GPUS   16u
#define HEARTH_GPU_MAX_PROCS 32u
#define HEARTH_GPU_NAME_MAX  96u   /* NVML's and CUDA's names fit, +NUL */
#define HEARTH_HW_WHY_MAX    256u  /* a reason sentence, +NUL */

/* Tier minimums (hearth_gpu_tier). A GPU meets an "N GB" class when the
 * driver reports at least 7/8 of N GiB: drivers report the total minus
 * memory reserved for firmware and ECC (an 8 GB card shows about 7970
 * MiB, a 16 GB one with ECC on about 15100 MiB), and 7/8 still lies above
 * every smaller size that is sold (12, 6 and 3 GB). */
#define HEARTH_TIER1_MIN_MB 14336u  /* "16 GB": 7/8 of 16384 MiB */
#define HEARTH_TIER2_MIN_MB 7168u   /* "8 GB" */
#define HEARTH_TIER3_MIN_MB 3584u   /* "4 GB" */

/* which fields of a hearth_gpu_reading hold a value: NVML answers "not
 * supported" per reading (power on many laptop GPUs, for example) */
enum {
    HEARTH_GPU_HAVE_MEM = 1u << 0,
    HEARTH_GPU_HAVE_TEMP = 1u << 1,
    HEARTH_GPU_HAVE_UTIL = 1u << 2,
    HEARTH_GPU_HAVE_POWER = 1u << 3,
    HEARTH_GPU_HAVE_PROCS = 1u << 4
};

#define HEARTH_GPU_USED_UNKNOWN UINT64_MAX

/* A process with a context on a GPU. pids are as the driver sees them
 * (the host's pid namespace when hearth runs in a container). */
typedef struct hearth_gpu_proc {
    uint32_t pid;
    uint8_t compute;      /* has a compute (CUDA) context */
    uint8_t graphics;     /* has a graphics context: games, compositors */
    uint8_t own;          /* it is the calling process */
    uint64_t used_bytes;  /* HEARTH_GPU_USED_UNKNOWN if not reported */
} hearth_gpu_proc;

/* Live readings of one GPU at one moment. */
typedef struct hearth_gpu_reading {
    unsigned have;                /* HEARTH_GPU_HAVE_* */
    uint64_t mem_total, mem_free; /* bytes, as NVML counts them */
    uint32_t temp_c;
    uint32_t util_gpu, util_mem;  /* percent busy over the driver's last
                                     sampling period */
    uint32_t power_mw;
    uint32_t nprocs;              /* entries in procs */
    uint32_t nforeign;            /* of those, not the calling process */
    uint8_t procs_truncated;      /* more processes than HEARTH_GPU_MAX_PROCS */
    hearth_gpu_proc procs[HEARTH_GPU_MAX_PROCS];
} hearth_gpu_reading;

typedef struct hearth_gpu {
    char name[HEARTH_GPU_NAME_MAX];
    char pci_bus_id[32];        /* "0000:01:00.0": how CUDA's device and
                                   NVML's device are matched; "" unknown */
    int ordinal;                /* CUDA device ordinal */
    uint64_t vram_total;        /* bytes a CUDA program can address */
    uint16_t cc_major, cc_minor;
    uint32_t sm_count;          /* streaming multiprocessors */
    uint8_t tier;               /* hearth_gpu_tier */
    hearth_gpu_reading live;    /* at detection; have == 0 without NVML */
} hearth_gpu;

typedef struct hearth_hw {
    char cpu_model[128];        /* "unknown" if the system does not say */
    uint32_t cpu_threads;       /* logical CPUs online */
    uint32_t cpu_usable;        /* of those, in this process's affinity */
    uint8_t cpu_sha;            /* SHA-256 instructions: x86 SHA-NI,
                                   ARMv8 SHA2 */
    uint8_t cpu_avx2;           /* AVX2, and the OS saves its registers */
    uint64_t mem_total, mem_available;  /* bytes */
    int cuda_version;           /* the driver's CUDA version, 13000 = 13.0;
                                   0 unknown */
    char driver_version[80];    /* NVIDIA driver, "580.95.05"; "" unknown */
    uint32_t ngpus;
    hearth_gpu gpus[HEARTH_HW_MAX_GPUS];
    char no_gpu[HEARTH_HW_WHY_MAX];   /* why ngpus is 0; "" otherwise */
    char no_live[HEARTH_HW_WHY_MAX];  /* why live readings are missing */
} hearth_hw;

/* Tier of a GPU from the VRAM its driver reports (MiB) and its compute
 * capability: 1 = at least HEARTH_TIER1_MIN_MB and 8.0, 2 = at least
 * HEARTH_TIER2_MIN_MB and 7.0, 3 = at least HEARTH_TIER3_MIN_MB and 6.0,
 * 4 = any other GPU, 0 = no GPU (vram_mb 0). A GPU gets the best tier
 * whose minimums it meets, so more VRAM never lowers the tier. */
uint8_t hearth_gpu_tier(uint32_t vram_mb, unsigned cc_major,
                        unsigned cc_minor);

/* Detect this machine. Missing or broken NVIDIA libraries are not errors:
 * the result then has ngpus 0 and a reason in no_gpu, and live readings
 * missing because of NVML have a reason in no_live. Returns HEARTH_EINVAL
 * only for a NULL out. Loads and initialises the NVIDIA libraries, which
 * stay mapped (they cannot be unloaded safely); takes well under a second
 * without a GPU, and up to a few seconds while the driver wakes a GPU. */
int hearth_hw_detect(hearth_hw *out);

/* What an offer says about this machine: the best GPU (lowest tier, then
 * most VRAM, then highest compute capability), how many GPUs of that same
 * model there are, and the usable CPU cores. No GPU gives tier 0 and an
 * empty name. */
int hearth_hw_summarize(const hearth_hw *hw, hearth_hw_summary *out);

/* Live readings, for a daemon that polls: open once, sample often. */
typedef struct hearth_gpu_monitor hearth_gpu_monitor;

/* Load and initialise NVML. HEARTH_ENOTFOUND (NVML missing, incomplete or
 * failing to initialise) or HEARTH_ENOMEM, with a reason in why. */
int hearth_gpu_monitor_open(hearth_gpu_monitor **out, char *why,
                            size_t whylen);
/* Read the GPU at pci_bus_id (hearth_gpu.pci_bus_id). Readings the GPU
 * does not support are left out of out->have. HEARTH_ENOTFOUND if NVML
 * has no such GPU, HEARTH_EIO if it cannot reach it (fell off the bus). */
int hearth_gpu_sample(hearth_gpu_monitor *m, const char *pci_bus_id,
                      hearth_gpu_reading *out);
/* the driver's version string ("" if NVML does not say) */
const char *hearth_gpu_monitor_driver(const hearth_gpu_monitor *m);
void hearth_gpu_monitor_close(hearth_gpu_monitor *m);

#endif
