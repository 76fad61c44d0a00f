/*
 * kernels_x16q.c - the X16 tiles for Q8_0, Q4_K and Q6_K with 16-bit
 * integer activations ("Q16"), on AVX-512 VNNI.
 *
 * Why. Batched decode and prompts are compute-bound, and with F32
 * activations every weight costs its conversion to float (two or three
 * instructions per 16) and one FMA per input and sequence. A quantised
 * weight is a small integer times a scale, so with the activations as
 * integers too one vpdpwssd does 32 products (two inputs of 16 rows),
 * twice an FMA's 16 at the same throughput, and the weights stay integers
 * (one or two instructions per 32). Measured on this Zen 5: see README.
 *
 * Activations. Each input row is quantised per block of 32 values:
 * d = max|x| / 32767, q = round(x * (32767 / max|x|)) (to nearest even),
 * stored as n int16, then n/32 floats d, then n/32 floats s = d * sum(q)
 * (kern_q16_row_bytes). The error is at most half a step, 1/65534 of the
 * block's largest value: llama.cpp rounds activations to 8 bits (Q8_0,
 * Q8_K), 256 times coarser, and F32 would be exact to 2^-24. The
 * products then compute dot(w, x~) for x~ = d * q.
 *
 * Numerics and batch invariance. Per (row, input) pair, whatever the
 * tile or batch: a float y, zeroed; for each block of weights sharing a
 * scale (Q8_0: 32 inputs, Q4_K: sub-blocks of 32, Q6_K: of 16) an exact
 * int32 sum acc of code x q over the block (it cannot overflow: at most
 * 32 x 63 x 32767 for Q4_K), then
 *   Q8_0  y = fma((float)acc, dw * d, y)
 *   Q4_K  y = fma((float)acc, (dw * sc) * d, y); y = fma(-(dmin * m), s, y)
 *   Q6_K  y = fma((float)acc, (dw * sc) * d, y)      (codes q6 - 32)
 * in ascending block order (dw * sc and dmin * m are exact in float). The
 * integer sums do not depend on the order of their products, so the tiles
 * and the portable path (kern_matmul_x16q_ref) agree bitwise, as does any
 * batch composition.
 */
#include "kernels.h"
#include "kernels_x16.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int kq_vnni = 0;
static pthread_once_t kq_once = PTHREAD_ONCE_INIT;

static void kq_init(void)
{
#ifdef KX_X86
    __builtin_cpu_init();
    kq_vnni = kx_has_avx512() && __builtin_cpu_supports("avx512vnni") && !getenv("QUARRY_F32_ACT");
#endif
}

int kern_x16q_available(int type)
{
    pthread_once(&kq_once, kq_init);
    return kq_vnni && (type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q6_K);
}

size_t kern_q16_row_bytes(int n) { return (size_t)n * 2 + (size_t)(n / 32) * 8; }

/* The block scales d of quantised row j (n / 32 floats; the sums s follow). */
static inline const float *kq_d(const char *XQ, size_t xs, int n, int j)
{
    return (const float *)(XQ + (size_t)j * xs + 2 * (size_t)n);
}

/* One block of 32: the codes, d and s. A block holding an infinity or a
 * NaN gives codes 0 and d = s = NaN, so the products come out NaN as they
 * would in float. */
static void q16_block_ref(const float *x, int16_t *q, float *d, float *s)
{
    float amax = 0.0f;
    int nan = 0;
    for (int i = 0; i < 32; i++) {
        amax = fmaxf(amax, fabsf(x[i]));
        nan |= x[i] != x[i];
    }
    if (nan || amax > FLT_MAX) {
        memset(q, 0, 32 * sizeof *q);
        *d = *s = NAN;
        return;
    }
    if (amax == 0.0f) {
        memset(q, 0, 32 * sizeof *q);
        *d = *s = 0.0f;
        return;
    }
    float id = 32767.0f / amax;
    int sum = 0;
    for (int i = 0; i < 32; i++) {
        q[i] = (int16_t)nearbyintf(x[i] * id);
        sum += q[i];
    }
    *d = amax / 32767.0f;
    *s = *d * (float)sum;
}

void kern_q16_quantize_ref(const float *X, int n, int nb, void *XQ)
{
    size_t rb = kern_q16_row_bytes(n);
    for (int j = 0; j < nb; j++) {
        char *row = (char *)XQ + (size_t)j * rb;
        int16_t *q = (int16_t *)row;
        float *d = (float *)(row + (size_t)n * 2), *s = d + n / 32;
        for (int b = 0; b < n / 32; b++) q16_block_ref(X + (size_t)j * n + 32 * b, q + 32 * b, d + b, s + b);
    }
}

