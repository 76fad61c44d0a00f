/*
 * kernels_x16.c - Q8_0 weights repacked 16 rows at a time ("X16"), and the
 * batched decode kernels that read them.
 *
 * Why. Batched decode (2 to 16 sequences, one token each) is compute-bound
 * once the weights are shared by the batch, and with rows stored one after
 * another (kernels_multi.c) every accumulator register holds 16 partial
 * sums of one row: six rows x four inputs fill the registers, so a batch of
 * 8 converts every weight twice and ends each tile with horizontal sums.
 * Here the 16 lanes of a register are 16 rows: one converted weight vector
 * (16 rows at input index k) meets a broadcast of x[k] for every input of
 * the batch, two row groups x 8 inputs take 16 accumulators, and the
 * results are stored as they are. Measured on one Zen 5 core, n = 1024,
 * 8 inputs: 159 -> 193 GFLOP/s with the rows in L2, 130 -> 175 streaming.
 *
 * Layout. Rows 16g .. 16g + 15 form group g, 16 * row_bytes bytes (the
 * same size as the rows they replace) at P + g * 16 * row_bytes. A group
 * is its Q8_0 blocks in order, each 544 bytes: the 16 rows' F16 scales,
 * then for k = 0..31 the 16 rows' int8 quants at input index 32b + k.
 *
 * Numerics and batch invariance. For every (row, input) pair, whatever the
 * tile, the batch or the rows around it: one F32 accumulator, zeroed, then
 * acc = fma(d * q, x[k], acc) for k ascending, d * q being the weight
 * exactly (an F16 scale times an int8 fits a float's mantissa). The
 * portable path does exactly that with fmaf, so both paths agree bitwise
 * (tests/test_kernels.c). Activations stay F32.
 */
#include "kernels.h"
#include "gguf.h"
#include "quant.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KX_X86 1
#endif

#define KX_BLOCK (32 + 16 * QK8_0) /* bytes of one block of a group */

static int kx_avx512 = 0;
static pthread_once_t kx_once = PTHREAD_ONCE_INIT;

static void kx_init(void)
{
#ifdef KX_X86
    __builtin_cpu_init();
    kx_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && !getenv("QUARRY_NO_AVX512");
#endif
}

int kern_x16_supported(int type, int n, int d)
{
    return type == GGML_TYPE_Q8_0 && n > 0 && n % QK8_0 == 0 && d > 0 && d % 16 == 0;
}

int kern_x16_preferred(int type, int n, int d)
{
    pthread_once(&kx_once, kx_init);
    /* only the AVX-512 tiles gain from the layout; elsewhere rows stay
     * as the file has them */
    return kx_avx512 && kern_x16_supported(type, n, d) && !getenv("QUARRY_NO_X16");
}

void kern_x16_pack(int type, const void *W, size_t row_bytes, int n, int d, void *dst)
{
    (void)type;
    int nbk = n / QK8_0;
    for (int g = 0; g < d / 16; g++) {
        char *out = (char *)dst + (size_t)g * 16 * row_bytes;
        for (int b = 0; b < nbk; b++, out += KX_BLOCK)
            for (int i = 0; i < 16; i++) {
                const block_q8_0 *blk = (const block_q8_0 *)((const char *)W + (size_t)(16 * g + i) * row_bytes) + b;
                memcpy(out + 2 * i, &blk->d, 2);
                for (int k = 0; k < QK8_0; k++) out[32 + 16 * k + i] = (char)blk->qs[k];
            }
    }
}

/* The F16 scale of row i of a block, and its quant at input index k. */
static inline float kx_d(const char *blk, int i)
{
    uint16_t h;
    memcpy(&h, blk + 2 * i, 2);
    return qe_fp16_to_f32(h);
}
#define KX_Q(blk, k, i) ((int8_t)(blk)[32 + 16 * (k) + (i)])

void kern_x16_row(int type, const void *P, size_t row_bytes, int n, int r, float *dst)
{
    (void)type;
    const char *blk = (const char *)P + (size_t)(r / 16) * 16 * row_bytes;
    int i = r % 16;
    for (int b = 0; b < n / QK8_0; b++, blk += KX_BLOCK) {
        float d = kx_d(blk, i);
        for (int k = 0; k < QK8_0; k++) dst[b * QK8_0 + k] = d * (float)KX_Q(blk, k, i);
    }
}

