/*
 * kernels_multi.c - F32, F16, BF16 and Q8_0 weight rows against several
 * activation vectors at once: batched decode (1 to 16 sequences each adding
 * one token) and small prefill chunks (up to 31 tokens).
 *
 * Register blocking. A tile is MR weight rows x G inputs: each step of 16
 * weights (8 on AVX2) converts MR weight vectors to F32 and loads G input
 * vectors, then does MR * G FMAs into MR * G accumulator registers, so a
 * converted weight vector serves G inputs and a loaded input vector MR
 * rows. MR shrinks as G grows to stay within the registers (32 zmm: 8x1,
 * 8x2, 6x3, 6x4, 4x5, 4x6; 16 ymm: 8x1, 4x2, 3x3, 3x4). The inputs are split
 * into near-equal groups of at most 6 (AVX2: 4); for each block of MR rows
 * all groups run back to back, so only the first group reads the rows from
 * memory (the others find them in L1/L2). That first tile prefetches 1 KiB
 * ahead in each row, running on into the next block near a row's end: MR
 * short streams (a Q8_0 row of 1024 is 17 cache lines) are too short for
 * the hardware prefetcher to lock on. nb = 1 is the memory-bound decode of
 * one sequence: its 8 rows are 8 independent FMA chains, enough to hide the
 * FMA latency. Rows left at the end of [r0, r1) take 1 x G tiles.
 *
 * Batch invariance (kernels.h). Every (row, input) pair gets the same
 * operations from every tile, whatever its shape, the pair's place in it,
 * the other inputs and [r0, r1): one accumulator of 16 lanes (8 on AVX2),
 * zeroed, then acc = fma(w[k..k+16), x[k..k+16), acc) for k ascending, w
 * being the weights converted exactly to F32 (Q8_0: d * q, exact, as an F16
 * scale times an int8 fits in a float's 24-bit mantissa), then one fixed
 * tree over the lanes (reduce16; reduce16x4 does four such trees at once,
 * adding the same pairs of lanes). The tile shape only decides which pairs
 * share instructions, never the operations on a pair. Which path runs
 * (AVX-512, AVX2, none) depends on the type, n and the CPU, never on nb;
 * the AVX-512 and AVX2 paths differ from each other in the last bits.
 * Activations stay F32.
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

/* Y[j * ldy + i] = dot(row i, X[j]) for the i < MR rows from W (rb bytes
 * apart) and j < G inputs from X (n floats apart). Prefetches pf bytes
 * past the weights it reads, jump bytes further once that passes the end
 * of the row (pf <= rb). */
typedef void (*tile_fn)(const char *W, size_t rb, int n, const float *X, float *Y, int ldy, size_t pf, size_t jump);

/* The tiles of one type and ISA, for groups of g = 1..gmax inputs: main[g]
 * is the mr[g] x g tile; narrow[g] has mr[g + 1] rows, for a group of g
 * beside groups of g + 1 (all groups of a block share its rows); rest[g]
 * is the 1 x g tile. */
#define KM_GMAX 6
typedef struct {
    tile_fn main[KM_GMAX + 1], narrow[KM_GMAX], rest[KM_GMAX + 1];
    int mr[KM_GMAX + 1];
    int gmax;
} tile_set;

#define INLINE static inline __attribute__((always_inline))

#ifdef KM_X86
/* ---------------------------------------------------------------- AVX-512 */
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))

/* Lanes (i, i + 8), then (i, i + 4), (i, i + 2), (0, 1). */
AVX512 INLINE float reduce16(__m512 v)
{
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
}

/* reduce16 of four accumulators: the same pairs of lanes added at each
 * level (float addition commutes, so only the pairing matters) in 14
 * instructions instead of 36. */
AVX512 INLINE __m128 reduce16x4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xee));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xee));
    /* ab: halves of a, b with lanes (i, i + 8) added; quarter q of v then
     * holds a, b, c or d with lanes (i, i + 4) added */
    __m512 v = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xdd));
    v = _mm512_add_ps(v, _mm512_permute_ps(v, 0x4e));
    v = _mm512_add_ps(v, _mm512_permute_ps(v, 0xb1));
    return _mm512_castps512_ps128(
        _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), v));
}

/* 16 weights of a row from byte p as F32; for Q8_0, half h of the block at
 * p, with its scale d already converted (once per block, by the caller). */
AVX512 INLINE __m512 load16(int type, const char *p, int h, __m512 d)
{
    switch (type) {
    case GGML_TYPE_F32:
        return _mm512_loadu_ps((const float *)p);
    case GGML_TYPE_F16:
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    case GGML_TYPE_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
    default: /* Q8_0 */
        return _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                    _mm_loadu_si128((const __m128i *)(((const block_q8_0 *)p)->qs + 16 * h)))));
    }
}