/* Integer code of (row i, input e) of a unit: Q8_0 the int8, Q4_K the
 * nibble, Q6_K the 6-bit value - 32. */
static inline int kq_code(int type, const uint8_t *b, int e, int i)
{
    switch (type) {
    case GGML_TYPE_Q8_0: return (int8_t)b[KX_Q8_BYTE(e, i)];
    case GGML_TYPE_Q4_K: return kx_nib(b + KX_Q4K_HDR, e, i);
    default: return (kx_nib(b + KX_Q6K_QL, e, i) | kx_qh(b + KX_Q6K_QH, e, i) << 4) - 32;
    }
}

void kern_matmul_x16q_ref(int type, const void *P, int n, const void *XQ, int nb, float *Y, int ldy, int r0, int r1)
{
    int uk = kx_unit_k(type), nu = n / uk;
    size_t ub = kx_unit_bytes(type), rb = kern_q16_row_bytes(n);
    /* inputs per scale block */
    int bk = type == GGML_TYPE_Q6_K ? 16 : 32;
    for (int r = r0; r < r1; r++) {
        const char *g = kx_group(type, P, n, r);
        int i = r % 16;
        for (int j = 0; j < nb; j++) {
            const char *row = (const char *)XQ + (size_t)j * rb;
            const int16_t *q = (const int16_t *)row;
            const float *d = (const float *)(row + (size_t)n * 2), *s = d + n / 32;
            float y = 0.0f;
            const uint8_t *u = (const uint8_t *)g;
            for (int t = 0; t < nu; t++, u += ub)
                for (int sb = 0; sb < uk / bk; sb++) {
                    int acc = 0, k0 = t * uk + sb * bk;
                    for (int e = 0; e < bk; e++) acc += kq_code(type, u, sb * bk + e, i) * q[k0 + e];
                    float dw = kx_h((const char *)u + 2 * i), dx = d[k0 / 32];
                    if (type == GGML_TYPE_Q8_0) {
                        y = fmaf((float)acc, dw * dx, y);
                    } else if (type == GGML_TYPE_Q4_K) {
                        float A = dw * (float)u[64 + 16 * sb + i];
                        float M = kx_h((const char *)u + 32 + 2 * i) * (float)u[192 + 16 * sb + i];
                        y = fmaf((float)acc, A * dx, y);
                        y = fmaf(-M, s[k0 / 32], y);
                    } else {
                        float A = dw * (float)(int8_t)u[32 + 16 * sb + i];
                        y = fmaf((float)acc, A * dx, y);
                    }
                }
            Y[(size_t)j * ldy + r] = y;
        }
    }
}

#ifdef KX_X86
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma,f16c")))
#define KQ_GMAX 8

VNNI static void q16_quantize_avx512(const float *X, int n, int nb, void *XQ)
{
    size_t rb = kern_q16_row_bytes(n);
    for (int j = 0; j < nb; j++) {
        char *row = (char *)XQ + (size_t)j * rb;
        int16_t *q = (int16_t *)row;
        float *d = (float *)(row + (size_t)n * 2), *s = d + n / 32;
        const float *x = X + (size_t)j * n;
        for (int b = 0; b < n / 32; b++) {
            __m512 a = _mm512_loadu_ps(x + 32 * b), c = _mm512_loadu_ps(x + 32 * b + 16);
            __m512 m = _mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(c));
            float amax = _mm512_reduce_max_ps(m);
            /* max_ps drops NaNs unpredictably: the rare block with one
             * (or an infinity) takes the reference's path */
            if (!(amax <= FLT_MAX) || _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q) || _mm512_cmp_ps_mask(c, c, _CMP_UNORD_Q) ||
                amax == 0.0f) {
                q16_block_ref(x + 32 * b, q + 32 * b, d + b, s + b);
                continue;
            }
            __m512 id = _mm512_set1_ps(32767.0f / amax);
            __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, id)), qc = _mm512_cvtps_epi32(_mm512_mul_ps(c, id));
            _mm256_storeu_si256((__m256i *)(q + 32 * b), _mm512_cvtepi32_epi16(qa));
            _mm256_storeu_si256((__m256i *)(q + 32 * b + 16), _mm512_cvtepi32_epi16(qc));
            d[b] = amax / 32767.0f;
            s[b] = d[b] * (float)_mm512_reduce_add_epi32(_mm512_add_epi32(qa, qc));
        }
    }
}


