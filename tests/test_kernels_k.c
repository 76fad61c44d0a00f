/*
 * test_kernels_k.c - the Q4_K / Q6_K formats and kernels:
 *  - the block decoders against a decoder written here straight from ggml's
 *    layout description, on random bytes (so layout mistakes shared by our
 *    quantizer and dequantizer cannot cancel out);
 *  - quantize -> dequantize error: per-element bounds, and never worse in
 *    total than the plain "scale from the range" quantizer;
 *  - every compiled dot kernel and kern_matmul_rows_kq implementation
 *    (portable, AVX2, AVX-512 where the CPU has them) against the double
 *    reference, each matrix implementation's batch invariance on its own,
 *    and the dispatched kern_dot / kern_matmul_rows at several sizes and
 *    batch widths.
 */
#include "check.h"
#include "gguf.h"
#include "kernels.h"
#include "kernels_k.h"
#include "quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}
static double urand(void) { return (double)(next() >> 11) * 0x1.0p-53; }
static float nrand(void) { return (float)(sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand())); }

/* A random F16 in [2^-12, 2^-4): a plausible super-block scale. */
static uint16_t rand_scale(void) { return qe_f32_to_fp16((float)(0x1p-12 * pow(2.0, 8 * urand()))); }

/* ----------------------------------------------------- independent decoders */

/* Element e of a Q4_K block, from the layout as ggml documents it: 8
 * sub-blocks of 32; scales j < 4 in bytes j (scale) and j + 4 (min), low 6
 * bits; j >= 4 low nibbles in byte j + 4, high 2 bits from the top of byte
 * j - 4 (scale) / j (min); qs: 32 bytes per 64 elements, low then high. */
static float spec_q4_K(const block_q4_K *b, int e)
{
    const uint8_t *s = b->scales;
    int j = e / 32, sc, m;
    if (j < 4) { sc = s[j] & 63; m = s[j + 4] & 63; }
    else { sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4); m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }
    int byte = b->qs[32 * (e / 64) + e % 32];
    int q = (e / 32) % 2 ? byte >> 4 : byte & 0xf;
    float d1 = qe_fp16_to_f32(b->d) * (float)sc, m1 = qe_fp16_to_f32(b->dmin) * (float)m;
    return d1 * (float)q - m1;
}

/* Element e of a Q6_K block: per 128, ql[64] low nibbles (l, l+32 low;
 * l+64, l+96 high), qh[32] 2-bit pairs at shifts 0, 2, 4, 6; one int8
 * scale per 16 elements. */
static float spec_q6_K(const block_q6_K *b, int e)
{
    int h = e / 128, r = e % 128, l = r % 32, quarter = r / 32;
    int lowbyte = b->ql[64 * h + l + (quarter % 2 ? 32 : 0)];
    int lo = quarter < 2 ? lowbyte & 0xf : lowbyte >> 4;
    int hi = (b->qh[32 * h + l] >> (2 * quarter)) & 3;
    return qe_fp16_to_f32(b->d) * (float)b->scales[e / 16] * (float)((lo | (hi << 4)) - 32);
}

static void random_q4_K(block_q4_K *b)
{
    uint8_t *p = (uint8_t *)b;
    for (size_t i = 0; i < sizeof *b; i++) p[i] = (uint8_t)next();
    b->d = rand_scale();
    b->dmin = rand_scale();
}

static void random_q6_K(block_q6_K *b)
{
    uint8_t *p = (uint8_t *)b;
    for (size_t i = 0; i < sizeof *b; i++) p[i] = (uint8_t)next();
    b->d = rand_scale();
}


