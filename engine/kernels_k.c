/*
 * kernels_k.c - Q4_K / Q6_K weight rows (see quant.h for the block
 * layouts) against F32 activations: a double-precision reference, the
 * single-vector dot products behind kern_dot, and the matrix kernel behind
 * kern_matmul_rows (kern_matmul_rows_kq), in portable C, AVX2 and AVX-512.
 *
 * Activations stay F32 (llama.cpp rounds them to Q8_K first), so each
 * weight is decoded to a float and multiplied in float. Decode reads every
 * weight once per token and, on 2 cores, decoding is the limit rather than
 * memory: the kernels spend their effort on decoding few instructions per
 * weight.
 *
 * kern_matmul_rows_kq works on tiles of R rows x B inputs (B = 1 for
 * single-sequence decode, up to 8 at a time for batched decode and small
 * prefill chunks): each block of each row is decoded once into registers
 * and applied to the B inputs from there, and the R rows give the
 * out-of-order core R independent chains of multiply-adds (one row alone
 * waits on the FMA latency). The result of a (row, input) pair must not
 * depend on the tile shape, on the other inputs or on where the row range
 * starts (batch invariance, kernels.h): every tile shape runs the same
 * per-pair code, i.e. one accumulator per pair, the same decode, the same
 * order over k and the same final reduction; only how many pairs run side
 * by side changes. A row range that is not a multiple of R reuses the full
 * tile with its last row repeated, so no narrower code exists to drift
 * apart; inputs go in groups of 4, 3, 2 and 1 (AVX2: 8 too), all the same code.
 *
 * Measured on one Zen 5 core (tests/bench/kq_bench.c, weights streamed from
 * L3, the other core busy) the AVX-512 tiles decode Q4_K at 30-35
 * Gweights/s and Q6_K at 21 for one input, against 20-25 and 18 for the
 * single-vector dot kernels, and reach 100-135 GFLOP/s from 4 inputs on.
 * At these rates two cores read about as many bytes as memory delivers.
 */
#include "kernels_k.h"
#include "gguf.h"
#include "quant.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KERNK_X86 1
#endif

#define UNROLL _Pragma("GCC unroll 16")
#define INLINE static inline __attribute__((always_inline))

/* Q4_K's 12 scale bytes as four words: sc[0..3], sc[4..7], m[0..3],
 * m[4..7], one byte each (the same unpacking as qe_q4_K_scales, done a
 * word at a time: the top 2 bits of sub-blocks 4..7 sit in the spare top
 * bits of bytes 0..7). */
static inline void q4_K_scale_words(const uint8_t *p, uint32_t w[4])
{
    uint32_t a, b, c;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    memcpy(&c, p + 8, 4);
    w[0] = a & 0x3f3f3f3fu;
    w[1] = (c & 0x0f0f0f0fu) | (((a >> 6) & 0x03030303u) << 4);
    w[2] = b & 0x3f3f3f3fu;
    w[3] = ((c >> 4) & 0x0f0f0f0fu) | (((b >> 6) & 0x03030303u) << 4);
}

/* ------------------------------------------------------------- references */

/* The definitions, term by term: w = (d*sc) q - (dmin*m) with the two
 * products rounded to float as the format specifies, the rest in double. */
double kern_dot_q4_K_ref(const void *row, const float *x, int n)
{
    const block_q4_K *b = row;
    double acc = 0.0;
    for (int i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], m[8];
        qe_q4_K_scales(b[i].scales, sc, m);
        float d = qe_fp16_to_f32(b[i].d), dmin = qe_fp16_to_f32(b[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            int j = e / 32, c = e / 64, l = e % 32;
            int q = j % 2 ? b[i].qs[32 * c + l] >> 4 : b[i].qs[32 * c + l] & 0xf;
            double w = (double)(d * (float)sc[j]) * q - (double)(dmin * (float)m[j]);
            acc += w * x[i * QK_K + e];
        }
    }
    return acc;
}

double kern_dot_q6_K_ref(const void *row, const float *x, int n)
{
    const block_q6_K *b = row;
    double acc = 0.0;
    for (int i = 0; i < n / QK_K; i++) {
        float d = qe_fp16_to_f32(b[i].d);
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, r = e % 128, l = r % 32, part = r / 32;
            /* part 0: ql[l] low, 1: ql[l+32] low, 2: ql[l] high, 3: ql[l+32] high */
            uint8_t lo = b[i].ql[64 * h + l + 32 * (part & 1)];
            int q = ((part < 2 ? lo & 0xf : lo >> 4) | (((b[i].qh[32 * h + l] >> (2 * part)) & 3) << 4)) - 32;
            acc += (double)(d * (float)b[i].scales[e / 16]) * q * x[i * QK_K + e];
        }
    }
    return acc;
}

/* --------------------------------------------------------- portable paths */

/* Per sub-block: sum(q x) and sum(x), then scale and min once, which is
 * both fewer operations and what a compiler can vectorise. */
float kern_dot_q4_K_c(const void *row, const float *x, int n)
{
    const block_q4_K *b = row;
    float acc = 0.0f;
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        uint8_t sc[8], m[8];
        qe_q4_K_scales(b[i].scales, sc, m);
        float d = qe_fp16_to_f32(b[i].d), dmin = qe_fp16_to_f32(b[i].dmin);
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b[i].qs + 32 * c;
            const float *xl = x + 64 * c, *xh = xl + 32;
            float sl = 0, sh = 0, xsl = 0, xsh = 0;
            for (int l = 0; l < 32; l++) {
                sl += (float)(q[l] & 0xf) * xl[l];
                sh += (float)(q[l] >> 4) * xh[l];
                xsl += xl[l];
                xsh += xh[l];
            }
            acc += d * (float)sc[2 * c] * sl - dmin * (float)m[2 * c] * xsl;
            acc += d * (float)sc[2 * c + 1] * sh - dmin * (float)m[2 * c + 1] * xsh;
        }
    }
    return acc;
}

