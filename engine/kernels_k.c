/*
 * kernels_k.c - dot products of Q4_K / Q6_K weight rows (see quant.h for
 * the block layouts) with F32 activations: a double-precision reference,
 * portable C, AVX2 and AVX-512 versions. kernels.c picks one per CPU.
 *
 * Activations stay F32 (llama.cpp rounds them to Q8_K first), so each
 * weight is decoded to a float and multiplied in float. Decode reads every
 * weight once per token, so the aim is to decode as fast as memory delivers
 * the bytes (4.5 bits per weight for Q4_K, 6.56 for Q6_K). The AVX-512 Q4_K
 * kernel spends one permute per 16 weights on decoding: the 16 possible
 * values of a sub-block (d*sc*q - dmin*m for q = 0..15) are one register,
 * and vpermps looks each 4-bit code up in it directly. Measured on one Zen 5
 * core with the weights in L2: Q4_K 27 Gweights/s (15 GB/s), Q6_K 22
 * Gweights/s (18 GB/s), Q8_0's kernel 37. That is below what two cores can
 * stream from memory (~45 GB/s here): on 2 cores decode is compute bound,
 * on more it becomes memory bound.
 *
 * For a few inputs at once (kern_matmul_rows with nb > 1: parallel
 * sequences) a row is dequantized a few blocks at a time into a buffer on
 * the stack and applied to every input, instead of being decoded nb times.
 */
#include "kernels_k.h"
#include "quant.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KERNK_X86 1
#endif

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

/* Several inputs per weight row: dequantize up to KQ_CHUNK weights of the
 * row into an L1-resident buffer once, then run every input over it with
 * the F32 kernel. Decoding costs more than the F32 multiply-add, so this
 * beats decoding the row once per input: even at nb = 2, 1.3x at nb = 4,
 * 1.8x at nb = 8 (AVX-512). */
#define KQ_CHUNK (8 * QK_K)
#define KQ_MAX_NB 64

void kern_matmul_rows_deq(kern_deq_fn deq, kern_rows_fn rows, size_t block_bytes, const void *W,
                          size_t row_bytes, int n, const float *X, int nb, float *Y, int ldy, int r0, int r1)
{
    float w[KQ_CHUNK] __attribute__((aligned(64)));
    float acc[KQ_MAX_NB];
    for (int r = r0; r < r1; r++) {
        const char *row = (const char *)W + (size_t)r * row_bytes;
        for (int b0 = 0; b0 < nb; b0 += KQ_MAX_NB) {
            int m = nb - b0 < KQ_MAX_NB ? nb - b0 : KQ_MAX_NB;
            memset(acc, 0, sizeof acc);
            for (int i0 = 0; i0 < n; i0 += KQ_CHUNK) {
                int len = n - i0 < KQ_CHUNK ? n - i0 : KQ_CHUNK;
                for (int k = 0; k < len / QK_K; k++)
                    deq(row + (size_t)(i0 / QK_K + k) * block_bytes, w + k * QK_K);
                rows(w, X + (size_t)b0 * n + i0, len, n, m, acc);
            }
            for (int b = 0; b < m; b++) Y[(size_t)(b0 + b) * ldy + r] = acc[b];
        }
    }
}

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

AVX2 void kern_deq_q4_K_avx2(const void *blk, float *y)
{
    const block_q4_K *b = blk;
    const __m256i low4 = _mm256_set1_epi32(0xf);
    float ds[16];
    q4_K_scales_avx2(b, ds);
    for (int c = 0; c < 4; c++) {
        __m256 sl = _mm256_set1_ps(ds[2 * c]), ml = _mm256_set1_ps(ds[8 + 2 * c]);
        __m256 sh = _mm256_set1_ps(ds[2 * c + 1]), mh = _mm256_set1_ps(ds[8 + 2 * c + 1]);
        for (int k = 0; k < 32; k += 8) {
            __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + 32 * c + k)));
            _mm256_storeu_ps(y + 64 * c + k, _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, low4)), sl, ml));
            _mm256_storeu_ps(y + 64 * c + 32 + k, _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v, 4)), sh, mh));
        }
    }
}

