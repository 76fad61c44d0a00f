/*
 * quant_k.c - the Q4_K and Q6_K weight formats ("k-quants", the mix inside
 * Q4_K_M files): reference dequantization and a quantizer.
 *
 * The block layouts are ggml's, byte for byte (see quant.h), so files we
 * write load in llama.cpp and decode to the same floats there. The
 * dequantization below is the definition every kernel must agree with; it
 * evaluates d * sc and dmin * m in float first, as ggml does, so both
 * decoders give the same float weights.
 *
 * The quantizer is our own and is not bit-identical to ggml's (it does not
 * need to be: any values in the format are valid). It minimises the plain
 * squared error of each block, in three steps:
 *  1. per sub-block, a search over candidate scales, each followed by a
 *     least-squares refit of (scale, min) to the rounded values, then a few
 *     rounds of "re-round, refit" (alternating minimisation);
 *  2. the super-block scale(s) d (and dmin) from the largest sub-block
 *     value, stored as F16;
 *  3. per sub-block, the integer scale (and min) among the nearest grid
 *     points of the ideal one that gives the least error once the values are
 *     re-rounded with it: rounding the scale alone is not the best choice,
 *     since the values were fitted to the unrounded one.
 */
#include "quant.h"

#include <math.h>
#include <string.h>

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
/* Round to nearest, ties to even, without a libm call (lrintf is one on
 * baseline x86-64, and the quantizer rounds each value dozens of times):
 * adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits.
 * Values are first clamped into the range where that holds; every caller
 * clamps the result to a few bits anyway. */