float kern_dot_q6_K_c(const void *row, const float *x, int n)
{
    const block_q6_K *b = row;
    float acc = 0.0f;
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        float d = qe_fp16_to_f32(b[i].d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const float *xx = x + 128 * h;
            const int8_t *sc = b[i].scales + 8 * h;
            for (int g = 0; g < 2; g++) { /* l in [16g, 16g + 16): one scale per quarter */
                float s[4] = {0};
                for (int l = 16 * g; l < 16 * g + 16; l++) {
                    s[0] += (float)(((ql[l] & 0xf) | ((qh[l] & 3) << 4)) - 32) * xx[l];
                    s[1] += (float)(((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32) * xx[l + 32];
                    s[2] += (float)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * xx[l + 64];
                    s[3] += (float)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * xx[l + 96];
                }
                for (int k = 0; k < 4; k++) acc += d * (float)sc[g + 2 * k] * s[k];
            }
        }
    }
    return acc;
}

void kern_deq_q4_K_c(const void *blk, float *y) { qe_dequantize_q4_K(blk, y, QK_K); }
void kern_deq_q6_K_c(const void *blk, float *y) { qe_dequantize_q6_K(blk, y, QK_K); }

/* acc[b] += dot(w, X[b]) over len floats (a multiple of 32), for nb inputs
 * ldx floats apart. */
void kern_rows_f32_c(const float *w, const float *X, int len, int ldx, int nb, float *acc)
{
    for (int b = 0; b < nb; b++) {
        const float *x = X + (size_t)b * ldx;
        float s[8] = {0};
        for (int i = 0; i < len; i += 8)
            for (int k = 0; k < 8; k++) s[k] += w[i + k] * x[i + k];
        acc[b] += s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    }
}

/* Portable kern_matmul_rows: dequantize KQ_CHUNK weights of a row into an
 * L1-resident buffer once, then run every input over it. The chunking is
 * fixed, so each pair's sum is formed the same way whatever nb is. */
#define KQ_CHUNK (8 * QK_K)
#define KQ_MAX_NB 64

void kern_matmul_rows_kq_c(int type, const void *W, size_t row_bytes, int n, const float *X, int nb,
                           float *Y, int ldy, int r0, int r1)
{
    void (*deq)(const void *, float *) = type == GGML_TYPE_Q4_K ? kern_deq_q4_K_c : kern_deq_q6_K_c;
    size_t bs = type == GGML_TYPE_Q4_K ? sizeof(block_q4_K) : sizeof(block_q6_K);
    float w[KQ_CHUNK];
    float acc[KQ_MAX_NB];
    for (int r = r0; r < r1; r++) {
        const char *row = (const char *)W + (size_t)r * row_bytes;
        for (int b0 = 0; b0 < nb; b0 += KQ_MAX_NB) {
            int m = nb - b0 < KQ_MAX_NB ? nb - b0 : KQ_MAX_NB;
            memset(acc, 0, sizeof acc);
            for (int i0 = 0; i0 < n; i0 += KQ_CHUNK) {
                int len = n - i0 < KQ_CHUNK ? n - i0 : KQ_CHUNK;
                for (int k = 0; k < len / QK_K; k++) deq(row + (size_t)(i0 / QK_K + k) * bs, w + k * QK_K);
                kern_rows_f32_c(w, X + (size_t)b0 * n + i0, len, n, m, acc);
            }
            for (int b = 0; b < m; b++) Y[(size_t)(b0 + b) * ldy + r] = acc[b];
        }
    }
}

/* ------------------------------------------------------- tiles: the driver */

/* A tile kernel: out[j * B + b] = dot(row j, x[b]) for its R rows and B
 * inputs, rows of nblk blocks. */
typedef void (*kq_tile_fn)(const uint8_t *const *row, int nblk, const float *const *x, float *out);

#define KQ_RMAX 8
#define KQ_BMAX 8
#define KQ_NG 5
/* Inputs per pass over the rows: their activations (32 * n floats) stay in
 * L2 while every row tile is applied to them. Only deterministic-mode
 * prefill passes more than 32 inputs, and then re-reads the weights. */
#define KQ_SUPER 32

/* The tiles of one type and instruction set: tile[g] takes rows[g] rows and
 * width[g] inputs, widths descending and ending in 1. A pass of rt rows
 * (a multiple of every rows[g]) runs every input group, so the rows' weights
 * come from L1 for all groups after the first. */
typedef struct {
    int rt;
    int width[KQ_NG], rows[KQ_NG];
    kq_tile_fn tile[KQ_NG];
} kq_tiles;

static void kq_run(const kq_tiles *k, const void *W, size_t row_bytes, int n, const float *X, int nb,
                   float *Y, int ldy, int r0, int r1)
{
    const char *base = W;
    for (int s0 = 0; s0 < nb; s0 += KQ_SUPER) {
        int s1 = nb - s0 < KQ_SUPER ? nb : s0 + KQ_SUPER;
        for (int t0 = r0; t0 < r1; t0 += k->rt) {
            int t1 = r1 - t0 < k->rt ? r1 : t0 + k->rt;
            for (int b0 = s0; b0 < s1;) {
                int g = 0;
                while (k->width[g] > s1 - b0) g++;
                int B = k->width[g], R = k->rows[g];
                const float *x[KQ_BMAX];
                for (int b = 0; b < B; b++) x[b] = X + (size_t)(b0 + b) * n;
                for (int r = t0; r < t1; r += R) {
                    /* rows past t1 repeat the last one: same code, same bits */
                    const uint8_t *row[KQ_RMAX];
                    float out[KQ_RMAX * KQ_BMAX];
                    for (int j = 0; j < R; j++)
                        row[j] = (const uint8_t *)base + (size_t)(r + j < t1 ? r + j : t1 - 1) * row_bytes;
                    k->tile[g](row, n / QK_K, x, out);
                    for (int j = 0; j < R && r + j < t1; j++)
                        for (int b = 0; b < B; b++) Y[(size_t)(b0 + b) * ldy + r + j] = out[j * B + b];
                }
                b0 += B;
            }
        }
    }
}

/* Defines the tile kernel NAME_RxB from the generic body BODY, inlined so
 * that R and B are constants, the loops over them unrolled and the
 * accumulators registers. */
#define KQ_TILE(ATTR, NAME, BODY, R, B) \
    ATTR static void NAME##_##R##x##B(const uint8_t *const *row, int nblk, const float *const *x, float *out) \
    { BODY(row, nblk, x, out, R, B); }

#ifdef KERNK_X86
/* --------------------------------------------------------------- AVX2 path */

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum256k(__m256 v)
{
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* d*sc[0..7] and dmin*m[0..7] of one Q4_K block into ds[0..15]. */
AVX2 static inline void q4_K_scales_avx2(const block_q4_K *b, float *ds)
{
    uint32_t w[4];
    q4_K_scale_words(b->scales, w);
    __m128i v = _mm_loadu_si128((const __m128i *)w);
    __m256 s = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v));
    __m256 m = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(v, v)));
    _mm256_storeu_ps(ds, _mm256_mul_ps(s, _mm256_set1_ps(_cvtsh_ss(b->d))));
    _mm256_storeu_ps(ds + 8, _mm256_mul_ps(m, _mm256_set1_ps(_cvtsh_ss(b->dmin))));
}