/* Hand-allocated pair steps for the K-quants' 1x8 tile (one group, 8 inputs:
 * batch 8, the common decode batch). GCC gives that tile 8 vpdpwssd chains
 * (latency ~4.5 cycles at 2 per cycle wants 10+) and rotates them through
 * copies every iteration; asked for two sums per input it spilled. Here
 * the 16 sums (a: even pair steps, b: odd) stay in registers, each input's
 * code pair is broadcast by the vpdpwssd itself, and the weights decode as
 * in kq_tile. One asm statement per pair step (an asm takes at most 30
 * operands); GCC leaves the sums in place between them. x0, x3, x6: the
 * inputs 0, 3 and 6 at the block's first pair, xs bytes apart. Integer sums
 * do not depend on the order of their products: the same bits as the C
 * tiles and kern_matmul_x16q_ref (tested). */
#define KQA_X0 "(%[x0])"
#define KQA_X1 "(%[x0],%[xs],1)"
#define KQA_X2 "(%[x0],%[xs],2)"
#define KQA_X3 "(%[x3])"
#define KQA_X4 "(%[x0],%[xs],4)"
#define KQA_X5 "(%[x3],%[xs],2)"
#define KQA_X6 "(%[x6])"
#define KQA_X7 "(%[x6],%[xs],1)"
#define KQA_DP(off, X, S) "vpdpwssd " #off X "%{1to16%}, %[w], %[" S "]\n\t"
#define KQA_DP8(off)                                                                            \
    KQA_DP(off, KQA_X0, "s0") KQA_DP(off, KQA_X1, "s1") KQA_DP(off, KQA_X2, "s2")               \
    KQA_DP(off, KQA_X3, "s3") KQA_DP(off, KQA_X4, "s4") KQA_DP(off, KQA_X5, "s5")               \
    KQA_DP(off, KQA_X6, "s6") KQA_DP(off, KQA_X7, "s7")
#define KQA_SUMS(A)                                                                             \
    [s0] "+v"(A[0]), [s1] "+v"(A[1]), [s2] "+v"(A[2]), [s3] "+v"(A[3]), [s4] "+v"(A[4]),         \
    [s5] "+v"(A[5]), [s6] "+v"(A[6]), [s7] "+v"(A[7])
#define KQA_XIN [x0] "r"(x0), [x3] "r"(x3), [x6] "r"(x6), [xs] "r"(xs)

/* Q4_K: pair t of a chunk L (8 inputs, see KX_NIB_BYTE) is
 * (L >> 4t) & lo4 (LO: w = that); xoff: the pair's byte offset in the
 * inputs' rows */
#define KQA_Q4K(LO, xoff, A)                                                                    \
    __asm__(LO KQA_DP8(xoff)                                                                    \
            : KQA_SUMS(A), [w] "=&v"(w)                                                         \
            : [L] "v"(L), KQA_XIN, [lo4] "v"(lo4)                                               \
            : "memory")
#define KQA_LO0 "vpandd %[lo4], %[L], %[w]\n\t"
#define KQA_LO(n) "vpsrld $" #n ", %[L], %[w]\n\tvpandd %[lo4], %[w], %[w]\n\t"
#define KQA_Q4K_CHUNK(c, x)                                                                     \
    L = _mm512_loadu_si512(wq + 64 * (c));                                                      \
    KQA_Q4K(KQA_LO0, x, a); KQA_Q4K(KQA_LO(4), x + 4, b);                                       \
    KQA_Q4K(KQA_LO(8), x + 8, a); KQA_Q4K(KQA_LO(12), x + 12, b)

VNNI static inline void kqa_q4_k(const uint8_t *wq, const char *x0, size_t xs, __m512i lo4, __m512i a[8], __m512i b[8])
{
    __m512i w, L;
    const char *x3 = x0 + 3 * xs, *x6 = x0 + 6 * xs;
    KQA_Q4K_CHUNK(0, 0); KQA_Q4K_CHUNK(1, 16); KQA_Q4K_CHUNK(2, 32); KQA_Q4K_CHUNK(3, 48);
}

/* Q6_K pair t of a 16-block: the low nibbles from chunk L as Q4_K's (LO),
 * joined by the top bits from H (bits 2t, 16 + 2t) moved to bits 4 and 20
 * (HI: w |= that & hi2), less 32 */
#define KQA_Q6K(LO, HI, xoff, A)                                                                \
    __asm__(LO HI "vpsubw %[c32], %[w], %[w]\n\t" KQA_DP8(xoff)                                \
            : KQA_SUMS(A), [w] "=&v"(w), [v] "=&v"(v)                                           \
            : [L] "v"(L), [H] "v"(H), KQA_XIN, [lo4] "v"(lo4), [hi2] "v"(hi2), [c32] "v"(c32)   \
            : "memory")
#define KQA_HI0 "vpternlogd $0xf8, %[hi2], %[H], %[w]\n\t"   /* w | (H & hi2) */
#define KQA_HIL(n) "vpslld $" #n ", %[H], %[v]\n\tvpternlogd $0xf8, %[hi2], %[v], %[w]\n\t"
#define KQA_HIR(n) "vpsrld $" #n ", %[H], %[v]\n\tvpternlogd $0xf8, %[hi2], %[v], %[w]\n\t"