static void test_decoders(void)
{
    float y[QK_K];
    int bad4 = 0, bad6 = 0;
    for (int it = 0; it < 200; it++) {
        block_q4_K b4;
        random_q4_K(&b4);
        qe_dequantize_row(GGML_TYPE_Q4_K, &b4, y, QK_K);
        for (int e = 0; e < QK_K; e++) bad4 += y[e] != spec_q4_K(&b4, e);
        uint8_t sc[8], m[8];
        qe_q4_K_scales(b4.scales, sc, m);
        for (int j = 0; j < 8; j++) bad4 += sc[j] > 63 || m[j] > 63;

        block_q6_K b6;
        random_q6_K(&b6);
        qe_dequantize_row(GGML_TYPE_Q6_K, &b6, y, QK_K);
        for (int e = 0; e < QK_K; e++) bad6 += y[e] != spec_q6_K(&b6, e);
    }
    CHECK(bad4 == 0, "Q4_K dequantize vs layout spec: %d mismatches", bad4);
    CHECK(bad6 == 0, "Q6_K dequantize vs layout spec: %d mismatches", bad6);

    CHECK(qe_row_size(GGML_TYPE_Q4_K, 512) == 288 && qe_row_size(GGML_TYPE_Q6_K, 768) == 630, "row sizes");
    CHECK(qe_row_size(GGML_TYPE_Q4_K, 300) == 0, "Q4_K row size rejects n %% 256");
    float x[512] = {0};
    char buf[1024];
    CHECK(qe_quantize_row(GGML_TYPE_Q4_K, x, buf, 255) == 0, "Q4_K quantize rejects n %% 256");
    CHECK(qe_quantize_row(GGML_TYPE_Q6_K, x, buf, 320) == 0, "Q6_K quantize rejects n %% 256");
    CHECK(qe_dequantize_row(GGML_TYPE_Q6_K, buf, x, 100) == -1, "Q6_K dequantize rejects n %% 256");
}

/* ------------------------------------------------------ quantization error */

/* The plain quantizers the search must beat: scale (and min) from each
 * sub-block's range, 6-bit / 8-bit sub-scales from the largest, nearest
 * rounding everywhere. Returns the squared error of the row. */
static double naive_sse_q4_K(const float *x)
{
    float s[8], m[8], smax = 0, mmax = 0;
    for (int j = 0; j < 8; j++) {
        float lo = 0, hi = -INFINITY;
        for (int i = 0; i < 32; i++) { lo = fminf(lo, x[32 * j + i]); hi = fmaxf(hi, x[32 * j + i]); }
        s[j] = (hi - lo) / 15;
        m[j] = -lo;
        smax = fmaxf(smax, s[j]);
        mmax = fmaxf(mmax, m[j]);
    }
    float d = qe_fp16_to_f32(qe_f32_to_fp16(smax / 63)), dm = qe_fp16_to_f32(qe_f32_to_fp16(mmax / 63));
    double sse = 0;
    for (int j = 0; j < 8; j++) {
        float a = d * (float)(d > 0 ? lrintf(s[j] / d) : 0), mm = dm * (float)(dm > 0 ? lrintf(m[j] / dm) : 0);
        for (int i = 0; i < 32; i++) {
            float v = x[32 * j + i];
            long q = a > 0 ? lrintf((v + mm) / a) : 0;
            q = q < 0 ? 0 : q > 15 ? 15 : q;
            sse += pow(a * (float)q - mm - v, 2);
        }
    }
    return sse;
}

static double naive_sse_q6_K(const float *x)
{
    float s[16], smax = 0;
    for (int k = 0; k < 16; k++) {
        float amax = 0;
        for (int i = 0; i < 16; i++) amax = fmaxf(amax, fabsf(x[16 * k + i]));
        s[k] = amax / 31;
        smax = fmaxf(smax, s[k]);
    }
    float d = qe_fp16_to_f32(qe_f32_to_fp16(smax / 127));
    double sse = 0;
    for (int k = 0; k < 16; k++) {
        float a = d * (float)(d > 0 ? lrintf(s[k] / d) : 0);
        for (int i = 0; i < 16; i++) {
            float v = x[16 * k + i];
            long q = a > 0 ? lrintf(v / a) : 0;
            q = q < -32 ? -32 : q > 31 ? 31 : q;
            sse += pow(a * (float)q - v, 2);
        }
    }
    return sse;
}

/* Rows of kinds that break naive quantizers: gaussian, heavy outliers,
 * all-positive, all-negative, a zero sub-block, a constant block. */
