/*
 * multi_bench.c - single-threaded timing of kern_matmul_rows for the
 * batched-decode shapes of a Qwen3-0.6B layer (3072x1024 and 1024x3072)
 * in F32, F16, BF16 and Q8_0, for nb = 1, 2, 4, 8, 16 inputs. Not a test.
 *
 * Two regimes: "hot" repeats one weight matrix (it stays in the caches,
 * so the kernel's arithmetic shows), "cold" cycles through copies totalling
 * 256 MiB, more than the last-level cache, as a decode step streams the
 * whole model from DRAM.
 *
 *   build/quarry-multi-bench [-c] [-m MS] [-b 1,2,4,8,16] [-t f32,f16,bf16,q8_0]
 *   (or: cc -O2 -Iengine tests/bench/multi_bench.c build/libqengine.a
 *        -lopenblas -lm -lpthread)
 * -c: cold; -m: milliseconds per point (the best 2 ms batch counts, as
 * the machine may be shared); QUARRY_NO_AVX512=1 times the AVX2 path.
 *
 * To compare with another kernel, link its object before the library:
 * kernels.o then takes kern_matmul_rows_multi from it.
 */
#include "gguf.h"
#include "kernels.h"
#include "quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((double)(rng >> 11) * 0x1.0p-53 * 2 - 1);
}

static int parse_list(const char *s, int *out, int max)
{
    int k = 0;
    while (*s && k < max) {
        out[k++] = atoi(s);
        s = strchr(s, ',');
        if (!s) break;
        s++;
    }
    return k;
}

int main(int argc, char **argv)
{
    int cold = 0, ms = 40;
    int nbs[32] = { 1, 2, 4, 8, 16 }, n_nb = 5;
    int types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0 };
    const char *type_names[] = { "f32", "f16", "bf16", "q8_0" };
    int use_type[4] = { 1, 1, 1, 1 };
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "-c")) cold = 1;
        else if (!strcmp(argv[a], "-m") && a + 1 < argc) ms = atoi(argv[++a]);
        else if (!strcmp(argv[a], "-b") && a + 1 < argc) n_nb = parse_list(argv[++a], nbs, 32);
        else if (!strcmp(argv[a], "-t") && a + 1 < argc) {
            const char *s = argv[++a];
            for (int t = 0; t < 4; t++) {
                const char *p = strstr(s, type_names[t]);
                /* "f16" is inside "bf16": accept only whole items */
                use_type[t] = 0;
                for (; p; p = strstr(p + 1, type_names[t])) {
                    size_t l = strlen(type_names[t]);
                    if ((p == s || p[-1] == ',') && (p[l] == 0 || p[l] == ',')) use_type[t] = 1;
                }
            }
        } else {
            fprintf(stderr, "usage: %s [-c] [-m MS] [-b 1,2,4] [-t f32,f16,bf16,q8_0]\n", argv[0]);
            return 2;
        }
    }
    kern_init();
    int maxnb = 1;
    for (int i = 0; i < n_nb; i++) if (nbs[i] > maxnb) maxnb = nbs[i];
    static const int shapes[][2] = { { 3072, 1024 }, { 1024, 3072 } }; /* d rows of n */
    printf("isa %s, %s, >= %d ms per point, single thread\n", kern_isa(), cold ? "cold (DRAM)" : "hot", ms);
    printf("%-5s %-10s %3s %10s %9s %9s\n", "type", "d x n", "nb", "us/call", "GFLOP/s", "W GB/s");
    for (int t = 0; t < 4; t++) {
        if (!use_type[t]) continue;
        for (int s = 0; s < 2; s++) {
            int d = shapes[s][0], n = shapes[s][1];
            size_t rb = qe_row_size(types[t], n), wbytes = rb * d;
            int copies = cold ? (int)((256u << 20) / wbytes) + 1 : 1;
            char *W = malloc(wbytes * copies);
            float *row = malloc(sizeof(float) * n);
            for (int r = 0; r < d; r++) {
                for (int i = 0; i < n; i++) row[i] = frand() * 0.05f;
                qe_quantize_row(types[t], row, W + rb * r, n);
            }
            for (int c = 1; c < copies; c++) memcpy(W + wbytes * c, W, wbytes);
            float *X = malloc(sizeof(float) * n * maxnb), *Y = malloc(sizeof(float) * d * maxnb);
            for (int i = 0; i < n * maxnb; i++) X[i] = frand();
            for (int bi = 0; bi < n_nb; bi++) {
                int nb = nbs[bi];
                /* best of several short batches: the machine is shared */
                double best = 1e30, t_end = now() + ms * 1e-3;
                int c = 0;
                do {
                    int calls = 0;
                    double t0 = now(), t1;
                    do {
                        kern_matmul_rows(types[t], W + wbytes * c, rb, n, X, nb, Y, d, 0, d);
                        c = (c + 1) % copies;
                        calls++;
                        t1 = now();
                    } while (t1 - t0 < 2e-3);
                    double per = (t1 - t0) / calls;
                    if (per < best) best = per;
                } while (now() < t_end);
                printf("%-5s %4dx%-5d %3d %10.1f %9.1f %9.1f\n", type_names[t], d, n, nb, best * 1e6,
                       2.0 * d * n * nb / best * 1e-9, wbytes / best * 1e-9);
                fflush(stdout);
            }
            free(W); free(row); free(X); free(Y);
        }
    }
    return 0;
}