/* w = (d*sc) q - dmin*m for 8 codes, then fma with x: AVX2's vpermps has
 * only 8 entries, so the codes go through int -> float instead. */
AVX2 float kern_dot_q4_K_avx2(const void *row, const float *x, int n)
{
    const block_q4_K *b = row;
    const __m256i low4 = _mm256_set1_epi32(0xf);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float ds[16];
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        q4_K_scales_avx2(&b[i], ds);
        for (int c = 0; c < 4; c++) {
            __m256 sl = _mm256_set1_ps(ds[2 * c]), ml = _mm256_set1_ps(ds[8 + 2 * c]);
            __m256 sh = _mm256_set1_ps(ds[2 * c + 1]), mh = _mm256_set1_ps(ds[8 + 2 * c + 1]);
            const uint8_t *q = b[i].qs + 32 * c;
            const float *xl = x + 64 * c;
            for (int k = 0; k < 32; k += 8) {
                __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(q + k)));
                __m256 wl = _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, low4)), sl, ml);
                __m256 wh = _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v, 4)), sh, mh);
                acc0 = _mm256_fmadd_ps(wl, _mm256_loadu_ps(xl + k), acc0);
                acc1 = _mm256_fmadd_ps(wh, _mm256_loadu_ps(xl + 32 + k), acc1);
            }
        }
    }
    return hsum256k(_mm256_add_ps(acc0, acc1));
}

/* d*sc[k] and -32*d*sc[k] of one Q6_K block: w = q * ds + nds folds the
 * -32 offset into the one multiply-add that applies the scale. */
AVX2 static inline void q6_K_scales_avx2(const block_q6_K *b, float *ds, float *nds)
{
    __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d)), m32 = _mm256_set1_ps(-32.0f);
    for (int k = 0; k < 16; k += 8) {
        __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->scales + k)))), d);
        _mm256_storeu_ps(ds + k, s);
        _mm256_storeu_ps(nds + k, _mm256_mul_ps(s, m32));
    }
}

AVX2 float kern_dot_q6_K_avx2(const void *row, const float *x, int n)
{
    const block_q6_K *b = row;
    const __m256i low4 = _mm256_set1_epi32(0xf), bits45 = _mm256_set1_epi32(0x30);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float ds[16], nds[16];
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        q6_K_scales_avx2(&b[i], ds, nds);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const float *xx = x + 128 * h;
            for (int l = 0; l < 32; l += 8) {
                int k = 8 * h + l / 16; /* scale of element l; +2 per 32 elements */
                __m256i a = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(ql + l)));
                __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(ql + l + 32)));
                __m256i hb = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qh + l)));
                __m256i q1 = _mm256_or_si256(_mm256_and_si256(a, low4), _mm256_and_si256(_mm256_slli_epi32(hb, 4), bits45));
                __m256i q2 = _mm256_or_si256(_mm256_and_si256(c, low4), _mm256_and_si256(_mm256_slli_epi32(hb, 2), bits45));
                __m256i q3 = _mm256_or_si256(_mm256_srli_epi32(a, 4), _mm256_and_si256(hb, bits45));
                __m256i q4 = _mm256_or_si256(_mm256_srli_epi32(c, 4), _mm256_and_si256(_mm256_srli_epi32(hb, 2), bits45));
                __m256 w1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q1), _mm256_set1_ps(ds[k]), _mm256_set1_ps(nds[k]));
                __m256 w2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q2), _mm256_set1_ps(ds[k + 2]), _mm256_set1_ps(nds[k + 2]));
                __m256 w3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q3), _mm256_set1_ps(ds[k + 4]), _mm256_set1_ps(nds[k + 4]));
                __m256 w4 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q4), _mm256_set1_ps(ds[k + 6]), _mm256_set1_ps(nds[k + 6]));
                acc0 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xx + l), acc0);
                acc1 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xx + l + 32), acc1);
                acc0 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xx + l + 64), acc0);
                acc1 = _mm256_fmadd_ps(w4, _mm256_loadu_ps(xx + l + 96), acc1);
            }
        }
    }
    return hsum256k(_mm256_add_ps(acc0, acc1));
}

