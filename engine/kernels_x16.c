/*
 * kernels_x16.c - weight matrices repacked 16 rows at a time ("X16") and
 * the decode kernels that read them: F16, Q8_0, Q4_K and Q6_K.
 *
 * Why. Batched decode (2 to 16 sequences, one token each) is compute-bound
 * once the weights are shared by the batch, and with rows stored one after
 * another (kernels_multi.c, kernels_k.c) every accumulator register holds
 * 16 partial sums of one row: six rows x four inputs fill the registers,
 * so a batch of 8 decodes every weight twice and ends each tile with
 * horizontal sums. Here the 16 lanes of a register are 16 rows: one decoded
 * weight vector (16 rows at input index k) meets a broadcast of x[k] for
 * every input of the batch, two row groups x 8 inputs take 16
 * accumulators, and the results are stored as they are. Measured on one
 * Zen 5 core, Q8_0, n = 1024, 8 inputs: 159 -> 193 GFLOP/s with the rows in
 * L2, 130 -> 175 streaming; a 0.6B Q8_0 model's batch of 8 149 -> ~200
 * tok/s on two cores.
 *
 * Layout. Rows 16g .. 16g + 15 form group g, kern_x16_size(type, n, 16)
 * bytes at P + g * that. A group is its units in order (a unit: 32 inputs
 * of F16 or Q8_0, 256 of Q4_K or Q6_K), each holding the 16 rows' values
 * for the unit's inputs, input-major ("for input k, rows 0..15"):
 *   F16   32 x 16 halves (1024 bytes)
 *   Q8_0  16 F16 scales, then 32 x 16 int8 (544 bytes)
 *   Q4_K  16 F16 d, 16 F16 dmin, 8 x 16 scales, 8 x 16 mins (bytes), then
 *         the 4-bit codes, 2048 bytes in chunks of 8 inputs (KX_NIB_BYTE
 *         in kernels_x16.h) (2368 bytes, 64 more than the rows it replaces)
 *   Q6_K  16 F16 d, 16 x 16 int8 scales, then the low 4 bits as Q4_K's
 *         codes, then the top 2 bits, 1024 bytes in chunks of 16 inputs
 *         (KX_QH_BYTE) (3360 bytes, the size of the rows)
 * Scales are unpacked once here, not per token; the per-row data is never
 * re-rounded, so every weight decodes to exactly the float the file's
 * dequantisation gives (tests/test_kernels.c).
 *
 * Numerics and batch invariance. For every (row, input) pair, whatever the
 * tile, the batch or the rows around it: one F32 accumulator, zeroed, then
 * acc = fma(w[k], x[k], acc) for k ascending, w[k] the dequantised weight
 * (F16, d * q, d * sc * q - dmin * m in one fused rounding, (d * sc) *
 * (q - 32) in one). The portable path does exactly that with fmaf, so both
 * agree bitwise. Activations stay F32 here; kernels_x16q.c has the tiles
 * that take them as 16-bit integers (Q8_0, Q4_K, Q6_K on AVX-512 VNNI).
 */
#include "kernels.h"
#include "kernels_x16.h"
#include "gguf.h"
#include "quant.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>


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

int kx_has_avx512(void)
{
    pthread_once(&kx_once, kx_init);
    return kx_avx512;
}

int kern_x16_supported(int type, int n, int d)
{
    int uk = kx_unit_k(type);
    return uk && n > 0 && n % uk == 0 && d > 0 && d % 16 == 0;
}

int kern_x16_preferred(int type, int n, int d)
{
    pthread_once(&kx_once, kx_init);
    /* only the AVX-512 tiles gain from the layout; elsewhere rows stay
     * as the file has them */
    return kx_avx512 && kern_x16_supported(type, n, d) && !getenv("QUARRY_NO_X16");
}

size_t kern_x16_size(int type, int n, int d)
{
    return (size_t)(d / 16) * (size_t)(n / kx_unit_k(type)) * kx_unit_bytes(type);
}

/* Weight (row i, input e of the unit) of a unit, as the file's
 * dequantisation gives it. */
