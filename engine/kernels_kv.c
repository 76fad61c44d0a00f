/*
 * kernels_kv.c - kernels over KV-cache elements (F32 or F16): the weighted
 * sum of values in attention. Keys use the weight dot products (kern_dot),
 * which already read F16.
 */
#include "kernels.h"
#include "gguf.h"
#include "quant.h"

#include <pthread.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx512f,f16c,fma"))) static void axpy_f16_avx512(float *y, float a, const uint16_t *x, int n)
{
    __m512 va = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 xv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i)));
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, xv, _mm512_loadu_ps(y + i)));
    }
    for (; i < n; i++) y[i] += a * _cvtsh_ss(x[i]);
}

static int kv_avx512 = -1;
static pthread_once_t kv_once = PTHREAD_ONCE_INIT;
static void kv_init_once(void)
{
    __builtin_cpu_init();
    kv_avx512 = __builtin_cpu_supports("avx512f") && !getenv("QUARRY_NO_AVX512");
}
#endif

static void axpy_f16_c(float *y, float a, const uint16_t *x, int n)
{
    for (int i = 0; i < n; i++) y[i] += a * qe_fp16_to_f32(x[i]);
}

void kern_axpy_t(int type, float *y, float a, const void *x, int n)
{
    if (type == GGML_TYPE_F32) {
        kern_axpy(y, a, x, n);
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    pthread_once(&kv_once, kv_init_once);
    if (kv_avx512) {
        axpy_f16_avx512(y, a, x, n);
        return;
    }
#endif
    axpy_f16_c(y, a, x, n);
}