static void make_row(float *x, int n, int kind)
{
    for (int i = 0; i < n; i++) {
        float v = nrand() * 0.05f;
        switch (kind) {
        case 1: if (next() % 61 == 0) v *= 12; break;
        case 2: v = fabsf(v) + 0.01f; break;
        case 3: v = -fabsf(v) - 0.2f; break;
        case 4: if (i % QK_K < 48) v = 0; break;
        case 5: if (i < QK_K) v = -0.125f; break;
        default: break;
        }
        x[i] = v;
    }
}

static void test_quant_error(void)
{
    enum { N = 16 * QK_K };
    static float x[N], y[N];
    static block_q4_K q4[N / QK_K];
    static block_q6_K q6[N / QK_K];
    const char *kinds[] = { "gaussian", "outliers", "positive", "negative", "zero sub-block", "constant block" };
    for (int kind = 0; kind < 6; kind++) {
        make_row(x, N, kind);
        double ss = 0;
        for (int i = 0; i < N; i++) ss += (double)x[i] * x[i];

        /* Q4_K: every element within one quantization step of its
         * sub-block (sc * d) plus the rounding of the min; total error at
         * most the naive quantizer's */
        CHECK(qe_quantize_row(GGML_TYPE_Q4_K, x, q4, N) == sizeof q4, "Q4_K size");
        qe_dequantize_row(GGML_TYPE_Q4_K, q4, y, N);
        double sse = 0, naive = 0;
        int bad = 0;
        for (int bi = 0; bi < N / QK_K; bi++) {
            naive += naive_sse_q4_K(x + bi * QK_K);
            uint8_t sc[8], m[8];
            qe_q4_K_scales(q4[bi].scales, sc, m);
            float d = qe_fp16_to_f32(q4[bi].d), dm = qe_fp16_to_f32(q4[bi].dmin);
            for (int j = 0; j < 8; j++) {
                float lo = INFINITY, hi = -INFINITY;
                for (int i = 0; i < 32; i++) { lo = fminf(lo, x[bi * QK_K + 32 * j + i]); hi = fmaxf(hi, x[bi * QK_K + 32 * j + i]); }
                float tol = d * (float)sc[j] + dm + (hi - lo) / 15 + 1e-6f;
                for (int i = 0; i < 32; i++) {
                    int e = bi * QK_K + 32 * j + i;
                    bad += fabsf(y[e] - x[e]) > tol;
                }
            }
        }
        for (int i = 0; i < N; i++) sse += pow((double)y[i] - x[i], 2);
        CHECK(bad == 0, "Q4_K %s: %d elements beyond a step of their sub-block", kinds[kind], bad);
        CHECK(sse <= naive * 1.0001 + 1e-12, "Q4_K %s: squared error %.4g above the naive quantizer's %.4g", kinds[kind], sse, naive);
        if (kind == 0) CHECK(sqrt(sse / ss) < 0.095, "Q4_K gaussian: relative RMS error %.4f", sqrt(sse / ss));
        if (kind == 5) {
            int exact = 1;
            for (int i = 0; i < QK_K; i++) exact &= fabsf(y[i] - x[i]) <= 1e-3f;
            CHECK(exact, "Q4_K constant negative block reproduced");
        }
        printf("Q4_K %-14s rel RMS %.4f (naive %.4f)\n", kinds[kind], sqrt(sse / ss), sqrt(naive / ss));

        /* Q6_K: within a step of the sub-block scale; total at most naive */
        CHECK(qe_quantize_row(GGML_TYPE_Q6_K, x, q6, N) == sizeof q6, "Q6_K size");
        qe_dequantize_row(GGML_TYPE_Q6_K, q6, y, N);
        sse = 0; naive = 0; bad = 0;
        for (int bi = 0; bi < N / QK_K; bi++) {
            naive += naive_sse_q6_K(x + bi * QK_K);
            float d = qe_fp16_to_f32(q6[bi].d);
            for (int k = 0; k < 16; k++) {
                float amax = 0;
                for (int i = 0; i < 16; i++) amax = fmaxf(amax, fabsf(x[bi * QK_K + 16 * k + i]));
                float tol = fabsf(d * (float)q6[bi].scales[k]) + amax / 31 + 1e-7f;
                for (int i = 0; i < 16; i++) {
                    int e = bi * QK_K + 16 * k + i;
                    bad += fabsf(y[e] - x[e]) > tol;
                }
            }
        }
        for (int i = 0; i < N; i++) sse += pow((double)y[i] - x[i], 2);
        CHECK(bad == 0, "Q6_K %s: %d elements beyond a step of their sub-block", kinds[kind], bad);
        CHECK(sse <= naive * 1.0001 + 1e-12, "Q6_K %s: squared error %.4g above the naive quantizer's %.4g", kinds[kind], sse, naive);
        if (kind == 0) CHECK(sqrt(sse / ss) < 0.025, "Q6_K gaussian: relative RMS error %.4f", sqrt(sse / ss));
        printf("Q6_K %-14s rel RMS %.4f (naive %.4f)\n", kinds[kind], sqrt(sse / ss), sqrt(naive / ss));
    }
    /* all zeros stay zeros */
    memset(x, 0, sizeof x);
    qe_quantize_row(GGML_TYPE_Q4_K, x, q4, QK_K);
    qe_dequantize_row(GGML_TYPE_Q4_K, q4, y, QK_K);
    int nz = 0;
    for (int i = 0; i < QK_K; i++) nz += y[i] != 0;
    qe_quantize_row(GGML_TYPE_Q6_K, x, q6, QK_K);
    qe_dequantize_row(GGML_TYPE_Q6_K, q6, y, QK_K);
    for (int i = 0; i < QK_K; i++) nz += y[i] != 0;
    CHECK(nz == 0, "zero rows stay zero (%d nonzero)", nz);
}

