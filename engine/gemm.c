/*
 * gemm.c - Y = X · Wᵀ for prompt-sized batches (T >= 32 token rows), with
 * an AVX-512 micro-kernel; the portable path is OpenBLAS sgemm (forward.c).
 *
 * Why our own: prompt processing dominates extraction (every document is
 * a prefill), and the OpenBLAS build may be pinned to its AVX2 kernels
 * (OPENBLAS_CORETYPE), which use half of an AVX-512 core's FMA width. The
 * weights also arrive as F16/BF16/Q8_0/Q4_K/Q6_K rows and have to be converted anyway:
 * doing it while packing saves a pass.
 *
 * Scheme: the output features are taken 32 at a time. Their weight rows are
 * converted to F32 and packed as a panel P[k][32] (k = input index), which
 * stays in L2 (n <= 3072: 384 KiB). Then every tile of 12 token rows runs
 * over k: two 16-float loads of P, 12 broadcasts of X, 24 FMAs into 24
 * accumulator registers. Rows past d in the last panel are zero-padded and
 * never stored. Activations stay F32, as everywhere in the engine.
 */
#include "kernels.h"
#include "gguf.h"
#include "quant.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define GEMM_NR 32
#define GEMM_MR 12
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

/* 16 rows of 16 floats (src + i*ld) transposed into dst + k*GEMM_NR. */
AVX512 static void transpose16(const float *src, size_t ld, float *dst)
{
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (size_t)i * ld);
    /* interleave pairs of rows, then pairs of pairs, then 128-bit lanes */
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
    }
    for (int k = 0; k < 16; k++) _mm512_storeu_ps(dst + (size_t)k * GEMM_NR, r[k]);
}

/* One weight row to F32, vectorised for the types the GEMM takes (the
 * same values as qe_dequantize_row: each is one exact conversion, or one
 * rounded product d * q). */
AVX512 static void deq_row(int type, const void *src, float *dst, int n)
{
    int i = 0;
    if (type == GGML_TYPE_Q8_0) {
        const block_q8_0 *b = src;
        for (int k = 0; k < n / QK8_0; k++) {
            __m512 d = _mm512_set1_ps(_cvtsh_ss(b[k].d));
            __m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b[k].qs)));
            __m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b[k].qs + 16))));
            _mm512_storeu_ps(dst + k * QK8_0, _mm512_mul_ps(d, q0));
            _mm512_storeu_ps(dst + k * QK8_0 + 16, _mm512_mul_ps(d, q1));
        }
        return;
    }
    if (type == GGML_TYPE_Q4_K && n % QK_K == 0) {
        /* as qe_dequantize_q4_K: d*sc*q - dmin*m, a multiply then a subtract */
        const block_q4_K *b = src;
        for (int k = 0; k < n / QK_K; k++, dst += QK_K) {
            float d = _cvtsh_ss(b[k].d), dmin = _cvtsh_ss(b[k].dmin);
            uint8_t sc[8], m[8];
            qe_q4_K_scales(b[k].scales, sc, m);
            for (int c = 0; c < 4; c++) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(b[k].qs + 32 * c));
                __m256i lo = _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0f));
                __m512 d1 = _mm512_set1_ps(d * (float)sc[2 * c]), m1 = _mm512_set1_ps(dmin * (float)m[2 * c]);
                __m512 d2 = _mm512_set1_ps(d * (float)sc[2 * c + 1]), m2 = _mm512_set1_ps(dmin * (float)m[2 * c + 1]);
                for (int h = 0; h < 2; h++) {
                    __m512 ql = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(h ? _mm256_extracti128_si256(lo, 1) : _mm256_castsi256_si128(lo)));
                    __m512 qh = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(h ? _mm256_extracti128_si256(hi, 1) : _mm256_castsi256_si128(hi)));
                    _mm512_storeu_ps(dst + 64 * c + 16 * h, _mm512_sub_ps(_mm512_mul_ps(d1, ql), m1));
                    _mm512_storeu_ps(dst + 64 * c + 32 + 16 * h, _mm512_sub_ps(_mm512_mul_ps(d2, qh), m2));
                }
            }
        }
        return;
    }
    if (type == GGML_TYPE_F16) {
        const uint16_t *h = src;
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))));
    } else if (type == GGML_TYPE_BF16) {
        const uint16_t *h = src;
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(
                                          _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(h + i))), 16)));
    }
    /* k-quants (their decode is amortised over the prompt's rows) and odd
     * widths: the reference conversion */
    if (i < n) qe_dequantize_row(type, src, dst, n);
}

/* Converts rows [r, r + 32) (fewer at the end) of W into panel[k * 32 + j]:
 * 16 rows at a time are converted to F32 (tmp: 16 * n floats) and then
 * transposed 16 x 16 in registers (a scalar scatter was a fifth of the
 * GEMM's time). */