static inline float kx_weight(int type, const char *u, int e, int i)
{
    const uint8_t *b = (const uint8_t *)u;
    switch (type) {
    case GGML_TYPE_F16: return kx_h(u + 2 * (16 * e + i));
    case GGML_TYPE_Q8_0: return kx_h(u + 2 * i) * (float)(int8_t)b[KX_Q8_BYTE(e, i)];
    case GGML_TYPE_Q4_K: {
        int s = e / 32, q = kx_nib(b + KX_Q4K_HDR, e, i);
        float d1 = kx_h(u + 2 * i) * (float)b[64 + 16 * s + i], m1 = kx_h(u + 32 + 2 * i) * (float)b[192 + 16 * s + i];
        return fmaf(d1, (float)q, -m1);   /* d1 * q is exact: this is d1 * q - m1 rounded once */
    }
    default: { /* Q6_K */
        int lo = kx_nib(b + KX_Q6K_QL, e, i), hi = kx_qh(b + KX_Q6K_QH, e, i);
        return kx_h(u + 2 * i) * (float)(int8_t)b[32 + 16 * (e / 16) + i] * (float)((lo | hi << 4) - 32);
    }
    }
}

/* Writes one unit of 16 rows (row i at src + i * row_bytes, unit index
 * j) into u. */
static void kx_pack_unit(int type, const char *src, size_t row_bytes, int j, uint8_t *u)
{
    memset(u, 0, kx_unit_bytes(type));   /* the codes are or-ed in */
    for (int i = 0; i < 16; i++) {
        const char *row = src + (size_t)i * row_bytes;
        switch (type) {
        case GGML_TYPE_F16:
            for (int e = 0; e < 32; e++) memcpy(u + 2 * (16 * e + i), row + 2 * (32 * j + e), 2);
            break;
        case GGML_TYPE_Q8_0: {
            const block_q8_0 *blk = (const block_q8_0 *)row + j;
            memcpy(u + 2 * i, &blk->d, 2);
            for (int e = 0; e < QK8_0; e++) u[KX_Q8_BYTE(e, i)] = (uint8_t)blk->qs[e];
            break;
        }
        case GGML_TYPE_Q4_K: {
            const block_q4_K *blk = (const block_q4_K *)row + j;
            uint8_t sc[8], m[8];
            qe_q4_K_scales(blk->scales, sc, m);
            memcpy(u + 2 * i, &blk->d, 2);
            memcpy(u + 32 + 2 * i, &blk->dmin, 2);
            for (int t = 0; t < 8; t++) {
                u[64 + 16 * t + i] = sc[t];
                u[192 + 16 * t + i] = m[t];
            }
            for (int e = 0; e < QK_K; e++) {
                int c = e / 64, l = e % 64;
                int q = l < 32 ? blk->qs[32 * c + l] & 15 : blk->qs[32 * c + l - 32] >> 4;
                u[KX_Q4K_HDR + KX_NIB_BYTE(e, i)] |= (uint8_t)(q << KX_NIB_SHIFT(e));
            }
            break;
        }
        default: { /* Q6_K */
            const block_q6_K *blk = (const block_q6_K *)row + j;
            memcpy(u + 2 * i, &blk->d, 2);
            for (int t = 0; t < 16; t++) u[32 + 16 * t + i] = (uint8_t)blk->scales[t];
            uint8_t q[QK_K];
            for (int e = 0; e < QK_K; e++) {
                int h = e / 128, part = e % 128 / 32, l = e % 32;
                uint8_t lq = blk->ql[64 * h + l + (part & 1) * 32], hq = blk->qh[32 * h + l];
                q[e] = (uint8_t)(((part < 2 ? lq : lq >> 4) & 15) | ((hq >> (2 * part)) & 3) << 4);
            }
            for (int e = 0; e < QK_K; e++) {
                u[KX_Q6K_QL + KX_NIB_BYTE(e, i)] |= (uint8_t)((q[e] & 15) << KX_NIB_SHIFT(e));
                u[KX_Q6K_QH + KX_QH_BYTE(e, i)] |= (uint8_t)((q[e] >> 4) << KX_QH_SHIFT(e));
            }
            break;
        }
        }
    }
}

void kern_x16_pack(int type, const void *W, size_t row_bytes, int n, int d, void *dst)
{
    int nu = n / kx_unit_k(type);
    size_t ub = kx_unit_bytes(type);
    for (int g = 0; g < d / 16; g++) {
        uint8_t *out = (uint8_t *)dst + (size_t)g * nu * ub;
        for (int j = 0; j < nu; j++, out += ub)
            kx_pack_unit(type, (const char *)W + (size_t)16 * g * row_bytes, row_bytes, j, out);
    }
}

