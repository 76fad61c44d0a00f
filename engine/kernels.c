/*
 * kernels.c - dot products over weight rows (F32, F16, BF16, Q8_0; Q4_K and
 * Q6_K are in kernels_k.c, registered here) and the small elementwise
 * kernels of the forward pass.
 *
 * Decode is a memory-bound pass over every weight once per step, so the
 * row kernels read each weight row exactly once and apply it to all inputs
 * of the step (kern_matmul_rows). Activations stay F32: unlike llama.cpp we
 * do not round them to Q8_0/BF16, which keeps us closer to exact math.
 */
#include "kernels.h"
#include "kernels_k.h"
#include "gguf.h"
#include "quant.h"
#include "simd_exp.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KERN_X86 1
#endif

/* ------------------------------------------------------------- references */

double kern_dot_ref(int type, const void *row, const float *x, int n)
{
    double acc = 0.0;
    switch (type) {
    case GGML_TYPE_F32: {
        const float *w = row;
        for (int i = 0; i < n; i++) acc += (double)w[i] * x[i];
        break;
    }
    case GGML_TYPE_F16: {
        const uint16_t *w = row;
        for (int i = 0; i < n; i++) acc += (double)qe_fp16_to_f32(w[i]) * x[i];
        break;
    }
    case GGML_TYPE_BF16: {
        const uint16_t *w = row;
        for (int i = 0; i < n; i++) acc += (double)qe_bf16_to_f32(w[i]) * x[i];
        break;
    }
    case GGML_TYPE_Q8_0: {
        const block_q8_0 *b = row;
        for (int i = 0; i < n / QK8_0; i++) {
            double d = qe_fp16_to_f32(b[i].d), s = 0.0;
            for (int j = 0; j < QK8_0; j++) s += (double)b[i].qs[j] * x[i * QK8_0 + j];
            acc += d * s;
        }
        break;
    }
    case GGML_TYPE_Q4_K: acc = kern_dot_q4_K_ref(row, x, n); break;
    case GGML_TYPE_Q6_K: acc = kern_dot_q6_K_ref(row, x, n); break;
    default:
        break;
    }
    return acc;
}

void kern_rmsnorm_ref(float *y, const float *x, const float *w, int n, float eps)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    double scale = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) y[i] = (float)(x[i] * scale * w[i]);
}

/* --------------------------------------------------------- portable paths */

static float dot_f32_c(const void *row, const float *x, int n)
{
    const float *w = row;
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += w[i + j] * x[i + j];
    float acc = 0.0f;
    for (; i < n; i++) acc += w[i] * x[i];
    for (int j = 0; j < 8; j++) acc += s[j];
    return acc;
}

static float dot_f16_c(const void *row, const float *x, int n)
{
    const uint16_t *w = row;
    float s[4] = {0};
    int i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) s[j] += qe_fp16_to_f32(w[i + j]) * x[i + j];
    float acc = s[0] + s[1] + s[2] + s[3];
    for (; i < n; i++) acc += qe_fp16_to_f32(w[i]) * x[i];
    return acc;
}

static float dot_bf16_c(const void *row, const float *x, int n)
{
    const uint16_t *w = row;
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += qe_bf16_to_f32(w[i + j]) * x[i + j];
    float acc = 0.0f;
    for (; i < n; i++) acc += qe_bf16_to_f32(w[i]) * x[i];
    for (int j = 0; j < 8; j++) acc += s[j];
    return acc;
}

static float dot_q8_0_c(const void *row, const float *x, int n)
{
    const block_q8_0 *b = row;
    float acc = 0.0f;
    for (int i = 0; i < n / QK8_0; i++) {
        float s[4] = {0};
        const float *xb = x + i * QK8_0;
        for (int j = 0; j < QK8_0; j += 4)
            for (int k = 0; k < 4; k++) s[k] += (float)b[i].qs[j + k] * xb[j + k];
        acc += qe_fp16_to_f32(b[i].d) * (s[0] + s[1] + s[2] + s[3]);
    }
    return acc;
}

/* --------------------------------------------------------------- AVX2 path */

#ifdef KERN_X86
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

AVX2 static float dot_f32_avx2(const void *row, const float *x, int n)
{
    const float *w = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    float acc = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) acc += w[i] * x[i];
    return acc;
}

AVX2 static float dot_f16_avx2(const void *row, const float *x, int n)
{
    const uint16_t *w = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8)));
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), a1);
    }
    float acc = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) acc += qe_fp16_to_f32(w[i]) * x[i];
    return acc;
}

AVX2 static inline __m256 bf16x8_to_ps(const uint16_t *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

AVX2 static float dot_bf16_avx2(const void *row, const float *x, int n)
{
    const uint16_t *w = row;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(bf16x8_to_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(bf16x8_to_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    float acc = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) acc += qe_bf16_to_f32(w[i]) * x[i];
    return acc;
}

AVX2 static float dot_q8_0_avx2(const void *row, const float *x, int n)
{
    const block_q8_0 *b = row;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK8_0; i++) {
        const float *xb = x + i * QK8_0;
        __m256 s = _mm256_setzero_ps();
        for (int j = 0; j < QK8_0; j += 8) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(b[i].qs + j));
            __m256 qf = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
            s = _mm256_fmadd_ps(qf, _mm256_loadu_ps(xb + j), s);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d)), s, acc);
    }
    return hsum256(acc);
}