/* The tile body. type, MR and G are constants in every caller, so the
 * loops unroll and acc[][] lives in registers. A step is 16 weights, or a
 * Q8_0 block (two halves of 16 sharing one scale). */
AVX512 INLINE void tile512(int type, int MR, int G, const char *W, size_t rb, int n, const float *X,
                           float *Y, int ldy, size_t pf, size_t jump)
{
    const int halves = type == GGML_TYPE_Q8_0 ? 2 : 1;
    const size_t step_bytes = type == GGML_TYPE_Q8_0 ? sizeof(block_q8_0) : type == GGML_TYPE_F32 ? 64 : 32;
    __m512 acc[8][KM_GMAX];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 6
        for (int j = 0; j < G; j++) acc[i][j] = _mm512_setzero_ps();
    const char *p = W;
    for (int k = 0; k < n; k += 16 * halves, p += step_bytes) {
        __m512 d[8];
        const char *pp = p + pf + ((size_t)(p - W) + pf >= rb ? jump : 0);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            _mm_prefetch(pp + (size_t)i * rb, _MM_HINT_T0);
            d[i] = type == GGML_TYPE_Q8_0
                       ? _mm512_cvtph_ps(_mm256_set1_epi16((short)((const block_q8_0 *)(p + (size_t)i * rb))->d))
                       : _mm512_setzero_ps();
        }
#pragma GCC unroll 2
        for (int h = 0; h < halves; h++) {
            __m512 w[8];
#pragma GCC unroll 8
            for (int i = 0; i < MR; i++) w[i] = load16(type, p + (size_t)i * rb, h, d[i]);
#pragma GCC unroll 6
            for (int j = 0; j < G; j++) {
                __m512 x = _mm512_loadu_ps(X + (size_t)j * n + k + 16 * h);
#pragma GCC unroll 8
                for (int i = 0; i < MR; i++) acc[i][j] = _mm512_fmadd_ps(w[i], x, acc[i][j]);
            }
        }
    }
#pragma GCC unroll 6
    for (int j = 0; j < G; j++) {
        int i = 0;
#pragma GCC unroll 2
        for (; i + 4 <= MR; i += 4)
            _mm_storeu_ps(Y + (size_t)j * ldy + i, reduce16x4(acc[i][j], acc[i + 1][j], acc[i + 2][j], acc[i + 3][j]));
#pragma GCC unroll 3
        for (; i < MR; i++) Y[(size_t)j * ldy + i] = reduce16(acc[i][j]);
    }
}

#define T512(TY, MR, G)                                                                           \
    AVX512 static void t512_##TY##_##MR##x##G(const char *W, size_t rb, int n, const float *X,     \
                                              float *Y, int ldy, size_t pf, size_t jump)          \
    {                                                                                             \
        tile512(GGML_TYPE_##TY, MR, G, W, rb, n, X, Y, ldy, pf, jump);                            \
    }
/* MR * G accumulators + MR weights + 1 input <= 32 registers */
#define T512_SET(TY)                                                                              \
    T512(TY, 8, 1) T512(TY, 8, 2) T512(TY, 6, 3) T512(TY, 6, 4) T512(TY, 4, 5) T512(TY, 4, 6)     \
    T512(TY, 6, 2) T512(TY, 4, 4)                                                                 \
    T512(TY, 1, 1) T512(TY, 1, 2) T512(TY, 1, 3) T512(TY, 1, 4) T512(TY, 1, 5) T512(TY, 1, 6)     \
    static const tile_set s512_##TY = {                                                           \
        { NULL, t512_##TY##_8x1, t512_##TY##_8x2, t512_##TY##_6x3, t512_##TY##_6x4,               \
          t512_##TY##_4x5, t512_##TY##_4x6 },                                                     \
        { NULL, t512_##TY##_8x1, t512_##TY##_6x2, t512_##TY##_6x3, t512_##TY##_4x4,               \
          t512_##TY##_4x5 },                                                                      \
        { NULL, t512_##TY##_1x1, t512_##TY##_1x2, t512_##TY##_1x3, t512_##TY##_1x4,               \
          t512_##TY##_1x5, t512_##TY##_1x6 },                                                     \
        { 0, 8, 8, 6, 6, 4, 4 }, 6 };

T512_SET(F32)
T512_SET(F16)
T512_SET(BF16)
T512_SET(Q8_0)

/* ------------------------------------------------------------------- AVX2 */
#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* Lanes (i, i + 4), then (i, i + 2), (0, 1). */
AVX2 INLINE float reduce8(__m256 v)
{
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
}

/* reduce8 of four accumulators (see reduce16x4). */
AVX2 INLINE __m128 reduce8x4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m256 ab = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
    __m256 cd = _mm256_add_ps(_mm256_permute2f128_ps(c, d, 0x20), _mm256_permute2f128_ps(c, d, 0x31));
    /* half 0 of v: a, c; half 1: b, d; lanes (i, i + 2) added */
    __m256 v = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, 0x44), _mm256_shuffle_ps(ab, cd, 0xee));
    v = _mm256_add_ps(_mm256_shuffle_ps(v, v, 0x88), _mm256_shuffle_ps(v, v, 0xdd));
    return _mm_unpacklo_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
}