/* ------------------------------------------------------------------ kernels */

typedef float (*dot_fn)(const void *, const float *, int);
typedef struct {
    const char *isa;
    int avail;
    dot_fn dot4, dot6;
} isa_impl;

static double dot_tol(const float *w, const float *x, int n)
{
    double mag = 0;
    for (int i = 0; i < n; i++) mag += fabs((double)w[i] * x[i]);
    return 1e-6 * n * mag / 64 + 2e-6 * mag + 1e-7; /* float accumulation */
}

#if defined(__x86_64__) || defined(__i386__)
static int has_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
static int has_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}
#endif

/* The single-vector dot kernels (kern_dot) against the reference. */
static void test_dots(void)
{
    isa_impl impls[3] = {
        { "portable", 1, kern_dot_q4_K_c, kern_dot_q6_K_c },
    };
    int ni = 1;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    impls[ni++] = (isa_impl){ "avx2", has_avx2(), kern_dot_q4_K_avx2, kern_dot_q6_K_avx2 };
    impls[ni++] = (isa_impl){ "avx512", has_avx512(), kern_dot_q4_K_avx512, kern_dot_q6_K_avx512 };
#endif
    static const int sizes[] = { 256, 512, 768, 1024, 2304, 3072, 4096 };
    enum { NMAX = 4096 };
    static float w[NMAX], x[NMAX];
    static block_q4_K q4[NMAX / QK_K];
    static block_q6_K q6[NMAX / QK_K];
    for (int k = 0; k < ni; k++) {
        const isa_impl *im = &impls[k];
        if (!im->avail) { printf("%s: not supported by this CPU, skipped\n", im->isa); continue; }
        int bad = 0;
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            int n = sizes[si];
            for (int rep = 0; rep < 4; rep++) {
                /* random valid blocks (not only quantizer output) */
                for (int b = 0; b < n / QK_K; b++) { random_q4_K(&q4[b]); random_q6_K(&q6[b]); }
                for (int i = 0; i < n; i++) x[i] = nrand();
                for (int t = 0; t < 2; t++) {
                    int type = t ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K;
                    const void *row = t ? (const void *)q6 : (const void *)q4;
                    qe_dequantize_row(type, row, w, n);
                    double ref = kern_dot_ref(type, row, x, n);
                    float got = (t ? im->dot6 : im->dot4)(row, x, n);
                    double tol = dot_tol(w, x, n);
                    if (fabs(got - ref) > tol) {
                        bad++;
                        fprintf(stderr, "%s %s n=%d: dot %.9g vs ref %.9g (tol %.3g)\n", im->isa,
                                ggml_type_str(type), n, got, ref, tol);
                    }
                }
            }
        }
        CHECK(bad == 0, "%s dot kernels: %d mismatches against the reference", im->isa, bad);
        printf("%s: Q4_K/Q6_K dot kernels checked\n", im->isa);
    }
}

