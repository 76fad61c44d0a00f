/*
 * test_invariance.c - kern_matmul_rows is batch-invariant: the value for
 * (weight row r, input x) is bitwise the same whether x is decoded alone,
 * at any place in a batch of up to 16 inputs, or with the rows split at a
 * different point between threads. The deterministic mode of the forward
 * pass (and every "same output with and without the prefix cache" claim)
 * rests on this. Run once with the best kernels for this CPU and once with
 * QUARRY_NO_AVX512=1 (tests/engine.cmake).
 */
#include "gguf.h"
#include "kernels.h"
#include "quant.h"
#include "qengine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-53;
}
static float nrand(void) { return (float)(sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand())); }

static void check_type(int type, int n, int d)
{
    enum { NB = 16 };
    size_t rb = qe_row_size(type, n);
    char *W = malloc(rb * d);
    float *row = malloc(sizeof(float) * n), *X = malloc(sizeof(float) * n * NB);
    float *Yb = malloc(sizeof(float) * d * NB), *Y1 = malloc(sizeof(float) * d), *Ys = malloc(sizeof(float) * d * NB);
    for (int r = 0; r < d; r++) {
        for (int i = 0; i < n; i++) row[i] = nrand() * 0.05f;
        qe_quantize_row(type, row, W + rb * r, n);
    }
    for (int i = 0; i < n * NB; i++) X[i] = nrand();

    kern_matmul_rows(type, W, rb, n, X, NB, Yb, d, 0, d);
    int bad = 0;
    /* each input alone */
    for (int b = 0; b < NB; b++) {
        kern_matmul_rows(type, W, rb, n, X + (size_t)b * n, 1, Y1, d, 0, d);
        bad += memcmp(Y1, Yb + (size_t)b * d, sizeof(float) * d) != 0;
    }
    CHECK(bad == 0, "%s n=%d: %d inputs differ alone vs in a batch of 16", qe_type_name(type), n, bad);
    /* every batch size, starting at every offset, rows split unevenly */
    bad = 0;
    for (int nb = 2; nb < NB; nb++)
        for (int b0 = 0; b0 + nb <= NB; b0 += 3) {
            int split = (nb * 7) % d;
            kern_matmul_rows(type, W, rb, n, X + (size_t)b0 * n, nb, Ys, d, 0, split);
            kern_matmul_rows(type, W, rb, n, X + (size_t)b0 * n, nb, Ys, d, split, d);
            bad += memcmp(Ys, Yb + (size_t)b0 * d, sizeof(float) * d * nb) != 0;
        }
    CHECK(bad == 0, "%s n=%d: %d batch shapes differ from the batch of 16", qe_type_name(type), n, bad);
    /* and the values are right, so an invariant but wrong kernel fails */
    double worst = 0;
    for (int b = 0; b < NB; b++)
        for (int r = 0; r < d; r++) {
            double ref = kern_dot_ref(type, W + rb * r, X + (size_t)b * n, n);
            double e = fabs(ref - Yb[(size_t)b * d + r]) / (1 + fabs(ref));
            if (e > worst) worst = e;
        }
    CHECK(worst < 2e-5, "%s n=%d: relative error %.3g against the reference", qe_type_name(type), n, worst);
    free(W); free(row); free(X); free(Yb); free(Y1); free(Ys);
}

int main(void)
{
    kern_init();
    printf("kernels: %s\n", kern_isa());
    int types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
    int sizes[] = { 256, 1024, 3072 };
    for (size_t t = 0; t < sizeof types / sizeof *types; t++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            check_type(types[t], sizes[s], 37);
    /* odd widths for the types that allow them (tails, fallbacks) */
    check_type(GGML_TYPE_F32, 100, 19);
    check_type(GGML_TYPE_F16, 72, 19);
    check_type(GGML_TYPE_Q8_0, 96, 19);
    return CHECK_SUMMARY();
}