/* Q4_K tile: w = (d*sc) q - dmin*m for 8 codes with one rounding (a fused
 * multiply-subtract on the converted codes), then one FMA per input. The
 * scales of block i + 1 are unpacked while block i runs: the broadcasts
 * read them back from the stack, and reading a wide store back at once
 * stalls on store forwarding (10-20% of the AVX-512 tiles' time). */
AVX2 INLINE void q4_K_tile_avx2(const uint8_t *const *row, int nblk, const float *const *x, float *out,
                                const int R, const int B)
{
    const __m256i low4 = _mm256_set1_epi32(0xf);
    __m256 acc[KQ_RMAX][KQ_BMAX];
    float ds[2][KQ_RMAX][16] __attribute__((aligned(32)));
    UNROLL for (int r = 0; r < R; r++) {
        UNROLL for (int b = 0; b < B; b++) acc[r][b] = _mm256_setzero_ps();
        q4_K_scales_avx2((const block_q4_K *)row[r], ds[0][r]);
    }
    for (int i = 0; i < nblk; i++) {
        float (*s)[16] = ds[i & 1];
        if (i + 1 < nblk)
            UNROLL for (int r = 0; r < R; r++) q4_K_scales_avx2((const block_q4_K *)row[r] + i + 1, ds[(i + 1) & 1][r]);
        for (int c = 0; c < 4; c++) {
            UNROLL for (int h = 0; h < 2; h++) { /* low nibbles: sub-block 2c, high: 2c + 1 */
                __m256 sc[KQ_RMAX], mn[KQ_RMAX];
                UNROLL for (int r = 0; r < R; r++) {
                    sc[r] = _mm256_set1_ps(s[r][2 * c + h]);
                    mn[r] = _mm256_set1_ps(s[r][8 + 2 * c + h]);
                }
                UNROLL for (int u = 0; u < 4; u++) {
                    __m256 xv[KQ_BMAX];
                    UNROLL for (int b = 0; b < B; b++) xv[b] = _mm256_loadu_ps(x[b] + QK_K * i + 64 * c + 32 * h + 8 * u);
                    UNROLL for (int r = 0; r < R; r++) {
                        const uint8_t *q = ((const block_q4_K *)row[r] + i)->qs + 32 * c + 8 * u;
                        __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)q));
                        v = h ? _mm256_srli_epi32(v, 4) : _mm256_and_si256(v, low4);
                        __m256 w = _mm256_fmsub_ps(_mm256_cvtepi32_ps(v), sc[r], mn[r]);
                        UNROLL for (int b = 0; b < B; b++) acc[r][b] = _mm256_fmadd_ps(w, xv[b], acc[r][b]);
                    }
                }
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++)
        UNROLL for (int b = 0; b < B; b++) out[r * B + b] = hsum256k(acc[r][b]);
}

/* Q6_K tile: the codes of elements l, l + 32, l + 64, l + 96 of a half
 * from ql[l], ql[l + 32] and qh[l], 8 lanes at a time, and w = q * d*sc +
 * (-32 * d*sc), which is (q - 32) * d*sc rounded once. */
AVX2 INLINE void q6_K_tile_avx2(const uint8_t *const *row, int nblk, const float *const *x, float *out,
                                const int R, const int B)
{
    const __m256i low4 = _mm256_set1_epi32(0xf), bits45 = _mm256_set1_epi32(0x30);
    __m256 acc[KQ_RMAX][KQ_BMAX];
    float ds[2][KQ_RMAX][32] __attribute__((aligned(32))); /* d*sc[k] at k, -32*d*sc[k] at 16 + k */
    UNROLL for (int r = 0; r < R; r++) {
        UNROLL for (int b = 0; b < B; b++) acc[r][b] = _mm256_setzero_ps();
        q6_K_scales_avx2((const block_q6_K *)row[r], ds[0][r], ds[0][r] + 16);
    }
    for (int i = 0; i < nblk; i++) {
        float (*s)[32] = ds[i & 1];
        if (i + 1 < nblk)
            UNROLL for (int r = 0; r < R; r++)
                q6_K_scales_avx2((const block_q6_K *)row[r] + i + 1, ds[(i + 1) & 1][r], ds[(i + 1) & 1][r] + 16);
        for (int h = 0; h < 2; h++) {
            UNROLL for (int l = 0; l < 32; l += 8) {
                const int k = 8 * h + l / 16; /* scale of element l; +2 per 32 elements */
                __m256i a[KQ_RMAX], c[KQ_RMAX], hb[KQ_RMAX];
                UNROLL for (int r = 0; r < R; r++) {
                    const block_q6_K *bl = (const block_q6_K *)row[r] + i;
                    a[r] = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(bl->ql + 64 * h + l)));
                    c[r] = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(bl->ql + 64 * h + l + 32)));
                    hb[r] = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(bl->qh + 32 * h + l)));
                }
                UNROLL for (int j = 0; j < 4; j++) { /* elements l + 32 j */
                    __m256 xv[KQ_BMAX];
                    UNROLL for (int b = 0; b < B; b++) xv[b] = _mm256_loadu_ps(x[b] + QK_K * i + 128 * h + l + 32 * j);
                    UNROLL for (int r = 0; r < R; r++) {
                        __m256i lo = j & 1 ? c[r] : a[r];
                        lo = j < 2 ? _mm256_and_si256(lo, low4) : _mm256_srli_epi32(lo, 4);
                        __m256i hi = j == 0 ? _mm256_slli_epi32(hb[r], 4) : j == 1 ? _mm256_slli_epi32(hb[r], 2)
                                   : j == 2 ? hb[r] : _mm256_srli_epi32(hb[r], 2);
                        __m256i q = _mm256_or_si256(lo, _mm256_and_si256(hi, bits45));
                        __m256 w = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(s[r][k + 2 * j]),
                                                   _mm256_set1_ps(s[r][16 + k + 2 * j]));
                        UNROLL for (int b = 0; b < B; b++) acc[r][b] = _mm256_fmadd_ps(w, xv[b], acc[r][b]);
                    }
                }
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++)
        UNROLL for (int b = 0; b < B; b++) out[r * B + b] = hsum256k(acc[r][b]);
}