static inline int nearest(float v)
{
    v = v < -4194303.0f ? -4194303.0f : v > 4194303.0f ? 4194303.0f : v;
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* ------------------------------------------------------------------ Q4_K */

void qe_q4_K_scales(const uint8_t p[12], uint8_t sc[8], uint8_t m[8])
{
    for (int j = 0; j < 4; j++) {
        sc[j] = p[j] & 63;
        m[j] = p[j + 4] & 63;
        /* sub-blocks 4..7: low 4 bits in bytes 8..11, top 2 bits in the
         * spare top bits of bytes 0..7 */
        sc[j + 4] = (uint8_t)((p[j + 8] & 0xf) | ((p[j] >> 6) << 4));
        m[j + 4] = (uint8_t)((p[j + 8] >> 4) | ((p[j + 4] >> 6) << 4));
    }
}

static void q4_K_pack_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t p[12])
{
    for (int j = 0; j < 4; j++) {
        p[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        p[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        p[j + 8] = (uint8_t)((sc[j + 4] & 0xf) | ((m[j + 4] & 0xf) << 4));
    }
}

/* Squared error of x[0..n) against a * q - m with q the nearest in 0..nmax. */
static float affine_err(const float *x, int n, int nmax, float a, float m)
{
    float e = 0.0f, ia = a > 0.0f ? 1.0f / a : 0.0f;
    for (int i = 0; i < n; i++) {
        int q = clampi(nearest((x[i] + m) * ia), 0, nmax);
        float r = a * (float)q - m - x[i];
        e += r * r;
    }
    return e;
}

/* Least-squares (a, m) for x ~ a * q - m given q, with a >= 0 and m >= 0
 * (the format stores both unsigned). Returns the squared error, or INFINITY
 * when q is constant (no unique fit). The q sums are small integers (exact
 * in float); the solve is in double since det can cancel. */
static float affine_fit(const float *x, const int *q, int n, float *a_out, float *m_out)
{
    float fsq = 0, fsqq = 0, fsx = 0, fsqx = 0, fsxx = 0;
    for (int i = 0; i < n; i++) {
        float qf = (float)q[i];
        fsq += qf;
        fsqq += qf * qf;
        fsx += x[i];
        fsqx += qf * x[i];
        fsxx += x[i] * x[i];
    }
    double sq = fsq, sqq = fsqq, sx = fsx, sqx = fsqx, sxx = fsxx;
    double det = n * sqq - sq * sq;
    if (det <= 0) return INFINITY;
    double a = (n * sqx - sq * sx) / det, b = (sx - a * sq) / n; /* x ~ a q + b */
    if (b > 0) { b = 0; a = sqx / sqq; }                         /* m = -b must be >= 0 */
    if (a < 0) { a = 0; b = sx / n < 0 ? sx / n : 0; }
    *a_out = (float)a;
    *m_out = (float)-b;
    double e = sxx - 2 * a * sqx - 2 * b * sx + a * a * sqq + 2 * a * b * sq + n * b * b;
    return (float)(e > 0 ? e : 0);
}

/* Best (scale, min) for one sub-block of n values in 0..nmax, unrounded. */
static void affine_search(const float *x, int n, int nmax, float *a_out, float *m_out)
{
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) { lo = fminf(lo, x[i]); hi = fmaxf(hi, x[i]); }
    if (lo > 0) lo = 0; /* the min is subtracted: an all-positive block uses m = 0 */
    if (hi <= lo) {     /* constant (<= 0) block: exact with a = 0 */
        *a_out = 0.0f;
        *m_out = -lo;
        return;
    }
    int q[32];
    float best_a = (hi - lo) / (float)nmax, best_m = -lo;
    float best = affine_err(x, n, nmax, best_a, best_m);
    /* candidate steps around range / nmax: slightly larger steps clip the
     * extremes but fit the bulk better, and the refit corrects the rest.
     * Five candidates: 21 (ggml's count) gain under 0.5% RMS here at four
     * times the cost, the refit below does most of the work. */
    for (int t = -6; t <= 6; t += 3) {
        float is = ((float)nmax + 0.1f * (float)t) / (hi - lo), a, m;
        for (int i = 0; i < n; i++) q[i] = clampi(nearest((x[i] - lo) * is), 0, nmax);
        float e = affine_fit(x, q, n, &a, &m);
        if (e < best) { best = e; best_a = a; best_m = m; }
    }
    /* alternate: re-round with the fitted pair, refit, while it improves */
    for (int it = 0; it < 4 && best_a > 0; it++) {
        float ia = 1.0f / best_a, a, m;
        for (int i = 0; i < n; i++) q[i] = clampi(nearest((x[i] + best_m) * ia), 0, nmax);
        float e = affine_fit(x, q, n, &a, &m);
        if (!(e < best * (1.0f - 1e-6f))) break;
        best = e; best_a = a; best_m = m;
    }
    *a_out = best_a;
    *m_out = best_m;
}

static void quantize_block_q4_K(const float *x, block_q4_K *y)
{
    float a[8], m[8], amax = 0.0f, mmax = 0.0f;
    for (int j = 0; j < 8; j++) {
        affine_search(x + 32 * j, 32, 15, &a[j], &m[j]);
        amax = fmaxf(amax, a[j]);
        mmax = fmaxf(mmax, m[j]);
    }
    y->d = qe_f32_to_fp16(amax / 63.0f);
    y->dmin = qe_f32_to_fp16(mmax / 63.0f);
    /* the grid is what the file holds: the F16-rounded super scales */
    float d = qe_fp16_to_f32(y->d), dmin = qe_fp16_to_f32(y->dmin);
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        int s0 = d > 0 ? nearest(a[j] / d) : 0, m0 = dmin > 0 ? nearest(m[j] / dmin) : 0;
        int bs = clampi(s0, 0, 63), bm = clampi(m0, 0, 63);
        float best = INFINITY;
        for (int ds = -1; ds <= 1; ds++)
            for (int dm = -1; dm <= 1; dm++) {
                int s = s0 + ds, mm = m0 + dm;
                if (s < 0 || s > 63 || mm < 0 || mm > 63) continue;
                /* the products as the decoder forms them, in float */
                float e = affine_err(xs, 32, 15, d * (float)s, dmin * (float)mm);
                if (e < best) { best = e; bs = s; bm = mm; }
            }
        sc[j] = (uint8_t)bs;
        mn[j] = (uint8_t)bm;
    }
    q4_K_pack_scales(sc, mn, y->scales);
    uint8_t q[QK_K];
    for (int j = 0; j < 8; j++) {
        float a1 = d * (float)sc[j], m1 = dmin * (float)mn[j], ia = a1 > 0 ? 1.0f / a1 : 0.0f;
        for (int i = 0; i < 32; i++) q[32 * j + i] = (uint8_t)clampi(nearest((x[32 * j + i] + m1) * ia), 0, 15);
    }
    /* 64 elements per 32 bytes: element i low nibble, i + 32 high nibble */
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            y->qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
}

void qe_quantize_q4_K(const float *x, block_q4_K *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK_K; i++) quantize_block_q4_K(x + i * QK_K, y + i);
}

void qe_dequantize_q4_K(const block_q4_K *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const block_q4_K *b = &x[i];
        float d = qe_fp16_to_f32(b->d), dmin = qe_fp16_to_f32(b->dmin);
        uint8_t sc[8], m[8];
        qe_q4_K_scales(b->scales, sc, m);
        for (int c = 0; c < 4; c++) {
            float d1 = d * (float)sc[2 * c], m1 = dmin * (float)m[2 * c];
            float d2 = d * (float)sc[2 * c + 1], m2 = dmin * (float)m[2 * c + 1];
            const uint8_t *q = b->qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                y[64 * c + l] = d1 * (float)(q[l] & 0xf) - m1;
                y[64 * c + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
            }
        }
    }
}

/* ------------------------------------------------------------------ Q6_K */