void kern_x16_row(int type, const void *P, int n, int r, float *dst)
{
    int uk = kx_unit_k(type), nu = n / uk;
    size_t ub = kx_unit_bytes(type);
    const char *u = kx_group(type, P, n, r);
    for (int j = 0; j < nu; j++, u += ub)
        for (int e = 0; e < uk; e++) dst[j * uk + e] = kx_weight(type, u, e, r % 16);
}

double kern_x16_dot_ref(int type, const void *P, int n, int r, const float *x)
{
    int uk = kx_unit_k(type), nu = n / uk;
    size_t ub = kx_unit_bytes(type);
    const char *u = kx_group(type, P, n, r);
    double acc = 0.0;
    for (int j = 0; j < nu; j++, u += ub)
        for (int e = 0; e < uk; e++) acc += (double)kx_weight(type, u, e, r % 16) * x[j * uk + e];
    return acc;
}

/* The portable path and the tests' reference: the operations of the
 * AVX-512 tiles, one pair at a time. */
void kern_matmul_x16_ref(int type, const void *P, int n, const float *X, int nb, float *Y, int ldy, int r0, int r1)
{
    int uk = kx_unit_k(type), nu = n / uk;
    size_t ub = kx_unit_bytes(type);
    for (int r = r0; r < r1; r++) {
        const char *g = kx_group(type, P, n, r);
        for (int j = 0; j < nb; j++) {
            const float *x = X + (size_t)j * n;
            const char *u = g;
            float acc = 0.0f;
            for (int t = 0; t < nu; t++, u += ub)
                for (int e = 0; e < uk; e++) acc = fmaf(kx_weight(type, u, e, r % 16), x[t * uk + e], acc);
            Y[(size_t)j * ldy + r] = acc;
        }
    }
}

#ifdef KX_X86
#define KX_GMAX 8

/* Y[j * ldy + 16 * q + i] for the RG groups q from P (gs bytes apart) and
 * G inputs from X (n floats apart). pf: prefetch the unit pf ahead in
 * each group (0: none; the tiles after the first over the same groups
 * find them in cache). */
typedef void (*kx_tile_fn)(const char *P, size_t gs, int n, const float *X, float *Y, int ldy, int pf);

/* acc[q][j] += w[q] * x_j[k] for the tile's groups and inputs; or, for
 * the GEMM's panel (G == 0), the weights stored. The empty asm keeps the
 * compiler from hoisting the next step's broadcasts above this one: it
 * did, for 16 broadcast registers, and spilled accumulators for them. */
#define KX_FMAS(k)                                                                              \
    do {                                                                                        \
        __asm__ volatile("" ::: "memory");                                                      \
        if (G == 0) _mm512_storeu_ps(panel + (size_t)(k) * ldp, w[0]);                          \
        _Pragma("GCC unroll 8") for (int j = 0; j < G; j++) {                                   \
            __m512 x = _mm512_set1_ps(X[(size_t)j * n + (k)]);                                  \
            _Pragma("GCC unroll 8") for (int q = 0; q < RG; q++) acc[q][j] = _mm512_fmadd_ps(w[q], x, acc[q][j]); \
        }                                                                                       \
    } while (0)

