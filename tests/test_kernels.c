/*
 * test_kernels.c - fast kernels against their naive references, on odd
 * sizes, for every weight type; F16/BF16/Q8_0 conversions exhaustively or
 * against their definitions; the thread pool's work split.
 */
#include "gguf.h"
#include "kernels.h"
#include "quant.h"
#include "threadpool.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static uint64_t rng = 88172645463325252ull;
static double urand(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-53;
}
static float nrand(void) { return (float)(sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand())); }

static void test_fp16(void)
{
    /* every half value survives half -> float -> half (NaNs stay NaN) */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qe_fp16_to_f32((uint16_t)h);
        uint16_t back = qe_f32_to_fp16(f);
        if (isnan(f)) bad += !isnan(qe_fp16_to_f32(back));
        else bad += back != h;
    }
    CHECK(bad == 0, "fp16 round trip: %d values changed", bad);
    CHECK(qe_fp16_to_f32(0x3c00) == 1.0f && qe_fp16_to_f32(0xc000) == -2.0f, "fp16 constants");
    CHECK(qe_f32_to_fp16(65519.0f) == 0x7bff && qe_f32_to_fp16(65520.0f) == 0x7c00, "fp16 overflow edge");
    CHECK(qe_f32_to_fp16(5.960464477539063e-8f) == 1, "fp16 smallest subnormal");
    /* round to nearest even at a tie: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 */
    CHECK(qe_f32_to_fp16(1.0f + 0x1p-11f) == 0x3c00, "fp16 tie to even (down)");
    CHECK(qe_f32_to_fp16(1.0f + 3 * 0x1p-11f) == 0x3c02, "fp16 tie to even (up)");
    /* conversions against a double-precision nearest search on random floats */
    for (int i = 0; i < 20000; i++) {
        float f = nrand() * (float)pow(2.0, (int)(urand() * 40) - 20);
        uint16_t h = qe_f32_to_fp16(f);
        double e = fabs((double)qe_fp16_to_f32(h) - f);
        /* neighbours within the same sign (0x0000 - 1 would be a NaN) */
        double e1 = fabs((double)qe_fp16_to_f32(h + 1) - f);
        double e2 = (h & 0x7fff) ? fabs((double)qe_fp16_to_f32(h - 1) - f) : INFINITY;
        if (fabs(f) < 65504) CHECK(e <= e1 && e <= e2, "fp16 not nearest for %g", f);
    }
}

static void test_bf16(void)
{
    CHECK(qe_f32_to_bf16(1.0f) == 0x3f80, "bf16 1.0");
    CHECK(qe_bf16_to_f32(0xc040) == -3.0f, "bf16 -3.0");
    CHECK(qe_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80, "bf16 tie to even");
    CHECK(isnan(qe_bf16_to_f32(qe_f32_to_bf16(NAN))), "bf16 keeps NaN");
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qe_bf16_to_f32((uint16_t)h);
        if (!isnan(f) && qe_f32_to_bf16(f) != h) { CHECK(0, "bf16 round trip %04x", h); break; }
    }
}

static void test_q8_0(void)
{
    float x[256], y[256];
    block_q8_0 b[8];
    for (int i = 0; i < 256; i++) x[i] = nrand() * (i < 32 ? 0.0f : 1.0f); /* one all-zero block */
    CHECK(qe_quantize_row(GGML_TYPE_Q8_0, x, b, 256) == 8 * sizeof(block_q8_0), "q8_0 size");
    CHECK(qe_dequantize_row(GGML_TYPE_Q8_0, b, y, 256) == 0, "q8_0 dequantize");
    for (int blk = 0; blk < 8; blk++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[blk * 32 + j]));
        for (int j = 0; j < 32; j++) {
            /* error: half a quantum plus the F16 rounding of the scale */
            float tol = amax / 127 * 0.5f + amax * 1e-3f + 1e-7f;
            CHECK(fabsf(y[blk * 32 + j] - x[blk * 32 + j]) <= tol, "q8_0 error at %d", blk * 32 + j);
        }
    }
    CHECK(qe_quantize_row(GGML_TYPE_Q8_0, x, b, 33) == 0, "q8_0 rejects n %% 32 != 0");
}

