/*
 * kq_bench.c - single-threaded throughput of kern_matmul_rows on Q4_K and
 * Q6_K weights at decode shapes (3072x1024, 1024x3072: Qwen3-0.6B's FFN)
 * for 1..16 inputs, plus the single-vector kern_dot for comparison.
 *
 * Not a test and not part of the build; by hand from the repository root:
 *   cmake --build build -j2
 *   cc -O2 -Iengine tests/bench/kq_bench.c build/libqengine.a -lopenblas -lm -lpthread -o /tmp/kq_bench
 *   /tmp/kq_bench [seconds per case, default 0.2]
 * It uses only kernels.h, so it also builds against an older library for
 * before/after figures. QUARRY_NO_AVX512=1 measures the AVX2 path. Each
 * case reports the best of 8 windows, as the machine may be shared. The
 * weights (1.7 / 2.5 MB) exceed L2, so each pass streams them from L3 as
 * decode streams them from memory. Gw/s counts weights read per second (a
 * row read once serves all inputs), GFLOP/s counts 2 * rows * n * nb.
 */
#include "gguf.h"
#include "kernels.h"
#include "quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static float frand(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((double)(rng >> 11) * 0x1.0p-53 - 0.5);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.2;
    static const int shapes[][2] = { { 3072, 1024 }, { 1024, 3072 } }; /* rows, n */
    static const int nbs[] = { 1, 2, 4, 8, 16 };
    enum { NBMAX = 16 };
    kern_init();
    printf("kernels: %s, %.2f s per case\n", kern_isa(), secs);
    printf("%-5s %-10s %-9s %9s %9s %10s\n", "type", "shape", "nb", "us/call", "Gw/s", "GFLOP/s");
    for (int t = 0; t < 2; t++) {
        int type = t ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K;
        for (int s = 0; s < 2; s++) {
            int d = shapes[s][0], n = shapes[s][1];
            size_t rb = qe_row_size(type, n);
            char *W = malloc(rb * d);
            float *row = malloc(sizeof(float) * n), *X = malloc(sizeof(float) * n * NBMAX);
            float *Y = malloc(sizeof(float) * d * NBMAX);
            for (int r = 0; r < d; r++) {
                for (int i = 0; i < n; i++) row[i] = frand() * 0.1f;
                qe_quantize_row(type, row, W + rb * r, n);
            }
            for (int i = 0; i < n * NBMAX; i++) X[i] = frand();
            /* nb = 0 stands for n single-vector kern_dot calls */
            for (int k = -1; k < (int)(sizeof nbs / sizeof *nbs); k++) {
                int nb = k < 0 ? 0 : nbs[k];
                volatile float sink = 0;
                /* the best of 8 windows: the machine is shared, and a window
                 * the other load left alone shows what the kernel does */
                double per = 1e9, w = (double)d * n;
                for (int win = 0; win < 8; win++) {
                    long calls = 0;
                    double t0 = now(), t1;
                    do {
                        if (nb == 0) {
                            float acc = 0;
                            for (int r = 0; r < d; r++) acc += kern_dot(type, W + rb * r, X, n);
                            sink += acc;
                        } else {
                            kern_matmul_rows(type, W, rb, n, X, nb, Y, d, 0, d);
                            sink += Y[0];
                        }
                        calls++;
                        t1 = now();
                    } while (t1 - t0 < secs / 8);
                    if ((t1 - t0) / calls < per) per = (t1 - t0) / calls;
                }
                char shape[16], nbs_[16];
                snprintf(shape, sizeof shape, "%dx%d", d, n);
                snprintf(nbs_, sizeof nbs_, nb ? "%d" : "dot", nb);
                printf("%-5s %-10s %-9s %9.1f %9.2f %10.1f\n", t ? "Q6_K" : "Q4_K", shape, nbs_, per * 1e6,
                       w / per * 1e-9, 2 * w * (nb ? nb : 1) / per * 1e-9);
                (void)sink;
            }
            free(W); free(row); free(X); free(Y);
        }
    }
    return 0;
}