AVX512 INLINE void kx_tile(int type, int RG, int G, const char *P, size_t gs, int n, const float *X, float *Y,
                           int ldy, int pf, float *panel, int ldp)
{
    __m512 acc[8][KX_GMAX];
#pragma GCC unroll 8
    for (int q = 0; q < RG; q++)
#pragma GCC unroll 8
        for (int j = 0; j < G; j++) acc[q][j] = _mm512_setzero_ps();
    const int uk = type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q6_K ? QK_K : 32;
    const size_t ub = type == GGML_TYPE_F16 ? KX_F16_BYTES : type == GGML_TYPE_Q8_0 ? KX_Q8_BYTES
                    : type == GGML_TYPE_Q4_K ? KX_Q4K_BYTES : KX_Q6K_BYTES;
    const int nu = n / uk;
    for (int u = 0; u < nu; u++) {
        const uint8_t *p[8];
        const int k0 = u * uk;
#pragma GCC unroll 8
        for (int q = 0; q < RG; q++) p[q] = (const uint8_t *)P + (size_t)q * gs + (size_t)u * ub;
        if (type == GGML_TYPE_F16) {
            KX_PREFETCH(0, KX_F16_BYTES / 64);
#pragma GCC unroll 4
            for (int k = 0; k < 32; k++) {
                __m512 w[8];
#pragma GCC unroll 8
                for (int q = 0; q < RG; q++) w[q] = kx_cvt_f16(p[q] + 32 * k);
                KX_FMAS(k0 + k);
            }
        } else if (type == GGML_TYPE_Q8_0) {
            KX_PREFETCH(0, (KX_Q8_BYTES + 63) / 64);
            __m512 d[8];
#pragma GCC unroll 8
            for (int q = 0; q < RG; q++) d[q] = kx_cvt_f16(p[q]);
            for (int c = 0; c < 8; c++) {   /* chunk c: inputs 4c .. 4c + 3 (KX_Q8_BYTE) */
                __m512i v[8];
#pragma GCC unroll 8
                for (int q = 0; q < RG; q++) v[q] = _mm512_loadu_si512(p[q] + 32 + 64 * c);
#pragma GCC unroll 4
                for (int e = 0; e < 4; e++) {
                    const int byte = KX_Q8_BYTE(e, 0) - 32;   /* of the dwords: moved to the top, sign-extended */
                    __m512 w[8];
#pragma GCC unroll 8
                    for (int q = 0; q < RG; q++)
                        w[q] = _mm512_mul_ps(d[q], _mm512_cvtepi32_ps(_mm512_srai_epi32(kx_shift(v[q], 8 * byte - 24), 24)));
                    KX_FMAS(k0 + 4 * c + e);
                }
            }
        } else if (type == GGML_TYPE_Q4_K) {
            for (int sb = 0; sb < 8; sb++) {
                KX_PREFETCH(sb, 5);   /* 8 x 5 lines >= 2368 bytes */
                /* d and dmin converted again per sub-block: kept across
                 * them they took registers the accumulators needed */
                __m512 S[8], M[8];
#pragma GCC unroll 8
                for (int q = 0; q < RG; q++) {
                    S[q] = _mm512_mul_ps(kx_cvt_f16(p[q]), kx_cvt_u8(p[q] + 64 + 16 * sb));
                    M[q] = _mm512_mul_ps(kx_cvt_f16(p[q] + 32), kx_cvt_u8(p[q] + 192 + 16 * sb));
                }
                for (int c = 0; c < 4; c++) {   /* chunk 4 sb + c: inputs 32 sb + 8c .. + 7 */
                    __m512i v[8];
#pragma GCC unroll 8
                    for (int q = 0; q < RG; q++) v[q] = _mm512_loadu_si512(p[q] + KX_Q4K_HDR + 64 * (4 * sb + c));
#pragma GCC unroll 8
                    for (int e = 0; e < 8; e++) {   /* bits 4 (e / 2) + 16 (e & 1) */
                        const int sh = 4 * (e / 2) + 16 * (e & 1);
                        __m512 w[8];
#pragma GCC unroll 8
                        for (int q = 0; q < RG; q++) {
                            __m512i b = _mm512_and_si512(kx_shift(v[q], sh), _mm512_set1_epi32(15));
                            w[q] = _mm512_fmsub_ps(S[q], _mm512_cvtepi32_ps(b), M[q]);
                        }
                        KX_FMAS(k0 + 32 * sb + 8 * c + e);
                    }
                }
            }
        } else { /* Q6_K: w = (d * sc) * q - (d * sc) * 32, one rounding */
            for (int sb = 0; sb < 16; sb++) {
                KX_PREFETCH(sb, 4);   /* 16 x 4 lines >= 3360 bytes */
                __m512 S[8], S32[8];
#pragma GCC unroll 8
                for (int q = 0; q < RG; q++) {
                    S[q] = _mm512_mul_ps(kx_cvt_f16(p[q]), kx_cvt_s8(p[q] + 32 + 16 * sb));
                    S32[q] = _mm512_mul_ps(S[q], _mm512_set1_ps(32.0f));
                }
                __m512i h[8];
#pragma GCC unroll 8
                for (int q = 0; q < RG; q++) h[q] = _mm512_loadu_si512(p[q] + KX_Q6K_QH + 64 * sb);
                /* rolled: the top bits' shifts then take a count in a register,
                 * yet unrolled (immediates, twice the code) ran 5-10% slower */
#pragma GCC unroll 1
                for (int c = 0; c < 2; c++) {   /* chunk 2 sb + c: inputs 16 sb + 8c .. + 7 */
                    __m512i l[8];
#pragma GCC unroll 8
                    for (int q = 0; q < RG; q++) l[q] = _mm512_loadu_si512(p[q] + KX_Q6K_QL + 64 * (2 * sb + c));
#pragma GCC unroll 8
                    for (int e = 0; e < 8; e++) {
                        /* low bits at 4 (e / 2) + 16 (e & 1), top bits at
                         * 2 (4c + e / 2) + 16 (e & 1), moved to 4 */
                        const int sl = 4 * (e / 2) + 16 * (e & 1), th = 2 * (4 * c + e / 2) + 16 * (e & 1);
                        __m512 w[8];
#pragma GCC unroll 8
                        for (int q = 0; q < RG; q++) {
                            __m512i lo = _mm512_and_si512(kx_shift(l[q], sl), _mm512_set1_epi32(15));
                            __m512i hb = _mm512_and_si512(kx_shift(h[q], th - 4), _mm512_set1_epi32(0x30));
                            w[q] = _mm512_fmsub_ps(S[q], _mm512_cvtepi32_ps(_mm512_or_si512(lo, hb)), S32[q]);
                        }
                        KX_FMAS(k0 + 16 * sb + 8 * c + e);
                    }
                }
            }
        }
    }
#pragma GCC unroll 8
    for (int q = 0; q < RG; q++)
#pragma GCC unroll 8
        for (int j = 0; j < G; j++) _mm512_storeu_ps(Y + (size_t)j * ldy + 16 * q, acc[q][j]);
}