/* ------------------------------------------------------------ AVX-512 path */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))

AVX512 static float dot_f32_avx512(const void *row, const float *x, int n)
{
    const float *w = row;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
    if (i < n) { /* masked tail instead of a scalar loop */
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

AVX512 static float dot_f16_avx512(const void *row, const float *x, int n)
{
    const uint16_t *w = row;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + i)));
        __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + i + 16)));
        a0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + i))), _mm512_loadu_ps(x + i), a0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 wt = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + i));
        a1 = _mm512_fmadd_ps(wt, _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

AVX512 static inline __m512 bf16x16_to_ps(__m256i v)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}

AVX512 static float dot_bf16_avx512(const void *row, const float *x, int n)
{
    const uint16_t *w = row;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(bf16x16_to_ps(_mm256_loadu_si256((const __m256i *)(w + i))), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(bf16x16_to_ps(_mm256_loadu_si256((const __m256i *)(w + i + 16))),
                             _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(bf16x16_to_ps(_mm256_loadu_si256((const __m256i *)(w + i))), _mm512_loadu_ps(x + i), a0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        a1 = _mm512_fmadd_ps(bf16x16_to_ps(_mm256_maskz_loadu_epi16(m, w + i)), _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

AVX512 static float dot_q8_0_avx512(const void *row, const float *x, int n)
{
    const block_q8_0 *b = row;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int i = 0; i < n / QK8_0; i++) {
        const float *xb = x + i * QK8_0;
        __m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b[i].qs)));
        __m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b[i].qs + 16))));
        __m512 s = _mm512_mul_ps(q0, _mm512_loadu_ps(xb));
        s = _mm512_fmadd_ps(q1, _mm512_loadu_ps(xb + 16), s);
        __m512 d = _mm512_set1_ps(_cvtsh_ss(b[i].d));
        if (i & 1) acc1 = _mm512_fmadd_ps(d, s, acc1);
        else acc0 = _mm512_fmadd_ps(d, s, acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}
#endif

/* ----------------------------------------------------------------- dispatch */

typedef float (*dot_fn)(const void *, const float *, int);
static dot_fn k_dot_f32 = dot_f32_c, k_dot_f16 = dot_f16_c,
              k_dot_bf16 = dot_bf16_c, k_dot_q8_0 = dot_q8_0_c,
              k_dot_q4_K = kern_dot_q4_K_c, k_dot_q6_K = kern_dot_q6_K_c;
static void (*k_swiglu)(float *, const float *, int);
static int k_avx512;   /* the elementwise AVX-512 paths */
#ifdef KERN_X86
/* silu(g) * u 16 lanes at a time with a polynomial exp (simd_exp.h): the
 * scalar expf per element was 3-4% of a prompt's time. */
__attribute__((target("avx512f"))) static void swiglu_avx512(float *g, const float *u, int n)
{
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(g + i);
        __m512 e = qe_exp512(_mm512_sub_ps(_mm512_setzero_ps(), x));
        _mm512_storeu_ps(g + i, _mm512_mul_ps(_mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e)),
                                              _mm512_loadu_ps(u + i)));
    }
    for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
#endif

static const char *k_isa = "portable";
static pthread_once_t k_once = PTHREAD_ONCE_INIT;

static void kern_init_once(void)
{
#ifdef KERN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        /* F16C is implied on every AVX2 CPU shipped; cvtph needs it. */
        k_dot_f32 = dot_f32_avx2;
        k_dot_f16 = dot_f16_avx2;
        k_dot_bf16 = dot_bf16_avx2;
        k_dot_q8_0 = dot_q8_0_avx2;
        k_dot_q4_K = kern_dot_q4_K_avx2;
        k_dot_q6_K = kern_dot_q6_K_avx2;
        k_isa = "avx2";
    }
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && !getenv("QUARRY_NO_AVX512")) {
        k_dot_f32 = dot_f32_avx512;
        k_dot_f16 = dot_f16_avx512;
        k_dot_bf16 = dot_bf16_avx512;
        k_dot_q8_0 = dot_q8_0_avx512;
        k_dot_q4_K = kern_dot_q4_K_avx512;
        k_dot_q6_K = kern_dot_q6_K_avx512;
        k_swiglu = swiglu_avx512;
        k_avx512 = 1;
        k_isa = "avx512";
    }
#endif
}

void kern_init(void) { pthread_once(&k_once, kern_init_once); }
const char *kern_isa(void) { kern_init(); return k_isa; }

static inline dot_fn dot_for(int type)
{
    switch (type) {
    case GGML_TYPE_F32: return k_dot_f32;
    case GGML_TYPE_F16: return k_dot_f16;
    case GGML_TYPE_BF16: return k_dot_bf16;
    case GGML_TYPE_Q8_0: return k_dot_q8_0;
    case GGML_TYPE_Q4_K: return k_dot_q4_K;
    case GGML_TYPE_Q6_K: return k_dot_q6_K;
    default: return NULL;
    }
}