VNNI static inline void kqa_q6_k(const uint8_t *wl, const uint8_t *wh, const char *x0, size_t xs, __m512i lo4,
                                 __m512i hi2, __m512i a[8], __m512i b[8])
{
    __m512i w, v, L;
    const __m512i c32 = _mm512_set1_epi16(32), H = _mm512_loadu_si512(wh);
    const char *x3 = x0 + 3 * xs, *x6 = x0 + 6 * xs;
    L = _mm512_loadu_si512(wl);
    KQA_Q6K(KQA_LO0, KQA_HIL(4), 0, a); KQA_Q6K(KQA_LO(4), KQA_HIL(2), 4, b);
    KQA_Q6K(KQA_LO(8), KQA_HI0, 8, a); KQA_Q6K(KQA_LO(12), KQA_HIR(2), 12, b);
    L = _mm512_loadu_si512(wl + 64);
    KQA_Q6K(KQA_LO0, KQA_HIR(4), 16, a); KQA_Q6K(KQA_LO(4), KQA_HIR(6), 20, b);
    KQA_Q6K(KQA_LO(8), KQA_HIR(8), 24, a); KQA_Q6K(KQA_LO(12), KQA_HIR(10), 28, b);
}

/* Y[j * ldy + 16 * q + i] for the RG groups q from P (gs bytes apart) and
 * G inputs from XQ (xs bytes apart); pf as in kernels_x16.c. */
typedef void (*kq_tile_fn)(const char *P, size_t gs, int n, const char *XQ, size_t xs, float *Y, int ldy, int pf);

/* a[q][j] += w[q] . (x_j[k], x_j[k + 1]) for the tile: the inputs' code
 * pairs are broadcast from memory as one dword. The empty asm: see
 * KX_FMAS. */
#define KQ_DOTS(k)                                                                              \
    do {                                                                                        \
        __asm__ volatile("" ::: "memory");                                                      \
        if (G == 0) _mm512_store_si512(wp + 16 * ((k) - kbase), w[0]);                         \
        _Pragma("GCC unroll 8") for (int j = 0; j < G; j++) {                                   \
            int32_t pr;                                                                         \
            memcpy(&pr, XQ + (size_t)j * xs + 2 * (size_t)(k), 4);                              \
            __m512i xb = _mm512_set1_epi32(pr);                                                 \
            _Pragma("GCC unroll 8") for (int q = 0; q < RG; q++) a[q][j] = _mm512_dpwssd_epi32(a[q][j], w[q], xb); \
        }                                                                                       \
    } while (0)

/* y[q][j] = fma((float)a[q][j], S[q] * d_j[blk], y[q][j]), a zeroed */
#define KQ_FLUSH(blk)                                                                           \
    do {                                                                                        \
        if (G == 0) _mm512_store_ps(Sp + 16 * nflush++, S[0]);                                  \
        _Pragma("GCC unroll 8") for (int j = 0; j < G; j++) {                                   \
            __m512 dx = _mm512_set1_ps(kq_d(XQ, xs, n, j)[blk]);                               \
            _Pragma("GCC unroll 8") for (int q = 0; q < RG; q++) {                              \
                __m512i t_ = ASM ? _mm512_add_epi32(a[q][j], b[q][j]) : a[q][j];               \
                y[q][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t_), _mm512_mul_ps(S[q], dx), y[q][j]); \
                a[q][j] = _mm512_setzero_si512();                                               \
                if (ASM) b[q][j] = _mm512_setzero_si512();                                      \
            }                                                                                   \
        }                                                                                       \
    } while (0)

/* The tiles: RG groups x G inputs, over units [u0, u1) (all of them but
 * for the panels). G == 0 decodes one group's units into a panel instead
 * (kq_panel): the weight vectors at wp, the scales at Sp and Q4_K's mins
 * at Mp, in the order the tiles use them. */