AVX2 void kern_deq_q6_K_avx2(const void *blk, float *y)
{
    const block_q6_K *b = blk;
    const __m256i low4 = _mm256_set1_epi32(0xf), bits45 = _mm256_set1_epi32(0x30);
    float ds[16], nds[16];
    q6_K_scales_avx2(b, ds, nds);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        float *yy = y + 128 * h;
        for (int l = 0; l < 32; l += 8) {
            int k = 8 * h + l / 16;
            __m256i a = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(ql + l)));
            __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(ql + l + 32)));
            __m256i hb = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qh + l)));
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(a, low4), _mm256_and_si256(_mm256_slli_epi32(hb, 4), bits45));
            __m256i q2 = _mm256_or_si256(_mm256_and_si256(c, low4), _mm256_and_si256(_mm256_slli_epi32(hb, 2), bits45));
            __m256i q3 = _mm256_or_si256(_mm256_srli_epi32(a, 4), _mm256_and_si256(hb, bits45));
            __m256i q4 = _mm256_or_si256(_mm256_srli_epi32(c, 4), _mm256_and_si256(_mm256_srli_epi32(hb, 2), bits45));
            _mm256_storeu_ps(yy + l, _mm256_fmadd_ps(_mm256_cvtepi32_ps(q1), _mm256_set1_ps(ds[k]), _mm256_set1_ps(nds[k])));
            _mm256_storeu_ps(yy + l + 32, _mm256_fmadd_ps(_mm256_cvtepi32_ps(q2), _mm256_set1_ps(ds[k + 2]), _mm256_set1_ps(nds[k + 2])));
            _mm256_storeu_ps(yy + l + 64, _mm256_fmadd_ps(_mm256_cvtepi32_ps(q3), _mm256_set1_ps(ds[k + 4]), _mm256_set1_ps(nds[k + 4])));
            _mm256_storeu_ps(yy + l + 96, _mm256_fmadd_ps(_mm256_cvtepi32_ps(q4), _mm256_set1_ps(ds[k + 6]), _mm256_set1_ps(nds[k + 6])));
        }
    }
}

AVX2 void kern_rows_f32_avx2(const float *w, const float *X, int len, int ldx, int nb, float *acc)
{
    for (int b = 0; b < nb; b++) {
        const float *x = X + (size_t)b * ldx;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        for (int i = 0; i < len; i += 16) {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), s1);
        }
        acc[b] += hsum256k(_mm256_add_ps(s0, s1));
    }
}

/* ------------------------------------------------------------ AVX-512 path */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))

/* d*sc[0..7] and dmin*m[0..7] of one Q4_K block into ds[0..15], in vector
 * registers (q4_K_scale_words a lane at a time): the first 16 bytes of a
 * block are exactly d, dmin and the 12 scale bytes, i.e. the dwords
 * [d|dmin, a, b, c]. This runs once per 256 weights and, done with scalar
 * code, cost a fifth of the kernel's time. */
AVX512 static inline void q4_K_scales_avx512(const block_q4_K *b, float *ds)
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
    _mm512_storeu_ps(ds, _mm512_mul_ps(s, dd));
}

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


AVX512 void kern_deq_q4_K_avx512(const void *blk, float *y)
{
    const block_q4_K *b = blk;
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    float ds[16];
    q4_K_scales_avx512(b, ds);
    for (int c = 0; c < 4; c++) {
        __m512 tl = Q4K_TABLE(2 * c), th = Q4K_TABLE(2 * c + 1);
        __m512i v0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + 32 * c)));
        __m512i v1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + 32 * c + 16)));
        _mm512_storeu_ps(y + 64 * c, _mm512_permutexvar_ps(v0, tl));
        _mm512_storeu_ps(y + 64 * c + 16, _mm512_permutexvar_ps(v1, tl));
        _mm512_storeu_ps(y + 64 * c + 32, _mm512_permutexvar_ps(_mm512_srli_epi32(v0, 4), th));
        _mm512_storeu_ps(y + 64 * c + 48, _mm512_permutexvar_ps(_mm512_srli_epi32(v1, 4), th));
    }
}