/* 8 weights of a row from byte p as F32; for Q8_0, quarter h of the block
 * at p, with its scale d converted by the caller. */
AVX2 INLINE __m256 load8(int type, const char *p, int h, __m256 d)
{
    switch (type) {
    case GGML_TYPE_F32:
        return _mm256_loadu_ps((const float *)p);
    case GGML_TYPE_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    case GGML_TYPE_BF16:
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    default: /* Q8_0 */
        return _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                    _mm_loadl_epi64((const __m128i *)(((const block_q8_0 *)p)->qs + 8 * h)))));
    }
}

/* tile512 on 8 lanes: a step is 8 weights or a Q8_0 block (4 quarters).
 * With one input each weight vector is used as soon as it is converted:
 * holding all MR of them first would not fit 8 rows in 16 registers. */
AVX2 INLINE void tile256(int type, int MR, int G, const char *W, size_t rb, int n, const float *X,
                         float *Y, int ldy, size_t pf, size_t jump)
{
    const int parts = type == GGML_TYPE_Q8_0 ? 4 : 1;
    const size_t step_bytes = type == GGML_TYPE_Q8_0 ? sizeof(block_q8_0) : type == GGML_TYPE_F32 ? 32 : 16;
    __m256 acc[8][4];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < G; j++) acc[i][j] = _mm256_setzero_ps();
    const char *p = W;
    for (int k = 0; k < n; k += 8 * parts, p += step_bytes) {
        __m256 d[8];
        const char *pp = p + pf + ((size_t)(p - W) + pf >= rb ? jump : 0);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            _mm_prefetch(pp + (size_t)i * rb, _MM_HINT_T0);
            d[i] = type == GGML_TYPE_Q8_0
                       ? _mm256_cvtph_ps(_mm_set1_epi16((short)((const block_q8_0 *)(p + (size_t)i * rb))->d))
                       : _mm256_setzero_ps();
        }