/* Every compiled kern_matmul_rows_kq implementation the CPU can run:
 *  - each (row, input) value against the double reference;
 *  - batch invariance on its own: the same bits for an input alone, at any
 *    place in batches of every width (the tile groups: 8, 4, 3, 2, 1 and
 *    their sums, past the 32-input pass too), and with the rows split at
 *    any point (tile tails);
 *  - the AVX-512 Q6_K byte-permute decode gives the same bits as the plain
 *    one. */
typedef struct {
    const char *name;
    int avail;
    kern_kq_fn f;
} kq_impl;

static void test_matmul_impls(void)
{
    kq_impl impls[4] = { { "portable", 1, kern_matmul_rows_kq_c } };
    int ni = 1;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    impls[ni++] = (kq_impl){ "avx2", has_avx2(), kern_matmul_rows_kq_avx2 };
    impls[ni++] = (kq_impl){ "avx512", has_avx512(), kern_matmul_rows_kq_avx512 };
    impls[ni++] = (kq_impl){ "avx512-vbmi", has_avx512() && __builtin_cpu_supports("avx512vbmi"),
                             kern_matmul_rows_kq_avx512_vbmi };
#endif
    static const int sizes[] = { 256, 768, 2304 };
    static const int widths[] = { 1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 33 };
    enum { D = 14, NB = 37 }; /* 14 rows: a 12-row pass and a tail */
    float *Yref[2][3] = { { 0 } };
    for (int t = 0; t < 2; t++) {
        int type = t ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K;
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            int n = sizes[si];
            size_t rb = qe_row_size(type, n);
            char *W = malloc(rb * D);
            float *w = malloc(sizeof(float) * n * D), *src = malloc(sizeof(float) * n), *X = malloc(sizeof(float) * n * NB);
            float *Y = malloc(sizeof(float) * D * NB), *Ys = malloc(sizeof(float) * D * NB);
            /* even rows: random blocks (extreme scales); odd: quantizer output */
            for (int r = 0; r < D; r++) {
                for (int b = 0; b < n / QK_K; b++) {
                    if (t) random_q6_K((block_q6_K *)(W + r * rb) + b);
                    else random_q4_K((block_q4_K *)(W + r * rb) + b);
                }
                if (r % 2) {
                    for (int i = 0; i < n; i++) src[i] = nrand() * 0.05f;
                    qe_quantize_row(type, src, W + r * rb, n);
                }
                qe_dequantize_row(type, W + r * rb, w + (size_t)r * n, n);
            }
            for (int i = 0; i < n * NB; i++) X[i] = nrand();
            for (int k = 0; k < ni; k++) {
                const kq_impl *im = &impls[k];
                if (!im->avail) continue;
                int bad = 0, var = 0;
                im->f(type, W, rb, n, X, NB, Y, D, 0, D);
                for (int b = 0; b < NB; b++)
                    for (int r = 0; r < D; r++) {
                        const float *xb = X + (size_t)b * n;
                        double ref = kern_dot_ref(type, W + r * rb, xb, n);
                        if (fabs(Y[b * D + r] - ref) > dot_tol(w + (size_t)r * n, xb, n)) {
                            if (bad++ < 3)
                                fprintf(stderr, "%s %s n=%d row %d input %d: %.9g vs ref %.9g\n", im->name,
                                        ggml_type_str(type), n, r, b, Y[b * D + r], ref);
                        }
                    }
                for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
                    int nb = widths[wi];
                    for (int b0 = 0; b0 + nb <= NB; b0 += nb + 5) {
                        int split = (int)(next() % (D + 1));
                        memset(Ys, 0xff, sizeof(float) * D * NB);
                        im->f(type, W, rb, n, X + (size_t)b0 * n, nb, Ys, D, 0, split);
                        im->f(type, W, rb, n, X + (size_t)b0 * n, nb, Ys, D, split, D);
                        var += memcmp(Ys, Y + (size_t)b0 * D, sizeof(float) * D * nb) != 0;
                    }
                }
                /* a single row, a single input */
                for (int r = 0; r < D; r += 5) {
                    float y1[D];
                    im->f(type, W, rb, n, X + (size_t)(NB - 1) * n, 1, y1, D, r, r + 1);
                    var += memcmp(&y1[r], &Y[(NB - 1) * D + r], sizeof *y1) != 0;
                }
                CHECK(bad == 0, "%s %s n=%d: %d values off the reference", im->name, ggml_type_str(type), n, bad);
                CHECK(var == 0, "%s %s n=%d: %d batch shapes differ from the batch of %d", im->name,
                      ggml_type_str(type), n, var, NB);
                if (!strcmp(im->name, "avx512")) {
                    Yref[t][si] = malloc(sizeof(float) * D * NB);
                    memcpy(Yref[t][si], Y, sizeof(float) * D * NB);
                } else if (!strcmp(im->name, "avx512-vbmi") && Yref[t][si]) {
                    CHECK(!memcmp(Yref[t][si], Y, sizeof(float) * D * NB),
                          "%s n=%d: avx512-vbmi and avx512 results differ", ggml_type_str(type), n);
                }
            }
            free(W); free(w); free(src); free(X); free(Y); free(Ys);
        }
    }
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < 3; s++) free(Yref[t][s]);
    for (int k = 0; k < ni; k++)
        printf("%s: kern_matmul_rows_kq %s\n", impls[k].name, impls[k].avail ? "checked" : "not supported, skipped");
}

