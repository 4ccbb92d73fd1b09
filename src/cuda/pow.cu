/* NIP-13 nonce search on a CUDA device, built into libhearth-cuda.so and
 * loaded at run time by the compute layer (src/compute/pow_cuda.c; see
 * include/hearth/nip13.h for the exported calls). Each thread runs
 * hearth_pow_scan from src/util/sha256_core.h, the scalar CPU miner's own
 * loop, so a GPU and a CPU given the same job agree on every hash. */
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "hearth/error.h"
#include "hearth/nip13.h"
}
#include "util/sha256_core.h"

#define EXPORT extern "C" __attribute__((visibility("default")))

#define NO_NONCE (~0ull)
#define THREADS 256

/* by value: kernel arguments live in the constant bank, which every
 * thread reads without contention */
struct search_args {
    uint32_t mid[8];
    uint64_t prefix_len;
    const uint8_t *tail; /* device copy */
    size_t tail_len;
    size_t nonce_off;
    unsigned width;
    int target;
    uint64_t start;
    uint64_t count;
    unsigned long long *found; /* smallest winning nonce, NO_NONCE if none */
};

/* Nonces per thread step: a group sharing all but the last two digits,
 * so each thread does the work before those digits once per 100 tries
 * (hearth_pow_scan, the loop the CPU tests check against libsodium). */
#define GROUP 100u

__global__ void pow_search_kernel(search_args a)
{
    uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
    uint64_t g0 = a.start / GROUP, g1 = (a.start + a.count - 1) / GROUP;
    for (uint64_t g = g0 + (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
         g <= g1; g += stride) {
        uint64_t lo = g * GROUP, hi = lo + GROUP;
        if (lo < a.start)
            lo = a.start;
        if (hi > a.start + a.count)
            hi = a.start + a.count;
        /* A thread's nonces only grow, so once a smaller one has won this
         * thread cannot improve on it; stopping keeps the minimum exact. */
        if (*(volatile unsigned long long *)a.found < lo)
            return;
        uint64_t nonce;
        if (hearth_pow_scan(a.mid, a.prefix_len, a.tail, a.tail_len,
                            a.nonce_off, a.width, a.width < 2 ? a.width : 2,
                            a.target, lo, hi - lo, &nonce, NULL))
            atomicMin(a.found, (unsigned long long)nonce);
    }
}

EXPORT int hearth_cuda_pow_abi(void)
{
    return HEARTH_CUDA_POW_ABI;
}

EXPORT int hearth_cuda_pow_devices(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear it so later calls start clean */
        return 0;
    }
    return n;
}

static int device_error(cudaError_t e)
{
    switch (e) {
    case cudaErrorNoDevice:
    case cudaErrorInvalidDevice:
    case cudaErrorInsufficientDriver:
        return HEARTH_ENOTFOUND;
    default:
        return HEARTH_EIO;
    }
}

EXPORT int hearth_cuda_pow_search(int device, const hearth_nip13_job *job,
                                  uint64_t start, uint64_t count,
                                  uint64_t *nonce)
{
    if (!job || !nonce || !job->tail || job->width < 1 ||
        job->width > HEARTH_NIP13_MAX_WIDTH || job->target < 0 ||
        job->target > HEARTH_NIP13_MAX_BITS || job->prefix_len % 64 ||
        job->nonce_off + job->width > job->tail_len)
        return HEARTH_EINVAL;
    uint64_t limit = 1;
    for (unsigned i = 0; i < job->width; i++)
        limit *= 10;
    if (count == 0 || start >= limit || count > limit - start)
        return HEARTH_EINVAL;

    cudaError_t e = cudaSetDevice(device);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return device_error(e);
    }
    int sms = 0;
    e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return device_error(e);
    }

    search_args a;
    for (int i = 0; i < 8; i++)
        a.mid[i] = job->mid[i];
    a.prefix_len = job->prefix_len;
    a.tail_len = job->tail_len;
    a.nonce_off = job->nonce_off;
    a.width = job->width;
    a.target = job->target;
    a.start = start;
    a.count = count;

    uint8_t *tail = NULL;
    unsigned long long *found = NULL, result = NO_NONCE;
    e = cudaMalloc((void **)&tail, job->tail_len);
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&found, sizeof *found);
    if (e == cudaSuccess)
        e = cudaMemcpy(tail, job->tail, job->tail_len, cudaMemcpyHostToDevice);
    if (e == cudaSuccess)
        e = cudaMemcpy(found, &result, sizeof result, cudaMemcpyHostToDevice);
    if (e == cudaSuccess) {
        a.tail = tail;
        a.found = found;
        /* enough resident blocks to fill the device; the grid-stride loop
         * covers the rest of the range */
        uint64_t groups = (start + count - 1) / GROUP - start / GROUP + 1;
        uint64_t blocks = (groups + THREADS - 1) / THREADS;
        uint64_t most = (uint64_t)(sms > 0 ? sms : 1) * 32;
        pow_search_kernel<<<(unsigned)(blocks < most ? blocks : most),
                            THREADS>>>(a);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess) /* waits for the kernel */
        e = cudaMemcpy(&result, found, sizeof result, cudaMemcpyDeviceToHost);
    cudaFree(tail);
    cudaFree(found);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return device_error(e);
    }
    if (result == NO_NONCE)
        return 0;
    *nonce = result;
    return 1;
}

/* The exports must match the types the loader casts them to: C++ will
 * not convert between function pointer types, so a mismatch fails here. */
__attribute__((unused)) static hearth_cuda_pow_abi_fn check_abi =
    hearth_cuda_pow_abi;
__attribute__((unused)) static hearth_cuda_pow_devices_fn check_devices =
    hearth_cuda_pow_devices;
__attribute__((unused)) static hearth_cuda_pow_search_fn check_search =
    hearth_cuda_pow_search;