#define KX_T(TY, RG, G)                                                                                   \
    AVX512 static void kx_##TY##_##RG##x##G(const char *P, size_t gs, int n, const float *X, float *Y, int ldy, \
                                            int pf)                                                       \
    {                                                                                                     \
        kx_tile(GGML_TYPE_##TY, RG, G, P, gs, n, X, Y, ldy, pf, NULL, 0);                                 \
    }
/* RG * G accumulators + RG weights (+ scales) + 1 input <= 32 registers;
 * RG * G >= 6 independent FMA chains where the batch allows (the FMA's
 * latency is 4 cycles at 2 per cycle) */
#define KX_SET(TY, RG1)                                                                                   \
    KX_T(TY, RG1, 1) KX_T(TY, 4, 2) KX_T(TY, 2, 3) KX_T(TY, 2, 4) KX_T(TY, 2, 5) KX_T(TY, 2, 6) KX_T(TY, 2, 7) \
    KX_T(TY, 2, 8) KX_T(TY, 1, 1) KX_T(TY, 1, 2) KX_T(TY, 1, 3) KX_T(TY, 1, 4) KX_T(TY, 1, 5) KX_T(TY, 1, 6) \
    KX_T(TY, 1, 7) KX_T(TY, 1, 8)                                                                         \
    AVX512 static void kx_##TY##_panel(const char *P, int n, float *panel, int ldp)                       \
    {                                                                                                     \
        kx_tile(GGML_TYPE_##TY, 1, 0, P, 0, n, NULL, NULL, 0, 0, panel, ldp);                             \
    }                                                                                                     \
    static const kx_tile_fn kx_main_##TY[KX_GMAX + 1] = { NULL, kx_##TY##_##RG1##x1, kx_##TY##_4x2, kx_##TY##_2x3, \
        kx_##TY##_2x4, kx_##TY##_2x5, kx_##TY##_2x6, kx_##TY##_2x7, kx_##TY##_2x8 };                        \
    static const kx_tile_fn kx_one_##TY[KX_GMAX + 1] = { NULL, kx_##TY##_1x1, kx_##TY##_1x2, kx_##TY##_1x3, \
        kx_##TY##_1x4, kx_##TY##_1x5, kx_##TY##_1x6, kx_##TY##_1x7, kx_##TY##_1x8 };

/* one input: Q8_0 8 groups (8 FMA chains); the K-quants' scales and mins
 * take 2 registers per group, so 4 (8 spilled, 5% slower); F16 4 (with 8
 * its 8 streams of 32 KiB groups read 8% slower than the row layout) */
KX_SET(F16, 4)
KX_SET(Q8_0, 8)
KX_SET(Q4_K, 4)
KX_SET(Q6_K, 4)

static const int kx_rg[KX_GMAX + 1] = { 0, 8, 4, 2, 2, 2, 2, 2, 2 };
static const int kx_rg4[KX_GMAX + 1] = { 0, 4, 4, 2, 2, 2, 2, 2, 2 };

/* Units to prefetch ahead in each group stream: about 2 KiB, which covers
 * the memory latency at the bandwidth one core draws (K-quants: one unit,
 * spread over its sub-blocks; two and three measured 5-20% slower). */
static int kx_pf(int type) { return type == GGML_TYPE_F16 ? 2 : type == GGML_TYPE_Q8_0 ? 4 : 1; }

static void kx_matmul_avx512(int type, const char *P, int n, const float *X, int nb, float *Y, int ldy, int r0,
                             int r1)
{
    const kx_tile_fn *main = type == GGML_TYPE_F16 ? kx_main_F16 : type == GGML_TYPE_Q8_0 ? kx_main_Q8_0
                           : type == GGML_TYPE_Q4_K ? kx_main_Q4_K : kx_main_Q6_K;
    const kx_tile_fn *one = type == GGML_TYPE_F16 ? kx_one_F16 : type == GGML_TYPE_Q8_0 ? kx_one_Q8_0
                          : type == GGML_TYPE_Q4_K ? kx_one_Q4_K : kx_one_Q6_K;
    size_t gs = kern_x16_size(type, n, 16);
    /* near-equal parts of inputs, the larger first (16 -> 8 + 8, 10 -> 5 + 5) */
    int parts = (nb + KX_GMAX - 1) / KX_GMAX, g0 = nb / parts, big = nb % parts;
    const int *rgs = type == GGML_TYPE_Q8_0 ? kx_rg : kx_rg4;
    int rg = rgs[big ? g0 + 1 : g0], pf = kx_pf(type);
    for (int g = r0 / 16, gend = r1 / 16; g < gend;) {
        int take = gend - g >= rg ? rg : 1;
        const char *Pg = P + (size_t)g * gs;
        for (int q = 0, b0 = 0; q < parts; q++) {
            /* parts > 1 only when nb > 8, so every part has G >= 4
             * and the same rg: the parts share their groups */
            int G = q < big ? g0 + 1 : g0;
            kx_tile_fn f = take == rg ? main[G] : one[G];
            f(Pg, gs, n, X + (size_t)b0 * n, Y + (size_t)b0 * ldy + 16 * g, ldy, q ? 0 : pf);
            b0 += G;
        }
        g += take;
    }
}
#endif

void kern_x16_panel(int type, const void *P, int n, int r, float *panel, int ldp)
{
    pthread_once(&kx_once, kx_init);
    int uk = kx_unit_k(type), nu = n / uk;
    size_t ub = kx_unit_bytes(type);
    const char *u = kx_group(type, P, n, r);
#ifdef KX_X86
    if (kx_avx512) {
        /* the tiles' own decode, storing instead of multiplying */
        (type == GGML_TYPE_F16 ? kx_F16_panel : type == GGML_TYPE_Q8_0 ? kx_Q8_0_panel
         : type == GGML_TYPE_Q4_K ? kx_Q4_K_panel : kx_Q6_K_panel)(u, n, panel, ldp);
        return;
    }
#endif
    for (int j = 0; j < nu; j++, u += ub)
        for (int e = 0; e < uk; e++)
            for (int i = 0; i < 16; i++) panel[(size_t)(j * uk + e) * ldp + i] = kx_weight(type, u, e, i);
}

void kern_matmul_x16(int type, const void *P, int n, const float *X, int nb, float *Y, int ldy, int r0, int r1)
{
    pthread_once(&kx_once, kx_init);
    if (nb < 1 || r0 >= r1) return;
#ifdef KX_X86
    if (kx_avx512) {
        kx_matmul_avx512(type, P, n, X, nb, Y, ldy, r0, r1);
        return;
    }
#endif
    kern_matmul_x16_ref(type, P, n, X, nb, Y, ldy, r0, r1);
}