AVX512 static void pack_panel(int type, int x16, const void *W, size_t row_bytes, int n, int r, int rows,
                              float *panel, float *tmp)
{
    for (int j0 = 0; j0 < GEMM_NR; j0 += 16) {
        int m = rows - j0 < 16 ? rows - j0 : 16;
        if (m < 0) m = 0;
        if (x16) {
            /* X16 groups are already k-major: no transpose (a group is
             * always whole; rows past r1 are not stored) */
            if (m > 0) {
                kern_x16_panel(type, W, n, r + j0, panel + j0, GEMM_NR);
            } else {
                for (int k = 0; k < n; k++) memset(panel + (size_t)k * GEMM_NR + j0, 0, 16 * sizeof(float));
            }
            continue;
        }
        const float *src;
        size_t ld;
        if (type == GGML_TYPE_F32 && m == 16) {
            src = (const float *)((const char *)W + (size_t)(r + j0) * row_bytes);
            ld = row_bytes / sizeof(float);
        } else {
            for (int j = 0; j < 16; j++) {
                if (j < m)
                    deq_row(type, (const char *)W + (size_t)(r + j0 + j) * row_bytes, tmp + (size_t)j * n, n);
                else
                    memset(tmp + (size_t)j * n, 0, sizeof(float) * n);   /* padding rows, never stored */
            }
            src = tmp;
            ld = n;
        }
        int k = 0;
        for (; k + 16 <= n; k += 16) transpose16(src + k, ld, panel + (size_t)k * GEMM_NR + j0);
        for (; k < n; k++)
            for (int j = 0; j < 16; j++) panel[(size_t)k * GEMM_NR + j0 + j] = src[(size_t)j * ld + k];
    }
}

/* C[MR x 32] for MR token rows starting at X (stride n), Y (stride ldy,
 * columns c0..c0+cols). MR is a compile-time constant per instance so the
 * accumulators live in registers. */
#define GEMM_TILE(MR)                                                                       \
    AVX512 static void tile_##MR(const float *panel, const float *X, int n, float *Y,      \
                                 int ldy, __mmask16 m0, __mmask16 m1)                      \
    {                                                                                       \
        __m512 c0[MR], c1[MR];                                                              \
        _Pragma("GCC unroll 12")                                                            \
        for (int i = 0; i < MR; i++) { c0[i] = _mm512_setzero_ps(); c1[i] = _mm512_setzero_ps(); } \
        for (int k = 0; k < n; k++) {                                                       \
            __m512 b0 = _mm512_loadu_ps(panel + (size_t)k * GEMM_NR);                       \
            __m512 b1 = _mm512_loadu_ps(panel + (size_t)k * GEMM_NR + 16);                  \
            _Pragma("GCC unroll 12")                                                        \
            for (int i = 0; i < MR; i++) {                                                  \
                __m512 a = _mm512_set1_ps(X[(size_t)i * n + k]);                            \
                c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);                                      \
                c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);                                      \
            }                                                                               \
        }                                                                                   \
        _Pragma("GCC unroll 12")                                                            \
        for (int i = 0; i < MR; i++) {                                                      \
            _mm512_mask_storeu_ps(Y + (size_t)i * ldy, m0, c0[i]);                          \
            _mm512_mask_storeu_ps(Y + (size_t)i * ldy + 16, m1, c1[i]);                     \
        }                                                                                   \
    }

GEMM_TILE(12)
GEMM_TILE(4)
GEMM_TILE(1)

AVX512 static void gemm_avx512(int type, int x16, const void *W, size_t row_bytes, int n, const float *X, int T,
                               float *Y, int ldy, int r0, int r1, float *scratch)
{
    float *panel = scratch, *tmp = scratch + (size_t)n * GEMM_NR;
    for (int r = r0; r < r1; r += GEMM_NR) {
        int rows = r1 - r < GEMM_NR ? r1 - r : GEMM_NR;
        pack_panel(type, x16, W, row_bytes, n, r, rows, panel, tmp);
        __mmask16 m0 = (__mmask16)(rows >= 16 ? 0xffff : (1u << rows) - 1);
        __mmask16 m1 = (__mmask16)(rows <= 16 ? 0 : rows >= 32 ? 0xffff : (1u << (rows - 16)) - 1);
        int t = 0;
        for (; t + 12 <= T; t += 12) tile_12(panel, X + (size_t)t * n, n, Y + (size_t)t * ldy + r, ldy, m0, m1);
        for (; t + 4 <= T; t += 4) tile_4(panel, X + (size_t)t * n, n, Y + (size_t)t * ldy + r, ldy, m0, m1);
        for (; t < T; t++) tile_1(panel, X + (size_t)t * n, n, Y + (size_t)t * ldy + r, ldy, m0, m1);
    }
}

static int gemm_ok = -1;
static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;

static void gemm_init(void)
{
    __builtin_cpu_init();
    gemm_ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
              __builtin_cpu_supports("avx512vl") && !getenv("QUARRY_NO_AVX512") && !getenv("QUARRY_BLAS_GEMM");
}
#endif

size_t kern_gemm_scratch_floats(int n)
{
    return (size_t)n * 32 + (size_t)n * 16;   /* the panel, and 16 rows converted */
}

int kern_gemm_rows(int type, const void *W, size_t row_bytes, int n, const float *X, int T, float *Y,
                   int ldy, int r0, int r1, float *scratch)
{
#if defined(__x86_64__) || defined(__i386__)
    pthread_once(&gemm_once, gemm_init);
    if (!gemm_ok) return 0;
    if (type != GGML_TYPE_F32 && type != GGML_TYPE_F16 && type != GGML_TYPE_BF16 && type != GGML_TYPE_Q8_0 &&
        type != GGML_TYPE_Q4_K && type != GGML_TYPE_Q6_K)
        return 0;
    gemm_avx512(type, 0, W, row_bytes, n, X, T, Y, ldy, r0, r1, scratch);
    return 1;
#else
    return 0;
#endif
}

int kern_gemm_rows_x16(int type, const void *P, int n, const float *X, int T, float *Y, int ldy, int r0, int r1,
                       float *scratch)
{
#if defined(__x86_64__) || defined(__i386__)
    pthread_once(&gemm_once, gemm_init);
    if (!gemm_ok || !kern_x16_supported(type, n, 16) || r0 % 16) return 0;
    gemm_avx512(type, 1, P, 0, n, X, T, Y, ldy, r0, r1, scratch);
    return 1;
#else
    return 0;
#endif
}