static void test_dots(void)
{
    static const int types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0 };
    static const int sizes[] = { 1, 7, 15, 16, 17, 31, 32, 33, 64, 96, 100, 1000, 1024, 3072, 4099 };
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        int type = types[ti];
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            int n = sizes[si];
            if (type == GGML_TYPE_Q8_0 && n % 32) continue;
            enum { ROWS = 5, NB = 3 };
            float *w = malloc((size_t)n * ROWS * sizeof *w), *X = malloc((size_t)n * NB * sizeof *X);
            size_t rb = qe_row_size(type, n);
            char *W = malloc(rb * ROWS);
            for (int i = 0; i < n * ROWS; i++) w[i] = nrand() * 0.1f;
            for (int i = 0; i < n * NB; i++) X[i] = nrand();
            for (int r = 0; r < ROWS; r++) qe_quantize_row(type, w + (size_t)r * n, W + r * rb, n);
            float Y[NB * ROWS];
            kern_matmul_rows(type, W, rb, n, X, NB, Y, ROWS, 0, ROWS);
            for (int r = 0; r < ROWS; r++)
                for (int b = 0; b < NB; b++) {
                    double ref = kern_dot_ref(type, W + r * rb, X + (size_t)b * n, n);
                    double mag = 0;
                    for (int i = 0; i < n; i++) mag += fabs(w[(size_t)r * n + i] * X[(size_t)b * n + i]);
                    /* float accumulation error bound ~ n * eps * sum|w x| */
                    double tol = 1e-6 * (n < 64 ? 64 : n) * mag + 1e-6;
                    float got = Y[b * ROWS + r];
                    CHECK(fabs(got - ref) <= tol, "%s n=%d row %d input %d: fast %.9g vs ref %.9g",
                          ggml_type_str(type), n, r, b, got, ref);
                    CHECK(fabsf(kern_dot(type, W + r * rb, X + (size_t)b * n, n) - got) <= 1e-6f * (float)mag + 1e-6f,
                          "kern_dot and kern_matmul_rows disagree");
                }
            free(w); free(X); free(W);
        }
    }
}

/* The prompt-sized GEMM (when the CPU has it) against the reference dot,
 * with token counts and row counts that exercise every tile and a partial
 * panel, for every weight type. */
static void test_gemm(void)
{
    static const int types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0,
                                 GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
    static const int Ts[] = { 1, 5, 13, 37 }, ns[] = { 96, 1024 };
    for (size_t ti = 0; ti < 6; ti++)
        for (size_t ni = 0; ni < 2; ni++)
            for (size_t tt = 0; tt < 4; tt++) {
                int type = types[ti], n = ns[ni], T = Ts[tt], d = 70;
                if (type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q6_K) n = ni ? 1024 : 256;   /* 256-wide blocks */
                size_t rb = qe_row_size(type, n);
                char *W = malloc(rb * d);
                float *w = malloc((size_t)n * sizeof *w), *X = malloc((size_t)n * T * sizeof *X);
                float *Y = malloc((size_t)d * T * sizeof *Y);
                float *scratch = malloc(kern_gemm_scratch_floats(n) * sizeof *scratch);
                for (int r = 0; r < d; r++) {
                    for (int i = 0; i < n; i++) w[i] = nrand() * 0.1f;
                    qe_quantize_row(type, w, W + r * rb, n);
                }
                for (int i = 0; i < n * T; i++) X[i] = nrand();
                for (int i = 0; i < d * T; i++) Y[i] = -12345.0f;
                /* rows 3..67 only: the others must stay untouched */
                if (!kern_gemm_rows(type, W, rb, n, X, T, Y, d, 3, 67, scratch)) {
                    free(W); free(w); free(X); free(Y); free(scratch);
                    continue; /* no fast GEMM on this CPU: BLAS is used */
                }
                int bad = 0;
                for (int t = 0; t < T; t++)
                    for (int r = 0; r < d; r++) {
                        float got = Y[(size_t)t * d + r];
                        if (r < 3 || r >= 67) { bad += got != -12345.0f; continue; }
                        double ref = kern_dot_ref(type, W + r * rb, X + (size_t)t * n, n);
                        bad += fabs(got - ref) > 1e-5 * n * 0.1 + 1e-5;
                    }
                CHECK(bad == 0, "gemm %s n=%d T=%d: %d wrong entries", ggml_type_str(type), n, T, bad);
                free(W); free(w); free(X); free(Y); free(scratch);
            }
}