/* Squared error of x[0..16) against s * q, q the nearest in -32..31. */
static float symm_err(const float *x, int n, float s)
{
    float e = 0.0f, is = s != 0.0f ? 1.0f / s : 0.0f;
    for (int i = 0; i < n; i++) {
        float r = s * (float)clampi(nearest(x[i] * is), -32, 31) - x[i];
        e += r * r;
    }
    return e;
}

/* Best signed scale s for x ~ s * q, q in -32..31. The range is lopsided,
 * so both signs are tried: the largest |x| maps to -32 or to +31. For
 * fixed q the best s is sum(qx) / sum(qq) and the error is
 * sum(xx) - sum(qx)^2 / sum(qq), so candidates compare by that ratio. */
static float symm_search(const float *x, int n)
{
    float vmax = 0.0f;
    for (int i = 0; i < n; i++) if (fabsf(x[i]) > fabsf(vmax)) vmax = x[i];
    if (vmax == 0.0f) return 0.0f;
    int q[16];
    float best_s = -vmax / 32.0f;
    double best = -1;
    for (int sign = -1; sign <= 1; sign += 2) {
        for (int t = -3; t <= 3; t++) { /* 22 candidates gain ~0.6% RMS */
            float is = (sign < 0 ? -(32.0f + 0.2f * (float)t) : 31.0f + 0.2f * (float)t) / vmax;
            float sqx = 0, sqq = 0;
            for (int i = 0; i < n; i++) {
                float qf = (float)clampi(nearest(x[i] * is), -32, 31);
                sqx += qf * x[i];
                sqq += qf * qf;
            }
            if (sqq > 0 && (double)sqx * sqx / sqq > best) { best = (double)sqx * sqx / sqq; best_s = sqx / sqq; }
        }
    }
    for (int it = 0; it < 3; it++) { /* re-round and refit while it improves */
        double sqx = 0, sqq = 0;
        float is = 1.0f / best_s;
        for (int i = 0; i < n; i++) {
            q[i] = clampi(nearest(x[i] * is), -32, 31);
            sqx += (double)q[i] * x[i];
            sqq += (double)q[i] * q[i];
        }
        if (!(sqq > 0 && sqx * sqx / sqq > best * (1 + 1e-9))) break;
        best = sqx * sqx / sqq;
        best_s = (float)(sqx / sqq);
    }
    return best_s;
}

static void quantize_block_q6_K(const float *x, block_q6_K *y)
{
    float s[16], smax = 0.0f;
    for (int k = 0; k < 16; k++) {
        s[k] = symm_search(x + 16 * k, 16);
        if (fabsf(s[k]) > fabsf(smax)) smax = s[k];
    }
    /* the largest scale maps to -128, the end of int8 with one more step */
    y->d = qe_f32_to_fp16(-smax / 128.0f);
    float d = qe_fp16_to_f32(y->d);
    for (int k = 0; k < 16; k++) {
        int s0 = d != 0.0f ? nearest(s[k] / d) : 0, bs = clampi(s0, -128, 127);
        float best = INFINITY;
        for (int ds = -1; ds <= 1 && d != 0.0f; ds++) {
            int sc = s0 + ds;
            if (sc < -128 || sc > 127) continue;
            float e = symm_err(x + 16 * k, 16, d * (float)sc);
            if (e < best) { best = e; bs = sc; }
        }
        y->scales[k] = (int8_t)bs;
    }
    uint8_t q[QK_K];
    for (int k = 0; k < 16; k++) {
        float s1 = d * (float)y->scales[k], is = s1 != 0.0f ? 1.0f / s1 : 0.0f;
        for (int i = 0; i < 16; i++) q[16 * k + i] = (uint8_t)(clampi(nearest(x[16 * k + i] * is), -32, 31) + 32);
    }
    for (int h = 0; h < 2; h++) {
        const uint8_t *qq = q + 128 * h;
        uint8_t *ql = y->ql + 64 * h, *qh = y->qh + 32 * h;
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((qq[l] & 0xf) | ((qq[l + 64] & 0xf) << 4));
            ql[l + 32] = (uint8_t)((qq[l + 32] & 0xf) | ((qq[l + 96] & 0xf) << 4));
            qh[l] = (uint8_t)((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) | ((qq[l + 64] >> 4) << 4) |
                              ((qq[l + 96] >> 4) << 6));
        }
    }
}

void qe_quantize_q6_K(const float *x, block_q6_K *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK_K; i++) quantize_block_q6_K(x + i * QK_K, y + i);
}

void qe_dequantize_q6_K(const block_q6_K *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const block_q6_K *b = &x[i];
        float d = qe_fp16_to_f32(b->d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            const int8_t *sc = b->scales + 8 * h;
            float *yy = y + 128 * h;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                yy[l] = d * (float)sc[is] * (float)q1;
                yy[l + 32] = d * (float)sc[is + 2] * (float)q2;
                yy[l + 64] = d * (float)sc[is + 4] * (float)q3;
                yy[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}