/* d*sc[k] of one Q6_K block into ds[0..15]. */
AVX512 static inline void q6_K_scales_avx512(const block_q6_K *b, float *ds)
{
    __m512 s = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->scales)));
    _mm512_storeu_ps(ds, _mm512_mul_ps(s, _mm512_set1_ps(_cvtsh_ss(b->d))));
}

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


AVX512 void kern_deq_q6_K_avx512(const void *blk, float *y)
{
    const block_q6_K *b = blk;
    float ds[16];
    q6_K_scales_avx512(b, ds);
    for (int h = 0; h < 2; h++) {
        __m512i lo, hi;
        q6_K_codes(b->ql + 64 * h, b->qh + 32 * h, &lo, &hi);
        float *yy = y + 128 * h;
        const int k = 8 * h;
        _mm512_storeu_ps(yy, Q6K_W(_mm512_castsi512_si128(lo), k));
        _mm512_storeu_ps(yy + 16, Q6K_W(_mm512_extracti32x4_epi32(lo, 1), k + 1));
        _mm512_storeu_ps(yy + 32, Q6K_W(_mm512_extracti32x4_epi32(lo, 2), k + 2));
        _mm512_storeu_ps(yy + 48, Q6K_W(_mm512_extracti32x4_epi32(lo, 3), k + 3));
        _mm512_storeu_ps(yy + 64, Q6K_W(_mm512_castsi512_si128(hi), k + 4));
        _mm512_storeu_ps(yy + 80, Q6K_W(_mm512_extracti32x4_epi32(hi, 1), k + 5));
        _mm512_storeu_ps(yy + 96, Q6K_W(_mm512_extracti32x4_epi32(hi, 2), k + 6));
        _mm512_storeu_ps(yy + 112, Q6K_W(_mm512_extracti32x4_epi32(hi, 3), k + 7));
    }
}

AVX512 void kern_rows_f32_avx512(const float *w, const float *X, int len, int ldx, int nb, float *acc)
{
    int b = 0;
    /* four inputs per pass: each weight load feeds four FMAs, and eight
     * accumulators cover the FMA latency */
    for (; b + 4 <= nb; b += 4) {
        const float *x0 = X + (size_t)b * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
        __m512 t0 = _mm512_setzero_ps(), t1 = _mm512_setzero_ps(), t2 = _mm512_setzero_ps(), t3 = _mm512_setzero_ps();
        for (int i = 0; i < len; i += 32) {
            __m512 wa = _mm512_loadu_ps(w + i), wb = _mm512_loadu_ps(w + i + 16);
            s0 = _mm512_fmadd_ps(wa, _mm512_loadu_ps(x0 + i), s0);
            s1 = _mm512_fmadd_ps(wa, _mm512_loadu_ps(x1 + i), s1);
            s2 = _mm512_fmadd_ps(wa, _mm512_loadu_ps(x2 + i), s2);
            s3 = _mm512_fmadd_ps(wa, _mm512_loadu_ps(x3 + i), s3);
            t0 = _mm512_fmadd_ps(wb, _mm512_loadu_ps(x0 + i + 16), t0);
            t1 = _mm512_fmadd_ps(wb, _mm512_loadu_ps(x1 + i + 16), t1);
            t2 = _mm512_fmadd_ps(wb, _mm512_loadu_ps(x2 + i + 16), t2);
            t3 = _mm512_fmadd_ps(wb, _mm512_loadu_ps(x3 + i + 16), t3);
        }
        acc[b] += _mm512_reduce_add_ps(_mm512_add_ps(s0, t0));
        acc[b + 1] += _mm512_reduce_add_ps(_mm512_add_ps(s1, t1));
        acc[b + 2] += _mm512_reduce_add_ps(_mm512_add_ps(s2, t2));
        acc[b + 3] += _mm512_reduce_add_ps(_mm512_add_ps(s3, t3));
    }
    for (; b < nb; b++) {
        const float *x = X + (size_t)b * ldx;
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
        for (int i = 0; i < len; i += 32) {
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), s0);
            s1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), s1);
        }
        acc[b] += _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    }
}
#endif