/* The 16-row layout (kernels_x16.c): packing keeps every weight, the
 * fast tiles agree bitwise with the portable path and with themselves
 * whatever the batch (every nb 1..17 exercises each tile and the parts of
 * larger batches) and row range, and stay within float error of the exact
 * dot; the GEMM over the layout matches too. */
static void test_x16(void)
{
    static const int types[] = { GGML_TYPE_F16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
    static const int ns[] = { 32, 96, 1024 }, ds[] = { 16, 48, 208 };
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++)
        for (size_t ni = 0; ni < 3; ni++) {
            int type = types[ti], n = ns[ni], d = ds[ni], NB = 17;
            if (type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q6_K) n = ni == 0 ? 256 : ni == 1 ? 512 : 1024;
            CHECK(kern_x16_supported(type, n, d) && !kern_x16_supported(type, n, d + 8) &&
                      !kern_x16_supported(type, n + 16, d), "x16 support for %s n=%d d=%d", ggml_type_str(type), n, d);
            size_t rb = qe_row_size(type, n);
            char *W = malloc(rb * d), *P = malloc(kern_x16_size(type, n, d));
            float *w = malloc(sizeof *w * n), *X = malloc(sizeof *X * n * NB), *row = malloc(sizeof *row * n);
            float *Y = malloc(sizeof *Y * d * NB), *Y1 = malloc(sizeof *Y1 * d * NB), *Yr = malloc(sizeof *Yr * d * NB);
            for (int r = 0; r < d; r++) {
                for (int i = 0; i < n; i++) w[i] = nrand() * 0.1f;
                qe_quantize_row(type, w, W + r * rb, n);
            }
            for (int i = 0; i < n * NB; i++) X[i] = nrand();
            kern_x16_pack(type, W, rb, n, d, P);
            int bad = 0;
            for (int r = 0; r < d; r++) {
                qe_dequantize_row(type, W + r * rb, w, n);
                kern_x16_row(type, P, n, r, row);
                bad += memcmp(w, row, sizeof *w * n) != 0;
            }
            CHECK(bad == 0, "x16 %s n=%d: %d rows changed by packing", ggml_type_str(type), n, bad);
            kern_matmul_x16_ref(type, P, n, X, NB, Yr, d, 0, d);
            bad = 0;
            int bad_ref = 0;
            for (int r = 0; r < d; r++)
                for (int b = 0; b < NB; b++) {
                    double ref = kern_x16_dot_ref(type, P, n, r, X + (size_t)b * n);
                    double ref2 = kern_dot_ref(type, W + r * rb, X + (size_t)b * n, n);
                    bad_ref += fabs(ref - ref2) > 1e-12 * n;   /* the same exact dot, summed in another order */
                    bad += fabs(Yr[(size_t)b * d + r] - ref) > 1e-5 * n * 0.1 + 1e-5;
                }
            CHECK(bad_ref == 0, "x16 %s n=%d: %d exact dots differ from kern_dot_ref's", ggml_type_str(type), n, bad_ref);
            CHECK(bad == 0, "x16 %s n=%d: portable path %d entries off the exact dot", ggml_type_str(type), n, bad);
            for (int nb = 1; nb <= NB; nb++) {
                for (int i = 0; i < d * NB; i++) Y[i] = -12345.0f;
                /* groups 1 .. d/16 - 1 only, when there are several */
                int r0 = d > 16 ? 16 : 0;
                kern_matmul_x16(type, P, n, X, nb, Y, d, r0, d);
                bad = 0;
                for (int b = 0; b < nb; b++)
                    for (int r = 0; r < d; r++)
                        bad += r < r0 ? Y[(size_t)b * d + r] != -12345.0f
                                      : memcmp(&Y[(size_t)b * d + r], &Yr[(size_t)b * d + r], sizeof *Y) != 0;
                CHECK(bad == 0, "x16 %s n=%d nb=%d: %d entries differ from the portable path", ggml_type_str(type), n,
                      nb, bad);
            }
            /* the GEMM over the layout (when the CPU has it), rows from 16 */
            float *scratch = malloc(kern_gemm_scratch_floats(n) * sizeof *scratch);
            for (int i = 0; i < d * NB; i++) Y1[i] = -12345.0f;
            if (kern_gemm_rows_x16(type, P, n, X, NB, Y1, d, d > 16 ? 16 : 0, d, scratch)) {
                bad = 0;
                for (int b = 0; b < NB; b++)
                    for (int r = 0; r < d; r++) {
                        float got = Y1[(size_t)b * d + r];
                        if (d > 16 && r < 16) { bad += got != -12345.0f; continue; }
                        bad += fabs(got - kern_x16_dot_ref(type, P, n, r, X + (size_t)b * n)) > 1e-5 * n * 0.1 + 1e-5;
                    }
                CHECK(bad == 0, "x16 gemm %s n=%d: %d wrong entries", ggml_type_str(type), n, bad);
            }
            free(scratch);
            free(W); free(P); free(w); free(X); free(row); free(Y); free(Y1); free(Yr);
        }
}