/* Tile shapes: accumulators (R * B) plus per-row scales and per-input
 * activations must fit the 16 ymm registers. */
KQ_TILE(AVX2, q4_K_avx2, q4_K_tile_avx2, 1, 8)
KQ_TILE(AVX2, q4_K_avx2, q4_K_tile_avx2, 1, 4)
KQ_TILE(AVX2, q4_K_avx2, q4_K_tile_avx2, 2, 3)
KQ_TILE(AVX2, q4_K_avx2, q4_K_tile_avx2, 2, 2)
KQ_TILE(AVX2, q4_K_avx2, q4_K_tile_avx2, 3, 1)
KQ_TILE(AVX2, q6_K_avx2, q6_K_tile_avx2, 1, 8)
KQ_TILE(AVX2, q6_K_avx2, q6_K_tile_avx2, 1, 4)
KQ_TILE(AVX2, q6_K_avx2, q6_K_tile_avx2, 1, 3)
KQ_TILE(AVX2, q6_K_avx2, q6_K_tile_avx2, 2, 2)
KQ_TILE(AVX2, q6_K_avx2, q6_K_tile_avx2, 2, 1)

static const kq_tiles q4_K_tiles_avx2 = {
    6, { 8, 4, 3, 2, 1 }, { 1, 1, 2, 2, 3 },
    { q4_K_avx2_1x8, q4_K_avx2_1x4, q4_K_avx2_2x3, q4_K_avx2_2x2, q4_K_avx2_3x1 },
};
static const kq_tiles q6_K_tiles_avx2 = {
    2, { 8, 4, 3, 2, 1 }, { 1, 1, 1, 2, 2 },
    { q6_K_avx2_1x8, q6_K_avx2_1x4, q6_K_avx2_1x3, q6_K_avx2_2x2, q6_K_avx2_2x1 },
};

void kern_matmul_rows_kq_avx2(int type, const void *W, size_t row_bytes, int n, const float *X, int nb,
                              float *Y, int ldy, int r0, int r1)
{
    kq_run(type == GGML_TYPE_Q4_K ? &q4_K_tiles_avx2 : &q6_K_tiles_avx2, W, row_bytes, n, X, nb, Y, ldy, r0, r1);
}

/* ------------------------------------------------------------ AVX-512 path */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#define AVX512_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,fma,f16c")))

/* d*sc[0..7] and dmin*m[0..7] of one Q4_K block as lanes 0..15, in vector
 * registers (q4_K_scale_words a lane at a time): the first 16 bytes of a
 * block are exactly d, dmin and the 12 scale bytes, i.e. the dwords
 * [d|dmin, a, b, c]. This runs once per 256 weights and, done with scalar
 * code, cost a fifth of the kernel's time. */
AVX512 static inline __m512 q4_K_scales_v512(const block_q4_K *b)
{
    __m128i v = _mm_loadu_si128((const __m128i *)b);
    /* low bits: [a & 3f.., c & 0f.., b & 3f.., (c >> 4) & 0f..] */
    __m128i lo = _mm_srlv_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(3, 2, 3, 1)), _mm_setr_epi32(0, 0, 0, 4));
    lo = _mm_and_si128(lo, _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    /* top 2 bits of sub-blocks 4..7 from the tops of a (scales), b (mins):
     * ((x >> 6) & 3) << 4 per byte is (x >> 2) & 0x30 */
    __m128i hi = _mm_srli_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(2, 0, 1, 0)), 2);
    hi = _mm_and_si128(hi, _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    __m512 s = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_or_si128(lo, hi)));
    /* lanes 0..7 scale by d, 8..15 by dmin */
    __m512 dd = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                      _mm512_castps128_ps512(_mm_cvtph_ps(v)));
    return _mm512_mul_ps(s, dd);
}

AVX512 static inline void q4_K_scales_avx512(const block_q4_K *b, float *ds) { _mm512_storeu_ps(ds, q4_K_scales_v512(b)); }

/* Table of the 16 values of sub-block j: d*sc*q - dmin*m for q = 0..15. */
#define Q4K_TABLE(j) _mm512_fmsub_ps(iota, _mm512_set1_ps(ds[j]), _mm512_set1_ps(ds[8 + (j)]))

AVX512 float kern_dot_q4_K_avx512(const void *row, const float *x, int n)
{
    const block_q4_K *b = row;
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    /* four accumulators: with two, the FMA latency chain was the limit */
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    float ds[16];
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        q4_K_scales_avx512(&b[i], ds);
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b[i].qs + 32 * c;
            const float *xl = x + 64 * c;
            /* bytes widened to 32-bit lanes: vpermps reads the low 4 bits
             * of each lane, so the low nibble needs no mask, and the high
             * one is a shift away. (Decoding the high nibbles with shift,
             * convert and multiply instead, to spread the work over more
             * execution ports, measured no faster.) */
            __m512 tl = Q4K_TABLE(2 * c), th = Q4K_TABLE(2 * c + 1);
            __m512i v0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)q));
            __m512i v1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + 16)));
            acc0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(v0, tl), _mm512_loadu_ps(xl), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(v1, tl), _mm512_loadu_ps(xl + 16), acc1);
            acc2 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v0, 4), th), _mm512_loadu_ps(xl + 32), acc2);
            acc3 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v1, 4), th), _mm512_loadu_ps(xl + 48), acc3);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}