VNNI INLINE void kq_tile(int type, int RG, int G, const char *P, size_t gs, int n, const char *XQ, size_t xs,
                         float *Y, int ldy, int pf, int u0, int u1, int16_t *wp, float *Sp, float *Mp)
{
    int nflush = 0;   /* panels: scale blocks stored so far */
    __m512 y[8][KQ_GMAX];
    __m512i a[8][KQ_GMAX], b[8][KQ_GMAX];
    /* the K-quants' 1x8 tile: pair steps in asm, with a second set of sums
     * b (Q8_0's measured no faster: its C tile is not short of chains) */
    const int ASM = RG == 1 && G == 8 && type != GGML_TYPE_Q8_0;
#pragma GCC unroll 8
    for (int q = 0; q < RG; q++)
#pragma GCC unroll 8
        for (int j = 0; j < G; j++) {
            y[q][j] = _mm512_setzero_ps();
            a[q][j] = _mm512_setzero_si512();
            if (ASM) b[q][j] = _mm512_setzero_si512();
        }
    const int uk = type == GGML_TYPE_Q8_0 ? 32 : QK_K;
    const size_t ub = type == GGML_TYPE_Q8_0 ? KX_Q8_BYTES : type == GGML_TYPE_Q4_K ? KX_Q4K_BYTES : KX_Q6K_BYTES;
    const int nu = n / uk, kbase = u0 * uk;
    (void)kbase; (void)nflush;
    const __m512i lo4 = _mm512_set1_epi32(0x000F000F), hi2 = _mm512_set1_epi32(0x00300030);
    for (int u = u0; u < u1; u++) {
        const uint8_t *p[8];
        const int k0 = u * uk;
#pragma GCC unroll 8
        for (int q = 0; q < RG; q++) p[q] = (const uint8_t *)P + (size_t)q * gs + (size_t)u * ub;
        if (type == GGML_TYPE_Q8_0) {
            KX_PREFETCH(0, (KX_Q8_BYTES + 63) / 64);
#pragma GCC unroll 2
            for (int c = 0; c < 8; c++) {   /* chunk c: inputs 4c .. 4c + 3 (KX_Q8_BYTE) */
                __m512i v[8], w[8];
#pragma GCC unroll 8
                for (int q = 0; q < RG; q++) {
                    v[q] = _mm512_loadu_si512(p[q] + 32 + 64 * c);
                    w[q] = _mm512_srai_epi16(_mm512_slli_epi16(v[q], 8), 8);
                }
                KQ_DOTS(k0 + 4 * c);
#pragma GCC unroll 8
                for (int q = 0; q < RG; q++) w[q] = _mm512_srai_epi16(v[q], 8);
                KQ_DOTS(k0 + 4 * c + 2);
            }
            __m512 S[8];
#pragma GCC unroll 8
            for (int q = 0; q < RG; q++) S[q] = kx_cvt_f16(p[q]);
            KQ_FLUSH(u);
        } else if (type == GGML_TYPE_Q4_K) {
            for (int sb = 0; sb < 8; sb++) {
                KX_PREFETCH(sb, 5);
                if (ASM) kqa_q4_k(p[0] + KX_Q4K_HDR + 256 * sb, XQ + 2 * (size_t)(k0 + 32 * sb), xs, lo4, a[0], b[0]);
                else
                for (int c = 0; c < 4; c++) {   /* chunk 4 sb + c: inputs 32 sb + 8 c .. + 7 */
                    __m512i v[8];
#pragma GCC unroll 8
                    for (int q = 0; q < RG; q++) v[q] = _mm512_loadu_si512(p[q] + KX_Q4K_HDR + 64 * (4 * sb + c));
#pragma GCC unroll 4
                    for (int t = 0; t < 4; t++) {
                        __m512i w[8];
#pragma GCC unroll 8
                        for (int q = 0; q < RG; q++) w[q] = _mm512_and_si512(kx_shift(v[q], 4 * t), lo4);
                        KQ_DOTS(k0 + 32 * sb + 8 * c + 2 * t);
                    }
                }
                __m512 S[8];
#pragma GCC unroll 8
                for (int q = 0; q < RG; q++) S[q] = _mm512_mul_ps(kx_cvt_f16(p[q]), kx_cvt_u8(p[q] + 64 + 16 * sb));
                KQ_FLUSH(u * 8 + sb);
#pragma GCC unroll 8
                for (int q = 0; q < RG; q++) {
                    __m512 M = _mm512_mul_ps(kx_cvt_f16(p[q] + 32), kx_cvt_u8(p[q] + 192 + 16 * sb));
                    if (G == 0) _mm512_store_ps(Mp + 16 * (nflush - 1), M);   /* its sub-block's flush is done */
#pragma GCC unroll 8
                    for (int j = 0; j < G; j++) {
                        const float *sj = kq_d(XQ, xs, n, j) + n / 32;
                        y[q][j] = _mm512_fnmadd_ps(M, _mm512_set1_ps(sj[u * 8 + sb]), y[q][j]);
                    }
                }
            }
        } else { /* Q6_K */
            for (int sb = 0; sb < 16; sb++) {
                KX_PREFETCH(sb, 4);
                if (ASM)
                    kqa_q6_k(p[0] + KX_Q6K_QL + 128 * sb, p[0] + KX_Q6K_QH + 64 * sb, XQ + 2 * (size_t)(k0 + 16 * sb), xs,
                             lo4, hi2, a[0], b[0]);
                else {
                    /* the block's top bits: pair t's at bits 2t and 16 + 2t,
                     * shifted to 4 and 20 to join its low nibbles */
                    __m512i h[8];
#pragma GCC unroll 8
                    for (int q = 0; q < RG; q++) h[q] = _mm512_loadu_si512(p[q] + KX_Q6K_QH + 64 * sb);
#pragma GCC unroll 2
                    for (int c = 0; c < 2; c++) {   /* chunk 2 sb + c: inputs 16 sb + 8 c .. + 7 */
                        __m512i l[8];
#pragma GCC unroll 8
                        for (int q = 0; q < RG; q++) l[q] = _mm512_loadu_si512(p[q] + KX_Q6K_QL + 64 * (2 * sb + c));
#pragma GCC unroll 4
                        for (int t = 0; t < 4; t++) {
                            const int pt = 4 * c + t;   /* pair of the block */
                            __m512i w[8];
#pragma GCC unroll 8
                            for (int q = 0; q < RG; q++) {
                                __m512i lo = _mm512_and_si512(kx_shift(l[q], 4 * t), lo4);
                                w[q] = _mm512_sub_epi16(_mm512_ternarylogic_epi32(lo, kx_shift(h[q], 2 * pt - 4), hi2, 0xF8),   /* A | (B & C) */
                                                        _mm512_set1_epi16(32));
                            }
                            KQ_DOTS(k0 + 16 * sb + 2 * pt);
                        }
                    }
                }
                __m512 S[8];
#pragma GCC unroll 8
                for (int q = 0; q < RG; q++) S[q] = _mm512_mul_ps(kx_cvt_f16(p[q]), kx_cvt_s8(p[q] + 32 + 16 * sb));
                KQ_FLUSH((u * 16 + sb) / 2);
            }
        }
    }
#pragma GCC unroll 8
    for (int q = 0; q < RG; q++)
#pragma GCC unroll 8
        for (int j = 0; j < G; j++) _mm512_storeu_ps(Y + (size_t)j * ldy + 16 * q, y[q][j]);
}