/* Q16 activations (kernels_x16q.c): the quantiser's fast path equals its
 * reference bitwise (zero, outlier, infinite and NaN blocks included);
 * every result is within the activations' rounding (half a step of its
 * block, 1/65534 of the block's largest value, per weight) of the exact
 * dot with the F32 inputs; the tiles equal the portable path bitwise for
 * every nb 1..17 and row range. */
static void test_x16q(void)
{
    static const int types[] = { GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++)
        for (int ni = 0; ni < 3; ni++) {
            int type = types[ti], NB = 41;
            int n = type == GGML_TYPE_Q8_0 ? (ni == 0 ? 32 : ni == 1 ? 96 : 1024) : (ni == 0 ? 256 : ni == 1 ? 512 : 1024);
            int d = ni == 0 ? 16 : ni == 1 ? 48 : 208;
            size_t rb = qe_row_size(type, n), qb = kern_q16_row_bytes(n);
            char *W = malloc(rb * d), *P = malloc(kern_x16_size(type, n, d));
            char *XQ = malloc(qb * NB), *XQ1 = malloc(qb * NB);
            float *w = malloc(sizeof *w * n), *X = malloc(sizeof *X * n * NB);
            float *Y = malloc(sizeof *Y * d * NB), *Yr = malloc(sizeof *Yr * d * NB);
            for (int r = 0; r < d; r++) {
                for (int i = 0; i < n; i++) w[i] = nrand() * 0.1f;
                qe_quantize_row(type, w, W + r * rb, n);
            }
            for (int i = 0; i < n * NB; i++) X[i] = nrand();
            /* a zero block and an outlier (Qwen's activations have them) */
            for (int i = 0; i < 32; i++) X[n + i] = 0.0f;
            X[2 * n + 5] = 900.0f;
            kern_x16_pack(type, W, rb, n, d, P);
            kern_q16_quantize(X, n, NB, XQ);
            kern_q16_quantize_ref(X, n, NB, XQ1);
            CHECK(memcmp(XQ, XQ1, qb * NB) == 0, "q16 quantize n=%d: fast path differs from the reference", n);
            kern_matmul_x16q_ref(type, P, n, XQ, NB, Yr, d, 0, d);
            int bad = 0;
            double worst = 0;
            for (int r = 0; r < d; r++) {
                qe_dequantize_row(type, W + r * rb, w, n);
                for (int b = 0; b < NB; b++) {
                    const float *x = X + (size_t)b * n;
                    double exact = 0, bound = 0, mag = 0;
                    for (int k = 0; k < n; k++) {
                        float amax = 0;
                        for (int e = k / 32 * 32; e < k / 32 * 32 + 32; e++) amax = fmaxf(amax, fabsf(x[e]));
                        exact += (double)w[k] * x[k];
                        bound += fabs(w[k]) * amax / 65534.0;
                        mag += fabs((double)w[k] * x[k]);
                    }
                    double err = fabs(Yr[(size_t)b * d + r] - exact);
                    bad += err > bound * 1.01 + 1e-6 * mag + 1e-6;
                    if (bound > 0 && err / bound > worst) worst = err / bound;
                }
            }
            CHECK(bad == 0, "x16q %s n=%d: %d results beyond the rounding of the activations (worst %.2f of the bound)",
                  ggml_type_str(type), n, bad, worst);
            /* 1 .. 17: every tile and the parts; 29, 41: the prompts' panels */
            for (int nb = 1; nb <= NB; nb = nb < 17 ? nb + 1 : nb + 12) {
                for (int i = 0; i < d * NB; i++) Y[i] = -12345.0f;
                int r0 = d > 16 ? 16 : 0;
                kern_matmul_x16q(type, P, n, XQ, nb, Y, d, r0, d);
                bad = 0;
                for (int b = 0; b < nb; b++)
                    for (int r = 0; r < d; r++)
                        bad += r < r0 ? Y[(size_t)b * d + r] != -12345.0f
                                      : memcmp(&Y[(size_t)b * d + r], &Yr[(size_t)b * d + r], sizeof *Y) != 0;
                CHECK(bad == 0, "x16q %s n=%d nb=%d: %d entries differ from the portable path", ggml_type_str(type), n,
                      nb, bad);
            }
            free(W); free(P); free(XQ); free(XQ1); free(w); free(X); free(Y); free(Yr);
        }
    /* non-finite inputs: the blocks holding them give NaN, as in float */
    float x[64];
    for (int i = 0; i < 64; i++) x[i] = nrand();
    x[3] = NAN;
    x[40] = INFINITY;
    char q1[2 * 64 + 16], q2[2 * 64 + 16];
    kern_q16_quantize(x, 64, 1, q1);
    kern_q16_quantize_ref(x, 64, 1, q2);
    const float *dd = (const float *)(q1 + 128);
    CHECK(memcmp(q1, q2, sizeof q1) == 0 && isnan(dd[0]) && isnan(dd[1]), "q16 quantize: non-finite blocks");
}