float kern_dot(int type, const void *row, const float *x, int n)
{
    dot_fn f = dot_for(type);
    return f ? f(row, x, n) : 0.0f;
}

void kern_matmul_rows(int type, const void *W, size_t row_bytes, int n,
                      const float *X, int nb, float *Y, int ldy, int r0, int r1)
{
    /* Which path runs depends on (type, n, CPU) only, never on nb: each
     * path computes every (row, input) pair with the same operations
     * whatever the other inputs are, so results are batch-invariant. */
    if (kern_matmul_rows_multi(type, W, row_bytes, n, X, nb, Y, ldy, r0, r1))
        return;
    /* k-quants: tiles of rows x inputs that decode each block once for
     * all inputs, with their own per-CPU choice (kernels_k.c) */
    if (kern_matmul_rows_kq(type, W, row_bytes, n, X, nb, Y, ldy, r0, r1))
        return;
    dot_fn f = dot_for(type);
    const char *base = W;
    for (int r = r0; r < r1; r++) {
        const void *row = base + (size_t)r * row_bytes;
        for (int b = 0; b < nb; b++)
            Y[(size_t)b * ldy + r] = f(row, X + (size_t)b * n, n);
    }
}

/* ------------------------------------------------------------ elementwise */


/* The sum of squares in double: exactness is cheaper than reasoning about
 * float error, and in 8 partial sums (lane k takes x[i + k]), as one chain
 * of dependent double adds made the norms 5% of a prompt's time. The
 * AVX-512 path keeps the 8 sums in one register, in the same order, so it
 * gives the same bits (a float times a float is exact in double, so its
 * FMA rounds once as the add did). */
static float rmsnorm_scale(double *s, const float *x, int i, int n, float eps)
{
    for (; i < n; i++) s[0] += (double)x[i] * x[i];
    double ss = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    return (float)(1.0 / sqrt(ss / n + eps));
}

#ifdef KERN_X86
__attribute__((target("avx512f"))) static void rmsnorm_avx512(float *y, const float *x, const float *w, int n, float eps)
{
    __m512d acc = _mm512_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        acc = _mm512_fmadd_pd(v, v, acc);
    }
    double s[8];
    _mm512_storeu_pd(s, acc);
    float scale = rmsnorm_scale(s, x, i, n, eps);
    __m512 sc = _mm512_set1_ps(scale);
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), sc), _mm512_loadu_ps(w + i)));
    for (; i < n; i++) y[i] = x[i] * scale * w[i];
}
#endif

void kern_rmsnorm(float *y, const float *x, const float *w, int n, float eps)
{
#ifdef KERN_X86
    kern_init();
    if (k_avx512) {
        rmsnorm_avx512(y, x, w, n, eps);
        return;
    }
#endif
    double s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += (double)x[i + k] * x[i + k];
    float scale = rmsnorm_scale(s, x, i, n, eps);
    for (i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
}

void kern_rope_table(float *cs, int hd, int pos, float base)
{
    int half = hd / 2;
    for (int i = 0; i < half; i++) {
        /* theta in double: at positions of tens of thousands a float angle
         * loses the low bits that distinguish neighbouring positions */
        double theta = (double)pos * pow((double)base, -2.0 * i / hd);
        cs[i] = (float)cos(theta);
        cs[half + i] = (float)sin(theta);
    }
}

void kern_rope_neox(float *v, int hd, const float *cs)
{
    int half = hd / 2;
    for (int i = 0; i < half; i++) {
        float c = cs[i], s = cs[half + i];
        float a = v[i], b = v[i + half];
        v[i] = a * c - b * s;
        v[i + half] = a * s + b * c;
    }
}

void kern_swiglu(float *g, const float *u, int n)
{
    kern_init();
    if (k_swiglu) {
        k_swiglu(g, u, n);
        return;
    }
    for (int i = 0; i < n; i++) {
        float x = g[i];
        g[i] = x / (1.0f + expf(-x)) * u[i];
    }
}

int kern_argmax_ref(const float *x, int n)
{
    int b = -1;
    float best = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > best) { best = x[i]; b = i; }
    return b;
}

int kern_argmax(const float *x, int n)
{
    /* lanes start at -inf and only take larger values, so NaNs and -infs
     * never enter; the second pass stops at the first equal value */
    float m[16];
    for (int l = 0; l < 16; l++) m[l] = -INFINITY;
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) m[l] = x[i + l] > m[l] ? x[i + l] : m[l];
    float best = -INFINITY;
    for (int l = 0; l < 16; l++) best = m[l] > best ? m[l] : best;
    for (; i < n; i++) best = x[i] > best ? x[i] : best;
    if (!(best > -INFINITY)) return -1;
    for (i = 0; x[i] != best; i++) {}
    return i;
}

void kern_softmax(float *x, int n)
{
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    double s = 0.0;
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - m); s += x[i]; }
    float inv = (float)(1.0 / s);
    for (int i = 0; i < n; i++) x[i] *= inv;
}