/* The dispatched entry points: kern_dot and kern_matmul_rows on quantizer
 * output, against the reference, for several batch widths. */
static void test_dispatch(void)
{
    static const int sizes[] = { 256, 768, 1024, 3072 };
    static const int nbs[] = { 1, 2, 3, 7, 31, 70 };
    enum { ROWS = 6 };
    for (int t = 0; t < 2; t++) {
        int type = t ? GGML_TYPE_Q6_K : GGML_TYPE_Q4_K;
        int bad = 0;
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            int n = sizes[si];
            size_t rb = qe_row_size(type, n);
            float *w = malloc((size_t)n * ROWS * sizeof *w), *wd = malloc((size_t)n * sizeof *wd);
            char *W = malloc(rb * ROWS);
            for (int i = 0; i < n * ROWS; i++) w[i] = nrand() * 0.1f;
            for (int r = 0; r < ROWS; r++) qe_quantize_row(type, w + (size_t)r * n, W + r * rb, n);
            for (size_t bi = 0; bi < sizeof nbs / sizeof *nbs; bi++) {
                int nb = nbs[bi];
                float *X = malloc((size_t)n * nb * sizeof *X), *Y = malloc((size_t)nb * ROWS * sizeof *Y);
                for (int i = 0; i < n * nb; i++) X[i] = nrand();
                kern_matmul_rows(type, W, rb, n, X, nb, Y, ROWS, 1, ROWS); /* rows 1.. only */
                for (int r = 1; r < ROWS; r++) {
                    qe_dequantize_row(type, W + r * rb, wd, n);
                    for (int b = 0; b < nb; b++) {
                        const float *xb = X + (size_t)b * n;
                        double ref = kern_dot_ref(type, W + r * rb, xb, n), tol = dot_tol(wd, xb, n);
                        bad += fabs(Y[b * ROWS + r] - ref) > tol;
                        if (nb == 1) bad += fabs(kern_dot(type, W + r * rb, xb, n) - ref) > tol;
                    }
                }
                free(X); free(Y);
            }
            free(w); free(wd); free(W);
        }
        CHECK(bad == 0, "%s kern_dot / kern_matmul_rows: %d mismatches", ggml_type_str(type), bad);
    }
}

int main(void)
{
    kern_init();
    printf("kernel path: %s, k-quant matrix path: %s\n", kern_isa(), kern_kq_isa());
    test_decoders();
    test_quant_error();
    test_dots();
    test_matmul_impls();
    test_dispatch();
    return CHECK_SUMMARY();
}