#define KQ_T(TY, RG, G)                                                                                   \
    VNNI static void kq_##TY##_##RG##x##G(const char *P, size_t gs, int n, const char *XQ, size_t xs, float *Y, \
                                          int ldy, int pf)                                                \
    {                                                                                                     \
        kq_tile(GGML_TYPE_##TY, RG, G, P, gs, n, XQ, xs, Y, ldy, pf, 0, n / kx_unit_k(GGML_TYPE_##TY), NULL, NULL, \
                NULL);                                                                                    \
    }
/* RG * G int32 sums + as many float results + RG weights <= 32
 * registers, and >= 8 independent vpdpwssd chains where the batch allows */
#define KQ_SET(TY, RG1)                                                                                   \
    KQ_T(TY, RG1, 1) KQ_T(TY, 4, 2) KQ_T(TY, 2, 3) KQ_T(TY, 2, 4) KQ_T(TY, 2, 5) KQ_T(TY, 1, 6) KQ_T(TY, 1, 7) \
    KQ_T(TY, 1, 8) KQ_T(TY, 1, 1) KQ_T(TY, 1, 2) KQ_T(TY, 1, 3) KQ_T(TY, 1, 4) KQ_T(TY, 1, 5)               \
    VNNI static void kq_##TY##_panel(const char *P, int n, int u0, int u1, int16_t *wp, float *Sp, float *Mp) \
    {                                                                                                     \
        kq_tile(GGML_TYPE_##TY, 1, 0, P, 0, n, NULL, 0, NULL, 0, 1, u0, u1, wp, Sp, Mp);                  \
    }                                                                                                     \
    static const kq_tile_fn kq_main_##TY[KQ_GMAX + 1] = { NULL, kq_##TY##_##RG1##x1, kq_##TY##_4x2, kq_##TY##_2x3, \
        kq_##TY##_2x4, kq_##TY##_2x5, kq_##TY##_1x6, kq_##TY##_1x7, kq_##TY##_1x8 };                        \
    static const kq_tile_fn kq_one_##TY[KQ_GMAX + 1] = { NULL, kq_##TY##_1x1, kq_##TY##_1x2, kq_##TY##_1x3, \
        kq_##TY##_1x4, kq_##TY##_1x5, kq_##TY##_1x6, kq_##TY##_1x7, kq_##TY##_1x8 };

KQ_SET(Q8_0, 8)
KQ_SET(Q4_K, 4)
KQ_SET(Q6_K, 4)

static const int kq_rg8[KQ_GMAX + 1] = { 0, 8, 4, 2, 2, 2, 1, 1, 1 };
static const int kq_rg4[KQ_GMAX + 1] = { 0, 4, 4, 2, 2, 2, 1, 1, 1 };

/* Prompts: a group's weights decoded once into a panel (KQ_PANEL_K inputs
 * at a time: 32 KiB of weight vectors, in L1) serve every part of up to
 * KQ_PG inputs, whose tiles then only load, broadcast and multiply. Same
 * operations per (row, input) pair as the tiles (the results between
 * panels wait in Y), so the same bits. */
#define KQ_PANEL_K 1024
#define KQ_PG 8
#define KQ_PANEL_MIN 16

typedef void (*kq_ptile_fn)(const int16_t *wp, const float *Sp, const float *Mp, int kb, int kc, int n,
                            const char *XQ, size_t xs, float *Y, int ldy, int first);

/* bk: inputs per scale block (16, 32); mins: Q4_K. Up to 8 inputs: with
 * more (sums in registers, results in Y) GCC spilled and shuffled
 * registers, and ran at half the speed. */
VNNI INLINE void kq_ptile(int G, int bk, int mins, const int16_t *wp, const float *Sp, const float *Mp, int kb,
                          int kc, int n, const char *XQ, size_t xs, float *Y, int ldy, int first)
{
    __m512 y[KQ_PG];
    __m512i a[KQ_PG];
#pragma GCC unroll 8
    for (int j = 0; j < G; j++) {
        y[j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(Y + (size_t)j * ldy);
        a[j] = _mm512_setzero_si512();
    }
    for (int blk = 0; blk < kc / bk; blk++) {
        const int k0 = kb + blk * bk;
#pragma GCC unroll 8
        for (int t = 0; t < bk / 2; t++) {
            __asm__ volatile("" ::: "memory");
            __m512i w = _mm512_load_si512(wp + 32 * (blk * bk / 2 + t));
#pragma GCC unroll 8
            for (int j = 0; j < G; j++) {
                int32_t pr;
                memcpy(&pr, XQ + (size_t)j * xs + 2 * (size_t)(k0 + 2 * t), 4);
                a[j] = _mm512_dpwssd_epi32(a[j], w, _mm512_set1_epi32(pr));
            }
        }
        __m512 S = _mm512_load_ps(Sp + 16 * blk);
#pragma GCC unroll 8
        for (int j = 0; j < G; j++) {
            const float *dj = kq_d(XQ, xs, n, j);
            y[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[j]), _mm512_mul_ps(S, _mm512_set1_ps(dj[k0 / 32])), y[j]);
            a[j] = _mm512_setzero_si512();
        }
        if (mins) {
            __m512 M = _mm512_load_ps(Mp + 16 * blk);
#pragma GCC unroll 8
            for (int j = 0; j < G; j++) {
                const float *dj = kq_d(XQ, xs, n, j);
                y[j] = _mm512_fnmadd_ps(M, _mm512_set1_ps(dj[n / 32 + k0 / 32]), y[j]);
            }
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < G; j++) _mm512_storeu_ps(Y + (size_t)j * ldy, y[j]);
}

#define KQ_PT(NAME, BK, MINS, G)                                                                          \
    VNNI static void kq_pt_##NAME##_##G(const int16_t *wp, const float *Sp, const float *Mp, int kb, int kc, int n, \
                                        const char *XQ, size_t xs, float *Y, int ldy, int first)          \
    {                                                                                                     \
        kq_ptile(G, BK, MINS, wp, Sp, Mp, kb, kc, n, XQ, xs, Y, ldy, first);                              \
    }
#define KQ_PSET(NAME, BK, MINS)                                                                           \
    KQ_PT(NAME, BK, MINS, 1) KQ_PT(NAME, BK, MINS, 2) KQ_PT(NAME, BK, MINS, 3) KQ_PT(NAME, BK, MINS, 4)     \
    KQ_PT(NAME, BK, MINS, 5) KQ_PT(NAME, BK, MINS, 6) KQ_PT(NAME, BK, MINS, 7) KQ_PT(NAME, BK, MINS, 8)     \
    static const kq_ptile_fn kq_pt_##NAME[KQ_PG + 1] = { NULL, kq_pt_##NAME##_1, kq_pt_##NAME##_2,          \
        kq_pt_##NAME##_3, kq_pt_##NAME##_4, kq_pt_##NAME##_5, kq_pt_##NAME##_6, kq_pt_##NAME##_7,          \
        kq_pt_##NAME##_8 };

KQ_PSET(b32, 32, 0)   /* Q8_0 */
KQ_PSET(m32, 32, 1)   /* Q4_K */
KQ_PSET(b16, 16, 0)   /* Q6_K */

static void kq_matmul_panel(int type, const char *P, int n, const char *XQ, int nb, float *Y, int ldy, int r0,
                            int r1)
{
    _Alignas(64) int16_t wp[16 * KQ_PANEL_K];
    _Alignas(64) float Sp[16 * (KQ_PANEL_K / 16)], Mp[16 * (KQ_PANEL_K / 32)];
    void (*panel)(const char *, int, int, int, int16_t *, float *, float *) =
        type == GGML_TYPE_Q8_0 ? kq_Q8_0_panel : type == GGML_TYPE_Q4_K ? kq_Q4_K_panel : kq_Q6_K_panel;
    const kq_ptile_fn *pt = type == GGML_TYPE_Q8_0 ? kq_pt_b32 : type == GGML_TYPE_Q4_K ? kq_pt_m32 : kq_pt_b16;
    size_t gs = kern_x16_size(type, n, 16), xs = kern_q16_row_bytes(n);
    int uk = kx_unit_k(type);
    int parts = (nb + KQ_PG - 1) / KQ_PG, g0 = nb / parts, big = nb % parts;
    for (int g = r0 / 16; g < r1 / 16; g++)
        for (int kb = 0; kb < n; kb += KQ_PANEL_K) {
            int kc = n - kb < KQ_PANEL_K ? n - kb : KQ_PANEL_K;
            panel(P + (size_t)g * gs, n, kb / uk, (kb + kc) / uk, wp, Sp, Mp);
            for (int q = 0, b0 = 0; q < parts; q++) {
                int G = q < big ? g0 + 1 : g0;
                pt[G](wp, Sp, Mp, kb, kc, n, XQ + (size_t)b0 * xs, xs, Y + (size_t)b0 * ldy + 16 * g, ldy, kb == 0);
                b0 += G;
            }
        }
}

static void kq_matmul_avx512(int type, const char *P, int n, const char *XQ, int nb, float *Y, int ldy, int r0, int r1)
{
    const kq_tile_fn *main = type == GGML_TYPE_Q8_0 ? kq_main_Q8_0 : type == GGML_TYPE_Q4_K ? kq_main_Q4_K : kq_main_Q6_K;
    const kq_tile_fn *one = type == GGML_TYPE_Q8_0 ? kq_one_Q8_0 : type == GGML_TYPE_Q4_K ? kq_one_Q4_K : kq_one_Q6_K;
    size_t gs = kern_x16_size(type, n, 16), xs = kern_q16_row_bytes(n);
    int parts = (nb + KQ_GMAX - 1) / KQ_GMAX, g0 = nb / parts, big = nb % parts;
    const int *rgs = type == GGML_TYPE_Q8_0 ? kq_rg8 : kq_rg4;
    /* several parts (nb > 8) take one group at a time, sharing it. pf:
     * units prefetched ahead in each group's stream; Q8_0's batch 8 draws
     * ~20 GB/s per core and ran 7-11% faster 8 units (4.3 KiB) ahead than
     * 4 (2 was 20% slower, 16 no better); the K-quants' 1 unit is 2.3-3.3
     * KiB, and 2 or 3 measured the same */
    int rg = parts > 1 ? 1 : rgs[nb], pf = type == GGML_TYPE_Q8_0 ? 8 : 1;
    for (int g = r0 / 16, gend = r1 / 16; g < gend;) {
        int take = gend - g >= rg ? rg : 1;
        const char *Pg = P + (size_t)g * gs;
        for (int q = 0, b0 = 0; q < parts; q++) {
            int G = q < big ? g0 + 1 : g0;
            kq_tile_fn f = take == rg && parts == 1 ? main[G] : one[G];
            f(Pg, gs, n, XQ + (size_t)b0 * xs, xs, Y + (size_t)b0 * ldy + 16 * g, ldy, q ? 0 : pf);
            b0 += G;
        }
        g += take;
    }
}
#endif

void kern_q16_quantize(const float *X, int n, int nb, void *XQ)
{
#ifdef KX_X86
    pthread_once(&kq_once, kq_init);
    if (kq_vnni) {
        q16_quantize_avx512(X, n, nb, XQ);
        return;
    }
#endif
    kern_q16_quantize_ref(X, n, nb, XQ);
}

void kern_matmul_x16q(int type, const void *P, int n, const void *XQ, int nb, float *Y, int ldy, int r0, int r1)
{
    pthread_once(&kq_once, kq_init);
    if (nb < 1 || r0 >= r1) return;
#ifdef KX_X86
    if (kq_vnni) {
        if (nb >= KQ_PANEL_MIN) kq_matmul_panel(type, P, n, XQ, nb, Y, ldy, r0, r1);
        else kq_matmul_avx512(type, P, n, XQ, nb, Y, ldy, r0, r1);
        return;
    }
#endif
    kern_matmul_x16q_ref(type, P, n, XQ, nb, Y, ldy, r0, r1);
}