/* f*d*sc[k] of one Q6_K block as lanes 0..15 (f a power of two). */
AVX512 static inline __m512 q6_K_scales_v512(const block_q6_K *b, float f)
{
    __m512 s = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->scales)));
    return _mm512_mul_ps(s, _mm512_set1_ps(_cvtsh_ss(b->d) * f));
}

AVX512 static inline void q6_K_scales_avx512(const block_q6_K *b, float *ds) { _mm512_storeu_ps(ds, q6_K_scales_v512(b, 1.0f)); }

/* The 6-bit codes q of one half (128 elements) in element order, as int8
 * bytes q - 32: lo = elements 0..63, hi = 64..127. Done on 64 bytes at once:
 * ql's low nibbles are elements 0..63 and its high nibbles 64..127; their
 * top 2 bits come from qh (bits 0-1 / 4-5 for the first 32 bytes, 2-3 /
 * 6-7 for the next 32, hence qh next to qh >> 2). The 16-bit shifts leak
 * bits across bytes; the masks drop them. */
AVX512 static inline void q6_K_codes(const uint8_t *ql, const uint8_t *qh, __m512i *lo, __m512i *hi)
{
    const __m512i m0f = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    __m512i L = _mm512_loadu_si512((const void *)ql);
    __m256i h = _mm256_loadu_si256((const __m256i *)qh);
    __m512i H = _mm512_inserti64x4(_mm512_castsi256_si512(h), _mm256_srli_epi16(h, 2), 1);
    /* q - 32 as int8: the offset costs one byte subtraction per 64 codes
     * here instead of an operand per 16 weights below */
    const __m512i k32 = _mm512_set1_epi8(32);
    *lo = _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(L, m0f), _mm512_and_si512(_mm512_slli_epi16(H, 4), m30)), k32);
    *hi = _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m0f), _mm512_and_si512(H, m30)), k32);
}

/* 16 codes (int8 q - 32) to floats w = d*sc * (q - 32). */
#define Q6K_W(bytes, k) _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes)), _mm512_set1_ps(ds[k]))

AVX512 float kern_dot_q6_K_avx512(const void *row, const float *x, int n)
{
    const block_q6_K *b = row;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    float ds[16];
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        q6_K_scales_avx512(&b[i], ds);
        for (int h = 0; h < 2; h++) {
            __m512i lo, hi;
            q6_K_codes(b[i].ql + 64 * h, b[i].qh + 32 * h, &lo, &hi);
            const float *xx = x + 128 * h;
            const int k = 8 * h; /* one scale per 16 elements */
            acc0 = _mm512_fmadd_ps(Q6K_W(_mm512_castsi512_si128(lo), k), _mm512_loadu_ps(xx), acc0);
            acc1 = _mm512_fmadd_ps(Q6K_W(_mm512_extracti32x4_epi32(lo, 1), k + 1), _mm512_loadu_ps(xx + 16), acc1);
            acc2 = _mm512_fmadd_ps(Q6K_W(_mm512_extracti32x4_epi32(lo, 2), k + 2), _mm512_loadu_ps(xx + 32), acc2);
            acc3 = _mm512_fmadd_ps(Q6K_W(_mm512_extracti32x4_epi32(lo, 3), k + 3), _mm512_loadu_ps(xx + 48), acc3);
            acc0 = _mm512_fmadd_ps(Q6K_W(_mm512_castsi512_si128(hi), k + 4), _mm512_loadu_ps(xx + 64), acc0);
            acc1 = _mm512_fmadd_ps(Q6K_W(_mm512_extracti32x4_epi32(hi, 1), k + 5), _mm512_loadu_ps(xx + 80), acc1);
            acc2 = _mm512_fmadd_ps(Q6K_W(_mm512_extracti32x4_epi32(hi, 2), k + 6), _mm512_loadu_ps(xx + 96), acc2);
            acc3 = _mm512_fmadd_ps(Q6K_W(_mm512_extracti32x4_epi32(hi, 3), k + 7), _mm512_loadu_ps(xx + 112), acc3);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}


/* Software prefetch for decode from memory: a tile's rows are consecutive,
 * so the same block of the next tile's rows lies R row strides ahead.
 * Without it the short row streams (576 bytes per Q4_K row of 1024) left the
 * kernels waiting on memory at one input (the multi-input kernels of
 * kernels_multi.c do the same). Prefetches past the matrix are harmless. */
static inline ptrdiff_t kq_ahead(const uint8_t *const *row, int R)
{
    ptrdiff_t stride = R > 1 ? row[1] - row[0] : 0;
    return stride > 0 ? stride * R : 2048;
}

static inline void kq_prefetch(const char *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 3);
}

/* Q4_K tile: the dot kernel's table lookup (vpermps of the codes into the
 * 16 values of their sub-block, built with one FMA per 32 weights), then
 * one FMA per input. Scales a block ahead, as in the AVX2 tile. */
