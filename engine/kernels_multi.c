/*
 * kernels_multi.c - one weight row against several activation vectors at
 * once (batched decode: 2 to 16 sequences each adding one token).
 *
 * Decode is bound by reading the weights; with nb sequences per step each
 * weight row is loaded and converted to F32 once and then multiplied with
 * all nb inputs from registers, so the aggregate throughput grows with the
 * batch until the multiply-adds, not the memory, are the limit. Inputs go
 * in groups of up to KM_GROUP (the accumulators must stay in registers).
 * Results equal the single-vector kernels' up to summation order.
 */
#include "kernels.h"
#include "gguf.h"
#include "quant.h"

#include <pthread.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KM_X86 1
#endif

#define KM_GROUP 8

/* Returns 1 if it computed y[b] = dot(row, X[b]) for b < nb (nb <= KM_GROUP). */
typedef int (*multi_fn)(const void *row, const float *X, int n, int nb, float *y);

#ifdef KM_X86
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))

/* The row is converted 16 floats at a time into w, then used nb times. */
#define KM_BODY(LOAD16)                                                       \
    __m512 acc[KM_GROUP];                                                     \
    for (int b = 0; b < nb; b++) acc[b] = _mm512_setzero_ps();                \
    int i = 0;                                                                \
    for (; i + 16 <= n; i += 16) {                                            \
        __m512 w = LOAD16;                                                    \
        for (int b = 0; b < nb; b++)                                          \
            acc[b] = _mm512_fmadd_ps(w, _mm512_loadu_ps(X + (size_t)b * n + i), acc[b]); \
    }                                                                         \
    if (i < n) return 0; /* odd tail: the caller's single-vector path */    \
    for (int b = 0; b < nb; b++) y[b] = _mm512_reduce_add_ps(acc[b]);         \
    return 1;

AVX512 static int multi_f32(const void *row, const float *X, int n, int nb, float *y)
{
    const float *w32 = row;
    KM_BODY(_mm512_loadu_ps(w32 + i))
}

AVX512 static int multi_f16(const void *row, const float *X, int n, int nb, float *y)
{
    const uint16_t *h = row;
    KM_BODY(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))))
}

AVX512 static int multi_bf16(const void *row, const float *X, int n, int nb, float *y)
{
    const uint16_t *h = row;
    KM_BODY(_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(h + i))), 16)))
}

AVX512 static int multi_q8_0(const void *row, const float *X, int n, int nb, float *y)
{
    const block_q8_0 *q = row;
    __m512 acc[KM_GROUP];
    for (int b = 0; b < nb; b++) acc[b] = _mm512_setzero_ps();
    for (int k = 0; k < n / QK8_0; k++) {
        /* scale folded into the converted weights: one multiply per 16 */
        __m512 d = _mm512_set1_ps(_cvtsh_ss(q[k].d));
        __m512 w0 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q[k].qs))));
        __m512 w1 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q[k].qs + 16)))));
        const float *xk = X + (size_t)k * QK8_0;
        for (int b = 0; b < nb; b++) {
            acc[b] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xk + (size_t)b * n), acc[b]);
            acc[b] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xk + (size_t)b * n + 16), acc[b]);
        }
    }
    for (int b = 0; b < nb; b++) y[b] = _mm512_reduce_add_ps(acc[b]);
    return 1;
}
#endif

static multi_fn km_f32, km_f16, km_bf16, km_q8_0;
static pthread_once_t km_once = PTHREAD_ONCE_INIT;

static void km_init(void)
{
#ifdef KM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && !getenv("QUARRY_NO_AVX512")) {
        km_f32 = multi_f32;
        km_f16 = multi_f16;
        km_bf16 = multi_bf16;
        km_q8_0 = multi_q8_0;
    }
#endif
}

int kern_matmul_rows_multi(int type, const void *W, size_t row_bytes, int n,
                           const float *X, int nb, float *Y, int ldy, int r0, int r1)
{
    pthread_once(&km_once, km_init);
    multi_fn f = type == GGML_TYPE_F32 ? km_f32 : type == GGML_TYPE_F16 ? km_f16
               : type == GGML_TYPE_BF16 ? km_bf16 : type == GGML_TYPE_Q8_0 ? km_q8_0 : NULL;
    if (!f || nb < 1 || n % 16) return 0;
    const char *base = W;
    float y[KM_GROUP];
    for (int r = r0; r < r1; r++) {
        const void *row = base + (size_t)r * row_bytes;
        for (int b0 = 0; b0 < nb; b0 += KM_GROUP) {
            int g = nb - b0 < KM_GROUP ? nb - b0 : KM_GROUP;
            f(row, X + (size_t)b0 * n, n, g, y);
            for (int b = 0; b < g; b++) Y[(size_t)(b0 + b) * ldy + r] = y[b];
        }
    }
    return 1;
}