double kern_x16_dot_ref(int type, const void *P, size_t row_bytes, int n, int r, const float *x)
{
    (void)type;
    const char *blk = (const char *)P + (size_t)(r / 16) * 16 * row_bytes;
    int i = r % 16;
    double acc = 0.0;
    for (int b = 0; b < n / QK8_0; b++, blk += KX_BLOCK) {
        double s = 0.0;   /* in kern_dot_ref's order, so the two agree exactly */
        for (int k = 0; k < QK8_0; k++) s += (double)KX_Q(blk, k, i) * x[b * QK8_0 + k];
        acc += (double)kx_d(blk, i) * s;
    }
    return acc;
}

/* The portable path and the tests' reference: the operations of the
 * AVX-512 tiles, one pair at a time. */
void kern_matmul_x16_ref(int type, const void *P_, size_t row_bytes, int n, const float *X, int nb, float *Y,
                         int ldy, int r0, int r1)
{
    (void)type;
    const char *P = P_;
    for (int r = r0; r < r1; r++) {
        const char *g = P + (size_t)(r / 16) * 16 * row_bytes;
        int i = r % 16;
        for (int j = 0; j < nb; j++) {
            const float *x = X + (size_t)j * n;
            const char *blk = g;
            float acc = 0.0f;
            for (int b = 0; b < n / QK8_0; b++, blk += KX_BLOCK) {
                float d = kx_d(blk, i);
                for (int k = 0; k < QK8_0; k++) acc = fmaf(d * (float)KX_Q(blk, k, i), x[b * QK8_0 + k], acc);
            }
            Y[(size_t)j * ldy + r] = acc;
        }
    }
}

#ifdef KX_X86
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))
#define KX_GMAX 8

/* Y[j * ldy + 16 * q + i] for the RG groups q from P (gs bytes apart) and
 * G inputs from X (n floats apart). pf: prefetch that many blocks ahead in
 * each group (0: none; the tiles after the first over the same groups find
 * them in cache). */
typedef void (*kx_tile_fn)(const char *P, size_t gs, int n, const float *X, float *Y, int ldy, int pf);

AVX512 INLINE void kx_tile(int RG, int G, const char *P, size_t gs, int n, const float *X, float *Y, int ldy,
                           int pf)
{
    __m512 acc[8][KX_GMAX];
#pragma GCC unroll 8
    for (int q = 0; q < RG; q++)
#pragma GCC unroll 8
        for (int j = 0; j < G; j++) acc[q][j] = _mm512_setzero_ps();
    const int nbk = n / QK8_0;
    for (int b = 0; b < nbk; b++) {
        __m512 d[8];
        const char *p[8];
#pragma GCC unroll 8
        for (int q = 0; q < RG; q++) {
            p[q] = P + (size_t)q * gs + (size_t)b * KX_BLOCK;
            d[q] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p[q]));
            if (pf && b + pf < nbk) {
                /* the block pf ahead: 544 bytes, 9 lines at most */
                const char *a = p[q] + (size_t)pf * KX_BLOCK;
#pragma GCC unroll 9
                for (int l = 0; l < KX_BLOCK; l += 64) _mm_prefetch(a + l, _MM_HINT_T0);
            }
        }
#pragma GCC unroll 4
        for (int k = 0; k < QK8_0; k++) {
            __m512 w[8];
#pragma GCC unroll 8
            for (int q = 0; q < RG; q++)
                w[q] = _mm512_mul_ps(d[q], _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                               _mm_loadu_si128((const __m128i *)(p[q] + 32 + 16 * k)))));
#pragma GCC unroll 8
            for (int j = 0; j < G; j++) {
                __m512 x = _mm512_set1_ps(X[(size_t)j * n + b * QK8_0 + k]);
#pragma GCC unroll 8
                for (int q = 0; q < RG; q++) acc[q][j] = _mm512_fmadd_ps(w[q], x, acc[q][j]);
            }
        }
    }
#pragma GCC unroll 8
    for (int q = 0; q < RG; q++)
#pragma GCC unroll 8
        for (int j = 0; j < G; j++) _mm512_storeu_ps(Y + (size_t)j * ldy + 16 * q, acc[q][j]);
}

#define KX_T(RG, G)                                                                                  \
    AVX512 static void kx_##RG##x##G(const char *P, size_t gs, int n, const float *X, float *Y, int ldy, \
                                     int pf)                                                         \
    {                                                                                                \
        kx_tile(RG, G, P, gs, n, X, Y, ldy, pf);                                                     \
    }