AVX512 INLINE void q4_K_tile_avx512(const uint8_t *const *row, int nblk, const float *const *x, float *out,
                                    const int R, const int B)
{
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512 acc[KQ_RMAX][KQ_BMAX];
    float ds[2][KQ_RMAX][16] __attribute__((aligned(64)));
    UNROLL for (int r = 0; r < R; r++) {
        UNROLL for (int b = 0; b < B; b++) acc[r][b] = _mm512_setzero_ps();
        _mm512_store_ps(ds[0][r], q4_K_scales_v512((const block_q4_K *)row[r]));
    }
    const ptrdiff_t ahead = kq_ahead(row, R);
    for (int i = 0; i < nblk; i++) {
        float (*s)[16] = ds[i & 1];
        UNROLL for (int r = 0; r < R; r++) kq_prefetch((const char *)((const block_q4_K *)row[r] + i) + ahead, sizeof(block_q4_K));
        if (i + 1 < nblk)
            UNROLL for (int r = 0; r < R; r++)
                _mm512_store_ps(ds[(i + 1) & 1][r], q4_K_scales_v512((const block_q4_K *)row[r] + i + 1));
        for (int c = 0; c < 4; c++) {
            UNROLL for (int h = 0; h < 2; h++) { /* low nibbles: sub-block 2c, high: 2c + 1 */
                __m512 t[KQ_RMAX];
                UNROLL for (int r = 0; r < R; r++)
                    t[r] = _mm512_fmsub_ps(iota, _mm512_set1_ps(s[r][2 * c + h]), _mm512_set1_ps(s[r][8 + 2 * c + h]));
                UNROLL for (int u = 0; u < 2; u++) {
                    __m512 xv[KQ_BMAX];
                    UNROLL for (int b = 0; b < B; b++) {
                        xv[b] = _mm512_loadu_ps(x[b] + QK_K * i + 64 * c + 32 * h + 16 * u);
                        /* one load per input, held in a register: left to
                         * itself GCC folds the load into every row's FMA,
                         * and the extra loads cost a third from 4 inputs on */
                        __asm__("" : "+v"(xv[b]));
                    }
                    UNROLL for (int r = 0; r < R; r++) {
                        const uint8_t *q = ((const block_q4_K *)row[r] + i)->qs + 32 * c + 16 * u;
                        __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)q));
                        __m512 w = _mm512_permutexvar_ps(h ? _mm512_srli_epi32(v, 4) : v, t[r]);
                        UNROLL for (int b = 0; b < B; b++) acc[r][b] = _mm512_fmadd_ps(w, xv[b], acc[r][b]);
                    }
                }
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++)
        UNROLL for (int b = 0; b < B; b++) out[r * B + b] = _mm512_reduce_add_ps(acc[r][b]);
}

/* Codes k * 16 .. k * 16 + 15 (k < 4) of a q6_K_codes vector as int32. */
AVX512 INLINE __m512i q6_K_code16(__m512i v, int k)
{
    switch (k) {
    case 0: return _mm512_cvtepi8_epi32(_mm512_castsi512_si128(v));
    case 1: return _mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 1));
    case 2: return _mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 2));
    default: return _mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 3));
    }
}

/* The same codes times 2^24, in one byte permute instead of extract +
 * widen: each code lands in the top byte of its lane, zeros below, which
 * is the sign-extended code shifted left by 24. The scales carry the 2^-24
 * (exact: powers of two), so w and all that follows are the same floats as
 * with q6_K_code16. 15% faster on Zen 5 at one input. */
AVX512_VBMI INLINE __m512i q6_K_code16_vbmi(__m512i v, int k)
{
    const __m512i idx = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(16 * k)), 24);
    return _mm512_maskz_permutexvar_epi8(0x8888888888888888ull, idx, v);
}

/* Q6_K tile, w = (q - 32) * d*sc then one FMA per input; CODE16 and the
 * scale factor F of the scales (1, or 2^-24 for q6_K_code16_vbmi) are the
 * only difference between the two instances, hence a macro. */
