/* NIP-49 cost: one encrypt and one decrypt (each one scrypt) per log_n,
 * best of a few runs. Usage: bench_nip49 [LOG_N...] (default 16 20). */
#include "hearth/nip49.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int run(unsigned log_n)
{
    static const unsigned char sk[32] = {1};
    char enc[HEARTH_NIP49_LEN + 1];
    unsigned char out[32];
    double best_e = 1e12, best_d = 1e12;
    int reps = log_n >= 20 ? 2 : 5;
    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        if (hearth_nip49_encrypt(sk, "bench passphrase", log_n, 2, enc))
            return -1;
        double t1 = now_ms();
        if (hearth_nip49_decrypt(enc, "bench passphrase", out, NULL, NULL))
            return -1;
        double t2 = now_ms();
        best_e = t1 - t0 < best_e ? t1 - t0 : best_e;
        best_d = t2 - t1 < best_d ? t2 - t1 : best_d;
    }
    printf("log_n %2u  memory %5llu MiB  encrypt %8.1f ms  decrypt %8.1f ms"
           "  (best of %d)\n", log_n, (1ull << log_n) * 1024 >> 20, best_e,
           best_d, reps);
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const dflt[] = {"16", "20"};
    int n = argc > 1 ? argc - 1 : 2;
    for (int i = 0; i < n; i++) {
        unsigned v = (unsigned)atoi(argc > 1 ? argv[i + 1] : dflt[i]);
        if (run(v)) {
            fprintf(stderr, "log_n %u failed (out of memory?)\n", v);
            return 1;
        }
    }
    return 0;
}