static void test_elementwise(void)
{
    int n = 333;
    float x[333], w[333], y1[333], y2[333];
    for (int i = 0; i < n; i++) { x[i] = nrand() * 3; w[i] = 1 + nrand() * 0.1f; }
    kern_rmsnorm(y1, x, w, n, 1e-6f);
    kern_rmsnorm_ref(y2, x, w, n, 1e-6f);
    for (int i = 0; i < n; i++) CHECK(fabsf(y1[i] - y2[i]) <= 1e-5f * fabsf(y2[i]) + 1e-6f, "rmsnorm %d", i);

    /* RoPE: rotation preserves each pair's norm and at position 0 is identity */
    float v[128], v0[128], cs[128];
    for (int i = 0; i < 128; i++) v0[i] = v[i] = nrand();
    kern_rope_table(cs, 128, 0, 1e6f);
    kern_rope_neox(v, 128, cs);
    for (int i = 0; i < 128; i++) CHECK(v[i] == v0[i], "rope at pos 0 must be identity");
    kern_rope_table(cs, 128, 12345, 1e6f);
    kern_rope_neox(v, 128, cs);
    for (int i = 0; i < 64; i++) {
        double a = hypot(v[i], v[i + 64]), b = hypot(v0[i], v0[i + 64]);
        CHECK(fabs(a - b) <= 1e-5 * b + 1e-6, "rope changes pair norm at %d", i);
        double th = 12345.0 * pow(1e6, -2.0 * i / 128);
        double ex = v0[i] * cos(th) - v0[i + 64] * sin(th);
        CHECK(fabs(v[i] - ex) < 1e-5, "rope value at pair %d", i);
    }

    /* argmax: the two-pass kernel against the loop, at every length up to
     * 70 and at the vocabulary's, with ties, NaNs, infinities and signed
     * zeros; -1 when nothing is above -inf */
    {
        static float ax[151936];
        uint64_t r = 99;
        int bad = 0;
        for (int trial = 0; trial < 400; trial++) {
            int n = trial < 300 ? trial % 71 : 151936 - (trial % 17);
            int kind = trial % 5;
            for (int i = 0; i < n; i++) {
                r = r * 6364136223846793005ull + 1442695040888963407ull;
                int v = (int)((r >> 33) % 64);
                ax[i] = kind == 0 ? (float)v : kind == 1 ? (float)(v % 3) : kind == 2 ? -INFINITY : (float)v - 40.0f;
                if (kind == 3 && v == 7) ax[i] = NAN;
                if (kind == 4 && v == 5) ax[i] = v & 1 ? -0.0f : 0.0f;
                if (kind == 4 && v == 63 && i % 2) ax[i] = NAN;
            }
            if (kind == 2 && n > 3) ax[n / 2] = NAN;
            if (trial % 7 == 0 && n > 5) ax[n - 1] = INFINITY;
            bad += kern_argmax(ax, n) != kern_argmax_ref(ax, n);
        }
        CHECK(!bad, "argmax differs from the reference loop in %d of 400 arrays", bad);
        float z[4] = { -INFINITY, NAN, -INFINITY, NAN }, t[5] = { 1, 3, -0.0f, 3, 2 };
        CHECK(kern_argmax(z, 4) == -1 && kern_argmax(z, 0) == -1, "argmax without a value above -inf is -1");
        CHECK(kern_argmax(t, 5) == 1, "argmax ties go to the first");
    }

    float s[5] = { 1, 2, 3, -INFINITY, 0 };
    kern_softmax(s, 5);
    double sum = 0;
    for (int i = 0; i < 5; i++) sum += s[i];
    CHECK(fabs(sum - 1) < 1e-6 && s[3] == 0 && s[2] > s[1], "softmax");

    float g[3] = { 0, 1, -2 }, u[3] = { 5, 2, 1 };
    kern_swiglu(g, u, 3);
    CHECK(g[0] == 0 && fabsf(g[1] - 2 * 0.7310586f) < 1e-6f && fabsf(g[2] - (-2 * 0.1192029f)) < 1e-6f, "swiglu");

    /* the vector path (16 lanes and a scalar tail) against double math over
     * a wide range, the saturated ends included: silu(-200) is -0, silu(200)
     * is 200, and neither may become NaN */
    enum { NS = 1003 };
    float gs[NS], us[NS], g0[NS];
    for (int i = 0; i < NS; i++) {
        g0[i] = gs[i] = i < 8 ? (float[]){ -200, -104, -88, -20, 20, 88, 104, 200 }[i] : nrand() * 8;
        us[i] = 1 + nrand() * 0.5f;
    }
    kern_swiglu(gs, us, NS);
    for (int i = 0; i < NS; i++) {
        double ex = (double)g0[i] / (1.0 + exp(-(double)g0[i])) * us[i];
        CHECK(!isnan(gs[i]) && fabs(gs[i] - ex) <= 2e-6 * fabs(ex) + 1e-30, "swiglu(%g) = %g, exact %g", g0[i], gs[i], ex);
    }
}

static atomic_int tp_hits[4][1000];
static void tp_body(void *arg, int ith, int nth)
{
    int round = *(int *)arg, lo, hi;
    tp_split(1000, ith, nth, &lo, &hi);
    for (int i = lo; i < hi; i++) atomic_fetch_add(&tp_hits[round][i], 1);
}

static void test_threadpool(void)
{
    for (int nt = 1; nt <= 4; nt++) {
        tp_pool *p = tp_init(nt);
        CHECK(p != NULL, "tp_init(%d)", nt);
        int round = nt - 1;
        for (int k = 0; k < 50; k++) tp_run(p, tp_body, &round);
        int ok = 1;
        for (int i = 0; i < 1000; i++) ok &= atomic_load(&tp_hits[round][i]) == 50;
        CHECK(ok, "thread pool of %d covered every index exactly once per run", nt);
        tp_free(p);
    }
}

int main(void)
{
    kern_init();
    printf("kernel path: %s\n", kern_isa());
    test_fp16();
    test_bf16();
    test_q8_0();
    test_dots();
    test_gemm();
    test_x16();
    test_x16q();
    test_elementwise();
    test_threadpool();
    return CHECK_SUMMARY();
}