#pragma GCC unroll 4
        for (int h = 0; h < parts; h++) {
            if (G == 1) {
                __m256 x = _mm256_loadu_ps(X + k + 8 * h);
#pragma GCC unroll 8
                for (int i = 0; i < MR; i++)
                    acc[i][0] = _mm256_fmadd_ps(load8(type, p + (size_t)i * rb, h, d[i]), x, acc[i][0]);
                continue;
            }
            __m256 w[8];
#pragma GCC unroll 8
            for (int i = 0; i < MR; i++) w[i] = load8(type, p + (size_t)i * rb, h, d[i]);
#pragma GCC unroll 4
            for (int j = 0; j < G; j++) {
                __m256 x = _mm256_loadu_ps(X + (size_t)j * n + k + 8 * h);
#pragma GCC unroll 8
                for (int i = 0; i < MR; i++) acc[i][j] = _mm256_fmadd_ps(w[i], x, acc[i][j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < G; j++) {
        int i = 0;
#pragma GCC unroll 2
        for (; i + 4 <= MR; i += 4)
            _mm_storeu_ps(Y + (size_t)j * ldy + i, reduce8x4(acc[i][j], acc[i + 1][j], acc[i + 2][j], acc[i + 3][j]));
#pragma GCC unroll 3
        for (; i < MR; i++) Y[(size_t)j * ldy + i] = reduce8(acc[i][j]);
    }
}

#define T256(TY, MR, G)                                                                           \
    AVX2 static void t256_##TY##_##MR##x##G(const char *W, size_t rb, int n, const float *X,       \
                                            float *Y, int ldy, size_t pf, size_t jump)            \
    {                                                                                             \
        tile256(GGML_TYPE_##TY, MR, G, W, rb, n, X, Y, ldy, pf, jump);                            \
    }
/* MR * G accumulators + MR weights + 1 input <= 16 registers (8x1 aside,
 * see tile256); groups of at most 4, as 2-row tiles for 5 or 6 inputs
 * measured slower than more groups of 3 rows */
#define T256_SET(TY)                                                                              \
    T256(TY, 8, 1) T256(TY, 4, 2) T256(TY, 3, 3) T256(TY, 3, 4) T256(TY, 4, 1) T256(TY, 3, 2)    \
    T256(TY, 1, 1) T256(TY, 1, 2) T256(TY, 1, 3) T256(TY, 1, 4)                                   \
    static const tile_set s256_##TY = {                                                           \
        { NULL, t256_##TY##_8x1, t256_##TY##_4x2, t256_##TY##_3x3, t256_##TY##_3x4 },             \
        { NULL, t256_##TY##_4x1, t256_##TY##_3x2, t256_##TY##_3x3 },                              \
        { NULL, t256_##TY##_1x1, t256_##TY##_1x2, t256_##TY##_1x3, t256_##TY##_1x4 },             \
        { 0, 8, 4, 3, 3 }, 4 };

T256_SET(F32)
T256_SET(F16)
T256_SET(BF16)
T256_SET(Q8_0)
#endif

static const tile_set *km_f32, *km_f16, *km_bf16, *km_q8_0;
static pthread_once_t km_once = PTHREAD_ONCE_INIT;

static void km_init(void)
{
#ifdef KM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && !getenv("QUARRY_NO_AVX512")) {
        km_f32 = &s512_F32;
        km_f16 = &s512_F16;
        km_bf16 = &s512_BF16;
        km_q8_0 = &s512_Q8_0;
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        /* F16C comes with every AVX2 CPU shipped (kernels.c assumes it too;
         * clang's __builtin_cpu_supports has no "f16c") */
        km_f32 = &s256_F32;
        km_f16 = &s256_F16;
        km_bf16 = &s256_BF16;
        km_q8_0 = &s256_Q8_0;
    }
#endif
}

int kern_matmul_rows_multi(int type, const void *W, size_t row_bytes, int n,
                           const float *X, int nb, float *Y, int ldy, int r0, int r1)
{
    pthread_once(&km_once, km_init);
    const tile_set *ts = type == GGML_TYPE_F32 ? km_f32 : type == GGML_TYPE_F16 ? km_f16
                       : type == GGML_TYPE_BF16 ? km_bf16 : type == GGML_TYPE_Q8_0 ? km_q8_0 : NULL;
    if (!ts || n % 16 || (type == GGML_TYPE_Q8_0 && n % QK8_0)) return 0;
    if (nb < 1) return 1;
    /* near-equal groups, the larger ones first: 8 -> 4+4 rather than 6+2,
     * 16 -> 6+5+5 */
    int groups = (nb + ts->gmax - 1) / ts->gmax, g0 = nb / groups, big = nb % groups;
    int mr = ts->mr[big ? g0 + 1 : g0];
    tile_fn f_big = big ? ts->main[g0 + 1] : NULL, f_small = big ? ts->narrow[g0] : ts->main[g0];
    /* The first group's tile prefetches pf bytes ahead in each of its mr
     * row streams, running on into the same row of the next block (jump)
     * near the end of a row, so the next block's rows are in flight before
     * they are needed. 1 KiB x 8 rows covers the DRAM latency at full
     * bandwidth and stays well inside L1; a whole block ahead (48 KiB for
     * 8 BF16 rows of 3072) measured slower. */
    size_t pf = row_bytes < 1024 ? row_bytes : 1024, jump = (size_t)(mr - 1) * row_bytes;
    const char *base = W;
    int r = r0;
    for (; r + mr <= r1; r += mr) {
        const char *rows = base + (size_t)r * row_bytes;
        for (int q = 0, b0 = 0; q < groups; q++) {
            tile_fn f = q < big ? f_big : f_small;
            f(rows, row_bytes, n, X + (size_t)b0 * n, Y + (size_t)b0 * ldy + r, ldy, q ? 0 : pf, q ? 0 : jump);
            b0 += q < big ? g0 + 1 : g0;
        }
    }
    for (; r < r1; r++) {
        const char *row = base + (size_t)r * row_bytes;
        for (int b0 = 0; b0 < nb; b0 += ts->gmax) {
            int g = nb - b0 < ts->gmax ? nb - b0 : ts->gmax;
            ts->rest[g](row, row_bytes, n, X + (size_t)b0 * n, Y + (size_t)b0 * ldy + r, ldy, 0, 0);
        }
    }
    return 1;
}