/* RG * G accumulators + RG weights + RG scales + 1 input <= 32 registers;
 * RG * G >= 6 independent FMA chains where the batch allows (the FMA's
 * latency is 4 cycles at 2 per cycle) */
KX_T(8, 1) KX_T(4, 2) KX_T(2, 3) KX_T(2, 4) KX_T(2, 5) KX_T(2, 6) KX_T(2, 7) KX_T(2, 8)
KX_T(1, 1) KX_T(1, 2) KX_T(1, 3) KX_T(1, 4) KX_T(1, 5) KX_T(1, 6) KX_T(1, 7) KX_T(1, 8)

static const kx_tile_fn kx_main[KX_GMAX + 1] = { NULL, kx_8x1, kx_4x2, kx_2x3, kx_2x4, kx_2x5, kx_2x6, kx_2x7, kx_2x8 };
static const kx_tile_fn kx_one[KX_GMAX + 1] = { NULL, kx_1x1, kx_1x2, kx_1x3, kx_1x4, kx_1x5, kx_1x6, kx_1x7, kx_1x8 };
static const int kx_rg[KX_GMAX + 1] = { 0, 8, 4, 2, 2, 2, 2, 2, 2 };

/* Blocks to prefetch ahead: 4 x 544 bytes per group stream, about 2 KiB,
 * covers the memory latency at the bandwidth one core draws. */
#define KX_PF 4

AVX512 static void kx_matmul_avx512(const char *P, size_t row_bytes, int n, const float *X, int nb, float *Y,
                                    int ldy, int r0, int r1)
{
    size_t gs = 16 * row_bytes;
    /* near-equal groups of inputs, the larger first (16 -> 8 + 8, 10 -> 5 + 5) */
    int parts = (nb + KX_GMAX - 1) / KX_GMAX, g0 = nb / parts, big = nb % parts;
    int rg = kx_rg[big ? g0 + 1 : g0];
    int g = r0 / 16, gend = r1 / 16;
    for (; g < gend; ) {
        int take = gend - g >= rg ? rg : 1;
        const char *Pg = P + (size_t)g * gs;
        for (int q = 0, b0 = 0; q < parts; q++) {
            int G = q < big ? g0 + 1 : g0;
            /* parts > 1 only when nb > 8, so every part has G >= 4
             * and the same rg: the parts share their groups */
            kx_tile_fn f = take == rg ? kx_main[G] : kx_one[G];
            f(Pg, gs, n, X + (size_t)b0 * n, Y + (size_t)b0 * ldy + 16 * g, ldy, q ? 0 : KX_PF);
            b0 += G;
        }
        g += take;
    }
}

/* Rows r .. r + 16 of a group as F32 into panel[k * ldp + i]. */
AVX512 static void kx_panel_avx512(const char *grp, int n, float *panel, int ldp)
{
    for (int b = 0; b < n / QK8_0; b++, grp += KX_BLOCK) {
        __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)grp));
        for (int k = 0; k < QK8_0; k++)
            _mm512_storeu_ps(panel + (size_t)(b * QK8_0 + k) * ldp,
                             _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                                  _mm_loadu_si128((const __m128i *)(grp + 32 + 16 * k))))));
    }
}
#endif

void kern_x16_panel(int type, const void *P, size_t row_bytes, int n, int r, float *panel, int ldp)
{
    (void)type;
    pthread_once(&kx_once, kx_init);
    const char *grp = (const char *)P + (size_t)(r / 16) * 16 * row_bytes;
#ifdef KX_X86
    if (kx_avx512) {
        kx_panel_avx512(grp, n, panel, ldp);
        return;
    }
#endif
    for (int b = 0; b < n / QK8_0; b++, grp += KX_BLOCK)
        for (int i = 0; i < 16; i++) {
            float d = kx_d(grp, i);
            for (int k = 0; k < QK8_0; k++) panel[(size_t)(b * QK8_0 + k) * ldp + i] = d * (float)KX_Q(grp, k, i);
        }
}

void kern_matmul_x16(int type, const void *P, size_t row_bytes, int n, const float *X, int nb, float *Y, int ldy,
                     int r0, int r1)
{
    (void)type;
    pthread_once(&kx_once, kx_init);
    if (nb < 1 || r0 >= r1) return;
#ifdef KX_X86
    if (kx_avx512) {
        kx_matmul_avx512(P, row_bytes, n, X, nb, Y, ldy, r0, r1);
        return;
    }
#endif
    kern_matmul_x16_ref(type, P, row_bytes, n, X, nb, Y, ldy, r0, r1);
}