#define Q6_K_TILE_AVX512(NAME, ATTR, CODE16, F)                                                          \
    ATTR INLINE void NAME(const uint8_t *const *row, int nblk, const float *const *x, float *out,        \
                          const int R, const int B)                                                      \
    {                                                                                                    \
        __m512 acc[KQ_RMAX][KQ_BMAX];                                                                    \
        float ds[2][KQ_RMAX][16] __attribute__((aligned(64)));                                           \
        UNROLL for (int r = 0; r < R; r++) {                                                             \
            UNROLL for (int b = 0; b < B; b++) acc[r][b] = _mm512_setzero_ps();                          \
            _mm512_store_ps(ds[0][r], q6_K_scales_v512((const block_q6_K *)row[r], F));                  \
        }                                                                                                \
        const ptrdiff_t ahead = kq_ahead(row, R);                                                        \
        for (int i = 0; i < nblk; i++) {                                                                 \
            float (*s)[16] = ds[i & 1];                                                                  \
            UNROLL for (int r = 0; r < R; r++)                                                           \
                kq_prefetch((const char *)((const block_q6_K *)row[r] + i) + ahead, sizeof(block_q6_K)); \
            if (i + 1 < nblk)                                                                            \
                UNROLL for (int r = 0; r < R; r++)                                                       \
                    _mm512_store_ps(ds[(i + 1) & 1][r], q6_K_scales_v512((const block_q6_K *)row[r] + i + 1, F)); \
            UNROLL for (int h = 0; h < 2; h++) {                                                         \
                __m512i lo[KQ_RMAX], hi[KQ_RMAX];                                                        \
                UNROLL for (int r = 0; r < R; r++) {                                                     \
                    const block_q6_K *bl = (const block_q6_K *)row[r] + i;                               \
                    q6_K_codes(bl->ql + 64 * h, bl->qh + 32 * h, &lo[r], &hi[r]);                        \
                }                                                                                        \
                UNROLL for (int k = 0; k < 8; k++) { /* elements 16k.., one scale each */                \
                    __m512 xv[KQ_BMAX];                                                                  \
                    UNROLL for (int b = 0; b < B; b++) {                                                 \
                        xv[b] = _mm512_loadu_ps(x[b] + QK_K * i + 128 * h + 16 * k);                     \
                        __asm__("" : "+v"(xv[b])); /* as in q4_K_tile_avx512 */                          \
                    }                                                                                    \
                    UNROLL for (int r = 0; r < R; r++) {                                                 \
                        __m512i q = CODE16(k < 4 ? lo[r] : hi[r], k & 3);                                \
                        __m512 w = _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(s[r][8 * h + k])); \
                        UNROLL for (int b = 0; b < B; b++) acc[r][b] = _mm512_fmadd_ps(w, xv[b], acc[r][b]); \
                    }                                                                                    \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        UNROLL for (int r = 0; r < R; r++)                                                               \
            UNROLL for (int b = 0; b < B; b++) out[r * B + b] = _mm512_reduce_add_ps(acc[r][b]);         \
    }

Q6_K_TILE_AVX512(q6_K_tile_avx512, AVX512, q6_K_code16, 1.0f)
Q6_K_TILE_AVX512(q6_K_tile_avx512_vbmi, AVX512_VBMI, q6_K_code16_vbmi, 0x1p-24f)

/* Tile shapes: 6 rows at one input keep enough FMA chains in flight (4 and
 * 8 measured up to 10% slower); wider groups trade rows for inputs within
 * the 32 zmm registers (4 x 4 and 3 x 8 measured 2-18% slower). 8 or more
 * inputs go as groups of 4 over the same 12 rows (the later groups find the
 * weights in L1): a 2 x 8 tile ran 5% (rows of 1024) to 45% (rows of 3072,
 * whose 8 activation vectors no longer fit L1) slower. */
KQ_TILE(AVX512, q4_K_avx512, q4_K_tile_avx512, 3, 4)
KQ_TILE(AVX512, q4_K_avx512, q4_K_tile_avx512, 4, 3)
KQ_TILE(AVX512, q4_K_avx512, q4_K_tile_avx512, 4, 2)
KQ_TILE(AVX512, q4_K_avx512, q4_K_tile_avx512, 6, 1)
KQ_TILE(AVX512, q6_K_avx512, q6_K_tile_avx512, 3, 4)
KQ_TILE(AVX512, q6_K_avx512, q6_K_tile_avx512, 4, 3)
KQ_TILE(AVX512, q6_K_avx512, q6_K_tile_avx512, 4, 2)
KQ_TILE(AVX512, q6_K_avx512, q6_K_tile_avx512, 6, 1)
KQ_TILE(AVX512_VBMI, q6_K_vbmi, q6_K_tile_avx512_vbmi, 3, 4)
KQ_TILE(AVX512_VBMI, q6_K_vbmi, q6_K_tile_avx512_vbmi, 4, 3)
KQ_TILE(AVX512_VBMI, q6_K_vbmi, q6_K_tile_avx512_vbmi, 4, 2)
KQ_TILE(AVX512_VBMI, q6_K_vbmi, q6_K_tile_avx512_vbmi, 6, 1)

static const kq_tiles q4_K_tiles_avx512 = {
    12, { 4, 3, 2, 1 }, { 3, 4, 4, 6 },
    { q4_K_avx512_3x4, q4_K_avx512_4x3, q4_K_avx512_4x2, q4_K_avx512_6x1 },
};
static const kq_tiles q6_K_tiles_avx512 = {
    12, { 4, 3, 2, 1 }, { 3, 4, 4, 6 },
    { q6_K_avx512_3x4, q6_K_avx512_4x3, q6_K_avx512_4x2, q6_K_avx512_6x1 },
};
static const kq_tiles q6_K_tiles_vbmi = {
    12, { 4, 3, 2, 1 }, { 3, 4, 4, 6 },
    { q6_K_vbmi_3x4, q6_K_vbmi_4x3, q6_K_vbmi_4x2, q6_K_vbmi_6x1 },
};

void kern_matmul_rows_kq_avx512(int type, const void *W, size_t row_bytes, int n, const float *X, int nb,
                                float *Y, int ldy, int r0, int r1)
{
    kq_run(type == GGML_TYPE_Q4_K ? &q4_K_tiles_avx512 : &q6_K_tiles_avx512, W, row_bytes, n, X, nb, Y, ldy, r0, r1);
}

void kern_matmul_rows_kq_avx512_vbmi(int type, const void *W, size_t row_bytes, int n, const float *X,
                                     int nb, float *Y, int ldy, int r0, int r1)
{
    kq_run(type == GGML_TYPE_Q4_K ? &q4_K_tiles_avx512 : &q6_K_tiles_vbmi, W, row_bytes, n, X, nb, Y, ldy, r0, r1);
}
#endif

/* ----------------------------------------------------------------- dispatch */

static kern_kq_fn kq_impl = kern_matmul_rows_kq_c;
static const char *kq_isa = "portable";
static pthread_once_t kq_once = PTHREAD_ONCE_INIT;

/* The same CPU tests as kern_init_once (kernels.c), so QUARRY_NO_AVX512
 * switches both. */
static void kq_init(void)
{
#ifdef KERNK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        kq_impl = kern_matmul_rows_kq_avx2;
        kq_isa = "avx2";
    }
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && !getenv("QUARRY_NO_AVX512")) {
        kq_impl = kern_matmul_rows_kq_avx512;
        kq_isa = "avx512";
        if (__builtin_cpu_supports("avx512vbmi")) {
            kq_impl = kern_matmul_rows_kq_avx512_vbmi;
            kq_isa = "avx512-vbmi";
        }
    }
#endif
}

int kern_matmul_rows_kq(int type, const void *W, size_t row_bytes, int n, const float *X, int nb,
                        float *Y, int ldy, int r0, int r1)
{
    if ((type != GGML_TYPE_Q4_K && type != GGML_TYPE_Q6_K) || n <= 0 || n % QK_K) return 0;
    pthread_once(&kq_once, kq_init);
    if (nb > 0 && r0 < r1) kq_impl(type, W, row_bytes, n, X, nb, Y, ldy, r0, r1);
    return 1;
}

const char *kern_kq_isa(void)
{
    pthread_once(&kq_once, kq_init);
    return kq_isa;
}
